/* tensor.h: dtypes and tensors as they travel in a mae-stream(5).
 *
 * A tensor is a name, a safetensors-style dtype, a shape (outermost first, numpy order) and
 * C-order little-endian data. Data is either borrowed (pointing into the record buffer a reader
 * filled, valid until the next read) or owned (64-byte aligned, freed with the record). */
#ifndef MAE_TENSOR_H
#define MAE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum mae_dtype {
	MAE_BOOL, MAE_U8, MAE_I8, MAE_U16, MAE_I16, MAE_U32, MAE_I32,
	MAE_U64, MAE_I64, MAE_F16, MAE_BF16, MAE_F32, MAE_F64, MAE_NDTYPE
};

#define MAE_MAX_DIMS   8            /* rank limit of a tensor */
#define MAE_MAX_NAME   63           /* longest tensor name */
#define MAE_MAX_DIM    (1LL << 31)  /* largest single dimension */

typedef struct mae_tensor {
	char name[MAE_MAX_NAME + 1];
	enum mae_dtype dtype;
	int ndim;
	int64_t shape[MAE_MAX_DIMS];
	void *data;        /* numel * dtype size bytes; borrowed or == owned */
	void *owned;       /* 64-byte aligned storage we must free, or NULL */
	size_t cap;        /* bytes available at owned */
} mae_tensor;

size_t mae_dtype_size(enum mae_dtype t);
const char *mae_dtype_name(enum mae_dtype t);
int mae_dtype_parse(const char *s, size_t n);     /* -1 if unknown */

int64_t mae_tensor_numel(const mae_tensor *t);
size_t mae_tensor_nbytes(const mae_tensor *t);
/* "F32 [4,196,768]" into buf */
char *mae_tensor_desc(const mae_tensor *t, char *buf, size_t n);

#endif
