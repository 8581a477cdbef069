/* model_forward.c: the model's stages, forward and backward, for every mode.
 *
 *   encoder  patches -> tokens (visible only, all with mask tokens, or windows) -> blocks -> LN
 *   decoder  MAE: decoder_embed, mask tokens back in patch order, pos, blocks, LN, pred;
 *            other modes: the linear head on the encoder's tokens; BootMAE: a second MAE
 *            decoder (the feature decoder) on the same latent
 *   loss     norm-pix/plain MSE, L1 or frequency loss against the target; BootMAE adds the
 *            feature decoder's MSE against the momentum encoder's features
 *   branch   SupMAE (sup_classes > 0): run by the decoder stage on the latent it is given, so
 *            the pipeline's mae-reconstruct and mae_model_step do the same operations; with
 *            BootMAE's feature decoder too, the stage runs the pixel decoder, the feature
 *            decoder and the branch, and dlatent is the sum of the three gradients
 *   contrast CMAE (cl_dim > 0): likewise in the decoder stage, after SupMAE's branch
 *
 * Token order: MAE's encoder takes the visible patches in ascending patch order, not in the
 * order of a random shuffle; the encoder is permutation-equivariant once positions are added,
 * so the result equals the reference up to float summation order (METHODS 1.4). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/util/util.h"
#include "model/model_internal.h"

enum { BUF_IDX, BUF_TMASK, BUF_XP, BUF_EMB, BUF_DLAT, BUF_PRED, BUF_DPRED, BUF_TARGET, BUF_LMASK,
       BUF_DECY, BUF_FULL, BUF_FEATY, BUF_FEATFULL, BUF_PFEAT, BUF_DPFEAT, BUF_SUP, BUF_CL };

static int fail(mae_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(mae_model *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof m->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* grow *p to hold need bytes; contents are not kept */
static void grow(mae_model *m, void *pp, int which, size_t need)
{
	void **p = pp;
	if (*p && m->caps[which] >= need)
		return;
	free(*p);
	*p = mae_alloc_aligned(need ? need : 64);
	m->caps[which] = need;
}

/* How a batch lays out as tokens: B, the encoder's sequences S_enc of T_enc tokens (ntok
 * patches and the class token) and the Npred predictions per image, from the mask (MAE) or
 * the windows (LoMaR). Counts only: a stage asks it to check its inputs' shapes before it
 * hands them to a forward. */
int mae_model_layout(mae_model *m, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = b->B, N = m->N;
	if (B <= 0)
		return fail(m, "empty batch");
	int S = B, ntok = N, Npred = N;
	if (c->mode != MAE_MODE_MFM && !b->mask)
		return fail(m, "mode %s needs a 'mask' tensor", mae_mode_name(c->mode));
	if (c->mode == MAE_MODE_MAE) {
		int nk = 0;
		for (int l = 0; l < N; l++)
			nk += !b->mask[l];
		for (int s = 1; s < B; s++) {
			int k = 0;
			for (int l = 0; l < N; l++)
				k += !b->mask[(size_t)s * N + l];
			if (k != nk)
				return fail(m, "image %d has %d visible patches and image 0 has %d: MAE's encoder "
				            "needs the same number in every image of a batch", s, k, nk);
		}
		ntok = nk;
	} else if (c->mode == MAE_MODE_LOMAR) {
		if (!b->windows)
			return fail(m, "mode lomar needs a 'windows' tensor");
		S = B * c->nwindows;
		ntok = c->window * c->window;
		Npred = c->nwindows * ntok;
	}
	m->B = B, m->S_enc = S, m->ntok = ntok, m->T_enc = 1 + ntok, m->Npred = Npred;
	return 0;
}

/* Token bookkeeping shared by all stages: which patches each encoder sequence holds, which of
 * them are hidden, and the buffers sized for this batch. */
