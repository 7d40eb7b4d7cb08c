/* Unit tests for src/trigger/template.c: typed and interpolated placeholders over the
 * payload and the envelope, missing fields, escaping (quotes, backslashes, control
 * characters, UTF-8 passing through, strings inside strings), the \{{ escape, nested
 * objects and arrays, parse errors with their places, buffer reuse, and filling with no
 * allocation once the buffer is warm (counted, see alloc_count.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "sluice/err.h"
#include "trigger/template.h"

static const char *const meta_keys[] = {"tenant"};
static const char *const meta_vals[] = {"ac\"me"};
static sl_envelope_t env;
static json_t *payload;

static int setup(void **state)
{
        json_error_t jerr;
        (void)state;
        memset(&env, 0, sizeof(env));
        strcpy(env.id, "0123abcd-4567-89ef-0123-456789abcdef");
        env.type = "order.created";
        env.source = "shop";
        env.occurred_at = 1714564800000LL;
        env.correlation_id = "c-1";
        env.meta_cnt = 1;
        env.meta_keys = meta_keys;
        env.meta_vals = meta_vals;
        env.payload = "{}";
        payload = json_loads(
            "{\"n\":5,\"r\":2.5,\"s\":\"abc\",\"b\":true,\"z\":null,"
            "\"arr\":[1,\"two\"],\"obj\":{\"k\":\"v\",\"q\":\"a\\\"b\"},"
            "\"esc\":\"q\\\"b\\\\s\\n\\t\\u0001\\u007f\xc3\xa9\xf0\x9f\x98\x80\","
            "\"whole\":1.0,\"big\":-9223372036854775807,\"tiny\":1e-300}",
            0, &jerr);
        return payload ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        json_decref(payload);
        return 0;
}

/* Fill tmpl against the event; the output must be exactly want and valid JSON. */
static void expect_fill(const char *tmpl, const char *want)
{
        char errstr[256] = "";
        sl_template_buf_t buf;
        json_error_t jerr;
        sl_template_t *t = sl_template_parse(tmpl, NULL, errstr, sizeof(errstr));
        if (!t)
                fail_msg("%s: %s", tmpl, errstr);
        sl_template_buf_init(&buf);
        assert_int_equal(sl_template_fill(t, &env, payload, &buf), SL_OK);
        if (strcmp(buf.data, want) != 0 || strlen(buf.data) != buf.len)
                fail_msg("%s:\n got  %s\n want %s", tmpl, buf.data, want);
        json_t *back = json_loadb(buf.data, buf.len, JSON_DECODE_ANY, &jerr);
        if (!back)
                fail_msg("%s: not JSON: %s", buf.data, jerr.text);
        json_decref(back);
        sl_template_buf_close(&buf);
        sl_template_destroy(t);
}

static void bad(const char *tmpl, size_t pos, const char *what)
{
        char errstr[256] = "";
        size_t errpos = 99;
        sl_template_t *t = sl_template_parse(tmpl, &errpos, errstr, sizeof(errstr));
        if (t)
                fail_msg("%s: parsed", tmpl);
        if (errpos != pos || !strstr(errstr, what))
                fail_msg("%s: got %zu '%s', expected %zu '%s'", tmpl, errpos, errstr, pos,
                         what);
}

