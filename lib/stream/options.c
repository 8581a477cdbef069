/* options.c: the options every program shares (see mae(7), COMMON OPTIONS). */
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <stdio.h>
#include <stdlib.h>

void mae_common_init(mae_common *c)
{
	c->in = "-";
	c->out = "-";
	c->merge = 1;
	c->ordered = 0;
	c->fanout = 1;
	c->hwm = 4;
	c->seed = 0;
	c->seed_set = 0;
}

int mae_common_opt(mae_common *c, int opt, const char *arg, const char *usage)
{
	switch (opt) {
	case 'i': c->in = arg; return 1;
	case 'o': c->out = arg; return 1;
	case 'q': mae_quiet = 1; return 1;
	case 'v': mae_verbose = 1; mae_blas_report(); return 1;
	case 's':
		c->seed = (uint64_t)mae_parse_int(arg, 0, INT64_MAX, "-s seed");
		c->seed_set = 1;
		return 1;
	case 'h':
		fputs(usage, stdout);
		exit(0);
	case MAE_OPT_MERGE: c->merge = (int)mae_parse_int(arg, 1, 4096, "--merge"); return 1;
	case MAE_OPT_ORDERED: c->ordered = 1; return 1;
	case MAE_OPT_FANOUT: c->fanout = (int)mae_parse_int(arg, 1, 4096, "--fanout"); return 1;
	case MAE_OPT_HWM: c->hwm = (int)mae_parse_int(arg, 1, 1000000, "--hwm"); return 1;
	case '?':
		fputs(usage, stderr);
		exit(MAE_EXIT_USAGE);
	}
	return 0;
}
