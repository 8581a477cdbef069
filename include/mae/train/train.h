/* train.h: the gradient plane and the parameter plane (DESIGN.md, "Three planes").
 *
 * Gradient plane. A trainable stage binds a gradient port and appends its address to the
 * "route" of every record it forwards. The loss stage sends the gradient of the loss with
 * respect to its input to the last address on the route; that stage back-propagates and sends
 * the gradient of its own input to the address before it. So `encode | reconstruct | loss`
 * trains with no extra wiring, with taps or other filters in between, across hosts over tcp.
 * A gradient is a record {type: batch, seq, route, loss, images, tensors: {grad}}.
 *
 * Parameter plane. mae-optimize is a parameter server on a ROUTER socket. A trainable stage
 * joins as a group ("encoder": the encoder's parameters, "decoder": the decoder or head) and a
 * replica number, receives the model configuration and its group's weights, and after each
 * step pushes its gradients and waits for the updated weights (synchronous training). With R
 * replicas the server averages the R gradients of a group before the update. */
#ifndef MAE_TRAIN_H
#define MAE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mae/model/model.h"
#include "mae/train/optim.h"
#include "mae/stream/stream.h"

/* ---- gradient plane ---- */

typedef struct mae_gradport mae_gradport;

/* Bind the port that receives this stage's gradients: spec is "@tcp://HOST:5601" (HOST may be *) or
 * "@ipc:///run/x" (the route then names the connectable form, "*" replaced by this host's
 * name), or NULL for a private ipc:// endpoint in $TMPDIR (same-host pipelines). */
mae_gradport *mae_gradport_open(const char *spec);
const char *mae_gradport_address(const mae_gradport *g);
typedef struct mae_ps mae_ps;
/* Wait for the gradient of batch `seq`. Dies with a clear message after `timeout` seconds, as
 * soon as watch_fd (the stage's data output, -1: none) is closed by its reader, or when the
 * parameter server ps (NULL: none) has been gone for MAE_PEER_GRACE: then no gradient can
 * come, or none would be of use. */
void mae_gradport_recv(mae_gradport *g, mae_record *grad, int64_t seq, double timeout, int watch_fd,
                       mae_ps *ps);
void mae_gradport_close(mae_gradport *g);

void mae_route_append(mae_record *rec, const char *addr);
/* Remove the last address of the route into buf; 0 if the route is empty or absent. */
int mae_route_pop(mae_record *rec, char *buf, size_t n);
/* Send a gradient record to a route address (a PUSH socket per address, kept open). */
void mae_grad_send(const char *addr, mae_record *grad);
void mae_grad_close_all(void);

/* ---- parameter plane: client ---- */

/* Join the server at endpoint as (group, replica); fills the model configuration. timeout:
 * seconds to wait for any answer of the server. group: "encoder" or "decoder" (trainable), or
 * "teacher": a frozen encoder that follows the run's moving average (ema.h). */
mae_ps *mae_ps_join(const char *endpoint, const char *group, int replica, double timeout,
                    mae_config *cfg);
/* After mae_model_new(cfg): copy the server's current weights into m's params (the group's
 * slice), and the fixed tensors are the model's own. Returns the step they belong to. */
int64_t mae_ps_weights(mae_ps *ps, mae_model *m);
/* Push this step's gradients of the group (from m->grads) with the batch's loss and image
 * count; wait for the updated weights, written into m->params. Returns the new step. */
int64_t mae_ps_step(mae_ps *ps, mae_model *m, double loss, int images);
/* A teacher, before it encodes batch `batch`: make m's encoder the average's snapshot that
 * batch uses (step K * floor(batch / K)), pulling it from the server when it is not the one
 * held; waits while the training has not reached it. Returns the snapshot's step. */
int64_t mae_ps_pull(mae_ps *ps, mae_model *m, int64_t batch);
void mae_ps_leave(mae_ps *ps);
/* Die, saying that `what` cannot come, when the server has been gone (its connection lost:
 * dead, hung, or its host cut off) for MAE_PEER_GRACE. For a stage waiting on something else. */
void mae_ps_check(mae_ps *ps, const char *what);

/* ---- parameter plane: server ---- */

typedef struct mae_ps_server_opts {
	const char *endpoint;      /* "@tcp://HOST:PORT" or "@ipc://PATH" */
	int replicas;              /* R: gradients averaged per group per step */
	const char *outdir;        /* checkpoints, optimiser state, metrics; NULL: none */
	int64_t save_every;        /* steps between checkpoints (0: only at the end) */
	double timeout;            /* seconds without any message before giving up */
	int64_t images_per_epoch;  /* for the epoch column of the metrics (0: unknown) */
	int64_t images;            /* images already seen (a resumed run) */
	struct mae_ema *ema;       /* the encoder's moving average to keep and serve, or NULL */
} mae_ps_server_opts;

/* Serve until every member has left (or died: timeout). m holds the master weights (fresh
 * or resumed), o the optimiser (schedule and moments). Writes metrics to outdir/metrics.tsv
 * and checkpoints outdir/checkpoint.safetensors + outdir/optim.safetensors. Returns 0 or dies. */
int mae_ps_serve(mae_model *m, mae_optim *o, const mae_ps_server_opts *opt);

/* The server of mae_ps_serve in parts, so that a test or a fuzzer can hand it messages
 * without a network: open binds opt->endpoint; message takes one message body from the
 * stage whose ZeroMQ routing id is id (0: taken; -1: refused, logged and answered with an
 * error, nothing changed); close ends it without saving. */
typedef struct mae_ps_server mae_ps_server;
mae_ps_server *mae_ps_server_open(mae_model *m, mae_optim *o, const mae_ps_server_opts *opt);
int mae_ps_server_message(mae_ps_server *s, const void *id, size_t idn, const void *body, size_t n);
int64_t mae_ps_server_step(const mae_ps_server *s);
void mae_ps_server_close(mae_ps_server *s);

/* "preset,key=value,..." describing c fully, for mae_config_parse. */
void mae_config_spec(const mae_config *c, char *buf, size_t n);

#endif
