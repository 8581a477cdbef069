/* image.c: JPEG (TurboJPEG; libjpeg for the files it refuses, jpeg_fallback.c) and PNG (libpng)
 * decode and encode, PIL-exact bicubic resampling, channel conversion, crop views and flips.
 * See include/mae/data/image.h. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <png.h>
#include <turbojpeg.h>
#include "mae/data/image.h"
#include "mae/data/audio.h"
#include "mae/util/util.h"
#include "data/jpeg_fallback.h"

/* ------------------------------------------------------------------------------------------
 * Buffers */

int mae_image_alloc(mae_image *img, int w, int h, int c)
{
	memset(img, 0, sizeof *img);
	if (w <= 0 || h <= 0 || (c != 1 && c != 3 && c != 4) || (int64_t)w * h > MAE_MAX_PIXELS)
		return -1;
	size_t n = (size_t)w * h * c;
	img->owned = malloc(n ? n : 1);
	if (!img->owned)
		return -1;
	img->w = w, img->h = h, img->c = c;
	img->stride = (size_t)w * c;
	img->px = img->owned;
	return 0;
}

void mae_image_free(mae_image *img)
{
	free(img->owned);
	memset(img, 0, sizeof *img);
}

mae_image mae_image_view(const mae_image *img, int x, int y, int w, int h)
{
	mae_image v = *img;
	v.owned = NULL;
	v.px = img->px + (size_t)y * img->stride + (size_t)x * img->c;
	v.w = w, v.h = h;
	return v;
}

/* PIL's Convert.c rgb2l: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
static inline uint8_t luma(const uint8_t *p)
{
	return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

void mae_image_convert(const mae_image *src, mae_image *dst)
{
	for (int y = 0; y < src->h; y++) {
		const uint8_t *s = src->px + (size_t)y * src->stride;
		uint8_t *d = dst->px + (size_t)y * dst->stride;
		if (src->c == dst->c)
			memcpy(d, s, (size_t)src->w * src->c);
		else if (src->c == 1)
			for (int x = 0; x < src->w; x++)
				d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[x];
		else if (dst->c == 1)
			for (int x = 0; x < src->w; x++)
				d[x] = luma(s + (size_t)src->c * x);
		else   /* 4 -> 3: drop the fourth channel */
			for (int x = 0; x < src->w; x++)
				memcpy(d + 3 * x, s + 4 * x, 3);
	}
}

void mae_image_flip(mae_image *img)
{
	int c = img->c;
	for (int y = 0; y < img->h; y++) {
		uint8_t *row = img->px + (size_t)y * img->stride;
		for (int a = 0, b = img->w - 1; a < b; a++, b--)
			for (int k = 0; k < c; k++) {
				uint8_t t = row[a * c + k];
				row[a * c + k] = row[b * c + k];
				row[b * c + k] = t;
			}
	}
}

void mae_image_upscale(const mae_image *src, int k, mae_image *dst)
{
	int c = src->c;
	for (int y = 0; y < dst->h; y++) {
		const uint8_t *s = src->px + (size_t)(y / k) * src->stride;
		uint8_t *d = dst->px + (size_t)y * dst->stride;
		for (int x = 0; x < dst->w; x++)
			memcpy(d + (size_t)x * c, s + (size_t)(x / k) * c, c);
	}
}

int mae_image_ext(const char *ext)
{
	return !strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg") || !strcasecmp(ext, "png") ||
	       !strcasecmp(ext, "wav");
}

