/*
 * The retry record (schemas/retry_record.avsc): the wake-up that sluice-ingress
 * produces to a retry tier topic for a throttled or paused event, and that sluice-retry
 * consumes.  Avro binary; the deterministic id "event-retry:<event id>:<attempt>" makes
 * duplicates recognisable.
 */
#ifndef SL_RETRY_RECORD_H
#define SL_RETRY_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* The headers of an event sluice-retry re-injects into events.in: the attempt (decimal
 * text) ingress decides, and the wake-up's id. */
#define SL_RETRY_HDR_ATTEMPT  "sluice.attempt"
#define SL_RETRY_HDR_RETRY_ID "sluice.retry.id"

typedef struct sl_retry_record_s {
        const char *event_id;
        const char *source;
        int32_t attempt;
        int64_t due_at; /* ms since the epoch */
        const char *reason;
        const void *envelope;
        size_t envelope_len;
        /* decode only: the arena the strings point into */
        char *arena_;
} sl_retry_record_t;

/* "event-retry:<event id>:<attempt>" into buf; returns buf. */
const char *sl_retry_record_id(const char *event_id, int32_t attempt, char *buf,
                               size_t size);

/* Encode rr (id derived from event_id and attempt).  *out is malloc()ed (caller frees
 * with free()). */
int sl_retry_record_encode(const sl_retry_record_t *rr, void **out, size_t *out_len);

/* Decode into rr; strings and envelope point into one allocation that
 * sl_retry_record_clear() frees.  SL_ERR_DECODE for truncated or malformed input. */
int sl_retry_record_decode(const void *buf, size_t len, sl_retry_record_t *rr);
void sl_retry_record_clear(sl_retry_record_t *rr);

#endif
