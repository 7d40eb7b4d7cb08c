/*
 * The stage runtime's rebalances (see runtime.h): partitions assigned (after their
 * committed offsets are stable, under exactly_once) and revoked (after everything
 * processed from them is committed), and the rewind after a failed transaction, done
 * as a revocation of every partition and their assignment again.
 */
#include <stdlib.h>
#include <string.h>

#include "limits/backoff.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "runtime/heartbeat.h"
#include "runtime/runtime.h"
#include "runtime/runtime_int.h"
#include "sluice/err.h"
#include "util/clock.h"

/* exactly_once: longest wait for an assigned partition's offsets to be stable (an open
 * transaction of an earlier owner ends by transaction.timeout.ms, 60 s by default). */
#define SL_RT_STABLE_WAIT_MS  90000
#define SL_RT_SEEK_TIMEOUT_MS 30000

/* exactly_once, before a partition's state is restored: wait until its committed
 * offsets are stable, i.e. no transaction that commits offsets for it is still open
 * (read_committed makes the offset fetch ask for stable offsets, KIP-447).  A zombie,
 * an earlier owner that has not noticed it lost the partition, may otherwise commit
 * its last transaction (changelog records and offsets) after the state was read. */
static void wait_stable_offsets(sl_runtime_t *rt,
                                const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_resp_err_t err =
            rd_kafka_committed(rt->consumer, l, SL_RT_STABLE_WAIT_MS);

        if (err)
                sl_log_warn("committed offsets of %d assigned partitions: %s (restoring "
                            "their state all the same)",
                            parts->cnt, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
}

/*
 * exactly_once: a transaction failed, so what was done since the last commit is void:
 * the stage's state (restored from its changelog as of the last commit) and the
 * consumer's positions (back to the last committed offsets).  Done as a rebalance that
 * takes every partition away and gives it back (on_revoke, its flush aborted;
 * on_assign), then a seek of each partition read since its assignment.  Called where no
 * batch is in hand.  Repeated failures back off (runtime.retry.backoff.ms), and the
 * runtime stops when they go on for longer than runtime.retry.max.ms.
 */
void sl__rt_rewind_uncommitted(sl_runtime_t *rt)
{
        const sl_stage_t *stage = rt->stage;
        rd_kafka_topic_partition_list_t *parts = NULL, *seek;
        sl_backoff_t bo = {.initial_ms = rt->retry_backoff_ms,
                           .max_ms = rt->retry_backoff_max_ms,
                           .multiplier = 2,
                           .jitter = 0.2};

        if (rt->fatal != SL_OK)
                return;
        if (rt->txn_failures++ == 0)
                rt->txn_failing_since = sl_mono_ms();
        if (sl_mono_ms() - rt->txn_failing_since > rt->retry_max_ms) {
                sl_log_error("transactions keep failing (%d in a row, for longer than "
                             "runtime.retry.max.ms): stopping",
                             rt->txn_failures);
                rt->fatal = SL_ERR_KAFKA;
                return;
        }
        /* Stopping instead: rt->rewind stays, so the revocation at close aborts what
         * the stage flushes (the state it holds is the void one). */
        if (rt->txn_failures > 1 &&
            !sl__rt_backoff_wait(rt, sl_backoff_delay(&bo, rt->txn_failures - 1,
                                                      (double)rand() / RAND_MAX)))
                return;
        rt->rewind = false;
        sl_rt_ring_discard(&rt->ring);
        if (rd_kafka_assignment(rt->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
                parts = NULL;
        if (!parts || !parts->cnt) {
                if (parts)
                        rd_kafka_topic_partition_list_destroy(parts);
                return;
        }
        seek = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; rt->rewind_to && i < rt->rewind_to->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &rt->rewind_to->elems[i];
                if (rd_kafka_topic_partition_list_find(parts, tp->topic, tp->partition))
                        rd_kafka_topic_partition_list_add(seek, tp->topic, tp->partition)
                            ->offset = tp->offset;
        }
        sl_log_warn("transaction aborted: %d assigned partitions go back to their last "
                    "commit (%d re-read from there), the stage's state too",
                    parts->cnt, seek->cnt);
        if (stage->on_revoke)
                sl__rt_txn_call(rt, true, stage->on_revoke, parts);
        sl__rt_forget_partitions(rt, parts);
        sl__runtime_txn_forget(rt, NULL);
        if (stage->on_assign && rt->fatal == SL_OK) {
                int serr = sl__rt_txn_call(rt, false, stage->on_assign, parts);
                if (serr != SL_OK && rt->fatal == SL_OK) {
                        sl_log_error("stage could not take its partitions back: %s",
                                     sl_err2str(serr));
                        rt->fatal = serr;
                }
        }
        if (seek->cnt && rt->fatal == SL_OK) {
                rd_kafka_error_t *error =
                    rd_kafka_seek_partitions(rt->consumer, seek, SL_RT_SEEK_TIMEOUT_MS);
                for (int i = 0; !error && i < seek->cnt; i++)
                        if (seek->elems[i].err)
                                error = rd_kafka_error_new(seek->elems[i].err, "%s [%d]",
                                                           seek->elems[i].topic,
                                                           (int)seek->elems[i].partition);
                if (error) {
                        /* Going on would skip what the aborted transaction read. */
                        sl_log_error("seek back to the last commit: %s: stopping",
                                     rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        rt->fatal = SL_ERR_KAFKA;
                }
        }
        /* A stage pauses partitions it holds back; a rebalance would resume them. */
        rd_kafka_resume_partitions(rt->consumer, parts);
        rd_kafka_topic_partition_list_destroy(seek);
        rd_kafka_topic_partition_list_destroy(parts);
}

void sl__rt_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        sl_runtime_t *rt = opaque;
        const sl_stage_t *stage = rt->stage;
        bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        sl_metrics_add(rt->m_rebalances, 1);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                sl_log_info("assigned %d partitions", parts->cnt);
                if (rt->eos) {
                        sl__runtime_txn_forget(rt, parts);
                        wait_stable_offsets(rt, parts);
                }
                if (stage->on_assign && rt->fatal == SL_OK) {
                        sl_heartbeat_restore_begin(rt->hb, parts->cnt);
                        int serr = sl__rt_txn_call(rt, false, stage->on_assign, parts);
                        if (serr != SL_OK) {
                                sl_log_error("stage could not take the assignment: %s",
                                             sl_err2str(serr));
                                rt->fatal = serr;
                        }
                }
                sl_heartbeat_restore_end(rt->hb, parts->cnt);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, parts);
                sl_metrics_set(rt->m_assigned, parts->cnt);
        } else {
                sl_log_info("revoking %d partitions", parts->cnt);
                rt->revokes++;
                /* Finish the batch in hand and commit everything processed first:
                 * those records are from these partitions and must be committed
                 * before another worker takes them. */
                sl__rt_drain(rt);
                /* exactly_once: after a failed transaction, what the stage flushes now
                 * is of the void state: aborted with its transaction. */
                if (stage->on_revoke)
                        sl__rt_txn_call(rt, rt->rewind, stage->on_revoke, parts);
                sl__rt_forget_partitions(rt, parts);
                if (rt->eos) {
                        sl__runtime_txn_forget(rt, parts);
                        /* Every partition went: the next owners (this worker among
                         * them) start from the committed state. */
                        if (!cooperative)
                                rt->rewind = false;
                }
                if (cooperative)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, NULL);
                sl_metrics_set(rt->m_assigned, 0);
                sl_heartbeat_revoked(rt->hb);
        }
        if (error) {
                sl_log_error("rebalance: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (aerr) {
                sl_log_error("rebalance: %s", rd_kafka_err2str(aerr));
        }
}
