/* kernels.h: the layers of the MAE family as forward/backward pairs on plain float arrays.
 *
 * The style is llm.c's (see STYLE.md 1.1): every kernel is a free function named
 * <layer>_forward or <layer>_backward, outputs first, then inputs, then weights, then the
 * integer dimensions. Every array argument has its shape in a comment. Backward kernels
 * ACCUMULATE (+=) into every gradient they write, parameter gradients and input gradients
 * alike, so a caller zeroes gradients once and residual branches need no extra adds.
 * Kernels never allocate; scratch space is passed in (see *_scratch_floats).
 *
 * Dimension letters, fixed for the whole library:
 *   R   rows (tokens of all sequences flattened: S*T)
 *   S   sequences in a batch (B for MAE, B*M for LoMaR windows)
 *   T   tokens per sequence (cls included)
 *   C   channels of a token (model width D); OC output channels of a linear layer
 *   NH  attention heads, HS = C/NH head size
 *   NB  relative-position buckets (iRPE)
 *   N   patches per image, P = p*p*c values per patch (MAE's (a,b,c) order)
 *
 * Each kernel with a fast path (BLAS, threads) has a *_naive twin, the plain loops, beside the
 * tests that compare against it (tests/oracle/kernels_ref.h), not here. */
#ifndef MAE_KERNELS_H
#define MAE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Threads. A small pool whose workers wait awake for MAE_SPIN_US (50 us) after a job, then block
 * on a condition variable: back-to-back jobs start at once, and an idle pool takes no core from
 * anyone. mae_parallel_for runs fn(ctx, i, tid) for i in [0, n) on the pool plus the calling
 * thread; tid < mae_threads(). mae_threads_init also holds OpenBLAS to one thread: big
 * products are split over the pool instead (kernels.c), so no BLAS worker busy-waits on the
 * cores the pool needs. Nested calls are allowed: mae_parallel_for called from inside a task
 * runs its tasks right there, one after another, with the task's tid; mae_in_task() tells a
 * kernel so, which then makes one product of what it would have split (so a caller can hand
 * each thread a whole run of kernels on its own rows, with no barrier between them). */
void mae_threads_init(int n);      /* 0: MAE_THREADS env, else the number of online CPUs */
int mae_threads(void);
void mae_parallel_for(int n, void (*fn)(void *ctx, int i, int tid), void *ctx);
int mae_in_task(void);

/* ---------------------------------------------------------------------------------------
 * bf16 products (the model's bf16 setting, mae(7)). With mae_set_bf16(1), every linear layer
 * below (forward, input gradient, weight gradient; the patch embedding too) rounds its two
 * product operands to bf16 and sums the products in fp32 (AVX512_BF16), and so do the
 * attention's per-head products (q k^T, P V and their four gradient products); bias, residual,
 * GELU, bias gradients, the softmax, the RPE term and all other kernels stay fp32. Process-wide: the model
 * sets it from its configuration at the start of each stage (mae_encoder_forward and the
 * others). mae_set_bf16(1) dies with a message where mae_bf16_available() is 0 (no
 * AVX512_BF16 in the build or the CPU): never a silent fp32 step. */
int mae_bf16_available(void);
void mae_set_bf16(int on);
int mae_get_bf16(void);

/* ---------------------------------------------------------------------------------------
 * Linear: out = inp W^T + bias, W stored (OC, C) as PyTorch's nn.Linear. */
void mae_linear_forward(float *out,          /* (R, OC) */
                    const float *inp,    /* (R, C) */
                    const float *w,      /* (OC, C) */
                    const float *bias,   /* (OC) or NULL */
                    int R, int C, int OC);
/* out = resid + inp W^T + bias in one pass (the transformer's residual branches). */
void mae_linear_forward_residual(float *out, const float *inp, const float *w, const float *bias,
                             const float *resid,  /* (R, OC) */
                             int R, int C, int OC);
void mae_linear_backward(float *dinp,        /* (R, C) or NULL: += dout W */
                     float *dw,          /* (OC, C) or NULL: += dout^T inp */
                     float *dbias,       /* (OC) or NULL: += column sums of dout */
                     const float *dout,  /* (R, OC) */
                     const float *inp,   /* (R, C) */
                     const float *w,     /* (OC, C) */
                     int R, int C, int OC);
