/* test_knn: top-k selection (ties, k = n, k = 1), L2 normalization, dtype conversion,
 * weighted and plain k-NN against the brute-force reference on clustered random data, several
 * variants in one call against one call each, the standardization, the whitening PCA (both of
 * its paths), and mae-plot's table reader and moving average. */
#include "mae/eval/knn.h"
#include "mae/eval/pca.h"
#include "mae/plot/plot.h"
#include "mae/eval/probe.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_desc(const void *a, const void *b)
{
	const float *x = a, *y = b;
	return (*x < *y) - (*x > *y);
}

static void test_topk(void)
{
	/* ties: equal values keep index order, lower index first */
	float s[10] = {0.5f, 0.9f, 0.5f, 0.9f, 0.1f, 0.5f, 0.9f, 0.2f, 0.5f, 0.0f};
	int32_t idx[10];
	float val[10];
	mae_topk(s, 10, 5, idx, val);
	int want[5] = {1, 3, 6, 0, 2};
	int good = 1;
	for (int i = 0; i < 5; i++)
		good &= idx[i] == want[i] && val[i] == s[want[i]];
	ok(good, "top-5 with ties: best first, equal values by lower index (%d %d %d %d %d)", idx[0], idx[1],
	   idx[2], idx[3], idx[4]);
	mae_topk(s, 10, 10, idx, val);
	int want10[10] = {1, 3, 6, 0, 2, 5, 8, 7, 4, 9};
	good = 1;
	for (int i = 0; i < 10; i++)
		good &= idx[i] == want10[i];
	ok(good, "k = n sorts everything, ties by index");
	mae_topk(s, 10, 1, idx, val);
	ok(idx[0] == 1 && val[0] == 0.9f, "k = 1 is the first maximum");
	float same[6] = {1, 1, 1, 1, 1, 1};
	mae_topk(same, 6, 3, idx, NULL);
	ok(idx[0] == 0 && idx[1] == 1 && idx[2] == 2, "all equal: the first k indices");

	/* random: values equal a full sort, on many sizes */
	mae_rng r;
	mae_rng_seed(&r, 7, 0, 0, "test_knn");
	int bad = 0;
	for (int trial = 0; trial < 200; trial++) {
		int n = 1 + (int)mae_rng_below(&r, 500), k = 1 + (int)mae_rng_below(&r, (uint64_t)n);
		float *x = malloc((size_t)n * sizeof *x), *sorted = malloc((size_t)n * sizeof *x), *v = malloc((size_t)k * 4);
		int32_t *ix = malloc((size_t)k * 4);
		for (int i = 0; i < n; i++)   /* few distinct values: many ties */
			x[i] = (float)mae_rng_below(&r, trial % 2 ? 8 : 100000);
		memcpy(sorted, x, (size_t)n * sizeof *x);
		qsort(sorted, (size_t)n, sizeof *sorted, cmp_desc);
		mae_topk(x, n, k, ix, v);
		for (int i = 0; i < k; i++) {
			if (v[i] != sorted[i] || x[ix[i]] != v[i])
				bad++;
			if (i > 0 && v[i] == v[i - 1] && ix[i] <= ix[i - 1])
				bad++;
		}
		free(x); free(sorted); free(v); free(ix);
	}
	ok(bad == 0, "top-k equals a full sort on 200 random arrays, ties in index order (%d bad)", bad);
}

