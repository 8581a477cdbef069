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
