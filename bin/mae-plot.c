/* mae-plot: line plots of the columns of a metrics table (step loss lr ...) into a PNG. */
#include "mae/data/image.h"
#include "mae/plot/plot.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: mae-plot [-qv] [-x column] [-y column]... [--log] [--smooth N] [-W width] [-H height]\n"
	"                [-t title] [--xlabel text] [--ylabel text] [-o file.png] [file]\n"
	"  -x  column on the x axis (default: the first)   -y  column to draw (default: all others)\n"
	"  --log  logarithmic y axis   --smooth N  centered moving average over N rows, over the raw curve\n"
	"  -W, -H  image size (800 x 480)   -o  output PNG (default stdout)\n";

enum { OPT_LOG = MAE_OPT_FIRST_PROGRAM, OPT_SMOOTH, OPT_XLABEL, OPT_YLABEL };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG, {"x", 1, 0, 'x'}, {"y", 1, 0, 'y'}, {"log", 0, 0, OPT_LOG},
		{"smooth", 1, 0, OPT_SMOOTH}, {"width", 1, 0, 'W'}, {"height", 1, 0, 'H'}, {"title", 1, 0, 't'},
		{"xlabel", 1, 0, OPT_XLABEL}, {"ylabel", 1, 0, OPT_YLABEL}, {0, 0, 0, 0}};
	mae_common c;
	mae_plot_opts po = {.w = 800, .h = 480};
	const char *xname = NULL, *ynames[MAE_PLOT_MAX_SERIES], *xlabel = NULL, *ylabel = NULL;
	int ny = 0, smooth = 0, opt;
	char err[512];
	mae_setprog(argv[0]);
	mae_common_init(&c);
	c.in = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "x:y:W:H:t:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'x': xname = optarg; break;
		case 'y':
			if (ny == MAE_PLOT_MAX_SERIES)
				mae_usage_error(usage, "more than %d -y columns", MAE_PLOT_MAX_SERIES);
			ynames[ny++] = optarg;
			break;
		case 'W': po.w = (int)mae_parse_int(optarg, 160, 16384, "-W width"); break;
		case 'H': po.h = (int)mae_parse_int(optarg, 120, 16384, "-H height"); break;
		case 't': po.title = optarg; break;
		case OPT_LOG: po.logy = 1; break;
		case OPT_SMOOTH: smooth = (int)mae_parse_int(optarg, 1, 1 << 24, "--smooth"); break;
		case OPT_XLABEL: xlabel = optarg; break;
		case OPT_YLABEL: ylabel = optarg; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (argc - optind > 1)
		mae_usage_error(usage, "one metrics file at most ('%s' is extra)", argv[optind + 1]);
	if (optind < argc && c.in)
		mae_usage_error(usage, "both -i %s and the file '%s'", c.in, argv[optind]);
	const char *path = optind < argc ? argv[optind] : c.in ? c.in : "-";
	if (!strcmp(c.out, "-") && isatty(1))
		mae_usage_error(usage, "not writing a PNG to a terminal: use -o file.png");

	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		mae_die(MAE_EXIT_DATA, "%s:", path);
	mae_table t;
	if (mae_table_read(f, strcmp(path, "-") ? path : "stdin", &t, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	if (f != stdin)
		fclose(f);
	else
		path = "stdin";

	int xc = xname ? mae_table_col(&t, xname) : 0;
	if (xc < 0)
		mae_die(MAE_EXIT_DATA, "%s: no column '%s' for -x", path, xname);
	int ycols[MAE_PLOT_MAX_SERIES];
	if (ny == 0)
		for (int i = 0; i < t.ncol && ny < MAE_PLOT_MAX_SERIES; i++)
			if (i != xc)
				ynames[ny++] = t.names[i];
	if (ny == 0)
		mae_die(MAE_EXIT_DATA, "%s: only one column: nothing to draw against '%s'", path, t.names[xc]);
	for (int k = 0; k < ny; k++)
		if ((ycols[k] = mae_table_col(&t, ynames[k])) < 0) {
			char cols[256] = "";
			for (int i = 0; i < t.ncol; i++)
				snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", i ? " " : "", t.names[i]);
			mae_die(MAE_EXIT_DATA, "%s: no column '%s' (columns: %s)", path, ynames[k], cols);
		}

	/* columns out of the row-major table */
	mae_plot_series s[MAE_PLOT_MAX_SERIES];
	double *x = mae_malloc((size_t)t.nrow * sizeof *x);
	for (int64_t i = 0; i < t.nrow; i++)
		x[i] = t.v[i * t.ncol + xc];
	for (int k = 0; k < ny; k++) {
		double *y = mae_malloc((size_t)t.nrow * sizeof *y);
		int64_t nonpos = 0;
		for (int64_t i = 0; i < t.nrow; i++) {
			y[i] = t.v[i * t.ncol + ycols[k]];
			nonpos += po.logy && isfinite(y[i]) && y[i] <= 0;
		}
		if (nonpos)
			mae_warn("%s: %lld values of '%s' are not positive and are left out of the log plot", path,
			         (long long)nonpos, ynames[k]);
		double *ys = NULL;
		if (smooth > 1) {
			ys = mae_malloc((size_t)t.nrow * sizeof *ys);
			if (po.logy)   /* smooth what is drawn: the log of the values */
				for (int64_t i = 0; i < t.nrow; i++)
					y[i] = y[i] > 0 ? log(y[i]) : NAN;
			mae_moving_average(y, t.nrow, smooth, ys);
			if (po.logy)
				for (int64_t i = 0; i < t.nrow; i++)
					y[i] = exp(y[i]), ys[i] = exp(ys[i]);
		}
		s[k] = (mae_plot_series){.label = ynames[k], .x = x, .y = y, .n = t.nrow, .ys = ys};
	}
	po.xlabel = xlabel ? xlabel : t.names[xc];
	po.ylabel = ylabel ? ylabel : ny == 1 ? ynames[0] : NULL;

	mae_image img;
	if (mae_plot_render(&img, &po, s, ny, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s: %s", path, err);
	if (mae_image_save(&img, c.out, "png", 0, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s: %s", c.out, err);
	mae_info("%s: %d series of %lld points, %dx%d", c.out, ny, (long long)t.nrow, po.w, po.h);
	mae_image_free(&img);
	for (int k = 0; k < ny; k++) {
		free((void *)s[k].y);
		free((void *)s[k].ys);
	}
	free(x);
	mae_table_free(&t);
	return 0;
}
