/* kernels_gemm.c: the dense layers' forward and input-gradient products on AVX-512 or AVX2,
 * with fused epilogues.
 *
 * Why not OpenBLAS there: its sgemm packs both operands on every call, and in a ViT step the
 * calls are many and short in K (192 inputs at ViT-Tiny), so the packing copies were 12% of a
 * tiny-28 step's samples beside its 62% of kernel time; and bias, residual and GELU each took
 * another pass over the output. This product reads A where it lies (the row-major
 * activations) and packs only B, the weights (K x 64 floats a panel against 2 x 64 x K x M
 * FLOPs: 1/(2M) of the work). The weight gradient dW = dy^T x mostly stays on OpenBLAS: there
 * K is the batch's rows and both operands are read down their columns, and OpenBLAS, which
 * packs both, was 10-25% faster on ViT-Tiny's shapes than this product in every blocking tried.
 * Narrow layers are the exception on AVX2 (OWN_DW_WIDTH, mae_gemm_weight_gradients).
 *
 * The register tile is 6 rows by 64 columns: 24 zmm accumulators, 4 loads of B and 6
 * broadcasts of A for 24 FMAs a step of k (the BLIS shape for 32 registers). Sums run in k
 * order inside a block of k, the blocks in order: an element's value depends on the shapes
 * only, never on how the rows are split over threads (but on the instruction set: AVX2's
 * blocks of k are shorter, so an AVX2 machine's bits differ from an AVX-512 one's).
 *
 * Each instruction set gives its vector width VL, the panel width NR, pack_b_panel, tile,
 * tile_any and empty_product; the blocking driver mae_gemm at the end is shared. */
#include <stdlib.h>
#include <string.h>

#include "mae/util/util.h"
#include "kernels/kernels_gemm.h"
#include "kernels/kernels_math.h"

