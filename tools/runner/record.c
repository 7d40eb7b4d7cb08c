/* sluice-runner's record file (see record.h). */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log/log.h"
#include "sluice/err.h"
#include "util/array.h"

struct sl_runner_record_s {
        int fd;
        char *path;
        char *buf; /* the lines added since the last flush */
        size_t len, cap;
};

sl_runner_record_t *sl_runner_record_open(const char *path, char *errstr,
                                          size_t errstr_size)
{
        sl_runner_record_t *rec = calloc(1, sizeof(*rec));

        if (!rec || !(rec->path = strdup(path))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        rec->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (rec->fd < 0) {
                snprintf(errstr, errstr_size, "record file %s: %s", path,
                         strerror(errno));
                goto fail;
        }
        return rec;
fail:
        if (rec)
                free(rec->path);
        free(rec);
        return NULL;
}

void sl_runner_record_close(sl_runner_record_t *rec)
{
        if (!rec)
                return;
        sl_runner_record_flush(rec);
        close(rec->fd);
        free(rec->buf);
        free(rec->path);
        free(rec);
}

/* A JSON string, or null for NULL; text that is not UTF-8 (jansson refuses it) is
 * recorded as null too, with a warning. */
static json_t *text(const char *s, const char *what)
{
        json_t *j;

        if (!s)
                return json_null();
        if (!(j = json_string(s))) {
                sl_log_warn("record: the launch's %s is not UTF-8: recorded as null",
                            what);
                return json_null();
        }
        return j;
}

int sl_runner_record_put(sl_runner_record_t *rec, const sl_workflow_launch_t *l,
                         int64_t received_at, bool duplicate, const char *status)
{
        json_t *o = json_object(), *params;
        char *line, *grown;
        size_t n;

        if (!o)
                return SL_ERR_NOMEM;
        params = json_loads(l->params, JSON_DECODE_ANY, NULL);
        if (!params)
                params = text(l->params, "params");
        json_object_set_new(o, "launch_id", text(l->launch_id, "launch_id"));
        json_object_set_new(o, "trigger_id", text(l->trigger_id, "trigger_id"));
        json_object_set_new(o, "event_id", text(l->event_id, "event_id"));
        json_object_set_new(o, "workflow", text(l->workflow, "workflow"));
        json_object_set_new(o, "params", params);
        json_object_set_new(o, "correlation_id",
                            text(l->correlation_id, "correlation_id"));
        json_object_set_new(o, "received_at", json_integer(received_at));
        json_object_set_new(o, "duplicate", json_boolean(duplicate));
        json_object_set_new(o, "status", text(status, "status"));
        line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line)
                return SL_ERR_NOMEM;
        n = strlen(line);
        grown = sl_array_grow(rec->buf, &rec->cap, rec->len + n + 1, 1, 4096);
        if (!grown) {
                free(line);
                return SL_ERR_NOMEM;
        }
        rec->buf = grown;
        memcpy(rec->buf + rec->len, line, n);
        rec->buf[rec->len + n] = '\n';
        rec->len += n + 1;
        free(line);
        return SL_OK;
}

int sl_runner_record_flush(sl_runner_record_t *rec)
{
        size_t off = 0;

        while (off < rec->len) {
                ssize_t w = write(rec->fd, rec->buf + off, rec->len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        sl_log_error("record file %s: %s (%zu bytes of lines lost)",
                                     rec->path, w < 0 ? strerror(errno) : "short write",
                                     rec->len - off);
                        rec->len = 0;
                        return SL_ERR_IO;
                }
                off += (size_t)w;
        }
        rec->len = 0;
        return SL_OK;
}
