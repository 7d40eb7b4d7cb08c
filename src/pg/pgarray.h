/*
 * Postgres array literals ('{1,2,3}', '{"a","b\"c"}') built in memory, to pass whole
 * columns of a batch as one parameter of a parameterised statement
 * (... FROM unnest($1::text[], $2::bigint[]) ...): one round trip per batch, no SQL
 * built from data.
 */
#ifndef SL_PGARRAY_H
#define SL_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_pgarr_s {
        char *p; /* the literal, NUL-terminated once sl_pgarr_end() was called */
        size_t len, cap;
        size_t n; /* elements */
} sl_pgarr_t;

/* Start (or restart, keeping the buffer) an empty array. */
void sl_pgarr_begin(sl_pgarr_t *a);
void sl_pgarr_num(sl_pgarr_t *a, long long v);
/* A text element, quoted and escaped; NULL adds SQL NULL. */
void sl_pgarr_text(sl_pgarr_t *a, const char *s);
/* Close the literal; returns it (borrowed, valid until the next begin or free). */
const char *sl_pgarr_end(sl_pgarr_t *a);
void sl_pgarr_free(sl_pgarr_t *a);

#endif
