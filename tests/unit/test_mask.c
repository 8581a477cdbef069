/* test_mask.c: the masking strategies of mask.h, each against a property a wrong
 * implementation would break (exact counts, geometry, ordering, spectra). Prints TAP. */
#include "mae/mask/mask.h"
#include "mae/kernels/dft.h"
#include "mae/util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../oracle/kernels_ref.h"
#include "tap.h"

static int popcount(const uint8_t *m, int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += m[i];
	return s;
}

static void seed(mae_rng *r, uint64_t i) { mae_rng_seed(r, 1234, 0, i, "mask"); }

/* -------------------------------------------------------------------------------------- */

static void test_counts(void)
{
	ok(mae_mask_hidden_mae(196, 0.75) == 147, "MAE rule: 147 of 196 at r=0.75");
	ok(mae_mask_hidden_mae(49, 0.75) == 37, "MAE rule: 37 of 49 at r=0.75 (keep floor(12.25))");
	ok(mae_mask_hidden_mae(10, 0.9) == 9, "MAE rule: 9 of 10 at r=0.9 despite float rounding");
	ok(mae_mask_hidden_floor(196, 0.9) == 176, "floor rule: 176 of 196 at r=0.9 (VideoMAE)");
	ok(mae_mask_hidden_floor(196, 75.0 / 196) == 75, "floor rule: BEiT's 75 of 196");
}

static void test_random(void)
{
	uint8_t m[784], m2[784];
	mae_rng r;
	int bad = 0, hits[196] = {0};
	for (int s = 0; s < 2000; s++) {
		seed(&r, s);
		if (mae_mask_random(m, 196, 147, &r) != 147 || popcount(m, 196) != 147)
			bad++;
		for (int l = 0; l < 196; l++)
			hits[l] += m[l];
	}
	ok(!bad, "random: exactly 147 of 196 hidden in 2000 masks");
	int lo = 2000, hi = 0;
	for (int l = 0; l < 196; l++) {
		lo = hits[l] < lo ? hits[l] : lo;
		hi = hits[l] > hi ? hits[l] : hi;
	}
	/* each patch hidden with p = 0.75: 1500 +- 19.4 (sd); +-6 sd */
	ok(lo > 1380 && hi < 1620, "random: every patch hidden ~75%% of the time (min %d max %d of 2000)",
	   lo, hi);
	seed(&r, 7);
	mae_mask_random(m, 784, 588, &r);
	seed(&r, 7);
	mae_mask_random(m2, 784, 588, &r);
	ok(memcmp(m, m2, 784) == 0 && popcount(m, 784) == 588,
	   "random: same (seed, epoch, index) gives the same mask; 588 of 784");
	mae_rng_seed(&r, 1234, 1, 7, "mask");
	mae_mask_random(m2, 784, 588, &r);
	ok(memcmp(m, m2, 784) != 0, "random: another epoch gives another mask");
}

/* every hidden patch is covered by some rect, every rect lies in the grid and is all hidden */
static int union_of_rects(const uint8_t *m, int gh, int gw, const mae_rect *rc, int nr)
{
	uint8_t cov[4096] = {0};
	for (int k = 0; k < nr; k++) {
		if (rc[k].top < 0 || rc[k].left < 0 || rc[k].h < 1 || rc[k].w < 1 ||
		    rc[k].top + rc[k].h > gh || rc[k].left + rc[k].w > gw)
			return 0;
		for (int i = rc[k].top; i < rc[k].top + rc[k].h; i++)
			for (int j = rc[k].left; j < rc[k].left + rc[k].w; j++)
				cov[i * gw + j] = 1;
	}
	return memcmp(cov, m, (size_t)gh * gw) == 0;
}

