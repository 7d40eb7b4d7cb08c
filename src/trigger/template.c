/*
 * The parameters template (template.h): parsing walks the JSON document once and
 * compiles it into a list of ops (a literal slice of pre-rendered compact JSON, a typed
 * value, or a value interpolated as text); filling runs the ops into the caller's
 * buffer.  The JSON writer here is our own (jansson's dumper allocates), used both to
 * pre-render the literals and to write payload values.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "trigger/path.h"
#include "trigger/template.h"
#include "util/array.h"

typedef enum top_kind { T_LIT, T_VALUE, T_TEXT } top_kind_t;

typedef struct top_s {
        top_kind_t kind;
        size_t off, len; /* T_LIT: t->lits.data[off..off+len) */
        sl_path_t path;  /* T_VALUE, T_TEXT */
} top_t;

struct sl_template_s {
        top_t *ops;
        size_t nops, ops_cap;
        sl_template_buf_t lits;
        bool uses_payload;
};

/* Writing into a buffer; the first failure to grow sticks and later writes are
 * dropped, so the writers need not check each call. */
typedef struct out_s {
        sl_template_buf_t *b;
        bool oom;
} out_t;

void sl_template_buf_init(sl_template_buf_t *buf)
{
        memset(buf, 0, sizeof(*buf));
}

void sl_template_buf_close(sl_template_buf_t *buf)
{
        free(buf->data);
        sl_template_buf_init(buf);
}

