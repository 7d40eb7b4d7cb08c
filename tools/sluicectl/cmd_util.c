/* Helpers shared by the sluicectl subcommands (see cmd_util.h). */
#include "cmd_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg/pg.h"

/* Longest --for: ten years. */
#define SL_PAUSE_FOR_MAX_MS (3650LL * 24 * 3600 * 1000)

const char *sl__ctl_opt_value(int argc, char **argv, int *i, const char *name,
                              bool *missing)
{
        size_t len = strlen(name);

        *missing = false;
        if (strncmp(argv[*i], name, len) != 0)
                return NULL;
        if (argv[*i][len] == '=')
                return argv[*i] + len + 1;
        if (argv[*i][len] != '\0')
                return NULL;
        if (*i + 1 >= argc) {
                *missing = true;
                return NULL;
        }
        return argv[++*i];
}

int sl__ctl_check_text(const char *cmd, const char *what, const char *s, size_t max)
{
        size_t len = strlen(s);

        if (len == 0 || len > max) {
                fprintf(stderr, "sluicectl %s: %s must be 1..%zu characters\n", cmd, what,
                        max);
                return -1;
        }
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                if (*c < 0x20 || *c == 0x7f) {
                        fprintf(stderr, "sluicectl %s: %s contains a control character\n",
                                cmd, what);
                        return -1;
                }
        }
        return 0;
}

void sl__ctl_put_field(const char *s)
{
        for (; *s; s++)
                fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, stdout);
}

void sl__ctl_pg_error(const char *cmd, PGconn *pg, PGresult *res, const char *what)
{
        const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        fprintf(stderr, "sluicectl %s: %s: %s", cmd, what,
                msg ? msg : PQerrorMessage(pg));
        if (msg)
                fputc('\n', stderr);
        if (sl_sqlstate_is(sl_pg_sqlstate(res), "42P01"))
                fprintf(stderr, "sluicectl %s: run 'sluicectl migrate' first\n", cmd);
}

PGconn *sl__ctl_connect(const char *cmd, const sl_conf_t *conf)
{
        char errstr[1024];
        PGconn *pg = sl_pg_connect(conf, errstr, sizeof(errstr));

        if (!pg)
                fprintf(stderr, "sluicectl %s: %s\n", cmd, errstr);
        return pg;
}

int sl__ctl_delete_one(const char *cmd, const sl_conf_t *conf, const char *sql,
                       const char *key, const char *noun, const char *done_msg)
{
        const char *params[1] = {key};
        char what[128];
        PGconn *pg = sl__ctl_connect(cmd, conf);
        PGresult *res;
        int rc = 1;

        if (!pg)
                return 1;
        res = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                snprintf(what, sizeof(what), "removing the %s", noun);
                sl__ctl_pg_error(cmd, pg, res, what);
        } else if (strcmp(PQcmdTuples(res), "0") == 0) {
                fprintf(stderr, "sluicectl %s: no %s '%s'\n", cmd, noun, key);
        } else {
                printf(done_msg, key);
                putchar('\n');
                rc = 0;
        }
        PQclear(res);
        PQfinish(pg);
        return rc;
}

char *sl__ctl_slurp(const char *cmd, const char *path, size_t max)
{
        bool is_stdin = strcmp(path, "-") == 0;
        FILE *fp = is_stdin ? stdin : fopen(path, "rb");
        const char *shown = is_stdin ? "stdin" : path;
        char *buf = NULL;
        size_t len = 0, n;

        if (!fp) {
                fprintf(stderr, "sluicectl %s: %s: %s\n", cmd, path, strerror(errno));
                return NULL;
        }
        buf = malloc(max + 1);
        if (!buf) {
                fprintf(stderr, "sluicectl %s: out of memory\n", cmd);
                goto fail;
        }
        while ((n = fread(buf + len, 1, max + 1 - len, fp)) > 0) {
                len += n;
                if (len > max)
                        break;
        }
        if (ferror(fp) || len > max) {
                if (ferror(fp))
                        fprintf(stderr, "sluicectl %s: %s: read error\n", cmd, shown);
                else
                        fprintf(stderr, "sluicectl %s: %s: larger than %zu bytes\n", cmd,
                                shown, max);
                goto fail;
        }
        buf[len] = '\0';
        if (strlen(buf) != len) {
                fprintf(stderr, "sluicectl %s: %s: contains a NUL byte\n", cmd, shown);
                goto fail;
        }
        if (!is_stdin)
                fclose(fp);
        return buf;

fail:
        free(buf);
        if (!is_stdin)
                fclose(fp);
        return NULL;
}

const char *sl__ctl_by(const char *by)
{
        const char *user = getenv("USER");

        return by ? by : user && *user ? user : "sluicectl";
}

bool sl__ctl_exec(const char *cmd, PGconn *pg, const char *sql, int nparams,
                  const char *const *params, const char *what)
{
        PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
        bool ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
                          PQresultStatus(res) == PGRES_TUPLES_OK);

        if (!ok)
                sl__ctl_pg_error(cmd, pg, res, what);
        PQclear(res);
        return ok;
}

