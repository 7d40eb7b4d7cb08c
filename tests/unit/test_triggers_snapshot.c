/*
 * test_triggers_snapshot: the triggers snapshot (src/pg/triggers_watch.c) built from
 * definitions, without Postgres: exact types through the hash map, globs scanned, the
 * source check, name order, candidates without allocation past cap, bad filters,
 * templates and ids left out with a callback, duplicate names, and lookups over
 * 10,000 exact-type triggers checked against a brute-force reference.  Also the glob
 * matcher (src/util/glob.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg/triggers_watch.h"
#include "util/glob.h"

static void glob_matches(void **state)
{
        (void)state;
        assert_true(sl_glob_match("order.created", "order.created"));
        assert_false(sl_glob_match("order.created", "order.create"));
        assert_false(sl_glob_match("order.create", "order.created"));
        assert_true(sl_glob_match("order.*", "order.created"));
        assert_true(sl_glob_match("order.*", "order."));
        assert_false(sl_glob_match("order.*", "order"));
        assert_true(sl_glob_match("*", ""));
        assert_true(sl_glob_match("*", "anything.at.all"));
        assert_true(sl_glob_match("*.created", "order.created"));
        assert_true(sl_glob_match("*.created", "a.b.created")); /* '*' crosses dots */
        assert_false(sl_glob_match("*.created", "order.updated"));
        assert_true(sl_glob_match("order.?", "order.x"));
        assert_false(sl_glob_match("order.?", "order.xy"));
        assert_false(sl_glob_match("order.?", "order."));
        assert_true(sl_glob_match("a*b*c", "aXXbYYc"));
        assert_true(sl_glob_match("a*b*c", "abc"));
        assert_false(sl_glob_match("a*b*c", "acb"));
        assert_true(sl_glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert_false(sl_glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert_true(sl_glob_match("**", "x"));
        /* No classes, no escapes: '[' and '\' are themselves. */
        assert_true(sl_glob_match("a[1]", "a[1]"));
        assert_false(sl_glob_match("a[12]", "a1"));
        assert_true(sl_glob_match("a\\*", "a\\xyz"));
        assert_false(sl_glob_match("", "x"));
        assert_true(sl_glob_match("", ""));

        assert_true(sl_glob_is_glob("order.*"));
        assert_true(sl_glob_is_glob("order.?"));
        assert_false(sl_glob_is_glob("order.[x]"));
        assert_false(sl_glob_is_glob("order.created"));
}

/* A definition with defaults; id from n. */
static sl_trigger_def_t def(char *idbuf, unsigned n, const char *name, const char *type,
                            const char *source)
{
        snprintf(idbuf, 37, "00000000-0000-4000-8000-%012x", n);
        return (sl_trigger_def_t){
            .id = idbuf,
            .name = name,
            .enabled = true,
            .event_type = type,
            .source = source,
            .workflow = "wf",
            .params_template = "{}",
            .window_ms = 1000,
            .failure_window_ms = 60000,
            .failure_rate = 50,
            .min_results = 10,
            .open_ms = 30000,
            .open_max_ms = 600000,
            .probes = 3,
            .result_timeout_ms = 300000,
        };
}

typedef struct bad_log_s {
        int calls;
        char what[32];
        char name[64];
        char err[256];
} bad_log_t;

static void on_bad(void *opaque, const sl_trigger_def_t *d, const char *what,
                   const char *err)
{
        bad_log_t *bl = opaque;

        bl->calls++;
        snprintf(bl->what, sizeof(bl->what), "%s", what);
        snprintf(bl->name, sizeof(bl->name), "%s", d->name ? d->name : "");
        snprintf(bl->err, sizeof(bl->err), "%s", err);
}

/* Names of the candidates, space-separated. */
static const char *names(const sl_triggers_t *ts, const char *type, const char *source)
{
        static char buf[512];
        const sl_trigger_t *out[16];
        size_t n = sl_triggers_candidates(ts, type, source, out, 16), used = 0;

        assert_true(n <= 16);
        assert_true(n <= sl_triggers_max_candidates(ts));
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++)
                used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
                                         i ? " " : "", out[i]->def.name);
        return buf;
}

