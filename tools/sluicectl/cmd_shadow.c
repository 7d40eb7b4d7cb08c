/*
 * sluicectl triggers test / sources test: shadow evaluation (src/history/shadow.h).
 * A trigger definition (the JSON `triggers create` takes, read and checked by the same
 * code) or a source's limits, not saved, evaluated against workflow_events history:
 * per report window, what it would have matched, launched and throttled, or admitted
 * and throttled.  History is read in occurred_at order through a server-side cursor,
 * a batch at a time, in one read-only transaction.
 *
 *   triggers test [--since D|T] [--until T] [--window D] [--json] FILE|-
 *   sources test SOURCE [--since D|T] [--until T] [--window D] [--json] FILE|-
 *
 * Output: one line per window that had events (tab-separated after a header, or JSON
 * lines with --json), then a total line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cmd_triggers_def.h"
#include "cmd_util.h"
#include "history/shadow.h"
#include "limits/window.h"
#include "sluice/err.h"
#include "util/clock.h"

#define FETCH 2000 /* rows a FETCH takes (the statements say 2000) */

typedef struct span_s {
        int64_t since, until, window;
        bool json;
        const char *file, *source;
} span_t;

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
        fprintf(stderr, "sluicectl %s test: ", cmd);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n(see 'sluicectl %s --help')\n", cmd);
        return 2;
}

/* --since 7d (a duration back from now) or an RFC 3339 time. */
static int parse_time(const char *s, int64_t now, int64_t *out)
{
        int64_t d;

        if (sl__ctl_parse_rfc3339(s, out) == 0)
                return 0;
        if (sl__ctl_parse_duration(s, &d) == 0) {
                *out = now - d;
                return 0;
        }
        return -1;
}

static int parse_span(const char *cmd, int argc, char **argv, int from, bool want_source,
                      span_t *sp)
{
        int64_t now = sl_wall_ms();
        const char *since = "7d", *until = NULL, *window = "1h", *v;
        bool missing = false;

        memset(sp, 0, sizeof(*sp));
        for (int i = from; i < argc; i++) {
                if ((v = sl__ctl_opt_value(argc, argv, &i, "--since", &missing)))
                        since = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--until", &missing)))
                        until = v;
                else if ((v = sl__ctl_opt_value(argc, argv, &i, "--window", &missing)))
                        window = v;
                else if (missing)
                        return usage_error(cmd, "%s needs a value", argv[i]);
                else if (strcmp(argv[i], "--json") == 0)
                        sp->json = true;
                else if (argv[i][0] == '-' && argv[i][1])
                        return usage_error(cmd, "unknown option '%s'", argv[i]);
                else if (want_source && !sp->source)
                        sp->source = argv[i];
                else if (!sp->file)
                        sp->file = argv[i];
                else
                        return usage_error(cmd, "unexpected argument '%s'", argv[i]);
        }
        if (!sp->file)
                return usage_error(cmd, "%s",
                                   want_source ? "needs SOURCE and FILE" : "needs FILE");
        if (parse_time(since, now, &sp->since))
                return usage_error(cmd,
                                   "--since must be a duration (7d) or RFC 3339 "
                                   "time, not '%s'",
                                   since);
        sp->until = now;
        if (until && parse_time(until, now, &sp->until))
                return usage_error(cmd,
                                   "--until must be a duration or RFC 3339 time, "
                                   "not '%s'",
                                   until);
        if (sl__ctl_parse_duration(window, &sp->window))
                return usage_error(cmd, "--window must be a duration (1h), not '%s'",
                                   window);
        if (sp->until <= sp->since)
                return usage_error(cmd, "%s", "--until must be after --since");
        return 0;
}

