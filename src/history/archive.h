/*
 * Archive files of history: one partition's rows as Postgres binary COPY, laid out in
 * blocks column by column (colcopy.h) and streamed through zstd into a file, with a
 * manifest (table, range, rows, sizes, SHA-256 of the compressed file) next to it and
 * in the archives table (maintain.c keeps that row; this file only moves bytes).
 *
 * Binary COPY, not CSV or pg_dump: it is what Postgres writes and reads fastest, it
 * round-trips every type exactly (jsonb, timestamptz to the microsecond), and a
 * restore is one COPY FROM of the same bytes.  Its weakness, being tied to the
 * table's column types, is covered by restoring into a table made LIKE the live one.
 * The column blocks are a shuffle of those bytes that compresses better (measured in
 * docs/history.md); files of the first format, the COPY stream itself through zstd
 * ("postgres-binary-copy+zstd"), are still verified and restored.
 *
 * Not thread-safe per connection; files are written to PATH.tmp then renamed, and
 * fsync'd with their folder, so a crash never leaves a complete-looking file.
 */
#ifndef SL_HISTORY_ARCHIVE_H
#define SL_HISTORY_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The manifest's "format" of the files written now. */
#define SL_HISTORY_ARCHIVE_FORMAT "postgres-binary-copy+columns+zstd"
/* Bytes of binary COPY per block of columns. */
#define SL_HISTORY_ARCHIVE_BLOCK ((size_t)16 << 20)

typedef struct sl_history_manifest_s {
        char tbl[64];         /* the parent table: "workflow_events" */
        char partition[128];  /* the partition archived */
        int64_t lo_ms, hi_ms; /* its range [lo, hi) */
        int64_t rows;         /* rows in the file */
        int64_t bytes;        /* size of the compressed file */
        int64_t raw_bytes;    /* size of the binary COPY stream */
        char sha256[65];      /* of the compressed file, lowercase hex */
} sl_history_manifest_t;

/* COPY (SELECT * FROM ONLY m->partition) TO STDOUT (FORMAT binary) on pg, as column
 * blocks through zstd at level into path, filling rows, bytes, raw_bytes and sha256 of m
 * (tbl, partition and the range are the caller's).  Runs in pg's current transaction, if
 * any.  Then writes path's manifest (sl_history_manifest_path).  0, or -1 with errstr
 * set (the partial files removed). */
int sl_history_archive_write(PGconn *pg, sl_history_manifest_t *m, const char *path,
                             int level, char *errstr, size_t errstr_size);

/* Re-reads path: its SHA-256 and size must be m's, it must decompress to a complete
 * binary COPY stream of m->rows rows and m->raw_bytes bytes.  0, or -1 with errstr
 * saying what differs. */
int sl_history_archive_verify(const char *path, const sl_history_manifest_t *m,
                              char *errstr, size_t errstr_size);

/* COPY table FROM STDIN (FORMAT binary) on pg from path (table: an SQL identifier the
 * caller quoted).  The file is checked as it streams: a SHA-256, size or row count
 * other than m's aborts the COPY, so nothing is loaded.  Runs in pg's current
 * transaction.  0, or -1 with errstr set. */
int sl_history_archive_load(PGconn *pg, const char *table, const char *path,
                            const sl_history_manifest_t *m, char *errstr,
                            size_t errstr_size);

/* "<path>.manifest.json" into out. */
void sl_history_manifest_path(const char *path, char *out, size_t size);

#endif
