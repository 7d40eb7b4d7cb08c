/*
 * The filter language (grammar and semantics in filter.h): a recursive-descent parser
 * into a flat node array, and an evaluator that walks it without allocating.  '&&' and
 * '||' chains are one node with a sibling list, so evaluation recurses only as deep as
 * the parentheses and '!' nest (SL_FILTER_MAX_DEPTH).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "trigger/filter.h"
#include "trigger/path.h"
#include "util/array.h"

typedef enum node_op {
        N_OR,
        N_AND,
        N_NOT,
        N_CMP,
        N_IN,
        N_EXISTS,
        N_TRUTH,
        N_CONST
} node_op_t;
typedef enum cmp_op { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE } cmp_op_t;

/* OR/AND: a = first child, the children linked by next.  NOT: a = child.  CMP: a, b
 * operands.  IN: a operand, list operands b .. b+n-1.  EXISTS/TRUTH: a operand (a
 * path).  CONST: a is 0 or 1. */
typedef struct node_s {
        uint8_t op;
        uint8_t cmp;
        int32_t next;
        int32_t a, b, n;
} node_t;

typedef struct operand_s {
        bool is_path;
        sl_path_t path;
        sl_value_t lit;
        char *owned; /* a string literal's bytes */
} operand_t;

struct sl_filter_s {
        node_t *nodes;
        size_t nnodes, nodes_cap;
        operand_t *ops;
        size_t nops, ops_cap;
        int32_t root;
        bool uses_payload;
};

typedef struct parser_s {
        const char *text;
        size_t pos;
        int depth;
        sl_filter_t *f;
        int err; /* SL_OK until the first error */
        char *errstr;
        size_t errstr_size;
} parser_t;

static int32_t parse_or(parser_t *p);

static void skip_ws(parser_t *p)
{
        while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
               p->text[p->pos] == '\n' || p->text[p->pos] == '\r')
                p->pos++;
}

static bool is_word_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Whether the word w stands at the position (not as the start of a longer name). */
static bool at_word(const parser_t *p, const char *w)
{
        size_t n = strlen(w);
        return strncmp(p->text + p->pos, w, n) == 0 && !is_word_char(p->text[p->pos + n]);
}

static bool eat(parser_t *p, const char *tok)
{
        size_t n = strlen(tok);
        if (strncmp(p->text + p->pos, tok, n) != 0)
                return false;
        p->pos += n;
        return true;
}

static int32_t fail(parser_t *p, size_t at, const char *what)
{
        if (p->err == SL_OK) {
                p->err = SL_ERR_INVALID;
                p->pos = at;
                sl__trigger_errf(p->errstr, p->errstr_size, at, "%s", what);
        }
        return -1;
}

static int32_t nomem(parser_t *p)
{
        if (p->err == SL_OK) {
                p->err = SL_ERR_NOMEM;
                snprintf(p->errstr, p->errstr_size, "out of memory");
        }
        return -1;
}

static int32_t new_node(parser_t *p, node_op_t op, int32_t a, int32_t b)
{
        sl_filter_t *f = p->f;
        node_t *v = sl_array_grow(f->nodes, &f->nodes_cap, f->nnodes + 1, sizeof(*v), 16);
        if (!v)
                return nomem(p);
        f->nodes = v;
        v[f->nnodes] = (node_t){.op = (uint8_t)op, .next = -1, .a = a, .b = b};
        return (int32_t)f->nnodes++;
}

static int32_t new_operand(parser_t *p)
{
        sl_filter_t *f = p->f;
        operand_t *v = sl_array_grow(f->ops, &f->ops_cap, f->nops + 1, sizeof(*v), 8);
        if (!v)
                return nomem(p);
        f->ops = v;
        memset(&v[f->nops], 0, sizeof(*v));
        return (int32_t)f->nops++;
}

/* A number literal at the position: JSON syntax; an integer that fits is exact. */
static int32_t parse_number(parser_t *p, operand_t *o)
{
        const char *t = p->text;
        size_t start = p->pos, i = start;
        bool is_int = true;
        char buf[64];

        if (t[i] == '-')
                i++;
        if (t[i] < '0' || t[i] > '9')
                return fail(p, i, "expected a digit");
        while (t[i] >= '0' && t[i] <= '9')
                i++;
        if (t[i] == '.') {
                is_int = false;
                if (t[++i] < '0' || t[i] > '9')
                        return fail(p, i, "expected a digit after '.'");
                while (t[i] >= '0' && t[i] <= '9')
                        i++;
        }
        if (t[i] == 'e' || t[i] == 'E') {
                is_int = false;
                i++;
                if (t[i] == '+' || t[i] == '-')
                        i++;
                if (t[i] < '0' || t[i] > '9')
                        return fail(p, i, "expected a digit in the exponent");
                while (t[i] >= '0' && t[i] <= '9')
                        i++;
        }
        if (i - start >= sizeof(buf))
                return fail(p, start, "number longer than 63 characters");
        memcpy(buf, t + start, i - start);
        buf[i - start] = '\0';
        o->lit.kind = SL_VALUE_NUMBER;
        if (is_int) {
                errno = 0;
                long long v = strtoll(buf, NULL, 10);
                if (errno == 0) {
                        o->lit.is_int = true;
                        o->lit.i = v;
                        o->lit.d = (double)v;
                        p->pos = i;
                        return 0;
                }
        }
        o->lit.d = strtod(buf, NULL);
        p->pos = i;
        return 0;
}

