/* kernels_loss.c: reconstruction losses of the MAE family and their gradients.
 *
 * MAE / LoMaR: MSE on hidden patches against per-patch normalised pixels (METHODS 1.7, 2.1).
 * SimMIM: L1 on hidden pixels (METHODS 5.3). MFM: L1 of complex DFT magnitudes over removed
 * frequencies (METHODS 5.2). Sums run in double: the loss is compared with PyTorch at 1e-5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

#include "mae/kernels/kernels.h"
#include "mae/util/util.h"

void mae_norm_pix_target(float *out, const float *x, int R, int P, float eps)
{
	for (int r = 0; r < R; r++) {
		const float *v = x + (size_t)r * P;
		float *o = out + (size_t)r * P;
		double m = 0.0, var = 0.0;
		for (int i = 0; i < P; i++)
			m += v[i];
		m /= P;
		for (int i = 0; i < P; i++)
			var += (v[i] - m) * (v[i] - m);
		var /= (P - 1);      /* torch's .var(): unbiased */
		float s = (float)(1.0 / sqrt(var + eps));
		for (int i = 0; i < P; i++)
			o[i] = (float)((v[i] - m) * s);
	}
}

void mae_norm_tube_target(float *out, const float *x, int R, int P, int C, float eps)
{
	int K = P / C;   /* values of one channel in a row */
	for (int r = 0; r < R; r++) {
		const float *v = x + (size_t)r * P;
		float *o = out + (size_t)r * P;
		for (int c = 0; c < C; c++) {
			double m = 0.0, var = 0.0;
			for (int k = 0; k < K; k++)
				m += v[k * C + c];
			m /= K;
			for (int k = 0; k < K; k++)
				var += (v[k * C + c] - m) * (v[k * C + c] - m);
			var /= (K - 1);   /* torch's .var(unbiased=True) */
			double s = 1.0 / (sqrt(var) + eps);   /* eps outside the root, as VideoMAE */
			for (int k = 0; k < K; k++)
				o[k * C + c] = (float)((v[k * C + c] - m) * s);
		}
	}
}

static double mask_count(const uint8_t *mask, int R)
{
	double n = 0.0;
	for (int r = 0; r < R; r++)
		n += mask[r] != 0;
	return n;
}

float mae_mse_masked_forward(const float *pred, const float *target, const uint8_t *mask, int R, int P)
{
	double total = 0.0, n = mask_count(mask, R);
	if (n == 0.0)
		return 0.0f;      /* nothing hidden: nothing to reconstruct (MAE would divide by 0) */
	for (int r = 0; r < R; r++) {
		if (!mask[r])
			continue;
		double e = 0.0;
		for (int i = 0; i < P; i++) {
			double d = (double)pred[(size_t)r * P + i] - target[(size_t)r * P + i];
			e += d * d;
		}
		total += e / P;
	}
	return (float)(total / n);
}

void mae_mse_masked_backward(float *dpred, const float *pred, const float *target,
                         const uint8_t *mask, int R, int P, float dloss)
{
	double n = mask_count(mask, R);
	if (n == 0.0)
		return;
	float k = (float)(2.0 * dloss / (n * P));
	for (int r = 0; r < R; r++) {
		if (!mask[r])
			continue;
		for (int i = 0; i < P; i++) {
			size_t j = (size_t)r * P + i;
			dpred[j] += k * (pred[j] - target[j]);
		}
	}
}

float mae_l1_masked_forward(const float *pred, const float *target, const uint8_t *mask,
                        int R, int P, int c)
{
	double total = 0.0, n = mask_count(mask, R);
	for (int r = 0; r < R; r++) {
		if (!mask[r])
			continue;
		for (int i = 0; i < P; i++)
			total += fabs((double)pred[(size_t)r * P + i] - target[(size_t)r * P + i]);
	}
	/* SimMIM: sum |x - x^| m / (sum m + 1e-5) / c, m counting pixels (p*p per patch) */
	return (float)(total / (n * (P / c) + 1e-5) / c);
}

