/* test_bf16.c: the bf16 product (mae_gemm_bf16) and the linear layers in bf16 mode
 * (mae_set_bf16). Prints TAP; exits 1 on any failure; skips where the build has no AVX512_BF16.
 *
 * Tolerances, and why:
 *   - against double sums of the bf16-ROUNDED inputs: 1e-5 of the sum of magnitudes
 *     sum |a_k b_k| (as test_kernels' mae_gemm check). A product of two bf16 values is exact
 *     in fp32 (8 + 8 significant bits), so only the order and fp32 rounding of the additions
 *     differ from the double sum.
 *   - against double sums of the fp32 inputs: bf16 keeps 8 significant bits, so rounding to
 *     nearest moves an input by at most half a unit in the 8th bit, u = 2^-8 of its value (for
 *     fp32, u = 2^-24), and a product of two rounded inputs by at most 2u + u^2 = 2^-7 + 2^-16
 *     of itself; the sum errs by at most that of the sum of magnitudes, and with the additions'
 *     1e-5: 7.83e-3 + 1e-5 -> 7.85e-3 of the sum of magnitudes. The same runs must also err by
 *     more than 1e-4 somewhere (fp32 gives ~1e-7): a silent fp32 product fails.
 *   - finite differences of a bf16 linear layer: (a) inputs on the grid k/64 (|k| <= 64) with
 *     eps 1/64, so x, x +- eps, W, dy are all exact in bf16 and the bf16 layer is the exact
 *     layer up to fp32 sums: norm-wise 1e-4; (b) uniform random inputs in [-1, 1), eps 1/4
 *     (the loss is linear in each input, so a large step costs nothing): the difference
 *     quotient of the bf16 forward errs by up to u (|x| + eps) / eps <= 5 u = 1.95e-2 of an
 *     element's gradient (the perturbed input's rounding, the same in both losses for every
 *     other input), the bf16 gradient by up to 2u = 7.8e-3 of its terms' magnitudes: 3e-2.
 *   - the layers in bf16 mode against the fp32 layers on the unrounded inputs: more than 1e-5
 *     (rounding happened) and less than 1e-2 of the largest value (2u of the magnitudes, which
 *     at these sizes are within a few times the largest value; measured 2-3e-3). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../oracle/kernels_ref.h"
#include "tap.h"
#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "../../lib/kernels/kernels_gemm.h"

#define ARRAYS_SEED 0x9E3779B97F4A7C15ULL
#include "arrays.h"
#include "fd.h"

/* x rounded to bf16 from the definition: the nearest value with 8 significant bits, ties to
 * the even one (as _mm512_cvtne2ps_pbh; no NaN or denormal in these tests) */
static float bf16(float x)
{
	if (x == 0)
		return x;
	int e;
	double m = frexp(x, &e);          /* x = m 2^e, 0.5 <= |m| < 1 */
	double s = ldexp(m, 8);           /* 8 significant bits above the point */
	double r = nearbyint(s);          /* ties to even in the default rounding mode */
	return (float)ldexp(r, e - 8);
}
static float *rounded(const float *a, size_t n)
{
	float *b = keep(malloc(n * sizeof(float)));
	for (size_t i = 0; i < n; i++)
		b[i] = bf16(a[i]);
	return b;
}

static double maxrel(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num = fmax(num, fabs((double)a[i] - b[i]));
		den = fmax(den, fabs((double)b[i]));
	}
	return num / (den > 1e-30 ? den : 1e-30);
}

/* the rounding itself: ties go to the even neighbour, 1 + 2^-8 to 1 and 1 + 3 2^-8 to
 * 1 + 2^-6; and K = 1 with B = 1 gives C = bf16(A) exactly */
static void test_rounding(void)
{
	float A[6] = { 1 + 0x1p-8f, 1 + 3 * 0x1p-8f, 1 + 0x1p-9f, -(1 + 0x1p-7f + 0x1p-9f), 3.14159265f, 1e-3f };
	float want[6] = { 1, 1 + 0x1p-6f, 1, -(1 + 0x1p-7f), 3.140625f, bf16(1e-3f) };
	float B[1] = { 1 }, C[6];
	mae_gemm_bf16(6, 1, 1, A, 1, 1, B, 1, 1, C, 1, 0, NULL);
	int good = 1;
	for (int i = 0; i < 6; i++)
		good &= C[i] == want[i] && bf16(A[i]) == want[i];
	ok(good, "mae_gemm_bf16 rounds to nearest, ties to even (1+2^-8 -> 1, 1+3*2^-8 -> 1+2^-6, pi -> %.7g)", C[4]);
}

/* C against double sums, of the rounded inputs (tight) and of the fp32 ones (bf16's bound), over
 * ragged shapes (rows not a multiple of 6 or of the 192-row block, columns not of 16 or 64, K odd,
 * K = 1, K past the 512 block of k, more columns than one group of B's panels: A packed whole and
 * read again), A and B as they lie or transposed (A transposed is the
 * weight gradient's dy^T, B transposed the forward's W^T), C inside a wider array, accumulate
 * and every epilogue */
