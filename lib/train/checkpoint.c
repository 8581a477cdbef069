/* checkpoint.c: safetensors reading and writing, and the model/optimiser checkpoints on top
 * (see include/mae/train/checkpoint.h and man/man5/mae-checkpoint.5). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "train/json.h"
#include "mae/train/checkpoint.h"
#include "mae/util/util.h"

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	if (err && n) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---------------------------------------------------------------------------------------
 * Reading */

void mae_st_free(mae_st_file *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->t[i].name);
	for (int i = 0; i < f->nmeta; i++)
		free(f->mkey[i]), free(f->mval[i]);
	free(f->t), free(f->mkey), free(f->mval), free(f->buf);
	memset(f, 0, sizeof *f);
}

/* The CRC-32 of a data section as 8 hex digits (zlib's crc32 takes at most 4 GB a call). */
static void data_crc(const char *data, size_t n, char out[16])
{
	uLong c = crc32(0L, Z_NULL, 0);
	for (size_t at = 0; at < n;) {
		uInt k = n - at > (1u << 30) ? 1u << 30 : (uInt)(n - at);
		c = crc32(c, (const Bytef *)data + at, k);
		at += k;
	}
	snprintf(out, 16, "%08lx", (unsigned long)c);
}

static int by_offset(const void *a, const void *b)
{
	const mae_st_tensor *x = a, *y = b;
	const char *px = x->data, *py = y->data;
	return px < py ? -1 : px > py;
}

