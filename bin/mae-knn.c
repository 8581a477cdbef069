/* mae-knn: k-nearest-neighbour accuracy of frozen features (DINO's weighted k-NN, or plain
 * L2 majority vote), train stream from -t, test stream from -i. */
#include "mae/knn.h"
#include "mae/stream.h"
#include "mae/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-knn [-q] [--plain] [-z] [--pca K] [-f name] [-k k[,k...]] [-T temperature] [-o file]\n"
	"               -t train-endpoint [-i test-endpoint] [--merge N]\n"
	"  -t  stream of the train features (required)   -i  test stream (default stdin)\n"
	"  -f  feature tensor (default feature; any numeric [B,...], e.g. image)\n"
	"  -k  neighbour counts (default 20)   -T  temperature of the weights (0.07)\n"
	"  -z  standardize each feature by the train set's mean and deviation first\n"
	"  --pca K  then keep the train set's first K principal components, whitened\n"
	"  --plain  Euclidean distance on raw features, majority vote\n";

enum { OPT_PLAIN = MAE_OPT_FIRST_PROGRAM, OPT_CHUNK, OPT_PCA };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"train", 1, 0, 't'}, {"feature", 1, 0, 'f'}, {"k", 1, 0, 'k'},
		{"temperature", 1, 0, 'T'}, {"plain", 0, 0, OPT_PLAIN},
		{"standardize", 0, 0, 'z'}, {"chunk", 1, 0, OPT_CHUNK},
		{"pca", 1, 0, OPT_PCA}, {0, 0, 0, 0}};
	mae_common c;
	mae_knn_opts ko = {.plain = 0, .T = 0.07f, .chunk = 0};
	const char *train_ep = NULL, *name = "feature";
	int ks[64], nk = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	c.out = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "zt:f:k:T:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 't': train_ep = optarg; break;
		case 'f': name = optarg; break;
		case 'T': ko.T = (float)mae_parse_double(optarg, 1e-6, 1e6, "-T temperature"); break;
		case OPT_PLAIN: ko.plain = 1; break;
		case 'z': ko.standardize = 1; break;
		case OPT_PCA: ko.pca = mae_parse_int(optarg, 1, 1 << 16, "--pca"); break;
		case OPT_CHUNK: ko.chunk = mae_parse_int(optarg, 1, 1 << 20, "--chunk"); break;
		case 'k': {
			char *buf = mae_strdup(optarg), *save = NULL;
			nk = 0;
			for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
				if (nk == 64)
					mae_usage_error(usage, "-k: more than 64 values");
				ks[nk++] = (int)mae_parse_int(p, 1, MAE_KNN_MAX_K, "-k");
			}
			free(buf);
			if (nk == 0)
				mae_usage_error(usage, "-k: no value");
			break;
		}
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!train_ep)
		mae_usage_error(usage, "no train stream (-t)");
	if (nk == 0)
		ks[nk++] = 20;
	FILE *out = stdout;
	if (c.out && strcmp(c.out, "-") && !(out = fopen(c.out, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", c.out);

	ko.seed = c.seed;
	mae_featset train, test;
	mae_featset_read_pair(&train, &test, 1, &name, train_ep, &c);
	for (int j = 0; j < nk; j++)
		if (ks[j] > train.n)
			mae_die(MAE_EXIT_USAGE, "-k %d: the train stream has only %lld samples", ks[j], (long long)train.n);
	int nclass = train.nclass > test.nclass ? train.nclass : test.nclass;
	mae_info("%lld train and %lld test samples of %lld features, %d classes", (long long)train.n,
	         (long long)test.n, (long long)train.d, nclass);
	int32_t *pred = mae_malloc((size_t)nk * (size_t)test.n * sizeof *pred);
	mae_knn_classify(&train, &test, ks, nk, nclass, &ko, pred);
	for (int j = 0; j < nk; j++) {
		int64_t right = 0;
		for (int64_t i = 0; i < test.n; i++)
			right += pred[j * test.n + i] == test.y[i];
		fprintf(out, "k=%d top1=%.2f%% n=%lld\n", ks[j], 100.0 * (double)right / (double)test.n,
		        (long long)test.n);
	}
	free(pred);
	mae_featset_free(&train);
	mae_featset_free(&test);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		mae_die(MAE_EXIT_DATA, "output: write error:");
	return 0;
}
