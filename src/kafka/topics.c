/*
 * The topic catalogue: every topic sluice uses, its name under topic.prefix, its
 * partition count and cleanup policy.  sluice-devbroker pre-creates exactly this list
 * and `sluicectl topics ensure` creates it with the Admin API, so a new topic (a retry
 * tier, a changelog) is one line in the table below.  Not the place for producing or
 * consuming.
 */
#include <stdio.h>
#include <string.h>

#include "kafka/kafka.h"
#include "limits/backoff.h"

#define SL_MAX_TIERS 16

/* One line per topic.  partitions_key: the conf key holding its partition count. */
static const struct {
        const char *suffix;
        const char *partitions_key;
        int compact;
} catalogue[] = {
    [SL_TOPIC_EVENTS_IN] = {"events.in", "topic.partitions", 0},
    [SL_TOPIC_EVENTS_ACCEPTED] = {"events.accepted", "topic.partitions", 0},
    [SL_TOPIC_EVENTS_DLQ] = {"events.dlq", "topic.partitions", 0},
    [SL_TOPIC_ADMISSION_CHANGELOG] = {"ingress.admission-changelog", "topic.partitions",
                                      1},
    [SL_TOPIC_TRIGGER_MATCHES] = {"trigger.matches", "trigger.partitions", 0},
    [SL_TOPIC_WORKFLOW_LAUNCHES] = {"workflow.launches", "trigger.partitions", 0},
    [SL_TOPIC_WORKFLOW_RESULTS] = {"workflow.results", "trigger.partitions", 0},
    [SL_TOPIC_LAUNCH_CHANGELOG] = {"trigger.launch-changelog", "trigger.partitions", 1},
    /* Topics without an sl_topic_t value go below, after SL_TOPIC__CNT entries. */
};

#define CATALOGUE_CNT (sizeof(catalogue) / sizeof(catalogue[0]))

_Static_assert(CATALOGUE_CNT >= SL_TOPIC__CNT, "every sl_topic_t needs a catalogue line");
_Static_assert(CATALOGUE_CNT <= SL_KAFKA_CATALOGUE_MAX, "raise SL_KAFKA_CATALOGUE_MAX");

const char *sl_kafka_topic_name(const sl_conf_t *conf, sl_topic_t t, char *buf,
                                size_t size)
{
        if ((unsigned)t >= SL_TOPIC__CNT) {
                if (size)
                        buf[0] = '\0';
                return buf;
        }
        snprintf(buf, size, "%s%s", sl_conf_get(conf, "topic.prefix"),
                 catalogue[t].suffix);
        return buf;
}

size_t sl_kafka_topic_catalogue(const sl_conf_t *conf, sl_topic_spec_t *specs, size_t cap)
{
        const char *prefix = sl_conf_get(conf, "topic.prefix");
        int replication = (int)sl_conf_get_int(conf, "topic.replication");
        size_t i;

        for (i = 0; i < CATALOGUE_CNT && i < cap; i++) {
                sl_topic_spec_t *spec = &specs[i];

                memset(spec, 0, sizeof(*spec));
                snprintf(spec->name, sizeof(spec->name), "%s%s", prefix,
                         catalogue[i].suffix);
                spec->partitions =
                    (int)sl_conf_get_int(conf, catalogue[i].partitions_key);
                spec->replication = replication;
                spec->compact = catalogue[i].compact;
        }
        /* The retry tiers, one topic per delay. */
        char names[SL_MAX_TIERS][256];
        int64_t delays[SL_MAX_TIERS];
        size_t ntiers = sl_kafka_retry_topics(conf, names, delays, SL_MAX_TIERS);
        for (size_t t = 0; t < ntiers && i < cap; t++, i++) {
                memset(&specs[i], 0, sizeof(specs[i]));
                snprintf(specs[i].name, sizeof(specs[i].name), "%s", names[t]);
                specs[i].partitions = (int)sl_conf_get_int(conf, "topic.partitions");
                specs[i].replication = replication;
        }
        return i;
}

size_t sl_kafka_retry_topics(const sl_conf_t *conf, char (*names)[256],
                             int64_t *delays_ms, size_t cap)
{
        const char *tiers = sl_conf_get(conf, "retry.tiers");
        const char *prefix = sl_conf_get(conf, "topic.prefix");
        size_t n = sl_backoff_parse_tiers(tiers, delays_ms, cap);
        const char *p = tiers;

        /* Name each topic after the tier as written ("1s", "10m"). */
        for (size_t t = 0; t < n; t++) {
                size_t len = strcspn(p, ",");
                while (len && p[len - 1] == ' ')
                        len--;
                while (*p == ' ')
                        p++, len--;
                snprintf(names[t], 256, "%sretry.%.*s", prefix, (int)len, p);
                p = strchr(p, ',');
                p = p ? p + 1 : "";
        }
        return n;
}

const char *sl_kafka_topic_resolve(const sl_conf_t *conf, const char *name, char *buf,
                                   size_t size)
{
        const char *prefix = sl_conf_get(conf, "topic.prefix");
        sl_topic_spec_t specs[SL_KAFKA_CATALOGUE_MAX];
        size_t n = sl_kafka_topic_catalogue(conf, specs, SL_KAFKA_CATALOGUE_MAX);
        size_t plen = strlen(prefix);

        for (size_t i = 0; i < n; i++) {
                if (strncmp(specs[i].name, prefix, plen) == 0 &&
                    strcmp(specs[i].name + plen, name) == 0) {
                        snprintf(buf, size, "%s", specs[i].name);
                        return buf;
                }
        }
        snprintf(buf, size, "%s", name);
        return buf;
}
