/* kernels_gemm_bf16.c: the dense layers' product with bf16 operands and fp32 sums (AVX512_BF16),
 * for the model's bf16 setting (mae(7)).
 *
 * C[M x N] = (accumulate ? C : 0) + A B, as mae_gemm (kernels_gemm.h: strides, epilogues), except
 * that A and B are rounded to bf16 first (round to nearest even, as _mm512_cvtne2ps_pbh does;
 * denormals become zero) and vdpbf16ps multiplies pairs of them and adds both products to fp32
 * accumulators. So every product of two rounded inputs is exact (8 x 8 significant bits fit
 * fp32's 24) and the sums differ from a double sum of the rounded inputs only by fp32's rounding
 * of the additions, as mae_gemm's do; the error against the fp32 inputs is the inputs' rounding,
 * up to 2^-8 relative each (bf16 keeps 8 significant bits), 2^-7 a product (tests/unit/test_bf16.c).
 *
 * vdpbf16ps takes k in pairs: lane j of the accumulator gets a[2j] b[2j] + a[2j+1] b[2j+1]. So
 * both operands are packed in pairs of k, as 32-bit words (low half k even, high half k odd):
 *   B: a block of up to KC rows of k, 64 columns a panel, as dst[p][64] words (pair p holds rows
 *      2p and 2p + 1 of the block); four vectors of 16 words a pair, as the fp32 panels are four
 *      vectors of 16 floats a row;
 *   A: a block of up to MC rows by the same KC, as dst[i][ks] words (row i's pairs in k order,
 *      ks = the pairs rounded up to 16), so that 32 floats of a row (or 16 rows x 16 pairs of
 *      dy^T, transposed in registers as words) pack with one whole-vector store; a tile
 *      broadcasts a word of each of its 6 rows a pair, 6 streams in L1. (The previous layout,
 *      dst[t][p][6], was stored a word at a time: 15% of a tiny-224 bf16 step, and load stalls
 *      on the column reads of dy^T.)
 * Odd K: the last pair's high half is a zero in both. A is packed once per call: where B
 * needs more than one group of panels (N > 512 at K >= 512), into a buffer for all of A that
 * the later groups read.
 *
 * The register tile is mae_gemm's: 6 rows by 64 columns, 24 zmm accumulators; a step of the
 * tile is one pair of k: 4 loads of B, 6 broadcasts of A, 24 vdpbf16ps (48 multiply-adds a
 * lane, against 24 for 24 FMAs in fp32). Blocks of KC = 512 rows of k (a B panel is 64 KB)
 * and MC = 192 rows of A (192 KB packed, in L2): of 256 or 512 by 96 or 192, the fastest on
 * ViT-Tiny's shapes at 224 (single thread, Zen 5, 3 interleaved runs). With A's row layout:
 * 330-440 GFLOP/s on the decoder's forward and input gradients, 290-370 on its weight
 * gradients (K = 6304 rows of the batch), against mae_gemm's 180-200. Tried since and not
 * kept (within the noise, or slower on the weight gradients): KC 1024 or 2048 (fewer passes
 * over C), and prefetching a tile's C while its sums run. Sums
 * run in k order inside a block (pairs in order), blocks in order, so C's bits depend on the
 * shapes only, not on how callers split rows or columns over threads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mae/util/util.h"
#include "kernels/kernels_gemm.h"

#ifdef __AVX512BF16__
#include "kernels/kernels_gemm_avx512.h"

enum { MR = 6, NR = 64, KC = 512, MC = 192, BBYTES = 512 * 1024 };

/* x rounded to bf16, to nearest even, a denormal to zero, NaN kept a (quiet) NaN: the
 * conversion of _mm512_cvtne2ps_pbh, for the odd elements the vector packing leaves */
