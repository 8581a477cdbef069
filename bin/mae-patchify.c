/* mae-patchify: `image` U8 [B,H,W,C] to normalized `patches` F32 [B,N,P] in MAE's (row, col,
 * channel) order, clips [B,T,H,W,C] to VideoMAE's tubelets, and with --inverse the exact way
 * back. See mae-patchify(1). */
#include "mae/data/patchify.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-patchify [-qv] [-p SIZE] [--tubelet T] [--mean M[,M,M]] [--std S[,S,S]] [--no-norm]\n"
	"                    [--keep]\n"
	"                    [-i ENDPOINT] [-o ENDPOINT]\n"
	"       mae-patchify --inverse [-t TENSOR] [--to NAME] [--keep] [-p SIZE] [--mean ...] [--std ...]\n"
	"  -p patch size (default 16 for images of 112 pixels or more, else 4)\n"
	"  --tubelet T  clips: tubelets of T frames x SIZE x SIZE (default 2, VideoMAE's)\n"
	"  --inverse  patches (or -t TENSOR, e.g. pred) back to U8 images named --to (image)\n";

enum { OPT_MEAN = MAE_OPT_FIRST_PROGRAM, OPT_STD, OPT_NONORM, OPT_KEEP, OPT_INVERSE, OPT_TO, OPT_TUBELET };

static int parse_floats(const char *s, float *out, int max, const char *what)
{
	int n = 0;
	char *end;
	while (n < max) {
		out[n++] = (float)strtod(s, &end);
		if (end == s)
			mae_die(MAE_EXIT_USAGE, "%s: '%s' is not a list of numbers", what, s);
		if (!*end)
			return n;
		if (*end != ',')
			break;
		s = end + 1;
	}
	mae_die(MAE_EXIT_USAGE, "%s: expected 1 to %d numbers separated by commas", what, max);
}

