/* ema.h: an exponential moving average of the encoder's weights, the teacher of the methods
 * that have one (AttMask's masks, mae(7) TRAINING), kept by the parameter server.
 *
 * After every optimiser step t (weights w_t): ema = m * ema + (1 - m) * w_t, starting from the
 * initial weights. Teachers do not read the running average: a teacher stage that processes
 * batch i uses the snapshot of the average at step K * floor(i / K) (K = every), so what it
 * computes depends only on i, never on how far the training has got when it asks: two runs,
 * or a run and its restart, give the same bits. The server keeps the snapshot of the last
 * multiple of K and answers a teacher that asks for a later one when the step is reached. */
#ifndef MAE_EMA_H
#define MAE_EMA_H

#include <stddef.h>
#include <stdint.h>

typedef struct mae_ema {
	double momentum;      /* m in [0, 1); 0: no average kept */
	int64_t every;        /* K >= 1 */
	size_t n;             /* encoder parameters (the first n of the model's params) */
	float *avg;           /* the running average after `step` steps */
	float *snap;          /* the average at step snap_step, a multiple of every */
	int64_t step, snap_step;
} mae_ema;

/* Start from the weights w[0..n) at step `step` (the snapshot is w when step is a multiple of
 * every, else it stays unknown: snap_step = -1 until the next multiple). */
void mae_ema_init(mae_ema *e, double momentum, int64_t every, const float *w, size_t n, int64_t step);
/* The average after one more step, whose weights are w. Takes the snapshot when the step
 * count reaches a multiple of every. */
void mae_ema_update(mae_ema *e, const float *w);
/* The step of the snapshot a teacher uses for batch i: K * floor(i / K). */
static inline int64_t mae_ema_snapshot_for(const mae_ema *e, int64_t batch)
{
	return batch / e->every * e->every;
}
void mae_ema_free(mae_ema *e);

/* DIR/ema.safetensors: the average, the snapshot and their steps, as part of a run's saved
 * state (written between mae_st_begin and mae_st_commit with the checkpoint). Load checks
 * the sizes and that the file's step is `step`, and takes the momentum and period the file
 * records. 0, or -1 with err. */
int mae_ema_save(const mae_ema *e, const char *path, char *err, size_t errn);
int mae_ema_load(mae_ema *e, const char *path, int64_t step, char *err, size_t errn);

#endif
