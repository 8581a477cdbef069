/* features.c: feature sets gathered from streams, their dtype conversion and the per-feature
 * statistics k-NN, PCA and the probe share (see features.h). */
#include "mae/eval/features.h"
#include "mae/util/progress.h"
#include "mae/util/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtype conversion ---- */

static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	float x = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m + 1024), e - 25);
	return h & 0x8000 ? -x : x;
}

int mae_to_float(float *dst, const void *src, enum mae_dtype dt, int64_t n)
{
	const unsigned char *p = src;
	size_t sz = mae_dtype_size(dt);
	switch (dt) {
	case MAE_BOOL: case MAE_U8:
		for (int64_t i = 0; i < n; i++) dst[i] = p[i];
		return 0;
	case MAE_I8:
		for (int64_t i = 0; i < n; i++) dst[i] = (int8_t)p[i];
		return 0;
	case MAE_F32:
		memcpy(dst, src, (size_t)n * 4);
		return 0;
	default: break;
	}
	for (int64_t i = 0; i < n; i++, p += sz) {
		union { uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; double d; } v;
		memcpy(&v, p, sz);
		switch (dt) {
		case MAE_U16: dst[i] = v.u16; break;
		case MAE_I16: dst[i] = v.i16; break;
		case MAE_U32: dst[i] = (float)v.u32; break;
		case MAE_I32: dst[i] = (float)v.i32; break;
		case MAE_U64: dst[i] = (float)v.u64; break;
		case MAE_I64: dst[i] = (float)v.i64; break;
		case MAE_F64: dst[i] = (float)v.d; break;
		case MAE_F16: dst[i] = half_to_float(v.u16); break;
		case MAE_BF16: {
			uint32_t b = (uint32_t)v.u16 << 16;
			memcpy(&dst[i], &b, 4);
			break;
		}
		default: return -1;
		}
	}
	return 0;
}

/* ---- feature sets ---- */

void mae_featset_add(mae_featset *fs, mae_record *rec, const char *name, const char *what)
{
	char desc[160];
	mae_tensor *f = mae_rec_tensor(rec, name), *l = mae_rec_tensor(rec, "label");
	if (!f)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: no tensor '%s' (expected [B,...] features)", what,
		        (long long)rec->number, name);
	if (!l)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: no tensor 'label' (expected I32 [B])", what,
		        (long long)rec->number);
	if (l->dtype != MAE_I32 || l->ndim != 1)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor 'label': expected I32 [B], got %s", what,
		        (long long)rec->number, mae_tensor_desc(l, desc, sizeof desc));
	if (f->ndim < 1 || f->shape[0] != l->shape[0])
		mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor '%s' %s does not match label [%lld]", what,
		        (long long)rec->number, name, mae_tensor_desc(f, desc, sizeof desc), (long long)l->shape[0]);
	if (f->dtype == MAE_BOOL || mae_dtype_size(f->dtype) == 0)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor '%s': %s is not a numeric dtype", what,
		        (long long)rec->number, name, mae_dtype_name(f->dtype));
	int64_t b = l->shape[0], d = 1;
	for (int i = 1; i < f->ndim; i++)
		d *= f->shape[i];
	if (b == 0)
		return;
	if (d == 0)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor '%s' %s has no features", what,
		        (long long)rec->number, name, mae_tensor_desc(f, desc, sizeof desc));
	if (fs->n == 0 && fs->d == 0)
		fs->d = d;
	else if (d != fs->d)
		mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor '%s' %s has %lld features per sample, earlier records %lld",
		        what, (long long)rec->number, name, mae_tensor_desc(f, desc, sizeof desc), (long long)d,
		        (long long)fs->d);
	if (fs->n + b > fs->cap) {
		int64_t cap = fs->cap ? fs->cap : 1024;
		while (cap < fs->n + b)
			cap *= 2;
		if ((double)cap * (double)d * 4 > 64e9)
			mae_die(MAE_EXIT_DATA, "%s: %lld samples of %lld features do not fit in memory", what,
			        (long long)cap, (long long)d);
		fs->x = mae_realloc(fs->x, (size_t)cap * (size_t)d * sizeof(float));
		fs->y = mae_realloc(fs->y, (size_t)cap * sizeof(int32_t));
		fs->cap = cap;
	}
	float *x = fs->x + fs->n * d;
	mae_to_float(x, f->data, f->dtype, b * d);
	for (int64_t i = 0; i < b * d; i++)
		if (!isfinite(x[i]))
			mae_die(MAE_EXIT_DATA, "%s: record %lld: tensor '%s': sample %lld has a non-finite feature (%g)",
			        what, (long long)rec->number, name, (long long)(i / d), (double)x[i]);
	for (int64_t i = 0; i < b; i++) {
		int32_t y;
		memcpy(&y, (const char *)l->data + 4 * i, 4);
		if (y < 0 || y >= MAE_KNN_MAX_CLASSES)
			mae_die(MAE_EXIT_DATA, "%s: record %lld: label %d of sample %lld is out of range [0,%d)%s", what,
			        (long long)rec->number, (int)y, (long long)i, MAE_KNN_MAX_CLASSES,
			        y == -1 ? " (unlabeled data cannot be evaluated)" : "");
		fs->y[fs->n + i] = y;
		if (y + 1 > fs->nclass)
			fs->nclass = y + 1;
	}
	fs->n += b;
}

