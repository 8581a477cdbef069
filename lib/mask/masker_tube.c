/* masker_tube.c: mae-mask tube, VideoMAE's one spatial mask over every frame (mae_mask_tube). */
#include "mae/mask/masker.h"

#include <stddef.h>

typedef struct tube { int frames; } tube;

static const mae_mask_opt opts[] = {
	{.name = "frames", .arg = "T",
	 .help = "frames per sample (default: the header's grid or frames)",
	 .kind = MAE_MOPT_INT, .at = offsetof(tube, frames), .lo = 1, .hi = 4096},
	{0}
};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)meta;
	const tube *t = st;
	if (t->frames) {
		x->gt = t->frames;
		x->n = x->gt * x->gh * x->gw;
	}
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)st, (void)meta;
	mae_map_set_int(mm, "frames", x->gt);
	mae_map_set_int(mm, "hidden", x->gt * mae_mask_hidden_floor(x->gh * x->gw, x->ratio));
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)st, (void)tid;
	const mae_mask_ctx *x = bv->ctx;
	mae_mask_tube(bv->mask + (size_t)b * x->n, x->gt, x->gh * x->gw, x->ratio, rng);
}

const mae_masker mae_masker_tube = {
	.name = "tube", .about = "VideoMAE: one spatial mask repeated over the frames of a clip",
	.ratio = 0.9, .clips = 1, .size = sizeof(tube), .defaults = &(tube){0}, .opts = opts,
	.setup = setup, .describe = describe, .sample = sample,
};
