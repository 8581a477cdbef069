/* mask_noise.c: ColorMAE's filtered-noise masks (see mask.h).
 *
 * ColorMAE ships pre-generated noise maps and crops a 14x14 window of them with random flips.
 * Here every sample gets its own map, generated on the fly from its own generator: white
 * Gaussian noise on a (2gh) x (2gw) torus (so filtering has no borders), filtered by circular
 * convolution with sampled Gaussians whose widths are in patch units, then a random gh x gw crop
 * and random horizontal and vertical flips as in ColorMAE's transform. Visible = the patches with
 * the highest noise (ColorMAE: argsort descending, the first len_keep are kept). */
#include "mae/mask.h"
#include "mae/util.h"

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

/* out = G_sigma * in on an h x w torus, separable; tmp [h*w]. */
static void blur(float *out, const float *in, float *tmp, int h, int w, double sigma)
{
	int r = (int)ceil(4.0 * sigma);
	if (r < 1)
		r = 1;
	float *k = mae_malloc((size_t)(2 * r + 1) * sizeof *k);
	double sum = 0;
	for (int i = -r; i <= r; i++)
		sum += k[i + r] = (float)exp(-0.5 * i * i / (sigma * sigma));
	for (int i = 0; i <= 2 * r; i++)
		k[i] = (float)(k[i] / sum);
	for (int y = 0; y < h; y++)            /* along rows */
		for (int x = 0; x < w; x++) {
			float s = 0;
			for (int i = -r; i <= r; i++)
				s += k[i + r] * in[y * w + (((x + i) % w) + w) % w];
			tmp[y * w + x] = s;
		}
	for (int y = 0; y < h; y++)            /* along columns */
		for (int x = 0; x < w; x++) {
			float s = 0;
			for (int i = -r; i <= r; i++)
				s += k[i + r] * tmp[((((y + i) % h) + h) % h) * w + x];
			out[y * w + x] = s;
		}
	free(k);
}

struct keyed { float k; int i; };
static int by_key_desc(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->k != y->k)
		return x->k > y->k ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
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
	float *white = mae_malloc(4 * tn * sizeof *white);
	float *a = white + tn, *b = a + tn, *tmp = b + tn, *f = NULL;
	for (size_t i = 0; i < tn; i++)
		white[i] = (float)mae_rng_normal(rng);
	switch (color) {
	case MAE_NOISE_RED:
		blur(a, white, tmp, th, tw, sigma1);
		f = a;
		break;
	case MAE_NOISE_BLUE:
		blur(a, white, tmp, th, tw, sigma1);
		for (size_t i = 0; i < tn; i++)
			a[i] = white[i] - a[i];
		f = a;
		break;
	case MAE_NOISE_GREEN:
	case MAE_NOISE_PURPLE:
		blur(a, white, tmp, th, tw, sigma1);
		blur(b, white, tmp, th, tw, sigma2);
		for (size_t i = 0; i < tn; i++)
			a[i] = color == MAE_NOISE_GREEN ? a[i] - b[i] : white[i] - (a[i] - b[i]);
		f = a;
		break;
	}
	int top = (int)mae_rng_below(rng, (uint64_t)(th - gh + 1));
	int left = (int)mae_rng_below(rng, (uint64_t)(tw - gw + 1));
	int fh = (int)mae_rng_below(rng, 2), fv = (int)mae_rng_below(rng, 2);
	struct keyed *kv = mae_malloc((size_t)n * sizeof *kv);
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			int si = top + (fv ? gh - 1 - i : i), sj = left + (fh ? gw - 1 - j : j);
			float v = f[si * tw + sj];
			kv[i * gw + j] = (struct keyed){v, i * gw + j};
			if (noise_out)
				noise_out[i * gw + j] = v;
		}
	qsort(kv, (size_t)n, sizeof *kv, by_key_desc);
	if (hidden > n)
		hidden = n;
	memset(mask, 1, (size_t)n);
	for (int i = 0; i < n - hidden; i++)   /* the highest noise stays visible */
		mask[kv[i].i] = 0;
	free(kv);
	free(white);
	return hidden;
}
