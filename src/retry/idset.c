/* A set of (event id, attempt); see idset.h. */
#include "retry/idset.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/uuid.h"

int sl_retry_idkey(const char *id, int32_t attempt, sl_retry_idkey_t *k)
{
        uint8_t b[16];
        uint64_t hi = 0, lo = 0;

        if (sl_uuid_parse(id, b) != SL_OK)
                return SL_ERR_INVALID;
        for (int i = 0; i < 8; i++) {
                hi = hi << 8 | b[i];
                lo = lo << 8 | b[i + 8];
        }
        k->hi = hi;
        k->lo = lo;
        k->attempt = attempt;
        k->used = 1;
        return SL_OK;
}

/* Random UUIDs are already uniform, but ids need not be random (v1, v7 have clock
 * bits): mix both halves and the attempt (the splitmix64 finaliser). */
static uint64_t hash(const sl_retry_idkey_t *k)
{
        uint64_t h =
            k->hi ^ (k->lo * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(uint32_t)k->attempt;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        return h ^ (h >> 31);
}

/* The slot holding k, or the free slot where it would go. */
static sl_retry_idkey_t *find(const sl_retry_idset_t *s, const sl_retry_idkey_t *k)
{
        size_t mask = s->cap - 1;
        for (size_t i = hash(k) & mask;; i = (i + 1) & mask) {
                sl_retry_idkey_t *slot = &s->v[i];
                if (!slot->used || (slot->hi == k->hi && slot->lo == k->lo &&
                                    slot->attempt == k->attempt))
                        return slot;
        }
}

void sl_retry_idset_init(sl_retry_idset_t *s)
{
        memset(s, 0, sizeof(*s));
}

static int grow(sl_retry_idset_t *s)
{
        sl_retry_idset_t bigger = {.cap = s->cap ? s->cap * 2 : 1024};

        if (!(bigger.v = calloc(bigger.cap, sizeof(*bigger.v))))
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->v[i].used)
                        *find(&bigger, &s->v[i]) = s->v[i];
        bigger.cnt = s->cnt;
        free(s->v);
        *s = bigger;
        return SL_OK;
}

int sl_retry_idset_add(sl_retry_idset_t *s, const sl_retry_idkey_t *k, bool *added)
{
        sl_retry_idkey_t *slot;

        if ((s->cnt + 1) * 2 > s->cap && grow(s) != SL_OK)
                return SL_ERR_NOMEM;
        slot = find(s, k);
        if (added)
                *added = !slot->used;
        if (!slot->used) {
                *slot = *k;
                slot->used = 1;
                s->cnt++;
        }
        return SL_OK;
}

bool sl_retry_idset_has(const sl_retry_idset_t *s, const sl_retry_idkey_t *k)
{
        return s->cnt && find(s, k)->used;
}

void sl_retry_idset_clear(sl_retry_idset_t *s)
{
        if (s->cnt)
                memset(s->v, 0, s->cap * sizeof(*s->v));
        s->cnt = 0;
}

void sl_retry_idset_free(sl_retry_idset_t *s)
{
        free(s->v);
        sl_retry_idset_init(s);
}