int mae_image_readfile(const char *path, size_t limit, void **buf, size_t *n, char *err, size_t errn)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return mae_fail(err, errn, "%s", strerror(errno));
	/* a regular file is read in one piece of its size (+1 to see the end) */
	struct stat st;
	size_t cap = 1 << 16, len = 0;
	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < limit)
		cap = (size_t)st.st_size + 1;
	unsigned char *p = malloc(cap);
	for (;;) {
		if (!p) {
			if (f != stdin) fclose(f);
			return mae_fail(err, errn, "out of memory");
		}
		size_t r = fread(p + len, 1, cap - len, f);
		len += r;
		if (len > limit) {
			free(p);
			if (f != stdin) fclose(f);
			return mae_fail(err, errn, "larger than %zu bytes", limit);
		}
		if (r == 0 || len < cap) {
			if (ferror(f)) {
				int e = errno;
				free(p);
				if (f != stdin) fclose(f);
				return mae_fail(err, errn, "%s", strerror(e));
			}
			if (feof(f))
				break;
		}
		if (len == cap) {
			cap *= 2;
			unsigned char *q = realloc(p, cap);
			if (!q) free(p);
			p = q;
		}
	}
	if (f != stdin)
		fclose(f);
	*buf = p, *n = len;
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * Format detection and header info */

enum mae_imgfmt mae_image_sniff(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return MAE_IMG_JPEG;
	if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
		return MAE_IMG_PNG;
	if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WAVE", 4))
		return MAE_IMG_WAV;
	return MAE_IMG_UNKNOWN;
}

/* One decompressor and compressor per thread, made on first use and destroyed when the
 * thread ends (a pthread key's destructor; the main thread's live until exit). */
static _Thread_local tjhandle tj_dec, tj_enc;
static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;

static void tj_destroy(void *p)
{
	(void)p;
	if (tj_dec)
		tjDestroy(tj_dec);
	if (tj_enc)
		tjDestroy(tj_enc);
	tj_dec = tj_enc = NULL;
}

static void tj_key_init(void) { pthread_key_create(&tj_key, tj_destroy); }

static void tj_register(void)
{
	pthread_once(&tj_once, tj_key_init);
	pthread_setspecific(tj_key, (void *)1);   /* non-NULL: run the destructor */
}

static tjhandle decoder(void)
{
	if (!tj_dec) {
		tj_dec = tjInitDecompress();
		tj_register();
	}
	return tj_dec;
}

/* TurboJPEG 2.1's header call, when libjpeg stops it with an error, leaves its decompressor
 * inside that header (no jpeg_abort_decompress): the next file's header on the thread then
 * reads as 0x0 or "two SOI markers". The thread starts again from a new one. */
static void decoder_reset(void)
{
	if (tj_dec)
		tjDestroy(tj_dec);
	tj_dec = NULL;
}

/* PNG from memory: read callback and error handling through longjmp. */
struct pngsrc { const unsigned char *p; size_t n, off; char *err; size_t errn; };

