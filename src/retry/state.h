/*
 * The retry lifecycle of one held-back event (a row of event_ingress_retries), as a
 * state machine.  Postgres holds the state; every transition is one guarded UPDATE
 * whose WHERE clause is sl_retry_transition()'s "from" set, so this table and the SQL
 * of sluice-retry, sluice-ingress and `sluicectl retries` say the same thing.
 *
 *   scheduled   --wake-->      due          sluice-retry: the event was re-injected
 *   rescheduled --wake-->      due
 *   due         --admit-->     completed    ingress admitted the re-injected attempt
 *   due         --hold-->      rescheduled  held back again: attempt + 1
 *   due         --exhaust-->   exhausted    past retry.max.attempts: dead-lettered
 *   due         --redrive-->   scheduled    reconciliation: re-injected but never
 * finished scheduled, rescheduled, due --cancel--> cancelled   (sluicectl retries cancel)
 *
 * sluice-retry re-injects an attempt once a read of its row finds it waiting for that
 * attempt, and writes the 'due' mark behind the re-injection, off the latency path; so
 * ingress may decide the attempt before the mark lands, and admit / hold / exhaust are
 * allowed from scheduled and rescheduled too (the late mark then matches nothing).
 * completed, cancelled and exhausted are final.
 */
#ifndef SL_RETRY_STATE_H
#define SL_RETRY_STATE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sl_retry_state {
        SL_RETRY_SCHEDULED,
        SL_RETRY_DUE,
        SL_RETRY_COMPLETED,
        SL_RETRY_RESCHEDULED,
        SL_RETRY_CANCELLED,
        SL_RETRY_EXHAUSTED,
        SL_RETRY__STATE_CNT
} sl_retry_state_t;

typedef enum sl_retry_event {
        SL_RETRY_EV_WAKE,
        SL_RETRY_EV_ADMIT,
        SL_RETRY_EV_HOLD,
        SL_RETRY_EV_EXHAUST,
        SL_RETRY_EV_REDRIVE,
        SL_RETRY_EV_CANCEL,
        SL_RETRY__EV_CNT
} sl_retry_event_t;

/* The state's name as stored in Postgres ("scheduled", ...); "?" when out of range. */
const char *sl_retry_state_str(sl_retry_state_t s);
/* SL_OK and *out, or SL_ERR_INVALID when s names no state. */
int sl_retry_state_parse(const char *s, sl_retry_state_t *out);
const char *sl_retry_event_str(sl_retry_event_t ev);

/* SL_OK with *to the state after ev in from, or SL_ERR_STATE when ev is not allowed
 * in from (a duplicate or stale wake-up, a cancel of a finished retry, ...). */
int sl_retry_transition(sl_retry_state_t from, sl_retry_event_t ev, sl_retry_state_t *to);

/*
 * The state sets the stages' SQL uses, as SQL literals.  They are the transition
 * table's "from" sets (and "to" states): test_retry_due checks them against
 * sl_retry_state_set_sql() and sl_retry_transition(), so a change to the table that
 * the SQL does not follow fails the unit tests.
 *   WAITING    from-set of wake: rows waiting for a wake-up
 *   DECIDABLE  from-set of admit, hold, exhaust and cancel: the open rows
 *   REDRIVABLE from-set of redrive
 *   WAKE_TO, REDRIVE_TO  the state wake and redrive move a row to
 */
#define SL_RETRY_SQL_WAITING    "('scheduled', 'rescheduled')"
#define SL_RETRY_SQL_DECIDABLE  "('scheduled', 'due', 'rescheduled')"
#define SL_RETRY_SQL_REDRIVABLE "('due')"
#define SL_RETRY_SQL_WAKE_TO    "'due'"
#define SL_RETRY_SQL_REDRIVE_TO "'scheduled'"

/* Render ev's "from" set as an SQL list literal ("('scheduled', 'rescheduled')"), the
 * states in enum order.  The length written (as snprintf), -1 when ev is out of range. */
int sl_retry_state_set_sql(sl_retry_event_t ev, char *buf, size_t size);

/*
 * The wake-up guard for a batch, on table: $1 uuid[] of event ids, $2 int[] of their
 * attempts.  Returns, per (id, attempt) whose row waits for that attempt ('scheduled'
 * or 'rescheduled'), its ordinal in the arrays and its next_attempt_at in ms; the
 * others are duplicate, stale or cancelled wake-ups.  DISTINCT ON returns one of
 * duplicate wake-ups in the batch; it also keeps the plan a nested loop over the
 * primary key, where a bare unnest() gets a hash join over the whole table.  Read-only:
 * the 'due' mark (below) is written after the re-injection.
 */
#define SL_RETRY_GUARD_SQL(table)                                                        \
        "SELECT u.ord, (date_part('epoch', r.next_attempt_at) * 1000)::bigint "          \
        "FROM (SELECT DISTINCT ON (id, att) id, att, ord "                               \
        "      FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS x(id, att, ord)) "  \
        "u "                                                                             \
        "JOIN " table " r ON r.event_id = u.id AND r.attempt = u.att "                   \
        "WHERE r.state IN " SL_RETRY_SQL_WAITING

/*
 * The wake transition for re-injected attempts, on table: $1 uuid[], $2 int[] as above.
 * A row ingress has decided meanwhile (or cancelled, or moved to a later attempt) is
 * left alone, and so is one locked right now (SKIP LOCKED: ingress deciding it, a
 * reconciliation round, a cancel; the mark is moot then), so the mark never waits on
 * ingress's transaction and the two cannot deadlock.  Macros so that bench/retry's
 * baseline runs the very statements sluice-retry runs, on a copy.
 */
#define SL_RETRY_MARK_DUE_SQL(table)                                                     \
        "WITH l AS (SELECT r.event_id "                                                  \
        "  FROM (SELECT DISTINCT ON (id, att) id, att "                                  \
        "        FROM unnest($1::uuid[], $2::int[]) AS x(id, att)) u "                   \
        "  JOIN " table " r ON r.event_id = u.id AND r.attempt = u.att "                 \
        "  WHERE r.state IN " SL_RETRY_SQL_WAITING " FOR UPDATE OF r SKIP LOCKED) "      \
        "UPDATE " table " r SET state = " SL_RETRY_SQL_WAKE_TO ", updated_at = now() "   \
        "FROM l WHERE r.event_id = l.event_id AND r.state IN " SL_RETRY_SQL_WAITING

/* Waiting for a wake-up: scheduled or rescheduled. */
bool sl_retry_state_waiting(sl_retry_state_t s);
/* completed, cancelled or exhausted: nothing will ever change it again. */
bool sl_retry_state_final(sl_retry_state_t s);

#endif
