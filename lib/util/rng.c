/* rng.c: xoshiro256** seeded by splitmix64 from (seed, epoch, index, stage); see rng.h. */
#include "mae/util/rng.h"
#include "mae/util/util.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void mae_rng_seed(mae_rng *r, uint64_t seed, uint64_t epoch, uint64_t index, const char *stage)
{
	/* Mix each coordinate through splitmix so nearby (epoch, index) pairs give unrelated
	 * streams; the stage name keeps, e.g., the crop and the mask of one sample independent. */
	uint64_t x = seed;
	uint64_t h = splitmix64(&x);
	x = h ^ epoch;
	h = splitmix64(&x);
	x = h ^ index;
	h = splitmix64(&x);
	x = h ^ mae_fnv1a(stage, strlen(stage), 0);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mae_rng_u64(mae_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double mae_rng_uniform(mae_rng *r) { return (mae_rng_u64(r) >> 11) * 0x1.0p-53; }
float mae_rng_uniformf(mae_rng *r) { return (float)(mae_rng_u64(r) >> 40) * 0x1.0p-24f; }

uint64_t mae_rng_below(mae_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift with rejection: unbiased for every n. */
	unsigned __int128 m = (unsigned __int128)mae_rng_u64(r) * n;
	uint64_t low = (uint64_t)m;
	if (low < n) {
		uint64_t t = -n % n;
		while (low < t) {
			m = (unsigned __int128)mae_rng_u64(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double mae_rng_normal(mae_rng *r)
{
	double u1 = 1.0 - mae_rng_uniform(r);   /* (0, 1]: log is finite */
	double u2 = mae_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void mae_rng_shuffle(mae_rng *r, int64_t *a, int64_t n)
{
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)mae_rng_below(r, (uint64_t)i + 1);
		int64_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}
