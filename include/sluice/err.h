/*
 * sluice error codes: one enum for the whole library, 0 = OK, negative = failure.
 * Callers branch on codes, never on message text; words travel in errstr buffers.
 */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_err {
        SL_OK = 0,
        SL_ERR_INVALID = -1,       /* bad argument or input */
        SL_ERR_NOMEM = -2,         /* allocation failed */
        SL_ERR_IO = -3,            /* file or socket error */
        SL_ERR_KAFKA = -4,         /* librdkafka reported an error */
        SL_ERR_PG = -5,            /* Postgres reported an error */
        SL_ERR_CONFIG = -6,        /* unknown key or bad value */
        SL_ERR_TIMEOUT = -7,       /* an operation did not finish in time */
        SL_ERR_NOTFOUND = -8,      /* no such thing */
        SL_ERR_DECODE = -9,        /* bytes are not what they claim to be */
        SL_ERR_REJECTED = -10,     /* input is well-formed but fails validation */
        SL_ERR_STATE = -11,        /* called in the wrong state */
        SL_ERR_DUPLICATE = -12,    /* already there */
        SL_ERR_PG_TRANSIENT = -13, /* Postgres failed in a way worth retrying: connection
                                    * lost, serialization failure, deadlock */
} sl_err_t;

/* A static, never-NULL description of err. */
const char *sl_err2str(int err);

/* Whether the same work may succeed when simply run again (the caller retries it, with
 * backoff): true for SL_ERR_PG_TRANSIENT and SL_ERR_TIMEOUT, false for every other
 * code (SL_OK included). */
bool sl_err_retriable(int err);

#ifdef __cplusplus
}
#endif
#endif
