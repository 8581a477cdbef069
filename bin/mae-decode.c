/* mae-decode: JPEG/PNG folders, file lists, globs, IDX files and webdataset tar shards to a
 * stream of `image`, `label`, `index` batches; MAE's random-resized-crop and flip, center crop,
 * seeded shuffle, epochs, shards; with --clip, folders of frames to batches of clips
 * (`image` [B,T,H,W,C]). See mae-decode(1). */
#include "mae/data/audio.h"
#include "mae/data/clip.h"
#include "mae/data/dataset.h"
#include "mae/data/image.h"
#include "mae/util/progress.h"
#include "mae/util/rng.h"
#include "mae/stream/stream.h"
#include "mae/util/util.h"

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mae-decode [-qv] [-g | -c] [-b N] [-e N] [-s SEED] [-n N] [-k] [-j N] [-o ENDPOINT]\n"
	"                  [--train | --eval | --crop rrc|center|resize|none] [--size N | WxH]\n"
	"                  [--shuffle | --no-shuffle] [--shard I/N | --batch-shard I/N] [--last drop|pad|partial]\n"
	"                  [--scale LO,HI] [--ratio LO,HI] [--flip P] [--crop-pct F] [--exact | --dct-gap G]\n"
	"                  [--start-batch N] [--corrupt noise|blur|contrast:S] [--fbank-norm M,S]\n"
	"                  [--clip T [--frame-stride S]] SOURCE...\n"
	"  SOURCE  a folder (a sub-folder per class), an image or WAV clip, a glob, @LIST, an IDX file,\n"
	"          fashion-mnist[:train|:test], or a webdataset shard: NAME.tar, .tar.gz or .tgz\n"
	"          (KEY.jpg|.jpeg|.png with the label in KEY.cls); braces name several:\n"
	"          'shards-{000000..000009}.tar', '{a,b}.tar'\n"
	"  -g/-c grey/RGB output   -b batch size (32)   -e epochs (1)   -n use the first N samples\n"
	"  -k skip unreadable images (counted in the end-of-stream record)   -j decode threads (1)\n"
	"  --start-batch N  begin with batch N of the stream (to resume a run)\n"
	"  --corrupt K:S  ImageNet-C's Gaussian noise, Gaussian blur or contrast at severity S (1-5)\n"
	"  --fbank-norm M,S  WAV clips: their log-mel spectrograms as (x - M) / (2 S) (AudioSet's)\n"
	"  --shard I/N  slots I, I+N, ... of each epoch; with tar shards: the samples of tar\n"
	"          shards I, I+N, ... (counted from 0 over the SOURCEs)\n"
	"  --batch-shard I/N  only batches I, I+N, ... of the whole stream (merge with --merge N --ordered)\n"
	"  --clip T  SOURCEs are folders of clips (a sub-folder per class, a folder of frames per\n"
	"          clip): T frames a sample, every S-th (--frame-stride, 2) from a random start\n"
	"          (a shuffled stream) or the centred one, one crop for the whole clip\n";

enum { OPT_TRAIN = MAE_OPT_FIRST_PROGRAM, OPT_EVAL, OPT_CROP, OPT_SIZE, OPT_SHUFFLE,
       OPT_NOSHUFFLE, OPT_SHARD, OPT_LAST, OPT_SCALE, OPT_RATIO, OPT_FLIP, OPT_CROPPCT,
       OPT_EXACT, OPT_DCTGAP, OPT_START, OPT_BSHARD, OPT_CORRUPT, OPT_FBANK, OPT_CLIP,
       OPT_FSTRIDE };
enum last { LAST_PARTIAL, LAST_DROP, LAST_PAD };

