/* test_model_checkpoint.c: safetensors checkpoints: round trips of model and optimiser state,
 * the on-disk layout, and refusal of every kind of malformed file with a clear message.
 * Prints TAP; exits 1 on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fuzz/check_safetensors.h"
#include "mutate.h"
#include "tap.h"
#include "mae/train/checkpoint.h"
#include "mae/model/model.h"
#include "mae/train/optim.h"
#include "mae/train/train.h"


/* a safetensors image from a header text and n data bytes */
static size_t build(unsigned char *out, const char *header, size_t ndata)
{
	size_t hn = strlen(header);
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(hn >> (8 * i));
	memcpy(out + 8, header, hn);
	memset(out + 8 + hn, 0, ndata);
	return 8 + hn + ndata;
}

static void refuses(const char *header, size_t ndata, const char *needle, const char *what)
{
	unsigned char buf[1024];
	size_t n = build(buf, header, ndata);
	mae_st_file f;
	char err[300] = "";
	int rc = mae_st_parse(&f, buf, n, err, sizeof err);
	ok(rc == -1 && strstr(err, needle), "refuses %s: %s", what, err);
	if (rc == 0)
		mae_st_free(&f);
}

/* Fuzz: mutate the header of a small, valid MAE checkpoint; every result must keep the rules
 * of check_safetensors.h (make asan runs this under ASan and UBSan; make fuzz runs the same
 * rules under libFuzzer). */
static void fuzz_reader(const char *dir)
{
	char path[256], err[300];
	snprintf(path, sizeof path, "%s/fuzz.safetensors", dir);
	mae_config c;
	mae_config_parse(&c, "micro-28,dim=8,depth=1,heads=2,dec_dim=8,dec_depth=1,dec_heads=2", err, sizeof err);
	mae_model *m = mae_model_new(&c, err, sizeof err);
	mae_model_init(m, 5);
	mae_st_file f;
	if (mae_checkpoint_save(m, path, NULL, 0, err, sizeof err) != 0 || mae_st_read(&f, path, err, sizeof err) != 0) {
		ok(0, "fuzz seed: %s", err);
		mae_model_free(m);
		return;
	}
	mae_model_free(m);
	size_t n = f.size, hn = 0;
	for (int i = 0; i < 8; i++)
		hn |= (size_t)((unsigned char *)f.buf)[i] << (8 * i);
	unsigned char *b = mae_malloc(n + 64);
	mae_rng rng;
	mae_rng_seed(&rng, 2, 0, 0, "fuzz");
	long iters = 0, count[3] = { 0 }, broken = 0;
	char why[300] = "";
	double budget = fuzz_budget(), t0 = mae_now();
	while (mae_now() - t0 < budget) {
		memcpy(b, f.buf, n);
		size_t len = mutate(b, n, n + 60, 8 + hn, &rng);
		iters++;
		int rc = check_safetensors(b, len, why, sizeof why);
		if (rc == ST_BROKEN)
			broken++;
		else
			count[rc]++;
	}
	ok(count[ST_REFUSED] > 0 && count[ST_LOADED] > 0 && !broken,
	   "fuzz: %ld mutated checkpoints, %ld accepted (%ld loaded into a model), %ld refused with a message, "
	   "%ld breaking the rules%s%s", iters, count[ST_ACCEPTED] + count[ST_LOADED], count[ST_LOADED],
	   count[ST_REFUSED], broken, broken ? ": " : "", broken ? why : "");
	free(b);
	mae_st_free(&f);
}

/* Every field of a configuration survives the trips a run makes: its spec (what the parameter
 * server hands the stages that join it) parsed again, and a checkpoint's metadata read back.
 * The fields are compared as mae_config_fields lists them, so a field the list grows is checked. */
static int same_fields(const mae_config *a, const mae_config *b, char *which, size_t n)
{
	char ka[MAE_CONFIG_NFIELDS][16], va[MAE_CONFIG_NFIELDS][32], kb[MAE_CONFIG_NFIELDS][16], vb[MAE_CONFIG_NFIELDS][32];
	int na = mae_config_fields(a, ka, va), nb = mae_config_fields(b, kb, vb);
	for (int i = 0; i < na && i < nb; i++)
		if (strcmp(ka[i], kb[i]) || strcmp(va[i], vb[i])) {
			snprintf(which, n, "%s=%s against %s=%s", ka[i], va[i], kb[i], vb[i]);
			return 0;
		}
	snprintf(which, n, "%d fields", na);
	return na == nb && na == MAE_CONFIG_NFIELDS;
}