static int prepare(mae_model *m, const mae_batch *b)
{
	if (mae_model_layout(m, b) != 0)
		return -1;
	const mae_config *c = &m->cfg;
	int B = b->B, N = m->N, P = m->P, D = c->dim;
	int S = m->S_enc, ntok = m->ntok, Npred = m->Npred;
	int spi = c->mode == MAE_MODE_LOMAR ? c->nwindows : 1;
	m->Nk = ntok;
	size_t ntk = (size_t)S * ntok;
	grow(m, &m->idx, BUF_IDX, ntk * sizeof(int));
	grow(m, &m->tmask, BUF_TMASK, ntk);
	grow(m, &m->xp, BUF_XP, ntk * P * sizeof(float));
	grow(m, &m->emb, BUF_EMB, ntk * D * sizeof(float));
	grow(m, &m->dlatent, BUF_DLAT, (size_t)S * (1 + ntok) * D * sizeof(float));
	size_t np = (size_t)B * Npred;
	grow(m, &m->pred, BUF_PRED, np * m->Pt * sizeof(float));
	grow(m, &m->dpred, BUF_DPRED, np * m->Pt * sizeof(float));
	grow(m, &m->target, BUF_TARGET, np * m->Pt * sizeof(float));
	grow(m, &m->lmask, BUF_LMASK, np);
	if (c->feat_depth) {
		grow(m, &m->pred_feat, BUF_PFEAT, np * D * sizeof(float));
		grow(m, &m->dpred_feat, BUF_DPFEAT, np * D * sizeof(float));
	}
	if (!m->wperm) {
		m->wperm = mae_alloc_aligned((size_t)D * P * sizeof(float));
		m->dwperm = mae_alloc_aligned((size_t)D * P * sizeof(float));
	}
	switch (c->mode) {
	case MAE_MODE_MAE:
		for (int s = 0; s < B; s++) {
			int k = 0;
			for (int l = 0; l < N; l++)
				if (!b->mask[(size_t)s * N + l])
					m->idx[(size_t)s * ntok + k++] = l;
		}
		memset(m->tmask, 0, ntk);
		break;
	case MAE_MODE_SIMMIM:
	case MAE_MODE_MFM:
		for (int s = 0; s < B; s++)
			for (int l = 0; l < N; l++) {
				m->idx[(size_t)s * N + l] = l;
				m->tmask[(size_t)s * N + l] = c->mode == MAE_MODE_SIMMIM && b->mask[(size_t)s * N + l];
			}
		break;
	case MAE_MODE_LOMAR: {
		int K = c->window;
		for (int s = 0; s < S; s++) {
			int img = s / spi, w = s % spi;
			int top = b->windows[((size_t)img * spi + w) * 2], left = b->windows[((size_t)img * spi + w) * 2 + 1];
			if (top < 0 || left < 0 || top + K > m->gh || left + K > m->gw)
				return fail(m, "image %d window %d at (%d,%d): a %dx%d window does not fit the %dx%d grid",
				            img, w, top, left, K, K, m->gh, m->gw);
			for (int a = 0; a < K; a++)
				for (int bb = 0; bb < K; bb++) {
					int l = (top + a) * m->gw + left + bb;
					size_t t = (size_t)s * ntok + a * K + bb;
					m->idx[t] = l;
					m->tmask[t] = b->mask[(size_t)img * N + l] != 0;
				}
		}
		break;
	}
	}
	return 0;
}

/* the encoder's input patches: gathered (MAE visible, LoMaR windows) or the batch as it is */
static const float *encoder_patches(const mae_model *m, const mae_batch *b)
{
	return m->cfg.mode == MAE_MODE_MAE || m->cfg.mode == MAE_MODE_LOMAR ? m->xp : b->patches;
}

int mae_encoder_forward(mae_model *m, const mae_batch *b)
{
	mae_set_bf16(m->cfg.bf16);   /* the linear layers' precision (mae_set_bf16) */
	const mae_config *c = &m->cfg;
	if (prepare(m, b) != 0)
		return -1;
	if (!b->patches)
		return fail(m, "the encoder needs 'patches'");
	int S = m->S_enc, ntok = m->ntok, T = 1 + ntok, N = m->N, P = m->P, D = c->dim;
	int spi = S / m->B;
	if (c->mode == MAE_MODE_MAE || c->mode == MAE_MODE_LOMAR)
		for (int s = 0; s < S; s++)
			for (int t = 0; t < ntok; t++)
				memcpy(m->xp + ((size_t)s * ntok + t) * P,
				       b->patches + ((size_t)(s / spi) * N + m->idx[(size_t)s * ntok + t]) * P,
				       (size_t)P * sizeof(float));
	mae_patch_embed_forward(m->emb, m->wperm, encoder_patches(m, b), m->w.patch_w, m->w.patch_b,
	                    S * ntok, m->P / c->channels, c->channels, D);
	mae_stack_ensure(&m->ea, S, T, D, c->heads, c->depth, c->mlp_ratio, m->NB, c->window, m->gelu_keep_mb, m->attn_keep_mb, m->chunk_rows);
	/* x0[s] = [cls + pos0, (hidden ? mask_token : embedding) + pos[1 + patch id]...] */
	for (int s = 0; s < S; s++) {
		float *row = m->ea.x0 + (size_t)s * T * D;
		memcpy(row, m->w.cls, (size_t)D * sizeof(float));
		if (m->pos)
			for (int d = 0; d < D; d++)
				row[d] += m->pos[d];
		for (int t = 0; t < ntok; t++) {
			size_t k = (size_t)s * ntok + t;
			float *r = row + (size_t)(1 + t) * D;
			memcpy(r, m->tmask[k] ? m->w.enc_mask : m->emb + k * D, (size_t)D * sizeof(float));
			if (m->pos) {
				const float *pp = m->pos + (size_t)(1 + m->idx[k]) * D;
				for (int d = 0; d < D; d++)
					r[d] += pp[d];
			}
		}
	}
	mae_stack_forward(&m->ea, &m->w.enc, D, c->heads, c->depth, c->mlp_ratio, m->NB, c->ln_eps);
	return 0;
}

