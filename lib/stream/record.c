/* record.c: records of a mae-stream(5) in memory, and their MessagePack encoding.
 *
 * Decoding parses one whole record (already in memory: a ZeroMQ message, or bytes the pipe
 * reader framed) with msgpack-c, deep-copies the small fields into a mae_val tree and lets the
 * tensors borrow their bytes from the buffer, so large data is never copied on the way in.
 * Encoding gathers small pieces into one buffer and keeps references to large tensor bodies,
 * so the pipe writer can hand them to writev(2) without a copy. */
#include "mae/stream/stream.h"
#include "mae/util/util.h"
#include "stream/record_internal.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Buffer pool: owned tensor storage is recycled across records, so a steady stream allocates
 * nothing per record (fresh large mallocs are fresh mmaps and page faults every time). */

/* memcpy that allows an empty source: msgpack-c gives empty strings a NULL pointer */
static void copy_n(void *dst, const void *src, size_t n)
{
	if (n)
		memcpy(dst, src, n);
}

#define POOL_SIZE 48

typedef struct pool {
	struct { void *p; size_t cap; } free[POOL_SIZE];
	int nfree;
	struct { void *p; size_t cap; } retired[MAE_MAX_TENSORS * 2];
	int nretired;
} pool;

static pool *get_pool(mae_record *r)
{
	if (!r->pool)
		r->pool = mae_calloc(1, sizeof(pool));
	return r->pool;
}

static void pool_give(pool *pl, void *p, size_t cap)
{
	if (!p)
		return;
	if (pl->nfree == POOL_SIZE) {   /* full: drop the smallest */
		int k = 0;
		for (int i = 1; i < pl->nfree; i++)
			if (pl->free[i].cap < pl->free[k].cap)
				k = i;
		if (pl->free[k].cap >= cap) {
			free(p);
			return;
		}
		free(pl->free[k].p);
		pl->free[k] = pl->free[--pl->nfree];
	}
	pl->free[pl->nfree].p = p;
	pl->free[pl->nfree++].cap = cap;
}

static void *pool_take(pool *pl, size_t need, size_t *cap)
{
	int best = -1;
	for (int i = 0; i < pl->nfree; i++)
		if (pl->free[i].cap >= need && (best < 0 || pl->free[i].cap < pl->free[best].cap))
			best = i;
	if (best >= 0) {
		void *p = pl->free[best].p;
		*cap = pl->free[best].cap;
		pl->free[best] = pl->free[--pl->nfree];
		return p;
	}
	*cap = need;
	return mae_alloc_aligned(need);
}

/* A replaced tensor's storage may still be read while its successor is computed, so it goes
 * back to the pool only when the record is cleared. */
