/*
 * The trigger's parameters template: a JSON document filled from one event into the
 * parameters of a workflow launch.  Parsed once when the trigger is saved or loaded;
 * filled per event into a caller-owned buffer reused across calls, so a warm buffer
 * means no allocation.  Not here: which event fills it (the launch stage decides).
 *
 * Placeholders are `{{PATH}}` with a field path (path.h) inside, spaces allowed around
 * it (`{{ payload.user.id }}`), only in string values (object keys are copied as
 * they are):
 * - a string that is exactly one placeholder, "{{payload.n}}", becomes the typed JSON
 *   value at the path: 5, "abc", true, null, {...}, [...]; a missing field gives null;
 * - a placeholder inside a longer string, "order {{payload.id}}!", is interpolated as
 *   text: strings raw, numbers, bools, null, objects and arrays as their compact JSON,
 *   a missing field as nothing;
 * - `\{{` in a string (written "\\{{" in the JSON text) is a literal "{{"; any other
 *   backslash is itself.  An unclosed "{{" is a parse error.
 * The output is compact JSON (no spaces), members in the template's order, strings
 * escaped (", \, control characters; other bytes, UTF-8 included, pass through),
 * payload members in the payload's order, reals with 17 significant digits.
 */
#ifndef SL_TRIGGER_TEMPLATE_H
#define SL_TRIGGER_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "envelope/envelope.h"

typedef struct sl_template_s sl_template_t;

/* A growable output buffer the caller embeds and reuses: zero it (or
 * sl_template_buf_init()) before the first fill; release with sl_template_buf_close().
 * After a fill, data[0..len) is the JSON text and data[len] is '\0'. */
typedef struct sl_template_buf_s {
        char *data;
        size_t len, cap;
} sl_template_buf_t;

void sl_template_buf_init(sl_template_buf_t *buf);
void sl_template_buf_close(sl_template_buf_t *buf);

/* Parse a template (any JSON value; duplicate keys refused).  NULL on an error with
 * errstr set.  Invalid JSON: "at <byte>: <jansson's words>", *errpos (may be NULL) =
 * jansson's byte offset in json_text (just past the offending token).  A bad
 * placeholder: "in the string at <where>: at <n>: <what>", where is the value's place
 * in the document (".params.id", "[2]", "the top"), *errpos = n, the byte offset inside
 * that string value (after JSON unescaping).  Caller frees with sl_template_destroy(). */
sl_template_t *sl_template_parse(const char *json_text, size_t *errpos, char *errstr,
                                 size_t errstr_size);
void sl_template_destroy(sl_template_t *t); /* NULL-safe */

/* Whether a placeholder reads the payload (else the caller may skip parsing it). */
bool sl_template_uses_payload(const sl_template_t *t);

/* Fill t from one event into buf (its previous contents replaced).  payload may be
 * NULL when sl_template_uses_payload() is false (payload paths then read as missing).
 * Returns SL_OK, or SL_ERR_NOMEM when buf cannot grow (buf stays valid).  Allocates
 * only to grow buf.  t is immutable: fill it from any number of threads, each with its
 * own buffer. */
int sl_template_fill(const sl_template_t *t, const sl_envelope_t *env,
                     const json_t *payload, sl_template_buf_t *buf);

#endif
