/* tar.c: webdataset shards, plain or gzip'd: their headers indexed once at open, their images
 * read at random afterwards; and the brace patterns that name shards. See include/mae/data/tar.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "mae/data/image.h"
#include "mae/data/tar.h"
#include "mae/util/util.h"

#define BLOCK 512
#define MAX_META (1 << 20)     /* a GNU long name or a pax header */
#define MAX_CLS 64             /* a .cls member: a decimal number and white space */
#define MAX_MEMBER (1LL << 62) /* a declared size beyond this is corrupt */

/* ------------------------------------------------------------------------------------------
 * A shard read once from start to end: in place, or inflated (and copied to the spool) */

typedef struct reader {
	int fd;                /* plain */
	gzFile gz;             /* gzip'd */
	int64_t pos;           /* bytes of the tar consumed */
	int64_t end;           /* plain: the file's size */
	mae_tar_spool *spool;  /* gzip'd and kept: where every inflated byte goes too */
	int64_t base;          /* where in the spool */
	unsigned char *scratch;
} reader;

#define SCRATCH (1 << 17)

/* zlib's message without the "<fd:N>: " it puts first. zlib inflates ahead of what it hands
 * out, so the error lies somewhere after `at`. */
static int gz_fail(reader *r, int64_t at, char *err, size_t errn)
{
	int code;
	const char *m = gzerror(r->gz, &code);
	const char *colon = m && m[0] == '<' ? strstr(m, ">: ") : NULL;
	if (colon)
		m = colon + 3;
	return mae_fail(err, errn, "gzip: %s, after byte %lld of the inflated tar",
	                code == Z_ERRNO ? strerror(errno) : m, (long long)at);
}

/* Up to n bytes of the tar at r->pos into dst (NULL: skip them). Returns how many there were
 * (fewer at the end), or -1 with err on a read, gzip or spool error. */
static int64_t rd_get(reader *r, void *dst, int64_t n, char *err, size_t errn)
{
	if (!r->gz) {
		int64_t k = n < r->end - r->pos ? n : r->end - r->pos;
		for (int64_t got = 0; dst && got < k;) {
			ssize_t m = pread(r->fd, (char *)dst + got, (size_t)(k - got), r->pos + got);
			if (m <= 0)
				return mae_fail(err, errn, "read error at byte %lld: %s", (long long)(r->pos + got),
				                m < 0 ? strerror(errno) : "the file shrank");
			got += m;
		}
		r->pos += k;
		return k;
	}
	int64_t got = 0;
	while (got < n) {
		unsigned char *p = dst ? (unsigned char *)dst + got : r->scratch;
		int64_t want = n - got;
		unsigned chunk = (unsigned)(dst ? (want < (1 << 30) ? want : (1 << 30))
		                                : (want < SCRATCH ? want : SCRATCH));
		int k = gzread(r->gz, p, chunk);
		if (k < 0)
			return gz_fail(r, r->pos + got, err, errn);
		if (k == 0)
			break;   /* the end, or a cut stream (gzerror: Z_BUF_ERROR): the tar says which */
		for (int64_t w = 0; r->spool && w < k;) {
			ssize_t m = pwrite(r->spool->fd, p + w, (size_t)(k - w), r->base + r->pos + got + w);
			if (m < 0)
				return mae_fail(err, errn, "cannot keep the inflated shard in a temporary file "
				                "(TMPDIR): %s", strerror(errno));
			w += m;
		}
		got += k;
	}
	r->pos += got;
	return got;
}

/* ------------------------------------------------------------------------------------------
 * Header fields */

/* A number field: octal digits with blanks around, ended by a NUL or the field's end (Python's
 * tarfile.nti), or GNU base-256 (first byte 0x80). -1 when malformed or negative. */
static int64_t number(const unsigned char *f, int n)
{
	if (f[0] == 0x80 || f[0] == 0xff) {
		if (f[0] == 0xff)
			return -1;
		uint64_t v = 0;
		for (int i = 1; i < n; i++) {
			if (v >> 54)
				return -1;
			v = v << 8 | f[i];
		}
		return (int64_t)v;
	}
	int e = 0;
	while (e < n && f[e])
		e++;
	int i = 0;
	while (i < e && isspace(f[i]))
		i++;
	while (e > i && isspace(f[e - 1]))
		e--;
	int64_t v = 0;
	for (; i < e; i++) {
		if (f[i] < '0' || f[i] > '7' || v >> 59)
			return -1;
		v = v * 8 + (f[i] - '0');
	}
	return v;
}

