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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_GRID = MAE_OPT_FIRST_PROGRAM, O_MASKER };   /* O_MASKER + k: the k-th option name */
enum { MAXOPTS = 64 };

static char usage[8192];
static size_t usage_len;

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(usage + usage_len, sizeof usage - usage_len, fmt, ap);
	va_end(ap);
	if (k > 0)
		usage_len += (size_t)k < sizeof usage - usage_len ? (size_t)k : sizeof usage - usage_len - 1;
}

static void tensors(const char *verb, const mae_mask_tensor *t)
{
	for (int k = 0; t && t[k].name; k++)
		say("%s %s %s %s%s", k ? "," : verb, t[k].name, mae_dtype_name(t[k].dtype), t[k].shape,
		    t[k + 1].name ? "" : "\n");
}

/* The usage text: every strategy of the table with its options. */
static void build_usage(void)
{
	say("usage: mae-mask [-qv] [-s seed] [-i in] [-o out] [-r ratio] [--grid GHxGW] STRATEGY "
	    "[options]\n");
	for (const mae_masker *const *mp = mae_maskers; *mp; mp++) {
		const mae_masker *m = *mp;
		say("  %-10s %s\n", m->name, m->about);
		if (m->ratio >= 0)
			say("    -r %-20g the ratio of patches hidden\n", m->ratio);
		for (const mae_mask_opt *o = m->opts; o && o->name; o++) {
			char lhs[64];
			snprintf(lhs, sizeof lhs, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			say("    %-23s %s%s%s%s\n", lhs, o->help, o->def ? " (" : "", o->def ? o->def : "",
			    o->def ? ")" : "");
		}
		tensors("    reads", m->reads);
		tensors("    writes", m->writes);
	}
	say("see mae-mask(1)\n");
}

/* One option's argument into a masker's state. */
static void set_opt(void *st, const mae_mask_opt *o, const char *arg)
{
	char what[80];
	char *slot = (char *)st + o->at;
	snprintf(what, sizeof what, "--%s", o->name);
	switch (o->kind) {
	case MAE_MOPT_INT:
		*(int *)slot = (int)mae_parse_int(arg, (long long)o->lo, (long long)o->hi, what);
		break;
	case MAE_MOPT_INT64:
		*(int64_t *)slot = mae_parse_int(arg, (long long)o->lo, (long long)o->hi, what);
		break;
	case MAE_MOPT_DOUBLE: *(double *)slot = mae_parse_double(arg, o->lo, o->hi, what); break;
	case MAE_MOPT_CLEAR: *(int *)slot = 0; break;
	case MAE_MOPT_CHOICE: {
		char list[256] = "";
		int k;
		for (k = 0; o->choices[k]; k++) {
			if (!strcmp(arg, o->choices[k])) {
				*(int *)slot = k;
				return;
			}
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			         k == 0 ? "" : o->choices[k + 1] ? ", " : " or ", o->choices[k]);
		}
		mae_usage_error(usage, "%s %s: expected %s", what, arg, list);
	}
	case MAE_MOPT_PARSE: {
		const char *err = o->parse(st, arg);
		if (err)
			mae_usage_error(usage, "%s %s: %s", what, arg, err);
		break;
	}
	}
}

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

/* A shape of letters and numbers, "[B,M,2]", in this batch's sizes; returns its rank. */
static int shape_of(const char *s, const int64_t *dim, int64_t *out)
{
	int nd = 0;
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			out[nd++] = dim[*s - 'A'];
		else if (*s >= '0' && *s <= '9')
			out[nd++] = strtoll(s, (char **)&s, 10), s--;
	return nd;
}

static const char *shape_text(const int64_t *s, int nd, char *buf, size_t n)
{
	size_t k = 0;
	for (int d = 0; d < nd; d++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "," : "[", (long long)s[d]);
	snprintf(buf + k, n - k, "]");
	return buf;
}

