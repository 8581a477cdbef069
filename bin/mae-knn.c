/* mae-knn: k-nearest-neighbour accuracy of frozen features (DINO's weighted k-NN, or plain
 * L2 majority vote), train stream from -t, test stream from -i; several tensors (-f a,b) and
 * variants (-V none,z,w) from one read of each. */
#include "mae/eval/knn.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-knn [-qv] [--plain] [-z] [--pca K] [-V variants] [-f name[,name...]] [-k k[,k...]]\n"
	"               [-T temperature] [-o file] -t train-endpoint [-i test-endpoint] [--merge N]\n"
	"  -t  stream of the train features (required)   -i  test stream (default stdin)\n"
	"  -f  feature tensors (default feature; any numeric [B,...], e.g. image), all from one read\n"
	"  -k  neighbour counts (default 20)   -T  temperature of the weights (0.07)\n"
	"  -z  standardize each feature by the train set's mean and deviation first\n"
	"  --pca K  then keep the train set's first K principal components, whitened\n"
	"  -V  variants of every tensor, from the one read: none (as they are), z (as -z),\n"
	"      w (as -z --pca K); lines labelled name, name-z, name-w, as with several -f names\n"
	"  --plain  Euclidean distance on raw features, majority vote\n";

enum { OPT_PLAIN = MAE_OPT_FIRST_PROGRAM, OPT_CHUNK, OPT_PCA };
enum { MAX_TENSORS = 16 };

/* the variants of -V: their names, and the suffix of their result lines */
static const char *const variant_names[] = {"none", "z", "w"};
static const char *const variant_suffix[] = {"", "-z", "-w"};
enum { NVARIANT = 3 };

/* split a comma-separated list into at most max items of buf (modified); returns the count */
static int split(char *buf, const char **item, int max, const char *what)
{
	int n = 0;
	char *save = NULL;
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (n == max)
			mae_usage_error(usage, "%s: more than %d values", what, max);
		item[n++] = p;
	}
	if (n == 0)
		mae_usage_error(usage, "%s: no value", what);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"train", 1, 0, 't'}, {"feature", 1, 0, 'f'}, {"k", 1, 0, 'k'},
		{"temperature", 1, 0, 'T'}, {"plain", 0, 0, OPT_PLAIN},
		{"standardize", 0, 0, 'z'}, {"chunk", 1, 0, OPT_CHUNK},
		{"pca", 1, 0, OPT_PCA}, {"variants", 1, 0, 'V'}, {0, 0, 0, 0}};
	mae_common c;
	mae_knn_opts ko = {.plain = 0, .T = 0.07f, .chunk = 0};
	const char *train_ep = NULL, *names[MAX_TENSORS] = {"feature"};
	char *fbuf = NULL, *vbuf = NULL;
	int ks[64], nk = 0, nf = 1, variant[NVARIANT], nv = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	c.out = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "zt:f:k:T:V:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 't': train_ep = optarg; break;
		case 'f':
			free(fbuf);
			fbuf = mae_strdup(optarg);
			nf = split(fbuf, names, MAX_TENSORS, "-f");
			break;
		case 'T': ko.T = (float)mae_parse_double(optarg, 1e-6, 1e6, "-T temperature"); break;
		case OPT_PLAIN: ko.plain = 1; break;
		case 'z': ko.standardize = 1; break;
		case OPT_PCA: ko.pca = mae_parse_int(optarg, 1, 1 << 16, "--pca"); break;
		case OPT_CHUNK: ko.chunk = mae_parse_int(optarg, 1, 1 << 20, "--chunk"); break;
		case 'V': {
			const char *item[NVARIANT];
			free(vbuf);
			vbuf = mae_strdup(optarg);
			nv = split(vbuf, item, NVARIANT, "-V");
			for (int v = 0; v < nv; v++) {
				variant[v] = -1;
				for (int w = 0; w < NVARIANT; w++)
					if (!strcmp(item[v], variant_names[w]))
						variant[v] = w;
				if (variant[v] < 0)
					mae_usage_error(usage, "-V: '%s' is not a variant (none, z, w)", item[v]);
				for (int u = 0; u < v; u++)
					if (variant[u] == variant[v])
						mae_usage_error(usage, "-V: '%s' twice", item[v]);
			}
			break;
		}
		case 'k': {
			const char *item[64];
			char *buf = mae_strdup(optarg);
			nk = split(buf, item, 64, "-k");
			for (int j = 0; j < nk; j++)
				ks[j] = (int)mae_parse_int(item[j], 1, MAE_KNN_MAX_K, "-k");
			free(buf);
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
	/* each variant one set of options; without -V the one that -z and --pca describe */
	mae_knn_opts vo[NVARIANT];
	const char *suffix[NVARIANT] = {""};
	int labelled = nf > 1 || nv > 0;
	ko.seed = c.seed;
	if (nv == 0) {
		vo[nv++] = ko;
	} else {
		int has_w = 0;
		if (ko.standardize)
			mae_usage_error(usage, "-z with -V: list z among the variants");
		for (int v = 0; v < nv; v++) {
			vo[v] = ko;
			vo[v].standardize = variant[v] != 0;
			vo[v].pca = variant[v] == 2 ? ko.pca : 0;
			suffix[v] = variant_suffix[variant[v]];
			has_w |= variant[v] == 2;
		}
		if (has_w && ko.pca == 0)
			mae_usage_error(usage, "-V w: the number of components (--pca K) is missing");
		if (!has_w && ko.pca > 0)
			mae_usage_error(usage, "--pca with -V: list w among the variants");
	}
	FILE *out = stdout;
	if (c.out && strcmp(c.out, "-") && !(out = fopen(c.out, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", c.out);

	mae_featset train[MAX_TENSORS], test[MAX_TENSORS];
	mae_featset_read_pair(train, test, nf, names, train_ep, &c);
	for (int j = 0; j < nk; j++)
		if (ks[j] > train[0].n)
			mae_die(MAE_EXIT_USAGE, "-k %d: the train stream has only %lld samples", ks[j], (long long)train[0].n);
	int nclass = train[0].nclass > test[0].nclass ? train[0].nclass : test[0].nclass;
	int64_t m = test[0].n;
	int32_t *pred = mae_malloc((size_t)nv * (size_t)nk * (size_t)m * sizeof *pred);
	for (int t = 0; t < nf; t++) {
		mae_info("%s%s%lld train and %lld test samples of %lld features, %d classes", nf > 1 ? names[t] : "",
		         nf > 1 ? ": " : "", (long long)train[t].n, (long long)m, (long long)train[t].d, nclass);
		mae_knn_classify_many(&train[t], &test[t], ks, nk, nclass, vo, nv, pred);
		for (int v = 0; v < nv; v++)
			for (int j = 0; j < nk; j++) {
				const int32_t *p = pred + ((int64_t)v * nk + j) * m;
				int64_t right = 0;
				for (int64_t i = 0; i < m; i++)
					right += p[i] == test[t].y[i];
				if (labelled)
					fprintf(out, "%s%s ", names[t], suffix[v]);
				fprintf(out, "k=%d top1=%.2f%% n=%lld\n", ks[j], 100.0 * (double)right / (double)m, (long long)m);
			}
		/* answered: its lines are out, and its memory goes before the next tensor's work */
		fflush(out);
		mae_featset_free(&train[t]);
		mae_featset_free(&test[t]);
	}
	free(pred);
	free(fbuf);
	free(vbuf);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		mae_die(MAE_EXIT_DATA, "output: write error:");
	return 0;
}
