/* test_model_parity.c: the C half of the PyTorch parity test (tests/model-parity.t).
 *
 *   test_model_parity --dump SPEC SEED B DIR
 *       builds SPEC, initialises it with SEED, perturbs every parameter (so biases, LN affine
 *       and iRPE tables carry signal), writes DIR/model.safetensors (a maepipe checkpoint), then
 *       runs one forward and backward pass on a seeded batch and writes DIR/state.safetensors:
 *       batch.* (patches, mask, windows, target, fmask, label), out.loss, out.pred, grad.<name>;
 *       with a feature decoder (feat_depth, BootMAE) also batch.feature_target and
 *       out.pred_feature; with CMAE's branch (cl_dim) also batch.contrast_target and out.cl_loss;
 *       with SupMAE's branch also out.sup_loss (its term of the loss) and
 *       out.dlatent (the gradient the decoder stage sends the encoder, the branch's part
 *       included).
 *       tests/ref/parity.py loads both into its own PyTorch model and compares.
 *   test_model_parity
 *       (as a unit test) dumps a micro model to a temporary directory and checks the files are
 *       complete: one grad.* per trainable tensor, a finite loss. Prints TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mae/train/checkpoint.h"
#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/util/rng.h"

static int dump(const char *spec, uint64_t seed, int B, const char *dir, char *err, size_t errn)
{
	mae_config c;
	if (mae_config_parse(&c, spec, err, errn) != 0)
		return -1;
	mae_model *m = mae_model_new(&c, err, errn);
	if (!m)
		return -1;
	mae_model_init(m, seed);
	mae_rng r;
	mae_rng_seed(&r, seed, 0, 1, "parity");
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += (float)((mae_rng_uniform(&r) - 0.5) * 0.1);
	char path[1024];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (mae_checkpoint_save(m, path, NULL, 0, err, errn) != 0)
		return -1;

	int N = m->N, P = m->P, H = c.img_h, W = c.img_w, M = c.nwindows;
	float *patches = malloc(sizeof(float) * B * N * P), *target = malloc(sizeof(float) * B * N * P);
	uint8_t *mask = calloc((size_t)B * N, 1), *fmask = calloc((size_t)B * H * W, 1);
	int32_t *windows = calloc((size_t)B * M * 2, sizeof(int32_t)), *labels = calloc((size_t)B, sizeof(int32_t));
	for (int i = 0; i < B * N * P; i++) {
		target[i] = (float)(mae_rng_normal(&r));
		patches[i] = c.mode == MAE_MODE_MFM ? target[i] + 0.3f * (float)mae_rng_normal(&r) : target[i];
	}
	int keep = N - (int)(N * 0.75);
	for (int s = 0; s < B; s++) {
		int64_t perm[4096];
		for (int l = 0; l < N; l++)
			perm[l] = l;
		mae_rng_shuffle(&r, perm, N);
		for (int l = 0; l < N; l++)
			mask[s * N + perm[l]] = l >= keep;       /* MAE: exactly `keep` visible */
		if (c.mode != MAE_MODE_MAE)
			for (int l = 0; l < N; l++)
				mask[s * N + l] = mae_rng_uniform(&r) < 0.7;
		for (int w = 0; w < M; w++) {
			windows[(s * M + w) * 2] = (int32_t)mae_rng_below(&r, (uint64_t)(m->gh - c.window + 1));
			windows[(s * M + w) * 2 + 1] = (int32_t)mae_rng_below(&r, (uint64_t)(m->gw - c.window + 1));
		}
	}
	for (int i = 0; i < B * H * W; i++)
		fmask[i] = mae_rng_uniform(&r) < 0.5;
	int D = c.dim;
	float *ftarget = malloc(sizeof(float) * B * N * D);   /* drawn last: the other cases keep their batches */
	for (int i = 0; c.feat_depth && i < B * N * D; i++)
		ftarget[i] = (float)mae_rng_normal(&r);
	for (int i = 0; i < B; i++)
		labels[i] = c.sup_classes ? (int32_t)mae_rng_below(&r, (uint64_t)c.sup_classes) : -1;
	float *ctarget = malloc(sizeof(float) * B * D);   /* CMAE's, drawn after the labels */
	for (int i = 0; c.cl_dim && i < B * D; i++)
		ctarget[i] = (float)mae_rng_normal(&r);
	mae_batch b = { .B = B, .patches = patches, .mask = mask, .windows = windows, .labels = labels };
	if (c.feat_depth)
		b.feature_target = ftarget;
	if (c.cl_dim)
		b.contrast_target = ctarget;
	if (c.mode == MAE_MODE_MFM)
		b.target = target, b.fmask = fmask, b.mask = NULL;
	float loss;
	mae_model_zero_grad(m);
	if (mae_model_step(m, &b, &loss, 1) != 0) {
		snprintf(err, errn, "%s", m->err);
		return -1;
	}

	int nt = 0;
	mae_st_tensor *t = calloc((size_t)m->ntensors + 14, sizeof *t);
	char (*names)[80] = calloc((size_t)m->ntensors + 14, 80);
