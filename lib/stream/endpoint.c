/* endpoint.c: reading and writing records through "-", files and ZeroMQ sockets.
 *
 * Pipes and files: records are back-to-back MessagePack maps. The reader frames one record by
 * walking the MessagePack headers (it never parses further than it needs to find the end) and
 * reads large binary bodies straight into the record buffer, which is reused from record to
 * record. The writer sends small pieces and large tensor bodies with one writev(2), no copy.
 *
 * ZeroMQ: one message is one record. Data sockets are PUSH/PULL with a small high-water mark
 * (backpressure, nothing dropped); taps are PUB (a slow subscriber loses records). The end of a
 * stream is its EOS record, never socket linger: after sending EOS a PUSH writer waits until
 * its peers have disconnected (a reader disconnects right after it has read its last EOS), and
 * a writer feeding N workers (--fanout N) waits for all N before sending, hands each its own
 * copy of the header, and sends EOS copies until every worker has left. */
#include "mae/stream/stream.h"
#include "mae/util/util.h"
#include "stream/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zmq.h>

enum { EP_FD = 1, EP_ZMQ = 2 };

static size_t max_record(void)
{
	const char *s = getenv("MAE_MAX_RECORD");
	if (s && *s) {
		char *end;
		unsigned long long x = strtoull(s, &end, 10);
		if (!*end && x > 0)
			return (size_t)x;
	}
	return (size_t)MAE_MAX_RECORD;
}

/* ---------------------------------------------------------------------------------------- */
/* Endpoint syntax: the one parser of mae(7) ENDPOINTS, for the data plane's endpoints and the
 * training planes' sockets alike */

static int is_zmq_addr(const char *s)
{
	return !strncmp(s, "tcp://", 6) || !strncmp(s, "ipc://", 6) || !strncmp(s, "inproc://", 9);
}

mae_endpoint mae_endpoint_parse(const char *s, enum mae_endpoint_kind kind, int bind_by_default)
{
	mae_endpoint e = {0, bind_by_default, kind == MAE_EP_INPUT ? ZMQ_PULL : ZMQ_PUSH, s};
	int status = kind == MAE_EP_ROUTE ? MAE_EXIT_DATA : MAE_EXIT_USAGE;   /* routes are data */
	const char *p = s;
	if (!strncmp(p, "sub:", 4) && kind == MAE_EP_INPUT) {
		e.socktype = ZMQ_SUB;
		p += 4;
	} else if (!strncmp(p, "pub:", 4) && kind == MAE_EP_OUTPUT) {
		e.socktype = ZMQ_PUB;
		p += 4;
	}
	if (*p == '@' || *p == '>') {
		e.bind = *p == '@';
		p++;
		if (!is_zmq_addr(p))
			mae_die(status, "%s: not a ZeroMQ address (tcp://, ipc:// or inproc://)", s);
		if (e.bind && kind == MAE_EP_ROUTE)
			mae_die(status, "%s: a gradient route names an address to connect to, not one to bind", s);
		e.zmq = 1;
	} else if (is_zmq_addr(p)) {
		e.zmq = 1;
	} else if (p != s) {
		mae_die(MAE_EXIT_USAGE, "%s: a socket type prefix needs a ZeroMQ address", s);
	} else if (kind == MAE_EP_PLANE || kind == MAE_EP_ROUTE) {
		mae_die(status, "%s: not a ZeroMQ address (tcp://, ipc:// or inproc://, after an "
		        "optional @ to bind or > to connect)", s);
	}
	if (!e.zmq)
		e.bind = 0;
	e.addr = p;
	return e;
}

void mae_zattach(void *sock, const mae_endpoint *e, const char *name)
{
	mae_zsecure(sock, e->addr, e->bind, name);
	int rc = e->bind ? zmq_bind(sock, e->addr) : zmq_connect(sock, e->addr);
	if (rc != 0)
		mae_die(MAE_EXIT_DATA, "%s: cannot %s: %s", name, e->bind ? "bind" : "connect", zmq_strerror(errno));
}

/* A larger pipe buffer (1 MiB, the unprivileged limit) quarters the number of context
 * switches per large record; harmless where it fails (files, terminals, old kernels). */
static void widen_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
	fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#else
	(void)fd;
#endif
}

static void *zctx;
static int zctx_users;

/* One ZeroMQ context per process, shared by the endpoints and the training planes; the
 * last user terminates it. */
void *mae_zctx_acquire(void)
{
	if (!zctx && !(zctx = zmq_ctx_new()))
		mae_die(MAE_EXIT_DATA, "ZeroMQ context: %s", zmq_strerror(errno));
	zctx_users++;
	return zctx;
}

void mae_zctx_release(void)
{
	if (zctx_users > 0 && --zctx_users == 0) {
		zmq_ctx_term(zctx);
		zctx = NULL;
	}
}

