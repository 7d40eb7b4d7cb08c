/*
 * sluice-it-publish: the C SDK path of the integration tests.  Reads JSON-lines events
 * (gen_events.py valid ...) from stdin and publishes each through the public publisher
 * API in include/sluice/publisher.h (sl_publisher_publish, not the raw path), with the
 * id, timestamps, correlation id, ttl and metadata it was given; then flushes and
 * reports.  Bootstrap servers come from SLUICE_KAFKA_BOOTSTRAP_SERVERS.
 *
 *   sluice-it-publish < events.jsonl      prints "published N", exit 0 when all delivered
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/err.h"
#include "sluice/publisher.h"

#define SL_IT_MAX_META 32

static size_t dr_failed;

static void dr_cb(const char *id, int err, const char *errstr, void *opaque)
{
        (void)opaque;
        if (err != SL_OK) {
                if (dr_failed++ < 5)
                        fprintf(stderr, "sluice-it-publish: %s not delivered: %s\n", id,
                                errstr ? errstr : "?");
        }
}

static const char *str_or_null(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Publish one JSON line.  Returns SL_OK or an error with errstr set. */
static int publish_line(sl_publisher_t *pub, const char *line, size_t lineno,
                        char *errstr, size_t errstr_size)
{
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *meta, *v;
        const char *keys[SL_IT_MAX_META], *vals[SL_IT_MAX_META];
        char *payload = NULL, id_out[37];
        sl_event_t ev;
        int rc = SL_ERR_INVALID;

        if (!obj || !json_is_object(obj)) {
                snprintf(errstr, errstr_size, "line %zu: not a JSON object: %s", lineno,
                         obj ? "" : jerr.text);
                goto done;
        }
        memset(&ev, 0, sizeof(ev));
        ev.id = str_or_null(obj, "id");
        ev.type = str_or_null(obj, "type");
        ev.source = str_or_null(obj, "source");
        ev.correlation_id = str_or_null(obj, "correlation_id");
        if ((v = json_object_get(obj, "occurred_at")) && json_is_integer(v))
                ev.occurred_at = json_integer_value(v);
        if ((v = json_object_get(obj, "ttl_ms")) && json_is_integer(v))
                ev.ttl_ms = json_integer_value(v);
        if ((v = json_object_get(obj, "payload"))) {
                payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!payload) {
                        snprintf(errstr, errstr_size, "line %zu: cannot encode payload",
                                 lineno);
                        goto done;
                }
                ev.payload = payload;
        }
        if ((meta = json_object_get(obj, "metadata")) && json_is_object(meta)) {
                const char *k;
                json_object_foreach(meta, k, v)
                {
                        if (ev.meta_cnt == SL_IT_MAX_META || !json_is_string(v)) {
                                snprintf(errstr, errstr_size,
                                         "line %zu: metadata: at most %d string values",
                                         lineno, SL_IT_MAX_META);
                                goto done;
                        }
                        keys[ev.meta_cnt] = k;
                        vals[ev.meta_cnt++] = json_string_value(v);
                }
                ev.meta_keys = keys;
                ev.meta_vals = vals;
        }
        rc = sl_publisher_publish(pub, &ev, id_out, errstr, errstr_size);
        if (rc == SL_OK && ev.id && strcmp(ev.id, id_out) != 0) {
                snprintf(errstr, errstr_size, "line %zu: published as %s, not %s", lineno,
                         id_out, ev.id);
                rc = SL_ERR_INVALID;
        }
done:
        free(payload);
        json_decref(obj);
        return rc;
}

int main(int argc, char **argv)
{
        char errstr[512], *line = NULL;
        size_t cap = 0, lineno = 0, n = 0, failed = 0;
        ssize_t len;
        const char *bootstrap = getenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS");
        const char *props[] = {"kafka.bootstrap.servers", bootstrap, NULL};
        sl_publisher_t *pub = NULL;
        int rc = 1;

        if (argc > 1) {
                fprintf(stderr,
                        "usage: %s < events.jsonl   (SLUICE_KAFKA_BOOTSTRAP_SERVERS "
                        "names the brokers)\n",
                        argv[0]);
                return 2;
        }
        if (!bootstrap || !*bootstrap) {
                fprintf(stderr,
                        "sluice-it-publish: SLUICE_KAFKA_BOOTSTRAP_SERVERS is not set\n");
                return 2;
        }
        pub = sl_publisher_new(props, dr_cb, NULL, errstr, sizeof(errstr));
        if (!pub) {
                fprintf(stderr, "sluice-it-publish: %s\n", errstr);
                return 1;
        }
        while ((len = getline(&line, &cap, stdin)) != -1) {
                lineno++;
                if (len <= 1)
                        continue;
                if (publish_line(pub, line, lineno, errstr, sizeof(errstr)) != SL_OK) {
                        fprintf(stderr, "sluice-it-publish: %s\n", errstr);
                        goto fail;
                }
                n++;
        }
        if (sl_publisher_flush(pub, 60000, &failed) != SL_OK || dr_failed) {
                fprintf(stderr, "sluice-it-publish: %zu of %zu not delivered\n",
                        failed > dr_failed ? failed : dr_failed, n);
                goto fail;
        }
        printf("published %zu\n", n);
        rc = 0;
fail:
        free(line);
        sl_publisher_destroy(pub);
        return rc;
}
