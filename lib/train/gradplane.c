/* gradplane.c: the gradient route between trainable stages (see train.h). */
#include "mae/train/train.h"
#include "mae/util/util.h"
#include "stream/record_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

struct mae_gradport {
	void *sock;
	char addr[512];
	char path[400];          /* private ipc file to remove, or "" */
	zmq_msg_t msg;
};

/* A private port's socket file must not outlive its process, however it ends: mae_die's
 * exit(), a reader gone (SIGPIPE), a pipeline torn down (SIGTERM, SIGINT, SIGHUP). The paths
 * are kept where a signal handler can reach them without allocating. */
enum { PRIVATE_PORTS = 8 };
static char private_path[PRIVATE_PORTS][400];
static volatile sig_atomic_t private_used[PRIVATE_PORTS];

static void unlink_private_ports(void)
{
	for (int i = 0; i < PRIVATE_PORTS; i++)
		if (private_used[i])
			unlink(private_path[i]);
}

static void unlink_and_die_of(int sig)
{
	unlink_private_ports();
	signal(sig, SIG_DFL);   /* then end as the signal would have: the shell sees 128+sig */
	raise(sig);
}

static void remember_private_port(const char *path)
{
	static int armed;
	if (!armed) {
		armed = 1;
		atexit(unlink_private_ports);
		const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP};
		for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
			struct sigaction old, sa = {.sa_handler = unlink_and_die_of};
			sigemptyset(&sa.sa_mask);
			/* a signal the caller ignores (nohup, SIGPIPE off) stays ignored */
			if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
				sigaction(sigs[i], &sa, NULL);
		}
	}
	for (int i = 0; i < PRIVATE_PORTS; i++)
		if (!private_used[i]) {
			snprintf(private_path[i], sizeof private_path[i], "%s", path);
			private_used[i] = 1;
			return;
		}
}

static void forget_private_port(const char *path)
{
	for (int i = 0; i < PRIVATE_PORTS; i++)
		if (private_used[i] && strcmp(private_path[i], path) == 0) {
			private_used[i] = 0;
			return;
		}
}

mae_gradport *mae_gradport_open(const char *spec)
{
	mae_gradport *g = mae_calloc(1, sizeof *g);
	char bind[512];
	if (!spec) {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		snprintf(g->path, sizeof g->path, "%s/mae-grad-%d-%p", tmp, (int)getpid(), (void *)g);
		snprintf(bind, sizeof bind, "ipc://%s", g->path);
		snprintf(g->addr, sizeof g->addr, "ipc://%s", g->path);
	} else {
		mae_endpoint e = mae_endpoint_parse(spec, MAE_EP_PLANE, 0);
		if (!e.bind)
			mae_die(MAE_EXIT_USAGE, "gradient port %s: must bind (@tcp://... or @ipc://...)", spec);
		snprintf(bind, sizeof bind, "%s", e.addr);
		/* the route names a connectable address: a wildcard host becomes our host name */
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		const char *star = strstr(bind, "://*");
		if (star)
			snprintf(g->addr, sizeof g->addr, "%.*s://%s%s", (int)(star - bind), bind, host, star + 4);
		else
			snprintf(g->addr, sizeof g->addr, "%s", bind);
	}
	g->sock = mae_zsocket(ZMQ_PULL, 0, bind);
	int hwm = 4;
	zmq_setsockopt(g->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
	mae_endpoint e = {1, 1, ZMQ_PULL, bind};
	char name[600];
	snprintf(name, sizeof name, "gradient port %s", bind);
	mae_zattach(g->sock, &e, name);
	if (g->path[0])
		remember_private_port(g->path);
	zmq_msg_init(&g->msg);
	return g;
}

const char *mae_gradport_address(const mae_gradport *g) { return g->addr; }

void mae_gradport_recv(mae_gradport *g, mae_record *grad, int64_t seq, double timeout, int watch_fd,
                       mae_ps *ps)
{
	double t0 = mae_now();
	char err[256];
	for (;;) {
		zmq_pollitem_t it[2] = {{g->sock, 0, ZMQ_POLLIN, 0}, {NULL, watch_fd, 0, 0}};
		int n = zmq_poll(it, watch_fd >= 0 ? 2 : 1, 500);
		if (n < 0 && errno != EINTR)
			mae_die(MAE_EXIT_DATA, "gradient port: %s", zmq_strerror(errno));
		if (n > 0 && (it[0].revents & ZMQ_POLLIN)) {
			zmq_msg_close(&g->msg);
			zmq_msg_init(&g->msg);
			if (zmq_msg_recv(&g->msg, g->sock, ZMQ_DONTWAIT) < 0)
				continue;
			if (mae_decode_record(zmq_msg_data(&g->msg), zmq_msg_size(&g->msg), grad, err, sizeof err))
				mae_die(MAE_EXIT_DATA, "gradient for batch %lld: %s", (long long)seq, err);
			if (mae_rec_seq(grad) != seq)
				mae_die(MAE_EXIT_DATA, "got the gradient of batch %lld while waiting for batch %lld "
				        "(two pipelines on one gradient port?)", (long long)mae_rec_seq(grad), (long long)seq);
			return;
		}
		/* a pipe's write end reports POLLERR once its reader has gone */
		if (watch_fd >= 0) {
			struct pollfd p = {watch_fd, 0, 0};
			if (poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP)))
				mae_die(MAE_EXIT_DATA, "waiting for the gradient of batch %lld: the output was closed "
				        "downstream, so none can come", (long long)seq);
		}
		if (ps) {
			char what[64];
			snprintf(what, sizeof what, "the gradient of batch %lld", (long long)seq);
			mae_ps_check(ps, what);
		}
		if (mae_now() - t0 > timeout)
			mae_die(MAE_EXIT_DATA, "no gradient for batch %lld after %.0f s: is a mae-loss stage "
			        "downstream, and did every stage between survive? (--grad-timeout)",
			        (long long)seq, timeout);
	}
}

