/*
 * Where a consumer group resumes after its Postgres was restored to an earlier point
 * (point-in-time recovery, docs/operations/backup.md): a pure decision per input
 * partition, no Kafka and no Postgres, used by `sluicectl ingress rewind --from-db`.
 *
 * A stage commits its Kafka offsets only after its Postgres writes, so after a
 * restore the group's committed offsets can be past what the database holds: the
 * records in between would never be read again, and their rows are gone.  The
 * database says how far it got: the highest input offset of the partition it holds a
 * row for (db_last).  A batch writes its rows over several connections, each
 * committing on its own, so a restore can end inside one batch, with some of its rows
 * and not others; no batch is longer than the stage's batch size, so every record
 * before db_last + 1 - batch size is in the database.  The group resumes there
 * (margin = batch size): what it reads again is written once (every effect is
 * idempotent), what it would skip is lost, so the rewind errs towards reading more.
 *
 *   db_last + 1 < low            LOST: records after the database's last one were
 *                                deleted from the topic (retention); they cannot be
 *                                read again.  to = low.
 *   target = max(low, db_last + 1 - margin), or low when the database holds no row of
 *            the partition (db_last < 0);
 *   committed < 0 (none)         MOVE to target (not left to auto.offset.reset)
 *   committed <= target          KEEP: never moves a group forward
 *   otherwise                    MOVE to target
 */
#ifndef SL_KAFKA_REWIND_H
#define SL_KAFKA_REWIND_H

#include <stdint.h>

typedef enum sl_rewind_action {
        SL_REWIND_KEEP, /* the committed offset is already at or before the target */
        SL_REWIND_MOVE, /* commit `to` */
        SL_REWIND_LOST, /* records the database lacks are no longer in the topic */
} sl_rewind_action_t;

typedef struct sl_rewind_in_s {
        int64_t db_last;   /* highest offset Postgres holds a row for; -1: none */
        int64_t committed; /* the group's committed offset; < 0: none */
        int64_t low;       /* the partition's first offset (low watermark) */
        int64_t margin;    /* records before db_last + 1 read again too (>= 0) */
} sl_rewind_in_t;

typedef struct sl_rewind_s {
        sl_rewind_action_t action;
        int64_t to; /* MOVE: the offset to commit; KEEP: committed; LOST: low */
} sl_rewind_t;

sl_rewind_t sl_rewind_decide(const sl_rewind_in_t *in);

/* "keep", "move", "lost". */
const char *sl_rewind_action_str(sl_rewind_action_t a);

#endif
