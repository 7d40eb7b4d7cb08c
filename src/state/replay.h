/*
 * Replay safety of a stateful stage, per input partition, as pure functions: no
 * Kafka, no Postgres, no clock.
 *
 * A stage that decides per event (admission, trigger windows) writes each decision to
 * Postgres before it appends the state change to its changelog, and commits input
 * offsets last (DESIGN.md §4).  A crash can therefore leave decisions in Postgres that
 * the restored state lacks, and a restart reads input again that was decided before.
 * Each partition's state carries the last input offset it includes (the progress
 * record); after an assignment the partition is in verify mode:
 *
 *   event read in verify mode     recorded decision for its attempt?
 *                                 none / undecided       decided
 *   offset <= progress            DECIDE                 REUSE (state has it)
 *   offset >  progress            DECIDE                 REUSE_COUNT (count it now)
 *
 * Out of verify mode every event is DECIDE and nothing is looked up.  A partition
 * leaves verify mode at the end of the first batch in which it had events past its
 * progress and none of them had a recorded decision (sl_replay_end): from there on
 * the input is new, so the common path pays nothing.
 */
#ifndef SL_STATE_REPLAY_H
#define SL_STATE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

/* One input partition's replay position. */
typedef struct sl_replay_s {
        int64_t progress; /* last input offset the state includes; -1: none */
        bool verify;      /* in verify mode */
        bool saw_new;     /* this batch: an event past progress was seen in verify mode */
        bool found_new;   /* ...and one of them had a recorded decision */
} sl_replay_t;

/* What Postgres holds for an event's attempt. */
typedef enum sl_replay_record {
        SL_REPLAY_NO_RECORD = 0,    /* nothing, or only a row for another attempt */
        SL_REPLAY_RECORD_UNDECIDED, /* a row for this attempt without a decision */
        SL_REPLAY_RECORD_DECIDED,   /* a decision for this attempt */
} sl_replay_record_t;

typedef enum sl_replay_action {
        SL_REPLAY_DECIDE = 0,  /* decide now (and count the decision in the state) */
        SL_REPLAY_REUSE,       /* take the recorded decision; the state includes it */
        SL_REPLAY_REUSE_COUNT, /* take the recorded decision and count it in the state */
} sl_replay_action_t;

/* A partition just restored from its changelog, whose progress record said progress
 * (-1 when it had none): in verify mode. */
void sl_replay_restored(sl_replay_t *r, int64_t progress);

/* Start of a batch: forget the previous batch's bookkeeping. */
void sl_replay_begin(sl_replay_t *r);

/* The action for an event at offset whose attempt Postgres holds as rec (ignored out
 * of verify mode: nothing needs to be looked up then). */
sl_replay_action_t sl_replay_event(sl_replay_t *r, int64_t offset,
                                   sl_replay_record_t rec);

/* True when a decision of an event at offset is not yet in the state (offset past the
 * progress record): for a recorded decision a stage takes outside verify mode. */
bool sl_replay_is_new(const sl_replay_t *r, int64_t offset);

/* End of a batch: leave verify mode when the batch had events past progress and none
 * of them had a recorded decision.  True when the partition left verify mode. */
bool sl_replay_end(sl_replay_t *r);

/* The batch's state changes up to last_offset (the partition's last record of the
 * batch) are being appended: move progress forward.  True when it moved (a new
 * progress record is due). */
bool sl_replay_progress(sl_replay_t *r, int64_t last_offset);

#endif
