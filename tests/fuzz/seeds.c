/* seeds: the fuzz targets' starting inputs, made by libmae itself: seeds DIR writes
 * DIR/record/, DIR/safetensors/, DIR/idx/, DIR/image/, DIR/tar/ and DIR/ps/, each with a few
 * valid files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mae/train/checkpoint.h"
#include "mae/model/model.h"
#include "mae/data/image.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"
#include "fuzz_ps.h"

static const char *dir;

static void put(const char *kind, const char *name, const void *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, kind);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/%s", dir, kind, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		mae_die(MAE_EXIT_DATA, "%s: cannot write", path);
}

static void records(void)
{
	mae_record r = { 0 };
	int64_t s3[3] = { 2, 4, 16 }, s1[1] = { 2 };
	r.type = MAE_REC_BATCH;
	mae_rec_set_seq(&r, 7);
	mae_map_set_int(mae_rec_meta(&r), "epoch", 1);
	mae_tensor *t = mae_rec_add(&r, "patches", MAE_F32, 3, s3);
	for (int i = 0; i < 128; i++)
		((float *)t->data)[i] = (float)i / 64 - 1;
	t = mae_rec_add(&r, "label", MAE_I32, 1, s1);
	((int32_t *)t->data)[0] = 3, ((int32_t *)t->data)[1] = 9;
	void *buf;
	size_t n = mae_encode_record(&r, &buf);
	put("record", "batch", buf, n);
	free(buf);
	mae_rec_clear(&r);
	r.type = MAE_REC_HEADER;
	mae_map_set_str(mae_rec_meta(&r), "source", "seeds");
	n = mae_encode_record(&r, &buf);
	put("record", "header", buf, n);
	free(buf);
	mae_rec_free(&r);
}

static void checkpoints(void)
{
	const char *spec[] = { "micro-28,dim=8,depth=1,heads=2,dec_dim=8,dec_depth=1,dec_heads=2",
	                       "micro-28,mode=lomar,dim=8,depth=1,heads=2",
	                       "micro-28,mode=simmim,dim=8,depth=1,heads=2" };
	char err[256], path[1024];
	for (int i = 0; i < 3; i++) {
		mae_config c;
		mae_model *m;
		if (mae_config_parse(&c, spec[i], err, sizeof err) || !(m = mae_model_new(&c, err, sizeof err)))
			mae_die(MAE_EXIT_DATA, "%s: %s", spec[i], err);
		mae_model_init(m, 1);
		snprintf(path, sizeof path, "%s/safetensors", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/safetensors/%d", dir, i);
		if (mae_checkpoint_save(m, path, NULL, 0, err, sizeof err))
			mae_die(MAE_EXIT_DATA, "%s", err);
		mae_model_free(m);
	}
}

static void idx(void)
{
	unsigned char f[16 + 32] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4 };
	for (int i = 0; i < 32; i++)
		f[16 + i] = (unsigned char)(i * 8);
	put("idx", "plain", f, sizeof f);
	char path[1024];
	snprintf(path, sizeof path, "%s/idx/gz", dir);
	gzFile g = gzopen(path, "wb");
	if (!g || gzwrite(g, f, sizeof f) != (int)sizeof f || gzclose(g) != Z_OK)
		mae_die(MAE_EXIT_DATA, "%s: cannot write", path);
}

static void images(void)
{
	mae_image im;
	char err[256];
	if (mae_image_alloc(&im, 40, 30, 3))
		mae_die(MAE_EXIT_DATA, "image");
	for (int y = 0; y < 30; y++)
		for (int x = 0; x < 120; x++)
			im.px[y * im.stride + x] = (uint8_t)(x * 2 + y * 5);
	void *buf;
	size_t n;
	if (mae_jpeg_encode(&im, 90, &buf, &n, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	put("image", "rgb.jpg", buf, n);
	free(buf);
	if (mae_png_encode(&im, &buf, &n, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	put("image", "rgb.png", buf, n);
	free(buf);
	mae_image_free(&im);
	/* a 16 kHz 16-bit clip of 2000 samples (12 frames), the WAV path of the same target */
	enum { NS = 2000 };
	unsigned char wav[44 + 2 * NS];
	uint32_t len = 2 * NS, riff = 36 + len, rate = 16000, bps = 32000;
	memcpy(wav, "RIFF", 4), memcpy(wav + 4, &riff, 4), memcpy(wav + 8, "WAVEfmt ", 8);
	uint32_t fmtlen = 16;
	uint16_t fmt = 1, ch = 1, align = 2, bits = 16;
	memcpy(wav + 16, &fmtlen, 4), memcpy(wav + 20, &fmt, 2), memcpy(wav + 22, &ch, 2);
	memcpy(wav + 24, &rate, 4), memcpy(wav + 28, &bps, 4), memcpy(wav + 32, &align, 2);
	memcpy(wav + 34, &bits, 2), memcpy(wav + 36, "data", 4), memcpy(wav + 40, &len, 4);
	for (int i = 0; i < NS; i++) {
		int16_t v = (int16_t)(8000 * ((i * 37) % 200 - 100) / 100);
		memcpy(wav + 44 + 2 * i, &v, 2);
	}
	put("image", "clip.wav", wav, sizeof wav);
}

/* A tar member: a ustar header (checksum included) and its data padded to 512 bytes. */
static unsigned char *tar_buf;
static size_t tar_len;

static void tar_member(const char *name, char type, const void *data, size_t n)
{
	size_t pad = (n + 511) / 512 * 512;
	tar_buf = realloc(tar_buf, tar_len + 512 + pad);
	unsigned char *h = tar_buf + tar_len;
	memset(h, 0, 512 + pad);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011o", (unsigned)n);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	memcpy(h + 512, data, n);
	tar_len += 512 + pad;
}

