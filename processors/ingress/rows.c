/*
 * sluice-ingress's COPY rows: a valid event's workflow_events row (with its admission
 * decision), a held-back event's event_ingress_retries row (its retry intent), an
 * invalid record's dead_letters row.  Encoded straight into the binary COPY pipes
 * (copy_pipe.h); what Postgres text cannot hold (invalid UTF-8, NUL) in a dead letter's
 * words becomes '?', so one bad record never fails the batch.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ingress_int.h"
#include "limits/admission.h"
#include "retry/state.h"
#include "util/utf8.h"
#include "util/uuid.h"

/* Append s to the open field, as JSON string content when json, replacing anything
 * that is not valid UTF-8 (and NUL) with '?': dead letters hold arbitrary bytes and
 * Postgres text must not fail the batch. */
static void append_clean(sl_copy_pipe_t *cp, const char *s, size_t len, bool json)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0, run = 0;

        while (i < len) {
                size_t n = sl_utf8_seq(p + i, len - i);
                bool esc = json && n == 1 && (p[i] < 0x20 || p[i] == '"' || p[i] == '\\');
                if (n && !esc) {
                        i += n;
                        continue;
                }
                if (i > run)
                        sl_copy_field_append(cp, p + run, i - run);
                if (!n) {
                        sl_copy_field_append(cp, "?", 1);
                        i++;
                } else {
                        char buf[8];
                        int bl = snprintf(buf, sizeof(buf), "\\u%04x", p[i]);
                        if (p[i] == '"' || p[i] == '\\') {
                                buf[0] = '\\';
                                buf[1] = (char)p[i];
                                bl = 2;
                        }
                        sl_copy_field_append(cp, buf, (size_t)bl);
                        i++;
                }
                run = i;
        }
        if (len > run)
                sl_copy_field_append(cp, p + run, len - run);
}

static void field_clean_text(sl_copy_pipe_t *cp, const char *s, size_t len)
{
        sl_copy_field_open(cp);
        append_clean(cp, s, len, false);
        sl_copy_field_close(cp);
}

static void field_json_string(sl_copy_pipe_t *cp, const char *s, size_t len)
{
        sl_copy_field_append(cp, "\"", 1);
        append_clean(cp, s, len, true);
        sl_copy_field_append(cp, "\"", 1);
}

void sl__ingress_write_event_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 const sl_envelope_t *env, const sl_admit_event_t *ad)
{
        sl_copy_pipe_t *cp = ing->events;
        unsigned char uuid[16];
        const char *status = sl_decision_str(ad->decision);
        const char *reason = sl_admit_reason_str(ad->reason);

        sl_uuid_parse(env->id, uuid); /* validated already */
        sl_copy_row_begin(cp, 14);
        sl_copy_field_uuid(cp, uuid);
        sl_copy_field(cp, env->type, strlen(env->type));
        sl_copy_field(cp, env->source, strlen(env->source));
        sl_copy_field_timestamp_ms(cp, env->occurred_at);
        sl_copy_field_jsonb(cp, env->payload, env->payload_len);
        if (env->correlation_id)
                sl_copy_field(cp, env->correlation_id, strlen(env->correlation_id));
        else
                sl_copy_field_null(cp);
        if (env->has_ttl)
                sl_copy_field_int8(cp, env->ttl_ms);
        else
                sl_copy_field_null(cp);
        if (env->meta_cnt == 0) {
                sl_copy_field_jsonb(cp, "{}", 2);
        } else {
                sl_copy_field_open(cp);
                sl_copy_field_append(cp, "\1{", 2);
                for (size_t i = 0; i < env->meta_cnt; i++) {
                        if (i)
                                sl_copy_field_append(cp, ",", 1);
                        field_json_string(cp, env->meta_keys[i],
                                          strlen(env->meta_keys[i]));
                        sl_copy_field_append(cp, ":", 1);
                        field_json_string(cp, env->meta_vals[i],
                                          strlen(env->meta_vals[i]));
                }
                sl_copy_field_append(cp, "}", 1);
                sl_copy_field_close(cp);
        }
        sl_copy_field_int4(cp, m->partition);
        sl_copy_field_int8(cp, m->offset);
        sl_copy_field(cp, status, strlen(status));
        if (*reason)
                sl_copy_field(cp, reason, strlen(reason));
        else
                sl_copy_field_null(cp);
        sl_copy_field_timestamp_ms(cp, ad->decided_at);
        sl_copy_field_int4(cp, ad->attempt);
        sl_copy_row_end(cp);
}

