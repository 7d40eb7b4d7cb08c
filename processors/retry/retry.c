/*
 * sluice-retry's stage (see retry.h, docs/retries.md).  Per batch:
 *
 *   1. For each record, in offset order per partition: a partition held paused skips
 *      its records from the held offset on.  Otherwise sl_retry_decide():
 *      SLEEP (not awake) pauses the partition and seeks it back to the record (it and
 *      what follows are fetched again after the resume); DELAY (awake, due within the
 *      shortest tier) keeps the record in the delay queue with its offset held by the
 *      runtime, or pauses the partition when the queue is full; HOP re-produces the
 *      record to a tier; INJECT collects it.  Delayed records now due are collected
 *      too.
 *   2. The collected (event id, attempt) pairs are split by event id over the
 *      connections of one of two sets, and each gets the prepared wake-up guard, a
 *      read of which rows wait ('scheduled'/'rescheduled') for that very attempt, sent
 *      asynchronously; the batch is deferred.
 *   3. The previous batch's guards (sent on the other set) are collected: each record
 *      whose row waits for its attempt is re-injected into events.in with headers
 *      sluice.attempt and sluice.retry.id, as an output of that previous batch, and its
 *      'due' mark collected (marks.c writes them behind the re-injections); a record
 *      without such a row is a duplicate, stale or cancelled wake-up and is dropped.
 *      The runtime then delivers and commits, in batch order.
 *
 * So Postgres works on one batch while the stage polls the next and re-injects the one
 * before, and the only write per retry, the 'due' mark, is off that path.  A duplicate
 * wake-up checked before the mark of its first copy landed is re-injected twice;
 * ingress decides an attempt once and drops the second copy (docs/retries.md).  Paused
 * records are never committed past (sl_runtime_commit_before), delayed ones neither (held
 * offsets, released with the batch that re-injects them).  On revocation the holds and
 * delayed records of the revoked partitions are dropped (the partitions resumed, so the
 * pause does not outlive the assignment); the next owner starts at the committed offset.
 * The runtime's poll wait follows the next hold or delayed record (wait_ms), so neither
 * is late by more than a poll.
 *
 * Reconciliation (tick, at start and every retry.reconcile.ms) is in reconcile.c.
 */
#include "retry.h"
#include "retry_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "pg/pgarray.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/uuid.h"

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
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(parts, topic, partition);
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
                rd_kafka_topic_partition_list_add(parts, held[i].topic,
                                                  held[i].partition);
        err = rd_kafka_resume_partitions(sl_runtime_consumer(rt), parts);
        if (err)
                sl_log_warn("resume %zu partitions: %s", n, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
}

static int due_grow(sl_retry_t *rty, size_t need)
{
        sl__retry_due_t *v =
            sl_array_grow(rty->due, &rty->due_cap, need, sizeof(*v), 256);
        if (!v)
                return SL_ERR_NOMEM;
        rty->due = v;
        return SL_OK;
}

/* Which of n connections moves the retry of event id: one row is only ever locked by
 * one of them, so their updates never wait on each other. */
static size_t shard_of(const char *id, size_t n)
{
        unsigned char c = (unsigned char)id[35];
        unsigned v = isdigit(c) ? (unsigned)(c - '0') : (unsigned)(tolower(c) - 'a' + 10);
        return v % n;
}

static const char guard_sql[] = SL_RETRY_GUARD_SQL("event_ingress_retries");
static const char mark_due_sql[] = SL_RETRY_MARK_DUE_SQL("event_ingress_retries");

/* Every session prepares the wake-up guard and the 'due' mark: parsed and planned once
 * per session, not once per batch.  With retry.pg.async.commit, commits do not wait for
 * the WAL flush: a 'due' mark lost in a Postgres crash leaves its row waiting, and
 * ingress still decides the re-injected attempt (docs/retries.md). */
static const sl_pg_stmt_t session_stmts[] = {
    {SL_RETRY_GUARD, guard_sql, 2, "the wake-up guard"},
    {SL_RETRY_MARK_DUE, mark_due_sql, 2, "the 'due' mark"}};

