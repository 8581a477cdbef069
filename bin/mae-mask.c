/* mae-mask: add a `mask` (U8 [B,N], 1 = hidden) to every batch, with one of the masking
 * strategies of the MAE family (lib/mask*.c; mae-mask(1) documents each). Every mask is a
 * function of (seed, epoch, sample index) only, so N workers give the same stream as one. */
#include "mae/kernels/kernels.h"
#include "mae/mask/mask.h"
#include "mae/data/patchify.h"
#include "mae/util/progress.h"
#include "mae/util/rng.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-mask [-qv] [-s seed] [-i in] [-o out] [-r ratio] [--grid GHxGW] STRATEGY [options]\n"
	"  random     [-r 0.75]\n"
	"  block      [--variant simmim|beit] [-r 0.6 | 75/196] [--cell S] [--min-area 16]\n"
	"             [--max-area A] [--aspect 0.3]\n"
	"  grid       [--cell 2] [--offset Y,X|random]\n"
	"  window     [-r 0.8] [--window 7] [--windows 4]\n"
	"  noise      [-r 0.75] [--color red|blue|green|purple] [--sigma S1[,S2]]\n"
	"  semantic   [-r 0.6] [--parts 6] [--iters 10] [--position-weight 1]\n"
	"             [--epoch-total E] [--lambda L]\n"
	"  attention  [-r 0.3] [--mode high|low|hint] [--ratio-var 0.2] [--mask-prob 0.5]\n"
	"             [--show-ratio 0.1] [--show-max 0.1]       (reads attn F32 [B,N])\n"
	"  tube       [-r 0.9] [--frames T]\n"
	"  frequency  [--filter low|high|random] [--radius R] [--no-clamp]\n"
	"see mae-mask(1)\n";

enum {
	O_GRID = MAE_OPT_FIRST_PROGRAM, O_VARIANT, O_CELL, O_MINAREA, O_MAXAREA, O_ASPECT, O_OFFSET,
	O_WINDOW, O_WINDOWS, O_COLOR, O_SIGMA, O_PARTS, O_ITERS, O_POSW, O_EPOCHS, O_LAMBDA, O_MODE,
	O_RVAR, O_MPROB, O_SHOWR, O_SHOWM, O_FRAMES, O_FILTER, O_RADIUS, O_NOCLAMP, O_LAST
};

#define S(x) (1u << MAE_MASK_##x)
/* which strategies each option applies to (0: all) */
static const unsigned applies[O_LAST - O_GRID] = {
	[O_GRID - O_GRID] = 0, [O_VARIANT - O_GRID] = S(BLOCK), [O_CELL - O_GRID] = S(BLOCK) | S(GRID),
	[O_MINAREA - O_GRID] = S(BLOCK), [O_MAXAREA - O_GRID] = S(BLOCK), [O_ASPECT - O_GRID] = S(BLOCK),
	[O_OFFSET - O_GRID] = S(GRID), [O_WINDOW - O_GRID] = S(WINDOW), [O_WINDOWS - O_GRID] = S(WINDOW),
	[O_COLOR - O_GRID] = S(NOISE), [O_SIGMA - O_GRID] = S(NOISE), [O_PARTS - O_GRID] = S(SEMANTIC),
	[O_ITERS - O_GRID] = S(SEMANTIC), [O_POSW - O_GRID] = S(SEMANTIC),
	[O_EPOCHS - O_GRID] = S(SEMANTIC), [O_LAMBDA - O_GRID] = S(SEMANTIC),
	[O_MODE - O_GRID] = S(ATTENTION), [O_RVAR - O_GRID] = S(ATTENTION),
	[O_MPROB - O_GRID] = S(ATTENTION), [O_SHOWR - O_GRID] = S(ATTENTION),
	[O_SHOWM - O_GRID] = S(ATTENTION), [O_FRAMES - O_GRID] = S(TUBE),
	[O_FILTER - O_GRID] = S(FREQUENCY), [O_RADIUS - O_GRID] = S(FREQUENCY),
	[O_NOCLAMP - O_GRID] = S(FREQUENCY),
};

