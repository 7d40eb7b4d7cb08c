/*
 * CRC-64-AVRO, the Rabin fingerprint the Avro specification uses for single-object
 * encoding: the table algorithm of the spec with EMPTY = 0xc15d213aa4d7a795.
 */
#include <pthread.h>

#include "envelope/envelope.h"

#define SL_CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t sl_crc64_table[256];
static pthread_once_t sl_crc64_once = PTHREAD_ONCE_INIT;

static void sl_crc64_init(void)
{
        for (int i = 0; i < 256; i++) {
                uint64_t fp = (uint64_t)i;
                for (int j = 0; j < 8; j++)
                        fp = (fp >> 1) ^ (SL_CRC64_EMPTY & -(fp & 1));
                sl_crc64_table[i] = fp;
        }
}

uint64_t sl_avro_crc64(const void *buf, size_t len)
{
        const unsigned char *p = buf;
        uint64_t fp = SL_CRC64_EMPTY;

        pthread_once(&sl_crc64_once, sl_crc64_init);
        for (size_t i = 0; i < len; i++)
                fp = (fp >> 8) ^ sl_crc64_table[(fp ^ p[i]) & 0xff];
        return fp;
}