static sl_pg_session_t *session_new(const sl_conf_t *conf, char *errstr,
                                    size_t errstr_size)
{
        sl_pg_session_opts_t opts = {
            .setup_sql = sl_conf_get_bool(conf, "retry.pg.async.commit")
                             ? "SET synchronous_commit = off"
                             : NULL,
            .stmts = session_stmts,
            .nstmts = sizeof(session_stmts) / sizeof(session_stmts[0])};
        return sl_pg_session_new(conf, &opts, errstr, errstr_size);
}

/* The last result of the statement sent on pg (NULL when none came). */
static PGresult *collect(PGconn *pg)
{
        PGresult *last = NULL, *r;

        while ((r = PQgetResult(pg)) != NULL) {
                PQclear(last);
                last = r;
        }
        return last;
}

static void inflight_clear(sl__retry_inflight_t *f)
{
        for (size_t i = 0; i < f->n; i++)
                sl_retry_record_clear(&f->due[i].rr);
        f->n = 0;
        for (size_t k = 0; k < SL_RETRY_MAX_CONNS; k++) {
                f->sent[k] = false;
                f->cnt[k] = 0;
        }
        f->batch = NULL;
}

/* Step 2, sent: the ndue records collected in rty->due become in-flight batch f, and
 * each of f's connections gets the wake-up guard of its shard of them, all at once.
 * The previous batch's results are taken and the runtime polls the next batch
 * meanwhile; finish_one() takes f's. */
