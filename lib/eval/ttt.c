/* ttt.c: TTT-MAE's per-image test-time training and the probe's predictions (see ttt.h). */
#include "mae/eval/ttt.h"
#include "mae/mask/mask.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mae_ttt_opts_init(mae_ttt_opts *o)
{
	o->steps = 20;
	o->copies = 32;
	o->lr = 5e-3;
	o->momentum = 0.9;
	o->ratio = 0.75;
	o->seed = 0;
}

/* The probe's classes for n images (patches [n,N,P]) through the whole encoder. */
static int predict(mae_model *m, const mae_probe *head, const float *patches, int n, uint8_t *zeros,
                   int32_t *pred)
{
	mae_batch b = {.B = n, .patches = patches, .mask = zeros};
	if (mae_encoder_forward(m, &b))
		return -1;
	float *feat = mae_malloc((size_t)n * m->cfg.dim * sizeof *feat);
	mae_model_feature(m, feat, 1);
	mae_probe_predict(head, feat, n, pred);
	free(feat);
	return 0;
}

/* SGD with momentum (PyTorch's: v = mu v + g, p -= lr v) on params[0, n) */
static void sgd(float *p, float *v, const float *g, size_t n, float lr, float mu)
{
	for (size_t i = 0; i < n; i++) {
		v[i] = mu * v[i] + g[i];
		p[i] -= lr * v[i];
	}
}

int mae_ttt_check(mae_model *m, const mae_probe *head)
{
	if (m->cfg.mode != MAE_MODE_MAE) {
		snprintf(m->err, sizeof m->err, "test-time training needs a model in mode mae, not %s",
		         mae_mode_name(m->cfg.mode));
		return -1;
	}
	if (head->d != m->cfg.dim) {
		snprintf(m->err, sizeof m->err, "the probe reads %lld features, the encoder gives %d",
		         (long long)head->d, m->cfg.dim);
		return -1;
	}
	return 0;
}

int mae_ttt_batch(mae_model *m, const mae_probe *head, const float *patches, const float *target,
                  const int64_t *index, int B, const mae_ttt_opts *o, int32_t *before, int32_t *after)
{
	int N = m->N, P = m->P, Pt = m->Pt, C = o->copies;
	if (mae_ttt_check(m, head))
		return -1;
	if (m->cfg.target_dim && !target) {
		snprintf(m->err, sizeof m->err, "target_dim %d: the loss needs a 'target' tensor [B,%d,%d] (mae-hog)",
		         m->cfg.target_dim, N, Pt);
		return -1;
	}
	const mae_param_info *tok = mae_model_find(m, "mask_token");
	size_t ne = m->n_enc, nt = tok ? tok->numel : 0;
	/* TTT-MAE's objective is the decoder's reconstruction alone (of the pixels, or of the
	 * image's own target where the model has target_dim): a BootMAE, SupMAE or CMAE
	 * checkpoint's other heads (the feature decoder, the classification branch, the contrastive
	 * branch) have no target at test time (no momentum features, no labels, no teacher), so the
	 * steps run without them (their parameters stay in the layout, unread); the configuration
	 * is restored before returning */
	int feat_depth = m->cfg.feat_depth, sup_classes = m->cfg.sup_classes, cl_dim = m->cfg.cl_dim;
	m->cfg.feat_depth = 0, m->cfg.sup_classes = 0, m->cfg.cl_dim = 0;
	uint8_t *zeros = mae_calloc((size_t)(B > C ? B : C) * N, 1), *mask = mae_malloc((size_t)C * N);
	float *x = mae_malloc((size_t)C * N * P * sizeof *x);
	/* a target other than the pixels (target_dim: the HOG of mae-hog) is the image's own, so
	 * every masked copy gets the same */
	float *y = target ? mae_malloc((size_t)C * N * Pt * sizeof *y) : NULL;
	float *w0 = mae_malloc((ne + nt) * sizeof *w0), *v = mae_malloc((ne + nt) * sizeof *v);
	memcpy(w0, m->params, ne * sizeof *w0);
	if (tok)
		memcpy(w0 + ne, tok->data, nt * sizeof *w0);
	int rc = predict(m, head, patches, B, zeros, before);
	int hidden = mae_mask_hidden_mae(N, o->ratio);
	for (int i = 0; rc == 0 && i < B; i++) {
		const float *img = patches + (size_t)i * N * P;
		for (int j = 0; j < C; j++) {
			memcpy(x + (size_t)j * N * P, img, (size_t)N * P * sizeof *x);
			if (y)
				memcpy(y + (size_t)j * N * Pt, target + (size_t)i * N * Pt, (size_t)N * Pt * sizeof *y);
		}
		memset(v, 0, (ne + nt) * sizeof *v);
		for (int t = 0; rc == 0 && t < o->steps; t++) {
			for (int j = 0; j < C; j++) {
				mae_rng r;
				mae_rng_seed(&r, o->seed, (uint64_t)t, (uint64_t)index[i] * (uint64_t)C + (uint64_t)j, "ttt");
				mae_mask_random(mask + (size_t)j * N, N, hidden, &r);
			}
			mae_batch b = {.B = C, .patches = x, .mask = mask, .target = y};
			float loss;
			mae_model_zero_grad(m);
			rc = mae_model_step(m, &b, &loss, 1);
			if (rc == 0) {
				sgd(m->params, v, m->grads, ne, (float)o->lr, (float)o->momentum);
				if (tok)
					sgd(tok->data, v + ne, m->grads + tok->offset, nt, (float)o->lr, (float)o->momentum);
			}
		}
		if (rc == 0)
			rc = predict(m, head, img, 1, zeros, after + i);
		memcpy(m->params, w0, ne * sizeof *w0);   /* the pretrained weights for the next image */
		if (tok)
			memcpy(tok->data, w0 + ne, nt * sizeof *w0);
	}
	free(zeros);
	free(mask);
	free(x);
	free(y);
	free(w0);
	free(v);
	m->cfg.feat_depth = feat_depth, m->cfg.sup_classes = sup_classes, m->cfg.cl_dim = cl_dim;
	return rc;
}
