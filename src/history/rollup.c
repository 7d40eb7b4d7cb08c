/*
 * Rollups (rollup.h): one transaction per run: the advisory lock, the buckets to
 * recompute (an array of minute starts, as text), the minute buckets deleted and
 * inserted from the raw rows, then their hours from the minutes, then (advance) the
 * watermark.  Every statement is parameterised.
 */
#include "history/rollup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"

/* The lock: (1936487779 = 'sluc', as the event partitions' lock, 15 + kind). */
#define LOCK_BASE 15

/* RFC 3339 UTC text of a timestamptz expression. */
#define TS(col)                                                                          \
        "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

typedef struct kind_sql_s {
        const char *name;
        const char *touched;    /* $1 watermark, $2 upto: minute buckets, text array */
        const char *minute_del; /* $1 buckets */
        const char *minute_ins; /* $1 buckets */
        const char *hour_del;   /* $1 buckets */
        const char *hour_ins;   /* $1 buckets */
        const char *live;       /* $1 buckets: those whose raw rows are all live (NULL:
                                 * every bucket) */
} kind_sql_t;

/* The hours of a bucket array, and the range they span (for partition pruning). */
#define HOURS_CTE                                                                        \
        "WITH h AS (SELECT DISTINCT date_trunc('hour', b) AS hb "                        \
        "FROM unnest($1::timestamptz[]) b) "

static const kind_sql_t kinds[SL_ROLLUP__CNT] = {
    [SL_ROLLUP_EVENTS] =
        {
            "events",
            "SELECT coalesce(array_agg(DISTINCT date_trunc('minute', occurred_at)), "
            "'{}')::text FROM workflow_events "
            "WHERE decided_at > $1::timestamptz AND decided_at <= $2::timestamptz",
            "DELETE FROM event_rollups WHERE width = 'minute' "
            "AND bucket = ANY($1::timestamptz[])",
            "INSERT INTO event_rollups (width, bucket, type, source, status, events, "
            "first_at, last_at) "
            "SELECT 'minute', date_trunc('minute', w.occurred_at), w.type, w.source, "
            "w.status, count(*), min(w.occurred_at), max(w.occurred_at) "
            "FROM workflow_events w "
            "WHERE w.occurred_at >= (SELECT min(b) FROM unnest($1::timestamptz[]) b) "
            "AND w.occurred_at < (SELECT max(b) FROM unnest($1::timestamptz[]) b) "
            "+ interval '1 minute' "
            "AND date_trunc('minute', w.occurred_at) = ANY($1::timestamptz[]) "
            "GROUP BY 2, 3, 4, 5",
            HOURS_CTE "DELETE FROM event_rollups r USING h "
                      "WHERE r.width = 'hour' AND r.bucket = h.hb",
            HOURS_CTE
            "INSERT INTO event_rollups (width, bucket, type, source, status, events, "
            "first_at, last_at) "
            "SELECT 'hour', date_trunc('hour', r.bucket), r.type, r.source, r.status, "
            "sum(r.events), min(r.first_at), max(r.last_at) "
            "FROM event_rollups r "
            "WHERE r.width = 'minute' AND r.bucket >= (SELECT min(hb) FROM h) "
            "AND r.bucket < (SELECT max(hb) FROM h) + interval '1 hour' "
            "AND date_trunc('hour', r.bucket) IN (SELECT hb FROM h) "
            "GROUP BY 2, 3, 4, 5",
            /* An archived day is gone from the live table until it is restored: a
             * late event into it must not replace its buckets by its own count. */
            "SELECT coalesce(array_agg(b), '{}')::text FROM unnest($1::timestamptz[]) b "
            "WHERE NOT EXISTS (SELECT 1 FROM archives a WHERE a.tbl = 'workflow_events' "
            "AND a.state IN ('dropped', 'expired') AND b >= a.range_lo "
            "AND b < a.range_hi)",
        },
    [SL_ROLLUP_DELIVERIES] =
        {
            "deliveries",
            "SELECT coalesce(array_agg(DISTINCT date_trunc('minute', decided_at)), "
            "'{}')::text FROM ("
            "SELECT decided_at FROM trigger_deliveries "
            "WHERE decided_at > $1::timestamptz AND decided_at <= $2::timestamptz "
            "UNION ALL SELECT decided_at FROM trigger_deliveries "
            "WHERE outcome = 'launched' AND first_outcome <> 'launched' "
            "AND launched_at > $1::timestamptz AND launched_at <= $2::timestamptz) c",
            "DELETE FROM delivery_rollups WHERE width = 'minute' "
            "AND bucket = ANY($1::timestamptz[])",
            "INSERT INTO delivery_rollups (width, bucket, trigger_id, outcome, "
            "deliveries, first_at, last_at) "
            "SELECT 'minute', date_trunc('minute', d.decided_at), d.trigger_id, "
            "d.outcome, count(*), min(d.decided_at), max(d.decided_at) "
            "FROM trigger_deliveries d "
            "WHERE d.decided_at >= (SELECT min(b) FROM unnest($1::timestamptz[]) b) "
            "AND d.decided_at < (SELECT max(b) FROM unnest($1::timestamptz[]) b) "
            "+ interval '1 minute' "
            "AND date_trunc('minute', d.decided_at) = ANY($1::timestamptz[]) "
            "GROUP BY 2, 3, 4",
            HOURS_CTE "DELETE FROM delivery_rollups r USING h "
                      "WHERE r.width = 'hour' AND r.bucket = h.hb",
            HOURS_CTE
            "INSERT INTO delivery_rollups (width, bucket, trigger_id, outcome, "
            "deliveries, first_at, last_at) "
            "SELECT 'hour', date_trunc('hour', r.bucket), r.trigger_id, r.outcome, "
            "sum(r.deliveries), min(r.first_at), max(r.last_at) "
            "FROM delivery_rollups r "
            "WHERE r.width = 'minute' AND r.bucket >= (SELECT min(hb) FROM h) "
            "AND r.bucket < (SELECT max(hb) FROM h) + interval '1 hour' "
            "AND date_trunc('hour', r.bucket) IN (SELECT hb FROM h) "
            "GROUP BY 2, 3, 4",
            NULL, /* deliveries are not archived */
        },
};