static void put(out_t *o, const char *s, size_t n)
{
        sl_template_buf_t *b = o->b;
        if (o->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                char *v = sl_array_grow(b->data, &b->cap, b->len + n + 1, 1, 256);
                if (!v) {
                        o->oom = true;
                        return;
                }
                b->data = v;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

static void put_escaped(out_t *o, const char *s, size_t n, bool in_str);

/* JSON text, escaped once more when it goes inside a string (in_str). */
static void put_json_text(out_t *o, const char *s, size_t n, bool in_str)
{
        if (in_str)
                put_escaped(o, s, n, false);
        else
                put(o, s, n);
}

/* String content JSON-escaped (no quotes): ", \ and bytes below 0x20; every other
 * byte, UTF-8 included, passes.  The escaped text goes through put_json_text(), so a
 * string inside a string is escaped twice. */
static void put_escaped(out_t *o, const char *s, size_t n, bool in_str)
{
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                char esc[8];
                const char *short_esc = NULL;
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                put_json_text(o, s + run, i - run, in_str);
                run = i + 1;
                switch (c) {
                case '"':
                        short_esc = "\\\"";
                        break;
                case '\\':
                        short_esc = "\\\\";
                        break;
                case '\b':
                        short_esc = "\\b";
                        break;
                case '\f':
                        short_esc = "\\f";
                        break;
                case '\n':
                        short_esc = "\\n";
                        break;
                case '\r':
                        short_esc = "\\r";
                        break;
                case '\t':
                        short_esc = "\\t";
                        break;
                default:
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        short_esc = esc;
                }
                put_json_text(o, short_esc, strlen(short_esc), in_str);
        }
        put_json_text(o, s + run, n - run, in_str);
}

static void put_string(out_t *o, const char *s, size_t n, bool in_str)
{
        put_json_text(o, "\"", 1, in_str);
        put_escaped(o, s, n, in_str);
        put_json_text(o, "\"", 1, in_str);
}

static void put_number(out_t *o, const sl_value_t *v, bool in_str)
{
        char num[40];
        int n;
        if (v->is_int) {
                n = snprintf(num, sizeof(num), "%" PRId64, v->i);
        } else {
                n = snprintf(num, sizeof(num), "%.17g", v->d);
                if (n > 0 && (size_t)n + 2 < sizeof(num) && !strpbrk(num, ".eEni")) {
                        memcpy(num + n, ".0", 3);
                        n += 2;
                }
        }
        put_json_text(o, num, (size_t)n, in_str);
}

static void put_json(out_t *o, const json_t *j, bool in_str)
{
        sl_value_t v;
        size_t i;
        const json_t *e;

        switch (json_typeof(j)) {
        case JSON_OBJECT: {
                bool first = true;
                put_json_text(o, "{", 1, in_str);
                for (void *it = json_object_iter((json_t *)j); it;
                     it = json_object_iter_next((json_t *)j, it)) {
                        if (!first)
                                put_json_text(o, ",", 1, in_str);
                        first = false;
                        put_string(o, json_object_iter_key(it),
                                   json_object_iter_key_len(it), in_str);
                        put_json_text(o, ":", 1, in_str);
                        put_json(o, json_object_iter_value(it), in_str);
                }
                put_json_text(o, "}", 1, in_str);
                return;
        }
        case JSON_ARRAY:
                put_json_text(o, "[", 1, in_str);
                json_array_foreach(j, i, e)
                {
                        if (i > 0)
                                put_json_text(o, ",", 1, in_str);
                        put_json(o, e, in_str);
                }
                put_json_text(o, "]", 1, in_str);
                return;
        default:
                break;
        }
        sl_value_of_json(j, &v);
        switch (v.kind) {
        case SL_VALUE_NULL:
                put_json_text(o, "null", 4, in_str);
                break;
        case SL_VALUE_BOOL:
                put_json_text(o, v.b ? "true" : "false", v.b ? 4 : 5, in_str);
                break;
        case SL_VALUE_NUMBER:
                put_number(o, &v, in_str);
                break;
        case SL_VALUE_STRING:
                put_string(o, v.s, v.len, in_str);
                break;
        default:
                break;
        }
}

/* A resolved value: typed JSON (missing is null), or as text inside a string (strings
 * raw, missing as nothing). */
static void put_value(out_t *o, const sl_value_t *v, bool in_str)
{
        switch (v->kind) {
        case SL_VALUE_MISSING:
                if (!in_str)
                        put(o, "null", 4);
                return;
        case SL_VALUE_STRING:
                if (in_str)
                        put_escaped(o, v->s, v->len, false);
                else
                        put_string(o, v->s, v->len, false);
                return;
        case SL_VALUE_NUMBER:
                put_number(o, v, in_str);
                return;
        default:
                if (v->json) {
                        put_json(o, v->json, in_str);
                } else { /* not from the payload: null or a bool literal */
                        const char *s = v->kind == SL_VALUE_NULL ? "null"
                                        : v->b                   ? "true"
                                                                 : "false";
                        put_json_text(o, s, strlen(s), in_str);
                }
                return;
        }
}

/* Compiling: the literal text since the last op goes to t->lits (lit_start..len). */
typedef struct compiler_s {
        sl_template_t *t;
        out_t lits;
        size_t lit_start;
        char where[256]; /* the current value's place, ".a[2].b" */
        int err;
        size_t errpos;
        char *errstr;
        size_t errstr_size;
} compiler_t;

static top_t *add_op(compiler_t *c, top_kind_t kind)
{
        sl_template_t *t = c->t;
        top_t *v;
        if (kind != T_LIT && c->lits.b->len > c->lit_start) {
                top_t *lit = add_op(c, T_LIT);
                if (!lit)
                        return NULL;
        }
        v = sl_array_grow(t->ops, &t->ops_cap, t->nops + 1, sizeof(*v), 8);
        if (!v) {
                c->err = SL_ERR_NOMEM;
                return NULL;
        }
        t->ops = v;
        v = &t->ops[t->nops++];
        memset(v, 0, sizeof(*v));
        v->kind = kind;
        if (kind == T_LIT) {
                v->off = c->lit_start;
                v->len = c->lits.b->len - c->lit_start;
                c->lit_start = c->lits.b->len;
        }
        return v;
}

/* The placeholder whose "{{" is at s[*i]: its path into *path, *i after its "}}". */
static int parse_placeholder(compiler_t *c, const char *s, size_t *i, sl_path_t *path)
{
        size_t open = *i, pos = *i + 2;
        int err;
        char why[200] = "";

        while (s[pos] == ' ')
                pos++;
        err = sl_path_parse(s, &pos, path, why, sizeof(why));
        if (err == SL_OK) {
                while (s[pos] == ' ')
                        pos++;
                if (s[pos] != '}' || s[pos + 1] != '}') {
                        sl_path_close(path);
                        err = SL_ERR_INVALID;
                        sl__trigger_errf(why, sizeof(why), pos,
                                         strstr(s + open, "}}") ? "expected '}}'"
                                                                : "unclosed '{{'");
                }
        }
        if (err != SL_OK) {
                c->err = err;
                c->errpos = pos;
                snprintf(c->errstr, c->errstr_size, "in the string at %s: %s",
                         c->where[0] ? c->where : "the top", why);
                return err;
        }
        *i = pos + 2;
        if (path->root == SL_PATH_PAYLOAD)
                c->t->uses_payload = true;
        return SL_OK;
}

/* A string value: one typed placeholder, or text with placeholders, or a literal. */
static int compile_string(compiler_t *c, const char *s, size_t n)
{
        size_t i = 0, run = 0;
        sl_path_t path;
        top_t *op;

        if (n > 4 && s[0] == '{' && s[1] == '{') {
                if (parse_placeholder(c, s, &i, &path) != SL_OK)
                        return c->err;
                if (i == n) {
                        if (!(op = add_op(c, T_VALUE))) {
                                sl_path_close(&path);
                                return c->err;
                        }
                        op->path = path;
                        return SL_OK;
                }
                sl_path_close(&path);
                i = 0;
        }
        put(&c->lits, "\"", 1);
        while (i < n) {
                if (s[i] == '\\' && s[i + 1] == '{' && s[i + 2] == '{') {
                        put_escaped(&c->lits, s + run, i - run, false);
                        i += 1;
                        run = i;
                        i += 2;
                        continue;
                }
                if (s[i] != '{' || s[i + 1] != '{') {
                        i++;
                        continue;
                }
                put_escaped(&c->lits, s + run, i - run, false);
                if (parse_placeholder(c, s, &i, &path) != SL_OK)
                        return c->err;
                if (!(op = add_op(c, T_TEXT))) {
                        sl_path_close(&path);
                        return c->err;
                }
                op->path = path;
                run = i;
        }
        put_escaped(&c->lits, s + run, n - run, false);
        put(&c->lits, "\"", 1);
        return SL_OK;
}

static int compile(compiler_t *c, const json_t *j)
{
        size_t wlen = strlen(c->where), i;
        const json_t *e;
        int err = SL_OK;

        switch (json_typeof(j)) {
        case JSON_OBJECT:
                put(&c->lits, "{", 1);
                for (void *it = json_object_iter((json_t *)j); it && err == SL_OK;
                     it = json_object_iter_next((json_t *)j, it)) {
                        if (it != json_object_iter((json_t *)j))
                                put(&c->lits, ",", 1);
                        put_string(&c->lits, json_object_iter_key(it),
                                   json_object_iter_key_len(it), false);
                        put(&c->lits, ":", 1);
                        snprintf(c->where + wlen, sizeof(c->where) - wlen, ".%s",
                                 json_object_iter_key(it));
                        err = compile(c, json_object_iter_value(it));
                }
                put(&c->lits, "}", 1);
                break;
        case JSON_ARRAY:
                put(&c->lits, "[", 1);
                json_array_foreach(j, i, e)
                {
                        if (i > 0)
                                put(&c->lits, ",", 1);
                        snprintf(c->where + wlen, sizeof(c->where) - wlen, "[%zu]", i);
                        if ((err = compile(c, e)) != SL_OK)
                                break;
                }
                put(&c->lits, "]", 1);
                break;
        case JSON_STRING:
                err = compile_string(c, json_string_value(j), json_string_length(j));
                break;
        default:
                put_json(&c->lits, j, false);
                break;
        }
        c->where[wlen] = '\0';
        if (err == SL_OK && c->lits.oom)
                err = c->err = SL_ERR_NOMEM;
        return err;
}

sl_template_t *sl_template_parse(const char *json_text, size_t *errpos, char *errstr,
                                 size_t errstr_size)
{
        json_error_t jerr;
        json_t *doc;
        compiler_t c = {.errstr = errstr, .errstr_size = errstr_size};

        if (errpos)
                *errpos = 0;
        doc = json_loads(json_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                if (errpos)
                        *errpos = (size_t)jerr.position;
                snprintf(errstr, errstr_size, "at %d: %s", jerr.position, jerr.text);
                return NULL;
        }
        c.t = calloc(1, sizeof(*c.t));
        if (!c.t) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail_doc;
        }
        c.lits.b = &c.t->lits;
        if (compile(&c, doc) != SL_OK)
                goto fail_compile;
        if (c.lits.b->len > c.lit_start && !add_op(&c, T_LIT))
                goto fail_compile;
        json_decref(doc);
        return c.t;

fail_compile:
        if (c.err == SL_ERR_NOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        else if (errpos)
                *errpos = c.errpos;
        sl_template_destroy(c.t);
fail_doc:
        json_decref(doc);
        return NULL;
}

void sl_template_destroy(sl_template_t *t)
{
        if (!t)
                return;
        for (size_t k = 0; k < t->nops; k++)
                sl_path_close(&t->ops[k].path);
        free(t->ops);
        sl_template_buf_close(&t->lits);
        free(t);
}

bool sl_template_uses_payload(const sl_template_t *t)
{
        return t->uses_payload;
}

int sl_template_fill(const sl_template_t *t, const sl_envelope_t *env,
                     const json_t *payload, sl_template_buf_t *buf)
{
        out_t o = {.b = buf};
        sl_value_t v;

        buf->len = 0;
        put(&o, "", 0); /* data[0] = '\0' even for nothing */
        for (size_t k = 0; k < t->nops; k++) {
                const top_t *op = &t->ops[k];
                if (op->kind == T_LIT) {
                        put(&o, t->lits.data + op->off, op->len);
                        continue;
                }
                sl_path_resolve(&op->path, env, payload, &v);
                put_value(&o, &v, op->kind == T_TEXT);
        }
        if (o.oom) {
                buf->len = 0;
                if (buf->data)
                        buf->data[0] = '\0';
                return SL_ERR_NOMEM;
        }
        return SL_OK;
}
