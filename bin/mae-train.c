/* mae-train: encode, reconstruct, loss and optimize in one process: the in-process training
 * step of libmae on a stream of masked patches. It trains exactly the model that the
 * multi-process pipeline (mae-encode | mae-reconstruct | mae-loss with mae-optimize) trains,
 * and is the reference the pipeline is tested and benchmarked against. */
#include "mae/util/progress.h"
#include "mae/train/run.h"
#include "mae/train/stage.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-train [-qv] [-s seed] [-i in] [-o out]\n"
	MAE_RUN_USAGE
	"  writes one record per batch with its loss (and index, label) to the output\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {MAE_COMMON_LONG, MAE_RUN_LONG, {0, 0, 0, 0}};
	mae_common c;
	mae_run_opts r;
	int opt;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_run_opts_init(&r);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT MAE_RUN_SHORT, longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage) || mae_run_opt(&r, opt, optarg, usage))
			continue;
		mae_usage_error(usage, "unknown option");
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	r.seed = c.seed;
	mae_optim o;
	mae_stage st = {0};
	st.m = mae_run_start(&r, &o, usage);
	mae_model *m = st.m;
	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record rec = {0};
	mae_batch b;
	mae_progress prog;
	FILE *metrics = mae_run_metrics_open(r.outdir, o.step == 0);
	int64_t images = r.images;
	double t0 = mae_now(), last = t0;

	mae_stage_header(&st, in, out, &rec, argc, argv);
	mae_progress_start(&prog, "steps", o.total > o.step ? o.total - o.step : -1);
	while (mae_read(in, &rec)) {
		float loss;
		double gnorm, lr = mae_optim_lr(&o, o.step);
		mae_stage_batch(&st, &rec, &b, 0);
		if (mae_train_step(m, &o, &b, &loss, &gnorm))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		images += b.B;
		double now = mae_now();
		mae_run_metrics(metrics, o.step, r.images_per_epoch > 0 ? (double)images / r.images_per_epoch : 0,
		                loss, lr, gnorm, b.B / (now - last), now - t0);
		last = now;
		mae_progress_add(&prog, 1);
		if (r.save_every > 0 && o.step % r.save_every == 0)
			mae_run_save(m, &o, r.outdir, images, NULL);
		for (int i = rec.ntensors - 1; i >= 0; i--)
			if (strcmp(rec.tensors[i].name, "index") && strcmp(rec.tensors[i].name, "label"))
				mae_rec_remove(&rec, rec.tensors[i].name);
		*(float *)mae_rec_add(&rec, "loss", MAE_F32, 0, NULL)->data = loss;
		mae_write(out, &rec);
	}
	mae_progress_end(&prog);
	mae_run_save(m, &o, r.outdir, images, NULL);
	if (metrics)
		fclose(metrics);
	mae_writer_close(out, mae_reader_skipped(in));
	mae_reader_close(in);
	mae_rec_free(&rec);
	mae_optim_free(&o);
	mae_stage_close(&st);
	return 0;
}
