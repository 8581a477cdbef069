/* plot.h: line plots of metric tables into images (mae-plot(1)), with a built-in 5x7 font.
 *
 * A table is a whitespace-separated text file: '#' lines are comments, the first other line
 * names the columns, every further non-blank line holds one number per column ("nan" marks a
 * missing value). A plot draws series (x, y) as lines in a frame with nice ticks, grid lines,
 * numbers on the ticks, axis labels, a title and a legend. */
#ifndef MAE_PLOT_H
#define MAE_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "mae/data/image.h"

#define MAE_PLOT_MAX_SERIES 32

typedef struct mae_table {
	int ncol;
	char **names;      /* ncol column names */
	int64_t nrow;
	double *v;         /* nrow*ncol values, row-major; NAN where missing */
} mae_table;

/* Read a table from f (what names it in messages). Returns 0, or -1 with "what:LINE: reason"
 * in err (no header, a row with the wrong number of fields, a field that is not a number, no
 * data rows). */
int mae_table_read(FILE *f, const char *what, mae_table *t, char *err, size_t errn);
int mae_table_col(const mae_table *t, const char *name);   /* column index, or -1 */
void mae_table_free(mae_table *t);

/* Centered moving average over win points (fewer at the ends); NaNs are skipped and stay NaN. */
void mae_moving_average(const double *y, int64_t n, int win, double *out);

typedef struct mae_plot_series {
	const char *label;
	const double *x, *y;   /* n points; a non-finite value breaks the line */
	int64_t n;
	const double *ys;      /* optional smoothed y drawn over a faded raw curve, or NULL */
} mae_plot_series;

typedef struct mae_plot_opts {
	int w, h;              /* image size (800 x 480) */
	int logy;              /* logarithmic y axis (non-positive values are not drawn) */
	const char *title, *xlabel, *ylabel;   /* may be NULL */
} mae_plot_opts;

/* Render the series into a new RGB image of o->w x o->h. Returns 0, or -1 with err (nothing
 * drawable, image too small). */
int mae_plot_render(mae_image *img, const mae_plot_opts *o, const mae_plot_series *s, int ns, char *err,
                    size_t errn);

/* Text in the 5x7 font (6 px advance, 8 px line; scale multiplies both), top-left at (x, y);
 * vertical: rotated 90 degrees counter-clockwise, reading bottom to top from (x, y). */
void mae_draw_text(mae_image *img, int x, int y, const char *s, const uint8_t rgb[3], int scale, int vertical);
int mae_text_width(const char *s, int scale);

#endif
