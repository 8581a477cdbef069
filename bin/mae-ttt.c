/* mae-ttt: TTT-MAE. Reads patches (and labels) of test images, and for each predicts its class
 * with a linear probe on the frozen encoder, then again after test-time training of the
 * encoder on that image alone (lib/eval/ttt.c); prints both accuracies. */
#include "mae/eval/ttt.h"
#include "mae/stream/stream.h"
#include "mae/train/checkpoint.h"
#include "mae/train/stage.h"
#include "mae/util/progress.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-ttt [-qv] -w CHECKPOINT --head PROBE [--steps N] [--copies C] [--lr LR]\n"
	"               [--momentum M] [-r RATIO] [-s seed] [--predictions FILE] [-i in] [-o file]\n"
	"  -w CHECKPOINT  the pretrained model (mode mae)   --head PROBE  from mae-probe --save\n"
	"  --steps N      SGD steps per image (20)          --copies C    masked copies a step (32)\n"
	"  --lr LR        5e-3   --momentum M  0.9          -r RATIO      masking ratio (0.75)\n"
	"  --predictions FILE  one line per image: index label before after\n"
	"  prints: before top1=..% after top1=..% n=..\n";

enum { O_HEAD = MAE_OPT_FIRST_PROGRAM, O_STEPS, O_COPIES, O_LR, O_MOMENTUM, O_PRED };

/* the predictions of a batch, at file scope so that they stay reachable when a bad record
 * ends the program mid-stream */
static int32_t *before, *after;

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"weights", 1, 0, 'w'}, {"head", 1, 0, O_HEAD}, {"steps", 1, 0, O_STEPS},
		{"copies", 1, 0, O_COPIES}, {"lr", 1, 0, O_LR}, {"momentum", 1, 0, O_MOMENTUM},
		{"ratio", 1, 0, 'r'}, {"predictions", 1, 0, O_PRED}, {0, 0, 0, 0}};
	mae_common c;
	mae_ttt_opts o;
	const char *weights = NULL, *headpath = NULL, *predpath = NULL;
	char err[512];
	int opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_ttt_opts_init(&o);
	c.out = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "w:r:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'w': weights = optarg; break;
		case O_HEAD: headpath = optarg; break;
		case O_STEPS: o.steps = (int)mae_parse_int(optarg, 0, 100000, "--steps"); break;
		case O_COPIES: o.copies = (int)mae_parse_int(optarg, 1, 4096, "--copies"); break;
		case O_LR: o.lr = mae_parse_double(optarg, 0, 10, "--lr"); break;
		case O_MOMENTUM: o.momentum = mae_parse_double(optarg, 0, 0.9999, "--momentum"); break;
		case 'r': o.ratio = mae_parse_double(optarg, 0, 0.99, "-r"); break;
		case O_PRED: predpath = optarg; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!weights || !headpath)
		mae_usage_error(usage, "give -w CHECKPOINT and --head PROBE");
	o.seed = c.seed;
	mae_stage st;
	mae_stage_frozen(&st, weights, NULL);
	mae_model *m = st.m;
	mae_probe head;
	if (mae_probe_load(&head, headpath, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "--head %s", err);
	if (mae_ttt_check(m, &head))   /* said before any image is read */
		mae_die(MAE_EXIT_DATA, "-w %s with --head %s: %s", weights, headpath, m->err);
	FILE *out = stdout, *pf = NULL;
	if (c.out && strcmp(c.out, "-") && !(out = fopen(c.out, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", c.out);
	if (predpath && !(pf = fopen(predpath, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", predpath);
	mae_reader *in = mae_reader_open(c.in, &c);
	mae_record rec = {0};
	mae_read_header(in, &rec);
	mae_progress prog;
	mae_progress_start(&prog, "images", -1);
	int64_t n = 0, right0 = 0, right1 = 0;
	while (mae_read(in, &rec)) {
		mae_batch b;
		mae_stage_batch(&st, &rec, &b, 1);
		mae_tensor *lt = mae_rec_need(&rec, "label", MAE_I32, 1, "[B]");
		mae_tensor *it = mae_rec_need(&rec, "index", MAE_I64, 1, "[B]");
		if (lt->shape[0] != b.B || it->shape[0] != b.B)
			mae_die(MAE_EXIT_DATA, "record %lld: label and index must have the batch's %d entries",
			        (long long)rec.number, b.B);
		before = realloc(before, (size_t)b.B * sizeof *before);
		after = realloc(after, (size_t)b.B * sizeof *after);
		if (!before || !after)
			mae_die(MAE_EXIT_DATA, "out of memory");
		if (mae_ttt_batch(m, &head, b.patches, b.target, it->data, b.B, &o, before, after))
			mae_die(MAE_EXIT_DATA, "record %lld: %s", (long long)rec.number, m->err);
		const int32_t *y = lt->data;
		const int64_t *idx = it->data;
		for (int i = 0; i < b.B; i++) {
			right0 += before[i] == y[i];
			right1 += after[i] == y[i];
			if (pf)
				fprintf(pf, "%lld %d %d %d\n", (long long)idx[i], y[i], before[i], after[i]);
		}
		n += b.B;
		mae_progress_add(&prog, b.B);
	}
	mae_progress_end(&prog);
	if (n == 0)
		mae_die(MAE_EXIT_DATA, "%s: no images", mae_reader_name(in));
	fprintf(out, "before top1=%.2f%% after top1=%.2f%% n=%lld\n", 100.0 * (double)right0 / (double)n,
	        100.0 * (double)right1 / (double)n, (long long)n);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		mae_die(MAE_EXIT_DATA, "output: write error:");
	if (pf && fclose(pf) != 0)
		mae_die(MAE_EXIT_DATA, "%s: write error:", predpath);
	free(before);
	free(after);
	mae_probe_free(&head);
	mae_rec_free(&rec);
	mae_reader_close(in);
	mae_stage_close(&st);
	return 0;
}
