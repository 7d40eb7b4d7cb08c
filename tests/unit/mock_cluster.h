/*
 * For the unit tests that need Kafka: an in-process librdkafka mock cluster of one
 * broker, quiet.  Include after <cmocka.h>.  The handle owns the cluster: destroy it
 * with rd_kafka_destroy() after every client of it.
 */
#ifndef SL_TEST_MOCK_CLUSTER_H
#define SL_TEST_MOCK_CLUSTER_H

#include <stdio.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* The cluster's handle; *mc gets the cluster and bootstrap its bootstrap servers. */
static inline rd_kafka_t *mock_cluster_new(rd_kafka_mock_cluster_t **mc, char *bootstrap,
                                           size_t size)
{
        char errstr[256];
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        rd_kafka_t *rk;

        rd_kafka_conf_set(kconf, "test.mock.num.brokers", "1", errstr, sizeof(errstr));
        rd_kafka_conf_set(kconf, "log_level", "0", errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
        assert_non_null(rk);
        *mc = rd_kafka_handle_mock_cluster(rk);
        assert_non_null(*mc);
        snprintf(bootstrap, size, "%s", rd_kafka_mock_cluster_bootstraps(*mc));
        return rk;
}

#endif
