/* clip.h: clips, short videos stored as folders of frame images (dataset.h lists them), and
 * which of their frames a sample takes: VideoMAE's pretraining sampler.
 *
 * A clip sample is `frames` (T) frames at a step of `stride` (S) frames. VideoMAE
 * (MCG-NJU/VideoMAE kinetics.py, class VideoMAE, with num_segments = 1, new_length = T,
 * new_step = S, no temporal jitter) reads a clip of nf frames as:
 *   _sample_train_indices: with L = T*S, an offset uniform in [0, nf - L] when nf >= L, else 0;
 *   _video_TSN_decord_batch_loader: T frames from the offset, each followed by a step of S
 *     frames that is taken only while it stays short of the last frame (see mae_clip_frames).
 * Here the offset is drawn from mae_rng_seed(seed, epoch, index, "clip") in training, a
 * stream of its own beside the crop's ("decode"), and centred, (nf - L) / 2 rounded down
 * (0 when nf < L), in evaluation.
 *
 * Every frame of a clip gets the same crop and flip: the draws are made once per clip (each
 * frame starts from the same generator state), so the frames must all have one size. */
#ifndef MAE_CLIP_H
#define MAE_CLIP_H

#include <stddef.h>
#include <stdint.h>
#include "mae/data/dataset.h"

#define MAE_CLIP_MAX_FRAMES 1024   /* T and S at most */

typedef struct mae_clipspec {
	int frames;         /* T: frames a sample takes */
	int stride;         /* S: frames between two of them */
	int random;         /* draw the offset (training), or centre it (evaluation) */
} mae_clipspec;

/* The first frame of a clip of nf frames: drawn from r when c->random, else centred. */
int mae_clip_offset(int nf, const mae_clipspec *c, mae_rng *r);
/* The c->frames frame numbers (0-based) that a clip of nf frames gives from `offset`. */
void mae_clip_frames(int nf, const mae_clipspec *c, int offset, int *ids);

/* Decode clip sample `pos` of ds for `epoch` into out, T images of aug's size one after the
 * other ([T,H,W,C]). Returns 0, or -1 with err naming the clip or the frame ("CLIP: no
 * frames", "CLIP/frame03.png: PNG: ..."). */
int mae_clip_load(const mae_dataset *ds, int64_t pos, const mae_augment *aug,
                  const mae_clipspec *c, uint64_t seed, int64_t epoch, uint8_t *out,
                  char *err, size_t errn);

#endif
