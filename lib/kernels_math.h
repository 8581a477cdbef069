/* kernels_math.h: exp and erf written so GCC vectorises the loops that call them.
 *
 * libm's expf/erff are scalar calls that -O3 cannot vectorise without -ffast-math; in the GELU
 * of a ViT they cost more than a quarter of a training step. These are branch-free (clamps and
 * selects only), accurate to a few float ulps (exp) and 2e-7 absolute (erf), far inside the
 * 1e-4 parity tolerance; test_kernels checks them against libm. Internal to libmae. */
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

#endif
