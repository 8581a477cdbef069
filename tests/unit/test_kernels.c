/* test_kernels.c: every kernel's backward against central finite differences, every fast path
 * against its naive twin, and the fixed tables (position embedding, iRPE buckets) against values
 * computed by hand from the reference formulas. Prints TAP; exits 1 on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../oracle/kernels_ref.h"
#include "tap.h"
#include "mae/kernels/kernels.h"
#include "../../lib/kernels/kernels_gemm.h"
#include "../../lib/kernels/kernels_math.h"
#include "arrays.h"
#include "fd.h"

static double maxrel(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num = fmax(num, fabs((double)a[i] - b[i]));
		den = fmax(den, fabs((double)b[i]));
	}
	return num / (den > 1e-30 ? den : 1e-30);
}


static double dotd(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

#define FD_TOL 5e-3

/* ---------------------------------------------------------------------------------------- */
typedef struct { int R, C, OC; float *out, *inp, *w, *b, *r; } lin_t;
static double lin_loss(void *c)
{
	lin_t *t = c;
	mae_linear_forward(t->out, t->inp, t->w, t->b, t->R, t->C, t->OC);
	return dotd(t->out, t->r, (size_t)t->R * t->OC);
}
static void test_linear(void)
{
	lin_t t = { .R = 7, .C = 5, .OC = 6 };
	size_t ni = t.R * t.C, nw = t.OC * t.C, no = t.R * t.OC;
	t.inp = rnd(ni, 1), t.w = rnd(nw, 1), t.b = rnd(t.OC, 1), t.r = rnd(no, 1), t.out = zeros(no);
	float *o2 = zeros(no);
	mae_linear_forward(t.out, t.inp, t.w, t.b, t.R, t.C, t.OC);
	mae_linear_forward_naive(o2, t.inp, t.w, t.b, t.R, t.C, t.OC);
	ok(maxrel(t.out, o2, no) < 1e-6, "mae_linear_forward matches naive (rel %.2g)", maxrel(t.out, o2, no));
	float *di = zeros(ni), *dw = zeros(nw), *db = zeros(t.OC);
	float *di2 = zeros(ni), *dw2 = zeros(nw), *db2 = zeros(t.OC);
	mae_linear_backward(di, dw, db, t.r, t.inp, t.w, t.R, t.C, t.OC);
	mae_linear_backward_naive(di2, dw2, db2, t.r, t.inp, t.w, t.R, t.C, t.OC);
	ok(maxrel(di, di2, ni) < 1e-6 && maxrel(dw, dw2, nw) < 1e-6 && maxrel(db, db2, t.OC) < 1e-6,
	   "mae_linear_backward matches naive");
	double e1 = fd_err(lin_loss, &t, t.inp, ni, di, 1e-2f);
	double e2 = fd_err(lin_loss, &t, t.w, nw, dw, 1e-2f);
	double e3 = fd_err(lin_loss, &t, t.b, t.OC, db, 1e-2f);
	ok(e1 < FD_TOL && e2 < FD_TOL && e3 < FD_TOL, "mae_linear_backward vs finite differences (%.2g %.2g %.2g)", e1, e2, e3);
	/* accumulation: a second backward doubles every gradient */
	mae_linear_backward(di, dw, db, t.r, t.inp, t.w, t.R, t.C, t.OC);
	for (size_t i = 0; i < ni; i++)
		di2[i] *= 2;
	ok(maxrel(di, di2, ni) < 1e-6, "mae_linear_backward accumulates");
	/* the overwrite variant leaves dinp = dout W whatever was there; dw still accumulates */
	float *di3 = rnd(ni, 5), *dw3 = zeros(nw), *di4 = zeros(ni);
	mae_linear_backward_set(di3, dw3, NULL, t.r, t.inp, t.w, t.R, t.C, t.OC);
	mae_linear_backward_naive(di4, NULL, NULL, t.r, t.inp, t.w, t.R, t.C, t.OC);
	ok(maxrel(di3, di4, ni) < 1e-6 && maxrel(dw3, dw2, nw) < 1e-6, "mae_linear_backward_set overwrites dinp");
	float *res = rnd(no, 1), *o3 = zeros(no);
	mae_linear_forward_residual(o3, t.inp, t.w, t.b, res, t.R, t.C, t.OC);
	for (size_t i = 0; i < no; i++)
		o2[i] += res[i];
	ok(maxrel(o3, o2, no) < 1e-6, "mae_linear_forward_residual adds the residual");
}

/* The dense layers' own product (AVX-512 or AVX2 builds): against double sums, over shapes with ragged
 * edges (rows not a multiple of the 6-row tile or of the 96-row block, columns not of 16 or of
 * the 64-column panel, K past the 1024-row block of k), A and B read as they lie or transposed,
 * C inside a wider array, accumulation and every epilogue. */
static void test_gemm(void)
{
	if (!mae_gemm_available()) {
		ok(1, "# SKIP mae_gemm: built without AVX-512 or AVX2, the layers use OpenBLAS");
		return;
	}
	int shapes[][3] = { { 1, 1, 1 }, { 7, 17, 5 }, { 13, 64, 300 }, { 100, 130, 33 }, { 97, 70, 513 },
	                    { 256, 48, 40 }, { 5, 0, 3 }, { 6, 20, 0 },
	                    { 9, 40, 1100 }, { 200, 150, 600 } };
	int bad = 0, cases = 0;
	double worst = 0;
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int var = 0; var < 8; var++) {
			int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ldc = N + 3;
			int ta = var & 1, tb = (var >> 1) & 1, acc = (var >> 2) & 1;
			float *A = rnd((size_t)M * K + 1, 1), *B = rnd((size_t)K * N + 1, 1);
			float *C = rnd((size_t)M * ldc + 1, 1), *C0 = keep(malloc(((size_t)M * ldc + 1) * sizeof(float)));
			memcpy(C0, C, ((size_t)M * ldc + 1) * sizeof(float));
			float *bias = rnd((size_t)N + 1, 1), *resid = rnd((size_t)M * ldc + 1, 1);
			float *aux = rnd((size_t)M * ldc + 1, 2), *g = zeros((size_t)M * ldc + 1);
			int epi = (int)(s + var) % 4;   /* none, bias + resid with GELU out, dmul, gelu_pre */
			gemm_epilogue e = { .bias = epi == 1 ? bias : NULL, .resid = epi == 1 ? resid : NULL,
			                    .gelu_out = epi == 1 ? g : NULL, .dmul = epi == 2 ? aux : NULL,
			                    .gelu_pre = epi == 3 ? aux : NULL };
			long rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
			mae_gemm(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, acc, epi ? &e : NULL);
			for (int i = 0; i < M; i++)
				for (int j = 0; j < ldc; j++) {
					size_t o = (size_t)i * ldc + j;
					if (j >= N) {
						bad += C[o] != C0[o];   /* columns past N untouched */
						continue;
					}
					double x = acc ? C0[o] : 0, mag = fabs(x);
					for (int k = 0; k < K; k++) {
						double p = (double)A[i * rsa + k * csa] * B[k * rsb + j * csb];
						x += p, mag += fabs(p);
					}
					if (epi == 1)
						x += bias[j] + resid[o], mag += fabs(bias[j]) + fabs(resid[o]);
					/* GELU of the stored sum, so that the sum's own rounding (checked
					 * against mag below) is not counted again in GELU's error */
					double gl = 0, cs = C[o];
					if (epi == 1)
						gl = 0.5 * cs * (1 + erf(cs / sqrt(2.0)));
					if (epi == 2)
						x *= aux[o], mag *= fabs(aux[o]);
					if (epi == 3) {
						double a = aux[o], d = 0.5 * (1 + erf(a / sqrt(2.0))) + a * exp(-0.5 * a * a) / sqrt(2 * M_PI);
						x *= d, mag *= fabs(d) + 0.1;   /* GELU' is good to 2e-7 (1 + |a|): 1e-6 allowed */
					}
					double err = fabs(C[o] - x) / (mag + 1e-6);
					if (epi == 1)
						err = fmax(err, fabs(g[o] - gl) / (1 + fabs(cs)));
					worst = fmax(worst, err);
					bad += !(err < 1e-5);
				}
			cases++;
		}
	ok(bad == 0, "mae_gemm matches double sums in %d cases (shapes x transposes x accumulate x "
	   "epilogues): worst error %.2g of the sum of magnitudes", cases, worst);
}

