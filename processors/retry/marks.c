/*
 * The 'due' marks: once sluice-retry has re-injected an attempt, its row moves from
 * 'scheduled' / 'rescheduled' to 'due' ("re-injected, ingress has not decided yet").
 * The mark is bookkeeping, not the guard (the guard is the read in retry.c, and ingress
 * drops a second copy of an attempt it already decided), so it is written behind the
 * re-injection, on a connection of its own, in one UPDATE for everything collected:
 *
 *   - at once while no wake-up check is in flight (the stage is between batches);
 *   - while wake-ups are being checked, once the oldest collected mark has waited
 *     retry.due.mark.ms, so a flood's re-injections do not share Postgres with it;
 *   - before the stage gives up partitions or stops (sl__retry_marks_flush), so the
 *     next owner's guard sees every attempt this worker re-injected as not waiting.
 *
 * Until its mark has landed, a re-injected attempt is also remembered in memory
 * (recent[], one set per buffer), so a duplicate wake-up checked meanwhile, which the
 * guard still reads as waiting, is dropped rather than re-injected again.
 *
 * A mark takes its rows with SKIP LOCKED: a row locked by ingress deciding it (or by
 * reconciliation, or a cancel) is being moved on anyway, and the mark never waits on
 * ingress's transaction, so the two can never deadlock.  A row ingress already decided
 * no longer matches.  A failed mark is logged and dropped: the row stays waiting,
 * ingress still decides the re-injected attempt, and at worst reconciliation produces a
 * wake-up that the guard or ingress then drops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "retry_int.h"
#include "sluice/err.h"

bool sl__retry_marks_claim(sl_retry_t *rty, const char *event_id, int32_t attempt)
{
        sl__retry_marks_t *mk = &rty->marks;
        sl_retry_idkey_t key;
        bool added = true;

        if (mk->n >= SL_RETRY_MARKS_MAX)
                sl__retry_marks_flush(rty); /* far behind: let it catch up */
        if (sl_retry_idkey(event_id, attempt, &key) == SL_OK) {
                if (sl_retry_idset_has(&mk->recent[!mk->fill], &key))
                        return false;
                /* Out of memory: a duplicate would reach ingress, which drops it. */
                (void)sl_retry_idset_add(&mk->recent[mk->fill], &key, &added);
                if (!added)
                        return false;
        }
        if (!mk->n) {
                sl_pgarr_begin(&mk->ids[mk->fill]);
                sl_pgarr_begin(&mk->atts[mk->fill]);
                mk->oldest = sl__retry_now(rty);
        }
        sl_pgarr_text(&mk->ids[mk->fill], event_id);
        sl_pgarr_num(&mk->atts[mk->fill], attempt);
        mk->n++;
        return true;
}

/* After a lost connection: reconnect and prepare again (the marks in flight are
 * dropped, see above). */
static void reset(sl__retry_marks_t *mk)
{
        char errstr[512];

        if (sl_pg_session_reset(mk->ses, errstr, sizeof(errstr)) != SL_OK)
                sl_log_warn("%s", errstr);
}

static void send_marks(sl_retry_t *rty)
{
        sl__retry_marks_t *mk = &rty->marks;
        PGconn *pg = sl_pg_session_conn(mk->ses);
        int k = mk->fill;

        mk->params[0] = sl_pgarr_end(&mk->ids[k]);
        mk->params[1] = sl_pgarr_end(&mk->atts[k]);
        mk->sent = mk->n;
        mk->n = 0;
        mk->fill = !k; /* collect into the other pair while this one is in flight */
        mk->busy =
            PQsendQueryPrepared(pg, SL_RETRY_MARK_DUE, 2, mk->params, NULL, NULL, 0) == 1;
        if (!mk->busy) {
                /* Lost connection: reconnect now; these marks are dropped (see above). */
                sl_log_warn(
                    "Postgres: 'due' marks of %zu re-injected retries not written: "
                    "%.*s",
                    mk->sent, (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
                sl_retry_idset_clear(&mk->recent[k]);
                reset(mk);
        }
}

/* Take the in-flight mark's result if it is there (or wait for it, with wait). */
static void collect_marks(sl_retry_t *rty, bool wait)
{
        sl__retry_marks_t *mk = &rty->marks;
        PGconn *pg = sl_pg_session_conn(mk->ses);
        PGresult *res, *last = NULL;

        if (!mk->busy)
                return;
        if (!wait && (!PQconsumeInput(pg) || PQisBusy(pg)) &&
            PQstatus(pg) == CONNECTION_OK)
                return;
        while ((res = PQgetResult(pg)) != NULL) {
                PQclear(last);
                last = res;
        }
        mk->busy = false;
        sl_retry_idset_clear(&mk->recent[!mk->fill]); /* Postgres has them now */
        if (last && PQresultStatus(last) == PGRES_COMMAND_OK) {
                size_t rows = (size_t)strtoull(PQcmdTuples(last), NULL, 10);
                sl_metrics_add(rty->m_marked, rows);
                sl_log_debug(
                    "'due' marks: %zu of %zu re-injected retries marked (the others "
                    "already decided by ingress)",
                    rows, mk->sent);
        } else {
                const char *msg = last ? PQresultErrorMessage(last) : PQerrorMessage(pg);
                sl_log_warn(
                    "Postgres: 'due' marks of %zu re-injected retries not written: "
                    "%.*s",
                    mk->sent, (int)strcspn(msg, "\n"), msg);
                if (PQstatus(pg) == CONNECTION_BAD)
                        reset(mk);
        }
        PQclear(last);
}

void sl__retry_marks_pump(sl_retry_t *rty, bool checking)
{
        sl__retry_marks_t *mk = &rty->marks;

        collect_marks(rty, false);
        if (mk->busy || !mk->n)
                return;
        if (!checking || sl__retry_now(rty) - mk->oldest >= mk->delay_ms)
                send_marks(rty);
}

void sl__retry_marks_flush(sl_retry_t *rty)
{
        sl__retry_marks_t *mk = &rty->marks;

        collect_marks(rty, true);
        if (mk->n) {
                send_marks(rty);
                collect_marks(rty, true);
        }
}

void sl__retry_marks_free(sl__retry_marks_t *mk)
{
        for (int k = 0; k < 2; k++) {
                sl_pgarr_free(&mk->ids[k]);
                sl_pgarr_free(&mk->atts[k]);
                sl_retry_idset_free(&mk->recent[k]);
        }
}