void mae_l1_masked_backward(float *dpred, const float *pred, const float *target,
                        const uint8_t *mask, int R, int P, int c, float dloss)
{
	double n = mask_count(mask, R);
	float k = (float)(dloss / (n * (P / c) + 1e-5) / c);
	for (int r = 0; r < R; r++) {
		if (!mask[r])
			continue;
		for (int i = 0; i < P; i++) {
			size_t j = (size_t)r * P + i;
			float d = pred[j] - target[j];
			dpred[j] += d > 0.0f ? k : d < 0.0f ? -k : 0.0f;
		}
	}
}

/* ---------------------------------------------------------------------------------------
 * MFM frequency loss: orthonormal 2-D DFT as real matrix products.
 * With Fh = Ch - i Sh and Fw = Cw - i Sw (symmetric, scaled by 1/sqrt(n)), Y = Fh X Fw gives
 *   Re = Ch (X Cw) - Sh (X Sw),   Im = -(Ch (X Sw) + Sh (X Cw)). */

static void dft_matrices(float *cm, float *sm, int n)
{
	double s = 1.0 / sqrt((double)n);
	for (int u = 0; u < n; u++)
		for (int x = 0; x < n; x++) {
			/* reduce u*x mod n first: the angle stays exact for large n */
			double ang = 2.0 * M_PI * (double)(((long)u * x) % n) / n;
			cm[(size_t)u * n + x] = (float)(cos(ang) * s);
			sm[(size_t)u * n + x] = (float)(sin(ang) * s);
		}
}

void mae_freq_loss_init(freq_loss_ws *ws, int H, int W, int p, int c)
{
	memset(ws, 0, sizeof *ws);
	ws->H = H, ws->W = W, ws->p = p, ws->c = c;
	size_t hw = (size_t)H * W;
	ws->ch = mae_malloc((size_t)H * H * sizeof(float));
	ws->sh = mae_malloc((size_t)H * H * sizeof(float));
	ws->cw = mae_malloc((size_t)W * W * sizeof(float));
	ws->sw = mae_malloc((size_t)W * W * sizeof(float));
	float *planes = mae_malloc(hw * 7 * sizeof(float));
	ws->img = planes, ws->t1 = planes + hw, ws->t2 = planes + 2 * hw, ws->re = planes + 3 * hw;
	ws->im = planes + 4 * hw, ws->gre = planes + 5 * hw, ws->gim = planes + 6 * hw;
	ws->dimg = mae_malloc(hw * c * sizeof(float));
	dft_matrices(ws->ch, ws->sh, H);
	dft_matrices(ws->cw, ws->sw, W);
}

void mae_freq_loss_free(freq_loss_ws *ws)
{
	free(ws->ch), free(ws->sh), free(ws->cw), free(ws->sw), free(ws->img), free(ws->dimg);
	memset(ws, 0, sizeof *ws);
}

/* img = channel ch of the unpatchified difference pred - target of image b */
static void diff_plane(freq_loss_ws *ws, const float *pred, const float *target, int b, int ch)
{
	int p = ws->p, c = ws->c, gw = ws->W / p, gh = ws->H / p, P = p * p * c, N = gh * gw;
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			size_t base = ((size_t)b * N + (size_t)i * gw + j) * P;
			for (int a = 0; a < p; a++)
				for (int bb = 0; bb < p; bb++) {
					size_t k = base + (size_t)(a * p + bb) * c + ch;
					ws->img[(size_t)(i * p + a) * ws->W + j * p + bb] = pred[k] - target[k];
				}
		}
}

#define GEMM(A, B, Cout, alpha, beta, m, n, k) \
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, A, k, B, n, beta, Cout, n)

