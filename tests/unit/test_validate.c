/*
 * Unit tests of envelope validation (src/envelope/validate.c, json_check.c,
 * payload_schema.c, types.c): every rejection reason and the order they are checked
 * in, the jsonb-strict JSON object recogniser's edge cases, payload schema
 * conformance, and the type registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope/envelope_int.h"
#include "envelope/validate.h"
#include "sluice/err.h"

#define NOW 1714564800000LL /* 2024-05-01T12:00:00Z */
#define ID  "0b1e7c2a-6a55-4c4e-9d77-6a0f4f2d9e01"

static const sl_validate_opts_t opts = {.now_ms = NOW, .max_future_ms = 60000};

static sl_envelope_t good(void)
{
        sl_envelope_t env = {0};
        strcpy(env.id, ID);
        env.type = "order.created";
        env.source = "shop";
        env.occurred_at = NOW - 1000;
        env.payload = "{\"order\":42}";
        env.payload_len = strlen(env.payload);
        return env;
}

static sl_reject_code_t check(const sl_envelope_t *env, const sl_types_t *types,
                              sl_reject_t *rej)
{
        int rc = sl_envelope_validate(env, &opts, types, rej);
        if (rc == SL_OK) {
                assert_int_equal(rej->code, SL_REJECT_NONE);
                return SL_REJECT_NONE;
        }
        assert_int_equal(rc, SL_ERR_REJECTED);
        assert_true(rej->msg[0] != '\0');
        return rej->code;
}

static void test_valid_envelope(void **state)
{
        sl_reject_t rej;
        (void)state;
        sl_envelope_t env = good();
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
        /* upper-case hex is a UUID too (decode lower-cases it) */
        strcpy(env.id, "0B1E7C2A-6A55-4C4E-9D77-6A0F4F2D9E01");
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
        /* NULL opts: the real clock and the defaults */
        env = good();
        env.occurred_at = 1700000000000LL;
        assert_int_equal(sl_envelope_validate(&env, NULL, NULL, &rej), SL_OK);
}

static void test_bad_id(void **state)
{
        sl_reject_t rej;
        (void)state;
        const char *bad[] = {"",
                             "0b1e7c2a-6a55-4c4e-9d77-6a0f4f2d9e0",
                             "0b1e7c2a-6a55-4c4e-9d77-6a0f4f2d9e0g",
                             "0b1e7c2a06a55-4c4e-9d77-6a0f4f2d9e01",
                             "0b1e7c2a-6a55-4c4e-9d77_6a0f4f2d9e01",
                             "{b1e7c2a-6a55-4c4e-9d77-6a0f4f2d9e01",
                             NULL};
        for (int i = 0; bad[i]; i++) {
                sl_envelope_t env = good();
                strcpy(env.id, bad[i]);
                assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_ID);
                assert_non_null(strstr(rej.msg, "not a UUID"));
        }
}

static void test_empty_type_and_source(void **state)
{
        sl_reject_t rej;
        (void)state;
        sl_envelope_t env = good();
        env.type = "";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_TYPE);
        env.type = NULL;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_TYPE);
        env = good();
        env.source = "";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_SOURCE);
        env.source = NULL;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_SOURCE);
}

static void test_bad_text(void **state)
{
        sl_reject_t rej;
        (void)state;
        const char *bad_utf8[] = {"\xc3\x28",
                                  "\xa0\xa1",
                                  "\xe2\x28\xa1",
                                  "\xf0\x28\x8c\xbc",
                                  "\xc0\xaf", /* overlong */
                                  "\xed\xa0\x80",
                                  /* surrogate */ "\xf4\x90\x80\x80",
                                  "ok\xe2\x82",
                                  /* truncated */ "\xff",
                                  NULL};
        for (int i = 0; bad_utf8[i]; i++) {
                sl_envelope_t env = good();
                env.source = bad_utf8[i];
                assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
                assert_non_null(strstr(rej.msg, "source: invalid UTF-8"));
        }
        /* good multi-byte text: 2, 3 and 4 byte forms, long ASCII runs */
        sl_envelope_t env = good();
        env.source =
            "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80-abcdefghijklmnopqrstuvwxyz";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);

        env = good();
        env.type = "t\xc3";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
        env = good();
        env.correlation_id = "\xfe";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
        assert_non_null(strstr(rej.msg, "correlation_id"));

        /* the payload carries its length, so an embedded NUL is seen */
        env = good();
        env.payload = "{\"a\":1}\0xxxxxxxxxxxx";
        env.payload_len = 20;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
        assert_non_null(strstr(rej.msg, "payload: NUL character at byte 7"));
        env.payload = "{\"a\":\"\xc3\x28\"}";
        env.payload_len = strlen(env.payload);
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);

        const char *keys[] = {"ok", "k\x80"}, *vals[] = {"v", "v"};
        env = good();
        env.meta_keys = keys;
        env.meta_vals = vals;
        env.meta_cnt = 2;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
        assert_non_null(strstr(rej.msg, "metadata key"));
        env.meta_cnt = 1;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
}

