/* fd.h: finite differences for the kernel tests. A scalar loss L(x) (f(ctx), reading x where
 * ctx points) and its analytic gradient g: fd_err returns the norm-wise relative error
 * ||fd - g|| / ||fd|| of g against central differences of step eps. Needs <math.h>. */
#ifndef FD_H
#define FD_H

#include <stddef.h>

typedef double (*lossfn)(void *ctx);
static __attribute__((unused)) double fd_err(lossfn f, void *ctx, float *x, size_t n, const float *g, float eps)
{
	double d2 = 0, n2 = 0;
	for (size_t i = 0; i < n; i++) {
		float save = x[i];
		x[i] = save + eps;
		double lp = f(ctx);
		x[i] = save - eps;
		double lm = f(ctx);
		x[i] = save;
		double fd = (lp - lm) / (2.0 * eps);
		d2 += (fd - g[i]) * (fd - g[i]);
		n2 += fd * fd;
	}
	return sqrt(d2 / (n2 > 1e-30 ? n2 : 1e-30));
}

#endif
