/*
 * sluice-runner's control file (--control FILE): key=value lines of the run-time
 * options (fail_rate=, latency_ms=, silent=0|1; see options.h), so that a test or an
 * operator changes a running runner: fail every launch, then recover, or go silent.
 *
 * The options in force are the flags with the file's keys on top: a key taken out of
 * the file, or the file removed, gives the flag's value back.  The file is looked at
 * (stat) at most every SL_RUNNER_CONTROL_CHECK_MS and read again when its mtime, size
 * or inode changed; write a new file and rename it over the old one, so the runner
 * never reads half of it.  A file that does not parse is logged and changes nothing.
 */
#ifndef SL_RUNNER_CONTROL_H
#define SL_RUNNER_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "options.h"

#define SL_RUNNER_CONTROL_CHECK_MS 100

typedef struct sl_runner_control_s {
        char *path;            /* NULL: no control file */
        sl_runner_opts_t base; /* the flags */
        int64_t next_check;    /* ms, the caller's clock */
        /* What the last look found: the file's identity, or none. */
        bool present;
        ino_t ino;
        off_t size;
        struct timespec mtime;
} sl_runner_control_t;

/* Watch path (copied; NULL: none) over the flags' options base.  SL_OK or
 * SL_ERR_NOMEM.  Close with sl_runner_control_close(). */
int sl_runner_control_init(sl_runner_control_t *c, const char *path,
                           const sl_runner_opts_t *base);
void sl_runner_control_close(sl_runner_control_t *c);

/* Look at the file when its time has come (now: ms, any monotonic clock; the first
 * call always looks) and, when it changed, set *opts to the options in force and
 * return true.  False when nothing changed (or the file did not parse: logged). */
bool sl_runner_control_poll(sl_runner_control_t *c, int64_t now, sl_runner_opts_t *opts);

#endif
