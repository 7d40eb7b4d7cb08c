/*
 * Envelope validation after decoding (DESIGN.md §2), in order: field rules (UUID id,
 * non-empty type and source, sane occurred_at, ttl not expired), payload is a JSON
 * object, then the payload schema registered for the event type, if any.  Pure: no
 * Kafka, no Postgres; the clock is a parameter.
 */
#ifndef SL_VALIDATE_H
#define SL_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "envelope/envelope.h"

/* A compiled payload schema: an Avro schema (record at the top) the payload JSON must
 * conform to (JSON encoding of Avro: records are objects, unions as the bare value or
 * {"type": value}, optional fields may be absent when they have a default, etc.).
 * Fields the schema does not name are allowed.  int must be an integer within 32 bits,
 * long any integer, float/double any number, bytes/fixed a string.  Returns NULL with
 * errstr set when the schema does not parse.  Caller frees with
 * sl_payload_schema_destroy() (or hands it to sl_types_put()). */
typedef struct sl_payload_schema_s sl_payload_schema_t;
sl_payload_schema_t *sl_payload_schema_new(const char *avsc_json, char *errstr,
                                           size_t errstr_size);
void sl_payload_schema_destroy(sl_payload_schema_t *ps);

/* event type -> payload schema.  Immutable once built; replaced wholesale on reload
 * (build a new one, swap the pointer, destroy the old one when no batch uses it). */
typedef struct sl_types_s sl_types_t;
sl_types_t *sl_types_new(void);
void sl_types_destroy(sl_types_t *types);
/* Takes ownership of ps, also on failure (then ps is destroyed).  A type put twice
 * keeps the newer schema.  SL_OK, SL_ERR_INVALID (NULL argument) or SL_ERR_NOMEM. */
int sl_types_put(sl_types_t *types, const char *type, sl_payload_schema_t *ps);
/* Borrowed; NULL when the type has no schema. */
const sl_payload_schema_t *sl_types_get(const sl_types_t *types, const char *type);
size_t sl_types_count(const sl_types_t *types);

/* Zero in any field means its default. */
typedef struct sl_validate_opts_s {
        int64_t now_ms;          /* the clock (0: the real clock) */
        int64_t max_future_ms;   /* occurred_at may be at most this far ahead of now
                                  * (0: 300000, five minutes) */
        int64_t min_occurred_at; /* ms; earlier is bad_occurred_at (default 2000-01-01) */
} sl_validate_opts_t;

/* SL_OK, or SL_ERR_REJECTED with rej filled: the first failing rule in the order
 * bad_id, empty_type, empty_source, bad_text, bad_occurred_at, bad_ttl, ttl_expired,
 * payload_not_json / payload_not_object, payload_schema.  The payload must be what
 * Postgres jsonb accepts (no \u0000, no lone surrogates, numbers numeric can hold,
 * nesting <= 256).  opts and types may be NULL.  Thread-safe; allocates only for types
 * with a payload schema. */
int sl_envelope_validate(const sl_envelope_t *env, const sl_validate_opts_t *opts,
                         const sl_types_t *types, sl_reject_t *rej);

#endif
