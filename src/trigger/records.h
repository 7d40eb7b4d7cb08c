/*
 * The trigger stage's records, Avro binary (schemas/trigger_match.avsc,
 * workflow_launch.avsc, workflow_result.avsc; the field order here is the schemas'):
 *
 *   sluice.trigger.matches   TriggerMatch    match stage -> launch stage
 *   sluice.workflow.launches WorkflowLaunch  launch stage -> workflow engine
 *   sluice.workflow.results  WorkflowResult  workflow engine -> launch stage
 *
 * All three are keyed by the trigger id's text, so a trigger's matches and results
 * reach the one launch worker that owns the trigger (murmur2, co-partitioned topics).
 *
 * Encode into a caller-owned buffer that grows and is reused across calls (no
 * allocation once warm).  Decode borrows: strings point into an arena the record
 * owns (sl_trigger_rec_clear frees it), so the input buffer may go.
 */
#ifndef SL_TRIGGER_RECORDS_H
#define SL_TRIGGER_RECORDS_H

#include <stddef.h>
#include <stdint.h>

/* A growing output buffer; zero it before the first use, sl_rec_buf_free() at the end. */
typedef struct sl_rec_buf_s {
        unsigned char *p;
        size_t len;
        size_t cap;
} sl_rec_buf_t;

void sl_rec_buf_free(sl_rec_buf_t *b);

/* Strings are NUL-terminated; correlation_id and traceparent may be NULL (Avro null). */
typedef struct sl_trigger_match_s {
        const char *trigger_id;
        const char *trigger_name;
        const char *event_id;
        const char *event_type;
        const char *source;
        const char *correlation_id;
        const char *traceparent;
        const char *workflow;
        const char *params; /* JSON object text */
        int64_t occurred_at;
        int64_t accepted_at;
        int64_t matched_at;
        char *arena_; /* decode only */
} sl_trigger_match_t;

typedef struct sl_workflow_launch_s {
        const char *launch_id;
        const char *trigger_id;
        const char *trigger_name;
        const char *workflow;
        const char *params;
        const char *event_id;
        const char *correlation_id;
        const char *traceparent;
        int64_t accepted_at;
        int64_t launched_at;
        char *arena_;
} sl_workflow_launch_t;

typedef struct sl_workflow_result_s {
        const char *launch_id;
        const char *trigger_id;
        const char *status; /* "succeeded" or "failed" */
        const char *error;  /* NULL: none */
        int64_t finished_at;
        char *arena_;
} sl_workflow_result_t;

/* b->len is set to the record's size (b->p holds it).  SL_OK, SL_ERR_INVALID when a
 * required string is NULL, SL_ERR_NOMEM. */
int sl_trigger_match_encode(const sl_trigger_match_t *m, sl_rec_buf_t *b);
int sl_workflow_launch_encode(const sl_workflow_launch_t *l, sl_rec_buf_t *b);
int sl_workflow_result_encode(const sl_workflow_result_t *r, sl_rec_buf_t *b);

/* SL_OK, SL_ERR_DECODE (truncated, trailing bytes, a bad union index, a string with a
 * NUL in it, an unknown status) or SL_ERR_NOMEM; on failure *out is cleared. */
int sl_trigger_match_decode(const void *buf, size_t len, sl_trigger_match_t *out);
int sl_workflow_launch_decode(const void *buf, size_t len, sl_workflow_launch_t *out);
int sl_workflow_result_decode(const void *buf, size_t len, sl_workflow_result_t *out);

/* Free a decoded record's arena (NULL-safe on a zeroed record). */
void sl_trigger_match_clear(sl_trigger_match_t *m);
void sl_workflow_launch_clear(sl_workflow_launch_t *l);
void sl_workflow_result_clear(sl_workflow_result_t *r);

#endif
