/* kernels.c: the dense layers of the ViT (linear, LayerNorm, GELU, residual), MAE's patch
 * embedding and position embedding, and the token plumbing (cls, gather, mask tokens).
 *
 * Attention lives in kernels_attention.c, the losses in kernels_loss.c, the thread pool in
 * kernels_threads.c. Conventions (outputs first, shape comments, backward accumulates) are
 * described in include/mae/kernels.h. */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "mae/kernels.h"

/* ---------------------------------------------------------------------------------------
 * Linear (https://pytorch.org/docs/stable/generated/torch.nn.Linear.html) */

void linear_forward_naive(float *out, const float *inp, const float *w, const float *bias,
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

void linear_forward(float *out, const float *inp, const float *w, const float *bias,
                    int R, int C, int OC)
{
	float beta = 0.0f;
	if (bias) {
		/* the bias rides in as the GEMM's C operand (beta = 1): one pass over out, not two */
		for (int r = 0; r < R; r++)
			memcpy(out + (size_t)r * OC, bias, (size_t)OC * sizeof(float));
		beta = 1.0f;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, OC, C,
	            1.0f, inp, C, w, C, beta, out, OC);
}

void linear_backward_naive(float *dinp, float *dw, float *dbias, const float *dout,
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

void linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, int R, int C, int OC)
{
	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, OC,
		            1.0f, dout, OC, w, C, 1.0f, dinp, C);
	if (dw)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, R,
		            1.0f, dout, OC, inp, C, 1.0f, dw, C);
	if (dbias)
		for (int r = 0; r < R; r++) {
			const float *d = dout + (size_t)r * OC;
			for (int o = 0; o < OC; o++)
				dbias[o] += d[o];
		}
}

/* ---------------------------------------------------------------------------------------
 * LayerNorm (https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html) */

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int R, int C, float eps)
{
	for (int r = 0; r < R; r++) {
		const float *x = inp + (size_t)r * C;
		float *y = out + (size_t)r * C;
		/* two passes (mean, then squared deviations): no cancellation for large means */
		float m = 0.0f;
		for (int c = 0; c < C; c++)
			m += x[c];
		m /= C;
		float v = 0.0f;
		for (int c = 0; c < C; c++) {
			float d = x[c] - m;
			v += d * d;
		}
		v /= C;
		float s = 1.0f / sqrtf(v + eps);
		for (int c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
		mean[r] = m;
		rstd[r] = s;
	}
}

void layernorm_recompute(float *out, const float *inp, const float *mean, const float *rstd,
                         const float *w, const float *b, int R, int C)
{
	for (int r = 0; r < R; r++) {
		const float *x = inp + (size_t)r * C;
		float *y = out + (size_t)r * C;
		float m = mean[r], s = rstd[r];
		for (int c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
	}
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int R, int C)
{
	for (int r = 0; r < R; r++) {
		const float *dy = dout + (size_t)r * C;
		const float *x = inp + (size_t)r * C;
		float *dx = dinp + (size_t)r * C;
		float m = mean[r], s = rstd[r];
		/* dx = (g - mean(g) - xhat mean(g xhat)) * rstd, with g = dy * w */
		float gmean = 0.0f, gxmean = 0.0f;
		for (int c = 0; c < C; c++) {
			float xhat = (x[c] - m) * s;
			float g = dy[c] * w[c];
			gmean += g;
			gxmean += g * xhat;
		}
		gmean /= C;
		gxmean /= C;
		for (int c = 0; c < C; c++) {
			float xhat = (x[c] - m) * s;
			float g = dy[c] * w[c];
			dx[c] += (g - gmean - xhat * gxmean) * s;
			dw[c] += dy[c] * xhat;
			db[c] += dy[c];
		}
	}
}

/* ---------------------------------------------------------------------------------------
 * GELU, exact (https://pytorch.org/docs/stable/generated/torch.nn.GELU.html), and residual */

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

void gelu_forward(float *out, const float *inp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
	}
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
		float pdf = INV_SQRT2PI * expf(-0.5f * x * x);
		dinp[i] += dout[i] * (cdf + x * pdf);
	}
}

void residual_forward(float *out, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + b[i];
}

void residual_backward(float *da, float *db, const float *dout, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		da[i] += dout[i];
		db[i] += dout[i];
	}
}

/* ---------------------------------------------------------------------------------------
 * Patch embedding: MAE's Conv2d with kernel = stride = p, on patchified input */

/* wperm[d, (a*p + b)*c + ch] = w[d, ch, a, b]: the conv weight in the patches' (a,b,c) order */
static void permute_conv_weight(float *wperm, const float *w, int p, int c, int D)
{
	int P = p * p * c;
	for (int d = 0; d < D; d++)
		for (int ch = 0; ch < c; ch++)
			for (int a = 0; a < p; a++)
				for (int b = 0; b < p; b++)
					wperm[(size_t)d * P + (a * p + b) * c + ch] =
					    w[(size_t)d * P + ch * p * p + a * p + b];
}

void patch_embed_forward(float *out, float *wperm, const float *patches, const float *w,
                         const float *bias, int R, int p, int c, int D)
{
	permute_conv_weight(wperm, w, p, c, D);
	linear_forward(out, patches, wperm, bias, R, p * p * c, D);
}

