/* blascore.c: make OpenBLAS use the best kernels this CPU can run.
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels when it loads, from the CPUID, and can pick
 * badly: it falls back to the generic SSE3 "Prescott" core on CPUs it does not know (recent
 * Xeons among them), a third of the speed, and newer CPUs may get an older core than they can
 * run (AVX2 "Haswell" kernels on an AVX-512 CPU: half the speed). OpenBLAS reads
 * OPENBLAS_CORETYPE only when it loads, before main, so when its own choice ranks below the
 * best core the CPU's flags allow, we set the variable and re-execute the program.
 *
 * A value the user sets is kept (it may be there on purpose: the same kernels, so the same
 * bits, on every host of a run, or a work-around for a CPU an old OpenBLAS mishandles), unless
 * MAE_BLAS_CORE=best asks for the best core regardless; MAE_BLAS_CORE=keep turns all of this
 * off. What was decided is said once on stderr by -v (mae_blas_report). */
#include "mae/util/util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set on the re-executed program: the core OpenBLAS had chosen (or been told) before. */
#define WAS_VAR "MAE_BLAS_CORE_WAS"

static int has_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	for (const char *p = flags; (p = strstr(p, f)); p += n)
		if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0))
			return 1;
	return 0;
}

const char *mae_blas_best_core(void)
{
	char line[8192];
	const char *core = NULL;
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "flags", 5)) {
			int avx512 = has_flag(line, "avx512f") && has_flag(line, "avx512bw") &&
			             has_flag(line, "avx512vl") && has_flag(line, "avx512dq") && has_flag(line, "avx512cd");
			if (avx512 && has_flag(line, "avx512_bf16"))
				core = "Cooperlake";   /* SkylakeX's sgemm and a bf16 sbgemm */
			else if (avx512)
				core = "SkylakeX";
			else if (has_flag(line, "avx2") && has_flag(line, "fma"))
				core = "Haswell";
			else if (has_flag(line, "avx"))
				core = "Sandybridge";
			break;
		}
	fclose(f);
	return core;
}

/* How good a core's single-precision kernels are: -1 for a name we do not know (then we
 * leave OpenBLAS's choice alone). */
static int core_rank(const char *core)
{
	static const struct { const char *name; int rank; } ranks[] = {
		{"Prescott", 0}, {"Core2", 0}, {"Penryn", 0}, {"Dunnington", 0}, {"Nehalem", 0},
		{"Atom", 0}, {"Opteron", 0}, {"Opteron_SSE3", 0}, {"Barcelona", 0}, {"Bobcat", 0},
		{"Sandybridge", 1}, {"Bulldozer", 1}, {"Piledriver", 1}, {"Steamroller", 1},
		{"Excavator", 1}, {"Haswell", 2}, {"Zen", 2}, {"SkylakeX", 3}, {"Cooperlake", 4},
	};
	for (size_t i = 0; core && i < sizeof ranks / sizeof ranks[0]; i++)
		if (!strcasecmp(core, ranks[i].name))
			return ranks[i].rank;
	return -1;
}

/* 1 if OpenBLAS's core now is a known one that ranks below the CPU's best */
static int below_best(const char *now, const char *best)
{
	return best && core_rank(now) >= 0 && core_rank(now) < core_rank(best);
}

void mae_blas_core(void)
{
	static char *argv[256];
	static char cmdline[65536];
	const char *mode = getenv("MAE_BLAS_CORE");
	if ((mode && !strcmp(mode, "keep")) || getenv(WAS_VAR))
		return;   /* turned off, or we are the re-executed program */
	if (getenv("OPENBLAS_CORETYPE") && !(mode && !strcmp(mode, "best")))
		return;   /* the user's choice */
	const char *now = openblas_get_corename(), *best = mae_blas_best_core();
	if (!below_best(now, best))
		return;
	FILE *f = fopen("/proc/self/cmdline", "r");
	if (!f)
		return;
	size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
	fclose(f);
	if (n == 0 || n == sizeof cmdline - 1)
		return;
	int argc = 0;
	for (size_t i = 0; i < n && argc < 255; i += strlen(cmdline + i) + 1)
		argv[argc++] = cmdline + i;
	argv[argc] = NULL;
	char *old = getenv("OPENBLAS_CORETYPE");
	setenv(WAS_VAR, old ? old : now, 1);
	setenv("OPENBLAS_CORETYPE", best, 1);
	execv("/proc/self/exe", argv);
	/* exec failed: carry on as we are */
	if (old)
		setenv("OPENBLAS_CORETYPE", old, 1);
	else
		unsetenv("OPENBLAS_CORETYPE");
	unsetenv(WAS_VAR);
}

void mae_blas_report(void)
{
	static int said;
	if (said++)
		return;
	const char *now = openblas_get_corename(), *best = mae_blas_best_core();
	const char *was = getenv(WAS_VAR), *set = getenv("OPENBLAS_CORETYPE");
	if (was)
		fprintf(stderr, "%s: OpenBLAS: %s kernels, the best this CPU runs, in place of %s\n",
		        mae_prog, now, was);
	else if (set && below_best(now, best))
		fprintf(stderr, "%s: OpenBLAS: %s kernels, as OPENBLAS_CORETYPE=%s asks; this CPU runs %s's "
		        "(MAE_BLAS_CORE=best takes them)\n", mae_prog, now, set, best);
	else
		fprintf(stderr, "%s: OpenBLAS: %s kernels%s\n", mae_prog, now,
		        set ? " (OPENBLAS_CORETYPE)" : ", its own choice");
}
