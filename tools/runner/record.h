/*
 * sluice-runner's record file (--record FILE): one JSON line per launch record
 * received, appended, for tests to read what the engine saw and what it did:
 *
 *   {"launch_id":..., "trigger_id":..., "event_id":..., "workflow":...,
 *    "params":{...}, "correlation_id":... or null, "received_at":ms,
 *    "duplicate":bool, "status":"succeeded"|"failed"|null}
 *
 * params is the launch's JSON itself (a string only when it is not valid JSON);
 * status is the answer decided at receipt, null when none is given (silent, or a
 * duplicate).  Lines are kept in memory and written by sl_runner_record_flush() (once
 * per batch) in one O_APPEND write, so between batches the file holds whole lines
 * only.  Not thread-safe.
 */
#ifndef SL_RUNNER_RECORD_H
#define SL_RUNNER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trigger/records.h"

typedef struct sl_runner_record_s sl_runner_record_t;

/* Open path for appending (created when missing).  NULL with errstr set.  Caller
 * closes with sl_runner_record_close(). */
sl_runner_record_t *sl_runner_record_open(const char *path, char *errstr,
                                          size_t errstr_size);
/* Flushes and closes; NULL-safe. */
void sl_runner_record_close(sl_runner_record_t *rec);

/* Add the line of launch l (borrowed for the call).  status: NULL for null.
 * SL_OK or SL_ERR_NOMEM. */
int sl_runner_record_put(sl_runner_record_t *rec, const sl_workflow_launch_t *l,
                         int64_t received_at, bool duplicate, const char *status);

/* Write what was added since the last flush.  SL_OK or SL_ERR_IO (logged). */
int sl_runner_record_flush(sl_runner_record_t *rec);

#endif
