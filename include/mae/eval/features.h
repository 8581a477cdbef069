/* features.h: frozen-feature evaluation sets, as k-NN (knn.h), PCA (pca.h) and the linear
 * probe (probe.h) read them.
 *
 * A feature set is every sample of a stream, gathered once: a feature tensor of any numeric
 * dtype and shape [B,...] flattened to D floats per sample, and the `label` I32 [B] tensor.
 * mae-knn(1) and mae-probe(1) read their train and test streams into one each per tensor, in
 * one pass over each stream. */
#ifndef MAE_FEATURES_H
#define MAE_FEATURES_H

#include <stdint.h>
#include "mae/stream/stream.h"

#define MAE_KNN_MAX_CLASSES 100000   /* labels must be in [0, this) */

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

#endif
