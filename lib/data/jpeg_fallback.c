/* jpeg_fallback.c: JPEGs that TurboJPEG refuses, decoded through libjpeg's own API.
 *
 * Why it exists: TurboJPEG's header call (tjDecompressHeader3) knows only its own sampling
 * kinds (TJSAMP_444, 422, 420, 440, 411, grey) and fails on any other valid file with "Could
 * not determine subsampling type": chroma sampled finer than luma (1x1,2x2,2x2), mixed
 * factors (2x1,1x2,1x1), 3x1, 4x2, 1x4 and the like. libjpeg decodes them, and so does PIL.
 * Both functions here do what image.c's TurboJPEG calls do, with the same library and the same
 * settings, so the pixels are those of TurboJPEG and of PIL's decoder. See jpeg_fallback.h. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "data/jpeg_fallback.h"
#include "mae/util/util.h"

#define MAX_SCANS 500   /* TurboJPEG's TJFLAG_LIMITSCANS: a hostile progressive file stays cheap */

/* Errors and the warnings that are errors leave through longjmp with the message in msg;
 * nothing is printed and nothing exits. */
struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr j)
{
	struct jerr *e = (struct jerr *)j->err;
	j->err->format_message(j, e->msg);
	longjmp(e->jb, 1);
}

/* A file that ends early is an error, as in image.c's TurboJPEG path and in PIL (libjpeg would
 * fill the rest with grey); the oddities libjpeg decodes past ("extraneous bytes before
 * marker") are not. Trace messages are dropped. */
static void on_message(j_common_ptr j, int level)
{
	if (level < 0 && j->err->msg_code == JWRN_JPEG_EOF)
		on_error(j);
}

static void on_progress(j_common_ptr j)
{
	struct jerr *e = (struct jerr *)j->err;
	if (((j_decompress_ptr)j)->input_scan_number > MAX_SCANS) {
		snprintf(e->msg, sizeof e->msg, "Progressive JPEG image has more than %d scans",
		         MAX_SCANS);
		longjmp(e->jb, 1);
	}
}

/* Before setjmp: d's errors go to e (the error path destroys d, so it starts zeroed). */
static void init(j_decompress_ptr d, struct jerr *e)
{
	memset(d, 0, sizeof *d);
	d->err = jpeg_std_error(&e->pub);
	e->pub.error_exit = on_error;
	e->pub.emit_message = on_message;
	e->msg[0] = 0;
}

/* After setjmp: read buf's header, the scan limit watching. */
static void start(j_decompress_ptr d, struct jpeg_progress_mgr *prog, const void *buf, size_t n)
{
	jpeg_create_decompress(d);
	prog->progress_monitor = on_progress;
	d->progress = prog;
	jpeg_mem_src(d, buf, n);
	jpeg_read_header(d, TRUE);
}

int mae_jpeg_fallback_info(const void *buf, size_t n, int *w, int *h, int *c, char *err,
                           size_t errn)
{
	struct jpeg_decompress_struct d;
	struct jpeg_progress_mgr prog;
	struct jerr e;
	init(&d, &e);
	if (setjmp(e.jb)) {
		jpeg_destroy_decompress(&d);
		return mae_fail(err, errn, "JPEG: %s", e.msg);
	}
	start(&d, &prog, buf, n);
	*w = (int)d.image_width, *h = (int)d.image_height;
	*c = d.jpeg_color_space == JCS_GRAYSCALE ? 1
	   : d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK ? 4 : 3;
	jpeg_destroy_decompress(&d);
	return 0;
}

int mae_jpeg_fallback_decode(const void *buf, size_t n, int num, int den, mae_image *img,
                             char *err, size_t errn)
{
	struct jpeg_decompress_struct d;
	struct jpeg_progress_mgr prog;
	struct jerr e;
	init(&d, &e);
	if (setjmp(e.jb)) {
		jpeg_destroy_decompress(&d);
		return mae_fail(err, errn, "JPEG: %s", e.msg);
	}
	start(&d, &prog, buf, n);
	/* the defaults are already TurboJPEG's and PIL's: JDCT_ISLOW, fancy upsampling */
	d.out_color_space = img->c == 1 ? JCS_GRAYSCALE : img->c == 4 ? JCS_CMYK : JCS_RGB;
	d.scale_num = (unsigned)num, d.scale_denom = (unsigned)den;
	jpeg_start_decompress(&d);
	if ((int)d.output_width != img->w || (int)d.output_height != img->h ||
	    d.output_components != img->c) {
		snprintf(e.msg, sizeof e.msg, "decodes to %ux%ux%d, not the %dx%dx%d expected",
		         d.output_width, d.output_height, d.output_components, img->w, img->h, img->c);
		longjmp(e.jb, 1);
	}
	while (d.output_scanline < d.output_height) {
		JSAMPROW row = img->px + (size_t)d.output_scanline * img->stride;
		jpeg_read_scanlines(&d, &row, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	return 0;
}
