/* check_safetensors.h: what reading a safetensors file must mean, whatever its bytes, shared by
 * the libFuzzer target (fuzz_safetensors.c) and the unit test's bounded fuzz
 * (test_model_checkpoint.c): a file is refused with a message, or accepted whole, its tensors
 * inside it; a configuration in its metadata is refused with a message or, where small enough
 * to build, gives a model that the strict loader fills or refuses with a message. */
#ifndef MAE_CHECK_SAFETENSORS_H
#define MAE_CHECK_SAFETENSORS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mae/train/checkpoint.h"

enum { ST_REFUSED, ST_ACCEPTED, ST_LOADED, ST_BROKEN = -1 };

/* ST_REFUSED, ST_ACCEPTED (parsed, not loaded into a model), ST_LOADED, or ST_BROKEN with what
 * went wrong in why */
static int check_safetensors(const void *d, size_t n, char *why, size_t whyn) __attribute__((unused));
static int check_safetensors(const void *d, size_t n, char *why, size_t whyn)
{
	mae_st_file f;
	char err[512] = "";
	if (mae_st_parse(&f, d, n, err, sizeof err) != 0) {
		if (err[0])
			return ST_REFUSED;
		snprintf(why, whyn, "refused without a message");
		return ST_BROKEN;
	}
	for (int i = 0; i < f.n; i++) {
		const char *p = f.t[i].data, *b = f.buf;
		if (f.t[i].nbytes && (p < b || p + f.t[i].nbytes > b + f.size)) {
			snprintf(why, whyn, "tensor '%s' outside the file", f.t[i].name);
			mae_st_free(&f);
			return ST_BROKEN;
		}
	}
	int rc = ST_ACCEPTED;
	mae_config c;
	err[0] = 0;
	if (mae_checkpoint_config(&f, NULL, &c, err, sizeof err) != 0) {
		if (!err[0]) {
			snprintf(why, whyn, "configuration refused without a message");
			rc = ST_BROKEN;
		}
	} else if ((long)c.dim * c.depth <= 4096 && (long)c.dec_dim * c.dec_depth <= 4096 &&
	           (long)c.img_h * c.img_w <= 4096) {   /* a mutated width may ask for gigabytes */
		mae_model *m = mae_model_new(&c, err, sizeof err);
		if (m) {
			err[0] = 0;
			if (mae_checkpoint_load_into(m, &f, err, sizeof err) == 0)
				rc = ST_LOADED;
			mae_model_free(m);
		}
		if (rc != ST_LOADED && !err[0]) {
			snprintf(why, whyn, "model refused without a message");
			rc = ST_BROKEN;
		}
	}
	mae_st_free(&f);
	return rc;
}

#endif