/* A read-only transaction with cursor c over sql; false after the error on stderr. */
static bool open_cursor(const char *cmd, PGconn *pg, const char *sql, int n,
                        const char *const *params)
{
        char decl[2048];
        PGresult *res;

        if (!sl__ctl_exec(cmd, pg, "BEGIN READ ONLY", 0, NULL, "begin"))
                return false;
        snprintf(decl, sizeof(decl), "DECLARE c NO SCROLL CURSOR FOR %s", sql);
        res = PQexecParams(pg, decl, n, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                sl__ctl_pg_error(cmd, pg, res, "history");
                PQclear(res);
                return false;
        }
        PQclear(res);
        return true;
}

/* The definition's columns onto the triggers table's defaults (migration 0008). */
static void def_of(const def_t *d, sl_trigger_def_t *td)
{
        *td = (sl_trigger_def_t){.id = "00000000-0000-0000-0000-000000000000",
                                 .enabled = true,
                                 .params_template = "{}",
                                 .window_ms = 1000,
                                 .failure_window_ms = 60000,
                                 .failure_rate = 50,
                                 .min_results = 10,
                                 .open_ms = 30000,
                                 .open_max_ms = 600000,
                                 .probes = 3,
                                 .result_timeout_ms = 300000};
        for (size_t i = 0; i < d->n; i++) {
                const char *k = d->col[i]->name, *v = d->val[i];
                int64_t n = v ? strtoll(v, NULL, 10) : 0;
                if (!strcmp(k, "id"))
                        td->id = v;
                else if (!strcmp(k, "name"))
                        td->name = v;
                else if (!strcmp(k, "enabled"))
                        td->enabled = !strcmp(v, "true");
                else if (!strcmp(k, "event_type"))
                        td->event_type = v;
                else if (!strcmp(k, "source"))
                        td->source = v;
                else if (!strcmp(k, "filter"))
                        td->filter = v;
                else if (!strcmp(k, "workflow"))
                        td->workflow = v;
                else if (!strcmp(k, "params_template"))
                        td->params_template = v;
                else if (!strcmp(k, "rate_limit"))
                        td->rate_limit = n;
                else if (!strcmp(k, "window_ms"))
                        td->window_ms = n;
                else if (!strcmp(k, "on_limit"))
                        td->on_limit =
                            !strcmp(v, "defer") ? SL_ON_LIMIT_DEFER : SL_ON_LIMIT_SKIP;
                else if (!strcmp(k, "failure_window_ms"))
                        td->failure_window_ms = n;
                else if (!strcmp(k, "failure_rate"))
                        td->failure_rate = (int32_t)n;
                else if (!strcmp(k, "min_results"))
                        td->min_results = (int32_t)n;
                else if (!strcmp(k, "failure_count"))
                        td->failure_count = (int32_t)n;
                else if (!strcmp(k, "open_ms"))
                        td->open_ms = n;
                else if (!strcmp(k, "open_max_ms"))
                        td->open_max_ms = n;
                else if (!strcmp(k, "probes"))
                        td->probes = (int32_t)n;
                else if (!strcmp(k, "result_timeout_ms"))
                        td->result_timeout_ms = n;
        }
}

static void bad_def(void *opaque, const sl_trigger_def_t *def, const char *what,
                    const char *errstr)
{
        (void)opaque, (void)def;
        fprintf(stderr, "sluicectl triggers test: %s: %s\n", what, errstr);
}

static void put_trigger_row(bool json, const char *label, const sl_shadow_counts_t *c,
                            bool defer)
{
        if (json) {
                printf("{\"window\":\"%s\",\"considered\":%lld,\"matched\":%lld,"
                       "\"launched\":%lld,\"throttled\":%lld,\"deferred\":%lld,"
                       "\"released\":%lld,\"paused\":%lld}\n",
                       label, (long long)c->considered, (long long)c->matched,
                       (long long)c->outcome[SL_LAUNCH_LAUNCHED],
                       (long long)c->outcome[SL_LAUNCH_THROTTLED],
                       (long long)c->outcome[SL_LAUNCH_DEFERRED], (long long)c->released,
                       (long long)c->outcome[SL_LAUNCH_PAUSED]);
                return;
        }
        printf("%s\t%lld\t%lld\t%lld\t%lld", label, (long long)c->considered,
               (long long)c->matched, (long long)c->outcome[SL_LAUNCH_LAUNCHED],
               (long long)c->outcome[SL_LAUNCH_THROTTLED]);
        if (defer)
                printf("\t%lld\t%lld", (long long)c->outcome[SL_LAUNCH_DEFERRED],
                       (long long)c->released);
        printf("\n");
}

