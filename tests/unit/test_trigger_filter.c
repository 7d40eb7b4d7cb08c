/* Unit tests for src/trigger/filter.c and path.c: every operator, precedence, missing
 * fields, type mismatches, the envelope fields, literals and their escapes, parse errors
 * with their exact positions and the limits, evaluation with no allocation (counted,
 * see alloc_count.h), and a fuzz-style run of random token soup and random bytes. */
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
#include "trigger/filter.h"
#include "trigger/path.h"

static const char *const meta_keys[] = {"tenant", "odd key"};
static const char *const meta_vals[] = {"acme", "v"};
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
        env.meta_cnt = 2;
        env.meta_keys = meta_keys;
        env.meta_vals = meta_vals;
        env.payload = "{}";
        payload = json_loads("{\"n\":5,\"r\":2.5,\"s\":\"abc\",\"b\":true,\"f\":false,"
                             "\"z\":null,\"arr\":[1,\"two\",{\"c\":3}],"
                             "\"obj\":{\"a\":{\"b\":[10,20,30]}},\"odd key\":7,"
                             "\"big\":9007199254740993,\"u\":\"\xc3\xa9\","
                             "\"same\":{\"a\":{\"b\":[10,20,30]}},\"neg\":-3}",
                             0, &jerr);
        return payload ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        json_decref(payload);
        return 0;
}

/* text must parse and evaluate to want against the event above. */
static void check(const char *text, bool want)
{
        char errstr[256] = "";
        size_t errpos = 99;
        sl_filter_t *f = sl_filter_parse(text, &errpos, errstr, sizeof(errstr));
        if (!f)
                fail_msg("%s: %s", text, errstr);
        if (sl_filter_eval(f, &env, payload) != want)
                fail_msg("%s: expected %s", text, want ? "true" : "false");
        sl_filter_destroy(f);
}

/* text must be refused at byte pos with words containing what. */
static void bad(const char *text, size_t pos, const char *what)
{
        char errstr[256] = "", prefix[32];
        size_t errpos = 99;
        sl_filter_t *f = sl_filter_parse(text, &errpos, errstr, sizeof(errstr));
        if (f)
                fail_msg("%s: parsed", text);
        if (errpos != pos || !strstr(errstr, what))
                fail_msg("%s: got %zu '%s', expected %zu '%s'", text, errpos, errstr, pos,
                         what);
        snprintf(prefix, sizeof(prefix), "at %zu: ", pos);
        assert_true(strncmp(errstr, prefix, strlen(prefix)) == 0);
}