// clang-format off
const char sl_rollup_events_sql[] =
    "WITH wm AS (SELECT date_trunc($1, " SL_ROLLUP_DONE_SQL("'events'") ") AS done "
    "            FROM rollup_watermarks WHERE name = 'events'), "
    "q AS ("
    " SELECT r.bucket, r.type, r.source, r.status, r.events, r.first_at, r.last_at, "
    "        true AS finished "
    " FROM event_rollups r, wm "
    " WHERE r.width = $1 AND r.bucket >= date_trunc($1, $2::timestamptz) "
    "   AND r.bucket < $3::timestamptz AND r.bucket < wm.done "
    "   AND ($4::text IS NULL OR r.type = $4) AND ($5::text IS NULL OR r.source = $5) "
    "   AND ($6::text IS NULL OR r.status = $6) "
    " UNION ALL "
    " SELECT date_trunc($1, w.occurred_at), w.type, w.source, w.status, count(*), "
    "        min(w.occurred_at), max(w.occurred_at), false "
    " FROM workflow_events w, wm "
    " WHERE w.occurred_at >= greatest(date_trunc($1, $2::timestamptz), wm.done) "
    "   AND w.occurred_at < $3::timestamptz "
    "   AND ($4::text IS NULL OR w.type = $4) AND ($5::text IS NULL OR w.source = $5) "
    "   AND ($6::text IS NULL OR w.status = $6) "
    " GROUP BY 1, 2, 3, 4) "
    "SELECT " TS("bucket") ", type, source, status, events, " TS("first_at") ", "
    TS("last_at") ", finished FROM q "
    "ORDER BY q.bucket, type, source, status LIMIT $7";