static void typed_values(void **state)
{
        (void)state;
        expect_fill(
            "{\"n\":\"{{payload.n}}\",\"r\":\"{{payload.r}}\",\"s\":\"{{payload.s}}\","
            "\"b\":\"{{payload.b}}\",\"z\":\"{{payload.z}}\",\"m\":\"{{payload.nope}}\","
            "\"o\":\"{{payload.obj}}\",\"a\":\"{{payload.arr}}\",\"a1\":\"{{payload.arr["
            "1]}}\"}",
            "{\"n\":5,\"r\":2.5,\"s\":\"abc\",\"b\":true,\"z\":null,\"m\":null,"
            "\"o\":{\"k\":\"v\",\"q\":\"a\\\"b\"},\"a\":[1,\"two\"],\"a1\":\"two\"}");
        expect_fill(
            "{\"id\":\"{{id}}\",\"t\":\"{{type}}\",\"src\":\"{{source}}\","
            "\"at\":\"{{occurred_at}}\",\"c\":\"{{ correlation_id }}\","
            "\"ten\":\"{{metadata.tenant}}\",\"no\":\"{{metadata.nope}}\"}",
            "{\"id\":\"0123abcd-4567-89ef-0123-456789abcdef\",\"t\":\"order.created\","
            "\"src\":\"shop\",\"at\":1714564800000,\"c\":\"c-1\",\"ten\":\"ac\\\"me\","
            "\"no\":null}");
        /* Numbers keep their type: a real stays a real, int64 exact. */
        expect_fill("[\"{{payload.whole}}\",\"{{payload.big}}\",\"{{payload.tiny}}\"]",
                    "[1.0,-9223372036854775807,1e-300]");
        /* The whole payload, in its order; a top-level placeholder. */
        expect_fill("\"{{payload.obj}}\"", "{\"k\":\"v\",\"q\":\"a\\\"b\"}");
        expect_fill("\"{{payload.n}}\"", "5");
        /* No payload: payload paths are missing. */
        sl_template_t *t = sl_template_parse(
            "{\"p\":\"{{payload}}\",\"x\":\"<{{payload.n}}>\"}", NULL, NULL, 0);
        sl_template_buf_t buf = {0};
        assert_non_null(t);
        assert_int_equal(sl_template_fill(t, &env, NULL, &buf), SL_OK);
        assert_string_equal(buf.data, "{\"p\":null,\"x\":\"<>\"}");
        sl_template_buf_close(&buf);
        sl_template_destroy(t);
}

static void interpolated_text(void **state)
{
        (void)state;
        expect_fill(
            "{\"msg\":\"order {{payload.s}} n={{payload.n}} r={{payload.r}} "
            "b={{payload.b}} z={{payload.z}} m=[{{payload.nope}}] a={{payload.arr}}\"}",
            "{\"msg\":\"order abc n=5 r=2.5 b=true z=null m=[] a=[1,\\\"two\\\"]\"}");
        expect_fill(
            "\"{{type}}/{{id}}@{{occurred_at}}\"",
            "\"order.created/0123abcd-4567-89ef-0123-456789abcdef@1714564800000\"");
        expect_fill("\"{{payload.n}}{{payload.n}}\"", "\"55\"");
        expect_fill("\" {{payload.n}}\"", "\" 5\"");
        expect_fill("\"{{payload.n}} \"", "\"5 \"");
        expect_fill("\"{{metadata.tenant}}!\"", "\"ac\\\"me!\"");
        expect_fill("\"a }} b {\"", "\"a }} b {\"");
}

static void escaping(void **state)
{
        json_error_t jerr;
        (void)state;
        /* Typed: quotes, backslash, control characters escaped; DEL and UTF-8 pass. */
        expect_fill("\"{{payload.esc}}\"",
                    "\"q\\\"b\\\\s\\n\\t\\u0001\x7f\xc3\xa9\xf0\x9f\x98\x80\"");
        /* As text: the same content. */
        expect_fill("\"<{{payload.esc}}>\"",
                    "\"<q\\\"b\\\\s\\n\\t\\u0001\x7f\xc3\xa9\xf0\x9f\x98\x80>\"");
        /* An object as text: its JSON, whose own escapes are escaped again. */
        expect_fill("\"[{{payload.obj}}]\"",
                    "\"[{\\\"k\\\":\\\"v\\\",\\\"q\\\":\\\"a\\\\\\\"b\\\"}]\"");
        /* Template literals are re-escaped too, keys included. */
        expect_fill("{\"k\\\"\\u0002\":\"\\\\ \\n \\u00e9\"}",
                    "{\"k\\\"\\u0002\":\"\\\\ \\n \xc3\xa9\"}");

        /* Independently: the text form of an object reads back as jansson's compact dump.
         */
        sl_template_t *t = sl_template_parse("{\"x\":\"[{{payload}}]\"}", NULL, NULL, 0);
        sl_template_buf_t buf = {0};
        assert_int_equal(sl_template_fill(t, &env, payload, &buf), SL_OK);
        json_t *back = json_loads(buf.data, 0, &jerr);
        assert_non_null(back);
        char *dump = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                             JSON_REAL_PRECISION(17));
        char *want = malloc(strlen(dump) + 3);
        sprintf(want, "[%s]", dump);
        assert_string_equal(json_string_value(json_object_get(back, "x")), want);
        free(want);
        free(dump);
        json_decref(back);
        sl_template_buf_close(&buf);
        sl_template_destroy(t);
}