static void test_gemm_bf16(void)
{
	int shapes[][3] = { { 1, 1, 1 }, { 7, 17, 5 }, { 13, 64, 300 }, { 100, 130, 33 }, { 97, 70, 513 },
	                    { 256, 48, 40 }, { 6, 20, 1 }, { 5, 0, 3 }, { 6, 20, 0 }, { 9, 40, 1100 },
	                    { 200, 150, 601 }, { 31, 200, 2 }, { 12, 65, 255 }, { 20, 530, 1030 }, { 8, 1350, 9 } };
	int bad = 0, badf = 0, cases = 0, packed_diff = 0;
	double worst = 0, worstf = 0, bigf = 0;
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int var = 0; var < 8; var++) {
			int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ldc = N + 3;
			int ta = var & 1, tb = (var >> 1) & 1, acc = (var >> 2) & 1;
			float *A = rnd((size_t)M * K + 1, 1), *B = rnd((size_t)K * N + 1, 1);
			float *Ar = rounded(A, (size_t)M * K + 1), *Br = rounded(B, (size_t)K * N + 1);
			float *C = rnd((size_t)M * ldc + 1, 1), *C0 = copy(C, (size_t)M * ldc + 1);
			float *bias = rnd((size_t)N + 1, 1), *resid = rnd((size_t)M * ldc + 1, 1);
			float *aux = rnd((size_t)M * ldc + 1, 2), *g = zeros((size_t)M * ldc + 1);
			int epi = (int)(s + var) % 4;   /* none, bias + resid with GELU out, dmul, gelu_pre */
			gemm_epilogue e = { .bias = epi == 1 ? bias : NULL, .resid = epi == 1 ? resid : NULL,
			                    .gelu_out = epi == 1 ? g : NULL, .dmul = epi == 2 ? aux : NULL,
			                    .gelu_pre = epi == 3 ? aux : NULL };
			long rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
			mae_gemm_bf16(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, acc, epi ? &e : NULL);
			/* B packed beforehand, in 1 to 3 parts (as threads would), gives the same bits */
			size_t pb = mae_gemm_bf16_packed_bytes(N, K);
			void *Bw = pb ? aligned_alloc(64, (pb + 63) & ~(size_t)63) : NULL;
			int parts = 1 + (int)(s + var) % 3;
			for (int part = 0; part < parts; part++)
				mae_gemm_bf16_pack(Bw, N, K, B, rsb, csb, part, parts);
			float *C2 = copy(C0, (size_t)M * ldc + 1), *g2 = zeros((size_t)M * ldc + 1);
			gemm_epilogue e2 = e;
			e2.gelu_out = e.gelu_out ? g2 : NULL;
			mae_gemm_bf16_packed(M, N, K, A, rsa, csa, Bw, C2, ldc, acc, epi ? &e2 : NULL);
			packed_diff += memcmp(C, C2, ((size_t)M * ldc + 1) * sizeof *C) != 0 ||
			               (epi == 1 && memcmp(g, g2, ((size_t)M * ldc + 1) * sizeof *g) != 0);
			free(Bw);
			for (int i = 0; i < M; i++)
				for (int j = 0; j < ldc; j++) {
					size_t o = (size_t)i * ldc + j;
					if (j >= N) {
						bad += C[o] != C0[o];   /* columns past N untouched */
						continue;
					}
					double x = acc ? C0[o] : 0, xf = x, mag = fabs(x), magf = mag;
					for (int k = 0; k < K; k++) {
						double p = (double)Ar[i * rsa + k * csa] * Br[k * rsb + j * csb];
						double pf = (double)A[i * rsa + k * csa] * B[k * rsb + j * csb];
						x += p, mag += fabs(p), xf += pf, magf += fabs(pf);
					}
					if (epi == 1) {
						double be = bias[j] + resid[o];
						x += be, xf += be, mag += fabs(bias[j]) + fabs(resid[o]), magf += fabs(bias[j]) + fabs(resid[o]);
					}
					double gl = 0, cs = C[o];
					if (epi == 1)
						gl = 0.5 * cs * (1 + erf(cs / sqrt(2.0)));
					if (epi == 2)
						x *= aux[o], xf *= aux[o], mag *= fabs(aux[o]), magf *= fabs(aux[o]);
					if (epi == 3) {
						double a = aux[o], d = 0.5 * (1 + erf(a / sqrt(2.0))) + a * exp(-0.5 * a * a) / sqrt(2 * M_PI);
						x *= d, xf *= d, mag *= fabs(d) + 0.1, magf *= fabs(d) + 0.1;
					}
					double err = fabs(C[o] - x) / (mag + 1e-6), errf = fabs(C[o] - xf) / (magf + 1e-6);
					if (epi == 1)
						err = fmax(err, fabs(g[o] - gl) / (1 + fabs(cs)));
					worst = fmax(worst, err), worstf = fmax(worstf, errf);
					if (K >= 32)
						bigf = fmax(bigf, errf);
					bad += !(err < 1e-5);
					badf += !(errf < 7.85e-3);
					if (!(errf < 7.85e-3) && badf < 4)
						diag("M %d N %d K %d var %d epi %d (%d,%d): C %.9g fp32 sum %.9g rounded sum %.9g mag %.9g",
						     M, N, K, var, epi, i, j, C[o], xf, x, magf);
				}
			cases++;
		}
	ok(bad == 0, "mae_gemm_bf16 matches double sums of the bf16-rounded inputs in %d cases (shapes x "
	   "transposes x accumulate x epilogues): worst error %.2g of the sum of magnitudes (<= 1e-5)", cases, worst);
	ok(badf == 0 && bigf > 1e-4, "  and double sums of the fp32 inputs within bf16's bound: worst %.2g of "
	   "the sum of magnitudes (<= 7.85e-3, and > 1e-4: the inputs were rounded)", worstf);
	ok(packed_diff == 0, "mae_gemm_bf16_packed (B packed beforehand, in 1 to 3 parts) equals mae_gemm_bf16 bit for "
	   "bit in the %d cases, epilogues included", cases);
}

