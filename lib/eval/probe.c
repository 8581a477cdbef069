/* probe.c: a softmax-regression linear probe trained by SGD (see probe.h). */
#include "mae/eval/probe.h"
#include "mae/train/checkpoint.h"
#include "mae/util/progress.h"
#include "mae/util/rng.h"
#include "mae/util/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mae_probe_opts_init(mae_probe_opts *o)
{
	o->epochs = 100;
	o->batch = 256;
	o->lr = 0.03;
	o->momentum = 0.9;
	o->wd = 0;
	o->eps = 1e-6;
	o->seed = 0;
	o->verbose = 0;
}

/* logits z [b,c] = x [b,d] W^T + bias */
static void forward(const mae_probe *p, const float *x, int64_t b, float *z)
{
	int64_t c = p->nclass, d = p->d;
	for (int64_t i = 0; i < b; i++)
		memcpy(z + i * c, p->b, (size_t)c * sizeof *z);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)c, (int)d, 1.0f, x, (int)d, p->w, (int)d,
	            1.0f, z, (int)c);
}

void mae_probe_train(mae_probe *p, mae_featset *train, int nclass, const mae_probe_opts *o)
{
	int64_t n = train->n, d = train->d, c = nclass, bs = o->batch < n ? o->batch : n;
	memset(p, 0, sizeof *p);
	p->d = d;
	p->nclass = nclass;
	p->mean = mae_malloc((size_t)d * sizeof(float));
	p->istd = mae_malloc((size_t)d * sizeof(float));
	p->w = mae_calloc((size_t)(c * d), sizeof(float));
	p->b = mae_calloc((size_t)c, sizeof(float));
	mae_standardize_fit(train->x, n, d, o->eps, p->mean, p->istd);
	mae_standardize_apply(train->x, n, d, p->mean, p->istd);

	float *vw = mae_calloc((size_t)(c * d), sizeof(float)), *vb = mae_calloc((size_t)c, sizeof(float));
	float *xb = mae_alloc_aligned((size_t)(bs * d) * sizeof(float));
	float *z = mae_malloc((size_t)(bs * c) * sizeof(float));
	float *gw = mae_malloc((size_t)(c * d) * sizeof(float));
	double *gb = mae_malloc((size_t)c * sizeof(double));
	int64_t *perm = mae_malloc((size_t)n * sizeof *perm);
	int64_t steps_per_epoch = (n + bs - 1) / bs, total = steps_per_epoch * o->epochs, step = 0;
	mae_progress pr;
	mae_progress_start(&pr, "epochs", o->epochs);
	for (int e = 0; e < o->epochs; e++) {
		mae_rng r;
		mae_rng_seed(&r, o->seed, (uint64_t)e, 0, "probe");
		for (int64_t i = 0; i < n; i++)
			perm[i] = i;
		mae_rng_shuffle(&r, perm, n);
		double loss = 0;
		int64_t right = 0;
		for (int64_t i0 = 0; i0 < n; i0 += bs, step++) {
			int64_t b = n - i0 < bs ? n - i0 : bs;
			for (int64_t i = 0; i < b; i++)
				memcpy(xb + i * d, train->x + perm[i0 + i] * d, (size_t)d * sizeof(float));
			forward(p, xb, b, z);
			/* softmax cross-entropy; z becomes dL/dz = (softmax - onehot) / b */
			memset(gb, 0, (size_t)c * sizeof *gb);
			for (int64_t i = 0; i < b; i++) {
				float *zi = z + i * c;
				int y = train->y[perm[i0 + i]], am = 0;
				float mx = zi[0];
				for (int k = 1; k < c; k++)
					if (zi[k] > mx)
						mx = zi[k], am = k;
				right += am == y;
				double sum = 0;
				for (int k = 0; k < c; k++)
					sum += exp((double)(zi[k] - mx));
				loss += log(sum) - (double)(zi[y] - mx);
				for (int k = 0; k < c; k++) {
					double g = (exp((double)(zi[k] - mx)) / sum - (k == y)) / (double)b;
					zi[k] = (float)g;
					gb[k] += g;
				}
			}
			/* gw = dz^T xb + wd w */
			memcpy(gw, p->w, (size_t)(c * d) * sizeof *gw);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)d, (int)b, 1.0f, z, (int)c, xb,
			            (int)d, (float)o->wd, gw, (int)d);
			float lr = (float)(o->lr * 0.5 * (1 + cos(M_PI * (double)step / (double)total)));
			float mu = (float)o->momentum;
			for (int64_t k = 0; k < c * d; k++) {
				vw[k] = mu * vw[k] + gw[k];
				p->w[k] -= lr * vw[k];
			}
			for (int64_t k = 0; k < c; k++) {   /* no decay on the bias */
				vb[k] = mu * vb[k] + (float)gb[k];
				p->b[k] -= lr * vb[k];
			}
		}
		p->loss = loss / (double)n;
		if (!isfinite(p->loss))
			mae_die(MAE_EXIT_DATA, "epoch %d: the loss is not finite (learning rate %g too high?)", e + 1, o->lr);
		if (o->verbose)
			mae_info("epoch %d: loss %.4f train top1 %.2f%%", e + 1, p->loss, 100.0 * (double)right / (double)n);
		mae_progress_add(&pr, 1);
	}
	mae_progress_end(&pr);
	free(vw);
	free(vb);
	free(xb);
	free(z);
	free(gw);
	free(gb);
	free(perm);
}

