/*
 * sluice-trigger-match's stage logic: each accepted event (sluice.events.accepted)
 * against the triggers (Postgres, followed through LISTEN/NOTIFY), one TriggerMatch
 * record per (trigger, event) match on sluice.trigger.matches, keyed by the trigger
 * id, so that each trigger's matches reach the one launch worker that owns it.
 * Stateless: nothing is written to Postgres and nothing is kept between batches but
 * buffers and metrics; the runtime commits a batch after its matches are delivered
 * (at-least-once; the launch stage dedupes repeats by launch id).  The per-event
 * decision is matcher.h's.  main.c wires it to the runtime; tests and benchmarks link
 * it directly.  See docs/triggers.md, "Match stage".
 */
#ifndef SL_TRIGGER_MATCH_STAGE_H
#define SL_TRIGGER_MATCH_STAGE_H

#include <stddef.h>

#include "config/config.h"
#include "runtime/runtime.h"

typedef struct sl_match_s sl_match_t;

/* Builds the envelope codec (with the writer schemas of schemas.dir), connects the
 * triggers watch to Postgres and loads the triggers (blocking).  conf is borrowed and
 * must outlive the stage.  NULL with errstr set.  Caller frees with
 * sl_match_destroy(). */
sl_match_t *sl_match_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);
void sl_match_destroy(sl_match_t *mat); /* NULL-safe */

/* The stage description to hand to sl_runtime_new() (borrowed, lives as long as mat). */
const sl_stage_t *sl_match_stage(sl_match_t *mat);

#endif