static void test_block(void)
{
	uint8_t m[196];
	mae_rect rc[196];
	mae_rng r;
	int nr, bad = 0, badu = 0, bada = 0;
	int cells = (int)ceil(49 * 0.6);    /* SimMIM: ceil(token_count * ratio) = 30 */
	for (int s = 0; s < 1000; s++) {
		seed(&r, s);
		int h = mae_mask_block_simmim(m, 14, 14, 2, cells, &r, rc, &nr);
		bad += h != 120 || popcount(m, 196) != 120 || nr != 30;
		badu += !union_of_rects(m, 14, 14, rc, nr);
		for (int k = 0; k < nr; k++)
			bada += rc[k].top % 2 || rc[k].left % 2 || rc[k].h != 2 || rc[k].w != 2;
	}
	ok(!bad, "block simmim: 30 cells of 2x2 = 120 of 196 hidden, 1000 masks");
	ok(!badu && !bada, "block simmim: mask = union of its aligned 2x2 cells, inside the grid");

	int tot_blocks = 0, ones = 0, big = 0;
	bad = badu = bada = 0;
	for (int s = 0; s < 1000; s++) {
		seed(&r, s);
		int h = mae_mask_block_beit(m, 14, 14, 75, 16, 0, 0.3, &r, rc, &nr);
		bad += h != 75 || popcount(m, 196) != 75;
		badu += !union_of_rects(m, 14, 14, rc, nr);
		for (int k = 0; k < nr; k++) {
			bada += rc[k].h >= 14 || rc[k].w >= 14;
			ones += rc[k].h * rc[k].w == 1;
			big += rc[k].h * rc[k].w >= 16;
		}
		tot_blocks += nr;
	}
	ok(!bad, "block beit: exactly 75 of 196 hidden, 1000 masks");
	ok(!badu && !bada, "block beit: mask = union of its blocks, all inside the grid (h,w < 14)");
	ok(big * 2 > tot_blocks - ones,
	   "block beit: most drawn blocks have area >= 16 (%d of %d; %d 1x1 top-ups)", big,
	   tot_blocks - ones, ones);
	bad = 0;
	for (int s = 0; s < 300; s++) {
		seed(&r, s);
		int h = mae_mask_block_beit(m, 7, 7, 18, 4, 0, 0.3, &r, rc, &nr);
		bad += h != 18 || popcount(m, 49) != 18 || !union_of_rects(m, 7, 7, rc, nr);
	}
	ok(!bad, "block beit 7x7: exactly 18 hidden, union of in-grid blocks");
}

static void test_grid(void)
{
	uint8_t m[196];
	ok(mae_mask_grid(m, 14, 14, 2, 0, 0) == 147 && popcount(m, 196) == 147 && !m[0] && m[1] &&
	   m[14] && !m[2 * 14 + 2], "grid 14x14 s=2: keeps (even,even), 147 hidden");
	ok(mae_mask_grid(m, 7, 7, 2, 0, 0) == 33 && popcount(m, 49) == 33,
	   "grid 7x7 s=2: keeps ceil(7/2)^2 = 16, 33 hidden");
	ok(mae_mask_grid(m, 7, 7, 2, 1, 1) == 40 && !m[8] && m[0],
	   "grid 7x7 s=2 offset (1,1): keeps 3x3 = 9, 40 hidden");
	ok(mae_mask_grid(m, 14, 14, 3, 1, 2) == 196 - 5 * 4, "grid 14x14 s=3 offset (1,2): 176 hidden");
}

static void test_window(void)
{
	uint8_t m[196];
	int32_t win[8];
	mae_rng r;
	int bad = 0, outside = 0, distinct = 0, inb = 0;
	double frac = 0;
	int nwin = 0;
	for (int s = 0; s < 1000; s++) {
		seed(&r, s);
		int h = mae_mask_window(m, 14, 14, 7, 4, 0.8, &r, win);
		uint8_t in[196] = {0};
		for (int w = 0; w < 4; w++) {
			inb += win[2 * w] < 0 || win[2 * w] > 7 || win[2 * w + 1] < 0 || win[2 * w + 1] > 7;
			for (int v = 0; v < w; v++)
				distinct += win[2 * w] == win[2 * v] || win[2 * w + 1] == win[2 * v + 1];
			int hw = 0;
			for (int a = 0; a < 7; a++)
				for (int b = 0; b < 7; b++) {
					int l = (win[2 * w] + a) * 14 + win[2 * w + 1] + b;
					in[l] = 1;
					hw += m[l];
				}
			frac += hw / 49.0;
			nwin++;
		}
		int u = popcount(in, 196);
		for (int l = 0; l < 196; l++)
			outside += m[l] && !in[l];
		bad += h != (int)floor(u * 0.8 + 1e-9) || popcount(m, 196) != h;
	}
	ok(!outside, "window: every hidden patch lies inside one of its windows (1000 masks)");
	ok(!inb && !distinct, "window: 4 windows of 7x7 inside the grid, tops distinct, lefts distinct");
	ok(!bad, "window: hidden = floor(0.8 |U|) over the union U of the windows");
	seed(&r, 1);
	ok(mae_mask_window(m, 7, 7, 7, 1, 0.8, &r, win) == 39 && popcount(m, 49) == 39,
	   "window: a lone 7x7 window hides LoMaR's int(49*0.8) = 39");
	frac /= nwin;
	ok(fabs(frac - 0.8) < 0.01, "window: a window hides %.4f of its patches on average (r=0.8)",
	   frac);
}

