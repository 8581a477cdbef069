/* corrupt.h: the corruptions of ImageNet-C (Hendrycks & Dietterich 2019) that TTT-MAE is
 * evaluated on, applied to a decoded 8-bit image: Gaussian noise, Gaussian blur and contrast,
 * each at a severity 1..5 with the benchmark's constants:
 *   noise     x + N(0, c^2) on [0,1] pixels, c = .08 .12 .18 .26 .38
 *   blur      a Gaussian of standard deviation c = 1 2 3 4 6 pixels at 224 pixels, scaled with
 *             the image (c * min(W,H) / 224): separable, truncated at 4 standard deviations,
 *             borders mirrored (d c b a | a b c d)
 *   contrast  (x - m) * c + m, m the image's mean over pixels and channels, c = .4 .3 .2 .1 .05
 * then clipped to [0,1] and rounded to the nearest of 256 levels. Noise draws from the
 * generator the caller seeded (mae-decode: (seed, epoch, index, "corrupt")). */
#ifndef MAE_CORRUPT_H
#define MAE_CORRUPT_H

#include <stdint.h>
#include "mae/util/rng.h"

enum mae_corruption { MAE_CORRUPT_NONE, MAE_CORRUPT_NOISE, MAE_CORRUPT_BLUR, MAE_CORRUPT_CONTRAST };

typedef struct mae_corrupt {
	int kind;        /* enum mae_corruption */
	int severity;    /* 1..5 */
} mae_corrupt;

/* "noise:3", "blur:1", "contrast:5" (or "none"). 0, or -1 if not one of them. */
int mae_corrupt_parse(const char *s, mae_corrupt *c);
/* The benchmark's constant c of the corruption at its severity (the blur's at 224 pixels). */
double mae_corrupt_level(const mae_corrupt *c);
const char *mae_corrupt_name(int kind);
/* Corrupt px (h rows of w pixels of ch channels, packed) in place. */
void mae_corrupt_apply(const mae_corrupt *c, uint8_t *px, int w, int h, int ch, mae_rng *r);

#endif
