/*
 * sluice-trigger-launch, inside (launch.h says what the stage does):
 *
 *   launch.c      the stage object, its callbacks, a batch's order of work, life cycle
 *   decide.c      a match decided (or found decided), a result, an overdue launch
 *   launches.c    launch records, deferred queues released, relaunches after assignment
 *   assign.c      partitions assigned (state restored, Postgres recounted) and revoked
 *   mirror.c      metrics, breaker transitions logged, reasons, the scheduler_state
 * mirror deliveries.c  the Postgres statements over trigger_deliveries
 */
#ifndef SL_TRIGGER_LAUNCH_INT_H
#define SL_TRIGGER_LAUNCH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"
#include "launch.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/session.h"
#include "pg/state_mirror.h"
#include "pg/triggers_watch.h"
#include "runtime/runtime.h"
#include "state/pstate.h"
#include "trigger/launch_state.h"
#include "trigger/pending.h"
#include "trigger/records.h"
#include "util/hmap.h"

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
        int64_t match_offset; /* its queue position; -1: unknown (rows before 0009) */
        char trigger_id[37];  /* relaunches only */
        int64_t launched_at;  /* relaunches only */
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
/* Insert the queued deliveries and record the queued replays (only on a row still
 * shed) and results (only on a launched row without a result yet).  fresh: the
 * deliveries were decided without a lookup; when one of them is in Postgres already,
 * nothing is written and *conflict is set (decide the batch again after a lookup).
 * Else a launch id already there is left as it is. */
int sl__tl_pg_write(tl_pg_t *pg, bool fresh, bool *conflict, char *errstr,
                    size_t errstr_size);

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

/* --- the stage object and what its files share ------------------------------------ */

#define RELEASE_MAX   1000 /* deferred matches one trigger launches per batch, at most */
#define DEFER_POLL_MS 100  /* how often a trigger with a deferred queue is looked at */
#define EXPIRE_CHUNK  64

/* What this worker keeps per trigger besides its state: the launches waiting for a
 * result, and what the deferred scan and the metrics need. */
typedef struct trig_s {
        char id[37];
        int32_t part;
        sl_pending_t pending;
        int64_t deferred; /* the state's deferred, for the scan */
        int64_t launches; /* since the last top-k render */
} trig_t;

/* One decoded input record. */
typedef struct in_s {
        int32_t part;
        int64_t offset;
        bool is_match;
        bool replay; /* a shed match sent again by `triggers replay-shed` */
        char launch_id[37];
        sl_trigger_match_t m;
        sl_workflow_result_t r;
} in_t;

/* A launch to produce once Postgres has the batch. */
typedef struct out_s {
        const in_t *in; /* the match, or NULL: a deferred one (d) */
        const tl_deferred_t *d;
        const char *trigger_id;
        int64_t launched_at;
        bool probe;
        bool fresh; /* decided in this batch (else produced again) */
} out_t;

/* A pending entry taken out during a batch, put back if the batch fails. */
typedef struct taken_s {
        trig_t *t;
        sl_pending_entry_t e;
} taken_t;

struct sl_launch_s {
        const sl_conf_t *conf;
        sl_stage_t stage;
        const char *topics[3];
        char topic_matches[256], topic_results[256], topic_launches[256], changelog[256];
        int32_t nparts;     /* of trigger.matches, learnt at the first assignment */
        int64_t release_at; /* next look at the deferred queues (ms); 0: none wait */

        sl_triggers_watch_t *watch;
        const sl_triggers_t *ts;
        uint64_t ts_loads;
        sl_hmap_t by_id; /* trigger id -> const sl_trigger_t * of ts */

        sl_pstate_t *ps;
        sl_hmap_t trigs; /* trigger id -> trig_t * */
        size_t pending_max;
        tl_pg_t pg;
        sl_state_mirror_t *mirror;
        int top_k;
        bool eos; /* exactly_once: relaunch only what the changelog has not released */

