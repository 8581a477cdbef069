/* test_image: image codecs, resampling, patchify, IDX, data set order and the crop planner.
 * Prints TAP; exits non-zero on any failure. Real files come from the Debian packages in
 * DATA.md; the PIL comparisons live in tests/decode-*.t. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "mae/data/dataset.h"
#include "mae/data/image.h"
#include "mae/data/patchify.h"
#include "mae/util/rng.h"

#include "tap.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define BABOON "/usr/share/doc/opencv-doc/examples/data/baboon.jpg"   /* 512x512 4:2:2 */

static void random_image(mae_image *im, int w, int h, int c, uint64_t seed)
{
	mae_rng r;
	mae_rng_seed(&r, seed, 0, 0, "test");
	mae_image_alloc(im, w, h, c);
	for (size_t i = 0; i < (size_t)w * h * c; i++)
		im->px[i] = (uint8_t)mae_rng_below(&r, 256);
}

static void test_resample(void)
{
	mae_image src, full, win, same;
	random_image(&src, 97, 61, 3, 1);
	/* identity */
	mae_image_alloc(&same, 97, 61, 3);
	ok(mae_resize(&src, &same) == 0 && !memcmp(same.px, src.px, 97 * 61 * 3),
	   "resize to the same size is the identity");
	/* a window equals the crop of the whole result, down and up, fractional box */
	int sizes[3][2] = { { 40, 23 }, { 200, 150 }, { 97, 30 } };
	for (int s = 0; s < 3; s++) {
		int ow = sizes[s][0], oh = sizes[s][1];
		double box[4] = { 1.25, 2.5, 90.75, 60 };
		mae_image_alloc(&full, ow, oh, 3);
		mae_image_alloc(&win, ow / 2, oh / 3, 3);
		int r1 = mae_resample(&src, box, ow, oh, 0, 0, &full);
		int ox = ow / 3, oy = oh / 2;
		int r2 = mae_resample(&src, box, ow, oh, ox, oy, &win);
		int same_bytes = !r1 && !r2;
		for (int y = 0; y < win.h && same_bytes; y++)
			same_bytes = !memcmp(win.px + y * win.stride,
			                     full.px + (size_t)(oy + y) * full.stride + (size_t)ox * 3,
			                     (size_t)win.w * 3);
		ok(same_bytes, "resample window (%d,%d) of %dx%d equals the crop of the full result",
		   ox, oy, ow, oh);
		mae_image_free(&full);
		mae_image_free(&win);
	}
	/* a constant image stays constant (weights sum to one in fixed point) */
	mae_image k, kd;
	mae_image_alloc(&k, 300, 200, 1);
	memset(k.px, 200, 300 * 200);
	mae_image_alloc(&kd, 33, 77, 1);
	mae_resize(&k, &kd);
	int flat = 1;
	for (int i = 0; i < 33 * 77; i++)
		flat &= kd.px[i] == 200;
	ok(flat, "a constant image stays constant when resized");
	/* invalid arguments are refused */
	double bad[4] = { 0, 0, 98, 61 };
	ok(mae_resample(&src, bad, 10, 10, 0, 0, &kd) < 0, "a box outside the image is refused");
	mae_image_free(&k), mae_image_free(&kd), mae_image_free(&same), mae_image_free(&src);
}

static void test_convert_flip(void)
{
	mae_image rgb, g, back;
	mae_image_alloc(&rgb, 2, 1, 3);
	uint8_t px[6] = { 255, 0, 0, 10, 200, 30 };
	memcpy(rgb.px, px, 6);
	mae_image_alloc(&g, 2, 1, 1);
	mae_image_convert(&rgb, &g);
	/* PIL: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 */
	ok(g.px[0] == 76 && g.px[1] == 124, "RGB to grey as PIL's convert('L') (%d %d)", g.px[0],
	   g.px[1]);
	mae_image_alloc(&back, 2, 1, 3);
	mae_image_convert(&g, &back);
	ok(back.px[3] == 124 && back.px[4] == 124 && back.px[5] == 124, "grey to RGB replicates");
	mae_image_flip(&rgb);
	ok(!memcmp(rgb.px, px + 3, 3) && !memcmp(rgb.px + 3, px, 3), "horizontal flip");
	mae_image_free(&rgb), mae_image_free(&g), mae_image_free(&back);
}

