/* knn.c: top-k selection, weighted and plain k-NN over feature sets (see knn.h). */
#include "mae/eval/knn.h"
#include "mae/eval/pca.h"
#include "mae/util/progress.h"
#include "mae/util/util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- top-k: a min-heap of the k best seen (root = worst kept) ---- */

/* a is worse than b: smaller value, or equal value and larger index */
static inline int worse(float va, int32_t ia, float vb, int32_t ib)
{
	return va < vb || (va == vb && ia > ib);
}

static void sift_down(float *hv, int32_t *hi, int k, int at)
{
	for (;;) {
		int l = 2 * at + 1, r = l + 1, m = at;
		if (l < k && worse(hv[l], hi[l], hv[m], hi[m]))
			m = l;
		if (r < k && worse(hv[r], hi[r], hv[m], hi[m]))
			m = r;
		if (m == at)
			return;
		float tv = hv[at]; hv[at] = hv[m]; hv[m] = tv;
		int32_t ti = hi[at]; hi[at] = hi[m]; hi[m] = ti;
		at = m;
	}
}

/* heap of capacity k in hv/hi: best k of s, then sorted best first */
static void topk_heap(const float *s, int64_t n, int k, float *hv, int32_t *hi)
{
	for (int i = 0; i < k; i++) {
		hv[i] = s[i];
		hi[i] = i;
	}
	for (int i = k / 2 - 1; i >= 0; i--)
		sift_down(hv, hi, k, i);
	for (int64_t j = k; j < n; j++) {
		/* a later index with an equal value is worse than the root: strictly greater only */
		if (s[j] > hv[0]) {
			hv[0] = s[j];
			hi[0] = (int32_t)j;
			sift_down(hv, hi, k, 0);
		}
	}
	/* heap sort: repeatedly move the worst to the end -> best first */
	for (int m = k - 1; m > 0; m--) {
		float tv = hv[0]; hv[0] = hv[m]; hv[m] = tv;
		int32_t ti = hi[0]; hi[0] = hi[m]; hi[m] = ti;
		sift_down(hv, hi, m, 0);
	}
}

void mae_topk(const float *s, int64_t n, int k, int32_t *idx, float *val)
{
	float *hv = val ? val : mae_malloc((size_t)k * sizeof *hv);
	topk_heap(s, n, k, hv, idx);
	if (!val)
		free(hv);
}

/* ---- voting ---- */

static int argmax_d(const double *score, int nclass)
{
	int best = 0;
	for (int c = 1; c < nclass; c++)
		if (score[c] > score[best])
			best = c;
	return best;
}

/* neighbours nb[0..kmax) best first with similarities sv; one prediction per k */
static void vote(const int32_t *nb, const float *sv, const int32_t *ytrain, const int *ks, int nk, int nclass,
                 const mae_knn_opts *o, double *score, int32_t *pred, int64_t ntest, int64_t i)
{
	int kmax = 0;
	for (int j = 0; j < nk; j++)
		kmax = ks[j] > kmax ? ks[j] : kmax;
	memset(score, 0, (size_t)nclass * sizeof *score);
	/* the scores of k are those of k-1 plus one neighbour: walk once, snapshot at each k */
	for (int r = 0; r < kmax; r++) {
		score[ytrain[nb[r]]] += o->plain ? 1.0 : exp((double)sv[r] / o->T);
		for (int j = 0; j < nk; j++)
			if (ks[j] == r + 1)
				pred[j * ntest + i] = argmax_d(score, nclass);
	}
}

static int max_k(const int *ks, int nk)
{
	int kmax = 0;
	for (int j = 0; j < nk; j++)
		kmax = ks[j] > kmax ? ks[j] : kmax;
	return kmax;
}

/* The similarities and votes of one variant on sets already standardized as it asks (and
 * whitened): normalized in place first, unless plain. */
