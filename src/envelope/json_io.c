/*
 * Envelopes as JSON, for people and tools (sluicectl publish and tail, tests): parse a
 * JSON object into an envelope, and print an envelope as one line of JSON.  Not on the
 * hot path, so jansson does the work.  Parsing is strict about shape (known keys, right
 * JSON types) but not about the field rules, so that invalid events can still be
 * built on purpose; sl_envelope_validate() judges those.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope/envelope_int.h"
#include "sluice/err.h"
#include "util/clock.h"
#include "util/uuid.h"

/* RFC 3339 ("2024-05-01T12:00:00.250Z", "...+02:00") to ms since the epoch. */
static int sl_parse_rfc3339(const char *s, int64_t *out)
{
        struct tm tm = {0};
        int y, mo, d, h, mi, sec, n = 0;
        int64_t ms = 0;

        if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                   &n) != 6 ||
            n != 19)
                return -1;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
                return -1;
        const char *p = s + n;
        if (*p == '.') {
                int digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*p - '0');
                if (!digits)
                        return -1;
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        int64_t off = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int oh, om, m = 0;
                if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
                        return -1;
                off = (int64_t)(oh * 60 + om) * 60000 * (*p == '-' ? -1 : 1);
                p += 6;
        } else {
                return -1;
        }
        if (*p)
                return -1;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        *out = (int64_t)timegm(&tm) * 1000 + ms - off;
        return 0;
}

static const char *const sl_json_keys[] = {"id",          "type",    "source",
                                           "occurred_at", "payload", "correlation_id",
                                           "ttl_ms",      "metadata"};