/* The same, except dinp is overwritten (=), not accumulated: saves zeroing a scratch buffer. */
void mae_linear_backward_set(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int R, int C, int OC);
/* The MLP's two ends with GELU fused in, applied by each task to its rows while they are
 * still in cache (one pass over the activations fewer each way):
 * forward pre = inp W^T + bias, out = GELU(pre); backward (fc2 with GELU's grad folded in)
 * dinp = (dout W) * GELU'(pre), or * deriv when deriv (from mae_gelu_forward_deriv) is given;
 * dw and dbias accumulate as in mae_linear_backward. */
void mae_linear_forward_gelu(float *pre, float *out, const float *inp, const float *w,
                         const float *bias, int R, int C, int OC);
void mae_linear_backward_gelu(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, const float *pre, const float *deriv,
                          int R, int C, int OC);

/* bf16 steps: the weights of n linear layers (w[i]: OC[i] x C[i]) packed once for the
 * forward (dinp 0: y = x W^T) or the input gradients (dinp 1: dx = dy W), in parts on the pool,
 * and read by every such product on them, in any task, until the next mae_linear_prepack or
 * mae_linear_prepack_clear: for a caller that runs the same layers over many chunks of rows
 * (model_stack.c). Same bits as without. Nothing when the bf16 setting is off. Call from the
 * thread that runs the pool's jobs, with the weights unchanged until the clear. */
void mae_linear_prepack(const float *const *w, const int *C, const int *OC, int n, int dinp);
void mae_linear_prepack_clear(void);

/* ---------------------------------------------------------------------------------------
 * LayerNorm over the last dimension, biased variance, eps as given (MAE: 1e-6).
 * Mirrors torch.nn.LayerNorm. mean and rstd are saved for the backward pass. */
void mae_layernorm_forward(float *out,       /* (R, C) */
                       float *mean,      /* (R) */
                       float *rstd,      /* (R) */
                       const float *inp, /* (R, C) */
                       const float *w,   /* (C) */
                       const float *b,   /* (C) */
                       int R, int C, float eps);
/* out = LN(inp) again from the saved statistics (backward recomputes instead of storing). */
void mae_layernorm_recompute(float *out, const float *inp, const float *mean, const float *rstd,
                         const float *w, const float *b, int R, int C);
void mae_layernorm_backward(float *dinp,     /* (R, C) += */
                        float *dw,       /* (C) += */
                        float *db,       /* (C) += */
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int R, int C);
/* The same on the calling thread alone, for a caller that runs its own rows on each thread:
 * dinp = dres + d(inp) (dres may be dinp), and the rows' dw and db sums, in row order, into
 * part (2 C floats: dw, then db; overwritten), for the caller to add up in an order of its own. */
void mae_layernorm_backward_rows(float *dinp,       /* (R, C) = */
                             const float *dres, /* (R, C) */
                             float *part,       /* (2, C) = */
                             const float *dout, const float *inp, const float *w,
                             const float *mean, const float *rstd, int R, int C);

/* ---------------------------------------------------------------------------------------
 * GELU, exact erf form (torch.nn.GELU default): x * Phi(x). The MLP's forward applies it
 * fused (mae_linear_forward_gelu); its backward recomputes it here:
 * out = GELU(inp) and deriv = GELU'(inp) in one pass (one exp per element), for a backward
 * that then multiplies by deriv (mae_linear_backward_gelu). */
void mae_gelu_forward_deriv(float *out, float *deriv, const float *inp, size_t n);

/* ---------------------------------------------------------------------------------------
 * Multi-head self-attention core (after the qkv linear, before the proj linear), as timm's
 * Attention: qkv row = [q | k | v], head h at columns [h*HS, (h+1)*HS) of each; scale HS^-0.5;
 * softmax over keys.
 * Optional iRPE (LoMaR, METHODS 2.2): contextual on keys, product method, shared over heads:
 *   logits[h,i,j] = scale q_i.k_j + q_i . rpe[:, bucket[i,j]]      (q unscaled in the RPE term)
 * rpe is NULL for plain attention. Work is split over S*NH (sequence, head) tasks on the pool. */
void mae_attention_forward(float *out,        /* (S, T, C) heads concatenated */
                       float *att_cls,    /* (S, NH, T) the cls row of the probabilities, or NULL */
                       float *probs,      /* (S, NH, T, T) all the probabilities, or NULL */
                       float *scratch,    /* mae_attention_scratch_floats(T, C, NH, NB) */
                       const float *qkv,  /* (S, T, 3C) */
                       const float *rpe,  /* (HS, NB) or NULL */
                       const int *bucket, /* (T, T) bucket ids in [0, NB), or NULL */
                       int S, int T, int C, int NH, int NB);
