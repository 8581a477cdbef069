/* checkpoint.h: safetensors files, and model/optimiser checkpoints in them (mae-checkpoint(5)).
 *
 * Layout (huggingface/safetensors): u64 little-endian N, N bytes of JSON header, then the
 * tensors' bytes back to back. The header maps each tensor name to {dtype, shape,
 * data_offsets [begin, end)} relative to the data section, plus "__metadata__", a map of string
 * to string. maepipe writes the header padded with spaces so the data starts 64-byte aligned,
 * and writes atomically: a temporary file in the same directory, fsync, rename, fsync of the
 * directory. The reader checks everything the reference reader checks (header size limit, JSON,
 * known dtypes, sizes equal shape times dtype size, offsets contiguous and covering the data
 * exactly, no duplicate names, string-only metadata). */
#ifndef MAE_CHECKPOINT_H
#define MAE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "mae/model/model.h"
#include "mae/train/optim.h"
#include "mae/stream/tensor.h"

#define MAE_ST_MAX_HEADER 100000000   /* bytes, as safetensors' MAX_HEADER_SIZE */

typedef struct mae_st_tensor {
	char *name;
	enum mae_dtype dtype;
	int ndim;
	int64_t shape[MAE_MAX_DIMS];
	const void *data;       /* into the file's buffer (reading) or the caller's (writing) */
	size_t nbytes;
} mae_st_tensor;

typedef struct mae_st_file {
	void *buf;              /* the whole file */
	size_t size;
	int n;
	mae_st_tensor *t;
	int nmeta;
	char **mkey, **mval;
} mae_st_file;

/* Read and validate a whole file. 0, or -1 with "path: what" in err. */
int mae_st_read(mae_st_file *f, const char *path, char *err, size_t errn);
/* The same from memory (buf is copied). */
int mae_st_parse(mae_st_file *f, const void *buf, size_t size, char *err, size_t errn);
void mae_st_free(mae_st_file *f);
const mae_st_tensor *mae_st_get(const mae_st_file *f, const char *name);
const char *mae_st_meta(const mae_st_file *f, const char *key);   /* NULL if absent */
/* The metadata key of the data section's CRC-32 (8 hex digits), which mae_st_write adds
 * and mae_st_read checks when a file has it (files from elsewhere may not). */
#define MAE_ST_CRC_KEY "crc32"
/* Write n tensors in the given order, with nmeta (key, value) pairs of metadata
 * (meta[2i] = key, meta[2i+1] = value) and the CRC-32. Atomic. 0, or -1 with err. */
int mae_st_write(const char *path, const mae_st_tensor *t, int n, const char *const *meta,
                 int nmeta, char *err, size_t errn);
/* Several files that must change together (a model and its optimiser state): after
 * mae_st_begin, mae_st_write only writes and syncs each file under a temporary name beside
 * it; mae_st_commit then renames them all, one after another, so the files are replaced
 * within microseconds of each other rather than one whole write apart. 0, or -1 with err
 * (the files not yet renamed are removed). */
void mae_st_begin(void);
int mae_st_commit(char *err, size_t errn);

/* Model checkpoints: every tensor of the state dict (mae_model.tensors) as F32 under its
 * PyTorch name, the configuration in __metadata__ (format "maepipe", every mae_config field by
 * name, as mae_config_set reads them), plus any extra (key, value) metadata pairs. */
int mae_checkpoint_save(const mae_model *m, const char *path, const char *const *extra,
                        int nextra, char *err, size_t errn);
/* The configuration stored in a checkpoint's metadata, then the overrides in `spec_override`
 * ("key=value,...", may be NULL). Files without maepipe metadata (e.g. saved from PyTorch) need
 * a full spec instead: "vit-base" or "micro-28,mode=lomar". */
int mae_checkpoint_config(const mae_st_file *f, const char *spec_override, mae_config *c,
                          char *err, size_t errn);
/* Copy every state-dict tensor from the file into m, strictly (as load_state_dict with
 * strict=True): each must be present, F32, with the exact shape; no other tensors allowed. */
int mae_checkpoint_load_into(mae_model *m, const mae_st_file *f, char *err, size_t errn);
/* Build a model from a checkpoint file (config from metadata, then overrides) and load it. */
mae_model *mae_checkpoint_load(const char *path, const char *spec_override, char *err, size_t errn);

/* Optimiser state beside a checkpoint: the moments as "exp_avg.<name>" / "exp_avg_sq.<name>"
 * for every trainable tensor, step and hyper-parameters in the metadata (plus extra pairs, e.g.
 * the data position). Loading checks the names and shapes against m. */
int mae_optim_save(const mae_optim *o, const mae_model *m, const char *path,
                   const char *const *extra, int nextra, char *err, size_t errn);
/* images, if not NULL: the "images" extra pair (images seen), 0 if absent. */
int mae_optim_load(mae_optim *o, const mae_model *m, const char *path, int64_t *images,
                   char *err, size_t errn);

#endif