static void retire(mae_record *r, mae_tensor *t)
{
	pool *pl = get_pool(r);
	if (!t->owned)
		return;
	if (pl->nretired == (int)(sizeof pl->retired / sizeof pl->retired[0])) {
		free(t->owned);
	} else {
		pl->retired[pl->nretired].p = t->owned;
		pl->retired[pl->nretired++].cap = t->cap;
	}
	t->owned = NULL;
	t->cap = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Records */

static void ensure_slots(mae_record *r)
{
	if (!r->tensors)
		r->tensors = mae_calloc(MAE_MAX_TENSORS, sizeof(mae_tensor));
}

void mae_rec_clear(mae_record *r)
{
	pool *pl = get_pool(r);
	for (int i = 0; i < r->ntensors; i++)
		retire(r, &r->tensors[i]);
	for (int i = 0; i < pl->nretired; i++)
		pool_give(pl, pl->retired[i].p, pl->retired[i].cap);
	pl->nretired = 0;
	r->ntensors = 0;
	mae_val_free(&r->fields);
	r->type = 0;
}

void mae_rec_free(mae_record *r)
{
	mae_rec_clear(r);
	if (r->pool) {
		pool *pl = r->pool;
		for (int i = 0; i < pl->nfree; i++)
			free(pl->free[i].p);
		free(pl);
	}
	free(r->tensors);
	memset(r, 0, sizeof *r);
}

void mae_rec_copy(mae_record *dst, const mae_record *src)
{
	mae_rec_clear(dst);
	dst->type = src->type;
	dst->number = src->number;
	mae_val_copy(&dst->fields, &src->fields);
	for (int i = 0; i < src->ntensors; i++) {
		const mae_tensor *s = &src->tensors[i];
		mae_tensor *t = mae_rec_add(dst, s->name, s->dtype, s->ndim, s->shape);
		copy_n(t->data, s->data, mae_tensor_nbytes(s));
	}
}

int64_t mae_rec_seq(const mae_record *r) { return mae_map_int(&r->fields, "seq", -1); }
void mae_rec_set_seq(mae_record *r, int64_t seq) { mae_map_set_int(&r->fields, "seq", seq); }
mae_val *mae_rec_meta(mae_record *r) { return mae_map_submap(&r->fields, "meta"); }

mae_tensor *mae_rec_tensor(mae_record *r, const char *name)
{
	for (int i = 0; i < r->ntensors; i++)
		if (strcmp(r->tensors[i].name, name) == 0)
			return &r->tensors[i];
	return NULL;
}

void mae_tensor_own(mae_record *r, mae_tensor *t)
{
	size_t n = mae_tensor_nbytes(t), cap;
	if (t->owned && t->data == t->owned)
		return;
	void *p = pool_take(get_pool(r), n, &cap);
	copy_n(p, t->data, n);
	retire(r, t);
	t->owned = t->data = p;
	t->cap = cap;
}

/* The one message for a tensor that is not what a stage expects. */
static noreturn void die_expected(const mae_record *r, const mae_tensor *t, enum mae_dtype dt,
                                  const char *shape_hint)
{
	char got[160];
	mae_die(MAE_EXIT_DATA, "record %lld: tensor '%s': expected %s %s, got %s", (long long)r->number,
	        t->name, mae_dtype_name(dt), shape_hint ? shape_hint : "", mae_tensor_desc(t, got, sizeof got));
}

void mae_rec_wrong_shape(const mae_record *r, const mae_tensor *t, const char *want)
{
	die_expected(r, t, t->dtype, want);
}

mae_tensor *mae_rec_need(mae_record *r, const char *name, enum mae_dtype dt, int ndim,
                         const char *shape_hint)
{
	mae_tensor *t = mae_rec_tensor(r, name);
	if (!t)
		mae_die(MAE_EXIT_DATA, "record %lld: no tensor '%s' (expected %s %s)", (long long)r->number,
		        name, mae_dtype_name(dt), shape_hint ? shape_hint : "");
	if (t->dtype != dt || (ndim >= 0 && t->ndim != ndim))
		die_expected(r, t, dt, shape_hint);
	if ((uintptr_t)t->data % 64)
		mae_tensor_own(r, t);
	return t;
}

mae_tensor *mae_rec_add(mae_record *r, const char *name, enum mae_dtype dt, int ndim,
                        const int64_t *shape)
{
	mae_tensor *t;
	if (strlen(name) > MAE_MAX_NAME)
		mae_die(MAE_EXIT_DATA, "tensor name '%s' is longer than %d bytes", name, MAE_MAX_NAME);
	if (ndim < 0 || ndim > MAE_MAX_DIMS)
		mae_die(MAE_EXIT_DATA, "tensor '%s': rank %d is over the limit of %d", name, ndim, MAE_MAX_DIMS);
	ensure_slots(r);
	t = mae_rec_tensor(r, name);
	if (t) {
		retire(r, t);
	} else {
		if (r->ntensors == MAE_MAX_TENSORS)
			mae_die(MAE_EXIT_DATA, "record %lld: more than %d tensors", (long long)r->number, MAE_MAX_TENSORS);
		t = &r->tensors[r->ntensors++];
		memset(t, 0, sizeof *t);
		strcpy(t->name, name);
	}
	t->dtype = dt;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	size_t n = mae_tensor_nbytes(t);
	t->owned = t->data = pool_take(get_pool(r), n, &t->cap);
	return t;
}

void mae_rec_remove(mae_record *r, const char *name)
{
	mae_tensor *t = mae_rec_tensor(r, name);
	if (!t)
		return;
	retire(r, t);
	int i = (int)(t - r->tensors);
	memmove(&r->tensors[i], &r->tensors[i + 1], (size_t)(r->ntensors - i - 1) * sizeof(mae_tensor));
	r->ntensors--;
}

/* ---------------------------------------------------------------------------------------- */
/* Headers */

static void set_argv(mae_val *m, int argc, char **argv)
{
	mae_val *a = mae_map_put(m, "argv");
	a->type = MAE_V_ARRAY;
	for (int i = 0; i < argc; i++) {
		mae_val *s = mae_array_push(a);
		s->type = MAE_V_STR;
		s->s.n = strlen(argv[i]);
		s->s.p = mae_strdup(argv[i]);
	}
}

void mae_header_init(mae_record *h, int argc, char **argv, uint64_t seed, int64_t count)
{
	mae_rec_clear(h);
	h->type = MAE_REC_HEADER;
	mae_map_set_int(&h->fields, "version", MAE_STREAM_VERSION);
	mae_map_set_str(&h->fields, "producer", mae_prog);
	set_argv(&h->fields, argc, argv);
	mae_val *s = mae_map_put(&h->fields, "seed");
	s->type = MAE_V_UINT;
	s->u = seed;
	if (count >= 0)
		mae_map_set_int(&h->fields, "count", count);
	else
		mae_map_put(&h->fields, "count");   /* nil: unknown */
	mae_rec_meta(h);
	mae_map_put(&h->fields, "stages")->type = MAE_V_ARRAY;
	mae_header_stage(h, argc, argv);
}

void mae_header_stage(mae_record *h, int argc, char **argv)
{
	mae_val *st = mae_map_get(&h->fields, "stages");
	if (!st || st->type != MAE_V_ARRAY) {
		st = mae_map_put(&h->fields, "stages");
		st->type = MAE_V_ARRAY;
	}
	mae_val *e = mae_array_push(st);
	mae_val_map(e);
	mae_map_set_str(e, "producer", mae_prog);
	set_argv(e, argc, argv);
}

uint64_t mae_header_seed(const mae_record *h)
{
	mae_val *v = mae_map_get(&h->fields, "seed");
	if (v && v->type == MAE_V_UINT)
		return v->u;
	if (v && v->type == MAE_V_INT)
		return (uint64_t)v->i;
	return 0;
}

int64_t mae_header_count(const mae_record *h) { return mae_map_int(&h->fields, "count", -1); }

/* ---------------------------------------------------------------------------------------- */
/* Decoding */

typedef struct {
	char *err;
	size_t errn;
} derr;

static int fail(derr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(derr *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->err, e->errn, fmt, ap);
	va_end(ap);
	return -1;
}

static int key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);
	if (k->type == MSGPACK_OBJECT_STR)
		return k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
	if (k->type == MSGPACK_OBJECT_BIN)
		return k->via.bin.size == n && memcmp(k->via.bin.ptr, s, n) == 0;
	return 0;
}

