/* maskers.c: the table of mae-mask's strategies, one line each (masker.h). */
#include "mae/mask/masker.h"

#include <string.h>

extern const mae_masker mae_masker_random, mae_masker_block, mae_masker_grid, mae_masker_window,
	mae_masker_noise, mae_masker_semantic, mae_masker_attention, mae_masker_tube,
	mae_masker_frequency;

const mae_masker *const mae_maskers[] = {
	&mae_masker_random,
	&mae_masker_block,
	&mae_masker_grid,
	&mae_masker_window,
	&mae_masker_noise,
	&mae_masker_semantic,
	&mae_masker_attention,
	&mae_masker_tube,
	&mae_masker_frequency,
	NULL
};

const mae_masker *mae_masker_find(const char *name)
{
	for (const mae_masker *const *m = mae_maskers; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}

uint64_t mae_mask_sample_index(const mae_mask_batch *bv, int b)
{
	return bv->index ? (uint64_t)bv->index[b] : ((uint64_t)bv->seq << 32) | (uint64_t)b;
}