static void test_codecs(void)
{
	char err[256];
	mae_image im, dec;
	random_image(&im, 33, 17, 3, 2);
	void *buf;
	size_t n;
	ok(mae_png_encode(&im, &buf, &n, err, sizeof err) == 0, "PNG encode");
	int r = mae_image_decode(buf, n, 3, 0, 0, &dec, NULL, err, sizeof err);
	ok(!r && dec.w == 33 && dec.h == 17 && !memcmp(dec.px, im.px, 33 * 17 * 3),
	   "PNG round trip is lossless");
	mae_image_free(&dec);
	/* truncated PNG */
	r = mae_image_decode(buf, n / 2, 3, 0, 0, &dec, NULL, err, sizeof err);
	ok(r < 0 && *err, "truncated PNG fails: %s", err);
	free(buf);
	ok(mae_jpeg_encode(&im, 95, &buf, &n, err, sizeof err) == 0 &&
	   mae_image_sniff(buf, n) == MAE_IMG_JPEG, "JPEG encode");
	free(buf);
	mae_image_free(&im);

	if (access(BABOON, R_OK)) {
		ok(0, "%s missing (install opencv-doc)", BABOON);
		return;
	}
	void *jpg;
	size_t jn;
	mae_image_readfile(BABOON, 1 << 26, &jpg, &jn, err, sizeof err);
	mae_imginfo info;
	ok(mae_image_info(jpg, jn, &info, err, sizeof err) == 0 && info.w == 512 && info.h == 512 &&
	   info.c == 3, "JPEG header: 512x512x3");
	/* TurboJPEG accepts these 3 bytes without setting a size (found by make fuzz) */
	r = mae_image_info("\xff\xd8\xff", 3, &info, err, sizeof err);
	ok(r < 0 && strstr(err, "bad size 0x0"), "a JPEG of its first 3 bytes refused: %s", r < 0 ? err : "accepted");
	double scale;
	r = mae_image_decode(jpg, jn, 3, 224, 224, &dec, &scale, err, sizeof err);
	ok(!r && dec.w == 256 && dec.h == 256 && scale == 0.5,
	   "DCT scaling: 512 -> 256 for a 224 target (got %dx%d)", dec.w, dec.h);
	mae_image_free(&dec);
	r = mae_image_decode(jpg, jn, 1, 0, 0, &dec, &scale, err, sizeof err);
	ok(!r && dec.w == 512 && dec.c == 1 && scale == 1, "full-size grey decode");
	mae_image_free(&dec);
	r = mae_image_decode(jpg, jn / 3, 3, 0, 0, &dec, NULL, err, sizeof err);
	ok(r < 0, "truncated JPEG fails: %s", err);
	memset((char *)jpg + 2000, 0x00, 2000);
	r = mae_image_decode(jpg, jn, 3, 0, 0, &dec, NULL, err, sizeof err);
	if (!r)
		mae_image_free(&dec);
	ok(1, "zeroed JPEG data does not crash (%s)", r ? err : "decoded");
	ok(mae_image_decode("GIF89a", 6, 3, 0, 0, &dec, NULL, err, sizeof err) < 0,
	   "unknown format refused: %s", err);
	free(jpg);
	int num, den;
	mae_jpeg_scale(6000, 4000, 300, 300, &num, &den);
	ok(num * 8 == den, "6000x4000 for 300x300 decodes at 1/8 (%d/%d)", num, den);
	mae_jpeg_scale(500, 375, 224, 224, &num, &den);
	ok(num * 8 >= den * 5, "500x375 for 224 stays at or above 5/8 (%d/%d)", num, den);
}

static void test_patchify(void)
{
	for (int C = 1; C <= 3; C += 2) {
		int B = 2, H = 16, W = 12, p = 4;   /* 384 pixels: every byte value fits */
		mae_image im;
		random_image(&im, W, H * B, C, 3);
		for (int i = 0; i < 256; i++)
			im.px[i * C] = (uint8_t)i;   /* every value once */
		float mean[3], std[3];
		mae_norm_defaults(C, mean, std);
		int N = (H / p) * (W / p), P = p * p * C;
		float *x = malloc(sizeof *x * B * N * P);
		uint8_t *back = malloc((size_t)B * H * W * C);
		mae_patchify(x, im.px, B, H, W, C, p, mean, std);
		/* the (a, b, c) order, checked on the formula */
		int good = 1;
		for (int n = 0; n < B; n++)
			for (int i = 0; i < H / p; i++)
				for (int j = 0; j < W / p; j++)
					for (int a = 0; a < p; a++)
						for (int b = 0; b < p; b++)
							for (int c = 0; c < C; c++) {
								uint8_t u = im.px[(((size_t)n * H + i * p + a) * W + j * p + b) * C + c];
								float want = ((float)u / 255.0f - mean[c]) / std[c];
								float got = x[((size_t)n * N + i * (W / p) + j) * P + (a * p + b) * C + c];
								good &= got == want;
							}
		ok(good, "patchify C=%d: x[n, i*gw+j, (a*p+b)*C+c] = (img/255 - mean)/std", C);
		mae_unpatchify(back, x, B, H, W, C, p, mean, std);
		ok(!memcmp(back, im.px, (size_t)B * H * W * C), "unpatchify C=%d restores every byte", C);
		free(x), free(back);
		mae_image_free(&im);
	}
}