void mae_gradport_close(mae_gradport *g)
{
	if (!g)
		return;
	zmq_msg_close(&g->msg);
	zmq_close(g->sock);
	if (g->path[0]) {
		unlink(g->path);
		forget_private_port(g->path);
	}
	free(g);
	mae_zctx_release();
}

void mae_route_append(mae_record *rec, const char *addr)
{
	mae_val *r = mae_map_get(&rec->fields, "route");
	if (!r || r->type != MAE_V_ARRAY) {
		r = mae_map_put(&rec->fields, "route");
		r->type = MAE_V_ARRAY;
	}
	mae_val *s = mae_array_push(r);
	s->type = MAE_V_STR;
	s->s.n = strlen(addr);
	s->s.p = mae_strdup(addr);
}

int mae_route_pop(mae_record *rec, char *buf, size_t n)
{
	mae_val *r = mae_map_get(&rec->fields, "route");
	if (!r || r->type != MAE_V_ARRAY || r->a.n == 0)
		return 0;
	mae_val *last = &r->a.v[r->a.n - 1];
	if (last->type != MAE_V_STR)
		mae_die(MAE_EXIT_DATA, "record %lld: route entries must be strings", (long long)rec->number);
	snprintf(buf, n, "%s", last->s.p);
	mae_val_free(last);
	r->a.n--;
	return 1;
}

/* One PUSH socket per destination, opened on first use. */
static struct { char addr[512]; void *sock; } peers[16];
static int npeers;

void mae_grad_send(const char *addr, mae_record *grad)
{
	void *s = NULL;
	for (int i = 0; i < npeers; i++)
		if (!strcmp(peers[i].addr, addr))
			s = peers[i].sock;
	if (!s) {
		if (npeers == (int)(sizeof peers / sizeof peers[0]))
			mae_die(MAE_EXIT_DATA, "more than %d gradient destinations", npeers);
		/* linger: the last gradient must reach its stage before we exit */
		char name[600];
		snprintf(name, sizeof name, "gradient route %s", addr);
		mae_endpoint e = mae_endpoint_parse(addr, MAE_EP_ROUTE, 0);
		s = mae_zsocket(ZMQ_PUSH, 2000, name);
		mae_zattach(s, &e, name);
		snprintf(peers[npeers].addr, sizeof peers[npeers].addr, "%s", addr);
		peers[npeers++].sock = s;
	}
	static mae_gather g;   /* one gradient at a time; its buffers are reused */
	mae_gather_record(&g, grad);
	mae_zmq_send_gathered(s, &g, 0, addr);
}

void mae_grad_close_all(void)
{
	for (int i = 0; i < npeers; i++) {
		zmq_close(peers[i].sock);
		mae_zctx_release();
	}
	npeers = 0;
}
