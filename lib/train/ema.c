/* ema.c: the encoder's moving average and its snapshots for teacher stages (see ema.h). */
#include "mae/train/ema.h"
#include "mae/train/checkpoint.h"
#include "mae/util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mae_ema_init(mae_ema *e, double momentum, int64_t every, const float *w, size_t n, int64_t step)
{
	memset(e, 0, sizeof *e);
	e->momentum = momentum;
	e->every = every > 0 ? every : 1;
	e->n = n;
	e->avg = mae_malloc(n * sizeof(float));
	e->snap = mae_malloc(n * sizeof(float));
	memcpy(e->avg, w, n * sizeof(float));
	e->step = step;
	e->snap_step = -1;
	if (step % e->every == 0) {
		memcpy(e->snap, w, n * sizeof(float));
		e->snap_step = step;
	}
}

void mae_ema_update(mae_ema *e, const float *w)
{
	float m = (float)e->momentum, r = 1.0f - m;
	for (size_t i = 0; i < e->n; i++)
		e->avg[i] = m * e->avg[i] + r * w[i];
	e->step++;
	if (e->step % e->every == 0) {
		memcpy(e->snap, e->avg, e->n * sizeof(float));
		e->snap_step = e->step;
	}
}

void mae_ema_free(mae_ema *e)
{
	free(e->avg);
	free(e->snap);
	memset(e, 0, sizeof *e);
}

int mae_ema_save(const mae_ema *e, const char *path, char *err, size_t errn)
{
	char step[32], snap_step[32], momentum[32], every[32];
	snprintf(step, sizeof step, "%" PRId64, e->step);
	snprintf(snap_step, sizeof snap_step, "%" PRId64, e->snap_step);
	snprintf(momentum, sizeof momentum, "%.17g", e->momentum);
	snprintf(every, sizeof every, "%" PRId64, e->every);
	const char *meta[] = {"format", "maepipe-ema", "step", step, "snapshot_step", snap_step,
	                      "momentum", momentum, "every", every};
	mae_st_tensor t[2] = {
		{.name = "ema", .dtype = MAE_F32, .ndim = 1, .shape = {(int64_t)e->n}, .data = e->avg,
		 .nbytes = e->n * sizeof(float)},
		{.name = "snapshot", .dtype = MAE_F32, .ndim = 1, .shape = {(int64_t)e->n}, .data = e->snap,
		 .nbytes = e->n * sizeof(float)},
	};
	return mae_st_write(path, t, 2, meta, 5, err, errn);
}

int mae_ema_load(mae_ema *e, const char *path, int64_t step, char *err, size_t errn)
{
	mae_st_file f;
	if (mae_st_read(&f, path, err, errn))
		return -1;
	const mae_st_tensor *a = mae_st_get(&f, "ema"), *s = mae_st_get(&f, "snapshot");
	const char *st = mae_st_meta(&f, "step"), *ss = mae_st_meta(&f, "snapshot_step");
	int bad = 0;
	if (!a || !s || a->dtype != MAE_F32 || s->dtype != MAE_F32 || a->nbytes != e->n * sizeof(float) ||
	    s->nbytes != e->n * sizeof(float) || !st || !ss) {
		snprintf(err, errn, "%s: expected tensors ema and snapshot of F32 [%zu] and their steps", path, e->n);
		bad = 1;
	} else if (strtoll(st, NULL, 10) != step) {
		snprintf(err, errn, "%s: the average of step %s, the run is at step %" PRId64, path, st, step);
		bad = 1;
	} else {
		const char *mm = mae_st_meta(&f, "momentum"), *ke = mae_st_meta(&f, "every");
		memcpy(e->avg, a->data, a->nbytes);
		memcpy(e->snap, s->data, s->nbytes);
		e->step = step;
		e->snap_step = strtoll(ss, NULL, 10);
		if (mm)
			e->momentum = atof(mm);
		if (ke && atoll(ke) > 0)
			e->every = atoll(ke);
	}
	mae_st_free(&f);
	return bad ? -1 : 0;
}
