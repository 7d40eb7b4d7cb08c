/*
 * A set of (event id, attempt): sluice-retry's record of the attempts it re-injected
 * whose 'due' mark has not reached Postgres yet, so that a duplicate wake-up checked
 * meanwhile (the guard still reads the row as waiting) is dropped instead of
 * re-injected a second time.  Only add, lookup and clear are needed (a set is emptied
 * when the marks it stands for have landed), so it is open addressing with linear
 * probing and no deletion.  Event ids are UUIDs, kept as their 16 bytes: a slot is 24
 * bytes, so a flood's worth of them stays small and lookups touch one cache line.
 * No librdkafka, no Postgres.
 */
#ifndef SL_RETRY_IDSET_H
#define SL_RETRY_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One (event id, attempt), parsed once and looked up in as many sets as needed. */
typedef struct sl_retry_idkey_s {
        uint64_t hi, lo; /* the UUID's 16 bytes, big-endian halves */
        int32_t attempt;
        uint32_t used; /* in a set's slot: nonzero when taken */
} sl_retry_idkey_t;

typedef struct sl_retry_idset_s {
        sl_retry_idkey_t *v;
        size_t cnt, cap; /* cap: 0 or a power of two, kept at least twice cnt */
} sl_retry_idset_t;

/* SL_OK and *k for a UUID in text form (36 characters, any case), SL_ERR_INVALID for
 * anything else. */
int sl_retry_idkey(const char *id, int32_t attempt, sl_retry_idkey_t *k);

void sl_retry_idset_init(sl_retry_idset_t *s);
/* SL_OK (*added: whether it was new; may be NULL) or SL_ERR_NOMEM. */
int sl_retry_idset_add(sl_retry_idset_t *s, const sl_retry_idkey_t *k, bool *added);
bool sl_retry_idset_has(const sl_retry_idset_t *s, const sl_retry_idkey_t *k);
/* Empty it, keeping its memory. */
void sl_retry_idset_clear(sl_retry_idset_t *s);
void sl_retry_idset_free(sl_retry_idset_t *s);

#endif
