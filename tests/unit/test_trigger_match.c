/*
 * test_trigger_match: the match stage's per-event decision (processors/trigger-match/
 * matcher.c) on snapshots built from definitions, without Kafka or Postgres: exact,
 * glob and source candidates, filters on the payload and the envelope (missing fields
 * included), disabled and paused triggers still matching, the filled parameters, the
 * payload parsed only when a candidate reads it, a payload that does not parse
 * skipping only its readers, callback errors, an unreserved buffer, no allocation
 * once warm beyond the payload parse (counted, see alloc_count.h), and 400 random
 * triggers over 2,000 random events against a brute-force scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "matcher.h"
#include "sluice/err.h"
#include "util/glob.h"

/* A definition with the table's defaults; id from n. */
static sl_trigger_def_t def(char *idbuf, unsigned n, const char *name, const char *type,
                            const char *source, const char *filter, const char *tmpl)
{
        snprintf(idbuf, 37, "00000000-0000-4000-8000-%012x", n);
        return (sl_trigger_def_t){
            .id = idbuf,
            .name = name,
            .enabled = true,
            .event_type = type,
            .source = source,
            .filter = filter,
            .workflow = "wf",
            .params_template = tmpl ? tmpl : "{}",
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

/* An envelope from JSON (sl_envelope_from_json); release with sl_envelope_clear(). */
static void event(sl_envelope_t *env, const char *json)
{
        char errstr[256];
        if (sl_envelope_from_json(json, strlen(json), env, errstr, sizeof(errstr)) !=
            SL_OK)
                fail_msg("%s: %s", json, errstr);
}

/* The matches of one event, "name=params" joined by spaces. */
typedef struct got_s {
        char text[2048];
        size_t used;
        int calls;
        int fail_at; /* 1-based call that returns SL_ERR_KAFKA; 0: none */
} got_t;

static int collect(void *opaque, const sl_trigger_t *t, const char *params,
                   size_t params_len)
{
        got_t *g = opaque;

        assert_int_equal(strlen(params), params_len);
        g->calls++;
        if (g->fail_at && g->calls == g->fail_at)
                return SL_ERR_KAFKA;
        g->used += (size_t)snprintf(g->text + g->used, sizeof(g->text) - g->used,
                                    "%s%s=%s", g->used ? " " : "", t->def.name, params);
        return SL_OK;
}

static const char *match(sl_matcher_t *mt, const sl_triggers_t *ts, const char *json,
                         sl_matcher_result_t *res)
{
        static got_t g;
        sl_envelope_t env;

        memset(&g, 0, sizeof(g));
        sl_envelope_init(&env);
        event(&env, json);
        assert_int_equal(sl_matcher_event(mt, ts, &env, collect, &g, res), SL_OK);
        assert_int_equal(res->matches, (size_t)g.calls);
        sl_envelope_clear(&env);
        return g.text;
}

#define EV(type, source, payload)                                                        \
        "{\"id\":\"6f1c2a4e-0000-4000-8000-000000000001\",\"type\":\"" type              \
        "\",\"source\":\"" source                                                        \
        "\",\"occurred_at\":1714564800000,\"payload\":" payload                          \
        ",\"correlation_id\":\"corr-1\",\"metadata\":{\"tenant\":\"acme\"}}"

static sl_triggers_t *build(sl_trigger_def_t *defs, size_t n)
{
        char errstr[256];
        sl_triggers_t *ts = sl_triggers_new(defs, n, NULL, NULL, errstr, sizeof(errstr));
        assert_non_null(ts);
        assert_int_equal(sl_triggers_count(ts), n); /* none left out */
        return ts;
}

static void candidates_filters_and_params(void **state)
{
        char id[8][37];
        sl_trigger_def_t defs[8];
        sl_matcher_t mt;
        sl_matcher_result_t res;
        sl_triggers_t *ts;

        (void)state;
        defs[0] = def(id[0], 1, "big-orders", "order.created", NULL,
                      "payload.amount > 100", "{\"order\": \"{{payload.id}}\"}");
        defs[1] = def(id[1], 2, "shop-orders", "order.created", "shop", NULL,
                      "{\"src\": \"{{source}}\", \"n\": \"n={{payload.amount}}\"}");
        defs[2] = def(id[2], 3, "any-order", "order.*", NULL, NULL, NULL);
        defs[3] =
            def(id[3], 4, "vip", "order.*", NULL, "payload.customer.tier == \"vip\"",
                "{\"c\": \"{{payload.customer}}\", \"m\": \"{{payload.missing}}\"}");
        defs[4] =
            def(id[4], 5, "no-flag", "order.created", NULL, "payload.flag != true", NULL);
        defs[5] = def(id[5], 6, "disabled", "order.created", NULL, NULL,
                      "{\"corr\": \"{{correlation_id}}\"}");
        defs[5].enabled = false;
        defs[6] = def(id[6], 7, "paused", "*", NULL, "metadata.tenant == \"acme\"",
                      "{\"t\": \"{{type}}\"}");
        defs[6].paused = true;
        defs[7] = def(id[7], 8, "users", "user.created", NULL, NULL, NULL);
        ts = build(defs, 8);
        sl_matcher_init(&mt);
        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);

        /* Exact types first, then globs, each in name order; disabled and paused
         * triggers match too (the launch stage records them 'paused'). */
        assert_string_equal(
            match(&mt, ts,
                  EV("order.created", "shop",
                     "{\"id\":\"o-1\",\"amount\":150,\"customer\":{\"tier\":\"vip\"}}"),
                  &res),
            "big-orders={\"order\":\"o-1\"} disabled={\"corr\":\"corr-1\"} "
            "no-flag={} shop-orders={\"src\":\"shop\",\"n\":\"n=150\"} any-order={} "
            "paused={\"t\":\"order.created\"} "
            "vip={\"c\":{\"tier\":\"vip\"},\"m\":null}");
        assert_int_equal(res.candidates, 7);
        assert_int_equal(res.matches, 7);
        assert_true(res.payload_parsed);
        assert_false(res.payload_bad);

        /* Another source, a small amount, the flag set, no customer. */
        assert_string_equal(
            match(&mt, ts, EV("order.created", "web", "{\"amount\":5,\"flag\":true}"),
                  &res),
            "disabled={\"corr\":\"corr-1\"} any-order={} "
            "paused={\"t\":\"order.created\"}");
        assert_int_equal(res.candidates, 6);

        /* Missing fields: the comparison is false, != is true. */
        assert_string_equal(match(&mt, ts, EV("order.created", "web", "{}"), &res),
                            "disabled={\"corr\":\"corr-1\"} no-flag={} any-order={} "
                            "paused={\"t\":\"order.created\"}");
        /* A type only a glob takes. */
        assert_string_equal(match(&mt, ts, EV("order.shipped", "web", "{}"), &res),
                            "any-order={} paused={\"t\":\"order.shipped\"}");
        assert_string_equal(match(&mt, ts, EV("user.created", "web", "{}"), &res),
                            "users={} paused={\"t\":\"user.created\"}");
        assert_false(res.payload_parsed); /* neither reads the payload */
        assert_string_equal(match(&mt, ts, EV("nothing", "web", "{}"), &res),
                            "paused={\"t\":\"nothing\"}");
        assert_int_equal(res.candidates, 1);

        sl_matcher_close(&mt);
        sl_triggers_destroy(ts);
}

/* A valid JSON object jansson refuses (an integer beyond 64 bits): ingress accepts it
 * (jsonb takes it), so it reaches the match stage.  As a string holding the JSON. */
#define BIG_PAYLOAD "\"{\\\"n\\\":99999999999999999999}\""

/* The payload is parsed only when a candidate reads it; one that does not parse skips
 * its readers, not the others. */
static void payload_parsed_only_when_read(void **state)
{
        char id[4][37];
        sl_trigger_def_t defs[4];
        sl_matcher_t mt;
        sl_matcher_result_t res;
        sl_triggers_t *ts;

        (void)state;
        defs[0] = def(id[0], 1, "a-envelope-only", "t.x", NULL, "source == \"s\"",
                      "{\"id\": \"{{id}}\"}");
        defs[1] = def(id[1], 2, "b-reads-payload", "t.x", NULL, NULL,
                      "{\"n\": \"{{payload.n}}\"}");
        defs[2] = def(id[2], 3, "c-filter-on-payload", "t.*", NULL, "!(exists payload.q)",
                      NULL);
        defs[3] = def(id[3], 4, "d-plain", "u.*", NULL, NULL, "{\"s\": \"{{source}}\"}");
        ts = build(defs, 4);
        assert_true(sl_triggers_find(ts, "b-reads-payload")->uses_payload);
        assert_true(sl_triggers_find(ts, "c-filter-on-payload")->uses_payload);
        assert_false(sl_triggers_find(ts, "a-envelope-only")->uses_payload);
        sl_matcher_init(&mt);
        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);

        /* No reader among the candidates: never parsed, so never refused. */
        assert_string_equal(match(&mt, ts, EV("u.1", "s", BIG_PAYLOAD), &res),
                            "d-plain={\"s\":\"s\"}");
        assert_false(res.payload_parsed);
        assert_false(res.payload_bad);

        /* Readers: parsed; it does not parse, so they are skipped and said so. */
        assert_string_equal(match(&mt, ts, EV("t.x", "s", BIG_PAYLOAD), &res),
                            "a-envelope-only={\"id\":\"6f1c2a4e-0000-4000-8000-"
                            "000000000001\"}");
        assert_int_equal(res.candidates, 3);
        assert_true(res.payload_parsed);
        assert_true(res.payload_bad);
        assert_int_equal(res.payload_skips, 2);
        assert_non_null(strstr(res.payload_err, "too big integer"));

        /* The same triggers on a payload that parses. */
        assert_string_equal(match(&mt, ts, EV("t.x", "s", "{\"n\":[1,2]}"), &res),
                            "a-envelope-only={\"id\":\"6f1c2a4e-0000-4000-8000-"
                            "000000000001\"} b-reads-payload={\"n\":[1,2]} "
                            "c-filter-on-payload={}");
        assert_true(res.payload_parsed);
        assert_false(res.payload_bad);
        assert_int_equal(res.payload_skips, 0);
        sl_matcher_close(&mt);
        sl_triggers_destroy(ts);
}