/* mean number of hidden 4-neighbours of a hidden patch */
static double clustering(const uint8_t *m, int gh, int gw)
{
	double s = 0;
	int c = 0;
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			if (!m[i * gw + j])
				continue;
			c++;
			s += (i > 0 && m[(i - 1) * gw + j]) + (i + 1 < gh && m[(i + 1) * gw + j]) +
			     (j > 0 && m[i * gw + j - 1]) + (j + 1 < gw && m[i * gw + j + 1]);
		}
	return c ? s / c : 0;
}

/* radial power spectrum of (mask - mean), accumulated in 3 bands of |f| (cycles/patch):
 * low (0, 1/6], mid (1/6, 1/3], high (1/3, 0.71] -- mean power per frequency in each band */
static void spectrum(const uint8_t *m, int g, double band[3], int cnt[3])
{
	float x[784];
	double re[784], im[784];
	double mean = popcount(m, g * g) / (double)(g * g);
	for (int l = 0; l < g * g; l++)
		x[l] = (float)(m[l] - mean);
	mae_dft2_forward_naive(g, g, x, re, im);
	for (int u = 0; u < g; u++)
		for (int v = 0; v < g; v++) {
			double fy = (u < (g + 1) / 2 ? u : u - g) / (double)g;
			double fx = (v < (g + 1) / 2 ? v : v - g) / (double)g;
			double f = sqrt(fy * fy + fx * fx);
			if (f == 0)
				continue;
			int b = f <= 1.0 / 6 ? 0 : f <= 1.0 / 3 ? 1 : 2;
			band[b] += re[u * g + v] * re[u * g + v] + im[u * g + v] * im[u * g + v];
			cnt[b]++;
		}
}

static void test_noise(void)
{
	uint8_t m[196];
	mae_rng r;
	const char *names[5] = {"red", "blue", "green", "purple", "random"};
	double clus[5] = {0}, band[5][3] = {{0}};
	int bad = 0, nm = 400;
	for (int c = 0; c < 5; c++) {
		int cnt[3] = {0};
		for (int s = 0; s < nm; s++) {
			seed(&r, s + 100000 * c);
			int h = c < 4 ? mae_mask_noise(m, 14, 14, c, 0, 0, 147, &r, NULL)
			              : mae_mask_random(m, 196, 147, &r);
			bad += h != 147 || popcount(m, 196) != 147;
			clus[c] += clustering(m, 14, 14) / nm;
			spectrum(m, 14, band[c], cnt);
		}
		for (int b = 0; b < 3; b++)
			band[c][b] /= cnt[b];
		printf("# %-6s hidden-neighbours %.3f  power low %.1f mid %.1f high %.1f\n", names[c],
		       clus[c], band[c][0], band[c][1], band[c][2]);
	}
	ok(!bad, "noise: every colour hides exactly 147 of 196 (%d masks each)", nm);
	ok(clus[0] > clus[4] && clus[4] > clus[1],
	   "noise: hidden 4-neighbours of a hidden patch: red %.3f > random %.3f > blue %.3f",
	   clus[0], clus[4], clus[1]);
	ok(band[0][0] > band[0][1] && band[0][0] > band[0][2], "noise: red power peaks at low frequency");
	ok(band[2][1] > band[2][0] && band[2][1] > band[2][2], "noise: green power peaks at mid frequency");
	ok(band[1][2] > band[1][0] && band[1][2] > band[1][1], "noise: blue power peaks at high frequency");
	ok(band[3][1] < band[3][0] && band[3][1] < band[3][2],
	   "noise: purple (band-stop) has less mid power than low and high");
	bad = 0;
	for (int s = 0; s < 100; s++) {
		uint8_t m7[49];
		seed(&r, s);
		bad += mae_mask_noise(m7, 7, 7, MAE_NOISE_GREEN, 0, 0, 37, &r, NULL) != 37 ||
		       popcount(m7, 49) != 37;
	}
	ok(!bad, "noise 7x7: exactly 37 of 49 hidden");
	/* visible patches are exactly the top of the noise map */
	float nz[196];
	seed(&r, 5);
	mae_mask_noise(m, 14, 14, MAE_NOISE_GREEN, 0, 0, 147, &r, nz);
	float minvis = INFINITY, maxhid = -INFINITY;
	for (int l = 0; l < 196; l++) {
		if (m[l])
			maxhid = nz[l] > maxhid ? nz[l] : maxhid;
		else
			minvis = nz[l] < minvis ? nz[l] : minvis;
	}
	ok(minvis > maxhid, "noise: the 49 visible patches are the 49 highest noise values");
}

