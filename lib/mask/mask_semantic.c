/* mask_semantic.c: SemMAE's masking schedule over parts, with the parts found by a cheap
 * per-image clustering (k-means on colour, texture and position of the patches) in place of
 * SemMAE's learned part segmentation (see METHODS.md 4.4 and mask.h). */
#include "mae/mask/mask.h"
#include "mae/util/util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double mae_semantic_lambda(int64_t epoch, int64_t epochs)
{
	if (epochs < 1)
		epochs = 1;
	double t = (double)(epoch + 1) / (double)epochs;
	if (t > 1)
		t = 1;
	if (t < 0)
		t = 0;
	return 0.5 * (1.0 + cos(M_PI * t));
}

int mae_semantic_nfeatures(int c) { return c + 5; }

void mae_semantic_features(float *feat, const float *patches, int gh, int gw, int p, int c,
                           double pos_weight)
{
	int n = gh * gw, nf = c + 5, plen = p * p * c;
	if (nf > 64)
		mae_die(MAE_EXIT_DATA, "semantic features: %d channels is more than 59", c);
	for (int l = 0; l < n; l++) {
		const float *x = patches + (size_t)l * plen;
		float *f = feat + (size_t)l * nf;
		double all = 0, all2 = 0, dx = 0, dy = 0;
		for (int k = 0; k < c; k++) {
			double s = 0;
			for (int q = 0; q < p * p; q++)
				s += x[q * c + k];
			f[k] = (float)(s / (p * p));
		}
		for (int q = 0; q < plen; q++) {
			all += x[q];
			all2 += (double)x[q] * x[q];
		}
		for (int a = 0; a < p; a++)
			for (int b = 0; b < p; b++)
				for (int k = 0; k < c; k++) {
					float v = x[(a * p + b) * c + k];
					if (b + 1 < p)
						dx += fabsf(x[(a * p + b + 1) * c + k] - v);
					if (a + 1 < p)
						dy += fabsf(x[((a + 1) * p + b) * c + k] - v);
				}
		double mean = all / plen, var = all2 / plen - mean * mean;
		int nd = p > 1 ? p * (p - 1) * c : 1;
		f[c] = (float)sqrt(var > 0 ? var : 0);
		f[c + 1] = (float)(dx / nd);
		f[c + 2] = (float)(dy / nd);
		f[c + 3] = (float)(l / gw);
		f[c + 4] = (float)(l % gw);
	}
	/* Centre every feature over the image's patches. Colour and texture stay in the units of
	 * the normalized pixels (so a flat image does not have its noise blown up to unit
	 * variance); the position pair is scaled to pos_weight times the image's own spread of
	 * appearance, so position matters as much on a low-contrast image as on a vivid one. */
	double app = 0;
	double mean[64], sd[64];
	for (int j = 0; j < nf; j++) {
		double s = 0, s2 = 0;
		for (int l = 0; l < n; l++)
			s += feat[(size_t)l * nf + j];
		mean[j] = s / n;
		for (int l = 0; l < n; l++) {
			double d = feat[(size_t)l * nf + j] - mean[j];
			s2 += d * d;
		}
		sd[j] = sqrt(s2 / n);
		if (j < c + 3)
			app += s2 / n;
	}
	app = sqrt(app / (c + 3));
	for (int j = 0; j < nf; j++) {
		double scale = 1.0;
		if (j >= c + 3)
			scale = sd[j] > 0 ? pos_weight * (app > 1e-6 ? app : 1.0) / sd[j] : 0.0;
		for (int l = 0; l < n; l++) {
			float *v = &feat[(size_t)l * nf + j];
			*v = (float)((*v - mean[j]) * scale);
		}
	}
}

static double dist2(const float *a, const float *b, int f)
{
	double s = 0;
	for (int j = 0; j < f; j++) {
		double d = a[j] - b[j];
		s += d * d;
	}
	return s;
}