/* Products big enough to be split over the pool: dw is split by its rows when OC >= C and by its
 * columns when C > OC (fc2's shape), dinp by rows; every split equals the plain loops. */
static void test_linear_split(void)
{
	int shapes[2][3] = { { 600, 40, 96 }, { 600, 96, 40 } };   /* R, C, OC */
	for (int k = 0; k < 2; k++) {
		int R = shapes[k][0], C = shapes[k][1], OC = shapes[k][2];
		size_t ni = (size_t)R * C, nw = (size_t)OC * C, no = (size_t)R * OC;
		float *inp = rnd(ni, 1), *w = rnd(nw, 0.3f), *b = rnd(OC, 1), *dout = rnd(no, 1);
		float *out = zeros(no), *out2 = zeros(no);
		mae_linear_forward(out, inp, w, b, R, C, OC);
		mae_linear_forward_naive(out2, inp, w, b, R, C, OC);
		float *di = zeros(ni), *dw = rnd(nw, 1), *db = rnd(OC, 1);
		float *di2 = zeros(ni), *dw2 = zeros(nw), *db2 = zeros(OC);
		memcpy(dw2, dw, nw * sizeof(float));
		memcpy(db2, db, OC * sizeof(float));
		mae_linear_backward(di, dw, db, dout, inp, w, R, C, OC);
		mae_linear_backward_naive(di2, dw2, db2, dout, inp, w, R, C, OC);
		ok(maxrel(out, out2, no) < 1e-5 && maxrel(di, di2, ni) < 1e-5 && maxrel(dw, dw2, nw) < 1e-5 &&
		   maxrel(db, db2, OC) < 1e-5, "linear split over the pool, R %d C %d OC %d: forward, dinp, "
		   "dw and dbias (accumulated) match naive (dw rel %.2g)", R, C, OC, maxrel(dw, dw2, nw));
	}
}

/* A job inside a job (the stack's forward hands each thread its sequences through all the
 * layers): the inner tasks run inline on the outer task's thread, with its tid, each once;
 * and a linear layer run inside a task gives the same bits as split over the pool. */
typedef struct { int hits[8], tids[8], bad, inner; float *out, *inp, *w, *b; } nest_t;
static void nest_inner(void *ctx, int i, int tid)
{
	nest_t *t = ctx;
	t->hits[i]++;
	t->bad |= tid != t->tids[0] || !mae_in_task();
}
static void nest_outer(void *ctx, int i, int tid)
{
	nest_t *t = ctx;
	if (i == 0) {
		t->tids[0] = tid;
		mae_parallel_for(8, nest_inner, t);
	} else
		mae_linear_forward(t->out, t->inp, t->w, t->b, 600, 96, 40);
}
static void test_nested_pool(void)
{
	nest_t t = { .inp = rnd(600 * 96, 1), .w = rnd(40 * 96, 0.3f), .b = rnd(40, 1), .out = zeros(600 * 40) };
	float *out2 = zeros(600 * 40);
	mae_linear_forward(out2, t.inp, t.w, t.b, 600, 96, 40);
	mae_parallel_for(2, nest_outer, &t);
	int once = 1;
	for (int i = 0; i < 8; i++)
		once &= t.hits[i] == 1;
	ok(once && !t.bad && !mae_in_task(), "a nested job runs inline on its task's thread, each task once");
	ok(memcmp(t.out, out2, 600 * 40 * sizeof(float)) == 0, "a linear layer inside a task equals it split over the pool");
}

/* The MLP ends with GELU fused in (mae_linear_forward_gelu, mae_linear_backward_gelu), big enough to be
 * split over the pool: equal to the separate kernels, and the backward against finite
 * differences of loss(h) = <dout, GELU(h) W^T + b>, whose gradient it returns. */