int mae_st_parse(mae_st_file *f, const void *src, size_t size, char *err, size_t errn)
{
	memset(f, 0, sizeof *f);
	if (size < 8)
		return fail(err, errn, "%zu bytes: too short for a safetensors header", size);
	const unsigned char *u = src;
	uint64_t hn = 0;
	for (int i = 7; i >= 0; i--)
		hn = hn << 8 | u[i];
	if (hn > MAE_ST_MAX_HEADER)
		return fail(err, errn, "header of %llu bytes exceeds the limit of %d", (unsigned long long)hn, MAE_ST_MAX_HEADER);
	if (hn > size - 8)
		return fail(err, errn, "header of %llu bytes runs past the end of the %zu-byte file", (unsigned long long)hn, size);
	if (hn == 0 || u[8] != '{')
		return fail(err, errn, "header does not start with '{'");
	f->buf = mae_malloc(size);
	memcpy(f->buf, src, size);
	f->size = size;
	const char *data = (const char *)f->buf + 8 + hn;
	size_t dlen = size - 8 - (size_t)hn;
	mae_json h;
	char jerr[200];
	if (mae_json_parse((const char *)f->buf + 8, (size_t)hn, &h, jerr, sizeof jerr) != 0) {
		mae_st_free(f);
		return fail(err, errn, "header: %s", jerr);
	}
	int rc = -1;
	if (h.type != JSON_OBJ) {
		fail(err, errn, "header is not a JSON object");
		goto out;
	}
	f->t = mae_calloc(h.n ? h.n : 1, sizeof *f->t);
	for (size_t i = 0; i < h.n; i++) {
		const char *name = h.k[i];
		const mae_json *e = &h.v[i];
		if (!strcmp(name, "__metadata__")) {
			if (e->type != JSON_OBJ) {
				fail(err, errn, "__metadata__ is not an object");
				goto out;
			}
			f->mkey = mae_calloc(e->n ? e->n : 1, sizeof(char *));
			f->mval = mae_calloc(e->n ? e->n : 1, sizeof(char *));
			for (size_t k = 0; k < e->n; k++) {
				if (e->v[k].type != JSON_STR) {
					fail(err, errn, "__metadata__ '%s': values must be strings", e->k[k]);
					goto out;
				}
				f->mkey[f->nmeta] = mae_strdup(e->k[k]);
				f->mval[f->nmeta++] = mae_strdup(e->v[k].s);
			}
			continue;
		}
		const mae_json *dt = mae_json_get(e, "dtype"), *sh = mae_json_get(e, "shape");
		const mae_json *off = mae_json_get(e, "data_offsets");
		if (e->type != JSON_OBJ || !dt || dt->type != JSON_STR || !sh || sh->type != JSON_ARR ||
		    !off || off->type != JSON_ARR || off->n != 2) {
			fail(err, errn, "tensor '%s': expected {dtype, shape, data_offsets}", name);
			goto out;
		}
		mae_st_tensor *t = &f->t[f->n];
		int d = mae_dtype_parse(dt->s, dt->slen);
		if (d < 0) {
			fail(err, errn, "tensor '%s': unknown dtype '%s'", name, dt->s);
			goto out;
		}
		if (sh->n > MAE_MAX_DIMS) {
			fail(err, errn, "tensor '%s': %zu dimensions (at most %d)", name, sh->n, MAE_MAX_DIMS);
			goto out;
		}
		t->dtype = (enum mae_dtype)d;
		t->ndim = (int)sh->n;
		/* numel in 128 bits worth of care: refuse anything that could overflow */
		unsigned long long numel = 1;
		for (size_t k = 0; k < sh->n; k++) {
			const mae_json *s = &sh->v[k];
			if (s->type != JSON_NUM || !s->is_int || s->i < 0 || s->i > MAE_MAX_DIM) {
				fail(err, errn, "tensor '%s': bad shape", name);
				goto out;
			}
			t->shape[k] = s->i;
			if (s->i && numel > (unsigned long long)dlen / (unsigned long long)s->i + 1) {
				fail(err, errn, "tensor '%s': shape larger than the file", name);
				goto out;
			}
			numel *= (unsigned long long)s->i;
		}
		const mae_json *b = &off->v[0], *en = &off->v[1];
		if (b->type != JSON_NUM || !b->is_int || en->type != JSON_NUM || !en->is_int || b->i < 0 ||
		    en->i < b->i || (uint64_t)en->i > dlen) {
			fail(err, errn, "tensor '%s': data_offsets outside the %zu data bytes", name, dlen);
			goto out;
		}
		unsigned long long want = numel * mae_dtype_size(t->dtype);
		if ((unsigned long long)(en->i - b->i) != want) {
			fail(err, errn, "tensor '%s': %lld data bytes for %s of %llu elements (%llu bytes)", name,
			     (long long)(en->i - b->i), mae_dtype_name(t->dtype), numel, want);
			goto out;
		}
		t->name = mae_strdup(name);
		t->data = data + b->i;
		t->nbytes = (size_t)want;
		f->n++;
	}
	/* contiguous, no holes or overlaps, covering the whole data section */
	mae_st_tensor *sorted = mae_malloc((f->n ? f->n : 1) * sizeof *sorted);
	memcpy(sorted, f->t, (size_t)f->n * sizeof *sorted);
	qsort(sorted, (size_t)f->n, sizeof *sorted, by_offset);
	size_t at = 0;
	for (int i = 0; i < f->n; i++) {
		size_t o = (size_t)((const char *)sorted[i].data - data);
		if (o != at) {
			fail(err, errn, "tensor '%s' starts at data byte %zu, expected %zu (holes or overlaps)",
			     sorted[i].name, o, at);
			free(sorted);
			goto out;
		}
		at += sorted[i].nbytes;
	}
	free(sorted);
	if (at != dlen) {
		fail(err, errn, "tensors cover %zu of the %zu data bytes", at, dlen);
		goto out;
	}
	/* maepipe's files carry the CRC-32 of their data: a bit flipped on disk is refused */
	const char *want_crc = mae_st_meta(f, MAE_ST_CRC_KEY);
	if (want_crc) {
		char got[16];
		data_crc(data, dlen, got);
		if (strcmp(got, want_crc)) {
			fail(err, errn, "data does not match its CRC-32 (%s, stored %.16s): the file is corrupt, "
			     "or another program changed its tensors and kept the metadata key '%s'", got, want_crc,
			     MAE_ST_CRC_KEY);
			goto out;
		}
	}
	rc = 0;
out:
	mae_json_free(&h);
	if (rc)
		mae_st_free(f);
	return rc;
}

int mae_st_read(mae_st_file *f, const char *path, char *err, size_t errn)
{
	memset(f, 0, sizeof *f);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return fail(err, errn, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(fp);
		return fail(err, errn, "%s: not a regular file", path);
	}
	size_t size = (size_t)st.st_size;
	void *buf = mae_malloc(size ? size : 1);
	if (fread(buf, 1, size, fp) != size) {
		fclose(fp);
		free(buf);
		return fail(err, errn, "%s: short read", path);
	}
	fclose(fp);
	char e2[300];
	int rc = mae_st_parse(f, buf, size, e2, sizeof e2);
	free(buf);
	if (rc)
		return fail(err, errn, "%s: %s", path, e2);
	return 0;
}