int mae_encoder_backward(mae_model *m, const float *dlatent, const mae_batch *b)
{
	mae_set_bf16(m->cfg.bf16);   /* the linear layers' precision (mae_set_bf16) */
	const mae_config *c = &m->cfg;
	int S = m->S_enc, ntok = m->ntok, T = 1 + ntok, D = c->dim;
	mae_stack_backward(&m->ea, &m->w.enc, &m->g.enc, dlatent, D, c->heads, c->depth, c->mlp_ratio, m->NB);
	const float *dx = m->ea.dx;
	/* the embedding gradient goes where the embeddings were (they are not needed any more) */
	float *demb = m->emb;
	for (int s = 0; s < S; s++) {
		const float *row = dx + (size_t)s * T * D;
		for (int d = 0; d < D; d++)
			m->g.cls[d] += row[d];
		for (int t = 0; t < ntok; t++) {
			size_t k = (size_t)s * ntok + t;
			const float *r = row + (size_t)(1 + t) * D;
			if (m->tmask[k]) {
				for (int d = 0; d < D; d++)
					m->g.enc_mask[d] += r[d];
				memset(demb + k * D, 0, (size_t)D * sizeof(float));
			} else {
				memcpy(demb + k * D, r, (size_t)D * sizeof(float));
			}
		}
	}
	mae_patch_embed_backward(m->g.patch_w, m->g.patch_b, m->dwperm, demb, encoder_patches(m, b),
	                     S * ntok, m->P / c->channels, c->channels, D);
	return 0;
}

/* One MAE-style decoder: the pixel decoder (decoder_*) or BootMAE's feature decoder
 * (feature_decoder.*), the same computation on their own weights and buffers. */
typedef struct dec_view {
	const float *embed_w, *embed_b, *mask_tok, *pos, *pred_w, *pred_b;
	const mae_stack_w *w;
	float *gembed_w, *gembed_b, *gmask_tok, *gpred_w, *gpred_b;
	mae_stack_w *g;
	mae_stack_a *a;
	float **y, **full;        /* the embed's output and the head's (cls rows included) */
	int ybuf, fullbuf;
	float *pred;              /* (B, N, width) */
	int depth, width;
} dec_view;

static dec_view pixel_decoder(mae_model *m)
{
	return (dec_view){ m->w.dec_embed_w, m->w.dec_embed_b, m->w.dec_mask, m->dec_pos, m->w.pred_w,
	                   m->w.pred_b, &m->w.dec, m->g.dec_embed_w, m->g.dec_embed_b, m->g.dec_mask,
	                   m->g.pred_w, m->g.pred_b, &m->g.dec, &m->da, &m->dec_y, &m->pred_full, BUF_DECY,
	                   BUF_FULL, m->pred, m->cfg.dec_depth, m->Pt };
}

static dec_view feature_decoder(mae_model *m)
{
	return (dec_view){ m->w.feat_embed_w, m->w.feat_embed_b, m->w.feat_mask, m->feat_pos,
	                   m->w.feat_pred_w, m->w.feat_pred_b, &m->w.feat, m->g.feat_embed_w,
	                   m->g.feat_embed_b, m->g.feat_mask, m->g.feat_pred_w, m->g.feat_pred_b, &m->g.feat,
	                   &m->fa, &m->feat_y, &m->feat_full, BUF_FEATY, BUF_FEATFULL, m->pred_feat,
	                   m->cfg.feat_depth, m->cfg.dim };
}

/* the head: out = in W^T + b over rows of S sequences of T tokens, the cls rows dropped */
static void head_forward(mae_model *m, float **full, int fullbuf, float *pred, const float *in,
                         const float *w, const float *bias, int rows, int T, int C, int P)
{
	grow(m, full, fullbuf, (size_t)rows * P * sizeof(float));
	mae_linear_forward(*full, in, w, bias, rows, C, P);
	for (int s = 0; s < rows / T; s++)
		memcpy(pred + (size_t)s * (T - 1) * P, *full + ((size_t)s * T + 1) * P,
		       (size_t)(T - 1) * P * sizeof(float));
}

/* the head's output gradient, cls rows 0, in the buffer of the head's output */
static float *head_dout(float *full, const float *dpred, int rows, int T, int P)
{
	for (int s = 0; s < rows / T; s++) {
		memset(full + (size_t)s * T * P, 0, (size_t)P * sizeof(float));
		memcpy(full + ((size_t)s * T + 1) * P, dpred + (size_t)s * (T - 1) * P,
		       (size_t)(T - 1) * P * sizeof(float));
	}
	return full;
}

