/* util.h: errors, allocation, number parsing and time for every maepipe program.
 *
 * Messages go to stderr as "prog: message". A format ending in ':' gets ": strerror(errno)"
 * appended (as sbase's eprintf). Exit statuses follow sox: 0 ok, 1 usage or configuration,
 * 2 bad data or runtime failure. */
#ifndef MAE_UTIL_H
#define MAE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

enum { MAE_EXIT_OK = 0, MAE_EXIT_USAGE = 1, MAE_EXIT_DATA = 2 };

extern const char *mae_prog;   /* program name used as message prefix */
extern int mae_quiet;          /* -q: no progress or informational messages */
extern int mae_verbose;        /* -v: say more (which kernels run, per-epoch figures) */

/* Set the message prefix, the allocator policy (heap only, never trimmed) and OpenBLAS's
 * kernels (mae_blas_core). Every program calls it first. */
void mae_setprog(const char *argv0);
/* If OpenBLAS's own choice of kernels ranks below the best core the CPU's flags allow, re-execute
 * the program with OPENBLAS_CORETYPE set to that core; a value the user set is kept unless
 * MAE_BLAS_CORE=best; MAE_BLAS_CORE=keep turns this off (see blascore.c). */
void mae_blas_core(void);
/* The best OpenBLAS core this CPU runs, from its flags: "Cooperlake" (AVX-512 with BF16),
 * "SkylakeX" (AVX-512 F/BW/VL/DQ/CD), "Haswell" (AVX2 and FMA), "Sandybridge" (AVX), or NULL. */
const char *mae_blas_best_core(void);
/* -v: say once on stderr which kernels OpenBLAS runs and why. */
void mae_blas_report(void);
noreturn void mae_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mae_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mae_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* silenced by -q */
noreturn void mae_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The library's error convention: format a message into err[0..n) and return -1. */
int mae_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *mae_malloc(size_t n);               /* dies (status 2) on failure */
void *mae_calloc(size_t n, size_t size);
void *mae_realloc(void *p, size_t n);
char *mae_strdup(const char *s);
void *mae_alloc_aligned(size_t n);        /* 64-byte aligned, free with free() */

/* Parse a whole string as a number within [lo, hi]; on failure die with status 1 naming what. */
long long mae_parse_int(const char *s, long long lo, long long hi, const char *what);
double mae_parse_double(const char *s, double lo, double hi, const char *what);
/* "a/b" as two integers (used by --shard i/n); returns 0 on a syntax error. */
int mae_parse_pair(const char *s, char sep, long long *a, long long *b);

double mae_now(void);                     /* monotonic seconds */
uint64_t mae_fnv1a(const void *p, size_t n, uint64_t h);  /* 64-bit FNV-1a, h = 0 starts fresh */
uint32_t mae_crc32(uint32_t crc, const void *p, size_t n);

#endif
