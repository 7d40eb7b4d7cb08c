/*
 * sl_types_t: the event type -> payload schema map ingress consults for every event.
 * The one hash map (util/hmap.h) holding each type's compiled schema; built once per
 * reload and read-only afterwards, so concurrent lookups need no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope/validate.h"
#include "sluice/err.h"
#include "util/hmap.h"

struct sl_types_s {
        sl_hmap_t map; /* type -> sl_payload_schema_t, owned */
};

sl_types_t *sl_types_new(void)
{
        sl_types_t *types = calloc(1, sizeof(*types));
        if (!types)
                return NULL;
        sl_hmap_init(&types->map);
        return types;
}

static void schema_free(void *ps)
{
        sl_payload_schema_destroy(ps);
}

void sl_types_destroy(sl_types_t *types)
{
        if (!types)
                return;
        sl_hmap_close(&types->map, schema_free);
        free(types);
}

int sl_types_put(sl_types_t *types, const char *type, sl_payload_schema_t *ps)
{
        sl_hmap_ent_t *e;

        if (!types || !type || !ps) {
                sl_payload_schema_destroy(ps);
                return SL_ERR_INVALID;
        }
        if (!(e = sl_hmap_add(&types->map, type, NULL))) {
                sl_payload_schema_destroy(ps);
                return SL_ERR_NOMEM;
        }
        sl_payload_schema_destroy(e->val); /* NULL when new */
        e->val = ps;
        return SL_OK;
}

const sl_payload_schema_t *sl_types_get(const sl_types_t *types, const char *type)
{
        return types ? sl_hmap_get(&types->map, type) : NULL;
}

size_t sl_types_count(const sl_types_t *types)
{
        return types ? sl_hmap_count(&types->map) : 0;
}
