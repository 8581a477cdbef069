/* kernels.c: the dense layers of the ViT (linear, LayerNorm, GELU, residual), MAE's patch
 * embedding and position embedding, and the token plumbing (cls, gather, mask tokens).
 *
 * Attention lives in kernels_attention.c, the losses in kernels_loss.c, the thread pool in
 * kernels_threads.c. Conventions (outputs first, shape comments, backward accumulates) are
 * described in include/mae/kernels/kernels.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

#include "mae/kernels/kernels.h"
#include "kernels/kernels_gemm.h"
#include "kernels/kernels_math.h"
#include "mae/util/util.h"

/* ---------------------------------------------------------------------------------------
 * Linear (https://pytorch.org/docs/stable/generated/torch.nn.Linear.html) */

/* The bf16 setting (mae_set_bf16): when on, the three products of every linear layer (y = x W^T,
 * dx = dy W, dW += dy^T x) go to mae_gemm_bf16 (bf16 operands, fp32 sums) instead of mae_gemm
 * and OpenBLAS; the split over the pool is the same. Bias, residual, GELU and the bias
 * gradient stay fp32, and so does everything outside the linear layers but the attention's
 * per-head products (kernels_attention.c, which reads the same setting). One process-wide
 * setting, set by the model's stages from its configuration before they run (model_forward.c),
 * read once by each layer call into its job, so the tasks of a call all agree. */
static _Atomic int use_bf16;

int mae_bf16_available(void)
{
	return mae_gemm_bf16_available();
}

void mae_set_bf16(int on)
{
	if (on && !mae_gemm_bf16_available())
		mae_die(MAE_EXIT_DATA, "bf16=1: this build has no AVX512_BF16 product (needs a CPU with "
		        "avx512_bf16 and -march=native); use bf16=0");
	use_bf16 = on != 0;
}

int mae_get_bf16(void)
{
	return use_bf16;
}

/* Big products are split into one row block per pool thread, each a single-threaded product:
 * mae_gemm (kernels_gemm.c) for y = x W^T and dx = dy W where the CPU has AVX-512 or AVX2,
 * OpenBLAS for dW and elsewhere. OpenBLAS is held to one thread (mae_threads_init), so no BLAS thread ever
 * spins waiting for work while ours compute, and the elementwise kernels share the same two
 * cores cleanly. */
typedef struct lin_job {
	float *out, *dinp, *dw, *dbias;
	const float *inp, *w, *bias, *dout, *resid;
	float *gelu_out;          /* forward: also GELU(out) here, rows done by the same task */
	const float *gelu_pre;    /* backward: dinp *= GELU'(gelu_pre) ... */
	const float *dmul;        /* ... or dinp *= dmul (a saved GELU'), while the rows are hot */
	int R, C, OC, nt;
	float beta_dinp;          /* 1: dinp += ..., 0: dinp = ... */
	int bf16;                 /* the products on mae_gemm_bf16 (use_bf16 when the call began) */
} lin_job;

static void gelu_rows(float *out, const float *inp, size_t i0, size_t i1);
static void gelu_grad_rows(float *d, const float *inp, size_t i0, size_t i1);
static void mul_rows(float *d, const float *a, size_t i0, size_t i1);

static int split_worth(int R, int C, int OC)
{
	return mae_threads() > 1 && !mae_in_task() && (double)R * C * OC > 2e5;
}

/* Chunks per job: two per thread when the rows allow, so a worker that wakes late (another
 * process holds its core for a moment) still finds work instead of leaving it all to the
 * caller; but each chunk is its own sgemm, which packs the whole weight matrix again, at
 * about 32 / rows of the chunk's time (one copy per float against rows x 2 FLOPs per weight at
 * 64 FLOPs a cycle). So no chunk under 1024 rows: at ViT-Tiny's 224 decoder (stack chunks of
 * 2167 rows then) one chunk per thread cut OpenBLAS's packing copies from 11.2% to 8.8% of a
 * step's samples (perf), with no more time waiting in the pool. */
static int chunks(int rows)
{
	int nt = mae_threads(), k = 2 * nt;
	while (k > nt && rows / k < 1024)
		k--;
	return k;
}

/* ---- weights packed once for many products (mae_linear_prepack) ----
 * A bf16 product packs its B (rounds it to bf16, in pairs of k) at every call. model_stack.c
 * takes each chunk of sequences through all the layers inside one task a thread, so every
 * chunk of every thread packed every layer's W^T (forward) and W (input gradients) again: 2.3%
 * and 2.6% of a bf16 tiny-224 step. The stack packs them once a step instead; a product whose
 * weights are in this table reads them here. The table is written by the calling thread
 * between pool jobs (in parts on the pool: mae_parallel_for's own ordering publishes them)
 * and only read by the tasks. */
