/* model_step.c: time maepipe's in-process training step (forward, backward, AdamW).
 *
 *   model_step SPEC BATCH STEPS [WARMUP]
 *   model_step --config SPEC      (the configuration as key=value lines; bf16=1 makes
 *                                  bench/model_torch.py run its step under CPU bf16 autocast)
 *   model_step --peak [N]         (sgemm N x N x N, default 2048: the machine's arithmetic ceiling)
 *
 * Synthetic batch (normal patches; MAE's exact visible count; LoMaR windows; MFM fmask), then
 * WARMUP untimed steps and STEPS timed ones. Prints one line of key=value pairs:
 *   impl=maepipe spec=... batch=... img_s=... gflops=... step_ms=... peak_rss_mb=... loss=...
 * Built by bench/model.sh against build/libmae.a (the Makefile builds no bench programs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/train/optim.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

/* The rate of one large square sgemm on every thread, best of 5 after a warm-up: what the
 * machine's vector units give OpenBLAS's best case. A training step is mostly sgemm on
 * smaller, less efficient shapes, so no implementation on this OpenBLAS goes faster than
 * flops / this rate; bench/model.sh prints each implementation's share of that ceiling. */
static int peak(int n)
{
	float *a = mae_alloc_aligned(sizeof(float) * n * n), *b = mae_alloc_aligned(sizeof(float) * n * n);
	float *c = mae_alloc_aligned(sizeof(float) * n * n);
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = (float)(i % 7) * 0.25f, b[i] = (float)(i % 5) * 0.5f;
	double best = 0;
	for (int r = 0; r < 6; r++) {
		double t0 = mae_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
		double g = 2.0 * n * n * n / (mae_now() - t0) / 1e9;
		if (r > 0 && g > best)
			best = g;
	}
	printf("impl=sgemm n=%d gflops=%.1f core=%s\n", n, best, openblas_get_corename());
	return 0;
}

int main(int argc, char **argv)
{
	mae_setprog(argv[0]);   /* OpenBLAS's kernels chosen as maepipe's programs choose them */
	if (argc == 2 && !strcmp(argv[1], "--core")) {
		printf("%s\n", openblas_get_corename());
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--peak"))
		return peak(argc > 2 ? atoi(argv[2]) : 2048);
	if (argc == 3 && !strcmp(argv[1], "--config")) {
		/* the configuration as key=value lines, for bench/model_torch.py */
		char err[256];
		mae_config c;
		if (mae_config_parse(&c, argv[2], err, sizeof err) != 0) {
			fprintf(stderr, "model_step: %s\n", err);
			return 1;
		}
		printf("mode=%s\nloss=%s\nimg_h=%d\nimg_w=%d\nchannels=%d\npatch=%d\ndim=%d\ndepth=%d\n"
		       "heads=%d\ndec_dim=%d\ndec_depth=%d\ndec_heads=%d\nmlp_ratio=%d\npos=%d\nwindow=%d\n"
		       "nwindows=%d\nmask_ratio=%g\nbf16=%d\n", mae_mode_name(c.mode), mae_loss_name(c.loss), c.img_h, c.img_w,
		       c.channels, c.patch, c.dim, c.depth, c.heads, c.dec_dim, c.dec_depth, c.dec_heads, c.mlp_ratio,
		       c.pos, c.window, c.nwindows, c.mask_ratio, c.bf16);
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: model_step SPEC BATCH STEPS [WARMUP]\n");
		return 1;
	}
	const char *spec = argv[1];
	int B = atoi(argv[2]), steps = atoi(argv[3]), warm = argc > 4 ? atoi(argv[4]) : 2;
	char err[256];
	mae_config c;
	if (mae_config_parse(&c, spec, err, sizeof err) != 0) {
		fprintf(stderr, "model_step: %s\n", err);
		return 1;
	}
	mae_threads_init(0);
	mae_model *m = mae_model_new(&c, err, sizeof err);
	mae_model_init(m, 0);
	/* memory/speed knobs of the model, for experiments (see mae_model in model.h) */
	if (getenv("MAE_CHUNK_ROWS"))
		m->chunk_rows = atoi(getenv("MAE_CHUNK_ROWS"));
	if (getenv("MAE_GELU_KEEP_MB"))
		m->gelu_keep_mb = atoi(getenv("MAE_GELU_KEEP_MB"));
	if (getenv("MAE_ATTN_KEEP_MB"))
		m->attn_keep_mb = atoi(getenv("MAE_ATTN_KEEP_MB"));
	int N = m->N, P = m->P, M = c.nwindows;
	mae_rng r;
	mae_rng_seed(&r, 1, 0, 0, "bench");
	float *patches = mae_alloc_aligned(sizeof(float) * B * N * P);
	uint8_t *mask = mae_calloc((size_t)B * N, 1), *fmask = mae_calloc((size_t)B * c.img_h * c.img_w, 1);
	int32_t *windows = mae_calloc((size_t)B * M * 2, sizeof(int32_t));
	for (size_t i = 0; i < (size_t)B * N * P; i++)
		patches[i] = (float)mae_rng_normal(&r);
	int keep = N - (int)(N * c.mask_ratio);
	int64_t *perm = mae_malloc(sizeof(int64_t) * N);
	for (int s = 0; s < B; s++) {
		for (int l = 0; l < N; l++)
			perm[l] = l;
		mae_rng_shuffle(&r, perm, N);
		for (int l = 0; l < N; l++)
			mask[s * N + perm[l]] = l >= keep;
		for (int w = 0; w < M; w++) {
			windows[(s * M + w) * 2] = (int32_t)mae_rng_below(&r, (uint64_t)(m->gh - c.window + 1));
			windows[(s * M + w) * 2 + 1] = (int32_t)mae_rng_below(&r, (uint64_t)(m->gw - c.window + 1));
		}
	}
	for (int i = 0; i < B * c.img_h * c.img_w; i++)
		fmask[i] = (i % 3) == 0;
	mae_batch b = { .B = B, .patches = patches, .mask = mask, .windows = windows };
	if (c.mode == MAE_MODE_MFM)
		b.fmask = fmask, b.target = patches, b.mask = NULL;
	mae_optim o;
	mae_optim_init(&o, m->n_params);
	o.lr = 1.5e-4 * B / 256, o.warmup = 10, o.total = 1000;
	float loss = 0;
	for (int i = 0; i < warm; i++)
		if (mae_train_step(m, &o, &b, &loss, NULL) != 0) {
			fprintf(stderr, "model_step: %s\n", m->err);
			return 2;
		}
	double t0 = mae_now();
	for (int i = 0; i < steps; i++)
		mae_train_step(m, &o, &b, &loss, NULL);
	double dt = (mae_now() - t0) / steps;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("impl=maepipe%s spec=%s batch=%d img_s=%.2f gflops=%.1f step_ms=%.1f peak_rss_mb=%.0f loss=%.4f core=%s\n",
	       c.bf16 ? "-bf16" : "", spec, B, B / dt, mae_model_step_flops(m, B) / dt / 1e9, dt * 1e3, ru.ru_maxrss / 1024.0, loss,
	       openblas_get_corename());
	return 0;
}
