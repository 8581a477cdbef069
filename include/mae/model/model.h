/* model.h: the MAE family as one model struct over four arenas (llm.c style).
 *
 *   params  every trainable float, one allocation; encoder tensors first, then the decoder or
 *           head, so the encoder's parameter group is params[0, n_enc) and the rest is
 *           params[n_enc, n_params) (the parameter plane ships these two groups)
 *   grads   the same layout as params
 *   fixed   non-trainable tensors that still belong to the state dict (sin-cos pos embeds)
 *   acts    activations, sized on first use for the largest batch seen, then reused
 *
 * Modes (METHODS 1, 2, 5.2, 5.3):
 *   mae     encoder on cls + visible tokens; decoder (embed, mask tokens, pos, blocks, pred)
 *   simmim  encoder on all tokens with a mask token; linear head
 *   lomar   encoder on cls + the K*K tokens of each of M windows, hidden ones a mask token, no
 *           absolute position, iRPE in every block; linear head on window tokens
 *   mfm     encoder on all tokens of the corrupted image; linear head; frequency loss
 * BootMAE (feat_depth > 0, mode mae): a second MAE-style decoder, the feature decoder, beside
 * the pixel decoder; it predicts the momentum encoder's feature of every patch (D values) from
 * the same latent, and its masked MSE, times feat_weight, adds to the pixel loss.
 * SupMAE (sup_classes > 0, mode mae): the classification branch (METHODS 5.7): the
 * mean of the encoder's visible patch outputs -> Linear(D, mlp_ratio D) -> BatchNorm1d (batch
 * statistics) -> ReLU -> Linear(., sup_classes), loss sup_weight * CE(logits / sup_temp,
 * label). Its parameters (head.*) are the decoder group's last; the decoder stage runs it,
 * adds its gradient to the latent's and its term (m->sup_loss) to the step's loss.
 * CMAE (cl_dim > 0, mode mae): a contrastive branch: the same mean of the visible outputs ->
 * projector (Linear(D, mlp_ratio D) -> BatchNorm1d -> ReLU -> Linear(., cl_dim)) -> predictor
 * (Linear(cl_dim, mlp_ratio D) -> BatchNorm1d -> ReLU -> Linear(., D)) = q; loss cl_weight *
 * InfoNCE(q, k) over the batch at temperature cl_temp, k the batch's contrast_target (the EMA
 * teacher's pooled feature, a constant). Parameters projector.*, predictor.*; the decoder
 * stage runs it like SupMAE's branch and sets m->cl_loss.
 * All may be on together: the decoder group is then the pixel decoder, decoder_pred,
 * feature_decoder.*, head.*, projector.*, predictor.* (in that order), and the decoder stage
 * runs them all, dlatent being the sum of their gradients in that order.
 *
 * Tensor names and shapes are those of the PyTorch reference state dict (mae-checkpoint(5)).
 * A forward pass runs in stages so programs can split it across processes:
 *     mae_encoder_forward -> latent -> mae_decoder_forward -> pred -> mae_loss_forward
 * and back: mae_loss_backward -> dpred -> mae_decoder_backward -> dlatent -> mae_encoder_backward.
 * Backward functions accumulate into grads; call mae_model_zero_grad first. */
#ifndef MAE_MODEL_H
#define MAE_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum mae_mode { MAE_MODE_MAE, MAE_MODE_SIMMIM, MAE_MODE_LOMAR, MAE_MODE_MFM };
enum mae_loss_kind { MAE_LOSS_NORMPIX, MAE_LOSS_MSE, MAE_LOSS_L1, MAE_LOSS_FREQ, MAE_LOSS_NORMTUBE };
enum mae_pos_kind { MAE_POS_NONE, MAE_POS_SINCOS, MAE_POS_SINUSOID };