static void png_read_mem(png_structp png, png_bytep out, png_size_t len)
{
	struct pngsrc *s = png_get_io_ptr(png);
	if (len > s->n - s->off) {
		mae_fail(s->err, s->errn, "truncated PNG");
		png_longjmp(png, 1);
	}
	memcpy(out, s->p + s->off, len);
	s->off += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
	struct pngsrc *s = png_get_error_ptr(png);
	if (s->err && !*s->err)
		mae_fail(s->err, s->errn, "PNG: %s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png, (void)msg;   /* benign (e.g. iCCP profile oddities): ignore, as PIL does */
}

int mae_image_info(const void *buf, size_t n, mae_imginfo *info, char *err, size_t errn)
{
	memset(info, 0, sizeof *info);
	info->subsamp = -1;
	info->fmt = mae_image_sniff(buf, n);
	if (info->fmt == MAE_IMG_JPEG) {
		/* TurboJPEG can return success without setting them: a 3-byte "\xff\xd8\xff" left
		 * the width whatever was on the stack (libFuzzer, UBSan). Zero is then "bad size". */
		int w = 0, h = 0, ss = -1, cs = -1;
		tjhandle tj = decoder();
		if (!tj)
			return mae_fail(err, errn, "cannot initialize TurboJPEG");
		if (tjDecompressHeader3(tj, buf, n, &w, &h, &ss, &cs) < 0) {
			/* TurboJPEG knows only its own sampling kinds; libjpeg reads any valid header.
			 * subsamp stays -1, and decode_jpeg then decodes with libjpeg too. When
			 * libjpeg fails as well, the file is bad: TurboJPEG's message says why. */
			char m[256];
			int c;
			snprintf(m, sizeof m, "%s", tjGetErrorStr2(tj));
			decoder_reset();
			if (mae_jpeg_fallback_info(buf, n, &w, &h, &c, NULL, 0) < 0)
				return mae_fail(err, errn, "JPEG: %s", m);
			if (w <= 0 || h <= 0)
				return mae_fail(err, errn, "JPEG: bad size %dx%d", w, h);
			info->w = w, info->h = h, info->c = c;
			return 0;
		}
		if (w <= 0 || h <= 0)
			return mae_fail(err, errn, "JPEG: bad size %dx%d", w, h);
		info->w = w, info->h = h, info->subsamp = ss;
		info->c = cs == TJCS_GRAY ? 1 : (cs == TJCS_CMYK || cs == TJCS_YCCK) ? 4 : 3;
		return 0;
	}
	if (info->fmt == MAE_IMG_PNG) {
		/* IHDR is the first chunk: width, height, bit depth, colour type */
		const unsigned char *p = buf;
		if (n < 33 || memcmp(p + 12, "IHDR", 4))
			return mae_fail(err, errn, "PNG: missing IHDR");
		uint32_t w = (uint32_t)p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19];
		uint32_t h = (uint32_t)p[20] << 24 | p[21] << 16 | p[22] << 8 | p[23];
		if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff)
			return mae_fail(err, errn, "PNG: bad size %ux%u", w, h);
		info->w = (int)w, info->h = (int)h;
		info->c = (p[25] & 2) || p[25] == 3 ? 3 : 1;
		return 0;
	}
	if (info->fmt == MAE_IMG_WAV) {   /* its spectrogram's size (audio.h) */
		mae_wav w;
		if (mae_wav_parse(buf, n, &w, err, errn) < 0)
			return -1;
		int64_t t = mae_fbank_frames(w.n);
		if (t < 1)
			return mae_fail(err, errn, "WAV: %lld samples, shorter than one 25 ms frame", (long long)w.n);
		if (t > (int64_t)1 << 20)
			return mae_fail(err, errn, "WAV: %lld frames, over the limit of %d", (long long)t, 1 << 20);
		info->w = MAE_FBANK_BINS, info->h = (int)t, info->c = 1;
		return 0;
	}
	return mae_fail(err, errn, "not a JPEG, PNG or WAV file");
}

/* ------------------------------------------------------------------------------------------
 * Decode */

void mae_jpeg_scale(int w, int h, int min_w, int min_h, int *num, int *denom)
{
	int nsf = 0;
	tjscalingfactor *sf = tjGetScalingFactors(&nsf);
	*num = *denom = 1;
	if (min_w <= 0 && min_h <= 0)
		return;   /* full size */
	for (int i = 0; sf && i < nsf; i++) {
		if (sf[i].num > sf[i].denom)
			continue;
		if (TJSCALED(w, sf[i]) < min_w || TJSCALED(h, sf[i]) < min_h)
			continue;
		/* smaller than the best so far? */
		if ((long)sf[i].num * *denom < (long)*num * sf[i].denom)
			*num = sf[i].num, *denom = sf[i].denom;
	}
}

