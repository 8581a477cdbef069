/* mask_bench.c: masks per second of every mae-mask strategy, on one core, calling the library
 * functions exactly as mae-mask does per sample (seeding included). Built and run by
 * bench/mask.sh. Times are the thread's CPU time (median of 5 windows of 0.1 s).
 *
 * usage: mask_bench GRID PATCH CHANNELS STEP_MS   (e.g. 14 16 3 320)
 * STEP_MS: time of one training step per image, to express masking as a fraction of it. */
#include "mae/mask/mask.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

/* CPU seconds of this thread: masks are timed by the work they cost, so other jobs on the
 * machine do not inflate the figures (OpenBLAS runs on this thread: one thread is set). */
static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct ctx {
	int g, p, c, n, P;
	float *patches, *attn, *img, *out;
	uint8_t *mask, *fmask;
	int32_t *win;
	mae_freq_ws *ws;
} ctx;

static void one(ctx *x, const char *name, uint64_t i)
{
	mae_rng r;
	int n = x->n, g = x->g;
	mae_rng_seed(&r, 1, 0, i, "mask");
	if (!strcmp(name, "random"))
		mae_mask_random(x->mask, n, mae_mask_hidden_mae(n, 0.75), &r);
	else if (!strcmp(name, "block-simmim"))
		mae_mask_block_simmim(x->mask, g, g, g % 2 ? 1 : 2, (int)ceil(n / (g % 2 ? 1 : 4) * 0.6), &r,
		                      NULL, NULL);
	else if (!strcmp(name, "block-beit"))
		mae_mask_block_beit(x->mask, g, g, mae_mask_hidden_floor(n, 75.0 / 196), 16, 0, 0.3, &r,
		                    NULL, NULL);
	else if (!strcmp(name, "grid"))
		mae_mask_grid(x->mask, g, g, 2, 0, 0);
	else if (!strcmp(name, "window"))
		mae_mask_window(x->mask, g, g, g >= 10 ? 7 : 4, 4, 0.8, &r, x->win);
	else if (!strncmp(name, "noise-", 6))
		mae_mask_noise(x->mask, g, g, mae_noise_color_parse(name + 6), 0, 0,
		               mae_mask_hidden_mae(n, 0.75), &r, NULL);
	else if (!strcmp(name, "semantic")) {
		int nf = mae_semantic_nfeatures(x->c);
		float feat[4096 * 8];
		int32_t parts[4096];
		mae_semantic_features(feat, x->patches, g, g, x->p, x->c, 1.0);
		int np = mae_kmeans(parts, feat, n, nf, 6, 10, &r);
		mae_mask_semantic(x->mask, parts, n, np, 0.6, mae_mask_hidden_mae(n, 0.6), 0.5, &r);
	} else if (!strcmp(name, "attention"))
		mae_mask_attention(x->mask, x->attn, n, MAE_ATTN_HINT, 0.75, 0.1, 0.1, &r);
	else if (!strcmp(name, "tube"))
		mae_mask_tube(x->mask, 8, n, 0.9, &r);   /* an 8-slice clip: 8N patches */
	else if (!strcmp(name, "frequency")) {
		int H = g * x->p;
		mae_freq_fmask(x->fmask, H, H, 16.0 * H / 224, (int)mae_rng_below(&r, 2));
		mae_freq_corrupt(x->ws, x->out, x->img, x->fmask, 1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mask_bench GRID PATCH CHANNELS STEP_MS\n");
		return 1;
	}
	openblas_set_num_threads(1);
	ctx x = {.g = atoi(argv[1]), .p = atoi(argv[2]), .c = atoi(argv[3])};
	double step_ms = atof(argv[4]);
	int H = x.g * x.p;
	x.n = x.g * x.g;
	x.P = x.p * x.p * x.c;
	x.patches = malloc((size_t)x.n * x.P * sizeof(float));
	x.attn = malloc((size_t)x.n * sizeof(float));
	x.img = malloc((size_t)H * H * x.c * sizeof(float));
	x.out = malloc((size_t)H * H * x.c * sizeof(float));
	x.mask = malloc((size_t)x.n * 8);
	x.fmask = malloc((size_t)H * H);
	x.win = malloc(64 * sizeof(int32_t));
	x.ws = mae_freq_ws_new(H, H, x.c);
	mae_rng r;
	mae_rng_seed(&r, 7, 0, 0, "bench");
	/* a smooth image with texture, so k-means has structure to find */
	for (int y = 0; y < H; y++)
		for (int xx = 0; xx < H; xx++)
			for (int k = 0; k < x.c; k++)
				x.img[(y * H + xx) * x.c + k] =
					(float)(0.5 + 0.3 * sin(y * 0.05 + k) * cos(xx * 0.03) + 0.05 * mae_rng_normal(&r));
	for (int l = 0; l < x.n; l++) {
		x.attn[l] = mae_rng_uniformf(&r);
		for (int a = 0; a < x.p; a++)
			for (int b = 0; b < x.p; b++)
				for (int k = 0; k < x.c; k++)
					x.patches[(size_t)l * x.P + (a * x.p + b) * x.c + k] =
						x.img[(((l / x.g) * x.p + a) * H + (l % x.g) * x.p + b) * x.c + k] * 4 - 2;
	}
	const char *names[] = {"random", "block-simmim", "block-beit", "grid", "window", "noise-red",
	                       "noise-blue", "noise-green", "noise-purple", "semantic", "attention",
	                       "tube", "frequency"};
	printf("%dx%d images, %dx%d grid (N=%d), patch %d, C=%d; CPU time of one thread, median of 5;"
	       " step %.1f ms/image\n", H, H,
	       x.g, x.g, x.n, x.p, x.c, step_ms);
	printf("%-14s %12s %10s %12s\n", "strategy", "masks/s", "us/mask", "% of step");
	for (size_t s = 0; s < sizeof names / sizeof *names; s++) {
		/* the median of 5 timed windows of >= 0.1 s: the machines' timings swing (DATA.md) */
		double us5[5];
		uint64_t i = 0;
		for (int rep = 0; rep < 5; rep++) {
			uint64_t i0 = i;
			double t0 = cpu_now(), t;
			do {
				for (int k = 0; k < 8; k++)
					one(&x, names[s], i++);
				t = cpu_now() - t0;
			} while (t < 0.1);
			us5[rep] = t / (double)(i - i0) * 1e6;
		}
		for (int a = 0; a < 5; a++)
			for (int b = a + 1; b < 5; b++)
				if (us5[b] < us5[a]) {
					double tt = us5[a];
					us5[a] = us5[b];
					us5[b] = tt;
				}
		double us = us5[2];
		printf("%-14s %12.0f %10.2f %11.4f%%\n", names[s], 1e6 / us, us, us / 1e3 / step_ms * 100);
	}
	mae_freq_ws_free(x.ws);
	return 0;
}