static void literal_braces(void **state)
{
        (void)state;
        /* \{{ is a literal "{{" (written "\\{{" in JSON text). */
        expect_fill("{\"x\":\"\\\\{{payload.n}}\",\"y\":\"a \\\\{{ b {{payload.n}}\"}",
                    "{\"x\":\"{{payload.n}}\",\"y\":\"a {{ b 5\"}");
        /* Any other backslash is itself. */
        expect_fill("\"a\\\\b \\\\}}\"", "\"a\\\\b \\\\}}\"");
        expect_fill("\"\\\\\"", "\"\\\\\"");
}

static void nested_structure(void **state)
{
        (void)state;
        expect_fill(
            "{ \"workflow\" : \"w\", \"params\": { \"a\": [1, 2.5, true, false, null, "
            "{\"b\": \"{{payload.n}}\", \"c\": [[\"{{type}}\"], {}]}, []], "
            "\"d\": {\"e\": {\"f\": \"x {{payload.s}}\"}}, \"big\": 12345678901234} }",
            "{\"workflow\":\"w\",\"params\":{\"a\":[1,2.5,true,false,null,"
            "{\"b\":5,\"c\":[[\"order.created\"],{}]},[]],"
            "\"d\":{\"e\":{\"f\":\"x abc\"}},\"big\":12345678901234}}");
        expect_fill("{}", "{}");
        expect_fill("[]", "[]");
        expect_fill("7", "7");
        expect_fill("\"plain\"", "\"plain\"");
        expect_fill("\"\"", "\"\"");
}

static void parse_errors(void **state)
{
        (void)state;
        bad("{\"a\":", 5, "at 5:");
        bad("{\"a\" 1}", 6, "at 6: ':' expected");
        bad("{\"a\":1,\"a\":2}", 10, "at 10: duplicate object key");
        bad("{\"a\":\"{{foo}}\"}", 2, "in the string at .a: at 2: unknown field 'foo'");
        bad("{\"a\":\"x {{payload.n\"}", 13, "unclosed '{{'");
        bad("{\"a\":[\"{{payload.n y}}\"]}", 12,
            "in the string at .a[0]: at 12: expected '}}'");
        bad("{\"a\":{\"b\":\"{{}}\"}}", 2, ".a.b: at 2: expected a field");
        bad("\"{{type.x}}\"", 6, "the top: at 6:");
        bad("\"ok {{payload[1}}\"", 14, "expected ']'");
}

static void uses_payload(void **state)
{
        sl_template_t *t;
        (void)state;
        t = sl_template_parse("{\"a\":\"{{type}} {{metadata.x}}\",\"b\":\"{{id}}\"}",
                              NULL, NULL, 0);
        assert_false(sl_template_uses_payload(t));
        sl_template_destroy(t);
        t = sl_template_parse("{\"a\":\"{{type}} {{payload.x}}\"}", NULL, NULL, 0);
        assert_true(sl_template_uses_payload(t));
        sl_template_destroy(t);
        t = sl_template_parse("[\"{{payload}}\"]", NULL, NULL, 0);
        assert_true(sl_template_uses_payload(t));
        sl_template_destroy(t);
}

