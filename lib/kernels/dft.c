/* dft.c: 2-D DFT of any size as real matrix products on OpenBLAS (see dft.h).
 *
 * With Fh = Ch - i Sh (Ch[u,y] = cos(2 pi u y/H), Sh = sin) and Fw likewise, the forward
 * transform of a real plane X [H,W] is Z = Fh X Fw^T (Fw is symmetric):
 *   row pass     Yr = X Cw,           Yi = -X Sw              (all C planes in one product)
 *   column pass  Zr = Ch Yr + Sh Yi,  Zi = Ch Yi - Sh Yr       (per plane)
 * The inverse is x = Re(conj(Fh) Z conj(Fw)) / (HW):
 *   column pass  Ur = Ch Zr - Sh Zi,  Ui = Ch Zi + Sh Zr
 *   row pass     x  = (Ur Cw - Ui Sw) / (HW)                   (all planes in one product) */
#include "mae/kernels/dft.h"
#include "mae/util/util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void twiddles(float *c, float *s, int n)
{
	for (int u = 0; u < n; u++)
		for (int y = 0; y < n; y++) {
			/* exact integer phase, so large u*y lose no precision */
			double ph = 2.0 * M_PI * (double)((long)u * y % n) / n;
			c[u * n + y] = (float)cos(ph);
			s[u * n + y] = (float)sin(ph);
		}
}

void mae_dft2_init(mae_dft2 *d, int h, int w)
{
	memset(d, 0, sizeof *d);
	d->h = h;
	d->w = w;
	d->ch = mae_alloc_aligned((size_t)h * h * sizeof(float));
	d->sh = mae_alloc_aligned((size_t)h * h * sizeof(float));
	d->cw = mae_alloc_aligned((size_t)w * w * sizeof(float));
	d->sw = mae_alloc_aligned((size_t)w * w * sizeof(float));
	twiddles(d->ch, d->sh, h);
	twiddles(d->cw, d->sw, w);
}

void mae_dft2_free(mae_dft2 *d)
{
	free(d->ch);
	free(d->sh);
	free(d->cw);
	free(d->sw);
	memset(d, 0, sizeof *d);
}

/* out [m,n] = alpha a [m,k] b [k,n] + beta out (row-major, no transposes) */
static void gemm(int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                 float *out)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, k, b, n, beta,
	            out, n);
}

/* out [m,n] = alpha a [m,k] b^T ([n,k]) + beta out */
static void gemm_nt(int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                    float *out)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, k, b, k, beta, out, n);
}

/* out [m,n] = alpha a^T ([k,m]) b [k,n] + beta out */
static void gemm_tn(int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                    float *out)
{
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, alpha, a, m, b, n, beta, out, n);
}

