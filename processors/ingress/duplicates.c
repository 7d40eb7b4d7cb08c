/*
 * The rare batch whose events COPY found rows already there (dups > 0): an event id
 * seen before at another offset (a publisher's resend, a re-routed record produced
 * twice) keeps the decision it already had.  The rows of the batch's fresh events are
 * looked up; sl_ingress_duplicate() (decide.c) says what each is; this batch's
 * decision for a duplicate is taken back from the admission state, a retry intent it
 * added in error is removed, and its outputs follow the recorded decision.  The
 * common batch never comes here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_int.h"
#include "log/log.h"
#include "sluice/err.h"

static int recorded_cmp(const void *a, const void *b)
{
        return strcmp(((const sl_ingress_recorded_t *)a)->id,
                      ((const sl_ingress_recorded_t *)b)->id);
}

static bool fresh(const slot_t *s)
{
        return s->kind == SLOT_DECIDED && s->ad.attempt == 0 && !s->ad.replayed;
}

/* The rows Postgres holds for the ids in ids (a text array), sorted by id into
 * ing->recorded; *rows gets how many. */
static int lookup(sl_ingress_t *ing, const char *ids, size_t *rows, char *errstr,
                  size_t errstr_size)
{
        static const char sql[] =
            "SELECT id::text, kafka_partition, kafka_offset, status, "
            "coalesce(reason, ''), "
            "(extract(epoch FROM coalesce(decided_at, received_at)) * 1000)"
            "::bigint, attempt FROM workflow_events WHERE id = ANY($1::uuid[])";
        const char *params[1] = {ids};
        PGresult *res;
        char msg[512];
        int err = sl_pg_session_exec(ing->maint, sql, 1, params, &res, msg, sizeof(msg));

        if (err != SL_OK) {
                snprintf(errstr, errstr_size, "duplicates: %s", msg);
                return err;
        }
        int n = PQntuples(res);
        sl_ingress_recorded_t *rec =
            realloc(ing->recorded, ((size_t)n + 1) * sizeof(*rec));
        if (!rec) {
                PQclear(res);
                snprintf(errstr, errstr_size, "duplicates: out of memory");
                return SL_ERR_NOMEM;
        }
        ing->recorded = rec;
        for (int r = 0; r < n; r++) {
                snprintf(rec[r].id, sizeof(rec[r].id), "%s", PQgetvalue(res, r, 0));
                rec[r].partition = atoi(PQgetvalue(res, r, 1));
                rec[r].offset = atoll(PQgetvalue(res, r, 2));
                rec[r].decision = sl_decision_parse(PQgetvalue(res, r, 3));
                rec[r].reason = sl_admit_reason_parse(PQgetvalue(res, r, 4));
                rec[r].decided_at = atoll(PQgetvalue(res, r, 5));
                rec[r].attempt = atoi(PQgetvalue(res, r, 6));
        }
        PQclear(res);
        qsort(rec, (size_t)n, sizeof(*rec), recorded_cmp);
        *rows = (size_t)n;
        return SL_OK;
}

int sl__ingress_settle_duplicates(sl_ingress_t *ing, const sl_sources_t *src, size_t cnt,
                                  char *errstr, size_t errstr_size)
{
        sl_pgarr_t ids = {0}, wrong = {0};
        size_t n = 0, rows = 0, fixed = 0;
        char msg[512];
        int err = SL_OK;

        sl_pgarr_begin(&ids);
        sl_pgarr_begin(&wrong);
        for (size_t i = 0; i < cnt; i++) {
                if (fresh(&ing->slots[i])) {
                        sl_pgarr_text(&ids, ing->slots[i].env.id);
                        n++;
                }
        }
        if (!n ||
            (err = lookup(ing, sl_pgarr_end(&ids), &rows, errstr, errstr_size)) != SL_OK)
                goto out;
        for (size_t i = 0; i < cnt; i++) {
                slot_t *s = &ing->slots[i];
                sl_ingress_recorded_t key;
                if (!fresh(s))
                        continue;
                snprintf(key.id, sizeof(key.id), "%s", s->env.id);
                const sl_ingress_recorded_t *r =
                    rows ? bsearch(&key, ing->recorded, rows, sizeof(key), recorded_cmp)
                         : NULL;
                sl_dup_outcome_t o = sl_ingress_duplicate(r, s->ad.partition,
                                                          s->ad.offset, s->ad.decision);
                if (o.action == SL_DUP_NONE)
                        continue;
                fixed++;
                if (o.unapply && ing->admit)
                        sl_admit_unapply(ing->admit, src, &s->ad);
                if (o.drop_intent)
                        sl_pgarr_text(&wrong, s->env.id);
                if (o.action == SL_DUP_STALE) {
                        s->kind = SLOT_STALE; /* in the retry flow already */
                        continue;
                }
                s->ad.decision = r->decision;
                s->ad.reason = r->reason;
                s->ad.decided_at = r->decided_at;
                s->ad.replayed = true;
        }
        if (wrong.n) {
                /* Not a transition: the intent this batch wrote in error goes, unless
                 * sluice-retry moved it already. */
                const char *p1[1] = {sl_pgarr_end(&wrong)};
                err = sl_pg_session_exec(
                    ing->maint,
                    "DELETE FROM event_ingress_retries r WHERE r.event_id = "
                    "ANY($1::uuid[]) AND r.attempt = 1 AND r.state = 'scheduled' "
                    "AND EXISTS (SELECT 1 FROM workflow_events w WHERE w.id = "
                    "r.event_id AND w.status = 'accepted' AND w.attempt = 0)",
                    1, p1, NULL, msg, sizeof(msg));
                if (err != SL_OK)
                        snprintf(errstr, errstr_size, "duplicates' retry intents: %s",
                                 msg);
        }
        if (fixed)
                sl_log_info("%zu events of this batch were decided before (duplicates): "
                            "their recorded decisions stand",
                            fixed);
out:
        sl_pgarr_free(&ids);
        sl_pgarr_free(&wrong);
        return err;
}
