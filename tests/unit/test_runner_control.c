/* Unit tests for tools/runner/control.c: the control file's keys over the flags, looked
 * at no more often than SL_RUNNER_CONTROL_CHECK_MS, read again when it changes
 * (rewritten in place or renamed over), a file that does not parse changing nothing,
 * and the flags back when keys or the whole file go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "log/log.h"
#include "sluice/err.h"

static char dir[64], path[128];

static void put(const char *name, const char *text)
{
        char p[160];
        FILE *fp;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fp = fopen(p, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

/* Write text to a new file and rename it over the control file. */
static void replace(const char *text)
{
        char tmp[160];

        put("control.tmp", text);
        snprintf(tmp, sizeof(tmp), "%s/control.tmp", dir);
        assert_int_equal(rename(tmp, path), 0);
}

static void follows_the_file(void **state)
{
        sl_runner_opts_t flags = {.fail_rate = 0.5, .latency_ms = 50, .silent = false};
        sl_runner_opts_t opts = flags;
        sl_runner_control_t c;
        int64_t now = 1000;
        (void)state;

        sl_log_init("unit", "error");
        snprintf(dir, sizeof(dir), "/tmp/sl_test_runner_XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/control", dir);
        assert_int_equal(sl_runner_control_init(&c, path, &flags), SL_OK);

        /* No file: the flags, nothing to say. */
        assert_false(sl_runner_control_poll(&c, now, &opts));
        assert_memory_equal(&opts, &flags, sizeof(opts));

        /* A file appears: its keys over the flags, once the check interval passed. */
        replace("fail_rate=1\n");
        assert_false(sl_runner_control_poll(&c, now + 1, &opts));
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_true(sl_runner_control_poll(&c, now, &opts));
        assert_true(opts.fail_rate == 1 && opts.latency_ms == 50 && !opts.silent);
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_false(sl_runner_control_poll(&c, now, &opts)); /* unchanged */

        /* Renamed over: fail_rate is no longer named, so the flag's value is back. */
        replace("silent=1\n");
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_true(sl_runner_control_poll(&c, now, &opts));
        assert_true(opts.fail_rate == 0.5 && opts.latency_ms == 50 && opts.silent);

        /* Rewritten in place (another size). */
        put("control", "silent=0\nlatency_ms=0\n");
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_true(sl_runner_control_poll(&c, now, &opts));
        assert_true(opts.fail_rate == 0.5 && opts.latency_ms == 0 && !opts.silent);

        /* Does not parse: nothing changes, and it is not read again until it changes. */
        replace("silent=1\nlatency_ms=fast\n");
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_false(sl_runner_control_poll(&c, now, &opts));
        assert_true(opts.latency_ms == 0 && !opts.silent);
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_false(sl_runner_control_poll(&c, now, &opts));

        /* Gone: the flags again. */
        assert_int_equal(unlink(path), 0);
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_true(sl_runner_control_poll(&c, now, &opts));
        assert_memory_equal(&opts, &flags, sizeof(opts));
        now += SL_RUNNER_CONTROL_CHECK_MS;
        assert_false(sl_runner_control_poll(&c, now, &opts));
        sl_runner_control_close(&c);
        assert_int_equal(rmdir(dir), 0);
}

static void no_control_file(void **state)
{
        sl_runner_opts_t flags = {.fail_rate = 0.1}, opts = flags;
        sl_runner_control_t c;
        (void)state;

        assert_int_equal(sl_runner_control_init(&c, NULL, &flags), SL_OK);
        assert_false(sl_runner_control_poll(&c, 0, &opts));
        assert_false(sl_runner_control_poll(&c, INT64_MAX, &opts));
        assert_true(opts.fail_rate == 0.1);
        sl_runner_control_close(&c);
        sl_runner_control_close(&c); /* twice: safe */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(follows_the_file),
            cmocka_unit_test(no_control_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
