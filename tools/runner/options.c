/* sluice-runner's options and the failure rule (see options.h). */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "util/hmap.h"

void sl_runner_opts_init(sl_runner_opts_t *o)
{
        o->fail_rate = 0;
        o->latency_ms = 0;
        o->silent = false;
}

int sl_runner_opt_set(sl_runner_opts_t *o, const char *name, const char *val,
                      char *errstr, size_t errstr_size)
{
        char *end = NULL;

        errno = 0;
        if (strcmp(name, "fail_rate") == 0) {
                double d = strtod(val, &end);

                if (errno || end == val || *end || !isfinite(d) || d < 0 || d > 1) {
                        snprintf(errstr, errstr_size, "'%s' is not a number in 0..1",
                                 val);
                        return SL_ERR_INVALID;
                }
                o->fail_rate = d;
        } else if (strcmp(name, "latency_ms") == 0) {
                long long ms = strtoll(val, &end, 10);

                if (errno || end == val || *end || ms < 0 ||
                    ms > SL_RUNNER_LATENCY_MAX_MS) {
                        snprintf(errstr, errstr_size,
                                 "'%s' is not a whole number of milliseconds in 0..%d",
                                 val, SL_RUNNER_LATENCY_MAX_MS);
                        return SL_ERR_INVALID;
                }
                o->latency_ms = ms;
        } else if (strcmp(name, "silent") == 0) {
                if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0) {
                        o->silent = true;
                } else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0) {
                        o->silent = false;
                } else {
                        snprintf(errstr, errstr_size, "'%s' is not 0 or 1", val);
                        return SL_ERR_INVALID;
                }
        } else {
                snprintf(errstr, errstr_size,
                         "unknown option (fail_rate, latency_ms, silent)");
                return SL_ERR_NOTFOUND;
        }
        return SL_OK;
}

/* s without the blanks around it, in place. */
static char *trim(char *s)
{
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

int sl_runner_opts_parse(sl_runner_opts_t *o, const char *text, char *errstr,
                         size_t errstr_size)
{
        sl_runner_opts_t next = *o;
        char *copy = strdup(text), *line, *save = NULL, suberr[256];
        int lineno = 0, err = SL_OK;

        if (!copy) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        /* strtok_r would merge blank lines and miscount: split by hand. */
        for (line = copy; line && err == SL_OK; line = save) {
                char *nl = strchr(line, '\n'), *eq, *key;

                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                lineno++;
                key = trim(line);
                if (!*key || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        snprintf(errstr, errstr_size, "line %d: expected key=value",
                                 lineno);
                        err = SL_ERR_CONFIG;
                        break;
                }
                *eq = '\0';
                key = trim(key);
                if (sl_runner_opt_set(&next, key, trim(eq + 1), suberr, sizeof(suberr)) !=
                    SL_OK) {
                        snprintf(errstr, errstr_size, "line %d: %s: %s", lineno, key,
                                 suberr);
                        err = SL_ERR_CONFIG;
                }
        }
        free(copy);
        if (err == SL_OK)
                *o = next;
        return err;
}

bool sl_runner_fails(const char *launch_id, double fail_rate)
{
        uint64_t h = sl_hash_str(launch_id);

        /* fmix64: FNV-1a alone leaves its top bits skewed for ids that differ only at
         * the end (a sequence), which would fail more than the share asked for. */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return (double)(h >> 11) / 9007199254740992.0 /* 2^53 */ < fail_rate;
}
