/* kernels_attention.c: multi-head self-attention (timm's Attention core) with LoMaR's optional
 * iRPE term, forward and backward.
 *
 * One task per (sequence, head): the per-head products are small (T x T x HS), which OpenBLAS
 * does not thread, so the pool spreads the tasks over the cores and each task calls
 * single-threaded sgemm on strided views of qkv (no copies). */
#include <math.h>
#include <string.h>
#include <cblas.h>

#include "mae/kernels/kernels.h"
#include "kernels/kernels_gemm.h"
#include "kernels/kernels_math.h"

/* The bf16 setting (mae_set_bf16, read once a call into the job): the six per-head products
 * (q k^T, P V; dO V^T, P^T dO, dS K, dS^T Q) on mae_gemm_bf16, operands rounded to bf16 and
 * sums in fp32, as the linear layers'. The scale 1/sqrt(HS) multiplies the fp32 sums of q k^T,
 * and the fp32 dS before it is rounded for dQ and dK (PyTorch's order: the gradient of the
 * scaled scores is rounded, tests/ref/parity.py). The softmax and its backward, the RPE term
 * (q R and its gradients) and every sum over heads stay fp32. */

/* Memory: the caller decides whether the T x T probabilities are kept between forward and
 * backward (for MAE's decoder at 224 they would be the largest activation of all); if not,
 * backward recomputes them per head from q and k, one extra T x T x HS product and softmax.
 * The cls row is saved apart, for mae-encode's attn. */

/* per thread: P (or dP/dS), dS, the RPE's (T, NB), and the softmax's own scratch */
static size_t scratch_per_thread(int T, int NB)
{
	return 2 * (size_t)T * T + (size_t)T * NB + mae_softmax_scratch(T, T);
}

#define RPE_GROUPS 16   /* see mae_attention_backward */

size_t mae_attention_scratch_floats(int T, int C, int NH, int NB)
{
	return scratch_per_thread(T, NB) * (size_t)mae_threads() + (size_t)RPE_GROUPS * (C / NH) * NB;
}

typedef struct attn_job {
	float *out, *att_cls, *probs, *scratch, *dqkv, *drpe;   /* backward: out = the forward's again */
	const float *dout, *qkv, *rpe;
	const int *bucket;
	int S, T, C, NH, NB;
	int bf16;   /* the products on mae_gemm_bf16 */
} attn_job;

/* OpenBLAS runs a product of at most 100^3 multiply-adds through its small-matrix kernels,
 * which read the operands in place; above that it packs both first. A head's products with
 * K = T and HS columns (P V, P^T dO, dS K, dS^T Q) cross that line at T ~ 180 (MAE's decoder
 * at 224: 197 x 32 x 197), where packing the T x T operand for 32 columns is a third of the
 * time: cut into row blocks under the line, they ran 1.3x (P^T dO) to 1.55x (P V) faster
 * (single thread, 197 tokens). The K = HS products (q k^T, dO v^T) are faster packed. */
#define SMALL_GEMM_MNK 1e6

/* C (M x N) = alpha op(A) B + beta C, row-major, in row blocks of at most SMALL_GEMM_MNK */
static void sgemm_rows(CBLAS_TRANSPOSE ta, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	int pieces = (int)ceil((double)M * N * K / SMALL_GEMM_MNK);
	for (int p = 0; p < pieces; p++) {
		int m0 = (int)((long)M * p / pieces), m1 = (int)((long)M * (p + 1) / pieces);
		const float *a = ta == CblasTrans ? A + m0 : A + (size_t)m0 * lda;
		cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, m1 - m0, N, K, alpha, a, lda, B, ldb, beta,
		            C + (size_t)m0 * ldc, ldc);
	}
}

/* P = softmax(scale q k^T [+ q R gathered by bucket]) of one (sequence, head) into a; qr and
 * sm: the thread's scratch for the RPE term and the softmax */
static void probabilities(float *a, float *qr, float *sm, const float *q, const float *k,
                          const float *rpe, const int *bucket, int T, int C, int HS, int NB, int bf16)
{
	float scale = 1.0f / sqrtf((float)HS);
	if (bf16) {
		mae_gemm_bf16(T, T, HS, q, 3 * C, 1, k, 1, 3 * C, a, T, 0, NULL);
		for (size_t i = 0; i < (size_t)T * T; i++)
			a[i] *= scale;
	} else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS,
		            scale, q, 3 * C, k, 3 * C, 0.0f, a, T);
	if (rpe) {
		/* contextual RPE on keys: q_i . R[:, bucket(i,j)], via the small product q R */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, NB, HS,
		            1.0f, q, 3 * C, rpe, NB, 0.0f, qr, NB);
		for (int i = 0; i < T; i++)
			for (int j = 0; j < T; j++)
				a[(size_t)i * T + j] += qr[(size_t)i * NB + bucket[(size_t)i * T + j]];
	}
	mae_softmax_rows(a, T, T, sm);
}