/* The stored checksum against the sum of the header with the checksum field as blanks, taken
 * unsigned and signed as tarfile does (old tars summed signed chars). */
static int checksum_ok(const unsigned char *h)
{
	int64_t want = number(h + 148, 8);
	int64_t u = 0, s = 0;
	for (int i = 0; i < BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return want >= 0 && (want == u || want == s);
}

static int zero_block(const unsigned char *h)
{
	for (int i = 0; i < BLOCK; i++)
		if (h[i])
			return 0;
	return 1;
}

/* A field of n bytes, NUL-terminated or full, as a string. */
static char *field(const unsigned char *f, size_t n)
{
	return strndup((const char *)f, n);
}

/* pax extended header records "LEN KEY=VALUE\n": path and size are taken, the rest ignored. */
static int pax_parse(const char *p, int64_t n, char **path, int64_t *size)
{
	int64_t i = 0;
	while (i < n && p[i]) {
		int64_t len = 0, j = i;
		while (j < n && p[j] >= '0' && p[j] <= '9' && len < MAX_META)
			len = len * 10 + (p[j++] - '0');
		if (j == i || j >= n || p[j] != ' ' || len <= j - i + 1 || i + len > n || p[i + len - 1] != '\n')
			return -1;
		const char *kv = p + j + 1, *end = p + i + len - 1;
		const char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (!eq)
			return -1;
		if (eq - kv == 4 && !memcmp(kv, "path", 4)) {
			free(*path);
			*path = strndup(eq + 1, (size_t)(end - eq - 1));
		} else if (eq - kv == 4 && !memcmp(kv, "size", 4)) {
			int64_t v = 0;
			const char *q = eq + 1;
			if (q == end)
				return -1;
			for (; q < end; q++) {
				if (*q < '0' || *q > '9' || v > MAX_MEMBER / 10)
					return -1;
				v = v * 10 + (*q - '0');
			}
			*size = v;
		}
		i += len;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * Keys: members grouped by name up to the basename's first dot, in order of first appearance */

typedef struct keyrec {
	char *key;
	char *img;             /* the image member's name, or NULL */
	int64_t off, size;
	int32_t label;
	int cls;               /* a .cls was seen */
} keyrec;

typedef struct keys {
	keyrec *v;
	int64_t n, cap;
	int64_t *slot;         /* open addressing: 1 + index into v, 0 empty */
	size_t nslot;          /* a power of two, at least twice n */
} keys;

static keyrec *key_get(keys *k, const char *key, size_t len)
{
	if ((size_t)(k->n + 1) * 2 > k->nslot) {
		k->nslot = k->nslot ? 2 * k->nslot : 1024;
		free(k->slot);
		k->slot = mae_calloc(k->nslot, sizeof *k->slot);
		for (int64_t j = 0; j < k->n; j++) {
			size_t s = (size_t)mae_fnv1a(k->v[j].key, strlen(k->v[j].key), 0) & (k->nslot - 1);
			while (k->slot[s])
				s = (s + 1) & (k->nslot - 1);
			k->slot[s] = j + 1;
		}
	}
	size_t s = (size_t)mae_fnv1a(key, len, 0) & (k->nslot - 1);
	for (;; s = (s + 1) & (k->nslot - 1)) {
		if (!k->slot[s])
			break;
		keyrec *r = &k->v[k->slot[s] - 1];
		if (!strncmp(r->key, key, len) && !r->key[len])
			return r;
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 256;
		k->v = mae_realloc(k->v, sizeof *k->v * (size_t)k->cap);
	}
	keyrec *r = &k->v[k->n];
	memset(r, 0, sizeof *r);
	r->key = strndup(key, len);
	r->label = -1;
	k->slot[s] = ++k->n;
	return r;
}

static void keys_free(keys *k)
{
	for (int64_t i = 0; i < k->n; i++) {
		free(k->v[i].key);
		free(k->v[i].img);
	}
	free(k->v);
	free(k->slot);
}

/* A .cls member's text: a decimal integer in -1 .. 2^31-1 with white space around. */
static int parse_label(const char *p, size_t n, int32_t *label)
{
	while (n && isspace((unsigned char)*p))
		p++, n--;
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	int neg = n && *p == '-';
	if (neg)
		p++, n--;
	if (!n || n > 10)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < -1 || v > 0x7fffffff)
		return -1;
	*label = (int32_t)v;
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * Indexing */

static mae_tar_spool *spool_new(char *err, size_t errn)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	size_t n = strlen(dir) + 32;
	char *p = mae_malloc(n);
	snprintf(p, n, "%s/mae-tar.XXXXXX", dir);
	int fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		mae_fail(err, errn, "cannot make a temporary file in %s for inflated shards: %s", dir,
		         strerror(errno));
		free(p);
		return NULL;
	}
	unlink(p);   /* anonymous from now on: gone with the process, however it ends */
	free(p);
	mae_tar_spool *s = mae_calloc(1, sizeof *s);
	s->fd = fd;
	return s;
}

void mae_tar_spool_free(mae_tar_spool *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

/* Where the member `name` (no leading ./) goes: its key and extension. 0 when it has none
 * (no dot in the basename after its first character: webdataset skips such members). */
static int split_name(const char *name, size_t *keylen, const char **ext)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	const char *dot = strchr(base, '.');
	if (!dot || dot == base)
		return 0;
	*keylen = (size_t)(dot - name);
	*ext = dot + 1;
	return 1;
}

/* The readable form of a member's bytes for a message. */
static void printable(char *out, size_t outn, const char *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < outn; i++)
		out[o++] = isprint((unsigned char)p[i]) ? p[i] : '?';
	out[o] = 0;
}

