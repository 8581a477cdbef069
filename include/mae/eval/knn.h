/* knn.h: k-nearest-neighbour classification of frozen features (feature sets: features.h).
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
#include "mae/eval/features.h"

#define MAE_KNN_MAX_K       100000

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
