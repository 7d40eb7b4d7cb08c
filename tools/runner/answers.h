/*
 * sluice-runner's answers waiting out their latency (--latency-ms): a FIFO in receipt
 * order, each answer with the time it is due and the input offset the runtime holds
 * for it until it is produced.  Answers go out in receipt order, none before its time:
 * after the latency is cut at run time, a newer answer waits behind older ones (at
 * most the old latency), as in an engine with one worker.  No librdkafka, no clock.
 */
#ifndef SL_RUNNER_ANSWERS_H
#define SL_RUNNER_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trigger/records.h"

typedef struct sl_runner_answer_s {
        int64_t due_at; /* ms since the epoch */
        int32_t partition;
        int64_t offset; /* of the launch record, held until the answer is produced */
        bool failed;
        /* Copies, in one block (mem_) the answer owns. */
        const char *launch_id, *trigger_id, *event_id;
        const void *key; /* the launch record's key; NULL when it had none */
        size_t key_len;
        char *mem_;
} sl_runner_answer_t;

/* Copy what answering l needs (l and key borrowed for the call) into *a; the caller
 * sets due_at, partition, offset and failed.  SL_OK or SL_ERR_NOMEM (*a zeroed). */
int sl_runner_answer_init(sl_runner_answer_t *a, const sl_workflow_launch_t *l,
                          const void *key, size_t key_len);
/* Free a's copies; a is zeroed (safe on a zeroed answer). */
void sl_runner_answer_clear(sl_runner_answer_t *a);

typedef struct sl_runner_answers_s {
        sl_runner_answer_t *v; /* v[head .. head + cnt) queued, oldest first */
        size_t head, cnt, cap;
} sl_runner_answers_t;

void sl_runner_answers_init(sl_runner_answers_t *q);
/* Clears every queued answer and frees the array. */
void sl_runner_answers_close(sl_runner_answers_t *q);

/* Queue *a behind the others.  Takes ownership: on SL_OK *a is zeroed; on
 * SL_ERR_NOMEM nothing changed and the caller still owns it. */
int sl_runner_answers_push(sl_runner_answers_t *q, sl_runner_answer_t *a);
/* The oldest answer's due_at, INT64_MAX when empty. */
int64_t sl_runner_answers_next_due(const sl_runner_answers_t *q);
/* Pop the oldest answer into *out when its due_at <= now: true, and the caller owns
 * it (sl_runner_answer_clear()).  False, *out untouched, otherwise. */
bool sl_runner_answers_pop_due(sl_runner_answers_t *q, int64_t now,
                               sl_runner_answer_t *out);
/* Drop every answer of partition (revoked: its next owner reads the launches again),
 * calling each(opaque, a) on it first when each is not NULL.  Returns how many. */
size_t sl_runner_answers_drop_partition(sl_runner_answers_t *q, int32_t partition,
                                        void (*each)(void *opaque,
                                                     const sl_runner_answer_t *a),
                                        void *opaque);

static inline size_t sl_runner_answers_count(const sl_runner_answers_t *q)
{
        return q->cnt;
}

#endif