/* One pass over a shard's headers. */
typedef struct indexer {
	reader r;
	keys k;
	char *longname;        /* GNU 'L': the next member's name */
	char *paxpath;         /* pax path: the same, before the long name */
	int64_t paxsize;       /* pax size of the next member, or -1 */
	char *data;            /* the bytes of the last metadata or .cls member read */
} indexer;

/* Read `want` bytes of a member of `size` bytes whose data starts at r.pos into x->data and
 * pass over the rest and the padding to the next header. `what` names it in messages. */
static int read_member(indexer *x, int64_t size, int64_t want, const char *what, char *err,
                       size_t errn)
{
	int64_t data = x->r.pos, pad = (size + BLOCK - 1) / BLOCK * BLOCK - want;
	free(x->data);
	x->data = mae_malloc((size_t)want + 1);
	int64_t got = want ? rd_get(&x->r, x->data, want, err, errn) : 0;
	int64_t rest = got < 0 || got < want ? 0 : rd_get(&x->r, NULL, pad, err, errn);
	if (got < 0 || rest < 0)
		return -1;
	if (got < want || rest < pad)
		return mae_fail(err, errn, "tar: truncated at byte %lld: %s needs %lld bytes from byte %lld",
		                (long long)x->r.pos, what, (long long)size, (long long)data);
	x->data[want] = 0;
	return 0;
}

/* The name of the member whose header is h: a pax path or GNU long name read before it, or
 * its own with the ustar prefix. Takes the pending names. */
static char *member_name(indexer *x, const unsigned char *h)
{
	char *name;
	if (x->paxpath)
		name = x->paxpath, x->paxpath = NULL;
	else if (x->longname)
		name = x->longname, x->longname = NULL;
	else if (memcmp(h + 257, "ustar  ", 8) && h[345]) {   /* GNU uses the prefix's room otherwise */
		char *nm = field(h, 100), *prefix = field(h + 345, 155);
		size_t n = strlen(prefix) + strlen(nm) + 2;
		name = mae_malloc(n);
		snprintf(name, n, "%s/%s", prefix, nm);
		free(nm);
		free(prefix);
	} else
		name = field(h, 100);
	free(x->longname), x->longname = NULL;
	free(x->paxpath), x->paxpath = NULL;
	x->paxsize = -1;
	return name;
}

/* A member that is not metadata, whose header at `at` says type and size: its data passed over,
 * or read for a .cls, and its part of its key's sample taken. */