static int key_text(const msgpack_object *k, const char **p, size_t *n)
{
	if (k->type == MSGPACK_OBJECT_STR) {
		*p = k->via.str.ptr;
		*n = k->via.str.size;
		return 1;
	}
	if (k->type == MSGPACK_OBJECT_BIN) {
		*p = k->via.bin.ptr;
		*n = k->via.bin.size;
		return 1;
	}
	return 0;
}

static char *dup_n(const char *p, size_t n)
{
	char *s = mae_malloc(n + 1);
	copy_n(s, p, n);
	s[n] = 0;
	return s;
}

static int to_val(const msgpack_object *o, mae_val *v, int depth, derr *e)
{
	memset(v, 0, sizeof *v);
	if (depth > MAE_MAX_META_DEPTH)
		return fail(e, "fields nested deeper than %d levels", MAE_MAX_META_DEPTH);
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: v->type = MAE_V_NIL; return 0;
	case MSGPACK_OBJECT_BOOLEAN: v->type = MAE_V_BOOL; v->b = o->via.boolean; return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 <= INT64_MAX) {
			v->type = MAE_V_INT;
			v->i = (int64_t)o->via.u64;
		} else {
			v->type = MAE_V_UINT;
			v->u = o->via.u64;
		}
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: v->type = MAE_V_INT; v->i = o->via.i64; return 0;
	case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64:
		v->type = MAE_V_FLOAT; v->f = o->via.f64; return 0;
	case MSGPACK_OBJECT_STR:
		v->type = MAE_V_STR;
		v->s.p = dup_n(o->via.str.ptr, o->via.str.size);
		v->s.n = o->via.str.size;
		return 0;
	case MSGPACK_OBJECT_BIN:
		v->type = MAE_V_BIN;
		v->s.p = dup_n(o->via.bin.ptr, o->via.bin.size);
		v->s.n = o->via.bin.size;
		return 0;
	case MSGPACK_OBJECT_EXT:
		v->type = MAE_V_EXT;
		v->s.p = dup_n(o->via.ext.ptr, o->via.ext.size);
		v->s.n = o->via.ext.size;
		v->s.ext = o->via.ext.type;
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		v->type = MAE_V_ARRAY;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (to_val(&o->via.array.ptr[i], mae_array_push(v), depth + 1, e))
				return -1;
		return 0;
	case MSGPACK_OBJECT_MAP:
		v->type = MAE_V_MAP;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const char *kp;
			size_t kn;
			char key[256];
			if (!key_text(&o->via.map.ptr[i].key, &kp, &kn) || kn >= sizeof key)
				return fail(e, "a map key is not a string (or is longer than 255 bytes)");
			copy_n(key, kp, kn);
			key[kn] = 0;
			if (mae_map_get(v, key))
				return fail(e, "duplicate key '%s'", key);
			if (to_val(&o->via.map.ptr[i].val, mae_map_put(v, key), depth + 1, e))
				return -1;
		}
		return 0;
	}
	return fail(e, "unknown MessagePack type %d", (int)o->type);
}

