/* stream.h: records of a mae-stream(5) and the endpoints they travel through.
 *
 * A stream is a header record, batch records, and an end-of-stream (EOS) record, each a
 * MessagePack map. On a pipe or in a file they are back to back; on ZeroMQ one message is one
 * record. A program's loop:
 *
 *     mae_reader *in = mae_reader_open(opt.in, &opt);
 *     mae_writer *out = mae_writer_open(opt.out, &opt);
 *     mae_record hdr = {0}, rec = {0};
 *     mae_read_header(in, &hdr);             // dies unless the first record is a header
 *     mae_header_stage(&hdr, argc, argv);    // append this program to the provenance
 *     mae_map_set_int(mae_rec_meta(&hdr), "patch_size", 16);
 *     mae_write(out, &hdr);
 *     while (mae_read(in, &rec)) {           // 0 after the EOS record(s)
 *         mae_tensor *x = mae_rec_need(&rec, "image", MAE_U8, 4);
 *         ...
 *         mae_write(out, &rec);
 *     }
 *     mae_writer_close(out, mae_reader_skipped(in));   // writes EOS, flushes; dies on errors
 *     mae_reader_close(in);
 *
 * Every reader failure (truncated stream, garbage, wrong dtype, bad sizes) ends the program
 * with "prog: input: record N: what" and exit status 2. */
#ifndef MAE_STREAM_H
#define MAE_STREAM_H

#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>
#include "mae/stream/tensor.h"
#include "mae/stream/value.h"

#define MAE_STREAM_VERSION 1
#define MAE_MAX_TENSORS    64                 /* tensors in one record */
#define MAE_MAX_RECORD     (4ULL << 30)       /* bytes in one record (env MAE_MAX_RECORD) */
#define MAE_MAX_META_DEPTH 32                 /* nesting of meta maps and arrays */

enum mae_rtype { MAE_REC_HEADER = 1, MAE_REC_BATCH = 2, MAE_REC_EOS = 3 };

typedef struct mae_record {
	enum mae_rtype type;
	mae_val fields;         /* every top-level field except "tensors" (type, seq, meta, route, ...) */
	int ntensors;
	mae_tensor *tensors;    /* MAE_MAX_TENSORS slots */
	int64_t number;         /* position in the input stream (0 = header), for messages */
	void *pool;             /* recycled aligned buffers (internal) */
} mae_record;

/* Record fields */
int64_t mae_rec_seq(const mae_record *r);
void mae_rec_set_seq(mae_record *r, int64_t seq);
mae_val *mae_rec_meta(mae_record *r);          /* the "meta" map, created if missing */
void mae_rec_clear(mae_record *r);             /* empty it, keep buffers for reuse */
void mae_rec_free(mae_record *r);
void mae_rec_copy(mae_record *dst, const mae_record *src);   /* deep copy (owned data) */

/* Tensors of a record */
mae_tensor *mae_rec_tensor(mae_record *r, const char *name);          /* NULL if absent */
/* The tensor, checked: present, dtype, rank (ndim < 0: any). Data made 64-byte aligned.
 * Dies with "record N: tensor 'x': expected F32 [B,N,P], got U8 [4,28,28,1]" on mismatch;
 * shape_hint is that "[B,N,P]" text (may be NULL). */
mae_tensor *mae_rec_need(mae_record *r, const char *name, enum mae_dtype dt, int ndim,
                         const char *shape_hint);
/* Die with mae_rec_need's message for a tensor of the right dtype and rank whose sizes are
 * not `want` (the shape expected, e.g. "[B,14,14] (the model's grid)"). */
noreturn void mae_rec_wrong_shape(const mae_record *r, const mae_tensor *t, const char *want);
/* A new tensor (replacing any of that name) with owned, uninitialized, aligned storage. */
mae_tensor *mae_rec_add(mae_record *r, const char *name, enum mae_dtype dt, int ndim,
                        const int64_t *shape);
void mae_rec_remove(mae_record *r, const char *name);
void mae_tensor_own(mae_record *r, mae_tensor *t);   /* copy borrowed data into owned storage */

/* Headers */
/* A fresh header for a producing program: version, producer, argv, seed, count (-1: unknown). */
void mae_header_init(mae_record *h, int argc, char **argv, uint64_t seed, int64_t count);
/* Append {producer, argv} of this program to the header's "stages" list. */
void mae_header_stage(mae_record *h, int argc, char **argv);
uint64_t mae_header_seed(const mae_record *h);
int64_t mae_header_count(const mae_record *h);       /* -1 if unknown */

