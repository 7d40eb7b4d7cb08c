/*
 * Avro schemas as the envelope codec and the payload validator need them: JSON text
 * parsed (jansson) into a small tree of sl__avro_node_t, with named types resolved
 * (fullnames, namespaces, recursive references), and the schema's Parsing Canonical
 * Form built on the way (the specification's rules: primitives in simple form,
 * fullnames, only name/type/fields/symbols/items/values/size in that order, no
 * whitespace).  The canonical text is what single-object fingerprints are taken of.
 *
 * A second canonical text reproduces python3-avro 1.11, which keeps a primitive with
 * extra attributes (e.g. a logicalType) as {"type":"string"} instead of "string"; the
 * codec accepts that fingerprint too, so publishers using that library are not
 * rejected.  This file does not encode or decode data.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope/envelope_int.h"
#include "util/array.h"

#define SL_AVRO_MAX_NESTING 200

typedef struct sl_sbuf_s {
        char *buf;
        size_t len, cap;
} sl_sbuf_t;

typedef struct sl_aparse_s {
        sl__avro_schema_t *s;
        sl_sbuf_t cf, py;
        sl__avro_node_t **named;
        size_t named_cnt, named_cap;
        char *errstr;
        size_t errstr_size;
        int depth;
        int failed;
} sl_aparse_t;

static const char *const sl_prim_names[] = {"null",  "boolean", "int",   "long",
                                            "float", "double",  "bytes", "string"};

const char *sl__avro_type_name(sl__avro_type_t t)
{
        static const char *const names[] = {
            "null",   "boolean", "int",  "long",  "float", "double", "bytes",
            "string", "record",  "enum", "array", "map",   "union",  "fixed"};
        if ((unsigned)t >= sizeof(names) / sizeof(names[0]))
                return "?";
        return names[t];
}

static void sl_aparse_fail(sl_aparse_t *ap, const char *fmt, ...)
{
        if (ap->failed)
                return;
        ap->failed = 1;
        va_list ap_;
        va_start(ap_, fmt);
        vsnprintf(ap->errstr, ap->errstr_size, fmt, ap_);
        va_end(ap_);
}

static void sl_sbuf_put(sl_aparse_t *ap, sl_sbuf_t *sb, const char *s, size_t n)
{
        if (ap->failed)
                return;
        char *b = sl_array_grow(sb->buf, &sb->cap, sb->len + n + 1, 1, 256);
        if (!b) {
                sl_aparse_fail(ap, "out of memory");
                return;
        }
        sb->buf = b;
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
}

/* Append to both canonical texts. */
static void sl_emit(sl_aparse_t *ap, const char *s)
{
        size_t n = strlen(s);
        sl_sbuf_put(ap, &ap->cf, s, n);
        sl_sbuf_put(ap, &ap->py, s, n);
}

/* Append a JSON string literal to both canonical texts. */
static void sl_emit_str(sl_aparse_t *ap, const char *s)
{
        sl_emit(ap, "\"");
        for (const char *p = s; *p; p++) {
                char esc[8];
                if (*p == '"' || *p == '\\') {
                        esc[0] = '\\';
                        esc[1] = *p;
                        esc[2] = '\0';
                } else if ((unsigned char)*p < 0x20) {
                        snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*p);
                } else {
                        esc[0] = *p;
                        esc[1] = '\0';
                }
                sl_emit(ap, esc);
        }
        sl_emit(ap, "\"");
}

static sl__avro_node_t *sl_node_new(sl_aparse_t *ap, sl__avro_type_t t)
{
        sl__avro_node_t *n = calloc(1, sizeof(*n));
        if (!n) {
                sl_aparse_fail(ap, "out of memory");
                return NULL;
        }
        n->type = t;
        n->zero_size = (t == SL_AVRO_NULL);
        n->next_ = ap->s->nodes_;
        ap->s->nodes_ = n;
        return n;
}