static void test_semantic(void)
{
	/* 6 parts of unequal sizes on 196 patches: 50, 40, 36, 30, 25, 15 */
	int32_t parts[196];
	int sizes[6] = {50, 40, 36, 30, 25, 15}, l = 0;
	for (int k = 0; k < 6; k++)
		for (int i = 0; i < sizes[k]; i++)
			parts[l++] = k;
	mae_rng r;
	uint8_t m[196];
	int bad = 0, worst = 0, partial_max = 0;
	for (int s = 0; s < 500; s++) {
		seed(&r, s);
		int h = mae_mask_semantic(m, parts, 196, 6, 0.75, 147, 1.0, &r);
		bad += h != 147 || popcount(m, 196) != 147;
		int hk[6] = {0};
		for (int i = 0; i < 196; i++)
			hk[parts[i]] += m[i];
		for (int k = 0; k < 6; k++) {
			int dev = abs(hk[k] - (int)lround(0.75 * sizes[k]));
			worst = dev > worst ? dev : worst;
		}
		seed(&r, s);
		h = mae_mask_semantic(m, parts, 196, 6, 0.75, 147, 0.0, &r);
		bad += h != 147 || popcount(m, 196) != 147;
		memset(hk, 0, sizeof hk);
		for (int i = 0; i < 196; i++)
			hk[parts[i]] += m[i];
		int partial = 0;
		for (int k = 0; k < 6; k++)
			partial += hk[k] != 0 && hk[k] != sizes[k];
		partial_max = partial > partial_max ? partial : partial_max;
	}
	ok(!bad, "semantic: exactly 147 of 196 hidden at lambda 1 and 0 (500 masks each)");
	ok(worst <= 2, "semantic, schedule start (lambda 1): every part hides round(0.75 n_k) +- %d",
	   worst);
	ok(partial_max <= 1, "semantic, schedule end (lambda 0): whole parts, at most %d partial part",
	   partial_max);
	ok(fabs(mae_semantic_lambda(-1, 800) - 1) < 1e-12 && mae_semantic_lambda(0, 800) > 0.9999 &&
	   fabs(mae_semantic_lambda(399, 800) - 0.5) < 1e-12 && mae_semantic_lambda(799, 800) < 1e-12 &&
	   mae_semantic_lambda(5000, 800) < 1e-12,
	   "semantic: lambda = (1+cos(pi (e+1)/E))/2: 1 at the start, 0.5 halfway, 0 at the end");

	/* clustering finds the two halves of a two-colour image (grid 4x4, p=2, C=3) */
	float patches[16 * 12], feat[16 * 8];
	int32_t pp[16];
	for (int q = 0; q < 16; q++)
		for (int v = 0; v < 12; v++) {
			int right = q % 4 >= 2, c = v % 3;
			patches[q * 12 + v] = (right ? (c == 2) : (c == 0)) + 0.01f * (float)((q * 7 + v) % 5);
		}
	mae_semantic_features(feat, patches, 4, 4, 2, 3, 0.0);
	seed(&r, 3);
	int np = mae_kmeans(pp, feat, 16, mae_semantic_nfeatures(3), 2, 10, &r);
	int split = np == 2;
	for (int q = 0; q < 16; q++)
		split &= pp[q] == (pp[0] ^ (q % 4 >= 2));
	ok(split, "semantic: k-means on patch colour separates a two-colour image into its halves");
}