static void parse_range(const char *s, double lo, double hi, double out[2], const char *what)
{
	char *end;
	double a = strtod(s, &end);
	if (end == s || (*end != ',' && *end != ':'))
		mae_die(MAE_EXIT_USAGE, "%s: '%s' is not LO,HI", what, s);
	const char *t = end + 1;
	double b = strtod(t, &end);
	if (end == t || *end || !(a >= lo && b <= hi && a <= b))
		mae_die(MAE_EXIT_USAGE, "%s: '%s' must be LO,HI with %g <= LO <= HI <= %g", what, s, lo, hi);
	out[0] = a, out[1] = b;
}

/* Batches b < x with b mod n = i. */
static int64_t shard_batches(int64_t x, int64_t i, int64_t n) { return x > i ? (x - i + n - 1) / n : 0; }

/* The state of the record being filled. */
typedef struct batcher {
	mae_writer *out;
	mae_record rec;
	int B, T, H, W, C;       /* T: frames of a clip, 0 for images */
	int fill;                /* samples in the batch so far */
	uint8_t *img;            /* B*H*W*C, or B*T*H*W*C */
	int32_t *label;
	int64_t *index;
	int64_t seq;
} batcher;

static void batch_start(batcher *b)
{
	int64_t ishape[4] = { b->B, b->H, b->W, b->C }, bshape[1] = { b->B };
	int64_t cshape[5] = { b->B, b->T, b->H, b->W, b->C };
	mae_rec_clear(&b->rec);
	b->rec.type = MAE_REC_BATCH;
	b->img = b->T ? mae_rec_add(&b->rec, "image", MAE_U8, 5, cshape)->data
	              : mae_rec_add(&b->rec, "image", MAE_U8, 4, ishape)->data;
	b->label = mae_rec_add(&b->rec, "label", MAE_I32, 1, bshape)->data;
	b->index = mae_rec_add(&b->rec, "index", MAE_I64, 1, bshape)->data;
	b->fill = 0;
}

static void batch_emit(batcher *b, int64_t epoch, double progress, int padded)
{
	if (b->fill < b->B) {   /* a short last batch: shrink the leading dimension */
		mae_rec_tensor(&b->rec, "image")->shape[0] = b->fill;
		mae_rec_tensor(&b->rec, "label")->shape[0] = b->fill;
		mae_rec_tensor(&b->rec, "index")->shape[0] = b->fill;
	}
	mae_rec_set_seq(&b->rec, b->seq++);
	mae_val *meta = mae_rec_meta(&b->rec);
	mae_map_set_int(meta, "epoch", epoch);
	mae_map_set_float(meta, "epoch_progress", progress);
	if (padded)
		mae_map_set_int(meta, "padded", padded);
	mae_write(b->out, &b->rec);
	batch_start(b);
}

/* --corrupt: the sample's corruption, from a generator of its own (the crop's draws stay as
 * they are). Returns 0. */
static int corrupt(const mae_augment *aug, uint64_t seed, int64_t epoch, int64_t pos, uint8_t *out)
{
	if (aug->corrupt.kind != MAE_CORRUPT_NONE) {
		mae_rng r;
		mae_rng_seed(&r, seed, (uint64_t)epoch, (uint64_t)pos, "corrupt");
		mae_corrupt_apply(&aug->corrupt, out, aug->w, aug->h, aug->c, &r);
	}
	return 0;
}

/* Decode sample `pos` of the data set for `epoch` into out: an image, or with clip a clip.
 * Returns 0, or -1 with err (a file that cannot be read or decoded). */
