/*
 * `sluicectl tail TOPIC [--from-beginning] [--max N] [--timeout-ms T] [--group G]`:
 * print a topic's records as JSON lines.
 *
 * Each record is one line: the decoded envelope (sl_envelope_to_json) plus "_partition",
 * "_offset", "_timestamp", "_key" and "_headers" (header name -> string); a record that
 * does not decode as an envelope (the DLQ's malformed input, other topics) is printed as
 * {"_raw_hex", "_error"} with the same extra fields.  TOPIC is a full name or a
 * catalogue suffix ("events.dlq").
 *
 * Without --group every partition is assigned directly (nothing joins a group, nothing
 * is committed), starting at the end, or at the beginning with --from-beginning.  With
 * --group G the consumer subscribes in group G and commits what it printed.  Stops
 * after --max records, after --timeout-ms without a record, or on SIGINT/SIGTERM.
 * Exit 0, or 1 when --timeout-ms ends the wait before --max records were printed or the
 * topic does not exist; 2 on usage errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmds.h"
#include "config/config.h"
#include "envelope/envelope.h"
#include "kafka/kafka.h"
#include "sluice/err.h"
#include "util/utf8.h"
#include "util/uuid.h"

static const char tail_usage[] =
    "usage: sluicectl tail TOPIC [--from-beginning] [--max N] [--timeout-ms T]\n"
    "                          [--group G]\n"
    "\n"
    "Print TOPIC's records as JSON lines (decoded envelope, or _raw_hex and _error,\n"
    "plus _partition, _offset, _timestamp, _key, _headers).  TOPIC: a full name or a\n"
    "suffix such as events.dlq.\n"
    "  --from-beginning  start at the oldest record (default: only new records)\n"
    "  --max N           stop after N records\n"
    "  --timeout-ms T    stop after T ms without a record (default: follow until\n"
    "                    SIGINT); exit 1 if that happens before --max records\n"
    "  --group G         consume in group G and commit (default: assign every\n"
    "                    partition, no group, no commits)\n";

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig)
{
        (void)sig;
        tail_stop = 1;
}

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A JSON string of bytes that may not be UTF-8: the text, or its hex with a "hex:"
 * prefix. */
static json_t *bytes_json(const void *p, size_t len)
{
        static const char digits[] = "0123456789abcdef";
        const unsigned char *b = p;
        json_t *s;
        char *hex;

        if (sl_utf8_check(p, len) < 0 && (s = json_stringn(p, len)))
                return s;
        hex = malloc(len * 2 + 5);
        if (!hex)
                return json_null();
        memcpy(hex, "hex:", 4);
        for (size_t i = 0; i < len; i++) {
                hex[4 + i * 2] = digits[b[i] >> 4];
                hex[5 + i * 2] = digits[b[i] & 15];
        }
        s = json_stringn(hex, len * 2 + 4);
        free(hex);
        return s;
}

static json_t *raw_hex(const void *p, size_t len)
{
        static const char digits[] = "0123456789abcdef";
        const unsigned char *b = p;
        char *hex = malloc(len * 2 + 1);
        json_t *s;

        if (!hex)
                return json_null();
        for (size_t i = 0; i < len; i++) {
                hex[i * 2] = digits[b[i] >> 4];
                hex[i * 2 + 1] = digits[b[i] & 15];
        }
        s = json_stringn(hex, len * 2);
        free(hex);
        return s;
}

/* --group: remember m as printed; commit now and then (and at the end). */
static void store_offset(rd_kafka_t *rk, const rd_kafka_message_t *m, long long printed)
{
        rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);

        rd_kafka_topic_partition_list_add(tp, rd_kafka_topic_name(m->rkt), m->partition)
            ->offset = m->offset + 1;
        rd_kafka_offsets_store(rk, tp);
        rd_kafka_topic_partition_list_destroy(tp);
        if (printed % 1000 == 0)
                rd_kafka_commit(rk, NULL, 1 /* async */);
}

/* The record's Kafka fields, as ',"_partition":...,"_headers":{...}' (no braces), for
 * appending to an object.  Caller frees with free(). */
