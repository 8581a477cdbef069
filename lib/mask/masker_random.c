/* masker_random.c: mae-mask random, MAE's uniformly random patches (mae_mask_random). */
#include "mae/mask/masker.h"

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)st, (void)meta;
	mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(x->n, x->ratio));
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)st, (void)tid;
	int n = bv->ctx->n;
	mae_mask_random(bv->mask + (size_t)b * n, n, mae_mask_hidden_mae(n, bv->ctx->ratio), rng);
}

const mae_masker mae_masker_random = {
	.name = "random", .about = "MAE: a uniformly random set of patches", .ratio = 0.75,
	.clips = 1, .describe = describe, .sample = sample,
};