/* ---------------------------------------------------------------------------------------- */
typedef struct { int R, C, OC; float *out, *inp, *w, *b, *r; } lin_t;
static double dotd(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}
static double lin_loss(void *c)
{
	lin_t *t = c;
	mae_linear_forward(t->out, t->inp, t->w, t->b, t->R, t->C, t->OC);
	return dotd(t->out, t->r, (size_t)t->R * t->OC);
}
static float *grid(size_t n)
{
	float *a = keep(malloc(n * sizeof(float)));
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(int)lrintf(frand() * 63) / 64.0f;
	return a;
}

/* mae_linear_backward in bf16 mode against finite differences of mae_linear_forward in bf16 mode */
static void test_linear_fd(void)
{
	for (int kind = 0; kind < 2; kind++) {
		lin_t t = { .R = 9, .C = 13, .OC = 7 };
		size_t ni = t.R * t.C, nw = t.OC * t.C, no = t.R * t.OC;
		float *(*gen)(size_t) = kind ? NULL : grid;
		t.inp = gen ? gen(ni) : rnd(ni, 1), t.w = gen ? gen(nw) : rnd(nw, 1), t.b = gen ? gen(t.OC) : rnd(t.OC, 1);
		t.r = gen ? gen(no) : rnd(no, 1), t.out = zeros(no);
		float *di = zeros(ni), *dw = zeros(nw), *db = zeros(t.OC);
		mae_set_bf16(1);
		mae_linear_backward(di, dw, db, t.r, t.inp, t.w, t.R, t.C, t.OC);
		float eps = kind ? 0.25f : 1.0f / 64, tol = kind ? 3e-2f : 1e-4f;
		double e1 = fd_err(lin_loss, &t, t.inp, ni, di, eps), e2 = fd_err(lin_loss, &t, t.w, nw, dw, eps);
		double e3 = fd_err(lin_loss, &t, t.b, t.OC, db, eps);
		mae_set_bf16(0);
		ok(e1 < tol && e2 < tol && e3 < tol, "bf16 mae_linear_backward vs finite differences of the bf16 forward, "
		   "%s (%.2g %.2g %.2g, <= %g)", kind ? "random inputs, eps 1/4" : "inputs exact in bf16, eps 1/64",
		   e1, e2, e3, (double)tol);
	}
}

/* The layers in bf16 mode, split over the pool and not, with every fused variant: forward,
 * residual, GELU; backward, backward_set, backward_gelu. Each against the naive fp32 layer on
 * the ROUNDED inputs (1e-5: only fp32 sums differ; bias, residual, GELU and dbias on the
 * unrounded values, as the layers keep them fp32), and differing from the fp32 layer on the
 * unrounded inputs by more than 1e-5 but less than 1e-2 of the largest value (see the top). */