/* One buffer across fills of different sizes; 10,000 warm fills allocate nothing. */
static void buffer_reuse_without_allocation(void **state)
{
        sl_template_t *big = sl_template_parse(
            "{\"all\":\"{{payload}}\",\"txt\":\"{{payload.esc}} {{payload.obj}}\","
            "\"id\":\"{{id}}\",\"m\":\"{{metadata.tenant}}\",\"n\":\"{{payload.nope}}\"}",
            NULL, NULL, 0);
        sl_template_t *small = sl_template_parse("[\"{{payload.n}}\"]", NULL, NULL, 0);
        sl_template_buf_t buf;
        long n, net;
        size_t big_len;
        (void)state;

        assert_non_null(big);
        assert_non_null(small);
        sl_template_buf_init(&buf);
        assert_int_equal(sl_template_fill(big, &env, payload, &buf), SL_OK); /* warm */
        big_len = buf.len;
        assert_int_equal(sl_template_fill(small, &env, payload, &buf), SL_OK);
        assert_string_equal(buf.data, "[5]");
        assert_int_equal(buf.len, 3);

        alloc_count_start();
        for (int i = 0; i < 10000; i++) {
                const sl_template_t *t = i % 2 ? small : big;
                if (sl_template_fill(t, &env, payload, &buf) != SL_OK)
                        break;
        }
        n = alloc_count_stop(&net);
        assert_int_equal(n, 0);
        assert_int_equal(buf.len, 3); /* the last fill was the small one */
        assert_int_equal(sl_template_fill(big, &env, payload, &buf), SL_OK);
        assert_int_equal(buf.len, big_len);

        /* The counter does see a growing buffer. */
        sl_template_buf_t cold = {0};
        alloc_count_start();
        assert_int_equal(sl_template_fill(big, &env, payload, &cold), SL_OK);
        n = alloc_count_stop(&net);
        assert_true(n >= 1);
        assert_string_equal(cold.data, buf.data);
        sl_template_buf_close(&cold);
        sl_template_buf_close(&buf);
        sl_template_destroy(big);
        sl_template_destroy(small);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state >> 16);
}

/* Random templates from JSON-ish token soup: parsing never crashes or leaks, and every
 * template that parses fills into valid JSON. */
static void fuzz_random_templates(void **state)
{
        static const char *const toks[] = {
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"a\"",
            "\"{{payload.n}}\"",
            "\"x {{type}} y\"",
            "\"{{payload.obj}}\"",
            "\"<{{payload.esc}}>\"",
            "\"\\\\{{\"",
            "\"{{\"",
            "1",
            "2.5",
            "true",
            "null",
            "\"{{payload.arr[1]}}\"",
            "\"{{ metadata.tenant }}\"",
            "\"{{foo}}\"",
            "\"\\u00e9\"",
            " ",
            "\"",
            "\"{{payload}}\"",
        };
        enum { NT = sizeof(toks) / sizeof(toks[0]) };
        char text[512];
        sl_template_buf_t buf = {0};
        json_error_t jerr;
        long parsed = 0, net;
        (void)state;

        alloc_count_start();
        for (int it = 0; it < 20000; it++) {
                size_t n = 0;
                int ntok = 1 + (int)(rnd() % 16);
                for (int k = 0; k < ntok; k++) {
                        const char *t = toks[rnd() % NT];
                        if (n + strlen(t) >= sizeof(text))
                                break;
                        memcpy(text + n, t, strlen(t));
                        n += strlen(t);
                }
                text[n] = '\0';
                char errstr[128];
                sl_template_t *t = sl_template_parse(text, NULL, errstr, sizeof(errstr));
                if (!t)
                        continue;
                parsed++;
                assert_int_equal(sl_template_fill(t, &env, payload, &buf), SL_OK);
                json_t *back = json_loadb(buf.data, buf.len, JSON_DECODE_ANY, &jerr);
                if (!back)
                        fail_msg("%s -> %s: %s", text, buf.data, jerr.text);
                json_decref(back);
                sl_template_destroy(t);
        }
        sl_template_buf_close(&buf);
        alloc_count_stop(&net);
        assert_int_equal(net, 0);
        assert_true(parsed > 100);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(typed_values),
            cmocka_unit_test(interpolated_text),
            cmocka_unit_test(escaping),
            cmocka_unit_test(literal_braces),
            cmocka_unit_test(nested_structure),
            cmocka_unit_test(parse_errors),
            cmocka_unit_test(uses_payload),
            cmocka_unit_test(buffer_reuse_without_allocation),
            cmocka_unit_test(fuzz_random_templates),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
