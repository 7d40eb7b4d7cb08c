/*
 * The two clocks sluice reads, in milliseconds: wall time (timestamps that leave the
 * process: Kafka records, Postgres rows, rate windows) and monotonic time (intervals
 * and deadlines inside it).  Pure modules take the time as a parameter instead.
 */
#ifndef SL_UTIL_CLOCK_H
#define SL_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sl_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t sl_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
