/* fuzz_image: libFuzzer target for the JPEG, PNG and WAV decoders and the augmentation after them
 * (random resized crop to 32x32, as mae-decode runs it), with a fixed seed. */
#include <stdint.h>
#include <stdlib.h>

#include "mae/data/dataset.h"
#include "mae/util/rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static mae_augment a;
	static int ready;
	if (!ready) {
		mae_augment_defaults(&a, MAE_CROP_RRC, 32, 32, 3);
		ready = 1;
	}
	mae_rng r;
	mae_rng_seed(&r, 1, 0, 0, "fuzz");
	uint8_t out[32 * 32 * 3];
	char err[512] = "";
	if (mae_augment_file(&a, d, n, &r, out, err, sizeof err) != 0 && !err[0])
		abort();
	return 0;
}
