/* dataset.c: sources of samples (class folders, files, globs, lists, IDX, tar shards and their
 * brace patterns), their order per epoch (seeded shuffle) and shards. See include/mae/data/dataset.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mae/data/dataset.h"
#include "mae/util/util.h"

static const char *fmnist_classes[10] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

void mae_dataset_init(mae_dataset *ds)
{
	memset(ds, 0, sizeof *ds);
}

static mae_sample *push(mae_dataset *ds)
{
	if (ds->n == ds->cap) {
		ds->cap = ds->cap ? 2 * ds->cap : 1024;
		ds->s = mae_realloc(ds->s, sizeof *ds->s * (size_t)ds->cap);
	}
	mae_sample *s = &ds->s[ds->n++];
	memset(s, 0, sizeof *s);
	s->label = -1;
	s->tar = -1;
	return s;
}

/* A sample decoded from JPEG or PNG bytes: a file or a tar member. */
static int encoded(const mae_sample *s)
{
	return s->path || s->tar >= 0;
}

static void add_file(mae_dataset *ds, const char *path, int label, int cls)
{
	mae_sample *s = push(ds);
	s->path = mae_strdup(path);
	s->label = label;
	s->cls = cls;
	ds->files++;
}

static int class_id(mae_dataset *ds, const char *name)
{
	for (int i = 0; i < ds->nclasses; i++)
		if (!strcmp(ds->classes[i], name))
			return i;
	ds->classes = mae_realloc(ds->classes, sizeof *ds->classes * (size_t)(ds->nclasses + 1));
	ds->classes[ds->nclasses] = mae_strdup(name);
	return ds->nclasses++;
}

