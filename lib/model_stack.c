/* model_stack.c: a stack of pre-norm ViT blocks (timm 0.3.2 Block, drop_path 0) and its final
 * LayerNorm, forward and backward, over the activations of one mae_stack_a.
 *
 *     x = x + proj(attn(LN1(x)));   x = x + fc2(GELU(fc1(LN2(x))));   out = LN(x)
 *
 * Memory (see mae_stack_a): LayerNorm outputs, GELU outputs and attention probabilities are
 * recomputed in backward rather than stored, which about halves the activations for a few
 * percent more arithmetic. Backward needs one layer's worth of scratch, reused down the stack. */
#include <stdlib.h>
#include <string.h>

#include "mae/kernels.h"
#include "mae/model.h"
#include "mae/util.h"
#include "model_internal.h"

static size_t al16(size_t n) { return (n + 15) & ~(size_t)15; }

void stack_ensure(mae_stack_a *a, int S, int T, int C, int NH, int L, int mlp, int NB, int K)
{
	size_t R = (size_t)S * T, H4 = (size_t)C * mlp;
	/* per-token buffers need S*T <= cap; the attention scratch (2 T^2 per thread) T <= cap_T */
	int fits = a->arena && R <= a->cap && T <= a->cap_T;
	a->S = S, a->T = T;
	if (fits)
		return;
	free(a->arena);
	size_t cap = R;
	size_t ws = attention_scratch_floats(T, C, NH, NB);
	size_t bufw = H4 > 3 * (size_t)C ? H4 : 3 * (size_t)C;   /* bufB also holds dqkv */
	size_t sizes[] = {
		cap * C,                         /* x0 */
		4 * (size_t)L * cap,             /* ln means and rstds */
		(size_t)L * cap * 3 * C,         /* qkv */
		(size_t)L * cap * NH,            /* att_cls: S*NH*T = cap*NH per layer */
		3 * (size_t)L * cap * C,         /* atty, res1, res2 */
		(size_t)L * cap * H4,            /* fch */
		cap * C + 2 * cap,               /* out, lnf stats */
		2 * cap * bufw,                  /* bufA, bufB */
		4 * cap * C,                     /* dx, dln, lnbuf, dout */
		ws,
	};
	size_t total = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		total += al16(sizes[i]) + 16;
	float *p = a->arena = mae_alloc_aligned(total * sizeof(float));
#define TAKE(n) (p += al16(n) + 16, p - al16(n) - 16)
	a->x0 = TAKE(cap * C);
	float *st = TAKE(4 * (size_t)L * cap);
	a->ln1_mean = st, a->ln1_rstd = st + L * cap, a->ln2_mean = st + 2 * L * cap, a->ln2_rstd = st + 3 * L * cap;
	a->qkv = TAKE((size_t)L * cap * 3 * C);
	a->att_cls = TAKE((size_t)L * cap * NH);
	float *r3 = TAKE(3 * (size_t)L * cap * C);
	a->atty = r3, a->res1 = r3 + L * cap * C, a->res2 = r3 + 2 * L * cap * C;
	a->fch = TAKE((size_t)L * cap * H4);
	float *o = TAKE(cap * C + 2 * cap);
	a->out = o, a->lnf_mean = o + cap * C, a->lnf_rstd = o + cap * C + cap;
	float *b2 = TAKE(2 * cap * bufw);
	a->bufA = b2, a->bufB = b2 + cap * bufw;
	float *d4 = TAKE(4 * cap * C);
	a->dx = d4, a->dln = d4 + cap * C, a->lnbuf = d4 + 2 * cap * C, a->dout = d4 + 3 * cap * C;
	a->att_ws = TAKE(ws);
#undef TAKE
	a->cap = cap, a->cap_T = T;
	if (NB) {
		free(a->bucket);
		a->bucket = mae_malloc((size_t)T * T * sizeof(int));
		irpe_buckets(a->bucket, K, 1);
	}
}

void stack_free(mae_stack_a *a)
{
	free(a->arena);
	free(a->bucket);
	memset(a, 0, sizeof *a);
}

/* per-layer views */
#define LAYER_VIEWS                                                                  \
	size_t R = (size_t)S * T, H4 = (size_t)C * mlp;                                   \
	int HS = C / NH;                                                                  \
	(void)HS;

