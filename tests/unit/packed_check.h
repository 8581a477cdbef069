/* packed_check.h: the check that a product with B packed beforehand (mae_gemm_pack and
 * mae_gemm_packed, or their bf16 pair) gives the bits of the same product packing B itself,
 * shared by test_kernels and test_bf16. Include after arrays.h and kernels_gemm.h. */
#ifndef PACKED_CHECK_H
#define PACKED_CHECK_H

typedef void (*pack_fn)(void *dst, int N, int K, const float *B, long rsb, long csb, int part, int parts);
typedef void (*packed_fn)(int M, int N, int K, const float *A, long rsa, long csa, const void *Bw, float *C,
                          long ldc, int accumulate, const gemm_epilogue *epi);

/* 1 if the packed product (B packed in `parts` parts, as threads would) differs from C (and
 * the GELU output g where e has one), which the unpacked product wrote from C0 */
static int packed_differs(size_t bytes, pack_fn pack, packed_fn run, int parts, int M, int N, int K,
                          const float *A, long rsa, long csa, const float *B, long rsb, long csb, const float *C0,
                          const float *C, const float *g, long ldc, int acc, const gemm_epilogue *e)
{
	size_t n = (size_t)M * ldc + 1;
	void *Bw = bytes ? aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
	for (int part = 0; part < parts; part++)
		pack(Bw, N, K, B, rsb, csb, part, parts);
	float *C2 = copy(C0, n), *g2 = zeros(n);
	gemm_epilogue e2;
	if (e) {
		e2 = *e;
		e2.gelu_out = e->gelu_out ? g2 : NULL;
	}
	run(M, N, K, A, rsa, csa, Bw, C2, ldc, acc, e ? &e2 : NULL);
	free(Bw);
	return memcmp(C, C2, n * sizeof *C) != 0 || (e && e->gelu_out && memcmp(g, g2, n * sizeof *g) != 0);
}

#endif