static void classify(mae_featset *train, mae_featset *test, const int *ks, int nk, int nclass,
                     const mae_knn_opts *o, int32_t *pred)
{
	int64_t n = train->n, d = train->d, m = test->n;
	int kmax = max_k(ks, nk);
	float *tnorm = NULL;
	if (!o->plain) {
		mae_l2_normalize(train->x, n, d);
		mae_l2_normalize(test->x, m, d);
	} else {
		/* |x - t|^2 = |x|^2 - 2 x.t + |t|^2: rank by 2 x.t - |t|^2 (|x|^2 is the same for all t) */
		tnorm = mae_malloc((size_t)n * sizeof *tnorm);
		for (int64_t j = 0; j < n; j++) {
			double ss = 0;
			for (int64_t q = 0; q < d; q++)
				ss += (double)train->x[j * d + q] * train->x[j * d + q];
			tnorm[j] = (float)ss;
		}
	}
	int64_t chunk = o->chunk;
	if (chunk <= 0) {   /* about 128 MB of similarities per chunk: large products run best */
		chunk = (int64_t)(32e6 / (double)n);
		chunk = chunk < 16 ? 16 : chunk > 1024 ? 1024 : chunk;
	}
	if (chunk > m)
		chunk = m;
	float *s = mae_malloc((size_t)chunk * (size_t)n * sizeof *s);
	float *hv = mae_malloc((size_t)kmax * sizeof *hv);
	int32_t *hi = mae_malloc((size_t)kmax * sizeof *hi);
	double *score = mae_malloc((size_t)nclass * sizeof *score);
	mae_progress pr;
	mae_progress_start(&pr, "test samples", m);
	for (int64_t i0 = 0; i0 < m; i0 += chunk) {
		int64_t b = m - i0 < chunk ? m - i0 : chunk;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n, (int)d, o->plain ? 2.0f : 1.0f,
		            test->x + i0 * d, (int)d, train->x, (int)d, 0.0f, s, (int)n);
		for (int64_t i = 0; i < b; i++) {
			float *row = s + i * n;
			if (tnorm)
				for (int64_t j = 0; j < n; j++)
					row[j] -= tnorm[j];
			topk_heap(row, n, kmax, hv, hi);
			vote(hi, hv, train->y, ks, nk, nclass, o, score, pred, m, i0 + i);
		}
		mae_progress_add(&pr, b);
	}
	mae_progress_end(&pr);
	free(s);
	free(hv);
	free(hi);
	free(score);
	free(tnorm);
}

/* The variant o on the projections of both sets on the train set's first o->pca principal
 * components, whitened; the sets themselves are only read, so that other variants can use them
 * after. */
