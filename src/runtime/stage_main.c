/* The shared main() of the processors (see stage_main.h). */
#include "runtime/stage_main.h"

#include <malloc.h>
#include <stdio.h>

#include "log/log.h"
#include "sluice/err.h"

int sl_stage_main(const sl_stage_def_t *def, int argc, char **argv)
{
        char errstr[512];
        int argi = 0, rc;
        sl_conf_t *conf = sl_conf_new();
        void *obj = NULL;
        sl_runtime_t *rt = NULL;

        sl_log_init(def->name, "info");
        sl_conf_set_default(conf, "http.port", def->http_port);
        if (def->malloc_arenas)
                sl_conf_set_default(conf, "runtime.malloc.arenas", def->malloc_arenas);
        rc = sl_conf_from_args(conf, argc, argv, &argi, def->usage, errstr,
                               sizeof(errstr));
        if (rc == 1) {
                sl_conf_destroy(conf);
                return 0;
        }
        if (rc != 0 || argi < argc) {
                if (rc == 0)
                        snprintf(errstr, sizeof(errstr), "unexpected argument '%s'",
                                 argv[argi]);
                fprintf(stderr, "sluice-%s: %s\n", def->name, errstr);
                sl_conf_destroy(conf);
                return 2;
        }
        sl_log_init(def->name, sl_conf_get(conf, "log.level"));
        /* Before any thread exists: glibc gives each new thread an arena of its own,
         * up to eight per core, and an arena keeps what its threads freed. */
        if (sl_conf_get_int(conf, "runtime.malloc.arenas") > 0)
                mallopt(M_ARENA_MAX, (int)sl_conf_get_int(conf, "runtime.malloc.arenas"));

        obj = def->create(conf, errstr, sizeof(errstr));
        if (!obj)
                goto fail;
        rt = sl_runtime_new(conf, def->stage(obj), errstr, sizeof(errstr));
        if (!rt)
                goto fail;
        sl_runtime_handle_signals(rt);
        rc = sl_runtime_run(rt);
        sl_runtime_destroy(rt);
        def->destroy(obj);
        sl_conf_destroy(conf);
        return rc == SL_OK ? 0 : 1;

fail:
        sl_log_error("cannot start: %s", errstr);
        def->destroy(obj);
        sl_conf_destroy(conf);
        return 1;
}