static char *kafka_fields(rd_kafka_message_t *m)
{
        json_t *hdrs = json_object(), *key;
        rd_kafka_headers_t *kh = NULL;
        char *hdrs_text, *key_text, *out = NULL;

        if (rd_kafka_message_headers(m, &kh) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size;

                for (size_t i = 0; rd_kafka_header_get_all(kh, i, &name, &val, &size) ==
                                   RD_KAFKA_RESP_ERR_NO_ERROR;
                     i++)
                        json_object_set_new(hdrs, name,
                                            val ? bytes_json(val, size) : json_null());
        }
        key = m->key ? bytes_json(m->key, m->key_len) : json_null();
        hdrs_text = json_dumps(hdrs, JSON_COMPACT | JSON_PRESERVE_ORDER);
        key_text = json_dumps(key, JSON_COMPACT | JSON_ENCODE_ANY);
        if (hdrs_text && key_text &&
            asprintf(&out,
                     ",\"_partition\":%d,\"_offset\":%lld,\"_timestamp\":%lld,"
                     "\"_key\":%s,\"_headers\":%s",
                     (int)m->partition, (long long)m->offset,
                     (long long)rd_kafka_message_timestamp(m, NULL), key_text,
                     hdrs_text) < 0)
                out = NULL;
        free(hdrs_text);
        free(key_text);
        json_decref(key);
        json_decref(hdrs);
        return out;
}

/* One record as a JSON line on stdout.  The envelope's own JSON is extended in place
 * (no re-parse): tail must keep up with a busy topic. */
static void print_record(const sl_codec_t *codec, sl_envelope_t *env,
                         rd_kafka_message_t *m)
{
        char *fields = kafka_fields(m), *text = NULL, *hex;
        sl_reject_t rej;
        size_t len;

        if (!fields) {
                fprintf(stderr, "sluicectl tail: out of memory\n");
                return;
        }
        if (sl_envelope_decode(codec, m->payload, m->len, env, &rej) == SL_OK) {
                text = sl_envelope_to_json(env);
                if (text && (len = strlen(text)) > 1 && text[len - 1] == '}') {
                        fwrite(text, 1, len - 1, stdout);
                        printf("%s}\n", fields);
                        goto done;
                }
                rej.code = SL_REJECT_DECODE;
                snprintf(rej.msg, sizeof(rej.msg), "cannot render the envelope as JSON");
        }
        {
                char err[300];
                json_t *obj = json_object();

                snprintf(err, sizeof(err), "%s: %s", sl_reject_code_str(rej.code),
                         rej.msg);
                json_object_set_new(obj, "_raw_hex", raw_hex(m->payload, m->len));
                json_object_set_new(obj, "_error", json_string(err));
                hex = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(obj);
                if (hex && (len = strlen(hex)) > 1) {
                        fwrite(hex, 1, len - 1, stdout);
                        printf("%s}\n", fields);
                }
                free(hex);
        }
done:
        free(text);
        free(fields);
}