typedef struct prepacked {
	const float *w;
	int C, OC, dinp;          /* dinp: B = W (dx = dy W), else B = W^T (y = x W^T) */
	size_t off;               /* bytes into prepack.buf */
} prepacked;

static struct {
	prepacked *e;
	int n, cap;
	gemm_pack_buf buf;
	int parts;
} prepack;

/* The product's B for a layer of C inputs and OC outputs: W^T (K = C, N = OC) for the forward,
 * W (K = OC, N = C) for the input gradients; B(k, j) = w[k rsb + j csb], W stored (OC, C) */
typedef struct weights_b {
	int N, K;
	long rsb, csb;
} weights_b;

static weights_b weights_as_b(int C, int OC, int dinp)
{
	return dinp ? (weights_b){ .N = C, .K = OC, .rsb = C, .csb = 1 } : (weights_b){ .N = OC, .K = C, .rsb = 1, .csb = C };
}

static const void *prepacked_find(const float *w, int C, int OC, int dinp)
{
	for (int i = 0; i < prepack.n; i++) {
		const prepacked *p = &prepack.e[i];
		if (p->w == w && p->C == C && p->OC == OC && p->dinp == dinp)
			return (const char *)prepack.buf.p + p->off;
	}
	return NULL;
}

static void prepack_task(void *ctx, int part, int tid)
{
	(void)ctx, (void)tid;
	for (int i = 0; i < prepack.n; i++) {
		const prepacked *p = &prepack.e[i];
		weights_b b = weights_as_b(p->C, p->OC, p->dinp);
		mae_gemm_bf16_pack((char *)prepack.buf.p + p->off, b.N, b.K, p->w, b.rsb, b.csb, part, prepack.parts);
	}
}

void mae_linear_prepack(const float *const *w, const int *C, const int *OC, int n, int dinp)
{
	if (mae_in_task())   /* the table is the calling thread's to write, between jobs */
		return;
	prepack.n = 0;
	if (!use_bf16 || n <= 0)
		return;
	if (n > prepack.cap) {
		free(prepack.e);
		prepack.e = mae_malloc((size_t)n * sizeof *prepack.e);
		prepack.cap = n;
	}
	size_t bytes = 0;
	for (int i = 0; i < n; i++) {
		prepack.e[i] = (prepacked){ .w = w[i], .C = C[i], .OC = OC[i], .dinp = dinp, .off = bytes };
		weights_b b = weights_as_b(C[i], OC[i], dinp);
		bytes += (mae_gemm_bf16_packed_bytes(b.N, b.K) + 63) & ~(size_t)63;
	}
	mae_gemm_pack_room(&prepack.buf, bytes);
	prepack.n = n;
	prepack.parts = mae_threads();
	mae_parallel_for(prepack.parts, prepack_task, NULL);
}

/* C (M rows, ldc N) = (accumulate ? C : 0) + A (M rows, K columns) times the layer's weights as
 * B (weights_as_b), with the epilogue: on mae_gemm, on mae_gemm_bf16, or on the weights packed
 * once (mae_linear_prepack) */
static void weights_product(const lin_job *J, int dinp, int M, const float *A, float *C, int accumulate,
                            const gemm_epilogue *e)
{
	weights_b b = weights_as_b(J->C, J->OC, dinp);
	const void *wp = J->bf16 ? prepacked_find(J->w, J->C, J->OC, dinp) : NULL;
	if (wp)
		mae_gemm_bf16_packed(M, b.N, b.K, A, b.K, 1, wp, C, b.N, accumulate, e);
	else
		(J->bf16 ? mae_gemm_bf16 : mae_gemm)(M, b.N, b.K, A, b.K, 1, J->w, b.rsb, b.csb, C, b.N, accumulate, e);
}

void mae_linear_prepack_clear(void)
{
	if (!mae_in_task())
		prepack.n = 0;
}

