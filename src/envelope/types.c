/*
 * sl_types_t: the event type -> payload schema map ingress consults for every event.
 * A small chained hash table (FNV-1a); built once per reload and read-only afterwards,
 * so concurrent lookups need no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope/validate.h"
#include "sluice/err.h"

typedef struct sl_type_ent_s {
        struct sl_type_ent_s *next;
        uint64_t hash;
        sl_payload_schema_t *ps;
        char type[]; /* NUL-terminated */
} sl_type_ent_t;

struct sl_types_s {
        sl_type_ent_t **buckets;
        size_t bucket_cnt, cnt;
};

static uint64_t sl_types_hash(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
        return h;
}

sl_types_t *sl_types_new(void)
{
        sl_types_t *types = calloc(1, sizeof(*types));
        if (!types)
                return NULL;
        types->bucket_cnt = 16;
        types->buckets = calloc(types->bucket_cnt, sizeof(*types->buckets));
        if (!types->buckets) {
                free(types);
                return NULL;
        }
        return types;
}

void sl_types_destroy(sl_types_t *types)
{
        if (!types)
                return;
        for (size_t i = 0; i < types->bucket_cnt; i++) {
                sl_type_ent_t *e = types->buckets[i];
                while (e) {
                        sl_type_ent_t *next = e->next;
                        sl_payload_schema_destroy(e->ps);
                        free(e);
                        e = next;
                }
        }
        free(types->buckets);
        free(types);
}

static int sl_types_grow(sl_types_t *types)
{
        size_t nb = types->bucket_cnt * 2;
        sl_type_ent_t **b = calloc(nb, sizeof(*b));
        if (!b)
                return SL_ERR_NOMEM;
        for (size_t i = 0; i < types->bucket_cnt; i++) {
                sl_type_ent_t *e = types->buckets[i];
                while (e) {
                        sl_type_ent_t *next = e->next;
                        e->next = b[e->hash & (nb - 1)];
                        b[e->hash & (nb - 1)] = e;
                        e = next;
                }
        }
        free(types->buckets);
        types->buckets = b;
        types->bucket_cnt = nb;
        return SL_OK;
}

int sl_types_put(sl_types_t *types, const char *type, sl_payload_schema_t *ps)
{
        if (!types || !type || !ps) {
                sl_payload_schema_destroy(ps);
                return SL_ERR_INVALID;
        }
        uint64_t h = sl_types_hash(type);
        for (sl_type_ent_t *e = types->buckets[h & (types->bucket_cnt - 1)]; e;
             e = e->next) {
                if (e->hash == h && !strcmp(e->type, type)) {
                        sl_payload_schema_destroy(e->ps);
                        e->ps = ps;
                        return SL_OK;
                }
        }
        if (types->cnt >= types->bucket_cnt && sl_types_grow(types)) {
                sl_payload_schema_destroy(ps);
                return SL_ERR_NOMEM;
        }
        size_t len = strlen(type);
        sl_type_ent_t *e = malloc(sizeof(*e) + len + 1);
        if (!e) {
                sl_payload_schema_destroy(ps);
                return SL_ERR_NOMEM;
        }
        memcpy(e->type, type, len + 1);
        e->hash = h;
        e->ps = ps;
        size_t b = h & (types->bucket_cnt - 1);
        e->next = types->buckets[b];
        types->buckets[b] = e;
        types->cnt++;
        return SL_OK;
}

const sl_payload_schema_t *sl_types_get(const sl_types_t *types, const char *type)
{
        if (!types || !type)
                return NULL;
        uint64_t h = sl_types_hash(type);
        for (sl_type_ent_t *e = types->buckets[h & (types->bucket_cnt - 1)]; e;
             e = e->next)
                if (e->hash == h && !strcmp(e->type, type))
                        return e->ps;
        return NULL;
}

size_t sl_types_count(const sl_types_t *types)
{
        return types ? types->cnt : 0;
}
