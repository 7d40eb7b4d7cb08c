/*
 * The configuration store: values for the property table's keys (set value, else the
 * executable's default, else the table's), plus the kafka.* and pg.* pass-through
 * keys, validated when set (librdkafka checks kafka.* on a scratch rd_kafka_conf_t,
 * libpq's keyword list checks pg.*).  Also the file and environment loaders and the
 * printouts.  Not the command line (conf_args.c) nor the docs (conf_docs.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "config/conf_int.h"
#include "sluice/err.h"
#include "util/array.h"
#include "util/fatal.h"

#define SL_REDACTED "[redacted]"

typedef struct conf_extra_s {
        char *key; /* "kafka.acks", "pg.sslmode" */
        char *val;
} conf_extra_t;

struct sl_conf_s {
        char **vals; /* per table entry: the set value, or NULL */
        char **defs; /* per table entry: the executable's default, or NULL */
        conf_extra_t *extra;
        size_t extra_cnt, extra_cap;
};

sl_conf_t *sl_conf_new(void)
{
        sl_conf_t *conf = calloc(1, sizeof(*conf));

        if (!conf)
                return NULL;
        conf->vals = calloc(sl__conf_table_cnt, sizeof(*conf->vals));
        if (!conf->vals)
                goto fail_vals;
        conf->defs = calloc(sl__conf_table_cnt, sizeof(*conf->defs));
        if (!conf->defs)
                goto fail_defs;
        return conf;

fail_defs:
        free(conf->vals);
fail_vals:
        free(conf);
        return NULL;
}

void sl_conf_destroy(sl_conf_t *conf)
{
        if (!conf)
                return;
        for (size_t i = 0; i < sl__conf_table_cnt; i++) {
                free(conf->vals[i]);
                free(conf->defs[i]);
        }
        for (size_t i = 0; i < conf->extra_cnt; i++) {
                free(conf->extra[i].key);
                free(conf->extra[i].val);
        }
        free(conf->extra);
        free(conf->vals);
        free(conf->defs);
        free(conf);
}

bool sl_conf_is_secret(const char *key)
{
        static const char *const marks[] = {"password", "secret", "admin.tokens",
                                            "sasl.oauthbearer.config", "ssl.key"};

        if (!key)
                return false;
        for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
                if (strcasestr(key, marks[i]))
                        return true;
        return false;
}

/* What an error message may show of val. */
static const char *shown(const char *key, const char *val)
{
        return sl_conf_is_secret(key) ? SL_REDACTED : val;
}

static int parse_int(const char *val, long long *out)
{
        char *end;

        if (!*val || isspace((unsigned char)*val))
                return -1;
        errno = 0;
        *out = strtoll(val, &end, 10);
        if (errno || *end)
                return -1;
        return 0;
}

static int parse_bool(const char *val, bool *out)
{
        static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false",
                                                                              "0", "no"};

        for (size_t i = 0; i < 3; i++) {
                if (strcasecmp(val, yes[i]) == 0) {
                        *out = true;
                        return 0;
                }
                if (strcasecmp(val, no[i]) == 0) {
                        *out = false;
                        return 0;
                }
        }
        return -1;
}

static bool enum_has(const char *list, const char *val)
{
        size_t len = strlen(val);

        for (const char *s = list; s && *s;) {
                const char *comma = strchr(s, ',');
                size_t n = comma ? (size_t)(comma - s) : strlen(s);

                if (n == len && strncmp(s, val, n) == 0)
                        return true;
                s = comma ? comma + 1 : NULL;
        }
        return false;
}

