/*
 * The record codecs against an independent oracle: avro-c's generic reader and writer
 * driven by the checked-in schemas (schemas/admission_state.avsc,
 * schemas/admission_progress.avsc, schemas/retry_record.avsc).  Our hand-written
 * encoders (src/limits/admission_codec.c, src/retry/retry_record.c) must produce bytes
 * that avro-c decodes, with the .avsc, to the same value in every field and with no
 * byte left over; and bytes that avro-c writes from the .avsc must decode with our
 * decoders to the same value.  So a schema edited without the codec (or the reverse)
 * fails here, and so does a varint or length-prefix slip that a round trip through our
 * own pair would hide.  Values cover zero, negative, large (10-byte varint), empty and
 * non-ASCII / binary cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <cmocka.h>

#include "limits/admission_codec.h"
#include "retry/retry_record.h"
#include "sluice/err.h"

#define BUF_MAX 4096

/* The .avsc at schemas/NAME (SLUICE_SOURCE_DIR from CTest, else the compiled-in
 * source dir), parsed by avro-c. */
static avro_schema_t load_schema(const char *name)
{
        const char *dir = getenv("SLUICE_SOURCE_DIR");
        char path[1024], json[8192];
        avro_schema_t schema = NULL;
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/schemas/%s", dir && *dir ? dir : SL_SOURCE_DIR,
                 name);
        f = fopen(path, "rb");
        if (!f)
                fail_msg("cannot open %s", path);
        n = fread(json, 1, sizeof(json) - 1, f);
        fclose(f);
        assert_true(n > 0 && n < sizeof(json) - 1);
        json[n] = '\0';
        if (avro_schema_from_json_length(json, n, &schema) != 0)
                fail_msg("%s: %s", path, avro_strerror());
        return schema;
}

/* Decode buf with avro-c into a fresh generic value of schema.  Every byte must
 * belong to the value: avro-c writes the value it read back to exactly these bytes
 * (Avro binary has one encoding per value). */
static void oracle_read(avro_schema_t schema, const void *buf, size_t len,
                        avro_value_iface_t **iface, avro_value_t *v)
{
        avro_reader_t r = avro_reader_memory((const char *)buf, (int64_t)len);
        *iface = avro_generic_class_from_schema(schema);
        assert_non_null(*iface);
        assert_int_equal(avro_generic_value_new(*iface, v), 0);
        if (avro_value_read(r, v) != 0)
                fail_msg("avro-c cannot read our bytes: %s", avro_strerror());
        avro_reader_free(r);

        size_t size;
        char *again = malloc(len + 16);
        assert_non_null(again);
        assert_int_equal(avro_value_sizeof(v, &size), 0);
        assert_int_equal(size, len);
        avro_writer_t w = avro_writer_memory(again, (int64_t)len + 16);
        assert_int_equal(avro_value_write(w, v), 0);
        assert_int_equal(avro_writer_tell(w), (int64_t)len);
        assert_memory_equal(again, buf, len);
        avro_writer_free(w);
        free(again);
}

/* Write v with avro-c into buf; returns the length. */
static size_t oracle_write(avro_value_t *v, char *buf, size_t size)
{
        avro_writer_t w = avro_writer_memory(buf, (int64_t)size);
        if (avro_value_write(w, v) != 0)
                fail_msg("avro-c write: %s", avro_strerror());
        size_t len = (size_t)avro_writer_tell(w);
        avro_writer_free(w);
        return len;
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
        avro_value_t f;
        if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
                fail_msg("field %s: %s", name, avro_strerror());
        return f;
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
        avro_value_t f = field(rec, name);
        int64_t x;
        assert_int_equal(avro_value_get_long(&f, &x), 0);
        return x;
}

static void set_long(avro_value_t *rec, const char *name, int64_t x)
{
        avro_value_t f = field(rec, name);
        assert_int_equal(avro_value_set_long(&f, x), 0);
}

static void assert_string_field(avro_value_t *rec, const char *name, const char *want)
{
        avro_value_t f = field(rec, name);
        const char *s;
        size_t size; /* includes the NUL */
        assert_int_equal(avro_value_get_string(&f, &s, &size), 0);
        assert_int_equal(size, strlen(want) + 1);
        assert_string_equal(s, want);
}

/* --- admission state (schemas/admission_state.avsc) ------------------------------ */