static int load_sample(const mae_dataset *ds, const mae_augment *aug, const mae_clipspec *clip,
                       uint64_t seed, int64_t epoch, int64_t pos, uint8_t *out, char *err, size_t errn)
{
	const mae_sample *s = &ds->s[pos];
	if (clip)
		return mae_clip_load(ds, pos, aug, clip, seed, epoch, out, err, errn);
	mae_rng r;
	mae_rng_seed(&r, seed, (uint64_t)epoch, (uint64_t)pos, "decode");
	if (!s->path && s->tar < 0) {
		const mae_idx *x = &ds->idx[s->idx];
		mae_image im = { (int)x->dims[2], (int)x->dims[1], x->ndim == 4 ? (int)x->dims[3] : 1, 0,
		                 NULL, NULL };
		im.stride = (size_t)im.w * im.c;
		im.px = x->data + (size_t)s->pos * im.stride * im.h;
		int rc = mae_augment_image(aug, &im, &r, out, err, errn);
		return rc < 0 ? rc : corrupt(aug, seed, epoch, pos, out);
	}
	void *buf;
	size_t n;
	char e[200], name[300];
	int rc = mae_dataset_read(ds, pos, (size_t)1 << 30, &buf, &n, e, sizeof e);
	if (!rc) {
		rc = mae_augment_file(aug, buf, n, &r, out, e, sizeof e);
		free(buf);
	}
	if (rc < 0) {
		mae_dataset_name(ds, pos, name, sizeof name);
		snprintf(err, errn, "%s: %s", name, e);
	}
	return rc < 0 ? rc : corrupt(aug, seed, epoch, pos, out);
}

/* Decoding n positions into n consecutive slots, on `threads` threads. Each sample depends
 * only on (seed, epoch, index), so the bytes do not depend on the thread count. */
typedef struct job {
	const mae_dataset *ds;
	const mae_augment *aug;
	const mae_clipspec *clip;   /* NULL: images */
	uint64_t seed;
	int64_t epoch;
	const int64_t *pos;
	int n;
	uint8_t *out;
	size_t ssize;
	int *rc;
	char (*err)[512];
	atomic_int next;
} job;

static void *work(void *arg)
{
	job *j = arg;
	int i;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->n)
		j->rc[i] = load_sample(j->ds, j->aug, j->clip, j->seed, j->epoch, j->pos[i],
		                       j->out + j->ssize * i, j->err[i], sizeof j->err[i]);
	return NULL;
}

