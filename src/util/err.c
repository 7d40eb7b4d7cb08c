/* sl_err2str() and sl_err_retriable(): words and retry policy for the library-wide
 * error codes of include/sluice/err.h. */
#include "sluice/err.h"

const char *sl_err2str(int err)
{
        switch ((sl_err_t)err) {
        case SL_OK:
                return "success";
        case SL_ERR_INVALID:
                return "invalid argument";
        case SL_ERR_NOMEM:
                return "out of memory";
        case SL_ERR_IO:
                return "I/O error";
        case SL_ERR_KAFKA:
                return "Kafka error";
        case SL_ERR_PG:
                return "Postgres error";
        case SL_ERR_CONFIG:
                return "configuration error";
        case SL_ERR_TIMEOUT:
                return "timed out";
        case SL_ERR_NOTFOUND:
                return "not found";
        case SL_ERR_DECODE:
                return "decode error";
        case SL_ERR_REJECTED:
                return "rejected";
        case SL_ERR_STATE:
                return "wrong state";
        case SL_ERR_DUPLICATE:
                return "duplicate";
        case SL_ERR_PG_TRANSIENT:
                return "transient Postgres error";
        }
        return "unknown error";
}

bool sl_err_retriable(int err)
{
        return err == SL_ERR_PG_TRANSIENT || err == SL_ERR_TIMEOUT;
}