static void test_linear_modes(void)
{
	int shapes[3][3] = { { 7, 5, 6 }, { 600, 40, 96 }, { 600, 96, 40 } };   /* R, C, OC */
	for (int s = 0; s < 3; s++) {
		int R = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
		size_t ni = (size_t)R * C, nw = (size_t)OC * C, no = (size_t)R * OC;
		float *inp = rnd(ni, 1), *w = rnd(nw, 0.3f), *b = rnd(OC, 1), *dout = rnd(no, 1), *res = rnd(no, 1);
		float *inpr = rounded(inp, ni), *wr = rounded(w, nw), *doutr = rounded(dout, no);
		float *pre = rnd(ni, 1);
		/* references: fp32 naive on rounded operands (want), and on the originals (fp) */
		float *want = zeros(no), *fp = zeros(no);
		mae_linear_forward_naive(want, inpr, wr, b, R, C, OC);
		mae_linear_forward_naive(fp, inp, w, b, R, C, OC);
		float *di_w = zeros(ni), *dw_w = rnd(nw, 1), *db_w = rnd(OC, 1), *di_f = zeros(ni);
		float *dw_f = copy(dw_w, nw), *db_f = copy(db_w, OC), *dw0 = copy(dw_w, nw), *db0 = copy(db_w, OC);
		float *db_x = zeros(OC);
		mae_linear_backward_naive(di_w, dw_w, NULL, doutr, inpr, wr, R, C, OC);
		mae_linear_backward_naive(NULL, NULL, db_x, dout, inp, w, R, C, OC);
		for (int o = 0; o < OC; o++)
			db_w[o] += db_x[o];
		mae_linear_backward_naive(di_f, dw_f, db_f, dout, inp, w, R, C, OC);

		mae_set_bf16(1);
		float *out = zeros(no), *out_r = zeros(no), *pre_o = zeros(no), *gel = zeros(no);
		mae_linear_forward(out, inp, w, b, R, C, OC);
		mae_linear_forward_residual(out_r, inp, w, b, res, R, C, OC);
		mae_linear_forward_gelu(pre_o, gel, inp, w, b, R, C, OC);
		float *di = zeros(ni), *dw = copy(dw0, nw), *db = copy(db0, OC), *di_s = rnd(ni, 5);
		mae_linear_backward(di, dw, db, dout, inp, w, R, C, OC);
		mae_linear_backward_set(di_s, NULL, NULL, dout, inp, w, R, C, OC);
		float *di_g = zeros(ni);
		mae_linear_backward_gelu(di_g, NULL, NULL, dout, inp, w, pre, NULL, R, C, OC);
		mae_set_bf16(0);

		double er = 0, eg = 0;
		for (size_t i = 0; i < no; i++) {
			er = fmax(er, fabs(out_r[i] - (want[i] + res[i])) / (fabs(want[i]) + fabs(res[i]) + 1));
			double x = pre_o[i], gl = 0.5 * x * (1 + erf(x / sqrt(2.0)));
			eg = fmax(eg, fabs(gel[i] - gl) / (1 + fabs(x)));
		}
		double egb = 0;
		for (size_t i = 0; i < ni; i++) {
			double a = pre[i], d = 0.5 * (1 + erf(a / sqrt(2.0))) + a * exp(-0.5 * a * a) / sqrt(2 * M_PI);
			egb = fmax(egb, fabs(di_g[i] - di_w[i] * d));
		}
		double dmax = 0;
		for (size_t i = 0; i < ni; i++)
			dmax = fmax(dmax, fabs(di_w[i]));
		egb /= dmax;   /* of the largest dinp, as maxrel */
		double eo = maxrel(out, want, no), ei = maxrel(di, di_w, ni), ew = maxrel(dw, dw_w, nw);
		double eb = maxrel(db, db_w, OC), es = maxrel(di_s, di_w, ni);
		ok(eo < 1e-5 && er < 1e-5 && maxrel(pre_o, want, no) < 1e-5 && eg < 1e-5 && ei < 1e-5 && es < 1e-5 &&
		   egb < 1e-5 && ew < 1e-5 && eb < 1e-5,
		   "bf16 linear R %d C %d OC %d: forward (+residual, +GELU), dinp (+=, =, GELU'), dw and dbias "
		   "(accumulated) match fp32 on the rounded inputs (%.2g %.2g %.2g %.2g %.2g %.2g %.2g %.2g %.2g)", R, C, OC, eo, er,
		   maxrel(pre_o, want, no), eg, ei, es, egb, ew, eb);
		double fo = maxrel(out, fp, no), fi = maxrel(di, di_f, ni), fw = maxrel(dw, dw_f, nw);
		ok(fo > 1e-5 && fo < 1e-2 && fi > 1e-5 && fi < 1e-2 && fw > 1e-6 && fw < 1e-2,
		   "  and differ from the fp32 layer by bf16's rounding (forward %.2g, dinp %.2g, dw %.2g)", fo, fi, fw);
	}
	/* the setting is off again: the fp32 layer's bits */
	int R = 50, C = 20, OC = 30;
	float *inp = rnd((size_t)R * C, 1), *w = rnd((size_t)OC * C, 1), *o1 = zeros((size_t)R * OC), *o2 = zeros((size_t)R * OC);
	mae_linear_forward(o1, inp, w, NULL, R, C, OC);
	mae_linear_forward_naive(o2, inp, w, NULL, R, C, OC);
	ok(!mae_get_bf16() && maxrel(o1, o2, (size_t)R * OC) < 1e-6, "mae_set_bf16(0) gives the fp32 layer back");
}

