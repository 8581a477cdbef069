/* ttt.h: test-time training with MAE (TTT-MAE, Gandelsman et al. 2022; METHODS 5.6).
 *
 * For each test image: the weights are reset to the pretrained ones; `steps` steps of SGD
 * (momentum, no weight decay) on the MAE loss of a batch of `copies` copies of the image, each
 * masked at random (ratio r), update the encoder only (its parameter group and the mask token;
 * the decoder stays frozen, as the reference's finetune_mode "encoder"); then the encoder reads
 * the whole image and the frozen linear probe predicts from the mean of its patch tokens. The
 * masks of step t, copy j of the image with index i come from mae_rng_seed(seed, t, i * copies
 * + j, "ttt"), so a prediction depends on (weights, image, index, options) only. */
#ifndef MAE_TTT_H
#define MAE_TTT_H

#include <stdint.h>
#include "mae/eval/probe.h"
#include "mae/model/model.h"

typedef struct mae_ttt_opts {
	int steps;          /* SGD steps per image (20) */
	int copies;         /* masked copies in each step's batch (32; the reference: 128) */
	double lr;          /* 5e-3 (the reference: 1e-2 * 128 / 256) */
	double momentum;    /* 0.9 */
	double ratio;       /* masking ratio (0.75) */
	uint64_t seed;
} mae_ttt_opts;

void mae_ttt_opts_init(mae_ttt_opts *o);
/* Whether the model and the probe go together (a model in mode mae, a probe as wide as its
 * encoder): 0, or -1 with m->err. mae_ttt_batch asks it first. */
int mae_ttt_check(mae_model *m, const mae_probe *head);
/* The predictions of B images (patches [B,N,P], index [B]) by the probe, before (the
 * pretrained encoder) and after test-time training on each image; the model's weights are
 * the pretrained ones again when it returns. target [B,N,target_dim]: the images' loss target
 * where the model predicts another one than the pixels (mae-hog's HOG), NULL otherwise.
 * Returns 0, or -1 with m->err (a model that is not in MAE mode, a probe of another width, a
 * missing target). */
int mae_ttt_batch(mae_model *m, const mae_probe *head, const float *patches, const float *target,
                  const int64_t *index, int B, const mae_ttt_opts *o, int32_t *before, int32_t *after);

#endif