static void dec_forward(mae_model *m, const dec_view *v, const float *latent, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, N = m->N, D = c->dim, Dd = c->dec_dim, Nk = m->ntok;
	grow(m, v->y, v->ybuf, (size_t)B * (1 + Nk) * Dd * sizeof(float));
	mae_linear_forward(*v->y, latent, v->embed_w, v->embed_b, B * (1 + Nk), D, Dd);
	mae_stack_ensure(v->a, B, 1 + N, Dd, c->dec_heads, v->depth, c->mlp_ratio, 0, 0, m->gelu_keep_mb, m->attn_keep_mb, m->chunk_rows);
	mae_unshuffle_forward(v->a->x0, *v->y, v->mask_tok, b->mask, B, N, Nk, Dd);
	mae_add_pos_forward(v->a->x0, v->pos, B, 1 + N, Dd);
	mae_stack_forward(v->a, v->w, Dd, c->dec_heads, v->depth, c->mlp_ratio, 0, c->ln_eps);
	head_forward(m, v->full, v->fullbuf, v->pred, v->a->out, v->pred_w, v->pred_b, B * (1 + N), 1 + N, Dd,
	             v->width);
}

/* adds the decoder's latent gradient to m->dlatent */
static void dec_backward(mae_model *m, const dec_view *v, const float *dpred, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, N = m->N, D = c->dim, Dd = c->dec_dim, Nk = m->ntok, rows = B * (1 + N), P = v->width;
	float *dfull = head_dout(*v->full, dpred, rows, 1 + N, P);
	memset(v->a->dout, 0, (size_t)rows * Dd * sizeof(float));
	mae_linear_backward(v->a->dout, v->gpred_w, v->gpred_b, dfull, v->a->out, v->pred_w, rows, Dd, P);
	mae_stack_backward(v->a, v->w, v->g, v->a->dout, Dd, c->dec_heads, v->depth, c->mlp_ratio, 0);
	float *dy = *v->y;     /* the embed's output gradient, in its output's buffer */
	memset(dy, 0, (size_t)B * (1 + Nk) * Dd * sizeof(float));
	mae_unshuffle_backward(dy, v->gmask_tok, v->a->dx, b->mask, B, N, Nk, Dd);
	mae_linear_backward(m->dlatent, v->gembed_w, v->gembed_b, dy, m->latent_in, v->embed_w, B * (1 + Nk), D, Dd);
}

/* ---------------------------------------------------------------------------------------
 * SupMAE's classification branch (METHODS 5.7) on the visible tokens:
 *   feature = mean of the latent's patch tokens (after the encoder's final LayerNorm, cls
 *             excluded); logits = head.3(ReLU(BatchNorm1d(head.0(feature))));
 *   sup_loss = sup_weight * CE(logits / sup_temp, label)
 * BatchNorm1d normalises with the batch's statistics (training mode, eps 1e-5, torch's
 * default) and keeps no running ones: the branch only shapes the encoder during pretraining
 * and is dropped after it (k-NN and probes read the encoder), so nothing would read them. */

typedef struct sup_view {
	float *feat, *h1, *y, *r, *logits, *probs;   /* forward: (B, D), (B, Hs) x 3, (B, K) x 2 */
	float *dlogits, *dr, *dh1, *dfeat;           /* backward: (B, K), (B, Hs) x 2, (B, D) */
	float *mean, *rstd;                           /* (Hs) BatchNorm statistics */
} sup_view;

static sup_view sup_views(mae_model *m, int B)
{
	const mae_config *c = &m->cfg;
	size_t D = (size_t)c->dim, Hs = (size_t)c->mlp_ratio * c->dim, K = (size_t)c->sup_classes, R = (size_t)B;
	grow(m, &m->sup, BUF_SUP, (R * (2 * D + 5 * Hs + 3 * K) + 2 * Hs) * sizeof(float));
	sup_view v;
	float *p = m->sup;
#define TAKE(x, n) (v.x = p, p += (n))
	TAKE(feat, R * D), TAKE(h1, R * Hs), TAKE(y, R * Hs), TAKE(r, R * Hs), TAKE(logits, R * K), TAKE(probs, R * K);
	TAKE(dlogits, R * K), TAKE(dr, R * Hs), TAKE(dh1, R * Hs), TAKE(dfeat, R * D), TAKE(mean, Hs), TAKE(rstd, Hs);
#undef TAKE
	return v;
}