int mae_kmeans(int32_t *parts, const float *feat, int n, int f, int k, int iters, mae_rng *rng)
{
	if (k > n)
		k = n;
	float *cen = mae_malloc((size_t)k * f * sizeof *cen);
	double *d = mae_malloc((size_t)n * sizeof *d);
	int *cnt = mae_malloc((size_t)k * sizeof *cnt);
	double *acc = mae_malloc((size_t)k * f * sizeof *acc);
	/* k-means++ seeding */
	int first = (int)mae_rng_below(rng, (uint64_t)n);
	memcpy(cen, feat + (size_t)first * f, (size_t)f * sizeof *cen);
	for (int l = 0; l < n; l++)
		d[l] = dist2(feat + (size_t)l * f, cen, f);
	for (int c = 1; c < k; c++) {
		double tot = 0;
		for (int l = 0; l < n; l++)
			tot += d[l];
		int pick = n - 1;
		if (tot > 0) {
			double u = mae_rng_uniform(rng) * tot;
			for (int l = 0; l < n; l++) {
				u -= d[l];
				if (u < 0) {
					pick = l;
					break;
				}
			}
		} else {
			pick = (int)mae_rng_below(rng, (uint64_t)n);
		}
		memcpy(cen + (size_t)c * f, feat + (size_t)pick * f, (size_t)f * sizeof *cen);
		for (int l = 0; l < n; l++) {
			double e = dist2(feat + (size_t)l * f, cen + (size_t)c * f, f);
			if (e < d[l])
				d[l] = e;
		}
	}
	for (int it = 0; it <= iters; it++) {
		/* assignment */
		for (int l = 0; l < n; l++) {
			double best = DBL_MAX;
			int bc = 0;
			for (int c = 0; c < k; c++) {
				double e = dist2(feat + (size_t)l * f, cen + (size_t)c * f, f);
				if (e < best) {
					best = e;
					bc = c;
				}
			}
			parts[l] = bc;
			d[l] = best;
		}
		if (it == iters)
			break;
		/* update; an empty cluster takes the point farthest from its centre */
		memset(cnt, 0, (size_t)k * sizeof *cnt);
		memset(acc, 0, (size_t)k * f * sizeof *acc);
		for (int l = 0; l < n; l++) {
			cnt[parts[l]]++;
			for (int j = 0; j < f; j++)
				acc[(size_t)parts[l] * f + j] += feat[(size_t)l * f + j];
		}
		for (int c = 0; c < k; c++) {
			if (cnt[c] == 0) {
				int far = 0;
				for (int l = 1; l < n; l++)
					if (d[l] > d[far])
						far = l;
				memcpy(cen + (size_t)c * f, feat + (size_t)far * f, (size_t)f * sizeof *cen);
				d[far] = 0;
				continue;
			}
			for (int j = 0; j < f; j++)
				cen[(size_t)c * f + j] = (float)(acc[(size_t)c * f + j] / cnt[c]);
		}
	}
	/* renumber parts densely in order of first appearance */
	int *map = cnt, used = 0;
	for (int c = 0; c < k; c++)
		map[c] = -1;
	for (int l = 0; l < n; l++) {
		if (map[parts[l]] < 0)
			map[parts[l]] = used++;
		parts[l] = map[parts[l]];
	}
	free(cen);
	free(d);
	free(cnt);
	free(acc);
	return used;
}

int mae_mask_semantic(uint8_t *mask, const int32_t *parts, int n, int nparts, double ratio,
                      int hidden, double lambda, mae_rng *rng)
{
	int *perm = mae_malloc((size_t)n * sizeof *perm);
	int *nk = mae_calloc((size_t)nparts * 5, sizeof *nk);
	int *m1 = nk + nparts, *m2 = m1 + nparts, *mk = m2 + nparts, *order = mk + nparts;
	for (int l = 0; l < n; l++) {
		perm[l] = l;
		if (parts[l] < 0 || parts[l] >= nparts)
			mae_die(MAE_EXIT_DATA, "semantic mask: part id %d of patch %d not in 0..%d",
			        parts[l], l, nparts - 1);
		nk[parts[l]]++;
	}
	for (int i = n - 1; i > 0; i--) {          /* 1. random order within every part */
		int j = (int)mae_rng_below(rng, (uint64_t)i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int k = 0; k < nparts; k++) {
		order[k] = k;
		m1[k] = (int)lround(ratio * nk[k]);      /* 2. a fraction r of every part */
	}
	for (int i = nparts - 1; i > 0; i--) {     /* 3. whole parts in a random order */
		int j = (int)mae_rng_below(rng, (uint64_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	int used = 0;
	for (int t = 0; t < nparts; t++) {
		int k = order[t], left = hidden - used;
		m2[k] = left < 0 ? 0 : left < nk[k] ? left : nk[k];
		used += nk[k];
	}
	int sum = 0;
	for (int k = 0; k < nparts; k++) {         /* 4. blend */
		mk[k] = (int)lround(lambda * m1[k] + (1.0 - lambda) * m2[k]);
		if (mk[k] > nk[k])
			mk[k] = nk[k];
		sum += mk[k];
	}
	while (sum != hidden) {                    /* 5. exact count */
		int dir = sum < hidden ? 1 : -1, cand = 0, pick = -1;
		for (int k = 0; k < nparts; k++)
			if (dir > 0 ? mk[k] < nk[k] : mk[k] > 0)
				cand++;
		if (cand == 0)
			break;
		int r = (int)mae_rng_below(rng, (uint64_t)cand);
		for (int k = 0; k < nparts; k++)
			if ((dir > 0 ? mk[k] < nk[k] : mk[k] > 0) && r-- == 0) {
				pick = k;
				break;
			}
		mk[pick] += dir;
		sum += dir;
	}
	memset(mask, 0, (size_t)n);
	int *taken = m1;                           /* reuse: patches hidden so far per part */
	memset(taken, 0, (size_t)nparts * sizeof *taken);
	for (int i = 0; i < n; i++) {
		int l = perm[i], k = parts[l];
		if (taken[k] < mk[k]) {
			mask[l] = 1;
			taken[k]++;
		}
	}
	free(perm);
	free(nk);
	return sum;
}
