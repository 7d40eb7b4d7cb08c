/* Unit tests for src/log: JSON lines that parse, with escaping, context fields,
 * the timestamp shape, the level filter, and long messages kept whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log/log.h"

/* Runs sl_log with stderr redirected to a file and returns the text written. */
static char *log_capture(sl_log_level_t level, const sl_log_ctx_t *ctx, const char *msg)
{
        char path[] = "/tmp/sl_test_log_XXXXXX", *out = calloc(1, 65536);
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        ssize_t n;

        dup2(fd, STDERR_FILENO);
        sl_log(level, ctx, "%s", msg);
        dup2(saved, STDERR_FILENO);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        n = read(fd, out, 65535);
        out[n > 0 ? n : 0] = '\0';
        close(fd);
        unlink(path);
        return out;
}

static void log_lines_are_json(void **state)
{
        sl_log_ctx_t ctx = {.event_id = "e-1",
                            .source = "billing",
                            .correlation_id = NULL,
                            .launch_id = "l-1"};
        json_error_t jerr;
        json_t *j;
        char *out, *big;
        (void)state;

        sl_log_init("unit", "info");
        out = log_capture(SL_LOG_WARN, &ctx,
                          "quote \" backslash \\ newline \n tab \t bell \a");
        assert_true(strlen(out) > 0);
        assert_int_equal(out[strlen(out) - 1], '\n');
        assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
        j = json_loads(out, 0, &jerr);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
        assert_string_equal(json_string_value(json_object_get(j, "component")), "unit");
        assert_string_equal(json_string_value(json_object_get(j, "msg")),
                            "quote \" backslash \\ newline \n tab \t bell \a");
        assert_string_equal(json_string_value(json_object_get(j, "event_id")), "e-1");
        assert_string_equal(json_string_value(json_object_get(j, "source")), "billing");
        assert_null(json_object_get(j, "correlation_id"));
        assert_string_equal(json_string_value(json_object_get(j, "launch_id")), "l-1");
        assert_null(json_object_get(j, "trigger_id"));
        const char *ts = json_string_value(json_object_get(j, "ts"));
        assert_non_null(ts);
        assert_int_equal(strlen(ts), 24); /* 2026-11-23T12:00:00.123Z */
        assert_int_equal(ts[10], 'T');
        assert_int_equal(ts[19], '.');
        assert_int_equal(ts[23], 'Z');
        json_decref(j);
        free(out);

        /* Below the level: nothing at all. */
        out = log_capture(SL_LOG_DEBUG, NULL, "hidden");
        assert_string_equal(out, "");
        free(out);
        sl_log_init("unit", "debug");
        out = log_capture(SL_LOG_DEBUG, NULL, "shown");
        assert_non_null(strstr(out, "\"level\":\"debug\""));
        free(out);

        /* Long messages are kept whole, still one line. */
        big = malloc(20001);
        memset(big, 'x', 20000);
        big[20000] = '\0';
        out = log_capture(SL_LOG_ERROR, NULL, big);
        j = json_loads(out, 0, &jerr);
        assert_non_null(j);
        assert_int_equal(strlen(json_string_value(json_object_get(j, "msg"))), 20000);
        json_decref(j);
        free(out);
        free(big);
        sl_log_init("unit", "info");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(log_lines_are_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
