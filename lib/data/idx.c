/* idx.c: IDX files (the MNIST format) of unsigned bytes, gzip'd or plain, fully validated.
 *
 * Layout: 0x00 0x00, a type byte (0x08 = unsigned byte), the rank, then one big-endian u32 per
 * dimension, then the data in C order. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mae/util/util.h"
#include <zlib.h>
#include "mae/data/dataset.h"

/* Read exactly n bytes; returns bytes read, or -1 on a gzip error (message in err). */
static long long readn(gzFile f, void *p, size_t n, char *err, size_t errn)
{
	size_t got = 0;
	while (got < n) {
		unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
		int r = gzread(f, (char *)p + got, chunk);
		if (r < 0) {
			int code;
			const char *m = gzerror(f, &code);
			mae_fail(err, errn, "%s", code == Z_ERRNO ? strerror(errno) : m);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long long)got;
}

int mae_idx_load(const char *path, mae_idx *idx, char *err, size_t errn)
{
	memset(idx, 0, sizeof *idx);
	gzFile f = gzopen(path, "rb");
	if (!f)
		return mae_fail(err, errn, "%s", errno ? strerror(errno) : "cannot open");
	unsigned char h[4 + 4 * 4];
	long long r = readn(f, h, 4, err, errn);
	if (r < 0)
		goto bad;
	if (r < 4 || h[0] || h[1]) {
		mae_fail(err, errn, "not an IDX file (bad magic)");
		goto bad;
	}
	if (h[2] != 0x08) {
		mae_fail(err, errn, "IDX element type 0x%02x, expected 0x08 (unsigned byte)", h[2]);
		goto bad;
	}
	idx->ndim = h[3];
	if (idx->ndim < 1 || idx->ndim > 4) {
		mae_fail(err, errn, "IDX rank %d, expected 1 to 4", idx->ndim);
		goto bad;
	}
	if ((r = readn(f, h + 4, 4 * (size_t)idx->ndim, err, errn)) < 0)
		goto bad;
	if (r < 4 * idx->ndim) {
		mae_fail(err, errn, "truncated IDX header");
		goto bad;
	}
	long long total = 1;
	for (int i = 0; i < idx->ndim; i++) {
		const unsigned char *p = h + 4 + 4 * i;
		uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		if (d == 0 || d > (1u << 31)) {
			mae_fail(err, errn, "IDX dimension %d is %u", i, d);
			goto bad;
		}
		idx->dims[i] = d;
		total *= d;
		if (total > MAE_IDX_MAX_BYTES) {
			mae_fail(err, errn, "IDX data larger than %lld bytes", (long long)MAE_IDX_MAX_BYTES);
			goto bad;
		}
	}
	/* The header's word is not trusted with memory: a 37-byte file may declare 4 GB. The
	 * buffer starts at 64 MB at most and doubles as data actually arrives, so it never
	 * exceeds twice what the file holds (Fashion-MNIST's 47 MB still takes one allocation). */
	idx->nbytes = (size_t)total;
	size_t cap = idx->nbytes < ((size_t)1 << 26) ? idx->nbytes : (size_t)1 << 26, got = 0;
	for (;;) {
		uint8_t *p = realloc(idx->data, cap);
		if (!p) {
			mae_fail(err, errn, "out of memory for %zu bytes", cap);
			goto bad;
		}
		idx->data = p;
		if ((r = readn(f, idx->data + got, cap - got, err, errn)) < 0)
			goto bad;
		got += (size_t)r;
		if (got < cap || cap == idx->nbytes)
			break;
		cap = cap > idx->nbytes / 2 ? idx->nbytes : 2 * cap;
	}
	if (got < idx->nbytes) {
		mae_fail(err, errn, "truncated: %zu of %zu data bytes", got, idx->nbytes);
		goto bad;
	}
	unsigned char extra;
	if ((r = readn(f, &extra, 1, err, errn)) < 0)
		goto bad;
	if (r) {
		mae_fail(err, errn, "trailing bytes after %zu data bytes", idx->nbytes);
		goto bad;
	}
	gzclose(f);
	return 0;
bad:
	gzclose(f);
	mae_idx_free(idx);
	return -1;
}

void mae_idx_free(mae_idx *idx)
{
	free(idx->data);
	memset(idx, 0, sizeof *idx);
}
