/* fuzz_tar: libFuzzer target for the webdataset shard indexer (lib/data/tar.c), plain or gzip'd (the
 * indexer tells them by the gzip magic). The indexer takes a path, so each input goes through a
 * file in /dev/shm (or TMPDIR); gzip'd inputs are inflated into a temporary file as mae-decode
 * does, one for each input. An index it accepts must hold: every image inside the tar, and readable in full. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mae/data/tar.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char path[256];
	fuzz_file(path, sizeof path, "shard.tar", d, n);
	mae_tar_spool *spool = NULL;   /* made for a gzip'd input, gone with it */
	mae_tar t;
	char err[512] = "";
	if (mae_tar_open(&t, path, &spool, err, sizeof err) == 0) {
		for (int64_t i = 0; i < t.n; i++) {
			const mae_tar_entry *e = &t.e[i];
			if (e->off < 512 || e->size < 0 || e->off + e->size > t.size || !e->name[0])
				abort();
			void *buf;
			size_t len;
			if (mae_tar_read(&t, i, (size_t)1 << 30, &buf, &len, err, sizeof err) != 0 ||
			    len != (size_t)e->size)
				abort();
			free(buf);
		}
		mae_tar_free(&t);
	} else if (!err[0]) {
		abort();
	}
	mae_tar_spool_free(spool);
	unlink(path);
	return 0;
}