static void add_counts(sl_shadow_counts_t *sum, const sl_shadow_counts_t *c)
{
        sum->considered += c->considered;
        sum->matched += c->matched;
        sum->released += c->released;
        for (int i = 0; i < SL_LAUNCH__CNT; i++)
                sum->outcome[i] += c->outcome[i];
}

int sl__ctl_triggers_test(const sl_conf_t *conf, int argc, char **argv)
{
        static const char sql[] =
            "SELECT (extract(epoch FROM occurred_at) * 1000)::bigint, "
            "json_build_object('id', id, 'type', type, 'source', source, 'occurred_at', "
            "(extract(epoch FROM occurred_at) * 1000)::bigint, 'payload', payload, "
            "'correlation_id', correlation_id, 'metadata', metadata)::text "
            "FROM workflow_events WHERE status = 'accepted' "
            "AND occurred_at >= to_timestamp($1::bigint / 1000.0) "
            "AND occurred_at < to_timestamp($2::bigint / 1000.0) "
            "AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR source = $4) "
            "ORDER BY occurred_at, id";
        sl_shadow_counts_t win = {0}, sum = {0};
        sl_trigger_def_t td;
        sl_shadow_trigger_t sh;
        sl_triggers_t *ts = NULL;
        char errstr[512], a[24], b[24];
        int64_t cur = INT64_MIN;
        PGconn *pg = NULL;
        span_t sp;
        def_t d;
        int rc;

        if ((rc = parse_span("triggers", argc, argv, 2, false, &sp)))
                return rc;
        if (sl__ctl_trigger_def_read(&d, sp.file, true)) {
                sl__ctl_trigger_def_clear(&d);
                return 1;
        }
        def_of(&d, &td);
        rc = 1;
        if (!(ts = sl_triggers_new(&td, 1, bad_def, NULL, errstr, sizeof(errstr))) ||
            sl_triggers_count(ts) != 1) {
                if (!ts)
                        fprintf(stderr, "sluicectl triggers test: %s\n", errstr);
                goto out;
        }
        sl_shadow_trigger_init(&sh, ts);
        if (!(pg = sl__ctl_connect("triggers", conf)))
                goto out;
        snprintf(a, sizeof(a), "%lld", (long long)sp.since);
        snprintf(b, sizeof(b), "%lld", (long long)sp.until);
        {
                /* Push an exact type and the source down to SQL; globs match here. */
                bool glob = strpbrk(td.event_type, "*?") != NULL;
                const char *params[4] = {a, b, glob ? NULL : td.event_type, td.source};
                if (!open_cursor("triggers", pg, sql, 4, params))
                        goto out;
        }
        if (!sp.json)
                printf("WINDOW\tCONSIDERED\tMATCHED\tLAUNCHED\tTHROTTLED%s\n",
                       td.on_limit == SL_ON_LIMIT_DEFER ? "\tDEFERRED\tRELEASED" : "");
        for (;;) {
                PGresult *res = PQexec(pg, "FETCH 2000 FROM c");
                int n;
                if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                        sl__ctl_pg_error("triggers", pg, res, "history");
                        PQclear(res);
                        goto out;
                }
                n = PQntuples(res);
                for (int r = 0; r < n; r++) {
                        int64_t now = strtoll(PQgetvalue(res, r, 0), NULL, 10);
                        int64_t w = sl_window_start_of(sp.window, now);
                        const char *js = PQgetvalue(res, r, 1);
                        json_t *payload = NULL;
                        sl_envelope_t env;
                        char why[256], label[40];
                        if (w != cur) {
                                if (cur != INT64_MIN && win.considered) {
                                        sl__ctl_format_ms(cur, label, sizeof(label));
                                        put_trigger_row(sp.json, label, &win,
                                                        td.on_limit == SL_ON_LIMIT_DEFER);
                                }
                                add_counts(&sum, &win);
                                memset(&win, 0, sizeof(win));
                                cur = w;
                        }
                        sl_envelope_init(&env);
                        if (sl_envelope_from_json(js, strlen(js), &env, why,
                                                  sizeof(why)) != SL_OK)
                                continue;
                        if (sl_shadow_trigger_reads_payload(&sh))
                                payload =
                                    json_loadb(env.payload, env.payload_len, 0, NULL);
                        sl_shadow_trigger_event(&sh, &env, payload, now, &win);
                        json_decref(payload);
                        sl_envelope_clear(&env);
                }
                PQclear(res);
                if (n < FETCH)
                        break;
        }
        if (cur != INT64_MIN && win.considered) {
                char label[SL_CTL_TIME_MAX];
                sl__ctl_format_ms(cur, label, sizeof(label));
                put_trigger_row(sp.json, label, &win, td.on_limit == SL_ON_LIMIT_DEFER);
        }
        add_counts(&sum, &win);
        put_trigger_row(sp.json, "total", &sum, td.on_limit == SL_ON_LIMIT_DEFER);
        if (td.on_limit == SL_ON_LIMIT_DEFER && sh.st.deferred > 0)
                fprintf(stderr,
                        "sluicectl triggers test: %lld matches still deferred at "
                        "the end\n",
                        (long long)sh.st.deferred);
        rc = 0;
