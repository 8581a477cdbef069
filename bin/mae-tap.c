/* mae-tap: pass a stream through unchanged and copy its records to a file or a PUB socket.
 * A file tap gets every record; a PUB tap never blocks: a slow or absent subscriber loses
 * records, the main stream never waits for it. */
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-tap [-qv] [-e N] [-i endpoint] [-o endpoint] TAP\n"
	"  TAP  a file, or a ZeroMQ address such as @tcp://*:5600 (a PUB socket)\n"
	"  -e N copy every N-th batch only (the header and the end-of-stream always)\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {MAE_COMMON_LONG, {"every", 1, 0, 'e'}, {0, 0, 0, 0}};
	mae_common c;
	long long every = 1;
	int opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "e:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'e': every = mae_parse_int(optarg, 1, 1LL << 40, "-e"); break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind + 1 != argc)
		mae_usage_error(usage, optind == argc ? "missing TAP endpoint" : "too many arguments");

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_writer *out = mae_writer_open(c.out, &c);
	mae_writer *tap = mae_writer_open_tap(argv[optind]);
	mae_record rec = {0};
	const void *raw;
	size_t n;

	mae_read_header(in, &rec);
	mae_reader_raw(in, &raw, &n);
	mae_write_raw(out, raw, n, MAE_REC_HEADER);
	mae_write_raw(tap, raw, n, MAE_REC_HEADER);
	for (long long k = 0; mae_read(in, &rec); k++) {
		mae_reader_raw(in, &raw, &n);
		mae_write_raw(out, raw, n, MAE_REC_BATCH);
		if (k % every == 0)
			mae_write_raw(tap, raw, n, MAE_REC_BATCH);
	}
	if (c.merge == 1) {   /* forward the upstream EOS byte for byte */
		mae_reader_raw(in, &raw, &n);
		mae_write_raw(out, raw, n, MAE_REC_EOS);
		if (every == 1)   /* a sampled copy gets an EOS with its own count */
			mae_write_raw(tap, raw, n, MAE_REC_EOS);
	}
	int64_t skipped = mae_reader_skipped(in);
	mae_writer_close(tap, skipped);
	mae_writer_close(out, skipped);
	mae_rec_free(&rec);
	mae_reader_close(in);
	return 0;
}