void mae_dft2_project(mae_dft2 *d, int c, const float *x, const uint8_t *sel, float *y)
{
	int h = d->h, w = d->w, nu = 0, nv = 0;
	size_t plane = (size_t)h * w;
	int *ru = mae_malloc((size_t)(h + w) * sizeof *ru), *cv = ru + h;
	/* A selection symmetric under (u,v) -> (-u,-v) keeps the output real and makes column -v
	 * the conjugate of column v: then only the columns 0..W/2 are computed, and the others
	 * enter the last product as a weight of 2. */
	int sym = 1;
	for (int u = 0; u < h && sym; u++) {
		const uint8_t *a = sel + (size_t)u * w, *b = sel + (size_t)(u ? h - u : 0) * w;
		sym = a[0] == b[0];
		for (int v = 1; v < w && sym; v++)
			sym = a[v] == b[w - v];
	}
	for (int u = 0; u < h; u++) {
		int any = 0;
		for (int v = 0; v < w && !any; v++)
			any = sel[u * w + v];
		if (any)
			ru[nu++] = u;
	}
	for (int v = 0; v < (sym ? w / 2 + 1 : w); v++) {
		int any = 0;
		for (int u = 0; u < h && !any; u++)
			any = sel[u * w + v];
		if (any)
			cv[nv++] = v;
	}
	if (nu == 0 || nv == 0) {
		memset(y, 0, (size_t)c * plane * sizeof *y);
		free(ru);
		return;
	}
	/* twiddle rows of the selected frequencies: chu/shu [nu,H], cwv/swv [nv,W] */
	size_t nb = (size_t)nu * h + (size_t)nv * w;
	float *tw = mae_alloc_aligned(2 * nb * sizeof *tw);
	float *chu = tw, *shu = chu + (size_t)nu * h, *cwv = shu + (size_t)nu * h, *swv = cwv + (size_t)nv * w;
	for (int i = 0; i < nu; i++) {
		memcpy(chu + (size_t)i * h, d->ch + (size_t)ru[i] * h, (size_t)h * sizeof *chu);
		memcpy(shu + (size_t)i * h, d->sh + (size_t)ru[i] * h, (size_t)h * sizeof *shu);
	}
	for (int i = 0; i < nv; i++) {
		memcpy(cwv + (size_t)i * w, d->cw + (size_t)cv[i] * w, (size_t)w * sizeof *cwv);
		memcpy(swv + (size_t)i * w, d->sw + (size_t)cv[i] * w, (size_t)w * sizeof *swv);
	}
	/* work: Yr, Yi [C*H, nv]; Zr, Zi [nu, nv]; Ur, Ui [H, nv] per plane */
	size_t ny = (size_t)c * h * nv, nz = (size_t)nu * nv, nuu = (size_t)h * nv;
	float *wk = mae_alloc_aligned((2 * ny + 2 * nz + 2 * nuu) * sizeof *wk);
	float *yr = wk, *yi = yr + ny, *zr = yi + ny, *zi = zr + nz, *ur = zi + nz, *ui = ur + nuu;
	gemm_nt(c * h, nv, w, 1.0f, x, cwv, 0.0f, yr);         /* Y = X Fw_V^T */
	gemm_nt(c * h, nv, w, -1.0f, x, swv, 0.0f, yi);
	float s = 1.0f / (float)plane;
	for (int p = 0; p < c; p++) {
		const float *pr = yr + (size_t)p * h * nv, *pi = yi + (size_t)p * h * nv;
		gemm(nu, nv, h, 1.0f, chu, pr, 0.0f, zr);           /* Z = Fh_U Y */
		gemm(nu, nv, h, 1.0f, shu, pi, 1.0f, zr);
		gemm(nu, nv, h, 1.0f, chu, pi, 0.0f, zi);
		gemm(nu, nv, h, -1.0f, shu, pr, 1.0f, zi);
		for (int i = 0; i < nu; i++)                          /* keep the selection */
			for (int j = 0; j < nv; j++)
				if (!sel[ru[i] * w + cv[j]])
					zr[(size_t)i * nv + j] = zi[(size_t)i * nv + j] = 0.0f;
		gemm_tn(h, nv, nu, 1.0f, chu, zr, 0.0f, ur);        /* U = conj(Fh_U)^T Z */
		gemm_tn(h, nv, nu, -1.0f, shu, zi, 1.0f, ur);
		gemm_tn(h, nv, nu, 1.0f, chu, zi, 0.0f, ui);
		gemm_tn(h, nv, nu, 1.0f, shu, zr, 1.0f, ui);
		if (sym)
			for (int j = 0; j < nv; j++)
				if (cv[j] != 0 && 2 * cv[j] != w)
					for (int i = 0; i < h; i++) {
						ur[(size_t)i * nv + j] *= 2.0f;
						ui[(size_t)i * nv + j] *= 2.0f;
					}
		float *yp = y + (size_t)p * plane;                    /* y = Re(U conj(Fw_V)) / HW */
		gemm(h, w, nv, s, ur, cwv, 0.0f, yp);
		gemm(h, w, nv, -s, ui, swv, 1.0f, yp);
	}
	free(wk);
	free(tw);
	free(ru);
}

