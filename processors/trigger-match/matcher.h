/*
 * The match stage's decision for one event, pure: which triggers of a snapshot a
 * decoded event matches, and the parameters each match launches with.  No Kafka, no
 * Postgres, no clock: sluice-trigger-match calls it per record of events.accepted,
 * unit tests and benchmarks call it directly.
 *
 * Per event: the candidates of the event's type and source (sl_triggers_candidates:
 * exact types through the snapshot's hash map, globs scanned), disabled and paused
 * triggers included (the launch stage records their matches as 'paused'); the payload
 * parsed once, and only when some candidate's filter or template reads it; each
 * candidate's filter evaluated; for each match the parameters template filled into a
 * buffer reused across events.  Once the buffers are warm, nothing is allocated but
 * the parsed payload.
 *
 * A payload that does not parse here (ingress checked it is a JSON object jsonb takes,
 * but jansson refuses integers beyond 64 bits and reals beyond a double) matches no
 * trigger that reads the payload: a launch is never made from a payload read as
 * missing.  The result says so; the triggers that do not read it match as usual.
 */
#ifndef SL_TRIGGER_MATCHER_H
#define SL_TRIGGER_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "envelope/envelope.h"
#include "pg/triggers_watch.h"
#include "trigger/template.h"

/* Buffers reused across events; embedded by the caller (_init/_close).  One thread. */
typedef struct sl_matcher_s {
        const sl_trigger_t **cand; /* room for cap candidates */
        size_t cap;
        sl_template_buf_t params; /* the filled template of the current match */
} sl_matcher_t;

void sl_matcher_init(sl_matcher_t *mt);
void sl_matcher_close(sl_matcher_t *mt);

/* Room for the candidates of any event under ts (sl_triggers_max_candidates()): call
 * once per new snapshot; allocates only when it grows.  SL_OK or SL_ERR_NOMEM. */
int sl_matcher_reserve(sl_matcher_t *mt, const sl_triggers_t *ts);

/* One match: trigger t (borrowed from the snapshot) and its filled parameters, a JSON
 * text of params_len bytes, NUL-terminated, borrowed until the callback returns.
 * Return SL_OK to go on; any other value stops the event and is returned. */
typedef int(sl_matcher_cb)(void *opaque, const sl_trigger_t *t, const char *params,
                           size_t params_len);

/* What one event came to. */
typedef struct sl_matcher_result_s {
        size_t candidates;     /* triggers of the event's type and source */
        size_t matches;        /* callbacks made */
        bool payload_parsed;   /* the payload was parsed (a candidate reads it) */
        bool payload_bad;      /* ... and did not parse: its readers were skipped */
        size_t payload_skips;  /* candidates skipped for that */
        char payload_err[200]; /* "at <byte>: <jansson's words>" */
} sl_matcher_result_t;

/* Match env (decoded; borrowed) against ts, calling cb for each match in candidate
 * order (exact types, then globs, each in name order).  res (may be NULL) is filled.
 * Returns SL_OK; SL_ERR_NOMEM when a buffer cannot grow (matches before it were
 * called back); SL_ERR_STATE when ts has more candidates than sl_matcher_reserve()
 * made room for (a caller's bug: nothing is called back); or cb's error. */
int sl_matcher_event(sl_matcher_t *mt, const sl_triggers_t *ts, const sl_envelope_t *env,
                     sl_matcher_cb *cb, void *opaque, sl_matcher_result_t *res);

#endif