typedef struct mae_config {
	char name[32];        /* the preset it started from, e.g. "vit-base" */
	int mode;             /* enum mae_mode */
	int img_h, img_w;     /* 224 */
	int channels;         /* 3 (1 for Fashion-MNIST) */
	int patch;            /* 16 */
	int dim, depth, heads;              /* encoder: ViT-B 768 x 12, 12 heads */
	int dec_dim, dec_depth, dec_heads;  /* MAE decoder: 512 x 8, 16 heads */
	int mlp_ratio;        /* 4 */
	int pos;              /* enum mae_pos_kind: 1 fixed sin-cos (MAE's 2-D table; for clips
	                       * the 3-D one), 2 VideoMAE's 1-D sinusoid over all tokens, 0 none
	                       * (LoMaR) */
	int loss;             /* enum mae_loss_kind; normtube: VideoMAE's per-tubelet, per-channel
	                       * normalized pixels, (x - mean) / (std_unbiased + 1e-6) */
	int window, nwindows; /* LoMaR: K = 7, M = 4 */
	float mask_ratio;     /* expected ratio (sizes the encoder's activations; MAE 0.75) */
	float ln_eps;         /* 1e-6 */
	int target_dim;       /* values predicted per patch: 0 = P (pixels), else the width of the
	                       * batch's `target` (MaskFeat's HOG, mae-hog(1)) */
	int feat_depth;       /* BootMAE: blocks of the feature decoder (dec_dim wide, dec_heads
	                       * heads); 0 = none */
	float feat_weight;    /* BootMAE: weight of the feature loss in the total (1) */
	int sup_classes;      /* SupMAE: classes of the branch, 0 = no branch (the default) */
	float sup_weight;     /* SupMAE: weight of its cross-entropy, 0.01 */
	float sup_temp;       /* SupMAE: temperature dividing its logits, 10 */
	int cl_dim;           /* CMAE: the projector's output width, 0 = no contrastive branch */
	float cl_weight;      /* CMAE: weight of the InfoNCE term, 1 [??] */
	float cl_temp;        /* CMAE: InfoNCE temperature, 0.07 */
	int frames;           /* VideoMAE: frames of a clip, 1 for images */
	int tubelet;          /* VideoMAE: frames of a tubelet (2), 1 for images; each token is a
	                       * tubelet x patch x patch block, and frames / tubelet slices of the
	                       * grid make (frames / tubelet) * gh * gw tokens */
	int bf16;             /* 1: the linear layers' products in bf16 with fp32 sums (AVX512_BF16,
	                       * mae_set_bf16), everything else fp32; 0 (the default): all fp32 */
} mae_config;

/* Presets: vit-tiny, vit-small, vit-base, vit-large, vit-huge (224x224x3, patch 16 or 14, MAE
 * decoder 512x8x16), tiny-28 (28x28x1, patch 4, 192x12x3, decoder 128x2x4), micro-28 (a
 * minute model for tests: 28x28x1, patch 7, 32x2x2, decoder 32x1x2). Returns 0, or -1 if unknown. */
int mae_config_preset(mae_config *c, const char *name);
/* One override: key is a field name above (mode/loss take names: mae, simmim, lomar, mfm;
 * normpix, mse, l1, freq, normtube; pos takes 0, 1, 2 or none, sincos, sinusoid). Returns 0, or -1 with a message in err. */
int mae_config_set(mae_config *c, const char *key, const char *val, char *err, size_t n);
/* "preset[,key=value...]", e.g. "vit-tiny,mode=lomar,dec_depth=4". Sets the mode's default
 * loss and position embedding unless given. Returns 0, or -1 with a message. */
int mae_config_parse(mae_config *c, const char *spec, char *err, size_t n);
/* Every setting of c as (key, value) text that mae_config_set reads back exactly, in one fixed
 * order: mode, loss, the integers (..., frames, tubelet, bf16 last), then the
 * reals mask_ratio, ln_eps, sup_weight, sup_temp, feat_weight, cl_weight, cl_temp. The one list of the fields that the
 * spec (mae_config_spec), a checkpoint's metadata and its reader share. Returns the count. */