const mae_st_tensor *mae_st_get(const mae_st_file *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

const char *mae_st_meta(const mae_st_file *f, const char *key)
{
	for (int i = 0; i < f->nmeta; i++)
		if (!strcmp(f->mkey[i], key))
			return f->mval[i];
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Writing */

typedef struct sbuf { char *p; size_t n, cap; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = mae_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_put(b, tmp, (size_t)n);
}

static void sb_str(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			sb_put(b, e, 2);
		} else if (c < 0x20) {
			sb_fmt(b, "\\u%04x", c);
		} else {
			sb_put(b, (const char *)&c, 1);
		}
	}
	sb_put(b, "\"", 1);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w, n -= (size_t)w;
	}
	return 0;
}

/* Files written between mae_st_begin and mae_st_commit: complete and synced under their
 * temporary names, renamed together at the commit. */
static int staging, nstaged;
static struct { char *tmp, *path; } staged[8];

void mae_st_begin(void) { staging = 1; }

/* Rename a complete, synced temporary file over its final name, durably. */
static int commit_one(const char *tmp, const char *path, char *err, size_t errn)
{
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return fail(err, errn, "%s: %s", path, strerror(e));
	}
	/* make the rename itself durable */
	char *dup = mae_strdup(path);
	int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY);
	free(dup);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int mae_st_write(const char *path, const mae_st_tensor *t, int n, const char *const *meta,
                 int nmeta, char *err, size_t errn)
{
	sbuf h = { 0 };
	/* the CRC-32 of the data section, computed as the tensors will be laid out */
	uLong c = crc32(0L, Z_NULL, 0);
	for (int i = 0; i < n; i++)
		for (size_t at = 0; at < t[i].nbytes;) {
			uInt k = t[i].nbytes - at > (1u << 30) ? 1u << 30 : (uInt)(t[i].nbytes - at);
			c = crc32(c, (const Bytef *)t[i].data + at, k);
			at += k;
		}
	char crc[16];
	snprintf(crc, sizeof crc, "%08lx", (unsigned long)c);
	sb_put(&h, "{", 1);
	sb_str(&h, "__metadata__");
	sb_put(&h, ":{", 2);
	for (int i = 0; i < nmeta; i++) {
		sb_str(&h, meta[2 * i]);
		sb_put(&h, ":", 1);
		sb_str(&h, meta[2 * i + 1]);
		sb_put(&h, ",", 1);
	}
	sb_str(&h, MAE_ST_CRC_KEY);
	sb_put(&h, ":", 1);
	sb_str(&h, crc);
	sb_put(&h, "}", 1);
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		sb_put(&h, ",", 1);
		sb_str(&h, t[i].name);
		sb_fmt(&h, ":{\"dtype\":\"%s\",\"shape\":[", mae_dtype_name(t[i].dtype));
		for (int k = 0; k < t[i].ndim; k++)
			sb_fmt(&h, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
		sb_fmt(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
		off += t[i].nbytes;
	}
	sb_put(&h, "}", 1);
	/* spaces up to a 64-byte boundary for the data section (8 + N = 0 mod 64) */
	while ((h.n + 8) % 64)
		sb_put(&h, " ", 1);

	char *d1 = mae_strdup(path), *d2 = mae_strdup(path), tmp[4096];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dirname(d1), basename(d2));
	free(d1), free(d2);
	int fd = mkstemp(tmp);
	if (fd >= 0) {   /* mkstemp makes it private; a checkpoint is as readable as any file we write */
		mode_t um = umask(0);
		umask(um);
		fchmod(fd, 0666 & ~um);
	}
	if (fd < 0) {
		free(h.p);
		return fail(err, errn, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
	}
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
	int bad = write_all(fd, len, 8) || write_all(fd, h.p, h.n);
	for (int i = 0; i < n && !bad; i++)
		bad = write_all(fd, t[i].data, t[i].nbytes);
	free(h.p);
	if (!bad)
		bad = fsync(fd);
	int e = errno;
	if (close(fd) != 0 && !bad)
		bad = 1, e = errno;
	if (bad) {
		unlink(tmp);
		return fail(err, errn, "%s: %s", path, strerror(e));
	}
	if (staging) {   /* mae_st_commit renames it with the others */
		if (nstaged == (int)(sizeof staged / sizeof staged[0])) {
			unlink(tmp);
			return fail(err, errn, "%s: too many files in one commit", path);
		}
		staged[nstaged].tmp = mae_strdup(tmp);
		staged[nstaged++].path = mae_strdup(path);
		return 0;
	}
	return commit_one(tmp, path, err, errn);
}

int mae_st_commit(char *err, size_t errn)
{
	int rc = 0;
	staging = 0;
	for (int i = 0; i < nstaged; i++) {
		if (!rc)
			rc = commit_one(staged[i].tmp, staged[i].path, err, errn);
		else
			unlink(staged[i].tmp);
		free(staged[i].tmp);
		free(staged[i].path);
	}
	nstaged = 0;
	return rc;
}

/* ---------------------------------------------------------------------------------------
 * Model checkpoints */

#define NCFG (3 + MAE_CONFIG_NFIELDS)
static int config_meta(const mae_config *c, char kv[NCFG * 2][64])
{
	char key[MAE_CONFIG_NFIELDS][16], val[MAE_CONFIG_NFIELDS][32];
	int nf = mae_config_fields(c, key, val), n = 0;
#define KV(k, ...) (snprintf(kv[2 * n], 64, "%.63s", k), snprintf(kv[2 * n + 1], 64, __VA_ARGS__), n++)
	KV("format", "maepipe");
	KV("format_version", "1");
	KV("model", "%s", c->name);
	for (int i = 0; i < nf; i++)
		KV(key[i], "%.63s", val[i]);
#undef KV
	return n;
}

static int save_with_meta(const mae_st_tensor *t, int n, const mae_config *c, const char *path,
                          const char *const *extra, int nextra, char *err, size_t errn)
{
	char kv[NCFG * 2][64];
	int nk = config_meta(c, kv);
	const char **meta = mae_malloc(sizeof(char *) * 2 * (size_t)(nk + nextra + 1));
	for (int i = 0; i < nk; i++)
		meta[2 * i] = kv[2 * i], meta[2 * i + 1] = kv[2 * i + 1];
	for (int i = 0; i < nextra; i++)
		meta[2 * (nk + i)] = extra[2 * i], meta[2 * (nk + i) + 1] = extra[2 * i + 1];
	int rc = mae_st_write(path, t, n, meta, nk + nextra, err, errn);
	free(meta);
	return rc;
}

int mae_checkpoint_save(const mae_model *m, const char *path, const char *const *extra,
                        int nextra, char *err, size_t errn)
{
	mae_st_tensor *t = mae_calloc((size_t)m->ntensors, sizeof *t);
	for (int i = 0; i < m->ntensors; i++) {
		const mae_param_info *p = &m->tensors[i];
		t[i].name = (char *)p->name;
		t[i].dtype = MAE_F32;
		t[i].ndim = p->ndim;
		for (int k = 0; k < p->ndim; k++)
			t[i].shape[k] = p->shape[k];
		t[i].data = p->data;
		t[i].nbytes = p->numel * sizeof(float);
	}
	int rc = save_with_meta(t, m->ntensors, &m->cfg, path, extra, nextra, err, errn);
	free(t);
	return rc;
}

int mae_checkpoint_config(const mae_st_file *f, const char *spec_override, mae_config *c,
                          char *err, size_t errn)
{
	const char *fmt = mae_st_meta(f, "format");
	char spec[1024];
	if (!fmt || strcmp(fmt, "maepipe")) {
		if (!spec_override || !*spec_override)
			return fail(err, errn, "no maepipe configuration in the metadata; give the model "
			            "(e.g. vit-base or micro-28,mode=lomar)");
		return mae_config_parse(c, spec_override, err, errn);
	}
	const char *model = mae_st_meta(f, "model");
	if (!model || mae_config_preset(c, model) != 0)
		mae_config_preset(c, "vit-base");   /* every field is set from the metadata below */
	/* every field of the list; ln_eps, target_dim, the sup_* fields, feat_depth, feat_weight and
	 * the cl_* fields, frames, tubelet and bf16 are optional (files from before they were
	 * recorded keep the preset's values: 1e-6, 0, no SupMAE branch, no feature decoder, no CMAE
	 * branch, images, fp32) */
	char key[MAE_CONFIG_NFIELDS][16], val[MAE_CONFIG_NFIELDS][32];
	int nf = mae_config_fields(c, key, val);
	for (int i = 0; i < nf; i++) {
		const char *v = mae_st_meta(f, key[i]);
		if (!v && (!strcmp(key[i], "ln_eps") || !strcmp(key[i], "target_dim") || !strncmp(key[i], "sup_", 4) ||
		           !strncmp(key[i], "feat_", 5) || !strncmp(key[i], "cl_", 3) ||
		           !strcmp(key[i], "frames") || !strcmp(key[i], "tubelet") || !strcmp(key[i], "bf16")))
			continue;   /* the preset's */
		if (!v)
			return fail(err, errn, "metadata lacks '%s'", key[i]);
		char e2[200];
		if (mae_config_set(c, key[i], v, e2, sizeof e2) != 0)
			return fail(err, errn, "metadata: %s", e2);
	}
	if (spec_override && *spec_override) {
		snprintf(spec, sizeof spec, "%s", spec_override);
		char *save = NULL;
		for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq)
				return fail(err, errn, "override '%s': expected key=value", tok);
			*eq = 0;
			if (mae_config_set(c, tok, eq + 1, err, errn) != 0)
				return -1;
		}
	}
	return mae_config_check(c, err, errn);
}

