/*
 * Unit tests of the envelope codec (src/envelope): CRC-64-AVRO and the schema
 * fingerprint against python3-avro's, decoding envelopes written by python3-avro (v1
 * and v2 writers), round trips, writer registration, every decode-time rejection,
 * truncation at every length and random bytes (run these under ASan too), and the
 * JSON forms used by sluicectl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "envelope/envelope.h"
#include "envelope/envelope_int.h"
#include "envelope/validate.h"
#include "sluice/err.h"

#define FP_V1    0xb3cc3b13985974d0ULL /* python3-avro, spec canonical form */
#define FP_V1_PY 0x0a87465d1a9480e5ULL /* python3-avro 1.11's own canonical form */
#define FP_V2    0xc26eb5a42891c57dULL

static const char *const PCF_V1 =
    "{\"name\":\"io.sluice.Envelope\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"source\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":"
    "\"long\"},"
    "{\"name\":\"payload\",\"type\":\"string\"},"
    "{\"name\":\"correlation_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"ttl_ms\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"metadata\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}";

extern const char sl_envelope_schema_json[];

/* ---- helpers ---- */

static unsigned char *read_data(const char *name, size_t *len)
{
        char path[512];
        const char *dir = getenv("SLUICE_SOURCE_DIR");
        snprintf(path, sizeof(path), "%s/tests/unit/data/%s", dir ? dir : SL_SOURCE_DIR,
                 name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        unsigned char *buf = malloc(65536);
        assert_non_null(buf);
        *len = fread(buf, 1, 65536, f);
        fclose(f);
        return buf;
}

static const char *schemas_dir(void)
{
        static char path[512];
        const char *dir = getenv("SLUICE_SOURCE_DIR");
        snprintf(path, sizeof(path), "%s/schemas", dir ? dir : SL_SOURCE_DIR);
        return path;
}

typedef struct bb_s {
        unsigned char b[4096];
        size_t n;
} bb_t;

static void bb_long(bb_t *bb, int64_t v)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        while (z >= 0x80) {
                bb->b[bb->n++] = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        bb->b[bb->n++] = (unsigned char)z;
}

static void bb_str(bb_t *bb, const char *s, size_t n)
{
        bb_long(bb, (int64_t)n);
        memcpy(bb->b + bb->n, s, n);
        bb->n += n;
}

static void bb_header(bb_t *bb, uint64_t fp)
{
        bb->n = 0;
        bb->b[bb->n++] = 0xC3;
        bb->b[bb->n++] = 0x01;
        for (int i = 0; i < 8; i++)
                bb->b[bb->n++] = (unsigned char)(fp >> (8 * i));
}

#define ID "0b1e7c2a-6a55-4c4e-9d77-6a0f4f2d9e01"

/* A v1 record up to (not including) correlation_id. */
static void bb_v1_head(bb_t *bb, const char *type)
{
        bb_header(bb, FP_V1);
        bb_str(bb, ID, 36);
        bb_str(bb, type, strlen(type));
        bb_str(bb, "src", 3);
        bb_long(bb, 1714564800000LL);
        bb_str(bb, "{}", 2);
}

static int decode(const sl_codec_t *codec, const void *buf, size_t len,
                  sl_envelope_t *env, sl_reject_t *rej)
{
        return sl_envelope_decode(codec, buf, len, env, rej);
}

static void check_python_v1(const sl_envelope_t *env)
{
        assert_string_equal(env->id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_string_equal(env->type, "order.created");
        assert_string_equal(env->source, "shop-eu");
        assert_int_equal(env->occurred_at, 1714564800250LL);
        assert_string_equal(env->payload,
                            "{\"order\":42,\"lines\":[{\"sku\":\"A-1\",\"qty\":2}],"
                            "\"note\":\"caf\xc3\xa9\"}");
        assert_int_equal(env->payload_len, strlen(env->payload));
        assert_true(env->has_ttl);
        assert_int_equal(env->ttl_ms, 86400000);
}

/* ---- tests ---- */

static void test_crc64_vectors(void **state)
{
        (void)state;
        assert_true(sl_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
        assert_true(sl_avro_crc64("\"null\"", 6) == 0x63dd24e7cc258f8aULL);
        assert_true(sl_avro_crc64("\"string\"", 8) == 0x8f014872634503c7ULL);
        assert_true(sl_avro_crc64("\"int\"", 5) == 0x7275d51a3f395c8fULL);
        assert_true(sl_avro_crc64("123456789", 9) == 0xa2cdcf9465b2c75fULL);
}

static void test_canonical_form_and_fingerprint(void **state)
{
        char errstr[256];
        (void)state;
        sl__avro_schema_t *s = sl__avro_schema_parse(sl_envelope_schema_json,
                                                     strlen(sl_envelope_schema_json),
                                                     errstr, sizeof(errstr));
        assert_non_null(s);
        assert_string_equal(s->canonical, PCF_V1);
        sl__avro_schema_destroy(s);

        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        assert_non_null(codec);
        assert_true(sl_codec_fingerprint(codec) == FP_V1);
        sl_codec_destroy(codec);
}

static void test_canonical_rules(void **state)
{
        char errstr[256];
        (void)state;
        /* namespaces, references, nested named types, attribute stripping and order */
        const char *in =
            "{\"namespace\":\"a.b\",\"type\":\"record\",\"name\":\"R\",\"doc\":\"x\","
            "\"aliases\":[\"Q\"],\"fields\":[{\"type\":{\"type\":\"enum\",\"name\":\"E\","
            "\"symbols\":[\"X\",\"Y\"]},\"name\":\"e\",\"default\":\"X\"},"
            "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"size\":16,\"name\":\"c.F\"}},"
            "{\"name\":\"g\",\"type\":[\"null\",\"E\",\"c.F\",{\"type\":\"int\"}]},"
            "{\"name\":\"h\",\"type\":{\"type\":\"array\",\"items\":\"R\"}}]}";
        const char *want =
            "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
            "{\"name\":\"e\",\"type\":{\"name\":\"a.b.E\",\"type\":\"enum\","
            "\"symbols\":[\"X\",\"Y\"]}},"
            "{\"name\":\"f\",\"type\":{\"name\":\"c.F\",\"type\":\"fixed\",\"size\":16}},"
            "{\"name\":\"g\",\"type\":[\"null\",\"a.b.E\",\"c.F\",\"int\"]},"
            "{\"name\":\"h\",\"type\":{\"type\":\"array\",\"items\":\"a.b.R\"}}]}";
        sl__avro_schema_t *s =
            sl__avro_schema_parse(in, strlen(in), errstr, sizeof(errstr));
        assert_non_null(s);
        assert_string_equal(s->canonical, want);
        sl__avro_schema_destroy(s);

        const char *bad[] = {
            "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
            "\"type\":\"Nope\"}]}",
            "[\"int\",\"int\"]",
            "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}",
            "{\"type\":\"record\",\"name\":\"9R\",\"fields\":[]}",
            "42",
            "{\"type\":",
            NULL};
        for (int i = 0; bad[i]; i++) {
                errstr[0] = '\0';
                assert_null(sl__avro_schema_parse(bad[i], strlen(bad[i]), errstr,
                                                  sizeof(errstr)));
                assert_true(errstr[0] != '\0');
        }
}

static void test_decode_python_v1(void **state)
{
        char errstr[256];
        size_t len;
        sl_envelope_t env;
        sl_reject_t rej;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        unsigned char *buf = read_data("envelope_v1.bin", &len);
        sl_envelope_init(&env);

        assert_int_equal(decode(codec, buf, len, &env, &rej), SL_OK);
        assert_int_equal(rej.code, SL_REJECT_NONE);
        check_python_v1(&env);
        assert_string_equal(env.correlation_id, "corr-7");
        assert_int_equal(env.meta_cnt, 2);
        int region = strcmp(env.meta_keys[0], "region") == 0 ? 0 : 1;
        assert_string_equal(env.meta_keys[region], "region");
        assert_string_equal(env.meta_vals[region], "eu-west-1");
        assert_string_equal(env.meta_vals[1 - region], "t1");

        /* python3-avro 1.11's own fingerprint of the same schema is accepted too */
        for (int i = 0; i < 8; i++)
                buf[2 + i] = (unsigned char)(FP_V1_PY >> (8 * i));
        assert_int_equal(decode(codec, buf, len, &env, &rej), SL_OK);
        check_python_v1(&env);

        free(buf);
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static void test_schema_evolution_v2(void **state)
{
        char errstr[256];
        size_t len1, len2;
        sl_envelope_t env;
        sl_reject_t rej;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        unsigned char *v1 = read_data("envelope_v1.bin", &len1);
        unsigned char *v2 = read_data("envelope_v2.bin", &len2);
        sl_envelope_init(&env);

        assert_int_equal(decode(codec, v2, len2, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_UNKNOWN_SCHEMA);
        assert_non_null(strstr(rej.msg, "c26eb5a42891c57d"));

        assert_int_equal(
            sl_codec_add_writers_dir(codec, schemas_dir(), errstr, sizeof(errstr)),
            SL_OK);
        assert_int_equal(decode(codec, v2, len2, &env, &rej), SL_OK);
        check_python_v1(&env); /* traceparent skipped; the v1 fields intact */
        assert_null(env.correlation_id);
        assert_int_equal(env.meta_cnt, 0);

        /* v1 data still decodes once v2 is registered */
        assert_int_equal(decode(codec, v1, len1, &env, &rej), SL_OK);
        check_python_v1(&env);
        assert_string_equal(env.correlation_id, "corr-7");

        /* registering the same writer again is harmless */
        assert_int_equal(
            sl_codec_add_writers_dir(codec, schemas_dir(), errstr, sizeof(errstr)),
            SL_OK);
        free(v1);
        free(v2);
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static void test_writer_resolution(void **state)
{
        char errstr[256];
        sl_envelope_t env;
        sl_reject_t rej;
        bb_t bb;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        sl_envelope_init(&env);

        /* A writer with reordered fields, int occurred_at (promoted to long), bytes
         * payload (promoted to string), no optional fields, and extra fields of every
         * kind that the reader skips. */
        const char *w =
            "{\"type\":\"record\",\"name\":\"other.ns.Envelope\",\"fields\":["
            "{\"name\":\"x_rec\",\"type\":{\"type\":\"record\",\"name\":\"X\","
            "\"fields\":[{\"name\":\"a\",\"type\":\"double\"},"
            "{\"name\":\"b\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
            "{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"En\","
            "\"symbols\":[\"P\",\"Q\"]}}]}},"
            "{\"name\":\"source\",\"type\":\"string\"},"
            "{\"name\":\"id\",\"type\":\"string\"},"
            "{\"name\":\"x_arr\",\"type\":{\"type\":\"array\",\"items\":\"float\"}},"
            "{\"name\":\"x_nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
            "{\"name\":\"occurred_at\",\"type\":\"int\"},"
            "{\"name\":\"x_map\",\"type\":{\"type\":\"map\",\"values\":\"boolean\"}},"
            "{\"name\":\"payload\",\"type\":\"bytes\"},"
            "{\"name\":\"type\",\"type\":[\"null\",\"string\"]}]}";
        assert_int_equal(sl_codec_add_writer(codec, w, errstr, sizeof(errstr)), SL_OK);
        sl__avro_schema_t *s =
            sl__avro_schema_parse(w, strlen(w), errstr, sizeof(errstr));
        uint64_t fp = sl_avro_crc64(s->canonical, strlen(s->canonical));
        sl__avro_schema_destroy(s);

        bb_header(&bb, fp);
        memcpy(bb.b + bb.n, "\0\0\0\0\0\0\xf0\x3f", 8); /* x_rec.a = 1.0 */
        bb.n += 8;
        memcpy(bb.b + bb.n, "abc", 3); /* x_rec.b */
        bb.n += 3;
        bb_long(&bb, 1);       /* x_rec.c = Q */
        bb_str(&bb, "src", 3); /* source */
        bb_str(&bb, ID, 36);   /* id */
        bb_long(&bb, -2);      /* x_arr: block of 2 with byte size */
        bb_long(&bb, 8);
        memset(bb.b + bb.n, 0, 8);
        bb.n += 8;
        bb_long(&bb, 0);
        bb_long(&bb, 1000000); /* x_nulls: a million nulls, no bytes */
        bb_long(&bb, 0);
        bb_long(&bb, 123456); /* occurred_at as int */
        bb_long(&bb, 1);      /* x_map */
        bb_str(&bb, "k", 1);
        bb.b[bb.n++] = 1;
        bb_long(&bb, 0);
        bb_str(&bb, "{\"a\":1}", 7); /* payload as bytes */
        bb_long(&bb, 1);             /* type: union branch string */
        bb_str(&bb, "t.x", 3);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_OK);
        assert_string_equal(env.id, ID);
        assert_string_equal(env.type, "t.x");
        assert_string_equal(env.source, "src");
        assert_int_equal(env.occurred_at, 123456);
        assert_string_equal(env.payload, "{\"a\":1}");
        assert_null(env.correlation_id);
        assert_false(env.has_ttl);
        assert_int_equal(env.meta_cnt, 0);

        /* the null branch of the writer's union does not resolve to the reader's string
         */
        bb.n -= 5;
        bb_long(&bb, 0);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);
        assert_non_null(strstr(rej.msg, "type"));

        /* writers that cannot resolve are refused at registration */
        const char *bad[] = {/* lacks payload, which has no default */
                             "{\"type\":\"record\",\"name\":\"Envelope\",\"fields\":["
                             "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"type\","
                             "\"type\":\"string\"},"
                             "{\"name\":\"source\",\"type\":\"string\"},"
                             "{\"name\":\"occurred_at\",\"type\":\"long\"}]}",
                             /* payload is an int */
                             "{\"type\":\"record\",\"name\":\"Envelope\",\"fields\":["
                             "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"type\","
                             "\"type\":\"string\"},"
                             "{\"name\":\"source\",\"type\":\"string\"},"
                             "{\"name\":\"occurred_at\",\"type\":\"long\"},{\"name\":"
                             "\"payload\",\"type\":\"int\"}]}",
                             /* another record name */
                             "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}",
                             "\"string\"", "not json", NULL};
        for (int i = 0; bad[i]; i++) {
                errstr[0] = '\0';
                assert_int_equal(
                    sl_codec_add_writer(codec, bad[i], errstr, sizeof(errstr)),
                    SL_ERR_INVALID);
                assert_true(errstr[0] != '\0');
        }
        assert_int_equal(
            sl_codec_add_writers_dir(codec, "/nonexistent", errstr, sizeof(errstr)),
            SL_ERR_IO);
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static void roundtrip(const sl_codec_t *codec, const sl_envelope_t *in)
{
        void *buf;
        size_t len;
        sl_envelope_t out;
        sl_reject_t rej;

        assert_int_equal(sl_envelope_encode(codec, in, &buf, &len), SL_OK);
        sl_envelope_init(&out);
        assert_int_equal(decode(codec, buf, len, &out, &rej), SL_OK);
        assert_string_equal(out.id, in->id);
        assert_string_equal(out.type, in->type);
        assert_string_equal(out.source, in->source);
        assert_int_equal(out.occurred_at, in->occurred_at);
        assert_int_equal(out.payload_len, in->payload_len);
        assert_memory_equal(out.payload, in->payload, in->payload_len);
        if (in->correlation_id)
                assert_string_equal(out.correlation_id, in->correlation_id);
        else
                assert_null(out.correlation_id);
        assert_int_equal(out.has_ttl, in->has_ttl);
        if (in->has_ttl)
                assert_int_equal(out.ttl_ms, in->ttl_ms);
        assert_int_equal(out.meta_cnt, in->meta_cnt);
        for (size_t i = 0; i < in->meta_cnt; i++) {
                assert_string_equal(out.meta_keys[i], in->meta_keys[i]);
                assert_string_equal(out.meta_vals[i], in->meta_vals[i]);
        }
        /* decoding again into the same (warm) envelope gives the same result */
        assert_int_equal(decode(codec, buf, len, &out, &rej), SL_OK);
        assert_string_equal(out.type, in->type);
        free(buf);
        sl_envelope_clear(&out);
}

static void test_roundtrip(void **state)
{
        char errstr[256];
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        const char *keys[200], *vals[200];
        static char kbuf[200][16], vbuf[200][16];

        sl_envelope_t env = {0};
        strcpy(env.id, ID);
        env.type = "order.created";
        env.source = "shop-\xe2\x82\xac";
        env.occurred_at = -5; /* encodes as a negative zig-zag varint */
        env.payload = "{\"a\":[1,2,{\"b\":null}]}";
        env.payload_len = strlen(env.payload);
        roundtrip(codec, &env); /* no optional fields */

        env.occurred_at = INT64_MAX;
        env.correlation_id = "c-1";
        env.has_ttl = true;
        env.ttl_ms = INT64_MIN;
        for (int i = 0; i < 200; i++) {
                snprintf(kbuf[i], sizeof(kbuf[i]), "k%d", i);
                snprintf(vbuf[i], sizeof(vbuf[i]), "v%d", i * 7);
                keys[i] = kbuf[i];
                vals[i] = vbuf[i];
        }
        env.meta_keys = keys;
        env.meta_vals = vals;
        env.meta_cnt = 3;
        roundtrip(codec, &env);
        env.meta_cnt = 200; /* grows the metadata arrays */
        roundtrip(codec, &env);
        env.correlation_id = "";
        env.ttl_ms = 0;
        env.meta_cnt = 1;
        roundtrip(codec, &env);

        /* encode refuses what cannot be encoded */
        void *buf;
        size_t len;
        env.type = NULL;
        assert_int_equal(sl_envelope_encode(codec, &env, &buf, &len), SL_ERR_INVALID);
        assert_null(buf);
        sl_codec_destroy(codec);
}

static void test_decode_rejections(void **state)
{
        char errstr[256];
        sl_envelope_t env;
        sl_reject_t rej;
        bb_t bb;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        sl_envelope_init(&env);

        /* framing */
        assert_int_equal(decode(codec, "\xC3\x01", 2, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_FRAMING);
        assert_int_equal(decode(codec, NULL, 0, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_FRAMING);
        bb_v1_head(&bb, "t");
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_OK);
        bb.b[0] = '{';
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_FRAMING);
        assert_non_null(strstr(rej.msg, "C3 01"));
        bb.b[0] = 0xC3;
        bb.b[1] = 0x02;
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_FRAMING);
        bb.b[1] = 0x01;

        /* unknown fingerprint */
        bb.b[5] ^= 0x55;
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_UNKNOWN_SCHEMA);
        bb.b[5] ^= 0x55;

        /* trailing bytes */
        bb.b[bb.n++] = 0;
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);
        assert_non_null(strstr(rej.msg, "trailing"));

        /* union index out of range */
        bb_v1_head(&bb, "t");
        bb_long(&bb, 2);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);
        assert_non_null(strstr(rej.msg, "correlation_id"));

        /* a string length beyond the input */
        bb_header(&bb, FP_V1);
        bb_long(&bb, 1000);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);
        bb_header(&bb, FP_V1);
        bb_long(&bb, -1);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);

        /* an 11-byte varint overflows */
        bb_header(&bb, FP_V1);
        memset(bb.b + bb.n, 0xff, 11);
        bb.n += 11;
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);

        /* metadata: a huge count, then negative counts with byte sizes (legal) */
        bb_v1_head(&bb, "t");
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, INT64_MAX);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);
        bb_v1_head(&bb, "t");
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, -1);
        bb_long(&bb, 4);
        bb_str(&bb, "a", 1);
        bb_str(&bb, "b", 1);
        bb_long(&bb, 0);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_OK);
        assert_int_equal(env.meta_cnt, 1);
        assert_string_equal(env.meta_keys[0], "a");
        assert_string_equal(env.meta_vals[0], "b");
        bb_v1_head(&bb, "t");
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, INT64_MIN);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_DECODE);

        /* bad_text: NUL inside a string, invalid UTF-8 in metadata */
        bb_v1_head(&bb, "a\0b");
        bb.n = 0;
        bb_header(&bb, FP_V1);
        bb_str(&bb, ID, 36);
        bb_str(&bb, "a\0b", 3);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_BAD_TEXT);
        assert_non_null(strstr(rej.msg, "type: NUL"));
        bb_v1_head(&bb, "t");
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, 1);
        bb_str(&bb, "k", 1);
        bb_str(&bb, "\xc3\x28", 2);
        bb_long(&bb, 0);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_BAD_TEXT);
        assert_non_null(strstr(rej.msg, "metadata value"));

        /* an id that is not 36 characters decodes; validation rejects it */
        bb_header(&bb, FP_V1);
        bb_str(&bb, "short", 5);
        bb_str(&bb, "t", 1);
        bb_str(&bb, "s", 1);
        bb_long(&bb, 1);
        bb_str(&bb, "{}", 2);
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        assert_int_equal(decode(codec, bb.b, bb.n, &env, &rej), SL_OK);
        assert_string_equal(env.id, "");

        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static void test_truncation_every_length(void **state)
{
        char errstr[256];
        size_t len1, len2;
        sl_envelope_t env;
        sl_reject_t rej;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        assert_int_equal(
            sl_codec_add_writers_dir(codec, schemas_dir(), errstr, sizeof(errstr)),
            SL_OK);
        unsigned char *bufs[2] = {read_data("envelope_v1.bin", &len1),
                                  read_data("envelope_v2.bin", &len2)};
        size_t lens[2] = {len1, len2};
        sl_envelope_init(&env);
        for (int k = 0; k < 2; k++) {
                for (size_t n = 0; n < lens[k]; n++) {
                        /* an exact-size heap copy so ASan sees any over-read */
                        unsigned char *cut = malloc(n ? n : 1);
                        memcpy(cut, bufs[k], n);
                        assert_int_equal(decode(codec, cut, n, &env, &rej),
                                         SL_ERR_REJECTED);
                        assert_int_equal(rej.code,
                                         n < 10 ? SL_REJECT_FRAMING : SL_REJECT_DECODE);
                        free(cut);
                }
                assert_int_equal(decode(codec, bufs[k], lens[k], &env, &rej), SL_OK);
        }
        free(bufs[0]);
        free(bufs[1]);
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
        /* xorshift64*: deterministic across runs */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545F4914F6CDD1DULL;
}

