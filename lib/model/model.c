/* model.c: configurations, the parameter layout (names, shapes, arenas) and MAE's
 * initialisation. The forward and backward passes are in model_forward.c (stages) and
 * model_stack.c (the transformer blocks). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"
#include "model/model_internal.h"

/* ---------------------------------------------------------------------------------------
 * Configurations */

static const struct preset {
	const char *name;
	int img, channels, patch, dim, depth, heads, dec_dim, dec_depth, dec_heads, window, nwindows;
} presets[] = {
	/* encoders as timm/DeiT (tiny, small) and MAE (base, large, huge); MAE's 512x8 decoder */
	{ "vit-tiny", 224, 3, 16, 192, 12, 3, 512, 8, 16, 7, 4 },
	{ "vit-small", 224, 3, 16, 384, 12, 6, 512, 8, 16, 7, 4 },
	{ "vit-base", 224, 3, 16, 768, 12, 12, 512, 8, 16, 7, 4 },
	{ "vit-large", 224, 3, 16, 1024, 24, 16, 512, 8, 16, 7, 4 },
	{ "vit-huge", 224, 3, 14, 1280, 32, 16, 512, 8, 16, 8, 4 },
	/* Fashion-MNIST sized: 7x7 patches of 4x4 pixels (METHODS 6.4's light decoder) */
	{ "tiny-28", 28, 1, 4, 192, 12, 3, 128, 2, 4, 4, 2 },
	{ "small-28", 28, 1, 4, 128, 6, 4, 64, 2, 4, 4, 2 },
	/* a minute model for unit and parity tests: 4x4 grid of 7x7 patches */
	{ "micro-28", 28, 1, 7, 32, 2, 2, 32, 1, 2, 2, 2 },
};

