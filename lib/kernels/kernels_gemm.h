/* kernels_gemm.h: the dense layers' matrix product, with its epilogues. Internal to libmae.
 *
 * C[M x N] = (accumulate ? C : 0) + A B, where A(i, k) = A[i * rsa + k * csa] and
 * B(k, j) = B[k * rsb + j * csb]: the layers use it for y = x W^T (B = W^T, rsb = 1, csb = K)
 * and dx = dy W; any strides work (the tests read A transposed too). The epilogue runs on the
 * accumulators after the last block of k, before the store: C += bias (a row vector) and resid
 * (C's layout), then either gelu_out = GELU(C), C *= dmul, or C *= GELU'(gelu_pre) (all in
 * C's layout, ld = ldc).
 *
 * Single-threaded: callers split the work over the pool. Built with AVX-512 or AVX2 and FMA;
 * elsewhere the callers use OpenBLAS (mae_gemm_available() says which). */
#ifndef MAE_KERNELS_GEMM_H
#define MAE_KERNELS_GEMM_H

#include <stddef.h>

typedef struct gemm_epilogue {
	const float *bias, *resid;
	float *gelu_out;
	const float *dmul, *gelu_pre;
} gemm_epilogue;

/* A per-thread packing buffer, grown to the largest call and then kept: no allocation a step.
 * mae_gemm_pack_room returns room for `bytes`, 64-byte aligned (dies when out of memory). */
typedef struct gemm_pack_buf {
	void *p;
	size_t cap;
} gemm_pack_buf;
void *mae_gemm_pack_room(gemm_pack_buf *b, size_t bytes);

int mae_gemm_available(void);
/* Whether a layer's weight gradient dW += dy^T x (C inputs, OC outputs; A read down its
 * columns, K = the batch's rows) goes to mae_gemm too, or stays on OpenBLAS: the faster of the
 * two in a training step, as measured on each instruction set (kernels_gemm.c). */
int mae_gemm_weight_gradients(int C, int OC);
void mae_gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
              long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi);

/* The same product with A and B rounded to bf16 (round to nearest even, denormals to zero)
 * and the products summed in fp32 (AVX512_BF16's vdpbf16ps): C stays fp32, and so do the
 * epilogue's operands and arithmetic. Built where the compiler targets AVX512_BF16
 * (kernels_gemm_bf16.c); mae_gemm_bf16_available() says whether it was (if not, mae_gemm_bf16
 * dies: the model's bf16 setting is refused before, mae_config_check). */
int mae_gemm_bf16_available(void);
void mae_gemm_bf16(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
                   long csb, float *C, long ldc, int accumulate, const gemm_epilogue *epi);
/* The same with B packed beforehand, for a B that several calls share (a layer's weights, read
 * by each row chunk of a job): mae_gemm_bf16_packed_bytes(N, K) bytes (64-byte aligned), filled
 * by mae_gemm_bf16_pack in `parts` parts that may run on different threads (part in [0,
 * parts)), then read by any number of mae_gemm_bf16_packed calls. The results are
 * mae_gemm_bf16's, bit for bit: the same packing, the same order of sums. */
size_t mae_gemm_bf16_packed_bytes(int N, int K);
void mae_gemm_bf16_pack(void *dst, int N, int K, const float *B, long rsb, long csb, int part, int parts);
void mae_gemm_bf16_packed(int M, int N, int K, const float *A, long rsa, long csa, const void *Bw, float *C,
                          long ldc, int accumulate, const gemm_epilogue *epi);

#endif
