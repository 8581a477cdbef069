/* plot.c: metric tables and line plots with a bitmap font (see plot.h). */
#include "mae/plot/plot.h"
#include "mae/util/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

extern const uint8_t mae_font5x7[95][5];

/* ---- tables ---- */

/* split line in place at whitespace; returns the field count (at most max stored) */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			return n;
		if (n < max)
			f[n] = p;
		n++;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p && f)   /* counting only (f NULL) leaves the line as it is */
			*p++ = 0;
	}
}

int mae_table_read(FILE *f, const char *what, mae_table *t, char *err, size_t errn)
{
	char *line = NULL, **fld = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int64_t rcap = 0;
	int rc = -1;
	memset(t, 0, sizeof *t);
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *p = line;
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		if (!t->names) {
			int n = split(p, NULL, 0);
			t->names = mae_calloc((size_t)n, sizeof *t->names);
			fld = mae_calloc((size_t)n + 1, sizeof *fld);
			split(p, fld, n);
			for (int i = 0; i < n; i++) {
				t->names[i] = mae_strdup(fld[i]);
				char *end;
				errno = 0;
				strtod(fld[i], &end);
				if (*end == 0 && i == 0 && n > 0) {
					mae_fail(err, errn, "%s:%ld: the first line must name the columns, not hold numbers ('%s')",
					     what, lineno, fld[i]);
					t->ncol = i + 1;
					goto out;
				}
				for (int j = 0; j < i; j++)
					if (!strcmp(t->names[j], fld[i])) {
						mae_fail(err, errn, "%s:%ld: column '%s' named twice", what, lineno, fld[i]);
						t->ncol = i + 1;
						goto out;
					}
			}
			t->ncol = n;
			continue;
		}
		int n = split(p, fld, t->ncol + 1);
		if (n != t->ncol) {
			mae_fail(err, errn, "%s:%ld: %d fields, the header names %d columns", what, lineno, n, t->ncol);
			goto out;
		}
		if (t->nrow == rcap) {
			rcap = rcap ? 2 * rcap : 256;
			t->v = mae_realloc(t->v, (size_t)rcap * (size_t)t->ncol * sizeof *t->v);
		}
		for (int i = 0; i < n; i++) {
			char *end;
			double x = strtod(fld[i], &end);
			if (end == fld[i] || *end) {
				mae_fail(err, errn, "%s:%ld: column '%s': '%s' is not a number", what, lineno, t->names[i], fld[i]);
				goto out;
			}
			t->v[t->nrow * t->ncol + i] = isfinite(x) ? x : NAN;
		}
		t->nrow++;
	}
	if (ferror(f))
		mae_fail(err, errn, "%s: read error: %s", what, strerror(errno));
	else if (!t->names)
		mae_fail(err, errn, "%s: empty: no header line naming the columns", what);
	else if (t->nrow == 0)
		mae_fail(err, errn, "%s: no data rows after the header", what);
	else
		rc = 0;
out:
	free(line);
	free(fld);
	if (rc)
		mae_table_free(t);
	return rc;
}

int mae_table_col(const mae_table *t, const char *name)
{
	for (int i = 0; i < t->ncol; i++)
		if (!strcmp(t->names[i], name))
			return i;
	return -1;
}

void mae_table_free(mae_table *t)
{
	for (int i = 0; t->names && i < t->ncol; i++)
		free(t->names[i]);
	free(t->names);
	free(t->v);
	memset(t, 0, sizeof *t);
}

void mae_moving_average(const double *y, int64_t n, int win, double *out)
{
	int64_t h0 = (win - 1) / 2, h1 = win / 2;   /* window [i - h0, i + h1] */
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(y[i])) {
			out[i] = NAN;
			continue;
		}
		double s = 0;
		int64_t c = 0;
		for (int64_t j = i - h0 < 0 ? 0 : i - h0; j <= i + h1 && j < n; j++)
			if (isfinite(y[j]))
				s += y[j], c++;
		out[i] = s / (double)c;
	}
}