/* Uses the probabilities the forward kept in probs, or recomputes them from qkv when probs is
 * NULL (O(T^2) memory per head is a lot for long sequences; one extra T x T x HS product).
 * Unlike the other kernels it OVERWRITES dqkv (every element is written), which spares the
 * caller zeroing a (S, T, 3C) buffer per layer; drpe accumulates. If out is not NULL, the
 * forward's output is written there again, bit for bit (one more T x T x HS product a head),
 * for a caller that did not keep it. */
void mae_attention_backward(float *dqkv,        /* (S, T, 3C) = */
                        float *out,         /* (S, T, C) = the forward's output, or NULL */
                        float *drpe,        /* (HS, NB) += (or NULL when rpe is NULL) */
                        float *scratch,     /* mae_attention_scratch_floats(T, C, NH, NB) */
                        const float *dout,  /* (S, T, C) */
                        const float *qkv,
                        const float *probs, /* (S, NH, T, T) from the forward, or NULL */
                        const float *rpe, const int *bucket,
                        int S, int T, int C, int NH, int NB);
size_t mae_attention_scratch_floats(int T, int C, int NH, int NB);   /* for all threads together */
/* iRPE bucket table for a K x K window with `skip` leading tokens (the cls): product method,
 * alpha 1.9, beta 3.8, gamma 15.2, so 7*7 = 49 buckets plus one (id 49) for every pair with
 * the cls token. Returns NB (50 with skip, 49 without). bucket: (T, T), T = skip + K*K. */
int mae_irpe_buckets(int *bucket, int K, int skip);
int mae_irpe_piecewise_index(int d);       /* the piecewise index of a signed offset */

/* ---------------------------------------------------------------------------------------
 * Patch embedding, MAE's Conv2d(c, D, kernel p, stride p) applied to patchified input, or
 * VideoMAE's Conv3d(c, D, kernel (t, p, p), stride the same) applied to tubelets. The conv
 * weight is (D, c, k) with k = p*p (or t*p*p) pixel positions, i.e. each output reads its patch
 * in (c, position) order, while patches arrive in (position, c) order (METHODS 1.2, 5.1).
 * wperm is scratch for the weight permuted to (D, position, c), so the product is one GEMM
 * over the patches as they are. */
void mae_patch_embed_forward(float *out,            /* (R, D) */
                         float *wperm,          /* (D, P) scratch */
                         const float *patches,  /* (R, P), P = k*c in (position, c) order */
                         const float *w,        /* (D, c, k): (D, c, p, p) or (D, c, t, p, p) */
                         const float *bias,     /* (D) */
                         int R, int k, int c, int D);
void mae_patch_embed_backward(float *dw,            /* (D, c, k) += */
                          float *dbias,         /* (D) += */
                          float *dwperm,        /* (D, P) scratch */
                          const float *dout,    /* (R, D) */
                          const float *patches, /* (R, P) */
                          int R, int k, int c, int D);

/* Fixed 2-D sin-cos position embedding exactly as MAE's util/pos_embed.py, generalised to a
 * gh x gw grid: for token l = i*gw + j, with Q = D/4 and omega_k = 10000^(-k/Q),
 *   [0,Q) sin(j omega)  [Q,2Q) cos(j omega)  [2Q,3Q) sin(i omega)  [3Q,4Q) cos(i omega)
 * (the first half encodes the COLUMN). With cls, row 0 is zeros. D must be divisible by 4. */
void mae_pos_embed_sincos(float *out,   /* (cls + gh*gw, D) */
                      int D, int gh, int gw, int cls);
/* 3-D sin-cos for clips of gt x gh x gw tubelets, token l = (t*gh + i)*gw + j, as MVD and
 * VideoMAE V2's get_3d_sincos_pos_embed: the first D/4 values are the 1-D sin-cos of t
 * ([sin | cos], E = D/4), the other 3D/4 the 2-D table above of (i, j) in that width.
 * D must be divisible by 16. With cls, row 0 is zeros. */
