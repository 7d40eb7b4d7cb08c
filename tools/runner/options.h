/*
 * sluice-runner's run-time options (fail rate, latency, silence): their values checked
 * once for the flags and the control file alike, the control file's text, and the
 * rule that decides which launches fail.  Pure functions: no file, no clock, no Kafka
 * (the control file's watch is control.c's).
 *
 * The failure rule is deterministic per launch id, so that a rerun, a second runner
 * and a test all agree on which launches fail: h = FNV-1a 64 of the launch id's text
 * (sl_hash_str), then MurmurHash3's 64-bit finalizer (fmix64, so that ids differing in
 * their last characters spread evenly); u = the top 53 bits of h as a fraction in
 * [0, 1); the launch fails when u < fail_rate.  fail_rate 0 fails none, 1 fails all.
 */
#ifndef SL_RUNNER_OPTIONS_H
#define SL_RUNNER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_runner_opts_s {
        double fail_rate;   /* 0..1: share of launches answered "failed" */
        int64_t latency_ms; /* answer this long after receipt; 0: at once */
        bool silent;        /* consume, record, never answer */
} sl_runner_opts_t;

/* The longest --latency-ms / latency_ms: one hour. */
#define SL_RUNNER_LATENCY_MAX_MS 3600000

/* The defaults: fail_rate 0, latency_ms 0, not silent. */
void sl_runner_opts_init(sl_runner_opts_t *o);

/* Set option name ("fail_rate", "latency_ms" or "silent") from its text.  SL_OK;
 * SL_ERR_NOTFOUND for another name; SL_ERR_INVALID for a bad value, with errstr
 * saying what is wrong with the value (without the name: the caller names the flag or
 * the control file's key).  o is unchanged on error. */
int sl_runner_opt_set(sl_runner_opts_t *o, const char *name, const char *val,
                      char *errstr, size_t errstr_size);

/* Apply the control file's text (key=value lines; '#' comments, blank lines and
 * spaces around keys and values ignored) over *o.  All or nothing: on an error o is
 * unchanged and errstr names the line and the key (SL_ERR_CONFIG). */
int sl_runner_opts_parse(sl_runner_opts_t *o, const char *text, char *errstr,
                         size_t errstr_size);

/* The rule above: whether launch_id is answered "failed" at fail_rate. */
bool sl_runner_fails(const char *launch_id, double fail_rate);

#endif
