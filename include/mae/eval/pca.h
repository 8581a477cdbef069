/* pca.h: principal components of a feature set, for whitening before k-NN (mae-knn --pca).
 *
 * mae_pca_fit finds the k leading eigenvectors of the covariance C = (x - mean)^T (x - mean) / n
 * of the train features and returns the whitening projection: component j scaled by
 * 1 / sqrt(lambda_j + eps), eps = 1e-6 lambda_0, so the projected train set has (about) unit
 * variance in every kept direction. C is formed once (ssyrk). Up to MAE_PCA_DIRECT features its
 * eigenvectors come straight from LAPACK's ssyev; above that (the whole encoder output, 6400
 * features) from a seeded block subspace iteration on C (2k vectors, orthonormalized by QR
 * each time) and a Rayleigh-Ritz step, which needs a few products of C rather than a full
 * tridiagonal reduction of a 6400 x 6400 matrix. */
#ifndef MAE_PCA_H
#define MAE_PCA_H

#include <stddef.h>
#include <stdint.h>

#define MAE_PCA_DIRECT 1024   /* features up to which C is diagonalized whole */
#define MAE_PCA_ITERS 10      /* subspace iterations above that */

typedef struct mae_pca {
	int64_t d, k;      /* input features, kept components */
	float *mean;       /* [d] */
	float *w;          /* [k][d]: the whitening projection, one component per row */
	float *lambda;     /* [k]: the eigenvalues, largest first */
} mae_pca;

/* Fit on x [n,d] (read only), k <= d, seed for the subspace iteration's start. Returns 0, or
 * -1 with a message in err when LAPACK fails. */
int mae_pca_fit(mae_pca *p, const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed, char *err,
                size_t errlen);
/* out [n,k] = (x [n,d] - mean) projected and whitened. x is left as it was. */
void mae_pca_apply(const mae_pca *p, const float *x, int64_t n, float *out);
void mae_pca_free(mae_pca *p);

#endif
