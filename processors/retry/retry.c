/*
 * sluice-retry's stage (see retry.h, docs/retries.md).  Per batch:
 *
 *   1. For each record, in offset order per partition: a partition held paused skips
 *      its records from the held offset on.  Otherwise sl_retry_decide() on the head:
 *      SLEEP pauses the partition and seeks it back to the head (the head and what
 *      follows are fetched again after the resume), HOP re-produces the record to a
 *      tier, INJECT collects it.
 *   2. One UPDATE ... FROM unnest() moves every collected (event id, attempt) whose row
 *      is 'scheduled' or 'rescheduled' to 'due'; a record without such a row is a
 *      duplicate, stale or cancelled wake-up and is dropped.
 *   3. Each row that moved is re-injected into events.in with headers sluice.attempt
 *      and sluice.retry.id.  The runtime then delivers and commits.
 *
 * Held records are never committed past: each is passed to sl_runtime_commit_before(),
 * so the batch's commit of its partition stops at the held head.  On
 * revocation the holds of the revoked partitions are dropped (and the partitions
 * resumed, so the pause does not outlive the assignment); the next owner starts at the
 * committed head.  tick() resumes partitions whose head woke up; the runtime's batch
 * wait (retry.batch.ms) bounds how late that is.
 *
 * Reconciliation (tick, at start and every retry.reconcile.ms) is in reconcile.c.
 */
#include "retry.h"
#include "retry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "sluice/err.h"

