/* fuzz_record: libFuzzer target for the stream's record decoder (mae-stream(5)). Whatever it
 * accepts must hold together: every tensor's bytes inside the input. */
#include <stdint.h>
#include <stdlib.h>

#include "mae/stream/stream.h"

static mae_record rec;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char err[512] = "";
	if (mae_decode_record(d, n, &rec, err, sizeof err) != 0) {
		if (!err[0])
			abort();   /* refused without a message */
		return 0;
	}
	for (int i = 0; i < rec.ntensors; i++) {
		const uint8_t *p = rec.tensors[i].data;
		size_t nb = mae_tensor_nbytes(&rec.tensors[i]);
		if (nb && (p < d || p + nb > d + n))
			abort();   /* accepted a tensor outside the input */
	}
	return 0;
}