typedef struct { int R, H, C; float *h, *g, *out, *w, *b, *dout; } mlp_t;
static double mlp_loss(void *c)
{
	mlp_t *t = c;
	mae_gelu_ref(t->g, t->h, (size_t)t->R * t->H);
	mae_linear_forward(t->out, t->g, t->w, t->b, t->R, t->H, t->C);
	return dotd(t->out, t->dout, (size_t)t->R * t->C);
}
static void test_linear_gelu(void)
{
	int R = 300, C = 40, H = 64;
	float *x = rnd((size_t)R * C, 1), *w1 = rnd((size_t)H * C, 0.3f), *b1 = rnd(H, 0.3f);
	float *pre = zeros((size_t)R * H), *g = zeros((size_t)R * H);
	float *pre2 = zeros((size_t)R * H), *g2 = zeros((size_t)R * H);
	mae_linear_forward_gelu(pre, g, x, w1, b1, R, C, H);
	mae_linear_forward(pre2, x, w1, b1, R, C, H);
	mae_gelu_ref(g2, pre2, (size_t)R * H);
	ok(maxrel(pre, pre2, (size_t)R * H) == 0 && maxrel(g, g2, (size_t)R * H) < 1e-6,
	   "mae_linear_forward_gelu = mae_linear_forward then GELU from its definition (rel %.2g)",
	   maxrel(g, g2, (size_t)R * H));
	mlp_t t = { .R = R, .H = H, .C = C, .h = pre, .g = zeros((size_t)R * H), .out = zeros((size_t)R * C),
	            .w = rnd((size_t)C * H, 0.3f), .b = rnd(C, 0.3f), .dout = rnd((size_t)R * C, 1) };
	float *dh = rnd((size_t)R * H, 5), *dw = zeros((size_t)C * H), *db = zeros(C);
	float *dh2 = zeros((size_t)R * H), *dw2 = zeros((size_t)C * H), *db2 = zeros(C);
	mae_linear_backward_gelu(dh, dw, db, t.dout, g, t.w, pre, NULL, R, H, C);
	mae_linear_backward_set(dh2, dw2, db2, t.dout, g, t.w, R, H, C);
	float *dpre = zeros((size_t)R * H);
	mae_gelu_backward_ref(dpre, pre, dh2, (size_t)R * H);
	ok(maxrel(dh, dpre, (size_t)R * H) < 1e-6 && maxrel(dw, dw2, (size_t)C * H) == 0 &&
	   maxrel(db, db2, C) == 0, "mae_linear_backward_gelu = mae_linear_backward_set then GELU' from its definition");
	float *deriv = zeros((size_t)R * H), *dh3 = rnd((size_t)R * H, 5);
	mae_gelu_forward_deriv(g2, deriv, pre, (size_t)R * H);
	memset(dw2, 0, (size_t)C * H * sizeof(float));
	mae_linear_backward_gelu(dh3, dw2, NULL, t.dout, g, t.w, pre, deriv, R, H, C);
	ok(maxrel(dh3, dh, (size_t)R * H) < 1e-6, "mae_linear_backward_gelu with a saved GELU' gives the same");
	double e = fd_err(mlp_loss, &t, pre, 256, dh, 1e-2f);   /* the first 256 of h: enough, and fast */
	ok(e < FD_TOL, "mae_linear_backward_gelu vs finite differences (%.2g)", e);
}

/* ---------------------------------------------------------------------------------------- */
/* n values y[0], y[stride], ... of a normalisation without its affine part: mean 0, biased
 * variance 1 (LayerNorm's rows, BatchNorm's columns) */
static int normalised(const float *y, int n, size_t stride, double *mu, double *var)
{
	double m = 0, v = 0;
	for (int i = 0; i < n; i++)
		m += y[i * stride];
	m /= n;
	for (int i = 0; i < n; i++)
		v += (y[i * stride] - m) * (y[i * stride] - m);
	*mu = m, *var = v / n;
	return fabs(m) < 1e-6 && fabs(*var - 1) < 1e-4;
}

/* a normalisation's backward against finite differences in its input, weight and bias (C):
 * e gets the three errors; returns 1 if all are within FD_TOL */
static int norm_fd(lossfn f, void *ctx, float *inp, size_t n, float *w, float *b, int C, const float *di,
                   const float *dw, const float *db, double e[3])
{
	e[0] = fd_err(f, ctx, inp, n, di, 1e-2f);
	e[1] = fd_err(f, ctx, w, C, dw, 1e-2f);
	e[2] = fd_err(f, ctx, b, C, db, 1e-2f);
	return e[0] < FD_TOL && e[1] < FD_TOL && e[2] < FD_TOL;
}

typedef struct { int R, C; float *out, *m, *s, *inp, *w, *b, *r; } ln_t;
static double ln_loss(void *c)
{
	ln_t *t = c;
	mae_layernorm_forward(t->out, t->m, t->s, t->inp, t->w, t->b, t->R, t->C, 1e-6f);
	return dotd(t->out, t->r, (size_t)t->R * t->C);
}
static void test_layernorm_c(int R, int C)
{
	ln_t t = { .R = R, .C = C };
	size_t n = t.R * t.C;
	t.inp = rnd(n, 2), t.w = rnd(t.C, 1), t.b = rnd(t.C, 1), t.r = rnd(n, 1), t.out = zeros(n);
	t.m = zeros(t.R), t.s = zeros(t.R);
	ln_loss(&t);
	/* row statistics: mean 0, biased variance 1 before the affine part */
	float *y = zeros(n), *one = keep(malloc(t.C * sizeof(float))), *zero = zeros(t.C);
	for (int c = 0; c < t.C; c++)
		one[c] = 1;
	mae_layernorm_recompute(y, t.inp, t.m, t.s, one, zero, t.R, t.C);
	double mu, var, e[3];
	int good = normalised(y, t.C, 1, &mu, &var);   /* before ok() reads mu and var */
	ok(good, "layernorm normalises (mean %.2g var %.6f)", mu, var);
	float *di = zeros(n), *dw = zeros(t.C), *db = zeros(t.C);
	mae_layernorm_backward(di, dw, db, t.r, t.inp, t.w, t.m, t.s, t.R, t.C);
	good = norm_fd(ln_loss, &t, t.inp, n, t.w, t.b, t.C, di, dw, db, e);
	ok(good, "mae_layernorm_backward vs finite differences, C %d (%.2g %.2g %.2g)", C, e[0], e[1], e[2]);
	/* one thread's rows: dinp = dres + d(inp) apart or in place, the dw, db sums into part */
	float *dres = rnd(n, 1), *want = zeros(n), *got = zeros(n), *part = zeros(2 * (size_t)t.C);
	memcpy(want, dres, n * sizeof(float));
	memset(dw, 0, t.C * sizeof(float)), memset(db, 0, t.C * sizeof(float));
	mae_layernorm_backward(want, dw, db, t.r, t.inp, t.w, t.m, t.s, t.R, t.C);
	mae_layernorm_backward_rows(got, dres, part, t.r, t.inp, t.w, t.m, t.s, t.R, t.C);
	double ea = maxrel(got, want, n), ew = maxrel(part, dw, t.C), eb = maxrel(part + t.C, db, t.C);
	mae_layernorm_backward_rows(dres, dres, part, t.r, t.inp, t.w, t.m, t.s, t.R, t.C);
	ok(ea == 0 && maxrel(dres, want, n) == 0 && ew < 1e-6 && eb < 1e-6,
	   "mae_layernorm_backward_rows = mae_layernorm_backward, C %d (dinp apart and in place; dw %.2g db %.2g)", C, ew, eb);
}