static int sl_prim_lookup(const char *name)
{
        for (size_t i = 0; i < sizeof(sl_prim_names) / sizeof(sl_prim_names[0]); i++)
                if (!strcmp(name, sl_prim_names[i]))
                        return (int)i; /* SL_AVRO_NULL.. SL_AVRO_STRING in order */
        return -1;
}

/* One component of an Avro name: [A-Za-z_][A-Za-z0-9_]* */
static int sl_name_ok(const char *s, size_t n)
{
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
                int digit = c >= '0' && c <= '9';
                if (!alpha && !(digit && i > 0))
                        return 0;
        }
        return 1;
}

static int sl_fullname_ok(const char *s)
{
        const char *p = s;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                if (!sl_name_ok(p, n))
                        return 0;
                if (!dot)
                        return 1;
                p = dot + 1;
        }
}

static sl__avro_node_t *sl_named_find(sl_aparse_t *ap, const char *fullname)
{
        for (size_t i = 0; i < ap->named_cnt; i++)
                if (!strcmp(ap->named[i]->fullname, fullname))
                        return ap->named[i];
        return NULL;
}

static char *sl_join_name(const char *ns, const char *name)
{
        char *out;
        if (strchr(name, '.') || !ns || !*ns)
                return strdup(name);
        if (asprintf(&out, "%s.%s", ns, name) < 0)
                return NULL;
        return out;
}

/* Define a named type: fills n->fullname and *new_ns (caller frees). */
static int sl_named_define(sl_aparse_t *ap, sl__avro_node_t *n, json_t *j, const char *ns,
                           char **new_ns)
{
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *own_ns = json_string_value(json_object_get(j, "namespace"));
        if (!name) {
                sl_aparse_fail(ap, "%s without a \"name\"", sl__avro_type_name(n->type));
                return -1;
        }
        if (own_ns && !strchr(name, '.'))
                ns = own_ns;
        n->fullname = sl_join_name(ns, name);
        if (!n->fullname) {
                sl_aparse_fail(ap, "out of memory");
                return -1;
        }
        if (!sl_fullname_ok(n->fullname)) {
                sl_aparse_fail(ap, "invalid type name \"%s\"", n->fullname);
                return -1;
        }
        if (sl_prim_lookup(n->fullname) >= 0 || sl_named_find(ap, n->fullname)) {
                sl_aparse_fail(ap, "type name \"%s\" is defined twice", n->fullname);
                return -1;
        }
        const char *dot = strrchr(n->fullname, '.');
        *new_ns = dot ? strndup(n->fullname, (size_t)(dot - n->fullname)) : strdup("");
        if (!*new_ns) {
                sl_aparse_fail(ap, "out of memory");
                return -1;
        }
        sl__avro_node_t **nn =
            sl_array_grow(ap->named, &ap->named_cap, ap->named_cnt + 1, sizeof(*nn), 8);
        if (!nn) {
                sl_aparse_fail(ap, "out of memory");
                return -1;
        }
        ap->named = nn;
        ap->named[ap->named_cnt++] = n;
        return 0;
}

static sl__avro_node_t *sl_parse(sl_aparse_t *ap, json_t *j, const char *ns);

static sl__avro_node_t *sl_parse_name(sl_aparse_t *ap, const char *name, int quirk_obj)
{
        int prim = sl_prim_lookup(name);
        if (prim >= 0) {
                sl__avro_node_t *n = sl_node_new(ap, (sl__avro_type_t)prim);
                if (quirk_obj) {
                        sl_sbuf_put(ap, &ap->cf, "\"", 1);
                        sl_sbuf_put(ap, &ap->cf, name, strlen(name));
                        sl_sbuf_put(ap, &ap->cf, "\"", 1);
                        const char *pre = "{\"type\":\"";
                        sl_sbuf_put(ap, &ap->py, pre, strlen(pre));
                        sl_sbuf_put(ap, &ap->py, name, strlen(name));
                        sl_sbuf_put(ap, &ap->py, "\"}", 2);
                } else {
                        sl_emit_str(ap, name);
                }
                return n;
        }
        return NULL;
}