static int decode_tensor(const char *name, const msgpack_object *o, mae_tensor *t, derr *e)
{
	const msgpack_object *dtype = NULL, *shape = NULL, *data = NULL;
	if (o->type != MSGPACK_OBJECT_MAP)
		return fail(e, "tensor '%s' is not a map", name);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		if (key_is(k, "dtype"))
			dtype = v;
		else if (key_is(k, "shape"))
			shape = v;
		else if (key_is(k, "data"))
			data = v;
	}
	if (!dtype || !shape || !data)
		return fail(e, "tensor '%s' lacks %s", name, !dtype ? "'dtype'" : !shape ? "'shape'" : "'data'");
	const char *dp;
	size_t dn;
	int dt;
	if (!key_text(dtype, &dp, &dn) || (dt = mae_dtype_parse(dp, dn)) < 0)
		return fail(e, "tensor '%s': unknown dtype", name);
	if (shape->type != MSGPACK_OBJECT_ARRAY)
		return fail(e, "tensor '%s': shape is not an array", name);
	if (shape->via.array.size > MAE_MAX_DIMS)
		return fail(e, "tensor '%s': rank %u is over the limit of %d", name, shape->via.array.size, MAE_MAX_DIMS);
	memset(t, 0, sizeof *t);
	strcpy(t->name, name);
	t->dtype = dt;
	t->ndim = (int)shape->via.array.size;
	unsigned __int128 bytes = mae_dtype_size(dt);
	for (int i = 0; i < t->ndim; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return fail(e, "tensor '%s': dimension %d is not a non-negative integer", name, i);
		if (d->via.u64 > (uint64_t)MAE_MAX_DIM)
			return fail(e, "tensor '%s': dimension %d is %llu, over the limit of %lld", name, i,
			            (unsigned long long)d->via.u64, (long long)MAE_MAX_DIM);
		t->shape[i] = (int64_t)d->via.u64;
		bytes *= d->via.u64;
		if (bytes > MAE_MAX_RECORD)
			return fail(e, "tensor '%s': shape is too large", name);
	}
	const char *p;
	size_t n;
	if (data->type == MSGPACK_OBJECT_BIN) {
		p = data->via.bin.ptr;
		n = data->via.bin.size;
	} else if (data->type == MSGPACK_OBJECT_STR) {   /* old msgpack writers put bytes in str */
		p = data->via.str.ptr;
		n = data->via.str.size;
	} else {
		return fail(e, "tensor '%s': data is not binary", name);
	}
	if ((unsigned __int128)n != bytes) {
		char desc[160];
		return fail(e, "tensor '%s': %s needs %llu bytes of data, got %zu", name,
		            mae_tensor_desc(t, desc, sizeof desc), (unsigned long long)bytes, n);
	}
	t->data = (void *)p;
	return 0;
}