/* ---- drawing ---- */

static void blend(mae_image *img, int x, int y, const uint8_t rgb[3], double a)
{
	if (x < 0 || y < 0 || x >= img->w || y >= img->h || a <= 0)
		return;
	if (a > 1)
		a = 1;
	uint8_t *p = img->px + (size_t)y * img->stride + (size_t)x * 3;
	for (int k = 0; k < 3; k++)
		p[k] = (uint8_t)lround(p[k] + (rgb[k] - p[k]) * a);
}

static void fill(mae_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++)
			blend(img, x, y, rgb, 1);
}

int mae_text_width(const char *s, int scale)
{
	int n = (int)strlen(s);
	return n ? (6 * n - 1) * scale : 0;
}

void mae_draw_text(mae_image *img, int x, int y, const char *s, const uint8_t rgb[3], int scale, int vertical)
{
	for (int i = 0; s[i]; i++) {
		int ch = (unsigned char)s[i];
		const uint8_t *g = mae_font5x7[(ch < 32 || ch > 126 ? '?' : ch) - 32];
		for (int col = 0; col < 5; col++)
			for (int row = 0; row < 8; row++) {
				if (!(g[col] >> row & 1))
					continue;
				int gx = (6 * i + col) * scale, gy = row * scale;
				for (int a = 0; a < scale; a++)
					for (int b = 0; b < scale; b++) {
						if (vertical)   /* rotate: text runs upwards from (x, y) */
							blend(img, x + gy + b, y - gx - a, rgb, 1);
						else
							blend(img, x + gx + a, y + gy + b, rgb, 1);
					}
			}
	}
}

typedef struct { int x0, y0, x1, y1; } rect;

/* an anti-aliased segment of width wd, clipped to r */
static void segment(mae_image *img, const rect *r, double ax, double ay, double bx, double by, double wd,
                    const uint8_t rgb[3])
{
	double hw = wd / 2, dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
	int x0 = (int)floor(fmin(ax, bx) - hw - 1), x1 = (int)ceil(fmax(ax, bx) + hw + 1);
	int y0 = (int)floor(fmin(ay, by) - hw - 1), y1 = (int)ceil(fmax(ay, by) + hw + 1);
	x0 = x0 < r->x0 ? r->x0 : x0;
	y0 = y0 < r->y0 ? r->y0 : y0;
	x1 = x1 > r->x1 ? r->x1 : x1;
	y1 = y1 > r->y1 ? r->y1 : y1;
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++) {
			double px = x - ax, py = y - ay, t = l2 > 0 ? (px * dx + py * dy) / l2 : 0;
			t = t < 0 ? 0 : t > 1 ? 1 : t;
			double ex = px - t * dx, ey = py - t * dy, dist = sqrt(ex * ex + ey * ey);
			double a = hw + 0.5 - dist;
			if (a > 0) {   /* max with what the pixel already has of this colour: no dark joints */
				uint8_t *p = img->px + (size_t)y * img->stride + (size_t)x * 3;
				if (p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2])
					continue;
				blend(img, x, y, rgb, a);
			}
		}
}

/* ---- axes ---- */

