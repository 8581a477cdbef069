/* value.h: a small tree of MessagePack values for headers, meta maps and pass-through fields.
 *
 * Records carry free-form metadata (patch size, grid, epoch, provenance, fields added by other
 * tools). Readers deep-copy it into this tree so a stage can read, change and forward it without
 * knowing every field. Maps keep insertion order; keys are strings. */
#ifndef MAE_VALUE_H
#define MAE_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum mae_vtype { MAE_V_NIL, MAE_V_BOOL, MAE_V_INT, MAE_V_UINT, MAE_V_FLOAT, MAE_V_STR,
                 MAE_V_BIN, MAE_V_ARRAY, MAE_V_MAP, MAE_V_EXT };

typedef struct mae_val mae_val;
typedef struct mae_kv mae_kv;

struct mae_val {
	enum mae_vtype type;
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double f;
		struct { char *p; size_t n; int8_t ext; } s;   /* STR, BIN, EXT (p is NUL-terminated) */
		struct { mae_val *v; size_t n, cap; } a;        /* ARRAY */
		struct { mae_kv *kv; size_t n, cap; } m;        /* MAP */
	};
};

struct mae_kv { char *key; mae_val val; };

void mae_val_free(mae_val *v);                 /* frees children; leaves v as NIL */
void mae_val_copy(mae_val *dst, const mae_val *src);
void mae_val_map(mae_val *v);                  /* make v an empty map (frees what it held) */

/* Map access. get returns NULL when absent (or when m is not a map). */
mae_val *mae_map_get(const mae_val *m, const char *key);
mae_val *mae_map_put(mae_val *m, const char *key);   /* slot for key, cleared to NIL, appended if new */
void mae_map_del(mae_val *m, const char *key);
void mae_map_set_int(mae_val *m, const char *key, int64_t x);
void mae_map_set_float(mae_val *m, const char *key, double x);
void mae_map_set_str(mae_val *m, const char *key, const char *s);
void mae_map_set_bool(mae_val *m, const char *key, bool b);
void mae_map_set_ints(mae_val *m, const char *key, const int64_t *x, size_t n);
void mae_map_set_floats(mae_val *m, const char *key, const double *x, size_t n);
mae_val *mae_map_submap(mae_val *m, const char *key); /* existing map under key, or a new one */

/* Typed reads with defaults; a value of the wrong type counts as absent. */
int mae_val_as_int(const mae_val *v, int64_t *out);   /* 1 if v is an integer (or integral float) */
int mae_val_as_float(const mae_val *v, double *out);
int64_t mae_map_int(const mae_val *m, const char *key, int64_t def);
double mae_map_float(const mae_val *m, const char *key, double def);
const char *mae_map_str(const mae_val *m, const char *key, const char *def);
/* Read an array of numbers; returns its length (at most n stored), or -1 if absent/not numeric. */
int mae_map_floats(const mae_val *m, const char *key, double *out, int n);
int mae_map_ints(const mae_val *m, const char *key, int64_t *out, int n);

/* Array helpers */
mae_val *mae_array_push(mae_val *a);           /* a becomes an array if NIL; returns new NIL slot */

/* One-line JSON-like rendering for mae-inspect (truncated to n bytes). */
void mae_val_format(const mae_val *v, char *buf, size_t n);

#endif
