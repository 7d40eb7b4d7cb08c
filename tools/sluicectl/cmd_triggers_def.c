/* sluicectl triggers: a definition read and checked (cmd_triggers_def.h). */
#include "cmd_triggers_def.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_util.h"
#include "trigger/filter.h"
#include "trigger/template.h"

#define SL_TRIGGER_FILTER_MAX 10000
#define SL_TRIGGER_DESC_MAX   1000
#define SL_TRIGGER_DEF_MAX    (1024 * 1024)

static const col_t cols[] = {
    {"id", C_LINE, false, false, true, 0, 36},
    {"name", C_LINE, true, false, false, 0, SL_TRIGGER_TEXT_MAX},
    {"description", C_TEXT, false, true, false, 0, SL_TRIGGER_DESC_MAX},
    {"enabled", C_BOOL, false, false, false, 0, 0},
    {"event_type", C_LINE, true, false, false, 0, SL_TRIGGER_TEXT_MAX},
    {"source", C_LINE, false, true, false, 0, SL_TRIGGER_TEXT_MAX},
    {"filter", C_TEXT, false, true, false, 0, SL_TRIGGER_FILTER_MAX},
    {"workflow", C_LINE, true, false, false, 0, SL_TRIGGER_TEXT_MAX},
    {"params_template", C_OBJECT, false, false, false, 0, 0},
    {"rate_limit", C_INT, false, true, false, INT64_MIN, INT64_MAX},
    {"window_ms", C_INT, false, false, false, 1, INT64_MAX},
    {"on_limit", C_ENUM, false, false, false, 0, 0},
    {"failure_window_ms", C_INT, false, false, false, 1, INT64_MAX},
    {"failure_rate", C_INT, false, false, false, 0, 100},
    {"min_results", C_INT, false, false, false, 1, INT32_MAX},
    {"failure_count", C_INT, false, false, false, 0, INT32_MAX},
    {"open_ms", C_INT, false, false, false, 1, INT64_MAX},
    {"open_max_ms", C_INT, false, false, false, 1, INT64_MAX},
    {"probes", C_INT, false, false, false, 1, INT32_MAX},
    {"result_timeout_ms", C_INT, false, false, false, 1, INT64_MAX},
};
_Static_assert(sizeof(cols) / sizeof(cols[0]) == SL_TRIGGER_NCOLS, "SL_TRIGGER_NCOLS");
#define NCOLS SL_TRIGGER_NCOLS

void sl__ctl_trigger_def_clear(def_t *d)
{
        for (size_t i = 0; i < d->n; i++)
                free(d->owned[i]);
        json_decref(d->root);
        memset(d, 0, sizeof(*d));
}

/* Print the line of text that holds byte offset pos, and a caret under it. */
static void show_position(const char *text, size_t pos)
{
        size_t len = strlen(text), start, end, lineno = 1;

        if (pos > len)
                pos = len;
        start = pos;
        while (start > 0 && text[start - 1] != '\n')
                start--;
        for (size_t i = 0; i < start; i++)
                lineno += text[i] == '\n';
        end = pos;
        while (end < len && text[end] != '\n')
                end++;
        fprintf(stderr, "  %.*s\n  %*s^", (int)(end - start), text + start,
                (int)(pos - start), "");
        if (lineno > 1)
                fprintf(stderr, " (line %zu)", lineno);
        fputc('\n', stderr);
}

/* Parse the filter and template the definition sets, as the trigger stage will.
 * 0, or 1 after "filter: at N: ..." and the position shown. */
static int check_parsers(const def_t *d)
{
        char errstr[512];
        size_t pos;

        for (size_t i = 0; i < d->n; i++) {
                const char *name = d->col[i]->name, *text = d->val[i];

                if (!text)
                        continue;
                errstr[0] = '\0';
                pos = (size_t)-1;
                if (strcmp(name, "filter") == 0) {
                        sl_filter_t *f =
                            sl_filter_parse(text, &pos, errstr, sizeof(errstr));
                        if (f) {
                                sl_filter_destroy(f);
                                continue;
                        }
                } else if (strcmp(name, "params_template") == 0) {
                        sl_template_t *t =
                            sl_template_parse(text, &pos, errstr, sizeof(errstr));
                        if (t) {
                                sl_template_destroy(t);
                                continue;
                        }
                } else {
                        continue;
                }
                fprintf(stderr, "sluicectl triggers: %s does not parse: %s\n", name,
                        errstr[0] ? errstr : "invalid");
                /* A template's positions are inside one of its strings, which
                 * errstr names ("in the string at .id: at 3"): only a filter's
                 * position is shown on its text. */
                if (pos != (size_t)-1 && strcmp(name, "filter") == 0)
                        show_position(text, pos);
                return 1;
        }
        return 0;
}

static const col_t *find_col(const char *name)
{
        for (size_t i = 0; i < NCOLS; i++)
                if (strcmp(cols[i].name, name) == 0)
                        return &cols[i];
        return NULL;
}

