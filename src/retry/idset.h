/*
 * A set of (event id, attempt): sluice-retry's record of the attempts it re-injected
 * whose 'due' mark has not reached Postgres yet, so that a duplicate wake-up checked
 * meanwhile (the guard still reads the row as waiting) is dropped instead of
 * re-injected a second time.  Only add, lookup and clear are needed (a set is emptied
 * when the marks it stands for have landed), so it is open addressing with linear
 * probing and no deletion.  No librdkafka, no Postgres.
 */
#ifndef SL_RETRY_IDSET_H
#define SL_RETRY_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_RETRY_IDSET_ID_MAX 36 /* a UUID's text */

typedef struct sl_retry_idset_slot_s {
        char id[SL_RETRY_IDSET_ID_MAX + 1]; /* "" when the slot is free */
        int32_t attempt;
} sl_retry_idset_slot_t;

typedef struct sl_retry_idset_s {
        sl_retry_idset_slot_t *v;
        size_t cnt, cap; /* cap: 0 or a power of two, kept at least twice cnt */
} sl_retry_idset_t;

void sl_retry_idset_init(sl_retry_idset_t *s);
/* SL_OK (also when already there), SL_ERR_INVALID for an id longer than
 * SL_RETRY_IDSET_ID_MAX, SL_ERR_NOMEM. */
int sl_retry_idset_add(sl_retry_idset_t *s, const char *id, int32_t attempt);
bool sl_retry_idset_has(const sl_retry_idset_t *s, const char *id, int32_t attempt);
/* Empty it, keeping its memory. */
void sl_retry_idset_clear(sl_retry_idset_t *s);
void sl_retry_idset_free(sl_retry_idset_t *s);

#endif
