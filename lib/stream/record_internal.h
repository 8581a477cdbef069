/* record_internal.h: what libmae's transports share and nobody else needs: the encoder's
 * gather list, the ZeroMQ context and sockets, endpoint syntax and peer tracking (record.c,
 * endpoint.c, curve.c, and the training planes' sockets in train/ps.c and train/gradplane.c). */
#ifndef MAE_RECORD_INTERNAL_H
#define MAE_RECORD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "mae/stream/stream.h"

typedef struct mae_gather {
	char *buf;                 /* small pieces, copied */
	size_t len, cap;
	struct { const void *ref; size_t off, n; } *seg;   /* ref != NULL: large body, by reference */
	int nseg, segcap;
	size_t total;              /* bytes of the whole encoded record */
} mae_gather;

void mae_gather_reset(mae_gather *g);
void mae_gather_free(mae_gather *g);
void mae_gather_record(mae_gather *g, const mae_record *rec);
void mae_gather_copy(const mae_gather *g, void *dst);
/* A record already encoded: one segment referring to buf[0..n). */
void mae_gather_ref(mae_gather *g, const void *buf, size_t n);
/* Send a gathered record as one ZeroMQ message (endpoint.c); 0 if ZMQ_DONTWAIT would block. */
int mae_zmq_send_gathered(void *sock, const mae_gather *g, int flags, const char *name);

/* What a MessagePack type byte announces: `lenbytes` bytes of big-endian length follow it;
 * then `body` bytes of payload plus, per `per_len`, the length itself as payload (str, bin,
 * ext), as elements (array) or as pairs of elements (map); `children` elements follow for the
 * fixed-size containers. Returns 0, or -1 for a byte that is not MessagePack. Shared by the
 * pipe framer (endpoint.c) and the decoder's pre-check (record.c). */
enum { MP_LEN_NONE, MP_LEN_BODY, MP_LEN_ARRAY, MP_LEN_MAP };
typedef struct {
	int lenbytes, per_len;
	uint64_t body, children;
} mp_head;
int mae_mp_type(unsigned char t, mp_head *h);

/* The process's ZeroMQ context (endpoint.c), counted: the last release terminates it. */
void *mae_zctx_acquire(void);
void mae_zctx_release(void);

/* A socket of the process's context with the options every maepipe socket has: LINGER
 * linger_ms, ZMQ_MAXMSGSIZE the record limit (MAE_MAX_RECORD), and ZMTP heartbeats
 * (MAE_HEARTBEAT) so that a peer that stops answering, a process stopped or a host cut off,
 * is disconnected and noticed. Dies with `name` if the socket cannot be made. Close it with
 * zmq_close and mae_zctx_release. */
void *mae_zsocket(int type, int linger_ms, const char *name);
/* An endpoint as written (mae(7) ENDPOINTS): [sub:|pub:][@|>]ADDRESS, @ to bind, > to
 * connect. The one parser of that syntax, for the data plane's endpoints (input or output;
 * "-" and file names are not sockets) and for the training planes' sockets (a ZeroMQ address,
 * whose socket type the plane fixes; a route, one read from a record's `route`, must connect).
 * A bare ZeroMQ address binds if bind_by_default. Dies on a prefix without a ZeroMQ address, a
 * sub:/pub: where it has no meaning, or a plane endpoint that is no ZeroMQ address: status 1
 * (usage), 2 for a route (bad data). */
enum mae_endpoint_kind { MAE_EP_INPUT, MAE_EP_OUTPUT, MAE_EP_PLANE, MAE_EP_ROUTE };
typedef struct mae_endpoint {
	int zmq;            /* 0: "-" or a file */
	int bind;
	int socktype;       /* data endpoints: ZMQ_PULL, ZMQ_SUB, ZMQ_PUSH or ZMQ_PUB */
	const char *addr;   /* the address without its prefixes (points into the string parsed) */
} mae_endpoint;
mae_endpoint mae_endpoint_parse(const char *s, enum mae_endpoint_kind kind, int bind_by_default);
/* Secure (mae_zsecure) and then bind or connect sock as e says; dies naming `name`. Every
 * maepipe socket is attached through it, after its options are set. */
void mae_zattach(void *sock, const mae_endpoint *e, const char *name);
/* CURVE on a tcp:// socket about to bind or connect to addr, when MAE_CURVE names a run's
 * keys (curve.c); nothing otherwise, and nothing for other transports. */
void mae_zsecure(void *sock, const char *addr, int bind, const char *name);
/* MAE_PEER_GRACE: seconds a socket whose peers have all left waits for one to come back. */
double mae_peer_grace(void);

/* Peers of a ZeroMQ socket, from its monitor (endpoint.c). Open it before bind/connect. */
typedef struct {
	void *pair;
	int peers, ever;
	int unmet;            /* connections whose handshake failed, their disconnect still to come */
	double empty_since;   /* when peers last fell to 0 (0: not empty) */
} monitor;
void mae_monitor_open(monitor *m, void *sock, const char *name);
void mae_monitor_poll(monitor *m, long timeout_ms);   /* process events, waiting up to timeout */
void mae_monitor_close(monitor *m, void *sock);

#endif
