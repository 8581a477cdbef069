/* kernels_math.h: exp, erf and softmax written so the loops that call them vectorise.
 *
 * libm's expf/erff are scalar calls that -O3 cannot vectorise without -ffast-math; in the GELU
 * of a ViT they cost more than a quarter of a training step. These are branch-free (clamps and
 * selects only), accurate to a few float ulps (exp) and 2e-7 absolute (erf), far inside the
 * 1e-4 parity tolerance; test_kernels checks them against libm. Also the 16-lane reductions
 * and the attention's row softmax, with an AVX-512 path that gives the portable loop's bits
 * (test_kernels checks that too). Internal to libmae. */
#ifndef MAE_KERNELS_MATH_H
#define MAE_KERNELS_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x for x in about [-87, 88] (clamped outside): 2^n * p(r), x = n ln2 + r, |r| <= ln2/2 */
static inline float mae_expf(float x)
{
	x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
	/* round to nearest by the 1.5 * 2^23 trick: plain arithmetic, so the loop vectorises */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693359375f;          /* ln2 split in two for an exact first product */
	r = r + n * 2.12194440e-4f;
	/* Cephes expf polynomial */
	float p = 1.9875691500E-4f;
	p = p * r + 1.3981999507E-3f;
	p = p * r + 8.3334519073E-3f;
	p = p * r + 4.1665795894E-2f;
	p = p * r + 1.6666665459E-1f;
	p = p * r + 5.0000001201E-1f;
	p = p * r * r + r + 1.0f;
	int32_t e = ((int32_t)n + 127) << 23;
	float s;
	memcpy(&s, &e, sizeof s);
	return p * s;
}

/* erf(x), odd in x: the Taylor series through x^21 for |x| < 1 (where A&S's form loses digits
 * to cancellation), Abramowitz & Stegun 7.1.26 beyond; absolute error <= 2e-7 */
static inline float mae_erff(float x)
{
	float a = x < 0.0f ? -x : x;
	float t = 1.0f / (1.0f + 0.3275911f * a);
	float y = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
	float big = 1.0f - y * mae_expf(-a * a);
	float z = a * a;
	float p = 1.4807192816e-08f;
	p = p * z - 1.6365844691e-07f;
	p = p * z + 1.6462114366e-06f;
	p = p * z - 1.4925650358e-05f;
	p = p * z + 1.2055332982e-04f;
	p = p * z - 8.5483270235e-04f;
	p = p * z + 5.2239776254e-03f;
	p = p * z - 2.6866170645e-02f;
	p = p * z + 1.1283791671e-01f;
	p = p * z - 3.7612638903e-01f;
	p = p * z + 1.1283791671e+00f;
	float r = a < 1.0f ? a * p : big;
	return x < 0.0f ? -r : r;
}

/* The normal CDF Phi(x) = (1 + erf(x/sqrt2))/2 by Abramowitz & Stegun 7.1.26, sharing
 * e = exp(-x^2/2) with the density, which GELU's backward needs too: one exp, one division.
 * Absolute error about 3e-7 (A&S's form loses a little to cancellation near 0, where GELU's
 * value x Phi(x) and its derivative are insensitive to it). Returns Phi; *pdf = phi(x). */
static inline float mae_phi(float x, float *pdf)
{
	float a = (x < 0.0f ? -x : x) * 0.70710678118654752f;
	float e = mae_expf(-a * a);
	float t = 1.0f / (1.0f + 0.3275911f * a);
	float y = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
	float h = 0.5f * y * e;          /* = (1 - erf(|x|/sqrt2)) / 2 = Phi(-|x|) */
	*pdf = 0.39894228040143268f * e;
	return x < 0.0f ? h : 1.0f - h;
}

/* Reductions with 16 independent partial sums: float addition is not associative, so GCC keeps a
 * single scalar chain unless the lanes are spelled out like this (then it uses one vector). */