static void test_occurred_at_and_ttl(void **state)
{
        sl_reject_t rej;
        (void)state;
        sl_envelope_t env = good();
        env.occurred_at = 946684800000LL - 1; /* just before 2000-01-01 */
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_OCCURRED_AT);
        env.occurred_at = 946684800000LL;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
        env.occurred_at = 0;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_OCCURRED_AT);
        env.occurred_at = NOW + 60000;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
        env.occurred_at = NOW + 60001;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_OCCURRED_AT);
        assert_non_null(strstr(rej.msg, "future"));
        env.occurred_at = INT64_MAX;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_OCCURRED_AT);

        sl_validate_opts_t o = opts;
        o.min_occurred_at = NOW - 10;
        env.occurred_at = NOW - 11;
        assert_int_equal(sl_envelope_validate(&env, &o, NULL, &rej), SL_ERR_REJECTED);
        assert_int_equal(rej.code, SL_REJECT_BAD_OCCURRED_AT);

        env = good();
        env.has_ttl = true;
        env.ttl_ms = 0;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TTL);
        env.ttl_ms = -5;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TTL);
        env.ttl_ms = 999; /* occurred 1000 ms ago */
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_TTL_EXPIRED);
        assert_non_null(strstr(rej.msg, "expired 1 ms ago"));
        env.ttl_ms = 1000;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
        env.ttl_ms = INT64_MAX;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_NONE);
}

static void test_payload_checks(void **state)
{
        sl_reject_t rej;
        (void)state;
        sl_envelope_t env = good();
        env.payload = "[1,2]";
        env.payload_len = 5;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_PAYLOAD_NOT_OBJECT);
        assert_non_null(strstr(rej.msg, "array"));
        env.payload = "{\"a\":";
        env.payload_len = 5;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_PAYLOAD_NOT_JSON);
        env.payload = "";
        env.payload_len = 0;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_PAYLOAD_NOT_JSON);
        env.payload = NULL;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_PAYLOAD_NOT_JSON);
}

static void test_order_of_checks(void **state)
{
        sl_reject_t rej;
        (void)state;
        sl_envelope_t env = good();
        env.id[0] = 'x';
        env.type = "";
        env.source = "";
        env.occurred_at = 1;
        env.payload = "nope";
        env.payload_len = 4;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_ID);
        strcpy(env.id, ID);
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_TYPE);
        env.type = "t";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_EMPTY_SOURCE);
        env.source = "\xff";
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TEXT);
        env.source = "s";
        env.has_ttl = true;
        env.ttl_ms = -1;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_OCCURRED_AT);
        env.occurred_at = NOW;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_BAD_TTL);
        env.has_ttl = false;
        assert_int_equal(check(&env, NULL, &rej), SL_REJECT_PAYLOAD_NOT_JSON);
}

static sl_reject_code_t js(const char *s)
{
        char msg[256];
        msg[0] = '\0';
        sl_reject_code_t code = sl__json_check_object(s, strlen(s), msg, sizeof(msg));
        if (code != SL_REJECT_NONE)
                assert_true(msg[0] != '\0');
        return code;
}

