/* fuzz_file.h: for the readers that take a path: the input written to a file of this process
 * in /dev/shm (or TMPDIR, or /tmp), named "fuzz-PID-NAME"; the target unlinks it. */
#ifndef MAE_FUZZ_FILE_H
#define MAE_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void fuzz_file(char *path, size_t pathn, const char *name, const uint8_t *d, size_t n)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, pathn, "%s/fuzz-%d-%s", dir, (int)getpid(), name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0)
		abort();
}

#endif
