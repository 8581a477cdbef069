/* json.c: the strict JSON reader behind safetensors headers (see json.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/json.h"
#include "mae/util/util.h"

#define MAX_DEPTH 64

typedef struct parser {
	const char *p, *end, *start;
	char *err;
	size_t errn;
	int failed;
} parser;

static int bad(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(parser *P, const char *fmt, ...)
{
	if (!P->failed && P->err && P->errn) {
		char msg[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		snprintf(P->err, P->errn, "JSON byte %zu: %s", (size_t)(P->p - P->start), msg);
	}
	P->failed = 1;
	return -1;
}

static void ws(parser *P)
{
	while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
		P->p++;
}

static int hex4(parser *P, unsigned *out)
{
	if (P->end - P->p < 4)
		return bad(P, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = *P->p++;
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return bad(P, "bad hex digit in \\u escape");
	}
	*out = v;
	return 0;
}

static int put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int string(parser *P, char **out, size_t *len)
{
	P->p++;   /* opening quote */
	/* the decoded string is never longer than the raw one */
	const char *q = P->p;
	while (q < P->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= P->end)
		return bad(P, "unterminated string");
	char *o = mae_malloc((size_t)(q - P->p) + 1), *w = o;
	while (*P->p != '"') {
		unsigned char c = (unsigned char)*P->p++;
		if (c < 0x20) {
			free(o);
			return bad(P, "control character in string");
		}
		if (c != '\\') {
			*w++ = (char)c;
			continue;
		}
		char e = *P->p++;
		unsigned cp;
		switch (e) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '/': *w++ = '/'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u':
			if (hex4(P, &cp)) {
				free(o);
				return -1;
			}
			if (cp >= 0xD800 && cp < 0xDC00) {   /* surrogate pair */
				unsigned lo;
				if (P->end - P->p < 6 || P->p[0] != '\\' || P->p[1] != 'u') {
					free(o);
					return bad(P, "lone high surrogate");
				}
				P->p += 2;
				if (hex4(P, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
					free(o);
					return bad(P, "bad low surrogate");
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp < 0xE000) {
				free(o);
				return bad(P, "lone low surrogate");
			}
			w += put_utf8(w, cp);
			break;
		default:
			free(o);
			return bad(P, "bad escape \\%c", e);
		}
	}
	P->p++;   /* closing quote */
	*w = 0;
	*out = o;
	*len = (size_t)(w - o);
	return 0;
}

static int number(parser *P, mae_json *j)
{
	const char *s = P->p;
	if (P->p < P->end && *P->p == '-')
		P->p++;
	if (P->p >= P->end || *P->p < '0' || *P->p > '9')
		return bad(P, "bad number");
	if (*P->p == '0' && P->p + 1 < P->end && P->p[1] >= '0' && P->p[1] <= '9')
		return bad(P, "leading zero");
	int integral = 1;
	while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
		P->p++;
	if (P->p < P->end && *P->p == '.') {
		integral = 0;
		P->p++;
		if (P->p >= P->end || *P->p < '0' || *P->p > '9')
			return bad(P, "bad fraction");
		while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
			P->p++;
	}
	if (P->p < P->end && (*P->p == 'e' || *P->p == 'E')) {
		integral = 0;
		P->p++;
		if (P->p < P->end && (*P->p == '+' || *P->p == '-'))
			P->p++;
		if (P->p >= P->end || *P->p < '0' || *P->p > '9')
			return bad(P, "bad exponent");
		while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
			P->p++;
	}
	char tmp[64];
	size_t n = (size_t)(P->p - s);
	if (n >= sizeof tmp)
		return bad(P, "number too long");
	memcpy(tmp, s, n);
	tmp[n] = 0;
	j->type = JSON_NUM;
	j->d = strtod(tmp, NULL);
	if (integral) {
		errno = 0;
		long long v = strtoll(tmp, NULL, 10);
		if (errno == 0)
			j->is_int = 1, j->i = v;
	}
	return 0;
}

static int value(parser *P, mae_json *j, int depth);

static int container(parser *P, mae_json *j, int depth, int obj)
{
	if (depth >= MAX_DEPTH)
		return bad(P, "nesting deeper than %d", MAX_DEPTH);
	P->p++;
	j->type = obj ? JSON_OBJ : JSON_ARR;
	size_t cap = 0;
	ws(P);
	if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
		P->p++;
		return 0;
	}
	for (;;) {
		if (j->n == cap) {
			cap = cap ? 2 * cap : 8;
			j->v = mae_realloc(j->v, cap * sizeof *j->v);
			if (obj)
				j->k = mae_realloc(j->k, cap * sizeof *j->k);
		}
		mae_json *item = &j->v[j->n];
		memset(item, 0, sizeof *item);
		ws(P);
		if (obj) {
			char *key;
			size_t kl;
			if (P->p >= P->end || *P->p != '"')
				return bad(P, "expected a key");
			if (string(P, &key, &kl))
				return -1;
			if (strlen(key) != kl || mae_json_get(j, key)) {
				int dup = strlen(key) == kl;
				free(key);
				return bad(P, dup ? "duplicate key" : "NUL in key");
			}
			j->k[j->n] = key;
			ws(P);
			if (P->p >= P->end || *P->p != ':') {
				j->n++;
				return bad(P, "expected ':'");
			}
			P->p++;
		}
		j->n++;
		if (value(P, item, depth + 1))
			return -1;
		ws(P);
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			continue;
		}
		if (P->p < P->end && *P->p == (obj ? '}' : ']')) {
			P->p++;
			return 0;
		}
		return bad(P, "expected ',' or '%c'", obj ? '}' : ']');
	}
}

static int literal(parser *P, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n))
		return bad(P, "unexpected character");
	P->p += n;
	return 0;
}

static int value(parser *P, mae_json *j, int depth)
{
	ws(P);
	if (P->p >= P->end)
		return bad(P, "unexpected end");
	switch (*P->p) {
	case '{': return container(P, j, depth, 1);
	case '[': return container(P, j, depth, 0);
	case '"': j->type = JSON_STR; return string(P, &j->s, &j->slen);
	case 't': j->type = JSON_BOOL, j->i = 1; return literal(P, "true");
	case 'f': j->type = JSON_BOOL; return literal(P, "false");
	case 'n': j->type = JSON_NULL; return literal(P, "null");
	default: return number(P, j);
	}
}

int mae_json_parse(const char *buf, size_t n, mae_json *out, char *err, size_t errn)
{
	parser P = { .p = buf, .end = buf + n, .start = buf, .err = err, .errn = errn };
	memset(out, 0, sizeof *out);
	if (value(&P, out, 0) == 0) {
		ws(&P);
		if (P.p == P.end)
			return 0;
		bad(&P, "trailing characters");
	}
	mae_json_free(out);
	return -1;
}

void mae_json_free(mae_json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		mae_json_free(&j->v[i]);
		if (j->k)
			free(j->k[i]);
	}
	free(j->v), free(j->k), free(j->s);
	memset(j, 0, sizeof *j);
}

const mae_json *mae_json_get(const mae_json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (obj->k[i] && !strcmp(obj->k[i], key))
			return &obj->v[i];
	return NULL;
}
