/* masker_frequency.c: mae-mask frequency, MFM's corruption in the Fourier domain: the patches
 * are replaced by the filtered image's (the originals go to `target`), `fmask` U8 [B,H,W]
 * says which frequencies went, and the mask hides nothing. */
#include "mae/data/patchify.h"
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct frequency {
	int filter;                  /* 0 low, 1 high, 2 random */
	int clamp;
	double radius;               /* <= 0: 16 pixels at 224 */
	float mean[8], std[8];       /* the normalization patchify applied, undone around the DFT */
	/* per thread: a DFT workspace and two [H,W,C] images, for ws_c channels */
	mae_freq_ws **ws;
	float **img;
	int nth, ws_c;
} frequency;

static const char *const filters[] = {"low", "high", "random", NULL};

static const mae_mask_opt opts[] = {
	{.name = "filter", .arg = "low|high|random", .def = "random",
	 .help = "keep the low or the high frequencies, or draw",
	 .kind = MAE_MOPT_CHOICE, .at = offsetof(frequency, filter), .choices = filters},
	{.name = "radius", .arg = "R",
	 .help = "the disc's radius in frequencies (default: 16 at 224 pixels)",
	 .kind = MAE_MOPT_DOUBLE, .at = offsetof(frequency, radius), .lo = 1e-3, .hi = 1e6},
	{.name = "no-clamp",
	 .help = "do not clamp the filtered pixels to [0,1]",
	 .kind = MAE_MOPT_CLEAR, .at = offsetof(frequency, clamp)},
	{0}
};

static const mae_mask_tensor reads[] = {{"patches", MAE_F32, "[B,N,P]"}, {0}};
static const mae_mask_tensor writes[] = {
	{"target", MAE_F32, "[B,N,P]"}, {"fmask", MAE_U8, "[B,H,W]"}, {0}
};

static void setup(void *st, mae_mask_ctx *x, mae_val *meta)
{
	frequency *f = st;
	if (x->p <= 0)
		mae_die(MAE_EXIT_DATA, "frequency: the header has no patch_size");
	int H = x->gh * x->p, W = x->gw * x->p;
	if (f->radius <= 0)
		f->radius = 16.0 * (H < W ? H : W) / 224.0;
	double mv[8], sv[8];
	int nm = mae_map_floats(meta, "mean", mv, 8), ns = mae_map_floats(meta, "std", sv, 8);
	for (int k = 0; k < 8; k++) {
		f->mean[k] = nm > 0 ? (float)mv[k < nm ? k : nm - 1] : 0.0f;
		f->std[k] = ns > 0 ? (float)sv[k < ns ? k : ns - 1] : 1.0f;
		if (!(f->std[k] > 0))
			mae_die(MAE_EXIT_DATA, "input: header std[%d] is not positive", k);
	}
	if (nm < 0 || ns < 0)
		mae_warn("frequency: no mean/std in the header; taking the patches as pixels in [0,1]");
	f->nth = x->threads;
	f->ws = mae_calloc((size_t)f->nth, sizeof *f->ws);
	f->img = mae_calloc((size_t)f->nth, sizeof *f->img);
}

static void describe(const void *st, const mae_mask_ctx *x, mae_val *mm, mae_val *meta)
{
	(void)x, (void)meta;
	const frequency *f = st;
	mae_map_set_str(mm, "filter", filters[f->filter]);
	mae_map_set_float(mm, "radius", f->radius);
	mae_map_set_bool(mm, "clamp", f->clamp);
	mae_map_set_int(mm, "hidden", 0);
}

static void free_scratch(frequency *f)
{
	for (int t = 0; t < f->nth; t++) {
		mae_freq_ws_free(f->ws[t]);
		free(f->img[t]);
		f->ws[t] = NULL, f->img[t] = NULL;
	}
}

/* The originals to `target`; the patches become this record's own, to overwrite; scratch for
 * the batch's channels. */
static void batch(void *st, mae_mask_batch *bv, mae_record *rec)
{
	frequency *f = st;
	const mae_mask_ctx *x = bv->ctx;
	mae_tensor *pt = mae_rec_tensor(rec, "patches");
	memcpy(mae_rec_tensor(rec, "target")->data, pt->data,
	       (size_t)bv->B * x->n * bv->P * sizeof(float));
	mae_tensor_own(rec, pt);
	if (f->ws_c != x->c) {
		int H = x->gh * x->p, W = x->gw * x->p;
		free_scratch(f);
		for (int t = 0; t < f->nth; t++) {
			f->ws[t] = mae_freq_ws_new(H, W, x->c);
			f->img[t] = mae_malloc((size_t)2 * H * W * x->c * sizeof(float));
		}
		f->ws_c = x->c;
	}
}

static void sample(const void *st, const mae_mask_batch *bv, int b, int tid, mae_rng *rng)
{
	const frequency *f = st;
	const mae_mask_ctx *x = bv->ctx;
	int n = x->n, p = x->p, H = x->gh * p, W = x->gw * p, C = x->c;
	int hp = f->filter == 2 ? (int)mae_rng_below(rng, 2) : f->filter;
	uint8_t *fm = (uint8_t *)bv->out[1] + (size_t)b * H * W;
	float *img = f->img[tid], *out = img + (size_t)H * W * C;
	float *y = bv->patches + (size_t)b * n * bv->P;
	mae_freq_fmask(fm, H, W, f->radius, hp);
	mae_patches_to_float(img, y, H, W, C, p, f->mean, f->std);   /* in [0,1] */
	mae_freq_corrupt(f->ws[tid], out, img, fm, f->clamp);
	mae_float_to_patches(y, out, H, W, C, p, f->mean, f->std);
	/* MFM: the encoder sees every (corrupted) patch */
	memset(bv->mask + (size_t)b * n, 0, (size_t)n);
}

static void release(void *st)
{
	frequency *f = st;
	free_scratch(f);
	free(f->ws);
	free(f->img);
}

const mae_masker mae_masker_frequency = {
	.name = "frequency", .about = "MFM: the image low- or high-pass filtered; nothing hidden",
	.ratio = -1, .size = sizeof(frequency), .defaults = &(frequency){.filter = 2, .clamp = 1},
	.opts = opts, .reads = reads, .writes = writes,
	.setup = setup, .describe = describe, .batch = batch, .sample = sample, .free = release,
};