int sl__conf_check(const sl__conf_def_t *d, const char *val, char **norm, char *errstr,
                   size_t errstr_size)
{
        const char *key = d->p.name, *type = d->p.type;

        if (strcmp(type, "int") == 0) {
                long long v;

                if (parse_int(val, &v)) {
                        snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer", key,
                                 shown(key, val));
                        return SL_ERR_CONFIG;
                }
                if (v < d->p.min || v > d->p.max) {
                        snprintf(errstr, errstr_size, "%s: %s is out of range %lld..%lld",
                                 key, shown(key, val), (long long)d->p.min,
                                 (long long)d->p.max);
                        return SL_ERR_CONFIG;
                }
        } else if (strcmp(type, "bool") == 0) {
                bool b;

                if (parse_bool(val, &b)) {
                        snprintf(errstr, errstr_size,
                                 "%s: \"%s\" is not a boolean (true/false/1/0/yes/no)",
                                 key, shown(key, val));
                        return SL_ERR_CONFIG;
                }
                val = b ? "true" : "false";
        } else if (strcmp(type, "double") == 0) {
                char *end;
                double v;

                errno = 0;
                v = strtod(val, &end);
                if (!*val || *end || errno || !isfinite(v)) {
                        snprintf(errstr, errstr_size, "%s: \"%s\" is not a number", key,
                                 shown(key, val));
                        return SL_ERR_CONFIG;
                }
                if ((d->p.min || d->p.max) &&
                    (v < (double)d->p.min || v > (double)d->p.max)) {
                        snprintf(errstr, errstr_size, "%s: %s is out of range %lld..%lld",
                                 key, shown(key, val), (long long)d->p.min,
                                 (long long)d->p.max);
                        return SL_ERR_CONFIG;
                }
        } else if (strcmp(type, "enum") == 0) {
                if (!enum_has(d->p.enums, val)) {
                        snprintf(errstr, errstr_size, "%s: \"%s\" is not one of %s", key,
                                 shown(key, val), d->p.enums);
                        return SL_ERR_CONFIG;
                }
        }
        if (d->validate && d->validate(key, val, errstr, errstr_size))
                return SL_ERR_CONFIG;
        *norm = strdup(val);
        if (!*norm) {
                snprintf(errstr, errstr_size, "%s: out of memory", key);
                return SL_ERR_NOMEM;
        }
        return SL_OK;
}

/* Copy msg into errstr after "key: ", every occurrence of a secret's value replaced. */
static void kafka_error(const char *key, const char *val, const char *msg, char *errstr,
                        size_t errstr_size)
{
        size_t off = 0, vlen = strlen(val);
        bool secret = sl_conf_is_secret(key);
        int n;

        n = snprintf(errstr, errstr_size, "%s: ", key);
        if (n < 0 || (size_t)n >= errstr_size)
                return;
        off = (size_t)n;
        for (const char *m = msg; *m && off + 1 < errstr_size;) {
                if (secret && vlen && strncmp(m, val, vlen) == 0) {
                        n = snprintf(errstr + off, errstr_size - off, "%s", SL_REDACTED);
                        if (n < 0)
                                break;
                        off += (size_t)n;
                        m += vlen;
                } else {
                        errstr[off++] = *m++;
                }
        }
        if (off >= errstr_size)
                off = errstr_size - 1;
        errstr[off] = '\0';
}

static int kafka_check(const char *key, const char *val, char *errstr, size_t errstr_size)
{
        char kerr[512];
        rd_kafka_conf_t *scratch;
        rd_kafka_conf_res_t res;

        if (!key[6]) {
                snprintf(errstr, errstr_size, "%s: missing the librdkafka property name",
                         key);
                return SL_ERR_CONFIG;
        }
        scratch = rd_kafka_conf_new();
        if (!scratch) {
                snprintf(errstr, errstr_size, "%s: out of memory", key);
                return SL_ERR_NOMEM;
        }
        res = rd_kafka_conf_set(scratch, key + 6, val, kerr, sizeof(kerr));
        rd_kafka_conf_destroy(scratch);
        if (res != RD_KAFKA_CONF_OK) {
                kafka_error(key, val, kerr, errstr, errstr_size);
                return SL_ERR_CONFIG;
        }
        return SL_OK;
}

/* Is kw one of libpq's connection keywords?  If canon is given, the keyword whose
 * upper-cased form equals kw (for SLUICE_PG_*) is copied there. */
static bool pg_keyword(const char *kw, bool ci, char *canon, size_t canon_size)
{
        PQconninfoOption *opts = PQconndefaults(), *o;
        bool found = false;

        if (!opts)
                return false;
        for (o = opts; o->keyword; o++) {
                if (ci ? strcasecmp(o->keyword, kw) == 0 : strcmp(o->keyword, kw) == 0) {
                        found = true;
                        if (canon)
                                snprintf(canon, canon_size, "%s", o->keyword);
                        break;
                }
        }
        PQconninfoFree(opts);
        return found;
}

static conf_extra_t *extra_find(const sl_conf_t *conf, const char *key)
{
        for (size_t i = 0; i < conf->extra_cnt; i++)
                if (strcmp(conf->extra[i].key, key) == 0)
                        return &conf->extra[i];
        return NULL;
}