/* Partitions of topic, from a metadata request for every topic (asking for one topic
 * could auto-create it).  Returns the count, 0 when it does not exist, -1 on error. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, char *errstr,
                            size_t errstr_size)
{
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        int n = 0;

        if (err) {
                snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
                return -1;
        }
        for (int i = 0; i < md->topic_cnt; i++)
                if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
                        n = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return n;
}

int sl_cmd_tail(sl_conf_t *conf, int argc, char **argv)
{
        const char *name = NULL, *group = NULL;
        int from_beginning = 0, rc = 1, i, parts;
        long long max = -1, timeout_ms = -1, printed = 0;
        char topic[256], errstr[512], group_buf[64];
        rd_kafka_t *rk = NULL;
        rd_kafka_topic_partition_list_t *tps = NULL;
        rd_kafka_resp_err_t err;
        sl_codec_t *codec = NULL;
        sl_envelope_t env;
        struct sigaction sa;
        int64_t last;

        for (i = 1; i < argc; i++) {
                char *end = NULL;

                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        fputs(tail_usage, stdout);
                        return 0;
                } else if (!strcmp(argv[i], "--from-beginning")) {
                        from_beginning = 1;
                } else if (!strcmp(argv[i], "--max") && i + 1 < argc) {
                        errno = 0;
                        max = strtoll(argv[++i], &end, 10);
                        if (errno || !*argv[i] || *end || max < 1) {
                                fprintf(stderr,
                                        "sluicectl tail: --max: '%s' is not a "
                                        "positive number\n",
                                        argv[i]);
                                return 2;
                        }
                } else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
                        errno = 0;
                        timeout_ms = strtoll(argv[++i], &end, 10);
                        if (errno || !*argv[i] || *end || timeout_ms < 0) {
                                fprintf(stderr,
                                        "sluicectl tail: --timeout-ms: '%s' is not "
                                        "a number >= 0\n",
                                        argv[i]);
                                return 2;
                        }
                } else if (!strcmp(argv[i], "--group") && i + 1 < argc) {
                        group = argv[++i];
                } else if (argv[i][0] == '-' || name) {
                        fprintf(stderr, "sluicectl tail: unexpected argument '%s'\n\n%s",
                                argv[i], tail_usage);
                        return 2;
                } else {
                        name = argv[i];
                }
        }
        if (!name) {
                fputs(tail_usage, stderr);
                return 2;
        }
        sl_kafka_topic_resolve(conf, name, topic, sizeof(topic));
        sl_envelope_init(&env);

        codec = sl_codec_new(errstr, sizeof(errstr));
        if (!codec)
                goto fail;
        if (*sl_conf_get(conf, "schemas.dir") &&
            sl_codec_add_writers_dir(codec, sl_conf_get(conf, "schemas.dir"), errstr,
                                     sizeof(errstr)) != SL_OK)
                goto fail;
        if (!group) {
                char us[37];

                sl_uuid_random(us);
                snprintf(group_buf, sizeof(group_buf), "sluicectl-tail-%s", us);
        } else if (sl_conf_set(conf, "kafka.auto.offset.reset",
                               from_beginning ? "earliest" : "latest", errstr,
                               sizeof(errstr)) != 0) {
                goto fail;
        }
        rk = sl_kafka_consumer_new(conf, group ? group : group_buf, NULL, NULL, errstr,
                                   sizeof(errstr));
        if (!rk)
                goto fail;
        parts = topic_partitions(rk, topic, errstr, sizeof(errstr));
        if (parts < 0)
                goto fail;
        if (parts == 0) {
                snprintf(errstr, sizeof(errstr), "topic %s does not exist", topic);
                goto fail;
        }
        tps = rd_kafka_topic_partition_list_new(parts);
        if (group) {
                rd_kafka_topic_partition_list_add(tps, topic, RD_KAFKA_PARTITION_UA);
                err = rd_kafka_subscribe(rk, tps);
        } else {
                for (int p = 0; p < parts; p++)
                        rd_kafka_topic_partition_list_add(tps, topic, p)->offset =
                            from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                                           : RD_KAFKA_OFFSET_END;
                err = rd_kafka_assign(rk, tps);
        }
        if (err) {
                snprintf(errstr, sizeof(errstr), "%s %s: %s",
                         group ? "subscribe" : "assign", topic, rd_kafka_err2str(err));
                goto fail;
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        last = mono_ms();
        rc = 0;
        while (!tail_stop && (max < 0 || printed < max)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

                if (!m) {
                        fflush(stdout);
                        if (timeout_ms >= 0 && mono_ms() - last >= timeout_ms) {
                                if (max >= 0) {
                                        fprintf(stderr,
                                                "sluicectl tail: %lld of %lld records "
                                                "in %lld ms without more\n",
                                                printed, max, timeout_ms);
                                        rc = 1;
                                }
                                break;
                        }
                        continue;
                }
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "sluicectl tail: %s\n",
                                        rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                print_record(codec, &env, m);
                printed++;
                last = mono_ms();
                if (group)
                        store_offset(rk, m, printed);
                rd_kafka_message_destroy(m);
        }
        fflush(stdout);
        if (group && printed) {
                err = rd_kafka_commit(rk, NULL, 0);
                if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                        fprintf(stderr, "sluicectl tail: commit: %s\n",
                                rd_kafka_err2str(err));
        }
        goto done;

fail:
        fprintf(stderr, "sluicectl tail: %s\n", errstr);
        rc = 1;
done:
        if (tps)
                rd_kafka_topic_partition_list_destroy(tps);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        sl_envelope_clear(&env);
        sl_codec_destroy(codec);
        return rc;
}