static sl__avro_node_t *sl_parse_ref(sl_aparse_t *ap, const char *name, const char *ns)
{
        sl__avro_node_t *n = NULL;
        char *full = sl_join_name(ns, name);
        if (!full) {
                sl_aparse_fail(ap, "out of memory");
                return NULL;
        }
        n = sl_named_find(ap, full);
        if (!n)
                n = sl_named_find(ap, name);
        free(full);
        if (!n) {
                sl_aparse_fail(ap, "unknown type \"%s\"", name);
                return NULL;
        }
        sl_emit_str(ap, n->fullname);
        return n;
}

static int sl_alloc_kids(sl_aparse_t *ap, sl__avro_node_t *n, size_t cnt, int with_names)
{
        n->cnt = cnt;
        n->kids = calloc(cnt ? cnt : 1, sizeof(*n->kids));
        if (with_names)
                n->names = calloc(cnt ? cnt : 1, sizeof(*n->names));
        if (!n->kids || (with_names && !n->names)) {
                sl_aparse_fail(ap, "out of memory");
                return -1;
        }
        return 0;
}

static sl__avro_node_t *sl_parse_record(sl_aparse_t *ap, json_t *j, const char *ns)
{
        char *new_ns = NULL;
        sl__avro_node_t *n = sl_node_new(ap, SL_AVRO_RECORD);
        if (!n || sl_named_define(ap, n, j, ns, &new_ns))
                goto done;
        json_t *fields = json_object_get(j, "fields");
        if (!json_is_array(fields)) {
                sl_aparse_fail(ap, "record %s: \"fields\" must be an array", n->fullname);
                goto done;
        }
        size_t cnt = json_array_size(fields);
        if (sl_alloc_kids(ap, n, cnt, 1))
                goto done;
        n->has_default = calloc(cnt ? cnt : 1, 1);
        if (!n->has_default) {
                sl_aparse_fail(ap, "out of memory");
                goto done;
        }
        sl_emit(ap, "{\"name\":");
        sl_emit_str(ap, n->fullname);
        sl_emit(ap, ",\"type\":\"record\",\"fields\":[");
        n->zero_size = true;
        for (size_t i = 0; i < cnt && !ap->failed; i++) {
                json_t *f = json_array_get(fields, i);
                const char *fname = json_string_value(json_object_get(f, "name"));
                json_t *ftype = json_object_get(f, "type");
                if (!fname || !ftype) {
                        sl_aparse_fail(ap,
                                       "record %s: field %zu needs \"name\" and \"type\"",
                                       n->fullname, i);
                        break;
                }
                if (!sl_name_ok(fname, strlen(fname))) {
                        sl_aparse_fail(ap, "record %s: invalid field name \"%s\"",
                                       n->fullname, fname);
                        break;
                }
                for (size_t k = 0; k < i; k++)
                        if (!strcmp(n->names[k], fname))
                                sl_aparse_fail(ap,
                                               "record %s: field \"%s\" appears twice",
                                               n->fullname, fname);
                n->names[i] = strdup(fname);
                if (!n->names[i]) {
                        sl_aparse_fail(ap, "out of memory");
                        break;
                }
                n->has_default[i] = json_object_get(f, "default") != NULL;
                sl_emit(ap, i ? ",{\"name\":" : "{\"name\":");
                sl_emit_str(ap, fname);
                sl_emit(ap, ",\"type\":");
                n->kids[i] = sl_parse(ap, ftype, new_ns);
                sl_emit(ap, "}");
                if (n->kids[i] && !n->kids[i]->zero_size)
                        n->zero_size = false;
        }
        sl_emit(ap, "]}");
done:
        free(new_ns);
        return ap->failed ? NULL : n;
}