int sl_envelope_from_json(const char *json, size_t len, sl_envelope_t *env, char *errstr,
                          size_t errstr_size)
{
        json_error_t jerr;
        json_t *j, *v;
        const char *key;
        char *payload_text = NULL;
        const char *payload;
        size_t payload_len, need = 0;
        int err = SL_ERR_INVALID;

        sl_envelope_init(env);
        j = json_loadb(json, len, 0, &jerr);
        if (!j) {
                snprintf(errstr, errstr_size, "envelope JSON: %s (line %d column %d)",
                         jerr.text, jerr.line, jerr.column);
                return SL_ERR_INVALID;
        }
        if (!json_is_object(j)) {
                snprintf(errstr, errstr_size, "envelope JSON must be an object");
                goto fail;
        }
        json_object_foreach(j, key, v)
        {
                size_t i;
                for (i = 0; i < sizeof(sl_json_keys) / sizeof(sl_json_keys[0]); i++)
                        if (!strcmp(key, sl_json_keys[i]))
                                break;
                if (i == sizeof(sl_json_keys) / sizeof(sl_json_keys[0])) {
                        snprintf(errstr, errstr_size,
                                 "envelope JSON: unknown field \"%s\"", key);
                        goto fail;
                }
        }

        v = json_object_get(j, "id");
        if (v && !json_is_null(v)) {
                const char *id = json_string_value(v);
                if (!id || strlen(id) != 36) {
                        snprintf(errstr, errstr_size,
                                 "id must be a 36-character UUID string");
                        goto fail;
                }
                for (int i = 0; i < 36; i++)
                        env->id[i] =
                            (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] + 32) : id[i];
                env->id[36] = '\0';
        } else {
                sl_uuid_random(env->id);
        }

        const char *type = json_string_value(json_object_get(j, "type"));
        const char *source = json_string_value(json_object_get(j, "source"));
        if (!type || !source) {
                snprintf(errstr, errstr_size, "\"type\" and \"source\" must be strings");
                goto fail;
        }

        v = json_object_get(j, "occurred_at");
        if (!v || json_is_null(v)) {
                env->occurred_at = sl_wall_ms();
        } else if (json_is_integer(v)) {
                env->occurred_at = json_integer_value(v);
        } else if (json_is_real(v)) {
                env->occurred_at = (int64_t)json_real_value(v);
        } else if (!json_is_string(v) ||
                   sl_parse_rfc3339(json_string_value(v), &env->occurred_at)) {
                snprintf(errstr, errstr_size,
                         "occurred_at must be ms since the epoch or RFC 3339 text");
                goto fail;
        }

        v = json_object_get(j, "payload");
        if (!v || json_is_null(v)) {
                payload = "{}";
                payload_len = 2;
        } else if (json_is_string(v)) {
                payload = json_string_value(v);
                payload_len = json_string_length(v);
        } else {
                payload_text =
                    json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
                if (!payload_text) {
                        err = SL_ERR_NOMEM;
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
                payload = payload_text;
                payload_len = strlen(payload_text);
        }

        v = json_object_get(j, "correlation_id");
        const char *corr = NULL;
        if (v && !json_is_null(v) && !(corr = json_string_value(v))) {
                snprintf(errstr, errstr_size, "correlation_id must be a string or null");
                goto fail;
        }

        v = json_object_get(j, "ttl_ms");
        if (v && !json_is_null(v)) {
                if (!json_is_integer(v)) {
                        snprintf(errstr, errstr_size,
                                 "ttl_ms must be an integer or null");
                        goto fail;
                }
                env->has_ttl = true;
                env->ttl_ms = json_integer_value(v);
        }

        json_t *meta = json_object_get(j, "metadata");
        if (meta && !json_is_null(meta) && !json_is_object(meta)) {
                snprintf(errstr, errstr_size, "metadata must be an object of strings");
                goto fail;
        }
        if (meta) {
                json_object_foreach(meta, key, v)
                {
                        if (!json_is_string(v)) {
                                snprintf(errstr, errstr_size,
                                         "metadata.%s must be a string", key);
                                goto fail;
                        }
                        need += strlen(key) + json_string_length(v) + 2;
                }
        }

        need +=
            strlen(type) + strlen(source) + payload_len + (corr ? strlen(corr) : 0) + 8;
        size_t meta_cnt = meta ? json_object_size(meta) : 0;
        if (sl__envelope_arena_reset(env, need) ||
            sl__envelope_meta_reserve(env, meta_cnt ? meta_cnt : 1, 0)) {
                err = SL_ERR_NOMEM;
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        env->type = sl__envelope_strdup(env, type, strlen(type));
        env->source = sl__envelope_strdup(env, source, strlen(source));
        env->payload = sl__envelope_strdup(env, payload, payload_len);
        env->payload_len = payload_len;
        env->correlation_id = corr ? sl__envelope_strdup(env, corr, strlen(corr)) : NULL;
        size_t i = 0;
        if (meta) {
                json_object_foreach(meta, key, v)
                {
                        const char *k = sl__envelope_strdup(env, key, strlen(key));
                        const char *val = sl__envelope_strdup(env, json_string_value(v),
                                                              json_string_length(v));
                        sl__envelope_meta_set(env, i++, k, val);
                }
        }
        sl__envelope_meta_finish(env, i);
        free(payload_text);
        json_decref(j);
        return SL_OK;

fail:
        free(payload_text);
        json_decref(j);
        sl_envelope_clear(env);
        return err;
}

json_t *sl_envelope_to_jsonv(const sl_envelope_t *env, unsigned flags)
{
        json_t *j = json_object(), *meta = json_object(), *payload = NULL;

        if (!j || !meta) {
                json_decref(meta);
                json_decref(j);
                return NULL;
        }
        size_t plen = env->payload
                          ? (env->payload_len ? env->payload_len : strlen(env->payload))
                          : 0;
        if (env->payload)
                payload = json_loadb(env->payload, plen, JSON_DECODE_ANY, NULL);
        if (!payload)
                payload = env->payload ? json_stringn(env->payload, plen) : json_null();
        json_object_set_new(j, "id", json_string(env->id));
        json_object_set_new(j, "type", env->type ? json_string(env->type) : json_null());
        json_object_set_new(j, "source",
                            env->source ? json_string(env->source) : json_null());
        if (flags & SL_ENVELOPE_JSON_RFC3339) {
                int64_t ms = env->occurred_at % 1000, s = env->occurred_at / 1000;
                time_t t;
                struct tm tm;
                char buf[80];

                if (ms < 0) {
                        ms += 1000;
                        s--;
                }
                t = (time_t)s;
                gmtime_r(&t, &tm);
                snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                         tm.tm_min, tm.tm_sec, (int)ms);
                json_object_set_new(j, "occurred_at", json_string(buf));
        } else {
                json_object_set_new(j, "occurred_at", json_integer(env->occurred_at));
        }
        json_object_set_new(j, "payload", payload ? payload : json_null());
        json_object_set_new(j, "correlation_id",
                            env->correlation_id ? json_string(env->correlation_id)
                                                : json_null());
        json_object_set_new(j, "ttl_ms",
                            env->has_ttl ? json_integer(env->ttl_ms) : json_null());
        for (size_t i = 0; i < env->meta_cnt; i++)
                json_object_set_new(meta, env->meta_keys[i],
                                    json_string(env->meta_vals[i]));
        json_object_set_new(j, "metadata", meta);
        return j;
}

char *sl_envelope_to_json(const sl_envelope_t *env)
{
        json_t *j = sl_envelope_to_jsonv(env, 0);
        char *out = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        json_decref(j);
        return out;
}