const char sl_rollup_deliveries_sql[] =
    "WITH wm AS (SELECT date_trunc($1, " SL_ROLLUP_DONE_SQL("'deliveries'") ") AS done "
    "            FROM rollup_watermarks WHERE name = 'deliveries'), "
    "q AS ("
    " SELECT r.bucket, r.trigger_id, r.outcome, r.deliveries, r.first_at, r.last_at, "
    "        true AS finished "
    " FROM delivery_rollups r, wm "
    " WHERE r.width = $1 AND r.bucket >= date_trunc($1, $2::timestamptz) "
    "   AND r.bucket < $3::timestamptz AND r.bucket < wm.done "
    "   AND ($4::uuid IS NULL OR r.trigger_id = $4) "
    "   AND ($5::text IS NULL OR r.outcome = $5) "
    " UNION ALL "
    " SELECT date_trunc($1, d.decided_at), d.trigger_id, d.outcome, count(*), "
    "        min(d.decided_at), max(d.decided_at), false "
    " FROM trigger_deliveries d, wm "
    " WHERE d.decided_at >= greatest(date_trunc($1, $2::timestamptz), wm.done) "
    "   AND d.decided_at < $3::timestamptz "
    "   AND ($4::uuid IS NULL OR d.trigger_id = $4) "
    "   AND ($5::text IS NULL OR d.outcome = $5) "
    " GROUP BY 1, 2, 3) "
    "SELECT " TS("bucket") ", trigger_id, outcome, deliveries, " TS("first_at") ", "
    TS("last_at") ", finished FROM q "
    "ORDER BY q.bucket, trigger_id, outcome LIMIT $6";
// clang-format on

const char *sl_rollup_kind_str(sl_rollup_kind_t k)
{
        return k >= 0 && k < SL_ROLLUP__CNT ? kinds[k].name : "";
}

/* One statement; on success *out (may be NULL: cleared) the result. */
static int run(PGconn *pg, const char *sql, int n, const char *const *params,
               PGresult **out, char *errstr, size_t errstr_size)
{
        PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
                snprintf(errstr, errstr_size, "%.*s", (int)strcspn(msg, "\n"), msg);
                PQclear(res);
                return SL_ERR_PG;
        }
        if (out)
                *out = res;
        else
                PQclear(res);
        return SL_OK;
}

/* *text (freed first) becomes a copy of *res's first value; *res is cleared. */
static int take_text(PGresult **res, char **text, char *errstr, size_t errstr_size)
{
        free(*text);
        *text = strdup(PQgetvalue(*res, 0, 0));
        PQclear(*res);
        *res = NULL;
        if (*text)
                return SL_OK;
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
}

/* Narrow *buckets (a text array) to those sql ($1 the buckets, $2 arg unless NULL)
 * returns as its one text array value.  *res holds that value for as long as *buckets
 * points into it: the caller PQclear()s it, on failure too (it stays NULL then). */
static int filter_buckets(PGconn *pg, const char *sql, const char *arg,
                          const char **buckets, PGresult **res, char *errstr,
                          size_t errstr_size)
{
        const char *params[2] = {*buckets, arg};
        int err = run(pg, sql, arg ? 2 : 1, params, res, errstr, errstr_size);

        if (err)
                return err;
        *buckets = PQgetvalue(*res, 0, 0);
        return SL_OK;
}

/* Recompute the minute buckets in the text array buckets and their hours, but none
 * of an hour whose minute rows retention may have deleted (maintain.c deletes a
 * minute row with its whole hour, by the same expression): its hour row would be
 * summed again from the minutes left. */