static int extra_put(sl_conf_t *conf, const char *key, const char *val, char *errstr,
                     size_t errstr_size)
{
        conf_extra_t *e = extra_find(conf, key);
        char *v = strdup(val);

        if (!v)
                goto fail_nomem;
        if (e) {
                free(e->val);
                e->val = v;
                return SL_OK;
        }
        conf_extra_t *grown = sl_array_grow(conf->extra, &conf->extra_cap,
                                            conf->extra_cnt + 1, sizeof(*grown), 16);
        if (!grown)
                goto fail_grow;
        conf->extra = grown;
        e = &conf->extra[conf->extra_cnt];
        e->key = strdup(key);
        if (!e->key)
                goto fail_grow;
        e->val = v;
        conf->extra_cnt++;
        return SL_OK;

fail_grow:
        free(v);
fail_nomem:
        snprintf(errstr, errstr_size, "%s: out of memory", key);
        return SL_ERR_NOMEM;
}

int sl_conf_set(sl_conf_t *conf, const char *key, const char *val, char *errstr,
                size_t errstr_size)
{
        int idx, err;
        char *norm = NULL;

        if (!key || !*key) {
                snprintf(errstr, errstr_size, "empty configuration key");
                return SL_ERR_CONFIG;
        }
        if (!val) {
                snprintf(errstr, errstr_size, "%s: missing value", key);
                return SL_ERR_CONFIG;
        }
        idx = sl__conf_find(key);
        if (idx >= 0) {
                err =
                    sl__conf_check(&sl__conf_table[idx], val, &norm, errstr, errstr_size);
                if (err)
                        return err == SL_ERR_NOMEM ? err : SL_ERR_CONFIG;
                free(conf->vals[idx]);
                conf->vals[idx] = norm;
                return SL_OK;
        }
        if (strncmp(key, "kafka.", 6) == 0) {
                err = kafka_check(key, val, errstr, errstr_size);
                if (err)
                        return err;
                return extra_put(conf, key, val, errstr, errstr_size);
        }
        if (strncmp(key, "pg.", 3) == 0) {
                if (!pg_keyword(key + 3, false, NULL, 0)) {
                        snprintf(
                            errstr, errstr_size,
                            "%s: unknown key: \"%s\" is not a libpq connection keyword",
                            key, key + 3);
                        return SL_ERR_CONFIG;
                }
                return extra_put(conf, key, val, errstr, errstr_size);
        }
        snprintf(errstr, errstr_size,
                 "%s: unknown configuration key (see 'sluicectl config docs')", key);
        return SL_ERR_CONFIG;
}

int sl_conf_set_default(sl_conf_t *conf, const char *key, const char *val)
{
        char errstr[256], *norm = NULL;
        int idx = sl__conf_find(key), err;

        if (idx < 0 || !val)
                return SL_ERR_CONFIG;
        err = sl__conf_check(&sl__conf_table[idx], val, &norm, errstr, sizeof(errstr));
        if (err)
                return err == SL_ERR_NOMEM ? err : SL_ERR_CONFIG;
        free(conf->defs[idx]);
        conf->defs[idx] = norm;
        return SL_OK;
}

