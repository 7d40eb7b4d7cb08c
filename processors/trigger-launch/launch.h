/*
 * sluice-trigger-launch: the launch stage (issue 11, docs/triggers.md).
 *
 * Consumes sluice.trigger.matches and sluice.workflow.results, both keyed by trigger
 * id and co-partitioned (the range assignor gives partition p of both to one worker),
 * so each trigger's state has one owner: its rate window, deferred queue length and
 * circuit breaker (src/trigger/launch_state.h), kept per partition in a store whose
 * changelog is sluice.trigger.launch-changelog (src/state/pstate.h), restored on
 * assignment before any record and mirrored to scheduler_state (stage 'trigger').
 *
 * Per batch:
 *   1. decode; look the batch's launch ids (UUIDv5 of trigger id and event id) up in
 *      trigger_deliveries: a match decided before (a replay after a crash, a repeat of
 *      the match stage) is never decided again; a launch it made is produced again,
 *      with the same launch id;
 *   2. decide every new match (paused, open, throttled, deferred, launched) and feed
 *      every result, and every launch whose result is overdue (result_timeout_ms), to
 *      its trigger's breaker;
 *   3. Postgres: the deliveries and the results, in two statements;
 *   4. produce the launches on sluice.workflow.launches (key: trigger id);
 *   5. launch the head of each deferred queue that has room now;
 *   6. append the changed state to the changelog; the runtime commits after delivery.
 */
#ifndef SL_TRIGGER_LAUNCH_H
#define SL_TRIGGER_LAUNCH_H

#include <stddef.h>

#include "config/config.h"
#include "runtime/runtime.h"

typedef struct sl_launch_s sl_launch_t;

sl_launch_t *sl_launch_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);
void sl_launch_destroy(sl_launch_t *lc); /* NULL-safe */
const sl_stage_t *sl_launch_stage(sl_launch_t *lc);

#endif