static void test_random_bytes_never_crash(void **state)
{
        char errstr[256];
        size_t len1, len2;
        sl_envelope_t env;
        sl_reject_t rej;
        (void)state;
        sl_codec_t *codec = sl_codec_new(errstr, sizeof(errstr));
        assert_int_equal(
            sl_codec_add_writers_dir(codec, schemas_dir(), errstr, sizeof(errstr)),
            SL_OK);
        unsigned char *v1 = read_data("envelope_v1.bin", &len1);
        unsigned char *v2 = read_data("envelope_v2.bin", &len2);
        unsigned char *buf = malloc(512);
        size_t ok = 0, rejected = 0;
        const sl_validate_opts_t vopts = {.now_ms = 1714564800000LL, .max_future_ms = 1};
        sl_envelope_init(&env);

        for (int i = 0; i < 300000; i++) {
                size_t n;
                uint64_t r = rng();
                switch (i % 3) {
                case 0: /* a valid header, random body */
                        n = 10 + (r >> 8) % 120;
                        memcpy(buf, v1, 10);
                        for (size_t k = 10; k < n; k++)
                                buf[k] = (unsigned char)rng();
                        break;
                case 1: { /* a valid record with a few bytes mutated */
                        const unsigned char *src = (r & 1) ? v1 : v2;
                        n = (r & 1) ? len1 : len2;
                        memcpy(buf, src, n);
                        for (int m = 0; m < 1 + (int)((r >> 4) % 4); m++)
                                buf[10 + rng() % (n - 10)] = (unsigned char)rng();
                        break;
                }
                default: /* anything at all */
                        n = (r >> 8) % 64;
                        for (size_t k = 0; k < n; k++)
                                buf[k] = (unsigned char)rng();
                        if (r & 1) {
                                buf[0] = 0xC3;
                                buf[1] = 0x01;
                        }
                        break;
                }
                unsigned char *exact = malloc(n ? n : 1);
                memcpy(exact, buf, n);
                int rc = decode(codec, exact, n, &env, &rej);
                free(exact);
                if (rc == SL_OK) {
                        ok++;
                        assert_int_equal(rej.code, SL_REJECT_NONE);
                        assert_non_null(env.type);
                        assert_non_null(env.payload);
                        /* whatever decoded must be safe to validate (payload may hold
                         * NULs: it is judged by its length) */
                        sl_reject_t vrej;
                        if (sl_envelope_validate(&env, &vopts, NULL, &vrej) != SL_OK)
                                assert_true(vrej.code >= SL_REJECT_BAD_ID &&
                                            vrej.code < SL_REJECT__CNT);
                } else {
                        rejected++;
                        assert_int_equal(rc, SL_ERR_REJECTED);
                        assert_true(rej.code > SL_REJECT_NONE &&
                                    rej.code <= SL_REJECT_BAD_TEXT);
                        assert_true(rej.msg[0] != '\0');
                }
        }
        assert_true(rejected > 0);
        assert_true(ok > 0); /* some mutations hit only payload bytes */
        free(buf);
        free(v1);
        free(v2);
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
}

