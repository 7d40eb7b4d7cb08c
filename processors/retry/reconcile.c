/*
 * sluice-retry's reconciliation: Postgres is the truth, Kafka only carries wake-ups,
 * so a wake-up lost from Kafka (a tier topic emptied, a new group started at the end,
 * a re-injection that was never delivered) is produced again from the row.
 *
 * One round is one UPDATE ... RETURNING over at most retry.reconcile.limit rows,
 * oldest next_attempt_at first, locked with SKIP LOCKED so concurrent workers split the
 * work.  It reads open rows only, through the partial index on next_attempt_at (0007),
 * up to now + retry.due.tolerance.ms (a row is re-injected at most that long before
 * its next_attempt_at, so no row worth picking lies above the bound).  Picked are:
 *   - 'scheduled'/'rescheduled' rows overdue by retry.reconcile.grace.ms: state kept,
 *     reconciled_at set, their wake-up produced again;
 *   - 'due' rows unchanged for retry.reconcile.due.grace.ms (re-injected, ingress never
 *     finished them): set back to 'scheduled' with the same attempt, wake-up produced
 *     again.  Should the earlier re-injection still reach ingress, ingress decides the
 *     attempt from whichever copy comes first and drops the other.
 * A row is re-driven at most once per max(grace, retry.reconcile.ms, twice the shortest
 * tier) (reconciled_at).
 * Every wake-up goes through the guard, and ingress decides an attempt once, so
 * duplicates are harmless and a round is idempotent.  Rows without their envelope bytes
 * cannot be re-driven and are only counted (the gauges query logs them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits/backoff.h"
#include "log/log.h"
#include "retry_int.h"
#include "sluice/err.h"

static const char reconcile_sql[] =
    "WITH picked AS ("
    " SELECT event_id, state IN " SL_RETRY_SQL_REDRIVABLE " AS was_due"
    " FROM event_ingress_retries"
    " WHERE open AND next_attempt_at < now() + $5::bigint * interval '1 millisecond'"
    "   AND ((state IN " SL_RETRY_SQL_WAITING
    "         AND next_attempt_at < now() - $1::bigint * interval '1 millisecond')"
    "     OR (state IN " SL_RETRY_SQL_REDRIVABLE
    "         AND updated_at < now() - $2::bigint * interval '1 millisecond'))"
    "   AND envelope IS NOT NULL"
    "   AND (reconciled_at IS NULL"
    "        OR reconciled_at < now() - $3::bigint * interval '1 millisecond')"
    " ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "UPDATE event_ingress_retries r"
    " SET state = CASE WHEN picked.was_due THEN " SL_RETRY_SQL_REDRIVE_TO
    "                  ELSE r.state END,"
    "     updated_at = CASE WHEN picked.was_due THEN now() ELSE r.updated_at END,"
    "     reconciled_at = now(), reconcile_count = r.reconcile_count + 1"
    " FROM picked WHERE r.event_id = picked.event_id "
    "RETURNING r.event_id::text, r.source, r.attempt,"
    " (extract(epoch FROM r.next_attempt_at) * 1000)::bigint, r.reason, r.envelope,"
    " picked.was_due";

int sl_retry_reconcile(sl_retry_t *rty, sl_runtime_t *rt, size_t *redriven)
{
        char p_grace[24], p_due[24], p_window[24], p_limit[24], p_tol[24];
        const char *params[5] = {p_grace, p_due, p_window, p_limit, p_tol};
        /* A re-driven wake-up needs at least the shortest tier to come round. */
        int64_t window =
            rty->grace_ms > rty->reconcile_ms ? rty->grace_ms : rty->reconcile_ms;
        if (window < 2 * rty->tiers_ms[0])
                window = 2 * rty->tiers_ms[0];
        int64_t now = sl__retry_now(rty);
        size_t n_sched = 0, n_due = 0;
        PGresult *res;
        char errstr[512];
        int err;

        *redriven = 0;
        snprintf(p_grace, sizeof(p_grace), "%lld", (long long)rty->grace_ms);
        snprintf(p_due, sizeof(p_due), "%lld", (long long)rty->due_grace_ms);
        snprintf(p_window, sizeof(p_window), "%lld", (long long)window);
        snprintf(p_limit, sizeof(p_limit), "%lld", (long long)rty->reconcile_limit);
        snprintf(p_tol, sizeof(p_tol), "%lld", (long long)rty->timing.tolerance_ms);
        err = sl_pg_session_exec(rty->pg, reconcile_sql, 5, params, &res, errstr,
                                 sizeof(errstr));
        if (err != SL_OK) {
                sl_log_warn("reconciliation skipped this round: Postgres: %s", errstr);
                return err;
        }
        for (int i = 0; i < PQntuples(res) && err == SL_OK; i++) {
                size_t env_len = 0;
                unsigned char *env = PQunescapeBytea(
                    (const unsigned char *)PQgetvalue(res, i, 5), &env_len);
                sl_retry_record_t rr = {.event_id = PQgetvalue(res, i, 0),
                                        .source = PQgetvalue(res, i, 1),
                                        .attempt = (int32_t)atoi(PQgetvalue(res, i, 2)),
                                        .due_at =
                                            strtoll(PQgetvalue(res, i, 3), NULL, 10),
                                        .reason = PQgetvalue(res, i, 4),
                                        .envelope = env,
                                        .envelope_len = env_len};
                bool was_due = PQgetvalue(res, i, 6)[0] == 't';
                sl_log_ctx_t ctx = {.event_id = rr.event_id, .source = rr.source};
                size_t tier =
                    sl_backoff_tier(rty->tiers_ms, rty->ntiers, rr.due_at - now);
                void *buf = NULL;
                size_t len = 0;

                if (!env) {
                        err = SL_ERR_NOMEM;
                        break;
                }
                err = sl_retry_record_encode(&rr, &buf, &len);
                PQfreemem(env);
                if (err != SL_OK)
                        break;
                err = sl_runtime_produce(rt, rty->topics[tier], rr.source,
                                         strlen(rr.source), buf, len, NULL);
                free(buf);
                if (err != SL_OK)
                        break;
                if (was_due)
                        n_due++;
                else
                        n_sched++;
                sl_log(SL_LOG_INFO, &ctx,
                       "reconciled: wake-up of attempt %d produced again to %s (was %s, "
                       "next attempt %lld ms ago, reason %s)",
                       (int)rr.attempt, rty->topics[tier], was_due ? "due" : "waiting",
                       (long long)(now - rr.due_at), rr.reason);
        }
        PQclear(res);
        if (n_sched + n_due) {
                /* Outside a batch: deliver now, so a round is done when it returns. */
                rd_kafka_resp_err_t ferr = rd_kafka_flush(sl_runtime_producer(rt), 30000);
                if (ferr) {
                        sl_log_warn("reconciliation: wake-ups not delivered: %s",
                                    rd_kafka_err2str(ferr));
                        err = SL_ERR_KAFKA;
                }
                sl_log_info(
                    "reconciliation: %zu overdue and %zu stuck-due retries re-driven",
                    n_sched, n_due);
        }
        sl_metrics_add(rty->m_reconciled, n_sched);
        sl_metrics_add(rty->m_redriven_due, n_due);
        *redriven = n_sched + n_due;
        return err;
}