bool sl__ctl_begin_as(const char *cmd, PGconn *pg, const char *by)
{
        const char *params[1] = {by};

        return sl__ctl_exec(cmd, pg, "BEGIN", 0, NULL, "starting a transaction") &&
               sl__ctl_exec(cmd, pg, "SELECT set_config('sluice.actor', $1, true)", 1,
                            params, "recording who makes the change");
}

/* n digits at *p as a number; advances *p.  -1 when they are not all digits. */
static int digits(const char **p, int n)
{
        int v = 0;

        for (int i = 0; i < n; i++, (*p)++) {
                if (**p < '0' || **p > '9')
                        return -1;
                v = v * 10 + (**p - '0');
        }
        return v;
}

int sl__ctl_parse_rfc3339(const char *s, int64_t *out_ms)
{
        const char *p = s;
        struct tm tm = {0};
        int y, mo, d, h, mi, sec, ms = 0, off = 0;
        int64_t t;
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

        if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 ||
            *p++ != '-' || (d = digits(&p, 2)) < 0)
                return -1;
        if (*p != 'T' && *p != 't' && *p != ' ')
                return -1;
        p++;
        if ((h = digits(&p, 2)) < 0 || *p++ != ':' || (mi = digits(&p, 2)) < 0 ||
            *p++ != ':' || (sec = digits(&p, 2)) < 0)
                return -1;
        if (*p == '.') {
                int scale = 100;
                p++;
                if (*p < '0' || *p > '9')
                        return -1;
                for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        ms += (*p - '0') * scale;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p++ == '-' ? -1 : 1, oh, om;
                if ((oh = digits(&p, 2)) < 0 || *p++ != ':' || (om = digits(&p, 2)) < 0 ||
                    oh > 23 || om > 59)
                        return -1;
                off = sign * (oh * 60 + om);
        } else {
                return -1;
        }
        if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
            mi > 59 || sec > 60)
                return -1;
        if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return -1;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        t = (int64_t)timegm(&tm);
        *out_ms = (t - (int64_t)off * 60) * 1000 + ms;
        return 0;
}

int sl__ctl_parse_duration(const char *s, int64_t *out_ms)
{
        const char *p = s;
        int64_t total = 0;

        if (!*p)
                return -1;
        while (*p) {
                int64_t n = 0, unit;

                if (*p < '0' || *p > '9')
                        return -1;
                for (; *p >= '0' && *p <= '9'; p++) {
                        n = n * 10 + (*p - '0');
                        if (n > SL_PAUSE_FOR_MAX_MS)
                                return -1;
                }
                if (strncmp(p, "ms", 2) == 0) {
                        unit = 1;
                        p += 2;
                } else if (*p == 's') {
                        unit = 1000;
                        p++;
                } else if (*p == 'm') {
                        unit = 60 * 1000;
                        p++;
                } else if (*p == 'h') {
                        unit = 3600 * 1000;
                        p++;
                } else if (*p == 'd') {
                        unit = 24 * 3600 * 1000;
                        p++;
                } else {
                        return -1; /* a unit is required */
                }
                if (n > SL_PAUSE_FOR_MAX_MS / unit)
                        return -1;
                total += n * unit;
                if (total > SL_PAUSE_FOR_MAX_MS)
                        return -1;
        }
        if (total <= 0)
                return -1;
        *out_ms = total;
        return 0;
}

int sl__ctl_span(const char *cmd, const char *until, const char *for_,
                 sl__ctl_span_t *span)
{
        int64_t ms;

        span->until_ms = span->for_ms = NULL;
        if (until) {
                if (sl__ctl_parse_rfc3339(until, &ms)) {
                        fprintf(stderr,
                                "sluicectl %s: --until: '%s' is not an RFC 3339 time "
                                "(e.g. 2030-01-02T15:04:05Z)\n",
                                cmd, until);
                        return 2;
                }
                if (ms <= (int64_t)time(NULL) * 1000) {
                        fprintf(stderr, "sluicectl %s: --until: %s is in the past\n", cmd,
                                until);
                        return 2;
                }
                snprintf(span->buf_[0], sizeof(span->buf_[0]), "%lld", (long long)ms);
                span->until_ms = span->buf_[0];
        }
        if (for_) {
                if (sl__ctl_parse_duration(for_, &ms)) {
                        fprintf(
                            stderr,
                            "sluicectl %s: --for: '%s' is not a duration (a number "
                            "with a unit: 250ms, 90s, 5m, 2h, 1d, 1h30m; more than 0, "
                            "at most 3650d)\n",
                            cmd, for_);
                        return 2;
                }
                snprintf(span->buf_[1], sizeof(span->buf_[1]), "%lld", (long long)ms);
                span->for_ms = span->buf_[1];
        }
        return 0;
}

void sl__ctl_format_ms(int64_t ms, char *out, size_t size)
{
        time_t s = (time_t)(ms / 1000);
        struct tm tm;

        gmtime_r(&s, &tm);
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
}