/* Walk the MessagePack structure before msgpack-c parses it: the object must end exactly at
 * n, and no array or map may declare more elements than bytes remain (each takes at least
 * one). msgpack-c allocates a container's slots from its declared count before reading them,
 * so without this a 10-byte record claiming 2^32 elements asks for 64 GB. */
int mae_mp_type(unsigned char t, mp_head *h)
{
	memset(h, 0, sizeof *h);
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return 0;                                   /* fixint, nil, bool */
	if (t >= 0x80 && t <= 0x8f) { h->children = 2ULL * (t & 0x0f); return 0; }
	if (t >= 0x90 && t <= 0x9f) { h->children = t & 0x0f; return 0; }
	if (t >= 0xa0 && t <= 0xbf) { h->body = t & 0x1f; return 0; }
	switch (t) {
	case 0xc4: case 0xd9: h->lenbytes = 1; h->per_len = MP_LEN_BODY; return 0;   /* bin8, str8 */
	case 0xc5: case 0xda: h->lenbytes = 2; h->per_len = MP_LEN_BODY; return 0;
	case 0xc6: case 0xdb: h->lenbytes = 4; h->per_len = MP_LEN_BODY; return 0;
	case 0xc7: h->lenbytes = 1; h->per_len = MP_LEN_BODY; h->body = 1; return 0;   /* ext: + type */
	case 0xc8: h->lenbytes = 2; h->per_len = MP_LEN_BODY; h->body = 1; return 0;
	case 0xc9: h->lenbytes = 4; h->per_len = MP_LEN_BODY; h->body = 1; return 0;
	case 0xca: h->body = 4; return 0;                                              /* float32 */
	case 0xcb: h->body = 8; return 0;
	case 0xcc: case 0xd0: h->body = 1; return 0;
	case 0xcd: case 0xd1: h->body = 2; return 0;
	case 0xce: case 0xd2: h->body = 4; return 0;
	case 0xcf: case 0xd3: h->body = 8; return 0;
	case 0xd4: h->body = 2; return 0;                                              /* fixext */
	case 0xd5: h->body = 3; return 0;
	case 0xd6: h->body = 5; return 0;
	case 0xd7: h->body = 9; return 0;
	case 0xd8: h->body = 17; return 0;
	case 0xdc: h->lenbytes = 2; h->per_len = MP_LEN_ARRAY; return 0;
	case 0xdd: h->lenbytes = 4; h->per_len = MP_LEN_ARRAY; return 0;
	case 0xde: h->lenbytes = 2; h->per_len = MP_LEN_MAP; return 0;
	case 0xdf: h->lenbytes = 4; h->per_len = MP_LEN_MAP; return 0;
	}
	return -1;
}

