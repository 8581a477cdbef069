/* curve.c: ZeroMQ CURVE on tcp:// sockets, from a directory of keys (MAE_CURVE).
 *
 * A run's keys (mae-keygen DIR): server.key and server.pub, the pair every socket that binds
 * presents; client.key and client.pub, the pair this host's connecting sockets present; and
 * clients.pub, the public keys of the clients a binding socket accepts, one a line (a name
 * may follow the key; a line starting with # is a comment). A key
 * file is "public Z85\nsecret Z85\n", a public file "Z85\n" (40 characters of Z85 each).
 * With MAE_CURVE set, every tcp:// socket is encrypted and authenticated: one that binds is a
 * CURVE server and accepts only the listed clients, through a ZAP handler (ZeroMQ's
 * authentication protocol, RFC 27) that this process runs on a thread of its own; one that
 * connects is a CURVE client that knows the server's public key. ipc:// and inproc:// stay
 * as they are: the file system's permissions guard them. */
#include "mae/stream/curve.h"
#include "mae/util/util.h"
#include "stream/record_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MAX_CLIENTS 4096

static struct {
	int loaded;
	char dir[1024];
	char server_pub[41], server_sec[41], client_pub[41], client_sec[41];
	int have_server, have_client;
	unsigned char (*clients)[32];   /* accepted client keys, binary */
	int nclients;
	void *zap_ctx;        /* the context whose ZAP handler runs (a new context needs its own) */
	long refused;
} cv;

/* The last word of line `line` (0-based) of a key file: a Z85 key of 40 characters. */
static int read_key(const char *path, int line, char out[41])
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char buf[256];
	int rc = -1;
	for (int i = 0; i <= line && fgets(buf, sizeof buf, f); i++) {
		if (i < line)
			continue;
		buf[strcspn(buf, "\r\n")] = 0;
		char *w = strrchr(buf, ' ');
		w = w ? w + 1 : buf;
		if (strlen(w) == 40) {
			memcpy(out, w, 41);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

static void load(void)
{
	if (cv.loaded)
		return;
	cv.loaded = 1;
	const char *d = getenv("MAE_CURVE");
	if (!d || !*d)
		return;
	snprintf(cv.dir, sizeof cv.dir, "%s", d);
	if (!zmq_has("curve"))
		mae_die(MAE_EXIT_DATA, "MAE_CURVE=%s: this libzmq was built without CURVE", d);
	char path[1100];
	snprintf(path, sizeof path, "%s/server.pub", d);
	if (read_key(path, 0, cv.server_pub))
		mae_die(MAE_EXIT_DATA, "MAE_CURVE: %s: cannot read a public key (make the keys with mae-keygen %s)",
		        path, d);
	snprintf(path, sizeof path, "%s/server.key", d);
	cv.have_server = read_key(path, 1, cv.server_sec) == 0;
	snprintf(path, sizeof path, "%s/client.key", d);
	cv.have_client = read_key(path, 0, cv.client_pub) == 0 && read_key(path, 1, cv.client_sec) == 0;
	snprintf(path, sizeof path, "%s/clients.pub", d);
	FILE *f = fopen(path, "r");
	if (f) {
		char buf[256];
		cv.clients = mae_malloc(sizeof *cv.clients * MAX_CLIENTS);
		int line = 0;
		while (fgets(buf, sizeof buf, f)) {
			line++;
			/* the key, then anything (a name); a line that starts with # is a comment ('#' is
			 * also a Z85 character, so it cannot end a key) */
			char *s = buf + strspn(buf, " \t");
			s[strcspn(s, " \t\r\n")] = 0;
			if (!*s || *buf == '#')
				continue;
			if (strlen(s) != 40 || cv.nclients == MAX_CLIENTS ||
			    !zmq_z85_decode(cv.clients[cv.nclients], s))
				mae_die(MAE_EXIT_DATA, "MAE_CURVE: %s:%d: not a public key (40 characters of Z85)", path,
				        line);
			cv.nclients++;
		}
		fclose(f);
	}
}

static int listed(const unsigned char *key)
{
	for (int i = 0; i < cv.nclients; i++)
		if (!memcmp(cv.clients[i], key, 32))
			return 1;
	return 0;
}

/* The ZAP handler: ZeroMQ asks it about every CURVE client that connects to a server socket
 * of this context; it says 200 to the listed keys, 400 to the others. It ends when the
 * context is terminated (its receive fails with ETERM). */
static void *zap_loop(void *sock)
{
	for (;;) {
		zmq_msg_t part[8];
		int n = 0, more = 1;
		while (more) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, sock, 0) < 0) {
				zmq_msg_close(&m);
				for (int i = 0; i < n; i++)
					zmq_msg_close(&part[i]);
				if (errno == EINTR)
					goto next;
				zmq_close(sock);
				return NULL;
			}
			more = zmq_msg_more(&m);
			if (n < 8)
				part[n++] = m;
			else
				zmq_msg_close(&m);
		}
		/* version, request id, domain, address, identity, mechanism, credentials... */
		int ok = 0;
		char addr[64] = "?";
		if (n >= 7 && zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) &&
		    zmq_msg_size(&part[6]) == 32)
			ok = listed(zmq_msg_data(&part[6]));
		if (n >= 4)
			snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&part[3]), (char *)zmq_msg_data(&part[3]));
		if (!ok) {
			/* a client that retries must not flood the log: the first ten, then one in 100 */
			if (cv.refused < 10 || cv.refused % 100 == 0) {
				char key[41] = "?";
				if (n >= 7 && zmq_msg_size(&part[6]) == 32)
					zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
				mae_warn("refused a client from %s: its key %s is not in %s/clients.pub (%ld refused)", addr,
				         key, cv.dir, cv.refused + 1);
			}
			cv.refused++;
		}
		const char *reply[6] = {"1.0", NULL, ok ? "200" : "400", ok ? "OK" : "key not listed", "", ""};
		for (int i = 0; i < 6; i++) {
			int flags = i < 5 ? ZMQ_SNDMORE : 0;
			if (i == 1)
				zmq_send(sock, n >= 2 ? zmq_msg_data(&part[1]) : "", n >= 2 ? zmq_msg_size(&part[1]) : 0, flags);
			else
				zmq_send(sock, reply[i], strlen(reply[i]), flags);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&part[i]);
	next:;
	}
}