static void seterr(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
	if (!err || !n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

int mae_config_preset(mae_config *c, const char *name)
{
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
		const struct preset *p = &presets[i];
		if (strcmp(p->name, name))
			continue;
		memset(c, 0, sizeof *c);
		snprintf(c->name, sizeof c->name, "%s", name);
		c->mode = MAE_MODE_MAE;
		c->img_h = c->img_w = p->img;
		c->channels = p->channels, c->patch = p->patch;
		c->dim = p->dim, c->depth = p->depth, c->heads = p->heads;
		c->dec_dim = p->dec_dim, c->dec_depth = p->dec_depth, c->dec_heads = p->dec_heads;
		c->mlp_ratio = 4;
		c->pos = 1;
		c->loss = MAE_LOSS_NORMPIX;
		c->window = p->window, c->nwindows = p->nwindows;
		c->mask_ratio = 0.75f;
		c->ln_eps = 1e-6f;
		c->feat_weight = 1.0f;
		/* SupMAE's constants (METHODS 5.7), used once sup_classes turns the branch on */
		c->sup_classes = 0;
		c->sup_weight = 0.01f;
		c->sup_temp = 10.0f;
		/* CMAE's temperature and weight, used once cl_dim turns the branch on */
		c->cl_dim = 0;
		c->cl_weight = 1.0f;
		c->cl_temp = 0.07f;
		c->frames = c->tubelet = 1;
		return 0;
	}
	return -1;
}

static const char *mode_names[] = { "mae", "simmim", "lomar", "mfm" };
static const char *loss_names[] = { "normpix", "mse", "l1", "freq", "normtube" };
static const char *pos_names[] = { "none", "sincos", "sinusoid" };

const char *mae_mode_name(int mode) { return mode >= 0 && mode < 4 ? mode_names[mode] : "?"; }
const char *mae_loss_name(int loss) { return loss >= 0 && loss < 5 ? loss_names[loss] : "?"; }

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* The integer settings, their place and range: read by mae_config_set, listed by mae_config_fields */
static const struct { const char *key; size_t off; int lo, hi; } ints[] = {
	{ "img_h", offsetof(mae_config, img_h), 1, 16384 },
	{ "img_w", offsetof(mae_config, img_w), 1, 16384 },
	{ "channels", offsetof(mae_config, channels), 1, 64 },
	{ "patch", offsetof(mae_config, patch), 1, 1024 },
	{ "dim", offsetof(mae_config, dim), 1, 65536 },
	{ "depth", offsetof(mae_config, depth), 1, 1024 },
	{ "heads", offsetof(mae_config, heads), 1, 1024 },
	{ "dec_dim", offsetof(mae_config, dec_dim), 1, 65536 },
	{ "dec_depth", offsetof(mae_config, dec_depth), 1, 1024 },
	{ "dec_heads", offsetof(mae_config, dec_heads), 1, 1024 },
	{ "mlp_ratio", offsetof(mae_config, mlp_ratio), 1, 64 },
	{ "pos", offsetof(mae_config, pos), 0, 2 },
	{ "window", offsetof(mae_config, window), 1, 1024 },
	{ "nwindows", offsetof(mae_config, nwindows), 1, 1024 },
	{ "target_dim", offsetof(mae_config, target_dim), 0, 1 << 20 },
	{ "sup_classes", offsetof(mae_config, sup_classes), 0, 1 << 20 },
	{ "feat_depth", offsetof(mae_config, feat_depth), 0, 1024 },
	{ "cl_dim", offsetof(mae_config, cl_dim), 0, 65536 },
	{ "frames", offsetof(mae_config, frames), 1, 4096 },
	{ "tubelet", offsetof(mae_config, tubelet), 1, 64 },
	{ "bf16", offsetof(mae_config, bf16), 0, 1 },   /* last: files from before it lack it */
};

/* The real settings: place, range [lo, hi] with an open end where open_lo / open_hi */
static const struct { const char *key; size_t off; double lo, hi; int open_lo, open_hi; } reals[] = {
	{ "mask_ratio", offsetof(mae_config, mask_ratio), 0, 1, 0, 1 },
	{ "ln_eps", offsetof(mae_config, ln_eps), 0, 1, 1, 1 },
	{ "sup_weight", offsetof(mae_config, sup_weight), 0, 1e6, 0, 0 },
	{ "sup_temp", offsetof(mae_config, sup_temp), 0, 1e6, 1, 0 },
	{ "feat_weight", offsetof(mae_config, feat_weight), 0, 1e6, 0, 0 },
	{ "cl_weight", offsetof(mae_config, cl_weight), 0, 1e6, 0, 0 },
	{ "cl_temp", offsetof(mae_config, cl_temp), 0, 1e6, 1, 0 },
};

int mae_config_fields(const mae_config *c, char key[MAE_CONFIG_NFIELDS][16], char val[MAE_CONFIG_NFIELDS][32])
{
	int n = 0;
#define FIELD(k, ...) (snprintf(key[n], 16, "%s", k), snprintf(val[n], 32, __VA_ARGS__), n++)
	FIELD("mode", "%s", mae_mode_name(c->mode));
	FIELD("loss", "%s", mae_loss_name(c->loss));
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		FIELD(ints[i].key, "%d", *(const int *)((const char *)c + ints[i].off));
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
		FIELD(reals[i].key, "%.9g", (double)*(const float *)((const char *)c + reals[i].off));
#undef FIELD
	return n;
}

int mae_config_set(mae_config *c, const char *key, const char *val, char *err, size_t n)
{
	if (!strcmp(key, "mode")) {
		for (int i = 0; i < 4; i++)
			if (!strcmp(val, mode_names[i]))
				return c->mode = i, 0;
		seterr(err, n, "mode '%s': expected mae, simmim, lomar or mfm", val);
		return -1;
	}
	if (!strcmp(key, "loss")) {
		for (int i = 0; i < 5; i++)
			if (!strcmp(val, loss_names[i]))
				return c->loss = i, 0;
		seterr(err, n, "loss '%s': expected normpix, mse, l1, freq or normtube", val);
		return -1;
	}
	for (int i = 0; i < 3; i++)   /* pos by name; its number is read with the integers */
		if (!strcmp(key, "pos") && !strcmp(val, pos_names[i]))
			return c->pos = i, 0;
	if (!strcmp(key, "img")) {
		if (parse_int(val, 1, 16384, &c->img_h) == 0) {
			c->img_w = c->img_h;
			return 0;
		}
		seterr(err, n, "img '%s': expected an integer in [1, 16384]", val);
		return -1;
	}
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
		if (strcmp(key, reals[i].key))
			continue;
		char *end;
		double v = strtod(val, &end);
		if (!*val || *end || !(reals[i].open_lo ? v > reals[i].lo : v >= reals[i].lo) ||
		    !(reals[i].open_hi ? v < reals[i].hi : v <= reals[i].hi)) {
			seterr(err, n, "%s '%s': expected a number in %c%g, %g%c", key, val, reals[i].open_lo ? '(' : '[',
			       reals[i].lo, reals[i].hi, reals[i].open_hi ? ')' : ']');
			return -1;
		}
		*(float *)((char *)c + reals[i].off) = (float)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (!strcmp(key, ints[i].key)) {
			if (parse_int(val, ints[i].lo, ints[i].hi, (int *)((char *)c + ints[i].off)) == 0)
				return 0;
			seterr(err, n, "%s '%s': expected an integer in [%d, %d]", key, val, ints[i].lo, ints[i].hi);
			return -1;
		}
	seterr(err, n, "unknown model setting '%s'", key);
	return -1;
}

int mae_config_parse(mae_config *c, const char *spec, char *err, size_t n)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", spec);
	char *save = NULL, *tok = strtok_r(buf, ",", &save);
	if (!tok || mae_config_preset(c, tok) != 0) {
		seterr(err, n, "unknown model '%s' (vit-tiny, vit-small, vit-base, vit-large, vit-huge, "
		       "tiny-28, small-28, micro-28)", tok ? tok : "");
		return -1;
	}
	int loss_set = 0, pos_set = 0;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			seterr(err, n, "model setting '%s': expected key=value", tok);
			return -1;
		}
		*eq = 0;
		if (mae_config_set(c, tok, eq + 1, err, n) != 0)
			return -1;
		loss_set |= !strcmp(tok, "loss");
		pos_set |= !strcmp(tok, "pos");
	}
	/* each method's own defaults unless overridden (METHODS 2.1, 5.2, 5.3) */
	if (!loss_set)
		c->loss = c->mode == MAE_MODE_SIMMIM ? MAE_LOSS_L1 : c->mode == MAE_MODE_MFM ? MAE_LOSS_FREQ
		                                                                             : MAE_LOSS_NORMPIX;
	if (!pos_set)
		c->pos = c->mode != MAE_MODE_LOMAR;
	return mae_config_check(c, err, n);
}

