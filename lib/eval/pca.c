/* pca.c: leading principal components and the whitening projection (see pca.h). */
#include "mae/eval/pca.h"
#include "mae/eval/features.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK, as OpenBLAS exports it (Fortran calling convention: every argument by reference,
 * column-major, and the hidden lengths of the character arguments last). */
void ssyev_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w, float *work,
            const int *lwork, int *info, size_t ljobz, size_t luplo);
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work, const int *lwork,
             int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *work,
             const int *lwork, int *info);

#define CHUNK_ROWS 4096   /* rows centred at a time while forming the covariance */

/* Eigen-decomposition of the symmetric n x n matrix a (column-major, overwritten by the
 * eigenvectors, one per column), eigenvalues ascending in w. */
static int eigh(float *a, int n, float *w)
{
	int lwork = -1, info = 0;
	float q;
	ssyev_("V", "U", &n, a, &n, w, &q, &lwork, &info, 1, 1);
	lwork = (int)q + 1;
	float *work = mae_malloc((size_t)lwork * sizeof *work);
	ssyev_("V", "U", &n, a, &n, w, work, &lwork, &info, 1, 1);
	free(work);
	return info;
}

/* Orthonormalize the l columns of q (d x l, column-major) in place: Householder QR. */
static int orthonormalize(float *q, int d, int l)
{
	int lwork = -1, info = 0;
	float w1, w2;
	float *tau = mae_malloc((size_t)l * sizeof *tau);
	sgeqrf_(&d, &l, q, &d, tau, &w1, &lwork, &info);
	sorgqr_(&d, &l, &l, q, &d, tau, &w2, &lwork, &info);
	lwork = (int)(w1 > w2 ? w1 : w2) + 1;
	float *work = mae_malloc((size_t)lwork * sizeof *work);
	sgeqrf_(&d, &l, q, &d, tau, work, &lwork, &info);
	if (info == 0)
		sorgqr_(&d, &l, &l, q, &d, tau, work, &lwork, &info);
	free(work);
	free(tau);
	return info;
}

/* c [d,d] = (x - mean)^T (x - mean) / n, both triangles; centred a chunk of rows at a time, so
 * a large mean does not cancel away the variance in float */
static void covariance(float *c, const float *x, int64_t n, int64_t d, const float *mean)
{
	float *buf = mae_malloc((size_t)CHUNK_ROWS * (size_t)d * sizeof *buf);
	memset(c, 0, (size_t)d * (size_t)d * sizeof *c);
	for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
		int64_t rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
		for (int64_t i = 0; i < rows; i++)
			for (int64_t j = 0; j < d; j++)
				buf[i * d + j] = x[(r0 + i) * d + j] - mean[j];
		cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)rows, 1.0f / (float)n, buf, (int)d, 1.0f,
		            c, (int)d);
	}
	free(buf);
	for (int64_t i = 0; i < d; i++)   /* row-major upper = column-major lower: mirror it */
		for (int64_t j = 0; j < i; j++)
			c[i * d + j] = c[j * d + i];
}

/* The l leading eigenvectors of c (d x d) approximately: subspace iteration from a seeded
 * Gaussian block, then Rayleigh-Ritz. On return v (d x l, column-major) holds them, largest
 * eigenvalue first, and lam their eigenvalues. */