static void test_attention(void)
{
	float attn[196];
	uint8_t m[196];
	mae_rng r;
	int bad = 0;
	for (int s = 0; s < 200; s++) {
		seed(&r, s);
		for (int l = 0; l < 196; l++)
			attn[l] = mae_rng_uniformf(&r);
		for (int mode = 0; mode < 2; mode++) {
			int h = mae_mask_attention(m, attn, 196, mode, 0.75, 0.1, 0.1, &r);
			float minh = INFINITY, maxv = -INFINITY, maxh = -INFINITY, minv = INFINITY;
			for (int l = 0; l < 196; l++) {
				if (m[l]) {
					minh = fminf(minh, attn[l]);
					maxh = fmaxf(maxh, attn[l]);
				} else {
					maxv = fmaxf(maxv, attn[l]);
					minv = fminf(minv, attn[l]);
				}
			}
			bad += h != 147 || popcount(m, 196) != 147;
			bad += mode == MAE_ATTN_HIGH ? !(minh > maxv) : !(maxh < minv);
		}
	}
	ok(!bad, "attention high/low: hides exactly the top / bottom 147 of 196 attention values");
	/* hint: floor(0.75*196)=147 hidden, then floor(0.1*0.75*196)=14 of the top ceil(19.6)=20
	 * shown again */
	bad = 0;
	for (int s = 0; s < 200; s++) {
		seed(&r, s);
		for (int l = 0; l < 196; l++)
			attn[l] = (float)l;      /* patch l has rank 195-l */
		int h = mae_mask_attention(m, attn, 196, MAE_ATTN_HINT, 0.75, 0.1, 0.1, &r);
		bad += h != 133 || popcount(m, 196) != 133;
		int shown_top = 0;
		for (int l = 176; l < 196; l++)
			shown_top += !m[l];
		for (int l = 49; l < 176; l++)
			bad += !m[l];
		for (int l = 0; l < 49; l++)
			bad += m[l];
		bad += shown_top != 14;
	}
	ok(!bad, "attention hint: 147 - 14 = 133 hidden; the 14 shown lie among the 20 most attended");
	/* ties: equal attention resolved by position */
	for (int l = 0; l < 196; l++)
		attn[l] = 1.0f;
	seed(&r, 0);
	int h = mae_mask_attention(m, attn, 196, MAE_ATTN_HIGH, 0.5, 0.1, 0.1, &r);
	ok(h == 98 && m[0] && m[97] && !m[98], "attention: ties broken by position");
}

static void test_tube(void)
{
	uint8_t m[8 * 196];
	mae_rng r;
	int bad = 0, same = 1;
	for (int s = 0; s < 200; s++) {
		seed(&r, s);
		int h = mae_mask_tube(m, 8, 196, 0.9, &r);
		bad += h != 8 * 176 || popcount(m, 8 * 196) != 8 * 176 || popcount(m, 196) != 176;
		for (int t = 1; t < 8; t++)
			same &= memcmp(m, m + t * 196, 196) == 0;
	}
	ok(!bad, "tube: 8 x floor(0.9*196) = 8 x 176 hidden");
	ok(same, "tube: the same spatial mask in every frame");
}

