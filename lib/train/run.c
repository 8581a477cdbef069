/* run.c: options, start, metrics and checkpoints shared by mae-optimize and mae-train. */
#include "mae/train/checkpoint.h"
#include "mae/train/run.h"
#include "mae/train/ema.h"
#include "mae/util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mae_run_opts_init(mae_run_opts *r)
{
	memset(r, 0, sizeof *r);
	r->steps = r->warmup = r->batch = -1;
	r->lr = r->blr = r->min_lr = r->wd = r->beta1 = r->beta2 = r->clip = -1;
	r->replicas = 1;
}

int mae_run_opt(mae_run_opts *r, int opt, const char *arg, const char *usage)
{
	switch (opt) {
	case 'm': r->model = arg; return 1;
	case 'w': r->weights = arg; return 1;
	case 'd': r->outdir = arg; return 1;
	case MAE_RUN_OPT_STEPS: r->steps = mae_parse_int(arg, 1, 1LL << 40, "--steps"); return 1;
	case MAE_RUN_OPT_WARMUP: r->warmup = mae_parse_int(arg, 0, 1LL << 40, "--warmup"); return 1;
	case MAE_RUN_OPT_LR: r->lr = mae_parse_double(arg, 0, 10, "--lr"); return 1;
	case MAE_RUN_OPT_BLR: r->blr = mae_parse_double(arg, 0, 10, "--blr"); return 1;
	case MAE_RUN_OPT_BATCH: r->batch = mae_parse_int(arg, 1, 1 << 24, "--batch"); return 1;
	case MAE_RUN_OPT_MINLR: r->min_lr = mae_parse_double(arg, 0, 10, "--min-lr"); return 1;
	case MAE_RUN_OPT_WD: r->wd = mae_parse_double(arg, 0, 10, "--wd"); return 1;
	case MAE_RUN_OPT_BETAS:
		if (sscanf(arg, "%lf,%lf", &r->beta1, &r->beta2) != 2 || r->beta1 < 0 || r->beta1 >= 1 ||
		    r->beta2 < 0 || r->beta2 >= 1)
			mae_usage_error(usage, "--betas %s: expected B1,B2 in [0,1)", arg);
		return 1;
	case MAE_RUN_OPT_CLIP: r->clip = mae_parse_double(arg, 0, 1e9, "--clip"); return 1;
	case MAE_RUN_OPT_SAVE: r->save_every = mae_parse_int(arg, 0, 1LL << 40, "--save-every"); return 1;
	case MAE_RUN_OPT_RESUME: r->resume = arg; return 1;
	case MAE_RUN_OPT_IPE: r->images_per_epoch = mae_parse_int(arg, 1, 1LL << 40, "--images-per-epoch"); return 1;
	}
	return 0;
}

