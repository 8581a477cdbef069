/* jpeg_fallback.h: JPEGs that TurboJPEG refuses, read through libjpeg's own API (jpeg_fallback.c).
 * Internal to libmae: image.c calls these when TurboJPEG's header call fails. */
#ifndef MAE_JPEG_FALLBACK_H
#define MAE_JPEG_FALLBACK_H

#include <stddef.h>
#include "mae/data/image.h"

/* The header: full size and channels in the file (1 grey, 3 colour, 4 CMYK/YCCK).
 * 0, or -1 with libjpeg's message in err. */
int mae_jpeg_fallback_info(const void *buf, size_t n, int *w, int *h, int *c, char *err,
                           size_t errn);

/* Decode buf shrunk by num/den in the DCT domain into img, which the caller has allocated with
 * the scaled size (TJSCALED) and c = 1 (grey), 3 (RGB) or 4 (CMYK as stored). The settings are
 * TurboJPEG's and PIL's: accurate integer IDCT, fancy upsampling; a file that ends early is an
 * error, other oddities libjpeg decodes past are not; at most 500 progressive scans.
 * 0, or -1 with "JPEG: ..." in err. */
int mae_jpeg_fallback_decode(const void *buf, size_t n, int num, int den, mae_image *img,
                             char *err, size_t errn);

#endif