static void lin_fwd_task(void *ctx, int i, int tid)
{
	(void)tid;
	lin_job *J = ctx;
	int r0 = (int)((long)J->R * i / J->nt), r1 = (int)((long)J->R * (i + 1) / J->nt);
	if (r1 <= r0)
		return;
	float beta = 0.0f;
	size_t off = (size_t)r0 * J->OC;
	float *out = J->out + off;
	if (mae_gemm_available() || J->bf16) {
		/* bias, residual and GELU in the product's epilogue, on each tile while it is hot */
		gemm_epilogue e = { .bias = J->bias, .resid = J->resid ? J->resid + off : NULL,
		                    .gelu_out = J->gelu_out ? J->gelu_out + off : NULL };
		weights_product(J, 0, r1 - r0, J->inp + (size_t)r0 * J->C, out, 0, &e);
		return;
	}
	if (J->resid) {
		/* residual and bias ride in as the GEMM's C operand (beta = 1): one pass, no temporary */
		for (int r = r0; r < r1; r++) {
			float *o = J->out + (size_t)r * J->OC;
			const float *x = J->resid + (size_t)r * J->OC;
			for (int k = 0; k < J->OC; k++)
				o[k] = x[k] + (J->bias ? J->bias[k] : 0.0f);
		}
		beta = 1.0f;
	} else if (J->bias) {
		/* the bias rides in as the GEMM's C operand (beta = 1): one pass over out, not two */
		for (int r = r0; r < r1; r++)
			memcpy(J->out + (size_t)r * J->OC, J->bias, (size_t)J->OC * sizeof(float));
		beta = 1.0f;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, J->OC, J->C,
	            1.0f, J->inp + (size_t)r0 * J->C, J->C, J->w, J->C, beta, out, J->OC);
	if (J->gelu_out)
		gelu_rows(J->gelu_out, J->out, (size_t)r0 * J->OC, (size_t)r1 * J->OC);
}

static void linear_forward_job(lin_job *J)
{
	J->bf16 = use_bf16;
	if (!split_worth(J->R, J->C, J->OC)) {
		J->nt = 1;
		lin_fwd_task(J, 0, 0);
		return;
	}
	J->nt = chunks(J->R);
	mae_parallel_for(J->nt, lin_fwd_task, J);
}

void mae_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                    int R, int C, int OC)
{
	lin_job J = { .out = out, .inp = inp, .w = w, .bias = bias, .R = R, .C = C, .OC = OC };
	linear_forward_job(&J);
}

void mae_linear_forward_residual(float *out, const float *inp, const float *w, const float *bias,
                             const float *resid, int R, int C, int OC)
{
	lin_job J = { .out = out, .inp = inp, .w = w, .bias = bias, .resid = resid, .R = R, .C = C,
	              .OC = OC };
	linear_forward_job(&J);
}

void mae_linear_forward_gelu(float *pre, float *out, const float *inp, const float *w,
                         const float *bias, int R, int C, int OC)
{
	lin_job J = { .out = pre, .gelu_out = out, .inp = inp, .w = w, .bias = bias, .R = R, .C = C,
	              .OC = OC };
	linear_forward_job(&J);
}

/* dbias[o] += sum over rows of dout[r][o], for o in [o0, o1), adding the rows in order. Column
 * blocks of 64 sums stay in registers down all the rows: adding row by row into dbias instead
 * stored the slice once a row, and those stores were most of the backward's own time. */
static inline __attribute__((always_inline)) void bias_grad_cols(float *dbias, const float *dout, int R,
                                                                  int OC, int o, int W)
{
	/* columns [o, o + W), W <= 64 a constant at each call: acc unrolls into registers */
	float acc[64];
	memcpy(acc, dbias + o, (size_t)W * sizeof(float));
	for (int r = 0; r < R; r++)
		for (int k = 0; k < W; k++)
			acc[k] += dout[(size_t)r * OC + o + k];
	memcpy(dbias + o, acc, (size_t)W * sizeof(float));
}

static void bias_grad(float *dbias, const float *dout, int R, int OC, int o0, int o1)
{
	int o = o0;
	for (; o + 64 <= o1; o += 64)
		bias_grad_cols(dbias, dout, R, OC, o, 64);
	for (; o + 16 <= o1; o += 16)
		bias_grad_cols(dbias, dout, R, OC, o, 16);
	for (; o < o1; o++)
		bias_grad_cols(dbias, dout, R, OC, o, 1);
}

/* dw[o0:o1, c0:c1] += dout[:, o0:o1]^T inp[:, c0:c1], on the product faster for the layer's
 * width (mae_gemm_weight_gradients), or in bf16 */