/* A callback's error stops the event and is returned; a buffer not reserved for the
 * snapshot is refused before any callback. */
static void errors(void **state)
{
        char id[3][37];
        sl_trigger_def_t defs[3];
        sl_matcher_t mt;
        sl_matcher_result_t res;
        sl_triggers_t *ts;
        sl_envelope_t env;
        got_t g = {.fail_at = 2};

        (void)state;
        defs[0] = def(id[0], 1, "a", "t.x", NULL, NULL, NULL);
        defs[1] = def(id[1], 2, "b", "t.x", NULL, NULL, NULL);
        defs[2] = def(id[2], 3, "c", "t.x", NULL, NULL, NULL);
        ts = build(defs, 3);
        sl_envelope_init(&env);
        event(&env, EV("t.x", "s", "{}"));
        sl_matcher_init(&mt);

        assert_int_equal(sl_matcher_event(&mt, ts, &env, collect, &g, &res),
                         SL_ERR_STATE);
        assert_int_equal(g.calls, 0);
        assert_int_equal(res.candidates, 3);

        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);
        assert_int_equal(mt.cap, 3);
        assert_int_equal(sl_matcher_event(&mt, ts, &env, collect, &g, &res),
                         SL_ERR_KAFKA);
        assert_int_equal(g.calls, 2);
        assert_string_equal(g.text, "a={}");
        /* res may be NULL. */
        memset(&g, 0, sizeof(g));
        assert_int_equal(sl_matcher_event(&mt, ts, &env, collect, &g, NULL), SL_OK);
        assert_int_equal(g.calls, 3);

        /* Reserving for a smaller snapshot keeps the buffer. */
        sl_triggers_destroy(ts);
        ts = build(defs, 1);
        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);
        assert_int_equal(mt.cap, 3);
        sl_triggers_destroy(ts);
        /* An empty snapshot matches nothing. */
        ts = build(NULL, 0);
        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);
        memset(&g, 0, sizeof(g));
        assert_int_equal(sl_matcher_event(&mt, ts, &env, collect, &g, &res), SL_OK);
        assert_int_equal(res.candidates, 0);
        assert_int_equal(g.calls, 0);
        sl_triggers_destroy(ts);

        sl_matcher_close(&mt);
        sl_envelope_clear(&env);
}