static void test_json_object_checker(void **state)
{
        (void)state;
        const char *accept[] = {
            "{}",
            " \t\r\n{ } \n",
            "{\"a\":1,\"b\":-0,\"c\":0.5,\"d\":-1.25e+10,\"e\":1E-5,\"f\":10e3}",
            "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"}",
            "{\"u\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
            "{\"n\":null,\"t\":true,\"f\":false,\"a\":[],\"o\":{},\"x\":[[[{}]]]}",
            "{\"a\":1,\"a\":2}", /* duplicates: jsonb keeps the last */
            "{\"big\":123456789012345678901234567890}",
            "{\"e\":1e1000}",
            "{\"e\":1e131071}", /* the limits of Postgres numeric */
            "{\"e\":12.5e131070}",
            "{\"e\":1e-16383}",
            "{\"e\":-0.5E-16382}",
            NULL};
        for (int i = 0; accept[i]; i++)
                assert_int_equal(js(accept[i]), SL_REJECT_NONE);

        const char *not_json[] = {
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{'a':1}",
            "{a:1}",
            "{\"a\":01}",
            "{\"a\":+1}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":0x10}",
            "{\"a\":NaN}",
            "{\"a\":Infinity}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":\"\\u0000\"}",
            "{\"a\":\"\\uD800\"}",
            "{\"a\":\"\\uD800x\"}",
            "{\"a\":\"\\uD800\\u0041\"}",
            "{\"a\":\"\\uDC00\"}",
            "{\"a\":\"\\x41\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\u12G4\"}",
            "{\"a\":\"line\nbreak\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"\xc3\"}",
            "{\"a\":\"\xc0\xaf\"}",
            "{\"a\":\"\xed\xa0\x80\"}",
            "{\"a\":\"unterminated}",
            "{\"a\":1}x",
            "{\"a\":1}{}",
            "{\"a\":[1,2}",
            "{\"a\":1e131072}", /* Postgres: value overflows numeric format */
            "{\"a\":12.5e131071}",
            "{\"a\":1e-16384}",
            "{\"a\":1e99999999999999999999}",
            "   ",
            NULL};
        for (int i = 0; not_json[i]; i++)
                assert_int_equal(js(not_json[i]), SL_REJECT_PAYLOAD_NOT_JSON);

        const char *not_object[] = {"[]",   "\"s\"", "1",        "-2.5",
                                    "true", "null",  " [ {} ] ", NULL};
        for (int i = 0; not_object[i]; i++)
                assert_int_equal(js(not_object[i]), SL_REJECT_PAYLOAD_NOT_OBJECT);

        /* nesting: 256 levels fine, 257 not */
        char deep[2 * 300 + 8];
        for (int depth = SL_JSON_MAX_DEPTH; depth <= SL_JSON_MAX_DEPTH + 1; depth++) {
                size_t n = 0;
                deep[n++] = '{';
                deep[n++] = '"';
                deep[n++] = 'a';
                deep[n++] = '"';
                deep[n++] = ':';
                for (int i = 1; i < depth; i++)
                        deep[n++] = '[';
                for (int i = 1; i < depth; i++)
                        deep[n++] = ']';
                deep[n++] = '}';
                deep[n] = '\0';
                char msg[256];
                sl_reject_code_t code = sl__json_check_object(deep, n, msg, sizeof(msg));
                if (depth == SL_JSON_MAX_DEPTH) {
                        assert_int_equal(code, SL_REJECT_NONE);
                } else {
                        assert_int_equal(code, SL_REJECT_PAYLOAD_NOT_JSON);
                        assert_non_null(strstr(msg, "nested deeper than 256"));
                }
        }
        /* the length bounds the text: no read past it */
        assert_int_equal(sl__json_check_object("{}garbage", 2, (char[64]){0}, 64),
                         SL_REJECT_NONE);
        assert_int_equal(sl__json_check_object("{\"a\":1}", 6, (char[64]){0}, 64),
                         SL_REJECT_PAYLOAD_NOT_JSON);
}

static const char *const ORDER_SCHEMA =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"price\",\"type\":\"double\"},"
    "{\"name\":\"paid\",\"type\":\"boolean\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
    "\"symbols\":[\"NEW\",\"PAID\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]"
    "},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"},\"default\":{}},"
    "{\"name\":\"customer\",\"type\":{\"type\":\"record\",\"name\":\"Customer\","
    "\"fields\":["
    "{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int\"},"
    "{\"name\":\"vip\",\"type\":[\"null\",\"boolean\",\"Status\"],\"default\":null}]}},"
    "{\"name\":\"alt\",\"type\":[\"null\",\"Customer\",\"long\"],\"default\":null}]}";

