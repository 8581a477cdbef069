/* tar.h: webdataset shards: tar files of samples, plain or gzip'd, indexed once at open and
 * then read at random, one image at a time.
 *
 * A shard's members are grouped by key as webdataset does: the key is the member name up to
 * the first '.' of its basename (directory part kept), the extension is the rest, compared
 * without case. A key with a .jpg, .jpeg or .png member is a sample; its .cls member, decimal
 * text, is the label (-1 without one). Other extensions are ignored, and so are keys without
 * an image and members without a key (no dot in the basename after its first character).
 * Samples are in the order their keys first appear in the shard, any member of the key
 * counting (a key's members need not be adjacent); a key with two images or two labels is an
 * error.
 *
 * Headers: ustar, GNU and pax as Python's tarfile and GNU tar write them: 512-byte blocks,
 * checksums verified, octal or base-256 numbers, the ustar prefix, GNU long names ('L') and
 * pax headers ('x': path and size; 'g' is skipped), a leading "./" or "/" dropped;
 * directories, links and devices are skipped, GNU sparse members refused. The archive must
 * end with a zero block: a shard cut at a member boundary is refused as truncated. A gzip'd
 * shard is inflated to its end, so that its CRC is checked.
 *
 * gzip'd shards (.tar.gz, .tgz, or any shard starting with the gzip magic) are inflated once,
 * while their headers are read, into one anonymous temporary file shared by every shard of a
 * data set (a spool, in $TMPDIR or /tmp, unlinked at once, so it goes when the process does);
 * reads are then pread()s from it, at random and from any thread. A shard opened without a
 * spool is only indexed: its headers are read (a gzip'd one inflated to reach them) but not
 * its images. Plain shards are read in place: opened for each read, so a data set of many
 * shards holds no descriptor for them. */
#ifndef MAE_TAR_H
#define MAE_TAR_H

#include <stddef.h>
#include <stdint.h>

typedef struct mae_tar_entry {
	char *name;            /* the image member's name (no leading "./"), for messages */
	int64_t off, size;     /* its bytes in the (inflated) tar: [off, off + size) */
	int32_t label;         /* from KEY.cls, or -1 */
} mae_tar_entry;

/* The temporary file that holds the inflated gzip'd shards of a data set. */
typedef struct mae_tar_spool {
	int fd;
	int64_t size;          /* bytes in use */
} mae_tar_spool;

typedef struct mae_tar {
	char *path;
	int gz;                /* gzip'd */
	int fd;                /* gzip'd and spooled: the spool's descriptor (not owned), else -1 */
	int64_t base;          /* where the inflated tar starts in the spool */
	int64_t size;          /* bytes of the (inflated) tar read up to its end block */
	int64_t n;             /* samples */
	mae_tar_entry *e;
} mae_tar;

/* Index the shard at path. spool: where a gzip'd shard's data goes (*spool NULL: made here on
 * first use), or NULL to index without keeping the images of a gzip'd shard. 0, or -1 with a
 * message in err that does not name the file, e.g. "tar: header checksum mismatch at byte
 * 1024" (byte offsets count the inflated tar). */
int mae_tar_open(mae_tar *t, const char *path, mae_tar_spool **spool, char *err, size_t errn);
/* Read the image of sample i (malloc'ed into *buf, at most limit bytes). 0, or -1 with err. */
int mae_tar_read(const mae_tar *t, int64_t i, size_t limit, void **buf, size_t *n, char *err,
                 size_t errn);
int mae_tar_readable(const mae_tar *t);   /* plain, or gzip'd and spooled */
void mae_tar_free(mae_tar *t);
void mae_tar_spool_free(mae_tar_spool *s);

/* A name ending in .tar, .tar.gz or .tgz (any case). */
int mae_tar_name(const char *path);

/* Shard names as webdataset writes them, "shards-{000000..000009}.tar": every brace group
 * expanded, left to right, the first varying slowest. {FIRST..LAST} counts up or down and keeps
 * zero padding (when FIRST or LAST has a leading zero, every number has the width of the
 * longer); {a,b,c} takes each alternative, which may hold groups again. At most
 * MAE_BRACE_MAX names. Returns the count and *out (free each and the array), or -1 with err. */
#define MAE_BRACE_MAX (1 << 20)
int64_t mae_brace_expand(const char *pattern, char ***out, char *err, size_t errn);

#endif
