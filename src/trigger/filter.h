/*
 * The trigger filter language: a boolean expression over one event's envelope fields
 * and payload, parsed once when a trigger is saved or loaded, then evaluated per event
 * with no allocation.  Not here: which triggers an event's type selects (the triggers
 * snapshot indexes them by type) or parsing the payload (the caller does that once per
 * event and passes the json_t).
 *
 * Grammar, loosest first (the reference with examples is docs/triggers.md):
 *     filter  := or
 *     or      := and ('||' and)*
 *     and     := unary ('&&' unary)*
 *     unary   := '!' bang | cond
 *     bang    := '!' bang | '(' or ')' | 'exists' PATH | PATH | true | false
 *     cond    := '(' or ')' | 'exists' PATH | PATH 'exists'
 *              | operand (('=='|'!='|'<'|'<='|'>'|'>=') operand | 'in' list)
 *              | PATH | true | false
 *     operand := PATH | literal
 *     list    := '[' (literal (',' literal)*)? ']'
 *     literal := "string" | number | true | false | null
 * PATH is a field path (path.h).  Precedence: '!' > comparisons > '&&' > '||'; since
 * '!' binds tightest, `!a == 1` would compare a boolean and is refused ("write
 * !(a == 1)").  `exists PATH` is the documented form; `PATH exists` is accepted too.
 * A bare PATH is a condition true when the field is JSON true.
 *
 * Semantics:
 * - Values are missing, null, bool, number, string or an object/array (payload only).
 * - A missing field makes every comparison false except '!=' (true); `exists` is false
 *   on it (exists is true for any present value, JSON null included).
 * - Mismatched types compare false, except '!=' which is true: `a != b` is always
 *   `!(a == b)`.  Objects/arrays are equal when their JSON is; they do not order.
 * - Numbers compare as doubles, exactly as int64 when both sides are integers.
 * - Strings compare bytewise (memcmp, then the shorter first); bools and null only
 *   with == and !=.
 * - `x in [l1, l2, ...]` is `x == l1 || x == l2 || ...` (false for an empty list).
 * Limits: SL_FILTER_MAX_LEN bytes of text; '(' and '!' nested at most
 * SL_FILTER_MAX_DEPTH deep; a path at most 64 steps.
 *
 * A filter is immutable after parsing: evaluate it from any number of threads.
 */
#ifndef SL_TRIGGER_FILTER_H
#define SL_TRIGGER_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "envelope/envelope.h"

#define SL_FILTER_MAX_LEN   4096
#define SL_FILTER_MAX_DEPTH 32

typedef struct sl_filter_s sl_filter_t;

/* Parse text.  NULL on a parse error: errstr says what and where ("at 12: expected
 * ')'"), *errpos (may be NULL) gets the 0-based byte offset; also NULL when out of
 * memory (errstr says so, *errpos = 0).  Caller frees with sl_filter_destroy(). */
sl_filter_t *sl_filter_parse(const char *text, size_t *errpos, char *errstr,
                             size_t errstr_size);
void sl_filter_destroy(sl_filter_t *f); /* NULL-safe */

/* Whether the event matches.  payload may be NULL when sl_filter_uses_payload() is
 * false (a payload path then reads as missing).  No allocation. */
bool sl_filter_eval(const sl_filter_t *f, const sl_envelope_t *env,
                    const json_t *payload);

/* Whether any path of f reads the payload (else the caller may skip parsing it). */
bool sl_filter_uses_payload(const sl_filter_t *f);

#endif