static int decode_jpeg(const void *buf, size_t n, int c, int min_w, int min_h, mae_image *img,
                       double *scale, char *err, size_t errn)
{
	mae_imginfo info;
	if (mae_image_info(buf, n, &info, err, errn) < 0)
		return -1;
	int num, den;
	mae_jpeg_scale(info.w, info.h, min_w, min_h, &num, &den);
	tjscalingfactor sf = { num, den };
	int w = TJSCALED(info.w, sf), h = TJSCALED(info.h, sf);
	if ((int64_t)w * h > MAE_MAX_PIXELS)
		return mae_fail(err, errn, "JPEG: %dx%d is more than %lld pixels", w, h,
		            (long long)MAE_MAX_PIXELS);
	int cmyk = info.c == 4;
	int dc = cmyk ? 4 : c;
	if (mae_image_alloc(img, w, h, dc) < 0)
		return mae_fail(err, errn, "out of memory for %dx%d", w, h);
	tjhandle tj = decoder();
	int pf = cmyk ? TJPF_CMYK : c == 1 ? TJPF_GRAY : TJPF_RGB;
	/* Default flags: accurate integer IDCT and fancy upsampling, as PIL's decoder. Like PIL,
	 * a file that ends early is an error and a recoverable oddity ("extraneous bytes before
	 * marker") is not: libjpeg has then decoded the whole image. A file whose sampling
	 * TurboJPEG's header call did not know (subsamp -1) is decoded through libjpeg's API with
	 * the same settings (jpeg_fallback.c). */
	int rc = 0;
	if (info.subsamp < 0)
		rc = mae_jpeg_fallback_decode(buf, n, num, den, img, err, errn);
	else if (tjDecompress2(tj, buf, n, img->px, w, 0, h, pf, TJFLAG_LIMITSCANS) < 0) {
		const char *m = tjGetErrorStr2(tj);
		if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(m, "Premature end"))
			rc = mae_fail(err, errn, "JPEG: %s", m);
	}
	if (rc < 0) {
		mae_image_free(img);
		return -1;
	}
	if (cmyk) {
		/* Adobe CMYK JPEGs store inverted ink: R = C*K/255 on the stored values. */
		mae_image rgb;
		if (mae_image_alloc(&rgb, w, h, c) < 0) {
			mae_image_free(img);
			return mae_fail(err, errn, "out of memory for %dx%d", w, h);
		}
		for (int64_t i = 0; i < (int64_t)w * h; i++) {
			const uint8_t *s = img->px + 4 * i;
			uint8_t px[3];
			for (int k = 0; k < 3; k++)
				px[k] = (uint8_t)((s[k] * s[3] + 127) / 255);
			if (c == 3)
				memcpy(rgb.px + 3 * i, px, 3);
			else
				rgb.px[i] = luma(px);
		}
		mae_image_free(img);
		*img = rgb;
	}
	if (scale)
		*scale = (double)w / info.w;
	return 0;
}

