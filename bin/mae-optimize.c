/* mae-optimize: the parameter server. Owns the model configuration, the master weights, the
 * optimiser (AdamW with MAE's decay groups, warm-up and cosine, clipping) and the checkpoints;
 * trainable stages started with --ps join it (see train.h). */
#include "mae/checkpoint.h"
#include "mae/train.h"
#include "mae/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
	"usage: mae-optimize [-q] [-s seed] --ps @ENDPOINT (-m MODEL | -w CHECKPOINT | --resume DIR)\n"
	"                    --steps N [--warmup N] [--lr LR | --blr BLR --batch B] [--min-lr LR]\n"
	"                    [--wd WD] [--betas B1,B2] [--clip NORM] [--replicas R] [-d DIR]\n"
	"                    [--save-every N] [--timeout SEC] [--images-per-epoch N]\n"
	"  -m MODEL   a configuration: vit-tiny, vit-base, tiny-28, ... with ,key=value overrides\n"
	"  -d DIR     checkpoint.safetensors, optim.safetensors and metrics.tsv go here\n"
	"  --resume DIR  continue the run saved in DIR exactly where it stopped\n"
	"  --step-of DIR print the step the state in DIR has reached, and exit\n";

enum { O_PS = MAE_OPT_FIRST_PROGRAM, O_STEPS, O_WARMUP, O_LR, O_BLR, O_BATCH, O_MINLR, O_WD, O_BETAS,
       O_CLIP, O_REPLICAS, O_SAVE, O_TIMEOUT, O_RESUME, O_IPE, O_STEPOF };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"ps", 1, 0, O_PS}, {"model", 1, 0, 'm'}, {"weights", 1, 0, 'w'},
		{"steps", 1, 0, O_STEPS}, {"warmup", 1, 0, O_WARMUP}, {"lr", 1, 0, O_LR}, {"blr", 1, 0, O_BLR},
		{"batch", 1, 0, O_BATCH}, {"min-lr", 1, 0, O_MINLR}, {"wd", 1, 0, O_WD}, {"betas", 1, 0, O_BETAS},
		{"clip", 1, 0, O_CLIP}, {"replicas", 1, 0, O_REPLICAS}, {"dir", 1, 0, 'd'},
		{"save-every", 1, 0, O_SAVE}, {"timeout", 1, 0, O_TIMEOUT}, {"resume", 1, 0, O_RESUME},
		{"images-per-epoch", 1, 0, O_IPE}, {"step-of", 1, 0, O_STEPOF}, {0, 0, 0, 0}};
	mae_common c;
	mae_ps_server_opts so = {0};
	const char *model = NULL, *weights = NULL, *resume = NULL;
	double lr = -1, blr = -1, min_lr = -1, wd = -1, b1 = -1, b2 = -1, clip = -1;
	long long steps = -1, warmup = -1, batch = -1;
	char err[512], path[1024];
	int opt;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	so.replicas = 1;
	so.timeout = 600;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "m:w:d:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case O_PS: so.endpoint = optarg; break;
		case 'm': model = optarg; break;
		case 'w': weights = optarg; break;
		case 'd': so.outdir = optarg; break;
		case O_STEPS: steps = mae_parse_int(optarg, 1, 1LL << 40, "--steps"); break;
		case O_WARMUP: warmup = mae_parse_int(optarg, 0, 1LL << 40, "--warmup"); break;
		case O_LR: lr = mae_parse_double(optarg, 0, 10, "--lr"); break;
		case O_BLR: blr = mae_parse_double(optarg, 0, 10, "--blr"); break;
		case O_BATCH: batch = mae_parse_int(optarg, 1, 1 << 24, "--batch"); break;
		case O_MINLR: min_lr = mae_parse_double(optarg, 0, 10, "--min-lr"); break;
		case O_WD: wd = mae_parse_double(optarg, 0, 10, "--wd"); break;
		case O_BETAS:
			if (sscanf(optarg, "%lf,%lf", &b1, &b2) != 2 || b1 < 0 || b1 >= 1 || b2 < 0 || b2 >= 1)
				mae_usage_error(usage, "--betas %s: expected B1,B2 in [0,1)", optarg);
			break;
		case O_CLIP: clip = mae_parse_double(optarg, 0, 1e9, "--clip"); break;
		case O_REPLICAS: so.replicas = (int)mae_parse_int(optarg, 1, 64, "--replicas"); break;
		case O_SAVE: so.save_every = mae_parse_int(optarg, 0, 1LL << 40, "--save-every"); break;
		case O_TIMEOUT: so.timeout = mae_parse_double(optarg, 1, 1e7, "--timeout"); break;
		case O_RESUME: resume = optarg; break;
		case O_IPE: so.images_per_epoch = mae_parse_int(optarg, 1, 1LL << 40, "--images-per-epoch"); break;
		case O_STEPOF: {
			mae_st_file f;
			snprintf(path, sizeof path, "%s/optim.safetensors", optarg);
			if (mae_st_read(&f, path, err, sizeof err))
				mae_die(MAE_EXIT_DATA, "%s", err);
			const char *st = mae_st_meta(&f, "step");
			printf("%s\n", st ? st : "0");
			mae_st_free(&f);
			return 0;
		}
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!so.endpoint)
		mae_usage_error(usage, "--ps @ENDPOINT is required");
	if (!!model + !!weights + !!resume != 1)
		mae_usage_error(usage, "give exactly one of -m MODEL, -w CHECKPOINT and --resume DIR");
	if (lr >= 0 && blr >= 0)
		mae_usage_error(usage, "give --lr or --blr, not both");
	if (blr >= 0 && batch < 0)
		mae_usage_error(usage, "--blr needs --batch (the per-replica batch size)");
	if (!resume && steps < 0)
		mae_usage_error(usage, "--steps N is required (the schedule's length)");
	if (resume && !so.outdir)
		so.outdir = resume;
	if (so.outdir)
		mkdir(so.outdir, 0777);

	mae_model *m;
	mae_optim o;
	if (resume) {
		snprintf(path, sizeof path, "%s/checkpoint.safetensors", resume);
		if (!(m = mae_checkpoint_load(path, NULL, err, sizeof err)))
			mae_die(MAE_EXIT_DATA, "--resume: %s", err);
		mae_optim_init(&o, m->n_params);
		snprintf(path, sizeof path, "%s/optim.safetensors", resume);
		if (mae_optim_load(&o, m, path, err, sizeof err))
			mae_die(MAE_EXIT_DATA, "--resume: %s", err);
		mae_info("resuming at step %lld of %lld", (long long)o.step, (long long)o.total);
	} else {
		if (weights) {
			if (!(m = mae_checkpoint_load(weights, NULL, err, sizeof err)))
				mae_die(MAE_EXIT_DATA, "-w: %s", err);
		} else {
			mae_config cfg;
			if (mae_config_parse(&cfg, model, err, sizeof err))
				mae_die(MAE_EXIT_USAGE, "-m %s: %s", model, err);
			if (!(m = mae_model_new(&cfg, err, sizeof err)))
				mae_die(MAE_EXIT_USAGE, "-m %s: %s", model, err);
			mae_model_init(m, c.seed);
		}
		mae_optim_init(&o, m->n_params);
		o.lr = 1.5e-4;   /* MAE's blr at batch 256 */
	}
	/* options given on the command line override the saved or default settings */
	if (steps >= 0) o.total = steps;
	if (warmup >= 0) o.warmup = warmup;
	if (lr >= 0) o.lr = lr;
	if (blr >= 0) o.lr = blr * (double)batch * so.replicas / 256.0;
	if (min_lr >= 0) o.min_lr = min_lr;
	if (wd >= 0) o.weight_decay = wd;
	if (b1 >= 0) o.beta1 = b1, o.beta2 = b2;
	if (clip >= 0) o.clip = clip;
	if (o.warmup > o.total)
		mae_usage_error(usage, "--warmup %lld is longer than the run (%lld steps)", (long long)o.warmup,
		                (long long)o.total);
	mae_info("%s (%s), %zu parameters (encoder %zu), lr %.3g, %lld steps, warm-up %lld", m->cfg.name,
	         mae_mode_name(m->cfg.mode), m->n_params, m->n_enc, o.lr, (long long)o.total, (long long)o.warmup);
	mae_ps_serve(m, &o, &so);
	mae_optim_free(&o);
	mae_model_free(m);
	return 0;
}