/* Paths on their own: where parsing stops, the compact form, resolution kinds. */
static void paths(void **state)
{
        char errstr[128];
        sl_path_t path;
        sl_value_t v;
        size_t pos = 2;
        (void)state;

        /* Parsing starts at *pos and stops at the first byte that cannot continue. */
        assert_int_equal(sl_path_parse("x payload.obj[\"a\"].b[1] == 3", &pos, &path,
                                       errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(pos, 23);
        assert_int_equal(path.root, SL_PATH_PAYLOAD);
        assert_int_equal(path.nsteps, 4);
        assert_string_equal(path.steps[0].key, "obj");
        assert_string_equal(path.steps[1].key, "a");
        assert_string_equal(path.steps[2].key, "b");
        assert_null(path.steps[3].key);
        assert_int_equal(path.steps[3].index, 1);
        sl_path_resolve(&path, &env, payload, &v);
        assert_int_equal(v.kind, SL_VALUE_NUMBER);
        assert_true(v.is_int && v.i == 20);
        sl_path_close(&path);

        pos = 0;
        assert_int_equal(sl_path_parse("payload", &pos, &path, errstr, sizeof(errstr)),
                         SL_OK);
        assert_null(path.steps);
        sl_path_resolve(&path, &env, payload, &v);
        assert_int_equal(v.kind, SL_VALUE_JSON);
        assert_ptr_equal(v.json, payload);
        sl_path_resolve(&path, &env, NULL, &v);
        assert_int_equal(v.kind, SL_VALUE_MISSING);
        sl_path_close(&path);

        pos = 0;
        assert_int_equal(sl_path_parse("payload.z)", &pos, &path, errstr, sizeof(errstr)),
                         SL_OK);
        assert_int_equal(pos, 9);
        sl_path_resolve(&path, &env, payload, &v);
        assert_int_equal(v.kind, SL_VALUE_NULL); /* null is not missing */
        sl_path_close(&path);

        pos = 0;
        assert_int_equal(
            sl_path_parse("occurred_at", &pos, &path, errstr, sizeof(errstr)), SL_OK);
        sl_path_resolve(&path, &env, NULL, &v);
        assert_true(v.kind == SL_VALUE_NUMBER && v.is_int && v.i == 1714564800000LL);
        sl_path_close(&path);

        pos = 0;
        assert_int_equal(
            sl_path_parse("metadata.tenantx", &pos, &path, errstr, sizeof(errstr)),
            SL_OK);
        sl_path_resolve(&path, &env, payload, &v);
        assert_int_equal(v.kind, SL_VALUE_MISSING);
        sl_path_close(&path);

        pos = 3;
        assert_int_equal(
            sl_path_parse("a: payload.", &pos, &path, errstr, sizeof(errstr)),
            SL_ERR_INVALID);
        assert_int_equal(pos, 11);
        assert_string_equal(errstr, "at 11: expected a member name after '.'");
}

static void comparisons(void **state)
{
        (void)state;
        check("payload.n == 5", true);
        check("payload.n == 5.0", true);
        check("payload.n != 5", false);
        check("payload.n != 6", true);
        check("payload.n < 6", true);
        check("payload.n < 5", false);
        check("payload.n <= 5", true);
        check("payload.n <= 4.99", false);
        check("payload.n > 4.5", true);
        check("payload.n > 5", false);
        check("payload.n >= 5", true);
        check("payload.n >= 5.01", false);
        check("payload.r == 2.5", true);
        check("payload.r < 3", true);
        check("payload.neg < -2", true);
        check("payload.neg == -3", true);
        check("payload.r == 25e-1", true);
        check("payload.n == 0.5E1", true);
        check("6 > payload.n", true);
        check("payload.n == payload.n", true);
        /* Strings: bytewise, the shorter first. */
        check("payload.s == \"abc\"", true);
        check("payload.s != \"abd\"", true);
        check("payload.s < \"abd\"", true);
        check("payload.s < \"abcd\"", true);
        check("payload.s > \"ab\"", true);
        check("payload.s >= \"abc\"", true);
        check("payload.s <= \"abb\"", false);
        check("payload.u > \"z\"", true); /* 0xC3 > 'z' */
        /* Bools and null: == and != only. */
        check("payload.b == true", true);
        check("payload.f == false", true);
        check("payload.b != false", true);
        check("payload.b > false", false);
        check("payload.z == null", true);
        check("payload.z != null", false);
        check("payload.z <= null", false);
        /* Objects and arrays: equal when their JSON is. */
        check("payload.obj == payload.same", true);
        check("payload.obj != payload.same", false);
        check("payload.obj == payload.arr", false);
        check("payload.obj < payload.same", false);
}

static void int64_exact(void **state)
{
        (void)state;
        /* 2^53 + 1: as doubles both sides would be 2^53. */
        check("payload.big == 9007199254740993", true);
        check("payload.big == 9007199254740992", false);
        check("payload.big > 9007199254740992", true);
        /* Against a real, the comparison is in doubles. */
        check("payload.big == 9007199254740992.0", true);
        /* Beyond int64 a literal is a double. */
        check("payload.n < 99999999999999999999", true);
}

static void in_lists(void **state)
{
        (void)state;
        check("type in [\"a\", \"order.created\"]", true);
        check("type in [\"a\",\"b\"]", false);
        check("payload.n in [1,2,5]", true);
        check("payload.n in[1,2,3]", false);
        check("payload.n in [5.0]", true);
        check("payload.n in []", false);
        check("payload.n in [\"5\", null, true]", false);
        check("payload.z in [1, null]", true);
        check("payload.b in [false, true]", true);
        check("payload.nope in [1, null]", false);
        check("!(payload.n in [5])", false);
}

static void exists_forms(void **state)
{
        (void)state;
        check("exists payload.n", true);
        check("payload.n exists", true);
        check("exists payload.z", true); /* present, even as null */
        check("exists payload.nope", false);
        check("exists payload.arr[2].c", true);
        check("exists payload.arr[3]", false);
        check("exists payload.n.x", false);
        check("exists metadata.tenant", true);
        check("exists metadata.nope", false);
        check("exists correlation_id", true);
        check("!exists payload.nope", true);
        check("payload.nope exists || payload.n exists", true);
        check("exists payload", true);
}

static void missing_fields(void **state)
{
        (void)state;
        check("payload.nope == 1", false);
        check("payload.nope == null", false); /* missing is not null */
        check("payload.nope != 1", true);
        check("payload.nope != null", true);
        check("payload.nope < 1", false);
        check("payload.nope >= 1", false);
        check("payload.nope == payload.nope2", false);
        check("payload.nope", false);
        check("payload.arr[9] == 1", false);
        check("payload.s.x == 1", false);    /* member of a string */
        check("payload.obj[0] == 1", false); /* index into an object */
        check("payload.arr.x == 1", false);  /* member of an array */
        check("metadata.nope == \"acme\"", false);

        /* No payload at all: every payload path is missing. */
        sl_filter_t *f =
            sl_filter_parse("payload.n != 1 && !exists payload", NULL, NULL, 0);
        assert_non_null(f);
        assert_true(sl_filter_eval(f, &env, NULL));
        sl_filter_destroy(f);

        /* An absent correlation id is missing. */
        env.correlation_id = NULL;
        check("correlation_id == \"c-1\"", false);
        check("correlation_id != \"c-1\"", true);
        check("exists correlation_id", false);
        env.correlation_id = "c-1";
}

static void type_mismatches(void **state)
{
        (void)state;
        check("payload.s == 5", false);
        check("payload.s != 5", true);
        check("payload.s < 5", false);
        check("payload.s > 5", false);
        check("payload.n == \"5\"", false);
        check("payload.n != \"5\"", true);
        check("payload.n >= \"5\"", false);
        check("payload.b == 1", false);
        check("payload.b < 2", false);
        check("payload.z == false", false);
        check("payload.z != false", true);
        check("payload.arr == 1", false);
        check("payload.arr != 1", true);
        check("occurred_at == \"1714564800000\"", false);
        /* A bare path is true only when the field is JSON true. */
        check("payload.b", true);
        check("payload.f", false);
        check("payload.n", false);
        check("payload.s", false);
        check("!payload.n", true);
}

static void envelope_fields(void **state)
{
        (void)state;
        check("id == \"0123abcd-4567-89ef-0123-456789abcdef\"", true);
        check("type == \"order.created\"", true);
        check("source == \"shop\" && type != \"x\"", true);
        check("occurred_at == 1714564800000", true);
        check("occurred_at > 1714564799999.5", true);
        check("correlation_id == \"c-1\"", true);
        check("metadata.tenant == \"acme\"", true);
        check("metadata[\"odd key\"] == \"v\"", true);
        check("payload[\"odd key\"] == 7", true);
        check("payload.obj.a.b[1] == 20", true);
        check("payload.obj[\"a\"][\"b\"][2] == 30", true);
        check("payload.arr[1] == \"two\"", true);
}

static void literals(void **state)
{
        (void)state;
        check("payload.u == \"\\u00e9\"", true);
        check("payload.u == \"\\u00E9\"", true);
        check("payload.u == \"\xc3\xa9\"", true);
        check("\"a\\\"b\" == \"a\\u0022b\"", true);
        check("\"\\\\/\" == \"\\\\\\/\"", true);
        check("\"\\b\\f\\n\\r\\t\" == \"\\u0008\\u000c\\u000a\\u000d\\u0009\"", true);
        check("\"\\ud83d\\ude00\" == \"\xf0\x9f\x98\x80\"", true);
        check("\"a\\u0000b\" == \"a\\u0000c\"",
              false); /* NUL inside: compared by length */
        check("\"a\\u0000b\" < \"a\\u0000c\"", true);
        check("true", true);
        check("false", false);
        check("!false", true);
        check("null == null", true);
        check(" \t\r\npayload.n\n==\t5 ", true);
}

static void logic_and_precedence(void **state)
{
        (void)state;
        check("payload.n == 5 && payload.s == \"abc\"", true);
        check("payload.n == 5 && payload.s == \"x\"", false);
        check("payload.n == 6 || payload.s == \"abc\"", true);
        check("payload.n == 6 || payload.s == \"x\"", false);
        /* && binds tighter than ||. */
        check("true || false && false", true);
        check("(true || false) && false", false);
        check("false && false || true", true);
        check("false && (false || true)", false);
        /* ! binds tightest. */
        check("!false && false", false);
        check("!(false && false)", true);
        check("!true || true", true);
        check("!(true || true)", false);
        check("!!true", true);
        check("!!!true", false);
        check("!(payload.n == 5)", false);
        check("!exists payload.n || payload.n == 5", true);
        check("((((payload.n == 5))))", true);
        check("true && true && true && true && false", false);
        check("false || false || false || true", true);
        check("(payload.n > 1 && payload.n < 9) && !(type in [\"x\"])", true);
}

static void parse_errors(void **state)
{
        (void)state;
        bad("", 0, "expected a condition");
        bad("   ", 3, "expected a condition");
        bad("type ==", 7, "expected a literal");
        bad("type == ", 8, "expected a literal");
        bad("(type == \"a\"", 12, "expected ')'");
        bad("type == \"a\" )", 12, "unbalanced ')'");
        bad("type == \"a\" type", 12, "expected '&&', '||' or the end");
        bad("type = \"a\"", 5, "expected '&&', '||' or the end");
        bad("foo == 1", 0, "unknown field 'foo'");
        bad("payload.n == bar", 13, "unknown field 'bar'");
        bad("payload.a[x] == 1", 10, "expected an index");
        bad("payload.a[1 == 1", 11, "expected ']'");
        bad("payload. == 1", 8, "expected a member name");
        bad("payload[\"a\" == 1", 11, "expected ']'");
        bad("payload.a[99999999999] == 1", 10, "index too large");
        bad("type == \"abc", 8, "unterminated string");
        bad("type == \"a\\qb\"", 10, "bad escape");
        bad("type == \"\\ud800\"", 9, "bad \\u escape");
        bad("type == \"\\u12G4\"", 9, "bad \\u escape");
        bad("type == \"a\tb\"", 10, "control character");
        bad("!type == \"a\"", 6, "'!' binds tighter");
        bad("!payload.n in [1]", 11, "'!' binds tighter");
        bad("!5", 1, "after '!'");
        bad("payload.n in 1", 13, "expected '['");
        bad("payload.n in [1,]", 16, "expected a literal");
        bad("payload.n in [1 2]", 16, "expected ',' or ']'");
        bad("payload.n in [payload.r]", 14, "expected a literal");
        bad("type == \"a\" &&", 14, "expected a condition");
        bad("type == \"a\" || ", 15, "expected a condition");
        bad("type.x == 1", 4, "has no members");
        bad("metadata == 1", 8, "metadata needs a key");
        bad("metadata.a.b == 1", 10, "metadata takes one key");
        bad("metadata[101] == 1", 8, "metadata keys are names, not indexes");
        bad("metadata[\"a\\u0000\"] == 1", 9, "\\u0000");
        bad("1.e5 == payload.n", 2, "expected a digit after '.'");
        bad("1e == payload.n", 2, "exponent");
        bad("- 1 == payload.n", 1, "expected a digit");
        bad("5", 0, "expected a comparison");
        bad("\"s\" && true", 0, "expected a comparison");
        bad("exists 5", 7, "expected a field after 'exists'");
        bad("5 exists", 2, "'exists' follows a field");
        bad("payload.n == == 5", 13, "expected a literal");
        bad("payload.n != ", 13, "expected a literal");
        bad("() ", 1, "expected a literal");
        bad("a\xc3\xa9 == 1", 0, "unknown field");
}

static void limits(void **state)
{
        char text[SL_FILTER_MAX_LEN + 16];
        size_t n = 0;
        (void)state;

        /* 32 levels of parentheses parse; the 33rd is refused where it opens. */
        for (int k = 0; k < SL_FILTER_MAX_DEPTH; k++)
                text[n++] = '(';
        n += (size_t)sprintf(text + n, "true");
        for (int k = 0; k < SL_FILTER_MAX_DEPTH; k++)
                text[n++] = ')';
        text[n] = '\0';
        check(text, true);
        memmove(text + 1, text, n + 1);
        text[0] = '(';
        strcat(text, ")");
        bad(text, SL_FILTER_MAX_DEPTH, "nested deeper than 32");
        /* '!' counts as nesting too. */
        memset(text, '!', SL_FILTER_MAX_DEPTH + 1);
        strcpy(text + SL_FILTER_MAX_DEPTH + 1, "true");
        bad(text, SL_FILTER_MAX_DEPTH, "nested deeper than 32");
        strcpy(text + SL_FILTER_MAX_DEPTH, "true");
        check(text, true); /* 32 of them: an even count */

        /* Exactly the maximum length parses; one byte more is refused. */
        memset(text, ' ', SL_FILTER_MAX_LEN);
        memcpy(text, "true", 4);
        text[SL_FILTER_MAX_LEN] = '\0';
        check(text, true);
        text[SL_FILTER_MAX_LEN] = ' ';
        text[SL_FILTER_MAX_LEN + 1] = '\0';
        bad(text, SL_FILTER_MAX_LEN, "longer than 4096");

        /* A long && chain is one node: no deep recursion (600 terms). */
        n = 0;
        for (int k = 0; k < 600; k++)
                n += (size_t)sprintf(text + n, k ? "&&true" : "true");
        check(text, true);

        /* A path of 64 steps parses, 65 are refused. */
        n = (size_t)sprintf(text, "exists payload");
        for (int k = 0; k < 64; k++)
                n += (size_t)sprintf(text + n, "[0]");
        check(text, false);
        strcat(text, ".a");
        bad(text, n, "longer than 64 steps");
}

static void uses_payload(void **state)
{
        static const struct {
                const char *text;
                bool uses;
        } cases[] = {
            {"type == \"a\"", false},
            {"metadata.x == \"a\" || correlation_id exists", false},
            {"type == \"a\" && payload.x == 1", true},
            {"exists payload", true},
            {"!payload.b", true},
        };
        (void)state;
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                sl_filter_t *f = sl_filter_parse(cases[k].text, NULL, NULL, 0);
                assert_non_null(f);
                assert_int_equal(sl_filter_uses_payload(f), cases[k].uses);
                sl_filter_destroy(f);
        }
}

/* Evaluating allocates nothing: 10,000 evaluations of filters that touch every node
 * kind, counted by alloc_count.h (which is first shown to see an allocation). */
static void eval_does_not_allocate(void **state)
{
        static const char *const texts[] = {
            "type in [\"a\", \"order.created\"] && payload.obj.a.b[1] >= 20",
            "!(payload.s < \"abd\") || exists metadata[\"odd key\"] && payload.z == null",
            "payload.obj == payload.same && payload.big != 1.5 && payload.nope != 1",
            "payload.b && occurred_at > 0 && correlation_id == \"c-1\" && true",
        };
        enum { NF = sizeof(texts) / sizeof(texts[0]) };
        sl_filter_t *f[NF];
        void *(*volatile do_malloc)(size_t) = malloc;
        long net, n, hits = 0;
        (void)state;

        for (size_t k = 0; k < NF; k++) {
                f[k] = sl_filter_parse(texts[k], NULL, NULL, 0);
                assert_non_null(f[k]);
        }
        /* The counter sees an allocation. */
        alloc_count_start();
        void *p = do_malloc(16);
        n = alloc_count_stop(NULL);
        free(p);
        assert_int_equal(n, 1);

        alloc_count_start();
        for (int i = 0; i < 10000; i++)
                hits += sl_filter_eval(f[i % NF], &env, payload);
        n = alloc_count_stop(&net);
        assert_int_equal(n, 0);
        assert_int_equal(hits, 10000);
        for (size_t k = 0; k < NF; k++)
                sl_filter_destroy(f[k]);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state >> 16);
}

