/* masker_grid.c: mae-mask grid, MAE's ablation: one patch kept in every cell (mae_mask_grid). */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct grid { int cell, oy, ox, offset_random; } grid;

static const char *parse_offset(void *st, const char *arg)
{
	grid *g = st;
	long long a, b;
	if (!strcmp(arg, "random"))
		g->offset_random = 1;
	else if (mae_parse_pair(arg, ',', &a, &b) && a >= 0 && b >= 0 && a < 4096 && b < 4096)
		g->oy = (int)a, g->ox = (int)b;
	else
		return "expected Y,X or random";
	return NULL;
}

static const mae_mask_opt opts[] = {
	{.name = "cell", .arg = "S", .def = "2",
	 .help = "cell side in patches",
	 .kind = MAE_MOPT_INT, .at = offsetof(grid, cell), .lo = 1, .hi = 4096},
	{.name = "offset", .arg = "Y,X|random", .def = "0,0",
	 .help = "the kept patch in every cell, or one drawn per sample",
	 .kind = MAE_MOPT_PARSE, .parse = parse_offset},
	{0}
};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)x, (void)meta;
	const grid *g = st;
	if (g->oy >= g->cell || g->ox >= g->cell)
		mae_die(MAE_EXIT_USAGE, "grid: --offset must be below --cell %d", g->cell);
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)meta;
	const grid *g = st;
	mae_map_set_int(mm, "cell", g->cell);
	if (g->offset_random) {
		mae_map_set_str(mm, "offset", "random");
	} else {
		int64_t o[2] = {g->oy, g->ox};
		mae_map_set_ints(mm, "offset", o, 2);
		uint8_t *tmp = mae_malloc((size_t)x->gh * x->gw);
		mae_map_set_int(mm, "hidden", mae_mask_grid(tmp, x->gh, x->gw, g->cell, g->oy, g->ox));
		free(tmp);
	}
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const grid *g = st;
	const mae_mask_ctx *x = bv->ctx;
	int oy = g->oy, ox = g->ox;
	if (g->offset_random) {
		oy = (int)mae_rng_below(rng, (uint64_t)g->cell);
		ox = (int)mae_rng_below(rng, (uint64_t)g->cell);
	}
	mae_mask_grid(bv->mask + (size_t)b * x->n, x->gh, x->gw, g->cell, oy, ox);
}

const mae_masker mae_masker_grid = {
	.name = "grid", .about = "MAE's ablation: keep one patch of every cell", .ratio = -1,
	.size = sizeof(grid), .defaults = &(grid){.cell = 2}, .opts = opts,
	.setup = setup, .describe = describe, .sample = sample,
};
