/* test_tar: brace patterns of shard names, and --shard over tar shards (every sample once, each
 * in the worker of its shard, in the single run's order). Prints TAP; exits non-zero on any
 * failure. The shards themselves, written by Python's tarfile, are tests/decode-tar.t's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mae/data/dataset.h"
#include "mae/data/tar.h"

#include "tap.h"

/* The names of pattern joined by spaces, or "error: MESSAGE". */
static const char *expand(const char *pattern)
{
	static char out[4096];
	char **v, err[256];
	int64_t n = mae_brace_expand(pattern, &v, err, sizeof err);
	if (n < 0) {
		snprintf(out, sizeof out, "error: %s", err);
		return out;
	}
	out[0] = 0;
	for (int64_t i = 0; i < n; i++) {
		if (i)
			strncat(out, " ", sizeof out - strlen(out) - 1);
		strncat(out, v[i], sizeof out - strlen(out) - 1);
		free(v[i]);
	}
	free(v);
	return out;
}

static void test_brace(void)
{
	static const char *cases[][2] = {
		{ "shards-{000000..000003}.tar", "shards-000000.tar shards-000001.tar shards-000002.tar shards-000003.tar" },
		{ "s{8..11}.tar", "s8.tar s9.tar s10.tar s11.tar" },
		{ "s{08..10}.tar", "s08.tar s09.tar s10.tar" },
		{ "s{3..1}", "s3 s2 s1" },
		{ "s{7..7}", "s7" },
		{ "{a,b,c}.tar", "a.tar b.tar c.tar" },
		{ "{a,b}-{0..1}", "a-0 a-1 b-0 b-1" },
		{ "x{a,{b,c}d}y", "xay xbdy xcdy" },
		{ "{train,val}/s-{00..01}.tgz", "train/s-00.tgz train/s-01.tgz val/s-00.tgz val/s-01.tgz" },
		{ "a{,b}", "a ab" },
		{ "plain.tar", "plain.tar" },
		{ "s-{000..}.tar", "error: '{000..}' is neither {FIRST..LAST} (numbers) nor {A,B,...}" },
		{ "s-{0..3.tar", "error: a '{' without its '}'" },
		{ "s-0..3}.tar", "error: a '}' without its '{'" },
		{ "s-{x}.tar", "error: '{x}' is neither {FIRST..LAST} (numbers) nor {A,B,...}" },
		{ "s-{1..x}.tar", "error: '{1..x}' is neither {FIRST..LAST} (numbers) nor {A,B,...}" },
		{ "s-{-1..2}.tar", "error: '{-1..2}' is neither {FIRST..LAST} (numbers) nor {A,B,...}" },
		{ "s-{0..2000000}", "error: expands to more than 1048576 names" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *got = expand(cases[i][0]);
		if (!ok(!strcmp(got, cases[i][1]), "%s -> %s", cases[i][0], cases[i][1]))
			diag("got %s", got);
	}
}

/* A data set of n samples from tar shards of the given sizes (no files behind them: only the
 * order is computed), then an IDX-like tail of `rest` samples. */
static void fake(mae_dataset *ds, const int *sizes, int nt, int rest)
{
	mae_dataset_init(ds);
	int64_t n = rest;
	for (int t = 0; t < nt; t++)
		n += sizes[t];
	ds->s = calloc((size_t)n, sizeof *ds->s);
	ds->n = ds->cap = n;
	ds->ntar = nt;
	int64_t p = 0;
	for (int t = 0; t < nt; t++)
		for (int i = 0; i < sizes[t]; i++, p++)
			ds->s[p].tar = t, ds->s[p].pos = i, ds->s[p].label = -1;
	for (; p < n; p++)
		ds->s[p].tar = -1, ds->s[p].label = -1;
}

static void test_shard_order(void)
{
	static const int sizes[] = { 11, 10, 0, 7, 10, 3, 9 };
	for (int shuffle = 0; shuffle < 2; shuffle++)
		for (int k = 1; k <= 9; k += 2) {
			mae_dataset ds;
			fake(&ds, sizes, 7, 5);
			int64_t *one = malloc(sizeof *one * (size_t)ds.n), *pos = malloc(sizeof *pos * (size_t)ds.n);
			int *seen = calloc((size_t)ds.n, sizeof *seen);
			mae_dataset_shard_order(&ds, shuffle, 5, 1, 0, 1, one);
			int good = 1;
			int64_t total = 0;
			for (int w = 0; w < k; w++) {
				int64_t m = mae_dataset_shard_order(&ds, shuffle, 5, 1, w, k, pos);
				good &= m == mae_dataset_shard_size(&ds, w, k);
				total += m;
				int64_t j = 0;   /* pos is a subsequence of the single run's order */
				for (int64_t i = 0; i < m; i++) {
					const mae_sample *s = &ds.s[pos[i]];
					seen[pos[i]]++;
					good &= (s->tar >= 0 ? s->tar : pos[i]) % k == w;
					while (j < ds.n && one[j] != pos[i])
						j++;
					good &= j < ds.n;
				}
			}
			for (int64_t i = 0; i < ds.n; i++)
				good &= seen[i] == 1;
			ok(good && total == ds.n, "--shard i/%d (shuffle %d) over 7 tar shards and 5 other samples: "
			   "each once, in the worker of its shard, in the single run's order", k, shuffle);
			free(one), free(pos), free(seen);
			free(ds.s);
		}
}

int main(void)
{
	test_brace();
	test_shard_order();
	return done();
}
