/* model_stack.c: a stack of pre-norm ViT blocks (timm 0.3.2 Block, drop_path 0) and its final
 * LayerNorm, forward and backward, over the activations of one mae_stack_a.
 *
 *     x = x + proj(attn(LN1(x)));   x = x + fc2(GELU(fc1(LN2(x))));   out = LN(x)
 *
 * Memory. Per layer only qkv (3C), the post-attention residual (C), the fc1 output (4C) and the
 * block output (C) are kept, 9 C floats a token; LayerNorm outputs, the attention output and,
 * unless mae_model.attn_keep_mb and gelu_keep_mb allow keeping them, the attention
 * probabilities (T floats a token and head: small for short sequences, the largest activation
 * of all for MAE's decoder at 224) and the GELU outputs are recomputed in backward.
 * Of the attention output and the residual after proj, both C floats a token, the residual is
 * the one kept: the backward needs both (proj's weight gradient reads the attention output,
 * LN2's backward the residual), and the attention output comes back from P V, T x C
 * multiply-adds a token at the cost of the probabilities the attention backward has anyway,
 * where the residual took proj again, C x C (T = 13 against C = 192 in tiny-28's encoder;
 * 197 against 512 in MAE's decoder at 224). Same values: the same products on the same inputs.
 * Every block is independent across sequences except for the weight gradients, which
 * accumulate, so each layer runs over chunks of sequences (about mae_model.chunk_rows tokens
 * each) and all scratch is chunk-sized: the working set stays small and the GEMMs stay large
 * enough for OpenBLAS. */
#include <stdlib.h>
#include <string.h>

#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/util/util.h"
#include "model/model_internal.h"

static size_t al16(size_t n) { return (n + 15) & ~(size_t)15; }

static int chunk_seqs(int S, int T, int rows)
{
	int cs = (rows + T - 1) / T;
	return cs < 1 ? 1 : cs > S ? S : cs;
}