/* mae_linear_prepack: the products on prepacked weights give the unpacked products' bits, read
 * the packing (weights changed after it do not show until the clear), and only in bf16 */
static void test_linear_prepack(void)
{
	int R = 2500, C = 96, OC = 200;   /* split over the pool when it has two threads */
	size_t ni = (size_t)R * C, nw = (size_t)OC * C, no = (size_t)R * OC;
	float *inp = rnd(ni, 1), *w = rnd(nw, 0.3f), *b = rnd(OC, 1), *dout = rnd(no, 1), *w0 = copy(w, nw);
	float *y0 = zeros(no), *y1 = zeros(no), *y2 = zeros(no), *y3 = zeros(no), *yn = zeros(no);
	float *d0 = zeros(ni), *d1 = zeros(ni), *d2 = zeros(ni), *d3 = zeros(ni), *dn = zeros(ni);
	const float *ws[2] = { b, w };   /* a second entry of another shape beside it */
	int cs[2] = { 1, C }, ocs[2] = { OC, OC };
	mae_set_bf16(1);
	mae_linear_forward(y0, inp, w, b, R, C, OC);
	mae_linear_backward_set(d0, NULL, NULL, dout, inp, w, R, C, OC);
	mae_linear_prepack(ws, cs, ocs, 2, 0);
	mae_linear_forward(y1, inp, w, b, R, C, OC);
	mae_linear_backward_set(d1, NULL, NULL, dout, inp, w, R, C, OC);   /* W^T packed, not W */
	for (size_t i = 0; i < nw; i++)
		w[i] *= 2;
	mae_linear_forward(y2, inp, w, b, R, C, OC);                       /* still the packing: w0 */
	mae_linear_prepack(ws, cs, ocs, 2, 1);
	mae_linear_backward_set(d2, NULL, NULL, dout, inp, w, R, C, OC);   /* W packed: 2 w0 */
	for (size_t i = 0; i < nw; i++)
		w[i] = w0[i];
	mae_linear_backward_set(d3, NULL, NULL, dout, inp, w, R, C, OC);   /* still 2 w0 */
	mae_linear_prepack_clear();
	mae_linear_forward(y3, inp, w, b, R, C, OC);
	mae_linear_backward_set(dn, NULL, NULL, dout, inp, w, R, C, OC);
	mae_set_bf16(0);
	for (size_t i = 0; i < nw; i++)
		w[i] = 2 * w0[i];
	mae_linear_prepack(ws, cs, ocs, 2, 0);   /* fp32: nothing packed */
	mae_linear_forward(yn, inp, w, b, R, C, OC);
	mae_linear_prepack_clear();
	float *y2n = zeros(no), *d2n = zeros(ni);
	mae_set_bf16(1);
	mae_linear_forward(y2n, inp, w, b, R, C, OC);
	mae_linear_backward_set(d2n, NULL, NULL, dout, inp, w, R, C, OC);
	mae_set_bf16(0);
	float *yf = zeros(no);
	mae_linear_forward_naive(yf, inp, w, b, R, C, OC);
	int same = !memcmp(y0, y1, no * sizeof *y0) && !memcmp(d0, d1, ni * sizeof *d0);
	int read = !memcmp(y2, y0, no * sizeof *y0) && !memcmp(d2, d2n, ni * sizeof *d2) &&
	           !memcmp(d3, d2n, ni * sizeof *d3) && memcmp(d2, d0, ni * sizeof *d0);
	int cleared = !memcmp(y3, y0, no * sizeof *y0) && !memcmp(dn, d0, ni * sizeof *d0);
	ok(same, "prepacked bf16 weights give the bits of the products that pack them (forward, dinp; R %d C %d OC %d)",
	   R, C, OC);
	ok(read && cleared, "  the products read the packing until mae_linear_prepack_clear (weights changed after "
	   "it show only then), W^T for the forward and W for dinp");
	ok(maxrel(yn, yf, no) < 1e-5 && memcmp(yn, y2n, no * sizeof *yn),
	   "  with the bf16 setting off nothing is packed: the fp32 product of the current weights (%.2g)",
	   maxrel(yn, yf, no));
}

/* ---------------------------------------------------------------------------------------- */
/* The attention's per-head products in bf16 mode (kernels_attention.c), against a double
 * reference that rounds what maepipe rounds: S = scale bf16(q) bf16(k)^T, P = softmax(S),
 * O = bf16(P) bf16(V); dP = bf16(dO) bf16(V)^T, dV = bf16(P)^T bf16(dO), dS = P (dP - rowsum(dP P)),
 * dQ = bf16(scale dS) bf16(K), dK = bf16(scale dS)^T bf16(Q); P and dS are rounded from the
 * reference's own values cast to fp32. */
