/* mask.c: counts and the geometric masks: random (MAE), block (SimMIM, BEiT),
 * grid, window (LoMaR), tube (VideoMAE) and attention (AttMask). See mask.h.
 *
 * Every function is pure: its result depends only on its arguments and the generator's state,
 * so mae-mask gives the same masks whatever the number of workers. */
#include "mae/mask/mask.h"
#include "mask/mask_internal.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The 1e-9 guard: floor(196*(1-0.75)) is 49, but floor(10*(1-0.9)) would be 0 in doubles
 * (0.9999999999999998) where the user means 1. */
int mae_mask_hidden_mae(int n, double ratio)
{
	int keep = (int)floor(n * (1.0 - ratio) + 1e-9);
	if (keep < 0)
		keep = 0;
	if (keep > n)
		keep = n;
	return n - keep;
}

int mae_mask_hidden_floor(int n, double ratio)
{
	int h = (int)floor(n * ratio + 1e-9);
	return h < 0 ? 0 : h > n ? n : h;
}

/* Partial Fisher-Yates: the first k entries of idx become a uniform random k-subset of idx. */
static void choose(int *idx, int n, int k, mae_rng *rng)
{
	for (int i = 0; i < k && i < n - 1; i++) {
		int j = i + (int)mae_rng_below(rng, (uint64_t)(n - i));
		int t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}

int mae_mask_random(uint8_t *mask, int n, int hidden, mae_rng *rng)
{
	if (n <= 0)
		return 0;
	int *idx = mae_malloc((size_t)n * sizeof *idx);
	for (int i = 0; i < n; i++)
		idx[i] = i;
	choose(idx, n, hidden, rng);
	memset(mask, 0, (size_t)n);
	for (int i = 0; i < hidden; i++)
		mask[idx[i]] = 1;
	free(idx);
	return hidden;
}

/* ----------------------------------------------------------------------------------------
 * block */

int mae_mask_block_simmim(uint8_t *mask, int gh, int gw, int s, int cells, mae_rng *rng,
                          mae_rect *rects, int *nrects)
{
	int ch = gh / s, cw = gw / s, nc = ch * cw;
	if (cells > nc)
		cells = nc;
	int *idx = mae_malloc((size_t)nc * sizeof *idx);
	for (int i = 0; i < nc; i++)
		idx[i] = i;
	choose(idx, nc, cells, rng);
	memset(mask, 0, (size_t)gh * gw);
	for (int c = 0; c < cells; c++) {
		int top = idx[c] / cw * s, left = idx[c] % cw * s;
		for (int a = 0; a < s; a++)
			for (int b = 0; b < s; b++)
				mask[(top + a) * gw + left + b] = 1;
		if (rects)
			rects[c] = (mae_rect){top, left, s, s};
	}
	if (nrects)
		*nrects = cells;
	free(idx);
	return cells * s * s;
}

/* One call of BEiT's _mask(): up to 10 tries to add a rectangle of at most max_add new
 * patches. Returns the number of patches added (0: gave up). */
static int beit_try(uint8_t *mask, int gh, int gw, int min_area, int max_add, double la,
                    mae_rng *rng, mae_rect *r)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		/* random.uniform(a, b) with a > b is still uniform between them, as in Python */
		double area = min_area + (max_add - min_area) * mae_rng_uniform(rng);
		double aspect = exp(-la + 2 * la * mae_rng_uniform(rng));
		int h = (int)lround(sqrt(area * aspect));
		int w = (int)lround(sqrt(area / aspect));
		if (h < 1 || w < 1 || h >= gh || w >= gw)   /* BEiT: w < width and h < height */
			continue;
		int top = (int)mae_rng_below(rng, (uint64_t)(gh - h + 1));
		int left = (int)mae_rng_below(rng, (uint64_t)(gw - w + 1));
		int fresh = 0;
		for (int i = top; i < top + h; i++)
			for (int j = left; j < left + w; j++)
				fresh += !mask[i * gw + j];
		if (fresh > 0 && fresh <= max_add) {
			for (int i = top; i < top + h; i++)
				for (int j = left; j < left + w; j++)
					mask[i * gw + j] = 1;
			*r = (mae_rect){top, left, h, w};
			return fresh;
		}
	}
	return 0;
}

int mae_mask_block_beit(uint8_t *mask, int gh, int gw, int hidden, int min_area, int max_area,
                        double min_aspect, mae_rng *rng, mae_rect *rects, int *nrects)
{
	int n = gh * gw, count = 0, nr = 0;
	double la = fabs(log(min_aspect));
	mae_rect r;
	memset(mask, 0, (size_t)n);
	if (hidden > n)
		hidden = n;
	while (count < hidden) {
		int max_add = hidden - count;
		if (max_area > 0 && max_add > max_area)
			max_add = max_area;
		int d = beit_try(mask, gh, gw, min_area, max_add, la, rng, &r);
		if (d == 0)
			break;
		count += d;
		if (rects)
			rects[nr] = r;
		nr++;
	}
	/* Top up to the exact count with single patches next to the blocks (or anywhere when
	 * nothing is hidden yet), so the mask stays compact and the count is exact. */
	if (count < hidden) {
		int *cand = mae_malloc((size_t)n * sizeof *cand);
		while (count < hidden) {
			int nc = 0;
			for (int l = 0; l < n; l++) {
				if (mask[l])
					continue;
				int i = l / gw, j = l % gw;
				if (count == 0 || (i > 0 && mask[l - gw]) || (i + 1 < gh && mask[l + gw]) ||
				    (j > 0 && mask[l - 1]) || (j + 1 < gw && mask[l + 1]))
					cand[nc++] = l;
			}
			if (nc == 0)   /* cannot happen on a connected grid with a free patch */
				for (int l = 0; l < n; l++)
					if (!mask[l])
						cand[nc++] = l;
			int l = cand[mae_rng_below(rng, (uint64_t)nc)];
			mask[l] = 1;
			count++;
			if (rects)
				rects[nr] = (mae_rect){l / gw, l % gw, 1, 1};
			nr++;
		}
		free(cand);
	}
	if (nrects)
		*nrects = nr;
	return count;
}