static char *trim(char *s)
{
        char *end;

        while (isspace((unsigned char)*s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

int sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
        FILE *fp;
        char *line = NULL, *key, *val, *eq, suberr[512];
        size_t cap = 0;
        int lineno = 0, err = SL_OK;

        fp = fopen(path, "r");
        if (!fp) {
                snprintf(errstr, errstr_size, "cannot open config file %s: %s", path,
                         strerror(errno));
                return SL_ERR_CONFIG;
        }
        while (getline(&line, &cap, fp) != -1) {
                lineno++;
                key = trim(line);
                if (!*key || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        /* The line is not echoed: it may be a stray secret. */
                        snprintf(errstr, errstr_size, "%s:%d: expected key=value", path,
                                 lineno);
                        err = SL_ERR_CONFIG;
                        break;
                }
                *eq = '\0';
                val = trim(eq + 1);
                key = trim(key);
                err = sl_conf_set(conf, key, val, suberr, sizeof(suberr));
                if (err) {
                        snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, suberr);
                        break;
                }
        }
        if (!err && ferror(fp)) {
                snprintf(errstr, errstr_size, "cannot read config file %s: %s", path,
                         strerror(errno));
                err = SL_ERR_CONFIG;
        }
        free(line);
        fclose(fp);
        return err ? SL_ERR_CONFIG : SL_OK;
}

/* SLUICE_<NAME> -> key, or -1 with errstr set. */
static int env_key(const char *name, char *key, size_t key_size, char *errstr,
                   size_t errstr_size)
{
        char norm[256];

        for (size_t i = 0; i < sl__conf_table_cnt; i++) {
                const char *t = sl__conf_table[i].p.name;
                size_t j;

                for (j = 0; t[j] && j + 1 < sizeof(norm); j++)
                        norm[j] = t[j] == '.' ? '_' : (char)toupper((unsigned char)t[j]);
                norm[j] = '\0';
                if (strcmp(norm, name) == 0) {
                        snprintf(key, key_size, "%s", t);
                        return 0;
                }
        }
        if (strncmp(name, "KAFKA_", 6) == 0 && name[6]) {
                size_t j = snprintf(key, key_size, "kafka.");

                for (const char *c = name + 6; *c && j + 1 < key_size; c++)
                        key[j++] = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
                key[j] = '\0';
                return 0;
        }
        if (strncmp(name, "PG_", 3) == 0 && name[3]) {
                char kw[128];

                if (pg_keyword(name + 3, true, kw, sizeof(kw))) {
                        snprintf(key, key_size, "pg.%s", kw);
                        return 0;
                }
                snprintf(
                    errstr, errstr_size,
                    "environment SLUICE_%s: \"%s\" is not a libpq connection keyword",
                    name, name + 3);
                return -1;
        }
        snprintf(
            errstr, errstr_size,
            "environment SLUICE_%s: unknown configuration key (see 'sluicectl config "
            "docs')",
            name);
        return -1;
}

/* SLUICE_* variables that belong to the project's scripts and test harness, not to
 * configuration (scripts/pg.sh, scripts/test.sh, tests/integration/lib.sh, bench/). */
static bool env_is_not_config(const char *name)
{
        static const char *const names[] = {
            "CONFIG", "SOURCE_DIR", "BUILD_DIR", "PG_DIR",         "PG_FAST",
            "PG_BIN", "KEEP_TMP",   "JOBS",      "TEST_SKIP_ASAN", "BENCH_PARTITIONS",
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(name, names[i]) == 0)
                        return true;
        return false;
}

int sl_conf_load_env(sl_conf_t *conf, char **envp, char *errstr, size_t errstr_size)
{
        char name[256], key[300], suberr[512];

        for (char **e = envp; e && *e; e++) {
                const char *eq;
                size_t nlen;
                int err;

                if (strncmp(*e, "SLUICE_", 7) != 0)
                        continue;
                eq = strchr(*e, '=');
                if (!eq)
                        continue;
                nlen = (size_t)(eq - (*e + 7));
                if (nlen >= sizeof(name)) {
                        snprintf(errstr, errstr_size,
                                 "environment %.*s...: name too long", 64, *e);
                        return SL_ERR_CONFIG;
                }
                memcpy(name, *e + 7, nlen);
                name[nlen] = '\0';
                if (env_is_not_config(name))
                        continue;
                if (env_key(name, key, sizeof(key), errstr, errstr_size))
                        return SL_ERR_CONFIG;
                err = sl_conf_set(conf, key, eq + 1, suberr, sizeof(suberr));
                if (err) {
                        snprintf(errstr, errstr_size, "environment SLUICE_%s: %s", name,
                                 suberr);
                        return SL_ERR_CONFIG;
                }
        }
        return SL_OK;
}

const char *sl_conf_get(const sl_conf_t *conf, const char *key)
{
        int idx = sl__conf_find(key);
        const conf_extra_t *e;

        if (idx >= 0) {
                if (conf->vals[idx])
                        return conf->vals[idx];
                if (conf->defs[idx])
                        return conf->defs[idx];
                return sl__conf_table[idx].p.def;
        }
        if (strncmp(key, "kafka.", 6) == 0 || strncmp(key, "pg.", 3) == 0) {
                e = extra_find(conf, key);
                return e ? e->val : NULL;
        }
        sl_bug("sl_conf_get: \"%s\" is not a configuration key", key);
}

int64_t sl_conf_get_int(const sl_conf_t *conf, const char *key)
{
        const char *val = sl_conf_get(conf, key);

        return val ? (int64_t)strtoll(val, NULL, 10) : 0;
}

bool sl_conf_get_bool(const sl_conf_t *conf, const char *key)
{
        const char *val = sl_conf_get(conf, key);
        bool b = false;

        if (val)
                parse_bool(val, &b);
        return b;
}

double sl_conf_get_double(const sl_conf_t *conf, const char *key)
{
        const char *val = sl_conf_get(conf, key);

        return val ? strtod(val, NULL) : 0.0;
}

int sl_conf_apply_kafka(const sl_conf_t *conf, rd_kafka_conf_t *kconf, char *errstr,
                        size_t errstr_size)
{
        char kerr[512];

        for (size_t i = 0; i < conf->extra_cnt; i++) {
                const conf_extra_t *e = &conf->extra[i];

                if (strncmp(e->key, "kafka.", 6) != 0)
                        continue;
                if (rd_kafka_conf_set(kconf, e->key + 6, e->val, kerr, sizeof(kerr)) !=
                    RD_KAFKA_CONF_OK) {
                        kafka_error(e->key, e->val, kerr, errstr, errstr_size);
                        return SL_ERR_CONFIG;
                }
        }
        return SL_OK;
}

/* Appends " kw='val'" with \ and ' escaped, as libpq's conninfo syntax wants. */
static int conninfo_add(char **buf, size_t *len, size_t *cap, const char *kw,
                        const char *val)
{
        size_t need = *len + strlen(kw) + 2 * strlen(val) + 5;

        char *grown = sl_array_grow(*buf, cap, need, 1, 256);

        if (!grown)
                return -1;
        *buf = grown;
        if (*len)
                (*buf)[(*len)++] = ' ';
        *len += (size_t)sprintf(*buf + *len, "%s='", kw);
        for (const char *c = val; *c; c++) {
                if (*c == '\\' || *c == '\'')
                        (*buf)[(*len)++] = '\\';
                (*buf)[(*len)++] = *c;
        }
        (*buf)[(*len)++] = '\'';
        (*buf)[*len] = '\0';
        return 0;
}

char *sl_conf_pg_conninfo(const sl_conf_t *conf)
{
        size_t len = 0, cap = 256;
        char *buf = malloc(cap);

        if (!buf)
                return NULL;
        buf[0] = '\0';
        for (size_t i = 0; i < sl__conf_table_cnt; i++) {
                const char *name = sl__conf_table[i].p.name, *val;

                if (strncmp(name, "pg.", 3) != 0)
                        continue;
                val = sl_conf_get(conf, name);
                if (!*val)
                        continue;
                if (conninfo_add(&buf, &len, &cap, name + 3, val))
                        goto fail;
        }
        for (size_t i = 0; i < conf->extra_cnt; i++) {
                const conf_extra_t *e = &conf->extra[i];

                if (strncmp(e->key, "pg.", 3) != 0)
                        continue;
                if (conninfo_add(&buf, &len, &cap, e->key + 3, e->val))
                        goto fail;
        }
        return buf;

fail:
        free(buf);
        return NULL;
}

static int extra_cmp(const void *a, const void *b)
{
        return strcmp((*(const conf_extra_t *const *)a)->key,
                      (*(const conf_extra_t *const *)b)->key);
}

void sl_conf_dump(const sl_conf_t *conf, FILE *fp)
{
        const conf_extra_t **sorted;

        for (size_t i = 0; i < sl__conf_table_cnt; i++) {
                const char *name = sl__conf_table[i].p.name,
                           *val = sl_conf_get(conf, name);

                fprintf(fp, "%s=%s\n", name,
                        *val && sl_conf_is_secret(name) ? SL_REDACTED : val);
        }
        if (!conf->extra_cnt)
                return;
        sorted = malloc(conf->extra_cnt * sizeof(*sorted));
        if (!sorted)
                return;
        for (size_t i = 0; i < conf->extra_cnt; i++)
                sorted[i] = &conf->extra[i];
        qsort(sorted, conf->extra_cnt, sizeof(*sorted), extra_cmp);
        for (size_t i = 0; i < conf->extra_cnt; i++)
                fprintf(fp, "%s=%s\n", sorted[i]->key,
                        sl_conf_is_secret(sorted[i]->key) ? SL_REDACTED : sorted[i]->val);
        free(sorted);
}
