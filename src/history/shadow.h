/*
 * Shadow evaluation: what a trigger or a source's limits that are not saved would
 * have done to past events, decided by the stages' own code on an injected clock
 * driven by the events' times.  Pure: no Postgres, no Kafka, no time() calls; the
 * caller (sluicectl triggers test / sources test) reads history in occurred_at order
 * and hands each event over, and sums the counts per report window.
 *
 * A trigger, per accepted event at its occurred_at (now):
 *
 *   not of the trigger's type and source (sl_triggers_candidates)  not counted
 *   otherwise                                   considered
 *   its filter (sl_filter_eval) is false, or reads a payload that
 *   does not parse                              considered only
 *   matched: first the deferred queue is released as far as the
 *   window allows at now (sl_launch_release_one): each one released
 *   then sl_launch_decide(now): launched / throttled / deferred / paused / open
 *
 * No results come back in a shadow run, so the breaker never opens; a deferred queue
 * is released when a later event's time finds room (the stage also releases between
 * events, at the window's start: the counts are the same, only its time differs).
 *
 * A source, per event of the source (any status) at its occurred_at:
 * sl_admission_decide() with no manual pause: accepted, throttled or paused (auto).
 * The dead-letter breaker is not evaluated (dead letters are not in workflow_events),
 * and an event counts once, as its first delivery (retries are not in history as
 * events of their own).
 */
#ifndef SL_HISTORY_SHADOW_H
#define SL_HISTORY_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope/envelope.h"
#include "limits/admission.h"
#include "pg/triggers_watch.h"
#include "trigger/launch_state.h"

typedef struct sl_shadow_counts_s {
        int64_t considered;              /* events of the trigger's type (and source) */
        int64_t matched;                 /* ... its filter matched */
        int64_t outcome[SL_LAUNCH__CNT]; /* decisions, by sl_launch_outcome_t */
        int64_t released;                /* deferred matches launched later */
} sl_shadow_counts_t;

typedef struct sl_shadow_trigger_s {
        const sl_triggers_t *ts; /* borrowed: a snapshot of the one trigger */
        const sl_trigger_t *t;
        sl_launch_policy_t pol;
        sl_tstate_t st;
} sl_shadow_trigger_t;

/* ts: a snapshot holding the trigger to evaluate (its first), borrowed for sh's life. */
void sl_shadow_trigger_init(sl_shadow_trigger_t *sh, const sl_triggers_t *ts);

/* Whether the trigger's filter reads the payload (else payload may be NULL). */
bool sl_shadow_trigger_reads_payload(const sl_shadow_trigger_t *sh);

/* One accepted event (borrowed) at now; payload: the parsed payload, NULL when not
 * needed or when it did not parse.  Counts into c. */
void sl_shadow_trigger_event(sl_shadow_trigger_t *sh, const sl_envelope_t *env,
                             const json_t *payload, int64_t now, sl_shadow_counts_t *c);

typedef struct sl_shadow_admit_s {
        int64_t events;
        int64_t decision[SL_DECISION_PAUSED + 1]; /* by sl_decision_t */
} sl_shadow_admit_t;

typedef struct sl_shadow_source_s {
        sl_limits_t lim;
        sl_source_state_t st;
} sl_shadow_source_t;

/* One event of the source at now, counted into c. */
void sl_shadow_source_event(sl_shadow_source_t *sh, int64_t now, sl_shadow_admit_t *c);

#endif