static int sup_forward(mae_model *m, const float *latent, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, D = c->dim, Hs = c->mlp_ratio * c->dim, K = c->sup_classes;
	if (!b->labels)
		return fail(m, "sup_classes=%d: SupMAE's branch needs the images' classes, a 'label' tensor "
		            "(I32 [B])", K);
	for (int i = 0; i < B; i++)
		if (b->labels[i] < 0 || b->labels[i] >= K)
			return fail(m, "image %d has label %d: sup_classes=%d needs every label in [0, %d)%s", i,
			            b->labels[i], K, K, b->labels[i] < 0 ? " (-1: an unlabeled image)" : "");
	sup_view v = sup_views(m, B);
	mae_mean_pool_forward(v.feat, latent, m->S_enc, m->T_enc, 1, D);
	mae_linear_forward(v.h1, v.feat, m->w.head_w1, m->w.head_b1, B, D, Hs);
	mae_batchnorm_forward(v.y, v.mean, v.rstd, v.h1, m->w.head_bn_w, m->w.head_bn_b, B, Hs, 1e-5f);
	for (size_t i = 0; i < (size_t)B * Hs; i++)
		v.r[i] = v.y[i] > 0 ? v.y[i] : 0.0f;
	mae_linear_forward(v.logits, v.r, m->w.head_w2, m->w.head_b2, B, Hs, K);
	m->sup_loss = c->sup_weight * mae_crossentropy_forward(v.probs, v.logits, b->labels, B, K, c->sup_temp);
	return 0;
}

/* the branch's gradients: its parameters', and the latent's, added to m->dlatent */
static void sup_backward(mae_model *m, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, D = c->dim, Hs = c->mlp_ratio * c->dim, K = c->sup_classes;
	sup_view v = sup_views(m, B);
	memset(v.dlogits, 0, (size_t)B * K * sizeof(float));
	mae_crossentropy_backward(v.dlogits, v.probs, b->labels, B, K, c->sup_temp, c->sup_weight);
	mae_linear_backward_set(v.dr, m->g.head_w2, m->g.head_b2, v.dlogits, v.r, m->w.head_w2, B, Hs, K);
	for (size_t i = 0; i < (size_t)B * Hs; i++)   /* ReLU: through where its input was positive */
		v.dr[i] = v.y[i] > 0 ? v.dr[i] : 0.0f;
	memset(v.dh1, 0, (size_t)B * Hs * sizeof(float));
	mae_batchnorm_backward(v.dh1, m->g.head_bn_w, m->g.head_bn_b, v.dr, v.h1, m->w.head_bn_w, v.mean, v.rstd, B, Hs);
	mae_linear_backward_set(v.dfeat, m->g.head_w1, m->g.head_b1, v.dh1, v.feat, m->w.head_w1, B, D, Hs);
	mae_mean_pool_backward(m->dlatent, v.dfeat, m->S_enc, m->T_enc, 1, D);
}

/* ---------------------------------------------------------------------------------------
 * CMAE's contrastive branch on the visible tokens:
 *   feature = mean of the latent's patch tokens (cls excluded), as SupMAE's;
 *   z = projector(feature) (cl_dim), q = predictor(z) (D), each Linear -> BatchNorm1d (batch
 *   statistics, eps 1e-5) -> ReLU -> Linear;
 *   cl_loss = cl_weight * InfoNCE(q, k, cl_temp), k = the batch's contrast_target (B, D), the
 *   EMA teacher's pooled feature of each image, a constant: no gradient flows into it. */

typedef struct bnmlp_a {
	float *h1, *y, *r, *mean, *rstd;   /* (B, H) x 3: Linear out, BatchNorm out, ReLU out; (H) x 2 */
} bnmlp_a;

typedef struct cl_view {
	float *feat, *z, *q, *qn, *qnorm, *kn, *probs;   /* (B, D), (B, cl_dim), (B, D) x 2, (B), (B, D), (B, B) */
	bnmlp_a pa, da;                                   /* the projector's and the predictor's */
	float *dq, *dz, *dfeat, *dr, *dh1;                /* (B, D), (B, cl_dim), (B, D), (B, H) x 2 */
} cl_view;

static cl_view cl_views(mae_model *m, int B)
{
	const mae_config *c = &m->cfg;
	size_t D = (size_t)c->dim, H = (size_t)c->mlp_ratio * c->dim, E = (size_t)c->cl_dim, R = (size_t)B;
	grow(m, &m->cl, BUF_CL, (R * (7 * D + 2 * E + 8 * H + 1 + R) + 4 * H) * sizeof(float));
	cl_view v;
	float *p = m->cl;
#define TAKE(x, n) (v.x = p, p += (n))
	TAKE(feat, R * D), TAKE(z, R * E), TAKE(q, R * D), TAKE(qn, R * D), TAKE(qnorm, R), TAKE(kn, R * D);
	TAKE(probs, R * R);
	TAKE(pa.h1, R * H), TAKE(pa.y, R * H), TAKE(pa.r, R * H), TAKE(pa.mean, H), TAKE(pa.rstd, H);
	TAKE(da.h1, R * H), TAKE(da.y, R * H), TAKE(da.r, R * H), TAKE(da.mean, H), TAKE(da.rstd, H);
	TAKE(dq, R * D), TAKE(dz, R * E), TAKE(dfeat, R * D), TAKE(dr, R * H), TAKE(dh1, R * H);
#undef TAKE
	return v;
}

