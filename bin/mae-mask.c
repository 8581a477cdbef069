/* mae-mask: add a `mask` (U8 [B,N], 1 = hidden) to every batch, with one of the masking
 * strategies of the MAE family: the mae_masker of that name in lib/mask/maskers.c
 * (include/mae/mask/masker.h; mae-mask(1) documents each). Every mask is a function of
 * (seed, epoch, sample index) only, so N workers give the same stream as one. */
#include "mae/kernels/kernels.h"
#include "mae/mask/masker.h"
#include "mae/util/progress.h"
#include "mae/util/rng.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_GRID = MAE_OPT_FIRST_PROGRAM, O_MASKER };   /* O_MASKER + k: the k-th option name */
enum { MAXOPTS = 64 };

static char *usage;

static double parse_ratio(const char *s)
{
	long long a, b;
	if (strchr(s, '/') && mae_parse_pair(s, '/', &a, &b) && b > 0 && a >= 0 && a <= b)
		return (double)a / (double)b;
	return mae_parse_double(s, 0.0, 1.0, "-r ratio");
}

static void parse_grid(const char *s, mae_mask_ctx *x)
{
	long long a, b;
	if (!(mae_parse_pair(s, 'x', &a, &b) || mae_parse_pair(s, ',', &a, &b)) || a < 1 || b < 1 ||
	    a > 4096 || b > 4096)
		mae_usage_error(usage, "--grid %s: expected GHxGW, e.g. 14x14", s);
	x->gh = (int)a, x->gw = (int)b;
}

/* The option of this name of masker m, or NULL. */
static const mae_mask_opt *opt_of(const mae_masker *m, const char *name)
{
	for (const mae_mask_opt *o = m->opts; o && o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

typedef struct job {
	const mae_masker *m;
	const void *st;
	const mae_mask_batch *bv;
} job;

static void mask_sample(void *ctx, int b, int tid)
{
	const job *j = ctx;
	const mae_mask_ctx *x = j->bv->ctx;
	mae_rng rng;
	mae_rng_seed(&rng, x->seed, (uint64_t)j->bv->epoch, mae_mask_sample_index(j->bv, b), "mask");
	j->m->sample(j->st, j->bv, b, tid, &rng);
}

/* the strategy's state at file scope, so its scratch stays reachable when a bad record ends
 * the program mid-stream */
static void *state;

int main(int argc, char **argv)
{
	static const struct option common[] = {MAE_COMMON_LONG, {"ratio", 1, 0, 'r'},
	                                       {"grid", 1, 0, O_GRID}};
	enum { NCOMMON = sizeof common / sizeof *common };
	struct option longopts[NCOMMON + MAXOPTS + 1];
	const char *names[MAXOPTS];   /* every option name of the table, once */
	unsigned char given[MAXOPTS] = {0};
	int nnames = 0, nmaskers = 0;
	mae_setprog(argv[0]);
	memcpy(longopts, common, sizeof common);
	for (const mae_masker *const *mp = mae_maskers; *mp; mp++, nmaskers++)
		for (const mae_mask_opt *o = (*mp)->opts; o && o->name; o++) {
			int k = 0;
			while (k < nnames && strcmp(names[k], o->name))
				k++;
			if (k == nnames && nnames == MAXOPTS)
				mae_die(MAE_EXIT_USAGE, "the maskers' table has over %d option names", MAXOPTS);
			if (k == nnames) {
				names[nnames] = o->name;
				longopts[NCOMMON + nnames] =
					(struct option){o->name, o->arg ? 1 : 0, 0, O_MASKER + nnames};
				nnames++;
			}
		}
	longopts[NCOMMON + nnames] = (struct option){0, 0, 0, 0};
	usage = mae_maskers_usage("usage: mae-mask [-qv] [-s seed] [-i in] [-o out] [-r ratio] "
	                          "[--grid GHxGW] STRATEGY [options]\n");

	/* every masker's state from its defaults: an option is parsed into each masker that has
	 * it, so a bad value is reported as such whatever the strategy */
	void **states = mae_calloc((size_t)nmaskers, sizeof *states);
	for (int i = 0; i < nmaskers; i++) {
		states[i] = mae_calloc(1, mae_maskers[i]->size + 1);
		if (mae_maskers[i]->defaults)
			memcpy(states[i], mae_maskers[i]->defaults, mae_maskers[i]->size);
	}

	mae_common co;
	mae_mask_ctx x = {0};
	int opt;
	mae_common_init(&co);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "r:", longopts, NULL)) != -1) {
		if (mae_common_opt(&co, opt, optarg, usage))
			continue;
		if (opt == 'r') {
			x.ratio = parse_ratio(optarg);
			x.ratio_set = 1;
		} else if (opt == O_GRID) {
			parse_grid(optarg, &x);
		} else if (opt >= O_MASKER && opt < O_MASKER + nnames) {
			given[opt - O_MASKER] = 1;
			for (int i = 0; i < nmaskers; i++) {
				const mae_mask_opt *o = opt_of(mae_maskers[i], names[opt - O_MASKER]);
				if (o)
					mae_mask_opt_set(states[i], o, optarg, usage);
			}
		} else {
			mae_usage_error(usage, "unknown option");
		}
	}
	if (optind == argc)
		mae_usage_error(usage, "missing STRATEGY");
	if (optind + 1 < argc)
		mae_usage_error(usage, "too many arguments: '%s'", argv[optind + 1]);
	const mae_masker *m = mae_masker_find(argv[optind]);
	if (!m)
		mae_usage_error(usage, "unknown strategy '%s'", argv[optind]);
	for (int k = 0; k < nnames; k++)
		if (given[k] && !opt_of(m, names[k]))
			mae_usage_error(usage, "--%s does not apply to %s masking", names[k], m->name);
	if (x.ratio_set && m->ratio < 0)
		mae_usage_error(usage, "-r does not apply to %s masking (see mae-mask(1))", m->name);
	for (int i = 0; i < nmaskers; i++)
		if (mae_maskers[i] == m)
			state = states[i];
		else
			free(states[i]);
	free(states);

	mae_reader *in = mae_reader_open(co.in, &co);
	mae_writer *out = mae_writer_open(co.out, &co);
	mae_record hdr = {0}, rec = {0};
	mae_read_header(in, &hdr);
	mae_header_stage(&hdr, argc, argv);
	x.seed = co.seed_set ? co.seed : mae_header_seed(&hdr);
	mae_threads_init(0);
	x.threads = mae_threads();
	mae_mask_setup(m, state, &x, &hdr);
	mae_write(out, &hdr);

	mae_progress prog;
	mae_progress_start(&prog, "batches", mae_header_count(&hdr));
	while (mae_read(in, &rec)) {
		mae_mask_batch bv;
		mae_mask_batch_begin(m, state, &x, &rec, &bv);
		/* samples in parallel (the pool holds OpenBLAS to one thread per sample: the DFT's
		 * products are small, and per-thread scratch keeps the samples independent) */
		job j = {m, state, &bv};
		mae_parallel_for(bv.B, mask_sample, &j);
		mae_write(out, &rec);
		mae_progress_add(&prog, 1);
	}
	mae_progress_end(&prog);
	mae_writer_close(out, mae_reader_skipped(in));
	if (m->free)
		m->free(state);
	free(state);
	free(usage);
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return 0;
}