void mae_probe_predict(const mae_probe *p, float *x, int64_t n, int32_t *pred)
{
	int64_t c = p->nclass, d = p->d, chunk = 1024;
	float *z = mae_malloc((size_t)(chunk * c) * sizeof *z);
	mae_standardize_apply(x, n, d, p->mean, p->istd);
	for (int64_t i0 = 0; i0 < n; i0 += chunk) {
		int64_t b = n - i0 < chunk ? n - i0 : chunk;
		forward(p, x + i0 * d, b, z);
		for (int64_t i = 0; i < b; i++) {
			int am = 0;
			for (int k = 1; k < c; k++)
				if (z[i * c + k] > z[i * c + am])
					am = k;
			pred[i0 + i] = am;
		}
	}
	free(z);
}

void mae_probe_free(mae_probe *p)
{
	free(p->mean);
	free(p->istd);
	free(p->w);
	free(p->b);
	memset(p, 0, sizeof *p);
}

int mae_probe_save(const mae_probe *p, const char *feature, const char *path, char *err, size_t errn)
{
	int64_t d = p->d, k = p->nclass;
	mae_st_tensor t[4] = {
		{.name = "mean", .dtype = MAE_F32, .ndim = 1, .shape = {d}, .data = p->mean, .nbytes = (size_t)d * 4},
		{.name = "istd", .dtype = MAE_F32, .ndim = 1, .shape = {d}, .data = p->istd, .nbytes = (size_t)d * 4},
		{.name = "weight", .dtype = MAE_F32, .ndim = 2, .shape = {k, d}, .data = p->w, .nbytes = (size_t)(k * d) * 4},
		{.name = "bias", .dtype = MAE_F32, .ndim = 1, .shape = {k}, .data = p->b, .nbytes = (size_t)k * 4},
	};
	const char *meta[] = {"format", "maepipe-probe", "feature", feature};
	return mae_st_write(path, t, 4, meta, 2, err, errn);
}

int mae_probe_load(mae_probe *p, const char *path, char *err, size_t errn)
{
	mae_st_file f;
	memset(p, 0, sizeof *p);
	if (mae_st_read(&f, path, err, errn))
		return -1;
	const mae_st_tensor *m = mae_st_get(&f, "mean"), *is = mae_st_get(&f, "istd"), *w = mae_st_get(&f, "weight"),
	                    *b = mae_st_get(&f, "bias");
	int ok = m && is && w && b && m->dtype == MAE_F32 && is->dtype == MAE_F32 && w->dtype == MAE_F32 &&
	         b->dtype == MAE_F32 && m->ndim == 1 && is->ndim == 1 && w->ndim == 2 && b->ndim == 1 &&
	         is->shape[0] == m->shape[0] && w->shape[1] == m->shape[0] && b->shape[0] == w->shape[0] &&
	         m->shape[0] > 0 && w->shape[0] > 0 && w->shape[0] <= MAE_KNN_MAX_CLASSES;
	if (!ok) {
		snprintf(err, errn, "%s: not a probe (tensors mean, istd [d], weight [classes, d], bias [classes], F32)",
		         path);
		mae_st_free(&f);
		return -1;
	}
	p->d = m->shape[0];
	p->nclass = (int)w->shape[0];
	p->mean = mae_malloc(m->nbytes);
	p->istd = mae_malloc(is->nbytes);
	p->w = mae_malloc(w->nbytes);
	p->b = mae_malloc(b->nbytes);
	memcpy(p->mean, m->data, m->nbytes);
	memcpy(p->istd, is->data, is->nbytes);
	memcpy(p->w, w->data, w->nbytes);
	memcpy(p->b, b->data, b->nbytes);
	mae_st_free(&f);
	return 0;
}