static inline float mae_vsum(const float *x, int n)
{
	float acc[16] = { 0 };
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += x[j + k];
	float s = 0.0f;
	for (; j < n; j++)
		s += x[j];
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

static inline float mae_vdot(const float *x, const float *y, int n)
{
	float acc[16] = { 0 };
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += x[j + k] * y[j + k];
	float s = 0.0f;
	for (; j < n; j++)
		s += x[j] * y[j];
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

/* sum of (x[i] - m)^2: the variance's numerator */
static inline float mae_vsqdev(const float *x, float m, int n)
{
	float acc[16] = { 0 };
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += (x[j + k] - m) * (x[j + k] - m);
	float s = 0.0f;
	for (; j < n; j++)
		s += (x[j] - m) * (x[j] - m);
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

static inline float mae_vmax(const float *x, int n)
{
	float acc[16];
	for (int k = 0; k < 16; k++)
		acc[k] = x[0];
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++)
			acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
	float m = x[0];
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	for (int k = 0; k < 16; k++)
		m = acc[k] > m ? acc[k] : m;
	return m;
}

/* softmax of one row in place: e^(x - max x) / sum. The sum is 16 lane sums of the whole
 * 16-blocks, then the tail's terms one by one, then the lanes in order; the AVX-512 path
 * below computes exactly this, bit for bit (test_kernels checks), only faster. */
static inline void mae_softmax_row_scalar(float *row, int n)
{
	float mx = mae_vmax(row, n);
	float acc[16] = { 0 }, sum = 0.0f;
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += row[j + k] = mae_expf(row[j + k] - mx);
	for (; j < n; j++)
		sum += row[j] = mae_expf(row[j] - mx);
	for (int k = 0; k < 16; k++)
		sum += acc[k];
	float inv = 1.0f / sum;
	for (j = 0; j < n; j++)
		row[j] *= inv;
}

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>

/* AVX2 (Zen 1 to 3, Haswell to Alder Lake): 8-lane vectors, the tail of a row loaded and
 * stored under a lane mask (full vectors go plain: a masked store is slow on Zen 1) */
static inline __m256i mae_lanes8(long n)
{
	static const int32_t on[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
	n = n < 0 ? 0 : n > 8 ? 8 : n;
	return _mm256_loadu_si256((const __m256i *)(on + 8 - n));
}

static inline __m256 mae_load8(const float *p, long n)
{
	return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mae_lanes8(n));
}

static inline void mae_store8(float *p, long n, __m256 x)
{
	if (n >= 8)
		_mm256_storeu_ps(p, x);
	else
		_mm256_maskstore_ps(p, mae_lanes8(n), x);
}

/* mae_phi16 on 8 lanes: the same formula and fused multiply-adds; 2^n made from its exponent
 * bits (n is in [-126, 0] here, so 2^n is a normal float and the product exact, as scalef's),
 * and the reciprocal's 12-bit estimate refined by one Newton step (error about 1e-7 relative,
 * which A&S's 7.1.26 does not notice). Returns Phi(x); *pdf = phi(x). */
static inline __m256 mae_phi8(__m256 x, __m256 *pdf)
{
	__m256 a = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
	__m256 z = _mm256_max_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a), _mm256_set1_ps(-87.0f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504088896341f)),
	                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), z);
	r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500E-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
	p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	__m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
	__m256 d = _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f));
	__m256 t0 = _mm256_rcp_ps(d);
	__m256 t1 = _mm256_fmadd_ps(_mm256_fnmadd_ps(d, t0, _mm256_set1_ps(1.0f)), t0, t0);
	__m256 t = _mm256_fmadd_ps(_mm256_fnmadd_ps(d, t1, _mm256_set1_ps(1.0f)), t1, t1);
	__m256 y = _mm256_fmadd_ps(t, _mm256_set1_ps(1.061405429f), _mm256_set1_ps(-1.453152027f));
	y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(1.421413741f));
	y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(-0.284496736f));
	y = _mm256_fmadd_ps(y, t, _mm256_set1_ps(0.254829592f));
	y = _mm256_mul_ps(y, t);
	__m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), y), e);   /* Phi(-|x|) */
	*pdf = _mm256_mul_ps(_mm256_set1_ps(0.39894228040143268f), e);
	__m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
	return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), h), h, neg);
}
#endif

#ifdef __AVX512F__
#include <immintrin.h>

