/* corrupt.c: ImageNet-C's noise, blur and contrast on 8-bit images (see corrupt.h). */
#include "mae/data/corrupt.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *names[] = {"none", "noise", "blur", "contrast"};
static const double levels[4][5] = {
	{0, 0, 0, 0, 0},
	{0.08, 0.12, 0.18, 0.26, 0.38},   /* gaussian_noise */
	{1, 2, 3, 4, 6},                  /* gaussian_blur (sigma at 224 pixels) */
	{0.4, 0.3, 0.2, 0.1, 0.05},       /* contrast */
};

const char *mae_corrupt_name(int kind)
{
	return kind >= 0 && kind < 4 ? names[kind] : "?";
}

int mae_corrupt_parse(const char *s, mae_corrupt *c)
{
	c->kind = MAE_CORRUPT_NONE;
	c->severity = 0;
	if (!strcmp(s, "none"))
		return 0;
	for (int k = 1; k < 4; k++) {
		size_t n = strlen(names[k]);
		if (!strncmp(s, names[k], n) && s[n] == ':' && s[n + 1] >= '1' && s[n + 1] <= '5' && !s[n + 2]) {
			c->kind = k;
			c->severity = s[n + 1] - '0';
			return 0;
		}
	}
	return -1;
}

double mae_corrupt_level(const mae_corrupt *c)
{
	return c->kind > 0 && c->kind < 4 && c->severity >= 1 && c->severity <= 5 ? levels[c->kind][c->severity - 1] : 0;
}

static uint8_t to_u8(double v)
{
	v = v < 0 ? 0 : v > 1 ? 1 : v;
	return (uint8_t)lround(v * 255.0);
}

/* mirrored index: d c b a | a b c d | d c b a (scipy.ndimage's "reflect") */
static int mirror(int i, int n)
{
	if (n == 1)
		return 0;
	for (;;) {
		if (i < 0)
			i = -i - 1;
		else if (i >= n)
			i = 2 * n - i - 1;
		else
			return i;
	}
}

/* one pass of the separable Gaussian along rows (dx = 1) or columns, in double */
static void blur_pass(double *dst, const double *src, int w, int h, int ch, const double *k, int rad, int along_x)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < ch; c++) {
				double acc = 0;
				for (int t = -rad; t <= rad; t++) {
					int xx = along_x ? mirror(x + t, w) : x, yy = along_x ? y : mirror(y + t, h);
					acc += k[t + rad] * src[((size_t)yy * w + xx) * ch + c];
				}
				dst[((size_t)y * w + x) * ch + c] = acc;
			}
}

void mae_corrupt_apply(const mae_corrupt *c, uint8_t *px, int w, int h, int ch, mae_rng *r)
{
	double lv = mae_corrupt_level(c);
	size_t n = (size_t)w * h * ch;
	switch (c->kind) {
	case MAE_CORRUPT_NOISE:
		for (size_t i = 0; i < n; i++)
			px[i] = to_u8(px[i] / 255.0 + lv * mae_rng_normal(r));
		break;
	case MAE_CORRUPT_CONTRAST: {
		double m = 0;
		for (size_t i = 0; i < n; i++)
			m += px[i] / 255.0;
		m /= (double)n;
		for (size_t i = 0; i < n; i++)
			px[i] = to_u8((px[i] / 255.0 - m) * lv + m);
		break;
	}
	case MAE_CORRUPT_BLUR: {
		double sigma = lv * (w < h ? w : h) / 224.0;
		int rad = (int)(4.0 * sigma + 0.5);
		double *k = mae_malloc((size_t)(2 * rad + 1) * sizeof *k), sum = 0;
		for (int t = -rad; t <= rad; t++)
			sum += k[t + rad] = exp(-0.5 * t * t / (sigma * sigma));
		for (int t = 0; t <= 2 * rad; t++)
			k[t] /= sum;
		double *a = mae_malloc(n * sizeof *a), *b = mae_malloc(n * sizeof *b);
		for (size_t i = 0; i < n; i++)
			a[i] = px[i] / 255.0;
		blur_pass(b, a, w, h, ch, k, rad, 1);
		blur_pass(a, b, w, h, ch, k, rad, 0);
		for (size_t i = 0; i < n; i++)
			px[i] = to_u8(a[i]);
		free(a);
		free(b);
		free(k);
		break;
	}
	default:
		break;
	}
}
