/* augment.c: one sample to a fixed-size image: MAE's RandomResizedCrop + flip (training),
 * resize + center crop (evaluation), plain resize, or native size. See include/mae/data/dataset.h.
 *
 * Each mode is planned in the coordinates of the full-size image, with all random draws made
 * before any pixel is touched, so the draws (and the crop) do not depend on whether a JPEG is
 * then shrunk in the DCT domain. With DCT shrinking off (a->dct == 0) every mode gives the bytes
 * of torchvision's transform on a PIL image (given the same crop). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mae/util/util.h"
#include "mae/data/audio.h"
#include "mae/data/dataset.h"

void mae_augment_defaults(mae_augment *a, enum mae_crop crop, int w, int h, int c)
{
	memset(a, 0, sizeof *a);
	a->crop = crop;
	a->w = w, a->h = h, a->c = c;
	a->scale[0] = 0.2, a->scale[1] = 1.0;
	a->ratio[0] = 3.0 / 4.0, a->ratio[1] = 4.0 / 3.0;
	a->flip = crop == MAE_CROP_RRC ? 0.5 : 0;
	a->crop_pct = 0.875;
	a->dct = 1;
	a->dct_gap = 2;
	a->fbank_mean = MAE_FBANK_MEAN;
	a->fbank_std = MAE_FBANK_STD;
}

/* Python's round(): half to even (nearbyint in the default rounding mode). */
static int pyround(double x) { return (int)nearbyint(x); }

void mae_rrc_params(int W, int H, const double scale[2], const double ratio[2], mae_rng *r,
                    int *x, int *y, int *cw, int *ch)
{
	double area = (double)W * H, lr0 = log(ratio[0]), lr1 = log(ratio[1]);
	for (int t = 0; t < 10; t++) {
		double target = area * (scale[0] + (scale[1] - scale[0]) * mae_rng_uniform(r));
		double ar = exp(lr0 + (lr1 - lr0) * mae_rng_uniform(r));
		int w = pyround(sqrt(target * ar)), h = pyround(sqrt(target / ar));
		if (0 < w && w <= W && 0 < h && h <= H) {
			*y = (int)mae_rng_below(r, (uint64_t)(H - h + 1));
			*x = (int)mae_rng_below(r, (uint64_t)(W - w + 1));
			*cw = w, *ch = h;
			return;
		}
	}
	/* fallback: centered crop of the closest allowed ratio */
	double in = (double)W / H;
	int w, h;
	if (in < fmin(ratio[0], ratio[1]))
		w = W, h = pyround(w / fmin(ratio[0], ratio[1]));
	else if (in > fmax(ratio[0], ratio[1]))
		h = H, w = pyround(h * fmax(ratio[0], ratio[1]));
	else
		w = W, h = H;
	*cw = w, *ch = h;
	*y = (H - h) / 2;
	*x = (W - w) / 2;
}

/* The plan, in full-size coordinates. */
struct plan {
	int rw, rh;        /* resample the source box to rw x rh ... */
	double box[4];     /* ... this box of the full-size image ... */
	int ox, oy;        /* ... and keep the a->w x a->h window at (ox, oy) */
	int crop;          /* the box is a crop that the filter must not see beyond (RRC) */
	int flip;
};

static int make_plan(const mae_augment *a, int W, int H, mae_rng *r, struct plan *p,
                     char *err, size_t errn)
{
	memset(p, 0, sizeof *p);
	p->rw = a->w, p->rh = a->h;
	p->box[2] = W, p->box[3] = H;
	switch (a->crop) {
	case MAE_CROP_NONE:
		if (W != a->w || H != a->h)
			return mae_fail(err, errn, "size %dx%d, expected %dx%d (choose a crop mode to resize)",
			            W, H, a->w, a->h);
		break;
	case MAE_CROP_RESIZE:
		break;
	case MAE_CROP_CENTER: {
		double pct = a->crop_pct > 0 && a->crop_pct <= 1 ? a->crop_pct : 1;
		int sw = (int)(a->w / pct + 1e-9), sh = (int)(a->h / pct + 1e-9);
		/* torchvision Resize(size): the binding side gets the size, the other side
		 * int(size * long / short) */
		if ((double)sw / W >= (double)sh / H)
			p->rw = sw, p->rh = (int)((double)sw * H / W);
		else
			p->rh = sh, p->rw = (int)((double)sh * W / H);
		if (p->rw < a->w) p->rw = a->w;
		if (p->rh < a->h) p->rh = a->h;
		/* CenterCrop: int(round((size - crop) / 2.0)) */
		p->ox = pyround((p->rw - a->w) / 2.0);
		p->oy = pyround((p->rh - a->h) / 2.0);
		break;
	}
	case MAE_CROP_RRC: {
		int x, y, cw, ch;
		mae_rrc_params(W, H, a->scale, a->ratio, r, &x, &y, &cw, &ch);
		p->box[0] = x, p->box[1] = y, p->box[2] = x + cw, p->box[3] = y + ch;
		p->crop = 1;
		break;
	}
	}
	if (a->flip > 0)
		p->flip = mae_rng_uniform(r) < a->flip;
	return 0;
}

