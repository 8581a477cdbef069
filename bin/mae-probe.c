/* mae-probe: linear-probe accuracy of frozen features: standardize with the train statistics,
 * train softmax regression by SGD on the -t stream, evaluate on the -i stream. */
#include "mae/eval/knn.h"
#include "mae/eval/probe.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-probe [-qv] [-f name] [-e epochs] [-b batch] [-l lr] [--momentum M] [--wd W]\n"
	"                 [-s seed] [-o file] [--save PROBE] -t train-endpoint [-i test-endpoint] [--merge N]\n"
	"  -t  stream of the train features (required)   -i  test stream (default stdin)\n"
	"  -f  feature tensor (default feature; any numeric [B,...], e.g. image)\n"
	"  -e  epochs (100)   -b  batch size (256)   -l  peak learning rate (0.03, cosine to 0)\n"
	"  -v  loss and train accuracy per epoch on stderr\n"
	"  --save PROBE  also write the trained probe (safetensors; mae-ttt --head reads it)\n";

enum { OPT_MOMENTUM = MAE_OPT_FIRST_PROGRAM, OPT_WD, OPT_SAVE };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"train", 1, 0, 't'}, {"feature", 1, 0, 'f'}, {"epochs", 1, 0, 'e'},
		{"batch", 1, 0, 'b'}, {"lr", 1, 0, 'l'}, {"momentum", 1, 0, OPT_MOMENTUM},
		{"wd", 1, 0, OPT_WD}, {"save", 1, 0, OPT_SAVE}, {0, 0, 0, 0}};
	mae_common c;
	mae_probe_opts po;
	const char *train_ep = NULL, *name = "feature", *save = NULL;
	int opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_probe_opts_init(&po);
	c.out = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "t:f:e:b:l:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 't': train_ep = optarg; break;
		case 'f': name = optarg; break;
		case 'e': po.epochs = (int)mae_parse_int(optarg, 1, 100000, "-e epochs"); break;
		case 'b': po.batch = (int)mae_parse_int(optarg, 1, 1 << 20, "-b batch"); break;
		case 'l': po.lr = mae_parse_double(optarg, 0, 1e6, "-l learning rate"); break;
		case OPT_MOMENTUM: po.momentum = mae_parse_double(optarg, 0, 0.9999, "--momentum"); break;
		case OPT_WD: po.wd = mae_parse_double(optarg, 0, 1e3, "--wd"); break;
		case OPT_SAVE: save = optarg; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!train_ep)
		mae_usage_error(usage, "no train stream (-t)");
	po.seed = c.seed;
	po.verbose = mae_verbose;
	FILE *out = stdout;
	if (c.out && strcmp(c.out, "-") && !(out = fopen(c.out, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", c.out);

	mae_featset train, test;
	mae_featset_read_pair(&train, &test, 1, &name, train_ep, &c);
	int nclass = train.nclass > test.nclass ? train.nclass : test.nclass;
	mae_info("%lld train and %lld test samples of %lld features, %d classes", (long long)train.n,
	         (long long)test.n, (long long)train.d, nclass);
	mae_probe p;
	mae_probe_train(&p, &train, nclass, &po);
	char err[512];
	if (save && mae_probe_save(&p, name, save, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "--save %s", err);
	int32_t *pred = mae_malloc((size_t)test.n * sizeof *pred);
	mae_probe_predict(&p, test.x, test.n, pred);
	int64_t right = 0;
	for (int64_t i = 0; i < test.n; i++)
		right += pred[i] == test.y[i];
	mae_info("final train loss %.4f", p.loss);
	fprintf(out, "top1=%.2f%% n=%lld\n", 100.0 * (double)right / (double)test.n, (long long)test.n);
	free(pred);
	mae_probe_free(&p);
	mae_featset_free(&train);
	mae_featset_free(&test);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		mae_die(MAE_EXIT_DATA, "output: write error:");
	return 0;
}
