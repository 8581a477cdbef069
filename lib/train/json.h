/* json.h: a small strict JSON reader (RFC 8259) for safetensors headers. Internal to libmae.
 *
 * Numbers keep an exact int64 when they are integers (safetensors offsets exceed 2^53 in
 * principle); objects refuse duplicate keys (as safetensors does); nesting is limited so hostile
 * input cannot exhaust the stack. */
#ifndef MAE_JSON_H
#define MAE_JSON_H

#include <stddef.h>
#include <stdint.h>

enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

typedef struct mae_json {
	int type;
	int is_int;             /* JSON_NUM: integral and within int64 */
	int64_t i;              /* JSON_NUM integer value, JSON_BOOL 0/1 */
	double d;               /* JSON_NUM */
	char *s;                /* JSON_STR (NUL-terminated; may contain NUL via \u0000) */
	size_t slen;
	size_t n;               /* JSON_ARR / JSON_OBJ members */
	struct mae_json *v;     /* members */
	char **k;               /* JSON_OBJ keys */
} mae_json;

/* Parse buf[0..n) as exactly one JSON value (whitespace around it allowed). 0, or -1 with a
 * message naming the byte offset. */
int mae_json_parse(const char *buf, size_t n, mae_json *out, char *err, size_t errn);
void mae_json_free(mae_json *j);
const mae_json *mae_json_get(const mae_json *obj, const char *key);

#endif