out:
        if (pg)
                PQfinish(pg);
        sl_triggers_destroy(ts);
        sl__ctl_trigger_def_clear(&d);
        return rc;
}

/* A source's limits from JSON: the sources table's column names. */
static int limits_read(const char *path, sl_limits_t *lim)
{
        static const char *const keys[] = {"rate_limit",    "window_ms",   "pause_after",
                                           "pause_ms",      "dlq_rate",    "dlq_min",
                                           "dlq_window_ms", "dlq_pause_ms"};
        int64_t *dst[] = {&lim->limit,         &lim->window_ms,   &lim->pause_after,
                          &lim->pause_ms,      &lim->dlq_rate,    &lim->dlq_min,
                          &lim->dlq_window_ms, &lim->dlq_pause_ms};
        char *text = sl__ctl_slurp("sources", path, 1024 * 1024);
        json_error_t jerr;
        json_t *root, *v;
        const char *k;

        *lim = (sl_limits_t){.window_ms = 60000,
                             .dlq_min = 20,
                             .dlq_window_ms = 60000,
                             .dlq_pause_ms = 60000};
        if (!text)
                return 1;
        root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (!json_is_object(root)) {
                fprintf(stderr, "sluicectl sources test: %s: not a JSON object\n", path);
                json_decref(root);
                return 1;
        }
        json_object_foreach(root, k, v)
        {
                size_t i = 0;
                while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[i], k))
                        i++;
                if (i == sizeof(keys) / sizeof(keys[0]) || !json_is_integer(v) ||
                    json_integer_value(v) < 0 || (i == 1 && json_integer_value(v) < 1)) {
                        fprintf(stderr,
                                "sluicectl sources test: \"%s\": unknown key or not a "
                                "whole number >= 0 (keys: rate_limit, window_ms, "
                                "pause_after, pause_ms)\n",
                                k);
                        json_decref(root);
                        return 1;
                }
                *dst[i] = json_integer_value(v);
        }
        json_decref(root);
        /* The breaker needs dead letters, which history does not hold. */
        lim->dlq_rate = 0;
        return 0;
}

