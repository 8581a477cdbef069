/* probe.h: a linear probe on frozen features (METHODS 6.2, the CPU recipe).
 *
 * The features are standardized with the train set's mean and standard deviation (what MAE's
 * BatchNorm without affine does), then a softmax regression W [C,D], b [C] is trained with
 * mini-batch SGD, momentum 0.9, a cosine learning-rate schedule and optional weight decay.
 * Mini-batches are matrix products (sgemm); the order of samples is a seeded shuffle per epoch,
 * so a run is reproducible. */
#ifndef MAE_PROBE_H
#define MAE_PROBE_H

#include <stdint.h>
#include "mae/eval/features.h"

typedef struct mae_probe_opts {
	int epochs;        /* passes over the train set (100) */
	int batch;         /* samples per step (256) */
	double lr;         /* peak learning rate (0.03), cosine to 0 over all steps */
	double momentum;   /* 0.9 */
	double wd;         /* weight decay (0) */
	double eps;        /* added to the variance when standardizing (1e-6) */
	uint64_t seed;     /* shuffle seed */
	int verbose;       /* loss and train accuracy per epoch on stderr */
} mae_probe_opts;

typedef struct mae_probe {
	int64_t d;
	int nclass;
	float *mean, *istd;  /* [d]: x' = (x - mean) * istd */
	float *w;            /* [nclass, d] */
	float *b;            /* [nclass] */
	double loss;         /* mean cross-entropy of the last epoch */
} mae_probe;

void mae_probe_opts_init(mae_probe_opts *o);
/* Fit the standardization on train, standardize train->x in place, and train the probe. */
void mae_probe_train(mae_probe *p, mae_featset *train, int nclass, const mae_probe_opts *o);
/* Predict classes of raw (unstandardized) features x [n,d]; x is standardized in place. */
void mae_probe_predict(const mae_probe *p, float *x, int64_t n, int32_t *pred);
void mae_probe_free(mae_probe *p);
/* A trained probe as a safetensors file: tensors mean, istd [d], weight [nclass, d], bias
 * [nclass] (F32), metadata format "maepipe-probe" and `feature` (the tensor it was trained
 * on). Load checks the shapes agree. 0, or -1 with err. */
int mae_probe_save(const mae_probe *p, const char *feature, const char *path, char *err, size_t errn);
int mae_probe_load(mae_probe *p, const char *path, char *err, size_t errn);

#endif
