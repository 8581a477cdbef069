/* progress.h: progress on stderr with a total and an ETA where the total is known.
 * On a terminal the line is rewritten in place; otherwise a line is printed every 10 s.
 * Silent with -q (mae_quiet). */
#ifndef MAE_PROGRESS_H
#define MAE_PROGRESS_H

#include <stdint.h>

typedef struct mae_progress {
	const char *unit;
	int64_t total, done;
	double start, last;
	int tty, printed;
} mae_progress;

void mae_progress_start(mae_progress *p, const char *unit, int64_t total);  /* total < 0: unknown */
void mae_progress_add(mae_progress *p, int64_t n);
void mae_progress_end(mae_progress *p);

#endif