static void test_json_forms(void **state)
{
        char errstr[256];
        sl_envelope_t env, env2;
        (void)state;
        const char *in =
            "{\"id\":\"0B1E7C2A-6A55-4C4E-9D77-6A0F4F2D9E01\",\"type\":\"t.a\","
            "\"source\":\"s\",\"occurred_at\":\"2024-05-01T14:00:00.250+02:00\","
            "\"payload\":{\"x\":[1,true]},\"correlation_id\":\"c\",\"ttl_ms\":60000,"
            "\"metadata\":{\"k\":\"v\",\"k2\":\"v2\"}}";
        assert_int_equal(
            sl_envelope_from_json(in, strlen(in), &env, errstr, sizeof(errstr)), SL_OK);
        assert_string_equal(env.id, ID);
        assert_string_equal(env.type, "t.a");
        assert_int_equal(env.occurred_at, 1714564800250LL);
        assert_string_equal(env.payload, "{\"x\":[1,true]}");
        assert_int_equal(env.payload_len, strlen(env.payload));
        assert_string_equal(env.correlation_id, "c");
        assert_true(env.has_ttl);
        assert_int_equal(env.ttl_ms, 60000);
        assert_int_equal(env.meta_cnt, 2);
        assert_string_equal(env.meta_keys[1], "k2");
        assert_string_equal(env.meta_vals[1], "v2");

        char *out = sl_envelope_to_json(&env);
        assert_non_null(out);
        assert_string_equal(out,
                            "{\"id\":\"" ID "\",\"type\":\"t.a\",\"source\":\"s\","
                            "\"occurred_at\":1714564800250,\"payload\":{\"x\":[1,true]},"
                            "\"correlation_id\":\"c\",\"ttl_ms\":60000,"
                            "\"metadata\":{\"k\":\"v\",\"k2\":\"v2\"}}");
        /* the admin API's form: occurred_at as RFC 3339 UTC with milliseconds */
        {
                json_t *j = sl_envelope_to_jsonv(&env, SL_ENVELOPE_JSON_RFC3339);
                char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

                assert_non_null(
                    strstr(text, "\"occurred_at\":\"2024-05-01T12:00:00.250Z\""));
                assert_non_null(strstr(text, "\"payload\":{\"x\":[1,true]}"));
                free(text);
                json_decref(j);
                env.occurred_at = -1; /* a millisecond before the epoch */
                j = sl_envelope_to_jsonv(&env, SL_ENVELOPE_JSON_RFC3339);
                assert_string_equal(json_string_value(json_object_get(j, "occurred_at")),
                                    "1969-12-31T23:59:59.999Z");
                json_decref(j);
                env.occurred_at = 1714564800250LL;
        }
        /* and back */
        assert_int_equal(
            sl_envelope_from_json(out, strlen(out), &env2, errstr, sizeof(errstr)),
            SL_OK);
        assert_string_equal(env2.id, env.id);
        assert_string_equal(env2.payload, env.payload);
        assert_int_equal(env2.occurred_at, env.occurred_at);
        free(out);
        sl_envelope_clear(&env2);
        sl_envelope_clear(&env);

        /* defaults: a new v4 id, now, "{}"; payload may be a string of (any) text */
        in = "{\"type\":\"t\",\"source\":\"s\",\"payload\":\"[1]\"}";
        assert_int_equal(
            sl_envelope_from_json(in, strlen(in), &env, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(strlen(env.id), 36);
        assert_int_equal(env.id[14], '4');
        assert_true(env.occurred_at > 1700000000000LL);
        assert_string_equal(env.payload, "[1]");
        assert_null(env.correlation_id);
        assert_false(env.has_ttl);
        assert_int_equal(env.meta_cnt, 0);
        out = sl_envelope_to_json(&env);
        assert_non_null(strstr(out, "\"payload\":[1]"));
        assert_non_null(strstr(out, "\"correlation_id\":null"));
        free(out);
        sl_envelope_clear(&env);

        const char *bad[] = {
            "[]",
            "{\"type\":\"t\"}",
            "{\"type\":\"t\",\"source\":\"s\",\"extra\":1}",
            "{\"type\":\"t\",\"source\":\"s\",\"id\":\"nope\"}",
            "{\"type\":\"t\",\"source\":\"s\",\"occurred_at\":\"yesterday\"}",
            "{\"type\":\"t\",\"source\":\"s\",\"ttl_ms\":\"1\"}",
            "{\"type\":\"t\",\"source\":\"s\",\"metadata\":{\"a\":1}}",
            "{\"type\":\"t\",\"source\":\"s\",\"correlation_id\":5}",
            "{\"type\":",
            NULL};
        for (int i = 0; bad[i]; i++) {
                errstr[0] = '\0';
                assert_int_equal(sl_envelope_from_json(bad[i], strlen(bad[i]), &env,
                                                       errstr, sizeof(errstr)),
                                 SL_ERR_INVALID);
                assert_true(errstr[0] != '\0');
        }
}

static void test_reject_codes(void **state)
{
        (void)state;
        const char *names[] = {"framing",       "unknown_schema",   "decode",
                               "bad_id",        "empty_type",       "empty_source",
                               "bad_text",      "bad_occurred_at",  "ttl_expired",
                               "bad_ttl",       "payload_not_json", "payload_not_object",
                               "payload_schema"};
        for (int i = 0; i < 13; i++) {
                assert_string_equal(sl_reject_code_str((sl_reject_code_t)(i + 1)),
                                    names[i]);
                assert_int_equal(sl_reject_code_parse(names[i]), i + 1);
        }
        assert_int_equal(sl_reject_code_parse("nonsense"), SL_REJECT__CNT);
        assert_int_equal(sl_reject_code_parse(NULL), SL_REJECT__CNT);
        assert_string_equal(sl_reject_code_str(SL_REJECT__CNT), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_crc64_vectors),
            cmocka_unit_test(test_canonical_form_and_fingerprint),
            cmocka_unit_test(test_canonical_rules),
            cmocka_unit_test(test_decode_python_v1),
            cmocka_unit_test(test_schema_evolution_v2),
            cmocka_unit_test(test_writer_resolution),
            cmocka_unit_test(test_roundtrip),
            cmocka_unit_test(test_decode_rejections),
            cmocka_unit_test(test_truncation_every_length),
            cmocka_unit_test(test_random_bytes_never_crash),
            cmocka_unit_test(test_json_forms),
            cmocka_unit_test(test_reject_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