/* Random token soup and random bytes: parsing never crashes and never leaks (counted
 * here, and LeakSanitizer in the ASan build), and whatever parses evaluates. */
static void fuzz_random_input(void **state)
{
        static const char *const toks[] = {
            "payload",
            ".",
            "a",
            "[",
            "]",
            "0",
            "7",
            "\"k\"",
            "(",
            ")",
            "!",
            "&&",
            "||",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "in",
            "exists",
            "true",
            "false",
            "null",
            "\"s\\n\"",
            "\"\\u00e9\"",
            "\"",
            "\\",
            "-",
            "1.5",
            "2e3",
            ",",
            "type",
            "metadata",
            "id",
            "source",
            "occurred_at",
            "correlation_id",
            " ",
            "payload.n",
            "payload.arr[2].c",
            "metadata.tenant",
            "payload[\"odd key\"]",
            "\"\\ud83d",
            "9223372036854775808",
            "\t",
            "=",
            "&",
            "|",
            "x",
        };
        enum { NT = sizeof(toks) / sizeof(toks[0]) };
        char text[512];
        long parsed = 0, net = 0;
        (void)state;

        alloc_count_start();
        for (int it = 0; it < 40000; it++) {
                size_t n = 0;
                if (it % 2 == 0) {
                        int ntok = 1 + (int)(rnd() % 24);
                        for (int k = 0; k < ntok; k++) {
                                const char *t = toks[rnd() % NT];
                                size_t len = strlen(t);
                                if (n + len >= sizeof(text))
                                        break;
                                memcpy(text + n, t, len);
                                n += len;
                        }
                } else {
                        n = rnd() % 64;
                        for (size_t k = 0; k < n; k++)
                                text[k] = (char)(1 + rnd() % 255);
                }
                text[n] = '\0';
                char errstr[128];
                size_t errpos = SIZE_MAX;
                sl_filter_t *f = sl_filter_parse(text, &errpos, errstr, sizeof(errstr));
                if (f) {
                        parsed++;
                        (void)sl_filter_eval(f, &env, payload);
                        (void)sl_filter_eval(f, &env, NULL);
                        sl_filter_destroy(f);
                } else {
                        assert_true(errpos <= n);
                        assert_true(strncmp(errstr, "at ", 3) == 0);
                }
        }
        alloc_count_stop(&net);
        assert_int_equal(net, 0);
        assert_true(parsed > 100); /* the soup is not all errors */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(paths),
            cmocka_unit_test(comparisons),
            cmocka_unit_test(int64_exact),
            cmocka_unit_test(in_lists),
            cmocka_unit_test(exists_forms),
            cmocka_unit_test(missing_fields),
            cmocka_unit_test(type_mismatches),
            cmocka_unit_test(envelope_fields),
            cmocka_unit_test(literals),
            cmocka_unit_test(logic_and_precedence),
            cmocka_unit_test(parse_errors),
            cmocka_unit_test(limits),
            cmocka_unit_test(uses_payload),
            cmocka_unit_test(eval_does_not_allocate),
            cmocka_unit_test(fuzz_random_input),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
