/* moving.c: Moving Fashion-MNIST clips (see include/mae/data/moving.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "mae/data/image.h"
#include "mae/data/moving.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

const char *const mae_moving_classes[10] = {
	"0_tshirt_top", "1_trouser", "2_pullover", "3_dress", "4_coat",
	"5_sandal", "6_shirt", "7_sneaker", "8_bag", "9_ankle_boot",
};

int mae_moving_load(const char *split, mae_idx *images, mae_idx *labels, char *err, size_t errn)
{
	const char *base = !strcmp(split, "test") ? "t10k" : "train";
	char path[256], e[256];
	memset(images, 0, sizeof *images);
	memset(labels, 0, sizeof *labels);
	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", MAE_FMNIST_DIR, base);
	if (mae_idx_load(path, images, e, sizeof e) < 0)
		return mae_fail(err, errn, "%s: %s (install the Debian package dataset-fashion-mnist)",
		                path, e);
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", MAE_FMNIST_DIR, base);
	if (mae_idx_load(path, labels, e, sizeof e) < 0) {
		mae_idx_free(images);
		return mae_fail(err, errn, "%s: %s", path, e);
	}
	if (images->ndim != 3 || images->dims[1] != MAE_MOVING_ITEM ||
	    images->dims[2] != MAE_MOVING_ITEM || labels->ndim != 1 ||
	    labels->dims[0] != images->dims[0]) {
		mae_idx_free(images);
		mae_idx_free(labels);
		return mae_fail(err, errn, "%s: not %d x %d images with one label each", MAE_FMNIST_DIR,
		                MAE_MOVING_ITEM, MAE_MOVING_ITEM);
	}
	return 0;
}

/* One step along a coordinate in [0, hi], bouncing: what passes an edge is reflected back
 * (the speed is far below hi, so one reflection is enough). */
static void step(double *p, double *v, double hi)
{
	*p += *v;
	if (*p < 0)
		*p = -*p, *v = -*v;
	else if (*p > hi)
		*p = 2 * hi - *p, *v = -*v;
}

int32_t mae_moving_clip(const mae_idx *images, const mae_idx *labels, uint64_t seed, int64_t i,
                        int frames, int nitems, uint8_t *out, int64_t *items)
{
	const int S = MAE_MOVING_SIZE, P = MAE_MOVING_ITEM;
	const double hi = S - P;
	struct { const uint8_t *px; double x, y, vx, vy; } it[MAE_MOVING_MAX_ITEMS];
	int32_t label = -1;
	mae_rng r;
	mae_rng_seed(&r, seed, 0, (uint64_t)i, "moving");
	if (nitems < 1)
		nitems = 1;
	if (nitems > MAE_MOVING_MAX_ITEMS)
		nitems = MAE_MOVING_MAX_ITEMS;
	for (int j = 0; j < nitems; j++) {
		int64_t k = (int64_t)mae_rng_below(&r, (uint64_t)images->dims[0]);
		it[j].px = images->data + (size_t)k * P * P;
		it[j].x = hi * mae_rng_uniform(&r);
		it[j].y = hi * mae_rng_uniform(&r);
		double a = 2 * M_PI * mae_rng_uniform(&r);
		it[j].vx = MAE_MOVING_SPEED * cos(a);
		it[j].vy = MAE_MOVING_SPEED * sin(a);
		if (items)
			items[j] = k;
		if (!j)
			label = labels->data[k];
	}
	for (int t = 0; t < frames; t++) {
		uint8_t *f = out + (size_t)t * S * S;
		memset(f, 0, (size_t)S * S);
		for (int j = 0; j < nitems; j++) {
			if (t) {
				step(&it[j].x, &it[j].vx, hi);
				step(&it[j].y, &it[j].vy, hi);
			}
			int x0 = (int)lround(it[j].x), y0 = (int)lround(it[j].y);
			for (int y = 0; y < P; y++)
				for (int x = 0; x < P; x++) {
					uint8_t v = it[j].px[y * P + x], *d = &f[(y0 + y) * S + x0 + x];
					if (v > *d)
						*d = v;
				}
		}
	}
	return label;
}

/* mkdir -p: the missing parents too (DIR may be out/videomae/clips/train on a fresh tree) */
static int mkdir_ok(const char *p, char *err, size_t errn)
{
	char *q = mae_strdup(p);
	int rc = 0;
	for (char *s = q + 1; *s && !rc; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(q, 0777) && errno != EEXIST)
				rc = mae_fail(err, errn, "%s: %s", q, strerror(errno));
			*s = '/';
		}
	if (!rc && mkdir(q, 0777) && errno != EEXIST)
		rc = mae_fail(err, errn, "%s: %s", q, strerror(errno));
	free(q);
	return rc;
}

int mae_moving_save(const char *dir, int64_t i, int32_t label, int frames, const uint8_t *px,
                    char *err, size_t errn)
{
	size_t n = strlen(dir) + 64;
	char *p = mae_malloc(n);
	int rc = 0, width = 2;   /* digits of frames - 1, at least 2 (frames <= 10^9) */
	for (int f = 100; f < frames && width < 9; f *= 10)
		width++;
	const char *cls = label >= 0 && label < 10 ? mae_moving_classes[label] : "unknown";
	snprintf(p, n, "%s/%s", dir, cls);
	if (mkdir_ok(dir, err, errn) < 0 || mkdir_ok(p, err, errn) < 0)
		rc = -1;
	snprintf(p, n, "%s/%s/clip%06lld", dir, cls, (long long)i);
	if (!rc && mkdir_ok(p, err, errn) < 0)
		rc = -1;
	for (int t = 0; t < frames && !rc; t++) {
		char num[16];   /* t in `width` digits: the last of its nine */
		snprintf(num, sizeof num, "%09d", t);
		snprintf(p, n, "%s/%s/clip%06lld/frame%s.png", dir, cls, (long long)i, num + 9 - width);
		mae_image im = { MAE_MOVING_SIZE, MAE_MOVING_SIZE, 1, MAE_MOVING_SIZE,
		                 (uint8_t *)px + (size_t)t * MAE_MOVING_SIZE * MAE_MOVING_SIZE, NULL };
		rc = mae_image_save(&im, p, "png", 0, err, errn);
	}
	free(p);
	return rc;
}
