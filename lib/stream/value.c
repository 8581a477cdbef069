/* value.c: the MessagePack value tree behind headers, meta maps and pass-through fields. */
#include "mae/stream/value.h"
#include "mae/util/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void mae_val_free(mae_val *v)
{
	switch (v->type) {
	case MAE_V_STR: case MAE_V_BIN: case MAE_V_EXT:
		free(v->s.p);
		break;
	case MAE_V_ARRAY:
		for (size_t i = 0; i < v->a.n; i++)
			mae_val_free(&v->a.v[i]);
		free(v->a.v);
		break;
	case MAE_V_MAP:
		for (size_t i = 0; i < v->m.n; i++) {
			free(v->m.kv[i].key);
			mae_val_free(&v->m.kv[i].val);
		}
		free(v->m.kv);
		break;
	default:
		break;
	}
	memset(v, 0, sizeof *v);
}

void mae_val_copy(mae_val *dst, const mae_val *src)
{
	mae_val tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.type = src->type;
	switch (src->type) {
	case MAE_V_STR: case MAE_V_BIN: case MAE_V_EXT:
		tmp.s.n = src->s.n;
		tmp.s.ext = src->s.ext;
		tmp.s.p = mae_malloc(src->s.n + 1);
		memcpy(tmp.s.p, src->s.p, src->s.n);
		tmp.s.p[src->s.n] = 0;
		break;
	case MAE_V_ARRAY:
		tmp.a.n = tmp.a.cap = src->a.n;
		tmp.a.v = mae_calloc(src->a.n, sizeof(mae_val));
		for (size_t i = 0; i < src->a.n; i++)
			mae_val_copy(&tmp.a.v[i], &src->a.v[i]);
		break;
	case MAE_V_MAP:
		tmp.m.n = tmp.m.cap = src->m.n;
		tmp.m.kv = mae_calloc(src->m.n, sizeof(mae_kv));
		for (size_t i = 0; i < src->m.n; i++) {
			tmp.m.kv[i].key = mae_strdup(src->m.kv[i].key);
			mae_val_copy(&tmp.m.kv[i].val, &src->m.kv[i].val);
		}
		break;
	default:
		tmp = *src;
		break;
	}
	if (dst != src)
		mae_val_free(dst);
	*dst = tmp;
}

void mae_val_map(mae_val *v)
{
	mae_val_free(v);
	v->type = MAE_V_MAP;
}

mae_val *mae_map_get(const mae_val *m, const char *key)
{
	if (!m || m->type != MAE_V_MAP)
		return NULL;
	for (size_t i = 0; i < m->m.n; i++)
		if (strcmp(m->m.kv[i].key, key) == 0)
			return &m->m.kv[i].val;
	return NULL;
}

mae_val *mae_map_put(mae_val *m, const char *key)
{
	mae_val *v;
	if (m->type != MAE_V_MAP)
		mae_val_map(m);
	if ((v = mae_map_get(m, key))) {
		mae_val_free(v);
		return v;
	}
	if (m->m.n == m->m.cap) {
		m->m.cap = m->m.cap ? 2 * m->m.cap : 8;
		m->m.kv = mae_realloc(m->m.kv, m->m.cap * sizeof(mae_kv));
	}
	m->m.kv[m->m.n].key = mae_strdup(key);
	memset(&m->m.kv[m->m.n].val, 0, sizeof(mae_val));
	return &m->m.kv[m->m.n++].val;
}

void mae_map_del(mae_val *m, const char *key)
{
	if (!m || m->type != MAE_V_MAP)
		return;
	for (size_t i = 0; i < m->m.n; i++)
		if (strcmp(m->m.kv[i].key, key) == 0) {
			free(m->m.kv[i].key);
			mae_val_free(&m->m.kv[i].val);
			memmove(&m->m.kv[i], &m->m.kv[i + 1], (m->m.n - i - 1) * sizeof(mae_kv));
			m->m.n--;
			return;
		}
}

void mae_map_set_int(mae_val *m, const char *key, int64_t x)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_INT;
	v->i = x;
}

void mae_map_set_float(mae_val *m, const char *key, double x)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_FLOAT;
	v->f = x;
}

void mae_map_set_bool(mae_val *m, const char *key, bool b)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_BOOL;
	v->b = b;
}

void mae_map_set_str(mae_val *m, const char *key, const char *s)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_STR;
	v->s.n = strlen(s);
	v->s.p = mae_strdup(s);
}

void mae_map_set_ints(mae_val *m, const char *key, const int64_t *x, size_t n)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_ARRAY;
	v->a.v = mae_calloc(n, sizeof(mae_val));
	v->a.n = v->a.cap = n;
	for (size_t i = 0; i < n; i++) {
		v->a.v[i].type = MAE_V_INT;
		v->a.v[i].i = x[i];
	}
}

void mae_map_set_floats(mae_val *m, const char *key, const double *x, size_t n)
{
	mae_val *v = mae_map_put(m, key);
	v->type = MAE_V_ARRAY;
	v->a.v = mae_calloc(n, sizeof(mae_val));
	v->a.n = v->a.cap = n;
	for (size_t i = 0; i < n; i++) {
		v->a.v[i].type = MAE_V_FLOAT;
		v->a.v[i].f = x[i];
	}
}