static void whitened(const mae_featset *train, const mae_featset *test, const int *ks, int nk, int nclass,
                     const mae_knn_opts *o, int32_t *pred)
{
	char err[128];
	mae_pca p;
	int64_t k = o->pca;
	if (k > train->d)
		mae_die(MAE_EXIT_USAGE, "--pca %lld: the features have only %lld values", (long long)k, (long long)train->d);
	mae_info("PCA: the first %lld of %lld components, whitened", (long long)k, (long long)train->d);
	if (mae_pca_fit(&p, train->x, train->n, train->d, k, o->seed, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	mae_featset wtrain = *train, wtest = *test;   /* the labels are shared */
	mae_featset *sets[2] = {&wtrain, &wtest};
	for (int s = 0; s < 2; s++) {
		sets[s]->x = mae_malloc((size_t)sets[s]->n * (size_t)k * sizeof(float));
		mae_pca_apply(&p, s ? test->x : train->x, sets[s]->n, sets[s]->x);
		sets[s]->d = k;
		sets[s]->cap = sets[s]->n;
	}
	mae_pca_free(&p);
	classify(&wtrain, &wtest, ks, nk, nclass, o, pred);
	free(wtrain.x);
	free(wtest.x);
}

void mae_knn_classify(mae_featset *train, mae_featset *test, const int *ks, int nk, int nclass,
                      const mae_knn_opts *o, int32_t *pred)
{
	mae_knn_classify_many(train, test, ks, nk, nclass, o, 1, pred);
}

/* A whitening only reads its input; the other variants normalize theirs in place. So the order
 * that needs the fewest copies: whitenings of the features as they are; the standardization
 * (once), its whitenings, the standardized variant; the features as they are last. The
 * standardized sets are then a copy only when the features as they are are still to come.
 * (Standardizing rows on the fly into the PCA would save that copy, but OpenBLAS rounds a
 * product cut into blocks of rows differently from the whole one, and the answers would no
 * longer be those of one variant a call.) */
void mae_knn_classify_many(mae_featset *train, mae_featset *test, const int *ks, int nk, int nclass,
                           const mae_knn_opts *o, int no, int32_t *pred)
{
	int64_t n = train->n, d = train->d, m = test->n, per = (int64_t)nk * m;
	int kmax = max_k(ks, nk), as_is = -1, z = -1, any_z = 0;
	if (test->d != d)
		mae_die(MAE_EXIT_DATA, "train features have %lld values per sample, test features %lld", (long long)d,
		        (long long)test->d);
	if (kmax > n)
		mae_die(MAE_EXIT_USAGE, "k=%d is more than the %lld train samples", kmax, (long long)n);
	if (nclass < train->nclass)
		nclass = train->nclass;
	for (int v = 0; v < no; v++) {
		for (int u = 0; u < v; u++)
			if (!o[u].standardize == !o[v].standardize && o[u].pca == o[v].pca)
				mae_die(MAE_EXIT_USAGE, "k-NN variants %d and %d are the same", u + 1, v + 1);
		if (!o[v].standardize && o[v].pca == 0)
			as_is = v;
		else if (o[v].standardize && o[v].pca == 0)
			z = v;
		any_z |= o[v].standardize;
	}
	for (int v = 0; v < no; v++)
		if (!o[v].standardize && o[v].pca > 0)
			whitened(train, test, ks, nk, nclass, &o[v], pred + v * per);
	if (any_z) {   /* the train set's statistics, applied to both sets, once for every variant */
		mae_featset ztrain = *train, ztest = *test;
		float *mean = mae_malloc((size_t)d * sizeof *mean), *istd = mae_malloc((size_t)d * sizeof *istd);
		mae_standardize_fit(train->x, n, d, 1e-6, mean, istd);
		if (as_is >= 0) {   /* the features as they are come last: standardize a copy */
			ztrain.x = mae_malloc((size_t)n * (size_t)d * sizeof(float));
			ztest.x = mae_malloc((size_t)m * (size_t)d * sizeof(float));
			memcpy(ztrain.x, train->x, (size_t)n * (size_t)d * sizeof(float));
			memcpy(ztest.x, test->x, (size_t)m * (size_t)d * sizeof(float));
			ztrain.cap = n;
			ztest.cap = m;
		}
		mae_standardize_apply(ztrain.x, n, d, mean, istd);
		mae_standardize_apply(ztest.x, m, d, mean, istd);
		free(mean);
		free(istd);
		for (int v = 0; v < no; v++)
			if (o[v].standardize && o[v].pca > 0)
				whitened(&ztrain, &ztest, ks, nk, nclass, &o[v], pred + v * per);
		if (z >= 0)
			classify(&ztrain, &ztest, ks, nk, nclass, &o[z], pred + z * per);
		if (as_is >= 0) {
			free(ztrain.x);
			free(ztest.x);
		}
	}
	if (as_is >= 0)
		classify(train, test, ks, nk, nclass, &o[as_is], pred + as_is * per);
}

/* ---- the reference: double precision, full sort ---- */

typedef struct { double v; int32_t i; } scored;

static int cmp_scored(const void *a, const void *b)
{
	const scored *x = a, *y = b;
	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

void mae_knn_classify_ref(const mae_featset *train, const mae_featset *test, const int *ks, int nk,
                          int nclass, const mae_knn_opts *o, int32_t *pred)
{
	int64_t n = train->n, d = train->d, m = test->n;
	int kmax = max_k(ks, nk);
	if (nclass < train->nclass)
		nclass = train->nclass;
	scored *all = mae_malloc((size_t)n * sizeof *all);
	int32_t *nb = mae_malloc((size_t)kmax * sizeof *nb);
	float *sv = mae_malloc((size_t)kmax * sizeof *sv);
	double *score = mae_malloc((size_t)nclass * sizeof *score);
	for (int64_t i = 0; i < m; i++) {
		const float *x = test->x + i * d;
		for (int64_t j = 0; j < n; j++) {
			const float *t = train->x + j * d;
			double acc = 0;
			for (int64_t q = 0; q < d; q++)
				acc += o->plain ? -((double)x[q] - t[q]) * ((double)x[q] - t[q]) : (double)x[q] * t[q];
			all[j].v = acc;
			all[j].i = (int32_t)j;
		}
		qsort(all, (size_t)n, sizeof *all, cmp_scored);
		for (int r = 0; r < kmax; r++) {
			nb[r] = all[r].i;
			sv[r] = (float)all[r].v;
		}
		vote(nb, sv, train->y, ks, nk, nclass, o, score, pred, m, i);
	}
	free(all);
	free(nb);
	free(sv);
	free(score);
}
