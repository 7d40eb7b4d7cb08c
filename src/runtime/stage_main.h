/*
 * The main() every processor shares: the common flags and configuration, the
 * processor's own default HTTP port, building its stage, running it on the runtime
 * until SIGTERM/SIGINT, and the exit code.  processors/<stage>/main.c only describes
 * its stage (sl_stage_def_t) and calls sl_stage_main().
 */
#ifndef SL_STAGE_MAIN_H
#define SL_STAGE_MAIN_H

#include <stddef.h>

#include "config/config.h"
#include "runtime/runtime.h"

typedef struct sl_stage_def_s {
        const char *name;      /* log component, and the executable is sluice-<name> */
        const char *http_port; /* default http.port */
        /* default runtime.malloc.arenas; NULL: the table's (0: glibc's own) */
        const char *malloc_arenas;
        const char *usage; /* --help text */
        /* Build the stage object from the loaded conf (borrowed for its lifetime);
         * NULL with errstr set. */
        void *(*create)(const sl_conf_t *conf, char *errstr, size_t errstr_size);
        const sl_stage_t *(*stage)(void *obj);
        void (*destroy)(void *obj); /* NULL-safe */
} sl_stage_def_t;

/* Returns the process exit code: 0 after a clean stop (or --help/--print-config),
 * 1 when the stage could not start or stopped on an error, 2 for bad flags or config
 * (the message names the key). */
int sl_stage_main(const sl_stage_def_t *def, int argc, char **argv);

#endif