/* tile() with mr and nv as constants, so that the accumulators stay in registers */
#define TILE_MR(NV)                                                                                 \
	switch (mr) {                                                                               \
	case 6: tile(6, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;           \
	case 5: tile(5, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;           \
	case 4: tile(4, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;           \
	case 3: tile(3, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;           \
	case 2: tile(2, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;           \
	default: tile(1, NV, kc, a, rsa, csa, Bp, C, ldc, acc, lastn, e, eoff, j0); break;          \
	}

#ifdef __AVX512F__
#include "kernels/kernels_gemm_avx512.h"

#define MAE_GEMM_SIMD 1
enum { VL = 16, MR = 6, NR = 64, KC = 1024, MC = 96, BFLOATS = 131072 };
/* The weight gradients stay on OpenBLAS here: on the Zen 4 it was 10-25% faster at ViT-Tiny's
 * shapes than this product, in every blocking tried (see the top of the file); narrower
 * layers were not measured on an AVX-512 machine. */
enum { OWN_DW_WIDTH = 0 };

/* B rows [k0, k0 + kc), columns [j0, j0 + nc) as dst[k][64], zero past nc */
static void pack_b_panel(float *dst, const float *B, long rsb, long csb, int k0, int kc, int j0, int nc)
{
	if (csb == 1) {
		/* four vectors a row, the columns past nc loaded as zeros (a memcpy and a memset a
		 * row cost 3.7% of a tiny-28 step in their call overhead) */
		for (int k = 0; k < kc; k++) {
			const float *s = B + (long)(k0 + k) * rsb + j0;
			for (int v = 0; v < 4; v++)
				_mm512_store_ps(dst + (size_t)k * NR + 16 * v,
				                _mm512_maskz_loadu_ps(mae_mask16(nc - 16 * v), s + 16 * v));
		}
		return;
	}
	/* B = W^T (rsb = 1): each column of B is a row of W, read along k; 16 x 16 blocks
	 * transposed in registers (a scalar transpose cost 7% of the forward product) */
	if (nc < NR)
		for (int k = 0; k < kc; k++)
			memset(dst + (size_t)k * NR + nc, 0, (size_t)(NR - nc) * sizeof(float));
	int j = 0;
	if (rsb == 1)
		for (; j + 16 <= nc; j += 16) {
			const float *s = B + (long)(j0 + j) * csb + k0;
			int k = 0;
			for (; k + 16 <= kc; k += 16) {
				__m512 r[16];
				for (int q = 0; q < 16; q++)
					r[q] = _mm512_loadu_ps(s + (long)q * csb + k);
				mae_transpose16(r);
				for (int q = 0; q < 16; q++)
					_mm512_store_ps(dst + (size_t)(k + q) * NR + j, r[q]);
			}
			for (; k < kc; k++)
				for (int q = 0; q < 16; q++)
					dst[(size_t)k * NR + j + q] = s[(long)q * csb + k];
		}
	for (; j < nc; j++) {
		const float *s = B + (long)(j0 + j) * csb + (long)k0 * rsb;
		for (int k = 0; k < kc; k++)
			dst[(size_t)k * NR + j] = s[(long)k * rsb];
	}
}

/* C[mr x 16 nv] = (acc ? C : 0) + A Bp over kc; Bp is a packed panel, nv and mr constants at
 * each call so the accumulators live in registers; the last vector is stored under mask */
static inline __attribute__((always_inline)) void tile(int mr, int nv, int kc, const float *A, long rsa,
                                                        long csa, const float *Bp, float *C, long ldc,
                                                        int acc, int lastn, const gemm_epilogue *e,
                                                        long eoff, int j0)
{
	__mmask16 last = mae_mask16(lastn);
	__m512 c[MR][4];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			c[i][v] = _mm512_setzero_ps();
	const float *a[MR];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		a[i] = A + (i < mr ? i : 0) * rsa;
	for (int k = 0; k < kc; k++) {
		__m512 b[4];
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			if (v < nv)
				b[v] = _mm512_load_ps(Bp + (size_t)k * NR + 16 * v);
#pragma GCC unroll 6
		for (int i = 0; i < MR; i++)
			if (i < mr) {
				__m512 x = _mm512_set1_ps(a[i][(long)k * csa]);
#pragma GCC unroll 4
				for (int v = 0; v < 4; v++)
					if (v < nv)
						c[i][v] = _mm512_fmadd_ps(x, b[v], c[i][v]);
			}
	}
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		if (i < mr)
#pragma GCC unroll 4
			for (int v = 0; v < 4; v++)
				if (v < nv) {
					float *p = C + (long)i * ldc + 16 * v;
					__mmask16 m = v == nv - 1 ? last : (__mmask16)0xffff;
					__m512 x = c[i][v];
					if (acc)
						x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, p));
					if (e)
						x = mae_epilogue16(e, x, eoff + (long)i * ldc + 16 * v, j0 + 16 * v, m);
					_mm512_mask_storeu_ps(p, m, x);
				}
}

static void tile_any(int mr, int nv, int kc, const float *a, long rsa, long csa, const float *Bp,
                     float *C, long ldc, int acc, int lastn, const gemm_epilogue *e, long eoff, int j0)
{
	switch (nv) {
	case 4: TILE_MR(4) break;
	case 3: TILE_MR(3) break;
	case 2: TILE_MR(2) break;
	default: TILE_MR(1) break;
	}
}

/* a product with K = 0: C is C (or zero), then the epilogue */
static void empty_product(int M, int N, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j += 16) {
			__mmask16 m = mae_mask16(N - j);
			long off = (long)i * ldc + j;
			__m512 x = accumulate ? _mm512_maskz_loadu_ps(m, C + off) : _mm512_setzero_ps();
			_mm512_mask_storeu_ps(C + off, m, epi ? mae_epilogue16(epi, x, off, j, m) : x);
		}
}

#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* AVX2 with FMA (Zen 1 to 3, Haswell on): the same product on 8-lane vectors, where OpenBLAS
 * ran the whole step before. With 16 registers the tile is 6 rows by 16 columns: 12
 * accumulators, 2 loads of B and a broadcast of A (BLIS's Haswell shape). The blocks are
 * smaller than AVX-512's: L1 is 32 KB and L2 512 KB on a Zen 1, shared by the A block and
 * the B panels. */
#define MAE_GEMM_SIMD 1
enum { VL = 8, MR = 6, NR = 16, KC = 512, MC = 72, BFLOATS = 49152 };
/* The weight gradients of layers at most OWN_DW_WIDTH wide (the narrower of C and OC) on this
 * product. In small-28's training step (the main job's model, 128 wide) on a Zen 1, OpenBLAS's
 * TN product ran at 10-16 GFLOP/s a core (timed per call), and this product makes the whole
 * step 1.3x faster (3 interleaved pairs, 0.75-0.79 of the time). At 192 and 512 wide OpenBLAS
 * ran at 30-37 and stays: there this product made ViT-Tiny 224 8% slower and tiny-28 4%. (At
 * 128 wide inside tiny-28, its decoder, the step measured 1.02x slower, median of 8 pairs,
 * 0.98-1.03: within the noise.) Reading dy down its columns costs little: the tile's 6
 * broadcasts at one k share a cache line, and the next k is a fixed stride on. */
enum { OWN_DW_WIDTH = 128 };

/* r[i] = row i of an 8 x 8 block, transposed in registers */
static inline void transpose8(__m256 r[8])
{
	__m256 t[8], u[8];
	for (int i = 0; i < 8; i += 2) {
		t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 8; i += 4) {
		u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
		u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
		u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
	}
	for (int i = 0; i < 4; i++) {
		r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
		r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
	}
}

/* B rows [k0, k0 + kc), columns [j0, j0 + nc) as dst[k][16], zero past nc */
static void pack_b_panel(float *dst, const float *B, long rsb, long csb, int k0, int kc, int j0, int nc)
{
	if (csb == 1) {
		for (int k = 0; k < kc; k++) {
			const float *s = B + (long)(k0 + k) * rsb + j0;
			for (int v = 0; v < NR / VL; v++)
				_mm256_store_ps(dst + (size_t)k * NR + VL * v, mae_load8(s + VL * v, nc - VL * v));
		}
		return;
	}
	/* B = W^T (rsb = 1): 8 x 8 blocks of W transposed in registers */
	if (nc < NR)
		for (int k = 0; k < kc; k++)
			memset(dst + (size_t)k * NR + nc, 0, (size_t)(NR - nc) * sizeof(float));
	int j = 0;
	if (rsb == 1)
		for (; j + VL <= nc; j += VL) {
			const float *s = B + (long)(j0 + j) * csb + k0;
			int k = 0;
			for (; k + VL <= kc; k += VL) {
				__m256 r[8];
				for (int q = 0; q < 8; q++)
					r[q] = _mm256_loadu_ps(s + (long)q * csb + k);
				transpose8(r);
				for (int q = 0; q < 8; q++)
					_mm256_store_ps(dst + (size_t)(k + q) * NR + j, r[q]);
			}
			for (; k < kc; k++)
				for (int q = 0; q < 8; q++)
					dst[(size_t)k * NR + j + q] = s[(long)q * csb + k];
		}
	for (; j < nc; j++) {
		const float *s = B + (long)(j0 + j) * csb + (long)k0 * rsb;
		for (int k = 0; k < kc; k++)
			dst[(size_t)k * NR + j] = s[(long)k * rsb];
	}
}

/* mae_epilogue16's work on 8 lanes, n of them live */
static inline __attribute__((always_inline)) __m256 epilogue8(const gemm_epilogue *e, __m256 x, long off,
                                                               int j, long n)
{
	if (e->bias)
		x = _mm256_add_ps(x, mae_load8(e->bias + j, n));
	if (e->resid)
		x = _mm256_add_ps(x, mae_load8(e->resid + off, n));
	if (e->gelu_out) {
		__m256 pdf, cdf = mae_phi8(x, &pdf);
		mae_store8(e->gelu_out + off, n, _mm256_mul_ps(x, cdf));
	} else if (e->dmul) {
		x = _mm256_mul_ps(x, mae_load8(e->dmul + off, n));
	} else if (e->gelu_pre) {
		__m256 pdf, p = mae_load8(e->gelu_pre + off, n), cdf = mae_phi8(p, &pdf);
		x = _mm256_mul_ps(x, _mm256_fmadd_ps(p, pdf, cdf));
	}
	return x;
}

/* C[mr x 8 nv] = (acc ? C : 0) + A Bp over kc, as the AVX-512 tile; the last vector has lastn
 * live lanes */
static inline __attribute__((always_inline)) void tile(int mr, int nv, int kc, const float *A, long rsa,
                                                        long csa, const float *Bp, float *C, long ldc,
                                                        int acc, int lastn, const gemm_epilogue *e,
                                                        long eoff, int j0)
{
	__m256 c[MR][2];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
		for (int v = 0; v < 2; v++)
			c[i][v] = _mm256_setzero_ps();
	const float *a[MR];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		a[i] = A + (i < mr ? i : 0) * rsa;
	for (int k = 0; k < kc; k++) {
		__m256 b[2];
#pragma GCC unroll 2
		for (int v = 0; v < 2; v++)
			if (v < nv)
				b[v] = _mm256_load_ps(Bp + (size_t)k * NR + 8 * v);
#pragma GCC unroll 6
		for (int i = 0; i < MR; i++)
			if (i < mr) {
				__m256 x = _mm256_broadcast_ss(a[i] + (long)k * csa);
#pragma GCC unroll 2
				for (int v = 0; v < 2; v++)
					if (v < nv)
						c[i][v] = _mm256_fmadd_ps(x, b[v], c[i][v]);
			}
	}
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		if (i < mr)
#pragma GCC unroll 2
			for (int v = 0; v < 2; v++)
				if (v < nv) {
					float *p = C + (long)i * ldc + 8 * v;
					long n = v == nv - 1 ? lastn : 8;
					__m256 x = c[i][v];
					if (acc)
						x = _mm256_add_ps(x, mae_load8(p, n));
					if (e)
						x = epilogue8(e, x, eoff + (long)i * ldc + 8 * v, j0 + 8 * v, n);
					mae_store8(p, n, x);
				}
}

static void tile_any(int mr, int nv, int kc, const float *a, long rsa, long csa, const float *Bp,
                     float *C, long ldc, int acc, int lastn, const gemm_epilogue *e, long eoff, int j0)
{
	if (nv == 2)
		TILE_MR(2)
	else
		TILE_MR(1)
}

static void empty_product(int M, int N, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j += 8) {
			long n = N - j, off = (long)i * ldc + j;
			__m256 x = accumulate ? mae_load8(C + off, n) : _mm256_setzero_ps();
			mae_store8(C + off, n, epi ? epilogue8(epi, x, off, j, n) : x);
		}
}
#endif

#if MAE_GEMM_SIMD

int mae_gemm_available(void)
{
	return 1;
}

static _Thread_local gemm_pack_buf pack_b;

void mae_gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
              long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	if (M <= 0 || N <= 0)
		return;
	int np = (N + NR - 1) / NR;
	if (K <= 0) {
		empty_product(M, N, C, ldc, accumulate, epi);
		return;
	}
	/* B is packed a block at a time: up to KC rows of k by as many 64-column panels as make
	 * 512 KB (it stays in L2), and every MC-row block of A runs down those panels, tile by tile.
	 * Measured against the other orders (B packed whole first and each block of C taking all of
	 * k; KC 128 to 512): this one was the fastest for ViT-Tiny's shapes at both 28 and 224. */
	int kcmax = K < KC ? K : KC, ncp = BFLOATS / (kcmax * NR) > 0 ? BFLOATS / (kcmax * NR) : 1;
	float *bp = mae_gemm_pack_room(&pack_b, (size_t)(np < ncp ? np : ncp) * kcmax * NR * sizeof(float));
	for (int q0 = 0; q0 < np; q0 += ncp) {
		int nq = np - q0 < ncp ? np - q0 : ncp;
		for (int k0 = 0; k0 < K; k0 += KC) {
			int kc = K - k0 < KC ? K - k0 : KC, acc = accumulate || k0 > 0, final = k0 + kc == K;
			for (int p = 0; p < nq; p++) {
				int j0 = (q0 + p) * NR;
				pack_b_panel(bp + (size_t)p * kc * NR, B, rsb, csb, k0, kc, j0, N - j0 < NR ? N - j0 : NR);
			}
			for (int i0 = 0; i0 < M; i0 += MC) {
				int mc = M - i0 < MC ? M - i0 : MC;
				for (int p = 0; p < nq; p++) {
					int j0 = (q0 + p) * NR, nc = N - j0 < NR ? N - j0 : NR, nv = (nc + VL - 1) / VL;
					int lastn = nc - VL * (nv - 1);
					const float *Bp = bp + (size_t)p * kc * NR;
					for (int t = 0; t * MR < mc; t++) {
						int i = i0 + t * MR, mr = mc - t * MR < MR ? mc - t * MR : MR;
						tile_any(mr, nv, kc, A + (long)i * rsa + (long)k0 * csa, rsa, csa, Bp,
						         C + (long)i * ldc + j0, ldc, acc, lastn, final ? epi : NULL,
						         (long)i * ldc + j0, j0);
					}
				}
			}
		}
	}
}


#else /* neither AVX-512 nor AVX2 with FMA: the callers use OpenBLAS */

enum { OWN_DW_WIDTH = 0 };

int mae_gemm_available(void)
{
	return 0;
}

void mae_gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
              long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	(void)M, (void)N, (void)K, (void)A, (void)rsa, (void)csa, (void)B, (void)rsb, (void)csb;
	(void)C, (void)ldc, (void)accumulate, (void)epi;
	mae_die(MAE_EXIT_DATA, "mae_gemm: built without AVX-512 or AVX2");
}

#endif

/* plain C, in every build: the bf16 product and the stack's packed weights use it too */
void *mae_gemm_pack_room(gemm_pack_buf *b, size_t bytes)
{
	if (bytes > b->cap) {
		free(b->p);
		b->p = aligned_alloc(64, (bytes + 63) / 64 * 64);
		if (!b->p)
			mae_die(MAE_EXIT_DATA, "out of memory for a %zu-byte GEMM packing buffer", bytes);
		b->cap = bytes;
	}
	return b->p;
}

int mae_gemm_weight_gradients(int C, int OC)
{
	return (C < OC ? C : OC) <= OWN_DW_WIDTH;
}
