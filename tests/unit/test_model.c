/* test_model.c: the whole model in every mode on a minute configuration: parameter gradients
 * against central finite differences of the loss, the state-dict table, the optimiser (a fixed
 * batch must be learned), and clear errors on malformed batches. PyTorch parity is in
 * tests/model-parity.t. Prints TAP; exits 1 on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "mae/kernels/kernels.h"
#include "mae/model/model.h"
#include "mae/train/optim.h"


static unsigned long long rs = 0x9E3779B97F4A7C15ULL;
static double urand(void)
{
	rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
	return (rs >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct fixture {
	mae_model *m;
	mae_batch b;
	float *patches, *target;
	uint8_t *mask, *fmask;
	int32_t *windows;
} fixture;

static int keep_mb = 0;     /* mae_model.gelu_keep_mb for the next fixture */
static int chunk = 2048;    /* mae_model.chunk_rows for the next fixture */
static int attn_mb = 64;    /* mae_model.attn_keep_mb for the next fixture */

static fixture make(const char *spec, int B)
{
	fixture f = { 0 };
	char err[256];
	mae_config c;
	if (mae_config_parse(&c, spec, err, sizeof err) != 0) {
		printf("Bail out! %s: %s\n", spec, err);
		exit(1);
	}
	f.m = mae_model_new(&c, err, sizeof err);
	f.m->gelu_keep_mb = keep_mb;
	f.m->chunk_rows = chunk;
	f.m->attn_keep_mb = attn_mb;
	mae_model_init(f.m, 7);
	/* the init leaves biases, LN affine and iRPE tables at 0/1; perturb every parameter so
	 * each gradient path carries signal */
	for (size_t i = 0; i < f.m->n_params; i++)
		f.m->params[i] += (float)((urand() - 0.5) * 0.1);
	int N = f.m->N, P = f.m->P;
	f.patches = malloc(sizeof(float) * B * N * P);
	f.target = malloc(sizeof(float) * B * N * P);
	for (int i = 0; i < B * N * P; i++)
		f.patches[i] = (float)(urand() * 2 - 1), f.target[i] = (float)(urand() * 2 - 1);
	f.mask = calloc((size_t)B * N, 1);
	for (int s = 0; s < B; s++)        /* MAE needs equal visible counts: hide 12 of 16 */
		for (int k = 0; k < N; k++)
			f.mask[s * N + k] = ((k * 5 + s * 3) % N) < N * 3 / 4;
	f.windows = malloc(sizeof(int32_t) * B * c.nwindows * 2);
	for (int i = 0; i < B * c.nwindows; i++)
		f.windows[2 * i] = i % (f.m->gh - c.window + 1), f.windows[2 * i + 1] = (i * 7 / 3) % (f.m->gw - c.window + 1);
	f.fmask = malloc((size_t)B * c.img_h * c.img_w);
	for (int i = 0; i < B * c.img_h * c.img_w; i++)
		f.fmask[i] = urand() < 0.5;
	f.b = (mae_batch){ .B = B, .patches = f.patches, .mask = f.mask, .windows = f.windows };
	if (c.mode == MAE_MODE_MFM)
		f.b.target = f.target, f.b.fmask = f.fmask, f.b.mask = NULL;
	return f;
}

static void drop(fixture *f)
{
	mae_model_free(f->m);
	free(f->patches), free(f->target), free(f->mask), free(f->fmask), free(f->windows);
}

static double loss_of(fixture *f)
{
	float l;
	if (mae_model_step(f->m, &f->b, &l, 0) != 0) {
		printf("Bail out! %s\n", f->m->err);
		exit(1);
	}
	return l;
}

/* Two elements of every tensor: analytic gradient vs central difference. */
static void gradcheck(const char *spec)
{
	fixture f = make(spec, 3);
	mae_model *m = f.m;
	float l0;
	mae_model_zero_grad(m);
	mae_model_step(m, &f.b, &l0, 1);
	float *g = malloc(m->n_params * sizeof(float));
	memcpy(g, m->grads, m->n_params * sizeof(float));
	int bad = 0, checked = 0;
	double worst = 0;
	char where[96] = "";
	for (int t = 0; t < m->ntensors; t++) {
		const mae_param_info *ti = &m->tensors[t];
		if (!ti->trainable)
			continue;
		for (int k = 0; k < 2; k++) {
			size_t i = (size_t)(urand() * ti->numel);
			float *p = ti->data + i, save = *p;
			const float eps = 3e-3f;
			*p = save + eps;
			double lp = loss_of(&f);
			*p = save - eps;
			double lm = loss_of(&f);
			*p = save;
			double fd = (lp - lm) / (2 * eps), an = g[ti->offset + i];
			double err = fabs(fd - an) / (fabs(fd) + fabs(an) + 2e-3);
			checked++;
			if (err > worst)
				worst = err, snprintf(where, sizeof where, "%s[%zu] fd %.3g grad %.3g", ti->name, i, fd, an);
			bad += err > 3e-2;
		}
	}
	ok(bad == 0, "%s: %d parameter gradients vs finite differences (worst %.2g: %s)", spec, checked, worst, where);
	free(g);
	drop(&f);
}

