/* mae-hog: MaskFeat's HOG target, `target` F32 [B,N,T] beside `patches` F32 [B,N,P]. See
 * mae-hog(1) and include/mae/data/hog.h. */
#include "mae/data/hog.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] =
	"usage: mae-hog [-qv] [-p SIZE] [--cell S] [--window W] [-i ENDPOINT] [-o ENDPOINT]\n"
	"       mae-hog --dim -p SIZE [--cell S] [--channels C]\n"
	"  -p patch size (default: the header's patch_size)\n"
	"  --cell    HOG cell side in pixels, dividing the patch (default: p/2 if p is even, else p)\n"
	"  --window  Gaussian weighting window in pixels, 0 for none (default: the patch size)\n"
	"  --dim     print the target's values per patch, C*9*(p/cell)^2, and exit\n";

enum { OPT_CELL = MAE_OPT_FIRST_PROGRAM, OPT_WINDOW, OPT_DIM, OPT_CHANNELS };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"patch", 1, 0, 'p'}, {"cell", 1, 0, OPT_CELL}, {"window", 1, 0, OPT_WINDOW},
		{"dim", 0, 0, OPT_DIM}, {"channels", 1, 0, OPT_CHANNELS}, {0, 0, 0, 0}};
	mae_common c;
	int opt, p = 0, cell = 0, window = -1, dim = 0, channels = 1;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "p:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'p': p = (int)mae_parse_int(optarg, 1, 1024, "-p patch size"); break;
		case OPT_CELL: cell = (int)mae_parse_int(optarg, 1, 1024, "--cell"); break;
		case OPT_WINDOW: window = (int)mae_parse_int(optarg, 0, 4096, "--window"); break;
		case OPT_DIM: dim = 1; break;
		case OPT_CHANNELS: channels = (int)mae_parse_int(optarg, 1, 4, "--channels"); break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	if (window == 1)
		mae_usage_error(usage, "--window 1: a Gaussian window needs 2 pixels or more (0: none)");
	if (dim) {
		if (!p)
			mae_usage_error(usage, "--dim needs -p SIZE");
		int T = mae_hog_dim(p, cell ? cell : mae_hog_cell(p), channels);
		if (!T)
			mae_usage_error(usage, "--cell %d does not divide the patch size %d", cell, p);
		printf("%d\n", T);
		return 0;
	}

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_record hdr = {0}, rec = {0};
	mae_read_header(in, &hdr);
	mae_header_stage(&hdr, argc, argv);
	mae_val *meta = mae_rec_meta(&hdr);
	int64_t g[2];
	if (!p)
		p = (int)mae_map_int(meta, "patch_size", 0);
	if (!p)
		mae_die(MAE_EXIT_DATA, "%s: no patch_size in the header (put mae-patchify first, or use -p)",
		        mae_reader_name(in));
	if (mae_map_ints(meta, "grid", g, 2) != 2)
		mae_die(MAE_EXIT_DATA, "%s: no grid in the header (put mae-patchify first)", mae_reader_name(in));
	if (!cell)
		cell = mae_hog_cell(p);
	if (window < 0)
		window = p;
	if (p % cell)
		mae_die(MAE_EXIT_USAGE, "--cell %d does not divide the patch size %d", cell, p);
	int H = (int)g[0] * p, W = (int)g[1] * p;
	if (window && (H % window || W % window))
		mae_die(MAE_EXIT_USAGE, "--window %d does not tile the %dx%d images", window, W, H);
	mae_map_set_int(meta, "hog_cell", cell);
	mae_map_set_int(meta, "hog_window", window);
	mae_write(out, &hdr);

	char want[96];
	snprintf(want, sizeof want, "[B,%lld,P] (P = %d*%d*C)", (long long)(g[0] * g[1]), p, p);
	while (mae_read(in, &rec)) {
		mae_tensor *t = mae_rec_need(&rec, "patches", MAE_F32, 3, want);
		int64_t N = t->shape[1], P = t->shape[2], C = P / ((int64_t)p * p);
		if (N != g[0] * g[1] || P % ((int64_t)p * p) || C < 1 || C > 4)
			mae_rec_wrong_shape(&rec, t, want);
		int64_t shape[3] = {t->shape[0], N, mae_hog_dim(p, cell, (int)C)};
		float *target = mae_rec_add(&rec, "target", MAE_F32, 3, shape)->data;
		t = mae_rec_tensor(&rec, "patches");   /* (adding may move the tensors) */
		if (mae_hog_patches(target, t->data, (int)shape[0], H, W, (int)C, p, cell, window))
			mae_die(MAE_EXIT_DATA, "record %lld: HOG of %dx%d images in patches of %d failed",
			        (long long)rec.number, W, H, p);
		mae_write(out, &rec);
	}
	mae_writer_close(out, mae_reader_skipped(in));
	mae_rec_free(&rec);
	mae_rec_free(&hdr);
	mae_reader_close(in);
	return 0;
}