/* out = Linear2(ReLU(BatchNorm1d(Linear1(in)))) over R rows */
static void bnmlp_forward(const mae_bnmlp_w *w, bnmlp_a *a, float *out, const float *in, int R, int I, int H, int O)
{
	mae_linear_forward(a->h1, in, w->w1, w->b1, R, I, H);
	mae_batchnorm_forward(a->y, a->mean, a->rstd, a->h1, w->bn_w, w->bn_b, R, H, 1e-5f);
	for (size_t i = 0; i < (size_t)R * H; i++)
		a->r[i] = a->y[i] > 0 ? a->y[i] : 0.0f;
	mae_linear_forward(out, a->r, w->w2, w->b2, R, H, O);
}

/* its parameters' gradients (+=) and din (set) from dout; dr and dh1 are (R, H) scratch */
static void bnmlp_backward(const mae_bnmlp_w *w, mae_bnmlp_w *g, const bnmlp_a *a, float *din, const float *dout,
                           const float *in, float *dr, float *dh1, int R, int I, int H, int O)
{
	mae_linear_backward_set(dr, g->w2, g->b2, dout, a->r, w->w2, R, H, O);
	for (size_t i = 0; i < (size_t)R * H; i++)
		dr[i] = a->y[i] > 0 ? dr[i] : 0.0f;
	memset(dh1, 0, (size_t)R * H * sizeof(float));
	mae_batchnorm_backward(dh1, g->bn_w, g->bn_b, dr, a->h1, w->bn_w, a->mean, a->rstd, R, H);
	mae_linear_backward_set(din, g->w1, g->b1, dh1, in, w->w1, R, I, H);
}

static int cl_forward(mae_model *m, const float *latent, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, D = c->dim, H = c->mlp_ratio * c->dim, E = c->cl_dim;
	if (!b->contrast_target)
		return fail(m, "cl_dim=%d: CMAE's branch needs the teacher's features, a 'contrast_target' tensor "
		            "(F32 [B,%d]: mae-encode --teacher --contrast-target before mae-mask)", E, D);
	cl_view v = cl_views(m, B);
	mae_mean_pool_forward(v.feat, latent, m->S_enc, m->T_enc, 1, D);
	bnmlp_forward(&m->w.cl_proj, &v.pa, v.z, v.feat, B, D, H, E);
	bnmlp_forward(&m->w.cl_pred, &v.da, v.q, v.z, B, E, H, D);
	m->cl_loss = c->cl_weight * mae_infonce_forward(v.qn, v.qnorm, v.kn, v.probs, v.q, b->contrast_target, B, D,
	                                                c->cl_temp);
	return 0;
}

/* the branch's gradients: its parameters', and the latent's, added to m->dlatent */
static void cl_backward(mae_model *m)
{
	const mae_config *c = &m->cfg;
	int B = m->B, D = c->dim, H = c->mlp_ratio * c->dim, E = c->cl_dim;
	cl_view v = cl_views(m, B);
	memset(v.dq, 0, (size_t)B * D * sizeof(float));
	mae_infonce_backward(v.dq, v.qn, v.qnorm, v.kn, v.probs, B, D, c->cl_temp, c->cl_weight);
	bnmlp_backward(&m->w.cl_pred, &m->g.cl_pred, &v.da, v.dz, v.dq, v.z, v.dr, v.dh1, B, E, H, D);
	bnmlp_backward(&m->w.cl_proj, &m->g.cl_proj, &v.pa, v.dfeat, v.dz, v.feat, v.dr, v.dh1, B, D, H, E);
	mae_mean_pool_backward(m->dlatent, v.dfeat, m->S_enc, m->T_enc, 1, D);
}

int mae_decoder_forward(mae_model *m, const float *latent, const mae_batch *b)
{
	mae_set_bf16(m->cfg.bf16);   /* the linear layers' precision (mae_set_bf16) */
	const mae_config *c = &m->cfg;
	if (prepare(m, b) != 0)
		return -1;
	m->latent_in = latent;
	m->sup_loss = 0, m->cl_loss = 0;
	if (c->sup_classes && sup_forward(m, latent, b) != 0)
		return -1;
	if (c->cl_dim && cl_forward(m, latent, b) != 0)
		return -1;
	if (c->mode != MAE_MODE_MAE) {   /* the linear head on the encoder's tokens */
		head_forward(m, &m->pred_full, BUF_FULL, m->pred, latent, m->w.pred_w, m->w.pred_b,
		             m->S_enc * m->T_enc, m->T_enc, c->dim, m->Pt);
		return 0;
	}
	dec_view v = pixel_decoder(m);
	dec_forward(m, &v, latent, b);
	if (c->feat_depth) {
		v = feature_decoder(m);
		dec_forward(m, &v, latent, b);
	}
	return 0;
}