static void start_zap(const char *name)
{
	void *ctx = mae_zctx_acquire();
	if (cv.zap_ctx == ctx) {
		mae_zctx_release();
		return;
	}
	void *sock = zmq_socket(ctx, ZMQ_REP);
	int linger = 0;
	if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(sock, ZAP_ENDPOINT))
		mae_die(MAE_EXIT_DATA, "%s: CURVE: cannot start the ZAP handler: %s", name, zmq_strerror(errno));
	mae_zctx_release();   /* the handler must not keep the context alive: its end ends it */
	pthread_t t;
	if (pthread_create(&t, NULL, zap_loop, sock) != 0)
		mae_die(MAE_EXIT_DATA, "%s: CURVE: cannot start the ZAP handler", name);
	pthread_detach(t);
	cv.zap_ctx = ctx;
}

void mae_zsecure(void *sock, const char *addr, int bind, const char *name)
{
	load();
	if (!cv.dir[0] || strncmp(addr, "tcp://", 6))
		return;
	int one = 1;
	if (bind) {
		if (!cv.have_server)
			mae_die(MAE_EXIT_DATA, "%s: MAE_CURVE=%s has no server.key: this host cannot bind a tcp:// "
			        "socket (copy the run's server.key here)", name, cv.dir);
		if (!cv.clients)
			mae_die(MAE_EXIT_DATA, "%s: MAE_CURVE=%s has no clients.pub: no client could connect", name,
			        cv.dir);
		start_zap(name);
		zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one);
		zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cv.server_sec, 40);
		zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "maepipe", 7);
	} else {
		if (!cv.have_client)
			mae_die(MAE_EXIT_DATA, "%s: MAE_CURVE=%s has no client.key: this host cannot connect over "
			        "tcp:// (make one with mae-keygen --client)", name, cv.dir);
		zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, cv.server_pub, 40);
		zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cv.client_pub, 40);
		zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cv.client_sec, 40);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Making keys */

/* Write text to a new file (never over an existing one) with the given mode. */
static int write_new(const char *path, const char *text, mode_t mode, char *err, size_t errn)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errn, "%s: %s", path, errno == EEXIST ? "exists already (keys are never overwritten)"
		                                                        : strerror(errno));
		return -1;
	}
	size_t n = strlen(text);
	int bad = write(fd, text, n) != (ssize_t)n || fsync(fd) != 0;
	if (close(fd) != 0 || bad) {
		snprintf(err, errn, "%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* A key pair as NAME.key ("public P\nsecret S\n", 0600) and NAME.pub ("P\n"); the public key
 * goes to pub. */
static int make_pair(const char *dir, const char *name, char pub[41], char *err, size_t errn)
{
	char sec[41], path[1100], text[128];
	if (zmq_curve_keypair(pub, sec) != 0) {
		snprintf(err, errn, "zmq_curve_keypair: %s (a libzmq without CURVE?)", zmq_strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s.key", dir, name);
	snprintf(text, sizeof text, "public %s\nsecret %s\n", pub, sec);
	if (write_new(path, text, 0600, err, errn))
		return -1;
	snprintf(path, sizeof path, "%s/%s.pub", dir, name);
	snprintf(text, sizeof text, "%s\n", pub);
	return write_new(path, text, 0644, err, errn);
}

int mae_curve_keygen(const char *dir, const char *client, char *err, size_t errn)
{
	char pub[41], path[1100], line[64];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errn, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!client) {
		if (make_pair(dir, "server", pub, err, errn) || make_pair(dir, "client", pub, err, errn))
			return -1;
		snprintf(path, sizeof path, "%s/clients.pub", dir);
		snprintf(line, sizeof line, "%s client\n", pub);
		return write_new(path, line, 0644, err, errn);
	}
	if (!*client || strchr(client, '/') || !strcmp(client, "server") || !strcmp(client, "clients")) {
		snprintf(err, errn, "--client '%s': a plain name other than server and clients", client);
		return -1;
	}
	if (make_pair(dir, client, pub, err, errn))
		return -1;
	snprintf(path, sizeof path, "%s/clients.pub", dir);
	FILE *f = fopen(path, "a");
	if (!f || fprintf(f, "%s %s\n", pub, client) < 0 || fclose(f) != 0) {
		snprintf(err, errn, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