static void weight_grad_block(const lin_job *J, int o0, int o1, int c0, int c1)
{
	int R = J->R, C = J->C, OC = J->OC;
	const float *dout = J->dout + o0, *inp = J->inp + c0;
	float *dw = J->dw + (size_t)o0 * C + c0;
	if (J->bf16)
		mae_gemm_bf16(o1 - o0, c1 - c0, R, dout, 1, OC, inp, C, 1, dw, C, 1, NULL);
	else if (mae_gemm_weight_gradients(C, OC))
		mae_gemm(o1 - o0, c1 - c0, R, dout, 1, OC, inp, C, 1, dw, C, 1, NULL);
	else
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, c1 - c0, R,
		            1.0f, dout, OC, inp, C, 1.0f, dw, C);
}

/* task i < nt: rows [r0, r1) of dinp; task nt + i: a slice of dw (rows or columns) and rows
 * [o0, o1) of dbias */
static void lin_bwd_task(void *ctx, int i, int tid)
{
	(void)tid;
	lin_job *J = ctx;
	int R = J->R, C = J->C, OC = J->OC, nt = J->nt;
	if (i < nt) {
		int r0 = (int)((long)R * i / nt), r1 = (int)((long)R * (i + 1) / nt);
		if (!J->dinp || r1 <= r0)
			return;
		size_t off = (size_t)r0 * C;
		if (mae_gemm_available() || J->bf16) {
			gemm_epilogue e = { .dmul = J->dmul ? J->dmul + off : NULL,
			                    .gelu_pre = J->gelu_pre ? J->gelu_pre + off : NULL };
			weights_product(J, 1, r1 - r0, J->dout + (size_t)r0 * OC, J->dinp + off, J->beta_dinp != 0.0f, &e);
			return;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, C, OC,
		            1.0f, J->dout + (size_t)r0 * OC, OC, J->w, C, J->beta_dinp, J->dinp + off, C);
		if (J->gelu_pre)
			gelu_grad_rows(J->dinp, J->gelu_pre, off, (size_t)r1 * C);
		else if (J->dmul)
			mul_rows(J->dinp, J->dmul, off, (size_t)r1 * C);
		return;
	}
	i -= nt;
	int o0 = (int)((long)OC * i / nt), o1 = (int)((long)OC * (i + 1) / nt);
	if (J->dw) {
		/* dw = dout^T inp has K = R, so OpenBLAS packs every operand panel it is given: the
		 * task split decides which operand each task packs whole. Split the wider side, so
		 * the one packed again by every task is the narrower (fc2: dout, OC = C/4). mae_gemm
		 * packs only inp (as B) and reads dout^T where it lies; its sums run in k order
		 * whatever the split, so the bits do not depend on the thread count. */
		if (C > OC) {
			int c0 = (int)((long)C * i / nt), c1 = (int)((long)C * (i + 1) / nt);
			if (c1 > c0)
				weight_grad_block(J, 0, OC, c0, c1);
		} else if (o1 > o0)
			weight_grad_block(J, o0, o1, 0, C);
	}
	if (J->dbias)
		bias_grad(J->dbias, J->dout, R, OC, o0, o1);
}

static void linear_backward_job(lin_job *J)
{
	J->bf16 = use_bf16;
	if (!split_worth(J->R, J->C, J->OC)) {
		J->nt = 1;
		lin_bwd_task(J, 0, 0);
		lin_bwd_task(J, 1, 0);
		return;
	}
	J->nt = chunks(J->R < J->OC ? J->R : J->OC);
	mae_parallel_for(2 * J->nt, lin_bwd_task, J);
}

static void linear_backward_beta(float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int R, int C, int OC, float beta)
{
	lin_job J = { .dinp = dinp, .dw = dw, .dbias = dbias, .dout = dout, .inp = inp, .w = w,
	              .R = R, .C = C, .OC = OC, .beta_dinp = beta };
	linear_backward_job(&J);
}

void mae_linear_backward_gelu(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, const float *pre, const float *deriv,
                          int R, int C, int OC)
{
	lin_job J = { .dinp = dinp, .dw = dw, .dbias = dbias, .dout = dout, .inp = inp, .w = w,
	              .gelu_pre = deriv ? NULL : pre, .dmul = deriv, .R = R, .C = C, .OC = OC };
	linear_backward_job(&J);
}

void mae_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, int R, int C, int OC)
{
	linear_backward_beta(dinp, dw, dbias, dout, inp, w, R, C, OC, 1.0f);
}

void mae_linear_backward_set(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int R, int C, int OC)
{
	linear_backward_beta(dinp, dw, dbias, dout, inp, w, R, C, OC, 0.0f);
}

/* ---------------------------------------------------------------------------------------
 * LayerNorm (https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html) */