static void test_config_round_trips(const char *dir)
{
	static const char *specs[] = {
		"micro-28", "micro-28,ln_eps=1e-5,mask_ratio=0.6", "micro-28,mode=lomar,window=3,nwindows=5",
		"micro-28,mode=simmim,loss=mse,pos=0", "micro-28,mode=mfm,img=56,patch=14,mlp_ratio=2",
		"tiny-28", "small-28", "vit-tiny", "vit-base,ln_eps=1e-5,dec_depth=4",
		"micro-28,feat_depth=2,feat_weight=0.25",
	};
	char err[300], spec[1024], which[200], path[256];
	snprintf(path, sizeof path, "%s/cfg.safetensors", dir);
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		mae_config c, back;
		if (mae_config_parse(&c, specs[i], err, sizeof err) != 0) {
			ok(0, "%s: %s", specs[i], err);
			continue;
		}
		mae_config_spec(&c, spec, sizeof spec);
		ok(mae_config_parse(&back, spec, err, sizeof err) == 0 && same_fields(&c, &back, which, sizeof which),
		   "%s: its spec parses to the same configuration (%s)", specs[i], which);
		if (strncmp(specs[i], "micro-28", 8))
			continue;   /* checkpoints of the small model only */
		mae_model *m = mae_model_new(&c, err, sizeof err);
		mae_st_file f;
		int saved = m && mae_checkpoint_save(m, path, NULL, 0, err, sizeof err) == 0 &&
		            mae_st_read(&f, path, err, sizeof err) == 0;
		ok(saved && mae_checkpoint_config(&f, NULL, &back, err, sizeof err) == 0 &&
		   same_fields(&c, &back, which, sizeof which), "%s: a checkpoint's metadata reads back the same (%s)",
		   specs[i], which);
		if (saved)
			mae_st_free(&f);
		mae_model_free(m);
	}
	mae_config c, back;
	mae_config_parse(&c, "micro-28,ln_eps=1e-5", err, sizeof err);
	mae_config_spec(&c, spec, sizeof spec);
	mae_config_parse(&back, spec, err, sizeof err);
	ok(strstr(spec, ",ln_eps=") && back.ln_eps == c.ln_eps && c.ln_eps != 1e-6f,
	   "ln_eps reaches the stages that build from the spec: %s", spec);
	unlink(path);
}