static void learns(const char *spec)
{
	fixture f = make(spec, 4);
	mae_optim o;
	mae_optim_init(&o, f.m->n_params);
	o.lr = 3e-3, o.warmup = 5, o.total = 60, o.clip = 1.0;
	float first = 0, last = 0;
	for (int it = 0; it < 60; it++) {
		double gn;
		if (mae_train_step(f.m, &o, &f.b, &last, &gn) != 0) {
			printf("Bail out! %s\n", f.m->err);
			exit(1);
		}
		if (it == 0)
			first = last;
	}
	ok(last < 0.7f * first && isfinite(last), "%s: 60 AdamW steps on one batch lower the loss %.4f -> %.4f", spec, first, last);
	mae_optim_free(&o);
	drop(&f);
}

static void test_table(void)
{
	mae_config c;
	char err[256];
	mae_config_parse(&c, "vit-base", err, sizeof err);
	mae_model *m = mae_model_new(&c, err, sizeof err);
	const mae_param_info *pe = mae_model_find(m, "patch_embed.proj.weight");
	const mae_param_info *qkv = mae_model_find(m, "blocks.11.attn.qkv.weight");
	const mae_param_info *pred = mae_model_find(m, "decoder_pred.weight");
	const mae_param_info *pos = mae_model_find(m, "decoder_pos_embed");
	const mae_param_info *mt = mae_model_find(m, "mask_token");
	const mae_param_info *b1 = mae_model_find(m, "decoder_blocks.7.mlp.fc1.bias");
	ok(pe && pe->ndim == 4 && pe->shape[0] == 768 && pe->shape[1] == 3 && pe->shape[3] == 16 &&
	   qkv && qkv->shape[0] == 2304 && pred && pred->shape[0] == 768 && pred->shape[1] == 512 &&
	   pos && !pos->trainable && pos->shape[1] == 197 && mt && mt->decay && mt->group == 1 &&
	   b1 && !b1->decay && mae_model_find(m, "blocks.12.norm1.weight") == NULL,
	   "vit-base state dict: names, shapes, decay groups");
	/* MAE ViT-B pretraining model: 111.9M parameters incl. the fixed pos embeds (ColorMAE) */
	double total = (double)(m->n_params + m->n_fixed);
	ok(fabs(total - 111.9e6) < 0.1e6 && m->n_enc < m->n_params, "vit-base MAE has %.2fM parameters (111.9M)", total / 1e6);
	mae_model_init(m, 1);
	const mae_param_info *cls = mae_model_find(m, "cls_token");
	double s2 = 0;
	for (size_t i = 0; i < cls->numel; i++)
		s2 += cls->data[i] * cls->data[i];
	double bound = sqrt(6.0 / (768 + 2304)), mx = 0;
	for (size_t i = 0; i < qkv->numel; i++)
		mx = fmax(mx, fabs(qkv->data[i]));
	ok(fabs(sqrt(s2 / cls->numel) - 0.02) < 0.003 && mx <= bound && mx > 0.99 * bound,
	   "init: cls_token std %.4f (0.02), qkv xavier bound %.4f (max %.4f)", sqrt(s2 / cls->numel), bound, mx);
	mae_model_free(m);
	ok(mae_config_parse(&c, "vit-tiny,mode=lomar", err, sizeof err) == 0 && c.pos == 0 && c.loss == MAE_LOSS_NORMPIX &&
	   mae_config_parse(&c, "vit-tiny,mode=simmim", err, sizeof err) == 0 && c.loss == MAE_LOSS_L1 && c.pos == 1,
	   "mode defaults: LoMaR has no absolute position, SimMIM uses L1");
	ok(mae_config_parse(&c, "vit-tiny,heads=5", err, sizeof err) == -1 && strstr(err, "multiple of heads"),
	   "bad override is refused: %s", err);
}

static void test_errors(void)
{
	fixture f = make("micro-28", 2);
	f.mask[0] = !f.mask[0];
	float l;
	ok(mae_model_step(f.m, &f.b, &l, 0) == -1 && strstr(f.m->err, "visible patches"),
	   "MAE refuses unequal visible counts: %s", f.m->err);
	drop(&f);
	f = make("micro-28,mode=lomar", 2);
	f.windows[1] = 3;
	ok(mae_model_step(f.m, &f.b, &l, 0) == -1 && strstr(f.m->err, "does not fit"), "LoMaR refuses a window off the grid: %s", f.m->err);
	drop(&f);
}