static int send_due(sl_retry_t *rty, sl_runtime_t *rt, sl__retry_inflight_t *f,
                    size_t ndue)
{
        sl__retry_due_t *due = f->due;
        size_t cap = f->cap;

        f->due = rty->due; /* swap buffers: rty->due fills with the next batch */
        f->cap = rty->due_cap;
        f->n = ndue;
        rty->due = due;
        rty->due_cap = cap;
        f->batch = sl_runtime_defer(rt);
        for (size_t i = 0; i < ndue; i++)
                if (f->due[i].tier >= 0)
                        sl_runtime_release_offset(rt, f->batch,
                                                  rty->topics[f->due[i].tier],
                                                  f->due[i].partition, f->due[i].offset);
        f->seq = ++rty->inflight_seq;
        f->t0 = sl__retry_now(rty);
        /* One pass: each record to its connection's arrays (ids, attempts), and where
         * it stands in them (the UPDATE returns that ordinal). */
        for (size_t k = 0; k < f->nconns; k++) {
                size_t *idx = realloc(f->idx[k], ndue * sizeof(*idx));
                if (!idx)
                        return SL_ERR_NOMEM;
                f->idx[k] = idx;
                sl_pgarr_begin(&f->ids[k]);
                sl_pgarr_begin(&f->atts[k]);
        }
        for (size_t i = 0; i < ndue; i++) {
                size_t k = shard_of(f->due[i].rr.event_id, f->nconns);
                f->idx[k][f->cnt[k]++] = i;
                sl_pgarr_text(&f->ids[k], f->due[i].rr.event_id);
                sl_pgarr_num(&f->atts[k], f->due[i].rr.attempt);
        }
        for (size_t k = 0; k < f->nconns; k++) {
                if (!f->cnt[k])
                        continue;
                f->params[k][0] = sl_pgarr_end(&f->ids[k]);
                f->params[k][1] = sl_pgarr_end(&f->atts[k]);
                /* A send that fails (a lost connection) is run again in finish_one(). */
                f->sent[k] =
                    PQsendQueryPrepared(sl_pg_session_conn(f->conns[k]), SL_RETRY_GUARD,
                                        2, f->params[k], NULL, NULL, 0) == 1;
        }
        return SL_OK;
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

/* Collect f's guards: res[k] gets connection k's result (NULL when it had no share); a
 * send or a result that failed transiently is run again (sl_pg_session_settle).  On
 * failure every result is cleared and the error logged. */
static int collect_due(sl__retry_inflight_t *f, PGresult **res)
{
        char errstr[512];
        int err = SL_OK;

        for (size_t k = 0; k < f->nconns; k++) {
                PGresult *r;
                int e;

                res[k] = NULL;
                if (!f->sent[k] && !f->cnt[k])
                        continue;
                r = f->sent[k] ? collect(sl_pg_session_conn(f->conns[k])) : NULL;
                e = sl_pg_session_settle(f->conns[k], r, guard_sql, 2, f->params[k],
                                         &res[k], errstr, sizeof(errstr));
                if (e != SL_OK) {
                        sl_log_error("Postgres: the wake-up guard: %s", errstr);
                        if (err == SL_OK || e == SL_ERR_PG)
                                err = e;
                }
        }
        if (err != SL_OK)
                for (size_t k = 0; k < f->nconns; k++) {
                        PQclear(res[k]);
                        res[k] = NULL;
                }
        return err;
}

/* Step 3 for in-flight batch f: each record whose row waits for its attempt is
 * re-injected as an output of that batch, and its 'due' mark collected; the others are
 * dropped. */
static int inject_waiting(sl_retry_t *rty, sl_runtime_t *rt, sl__retry_inflight_t *f,
                          PGresult **res)
{
        size_t nwaiting = 0, injected = 0, stale = 0;
        int err = SL_OK;
        int64_t now = sl__retry_now(rty);

        for (size_t i = 0; i < f->n; i++)
                f->due[i].planned = INT64_MIN;
        for (size_t k = 0; k < f->nconns; k++)
                for (int j = 0; res[k] && j < PQntuples(res[k]); j++) {
                        long ord = strtol(PQgetvalue(res[k], j, 0), NULL, 10);
                        if (ord < 1 || (size_t)ord > f->cnt[k])
                                return SL_ERR_PG; /* not what the statement returns */
                        f->due[f->idx[k][ord - 1]].planned =
                            strtoll(PQgetvalue(res[k], j, 1), NULL, 10);
                        nwaiting++;
                }
        sl_log_debug("%zu wake-ups: %zu retries waiting for them, checked in %lld ms",
                     f->n, nwaiting, (long long)(now - f->t0));

        for (size_t i = 0; i < f->n && err == SL_OK; i++) {
                const sl_retry_record_t *rr = &f->due[i].rr;
                int64_t planned = f->due[i].planned;
                sl_log_ctx_t ctx = {.event_id = rr->event_id, .source = rr->source};

                const char *stale_why =
                    planned == INT64_MIN
                        ? "the retry is not scheduled for it (duplicate, cancelled "
                          "or finished)"
                    : !sl__retry_marks_claim(rty, rr->event_id, rr->attempt)
                        ? "a duplicate, re-injected moments ago (its 'due' mark is "
                          "on its way)"
                        : NULL;
                if (stale_why) {
                        stale++;
                        sl_log(SL_LOG_DEBUG, &ctx, "dropped wake-up of attempt %d: %s",
                               (int)rr->attempt, stale_why);
                        continue;
                }
                err = sl_runtime_produce_to(rt, f->batch, rty->topic_in, rr->source,
                                            strlen(rr->source), rr->envelope,
                                            rr->envelope_len, inject_headers(rr));
                if (err != SL_OK)
                        break;
                injected++;
                sl_metrics_observe(rty->m_lateness, (double)(now - planned) / 1e3);
                sl_log(
                    SL_LOG_INFO, &ctx,
                    "retry due: attempt %d re-injected (planned %lld ms ago, reason %s)",
                    (int)rr->attempt, (long long)(now - planned), rr->reason);
        }
        sl_metrics_add(rty->m_due, injected);
        sl_metrics_add(rty->m_stale, stale);
        return err;
}

/* Steps 2 (collected) and 3 for in-flight batch f, if it holds one; then all of that
 * batch's outputs are produced. */
static int finish_one(sl_retry_t *rty, sl_runtime_t *rt, sl__retry_inflight_t *f)
{
        PGresult *res[SL_RETRY_MAX_CONNS];
        int err;

        if (!f->batch)
                return SL_OK;
        err = collect_due(f, res);
        if (err == SL_OK)
                err = inject_waiting(rty, rt, f, res);
        for (size_t k = 0; k < f->nconns; k++)
                PQclear(res[k]);
        sl_runtime_deferred_done(rt, f->batch, err);
        inflight_clear(f);
        return err;
}

/* Every in-flight batch, oldest first: the runtime's finish(). */
static int finish_inflight(void *opaque, sl_runtime_t *rt)
{
        sl_retry_t *rty = opaque;
        sl__retry_inflight_t *a = &rty->inflight[0], *b = &rty->inflight[1];
        int err;

        if (b->batch && (!a->batch || b->seq < a->seq)) {
                a = &rty->inflight[1];
                b = &rty->inflight[0];
        }
        err = finish_one(rty, rt, a);
        return err == SL_OK ? finish_one(rty, rt, b) : err;
}

/* Whether rr fits in the delay queue's memory bound (retry.delay.max.bytes). */
static bool delay_room(const sl_retry_t *rty, const sl_retry_record_t *rr)
{
        size_t per = sizeof(sl_retry_delayed_t) + SL_RETRY_DELAYED_OVERHEAD;
        size_t used = rty->delayq.bytes + sl_retry_delayq_count(&rty->delayq) * per;
        return used + rr->envelope_len + per <= rty->delay_max_bytes;
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
                const sl_retry_hold_t *h =
                    sl_retry_holds_find(&rty->holds, topic, m->partition);
                sl_retry_record_t *rr = &rty->due[ndue].rr;
                sl_retry_decision_t d;
                rd_kafka_timestamp_type_t tstype;
                int tier;

                if (h && m->offset >= h->offset) {
                        /* Behind a held head: not processed, not committed. */
                        sl_runtime_commit_before(rt, m);
                        continue;
                }
                tier =
                    sl_retry_tier_of((const char(*)[256])rty->topics, rty->ntiers, topic);
                if (tier < 0 || !m->payload ||
                    sl_retry_record_decode(m->payload, m->len, rr) != SL_OK) {
                        sl_metrics_add(rty->m_invalid, 1);
                        sl_log_warn(
                            "%s [%d] @%lld: not a retry record (%zu bytes): skipped",
                            topic, (int)m->partition, (long long)m->offset, m->len);
                        continue;
                }
                d = sl_retry_decide(&rty->timing, (size_t)tier,
                                    rd_kafka_message_timestamp(m, &tstype), rr->due_at,
                                    now);
                if ((d.action == SL_RETRY_INJECT || d.action == SL_RETRY_DELAY) &&
                    !sl_uuid_valid(rr->event_id)) {
                        sl_metrics_add(rty->m_invalid, 1);
                        sl_log_warn(
                            "%s [%d] @%lld: event id '%.40s' is not a UUID: skipped",
                            topic, (int)m->partition, (long long)m->offset, rr->event_id);
                        sl_retry_record_clear(rr);
                        continue;
                }
                if (d.action == SL_RETRY_DELAY && delay_room(rty, rr)) {
                        /* In memory until due; its offset is held so nothing past it is
                         * committed before it is re-injected. */
                        if ((err =
                                 sl_retry_delayq_push(&rty->delayq, rr, d.wake_at, topic,
                                                      m->partition, m->offset)) == SL_OK)
                                sl_runtime_hold_offset(rt, m);
                        else
                                sl_retry_record_clear(rr);
                        continue;
                }
                switch (d.action) {
                case SL_RETRY_SLEEP:
                case SL_RETRY_DELAY: /* the delay queue is full: hold the partition */
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
                        rty->due[ndue].tier = -1;
                        ndue++;
                        break;
                }
        }
        /* Delayed records now due join this batch; their offsets go with it. */
        for (sl_retry_delayed_t dl;
             err == SL_OK && sl_retry_delayq_pop_due(&rty->delayq, now, &dl);) {
                if ((err = due_grow(rty, ndue + 1)) != SL_OK) {
                        sl_retry_record_clear(&dl.rr);
                        break;
                }
                rty->due[ndue].rr = dl.rr;
                rty->due[ndue].tier = sl_retry_tier_of((const char(*)[256])rty->topics,
                                                       rty->ntiers, dl.topic);
                rty->due[ndue].partition = dl.partition;
                rty->due[ndue].offset = dl.offset;
                ndue++;
        }
        sl_metrics_add(rty->m_hops, hops);
        sl_metrics_set(rty->m_held, (double)rty->holds.cnt);
        sl_metrics_set(rty->m_delayed, (double)sl_retry_delayq_count(&rty->delayq));
        /*
         * The previous batch's UPDATEs ran while this one was polled and decoded.  This
         * batch's go out first on the other connections (when there are two sets), so
         * that Postgres works on them while the previous batch is re-injected.
         */
        sl__retry_inflight_t *next = &rty->inflight[rty->inflight_seq % 2];
        sl__retry_inflight_t *prev = &rty->inflight[(rty->inflight_seq + 1) % 2];
        if (err == SL_OK && (next->batch || next->conns == prev->conns))
                err = finish_inflight(rty, rt); /* its connections are still busy */
        if (err == SL_OK && ndue)
                err = send_due(rty, rt, next, ndue);
        else
                for (size_t i = 0; i < ndue; i++)
                        sl_retry_record_clear(&rty->due[i].rr);
        if (err == SL_OK)
                err = finish_one(rty, rt, prev);
        sl__retry_marks_pump(rty, next->batch != NULL);
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

        /* The runtime drained: every re-injection of these partitions is done.  Their
         * marks land before the next owner's guard reads the rows. */
        sl__retry_marks_flush(rty);

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
        /* Delayed records of revoked partitions were never re-injected: the runtime
         * forgets their floors, and the next owner reads them again. */
        size_t ndelayed = 0;
        for (int i = 0; i < parts->cnt; i++)
                ndelayed += sl_retry_delayq_drop_partition(
                    &rty->delayq, parts->elems[i].topic, parts->elems[i].partition);
        if (ndelayed)
                sl_log_info("revoked: %zu delayed wake-ups dropped uncommitted (the next "
                            "owner reads them again)",
                            ndelayed);
        sl_metrics_set(rty->m_delayed, (double)sl_retry_delayq_count(&rty->delayq));
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
        sl__retry_marks_pump(rty, rty->inflight[0].batch || rty->inflight[1].batch);

        bool round = now >= rty->next_reconcile;
        if ((round || now >= rty->next_gauges) && finish_inflight(rty, rt) != SL_OK)
                return; /* the runtime stops on the failed batch */
        if (round) {
                size_t redriven = 0;
                rty->next_reconcile = now + rty->reconcile_ms;
                sl_retry_reconcile(rty, rt, &redriven);
        }
        if (round || now >= rty->next_gauges) {
                rty->next_gauges = now + rty->gauges_ms;
                sl__retry_update_gauges(rty, round);
        }
}