static double nice_step(double range, int maxticks)
{
	double raw = range / maxticks, p = pow(10, floor(log10(raw))), f = raw / p;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static void fmt_num(char *buf, size_t n, double v, double step)
{
	if (fabs(v) < step * 1e-6)
		v = 0;
	double a = fabs(v);
	if (v != 0 && (a >= 1e6 || a < 1e-4)) {
		snprintf(buf, n, "%.3g", v);
		return;
	}
	int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	if (dec > 8)
		dec = 8;
	snprintf(buf, n, "%.*f", dec, v);
}

typedef struct {
	double lo, hi;   /* data range shown (in log10 when log) */
	int log;
	double ticks[64];
	int nticks;
	double step;     /* linear step (for formatting) */
} axis;

static void axis_ticks(axis *a, int maxticks)
{
	a->nticks = 0;
	if (a->log) {
		int d0 = (int)floor(a->lo), d1 = (int)ceil(a->hi);
		int sub = d1 - d0 <= 2 ? 3 : 1;    /* 1, 2, 5 per decade when the range is narrow */
		static const double m[3] = {1, 2, 5};
		int every = (d1 - d0 + maxticks - 1) / maxticks;
		every = every < 1 ? 1 : every;
		for (int d = d0; d <= d1 && a->nticks < 64; d++)
			for (int k = 0; k < sub && a->nticks < 64; k++) {
				double t = d + log10(m[k]);
				if (t >= a->lo - 1e-9 && t <= a->hi + 1e-9 && (sub > 1 || (d - d0) % every == 0))
					a->ticks[a->nticks++] = t;
			}
		if (a->nticks >= 2)
			return;
		/* within a decade: linear ticks on the values, placed on the log scale */
		double vlo = pow(10, a->lo), vhi = pow(10, a->hi);
		a->step = nice_step(vhi - vlo, maxticks);
		a->nticks = 0;
		for (double v = ceil(vlo / a->step - 1e-9) * a->step; v <= vhi * (1 + 1e-9) && a->nticks < 64; v += a->step)
			if (v > 0)
				a->ticks[a->nticks++] = log10(v);
		a->log = 2;   /* labels from the linear step */
		return;
	}
	a->step = nice_step(a->hi - a->lo, maxticks);
	for (double t = ceil(a->lo / a->step - 1e-9) * a->step; t <= a->hi + a->step * 1e-9 && a->nticks < 64;
	     t += a->step)
		a->ticks[a->nticks++] = t;
}

static void tick_label(const axis *a, double t, char *buf, size_t n)
{
	if (a->log == 2) {
		fmt_num(buf, n, pow(10, t), a->step);
	} else if (a->log) {
		double v = pow(10, t);
		if (v >= 1e-3 && v < 1e5)
			snprintf(buf, n, "%g", v);
		else
			snprintf(buf, n, "%.0e", v);
	} else {
		fmt_num(buf, n, t, a->step);
	}
}

static const uint8_t palette[10][3] = {
	{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
	{140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

static double yval(double y, int log) { return log ? (y > 0 ? log10(y) : NAN) : y; }

int mae_plot_render(mae_image *img, const mae_plot_opts *o, const mae_plot_series *s, int ns, char *err,
                    size_t errn)
{
	static const uint8_t black[3] = {0, 0, 0}, grey[3] = {225, 225, 225}, dark[3] = {90, 90, 90};
	memset(img, 0, sizeof *img);
	if (o->w < 160 || o->h < 120 || o->w > 16384 || o->h > 16384)
		return mae_fail(err, errn, "image size %dx%d: width and height must be in 160..16384 and 120..16384", o->w,
		            o->h);
	if (ns < 1 || ns > MAE_PLOT_MAX_SERIES)
		return mae_fail(err, errn, "%d series: 1 to %d can be drawn", ns, MAE_PLOT_MAX_SERIES);
	axis ax = {INFINITY, -INFINITY, 0, {0}, 0, 0}, ay = {INFINITY, -INFINITY, o->logy, {0}, 0, 0};
	for (int k = 0; k < ns; k++)
		for (int64_t i = 0; i < s[k].n; i++) {
			double x = s[k].x[i], y = yval(s[k].y[i], o->logy);
			if (!isfinite(x) || !isfinite(y))
				continue;
			ax.lo = fmin(ax.lo, x), ax.hi = fmax(ax.hi, x);
			ay.lo = fmin(ay.lo, y), ay.hi = fmax(ay.hi, y);
		}
	if (!(ax.lo <= ax.hi))
		return mae_fail(err, errn, "no point to draw%s", o->logy ? " (a log axis shows positive values only)" : "");
	if (ax.hi == ax.lo)
		ax.lo -= 0.5, ax.hi += 0.5;
	if (ay.hi == ay.lo)
		ay.lo -= o->logy ? 0.5 : fmax(fabs(ay.lo) * 0.1, 0.5), ay.hi += o->logy ? 0.5 : fmax(fabs(ay.hi) * 0.1, 0.5);
	double pad = (ay.hi - ay.lo) * 0.04;
	ay.lo -= pad, ay.hi += pad;

	if (mae_image_alloc(img, o->w, o->h, 3))
		return mae_fail(err, errn, "out of memory for a %dx%d image", o->w, o->h);
	memset(img->px, 255, (size_t)img->h * img->stride);

	/* layout: margins from the text sizes */
	axis_ticks(&ay, o->h / 60 > 2 ? o->h / 60 : 2);
	int ylw = 0;
	char buf[64];
	for (int i = 0; i < ay.nticks; i++) {
		tick_label(&ay, ay.ticks[i], buf, sizeof buf);
		int w = mae_text_width(buf, 1);
		ylw = w > ylw ? w : ylw;
	}
	int top = o->title && *o->title ? 34 : 14;
	int left = 10 + (o->ylabel && *o->ylabel ? 14 : 0) + ylw + 8;
	int right = 20, bottom = 22 + (o->xlabel && *o->xlabel ? 14 : 0);
	rect pr = {left, top, o->w - right, o->h - bottom};
	if (pr.x1 - pr.x0 < 40 || pr.y1 - pr.y0 < 40) {
		mae_image_free(img);
		return mae_fail(err, errn, "image size %dx%d leaves no room for the plot", o->w, o->h);
	}
	int pw = pr.x1 - pr.x0, ph = pr.y1 - pr.y0;
	axis_ticks(&ax, pw / 90 > 2 ? pw / 90 : 2);
	/* x tick labels must not overlap: thin the ticks until they fit */
	for (int tries = 0; tries < 6; tries++) {
		int widest = 0;
		for (int i = 0; i < ax.nticks; i++) {
			tick_label(&ax, ax.ticks[i], buf, sizeof buf);
			int w = mae_text_width(buf, 1);
			widest = w > widest ? w : widest;
		}
		if (ax.nticks < 2 || (widest + 12) * ax.nticks <= pw)
			break;
		axis_ticks(&ax, ax.nticks / 2 > 1 ? ax.nticks / 2 : 1);
	}
#define PX(x) (pr.x0 + ((x) - ax.lo) / (ax.hi - ax.lo) * pw)
#define PY(y) (pr.y1 - ((y) - ay.lo) / (ay.hi - ay.lo) * ph)

	/* grid, ticks and numbers */
	for (int i = 0; i < ax.nticks; i++) {
		int x = (int)lround(PX(ax.ticks[i]));
		fill(img, x, pr.y0, x, pr.y1, grey);
		fill(img, x, pr.y1, x, pr.y1 + 4, black);
		tick_label(&ax, ax.ticks[i], buf, sizeof buf);
		mae_draw_text(img, x - mae_text_width(buf, 1) / 2, pr.y1 + 7, buf, black, 1, 0);
	}
	for (int i = 0; i < ay.nticks; i++) {
		int y = (int)lround(PY(ay.ticks[i]));
		fill(img, pr.x0, y, pr.x1, y, grey);
		fill(img, pr.x0 - 4, y, pr.x0, y, black);
		tick_label(&ay, ay.ticks[i], buf, sizeof buf);
		mae_draw_text(img, pr.x0 - 7 - mae_text_width(buf, 1), y - 3, buf, black, 1, 0);
	}
	/* frame */
	fill(img, pr.x0, pr.y0, pr.x1, pr.y0, black);
	fill(img, pr.x0, pr.y1, pr.x1, pr.y1, black);
	fill(img, pr.x0, pr.y0, pr.x0, pr.y1, black);
	fill(img, pr.x1, pr.y0, pr.x1, pr.y1, black);
	if (o->title && *o->title)
		mae_draw_text(img, (o->w - mae_text_width(o->title, 2)) / 2, 8, o->title, black, 2, 0);
	if (o->xlabel && *o->xlabel)
		mae_draw_text(img, pr.x0 + (pw - mae_text_width(o->xlabel, 1)) / 2, o->h - 12, o->xlabel, dark, 1, 0);
	if (o->ylabel && *o->ylabel)
		mae_draw_text(img, 8, pr.y0 + (ph + mae_text_width(o->ylabel, 1)) / 2, o->ylabel, dark, 1, 1);

	/* the curves, inside the frame */
	rect in = {pr.x0 + 1, pr.y0 + 1, pr.x1 - 1, pr.y1 - 1};
	for (int k = 0; k < ns; k++) {
		const uint8_t *c = palette[k % 10];
		uint8_t faded[3];
		for (int q = 0; q < 3; q++)
			faded[q] = (uint8_t)(c[q] + (255 - c[q]) * 0.65);
		for (int pass = s[k].ys ? 0 : 1; pass < 2; pass++) {
			const double *yy = pass == 0 || !s[k].ys ? s[k].y : s[k].ys;
			const uint8_t *col = pass == 0 ? faded : c;
			double wd = pass == 0 ? 1.0 : 1.6;
			double px = NAN, py = NAN;
			for (int64_t i = 0; i < s[k].n; i++) {
				double y = yval(yy[i], o->logy), x = s[k].x[i];
				if (!isfinite(x) || !isfinite(y)) {
					px = py = NAN;
					continue;
				}
				double qx = PX(x), qy = PY(y);
				if (isfinite(px))
					segment(img, &in, px, py, qx, qy, wd, col);
				else if (i + 1 >= s[k].n || !isfinite(yval(yy[i + 1], o->logy)))
					segment(img, &in, qx, qy, qx, qy, wd + 1, col);   /* a lone point */
				px = qx, py = qy;
			}
		}
	}

	/* legend: top right inside the frame */
	int lw = 0;
	for (int k = 0; k < ns; k++) {
		int w = mae_text_width(s[k].label ? s[k].label : "", 1);
		lw = w > lw ? w : lw;
	}
	int bw = lw + 36, bh = 12 * ns + 8, bx = pr.x1 - bw - 8, by = pr.y0 + 8;
	/* the corner that hides the fewest curve pixels (top right first on a tie) */
	long best = -1;
	for (int corner = 0; corner < 4 && bx > pr.x0 + 8 && by + bh < pr.y1 - 8; corner++) {
		int cx = corner & 1 ? pr.x0 + 8 : pr.x1 - bw - 8, cy = corner & 2 ? pr.y1 - bh - 8 : pr.y0 + 8;
		long hidden = 0;
		for (int y = cy; y <= cy + bh; y++)
			for (int x = cx; x <= cx + bw; x++) {
				const uint8_t *q = img->px + (size_t)y * img->stride + (size_t)x * 3;
				hidden += !(q[0] == q[1] && q[1] == q[2] && (q[0] == 255 || q[0] == grey[0]));
			}
		if (best < 0 || hidden < best)
			best = hidden, bx = cx, by = cy;
	}
	if (bx > pr.x0 + 8 && by + bh < pr.y1) {
		static const uint8_t white[3] = {255, 255, 255}, edge[3] = {160, 160, 160};
		fill(img, bx, by, bx + bw, by + bh, white);
		fill(img, bx, by, bx + bw, by, edge);
		fill(img, bx, by + bh, bx + bw, by + bh, edge);
		fill(img, bx, by, bx, by + bh, edge);
		fill(img, bx + bw, by, bx + bw, by + bh, edge);
		for (int k = 0; k < ns; k++) {
			int yy = by + 6 + 12 * k;
			rect all = {0, 0, img->w - 1, img->h - 1};
			segment(img, &all, bx + 6, yy + 3.5, bx + 26, yy + 3.5, 2, palette[k % 10]);
			mae_draw_text(img, bx + 31, yy, s[k].label ? s[k].label : "", black, 1, 0);
		}
	}
#undef PX
#undef PY
	return 0;
}