enum { MAE_CONFIG_NFIELDS = 30 };
int mae_config_fields(const mae_config *c, char key[MAE_CONFIG_NFIELDS][16], char val[MAE_CONFIG_NFIELDS][32]);
/* Consistency (divisibility, ranges). Returns 0, or -1 with a message. */
int mae_config_check(const mae_config *c, char *err, size_t n);
const char *mae_mode_name(int mode);
const char *mae_loss_name(int loss);
static inline int mae_config_grid_h(const mae_config *c) { return c->img_h / c->patch; }
static inline int mae_config_grid_w(const mae_config *c) { return c->img_w / c->patch; }
static inline int mae_config_grid_t(const mae_config *c) { return c->frames / c->tubelet; }
static inline int mae_config_npatch(const mae_config *c) { return mae_config_grid_t(c) * mae_config_grid_h(c) * mae_config_grid_w(c); }
static inline int mae_config_pdim(const mae_config *c) { return c->tubelet * c->patch * c->patch * c->channels; }
/* values the head predicts per patch: target_dim, or P */
static inline int mae_config_tdim(const mae_config *c) { return c->target_dim ? c->target_dim : mae_config_pdim(c); }

/* One named tensor of the state dict, pointing into params (trainable) or fixed. */
typedef struct mae_param_info {
	char name[64];
	int ndim;
	int64_t shape[5];
	size_t numel;
	float *data;          /* into params or fixed */
	size_t offset;        /* in params (trainable) or fixed */
	int trainable;
	int decay;            /* AdamW weight decay: ndim >= 2 and not *.bias (timm add_weight_decay) */
	int group;            /* 0 encoder, 1 decoder/head */
} mae_param_info;

/* Weights of a stack of pre-norm ViT blocks, stacked over layers (layer l = base + l * size). */
typedef struct mae_stack_w {
	float *ln1_w, *ln1_b;     /* (L, C) */
	float *qkv_w;             /* (L, 3C, C) */
	float *qkv_b;             /* (L, 3C) */
	float *proj_w;            /* (L, C, C) */
	float *proj_b;            /* (L, C) */
	float *ln2_w, *ln2_b;     /* (L, C) */
	float *fc1_w;             /* (L, 4C, C) */
	float *fc1_b;             /* (L, 4C) */
	float *fc2_w;             /* (L, C, 4C) */
	float *fc2_b;             /* (L, C) */
	float *rpe;               /* (L, HS, NB) iRPE tables (LoMaR) or NULL */
	float *norm_w, *norm_b;   /* (C) final LayerNorm */
} mae_stack_w;

/* Linear -> BatchNorm1d -> ReLU -> Linear (CMAE's projector and predictor: PyTorch's
 * nn.Sequential indices 0, 1, 3) */
typedef struct mae_bnmlp_w {
	float *w1, *b1;           /* (H, in), (H) */
	float *bn_w, *bn_b;       /* (H) */
	float *w2, *b2;           /* (out, H), (out) */
} mae_bnmlp_w;

typedef struct mae_weights {
	float *cls;               /* (D) cls_token */
	float *patch_w;           /* (D, c, p, p) patch_embed.proj.weight */
	float *patch_b;           /* (D) */
	float *enc_mask;          /* (D) mask_token of SimMIM / LoMaR, else NULL */
	mae_stack_w enc;          /* blocks.*, norm.* */
	float *dec_embed_w;       /* (Dd, D) decoder_embed (MAE) */
	float *dec_embed_b;       /* (Dd) */
	float *dec_mask;          /* (Dd) mask_token (MAE) */
	mae_stack_w dec;          /* decoder_blocks.*, decoder_norm.* (MAE) */
	float *pred_w;            /* (Pt, Dd or D) decoder_pred */
	float *pred_b;            /* (Pt) */
	float *feat_embed_w;      /* (Dd, D) feature_decoder.embed (BootMAE) */
	float *feat_embed_b;      /* (Dd) */
	float *feat_mask;         /* (Dd) feature_decoder.mask_token */
	mae_stack_w feat;         /* feature_decoder.blocks.*, feature_decoder.norm.* */
	float *feat_pred_w;       /* (D, Dd) feature_decoder.pred */
	float *feat_pred_b;       /* (D) */
	float *head_w1, *head_b1; /* (Hs, D), (Hs) head.0: SupMAE's Linear, Hs = mlp_ratio D */
	float *head_bn_w, *head_bn_b;  /* (Hs) head.1: its BatchNorm1d */
	float *head_w2, *head_b2; /* (K, Hs), (K) head.3: the classifier, K = sup_classes */
	mae_bnmlp_w cl_proj;      /* projector.*: D -> Hs -> cl_dim (CMAE) */
	mae_bnmlp_w cl_pred;      /* predictor.*: cl_dim -> Hs -> D */
} mae_weights;