static int count_only(void *opaque, const sl_trigger_t *t, const char *params,
                      size_t params_len)
{
        (void)t;
        (void)params;
        (void)params_len;
        ++*(int *)opaque;
        return SL_OK;
}

/* Once the buffers are warm, an event allocates nothing, or exactly what parsing its
 * payload once allocates (and frees) when a candidate reads it. */
static void no_allocation_once_warm(void **state)
{
        char id[4][37];
        sl_trigger_def_t defs[4];
        sl_matcher_t mt;
        sl_triggers_t *envelope_only, *readers;
        sl_envelope_t env;
        const char *payload = "{\"n\":7,\"name\":\"abc\",\"tags\":[\"x\",\"y\"]}";
        long allocs, net, parse_allocs;
        int calls = 0;

        (void)state;
        defs[0] = def(id[0], 1, "a", "t.*", NULL, "type == \"t.y\" && source != \"z\"",
                      "{\"id\": \"{{id}}\", \"what\": \"{{type}} from {{source}}\"}");
        defs[1] = def(id[1], 2, "b", "t.*", NULL, "payload.n > 5",
                      "{\"n\": \"{{payload.n}}\", \"tags\": \"{{payload.tags}}\"}");
        defs[2] = def(id[2], 3, "c", "t.y", NULL, "payload.name == \"abc\"",
                      "{\"name\": \"{{payload.name}}\"}");
        defs[3] = def(id[3], 4, "d", "t.y", NULL, "exists payload.tags", NULL);
        envelope_only = build(defs, 1);
        readers = build(defs, 4);
        assert_false(sl_triggers_use_payload(envelope_only));
        sl_envelope_init(&env);
        event(&env, EV("t.y", "s", "{\"n\":7,\"name\":\"abc\",\"tags\":[\"x\",\"y\"]}"));
        sl_matcher_init(&mt);
        assert_int_equal(sl_matcher_reserve(&mt, readers), SL_OK);
        assert_int_equal(sl_matcher_reserve(&mt, envelope_only), SL_OK);
        /* Warm up: the params buffer grows here. */
        assert_int_equal(sl_matcher_event(&mt, readers, &env, count_only, &calls, NULL),
                         SL_OK);
        assert_int_equal(calls, 4);

        calls = 0;
        alloc_count_start();
        for (int i = 0; i < 100; i++)
                sl_matcher_event(&mt, envelope_only, &env, count_only, &calls, NULL);
        allocs = alloc_count_stop(&net);
        assert_int_equal(calls, 100);
        assert_int_equal(allocs, 0);

        /* With readers: one parse's worth of allocations per event, all freed. */
        alloc_count_start();
        json_decref(json_loadb(payload, strlen(payload), 0, NULL));
        parse_allocs = alloc_count_stop(NULL);
        assert_true(parse_allocs > 0);
        calls = 0;
        alloc_count_start();
        sl_matcher_event(&mt, readers, &env, count_only, &calls, NULL);
        allocs = alloc_count_stop(&net);
        assert_int_equal(calls, 4); /* b, c, d read the payload: parsed once */
        assert_int_equal(allocs, parse_allocs);
        assert_int_equal(net, 0);

        sl_matcher_close(&mt);
        sl_triggers_destroy(readers);
        sl_triggers_destroy(envelope_only);
        sl_envelope_clear(&env);
}

