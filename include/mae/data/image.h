/* image.h: 8-bit images in memory; JPEG/PNG decode and encode; resampling, crop, flip.
 *
 * An image is interleaved rows of w*c bytes (c = 1 grey or 3 RGB), top row first, the layout of
 * one sample of an `image` tensor (U8 [B,H,W,C]). A view into a larger image uses `stride`.
 *
 * Resampling follows Pillow's Image.resize(BICUBIC) (libImaging/Resample.c) step for step, so
 * torchvision's transforms on PIL images give the same bytes:
 *   - separable, horizontal pass first into a temporary of the rows the vertical pass needs;
 *   - Keys cubic with a = -0.5, support 2;
 *   - antialiased when shrinking: the kernel is stretched by the scale factor, so every source
 *     pixel contributes (a box-like low-pass, as PIL does), normalized to sum 1;
 *   - coefficients in 22-bit fixed point, each pass rounded and clipped to 0..255.
 * A source box with fractional corners is supported (PIL's resize(box=...)); the crop-then-resize
 * of torchvision is a view of the crop with the box covering the whole view.
 *
 * Decoding can shrink JPEGs in the DCT domain (libjpeg-turbo scaling by 1/2, 1/4, 1/8, ...)
 * when the result is at least as large as what the caller will resample it to. That is the one
 * place where output differs from PIL (which always decodes at full size): see mae-decode(1). */
#ifndef MAE_IMAGE_H
#define MAE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define MAE_MAX_PIXELS (1LL << 28)   /* decoded pixels per image (w*h) */

typedef struct mae_image {
	int w, h, c;          /* width, height, channels (1 or 3) */
	size_t stride;        /* bytes between rows (>= w*c) */
	uint8_t *px;          /* top-left pixel */
	uint8_t *owned;       /* storage to free, or NULL for a view */
} mae_image;

enum mae_imgfmt { MAE_IMG_UNKNOWN, MAE_IMG_JPEG, MAE_IMG_PNG, MAE_IMG_WAV };   /* WAV: audio.h */

/* Header facts without decoding. Returns 0, or -1 with a message in err. */
typedef struct mae_imginfo {
	enum mae_imgfmt fmt;
	int w, h, c;          /* full size; c: channels in the file (1 grey, 3 colour, 4 CMYK) */
	int subsamp;          /* JPEG chroma subsampling (TJSAMP_*), -1 otherwise (also for JPEGs
	                         whose sampling TurboJPEG does not know: libjpeg decodes those) */
} mae_imginfo;

enum mae_imgfmt mae_image_sniff(const void *buf, size_t n);
int mae_image_info(const void *buf, size_t n, mae_imginfo *info, char *err, size_t errn);

/* Decode buf into img with c channels (1 or 3; grey from colour is the JPEG luma Y for JPEG and
 * ITU-R 601 luma, L = (299 R + 587 G + 114 B)/1000 rounded, as PIL's convert("L"), for PNG).
 * JPEGs are shrunk in the DCT domain by the smallest libjpeg-turbo factor that keeps the
 * decoded size at least min_w x min_h (0, 0: full size); *scale receives the factor used
 * (decoded width / full width), may be NULL. Returns 0, or -1 with a message in err. */
int mae_image_decode(const void *buf, size_t n, int c, int min_w, int min_h, mae_image *img,
                     double *scale, char *err, size_t errn);
/* The same from a file (read whole). */
int mae_image_load(const char *path, int c, int min_w, int min_h, mae_image *img, double *scale,
                   char *err, size_t errn);

/* The largest JPEG DCT scaling (num/denom <= 1) of w x h that keeps it at least min_w x min_h. */
void mae_jpeg_scale(int w, int h, int min_w, int min_h, int *num, int *denom);

int mae_image_alloc(mae_image *img, int w, int h, int c);   /* 0, or -1 if too large */
void mae_image_free(mae_image *img);
/* A view of the rectangle (x, y, w, h), which must lie inside img. */
mae_image mae_image_view(const mae_image *img, int x, int y, int w, int h);
/* Copy src into dst (same size), converting channels (1 <-> 3) when they differ. */
void mae_image_convert(const mae_image *src, mae_image *dst);
void mae_image_flip(mae_image *img);                         /* horizontal, in place */

/* Resample the box (x0, y0, x1, y1) of src (source pixel coordinates, fractions allowed,
 * 0 <= x0 < x1 <= src.w) to an out_w x out_h image, PIL bicubic (see above), and write the
 * output window (ox, oy, dst->w, dst->h) of it into dst (dst->c == src->c). Computing only a
 * window gives the same bytes as resampling everything and cropping afterwards.
 * Returns 0, or -1 when out of memory or the arguments are invalid. */
int mae_resample(const mae_image *src, const double box[4], int out_w, int out_h,
                 int ox, int oy, mae_image *dst);
/* Plain whole-image bicubic resize of src to dst's size (box = all of src). */
int mae_resize(const mae_image *src, mae_image *dst);
/* Nearest-neighbour integer upscaling for display (dst = k*src). */
void mae_image_upscale(const mae_image *src, int k, mae_image *dst);

/* Encoding. quality: JPEG 1..100. Returns 0, or -1 with err. */
int mae_png_encode(const mae_image *img, void **buf, size_t *n, char *err, size_t errn);
int mae_jpeg_encode(const mae_image *img, int quality, void **buf, size_t *n, char *err,
                    size_t errn);
/* Write PNG or JPEG chosen by the file name's extension (.png, .jpg, .jpeg); "-" = stdout (PNG
 * unless fmt says otherwise). fmt: NULL (by name), "png" or "jpeg". */
int mae_image_save(const mae_image *img, const char *path, const char *fmt, int quality,
                   char *err, size_t errn);

/* Read a whole file into a malloc'ed buffer (max bytes: limit). 0, or -1 with err. */
int mae_image_readfile(const char *path, size_t limit, void **buf, size_t *n, char *err, size_t errn);
/* Whether a name's extension (without the dot) is one the data sets read as an image:
 * jpg, jpeg or png, any case. */
int mae_image_ext(const char *ext);

#endif
