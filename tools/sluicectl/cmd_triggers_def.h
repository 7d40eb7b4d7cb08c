/*
 * sluicectl triggers: a trigger definition (a JSON object whose keys are the triggers
 * table's columns) read, checked and turned into statement parameters.  Types and
 * ranges are checked here, and the filter and the parameters template are parsed with
 * the stage's own parsers (src/trigger/filter.h, template.h), so a definition the
 * trigger stage cannot load is refused at save time, with the parser's position.
 */
#ifndef SL_CMD_TRIGGERS_DEF_H
#define SL_CMD_TRIGGERS_DEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SL_TRIGGER_TEXT_MAX 255 /* a name, type, source or workflow */
#define SL_TRIGGER_NCOLS    20  /* the columns a definition may set */

typedef enum { C_TEXT, C_LINE, C_BOOL, C_INT, C_OBJECT, C_ENUM } col_kind_t;

/* A column a definition may set. */
typedef struct col_s {
        const char *name;
        col_kind_t kind;
        bool required; /* on create */
        bool nullable;
        bool create_only;
        int64_t min, max; /* C_INT range; C_TEXT / C_LINE: max length */
} col_t;

/* A definition turned into statement parameters, one per column it sets. */
typedef struct def_s {
        const col_t *col[SL_TRIGGER_NCOLS];
        const char *
            val[SL_TRIGGER_NCOLS]; /* NULL: SQL NULL; borrowed from the JSON or owned[] */
        char *owned[SL_TRIGGER_NCOLS];
        size_t n;
        char num[SL_TRIGGER_NCOLS][24];
        json_t *root;
} def_t;

/* Read the definition in path ("-": stdin) into d (zeroed here first): every key
 * checked (create: the required ones present, create-only ones allowed).  0, or 1 with
 * the reason on stderr.  Free with sl__ctl_trigger_def_clear(). */
int sl__ctl_trigger_def_read(def_t *d, const char *path, bool create);
void sl__ctl_trigger_def_clear(def_t *d);

#endif
