/*
 * The launch stage's Postgres statements over trigger_deliveries (migrations 0008,
 * 0009).  A batch's rows go as one array literal per column through unnest(), so a
 * batch is one round trip per statement and no SQL is built from data.  Every
 * statement runs on the stage's session (src/pg/session.h): a lost connection or a
 * deadlock is retried there, and what still fails says whether it is transient.
 *
 * A batch's deliveries go in one of two ways.  Looked up first (sl__tl_pg_lookup),
 * they are inserted with ON CONFLICT DO NOTHING.  Not looked up (the common case, see
 * launch.c), they are inserted without it, as one statement: a match decided before
 * (a repeat) fails the whole statement with unique_violation and nothing of the batch
 * is written, so the stage decides the batch again after a lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"
#include "pg/pg.h"
#include "sluice/err.h"
#include "util/fatal.h"

static const char lookup_sql[] =
    "SELECT launch_id::text, outcome, first_outcome, "
    "coalesce((extract(epoch FROM launched_at) * 1000)::bigint, 0), result IS NULL "
    "FROM trigger_deliveries WHERE launch_id = ANY($1::uuid[])";

#define INSERT_SQL                                                                       \
        "INSERT INTO trigger_deliveries (launch_id, trigger_id, event_id, event_type, "  \
        "workflow, correlation_id, outcome, first_outcome, reason, matched_at, "         \
        "decided_at, launched_at, trigger_name, match_offset, params, traceparent, "     \
        "accepted_at, probe) "                                                           \
        "SELECT u.l, u.t, u.e, u.et, u.w, u.c, u.o, u.o, u.r::jsonb, "                   \
        "to_timestamp(u.ma / 1000.0), to_timestamp(u.de / 1000.0), "                     \
        "CASE WHEN u.o = 'launched' THEN to_timestamp(u.de / 1000.0) END, "              \
        "u.tn, u.mo, u.pa, u.tp, to_timestamp(u.ac / 1000.0), u.pr "                     \
        "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], "       \
        "$6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], " \
        "$12::bigint[], $13::text[], $14::text[], $15::bigint[], $16::bool[]) "          \
        "AS u(l, t, e, et, w, c, o, r, ma, de, tn, mo, pa, tp, ac, pr)"

static const char insert_sql[] = INSERT_SQL " ON CONFLICT (launch_id) DO NOTHING";
/* Every row new, or none written (unique_violation). */
static const char insert_new_sql[] = INSERT_SQL;

static const char results_sql[] =
    "UPDATE trigger_deliveries d SET result = u.s, error = u.er, "
    "finished_at = to_timestamp(u.f / 1000.0) "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) AS u(l, s, er, f) "
    "WHERE d.launch_id = u.l AND d.outcome = 'launched' AND d.result IS NULL";

static const char replays_sql[] =
    "UPDATE trigger_deliveries d SET outcome = u.o, replayed_at = to_timestamp(u.at / "
    "1000.0), "
    "launched_at = CASE WHEN u.o = 'launched' THEN to_timestamp(u.at / 1000.0) END, "
    "match_offset = u.mo, probe = u.p "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[]) "
    "AS u(l, o, at, mo, p) "
    "WHERE d.launch_id = u.l AND d.outcome IN ('throttled', 'paused', 'open')";

static const char deferred_sql[] =
    "SELECT launch_id::text, event_id::text, correlation_id, coalesce(params, '{}'), "
    "traceparent, coalesce((extract(epoch FROM accepted_at) * 1000)::bigint, 0), "
    "workflow, coalesce(trigger_name, ''), coalesce(match_offset, -1) "
    "FROM trigger_deliveries WHERE trigger_id = $1::uuid AND outcome = 'deferred' "
    "ORDER BY match_offset, matched_at LIMIT $2";

static const char mark_sql[] = "UPDATE trigger_deliveries d SET outcome = 'launched', "
                               "launched_at = to_timestamp($2 / 1000.0), probe = u.p "
                               "FROM unnest($1::uuid[], $3::bool[]) AS u(l, p) "
                               "WHERE d.launch_id = u.l AND d.outcome = 'deferred'";

static const char count_sql[] =
    "SELECT trigger_id::text, count(*) FROM trigger_deliveries "
    "WHERE outcome = 'deferred' AND trigger_id = ANY($1::uuid[]) GROUP BY trigger_id";