void mae_stack_ensure(mae_stack_a *a, int S, int T, int C, int NH, int L, int mlp, int NB, int K,
                  int gelu_keep_mb, int attn_keep_mb, int chunk_rows)
{
	a->chunk_rows = chunk_rows > 0 ? chunk_rows : STACK_CHUNK_ROWS;
	size_t R = (size_t)S * T, H4 = (size_t)C * mlp;
	int keep = (double)L * R * H4 * sizeof(float) <= gelu_keep_mb * 1048576.0;
	size_t nprobs = (size_t)L * S * NH * T * T;
	int keep_p = (double)nprobs * sizeof(float) <= attn_keep_mb * 1048576.0;
	size_t crow = (size_t)chunk_seqs(S, T, a->chunk_rows) * T;      /* rows of the largest chunk */
	/* per-token buffers need S*T <= cap; chunk scratch crow <= cap_chunk; attention scratch
	 * (2 T^2 per thread) T <= cap_T */
	int nth = mae_threads();
	int fits = a->arena && R <= a->cap && crow <= a->cap_chunk && T <= a->cap_T && nth <= a->cap_threads &&
	           keep == (a->fchg != NULL) && keep_p == (a->probs != NULL) &&
	           (!keep_p || nprobs <= a->cap_probs);
	a->S = S, a->T = T;
	if (fits)
		return;
	free(a->arena);
	size_t cap = R;
	size_t ws = mae_attention_scratch_floats(T, C, NH, NB);
	size_t bufw = H4 > 3 * (size_t)C ? H4 : 3 * (size_t)C;   /* bufB also holds dqkv */
	size_t sizes[] = {
		cap * C,                         /* x0 */
		4 * (size_t)L * cap,             /* ln means and rstds */
		(size_t)L * cap * 3 * C,         /* qkv */
		(size_t)L * cap * NH,            /* att_cls: S*NH*T = cap*NH per layer */
		2 * (size_t)L * cap * C,         /* res1, res2 */
		(size_t)L * cap * H4,            /* fch */
		keep ? (size_t)L * cap * H4 : 0, /* fchg */
		cap * C + 2 * cap,               /* out, lnf stats */
		2 * cap * C,                     /* dx, dout */
		2 * crow * bufw,                 /* bufA, bufB */
		keep ? 0 : crow * H4,            /* bufC */
		4 * crow * C,                    /* atty, dln, lnbuf, dres */
		(size_t)nth * al16(2 * (size_t)C),  /* ln_part */
		ws,
		keep_p ? nprobs : 0,             /* attention probabilities */
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
	float *r2 = TAKE(2 * (size_t)L * cap * C);
	a->res1 = r2, a->res2 = r2 + L * cap * C;
	a->fch = TAKE((size_t)L * cap * H4);
	a->fchg = TAKE(keep ? (size_t)L * cap * H4 : 0);
	if (!keep)
		a->fchg = NULL;
	float *o = TAKE(cap * C + 2 * cap);
	a->out = o, a->lnf_mean = o + cap * C, a->lnf_rstd = o + cap * C + cap;
	float *d2 = TAKE(2 * cap * C);
	a->dx = d2, a->dout = d2 + cap * C;
	float *b2 = TAKE(2 * crow * bufw);
	a->bufA = b2, a->bufB = b2 + crow * bufw;
	a->bufC = TAKE(keep ? 0 : crow * H4);
	float *c4 = TAKE(4 * crow * C);
	a->atty = c4, a->dln = c4 + crow * C, a->lnbuf = c4 + 2 * crow * C, a->dres = c4 + 3 * crow * C;
	a->ln_part = TAKE((size_t)nth * al16(2 * (size_t)C));
	a->att_ws = TAKE(ws);
	a->probs = keep_p ? TAKE(nprobs) : NULL;
#undef TAKE
	a->cap = cap, a->cap_chunk = crow, a->cap_T = T, a->cap_probs = keep_p ? nprobs : 0;
	a->cap_threads = nth;
	if (NB) {
		free(a->bucket);
		a->bucket = mae_malloc((size_t)T * T * sizeof(int));
		mae_irpe_buckets(a->bucket, K, 1);
	}
}

void mae_stack_free(mae_stack_a *a)
{
	free(a->arena);
	free(a->bucket);
	memset(a, 0, sizeof *a);
}

/* One layer's tensors, offset to the sequences [s0, s0 + n), and the chunk scratch at their
 * rows (c0: the row of s0 in its chunk). */
typedef struct view {
	int n, rows;                       /* sequences, tokens */
	const float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fc1w, *fc1b, *fc2w,
	            *fc2b, *rpe;
	float *gln1w, *gln1b, *gqkvw, *gqkvb, *gprojw, *gprojb, *gln2w, *gln2b, *gfc1w, *gfc1b,
	      *gfc2w, *gfc2b, *grpe;
	const float *xin;                  /* (rows, C) block input */
	float *m1, *r1, *m2, *r2;          /* (rows) LayerNorm statistics */
	float *qkv, *cls, *probs, *res1, *fch, *fchg, *res2;
	float *ln, *atty, *dln, *dres;     /* (rows, C) chunk scratch: LayerNorm output, attention
	                                    * output, d(LayerNorm output), d(res1) */
} view;

static view layer_view(mae_stack_a *a, const mae_stack_w *w, mae_stack_w *g, int l, int s0, int n,
                       size_t c0, int C, int NH, int mlp, int NB)
{
	size_t R = (size_t)a->S * a->T, H4 = (size_t)C * mlp, T = (size_t)a->T, r0 = (size_t)s0 * T;
	size_t HS = (size_t)C / NH;
	view v = { .n = n, .rows = (int)(n * T) };
	v.ln1w = w->ln1_w + l * C, v.ln1b = w->ln1_b + l * C;
	v.qkvw = w->qkv_w + (size_t)l * 3 * C * C, v.qkvb = w->qkv_b + (size_t)l * 3 * C;
	v.projw = w->proj_w + (size_t)l * C * C, v.projb = w->proj_b + (size_t)l * C;
	v.ln2w = w->ln2_w + l * C, v.ln2b = w->ln2_b + l * C;
	v.fc1w = w->fc1_w + (size_t)l * H4 * C, v.fc1b = w->fc1_b + (size_t)l * H4;
	v.fc2w = w->fc2_w + (size_t)l * C * H4, v.fc2b = w->fc2_b + (size_t)l * C;
	v.rpe = NB ? w->rpe + (size_t)l * HS * NB : NULL;
	if (g) {
		v.gln1w = g->ln1_w + l * C, v.gln1b = g->ln1_b + l * C;
		v.gqkvw = g->qkv_w + (size_t)l * 3 * C * C, v.gqkvb = g->qkv_b + (size_t)l * 3 * C;
		v.gprojw = g->proj_w + (size_t)l * C * C, v.gprojb = g->proj_b + (size_t)l * C;
		v.gln2w = g->ln2_w + l * C, v.gln2b = g->ln2_b + l * C;
		v.gfc1w = g->fc1_w + (size_t)l * H4 * C, v.gfc1b = g->fc1_b + (size_t)l * H4;
		v.gfc2w = g->fc2_w + (size_t)l * C * H4, v.gfc2b = g->fc2_b + (size_t)l * C;
		v.grpe = NB ? g->rpe + (size_t)l * HS * NB : NULL;
	}
	v.xin = (l ? a->res2 + (size_t)(l - 1) * R * C : a->x0) + r0 * C;
	v.m1 = a->ln1_mean + l * R + r0, v.r1 = a->ln1_rstd + l * R + r0;
	v.m2 = a->ln2_mean + l * R + r0, v.r2 = a->ln2_rstd + l * R + r0;
	v.qkv = a->qkv + (l * R + r0) * 3 * C;
	v.cls = a->att_cls + (l * R + r0) * NH;
	v.probs = a->probs ? a->probs + ((size_t)l * a->S + s0) * NH * T * T : NULL;
	v.res1 = a->res1 + (l * R + r0) * C;
	v.fch = a->fch + (l * R + r0) * H4;
	v.fchg = a->fchg ? a->fchg + (l * R + r0) * H4 : a->bufA + c0 * H4;
	v.res2 = a->res2 + (l * R + r0) * C;
	v.ln = a->lnbuf + c0 * C, v.atty = a->atty + c0 * C, v.dln = a->dln + c0 * C;
	v.dres = a->dres + c0 * C;
	return v;
}

/* Run run(job, share, s, n) on the pool for shares of the sequences [s0, s0 + n), one share a
 * thread: each thread then takes its own sequences through a whole run of kernels, which
 * nested in its task make one product each (mae_in_task), with no barrier between them.
 * Returns the number of shares; share i always covers the same sequences (whichever thread
 * runs it), so sums kept per share and added in share order are deterministic. */
typedef struct seq_split {
	void (*run)(const void *job, int share, int s, int n);
	const void *job;
	int s0, n, nt;
} seq_split;

static void seq_task(void *ctx, int i, int tid)
{
	(void)tid;
	const seq_split *p = ctx;
	int s = p->s0 + (int)((long)p->n * i / p->nt), e = p->s0 + (int)((long)p->n * (i + 1) / p->nt);
	if (e > s)
		p->run(p->job, i, s, e - s);
}

static int over_sequences(void (*run)(const void *, int, int, int), const void *job, int s0, int n)
{
	seq_split p = { .run = run, .job = job, .s0 = s0, .n = n };
	p.nt = n < mae_threads() ? n : mae_threads();
	mae_parallel_for(p.nt, seq_task, &p);
	return p.nt;
}

/* The forward, sequences [s, s + n) of the chunk that starts at sequence s0, all L layers: each
 * layer is row-local (attention within a sequence), so a thread can take its own sequences
 * through all of them. */
typedef struct fwd_job {
	mae_stack_a *a;
	const mae_stack_w *w;
	int s0, C, NH, L, mlp, NB;
	float eps;
} fwd_job;

static void chunk_forward(const void *job, int share, int s, int n)
{
	(void)share;
	const fwd_job *J = job;
	mae_stack_a *a = J->a;
	int T = a->T, C = J->C, H4 = C * J->mlp, R = n * T;
	for (int l = 0; l < J->L; l++) {
		view v = layer_view(a, J->w, NULL, l, s, n, (size_t)(s - J->s0) * T, C, J->NH, J->mlp, J->NB);
		mae_layernorm_forward(v.ln, v.m1, v.r1, v.xin, v.ln1w, v.ln1b, R, C, J->eps);
		mae_linear_forward(v.qkv, v.ln, v.qkvw, v.qkvb, R, C, 3 * C);
		mae_attention_forward(v.atty, v.cls, v.probs, a->att_ws, v.qkv, v.rpe, a->bucket, n, T, C, J->NH, J->NB);
		mae_linear_forward_residual(v.res1, v.atty, v.projw, v.projb, v.xin, R, C, C);
		mae_layernorm_forward(v.ln, v.m2, v.r2, v.res1, v.ln2w, v.ln2b, R, C, J->eps);
		mae_linear_forward_gelu(v.fch, v.fchg, v.ln, v.fc1w, v.fc1b, R, C, H4);
		mae_linear_forward_residual(v.res2, v.fchg, v.fc2w, v.fc2b, v.res1, R, H4, C);
	}
}

/* Chunk by chunk, each chunk's sequences split over the pool, each thread running its share
 * through every layer: one barrier a chunk instead of one per kernel. On this 2-core VM
 * every pause of either core (another guest's turn) held the other at the next barrier: with
 * a job per kernel (695 a tiny-28 step) the main thread spent 2-9% of the step waiting for
 * the worker at the end of jobs and the worker 8-11% waiting for the next. The results are
 * those of the per-kernel order, bit for bit (rows are independent). */
/* The weights of layers [l, l + nl) packed once for all the chunks (bf16 only,
 * mae_linear_prepack), for the forward (W^T) or the input gradients (W): as many of them as
 * fit in PREPACK_BYTES (all of ViT-Tiny's 224 decoder take 50 MB); the layers after those pack
 * their weights at each product, as without. */
enum { PREPACK_LAYERS = 64 };
#define PREPACK_BYTES (128.0 * 1048576)

static void prepack_layers(const mae_stack_w *w, int C, int mlp, int l, int nl, int dinp)
{
	const float *ws[4 * PREPACK_LAYERS];
	int cs[4 * PREPACK_LAYERS], ocs[4 * PREPACK_LAYERS], n = 0, H4 = C * mlp;
	double layer_bytes = 2.0 * (3.0 * C * C + (double)C * C + 2.0 * H4 * C);   /* bf16 */
	for (int e = l; e < l + nl && e < l + PREPACK_LAYERS && (e - l + 1) * layer_bytes <= PREPACK_BYTES; e++) {
		const float *m[4] = { w->qkv_w + (size_t)e * 3 * C * C, w->proj_w + (size_t)e * C * C,
		                      w->fc1_w + (size_t)e * H4 * C, w->fc2_w + (size_t)e * C * H4 };
		int in[4] = { C, C, C, H4 }, out[4] = { 3 * C, C, H4, C };
		for (int j = 0; j < 4; j++)
			ws[n] = m[j], cs[n] = in[j], ocs[n] = out[j], n++;
	}
	mae_linear_prepack(ws, cs, ocs, n, dinp);
}

void mae_stack_forward(mae_stack_a *a, const mae_stack_w *w, int C, int NH, int L, int mlp, int NB,
                   float eps)
{
	int S = a->S, T = a->T, cs = chunk_seqs(S, T, a->chunk_rows);
	prepack_layers(w, C, mlp, 0, L, 0);
	for (int s0 = 0; s0 < S; s0 += cs) {
		fwd_job J = { .a = a, .w = w, .s0 = s0, .C = C, .NH = NH, .L = L, .mlp = mlp, .NB = NB,
		              .eps = eps };
		over_sequences(chunk_forward, &J, s0, s0 + cs <= S ? cs : S - s0);
	}
	mae_linear_prepack_clear();
	size_t R = (size_t)S * T;
	const float *x = L ? a->res2 + (size_t)(L - 1) * R * C : a->x0;
	mae_layernorm_forward(a->out, a->lnf_mean, a->lnf_rstd, x, w->norm_w, w->norm_b, (int)R, C, eps);
}

/* The backward's row-local parts, sequences [s, s + n) of the chunk at s0 in layer l, on one
 * thread, each ending in its LayerNorm's backward while that thread's rows of it are still in
 * its cache (run as a whole-chunk job after the weight gradients, it read them back from
 * memory: 4.5% of a tiny-28 step). The LayerNorm dw, db sums go per share into a->ln_part,
 * added up in share order afterwards (ln_part_add); the weight gradients of the linear layers
 * (sums over all the chunk's rows) are whole-chunk jobs between the parts. */
enum { BWD_MLP, BWD_ATTN, BWD_PROJ, BWD_QKV };
typedef struct bwd_job {
	mae_stack_a *a;
	const mae_stack_w *w;
	mae_stack_w *g;
	int l, s0, n, C, NH, mlp, NB, part;
} bwd_job;

static float *ln_part_of(const mae_stack_a *a, int share, int C)
{
	return a->ln_part + (size_t)share * al16(2 * (size_t)C);
}

static void chunk_backward_rows(const void *job, int share, int s, int n)
{
	const bwd_job *J = job;
	mae_stack_a *a = J->a;
	int T = a->T, C = J->C, H4 = C * J->mlp, R = n * T;
	size_t c0 = (size_t)(s - J->s0) * T;            /* first row in the chunk scratch */
	view v = layer_view(a, J->w, J->g, J->l, s, n, c0, C, J->NH, J->mlp, J->NB);
	float *dx = a->dx + (size_t)s * T * C, *part = ln_part_of(a, share, C);
	if (J->part == BWD_MLP) {
		/* dx is d(res2), which fc2's weight gradient reads after this part, so d(res1) (dx plus
		 * LN2's backward) goes to dres. GELU(fch) kept or recomputed into bufA (with GELU' in
		 * bufC); bufB its gradient, then (in place) fc1's output gradient; dln = d(LN2 output) */
		float *dh = a->bufB + c0 * H4, *deriv = a->fchg ? NULL : a->bufC + c0 * H4;
		if (deriv)
			mae_gelu_forward_deriv(v.fchg, deriv, v.fch, (size_t)R * H4);
		mae_linear_backward_gelu(dh, NULL, NULL, dx, v.fchg, v.fc2w, v.fch, deriv, R, H4, C);
		mae_layernorm_recompute(v.ln, v.res1, v.m2, v.r2, v.ln2w, v.ln2b, R, C);
		mae_linear_backward_set(v.dln, NULL, NULL, dh, v.ln, v.fc1w, R, C, H4);
		mae_layernorm_backward_rows(v.dres, dx, part, v.dln, v.res1, v.ln2w, v.m2, v.r2, R, C);
		return;
	}
	/* attention branch: dres holds d(res1); bufA = d(atty), bufB = d(qkv), dln = d(LN1 output),
	 * then dx = d(block input); the attention backward also writes atty again, for proj's
	 * weight gradient */
	float *datty = a->bufA + c0 * C, *dqkv = a->bufB + c0 * 3 * C;
	if (J->part == BWD_ATTN || J->part == BWD_PROJ)
		mae_linear_backward_set(datty, NULL, NULL, v.dres, v.atty, v.projw, R, C, C);
	if (J->part == BWD_ATTN)
		mae_attention_backward(dqkv, v.atty, NULL, a->att_ws, datty, v.qkv, v.probs, NULL, NULL, n, T, C, J->NH, 0);
	if (J->part == BWD_ATTN || J->part == BWD_QKV) {
		mae_layernorm_recompute(v.ln, v.xin, v.m1, v.r1, v.ln1w, v.ln1b, R, C);
		mae_linear_backward_set(v.dln, NULL, NULL, dqkv, v.ln, v.qkvw, R, C, 3 * C);
		mae_layernorm_backward_rows(dx, v.dres, part, v.dln, v.xin, v.ln1w, v.m1, v.r1, R, C);
	}
}

/* dw, db += the shares' LayerNorm sums, in share order */
static void ln_part_add(const mae_stack_a *a, int shares, float *dw, float *db, int C)
{
	for (int i = 0; i < shares; i++) {
		const float *p = ln_part_of(a, i, C);
		for (int c = 0; c < C; c++)
			dw[c] += p[c], db[c] += p[C + c];
	}
}

static int chunk_backward(bwd_job *J, int part)
{
	J->part = part;
	return over_sequences(chunk_backward_rows, J, J->s0, J->n);
}

/* As the forward, the row-local kernels run as one job a thread: 6 jobs a layer and chunk
 * instead of 11. With iRPE the attention stays one job over all the chunk's heads, because
 * its dR partial sums go by fixed groups of (sequence, head) tasks. Same bits as kernel by
 * kernel, but for the LayerNorm dw, db sums, which go by share, not by mae_layernorm_backward's
 * split of the rows: every product sees the same rows, the weight gradients the same splits. */
void mae_stack_backward(mae_stack_a *a, const mae_stack_w *w, mae_stack_w *g, const float *dout,
                    int C, int NH, int L, int mlp, int NB)
{
	int S = a->S, T = a->T, cs = chunk_seqs(S, T, a->chunk_rows), H4 = C * mlp;
	size_t Rall = (size_t)S * T;
	const float *xlast = L ? a->res2 + (size_t)(L - 1) * Rall * C : a->x0;
	memset(a->dx, 0, Rall * C * sizeof(float));
	mae_layernorm_backward(a->dx, g->norm_w, g->norm_b, dout, xlast, w->norm_w, a->lnf_mean, a->lnf_rstd,
	                   (int)Rall, C);
	for (int l = L - 1; l >= 0; l--) {
		prepack_layers(w, C, mlp, l, 1, 1);
		for (int s0 = 0; s0 < S; s0 += cs) {
			view v = layer_view(a, w, g, l, s0, s0 + cs <= S ? cs : S - s0, 0, C, NH, mlp, NB);
			int R = v.rows, shares;
			float *dx = a->dx + (size_t)s0 * T * C;   /* d(block output) of this chunk */
			bwd_job J = { .a = a, .w = w, .g = g, .l = l, .s0 = s0, .n = v.n, .C = C, .NH = NH,
			              .mlp = mlp, .NB = NB };
			shares = chunk_backward(&J, BWD_MLP);
			ln_part_add(a, shares, v.gln2w, v.gln2b, C);
			mae_linear_backward(NULL, v.gfc2w, v.gfc2b, dx, v.fchg, v.fc2w, R, H4, C);
			mae_linear_backward(NULL, v.gfc1w, v.gfc1b, a->bufB, v.ln, v.fc1w, R, C, H4);
			if (NB) {
				chunk_backward(&J, BWD_PROJ);
				mae_attention_backward(a->bufB, v.atty, v.grpe, a->att_ws, a->bufA, v.qkv, v.probs, v.rpe, a->bucket,
				                   v.n, T, C, NH, NB);
				shares = chunk_backward(&J, BWD_QKV);
			} else
				shares = chunk_backward(&J, BWD_ATTN);
			ln_part_add(a, shares, v.gln1w, v.gln1b, C);
			mae_linear_backward(NULL, v.gprojw, v.gprojb, v.dres, v.atty, v.projw, R, C, C);
			mae_linear_backward(NULL, v.gqkvw, v.gqkvb, a->bufB, v.ln, v.qkvw, R, C, 3 * C);
		}
	}
	mae_linear_prepack_clear();
}
