/*
 * Re-injected events in sluice-ingress: a record with attempt n > 0 is sluice-retry's
 * re-injection of a held-back event.  Its retry row and recorded decision are looked up
 * for the batch at once; sl_ingress_retried_step() (decide.c) says whether attempt n
 * counts; a fresh decision moves the event's workflow_events row to attempt n and its
 * retry row on by the transition table (src/retry/state.h), both in one transaction
 * once the batch's COPYs are done.  An exhausted event becomes a dead letter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_int.h"
#include "log/log.h"
#include "retry/retry_record.h"
#include "sluice/err.h"

int32_t sl__ingress_attempt_of(const rd_kafka_message_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        const void *val;
        size_t size;
        char buf[16];

        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            rd_kafka_header_get_last(hdrs, SL_RETRY_HDR_ATTEMPT, &val, &size) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            !val || size == 0 || size >= sizeof(buf))
                return 0;
        memcpy(buf, val, size);
        buf[size] = '\0';
        return (int32_t)atoi(buf);
}

static int retried_cmp(const void *a, const void *b)
{
        return strcmp(((const sl_ingress_retried_t *)a)->id,
                      ((const sl_ingress_retried_t *)b)->id);
}

int sl__ingress_lookup_retried(sl_ingress_t *ing, size_t cnt, char *errstr,
                               size_t errstr_size)
{
        static const char sql[] =
            "SELECT r.event_id::text, r.attempt, r.state, coalesce(w.attempt, -1), "
            "coalesce(w.status, ''), coalesce(w.reason, ''), "
            "coalesce((extract(epoch FROM w.decided_at) * 1000)::bigint, 0) "
            "FROM event_ingress_retries r LEFT JOIN workflow_events w "
            "ON w.id = r.event_id AND w.occurred_at = r.occurred_at "
            "WHERE r.event_id = ANY($1::uuid[])";
        sl_pgarr_t ids = {0};
        PGresult *res;
        char msg[512];
        size_t n = 0;
        int err;

        sl_pgarr_begin(&ids);
        for (size_t i = 0; i < cnt; i++) {
                const slot_t *s = &ing->slots[i];
                if (s->kind == SLOT_DECIDED && s->ad.attempt > 0) {
                        sl_pgarr_text(&ids, s->env.id);
                        n++;
                }
        }
        ing->nretried = 0;
        if (!n) {
                sl_pgarr_free(&ids);
                return SL_OK;
        }
        const char *params[1] = {sl_pgarr_end(&ids)};
        err = sl_pg_session_exec(ing->maint, sql, 1, params, &res, msg, sizeof(msg));
        sl_pgarr_free(&ids);
        if (err != SL_OK) {
                snprintf(errstr, errstr_size, "retry rows: %s", msg);
                return err;
        }
        size_t rows = (size_t)PQntuples(res);
        sl_ingress_retried_t *r = realloc(ing->retried, (rows + 1) * sizeof(*r));
        if (!r) {
                PQclear(res);
                snprintf(errstr, errstr_size, "retry rows: out of memory");
                return SL_ERR_NOMEM;
        }
        ing->retried = r;
        for (size_t k = 0; k < rows; k++) {
                int row = (int)k;
                snprintf(r[k].id, sizeof(r[k].id), "%s", PQgetvalue(res, row, 0));
                r[k].retry_attempt = atoi(PQgetvalue(res, row, 1));
                r[k].state_known =
                    sl_retry_state_parse(PQgetvalue(res, row, 2), &r[k].state) == SL_OK;
                r[k].event_attempt = atoi(PQgetvalue(res, row, 3));
                r[k].decision = sl_decision_parse(PQgetvalue(res, row, 4));
                r[k].reason = sl_admit_reason_parse(PQgetvalue(res, row, 5));
                r[k].decided_at = atoll(PQgetvalue(res, row, 6));
                r[k].taken = false;
        }
        PQclear(res);
        qsort(r, rows, sizeof(*r), retried_cmp);
        ing->nretried = rows;
        return SL_OK;
}

static sl_ingress_retried_t *retried_get(const sl_ingress_t *ing, const char *id)
{
        sl_ingress_retried_t key;
        snprintf(key.id, sizeof(key.id), "%s", id);
        return ing->nretried ? bsearch(&key, ing->retried, ing->nretried,
                                       sizeof(*ing->retried), retried_cmp)
                             : NULL;
}

/* Queue the updates of a freshly decided re-injected event: its row gets the new
 * decision for attempt n, its retry row moves to state to (attempt n + 1 and its next
 * attempt time when held back again). */
static void queue_update(sl_ingress_t *ing, const slot_t *s, sl_retry_state_t to)
{
        const sl_admit_event_t *ad = &s->ad;
        bool again = to == SL_RETRY_RESCHEDULED;

        if (!ing->upd[UPD_EV_ID].n)
                for (size_t i = 0; i < UPD__CNT; i++)
                        sl_pgarr_begin(&ing->upd[i]);
        sl_pgarr_text(&ing->upd[UPD_EV_ID], s->env.id);
        sl_pgarr_num(&ing->upd[UPD_EV_OCC], s->env.occurred_at);
        sl_pgarr_text(&ing->upd[UPD_EV_STATUS], sl_decision_str(ad->decision));
        sl_pgarr_text(&ing->upd[UPD_EV_REASON], sl_admit_reason_str(ad->reason));
        sl_pgarr_num(&ing->upd[UPD_EV_DEC], ad->decided_at);
        sl_pgarr_num(&ing->upd[UPD_EV_ATT], ad->attempt);
        sl_pgarr_text(&ing->upd[UPD_R_ID], s->env.id);
        sl_pgarr_num(&ing->upd[UPD_R_ATT], ad->attempt);
        sl_pgarr_text(&ing->upd[UPD_R_STATE], sl_retry_state_str(to));
        sl_pgarr_num(&ing->upd[UPD_R_NEXT_ATT], again ? ad->attempt + 1 : ad->attempt);
        sl_pgarr_num(&ing->upd[UPD_R_NEXT_AT], again ? ad->next_attempt_at : 0);
        sl_pgarr_text(&ing->upd[UPD_R_REASON], sl_admit_reason_str(ad->reason));
}