typedef struct cfg {
	enum mae_mask_strategy st;
	double ratio;
	int ratio_set;
	int gt, gh, gw, p, c;        /* frames, grid, patch size, channels */
	int n;                       /* patches per sample: gt*gh*gw */
	/* block */
	int beit, cell, min_area, max_area;
	double aspect;
	/* grid */
	int oy, ox, offset_random;
	/* window */
	int k, m, k_set;
	/* noise */
	int color;
	double sigma1, sigma2;
	/* semantic */
	int parts, iters;
	double posw, lambda;
	int64_t epochs;
	int lambda_set;
	/* attention */
	int mode;
	double rvar, mprob, show_ratio, show_max;
	/* frequency */
	int filter;                  /* 0 low, 1 high, 2 random */
	double radius;
	int clamp;
	float mean[8], std[8];
	uint64_t seed;
} cfg;

/* One batch in flight, shared by the workers. */
typedef struct job {
	const cfg *c;
	int64_t epoch;
	const int64_t *index;        /* [B] or NULL */
	int64_t seq;
	double ratio;                /* attention: this batch's ratio */
	const float *patches, *attn;
	float *out_patches;          /* frequency: corrupted patches (in place) */
	uint8_t *mask, *fmask;
	int32_t *windows, *parts;
	mae_freq_ws **ws;            /* per thread */
	float **img;                 /* per thread, [H,W,C] x2 */
	int P;
} job;

static uint64_t sample_index(const job *j, int b)
{
	/* Without an `index` tensor: (seq, position) packed, unique per sample of the stream. */
	return j->index ? (uint64_t)j->index[b] : ((uint64_t)j->seq << 32) | (uint64_t)b;
}

static void mask_sample(void *ctx, int b, int tid)
{
	const job *j = ctx;
	const cfg *c = j->c;
	int n = c->n, gh = c->gh, gw = c->gw;
	uint8_t *m = j->mask + (size_t)b * n;
	mae_rng rng;
	mae_rng_seed(&rng, c->seed, (uint64_t)j->epoch, sample_index(j, b), "mask");
	switch (c->st) {
	case MAE_MASK_RANDOM:
		mae_mask_random(m, n, mae_mask_hidden_mae(n, c->ratio), &rng);
		break;
	case MAE_MASK_BLOCK:
		if (c->beit)
			mae_mask_block_beit(m, gh, gw, mae_mask_hidden_floor(n, c->ratio), c->min_area,
			                    c->max_area, c->aspect, &rng, NULL, NULL);
		else
			mae_mask_block_simmim(m, gh, gw, c->cell,
			                      (int)ceil(n / (c->cell * c->cell) * c->ratio - 1e-9), &rng,
			                      NULL, NULL);
		break;
	case MAE_MASK_GRID: {
		int oy = c->oy, ox = c->ox;
		if (c->offset_random) {
			oy = (int)mae_rng_below(&rng, (uint64_t)c->cell);
			ox = (int)mae_rng_below(&rng, (uint64_t)c->cell);
		}
		mae_mask_grid(m, gh, gw, c->cell, oy, ox);
		break;
	}
	case MAE_MASK_WINDOW:
		mae_mask_window(m, gh, gw, c->k, c->m, c->ratio, &rng, j->windows + (size_t)b * c->m * 2);
		break;
	case MAE_MASK_NOISE:
		mae_mask_noise(m, gh, gw, c->color, c->sigma1, c->sigma2, mae_mask_hidden_mae(n, c->ratio),
		               &rng, NULL);
		break;
	case MAE_MASK_SEMANTIC: {
		int nf = mae_semantic_nfeatures(c->c);
		float *feat = mae_malloc((size_t)n * nf * sizeof *feat);
		int32_t *parts = j->parts + (size_t)b * n;
		mae_semantic_features(feat, j->patches + (size_t)b * n * j->P, gh, gw, c->p, c->c, c->posw);
		int np = mae_kmeans(parts, feat, n, nf, c->parts, c->iters, &rng);
		double lambda = c->lambda_set ? c->lambda : mae_semantic_lambda(j->epoch, c->epochs);
		mae_mask_semantic(m, parts, n, np, c->ratio, mae_mask_hidden_mae(n, c->ratio), lambda, &rng);
		free(feat);
		break;
	}
	case MAE_MASK_ATTENTION:
		if (c->mprob < 1 && mae_rng_uniform(&rng) >= c->mprob) {
			memset(m, 0, (size_t)n);   /* AttMask masking_prob: this image stays whole */
			break;
		}
		mae_mask_attention(m, j->attn + (size_t)b * n, n, c->mode, j->ratio, c->show_ratio,
		                   c->show_max, &rng);
		break;
	case MAE_MASK_TUBE:
		mae_mask_tube(m, c->gt, gh * gw, c->ratio, &rng);
		break;
	case MAE_MASK_FREQUENCY: {
		int p = c->p, H = gh * p, W = gw * p, C = c->c, P = j->P;
		int hp = c->filter == 2 ? (int)mae_rng_below(&rng, 2) : c->filter;
		uint8_t *fm = j->fmask + (size_t)b * H * W;
		float *img = j->img[tid], *out = img + (size_t)H * W * C;
		const float *x = j->patches + (size_t)b * n * P;
		mae_freq_fmask(fm, H, W, c->radius, hp);
		for (int l = 0; l < n; l++)          /* normalized patches -> [H,W,C] in [0,1] */
			for (int a = 0; a < p; a++)
				for (int bb = 0; bb < p; bb++)
					for (int k = 0; k < C; k++)
						img[(((size_t)(l / gw) * p + a) * W + (size_t)(l % gw) * p + bb) * C + k] =
							x[(size_t)l * P + (a * p + bb) * C + k] * c->std[k] + c->mean[k];
		mae_freq_corrupt(j->ws[tid], out, img, fm, c->clamp);
		float *y = j->out_patches + (size_t)b * n * P;
		for (int l = 0; l < n; l++)
			for (int a = 0; a < p; a++)
				for (int bb = 0; bb < p; bb++)
					for (int k = 0; k < C; k++)
						y[(size_t)l * P + (a * p + bb) * C + k] =
							(out[(((size_t)(l / gw) * p + a) * W + (size_t)(l % gw) * p + bb) * C + k] -
							 c->mean[k]) / c->std[k];
		memset(m, 0, (size_t)n);   /* MFM: the encoder sees every (corrupted) patch */
		break;
	}
	default:
		break;
	}
}