static const sl_source_state_t states[] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0},
    {1714564800000LL, 1000, 3, 0, 1714564800123LL, 0, 0, 0, SL_PAUSE_CAUSE_NONE},
    {1714564800000LL, 1, 250000, 1714564860000LL, 1714564800999LL, 1714564740000LL, 40,
     21, SL_PAUSE_CAUSE_FLOOD},
    {1714564800000LL, 7, 0, 1714564900000LL, 1714564800999LL, 1714564800000LL, 0, 0,
     SL_PAUSE_CAUSE_DLQ_RATE},
    /* the one- and two-byte varint edges, both signs */
    {-1, -64, 63, 64, -65, 64, -65, 63, SL_PAUSE_CAUSE_FLOOD},
    {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 4102444800000LL, INT64_MAX,
     INT64_MIN, INT64_MAX, SL_PAUSE_CAUSE_DLQ_RATE},
};
/* The long fields, in schema order (pause_cause, an enum, comes after them). */
#define STATE_LONGS    8
#define STATE_LONGS_V1 5 /* the fields of a record written before the source breaker */
static const char *const state_fields[STATE_LONGS] = {
    "window_start",     "count",    "throttled", "paused_until", "updated_at",
    "dlq_window_start", "dlq_seen", "dlq_dead"};

static void state_values(const sl_source_state_t *st, int64_t out[STATE_LONGS])
{
        out[0] = st->window_start;
        out[1] = st->count;
        out[2] = st->throttled;
        out[3] = st->paused_until;
        out[4] = st->updated_at;
        out[5] = st->dlq_window_start;
        out[6] = st->dlq_seen;
        out[7] = st->dlq_dead;
}

static void admission_state_ours_read_by_avro(void **state)
{
        avro_schema_t schema = load_schema("admission_state.avsc");
        (void)state;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                unsigned char buf[SL_ADMISSION_STATE_MAX];
                size_t len = sl_admission_state_encode(&states[i], buf);
                avro_value_iface_t *iface;
                avro_value_t v, cause;
                int64_t want[STATE_LONGS];
                size_t nfields;
                int sym;

                oracle_read(schema, buf, len, &iface, &v);
                assert_int_equal(avro_value_get_size(&v, &nfields), 0);
                assert_int_equal(nfields, STATE_LONGS + 1);
                state_values(&states[i], want);
                for (size_t k = 0; k < STATE_LONGS; k++)
                        assert_int_equal(get_long(&v, state_fields[k]), want[k]);
                cause = field(&v, "pause_cause");
                assert_int_equal(avro_value_get_enum(&cause, &sym), 0);
                assert_int_equal(sym, states[i].pause_cause);
                avro_value_decref(&v);
                avro_value_iface_decref(iface);
        }
        avro_schema_decref(schema);
}

static void admission_state_avro_read_by_ours(void **state)
{
        avro_schema_t schema = load_schema("admission_state.avsc");
        avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
        (void)state;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                avro_value_t v, cause;
                char buf[BUF_MAX];
                sl_source_state_t got;
                int64_t want[STATE_LONGS], have[STATE_LONGS];

                assert_int_equal(avro_generic_value_new(iface, &v), 0);
                state_values(&states[i], want);
                for (size_t k = 0; k < STATE_LONGS; k++)
                        set_long(&v, state_fields[k], want[k]);
                cause = field(&v, "pause_cause");
                assert_int_equal(avro_value_set_enum(&cause, (int)states[i].pause_cause),
                                 0);
                size_t len = oracle_write(&v, buf, sizeof(buf));
                assert_true(len <= SL_ADMISSION_STATE_MAX);
                memset(&got, 0x5a, sizeof(got));
                assert_int_equal(sl_admission_state_decode(buf, len, &got), SL_OK);
                state_values(&got, have);
                for (size_t k = 0; k < STATE_LONGS; k++)
                        assert_int_equal(have[k], want[k]);
                assert_int_equal(got.pause_cause, states[i].pause_cause);
                /* and the bytes are the ones we would write */
                unsigned char ours[SL_ADMISSION_STATE_MAX];
                assert_int_equal(sl_admission_state_encode(&states[i], ours), len);
                assert_memory_equal(ours, buf, len);
                avro_value_decref(&v);
        }
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
}

/* A record written before the source breaker: avro-c writes it with the v1 schema (the
 * fields up to updated_at); ours reads it with the breaker's fields at their schema
 * defaults (0, "none"), as Avro schema resolution would. */
