/* kernels_ref.c: the kernel tests' oracles (see kernels_ref.h). */
#include "kernels_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* softmax of one row in double, from the definition (max subtracted) */
static void softmax_row(float *row, int n)
{
	double mx = row[0], sum = 0;
	for (int j = 1; j < n; j++)
		mx = row[j] > mx ? row[j] : mx;
	for (int j = 0; j < n; j++)
		sum += exp((double)row[j] - mx);
	for (int j = 0; j < n; j++)
		row[j] = (float)(exp((double)row[j] - mx) / sum);
}

void mae_linear_forward_naive(float *out, const float *inp, const float *w, const float *bias,
                          int R, int C, int OC)
{
	for (int r = 0; r < R; r++)
		for (int o = 0; o < OC; o++) {
			float acc = bias ? bias[o] : 0.0f;
			for (int c = 0; c < C; c++)
				acc += inp[(size_t)r * C + c] * w[(size_t)o * C + c];
			out[(size_t)r * OC + o] = acc;
		}
}

void mae_linear_backward_naive(float *dinp, float *dw, float *dbias, const float *dout,
                           const float *inp, const float *w, int R, int C, int OC)
{
	for (int r = 0; r < R; r++)
		for (int o = 0; o < OC; o++) {
			float d = dout[(size_t)r * OC + o];
			for (int c = 0; c < C; c++) {
				if (dinp)
					dinp[(size_t)r * C + c] += d * w[(size_t)o * C + c];
				if (dw)
					dw[(size_t)o * C + c] += d * inp[(size_t)r * C + c];
			}
			if (dbias)
				dbias[o] += d;
		}
}

void mae_patch_embed_forward_naive(float *out, const float *patches, const float *w,
                               const float *bias, int R, int p, int c, int D)
{
	/* the convolution as written: output d of patch r sums w[d,ch,a,b] * pixel(a,b,ch) */
	int P = p * p * c;
	for (int r = 0; r < R; r++)
		for (int d = 0; d < D; d++) {
			float acc = bias[d];
			for (int ch = 0; ch < c; ch++)
				for (int a = 0; a < p; a++)
					for (int b = 0; b < p; b++)
						acc += w[(size_t)d * P + ch * p * p + a * p + b] *
						       patches[(size_t)r * P + (a * p + b) * c + ch];
			out[(size_t)r * D + d] = acc;
		}
}

void mae_attention_forward_naive(float *out, float *att, const float *qkv, const float *rpe,
                             const int *bucket, int S, int T, int C, int NH, int NB)
{
	int HS = C / NH;
	float scale = 1.0f / sqrtf((float)HS);
	for (int s = 0; s < S; s++)
		for (int h = 0; h < NH; h++) {
			float *a = att + ((size_t)s * NH + h) * T * T;
			for (int i = 0; i < T; i++) {
				const float *qi = qkv + ((size_t)s * T + i) * 3 * C + h * HS;
				for (int j = 0; j < T; j++) {
					const float *kj = qkv + ((size_t)s * T + j) * 3 * C + C + h * HS;
					float dot = 0.0f, rp = 0.0f;
					for (int d = 0; d < HS; d++)
						dot += qi[d] * kj[d];
					if (rpe)
						for (int d = 0; d < HS; d++)
							rp += qi[d] * rpe[(size_t)d * NB + bucket[(size_t)i * T + j]];
					a[(size_t)i * T + j] = dot * scale + rp;
				}
			}
			for (int i = 0; i < T; i++)
				softmax_row(a + (size_t)i * T, T);
			for (int i = 0; i < T; i++)
				for (int d = 0; d < HS; d++) {
					float acc = 0.0f;
					for (int j = 0; j < T; j++)
						acc += a[(size_t)i * T + j] *
						       qkv[((size_t)s * T + j) * 3 * C + 2 * C + h * HS + d];
					out[((size_t)s * T + i) * C + h * HS + d] = acc;
				}
		}
}