/* Execute a plan on img, whose size may be a DCT-shrunk version (sx, sy) of the full size. */
static int run_plan(const mae_augment *a, const struct plan *p, const mae_image *img,
                    double sx, double sy, uint8_t *out, char *err, size_t errn)
{
	mae_image dst = { a->w, a->h, a->c, (size_t)a->w * a->c, out, NULL };
	mae_image src = *img, conv = { 0 };
	int rc = -1;
	if (img->c != a->c) {
		if (mae_image_alloc(&conv, img->w, img->h, a->c) < 0)
			return mae_fail(err, errn, "out of memory");
		mae_image_convert(img, &conv);
		src = conv;
	}
	double box[4] = { p->box[0] * sx, p->box[1] * sy, p->box[2] * sx, p->box[3] * sy };
	if (box[2] > src.w) box[2] = src.w;
	if (box[3] > src.h) box[3] = src.h;
	if (p->crop) {
		/* crop first (torchvision), then resample the whole crop; when shrunk, the crop is
		 * the whole pixels covering the box and the box keeps the fraction */
		int x0 = (int)floor(box[0] + 1e-9), y0 = (int)floor(box[1] + 1e-9);
		int x1 = (int)ceil(box[2] - 1e-9), y1 = (int)ceil(box[3] - 1e-9);
		if (x1 <= x0) x1 = x0 + 1;
		if (y1 <= y0) y1 = y0 + 1;
		if (x1 > src.w) x1 = src.w;
		if (y1 > src.h) y1 = src.h;
		src = mae_image_view(&src, x0, y0, x1 - x0, y1 - y0);
		box[0] -= x0, box[2] -= x0, box[1] -= y0, box[3] -= y0;
		if (box[0] < 0) box[0] = 0;
		if (box[1] < 0) box[1] = 0;
		if (box[2] > src.w) box[2] = src.w;
		if (box[3] > src.h) box[3] = src.h;
	}
	if (mae_resample(&src, box, p->rw, p->rh, p->ox, p->oy, &dst) < 0) {
		mae_fail(err, errn, "resampling %dx%d failed", src.w, src.h);
		goto out;
	}
	if (p->flip)
		mae_image_flip(&dst);
	rc = 0;
out:
	if (conv.owned)
		mae_image_free(&conv);
	return rc;
}

int mae_augment_image(const mae_augment *a, const mae_image *img, mae_rng *r, uint8_t *out,
                      char *err, size_t errn)
{
	struct plan p;
	if (make_plan(a, img->w, img->h, r, &p, err, errn) < 0)
		return -1;
	return run_plan(a, &p, img, 1, 1, out, err, errn);
}

int mae_augment_file(const mae_augment *a, const void *buf, size_t n, mae_rng *r, uint8_t *out,
                     char *err, size_t errn)
{
	mae_imginfo info;
	if (mae_image_info(buf, n, &info, err, errn) < 0)
		return -1;
	struct plan p;
	if (make_plan(a, info.w, info.h, r, &p, err, errn) < 0)
		return -1;
	/* The smallest DCT-domain shrink that still covers the box with dct_gap times the output
	 * samples, the bicubic filter doing the rest: Pillow's own recipe for fast, good
	 * downscaling (Image.thumbnail: draft() then resize, reducing_gap = 2). */
	int min_w = 0, min_h = 0;
	if (a->dct && a->crop != MAE_CROP_NONE && info.fmt == MAE_IMG_JPEG) {
		double gap = a->dct_gap >= 1 ? a->dct_gap : 1;
		min_w = (int)ceil(gap * p.rw * info.w / (p.box[2] - p.box[0]) - 1e-9);
		min_h = (int)ceil(gap * p.rh * info.h / (p.box[3] - p.box[1]) - 1e-9);
		if (min_w > info.w || min_h > info.h)
			min_w = min_h = 0;   /* enlarging: decode at full size */
	}
	mae_image img;
	if (info.fmt == MAE_IMG_WAV) {   /* a clip: its spectrogram is the image (audio.h) */
		if (mae_wav_image(buf, n, a->fbank_mean, a->fbank_std, &img, err, errn) < 0)
			return -1;
		int rc = run_plan(a, &p, &img, 1, 1, out, err, errn);
		mae_image_free(&img);
		return rc;
	}
	if (mae_image_decode(buf, n, a->c, min_w, min_h, &img, NULL, err, errn) < 0)
		return -1;
	if (info.fmt == MAE_IMG_JPEG && img.w == info.w && img.h == info.h)
		min_w = 0;
	int rc = run_plan(a, &p, &img, (double)img.w / info.w, (double)img.h / info.h, out, err,
	                  errn);
	mae_image_free(&img);
	return rc;
}
