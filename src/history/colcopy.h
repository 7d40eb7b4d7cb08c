/*
 * Column blocks of a binary COPY stream: what archive files hold since the second
 * archive format (docs/history.md, "Archive files").  The encoder takes Postgres'
 * binary COPY stream (row after row, each field a length and its bytes) and writes it
 * as blocks of rows laid out column by column: all of a block's lengths of column 1,
 * then its values, then column 2's, and so on.  Values of one column sit together
 * (the type and source of thousands of rows, then their timestamps, then their
 * payloads), which a compressor shrinks far better than the interleaved rows, and
 * random values (UUIDs, trace ids) no longer break up the matches of the rest.  The
 * decoder gives back the same binary COPY stream, byte for byte.
 *
 * The column stream:
 *
 *   "SLCOLS01"  u32 HLEN  HLEN bytes: the COPY header (signature, flags, extension)
 *   blocks:     u32 NROWS (> 0)  u16 NCOLS  u32 BODYLEN
 *               BODY: for each column: NROWS x i32 lengths (-1: NULL), then the
 *               non-NULL values of the column, back to back
 *   end:        u32 0xFFFFFFFF (the COPY trailer)
 *
 * All integers big-endian, as in binary COPY.  A block's rows have the same number of
 * fields (a table's COPY always has).  Pure byte shuffling: no Postgres, no zstd;
 * not thread-safe per object.
 */
#ifndef SL_HISTORY_COLCOPY_H
#define SL_HISTORY_COLCOPY_H

#include <stddef.h>

#define SL_COLCOPY_MAGIC "SLCOLS01" /* 8 bytes, the stream's first */

/* Errors of feed and finish (0: OK). */
#define SL_COLCOPY_BAD   (-1) /* the input is not a (complete) stream of its kind */
#define SL_COLCOPY_NOMEM (-2) /* out of memory */
#define SL_COLCOPY_OUT   (-3) /* the out function failed (it said why) */

/* Receives the output, in pieces; non-zero stops the coder (SL_COLCOPY_OUT). */
typedef int (*sl_colcopy_out_fn)(void *opaque, const void *buf, size_t n);

typedef struct sl_colcopy_s sl_colcopy_t;

/* An encoder (binary COPY in, column stream out; blocks of about block_bytes of
 * input) or a decoder (column stream in, binary COPY out).  out and opaque borrowed
 * for the coder's life.  NULL when out of memory; free with sl_colcopy_destroy(). */
sl_colcopy_t *sl_colcopy_encoder_new(size_t block_bytes, sl_colcopy_out_fn out,
                                     void *opaque);
sl_colcopy_t *sl_colcopy_decoder_new(sl_colcopy_out_fn out, void *opaque);

/* Input, in pieces of any size.  0 or an SL_COLCOPY_ error, after which the coder
 * only fails. */
int sl_colcopy_feed(sl_colcopy_t *cc, const void *buf, size_t n);

/* The input is complete: the rest goes out.  SL_COLCOPY_BAD when the input stopped
 * short of its trailer or went on after it. */
int sl_colcopy_finish(sl_colcopy_t *cc);

/* Rows seen so far. */
long long sl_colcopy_rows(const sl_colcopy_t *cc);

void sl_colcopy_destroy(sl_colcopy_t *cc);

#endif
