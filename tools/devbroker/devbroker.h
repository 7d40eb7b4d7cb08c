/*
 * sluice-devbroker's cluster: librdkafka's mock cluster hosted in this process, with
 * every catalogue topic pre-created and the bootstrap list published atomically to
 * devbroker.bootstrap.file.  main.c owns flags and signals.
 */
#ifndef SL_DEVBROKER_H
#define SL_DEVBROKER_H

#include <stddef.h>

#include "config/config.h"

typedef struct sl_devbroker_s sl_devbroker_t;

/* Start devbroker.brokers mock brokers, create the catalogue topics, then write the
 * bootstrap list to devbroker.bootstrap.file (tmp + rename: the file's presence means
 * ready).  Returns NULL with errstr set.  Caller frees with sl_devbroker_destroy(). */
sl_devbroker_t *sl_devbroker_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/* "HOST:PORT,..." — borrowed, valid until sl_devbroker_destroy(). */
const char *sl_devbroker_bootstraps(const sl_devbroker_t *db);

/* Remove the bootstrap file (if it is still ours), stop the brokers.  NULL-safe. */
void sl_devbroker_destroy(sl_devbroker_t *db);

#endif
