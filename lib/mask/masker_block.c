/* masker_block.c: mae-mask block, SimMIM's aligned cells or BEiT's rectangles of patches. */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <math.h>
#include <stddef.h>

typedef struct block {
	int beit, cell, min_area, max_area;
	double aspect;
} block;

static const char *const variants[] = {"simmim", "beit", NULL};

static const mae_mask_opt opts[] = {
	{.name = "variant", .arg = "simmim|beit", .def = "simmim",
	 .help = "SimMIM cells, or BEiT rectangles (-r 75/196)",
	 .kind = MAE_MOPT_CHOICE, .at = offsetof(block, beit), .choices = variants},
	{.name = "cell", .arg = "S",
	 .help = "SimMIM cell side in patches (default: 32 pixels)",
	 .kind = MAE_MOPT_INT, .at = offsetof(block, cell), .lo = 1, .hi = 4096},
	{.name = "min-area", .arg = "A", .def = "16",
	 .help = "BEiT: smallest rectangle in patches",
	 .kind = MAE_MOPT_INT, .at = offsetof(block, min_area), .lo = 1, .hi = 1 << 24},
	{.name = "max-area", .arg = "A",
	 .help = "BEiT: largest rectangle (default: no limit)",
	 .kind = MAE_MOPT_INT, .at = offsetof(block, max_area), .lo = 0, .hi = 1 << 24},
	{.name = "aspect", .arg = "R", .def = "0.3",
	 .help = "BEiT: smallest aspect ratio",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(block, aspect), .lo = 1e-3, .hi = 1.0},
	{0}
};

/* SimMIM hides ceil(C*r) of the C cells. */
static int simmim_cells(const block *k, int n1, double ratio)
{
	return (int)ceil(n1 / (k->cell * k->cell) * ratio - 1e-9);
}

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)meta;
	block *k = st;
	if (!x->ratio_set && k->beit)
		x->ratio = 75.0 / 196.0;
	if (!k->beit) {
		if (!k->cell) {
			if (x->p <= 0)
				mae_die(MAE_EXIT_USAGE, "block: no patch_size in the header; give --cell S");
			k->cell = (int)lround(32.0 / x->p);
			if (k->cell < 1)
				k->cell = 1;
		}
		if (x->gh % k->cell || x->gw % k->cell)
			mae_die(MAE_EXIT_USAGE, "block: SimMIM cells of %d patches do not tile the %dx%d "
			        "grid; give --cell S with S dividing both, or --variant beit",
			        k->cell, x->gh, x->gw);
	} else if (k->min_area > x->gh * x->gw) {
		mae_die(MAE_EXIT_USAGE, "block: --min-area %d is larger than the grid", k->min_area);
	}
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)meta;
	const block *k = st;
	int n1 = x->gh * x->gw;
	mae_map_set_str(mm, "variant", variants[k->beit]);
	if (k->beit) {
		mae_map_set_int(mm, "hidden", mae_mask_hidden_floor(n1, x->ratio));
		mae_map_set_int(mm, "min_area", k->min_area);
		mae_map_set_int(mm, "max_area", k->max_area);
		mae_map_set_float(mm, "aspect", k->aspect);
	} else {
		mae_map_set_int(mm, "cell", k->cell);
		mae_map_set_int(mm, "hidden", simmim_cells(k, n1, x->ratio) * k->cell * k->cell);
	}
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const block *k = st;
	const mae_mask_ctx *x = bv->ctx;
	uint8_t *m = bv->mask + (size_t)b * x->n;
	if (k->beit)
		mae_mask_block_beit(m, x->gh, x->gw, mae_mask_hidden_floor(x->n, x->ratio), k->min_area,
		                    k->max_area, k->aspect, rng, NULL, NULL);
	else
		mae_mask_block_simmim(m, x->gh, x->gw, k->cell, simmim_cells(k, x->n, x->ratio), rng,
		                      NULL, NULL);
}

const mae_masker mae_masker_block = {
	.name = "block", .about = "SimMIM: aligned cells of patches; BEiT: random rectangles",
	.ratio = 0.6, .size = sizeof(block),
	.defaults = &(block){.min_area = 16, .aspect = 0.3}, .opts = opts,
	.setup = setup, .describe = describe, .sample = sample,
};