static int take_member(indexer *x, const char *name, char type, int64_t at, int64_t size,
                       char *err, size_t errn)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (*name == '/')
		name++;
	int regular = (type == '0' || type == 0 || type == '7') && *name && name[strlen(name) - 1] != '/';
	size_t keylen = 0;
	const char *ext = NULL;
	int keyed = regular && split_name(name, &keylen, &ext);
	int image = keyed && mae_image_ext(ext), cls = keyed && !strcasecmp(ext, "cls");
	char what[64];
	snprintf(what, sizeof what, "member '%.40s%s'", name, strlen(name) > 40 ? "..." : "");
	int64_t data = x->r.pos;
	if (read_member(x, size, cls ? (size < MAX_CLS ? size : MAX_CLS) : 0, what, err, errn) < 0)
		return -1;
	if (!keyed)
		return 0;
	keyrec *kr = key_get(&x->k, name, keylen);   /* any part of a sample sets its key's place */
	if (image) {
		if (kr->img)
			return mae_fail(err, errn, "tar: key '%s' has a second image, '%s', at byte %lld "
			                "(the first: '%s')", kr->key, name, (long long)at, kr->img);
		kr->img = mae_strdup(name);
		kr->off = data, kr->size = size;
	} else if (cls) {
		if (kr->cls)
			return mae_fail(err, errn, "tar: key '%s' has a second label, '%s', at byte %lld",
			                kr->key, name, (long long)at);
		if (size > MAX_CLS || parse_label(x->data, (size_t)size, &kr->label) < 0) {
			char show[24];
			printable(show, sizeof show, x->data, (size_t)(size > MAX_CLS ? MAX_CLS : size));
			return mae_fail(err, errn, "tar: '%s' is not a class number (%s'%s') at byte %lld", name,
			                size > MAX_CLS ? "too long: " : "", show, (long long)at);
		}
		kr->cls = 1;
	}
	return 0;
}

/* Headers from the start to the end block. */
static int index_members(indexer *x, char *err, size_t errn)
{
	unsigned char h[BLOCK];
	for (;;) {
		int64_t at = x->r.pos, got = rd_get(&x->r, h, BLOCK, err, errn);
		if (got < 0)
			return -1;
		if (got == 0)
			return mae_fail(err, errn, "tar: %s at byte %lld",
			                at ? "no end-of-archive block (truncated?)" : "empty file", (long long)at);
		if (got < BLOCK)
			return mae_fail(err, errn, "tar: truncated in a header at byte %lld", (long long)(at + got));
		if (zero_block(h))
			return 0;
		if (!checksum_ok(h))
			return mae_fail(err, errn, "tar: %sheader checksum mismatch at byte %lld",
			                at ? "" : "not a tar file: ", (long long)at);
		char type = (char)h[156];
		int meta = type == 'L' || type == 'K' || type == 'x' || type == 'g';
		int64_t size = !meta && x->paxsize >= 0 ? x->paxsize : number(h + 124, 12);
		if (size < 0 || size > MAX_MEMBER)
			return mae_fail(err, errn, "tar: bad size field at byte %lld", (long long)at);
		if (type == 'S')
			return mae_fail(err, errn, "tar: a GNU sparse member at byte %lld (not supported)",
			                (long long)at);
		if (!meta) {
			char *name = member_name(x, h);
			int rc = take_member(x, name, type, at, size, err, errn);
			free(name);
			if (rc < 0)
				return -1;
			continue;
		}
		/* metadata for the next member: a long name ('L'), pax records ('x'; 'g', global, is
		 * read and ignored), a long link name ('K', passed over) */
		if (size > MAX_META)
			return mae_fail(err, errn, "tar: a %s header of %lld bytes at byte %lld",
			                type == 'L' || type == 'K' ? "GNU long name" : "pax", (long long)size,
			                (long long)at);
		if (read_member(x, size, type == 'K' ? 0 : size, "a header", err, errn) < 0)
			return -1;
		if (type == 'L') {
			free(x->longname);
			x->longname = strndup(x->data, (size_t)size);
		} else if (type == 'x' && pax_parse(x->data, size, &x->paxpath, &x->paxsize) < 0)
			return mae_fail(err, errn, "tar: bad pax header at byte %lld", (long long)at);
	}
}