static void admission_state_v1_read_by_ours(void **state)
{
        static const char v1_json[] =
            "{\"type\":\"record\",\"name\":\"AdmissionState\",\"namespace\":"
            "\"io.sluice.state\",\"fields\":["
            "{\"name\":\"window_start\",\"type\":\"long\"},"
            "{\"name\":\"count\",\"type\":\"long\"},"
            "{\"name\":\"throttled\",\"type\":\"long\"},"
            "{\"name\":\"paused_until\",\"type\":\"long\"},"
            "{\"name\":\"updated_at\",\"type\":\"long\"}]}";
        avro_schema_t schema;
        avro_value_iface_t *iface;
        (void)state;

        if (avro_schema_from_json_length(v1_json, sizeof(v1_json) - 1, &schema) != 0)
                fail_msg("v1 schema: %s", avro_strerror());
        iface = avro_generic_class_from_schema(schema);
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                avro_value_t v;
                char buf[BUF_MAX];
                sl_source_state_t got;
                int64_t want[STATE_LONGS], have[STATE_LONGS];

                assert_int_equal(avro_generic_value_new(iface, &v), 0);
                state_values(&states[i], want);
                for (size_t k = 0; k < STATE_LONGS_V1; k++)
                        set_long(&v, state_fields[k], want[k]);
                size_t len = oracle_write(&v, buf, sizeof(buf));
                memset(&got, 0x5a, sizeof(got));
                assert_int_equal(sl_admission_state_decode(buf, len, &got), SL_OK);
                state_values(&got, have);
                for (size_t k = 0; k < STATE_LONGS; k++)
                        assert_int_equal(have[k], k < STATE_LONGS_V1 ? want[k] : 0);
                assert_int_equal(got.pause_cause, SL_PAUSE_CAUSE_NONE);
                avro_value_decref(&v);
        }
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
}

/* --- admission progress (schemas/admission_progress.avsc) ------------------------- */

static const int64_t offsets[] = {0, -1, 1, 63, 64, 123456789012LL, INT64_MAX};

static void admission_progress_both_ways(void **state)
{
        avro_schema_t schema = load_schema("admission_progress.avsc");
        avro_value_iface_t *wiface = avro_generic_class_from_schema(schema);
        (void)state;
        for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
                unsigned char buf[SL_ADMISSION_STATE_MAX];
                size_t len = sl_admission_progress_encode(offsets[i], buf);
                avro_value_iface_t *iface;
                avro_value_t v, w;
                char abuf[BUF_MAX];
                int64_t got = -7;

                oracle_read(schema, buf, len, &iface, &v);
                assert_int_equal(get_long(&v, "offset"), offsets[i]);
                avro_value_decref(&v);
                avro_value_iface_decref(iface);

                assert_int_equal(avro_generic_value_new(wiface, &w), 0);
                set_long(&w, "offset", offsets[i]);
                size_t alen = oracle_write(&w, abuf, sizeof(abuf));
                assert_int_equal(sl_admission_progress_decode(abuf, alen, &got), SL_OK);
                assert_int_equal(got, offsets[i]);
                avro_value_decref(&w);
        }
        avro_value_iface_decref(wiface);
        avro_schema_decref(schema);
}

/* --- retry record (schemas/retry_record.avsc) ------------------------------------- */

static const char env_bin[] = "\xc3\x01\x00\xff\x80 binary \x00 envelope";
static char big_env[70000]; /* a multi-byte length prefix */

static sl_retry_record_t retry_case(size_t i)
{
        switch (i) {
        case 0:
                return (sl_retry_record_t){.event_id =
                                               "3f2c1a9e-0000-4000-8000-000000000001",
                                           .source = "shop",
                                           .attempt = 1,
                                           .due_at = 1795000012345LL,
                                           .reason = "window_full",
                                           .envelope = env_bin,
                                           .envelope_len = sizeof(env_bin)};
        case 1:
                return (sl_retry_record_t){
                    .event_id = "ffffffff-ffff-4fff-bfff-ffffffffffff",
                    .source = "caf\xc3\xa9-\xe2\x82\xac", /* UTF-8 */
                    .attempt = INT32_MAX,
                    .due_at = -1,
                    .reason = "manually_paused",
                    .envelope = "",
                    .envelope_len = 0};
        default:
                memset(big_env, 'e', sizeof(big_env));
                return (sl_retry_record_t){.event_id =
                                               "00000000-0000-4000-8000-000000000000",
                                           .source = "",
                                           .attempt = 64,
                                           .due_at = INT64_MAX,
                                           .reason = "auto_paused",
                                           .envelope = big_env,
                                           .envelope_len = sizeof(big_env)};
        }
}
#define RETRY_CASES 3

