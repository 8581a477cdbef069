/* hog.c: MaskFeat's HOG target per patch (see hog.h). */
#include "mae/data/hog.h"
#include "mae/data/patchify.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mae_hog_cell(int p) { return p % 2 == 0 ? p / 2 : p; }

int mae_hog_dim(int p, int cell, int C)
{
	if (cell < 1 || p % cell)
		return 0;
	int q = p / cell;
	return C * MAE_HOG_BINS * q * q;
}

/* reflection without repeating the edge (F.pad mode "reflect"), for i in [-1, n] */
static int reflect(int i, int n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }

/* g: the 1-D factor of the Gaussian window, g / sum(g), so that the outer product of g with
 * itself is SlowFast's gkern2d / gkern2d.sum() */
static void gauss_1d(double *g, int window)
{
	double s = window / 2, mid = (window - 1) / 2.0, sum = 0;
	for (int n = 0; n < window; n++) {
		double t = (n - mid) / s;
		sum += g[n] = exp(-0.5 * t * t);
	}
	for (int n = 0; n < window; n++)
		g[n] /= sum;
}

/* hist [H/cell, W/cell, 9]: channel c of img [H, W, C], magnitudes summed per cell and bin */
static void cell_histograms(double *hist, const float *img, int H, int W, int C, int c, int cell,
                            const double *g, int window)
{
	int wc = W / cell;
	memset(hist, 0, (size_t)(H / cell) * wc * MAE_HOG_BINS * sizeof *hist);
#define V(y, x) ((double)img[((size_t)reflect(y, H) * W + reflect(x, W)) * C + c])
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			double gx = (V(y - 1, x - 1) - V(y - 1, x + 1)) + 2 * (V(y, x - 1) - V(y, x + 1)) +
			            (V(y + 1, x - 1) - V(y + 1, x + 1));
			double gy = (V(y - 1, x - 1) + 2 * V(y - 1, x) + V(y - 1, x + 1)) -
			            (V(y + 1, x - 1) + 2 * V(y + 1, x) + V(y + 1, x + 1));
			double m = sqrt(gx * gx + gy * gy);
			int k = (int)floor(atan2(gx, gy) / M_PI * MAE_HOG_BINS) % MAE_HOG_BINS;
			if (k < 0)
				k += MAE_HOG_BINS;
			if (window)
				m *= g[y % window] * g[x % window];
			hist[((size_t)(y / cell) * wc + x / cell) * MAE_HOG_BINS + k] += m;
		}
#undef V
}

int mae_hog_patches(float *target, const float *patches, int B, int H, int W, int C, int p, int cell,
                    int window)
{
	int T = mae_hog_dim(p, cell, C);
	if (!T || C < 1 || C > 4 || H < 2 || W < 2 || H % p || W % p || window < 0 || window == 1 ||
	    (window && (H % window || W % window)))
		return -1;
	int gw = W / p, q = p / cell, wc = W / cell, N = (H / p) * gw, P = p * p * C;
	float *img = mae_malloc((size_t)H * W * C * sizeof *img);
	double *hist = mae_malloc((size_t)(H / cell) * wc * MAE_HOG_BINS * sizeof *hist);
	double *g = mae_malloc((size_t)(window ? window : 1) * sizeof *g);
	float zero[4] = {0}, one[4] = {1, 1, 1, 1};
	if (window)
		gauss_1d(g, window);
	for (int b = 0; b < B; b++) {
		float *out = target + (size_t)b * N * T;
		/* the image itself, normalized as the patches are: (x * 1 + 0) is exact */
		mae_patches_to_float(img, patches + (size_t)b * N * P, H, W, C, p, zero, one);
		for (int c = 0; c < C; c++) {
			cell_histograms(hist, img, H, W, C, c, cell, g, window);
			for (int cy = 0; cy < H / cell; cy++)
				for (int cx = 0; cx < wc; cx++) {
					const double *h = hist + ((size_t)cy * wc + cx) * MAE_HOG_BINS;
					double ss = 0;
					for (int k = 0; k < MAE_HOG_BINS; k++)
						ss += h[k] * h[k];
					double d = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
					float *o = out + ((size_t)(cy / q) * gw + cx / q) * T;
					for (int k = 0; k < MAE_HOG_BINS; k++)
						o[((c * MAE_HOG_BINS + k) * q + cy % q) * q + cx % q] = (float)(h[k] / d);
				}
		}
	}
	free(img), free(hist), free(g);
	return 0;
}