/* Until the next held partition wakes (tick resumes it) or the next delayed record is
 * due (process() with no records takes it). */
static int64_t wait_ms(void *opaque)
{
        sl_retry_t *rty = opaque;
        int64_t next = sl_retry_holds_next_wake(&rty->holds);
        int64_t due = sl_retry_delayq_next_due(&rty->delayq);
        if (due < next)
                next = due;
        return next == INT64_MAX ? INT64_MAX : next - sl__retry_now(rty);
}

static bool healthy(void *opaque)
{
        sl_retry_t *rty = opaque;
        for (size_t k = 0; k < rty->nconns; k++)
                if (PQstatus(sl_pg_session_conn(rty->conns[k])) != CONNECTION_OK)
                        return false;
        return PQstatus(sl_pg_session_conn(rty->marks.ses)) == CONNECTION_OK;
}

static void register_metrics(sl_retry_t *rty)
{
        static const double bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,  5,     10,   30,  60,   300};
        char labels[64];

        rty->m_due = sl_metrics_counter(
            "sluice_retry_due_total", NULL,
            "Retries sluice-retry found waiting for their wake-up's attempt and "
            "re-injected into events.in.");
        rty->m_marked = sl_metrics_counter(
            "sluice_retry_marked_total", NULL,
            "Re-injected retries sluice-retry marked 'due' (the others were decided "
            "by ingress before their mark was written).");
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
        rty->m_delayed = sl_metrics_gauge(
            "sluice_retry_delayed", NULL,
            "Awake wake-ups kept in memory until due (less than the shortest tier "
            "away).");
        rty->m_scheduled = sl_metrics_gauge(
            "sluice_retry_scheduled", NULL,
            "Retries waiting for their wake-up (scheduled or rescheduled).");
        rty->m_overdue =
            sl_metrics_gauge("sluice_retry_overdue", NULL,
                             "Waiting retries whose next_attempt_at has passed.");
        for (int s = 0; s < SL_RETRY__STATE_CNT; s++) {
                snprintf(labels, sizeof(labels), "state=\"%s\"",
                         sl_retry_state_str((sl_retry_state_t)s));
                rty->m_rows[s] = sl_metrics_gauge(
                    "sluice_retry_rows", labels,
                    "Rows of event_ingress_retries by state (open states counted "
                    "every few seconds, final states every retry.reconcile.ms).");
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
        sl_retry_delayq_init(&rty->delayq);
        rty->ntiers =
            sl_kafka_retry_topics(conf, rty->topics, rty->tiers_ms, SL_RETRY_MAX_TIERS);
        if (!rty->ntiers) {
                snprintf(errstr, errstr_size, "retry.tiers: no tiers");
                goto fail_tiers;
        }
        for (size_t i = 0; i < rty->ntiers; i++)
                rty->topic_ptrs[i] = rty->topics[i];
        rty->topic_ptrs[rty->ntiers] = NULL;
        sl_kafka_topic_name(conf, SL_TOPIC_EVENTS_IN, rty->topic_in,
                            sizeof(rty->topic_in));
        rty->timing.tiers_ms = rty->tiers_ms;
        rty->timing.ntiers = rty->ntiers;
        rty->timing.tolerance_ms = sl_conf_get_int(conf, "retry.due.tolerance.ms");
        rty->reconcile_ms = sl_conf_get_int(conf, "retry.reconcile.ms");
        rty->grace_ms = sl_conf_get_int(conf, "retry.reconcile.grace.ms");
        rty->due_grace_ms = sl_conf_get_int(conf, "retry.reconcile.due.grace.ms");
        rty->reconcile_limit = sl_conf_get_int(conf, "retry.reconcile.limit");
        rty->gauges_ms = rty->reconcile_ms < 5000 ? rty->reconcile_ms : 5000;

        rty->delay_max_bytes = (size_t)sl_conf_get_int(conf, "retry.delay.max.bytes");
        rty->nconns = (size_t)sl_conf_get_int(conf, "retry.pg.connections");
        rty->marks.delay_ms = sl_conf_get_int(conf, "retry.due.mark.ms");
        for (size_t k = 0; k < rty->nconns; k++)
                if (!(rty->conns[k] = session_new(conf, errstr, errstr_size)))
                        goto fail_pg;
        if (!(rty->marks.ses = session_new(conf, errstr, errstr_size)))
                goto fail_pg;
        rty->pg = rty->conns[0];
        /* Two sets of connections, so that one batch's UPDATEs overlap the previous
         * batch's re-injection; with one connection both sets share it. */
        for (size_t i = 0; i < 2; i++) {
                size_t half = rty->nconns / 2;
                rty->inflight[i].conns = half ? rty->conns + i * half : rty->conns;
                rty->inflight[i].nconns = half ? (i ? rty->nconns - half : half) : 1;
        }
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
        rty->stage.finish = finish_inflight;
        rty->stage.wait_ms = wait_ms;
        rty->stage.healthy = healthy;
        return rty;

fail_pg:
        for (size_t k = 0; k < rty->nconns; k++)
                sl_pg_session_destroy(rty->conns[k]);
        sl_pg_session_destroy(rty->marks.ses);
fail_tiers:
        sl_retry_holds_close(&rty->holds);
        sl_retry_delayq_close(&rty->delayq);
        free(rty);
        return NULL;
}

void sl_retry_destroy(sl_retry_t *rty)
{
        if (!rty)
                return;
        sl__retry_marks_flush(
            rty); /* the runtime drained: the last re-injections' marks */
        for (size_t k = 0; k < rty->nconns; k++)
                sl_pg_session_destroy(rty->conns[k]);
        sl_pg_session_destroy(rty->marks.ses);
        sl__retry_marks_free(&rty->marks);
        sl_retry_holds_close(&rty->holds);
        sl_retry_delayq_close(&rty->delayq);
        for (size_t i = 0; i < 2; i++) {
                inflight_clear(&rty->inflight[i]);
                free(rty->inflight[i].due);
                for (size_t k = 0; k < SL_RETRY_MAX_CONNS; k++) {
                        free(rty->inflight[i].idx[k]);
                        sl_pgarr_free(&rty->inflight[i].ids[k]);
                        sl_pgarr_free(&rty->inflight[i].atts[k]);
                }
        }
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