int mae_tar_open(mae_tar *t, const char *path, mae_tar_spool **spool, char *err, size_t errn)
{
	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->path = mae_strdup(path);
	indexer x = { .r.fd = -1, .paxsize = -1 };
	reader *r = &x.r;
	int rc = -1;

	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (r->fd < 0 || fstat(r->fd, &st)) {
		mae_fail(err, errn, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		mae_fail(err, errn, "not a regular file");
		goto out;
	}
	r->end = st.st_size;
	unsigned char magic[2] = { 0, 0 };
	if (pread(r->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		t->gz = 1;
		if (!(r->gz = gzdopen(r->fd, "rb"))) {
			mae_fail(err, errn, "gzip: cannot open");
			goto out;
		}
		r->fd = -1;   /* gzclose closes it */
		gzbuffer(r->gz, SCRATCH);
		r->scratch = mae_malloc(SCRATCH);
		if (spool) {
			if (!*spool && !(*spool = spool_new(err, errn)))
				goto out;
			r->spool = *spool;
			r->base = r->spool->size;
		}
	}
	if (index_members(&x, err, errn) < 0)
		goto out;
	t->size = r->pos;
	mae_tar_spool *kept = r->spool;
	if (r->gz) {
		/* inflate what follows the end block too (zero padding), so that the gzip trailer's
		 * CRC and length are checked; it is not kept */
		r->spool = NULL;
		int64_t got;
		while ((got = rd_get(r, NULL, SCRATCH, err, errn)) > 0)
			;
		if (got < 0)
			goto out;
		int code;
		gzerror(r->gz, &code);
		if (code != Z_OK) {
			gz_fail(r, r->pos, err, errn);
			goto out;
		}
	}
	for (int64_t i = 0; i < x.k.n; i++)
		t->n += x.k.v[i].img != NULL;
	t->e = mae_calloc((size_t)(t->n ? t->n : 1), sizeof *t->e);
	for (int64_t i = 0, j = 0; i < x.k.n; i++) {
		keyrec *kr = &x.k.v[i];
		if (!kr->img)
			continue;
		t->e[j++] = (mae_tar_entry){ kr->img, kr->off, kr->size, kr->label };
		kr->img = NULL;
	}
	if (kept) {
		t->fd = kept->fd;
		t->base = r->base;
		kept->size = r->base + t->size;
	}
	rc = 0;
out:
	if (r->gz)
		gzclose(r->gz);
	if (r->fd >= 0)
		close(r->fd);
	free(r->scratch);
	free(x.longname);
	free(x.paxpath);
	free(x.data);
	keys_free(&x.k);
	if (rc)
		mae_tar_free(t);
	return rc;
}

int mae_tar_readable(const mae_tar *t)
{
	return !t->gz || t->fd >= 0;
}

int mae_tar_read(const mae_tar *t, int64_t i, size_t limit, void **buf, size_t *n, char *err,
                 size_t errn)
{
	const mae_tar_entry *e = &t->e[i];
	if ((uint64_t)e->size > limit)
		return mae_fail(err, errn, "larger than %zu bytes", limit);
	if (!mae_tar_readable(t))
		return mae_fail(err, errn, "a gzip'd shard indexed but not inflated by this process");
	int fd = t->gz ? t->fd : open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mae_fail(err, errn, "%s", strerror(errno));
	unsigned char *p = malloc(e->size ? (size_t)e->size : 1);
	if (!p) {
		if (!t->gz)
			close(fd);
		return mae_fail(err, errn, "out of memory");
	}
	int64_t got = 0;
	while (got < e->size) {
		ssize_t m = pread(fd, p + got, (size_t)(e->size - got), (t->gz ? t->base : 0) + e->off + got);
		if (m <= 0) {
			int er = errno;
			if (!t->gz)
				close(fd);
			free(p);
			return m < 0 ? mae_fail(err, errn, "%s", strerror(er))
			             : mae_fail(err, errn, "the shard shrank since it was indexed");
		}
		got += m;
	}
	if (!t->gz)
		close(fd);
	*buf = p, *n = (size_t)e->size;
	return 0;
}

void mae_tar_free(mae_tar *t)
{
	for (int64_t i = 0; i < t->n; i++)
		free(t->e[i].name);
	free(t->e);
	free(t->path);
	memset(t, 0, sizeof *t);
	t->fd = -1;
}

int mae_tar_name(const char *path)
{
	size_t n = strlen(path);
	return (n > 4 && !strcasecmp(path + n - 4, ".tar")) || (n > 7 && !strcasecmp(path + n - 7, ".tar.gz")) ||
	       (n > 4 && !strcasecmp(path + n - 4, ".tgz"));
}

/* ------------------------------------------------------------------------------------------
 * Brace patterns */

typedef struct names {
	char **v;
	int64_t n;
} names;

static int push_name(names *o, char *s, char *err, size_t errn)
{
	if (o->n == MAE_BRACE_MAX) {
		free(s);
		return mae_fail(err, errn, "expands to more than %d names", MAE_BRACE_MAX);
	}
	if (!(o->n & (o->n - 1)))   /* 0, 1, 2, 4, ...: full */
		o->v = mae_realloc(o->v, sizeof *o->v * (size_t)(o->n ? 2 * o->n : 1));
	o->v[o->n++] = s;
	return 0;
}

/* prefix + middle + suffix, as a new string */
static char *concat3(const char *a, size_t na, const char *b, size_t nb, const char *c)
{
	size_t nc = strlen(c);
	char *s = mae_malloc(na + nb + nc + 1);
	memcpy(s, a, na);
	memcpy(s + na, b, nb);
	memcpy(s + na + nb, c, nc + 1);
	return s;
}

/* A decimal number of at most 18 digits, the whole of [p, e). */
static int range_end(const char *p, const char *e, long long *v)
{
	if (p == e || e - p > 18)
		return -1;
	*v = 0;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		*v = *v * 10 + (*p - '0');
	}
	return 0;
}

static int expand(const char *p, names *o, int depth, char *err, size_t errn)
{
	const char *open = strchr(p, '{');
	if (!open) {
		if (strchr(p, '}'))
			return mae_fail(err, errn, "a '}' without its '{'");
		return push_name(o, mae_strdup(p), err, errn);
	}
	if (depth > 32)
		return mae_fail(err, errn, "more than 32 brace groups");
	/* the matching '}', and the commas at this level */
	const char *close = NULL, *q;
	int level = 0, commas = 0;
	for (q = open + 1; *q && !close; q++) {
		if (*q == '{')
			level++;
		else if (*q == '}' && level)
			level--;
		else if (*q == '}')
			close = q;
		else if (*q == ',' && !level)
			commas++;
	}
	if (!close)
		return mae_fail(err, errn, "a '{' without its '}'");
	size_t np = (size_t)(open - p);
	if (commas) {
		for (const char *a = open + 1; a <= close;) {
			const char *b = a;
			for (level = 0; b < close && (level || *b != ','); b++)
				level += *b == '{' ? 1 : *b == '}' ? -1 : 0;
			char *mid = concat3(p, np, a, (size_t)(b - a), close + 1);
			int rc = expand(mid, o, depth + 1, err, errn);
			free(mid);
			if (rc)
				return rc;
			a = b + 1;
		}
		return 0;
	}
	const char *dots = strstr(open + 1, "..");
	long long first, last;
	if (!dots || dots > close || range_end(open + 1, dots, &first) ||
	    range_end(dots + 2, close, &last))
		return mae_fail(err, errn, "'%.*s' is neither {FIRST..LAST} (numbers) nor {A,B,...}",
		                (int)(close - open + 1), open);
	size_t nf = (size_t)(dots - open - 1), nl = (size_t)(close - dots - 2);
	int width = (nf > 1 && open[1] == '0') || (nl > 1 && dots[2] == '0') ? (int)(nf > nl ? nf : nl) : 0;
	long long step = first <= last ? 1 : -1;
	for (long long v = first;; v += step) {
		char num[32];
		int nn = snprintf(num, sizeof num, "%0*lld", width, v);
		char *mid = concat3(p, np, num, (size_t)nn, close + 1);
		int rc = expand(mid, o, depth + 1, err, errn);
		free(mid);
		if (rc)
			return rc;
		if (v == last)
			break;
	}
	return 0;
}

int64_t mae_brace_expand(const char *pattern, char ***out, char *err, size_t errn)
{
	names o = { 0 };
	if (expand(pattern, &o, 0, err, errn) < 0) {
		for (int64_t i = 0; i < o.n; i++)
			free(o.v[i]);
		free(o.v);
		return -1;
	}
	*out = o.v;
	return o.n;
}