int mae_decoder_backward(mae_model *m, const float *dpred, const float *dpred_feat, const mae_batch *b)
{
	mae_set_bf16(m->cfg.bf16);   /* the linear layers' precision (mae_set_bf16) */
	const mae_config *c = &m->cfg;
	size_t nlat = (size_t)m->S_enc * m->T_enc * c->dim;
	memset(m->dlatent, 0, nlat * sizeof(float));
	if (c->mode != MAE_MODE_MAE) {
		int rows = m->S_enc * m->T_enc, P = m->Pt;
		float *dfull = head_dout(m->pred_full, dpred, rows, m->T_enc, P);
		mae_linear_backward(m->dlatent, m->g.pred_w, m->g.pred_b, dfull, m->latent_in, m->w.pred_w, rows, c->dim, P);
		return 0;
	}
	if (c->feat_depth && !dpred_feat)
		return fail(m, "feat_depth %d: the decoder's backward needs the gradient of pred_feature", c->feat_depth);
	/* the encoder's gradient is the sum of the pixel decoder's, the feature decoder's (BootMAE)
	 * the classification branch's (SupMAE) and the contrastive branch's (CMAE), added in that
	 * order */
	dec_view v = pixel_decoder(m);
	dec_backward(m, &v, dpred, b);
	if (c->feat_depth) {
		v = feature_decoder(m);
		dec_backward(m, &v, dpred_feat, b);
	}
	if (c->sup_classes)
		sup_backward(m, b);
	if (c->cl_dim)
		cl_backward(m);
	return 0;
}

/* the target rows and loss mask in prediction order */
static int loss_setup(mae_model *m, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int B = m->B, N = m->N, P = m->Pt, R = B * m->Npred;
	const float *src = b->target ? b->target : b->patches;
	if (!src)
		return fail(m, "the loss needs 'patches' (or 'target')");
	if (c->target_dim && !b->target)
		return fail(m, "target_dim %d: the loss needs a 'target' tensor [B,%d,%d] (mae-hog)", c->target_dim, N, P);
	if (c->feat_depth && !b->feature_target)
		return fail(m, "feat_depth %d: the loss needs a 'feature_target' tensor [B,%d,%d] (mae-encode "
		            "--teacher --target-features)", c->feat_depth, N, c->dim);
	if (c->mode == MAE_MODE_LOMAR) {
		int spi = c->nwindows, ntok = m->ntok;
		for (int s = 0; s < m->S_enc; s++)
			for (int t = 0; t < ntok; t++) {
				size_t k = (size_t)s * ntok + t;
				memcpy(m->target + k * P, src + ((size_t)(s / spi) * N + m->idx[k]) * P, (size_t)P * sizeof(float));
			}
		memcpy(m->lmask, m->tmask, (size_t)R);
		src = m->target;
	} else if (b->mask) {
		memcpy(m->lmask, b->mask, (size_t)R);
	} else {
		memset(m->lmask, 1, (size_t)R);   /* no patch mask (MFM with a pixel loss): every patch */
	}
	if (c->loss == MAE_LOSS_NORMPIX) {
		mae_norm_pix_target(m->target, src, R, P, 1e-6f);
		src = m->target;
	} else if (c->loss == MAE_LOSS_NORMTUBE) {
		mae_norm_tube_target(m->target, src, R, P, c->channels, 1e-6f);
		src = m->target;
	}
	m->tgt = src;
	if (c->loss == MAE_LOSS_FREQ) {
		if (!b->fmask)
			return fail(m, "the frequency loss needs an 'fmask' tensor");
		if (!m->freq) {
			m->freq = mae_calloc(1, sizeof(freq_loss_ws));
			mae_freq_loss_init(m->freq, c->img_h, c->img_w, c->patch, c->channels);
		}
	}
	return 0;
}

int mae_loss_forward(mae_model *m, const float *pred, const float *pred_feat, const mae_batch *b,
                     float *loss)
{
	const mae_config *c = &m->cfg;
	if (prepare(m, b) != 0 || loss_setup(m, b) != 0)
		return -1;
	if (c->feat_depth && !pred_feat)
		return fail(m, "feat_depth %d: the loss needs the feature decoder's prediction", c->feat_depth);
	int R = m->B * m->Npred, P = m->Pt;
	switch (c->loss) {
	case MAE_LOSS_NORMPIX:
	case MAE_LOSS_NORMTUBE:
	case MAE_LOSS_MSE:
		*loss = mae_mse_masked_forward(pred, m->tgt, m->lmask, R, P);
		break;
	case MAE_LOSS_L1:
		*loss = mae_l1_masked_forward(pred, m->tgt, m->lmask, R, P, c->channels);
		break;
	default:
		*loss = mae_freq_loss_forward(m->freq, pred, m->tgt, b->fmask, m->B);
	}
	m->loss_pix = *loss, m->loss_feat = 0;
	if (c->feat_depth) {   /* BootMAE: the same masked MSE over the D values of each feature */
		m->loss_feat = mae_mse_masked_forward(pred_feat, b->feature_target, m->lmask, R, c->dim);
		*loss = m->loss_pix + c->feat_weight * m->loss_feat;
	}
	m->loss = *loss;
	return 0;
}

