/* maskers.c: the table of mae-mask's strategies, one line each (masker.h). */
#include "mae/mask/masker.h"

#include <string.h>

/* One line per strategy, in the order of the usage text: X(NAME) for the mae_masker_NAME of
 * lib/mask/masker_NAME.c. */
#define MASKERS(X) \
	X(random) \
	X(block) \
	X(grid) \
	X(window) \
	X(noise) \
	X(semantic) \
	X(attention) \
	X(tube) \
	X(frequency)

#define DECLARE(name) extern const mae_masker mae_masker_##name;
#define ENTRY(name) &mae_masker_##name,
MASKERS(DECLARE)
const mae_masker *const mae_maskers[] = {MASKERS(ENTRY) NULL};

const mae_masker *mae_masker_find(const char *name)
{
	for (const mae_masker *const *m = mae_maskers; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}