/* Shards: two samples (a JPEG with a label, a PNG without), a GNU long name, a pax path, a
 * directory and a part that is ignored, then the end blocks; the same gzip'd. */
static void tars(void)
{
	mae_image im;
	char err[256];
	void *jpg, *png;
	size_t nj, np;
	if (mae_image_alloc(&im, 8, 6, 3))
		mae_die(MAE_EXIT_DATA, "image");
	for (size_t i = 0; i < 8 * 6 * 3; i++)
		im.px[i] = (uint8_t)(i * 5);
	if (mae_jpeg_encode(&im, 90, &jpg, &nj, err, sizeof err) || mae_png_encode(&im, &png, &np, err, sizeof err))
		mae_die(MAE_EXIT_DATA, "%s", err);
	mae_image_free(&im);
	static const char longname[] = "train/a-name-longer-than-the-hundred-bytes-of-a-ustar-header-"
	                               "so-that-it-takes-a-gnu-long-name-member-before-it/0002.png";
	char pax[64];   /* a record's length counts its own digits */
	if (snprintf(pax, sizeof pax, "%d path=train/pax/0003.jpg\n", 27) != 27)
		mae_die(MAE_EXIT_DATA, "seeds: pax record length");
	tar_member("./train", '5', "", 0);
	tar_member("./train/0001.jpg", '0', jpg, nj);
	tar_member("./train/0001.cls", '0', "7\n", 2);
	tar_member("./train/0001.json", '0', "{}", 2);
	tar_member("././@LongLink", 'L', longname, sizeof longname);
	tar_member("train/trimmed", '0', png, np);
	tar_member("PaxHeaders/0003", 'x', pax, 27);
	tar_member("train/0003-short", '0', jpg, nj);
	tar_member("train/pax/0003.cls", '0', "2", 1);
	tar_len += 1024;
	tar_buf = realloc(tar_buf, tar_len);
	memset(tar_buf + tar_len - 1024, 0, 1024);
	put("tar", "plain.tar", tar_buf, tar_len);
	char path[1024];
	snprintf(path, sizeof path, "%s/tar/gz.tar.gz", dir);
	gzFile g = gzopen(path, "wb");
	if (!g || gzwrite(g, tar_buf, (unsigned)tar_len) != (int)tar_len || gzclose(g) != Z_OK)
		mae_die(MAE_EXIT_DATA, "%s: cannot write", path);
	free(tar_buf);
	free(jpg);
	free(png);
}

/* fuzz_ps's input: messages of [peer][length, 2 bytes LE][body] */
static unsigned char *ps_buf;
static size_t ps_len;

static void ps_msg(int peer, const char *op, const char *group, int replica, int64_t step, size_t ngrad)
{
	mae_record r = { 0 };
	r.type = MAE_REC_BATCH;
	mae_map_set_str(&r.fields, "op", op);
	mae_map_set_str(&r.fields, "group", group);
	mae_map_set_int(&r.fields, "replica", replica);
	if (ngrad) {
		int64_t shape[1] = { (int64_t)ngrad };
		mae_map_set_int(&r.fields, "step", step);
		mae_map_set_float(&r.fields, "loss", 0.5);
		mae_map_set_int(&r.fields, "images", 16);
		mae_tensor *t = mae_rec_add(&r, "grad", MAE_F32, 1, shape);
		for (size_t i = 0; i < ngrad; i++)
			((float *)t->data)[i] = (float)((i * 7 + step) % 13) * 1e-3f - 6e-3f;
	}
	void *buf;
	size_t n = mae_encode_record(&r, &buf);
	if (n > 0xffff)
		mae_die(MAE_EXIT_DATA, "seeds: a parameter-plane message of %zu bytes", n);
	ps_buf = realloc(ps_buf, ps_len + 3 + n);
	ps_buf[ps_len] = (unsigned char)peer;
	ps_buf[ps_len + 1] = n & 0xff, ps_buf[ps_len + 2] = (unsigned char)(n >> 8);
	memcpy(ps_buf + ps_len + 3, buf, n);
	ps_len += 3 + n;
	free(buf);
	mae_rec_free(&r);
}

/* Two replicas of encoder and decoder join, train two steps and leave; a second seed
 * stops after the hellos. */
static void ps(void)
{
	mae_config c;
	char err[256];
	mae_model *m;
	if (mae_config_parse(&c, FUZZ_PS_MODEL, err, sizeof err) || !(m = mae_model_new(&c, err, sizeof err)))
		mae_die(MAE_EXIT_DATA, "seeds: %s", err);
	size_t ne = m->n_enc, nd = m->n_params - m->n_enc;
	const char *group[2] = { "encoder", "decoder" };
	for (int k = 0; k < 2 * FUZZ_PS_REPLICAS; k++)
		ps_msg(k + 1, "hello", group[k % 2], k / 2, 0, 0);
	put("ps", "hellos", ps_buf, ps_len);
	for (int64_t step = 0; step < 2; step++)
		for (int k = 0; k < 2 * FUZZ_PS_REPLICAS; k++)
			ps_msg(k + 1, "grad", group[k % 2], k / 2, step, k % 2 ? nd : ne);
	for (int k = 0; k < 2 * FUZZ_PS_REPLICAS; k++)
		ps_msg(k + 1, "bye", group[k % 2], k / 2, 0, 0);
	put("ps", "two-steps", ps_buf, ps_len);
	free(ps_buf);
	mae_model_free(m);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR\n");
		return 1;
	}
	dir = argv[1];
	mkdir(dir, 0755);
	records();
	checkpoints();
	idx();
	images();
	tars();
	ps();
	return 0;
}