static inline uint16_t bf16_bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if ((u & 0x7f800000u) == 0)
		return (uint16_t)((u >> 16) & 0x8000u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

static inline uint32_t pair_bits(float lo, float hi)
{
	return (uint32_t)bf16_bits(lo) | (uint32_t)bf16_bits(hi) << 16;
}

/* 16 words, word j = (bf16(hi[j]) << 16) | bf16(lo[j]): the pairs of two rows of k */
static inline __m512i pairs16(__m512 lo, __m512 hi)
{
	const __m512i il = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
	                                    23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	return _mm512_permutexvar_epi16(il, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 16 words: pairs (2q, 2q + 1), q < 16, of 32 consecutive floats of k (n of them there) */
static inline __m512i run16(const float *s, long n)
{
	__m512 lo = _mm512_maskz_loadu_ps(mae_mask16(n), s), hi = _mm512_maskz_loadu_ps(mae_mask16(n - 16), s + 16);
	/* cvtne2ps puts lo's 16 then hi's 16: k in order, which is pairs in order */
	return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* B rows [k0, k0 + kc), columns [j0, j0 + nc) as dst[p][64] words, zero past nc and past kc */
static void pack_b_panel(uint32_t *dst, const float *B, long rsb, long csb, int k0, int kc, int j0, int nc)
{
	int kp = (kc + 1) / 2;
	if (csb == 1) {
		/* rows of B in pairs, interleaved in registers */
		for (int p = 0; p < kp; p++) {
			const float *s = B + (long)(k0 + 2 * p) * rsb + j0;
			int two = 2 * p + 1 < kc;
			for (int v = 0; v < 4; v++) {
				__mmask16 m = mae_mask16(nc - 16 * v);
				__m512 lo = _mm512_maskz_loadu_ps(m, s + 16 * v);
				__m512 hi = two ? _mm512_maskz_loadu_ps(m, s + rsb + 16 * v) : _mm512_setzero_ps();
				_mm512_store_si512(dst + (size_t)p * NR + 16 * v, pairs16(lo, hi));
			}
		}
		return;
	}
	/* B = W^T (rsb = 1): a column of B is a row of W, whose consecutive floats are the pairs;
	 * 16 columns x 16 pairs converted a row at a time and transposed in registers as words */
	if (nc < NR)
		for (int p = 0; p < kp; p++)
			memset(dst + (size_t)p * NR + nc, 0, (size_t)(NR - nc) * sizeof(uint32_t));
	int j = 0;
	if (rsb == 1)
		for (; j + 16 <= nc; j += 16) {
			const float *s = B + (long)(j0 + j) * csb + k0;
			int p = 0;
			for (; p + 16 <= kp; p += 16) {
				__m512 r[16];
				for (int q = 0; q < 16; q++)
					r[q] = _mm512_castsi512_ps(run16(s + (long)q * csb + 2 * p, kc - 2 * p));
				mae_transpose16(r);
				for (int q = 0; q < 16; q++)
					_mm512_store_ps((float *)(dst + (size_t)(p + q) * NR + j), r[q]);
			}
			for (; p < kp; p++)
				for (int q = 0; q < 16; q++) {
					const float *x = s + (long)q * csb + 2 * p;
					dst[(size_t)p * NR + j + q] = pair_bits(x[0], 2 * p + 1 < kc ? x[1] : 0.0f);
				}
		}
	for (; j < nc; j++) {
		const float *s = B + (long)(j0 + j) * csb + (long)k0 * rsb;
		for (int p = 0; p < kp; p++)
			dst[(size_t)p * NR + j] = pair_bits(s[(long)2 * p * rsb], 2 * p + 1 < kc ? s[(long)(2 * p + 1) * rsb] : 0.0f);
	}
}

/* words a row of a packed A block of kc rows of k: its pairs, rounded up to whole vectors */
static inline int a_stride(int kc)
{
	return ((kc + 1) / 2 + 15) & ~15;
}

/* A rows [0, mc), k [0, kc) (A at the block's corner) as dst[i][a_stride(kc)] words: each row
 * its pairs in k order (the words past its pairs zero or unused), so every layout of A packs
 * with whole-vector stores */
static void pack_a_block(uint32_t *dst, const float *A, long rsa, long csa, int mc, int kc)
{
	int kp = (kc + 1) / 2, ks = a_stride(kc);
	if (csa == 1) {
		/* rows as they lie (the forward's activations, the input gradient's dy): 32 floats of
		 * a row to 16 pairs, one conversion and one store */
		for (int i = 0; i < mc; i++) {
			const float *s = A + (long)i * rsa;
			uint32_t *d = dst + (size_t)i * ks;
			for (int p = 0; p < kp; p += 16)
				_mm512_store_si512(d + p, run16(s + 2 * p, kc - 2 * p));
		}
		return;
	}
	if (rsa == 1) {
		/* A read down its columns (the weight gradient's dy^T): 16 rows of A at a pair from two
		 * rows of dy, interleaved in registers; 16 pairs of them transposed as words into 16
		 * rows of A's packing */
		for (int i = 0; i < mc; i += 16) {
			__mmask16 m = mae_mask16(mc - i);
			int n = mc - i < 16 ? mc - i : 16;
			for (int p = 0; p < kp; p += 16) {
				__m512 r[16];
				for (int q = 0; q < 16; q++) {
					int k = 2 * (p + q);
					const float *s0 = A + (long)k * csa + i;
					__m512 lo = k < kc ? _mm512_maskz_loadu_ps(m, s0) : _mm512_setzero_ps();
					__m512 hi = k + 1 < kc ? _mm512_maskz_loadu_ps(m, s0 + csa) : _mm512_setzero_ps();
					r[q] = _mm512_castsi512_ps(pairs16(lo, hi));
				}
				mae_transpose16(r);
				for (int l = 0; l < n; l++)
					_mm512_store_ps((float *)(dst + (size_t)(i + l) * ks + p), r[l]);
			}
		}
		return;
	}
	for (int i = 0; i < mc; i++)
		for (int p = 0; p < kp; p++) {
			const float *s = A + (long)i * rsa + (long)2 * p * csa;
			dst[(size_t)i * ks + p] = pair_bits(s[0], 2 * p + 1 < kc ? s[csa] : 0.0f);
		}
}

/* C[mr x 16 nv] = (acc ? C : 0) + A B over kp pairs of k; Ap the tile's packed pairs, Bp a
 * packed panel; the last vector is stored under mask, the epilogue as mae_gemm's */
static inline __attribute__((always_inline)) void tile(int mr, int nv, int kp, const uint32_t *Ap, int ks,
                                                        const uint32_t *Bp, float *C, long ldc, int acc,
                                                        int lastn, const gemm_epilogue *e, long eoff, int j0)
{
	__mmask16 last = mae_mask16(lastn);
	__m512 c[MR][4];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			c[i][v] = _mm512_setzero_ps();
	for (int p = 0; p < kp; p++) {
		__m512bh b[4];
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			if (v < nv)
				b[v] = (__m512bh)_mm512_load_si512(Bp + (size_t)p * NR + 16 * v);
#pragma GCC unroll 6
		for (int i = 0; i < MR; i++)
			if (i < mr) {
				__m512bh x = (__m512bh)_mm512_set1_epi32((int)Ap[(size_t)i * ks + p]);
#pragma GCC unroll 4
				for (int v = 0; v < 4; v++)
					if (v < nv)
						c[i][v] = _mm512_dpbf16_ps(c[i][v], x, b[v]);
			}
	}
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		if (i < mr)
#pragma GCC unroll 4
			for (int v = 0; v < 4; v++)
				if (v < nv) {
					float *q = C + (long)i * ldc + 16 * v;
					__mmask16 m = v == nv - 1 ? last : (__mmask16)0xffff;
					__m512 x = c[i][v];
					if (acc)
						x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, q));
					if (e)
						x = mae_epilogue16(e, x, eoff + (long)i * ldc + 16 * v, j0 + 16 * v, m);
					_mm512_mask_storeu_ps(q, m, x);
				}
}

#define TILE_MR(NV)                                                                                 \
	switch (mr) {                                                                               \
	case 6: tile(6, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                    \
	case 5: tile(5, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                    \
	case 4: tile(4, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                    \
	case 3: tile(3, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                    \
	case 2: tile(2, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                    \
	default: tile(1, NV, kp, Ap, ks, Bp, C, ldc, acc, lastn, e, eoff, j0); break;                   \
	}

static void tile_any(int mr, int nv, int kp, const uint32_t *Ap, int ks, const uint32_t *Bp, float *C, long ldc,
                     int acc, int lastn, const gemm_epilogue *e, long eoff, int j0)
{
	switch (nv) {
	case 4: TILE_MR(4) break;
	case 3: TILE_MR(3) break;
	case 2: TILE_MR(2) break;
	default: TILE_MR(1) break;
	}
}

int mae_gemm_bf16_available(void)
{
	return 1;
}

static _Thread_local gemm_pack_buf pack_a, pack_b;   /* words: pairs of bf16 */

/* A B packed whole (mae_gemm_bf16_pack): its blocks of k in order, each its N panels in order;
 * a full block is KC / 2 pairs a panel, only the last block of k may be shorter */
static size_t whole_b_offset(int np, int kb, int p, int kp)
{
	return ((size_t)kb * np * (KC / 2) + (size_t)p * kp) * NR;
}

size_t mae_gemm_bf16_packed_bytes(int N, int K)
{
	if (N <= 0 || K <= 0)
		return 0;
	int np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC, klast = K - (nkb - 1) * KC;
	return whole_b_offset(np, nkb - 1, np, (klast + 1) / 2) * sizeof(uint32_t);
}

void mae_gemm_bf16_pack(void *dst, int N, int K, const float *B, long rsb, long csb, int part, int parts)
{
	if (N <= 0 || K <= 0)
		return;
	int np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC, n = np * nkb;
	for (int it = (int)((long)n * part / parts); it < (int)((long)n * (part + 1) / parts); it++) {
		int kb = it / np, p = it % np, k0 = kb * KC, j0 = p * NR;
		int kc = K - k0 < KC ? K - k0 : KC;
		pack_b_panel((uint32_t *)dst + whole_b_offset(np, kb, p, (kc + 1) / 2), B, rsb, csb, k0, kc, j0,
		             N - j0 < NR ? N - j0 : NR);
	}
}

/* The product, with B packed here a group of panels at a time, or read from Bw (packed whole by
 * mae_gemm_bf16_pack) */
static void gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb, long csb,
                 const uint32_t *Bw, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	if (M <= 0 || N <= 0)
		return;
	if (K <= 0) {   /* no products: C (or zero) and the epilogue, as mae_gemm does them */
		mae_gemm(M, N, 0, A, rsa, csa, B, rsb, csb, C, ldc, accumulate, epi);
		return;
	}
	/* mae_gemm's order: B packed a block of k by as many panels as make BBYTES, every MC-row
	 * block of A run down those panels, tile by tile. A is packed the first time its block is
	 * used: where B takes more than one group of panels, into a buffer for the whole of A, and
	 * the later groups read it there */
	int np = (N + NR - 1) / NR, kcmax = K < KC ? K : KC, kpmax = (kcmax + 1) / 2, ksmax = a_stride(kcmax);
	int ncp = BBYTES / (kpmax * NR * (int)sizeof(uint32_t));
	ncp = ncp > 0 ? ncp : 1;
	int whole = np > ncp, nkb = (K + KC - 1) / KC;
	uint32_t *bp = Bw ? NULL : mae_gemm_pack_room(&pack_b, (size_t)(np < ncp ? np : ncp) * kpmax * NR * sizeof(uint32_t));
	uint32_t *ap = mae_gemm_pack_room(&pack_a, (whole ? (size_t)nkb * M * ksmax : (size_t)(M < MC ? M : MC) * ksmax) *
	                                               sizeof(uint32_t));
	for (int q0 = 0; q0 < np; q0 += ncp) {
		int nq = np - q0 < ncp ? np - q0 : ncp;
		for (int k0 = 0; k0 < K; k0 += KC) {
			int kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2, ks = a_stride(kc);
			int acc = accumulate || k0 > 0, final = k0 + kc == K;
			/* the group's panels: packed now, or where the whole B lies */
			const uint32_t *panels = Bw ? Bw + whole_b_offset(np, k0 / KC, q0, kp) : bp;
			for (int p = 0; !Bw && p < nq; p++) {
				int j0 = (q0 + p) * NR;
				pack_b_panel(bp + (size_t)p * kp * NR, B, rsb, csb, k0, kc, j0, N - j0 < NR ? N - j0 : NR);
			}
			for (int i0 = 0; i0 < M; i0 += MC) {
				int mc = M - i0 < MC ? M - i0 : MC;
				uint32_t *Ab = whole ? ap + ((size_t)(k0 / KC) * M + i0) * ksmax : ap;
				if (!whole || q0 == 0)
					pack_a_block(Ab, A + (long)i0 * rsa + (long)k0 * csa, rsa, csa, mc, kc);
				for (int p = 0; p < nq; p++) {
					int j0 = (q0 + p) * NR, nc = N - j0 < NR ? N - j0 : NR, nv = (nc + 15) / 16;
					int lastn = nc - 16 * (nv - 1);
					const uint32_t *Bp = panels + (size_t)p * kp * NR;
					for (int t = 0; t * MR < mc; t++) {
						int i = i0 + t * MR, mr = mc - t * MR < MR ? mc - t * MR : MR;
						tile_any(mr, nv, kp, Ab + (size_t)t * MR * ks, ks, Bp, C + (long)i * ldc + j0, ldc, acc,
						         lastn, final ? epi : NULL, (long)i * ldc + j0, j0);
					}
				}
			}
		}
	}
}

void mae_gemm_bf16(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
                   long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	gemm(M, N, K, A, rsa, csa, B, rsb, csb, NULL, C, ldc, accumulate, epi);
}

void mae_gemm_bf16_packed(int M, int N, int K, const float *A, long rsa, long csa, const void *Bw, float *C,
                          long ldc, int accumulate, const gemm_epilogue *epi)
{
	gemm(M, N, K, A, rsa, csa, NULL, 0, 0, Bw, C, ldc, accumulate, epi);
}

#else /* no AVX512_BF16 in this build: the bf16 setting is refused (mae_config_check) */

int mae_gemm_bf16_available(void)
{
	return 0;
}

void mae_gemm_bf16(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
                   long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi)
{
	(void)M, (void)N, (void)K, (void)A, (void)rsa, (void)csa, (void)B, (void)rsb, (void)csb;
	(void)C, (void)ldc, (void)accumulate, (void)epi;
	mae_die(MAE_EXIT_DATA, "mae_gemm_bf16: built without AVX512_BF16 (-march of a CPU that has it)");
}

size_t mae_gemm_bf16_packed_bytes(int N, int K)
{
	(void)N, (void)K;
	return 0;
}

void mae_gemm_bf16_pack(void *dst, int N, int K, const float *B, long rsb, long csb, int part, int parts)
{
	(void)dst, (void)N, (void)K, (void)B, (void)rsb, (void)csb, (void)part, (void)parts;
	mae_die(MAE_EXIT_DATA, "mae_gemm_bf16_pack: built without AVX512_BF16 (-march of a CPU that has it)");
}

void mae_gemm_bf16_packed(int M, int N, int K, const float *A, long rsa, long csa, const void *Bw, float *C,
                          long ldc, int accumulate, const gemm_epilogue *epi)
{
	(void)M, (void)N, (void)K, (void)A, (void)rsa, (void)csa, (void)Bw, (void)C, (void)ldc, (void)accumulate;
	(void)epi;
	mae_die(MAE_EXIT_DATA, "mae_gemm_bf16_packed: built without AVX512_BF16 (-march of a CPU that has it)");
}

#endif
