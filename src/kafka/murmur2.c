/*
 * Java's murmur2 partitioner (org.apache.kafka.common.utils.Utils.murmur2 and the
 * default partitioner's toPositive(murmur2(key)) % partitions), so that a key lands on
 * the same partition whichever client produced it.  librdkafka's murmur2_random
 * partitioner computes the same thing; ingress uses this to find the partition that
 * owns a source.  Not a general-purpose hash.
 */
#include <stddef.h>
#include <stdint.h>

#include "kafka/kafka.h"

/* Java's signed 32-bit arithmetic, done on uint32_t (same bits, no UB). */
uint32_t sl__kafka_murmur2(const void *key, size_t len)
{
        const uint32_t seed = 0x9747b28cu, m = 0x5bd1e995u;
        const int r = 24;
        const unsigned char *data = key;
        uint32_t h = seed ^ (uint32_t)len;
        size_t i, n4 = len / 4;

        for (i = 0; i < n4; i++) {
                const unsigned char *p = data + i * 4;
                uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24;
                k *= m;
                k ^= k >> r;
                k *= m;
                h *= m;
                h ^= k;
        }
        data += n4 * 4;
        switch (len & 3) {
        case 3:
                h ^= (uint32_t)data[2] << 16;
                /* fall through */
        case 2:
                h ^= (uint32_t)data[1] << 8;
                /* fall through */
        case 1:
                h ^= (uint32_t)data[0];
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

int32_t sl_kafka_partition_for(const void *key, size_t len, int32_t partitions)
{
        if (partitions <= 0)
                return -1;
        return (int32_t)((sl__kafka_murmur2(key, len) & 0x7fffffffu) %
                         (uint32_t)partitions);
}
