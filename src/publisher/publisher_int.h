/*
 * The publisher SDK's entry for sluice's own tools: a publisher built from an already
 * loaded sl_conf_t (so every kafka.* key, config file and SLUICE_* variable applies),
 * instead of the public key/value props.
 */
#ifndef SL_PUBLISHER_INT_H
#define SL_PUBLISHER_INT_H

#include "config/config.h"
#include "sluice/publisher.h"

/* As sl_publisher_new(), with conf borrowed: it must outlive the publisher. */
sl_publisher_t *sl__publisher_new_conf(const sl_conf_t *conf, sl_publisher_dr_cb_t *dr_cb,
                                       void *opaque, char *errstr, size_t errstr_size);

#endif