int mae_loss_backward(mae_model *m, const float *pred, const float *pred_feat, const mae_batch *b)
{
	const mae_config *c = &m->cfg;
	int R = m->B * m->Npred, P = m->Pt;
	memset(m->dpred, 0, (size_t)R * P * sizeof(float));
	switch (c->loss) {
	case MAE_LOSS_NORMPIX:
	case MAE_LOSS_NORMTUBE:
	case MAE_LOSS_MSE:
		mae_mse_masked_backward(m->dpred, pred, m->tgt, m->lmask, R, P, 1.0f);
		break;
	case MAE_LOSS_L1:
		mae_l1_masked_backward(m->dpred, pred, m->tgt, m->lmask, R, P, c->channels, 1.0f);
		break;
	default:
		mae_freq_loss_backward(m->freq, m->dpred, pred, m->tgt, b->fmask, m->B, 1.0f);
	}
	if (c->feat_depth) {
		if (!pred_feat || !b->feature_target)
			return fail(m, "feat_depth %d: the loss's backward needs pred_feature and feature_target", c->feat_depth);
		memset(m->dpred_feat, 0, (size_t)R * c->dim * sizeof(float));
		mae_mse_masked_backward(m->dpred_feat, pred_feat, b->feature_target, m->lmask, R, c->dim, c->feat_weight);
	}
	return 0;
}

int mae_model_step(mae_model *m, const mae_batch *b, float *loss, int grads)
{
	if (mae_encoder_forward(m, b) || mae_decoder_forward(m, m->ea.out, b))
		return -1;
	const float *pred_feat = m->cfg.feat_depth ? m->pred_feat : NULL;   /* (grown by the decoder) */
	if (mae_loss_forward(m, m->pred, pred_feat, b, loss))
		return -1;
	/* the branch's term, added as mae-loss adds the one mae-reconstruct hands it */
	*loss += m->sup_loss;
	*loss += m->cl_loss;   /* and CMAE's, after it, as mae-loss adds cl_loss */
	m->loss = *loss;
	if (!grads)
		return 0;
	if (mae_loss_backward(m, m->pred, pred_feat, b) || mae_decoder_backward(m, m->dpred, m->dpred_feat, b))
		return -1;
	mae_encoder_backward(m, m->dlatent, b);
	return 0;
}

void mae_model_cls_attention(const mae_model *m, float *attn)
{
	const mae_config *c = &m->cfg;
	int S = m->S_enc, T = m->T_enc, NH = c->heads, N = m->N, spi = S / m->B;
	memset(attn, 0, (size_t)m->B * N * sizeof(float));
	const float *cls = m->ea.att_cls + (size_t)(c->depth - 1) * S * T * NH;
	for (int s = 0; s < S; s++)
		for (int t = 0; t < m->ntok; t++) {
			double a = 0;
			for (int h = 0; h < NH; h++)
				a += cls[((size_t)s * NH + h) * T + 1 + t];   /* row 0 (cls), column 1+t */
			attn[(size_t)(s / spi) * N + m->idx[(size_t)s * m->ntok + t]] = (float)(a / NH);
		}
}

int mae_encoder_readout(mae_model *m, int block)
{
	const mae_config *c = &m->cfg;
	if (block < 1 || block > c->depth)
		return fail(m, "block %d: the encoder has blocks 1 to %d", block, c->depth);
	if (block == c->depth)
		return 0;
	size_t R = (size_t)m->S_enc * m->T_enc;
	mae_layernorm_forward(m->ea.out, m->ea.lnf_mean, m->ea.lnf_rstd, m->ea.res2 + (block - 1) * R * c->dim,
	                  m->w.enc.norm_w, m->w.enc.norm_b, (int)R, c->dim, c->ln_eps);
	return 0;
}

void mae_model_feature(const mae_model *m, float *feature, int pool)
{
	int S = m->S_enc, T = m->T_enc, D = m->cfg.dim, spi = S / m->B;
	memset(feature, 0, (size_t)m->B * D * sizeof(float));
	for (int s = 0; s < S; s++) {
		float *f = feature + (size_t)(s / spi) * D;
		const float *x = m->ea.out + (size_t)s * T * D;
		if (!pool) {
			for (int d = 0; d < D; d++)
				f[d] += x[d] / spi;
			continue;
		}
		for (int t = 1; t < T; t++)
			for (int d = 0; d < D; d++)
				f[d] += x[(size_t)t * D + d] / ((T - 1) * spi);
	}
}
