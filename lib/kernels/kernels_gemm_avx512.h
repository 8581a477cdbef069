/* kernels_gemm_avx512.h: the AVX-512 pieces the fp32 product (kernels_gemm.c) and the bf16 one
 * (kernels_gemm_bf16.c) share: the in-register 16 x 16 transpose of the weights' packing and the
 * epilogue run on the accumulators. Internal to libmae; include only where __AVX512F__. */
#ifndef MAE_KERNELS_GEMM_AVX512_H
#define MAE_KERNELS_GEMM_AVX512_H

#include <immintrin.h>

#include "kernels/kernels_gemm.h"
#include "kernels/kernels_math.h"

/* r[i] = row i of a 16 x 16 block, transposed in registers: 64 shuffles */
static inline void mae_transpose16(__m512 r[16])
{
	__m512 t[16];
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 16; i += 4) {
		r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
		r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
		r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
	}
	for (int h = 0; h < 16; h += 8)
		for (int i = 0; i < 4; i++) {
			t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
			t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
		}
	for (int i = 0; i < 8; i++) {
		r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
	}
}

/* the epilogue on one vector x of C, at offset off in C's layout and column j: bias and
 * residual added, then GELU stored beside it, or a factor applied; done on the accumulator
 * before its store (an epilogue reading the stored tile back stalled on the masked stores,
 * 8% of a tiny-28 step) */
static inline __attribute__((always_inline)) __m512 mae_epilogue16(const gemm_epilogue *e, __m512 x, long off,
                                                                int j, __mmask16 m)
{
	if (e->bias)
		x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, e->bias + j));
	if (e->resid)
		x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, e->resid + off));
	if (e->gelu_out) {
		__m512 pdf, cdf = mae_phi16(x, &pdf);
		_mm512_mask_storeu_ps(e->gelu_out + off, m, _mm512_mul_ps(x, cdf));
	} else if (e->dmul) {
		x = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(m, e->dmul + off));
	} else if (e->gelu_pre) {
		__m512 pdf, p = _mm512_maskz_loadu_ps(m, e->gelu_pre + off), cdf = mae_phi16(p, &pdf);
		x = _mm512_mul_ps(x, _mm512_fmadd_ps(p, pdf, cdf));
	}
	return x;
}

#endif
