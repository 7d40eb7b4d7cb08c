/*
 * JSON-lines logging to stderr: one object per line with ts, level, component, msg,
 * and optional event_id, source, trigger_id, correlation_id, launch_id and extra fields.
 * Thread-safe (one write(2) per line).  Never pass secrets.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

/* component names the process ("ingress", "sluicectl", ...); level from "debug".."error".
 */
void sl_log_init(const char *component, const char *level);

/* Context fields for one line; any may be NULL. */
typedef struct sl_log_ctx_s {
        const char *event_id;
        const char *source;
        const char *trigger_id;
        const char *correlation_id;
        const char *launch_id;
} sl_log_ctx_t;

void sl_log(sl_log_level_t level, const sl_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sl_log_debug(...) sl_log(SL_LOG_DEBUG, NULL, __VA_ARGS__)
#define sl_log_info(...)  sl_log(SL_LOG_INFO, NULL, __VA_ARGS__)
#define sl_log_warn(...)  sl_log(SL_LOG_WARN, NULL, __VA_ARGS__)
#define sl_log_error(...) sl_log(SL_LOG_ERROR, NULL, __VA_ARGS__)

#endif