static double parse_ratio(const char *s)
{
	long long a, b;
	if (strchr(s, '/') && mae_parse_pair(s, '/', &a, &b) && b > 0 && a >= 0 && a <= b)
		return (double)a / (double)b;
	return mae_parse_double(s, 0.0, 1.0, "-r ratio");
}

/* Defaults that depend on the strategy and the stream, and checks of the combination. */
static void setup(cfg *c, mae_record *hdr)
{
	mae_val *meta = mae_rec_meta(hdr);
	int64_t g[3] = {0};
	int gt = 0;
	if (!c->gh) {
		int ng = mae_map_ints(meta, "grid", g, 3);
		if (ng == 2) {
			c->gh = (int)g[0], c->gw = (int)g[1];
		} else if (ng == 3) {
			gt = (int)g[0], c->gh = (int)g[1], c->gw = (int)g[2];
		} else {
			mae_die(MAE_EXIT_DATA, "input: the header has no 'grid' [gh,gw] (run mae-patchify "
			        "first, or give --grid GHxGW)");
		}
	}
	if (c->gt < 1)   /* --frames, else a 3-entry grid, else header meta frames, else 1 */
		c->gt = gt > 0 ? gt : (int)mae_map_int(meta, "frames", 1);
	if (c->gt < 1)
		c->gt = 1;
	if (c->gh < 1 || c->gw < 1 || c->gh > 4096 || c->gw > 4096 || c->gt > 4096)
		mae_die(MAE_EXIT_DATA, "input: bad grid %dx%dx%d", c->gt, c->gh, c->gw);
	if (c->gt > 1 && c->st != MAE_MASK_TUBE && c->st != MAE_MASK_RANDOM)
		mae_die(MAE_EXIT_USAGE, "%s masking works on one frame; this stream has %d frames per "
		        "sample (use tube or random)", mae_mask_strategy_name(c->st), c->gt);
	c->n = c->gt * c->gh * c->gw;
	c->p = (int)mae_map_int(meta, "patch_size", 0);

	double r = c->ratio;
	switch (c->st) {
	case MAE_MASK_RANDOM: if (!c->ratio_set) r = 0.75; break;
	case MAE_MASK_BLOCK:
		if (!c->ratio_set)
			r = c->beit ? 75.0 / 196.0 : 0.6;
		if (!c->beit) {
			if (!c->cell) {
				if (c->p <= 0)
					mae_die(MAE_EXIT_USAGE, "block: no patch_size in the header; give --cell S");
				c->cell = (int)lround(32.0 / c->p);
				if (c->cell < 1)
					c->cell = 1;
			}
			if (c->gh % c->cell || c->gw % c->cell)
				mae_die(MAE_EXIT_USAGE, "block: SimMIM cells of %d patches do not tile the %dx%d "
				        "grid; give --cell S with S dividing both, or --variant beit",
				        c->cell, c->gh, c->gw);
		} else if (c->min_area > c->gh * c->gw) {
			mae_die(MAE_EXIT_USAGE, "block: --min-area %d is larger than the grid", c->min_area);
		}
		break;
	case MAE_MASK_GRID:
		if (!c->cell)
			c->cell = 2;
		if (c->oy >= c->cell || c->ox >= c->cell)
			mae_die(MAE_EXIT_USAGE, "grid: --offset must be below --cell %d", c->cell);
		break;
	case MAE_MASK_WINDOW:
		if (!c->ratio_set)
			r = 0.8;
		if (!c->k_set && (c->gh < c->k + c->m - 1 || c->gw < c->k + c->m - 1)) {
			/* a grid too small for LoMaR's 7x7: keep its proportion, a window half the side */
			int side = c->gh < c->gw ? c->gh : c->gw;
			c->k = (side + 1) / 2;
			if (c->k + c->m - 1 > side)
				c->k = side - c->m + 1 > 1 ? side - c->m + 1 : 1;
		}
		if (c->k > c->gh || c->k > c->gw)
			mae_die(MAE_EXIT_USAGE, "window: --window %d is larger than the %dx%d grid", c->k,
			        c->gh, c->gw);
		if (c->m > c->gh - c->k + 1 || c->m > c->gw - c->k + 1)
			mae_die(MAE_EXIT_USAGE, "window: %d windows of %d need at least %d positions per axis "
			        "(LoMaR draws distinct tops and lefts); the grid has %d",
			        c->m, c->k, c->m, (c->gh < c->gw ? c->gh : c->gw) - c->k + 1);
		break;
	case MAE_MASK_NOISE: {
		if (!c->ratio_set)
			r = 0.75;
		double d1, d2;
		mae_noise_default_sigma(c->color, &d1, &d2);
		if (c->sigma1 <= 0)
			c->sigma1 = d1;
		if (c->sigma2 <= 0)
			c->sigma2 = d2;
		break;
	}
	case MAE_MASK_SEMANTIC:
		if (!c->ratio_set)
			r = 0.6;
		if (c->p <= 0)
			mae_die(MAE_EXIT_DATA, "semantic: the header has no patch_size");
		if (!c->epochs)
			c->epochs = mae_map_int(meta, "epochs", 800);
		if (c->epochs < 1)
			c->epochs = 800;
		break;
	case MAE_MASK_ATTENTION:
		if (!c->ratio_set)
			r = 0.3;
		if (r - c->rvar < 0 || r + c->rvar > 1)
			mae_die(MAE_EXIT_USAGE, "attention: ratio %g +- %g leaves [0,1]", r, c->rvar);
		break;
	case MAE_MASK_TUBE: if (!c->ratio_set) r = 0.9; break;
	case MAE_MASK_FREQUENCY: {
		if (c->p <= 0)
			mae_die(MAE_EXIT_DATA, "frequency: the header has no patch_size");
		int H = c->gh * c->p, W = c->gw * c->p;
		if (c->radius <= 0)
			c->radius = 16.0 * (H < W ? H : W) / 224.0;
		break;
	}
	default: break;
	}
	c->ratio = r;

	/* provenance: what this stage did, in the header */
	mae_val *mm = mae_map_put(meta, "mask");   /* replaces an upstream masker's entry */
	mae_val_map(mm);
	mae_map_set_str(mm, "strategy", mae_mask_strategy_name(c->st));
	if (c->st != MAE_MASK_GRID && c->st != MAE_MASK_FREQUENCY)
		mae_map_set_float(mm, "ratio", c->ratio);
	mae_map_set_int(mm, "seed", (int64_t)c->seed);
	int n1 = c->gh * c->gw;
	switch (c->st) {
	case MAE_MASK_RANDOM: mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(c->n, r)); break;
	case MAE_MASK_BLOCK:
		mae_map_set_str(mm, "variant", c->beit ? "beit" : "simmim");
		if (c->beit) {
			mae_map_set_int(mm, "hidden", mae_mask_hidden_floor(n1, r));
			mae_map_set_int(mm, "min_area", c->min_area);
			mae_map_set_int(mm, "max_area", c->max_area);
			mae_map_set_float(mm, "aspect", c->aspect);
		} else {
			mae_map_set_int(mm, "cell", c->cell);
			mae_map_set_int(mm, "hidden", (int)ceil(n1 / (c->cell * c->cell) * r - 1e-9) *
			                c->cell * c->cell);
		}
		break;
	case MAE_MASK_GRID: {
		mae_map_set_int(mm, "cell", c->cell);
		if (c->offset_random) {
			mae_map_set_str(mm, "offset", "random");
		} else {
			int64_t o[2] = {c->oy, c->ox};
			mae_map_set_ints(mm, "offset", o, 2);
			uint8_t *tmp = mae_malloc((size_t)n1);
			mae_map_set_int(mm, "hidden", mae_mask_grid(tmp, c->gh, c->gw, c->cell, c->oy, c->ox));
			free(tmp);
		}
		break;
	}
	case MAE_MASK_WINDOW:
		mae_map_set_int(mm, "window_size", c->k);
		mae_map_set_int(mm, "num_windows", c->m);
		mae_map_set_int(meta, "window_size", c->k);
		mae_map_set_int(meta, "num_windows", c->m);
		break;
	case MAE_MASK_NOISE: {
		mae_map_set_str(mm, "color", mae_noise_color_name(c->color));
		double s[2] = {c->sigma1, c->sigma2};
		mae_map_set_floats(mm, "sigma", s, c->color == MAE_NOISE_RED || c->color == MAE_NOISE_BLUE ? 1 : 2);
		mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(n1, r));
		break;
	}
	case MAE_MASK_SEMANTIC:
		mae_map_set_int(mm, "parts", c->parts);
		mae_map_set_int(mm, "iters", c->iters);
		mae_map_set_float(mm, "position_weight", c->posw);
		mae_map_set_int(mm, "epoch_total", c->epochs);
		if (c->lambda_set)
			mae_map_set_float(mm, "lambda", c->lambda);
		mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(n1, r));
		break;
	case MAE_MASK_ATTENTION: {
		static const char *modes[] = {"high", "low", "hint"};
		mae_map_set_str(mm, "mode", modes[c->mode]);
		mae_map_set_float(mm, "ratio_var", c->rvar);
		mae_map_set_float(mm, "mask_prob", c->mprob);
		if (c->mode == MAE_ATTN_HINT) {
			mae_map_set_float(mm, "show_ratio", c->show_ratio);
			mae_map_set_float(mm, "show_max", c->show_max);
		}
		break;
	}
	case MAE_MASK_TUBE:
		mae_map_set_int(mm, "frames", c->gt);
		mae_map_set_int(mm, "hidden", c->gt * mae_mask_hidden_floor(n1, r));
		break;
	case MAE_MASK_FREQUENCY: {
		static const char *f[] = {"low", "high", "random"};
		mae_map_set_str(mm, "filter", f[c->filter]);
		mae_map_set_float(mm, "radius", c->radius);
		mae_map_set_bool(mm, "clamp", c->clamp);
		mae_map_set_int(mm, "hidden", 0);
		break;
	}
	default: break;
	}
}