static void test_idx(void)
{
	char err[256];
	mae_idx idx;
	if (access(FMNIST, R_OK)) {
		ok(0, "%s missing (install dataset-fashion-mnist)", FMNIST);
		return;
	}
	int r = mae_idx_load(FMNIST, &idx, err, sizeof err);
	ok(!r && idx.ndim == 3 && idx.dims[0] == 10000 && idx.dims[1] == 28 && idx.dims[2] == 28,
	   "Fashion-MNIST t10k images: [10000, 28, 28]");
	/* a truncated copy, gzip'd */
	char path[] = "/tmp/test_image_idx_XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	gzFile g = gzopen(path, "wb");
	unsigned char hdr[16] = { 0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28 };
	gzwrite(g, hdr, 16);
	gzwrite(g, idx.data, 5000);
	gzclose(g);
	mae_idx bad;
	r = mae_idx_load(path, &bad, err, sizeof err);
	ok(r < 0 && strstr(err, "truncated"), "truncated IDX refused: %s", err);
	/* bad magic, plain file */
	FILE *f = fopen(path, "wb");
	fwrite("\x00\x01\x08\x03", 1, 4, f);
	fclose(f);
	r = mae_idx_load(path, &bad, err, sizeof err);
	ok(r < 0, "bad IDX magic refused: %s", err);
	/* trailing bytes */
	g = gzopen(path, "wb");
	unsigned char h1[8] = { 0, 0, 8, 1, 0, 0, 0, 3 };
	gzwrite(g, h1, 8);
	gzwrite(g, "abcd", 4);
	gzclose(g);
	r = mae_idx_load(path, &bad, err, sizeof err);
	ok(r < 0 && strstr(err, "trailing"), "trailing IDX bytes refused: %s", err);
	/* 150 MB of data: the reader's buffer (64 MB at first, doubled as data arrives) grows
	 * twice and must keep every byte in place */
	g = gzopen(path, "wb1");
	unsigned char h3[16] = { 0, 0, 8, 3, 0, 0, 0, 150, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0xe8 };
	gzwrite(g, h3, 16);
	unsigned char *chunk = malloc(1000000);
	for (int c = 0; c < 150; c++) {
		for (int i = 0; i < 1000000; i++)
			chunk[i] = (unsigned char)(((long)c * 1000000 + i) % 251);
		gzwrite(g, chunk, 1000000);
	}
	gzclose(g);
	free(chunk);
	mae_idx big;
	r = mae_idx_load(path, &big, err, sizeof err);
	long wrong = r ? -1 : 0;
	for (long i = 0; !r && i < 150000000; i++)
		wrong += big.data[i] != (unsigned char)(i % 251);
	ok(!r && big.nbytes == 150000000 && wrong == 0, "a 150 MB IDX file read whole (%s, %ld bytes wrong)",
	   r ? err : "ok", wrong);
	if (!r)
		mae_idx_free(&big);
	unlink(path);
	mae_idx_free(&idx);

	mae_dataset ds;
	mae_dataset_init(&ds);
	r = mae_dataset_add(&ds, "fashion-mnist:test", err, sizeof err);
	mae_dataset_finish(&ds);
	ok(!r && ds.n == 10000 && ds.nclasses == 10 && ds.s[0].label == 9 && ds.s[1].label == 2,
	   "fashion-mnist:test: 10000 labeled samples, first labels 9 2");
	mae_dataset_free(&ds);
}

static void test_order(void)
{
	for (int shuffle = 0; shuffle < 2; shuffle++) {
		int64_t n = 1001, seen[1001] = { 0 }, total = 0;
		int64_t *pos = malloc(sizeof *pos * n);
		for (int s = 0; s < 3; s++) {
			int64_t m = mae_dataset_order(n, shuffle, 7, 2, s, 3, pos);
			total += m;
			for (int64_t k = 0; k < m; k++)
				seen[pos[k]]++;
		}
		int once = 1;
		for (int64_t i = 0; i < n; i++)
			once &= seen[i] == 1;
		ok(total == n && once, "3 shards (shuffle %d) cover 1001 samples exactly once", shuffle);
		int64_t *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n);
		mae_dataset_order(n, 1, 7, 2, 0, 1, a);
		mae_dataset_order(n, 1, 7, 2, 0, 1, b);
		int same = !memcmp(a, b, sizeof *a * n);
		mae_dataset_order(n, 1, 7, 3, 0, 1, b);
		ok(same && memcmp(a, b, sizeof *a * n), "the shuffle depends on seed and epoch only");
		free(a), free(b), free(pos);
	}
}