void patch_embed_forward_naive(float *out, const float *patches, const float *w,
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

void patch_embed_backward(float *dw, float *dbias, float *dwperm, const float *dout,
                          const float *patches, int R, int p, int c, int D)
{
	int P = p * p * c;
	memset(dwperm, 0, (size_t)D * P * sizeof(float));
	linear_backward(NULL, dwperm, dbias, dout, patches, NULL, R, P, D);
	for (int d = 0; d < D; d++)
		for (int ch = 0; ch < c; ch++)
			for (int a = 0; a < p; a++)
				for (int b = 0; b < p; b++)
					dw[(size_t)d * P + ch * p * p + a * p + b] +=
					    dwperm[(size_t)d * P + (a * p + b) * c + ch];
}

/* ---------------------------------------------------------------------------------------
 * 2-D sin-cos position embedding (facebookresearch/mae util/pos_embed.py) */

void pos_embed_sincos(float *out, int D, int gh, int gw, int cls)
{
	int Q = D / 4;
	if (cls)
		memset(out, 0, (size_t)D * sizeof(float));
	float *e = out + (cls ? D : 0);
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			float *row = e + ((size_t)i * gw + j) * D;
			for (int k = 0; k < Q; k++) {
				/* numpy computes this in float64 and the model casts to float32 */
				double omega = 1.0 / pow(10000.0, (double)k / Q);
				row[k] = (float)sin(j * omega);
				row[Q + k] = (float)cos(j * omega);
				row[2 * Q + k] = (float)sin(i * omega);
				row[3 * Q + k] = (float)cos(i * omega);
			}
		}
}

/* ---------------------------------------------------------------------------------------
 * Token plumbing */

void prepend_cls_forward(float *out, const float *x, const float *cls, int S, int T, int C)
{
	for (int s = 0; s < S; s++) {
		float *o = out + (size_t)s * (T + 1) * C;
		memcpy(o, cls, (size_t)C * sizeof(float));
		memcpy(o + C, x + (size_t)s * T * C, (size_t)T * C * sizeof(float));
	}
}

void prepend_cls_backward(float *dx, float *dcls, const float *dout, int S, int T, int C)
{
	for (int s = 0; s < S; s++) {
		const float *d = dout + (size_t)s * (T + 1) * C;
		for (int c = 0; c < C; c++)
			dcls[c] += d[c];
		if (dx) {
			float *o = dx + (size_t)s * T * C;
			for (size_t i = 0; i < (size_t)T * C; i++)
				o[i] += d[C + i];
		}
	}
}

void gather_rows_forward(float *out, const float *x, const int *idx, int S, int T, int Tin, int C)
{
	for (int s = 0; s < S; s++)
		for (int t = 0; t < T; t++)
			memcpy(out + ((size_t)s * T + t) * C,
			       x + ((size_t)s * Tin + idx[(size_t)s * T + t]) * C, (size_t)C * sizeof(float));
}

void gather_rows_backward(float *dx, const float *dout, const int *idx, int S, int T, int Tin, int C)
{
	for (int s = 0; s < S; s++)
		for (int t = 0; t < T; t++) {
			float *o = dx + ((size_t)s * Tin + idx[(size_t)s * T + t]) * C;
			const float *d = dout + ((size_t)s * T + t) * C;
			for (int c = 0; c < C; c++)
				o[c] += d[c];
		}
}

void mask_tokens_forward(float *out, const float *x, const uint8_t *mask, const float *token,
                         int R, int C)
{
	for (int r = 0; r < R; r++)
		memcpy(out + (size_t)r * C, mask[r] ? token : x + (size_t)r * C, (size_t)C * sizeof(float));
}

void mask_tokens_backward(float *dx, float *dtoken, const float *dout, const uint8_t *mask,
                          int R, int C)
{
	for (int r = 0; r < R; r++) {
		const float *d = dout + (size_t)r * C;
		float *o = mask[r] ? dtoken : dx ? dx + (size_t)r * C : NULL;
		if (o)
			for (int c = 0; c < C; c++)
				o[c] += d[c];
	}
}

void unshuffle_forward(float *out, const float *x, const float *token, const uint8_t *mask,
                       int S, int N, int Nk, int C)
{
	for (int s = 0; s < S; s++) {
		const float *xs = x + (size_t)s * (1 + Nk) * C;
		float *o = out + (size_t)s * (1 + N) * C;
		memcpy(o, xs, (size_t)C * sizeof(float));
		int k = 0;
		for (int l = 0; l < N; l++) {
			const float *src = token;
			if (!mask[(size_t)s * N + l] && k < Nk)
				src = xs + (size_t)(1 + k++) * C;
			memcpy(o + (size_t)(1 + l) * C, src, (size_t)C * sizeof(float));
		}
	}
}

void unshuffle_backward(float *dx, float *dtoken, const float *dout, const uint8_t *mask,
                        int S, int N, int Nk, int C)
{
	for (int s = 0; s < S; s++) {
		float *dxs = dx + (size_t)s * (1 + Nk) * C;
		const float *d = dout + (size_t)s * (1 + N) * C;
		for (int c = 0; c < C; c++)
			dxs[c] += d[c];
		int k = 0;
		for (int l = 0; l < N; l++) {
			float *dst = dtoken;
			if (!mask[(size_t)s * N + l] && k < Nk)
				dst = dxs + (size_t)(1 + k++) * C;
			const float *dl = d + (size_t)(1 + l) * C;
			for (int c = 0; c < C; c++)
				dst[c] += dl[c];
		}
	}
}

void add_pos_forward(float *x, const float *pos, int S, int T, int C)
{
	for (int s = 0; s < S; s++) {
		float *xs = x + (size_t)s * T * C;
		for (size_t i = 0; i < (size_t)T * C; i++)
			xs[i] += pos[i];
	}
}