static void put_source_row(bool json, const char *label, const sl_shadow_admit_t *c)
{
        if (json)
                printf("{\"window\":\"%s\",\"events\":%lld,\"accepted\":%lld,"
                       "\"throttled\":%lld,\"paused\":%lld}\n",
                       label, (long long)c->events,
                       (long long)c->decision[SL_DECISION_ACCEPTED],
                       (long long)c->decision[SL_DECISION_THROTTLED],
                       (long long)c->decision[SL_DECISION_PAUSED]);
        else
                printf("%s\t%lld\t%lld\t%lld\t%lld\n", label, (long long)c->events,
                       (long long)c->decision[SL_DECISION_ACCEPTED],
                       (long long)c->decision[SL_DECISION_THROTTLED],
                       (long long)c->decision[SL_DECISION_PAUSED]);
}

int sl__ctl_sources_test(const sl_conf_t *conf, int argc, char **argv)
{
        static const char sql[] =
            "SELECT (extract(epoch FROM occurred_at) * 1000)::bigint "
            "FROM workflow_events WHERE source = $3 "
            "AND occurred_at >= to_timestamp($1::bigint / 1000.0) "
            "AND occurred_at < to_timestamp($2::bigint / 1000.0) "
            "ORDER BY occurred_at, id";
        sl_shadow_source_t sh = {0};
        sl_shadow_admit_t win = {0}, sum = {0};
        char a[24], b[24];
        int64_t cur = INT64_MIN;
        PGconn *pg = NULL;
        span_t sp;
        int rc;

        if ((rc = parse_span("sources", argc, argv, 2, true, &sp)))
                return rc;
        if (sl__ctl_check_text("sources", "SOURCE", sp.source, 255) ||
            limits_read(sp.file, &sh.lim))
                return 1;
        if (!(pg = sl__ctl_connect("sources", conf)))
                return 1;
        snprintf(a, sizeof(a), "%lld", (long long)sp.since);
        snprintf(b, sizeof(b), "%lld", (long long)sp.until);
        {
                const char *params[3] = {a, b, sp.source};
                if (!open_cursor("sources", pg, sql, 3, params)) {
                        PQfinish(pg);
                        return 1;
                }
        }
        if (!sp.json)
                printf("WINDOW\tEVENTS\tACCEPTED\tTHROTTLED\tPAUSED\n");
        rc = 1;
        for (;;) {
                PGresult *res = PQexec(pg, "FETCH 2000 FROM c");
                int n;
                if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                        sl__ctl_pg_error("sources", pg, res, "history");
                        PQclear(res);
                        goto out;
                }
                n = PQntuples(res);
                for (int r = 0; r < n; r++) {
                        int64_t now = strtoll(PQgetvalue(res, r, 0), NULL, 10);
                        int64_t w = sl_window_start_of(sp.window, now);
                        if (w != cur) {
                                if (cur != INT64_MIN && win.events) {
                                        char label[SL_CTL_TIME_MAX];
                                        sl__ctl_format_ms(cur, label, sizeof(label));
                                        put_source_row(sp.json, label, &win);
                                }
                                for (int i = 0; i <= SL_DECISION_PAUSED; i++)
                                        sum.decision[i] += win.decision[i];
                                sum.events += win.events;
                                memset(&win, 0, sizeof(win));
                                cur = w;
                        }
                        sl_shadow_source_event(&sh, now, &win);
                }
                PQclear(res);
                if (n < FETCH)
                        break;
        }
        if (cur != INT64_MIN && win.events) {
                char label[SL_CTL_TIME_MAX];
                sl__ctl_format_ms(cur, label, sizeof(label));
                put_source_row(sp.json, label, &win);
        }
        for (int i = 0; i <= SL_DECISION_PAUSED; i++)
                sum.decision[i] += win.decision[i];
        sum.events += win.events;
        put_source_row(sp.json, "total", &sum);
        rc = 0;
out:
        PQfinish(pg);
        return rc;
}
