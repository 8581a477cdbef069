/* tensor.c: dtype table and tensor sizes (see tensor.h). */
#include "mae/stream/tensor.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[MAE_NDTYPE] = {
	[MAE_BOOL] = {"BOOL", 1}, [MAE_U8] = {"U8", 1},   [MAE_I8] = {"I8", 1},
	[MAE_U16] = {"U16", 2},   [MAE_I16] = {"I16", 2}, [MAE_U32] = {"U32", 4},
	[MAE_I32] = {"I32", 4},   [MAE_U64] = {"U64", 8}, [MAE_I64] = {"I64", 8},
	[MAE_F16] = {"F16", 2},   [MAE_BF16] = {"BF16", 2}, [MAE_F32] = {"F32", 4},
	[MAE_F64] = {"F64", 8},
};

size_t mae_dtype_size(enum mae_dtype t) { return (unsigned)t < MAE_NDTYPE ? dtypes[t].size : 0; }
const char *mae_dtype_name(enum mae_dtype t) { return (unsigned)t < MAE_NDTYPE ? dtypes[t].name : "?"; }

int mae_dtype_parse(const char *s, size_t n)
{
	for (int t = 0; t < MAE_NDTYPE; t++)
		if (strlen(dtypes[t].name) == n && memcmp(dtypes[t].name, s, n) == 0)
			return t;
	return -1;
}

int64_t mae_tensor_numel(const mae_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

size_t mae_tensor_nbytes(const mae_tensor *t)
{
	return (size_t)mae_tensor_numel(t) * mae_dtype_size(t->dtype);
}

char *mae_tensor_desc(const mae_tensor *t, char *buf, size_t n)
{
	size_t k = (size_t)snprintf(buf, n, "%s [", mae_dtype_name(t->dtype));
	for (int i = 0; i < t->ndim && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}