static int shape_matches(const mae_st_tensor *t, const int64_t *shape, int ndim)
{
	if (t->ndim != ndim)
		return 0;
	for (int k = 0; k < ndim; k++)
		if (t->shape[k] != shape[k])
			return 0;
	return 1;
}

static void shape_str(char *o, size_t n, const int64_t *s, int nd)
{
	size_t at = (size_t)snprintf(o, n, "[");
	for (int k = 0; k < nd && at < n; k++)
		at += (size_t)snprintf(o + at, n - at, "%s%lld", k ? "," : "", (long long)s[k]);
	if (at < n)
		snprintf(o + at, n - at, "]");
}

int mae_checkpoint_load_into(mae_model *m, const mae_st_file *f, char *err, size_t errn)
{
	for (int i = 0; i < m->ntensors; i++) {
		const mae_param_info *p = &m->tensors[i];
		const mae_st_tensor *t = mae_st_get(f, p->name);
		if (!t)
			return fail(err, errn, "missing tensor '%s'", p->name);
		char want[96], got[96];
		shape_str(want, sizeof want, p->shape, p->ndim);
		shape_str(got, sizeof got, t->shape, t->ndim);
		if (t->dtype != MAE_F32 || !shape_matches(t, p->shape, p->ndim))
			return fail(err, errn, "tensor '%s': expected F32 %s, got %s %s", p->name, want,
			            mae_dtype_name(t->dtype), got);
		memcpy(p->data, t->data, t->nbytes);
	}
	for (int i = 0; i < f->n; i++)
		if (!mae_model_find(m, f->t[i].name))
			return fail(err, errn, "unexpected tensor '%s' for a %s model in mode %s", f->t[i].name,
			            m->cfg.name, mae_mode_name(m->cfg.mode));
	return 0;
}

