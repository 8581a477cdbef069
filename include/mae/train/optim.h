/* optim.h: MAE's optimiser as used in pretraining (METHODS 1.9): AdamW with timm's decay
 * groups, a per-iteration schedule of linear warm-up then half-cosine, optional clipping of the
 * global gradient norm. Works on flat float vectors so the parameter server and the in-process
 * training step share it. */
#ifndef MAE_OPTIM_H
#define MAE_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "mae/model/model.h"

typedef struct mae_optim {
	double lr;              /* peak learning rate (absolute: blr * batch / 256) */
	double min_lr;          /* floor of the cosine (MAE: 0) */
	double beta1, beta2;    /* 0.9, 0.95 */
	double eps;             /* 1e-8 */
	double weight_decay;    /* 0.05 */
	double clip;            /* max global gradient norm; 0 = no clipping (MAE) */
	int64_t warmup;         /* warm-up iterations */
	int64_t total;          /* iterations of the whole run (cosine reaches min_lr there) */
	int64_t step;           /* updates done so far (AdamW's t) */
	size_t n;               /* parameters */
	float *m, *v;           /* first and second moments, one arena each */
} mae_optim;

/* MAE's defaults; allocates zeroed moments for n parameters. */
void mae_optim_init(mae_optim *o, size_t n);
void mae_optim_free(mae_optim *o);
/* Learning rate at iteration `it` (0-based): lr * it / warmup during warm-up, then
 * min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * (it - warmup) / (total - warmup))). */
double mae_optim_lr(const mae_optim *o, int64_t it);
/* Global L2 norm of g; when clip > 0 and the norm exceeds it, scales g down to clip
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
double mae_grad_clip(float *g, size_t n, double clip);
/* One AdamW update (torch.optim.AdamW) of the trainable tensors in `tensors` (decay per
 * tensor: the mae_param_info decay flag), at learning rate lr. params/grads are the flat
 * arenas the tensors' offsets index; o->m and o->v use the same offsets. Increments o->step. */
void mae_optim_update(mae_optim *o, float *params, const float *grads,
                      const mae_param_info *tensors, int ntensors, double lr);

/* The in-process training step: zero grads, forward, backward, clip, schedule, AdamW.
 * Returns 0 with the loss and the pre-clip gradient norm, or -1 with m->err. */
int mae_train_step(mae_model *m, mae_optim *o, const mae_batch *b, float *loss, double *gnorm);

#endif