/* mae-encode's extras: cls-to-patch attention at patch positions, pooled features */
static void test_outputs(void)
{
	fixture f = make("micro-28", 3);
	mae_model *m = f.m;
	float loss;
	mae_model_step(m, &f.b, &loss, 0);
	int N = m->N, D = m->cfg.dim, B = 3;
	float *attn = calloc((size_t)B * N, sizeof(float)), *feat = calloc((size_t)B * D, sizeof(float));
	mae_model_cls_attention(m, attn);
	int good = 1;
	for (int b = 0; b < B; b++) {
		double sum = 0;
		for (int l = 0; l < N; l++) {
			good &= f.mask[b * N + l] ? attn[b * N + l] == 0.0f : attn[b * N + l] > 0.0f;
			sum += attn[b * N + l];
		}
		good &= sum > 0.05 && sum < 1.0;   /* the rest of the cls row is its attention to itself */
	}
	ok(good, "cls attention: positive on visible patches, 0 on hidden ones, row sums below 1");
	mae_model_feature(m, feat, 0);
	int same = !memcmp(feat + D, m->ea.out + (size_t)m->T_enc * D, (size_t)D * sizeof(float));
	mae_model_feature(m, feat, 1);
	double mean = 0;
	for (int t = 1; t < m->T_enc; t++)
		mean += m->ea.out[(size_t)(2 * m->T_enc + t) * D + 5];
	mean /= m->T_enc - 1;
	ok(same && fabs(feat[2 * D + 5] - mean) < 1e-6, "features: cls token, and the mean of the patch tokens");
	free(attn), free(feat);
	drop(&f);
}

static void test_schedule(void)
{
	mae_optim o;
	mae_optim_init(&o, 1);
	o.lr = 1.0, o.warmup = 10, o.total = 110;
	ok(fabs(mae_optim_lr(&o, 5) - 0.5) < 1e-12 && fabs(mae_optim_lr(&o, 10) - 1.0) < 1e-12 &&
	   fabs(mae_optim_lr(&o, 60) - 0.5) < 1e-12 && fabs(mae_optim_lr(&o, 110)) < 1e-12,
	   "schedule: linear warm-up then half cosine");
	float g[2] = { 3, 4 };
	double n = mae_grad_clip(g, 2, 1.0);
	ok(n == 5.0 && fabs(g[0] - 0.6) < 1e-6 && fabs(g[1] - 0.8) < 1e-6, "gradient clipping to norm 1");
	/* one AdamW step by hand: m = 0.1 g, v = 0.05 g^2, bias-corrected step = lr * sign(g) */
	mae_param_info t[2] = { { .numel = 1, .offset = 0, .trainable = 1, .decay = 1 },
	                        { .numel = 1, .offset = 1, .trainable = 1, .decay = 0 } };
	mae_optim o2;
	mae_optim_init(&o2, 2);
	float p[2] = { 1.0f, 1.0f }, gg[2] = { 0.5f, 0.5f };
	mae_optim_update(&o2, p, gg, t, 2, 0.1);
	ok(fabs(p[0] - (1.0 * (1 - 0.1 * 0.05) - 0.1)) < 1e-6 && fabs(p[1] - 0.9) < 1e-6,
	   "AdamW step with and without decay (%.6f %.6f)", p[0], p[1]);
	mae_optim_free(&o), mae_optim_free(&o2);
}

int main(void)
{
	mae_threads_init(0);
	test_table();
	test_schedule();
	test_outputs();
	gradcheck("micro-28");
	gradcheck("micro-28,mode=simmim,loss=mse");   /* L1's kinks defeat differences; its kernel is checked alone */
	gradcheck("micro-28,mode=lomar");
	gradcheck("micro-28,mode=mfm");
	gradcheck("micro-28,loss=mse");
	keep_mb = 256;                  /* GELU outputs kept instead of recomputed in backward, */
	attn_mb = 0;                    /* attention probabilities recomputed instead of kept, */
	chunk = 10;                     /* and the stacks run in chunks of 2, 2, ..., then 1 windows */
	gradcheck("micro-28,mode=lomar,depth=1");
	keep_mb = 0;
	gradcheck("micro-28");          /* decoder chunks of 1 image (17 tokens > 10) */
	chunk = 2048;
	attn_mb = 64;
	learns("micro-28");
	learns("micro-28,mode=simmim");
	learns("micro-28,mode=lomar");
	learns("micro-28,mode=mfm");
	test_errors();
	return done();
}
