/* masker.c: what mae-mask does around any mae_masker (masker.h): its usage text, its options,
 * the header's grid and provenance, and each batch's tensors and view. The table of maskers
 * is maskers.c. */
#include "mae/mask/masker.h"
#include "mae/util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t mae_mask_sample_index(const mae_mask_batch *bv, int b)
{
	return bv->index ? (uint64_t)bv->index[b] : ((uint64_t)bv->seq << 32) | (uint64_t)b;
}

static void tensors(FILE *f, const char *verb, const mae_mask_tensor *t)
{
	for (int k = 0; t && t[k].name; k++)
		fprintf(f, "%s %s %s %s%s", k ? "," : verb, t[k].name, mae_dtype_name(t[k].dtype),
		        t[k].shape, t[k + 1].name ? "" : "\n");
}

char *mae_maskers_usage(const char *head)
{
	char *text;
	size_t n;
	FILE *f = open_memstream(&text, &n);
	if (!f)
		mae_die(MAE_EXIT_DATA, "out of memory");
	fputs(head, f);
	for (const mae_masker *const *mp = mae_maskers; *mp; mp++) {
		const mae_masker *m = *mp;
		fprintf(f, "  %-10s %s\n", m->name, m->about);
		if (m->ratio >= 0)
			fprintf(f, "    -r %-20g the ratio of patches hidden\n", m->ratio);
		for (const mae_mask_opt *o = m->opts; o && o->name; o++) {
			char lhs[64];
			snprintf(lhs, sizeof lhs, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			fprintf(f, "    %-23s %s%s%s%s\n", lhs, o->help, o->def ? " (" : "",
			        o->def ? o->def : "", o->def ? ")" : "");
		}
		tensors(f, "    reads", m->reads);
		tensors(f, "    writes", m->writes);
	}
	fputs("see mae-mask(1)\n", f);
	fclose(f);
	return text;
}

void mae_mask_opt_set(void *state, const mae_mask_opt *o, const char *arg, const char *usage)
{
	char what[80];
	char *slot = (char *)state + o->at;
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
		for (int k = 0; o->choices[k]; k++) {
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
		const char *err = o->parse(state, arg);
		if (err)
			mae_usage_error(usage, "%s %s: %s", what, arg, err);
		break;
	}
	}
}

/* A shape of letters and numbers, "[B,M,2]", in the sizes of dim; returns its rank. */
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

void mae_mask_setup(const mae_masker *m, void *state, mae_mask_ctx *x, mae_record *hdr)
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
		m->setup(state, x, meta);

	/* provenance: what this stage did, in the header */
	mae_val *mm = mae_map_put(meta, "mask");   /* replaces an upstream masker's entry */
	mae_val_map(mm);
	mae_map_set_str(mm, "strategy", m->name);
	if (m->ratio >= 0)
		mae_map_set_float(mm, "ratio", x->ratio);
	mae_map_set_int(mm, "seed", (int64_t)x->seed);
	if (m->describe)
		m->describe(state, x, mm, meta);
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

void mae_mask_batch_begin(const mae_masker *m, void *state, mae_mask_ctx *x, mae_record *rec,
                          mae_mask_batch *bv)
{
	mae_tensor *pt = mae_rec_need(rec, "patches", MAE_F32, 3, "[B,N,P]");
	int64_t B = pt->shape[0], N = pt->shape[1], P = pt->shape[2];
	if (N != x->n)
		mae_die(MAE_EXIT_DATA, "record %lld: tensor 'patches' has %lld patches; the header's "
		        "grid %dx%dx%d has %d", (long long)rec->number, (long long)N, x->gt, x->gh, x->gw,
		        x->n);
	x->dim['B' - 'A'] = B, x->dim['N' - 'A'] = N, x->dim['P' - 'A'] = P;
	check_reads(m, x, rec, 1);
	mae_tensor *ix = mae_rec_tensor(rec, "index");
	if (ix) {
		ix = mae_rec_need(rec, "index", MAE_I64, 1, "[B]");
		if (ix->shape[0] != B)
			mae_die(MAE_EXIT_DATA, "record %lld: tensor 'index' has %lld entries for %lld "
			        "samples", (long long)rec->number, (long long)ix->shape[0], (long long)B);
	}
	check_reads(m, x, rec, 0);
	int64_t shp[4] = {B, N};
	mae_rec_add(rec, "mask", MAE_U8, 2, shp);
	for (const mae_mask_tensor *t = m->writes; t && t->name; t++)
		mae_rec_add(rec, t->name, t->dtype, shape_of(t->shape, x->dim, shp), shp);

	*bv = (mae_mask_batch){.ctx = x, .B = (int)B, .P = (int)P, .ratio = x->ratio};
	ix = mae_rec_tensor(rec, "index");
	bv->index = ix ? ix->data : NULL;
	bv->seq = mae_rec_seq(rec);
	if (bv->seq < 0)
		bv->seq = rec->number;
	bv->epoch = mae_map_int(mae_rec_meta(rec), "epoch", 0);
	if (m->batch)
		m->batch(state, bv, rec);
	/* pointers after every add and the batch hook (slots are stable; data may be owned anew) */
	bv->patches = mae_rec_tensor(rec, "patches")->data;
	bv->mask = mae_rec_tensor(rec, "mask")->data;
	for (int k = 0; m->reads && m->reads[k].name; k++)
		bv->in[k] = mae_rec_tensor(rec, m->reads[k].name)->data;
	for (int k = 0; m->writes && m->writes[k].name; k++)
		bv->out[k] = mae_rec_tensor(rec, m->writes[k].name)->data;
}