/* One head's output O = P V into its columns of out (S, T, C); the forward and the backward's
 * repeat of it (mae_attention_backward's out) both call this, so the two agree bit for bit */
static void head_output(float *out, const float *a, const float *v, int s, int h, int T, int C, int HS, int bf16)
{
	float *o = out + (size_t)s * T * C + h * HS;
	if (bf16)
		mae_gemm_bf16(T, HS, T, a, T, 1, v, 3 * C, 1, o, C, 0, NULL);
	else
		sgemm_rows(CblasNoTrans, T, HS, T, 1.0f, a, T, v, 3 * C, 0.0f, o, C);
}

static void attn_forward_task(void *ctx, int task, int tid)
{
	attn_job *J = ctx;
	int T = J->T, C = J->C, NH = J->NH, NB = J->NB, HS = C / NH;
	int s = task / NH, h = task % NH;
	const float *q = J->qkv + (size_t)s * T * 3 * C + h * HS;
	float *ws = J->scratch + tid * scratch_per_thread(T, NB);
	float *a = J->probs ? J->probs + (size_t)task * T * T : ws, *qr = ws + 2 * (size_t)T * T;
	probabilities(a, qr, qr + (size_t)T * NB, q, q + C, J->rpe, J->bucket, T, C, HS, NB, J->bf16);
	if (J->att_cls)
		memcpy(J->att_cls + ((size_t)s * NH + h) * T, a, (size_t)T * sizeof(float));
	head_output(J->out, a, q + 2 * C, s, h, T, C, HS, J->bf16);
}

void mae_attention_forward(float *out, float *att_cls, float *probs, float *scratch, const float *qkv,
                       const float *rpe, const int *bucket, int S, int T, int C, int NH, int NB)
{
	attn_job J = { .out = out, .att_cls = att_cls, .probs = probs, .scratch = scratch, .qkv = qkv, .rpe = rpe,
	               .bucket = bucket, .S = S, .T = T, .C = C, .NH = NH, .NB = NB, .bf16 = mae_get_bf16() };
	mae_parallel_for(S * NH, attn_forward_task, &J);
}

