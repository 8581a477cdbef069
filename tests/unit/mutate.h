/* mutate.h: the bounded fuzz of the unit tests: a few random edits of a valid file or record,
 * of the kinds that find reader bugs (a flipped bit, a byte set, a cut, a byte inserted).
 * Seeded, so a failure repeats. */
#ifndef MAE_TEST_MUTATE_H
#define MAE_TEST_MUTATE_H

#include <stdlib.h>
#include <string.h>

#include "mae/util/rng.h"
#include "mae/util/util.h"

/* Edit m (len bytes, room for cap) 1 to 4 times; flips, sets and inserts land in its first
 * `span` bytes (the part worth mutating: a header, say), a cut anywhere. The new length. */
static size_t mutate(unsigned char *m, size_t len, size_t cap, size_t span, mae_rng *rng)
	__attribute__((unused));
static size_t mutate(unsigned char *m, size_t len, size_t cap, size_t span, mae_rng *rng)
{
	int k = 1 + (int)mae_rng_below(rng, 4);
	for (int j = 0; j < k; j++) {
		size_t in = span < len ? span : len;
		switch (mae_rng_below(rng, 4)) {
		case 0: m[mae_rng_below(rng, in)] ^= (unsigned char)(1u << mae_rng_below(rng, 8)); break;
		case 1: m[mae_rng_below(rng, in)] = (unsigned char)mae_rng_below(rng, 256); break;
		case 2: len = 1 + mae_rng_below(rng, len); break;
		case 3:
			if (len < cap) {
				size_t at = mae_rng_below(rng, in);
				memmove(m + at + 1, m + at, len - at);
				m[at] = (unsigned char)mae_rng_below(rng, 256);
				len++;
			}
			break;
		}
	}
	return len;
}

/* the fuzz's time budget in seconds: MAE_FUZZ_SECONDS, default 3 (CI stays quick; a long run
 * is MAE_FUZZ_SECONDS=600) */
static double fuzz_budget(void) __attribute__((unused));
static double fuzz_budget(void)
{
	const char *s = getenv("MAE_FUZZ_SECONDS");
	return s ? atof(s) : 3.0;
}

#endif