/* ----------------------------------------------------------------------------------------
 * grid, tube */

int mae_mask_grid(uint8_t *mask, int gh, int gw, int s, int oy, int ox)
{
	int hidden = 0;
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			int keep = i % s == oy && j % s == ox;
			mask[i * gw + j] = !keep;
			hidden += !keep;
		}
	return hidden;
}

int mae_mask_tube(uint8_t *mask, int t, int s, double ratio, mae_rng *rng)
{
	int h = mae_mask_hidden_floor(s, ratio);
	mae_mask_random(mask, s, h, rng);
	for (int f = 1; f < t; f++)
		memcpy(mask + (size_t)f * s, mask, (size_t)s);
	return t * h;
}

/* ----------------------------------------------------------------------------------------
 * window (LoMaR) */

int mae_mask_window(uint8_t *mask, int gh, int gw, int k, int m, double ratio, mae_rng *rng,
                    int32_t *windows)
{
	int nt = gh - k + 1, nl = gw - k + 1, n = gh * gw;
	int *tops = mae_malloc((size_t)(nt + nl) * sizeof *tops), *lefts = tops + nt;
	for (int i = 0; i < nt; i++)
		tops[i] = i;
	for (int i = 0; i < nl; i++)
		lefts[i] = i;
	choose(tops, nt, m, rng);       /* randperm(H-K+1)[:M] */
	choose(lefts, nl, m, rng);      /* randperm(W-K+1)[:M] */
	memset(mask, 0, (size_t)n);
	uint8_t *in = mae_calloc((size_t)n, 1);
	for (int w = 0; w < m; w++) {
		windows[2 * w] = tops[w];
		windows[2 * w + 1] = lefts[w];
		for (int a = 0; a < k; a++)
			memset(in + (size_t)(tops[w] + a) * gw + lefts[w], 1, (size_t)k);
	}
	int *idx = mae_malloc((size_t)n * sizeof *idx), u = 0;
	for (int l = 0; l < n; l++)
		if (in[l])
			idx[u++] = l;
	int hidden = mae_mask_hidden_floor(u, ratio);   /* LoMaR: int(K*K*r) per window */
	choose(idx, u, hidden, rng);
	for (int i = 0; i < hidden; i++)
		mask[idx[i]] = 1;
	free(idx);
	free(in);
	free(tops);
	return hidden;
}

/* ----------------------------------------------------------------------------------------
 * attention (AttMask) */

int mae_attn_mode_parse(const char *s)
{
	if (strcmp(s, "high") == 0)
		return MAE_ATTN_HIGH;
	if (strcmp(s, "low") == 0)
		return MAE_ATTN_LOW;
	if (strcmp(s, "hint") == 0)
		return MAE_ATTN_HINT;
	return -1;
}

int mae_keyed_desc(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->k != y->k)
		return x->k > y->k ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

int mae_mask_attention(uint8_t *mask, const float *attn, int n, enum mae_attn_mode mode,
                       double ratio, double show_ratio, double show_max, mae_rng *rng)
{
	if (n <= 0)
		return 0;
	/* NaN attention would make the order undefined; it counts as the lowest value. */
	struct keyed *kv = mae_malloc((size_t)n * sizeof *kv);
	for (int i = 0; i < n; i++)
		kv[i] = (struct keyed){isnan(attn[i]) ? -INFINITY : attn[i], i};
	qsort(kv, (size_t)n, sizeof *kv, mae_keyed_desc);
	int *idx = mae_malloc((size_t)n * sizeof *idx);
	for (int i = 0; i < n; i++)
		idx[i] = kv[i].i;
	free(kv);
	int h = mae_mask_hidden_floor(n, ratio);
	memset(mask, 0, (size_t)n);
	for (int i = 0; i < h; i++)
		mask[mode == MAE_ATTN_LOW ? idx[n - 1 - i] : idx[i]] = 1;
	if (mode == MAE_ATTN_HINT) {
		int shown = (int)floor(show_ratio * ratio * n + 1e-9);
		int top = (int)ceil(show_max * n - 1e-9);
		if (top > h)
			top = h;        /* hints come from the hidden top patches only */
		if (shown > top)
			shown = top;
		choose(idx, top, shown, rng);
		for (int i = 0; i < shown; i++)
			mask[idx[i]] = 0;
		h -= shown;
	}
	free(idx);
	return h;
}