/* One (sequence, head); drpe: where its RPE gradient accumulates */
static void attn_backward_one(attn_job *J, int task, int tid, float *drpe)
{
	int T = J->T, C = J->C, NH = J->NH, NB = J->NB, HS = C / NH;
	int s = task / NH, h = task % NH;
	size_t qoff = (size_t)s * T * 3 * C + h * HS;
	const float *q = J->qkv + qoff, *k = q + C, *v = q + 2 * C;
	float *dq = J->dqkv + qoff, *dk = dq + C, *dv = dq + 2 * C;
	const float *dO = J->dout + (size_t)s * T * C + h * HS;
	float *ws = J->scratch + tid * scratch_per_thread(T, NB);
	float *a = ws, *dS = ws + (size_t)T * T;             /* (T, T) each */
	float *dqr = ws + 2 * (size_t)T * T;                 /* (T, NB) */
	float scale = 1.0f / sqrtf((float)HS);

	if (J->probs)
		a = J->probs + (size_t)task * T * T;   /* kept by the forward */
	else
		probabilities(a, dqr, dqr + (size_t)T * NB, q, k, J->rpe, J->bucket, T, C, HS, NB, J->bf16);
	if (J->out)   /* the forward's output again, from the same P and V */
		head_output(J->out, a, v, s, h, T, C, HS, J->bf16);
	/* dP = dO V^T ; dV = P^T dO */
	if (J->bf16) {
		mae_gemm_bf16(T, T, HS, dO, C, 1, v, 1, 3 * C, dS, T, 0, NULL);
		mae_gemm_bf16(T, HS, T, a, 1, T, dO, C, 1, dv, 3 * C, 0, NULL);
	} else {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS,
		            1.0f, dO, C, v, 3 * C, 0.0f, dS, T);
		sgemm_rows(CblasTrans, T, HS, T, 1.0f, a, T, dO, C, 0.0f, dv, 3 * C);
	}
	/* softmax backward: dS = P * (dP - rowsum(dP * P)); in bf16, times the scale here (after
	 * the RPE's scatter, which takes dS unscaled), so that the rounded operand is scale dS */
	float sc = J->bf16 && !J->rpe ? scale : 1.0f;   /* x * 1 is x: fp32's bits unchanged */
	for (int i = 0; i < T; i++) {
		float *d = dS + (size_t)i * T;
		const float *p = a + (size_t)i * T;
		float dot = mae_vdot(d, p, T);
		for (int j = 0; j < T; j++)
			d[j] = p[j] * (d[j] - dot) * sc;
	}
	if (J->rpe) {
		/* the RPE term q_i . R[:, b]: scatter dS into buckets (dQ += dQR R^T and dR += Q^T dQR
		 * below, once dQ is written) */
		memset(dqr, 0, (size_t)T * NB * sizeof(float));
		for (int i = 0; i < T; i++)
			for (int j = 0; j < T; j++)
				dqr[(size_t)i * NB + J->bucket[(size_t)i * T + j]] += dS[(size_t)i * T + j];
		if (J->bf16)
			for (size_t i = 0; i < (size_t)T * T; i++)
				dS[i] *= scale;
	}
	/* dQ = scale dS K ; dK = scale dS^T Q (this head's slice of dqkv is written, not added to) */
	if (J->bf16) {
		mae_gemm_bf16(T, HS, T, dS, T, 1, k, 3 * C, 1, dq, 3 * C, 0, NULL);
		mae_gemm_bf16(T, HS, T, dS, 1, T, q, 3 * C, 1, dk, 3 * C, 0, NULL);
	} else {
		sgemm_rows(CblasNoTrans, T, HS, T, scale, dS, T, k, 3 * C, 0.0f, dq, 3 * C);
		sgemm_rows(CblasTrans, T, HS, T, scale, dS, T, q, 3 * C, 0.0f, dk, 3 * C);
	}
	if (J->rpe) {
		/* dR into the group's own partial sum (summed by the caller) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, HS, NB,
		            1.0f, dqr, NB, J->rpe, NB, 1.0f, dq, 3 * C);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, HS, NB, T,
		            1.0f, q, 3 * C, dqr, NB, 1.0f, drpe, NB);
	}
}

static void attn_backward_task(void *ctx, int task, int tid)
{
	attn_job *J = ctx;
	attn_backward_one(J, task, tid, NULL);
}

/* With RPE, the (sequence, head) tasks are cut into RPE_GROUPS fixed groups, each summing its
 * own dR in task order; the groups are then added in order. Whichever thread runs a group, and
 * however many threads there are, dR comes out bit for bit the same (a sum per thread would
 * depend on which tasks each thread happened to take). */
static void attn_backward_group(void *ctx, int g, int tid)
{
	attn_job *J = ctx;
	int n = J->S * J->NH, t0 = (int)((long)n * g / RPE_GROUPS), t1 = (int)((long)n * (g + 1) / RPE_GROUPS);
	float *part = J->drpe + (size_t)g * (J->C / J->NH) * J->NB;
	for (int t = t0; t < t1; t++)
		attn_backward_one(J, t, tid, part);
}

void mae_attention_backward(float *dqkv, float *out, float *drpe, float *scratch, const float *dout,
                        const float *qkv, const float *probs, const float *rpe, const int *bucket,
                        int S, int T, int C, int NH, int NB)
{
	attn_job J = { .dqkv = dqkv, .out = out, .scratch = scratch, .dout = dout, .qkv = qkv,
	               .probs = (float *)probs, .rpe = rpe, .bucket = bucket, .S = S, .T = T, .C = C,
	               .NH = NH, .NB = NB, .bf16 = mae_get_bf16() };
	if (!rpe) {
		mae_parallel_for(S * NH, attn_backward_task, &J);
		return;
	}
	size_t per = (size_t)(C / NH) * NB;
	J.drpe = scratch + (size_t)mae_threads() * scratch_per_thread(T, NB);
	memset(J.drpe, 0, RPE_GROUPS * per * sizeof(float));
	mae_parallel_for(RPE_GROUPS, attn_backward_group, &J);
	for (int g = 0; g < RPE_GROUPS; g++)
		for (size_t i = 0; i < per; i++)
			drpe[i] += J.drpe[(size_t)g * per + i];
}

/* ---------------------------------------------------------------------------------------
 * Naive references: the same math as plain loops over one (sequence, head) at a time */

/* ---------------------------------------------------------------------------------------
 * iRPE buckets (Wu et al. 2021, as configured by LoMaR: ratio 1.9, product, skip 1) */

int mae_irpe_piecewise_index(int d)
{
	const float alpha = 1.9f, beta = 3.8f, gamma = 15.2f;
	int ad = d < 0 ? -d : d;
	if ((float)ad <= alpha)
		return d;
	/* torch: sign * round(alpha + log(|d|/alpha)/log(gamma/alpha)*(beta-alpha)).clip(max=beta),
	 * then a cast to long, which truncates the clipped 3.8 to 3 */
	float y = alpha + logf((float)ad / alpha) / logf(gamma / alpha) * (beta - alpha);
	y = nearbyintf(y);
	if (y > beta)
		y = beta;
	int v = (int)y;
	return d < 0 ? -v : v;
}

int mae_irpe_buckets(int *bucket, int K, int skip)
{
	const int beta_int = 3, S = 2 * beta_int + 1, NB = S * S;
	int T = skip + K * K;
	for (int i = 0; i < T; i++)
		for (int j = 0; j < T; j++) {
			int b;
			if (i < skip || j < skip) {
				b = NB;
			} else {
				int pi = i - skip, pj = j - skip;
				int dr = pi / K - pj / K, dc = pi % K - pj % K;
				b = (mae_irpe_piecewise_index(dr) + beta_int) * S + mae_irpe_piecewise_index(dc) + beta_int;
			}
			bucket[(size_t)i * T + j] = b;
		}
	return NB + (skip ? 1 : 0);
}