mae_model *mae_run_start(mae_run_opts *r, mae_optim *o, const char *usage)
{
	char err[512], path[1024];
	mae_model *m = NULL;
	if (!!r->model + !!r->weights + !!r->resume != 1)
		mae_usage_error(usage, "give exactly one of -m MODEL, -w CHECKPOINT and --resume DIR");
	if (r->lr >= 0 && r->blr >= 0)
		mae_usage_error(usage, "give --lr or --blr, not both");
	if (r->blr >= 0 && r->batch < 0)
		mae_usage_error(usage, "--blr needs --batch (the per-replica batch size)");
	if (!r->resume && r->steps < 0)
		mae_usage_error(usage, "--steps N is required (the schedule's length)");
	if (r->resume && !r->outdir)
		r->outdir = r->resume;
	if (r->outdir && mkdir(r->outdir, 0777) != 0 && errno != EEXIST)
		mae_die(MAE_EXIT_DATA, "%s:", r->outdir);
	if (r->resume) {
		mae_st_file f = {0};
		mae_config cfg;
		char why[1600] = "";
		snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->resume);
		if (mae_st_read(&f, path, err, sizeof err) || mae_checkpoint_config(&f, NULL, &cfg, err, sizeof err) ||
		    !(m = mae_model_new(&cfg, err, sizeof err)) || mae_checkpoint_load_into(m, &f, err, sizeof err))
			snprintf(why, sizeof why, "%s: %s", path, err);
		const char *wstep = why[0] ? NULL : mae_st_meta(&f, "step");
		long long ws = wstep ? atoll(wstep) : -1;
		mae_st_free(&f);
		if (!why[0]) {
			mae_optim_init(o, m->n_params);
			snprintf(path, sizeof path, "%s/optim.safetensors", r->resume);
			if (mae_optim_load(o, m, path, &r->images, err, sizeof err))
				snprintf(why, sizeof why, "%s", err);
			else if (ws != (long long)o->step)
				snprintf(why, sizeof why, "%s/checkpoint.safetensors is at step %lld but optim.safetensors "
				         "at step %lld: not one saved state (torn by a crash while saving?); refusing to "
				         "mix them", r->resume, ws, (long long)o->step);
			if (why[0])
				mae_optim_free(o);
		}
		if (why[0]) {
			/* what was loaded goes first: a dying frame's memory is a leak to LeakSanitizer */
			mae_model_free(m);
			mae_die(MAE_EXIT_DATA, "--resume: %s", why);
		}
		mae_info("resuming at step %lld of %lld", (long long)o->step, (long long)o->total);
	} else {
		if (r->weights) {
			if (!(m = mae_checkpoint_load(r->weights, NULL, err, sizeof err)))
				mae_die(MAE_EXIT_DATA, "-w %s", err);
		} else {
			mae_config cfg;
			if (mae_config_parse(&cfg, r->model, err, sizeof err))
				mae_die(MAE_EXIT_USAGE, "-m %s: %s", r->model, err);
			if (!(m = mae_model_new(&cfg, err, sizeof err)))
				mae_die(MAE_EXIT_USAGE, "-m %s: %s", r->model, err);
			mae_model_init(m, r->seed);
		}
		mae_optim_init(o, m->n_params);
	}
	if (r->steps >= 0) o->total = r->steps;
	if (r->warmup >= 0) o->warmup = r->warmup;
	if (r->lr >= 0) o->lr = r->lr;
	if (r->blr >= 0) o->lr = r->blr * (double)r->batch * r->replicas / 256.0;
	if (r->min_lr >= 0) o->min_lr = r->min_lr;
	if (r->wd >= 0) o->weight_decay = r->wd;
	if (r->beta1 >= 0) o->beta1 = r->beta1, o->beta2 = r->beta2;
	if (r->clip >= 0) o->clip = r->clip;
	if (o->warmup > o->total)
		mae_usage_error(usage, "--warmup %lld is longer than the run (%lld steps)", (long long)o->warmup,
		                (long long)o->total);
	mae_info("%s (%s), %zu parameters (encoder %zu), lr %.3g, %lld steps, warm-up %lld", m->cfg.name,
	         mae_mode_name(m->cfg.mode), m->n_params, m->n_enc, o->lr, (long long)o->total,
	         (long long)o->warmup);
	return m;
}

FILE *mae_run_metrics_open(const char *outdir, int fresh)
{
	char path[1024];
	if (!outdir)
		return NULL;
	snprintf(path, sizeof path, "%s/metrics.tsv", outdir);
	FILE *f = fopen(path, fresh ? "w" : "a");
	if (!f)
		mae_die(MAE_EXIT_DATA, "%s:", path);
	if (fresh)
		fprintf(f, "step\tepoch\tloss\tlr\tgrad_norm\timg_s\tseconds\n");
	return f;
}

void mae_run_metrics(FILE *f, int64_t step, double epoch, double loss, double lr, double gnorm,
                     double img_s, double seconds)
{
	if (!f)
		return;
	fprintf(f, "%lld\t%.4f\t%.6f\t%.6g\t%.6f\t%.1f\t%.2f\n", (long long)step, epoch, loss, lr, gnorm,
	        img_s, seconds);
	fflush(f);
}

void mae_run_save(const mae_model *m, const mae_optim *o, const char *outdir, int64_t images,
                  const mae_ema *ema)
{
	char path[1024], err[512], step[32], imgs[32];
	if (!outdir)
		return;
	snprintf(step, sizeof step, "%lld", (long long)o->step);
	snprintf(imgs, sizeof imgs, "%lld", (long long)images);
	const char *extra[] = {"step", step, "images", imgs};
	/* the two files are one state: written in full, then renamed together (--resume checks
	 * that their steps agree) */
	mae_st_begin();
	snprintf(path, sizeof path, "%s/checkpoint.safetensors", outdir);
	int bad = mae_checkpoint_save(m, path, extra, 2, err, sizeof err);
	snprintf(path, sizeof path, "%s/optim.safetensors", outdir);
	if (!bad)
		bad = mae_optim_save(o, m, path, extra + 2, 1, err, sizeof err);   /* it records the step itself */
	snprintf(path, sizeof path, "%s/ema.safetensors", outdir);
	if (!bad && ema)
		bad = mae_ema_save(ema, path, err, sizeof err);
	if (mae_st_commit(bad ? NULL : err, bad ? 0 : sizeof err) || bad)
		mae_die(MAE_EXIT_DATA, "saving the state in %s: %s", outdir, err);
}