/* MAE_HEARTBEAT=IVL[,TIMEOUT] in seconds: a ZMTP ping every IVL, and a connection that
 * has carried nothing for TIMEOUT after a ping is dropped (0 turns heartbeats off). Pings
 * are answered by ZeroMQ's I/O thread, so a stage busy computing still answers; a stopped
 * process or a lost link does not.
 * Unset, only the parameter plane's sockets (ROUTER, DEALER) have them, at 1 s and 10 s: its
 * messages are questions and answers, read as they come. On data and gradient sockets a
 * reader that is behind stops reading (backpressure), and libzmq 4.3.4 then cannot see
 * the pings it has not read: it drops a healthy connection after TIMEOUT, losing what was
 * in flight, or aborts (libzmq issues 3937, 4364, 4767; seen here when a fan-out worker died
 * under a slow merge). There heartbeats are for a user who asks, knowing that. */
static void heartbeat_ms(int type, int *ivl, int *timeout)
{
	const char *s = getenv("MAE_HEARTBEAT");
	int plane = type == ZMQ_ROUTER || type == ZMQ_DEALER;
	*ivl = plane ? 1000 : 0;
	*timeout = 10000;
	if (!s || !*s)
		return;
	char *end;
	double a = strtod(s, &end), b = a * 10;
	if (*end == ',')
		b = strtod(end + 1, &end);
	if (*end || !(a >= 0) || !(b >= a) || b > 6000)
		mae_die(MAE_EXIT_USAGE, "MAE_HEARTBEAT '%s': expected IVL[,TIMEOUT] in seconds, "
		        "0 <= IVL <= TIMEOUT <= 6000", s);
	*ivl = (int)(a * 1000 + 0.5);
	*timeout = (int)(b * 1000 + 0.5);
}