static int decode_png(const void *buf, size_t n, int c, mae_image *img, char *err, size_t errn)
{
	struct pngsrc src = { buf, n, 0, err, errn };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error,
	                                         png_on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	mae_image raw;
	memset(&raw, 0, sizeof raw);
	memset(img, 0, sizeof *img);
	png_bytep *volatile rows = NULL;   /* volatile: set after setjmp, freed after longjmp */
	if (err && errn)
		*err = 0;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return mae_fail(err, errn, "out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(rows);
		mae_image_free(&raw);
		mae_image_free(img);
		if (err && errn && !*err)
			mae_fail(err, errn, "PNG: corrupt");
		return -1;
	}
	png_set_read_fn(png, &src, png_read_mem);
	png_set_user_limits(png, 1 << 30, 1 << 30);
	png_read_info(png, info);
	png_uint_32 w, h;
	int depth, ctype;
	png_get_IHDR(png, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
	if ((int64_t)w * h > MAE_MAX_PIXELS) {
		mae_fail(err, errn, "PNG: %ux%u is more than %lld pixels", w, h, (long long)MAE_MAX_PIXELS);
		png_longjmp(png, 1);
	}
	/* To 8-bit grey or RGB, alpha dropped (as PIL's convert("RGB") / convert("L")). */
	if (depth == 16)
		png_set_strip_16(png);
	if (ctype == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (ctype & PNG_COLOR_MASK_ALPHA)
		png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	int fc = png_get_channels(png, info);
	if (fc != 1 && fc != 3) {
		mae_fail(err, errn, "PNG: unsupported channel count %d", fc);
		png_longjmp(png, 1);
	}
	if (mae_image_alloc(&raw, (int)w, (int)h, fc) < 0) {
		mae_fail(err, errn, "out of memory for %ux%u", w, h);
		png_longjmp(png, 1);
	}
	rows = malloc(sizeof *rows * h);
	if (!rows) {
		mae_fail(err, errn, "out of memory");
		png_longjmp(png, 1);
	}
	for (png_uint_32 y = 0; y < h; y++)
		rows[y] = raw.px + (size_t)y * raw.stride;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	if (fc == c) {
		*img = raw;
		return 0;
	}
	if (mae_image_alloc(img, (int)w, (int)h, c) < 0) {
		mae_image_free(&raw);
		return mae_fail(err, errn, "out of memory");
	}
	mae_image_convert(&raw, img);
	mae_image_free(&raw);
	return 0;
}

int mae_image_decode(const void *buf, size_t n, int c, int min_w, int min_h, mae_image *img,
                     double *scale, char *err, size_t errn)
{
	memset(img, 0, sizeof *img);
	if (scale)
		*scale = 1;
	if (c != 1 && c != 3)
		return mae_fail(err, errn, "bad channel count %d", c);
	switch (mae_image_sniff(buf, n)) {
	case MAE_IMG_JPEG: return decode_jpeg(buf, n, c, min_w, min_h, img, scale, err, errn);
	case MAE_IMG_PNG:  return decode_png(buf, n, c, img, err, errn);
	case MAE_IMG_WAV:  return mae_fail(err, errn, "a WAV clip, not a picture (mae-decode reads it as a spectrogram)");
	default:           return mae_fail(err, errn, n ? "not a JPEG or PNG file" : "empty file");
	}
}

int mae_image_load(const char *path, int c, int min_w, int min_h, mae_image *img, double *scale,
                   char *err, size_t errn)
{
	void *buf;
	size_t n;
	if (mae_image_readfile(path, (size_t)1 << 31, &buf, &n, err, errn) < 0)
		return -1;
	int r = mae_image_decode(buf, n, c, min_w, min_h, img, scale, err, errn);
	free(buf);
	return r;
}

/* ------------------------------------------------------------------------------------------
 * Resampling: Pillow's libImaging/Resample.c (BICUBIC), reproduced operation for operation. */

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic(double x)
{
	const double a = -0.5;
	if (x < 0)
		x = -x;
	if (x < 1)
		return ((a + 2) * x - (a + 3)) * x * x + 1;
	if (x < 2)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0;
}

/* Coefficients for outputs xx in [o0, o0+on) of a resampling of [in0, in1) of an axis of
 * length insize onto outsize samples: bounds[2k] first source index, bounds[2k+1] count,
 * kk[k*ksize ...] fixed-point weights. Returns ksize, or -1 on allocation failure. */
static int coeffs(int insize, double in0, double in1, int outsize, int o0, int on,
                  int **boundsp, int32_t **kkp)
{
	double scale = (in1 - in0) / outsize, filterscale = scale < 1 ? 1 : scale;
	double support = 2.0 * filterscale;
	int ksize = (int)ceil(support) * 2 + 1;
	double *k = malloc(sizeof *k * ksize);
	int32_t *kk = malloc(sizeof *kk * (size_t)on * ksize);
	int *bounds = malloc(sizeof *bounds * 2 * (size_t)on);
	if (!k || !kk || !bounds) {
		free(k), free(kk), free(bounds);
		return -1;
	}
	for (int i = 0; i < on; i++) {
		int xx = o0 + i;
		double center = in0 + (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
		if (xmin < 0)
			xmin = 0;
		if (xmax > insize)
			xmax = insize;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			double w = bicubic((x + xmin - center + 0.5) * ss);
			k[x] = w;
			ww += w;
		}
		for (int x = 0; x < ksize; x++) {
			double v = x < xmax ? (ww != 0 ? k[x] / ww : k[x]) : 0;
			kk[(size_t)i * ksize + x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
			                                  : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
		}
		bounds[2 * i] = xmin;
		bounds[2 * i + 1] = xmax;
	}
	free(k);
	*boundsp = bounds, *kkp = kk;
	return ksize;
}

static inline uint8_t clip8(int32_t in)
{
	if (in >= (1 << PRECISION_BITS << 8))
		return 255;
	if (in <= 0)
		return 0;
	return (uint8_t)(in >> PRECISION_BITS);
}

/* Horizontal pass: rows [0, nrows) of dst from rows [row0, row0+nrows) of src.
 * PIL walks each output pixel's taps along a row, which does not vectorize. The same sums are
 * made here on strips of rows turned on their side: in a strip of S rows, source column x
 * becomes one contiguous line of S*c bytes, so every tap is a multiply-add over whole lines
 * (the pattern of the vertical pass), and the integers come out the same. */
#define STRIP 32
static int pass_h(const mae_image *src, int row0, int nrows, mae_image *dst, int ksize,
                  const int *bounds, const int32_t *kk)
{
	int c = src->c, W = src->w, ow = dst->w;
	size_t L = (size_t)STRIP * c + 4;   /* + 4: room for the 4-byte moves below */
	uint8_t *T = malloc((size_t)W * L), *O = malloc((size_t)ow * L);
	int32_t *acc = malloc(sizeof *acc * L);
	if (!T || !O || !acc) {
		free(T), free(O), free(acc);
		return -1;
	}
	for (int y0 = 0; y0 < nrows; y0 += STRIP) {
		int S = nrows - y0 < STRIP ? nrows - y0 : STRIP;
		size_t n = (size_t)S * c;
		/* turn the strip: T[x][r*c + ch] = src[row0 + y0 + r][x*c + ch] */
		for (int r = 0; r < S; r++) {
			const uint8_t *s = src->px + (size_t)(row0 + y0 + r) * src->stride;
			uint8_t *t = T + (size_t)r * c;
			if (c == 3) {
				/* 4-byte moves; the extra byte lands where the next row's pixel goes */
				for (int x = 0; x < W - 1; x++, t += L, s += 3)
					memcpy(t, s, 4);
				t[0] = s[0], t[1] = s[1], t[2] = s[2];
			}
			else if (c == 1)
				for (int x = 0; x < W; x++, t += L)
					*t = s[x];
			else
				for (int x = 0; x < W; x++, t += L, s += c)
					memcpy(t, s, c);
		}
		for (int xx = 0; xx < ow; xx++) {
			int xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1];
			const int32_t *k = kk + (size_t)xx * ksize;
			for (size_t i = 0; i < n; i++)
				acc[i] = 1 << (PRECISION_BITS - 1);
			for (int x = 0; x < xmax; x++) {
				const uint8_t *line = T + (size_t)(xmin + x) * L;
				int32_t w = k[x];
				for (size_t i = 0; i < n; i++)
					acc[i] += line[i] * w;
			}
			uint8_t *o = O + (size_t)xx * L;
			for (size_t i = 0; i < n; i++)
				o[i] = clip8(acc[i]);
		}
		/* and back: dst[y0 + r][xx*c + ch] = O[xx][r*c + ch] */
		for (int r = 0; r < S; r++) {
			uint8_t *d = dst->px + (size_t)(y0 + r) * dst->stride;
			const uint8_t *o = O + (size_t)r * c;
			if (c == 3) {
				for (int xx = 0; xx < ow - 1; xx++, o += L, d += 3)
					memcpy(d, o, 4);   /* the extra byte is rewritten next */
				d[0] = o[0], d[1] = o[1], d[2] = o[2];
			}
			else
				for (int xx = 0; xx < ow; xx++, o += L, d += c)
					memcpy(d, o, c);
		}
	}
	free(T), free(O), free(acc);
	return 0;
}

/* Vertical pass: every row yy of dst from rows bounds[2yy].. (relative to src->px). */
static void pass_v(const mae_image *src, mae_image *dst, int ksize, const int *bounds,
                   const int32_t *kk)
{
	int n = dst->w * dst->c;
	int32_t *acc = malloc(sizeof *acc * n);
	for (int yy = 0; yy < dst->h; yy++) {
		int ymin = bounds[2 * yy], ymax = bounds[2 * yy + 1];
		const int32_t *k = kk + (size_t)yy * ksize;
		uint8_t *d = dst->px + (size_t)yy * dst->stride;
		if (acc) {
			/* row-at-a-time accumulation: the same sums as PIL's per-pixel loop, in the
			 * same order, so the same integers */
			for (int i = 0; i < n; i++)
				acc[i] = 1 << (PRECISION_BITS - 1);
			for (int y = 0; y < ymax; y++) {
				const uint8_t *s = src->px + (size_t)(ymin + y) * src->stride;
				int32_t w = k[y];
				for (int i = 0; i < n; i++)
					acc[i] += s[i] * w;
			}
			for (int i = 0; i < n; i++)
				d[i] = clip8(acc[i]);
		} else {
			for (int i = 0; i < n; i++) {
				int32_t s0 = 1 << (PRECISION_BITS - 1);
				for (int y = 0; y < ymax; y++)
					s0 += src->px[(size_t)(ymin + y) * src->stride + i] * k[y];
				d[i] = clip8(s0);
			}
		}
	}
	free(acc);
}

int mae_resample(const mae_image *src, const double box[4], int out_w, int out_h,
                 int ox, int oy, mae_image *dst)
{
	if (out_w <= 0 || out_h <= 0 || dst->c != src->c || ox < 0 || oy < 0 ||
	    ox + dst->w > out_w || oy + dst->h > out_h || box[0] < 0 || box[1] < 0 ||
	    box[2] > src->w || box[3] > src->h || box[2] <= box[0] || box[3] <= box[1])
		return -1;
	/* PIL skips a pass that would be the identity */
	int need_h = out_w != src->w || box[0] != 0 || box[2] != out_w;
	int need_v = out_h != src->h || box[1] != 0 || box[3] != out_h;
	int *bh = NULL, *bv = NULL;
	int32_t *kh = NULL, *kv = NULL;
	int ksh = 0, ksv, rc = -1;
	mae_image tmp;
	memset(&tmp, 0, sizeof tmp);
	if (need_h && (ksh = coeffs(src->w, box[0], box[2], out_w, ox, dst->w, &bh, &kh)) < 0)
		goto out;
	if ((ksv = coeffs(src->h, box[1], box[3], out_h, oy, dst->h, &bv, &kv)) < 0)
		goto out;
	int first = bv[0], last = bv[2 * (dst->h - 1)] + bv[2 * (dst->h - 1) + 1];
	if (!need_v) {
		/* rows map one to one: horizontal pass straight into dst (or a copy) */
		mae_image s = mae_image_view(src, 0, 0, src->w, src->h);
		if (need_h) {
			if (pass_h(&s, oy, dst->h, dst, ksh, bh, kh) < 0)
				goto out;
		} else {
			for (int y = 0; y < dst->h; y++)
				memcpy(dst->px + (size_t)y * dst->stride,
				       src->px + (size_t)(oy + y) * src->stride + (size_t)ox * src->c,
				       (size_t)dst->w * src->c);
		}
		rc = 0;
		goto out;
	}
	for (int i = 0; i < dst->h; i++)
		bv[2 * i] -= first;
	if (need_h) {
		if (mae_image_alloc(&tmp, dst->w, last - first, src->c) < 0)
			goto out;
		if (pass_h(src, first, last - first, &tmp, ksh, bh, kh) < 0)
			goto out;
	} else {
		tmp = mae_image_view(src, ox, first, dst->w, last - first);
	}
	pass_v(&tmp, dst, ksv, bv, kv);
	rc = 0;
out:
	if (tmp.owned)
		mae_image_free(&tmp);
	free(bh), free(kh), free(bv), free(kv);
	return rc;
}

int mae_resize(const mae_image *src, mae_image *dst)
{
	double box[4] = { 0, 0, src->w, src->h };
	return mae_resample(src, box, dst->w, dst->h, 0, 0, dst);
}

/* ------------------------------------------------------------------------------------------
 * Encode */

struct membuf { unsigned char *p; size_t n, cap; int oom; };

static void png_write_mem(png_structp png, png_bytep data, png_size_t len)
{
	struct membuf *m = png_get_io_ptr(png);
	if (m->oom)
		return;
	if (m->n + len > m->cap) {
		size_t cap = m->cap ? m->cap : 1 << 16;
		while (cap < m->n + len)
			cap *= 2;
		unsigned char *q = realloc(m->p, cap);
		if (!q) {
			m->oom = 1;
			return;
		}
		m->p = q, m->cap = cap;
	}
	memcpy(m->p + m->n, data, len);
	m->n += len;
}

static void png_flush_mem(png_structp png) { (void)png; }

int mae_png_encode(const mae_image *img, void **buf, size_t *n, char *err, size_t errn)
{
	struct membuf m = { 0 };
	struct pngsrc es = { 0 };
	es.err = err, es.errn = errn;
	if (err && errn)
		*err = 0;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &es, png_on_error,
	                                          png_on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return mae_fail(err, errn, "out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(m.p);
		if (err && errn && !*err)
			mae_fail(err, errn, "PNG encoding failed");
		return -1;
	}
	png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
	png_set_compression_level(png, 6);
	png_set_IHDR(png, info, img->w, img->h, 8,
	             img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < img->h; y++)
		png_write_row(png, img->px + (size_t)y * img->stride);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	if (m.oom) {
		free(m.p);
		return mae_fail(err, errn, "out of memory");
	}
	*buf = m.p, *n = m.n;
	return 0;
}

int mae_jpeg_encode(const mae_image *img, int quality, void **buf, size_t *n, char *err,
                    size_t errn)
{
	if (!tj_enc) {
		tj_enc = tjInitCompress();
		tj_register();
	}
	if (!tj_enc)
		return mae_fail(err, errn, "cannot initialize TurboJPEG");
	unsigned char *out = NULL;
	unsigned long len = 0;
	int grey = img->c == 1;
	if (tjCompress2(tj_enc, img->px, img->w, (int)img->stride, img->h,
	                grey ? TJPF_GRAY : TJPF_RGB, &out, &len, grey ? TJSAMP_GRAY : TJSAMP_444,
	                quality, TJFLAG_ACCURATEDCT) < 0) {
		mae_fail(err, errn, "JPEG: %s", tjGetErrorStr2(tj_enc));
		tjFree(out);
		return -1;
	}
	/* hand back malloc'ed memory so callers free() whatever the format */
	*buf = malloc(len ? len : 1);
	if (!*buf) {
		tjFree(out);
		return mae_fail(err, errn, "out of memory");
	}
	memcpy(*buf, out, len);
	tjFree(out);
	*n = len;
	return 0;
}

int mae_image_save(const mae_image *img, const char *path, const char *fmt, int quality,
                   char *err, size_t errn)
{
	int jpeg = 0;
	if (fmt)
		jpeg = !strcasecmp(fmt, "jpeg") || !strcasecmp(fmt, "jpg");
	else {
		const char *dot = strrchr(path, '.');
		jpeg = dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
	}
	void *buf;
	size_t n;
	if ((jpeg ? mae_jpeg_encode(img, quality, &buf, &n, err, errn)
	          : mae_png_encode(img, &buf, &n, err, errn)) < 0)
		return -1;
	int rc = 0;
	if (!strcmp(path, "-")) {
		if (fwrite(buf, 1, n, stdout) != n || fflush(stdout))
			rc = mae_fail(err, errn, "stdout: %s", strerror(errno));
	} else {
		/* write beside and rename, so a watcher never sees half a picture */
		size_t pl = strlen(path) + 8;
		char *tmp = malloc(pl);
		if (!tmp) {
			free(buf);
			return mae_fail(err, errn, "out of memory");
		}
		snprintf(tmp, pl, "%s.tmp~", path);
		FILE *f = fopen(tmp, "wb");
		if (!f)
			rc = mae_fail(err, errn, "%s: %s", tmp, strerror(errno));
		else {
			if (fwrite(buf, 1, n, f) != n)
				rc = mae_fail(err, errn, "%s: %s", tmp, strerror(errno));
			if (fclose(f) && !rc)
				rc = mae_fail(err, errn, "%s: %s", tmp, strerror(errno));
			if (!rc && rename(tmp, path))
				rc = mae_fail(err, errn, "%s: %s", path, strerror(errno));
			if (rc)
				remove(tmp);
		}
		free(tmp);
	}
	free(buf);
	return rc;
}