/* Options shared by every program (see mae(7)). */
typedef struct mae_common {
	const char *in, *out;   /* endpoints; "-" = stdin/stdout */
	int merge;              /* producers whose streams meet at this input (their EOS count) */
	int ordered;            /* hand on the merged batches in seq order (--ordered) */
	int fanout;             /* consumers fed round-robin from this output */
	int hwm;                /* ZeroMQ high-water mark in records */
	uint64_t seed;
	int seed_set;
} mae_common;

void mae_common_init(mae_common *c);
/* getopt_long entries: -i -o -q -v -s -h and --merge --ordered --fanout --hwm. Use MAE_COMMON_SHORT in the
 * short option string and MAE_COMMON_LONG in the long table; pass each option to
 * mae_common_opt, which returns 1 when it handled it (and for -h prints usage, exits 0). */
#define MAE_COMMON_SHORT "i:o:qvs:h"
enum { MAE_OPT_MERGE = 0x1000, MAE_OPT_FANOUT, MAE_OPT_HWM, MAE_OPT_ORDERED, MAE_OPT_FIRST_PROGRAM = 0x1100 };
#define MAE_COMMON_LONG \
	{"input", 1, 0, 'i'}, {"output", 1, 0, 'o'}, {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"seed", 1, 0, 's'}, \
	{"help", 0, 0, 'h'}, {"merge", 1, 0, MAE_OPT_MERGE}, {"fanout", 1, 0, MAE_OPT_FANOUT}, \
	{"hwm", 1, 0, MAE_OPT_HWM}, {"ordered", 0, 0, MAE_OPT_ORDERED}
int mae_common_opt(mae_common *c, int opt, const char *arg, const char *usage);

/* Endpoints: "-", a file path, or ZeroMQ: "@tcp://HOST:PORT" binds (HOST may be *), ">tcp://h:5555" or a bare
 * "tcp://h:5555" connects; ipc:// likewise. Input sockets are PULL ("sub:" prefix: SUB),
 * output sockets PUSH ("pub:" prefix: PUB, which drops records for slow subscribers). */
typedef struct mae_reader mae_reader;
typedef struct mae_writer mae_writer;

mae_reader *mae_reader_open(const char *endpoint, const mae_common *c);
void mae_read_header(mae_reader *r, mae_record *hdr);
int mae_read(mae_reader *r, mae_record *rec);   /* 1: a batch record; 0: end of stream */
int64_t mae_reader_count(const mae_reader *r);   /* batch records read */
int64_t mae_reader_skipped(const mae_reader *r); /* "skipped" summed over the EOS records */
const mae_val *mae_reader_eos(const mae_reader *r);  /* fields of the (last) EOS record */
const char *mae_reader_name(const mae_reader *r);
/* The bytes of the record last read (header, batch or the final EOS), exactly as received;
 * valid until the next read. For tools that must forward a stream unchanged (mae-tap). */
void mae_reader_raw(const mae_reader *r, const void **buf, size_t *n);
void mae_reader_close(mae_reader *r);

mae_writer *mae_writer_open(const char *endpoint, const mae_common *c);
/* A PUB writer for taps: never blocks; drops when a subscriber is slow. */
mae_writer *mae_writer_open_tap(const char *endpoint);
void mae_write(mae_writer *w, mae_record *rec);  /* header or batch; counts batches */
/* Write the EOS record (count of batches written, skipped) and close. A failure to write or to
 * close (a full disk, a reader gone) ends the program with status 2 and the endpoint's name,
 * as every write does: when it returns, the stream is whole. */
void mae_writer_close(mae_writer *w, int64_t skipped);
int64_t mae_writer_count(const mae_writer *w);
/* Write an encoded record as is. After an EOS record so written, mae_writer_close adds none. */
void mae_write_raw(mae_writer *w, const void *buf, size_t n, enum mae_rtype type);
/* Extra fields for the EOS record (e.g. a summary); optional. */
mae_val *mae_writer_eos_fields(mae_writer *w);

/* Encoding to and from memory (used by the endpoints, the fuzz target and tests). */
/* Decode one record from buf[0..n). Returns 0 and fills rec; on bad input returns -1 with a
 * message in err. Tensors borrow from buf. */
int mae_decode_record(const void *buf, size_t n, mae_record *rec, char *err, size_t errn);
/* Encode rec into a malloc'ed buffer; returns its size. */
size_t mae_encode_record(const mae_record *rec, void **buf);

#endif
