/* dataset.h: where samples come from, in which order, and how each becomes a fixed-size image.
 *
 * A data set is an ordered list of samples, built from sources given in order:
 *   - a directory with one sub-directory per class: labels are the class names sorted by
 *     strcmp (torchvision's ImageFolder), files found recursively, sorted, by extension
 *     (.jpg .jpeg .png, any case); a directory of images with no class directories is unlabeled;
 *   - an image file, or a glob pattern (expanded here when the shell did not);
 *   - a list file "@FILE": one path per line, optionally followed by white space and an
 *     integer label; relative paths are relative to the list's directory; # starts a comment;
 *   - a gzip'd (or plain) IDX image file "...-images-idx3-ubyte[.gz]", whose labels are read
 *     from the matching "...-labels-idx1-ubyte[.gz]" when it exists;
 *   - "fashion-mnist" or "fashion-mnist:train" / "fashion-mnist:test": the Debian package's files;
 *   - a webdataset shard: a file named *.tar, *.tar.gz or *.tgz, its samples grouped by key
 *     (KEY.jpg/.jpeg/.png, label from KEY.cls) in the order of the keys (lib/data/tar.c);
 *   - a name that does not exist and holds braces, "shards-{000000..000009}.tar": each name of
 *     the pattern (mae_brace_expand), in order, as a source of its own.
 * A data set of clips (ds->clips set before adding; clip.h) takes folders only (or globs and
 * brace patterns naming folders), each sample a folder of frames (.jpg .jpeg .png, any case,
 * sorted by strcmp, sub-folders ignored):
 *   - a folder holding frames is one clip, unlabeled;
 *   - else a folder with a sub-folder that holds frames is a folder of clips, unlabeled: each
 *     sub-folder is a clip (one without frames too: reading it is an error);
 *   - else each sub-folder is a class (named and numbered as image classes are) and each of its
 *     sub-folders a clip.
 * A sample's index is its position in that list; labels are -1 when unknown.
 *
 * Order: epoch e visits positions 0..n-1, or a permutation of them drawn from
 * mae_rng_seed(seed, e, 0, "shuffle"). Shard i of k takes the slots p of that order with
 * p % k == i, so k workers with the same seed see disjoint sets whose union is the whole epoch.
 * A data set with tar shards is split by shard instead (mae_dataset_shard_order): worker i of k
 * takes the samples of the tar shards t with t % k == i (t counts the tar shards from 0 in the
 * order given), and any other sample p with p % k == i, in the epoch's order; it need not
 * inflate the gzip'd shards of the others. */
#ifndef MAE_DATASET_H
#define MAE_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "mae/data/corrupt.h"
#include "mae/data/image.h"
#include "mae/util/rng.h"
#include "mae/data/tar.h"

/* Where Debian's dataset-fashion-mnist puts its IDX files */
#define MAE_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ------------------------------------------------------------------------------------------
 * IDX files (lib/data/idx.c) */
#define MAE_IDX_MAX_BYTES (1LL << 32)

typedef struct mae_idx {
	int ndim;
	int64_t dims[4];
	uint8_t *data;      /* dims[0] * ... bytes, unsigned */
	size_t nbytes;
} mae_idx;

/* Read a gzip'd or plain IDX file of unsigned bytes (type 0x08), validated: magic, rank 1..4,
 * positive dims, exact length (no truncation, no trailing bytes). 0, or -1 with err. */
int mae_idx_load(const char *path, mae_idx *idx, char *err, size_t errn);
void mae_idx_free(mae_idx *idx);

/* ------------------------------------------------------------------------------------------
 * Data sets (lib/data/dataset.c) */
typedef struct mae_sample {
	char *path;         /* image file, or NULL for an IDX or tar sample */
	int32_t label;      /* -1: unlabeled */
	int idx;            /* IDX source number when path is NULL and tar is -1 */
	int tar;            /* tar shard number, or -1 */
	int64_t pos;        /* the sample's position inside that IDX source or tar shard */
	int cls;            /* label is a folder class number, renumbered by mae_dataset_finish */
	int nframes;        /* a clip (path: its folder): its frame files, sorted by name */
	char **frames;
} mae_sample;

typedef struct mae_dataset {
	int64_t n, cap;
	mae_sample *s;
	int nclasses;
	char **classes;     /* class names (folder sources, or the Fashion-MNIST names) */
	int nidx;
	mae_idx *idx;       /* loaded IDX image sources */
	int64_t files;      /* samples that are encoded images (files or tar members) */
	int idx_labeled;    /* some IDX source had labels */
	int ntar;
	mae_tar *tar;       /* indexed tar shards */
	mae_tar_spool *spool;   /* the inflated gzip'd shards */
	int shard, nshards; /* set before adding: the worker that reads only the tar shards
	                     * t % nshards == shard (0, 0: every shard) */
	int clips;          /* set before adding: folders are read as clips (see above) */
} mae_dataset;

