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

/* Peers of a ZeroMQ socket, from its monitor (endpoint.c). Open it before bind/connect. */
typedef struct {
	void *pair;
	int peers, ever;
	double empty_since;   /* when peers last fell to 0 (0: not empty) */
} monitor;
void monitor_open(monitor *m, void *sock, const char *name);
void monitor_poll(monitor *m, long timeout_ms);   /* process events, waiting up to timeout */
void monitor_close(monitor *m, void *sock);

#endif