/* Walk the MessagePack structure before msgpack-c parses it: the object must end exactly at
 * n, and no array or map may declare more elements than bytes remain (each takes at least
 * one). msgpack-c allocates a container's slots from its declared count before reading them,
 * so without this a 10-byte record claiming 2^32 elements asks for 64 GB. */
static int precheck(const unsigned char *p, size_t n, derr *e)
{
	uint64_t pending = 1;
	size_t pos = 0;
	while (pending > 0) {
		mp_head h;
		if (pos >= n)
			return fail(e, "record is cut short");
		if (mae_mp_type(p[pos++], &h))
			return fail(e, "not MessagePack (byte 0x%02x at offset %zu)", p[pos - 1], pos - 1);
		pending--;
		if ((size_t)h.lenbytes > n - pos)
			return fail(e, "record is cut short");
		uint64_t len = 0;
		for (int i = 0; i < h.lenbytes; i++)
			len = len << 8 | p[pos++];
		h.body += h.per_len == MP_LEN_BODY ? len : 0;
		h.children += h.per_len == MP_LEN_ARRAY ? len : h.per_len == MP_LEN_MAP ? 2 * len : 0;
		if (h.body > n - pos)
			return fail(e, "record is cut short");
		pos += h.body;
		if (h.children > n - pos || pending + h.children > n - pos)
			return fail(e, "record is cut short (a container declares %llu elements, %zu bytes remain)",
			            (unsigned long long)h.children, n - pos);
		pending += h.children;
	}
	if (pos != n)
		return fail(e, "%zu stray bytes after the record", n - pos);
	return 0;
}