static void attention_ref_bf16(double *out, double *dqkv, const float *qkv, const float *dout, int S, int T, int C, int NH)
{
	int HS = C / NH;
	double scale = 1.0 / sqrt((double)HS);
	double *P = malloc(sizeof(double) * T * T), *dS = malloc(sizeof(double) * T * T);
	for (int s = 0; s < S; s++)
		for (int h = 0; h < NH; h++) {
			const float *q = qkv + (size_t)s * T * 3 * C + h * HS, *k = q + C, *v = q + 2 * C;
			const float *dO = dout + (size_t)s * T * C + h * HS;
			double *o = out + (size_t)s * T * C + h * HS, *dq = dqkv + (size_t)s * T * 3 * C + h * HS;
			double *dk = dq + C, *dv = dq + 2 * C;
			for (int i = 0; i < T; i++) {
				double mx = -1e300, sum = 0;
				for (int j = 0; j < T; j++) {
					double x = 0;
					for (int d = 0; d < HS; d++)
						x += (double)bf16(q[(size_t)i * 3 * C + d]) * bf16(k[(size_t)j * 3 * C + d]);
					P[i * T + j] = (float)((float)x * (float)scale);
					mx = fmax(mx, P[i * T + j]);
				}
				for (int j = 0; j < T; j++)
					sum += P[i * T + j] = exp(P[i * T + j] - mx);
				for (int j = 0; j < T; j++)
					P[i * T + j] = (float)(P[i * T + j] / sum);
			}
			for (int i = 0; i < T; i++)
				for (int d = 0; d < HS; d++) {
					double x = 0, y = 0;
					for (int j = 0; j < T; j++) {
						x += (double)bf16((float)P[i * T + j]) * bf16(v[(size_t)j * 3 * C + d]);
						y += (double)bf16((float)P[j * T + i]) * bf16(dO[(size_t)j * C + d]);
					}
					o[(size_t)i * C + d] = x;
					dv[(size_t)i * 3 * C + d] = y;
				}
			for (int i = 0; i < T; i++) {
				double dot = 0;
				for (int j = 0; j < T; j++) {
					double x = 0;
					for (int d = 0; d < HS; d++)
						x += (double)bf16(dO[(size_t)i * C + d]) * bf16(v[(size_t)j * 3 * C + d]);
					dS[i * T + j] = x;
					dot += x * P[i * T + j];
				}
				for (int j = 0; j < T; j++)
					dS[i * T + j] = bf16((float)(P[i * T + j] * (dS[i * T + j] - dot) * scale));
			}
			for (int i = 0; i < T; i++)
				for (int d = 0; d < HS; d++) {
					double x = 0, y = 0;
					for (int j = 0; j < T; j++) {
						x += dS[i * T + j] * bf16(k[(size_t)j * 3 * C + d]);
						y += dS[j * T + i] * bf16(q[(size_t)j * 3 * C + d]);
					}
					dq[(size_t)i * 3 * C + d] = x;
					dk[(size_t)i * 3 * C + d] = y;
				}
		}
	free(P);
	free(dS);
}

/* norm-wise relative difference of a (float) from b (double) */
static double normrel(const float *a, const double *b, size_t n)
{
	double d2 = 0, n2 = 0;
	for (size_t i = 0; i < n; i++)
		d2 += (a[i] - b[i]) * (a[i] - b[i]), n2 += b[i] * b[i];
	return sqrt(d2 / (n2 > 1e-30 ? n2 : 1e-30));
}

typedef struct { int S, T, C, NH; float *out, *ws, *qkv, *r; } att_t;
static double att_loss(void *c)
{
	att_t *t = c;
	mae_attention_forward(t->out, NULL, NULL, t->ws, t->qkv, NULL, NULL, t->S, t->T, t->C, t->NH, 0);
	return dotd(t->out, t->r, (size_t)t->S * t->T * t->C);
}

/* Attention in bf16 mode (T = 13: one tile column; T = 50 and HS = 64: the encoder's shape at
 * 224, and T = 197 with HS = 32: the decoder's), forward and backward, with the probabilities
 * kept and recomputed:
 *   - against the reference above: norm-wise 1e-4. The products' fp32 sums differ from double
 *     ones by ~1e-7; what else differs is the rare operand whose fp32 value (P, dS) lies within
 *     an ulp of a rounding boundary and goes to the other bf16 neighbour in one of the two: a
 *     flip moves one term of one sum by 2^-8 of itself, norm-wise ~2^-8 / sqrt(elements).
 *   - against fp32 attention on the unrounded inputs: bf16's effect, more than 1e-4 (it was
 *     rounded: fp32 agrees to ~1e-6) and less than 2e-2 norm-wise (each product errs by up to
 *     2u = 2^-7 of its terms' magnitudes; the backward chains two, dP then dS K).
 *   - the backward against central differences of the fp32 forward (eps 1e-2; the fp32
 *     backward agrees to ~1e-4 at this eps): within 3e-2 norm-wise, the bf16 bound of two
 *     chained products (2 x 2^-7 = 1.6e-2) with the magnitudes of the terms above the values'. */