/* Row-parallel over the pool; the backward's dw/db are summed per task and then in task order. */
typedef struct ln_job {
	float *out, *mean, *rstd, *dinp, *dw, *db, *part;
	const float *inp, *w, *b, *dout, *cmean, *crstd;
	int R, C, nt;
	float eps;
} ln_job;

static void ln_fwd_task(void *ctx, int i, int tid)
{
	(void)tid;
	ln_job *J = ctx;
	int r0, r1, C = J->C;
	r0 = (int)((long)J->R * i / J->nt), r1 = (int)((long)J->R * (i + 1) / J->nt);
	for (int r = r0; r < r1; r++) {
		const float *x = J->inp + (size_t)r * C;
		float *y = J->out + (size_t)r * C;
		/* two passes (mean, then squared deviations): no cancellation for large means; the
		 * sums in 16 lanes, as a single scalar chain they cost more than the normalisation */
		float m = mae_vsum(x, C) / C;
		float v = mae_vsqdev(x, m, C) / C;
		float s = 1.0f / sqrtf(v + J->eps);
		for (int c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * J->w[c] + J->b[c];
		if (J->mean)
			J->mean[r] = m, J->rstd[r] = s;
	}
}

static void ln_recompute_task(void *ctx, int i, int tid)
{
	(void)tid;
	ln_job *J = ctx;
	int C = J->C, r0 = (int)((long)J->R * i / J->nt), r1 = (int)((long)J->R * (i + 1) / J->nt);
	for (int r = r0; r < r1; r++) {
		const float *x = J->inp + (size_t)r * C;
		float *y = J->out + (size_t)r * C;
		float m = J->cmean[r], s = J->crstd[r];
		for (int c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * J->w[c] + J->b[c];
	}
}

static int ln_threads(int R, int C)
{
	return (long)R * C > 32768 ? 2 * mae_threads() : 1;
}

void mae_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int R, int C, float eps)
{
	ln_job J = { .out = out, .mean = mean, .rstd = rstd, .inp = inp, .w = w, .b = b, .R = R, .C = C,
	             .eps = eps, .nt = ln_threads(R, C) };
	mae_parallel_for(J.nt, ln_fwd_task, &J);
}

void mae_layernorm_recompute(float *out, const float *inp, const float *mean, const float *rstd,
                         const float *w, const float *b, int R, int C)
{
	ln_job J = { .out = out, .inp = inp, .cmean = mean, .crstd = rstd, .w = w, .b = b, .R = R, .C = C,
	             .nt = ln_threads(R, C) };
	mae_parallel_for(J.nt, ln_recompute_task, &J);
}

/* The last pass of a row: dx, and the task's dw/db sums. Its own function with restrict
 * pointers: inline in the row loop, GCC left it scalar ("no vectype"), which made the
 * backward five times slower than the forward. */
static void ln_bwd_row(float *restrict dx, float *restrict pdw, float *restrict pdb,
                       const float *restrict dy, const float *restrict x, const float *restrict w,
                       float m, float s, float gmean, float gxmean, int C)
{
	for (int c = 0; c < C; c++) {
		float xhat = (x[c] - m) * s, g = dy[c] * w[c];
		dx[c] += (g - gmean - xhat * gxmean) * s;
		pdw[c] += dy[c] * xhat;
		pdb[c] += dy[c];
	}
}

/* Rows [r0, r1): dinp = dres + d(inp) (dres == dinp: accumulate in place), and the rows' dw/db
 * sums, in row order, into pdw and pdb (overwritten). */
static void ln_bwd_span(float *dinp, const float *dres, float *pdw, float *pdb, const float *dout,
                        const float *inp, const float *w, const float *mean, const float *rstd,
                        int r0, int r1, int C)
{
	memset(pdw, 0, (size_t)C * sizeof(float));
	memset(pdb, 0, (size_t)C * sizeof(float));
	for (int r = r0; r < r1; r++) {
		const float *dy = dout + (size_t)r * C, *x = inp + (size_t)r * C;
		float *dx = dinp + (size_t)r * C;
		float m = mean[r], s = rstd[r];
		if (dres != dinp)
			memcpy(dx, dres + (size_t)r * C, (size_t)C * sizeof(float));
		/* dx = (g - mean(g) - xhat mean(g xhat)) * rstd, with g = dy * w; the two means in
		 * 16 lanes each (see mae_vsum) */
		float ag[16] = { 0 }, agx[16] = { 0 };
		int c = 0;
#ifdef __AVX512F__
		/* the loop below in registers: GCC vectorised it with permutes and spills, which left
		 * this pass the larger part of the backward (same operations, unfused: same bits) */
		__m512 vg = _mm512_setzero_ps(), vgx = _mm512_setzero_ps();
		__m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(s);
		for (; c + 16 <= C; c += 16) {
			__m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + c), vm), vs);
			__m512 g = _mm512_mul_ps(_mm512_loadu_ps(dy + c), _mm512_loadu_ps(w + c));
			vg = _mm512_add_ps(vg, g);
			vgx = _mm512_add_ps(vgx, _mm512_mul_ps(g, xhat));
		}
		_mm512_storeu_ps(ag, vg);
		_mm512_storeu_ps(agx, vgx);
