/*
 * sluice-it-flood: publishes N synthetic events through the C SDK (sl_publisher_t), for
 * tests that need more events than JSON lines can carry quickly.  Event i (0-based) has
 * the id 00000000-0000-4000-8000-<i as 12 hex digits>, source "flood-<i % SOURCES>",
 * type "flood.test" and payload {"i":i}, so a test can check the whole id set in SQL
 * (generate_series) without a list.  Bootstrap servers from
 * SLUICE_KAFKA_BOOTSTRAP_SERVERS.
 *
 *   sluice-it-flood N SOURCES      prints "published N", exit 0 when all delivered
 */
#include <stdio.h>
#include <stdlib.h>

#include "sluice/err.h"
#include "sluice/publisher.h"

static size_t dr_failed;

static void dr_cb(const char *id, int err, const char *errstr, void *opaque)
{
        (void)opaque;
        if (err != SL_OK && dr_failed++ < 5)
                fprintf(stderr, "sluice-it-flood: %s not delivered: %s\n", id,
                        errstr ? errstr : "?");
}

int main(int argc, char **argv)
{
        const char *bootstrap = getenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS");
        const char *props[] = {"kafka.bootstrap.servers",
                               bootstrap,
                               "kafka.linger.ms",
                               "20",
                               "kafka.queue.buffering.max.messages",
                               "500000",
                               NULL};
        long long n = argc == 3 ? atoll(argv[1]) : 0,
                  sources = argc == 3 ? atoll(argv[2]) : 0;
        char errstr[512], id[37], source[32], payload[48];
        size_t failed = 0;
        sl_publisher_t *pub;

        if (n <= 0 || sources <= 0 || !bootstrap) {
                fprintf(stderr, "usage: sluice-it-flood N SOURCES "
                                "(with SLUICE_KAFKA_BOOTSTRAP_SERVERS set)\n");
                return 2;
        }
        pub = sl_publisher_new(props, dr_cb, NULL, errstr, sizeof(errstr));
        if (!pub) {
                fprintf(stderr, "sluice-it-flood: %s\n", errstr);
                return 1;
        }
        for (unsigned long long i = 0; i < (unsigned long long)n; i++) {
                sl_event_t ev = {
                    .id = id, .type = "flood.test", .source = source, .payload = payload};
                snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012llx",
                         i & 0xffffffffffffULL);
                snprintf(source, sizeof(source), "flood-%llu",
                         i % (unsigned long long)sources);
                snprintf(payload, sizeof(payload), "{\"i\":%llu}", i);
                if (sl_publisher_publish(pub, &ev, NULL, errstr, sizeof(errstr)) !=
                    SL_OK) {
                        fprintf(stderr, "sluice-it-flood: event %llu: %s\n", i, errstr);
                        sl_publisher_destroy(pub);
                        return 1;
                }
        }
        if (sl_publisher_flush(pub, 120000, &failed) != SL_OK || failed || dr_failed) {
                fprintf(stderr, "sluice-it-flood: %zu not delivered\n",
                        failed + dr_failed);
                sl_publisher_destroy(pub);
                return 1;
        }
        sl_publisher_destroy(pub);
        printf("published %lld\n", n);
        return 0;
}
