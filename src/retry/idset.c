/* A set of (event id, attempt); see idset.h. */
#include "retry/idset.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"

/* FNV-1a over the id, then the attempt's bytes. */
static uint64_t hash(const char *id, int32_t attempt)
{
        uint64_t h = 14695981039346656037ULL;
        for (const unsigned char *p = (const unsigned char *)id; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        for (int i = 0; i < 4; i++)
                h = (h ^ (((uint32_t)attempt >> (8 * i)) & 0xff)) * 1099511628211ULL;
        return h;
}

/* The slot holding (id, attempt), or the free slot where it would go. */
static sl_retry_idset_slot_t *find(const sl_retry_idset_t *s, const char *id,
                                   int32_t attempt)
{
        size_t mask = s->cap - 1;
        for (size_t i = hash(id, attempt) & mask;; i = (i + 1) & mask) {
                sl_retry_idset_slot_t *slot = &s->v[i];
                if (!slot->id[0] || (slot->attempt == attempt && strcmp(slot->id, id) == 0))
                        return slot;
        }
}

void sl_retry_idset_init(sl_retry_idset_t *s)
{
        memset(s, 0, sizeof(*s));
}

static int grow(sl_retry_idset_t *s)
{
        sl_retry_idset_t bigger = {.cap = s->cap ? s->cap * 2 : 64};

        if (!(bigger.v = calloc(bigger.cap, sizeof(*bigger.v))))
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->v[i].id[0])
                        *find(&bigger, s->v[i].id, s->v[i].attempt) = s->v[i];
        bigger.cnt = s->cnt;
        free(s->v);
        *s = bigger;
        return SL_OK;
}

int sl_retry_idset_add(sl_retry_idset_t *s, const char *id, int32_t attempt)
{
        sl_retry_idset_slot_t *slot;
        size_t len = strlen(id);

        if (!len || len > SL_RETRY_IDSET_ID_MAX)
                return SL_ERR_INVALID;
        if ((s->cnt + 1) * 2 > s->cap && grow(s) != SL_OK)
                return SL_ERR_NOMEM;
        slot = find(s, id, attempt);
        if (!slot->id[0]) {
                memcpy(slot->id, id, len + 1);
                slot->attempt = attempt;
                s->cnt++;
        }
        return SL_OK;
}

bool sl_retry_idset_has(const sl_retry_idset_t *s, const char *id, int32_t attempt)
{
        return s->cnt && find(s, id, attempt)->id[0];
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