void mae_pos_embed_sincos_3d(float *out, int D, int gt, int gh, int gw, int cls);
/* VideoMAE's get_sinusoid_encoding_table over n tokens in order (1-D, interleaved): value d of
 * token l is sin(l / 10000^(2 floor(d/2) / D)) for even d, cos of it for odd d. With cls,
 * row 0 is zeros (VideoMAE has no cls token; maepipe's encoder keeps MAE's). */
void mae_pos_embed_sinusoid(float *out, int D, int n, int cls);

/* ---------------------------------------------------------------------------------------
 * Token plumbing. Tokens are rows of width C. */
/* MAE decoder input: out[s, 0] = x[s, 0] (cls); out[s, 1+l] = x[s, 1+k] when l is the k-th
 * visible patch (ascending), else the mask token. vis: (S, Nk) visible ids, ascending. */
void mae_unshuffle_forward(float *out,          /* (S, 1+N, C) */
                       const float *x,      /* (S, 1+Nk, C) */
                       const float *token,  /* (C) */
                       const uint8_t *mask, /* (S, N) */
                       int S, int N, int Nk, int C);
void mae_unshuffle_backward(float *dx,          /* (S, 1+Nk, C) += */
                        float *dtoken,      /* (C) += */
                        const float *dout, const uint8_t *mask, int S, int N, int Nk, int C);
/* out[s, t] += pos[t] for every sequence (fixed embedding: no gradient). */
void mae_add_pos_forward(float *x,              /* (S, T, C) in place */
                     const float *pos,      /* (T, C) */
                     int S, int T, int C);

/* ---------------------------------------------------------------------------------------
 * Losses. All return the scalar loss and have a backward that writes (+=) dL/dpred scaled by
 * dloss. Rows with mask 0 (visible patches) contribute nothing.
 *
 * Norm-pix target (MAE --norm_pix_loss): per patch, (x - mean) / sqrt(var_unbiased + eps). */
void mae_norm_pix_target(float *out,            /* (R, P) */
                     const float *x,        /* (R, P) */
                     int R, int P, float eps);
/* VideoMAE's target (METHODS 5.1): per row and per channel c, the K = P/C values v[k*C + c]
 * (a tubelet's pixels of that channel) as (v - mean) / (sqrt(var_unbiased) + eps), eps outside
 * the root. */
void mae_norm_tube_target(float *out, const float *x, int R, int P, int C, float eps);
/* MSE: e[r] = mean_P (pred - target)^2; loss = sum_r e[r] m[r] / sum_r m[r] (0 if no m). */
float mae_mse_masked_forward(const float *pred, /* (R, P) */
                         const float *target, /* (R, P) */
                         const uint8_t *mask, /* (R) */
                         int R, int P);
void mae_mse_masked_backward(float *dpred,      /* (R, P) += */
                         const float *pred, const float *target, const uint8_t *mask,
                         int R, int P, float dloss);
/* SimMIM L1 on masked pixels: sum |pred - target| m / (sum_pixels m + 1e-5) / c, where a
 * masked patch counts p*p pixels (P = p*p*c values). */
float mae_l1_masked_forward(const float *pred, const float *target, const uint8_t *mask,
                        int R, int P, int c);
void mae_l1_masked_backward(float *dpred, const float *pred, const float *target,
                        const uint8_t *mask, int R, int P, int c, float dloss);

/* MFM frequency loss (METHODS 5.2): with the orthonormal 2-D DFT F of each channel of the
 * unpatchified difference d = pred - target,
 *   loss = sum_{b,c,u,v} fm[b,u,v] sqrt(Re^2 + Im^2 + 1e-12) / (c * sum_{b,u,v} fm[b,u,v])
 * The DFTs are matrix products (cos and sin matrices, built once by mae_freq_loss_init). */
typedef struct freq_loss_ws {
	int H, W, p, c;
	float *ch, *sh, *cw, *sw;  /* (H,H), (H,H), (W,W), (W,W): cos/sin DFT matrices / sqrt(n) */
	float *img, *t1, *t2, *re, *im, *gre, *gim;  /* (H, W) work planes */
	float *dimg;               /* (c, H, W) */
} freq_loss_ws;
void mae_freq_loss_init(freq_loss_ws *ws, int H, int W, int p, int c);   /* allocates once */
void mae_freq_loss_free(freq_loss_ws *ws);
float mae_freq_loss_forward(freq_loss_ws *ws,
                        const float *pred,    /* (B, N, P) */
                        const float *target,  /* (B, N, P) */
                        const uint8_t *fmask, /* (B, H, W) 1 = removed frequency */
                        int B);
