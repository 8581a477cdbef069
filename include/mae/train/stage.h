/* stage.h: what mae-encode, mae-reconstruct and mae-loss share: getting a model (frozen from a
 * checkpoint, trainable from the parameter server, or a configuration only), turning a record
 * into the model's batch, and the trainable round trip (forward now, gradient later). */
#ifndef MAE_STAGE_H
#define MAE_STAGE_H

#include "mae/model/model.h"
#include "mae/stream/stream.h"
#include "mae/train/train.h"

typedef struct mae_stage {
	mae_model *m;
	mae_ps *ps;              /* trainable: the parameter server, else NULL */
	mae_gradport *port;      /* trainable: where this stage's gradients arrive */
	double grad_timeout;     /* seconds to wait for a gradient or for new weights */
	int64_t step;            /* parameter-server step of the current weights */
	uint8_t *zeros;          /* an all-visible mask for records without one (evaluation) */
	size_t nzeros;
	int teacher;             /* frozen, following the server's moving average (ps is set) */
} mae_stage;

/* The options that choose a stage's model: -w CHECKPOINT [-M overrides] (frozen) or --ps
 * ENDPOINT [--replica R] [--grad @ENDPOINT] [--grad-timeout SEC] (trainable). */
typedef struct mae_stage_opts {
	const char *weights, *override, *ps, *grad;
	int replica;
	int teacher;             /* --teacher (mae-encode): follow the moving average, frozen */
	double grad_timeout;
} mae_stage_opts;

enum { MAE_STAGE_OPT_PS = 0x1300, MAE_STAGE_OPT_REPLICA, MAE_STAGE_OPT_GRAD, MAE_STAGE_OPT_GTIMEOUT };
#define MAE_STAGE_SHORT "w:M:"
#define MAE_STAGE_LONG \
	{"weights", 1, 0, 'w'}, {"model", 1, 0, 'M'}, {"ps", 1, 0, MAE_STAGE_OPT_PS}, \
	{"replica", 1, 0, MAE_STAGE_OPT_REPLICA}, {"grad", 1, 0, MAE_STAGE_OPT_GRAD}, \
	{"grad-timeout", 1, 0, MAE_STAGE_OPT_GTIMEOUT}
void mae_stage_opts_init(mae_stage_opts *o);
int mae_stage_opt(mae_stage_opts *o, int opt, const char *arg);   /* 1 if handled */
/* Open the model the options name, as parameter group `group` when trainable. */
void mae_stage_open(mae_stage *s, const mae_stage_opts *o, const char *group, const char *usage);

/* Frozen weights from a checkpoint (with optional "key=value,..." overrides). */
void mae_stage_frozen(mae_stage *s, const char *checkpoint, const char *override);
/* Trainable: join the parameter server as (group, replica), bind the gradient port
 * (grad_spec NULL: a private ipc endpoint). */
void mae_stage_trainable(mae_stage *s, const char *ps, const char *group, int replica,
                         const char *grad_spec, double grad_timeout);
/* A teacher: join the server at ps as a frozen encoder that follows the run's moving average
 * of the encoder (mae-optimize --ema); no gradient port, nothing sent back. */
void mae_stage_teacher(mae_stage *s, const char *ps, int replica, double timeout);
/* Before the forward of rec: a teacher takes the average's snapshot that rec's batch (its
 * seq) uses, from the server if it is not the one it holds. Nothing for other stages. */
void mae_stage_follow(mae_stage *s, const mae_record *rec);
/* A model for its configuration only (mae-loss): spec as mae_config_parse reads it. */
void mae_stage_config(mae_stage *s, const char *spec);
void mae_stage_close(mae_stage *s);

/* Read the input's header, add this stage and its model to it, and write it on. */
void mae_stage_header(mae_stage *s, mae_reader *in, mae_writer *out, mae_record *hdr, int argc,
                      char **argv);

/* The header names the model ("model": a full spec) so later stages need no flags. */
void mae_header_set_model(mae_record *hdr, const mae_config *c);
const char *mae_header_model(const mae_record *hdr);   /* NULL if absent */

/* The model's view of a record: patches, target, mask, windows, fmask (and label when the
 * model has SupMAE's branch), checked against the
 * model (N patches of P values; B equal everywhere). A record without a mask gets an
 * all-visible one when allow_no_mask (evaluation of a full image). Dies on a mismatch. */
void mae_stage_batch(mae_stage *s, mae_record *r, mae_batch *b, int allow_no_mask);

/* Hand the forward output of rec on. A trainable stage adds its gradient port to the record's
 * route, writes it, waits for the gradient of that batch (tensor "grad" of `shape`, into
 * grad) and zeroes the model's gradients for the backward: it returns that gradient. A frozen
 * stage (a teacher too) only writes the record, and gets NULL. */
const float *mae_stage_pass(mae_stage *s, mae_writer *out, mae_record *rec, mae_record *grad,
                            const int64_t *shape, int ndim, int watch_fd);
/* The end of a stage's stream: the EOS (with the input's skipped count) written, the input,
 * the records and the stage closed. */
void mae_stage_finish(mae_stage *s, mae_reader *in, mae_writer *out, mae_record *rec,
                      mae_record *grad);

/* Trainable stages, after writing the forward output of `rec` (whose route got this stage's
 * port): wait for the gradient of that batch; returns it in grad (tensor "grad"). */
const float *mae_stage_wait_grad(mae_stage *s, mae_record *rec, mae_record *grad,
                                 const int64_t *shape, int ndim, int watch_fd);
/* Send the gradient of this stage's input down the route carried by grad (if any is left),
 * as tensor "grad" of the given shape. */
void mae_stage_send_grad(mae_record *grad, const float *g, const int64_t *shape, int ndim);
/* Push this stage's parameter gradients to the server and take the new weights. */
void mae_stage_update(mae_stage *s, const mae_record *grad);

#endif