/* The triggers one event matched, in callback order. */
typedef struct seen_s {
        const sl_trigger_t **t;
        size_t n;
} seen_t;

static int remember(void *opaque, const sl_trigger_t *t, const char *params,
                    size_t params_len)
{
        seen_t *sn = opaque;

        (void)params;
        (void)params_len;
        sn->t[sn->n++] = t;
        return SL_OK;
}

/* 400 random triggers (exact types, globs, sources, filters on the payload and the
 * envelope) over 2,000 random events: the matches are those of a scan of every
 * trigger, each once. */
static void random_triggers_agree_with_a_scan(void **state)
{
        enum { N = 400, EVENTS = 2000 };
        static const char *const types[] = {"t0", "t1", "t2", "t3",  "t4",
                                            "t5", "t6", "t7", "t8",  "t9",
                                            "t*", "t?", "*",  "t1*", "u.?"};
        static const char *const sources[] = {NULL, NULL, "s0", "s1"};
        static const char *const filters[] = {
            NULL,
            "payload.n > 5",
            "payload.n == 3",
            "exists payload.k",
            "payload.k != \"a\"",
            "source == \"s1\"",
            "metadata.m == \"x\" || payload.n < 2",
            "!(payload.k in [\"a\", \"b\"]) && type != \"t3\"",
        };
        sl_trigger_def_t *defs = calloc(N, sizeof(*defs));
        char(*ids)[37] = calloc(N, 37), (*nm)[16] = calloc(N, 16);
        seen_t sn = {.t = calloc(N, sizeof(*sn.t))};
        sl_matcher_t mt;
        sl_triggers_t *ts;
        unsigned seed = 42;
        size_t total = 0;

        (void)state;
        assert_non_null(defs);
        assert_non_null(sn.t);
        for (unsigned i = 0; i < N; i++) {
                snprintf(nm[i], 16, "r%03u", i);
                defs[i] = def(ids[i], i + 1, nm[i], types[rand_r(&seed) % 15],
                              sources[rand_r(&seed) % 4], filters[rand_r(&seed) % 8],
                              i % 5 ? NULL : "{\"n\": \"{{payload.n}}\"}");
        }
        ts = build(defs, N);
        sl_matcher_init(&mt);
        assert_int_equal(sl_matcher_reserve(&mt, ts), SL_OK);
        for (unsigned e = 0; e < EVENTS; e++) {
                char json[512], type[8];
                unsigned r = (unsigned)rand_r(&seed) % 14,
                         k = (unsigned)rand_r(&seed) % 3;
                const char *src = k == 0 ? "s0" : k == 1 ? "s1" : "s2";
                sl_envelope_t env;
                json_t *payload;
                size_t want = 0;

                if (r < 10)
                        snprintf(type, sizeof(type), "t%u", r);
                else if (r < 12)
                        snprintf(type, sizeof(type), "t1%u", r);
                else
                        snprintf(type, sizeof(type), "u.%c", (char)('a' + r));
                k = (unsigned)rand_r(&seed) % 3;
                snprintf(json, sizeof(json),
                         "{\"id\":\"6f1c2a4e-0000-4000-8000-%012u\",\"type\":\"%s\","
                         "\"source\":\"%s\",\"payload\":{\"n\":%u%s},"
                         "\"metadata\":{\"m\":\"%s\"}}",
                         e, type, src, (unsigned)rand_r(&seed) % 10,
                         k == 0   ? ",\"k\":\"a\""
                         : k == 1 ? ",\"k\":\"c\""
                                  : "",
                         rand_r(&seed) % 2 ? "x" : "y");
                sl_envelope_init(&env);
                event(&env, json);
                payload = json_loadb(env.payload, env.payload_len, 0, NULL);
                assert_non_null(payload);
                sn.n = 0;
                assert_int_equal(sl_matcher_event(&mt, ts, &env, remember, &sn, NULL),
                                 SL_OK);
                for (size_t i = 0; i < sl_triggers_count(ts); i++) {
                        const sl_trigger_t *t = sl_triggers_at(ts, i);
                        bool m =
                            sl_glob_match(t->def.event_type, env.type) &&
                            (!t->def.source || strcmp(t->def.source, env.source) == 0) &&
                            (!t->filter || sl_filter_eval(t->filter, &env, payload));
                        size_t found = 0;

                        for (size_t j = 0; j < sn.n; j++)
                                found += sn.t[j] == t;
                        if (found != (m ? 1u : 0u))
                                fail_msg("event %s: trigger %s (%s, %s, %s) matched %zu "
                                         "times, want %d",
                                         json, t->def.name, t->def.event_type,
                                         t->def.source ? t->def.source : "-",
                                         t->def.filter ? t->def.filter : "-", found, m);
                        want += m;
                }
                assert_int_equal(sn.n, want);
                total += want;
                sl_envelope_clear(&env);
                json_decref(payload);
        }
        assert_true(total > EVENTS); /* the test means something */
        sl_matcher_close(&mt);
        sl_triggers_destroy(ts);
        free(sn.t);
        free(nm);
        free(ids);
        free(defs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(candidates_filters_and_params),
            cmocka_unit_test(payload_parsed_only_when_read),
            cmocka_unit_test(errors),
            cmocka_unit_test(no_allocation_once_warm),
            cmocka_unit_test(random_triggers_agree_with_a_scan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
