/* test_ema.c: the encoder's moving average (ema.h): the update rule against a double-precision
 * recurrence, the snapshots a teacher uses, and the saved state's round trip and checks. */
#include "mae/train/ema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

int main(void)
{
	enum { N = 1000, STEPS = 23, K = 5 };
	float w[N];
	double ref[N], snap_ref[N];
	mae_ema e;
	for (int i = 0; i < N; i++)
		w[i] = (float)sin(i * 0.37), ref[i] = w[i], snap_ref[i] = w[i];
	mae_ema_init(&e, 0.9, K, w, N, 0);
	ok(e.snap_step == 0 && memcmp(e.snap, w, sizeof w) == 0, "at step 0 the snapshot is the initial weights");
	double err = 0;
	int snaps_ok = 1;
	for (int t = 1; t <= STEPS; t++) {
		for (int i = 0; i < N; i++) {
			w[i] += (float)(0.01 * cos(i * 0.11 + t));
			ref[i] = 0.9 * ref[i] + 0.1 * w[i];
		}
		mae_ema_update(&e, w);
		if (t % K == 0)
			memcpy(snap_ref, ref, sizeof ref);
		snaps_ok &= e.step == t && e.snap_step == t / K * K;
	}
	for (int i = 0; i < N; i++)
		err = fmax(err, fabs(e.avg[i] - ref[i]));
	ok(err < 1e-6, "ema = 0.9 ema + 0.1 w over %d steps, as in double (max error %.2g)", STEPS, err);
	ok(snaps_ok, "the snapshot is taken at every multiple of K = %d (last: step %lld)", K, (long long)e.snap_step);
	double serr = 0;
	for (int i = 0; i < N; i++)
		serr = fmax(serr, fabs(e.snap[i] - snap_ref[i]));
	ok(serr < 1e-6, "and it is the average of that step (max error %.2g)", serr);
	ok(mae_ema_snapshot_for(&e, 0) == 0 && mae_ema_snapshot_for(&e, 4) == 0 && mae_ema_snapshot_for(&e, 5) == 5 &&
	   mae_ema_snapshot_for(&e, 23) == 20, "batch i uses the snapshot of step K*floor(i/K)");

	char dir[] = "/tmp/mae-ema-XXXXXX", path[300], errs[400];
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/ema.safetensors", dir);
	ok(mae_ema_save(&e, path, errs, sizeof errs) == 0, "saved (%s)", path);
	mae_ema back;
	float zero[N] = {0};
	mae_ema_init(&back, 0.5, 3, zero, N, STEPS);
	ok(mae_ema_load(&back, path, STEPS, errs, sizeof errs) == 0 && back.step == STEPS &&
	   back.momentum == 0.9 && back.every == K &&
	   back.snap_step == 20 && memcmp(back.avg, e.avg, sizeof zero) == 0 && memcmp(back.snap, e.snap, sizeof zero) == 0,
	   "loaded back bit for bit, with its steps, momentum and period");
	ok(mae_ema_load(&back, path, STEPS + 1, errs, sizeof errs) == -1 && strstr(errs, "the average of step 23"),
	   "a run at another step refuses it: %s", errs);
	mae_ema small;
	mae_ema_init(&small, 0.9, K, zero, N / 2, STEPS);
	ok(mae_ema_load(&small, path, STEPS, errs, sizeof errs) == -1 && strstr(errs, "F32 [500]"),
	   "a model of another size refuses it: %s", errs);
	unlink(path);
	rmdir(dir);
	mae_ema_free(&e);
	mae_ema_free(&back);
	mae_ema_free(&small);
	return done();
}