/* the first n lanes of 16 (all of them for n >= 16, none for n <= 0): the mask of a tail */
static inline __mmask16 mae_mask16(long n)
{
	return n >= 16 ? (__mmask16)0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : (__mmask16)0;
}

/* mae_expf on 16 lanes, the same operations in the same order (so the same bits: the scalar
 * code is compiled without FMA contraction, -std=c11, and so is this, mul then add) */
static inline __m512 mae_exp16(__m512 x)
{
	x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
	__m512 big = _mm512_set1_ps(12582912.0f);
	__m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), big), big);
	__m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
	r = _mm512_add_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
	__m512 p = _mm512_set1_ps(1.9875691500E-4f);
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507E-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073E-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894E-2f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459E-1f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201E-1f));
	p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
	__m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
	return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* mae_phi on 16 lanes for GELU, which runs over every hidden unit of every MLP (a 28x28
 * step's GELU and its recomputation took 7% of the step). The same formula, but with fused
 * multiply-adds (the -std=c11 scalar code contracts none, which doubles its polynomials) and
 * the one division as a 14-bit reciprocal refined by a Newton step (vdivps alone took about a
 * third of the loop): so not the scalar code's bits, but as accurate (test_kernels checks
 * both against erfc in double). Returns Phi(x); *pdf = phi(x). */
static inline __m512 mae_phi16(__m512 x, __m512 *pdf)
{
	__m512 a = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
	/* e = exp(-a^2) as in mae_exp16, -a^2 <= 0 so only the lower clamp; 2^n by scalef */
	__m512 z = _mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a), _mm512_set1_ps(-87.0f));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)),
	                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), z);
	r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500E-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
	p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	__m512 e = _mm512_scalef_ps(p, n);
	/* t = 1 / (1 + 0.3275911 a): rcp14, then t0 + t0 (1 - d t0) */
	__m512 d = _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
	__m512 t0 = _mm512_rcp14_ps(d);
	__m512 t = _mm512_fmadd_ps(_mm512_fnmadd_ps(d, t0, _mm512_set1_ps(1.0f)), t0, t0);
	__m512 y = _mm512_fmadd_ps(t, _mm512_set1_ps(1.061405429f), _mm512_set1_ps(-1.453152027f));
	y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.421413741f));
	y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-0.284496736f));
	y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(0.254829592f));
	y = _mm512_mul_ps(y, t);
	__m512 h = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), y), e);   /* Phi(-|x|) */
	*pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143268f), e);
	__mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
	return _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(1.0f), h), h);
}

/* The rows of attention are short (13 to 197 tokens), so the scalar tail after the last
 * 16-block cost as much as the blocks (a 13-token row was all tail): here the tail is one
 * masked vector. In two passes, through `scratch` (mae_softmax_scratch: the exponentials,
 * rows x n rounded up to 16, then one 1/sum a row): the exponentials and row sums, then the
 * scaling back into `a`. Done in place, each row's loads
 * would hit the previous row's masked store in the same cache line, which cannot forward, and
 * the rows would run one after the other at the full latency of exp and the sums. */