static void run_job(job *j, int threads)
{
	pthread_t t[64];
	int started = 0;
	atomic_store(&j->next, 0);
	if (threads > j->n)
		threads = j->n;
	for (int i = 1; i < threads && i < 64; i++)
		if (!pthread_create(&t[started], NULL, work, j))
			started++;
	work(j);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		MAE_COMMON_LONG,
		{"grey", 0, 0, 'g'}, {"gray", 0, 0, 'g'}, {"color", 0, 0, 'c'}, {"colour", 0, 0, 'c'},
		{"batch", 1, 0, 'b'}, {"epochs", 1, 0, 'e'}, {"limit", 1, 0, 'n'},
		{"keep-going", 0, 0, 'k'}, {"threads", 1, 0, 'j'},
		{"train", 0, 0, OPT_TRAIN}, {"eval", 0, 0, OPT_EVAL}, {"crop", 1, 0, OPT_CROP},
		{"size", 1, 0, OPT_SIZE}, {"shuffle", 0, 0, OPT_SHUFFLE},
		{"no-shuffle", 0, 0, OPT_NOSHUFFLE}, {"shard", 1, 0, OPT_SHARD},
		{"last", 1, 0, OPT_LAST}, {"scale", 1, 0, OPT_SCALE}, {"ratio", 1, 0, OPT_RATIO},
		{"corrupt", 1, 0, OPT_CORRUPT}, {"fbank-norm", 1, 0, OPT_FBANK}, {"flip", 1, 0, OPT_FLIP}, {"crop-pct", 1, 0, OPT_CROPPCT}, {"exact", 0, 0, OPT_EXACT},
		{"dct-gap", 1, 0, OPT_DCTGAP}, {"start-batch", 1, 0, OPT_START},
		{"batch-shard", 1, 0, OPT_BSHARD}, {"clip", 1, 0, OPT_CLIP},
		{"frame-stride", 1, 0, OPT_FSTRIDE}, {0, 0, 0, 0}};
	mae_common c;
	int opt, chans = 0, keep = 0, crop = -1, shuffle = -1, exact = 0, threads = 1;
	long long B = 32, epochs = 1, limit = -1, shard = 0, nshards = 1, W = 0, H = 0, start = 0;
	long long bshard = 0, nbshards = 1;   /* --batch-shard: every nbshards-th batch */
	double scale[2] = { 0.2, 1.0 }, ratio[2] = { 3.0 / 4.0, 4.0 / 3.0 }, flip = -1, crop_pct = 0.875, dct_gap = 2;
	mae_corrupt corruption = { MAE_CORRUPT_NONE, 0 };
	double fbank[2] = { MAE_FBANK_MEAN, MAE_FBANK_STD };
	enum last last = LAST_PARTIAL;
	/* --clip T: clips of T frames every S-th (VideoMAE: 16 frames at 2 on SSv2, at 4 on K400) */
	mae_clipspec clip = { 0, 2, 0 };
	int stride_set = 0;

	mae_setprog(argv[0]);
	mae_common_init(&c);
	while ((opt = getopt_long(argc, argv, MAE_COMMON_SHORT "gcb:e:n:kj:", longopts, NULL)) != -1) {
		if (mae_common_opt(&c, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'g': chans = 1; break;
		case 'c': chans = 3; break;
		case 'b': B = mae_parse_int(optarg, 1, 1 << 20, "-b batch size"); break;
		case 'e': epochs = mae_parse_int(optarg, 1, 1 << 30, "-e epochs"); break;
		case 'n': limit = mae_parse_int(optarg, 1, 1LL << 40, "-n samples"); break;
		case 'k': keep = 1; break;
		case 'j': threads = (int)mae_parse_int(optarg, 1, 64, "-j threads"); break;
		case OPT_START: start = mae_parse_int(optarg, 0, 1LL << 50, "--start-batch"); break;
		case OPT_TRAIN: crop = MAE_CROP_RRC; break;
		case OPT_EVAL: crop = MAE_CROP_CENTER; break;
		case OPT_CROP:
			if (!strcmp(optarg, "rrc") || !strcmp(optarg, "random")) crop = MAE_CROP_RRC;
			else if (!strcmp(optarg, "center") || !strcmp(optarg, "centre")) crop = MAE_CROP_CENTER;
			else if (!strcmp(optarg, "resize")) crop = MAE_CROP_RESIZE;
			else if (!strcmp(optarg, "none")) crop = MAE_CROP_NONE;
			else mae_usage_error(usage, "--crop: '%s' is not rrc, center, resize or none", optarg);
			break;
		case OPT_SIZE: {
			if (!mae_parse_pair(optarg, 'x', &W, &H))
				W = H = mae_parse_int(optarg, 1, 16384, "--size");
			if (W < 1 || H < 1 || W > 16384 || H > 16384)
				mae_usage_error(usage, "--size: '%s' is not N or WxH within 1..16384", optarg);
			break;
		}
		case OPT_SHUFFLE: shuffle = 1; break;
		case OPT_NOSHUFFLE: shuffle = 0; break;
		case OPT_SHARD:
			if (!mae_parse_pair(optarg, '/', &shard, &nshards) || nshards < 1 || shard < 0 ||
			    shard >= nshards || nshards > 1 << 20)
				mae_usage_error(usage, "--shard: '%s' is not I/N with 0 <= I < N", optarg);
			break;
		case OPT_BSHARD:
			if (!mae_parse_pair(optarg, '/', &bshard, &nbshards) || nbshards < 1 || bshard < 0 ||
			    bshard >= nbshards || nbshards > 1 << 20)
				mae_usage_error(usage, "--batch-shard: '%s' is not I/N with 0 <= I < N", optarg);
			break;
		case OPT_LAST:
			if (!strcmp(optarg, "drop")) last = LAST_DROP;
			else if (!strcmp(optarg, "pad")) last = LAST_PAD;
			else if (!strcmp(optarg, "partial")) last = LAST_PARTIAL;
			else mae_usage_error(usage, "--last: '%s' is not drop, pad or partial", optarg);
			break;
		case OPT_SCALE: parse_range(optarg, 1e-6, 1, scale, "--scale"); break;
		case OPT_RATIO: parse_range(optarg, 1e-3, 1e3, ratio, "--ratio"); break;
		case OPT_FLIP: flip = mae_parse_double(optarg, 0, 1, "--flip"); break;
		case OPT_FBANK: {
			char *end;
			fbank[0] = strtod(optarg, &end);
			if (*end != ',' || !((fbank[1] = strtod(end + 1, &end)) > 0) || *end || !isfinite(fbank[0]))
				mae_usage_error(usage, "--fbank-norm %s: MEAN,STD with STD > 0 (e.g. -4.27,4.57)", optarg);
			break;
		}
		case OPT_CORRUPT:
			if (mae_corrupt_parse(optarg, &corruption))
				mae_usage_error(usage, "--corrupt %s: noise, blur or contrast, ':', a severity 1 to 5 "
				                "(e.g. noise:3)", optarg);
			break;
		case OPT_CROPPCT: crop_pct = mae_parse_double(optarg, 0.05, 1, "--crop-pct"); break;
		case OPT_EXACT: exact = 1; break;
		case OPT_DCTGAP: dct_gap = mae_parse_double(optarg, 1, 64, "--dct-gap"); break;
		case OPT_CLIP: clip.frames = (int)mae_parse_int(optarg, 1, MAE_CLIP_MAX_FRAMES, "--clip frames"); break;
		case OPT_FSTRIDE:
			clip.stride = (int)mae_parse_int(optarg, 1, MAE_CLIP_MAX_FRAMES, "--frame-stride");
			stride_set = 1;
			break;
		default: mae_usage_error(usage, "unknown option");
		}
	}
	if (optind == argc)
		mae_usage_error(usage, "no SOURCE given");
	if (strcmp(c.in, "-"))
		mae_usage_error(usage, "-i: mae-decode reads the SOURCE operands, not a stream");
	/* a skipped image moves the boundary of every later batch, which the other batch shards,
	 * not decoding those images, cannot know */
	if (nbshards > 1 && keep)
		mae_usage_error(usage, "--batch-shard and -k cannot be combined");
	if (nbshards > 1 && nshards > 1)
		mae_usage_error(usage, "--batch-shard and --shard cannot be combined");
	if (stride_set && !clip.frames)
		mae_usage_error(usage, "--frame-stride goes with --clip");
	if (clip.frames && corruption.kind != MAE_CORRUPT_NONE)
		mae_usage_error(usage, "--corrupt and --clip cannot be combined (yet)");

	/* The data set */
	mae_dataset ds;
	char err[512];
	mae_dataset_init(&ds);
	ds.shard = (int)shard, ds.nshards = (int)nshards;   /* the gzip'd tar shards to inflate */
	ds.clips = clip.frames > 0;
	for (int i = optind; i < argc; i++)
		if (mae_dataset_add(&ds, argv[i], err, sizeof err) < 0)
			mae_die(MAE_EXIT_DATA, "%s", err);
	mae_dataset_finish(&ds);
	mae_dataset_limit(&ds, limit);
	if (ds.n == 0)
		mae_die(MAE_EXIT_DATA, "no samples in %s", argv[optind]);

	/* Output geometry: IDX keeps its native size and channels unless told otherwise;
	 * image files default to RGB 224 x 224 random-resized crops. */
	int idx_only = ds.files == 0;
	int nat_w = 0, nat_h = 0, nat_c = 3;
	if (ds.nidx) {
		nat_w = (int)ds.idx[0].dims[2], nat_h = (int)ds.idx[0].dims[1];
		nat_c = ds.idx[0].ndim == 4 ? (int)ds.idx[0].dims[3] : 1;
	}
	if (crop < 0)
		crop = idx_only ? MAE_CROP_NONE : MAE_CROP_RRC;
	if (!W) {
		if (idx_only)
			W = nat_w, H = nat_h;
		else if (crop == MAE_CROP_NONE) {
			/* native: the size of the first image this process can read (with --shard, the
			 * gzip'd tar shards of other workers are not inflated here) */
			mae_imginfo info;
			void *buf;
			size_t n;
			int64_t i = 0;
			while (i < ds.n - 1 && (clip.frames ? ds.s[i].nframes == 0 : !mae_dataset_readable(&ds, i)))
				i++;
			if (clip.frames && !ds.s[i].nframes)
				mae_die(MAE_EXIT_DATA, "%s: no frames (.jpg, .jpeg or .png files)", ds.s[i].path);
			if ((clip.frames ? mae_image_readfile(ds.s[i].frames[0], (size_t)1 << 30, &buf, &n, err, sizeof err)
			                 : mae_dataset_read(&ds, i, (size_t)1 << 30, &buf, &n, err, sizeof err)) < 0 ||
			    mae_image_info(buf, n, &info, err, sizeof err) < 0) {
				char name[300];
				snprintf(name, sizeof name, "%s", clip.frames ? ds.s[i].frames[0] : "");
				if (!clip.frames)
					mae_dataset_name(&ds, i, name, sizeof name);
				mae_die(MAE_EXIT_DATA, "%s: %s", name, err);
			}
			free(buf);
			W = info.w, H = info.h;
		} else
			W = H = 224;
	}
	if (!chans)
		chans = idx_only ? nat_c : 3;
	if (crop == MAE_CROP_NONE)
		for (int i = 0; i < ds.nidx; i++)
			if (ds.idx[i].dims[2] != W || ds.idx[i].dims[1] != H)
				mae_die(MAE_EXIT_USAGE, "IDX images are %lldx%lld, not %lldx%lld: add --crop resize",
				        (long long)ds.idx[i].dims[2], (long long)ds.idx[i].dims[1], W, H);
	if ((int64_t)W * H * chans * B * (clip.frames ? clip.frames : 1) > (1LL << 31))
		mae_die(MAE_EXIT_USAGE, "a batch of %lld %lldx%lldx%d images%s is over 2 GiB", B, W, H, chans,
		        clip.frames ? " times the frames" : "");
	if (shuffle < 0)
		shuffle = crop == MAE_CROP_RRC;
	/* the clip's start: drawn in training (a shuffled stream), else centred (evaluation) */
	clip.random = shuffle;

	mae_augment aug;
	mae_augment_defaults(&aug, (enum mae_crop)crop, (int)W, (int)H, chans);
	aug.scale[0] = scale[0], aug.scale[1] = scale[1];
	aug.ratio[0] = ratio[0], aug.ratio[1] = ratio[1];
	if (flip >= 0)
		aug.flip = flip;
	aug.crop_pct = crop_pct;
	aug.dct = !exact;
	aug.dct_gap = dct_gap;
	aug.corrupt = corruption;
	aug.fbank_mean = fbank[0], aug.fbank_std = fbank[1];

	/* Batches per epoch for this shard */
	int64_t m = mae_dataset_shard_size(&ds, (int)shard, (int)nshards);
	int64_t per_epoch = last == LAST_DROP ? m / B : (m + B - 1) / B;
	int64_t count = per_epoch * epochs;
	if (start > count)
		mae_die(MAE_EXIT_USAGE, "--start-batch %lld: the stream has only %lld batches", start, (long long)count);
	/* Resuming: batches never straddle epochs, so batch `start` is batch start % per_epoch
	 * of epoch start / per_epoch, and begins at sample (start % per_epoch) * B of that epoch's
	 * order (exact when no sample is skipped with -k). */
	int64_t e0 = per_epoch ? start / per_epoch : 0, k0 = per_epoch ? (start % per_epoch) * B : 0;
	count -= start;
	if (nbshards > 1)   /* batches b of [start, start + count) with b mod nbshards = bshard */
		count = shard_batches(start + count, bshard, nbshards) - shard_batches(start, bshard, nbshards);

	/* Header */
	mae_record hdr = {0};
	mae_header_init(&hdr, argc, argv, c.seed, count);
	mae_val *meta = mae_rec_meta(&hdr);
	mae_map_set_int(meta, "height", H);
	mae_map_set_int(meta, "width", W);
	mae_map_set_int(meta, "channels", chans);
	if (clip.frames) {
		mae_map_set_int(meta, "frames", clip.frames);
		mae_map_set_int(meta, "frame_stride", clip.stride);
	}
	int labeled = 0;
	for (int64_t i = 0; i < ds.n && !labeled; i++)
		labeled = ds.s[i].label >= 0;
	if (labeled && ds.nclasses) {
		mae_val *cl = mae_map_put(meta, "classes");
		cl->type = MAE_V_ARRAY;
		for (int i = 0; i < ds.nclasses; i++) {
			mae_val *s = mae_array_push(cl);
			s->type = MAE_V_STR;
			s->s.p = mae_strdup(ds.classes[i]);
			s->s.n = strlen(ds.classes[i]);
		}
	}
	size_t srclen = 1;
	for (int i = optind; i < argc; i++)
		srclen += strlen(argv[i]) + 1;
	char *src = mae_calloc(1, srclen);
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			strcat(src, " ");
		strcat(src, argv[i]);
	}
	mae_map_set_str(meta, "source", src);
	free(src);
	mae_map_set_int(meta, "epochs", epochs);
	mae_map_set_int(meta, "batch_size", B);
	mae_map_set_int(meta, "dataset_size", ds.n);
	int64_t sh[2] = { shard, nshards };
	mae_map_set_ints(meta, "shard", sh, 2);
	mae_map_set_int(meta, "shard_size", m);
	int64_t bsh[2] = { bshard, nbshards };
	mae_map_set_ints(meta, "batch_shard", bsh, 2);
	mae_map_set_int(meta, "first_batch", start);   /* where an ordered merge begins (--ordered) */
	static const char *crop_names[] = { "none", "resize", "center", "rrc" };
	static const char *last_names[] = { "partial", "drop", "pad" };
	mae_val *aug_meta = mae_map_submap(meta, "augment");
	mae_map_set_str(aug_meta, "crop", crop_names[crop]);
	if (crop == MAE_CROP_RRC) {
		mae_map_set_floats(aug_meta, "scale", scale, 2);
		mae_map_set_floats(aug_meta, "ratio", ratio, 2);
	}
	if (crop == MAE_CROP_CENTER)
		mae_map_set_float(aug_meta, "crop_pct", crop_pct);
	mae_map_set_float(aug_meta, "flip", aug.flip);
	if (clip.frames)
		mae_map_set_str(aug_meta, "clip_offset", clip.random ? "random" : "center");
	mae_map_set_bool(aug_meta, "dct_scaling", aug.dct);
	if (corruption.kind != MAE_CORRUPT_NONE) {
		mae_val *cm = mae_map_submap(aug_meta, "corrupt");
		mae_map_set_str(cm, "kind", mae_corrupt_name(corruption.kind));
		mae_map_set_int(cm, "severity", corruption.severity);
		mae_map_set_float(cm, "level", mae_corrupt_level(&corruption));
	}
	if (aug.dct)
		mae_map_set_float(aug_meta, "dct_gap", aug.dct_gap);
	mae_map_set_bool(meta, "shuffle", shuffle);
	mae_map_set_str(meta, "last", last_names[last]);

	batcher b = { 0 };
	b.out = mae_writer_open(c.out, &c);
	b.B = (int)B, b.T = clip.frames, b.H = (int)H, b.W = (int)W, b.C = chans;
	b.seq = start;
	mae_write(b.out, &hdr);
	mae_rec_free(&hdr);
	batch_start(&b);

	size_t ssize = (size_t)W * H * chans * (clip.frames ? clip.frames : 1);
	int64_t *pos = mae_malloc(sizeof *pos * (size_t)(m ? m : 1));
	int64_t skipped = 0;
	mae_progress prog;
	mae_progress_start(&prog, clip.frames ? "clip" : "img", last == LAST_DROP || nbshards > 1 ? count * B : m * epochs - start * B);
	job jb = { .ds = &ds, .aug = &aug, .clip = clip.frames ? &clip : NULL, .seed = c.seed,
	           .ssize = ssize };
	jb.rc = mae_calloc((size_t)B, sizeof *jb.rc);
	jb.err = mae_calloc((size_t)B, sizeof *jb.err);
	for (int64_t e = e0; e < epochs; e++) {
		mae_dataset_shard_order(&ds, shuffle, c.seed, e, (int)shard, (int)nshards, pos);
		int64_t nb = e == e0 ? k0 / B : 0, emitted = 0;
		for (int64_t k = e == e0 ? k0 : 0; k < m;) {
			if (last == LAST_DROP && nb == per_epoch)
				break;
			if (b.fill == 0 && b.seq % nbshards != bshard) {
				/* another batch shard's batch: pass over its samples without decoding them */
				int64_t n = B < m - k ? B : m - k;
				k += n;
				if (n == B || last != LAST_DROP)   /* a batch that a single run emits */
					b.seq++, nb++;
				continue;
			}
			/* decode as many samples as the batch has room for, straight into it */
			int n = (int)(b.B - b.fill < m - k ? b.B - b.fill : m - k);
			jb.epoch = e, jb.pos = pos + k, jb.n = n, jb.out = b.img + ssize * b.fill;
			run_job(&jb, threads);
			for (int i = 0; i < n; i++) {
				if (jb.rc[i] < 0) {
					if (!keep)
						mae_die(MAE_EXIT_DATA, "%s", jb.err[i]);
					mae_warn("%s (skipped)", jb.err[i]);
					skipped++;
					continue;
				}
				if (jb.out + ssize * i != b.img + ssize * b.fill)   /* close a skipped gap */
					memmove(b.img + ssize * b.fill, jb.out + ssize * i, ssize);
				b.label[b.fill] = ds.s[pos[k + i]].label;
				b.index[b.fill] = pos[k + i];
				b.fill++;
				emitted++;
			}
			k += n;
			mae_progress_add(&prog, n);
			if (b.fill == b.B) {
				batch_emit(&b, e, (e + (double)nb / (per_epoch ? per_epoch : 1)) / epochs, 0);
				nb++;
			}
		}
		if (b.fill && last == LAST_DROP) {
			b.fill = 0;
		} else if (b.fill && last == LAST_PAD) {
			/* complete the batch with the epoch's first samples again (same pixels: the
			 * draws depend on epoch and index only); meta "padded" says how many */
			int padded = 0;
			for (int64_t k = 0; b.fill < b.B && emitted; k = (k + 1) % m) {
				if (load_sample(&ds, &aug, jb.clip, c.seed, e, pos[k], b.img + ssize * b.fill, err,
				                sizeof err) < 0)
					continue;   /* already counted when first met */
				b.label[b.fill] = ds.s[pos[k]].label;
				b.index[b.fill] = pos[k];
				b.fill++;
				padded++;
			}
			batch_emit(&b, e, (e + (double)nb / (per_epoch ? per_epoch : 1)) / epochs, padded);
		} else if (b.fill) {
			batch_emit(&b, e, (e + (double)nb / (per_epoch ? per_epoch : 1)) / epochs, 0);
		}
	}
	mae_progress_end(&prog);
	if (skipped)
		mae_warn("%lld unreadable %s%s skipped", (long long)skipped, clip.frames ? "clip" : "image",
		         skipped == 1 ? "" : "s");
	mae_writer_close(b.out, skipped);
	mae_rec_free(&b.rec);
	free(pos);
	free(jb.rc);
	free(jb.err);
	mae_dataset_free(&ds);
	return 0;
}