/* A literal into a new operand; returns its index or -1. */
static int32_t parse_literal(parser_t *p)
{
        char c = p->text[p->pos];
        int32_t k;
        operand_t *o;

        if (c != '"' && c != '-' && !(c >= '0' && c <= '9') && !at_word(p, "true") &&
            !at_word(p, "false") && !at_word(p, "null"))
                return fail(p, p->pos,
                            "expected a literal (\"string\", number, true, "
                            "false or null)");
        k = new_operand(p);
        if (k < 0)
                return -1;
        o = &p->f->ops[k];
        if (c == '"') {
                size_t len;
                int err = sl__trigger_string(p->text, &p->pos, &o->owned, &len, p->errstr,
                                             p->errstr_size);
                if (err != SL_OK) {
                        if (err == SL_ERR_NOMEM)
                                return nomem(p);
                        p->err = err;
                        return -1;
                }
                o->lit.kind = SL_VALUE_STRING;
                o->lit.s = o->owned;
                o->lit.len = len;
        } else if (eat(p, "true")) {
                o->lit.kind = SL_VALUE_BOOL;
                o->lit.b = true;
        } else if (eat(p, "false")) {
                o->lit.kind = SL_VALUE_BOOL;
        } else if (eat(p, "null")) {
                o->lit.kind = SL_VALUE_NULL;
        } else if (parse_number(p, o) < 0) {
                return -1;
        }
        return k;
}

static bool at_path(const parser_t *p)
{
        char c = p->text[p->pos];
        return is_word_char(c) && c != '-' && !(c >= '0' && c <= '9') &&
               !at_word(p, "true") && !at_word(p, "false") && !at_word(p, "null");
}

static int32_t parse_path(parser_t *p)
{
        int32_t k = new_operand(p);
        if (k < 0)
                return -1;
        operand_t *o = &p->f->ops[k];
        int err = sl_path_parse(p->text, &p->pos, &o->path, p->errstr, p->errstr_size);
        if (err != SL_OK) {
                if (err == SL_ERR_NOMEM)
                        return nomem(p);
                p->err = err;
                return -1;
        }
        o->is_path = true;
        if (o->path.root == SL_PATH_PAYLOAD)
                p->f->uses_payload = true;
        return k;
}

static int32_t parse_operand(parser_t *p)
{
        return at_path(p) ? parse_path(p) : parse_literal(p);
}

/* A comparison operator at the position, consumed; -1 when none. */
static int parse_cmp_op(parser_t *p)
{
        static const struct {
                const char *tok;
                cmp_op_t op;
        } ops[] = {{"==", C_EQ}, {"!=", C_NE}, {"<=", C_LE},
                   {">=", C_GE}, {"<", C_LT},  {">", C_GT}};
        for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
                if (eat(p, ops[k].tok))
                        return (int)ops[k].op;
        return -1;
}

static bool at_cmp_op(const parser_t *p)
{
        const char *s = p->text + p->pos;
        return (s[0] == '=' && s[1] == '=') || (s[0] == '!' && s[1] == '=') ||
               s[0] == '<' || s[0] == '>' || at_word(p, "in") || at_word(p, "exists");
}

static int32_t parse_list(parser_t *p, int32_t lhs)
{
        int32_t first = -1, n = 0, node;

        skip_ws(p);
        if (!eat(p, "["))
                return fail(p, p->pos, "expected '[' after 'in'");
        skip_ws(p);
        if (!eat(p, "]")) {
                for (;;) {
                        skip_ws(p);
                        int32_t k = parse_literal(p);
                        if (k < 0)
                                return -1;
                        if (first < 0)
                                first = k;
                        n++;
                        skip_ws(p);
                        if (eat(p, "]"))
                                break;
                        if (!eat(p, ","))
                                return fail(p, p->pos, "expected ',' or ']'");
                }
        }
        node = new_node(p, N_IN, lhs, first);
        if (node >= 0)
                p->f->nodes[node].n = n;
        return node;
}

