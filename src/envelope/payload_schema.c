/*
 * Payload schemas: an Avro schema per event type that the payload JSON must conform
 * to, checked the way Avro's JSON encoding reads data.  Every record field without a
 * default must be present with a value of the field's type; fields the schema does not
 * name are allowed (publishers may add data before the schema catches up).  int is a
 * JSON integer within 32 bits, long any JSON integer, float/double any number,
 * string/bytes/fixed a string, enum one of its symbols, array/map/record an
 * array/object whose members conform, and a union either the bare value of a branch
 * (null when "null" is a branch) or Avro-JSON's {"<branch name>": value}.  Messages name
 * the JSON path: "payload.customer.age: expected int, got string".
 *
 * Only types with a schema pay for this: the payload is parsed with jansson here,
 * after json_check.c has already accepted it.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope/envelope_int.h"
#include "envelope/validate.h"
#include "sluice/err.h"

struct sl_payload_schema_s {
        sl__avro_schema_t *schema;
};

typedef struct sl_pc_s {
        char path[200];
        size_t path_len;
        char *msg;
        size_t msg_size;
        int quiet; /* trying union branches: no messages */
} sl_pc_t;

sl_payload_schema_t *sl_payload_schema_new(const char *avsc_json, char *errstr,
                                           size_t errstr_size)
{
        sl_payload_schema_t *ps;
        if (!avsc_json) {
                snprintf(errstr, errstr_size, "no payload schema given");
                return NULL;
        }
        ps = calloc(1, sizeof(*ps));
        if (!ps) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ps->schema =
            sl__avro_schema_parse(avsc_json, strlen(avsc_json), errstr, errstr_size);
        if (!ps->schema) {
                free(ps);
                return NULL;
        }
        return ps;
}

void sl_payload_schema_destroy(sl_payload_schema_t *ps)
{
        if (!ps)
                return;
        sl__avro_schema_destroy(ps->schema);
        free(ps);
}

static const char *sl_json_kind(const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "?";
}

static int sl_pc_fail(sl_pc_t *pc, const char *fmt, ...)
{
        char what[160];
        va_list ap;
        if (pc->quiet)
                return -1;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(pc->msg, pc->msg_size, "%s: %s", pc->path, what);
        return -1;
}

static const char *sl_node_name(const sl__avro_node_t *n)
{
        return n->fullname ? n->fullname : sl__avro_type_name(n->type);
}

/* Append ".name" or "[i]" to the path; returns the old length to restore. */
static size_t sl_pc_push(sl_pc_t *pc, const char *fmt, ...)
{
        size_t old = pc->path_len;
        va_list ap;
        if (pc->path_len < sizeof(pc->path) - 1) {
                va_start(ap, fmt);
                int n = vsnprintf(pc->path + pc->path_len,
                                  sizeof(pc->path) - pc->path_len, fmt, ap);
                va_end(ap);
                if (n > 0)
                        pc->path_len += (size_t)n;
                if (pc->path_len > sizeof(pc->path) - 1)
                        pc->path_len = sizeof(pc->path) - 1;
        }
        return old;
}

static void sl_pc_pop(sl_pc_t *pc, size_t old)
{
        pc->path_len = old;
        pc->path[old] = '\0';
}

static int sl_pc_check(sl_pc_t *pc, const sl__avro_node_t *n, json_t *j);

static int sl_branch_named(const sl__avro_node_t *b, const char *key)
{
        if (b->fullname) {
                const char *dot = strrchr(b->fullname, '.');
                return !strcmp(key, b->fullname) || (dot && !strcmp(key, dot + 1));
        }
        return !strcmp(key, sl__avro_type_name(b->type));
}

static int sl_pc_union(sl_pc_t *pc, const sl__avro_node_t *n, json_t *j)
{
        int quiet = pc->quiet;
        char names[120];
        size_t off = 0;

        /* Avro JSON encoding: {"branch": value} */
        if (json_is_object(j) && json_object_size(j) == 1) {
                const char *key = json_object_iter_key(json_object_iter(j));
                for (size_t i = 0; i < n->cnt; i++) {
                        if (n->kids[i]->type != SL_AVRO_NULL &&
                            sl_branch_named(n->kids[i], key)) {
                                pc->quiet = 1;
                                int rc = sl_pc_check(
                                    pc, n->kids[i],
                                    json_object_iter_value(json_object_iter(j)));
                                pc->quiet = quiet;
                                if (rc == 0)
                                        return 0;
                        }
                }
        }
        pc->quiet = 1;
        for (size_t i = 0; i < n->cnt; i++) {
                if (sl_pc_check(pc, n->kids[i], j) == 0) {
                        pc->quiet = quiet;
                        return 0;
                }
        }
        pc->quiet = quiet;
        names[0] = '\0';
        for (size_t i = 0; i < n->cnt && off < sizeof(names); i++) {
                int w = snprintf(names + off, sizeof(names) - off, "%s%s", i ? "|" : "",
                                 sl_node_name(n->kids[i]));
                if (w > 0)
                        off += (size_t)w;
        }
        return sl_pc_fail(pc, "expected %s, got %s", names, sl_json_kind(j));
}