void mae_dataset_init(mae_dataset *ds);
/* Add a source (see above). 0, or -1 with err. */
int mae_dataset_add(mae_dataset *ds, const char *src, char *err, size_t errn);
/* After the last add: sort the class names and number the folder labels by them. */
void mae_dataset_finish(mae_dataset *ds);
void mae_dataset_limit(mae_dataset *ds, int64_t n);   /* keep the first n samples */
void mae_dataset_free(mae_dataset *ds);
/* The encoded bytes of image sample i (a file or a tar member), malloc'ed, at most limit
 * bytes. 0, or -1 with err (which does not name the sample: mae_dataset_name does). */
int mae_dataset_read(const mae_dataset *ds, int64_t i, size_t limit, void **buf, size_t *n,
                     char *err, size_t errn);
/* Sample i's name for messages: its path, or "SHARD: MEMBER". */
void mae_dataset_name(const mae_dataset *ds, int64_t i, char *out, size_t n);
/* Whether sample i is an image whose bytes this process can read: a file, or a member of a
 * tar shard read in place or inflated here (not one left to another worker, nor IDX). */
int mae_dataset_readable(const mae_dataset *ds, int64_t i);

/* Positions of epoch `epoch` seen by shard (shard, nshards): fills pos[] and returns their
 * count, (n - shard + nshards - 1) / nshards. pos must hold that many. */
int64_t mae_dataset_order(int64_t n, int shuffle, uint64_t seed, int64_t epoch, int shard,
                          int nshards, int64_t *pos);
int64_t mae_shard_size(int64_t n, int shard, int nshards);
/* The same for a data set: mae_dataset_order over ds->n without tar shards, or split by tar
 * shard (see the top of this file). pos must hold mae_dataset_shard_size entries. */
int64_t mae_dataset_shard_order(const mae_dataset *ds, int shuffle, uint64_t seed, int64_t epoch,
                                int shard, int nshards, int64_t *pos);
int64_t mae_dataset_shard_size(const mae_dataset *ds, int shard, int nshards);

/* ------------------------------------------------------------------------------------------
 * Per-sample transforms (lib/data/augment.c) */
enum mae_crop {
	MAE_CROP_NONE,      /* native size; every sample must already have it */
	MAE_CROP_RESIZE,    /* whole image resized to the output size (aspect not kept) */
	MAE_CROP_CENTER,    /* evaluation: short side to size/crop_pct, then a centered crop */
	MAE_CROP_RRC        /* training: RandomResizedCrop(scale, ratio), then flip */
};

typedef struct mae_augment {
	enum mae_crop crop;
	int w, h, c;            /* output size and channels */
	double scale[2];        /* RRC area fraction, MAE: 0.2 .. 1 */
	double ratio[2];        /* RRC aspect ratio w/h, 3/4 .. 4/3 */
	double flip;            /* probability of a horizontal flip (MAE training: 0.5) */
	double crop_pct;        /* center crop: 0.875 (224 of 256) */
	int dct;                /* allow JPEG DCT-domain shrinking (1), or decode full size (0) */
	double dct_gap;         /* shrink only while the decoded box keeps dct_gap x the output
	                         * size (2, as Pillow's reducing_gap; 1 = fastest) */
	mae_corrupt corrupt;    /* an ImageNet-C corruption of the result (corrupt.h), or none */
	double fbank_mean, fbank_std;   /* WAV clips: their spectrograms' normalization (audio.h) */
} mae_augment;

void mae_augment_defaults(mae_augment *a, enum mae_crop crop, int w, int h, int c);
/* torchvision RandomResizedCrop.get_params on a W x H image: crop (x, y, cw, ch), ten tries,
 * then a centered crop of the nearest allowed ratio. Draws scale, log-ratio, y, x in that order. */
void mae_rrc_params(int W, int H, const double scale[2], const double ratio[2], mae_rng *r,
                    int *x, int *y, int *cw, int *ch);
/* Decode an encoded image (JPEG/PNG) and transform it into out (h*w*c bytes). */
int mae_augment_file(const mae_augment *a, const void *buf, size_t n, mae_rng *r, uint8_t *out,
                     char *err, size_t errn);
/* Transform an already decoded image (e.g. an IDX sample) into out. */
int mae_augment_image(const mae_augment *a, const mae_image *img, mae_rng *r, uint8_t *out,
                      char *err, size_t errn);

#endif
