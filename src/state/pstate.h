/*
 * A stateful stage's state, per input partition (DESIGN.md §3): values under string
 * keys in a changelog-backed store (store.h), restored on assignment, flushed with a
 * progress record per partition, verified on replay (replay.h), and worked on per
 * batch through a working set so each key is decoded once and encoded once a batch.
 * Admission keeps one value per source this way (processors/ingress/admit.c); the
 * trigger stage keeps one per trigger.
 *
 * Values are the stage's own structs; the codec callbacks turn them into changelog
 * bytes and back.  This module knows nothing of what a value means: deciding,
 * looking recorded decisions up in Postgres and mirroring are the stage's.
 *
 * A batch: sl_pstate_begin(), then per event sl_pstate_work() for the key's working
 * copy and, while sl_pstate_verifying(), sl_pstate_replay() with what Postgres holds
 * for it, then sl_pstate_end() (working copies written back), then, once the batch's
 * outputs are produced, sl_pstate_flush().  Keys the stage changed are remembered
 * (sl_pstate_touch) until the stage clears them, for its mirror and metrics.
 *
 * Not thread-safe: the stage thread owns it.
 */
#ifndef SL_STATE_PSTATE_H
#define SL_STATE_PSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config/config.h"
#include "state/replay.h"

/* How a stage's values and progress records are stored. */
typedef struct sl_pstate_codec_s {
        size_t value_size;  /* bytes of a decoded value; a missing key reads as zeroes */
        size_t encoded_max; /* bytes an encoded value can take (at most 512) */
        const char *key_prefix; /* store key = prefix + key ("s:") */
        /* SL_OK, or an error: the key then starts afresh (zeroes), with a warning. */
        int (*decode)(const void *buf, size_t len, void *value);
        /* Bytes written to buf (encoded_max of room). */
        size_t (*encode)(const void *value, unsigned char *buf);
        const char *progress_key; /* must not start with key_prefix ("o:") */
        size_t (*progress_encode)(int64_t offset, unsigned char *buf); /* 16 of room */
        int (*progress_decode)(const void *buf, size_t len, int64_t *offset);
} sl_pstate_codec_t;

typedef struct sl_pstate_conf_s {
        const char *stage;     /* metric names: sluice_<stage>_state_restore_... */
        const char *name;      /* store name, in logs and help: "admission" */
        const char *keys;      /* what keys are, in logs: "sources" */
        const char *changelog; /* full topic name */
        int restore_timeout_ms;
        sl_pstate_codec_t codec;
} sl_pstate_conf_t;

typedef struct sl_pstate_s sl_pstate_t;

/* conf is borrowed for the state's life (the restore consumer is built from it); pc
 * is copied, its changelog too; its other strings and callbacks must outlive the
 * state (literals and functions, as a rule).  NULL with errstr set.
 * Caller frees with sl_pstate_destroy(). */
sl_pstate_t *sl_pstate_new(const sl_conf_t *conf, const sl_pstate_conf_t *pc,
                           char *errstr, size_t errstr_size);
void sl_pstate_destroy(sl_pstate_t *ps); /* NULL-safe */

/* Restore every partition of parts from the changelog (before any of its records is
 * processed), read its progress record and put it in verify mode.  Logs and observes
 * each restore.  SL_OK, or an error with errstr set. */
int sl_pstate_assign(sl_pstate_t *ps, const rd_kafka_topic_partition_list_t *parts,
                     char *errstr, size_t errstr_size);
/* Flush every partition through producer, wait for delivery, forget parts. */
void sl_pstate_revoke(sl_pstate_t *ps, const rd_kafka_topic_partition_list_t *parts,
                      rd_kafka_t *producer);

/* Start a batch of at most max_keys distinct keys.  SL_OK or SL_ERR_NOMEM. */
int sl_pstate_begin(sl_pstate_t *ps, size_t max_keys);
/* The working copy of key in part for this batch (value_size bytes), read from the
 * store the first time the batch asks for it.  key is borrowed until sl_pstate_end().
 * NULL when out of memory or past the max_keys of sl_pstate_begin(). */
void *sl_pstate_work(sl_pstate_t *ps, int32_t part, const char *key);
/* True while part is in verify mode (also for a partition never seen). */
bool sl_pstate_verifying(const sl_pstate_t *ps, int32_t part);
/* sl_replay_event() on part's replay position. */
sl_replay_action_t sl_pstate_replay(sl_pstate_t *ps, int32_t part, int64_t offset,
                                    sl_replay_record_t rec);
/* sl_replay_is_new() on part's replay position. */
bool sl_pstate_is_new(const sl_pstate_t *ps, int32_t part, int64_t offset);
/* Write the working copies back to the store and end verify mode where the batch says
 * so (sl_replay_end). */
void sl_pstate_end(sl_pstate_t *ps);
/* Drop the working copies unwritten (a batch that failed before sl_pstate_end()): the
 * store keeps what it had, so running the batch again counts nothing twice. */
void sl_pstate_abort(sl_pstate_t *ps);

/* Move each assigned partition's progress to last_offsets[p] (its batch's last record,
 * -1: none), then append every change to the changelog through producer, each record
 * with msg_opaque; *records (may be NULL) gets how many. */
int sl_pstate_flush(sl_pstate_t *ps, rd_kafka_t *producer, void *msg_opaque,
                    const int64_t *last_offsets, int32_t nparts, size_t *records);

/* Outside a batch: key's value in an assigned partition.  SL_OK, SL_ERR_NOTFOUND
 * (absent, or part not assigned) or SL_ERR_DECODE. */
int sl_pstate_get(const sl_pstate_t *ps, int32_t part, const char *key, void *value);
/* Outside a batch: store value under key in an assigned partition.  SL_OK,
 * SL_ERR_NOTFOUND (part not assigned) or SL_ERR_NOMEM. */
int sl_pstate_put(sl_pstate_t *ps, int32_t part, const char *key, const void *value);
/* Every value (decodable) of every assigned partition. */
void sl_pstate_foreach(const sl_pstate_t *ps,
                       void (*cb)(int32_t part, const char *key, const void *value,
                                  void *opaque),
                       void *opaque);

/* Remember that key (in part, its latest) changed, adding n to its count since the
 * last sl_pstate_touched_clear().  SL_OK or SL_ERR_NOMEM. */
int sl_pstate_touch(sl_pstate_t *ps, int32_t part, const char *key, int64_t n);
size_t sl_pstate_touched_count(const sl_pstate_t *ps);
/* Every key touched since the last clear; key is borrowed for the callback. */
void sl_pstate_touched_foreach(const sl_pstate_t *ps,
                               void (*cb)(int32_t part, const char *key, int64_t n,
                                          void *opaque),
                               void *opaque);
void sl_pstate_touched_clear(sl_pstate_t *ps);

#endif