/* '(' or ')' and 'exists PATH': the forms cond and bang share; -2 when none applies. */
static int32_t parse_group(parser_t *p)
{
        size_t at = p->pos;
        if (eat(p, "(")) {
                if (++p->depth > SL_FILTER_MAX_DEPTH)
                        return fail(p, at, "nested deeper than 32");
                int32_t e = parse_or(p);
                if (e < 0)
                        return -1;
                skip_ws(p);
                if (!eat(p, ")"))
                        return fail(p, p->pos, "expected ')'");
                p->depth--;
                return e;
        }
        if (at_word(p, "exists")) {
                p->pos += strlen("exists");
                skip_ws(p);
                if (!at_path(p))
                        return fail(p, p->pos, "expected a field after 'exists'");
                int32_t k = parse_path(p);
                return k < 0 ? -1 : new_node(p, N_EXISTS, k, 0);
        }
        return -2;
}

/* A lone operand as a condition: a path (true when JSON true) or true/false. */
static int32_t lone_operand(parser_t *p, int32_t k, size_t at)
{
        const operand_t *o = &p->f->ops[k];
        if (o->is_path)
                return new_node(p, N_TRUTH, k, 0);
        if (o->lit.kind == SL_VALUE_BOOL)
                return new_node(p, N_CONST, o->lit.b, 0);
        return fail(p, at, "expected a comparison after a literal");
}

static int32_t parse_bang(parser_t *p)
{
        size_t at;
        int32_t e;

        skip_ws(p);
        at = p->pos;
        if (eat(p, "!")) {
                if (p->text[p->pos] == '=')
                        return fail(p, at, "expected a condition");
                if (++p->depth > SL_FILTER_MAX_DEPTH)
                        return fail(p, at, "nested deeper than 32");
                e = parse_bang(p);
                if (e < 0)
                        return -1;
                p->depth--;
                e = new_node(p, N_NOT, e, 0);
        } else {
                e = parse_group(p);
                if (e == -2) {
                        if (!at_path(p) && !at_word(p, "true") && !at_word(p, "false"))
                                return fail(p, at,
                                            "expected '(', exists, a field, true or "
                                            "false after '!'");
                        int32_t k = parse_operand(p);
                        e = k < 0 ? -1 : lone_operand(p, k, at);
                }
        }
        return e;
}

static int32_t parse_unary(parser_t *p)
{
        skip_ws(p);
        if (p->text[p->pos] == '!' && p->text[p->pos + 1] != '=') {
                int32_t e = parse_bang(p);
                if (e < 0)
                        return -1;
                skip_ws(p);
                if (at_cmp_op(p))
                        return fail(p, p->pos,
                                    "'!' binds tighter than comparisons: "
                                    "write !(a == b)");
                return e;
        }

        size_t at = p->pos;
        int32_t e = parse_group(p);
        if (e != -2)
                return e;
        if (p->text[at] == '\0')
                return fail(p, at, "expected a condition");
        int32_t lhs = parse_operand(p);
        if (lhs < 0)
                return -1;
        skip_ws(p);
        int op = parse_cmp_op(p);
        if (op >= 0) {
                skip_ws(p);
                int32_t rhs = parse_operand(p);
                if (rhs < 0)
                        return -1;
                e = new_node(p, N_CMP, lhs, rhs);
                if (e >= 0)
                        p->f->nodes[e].cmp = (uint8_t)op;
                return e;
        }
        if (at_word(p, "in")) {
                p->pos += 2;
                return parse_list(p, lhs);
        }
        if (at_word(p, "exists")) {
                if (!p->f->ops[lhs].is_path)
                        return fail(p, p->pos, "'exists' follows a field");
                p->pos += strlen("exists");
                return new_node(p, N_EXISTS, lhs, 0);
        }
        return lone_operand(p, lhs, at);
}

/* A chain of sub (separated by tok) as one node of kind op (or sub itself alone). */
static int32_t parse_chain(parser_t *p, const char *tok, node_op_t op,
                           int32_t (*sub)(parser_t *))
{
        int32_t first = sub(p), last = first, node = -1;
        if (first < 0)
                return -1;
        for (;;) {
                skip_ws(p);
                if (!eat(p, tok))
                        return node >= 0 ? node : first;
                if (node < 0 && (node = new_node(p, op, first, 0)) < 0)
                        return -1;
                int32_t e = sub(p);
                if (e < 0)
                        return -1;
                p->f->nodes[last].next = e;
                last = e;
        }
}

static int32_t parse_and(parser_t *p)
{
        return parse_chain(p, "&&", N_AND, parse_unary);
}

static int32_t parse_or(parser_t *p)
{
        return parse_chain(p, "||", N_OR, parse_and);
}