int sl__ingress_apply_retried(sl_ingress_t *ing, char *errstr, size_t errstr_size)
{
        const char *ev[6], *rr[6];
        char msg[512];
        int err;

        if (!ing->upd[UPD_EV_ID].n)
                return SL_OK;
        for (int i = 0; i < 6; i++) {
                ev[i] = sl_pgarr_end(&ing->upd[UPD_EV_ID + i]);
                rr[i] = sl_pgarr_end(&ing->upd[UPD_R_ID + i]);
        }
        const sl_pg_step_t steps[] = {
            {"UPDATE workflow_events w SET status = u.status, "
             "reason = nullif(u.reason, ''), decided_at = to_timestamp(u.dec / 1000.0), "
             "attempt = u.att FROM unnest($1::uuid[], $2::bigint[], $3::text[], "
             "$4::text[], $5::bigint[], $6::int[]) AS u(id, occ, status, reason, dec, "
             "att) WHERE w.id = u.id AND w.occurred_at = to_timestamp(u.occ / 1000.0) "
             "AND w.attempt < u.att",
             6, ev},
            /* The rows the decisions were made on: still decidable, same attempt. */
            {"UPDATE event_ingress_retries r SET state = u.state, "
             "attempt = u.next_att, next_attempt_at = CASE WHEN u.next_at > 0 "
             "THEN to_timestamp(u.next_at / 1000.0) ELSE r.next_attempt_at END, "
             "reason = coalesce(nullif(u.reason, ''), r.reason), updated_at = now() "
             "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], "
             "$5::bigint[], $6::text[]) AS u(id, att, state, next_att, next_at, "
             "reason) WHERE r.event_id = u.id AND r.attempt = u.att "
             "AND r.state IN " SL_RETRY_SQL_DECIDABLE,
             6, rr},
        };
        err = sl_pg_session_tx(ing->maint, steps, 2, msg, sizeof(msg));
        if (err != SL_OK)
                snprintf(errstr, errstr_size, "re-injected events' updates: %s", msg);
        for (size_t i = 0; i < UPD__CNT; i++)
                ing->upd[i].n = 0;
        return err;
}

/* The event leaves as a dead letter: held back on too many attempts. */
static void exhaust(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s)
{
        sl_reject_t rej = {.code = SL_REJECT_RETRIES_EXHAUSTED};

        s->kind = SLOT_EXHAUSTED;
        snprintf(rej.msg, sizeof(rej.msg),
                 "held back on %d attempts (retry.max.attempts %d), last: %s",
                 (int)s->ad.attempt + 1, ing->max_attempts,
                 sl_admit_reason_str(s->ad.reason));
        sl__ingress_reject(s, &rej);
        sl__ingress_write_dead_letter_row(ing, m, s);
}

void sl__ingress_decide_retried(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                                int64_t now)
{
        sl_ingress_retried_t *r = retried_get(ing, s->env.id);
        int32_t n = s->ad.attempt;
        sl_retried_step_t step = sl_ingress_retried_step(r, n);
        sl_retry_event_t ev;
        sl_retry_state_t to;

        switch (step) {
        case SL_RETRIED_STALE: {
                sl_log_ctx_t ctx = {.event_id = s->env.id,
                                    .source = s->env.source,
                                    .correlation_id = s->env.correlation_id};
                sl_log(SL_LOG_DEBUG, &ctx,
                       "attempt %d dropped: retry row is %s (attempt %d)", (int)n,
                       !r               ? "missing"
                       : r->state_known ? sl_retry_state_str(r->state)
                                        : "unknown",
                       r ? (int)r->retry_attempt : 0);
                s->kind = SLOT_STALE;
                return;
        }
        case SL_RETRIED_RECORDED:
        case SL_RETRIED_EXHAUSTED:
                if (ing->admit)
                        sl_admit_recorded(ing->admit, &s->ad, r->decision, r->reason,
                                          r->decided_at);
                else {
                        s->ad.decision = r->decision;
                        s->ad.decided_at = r->decided_at;
                }
                if (step == SL_RETRIED_EXHAUSTED)
                        exhaust(ing, m, s);
                return;
        case SL_RETRIED_DECIDE:
                break;
        }
        r->taken = true;
        sl__ingress_admit(ing, s, now);
        if (sl_ingress_retried_next(r->state, s->ad.decision, n, ing->max_attempts, &ev,
                                    &to) != SL_OK) {
                s->kind = SLOT_STALE; /* not reached: the step checked the state */
                return;
        }
        queue_update(ing, s, to);
        switch (ev) {
        case SL_RETRY_EV_ADMIT:
                sl_metrics_add(ing->m_retried[0], 1);
                break;
        case SL_RETRY_EV_HOLD:
                sl_metrics_add(ing->m_retried[1], 1);
                break;
        default:
                sl_metrics_add(ing->m_retried[2], 1);
                exhaust(ing, m, s);
                break;
        }
}