/* One key of the definition into d; 0, or 1 after words naming the key. */
static int def_add(def_t *d, const col_t *c, json_t *v, bool create)
{
        size_t i = d->n;
        char what[64];

        snprintf(what, sizeof(what), "\"%s\"", c->name);
        if (c->create_only && !create) {
                fprintf(stderr, "sluicectl triggers: %s cannot change\n", what);
                return 1;
        }
        d->col[i] = c;
        d->val[i] = NULL;
        if (json_is_null(v)) {
                if (!c->nullable) {
                        fprintf(stderr, "sluicectl triggers: %s must not be null\n",
                                what);
                        return 1;
                }
                d->n++;
                return 0;
        }
        switch (c->kind) {
        case C_LINE:
        case C_TEXT:
        case C_ENUM:
                if (!json_is_string(v)) {
                        fprintf(stderr, "sluicectl triggers: %s must be a string\n",
                                what);
                        return 1;
                }
                d->val[i] = json_string_value(v);
                if (c->kind == C_ENUM) {
                        if (strcmp(d->val[i], "skip") != 0 &&
                            strcmp(d->val[i], "defer") != 0) {
                                fprintf(stderr,
                                        "sluicectl triggers: %s must be \"skip\" or "
                                        "\"defer\", not \"%s\"\n",
                                        what, d->val[i]);
                                return 1;
                        }
                } else if (c->kind == C_LINE) {
                        if (sl__ctl_check_text("triggers", what, d->val[i],
                                               (size_t)c->max))
                                return 1;
                } else if (!*d->val[i] || strlen(d->val[i]) > (size_t)c->max) {
                        fprintf(stderr,
                                "sluicectl triggers: %s must be 1..%lld characters\n",
                                what, (long long)c->max);
                        return 1;
                }
                break;
        case C_BOOL:
                if (!json_is_boolean(v)) {
                        fprintf(stderr, "sluicectl triggers: %s must be true or false\n",
                                what);
                        return 1;
                }
                d->val[i] = json_is_true(v) ? "true" : "false";
                break;
        case C_INT: {
                json_int_t n;
                if (!json_is_integer(v)) {
                        fprintf(stderr, "sluicectl triggers: %s must be a whole number\n",
                                what);
                        return 1;
                }
                n = json_integer_value(v);
                if (n < c->min || n > c->max) {
                        fprintf(
                            stderr,
                            "sluicectl triggers: %s: %lld is out of range (%lld..%lld)\n",
                            what, (long long)n, (long long)c->min, (long long)c->max);
                        return 1;
                }
                snprintf(d->num[i], sizeof(d->num[i]), "%lld", (long long)n);
                d->val[i] = d->num[i];
                break;
        }
        case C_OBJECT:
                if (!json_is_object(v)) {
                        fprintf(stderr, "sluicectl triggers: %s must be a JSON object\n",
                                what);
                        return 1;
                }
                d->owned[i] = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (!d->owned[i]) {
                        fprintf(stderr, "sluicectl triggers: out of memory\n");
                        return 1;
                }
                d->val[i] = d->owned[i];
                break;
        }
        d->n++;
        return 0;
}

/* Read and check a definition from path.  0, or 1 after the words. */
int sl__ctl_trigger_def_read(def_t *d, const char *path, bool create)
{
        char *text = sl__ctl_slurp("triggers", path, SL_TRIGGER_DEF_MAX);
        json_error_t jerr;
        const char *key;
        json_t *v;

        memset(d, 0, sizeof(*d));
        if (!text)
                return 1;
        d->root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        free(text);
        if (!d->root) {
                fprintf(stderr,
                        "sluicectl triggers: %s: not JSON: line %d column %d: %s\n",
                        strcmp(path, "-") == 0 ? "stdin" : path, jerr.line, jerr.column,
                        jerr.text);
                return 1;
        }
        if (!json_is_object(d->root)) {
                fprintf(stderr,
                        "sluicectl triggers: the definition must be a JSON object\n");
                return 1;
        }
        json_object_foreach(d->root, key, v)
        {
                const col_t *c = find_col(key);
                if (!c) {
                        fprintf(stderr,
                                "sluicectl triggers: unknown key \"%s\" (see 'sluicectl "
                                "triggers --help')\n",
                                key);
                        return 1;
                }
                if (def_add(d, c, v, create))
                        return 1;
        }
        if (create) {
                for (size_t i = 0; i < NCOLS; i++) {
                        if (cols[i].required && !json_object_get(d->root, cols[i].name)) {
                                fprintf(stderr,
                                        "sluicectl triggers: \"%s\" is required\n",
                                        cols[i].name);
                                return 1;
                        }
                }
        } else if (d->n == 0) {
                fprintf(stderr, "sluicectl triggers: the definition changes nothing\n");
                return 1;
        }
        return check_parsers(d);
}

/* Words for a failed change: a taken name and a missing table get their own. */
