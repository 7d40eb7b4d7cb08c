/*
 * Private to src/envelope: the envelope arena, the JSON checker and the
 * parsed form of Avro schemas that the codec, the validator and the payload schemas
 * share.  Nothing here is part of any contract outside this directory.
 */
#ifndef SL_ENVELOPE_INT_H
#define SL_ENVELOPE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope/envelope.h"

/* ---- arena (envelope.c) ---- */

/* Forget previous contents and make room for n bytes of strings; SL_OK/SL_ERR_NOMEM.
 * Strings copied with sl__envelope_strdup() stay put until the next reset. */
int sl__envelope_arena_reset(sl_envelope_t *env, size_t n);
/* Copy n bytes plus a NUL into the arena; the room must have been reserved. */
const char *sl__envelope_strdup(sl_envelope_t *env, const char *p, size_t n);
/* Room for at least cnt metadata entries, keeping the first `keep`. */
int sl__envelope_meta_reserve(sl_envelope_t *env, size_t cnt, size_t keep);
void sl__envelope_meta_set(sl_envelope_t *env, size_t i, const char *k, const char *v);
/* Publish meta_keys/meta_vals after the entries are set. */
void sl__envelope_meta_finish(sl_envelope_t *env, size_t cnt);

/* ---- text checks (json_check.c; UTF-8 alone: util/utf8.h) ---- */

/* Strict RFC 8259 check that p[0..n) is what Postgres jsonb accepts and that its top
 * level is an object.  Returns SL_REJECT_NONE, SL_REJECT_PAYLOAD_NOT_JSON (msg says
 * where and why) or SL_REJECT_PAYLOAD_NOT_OBJECT.  Allocates nothing. */
#define SL_JSON_MAX_DEPTH 256
sl_reject_code_t sl__json_check_object(const char *p, size_t n, char *msg,
                                       size_t msg_size);

/* ---- Avro schemas (avro_schema.c) ---- */

typedef enum sl__avro_type {
        SL_AVRO_NULL,
        SL_AVRO_BOOLEAN,
        SL_AVRO_INT,
        SL_AVRO_LONG,
        SL_AVRO_FLOAT,
        SL_AVRO_DOUBLE,
        SL_AVRO_BYTES,
        SL_AVRO_STRING,
        SL_AVRO_RECORD,
        SL_AVRO_ENUM,
        SL_AVRO_ARRAY,
        SL_AVRO_MAP,
        SL_AVRO_UNION,
        SL_AVRO_FIXED,
} sl__avro_type_t;

typedef struct sl__avro_node_s sl__avro_node_t;
struct sl__avro_node_s {
        sl__avro_type_t type;
        char *fullname;             /* record, enum, fixed */
        size_t cnt;                 /* fields, branches, symbols; fixed: size */
        sl__avro_node_t **kids;     /* field types, branches, [0] = items / values */
        char **names;               /* field names, enum symbols */
        unsigned char *has_default; /* per record field */
        bool zero_size;             /* encodes to no bytes (null, empty record...) */
        sl__avro_node_t *next_;     /* every node of a schema, for freeing */
};

typedef struct sl__avro_schema_s {
        sl__avro_node_t *root;
        char *canonical;    /* Parsing Canonical Form */
        char *canonical_py; /* python3-avro 1.11's variant ({"type":"string"} kept) */
        sl__avro_node_t *nodes_;
} sl__avro_schema_t;

const char *sl__avro_type_name(sl__avro_type_t t);
/* Parse Avro schema JSON text.  NULL with errstr set.  Free with
 * sl__avro_schema_destroy(). */
sl__avro_schema_t *sl__avro_schema_parse(const char *json, size_t len, char *errstr,
                                         size_t errstr_size);
void sl__avro_schema_destroy(sl__avro_schema_t *s);

/* ---- payload schemas (payload_schema.c) ---- */

typedef struct sl_payload_schema_s sl_payload_schema_t;
/* SL_OK, or SL_ERR_REJECTED with msg naming the JSON path that does not conform. */
int sl__payload_schema_check(const sl_payload_schema_t *ps, const char *payload,
                             size_t len, char *msg, size_t msg_size);

#endif
