/* mae-inspect: one line per record of a stream (names, dtypes, shapes, min/max/mean, checksum)
 * and a summary at the end. */
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: mae-inspect [-qv] [-m] [-c] [-H] [-i endpoint] [-o file] [--merge N]\n"
	"  -m  also print each batch's meta map      -c  checksums only (no statistics)\n"
	"  -H  print the header and stop (e.g. to learn a stream's record count)\n";

static double elem(const mae_tensor *t, size_t i)
{
	const char *p = (const char *)t->data + i * mae_dtype_size(t->dtype);
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
	        uint64_t u64; int64_t i64; float f; double d; } v;
	memcpy(&v, p, mae_dtype_size(t->dtype));
	switch (t->dtype) {
	case MAE_BOOL: case MAE_U8: return v.u8;
	case MAE_I8: return v.i8;
	case MAE_U16: return v.u16;
	case MAE_I16: return v.i16;
	case MAE_U32: return v.u32;
	case MAE_I32: return v.i32;
	case MAE_U64: return (double)v.u64;
	case MAE_I64: return (double)v.i64;
	case MAE_F32: return v.f;
	case MAE_F64: return v.d;
	case MAE_F16: {   /* IEEE half */
		int e = (v.u16 >> 10) & 31, m = v.u16 & 1023;
		double x = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
		return v.u16 & 0x8000 ? -x : x;
	}
	case MAE_BF16: {
		uint32_t b = (uint32_t)v.u16 << 16;
		float f;
		memcpy(&f, &b, 4);
		return f;
	}
	default: return NAN;
	}
}

static void describe(FILE *out, const mae_tensor *t, int stats)
{
	char desc[160];
	size_t n = (size_t)mae_tensor_numel(t);
	fprintf(out, " %s:%s", t->name, mae_tensor_desc(t, desc, sizeof desc));
	if (stats && n > 0) {
		double lo = INFINITY, hi = -INFINITY, sum = 0;
		size_t nan = 0;
		for (size_t i = 0; i < n; i++) {
			double x = elem(t, i);
			if (isnan(x)) {
				nan++;
				continue;
			}
			lo = x < lo ? x : lo;
			hi = x > hi ? x : hi;
			sum += x;
		}
		fprintf(out, " min=%.6g max=%.6g mean=%.6g", lo, hi, n > nan ? sum / (double)(n - nan) : NAN);
		if (nan)
			fprintf(out, " nan=%zu", nan);
	}
	fprintf(out, " crc=%08x", mae_crc32(0, t->data, mae_tensor_nbytes(t)));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {MAE_COMMON_LONG, {0, 0, 0, 0}};
	mae_common c;
	int showmeta = 0, stats = 1, header_only = 0, opt;
	mae_setprog(argv[0]);
	mae_common_init(&c);
	c.out = NULL;
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "mcH", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'm': showmeta = 1; break;
		case 'c': stats = 0; break;
		case 'H': header_only = 1; break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind != argc)
		mae_usage_error(usage, "unexpected argument '%s'", argv[optind]);
	FILE *out = stdout;
	if (c.out && strcmp(c.out, "-") && !(out = fopen(c.out, "w")))
		mae_die(MAE_EXIT_DATA, "%s:", c.out);

	mae_reader *in = mae_reader_open(c.in, &c);
	mae_record rec = {0};
	char buf[4096];
	double t0 = mae_now();
	uint64_t bytes = 0;
	mae_read_header(in, &rec);
	{
		const void *raw;
		size_t rn;
		mae_reader_raw(in, &raw, &rn);
		bytes += rn;
	}
	fprintf(out, "header version=%lld producer=%s seed=%llu count=%lld\n",
	        (long long)mae_map_int(&rec.fields, "version", -1), mae_map_str(&rec.fields, "producer", "?"),
	        (unsigned long long)mae_header_seed(&rec), (long long)mae_header_count(&rec));
	mae_val_format(mae_map_get(&rec.fields, "meta") ? mae_map_get(&rec.fields, "meta") : &(mae_val){0},
	               buf, sizeof buf);
	fprintf(out, "  meta %s\n", buf);
	mae_val *st = mae_map_get(&rec.fields, "stages");
	for (size_t i = 0; st && st->type == MAE_V_ARRAY && i < st->a.n; i++) {
		mae_val_format(mae_map_get(&st->a.v[i], "argv"), buf, sizeof buf);
		fprintf(out, "  stage %zu %s %s\n", i, mae_map_str(&st->a.v[i], "producer", "?"), buf);
	}
	if (header_only) {
		mae_rec_free(&rec);
		mae_reader_close(in);   /* the rest of the stream unread: the writer sees a closed pipe */
		if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
			mae_die(MAE_EXIT_DATA, "output: write error:");
		return 0;
	}
	while (mae_read(in, &rec)) {
		const void *raw;
		size_t rn;
		mae_reader_raw(in, &raw, &rn);
		bytes += rn;
		fprintf(out, "%lld seq=%lld", (long long)rec.number, (long long)mae_rec_seq(&rec));
		for (int i = 0; i < rec.ntensors; i++)
			describe(out, &rec.tensors[i], stats);
		fputc('\n', out);
		if (showmeta) {
			mae_val_format(mae_map_get(&rec.fields, "meta") ? mae_map_get(&rec.fields, "meta") : &(mae_val){0},
			               buf, sizeof buf);
			fprintf(out, "  meta %s\n", buf);
		}
	}
	double dt = mae_now() - t0;
	const mae_val *eos = mae_reader_eos(in);
	fprintf(out, "eos count=%lld skipped=%lld\n", (long long)mae_map_int(eos, "count", -1),
	        (long long)mae_reader_skipped(in));
	fprintf(out, "summary batches=%lld bytes=%llu seconds=%.3f MB/s=%.1f\n", (long long)mae_reader_count(in),
	        (unsigned long long)bytes, dt, dt > 0 ? bytes / dt / 1e6 : 0.0);
	if (mae_map_int(eos, "count", -1) != mae_reader_count(in) && c.merge == 1 && !strncmp(c.in, "sub:", 4))
		mae_warn("%s: %lld batches lost by the subscription", mae_reader_name(in),
		         (long long)(mae_map_int(eos, "count", -1) - mae_reader_count(in)));
	else if (mae_map_int(eos, "count", -1) != mae_reader_count(in) && c.merge == 1)
		mae_die(MAE_EXIT_DATA, "%s: end-of-stream record counts %lld batches, the stream had %lld",
		        mae_reader_name(in), (long long)mae_map_int(eos, "count", -1), (long long)mae_reader_count(in));
	mae_rec_free(&rec);
	mae_reader_close(in);
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0))
		mae_die(MAE_EXIT_DATA, "output: write error:");
	return 0;
}
