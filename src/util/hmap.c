/* The string-keyed hash map (see hmap.h). */
#include "util/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"

#define SL_HMAP_FIRST 16

uint64_t sl_hash_str(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ULL; /* offset basis */

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 0x100000001b3ULL; /* prime */
        return h;
}

void sl_hmap_init(sl_hmap_t *m)
{
        memset(m, 0, sizeof(*m));
}

void sl_hmap_close(sl_hmap_t *m, void (*free_val)(void *))
{
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->slots[i].key)
                        continue;
                free(m->slots[i].key);
                if (free_val)
                        free_val(m->slots[i].val);
        }
        free(m->slots);
        sl_hmap_init(m);
}

/* The slot of key (hash h), or the empty slot where it would go; m->cap > 0. */
static size_t slot_of(const sl_hmap_t *m, const char *key, uint64_t h)
{
        size_t mask = m->cap - 1, i = (size_t)h & mask;

        while (m->slots[i].key &&
               (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
                i = (i + 1) & mask;
        return i;
}

static int rehash(sl_hmap_t *m, size_t cap)
{
        sl_hmap_t bigger = {.cap = cap, .cnt = m->cnt};

        if (!(bigger.slots = calloc(cap, sizeof(*bigger.slots))))
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < m->cap; i++) {
                const sl_hmap_ent_t *e = &m->slots[i];
                if (e->key) {
                        size_t j = (size_t)e->hash & (cap - 1);
                        while (bigger.slots[j].key)
                                j = (j + 1) & (cap - 1);
                        bigger.slots[j] = *e;
                }
        }
        free(m->slots);
        *m = bigger;
        return SL_OK;
}

int sl_hmap_reserve(sl_hmap_t *m, size_t n)
{
        size_t cap = m->cap ? m->cap : SL_HMAP_FIRST;

        while (cap / 4 * 3 < n) {
                if (cap > SIZE_MAX / 2 / sizeof(sl_hmap_ent_t))
                        return SL_ERR_NOMEM;
                cap *= 2;
        }
        return cap == m->cap ? SL_OK : rehash(m, cap);
}

sl_hmap_ent_t *sl_hmap_find(const sl_hmap_t *m, const char *key)
{
        size_t i;

        if (!key || !m->cnt)
                return NULL;
        i = slot_of(m, key, sl_hash_str(key));
        return m->slots[i].key ? &m->slots[i] : NULL;
}

void *sl_hmap_get(const sl_hmap_t *m, const char *key)
{
        const sl_hmap_ent_t *e = sl_hmap_find(m, key);
        return e ? e->val : NULL;
}

sl_hmap_ent_t *sl_hmap_add(sl_hmap_t *m, const char *key, bool *added)
{
        uint64_t h = sl_hash_str(key);
        size_t i;
        char *copy;

        if (m->cap) {
                i = slot_of(m, key, h);
                if (m->slots[i].key) {
                        if (added)
                                *added = false;
                        return &m->slots[i];
                }
        }
        if (sl_hmap_reserve(m, m->cnt + 1) != SL_OK || !(copy = strdup(key)))
                return NULL;
        i = slot_of(m, key, h);
        m->slots[i].key = copy;
        m->slots[i].hash = h;
        m->slots[i].val = NULL;
        m->cnt++;
        if (added)
                *added = true;
        return &m->slots[i];
}

void *sl_hmap_remove(sl_hmap_t *m, const char *key)
{
        sl_hmap_ent_t *e = sl_hmap_find(m, key);
        size_t mask = m->cap - 1, hole, i;
        void *val;

        if (!e)
                return NULL;
        val = e->val;
        free(e->key);
        hole = (size_t)(e - m->slots);
        /* Backward shift: pull later entries of the probe run into the hole unless
         * their home slot lies cyclically after the hole (then they must not move). */
        for (i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
                size_t home = (size_t)m->slots[i].hash & mask;
                if (((i - home) & mask) >= ((i - hole) & mask)) {
                        m->slots[hole] = m->slots[i];
                        hole = i;
                }
        }
        memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
        m->cnt--;
        return val;
}

sl_hmap_ent_t *sl_hmap_next(const sl_hmap_t *m, size_t *it)
{
        while (*it < m->cap) {
                sl_hmap_ent_t *e = &m->slots[(*it)++];
                if (e->key)
                        return e;
        }
        return NULL;
}