/* Activations of one stack of blocks: S sequences of T tokens of width C (model_stack.c).
 * Kept per layer: 9 C floats a token (qkv, post-attention residual, fc1 output, block output),
 * plus the GELU outputs (4 C) when they fit in mae_model.gelu_keep_mb and the attention
 * probabilities (NH T) when they fit in mae_model.attn_keep_mb. Recomputed in backward:
 * LayerNorm outputs, the attention output (P V), and those two when they are not kept.
 * Scratch is sized for one chunk of sequences (the stack runs chunk by chunk). */
typedef struct mae_stack_a {
	int S, T;                 /* shape of the last forward */
	size_t cap;               /* tokens (S*T) the buffers hold */
	size_t cap_chunk;         /* tokens of one chunk the scratch holds */
	int cap_T;                /* sequence length the attention scratch and buckets were sized for */
	int chunk_rows;           /* tokens per chunk (mae_model.chunk_rows) */
	float *x0;                /* (S*T, C) input of block 0 */
	float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd;   /* (L, S*T) */
	float *qkv;               /* (L, S*T, 3C) */
	float *att_cls;           /* (L, S, NH, T) cls row of the attention probabilities */
	float *probs;             /* (L, S, NH, T, T) all of them, or NULL: recomputed in backward */
	size_t cap_probs;         /* floats probs holds */
	float *res1;              /* (L, S*T, C) post-attention residual: x + proj(attention) */
	float *res2;              /* (L, S*T, C) block outputs */
	float *fch;               /* (L, S*T, 4C) fc1 output before GELU */
	float *fchg;              /* (L, S*T, 4C) GELU output, or NULL: recomputed in backward */
	float *out;               /* (S*T, C) after the final LayerNorm */
	float *lnf_mean, *lnf_rstd;  /* (S*T) */
	float *dx;                /* (S*T, C) residual-stream gradient */
	float *dout;              /* (S*T, C) gradient of out, for a caller that needs a buffer */
	/* chunk scratch */
	float *bufA, *bufB;       /* (chunk, 4C) each: GELU output / its gradient, datty / dqkv */
	float *bufC;              /* (chunk, 4C) GELU derivative (when GELU is recomputed) */
	float *atty;              /* (chunk, C) attention output before proj (recomputed in backward) */
	float *dln, *lnbuf;       /* (chunk, C) LayerNorm output and its gradient */
	float *dres;              /* (chunk, C) gradient of the post-attention residual, d(res1) */
	float *ln_part;           /* (threads, 2C rounded to 16) a thread's LayerNorm dw, db sums */
	int cap_threads;          /* threads ln_part was sized for */
	float *att_ws;            /* attention scratch */
	int *bucket;              /* (T, T) iRPE buckets or NULL */
	float *arena;             /* the one allocation behind all of the above */
} mae_stack_a;

