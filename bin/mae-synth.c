/* mae-synth: generate a stream of synthetic tensors, for tests, benchmarks and for trying a
 * stage without real data (netpbm's generators play the same role); or, with --moving-fmnist,
 * a folder of Moving Fashion-MNIST clips (lib/data/moving.c) for video pretraining. */
#include "mae/data/moving.h"
#include "mae/util/progress.h"
#include "mae/util/rng.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-synth [-qv] [-s seed] [-n batches] [-o endpoint] [-m key=value]... -t spec...\n"
	"       mae-synth [-qv] [-s seed] [-n clips] [--frames T] [--split train|test] [--items K]\n"
	"                 --moving-fmnist DIR\n"
	"  -t name:DTYPE:d0,d1,...[:fill]  a tensor in every batch; fill is zeros, ones, iota,\n"
	"                                  rand (uniform [0,1)), randn, or randint:K ([0,K))\n"
	"  -m key=value                    header meta entry (integer, number or string)\n"
	"  -n batches                      number of batch records (default 1)\n"
	"  --moving-fmnist DIR  write Moving Fashion-MNIST clips (-n, default 1000) as\n"
	"                       DIR/CLASS/clipNNNNNN/frameNN.png, 64x64 grey, K items (1) from the\n"
	"                       --split (train) moving 2.5 px a frame; T frames (16)\n";

enum { OPT_MOVING = MAE_OPT_FIRST_PROGRAM, OPT_FRAMES, OPT_SPLIT, OPT_ITEMS };

typedef struct {
	char name[MAE_MAX_NAME + 1];
	enum mae_dtype dt;
	int ndim;
	int64_t shape[MAE_MAX_DIMS];
	char fill[32];
	long long k;
} spec;

static void parse_spec(const char *arg, spec *sp)
{
	char buf[512];
	char *parts[4] = {0}, *save = NULL;
	int np = 0;
	if (strlen(arg) >= sizeof buf)
		mae_usage_error(usage, "-t %s: too long", arg);
	strcpy(buf, arg);
	for (char *p = strtok_r(buf, ":", &save); p && np < 4; p = strtok_r(NULL, ":", &save))
		parts[np++] = p;
	if (np < 3)
		mae_usage_error(usage, "-t %s: expected name:DTYPE:shape[:fill]", arg);
	if (strlen(parts[0]) > MAE_MAX_NAME)
		mae_usage_error(usage, "-t %s: name too long", arg);
	strcpy(sp->name, parts[0]);
	int dt = mae_dtype_parse(parts[1], strlen(parts[1]));
	if (dt < 0)
		mae_usage_error(usage, "-t %s: unknown dtype '%s'", arg, parts[1]);
	sp->dt = dt;
	sp->ndim = 0;
	if (strcmp(parts[2], "scalar") != 0)
		for (char *q = strtok_r(parts[2], ",", &save); q; q = strtok_r(NULL, ",", &save)) {
			if (sp->ndim == MAE_MAX_DIMS)
				mae_usage_error(usage, "-t %s: more than %d dimensions", arg, MAE_MAX_DIMS);
			sp->shape[sp->ndim++] = mae_parse_int(q, 0, 1LL << 31, "-t dimension");
		}
	snprintf(sp->fill, sizeof sp->fill, "%s", parts[3] ? parts[3] : "zeros");
	sp->k = 0;
	if (!strncmp(sp->fill, "randint", 7)) {
		const char *kk = strstr(arg, "randint:");
		if (!kk)
			mae_usage_error(usage, "-t %s: randint needs :K", arg);
		sp->k = mae_parse_int(kk + 8, 1, 1LL << 40, "randint K");
		strcpy(sp->fill, "randint");
	} else if (strcmp(sp->fill, "zeros") && strcmp(sp->fill, "ones") && strcmp(sp->fill, "iota") &&
	           strcmp(sp->fill, "rand") && strcmp(sp->fill, "randn")) {
		mae_usage_error(usage, "-t %s: unknown fill '%s'", arg, sp->fill);
	}
}

static void store(void *data, enum mae_dtype dt, size_t i, double x)
{
	switch (dt) {
	case MAE_BOOL: case MAE_U8: ((uint8_t *)data)[i] = (uint8_t)x; break;
	case MAE_I8: ((int8_t *)data)[i] = (int8_t)x; break;
	case MAE_U16: ((uint16_t *)data)[i] = (uint16_t)x; break;
	case MAE_I16: ((int16_t *)data)[i] = (int16_t)x; break;
	case MAE_U32: ((uint32_t *)data)[i] = (uint32_t)x; break;
	case MAE_I32: ((int32_t *)data)[i] = (int32_t)x; break;
	case MAE_U64: ((uint64_t *)data)[i] = (uint64_t)x; break;
	case MAE_I64: ((int64_t *)data)[i] = (int64_t)x; break;
	case MAE_F32: ((float *)data)[i] = (float)x; break;
	case MAE_F64: ((double *)data)[i] = x; break;
	default: mae_die(MAE_EXIT_USAGE, "mae-synth cannot fill %s tensors", mae_dtype_name(dt));
	}
}