        /* per batch, reused */
        in_t *in;
        size_t in_cap;
        const char **ids;
        size_t ids_cap;
        out_t *out;
        size_t out_cap, nout;
        taken_t *taken;
        size_t taken_cap, ntaken;
        struct {
                char id[37];
        } * relaunch; /* launches to produce again (restore_waiting) */
        size_t relaunch_cap, nrelaunch;
        int64_t *last_offsets;
        int32_t last_cap;
        sl_hmap_t seen; /* launch ids of the batch */
        sl_rec_buf_t buf;
        struct {
                uint64_t decisions[SL_LAUNCH__CNT], results[3], unknown_results;
        } counts; /* the batch's, added to the metrics once it is in Postgres */

        sl_metric_t *m_decisions[SL_LAUNCH__CNT], *m_replays[SL_LAUNCH__CNT], *m_replayed,
            *m_results[3], *m_transitions[3], *m_undecodable, *m_unknown_result,
            *m_latency, *m_deferred, *m_waiting, *m_breakers[3], *m_mirror_errors,
            *m_redecided;
};

/* launch.c */
void sl__tl_policy_of(const sl_trigger_t *t, sl_launch_policy_t *pol);
void sl__tl_triggers_refresh(sl_launch_t *lc);
trig_t *sl__tl_trig_get(sl_launch_t *lc, const char *id, int32_t part);
void sl__tl_trig_free(void *v);
void sl__tl_grow(void **v, size_t *cap, size_t need, size_t elem);
void sl__tl_out_add(sl_launch_t *lc, out_t o);
void sl__tl_taken_add(sl_launch_t *lc, trig_t *t, const sl_pending_entry_t *e);
void sl__tl_taken_restore(sl_launch_t *lc);
void sl__tl_wait_for_result(trig_t *t, const char *launch_id, int64_t launched_at,
                            int64_t timeout_ms, bool probe);
size_t sl__tl_decode_batch(sl_launch_t *lc, rd_kafka_message_t **msgs, size_t cnt);
void sl__tl_clear_batch(sl_launch_t *lc, size_t n);

/* decide.c: one match (found in Postgres or not), one result, the overdue launches */
void sl__tl_match_recorded(sl_launch_t *lc, in_t *in, const tl_found_t *f,
                           const sl_trigger_t *t, sl_tstate_t *st, int64_t now);
void sl__tl_match_decide(sl_launch_t *lc, in_t *in, const sl_trigger_t *t,
                         sl_tstate_t *st, int64_t now);
void sl__tl_result_one(sl_launch_t *lc, const in_t *in, int64_t now);
void sl__tl_expire_all(sl_launch_t *lc, int64_t now);

/* launches.c */
int sl__tl_produce_launch(sl_launch_t *lc, sl_runtime_t *rt, const out_t *o);
int sl__tl_release_deferred(sl_launch_t *lc, sl_runtime_t *rt, int64_t now);
int sl__tl_relaunch(sl_launch_t *lc, sl_runtime_t *rt);

/* assign.c */
int32_t sl__tl_part_of(const sl_launch_t *lc, const char *trigger_id);
int sl__tl_assign(void *opaque, sl_runtime_t *rt,
                  const rd_kafka_topic_partition_list_t *parts);
int sl__tl_revoke(void *opaque, sl_runtime_t *rt,
                  const rd_kafka_topic_partition_list_t *parts);

/* mirror.c */
void sl__tl_register_metrics(sl_launch_t *lc);
void sl__tl_transition(sl_launch_t *lc, const char *trigger_id, const char *name,
                       const sl_breaker_transition_t *tr);
const char *sl__tl_reason_of(char *buf, size_t size, sl_launch_outcome_t o,
                             const sl_trigger_t *t, const sl_launch_policy_t *pol,
                             const sl_tstate_t *st, int64_t now, bool probe);
void sl__tl_mirror(sl_launch_t *lc, bool force);

#endif