int main(void)
{
	char dir[] = "/tmp/mae-ckpt-XXXXXX", path[256], opath[256], err[300];
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/m.safetensors", dir);
	snprintf(opath, sizeof opath, "%s/m.optim.safetensors", dir);
	test_config_round_trips(dir);

	mae_config c;
	mae_config_parse(&c, "micro-28,mode=lomar,dim=36,heads=3", err, sizeof err);
	mae_model *m = mae_model_new(&c, err, sizeof err);
	mae_model_init(m, 3);
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += (float)i * 1e-7f;   /* distinct values everywhere, rpe tables included */
	const char *extra[] = { "epoch", "3", "note", "quote \" and \\ and \n" };
	ok(mae_checkpoint_save(m, path, extra, 2, err, sizeof err) == 0, "save %s", err);

	mae_st_file f;
	ok(mae_st_read(&f, path, err, sizeof err) == 0, "read back and validate");
	uint64_t hn = 0;
	for (int i = 7; i >= 0; i--)
		hn = hn << 8 | ((unsigned char *)f.buf)[i];
	ok((8 + hn) % 64 == 0, "data section starts 64-byte aligned (header %llu bytes)", (unsigned long long)hn);
	const mae_st_tensor *pe = mae_st_get(&f, "patch_embed.proj.weight");
	const mae_st_tensor *rpe = mae_st_get(&f, "blocks.1.attn.rpe_k.lookup_table_weight");
	ok(pe && pe->ndim == 4 && pe->shape[0] == 36 && pe->shape[1] == 1 && pe->shape[2] == 7 && rpe &&
	   rpe->shape[0] == 1 && rpe->shape[1] == 12 && rpe->shape[2] == 50 && f.n == m->ntensors,
	   "PyTorch names and shapes (%d tensors)", f.n);
	ok(mae_st_meta(&f, "note") && !strcmp(mae_st_meta(&f, "note"), "quote \" and \\ and \n") &&
	   !strcmp(mae_st_meta(&f, "mode"), "lomar") && !strcmp(mae_st_meta(&f, "dim"), "36"),
	   "metadata: config and escaped extra strings");
	mae_st_free(&f);

	mae_model *m2 = mae_checkpoint_load(path, NULL, err, sizeof err);
	ok(m2 && m2->cfg.mode == MAE_MODE_LOMAR && m2->cfg.dim == 36 && m2->cfg.pos == 0 && m2->n_params == m->n_params &&
	   !memcmp(m2->params, m->params, m->n_params * sizeof(float)), "load gives the same config and bit-identical weights");
	mae_model_free(m2);
	m2 = mae_checkpoint_load(path, "mode=mae", err, sizeof err);
	ok(!m2 && strstr(err, "missing tensor"), "loading into another mode fails strictly: %s", err);
	m2 = mae_checkpoint_load(path, "dim=40,heads=4", err, sizeof err);
	ok(!m2 && strstr(err, "expected F32 [1,1,40], got F32 [1,1,36]"), "shape mismatch named: %s", err);

	/* optimiser state */
	mae_optim o, o2;
	mae_optim_init(&o, m->n_params);
	mae_optim_init(&o2, m->n_params);
	for (size_t i = 0; i < m->n_params; i++)
		o.m[i] = (float)i, o.v[i] = (float)(2 * i);
	o.step = 1234, o.warmup = 40, o.total = 800, o.clip = 3.0, o.lr = 2.4e-3;
	ok(mae_optim_save(&o, m, opath, NULL, 0, err, sizeof err) == 0 && mae_optim_load(&o2, m, opath, NULL, err, sizeof err) == 0 &&
	   o2.step == 1234 && o2.warmup == 40 && o2.total == 800 && o2.clip == 3.0 && o2.lr == 2.4e-3 &&
	   !memcmp(o.m, o2.m, m->n_params * 4) && !memcmp(o.v, o2.v, m->n_params * 4), "optimiser state round trip");
	ok(mae_optim_load(&o2, m, path, NULL, err, sizeof err) == -1 && strstr(err, "not an optimiser"), "a model file is not optimiser state: %s", err);
	mae_optim_free(&o), mae_optim_free(&o2);

	/* atomic write: no temporary left behind, and a failed write leaves the old file */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls -A %s | grep -c tmp", dir);
	FILE *p = popen(cmd, "r");
	int ntmp = -1;
	if (p) {
		if (fscanf(p, "%d", &ntmp) != 1)
			ntmp = -1;
		pclose(p);
	}
	ok(ntmp == 0, "no temporary files left");
	snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
	ok(mae_checkpoint_save(m, path, NULL, 0, err, sizeof err) == -1 && strstr(err, "temporary"), "unwritable path: %s", err);
	mae_model_free(m);

	/* malformed files */
	unsigned char tiny[4] = { 1, 2, 3, 4 };
	mae_st_file g;
	ok(mae_st_parse(&g, tiny, 4, err, sizeof err) == -1 && strstr(err, "too short"), "refuses a 4-byte file: %s", err);
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "offsets", "data past the end");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "12 bytes", "size != shape x dtype");
	refuses("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype", "an unknown dtype");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "holes", "a hole");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4 of the 8", "trailing data");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	        8, "duplicate key", "duplicate names");
	refuses("{\"__metadata__\":{\"x\":1}}", 0, "must be strings", "non-string metadata");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape", "a negative dimension");
	refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "JSON", "broken JSON");
	refuses("[1,2]", 0, "start with", "a non-object header");
	unsigned char big[16] = { 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, '{', '}' };
	ok(mae_st_parse(&g, big, 16, err, sizeof err) == -1 && strstr(err, "exceeds the limit"), "refuses a 2 GB header length: %s", err);
	/* escapes and unicode in names */
	unsigned char buf[256];
	size_t n = build(buf, "{\"caf\\u00e9\\ud83d\\ude00\\t\":{\"dtype\":\"U8\",\"shape\":[2,0],\"data_offsets\":[0,0]}}  ", 0);
	ok(mae_st_parse(&g, buf, n, err, sizeof err) == 0 && g.n == 1 && !strcmp(g.t[0].name, "caf\xc3\xa9\xf0\x9f\x98\x80\t"),
	   "JSON escapes, surrogate pairs, empty tensors, padding");
	if (g.buf)
		mae_st_free(&g);
	fuzz_reader(dir);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return done();
}