static int recompute(PGconn *pg, const kind_sql_t *ks, const char *buckets,
                     int minute_days, sl_rollup_result_t *out, char *errstr,
                     size_t errstr_size)
{
        char days[16];
        const char *p[1] = {buckets};
        PGresult *live = NULL, *kept = NULL, *res = NULL;
        int err = SL_OK;

        if (strcmp(buckets, "{}") == 0)
                return SL_OK;
        /* Each filter's result stays until done: p[0] points into the last one. */
        if (ks->live) {
                err =
                    filter_buckets(pg, ks->live, NULL, &p[0], &live, errstr, errstr_size);
                if (err || strcmp(p[0], "{}") == 0)
                        goto done;
        }
        if (minute_days > 0) {
                snprintf(days, sizeof(days), "%d", minute_days);
                err = filter_buckets(pg,
                                     "SELECT coalesce(array_agg(b), '{}')::text "
                                     "FROM unnest($1::timestamptz[]) b "
                                     "WHERE b >= date_trunc('hour', now() - $2::int * "
                                     "interval '1 day')",
                                     days, &p[0], &kept, errstr, errstr_size);
                if (err || strcmp(p[0], "{}") == 0)
                        goto done;
        }
        if ((err = run(pg, ks->minute_del, 1, p, NULL, errstr, errstr_size)) ||
            (err = run(pg, ks->minute_ins, 1, p, NULL, errstr, errstr_size)) ||
            (err = run(pg, ks->hour_del, 1, p, NULL, errstr, errstr_size)) ||
            (err = run(pg, ks->hour_ins, 1, p, NULL, errstr, errstr_size)) ||
            (err = run(pg,
                       "SELECT cardinality($1::timestamptz[]), "
                       "(SELECT count(DISTINCT date_trunc('hour', b)) "
                       "FROM unnest($1::timestamptz[]) b)",
                       1, p, &res, errstr, errstr_size)))
                goto done;
        out->buckets += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->hours += strtoll(PQgetvalue(res, 0, 1), NULL, 10);
done:
        PQclear(res);
        PQclear(kept);
        PQclear(live);
        return err;
}

static void rollback(PGconn *pg)
{
        PQclear(PQexec(pg, "ROLLBACK"));
}

