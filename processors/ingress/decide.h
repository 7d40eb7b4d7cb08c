/*
 * The decisions of sluice-ingress about events it has seen before, as pure functions:
 * what Postgres holds goes in, what to do comes out; no Kafka, no Postgres, no clock.
 * Their callers (reinjected.c, duplicates.c) do the lookups and the writes.
 *
 * A re-injected event (attempt n > 0, from sluice-retry) counts only when its retry
 * row waits on attempt n: the row may be decided (the transition table of
 * src/retry/state.h allows admit from its state) and holds attempt n, and no earlier
 * record of the batch took it.  A decision already recorded for attempt n (a replay
 * after a crash) is reused.  A fresh decision moves the row on by the table: admit,
 * hold (attempt n + 1 within retry.max.attempts) or exhaust.
 *
 * A fresh event (attempt 0) whose id Postgres already holds at another offset (a
 * publisher's resend, a re-routed record produced twice) is a duplicate: the recorded
 * decision stands.
 */
#ifndef SL_INGRESS_DECIDE_H
#define SL_INGRESS_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "limits/admission.h"
#include "retry/state.h"

/* What Postgres holds for a re-injected event. */
typedef struct sl_ingress_retried_s {
        char id[37];
        int32_t retry_attempt;  /* event_ingress_retries.attempt */
        bool state_known;       /* state parsed */
        sl_retry_state_t state; /* event_ingress_retries.state */
        int32_t event_attempt;  /* workflow_events.attempt, -1 when no row */
        sl_decision_t decision; /* workflow_events.status */
        sl_admit_reason_t reason;
        int64_t decided_at;
        bool taken; /* decided by an earlier record of this batch */
} sl_ingress_retried_t;

typedef enum {
        SL_RETRIED_STALE,     /* drop it: the row does not wait on this attempt */
        SL_RETRIED_RECORDED,  /* decided before: reuse the recorded decision */
        SL_RETRIED_EXHAUSTED, /* decided before, as exhausted: dead-letter it again */
        SL_RETRIED_DECIDE,    /* decide it now, then sl_ingress_retried_next() */
} sl_retried_step_t;

/* What to do with attempt n of a re-injected event whose retry row is r (NULL: none). */
sl_retried_step_t sl_ingress_retried_step(const sl_ingress_retried_t *r, int32_t attempt);

/* The transition of the retry row (in from) after attempt n was decided d: admit when
 * accepted, hold while n + 1 <= max_attempts, else exhaust.  SL_OK with *ev and *to,
 * or SL_ERR_STATE when the table does not allow it from that state. */
int sl_ingress_retried_next(sl_retry_state_t from, sl_decision_t d, int32_t attempt,
                            int max_attempts, sl_retry_event_t *ev, sl_retry_state_t *to);

/* The row Postgres already holds for an event id. */
typedef struct sl_ingress_recorded_s {
        char id[37];
        int32_t partition;
        int64_t offset;
        int32_t attempt;
        sl_decision_t decision;
        sl_admit_reason_t reason;
        int64_t decided_at;
} sl_ingress_recorded_t;

typedef enum {
        SL_DUP_NONE,  /* no row, or this very record's row: not a duplicate */
        SL_DUP_REUSE, /* a duplicate: its outputs follow the recorded decision */
        SL_DUP_STALE, /* a duplicate of an event in the retry flow already: drop it */
} sl_dup_action_t;

typedef struct sl_dup_outcome_s {
        sl_dup_action_t action;
        /* This batch's decision is taken back from the admission state (any duplicate).
         */
        bool unapply;
        /* The retry intent this batch wrote for it is wrong: the recorded decision was
         * an acceptance. */
        bool drop_intent;
} sl_dup_outcome_t;

/* What to do with a fresh event (attempt 0) read at (partition, offset) and decided d
 * in this batch, given the row Postgres holds for its id (r, NULL: none). */
sl_dup_outcome_t sl_ingress_duplicate(const sl_ingress_recorded_t *r, int32_t partition,
                                      int64_t offset, sl_decision_t d);

#endif