/* Per-channel values from an option (1 value = all channels), the header, or the default. */
static void norm_for(int C, int nopt, const float *opt, const mae_val *meta, const char *key,
                     const float *def, float *out)
{
	double h[4];
	int nh = meta ? mae_map_floats(meta, key, h, 4) : -1;
	for (int c = 0; c < C; c++) {
		if (nopt == 1)
			out[c] = opt[0];
		else if (nopt == C)
			out[c] = opt[c];
		else if (nopt > 0)
			mae_die(MAE_EXIT_USAGE, "--%s: %d values for %d channels", key, nopt, C);
		else if (nh == C)
			out[c] = (float)h[c];
		else
			out[c] = def[c];
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"patch", 1, 0, 'p'}, {"mean", 1, 0, OPT_MEAN}, {"std", 1, 0, OPT_STD},
		{"no-norm", 0, 0, OPT_NONORM}, {"keep", 0, 0, OPT_KEEP}, {"inverse", 0, 0, OPT_INVERSE},
		{"tensor", 1, 0, 't'}, {"to", 1, 0, OPT_TO}, {"tubelet", 1, 0, OPT_TUBELET}, {0, 0, 0, 0}};
	mae_common c;
	int opt, p = 0, tube = 0, nmean = 0, nstd = 0, keep = 0, inverse = 0;
	float omean[4], ostd[4];
	const char *tname = NULL, *toname = NULL;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "p:t:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'p': p = (int)mae_parse_int(optarg, 1, 1024, "-p patch size"); break;
		case OPT_TUBELET: tube = (int)mae_parse_int(optarg, 1, 64, "--tubelet frames"); break;
		case OPT_MEAN: nmean = parse_floats(optarg, omean, 4, "--mean"); break;
		case OPT_STD:
			nstd = parse_floats(optarg, ostd, 4, "--std");
			for (int i = 0; i < nstd; i++)
				if (!(ostd[i] > 0))
					mae_die(MAE_EXIT_USAGE, "--std: values must be positive");
			break;
		case OPT_NONORM: nmean = nstd = 1, omean[0] = 0, ostd[0] = 1; break;
		case OPT_KEEP: keep = 1; break;
		case OPT_INVERSE: inverse = 1; break;
		case 't': tname = optarg; break;
		case OPT_TO: toname = optarg; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (!tname)
		tname = inverse ? "patches" : "image";
	if (!toname)
		toname = inverse ? "image" : "patches";
	if (!strcmp(tname, toname))
		mae_usage_error(usage, "the input and output tensors are both named '%s'", tname);

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record hdr = {0}, rec = {0};
	mae_read_header(in, &hdr);
	mae_header_stage(&hdr, argc, argv);
	mae_val *meta = mae_rec_meta(&hdr);

	/* Geometry from the header meta, else from the first batch (read before the header goes
	 * out). A clip stream (`frames` in the header, or a 5-D image) is cut into tubelets. */
	int H = (int)mae_map_int(meta, "height", 0), W = (int)mae_map_int(meta, "width", 0);
	int C = (int)mae_map_int(meta, "channels", 0);
	int T = (int)mae_map_int(meta, "frames", 0);   /* 0: images */
	int have = mae_read(in, &rec);
	float mean[4], std[4], defm[4], defs[4];
	if (!inverse) {
		if (have) {
			mae_tensor *t = mae_rec_need(&rec, tname, MAE_U8, -1, "[B,H,W,C] or [B,T,H,W,C]");
			if (t->ndim != 4 && t->ndim != 5)
				mae_rec_wrong_shape(&rec, t, "[B,H,W,C] or [B,T,H,W,C]");
			int k = t->ndim - 4;
			T = k ? (int)t->shape[1] : 0;
			H = (int)t->shape[1 + k], W = (int)t->shape[2 + k], C = (int)t->shape[3 + k];
		}
		if (!p)
			p = (H && W && (H < 112 || W < 112)) ? 4 : 16;
		if (C < 1 || C > 4)
			mae_die(MAE_EXIT_DATA, "%s: %d channels; expected 1 to 4", mae_reader_name(in), C);
		if (H % p || W % p)
			mae_die(MAE_EXIT_DATA, "%s: %dx%d images do not split into %dx%d patches (use -p)",
			        mae_reader_name(in), W, H, p, p);
		if (!tube)
			tube = T ? 2 : 1;
		if (!T && tube > 1)
			mae_usage_error(usage, "--tubelet %d: the stream holds images, not clips", tube);
		if (T && T % tube)
			mae_die(MAE_EXIT_DATA, "%s: clips of %d frames do not split into tubelets of %d "
			        "(use --tubelet)", mae_reader_name(in), T, tube);
	} else {
		int hp = (int)mae_map_int(meta, "patch_size", 0);
		int64_t g[3];
		int ng = mae_map_ints(meta, "grid", g, 3);
		if (!tube)
			tube = (int)mae_map_int(meta, "tubelet", 1);
		if (tube < 1 || tube > 4096)
			mae_die(MAE_EXIT_DATA, "%s: tubelet %d in the header", mae_reader_name(in), tube);
		if (!p)
			p = hp;
		if (!p)
			mae_die(MAE_EXIT_DATA, "%s: no patch_size in the header (use -p)", mae_reader_name(in));
		if (have) {
			mae_tensor *t = mae_rec_need(&rec, tname, MAE_F32, 3, "[B,N,P]");
			int64_t N = t->shape[1], P = t->shape[2], pv = (int64_t)tube * p * p;
			if (P % pv)
				mae_die(MAE_EXIT_DATA, "record %lld: tensor '%s': P = %lld is not a multiple of %d*%d*%d",
				        (long long)rec.number, tname, (long long)P, tube, p, p);
			C = (int)(P / pv);
			if (ng == 3 && g[0] > 0 && g[0] * g[1] * g[2] == N)   /* clips: [gt, gh, gw] */
				T = (int)(g[0] * tube), H = (int)(g[1] * p), W = (int)(g[2] * p);
			else if (ng == 2 && g[0] * g[1] == N && tube == 1)
				H = (int)(g[0] * p), W = (int)(g[1] * p);
			else if (tube == 1) {
				int64_t s = 1;
				while ((s + 1) * (s + 1) <= N)
					s++;
				if (s * s != N)
					mae_die(MAE_EXIT_DATA, "record %lld: %lld patches and no grid in the header",
					        (long long)rec.number, (long long)N);
				H = W = (int)(s * p);
			} else
				mae_die(MAE_EXIT_DATA, "record %lld: %lld tubelets and no [frames,rows,columns] "
				        "grid in the header", (long long)rec.number, (long long)N);
		}
		if (C < 1 || C > 4)
			mae_die(MAE_EXIT_DATA, "%s: %d channels; expected 1 to 4", mae_reader_name(in), C);
	}
	mae_norm_defaults(C, defm, defs);
	norm_for(C, nmean, omean, meta, "mean", defm, mean);
	norm_for(C, nstd, ostd, meta, "std", defs, std);
	int F = T ? T : 1;   /* frames a sample */
	if (!inverse) {
		double dm[4], ds[4];
		for (int i = 0; i < C; i++)
			dm[i] = mean[i], ds[i] = std[i];
		int64_t grid[3] = { F / tube, H / p, W / p };
		mae_map_set_int(meta, "patch_size", p);
		if (T) {   /* the masker reads the temporal slices from the grid (tube masking) */
			mae_map_set_ints(meta, "grid", grid, 3);
			mae_map_set_int(meta, "tubelet", tube);
		} else
			mae_map_set_ints(meta, "grid", grid + 1, 2);
		mae_map_set_floats(meta, "mean", dm, C);
		mae_map_set_floats(meta, "std", ds, C);
	}
	mae_write(out, &hdr);

	int gh = H / p, gw = W / p, P = tube * p * p * C;
	int64_t N = (int64_t)(F / tube) * gh * gw;
	char want[96];
	while (have) {
		if (!inverse) {
			int64_t ishape[5] = { 0, T, H, W, C };
			int nd = T ? 5 : 4;
			if (T)
				snprintf(want, sizeof want, "[B,%d,%d,%d,%d]", T, H, W, C);
			else
				snprintf(want, sizeof want, "[B,%d,%d,%d]", H, W, C);
			mae_tensor *t = mae_rec_need(&rec, tname, MAE_U8, nd, want);
			for (int k = 1; k < nd; k++)
				if (t->shape[k] != ishape[k + 5 - nd])
					mae_rec_wrong_shape(&rec, t, want);
			int B = (int)t->shape[0];
			int64_t shape[3] = { B, N, P };
			mae_tensor *x = mae_rec_add(&rec, toname, MAE_F32, 3, shape);
			t = mae_rec_tensor(&rec, tname);
			mae_patchify_clip(x->data, t->data, B, F, H, W, C, p, tube, mean, std);
		} else {
			snprintf(want, sizeof want, "[B,%lld,%d]", (long long)N, P);
			mae_tensor *t = mae_rec_need(&rec, tname, MAE_F32, 3, want);
			if (t->shape[1] != N || t->shape[2] != P)
				mae_rec_wrong_shape(&rec, t, want);
			int B = (int)t->shape[0];
			int64_t shape[5] = { B, T, H, W, C };
			if (!T)   /* images: [B,H,W,C] */
				memmove(shape + 1, shape + 2, 3 * sizeof *shape);
			mae_tensor *y = mae_rec_add(&rec, toname, MAE_U8, T ? 5 : 4, shape);
			t = mae_rec_tensor(&rec, tname);
			mae_unpatchify_clip(y->data, t->data, B, F, H, W, C, p, tube, mean, std);
		}
		if (!keep)
			mae_rec_remove(&rec, tname);
		mae_write(out, &rec);
		have = mae_read(in, &rec);
	}
	mae_writer_close(out, mae_reader_skipped(in));
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return 0;
}