mae_model *mae_checkpoint_load(const char *path, const char *spec_override, char *err, size_t errn)
{
	mae_st_file f;
	if (mae_st_read(&f, path, err, errn) != 0)
		return NULL;
	mae_config c;
	char e2[300];
	mae_model *m = NULL;
	if (mae_checkpoint_config(&f, spec_override, &c, e2, sizeof e2) != 0 ||
	    !(m = mae_model_new(&c, e2, sizeof e2)) || mae_checkpoint_load_into(m, &f, e2, sizeof e2) != 0) {
		fail(err, errn, "%s: %s", path, e2);
		mae_model_free(m);
		m = NULL;
	}
	mae_st_free(&f);
	return m;
}

/* ---------------------------------------------------------------------------------------
 * Optimiser state */

int mae_optim_save(const mae_optim *o, const mae_model *m, const char *path,
                   const char *const *extra, int nextra, char *err, size_t errn)
{
	int nt = 0;
	for (int i = 0; i < m->ntensors; i++)
		nt += m->tensors[i].trainable;
	mae_st_tensor *t = mae_calloc((size_t)(2 * nt + 1), sizeof *t);
	char (*names)[80] = mae_calloc((size_t)(2 * nt + 1), 80);
	int k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < m->ntensors; i++) {
			const mae_param_info *p = &m->tensors[i];
			if (!p->trainable)
				continue;
			snprintf(names[k], 80, "%s.%s", pass ? "exp_avg_sq" : "exp_avg", p->name);
			t[k].name = names[k];
			t[k].dtype = MAE_F32;
			t[k].ndim = p->ndim;
			memcpy(t[k].shape, p->shape, sizeof p->shape);
			t[k].data = (pass ? o->v : o->m) + p->offset;
			t[k].nbytes = p->numel * sizeof(float);
			k++;
		}
	char vals[9][40];
	snprintf(vals[0], 40, "%lld", (long long)o->step);
	snprintf(vals[1], 40, "%.17g", o->lr);
	snprintf(vals[2], 40, "%.17g", o->min_lr);
	snprintf(vals[3], 40, "%.17g", o->beta1);
	snprintf(vals[4], 40, "%.17g", o->beta2);
	snprintf(vals[5], 40, "%.17g", o->eps);
	snprintf(vals[6], 40, "%.17g", o->weight_decay);
	snprintf(vals[7], 40, "%.17g", o->clip);
	snprintf(vals[8], 40, "%lld/%lld", (long long)o->warmup, (long long)o->total);
	static const char *keys[9] = { "step", "lr", "min_lr", "beta1", "beta2", "eps", "weight_decay", "clip",
		                           "warmup/total" };
	const char **meta = mae_malloc(sizeof(char *) * 2 * (size_t)(9 + nextra + 1));
	meta[0] = "optimizer", meta[1] = "adamw";
	for (int i = 0; i < 9; i++)
		meta[2 * (i + 1)] = keys[i], meta[2 * (i + 1) + 1] = vals[i];
	for (int i = 0; i < nextra; i++)
		meta[2 * (10 + i)] = extra[2 * i], meta[2 * (10 + i) + 1] = extra[2 * i + 1];
	int rc = save_with_meta(t, k, &m->cfg, path, meta, 10 + nextra, err, errn);
	free(meta), free(names), free(t);
	return rc;
}