int mae_config_check(const mae_config *c, char *err, size_t n)
{
	if (c->mode < 0 || c->mode > 3 || c->loss < 0 || c->loss > 4)
		return seterr(err, n, "bad mode or loss"), -1;
	if (c->bf16 && !mae_bf16_available())
		return seterr(err, n, "bf16=1: this build or CPU has no AVX512_BF16 (build with -march=native on a "
		              "CPU with avx512_bf16); use bf16=0"), -1;
	if (c->frames % c->tubelet)
		return seterr(err, n, "frames %d is not a multiple of tubelet %d", c->frames, c->tubelet), -1;
	if (c->frames > 1 && (c->mode == MAE_MODE_LOMAR || c->mode == MAE_MODE_MFM))
		return seterr(err, n, "frames %d: clips need mode mae or simmim (%s works on one image)",
		              c->frames, mae_mode_name(c->mode)), -1;
	int three_d = c->pos == MAE_POS_SINCOS && c->frames / c->tubelet > 1;
	if (three_d && (c->dim % 16 || (c->mode == MAE_MODE_MAE && c->dec_dim % 16)))
		return seterr(err, n, "the 3-D sin-cos position embedding of clips needs dim and dec_dim "
		              "multiples of 16 (have %d, %d; or pos=sinusoid)", c->dim, c->dec_dim), -1;
	if (c->img_h % c->patch || c->img_w % c->patch)
		return seterr(err, n, "image %dx%d is not a multiple of patch %d", c->img_h, c->img_w, c->patch), -1;
	if (c->dim % c->heads)
		return seterr(err, n, "dim %d is not a multiple of heads %d", c->dim, c->heads), -1;
	if (c->pos && c->dim % 4)
		return seterr(err, n, "dim %d: the sin-cos position embedding needs a multiple of 4", c->dim), -1;
	if (c->mode == MAE_MODE_MAE) {
		if (c->dec_dim % c->dec_heads)
			return seterr(err, n, "dec_dim %d is not a multiple of dec_heads %d", c->dec_dim, c->dec_heads), -1;
		if (c->dec_dim % 4)
			return seterr(err, n, "dec_dim %d: the sin-cos position embedding needs a multiple of 4", c->dec_dim), -1;
	}
	if (c->mode == MAE_MODE_LOMAR) {
		int gh = c->img_h / c->patch, gw = c->img_w / c->patch;
		if (c->window > gh || c->window > gw)
			return seterr(err, n, "window %d is larger than the %dx%d patch grid", c->window, gh, gw), -1;
	}
	if (c->loss == MAE_LOSS_FREQ && c->target_dim)
		return seterr(err, n, "target_dim %d: the frequency loss compares images, not a target of "
		              "its own width", c->target_dim), -1;
	if (c->feat_depth && c->mode != MAE_MODE_MAE)
		return seterr(err, n, "feat_depth %d: the feature decoder (BootMAE) is a second MAE decoder; "
		              "it needs mode mae, not %s", c->feat_depth, mae_mode_name(c->mode)), -1;
	if (c->sup_classes && c->mode != MAE_MODE_MAE)
		return seterr(err, n, "sup_classes %d: SupMAE's branch pools MAE's visible tokens: it needs mode mae, "
		              "not %s", c->sup_classes, mae_mode_name(c->mode)), -1;
	if (c->cl_dim && c->mode != MAE_MODE_MAE)
		return seterr(err, n, "cl_dim %d: CMAE's contrastive branch pools MAE's visible tokens: it needs mode "
		              "mae, not %s", c->cl_dim, mae_mode_name(c->mode)), -1;
	if (c->loss == MAE_LOSS_FREQ && c->mode == MAE_MODE_LOMAR)
		return seterr(err, n, "the frequency loss needs whole images, not LoMaR windows"), -1;
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Layout: two passes over the same description. Pass 0 counts floats and tensors; pass 1 hands
 * out pointers into the arenas and records the state-dict table; a third run over the grads
 * arena fills m->g with the same offsets. */

typedef struct layout {
	mae_model *m;
	float *base, *fbase;      /* arenas being pointed into (NULL while counting) */
	size_t np, nf;            /* floats handed out so far */
	int record;               /* fill m->tensors */
	int nt;                   /* tensors seen */
	int group;
} layout;

static float *take(layout *L, size_t n, int fixed)
{
	size_t *cur = fixed ? &L->nf : &L->np;
	float *b = fixed ? L->fbase : L->base;
	float *p = b ? b + *cur : NULL;
	*cur += n;
	return p;
}

/* One tensor of the state dict: its name (fmt, with %d the layer when layer >= 0), rank and
 * shape (up to 5: VideoMAE's Conv3d weight). */
static void entry_shape(layout *L, float *p, int fixed, const char *fmt, int layer, int ndim,
                        const int64_t *s)
{
	int k = L->nt++;
	if (!L->record || !p)
		return;
	mae_param_info *t = &L->m->tensors[k];
	if (layer >= 0)
		snprintf(t->name, sizeof t->name, fmt, layer);
	else {
		size_t k = strlen(fmt) < sizeof t->name ? strlen(fmt) : sizeof t->name - 1;
		memcpy(t->name, fmt, k);
		t->name[k] = 0;
	}
	t->ndim = ndim;
	t->numel = 1;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = s[i], t->numel *= (size_t)s[i];
	t->data = p;
	t->offset = (size_t)(p - (fixed ? L->fbase : L->base));
	t->trainable = !fixed;
	size_t nl = strlen(t->name);
	/* timm add_weight_decay: no decay for 1-d tensors and biases (METHODS 1.9) */
	t->decay = !fixed && ndim > 1 && !(nl >= 5 && !strcmp(t->name + nl - 5, ".bias"));
	t->group = L->group;
}

/* the same for the tensors of rank 4 at most, the shape's unused places 0 */
static void entry(layout *L, float *p, int fixed, const char *fmt, int layer, int ndim,
                  int64_t s0, int64_t s1, int64_t s2, int64_t s3)
{
	entry_shape(L, p, fixed, fmt, layer, ndim, (const int64_t[4]){ s0, s1, s2, s3 });
}

static void stack_layout(layout *L, mae_stack_w *w, const char *pre, const char *norm,
                         int depth, int C, int heads, int mlp, int NB)
{
	int H4 = C * mlp, HS = C / heads;
	w->ln1_w = take(L, (size_t)depth * C, 0), w->ln1_b = take(L, (size_t)depth * C, 0);
	w->qkv_w = take(L, (size_t)depth * 3 * C * C, 0), w->qkv_b = take(L, (size_t)depth * 3 * C, 0);
	w->proj_w = take(L, (size_t)depth * C * C, 0), w->proj_b = take(L, (size_t)depth * C, 0);
	w->rpe = NB ? take(L, (size_t)depth * HS * NB, 0) : NULL;
	w->ln2_w = take(L, (size_t)depth * C, 0), w->ln2_b = take(L, (size_t)depth * C, 0);
	w->fc1_w = take(L, (size_t)depth * H4 * C, 0), w->fc1_b = take(L, (size_t)depth * H4, 0);
	w->fc2_w = take(L, (size_t)depth * C * H4, 0), w->fc2_b = take(L, (size_t)depth * C, 0);
	w->norm_w = take(L, C, 0), w->norm_b = take(L, C, 0);
	char f[96];
#define OFF(p, n) ((p) ? (p) + (size_t)l * (n) : NULL)
	for (int l = 0; l < depth; l++) {
		snprintf(f, sizeof f, "%s.%%d.norm1.weight", pre), entry(L, OFF(w->ln1_w, C), 0, f, l, 1, C, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.norm1.bias", pre), entry(L, OFF(w->ln1_b, C), 0, f, l, 1, C, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.attn.qkv.weight", pre), entry(L, OFF(w->qkv_w, 3 * C * C), 0, f, l, 2, 3 * C, C, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.attn.qkv.bias", pre), entry(L, OFF(w->qkv_b, 3 * C), 0, f, l, 1, 3 * C, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.attn.proj.weight", pre), entry(L, OFF(w->proj_w, C * C), 0, f, l, 2, C, C, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.attn.proj.bias", pre), entry(L, OFF(w->proj_b, C), 0, f, l, 1, C, 0, 0, 0);
		if (NB) {
			/* iRPE contextual table shared by the heads: (1, head_dim, buckets) */
			snprintf(f, sizeof f, "%s.%%d.attn.rpe_k.lookup_table_weight", pre);
			entry(L, OFF(w->rpe, HS * NB), 0, f, l, 3, 1, HS, NB, 0);
		}
		snprintf(f, sizeof f, "%s.%%d.norm2.weight", pre), entry(L, OFF(w->ln2_w, C), 0, f, l, 1, C, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.norm2.bias", pre), entry(L, OFF(w->ln2_b, C), 0, f, l, 1, C, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.mlp.fc1.weight", pre), entry(L, OFF(w->fc1_w, H4 * C), 0, f, l, 2, H4, C, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.mlp.fc1.bias", pre), entry(L, OFF(w->fc1_b, H4), 0, f, l, 1, H4, 0, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.mlp.fc2.weight", pre), entry(L, OFF(w->fc2_w, C * H4), 0, f, l, 2, C, H4, 0, 0);
		snprintf(f, sizeof f, "%s.%%d.mlp.fc2.bias", pre), entry(L, OFF(w->fc2_b, C), 0, f, l, 1, C, 0, 0, 0);
	}
#undef OFF
	snprintf(f, sizeof f, "%s.weight", norm), entry(L, w->norm_w, 0, f, -1, 1, C, 0, 0, 0);
	snprintf(f, sizeof f, "%s.bias", norm), entry(L, w->norm_b, 0, f, -1, 1, C, 0, 0, 0);
}

/* The body of an MAE decoder (the pixel decoder, BootMAE's feature decoder): the embedding
 * from the encoder's width, the mask token, the fixed sin-cos position embedding and the
 * blocks with their LayerNorm, named by names: embed, mask token, pos, blocks, norm. Returns
 * the position table (in fixed), or NULL while counting. */
static float *decoder_layout(layout *L, float **embed_w, float **embed_b, float **mask, mae_stack_w *st,
                             int depth, const char *const names[5])
{
	const mae_config *c = &L->m->cfg;
	int D = c->dim, Dd = c->dec_dim, N = L->m->N;
	char f[96];
	*embed_w = take(L, (size_t)Dd * D, 0);
	snprintf(f, sizeof f, "%s.weight", names[0]), entry(L, *embed_w, 0, f, -1, 2, Dd, D, 0, 0);
	*embed_b = take(L, Dd, 0);
	snprintf(f, sizeof f, "%s.bias", names[0]), entry(L, *embed_b, 0, f, -1, 1, Dd, 0, 0, 0);
	*mask = take(L, Dd, 0);
	entry(L, *mask, 0, names[1], -1, 3, 1, 1, Dd, 0);
	float *pos = take(L, (size_t)(1 + N) * Dd, 1);
	entry(L, pos, 1, names[2], -1, 3, 1, 1 + N, Dd, 0);
	stack_layout(L, st, names[3], names[4], depth, Dd, c->dec_heads, c->mlp_ratio, 0);
	return L->fbase ? pos : NULL;
}

/* Linear(in, H) -> BatchNorm1d(H) -> ReLU -> Linear(H, out) as nn.Sequential `pre` (CMAE) */
static void bnmlp_layout(layout *L, mae_bnmlp_w *w, const char *pre, int in, int H, int out)
{
	char f[96];
	w->w1 = take(L, (size_t)H * in, 0);
	snprintf(f, sizeof f, "%s.0.weight", pre), entry(L, w->w1, 0, f, -1, 2, H, in, 0, 0);
	w->b1 = take(L, H, 0);
	snprintf(f, sizeof f, "%s.0.bias", pre), entry(L, w->b1, 0, f, -1, 1, H, 0, 0, 0);
	w->bn_w = take(L, H, 0);
	snprintf(f, sizeof f, "%s.1.weight", pre), entry(L, w->bn_w, 0, f, -1, 1, H, 0, 0, 0);
	w->bn_b = take(L, H, 0);
	snprintf(f, sizeof f, "%s.1.bias", pre), entry(L, w->bn_b, 0, f, -1, 1, H, 0, 0, 0);
	w->w2 = take(L, (size_t)out * H, 0);
	snprintf(f, sizeof f, "%s.3.weight", pre), entry(L, w->w2, 0, f, -1, 2, out, H, 0, 0);
	w->b2 = take(L, out, 0);
	snprintf(f, sizeof f, "%s.3.bias", pre), entry(L, w->b2, 0, f, -1, 1, out, 0, 0, 0);
}

static void do_layout(layout *L, mae_weights *w)
{
	mae_model *m = L->m;
	const mae_config *c = &m->cfg;
	int D = c->dim, N = m->N, P = m->P, p = c->patch;
	memset(w, 0, sizeof *w);
	L->group = 0;
	w->cls = take(L, D, 0);
	entry(L, w->cls, 0, "cls_token", -1, 3, 1, 1, D, 0);
	if (c->pos) {
		float *pos = take(L, (size_t)(1 + N) * D, 1);
		entry(L, pos, 1, "pos_embed", -1, 3, 1, 1 + N, D, 0);
		if (L->fbase)
			m->pos = pos;
	}
	w->patch_w = take(L, (size_t)D * P, 0);
	/* MAE's Conv2d (D, c, p, p), or for tubelets VideoMAE's Conv3d (D, c, t, p, p) */
	if (c->tubelet > 1)
		entry_shape(L, w->patch_w, 0, "patch_embed.proj.weight", -1, 5,
		            (const int64_t[5]){ D, c->channels, c->tubelet, p, p });
	else
		entry(L, w->patch_w, 0, "patch_embed.proj.weight", -1, 4, D, c->channels, p, p);
	w->patch_b = take(L, D, 0);
	entry(L, w->patch_b, 0, "patch_embed.proj.bias", -1, 1, D, 0, 0, 0);
	if (c->mode == MAE_MODE_SIMMIM || c->mode == MAE_MODE_LOMAR) {
		w->enc_mask = take(L, D, 0);
		entry(L, w->enc_mask, 0, "mask_token", -1, 3, 1, 1, D, 0);
	}
	stack_layout(L, &w->enc, "blocks", "norm", c->depth, D, c->heads, c->mlp_ratio, m->NB);
	m->n_enc = L->np;
	L->group = 1;
	int Dh = D;
	if (c->mode == MAE_MODE_MAE) {
		int Dd = c->dec_dim;
		Dh = Dd;
		static const char *const names[5] = { "decoder_embed", "mask_token", "decoder_pos_embed",
		                                      "decoder_blocks", "decoder_norm" };
		float *dpos = decoder_layout(L, &w->dec_embed_w, &w->dec_embed_b, &w->dec_mask, &w->dec,
		                             c->dec_depth, names);
		if (dpos)
			m->dec_pos = dpos;
	}
	int Pt = m->Pt;   /* the head predicts the target's width */
	w->pred_w = take(L, (size_t)Pt * Dh, 0);
	entry(L, w->pred_w, 0, "decoder_pred.weight", -1, 2, Pt, Dh, 0, 0);
	w->pred_b = take(L, Pt, 0);
	entry(L, w->pred_b, 0, "decoder_pred.bias", -1, 1, Pt, 0, 0, 0);
	if (c->feat_depth) {
		/* BootMAE's feature decoder: the pixel decoder's shape, a head of the encoder's width,
		 * as a PyTorch submodule `feature_decoder` (after decoder_pred: the pixel model's
		 * layout is that of MAE) */
		static const char *const names[5] = { "feature_decoder.embed", "feature_decoder.mask_token",
		                                      "feature_decoder.pos_embed", "feature_decoder.blocks",
		                                      "feature_decoder.norm" };
		int Dd = c->dec_dim;
		float *fpos = decoder_layout(L, &w->feat_embed_w, &w->feat_embed_b, &w->feat_mask, &w->feat,
		                             c->feat_depth, names);
		if (fpos)
			m->feat_pos = fpos;
		w->feat_pred_w = take(L, (size_t)D * Dd, 0);
		entry(L, w->feat_pred_w, 0, "feature_decoder.pred.weight", -1, 2, D, Dd, 0, 0);
		w->feat_pred_b = take(L, D, 0);
		entry(L, w->feat_pred_b, 0, "feature_decoder.pred.bias", -1, 1, D, 0, 0, 0);
	}
	/* The decoder group's order after decoder_pred is fixed: BootMAE's feature_decoder.*
	 * first, then SupMAE's head.*, then CMAE's projector.* and predictor.* (any may be absent) */
	if (c->sup_classes) {
		/* SupMAE's head, an nn.Sequential(Linear, BatchNorm1d, ReLU, Linear): its state-dict
		 * names (head.0, head.1, head.3) are those of such a module; BatchNorm1d keeps no
		 * running statistics here (batch statistics only), so there are no buffers */
		int Hs = c->mlp_ratio * D, K = c->sup_classes;
		w->head_w1 = take(L, (size_t)Hs * D, 0);
		entry(L, w->head_w1, 0, "head.0.weight", -1, 2, Hs, D, 0, 0);
		w->head_b1 = take(L, Hs, 0);
		entry(L, w->head_b1, 0, "head.0.bias", -1, 1, Hs, 0, 0, 0);
		w->head_bn_w = take(L, Hs, 0);
		entry(L, w->head_bn_w, 0, "head.1.weight", -1, 1, Hs, 0, 0, 0);
		w->head_bn_b = take(L, Hs, 0);
		entry(L, w->head_bn_b, 0, "head.1.bias", -1, 1, Hs, 0, 0, 0);
		w->head_w2 = take(L, (size_t)K * Hs, 0);
		entry(L, w->head_w2, 0, "head.3.weight", -1, 2, K, Hs, 0, 0);
		w->head_b2 = take(L, K, 0);
		entry(L, w->head_b2, 0, "head.3.bias", -1, 1, K, 0, 0, 0);
	}
	if (c->cl_dim) {
		/* CMAE's projector and predictor; BatchNorm1d with batch statistics only, as SupMAE's */
		int Hs = c->mlp_ratio * D;
		bnmlp_layout(L, &w->cl_proj, "projector", D, Hs, c->cl_dim);
		bnmlp_layout(L, &w->cl_pred, "predictor", c->cl_dim, Hs, D);
	}
}

/* One fixed position table (1 + N, D), the cls row zeros: MAE's 2-D sin-cos for images, the
 * 3-D one for clips, or VideoMAE's 1-D sinusoid (cfg.pos). */
static void pos_table(const mae_model *m, float *out, int D)
{
	if (m->cfg.pos == MAE_POS_SINUSOID)
		mae_pos_embed_sinusoid(out, D, m->N, 1);
	else if (m->gt > 1)
		mae_pos_embed_sincos_3d(out, D, m->gt, m->gh, m->gw, 1);
	else
		mae_pos_embed_sincos(out, D, m->gh, m->gw, 1);
}

static void fill_pos_tables(mae_model *m)
{
	if (m->pos)
		pos_table(m, m->pos, m->cfg.dim);
	if (m->dec_pos)
		pos_table(m, m->dec_pos, m->cfg.dec_dim);
	if (m->feat_pos)
		pos_table(m, m->feat_pos, m->cfg.dec_dim);
}

mae_model *mae_model_new(const mae_config *c, char *err, size_t n)
{
	if (mae_config_check(c, err, n) != 0)
		return NULL;
	mae_model *m = mae_calloc(1, sizeof *m);
	m->cfg = *c;
	m->gt = mae_config_grid_t(c), m->gh = mae_config_grid_h(c), m->gw = mae_config_grid_w(c);
	m->N = mae_config_npatch(c);
	m->P = mae_config_pdim(c);
	m->Pt = mae_config_tdim(c);
	m->NB = c->mode == MAE_MODE_LOMAR ? 50 : 0;   /* 7*7 product buckets + 1 for the cls */
	m->gelu_keep_mb = 32;
	m->attn_keep_mb = 64;
	m->chunk_rows = STACK_CHUNK_ROWS;
	layout L = { .m = m };
	mae_weights w;
	do_layout(&L, &w);                            /* count */
	m->n_params = L.np, m->n_fixed = L.nf, m->ntensors = L.nt;
	m->params = mae_alloc_aligned((m->n_params ? m->n_params : 1) * sizeof(float));
	m->grads = mae_alloc_aligned((m->n_params ? m->n_params : 1) * sizeof(float));
	m->fixed = mae_alloc_aligned((m->n_fixed ? m->n_fixed : 1) * sizeof(float));
	memset(m->params, 0, m->n_params * sizeof(float));
	memset(m->grads, 0, m->n_params * sizeof(float));
	m->tensors = mae_calloc((size_t)m->ntensors, sizeof *m->tensors);
	layout L1 = { .m = m, .base = m->params, .fbase = m->fixed, .record = 1 };
	do_layout(&L1, &m->w);
	layout L2 = { .m = m, .base = m->grads, .fbase = NULL, .record = 0 };
	do_layout(&L2, &m->g);
	fill_pos_tables(m);
	return m;
}

void mae_model_free(mae_model *m)
{
	if (!m)
		return;
	free(m->params), free(m->grads), free(m->fixed), free(m->tensors);
	mae_stack_free(&m->ea), mae_stack_free(&m->da), mae_stack_free(&m->fa);
	free(m->idx), free(m->tmask), free(m->xp), free(m->emb), free(m->wperm), free(m->dwperm);
	free(m->dec_y), free(m->pred_full), free(m->pred), free(m->dpred), free(m->dlatent);
	free(m->target), free(m->lmask), free(m->sup), free(m->cl);
	free(m->feat_y), free(m->feat_full), free(m->pred_feat), free(m->dpred_feat);
	if (m->freq) {
		mae_freq_loss_free(m->freq);
		free(m->freq);
	}
	free(m);
}

const mae_param_info *mae_model_find(const mae_model *m, const char *name)
{
	for (int i = 0; i < m->ntensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

void mae_model_zero_grad(mae_model *m)
{
	memset(m->grads, 0, m->n_params * sizeof(float));
}

/* ---------------------------------------------------------------------------------------
 * MAE's initialize_weights (METHODS 1.8) */

static void xavier(mae_rng *r, float *w, size_t rows, size_t cols, int layers)
{
	/* torch xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
	float a = sqrtf(6.0f / (float)(rows + cols));
	for (size_t i = 0; i < (size_t)layers * rows * cols; i++)
		w[i] = (float)((2.0 * mae_rng_uniform(r) - 1.0) * a);
}

static void fill(float *w, size_t n, float v)
{
	for (size_t i = 0; i < n; i++)
		w[i] = v;
}

static void init_stack(mae_rng *r, mae_stack_w *w, int L, int C, int mlp)
{
	size_t H4 = (size_t)C * mlp;
	fill(w->ln1_w, (size_t)L * C, 1.0f), fill(w->ln2_w, (size_t)L * C, 1.0f), fill(w->norm_w, C, 1.0f);
	/* each layer's matrix is its own nn.Linear: fans are per layer, not of the stack */
	xavier(r, w->qkv_w, 3 * (size_t)C, C, L);
	xavier(r, w->proj_w, C, C, L);
	xavier(r, w->fc1_w, H4, C, L);
	xavier(r, w->fc2_w, C, H4, L);
	/* biases, LN biases and the iRPE tables (zeros in iRPE) stay 0 from the arena memset */
}

void mae_model_init(mae_model *m, uint64_t seed)
{
	const mae_config *c = &m->cfg;
	mae_rng r;
	mae_rng_seed(&r, seed, 0, 0, "init");
	memset(m->params, 0, m->n_params * sizeof(float));
	int D = c->dim, P = m->P;
	/* patch_embed: xavier on the (D, c*p*p) view; the conv bias keeps torch's default
	 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) because MAE's init only touches Linear and LN */
	xavier(&r, m->w.patch_w, D, P, 1);
	float bb = 1.0f / sqrtf((float)P);
	for (int i = 0; i < D; i++)
		m->w.patch_b[i] = (float)((2.0 * mae_rng_uniform(&r) - 1.0) * bb);
	for (int i = 0; i < D; i++)
		m->w.cls[i] = (float)(0.02 * mae_rng_normal(&r));
	if (m->w.enc_mask)
		for (int i = 0; i < D; i++)
			m->w.enc_mask[i] = (float)(0.02 * mae_rng_normal(&r));
	init_stack(&r, &m->w.enc, c->depth, D, c->mlp_ratio);
	int Dh = D;
	if (c->mode == MAE_MODE_MAE) {
		int Dd = c->dec_dim;
		Dh = Dd;
		xavier(&r, m->w.dec_embed_w, Dd, D, 1);
		for (int i = 0; i < Dd; i++)
			m->w.dec_mask[i] = (float)(0.02 * mae_rng_normal(&r));
		init_stack(&r, &m->w.dec, c->dec_depth, Dd, c->mlp_ratio);
	}
	xavier(&r, m->w.pred_w, m->Pt, Dh, 1);
	if (c->feat_depth) {   /* drawn after the rest: a model without it is initialised as before */
		int Dd = c->dec_dim;
		xavier(&r, m->w.feat_embed_w, Dd, D, 1);
		for (int i = 0; i < Dd; i++)
			m->w.feat_mask[i] = (float)(0.02 * mae_rng_normal(&r));
		init_stack(&r, &m->w.feat, c->feat_depth, Dd, c->mlp_ratio);
		xavier(&r, m->w.feat_pred_w, D, Dd, 1);
	}
	if (c->sup_classes) {   /* after the feature decoder, in the layout's order */
		/* the head is the model's nn.Linear and BatchNorm1d: xavier, zero biases (MAE's
		 * _init_weights), BatchNorm weight 1 and bias 0 (torch's default) [??] */
		int Hs = c->mlp_ratio * D;
		xavier(&r, m->w.head_w1, Hs, D, 1);
		fill(m->w.head_bn_w, Hs, 1.0f);
		xavier(&r, m->w.head_w2, c->sup_classes, Hs, 1);
	}
	if (c->cl_dim) {   /* after the head, in the layout's order; the same init as the head's */
		int Hs = c->mlp_ratio * D;
		mae_bnmlp_w *pw[2] = { &m->w.cl_proj, &m->w.cl_pred };
		int in[2] = { D, c->cl_dim }, out[2] = { c->cl_dim, D };
		for (int i = 0; i < 2; i++) {
			xavier(&r, pw[i]->w1, Hs, in[i], 1);
			fill(pw[i]->bn_w, Hs, 1.0f);
			xavier(&r, pw[i]->w2, out[i], Hs, 1);
		}
	}
	fill_pos_tables(m);
}

/* ---------------------------------------------------------------------------------------
 * Cost model for the benchmark: multiply-adds counted twice, backward twice the forward */

static double stack_flops(int S, int T, int C, int L, int mlp, int NB, int heads)
{
	double tok = (double)S * T;
	double lin = 2.0 * tok * (double)C * C * (4 + 2 * mlp);   /* qkv, proj, fc1, fc2 */
	double att = 4.0 * tok * T * C;                             /* QK^T and PV */
	if (NB)
		att += 2.0 * tok * NB * ((double)C / heads) * heads;     /* q R per head */
	return L * (lin + att);
}

double mae_model_step_flops(const mae_model *m, int B)
{
	const mae_config *c = &m->cfg;
	int N = m->N, P = m->P, D = c->dim;
	double f = 0;
	if (c->mode == MAE_MODE_MAE) {
		int Nk = N - (int)(N * c->mask_ratio);
		int Dd = c->dec_dim;
		f += 2.0 * B * Nk * P * D;                                      /* patch embed */
		f += stack_flops(B, 1 + Nk, D, c->depth, c->mlp_ratio, 0, c->heads);
		f += 2.0 * B * (1 + Nk) * D * Dd;                               /* decoder embed */
		f += stack_flops(B, 1 + N, Dd, c->dec_depth, c->mlp_ratio, 0, c->dec_heads);
		f += 2.0 * B * (1 + N) * Dd * m->Pt;                            /* pred */
		if (c->feat_depth)                                              /* BootMAE */
			f += 2.0 * B * (1 + Nk) * D * Dd + 2.0 * B * (1 + N) * Dd * D +
			     stack_flops(B, 1 + N, Dd, c->feat_depth, c->mlp_ratio, 0, c->dec_heads);
		f += 2.0 * B * c->mlp_ratio * D * (D + c->sup_classes) * (c->sup_classes > 0);  /* head */
		f += 4.0 * B * c->mlp_ratio * D * (D + c->cl_dim) * (c->cl_dim > 0);            /* CMAE */
	} else {
		int S = B, T = N;
		if (c->mode == MAE_MODE_LOMAR)
			S = B * c->nwindows, T = c->window * c->window;
		f += 2.0 * S * T * P * D;
		f += stack_flops(S, 1 + T, D, c->depth, c->mlp_ratio, m->NB, c->heads);
		f += 2.0 * S * (1 + T) * D * m->Pt;
	}
	return 3.0 * f;
}