int mae_decode_record(const void *buf, size_t n, mae_record *rec, char *err, size_t errn)
{
	derr e = {err, errn};
	msgpack_unpacked u;
	size_t off = 0;
	int rc = -1;
	mae_rec_clear(rec);
	ensure_slots(rec);
	if (precheck(buf, n, &e))
		return -1;
	msgpack_unpacked_init(&u);
	msgpack_unpack_return ret = msgpack_unpack_next(&u, buf, n, &off);
	if (ret == MSGPACK_UNPACK_CONTINUE) {
		fail(&e, "record is cut short");
		goto out;
	}
	if (ret != MSGPACK_UNPACK_SUCCESS) {
		fail(&e, ret == MSGPACK_UNPACK_NOMEM_ERROR ? "record too large or nested too deeply to parse" : "not MessagePack");
		goto out;
	}
	if (off != n) {
		fail(&e, "%zu stray bytes after the record", n - off);
		goto out;
	}
	const msgpack_object *o = &u.data;
	if (o->type != MSGPACK_OBJECT_MAP) {
		fail(&e, "record is not a map");
		goto out;
	}
	const msgpack_object *tensors = NULL;
	rec->fields.type = MAE_V_MAP;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		const char *kp;
		size_t kn;
		char key[256];
		if (!key_text(k, &kp, &kn) || kn >= sizeof key) {
			fail(&e, "a field name is not a string");
			goto out;
		}
		copy_n(key, kp, kn);
		key[kn] = 0;
		if (strcmp(key, "type") == 0) {
			const char *tp;
			size_t tn;
			if (!key_text(v, &tp, &tn)) {
				fail(&e, "'type' is not a string");
				goto out;
			}
			if (tn == 6 && !memcmp(tp, "header", 6))
				rec->type = MAE_REC_HEADER;
			else if (tn == 5 && !memcmp(tp, "batch", 5))
				rec->type = MAE_REC_BATCH;
			else if (tn == 3 && !memcmp(tp, "eos", 3))
				rec->type = MAE_REC_EOS;
			else {
				fail(&e, "unknown record type '%.*s'", (int)(tn > 32 ? 32 : tn), tp);
				goto out;
			}
			continue;
		}
		if (strcmp(key, "tensors") == 0) {
			tensors = v;
			continue;
		}
		if (mae_map_get(&rec->fields, key)) {
			fail(&e, "duplicate field '%s'", key);
			goto out;
		}
		if (to_val(v, mae_map_put(&rec->fields, key), 1, &e))
			goto out;
	}
	if (!rec->type) {
		fail(&e, "record has no 'type' field");
		goto out;
	}
	if (tensors) {
		if (tensors->type != MSGPACK_OBJECT_MAP) {
			fail(&e, "'tensors' is not a map");
			goto out;
		}
		if (tensors->via.map.size > MAE_MAX_TENSORS) {
			fail(&e, "%u tensors, over the limit of %d", tensors->via.map.size, MAE_MAX_TENSORS);
			goto out;
		}
		for (uint32_t i = 0; i < tensors->via.map.size; i++) {
			const char *kp;
			size_t kn;
			char name[MAE_MAX_NAME + 1];
			if (!key_text(&tensors->via.map.ptr[i].key, &kp, &kn) || kn == 0 || kn > MAE_MAX_NAME) {
				fail(&e, "a tensor name is not a string of 1 to %d bytes", MAE_MAX_NAME);
				goto out;
			}
			copy_n(name, kp, kn);
			name[kn] = 0;
			if (mae_rec_tensor(rec, name)) {
				fail(&e, "duplicate tensor '%s'", name);
				goto out;
			}
			if (decode_tensor(name, &tensors->via.map.ptr[i].val, &rec->tensors[rec->ntensors], &e))
				goto out;
			rec->ntensors++;
		}
	}
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	if (rc) {
		rec->ntensors = 0;   /* nothing borrowed survives a failed decode */
		mae_val_free(&rec->fields);
	}
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding into a gather list: small pieces are copied into one buffer, large bodies are
 * referenced (they stay valid until the record is cleared). */

#define REF_MIN 4096

void mae_gather_reset(mae_gather *g)
{
	g->len = 0;
	g->nseg = 0;
	g->total = 0;
}

void mae_gather_free(mae_gather *g)
{
	free(g->buf);
	free(g->seg);
	memset(g, 0, sizeof *g);
}

static void add_seg(mae_gather *g, const void *ref, size_t off, size_t n)
{
	if (g->nseg == g->segcap) {
		g->segcap = g->segcap ? 2 * g->segcap : 16;
		g->seg = mae_realloc(g->seg, (size_t)g->segcap * sizeof *g->seg);
	}
	g->seg[g->nseg].ref = ref;
	g->seg[g->nseg].off = off;
	g->seg[g->nseg].n = n;
	g->nseg++;
}

