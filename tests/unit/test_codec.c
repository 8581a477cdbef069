/* test_codec: the record codec: round trips, pass-through of unknown fields, strict
 * validation of bad records, and a bounded fuzz of the decoder. */
#include "mae/util/rng.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"
#include "mutate.h"
#include "tap.h"

#include <msgpack.h>
#include <string.h>

static void make_batch(mae_record *r)
{
	int64_t s1[3] = {2, 3, 4}, s2[1] = {2}, s0[2] = {0, 5};
	mae_rec_clear(r);
	r->type = MAE_REC_BATCH;
	mae_rec_set_seq(r, 17);
	mae_val *m = mae_rec_meta(r);
	mae_map_set_int(m, "epoch", 3);
	mae_map_set_float(m, "lr", 1.5e-4);
	mae_map_set_str(m, "note", "hello");
	double f[3] = {0.485, 0.456, 0.406};
	mae_map_set_floats(mae_map_submap(m, "nested"), "mean", f, 3);
	mae_tensor *t = mae_rec_add(r, "patches", MAE_F32, 3, s1);
	for (int i = 0; i < 24; i++)
		((float *)t->data)[i] = (float)i * 0.5f - 3;
	t = mae_rec_add(r, "label", MAE_I32, 1, s2);
	((int32_t *)t->data)[0] = 7;
	((int32_t *)t->data)[1] = -1;
	mae_rec_add(r, "empty", MAE_U8, 2, s0);
	mae_map_set_str(&r->fields, "unknown_field", "kept");
}

static int same_record(mae_record *a, mae_record *b)
{
	char fa[2048], fb[2048];
	if (a->type != b->type || a->ntensors != b->ntensors)
		return 0;
	mae_val_format(&a->fields, fa, sizeof fa);
	mae_val_format(&b->fields, fb, sizeof fb);
	if (strcmp(fa, fb))
		return 0;
	for (int i = 0; i < a->ntensors; i++) {
		mae_tensor *x = &a->tensors[i], *y = mae_rec_tensor(b, x->name);
		if (!y || x->dtype != y->dtype || x->ndim != y->ndim)
			return 0;
		for (int d = 0; d < x->ndim; d++)
			if (x->shape[d] != y->shape[d])
				return 0;
		if (memcmp(x->data, y->data, mae_tensor_nbytes(x)))
			return 0;
	}
	return 1;
}

/* Pack a record by hand with msgpack-c, to make records our own encoder never would. */
typedef void (*packfn)(msgpack_packer *);

static void pstr(msgpack_packer *p, const char *s)
{
	msgpack_pack_str(p, strlen(s));
	msgpack_pack_str_body(p, s, strlen(s));
}

static void tensor(msgpack_packer *p, const char *dtype, int nd, const uint64_t *shape, size_t nbytes)
{
	static char zeros[4096];
	msgpack_pack_map(p, 3);
	pstr(p, "dtype");
	pstr(p, dtype);
	pstr(p, "shape");
	msgpack_pack_array(p, (size_t)nd);
	for (int i = 0; i < nd; i++)
		msgpack_pack_uint64(p, shape[i]);
	pstr(p, "data");
	msgpack_pack_bin(p, nbytes);
	msgpack_pack_bin_body(p, zeros, nbytes);
}

static void batch_with(msgpack_packer *p, const char *dtype, int nd, const uint64_t *shape, size_t nbytes)
{
	msgpack_pack_map(p, 2);
	pstr(p, "type");
	pstr(p, "batch");
	pstr(p, "tensors");
	msgpack_pack_map(p, 1);
	pstr(p, "x");
	tensor(p, dtype, nd, shape, nbytes);
}

