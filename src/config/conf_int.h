/*
 * Private to src/config: the property table with its validators, shared by the
 * store (config.c), the command line (conf_args.c) and the docs (conf_docs.c).
 */
#ifndef SL_CONF_INT_H
#define SL_CONF_INT_H

#include <stddef.h>

#include "config/config.h"

/* An extra check after the type check.  val is already type-valid.  Writes words
 * (never the value of a secret key) into errstr and returns non-zero to refuse. */
typedef int(sl__conf_validator_t)(const char *key, const char *val, char *errstr,
                                  size_t errstr_size);

typedef struct sl__conf_def_s {
        sl_conf_prop_t p;
        sl__conf_validator_t *validate; /* NULL: the type check is enough */
} sl__conf_def_t;

extern const sl__conf_def_t sl__conf_table[];
extern const size_t sl__conf_table_cnt;

/* Type check (then validator) of val for d.  On success *norm is the value to store
 * (bools normalised to "true"/"false"; caller frees it).  Errors name d's key and
 * never show a secret's value. */
int sl__conf_check(const sl__conf_def_t *d, const char *val, char **norm, char *errstr,
                   size_t errstr_size);

/* Index of key in sl__conf_table, or -1. */
int sl__conf_find(const char *key);

#endif