static const char *ps_check(const sl_types_t *types, const char *payload,
                            sl_reject_t *rej)
{
        sl_envelope_t env = good();
        env.type = "order.created";
        env.payload = payload;
        env.payload_len = strlen(payload);
        if (sl_envelope_validate(&env, &opts, types, rej) == SL_OK)
                return NULL;
        assert_int_equal(rej->code, SL_REJECT_PAYLOAD_SCHEMA);
        return rej->msg;
}

#define BASE "\"id\":1,\"qty\":2,\"price\":9.5,\"paid\":true,\"status\":\"NEW\""
#define CUST "\"customer\":{\"name\":\"Ann\",\"age\":40}"

static void test_payload_schema(void **state)
{
        char errstr[256];
        sl_reject_t rej;
        (void)state;
        sl_types_t *types = sl_types_new();
        sl_payload_schema_t *ps =
            sl_payload_schema_new(ORDER_SCHEMA, errstr, sizeof(errstr));
        assert_non_null(ps);
        assert_int_equal(sl_types_put(types, "order.created", ps), SL_OK);

        const char *ok[] = {
            "{" BASE "," CUST "}",
            "{" BASE "," CUST ",\"extra\":[1,{}],\"note\":\"hi\"}", /* extra fields ok */
            "{" BASE "," CUST
            ",\"note\":null,\"tags\":[\"a\",\"b\"],\"attrs\":{\"x\":1}}",
            "{" BASE "," CUST ",\"note\":{\"string\":\"hi\"}}", /* Avro JSON union */
            "{" BASE ",\"customer\":{\"name\":\"Ann\",\"age\":40,\"vip\":\"PAID\"}}",
            "{" BASE
            ",\"customer\":{\"name\":\"Ann\",\"age\":40,\"vip\":{\"shop.Status\":"
            "\"NEW\"}}}",
            "{" BASE "," CUST ",\"alt\":{\"name\":\"B\",\"age\":1}}",
            "{" BASE "," CUST ",\"alt\":{\"Customer\":{\"name\":\"B\",\"age\":1}}}",
            "{" BASE "," CUST ",\"alt\":7}",
            "{\"id\":1,\"qty\":2,\"price\":9,\"paid\":false,\"status\":\"PAID\"," CUST
            "}",
            NULL};
        for (int i = 0; ok[i]; i++)
                assert_null(ps_check(types, ok[i], &rej));

        struct {
                const char *payload, *msg;
        } bad[] = {
            {"{" BASE "}", "payload.customer: missing required field (shop.Customer)"},
            {"{\"id\":\"1\",\"qty\":2,\"price\":9.5,\"paid\":true,\"status\":"
             "\"NEW\"," CUST "}",
             "payload.id: expected long, got string"},
            {"{\"id\":1,\"qty\":2.5,\"price\":9.5,\"paid\":true,\"status\":\"NEW\"," CUST
             "}",
             "payload.qty: expected int, got number"},
            {"{\"id\":1,\"qty\":3000000000,\"price\":9.5,\"paid\":true,\"status\":"
             "\"NEW\"," CUST "}",
             "payload.qty: expected int, got an integer out of its range"},
            {"{\"id\":1,\"qty\":2,\"price\":\"9\",\"paid\":true,\"status\":\"NEW\"," CUST
             "}",
             "payload.price: expected double, got string"},
            {"{\"id\":1,\"qty\":2,\"price\":9,\"paid\":1,\"status\":\"NEW\"," CUST "}",
             "payload.paid: expected boolean, got integer"},
            {"{\"id\":1,\"qty\":2,\"price\":9,\"paid\":true,\"status\":\"OLD\"," CUST "}",
             "payload.status: \"OLD\" is not a symbol of enum shop.Status"},
            {"{" BASE ",\"customer\":{\"name\":\"Ann\",\"age\":\"40\"}}",
             "payload.customer.age: expected int, got string"},
            {"{" BASE ",\"customer\":[]}",
             "payload.customer: expected shop.Customer, got array"},
            {"{" BASE "," CUST ",\"tags\":[\"a\",3]}",
             "payload.tags[1]: expected string, got integer"},
            {"{" BASE "," CUST ",\"attrs\":{\"x\":\"y\"}}",
             "payload.attrs.x: expected long, got string"},
            {"{" BASE "," CUST ",\"note\":5}",
             "payload.note: expected null|string, got integer"},
            {"{" BASE "," CUST ",\"note\":{\"long\":5}}",
             "payload.note: expected null|string, got object"},
            {"{" BASE "," CUST ",\"alt\":\"x\"}",
             "payload.alt: expected null|shop.Customer|long, got string"},
            {"{" BASE ",\"customer\":{\"name\":\"Ann\",\"age\":40,\"vip\":\"MAYBE\"}}",
             "payload.customer.vip: expected null|boolean|shop.Status, got string"},
            {"{" BASE "," CUST ",\"big\":123456789012345678901234567890}",
             "payload: cannot be checked against its schema"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *msg = ps_check(types, bad[i].payload, &rej);
                assert_non_null(msg);
                if (strncmp(msg, bad[i].msg, strlen(bad[i].msg)))
                        fail_msg("payload %zu: got \"%s\", want \"%s\"", i, msg,
                                 bad[i].msg);
        }

        /* a type without a schema only needs a JSON object */
        sl_envelope_t env = good();
        env.type = "other";
        assert_int_equal(sl_envelope_validate(&env, &opts, types, &rej), SL_OK);

        /* bad schemas are refused with words */
        const char *bad_schemas[] = {"nope", "{\"type\":\"record\",\"name\":\"R\"}",
                                     "{\"type\":\"map\"}", "[]", NULL};
        for (int i = 0; bad_schemas[i]; i++) {
                errstr[0] = '\0';
                assert_null(
                    sl_payload_schema_new(bad_schemas[i], errstr, sizeof(errstr)));
                assert_true(errstr[0] != '\0');
        }
        assert_null(sl_payload_schema_new(NULL, errstr, sizeof(errstr)));
        sl_types_destroy(types);
}

static void test_types_registry(void **state)
{
        char errstr[256], name[32];
        (void)state;
        sl_types_t *types = sl_types_new();
        assert_int_equal(sl_types_count(types), 0);
        assert_null(sl_types_get(types, "a"));
        assert_null(sl_types_get(NULL, "a"));
        for (int i = 0; i < 100; i++) {
                snprintf(name, sizeof(name), "type.%d", i);
                sl_payload_schema_t *ps =
                    sl_payload_schema_new("\"string\"", errstr, sizeof(errstr));
                assert_int_equal(sl_types_put(types, name, ps), SL_OK);
        }
        assert_int_equal(sl_types_count(types), 100);
        for (int i = 0; i < 100; i++) {
                snprintf(name, sizeof(name), "type.%d", i);
                assert_non_null(sl_types_get(types, name));
        }
        /* replacing keeps the count and frees the old schema (ASan/leak checks) */
        const sl_payload_schema_t *old = sl_types_get(types, "type.7");
        sl_payload_schema_t *ps =
            sl_payload_schema_new("\"long\"", errstr, sizeof(errstr));
        assert_int_equal(sl_types_put(types, "type.7", ps), SL_OK);
        assert_int_equal(sl_types_count(types), 100);
        assert_ptr_equal(sl_types_get(types, "type.7"), ps);
        assert_ptr_not_equal(sl_types_get(types, "type.7"), old);
        assert_null(sl_types_get(types, "type.100"));
        assert_int_equal(sl_types_put(types, NULL, NULL), SL_ERR_INVALID);
        sl_types_destroy(types);
        sl_types_destroy(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_envelope),
            cmocka_unit_test(test_bad_id),
            cmocka_unit_test(test_empty_type_and_source),
            cmocka_unit_test(test_bad_text),
            cmocka_unit_test(test_occurred_at_and_ttl),
            cmocka_unit_test(test_payload_checks),
            cmocka_unit_test(test_order_of_checks),
            cmocka_unit_test(test_json_object_checker),
            cmocka_unit_test(test_payload_schema),
            cmocka_unit_test(test_types_registry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