static int is_image_name(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && mae_image_ext(dot + 1);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a directory (without . and ..); NULL on error. */
static char **listdir(const char *dir, int *n, char *err, size_t errn)
{
	DIR *d = opendir(dir);
	if (!d) {
		mae_fail(err, errn, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	char **v = NULL;
	int cnt = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		v = mae_realloc(v, sizeof *v * (size_t)(cnt + 1));
		v[cnt++] = mae_strdup(e->d_name);
	}
	closedir(d);
	/* before qsort: glibc declares its array nonnull, so a test after it can be dropped */
	if (!v)
		v = mae_realloc(NULL, sizeof *v);
	qsort(v, (size_t)cnt, sizeof *v, cmpstr);
	*n = cnt;
	return v;
}

static void freelist(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = mae_realloc(NULL, la + lb + 2);
	memcpy(p, a, la);
	size_t o = la;
	if (la && a[la - 1] != '/')
		p[o++] = '/';
	memcpy(p + o, b, lb + 1);
	return p;
}

static int isdir(const char *p)
{
	struct stat st;
	return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* Image files under dir, recursively (following links), in sorted walk order like
 * torchvision's make_dataset: a directory's files, then its sub-directories. depth guards
 * against symlink loops. */
static int walk(mae_dataset *ds, const char *dir, int label, int cls, int depth, char *err,
                size_t errn)
{
	if (depth > 32)
		return mae_fail(err, errn, "%s: directories nested too deep (a symlink loop?)", dir);
	int n;
	char **v = listdir(dir, &n, err, errn);
	if (!v)
		return -1;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char *p = join(dir, v[i]);
		if (!isdir(p) && is_image_name(v[i]))
			add_file(ds, p, label, cls);
		free(p);
	}
	for (int i = 0; i < n && !rc; i++) {
		char *p = join(dir, v[i]);
		if (isdir(p))
			rc = walk(ds, p, label, cls, depth + 1, err, errn);
		free(p);
	}
	freelist(v, n);
	return rc;
}

static int has_images(const char *dir, int depth)
{
	if (depth > 32)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		char *p = join(dir, e->d_name);
		found = isdir(p) ? has_images(p, depth + 1) : is_image_name(e->d_name);
		free(p);
	}
	closedir(d);
	return found;
}

static int add_folder(mae_dataset *ds, const char *dir, char *err, size_t errn)
{
	int n;
	char **v = listdir(dir, &n, err, errn);
	if (!v)
		return -1;
	int classes = 0, rc = 0;
	for (int i = 0; i < n; i++) {
		char *p = join(dir, v[i]);
		if (isdir(p) && has_images(p, 0))
			classes++;
		free(p);
	}
	int64_t before = ds->n;
	if (classes) {
		/* class folders: one label per sub-directory that holds images */
		for (int i = 0; i < n && !rc; i++) {
			char *p = join(dir, v[i]);
			if (isdir(p) && has_images(p, 0))
				rc = walk(ds, p, class_id(ds, v[i]), 1, 0, err, errn);
			free(p);
		}
	} else {
		rc = walk(ds, dir, -1, 0, 0, err, errn);
	}
	freelist(v, n);
	if (!rc && ds->n == before)
		return mae_fail(err, errn, "%s: no .jpg, .jpeg or .png files", dir);
	return rc;
}

/* ------------------------------------------------------------------------------------------
 * Clips: folders of frames (see dataset.h) */
/* The paths of the frames in dir, sorted by name (not recursive); NULL on error. */
static char **list_frames(const char *dir, int *n, char *err, size_t errn)
{
	int m, k = 0;
	char **v = listdir(dir, &m, err, errn);
	if (!v)
		return NULL;
	for (int i = 0; i < m; i++) {
		char *name = v[i], *p = join(dir, name);
		int frame = is_image_name(name) && !isdir(p);
		free(name);
		if (frame)
			v[k++] = p;
		else
			free(p);
	}
	*n = k;
	return v;
}

static int has_frames(const char *dir)
{
	char e[8];
	int n;
	char **v = list_frames(dir, &n, e, sizeof e);
	if (!v)
		return 0;
	freelist(v, n);
	return n > 0;
}

static int add_clip(mae_dataset *ds, const char *dir, int label, int cls, char *err, size_t errn)
{
	int n;
	char **v = list_frames(dir, &n, err, errn);
	if (!v)
		return -1;
	mae_sample *s = push(ds);
	s->path = mae_strdup(dir);
	s->label = label;
	s->cls = cls;
	s->nframes = n;
	s->frames = v;
	ds->files++;
	return 0;
}

static int add_clip_folder(mae_dataset *ds, const char *dir, char *err, size_t errn)
{
	if (has_frames(dir))
		return add_clip(ds, dir, -1, 0, err, errn);
	int n, flat = 0, rc = 0;
	char **v = listdir(dir, &n, err, errn);
	if (!v)
		return -1;
	for (int i = 0; i < n && !flat; i++) {
		char *p = join(dir, v[i]);
		flat = isdir(p) && has_frames(p);
		free(p);
	}
	int64_t before = ds->n;
	for (int i = 0; i < n && !rc; i++) {
		char *p = join(dir, v[i]);
		if (isdir(p) && flat) {
			rc = add_clip(ds, p, -1, 0, err, errn);
		} else if (isdir(p)) {   /* a class: its sub-folders are its clips */
			int m;
			char **w = listdir(p, &m, err, errn);
			if (!w)
				rc = -1;
			for (int j = 0; j < m && !rc; j++) {
				char *q = join(p, w[j]);
				if (isdir(q))
					rc = add_clip(ds, q, class_id(ds, v[i]), 1, err, errn);
				free(q);
			}
			if (w)
				freelist(w, m);
		}
		free(p);
	}
	freelist(v, n);
	if (!rc && ds->n == before)
		return mae_fail(err, errn, "%s: no clips (folders of .jpg, .jpeg or .png frames)", dir);
	return rc;
}

static int add_list(mae_dataset *ds, const char *list, char *err, size_t errn)
{
	FILE *f = strcmp(list, "-") ? fopen(list, "r") : stdin;
	if (!f)
		return mae_fail(err, errn, "%s: %s", list, strerror(errno));
	char *base = mae_strdup(list);
	char *slash = strrchr(base, '/');
	if (slash)
		slash[1] = 0;
	else
		base[0] = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len && isspace((unsigned char)line[len - 1]))
			line[--len] = 0;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		int label = -1;
		/* an integer after the last blank is a label */
		char *sp = p + strlen(p);
		while (sp > p && !isspace((unsigned char)sp[-1]))
			sp--;
		if (sp > p) {
			char *end;
			long l = strtol(sp, &end, 10);
			if (*end || end == sp || l < -1 || l > 0x7fffffff) {
				rc = mae_fail(err, errn, "%s:%ld: bad label '%s'", list, lineno, sp);
				break;
			}
			label = (int)l;
			sp[-1] = 0;
			for (char *q = sp - 1; q > p && isspace((unsigned char)q[-1]); q--)
				q[-1] = 0;
		}
		char *path = *p == '/' || !*base ? mae_strdup(p) : join(base, p);
		add_file(ds, path, label, 0);
		free(path);
	}
	if (!rc && ferror(f))
		rc = mae_fail(err, errn, "%s: %s", list, strerror(errno));
	free(line);
	free(base);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* "...images-idx3-ubyte[.gz]" -> "...labels-idx1-ubyte[.gz]", or NULL. */