static sl__avro_node_t *sl_parse_enum(sl_aparse_t *ap, json_t *j, const char *ns)
{
        char *new_ns = NULL;
        sl__avro_node_t *n = sl_node_new(ap, SL_AVRO_ENUM);
        if (!n || sl_named_define(ap, n, j, ns, &new_ns))
                goto done;
        json_t *syms = json_object_get(j, "symbols");
        if (!json_is_array(syms) || json_array_size(syms) == 0) {
                sl_aparse_fail(ap, "enum %s: \"symbols\" must be a non-empty array",
                               n->fullname);
                goto done;
        }
        size_t cnt = json_array_size(syms);
        if (sl_alloc_kids(ap, n, cnt, 1))
                goto done;
        sl_emit(ap, "{\"name\":");
        sl_emit_str(ap, n->fullname);
        sl_emit(ap, ",\"type\":\"enum\",\"symbols\":[");
        for (size_t i = 0; i < cnt; i++) {
                const char *sym = json_string_value(json_array_get(syms, i));
                if (!sym || !sl_name_ok(sym, strlen(sym))) {
                        sl_aparse_fail(ap, "enum %s: symbol %zu is not a valid name",
                                       n->fullname, i);
                        break;
                }
                n->names[i] = strdup(sym);
                if (!n->names[i]) {
                        sl_aparse_fail(ap, "out of memory");
                        break;
                }
                if (i)
                        sl_emit(ap, ",");
                sl_emit_str(ap, sym);
        }
        sl_emit(ap, "]}");
done:
        free(new_ns);
        return ap->failed ? NULL : n;
}

static sl__avro_node_t *sl_parse_fixed(sl_aparse_t *ap, json_t *j, const char *ns)
{
        char *new_ns = NULL;
        char num[32];
        sl__avro_node_t *n = sl_node_new(ap, SL_AVRO_FIXED);
        if (!n || sl_named_define(ap, n, j, ns, &new_ns))
                goto done;
        json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0 ||
            json_integer_value(size) > (1 << 30)) {
                sl_aparse_fail(ap, "fixed %s: \"size\" must be a non-negative integer",
                               n->fullname);
                goto done;
        }
        n->cnt = (size_t)json_integer_value(size);
        n->zero_size = n->cnt == 0;
        sl_emit(ap, "{\"name\":");
        sl_emit_str(ap, n->fullname);
        snprintf(num, sizeof(num), "%zu", n->cnt);
        sl_emit(ap, ",\"type\":\"fixed\",\"size\":");
        sl_emit(ap, num);
        sl_emit(ap, "}");
done:
        free(new_ns);
        return ap->failed ? NULL : n;
}

static sl__avro_node_t *sl_parse_container(sl_aparse_t *ap, json_t *j, const char *ns,
                                           sl__avro_type_t t)
{
        const char *key = t == SL_AVRO_ARRAY ? "items" : "values";
        json_t *sub = json_object_get(j, key);
        sl__avro_node_t *n = sl_node_new(ap, t);
        if (!n)
                return NULL;
        if (!sub) {
                sl_aparse_fail(ap, "%s without \"%s\"", sl__avro_type_name(t), key);
                return NULL;
        }
        if (sl_alloc_kids(ap, n, 1, 0))
                return NULL;
        sl_emit(ap, t == SL_AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                       : "{\"type\":\"map\",\"values\":");
        n->kids[0] = sl_parse(ap, sub, ns);
        sl_emit(ap, "}");
        return ap->failed ? NULL : n;
}

static sl__avro_node_t *sl_parse_union(sl_aparse_t *ap, json_t *j, const char *ns)
{
        size_t cnt = json_array_size(j);
        sl__avro_node_t *n = sl_node_new(ap, SL_AVRO_UNION);
        if (!n || sl_alloc_kids(ap, n, cnt, 0))
                return NULL;
        if (cnt == 0) {
                sl_aparse_fail(ap, "empty union");
                return NULL;
        }
        sl_emit(ap, "[");
        for (size_t i = 0; i < cnt && !ap->failed; i++) {
                if (i)
                        sl_emit(ap, ",");
                n->kids[i] = sl_parse(ap, json_array_get(j, i), ns);
                if (n->kids[i] && n->kids[i]->type == SL_AVRO_UNION)
                        sl_aparse_fail(ap, "a union may not directly contain a union");
                for (size_t k = 0; k < i && !ap->failed; k++) {
                        const sl__avro_node_t *a = n->kids[k], *b = n->kids[i];
                        if (!a || !b || a->type != b->type)
                                continue;
                        if (!a->fullname || !b->fullname ||
                            !strcmp(a->fullname, b->fullname))
                                sl_aparse_fail(ap, "union has two branches of type %s",
                                               b->fullname ? b->fullname
                                                           : sl__avro_type_name(b->type));
                }
        }
        sl_emit(ap, "]");
        return ap->failed ? NULL : n;
}

