/* Unit tests for src/history/colcopy.c and the reading side of archive.c: column
 * blocks give back the binary COPY stream byte for byte, whatever the pieces they are
 * fed in; a stream cut short or followed by bytes is refused; and archive files of
 * both formats (binary COPY through zstd, the first; column blocks through zstd) pass
 * verification, and fail it on a wrong row count or a changed byte.  No Postgres. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "history/archive.h"
#include "history/colcopy.h"

typedef struct buf_s {
        unsigned char *p;
        size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
        if (b->n + n > b->cap) {
                b->cap = (b->n + n) * 2 + 64;
                b->p = realloc(b->p, b->cap);
                assert_non_null(b->p);
        }
        memcpy(b->p + b->n, p, n);
        b->n += n;
}

static void put16(buf_t *b, int v)
{
        unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
        put(b, x, 2);
}

static void put32(buf_t *b, int32_t v)
{
        uint32_t u = (uint32_t)v;
        unsigned char x[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 8), (unsigned char)u};
        put(b, x, 4);
}

static int to_buf(void *opaque, const void *p, size_t n)
{
        put(opaque, p, n);
        return 0;
}

/* A binary COPY stream of rows rows of 4 fields (a NULL, an empty value, values of
 * changing length, one large value), then a row of 2 fields, then the trailer. */
static buf_t copy_stream(int rows, bool with_ext)
{
        static const unsigned char sig[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                              '\n', 0xff, '\r', '\n', 0};
        buf_t b = {0};
        char val[64];

        put(&b, sig, sizeof(sig));
        put32(&b, 0);
        put32(&b, with_ext ? 3 : 0);
        if (with_ext)
                put(&b, "ext", 3);
        for (int r = 0; r < rows; r++) {
                int n = snprintf(val, sizeof(val), "payload %d %s", r * 7919,
                                 r % 3 ? "x" : "longer");
                put16(&b, 4);
                put32(&b, 8);
                put(&b, "\0\0\0\0\0\0\0", 7);
                put(&b, &(char){(char)r}, 1);
                if (r % 5 == 0) {
                        put32(&b, -1);
                } else {
                        put32(&b, n);
                        put(&b, val, (size_t)n);
                }
                put32(&b, 0);
                if (r == rows / 2) {
                        static char big[70000];
                        memset(big, 'b', sizeof(big));
                        put32(&b, (int32_t)sizeof(big));
                        put(&b, big, sizeof(big));
                } else {
                        put32(&b, 3);
                        put(&b, "abc", 3);
                }
        }
        put16(&b, 2);
        put32(&b, 1);
        put(&b, "z", 1);
        put32(&b, -1);
        put16(&b, -1);
        return b;
}

/* Feed src to cc in pieces of step bytes (0: all at once); the coder's result. */
static int feed_all(sl_colcopy_t *cc, const buf_t *src, size_t step)
{
        int err = 0;

        for (size_t off = 0; off < src->n && !err;) {
                size_t n = step && step < src->n - off ? step : src->n - off;
                err = sl_colcopy_feed(cc, src->p + off, n);
                off += n;
        }
        return err ? err : sl_colcopy_finish(cc);
}

static buf_t encode(const buf_t *src, size_t block, size_t step)
{
        buf_t out = {0};
        sl_colcopy_t *cc = sl_colcopy_encoder_new(block, to_buf, &out);

        assert_non_null(cc);
        assert_int_equal(feed_all(cc, src, step), 0);
        sl_colcopy_destroy(cc);
        return out;
}

static void round_trip_byte_for_byte(void **state)
{
        static const size_t blocks[] = {1, 100, 4096, (size_t)16 << 20};
        static const size_t steps[] = {1, 7, 1000, 0};
        (void)state;

        for (int ext = 0; ext < 2; ext++) {
                buf_t src = copy_stream(500, ext);
                for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
                        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
                                buf_t col = encode(&src, blocks[i], steps[j]), back = {0};
                                sl_colcopy_t *dec = sl_colcopy_decoder_new(to_buf, &back);
                                assert_memory_equal(col.p, SL_COLCOPY_MAGIC, 8);
                                assert_int_equal(feed_all(dec, &col, steps[3 - j]), 0);
                                assert_int_equal(sl_colcopy_rows(dec), 501);
                                assert_int_equal(back.n, src.n);
                                assert_memory_equal(back.p, src.p, src.n);
                                sl_colcopy_destroy(dec);
                                free(col.p);
                                free(back.p);
                        }
                }
                free(src.p);
        }
}