static char *labels_name(const char *path)
{
	const char *m = strstr(path, "images-idx3");
	if (!m)
		return NULL;
	char *p = mae_strdup(path);
	memcpy(p + (m - path), "labels-idx1", 11);
	return p;
}

static int add_idx(mae_dataset *ds, const char *path, int fmnist, char *err, size_t errn)
{
	mae_idx im, lab;
	char e[256];
	if (mae_idx_load(path, &im, e, sizeof e) < 0)
		return mae_fail(err, errn, "%s: %s", path, e);
	if (im.ndim != 3 && im.ndim != 4) {
		mae_idx_free(&im);
		return mae_fail(err, errn, "%s: IDX of rank %d is not images [N,H,W] or [N,H,W,C]", path,
		            im.ndim);
	}
	if (im.ndim == 4 && im.dims[3] != 1 && im.dims[3] != 3) {
		mae_idx_free(&im);
		return mae_fail(err, errn, "%s: %lld channels; expected 1 or 3", path,
		            (long long)im.dims[3]);
	}
	char *ln = labels_name(path);
	int have_labels = 0;
	memset(&lab, 0, sizeof lab);
	if (ln && !access(ln, R_OK)) {
		if (mae_idx_load(ln, &lab, e, sizeof e) < 0) {
			mae_fail(err, errn, "%s: %s", ln, e);
			free(ln);
			mae_idx_free(&im);
			return -1;
		}
		if (lab.ndim != 1 || lab.dims[0] != im.dims[0]) {
			mae_fail(err, errn, "%s: %lld labels of rank %d for %lld images", ln,
			     (long long)lab.dims[0], lab.ndim, (long long)im.dims[0]);
			free(ln);
			mae_idx_free(&im);
			mae_idx_free(&lab);
			return -1;
		}
		have_labels = 1;
	}
	free(ln);
	ds->idx = mae_realloc(ds->idx, sizeof *ds->idx * (size_t)(ds->nidx + 1));
	int k = ds->nidx++;
	ds->idx[k] = im;
	for (int64_t i = 0; i < im.dims[0]; i++) {
		mae_sample *s = push(ds);
		s->idx = k;
		s->pos = i;
		s->label = have_labels ? lab.data[i] : -1;
	}
	if (have_labels)
		ds->idx_labeled = 1;
	if (fmnist && !ds->nclasses)
		for (int i = 0; i < 10; i++)
			class_id(ds, fmnist_classes[i]);
	mae_idx_free(&lab);
	return 0;
}

/* A webdataset shard: its samples in key order. A worker of several (ds->nshards) inflates
 * only the gzip'd shards it reads, but indexes them all to number the samples. */
static int add_tar(mae_dataset *ds, const char *path, char *err, size_t errn)
{
	int k = ds->ntar;
	int mine = ds->nshards <= 1 || k % ds->nshards == ds->shard;
	mae_tar t;
	char e[400];
	if (mae_tar_open(&t, path, mine ? &ds->spool : NULL, e, sizeof e) < 0)
		return mae_fail(err, errn, "%s: %s", path, e);
	ds->tar = mae_realloc(ds->tar, sizeof *ds->tar * (size_t)(k + 1));
	ds->tar[ds->ntar++] = t;
	for (int64_t i = 0; i < t.n; i++) {
		mae_sample *s = push(ds);
		s->tar = k;
		s->pos = i;
		s->label = t.e[i].label;
		ds->files++;
	}
	return 0;
}

