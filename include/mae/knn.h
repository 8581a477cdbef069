/* knn.h: frozen-feature evaluation sets and k-nearest-neighbour classification.
 *
 * A feature set is every sample of a stream, gathered once: a feature tensor of any numeric
 * dtype and shape [B,...] flattened to D floats per sample, and the `label` I32 [B] tensor.
 * mae-knn(1) and mae-probe(1) read their train and test streams into one each per tensor, in
 * one pass over each stream.
 *
 * Weighted k-NN (DINO's protocol, METHODS 6.1): every feature L2-normalized, cosine similarity
 * to every train sample by sgemm over chunks of test rows, top-k by partial selection (a heap),
 * weights exp(s/T), class score = sum of weights, prediction = argmax. Plain k-NN: Euclidean
 * distance on the unnormalized features and a majority vote.
 *
 * Ties are broken the same way everywhere, so the fast path and the reference agree exactly:
 * among equal similarities (or distances) the lower train index is nearer; among equal class
 * scores the lower class wins. */
#ifndef MAE_KNN_H
#define MAE_KNN_H

#include <stdint.h>
#include "mae/stream.h"

#define MAE_KNN_MAX_CLASSES 100000   /* labels must be in [0, this) */
#define MAE_KNN_MAX_K       100000

typedef struct mae_featset {
	int64_t n, d;      /* samples, features per sample */
	int64_t cap;       /* samples allocated */
	float *x;          /* n*d, row-major */
	int32_t *y;        /* n labels */
	int nclass;        /* 1 + largest label */
} mae_featset;

/* Read every batch of the stream at endpoint into fs[0..nf): fs[t] gathers tensor names[t] (any
 * numeric dtype, shape [B,...]), each with the `label` I32 [B] of its record, all from the one
 * pass. `what` names the stream in messages ("train", "test"). Dies (status 2) on a missing
 * tensor, a feature size that changes between records, a label out of range or a non-finite
 * feature. c's merge applies; pass NULL for defaults. */
void mae_featset_read(mae_featset *fs, int nf, const char *const *names, const char *endpoint,
                      const mae_common *c, const char *what);
/* The train stream at train_ep and the test stream at c->in, both read once as above, and
 * checked to have the same number of values per sample in each tensor (what mae-knn and
 * mae-probe compare). */
void mae_featset_read_pair(mae_featset *train, mae_featset *test, int nf, const char *const *names,
                           const char *train_ep, const mae_common *c);
/* Append the samples of one record (the same checks); for callers with their own loop. */
void mae_featset_add(mae_featset *fs, mae_record *rec, const char *name, const char *what);
void mae_featset_free(mae_featset *fs);

/* Convert n elements of dtype dt at src (any alignment) to float. Returns 0, or -1 for a
 * non-numeric dtype. */
int mae_to_float(float *dst, const void *src, enum mae_dtype dt, int64_t n);

/* Per-feature mean of x [n,d], accumulated in double. */
void mae_column_mean(const float *x, int64_t n, int64_t d, double *mean);
/* Per-feature mean and 1/sqrt(var + eps) of x [n,d] (population variance, as BatchNorm). */
void mae_standardize_fit(const float *x, int64_t n, int64_t d, double eps, float *mean, float *istd);
void mae_standardize_apply(float *x, int64_t n, int64_t d, const float *mean, const float *istd);

/* Scale every row of x [n,d] to unit L2 norm (all-zero rows stay zero). */
void mae_l2_normalize(float *x, int64_t n, int64_t d);

/* The k best of s[0..n) (larger is better; equal values: lower index is better), best first,
 * into idx[0..k) and, if val is not NULL, val[0..k). k <= n. */
void mae_topk(const float *s, int64_t n, int k, int32_t *idx, float *val);

typedef struct mae_knn_opts {
	int plain;         /* 1: L2 distance on raw features + majority vote; 0: DINO weighted */
	float T;           /* temperature of the weights (0.07) */
	int standardize;   /* 1: each feature to zero mean, unit variance by the train set's
	                    * statistics (eps 1e-6), before anything else */
	int64_t pca;       /* > 0: then project both sets on the train set's first `pca` principal
	                    * components, whitened (pca.h); 0: off */
	uint64_t seed;     /* of the PCA's subspace iteration */
	int64_t chunk;     /* test rows per sgemm (0: chosen from the train size) */
} mae_knn_opts;

/* Classify every test sample for each k in ks[0..nk): pred[j*test->n + i] is the class of test
 * sample i with ks[j] neighbours. Standardizes and whitens (if asked) and normalizes (unless
 * plain) the features; the sets are left changed (free them after).
 * nclass classes are scored (at least train->nclass). ks[j] <= train->n. */
void mae_knn_classify(mae_featset *train, mae_featset *test, const int *ks, int nk, int nclass,
                      const mae_knn_opts *o, int32_t *pred);
/* The same for several variants of the one pair of sets, o[0..no) (no two alike in standardize
 * and pca): pred[(v*nk + j)*test->n + i] is what mae_knn_classify with o[v] gives, bit for bit.
 * What variants have in common is done once: the train set's standardization statistics, and
 * the standardized sets, which the standardized variant and every whitening of them use.
 * Memory besides the sets: the standardized sets are a copy only when the features as they are
 * (standardize 0, pca 0) are asked too, as they are answered last, in place; a whitening holds
 * its projections [n, pca] and the d x d covariance while it runs. The sets are left changed. */
void mae_knn_classify_many(mae_featset *train, mae_featset *test, const int *ks, int nk, int nclass,
                           const mae_knn_opts *o, int no, int32_t *pred);
/* The same by brute force: double-precision dot products and a full sort (for the tests).
 * Expects the features already normalized when !plain (it does not normalize). */
void mae_knn_classify_ref(const mae_featset *train, const mae_featset *test, const int *ks, int nk,
                          int nclass, const mae_knn_opts *o, int32_t *pred);

#endif
