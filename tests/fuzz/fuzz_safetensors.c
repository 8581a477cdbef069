/* fuzz_safetensors: libFuzzer target for the safetensors reader and the checkpoint loader
 * (mae-checkpoint(5)); the rules are check_safetensors.h's. */
#include <stdint.h>
#include <stdlib.h>

#include "check_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char why[300];
	if (check_safetensors(d, n, why, sizeof why) == ST_BROKEN) {
		fprintf(stderr, "fuzz_safetensors: %s\n", why);
		abort();
	}
	return 0;
}