int sl_rollup_advance(PGconn *pg, sl_rollup_kind_t k, int64_t lag_ms, int64_t settle_ms,
                      int minute_days, sl_rollup_result_t *out, char *errstr,
                      size_t errstr_size)
{
        const kind_sql_t *ks = &kinds[k];
        char lock[16], lag[24], settle[24];
        const char *p_lock[1] = {lock};
        const char *p_wm[2] = {ks->name, lag};
        PGresult *res = NULL;
        char *buckets = NULL;
        int err;

        memset(out, 0, sizeof(*out));
        snprintf(lock, sizeof(lock), "%d", LOCK_BASE + (int)k);
        snprintf(lag, sizeof(lag), "%lld", (long long)lag_ms);
        snprintf(settle, sizeof(settle), "%lld", (long long)settle_ms);
        if ((err = run(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size)))
                return err;
        if ((err = run(pg, "SELECT pg_try_advisory_xact_lock(1936487779, $1::int)", 1,
                       p_lock, &res, errstr, errstr_size)))
                goto fail;
        out->busy = strcmp(PQgetvalue(res, 0, 0), "t") != 0;
        PQclear(res);
        res = NULL;
        if (out->busy) {
                rollback(pg);
                return SL_OK;
        }
        /* The new watermark: now - lag, never behind the old one. */
        if ((err = run(pg,
                       "SELECT upto::text, greatest(upto, now() - $2::bigint * "
                       "interval '1 millisecond')::text FROM rollup_watermarks "
                       "WHERE name = $1 FOR UPDATE",
                       2, p_wm, &res, errstr, errstr_size)))
                goto fail;
        if (PQntuples(res) != 1) {
                snprintf(errstr, errstr_size, "no rollup_watermarks row '%s'", ks->name);
                err = SL_ERR_PG;
                goto fail;
        }
        {
                const char *p_t[2] = {PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)};
                PGresult *tr = NULL;
                snprintf(out->upto, sizeof(out->upto), "%s", p_t[1]);
                if ((err = run(pg, ks->touched, 2, p_t, &tr, errstr, errstr_size)))
                        goto fail;
                err = take_text(&tr, &buckets, errstr, errstr_size);
        }
        PQclear(res);
        res = NULL;
        if (err)
                goto fail;
        /* The changed buckets wait in rollup_pending until they have settled: a
         * minute still being written is recomputed once, not at every advance. */
        {
                const char *p_add[2] = {ks->name, buckets};
                const char *p_ripe[3] = {ks->name, settle, out->upto};
                if ((err = run(pg,
                               "INSERT INTO rollup_pending (name, bucket) "
                               "SELECT $1, b FROM unnest($2::timestamptz[]) b "
                               "ON CONFLICT DO NOTHING",
                               2, p_add, NULL, errstr, errstr_size)) ||
                    (err = run(pg,
                               "WITH d AS (DELETE FROM rollup_pending WHERE name = $1 "
                               "AND bucket + interval '1 minute' + $2::bigint * "
                               "interval '1 millisecond' <= $3::timestamptz "
                               "RETURNING bucket) "
                               "SELECT coalesce(array_agg(bucket), '{}')::text FROM d",
                               3, p_ripe, &res, errstr, errstr_size)))
                        goto fail;
                if ((err = take_text(&res, &buckets, errstr, errstr_size)))
                        goto fail;
        }
        if ((err = recompute(pg, ks, buckets, minute_days, out, errstr, errstr_size)))
                goto fail;
        {
                char nb[24];
                const char *p_up[3] = {ks->name, out->upto, nb};
                snprintf(nb, sizeof(nb), "%lld", (long long)out->buckets);
                if ((err =
                         run(pg,
                             "UPDATE rollup_watermarks SET upto = $2::timestamptz, "
                             "runs = runs + 1, buckets = $3::bigint, updated_at = now() "
                             "WHERE name = $1",
                             3, p_up, NULL, errstr, errstr_size)))
                        goto fail;
        }
        if ((err = run(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size)))
                goto fail;
        free(buckets);
        return SL_OK;
fail:
        PQclear(res);
        free(buckets);
        rollback(pg);
        return err;
}

int sl_rollup_range(PGconn *pg, sl_rollup_kind_t k, const char *from, const char *to,
                    int minute_days, sl_rollup_result_t *out, char *errstr,
                    size_t errstr_size)
{
        const kind_sql_t *ks = &kinds[k];
        char lock[16];
        const char *p_lock[1] = {lock};
        const char *p_range[2] = {from, to};
        PGresult *res = NULL;
        int err;

        memset(out, 0, sizeof(*out));
        snprintf(lock, sizeof(lock), "%d", LOCK_BASE + (int)k);
        if ((err = run(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size)))
                return err;
        if ((err = run(pg, "SELECT pg_advisory_xact_lock(1936487779, $1::int)", 1, p_lock,
                       NULL, errstr, errstr_size)))
                goto fail;
        if ((err = run(pg,
                       "SELECT coalesce(array_agg(b), '{}')::text FROM generate_series("
                       "date_trunc('minute', $1::timestamptz), "
                       "$2::timestamptz - interval '1 microsecond', "
                       "interval '1 minute') b",
                       2, p_range, &res, errstr, errstr_size)))
                goto fail;
        if ((err = recompute(pg, ks, PQgetvalue(res, 0, 0), minute_days, out, errstr,
                             errstr_size)))
                goto fail;
        PQclear(res);
        res = NULL;
        if ((err = run(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size)))
                goto fail;
        return SL_OK;
fail:
        PQclear(res);
        rollback(pg);
        return err;
}
