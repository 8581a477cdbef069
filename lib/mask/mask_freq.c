/* mask_freq.c: MFM's frequency masking: a low- or high-pass disc on the unshifted 2-D DFT,
 * and the corruption of an image through it (see mask.h, dft.h). */
#include "mae/mask/mask.h"
#include "mae/kernels/dft.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mae_freq_fmask(uint8_t *fmask, int h, int w, double radius, int highpass)
{
	int removed = 0;
	double r2 = radius * radius;
	for (int u = 0; u < h; u++) {
		int fy = u < (h + 1) / 2 ? u : u - h;   /* numpy fftfreq: u < ceil(H/2) is >= 0 */
		for (int v = 0; v < w; v++) {
			int fx = v < (w + 1) / 2 ? v : v - w;
			int inside = (double)fy * fy + (double)fx * fx < r2;
			int rm = highpass ? inside : !inside;
			fmask[u * w + v] = (uint8_t)rm;
			removed += rm;
		}
	}
	return removed;
}

struct mae_freq_ws {
	int h, w, c;
	mae_dft2 dft;
	float *planes, *re, *im;   /* [C,H,W] each */
};

mae_freq_ws *mae_freq_ws_new(int h, int w, int c)
{
	mae_freq_ws *ws = mae_calloc(1, sizeof *ws);
	size_t n = (size_t)c * h * w * sizeof(float);
	ws->h = h;
	ws->w = w;
	ws->c = c;
	mae_dft2_init(&ws->dft, h, w);
	ws->planes = mae_alloc_aligned(n);
	ws->re = mae_alloc_aligned(n);
	ws->im = mae_alloc_aligned(n);
	return ws;
}

void mae_freq_ws_free(mae_freq_ws *ws)
{
	if (!ws)
		return;
	mae_dft2_free(&ws->dft);
	free(ws->planes);
	free(ws->re);
	free(ws->im);
	free(ws);
}

/* The cost of projecting onto the kept (want = 0) or the removed (want = 1) frequencies: the
 * rows plus the columns of the spectrum each touches, both counted in one scan. */
static void touched(const uint8_t *fm, int h, int w, int cost[2])
{
	uint8_t *colany = mae_calloc((size_t)w, 2);
	cost[0] = cost[1] = 0;
	for (int u = 0; u < h; u++) {
		int any[2] = {0, 0};
		for (int v = 0; v < w; v++) {
			int b = fm[u * w + v] != 0;
			any[b] = 1;
			colany[2 * v + b] = 1;
		}
		cost[0] += any[0];
		cost[1] += any[1];
	}
	for (int v = 0; v < w; v++) {
		cost[0] += colany[2 * v];
		cost[1] += colany[2 * v + 1];
	}
	free(colany);
}

void mae_freq_corrupt(mae_freq_ws *ws, float *out, const float *img, const uint8_t *fmask,
                      int clamp)
{
	int h = ws->h, w = ws->w, c = ws->c;
	size_t plane = (size_t)h * w;
	for (int k = 0; k < c; k++) {              /* [H,W,C] -> [C,H,W] */
		float *dst = ws->planes + k * plane;
		for (size_t l = 0; l < plane; l++)
			dst[l] = img[l * c + k];
	}
	/* By linearity, keeping the set K is x - (projection onto the removed set R): project onto
	 * whichever of K and R touches fewer rows and columns of the spectrum (for MFM's disc, the
	 * disc itself: a low-pass output is the projection, a high-pass one x minus it). */
	int cost[2];
	touched(fmask, h, w, cost);
	int keep_cost = cost[0], rm_cost = cost[1];
	uint8_t *sel = (uint8_t *)ws->im;              /* plane bytes of scratch */
	for (size_t l = 0; l < plane; l++)
		sel[l] = keep_cost <= rm_cost ? !fmask[l] : fmask[l];
	mae_dft2_project(&ws->dft, c, ws->planes, sel, ws->re);
	float lo = clamp ? 0.0f : -INFINITY, hi = clamp ? 1.0f : INFINITY;
	float sign = keep_cost > rm_cost ? -1.0f : 1.0f, base = keep_cost > rm_cost ? 1.0f : 0.0f;
	for (int k = 0; k < c; k++) {
		const float *pr = ws->re + k * plane, *px = ws->planes + k * plane;
		for (size_t l = 0; l < plane; l++) {
			float v = base * px[l] + sign * pr[l];   /* ternaries: minss/maxss, no libm call */
			v = v < lo ? lo : v;
			out[l * c + k] = v > hi ? hi : v;
		}
	}
}