void stack_forward(mae_stack_a *a, const mae_stack_w *w, int C, int NH, int L, int mlp, int NB,
                   float eps)
{
	int S = a->S, T = a->T;
	LAYER_VIEWS
	const float *x = a->x0;
	for (int l = 0; l < L; l++) {
		float *m1 = a->ln1_mean + l * R, *r1 = a->ln1_rstd + l * R;
		float *m2 = a->ln2_mean + l * R, *r2 = a->ln2_rstd + l * R;
		float *qkv = a->qkv + l * R * 3 * C, *cls = a->att_cls + l * R * NH;
		float *atty = a->atty + l * R * C, *res1 = a->res1 + l * R * C, *res2 = a->res2 + l * R * C;
		float *fch = a->fch + l * R * H4;
		layernorm_forward(a->lnbuf, m1, r1, x, w->ln1_w + l * C, w->ln1_b + l * C, (int)R, C, eps);
		linear_forward(qkv, a->lnbuf, w->qkv_w + l * 3 * C * C, w->qkv_b + l * 3 * C, (int)R, C, 3 * C);
		attention_forward(atty, cls, a->att_ws, qkv, NB ? w->rpe + l * HS * NB : NULL, a->bucket,
		                  S, T, C, NH, NB);
		linear_forward(a->bufA, atty, w->proj_w + l * C * C, w->proj_b + l * C, (int)R, C, C);
		residual_forward(res1, x, a->bufA, R * C);
		layernorm_forward(a->lnbuf, m2, r2, res1, w->ln2_w + l * C, w->ln2_b + l * C, (int)R, C, eps);
		linear_forward(fch, a->lnbuf, w->fc1_w + l * H4 * C, w->fc1_b + l * H4, (int)R, C, (int)H4);
		gelu_forward(a->bufA, fch, R * H4);
		linear_forward(a->bufB, a->bufA, w->fc2_w + l * C * H4, w->fc2_b + l * C, (int)R, (int)H4, C);
		residual_forward(res2, res1, a->bufB, R * C);
		x = res2;
	}
	layernorm_forward(a->out, a->lnf_mean, a->lnf_rstd, x, w->norm_w, w->norm_b, (int)R, C, eps);
}

void stack_backward(mae_stack_a *a, const mae_stack_w *w, mae_stack_w *g, const float *dout,
                    int C, int NH, int L, int mlp, int NB)
{
	int S = a->S, T = a->T;
	LAYER_VIEWS
	const float *xlast = L ? a->res2 + (size_t)(L - 1) * R * C : a->x0;
	float *dx = a->dx;
	memset(dx, 0, R * C * sizeof(float));
	layernorm_backward(dx, g->norm_w, g->norm_b, dout, xlast, w->norm_w, a->lnf_mean, a->lnf_rstd,
	                   (int)R, C);
	for (int l = L - 1; l >= 0; l--) {
		const float *xin = l ? a->res2 + (size_t)(l - 1) * R * C : a->x0;
		float *m1 = a->ln1_mean + l * R, *r1 = a->ln1_rstd + l * R;
		float *m2 = a->ln2_mean + l * R, *r2 = a->ln2_rstd + l * R;
		float *qkv = a->qkv + l * R * 3 * C;
		float *atty = a->atty + l * R * C, *res1 = a->res1 + l * R * C;
		float *fch = a->fch + l * R * H4;
		/* MLP branch: dx holds d(res2), which is also the residual part of d(res1).
		 * bufA = GELU(fch) again; bufB = its gradient, then (in place) fc1's output gradient */
		gelu_forward(a->bufA, fch, R * H4);
		memset(a->bufB, 0, R * H4 * sizeof(float));
		linear_backward(a->bufB, g->fc2_w + l * C * H4, g->fc2_b + l * C, dx, a->bufA,
		                w->fc2_w + l * C * H4, (int)R, (int)H4, C);
		gelu_backward_inplace(a->bufB, fch, R * H4);
		layernorm_recompute(a->lnbuf, res1, m2, r2, w->ln2_w + l * C, w->ln2_b + l * C, (int)R, C);
		memset(a->dln, 0, R * C * sizeof(float));
		linear_backward(a->dln, g->fc1_w + l * H4 * C, g->fc1_b + l * H4, a->bufB, a->lnbuf,
		                w->fc1_w + l * H4 * C, (int)R, C, (int)H4);
		layernorm_backward(dx, g->ln2_w + l * C, g->ln2_b + l * C, a->dln, res1, w->ln2_w + l * C,
		                   m2, r2, (int)R, C);
		/* attention branch: dx now holds d(res1); bufA = d(atty), bufB = d(qkv) */
		float *datty = a->bufA, *dqkv = a->bufB;
		memset(datty, 0, R * C * sizeof(float));
		linear_backward(datty, g->proj_w + l * C * C, g->proj_b + l * C, dx, atty,
		                w->proj_w + l * C * C, (int)R, C, C);
		memset(dqkv, 0, R * 3 * C * sizeof(float));
		attention_backward(dqkv, NB ? g->rpe + l * HS * NB : NULL, a->att_ws, datty, qkv,
		                   NB ? w->rpe + l * HS * NB : NULL, a->bucket, S, T, C, NH, NB);
		layernorm_recompute(a->lnbuf, xin, m1, r1, w->ln1_w + l * C, w->ln1_b + l * C, (int)R, C);
		memset(a->dln, 0, R * C * sizeof(float));
		linear_backward(a->dln, g->qkv_w + l * 3 * C * C, g->qkv_b + l * 3 * C, dqkv, a->lnbuf,
		                w->qkv_w + l * 3 * C * C, (int)R, C, 3 * C);
		layernorm_backward(dx, g->ln1_w + l * C, g->ln1_b + l * C, a->dln, xin, w->ln1_w + l * C,
		                   m1, r1, (int)R, C);
	}
}
