/*
 * `sluicectl publish [FILE|-] [--count-only] [--raw [--key K]]`: publish events through
 * the publisher SDK.
 *
 * JSON mode (default): one envelope object per line, as sl_envelope_from_json() reads
 * it ({"type","source","payload", optional "id","occurred_at","correlation_id","ttl_ms",
 * "metadata"}); a missing id is a new UUIDv4 and a missing occurred_at is now.  Each
 * published id is printed on stdout (not with --count-only).
 *
 * Raw mode (--raw, alias --raw-hex / --hex): each line is the hex of one Kafka value,
 * published byte for byte (for malformed-input tests); "KEY<TAB>HEX" gives the line's
 * key, --key K the key of lines without one; keyless records go to a random partition.
 *
 * A bad line is reported on stderr with its number and reason and skipped; the rest is
 * still published.  Finally prints "published N events (M failed)" on stderr.  Exit 0
 * when every line was good and every record delivered, 1 otherwise, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "config/config.h"
#include "envelope/envelope.h"
#include "publisher/publisher_int.h"
#include "sluice/err.h"
#include "sluice/publisher.h"

#define PUB_FLUSH_TIMEOUT_MS 120000
#define PUB_MAX_LINE_ERRORS  100 /* reported one by one; the rest only counted */

static const char publish_usage[] =
    "usage: sluicectl publish [FILE|-] [--count-only] [--raw [--key KEY]]\n"
    "\n"
    "Publish events to <topic.prefix>events.in, one per line of FILE (default: stdin).\n"
    "  (default)     JSON lines: {\"type\",\"source\",\"payload\", optional \"id\",\n"
    "                \"occurred_at\" (ms or RFC 3339), \"correlation_id\", \"ttl_ms\",\n"
    "                \"metadata\"}; prints each published id on stdout\n"
    "  --count-only  do not print ids, only the summary\n"
    "  --raw         lines are hex Kafka values published as they are (aliases:\n"
    "                --raw-hex, --hex); \"KEY<TAB>HEX\" sets a line's key\n"
    "  --key KEY     key of raw lines that have none (default: no key)\n"
    "Prints \"published N events (M failed)\" on stderr; exit 1 if a line was bad or\n"
    "a record was not delivered.\n";

typedef struct pub_stats_s {
        size_t delivered, failed;
} pub_stats_t;

static void dr_cb(const char *id, int err, const char *errstr, void *opaque)
{
        pub_stats_t *stats = opaque;

        if (err == SL_OK) {
                stats->delivered++;
                return;
        }
        if (stats->failed++ < PUB_MAX_LINE_ERRORS)
                fprintf(stderr, "sluicectl publish: %s%snot delivered: %s\n", id,
                        *id ? " " : "", errstr ? errstr : sl_err2str(err));
}

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode hex text of length len into out (room for len / 2); returns the byte count or
 * -1 with errstr set. */
static long unhex(const char *s, size_t len, unsigned char *out, char *errstr,
                  size_t errstr_size)
{
        if (len % 2) {
                snprintf(errstr, errstr_size, "odd number of hex digits (%zu)", len);
                return -1;
        }
        for (size_t i = 0; i < len; i += 2) {
                int hi = hexval((unsigned char)s[i]),
                    lo = hexval((unsigned char)s[i + 1]);

                if (hi < 0 || lo < 0) {
                        snprintf(errstr, errstr_size, "not hex at column %zu", i + 1);
                        return -1;
                }
                out[i / 2] = (unsigned char)(hi << 4 | lo);
        }
        return (long)(len / 2);
}

static int publish_raw_line(sl_publisher_t *pub, char *line, size_t len, const char *key,
                            char *errstr, size_t errstr_size)
{
        char *tab = memchr(line, '\t', len), *hex = line;
        unsigned char *buf;
        long n;
        int rc;

        if (tab) {
                *tab = '\0';
                key = line;
                hex = tab + 1;
                len -= (size_t)(hex - line);
        }
        buf = malloc(len / 2 + 1);
        if (!buf) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        n = unhex(hex, len, buf, errstr, errstr_size);
        rc = n < 0 ? SL_ERR_INVALID
                   : sl_publisher_publish_raw(pub, key, key ? strlen(key) : 0, buf,
                                              (size_t)n, errstr, errstr_size);
        free(buf);
        return rc;
}