void mae_attention_backward_naive(float *dqkv, float *drpe, const float *dout, const float *qkv,
                              const float *att, const float *rpe, const int *bucket,
                              int S, int T, int C, int NH, int NB)
{
	int HS = C / NH;
	float scale = 1.0f / sqrtf((float)HS);
	for (int s = 0; s < S; s++)
		for (int h = 0; h < NH; h++) {
			const float *a = att + ((size_t)s * NH + h) * T * T;
#define Q(i, d) qkv[((size_t)s * T + (i)) * 3 * C + h * HS + (d)]
#define K(i, d) qkv[((size_t)s * T + (i)) * 3 * C + C + h * HS + (d)]
#define V(i, d) qkv[((size_t)s * T + (i)) * 3 * C + 2 * C + h * HS + (d)]
#define DQ(i, d) dqkv[((size_t)s * T + (i)) * 3 * C + h * HS + (d)]
#define DK(i, d) dqkv[((size_t)s * T + (i)) * 3 * C + C + h * HS + (d)]
#define DV(i, d) dqkv[((size_t)s * T + (i)) * 3 * C + 2 * C + h * HS + (d)]
#define DO(i, d) dout[((size_t)s * T + (i)) * C + h * HS + (d)]
			for (int i = 0; i < T; i++) {
				float dp[T > 0 ? T : 1];
				float dot = 0.0f;
				for (int j = 0; j < T; j++) {
					float acc = 0.0f;
					for (int d = 0; d < HS; d++)
						acc += DO(i, d) * V(j, d);
					dp[j] = acc;
					dot += acc * a[(size_t)i * T + j];
				}
				for (int j = 0; j < T; j++) {
					float p = a[(size_t)i * T + j];
					float ds = p * (dp[j] - dot);
					for (int d = 0; d < HS; d++) {
						DV(j, d) += p * DO(i, d);
						DQ(i, d) += scale * ds * K(j, d);
						DK(j, d) += scale * ds * Q(i, d);
						if (rpe) {
							int b = bucket[(size_t)i * T + j];
							DQ(i, d) += ds * rpe[(size_t)d * NB + b];
							drpe[(size_t)d * NB + b] += ds * Q(i, d);
						}
					}
				}
			}
#undef Q
#undef K
#undef V
#undef DQ
#undef DK
#undef DV
#undef DO
		}
}

void mae_dft2_forward_naive(int h, int w, const float *x, double *re, double *im)
{
	for (int u = 0; u < h; u++)
		for (int v = 0; v < w; v++) {
			double sr = 0, si = 0;
			for (int y = 0; y < h; y++)
				for (int xx = 0; xx < w; xx++) {
					double ph = -2.0 * M_PI * ((double)((long)u * y % h) / h +
					                           (double)((long)v * xx % w) / w);
					sr += x[y * w + xx] * cos(ph);
					si += x[y * w + xx] * sin(ph);
				}
			re[u * w + v] = sr;
			im[u * w + v] = si;
		}
}

void mae_gelu_ref(float *out, const float *inp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (float)(0.5 * inp[i] * (1.0 + erf(inp[i] / sqrt(2.0))));
}

void mae_gelu_backward_ref(float *dinp, const float *inp, const float *dout, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double x = inp[i], cdf = 0.5 * (1.0 + erf(x / sqrt(2.0))), pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
		dinp[i] += (float)(dout[i] * (cdf + x * pdf));
	}
}

void mae_dft2_inverse_real_naive(int h, int w, const double *re, const double *im, double *x)
{
	for (int y = 0; y < h; y++)
		for (int xx = 0; xx < w; xx++) {
			double acc = 0;
			for (int u = 0; u < h; u++)
				for (int v = 0; v < w; v++) {
					double a = 2 * M_PI * ((double)u * y / h + (double)v * xx / w);
					acc += re[u * w + v] * cos(a) - im[u * w + v] * sin(a);
				}
			x[y * w + xx] = acc / (h * w);
		}
}