static void exact_and_glob_candidates(void **state)
{
        char id[8][37], errstr[256];
        sl_trigger_def_t defs[8];
        sl_triggers_t *ts;

        (void)state;
        defs[0] = def(id[0], 1, "z-order-created", "order.created", NULL);
        defs[1] = def(id[1], 2, "a-order-created-shop", "order.created", "shop");
        defs[2] = def(id[2], 3, "m-any-order", "order.*", NULL);
        defs[3] = def(id[3], 4, "b-any", "*", NULL);
        defs[4] = def(id[4], 5, "c-order-one", "order.?", NULL);
        defs[5] = def(id[5], 6, "d-user", "user.created", NULL);
        defs[6] = def(id[6], 7, "e-disabled", "order.created", NULL);
        defs[6].enabled = false;
        defs[7] = def(id[7], 8, "f-crm-glob", "*.created", "crm");
        ts = sl_triggers_new(defs, 8, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(ts);
        assert_int_equal(sl_triggers_count(ts), 8);
        /* Exact ones first (name order, disabled included), then globs (name order). */
        assert_string_equal(names(ts, "order.created", NULL),
                            "a-order-created-shop e-disabled z-order-created b-any "
                            "f-crm-glob m-any-order");
        assert_string_equal(names(ts, "order.created", "shop"),
                            "a-order-created-shop e-disabled z-order-created b-any "
                            "m-any-order");
        assert_string_equal(names(ts, "order.created", "crm"),
                            "e-disabled z-order-created b-any f-crm-glob m-any-order");
        assert_string_equal(names(ts, "order.x", "crm"), "b-any c-order-one m-any-order");
        assert_string_equal(names(ts, "user.created", "web"), "d-user b-any");
        assert_string_equal(names(ts, "nothing", "web"), "b-any");
        assert_string_equal(names(ts, "order.created.v2", "crm"), "b-any m-any-order");
        /* order.created: 3 exact + 4 globs at most. */
        assert_int_equal(sl_triggers_max_candidates(ts), 7);

        /* cap below the count: returns the count, writes only cap. */
        {
                const sl_trigger_t *out[2] = {NULL, NULL}, *sentinel[1] = {NULL};
                size_t n = sl_triggers_candidates(ts, "order.created", NULL, out, 1);
                assert_int_equal(n, 6);
                assert_string_equal(out[0]->def.name, "a-order-created-shop");
                assert_null(out[1]);
                assert_int_equal(
                    sl_triggers_candidates(ts, "order.created", NULL, sentinel, 0), 6);
                assert_null(sentinel[0]);
        }

        /* Parsed fields. */
        {
                const sl_trigger_t *t = sl_triggers_find(ts, "m-any-order");
                assert_non_null(t);
                assert_true(t->is_glob);
                assert_int_equal(t->id[15], 3);
                assert_int_equal(t->id[6], 0x40);
                assert_null(t->filter);
                assert_non_null(t->tmpl);
                assert_false(sl_triggers_find(ts, "e-disabled")->def.enabled);
                assert_false(sl_triggers_find(ts, "d-user")->is_glob);
                assert_null(sl_triggers_find(ts, "nope"));
                assert_string_equal(sl_triggers_at(ts, 0)->def.name,
                                    "a-order-created-shop");
                assert_null(sl_triggers_at(ts, 8));
                for (size_t i = 0; i < sl_triggers_count(ts); i++)
                        assert_int_equal(sl_triggers_index(ts, sl_triggers_at(ts, i)), i);
                assert_int_equal(
                    sl_triggers_index(ts, t),
                    sl_triggers_index(ts, sl_triggers_find(ts, t->def.name)));
        }
        sl_triggers_destroy(ts);
}

static void definitions_are_copied(void **state)
{
        char id[37], name[16] = "copied", type[16] = "t.x", errstr[256];
        sl_trigger_def_t d = def(id, 9, name, type, NULL);
        sl_triggers_t *ts;

        (void)state;
        d.paused = true;
        d.paused_by = "ops";
        d.paused_reason = "maintenance";
        d.paused_until_ms = 1234;
        d.on_limit = SL_ON_LIMIT_DEFER;
        d.rate_limit = 10;
        ts = sl_triggers_new(&d, 1, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(ts);
        memset(name, 'X', sizeof(name) - 1);
        memset(type, 'Y', sizeof(type) - 1);
        memset(id, 0, sizeof(id));
        assert_string_equal(names(ts, "t.x", NULL), "copied");
        {
                const sl_trigger_t *t = sl_triggers_at(ts, 0);
                assert_string_equal(t->def.id, "00000000-0000-4000-8000-000000000009");
                assert_string_equal(t->def.paused_by, "ops");
                assert_string_equal(t->def.paused_reason, "maintenance");
                assert_true(t->def.paused);
                assert_int_equal(t->def.paused_until_ms, 1234);
                assert_int_equal(t->def.on_limit, SL_ON_LIMIT_DEFER);
                assert_int_equal(t->def.rate_limit, 10);
        }
        sl_triggers_destroy(ts);

        ts = sl_triggers_new(NULL, 0, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(ts);
        assert_int_equal(sl_triggers_count(ts), 0);
        assert_int_equal(sl_triggers_max_candidates(ts), 0);
        assert_string_equal(names(ts, "t.x", NULL), "");
        assert_null(sl_triggers_find(ts, "x"));
        assert_false(sl_triggers_use_payload(ts));
        sl_triggers_destroy(ts);
        sl_triggers_destroy(NULL);
}

static void bad_definitions_are_left_out(void **state)
{
        char id[6][37], errstr[256];
        sl_trigger_def_t defs[6];
        sl_triggers_t *ts;
        bad_log_t bl = {0};

        (void)state;
        defs[0] = def(id[0], 1, "good", "a.b", NULL);
        defs[0].filter = "payload.amount > 10";
        defs[1] = def(id[1], 2, "bad-filter", "a.b", NULL);
        defs[1].filter = "payload.amount > (10";
        defs[2] = def(id[2], 3, "bad-template", "a.*", NULL);
        defs[2].params_template = "{\"a\": ";
        defs[3] = def(id[3], 4, "bad-id", "a.b", NULL);
        defs[3].id = "not-a-uuid";
        defs[4] = def(id[4], 5, "good", "a.c", NULL); /* same name as defs[0] */
        defs[5] = def(id[5], 6, "no-filter", "a.b", NULL);
        defs[5].filter = ""; /* empty: no filter */

        ts = sl_triggers_new(defs, 2, on_bad, &bl, errstr, sizeof(errstr));
        assert_non_null(ts);
        assert_int_equal(bl.calls, 1);
        assert_string_equal(bl.what, "filter");
        assert_string_equal(bl.name, "bad-filter");
        assert_true(strlen(bl.err) > 0);
        assert_int_equal(sl_triggers_count(ts), 1);
        assert_non_null(sl_triggers_at(ts, 0)->filter);
        sl_triggers_destroy(ts);

        memset(&bl, 0, sizeof(bl));
        ts = sl_triggers_new(defs + 2, 1, on_bad, &bl, errstr, sizeof(errstr));
        assert_int_equal(bl.calls, 1);
        assert_string_equal(bl.what, "params_template");
        assert_int_equal(sl_triggers_count(ts), 0);
        assert_string_equal(names(ts, "a.x", NULL), "");
        sl_triggers_destroy(ts);

        memset(&bl, 0, sizeof(bl));
        ts = sl_triggers_new(defs + 3, 1, on_bad, &bl, errstr, sizeof(errstr));
        assert_int_equal(bl.calls, 1);
        assert_string_equal(bl.what, "id");
        assert_int_equal(sl_triggers_count(ts), 0);
        sl_triggers_destroy(ts);

        /* All six, no callback: three left out silently, and the second "good". */
        ts = sl_triggers_new(defs, 6, NULL, NULL, errstr, sizeof(errstr));
        assert_int_equal(sl_triggers_count(ts), 2);
        assert_null(sl_triggers_find(ts, "no-filter")->filter);
        assert_string_equal(names(ts, "a.b", NULL), "good no-filter");
        assert_string_equal(names(ts, "a.c", NULL), "");
        sl_triggers_destroy(ts);

        memset(&bl, 0, sizeof(bl));
        ts = sl_triggers_new(defs, 6, on_bad, &bl, errstr, sizeof(errstr));
        assert_int_equal(bl.calls, 4);
        assert_string_equal(bl.what, "name"); /* the duplicate is found last */
        sl_triggers_destroy(ts);
}

/* 10,000 exact types (two triggers each) and 20 globs: every lookup agrees with a
 * brute-force scan of every trigger. */
static void many_triggers_agree_with_a_scan(void **state)
{
        enum { NTYPES = 10000, NGLOB = 20, N = NTYPES * 2 + NGLOB };
        sl_trigger_def_t *defs = calloc(N, sizeof(*defs));
        char(*ids)[37] = calloc(N, 37), (*nm)[32] = calloc(N, 32),
        (*ty)[32] = calloc(N, 32);
        const sl_trigger_t **out = calloc(N, sizeof(*out));
        char errstr[256];
        sl_triggers_t *ts;

        (void)state;
        for (unsigned i = 0; i < N; i++) {
                if (i < NTYPES * 2)
                        snprintf(ty[i], 32, "type.%u.created", i / 2);
                else
                        snprintf(ty[i], 32, "type.%u*", i - NTYPES * 2);
                snprintf(nm[i], 32, "t%05u", i);
                defs[i] = def(ids[i], i + 1, nm[i], ty[i], i % 3 == 0 ? "s0" : NULL);
        }
        ts = sl_triggers_new(defs, N, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(ts);
        assert_int_equal(sl_triggers_count(ts), N);
        for (unsigned k = 0; k < NTYPES + 50; k += 7) {
                char type[32];
                const char *src = k % 2 ? "s0" : "s1";
                size_t n, want = 0;

                snprintf(type, sizeof(type), "type.%u.created", k);
                n = sl_triggers_candidates(ts, type, src, out, N);
                assert_true(n <= sl_triggers_max_candidates(ts));
                for (size_t i = 0; i < N; i++) {
                        const sl_trigger_t *t = sl_triggers_at(ts, i);
                        bool m = sl_glob_match(t->def.event_type, type) &&
                                 (!t->def.source || strcmp(t->def.source, src) == 0);
                        bool found = false;
                        for (size_t j = 0; j < n; j++)
                                found |= out[j] == t;
                        assert_int_equal(m, found);
                        want += m;
                }
                assert_int_equal(n, want);
        }
        sl_triggers_destroy(ts);
        free(out);
        free(ty);
        free(nm);
        free(ids);
        free(defs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(glob_matches),
            cmocka_unit_test(exact_and_glob_candidates),
            cmocka_unit_test(definitions_are_copied),
            cmocka_unit_test(bad_definitions_are_left_out),
            cmocka_unit_test(many_triggers_agree_with_a_scan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
