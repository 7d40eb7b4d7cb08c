/*
 * exactly_once (DESIGN.md §4, runtime.h): the runtime's Kafka transactions.  The
 * producer gets a transactional.id (exactly_once.transactional.id, or one derived from
 * the stage's group, the host name and http.port), initialises transactions at start
 * (which fences an earlier incarnation with the same id and aborts what it left open),
 * and runs one transaction at a time: begun before a callback that may produce,
 * committed with the input offsets of the batches it holds (send_offsets_to_transaction
 * with the consumer's group metadata), or aborted.
 *
 * Errors are handled as librdkafka documents them: a retriable one retries the call; an
 * abortable one aborts the transaction; a fatal one (or one with neither flag) destroys
 * the producer and makes a new one, which initialises transactions again under the
 * same id.  Either way the runtime's state since the last commit is void (rt->rewind),
 * and runtime.c takes every partition back to its last committed offset.  Two fatal
 * errors are not recovered from: being fenced (another live process initialised
 * transactions with this id, and fighting back would fence it in turn), and a producer
 * that fails again right after being re-created.  What to commit, and rewinding, are
 * runtime.c's business.  The runtime's thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "runtime/runtime_int.h"
#include "sluice/err.h"

/* How long one transactional call may block (init, send offsets); commit and abort
 * take the remaining transaction time, as librdkafka recommends. */
#define SL_RT_TXN_CALL_MS 30000
/* Attempts of a call that keeps failing with retriable errors. */
#define SL_RT_TXN_ATTEMPTS 5
/* Producers re-created in a row (no transaction committed in between). */
#define SL_RT_TXN_RECREATE_MAX 3

typedef enum txn_res {
        TXN_OK,
        TXN_RETRY, /* the call may be made again */
        TXN_ABORT, /* the transaction must be aborted */
        TXN_FATAL, /* the producer is done for */
} txn_res_t;

/* What error means, logged once; error is destroyed. */
static txn_res_t classify(sl_runtime_t *rt, rd_kafka_error_t *error, const char *what)
{
        txn_res_t res;

        if (!error)
                return TXN_OK;
        if (rd_kafka_error_is_fatal(error))
                res = TXN_FATAL;
        else if (rd_kafka_error_txn_requires_abort(error))
                res = TXN_ABORT;
        else if (rd_kafka_error_is_retriable(error))
                res = TXN_RETRY;
        else
                res = TXN_FATAL; /* neither flag: librdkafka advises treating it so */
        sl_log(res == TXN_RETRY ? SL_LOG_WARN : SL_LOG_ERROR, NULL,
               "transaction (%s): %s: %s (%s)", rt->txn_id, what,
               rd_kafka_error_string(error),
               res == TXN_RETRY   ? "retriable"
               : res == TXN_ABORT ? "abortable"
                                  : "fatal");
        rd_kafka_error_destroy(error);
        return res;
}

/* A producer fenced by another with the same transactional.id. */
static bool fenced(rd_kafka_t *producer)
{
        char buf[256];
        rd_kafka_resp_err_t err = rd_kafka_fatal_error(producer, buf, sizeof(buf));

        return err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
               err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
               err == RD_KAFKA_RESP_ERR__FENCED;
}