#define ADD(nm, dt, data_, nbytes_, nd, ...) do { \
		int64_t sh_[] = { __VA_ARGS__ }; \
		snprintf(names[nt], 80, "%s", nm); \
		t[nt].name = names[nt], t[nt].dtype = dt, t[nt].ndim = nd, t[nt].data = data_, t[nt].nbytes = nbytes_; \
		memcpy(t[nt].shape, sh_, sizeof(int64_t) * (size_t)nd); \
		nt++; \
	} while (0)
	ADD("batch.patches", MAE_F32, patches, sizeof(float) * B * N * P, 3, B, N, P);
	ADD("batch.target", MAE_F32, target, sizeof(float) * B * N * P, 3, B, N, P);
	ADD("batch.mask", MAE_U8, mask, (size_t)B * N, 2, B, N);
	ADD("batch.windows", MAE_I32, windows, sizeof(int32_t) * B * M * 2, 3, B, M, 2);
	ADD("batch.fmask", MAE_U8, fmask, (size_t)B * H * W, 3, B, H, W);
	ADD("out.loss", MAE_F32, &loss, sizeof(float), 1, 1);
	ADD("out.pred", MAE_F32, m->pred, sizeof(float) * B * m->Npred * P, 3, B, m->Npred, P);
	if (c.feat_depth) {
		ADD("batch.feature_target", MAE_F32, ftarget, sizeof(float) * B * N * D, 3, B, N, D);
		ADD("out.pred_feature", MAE_F32, m->pred_feat, sizeof(float) * B * N * D, 3, B, N, D);
	}
	ADD("batch.label", MAE_I32, labels, sizeof(int32_t) * B, 1, B);
	if (c.sup_classes) {
		ADD("out.sup_loss", MAE_F32, &m->sup_loss, sizeof(float), 1, 1);
	}
	if (c.cl_dim) {
		ADD("batch.contrast_target", MAE_F32, ctarget, sizeof(float) * B * D, 2, B, D);
		ADD("out.cl_loss", MAE_F32, &m->cl_loss, sizeof(float), 1, 1);
	}
	if (c.sup_classes || c.cl_dim)
		ADD("out.dlatent", MAE_F32, m->dlatent, sizeof(float) * m->S_enc * m->T_enc * c.dim, 3, m->S_enc, m->T_enc, c.dim);
	for (int i = 0; i < m->ntensors; i++) {
		const mae_param_info *p = &m->tensors[i];
		if (!p->trainable)
			continue;
		snprintf(names[nt], 80, "grad.%s", p->name);
		t[nt].name = names[nt], t[nt].dtype = MAE_F32, t[nt].ndim = p->ndim;
		memcpy(t[nt].shape, p->shape, sizeof p->shape);
		t[nt].data = m->grads + p->offset, t[nt].nbytes = p->numel * sizeof(float);
		nt++;
	}
	snprintf(path, sizeof path, "%s/state.safetensors", dir);
	int rc = mae_st_write(path, t, nt, NULL, 0, err, errn);
	free(t), free(names), free(patches), free(target), free(mask), free(fmask), free(windows), free(ftarget), free(ctarget);
	free(labels);
	mae_model_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	char err[512];
	mae_threads_init(0);
	if (argc == 6 && !strcmp(argv[1], "--dump")) {
		if (dump(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]), argv[5], err, sizeof err) != 0) {
			fprintf(stderr, "test_model_parity: %s\n", err);
			return 2;
		}
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: test_model_parity [--dump SPEC SEED B DIR]\n");
		return 1;
	}
	char dir[] = "/tmp/mae-parity-XXXXXX", path[256];
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	int n = 0, fails = 0;
	const char *specs[] = { "micro-28", "micro-28,mode=lomar", "micro-28,mode=simmim", "micro-28,mode=mfm",
	                        "micro-28,feat_depth=1", "micro-28,sup_classes=3",
	                        "micro-28,feat_depth=1,sup_classes=3", "micro-28,cl_dim=8",
	                        "micro-28,feat_depth=1,sup_classes=3,cl_dim=8" };
	for (int k = 0; k < (int)(sizeof specs / sizeof specs[0]); k++) {
		int rc = dump(specs[k], 5, 2, dir, err, sizeof err);
		mae_st_file f;
		snprintf(path, sizeof path, "%s/state.safetensors", dir);
		int good = rc == 0 && mae_st_read(&f, path, err, sizeof err) == 0;
		int grads = 0;
		float loss = NAN;
		if (good) {
			for (int i = 0; i < f.n; i++)
				grads += !strncmp(f.t[i].name, "grad.", 5);
			memcpy(&loss, mae_st_get(&f, "out.loss")->data, sizeof loss);
			mae_st_free(&f);
		}
		mae_config c;
		mae_config_parse(&c, specs[k], err, sizeof err);
		mae_model *m = mae_model_new(&c, err, sizeof err);
		int want = 0;
		for (int i = 0; i < m->ntensors; i++)
			want += m->tensors[i].trainable;
		mae_model_free(m);
		good = good && grads == want && isfinite(loss) && loss > 0;
		printf("%s %d - %s: parity dump has %d/%d gradients and loss %.5f\n", good ? "ok" : "not ok", ++n,
		       specs[k], grads, want, loss);
		fails += !good;
	}
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
	printf("1..%d\n", n);
	return fails ? 1 : 0;
}
