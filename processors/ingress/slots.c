/*
 * What becomes of one record of an ingress batch, in its slot (ingress_int.h): decoded
 * and validated (no allocation once warm; a rejection's words only when there are
 * some), rejected, re-routed to the partition that owns its source, or decided by
 * admission and written as rows.  The batch around it is ingress.c's.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_int.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"
#include "util/utf8.h"

bool sl__ingress_slots_reserve(slot_t **slots, size_t *cap, size_t cnt)
{
        if (cnt <= *cap)
                return true;
        slot_t *s = realloc(*slots, cnt * sizeof(*s));
        if (!s)
                return false;
        for (size_t i = *cap; i < cnt; i++) {
                sl_envelope_init(&s[i].env);
                s[i].rej_msg = NULL;
        }
        *slots = s;
        *cap = cnt;
        return true;
}

static void log_rejection(const rd_kafka_message_t *m, const slot_t *s)
{
        sl_log_ctx_t ctx = {0};
        if (sl__ingress_decoded(s->rej)) {
                ctx.event_id = s->env.id;
                ctx.source = s->env.source;
                ctx.correlation_id = s->env.correlation_id;
        }
        sl_log(SL_LOG_WARN, &ctx, "rejected %s [%d] @%lld: %s: %s",
               rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
               sl_reject_code_str(s->rej), sl__ingress_rej_msg(s));
}

void sl__ingress_reject(slot_t *s, const sl_reject_t *rej)
{
        s->rej = rej->code;
        free(s->rej_msg);
        s->rej_msg = rej->msg[0] ? strdup(rej->msg) : NULL;
}

void sl__ingress_admit(sl_ingress_t *ing, slot_t *s, int64_t now)
{
        if (ing->admit) {
                sl_admit_one(ing->admit, &s->ad);
        } else {
                s->ad.decision = SL_DECISION_ACCEPTED;
                s->ad.reason = SL_ADMIT_OK;
                s->ad.decided_at = now;
        }
}

/* Decide and encode one valid event that its partition owns. */
void sl__ingress_admit_and_write(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                 slot_t *s, int64_t now)
{
        sl__ingress_admit(ing, s, now);
        sl__ingress_write_event_row(ing, m, &s->env, &s->ad);
        if (s->ad.decision != SL_DECISION_ACCEPTED)
                sl__ingress_write_retry_row(ing, m, &s->env, &s->ad);
}

/* A rejected record counts for the source breaker of its source (admit.h) when it is a
 * first delivery whose envelope was read far enough to name the source (valid UTF-8,
 * not empty) and this partition owns that source.  A record without a readable source,
 * or on another partition, counts for no source: the owner partition's state is the
 * only one that may change. */
void sl__ingress_count_dead_letter(sl_ingress_t *ing, const rd_kafka_message_t *m,
                                   const slot_t *s)
{
        const char *source = s->env.source;
        size_t len;

        if (!ing->admit || ing->in_partitions <= 0 || !sl__ingress_decoded(s->rej) ||
            !source || !*source || sl__ingress_attempt_of(m) != 0)
                return;
        len = strlen(source);
        if (sl_utf8_check(source, len) >= 0 ||
            sl_kafka_partition_for(source, len, ing->in_partitions) != m->partition)
                return;
        sl_admit_dead_letter(ing->admit, m->partition, m->offset, source, s->env.id,
                             s->env.correlation_id);
}

/* Decode, validate and classify record i (no row written yet). */
void sl__ingress_classify(sl_ingress_t *ing, const rd_kafka_message_t *m, slot_t *s,
                          const sl_types_t *types)
{
        sl_reject_t rej; /* its 256-byte message is written only on a rejection */

        rej.code = SL_REJECT_NONE;
        rej.msg[0] = '\0';
        free(s->rej_msg);
        s->rej_msg = NULL;
        s->rej = SL_REJECT_NONE;
        if (sl_envelope_decode(ing->codec, m->payload, m->payload ? m->len : 0, &s->env,
                               &rej) == SL_OK)
                sl_envelope_validate(&s->env, &ing->vopts, types, &rej);
        if (rej.code != SL_REJECT_NONE) {
                sl__ingress_reject(s, &rej);
                s->kind = SLOT_REJECTED;
                log_rejection(m, s);
                return;
        }
        if (ing->admit && ing->in_partitions > 0) {
                int32_t owner = sl_kafka_partition_for(
                    s->env.source, strlen(s->env.source), ing->in_partitions);
                if (owner != m->partition) {
                        s->kind = SLOT_REROUTED;
                        s->owner = owner;
                        return;
                }
        }
        s->kind = SLOT_DECIDED;
        s->ad.partition = m->partition;
        s->ad.offset = m->offset;
        s->ad.event_id = s->env.id;
        s->ad.source = s->env.source;
        s->ad.correlation_id = s->env.correlation_id;
        s->ad.attempt = sl__ingress_attempt_of(m);
}
