/*
 * Field paths of the trigger stage, shared by the filter language (filter.h) and the
 * parameters template (template.h): `payload.a.b[2].c`, `payload["odd key"]`, and the
 * envelope fields `id`, `type`, `source`, `occurred_at`, `correlation_id`,
 * `metadata.KEY` / `metadata["KEY"]`.  A path is parsed once into a compact form (one
 * block holding its steps and keys) and resolved against one event, an envelope plus
 * its payload parsed once by the caller, without allocation.
 *
 * Syntax: a root name, then steps.  `.name` takes an object member whose name is made
 * of [A-Za-z0-9_-]; `["text"]` takes any member (a JSON-style string: escapes and
 * \uXXXX, no NUL); `[N]` takes array element N (0-based, N <= 2^31-1).  Only `payload`
 * takes any number of steps; `metadata` takes exactly one member step; the other
 * envelope fields take none.  `payload` alone is the whole payload.
 *
 * Not here: comparing or rendering values (filter.c, template.c).
 */
#ifndef SL_TRIGGER_PATH_H
#define SL_TRIGGER_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope/envelope.h"

typedef enum sl_path_root {
        SL_PATH_ID,
        SL_PATH_TYPE,
        SL_PATH_SOURCE,
        SL_PATH_OCCURRED_AT,
        SL_PATH_CORRELATION_ID,
        SL_PATH_METADATA,
        SL_PATH_PAYLOAD,
} sl_path_root_t;

/* One step: a member key (NUL-terminated, in the path's block) or an array index. */
typedef struct sl_path_step_s {
        const char *key; /* NULL for an index step */
        uint32_t index;
} sl_path_step_t;

/* A parsed path.  steps (and the keys they point to) is one malloc()ed block owned by
 * the path; release with sl_path_close(). */
typedef struct sl_path_s {
        sl_path_root_t root;
        uint32_t nsteps;
        sl_path_step_t *steps;
} sl_path_t;

/* What a path resolves to.  Strings and JSON values are borrowed from the envelope or
 * the payload, valid while they are. */
typedef enum sl_value_kind {
        SL_VALUE_MISSING, /* no such field: not JSON null */
        SL_VALUE_NULL,
        SL_VALUE_BOOL,
        SL_VALUE_NUMBER,
        SL_VALUE_STRING,
        SL_VALUE_JSON, /* an object or an array: json */
} sl_value_kind_t;

typedef struct sl_value_s {
        sl_value_kind_t kind;
        bool b;
        bool is_int; /* NUMBER: i is exact; d is always set */
        int64_t i;
        double d;
        const char *s; /* STRING: s[len] (may hold NUL bytes when from JSON) */
        size_t len;
        const json_t *json; /* the payload value when the path went into the payload */
} sl_value_t;

/*
 * Parse the path starting at text[*pos] (text is NUL-terminated); it ends at the first
 * byte that cannot continue it, and *pos is moved there.  Returns SL_OK with *p filled
 * (caller releases with sl_path_close()), or SL_ERR_INVALID with *pos at the offending
 * byte and errstr saying what ("at 12: unknown field 'foo'"), or SL_ERR_NOMEM.
 */
int sl_path_parse(const char *text, size_t *pos, sl_path_t *p, char *errstr,
                  size_t errstr_size);
void sl_path_close(sl_path_t *p);

/* Resolve p against one event; payload may be NULL (a payload path is then missing).
 * No allocation. */
void sl_path_resolve(const sl_path_t *p, const sl_envelope_t *env, const json_t *payload,
                     sl_value_t *out);

/* A JSON value as an sl_value_t (objects and arrays are SL_VALUE_JSON). */
void sl_value_of_json(const json_t *j, sl_value_t *out);

/*
 * A JSON-style double-quoted string at text[*pos] (which must be '"'): escapes \" \\ \/
 * \b \f \n \r \t \uXXXX (surrogate pairs joined into UTF-8); raw bytes below 0x20 are
 * refused.  Returns SL_OK with *out a malloc()ed NUL-terminated copy (caller frees with
 * free()), *out_len its length and *pos after the closing quote; or SL_ERR_INVALID with
 * *pos at the offending byte and errstr set; or SL_ERR_NOMEM.  Shared by the filter's
 * literals and the paths' ["key"] steps.
 */
int sl__trigger_string(const char *text, size_t *pos, char **out, size_t *out_len,
                       char *errstr, size_t errstr_size);

/* errstr = "at <pos>: <fmt...>" (the one shape of every parse error here). */
void sl__trigger_errf(char *errstr, size_t errstr_size, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