typedef struct mae_model {
	mae_config cfg;
	int N, P, gt, gh, gw, NB; /* patches, patch dim, grid (gt temporal slices), iRPE buckets (0 without) */
	int Pt;                   /* values predicted per patch: P, or cfg.target_dim */
	float *params, *grads, *fixed;
	size_t n_params, n_enc, n_fixed;
	mae_weights w, g;         /* pointers into params and into grads */
	float *pos, *dec_pos;     /* (1+N, D), (1+N, Dd) fixed sin-cos, or NULL */
	float *feat_pos;          /* (1+N, Dd) the feature decoder's sin-cos, or NULL */
	mae_param_info *tensors;
	int ntensors;

	/* activations of the last forward (owned, grown on demand) */
	int B;                    /* images in the batch */
	int S_enc, T_enc;         /* encoder sequences and their length (cls included) */
	int Nk;                   /* MAE: visible patches per image; LoMaR: K*K */
	mae_stack_a ea, da;       /* encoder and decoder stacks */
	mae_stack_a fa;           /* the feature decoder's stack (BootMAE) */
	int *idx;                 /* (S_enc, tokens) patch ids gathered for the encoder */
	uint8_t *tmask;           /* (S_enc * tokens) hidden flags of encoder tokens */
	float *xp;                /* (S_enc * tokens, P) gathered patches */
	float *emb;               /* (S_enc * tokens, D) patch embeddings */
	float *wperm, *dwperm;    /* (D, P) permuted conv weight and its gradient */
	float *dec_y;             /* (B*(1+Nk), Dd) decoder_embed output (MAE) */
	float *pred_full;         /* (rows, Pt) head output incl. cls rows */
	float *pred;              /* (B, Npred, Pt) */
	float *dpred;             /* (B, Npred, Pt) */
	float *feat_y;            /* (B*(1+Nk), Dd) feature_decoder.embed output (BootMAE) */
	float *feat_full;         /* (B*(1+N), D) feature_decoder.pred output incl. cls rows */
	float *pred_feat;         /* (B, N, D) predicted features */
	float *dpred_feat;        /* (B, N, D) */
	float *dlatent;           /* encoder output gradient (S_enc*T_enc, D) */
	float *target;            /* (B, Npred, Pt) loss target */
	uint8_t *lmask;           /* (B * Npred) loss mask */
	int Npred;                /* predictions per image: N, or M*K*K (LoMaR) */
	int ntok;                 /* patch tokens per encoder sequence (T_enc - 1) */
	const float *latent_in;   /* latent given to the last decoder forward (kept for backward) */
	const float *tgt;         /* loss target of the last loss forward */
	float *sup;               /* SupMAE branch, B rows: feature (D), head.0 out, BN out, ReLU out
	                           * (Hs each), logits, probabilities (K each), the gradients of
	                           * logits, ReLU out, head.0 out and feature; BN mean, rstd (Hs) */
	float sup_loss;           /* sup_weight * CE of the last decoder forward (0 without a branch) */
	float *cl;                /* CMAE branch, B rows (model_forward.c cl_views) */
	float cl_loss;            /* cl_weight * InfoNCE of the last decoder forward (0 without) */
	size_t caps[20];          /* capacities of the buffers above (internal) */
	void *freq;               /* freq_loss_ws (MFM) */
	int chunk_rows;           /* tokens per chunk of the stacks (default 1024) */
	int attn_keep_mb;         /* keep a stack's attention probabilities if they take at most this
	                           * many MB, else recompute them in backward (default 64: kept for
	                           * 28x28 models and ViT encoders, recomputed for MAE's decoder at 224) */
	int gelu_keep_mb;         /* keep a stack's GELU outputs if they take at most this many MB,
	                           * else recompute them in backward (default 32: kept for small
	                           * batches of 28x28 models, where it saves ~4.5% of a step, e.g.
	                           * 16 MB for small-28's encoder at batch 64; recomputed for tiny-28
	                           * at batch 256 and at 224, which memory targets bound) */
	float loss;               /* the last loss forward's total (mae_model_step's adds sup_loss) */
	float loss_pix, loss_feat; /* BootMAE: its two terms (loss = loss_pix + feat_weight loss_feat) */
	char err[256];            /* message of the last failure */
} mae_model;