#else
		for (; c + 16 <= C; c += 16)
			for (int k = 0; k < 16; k++) {
				float xhat = (x[c + k] - m) * s, g = dy[c + k] * w[c + k];
				ag[k] += g;
				agx[k] += g * xhat;
			}
#endif
		float gmean = 0.0f, gxmean = 0.0f;
		for (; c < C; c++) {
			float xhat = (x[c] - m) * s, g = dy[c] * w[c];
			gmean += g;
			gxmean += g * xhat;
		}
		for (int k = 0; k < 16; k++)
			gmean += ag[k], gxmean += agx[k];
		gmean /= C;
		gxmean /= C;
		ln_bwd_row(dx, pdw, pdb, dy, x, w, m, s, gmean, gxmean, C);
	}
}

/* One pass per row block: dinp for its rows, and dw/db partial sums into the task's own slot of
 * `part`, added up afterwards in task order (deterministic whatever thread ran which task). */
static void ln_bwd_task(void *ctx, int i, int tid)
{
	(void)tid;
	ln_job *J = ctx;
	int C = J->C, nt = J->nt;
	float *pdw = J->part + (size_t)i * 2 * C;
	ln_bwd_span(J->dinp, J->dinp, pdw, pdw + C, J->dout, J->inp, J->w, J->cmean, J->crstd,
	            (int)((long)J->R * i / nt), (int)((long)J->R * (i + 1) / nt), C);
}

void mae_layernorm_backward_rows(float *dinp, const float *dres, float *part, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int R, int C)
{
	ln_bwd_span(dinp, dres, part, part + C, dout, inp, w, mean, rstd, 0, R, C);
}

#define LN_MAX_TASKS 64

void mae_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int R, int C)
{
	int nt = ln_threads(R, C);
	if (nt > LN_MAX_TASKS)
		nt = LN_MAX_TASKS;
	/* the partial sums live on this frame: 2 C floats per task, at most 64 tasks */
	float part[(size_t)nt * 2 * (size_t)C];
	ln_job J = { .dinp = dinp, .dout = dout, .inp = inp, .w = w, .cmean = mean, .crstd = rstd,
	             .R = R, .C = C, .nt = nt, .part = part };
	mae_parallel_for(nt, ln_bwd_task, &J);
	for (int t = 0; t < nt; t++)
		for (int c = 0; c < C; c++) {
			dw[c] += part[(size_t)t * 2 * C + c];
			db[c] += part[(size_t)t * 2 * C + C + c];
		}
}

/* ---------------------------------------------------------------------------------------
 * GELU, exact (https://pytorch.org/docs/stable/generated/torch.nn.GELU.html), and residual */

typedef struct ew_job { float *out, *out2; const float *a, *b; size_t n; int nt; } ew_job;

/* The four GELU loops in one: out = GELU(x) (forward); out *= GELU'(x) (the gradient in place);
 * out = GELU(x) and out2 = GELU'(x) (the backward's recomputation); out += dout GELU'(x). The
 * mode is a constant in each caller, so each gets its own loop; on AVX-512 and AVX2 the tail
 * is one masked vector, so every element goes through the same arithmetic. */
enum { GELU_FWD, GELU_GRAD, GELU_DERIV, GELU_BWD };

static inline void gelu_span(int mode, float *out, float *out2, const float *inp, const float *dout,
                             size_t i0, size_t i1)
{
#ifdef __AVX512F__
	for (size_t k = i0; k < i1; k += 16) {
		__mmask16 m = mae_mask16((long)(i1 - k));
		__m512 x = _mm512_maskz_loadu_ps(m, inp + k), pdf, cdf = mae_phi16(x, &pdf);
		__m512 g = _mm512_fmadd_ps(x, pdf, cdf);
		if (mode == GELU_FWD || mode == GELU_DERIV)
			_mm512_mask_storeu_ps(out + k, m, _mm512_mul_ps(x, cdf));
		if (mode == GELU_DERIV)
			_mm512_mask_storeu_ps(out2 + k, m, g);
		if (mode == GELU_GRAD)
			_mm512_mask_storeu_ps(out + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, out + k), g));
		if (mode == GELU_BWD)
			_mm512_mask_storeu_ps(out + k, m, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dout + k), g,
			                                                  _mm512_maskz_loadu_ps(m, out + k)));
	}
