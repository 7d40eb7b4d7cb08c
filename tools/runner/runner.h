/*
 * sluice-runner's stage: a stand-in workflow engine, the demo and test double of what
 * sluice's launch stage talks to (docs/runner.md).  It runs on the shared runtime over
 * <topic.prefix>workflow.launches and answers each WorkflowLaunch with a
 * WorkflowResult on <topic.prefix>workflow.results under the launch record's own key
 * (the trigger id, so the result reaches the launch worker that owns the trigger):
 * "failed" for the share fail_rate of launch ids (options.h's rule), "succeeded"
 * otherwise, latency_ms after receipt, or never while silent.  The options in force
 * are the flags with the control file on top (control.h).
 *
 * A launch id seen before is dropped, as the launch contract asks of an engine (a crash
 * between produce and commit repeats a launch under the same id): counted, logged at
 * debug, recorded with "duplicate":true and not answered again.  The seen ids live in
 * memory for the life of the process.
 *
 * Offsets: a launch answered at once is committed with its batch, after its answer
 * was delivered.  An answer waiting out its latency holds its launch's offset, so
 * nothing at or past it is committed before the batch that produces the answer was
 * delivered; after a crash the launches without a delivered answer are read again.
 * On revocation (and so at shutdown) the waiting answers of the revoked partitions are
 * dropped and their launch ids forgotten: their next owner answers them.
 */
#ifndef SL_RUNNER_H
#define SL_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "options.h"
#include "runtime/runtime.h"

typedef struct sl_runner_s sl_runner_t;

typedef struct sl_runner_args_s {
        sl_runner_opts_t opts;    /* from the flags */
        const char *group;        /* consumer group */
        const char *control_path; /* --control; NULL: none */
        const char *record_path;  /* --record; NULL: none */
} sl_runner_args_t;

typedef struct sl_runner_counts_s {
        uint64_t received;          /* launch records decoded */
        uint64_t duplicates;        /* of them, with a launch id seen before */
        uint64_t succeeded, failed; /* answers produced */
        /* received - duplicates - answered: received while silent, or dropped while
         * waiting out the latency (revoked, stopped) */
        uint64_t unanswered;
        uint64_t invalid; /* records that were not a WorkflowLaunch, skipped */
} sl_runner_counts_t;

/* The runner over conf (borrowed for its lifetime) and args (copied).  Opens the
 * record file and reads the control file once.  NULL with errstr set.  Caller frees
 * with sl_runner_destroy(). */
sl_runner_t *sl_runner_new(const sl_conf_t *conf, const sl_runner_args_t *args,
                           char *errstr, size_t errstr_size);
/* NULL-safe.  Call after the runtime is destroyed. */
void sl_runner_destroy(sl_runner_t *rn);

/* The stage to run (borrowed, valid until sl_runner_destroy()). */
const sl_stage_t *sl_runner_stage(sl_runner_t *rn);

/* The counts so far. */
void sl_runner_counts(const sl_runner_t *rn, sl_runner_counts_t *out);

#endif