static void fill(mae_tensor *t, const spec *sp, mae_rng *r)
{
	size_t n = (size_t)mae_tensor_numel(t);
	if (!strcmp(sp->fill, "zeros") || !strcmp(sp->fill, "ones")) {
		double v = sp->fill[0] == 'o';
		if (v == 0) {
			memset(t->data, 0, mae_tensor_nbytes(t));
			return;
		}
		for (size_t i = 0; i < n; i++)
			store(t->data, t->dtype, i, v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		double x = !strcmp(sp->fill, "iota") ? (double)i
		         : !strcmp(sp->fill, "rand") ? mae_rng_uniform(r)
		         : !strcmp(sp->fill, "randn") ? mae_rng_normal(r)
		         : (double)mae_rng_below(r, (uint64_t)sp->k);
		store(t->data, t->dtype, i, x);
	}
}

/* --moving-fmnist: n clips into dir, with progress. */
static int moving_fmnist(const char *dir, long long n, int frames, const char *split, int items,
                         uint64_t seed)
{
	mae_idx images, labels;
	char err[512];
	if (mae_moving_load(split, &images, &labels, err, sizeof err) < 0)
		mae_die(MAE_EXIT_DATA, "%s", err);
	uint8_t *px = mae_malloc((size_t)frames * MAE_MOVING_SIZE * MAE_MOVING_SIZE);
	mae_progress prog;
	mae_progress_start(&prog, "clip", n);
	for (long long i = 0; i < n; i++) {
		int32_t label = mae_moving_clip(&images, &labels, seed, i, frames, items, px, NULL);
		if (mae_moving_save(dir, i, label, frames, px, err, sizeof err) < 0)
			mae_die(MAE_EXIT_DATA, "%s", err);
		mae_progress_add(&prog, 1);
	}
	mae_progress_end(&prog);
	free(px);
	mae_idx_free(&images);
	mae_idx_free(&labels);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {MAE_COMMON_LONG,
		{"moving-fmnist", 1, 0, OPT_MOVING}, {"frames", 1, 0, OPT_FRAMES},
		{"split", 1, 0, OPT_SPLIT}, {"items", 1, 0, OPT_ITEMS}, {0, 0, 0, 0}};
	mae_common c;
	spec specs[MAE_MAX_TENSORS];
	int nspec = 0, opt, nset = 0, frames = 16, items = 1, clipopt = 0;
	long long nbatch = 1;
	const char *moving = NULL, *split = "train";
	mae_record hdr = {0}, rec = {0};
	mae_val meta = {0};
	mae_setprog(argv[0]);
	mae_common_init(&c);
	mae_val_map(&meta);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "n:t:m:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'n': nbatch = mae_parse_int(optarg, 0, 1LL << 40, "-n"); nset = 1; break;
		case OPT_MOVING: moving = optarg; break;
		case OPT_FRAMES: frames = (int)mae_parse_int(optarg, 1, 10000, "--frames"); clipopt = 1; break;
		case OPT_ITEMS:
			items = (int)mae_parse_int(optarg, 1, MAE_MOVING_MAX_ITEMS, "--items");
			clipopt = 1;
			break;
		case OPT_SPLIT:
			if (strcmp(optarg, "train") && strcmp(optarg, "test"))
				mae_usage_error(usage, "--split: '%s' is not train or test", optarg);
			split = optarg;
			clipopt = 1;
			break;
		case 't':
			if (nspec == MAE_MAX_TENSORS)
				mae_usage_error(usage, "more than %d tensors", MAE_MAX_TENSORS);
			parse_spec(optarg, &specs[nspec++]);
			break;
		case 'm': {
			char kv[512], *end, *eq;
			snprintf(kv, sizeof kv, "%s", optarg);   /* argv stays intact for the header */
			eq = strchr(kv, '=');
			if (!eq || eq == kv)
				mae_usage_error(usage, "-m %s: expected key=value", optarg);
			*eq = 0;
			long long iv = strtoll(eq + 1, &end, 10);
			if (*end == 0 && end != eq + 1) {
				mae_map_set_int(&meta, kv, iv);
			} else {
				double dv = strtod(eq + 1, &end);
				if (*end == 0 && end != eq + 1)
					mae_map_set_float(&meta, kv, dv);
				else
					mae_map_set_str(&meta, kv, eq + 1);
			}
			break;
		}
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (moving) {
		if (nspec || meta.m.n)
			mae_usage_error(usage, "--moving-fmnist writes clips, not a stream: no -t or -m");
		mae_val_free(&meta);
		return moving_fmnist(moving, nset ? nbatch : 1000, frames, split, items, c.seed);
	}
	if (clipopt)
		mae_usage_error(usage, "--frames, --split and --items go with --moving-fmnist");

	mae_writer *out = mae_writer_open(c.out, &c);
	mae_header_init(&hdr, argc, argv, c.seed, nbatch);
	mae_val_copy(mae_rec_meta(&hdr), &meta);
	mae_write(out, &hdr);
	for (long long b = 0; b < nbatch; b++) {
		mae_rec_clear(&rec);
		rec.type = MAE_REC_BATCH;
		mae_rec_set_seq(&rec, b);
		mae_map_set_int(mae_rec_meta(&rec), "epoch", 0);
		for (int i = 0; i < nspec; i++) {
			mae_rng r;
			mae_rng_seed(&r, c.seed, 0, (uint64_t)(b * MAE_MAX_TENSORS + i), "synth");
			mae_tensor *t = mae_rec_add(&rec, specs[i].name, specs[i].dt, specs[i].ndim, specs[i].shape);
			fill(t, &specs[i], &r);
		}
		mae_write(out, &rec);
	}
	mae_writer_close(out, 0);
	mae_rec_free(&hdr);
	mae_rec_free(&rec);
	mae_val_free(&meta);
	return 0;
}
