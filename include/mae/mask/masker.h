/* masker.h: one masking strategy of mae-mask(1) as one struct, and the table of them.
 *
 * mae-mask is a skeleton: it reads the stream, seeds one generator per sample and calls the
 * strategy's per-sample function over the worker pool. Everything that differs between
 * strategies is in its mae_masker: its options (from which the program builds its usage
 * text, its getopt table and the "does not apply" checks), the defaults and checks that
 * depend on the stream header, the provenance it writes into the header, the tensors it reads
 * and writes, and its per-batch and per-sample work. Each lives in lib/mask/masker_NAME.c;
 * lib/mask/maskers.c lists them (mae-mask(1), ADDING A MASKER). The algorithms themselves stay
 * pure functions in mask.h. */
#ifndef MAE_MASKER_H
#define MAE_MASKER_H

#include <stddef.h>
#include <stdint.h>
#include "mae/mask/mask.h"
#include "mae/stream/stream.h"
#include "mae/util/rng.h"

/* What every masker shares, filled by mae-mask before the masker's setup. */
typedef struct mae_mask_ctx {
	double ratio;          /* -r, else the masker's default ratio; setup may change it */
	int ratio_set;         /* -r was given */
	int gt, gh, gw, n;     /* frames, grid, patches per sample (n = gt*gh*gw; tube may set gt) */
	int p;                 /* the header's patch_size, 0 if none */
	int c;                 /* channels, from each batch's P (maskers that read `patches`) */
	int threads;           /* workers: every tid is below this */
	uint64_t seed;
	/* Sizes named by capital letters in the shapes of reads and writes: mae-mask sets
	 * B, N, P (each batch), H = gh*p and W = gw*p; setup sets the masker's own (window: M). */
	int64_t dim[26];
} mae_mask_ctx;

/* A tensor a masker reads or writes; shape in letters of dim and numbers, e.g. "[B,M,2]". */
typedef struct mae_mask_tensor {
	const char *name;
	enum mae_dtype dtype;
	const char *shape;
} mae_mask_tensor;

enum { MAE_MASKER_TENSORS = 4 };   /* room for reads, and for writes, of one masker */

/* One batch as the masker sees it. */
typedef struct mae_mask_batch {
	const mae_mask_ctx *ctx;
	int64_t epoch;             /* batch meta `epoch`, 0 if none */
	int64_t seq;               /* the record's seq, else its number */
	const int64_t *index;      /* `index` [B], or NULL */
	int B, P;
	double ratio;              /* ctx->ratio unless the batch hook draws this batch's own */
	float *patches;            /* [B,N,P] */
	uint8_t *mask;             /* [B,N], to fill */
	const void *in[MAE_MASKER_TENSORS];   /* the masker's reads, in its order */
	void *out[MAE_MASKER_TENSORS];        /* its writes, in its order, after `mask` */
} mae_mask_batch;

/* The sample's identity in the generator's seed: `index`, else (seq, position) packed, unique
 * per sample of the stream. */
uint64_t mae_mask_sample_index(const mae_mask_batch *bv, int b);

/* How an option's argument reaches the masker's state: a typed slot at offsetof(state, field)
 * or a parse function. */
enum mae_mask_opt_kind {
	MAE_MOPT_INT,        /* int in [lo, hi] */
	MAE_MOPT_INT64,      /* int64_t in [lo, hi] */
	MAE_MOPT_DOUBLE,     /* double in [lo, hi] */
	MAE_MOPT_CHOICE,     /* int: the index of the argument in choices */
	MAE_MOPT_CLEAR,      /* int set to 0; the option takes no argument */
	MAE_MOPT_PARSE       /* parse(state, arg): NULL, or what was expected (a usage error) */
};

typedef struct mae_mask_opt {
	const char *name;          /* long option without the dashes */
	const char *arg;           /* its argument in the usage text; NULL for CLEAR */
	const char *def;           /* its default in the usage text, or NULL */
	const char *help;          /* one short line */
	enum mae_mask_opt_kind kind;
	size_t at;                 /* offsetof the slot in the state */
	double lo, hi;
	const char *const *choices;                        /* CHOICE: NULL-terminated */
	const char *(*parse)(void *state, const char *arg);   /* PARSE */
} mae_mask_opt;

typedef struct mae_masker {
	const char *name;          /* the STRATEGY operand */
	const char *about;         /* one line for the usage text */
	double ratio;              /* default -r; negative: the strategy takes no -r */
	int clips;                 /* works on clips of several frames (others need one) */
	size_t size;               /* of its state */
	const void *defaults;      /* the state before any option: size bytes */
	const mae_mask_opt *opts;              /* ends with {0} */
	const mae_mask_tensor *reads;          /* ends with {0}; "patches" here means the values are
	                                        * read as pixels: P = p*p*C is checked, ctx->c set */
	const mae_mask_tensor *writes;         /* ends with {0}; added after `mask`, in this order */
	/* Defaults that depend on the header (grid, patch_size, frames, epochs) and checks of the
	 * combination; dies with a usage (MAE_EXIT_USAGE) or data (MAE_EXIT_DATA) error. May be
	 * NULL. Allocates what the state needs (per-thread scratch: ctx->threads). */
	void (*setup)(void *state, mae_mask_ctx *ctx, mae_val *meta);
	/* Provenance: entries of the header's `mask` map after strategy, ratio and seed, and other
	 * header meta (window: window_size, num_windows). May be NULL. */
	void (*describe)(const void *state, const mae_mask_ctx *ctx, mae_val *mask_meta,
	                 mae_val *meta);
	/* Once per batch, after the writes are added and before the samples; may be NULL. */
	void (*batch)(void *state, mae_mask_batch *bv, mae_record *rec);
	/* One sample: fill bv->mask + b*n (and the writes' sample b) from rng, seeded by
	 * (seed, epoch, sample index, "mask"). tid picks per-thread scratch. */
	void (*sample)(const void *state, const mae_mask_batch *bv, int b, int tid, mae_rng *rng);
	void (*free)(void *state);   /* what setup allocated; may be NULL */
} mae_masker;

/* Every masker, in the order of the usage text; NULL-terminated (lib/mask/maskers.c). */
extern const mae_masker *const mae_maskers[];
const mae_masker *mae_masker_find(const char *name);   /* NULL if unknown */

/* What mae-mask does around a masker (lib/mask/masker.c). */
/* The usage text: head, then every masker with its options and tensors (malloc'ed). */
char *mae_maskers_usage(const char *head);
/* One option's argument into a masker's state; a bad one is a usage error. */
void mae_mask_opt_set(void *state, const mae_mask_opt *o, const char *arg, const char *usage);
/* The header's grid, frames and patch_size into x (x->gh set: --grid), the masker's setup, and
 * the provenance: the header's `mask` map {strategy, ratio, seed, then the masker's}. */
void mae_mask_setup(const mae_masker *m, void *state, mae_mask_ctx *x, mae_record *hdr);
/* One batch: its tensors checked, `mask` and the masker's writes added, the batch hook run,
 * and the view filled for the sample function. */
void mae_mask_batch_begin(const mae_masker *m, void *state, mae_mask_ctx *x, mae_record *rec,
                          mae_mask_batch *bv);

#endif