/* The header's grid and frames, the masker's defaults and checks, and the provenance. */
static void setup(const mae_masker *m, void *st, mae_mask_ctx *x, mae_record *hdr)
{
	mae_val *meta = mae_rec_meta(hdr);
	int64_t g[3] = {0};
	int gt = 0;
	if (!x->gh) {
		int ng = mae_map_ints(meta, "grid", g, 3);
		if (ng == 2) {
			x->gh = (int)g[0], x->gw = (int)g[1];
		} else if (ng == 3) {
			gt = (int)g[0], x->gh = (int)g[1], x->gw = (int)g[2];
		} else {
			mae_die(MAE_EXIT_DATA, "input: the header has no 'grid' [gh,gw] (run mae-patchify "
			        "first, or give --grid GHxGW)");
		}
	}
	x->gt = gt > 0 ? gt : (int)mae_map_int(meta, "frames", 1);   /* tube's --frames wins */
	if (x->gt < 1)
		x->gt = 1;
	if (x->gh < 1 || x->gw < 1 || x->gh > 4096 || x->gw > 4096 || x->gt > 4096)
		mae_die(MAE_EXIT_DATA, "input: bad grid %dx%dx%d", x->gt, x->gh, x->gw);
	if (x->gt > 1 && !m->clips)
		mae_die(MAE_EXIT_USAGE, "%s masking works on one frame; this stream has %d frames per "
		        "sample (use tube or random)", m->name, x->gt);
	x->n = x->gt * x->gh * x->gw;
	x->p = (int)mae_map_int(meta, "patch_size", 0);
	if (!x->ratio_set)
		x->ratio = m->ratio;
	x->dim['H' - 'A'] = (int64_t)x->gh * x->p;
	x->dim['W' - 'A'] = (int64_t)x->gw * x->p;
	if (m->setup)
		m->setup(st, x, meta);

	/* provenance: what this stage did, in the header */
	mae_val *mm = mae_map_put(meta, "mask");   /* replaces an upstream masker's entry */
	mae_val_map(mm);
	mae_map_set_str(mm, "strategy", m->name);
	if (m->ratio >= 0)
		mae_map_set_float(mm, "ratio", x->ratio);
	mae_map_set_int(mm, "seed", (int64_t)x->seed);
	if (m->describe)
		m->describe(st, x, mm, meta);
}

/* The tensors the masker reads, checked: `patches` as p*p*C pixels (pixels = 1), the others
 * against their shapes (pixels = 0). */