static int subspace(const float *c, int d, int l, uint64_t seed, float *v, float *lam)
{
	float *q = mae_malloc((size_t)d * l * sizeof *q), *y = mae_malloc((size_t)d * l * sizeof *y);
	mae_rng r;
	mae_rng_seed(&r, seed, 0, 0, "pca");
	for (size_t i = 0; i < (size_t)d * l; i++)
		q[i] = (float)mae_rng_normal(&r);
	int info = orthonormalize(q, d, l);
	for (int it = 0; it < MAE_PCA_ITERS && !info; it++) {
		cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, l, d, 1.0f, c, d, q, d, 0.0f, y, d);
		memcpy(q, y, (size_t)d * l * sizeof *q);
		info = orthonormalize(q, d, l);
	}
	float *t = mae_malloc((size_t)l * l * sizeof *t), *w = mae_malloc((size_t)l * sizeof *w);
	if (!info) {   /* t = q^T c q, its eigenvectors rotate q onto the Ritz vectors */
		cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, l, d, 1.0f, c, d, q, d, 0.0f, y, d);
		cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, l, l, d, 1.0f, q, d, y, d, 0.0f, t, l);
		info = eigh(t, l, w);
	}
	if (!info)
		for (int j = 0; j < l; j++) {   /* ascending from ssyev: column l-1-j is the j-th largest */
			cblas_sgemv(CblasColMajor, CblasNoTrans, d, l, 1.0f, q, d, t + (size_t)(l - 1 - j) * l, 1, 0.0f,
			            v + (size_t)j * d, 1);
			lam[j] = w[l - 1 - j];
		}
	free(q);
	free(y);
	free(t);
	free(w);
	return info;
}

int mae_pca_fit(mae_pca *p, const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed, char *err,
                size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->d = d;
	p->k = k;
	p->mean = mae_malloc((size_t)d * sizeof *p->mean);
	p->w = mae_malloc((size_t)k * (size_t)d * sizeof *p->w);
	p->lambda = mae_malloc((size_t)k * sizeof *p->lambda);
	double *s = mae_malloc((size_t)d * sizeof *s);
	mae_column_mean(x, n, d, s);
	for (int64_t j = 0; j < d; j++)
		p->mean[j] = (float)s[j];
	free(s);
	float *c = mae_malloc((size_t)d * (size_t)d * sizeof *c);
	covariance(c, x, n, d, p->mean);
	int info;
	if (d <= MAE_PCA_DIRECT) {
		float *w = mae_malloc((size_t)d * sizeof *w);
		info = eigh(c, (int)d, w);   /* c becomes the eigenvectors, ascending */
		for (int64_t j = 0; !info && j < k; j++) {
			memcpy(p->w + j * d, c + (d - 1 - j) * d, (size_t)d * sizeof *p->w);
			p->lambda[j] = w[d - 1 - j];
		}
		free(w);
	} else {
		int64_t l = 2 * k < d ? 2 * k : d;
		float *v = mae_malloc((size_t)l * (size_t)d * sizeof *v), *lam = mae_malloc((size_t)l * sizeof *lam);
		info = subspace(c, (int)d, (int)l, seed, v, lam);
		if (!info) {
			memcpy(p->w, v, (size_t)k * (size_t)d * sizeof *p->w);
			memcpy(p->lambda, lam, (size_t)k * sizeof *p->lambda);
		}
		free(v);
		free(lam);
	}
	free(c);
	if (info) {
		snprintf(err, errlen, "PCA of %lld features: LAPACK failed (info %d)", (long long)d, info);
		mae_pca_free(p);
		return -1;
	}
	double eps = 1e-6 * (p->lambda[0] > 0 ? p->lambda[0] : 1);
	for (int64_t j = 0; j < k; j++) {
		float s1 = (float)(1 / sqrt((p->lambda[j] > 0 ? p->lambda[j] : 0) + eps));
		for (int64_t q = 0; q < d; q++)
			p->w[j * d + q] *= s1;
	}
	return 0;
}

void mae_pca_apply(const mae_pca *p, const float *x, int64_t n, float *out)
{
	int64_t d = p->d, k = p->k;
	float *bias = mae_malloc((size_t)k * sizeof *bias);   /* w mean, taken off every row */
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)d, 1.0f, p->w, (int)d, p->mean, 1, 0.0f, bias, 1);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0f, x, (int)d, p->w, (int)d, 0.0f,
	            out, (int)k);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < k; j++)
			out[i * k + j] -= bias[j];
	free(bias);
}

void mae_pca_free(mae_pca *p)
{
	free(p->mean);
	free(p->w);
	free(p->lambda);
	memset(p, 0, sizeof *p);
}
