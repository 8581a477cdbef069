/* model_stack.c: a stack of pre-norm ViT blocks (timm 0.3.2 Block, drop_path 0) and its final
 * LayerNorm, forward and backward, over the activations of one mae_stack_a.
 *
 *     x = x + proj(attn(LN1(x)));   x = x + fc2(GELU(fc1(LN2(x))));   out = LN(x)
 *
 * Memory: the LayerNorm outputs are not stored; backward recomputes them from the block input
 * and the saved mean/rstd (one cheap pass) instead of keeping two more (S*T, C) per layer.
 * Backward needs only one layer's worth of gradient scratch, reused down the stack. */
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
	size_t need_att = (size_t)L * S * NH * T * T;
	int fits = a->arena && R <= a->cap && (size_t)L * S * NH * T * T <= a->cap_att &&
	           T <= a->cap_T;
	a->S = S, a->T = T;
	if (fits)
		return;
	free(a->arena);
	/* grow with some slack so that a batch a little larger does not reallocate again */
	size_t cap = R, cap_att = need_att;
	size_t ws = attention_scratch_floats(T, C, NH, NB);
	size_t sizes[] = {
		cap * C,                         /* x0 */
		4 * (size_t)L * cap,             /* ln means and rstds */
		(size_t)L * cap * 3 * C,         /* qkv */
		cap_att,                         /* att */
		3 * (size_t)L * cap * C,         /* atty, res1, res2 */
		2 * (size_t)L * cap * H4,        /* fch, fchg */
		cap * C + 2 * cap,               /* out, lnf stats */
		5 * cap * C,                     /* dx, dln, datty, lnbuf, dout */
		cap * 3 * C,                     /* dqkv */
		2 * cap * H4,                    /* dfch, dfchg */
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
	a->att = TAKE(cap_att);
	float *r3 = TAKE(3 * (size_t)L * cap * C);
	a->atty = r3, a->res1 = r3 + L * cap * C, a->res2 = r3 + 2 * L * cap * C;
	float *f2 = TAKE(2 * (size_t)L * cap * H4);
	a->fch = f2, a->fchg = f2 + L * cap * H4;
	float *o = TAKE(cap * C + 2 * cap);
	a->out = o, a->lnf_mean = o + cap * C, a->lnf_rstd = o + cap * C + cap;
	float *d5 = TAKE(5 * cap * C);
	a->dx = d5, a->dln = d5 + cap * C, a->datty = d5 + 2 * cap * C, a->lnbuf = d5 + 3 * cap * C;
	a->dout = d5 + 4 * cap * C;
	a->dqkv = TAKE(cap * 3 * C);
	float *g2 = TAKE(2 * cap * H4);
	a->dfch = g2, a->dfchg = g2 + cap * H4;
	a->att_ws = TAKE(ws);
#undef TAKE
	a->cap = cap, a->cap_att = cap_att, a->cap_T = T;
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
		float *qkv = a->qkv + l * R * 3 * C, *att = a->att + (size_t)l * S * NH * T * T;
		float *atty = a->atty + l * R * C, *res1 = a->res1 + l * R * C, *res2 = a->res2 + l * R * C;
		float *fch = a->fch + l * R * H4, *fchg = a->fchg + l * R * H4;
		layernorm_forward(a->lnbuf, m1, r1, x, w->ln1_w + l * C, w->ln1_b + l * C, (int)R, C, eps);
		linear_forward(qkv, a->lnbuf, w->qkv_w + l * 3 * C * C, w->qkv_b + l * 3 * C, (int)R, C, 3 * C);
		attention_forward(atty, att, a->att_ws, qkv, NB ? w->rpe + l * HS * NB : NULL, a->bucket,
		                  S, T, C, NH, NB);
		linear_forward(res1, atty, w->proj_w + l * C * C, w->proj_b + l * C, (int)R, C, C);
		for (size_t i = 0; i < R * C; i++)
			res1[i] += x[i];
		layernorm_forward(a->lnbuf, m2, r2, res1, w->ln2_w + l * C, w->ln2_b + l * C, (int)R, C, eps);
		linear_forward(fch, a->lnbuf, w->fc1_w + l * H4 * C, w->fc1_b + l * H4, (int)R, C, (int)H4);
		gelu_forward(fchg, fch, R * H4);
		linear_forward(res2, fchg, w->fc2_w + l * C * H4, w->fc2_b + l * C, (int)R, (int)H4, C);
		for (size_t i = 0; i < R * C; i++)
			res2[i] += res1[i];
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
		float *qkv = a->qkv + l * R * 3 * C, *att = a->att + (size_t)l * S * NH * T * T;
		float *atty = a->atty + l * R * C, *res1 = a->res1 + l * R * C;
		float *fch = a->fch + l * R * H4, *fchg = a->fchg + l * R * H4;
		/* MLP branch: dx holds d(res2), which is also the residual part of d(res1) */
		memset(a->dfchg, 0, R * H4 * sizeof(float));
		linear_backward(a->dfchg, g->fc2_w + l * C * H4, g->fc2_b + l * C, dx, fchg,
		                w->fc2_w + l * C * H4, (int)R, (int)H4, C);
		memset(a->dfch, 0, R * H4 * sizeof(float));
		gelu_backward(a->dfch, fch, a->dfchg, R * H4);
		layernorm_recompute(a->lnbuf, res1, m2, r2, w->ln2_w + l * C, w->ln2_b + l * C, (int)R, C);
		memset(a->dln, 0, R * C * sizeof(float));
		linear_backward(a->dln, g->fc1_w + l * H4 * C, g->fc1_b + l * H4, a->dfch, a->lnbuf,
		                w->fc1_w + l * H4 * C, (int)R, C, (int)H4);
		layernorm_backward(dx, g->ln2_w + l * C, g->ln2_b + l * C, a->dln, res1, w->ln2_w + l * C,
		                   m2, r2, (int)R, C);
		/* attention branch: dx now holds d(res1) */
		memset(a->datty, 0, R * C * sizeof(float));
		linear_backward(a->datty, g->proj_w + l * C * C, g->proj_b + l * C, dx, atty,
		                w->proj_w + l * C * C, (int)R, C, C);
		memset(a->dqkv, 0, R * 3 * C * sizeof(float));
		attention_backward(a->dqkv, NB ? g->rpe + l * HS * NB : NULL, a->att_ws, a->datty, qkv, att,
		                   NB ? w->rpe + l * HS * NB : NULL, a->bucket, S, T, C, NH, NB);
		layernorm_recompute(a->lnbuf, xin, m1, r1, w->ln1_w + l * C, w->ln1_b + l * C, (int)R, C);
		memset(a->dln, 0, R * C * sizeof(float));
		linear_backward(a->dln, g->qkv_w + l * 3 * C * C, g->qkv_b + l * 3 * C, a->dqkv, a->lnbuf,
		                w->qkv_w + l * 3 * C * C, (int)R, C, 3 * C);
		layernorm_backward(dx, g->ln1_w + l * C, g->ln1_b + l * C, a->dln, xin, w->ln1_w + l * C,
		                   m1, r1, (int)R, C);
	}
}