static int sniff_idx(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	unsigned char b[3] = { 1, 1, 1 };
	size_t n = fread(b, 1, 3, f);
	fclose(f);
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return 1;   /* gzip: IDX is the only compressed input we take */
	return n == 3 && b[0] == 0 && b[1] == 0 && b[2] == 0x08;
}

int mae_dataset_add(mae_dataset *ds, const char *src, char *err, size_t errn)
{
	if (!strncmp(src, "fashion-mnist", 13) &&
	    (!src[13] || !strcmp(src + 13, ":train") || !strcmp(src + 13, ":test"))) {
		if (ds->clips)
			return mae_fail(err, errn, "%s: not a folder of clips (--clip reads folders of frames)", src);
		const char *split = !strcmp(src + 13, ":test") ? "t10k" : "train";
		char path[256];
		snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", MAE_FMNIST_DIR, split);
		if (access(path, R_OK))
			return mae_fail(err, errn, "%s: %s (install the Debian package dataset-fashion-mnist)",
			            path, strerror(errno));
		return add_idx(ds, path, 1, err, errn);
	}
	if (src[0] == '@' && ds->clips)
		return mae_fail(err, errn, "%s: lists of clips are not read yet: give the folders", src);
	if (src[0] == '@')
		return add_list(ds, src + 1, err, errn);
	struct stat st;
	if (stat(src, &st)) {
		if (strpbrk(src, "{}")) {
			char **v;
			char e[256];
			int64_t n = mae_brace_expand(src, &v, e, sizeof e);
			if (n < 0)
				return mae_fail(err, errn, "%s: bad brace pattern: %s", src, e);
			int rc = 0;
			for (int64_t i = 0; i < n; i++) {
				if (!rc)
					rc = mae_dataset_add(ds, v[i], err, errn);
				free(v[i]);
			}
			free(v);
			return rc;
		}
		if (strpbrk(src, "*?[")) {
			glob_t g;
			int r = glob(src, 0, NULL, &g);
			if (r == GLOB_NOMATCH)
				return mae_fail(err, errn, "%s: no match", src);
			if (r)
				return mae_fail(err, errn, "%s: glob failed", src);
			int rc = 0;
			for (size_t i = 0; i < g.gl_pathc && !rc; i++)
				rc = mae_dataset_add(ds, g.gl_pathv[i], err, errn);
			globfree(&g);
			return rc;
		}
		return mae_fail(err, errn, "%s: %s", src, strerror(errno));
	}
	if (S_ISDIR(st.st_mode))
		return ds->clips ? add_clip_folder(ds, src, err, errn) : add_folder(ds, src, err, errn);
	if (ds->clips)
		return mae_fail(err, errn, "%s: not a folder (--clip reads folders of frames)", src);
	if (mae_tar_name(src))
		return add_tar(ds, src, err, errn);
	if (sniff_idx(src))
		return add_idx(ds, src, strstr(src, "fashion-mnist") != NULL, err, errn);
	add_file(ds, src, -1, 0);
	return 0;
}

