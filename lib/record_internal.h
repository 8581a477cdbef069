/* record_internal.h: the encoder's gather list, shared by record.c and endpoint.c only. */
#ifndef MAE_RECORD_INTERNAL_H
#define MAE_RECORD_INTERNAL_H

#include <stddef.h>
#include "mae/stream.h"

typedef struct mae_gather {
	char *buf;                 /* small pieces, copied */
	size_t len, cap;
	struct { const void *ref; size_t off, n; } *seg;   /* ref != NULL: large body, by reference */
	int nseg, segcap;
	size_t total;              /* bytes of the whole encoded record */
} mae_gather;

void gather_reset(mae_gather *g);
void gather_free(mae_gather *g);
void gather_record(mae_gather *g, const mae_record *rec);
void gather_copy(const mae_gather *g, void *dst);

/* The process's ZeroMQ context (endpoint.c), counted: the last release terminates it. */
void *mae_zctx_acquire(void);
void mae_zctx_release(void);

#endif
