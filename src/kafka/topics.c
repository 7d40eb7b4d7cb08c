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

/* One line per topic.  partitions_key: the conf key holding its partition count. */
static const struct {
        const char *suffix;
        const char *partitions_key;
        int compact;
} catalogue[] = {
        [SL_TOPIC_EVENTS_IN] = {"events.in", "topic.partitions", 0},
        [SL_TOPIC_EVENTS_ACCEPTED] = {"events.accepted", "topic.partitions", 0},
        [SL_TOPIC_EVENTS_DLQ] = {"events.dlq", "topic.partitions", 0},
        /* Topics without an sl_topic_t value go below, after SL_TOPIC__CNT entries. */
};

#define CATALOGUE_CNT (sizeof(catalogue) / sizeof(catalogue[0]))

_Static_assert(CATALOGUE_CNT >= SL_TOPIC__CNT, "every sl_topic_t needs a catalogue line");
_Static_assert(CATALOGUE_CNT <= SL_KAFKA_CATALOGUE_MAX, "raise SL_KAFKA_CATALOGUE_MAX");

const char *sl_kafka_topic_name(const sl_conf_t *conf, sl_topic_t t, char *buf, size_t size)
{
        if ((unsigned)t >= SL_TOPIC__CNT) {
                if (size)
                        buf[0] = '\0';
                return buf;
        }
        snprintf(buf, size, "%s%s", sl_conf_get(conf, "topic.prefix"), catalogue[t].suffix);
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
                spec->partitions = (int)sl_conf_get_int(conf, catalogue[i].partitions_key);
                spec->replication = replication;
                spec->compact = catalogue[i].compact;
        }
        return i;
}

const char *sl_kafka_topic_resolve(const sl_conf_t *conf, const char *name, char *buf,
                                   size_t size)
{
        const char *prefix = sl_conf_get(conf, "topic.prefix");
        size_t i;

        for (i = 0; i < CATALOGUE_CNT; i++) {
                if (strcmp(name, catalogue[i].suffix) == 0) {
                        snprintf(buf, size, "%s%s", prefix, name);
                        return buf;
                }
        }
        snprintf(buf, size, "%s", name);
        return buf;
}