static void test_dft_freq(void)
{
	int sizes[3][2] = {{28, 28}, {7, 5}, {16, 12}};
	mae_rng r;
	for (int t = 0; t < 3; t++) {
		int h = sizes[t][0], w = sizes[t][1], n = h * w;
		float *x = malloc(2 * n * sizeof *x);
		double *rr = malloc(n * sizeof *rr), *ri = malloc(n * sizeof *ri);
		seed(&r, t);
		for (int i = 0; i < 2 * n; i++)
			x[i] = mae_rng_uniformf(&r);
		mae_dft2 d;
		mae_dft2_init(&d, h, w);
		/* projection onto a random selection = the naive transform in double, the rest
		 * zeroed, the naive inverse */
		uint8_t *sel = malloc(n);
		float *proj = malloc(2 * n * sizeof *proj);
		double *back = malloc(n * sizeof *back);
		for (int i = 0; i < n; i++) {   /* rows {0,1,h-1} x cols {0,2}, and (3, w-1) */
			int u = i / w, v = i % w;
			sel[i] = ((u <= 1 || u == h - 1) && (v == 0 || v == 2)) || (u == 3 && v == w - 1);
		}
		mae_dft2_project(&d, 2, x, sel, proj);
		double pe = 0;
		for (int p = 0; p < 2; p++) {
			mae_dft2_forward_naive(h, w, x + p * n, rr, ri);
			for (int i = 0; i < n; i++)
				if (!sel[i])
					rr[i] = ri[i] = 0;
			mae_dft2_inverse_real_naive(h, w, rr, ri, back);
			for (int i = 0; i < n; i++)
				pe = fmax(pe, fabs(proj[p * n + i] - back[i]));
		}
		ok(pe < 1e-5, "dft %dx%d: the projection on the touched rows/columns only = the naive "
		   "transforms in double (max diff %.2g)", h, w, pe);
		free(back);
		free(sel);
		free(proj);
		mae_dft2_free(&d);
		free(x), free(rr), free(ri);
	}

	/* fmask counts against brute force, and the corrupted image's spectrum */
	uint8_t fm[28 * 28];
	int removed = mae_freq_fmask(fm, 28, 28, 2.0, 0), inside = 0;
	for (int u = 0; u < 28; u++)
		for (int v = 0; v < 28; v++) {
			int fy = u < 14 ? u : u - 28, fx = v < 14 ? v : v - 28;
			inside += fy * fy + fx * fx < 4;
		}
	ok(inside == 9 && removed == 784 - 9 && !fm[0] && !fm[1] && !fm[27 * 28 + 27] && fm[2],
	   "frequency low-pass radius 2 at 28x28: keeps the 9 frequencies with fy^2+fx^2 < 4");
	ok(mae_freq_fmask(fm, 28, 28, 2.0, 1) == 9 && fm[0], "frequency high-pass: removes those 9");
	uint8_t *fm224 = malloc(224 * 224);
	int r16 = mae_freq_fmask(fm224, 224, 224, 16.0, 0);
	free(fm224);
	ok(224 * 224 - r16 == 793, "frequency low-pass radius 16 at 224: keeps 793 frequencies");

	int h = 28, w = 28, c = 3, n = h * w;
	float img[28 * 28 * 3], out[28 * 28 * 3], pl[28 * 28], re[28 * 28], im[28 * 28];
	seed(&r, 99);
	for (int i = 0; i < n * c; i++)
		img[i] = mae_rng_uniformf(&r);
	for (int hp = 0; hp < 2; hp++) {
		mae_freq_fmask(fm, h, w, 3.0, hp);
		mae_freq_ws *ws = mae_freq_ws_new(h, w, c);
		mae_freq_corrupt(ws, out, img, fm, 0);
		mae_dft2 d;
		mae_dft2_init(&d, h, w);
		double kept_err = 0, rm_max = 0, ref = 0;
		for (int k = 0; k < c; k++) {
			double rr[784], ri[784];
			for (int l = 0; l < n; l++)
				pl[l] = img[l * c + k];
			mae_dft2_forward_naive(h, w, pl, rr, ri);
			double orr[784], ori[784];
			for (int l = 0; l < n; l++)
				pl[l] = out[l * c + k];
			mae_dft2_forward_naive(h, w, pl, orr, ori);
			for (int l = 0; l < n; l++) {
				re[l] = (float)orr[l];
				im[l] = (float)ori[l];
				ref = fmax(ref, hypot(rr[l], ri[l]));
				if (fm[l])
					rm_max = fmax(rm_max, hypot(re[l], im[l]));
				else
					kept_err = fmax(kept_err, hypot(re[l] - rr[l], im[l] - ri[l]));
			}
		}
		ok(rm_max < 1e-4 * ref && kept_err < 1e-4 * ref,
		   "frequency %s-pass: removed frequencies are 0 (max %.2g) and kept ones unchanged "
		   "(max err %.2g; |F| up to %.0f)", hp ? "high" : "low", rm_max, kept_err, ref);
		mae_freq_corrupt(ws, out, img, fm, 1);
		float lo = INFINITY, hi = -INFINITY;
		for (int i = 0; i < n * c; i++) {
			lo = fminf(lo, out[i]);
			hi = fmaxf(hi, out[i]);
		}
		ok(lo >= 0 && hi <= 1, "frequency %s-pass: clamped output in [0,1]", hp ? "high" : "low");
		mae_dft2_free(&d);
		mae_freq_ws_free(ws);
	}
}

int main(void)
{
	test_counts();
	test_random();
	test_block();
	test_grid();
	test_window();
	test_noise();
	test_semantic();
	test_attention();
	test_tube();
	test_dft_freq();
	return done();
}