/* per-thread frequency workspaces; file scope, so they stay reachable when a bad record ends
 * the program mid-stream */
static mae_freq_ws **ws;
static float **img;

static void parse_grid(const char *s, cfg *c)
{
	long long a, b;
	if (!(mae_parse_pair(s, 'x', &a, &b) || mae_parse_pair(s, ',', &a, &b)) || a < 1 || b < 1 ||
	    a > 4096 || b > 4096)
		mae_usage_error(usage, "--grid %s: expected GHxGW, e.g. 14x14", s);
	c->gh = (int)a, c->gw = (int)b;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"ratio", 1, 0, 'r'}, {"grid", 1, 0, O_GRID}, {"variant", 1, 0, O_VARIANT},
		{"cell", 1, 0, O_CELL}, {"min-area", 1, 0, O_MINAREA}, {"max-area", 1, 0, O_MAXAREA},
		{"aspect", 1, 0, O_ASPECT}, {"offset", 1, 0, O_OFFSET}, {"window", 1, 0, O_WINDOW},
		{"windows", 1, 0, O_WINDOWS}, {"color", 1, 0, O_COLOR}, {"sigma", 1, 0, O_SIGMA},
		{"parts", 1, 0, O_PARTS}, {"iters", 1, 0, O_ITERS}, {"position-weight", 1, 0, O_POSW},
		{"epoch-total", 1, 0, O_EPOCHS}, {"lambda", 1, 0, O_LAMBDA}, {"mode", 1, 0, O_MODE},
		{"ratio-var", 1, 0, O_RVAR}, {"mask-prob", 1, 0, O_MPROB}, {"show-ratio", 1, 0, O_SHOWR},
		{"show-max", 1, 0, O_SHOWM}, {"frames", 1, 0, O_FRAMES}, {"filter", 1, 0, O_FILTER},
		{"radius", 1, 0, O_RADIUS}, {"no-clamp", 0, 0, O_NOCLAMP}, {0, 0, 0, 0}};
	mae_common co;
	cfg c = {.cell = 0, .min_area = 16, .max_area = 0, .aspect = 0.3, .k = 7, .m = 4,
	         .color = MAE_NOISE_GREEN, .parts = 6, .iters = 10, .posw = 1.0, .mode = MAE_ATTN_HIGH,
	         .rvar = 0.2, .mprob = 0.5, .show_ratio = 0.1, .show_max = 0.1, .filter = 2,
	         .clamp = 1};
	unsigned char given[O_LAST - O_GRID] = {0};
	int opt;
	long long a, b;
	mae_setprog(argv[0]);
	mae_common_init(&co);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "r:", longopts, NULL)) != -1) {
		if (mae_common_opt(&co, opt, optarg, usage))
			continue;
		if (opt >= O_GRID && opt < O_LAST)
			given[opt - O_GRID] = 1;
		switch (opt) {
		case 'r': c.ratio = parse_ratio(optarg); c.ratio_set = 1; break;
		case O_GRID: parse_grid(optarg, &c); break;
		case O_VARIANT:
			if (!strcmp(optarg, "beit")) c.beit = 1;
			else if (!strcmp(optarg, "simmim")) c.beit = 0;
			else mae_usage_error(usage, "--variant %s: expected simmim or beit", optarg);
			break;
		case O_CELL: c.cell = (int)mae_parse_int(optarg, 1, 4096, "--cell"); break;
		case O_MINAREA: c.min_area = (int)mae_parse_int(optarg, 1, 1 << 24, "--min-area"); break;
		case O_MAXAREA: c.max_area = (int)mae_parse_int(optarg, 0, 1 << 24, "--max-area"); break;
		case O_ASPECT: c.aspect = mae_parse_double(optarg, 1e-3, 1.0, "--aspect"); break;
		case O_OFFSET:
			if (!strcmp(optarg, "random"))
				c.offset_random = 1;
			else if (mae_parse_pair(optarg, ',', &a, &b) && a >= 0 && b >= 0 && a < 4096 && b < 4096)
				c.oy = (int)a, c.ox = (int)b;
			else
				mae_usage_error(usage, "--offset %s: expected Y,X or random", optarg);
			break;
		case O_WINDOW: c.k = (int)mae_parse_int(optarg, 1, 4096, "--window"); c.k_set = 1; break;
		case O_WINDOWS: c.m = (int)mae_parse_int(optarg, 1, 4096, "--windows"); break;
		case O_COLOR:
			if ((c.color = mae_noise_color_parse(optarg)) < 0)
				mae_usage_error(usage, "--color %s: expected red, blue, green or purple", optarg);
			break;
		case O_SIGMA: {
			char *comma = strchr(optarg, ',');
			if (comma) {
				*comma = 0;
				c.sigma2 = mae_parse_double(comma + 1, 1e-3, 1e3, "--sigma S2");
			}
			c.sigma1 = mae_parse_double(optarg, 1e-3, 1e3, "--sigma S1");
			break;
		}
		case O_PARTS: c.parts = (int)mae_parse_int(optarg, 1, 4096, "--parts"); break;
		case O_ITERS: c.iters = (int)mae_parse_int(optarg, 0, 10000, "--iters"); break;
		case O_POSW: c.posw = mae_parse_double(optarg, 0, 1e6, "--position-weight"); break;
		case O_EPOCHS: c.epochs = mae_parse_int(optarg, 1, 1LL << 40, "--epoch-total"); break;
		case O_LAMBDA: c.lambda = mae_parse_double(optarg, 0, 1, "--lambda"); c.lambda_set = 1; break;
		case O_MODE:
			if ((c.mode = mae_attn_mode_parse(optarg)) < 0)
				mae_usage_error(usage, "--mode %s: expected high, low or hint", optarg);
			break;
		case O_RVAR: c.rvar = mae_parse_double(optarg, 0, 0.5, "--ratio-var"); break;
		case O_MPROB: c.mprob = mae_parse_double(optarg, 0, 1, "--mask-prob"); break;
		case O_SHOWR: c.show_ratio = mae_parse_double(optarg, 0, 1, "--show-ratio"); break;
		case O_SHOWM: c.show_max = mae_parse_double(optarg, 0, 1, "--show-max"); break;
		case O_FRAMES: c.gt = (int)mae_parse_int(optarg, 1, 4096, "--frames"); break;
		case O_FILTER:
			if (!strcmp(optarg, "low")) c.filter = 0;
			else if (!strcmp(optarg, "high")) c.filter = 1;
			else if (!strcmp(optarg, "random")) c.filter = 2;
			else mae_usage_error(usage, "--filter %s: expected low, high or random", optarg);
			break;
		case O_RADIUS: c.radius = mae_parse_double(optarg, 1e-3, 1e6, "--radius"); break;
		case O_NOCLAMP: c.clamp = 0; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind == argc)
		mae_usage_error(usage, "missing STRATEGY");
	if (optind + 1 < argc)
		mae_usage_error(usage, "too many arguments: '%s'", argv[optind + 1]);
	int st = mae_mask_strategy_parse(argv[optind]);
	if (st < 0)
		mae_usage_error(usage, "unknown strategy '%s'", argv[optind]);
	c.st = st;
	for (int o = 0; o < O_LAST - O_GRID; o++)
		if (given[o] && applies[o] && !(applies[o] & (1u << st)))
			for (const struct option *lo = longopts; lo->name; lo++)
				if (lo->val == o + O_GRID)
					mae_usage_error(usage, "--%s does not apply to %s masking", lo->name,
					                argv[optind]);
	if (c.ratio_set && (st == MAE_MASK_GRID || st == MAE_MASK_FREQUENCY))
		mae_usage_error(usage, "-r does not apply to %s masking (see mae-mask(1))", argv[optind]);

	mae_reader *in = mae_reader_open(co.in, &co);
	mae_writer *out = mae_writer_open(co.out, &co);
	mae_record hdr = {0}, rec = {0};
	mae_read_header(in, &hdr);
	mae_header_stage(&hdr, argc, argv);
	c.seed = co.seed_set ? co.seed : mae_header_seed(&hdr);
	setup(&c, &hdr);
	if (c.st == MAE_MASK_FREQUENCY) {
		/* the normalization patchify applied, to undo it around the DFT */
		double mv[8], sv[8];
		mae_val *meta = mae_rec_meta(&hdr);
		int nm = mae_map_floats(meta, "mean", mv, 8), ns = mae_map_floats(meta, "std", sv, 8);
		for (int k = 0; k < 8; k++) {
			c.mean[k] = nm > 0 ? (float)mv[k < nm ? k : nm - 1] : 0.0f;
			c.std[k] = ns > 0 ? (float)sv[k < ns ? k : ns - 1] : 1.0f;
			if (!(c.std[k] > 0))
				mae_die(MAE_EXIT_DATA, "input: header std[%d] is not positive", k);
		}
		if (nm < 0 || ns < 0)
			mae_warn("frequency: no mean/std in the header; taking the patches as pixels in [0,1]");
	}
	mae_write(out, &hdr);

	mae_threads_init(0);
	int nth = mae_threads();
	ws = mae_calloc((size_t)nth, sizeof *ws);
	img = mae_calloc((size_t)nth, sizeof *img);
	int ws_c = 0;
	mae_progress prog;
	mae_progress_start(&prog, "batches", mae_header_count(&hdr));
	while (mae_read(in, &rec)) {
		mae_tensor *pt = mae_rec_need(&rec, "patches", MAE_F32, 3, "[B,N,P]");
		int64_t B = pt->shape[0], N = pt->shape[1], P = pt->shape[2];
		if (N != c.n)
			mae_die(MAE_EXIT_DATA, "record %lld: tensor 'patches' has %lld patches; the header's "
			        "grid %dx%dx%d has %d", (long long)rec.number, (long long)N, c.gt, c.gh, c.gw, c.n);
		if (c.st == MAE_MASK_SEMANTIC || c.st == MAE_MASK_FREQUENCY) {
			int64_t pp = (int64_t)c.p * c.p;
			if (P % pp || P / pp < 1 || P / pp > 8)
				mae_die(MAE_EXIT_DATA, "record %lld: patches of %lld values are not p*p*C with "
				        "p = %d and C in 1..8", (long long)rec.number, (long long)P, c.p);
			c.c = (int)(P / pp);
		}
		mae_tensor *ix = mae_rec_tensor(&rec, "index");
		if (ix) {
			ix = mae_rec_need(&rec, "index", MAE_I64, 1, "[B]");
			if (ix->shape[0] != B)
				mae_die(MAE_EXIT_DATA, "record %lld: tensor 'index' has %lld entries for %lld "
				        "samples", (long long)rec.number, (long long)ix->shape[0], (long long)B);
		}
		if (c.st == MAE_MASK_ATTENTION) {
			mae_tensor *at = mae_rec_need(&rec, "attn", MAE_F32, 2, "[B,N]");
			if (at->shape[0] != B || at->shape[1] != N)
				mae_die(MAE_EXIT_DATA, "record %lld: tensor 'attn' is [%lld,%lld], patches need "
				        "[%lld,%lld]", (long long)rec.number, (long long)at->shape[0],
				        (long long)at->shape[1], (long long)B, (long long)N);
		}
		int64_t shp[3] = {B, N, 0};
		mae_rec_add(&rec, "mask", MAE_U8, 2, shp);
		if (c.st == MAE_MASK_WINDOW) {
			int64_t ws3[3] = {B, c.m, 2};
			mae_rec_add(&rec, "windows", MAE_I32, 3, ws3);
		}
		if (c.st == MAE_MASK_SEMANTIC)
			mae_rec_add(&rec, "parts", MAE_I32, 2, shp);
		int H = c.gh * c.p, W = c.gw * c.p;
		if (c.st == MAE_MASK_FREQUENCY) {
			int64_t ts[3] = {B, N, P}, fs[3] = {B, H, W};
			mae_tensor *tg = mae_rec_add(&rec, "target", MAE_F32, 3, ts);
			memcpy(tg->data, mae_rec_tensor(&rec, "patches")->data, (size_t)(B * N * P) * sizeof(float));
			mae_rec_add(&rec, "fmask", MAE_U8, 3, fs);
			mae_tensor_own(&rec, mae_rec_tensor(&rec, "patches"));
			if (ws_c != c.c) {
				for (int t = 0; t < nth; t++) {
					mae_freq_ws_free(ws[t]);
					free(img[t]);
					ws[t] = mae_freq_ws_new(H, W, c.c);
					img[t] = mae_malloc((size_t)2 * H * W * c.c * sizeof(float));
				}
				ws_c = c.c;
			}
		}
		/* pointers after every add (slots are stable, but read them fresh anyway) */
		job j = {.c = &c, .P = (int)P, .ws = ws, .img = img};
		pt = mae_rec_tensor(&rec, "patches");
		j.patches = pt->data;
		j.out_patches = pt->data;
		j.mask = mae_rec_tensor(&rec, "mask")->data;
		if (c.st == MAE_MASK_WINDOW)
			j.windows = mae_rec_tensor(&rec, "windows")->data;
		if (c.st == MAE_MASK_FREQUENCY)
			j.fmask = mae_rec_tensor(&rec, "fmask")->data;
		if (c.st == MAE_MASK_SEMANTIC)
			j.parts = mae_rec_tensor(&rec, "parts")->data;
		if (c.st == MAE_MASK_ATTENTION)
			j.attn = mae_rec_tensor(&rec, "attn")->data;
		ix = mae_rec_tensor(&rec, "index");
		j.index = ix ? ix->data : NULL;
		j.seq = mae_rec_seq(&rec);
		if (j.seq < 0)
			j.seq = rec.number;
		j.epoch = mae_map_int(mae_rec_meta(&rec), "epoch", 0);
		j.ratio = c.ratio;
		if (c.st == MAE_MASK_ATTENTION && c.rvar > 0) {
			/* AttMask draws one ratio per batch: seeded by the batch's first sample */
			mae_rng br;
			mae_rng_seed(&br, c.seed, (uint64_t)j.epoch, B ? sample_index(&j, 0) : 0, "mask-batch");
			j.ratio = c.ratio - c.rvar + 2 * c.rvar * mae_rng_uniform(&br);
		}
		/* samples in parallel (the pool holds OpenBLAS to one thread per sample: the DFT's
		 * products are small, and per-thread workspaces keep the samples independent) */
		mae_parallel_for((int)B, mask_sample, &j);
		mae_write(out, &rec);
		mae_progress_add(&prog, 1);
	}
	mae_progress_end(&prog);
	mae_writer_close(out, mae_reader_skipped(in));
	for (int t = 0; t < nth; t++) {
		mae_freq_ws_free(ws[t]);
		free(img[t]);
	}
	free(ws);
	free(img);
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return 0;
}
