/* kernels_head.c: the kernels of a classification branch on the encoder (SupMAE, METHODS
 * 5.7): the mean pool of the patch tokens, BatchNorm1d in training mode and the cross-entropy
 * over a temperature. The branch is small (B rows of a few thousand columns): plain loops,
 * sums in double in a fixed order, so every run and every process gives the same bits. */
#include <math.h>
#include <string.h>

#include "mae/kernels/kernels.h"

void mae_mean_pool_forward(float *out, const float *x, int S, int T, int t0, int C)
{
	int n = T - t0;
	for (int s = 0; s < S; s++)
		for (int c = 0; c < C; c++) {
			double a = 0;
			for (int t = t0; t < T; t++)
				a += x[((size_t)s * T + t) * C + c];
			out[(size_t)s * C + c] = n > 0 ? (float)(a / n) : 0.0f;
		}
}

void mae_mean_pool_backward(float *dx, const float *dout, int S, int T, int t0, int C)
{
	if (T <= t0)
		return;
	float k = 1.0f / (float)(T - t0);
	for (int s = 0; s < S; s++)
		for (int t = t0; t < T; t++) {
			float *d = dx + ((size_t)s * T + t) * C;
			const float *g = dout + (size_t)s * C;
			for (int c = 0; c < C; c++)
				d[c] += g[c] * k;
		}
}

void mae_batchnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, int R, int C, float eps)
{
	for (int c = 0; c < C; c++) {
		double m = 0, v = 0;
		for (int r = 0; r < R; r++)
			m += inp[(size_t)r * C + c];
		m /= R;
		for (int r = 0; r < R; r++) {
			double d = inp[(size_t)r * C + c] - m;
			v += d * d;
		}
		v /= R;   /* biased: what normalises in training mode (torch) */
		mean[c] = (float)m;
		rstd[c] = (float)(1.0 / sqrt(v + eps));
	}
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			size_t i = (size_t)r * C + c;
			out[i] = (inp[i] - mean[c]) * rstd[c] * w[c] + b[c];
		}
}

void mae_batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                            const float *w, const float *mean, const float *rstd, int R, int C)
{
	for (int c = 0; c < C; c++) {
		double gm = 0, gxm = 0, sdw = 0, sdb = 0;
		for (int r = 0; r < R; r++) {
			size_t i = (size_t)r * C + c;
			double xhat = (inp[i] - mean[c]) * rstd[c], dy = dout[i];
			gm += dy * w[c];
			gxm += dy * w[c] * xhat;
			sdw += dy * xhat;
			sdb += dy;
		}
		gm /= R, gxm /= R;
		dw[c] += (float)sdw;
		db[c] += (float)sdb;
		for (int r = 0; r < R; r++) {
			size_t i = (size_t)r * C + c;
			double xhat = (inp[i] - mean[c]) * rstd[c];
			dinp[i] += (float)(((double)dout[i] * w[c] - gm - xhat * gxm) * rstd[c]);
		}
	}
}

float mae_crossentropy_forward(float *probs, const float *logits, const int32_t *labels, int R, int K,
                               float temp)
{
	double total = 0;
	for (int r = 0; r < R; r++) {
		const float *z = logits + (size_t)r * K;
		float *p = probs + (size_t)r * K;
		double mx = z[0] / (double)temp, sum = 0;
		for (int k = 1; k < K; k++)
			mx = fmax(mx, z[k] / (double)temp);
		for (int k = 0; k < K; k++)
			sum += exp(z[k] / (double)temp - mx);
		for (int k = 0; k < K; k++)
			p[k] = (float)(exp(z[k] / (double)temp - mx) / sum);
		/* -log p[label], from the log-sum-exp rather than the rounded probability */
		total += log(sum) + mx - z[labels[r]] / (double)temp;
	}
	return (float)(total / R);
}

void mae_crossentropy_backward(float *dlogits, const float *probs, const int32_t *labels, int R, int K,
                               float temp, float dloss)
{
	float k = (float)(dloss / ((double)R * temp));
	for (int r = 0; r < R; r++) {
		float *d = dlogits + (size_t)r * K;
		const float *p = probs + (size_t)r * K;
		for (int j = 0; j < K; j++)
			d[j] += k * (p[j] - (j == labels[r]));
	}
}

/* out = x / max(||x||, 1e-12) per row; the clamped norms to nrm if given */
static void l2_rows(float *out, float *nrm, const float *x, int R, int C)
{
	for (int r = 0; r < R; r++) {
		double s = 0;
		for (int c = 0; c < C; c++)
			s += (double)x[(size_t)r * C + c] * x[(size_t)r * C + c];
		double n = fmax(sqrt(s), 1e-12);
		if (nrm)
			nrm[r] = (float)n;
		for (int c = 0; c < C; c++)
			out[(size_t)r * C + c] = (float)(x[(size_t)r * C + c] / n);
	}
}

float mae_infonce_forward(float *qn, float *qnorm, float *kn, float *probs, const float *q, const float *k,
                          int R, int C, float temp)
{
	l2_rows(qn, qnorm, q, R, C);
	l2_rows(kn, NULL, k, R, C);
	double total = 0;
	for (int r = 0; r < R; r++) {
		float *p = probs + (size_t)r * R;
		double mx = -INFINITY, sum = 0, pos = 0;
		for (int j = 0; j < R; j++) {
			double z = 0;
			for (int c = 0; c < C; c++)
				z += (double)qn[(size_t)r * C + c] * kn[(size_t)j * C + c];
			z /= temp;
			p[j] = (float)z;   /* the logit, for now */
			mx = fmax(mx, z);
			if (j == r)
				pos = z;
		}
		for (int j = 0; j < R; j++)
			sum += exp(p[j] - mx);
		for (int j = 0; j < R; j++)
			p[j] = (float)(exp(p[j] - mx) / sum);
		total += log(sum) + mx - pos;
	}
	return (float)(total / R);
}

/* column c of sum_j (probs_rj - [r == j]) kn_j */
static double infonce_col(const float *p, const float *kn, int r, int R, int C, int c)
{
	double a = 0;
	for (int j = 0; j < R; j++)
		a += (p[j] - (j == r)) * (double)kn[(size_t)j * C + c];
	return a;
}

void mae_infonce_backward(float *dq, const float *qn, const float *qnorm, const float *kn, const float *probs,
                          int R, int C, float temp, float dloss)
{
	double k = (double)dloss / ((double)R * temp);
	for (int r = 0; r < R; r++) {
		const float *p = probs + (size_t)r * R;
		const float *u = qn + (size_t)r * C;
		double dot = 0;   /* qn_r . dqn_r, then dqn_r again column by column (no scratch) */
		for (int c = 0; c < C; c++)
			dot += k * infonce_col(p, kn, r, R, C, c) * u[c];
		for (int c = 0; c < C; c++)
			dq[(size_t)r * C + c] += (float)((k * infonce_col(p, kn, r, R, C, c) - u[c] * dot) / qnorm[r]);
	}
}
