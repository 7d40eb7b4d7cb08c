/*
 * Archive files (archive.h): binary COPY <-> column blocks (colcopy.h) <-> zstd files,
 * SHA-256 with OpenSSL's libcrypto, and a streaming parser of the binary COPY format
 * that counts tuples and checks the stream is complete (header, tuples, trailer),
 * without holding a row.  Files of the first format (the binary COPY itself through
 * zstd) are read as well: the first bytes decompressed say which a file is.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "history/archive.h"
#include "history/colcopy.h"

/* ---- binary COPY stream: counts tuples ------------------------------------------ */

enum { P_HDR, P_EXT, P_NFIELDS, P_FLEN, P_FDATA, P_DONE, P_BAD };

typedef struct copy_parse_s {
        int st;
        uint8_t acc[19];
        size_t nacc;  /* bytes in acc for the integer being read */
        int64_t skip; /* bytes of extension or field data still to pass */
        int nfields;  /* fields left in the current tuple */
        int64_t tuples;
} copy_parse_t;

static const uint8_t copy_sig[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                     '\n', 0xff, '\r', '\n', 0};

static uint32_t be32(const uint8_t *b)
{
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Feed n bytes; P_BAD on a malformed stream, P_DONE after the trailer (bytes after
 * it are malformed). */
static void copy_parse(copy_parse_t *cp, const uint8_t *p, size_t n)
{
        while (n && cp->st != P_BAD) {
                size_t need, take;

                if (cp->st == P_DONE) {
                        cp->st = P_BAD;
                        return;
                }
                if (cp->st == P_EXT || cp->st == P_FDATA) {
                        take = (int64_t)n < cp->skip ? n : (size_t)cp->skip;
                        cp->skip -= (int64_t)take;
                        p += take;
                        n -= take;
                        if (cp->skip == 0)
                                cp->st = cp->st == P_EXT || cp->nfields == 0 ? P_NFIELDS
                                                                             : P_FLEN;
                        continue;
                }
                need = cp->st == P_HDR ? 19 : cp->st == P_NFIELDS ? 2 : 4;
                take = need - cp->nacc < n ? need - cp->nacc : n;
                memcpy(cp->acc + cp->nacc, p, take);
                cp->nacc += take;
                p += take;
                n -= take;
                if (cp->nacc < need)
                        continue;
                cp->nacc = 0;
                if (cp->st == P_HDR) {
                        if (memcmp(cp->acc, copy_sig, 11) != 0) {
                                cp->st = P_BAD;
                                return;
                        }
                        cp->skip = be32(cp->acc + 15);
                        cp->st = cp->skip ? P_EXT : P_NFIELDS;
                } else if (cp->st == P_NFIELDS) {
                        int16_t nf = (int16_t)((uint16_t)cp->acc[0] << 8 | cp->acc[1]);
                        if (nf == -1) {
                                cp->st = P_DONE;
                        } else if (nf < 0) {
                                cp->st = P_BAD;
                        } else {
                                cp->tuples++;
                                cp->nfields = nf;
                                cp->st = nf ? P_FLEN : P_NFIELDS;
                        }
                } else { /* P_FLEN */
                        int32_t len = (int32_t)be32(cp->acc);
                        cp->nfields--;
                        if (len < -1) {
                                cp->st = P_BAD;
                        } else if (len <= 0) {
                                cp->st = cp->nfields ? P_FLEN : P_NFIELDS;
                        } else {
                                cp->skip = len;
                                cp->st = P_FDATA;
                        }
                }
        }
}

/* ---- helpers ------------------------------------------------------------------- */

static void hex(const unsigned char *d, unsigned n, char *out)
{
        for (unsigned i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void sl_history_manifest_path(const char *path, char *out, size_t size)
{
        snprintf(out, size, "%s.manifest.json", path);
}

static int fsync_dir_of(const char *path)
{
        char *dup = strdup(path);
        int fd, rc = -1;

        if (!dup)
                return -1;
        fd = open(dirname(dup), O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
                rc = fsync(fd);
                close(fd);
        }
        free(dup);
        return rc;
}

/* Write buf to a new file path (via path.tmp, fsync'd, renamed). */
static int write_small_file(const char *path, const char *buf, char *errstr,
                            size_t errstr_size)
{
        char tmp[4300];
        FILE *fp;

        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fp = fopen(tmp, "wb");
        if (!fp || fputs(buf, fp) == EOF || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
                if (fp)
                        fclose(fp);
                unlink(tmp);
                return -1;
        }
        fclose(fp);
        if (rename(tmp, path) != 0) {
                snprintf(errstr, errstr_size, "rename %s: %s", tmp, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

static int manifest_write(const char *path, const sl_history_manifest_t *m, char *errstr,
                          size_t errstr_size)
{
        char mpath[4200], buf[2048];
        const char *base = strrchr(path, '/');

        sl_history_manifest_path(path, mpath, sizeof(mpath));
        /* Names come from pg_class and the archive folder: no quotes to escape
         * (maintain.c makes them from [a-z0-9_] only). */
        snprintf(buf, sizeof(buf),
                 "{\"format\": \"" SL_HISTORY_ARCHIVE_FORMAT "\", \"table\": \"%s\", "
                 "\"partition\": \"%s\", \"range_lo_ms\": %" PRId64
                 ", \"range_hi_ms\": %" PRId64 ", \"rows\": %" PRId64
                 ", \"bytes\": %" PRId64 ", \"raw_bytes\": %" PRId64
                 ", \"sha256\": \"%s\", \"file\": \"%s\"}\n",
                 m->tbl, m->partition, m->lo_ms, m->hi_ms, m->rows, m->bytes,
                 m->raw_bytes, m->sha256, base ? base + 1 : path);
        return write_small_file(mpath, buf, errstr, errstr_size);
}

/* ---- write --------------------------------------------------------------------- */

/* The compressed file being written. */
typedef struct zfile_s {
        ZSTD_CCtx *z;
        FILE *fp;
        EVP_MD_CTX *sha;
        void *out;
        size_t outcap;
        int64_t bytes;
        const char *tmp;
        char *errstr;
        size_t errstr_size;
} zfile_t;

static int zfile_put(zfile_t *zf, const void *buf, size_t n, ZSTD_EndDirective mode)
{
        ZSTD_inBuffer in = {buf, n, 0};
        size_t left;

        do {
                ZSTD_outBuffer ob = {zf->out, zf->outcap, 0};
                left = ZSTD_compressStream2(zf->z, &ob, &in, mode);
                if (ZSTD_isError(left)) {
                        snprintf(zf->errstr, zf->errstr_size, "zstd: %s",
                                 ZSTD_getErrorName(left));
                        return -1;
                }
                if (ob.pos && (fwrite(zf->out, 1, ob.pos, zf->fp) != ob.pos ||
                               !EVP_DigestUpdate(zf->sha, zf->out, ob.pos))) {
                        snprintf(zf->errstr, zf->errstr_size, "%s: %s", zf->tmp,
                                 strerror(errno));
                        return -1;
                }
                zf->bytes += (int64_t)ob.pos;
        } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
        return 0;
}

static int zfile_out(void *opaque, const void *buf, size_t n)
{
        return zfile_put(opaque, buf, n, ZSTD_e_continue);
}

/* What an SL_COLCOPY_ error means on the way in (SL_COLCOPY_OUT: errstr is set). */
static void colcopy_err(int err, const char *what, char *errstr, size_t errstr_size)
{
        if (err == SL_COLCOPY_NOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        else if (err == SL_COLCOPY_BAD)
                snprintf(errstr, errstr_size, "%s", what);
}

int sl_history_archive_write(PGconn *pg, sl_history_manifest_t *m, const char *path,
                             int level, char *errstr, size_t errstr_size)
{
        char tmp[4200], *sql = NULL, *ident = NULL, *row = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        zfile_t zf = {.z = ZSTD_createCCtx(),
                      .sha = EVP_MD_CTX_new(),
                      .outcap = ZSTD_CStreamOutSize(),
                      .tmp = tmp,
                      .errstr = errstr,
                      .errstr_size = errstr_size};
        sl_colcopy_t *cc =
            sl_colcopy_encoder_new(SL_HISTORY_ARCHIVE_BLOCK, zfile_out, &zf);
        PGresult *res = NULL;
        int n, err, rc = -1;
        bool copying = false;

        m->rows = m->bytes = m->raw_bytes = 0;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        zf.out = malloc(zf.outcap);
        if (!zf.out || !zf.z || !zf.sha || !cc ||
            !EVP_DigestInit_ex(zf.sha, EVP_sha256(), NULL)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        ZSTD_CCtx_setParameter(zf.z, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(zf.z, ZSTD_c_checksumFlag, 1);
        /* One worker thread compresses while libpq reads (ignored by a libzstd built
         * without threads).  No long-distance matching: with the columns together it
         * made files 0.5% larger and took 1.5x the time (docs/history.md). */
        ZSTD_CCtx_setParameter(zf.z, ZSTD_c_nbWorkers, 1);
        zf.fp = fopen(tmp, "wb");
        if (!zf.fp) {
                snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        ident = PQescapeIdentifier(pg, m->partition, strlen(m->partition));
        if (!ident ||
            asprintf(&sql, "COPY (SELECT * FROM ONLY %s) TO STDOUT (FORMAT binary)",
                     ident) < 0) {
                sql = NULL;
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        res = PQexec(pg, sql);
        if (PQresultStatus(res) != PGRES_COPY_OUT) {
                snprintf(errstr, errstr_size, "COPY %s TO STDOUT: %s", m->partition,
                         PQerrorMessage(pg));
                goto done;
        }
        PQclear(res);
        res = NULL;
        copying = true;
        while ((n = PQgetCopyData(pg, &row, 0)) > 0) {
                m->raw_bytes += n;
                err = sl_colcopy_feed(cc, row, (size_t)n);
                PQfreemem(row);
                row = NULL;
                if (err) {
                        colcopy_err(err, "the server's COPY is not binary COPY", errstr,
                                    errstr_size);
                        goto done;
                }
        }
        if (n == -2) {
                snprintf(errstr, errstr_size, "COPY %s: %s", m->partition,
                         PQerrorMessage(pg));
                goto done;
        }
        copying = false;
        res = PQgetResult(pg);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(errstr, errstr_size, "COPY %s: %s", m->partition,
                         PQerrorMessage(pg));
                goto done;
        }
        m->rows = strtoll(PQcmdTuples(res), NULL, 10);
        if ((err = sl_colcopy_finish(cc))) {
                colcopy_err(err, "the server's COPY stream is incomplete", errstr,
                            errstr_size);
                goto done;
        }
        if (sl_colcopy_rows(cc) != m->rows) {
                snprintf(errstr, errstr_size,
                         "COPY %s: %lld rows in the stream, %" PRId64 " counted",
                         m->partition, sl_colcopy_rows(cc), m->rows);
                goto done;
        }
        if (zfile_put(&zf, "", 0, ZSTD_e_end) != 0)
                goto done;
        m->bytes = zf.bytes;
        if (fflush(zf.fp) != 0 || fsync(fileno(zf.fp)) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        fclose(zf.fp);
        zf.fp = NULL;
        if (rename(tmp, path) != 0 || fsync_dir_of(path) != 0) {
                snprintf(errstr, errstr_size, "rename %s: %s", tmp, strerror(errno));
                goto done;
        }
        EVP_DigestFinal_ex(zf.sha, md, &mdlen);
        hex(md, mdlen, m->sha256);
        if (manifest_write(path, m, errstr, errstr_size) != 0) {
                unlink(path);
                goto done;
        }
        rc = 0;
done:
        if (copying) { /* drain what is left of the COPY so pg stays usable */
                while ((n = PQgetCopyData(pg, &row, 0)) > 0)
                        PQfreemem(row);
                PQclear(PQgetResult(pg));
        }
        if (row)
                PQfreemem(row);
        PQclear(res);
        if (zf.fp) {
                fclose(zf.fp);
                unlink(tmp);
        }
        PQfreemem(ident);
        free(sql);
        free(zf.out);
        sl_colcopy_destroy(cc);
        ZSTD_freeCCtx(zf.z);
        EVP_MD_CTX_free(zf.sha);
        return rc;
}

/* ---- read (verify, load) ------------------------------------------------------- */

/* Stream path through SHA-256 and zstd; each decompressed chunk goes (back to binary
 * COPY when the file holds column blocks) to the copy parser and, when sink is set, to
 * sink.  Checks everything m states. */
typedef int (*sink_fn)(void *opaque, const void *buf, size_t n, char *errstr,
                       size_t errstr_size);

typedef struct reader_s {
        const char *path;
        sink_fn sink;
        void *opaque;
        char *errstr;
        size_t errstr_size;
        copy_parse_t cp;
        int64_t raw;     /* binary COPY bytes */
        uint8_t head[8]; /* the first bytes decompressed, until they say the format */
        size_t nhead;
        bool known, failed;
        sl_colcopy_t *cc; /* column blocks: their decoder */
} reader_t;

/* Binary COPY bytes: parsed, counted, sunk. */
static int reader_rows(void *opaque, const void *buf, size_t n)
{
        reader_t *rd = opaque;

        rd->raw += (int64_t)n;
        copy_parse(&rd->cp, buf, n);
        if (rd->cp.st == P_BAD) {
                snprintf(rd->errstr, rd->errstr_size,
                         "%s: not a binary COPY stream (after %" PRId64 " rows)",
                         rd->path, rd->cp.tuples);
                rd->failed = true;
                return -1;
        }
        if (rd->sink && n && rd->sink(rd->opaque, buf, n, rd->errstr, rd->errstr_size)) {
                rd->failed = true;
                return -1;
        }
        return 0;
}

/* Decompressed bytes (end: no more); 0 or -1 with errstr set. */
static int reader_feed(reader_t *rd, const void *buf, size_t n, bool end)
{
        int err;

        if (!rd->known) {
                size_t take =
                    n < sizeof(rd->head) - rd->nhead ? n : sizeof(rd->head) - rd->nhead;
                memcpy(rd->head + rd->nhead, buf, take);
                rd->nhead += take;
                buf = (const uint8_t *)buf + take;
                n -= take;
                if (rd->nhead < sizeof(rd->head) && !end)
                        return 0;
                rd->known = true;
                if (rd->nhead == sizeof(rd->head) &&
                    memcmp(rd->head, SL_COLCOPY_MAGIC, sizeof(rd->head)) == 0 &&
                    !(rd->cc = sl_colcopy_decoder_new(reader_rows, rd))) {
                        snprintf(rd->errstr, rd->errstr_size, "out of memory");
                        return -1;
                }
                /* anything else goes to the copy parser, which says what is wrong */
                if (reader_feed(rd, rd->head, rd->nhead, false) != 0)
                        return -1;
        }
        if (!rd->cc)
                return n ? reader_rows(rd, buf, n) : 0;
        err = n ? sl_colcopy_feed(rd->cc, buf, n) : 0;
        if (!err && end)
                err = sl_colcopy_finish(rd->cc);
        if (err && !rd->failed) {
                if (err == SL_COLCOPY_NOMEM)
                        snprintf(rd->errstr, rd->errstr_size, "out of memory");
                else if (end)
                        snprintf(rd->errstr, rd->errstr_size,
                                 "%s: the stream is truncated", rd->path);
                else
                        snprintf(rd->errstr, rd->errstr_size,
                                 "%s: not a stream of column blocks (after %lld rows)",
                                 rd->path, sl_colcopy_rows(rd->cc));
        }
        return err ? -1 : 0;
}

static int read_archive(const char *path, const sl_history_manifest_t *m, sink_fn sink,
                        void *opaque, char *errstr, size_t errstr_size)
{
        size_t incap = ZSTD_DStreamInSize(), outcap = ZSTD_DStreamOutSize(), got,
               last = 0;
        void *inb = malloc(incap), *outb = malloc(outcap);
        ZSTD_DCtx *z = ZSTD_createDCtx();
        EVP_MD_CTX *sha = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        char hexsum[65];
        reader_t rd = {.path = path,
                       .sink = sink,
                       .opaque = opaque,
                       .errstr = errstr,
                       .errstr_size = errstr_size};
        int64_t bytes = 0;
        FILE *fp = NULL;
        int rc = -1;

        if (!inb || !outb || !z || !sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        fp = fopen(path, "rb");
        if (!fp) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto done;
        }
        while ((got = fread(inb, 1, incap, fp)) > 0) {
                ZSTD_inBuffer in = {inb, got, 0};
                bytes += (int64_t)got;
                EVP_DigestUpdate(sha, inb, got);
                while (in.pos < in.size) {
                        ZSTD_outBuffer ob = {outb, outcap, 0};
                        last = ZSTD_decompressStream(z, &ob, &in);
                        if (ZSTD_isError(last)) {
                                snprintf(errstr, errstr_size,
                                         "%s: not a valid zstd file: %s", path,
                                         ZSTD_getErrorName(last));
                                goto done;
                        }
                        if (ob.pos && reader_feed(&rd, outb, ob.pos, false) != 0)
                                goto done;
                }
        }
        if (ferror(fp)) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                goto done;
        }
        EVP_DigestFinal_ex(sha, md, &mdlen);
        hex(md, mdlen, hexsum);
        if (bytes != m->bytes || strcmp(hexsum, m->sha256) != 0) {
                snprintf(errstr, errstr_size,
                         "%s: checksum mismatch: %" PRId64 " bytes, SHA-256 %s; the "
                         "manifest says %" PRId64 " bytes, %s",
                         path, bytes, hexsum, m->bytes, m->sha256);
                goto done;
        }
        if (last != 0) {
                snprintf(errstr, errstr_size, "%s: the stream is truncated", path);
                goto done;
        }
        if (reader_feed(&rd, "", 0, true) != 0)
                goto done;
        if (rd.cp.st != P_DONE) {
                snprintf(errstr, errstr_size, "%s: the stream is truncated", path);
                goto done;
        }
        if (rd.cp.tuples != m->rows || rd.raw != m->raw_bytes) {
                snprintf(errstr, errstr_size,
                         "%s: %" PRId64 " rows (%" PRId64 " bytes) where the manifest "
                         "says %" PRId64 " (%" PRId64 ")",
                         path, rd.cp.tuples, rd.raw, m->rows, m->raw_bytes);
                goto done;
        }
        rc = 0;
done:
        if (fp)
                fclose(fp);
        free(inb);
        free(outb);
        sl_colcopy_destroy(rd.cc);
        ZSTD_freeDCtx(z);
        EVP_MD_CTX_free(sha);
        return rc;
}

int sl_history_archive_verify(const char *path, const sl_history_manifest_t *m,
                              char *errstr, size_t errstr_size)
{
        return read_archive(path, m, NULL, NULL, errstr, errstr_size);
}

static int put_copy(void *opaque, const void *buf, size_t n, char *errstr,
                    size_t errstr_size)
{
        PGconn *pg = opaque;

        if (PQputCopyData(pg, buf, (int)n) != 1) {
                snprintf(errstr, errstr_size, "COPY FROM STDIN: %s", PQerrorMessage(pg));
                return -1;
        }
        return 0;
}

int sl_history_archive_load(PGconn *pg, const char *table, const char *path,
                            const sl_history_manifest_t *m, char *errstr,
                            size_t errstr_size)
{
        char *sql = NULL;
        PGresult *res;
        int rc;

        if (asprintf(&sql, "COPY %s FROM STDIN (FORMAT binary)", table) < 0) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        res = PQexec(pg, sql);
        free(sql);
        if (PQresultStatus(res) != PGRES_COPY_IN) {
                snprintf(errstr, errstr_size, "COPY %s FROM STDIN: %s", table,
                         PQerrorMessage(pg));
                PQclear(res);
                return -1;
        }
        PQclear(res);
        rc = read_archive(path, m, put_copy, pg, errstr, errstr_size);
        /* A file that failed any check ends the COPY with an error: nothing loads. */
        PQputCopyEnd(pg, rc == 0 ? NULL : "the archive file failed its checks");
        res = PQgetResult(pg);
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(errstr, errstr_size, "COPY %s FROM STDIN: %s", table,
                         PQerrorMessage(pg));
                rc = -1;
        }
        if (rc == 0 && strtoll(PQcmdTuples(res), NULL, 10) != m->rows) {
                snprintf(errstr, errstr_size, "COPY %s loaded %s rows, not %" PRId64,
                         table, PQcmdTuples(res), m->rows);
                rc = -1;
        }
        PQclear(res);
        while ((res = PQgetResult(pg)))
                PQclear(res);
        return rc;
}