static int64_t wall_ms(void *opaque)
{
        struct timespec ts;
        (void)opaque;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl__retry_now(const sl_retry_t *rty)
{
        return rty->clock(rty->clock_opaque);
}

/* Pause (topic, partition) and seek it back to offset, so that nothing from offset on
 * is handed to the stage until it is resumed. */
static int hold_partition(sl_retry_t *rty, sl_runtime_t *rt, const char *topic,
                          int32_t partition, int64_t offset, int64_t wake_at)
{
        rd_kafka_t *rk = sl_runtime_consumer(rt);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(parts, topic,
                                                                           partition);
        rd_kafka_resp_err_t err;
        rd_kafka_error_t *error;
        int rc = SL_OK;

        if (sl_retry_holds_put(&rty->holds, topic, partition, offset, wake_at) != SL_OK) {
                rd_kafka_topic_partition_list_destroy(parts);
                return SL_ERR_NOMEM;
        }
        /* Pause first: it records the consumed position as the resume point; the seek,
         * served after it on the partition's queue, moves that point back to the head
         * and purges what was pre-fetched. */
        err = rd_kafka_pause_partitions(rk, parts);
        if (err || tp->err) {
                sl_log_error("pause %s [%d]: %s", topic, (int)partition,
                             rd_kafka_err2str(err ? err : tp->err));
                rc = SL_ERR_KAFKA;
        }
        tp->offset = offset;
        error = rd_kafka_seek_partitions(rk, parts, 0 /* async */);
        if (error) {
                sl_log_error("seek %s [%d] to %lld: %s", topic, (int)partition,
                             (long long)offset, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                rc = SL_ERR_KAFKA;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        sl_log_debug("holding %s [%d] at offset %lld for %lld ms", topic, (int)partition,
                     (long long)offset, (long long)(wake_at - sl__retry_now(rty)));
        return rc;
}

static void resume_partitions(sl_runtime_t *rt, const sl_retry_hold_t *held, size_t n)
{
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;

        if (!n)
                return;
        parts = rd_kafka_topic_partition_list_new((int)n);
        for (size_t i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(parts, held[i].topic, held[i].partition);
        err = rd_kafka_resume_partitions(sl_runtime_consumer(rt), parts);
        if (err)
                sl_log_warn("resume %zu partitions: %s", n, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
}

static int due_grow(sl_retry_t *rty, size_t need)
{
        if (need <= rty->due_cap)
                return SL_OK;
        size_t cap = rty->due_cap ? rty->due_cap * 2 : 256;
        while (cap < need)
                cap *= 2;
        sl__retry_due_t *v = realloc(rty->due, cap * sizeof(*v));
        if (!v)
                return SL_ERR_NOMEM;
        rty->due = v;
        rty->due_cap = cap;
        return SL_OK;
}

/* A row the UPDATE moved to 'due'. */
typedef struct moved_s {
        const char *event_id; /* into the PGresult */
        int32_t attempt;
        int64_t next_attempt_at;
        int used;
} moved_t;

static int moved_cmp(const void *a, const void *b)
{
        const moved_t *x = a, *y = b;
        int c = strcasecmp(x->event_id, y->event_id);
        return c ? c : (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

/* Build '{a,b,...}' of the collected event ids and attempts. */
static int build_arrays(const sl_retry_t *rty, size_t n, char **ids, char **attempts)
{
        size_t idcap = n * 37 + 3, atcap = n * 12 + 3, il = 0, al = 0;
        char *ib = malloc(idcap), *ab = malloc(atcap);

        if (!ib || !ab) {
                free(ib);
                free(ab);
                return SL_ERR_NOMEM;
        }
        ib[il++] = '{';
        ab[al++] = '{';
        for (size_t i = 0; i < n; i++) {
                if (i) {
                        ib[il++] = ',';
                        ab[al++] = ',';
                }
                memcpy(ib + il, rty->due[i].rr.event_id, 36);
                il += 36;
                al += (size_t)snprintf(ab + al, atcap - al, "%d", (int)rty->due[i].rr.attempt);
        }
        ib[il++] = '}';
        ib[il] = '\0';
        ab[al++] = '}';
        ab[al] = '\0';
        *ids = ib;
        *attempts = ab;
        return SL_OK;
}

static const char mark_due_sql[] =
        "UPDATE event_ingress_retries r SET state = 'due', updated_at = now() "
        "FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::int[])) AS u(event_id, attempt) "
        "WHERE r.event_id = u.event_id AND r.attempt = u.attempt "
        "AND r.state IN ('scheduled', 'rescheduled') "
        "RETURNING r.event_id::text, r.attempt, "
        "(extract(epoch FROM r.next_attempt_at) * 1000)::bigint";

/* Run the UPDATE once more after a reset when the connection was lost. */
PGresult *sl__retry_exec(sl_retry_t *rty, const char *sql, int nparams,
                         const char *const *params)
{
        PGresult *res = PQexecParams(rty->pg, sql, nparams, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK &&
            PQstatus(rty->pg) == CONNECTION_BAD) {
                PQclear(res);
                sl_log_warn("Postgres connection lost: reconnecting");
                PQreset(rty->pg);
                res = PQexecParams(rty->pg, sql, nparams, NULL, params, NULL, NULL, 0);
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
                sl_log_error("Postgres: %s", PQresultErrorMessage(res));
                PQclear(res);
                return NULL;
        }
        return res;
}

static rd_kafka_headers_t *inject_headers(const sl_retry_record_t *rr)
{
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        char num[16], id[128];

        snprintf(num, sizeof(num), "%d", (int)rr->attempt);
        sl_retry_record_id(rr->event_id, rr->attempt, id, sizeof(id));
        rd_kafka_header_add(hdrs, SL_RETRY_HDR_ATTEMPT, -1, num, -1);
        rd_kafka_header_add(hdrs, SL_RETRY_HDR_RETRY_ID, -1, id, -1);
        return hdrs;
}

/* Steps 2 and 3 for the ndue collected records. */
static int inject_due(sl_retry_t *rty, sl_runtime_t *rt, size_t ndue)
{
        char *ids, *attempts;
        const char *params[2];
        PGresult *res;
        moved_t *moved = NULL;
        int nmoved, err = SL_OK;
        int64_t now;
        size_t injected = 0, stale = 0;

        if ((err = build_arrays(rty, ndue, &ids, &attempts)) != SL_OK)
                return err;
        params[0] = ids;
        params[1] = attempts;
        res = sl__retry_exec(rty, mark_due_sql, 2, params);
        free(ids);
        free(attempts);
        if (!res)
                return SL_ERR_PG;
        nmoved = PQntuples(res);
        if (nmoved > 0) {
                moved = calloc((size_t)nmoved, sizeof(*moved));
                if (!moved) {
                        PQclear(res);
                        return SL_ERR_NOMEM;
                }
        }
        for (int i = 0; i < nmoved; i++) {
                moved[i].event_id = PQgetvalue(res, i, 0);
                moved[i].attempt = (int32_t)atoi(PQgetvalue(res, i, 1));
                moved[i].next_attempt_at = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        }
        if (nmoved > 1)
                qsort(moved, (size_t)nmoved, sizeof(*moved), moved_cmp);

        now = sl__retry_now(rty);
        for (size_t i = 0; i < ndue && err == SL_OK; i++) {
                const sl_retry_record_t *rr = &rty->due[i].rr;
                moved_t key = {.event_id = rr->event_id, .attempt = rr->attempt};
                moved_t *mv = nmoved ? bsearch(&key, moved, (size_t)nmoved, sizeof(*moved),
                                               moved_cmp)
                                     : NULL;
                sl_log_ctx_t ctx = {.event_id = rr->event_id, .source = rr->source};

                if (!mv || mv->used) {
                        stale++;
                        sl_log(SL_LOG_DEBUG, &ctx,
                               "dropped wake-up of attempt %d: the retry is not scheduled "
                               "for it (duplicate, cancelled or finished)",
                               (int)rr->attempt);
                        continue;
                }
                mv->used = 1;
                err = sl_runtime_produce(rt, rty->topic_in, rr->source, strlen(rr->source),
                                         rr->envelope, rr->envelope_len, inject_headers(rr));
                if (err != SL_OK)
                        break;
                injected++;
                sl_metrics_observe(rty->m_lateness, (double)(now - mv->next_attempt_at) / 1e3);
                sl_log(SL_LOG_INFO, &ctx,
                       "retry due: attempt %d re-injected (planned %lld ms ago, reason %s)",
                       (int)rr->attempt, (long long)(now - mv->next_attempt_at), rr->reason);
        }
        sl_metrics_add(rty->m_due, injected);
        sl_metrics_add(rty->m_stale, stale);
        free(moved);
        PQclear(res);
        return err;
}

static int process(void *opaque, sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt)
{
        sl_retry_t *rty = opaque;
        int64_t now = sl__retry_now(rty);
        size_t ndue = 0, hops = 0;
        int err = SL_OK;

        if ((err = due_grow(rty, cnt)) != SL_OK)
                return err;
        for (size_t i = 0; i < cnt && err == SL_OK; i++) {
                rd_kafka_message_t *m = msgs[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                const sl_retry_hold_t *h = sl_retry_holds_find(&rty->holds, topic,
                                                               m->partition);
                sl_retry_record_t *rr = &rty->due[ndue].rr;
                sl_retry_decision_t d;
                rd_kafka_timestamp_type_t tstype;
                int tier;

                if (h && m->offset >= h->offset) {
                        /* Behind a held head: not processed, not committed. */
                        sl_runtime_commit_before(rt, m);
                        continue;
                }
                tier = sl_retry_tier_of((const char(*)[256])rty->topics, rty->ntiers, topic);
                if (tier < 0 || !m->payload ||
                    sl_retry_record_decode(m->payload, m->len, rr) != SL_OK) {
                        sl_metrics_add(rty->m_invalid, 1);
                        sl_log_warn("%s [%d] @%lld: not a retry record (%zu bytes): skipped",
                                    topic, (int)m->partition, (long long)m->offset, m->len);
                        continue;
                }
                d = sl_retry_decide(&rty->timing, (size_t)tier,
                                    rd_kafka_message_timestamp(m, &tstype), rr->due_at, now);
                switch (d.action) {
                case SL_RETRY_SLEEP:
                        err = hold_partition(rty, rt, topic, m->partition, m->offset,
                                             d.wake_at);
                        sl_runtime_commit_before(rt, m);
                        sl_retry_record_clear(rr);
                        break;
                case SL_RETRY_HOP:
                        err = sl_runtime_produce(rt, rty->topics[d.tier], rr->source,
                                                 strlen(rr->source), m->payload, m->len,
                                                 NULL);
                        hops++;
                        sl_retry_record_clear(rr);
                        break;
                case SL_RETRY_INJECT:
                        if (!sl_retry_uuid_valid(rr->event_id)) {
                                sl_metrics_add(rty->m_invalid, 1);
                                sl_log_warn("%s [%d] @%lld: event id '%.40s' is not a UUID: "
                                            "skipped",
                                            topic, (int)m->partition, (long long)m->offset,
                                            rr->event_id);
                                sl_retry_record_clear(rr);
                                break;
                        }
                        ndue++;
                        break;
                }
        }
        if (err == SL_OK && ndue)
                err = inject_due(rty, rt, ndue);
        for (size_t i = 0; i < ndue; i++)
                sl_retry_record_clear(&rty->due[i].rr);
        sl_metrics_add(rty->m_hops, hops);
        sl_metrics_set(rty->m_held, (double)rty->holds.cnt);
        return err;
}

static int on_assign(void *opaque, sl_runtime_t *rt,
                     const rd_kafka_topic_partition_list_t *parts)
{
        sl_retry_t *rty = opaque;
        (void)rt;
        /* A fresh assignment starts at the committed offset: no hold carries over. */
        for (int i = 0; i < parts->cnt; i++)
                sl_retry_holds_remove(&rty->holds, parts->elems[i].topic,
                                      parts->elems[i].partition);
        sl_metrics_set(rty->m_held, (double)rty->holds.cnt);
        return SL_OK;
}

static int on_revoke(void *opaque, sl_runtime_t *rt,
                     const rd_kafka_topic_partition_list_t *parts)
{
        sl_retry_t *rty = opaque;
        sl_retry_hold_t *dropped = calloc((size_t)parts->cnt + 1, sizeof(*dropped));
        size_t n = 0;

        for (int i = 0; i < parts->cnt; i++) {
                const sl_retry_hold_t *h = sl_retry_holds_find(
                        &rty->holds, parts->elems[i].topic, parts->elems[i].partition);
                if (!h)
                        continue;
                if (dropped)
                        dropped[n++] = *h;
                sl_retry_holds_remove(&rty->holds, parts->elems[i].topic,
                                      parts->elems[i].partition);
        }
        resume_partitions(rt, dropped, n);
        free(dropped);
        sl_metrics_set(rty->m_held, (double)rty->holds.cnt);
        return SL_OK;
}

static void tick(void *opaque, sl_runtime_t *rt)
{
        sl_retry_t *rty = opaque;
        int64_t now = sl__retry_now(rty);
        sl_retry_hold_t awake[64];
        size_t n;

        while ((n = sl_retry_holds_take_awake(&rty->holds, now, awake, 64)) > 0)
                resume_partitions(rt, awake, n);
        sl_metrics_set(rty->m_held, (double)rty->holds.cnt);

        if (now >= rty->next_reconcile) {
                size_t redriven = 0;
                rty->next_reconcile = now + rty->reconcile_ms;
                sl_retry_reconcile(rty, rt, &redriven);
        }
        if (now >= rty->next_gauges) {
                rty->next_gauges = now + rty->gauges_ms;
                sl__retry_update_gauges(rty);
        }
}

static bool healthy(void *opaque)
{
        sl_retry_t *rty = opaque;
        return PQstatus(rty->pg) == CONNECTION_OK;
}

static void register_metrics(sl_retry_t *rty)
{
        static const double bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,  5,     10,   30,  60,   300};
        static const char *const states[SL_RETRY__STATE_CNT] = {
                "scheduled", "due", "completed", "rescheduled", "cancelled", "exhausted"};
        char labels[64];

        rty->m_due = sl_metrics_counter(
                "sluice_retry_due_total", NULL,
                "Retries sluice-retry moved to 'due' and re-injected into events.in.");
        rty->m_stale = sl_metrics_counter(
                "sluice_retry_stale_total", NULL,
                "Wake-ups dropped because their retry was no longer scheduled for that "
                "attempt (duplicate, cancelled, finished).");
        rty->m_hops = sl_metrics_counter(
                "sluice_retry_hops_total", NULL,
                "Wake-ups re-produced to a tier because their retry was not yet due.");
        rty->m_invalid = sl_metrics_counter("sluice_retry_invalid_total", NULL,
                                            "Records of a tier topic that were not retry "
                                            "records, skipped.");
        rty->m_reconciled = sl_metrics_counter(
                "sluice_retry_reconciled_total", "from=\"scheduled\"",
                "Wake-ups reconciliation produced again from Postgres, by the state the "
                "row was in.");
        rty->m_redriven_due = sl_metrics_counter(
                "sluice_retry_reconciled_total", "from=\"due\"",
                "Wake-ups reconciliation produced again from Postgres, by the state the "
                "row was in.");
        rty->m_held = sl_metrics_gauge("sluice_retry_held_partitions", NULL,
                                       "Tier partitions paused until their head wakes.");
        rty->m_scheduled = sl_metrics_gauge(
                "sluice_retry_scheduled", NULL,
                "Retries waiting for their wake-up (scheduled or rescheduled).");
        rty->m_overdue = sl_metrics_gauge(
                "sluice_retry_overdue", NULL,
                "Waiting retries whose next_attempt_at has passed.");
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++) {
                snprintf(labels, sizeof(labels), "state=\"%s\"", states[s]);
                rty->m_rows[s] = sl_metrics_gauge(
                        "sluice_retry_rows", labels,
                        "Rows of event_ingress_retries by state (counted every few "
                        "seconds).");
        }
        rty->m_lateness = sl_metrics_histogram(
                "sluice_retry_lateness_seconds", NULL,
                "Re-injection time minus the planned retry time (next_attempt_at).", bounds,
                sizeof(bounds) / sizeof(bounds[0]));
}

sl_retry_t *sl_retry_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
        sl_retry_t *rty = calloc(1, sizeof(*rty));

        if (!rty) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rty->conf = conf;
        rty->clock = wall_ms;
        sl_retry_holds_init(&rty->holds);
        rty->ntiers = sl_kafka_retry_topics(conf, rty->topics, rty->tiers_ms,
                                            SL_RETRY_MAX_TIERS);
        if (!rty->ntiers) {
                snprintf(errstr, errstr_size, "retry.tiers: no tiers");
                goto fail_tiers;
        }
        for (size_t i = 0; i < rty->ntiers; i++)
                rty->topic_ptrs[i] = rty->topics[i];
        rty->topic_ptrs[rty->ntiers] = NULL;
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, rty->topic_in, sizeof(rty->topic_in));
        rty->timing.tiers_ms = rty->tiers_ms;
        rty->timing.ntiers = rty->ntiers;
        rty->timing.tolerance_ms = sl_conf_get_int(conf, "retry.due.tolerance.ms");
        rty->reconcile_ms = sl_conf_get_int(conf, "retry.reconcile.ms");
        rty->grace_ms = sl_conf_get_int(conf, "retry.reconcile.grace.ms");
        rty->due_grace_ms = sl_conf_get_int(conf, "retry.reconcile.due.grace.ms");
        rty->reconcile_limit = sl_conf_get_int(conf, "retry.reconcile.limit");
        rty->gauges_ms = rty->reconcile_ms < 5000 ? rty->reconcile_ms : 5000;

        rty->pg = sl_pg_connect(conf, errstr, errstr_size);
        if (!rty->pg)
                goto fail_pg;
        register_metrics(rty);

        rty->stage.name = "retry";
        rty->stage.group_id = sl_conf_get(conf, "retry.group.id");
        rty->stage.topics = rty->topic_ptrs;
        rty->stage.batch_size = (size_t)sl_conf_get_int(conf, "retry.batch.size");
        rty->stage.batch_ms = (int)sl_conf_get_int(conf, "retry.batch.ms");
        rty->stage.opaque = rty;
        rty->stage.process = process;
        rty->stage.on_assign = on_assign;
        rty->stage.on_revoke = on_revoke;
        rty->stage.tick = tick;
        rty->stage.healthy = healthy;
        return rty;

fail_pg:
fail_tiers:
        sl_retry_holds_close(&rty->holds);
        free(rty);
        return NULL;
}

void sl_retry_destroy(sl_retry_t *rty)
{
        if (!rty)
                return;
        PQfinish(rty->pg);
        sl_retry_holds_close(&rty->holds);
        free(rty->due);
        free(rty);
}

const sl_stage_t *sl_retry_stage(sl_retry_t *rty)
{
        return &rty->stage;
}

void sl_retry_set_clock(sl_retry_t *rty, int64_t (*clock)(void *opaque), void *opaque)
{
        rty->clock = clock ? clock : wall_ms;
        rty->clock_opaque = opaque;
}
