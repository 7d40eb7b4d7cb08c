/* Launch ids as UUIDv5 (see launch_id.h). */
#include "trigger/launch_id.h"

#include <ctype.h>
#include <string.h>

#include <uuid/uuid.h>

void sl_uuid_v5(const uint8_t ns[16], const char *name, size_t len, uint8_t out[16])
{
        uuid_generate_sha1(out, ns, name, len);
}

void sl_launch_id(const uint8_t trigger_id[16], const char *event_id, uint8_t out[16])
{
        char name[37];
        size_t n = 0;

        for (; n < 36 && event_id[n]; n++)
                name[n] = (char)tolower((unsigned char)event_id[n]);
        name[n] = '\0';
        sl_uuid_v5(trigger_id, name, n, out);
}

void sl_launch_id_format(const uint8_t id[16], char out[37])
{
        uuid_unparse_lower(id, out);
}