static void bad_len(msgpack_packer *p) { uint64_t s[2] = {2, 3}; batch_with(p, "F32", 2, s, 20); }
static void bad_dtype(msgpack_packer *p) { uint64_t s[1] = {4}; batch_with(p, "F33", 1, s, 16); }
static void bad_rank(msgpack_packer *p) { uint64_t s[9] = {1,1,1,1,1,1,1,1,1}; batch_with(p, "U8", 9, s, 1); }
static void bad_dim(msgpack_packer *p) { uint64_t s[2] = {1ULL << 40, 1ULL << 40}; batch_with(p, "F32", 2, s, 0); }
static void bad_notype(msgpack_packer *p) { msgpack_pack_map(p, 1); pstr(p, "seq"); msgpack_pack_int(p, 1); }
static void bad_kind(msgpack_packer *p) { msgpack_pack_map(p, 1); pstr(p, "type"); pstr(p, "banana"); }
static void bad_array(msgpack_packer *p) { msgpack_pack_array(p, 1); msgpack_pack_int(p, 1); }
static void bad_tensors(msgpack_packer *p)
{
	msgpack_pack_map(p, 2); pstr(p, "type"); pstr(p, "batch"); pstr(p, "tensors"); msgpack_pack_int(p, 3);
}
static void bad_negdim(msgpack_packer *p)
{
	msgpack_pack_map(p, 2); pstr(p, "type"); pstr(p, "batch"); pstr(p, "tensors");
	msgpack_pack_map(p, 1); pstr(p, "x"); msgpack_pack_map(p, 3);
	pstr(p, "dtype"); pstr(p, "U8"); pstr(p, "shape"); msgpack_pack_array(p, 1); msgpack_pack_int(p, -2);
	pstr(p, "data"); msgpack_pack_bin(p, 0);
}
static void bad_dupkey(msgpack_packer *p)
{
	msgpack_pack_map(p, 3); pstr(p, "type"); pstr(p, "batch"); pstr(p, "seq"); msgpack_pack_int(p, 1);
	pstr(p, "seq"); msgpack_pack_int(p, 2);
}
static void bad_deep(msgpack_packer *p)
{
	msgpack_pack_map(p, 2); pstr(p, "type"); pstr(p, "batch"); pstr(p, "meta");
	for (int i = 0; i < 40; i++) { msgpack_pack_array(p, 1); }
	msgpack_pack_int(p, 0);
}
static void bad_nodata(msgpack_packer *p)
{
	msgpack_pack_map(p, 2); pstr(p, "type"); pstr(p, "batch"); pstr(p, "tensors");
	msgpack_pack_map(p, 1); pstr(p, "x"); msgpack_pack_map(p, 2);
	pstr(p, "dtype"); pstr(p, "U8"); pstr(p, "shape"); msgpack_pack_array(p, 0);
}

static void expect_error(packfn f, const char *needle, const char *what)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	mae_record r = {0};
	char err[256] = "";
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	f(&pk);
	int rc = mae_decode_record(sb.data, sb.size, &r, err, sizeof err);
	ok(rc == -1 && strstr(err, needle) != NULL, "rejects %s: \"%s\"", what, err);
	msgpack_sbuffer_destroy(&sb);
	mae_rec_free(&r);
}

