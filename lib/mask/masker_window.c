/* masker_window.c: mae-mask window, LoMaR's windows of patches (mae_mask_window); writes
 * `windows` I32 [B,M,2]. */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>

typedef struct window { int k, m; } window;   /* k 0: LoMaR's 7, or less on a small grid */

static const mae_mask_opt opts[] = {
	{.name = "window", .arg = "K", .def = "7",
	 .help = "window side in patches",
	 .kind = MAE_MOPT_INT, .at = offsetof(window, k), .lo = 1, .hi = 4096},
	{.name = "windows", .arg = "M", .def = "4",
	 .help = "windows per sample",
	 .kind = MAE_MOPT_INT, .at = offsetof(window, m), .lo = 1, .hi = 4096},
	{0}
};

static const mae_mask_tensor writes[] = {{"windows", MAE_I32, "[B,M,2]"}, {0}};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)meta;
	window *w = st;
	if (!w->k) {
		w->k = 7;
		if (x->gh < w->k + w->m - 1 || x->gw < w->k + w->m - 1) {
			/* a grid too small for LoMaR's 7x7: keep its proportion, a window half the side */
			int side = x->gh < x->gw ? x->gh : x->gw;
			w->k = (side + 1) / 2;
			if (w->k + w->m - 1 > side)
				w->k = side - w->m + 1 > 1 ? side - w->m + 1 : 1;
		}
	}
	if (w->k > x->gh || w->k > x->gw)
		mae_die(MAE_EXIT_USAGE, "window: --window %d is larger than the %dx%d grid", w->k,
		        x->gh, x->gw);
	if (w->m > x->gh - w->k + 1 || w->m > x->gw - w->k + 1)
		mae_die(MAE_EXIT_USAGE, "window: %d windows of %d need at least %d positions per axis "
		        "(LoMaR draws distinct tops and lefts); the grid has %d",
		        w->m, w->k, w->m, (x->gh < x->gw ? x->gh : x->gw) - w->k + 1);
	x->dim['M' - 'A'] = w->m;
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)x;
	const window *w = st;
	mae_map_set_int(mm, "window_size", w->k);
	mae_map_set_int(mm, "num_windows", w->m);
	mae_map_set_int(meta, "window_size", w->k);
	mae_map_set_int(meta, "num_windows", w->m);
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const window *w = st;
	const mae_mask_ctx *x = bv->ctx;
	mae_mask_window(bv->mask + (size_t)b * x->n, x->gh, x->gw, w->k, w->m, x->ratio, rng,
	                (int32_t *)bv->out[0] + (size_t)b * w->m * 2);
}

const mae_masker mae_masker_window = {
	.name = "window", .about = "LoMaR: patches hidden inside a few local windows", .ratio = 0.8,
	.size = sizeof(window), .defaults = &(window){.m = 4}, .opts = opts, .writes = writes,
	.setup = setup, .describe = describe, .sample = sample,
};