static int init_transactions(sl_runtime_t *rt, char *errstr, size_t errstr_size)
{
        for (int attempt = 1;; attempt++) {
                rd_kafka_error_t *error =
                    rd_kafka_init_transactions(rt->producer, SL_RT_TXN_CALL_MS);
                if (!error)
                        return SL_OK;
                bool retry =
                    rd_kafka_error_is_retriable(error) && attempt < SL_RT_TXN_ATTEMPTS;
                snprintf(errstr, errstr_size,
                         "init_transactions (transactional.id %s): %s", rt->txn_id,
                         rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                if (!retry)
                        return SL_ERR_KAFKA;
                sl_log_warn("%s; trying again", errstr);
        }
}

int sl__runtime_txn_id(const sl_conf_t *conf, const char *group_id, char *buf,
                       size_t size)
{
        const char *id = sl_conf_get(conf, "exactly_once.transactional.id");
        char host[256];

        if (id && *id)
                return snprintf(buf, size, "%s", id) < (int)size ? SL_OK : SL_ERR_CONFIG;
        if (gethostname(host, sizeof(host)) != 0)
                snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        return snprintf(buf, size, "%s-%s-%lld", group_id, host,
                        (long long)sl_conf_get_int(conf, "http.port")) < (int)size
                   ? SL_OK
                   : SL_ERR_CONFIG;
}

int sl__runtime_producer_new(sl_runtime_t *rt, char *errstr, size_t errstr_size)
{
        if (!rt->eos) {
                rt->producer = sl_kafka_producer_new(rt->conf, sl__runtime_dr_msg_cb, rt,
                                                     errstr, errstr_size);
                return rt->producer ? SL_OK : SL_ERR_KAFKA;
        }
        rt->producer = sl_kafka_txn_producer_new(
            rt->conf, rt->txn_id, sl__runtime_dr_msg_cb, rt, errstr, errstr_size);
        if (!rt->producer)
                return SL_ERR_KAFKA;
        if (init_transactions(rt, errstr, errstr_size) != SL_OK) {
                rd_kafka_destroy(rt->producer);
                rt->producer = NULL;
                return SL_ERR_KAFKA;
        }
        rt->txn_open = false;
        return SL_OK;
}

/* Serve the delivery reports of what an abort or a purge failed, then forget those
 * failures: they belong to the transaction that is gone. */
static void forget_failed_outputs(sl_runtime_t *rt)
{
        for (int i = 0; i < 500 && rd_kafka_outq_len(rt->producer) > 0; i++)
                rd_kafka_poll(rt->producer, 10);
        rd_kafka_poll(rt->producer, 0);
        rt->dr_failed = 0;
        rt->txn_doomed = false;
}

/* The producer failed fatally: make another one (transactions initialised again under
 * the same id), unless it was fenced or keeps failing.  Sets rt->fatal when it gives
 * up. */
static void recreate(sl_runtime_t *rt)
{
        /* Kept when no fatal error was raised (an error with neither flag). */
        char errstr[512], why[256] = "an error neither retriable nor abortable";
        rd_kafka_t *old;
        int err;

        rd_kafka_fatal_error(rt->producer, why, sizeof(why));
        rt->txn_open = false;
        if (fenced(rt->producer)) {
                sl_log_error(
                    "transactional.id %s was taken over by another producer (%s): "
                    "another process runs with the same id, so this one stops "
                    "(two processes must never share a transactional.id, see "
                    "docs/operations.md)",
                    rt->txn_id, why);
                rt->fatal = SL_ERR_KAFKA;
                return;
        }
        if (rt->recreates >= SL_RT_TXN_RECREATE_MAX) {
                sl_log_error(
                    "transactional producer failed fatally %d times in a row (%s): "
                    "stopping",
                    rt->recreates + 1, why);
                rt->fatal = SL_ERR_KAFKA;
                return;
        }
        rt->recreates++;
        sl_metrics_add(rt->m_producer_recreates, 1);
        sl_log_warn("transactional producer failed fatally (%s): re-creating it", why);
        sl__runtime_topics_close(rt);
        old = rt->producer;
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(old, 0);
        /* The new one first, so it never gets the old one's address: nothing that held
         * the old pointer can mistake one for the other. */
        err = sl__runtime_producer_new(rt, errstr, sizeof(errstr));
        rd_kafka_destroy(old);
        if (err != SL_OK) {
                sl_log_error("re-creating the transactional producer: %s", errstr);
                rt->producer = NULL;
                rt->fatal = SL_ERR_KAFKA;
                return;
        }
        rt->dr_failed = 0;
        rt->txn_doomed = false;
}

int sl__runtime_txn_begin(sl_runtime_t *rt)
{
        if (!rt->eos || rt->txn_open || rt->fatal != SL_OK)
                return rt->fatal;
        for (;;) {
                txn_res_t res = classify(rt, rd_kafka_begin_transaction(rt->producer),
                                         "begin_transaction");
                if (res == TXN_OK) {
                        rt->txn_open = true;
                        return SL_OK;
                }
                /* Nothing is in a transaction yet: only a fatal error is possible. */
                recreate(rt);
                if (rt->fatal != SL_OK)
                        return rt->fatal;
        }
}

void sl__runtime_txn_offsets(sl_runtime_t *rt,
                             const rd_kafka_topic_partition_list_t *offsets)
{
        if (!rt->txn_offsets)
                rt->txn_offsets = rd_kafka_topic_partition_list_new(offsets->cnt);
        for (int i = 0; i < offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
                rd_kafka_topic_partition_t *to = rd_kafka_topic_partition_list_find(
                    rt->txn_offsets, tp->topic, tp->partition);
                if (!to)
                        to = rd_kafka_topic_partition_list_add(rt->txn_offsets, tp->topic,
                                                               tp->partition);
                to->offset = tp->offset;
        }
}

/* Offsets and commit; TXN_OK, TXN_ABORT or TXN_FATAL. */
static txn_res_t commit(sl_runtime_t *rt)
{
        txn_res_t res = TXN_OK;

        if (rt->txn_offsets && rt->txn_offsets->cnt) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(rt->consumer);
                for (int attempt = 1;; attempt++) {
                        res = classify(
                            rt,
                            rd_kafka_send_offsets_to_transaction(
                                rt->producer, rt->txn_offsets, cgmd, SL_RT_TXN_CALL_MS),
                            "send_offsets_to_transaction");
                        if (res != TXN_RETRY)
                                break;
                        if (attempt == SL_RT_TXN_ATTEMPTS) {
                                res = TXN_ABORT;
                                break;
                        }
                        rd_kafka_poll(rt->producer, 100);
                }
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                if (res != TXN_OK)
                        return res;
        }
        for (int attempt = 1;; attempt++) {
                res = classify(rt, rd_kafka_commit_transaction(rt->producer, -1),
                               "commit_transaction");
                if (res != TXN_RETRY)
                        return res;
                if (attempt == SL_RT_TXN_ATTEMPTS)
                        return TXN_ABORT;
        }
}

