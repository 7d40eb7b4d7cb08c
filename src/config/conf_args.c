/*
 * sl_conf_from_args(): the command line every sluice executable shares (-c, -X,
 * --print-config, --help), and the order the sources are applied in: table and
 * executable defaults (already in conf), the file, the environment, then -X flags.
 */
#include <stdlib.h>
#include <string.h>

#include "config/conf_int.h"
#include "sluice/err.h"

extern char **environ;

int sl_conf_from_args(sl_conf_t *conf, int argc, char **argv, int *argi,
                      const char *usage_text, char *errstr, size_t errstr_size)
{
        const char *file = NULL;
        bool print = false, help = false;
        int i, nx = 0, err = SL_OK;
        const char **xs;
        char suberr[512];

        xs = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*xs));
        if (!xs) {
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
        }
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
                        if (i + 1 >= argc) {
                                snprintf(errstr, errstr_size, "%s needs a file name", a);
                                goto fail;
                        }
                        file = argv[++i];
                } else if (strncmp(a, "--config=", 9) == 0) {
                        file = a + 9;
                } else if (strcmp(a, "-X") == 0) {
                        if (i + 1 >= argc) {
                                snprintf(errstr, errstr_size, "-X needs key=value");
                                goto fail;
                        }
                        xs[nx++] = argv[++i];
                } else if (strncmp(a, "-X", 2) == 0) {
                        xs[nx++] = a + 2;
                } else if (strcmp(a, "--print-config") == 0) {
                        print = true;
                } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        help = true;
                } else if (strcmp(a, "--") == 0) {
                        i++;
                        break;
                } else {
                        break;
                }
        }
        if (argi)
                *argi = i;

        if (help) {
                if (usage_text)
                        fputs(usage_text, stdout);
                fputs("\nConfiguration keys: see docs/configuration.md or 'sluicectl "
                      "config "
                      "docs'\n",
                      stdout);
                free(xs);
                return 1;
        }

        if (!file) {
                file = getenv("SLUICE_CONFIG");
                if (file && !*file)
                        file = NULL;
        }
        if (file && (err = sl_conf_load_file(conf, file, errstr, errstr_size)))
                goto done;
        if ((err = sl_conf_load_env(conf, environ, errstr, errstr_size)))
                goto done;
        for (int x = 0; x < nx; x++) {
                char *kv = strdup(xs[x]), *eq;

                if (!kv) {
                        snprintf(errstr, errstr_size, "out of memory");
                        err = SL_ERR_NOMEM;
                        goto done;
                }
                eq = strchr(kv, '=');
                if (!eq || eq == kv) {
                        /* Never echo the argument: it may be a secret's value. */
                        snprintf(errstr, errstr_size, "-X expects key=value");
                        free(kv);
                        goto fail;
                }
                *eq = '\0';
                err = sl_conf_set(conf, kv, eq + 1, suberr, sizeof(suberr));
                if (err)
                        snprintf(errstr, errstr_size, "-X %s", suberr);
                free(kv);
                if (err)
                        goto done;
        }
        if (print) {
                sl_conf_dump(conf, stdout);
                free(xs);
                return 1;
        }
done:
        free(xs);
        return err ? SL_ERR_CONFIG : SL_OK;
fail:
        free(xs);
        return SL_ERR_CONFIG;
}