static void check_reads(const mae_masker *m, mae_mask_ctx *x, mae_record *rec, int pixels)
{
	for (const mae_mask_tensor *t = m->reads; t && t->name; t++) {
		int is_patches = !strcmp(t->name, "patches");
		if (pixels && is_patches) {
			int64_t P = x->dim['P' - 'A'], pp = (int64_t)x->p * x->p;
			if (P % pp || P / pp < 1 || P / pp > 8)
				mae_die(MAE_EXIT_DATA, "record %lld: patches of %lld values are not p*p*C with "
				        "p = %d and C in 1..8", (long long)rec->number, (long long)P, x->p);
			x->c = (int)(P / pp);
		} else if (!pixels && !is_patches) {
			int64_t want[4];
			int nd = shape_of(t->shape, x->dim, want);
			mae_tensor *a = mae_rec_need(rec, t->name, t->dtype, nd, t->shape);
			if (memcmp(a->shape, want, (size_t)nd * sizeof *want)) {
				char s1[96], s2[96];
				mae_die(MAE_EXIT_DATA, "record %lld: tensor '%s' is %s, patches need %s",
				        (long long)rec->number, t->name, shape_text(a->shape, nd, s1, sizeof s1),
				        shape_text(want, nd, s2, sizeof s2));
			}
		}
	}
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
	memcpy(longopts, common, sizeof common);
	for (const mae_masker *const *mp = mae_maskers; *mp; mp++, nmaskers++)
		for (const mae_mask_opt *o = (*mp)->opts; o && o->name; o++) {
			int k = 0;
			while (k < nnames && strcmp(names[k], o->name))
				k++;
			if (k == nnames && nnames < MAXOPTS) {
				names[nnames] = o->name;
				longopts[NCOMMON + nnames] = (struct option){o->name, o->arg ? 1 : 0, 0, O_MASKER + nnames};
				nnames++;
			}
		}
	longopts[NCOMMON + nnames] = (struct option){0, 0, 0, 0};
	build_usage();

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
	mae_setprog(argv[0]);
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
			for (int i = 0; i < nmaskers; i++)
				for (const mae_mask_opt *o = mae_maskers[i]->opts; o && o->name; o++)
					if (!strcmp(o->name, names[opt - O_MASKER]))
						set_opt(states[i], o, optarg);
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
	for (int k = 0; k < nnames; k++) {
		const mae_mask_opt *o = m->opts;
		while (o && o->name && strcmp(o->name, names[k]))
			o++;
		if (given[k] && !(o && o->name))
			mae_usage_error(usage, "--%s does not apply to %s masking", names[k], m->name);
	}
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
	setup(m, state, &x, &hdr);
	mae_write(out, &hdr);

	mae_progress prog;
	mae_progress_start(&prog, "batches", mae_header_count(&hdr));
	while (mae_read(in, &rec)) {
		mae_tensor *pt = mae_rec_need(&rec, "patches", MAE_F32, 3, "[B,N,P]");
		int64_t B = pt->shape[0], N = pt->shape[1], P = pt->shape[2];
		if (N != x.n)
			mae_die(MAE_EXIT_DATA, "record %lld: tensor 'patches' has %lld patches; the header's "
			        "grid %dx%dx%d has %d", (long long)rec.number, (long long)N, x.gt, x.gh, x.gw, x.n);
		x.dim['B' - 'A'] = B, x.dim['N' - 'A'] = N, x.dim['P' - 'A'] = P;
		check_reads(m, &x, &rec, 1);
		mae_tensor *ix = mae_rec_tensor(&rec, "index");
		if (ix) {
			ix = mae_rec_need(&rec, "index", MAE_I64, 1, "[B]");
			if (ix->shape[0] != B)
				mae_die(MAE_EXIT_DATA, "record %lld: tensor 'index' has %lld entries for %lld "
				        "samples", (long long)rec.number, (long long)ix->shape[0], (long long)B);
		}
		check_reads(m, &x, &rec, 0);
		int64_t shp[4] = {B, N};
		mae_rec_add(&rec, "mask", MAE_U8, 2, shp);
		for (const mae_mask_tensor *t = m->writes; t && t->name; t++)
			mae_rec_add(&rec, t->name, t->dtype, shape_of(t->shape, x.dim, shp), shp);

		mae_mask_batch bv = {.ctx = &x, .B = (int)B, .P = (int)P, .ratio = x.ratio};
		ix = mae_rec_tensor(&rec, "index");
		bv.index = ix ? ix->data : NULL;
		bv.seq = mae_rec_seq(&rec);
		if (bv.seq < 0)
			bv.seq = rec.number;
		bv.epoch = mae_map_int(mae_rec_meta(&rec), "epoch", 0);
		if (m->batch)
			m->batch(state, &bv, &rec);
		/* pointers after every add and the batch hook (slots are stable; data may be owned anew) */
		bv.patches = mae_rec_tensor(&rec, "patches")->data;
		bv.mask = mae_rec_tensor(&rec, "mask")->data;
		for (int k = 0; m->reads && m->reads[k].name; k++)
			bv.in[k] = mae_rec_tensor(&rec, m->reads[k].name)->data;
		for (int k = 0; m->writes && m->writes[k].name; k++)
			bv.out[k] = mae_rec_tensor(&rec, m->writes[k].name)->data;
		/* samples in parallel (the pool holds OpenBLAS to one thread per sample: the DFT's
		 * products are small, and per-thread scratch keeps the samples independent) */
		job j = {m, state, &bv};
		mae_parallel_for((int)B, mask_sample, &j);
		mae_write(out, &rec);
		mae_progress_add(&prog, 1);
	}
	mae_progress_end(&prog);
	int rc = mae_writer_close(out, mae_reader_skipped(in));
	if (m->free)
		m->free(state);
	free(state);
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return rc ? MAE_EXIT_DATA : 0;
}