#elif defined(__AVX2__) && defined(__FMA__)
	/* the same on 8 lanes (the scalar loop below, vectorised by GCC with divisions and no
	 * FMA, was a quarter of a tiny-28 step on a Zen 1) */
	for (size_t k = i0; k < i1; k += 8) {
		long n = (long)(i1 - k);
		__m256 x = mae_load8(inp + k, n), pdf, cdf = mae_phi8(x, &pdf);
		__m256 g = _mm256_fmadd_ps(x, pdf, cdf);
		if (mode == GELU_FWD || mode == GELU_DERIV)
			mae_store8(out + k, n, _mm256_mul_ps(x, cdf));
		if (mode == GELU_DERIV)
			mae_store8(out2 + k, n, g);
		if (mode == GELU_GRAD)
			mae_store8(out + k, n, _mm256_mul_ps(mae_load8(out + k, n), g));
		if (mode == GELU_BWD)
			mae_store8(out + k, n, _mm256_fmadd_ps(mae_load8(dout + k, n), g, mae_load8(out + k, n)));
	}
#else
	for (size_t k = i0; k < i1; k++) {
		float pdf, cdf = mae_phi(inp[k], &pdf), g = cdf + inp[k] * pdf;
		if (mode == GELU_FWD || mode == GELU_DERIV)
			out[k] = inp[k] * cdf;
		if (mode == GELU_DERIV)
			out2[k] = g;
		if (mode == GELU_GRAD)
			out[k] *= g;
		if (mode == GELU_BWD)
			out[k] += dout[k] * g;
	}
#endif
}

static void gelu_rows(float *out, const float *inp, size_t i0, size_t i1)
{
	gelu_span(GELU_FWD, out, NULL, inp, NULL, i0, i1);
}

static void gelu_grad_rows(float *d, const float *inp, size_t i0, size_t i1)
{
	gelu_span(GELU_GRAD, d, NULL, inp, NULL, i0, i1);
}

static void mul_rows(float *d, const float *a, size_t i0, size_t i1)
{
	for (size_t k = i0; k < i1; k++)
		d[k] *= a[k];
}

static void gelu_deriv_task(void *ctx, int i, int tid)
{
	(void)tid;
	ew_job *J = ctx;
	gelu_span(GELU_DERIV, J->out, J->out2, J->a, NULL, J->n * i / J->nt, J->n * (i + 1) / J->nt);
}

static int ew_threads(size_t n)
{
	return n > 65536 ? 2 * mae_threads() : 1;
}

void mae_gelu_forward_deriv(float *out, float *deriv, const float *inp, size_t n)
{
	ew_job J = { .out = out, .out2 = deriv, .a = inp, .n = n, .nt = ew_threads(n) };
	mae_parallel_for(J.nt, gelu_deriv_task, &J);
}

/* ---------------------------------------------------------------------------------------
 * Patch embedding: MAE's Conv2d with kernel = stride = p, on patchified input */

/* wperm[d, q*c + ch] = w[d, ch, q]: the conv weight in the patches' (position, channel) order,
 * q = a*p + b (or (dt*p + a)*p + b for a tubelet) */
static void permute_conv_weight(float *wperm, const float *w, int k, int c, int D)
{
	int P = k * c;
	for (int d = 0; d < D; d++)
		for (int ch = 0; ch < c; ch++)
			for (int q = 0; q < k; q++)
				wperm[(size_t)d * P + (size_t)q * c + ch] = w[(size_t)d * P + (size_t)ch * k + q];
}

void mae_patch_embed_forward(float *out, float *wperm, const float *patches, const float *w,
                         const float *bias, int R, int k, int c, int D)
{
	permute_conv_weight(wperm, w, k, c, D);
	mae_linear_forward(out, patches, wperm, bias, R, k * c, D);
}