void sl__ingress_write_retry_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 const sl_envelope_t *env, const sl_admit_event_t *ad)
{
        sl_copy_pipe_t *cp = ing->retries;
        unsigned char uuid[16];
        const char *reason = sl_admit_reason_str(ad->reason);
        const char *state = sl_retry_state_str(SL_RETRY_SCHEDULED); /* a new retry */

        sl_uuid_parse(env->id, uuid); /* validated already */
        sl_copy_row_begin(cp, 8);
        sl_copy_field_uuid(cp, uuid);
        sl_copy_field(cp, env->source, strlen(env->source));
        sl_copy_field_timestamp_ms(cp, env->occurred_at);
        sl_copy_field_int4(cp, ad->attempt + 1);
        sl_copy_field_timestamp_ms(cp, ad->next_attempt_at);
        sl_copy_field(cp, reason, strlen(reason));
        sl_copy_field(cp, state, strlen(state));
        sl_copy_field(cp, m->payload ? m->payload : "", m->payload ? m->len : 0);
        sl_copy_row_end(cp);
}

bool sl__ingress_decoded(sl_reject_code_t rej)
{
        return rej != SL_REJECT_FRAMING && rej != SL_REJECT_UNKNOWN_SCHEMA &&
               rej != SL_REJECT_DECODE;
}

void sl__ingress_write_dead_letter_row(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                       const slot_t *s)
{
        sl_copy_pipe_t *cp = ing->dead;
        const char *topic = rd_kafka_topic_name(m->rkt);
        const char *reason = sl_reject_code_str(s->rej);
        const char *msg = sl__ingress_rej_msg(s);
        rd_kafka_headers_t *hdrs = NULL;
        bool have_env = sl__ingress_decoded(s->rej);

        sl_copy_row_begin(cp, 11);
        sl_copy_field(cp, topic, strlen(topic));
        sl_copy_field_int4(cp, m->partition);
        sl_copy_field_int8(cp, m->offset);
        if (m->key)
                sl_copy_field(cp, m->key, m->key_len);
        else
                sl_copy_field_null(cp);
        sl_copy_field(cp, m->payload ? m->payload : "", m->payload ? m->len : 0);
        sl_copy_field(cp, reason, strlen(reason));
        field_clean_text(cp, msg, strlen(msg));
        if (have_env) {
                field_clean_text(cp, s->env.id, strlen(s->env.id));
                if (s->env.type)
                        field_clean_text(cp, s->env.type, strlen(s->env.type));
                else
                        sl_copy_field_null(cp);
                if (s->env.source)
                        field_clean_text(cp, s->env.source, strlen(s->env.source));
                else
                        sl_copy_field_null(cp);
        } else {
                sl_copy_field_null(cp);
                sl_copy_field_null(cp);
                sl_copy_field_null(cp);
        }
        sl_copy_field_open(cp);
        sl_copy_field_append(cp, "\1{", 2);
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size;
                for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
                     i++) {
                        if (i)
                                sl_copy_field_append(cp, ",", 1);
                        field_json_string(cp, name, strlen(name));
                        sl_copy_field_append(cp, ":", 1);
                        if (val)
                                field_json_string(cp, val, size);
                        else
                                sl_copy_field_append(cp, "null", 4);
                }
        }
        sl_copy_field_append(cp, "}", 1);
        sl_copy_field_close(cp);
        sl_copy_row_end(cp);
}
