/*
 * Configuration, one mechanism for every sluice executable.
 *
 * Sources, later ones overriding earlier ones: the property table's defaults, the
 * executable's own defaults (sl_conf_set_default), a properties file (-c FILE or
 * SLUICE_CONFIG), SLUICE_* environment variables, then -X key=value flags.
 *
 * Keys: the sluice keys of the property table (src/config/conf_table.c), plus
 * kafka.<librdkafka property> passed straight to rd_kafka_conf_set() and
 * pg.<libpq keyword> passed to libpq.  Unknown keys and bad values are errors that
 * name the key.  Environment: SLUICE_ + the key upper-cased with '.' as '_'
 * (SLUICE_INGRESS_BATCH_SIZE, SLUICE_KAFKA_BOOTSTRAP_SERVERS, SLUICE_PG_PASSWORD).
 * Secrets (pg.password, kafka.*password*, kafka.*secret*, ...) are redacted in every
 * printout.  Not thread-safe for writes; read-only use from many threads is fine.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

typedef struct sl_conf_s sl_conf_t;

/* A conf holding the property table's defaults.  Caller frees with sl_conf_destroy(). */
sl_conf_t *sl_conf_new(void);
void sl_conf_destroy(sl_conf_t *conf);

/* Set key to val (validated).  On failure returns SL_ERR_CONFIG and errstr names the key.
 */
int sl_conf_set(sl_conf_t *conf, const char *key, const char *val, char *errstr,
                size_t errstr_size);
/* Replace the default of a table key for this executable (e.g. http.port). */
int sl_conf_set_default(sl_conf_t *conf, const char *key, const char *val);

/* key=value lines, '#' comments, blank lines ignored.  Errors name file, line and key. */
int sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr,
                      size_t errstr_size);
/* Every SLUICE_* variable in envp (NULL-terminated, like environ) except SLUICE_CONFIG
 * and the variables of the project's scripts and test harness (SLUICE_SOURCE_DIR,
 * SLUICE_BUILD_DIR, SLUICE_PG_DIR, SLUICE_PG_FAST, SLUICE_PG_BIN, SLUICE_KEEP_TMP, ...).
 */
int sl_conf_load_env(sl_conf_t *conf, char **envp, char *errstr, size_t errstr_size);

/* Values: borrowed, valid until the key is set again or conf is destroyed.
 * kafka.* and pg.* keys outside the table give NULL while unset (0 / false for the
 * typed getters).  Asking for any other key that is not in the table is a
 * programming error (sl_bug(), util/fatal.h). */
const char *sl_conf_get(const sl_conf_t *conf, const char *key);
int64_t sl_conf_get_int(const sl_conf_t *conf, const char *key);
bool sl_conf_get_bool(const sl_conf_t *conf, const char *key);
double sl_conf_get_double(const sl_conf_t *conf, const char *key);

/* Apply every kafka.* key to kconf.  Errors name the key and carry librdkafka's words. */
int sl_conf_apply_kafka(const sl_conf_t *conf, rd_kafka_conf_t *kconf, char *errstr,
                        size_t errstr_size);
/* A libpq conninfo string from the pg.* keys, values quoted.  Caller frees with free().
 */
char *sl_conf_pg_conninfo(const sl_conf_t *conf);

/* Print every set or defaulted key as key=value, secrets as "[redacted]". */
void sl_conf_dump(const sl_conf_t *conf, FILE *fp);
/* True for keys whose values must never be printed. */
bool sl_conf_is_secret(const char *key);

/* Iterate over the property table (for generated docs and --help). */
typedef struct sl_conf_prop_s {
        const char *name;
        const char *type;  /* "string", "int", "bool", "double", "enum" */
        const char *def;   /* default as text, "" when none */
        int64_t min, max;  /* for int */
        const char *enums; /* for enum: "a,b,c" */
        const char *desc;
} sl_conf_prop_t;
const sl_conf_prop_t *sl_conf_props(size_t *count);
/* The configuration reference in Markdown (docs/configuration.md is its output). */
void sl_conf_docs(FILE *fp);

/* The --help lines of the flags sl_conf_from_args() takes, for each executable's usage
 * text ("Options:\n" SL_CONF_ARGS_HELP). */
#define SL_CONF_ARGS_HELP                                                                \
        "  -c, --config FILE   properties file (also SLUICE_CONFIG)\n"                   \
        "  -X key=value        set a configuration key (repeatable)\n"                   \
        "  --print-config      print the effective configuration and exit\n"             \
        "  -h, --help          this text\n"

/*
 * The command line every executable shares:
 *   -c FILE | --config FILE     properties file (also SLUICE_CONFIG)
 *   -X key=value                set any key (repeatable)
 *   --print-config              print the effective config (redacted) and exit 0
 *   -h | --help                 usage (from usage_text) and exit 0
 * Parsing stops at the first argument that is not one of these; *argi is set to its
 * index so executables can take subcommands and their own arguments.
 * Returns 0 to go on, 1 when the caller should exit 0 (help / print-config printed),
 * or SL_ERR_CONFIG with errstr set.  Loads file, env and flags in the documented order.
 */
int sl_conf_from_args(sl_conf_t *conf, int argc, char **argv, int *argi,
                      const char *usage_text, char *errstr, size_t errstr_size);

#endif