static void test_layernorm(void)
{
	test_layernorm_c(5, 12);
	test_layernorm_c(7, 40);   /* a 16-lane block and a tail */
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { size_t n; float *out, *deriv, *inp, *r; } gelu_t;
static double gelu_loss(void *c)
{
	gelu_t *t = c;
	mae_gelu_forward_deriv(t->out, t->deriv, t->inp, t->n);
	return dotd(t->out, t->r, t->n);
}
static void test_fast_math(void)
{
	double ee = 0, ef = 0;
	for (float x = -87.0f; x <= 88.0f; x += 0.0137f)
		ee = fmax(ee, fabs(mae_expf(x) - exp(x)) / exp(x));
	for (float x = -6.0f; x <= 6.0f; x += 0.00093f)
		ef = fmax(ef, fabs(mae_erff(x) - erf(x)));
	ok(ee < 5e-7 && ef < 2.5e-7, "vectorisable exp (rel %.2g) and erf (abs %.2g) against libm", ee, ef);
	double ep = 0, ed = 0;
	for (float x = -9.0f; x <= 9.0f; x += 0.00071f) {
		float pdf, cdf = mae_phi(x, &pdf);
		ep = fmax(ep, fabs(cdf - 0.5 * erfc(-x / sqrt(2.0))));
		ed = fmax(ed, fabs(pdf - exp(-0.5 * (double)x * x) / sqrt(2 * M_PI)));
	}
	ok(ep < 4e-7 && ed < 1e-7, "normal cdf (abs %.2g) and pdf (abs %.2g) for GELU", ep, ed);
	/* the GELU kernels (on AVX-512 their own vector Phi, with a reciprocal estimate refined by
	 * Newton for the division) against double: x Phi(x) and Phi(x) + x phi(x), the error
	 * relative to 1 + |x| since both grow like x; the count is not a multiple of 16 */
	size_t n = 25357;
	float *x = zeros(n), *g = zeros(n), *dg = zeros(n);
	for (size_t i = 0; i < n; i++)
		x[i] = -9.0f + 18.0f * (float)i / (float)(n - 1);
	mae_gelu_forward_deriv(g, dg, x, n);
	double eg = 0, edg = 0;
	for (size_t i = 0; i < n; i++) {
		double xi = x[i], cdf = 0.5 * erfc(-xi / sqrt(2.0)), pdf = exp(-0.5 * xi * xi) / sqrt(2 * M_PI);
		eg = fmax(eg, fabs(g[i] - xi * cdf) / (1 + fabs(xi)));
		edg = fmax(edg, fabs(dg[i] - (cdf + xi * pdf)) / (1 + fabs(xi)));
	}
	ok(eg < 4e-7 && edg < 4e-7, "gelu (%.2g) and its derivative (%.2g) against double, relative to 1 + |x|", eg, edg);
}

/* The AVX-512 softmax (masked tail, two passes through scratch) against the portable row
 * loop: the same bits, for rows shorter than, equal to and longer than a vector, and the
 * lengths the models use (13, 50, 197); and a real softmax (rows sum to 1, exp ratios). */
static void test_softmax_rows(void)
{
	int lens[] = { 1, 2, 7, 13, 15, 16, 17, 31, 32, 33, 49, 50, 64, 65, 197, 257 };
	int same = 1, differs = 0;
	double esum = 0, eratio = 0;
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
		int n = lens[li], rows = n < 9 ? 9 : n;
		float *x = rnd((size_t)rows * n, 8), *a = zeros((size_t)rows * n), *b = zeros((size_t)rows * n);
		float *sm = zeros(mae_softmax_scratch(rows, n));
		memcpy(a, x, (size_t)rows * n * sizeof(float));
		memcpy(b, x, (size_t)rows * n * sizeof(float));
		mae_softmax_rows(a, rows, n, sm);
		for (int i = 0; i < rows; i++)
			mae_softmax_row_scalar(b + (size_t)i * n, n);
		if (memcmp(a, b, (size_t)rows * n * sizeof(float)))
			same = 0, differs = n;
		for (int i = 0; i < rows; i++) {
			double s = 0;
			for (int j = 0; j < n; j++)
				s += a[(size_t)i * n + j];
			esum = fmax(esum, fabs(s - 1));
			/* p_j / p_0 = e^(x_j - x_0) */
			for (int j = 1; j < n; j++) {
				double want = exp((double)x[(size_t)i * n + j] - x[(size_t)i * n]);
				eratio = fmax(eratio, fabs(a[(size_t)i * n + j] / a[(size_t)i * n] - want) / want);
			}
		}
	}
	if (!same)
		printf("# softmax rows: the paths differ at n=%d\n", differs);
	ok(same, "softmax rows: vector path equals the row loop bit for bit, n from 1 to 257");
	ok(esum < 1e-6 && eratio < 2e-6, "softmax rows sum to 1 (%.2g) with exp ratios (rel %.2g)", esum, eratio);
}

