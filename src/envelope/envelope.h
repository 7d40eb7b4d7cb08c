/*
 * The event envelope (DESIGN.md §2) and its wire codec: Avro single-object encoding
 * (0xC3 0x01, 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
 * Parsing Canonical Form, Avro binary body), with writer->reader schema resolution so
 * compatible envelope versions decode.  The reader schema is schemas/envelope.avsc,
 * compiled in.  Validation (field rules, payload JSON, per-type payload schemas) is in
 * validate.h; this file only turns bytes into an sl_envelope_t and back.
 *
 * A codec is immutable after set-up and safe to share between threads for decode and
 * encode; sl_codec_add_writer() is set-up only.
 */
#ifndef SL_ENVELOPE_H
#define SL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why an event was rejected.  The string forms (sl_reject_code_str) are the
 * machine-readable reason codes used in DLQ headers and dead_letters.reason. */
typedef enum sl_reject_code {
        SL_REJECT_NONE = 0,
        SL_REJECT_FRAMING,        /* "framing": too short or not C3 01 */
        SL_REJECT_UNKNOWN_SCHEMA, /* "unknown_schema": fingerprint not known */
        SL_REJECT_DECODE,         /* "decode": Avro body does not decode */
        SL_REJECT_BAD_ID,         /* "bad_id": id is not a UUID */
        SL_REJECT_EMPTY_TYPE,     /* "empty_type" */
        SL_REJECT_EMPTY_SOURCE,   /* "empty_source" */
        SL_REJECT_BAD_TEXT,       /* "bad_text": a string is not valid UTF-8 or has NUL */
        SL_REJECT_BAD_OCCURRED_AT,  /* "bad_occurred_at": before 2000 or too far ahead */
        SL_REJECT_TTL_EXPIRED,      /* "ttl_expired": occurred_at + ttl_ms < now */
        SL_REJECT_BAD_TTL,          /* "bad_ttl": ttl_ms <= 0 */
        SL_REJECT_PAYLOAD_NOT_JSON, /* "payload_not_json" */
        SL_REJECT_PAYLOAD_NOT_OBJECT, /* "payload_not_object" */
        SL_REJECT_PAYLOAD_SCHEMA, /* "payload_schema": fails the type's payload schema */
        SL_REJECT_RETRIES_EXHAUSTED, /* "retries_exhausted": held back past
                                      * retry.max.attempts (not a validation failure) */
        SL_REJECT__CNT
} sl_reject_code_t;

typedef struct sl_reject_s {
        sl_reject_code_t code;
        char msg[256]; /* human words, e.g. "payload.amount: expected long, got string" */
} sl_reject_t;

const char *sl_reject_code_str(sl_reject_code_t code);
/* Parse a reason code string back; SL_REJECT__CNT when unknown. */
sl_reject_code_t sl_reject_code_parse(const char *s);

/*
 * A decoded envelope.  Strings are NUL-terminated and owned by the envelope (one arena
 * per envelope, reused across decodes into the same struct: decode into one
 * sl_envelope_t per slot and the hot path does not allocate once warm).
 */
typedef struct sl_envelope_s {
        char id[37]; /* canonical lower-case UUID text */
        const char *type;
        const char *source;
        int64_t occurred_at; /* ms since the epoch, UTC */
        const char *payload; /* JSON text as sent */
        size_t payload_len;
        const char *correlation_id; /* NULL when absent */
        bool has_ttl;
        int64_t ttl_ms;
        size_t meta_cnt;
        const char *const *meta_keys; /* meta_cnt entries each */
        const char *const *meta_vals;
        /* private: the arena */
        char *arena_;
        size_t arena_size_, arena_used_;
        void *meta_space_;
        size_t meta_cap_;
} sl_envelope_t;

/* Zero a struct for first use; release with sl_envelope_clear(). */
void sl_envelope_init(sl_envelope_t *env);
void sl_envelope_clear(sl_envelope_t *env);

typedef struct sl_codec_s sl_codec_t;

/* A codec whose reader (and default writer) schema is the embedded envelope schema.
 * Returns NULL with errstr set on failure.  Caller frees with sl_codec_destroy(). */
sl_codec_t *sl_codec_new(char *errstr, size_t errstr_size);
void sl_codec_destroy(sl_codec_t *codec);