static void test_attention_bf16(void)
{
	int shapes[3][4] = { { 2, 13, 48, 3 }, { 2, 50, 192, 3 }, { 1, 197, 64, 2 } };   /* S T C NH */
	for (int c = 0; c < 3; c++) {
		int S = shapes[c][0], T = shapes[c][1], C = shapes[c][2], NH = shapes[c][3];
		size_t nq = (size_t)S * T * 3 * C, no = (size_t)S * T * C;
		float *qkv = rnd(nq, 1.5f), *dout = rnd(no, 1);
		float *ws = zeros(mae_attention_scratch_floats(T, C, NH, 0)), *probs = zeros((size_t)S * NH * T * T);
		double *ro = keep(calloc(no, sizeof(double))), *rd = keep(calloc(nq, sizeof(double)));
		attention_ref_bf16(ro, rd, qkv, dout, S, T, C, NH);
		mae_set_bf16(1);
		float *o1 = zeros(no), *o2 = zeros(no), *o3 = zeros(no), *d1 = zeros(nq), *d2 = zeros(nq);
		mae_attention_forward(o1, NULL, probs, ws, qkv, NULL, NULL, S, T, C, NH, 0);
		mae_attention_backward(d1, NULL, NULL, ws, dout, qkv, probs, NULL, NULL, S, T, C, NH, 0);
		mae_attention_forward(o2, NULL, NULL, ws, qkv, NULL, NULL, S, T, C, NH, 0);
		mae_attention_backward(d2, o3, NULL, ws, dout, qkv, NULL, NULL, NULL, S, T, C, NH, 0);
		mae_set_bf16(0);
		float *f1 = zeros(no), *fd1 = zeros(nq);
		mae_attention_forward(f1, NULL, NULL, ws, qkv, NULL, NULL, S, T, C, NH, 0);
		mae_attention_backward(fd1, NULL, NULL, ws, dout, qkv, NULL, NULL, NULL, S, T, C, NH, 0);
		double eo = normrel(o1, ro, no), ed = normrel(d1, rd, nq);
		int same = !memcmp(o1, o2, no * sizeof(float)) && !memcmp(o1, o3, no * sizeof(float)) &&
		           !memcmp(d1, d2, nq * sizeof(float));
		ok(eo < 1e-4 && ed < 1e-4 && same, "bf16 attention S %d T %d C %d heads %d: forward and backward match the "
		   "double reference with maepipe's roundings (norm-wise %.2g, %.2g <= 1e-4), probabilities kept or "
		   "recomputed alike", S, T, C, NH, eo, ed);
		double *fo = keep(malloc(no * sizeof(double))), *fdd = keep(malloc(nq * sizeof(double)));
		for (size_t i = 0; i < no; i++)
			fo[i] = f1[i];
		for (size_t i = 0; i < nq; i++)
			fdd[i] = fd1[i];
		double go = normrel(o1, fo, no), gd = normrel(d1, fdd, nq);
		ok(go > 1e-4 && go < 2e-2 && gd > 1e-4 && gd < 2e-2, "  and differ from fp32 attention by bf16's rounding "
		   "(forward %.2g, dqkv %.2g: in (1e-4, 2e-2))", go, gd);
		if (c == 0) {
			/* central differences of the fp32 forward, every input */
			att_t t = { .S = S, .T = T, .C = C, .NH = NH, .out = zeros(no), .ws = ws, .qkv = qkv, .r = dout };
			double d2s = 0, n2 = 0, d2f = 0;
			for (size_t i = 0; i < nq; i++) {
				float save = qkv[i], eps = 1e-2f;
				qkv[i] = save + eps;
				double lp = att_loss(&t);
				qkv[i] = save - eps;
				double lm = att_loss(&t);
				qkv[i] = save;
				double g = (lp - lm) / (2.0 * eps);
				d2s += (g - d1[i]) * (g - d1[i]), d2f += (g - fd1[i]) * (g - fd1[i]), n2 += g * g;
			}
			double e = sqrt(d2s / n2), ef = sqrt(d2f / n2);
			ok(e < 3e-2 && ef < 1e-3, "bf16 attention's backward vs finite differences of the fp32 forward: %.2g "
			   "(<= 3e-2; the fp32 backward's %.2g)", e, ef);
		}
	}
}

/* LoMaR's iRPE term under bf16 (the per-head products in bf16; q R, its gradients and the
 * bucket scatter in fp32, kernels_attention.c): a 3x3 window with its cls (T = 10), forward
 * and backward against fp32 attention with the same RPE (more than 1e-4 apart: the products
 * were rounded; less than 2e-2 norm-wise, as above), and the bf16 backward, dqkv and drpe,
 * against central differences of the fp32 forward within 3e-2 (the bound of two chained bf16
 * products, as above; drpe reads dS, which the bf16 dP = dO V^T carries). */