void *mae_zsocket(int type, int linger_ms, const char *name)
{
	void *s = zmq_socket(mae_zctx_acquire(), type);
	if (!s)
		mae_die(MAE_EXIT_DATA, "%s: socket: %s", name, zmq_strerror(errno));
	int64_t maxmsg = (int64_t)max_record();
	int ivl, timeout;
	heartbeat_ms(type, &ivl, &timeout);
	zmq_setsockopt(s, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	if (ivl > 0) {
		int ttl = timeout / 100 * 100;   /* the peer's timeout for us: in tenths of a second */
		zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
		zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
		zmq_setsockopt(s, ZMQ_HEARTBEAT_TTL, &ttl, sizeof ttl);
	}
	return s;
}

double mae_peer_grace(void)
{
	const char *s = getenv("MAE_PEER_GRACE");
	return s && *s ? atof(s) : 10.0;
}

/* A connection that never became a peer (a client refused by CURVE, a port scan, a peer that
 * speaks something else) still ends with a disconnect: counted apart, it does not take a peer
 * with it. Its events and a real peer's may interleave; the counts come out right either way. */
#define HANDSHAKE_FAILED \
	(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* Peer tracking through the socket monitor (record_internal.h): handshakes up, disconnects
 * down. */
void mae_monitor_open(monitor *m, void *sock, const char *name)
{
	char addr[64];
	snprintf(addr, sizeof addr, "inproc://mae-monitor-%p", sock);
	if (zmq_socket_monitor(sock, addr, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILED | ZMQ_EVENT_DISCONNECTED))
		mae_die(MAE_EXIT_DATA, "%s: socket monitor: %s", name, zmq_strerror(errno));
	m->pair = zmq_socket(zctx, ZMQ_PAIR);
	int linger = 0;
	zmq_setsockopt(m->pair, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_connect(m->pair, addr) != 0)
		mae_die(MAE_EXIT_DATA, "%s: socket monitor: %s", name, zmq_strerror(errno));
	m->peers = m->ever = m->unmet = 0;
	m->empty_since = 0;
}

/* The monitor is attached before bind/connect: a handshake that completed before anyone
 * listened would be lost, and a writer would then wait forever for its peer to leave. */
static void *open_socket(const mae_endpoint *e, const char *name, int hwm, monitor *mon)
{
	void *s = mae_zsocket(e->socktype, 0, name);
	if (e->socktype == ZMQ_PULL || e->socktype == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	else
		zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
	if (e->socktype == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if (mon)
		mae_monitor_open(mon, s, name);
	mae_zattach(s, e, name);
	return s;
}

static void close_socket(void *s)
{
	zmq_close(s);
	mae_zctx_release();
}

/* Process monitor events, waiting up to timeout_ms for the first (0: don't wait). */
void mae_monitor_poll(monitor *m, long timeout_ms)
{
	zmq_pollitem_t it = {m->pair, 0, ZMQ_POLLIN, 0};
	while (zmq_poll(&it, 1, timeout_ms) > 0) {
		zmq_msg_t a, b;
		zmq_msg_init(&a);
		zmq_msg_init(&b);
		if (zmq_msg_recv(&a, m->pair, 0) >= 0 && zmq_msg_more(&a) && zmq_msg_recv(&b, m->pair, 0) >= 0
		    && zmq_msg_size(&a) >= 2) {
			uint16_t ev;
			memcpy(&ev, zmq_msg_data(&a), 2);
			if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				m->peers++;
				m->ever++;
			} else if (ev & HANDSHAKE_FAILED) {
				m->unmet++;
			} else if (ev == ZMQ_EVENT_DISCONNECTED && m->unmet > 0) {
				m->unmet--;
			} else if (ev == ZMQ_EVENT_DISCONNECTED && m->peers > 0) {
				if (--m->peers == 0)
					m->empty_since = mae_now();
			}
		}
		zmq_msg_close(&a);
		zmq_msg_close(&b);
		timeout_ms = 0;
	}
}

void mae_monitor_close(monitor *m, void *sock)
{
	if (!m->pair)
		return;
	zmq_socket_monitor(sock, NULL, 0);
	zmq_close(m->pair);
	m->pair = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader */

struct mae_reader {
	char *name;
	int kind;
	int fd, close_fd;
	char *in;                 /* buffered input from fd */
	size_t inpos, inlen, incap;
	char *rec;                /* the current record's bytes */
	size_t reclen, reccap;
	void *sock;
	zmq_msg_t msg;
	int msg_live;
	int merge, headers, eos;
	int64_t count, number, skipped;
	mae_val eosf;
	size_t maxrec;
	int sub;                  /* SUB: may join mid-stream; headers repeat */
	monitor mon;              /* to notice producers that vanish without EOS */
	double grace;             /* seconds to wait for a producer once all have left */
	double done_since;        /* a merge: since when every producer still here has ended */
	const void *raw;          /* last record's bytes */
	size_t rawn;
	/* --ordered: batches are handed on in seq order; those that come early wait here */
	int ordered;
	int64_t next;             /* the seq handed on next */
	struct held { int64_t seq; void *buf; size_t n; } *held;
	int nheld, capheld;
	size_t heldbytes;
	void *cur;                /* the bytes of the held batch handed on last */
};

/* Batches an ordered merge may hold before it decides a producer has stalled. */
#define MAE_ORDERED_HOLD ((size_t)1 << 31)

mae_reader *mae_reader_open(const char *endpoint, const mae_common *c)
{
	mae_endpoint e = mae_endpoint_parse(endpoint ? endpoint : "-", MAE_EP_INPUT, 0);
	const char *name = !endpoint || !strcmp(endpoint, "-") ? "stdin" : endpoint;
	/* an endpoint that cannot be opened ends the program: open it before allocating
	 * anything, so that exit leaves nothing behind (LeakSanitizer counts what a dying frame
	 * held) */
	int file = !e.zmq && strcmp(e.addr, "-"), fd = 0;
	void *sock = NULL;
	monitor mon = {0};
	if (e.zmq)
		sock = open_socket(&e, name, c && c->hwm > 0 ? c->hwm : 4, &mon);
	else if (file && (fd = open(e.addr, O_RDONLY | O_CLOEXEC)) < 0)
		mae_die(MAE_EXIT_DATA, "%s:", e.addr);
	mae_reader *r = mae_calloc(1, sizeof *r);
	r->name = mae_strdup(name);
	r->merge = c && c->merge > 0 ? c->merge : 1;
	r->ordered = c && c->ordered;
	r->maxrec = max_record();
	if (e.zmq) {
		r->kind = EP_ZMQ;
		r->sub = e.socktype == ZMQ_SUB;
		r->sock = sock;
		r->mon = mon;
		r->grace = mae_peer_grace();
		zmq_msg_init(&r->msg);
	} else {
		r->kind = EP_FD;
		r->fd = fd;
		r->close_fd = file;
		if (!file)
			widen_pipe(0);
		r->incap = 1 << 20;
		r->in = mae_malloc(r->incap);
	}
	return r;
}

const char *mae_reader_name(const mae_reader *r) { return r->name; }
int64_t mae_reader_count(const mae_reader *r) { return r->count; }
int64_t mae_reader_skipped(const mae_reader *r) { return r->skipped; }
const mae_val *mae_reader_eos(const mae_reader *r) { return &r->eosf; }

void mae_reader_raw(const mae_reader *r, const void **buf, size_t *n)
{
	*buf = r->raw;
	*n = r->rawn;
}

/* Fill the input buffer; returns bytes available (0 at end of file). */
static size_t fill(mae_reader *r)
{
	if (r->inpos < r->inlen)
		return r->inlen - r->inpos;
	r->inpos = r->inlen = 0;
	for (;;) {
		ssize_t n = read(r->fd, r->in, r->incap);
		if (n >= 0) {
			r->inlen = (size_t)n;
			return r->inlen;
		}
		if (errno != EINTR)
			mae_die(MAE_EXIT_DATA, "%s: read error:", r->name);
	}
}

static void rec_reserve(mae_reader *r, size_t need)
{
	if (need > r->maxrec)
		mae_die(MAE_EXIT_DATA, "%s: record %lld is larger than the limit of %zu bytes (MAE_MAX_RECORD)",
		        r->name, (long long)r->number, r->maxrec);
	if (need <= r->reccap)
		return;
	size_t cap = r->reccap ? r->reccap : 1 << 16;
	while (cap < need)
		cap *= 2;
	/* 64-byte aligned so tensor bodies that happen to land aligned need no copy */
	char *p = mae_alloc_aligned(cap);
	if (r->reclen)
		memcpy(p, r->rec, r->reclen);
	free(r->rec);
	r->rec = p;
	r->reccap = cap;
}

/* Append exactly n bytes of input to the record; 0 if the input ended first. The buffer
 * grows as the bytes arrive (at most doubling), not by the length a header declares: a
 * few garbage bytes declaring 2 GB must not take 2 GB before the input is seen to end. */
static int take(mae_reader *r, size_t n)
{
	if (r->reclen + n > r->maxrec)
		rec_reserve(r, r->reclen + n);   /* dies: over the limit */
	while (n > 0) {
		size_t step = r->reccap > (1 << 16) ? r->reccap : 1 << 16;
		rec_reserve(r, r->reclen + (n < step ? n : step));
		size_t room = r->reccap - r->reclen;
		size_t want = n < room ? n : room;
		size_t avail = r->inlen - r->inpos;
		if (avail == 0 && want >= r->incap) {
			/* large body: read straight into the record buffer */
			ssize_t k = read(r->fd, r->rec + r->reclen, want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				mae_die(MAE_EXIT_DATA, "%s: read error:", r->name);
			if (k == 0)
				return 0;
			r->reclen += (size_t)k;
			n -= (size_t)k;
			continue;
		}
		if (avail == 0 && !(avail = fill(r)))
			return 0;
		size_t k = avail < want ? avail : want;
		memcpy(r->rec + r->reclen, r->in + r->inpos, k);
		r->inpos += k;
		r->reclen += k;
		n -= k;
	}
	return 1;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t x = 0;
	for (int i = 0; i < n; i++)
		x = x << 8 | p[i];
	return x;
}

/* Frame one MessagePack object from a pipe into r->rec. Returns 1, or 0 at a clean end of
 * input (no byte of a new record); dies if the input ends inside a record. */
static int frame_fd(mae_reader *r)
{
	uint64_t pending = 1;   /* objects still to read */
	r->reclen = 0;
	if (!fill(r))
		return 0;
	while (pending > 0) {
		size_t at = r->reclen;
		mp_head h;
		if (!take(r, 1))
			goto cut;
		unsigned char t = (unsigned char)r->rec[at];
		pending--;
		if (mae_mp_type(t, &h))
			mae_die(MAE_EXIT_DATA, "%s: record %lld: not MessagePack (byte 0x%02x at offset %zu)",
			        r->name, (long long)r->number, t, at);
		if (h.lenbytes) {
			if (!take(r, (size_t)h.lenbytes))
				goto cut;
			uint64_t len = be((unsigned char *)r->rec + at + 1, h.lenbytes);
			h.body += h.per_len == MP_LEN_BODY ? len : 0;
			h.children += h.per_len == MP_LEN_ARRAY ? len : h.per_len == MP_LEN_MAP ? 2 * len : 0;
		}
		if (h.body) {
			if (r->reclen + h.body > r->maxrec)
				mae_die(MAE_EXIT_DATA, "%s: record %lld is larger than the limit of %zu bytes (MAE_MAX_RECORD)",
				        r->name, (long long)r->number, r->maxrec);
			if (!take(r, (size_t)h.body))
				goto cut;
		}
		/* each element is at least one byte: a count beyond the limit is garbage */
		if (h.children > r->maxrec || pending + h.children > r->maxrec)
			mae_die(MAE_EXIT_DATA, "%s: record %lld: absurd element count %llu", r->name,
			        (long long)r->number, (unsigned long long)h.children);
		pending += h.children;
	}
	return 1;
cut:
	mae_die(MAE_EXIT_DATA, "%s: input ends inside record %lld (stream cut short)", r->name,
	        (long long)r->number);
}

/* The next record's bytes; returns 0 at the end of input. */
static int next_raw(mae_reader *r, const void **buf, size_t *n)
{
	if (r->kind == EP_FD) {
		if (!frame_fd(r))
			return 0;
		*buf = r->rec;
		*n = r->reclen;
		return 1;
	}
	if (r->msg_live)
		zmq_msg_close(&r->msg);
	zmq_msg_init(&r->msg);
	r->msg_live = 1;
	for (;;) {
		zmq_pollitem_t it = {r->sock, 0, ZMQ_POLLIN, 0};
		int k = zmq_poll(&it, 1, 250);
		if (k > 0 && zmq_msg_recv(&r->msg, r->sock, ZMQ_DONTWAIT) >= 0)
			break;
		if (k < 0 && errno != EINTR)
			mae_die(MAE_EXIT_DATA, "%s: receive: %s", r->name, zmq_strerror(errno));
		if (k > 0 && errno != EAGAIN && errno != EINTR)
			mae_die(MAE_EXIT_DATA, "%s: receive: %s", r->name, zmq_strerror(errno));
		/* Nothing pending: have all producers gone away without their EOS? Another one may
		 * still connect (a merge of producers that come and go), so allow a grace period. */
		mae_monitor_poll(&r->mon, 0);
		if (r->mon.ever > 0 && r->mon.peers == 0 && mae_now() - r->mon.empty_since > r->grace) {
			if (r->sub) {
				mae_warn("%s: publisher left without an end-of-stream record", r->name);
				return 0;
			}
			mae_die(MAE_EXIT_DATA, "%s: every producer disconnected after %lld records without "
			        "sending its end-of-stream record (did a stage die or hang, a host drop off the "
			        "network, or a record exceed MAE_MAX_RECORD?)", r->name, (long long)r->number);
		}
		/* A merge whose producers still connected have all sent their EOS (each waits for
		 * us to leave) while others never did: those died, and what they held is lost. */
		if (r->merge > 1 && r->eos > 0 && r->eos < r->merge && r->mon.peers <= r->eos) {
			if (r->done_since == 0)
				r->done_since = mae_now();
			else if (mae_now() - r->done_since > r->grace)
				mae_die(MAE_EXIT_DATA, "%s: %d of %d producers left without their end-of-stream record "
				        "(%lld records came; what the others held is lost: did a worker die?)", r->name,
				        r->merge - r->eos, r->merge, (long long)r->number);
		} else
			r->done_since = 0;
	}
	if (zmq_msg_more(&r->msg))
		mae_die(MAE_EXIT_DATA, "%s: record %lld: multipart message (one message is one record)",
		        r->name, (long long)r->number);
	*buf = zmq_msg_data(&r->msg);
	*n = zmq_msg_size(&r->msg);
	return 1;
}

static void read_one(mae_reader *r, mae_record *rec, int *end)
{
	const void *buf;
	size_t n;
	char err[256];
	*end = 0;
	if (!next_raw(r, &buf, &n)) {
		*end = 1;
		return;
	}
	r->raw = buf;
	r->rawn = n;
	if (mae_decode_record(buf, n, rec, err, sizeof err) != 0)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: %s", r->name, (long long)r->number, err);
	rec->number = r->number++;
}

void mae_read_header(mae_reader *r, mae_record *hdr)
{
	int end;
	do   /* a subscriber joins a running stream: wait for the next (repeated) header */
		read_one(r, hdr, &end);
	while (r->sub && !end && hdr->type != MAE_REC_HEADER);
	if (end)
		mae_die(MAE_EXIT_DATA, "%s: empty input (no header record)", r->name);
	if (hdr->type != MAE_REC_HEADER)
		mae_die(MAE_EXIT_DATA, "%s: record 0: expected a header record, got a %s record", r->name,
		        hdr->type == MAE_REC_EOS ? "end-of-stream" : "batch");
	int64_t v = mae_map_int(&hdr->fields, "version", -1);
	if (v != MAE_STREAM_VERSION)
		mae_die(MAE_EXIT_DATA, "%s: stream format version %lld, this program reads version %d",
		        r->name, (long long)v, MAE_STREAM_VERSION);
	r->headers = 1;
	const mae_val *meta = mae_map_get(&hdr->fields, "meta");
	r->next = meta ? mae_map_int(meta, "first_batch", 0) : 0;   /* mae-decode --start-batch */
}

/* --ordered: hand on the held batch whose turn it is, if any. */
static int release_held(mae_reader *r, mae_record *rec)
{
	for (int i = 0; i < r->nheld; i++) {
		struct held h = r->held[i];
		if (h.seq != r->next)
			continue;
		r->held[i] = r->held[--r->nheld];
		r->heldbytes -= h.n;
		char err[256];
		if (mae_decode_record(h.buf, h.n, rec, err, sizeof err) != 0)
			mae_die(MAE_EXIT_DATA, "%s: batch %lld: %s", r->name, (long long)h.seq, err);
		rec->number = r->count + 1;   /* its place in the merged stream */
		r->cur = h.buf;   /* the record may point into its bytes: kept until the next read */
		r->raw = h.buf;
		r->rawn = h.n;
		r->next++;
		r->count++;
		return 1;
	}
	return 0;
}

/* --ordered: keep a batch that came before its turn; 0 if it is the one due. */
static int hold_early(mae_reader *r, mae_record *rec)
{
	int64_t s = mae_rec_seq(rec);
	int dup = s < r->next;
	for (int i = 0; i < r->nheld && !dup; i++)
		dup = r->held[i].seq == s;
	if (dup)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: batch %lld arrived twice (an ordered merge takes "
		        "producers that split batches, as mae-decode --batch-shard does)", r->name,
		        (long long)rec->number, (long long)s);
	if (s == r->next) {
		r->next++;
		rec->number = r->count + 1;
		return 0;
	}
	if (r->heldbytes + r->rawn > MAE_ORDERED_HOLD)
		mae_die(MAE_EXIT_DATA, "%s: ordered merge: %d later batches wait for batch %lld (did a "
		        "producer stall, or not send its batch shard?)", r->name, r->nheld, (long long)r->next);
	if (r->nheld == r->capheld) {
		r->capheld = r->capheld ? 2 * r->capheld : 8;
		r->held = mae_realloc(r->held, sizeof *r->held * (size_t)r->capheld);
	}
	void *copy = mae_malloc(r->rawn ? r->rawn : 1);
	memcpy(copy, r->raw, r->rawn);
	r->held[r->nheld++] = (struct held){ s, copy, r->rawn };
	r->heldbytes += r->rawn;
	return 1;
}

int mae_read(mae_reader *r, mae_record *rec)
{
	if (r->ordered) {
		free(r->cur);
		r->cur = NULL;
	}
	for (;;) {
		int end;
		if (r->ordered && release_held(r, rec))
			return 1;
		if (r->eos >= r->merge) {
			if (r->nheld)
				mae_die(MAE_EXIT_DATA, "%s: ordered merge: batch %lld never came (%d later ones did)",
				        r->name, (long long)r->next, r->nheld);
			return 0;
		}
		read_one(r, rec, &end);
		if (end)
			mae_die(MAE_EXIT_DATA, "%s: input ended after %lld records without an end-of-stream "
			        "record (stream cut short)", r->name, (long long)r->number);
		switch (rec->type) {
		case MAE_REC_BATCH:
			if (r->ordered && hold_early(r, rec))
				break;
			r->count++;
			return 1;
		case MAE_REC_HEADER:
			if (r->sub)
				break;   /* a publisher repeats its header for late subscribers */
			if (r->headers >= r->merge)
				mae_die(MAE_EXIT_DATA, "%s: record %lld: unexpected header record (use --merge N "
				        "to read N streams)", r->name, (long long)rec->number);
			r->headers++;   /* another producer's header: the first one stands for all */
			break;
		case MAE_REC_EOS:
			r->eos++;
			r->skipped += mae_map_int(&rec->fields, "skipped", 0);
			mae_val_copy(&r->eosf, &rec->fields);
			if (r->eos >= r->merge && r->kind == EP_ZMQ) {
				/* leave now: our disconnect tells the producers their EOS has arrived */
				mae_monitor_close(&r->mon, r->sock);
				close_socket(r->sock);
				r->sock = NULL;
			}
			break;
		}
	}
}

void mae_reader_close(mae_reader *r)
{
	if (!r)
		return;
	if (r->msg_live)
		zmq_msg_close(&r->msg);
	if (r->sock) {
		mae_monitor_close(&r->mon, r->sock);
		close_socket(r->sock);
	}
	if (r->close_fd)
		close(r->fd);
	mae_val_free(&r->eosf);
	for (int i = 0; i < r->nheld; i++)
		free(r->held[i].buf);
	free(r->held);
	free(r->cur);
	free(r->in);
	free(r->rec);
	free(r->name);
	free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer */

struct mae_writer {
	char *name;
	int kind;
	int fd, close_fd;
	void *sock;
	int socktype;
	int fanout;
	int started;
	monitor mon;
	double grace;          /* seconds to wait for a reader once all have left */
	mae_gather g;
	int64_t count;
	void *hdr;             /* PUB: the header, repeated every second for late subscribers */
	size_t hdrn;
	double hdr_sent;
	void *eos_raw;         /* an EOS forwarded as is by mae_write_raw */
	size_t eos_rawn;
	mae_val eosx;
};

mae_writer *mae_writer_open(const char *endpoint, const mae_common *c)
{
	mae_endpoint e = mae_endpoint_parse(endpoint ? endpoint : "-", MAE_EP_OUTPUT, 0);
	const char *name = !endpoint || !strcmp(endpoint, "-") ? "stdout" : endpoint;
	/* opened before anything is allocated, as in mae_reader_open */
	int file = !e.zmq && strcmp(e.addr, "-"), fd = 1;
	void *sock = NULL;
	monitor mon = {0};
	if (e.zmq)
		sock = open_socket(&e, name, c && c->hwm > 0 ? c->hwm : 4, e.socktype == ZMQ_PUSH ? &mon : NULL);
	else if (file && (fd = open(e.addr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
		mae_die(MAE_EXIT_DATA, "%s:", e.addr);
	mae_writer *w = mae_calloc(1, sizeof *w);
	w->name = mae_strdup(name);
	w->fanout = c && c->fanout > 0 ? c->fanout : 1;
	if (e.zmq) {
		w->kind = EP_ZMQ;
		w->socktype = e.socktype;
		w->sock = sock;
		w->mon = mon;
		w->grace = mae_peer_grace();
	} else {
		w->kind = EP_FD;
		w->fd = fd;
		w->close_fd = file;
		if (!file)
			widen_pipe(1);
	}
	return w;
}

mae_writer *mae_writer_open_tap(const char *endpoint)
{
	mae_endpoint e = mae_endpoint_parse(endpoint, MAE_EP_OUTPUT, 0);
	if (!e.zmq)
		return mae_writer_open(endpoint, NULL);
	mae_writer *w = mae_calloc(1, sizeof *w);
	w->name = mae_strdup(endpoint);
	w->kind = EP_ZMQ;
	w->fanout = 1;
	e.socktype = w->socktype = ZMQ_PUB;
	w->sock = open_socket(&e, w->name, 16, NULL);
	return w;
}

int64_t mae_writer_count(const mae_writer *w) { return w->count; }
mae_val *mae_writer_eos_fields(mae_writer *w)
{
	if (w->eosx.type != MAE_V_MAP)
		mae_val_map(&w->eosx);
	return &w->eosx;
}

static void write_fd(mae_writer *w)
{
	struct iovec iov[IOV_MAX];
	int i = 0;
	size_t skip = 0;   /* bytes of seg[i] already written */
	while (i < w->g.nseg) {
		int k = 0;
		for (int j = i; j < w->g.nseg && k < IOV_MAX; j++, k++) {
			const char *p = w->g.seg[j].ref ? w->g.seg[j].ref : w->g.buf + w->g.seg[j].off;
			size_t off = j == i ? skip : 0;
			iov[k].iov_base = (void *)(p + off);
			iov[k].iov_len = w->g.seg[j].n - off;
		}
		ssize_t n = writev(w->fd, iov, k);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			mae_die(MAE_EXIT_DATA, "%s: write error:", w->name);
		}
		size_t done = (size_t)n;
		while (i < w->g.nseg && done >= w->g.seg[i].n - skip) {
			done -= w->g.seg[i].n - skip;
			skip = 0;
			i++;
		}
		skip += done;
	}
}

static void free_msg(void *data, void *hint)
{
	(void)hint;
	free(data);   /* may run on a ZeroMQ I/O thread: free is thread-safe */
}

/* Send a gathered record as one message with a single copy (ZeroMQ frees it, maybe on its I/O
 * thread). Returns 1 when sent, 0 when flags has ZMQ_DONTWAIT and the socket would block. */
int mae_zmq_send_gathered(void *sock, const mae_gather *g, int flags, const char *name)
{
	zmq_msg_t m;
	void *buf = mae_malloc(g->total);
	mae_gather_copy(g, buf);
	zmq_msg_init_data(&m, buf, g->total, free_msg, NULL);
	for (;;) {
		if (zmq_msg_send(&m, sock, flags) >= 0)
			return 1;
		if (errno == EINTR)
			continue;
		zmq_msg_close(&m);
		if (errno == EAGAIN)
			return 0;
		mae_die(MAE_EXIT_DATA, "%s: send: %s", name, zmq_strerror(errno));
	}
}

/* PUSH: wait until a reader can take a record. Readers that have all left (died, or dropped
 * by the heartbeat when stopped or cut off) and none back within the grace period: stop,
 * rather than wait forever on a send. */
static void wait_for_reader(mae_writer *w)
{
	zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLOUT, 0};
	for (;;) {
		if (zmq_poll(&it, 1, 100) > 0 && (it.revents & ZMQ_POLLOUT))
			return;
		mae_monitor_poll(&w->mon, 0);
		if (w->mon.ever > 0 && w->mon.peers == 0 && mae_now() - w->mon.empty_since > w->grace)
			mae_die(MAE_EXIT_DATA, "%s: every reader disconnected after %lld records and none came "
			        "back in %g s (did a stage die, or a host drop off the network?)", w->name,
			        (long long)w->count, w->grace);
	}
}

/* Send the gathered record; PUB never blocks (a slow subscriber loses it). */
static void send_gathered(mae_writer *w)
{
	if (w->kind == EP_FD) {
		write_fd(w);
		return;
	}
	if (w->socktype == ZMQ_PUSH)
		wait_for_reader(w);
	mae_zmq_send_gathered(w->sock, &w->g, w->socktype == ZMQ_PUB ? ZMQ_DONTWAIT : 0, w->name);
}

/* PUB: keep the header; before a batch, send it again if a second has passed. */
static void pub_header(mae_writer *w, enum mae_rtype type)
{
	if (w->kind != EP_ZMQ || w->socktype != ZMQ_PUB)
		return;
	if (type == MAE_REC_HEADER) {
		free(w->hdr);
		w->hdrn = w->g.total;
		w->hdr = mae_malloc(w->hdrn);
		mae_gather_copy(&w->g, w->hdr);
		w->hdr_sent = mae_now();
	} else if (type == MAE_REC_BATCH && w->hdr && mae_now() - w->hdr_sent > 1.0) {
		zmq_msg_t m;
		zmq_msg_init_size(&m, w->hdrn);
		memcpy(zmq_msg_data(&m), w->hdr, w->hdrn);
		if (zmq_msg_send(&m, w->sock, ZMQ_DONTWAIT) < 0)
			zmq_msg_close(&m);
		w->hdr_sent = mae_now();
	}
}

/* Send the record in w->g (encoded or raw alike). A PUSH feeding N workers (--fanout N) waits
 * until all N are connected (else the first takes everything), then gives each its own copy
 * of the header. */
static void emit(mae_writer *w, enum mae_rtype type)
{
	int copies = 1;
	if (w->kind == EP_ZMQ && w->socktype == ZMQ_PUSH && w->fanout > 1 && !w->started) {
		while (w->mon.peers < w->fanout)
			mae_monitor_poll(&w->mon, 100);
		if (type == MAE_REC_HEADER)
			copies = w->fanout;
	}
	w->started = 1;
	pub_header(w, type);
	for (int i = 0; i < copies; i++)
		send_gathered(w);
	if (type == MAE_REC_BATCH)
		w->count++;
}

void mae_write_raw(mae_writer *w, const void *buf, size_t n, enum mae_rtype type)
{
	if (type == MAE_REC_EOS) {   /* kept for the close sequence (EOS copies, waiting for peers) */
		free(w->eos_raw);
		w->eos_raw = mae_malloc(n);
		memcpy(w->eos_raw, buf, n);
		w->eos_rawn = n;
		return;
	}
	mae_gather_ref(&w->g, buf, n);
	emit(w, type);
}

void mae_write(mae_writer *w, mae_record *rec)
{
	mae_gather_record(&w->g, rec);
	emit(w, rec->type);
}

void mae_writer_close(mae_writer *w, int64_t skipped)
{
	mae_record eos = {0};
	eos.type = MAE_REC_EOS;
	mae_map_set_int(&eos.fields, "count", w->count);
	mae_map_set_int(&eos.fields, "skipped", skipped);
	mae_map_set_str(&eos.fields, "producer", mae_prog);
	if (w->eosx.type == MAE_V_MAP)
		for (size_t i = 0; i < w->eosx.m.n; i++)
			mae_val_copy(mae_map_put(&eos.fields, w->eosx.m.kv[i].key), &w->eosx.m.kv[i].val);
	if (w->eos_raw)   /* an upstream EOS forwarded byte for byte */
		mae_gather_ref(&w->g, w->eos_raw, w->eos_rawn);
	else
		mae_gather_record(&w->g, &eos);
	if (w->kind == EP_FD) {
		write_fd(w);
		if (w->close_fd && close(w->fd) != 0)
			mae_die(MAE_EXIT_DATA, "%s: close:", w->name);
	} else if (w->socktype == ZMQ_PUB) {
		mae_zmq_send_gathered(w->sock, &w->g, ZMQ_DONTWAIT, w->name);
		int linger = 200;   /* best effort for a tap; never worth stalling shutdown */
		zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
		close_socket(w->sock);
	} else {
		send_gathered(w);
		mae_monitor_poll(&w->mon, 0);
		/* Every reader disconnects once it has its last EOS. With several workers an EOS may
		 * land behind another EOS in one worker's queue, so keep sending copies while any
		 * worker is still connected. A single reader gets exactly one. */
		while (w->mon.ever == 0 || w->mon.peers > 0) {   /* the send implies a peer; its event may lag */
			mae_monitor_poll(&w->mon, 100);
			if (w->fanout > 1 && w->mon.peers > 0) {
				zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLOUT, 0};
				if (zmq_poll(&it, 1, 0) > 0)
					mae_zmq_send_gathered(w->sock, &w->g, ZMQ_DONTWAIT, w->name);
			}
		}
		mae_monitor_close(&w->mon, w->sock);
		close_socket(w->sock);
	}
	mae_rec_free(&eos);
	free(w->eos_raw);
	free(w->hdr);
	mae_gather_free(&w->g);
	mae_val_free(&w->eosx);
	free(w->name);
	free(w);
}
