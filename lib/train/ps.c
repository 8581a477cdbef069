/* ps.c: the parameter plane: mae-optimize's server loop and the client a trainable stage uses
 * (see train.h). Messages are mae-stream(5) batch records with an "op" field, one per ZeroMQ
 * message, over ROUTER (server) and DEALER (client) sockets:
 *
 *   client -> server   {op: hello, group, replica}
 *                      {op: grad, group, replica, step, loss, images, tensors: {grad: F32 [n]}}
 *                      {op: pull, group: teacher, replica, batch}
 *                      {op: bye, group, replica}
 *   server -> client   {op: welcome, config, step, offset, count, [every,] tensors: {params: F32 [n]}}
 *                      {op: weights, step, [snapshot_step,] tensors: {params: F32 [n]}}
 *                      {op: error, message}
 *
 * A step is complete when every group has R gradients for it; the server averages them,
 * clips, schedules and applies AdamW with exactly the functions of the in-process step
 * (mae_train_step), then answers every waiting member with its group's new weights.
 * The teacher group (a run with a moving average, ema.h) sends no gradients and is no part of
 * a step: a teacher pulls the snapshot of the average its batch uses, answered at once or when
 * the step of that snapshot is reached. */
#include "mae/train/checkpoint.h"
#include "mae/train/ema.h"
#include "mae/util/progress.h"
#include "mae/train/run.h"
#include "mae/train/train.h"
#include "mae/util/util.h"
#include "stream/record_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* the groups that train (each owes a gradient every step), then the teacher */
enum { G_ENCODER, G_DECODER, NGROUPS, G_TEACHER = NGROUPS };
static const char *group_names[NGROUPS + 1] = {"encoder", "decoder", "teacher"};

static int group_of(const char *name)
{
	for (int g = 0; g <= G_TEACHER; g++)
		if (name && !strcmp(name, group_names[g]))
			return g;
	return -1;
}

static void group_range(const mae_model *m, int g, size_t *off, size_t *cnt)
{
	*off = g == G_DECODER ? m->n_enc : 0;
	*cnt = g == G_DECODER ? m->n_params - m->n_enc : m->n_enc;   /* a teacher's: the encoder */
}

void mae_config_spec(const mae_config *c, char *buf, size_t n)
{
	char key[MAE_CONFIG_NFIELDS][16], val[MAE_CONFIG_NFIELDS][32];
	int nf = mae_config_fields(c, key, val);
	size_t at = (size_t)snprintf(buf, n, "%s", c->name);
	for (int i = 0; i < nf && at < n; i++)
		at += (size_t)snprintf(buf + at, n - at, ",%s=%s", key[i], val[i]);
}

/* Send a record as one message, after an optional routing-id frame. Returns -1 if the
 * member that id names is gone (the server's ROUTER is mandatory): the main loop notices its
 * disconnect and stops the run, with the state saved, rather than dying here without it. */
static int send_record(void *sock, const zmq_msg_t *id, mae_record *r)
{
	static mae_gather g;   /* one message at a time; its buffers are reused */
	if (id) {
		zmq_msg_t idc;
		zmq_msg_init(&idc);
		zmq_msg_copy(&idc, (zmq_msg_t *)id);
		if (zmq_msg_send(&idc, sock, ZMQ_SNDMORE) < 0) {
			int e = errno;
			zmq_msg_close(&idc);
			if (e == EHOSTUNREACH)
				return -1;
			mae_die(MAE_EXIT_DATA, "parameter plane: send: %s", zmq_strerror(e));
		}
	}
	mae_gather_record(&g, r);
	mae_zmq_send_gathered(sock, &g, 0, "parameter plane");
	return 0;
}

