/* fuzz_idx: libFuzzer target for the IDX reader (Fashion-MNIST's format), gzip'd or plain.
 * The reader takes a path, so each input goes through a file in /dev/shm (or TMPDIR). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mae/data/dataset.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char path[256];
	fuzz_file(path, sizeof path, "idx-images-idx3-ubyte", d, n);
	mae_idx x;
	char err[512] = "";
	if (mae_idx_load(path, &x, err, sizeof err) == 0) {
		size_t want = 1;
		for (int i = 0; i < x.ndim; i++)
			want *= (size_t)x.dims[i];
		if (want != x.nbytes)
			abort();
		mae_idx_free(&x);
	} else if (!err[0]) {
		abort();
	}
	unlink(path);
	return 0;
}
