/*
 * sluice-it-copy_pipe_probe: a test helper for test_copy_dedup_after_freed_result.sh.
 * It writes one batch of rows through the parallel COPY pipe (sl_copy_pipe_t) into a
 * table (id bigint primary key, tag text) and prints what the pipe reported:
 *
 *   rows R dups D
 *
 * Usage, after the shared flags (-c, -X, SLUICE_* environment, as every processor):
 *   --table T --from A --to B --tag S [--writers N]
 * writes ids A..B inclusive, each with tag S, over N writer connections (default 2).
 * Rows whose id is already in the table make the plain COPY fail with a unique
 * violation, and the pipe must replay its shares through the dedup path.  Exits 0 when
 * the pipe finished, 1 with the pipe's words otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "log/log.h"
#include "pg/copy_pipe.h"
#include "sluice/err.h"

int main(int argc, char **argv)
{
        static const char usage[] =
            "usage: sluice-it-copy_pipe_probe [-c FILE] [-X key=value]... --table T "
            "--from A --to B --tag S [--writers N]\n";
        char errstr[512], field[64];
        const char *table = NULL, *tag = NULL;
        long long from = -1, to = -1;
        int writers = 2, argi = 0, rc;
        uint64_t rows = 0, dups = 0;
        sl_conf_t *conf = sl_conf_new();
        sl_copy_pipe_t *cp;

        sl_log_init("copy-probe", "warn");
        rc = sl_conf_from_args(conf, argc, argv, &argi, usage, errstr, sizeof(errstr));
        if (rc == 1)
                return 0;
        if (rc != 0) {
                fprintf(stderr, "copy_pipe_probe: %s\n", errstr);
                return 2;
        }
        for (int i = argi; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--table"))
                        table = argv[i + 1];
                else if (!strcmp(argv[i], "--from"))
                        from = atoll(argv[i + 1]);
                else if (!strcmp(argv[i], "--to"))
                        to = atoll(argv[i + 1]);
                else if (!strcmp(argv[i], "--tag"))
                        tag = argv[i + 1];
                else if (!strcmp(argv[i], "--writers"))
                        writers = atoi(argv[i + 1]);
                else {
                        fprintf(stderr, "copy_pipe_probe: unknown argument %s\n%s",
                                argv[i], usage);
                        return 2;
                }
        }
        if (!table || !tag || from < 0 || to < from || writers < 1) {
                fputs(usage, stderr);
                return 2;
        }
        cp = sl_copy_pipe_new(conf, table, "(id, tag)", writers, errstr, sizeof(errstr));
        if (!cp) {
                fprintf(stderr, "copy_pipe_probe: %s\n", errstr);
                return 1;
        }
        for (long long id = from; id <= to; id++) {
                int n = snprintf(field, sizeof(field), "%s-%lld", tag, id);
                sl_copy_row_begin(cp, 2);
                sl_copy_field_int8(cp, id);
                sl_copy_field(cp, field, (size_t)n);
                sl_copy_row_end(cp);
        }
        rc = sl_copy_pipe_finish(cp, &rows, &dups, errstr, sizeof(errstr));
        sl_copy_pipe_destroy(cp);
        sl_conf_destroy(conf);
        if (rc != SL_OK) {
                fprintf(stderr, "copy_pipe_probe: %s\n", errstr);
                return 1;
        }
        printf("rows %llu dups %llu\n", (unsigned long long)rows,
               (unsigned long long)dups);
        return 0;
}