void mae_patch_embed_backward(float *dw, float *dbias, float *dwperm, const float *dout,
                          const float *patches, int R, int k, int c, int D)
{
	int P = k * c;
	memset(dwperm, 0, (size_t)D * P * sizeof(float));
	mae_linear_backward(NULL, dwperm, dbias, dout, patches, NULL, R, P, D);
	for (int d = 0; d < D; d++)
		for (int ch = 0; ch < c; ch++)
			for (int q = 0; q < k; q++)
				dw[(size_t)d * P + (size_t)ch * k + q] += dwperm[(size_t)d * P + (size_t)q * c + ch];
}

/* ---------------------------------------------------------------------------------------
 * Sin-cos position embeddings. numpy computes them in float64 and the models cast to float32. */

/* MAE's get_1d_sincos_pos_embed_from_grid: E values for position x, [sin(x w_k) | cos(x w_k)]
 * with w_k = 10000^(-k/(E/2)), k < E/2 */
static void sincos_1d(float *out, int E, double x)
{
	int Q = E / 2;
	for (int k = 0; k < Q; k++) {
		double omega = 1.0 / pow(10000.0, (double)k / Q);
		out[k] = (float)sin(x * omega);
		out[Q + k] = (float)cos(x * omega);
	}
}

void mae_pos_embed_sincos(float *out, int D, int gh, int gw, int cls)
{
	if (cls)
		memset(out, 0, (size_t)D * sizeof(float));
	float *e = out + (cls ? D : 0);
	for (int i = 0; i < gh; i++)
		for (int j = 0; j < gw; j++) {
			float *row = e + ((size_t)i * gw + j) * D;
			sincos_1d(row, D / 2, j);
			sincos_1d(row + D / 2, D / 2, i);
		}
}

void mae_pos_embed_sincos_3d(float *out, int D, int gt, int gh, int gw, int cls)
{
	int Dt = D / 4, Ds = D - Dt;
	if (cls)
		memset(out, 0, (size_t)D * sizeof(float));
	float *e = out + (cls ? D : 0);
	for (int t = 0; t < gt; t++)
		for (int i = 0; i < gh; i++)
			for (int j = 0; j < gw; j++) {
				float *row = e + (((size_t)t * gh + i) * gw + j) * D;
				sincos_1d(row, Dt, t);
				sincos_1d(row + Dt, Ds / 2, j);
				sincos_1d(row + Dt + Ds / 2, Ds / 2, i);
			}
}

void mae_pos_embed_sinusoid(float *out, int D, int n, int cls)
{
	if (cls)
		memset(out, 0, (size_t)D * sizeof(float));
	float *e = out + (cls ? D : 0);
	for (int l = 0; l < n; l++)
		for (int d = 0; d < D; d++) {
			double angle = l / pow(10000.0, 2.0 * (d / 2) / D);
			e[(size_t)l * D + d] = (float)(d % 2 ? cos(angle) : sin(angle));
		}
}

/* ---------------------------------------------------------------------------------------
 * Token plumbing */

void mae_unshuffle_forward(float *out, const float *x, const float *token, const uint8_t *mask,
                       int S, int N, int Nk, int C)
{
	for (int s = 0; s < S; s++) {
		const float *xs = x + (size_t)s * (1 + Nk) * C;
		float *o = out + (size_t)s * (1 + N) * C;
		memcpy(o, xs, (size_t)C * sizeof(float));
		int k = 0;
		for (int l = 0; l < N; l++) {
			const float *src = token;
			if (!mask[(size_t)s * N + l] && k < Nk)
				src = xs + (size_t)(1 + k++) * C;
			memcpy(o + (size_t)(1 + l) * C, src, (size_t)C * sizeof(float));
		}
	}
}

void mae_unshuffle_backward(float *dx, float *dtoken, const float *dout, const uint8_t *mask,
                        int S, int N, int Nk, int C)
{
	for (int s = 0; s < S; s++) {
		float *dxs = dx + (size_t)s * (1 + Nk) * C;
		const float *d = dout + (size_t)s * (1 + N) * C;
		for (int c = 0; c < C; c++)
			dxs[c] += d[c];
		int k = 0;
		for (int l = 0; l < N; l++) {
			float *dst = dtoken;
			if (!mask[(size_t)s * N + l] && k < Nk)
				dst = dxs + (size_t)(1 + k++) * C;
			const float *dl = d + (size_t)(1 + l) * C;
			for (int c = 0; c < C; c++)
				dst[c] += dl[c];
		}
	}
}

void mae_add_pos_forward(float *x, const float *pos, int S, int T, int C)
{
	for (int s = 0; s < S; s++) {
		float *xs = x + (size_t)s * T * C;
		for (size_t i = 0; i < (size_t)T * C; i++)
			xs[i] += pos[i];
	}
}
