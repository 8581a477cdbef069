/* masker_semantic.c: mae-mask semantic, SemMAE's parts from k-means over the patches, hidden
 * on its schedule (mae_mask_semantic); writes `parts` I32 [B,N]. */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>
#include <stdlib.h>

typedef struct semantic {
	int parts, iters;
	double posw;
	double lambda;       /* < 0: SemMAE's schedule over the epochs */
	int64_t epochs;      /* 0: the header's, else 800 */
} semantic;

static const mae_mask_opt opts[] = {
	{.name = "parts", .arg = "K", .def = "6",
	 .help = "k-means clusters",
	 .kind = MAE_MOPT_INT, .at = offsetof(semantic, parts), .lo = 1, .hi = 4096},
	{.name = "iters", .arg = "I", .def = "10",
	 .help = "Lloyd iterations",
	 .kind = MAE_MOPT_INT, .at = offsetof(semantic, iters), .lo = 0, .hi = 10000},
	{.name = "position-weight", .arg = "W", .def = "1",
	 .help = "weight of a patch's position among its features",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(semantic, posw), .lo = 0, .hi = 1e6},
	{.name = "epoch-total", .arg = "E",
	 .help = "epochs of the schedule (default: the header's epochs, or 800)",
	 .kind = MAE_MOPT_INT64, .at = offsetof(semantic, epochs), .lo = 1, .hi = (double)(1LL << 40)},
	{.name = "lambda", .arg = "L",
	 .help = "a fixed lambda in [0,1] instead of the schedule",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(semantic, lambda), .lo = 0, .hi = 1},
	{0}
};

static const mae_mask_tensor reads[] = {{"patches", MAE_F32, "[B,N,P]"}, {0}};
static const mae_mask_tensor writes[] = {{"parts", MAE_I32, "[B,N]"}, {0}};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	semantic *s = st;
	if (x->p <= 0)
		mae_die(MAE_EXIT_DATA, "semantic: the header has no patch_size");
	if (!s->epochs)
		s->epochs = mae_map_int(meta, "epochs", 800);
	if (s->epochs < 1)
		s->epochs = 800;
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)meta;
	const semantic *s = st;
	mae_map_set_int(mm, "parts", s->parts);
	mae_map_set_int(mm, "iters", s->iters);
	mae_map_set_float(mm, "position_weight", s->posw);
	mae_map_set_int(mm, "epoch_total", s->epochs);
	if (s->lambda >= 0)
		mae_map_set_float(mm, "lambda", s->lambda);
	mae_map_set_int(mm, "hidden", mae_mask_hidden_mae(x->gh * x->gw, x->ratio));
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	(void)tid;
	const semantic *s = st;
	const mae_mask_ctx *x = bv->ctx;
	int n = x->n, nf = mae_semantic_nfeatures(x->c);
	float *feat = mae_malloc((size_t)n * nf * sizeof *feat);
	int32_t *parts = (int32_t *)bv->out[0] + (size_t)b * n;
	mae_semantic_features(feat, bv->patches + (size_t)b * n * bv->P, x->gh, x->gw, x->p, x->c,
	                      s->posw);
	int np = mae_kmeans(parts, feat, n, nf, s->parts, s->iters, rng);
	double lambda = s->lambda >= 0 ? s->lambda : mae_semantic_lambda(bv->epoch, s->epochs);
	mae_mask_semantic(bv->mask + (size_t)b * n, parts, n, np, x->ratio,
	                  mae_mask_hidden_mae(n, x->ratio), lambda, rng);
	free(feat);
}

const mae_masker mae_masker_semantic = {
	.name = "semantic", .about = "SemMAE: whole parts of the image, from k-means over the patches",
	.ratio = 0.6, .size = sizeof(semantic),
	.defaults = &(semantic){.parts = 6, .iters = 10, .posw = 1.0, .lambda = -1},
	.opts = opts, .reads = reads, .writes = writes,
	.setup = setup, .describe = describe, .sample = sample,
};