int mae_optim_load(mae_optim *o, const mae_model *m, const char *path, int64_t *images,
                   char *err, size_t errn)
{
	mae_st_file f;
	if (mae_st_read(&f, path, err, errn) != 0)
		return -1;
	int rc = -1;
	const char *step = mae_st_meta(&f, "step"), *wt = mae_st_meta(&f, "warmup/total");
	if (!step || !mae_st_meta(&f, "optimizer")) {
		fail(err, errn, "%s: not an optimiser state (no 'optimizer'/'step' metadata)", path);
		goto out;
	}
	if (o->n != m->n_params) {
		fail(err, errn, "%s: optimiser sized for %zu parameters, model has %zu", path, o->n, m->n_params);
		goto out;
	}
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < m->ntensors; i++) {
			const mae_param_info *p = &m->tensors[i];
			if (!p->trainable)
				continue;
			char name[80];
			snprintf(name, sizeof name, "%s.%s", pass ? "exp_avg_sq" : "exp_avg", p->name);
			const mae_st_tensor *t = mae_st_get(&f, name);
			if (!t || t->dtype != MAE_F32 || !shape_matches(t, p->shape, p->ndim)) {
				fail(err, errn, "%s: tensor '%s' missing or of the wrong shape", path, name);
				goto out;
			}
			memcpy((pass ? o->v : o->m) + p->offset, t->data, t->nbytes);
		}
	o->step = strtoll(step, NULL, 10);
	const char *v;
	if ((v = mae_st_meta(&f, "lr"))) o->lr = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "min_lr"))) o->min_lr = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "beta1"))) o->beta1 = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "beta2"))) o->beta2 = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "eps"))) o->eps = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "weight_decay"))) o->weight_decay = strtod(v, NULL);
	if ((v = mae_st_meta(&f, "clip"))) o->clip = strtod(v, NULL);
	long long w, tt;
	if (wt && sscanf(wt, "%lld/%lld", &w, &tt) == 2)
		o->warmup = w, o->total = tt;
	if (images)
		*images = (v = mae_st_meta(&f, "images")) ? strtoll(v, NULL, 10) : 0;
	rc = 0;
out:
	mae_st_free(&f);
	return rc;
}
