/* run.h: what the two trainers share, mae-optimize (the parameter server of a multi-process
 * pipeline) and mae-train (the same training in one process): the optimiser options, starting
 * a run (-m MODEL, -w CHECKPOINT or --resume DIR), the metrics file and the checkpoints. */
#ifndef MAE_RUN_H
#define MAE_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "mae/model/model.h"
#include "mae/train/optim.h"

typedef struct mae_run_opts {
	const char *model, *weights, *resume, *outdir;
	uint64_t seed;            /* initialisation seed: the common -s */
	long long steps, warmup, batch, save_every, images_per_epoch;
	double lr, blr, min_lr, wd, beta1, beta2, clip;   /* < 0: not given */
	int replicas;
	int64_t images;           /* out: images seen before this start (from --resume) */
} mae_run_opts;

enum { MAE_RUN_OPT_STEPS = 0x1200, MAE_RUN_OPT_WARMUP, MAE_RUN_OPT_LR, MAE_RUN_OPT_BLR,
       MAE_RUN_OPT_BATCH, MAE_RUN_OPT_MINLR, MAE_RUN_OPT_WD, MAE_RUN_OPT_BETAS, MAE_RUN_OPT_CLIP,
       MAE_RUN_OPT_SAVE, MAE_RUN_OPT_RESUME, MAE_RUN_OPT_IPE };

#define MAE_RUN_SHORT "m:w:d:"
#define MAE_RUN_LONG \
	{"model", 1, 0, 'm'}, {"weights", 1, 0, 'w'}, {"dir", 1, 0, 'd'}, \
	{"steps", 1, 0, MAE_RUN_OPT_STEPS}, {"warmup", 1, 0, MAE_RUN_OPT_WARMUP}, \
	{"lr", 1, 0, MAE_RUN_OPT_LR}, {"blr", 1, 0, MAE_RUN_OPT_BLR}, {"batch", 1, 0, MAE_RUN_OPT_BATCH}, \
	{"min-lr", 1, 0, MAE_RUN_OPT_MINLR}, {"wd", 1, 0, MAE_RUN_OPT_WD}, \
	{"betas", 1, 0, MAE_RUN_OPT_BETAS}, {"clip", 1, 0, MAE_RUN_OPT_CLIP}, \
	{"save-every", 1, 0, MAE_RUN_OPT_SAVE}, {"resume", 1, 0, MAE_RUN_OPT_RESUME}, \
	{"images-per-epoch", 1, 0, MAE_RUN_OPT_IPE}
/* The synopsis lines of these options, for usage texts. */
#define MAE_RUN_USAGE \
	"  (-m MODEL | -w CHECKPOINT | --resume DIR) --steps N [--warmup N]\n" \
	"  [--lr LR | --blr BLR --batch B] [--min-lr LR] [--wd WD] [--betas B1,B2] [--clip NORM]\n" \
	"  [-d DIR] [--save-every N] [--images-per-epoch N]\n" \
	"  -m MODEL      vit-tiny, vit-base, tiny-28, small-28, micro-28, ... with ,key=value overrides\n" \
	"  -d DIR        checkpoint.safetensors, optim.safetensors and metrics.tsv go here\n" \
	"  --resume DIR  continue the run saved in DIR exactly where it stopped\n"

void mae_run_opts_init(mae_run_opts *r);
int mae_run_opt(mae_run_opts *r, int opt, const char *arg, const char *usage);  /* 1 if handled */
/* Check the options and build the model and optimiser they describe (fresh, from weights, or
 * resumed with its moments and step; options given override the saved settings). */
mae_model *mae_run_start(mae_run_opts *r, mae_optim *o, const char *usage);

/* The metrics file DIR/metrics.tsv: step epoch loss lr grad_norm img_s seconds. */
FILE *mae_run_metrics_open(const char *outdir, int fresh);
void mae_run_metrics(FILE *f, int64_t step, double epoch, double loss, double lr, double gnorm,
                     double img_s, double seconds);
/* Atomic checkpoint of the model and of the optimiser (with step and image count), and of the
 * encoder's moving average when ema is not NULL (DIR/ema.safetensors), all renamed together. */
struct mae_ema;
void mae_run_save(const mae_model *m, const mae_optim *o, const char *outdir, int64_t images,
                  const struct mae_ema *ema);

#endif
