/* rng.h: seeded random numbers that depend only on what a sample is, never on who draws it.
 *
 * Every random choice in maepipe comes from a generator seeded with
 * (pipeline seed, epoch, sample index, stage name), so a stream is the same whether one process
 * or ten workers on three hosts make it. The generator is xoshiro256** seeded through
 * splitmix64. */
#ifndef MAE_RNG_H
#define MAE_RNG_H

#include <stdint.h>

typedef struct mae_rng { uint64_t s[4]; } mae_rng;

void mae_rng_seed(mae_rng *r, uint64_t seed, uint64_t epoch, uint64_t index, const char *stage);
uint64_t mae_rng_u64(mae_rng *r);
double mae_rng_uniform(mae_rng *r);                 /* [0, 1), 53 bits */
float mae_rng_uniformf(mae_rng *r);                 /* [0, 1), 24 bits */
uint64_t mae_rng_below(mae_rng *r, uint64_t n);     /* uniform in [0, n), unbiased; n > 0 */
double mae_rng_normal(mae_rng *r);                  /* standard normal (Box-Muller) */
void mae_rng_shuffle(mae_rng *r, int64_t *a, int64_t n);  /* Fisher-Yates */

#endif