typedef struct { int S, T, C, NH, NB; float *out, *ws, *qkv, *rpe, *r; const int *bucket; } rpe_t;
static double rpe_loss(void *c)
{
	rpe_t *t = c;
	mae_attention_forward(t->out, NULL, NULL, t->ws, t->qkv, t->rpe, t->bucket, t->S, t->T, t->C, t->NH, t->NB);
	return dotd(t->out, t->r, (size_t)t->S * t->T * t->C);
}

static void test_attention_rpe_bf16(void)
{
	int S = 2, K = 3, C = 24, NH = 3, HS = C / NH, T = 1 + K * K;
	int *bucket = keep(malloc(sizeof(int) * T * T));
	int NB = mae_irpe_buckets(bucket, K, 1);
	size_t nq = (size_t)S * T * 3 * C, no = (size_t)S * T * C, nr = (size_t)HS * NB;
	float *qkv = rnd(nq, 1.5f), *dout = rnd(no, 1), *rpe = rnd(nr, 0.5f);
	float *ws = zeros(mae_attention_scratch_floats(T, C, NH, NB));
	float *o16 = zeros(no), *d16 = zeros(nq), *r16 = zeros(nr), *o32 = zeros(no), *d32 = zeros(nq), *r32 = zeros(nr);
	mae_set_bf16(1);
	mae_attention_forward(o16, NULL, NULL, ws, qkv, rpe, bucket, S, T, C, NH, NB);
	mae_attention_backward(d16, NULL, r16, ws, dout, qkv, NULL, rpe, bucket, S, T, C, NH, NB);
	mae_set_bf16(0);
	mae_attention_forward(o32, NULL, NULL, ws, qkv, rpe, bucket, S, T, C, NH, NB);
	mae_attention_backward(d32, NULL, r32, ws, dout, qkv, NULL, rpe, bucket, S, T, C, NH, NB);
	double *o32d = keep(malloc(no * sizeof(double))), *d32d = keep(malloc(nq * sizeof(double)));
	double *r32d = keep(malloc(nr * sizeof(double)));
	for (size_t i = 0; i < no; i++)
		o32d[i] = o32[i];
	for (size_t i = 0; i < nq; i++)
		d32d[i] = d32[i];
	for (size_t i = 0; i < nr; i++)
		r32d[i] = r32[i];
	double go = normrel(o16, o32d, no), gd = normrel(d16, d32d, nq), gr = normrel(r16, r32d, nr);
	ok(go > 1e-4 && go < 2e-2 && gd > 1e-4 && gd < 2e-2 && gr > 1e-4 && gr < 2e-2,
	   "bf16 attention +iRPE (T %d, %d buckets) differs from fp32 +iRPE by bf16's rounding: forward %.2g, "
	   "dqkv %.2g, drpe %.2g (in (1e-4, 2e-2))", T, NB, go, gd, gr);
	rpe_t t = { .S = S, .T = T, .C = C, .NH = NH, .NB = NB, .out = zeros(no), .ws = ws, .qkv = qkv, .rpe = rpe,
	            .r = dout, .bucket = bucket };
	double eq = fd_err(rpe_loss, &t, qkv, nq, d16, 1e-2f), er = fd_err(rpe_loss, &t, rpe, nr, r16, 1e-2f);
	double eqf = fd_err(rpe_loss, &t, qkv, nq, d32, 1e-2f), erf32 = fd_err(rpe_loss, &t, rpe, nr, r32, 1e-2f);
	ok(eq < 3e-2 && er < 3e-2 && eqf < 1e-3 && erf32 < 1e-3,
	   "bf16 attention +iRPE's backward vs finite differences of the fp32 forward: dqkv %.2g, drpe %.2g "
	   "(<= 3e-2; the fp32 backward's %.2g, %.2g)", eq, er, eqf, erf32);
}

int main(void)
{
	mae_threads_init(0);
	if (!mae_bf16_available()) {
		/* no bf16 products here: the setting is refused with its reason, never run in fp32 */
		mae_config c;
		char err[256] = "";
		int rc = mae_config_parse(&c, "micro-28,bf16=1", err, sizeof err);
		ok(rc == -1 && strstr(err, "AVX512_BF16") != NULL,
		   "built without AVX512_BF16: bf16=1 is refused (%s)", err);
		ok(mae_config_parse(&c, "micro-28,bf16=0", err, sizeof err) == 0 && !mae_gemm_bf16_available(),
		   "bf16=0 is accepted, and the bf16 product says it is unavailable");
		return done();
	}
	test_rounding();
	test_gemm_bf16();
	test_linear_fd();
	test_linear_modes();
	test_linear_prepack();
	test_attention_bf16();
	test_attention_rpe_bf16();
	free_arrays();
	return done();
}