static const char waiting_sql[] =
    "SELECT launch_id::text, trigger_id::text, "
    "(extract(epoch FROM launched_at) * 1000)::bigint, probe, "
    /* released from a deferred queue: deferred at first, or deferred by replay-shed
     * and released later (launched directly, a replay is launched when replayed) */
    "first_outcome = 'deferred' OR (replayed_at IS NOT NULL AND launched_at > "
    "replayed_at) "
    "FROM trigger_deliveries "
    "WHERE outcome = 'launched' AND result IS NULL AND trigger_id = ANY($1::uuid[])";

static const char relaunch_sql[] =
    "SELECT launch_id::text, event_id::text, correlation_id, coalesce(params, '{}'), "
    "traceparent, coalesce((extract(epoch FROM accepted_at) * 1000)::bigint, 0), "
    "workflow, coalesce(trigger_name, ''), coalesce(match_offset, -1), trigger_id::text, "
    "(extract(epoch FROM launched_at) * 1000)::bigint "
    "FROM trigger_deliveries WHERE launch_id = ANY($1::uuid[]) AND outcome = 'launched' "
    "AND result IS NULL ORDER BY match_offset";

/* A trigger's launches in its current window: those decided as launches at once
 * (launched_at = decided_at: trigger_idx) and those launched later, from the deferred
 * queue or by replay-shed (launched_later_idx); migration 0011. */
static const char window_sql[] =
    "WITH w AS (SELECT id, to_timestamp(($2::bigint - $2::bigint % window_ms) / 1000.0) "
    "AS start FROM triggers WHERE id = ANY($1::uuid[]) AND rate_limit > 0) "
    "SELECT w.id::text, "
    "(SELECT count(*) FROM trigger_deliveries d WHERE d.trigger_id = w.id "
    "AND d.decided_at >= w.start AND d.first_outcome = 'launched') + "
    "(SELECT count(*) FROM trigger_deliveries d WHERE d.trigger_id = w.id "
    "AND d.outcome = 'launched' AND d.first_outcome <> 'launched' "
    "AND d.launched_at >= w.start) "
    "FROM w";

int sl__tl_pg_open(tl_pg_t *pg, const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        static const sl_pg_session_opts_t opts = {
            /* A delivery lost in a Postgres crash is decided again from the replayed
             * match (the changelog flush comes after): safe, and a batch commits
             * without waiting for the WAL flush. */
            .setup_sql = "SET synchronous_commit = off",
        };

        memset(pg, 0, sizeof(*pg));
        pg->ses = sl_pg_session_new(conf, &opts, errstr, errstr_size);
        return pg->ses ? SL_OK : SL_ERR_PG;
}

void sl__tl_pg_close(tl_pg_t *pg)
{
        sl_pg_session_destroy(pg->ses);
        for (int i = 0; i < DC__CNT; i++)
                sl_pgarr_free(&pg->dcols[i]);
        for (int i = 0; i < RC__CNT; i++)
                sl_pgarr_free(&pg->rcols[i]);
        for (int i = 0; i < PC__CNT; i++)
                sl_pgarr_free(&pg->pcols[i]);
        memset(pg, 0, sizeof(*pg));
}

void sl__tl_pg_begin(tl_pg_t *pg)
{
        for (int i = 0; i < DC__CNT; i++)
                sl_pgarr_begin(&pg->dcols[i]);
        for (int i = 0; i < RC__CNT; i++)
                sl_pgarr_begin(&pg->rcols[i]);
        for (int i = 0; i < PC__CNT; i++)
                sl_pgarr_begin(&pg->pcols[i]);
        pg->ndeliveries = pg->nresults = pg->nreplays = 0;
}

/* One uuid[] literal of ids. */
static const char *ids_array(sl_pgarr_t *a, const char *const *ids, size_t n)
{
        sl_pgarr_begin(a);
        for (size_t i = 0; i < n; i++)
                sl_pgarr_text(a, ids[i]);
        return sl_pgarr_end(a);
}

static int found_cmp(const void *a, const void *b)
{
        return strcmp(((const tl_found_t *)a)->launch_id,
                      ((const tl_found_t *)b)->launch_id);
}