static void tensor_view(mae_record *r, const char *name, float *data, size_t n)
{
	/* a borrowed view: the record neither copies nor frees it */
	mae_tensor *t = &r->tensors[r->ntensors++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = MAE_F32;
	t->ndim = 1;
	t->shape[0] = (int64_t)n;
	t->data = data;
}

static void new_msg(mae_record *r, const char *op)
{
	mae_rec_clear(r);
	if (!r->tensors)
		r->tensors = mae_calloc(MAE_MAX_TENSORS, sizeof(mae_tensor));
	r->type = MAE_REC_BATCH;
	mae_map_set_str(&r->fields, "op", op);
}

/* ---------------------------------------------------------------------------------------- */
/* Client */

struct mae_ps {
	void *sock;
	char endpoint[512];
	int group, replica;
	double timeout;
	size_t off, cnt;
	int64_t step;
	int64_t every, snapshot;   /* a teacher: the server's K, and the snapshot's step it holds */
	zmq_msg_t msg;
	mae_record rec;
	monitor mon;          /* the connection to the server: a server that is gone is noticed */
};

void mae_ps_check(mae_ps *ps, const char *what)
{
	mae_monitor_poll(&ps->mon, 0);
	if (ps->mon.ever && ps->mon.peers == 0 && mae_now() - ps->mon.empty_since > mae_peer_grace())
		mae_die(MAE_EXIT_DATA, "parameter server %s: gone while waiting for %s (it died, hung or its "
		        "host dropped off the network), and not back in %g s", ps->endpoint, what,
		        mae_peer_grace());
}

static void client_recv(mae_ps *ps, const char *what)
{
	char err[256];
	double t0 = mae_now();
	for (;;) {
		zmq_pollitem_t it = {ps->sock, 0, ZMQ_POLLIN, 0};
		int k = zmq_poll(&it, 1, 500);
		if (k < 0 && errno != EINTR)
			mae_die(MAE_EXIT_DATA, "parameter server %s: %s", ps->endpoint, zmq_strerror(errno));
		if (k > 0) {
			zmq_msg_close(&ps->msg);
			zmq_msg_init(&ps->msg);
			if (zmq_msg_recv(&ps->msg, ps->sock, ZMQ_DONTWAIT) >= 0)
				break;
		}
		mae_ps_check(ps, what);
		if (mae_now() - t0 > ps->timeout)
			mae_die(MAE_EXIT_DATA, "parameter server %s: no %s after %.0f s (is mae-optimize running "
			        "there, and every other stage of the step alive?)", ps->endpoint, what, ps->timeout);
	}
	if (mae_decode_record(zmq_msg_data(&ps->msg), zmq_msg_size(&ps->msg), &ps->rec, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "parameter server %s: bad message: %s", ps->endpoint, err);
	const char *op = mae_map_str(&ps->rec.fields, "op", "");
	if (!strcmp(op, "error"))
		mae_die(MAE_EXIT_DATA, "parameter server %s: %s", ps->endpoint,
		        mae_map_str(&ps->rec.fields, "message", "error"));
}

static const float *params_of(mae_ps *ps)
{
	mae_tensor *t = mae_rec_tensor(&ps->rec, "params");
	if (!t || t->dtype != MAE_F32 || t->ndim != 1 || (size_t)t->shape[0] != ps->cnt)
		mae_die(MAE_EXIT_DATA, "parameter server %s: answer without the %zu %s parameters",
		        ps->endpoint, ps->cnt, group_names[ps->group]);
	return t->data;
}

mae_ps *mae_ps_join(const char *endpoint, const char *group, int replica, double timeout, mae_config *cfg)
{
	mae_ps *ps = mae_calloc(1, sizeof *ps);
	char err[256];
	mae_endpoint e = mae_endpoint_parse(endpoint, MAE_EP_PLANE, 0);
	if (e.bind)
		mae_die(MAE_EXIT_USAGE, "--ps %s: a stage connects to the parameter server; mae-optimize binds",
		        endpoint);
	snprintf(ps->endpoint, sizeof ps->endpoint, "%s", e.addr);
	ps->group = group_of(group);
	if (ps->group < 0)
		mae_die(MAE_EXIT_USAGE, "parameter group '%s': encoder, decoder or teacher", group);
	ps->replica = replica;
	ps->timeout = timeout;
	zmq_msg_init(&ps->msg);
	ps->sock = mae_zsocket(ZMQ_DEALER, 2000, endpoint);
	/* A routing id of our own (ZeroMQ makes a new one on each connection): when a link that
	 * went down comes back and ZeroMQ reconnects, the server still knows us, and what we
	 * queued meanwhile reaches it. (First byte non-zero: zero is ZeroMQ's own.) */
	char rid[96];
	int rn = snprintf(rid, sizeof rid, "%s/%d/%ld/%llx", group, replica, (long)getpid(),
	                  (unsigned long long)(mae_now() * 1e6));
	zmq_setsockopt(ps->sock, ZMQ_ROUTING_ID, rid, (size_t)rn);
	mae_monitor_open(&ps->mon, ps->sock, endpoint);
	mae_zattach(ps->sock, &e, endpoint);
	new_msg(&ps->rec, "hello");
	mae_map_set_str(&ps->rec.fields, "group", group);
	mae_map_set_int(&ps->rec.fields, "replica", replica);
	send_record(ps->sock, NULL, &ps->rec);
	client_recv(ps, "welcome");
	if (strcmp(mae_map_str(&ps->rec.fields, "op", ""), "welcome"))
		mae_die(MAE_EXIT_DATA, "parameter server %s: expected a welcome", ps->endpoint);
	if (mae_config_parse(cfg, mae_map_str(&ps->rec.fields, "config", ""), err, sizeof err))
		mae_die(MAE_EXIT_DATA, "parameter server %s: model configuration: %s", ps->endpoint, err);
	ps->step = mae_map_int(&ps->rec.fields, "step", 0);
	ps->off = (size_t)mae_map_int(&ps->rec.fields, "offset", 0);
	ps->cnt = (size_t)mae_map_int(&ps->rec.fields, "count", 0);
	ps->every = mae_map_int(&ps->rec.fields, "every", 0);
	ps->snapshot = -1;
	return ps;
}

int64_t mae_ps_pull(mae_ps *ps, mae_model *m, int64_t batch)
{
	if (ps->group != G_TEACHER)
		mae_die(MAE_EXIT_USAGE, "only a teacher pulls the moving average");
	int64_t want = batch / ps->every * ps->every;
	if (want == ps->snapshot)
		return want;
	new_msg(&ps->rec, "pull");
	mae_map_set_str(&ps->rec.fields, "group", group_names[ps->group]);
	mae_map_set_int(&ps->rec.fields, "replica", ps->replica);
	mae_map_set_int(&ps->rec.fields, "batch", batch);
	send_record(ps->sock, NULL, &ps->rec);
	client_recv(ps, "the moving average");
	if (strcmp(mae_map_str(&ps->rec.fields, "op", ""), "weights") ||
	    mae_map_int(&ps->rec.fields, "snapshot_step", -1) != want)
		mae_die(MAE_EXIT_DATA, "parameter server %s: expected the moving average of step %lld",
		        ps->endpoint, (long long)want);
	memcpy(m->params, params_of(ps), ps->cnt * sizeof(float));
	ps->snapshot = want;
	return want;
}

int64_t mae_ps_weights(mae_ps *ps, mae_model *m)
{
	size_t off, cnt;
	group_range(m, ps->group, &off, &cnt);
	if (off != ps->off || cnt != ps->cnt)
		mae_die(MAE_EXIT_DATA, "parameter server %s: group layout differs from this model's",
		        ps->endpoint);
	memcpy(m->params + off, params_of(ps), cnt * sizeof(float));
	return ps->step;
}

int64_t mae_ps_step(mae_ps *ps, mae_model *m, double loss, int images)
{
	new_msg(&ps->rec, "grad");
	mae_map_set_str(&ps->rec.fields, "group", group_names[ps->group]);
	mae_map_set_int(&ps->rec.fields, "replica", ps->replica);
	mae_map_set_int(&ps->rec.fields, "step", ps->step);
	mae_map_set_float(&ps->rec.fields, "loss", loss);
	mae_map_set_int(&ps->rec.fields, "images", images);
	tensor_view(&ps->rec, "grad", m->grads + ps->off, ps->cnt);
	send_record(ps->sock, NULL, &ps->rec);
	ps->rec.ntensors = 0;   /* the view is not ours to free */
	client_recv(ps, "updated weights");
	if (strcmp(mae_map_str(&ps->rec.fields, "op", ""), "weights"))
		mae_die(MAE_EXIT_DATA, "parameter server %s: expected weights", ps->endpoint);
	memcpy(m->params + ps->off, params_of(ps), ps->cnt * sizeof(float));
	ps->step = mae_map_int(&ps->rec.fields, "step", ps->step + 1);
	return ps->step;
}

void mae_ps_leave(mae_ps *ps)
{
	if (!ps)
		return;
	new_msg(&ps->rec, "bye");
	mae_map_set_str(&ps->rec.fields, "group", group_names[ps->group]);
	mae_map_set_int(&ps->rec.fields, "replica", ps->replica);
	send_record(ps->sock, NULL, &ps->rec);
	zmq_msg_close(&ps->msg);
	mae_monitor_close(&ps->mon, ps->sock);
	zmq_close(ps->sock);   /* linger delivers the bye */
	mae_rec_free(&ps->rec);
	free(ps);
	mae_zctx_release();
}

/* ---------------------------------------------------------------------------------------- */
/* Server */

typedef struct member {
	zmq_msg_t id;
	int group, replica;
	int left;
	int waiting;          /* sent its gradient for the current step */
	int64_t pull;         /* a teacher waiting for the snapshot of this step; -1: none */
} member;

struct mae_ps_server {
	void *sock;
	mae_model *m;
	mae_optim *o;
	const mae_ps_server_opts *opt;
	member mem[256];
	int nmem;
	float *acc;           /* summed gradients of the current step */
	int got[NGROUPS];     /* gradients received per group this step */
	double loss_sum;
	int loss_n;
	int64_t images;       /* this step */
	int64_t images_total;
	double last_step_time, start;
	monitor mon;          /* members that vanish without a bye */
	FILE *metrics;
	mae_progress prog;
	mae_record rec;
	mae_ema *ema;         /* the encoder's moving average, or NULL */
};
typedef struct mae_ps_server server;

/* Refuse a message: log why, tell its sender, change nothing. -1. */
static int reply_error(server *s, const zmq_msg_t *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reply_error(server *s, const zmq_msg_t *id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	mae_warn("%s", msg);
	new_msg(&s->rec, "error");
	mae_map_set_str(&s->rec.fields, "message", msg);
	send_record(s->sock, id, &s->rec);
	return -1;
}

/* Tell every member still joined that the run stops, and why: each one exits with the
 * message instead of waiting for weights that will not come. Best effort: a member that is
 * gone already cannot be told. */
static void stop_members(server *s, const char *why)
{
	static mae_gather g;
	new_msg(&s->rec, "error");
	mae_map_set_str(&s->rec.fields, "message", why);
	mae_gather_record(&g, &s->rec);
	void *buf = mae_malloc(g.total);
	mae_gather_copy(&g, buf);
	for (int i = 0; i < s->nmem; i++) {
		if (s->mem[i].left)
			continue;
		zmq_msg_t *id = &s->mem[i].id;
		if (zmq_send(s->sock, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
			zmq_send(s->sock, buf, g.total, ZMQ_DONTWAIT);
	}
	free(buf);
}

static void send_weights(server *s, member *mb, const char *op)
{
	size_t off, cnt;
	char spec[1024];
	group_range(s->m, mb->group, &off, &cnt);
	new_msg(&s->rec, op);
	mae_map_set_int(&s->rec.fields, "step", s->o->step);
	if (!strcmp(op, "welcome")) {
		mae_config_spec(&s->m->cfg, spec, sizeof spec);
		mae_map_set_str(&s->rec.fields, "config", spec);
		mae_map_set_int(&s->rec.fields, "offset", (int64_t)off);
		mae_map_set_int(&s->rec.fields, "count", (int64_t)cnt);
	}
	float *params = s->m->params + off;
	if (mb->group == G_TEACHER) {   /* the snapshot (a welcome: the average as it is) */
		mae_map_set_int(&s->rec.fields, "every", s->ema->every);
		int snap = strcmp(op, "welcome") != 0;
		mae_map_set_int(&s->rec.fields, "snapshot_step", snap ? s->ema->snap_step : -1);
		params = snap ? s->ema->snap : s->ema->avg;
	}
	tensor_view(&s->rec, "params", params, cnt);
	if (send_record(s->sock, &mb->id, &s->rec) != 0)
		mae_warn("%s replica %d is gone: the weights of step %lld cannot reach it", group_names[mb->group],
		         mb->replica, (long long)s->o->step);
	s->rec.ntensors = 0;
}

static void save(server *s)
{
	mae_run_save(s->m, s->o, s->opt->outdir, s->images_total, s->ema);
}

static void finish_step(server *s)
{
	int R = s->opt->replicas;
	if (R > 1)
		for (size_t i = 0; i < s->m->n_params; i++)
			s->acc[i] /= (float)R;
	double lr = mae_optim_lr(s->o, s->o->step);
	double gnorm = mae_grad_clip(s->acc, s->m->n_params, s->o->clip);
	mae_optim_update(s->o, s->m->params, s->acc, s->m->tensors, s->m->ntensors, lr);
	if (s->ema)
		mae_ema_update(s->ema, s->m->params);
	double now = mae_now(), dt = now - s->last_step_time;
	s->last_step_time = now;
	s->images_total += s->images;
	double epoch = s->opt->images_per_epoch > 0 ? (double)s->images_total / s->opt->images_per_epoch : 0;
	mae_run_metrics(s->metrics, s->o->step, epoch, s->loss_n ? s->loss_sum / s->loss_n : 0.0, lr, gnorm,
	                dt > 0 ? s->images / dt : 0.0, now - s->start);
	mae_progress_add(&s->prog, 1);
	for (int i = 0; i < s->nmem; i++)
		if (s->mem[i].waiting) {
			s->mem[i].waiting = 0;
			send_weights(s, &s->mem[i], "weights");
		} else if (s->mem[i].pull >= 0 && s->ema && s->mem[i].pull == s->ema->snap_step) {
			s->mem[i].pull = -1;
			send_weights(s, &s->mem[i], "weights");
		}
	memset(s->got, 0, sizeof s->got);
	s->loss_sum = 0;
	s->loss_n = 0;
	s->images = 0;
	if (s->opt->save_every > 0 && s->o->step % s->opt->save_every == 0)
		save(s);
}

static member *find_member(server *s, const zmq_msg_t *id)
{
	for (int i = 0; i < s->nmem; i++)
		if (zmq_msg_size(&s->mem[i].id) == zmq_msg_size((zmq_msg_t *)id) &&
		    !memcmp(zmq_msg_data(&s->mem[i].id), zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id)))
			return &s->mem[i];
	return NULL;
}

/* One message from a stage: 0 when it is taken, -1 when it is refused (logged, answered with
 * an error, nothing changed). Every field is checked before anything changes: a message may
 * come from a broken or hostile peer (mae(7), SECURITY). */
static int handle(server *s, zmq_msg_t *id, mae_record *r)
{
	const char *op = mae_map_str(&r->fields, "op", "");
	int g = group_of(mae_map_str(&r->fields, "group", ""));
	int replica = (int)mae_map_int(&r->fields, "replica", -1);
	member *mb = find_member(s, id);
	if (r->type != MAE_REC_BATCH)
		return reply_error(s, id, "a%s record is not a parameter-plane message",
		                   r->type == MAE_REC_HEADER ? " header" : "n end-of-stream");
	if (g == G_TEACHER && !s->ema)
		return reply_error(s, id, "a teacher joins a run that keeps the encoder's moving average "
		                   "(mae-optimize --ema M); this one keeps none");
	if (g < 0 || replica < 0 || (g != G_TEACHER && replica >= s->opt->replicas) || replica > 63) {
		return reply_error(s, id, "message '%s' with group '%s' replica %d: expected group encoder or "
		                   "decoder and replica 0..%d", op, mae_map_str(&r->fields, "group", "?"), replica,
		                   s->opt->replicas - 1);
	}
	if (!strcmp(op, "hello")) {
		/* A stage that died cannot say bye; one that joins in its place takes over. */
		for (int i = 0; i < s->nmem; i++)
			if (!s->mem[i].left && s->mem[i].group == g && s->mem[i].replica == replica) {
				mae_warn("%s replica %d joined again: replacing the earlier one (gone?)", group_names[g],
				         replica);
				if (s->mem[i].waiting)
					s->got[g]--;
				s->mem[i].left = 1;
				s->mem[i].waiting = 0;
			}
		if (s->nmem == (int)(sizeof s->mem / sizeof s->mem[0]))
			return reply_error(s, id, "too many members");
		mb = &s->mem[s->nmem++];
		memset(mb, 0, sizeof *mb);
		zmq_msg_init(&mb->id);
		zmq_msg_copy(&mb->id, id);
		mb->group = g;
		mb->replica = replica;
		mb->pull = -1;
		mae_info("%s replica %d joined at step %lld", group_names[g], replica, (long long)s->o->step);
		send_weights(s, mb, "welcome");
		return 0;
	}
	if (!mb || mb->left)
		return reply_error(s, id, "'%s' from a stage that %s", op, mb ? "has left" : "did not say hello");
	if (mb->group != g || mb->replica != replica)
		return reply_error(s, id, "'%s' as %s replica %d from the stage that joined as %s replica %d", op,
		                   group_names[g], replica, group_names[mb->group], mb->replica);
	if (!strcmp(op, "bye")) {
		mb->left = 1;
		return 0;
	}
	if (!strcmp(op, "pull")) {
		int64_t batch = mae_map_int(&r->fields, "batch", -1);
		if (g != G_TEACHER || batch < 0)
			return reply_error(s, id, "'pull' from %s replica %d for batch %lld: only a teacher pulls, for a "
			                   "batch >= 0", group_names[g], replica, (long long)batch);
		if (mb->pull >= 0)
			return reply_error(s, id, "teacher replica %d pulled again before its answer", replica);
		int64_t want = mae_ema_snapshot_for(s->ema, batch);
		if (want == s->ema->snap_step)
			send_weights(s, mb, "weights");
		else if (want > s->ema->step)
			mb->pull = want;   /* answered when the step is reached (finish_step) */
		else
			return reply_error(s, id, "teacher replica %d wants the average of step %lld for batch %lld; "
			                   "the server keeps that of step %lld only (a teacher runs ahead of the "
			                   "training, never behind)", replica, (long long)want, (long long)batch,
			                   (long long)s->ema->snap_step);
		return 0;
	}
	if (g == G_TEACHER)
		return reply_error(s, id, "'%s' from a teacher, which only pulls", op);
	if (!strcmp(op, "grad")) {
		int64_t step = mae_map_int(&r->fields, "step", -1);
		size_t off, cnt;
		group_range(s->m, g, &off, &cnt);
		mae_tensor *t = mae_rec_tensor(r, "grad");
		if (step != s->o->step)
			return reply_error(s, id, "%s replica %d sent the gradient of step %lld during step %lld",
			                   group_names[g], replica, (long long)step, (long long)s->o->step);
		if (mb->waiting)
			return reply_error(s, id, "%s replica %d sent two gradients for step %lld", group_names[g],
			                   replica, (long long)step);
		if (!t || t->dtype != MAE_F32 || t->ndim != 1 || (size_t)t->shape[0] != cnt)
			return reply_error(s, id, "%s gradient must be F32 [%zu]", group_names[g], cnt);
		const float *gr = mae_rec_need(r, "grad", MAE_F32, 1, "[n]")->data;   /* checked above; aligned */
		for (size_t i = 0; i < cnt; i++)
			if (!isfinite(gr[i]))
				return reply_error(s, id, "%s replica %d sent a gradient with %g at %zu (step %lld): the "
				                   "weights stay those of the last finite step", group_names[g], replica,
				                   gr[i], i, (long long)step);
		double loss = mae_map_float(&r->fields, "loss", 0);
		int64_t images = mae_map_int(&r->fields, "images", 0);
		if (g == G_DECODER && (!isfinite(loss) || images < 0 || images > (1 << 30)))
			return reply_error(s, id, "decoder replica %d sent loss %g and %lld images with its gradient",
			                   replica, loss, (long long)images);
		if (s->got[g] == 0)
			memcpy(s->acc + off, gr, cnt * sizeof(float));
		else
			for (size_t i = 0; i < cnt; i++)
				s->acc[off + i] += gr[i];
		s->got[g]++;
		mb->waiting = 1;
		if (g == G_DECODER) {   /* the loss travels with the decoder's gradient */
			s->loss_sum += loss;
			s->loss_n++;
			s->images += images;
		}
		int complete = 1;
		for (int k = 0; k < NGROUPS; k++)
			complete &= s->got[k] == s->opt->replicas;
		if (complete)
			finish_step(s);
		return 0;
	}
	return reply_error(s, id, "unknown operation '%s'", op);
}

mae_ps_server *mae_ps_server_open(mae_model *m, mae_optim *o, const mae_ps_server_opts *opt)
{
	server *s = mae_calloc(1, sizeof *s);
	s->m = m;
	s->o = o;
	s->opt = opt;
	s->acc = mae_alloc_aligned(m->n_params * sizeof(float));
	s->start = s->last_step_time = mae_now();
	s->images_total = opt->images;
	s->ema = opt->ema;
	mae_endpoint e = mae_endpoint_parse(opt->endpoint, MAE_EP_PLANE, 1);
	if (!e.bind)
		mae_die(MAE_EXIT_USAGE, "--ps %s: mae-optimize binds the parameter server's address (@ or "
		        "no prefix); the stages connect to it", opt->endpoint);
	s->sock = mae_zsocket(ZMQ_ROUTER, 2000, opt->endpoint);
	int one = 1;
	zmq_setsockopt(s->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	/* a stage that reconnects under its routing id takes it over (the old connection may not
	 * be known dead yet) */
	zmq_setsockopt(s->sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
	mae_monitor_open(&s->mon, s->sock, opt->endpoint);
	mae_zattach(s->sock, &e, opt->endpoint);
	s->metrics = mae_run_metrics_open(opt->outdir, o->step == 0);
	mae_progress_start(&s->prog, "steps", o->total > o->step ? o->total - o->step : -1);
	return s;
}

int mae_ps_server_message(mae_ps_server *s, const void *idb, size_t idn, const void *body, size_t n)
{
	char err[256];
	zmq_msg_t id;
	zmq_msg_init_size(&id, idn);
	memcpy(zmq_msg_data(&id), idb, idn);
	mae_record r = {0};
	int rc = mae_decode_record(body, n, &r, err, sizeof err) ? reply_error(s, &id, "bad message: %s", err)
	                                                         : handle(s, &id, &r);
	mae_rec_free(&r);
	zmq_msg_close(&id);
	return rc;
}

int64_t mae_ps_server_step(const mae_ps_server *s)
{
	return s->o->step;
}

void mae_ps_server_close(mae_ps_server *s)
{
	mae_progress_end(&s->prog);
	if (s->metrics)
		fclose(s->metrics);
	for (int i = 0; i < s->nmem; i++)
		zmq_msg_close(&s->mem[i].id);
	mae_monitor_close(&s->mon, s->sock);
	zmq_close(s->sock);
	mae_zctx_release();
	mae_rec_free(&s->rec);
	free(s->acc);
	free(s);
}

int mae_ps_serve(mae_model *m, mae_optim *o, const mae_ps_server_opts *opt)
{
	server *s = mae_ps_server_open(m, o, opt);
	zmq_msg_t id, body;
	zmq_msg_init(&id);
	zmq_msg_init(&body);
	double last_msg = mae_now(), short_since = 0;
	for (;;) {
		int active = 0, ever = s->nmem > 0;
		for (int i = 0; i < s->nmem; i++)
			active += !s->mem[i].left;
		if (ever && !active)
			break;
		zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
		int k = zmq_poll(&it, 1, 500);
		if (k < 0 && errno != EINTR)
			mae_die(MAE_EXIT_DATA, "--ps: %s", zmq_strerror(errno));
		if (k <= 0) {
			/* Fewer connections than joined members for 2 s: a stage is gone without its bye
			 * (it died, or the heartbeat dropped it: hung, or its host cut off). Each stage
			 * has one connection here. The others would wait for ever for the step it owes,
			 * so save the last whole step, tell them, and stop. */
			mae_monitor_poll(&s->mon, 0);
			if (!(active && s->mon.ever && s->mon.peers < active))
				short_since = 0;
			else if (short_since == 0)
				short_since = mae_now();
			else if (mae_now() - short_since > 2) {
				char why[256];
				if (s->mon.peers == 0)
					snprintf(why, sizeof why, "every stage disconnected at step %lld without leaving "
					         "(did a stage die?)", (long long)o->step);
				else
					snprintf(why, sizeof why, "%d of %d stages disconnected at step %lld without "
					         "leaving (did a stage die or hang?)", active - s->mon.peers, active,
					         (long long)o->step);
				save(s);
				stop_members(s, why);
				mae_monitor_close(&s->mon, s->sock);
				zmq_close(s->sock);   /* its linger sends the message before we go */
				mae_zctx_release();
				mae_die(MAE_EXIT_DATA, "%s; saved the state", why);
			}
			if (mae_now() - last_msg > opt->timeout) {
				save(s);
				mae_die(MAE_EXIT_DATA, "no message from any stage for %.0f s at step %lld (%d of %d members "
				        "still joined); saved the state and gave up", opt->timeout, (long long)o->step,
				        active, s->nmem);
			}
			continue;
		}
		last_msg = mae_now();
		if (zmq_msg_recv(&id, s->sock, 0) < 0 || !zmq_msg_more(&id))
			continue;
		if (zmq_msg_recv(&body, s->sock, 0) < 0)
			continue;
		while (zmq_msg_more(&body)) {   /* drain a malformed multipart message */
			zmq_msg_t extra;
			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, s->sock, 0);
			int more = zmq_msg_more(&extra);
			zmq_msg_close(&extra);
			if (!more)
				break;
		}
		mae_ps_server_message(s, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
		                      zmq_msg_size(&body));
	}
	save(s);
	zmq_msg_close(&id);
	zmq_msg_close(&body);
	mae_ps_server_close(s);
	return 0;
}
