/* masker_attention.c: mae-mask attention, AttMask's most (or least) attended patches, from the
 * `attn` F32 [B,N] of each batch (mae_mask_attention). */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>
#include <string.h>

typedef struct attention {
	int mode;
	double rvar, mprob, show_ratio, show_max;
} attention;

static const char *parse_mode(void *st, const char *arg)
{
	attention *a = st;
	a->mode = mae_attn_mode_parse(arg);
	return a->mode < 0 ? "expected high, low or hint" : NULL;
}

static const mae_mask_opt opts[] = {
	{.name = "mode", .arg = "high|low|hint", .def = "high",
	 .help = "hide the most or least attended; hint shows a few again",
	 .kind = MAE_MOPT_PARSE, .parse = parse_mode},
	{.name = "ratio-var", .arg = "V", .def = "0.2",
	 .help = "each batch's ratio is drawn in r +- V",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(attention, rvar), .lo = 0, .hi = 0.5},
	{.name = "mask-prob", .arg = "Q", .def = "0.5",
	 .help = "the share of images masked (the others stay whole)",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(attention, mprob), .lo = 0, .hi = 1},
	{.name = "show-ratio", .arg = "S", .def = "0.1",
	 .help = "hint: share of the hidden shown again",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(attention, show_ratio), .lo = 0, .hi = 1},
	{.name = "show-max", .arg = "S", .def = "0.1",
	 .help = "hint: drawn among this share of the most attended",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(attention, show_max), .lo = 0, .hi = 1},
	{0}
};

static const mae_mask_tensor reads[] = {{"attn", MAE_F32, "[B,N]"}, {0}};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	(void)meta;
	const attention *a = st;
	if (x->ratio - a->rvar < 0 || x->ratio + a->rvar > 1)
		mae_die(MAE_EXIT_USAGE, "attention: ratio %g +- %g leaves [0,1]", x->ratio, a->rvar);
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)x, (void)meta;
	static const char *modes[] = {"high", "low", "hint"};
	const attention *a = st;
	mae_map_set_str(mm, "mode", modes[a->mode]);
	mae_map_set_float(mm, "ratio_var", a->rvar);
	mae_map_set_float(mm, "mask_prob", a->mprob);
	if (a->mode == MAE_ATTN_HINT) {
		mae_map_set_float(mm, "show_ratio", a->show_ratio);
		mae_map_set_float(mm, "show_max", a->show_max);
	}
}

/* AttMask draws one ratio per batch: seeded by the batch's first sample */
static void batch(void *st, mae_mask_batch *bv, mae_record *rec)
{
	(void)rec;
	const attention *a = st;
	const mae_mask_ctx *x = bv->ctx;
	if (a->rvar > 0) {
		mae_rng br;
		mae_rng_seed(&br, x->seed, (uint64_t)bv->epoch, bv->B ? mae_mask_sample_index(bv, 0) : 0,
		             "mask-batch");
		bv->ratio = x->ratio - a->rvar + 2 * a->rvar * mae_rng_uniform(&br);
	}
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const attention *a = st;
	int n = bv->ctx->n;
	uint8_t *m = bv->mask + (size_t)b * n;
	if (a->mprob < 1 && mae_rng_uniform(rng) >= a->mprob) {
		memset(m, 0, (size_t)n);   /* AttMask masking_prob: this image stays whole */
		return;
	}
	mae_mask_attention(m, (const float *)bv->in[0] + (size_t)b * n, n, a->mode, bv->ratio,
	                   a->show_ratio, a->show_max, rng);
}

const mae_masker mae_masker_attention = {
	.name = "attention", .about = "AttMask: the patches a teacher attends to most (or least)",
	.ratio = 0.3, .size = sizeof(attention),
	.defaults = &(attention){.mode = MAE_ATTN_HIGH, .rvar = 0.2, .mprob = 0.5,
	                         .show_ratio = 0.1, .show_max = 0.1},
	.opts = opts, .reads = reads,
	.setup = setup, .describe = describe, .batch = batch, .sample = sample,
};