static void test_normalize(void)
{
	float x[3 * 4] = {3, 4, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
	mae_l2_normalize(x, 3, 4);
	ok(fabsf(x[0] - 0.6f) < 1e-7f && fabsf(x[1] - 0.8f) < 1e-7f, "normalize: (3,4) -> (0.6,0.8)");
	ok(x[4] == 0 && x[5] == 0 && x[6] == 0 && x[7] == 0, "normalize: a zero row stays zero");
	ok(fabsf(x[8] - 0.5f) < 1e-7f && fabsf(x[11] - 0.5f) < 1e-7f, "normalize: (1,1,1,1) -> 0.5 each");
	mae_rng r;
	mae_rng_seed(&r, 8, 0, 0, "test_knn");
	float y[50 * 33];
	for (int i = 0; i < 50 * 33; i++)
		y[i] = (float)(mae_rng_normal(&r) * 100);
	mae_l2_normalize(y, 50, 33);
	double worst = 0;
	for (int i = 0; i < 50; i++) {
		double ss = 0;
		for (int j = 0; j < 33; j++)
			ss += (double)y[i * 33 + j] * y[i * 33 + j];
		worst = fmax(worst, fabs(sqrt(ss) - 1));
	}
	ok(worst < 1e-6, "normalize: unit norms (worst error %.2g)", worst);
}

static void test_convert(void)
{
	uint8_t u8[3] = {0, 128, 255};
	int16_t i16[2] = {-300, 7};
	uint16_t h[3] = {0x3c00, 0xc000, 0x3555};   /* 1, -2, ~0.3333 */
	uint16_t bf[1] = {0x3fc0};                   /* 1.5 */
	double f64[2] = {0.25, -1e10};
	float out[4];
	mae_to_float(out, u8, MAE_U8, 3);
	ok(out[0] == 0 && out[1] == 128 && out[2] == 255, "U8 to float");
	mae_to_float(out, i16, MAE_I16, 2);
	ok(out[0] == -300 && out[1] == 7, "I16 to float");
	mae_to_float(out, h, MAE_F16, 3);
	ok(out[0] == 1 && out[1] == -2 && fabsf(out[2] - 1.0f / 3) < 1e-3f, "F16 to float");
	mae_to_float(out, bf, MAE_BF16, 1);
	ok(out[0] == 1.5f, "BF16 to float");
	mae_to_float(out, f64, MAE_F64, 2);
	ok(out[0] == 0.25f && out[1] == -1e10f, "F64 to float");
}

/* c clusters in d dimensions: centres N(0,1), samples centre + sigma N(0,1), label = cluster
 * (with some label noise so that k matters) */
static void make_set(mae_featset *fs, mae_rng *r, const float *centres, int c, int64_t n, int64_t d, float sigma)
{
	memset(fs, 0, sizeof *fs);
	fs->n = fs->cap = n;
	fs->d = d;
	fs->x = malloc((size_t)(n * d) * sizeof(float));
	fs->y = malloc((size_t)n * sizeof(int32_t));
	for (int64_t i = 0; i < n; i++) {
		int k = (int)mae_rng_below(r, (uint64_t)c);
		for (int64_t j = 0; j < d; j++)
			fs->x[i * d + j] = centres[k * d + j] + sigma * (float)mae_rng_normal(r);
		fs->y[i] = mae_rng_uniform(r) < 0.1 ? (int32_t)mae_rng_below(r, (uint64_t)c) : k;
		if (fs->y[i] + 1 > fs->nclass)
			fs->nclass = fs->y[i] + 1;
	}
}

/* a train and a test set around the same C random centres in D dimensions */
static void clustered_sets(mae_featset *tr, mae_featset *te, mae_rng *r, int C, int D, int ntrain, int ntest,
                           float spread)
{
	float *centres = malloc((size_t)C * D * sizeof *centres);
	for (int i = 0; i < C * D; i++)
		centres[i] = (float)mae_rng_normal(r);
	make_set(tr, r, centres, C, ntrain, D, spread);
	make_set(te, r, centres, C, ntest, D, spread);
	free(centres);
}

static void test_knn(int plain)
{
	enum { C = 7, D = 24, NTRAIN = 1500, NTEST = 400 };
	mae_rng r;
	mae_rng_seed(&r, 11, (uint64_t)plain, 0, "test_knn");
	mae_featset tr, te;
	clustered_sets(&tr, &te, &r, C, D, NTRAIN, NTEST, 0.9f);
	int ks[5] = {1, 5, 20, 100, 200};
	int32_t *fast = malloc(5 * NTEST * sizeof *fast), *ref = malloc(5 * NTEST * sizeof *ref);
	mae_knn_opts o = {.plain = plain, .T = 0.07f, .chunk = 37};   /* a chunk that does not divide NTEST */
	mae_knn_classify(&tr, &te, ks, 5, C, &o, fast);
	/* the fast path normalized the sets in place (weighted): the reference gets the same floats */
	mae_knn_classify_ref(&tr, &te, ks, 5, C, &o, ref);
	for (int j = 0; j < 5; j++) {
		int same = 0, right = 0;
		for (int i = 0; i < NTEST; i++) {
			same += fast[j * NTEST + i] == ref[j * NTEST + i];
			right += fast[j * NTEST + i] == te.y[i];
		}
		ok(same == NTEST, "%s k=%d: sgemm path equals the brute-force reference on %d/%d (accuracy %.1f%%)",
		   plain ? "plain" : "weighted", ks[j], same, NTEST, 100.0 * right / NTEST);
		if (j == 1)
			ok(right > NTEST / 2, "%s k=5: well above chance on clustered data", plain ? "plain" : "weighted");
	}
	/* the default chunk gives the same answers */
	int32_t *again = malloc(5 * NTEST * sizeof *again);
	o.chunk = 0;
	mae_knn_classify(&tr, &te, ks, 5, C, &o, again);
	ok(!memcmp(again, fast, 5 * NTEST * sizeof *again), "%s: the chunk size does not change predictions",
	   plain ? "plain" : "weighted");
	free(again);
	free(fast);
	free(ref);
	mae_featset_free(&tr);
	mae_featset_free(&te);
}

static void copy_set(mae_featset *dst, const mae_featset *src)
{
	*dst = *src;
	dst->x = malloc((size_t)(src->n * src->d) * sizeof(float));
	dst->y = malloc((size_t)src->n * sizeof(int32_t));
	memcpy(dst->x, src->x, (size_t)(src->n * src->d) * sizeof(float));
	memcpy(dst->y, src->y, (size_t)src->n * sizeof(int32_t));
}

/* several variants of one pair of sets (what mae-knn -V asks) give, variant by variant, the
 * predictions of one call each on a fresh copy, whatever the order they are asked in, though
 * they share the standardization and answer the features as they are last, in place */
static void test_many(int plain)
{
	enum { C = 5, D = 20, NTRAIN = 900, NTEST = 300, NV = 4 };
	mae_rng r;
	mae_rng_seed(&r, 13, (uint64_t)plain, 0, "test_many");
	mae_featset tr, te;
	clustered_sets(&tr, &te, &r, C, D, NTRAIN, NTEST, 1.0f);
	for (int64_t i = 0; i < (NTRAIN + NTEST) * (int64_t)D; i++) {   /* uneven scales and offsets */
		int j = (int)(i % D);
		float *x = i < NTRAIN * (int64_t)D ? &tr.x[i] : &te.x[i - NTRAIN * (int64_t)D];
		*x = *x * (j < 3 ? 30.0f : 1.0f) + (j >= 3 && j < 6 ? 20.0f : 0.0f);
	}
	int ks[2] = {1, 20};
	mae_knn_opts base = {.plain = plain, .T = 0.07f, .seed = 3}, o[NV] = {base, base, base, base};
	o[0].standardize = 1, o[0].pca = 6;   /* w, before the others: it must leave them their input */
	o[2].standardize = 1;                 /* z */
	o[3].pca = 8;                         /* whitened, not standardized */
	int32_t *many = malloc(NV * 2 * NTEST * sizeof *many), *one = malloc(2 * NTEST * sizeof *one);
	mae_featset a, b;
	copy_set(&a, &tr);
	copy_set(&b, &te);
	mae_knn_classify_many(&a, &b, ks, 2, C, o, NV, many);
	mae_featset_free(&a);
	mae_featset_free(&b);
	int same = 1, differ = 0;
	for (int v = 0; v < NV; v++) {
		copy_set(&a, &tr);
		copy_set(&b, &te);
		mae_knn_classify(&a, &b, ks, 2, C, &o[v], one);
		same &= !memcmp(one, many + v * 2 * NTEST, 2 * NTEST * sizeof *one);
		differ += v > 0 && memcmp(many, many + v * 2 * NTEST, 2 * NTEST * sizeof *one);
		mae_featset_free(&a);
		mae_featset_free(&b);
	}
	ok(same, "%s: 4 variants in one call, each the predictions of its own call", plain ? "plain" : "weighted");
	ok(differ == NV - 1, "%s: and the variants differ from one another", plain ? "plain" : "weighted");
	free(many);
	free(one);
	mae_featset_free(&tr);
	mae_featset_free(&te);
}

static void test_weights(void)
{
	/* 3 train points: two of class 1 at similarity 0.5, one of class 0 at similarity 0.6.
	 * Weighted k=3 with T=0.07: exp(0.6/0.07) = 5280 > 2 exp(0.5/0.07) = 2530, class 0 wins;
	 * with T=1: 2 e^0.5 = 3.30 > e^0.6 = 1.82, class 1 wins. */
	float trx[3 * 2] = {0.5f, (float)sqrt(0.75), 0.5f, -(float)sqrt(0.75), 0.6f, 0.8f};
	int32_t try[3] = {1, 1, 0};
	float tex[2] = {1, 0};
	int32_t tey[1] = {0};
	mae_featset tr = {.n = 3, .d = 2, .cap = 3, .x = trx, .y = try, .nclass = 2};
	mae_featset te = {.n = 1, .d = 2, .cap = 1, .x = tex, .y = tey, .nclass = 1};
	int k = 3;
	int32_t p;
	mae_knn_opts o = {.plain = 0, .T = 0.07f};
	mae_knn_classify(&tr, &te, &k, 1, 2, &o, &p);
	ok(p == 0, "T=0.07: one close neighbour outweighs two farther ones");
	o.T = 1;
	mae_knn_classify(&tr, &te, &k, 1, 2, &o, &p);
	ok(p == 1, "T=1: two neighbours outweigh one");
	/* plain: distances from (1,0): class-1 points at 1.0, class-0 point at sqrt(0.16+0.64)=0.894 */
	o.plain = 1;
	k = 1;
	mae_knn_classify(&tr, &te, &k, 1, 2, &o, &p);
	ok(p == 0, "plain k=1: the nearest point");
	k = 3;
	mae_knn_classify(&tr, &te, &k, 1, 2, &o, &p);
	ok(p == 1, "plain k=3: the majority");
	/* a vote tie goes to the lower class: k=2 -> one of each class */
	int32_t try2[3] = {1, 0, 1};
	float trx2[3 * 2] = {1, 0, 2, 0, 5, 0};
	mae_featset tr2 = {.n = 3, .d = 2, .cap = 3, .x = trx2, .y = try2, .nclass = 2};
	k = 2;
	mae_knn_classify(&tr2, &te, &k, 1, 2, &o, &p);
	ok(p == 0, "plain vote tie: the lower class");
}

static void test_standardize(void)
{
	float x[4 * 3] = {1, 10, 5, 3, 10, 5, 5, 10, 5, 7, 10, 5};
	float mean[3], istd[3];
	mae_standardize_fit(x, 4, 3, 1e-6, mean, istd);
	ok(mean[0] == 4 && mean[1] == 10 && fabsf(istd[0] - 1 / sqrtf(5 + 1e-6f)) < 1e-6f,
	   "standardize: mean 4, population variance 5");
	mae_standardize_apply(x, 4, 3, mean, istd);
	ok(x[1] == 0 && x[2] == 0 && fabsf(x[0] + 3 / sqrtf(5)) < 1e-5f, "standardize: constant features become 0");
}

/* PCA on n samples of d features with K planted directions of variance spike[j] (orthonormal,
 * random) over unit noise and an offset of 5: the fit finds eigenpairs of the sample
 * covariance (residual |C v - lambda v| small), near the planted variances, largest first, and
 * its projection whitens the train set. d > MAE_PCA_DIRECT takes the subspace iteration. */
static void test_pca(int n, int d)
{
	enum { K = 6 };
	const double spike[K] = {100, 80, 60, 45, 30, 20};
	mae_rng r;
	mae_rng_seed(&r, 5, (uint64_t)d, 0, "test_pca");
	double *u = malloc((size_t)K * d * sizeof *u);
	for (int j = 0; j < K; j++) {   /* Gram-Schmidt on Gaussian vectors */
		double *v = u + (size_t)j * d, nn = 0;
		for (int q = 0; q < d; q++)
			v[q] = mae_rng_normal(&r);
		for (int i = 0; i < j; i++) {
			double dot = 0;
			for (int q = 0; q < d; q++)
				dot += v[q] * u[(size_t)i * d + q];
			for (int q = 0; q < d; q++)
				v[q] -= dot * u[(size_t)i * d + q];
		}
		for (int q = 0; q < d; q++)
			nn += v[q] * v[q];
		for (int q = 0; q < d; q++)
			v[q] /= sqrt(nn);
	}
	float *x = malloc((size_t)n * d * sizeof *x);
	for (int i = 0; i < n; i++) {
		for (int q = 0; q < d; q++)
			x[(size_t)i * d + q] = (float)(5 + mae_rng_normal(&r));
		for (int j = 0; j < K; j++) {
			double z = sqrt(spike[j]) * mae_rng_normal(&r);
			for (int q = 0; q < d; q++)
				x[(size_t)i * d + q] += (float)(z * u[(size_t)j * d + q]);
		}
	}
	double *mean = calloc((size_t)d, sizeof *mean), *cv = malloc((size_t)d * sizeof *cv);
	for (int i = 0; i < n; i++)
		for (int q = 0; q < d; q++)
			mean[q] += x[(size_t)i * d + q] / (double)n;
	mae_pca p;
	char err[128] = "";
	int rc = mae_pca_fit(&p, x, n, d, K, 1, err, sizeof err);
	const char *path = d > MAE_PCA_DIRECT ? "subspace iteration" : "direct";
	ok(rc == 0, "pca %s (n %d, d %d): fits %s", path, n, d, err);
	double worst_res = 0, worst_spike = 0, worst_mean = 0;
	int ordered = 1;
	for (int j = 0; j < K; j++) {
		double lam = p.lambda[j], nn = 0, res = 0;
		ordered &= j == 0 || p.lambda[j] <= p.lambda[j - 1];
		for (int q = 0; q < d; q++)
			nn += (double)p.w[(size_t)j * d + q] * p.w[(size_t)j * d + q];
		/* C v = sum_i (x_i - mean) ((x_i - mean) . v) / n, with v the unit component */
		memset(cv, 0, (size_t)d * sizeof *cv);
		for (int i = 0; i < n; i++) {
			const float *xi = x + (size_t)i * d;
			double dot = 0;
			for (int q = 0; q < d; q++)
				dot += (xi[q] - mean[q]) * p.w[(size_t)j * d + q] / sqrt(nn);
			for (int q = 0; q < d; q++)
				cv[q] += (xi[q] - mean[q]) * dot / n;
		}
		for (int q = 0; q < d; q++) {
			double e = cv[q] - lam * p.w[(size_t)j * d + q] / sqrt(nn);
			res += e * e;
		}
		res = sqrt(res) / p.lambda[0];
		worst_res = res > worst_res ? res : worst_res;
		double rel = fabs(lam - (spike[j] + 1)) / spike[j];   /* a spike sits on the unit noise */
		worst_spike = rel > worst_spike ? rel : worst_spike;
	}
	for (int q = 0; q < d; q++)
		worst_mean = fabs(p.mean[q] - mean[q]) > worst_mean ? fabs(p.mean[q] - mean[q]) : worst_mean;
	ok(ordered, "pca %s: eigenvalues largest first (%.2f ... %.2f)", path, p.lambda[0], p.lambda[K - 1]);
	ok(worst_res < 2e-3, "pca %s: eigenvectors of the sample covariance (|Cv - lv| / l0 <= %.1e)", path, worst_res);
	ok(worst_spike < 0.2, "pca %s: eigenvalues near the planted variances (worst %.1f%% off)", path, 100 * worst_spike);
	ok(worst_mean < 1e-4, "pca %s: the mean (worst %.1e off)", path, worst_mean);
	/* the projected train set: zero mean, identity covariance */
	float *y = malloc((size_t)n * K * sizeof *y);
	mae_pca_apply(&p, x, n, y);
	double worst_cov = 0;
	for (int a = 0; a < K; a++)
		for (int b = 0; b < K; b++) {
			double s = 0;
			for (int i = 0; i < n; i++)
				s += (double)y[(size_t)i * K + a] * y[(size_t)i * K + b] / n;
			double e = fabs(s - (a == b));
			worst_cov = e > worst_cov ? e : worst_cov;
		}
	ok(worst_cov < 2e-3, "pca %s: the projection whitens the train set (covariance - I <= %.1e)", path, worst_cov);
	mae_pca_free(&p);
	free(y);
	free(x);
	free(u);
	free(mean);
	free(cv);
}

static void test_table(void)
{
	char err[256];
	mae_table t;
	static const char good[] = "# comment\n\n step  loss\tlr\n0 1.5 1e-4\n  # another\n10 nan 2e-4\n20 0.5 3e-4\n";
	FILE *f = fmemopen((void *)good, sizeof good - 1, "r");
	int rc = mae_table_read(f, "good", &t, err, sizeof err);
	fclose(f);
	ok(rc == 0 && t.ncol == 3 && t.nrow == 3 && mae_table_col(&t, "lr") == 2 && mae_table_col(&t, "x") == -1,
	   "table: comments, blank lines, tabs; 3 columns, 3 rows");
	ok(rc == 0 && t.v[0] == 0 && t.v[1] == 1.5 && isnan(t.v[4]) && t.v[8] == 3e-4, "table: values, nan kept as missing");
	if (rc == 0)
		mae_table_free(&t);
	static const struct { const char *text, *msg; } bad[] = {
		{"", "empty"}, {"# only a comment\n", "empty"}, {"a b\n", "no data rows"},
		{"a b\n1 2\n3\n", "bad:3: 1 fields, the header names 2 columns"},
		{"a b\n1 x2\n", "bad:2: column 'b': 'x2' is not a number"},
		{"a a\n1 2\n", "column 'a' named twice"}, {"1 2\n3 4\n", "must name the columns"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		f = fmemopen((void *)bad[i].text, strlen(bad[i].text) ? strlen(bad[i].text) : 1, "r");
		if (!strlen(bad[i].text))
			fgetc(f);   /* fmemopen needs a size > 0: consume the NUL */
		err[0] = 0;
		rc = mae_table_read(f, "bad", &t, err, sizeof err);
		fclose(f);
		ok(rc == -1 && strstr(err, bad[i].msg), "table error %zu: %s", i, err);
	}
	double y[6] = {1, 2, 3, NAN, 5, 6}, m[6];
	mae_moving_average(y, 6, 3, m);
	ok(m[0] == 1.5 && m[1] == 2 && m[2] == 2.5 && isnan(m[3]) && m[4] == 5.5 && m[5] == 5.5,
	   "moving average: centered, shorter at the ends, NaNs skipped");
	ok(mae_text_width("abc", 1) == 17 && mae_text_width("abc", 2) == 34 && mae_text_width("", 1) == 0,
	   "text width: 6 px per glyph less the last gap");
}

int main(void)
{
	mae_setprog("test_knn");
	mae_quiet = 1;
	test_topk();
	test_normalize();
	test_convert();
	test_weights();
	test_knn(0);
	test_knn(1);
	test_many(0);
	test_many(1);
	test_standardize();
	test_pca(2000, 40);
	test_pca(2000, MAE_PCA_DIRECT + 76);
	test_table();
	return done();
}
