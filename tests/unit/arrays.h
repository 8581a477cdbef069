/* arrays.h: the kernel tests' arrays. Deterministic pseudo-random floats in [-1, 1)
 * (xorshift64 from ARRAYS_SEED, which a test may define first), and every array registered so
 * that free_arrays() frees them all at the end (LeakSanitizer in `make asan`). */
#ifndef ARRAYS_H
#define ARRAYS_H

#include <stdlib.h>
#include <string.h>

#ifndef ARRAYS_SEED
#define ARRAYS_SEED 88172645463325252ULL
#endif

static unsigned long long rs = ARRAYS_SEED;
static float frand(void)
{
	rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
	return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static void *allocs[4096];
static int nallocs;
static void *keep(void *p)
{
	if (nallocs < 4096)
		allocs[nallocs++] = p;
	return p;
}
static __attribute__((unused)) float *rnd(size_t n, float scale)
{
	float *a = keep(malloc(n * sizeof(float)));
	for (size_t i = 0; i < n; i++)
		a[i] = frand() * scale;
	return a;
}
static __attribute__((unused)) float *zeros(size_t n) { return keep(calloc(n, sizeof(float))); }
static __attribute__((unused)) float *copy(const float *a, size_t n)
{
	return memcpy(keep(malloc(n * sizeof(float))), a, n * sizeof(float));
}
static void free_arrays(void)
{
	while (nallocs)
		free(allocs[--nallocs]);
}

#endif
