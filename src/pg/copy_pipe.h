/*
 * A parallel binary-COPY pipe into one table: the caller (one thread) appends rows;
 * full chunks go round-robin to N writer threads, each streaming them over its own
 * Postgres connection, so encoding overlaps with COPY and two backends parse at once.
 *
 * Idempotence without a cost on the common path: a batch is a plain COPY; only when
 * it fails with unique_violation (a replayed key) or a deadlock (the same key in two
 * writers' shares) does that writer replay its share of the batch through a temporary
 * staging table and INSERT ... ON CONFLICT DO NOTHING.  A broken connection is reset
 * and the share replayed the same way.
 *
 * Not thread-safe: one producer thread calls everything; the writers are internal.
 */
#ifndef SL_COPY_PIPE_H
#define SL_COPY_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef struct sl_copy_pipe_s sl_copy_pipe_t;

/* table: target table; columns: "(a, b, c)" column list, every column of each row in
 * that order; nconn writer connections (pg.* from conf).  NULL with errstr set.
 * Caller frees with sl_copy_pipe_destroy(). */
sl_copy_pipe_t *sl_copy_pipe_new(const sl_conf_t *conf, const char *table,
                                 const char *columns, int nconn, char *errstr,
                                 size_t errstr_size);
void sl_copy_pipe_destroy(sl_copy_pipe_t *cp);

/* Row encoding, binary COPY format: begin with the field count, then each field. */
void sl_copy_row_begin(sl_copy_pipe_t *cp, int nfields);
void sl_copy_field(sl_copy_pipe_t *cp, const void *data, size_t len);
void sl_copy_field_null(sl_copy_pipe_t *cp);
void sl_copy_field_int4(sl_copy_pipe_t *cp, int32_t v);
void sl_copy_field_int8(sl_copy_pipe_t *cp, int64_t v);
/* Milliseconds since the Unix epoch as timestamptz. */
void sl_copy_field_timestamp_ms(sl_copy_pipe_t *cp, int64_t ms);
/* 16 raw bytes. */
void sl_copy_field_uuid(sl_copy_pipe_t *cp, const unsigned char uuid[16]);
/* JSON text as jsonb (version byte + text). */
void sl_copy_field_jsonb(sl_copy_pipe_t *cp, const char *json, size_t len);
/* Start of a jsonb/text field whose bytes are appended piecewise with
 * sl_copy_field_append(); sl_copy_field_close() fixes up the length. */
void sl_copy_field_open(sl_copy_pipe_t *cp);
void sl_copy_field_append(sl_copy_pipe_t *cp, const void *data, size_t len);
void sl_copy_field_close(sl_copy_pipe_t *cp);

/* End of a row: hands the chunk to a writer when it is full. */
void sl_copy_row_end(sl_copy_pipe_t *cp);

/* Send what is left, end every writer's COPY and wait.  *rows (may be NULL): rows
 * written (rows skipped as duplicates are not counted); *dups (may be NULL): rows
 * skipped.  Returns SL_OK, or SL_ERR_PG with errstr set (nothing of the batch can be
 * assumed written then: the caller must not commit its input). */
int sl_copy_pipe_finish(sl_copy_pipe_t *cp, uint64_t *rows, uint64_t *dups, char *errstr,
                        size_t errstr_size);
/* sl_copy_pipe_finish() in two halves: end() sends what is left and has every writer
 * end its COPY, without waiting; wait() waits for them and answers as finish() does.
 * Between the two the caller may do other work but must not append rows. */
void sl_copy_pipe_end(sl_copy_pipe_t *cp);
int sl_copy_pipe_wait(sl_copy_pipe_t *cp, uint64_t *rows, uint64_t *dups, char *errstr,
                      size_t errstr_size);

#endif
