/*
 * sluice-ingress's stage logic: decode and validate each record of sluice.events.in,
 * write valid events to workflow_events and invalid ones to dead_letters (binary COPY,
 * replay-safe), then forward them to sluice.events.accepted or sluice.events.dlq.
 * main.c wires it to the runtime; tests and benchmarks link it directly.
 */
#ifndef SL_INGRESS_H
#define SL_INGRESS_H

#include <stddef.h>

#include "config/config.h"
#include "runtime/runtime.h"

typedef struct sl_ingress_s sl_ingress_t;

/* Connects to Postgres (ingress.pg.connections writers + one for maintenance and the
 * type registry), builds the codec and makes sure today's event partitions exist.
 * conf is borrowed and must outlive the stage.  NULL with errstr set.
 * Caller frees with sl_ingress_destroy(). */
sl_ingress_t *sl_ingress_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);
void sl_ingress_destroy(sl_ingress_t *ing);

/* The stage description to hand to sl_runtime_new() (borrowed, lives as long as ing). */
const sl_stage_t *sl_ingress_stage(sl_ingress_t *ing);

#endif