void mae_freq_loss_backward(freq_loss_ws *ws, float *dpred,   /* (B, N, P) += */
                        const float *pred, const float *target, const uint8_t *fmask,
                        int B, float dloss);

/* ---------------------------------------------------------------------------------------
 * A classification branch (SupMAE, METHODS 5.7): global pool of the patch tokens, then
 * Linear -> BatchNorm1d -> ReLU -> Linear and cross-entropy on the logits over a temperature.
 *
 * Mean pool: out[s] = mean of x[s, t] over t in [t0, T) (t0 = 1 leaves the cls token out). */
void mae_mean_pool_forward(float *out,          /* (S, C) */
                       const float *x,      /* (S, T, C) */
                       int S, int T, int t0, int C);
void mae_mean_pool_backward(float *dx,          /* (S, T, C) +=; rows t < t0 untouched */
                        const float *dout,  /* (S, C) */
                        int S, int T, int t0, int C);
/* BatchNorm1d in training mode: per column, the mean and the biased variance over the R rows
 * (the batch), out = (inp - mean) * rstd * w + b with rstd = 1 / sqrt(var + eps). Mirrors
 * torch.nn.BatchNorm1d in train() (eps 1e-5); no running statistics are kept. mean and rstd
 * are saved for the backward pass. Sums in double, in row order. */
void mae_batchnorm_forward(float *out,       /* (R, C) */
                       float *mean,      /* (C) */
                       float *rstd,      /* (C) */
                       const float *inp, /* (R, C) */
                       const float *w,   /* (C) */
                       const float *b,   /* (C) */
                       int R, int C, float eps);
/* With g = dout w and xhat the normalised input, per column:
 * dinp = (g - mean_R(g) - xhat mean_R(g xhat)) rstd (every row's statistics depend on all rows). */
void mae_batchnorm_backward(float *dinp,     /* (R, C) += */
                        float *dw,       /* (C) += */
                        float *db,       /* (C) += */
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int R, int C);
/* Cross-entropy of softmax(logits / temp) against class ids, the mean over the R rows:
 * loss = -(1/R) sum_r log softmax(logits_r / temp)[label_r] (torch's F.cross_entropy of
 * logits / temp). probs keeps the softmax for the backward pass. Labels must be in [0, K). */
float mae_crossentropy_forward(float *probs,          /* (R, K) */
                           const float *logits,   /* (R, K) */
                           const int32_t *labels, /* (R) */
                           int R, int K, float temp);
/* dlogits += dloss (probs - onehot(label)) / (R temp) */
void mae_crossentropy_backward(float *dlogits,        /* (R, K) += */
                           const float *probs, const int32_t *labels, int R, int K, float temp,
                           float dloss);

/* ---------------------------------------------------------------------------------------
 * A contrastive term (CMAE): InfoNCE over the batch between the student's features q and the
 * targets k, both L2-normalised (F.normalize: x / max(||x||, 1e-12)), logits qn kn^T / temp,
 * the positives on the diagonal:
 *   loss = (1/R) sum_r [ log sum_j exp(qn_r . kn_j / temp) - qn_r . kn_r / temp ]
 * (torch's F.cross_entropy(qn @ kn.T / temp, arange(R))). k is a constant (no gradient).
 * qn, qnorm, kn and probs are kept for the backward pass. Sums in double, in a fixed order. */
float mae_infonce_forward(float *qn,          /* (R, C) normalised q */
                      float *qnorm,       /* (R) max(||q_r||, 1e-12) */
                      float *kn,          /* (R, C) normalised k */
                      float *probs,       /* (R, R) softmax of each row of the logits */
                      const float *q,     /* (R, C) */
                      const float *k,     /* (R, C) */
                      int R, int C, float temp);
/* With dl_rj = dloss (probs_rj - [r == j]) / R and dqn_r = sum_j dl_rj kn_j / temp:
 * dq_r += (dqn_r - qn_r (qn_r . dqn_r)) / qnorm_r (the normalisation's Jacobian). */
void mae_infonce_backward(float *dq,          /* (R, C) += */
                      const float *qn, const float *qnorm, const float *kn, const float *probs,
                      int R, int C, float temp, float dloss);

#endif
