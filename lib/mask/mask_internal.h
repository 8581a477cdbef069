/* mask_internal.h: what the maskers share inside libmae (mask.c, mask_*.c). */
#ifndef MAE_MASK_INTERNAL_H
#define MAE_MASK_INTERNAL_H

/* A patch's score for ranking: sorted by mae_keyed_desc, highest first, ties by ascending
 * index, a total order so every sort gives the same mask. */
struct keyed { float k; int i; };
int mae_keyed_desc(const void *a, const void *b);

#endif