/* Count one group of states into rows[] (and the overdue / blind counts of waiting
 * states); false when Postgres failed. */
static bool count_rows(sl_retry_t *rty, const char *sql, double *rows, double *overdue,
                       double *blind)
{
        PGresult *res;
        char errstr[512];

        if (sl_pg_session_exec(rty->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) !=
            SL_OK) {
                sl_log_error("Postgres: retry gauges: %s", errstr);
                return false;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                sl_retry_state_t s;
                if (sl_retry_state_parse(PQgetvalue(res, i, 0), &s) != SL_OK)
                        continue;
                rows[s] = strtod(PQgetvalue(res, i, 1), NULL);
                if (overdue && sl_retry_state_waiting(s)) {
                        *overdue += strtod(PQgetvalue(res, i, 2), NULL);
                        *blind += strtod(PQgetvalue(res, i, 3), NULL);
                }
        }
        PQclear(res);
        return true;
}

void sl__retry_update_gauges(sl_retry_t *rty, bool ended)
{
        /* Open rows through the partial index: cheap at any table size. */
        static const char open_sql[] =
            "SELECT state, count(*),"
            " count(*) FILTER (WHERE next_attempt_at < now()),"
            " count(*) FILTER (WHERE envelope IS NULL AND next_attempt_at < now())"
            " FROM event_ingress_retries WHERE open GROUP BY state";
        /* Ended rows are the table's whole history: a full count, so only now and then.
         */
        static const char ended_sql[] =
            "SELECT state, count(*) FROM event_ingress_retries WHERE NOT open "
            "GROUP BY state";
        double rows[SL_RETRY__STATE_CNT] = {0};
        double overdue = 0, blind = 0;

        if (!count_rows(rty, open_sql, rows, &overdue, &blind))
                return;
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++)
                if (!sl_retry_state_final((sl_retry_state_t)s))
                        sl_metrics_set(rty->m_rows[s], rows[s]);
        sl_metrics_set(rty->m_scheduled,
                       rows[SL_RETRY_SCHEDULED] + rows[SL_RETRY_RESCHEDULED]);
        sl_metrics_set(rty->m_overdue, overdue);
        if (blind > 0)
                sl_log_warn("%.0f overdue retries have no envelope bytes and cannot be "
                            "reconciled (rows written before migration 0005's envelope "
                            "column was filled)",
                            blind);
        if (!ended || !count_rows(rty, ended_sql, rows, NULL, NULL))
                return;
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++)
                if (sl_retry_state_final((sl_retry_state_t)s))
                        sl_metrics_set(rty->m_rows[s], rows[s]);
}