static inline void mae_softmax_rows(float *a, int rows, int n, float *scratch)
{
	int nb = n & ~15, tail = n - nb, np = (n + 15) & ~15;
	__mmask16 m = mae_mask16(tail);
	for (int i = 0; i < rows; i++) {
		const float *row = a + (size_t)i * n;
		float *e = scratch + (size_t)i * np;
		__m512 vmx = _mm512_set1_ps(row[0]);
		for (int j = 0; j < nb; j += 16)
			vmx = _mm512_max_ps(vmx, _mm512_loadu_ps(row + j));
		vmx = _mm512_max_ps(vmx, _mm512_mask_loadu_ps(vmx, m, row + nb));
		__m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmx));
		__m512 acc = _mm512_setzero_ps();
		for (int j = 0; j < nb; j += 16) {
			__m512 x = mae_exp16(_mm512_sub_ps(_mm512_loadu_ps(row + j), vm));
			_mm512_storeu_ps(e + j, x);
			acc = _mm512_add_ps(acc, x);
		}
		float sum = 0.0f;
		if (tail) {
			_mm512_storeu_ps(e + nb, mae_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + nb), vm)));
			for (int k = 0; k < tail; k++)
				sum += e[nb + k];
		}
		float lanes[16];
		_mm512_storeu_ps(lanes, acc);
		for (int k = 0; k < 16; k++)
			sum += lanes[k];
		scratch[(size_t)rows * np + i] = 1.0f / sum;
	}
	for (int i = 0; i < rows; i++) {
		float *row = a + (size_t)i * n;
		const float *e = scratch + (size_t)i * np;
		__m512 inv = _mm512_set1_ps(scratch[(size_t)rows * np + i]);
		for (int j = 0; j < nb; j += 16)
			_mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(e + j), inv));
		if (tail)
			_mm512_mask_storeu_ps(row + nb, m, _mm512_mul_ps(_mm512_loadu_ps(e + nb), inv));
	}
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* mae_expf on 8 lanes, the same operations in the same order (the same bits, as mae_exp16) */
static inline __m256 mae_exp8(__m256 x)
{
	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
	__m256 big = _mm256_set1_ps(12582912.0f);
	__m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), big), big);
	__m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
	r = _mm256_add_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(2.12194440e-4f)));
	__m256 p = _mm256_set1_ps(1.9875691500E-4f);
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507E-3f));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073E-3f));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894E-2f));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459E-1f));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201E-1f));
	p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* The AVX-512 mae_softmax_rows on 8 lanes: each 16-block in two vectors, whose two sums are
 * the portable loop's 16 lane sums (so the same bits again); the scalar loop, vectorised by
 * GCC around a scalar-order tail, was 8% of a ViT-Tiny 224 step on a Zen 1. */
static inline void mae_softmax_rows(float *a, int rows, int n, float *scratch)
{
	int nb = n & ~15, tail = n - nb, np = (n + 15) & ~15;
	for (int i = 0; i < rows; i++) {
		const float *row = a + (size_t)i * n;
		float *e = scratch + (size_t)i * np;
		__m256 vmx = _mm256_set1_ps(row[0]);
		for (int j = 0; j < nb; j += 8)
			vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(row + j));
		float lanes[16], mx;
		_mm256_storeu_ps(lanes, vmx);
		mx = lanes[0];
		for (int k = 1; k < 8; k++)
			mx = lanes[k] > mx ? lanes[k] : mx;
		for (int j = nb; j < n; j++)
			mx = row[j] > mx ? row[j] : mx;
		__m256 vm = _mm256_set1_ps(mx), lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
		for (int j = 0; j < nb; j += 16) {
			__m256 x = mae_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
			__m256 y = mae_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j + 8), vm));
			_mm256_storeu_ps(e + j, x);
			_mm256_storeu_ps(e + j + 8, y);
			lo = _mm256_add_ps(lo, x);
			hi = _mm256_add_ps(hi, y);
		}
		float sum = 0.0f;
		for (int j = nb; j < nb + tail; j += 8)
			_mm256_storeu_ps(e + j, mae_exp8(_mm256_sub_ps(mae_load8(row + j, nb + tail - j), vm)));
		for (int k = 0; k < tail; k++)
			sum += e[nb + k];
		_mm256_storeu_ps(lanes, lo);
		_mm256_storeu_ps(lanes + 8, hi);
		for (int k = 0; k < 16; k++)
			sum += lanes[k];
		scratch[(size_t)rows * np + i] = 1.0f / sum;
	}
	for (int i = 0; i < rows; i++) {
		float *row = a + (size_t)i * n;
		const float *e = scratch + (size_t)i * np;
		__m256 inv = _mm256_set1_ps(scratch[(size_t)rows * np + i]);
		for (int j = 0; j < n; j += 8)
			mae_store8(row + j, n - j, _mm256_mul_ps(_mm256_loadu_ps(e + j), inv));
	}
}
#else
static inline void mae_softmax_rows(float *a, int rows, int n, float *scratch)
{
	(void)scratch;
	for (int i = 0; i < rows; i++)
		mae_softmax_row_scalar(a + (size_t)i * n, n);
}
#endif


/* floats of scratch mae_softmax_rows needs */
static inline size_t mae_softmax_scratch(int rows, int n)
{
	return (size_t)rows * (((size_t)n + 15) & ~(size_t)15) + (size_t)rows;
}

#endif
