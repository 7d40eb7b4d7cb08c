/*
 * sluice-it-owner: a test helper that prints, for each source read from stdin (one per
 * line), the partition sluice owns it on: "SOURCE PARTITION", by
 * sl_kafka_partition_for() (Java's murmur2 partitioner), for the partition count given
 * as the only argument.  Tests compare it with where other clients' records landed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/kafka.h"

int main(int argc, char **argv)
{
        char line[4096];
        int partitions = argc == 2 ? atoi(argv[1]) : 0;

        if (partitions <= 0) {
                fprintf(stderr, "usage: sluice-it-owner PARTITIONS < sources\n");
                return 2;
        }
        while (fgets(line, sizeof(line), stdin)) {
                size_t len = strcspn(line, "\n");
                line[len] = '\0';
                printf("%s %d\n", line,
                       (int)sl_kafka_partition_for(line, len, partitions));
        }
        return 0;
}