void mae_featset_read(mae_featset *fs, int nf, const char *const *names, const char *endpoint,
                      const mae_common *c, const char *what)
{
	mae_common def;
	mae_record rec = {0};
	if (!c) {
		mae_common_init(&def);
		c = &def;
	}
	memset(fs, 0, (size_t)nf * sizeof *fs);
	mae_reader *in = mae_reader_open(endpoint, c);
	mae_read_header(in, &rec);
	mae_progress pr;
	mae_progress_start(&pr, "samples", -1);
	while (mae_read(in, &rec)) {
		int64_t n0 = fs[0].n;
		for (int t = 0; t < nf; t++)
			mae_featset_add(&fs[t], &rec, names[t], what);
		mae_progress_add(&pr, fs[0].n - n0);
	}
	mae_progress_end(&pr);
	mae_rec_free(&rec);
	mae_reader_close(in);
	if (fs[0].n == 0)
		mae_die(MAE_EXIT_DATA, "%s: %s: the stream has no samples", what, endpoint);
}

void mae_featset_free(mae_featset *fs)
{
	free(fs->x);
	free(fs->y);
	memset(fs, 0, sizeof *fs);
}

void mae_column_mean(const float *x, int64_t n, int64_t d, double *mean)
{
	memset(mean, 0, (size_t)d * sizeof *mean);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < d; j++)
			mean[j] += x[i * d + j];
	for (int64_t j = 0; j < d; j++)
		mean[j] /= (double)n;
}

void mae_standardize_fit(const float *x, int64_t n, int64_t d, double eps, float *mean, float *istd)
{
	double *s = mae_malloc((size_t)d * sizeof *s), *ss = mae_calloc((size_t)d, sizeof *ss);
	mae_column_mean(x, n, d, s);
	for (int64_t i = 0; i < n; i++)   /* two passes: no cancellation on large raw values */
		for (int64_t j = 0; j < d; j++) {
			double c = x[i * d + j] - s[j];
			ss[j] += c * c;
		}
	for (int64_t j = 0; j < d; j++) {
		mean[j] = (float)s[j];
		istd[j] = (float)(1 / sqrt(ss[j] / (double)n + eps));
	}
	free(s);
	free(ss);
}

void mae_standardize_apply(float *x, int64_t n, int64_t d, const float *mean, const float *istd)
{
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < d; j++)
			x[i * d + j] = (x[i * d + j] - mean[j]) * istd[j];
}

void mae_l2_normalize(float *x, int64_t n, int64_t d)
{
	for (int64_t i = 0; i < n; i++) {
		float *r = x + i * d;
		double ss = 0;
		for (int64_t j = 0; j < d; j++)
			ss += (double)r[j] * r[j];
		if (ss > 0) {
			float inv = (float)(1 / sqrt(ss));
			for (int64_t j = 0; j < d; j++)
				r[j] *= inv;
		}
	}
}

void mae_featset_read_pair(mae_featset *train, mae_featset *test, int nf, const char *const *names,
                           const char *train_ep, const mae_common *c)
{
	mae_common tc = *c;
	tc.merge = 1;   /* --merge is about the test input */
	mae_featset_read(train, nf, names, train_ep, &tc, "train");
	mae_featset_read(test, nf, names, c->in, c, "test");
	for (int t = 0; t < nf; t++)
		if (train[t].d != test[t].d)
			mae_die(MAE_EXIT_DATA, "tensor '%s': train samples have %lld values, test samples %lld", names[t],
			        (long long)train[t].d, (long long)test[t].d);
}
