/*
 * sluice-trigger-launch, inside: the stage object and its Postgres statements
 * (deliveries.c).  See launch.h for what the stage does.
 */
#ifndef SL_TRIGGER_LAUNCH_INT_H
#define SL_TRIGGER_LAUNCH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pg/pgarray.h"
#include "pg/session.h"
#include "trigger/launch_state.h"

/* A delivery found in Postgres (a match decided before: a replay or a repeat). */
typedef struct tl_found_s {
        char launch_id[37];
        int outcome;       /* sl_launch_outcome_t now */
        int first_outcome; /* the first decision */
        int64_t launched_at;
        bool waiting; /* launched, no result yet */
} tl_found_t;

/* The columns of the deliveries a batch inserts (one array literal each). */
enum {
        DC_LAUNCH_ID,
        DC_TRIGGER_ID,
        DC_EVENT_ID,
        DC_EVENT_TYPE,
        DC_WORKFLOW,
        DC_CORRELATION_ID,
        DC_OUTCOME,
        DC_REASON,
        DC_MATCHED_AT,
        DC_DECIDED_AT,
        DC_TRIGGER_NAME,
        DC_MATCH_OFFSET,
        DC_PARAMS,
        DC_TRACEPARENT,
        DC_ACCEPTED_AT,
        DC_PROBE,
        DC__CNT
};

/* The columns of the replayed shed matches a batch decides again. */
enum { PC_LAUNCH_ID, PC_OUTCOME, PC_AT, PC_MATCH_OFFSET, PC_PROBE, PC__CNT };

/* The columns of the results a batch records: launch id, result, error, finished_at. */
enum { RC_LAUNCH_ID, RC_RESULT, RC_ERROR, RC_FINISHED_AT, RC__CNT };

typedef struct tl_pg_s {
        sl_pg_session_t *ses;
        sl_pgarr_t dcols[DC__CNT];
        size_t ndeliveries;
        sl_pgarr_t rcols[RC__CNT];
        size_t nresults;
        sl_pgarr_t pcols[PC__CNT];
        size_t nreplays;
} tl_pg_t;

/* A deferred match at the head of its trigger's queue. */
typedef struct tl_deferred_s {
        char launch_id[37];
        char event_id[37];
        char *correlation_id; /* NULL: none */
        char *params;
        char *traceparent; /* NULL: none */
        char *workflow;
        char *trigger_name;
        int64_t accepted_at;
        char trigger_id[37]; /* relaunches only */
        int64_t launched_at; /* relaunches only */
} tl_deferred_t;

int sl__tl_pg_open(tl_pg_t *pg, const sl_conf_t *conf, char *errstr, size_t errstr_size);
void sl__tl_pg_close(tl_pg_t *pg);
void sl__tl_pg_begin(tl_pg_t *pg);

/* The deliveries recorded for these launch ids (n of them), sorted by launch id into
 * *out (caller frees), *nout rows. */
int sl__tl_pg_lookup(tl_pg_t *pg, const char *const *ids, size_t n, tl_found_t **out,
                     size_t *nout, char *errstr, size_t errstr_size);
const tl_found_t *sl__tl_found_get(const tl_found_t *f, size_t n, const char *id);

/* Queue one delivery row / one result for sl__tl_pg_write(). */
typedef struct tl_delivery_s {
        const char *launch_id, *trigger_id, *event_id, *event_type, *workflow;
        const char *correlation_id, *reason, *trigger_name, *params, *traceparent;
        sl_launch_outcome_t outcome;
        int64_t matched_at, decided_at, match_offset, accepted_at;
        bool probe;
} tl_delivery_t;
void sl__tl_pg_add_delivery(tl_pg_t *pg, const tl_delivery_t *d);
void sl__tl_pg_add_result(tl_pg_t *pg, const char *launch_id, const char *result,
                          const char *error, int64_t finished_at);
/* Queue the new decision of a replayed shed match (launched or deferred at at; its
 * queue position match_offset). */
void sl__tl_pg_add_replay(tl_pg_t *pg, const char *launch_id, sl_launch_outcome_t o,
                          int64_t at, int64_t match_offset, bool probe);
/* Insert the queued deliveries (a launch id already there is left as it is) and
 * record the queued replays (only on a row still shed) and results (only on a launched
 * row without a result yet). */
int sl__tl_pg_write(tl_pg_t *pg, char *errstr, size_t errstr_size);

/* Up to max deferred matches of trigger_id, oldest match first. */
int sl__tl_pg_deferred_head(tl_pg_t *pg, const char *trigger_id, int64_t max,
                            tl_deferred_t **out, size_t *nout, char *errstr,
                            size_t errstr_size);
void sl__tl_deferred_free(tl_deferred_t *d, size_t n);
/* The launched rows among ids still waiting for their result, to produce again. */
int sl__tl_pg_relaunches(tl_pg_t *pg, const char *const *ids, size_t n,
                         tl_deferred_t **out, size_t *nout, char *errstr,
                         size_t errstr_size);
/* Mark n deferred matches launched at launched_at (probe per row). */
int sl__tl_pg_mark_launched(tl_pg_t *pg, const tl_deferred_t *d, const bool *probe,
                            size_t n, int64_t launched_at, char *errstr,
                            size_t errstr_size);

/* On assignment, for the triggers the worker now owns (ids, n): the length of each
 * one's deferred queue (count), its launches in its rate window at now (window), and
 * the launches still waiting for a result (waiting; was_deferred: launched from the
 * deferred queue, so no input record brings it back after a crash). */
typedef void(tl_count_cb)(void *opaque, const char *trigger_id, int64_t n);
typedef void(tl_waiting_cb)(void *opaque, const char *launch_id, const char *trigger_id,
                            int64_t launched_at, bool probe, bool was_deferred);
int sl__tl_pg_restore(tl_pg_t *pg, const char *const *ids, size_t n, int64_t now,
                      tl_count_cb *count, tl_count_cb *window, tl_waiting_cb *waiting,
                      void *opaque, char *errstr, size_t errstr_size);

#endif
