/*
 * Private to src/envelope: the codec's tables.  The reader schema's fields are the
 * envelope's slots; each registered writer schema is compiled into a map from its
 * record fields to those slots (or to "skip"), which the one decoder interprets, so
 * the fast path (writer == reader) and resolution of other writers are the same code.
 */
#ifndef SL_CODEC_INT_H
#define SL_CODEC_INT_H

#include "envelope/envelope_int.h"

typedef enum sl_slot {
        SL_SLOT_ID,
        SL_SLOT_TYPE,
        SL_SLOT_SOURCE,
        SL_SLOT_OCCURRED_AT,
        SL_SLOT_PAYLOAD,
        SL_SLOT_CORRELATION_ID,
        SL_SLOT_TTL_MS,
        SL_SLOT_METADATA,
        SL_SLOT__CNT
} sl_slot_t;

/* What the reader schema holds in a slot. */
typedef enum sl_slot_kind {
        SL_KIND_STRING,     /* "string" */
        SL_KIND_LONG,       /* "long" */
        SL_KIND_OPT_STRING, /* ["null","string"] */
        SL_KIND_OPT_LONG,   /* ["null","long"] */
        SL_KIND_MAP_STRING, /* {"type":"map","values":"string"} */
} sl_slot_kind_t;

extern const char *const sl__slot_names[SL_SLOT__CNT];
extern const sl_slot_kind_t sl__slot_kinds[SL_SLOT__CNT];

typedef struct sl_writer_s {
        uint64_t fp;
        const sl__avro_node_t *rec; /* the writer's top-level record */
        signed char *slot_of;       /* per writer field: sl_slot_t or -1 (skip) */
        sl__avro_schema_t *schema;  /* owned when owner is set */
        int owner;
} sl_writer_t;

struct sl_codec_s {
        sl_writer_t *writers; /* [0] is the reader schema itself (fast path) */
        size_t writer_cnt, writer_cap;
        sl__avro_schema_t *reader;
        sl_slot_t reader_order[SL_SLOT__CNT]; /* slot of each reader field, in order */
        int reader_has_default[SL_SLOT__CNT];
};

#endif