static void test_rrc(void)
{
	double scale[2] = { 0.2, 1 }, ratio[2] = { 3.0 / 4, 4.0 / 3 };
	mae_rng r;
	int good = 1;
	double amin = 1, amax = 0;
	for (int i = 0; i < 2000; i++) {
		int x, y, w, h;
		mae_rng_seed(&r, 1, 0, (uint64_t)i, "decode");
		mae_rrc_params(640, 480, scale, ratio, &r, &x, &y, &w, &h);
		good &= x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 640 && y + h <= 480;
		double a = (double)w * h / (640 * 480);
		amin = fmin(amin, a), amax = fmax(amax, a);
		good &= (double)w / h > 0.74 && (double)w / h < 1.35;
	}
	ok(good && amin < 0.22 && amin > 0.19 && amax > 0.9,
	   "RRC crops inside the image, area %.3f..%.3f, ratio 3/4..4/3", amin, amax);
	int x, y, w, h;
	mae_rng_seed(&r, 1, 0, 0, "decode");
	mae_rrc_params(1000, 10, scale, ratio, &r, &x, &y, &w, &h);
	ok(w == 13 && h == 10 && x == 493 && y == 0, "RRC falls back to a centered 4/3 crop (%d,%d %dx%d)",
	   x, y, w, h);

	mae_augment a;
	mae_augment_defaults(&a, MAE_CROP_CENTER, 224, 224, 3);
	mae_image src;
	random_image(&src, 512, 384, 3, 4);
	uint8_t *out = malloc(224 * 224 * 3);
	char err[200];
	ok(mae_augment_image(&a, &src, &r, out, err, sizeof err) == 0, "center crop 512x384 -> 224");
	/* the same as resizing to 341x256 and cropping at (58, 16) */
	mae_image mid, o;
	mae_image_alloc(&mid, 341, 256, 3);
	mae_resize(&src, &mid);
	o = mae_image_view(&mid, 58, 16, 224, 224);
	int same = 1;
	for (int yy = 0; yy < 224; yy++)
		same &= !memcmp(out + yy * 224 * 3, o.px + yy * o.stride, 224 * 3);
	ok(same, "center crop = Resize(256) then CenterCrop(224) as torchvision");
	mae_augment_defaults(&a, MAE_CROP_NONE, 28, 28, 1);
	ok(mae_augment_image(&a, &src, &r, out, err, sizeof err) < 0, "native size mismatch: %s", err);
	mae_image_free(&mid);
	mae_image_free(&src);
	free(out);
}

/* Corrupted copies of a real JPEG and of a PNG: every one decodes or fails cleanly (run under
 * ASan by make asan). Bounded: a few hundred small files. */
static void test_fuzz(void)
{
	const char *small = "/usr/share/pixmaps/faces/astronaut.jpg";   /* 96x96 */
	char err[256];
	void *jpg;
	size_t jn;
	if (mae_image_readfile(small, 1 << 24, &jpg, &jn, err, sizeof err) < 0) {
		ok(0, "%s: %s (install gnome-control-center-data)", small, err);
		return;
	}
	mae_image im;
	random_image(&im, 40, 30, 3, 9);
	void *png;
	size_t pn;
	mae_png_encode(&im, &png, &pn, err, sizeof err);
	mae_image_free(&im);
	mae_augment a;
	mae_augment_defaults(&a, MAE_CROP_RRC, 32, 32, 3);
	uint8_t out[32 * 32 * 3];
	mae_rng r;
	int decoded = 0, failed = 0;
	for (int it = 0; it < 600; it++) {
		const void *src = it & 1 ? png : jpg;
		size_t n = it & 1 ? pn : jn;
		unsigned char *b = malloc(n);
		memcpy(b, src, n);
		mae_rng_seed(&r, 3, 0, (uint64_t)it, "fuzz");
		int flips = 1 + (int)mae_rng_below(&r, 8);
		for (int k = 0; k < flips; k++)
			b[mae_rng_below(&r, n)] ^= (unsigned char)(1 + mae_rng_below(&r, 255));
		size_t len = it % 7 == 0 ? (size_t)mae_rng_below(&r, n) : n;   /* sometimes cut */
		if (mae_augment_file(&a, b, len, &r, out, err, sizeof err) == 0)
			decoded++;
		else
			failed++;
		free(b);
	}
	ok(decoded + failed == 600, "600 corrupted JPEG/PNG files: %d decoded, %d refused, no crash",
	   decoded, failed);
	free(jpg);
	free(png);
}

int main(void)
{
	test_resample();
	test_convert_flip();
	test_codecs();
	test_patchify();
	test_idx();
	test_order();
	test_rrc();
	test_fuzz();
	return done();
}