static void retry_record_ours_read_by_avro(void **state)
{
        avro_schema_t schema = load_schema("retry_record.avsc");
        (void)state;
        for (size_t i = 0; i < RETRY_CASES; i++) {
                sl_retry_record_t in = retry_case(i);
                avro_value_iface_t *iface;
                avro_value_t v, f;
                void *buf;
                size_t len, nfields, blen;
                const void *bytes;
                int32_t attempt;
                int64_t due;
                char id[256];

                assert_int_equal(sl_retry_record_encode(&in, &buf, &len), SL_OK);
                oracle_read(schema, buf, len, &iface, &v);
                assert_int_equal(avro_value_get_size(&v, &nfields), 0);
                assert_int_equal(nfields, 7);
                assert_string_field(
                    &v, "id",
                    sl_retry_record_id(in.event_id, in.attempt, id, sizeof(id)));
                assert_string_field(&v, "event_id", in.event_id);
                assert_string_field(&v, "source", in.source);
                f = field(&v, "attempt");
                assert_int_equal(avro_value_get_int(&f, &attempt), 0);
                assert_int_equal(attempt, in.attempt);
                f = field(&v, "due_at");
                assert_int_equal(avro_value_get_long(&f, &due), 0);
                assert_int_equal(due, in.due_at);
                assert_string_field(&v, "reason", in.reason);
                f = field(&v, "envelope");
                assert_int_equal(avro_value_get_bytes(&f, &bytes, &blen), 0);
                assert_int_equal(blen, in.envelope_len);
                if (blen)
                        assert_memory_equal(bytes, in.envelope, blen);
                avro_value_decref(&v);
                avro_value_iface_decref(iface);
                free(buf);
        }
        avro_schema_decref(schema);
}

static void set_string(avro_value_t *rec, const char *name, const char *s)
{
        avro_value_t f = field(rec, name);
        assert_int_equal(avro_value_set_string(&f, s), 0);
}

static void retry_record_avro_read_by_ours(void **state)
{
        avro_schema_t schema = load_schema("retry_record.avsc");
        avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
        static char buf[sizeof(big_env) + BUF_MAX];
        (void)state;
        for (size_t i = 0; i < RETRY_CASES; i++) {
                sl_retry_record_t in = retry_case(i), out;
                avro_value_t v, f;
                char id[256];
                void *ours;
                size_t ours_len;

                assert_int_equal(avro_generic_value_new(iface, &v), 0);
                set_string(&v, "id",
                           sl_retry_record_id(in.event_id, in.attempt, id, sizeof(id)));
                set_string(&v, "event_id", in.event_id);
                set_string(&v, "source", in.source);
                f = field(&v, "attempt");
                assert_int_equal(avro_value_set_int(&f, in.attempt), 0);
                set_long(&v, "due_at", in.due_at);
                set_string(&v, "reason", in.reason);
                f = field(&v, "envelope");
                assert_int_equal(
                    avro_value_set_bytes(&f, (void *)in.envelope, in.envelope_len), 0);
                size_t len = oracle_write(&v, buf, sizeof(buf));

                assert_int_equal(sl_retry_record_decode(buf, len, &out), SL_OK);
                assert_string_equal(out.event_id, in.event_id);
                assert_string_equal(out.source, in.source);
                assert_int_equal(out.attempt, in.attempt);
                assert_int_equal(out.due_at, in.due_at);
                assert_string_equal(out.reason, in.reason);
                assert_int_equal(out.envelope_len, in.envelope_len);
                if (in.envelope_len)
                        assert_memory_equal(out.envelope, in.envelope, in.envelope_len);
                sl_retry_record_clear(&out);
                /* and the bytes are the ones we would write */
                assert_int_equal(sl_retry_record_encode(&in, &ours, &ours_len), SL_OK);
                assert_int_equal(ours_len, len);
                assert_memory_equal(ours, buf, len);
                free(ours);
                avro_value_decref(&v);
        }
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(admission_state_ours_read_by_avro),
            cmocka_unit_test(admission_state_avro_read_by_ours),
            cmocka_unit_test(admission_state_v1_read_by_ours),
            cmocka_unit_test(admission_progress_both_ways),
            cmocka_unit_test(retry_record_ours_read_by_avro),
            cmocka_unit_test(retry_record_avro_read_by_ours),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