static void test_gelu(void)
{
	gelu_t t = { .n = 64 };
	t.inp = rnd(t.n, 3), t.r = rnd(t.n, 1), t.out = zeros(t.n), t.deriv = zeros(t.n);
	float x[3] = { -1.0f, 0.5f, 2.0f }, y[3], dy[3];
	mae_gelu_forward_deriv(y, dy, x, 3);
	/* 0.5 x (1 + erf(x / sqrt 2)), computed in double */
	ok(fabs(y[0] - -0.15865525393145707) < 1e-6 && fabs(y[1] - 0.34573123063700656) < 1e-6 &&
	   fabs(y[2] - 1.9544997361036416) < 1e-6, "gelu is the exact erf form");
	mae_gelu_forward_deriv(t.out, t.deriv, t.inp, t.n);
	float *di = zeros(t.n);
	for (size_t i = 0; i < t.n; i++)
		di[i] = t.r[i] * t.deriv[i];
	double e = fd_err(gelu_loss, &t, t.inp, t.n, di, 1e-2f);
	ok(e < FD_TOL, "mae_gelu_forward_deriv's derivative vs finite differences of its forward (%.2g)", e);
	float *o2 = zeros(t.n), *d3 = zeros(t.n);
	mae_gelu_forward_deriv(t.out, t.deriv, t.inp, t.n);   /* (the differences left other values) */
	mae_gelu_ref(o2, t.inp, t.n);
	mae_gelu_backward_ref(d3, t.inp, t.r, t.n);
	double eo = 0;   /* relative to 1 + |x|: GELU's value is tiny far left of 0 */
	for (size_t i = 0; i < t.n; i++)
		eo = fmax(eo, fabs(o2[i] - t.out[i]) / (1 + fabs(t.inp[i])));
	ok(eo < 1e-6 && maxrel(di, d3, t.n) < 1e-6,
	   "mae_gelu_forward_deriv gives GELU and GELU' of the definition (%.2g, rel %.2g)", eo,
	   maxrel(di, d3, t.n));
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { int S, T, C, NH, NB; float *out, *cls, *ws, *qkv, *rpe, *r; int *bucket; } att_t;
static double att_loss(void *c)
{
	att_t *t = c;
	mae_attention_forward(t->out, t->cls, NULL, t->ws, t->qkv, t->rpe, t->bucket, t->S, t->T, t->C, t->NH, t->NB);
	return dotd(t->out, t->r, (size_t)t->S * t->T * t->C);
}
static void test_attention(int with_rpe)
{
	att_t t = { .S = 3, .T = with_rpe ? 10 : 7, .C = 12, .NH = 3 };
	int K = 3;
	if (with_rpe) {
		t.bucket = keep(malloc(sizeof(int) * t.T * t.T));
		t.NB = mae_irpe_buckets(t.bucket, K, 1);
	}
	int HS = t.C / t.NH;
	size_t nq = (size_t)t.S * t.T * 3 * t.C, no = (size_t)t.S * t.T * t.C, na = (size_t)t.S * t.NH * t.T * t.T;
	t.qkv = rnd(nq, 1.5), t.r = rnd(no, 1), t.out = zeros(no), t.cls = zeros((size_t)t.S * t.NH * t.T);
	t.rpe = with_rpe ? rnd((size_t)HS * t.NB, 0.5) : NULL;
	t.ws = zeros(mae_attention_scratch_floats(t.T, t.C, t.NH, t.NB));
	float *o2 = zeros(no), *a2 = zeros(na);
	att_loss(&t);
	mae_attention_forward_naive(o2, a2, t.qkv, t.rpe, t.bucket, t.S, t.T, t.C, t.NH, t.NB);
	double ecls = 0;
	for (int sh = 0; sh < t.S * t.NH; sh++)
		for (int j = 0; j < t.T; j++)
			ecls = fmax(ecls, fabs(t.cls[sh * t.T + j] - a2[(size_t)sh * t.T * t.T + j]));
	ok(maxrel(t.out, o2, no) < 1e-5 && ecls < 1e-6,
	   "mae_attention_forward%s matches naive (rel %.2g), cls row saved", with_rpe ? " +iRPE" : "", maxrel(t.out, o2, no));
	double rowsum = 0;
	for (int j = 0; j < t.T; j++)
		rowsum += t.cls[j];
	ok(fabs(rowsum - 1) < 1e-5, "attention rows are probabilities (%.7f)", rowsum);
	float *dq = zeros(nq), *dq2 = zeros(nq);
	float *dr = with_rpe ? zeros((size_t)HS * t.NB) : NULL, *dr2 = with_rpe ? zeros((size_t)HS * t.NB) : NULL;
	mae_attention_backward(dq, NULL, dr, t.ws, t.r, t.qkv, NULL, t.rpe, t.bucket, t.S, t.T, t.C, t.NH, t.NB);
	mae_attention_backward_naive(dq2, dr2, t.r, t.qkv, a2, t.rpe, t.bucket, t.S, t.T, t.C, t.NH, t.NB);
	ok(maxrel(dq, dq2, nq) < 1e-5 && (!with_rpe || maxrel(dr, dr2, (size_t)HS * t.NB) < 1e-5),
	   "mae_attention_backward%s matches naive (rel %.2g)", with_rpe ? " +iRPE" : "", maxrel(dq, dq2, nq));
	double e = fd_err(att_loss, &t, t.qkv, nq, dq, 1e-2f);
	ok(e < FD_TOL, "mae_attention_backward%s vs finite differences, dqkv (%.2g)", with_rpe ? " +iRPE" : "", e);
	if (with_rpe) {
		double e2 = fd_err(att_loss, &t, t.rpe, (size_t)HS * t.NB, dr, 1e-2f);
		ok(e2 < FD_TOL, "mae_attention_backward +iRPE vs finite differences, drpe (%.2g)", e2);
	}
}

/* sequences long enough for the BLAS path (the short ones above take the plain loops): 70
 * tokens; 65 = 1 + 8*8 with iRPE; 197 (MAE's decoder at 224), where the K = T products are cut
 * into row blocks for OpenBLAS's small-matrix kernels (sgemm_rows) */
static void test_attention_blas(void)
{
	int S = 2, C = 64, NH = 2, K = 8, HS = C / NH;
	int *bucket = malloc(sizeof(int) * 65 * 65);
	int NB = mae_irpe_buckets(bucket, K, 1);
	int lens[3] = { 70, 65, 197 }, rpes[3] = { 0, 1, 0 };
	for (int c = 0; c < 3; c++) {
		int t = lens[c], rp = rpes[c];
		size_t nq = (size_t)S * t * 3 * C, no = (size_t)S * t * C, na = (size_t)S * NH * t * t;
		float *qkv = rnd(nq, 1.5), *r = rnd(no, 1), *rpe = rp ? rnd((size_t)HS * NB, 0.5) : NULL;
		float *o1 = zeros(no), *o2 = zeros(no), *a2 = zeros(na), *cls = zeros((size_t)S * NH * t);
		float *ws = zeros(mae_attention_scratch_floats(t, C, NH, rp ? NB : 0));
		float *d1 = zeros(nq), *d2 = zeros(nq), *o4 = zeros(no), *o5 = zeros(no);
		float *g1 = rp ? zeros((size_t)HS * NB) : NULL, *g2 = rp ? zeros((size_t)HS * NB) : NULL;
		mae_attention_forward(o1, cls, NULL, ws, qkv, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		mae_attention_forward_naive(o2, a2, qkv, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		mae_attention_backward(d1, o4, g1, ws, r, qkv, NULL, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		mae_attention_backward_naive(d2, g2, r, qkv, a2, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		ok(maxrel(o1, o2, no) < 1e-5 && maxrel(d1, d2, nq) < 1e-5 && (!rp || maxrel(g1, g2, (size_t)HS * NB) < 1e-5),
		   "attention%s with T = %d (BLAS path) matches naive forward and backward", rp ? " +iRPE" : "", t);
		/* probabilities kept by the forward: the same probabilities as naive, the same backward */
		float *pk = zeros(na), *o3 = zeros(no), *d3 = zeros(nq), *g3 = rp ? zeros((size_t)HS * NB) : NULL;
		mae_attention_forward(o3, NULL, pk, ws, qkv, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		mae_attention_backward(d3, o5, g3, ws, r, qkv, pk, rpe, rp ? bucket : NULL, S, t, C, NH, rp ? NB : 0);
		/* bit for bit, drpe too: its partial sums go by fixed groups of heads, not by thread */
		ok(maxrel(pk, a2, na) < 1e-5 && maxrel(o3, o1, no) == 0 && maxrel(d3, d1, nq) == 0 &&
		   (!rp || maxrel(g3, g1, (size_t)HS * NB) == 0),
		   "attention%s with kept probabilities: same output and gradients", rp ? " +iRPE" : "");
		/* the output written again by the backward, from recomputed or kept probabilities:
		 * the forward's, bit for bit (the model keeps the residual instead and relies on it) */
		ok(memcmp(o4, o1, no * sizeof(float)) == 0 && memcmp(o5, o1, no * sizeof(float)) == 0,
		   "attention%s backward writes the forward's output again, bit for bit", rp ? " +iRPE" : "");
	}
	free(bucket);
}

static void test_irpe(void)
{
	int want[7] = { 0, 1, 2, 2, 3, 3, 3 }, good = 1;
	for (int d = 0; d < 7; d++)
		good &= mae_irpe_piecewise_index(d) == want[d] && mae_irpe_piecewise_index(-d) == -want[d];
	ok(good, "iRPE piecewise index of 0..6 is 0 1 2 2 3 3 3 (odd in d)");
	int K = 7, T = 1 + K * K, *b = malloc(sizeof(int) * T * T);
	int NB = mae_irpe_buckets(b, K, 1);
	/* token 1 = (0,0), token 1+48 = (6,6): offset (-6,-6) -> (-3+3)*7 + (-3+3) = 0;
	 * reverse (6,6) -> 6*7+6 = 48; self -> 3*7+3 = 24; cls pairs -> 49 */
	ok(NB == 50 && b[1 * T + 49] == 0 && b[49 * T + 1] == 48 && b[5 * T + 5] == 24 &&
	   b[0] == 49 && b[3] == 49 && b[3 * T] == 49, "iRPE buckets for a 7x7 window with cls");
	free(b);
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { int R, p, c, D; float *out, *wp, *x, *w, *b, *r; } pe_t;
static double pe_loss(void *ctx)
{
	pe_t *t = ctx;
	mae_patch_embed_forward(t->out, t->wp, t->x, t->w, t->b, t->R, t->p * t->p, t->c, t->D);
	return dotd(t->out, t->r, (size_t)t->R * t->D);
}
static void test_patch_embed(void)
{
	pe_t t = { .R = 4, .p = 2, .c = 3, .D = 5 };
	int P = t.p * t.p * t.c;
	t.x = rnd((size_t)t.R * P, 1), t.w = rnd((size_t)t.D * P, 1), t.b = rnd(t.D, 1);
	t.r = rnd((size_t)t.R * t.D, 1), t.out = zeros((size_t)t.R * t.D), t.wp = zeros((size_t)t.D * P);
	float *o2 = zeros((size_t)t.R * t.D);
	pe_loss(&t);
	mae_patch_embed_forward_naive(o2, t.x, t.w, t.b, t.R, t.p, t.c, t.D);
	ok(maxrel(t.out, o2, (size_t)t.R * t.D) < 1e-6, "mae_patch_embed_forward (conv (c,a,b) weight on (a,b,c) patches) matches naive");
	/* one hand-checked element: w[d=1, ch=2, a=1, b=0] pairs with patch value (1*2+0)*3+2 = 8 */
	float *w1 = zeros((size_t)t.D * P), *x1 = zeros(P), *b0 = zeros(t.D), o1[5];
	w1[1 * P + 2 * 4 + 1 * 2 + 0] = 1.0f;
	x1[8] = 3.0f;
	mae_patch_embed_forward(o1, t.wp, x1, w1, b0, 1, t.p * t.p, t.c, t.D);
	ok(o1[1] == 3.0f && o1[0] == 0.0f, "patch_embed weight order is (c,a,b), patch order (a,b,c)");
	float *dw = zeros((size_t)t.D * P), *db = zeros(t.D), *dwp = zeros((size_t)t.D * P);
	mae_patch_embed_backward(dw, db, dwp, t.r, t.x, t.R, t.p * t.p, t.c, t.D);
	double e1 = fd_err(pe_loss, &t, t.w, (size_t)t.D * P, dw, 1e-2f);
	double e2 = fd_err(pe_loss, &t, t.b, t.D, db, 1e-2f);
	ok(e1 < FD_TOL && e2 < FD_TOL, "mae_patch_embed_backward vs finite differences (%.2g %.2g)", e1, e2);
}

static void test_pos_embed(void)
{
	/* D = 8, 3x3 grid: Q = 2, omega = (1, 1/100). Token l = i*3 + j + 1 (after cls). */
	float e[10 * 8];
	mae_pos_embed_sincos(e, 8, 3, 3, 1);
	const float *cls = e, *t5 = e + (1 + 1 * 3 + 2) * 8;   /* i = 1, j = 2 */
	int good = 1;
	for (int k = 0; k < 8; k++)
		good &= cls[k] == 0.0f;
	/* first half encodes the column j = 2, second half the row i = 1 */
	good &= fabs(t5[0] - sin(2.0)) < 1e-7 && fabs(t5[1] - sin(0.02)) < 1e-7;
	good &= fabs(t5[2] - cos(2.0)) < 1e-7 && fabs(t5[3] - cos(0.02)) < 1e-7;
	good &= fabs(t5[4] - sin(1.0)) < 1e-7 && fabs(t5[5] - sin(0.01)) < 1e-7;
	good &= fabs(t5[6] - cos(1.0)) < 1e-7 && fabs(t5[7] - cos(0.01)) < 1e-7;
	ok(good, "mae_pos_embed_sincos: cls row zero, first half encodes the column");
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { int S, N, Nk, C; uint8_t *mask; float *out, *x, *tok, *r; } un_t;
static double un_loss(void *ctx)
{
	un_t *t = ctx;
	mae_unshuffle_forward(t->out, t->x, t->tok, t->mask, t->S, t->N, t->Nk, t->C);
	return dotd(t->out, t->r, (size_t)t->S * (1 + t->N) * t->C);
}
static void test_tokens(void)
{
	un_t t = { .S = 2, .N = 6, .Nk = 2, .C = 3 };
	uint8_t mask[12] = { 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0 };
	t.mask = mask;
	size_t nx = (size_t)t.S * (1 + t.Nk) * t.C, no = (size_t)t.S * (1 + t.N) * t.C;
	t.x = rnd(nx, 1), t.tok = rnd(t.C, 1), t.r = rnd(no, 1), t.out = zeros(no);
	un_loss(&t);
	/* sample 0: visible patches 1 and 4 get x rows 1 and 2; patch 0 is the token */
	ok(t.out[(1 + 1) * 3] == t.x[1 * 3] && t.out[(1 + 4) * 3] == t.x[2 * 3] && t.out[1 * 3] == t.tok[0] &&
	   t.out[0] == t.x[0], "unshuffle puts visible tokens back in patch order, cls first");
	float *dx = zeros(nx), *dt = zeros(t.C);
	mae_unshuffle_backward(dx, dt, t.r, t.mask, t.S, t.N, t.Nk, t.C);
	double e1 = fd_err(un_loss, &t, t.x, nx, dx, 1e-2f), e2 = fd_err(un_loss, &t, t.tok, t.C, dt, 1e-2f);
	ok(e1 < FD_TOL && e2 < FD_TOL, "mae_unshuffle_backward vs finite differences (%.2g %.2g)", e1, e2);
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { int R, P, c, kind; uint8_t *mask; float *pred, *tgt; } loss_t;
static double loss_loss(void *ctx)
{
	loss_t *t = ctx;
	return t->kind ? mae_l1_masked_forward(t->pred, t->tgt, t->mask, t->R, t->P, t->c)
	               : mae_mse_masked_forward(t->pred, t->tgt, t->mask, t->R, t->P);
}
static void test_losses(void)
{
	/* norm-pix: unbiased variance, eps inside the sqrt */
	float x[4] = { 1, 2, 3, 4 }, y[4];
	mae_norm_pix_target(y, x, 1, 4, 1e-6f);
	double sd = sqrt(5.0 / 3.0 + 1e-6);
	ok(fabs(y[0] - (-1.5 / sd)) < 1e-6 && fabs(y[3] - 1.5 / sd) < 1e-6, "mae_norm_pix_target uses the unbiased variance");

	loss_t t = { .R = 6, .P = 12, .c = 3 };
	uint8_t mask[6] = { 1, 0, 1, 1, 0, 0 };
	t.mask = mask, t.pred = rnd(72, 1), t.tgt = rnd(72, 1);
	/* MSE by hand over the three hidden rows */
	double want = 0;
	for (int r = 0; r < 6; r++)
		if (mask[r])
			for (int i = 0; i < 12; i++)
				want += pow(t.pred[r * 12 + i] - t.tgt[r * 12 + i], 2) / 12.0 / 3.0;
	ok(fabs(loss_loss(&t) - want) < 1e-6, "mae_mse_masked_forward averages hidden patches only");
	float *g = zeros(72);
	mae_mse_masked_backward(g, t.pred, t.tgt, t.mask, t.R, t.P, 1.0f);
	double e = fd_err(loss_loss, &t, t.pred, 72, g, 1e-3f);
	ok(e < FD_TOL && g[12] == 0.0f, "mae_mse_masked_backward vs finite differences (%.2g), visible rows get 0", e);
	t.kind = 1;
	for (int i = 0; i < 72; i++)   /* keep |pred - target| away from the kink at 0 */
		if (fabs(t.pred[i] - t.tgt[i]) < 0.05f)
			t.pred[i] += 0.1f;
	double l1 = 0;
	for (int r = 0; r < 6; r++)
		if (mask[r])
			for (int i = 0; i < 12; i++)
				l1 += fabs(t.pred[r * 12 + i] - t.tgt[r * 12 + i]);
	l1 = l1 / (3 * 4 + 1e-5) / 3;
	ok(fabs(loss_loss(&t) - l1) < 1e-6, "mae_l1_masked_forward is SimMIM's per-pixel L1 (%.6f)", l1);
	memset(g, 0, 72 * sizeof(float));
	mae_l1_masked_backward(g, t.pred, t.tgt, t.mask, t.R, t.P, t.c, 1.0f);
	e = fd_err(loss_loss, &t, t.pred, 72, g, 1e-3f);
	ok(e < FD_TOL, "mae_l1_masked_backward vs finite differences (%.2g)", e);
}

typedef struct { freq_loss_ws ws; int B; uint8_t *fm; float *pred, *tgt; } fq_t;
static double fq_loss(void *ctx)
{
	fq_t *t = ctx;
	return mae_freq_loss_forward(&t->ws, t->pred, t->tgt, t->fm, t->B);
}
static void test_freq_loss(void)
{
	fq_t t = { .B = 2 };
	int H = 6, W = 6, p = 2, c = 2, N = 9, P = 8;
	mae_freq_loss_init(&t.ws, H, W, p, c);
	t.pred = rnd((size_t)t.B * N * P, 1), t.tgt = rnd((size_t)t.B * N * P, 1);
	t.fm = keep(malloc((size_t)t.B * H * W));
	for (int i = 0; i < t.B * H * W; i++)
		t.fm[i] = (i * 7) % 3 != 0;
	/* reference: the DFT summed directly in double */
	double want = 0, cnt = 0;
	for (int b = 0; b < t.B; b++)
		for (int ch = 0; ch < c; ch++)
			for (int u = 0; u < H; u++)
				for (int v = 0; v < W; v++) {
					if (!t.fm[(b * H + u) * W + v])
						continue;
					double re = 0, im = 0;
					for (int y = 0; y < H; y++)
						for (int x = 0; x < W; x++) {
							int l = (y / p) * 3 + x / p, k = ((y % p) * p + x % p) * c + ch;
							double d = t.pred[(b * N + l) * P + k] - t.tgt[(b * N + l) * P + k];
							double ang = -2 * M_PI * ((double)u * y / H + (double)v * x / W);
							re += d * cos(ang) / 6.0, im += d * sin(ang) / 6.0;
						}
					want += sqrt(re * re + im * im + 1e-12);
					cnt += 1;
				}
	want /= cnt;
	double got = fq_loss(&t);
	ok(fabs(got - want) < 1e-5 * want, "mae_freq_loss_forward matches a direct DFT (%.6f vs %.6f)", got, want);
	float *g = zeros((size_t)t.B * N * P);
	mae_freq_loss_backward(&t.ws, g, t.pred, t.tgt, t.fm, t.B, 1.0f);
	double e = fd_err(fq_loss, &t, t.pred, (size_t)t.B * N * P, g, 1e-3f);
	ok(e < FD_TOL, "mae_freq_loss_backward vs finite differences (%.2g)", e);
	mae_freq_loss_free(&t.ws);
}

/* ---------------------------------------------------------------------------------------- */
/* the classification branch (SupMAE): mean pool, BatchNorm1d in training mode, cross-entropy
 * over a temperature */
typedef struct { int S, T, R, C, K; float *x, *pool, *r, *out, *m, *s, *inp, *w, *b, *probs, *logits, temp; int32_t *lab; } head_t;
static double pool_loss(void *c)
{
	head_t *t = c;
	mae_mean_pool_forward(t->pool, t->x, t->S, t->T, 1, t->C);
	return dotd(t->pool, t->r, (size_t)t->S * t->C);
}
static double bn_loss(void *c)
{
	head_t *t = c;
	mae_batchnorm_forward(t->out, t->m, t->s, t->inp, t->w, t->b, t->R, t->C, 1e-5f);
	return dotd(t->out, t->r, (size_t)t->R * t->C);
}
static double ce_loss(void *c)
{
	head_t *t = c;
	return mae_crossentropy_forward(t->probs, t->logits, t->lab, t->R, t->K, t->temp);
}
static void test_head(void)
{
	head_t t = { .S = 3, .T = 5, .C = 6 };
	size_t nx = (size_t)t.S * t.T * t.C;
	t.x = rnd(nx, 2), t.pool = zeros((size_t)t.S * t.C), t.r = rnd(64 * 64, 1);
	pool_loss(&t);
	double want = (t.x[(1 * t.T + 1) * t.C + 2] + t.x[(1 * t.T + 2) * t.C + 2] + t.x[(1 * t.T + 3) * t.C + 2] +
	               t.x[(1 * t.T + 4) * t.C + 2]) / 4.0;
	ok(fabs(t.pool[1 * t.C + 2] - want) < 1e-6, "mae_mean_pool_forward: the mean of the tokens after the cls");
	float *dx = zeros(nx);
	mae_mean_pool_backward(dx, t.r, t.S, t.T, 1, t.C);
	double e = fd_err(pool_loss, &t, t.x, nx, dx, 1e-2f);
	int cls0 = 1;
	for (int s = 0; s < t.S; s++)
		for (int c = 0; c < t.C; c++)
			cls0 &= dx[(size_t)s * t.T * t.C + c] == 0.0f;
	ok(e < FD_TOL && cls0, "mae_mean_pool_backward vs finite differences (%.2g), the cls row gets 0", e);

	t.R = 7, t.C = 5;
	size_t n = (size_t)t.R * t.C;
	t.inp = rnd(n, 2), t.w = rnd(t.C, 1), t.b = rnd(t.C, 1), t.out = zeros(n), t.m = zeros(t.C), t.s = zeros(t.C);
	float *one = keep(malloc(t.C * sizeof(float))), *zero = zeros(t.C), *y = zeros(n);
	for (int c = 0; c < t.C; c++)
		one[c] = 1;
	mae_batchnorm_forward(y, t.m, t.s, t.inp, one, zero, t.R, t.C, 1e-5f);
	double mu, var, en[3];
	int good = normalised(y + 3, t.R, (size_t)t.C, &mu, &var);   /* column 3 */
	ok(good, "mae_batchnorm_forward normalises each column over the batch (mean %.2g, biased var %.6f)", mu, var);
	bn_loss(&t);
	float *di = zeros(n), *dw = zeros(t.C), *db = zeros(t.C);
	mae_batchnorm_backward(di, dw, db, t.r, t.inp, t.w, t.m, t.s, t.R, t.C);
	good = norm_fd(bn_loss, &t, t.inp, n, t.w, t.b, t.C, di, dw, db, en);
	ok(good, "mae_batchnorm_backward vs finite differences (%.2g %.2g %.2g)", en[0], en[1], en[2]);

	t.R = 6, t.K = 4, t.temp = 10;
	int32_t lab[6] = { 0, 3, 1, 1, 2, 3 };
	t.lab = lab, t.logits = rnd((size_t)t.R * t.K, 8), t.probs = zeros((size_t)t.R * t.K);
	double ce = 0;
	for (int r = 0; r < t.R; r++) {
		double se = 0;
		for (int k = 0; k < t.K; k++)
			se += exp(t.logits[r * t.K + k] / 10.0);
		ce += log(se) - t.logits[r * t.K + lab[r]] / 10.0;
	}
	ce /= t.R;
	double got = ce_loss(&t);
	ok(fabs(got - ce) < 1e-6, "mae_crossentropy_forward is the mean of -log softmax(z / 10)[label] (%.6f vs %.6f)", got, ce);
	float *dz = zeros((size_t)t.R * t.K);
	mae_crossentropy_backward(dz, t.probs, t.lab, t.R, t.K, t.temp, 0.5f);
	for (int i = 0; i < t.R * t.K; i++)
		dz[i] *= 2.0f;   /* dloss 0.5, twice: the scale reaches every row */
	e = fd_err(ce_loss, &t, t.logits, (size_t)t.R * t.K, dz, 1e-2f);
	ok(e < FD_TOL, "mae_crossentropy_backward vs finite differences (%.2g)", e);
}

/* InfoNCE (CMAE): the loss from its definition in double, and dq against finite differences */
typedef struct { int R, C; float temp, *q, *k, *qn, *qnorm, *kn, *probs; } nce_t;
static double nce_loss(void *c)
{
	nce_t *t = c;
	return mae_infonce_forward(t->qn, t->qnorm, t->kn, t->probs, t->q, t->k, t->R, t->C, t->temp);
}

static void test_infonce(void)
{
	nce_t t = { .R = 6, .C = 5, .temp = 0.07f };
	t.q = rnd((size_t)t.R * t.C, 1.0f), t.k = rnd((size_t)t.R * t.C, 1.0f);
	t.qn = zeros((size_t)t.R * t.C), t.kn = zeros((size_t)t.R * t.C);
	t.qnorm = zeros(t.R), t.probs = zeros((size_t)t.R * t.R);
	double want = 0;
	for (int r = 0; r < t.R; r++) {
		double z[6], mx = -1e300, se = 0, nq = 0;
		for (int c = 0; c < t.C; c++)
			nq += (double)t.q[r * t.C + c] * t.q[r * t.C + c];
		for (int j = 0; j < t.R; j++) {
			double nk = 0, d = 0;
			for (int c = 0; c < t.C; c++)
				nk += (double)t.k[j * t.C + c] * t.k[j * t.C + c], d += (double)t.q[r * t.C + c] * t.k[j * t.C + c];
			z[j] = d / sqrt(nq * nk) / 0.07;
			mx = fmax(mx, z[j]);
		}
		for (int j = 0; j < t.R; j++)
			se += exp(z[j] - mx);
		want += log(se) + mx - z[r];
	}
	want /= t.R;
	double got = nce_loss(&t);
	ok(fabs(got - want) < 1e-5 * fmax(1.0, fabs(want)), "mae_infonce_forward is the mean of -log softmax(qn kn^T / 0.07)_rr (%.6f vs %.6f)", got, want);
	float *dq = zeros((size_t)t.R * t.C);
	mae_infonce_backward(dq, t.qn, t.qnorm, t.kn, t.probs, t.R, t.C, t.temp, 0.5f);
	for (int i = 0; i < t.R * t.C; i++)
		dq[i] *= 2.0f;   /* dloss 0.5, twice */
	double e = fd_err(nce_loss, &t, t.q, (size_t)t.R * t.C, dq, 1e-3f);
	ok(e < FD_TOL, "mae_infonce_backward vs finite differences, temperature 0.07 (%.2g)", e);
	t.temp = 1.0f;
	nce_loss(&t);
	memset(dq, 0, (size_t)t.R * t.C * sizeof *dq);
	mae_infonce_backward(dq, t.qn, t.qnorm, t.kn, t.probs, t.R, t.C, t.temp, 1.0f);
	e = fd_err(nce_loss, &t, t.q, (size_t)t.R * t.C, dq, 1e-2f);
	ok(e < FD_TOL, "  and at temperature 1 (%.2g)", e);
}

int main(void)
{
	mae_threads_init(0);
	test_linear();
	test_gemm();
	test_linear_split();
	test_nested_pool();
	test_layernorm();
	test_fast_math();
	test_softmax_rows();
	test_gelu();
	test_linear_gelu();
	test_attention(0);
	test_attention(1);
	test_attention_blas();
	test_irpe();
	test_patch_embed();
	test_pos_embed();
	test_tokens();
	test_losses();
	test_freq_loss();
	test_head();
	test_infonce();
	free_arrays();
	return done();
}