const tl_found_t *sl__tl_found_get(const tl_found_t *f, size_t n, const char *id)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(f[mid].launch_id, id);
                if (c == 0)
                        return &f[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int sl__tl_pg_lookup(tl_pg_t *pg, const char *const *ids, size_t n, tl_found_t **out,
                     size_t *nout, char *errstr, size_t errstr_size)
{
        sl_pgarr_t a = {0};
        PGresult *res = NULL;
        const char *params[1];
        int err, rows;
        tl_found_t *f;

        *out = NULL;
        *nout = 0;
        if (!n)
                return SL_OK;
        params[0] = ids_array(&a, ids, n);
        err =
            sl_pg_session_exec(pg->ses, lookup_sql, 1, params, &res, errstr, errstr_size);
        sl_pgarr_free(&a);
        if (err != SL_OK)
                return err;
        rows = PQntuples(res);
        f = calloc((size_t)rows + 1, sizeof(*f));
        if (!f)
                sl_oom("launch: recorded deliveries");
        for (int r = 0; r < rows; r++) {
                snprintf(f[r].launch_id, sizeof(f[r].launch_id), "%s",
                         PQgetvalue(res, r, 0));
                f[r].outcome = sl_launch_outcome_parse(PQgetvalue(res, r, 1));
                f[r].first_outcome = sl_launch_outcome_parse(PQgetvalue(res, r, 2));
                f[r].launched_at = atoll(PQgetvalue(res, r, 3));
                f[r].waiting = PQgetvalue(res, r, 4)[0] == 't';
        }
        PQclear(res);
        qsort(f, (size_t)rows, sizeof(*f), found_cmp);
        *out = f;
        *nout = (size_t)rows;
        return SL_OK;
}

void sl__tl_pg_add_delivery(tl_pg_t *pg, const tl_delivery_t *d)
{
        sl_pgarr_text(&pg->dcols[DC_LAUNCH_ID], d->launch_id);
        sl_pgarr_text(&pg->dcols[DC_TRIGGER_ID], d->trigger_id);
        sl_pgarr_text(&pg->dcols[DC_EVENT_ID], d->event_id);
        sl_pgarr_text(&pg->dcols[DC_EVENT_TYPE], d->event_type);
        sl_pgarr_text(&pg->dcols[DC_WORKFLOW], d->workflow);
        sl_pgarr_text(&pg->dcols[DC_CORRELATION_ID], d->correlation_id);
        sl_pgarr_text(&pg->dcols[DC_OUTCOME], sl_launch_outcome_str(d->outcome));
        sl_pgarr_text(&pg->dcols[DC_REASON], d->reason);
        sl_pgarr_num(&pg->dcols[DC_MATCHED_AT], d->matched_at);
        sl_pgarr_num(&pg->dcols[DC_DECIDED_AT], d->decided_at);
        sl_pgarr_text(&pg->dcols[DC_TRIGGER_NAME], d->trigger_name);
        sl_pgarr_num(&pg->dcols[DC_MATCH_OFFSET], d->match_offset);
        sl_pgarr_text(&pg->dcols[DC_PARAMS], d->params);
        sl_pgarr_text(&pg->dcols[DC_TRACEPARENT], d->traceparent);
        sl_pgarr_num(&pg->dcols[DC_ACCEPTED_AT], d->accepted_at);
        sl_pgarr_text(&pg->dcols[DC_PROBE], d->probe ? "t" : "f");
        pg->ndeliveries++;
}

void sl__tl_pg_add_result(tl_pg_t *pg, const char *launch_id, const char *result,
                          const char *error, int64_t finished_at)
{
        sl_pgarr_text(&pg->rcols[RC_LAUNCH_ID], launch_id);
        sl_pgarr_text(&pg->rcols[RC_RESULT], result);
        sl_pgarr_text(&pg->rcols[RC_ERROR], error);
        sl_pgarr_num(&pg->rcols[RC_FINISHED_AT], finished_at);
        pg->nresults++;
}

void sl__tl_pg_add_replay(tl_pg_t *pg, const char *launch_id, sl_launch_outcome_t o,
                          int64_t at, int64_t match_offset, bool probe)
{
        sl_pgarr_text(&pg->pcols[PC_LAUNCH_ID], launch_id);
        sl_pgarr_text(&pg->pcols[PC_OUTCOME], sl_launch_outcome_str(o));
        sl_pgarr_num(&pg->pcols[PC_AT], at);
        sl_pgarr_num(&pg->pcols[PC_MATCH_OFFSET], match_offset);
        sl_pgarr_text(&pg->pcols[PC_PROBE], probe ? "t" : "f");
        pg->nreplays++;
}

/* The queued deliveries inserted: with fresh, by insert_new_sql on the connection
 * itself (no retry: a second run after a lost commit would fail on the batch's own
 * rows), *conflict set when a row was there already; without, or when that failed
 * otherwise, by insert_sql with the session's retries. */
static int write_deliveries(tl_pg_t *pg, bool fresh, bool *conflict, char *errstr,
                            size_t errstr_size)
{
        const char *params[DC__CNT];

        for (int i = 0; i < DC__CNT; i++)
                params[i] = sl_pgarr_end(&pg->dcols[i]);
        if (fresh) {
                PGresult *res = PQexecParams(sl_pg_session_conn(pg->ses), insert_new_sql,
                                             DC__CNT, NULL, params, NULL, NULL, 0);
                ExecStatusType st = PQresultStatus(res);
                bool dup = sl_sqlstate_is(sl_pg_sqlstate(res), "23505");

                PQclear(res);
                if (st == PGRES_COMMAND_OK)
                        return SL_OK;
                if (dup) {
                        *conflict = true;
                        return SL_OK;
                }
                /* Anything else (a lost connection, whose commit may or may not have
                 * happened): the same rows again, idempotently, with the session's
                 * retries. */
        }
        return sl_pg_session_exec(pg->ses, insert_sql, DC__CNT, params, NULL, errstr,
                                  errstr_size);
}

int sl__tl_pg_write(tl_pg_t *pg, bool fresh, bool *conflict, char *errstr,
                    size_t errstr_size)
{
        const char *params[DC__CNT];
        int err;

        *conflict = false;
        if (pg->ndeliveries) {
                err = write_deliveries(pg, fresh, conflict, errstr, errstr_size);
                if (err != SL_OK || *conflict)
                        return err;
        }
        if (pg->nreplays) {
                for (int i = 0; i < PC__CNT; i++)
                        params[i] = sl_pgarr_end(&pg->pcols[i]);
                err = sl_pg_session_exec(pg->ses, replays_sql, PC__CNT, params, NULL,
                                         errstr, errstr_size);
                if (err != SL_OK)
                        return err;
        }
        if (pg->nresults) {
                for (int i = 0; i < RC__CNT; i++)
                        params[i] = sl_pgarr_end(&pg->rcols[i]);
                err = sl_pg_session_exec(pg->ses, results_sql, RC__CNT, params, NULL,
                                         errstr, errstr_size);
                if (err != SL_OK)
                        return err;
        }
        return SL_OK;
}

static char *dup_or_null(const PGresult *res, int r, int c)
{
        char *s;

        if (PQgetisnull(res, r, c))
                return NULL;
        s = strdup(PQgetvalue(res, r, c));
        if (!s)
                sl_oom("launch: a deferred match");
        return s;
}

/* The rows of deferred_sql or relaunch_sql (the latter has two more columns). */
static int read_launches(tl_pg_t *pg, const char *sql, int nparams,
                         const char *const *params, tl_deferred_t **out, size_t *nout,
                         char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        tl_deferred_t *d;
        int err, rows;

        *out = NULL;
        *nout = 0;
        err =
            sl_pg_session_exec(pg->ses, sql, nparams, params, &res, errstr, errstr_size);
        if (err != SL_OK)
                return err;
        rows = PQntuples(res);
        d = calloc((size_t)rows + 1, sizeof(*d));
        if (!d)
                sl_oom("launch: deferred matches");
        for (int r = 0; r < rows; r++) {
                snprintf(d[r].launch_id, sizeof(d[r].launch_id), "%s",
                         PQgetvalue(res, r, 0));
                snprintf(d[r].event_id, sizeof(d[r].event_id), "%s",
                         PQgetvalue(res, r, 1));
                d[r].correlation_id = dup_or_null(res, r, 2);
                d[r].params = dup_or_null(res, r, 3);
                d[r].traceparent = dup_or_null(res, r, 4);
                d[r].accepted_at = atoll(PQgetvalue(res, r, 5));
                d[r].workflow = dup_or_null(res, r, 6);
                d[r].trigger_name = dup_or_null(res, r, 7);
                d[r].match_offset = atoll(PQgetvalue(res, r, 8));
                if (PQnfields(res) > 10) {
                        snprintf(d[r].trigger_id, sizeof(d[r].trigger_id), "%s",
                                 PQgetvalue(res, r, 9));
                        d[r].launched_at = atoll(PQgetvalue(res, r, 10));
                }
        }
        PQclear(res);
        *out = d;
        *nout = (size_t)rows;
        return SL_OK;
}

int sl__tl_pg_deferred_head(tl_pg_t *pg, const char *trigger_id, int64_t max,
                            tl_deferred_t **out, size_t *nout, char *errstr,
                            size_t errstr_size)
{
        char lim[24];
        const char *params[2] = {trigger_id, lim};

        snprintf(lim, sizeof(lim), "%lld", (long long)max);
        return read_launches(pg, deferred_sql, 2, params, out, nout, errstr, errstr_size);
}

int sl__tl_pg_relaunches(tl_pg_t *pg, const char *const *ids, size_t n,
                         tl_deferred_t **out, size_t *nout, char *errstr,
                         size_t errstr_size)
{
        sl_pgarr_t a = {0};
        const char *params[1];
        int err;

        *out = NULL;
        *nout = 0;
        if (!n)
                return SL_OK;
        params[0] = ids_array(&a, ids, n);
        err = read_launches(pg, relaunch_sql, 1, params, out, nout, errstr, errstr_size);
        sl_pgarr_free(&a);
        return err;
}

void sl__tl_deferred_free(tl_deferred_t *d, size_t n)
{
        for (size_t i = 0; d && i < n; i++) {
                free(d[i].correlation_id);
                free(d[i].params);
                free(d[i].traceparent);
                free(d[i].workflow);
                free(d[i].trigger_name);
        }
        free(d);
}

int sl__tl_pg_mark_launched(tl_pg_t *pg, const tl_deferred_t *d, const bool *probe,
                            size_t n, int64_t launched_at, char *errstr,
                            size_t errstr_size)
{
        sl_pgarr_t ids = {0}, probes = {0};
        char at[24];
        const char *params[3];
        int err;

        if (!n)
                return SL_OK;
        sl_pgarr_begin(&ids);
        sl_pgarr_begin(&probes);
        for (size_t i = 0; i < n; i++) {
                sl_pgarr_text(&ids, d[i].launch_id);
                sl_pgarr_text(&probes, probe[i] ? "t" : "f");
        }
        snprintf(at, sizeof(at), "%lld", (long long)launched_at);
        params[0] = sl_pgarr_end(&ids);
        params[1] = at;
        params[2] = sl_pgarr_end(&probes);
        err = sl_pg_session_exec(pg->ses, mark_sql, 3, params, NULL, errstr, errstr_size);
        sl_pgarr_free(&ids);
        sl_pgarr_free(&probes);
        return err;
}

int sl__tl_pg_restore(tl_pg_t *pg, const char *const *ids, size_t n, int64_t now,
                      tl_count_cb *count, tl_count_cb *window, tl_waiting_cb *waiting,
                      void *opaque, char *errstr, size_t errstr_size)
{
        sl_pgarr_t a = {0};
        const char *params[1], *wparams[2];
        char now_s[24];
        PGresult *res = NULL;
        int err;

        if (!n)
                return SL_OK;
        snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
        params[0] = ids_array(&a, ids, n);
        err =
            sl_pg_session_exec(pg->ses, count_sql, 1, params, &res, errstr, errstr_size);
        if (err == SL_OK) {
                for (int r = 0; r < PQntuples(res); r++)
                        count(opaque, PQgetvalue(res, r, 0),
                              atoll(PQgetvalue(res, r, 1)));
                PQclear(res);
                res = NULL;
                wparams[0] = params[0];
                wparams[1] = now_s;
                err = sl_pg_session_exec(pg->ses, window_sql, 2, wparams, &res, errstr,
                                         errstr_size);
        }
        if (err == SL_OK) {
                for (int r = 0; r < PQntuples(res); r++)
                        window(opaque, PQgetvalue(res, r, 0),
                               atoll(PQgetvalue(res, r, 1)));
                PQclear(res);
                res = NULL;
                err = sl_pg_session_exec(pg->ses, waiting_sql, 1, params, &res, errstr,
                                         errstr_size);
        }
        if (err == SL_OK) {
                for (int r = 0; r < PQntuples(res); r++)
                        waiting(opaque, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                                atoll(PQgetvalue(res, r, 2)),
                                PQgetvalue(res, r, 3)[0] == 't',
                                PQgetvalue(res, r, 4)[0] == 't');
                PQclear(res);
        }
        sl_pgarr_free(&a);
        return err;
}