static int gather_write(void *data, const char *p, size_t n)
{
	mae_gather *g = data;
	g->total += n;
	if (n >= REF_MIN) {
		add_seg(g, p, 0, n);
		return 0;
	}
	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2 + 256;
		g->buf = mae_realloc(g->buf, g->cap);
	}
	memcpy(g->buf + g->len, p, n);
	/* extend the last inline segment, or start one */
	if (g->nseg && !g->seg[g->nseg - 1].ref && g->seg[g->nseg - 1].off + g->seg[g->nseg - 1].n == g->len)
		g->seg[g->nseg - 1].n += n;
	else
		add_seg(g, NULL, g->len, n);
	g->len += n;
	return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_val(msgpack_packer *pk, const mae_val *v)
{
	switch (v->type) {
	case MAE_V_NIL: msgpack_pack_nil(pk); break;
	case MAE_V_BOOL: v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
	case MAE_V_INT: msgpack_pack_int64(pk, v->i); break;
	case MAE_V_UINT: msgpack_pack_uint64(pk, v->u); break;
	case MAE_V_FLOAT: msgpack_pack_double(pk, v->f); break;
	case MAE_V_STR: msgpack_pack_str(pk, v->s.n); msgpack_pack_str_body(pk, v->s.p, v->s.n); break;
	case MAE_V_BIN: msgpack_pack_bin(pk, v->s.n); msgpack_pack_bin_body(pk, v->s.p, v->s.n); break;
	case MAE_V_EXT: msgpack_pack_ext(pk, v->s.n, v->s.ext); msgpack_pack_ext_body(pk, v->s.p, v->s.n); break;
	case MAE_V_ARRAY:
		msgpack_pack_array(pk, v->a.n);
		for (size_t i = 0; i < v->a.n; i++)
			pack_val(pk, &v->a.v[i]);
		break;
	case MAE_V_MAP:
		msgpack_pack_map(pk, v->m.n);
		for (size_t i = 0; i < v->m.n; i++) {
			pack_str(pk, v->m.kv[i].key);
			pack_val(pk, &v->m.kv[i].val);
		}
		break;
	}
}

static const char *type_name(enum mae_rtype t)
{
	return t == MAE_REC_HEADER ? "header" : t == MAE_REC_EOS ? "eos" : "batch";
}

void mae_gather_record(mae_gather *g, const mae_record *rec)
{
	msgpack_packer pk;
	size_t nf = rec->fields.type == MAE_V_MAP ? rec->fields.m.n : 0;
	int with_tensors = rec->type == MAE_REC_BATCH;
	mae_gather_reset(g);
	msgpack_packer_init(&pk, g, gather_write);
	msgpack_pack_map(&pk, 1 + nf + (size_t)with_tensors);
	pack_str(&pk, "type");
	pack_str(&pk, type_name(rec->type));
	for (size_t i = 0; i < nf; i++) {
		pack_str(&pk, rec->fields.m.kv[i].key);
		pack_val(&pk, &rec->fields.m.kv[i].val);
	}
	if (!with_tensors)
		return;
	/* tensors last: a reader that only wants the small fields finds them first */
	pack_str(&pk, "tensors");
	msgpack_pack_map(&pk, (size_t)rec->ntensors);
	for (int i = 0; i < rec->ntensors; i++) {
		const mae_tensor *t = &rec->tensors[i];
		size_t nb = mae_tensor_nbytes(t);
		pack_str(&pk, t->name);
		msgpack_pack_map(&pk, 3);
		pack_str(&pk, "dtype");
		pack_str(&pk, mae_dtype_name(t->dtype));
		pack_str(&pk, "shape");
		msgpack_pack_array(&pk, (size_t)t->ndim);
		for (int d = 0; d < t->ndim; d++)
			msgpack_pack_uint64(&pk, (uint64_t)t->shape[d]);
		pack_str(&pk, "data");
		msgpack_pack_bin(&pk, nb);
		msgpack_pack_bin_body(&pk, t->data, nb);
	}
}

void mae_gather_ref(mae_gather *g, const void *buf, size_t n)
{
	mae_gather_reset(g);
	add_seg(g, buf, 0, n);
	g->total = n;
}

void mae_gather_copy(const mae_gather *g, void *dst)
{
	char *d = dst;
	for (int i = 0; i < g->nseg; i++) {
		const void *src = g->seg[i].ref ? g->seg[i].ref : g->buf + g->seg[i].off;
		memcpy(d, src, g->seg[i].n);
		d += g->seg[i].n;
	}
}

size_t mae_encode_record(const mae_record *rec, void **buf)
{
	mae_gather g = {0};
	mae_gather_record(&g, rec);
	*buf = mae_malloc(g.total);
	mae_gather_copy(&g, *buf);
	size_t n = g.total;
	mae_gather_free(&g);
	return n;
}