/* Abort: TXN_OK or TXN_FATAL. */
static txn_res_t abort_txn(sl_runtime_t *rt)
{
        for (int attempt = 1;; attempt++) {
                txn_res_t res = classify(rt, rd_kafka_abort_transaction(rt->producer, -1),
                                         "abort_transaction");
                if (res == TXN_OK || res == TXN_FATAL)
                        return res;
                if (attempt == SL_RT_TXN_ATTEMPTS)
                        return TXN_FATAL;
        }
}

int sl__runtime_txn_end(sl_runtime_t *rt, bool do_commit)
{
        txn_res_t res = TXN_OK;
        bool committed = false, progress = rt->txn_offsets && rt->txn_offsets->cnt > 0;

        if (!rt->eos || !rt->txn_open)
                return SL_OK;
        if (do_commit && !rt->txn_doomed && !rt->rewind) {
                res = commit(rt);
                committed = res == TXN_OK;
        }
        if (!committed && res != TXN_FATAL)
                res = abort_txn(rt);
        rt->txn_open = false;
        if (committed && rt->txn_offsets)
                sl__runtime_txn_consumed_to(rt, rt->txn_offsets);
        if (rt->txn_offsets)
                rd_kafka_topic_partition_list_destroy(rt->txn_offsets);
        rt->txn_offsets = NULL;
        if (res == TXN_FATAL) {
                sl_metrics_add(rt->m_txn_aborts, 1);
                rt->rewind = true;
                recreate(rt);
                return SL_ERR_KAFKA;
        }
        if (committed) {
                sl_metrics_add(rt->m_txn_commits, 1);
                if (progress) { /* not an empty one (a tick's): the failures are over */
                        rt->recreates = 0;
                        rt->txn_failures = 0;
                }
                return SL_OK;
        }
        sl_metrics_add(rt->m_txn_aborts, 1);
        forget_failed_outputs(rt);
        if (do_commit)
                rt->rewind = true; /* aborted against the caller's will */
        return SL_ERR_KAFKA;
}

/* Where partition tp's last committed transaction left it: set to offset. */
static void rewind_set(sl_runtime_t *rt, const char *topic, int32_t partition,
                       int64_t offset, bool only_new)
{
        rd_kafka_topic_partition_t *tp;

        if (!rt->rewind_to)
                rt->rewind_to = rd_kafka_topic_partition_list_new(16);
        tp = rd_kafka_topic_partition_list_find(rt->rewind_to, topic, partition);
        if (tp && only_new)
                return;
        if (!tp)
                tp = rd_kafka_topic_partition_list_add(rt->rewind_to, topic, partition);
        tp->offset = offset;
}

void sl__runtime_txn_consumed(sl_runtime_t *rt, rd_kafka_message_t **msgs, size_t cnt)
{
        /* A partition's first record since its assignment is where it started: the
         * offset its last commit (or the reset policy) put the consumer at. */
        for (size_t i = 0; i < cnt; i++)
                rewind_set(rt, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition,
                           msgs[i]->offset, true);
}

void sl__runtime_txn_consumed_to(sl_runtime_t *rt,
                                 const rd_kafka_topic_partition_list_t *committed)
{
        for (int i = 0; i < committed->cnt; i++)
                rewind_set(rt, committed->elems[i].topic, committed->elems[i].partition,
                           committed->elems[i].offset, false);
}

void sl__runtime_txn_forget(sl_runtime_t *rt,
                            const rd_kafka_topic_partition_list_t *parts)
{
        if (!rt->rewind_to)
                return;
        if (!parts) {
                rd_kafka_topic_partition_list_destroy(rt->rewind_to);
                rt->rewind_to = NULL;
                return;
        }
        for (int i = 0; i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(rt->rewind_to, parts->elems[i].topic,
                                                  parts->elems[i].partition);
}
