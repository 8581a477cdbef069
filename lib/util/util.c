/* util.c: messages, exits, checked allocation and number parsing (see util.h). */
#include "mae/util/util.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *mae_prog = "mae";
int mae_quiet = 0;
int mae_verbose = 0;

void mae_setprog(const char *argv0)
{
	/* Every program starts here, so this is where the allocator policy is set: large
	 * buffers come from the heap and are never handed back to the kernel. A stage that
	 * receives a 40 MB record per step would otherwise mmap it fresh each time and fault in
	 * every page (the cost that makes untuned PyTorch slow on this machine). */
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
	mae_blas_core();
	const char *s = argv0 ? strrchr(argv0, '/') : NULL;
	mae_prog = s ? s + 1 : (argv0 ? argv0 : "mae");
}

static void vmessage(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);
	fprintf(stderr, "%s: ", mae_prog);
	vfprintf(stderr, fmt, ap);
	if (n > 0 && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
}

void mae_die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(status);
}

void mae_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void mae_info(const char *fmt, ...)
{
	va_list ap;
	if (mae_quiet)
		return;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void mae_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	if (usage)
		fputs(usage, stderr);
	exit(MAE_EXIT_USAGE);
}

int mae_fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void *mae_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		mae_die(MAE_EXIT_DATA, "out of memory allocating %zu bytes", n);
	return p;
}

void *mae_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		mae_die(MAE_EXIT_DATA, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *mae_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		mae_die(MAE_EXIT_DATA, "out of memory allocating %zu bytes", n);
	return q;
}

char *mae_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(mae_malloc(n), s, n);
}

void *mae_alloc_aligned(size_t n)
{
	void *p = NULL;
	/* Round up so every buffer can be read in whole 64-byte vectors. */
	size_t r = (n + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, r ? r : 64) != 0)
		mae_die(MAE_EXIT_DATA, "out of memory allocating %zu bytes", n);
	return p;
}

long long mae_parse_int(const char *s, long long lo, long long hi, const char *what)
{
	char *end;
	long long x;
	errno = 0;
	x = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		mae_die(MAE_EXIT_USAGE, "%s: '%s' is not an integer", what, s);
	if (x < lo || x > hi)
		mae_die(MAE_EXIT_USAGE, "%s: %lld is out of range [%lld, %lld]", what, x, lo, hi);
	return x;
}

double mae_parse_double(const char *s, double lo, double hi, const char *what)
{
	char *end;
	double x;
	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || *end || isnan(x))
		mae_die(MAE_EXIT_USAGE, "%s: '%s' is not a number", what, s);
	if (x < lo || x > hi)
		mae_die(MAE_EXIT_USAGE, "%s: %g is out of range [%g, %g]", what, x, lo, hi);
	return x;
}

int mae_parse_pair(const char *s, char sep, long long *a, long long *b)
{
	char *end;
	errno = 0;
	*a = strtoll(s, &end, 10);
	if (errno || end == s || *end != sep)
		return 0;
	s = end + 1;
	*b = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return 0;
	return 1;
}

double mae_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t mae_fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	if (!h)
		h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ULL;
	}
	return h;
}

uint32_t mae_crc32(uint32_t crc, const void *p, size_t n)
{
	static uint32_t table[256];
	static int ready;
	const unsigned char *c = p;
	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t x = i;
			for (int k = 0; k < 8; k++)
				x = x & 1 ? 0xEDB88320u ^ (x >> 1) : x >> 1;
			table[i] = x;
		}
		ready = 1;
	}
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ c[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}