void mae_dataset_finish(mae_dataset *ds)
{
	if (!ds->nclasses)
		return;
	int any_cls = 0;
	for (int64_t i = 0; i < ds->n && !any_cls; i++)
		any_cls = ds->s[i].cls;
	if (!any_cls)
		return;   /* names given in their own order (Fashion-MNIST) */
	int n = ds->nclasses;
	char **sorted = mae_realloc(NULL, sizeof *sorted * (size_t)n);
	memcpy(sorted, ds->classes, sizeof *sorted * (size_t)n);
	qsort(sorted, (size_t)n, sizeof *sorted, cmpstr);
	int *map = mae_realloc(NULL, sizeof *map * (size_t)n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (ds->classes[i] == sorted[j])
				map[i] = j;
	for (int64_t i = 0; i < ds->n; i++)
		if (ds->s[i].cls) {
			ds->s[i].label = map[ds->s[i].label];
			ds->s[i].cls = 0;
		}
	free(ds->classes);
	ds->classes = sorted;
	free(map);
}

void mae_dataset_limit(mae_dataset *ds, int64_t n)
{
	if (n < 0 || n >= ds->n)
		return;
	for (int64_t i = n; i < ds->n; i++) {
		if (encoded(&ds->s[i]))
			ds->files--;
		free(ds->s[i].path);
		freelist(ds->s[i].frames, ds->s[i].nframes);
	}
	ds->n = n;
}

void mae_dataset_free(mae_dataset *ds)
{
	for (int64_t i = 0; i < ds->n; i++) {
		free(ds->s[i].path);
		freelist(ds->s[i].frames, ds->s[i].nframes);
	}
	free(ds->s);
	for (int i = 0; i < ds->nclasses; i++)
		free(ds->classes[i]);
	free(ds->classes);
	for (int i = 0; i < ds->nidx; i++)
		mae_idx_free(&ds->idx[i]);
	free(ds->idx);
	for (int i = 0; i < ds->ntar; i++)
		mae_tar_free(&ds->tar[i]);
	free(ds->tar);
	mae_tar_spool_free(ds->spool);
	memset(ds, 0, sizeof *ds);
}

int mae_dataset_read(const mae_dataset *ds, int64_t i, size_t limit, void **buf, size_t *n,
                     char *err, size_t errn)
{
	const mae_sample *s = &ds->s[i];
	if (s->tar >= 0)
		return mae_tar_read(&ds->tar[s->tar], s->pos, limit, buf, n, err, errn);
	return mae_image_readfile(s->path, limit, buf, n, err, errn);
}

void mae_dataset_name(const mae_dataset *ds, int64_t i, char *out, size_t n)
{
	const mae_sample *s = &ds->s[i];
	if (s->tar >= 0)
		snprintf(out, n, "%s: %s", ds->tar[s->tar].path, ds->tar[s->tar].e[s->pos].name);
	else if (s->path)
		snprintf(out, n, "%s", s->path);
	else
		snprintf(out, n, "IDX sample %lld", (long long)s->pos);
}

int mae_dataset_readable(const mae_dataset *ds, int64_t i)
{
	const mae_sample *s = &ds->s[i];
	return s->tar >= 0 ? mae_tar_readable(&ds->tar[s->tar]) : s->path != NULL;
}

int64_t mae_shard_size(int64_t n, int shard, int nshards)
{
	return shard < n ? (n - shard + nshards - 1) / nshards : 0;
}

int64_t mae_dataset_order(int64_t n, int shuffle, uint64_t seed, int64_t epoch, int shard,
                          int nshards, int64_t *pos)
{
	int64_t m = mae_shard_size(n, shard, nshards);
	if (!shuffle) {
		for (int64_t k = 0; k < m; k++)
			pos[k] = shard + k * nshards;
		return m;
	}
	int64_t *perm = mae_realloc(NULL, sizeof *perm * (size_t)n);
	for (int64_t i = 0; i < n; i++)
		perm[i] = i;
	mae_rng r;
	mae_rng_seed(&r, seed, (uint64_t)epoch, 0, "shuffle");
	mae_rng_shuffle(&r, perm, n);
	for (int64_t k = 0; k < m; k++)
		pos[k] = perm[shard + k * nshards];
	free(perm);
	return m;
}

/* With tar shards, the worker a sample belongs to, whatever the epoch. */
static int owner(const mae_dataset *ds, int64_t p, int nshards)
{
	int t = ds->s[p].tar;
	return (int)((t >= 0 ? t : p) % nshards);
}

int64_t mae_dataset_shard_size(const mae_dataset *ds, int shard, int nshards)
{
	if (!ds->ntar)
		return mae_shard_size(ds->n, shard, nshards);
	int64_t m = 0;
	for (int64_t p = 0; p < ds->n; p++)
		m += owner(ds, p, nshards) == shard;
	return m;
}

int64_t mae_dataset_shard_order(const mae_dataset *ds, int shuffle, uint64_t seed, int64_t epoch,
                                int shard, int nshards, int64_t *pos)
{
	if (!ds->ntar || nshards == 1)
		return mae_dataset_order(ds->n, shuffle, seed, epoch, shard, nshards, pos);
	/* the single run's order, then the samples of this worker in it */
	int64_t *all = mae_realloc(NULL, sizeof *all * (size_t)(ds->n ? ds->n : 1));
	mae_dataset_order(ds->n, shuffle, seed, epoch, 0, 1, all);
	int64_t m = 0;
	for (int64_t k = 0; k < ds->n; k++)
		if (owner(ds, all[k], nshards) == shard)
			pos[m++] = all[k];
	free(all);
	return m;
}