int main(void)
{
	mae_record a = {0}, b = {0}, c = {0};
	char err[256];
	void *buf, *buf2;

	/* batch round trip */
	make_batch(&a);
	size_t n = mae_encode_record(&a, &buf);
	ok(mae_decode_record(buf, n, &b, err, sizeof err) == 0, "decodes what it encodes");
	ok(same_record(&a, &b), "batch round trip keeps fields, meta, tensors and bytes");
	ok(mae_map_get(&b.fields, "unknown_field") != NULL, "unknown top-level field survives");
	ok(mae_rec_seq(&b) == 17 && mae_map_int(mae_rec_meta(&b), "epoch", -1) == 3, "seq and meta read back");
	mae_tensor *t = mae_rec_need(&b, "patches", MAE_F32, 3, "[B,N,P]");
	ok(((uintptr_t)t->data % 64) == 0 && ((float *)t->data)[23] == 8.5f, "need() gives aligned, exact data");

	/* re-encoding a decoded record gives the same bytes (pass-through is lossless) */
	size_t n2 = mae_encode_record(&b, &buf2);
	ok(n2 == n && memcmp(buf, buf2, n) == 0, "decode then encode is byte-identical (%zu bytes)", n);
	free(buf2);

	/* copy */
	mae_rec_copy(&c, &b);
	free(buf);   /* b borrowed from buf; c must not */
	ok(same_record(&a, &c), "deep copy owns its data");

	/* header and eos */
	char *args[] = {"prog", "-x", "1"};
	mae_header_init(&a, 3, args, 12345, 10);
	mae_map_set_int(mae_rec_meta(&a), "patch_size", 16);
	mae_header_stage(&a, 1, args);
	n = mae_encode_record(&a, &buf);
	ok(mae_decode_record(buf, n, &b, err, sizeof err) == 0 && b.type == MAE_REC_HEADER, "header decodes");
	ok(mae_header_seed(&b) == 12345 && mae_header_count(&b) == 10, "header seed and count");
	mae_val *st = mae_map_get(&b.fields, "stages");
	ok(st && st->type == MAE_V_ARRAY && st->a.n == 2, "stages list grows per stage");
	ok(mae_map_int(mae_rec_meta(&b), "patch_size", 0) == 16, "header meta");
	free(buf);

	/* a record by hand with bin keys (msgpack-numpy style) is accepted */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		msgpack_pack_bin(&pk, 4); msgpack_pack_bin_body(&pk, "type", 4);
		pstr(&pk, "batch");
		pstr(&pk, "tensors");
		msgpack_pack_map(&pk, 1);
		pstr(&pk, "x");
		uint64_t s[1] = {3};
		tensor(&pk, "I64", 1, s, 24);
		ok(mae_decode_record(sb.data, sb.size, &b, err, sizeof err) == 0, "bin keys accepted");
		ok(mae_decode_record(sb.data, sb.size - 1, &b, err, sizeof err) == -1 && strstr(err, "cut short"),
		   "truncated record: \"%s\"", err);
		msgpack_sbuffer_destroy(&sb);
	}

	expect_error(bad_len, "needs 24 bytes of data, got 20", "data length not matching shape");
	expect_error(bad_dtype, "unknown dtype", "unknown dtype");
	expect_error(bad_rank, "rank 9", "rank over the limit");
	expect_error(bad_dim, "over the limit", "absurd dimension");
	expect_error(bad_notype, "no 'type'", "record without type");
	expect_error(bad_kind, "unknown record type", "unknown record type");
	expect_error(bad_array, "not a map", "record that is not a map");
	expect_error(bad_tensors, "'tensors' is not a map", "tensors that are not a map");
	expect_error(bad_negdim, "not a non-negative integer", "negative dimension");
	expect_error(bad_dupkey, "duplicate field", "duplicate field");
	expect_error(bad_deep, "nested", "absurd nesting");
	expect_error(bad_nodata, "lacks 'data'", "tensor without data");

	/* fuzz: mutate a valid record many times; the decoder must answer 0 or -1, never crash
	 * (run under ASan/UBSan by `make asan`). */
	make_batch(&a);
	n = mae_encode_record(&a, &buf);
	mae_rng rng;
	mae_rng_seed(&rng, 1, 0, 0, "fuzz");
	int accepted = 0, rejected = 0;
	unsigned char *m = mae_malloc(n + 64);
	double budget = fuzz_budget(), t0 = mae_now();
	long iters = 0;
	for (long it = 0; mae_now() - t0 < budget; it++, iters++) {
		memcpy(m, buf, n);
		size_t len = mutate(m, n, n + 60, n, &rng);
		int rc = mae_decode_record(m, len, &b, err, sizeof err);
		if (rc == 0) {
			accepted++;
			for (int i = 0; i < b.ntensors; i++)   /* whatever was accepted is consistent */
				if ((const unsigned char *)b.tensors[i].data + mae_tensor_nbytes(&b.tensors[i]) > m + len) {
					ok(0, "accepted tensor runs past the buffer");
					break;
				}
		} else {
			rejected++;
		}
	}
	ok(rejected > 0 && accepted > 0, "fuzz: %ld mutated records, %d accepted, %d rejected, no crash",
	   iters, accepted, rejected);
	free(m);
	free(buf);
	mae_rec_free(&a);
	mae_rec_free(&b);
	mae_rec_free(&c);
	return done();
}
