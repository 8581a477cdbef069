/* moving.h: Moving Fashion-MNIST, a deterministic video data set made the way Moving MNIST is
 * (Srivastava, Mansimov and Salakhutdinov 2015), with Fashion-MNIST items in place of digits.
 *
 * Clip i of the set made with seed s is a function of (s, i) alone: its generator is
 * mae_rng_seed(s, 0, i, "moving"), from which each item j in turn draws
 *   its Fashion-MNIST index, uniform in [0, N) (N: the split's size);
 *   its start position x, then y, uniform in [0, 36] (64 - 28: the item stays inside);
 *   its direction, an angle uniform in [0, 2 pi).
 * Every item moves MAE_MOVING_SPEED pixels a frame in a straight line; a coordinate that would
 * leave [0, 36] is reflected back in and its velocity component changes sign (a bounce off the
 * edge). Frame t draws each item's 28 x 28 pixels at its position after t steps, rounded to
 * whole pixels (half away from zero), on a black 64 x 64 frame; where items overlap the
 * brighter pixel wins (max). The clip's label is the class of its first item. */
#ifndef MAE_MOVING_H
#define MAE_MOVING_H

#include <stddef.h>
#include <stdint.h>
#include "mae/data/dataset.h"

#define MAE_MOVING_SIZE 64        /* frames are 64 x 64, grey */
#define MAE_MOVING_ITEM 28        /* the Fashion-MNIST item's size */
/* Pixels a frame. Moving MNIST's generator moves digits 0.1 of the free span (36 px) a frame,
 * 3.6 px; a little slower keeps the motion inside one 4 x 4 or 8 x 8 patch between two frames
 * sampled at stride 2 (5 px) and lets a 16-frame clip cross the frame about once (40 px). */
#define MAE_MOVING_SPEED 2.5
#define MAE_MOVING_MAX_ITEMS 4

/* The class folder names, in label order (which is also their strcmp order): "0_tshirt_top",
 * "1_trouser", ..., "9_ankle_boot". */
extern const char *const mae_moving_classes[10];

/* The split's images and labels ("train" or "test", from Debian's dataset-fashion-mnist).
 * 0, or -1 with err. */
int mae_moving_load(const char *split, mae_idx *images, mae_idx *labels, char *err, size_t errn);

/* Clip i of the set of seed `seed` with `nitems` items (1..MAE_MOVING_MAX_ITEMS): `frames`
 * frames of 64 x 64 bytes into out. items, when not NULL, receives the nitems Fashion-MNIST
 * indices drawn. Returns the clip's label (the first item's class). */
int32_t mae_moving_clip(const mae_idx *images, const mae_idx *labels, uint64_t seed, int64_t i,
                        int frames, int nitems, uint8_t *out, int64_t *items);

/* Write a clip as DIR/CLASS/clipNNNNNN/frameNN.png (grey PNG; NN two digits, more when frames
 * > 100, so that the names sort in time order), making the folders. 0, or -1 with err. */
int mae_moving_save(const char *dir, int64_t i, int32_t label, int frames, const uint8_t *px,
                    char *err, size_t errn);

#endif