/* Make another writer schema (JSON text, e.g. a v2 envelope) decodable; it must
 * resolve against the reader schema (same record name; fields matched by name;
 * string<-bytes and long<-int promotions; reader fields it lacks need a default;
 * its extra fields are skipped).  Registering a known schema again is a no-op.
 * Each schema is registered under its canonical fingerprint and, when different,
 * under python3-avro 1.11's (which keeps {"type":"string"} for logical types), so
 * python publishers are understood too.  Returns SL_OK or SL_ERR_INVALID/NOMEM with
 * errstr set.  Set-up only. */
int sl_codec_add_writer(sl_codec_t *codec, const char *schema_json, char *errstr,
                        size_t errstr_size);
/* Every *.avsc in dir whose name starts with "envelope" (set-up only).  SL_ERR_IO
 * when dir cannot be read, SL_ERR_INVALID naming the file when one does not resolve. */
int sl_codec_add_writers_dir(sl_codec_t *codec, const char *dir, char *errstr,
                             size_t errstr_size);

/* CRC-64-AVRO fingerprint of the reader schema's canonical form. */
uint64_t sl_codec_fingerprint(const sl_codec_t *codec);
/* CRC-64-AVRO (Rabin) of any bytes, as the Avro specification defines it. */
uint64_t sl_avro_crc64(const void *buf, size_t len);

/*
 * Decode one single-object-encoded envelope.  Returns SL_OK, or SL_ERR_REJECTED with
 * rej filled (framing, unknown_schema, decode, bad_text).  Field rules beyond what
 * decoding needs are sl_envelope_validate()'s.  env must have been initialised; its
 * previous contents are replaced.
 *
 * bad_text here covers the NUL-terminated strings (type, source, correlation_id,
 * metadata): a NUL or invalid UTF-8 in them is rejected.  The payload keeps its bytes
 * and payload_len; its text is judged by sl_envelope_validate() (one pass with the
 * JSON check).  An id that is not 36 characters leaves env->id "" (validation then
 * says bad_id); a 36-character id is lower-cased.  After a rejection the fields
 * decoded so far are set and the others are "" / NULL / 0 (type, source and payload
 * are never NULL).  Returns SL_ERR_NOMEM (rej says so) only when the arena cannot grow.
 */
int sl_envelope_decode(const sl_codec_t *codec, const void *buf, size_t len,
                       sl_envelope_t *env, sl_reject_t *rej);

/*
 * Encode env with the reader schema as writer.  *out is malloc()ed (caller frees with
 * free()) and *out_len set.  Returns SL_OK or SL_ERR_INVALID (e.g. NULL type).
 */
int sl_envelope_encode(const sl_codec_t *codec, const sl_envelope_t *env, void **out,
                       size_t *out_len);

/* To encode caller data, fill the public fields of a zeroed sl_envelope_t with
 * borrowed pointers; such a struct is never passed to sl_envelope_clear().
 * payload_len 0 means strlen(payload). */

/* JSON <-> envelope, for sluicectl publish/tail and tests.
 * From a JSON object {"id"?, "type", "source", "occurred_at"? (ms number or RFC 3339
 * text), "payload" (object, or a string holding JSON), "correlation_id"?, "ttl_ms"?,
 * "metadata"? {k: v}}: a missing id is a new UUIDv4, a missing occurred_at is now.
 * env is initialised by the call and owns its strings. */
int sl_envelope_from_json(const char *json, size_t len, sl_envelope_t *env, char *errstr,
                          size_t errstr_size);
/* Unknown keys are an error (SL_ERR_INVALID, errstr says which); a given id must be
 * 36 characters (lower-cased, not otherwise checked), and type/source must be strings
 * (possibly empty): field rules are left to sl_envelope_validate() so that invalid
 * events can be built on purpose.  A missing payload is "{}". */
/* The envelope as one line of JSON (no newline), payload embedded as JSON when it
 * parses: {"id","type","source","occurred_at" (ms),"payload","correlation_id" (or
 * null),"ttl_ms" (or null),"metadata" {}}.  NULL on allocation failure.  Caller frees
 * with free(). */
char *sl_envelope_to_json(const sl_envelope_t *env);
/* The same object as a jansson value, for callers that add fields (sluice-admin's
 * stream).  With SL_ENVELOPE_JSON_RFC3339, occurred_at is RFC 3339 UTC text with
 * milliseconds ("2026-11-29T11:59:58.000Z"), as the admin API writes times.  NULL on
 * allocation failure.  Caller releases with json_decref(). */
#define SL_ENVELOPE_JSON_RFC3339 1u
struct json_t;
struct json_t *sl_envelope_to_jsonv(const sl_envelope_t *env, unsigned flags);

#endif