sl_filter_t *sl_filter_parse(const char *text, size_t *errpos, char *errstr,
                             size_t errstr_size)
{
        parser_t p = {.text = text, .errstr = errstr, .errstr_size = errstr_size};
        size_t len = strnlen(text, SL_FILTER_MAX_LEN + 1);

        if (errpos)
                *errpos = 0;
        p.f = calloc(1, sizeof(*p.f));
        if (!p.f) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (len > SL_FILTER_MAX_LEN) {
                fail(&p, SL_FILTER_MAX_LEN, "filter longer than 4096 bytes");
                goto fail_parse;
        }
        p.f->root = parse_or(&p);
        if (p.f->root < 0)
                goto fail_parse;
        skip_ws(&p);
        if (text[p.pos] != '\0') {
                fail(&p, p.pos,
                     text[p.pos] == ')' ? "unbalanced ')'"
                                        : "expected '&&', '||' or the end");
                goto fail_parse;
        }
        return p.f;

fail_parse:
        if (errpos)
                *errpos = p.err == SL_ERR_NOMEM ? 0 : p.pos;
        sl_filter_destroy(p.f);
        return NULL;
}

void sl_filter_destroy(sl_filter_t *f)
{
        if (!f)
                return;
        for (size_t k = 0; k < f->nops; k++) {
                sl_path_close(&f->ops[k].path);
                free(f->ops[k].owned);
        }
        free(f->ops);
        free(f->nodes);
        free(f);
}

bool sl_filter_uses_payload(const sl_filter_t *f)
{
        return f->uses_payload;
}

static void operand_value(const operand_t *o, const sl_envelope_t *env,
                          const json_t *payload, sl_value_t *v)
{
        if (o->is_path)
                sl_path_resolve(&o->path, env, payload, v);
        else
                *v = o->lit;
}

static bool values_equal(const sl_value_t *a, const sl_value_t *b)
{
        if (a->kind != b->kind)
                return false;
        switch (a->kind) {
        case SL_VALUE_NULL:
                return true;
        case SL_VALUE_BOOL:
                return a->b == b->b;
        case SL_VALUE_NUMBER:
                return a->is_int && b->is_int ? a->i == b->i : a->d == b->d;
        case SL_VALUE_STRING:
                return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
        case SL_VALUE_JSON:
                return json_equal((json_t *)a->json, (json_t *)b->json);
        default:
                return false; /* missing */
        }
}

static bool compare(cmp_op_t op, const sl_value_t *a, const sl_value_t *b)
{
        int c;
        if (a->kind == SL_VALUE_MISSING || b->kind == SL_VALUE_MISSING)
                return op == C_NE;
        if (op == C_EQ || op == C_NE)
                return values_equal(a, b) == (op == C_EQ);
        if (a->kind == SL_VALUE_NUMBER && b->kind == SL_VALUE_NUMBER) {
                if (a->is_int && b->is_int)
                        c = (a->i > b->i) - (a->i < b->i);
                else
                        c = (a->d > b->d) - (a->d < b->d);
        } else if (a->kind == SL_VALUE_STRING && b->kind == SL_VALUE_STRING) {
                c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
                if (c == 0)
                        c = (a->len > b->len) - (a->len < b->len);
        } else {
                return false;
        }
        switch (op) {
        case C_LT:
                return c < 0;
        case C_LE:
                return c <= 0;
        case C_GT:
                return c > 0;
        default:
                return c >= 0;
        }
}

static bool eval_node(const sl_filter_t *f, int32_t k, const sl_envelope_t *env,
                      const json_t *payload)
{
        const node_t *n = &f->nodes[k];
        sl_value_t a, b;

        switch ((node_op_t)n->op) {
        case N_OR:
                for (int32_t c = n->a; c >= 0; c = f->nodes[c].next)
                        if (eval_node(f, c, env, payload))
                                return true;
                return false;
        case N_AND:
                for (int32_t c = n->a; c >= 0; c = f->nodes[c].next)
                        if (!eval_node(f, c, env, payload))
                                return false;
                return true;
        case N_NOT:
                return !eval_node(f, n->a, env, payload);
        case N_CMP:
                operand_value(&f->ops[n->a], env, payload, &a);
                operand_value(&f->ops[n->b], env, payload, &b);
                return compare((cmp_op_t)n->cmp, &a, &b);
        case N_IN:
                operand_value(&f->ops[n->a], env, payload, &a);
                for (int32_t i = 0; i < n->n; i++)
                        if (compare(C_EQ, &a, &f->ops[n->b + i].lit))
                                return true;
                return false;
        case N_EXISTS:
                operand_value(&f->ops[n->a], env, payload, &a);
                return a.kind != SL_VALUE_MISSING;
        case N_TRUTH:
                operand_value(&f->ops[n->a], env, payload, &a);
                return a.kind == SL_VALUE_BOOL && a.b;
        case N_CONST:
                return n->a != 0;
        }
        return false;
}

bool sl_filter_eval(const sl_filter_t *f, const sl_envelope_t *env, const json_t *payload)
{
        return eval_node(f, f->root, env, payload);
}
