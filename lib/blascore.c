/* blascore.c: make OpenBLAS use the kernels this CPU can run.
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels at load time and falls back to the generic SSE3
 * "Prescott" core on CPUs it does not know (recent Xeons among them), which makes every
 * matrix product 2-3x slower. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, before
 * main, so when it has fallen back and the variable is unset we choose the core from the CPU's
 * own flags (SkylakeX needs AVX-512 F/BW/VL/DQ/CD, Haswell needs AVX2 and FMA) and re-execute
 * the program with it set. A value the user sets is never touched; MAE_BLAS_CORE=keep turns
 * this off. */
#include "mae/util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int has_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	for (const char *p = flags; (p = strstr(p, f)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0))
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
			if (has_flag(line, "avx512f") && has_flag(line, "avx512bw") && has_flag(line, "avx512vl") &&
			    has_flag(line, "avx512dq") && has_flag(line, "avx512cd"))
				core = "SkylakeX";
			else if (has_flag(line, "avx2") && has_flag(line, "fma"))
				core = "Haswell";
			break;
		}
	fclose(f);
	return core;
}

void mae_blas_core(void)
{
	static char *argv[256];
	static char cmdline[65536];
	const char *mode = getenv("MAE_BLAS_CORE");
	if (getenv("OPENBLAS_CORETYPE") || (mode && !strcmp(mode, "keep")))
		return;
	const char *now = openblas_get_corename();
	if (!now || strcmp(now, "Prescott"))
		return;   /* OpenBLAS knows this CPU */
	const char *core = mae_blas_best_core();
	if (!core)
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
	setenv("OPENBLAS_CORETYPE", core, 1);
	execv("/proc/self/exe", argv);
	unsetenv("OPENBLAS_CORETYPE");   /* exec failed: carry on as we are */
}