static sl__avro_node_t *sl_parse(sl_aparse_t *ap, json_t *j, const char *ns)
{
        sl__avro_node_t *n = NULL;
        if (ap->failed)
                return NULL;
        if (++ap->depth > SL_AVRO_MAX_NESTING) {
                sl_aparse_fail(ap, "schema nested deeper than %d", SL_AVRO_MAX_NESTING);
                goto out;
        }
        if (json_is_string(j)) {
                const char *name = json_string_value(j);
                n = sl_parse_name(ap, name, 0);
                if (!n && !ap->failed)
                        n = sl_parse_ref(ap, name, ns);
        } else if (json_is_array(j)) {
                n = sl_parse_union(ap, j, ns);
        } else if (json_is_object(j)) {
                json_t *t = json_object_get(j, "type");
                const char *ts = json_string_value(t);
                if (!t) {
                        sl_aparse_fail(ap, "schema object without \"type\"");
                } else if (!ts) {
                        n = sl_parse(ap, t, ns);
                } else if (!strcmp(ts, "record") || !strcmp(ts, "error")) {
                        n = sl_parse_record(ap, j, ns);
                } else if (!strcmp(ts, "enum")) {
                        n = sl_parse_enum(ap, j, ns);
                } else if (!strcmp(ts, "fixed")) {
                        n = sl_parse_fixed(ap, j, ns);
                } else if (!strcmp(ts, "array")) {
                        n = sl_parse_container(ap, j, ns, SL_AVRO_ARRAY);
                } else if (!strcmp(ts, "map")) {
                        n = sl_parse_container(ap, j, ns, SL_AVRO_MAP);
                } else {
                        n = sl_parse_name(ap, ts, json_object_size(j) > 1);
                        if (!n && !ap->failed)
                                n = sl_parse_ref(ap, ts, ns);
                }
        } else {
                sl_aparse_fail(ap, "a schema must be a string, an object or an array");
        }
out:
        ap->depth--;
        return ap->failed ? NULL : n;
}

sl__avro_schema_t *sl__avro_schema_parse(const char *json, size_t len, char *errstr,
                                         size_t errstr_size)
{
        json_error_t jerr;
        sl_aparse_t ap = {.errstr = errstr, .errstr_size = errstr_size};
        json_t *j = json_loadb(json, len, JSON_DECODE_ANY, &jerr);

        if (!j) {
                snprintf(errstr, errstr_size,
                         "schema is not JSON: %s (line %d column %d)", jerr.text,
                         jerr.line, jerr.column);
                return NULL;
        }
        ap.s = calloc(1, sizeof(*ap.s));
        if (!ap.s) {
                snprintf(errstr, errstr_size, "out of memory");
                json_decref(j);
                return NULL;
        }
        ap.s->root = sl_parse(&ap, j, "");
        json_decref(j);
        free(ap.named);
        if (ap.failed) {
                free(ap.cf.buf);
                free(ap.py.buf);
                sl__avro_schema_destroy(ap.s);
                return NULL;
        }
        ap.s->canonical = ap.cf.buf;
        ap.s->canonical_py = ap.py.buf;
        return ap.s;
}

void sl__avro_schema_destroy(sl__avro_schema_t *s)
{
        if (!s)
                return;
        sl__avro_node_t *n = s->nodes_;
        while (n) {
                sl__avro_node_t *next = n->next_;
                if (n->names)
                        for (size_t i = 0; i < n->cnt; i++)
                                free(n->names[i]);
                free(n->names);
                free(n->kids);
                free(n->has_default);
                free(n->fullname);
                free(n);
                n = next;
        }
        free(s->canonical);
        free(s->canonical_py);
        free(s);
}
