/* mae-optimize: the parameter server. Owns the model configuration, the master weights, the
 * optimiser (AdamW with MAE's decay groups, warm-up and cosine, clipping) and the checkpoints;
 * trainable stages started with --ps join it (see train.h). */
#include "mae/train/checkpoint.h"
#include "mae/train/ema.h"
#include "mae/train/run.h"
#include "mae/train/train.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

static const char usage[] =
	"usage: mae-optimize [-qv] [-s seed] --ps @ENDPOINT [--replicas R] [--timeout SEC]\n"
	MAE_RUN_USAGE
	"  [--ema M [--ema-every K]]\n"
	"  --replicas R  average the gradients of R replicas of the model stages per step\n"
	"  --ema M       keep a moving average of the encoder (momentum M, e.g. 0.996) for teacher\n"
	"                stages (mae-encode --teacher); K: their snapshot's period in steps (10)\n"
	"  --step-of DIR print the step the state saved in DIR has reached, and exit\n"
	"  --show-config print the full configuration of -m MODEL (key=value,...) and exit\n";

enum { O_PS = MAE_OPT_FIRST_PROGRAM, O_REPLICAS, O_TIMEOUT, O_STEPOF, O_SHOWCFG, O_EMA, O_EMAEVERY };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, MAE_RUN_LONG, {"ps", 1, 0, O_PS}, {"replicas", 1, 0, O_REPLICAS},
		{"timeout", 1, 0, O_TIMEOUT}, {"step-of", 1, 0, O_STEPOF},
		{"show-config", 0, 0, O_SHOWCFG}, {"ema", 1, 0, O_EMA}, {"ema-every", 1, 0, O_EMAEVERY},
		{0, 0, 0, 0}};
	mae_common c;
	mae_run_opts r;
	mae_ps_server_opts so = {0};
	char err[512], path[1024];
	int opt, show = 0;
	double momentum = -1;
	long long every = -1;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_run_opts_init(&r);
	so.timeout = 600;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT MAE_RUN_SHORT, longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage) || mae_run_opt(&r, opt, optarg, usage))
			continue;
		switch (opt) {
		case O_PS: so.endpoint = optarg; break;
		case O_REPLICAS: r.replicas = (int)mae_parse_int(optarg, 1, 64, "--replicas"); break;
		case O_TIMEOUT: so.timeout = mae_parse_double(optarg, 1, 1e7, "--timeout"); break;
		case O_SHOWCFG: show = 1; break;
		case O_EMA: momentum = mae_parse_double(optarg, 0, 0.999999, "--ema"); break;
		case O_EMAEVERY: every = mae_parse_int(optarg, 1, 1000000, "--ema-every"); break;
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
	if (show) {
		mae_config cfg;
		char spec[1024];
		if (!r.model)
			mae_usage_error(usage, "--show-config needs -m MODEL");
		if (mae_config_parse(&cfg, r.model, err, sizeof err))
			mae_die(MAE_EXIT_USAGE, "-m %s: %s", r.model, err);
		mae_config_spec(&cfg, spec, sizeof spec);
		printf("%s\n", spec);
		return 0;
	}
	if (!so.endpoint)
		mae_usage_error(usage, "--ps @ENDPOINT is required");
	r.seed = c.seed;
	mae_optim o;
	mae_model *m = mae_run_start(&r, &o, usage);
	so.replicas = r.replicas;
	so.outdir = r.outdir;
	so.save_every = r.save_every;
	so.images_per_epoch = r.images_per_epoch;
	so.images = r.images;
	/* the moving average: asked for, or part of the state a resumed run saved (read once; its
	 * momentum and period, unless given again) */
	mae_ema ema;
	snprintf(path, sizeof path, "%s/ema.safetensors", r.resume ? r.resume : "");
	int saved = r.resume && access(path, F_OK) == 0;
	if (every >= 0 && momentum < 0 && !saved)
		mae_usage_error(usage, "--ema-every: with --ema M");
	if (momentum >= 0 || saved) {
		mae_ema_init(&ema, momentum >= 0 ? momentum : 0, every > 0 ? every : 10, m->params, m->n_enc, o.step);
		if (saved && mae_ema_load(&ema, path, o.step, err, sizeof err))
			mae_die(MAE_EXIT_DATA, "--resume: %s", err);
		if (momentum >= 0)
			ema.momentum = momentum;
		if (every > 0)
			ema.every = every;
		if (!saved && r.resume)
			mae_warn("--resume %s: no moving average saved there; it starts again from the weights of "
			         "step %lld", r.resume, (long long)o.step);
		so.ema = &ema;
	}
	mae_ps_serve(m, &o, &so);
	if (so.ema)
		mae_ema_free(&ema);
	mae_optim_free(&o);
	mae_model_free(m);
	return 0;
}