static int publish_json_line(sl_publisher_t *pub, const char *line, size_t len,
                             int print_ids, char *errstr, size_t errstr_size)
{
        sl_envelope_t env;
        sl_event_t ev;
        char id[37];
        int rc;

        if (sl_envelope_from_json(line, len, &env, errstr, errstr_size) != 0)
                return SL_ERR_INVALID;
        if (env.has_ttl && env.ttl_ms <= 0) {
                snprintf(errstr, errstr_size, "bad_ttl: ttl_ms %lld is not positive",
                         (long long)env.ttl_ms);
                rc = SL_ERR_INVALID;
                goto done;
        }
        memset(&ev, 0, sizeof(ev));
        ev.id = env.id;
        ev.type = env.type;
        ev.source = env.source;
        ev.occurred_at = env.occurred_at;
        ev.payload = env.payload;
        ev.correlation_id = env.correlation_id;
        ev.ttl_ms = env.has_ttl ? env.ttl_ms : 0;
        ev.meta_cnt = env.meta_cnt;
        ev.meta_keys = env.meta_keys;
        ev.meta_vals = env.meta_vals;
        rc = sl_publisher_publish(pub, &ev, id, errstr, errstr_size);
        if (rc == SL_OK && print_ids)
                printf("%s\n", id);
done:
        sl_envelope_clear(&env);
        return rc;
}

int sl_cmd_publish(sl_conf_t *conf, int argc, char **argv)
{
        const char *path = NULL, *key = NULL;
        int raw = 0, print_ids = 1, rc = 1, i;
        char errstr[512], *line = NULL;
        size_t cap = 0, lineno = 0, bad = 0, enqueued = 0, failed = 0;
        ssize_t len;
        pub_stats_t stats = {0, 0};
        sl_publisher_t *pub = NULL;
        FILE *in = stdin;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        fputs(publish_usage, stdout);
                        return 0;
                } else if (!strcmp(argv[i], "--raw") || !strcmp(argv[i], "--raw-hex") ||
                           !strcmp(argv[i], "--hex")) {
                        raw = 1;
                } else if (!strcmp(argv[i], "--count-only")) {
                        print_ids = 0;
                } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
                        key = argv[++i];
                } else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
                        fprintf(stderr, "sluicectl publish: unknown option '%s'\n\n%s",
                                argv[i], publish_usage);
                        return 2;
                } else if (!path) {
                        path = argv[i];
                } else {
                        fprintf(stderr, "sluicectl publish: more than one FILE\n\n%s",
                                publish_usage);
                        return 2;
                }
        }
        if (key && !raw) {
                fprintf(stderr, "sluicectl publish: --key is for --raw (JSON events are "
                                "keyed by source)\n");
                return 2;
        }
        if (path && strcmp(path, "-") != 0) {
                in = fopen(path, "r");
                if (!in) {
                        perror(path);
                        return 1;
                }
        }
        pub = sl__publisher_new_conf(conf, dr_cb, &stats, errstr, sizeof(errstr));
        if (!pub) {
                fprintf(stderr, "sluicectl publish: %s\n", errstr);
                goto done;
        }
        while ((len = getline(&line, &cap, in)) != -1) {
                int prc;

                lineno++;
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                                   line[len - 1] == ' ' || line[len - 1] == '\t'))
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                prc = raw ? publish_raw_line(pub, line, (size_t)len, key, errstr,
                                             sizeof(errstr))
                          : publish_json_line(pub, line, (size_t)len, print_ids, errstr,
                                              sizeof(errstr));
                if (prc == SL_OK) {
                        enqueued++;
                        continue;
                }
                if (prc == SL_ERR_KAFKA || prc == SL_ERR_NOMEM) {
                        fprintf(stderr, "sluicectl publish: line %zu: %s; stopping\n",
                                lineno, errstr);
                        bad++;
                        break;
                }
                if (bad++ < PUB_MAX_LINE_ERRORS)
                        fprintf(stderr, "sluicectl publish: line %zu: %s\n", lineno,
                                errstr);
        }
        if (ferror(in))
                fprintf(stderr, "sluicectl publish: read error after line %zu\n", lineno);
        if (sl_publisher_flush(pub, PUB_FLUSH_TIMEOUT_MS, &failed) == SL_ERR_TIMEOUT)
                fprintf(stderr,
                        "sluicectl publish: %zu records still undelivered after %d s\n",
                        enqueued - stats.delivered - stats.failed,
                        PUB_FLUSH_TIMEOUT_MS / 1000);
        fflush(stdout);
        failed = enqueued - stats.delivered;
        if (bad > PUB_MAX_LINE_ERRORS)
                fprintf(stderr, "sluicectl publish: %zu bad lines in all\n", bad);
        fprintf(stderr, "published %zu events (%zu failed)%s\n", stats.delivered, failed,
                bad ? ", some lines were bad" : "");
        rc = (bad || failed || ferror(in)) ? 1 : 0;
done:
        free(line);
        sl_publisher_destroy(pub);
        if (in != stdin)
                fclose(in);
        return rc;
}