static int sl_pc_check(sl_pc_t *pc, const sl__avro_node_t *n, json_t *j)
{
        int ok = 0;
        switch (n->type) {
        case SL_AVRO_NULL:
                ok = json_is_null(j);
                break;
        case SL_AVRO_BOOLEAN:
                ok = json_is_boolean(j);
                break;
        case SL_AVRO_INT:
                if (json_is_integer(j) && (json_integer_value(j) < INT32_MIN ||
                                           json_integer_value(j) > INT32_MAX))
                        return sl_pc_fail(
                            pc, "expected int, got an integer out of its range");
                ok = json_is_integer(j);
                break;
        case SL_AVRO_LONG:
                ok = json_is_integer(j);
                break;
        case SL_AVRO_FLOAT:
        case SL_AVRO_DOUBLE:
                ok = json_is_number(j);
                break;
        case SL_AVRO_BYTES:
        case SL_AVRO_STRING:
        case SL_AVRO_FIXED:
                ok = json_is_string(j);
                break;
        case SL_AVRO_ENUM:
                if (!json_is_string(j))
                        return sl_pc_fail(pc, "expected enum %s, got %s", n->fullname,
                                          sl_json_kind(j));
                for (size_t i = 0; i < n->cnt; i++)
                        if (!strcmp(n->names[i], json_string_value(j)))
                                return 0;
                return sl_pc_fail(pc, "\"%.40s\" is not a symbol of enum %s",
                                  json_string_value(j), n->fullname);
        case SL_AVRO_ARRAY:
                if (!json_is_array(j))
                        break;
                for (size_t i = 0; i < json_array_size(j); i++) {
                        size_t old = sl_pc_push(pc, "[%zu]", i);
                        int rc = sl_pc_check(pc, n->kids[0], json_array_get(j, i));
                        sl_pc_pop(pc, old);
                        if (rc)
                                return -1;
                }
                return 0;
        case SL_AVRO_MAP: {
                const char *key;
                json_t *v;
                if (!json_is_object(j))
                        break;
                json_object_foreach(j, key, v)
                {
                        size_t old = sl_pc_push(pc, ".%s", key);
                        int rc = sl_pc_check(pc, n->kids[0], v);
                        sl_pc_pop(pc, old);
                        if (rc)
                                return -1;
                }
                return 0;
        }
        case SL_AVRO_RECORD:
                if (!json_is_object(j))
                        break;
                for (size_t i = 0; i < n->cnt; i++) {
                        json_t *v = json_object_get(j, n->names[i]);
                        size_t old = sl_pc_push(pc, ".%s", n->names[i]);
                        int rc = 0;
                        if (!v) {
                                if (!n->has_default[i])
                                        rc = sl_pc_fail(pc, "missing required field (%s)",
                                                        sl_node_name(n->kids[i]));
                        } else {
                                rc = sl_pc_check(pc, n->kids[i], v);
                        }
                        sl_pc_pop(pc, old);
                        if (rc)
                                return -1;
                }
                return 0;
        case SL_AVRO_UNION:
                return sl_pc_union(pc, n, j);
        }
        if (ok)
                return 0;
        return sl_pc_fail(pc, "expected %s, got %s", sl_node_name(n), sl_json_kind(j));
}

/* SL_OK or SL_ERR_REJECTED with msg set. */
int sl__payload_schema_check(const sl_payload_schema_t *ps, const char *payload,
                             size_t len, char *msg, size_t msg_size)
{
        json_error_t jerr;
        sl_pc_t pc = {.msg = msg, .msg_size = msg_size};
        json_t *j = json_loadb(payload, len, 0, &jerr);
        int rc;

        if (!j) {
                snprintf(msg, msg_size,
                         "payload: cannot be checked against its schema: %s", jerr.text);
                return SL_ERR_REJECTED;
        }
        strcpy(pc.path, "payload");
        pc.path_len = strlen(pc.path);
        rc = sl_pc_check(&pc, ps->schema->root, j);
        json_decref(j);
        return rc ? SL_ERR_REJECTED : SL_OK;
}
