/*
 * The one string-keyed hash map: FNV-1a 64 over the key, open addressing with linear
 * probing, kept at most three quarters full by doubling, deletion by backward shift
 * (no tombstones).  The map owns a copy of each key; values are the caller's pointers,
 * which the map never dereferences.  Used by the sources snapshot, the event-type
 * registry, the state store's partitions and the types watch's log dedup.
 *
 * An sl_hmap_t is embedded by its owner (_init/_close).  Not thread-safe: a map that
 * is built once and then only read (sl_hmap_get, sl_hmap_find, sl_hmap_next) may be
 * read from any number of threads.
 */
#ifndef SL_UTIL_HMAP_H
#define SL_UTIL_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_hmap_ent_s {
        char *key; /* NULL: an empty slot; else the map's copy, stable until removed */
        uint64_t hash;
        void *val;
} sl_hmap_ent_t;

typedef struct sl_hmap_s {
        sl_hmap_ent_t *slots;
        size_t cap, cnt; /* cap: 0 or a power of two, cnt <= cap * 3 / 4 */
} sl_hmap_t;

/* FNV-1a, 64 bits, of the NUL-terminated s. */
uint64_t sl_hash_str(const char *s);

void sl_hmap_init(sl_hmap_t *m);
/* Frees the keys and the slots, and each value with free_val when not NULL; m is
 * then empty and may be used again. */
void sl_hmap_close(sl_hmap_t *m, void (*free_val)(void *));
/* Room for n entries without growing: SL_OK or SL_ERR_NOMEM. */
int sl_hmap_reserve(sl_hmap_t *m, size_t n);

/* The value under key, or NULL (also when key is NULL). */
void *sl_hmap_get(const sl_hmap_t *m, const char *key);
/* The entry of key, or NULL; valid until the next add or remove. */
sl_hmap_ent_t *sl_hmap_find(const sl_hmap_t *m, const char *key);
/* The entry of key, added (with a NULL value, *added true) when missing; NULL when out
 * of memory (m unchanged).  Valid until the next add or remove: set its val at once. */
sl_hmap_ent_t *sl_hmap_add(sl_hmap_t *m, const char *key, bool *added);
/* Removes key; returns its value (NULL when it was missing) for the caller to free. */
void *sl_hmap_remove(sl_hmap_t *m, const char *key);

/* Iteration in slot order: start with *it = 0; NULL at the end.  No adds or removes
 * in between (setting an entry's val is fine). */
sl_hmap_ent_t *sl_hmap_next(const sl_hmap_t *m, size_t *it);

static inline size_t sl_hmap_count(const sl_hmap_t *m)
{
        return m->cnt;
}

#endif