static void dft_plane(freq_loss_ws *ws)
{
	int H = ws->H, W = ws->W;
	GEMM(ws->img, ws->cw, ws->t1, 1.0f, 0.0f, H, W, W);      /* X Cw */
	GEMM(ws->img, ws->sw, ws->t2, 1.0f, 0.0f, H, W, W);      /* X Sw */
	GEMM(ws->ch, ws->t1, ws->re, 1.0f, 0.0f, H, W, H);
	GEMM(ws->sh, ws->t2, ws->re, -1.0f, 1.0f, H, W, H);
	GEMM(ws->ch, ws->t2, ws->im, -1.0f, 0.0f, H, W, H);
	GEMM(ws->sh, ws->t1, ws->im, -1.0f, 1.0f, H, W, H);
}

static double fmask_total(const uint8_t *fmask, int B, int H, int W)
{
	double n = 0.0;
	for (size_t i = 0; i < (size_t)B * H * W; i++)
		n += fmask[i] != 0;
	return n;
}

float mae_freq_loss_forward(freq_loss_ws *ws, const float *pred, const float *target,
                        const uint8_t *fmask, int B)
{
	int H = ws->H, W = ws->W;
	double n = fmask_total(fmask, B, H, W) * ws->c, total = 0.0;
	if (n == 0.0)
		return 0.0f;
	for (int b = 0; b < B; b++)
		for (int ch = 0; ch < ws->c; ch++) {
			diff_plane(ws, pred, target, b, ch);
			dft_plane(ws);
			const uint8_t *fm = fmask + (size_t)b * H * W;
			for (size_t i = 0; i < (size_t)H * W; i++)
				if (fm[i])
					total += sqrt((double)ws->re[i] * ws->re[i] +
					              (double)ws->im[i] * ws->im[i] + 1e-12);
		}
	return (float)(total / n);
}

void mae_freq_loss_backward(freq_loss_ws *ws, float *dpred, const float *pred, const float *target,
                        const uint8_t *fmask, int B, float dloss)
{
	int H = ws->H, W = ws->W, p = ws->p, c = ws->c, gw = W / p, gh = H / p, P = p * p * c;
	int N = gh * gw;
	double n = fmask_total(fmask, B, H, W) * c;
	if (n == 0.0)
		return;
	for (int b = 0; b < B; b++) {
		for (int ch = 0; ch < c; ch++) {
			diff_plane(ws, pred, target, b, ch);
			dft_plane(ws);
			const uint8_t *fm = fmask + (size_t)b * H * W;
			for (size_t i = 0; i < (size_t)H * W; i++) {
				float g = 0.0f;
				if (fm[i])
					g = (float)(dloss / n / sqrt((double)ws->re[i] * ws->re[i] +
					                             (double)ws->im[i] * ws->im[i] + 1e-12));
				ws->gre[i] = g * ws->re[i];
				ws->gim[i] = g * ws->im[i];
			}
			/* dX = Ch (gRe Cw - gIm Sw) - Sh (gRe Sw + gIm Cw) */
			GEMM(ws->gre, ws->cw, ws->t1, 1.0f, 0.0f, H, W, W);
			GEMM(ws->gim, ws->sw, ws->t1, -1.0f, 1.0f, H, W, W);
			GEMM(ws->gre, ws->sw, ws->t2, 1.0f, 0.0f, H, W, W);
			GEMM(ws->gim, ws->cw, ws->t2, 1.0f, 1.0f, H, W, W);
			float *dx = ws->dimg + (size_t)ch * H * W;
			GEMM(ws->ch, ws->t1, dx, 1.0f, 0.0f, H, W, H);
			GEMM(ws->sh, ws->t2, dx, -1.0f, 1.0f, H, W, H);
		}
		for (int i = 0; i < gh; i++)
			for (int j = 0; j < gw; j++) {
				size_t base = ((size_t)b * N + (size_t)i * gw + j) * P;
				for (int a = 0; a < p; a++)
					for (int bb = 0; bb < p; bb++)
						for (int ch = 0; ch < c; ch++)
							dpred[base + (size_t)(a * p + bb) * c + ch] +=
							    ws->dimg[((size_t)ch * H + i * p + a) * W + j * p + bb];
			}
	}
}
