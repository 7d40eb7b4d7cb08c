/*
 * Publishing sluice events from C with the publisher SDK (include/sluice/publisher.h):
 * the example docs/events.md walks through.  Publishes COUNT events of one type from
 * one source, prints each id, flushes, and exits 0 when every event was delivered.
 *
 *   example-publish [-b HOST:PORT] [-s SOURCE] [-t TYPE] [-n COUNT]
 *
 * Bootstrap servers: -b, else SLUICE_KAFKA_BOOTSTRAP_SERVERS, else the SDK's fallback:
 * the devbroker's bootstrap file (SLUICE_DEVBROKER_BOOTSTRAP_FILE, default
 * .sluice/bootstrap.txt).  The SDK itself reads no environment: props are all it takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/err.h"
#include "sluice/publisher.h"

static size_t failures;

/* Called for every event once Kafka has it (or gave up on it). */
static void on_delivery(const char *id, int err, const char *errstr, void *opaque)
{
        (void)opaque;
        if (err != SL_OK) {
                failures++;
                fprintf(stderr, "event %s not delivered: %s\n", id, errstr);
        }
}

int main(int argc, char **argv)
{
        const char *bootstrap = getenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS");
        const char *bootstrap_file = getenv("SLUICE_DEVBROKER_BOOTSTRAP_FILE");
        const char *source = "example-c", *type = "example.published";
        long count = 10;
        char errstr[512], id[37], payload[64];
        size_t failed = 0;
        sl_publisher_t *pub;
        int opt, rc = 0;

        while ((opt = getopt(argc, argv, "b:s:t:n:")) != -1) {
                switch (opt) {
                case 'b':
                        bootstrap = optarg;
                        break;
                case 's':
                        source = optarg;
                        break;
                case 't':
                        type = optarg;
                        break;
                case 'n':
                        count = strtol(optarg, NULL, 10);
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s [-b HOST:PORT] [-s SOURCE] [-t TYPE] "
                                "[-n COUNT]\n",
                                argv[0]);
                        return 2;
                }
        }

        /* Configuration is key/value pairs, the same keys sluice's processes take. */
        const char *props[8], **p = props;

        *p++ = "topic.prefix";
        *p++ = "sluice.";
        if (bootstrap && *bootstrap) {
                *p++ = "kafka.bootstrap.servers";
                *p++ = bootstrap;
        } else if (bootstrap_file && *bootstrap_file) {
                *p++ = "devbroker.bootstrap.file";
                *p++ = bootstrap_file;
        }
        *p = NULL;
        pub = sl_publisher_new(props, on_delivery, NULL, errstr, sizeof(errstr));
        if (!pub) {
                fprintf(stderr, "sl_publisher_new: %s\n", errstr);
                return 1;
        }

        for (long i = 0; i < count; i++) {
                const char *keys[] = {"example"}, *vals[] = {"c"};
                sl_event_t ev = {
                    .type = type,
                    .source = source,   /* the partition key */
                    .payload = payload, /* a JSON object */
                    .meta_cnt = 1,
                    .meta_keys = keys,
                    .meta_vals = vals,
                    /* id NULL: a new UUIDv4; occurred_at 0: now */
                };

                snprintf(payload, sizeof(payload), "{\"n\":%ld}", i);
                if (sl_publisher_publish(pub, &ev, id, errstr, sizeof(errstr)) != SL_OK) {
                        fprintf(stderr, "event %ld: %s\n", i, errstr);
                        rc = 1;
                        break;
                }
                printf("%s\n", id);
        }

        /* Wait for every delivery report before exiting. */
        if (sl_publisher_flush(pub, 30000, &failed) != SL_OK) {
                fprintf(stderr, "%zu events failed\n", failed ? failed : failures);
                rc = 1;
        }
        sl_publisher_destroy(pub);
        return rc;
}