static void cut_or_extended_streams_are_refused(void **state)
{
        buf_t src = copy_stream(50, false), col = encode(&src, 100, 0), sink = {0};
        buf_t part;
        sl_colcopy_t *cc;
        (void)state;

        /* the encoder: a COPY stream without its trailer, with bytes after it */
        part = (buf_t){src.p, src.n - 2, src.n - 2};
        cc = sl_colcopy_encoder_new(100, to_buf, &sink);
        assert_int_equal(feed_all(cc, &part, 0), SL_COLCOPY_BAD);
        sl_colcopy_destroy(cc);
        put(&src, "x", 1);
        cc = sl_colcopy_encoder_new(100, to_buf, &sink);
        assert_int_equal(feed_all(cc, &src, 0), SL_COLCOPY_BAD);
        sl_colcopy_destroy(cc);
        src.p[5] = 'X'; /* "PGCOPX": not binary COPY */
        src.n--;
        cc = sl_colcopy_encoder_new(100, to_buf, &sink);
        assert_int_equal(feed_all(cc, &src, 0), SL_COLCOPY_BAD);
        sl_colcopy_destroy(cc);

        /* the decoder: every cut of the column stream, and a byte after its end */
        for (size_t cut = 0; cut < col.n; cut += 1 + cut / 8) {
                part = (buf_t){col.p, cut, cut};
                cc = sl_colcopy_decoder_new(to_buf, &sink);
                assert_int_equal(feed_all(cc, &part, 0), SL_COLCOPY_BAD);
                sl_colcopy_destroy(cc);
        }
        put(&col, "x", 1);
        cc = sl_colcopy_decoder_new(to_buf, &sink);
        assert_int_equal(feed_all(cc, &col, 0), SL_COLCOPY_BAD);
        sl_colcopy_destroy(cc);
        free(src.p);
        free(col.p);
        free(sink.p);
}

/* Writes data through zstd into path; the manifest of it (rows, raw_bytes given). */
static sl_history_manifest_t zfile(const char *path, const buf_t *data, int64_t rows,
                                   int64_t raw_bytes)
{
        sl_history_manifest_t m = {0};
        size_t cap = ZSTD_compressBound(data->n), n;
        void *z = malloc(cap);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        FILE *fp = fopen(path, "wb");

        assert_non_null(z);
        assert_non_null(fp);
        n = ZSTD_compress(z, cap, data->p, data->n, 3);
        assert_false(ZSTD_isError(n));
        assert_int_equal(fwrite(z, 1, n, fp), n);
        fclose(fp);
        EVP_Digest(z, n, md, &mdlen, EVP_sha256(), NULL);
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(m.sha256 + 2 * i, 3, "%02x", md[i]);
        m.rows = rows;
        m.bytes = (int64_t)n;
        m.raw_bytes = raw_bytes;
        free(z);
        return m;
}

static void both_formats_verify(void **state)
{
        char dir[] = "/tmp/test_history_archive.XXXXXX", path[64], err[512];
        buf_t src = copy_stream(300, false), col = encode(&src, 4096, 0);
        sl_history_manifest_t m;
        (void)state;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/a.copy.zst", dir);
        for (int format = 1; format <= 2; format++) {
                const buf_t *data = format == 1 ? &src : &col;
                m = zfile(path, data, 301, (int64_t)src.n);
                assert_int_equal(sl_history_archive_verify(path, &m, err, sizeof(err)),
                                 0);
                m.rows = 300;
                assert_int_equal(sl_history_archive_verify(path, &m, err, sizeof(err)),
                                 -1);
                assert_non_null(strstr(err, "where the manifest says 300"));
                /* a stream cut short, written and checksummed as if whole */
                {
                        buf_t cut = {data->p, data->n - 3, data->n - 3};
                        m = zfile(path, &cut, 301, (int64_t)src.n);
                        assert_int_equal(
                            sl_history_archive_verify(path, &m, err, sizeof(err)), -1);
                        assert_non_null(strstr(err, "truncated"));
                }
        }
        unlink(path);
        rmdir(dir);
        free(src.p);
        free(col.p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(round_trip_byte_for_byte),
            cmocka_unit_test(cut_or_extended_streams_are_refused),
            cmocka_unit_test(both_formats_verify),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
