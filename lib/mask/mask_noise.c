/* mask_noise.c: ColorMAE's filtered-noise masks (see mask.h).
 *
 * ColorMAE ships pre-generated noise maps and crops a 14x14 window of them with random flips.
 * Here every sample gets its own map, generated on the fly from its own generator: white
 * Gaussian noise on a (2gh) x (2gw) torus (so filtering has no borders), filtered by circular
 * convolution with sampled Gaussians whose widths are in patch units, then a random gh x gw crop
 * and random horizontal and vertical flips as in ColorMAE's transform. Visible = the patches with
 * the highest noise (ColorMAE: argsort descending, the first len_keep are kept). */
#include "mae/mask/mask.h"
#include "mask/mask_internal.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *color_names[] = {"red", "blue", "green", "purple"};

int mae_noise_color_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, color_names[i]) == 0)
			return i;
	return -1;
}

const char *mae_noise_color_name(enum mae_noise_color c)
{
	return (unsigned)c < 4 ? color_names[c] : "?";
}

void mae_noise_default_sigma(enum mae_noise_color c, double *s1, double *s2)
{
	switch (c) {
	case MAE_NOISE_RED:   *s1 = 1.5; *s2 = 0; break;
	case MAE_NOISE_BLUE:  *s1 = 0.6; *s2 = 0; break;
	default:              *s1 = 0.6; *s2 = 1.2; break;   /* green, purple */
	}
}

/* Normalized Gaussian taps k[0..2r], r = ceil(4 sigma). */
static float *gauss_taps(double sigma, int *r)
{
	*r = (int)ceil(4.0 * sigma);
	if (*r < 1)
		*r = 1;
	float *k = mae_malloc((size_t)(2 * *r + 1) * sizeof *k);
	double sum = 0, t[1025];
	if (*r > 512)
		mae_die(MAE_EXIT_USAGE, "noise: sigma %g is too wide", sigma);
	for (int i = -*r; i <= *r; i++)
		sum += t[i + *r] = exp(-0.5 * i * i / (sigma * sigma));
	for (int i = 0; i <= 2 * *r; i++)
		k[i] = (float)(t[i] / sum);
	return k;
}

/* out [gh,gw] = (G_sigma * in) on the th x tw torus, evaluated only on the gh x gw window at
 * (top, left): a horizontal pass over the window's columns on the rows the vertical pass needs,
 * then the vertical pass. Wrapped indices come from tables, so the inner loops have no modulo.
 * tmp holds (gh + 2r) * gw floats. */
static void blur_window(float *out, const float *in, float *tmp, int th, int tw, int top, int left,
                        int gh, int gw, double sigma)
{
	int r;
	float *k = gauss_taps(sigma, &r);
	int *col = mae_malloc((size_t)(gw + 2 * r + gh + 2 * r) * sizeof *col), *row = col + gw + 2 * r;
	for (int j = 0; j < gw + 2 * r; j++)
		col[j] = (((left - r + j) % tw) + tw) % tw;
	for (int i = 0; i < gh + 2 * r; i++)
		row[i] = (((top - r + i) % th) + th) % th;
	for (int i = 0; i < gh + 2 * r; i++) {
		const float *src = in + (size_t)row[i] * tw;
		for (int j = 0; j < gw; j++) {
			float s = 0;
			for (int t = 0; t <= 2 * r; t++)
				s += k[t] * src[col[j + t]];
			tmp[i * gw + j] = s;
		}
	}
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			float s = 0;
			for (int t = 0; t <= 2 * r; t++)
				s += k[t] * tmp[(i + t) * gw + j];
			out[i * gw + j] = s;
		}
	free(col);
	free(k);
}

int mae_mask_noise(uint8_t *mask, int gh, int gw, enum mae_noise_color color, double sigma1,
                   double sigma2, int hidden, mae_rng *rng, float *noise_out)
{
	int th = 2 * gh, tw = 2 * gw, n = gh * gw;
	size_t tn = (size_t)th * tw;
	double d1, d2;
	mae_noise_default_sigma(color, &d1, &d2);
	if (sigma1 <= 0)
		sigma1 = d1;
	if (sigma2 <= 0)
		sigma2 = d2;
	/* white Gaussian noise on the torus, both Box-Muller outputs used */
	float *white = mae_malloc((tn + 1) * sizeof *white);
	for (size_t i = 0; i < tn; i += 2) {
		double u1 = 1.0 - mae_rng_uniform(rng), u2 = mae_rng_uniform(rng);
		double rad = sqrt(-2.0 * log(u1)), ph = 2.0 * M_PI * u2;
		white[i] = (float)(rad * cos(ph));
		white[i + 1] = (float)(rad * sin(ph));
	}
	/* the crop and flips, drawn before filtering so only the window is filtered */
	int top = (int)mae_rng_below(rng, (uint64_t)(th - gh + 1));
	int left = (int)mae_rng_below(rng, (uint64_t)(tw - gw + 1));
	int fh = (int)mae_rng_below(rng, 2), fv = (int)mae_rng_below(rng, 2);
	int r1 = (int)ceil(4.0 * sigma1), r2 = (int)ceil(4.0 * sigma2), rm = r1 > r2 ? r1 : r2;
	float *a = mae_malloc((size_t)n * 2 * sizeof *a), *b = a + n;
	float *tmp = mae_malloc((size_t)(gh + 2 * (rm > 1 ? rm : 1)) * gw * sizeof *tmp);
	blur_window(a, white, tmp, th, tw, top, left, gh, gw, sigma1);
	if (color == MAE_NOISE_GREEN || color == MAE_NOISE_PURPLE)
		blur_window(b, white, tmp, th, tw, top, left, gh, gw, sigma2);
	struct keyed *kv = mae_malloc((size_t)n * sizeof *kv);
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			int l = i * gw + j, si = fv ? gh - 1 - i : i, sj = fh ? gw - 1 - j : j;
			int s = si * gw + sj;                            /* position in the window */
			float w = white[(size_t)((top + si) % th) * tw + (left + sj) % tw], v;
			switch (color) {
			case MAE_NOISE_RED:   v = a[s]; break;
			case MAE_NOISE_BLUE:  v = w - a[s]; break;
			case MAE_NOISE_GREEN: v = a[s] - b[s]; break;
			default:              v = w - (a[s] - b[s]); break;
			}
			kv[l] = (struct keyed){v, l};
			if (noise_out)
				noise_out[l] = v;
		}
	qsort(kv, (size_t)n, sizeof *kv, mae_keyed_desc);
	if (hidden > n)
		hidden = n;
	memset(mask, 1, (size_t)n);
	for (int i = 0; i < n - hidden; i++)   /* the highest noise stays visible */
		mask[kv[i].i] = 0;
	free(kv);
	free(tmp);
	free(a);
	free(white);
	return hidden;
}