/* A batch as the stream carries it (CONTRACTS.md). */
typedef struct mae_batch {
	int B;
	const float *patches;     /* (B, N, P) encoder input (MFM: the corrupted image) */
	const float *target;      /* (B, N, Pt) loss target, NULL = patches (needed with target_dim) */
	const uint8_t *mask;      /* (B, N) 1 = hidden; NULL for MFM */
	const int32_t *windows;   /* (B, M, 2) LoMaR window (top, left) in patch units */
	const uint8_t *fmask;     /* (B, H, W) MFM removed frequencies */
	const float *feature_target; /* (B, N, D) BootMAE: the momentum encoder's patch features */
	const int32_t *labels;    /* (B) class ids, or NULL; SupMAE's decoder needs them */
	const float *contrast_target; /* (B, D) CMAE: the EMA teacher's pooled feature */
} mae_batch;

/* Build (arenas allocated, weights zero) or free a model. Returns NULL with err on a bad config. */
mae_model *mae_model_new(const mae_config *c, char *err, size_t n);
void mae_model_free(mae_model *m);
/* MAE's initialisation (METHODS 1.8), seeded: mae_rng_seed(&r, seed, 0, 0, "init"). */
void mae_model_init(mae_model *m, uint64_t seed);
const mae_param_info *mae_model_find(const mae_model *m, const char *name);
void mae_model_zero_grad(mae_model *m);

/* The batch's token layout only (m->B, S_enc, T_enc, ntok, Npred), from its mask or windows:
 * what a stage checks the shapes of its inputs (latent, pred) against before it hands them to
 * a stage below. Returns 0, or -1 with a message in m->err. The stages compute it themselves. */
int mae_model_layout(mae_model *m, const mae_batch *b);

/* Stages. Each returns 0, or -1 with a message in m->err (bad shapes, unequal visible counts,
 * windows out of range). */
int mae_encoder_forward(mae_model *m, const mae_batch *b);
/* latent: m->ea.out, shape (S_enc, T_enc, D) (cls first in every sequence) */
int mae_decoder_forward(mae_model *m, const float *latent, const mae_batch *b);
/* pred: m->pred, shape (B, Npred, Pt); with feat_depth also pred_feat: m->pred_feat (B, N, D).
 * pred_feat below is NULL without feat_depth. With sup_classes the decoder forward also sets the
 * branch's term m->sup_loss (it fails without b->labels or with a label outside
 * [0, sup_classes)); the loss forward does not add it (mae-loss and mae_model_step do). With
 * cl_dim it sets m->cl_loss the same way (it fails without b->contrast_target). */
int mae_loss_forward(mae_model *m, const float *pred, const float *pred_feat, const mae_batch *b,
                     float *loss);
/* -> m->dpred, and m->dpred_feat with feat_depth */
int mae_loss_backward(mae_model *m, const float *pred, const float *pred_feat, const mae_batch *b);
/* -> m->dlatent: the pixel decoder's, plus the feature decoder's (dpred_feat) with feat_depth,
 * plus the classification branch's with sup_classes */
int mae_decoder_backward(mae_model *m, const float *dpred, const float *dpred_feat, const mae_batch *b);
int mae_encoder_backward(mae_model *m, const float *dlatent, const mae_batch *b);

/* All of it: forward through the loss (returns it, plus m->sup_loss, plus m->cl_loss, in *loss), then, if
 * grads, backward. */
int mae_model_step(mae_model *m, const mae_batch *b, float *loss, int grads);

/* Encoder outputs for mae-encode: cls-to-patch attention of the last block, mean over heads,
 * scattered to patch positions (hidden patches 0): attn (B, N). feature (B, D): cls token
 * (pool 0) or mean of the patch tokens (pool 1) of the final LayerNorm output. */
void mae_model_cls_attention(const mae_model *m, float *attn);
void mae_model_feature(const mae_model *m, float *feature, int pool);
/* Frozen use only: make the latent (m->ea.out) the output of encoder block `block` (1..depth)
 * through the encoder's final LayerNorm, as DINO reads intermediate layers; block = depth is
 * what the forward gave. Returns -1 with err if block is out of range. */
int mae_encoder_readout(mae_model *m, int block);

/* FLOPs of one training step (forward + backward, FMA = 2) for a batch shape, for benchmarks. */
double mae_model_step_flops(const mae_model *m, int B);

#endif
