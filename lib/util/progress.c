/* progress.c: rate and ETA on stderr (see progress.h). */
#include "mae/util/progress.h"
#include "mae/util/util.h"

#include <stdio.h>
#include <unistd.h>

static void fmt_time(double s, char *buf, size_t n)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, n, "%lds", t);
}

static void show(mae_progress *p, int final)
{
	double now = mae_now(), el = now - p->start;
	double rate = el > 0 ? p->done / el : 0;
	char eta[32] = "", els[32];
	fmt_time(el, els, sizeof els);
	if (p->total > 0 && !final && rate > 0) {
		char t[24];
		fmt_time((p->total - p->done) / rate, t, sizeof t);
		snprintf(eta, sizeof eta, ", ETA %s", t);
	}
	if (p->total > 0)
		fprintf(stderr, "%s%s: %lld/%lld %s (%.0f%%), %.1f %s/s, %s%s%s",
		        p->tty ? "\r" : "", mae_prog, (long long)p->done, (long long)p->total, p->unit,
		        100.0 * p->done / p->total, rate, p->unit, els, eta,
		        p->tty && !final ? "\033[K" : "\n");
	else
		fprintf(stderr, "%s%s: %lld %s, %.1f %s/s, %s%s", p->tty ? "\r" : "", mae_prog,
		        (long long)p->done, p->unit, rate, p->unit, els,
		        p->tty && !final ? "\033[K" : "\n");
	p->last = now;
	p->printed = 1;
}

void mae_progress_start(mae_progress *p, const char *unit, int64_t total)
{
	p->unit = unit;
	p->total = total;
	p->done = 0;
	p->start = p->last = mae_now();
	p->tty = isatty(2);
	p->printed = 0;
}

void mae_progress_add(mae_progress *p, int64_t n)
{
	p->done += n;
	if (mae_quiet)
		return;
	double now = mae_now();
	if (now - p->last >= (p->tty ? 0.5 : 10.0))
		show(p, 0);
}

void mae_progress_end(mae_progress *p)
{
	if (mae_quiet || !p->printed)
		return;
	show(p, 1);
}