mae_val *mae_map_submap(mae_val *m, const char *key)
{
	mae_val *v = mae_map_get(m, key);
	if (v && v->type == MAE_V_MAP)
		return v;
	v = mae_map_put(m, key);
	v->type = MAE_V_MAP;
	return v;
}

int mae_val_as_int(const mae_val *v, int64_t *out)
{
	if (!v)
		return 0;
	switch (v->type) {
	case MAE_V_INT: *out = v->i; return 1;
	case MAE_V_UINT:
		if (v->u > INT64_MAX)
			return 0;
		*out = (int64_t)v->u;
		return 1;
	case MAE_V_FLOAT:
		if (v->f != floor(v->f) || fabs(v->f) > 9e15)
			return 0;
		*out = (int64_t)v->f;
		return 1;
	default: return 0;
	}
}

int mae_val_as_float(const mae_val *v, double *out)
{
	if (!v)
		return 0;
	switch (v->type) {
	case MAE_V_INT: *out = (double)v->i; return 1;
	case MAE_V_UINT: *out = (double)v->u; return 1;
	case MAE_V_FLOAT: *out = v->f; return 1;
	default: return 0;
	}
}

int64_t mae_map_int(const mae_val *m, const char *key, int64_t def)
{
	int64_t x;
	return mae_val_as_int(mae_map_get(m, key), &x) ? x : def;
}

double mae_map_float(const mae_val *m, const char *key, double def)
{
	double x;
	return mae_val_as_float(mae_map_get(m, key), &x) ? x : def;
}

const char *mae_map_str(const mae_val *m, const char *key, const char *def)
{
	mae_val *v = mae_map_get(m, key);
	return v && v->type == MAE_V_STR ? v->s.p : def;
}

int mae_map_floats(const mae_val *m, const char *key, double *out, int n)
{
	mae_val *v = mae_map_get(m, key);
	if (!v || v->type != MAE_V_ARRAY)
		return -1;
	for (size_t i = 0; i < v->a.n; i++) {
		double x;
		if (!mae_val_as_float(&v->a.v[i], &x))
			return -1;
		if ((int)i < n)
			out[i] = x;
	}
	return (int)v->a.n;
}

int mae_map_ints(const mae_val *m, const char *key, int64_t *out, int n)
{
	mae_val *v = mae_map_get(m, key);
	if (!v || v->type != MAE_V_ARRAY)
		return -1;
	for (size_t i = 0; i < v->a.n; i++) {
		int64_t x;
		if (!mae_val_as_int(&v->a.v[i], &x))
			return -1;
		if ((int)i < n)
			out[i] = x;
	}
	return (int)v->a.n;
}

mae_val *mae_array_push(mae_val *a)
{
	if (a->type != MAE_V_ARRAY) {
		mae_val_free(a);
		a->type = MAE_V_ARRAY;
	}
	if (a->a.n == a->a.cap) {
		a->a.cap = a->a.cap ? 2 * a->a.cap : 8;
		a->a.v = mae_realloc(a->a.v, a->a.cap * sizeof(mae_val));
	}
	memset(&a->a.v[a->a.n], 0, sizeof(mae_val));
	return &a->a.v[a->a.n++];
}

/* Rendering: a JSON-like line, cut at n bytes with "...". */
typedef struct { char *p; size_t n, k; } sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->k >= b->n)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->k, b->n - b->k, fmt, ap);
	va_end(ap);
	b->k = w < 0 ? b->n : b->k + (size_t)w;
}

static void render(sbuf *b, const mae_val *v)
{
	switch (v->type) {
	case MAE_V_NIL: put(b, "null"); break;
	case MAE_V_BOOL: put(b, v->b ? "true" : "false"); break;
	case MAE_V_INT: put(b, "%" PRId64, v->i); break;
	case MAE_V_UINT: put(b, "%" PRIu64, v->u); break;
	case MAE_V_FLOAT: put(b, "%.6g", v->f); break;
	case MAE_V_STR: put(b, "\"%.*s\"", (int)(v->s.n > 64 ? 64 : v->s.n), v->s.p); break;
	case MAE_V_BIN: put(b, "<bin %zu>", v->s.n); break;
	case MAE_V_EXT: put(b, "<ext %d %zu>", v->s.ext, v->s.n); break;
	case MAE_V_ARRAY:
		put(b, "[");
		for (size_t i = 0; i < v->a.n; i++) {
			if (i)
				put(b, ",");
			render(b, &v->a.v[i]);
		}
		put(b, "]");
		break;
	case MAE_V_MAP:
		put(b, "{");
		for (size_t i = 0; i < v->m.n; i++) {
			put(b, "%s%s:", i ? "," : "", v->m.kv[i].key);
			render(b, &v->m.kv[i].val);
		}
		put(b, "}");
		break;
	}
}

void mae_val_format(const mae_val *v, char *buf, size_t n)
{
	sbuf b = {buf, n, 0};
	if (!n)
		return;
	buf[0] = 0;
	render(&b, v ? v : &(mae_val){0});
	if (b.k >= n && n > 4)
		strcpy(buf + n - 4, "...");
}
