/*
 * The property table: every sluice key with its type, default, range or values and
 * description (the shape of librdkafka's rdkafka_conf.c).  The store validates
 * against it, `sluicectl config docs` renders it, and adding a key is one line here.
 * kafka.* and pg.* keys outside the table are checked by config.c against librdkafka
 * and libpq themselves.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "admin/tokens.h"
#include "config/conf_int.h"
#include "limits/backoff.h"

/* Kafka topic names: [A-Za-z0-9._-], at most 249 characters (with the suffixes). */
static int validate_topic_prefix(const char *key, const char *val, char *errstr,
                                 size_t errstr_size)
{
        size_t len = strlen(val);

        if (len > 200) {
                snprintf(errstr, errstr_size, "%s: longer than 200 characters", key);
                return -1;
        }
        for (const char *c = val; *c; c++) {
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-')) {
                        snprintf(errstr, errstr_size,
                                 "%s: \"%s\" is not a valid topic name prefix "
                                 "(letters, digits, '.', '_' and '-' only)",
                                 key, val);
                        return -1;
                }
        }
        return 0;
}

static int validate_nonempty(const char *key, const char *val, char *errstr,
                             size_t errstr_size)
{
        if (!*val) {
                snprintf(errstr, errstr_size, "%s: must not be empty", key);
                return -1;
        }
        return 0;
}

/* Laid out by hand: one key, one entry. */
// clang-format off
#define YEAR_MS (365LL * 24 * 3600 * 1000)

static int validate_tiers(const char *key, const char *val, char *errstr,
                          size_t errstr_size)
{
        int64_t tiers[16];
        if (sl_backoff_parse_tiers(val, tiers, 16) == 0) {
                snprintf(errstr, errstr_size,
                         "%s: \"%s\" is not a list of ascending delays like 1s,10s,1m,10m "
                         "(units ms, s, m, h; at most 16)",
                         key, val);
                return -1;
        }
        return 0;
}

/* Never shows the value: it holds secrets. */
static int validate_tokens(const char *key, const char *val, char *errstr,
                           size_t errstr_size)
{
        sl_admin_tokens_t toks = {0};
        char why[256];
        int rc = sl_admin_tokens_parse(val, &toks, why, sizeof(why));

        sl_admin_tokens_close(&toks);
        if (rc)
                snprintf(errstr, errstr_size, "%s: %s", key, why);
        return rc;
}

#define STR(name, def, desc) {{name, "string", def, 0, 0, NULL, desc}, NULL}
#define STRV(name, def, fn, desc) {{name, "string", def, 0, 0, NULL, desc}, fn}
#define INT(name, def, lo, hi, desc) {{name, "int", def, lo, hi, NULL, desc}, NULL}
#define ENUM(name, def, list, desc) {{name, "enum", def, 0, 0, list, desc}, NULL}
#define BOOL(name, def, desc) {{name, "bool", def, 0, 1, NULL, desc}, NULL}
#define DOUBLE(name, def, lo, hi, desc) {{name, "double", def, lo, hi, NULL, desc}, NULL}

const sl__conf_def_t sl__conf_table[] = {
        ENUM("log.level", "info", "debug,info,warn,error",
             "Lowest level of log line written to stderr (JSON lines)."),

        STRV("http.bind", "127.0.0.1", validate_nonempty,
             "Address the /metrics and /healthz server listens on (0.0.0.0 for all "
             "IPv4 interfaces)."),
        INT("http.port", "0", 0, 65535,
            "Port of the /metrics and /healthz server; 0 disables it. Each processor "
            "sets its own default (sluice-ingress: 9101, sluice-retry: 9102, "
            "sluice-trigger-match: 9103, sluice-trigger-launch: 9104, sluice-admin: "
            "9100)."),
        INT("runtime.heartbeat.ms", "5000", 0, 3600000,
            "How often every stage upserts its row of processor_heartbeats (newest "
            "event time processed, restores in progress), in milliseconds; 0 turns "
            "heartbeats off. Restores are written when they start and end."),

        INT("runtime.malloc.trim.ms", "1000", 0, 3600000,
            "How often a stage hands the heap memory it freed back to the system "
            "(malloc_trim), in milliseconds; 0: never.  Without it, a stage's RSS grows "
            "to the most its batches and fetch queue ever held, and stays there."),
        INT("runtime.malloc.arenas", "0", 0, 64,
            "Most malloc arenas a stage's threads share (glibc M_ARENA_MAX, set before "
            "any thread starts); 0: glibc's default, eight per core.  sluice-ingress "
            "defaults to 2: each arena keeps what its threads freed (bench/ingress, "
            "peak RSS 113-125 MiB with 2 against 130-139 MiB).  The other stages keep "
            "glibc's: with 2, sluice-trigger-match's threads waited on each other "
            "(bench/trigger, 47,596-70,398 matched events/s against 68,799-91,954)."),
        INT("runtime.retry.backoff.ms", "100", 1, 3600000,
            "Wait before the first retry of a batch whose stage failed with a retriable "
            "error (a transient Postgres failure, a timeout); doubled per retry, with "
            "20% jitter."),
        INT("runtime.retry.backoff.max.ms", "10000", 1, 3600000,
            "Longest wait between two retries of a failing batch."),
        INT("runtime.retry.max.ms", "60000", 0, 3600000,
            "Longest time a batch is retried before the processor stops with its error "
            "(the records are re-read after a restart); 0 never retries. The consumer is "
            "not polled meanwhile: keep it below kafka.max.poll.interval.ms."),

        BOOL("exactly_once", "false",
             "Kafka transactions (real Apache Kafka only): each batch's outputs, state "
             "changelog records and input offsets are committed atomically, one batch at "
             "a time, so read_committed consumers see every output exactly once. Costs "
             "throughput (docs/operations.md); off, delivery is at-least-once with "
             "idempotent effects."),
        STR("exactly_once.transactional.id", "",
            "transactional.id of the stage's producer with exactly_once; empty: "
            "<group id>-<host name>-<http.port>. Must be unique per running process "
            "and stable across its restarts: a restart with the same id fences the "
            "previous incarnation and aborts what it left open."),

        STRV("topic.prefix", "sluice.", validate_topic_prefix,
             "Prefix of every sluice topic name (sluice.events.in, ...)."),
        INT("topic.partitions", "6", 1, 1000,
            "Partitions of the events topics (created by sluice-devbroker and "
            "`sluicectl topics ensure`)."),
        INT("topic.replication", "-1", -1, 32,
            "Replication factor of created topics; -1 uses the broker's default."),

        INT("devbroker.brokers", "3", 1, 9, "Brokers in sluice-devbroker's mock cluster."),
        STRV("devbroker.bootstrap.file", ".sluice/bootstrap.txt", validate_nonempty,
             "File where sluice-devbroker writes its bootstrap list, and where clients "
             "look for one when kafka.bootstrap.servers is unset."),

        STR("schemas.dir", "",
            "Folder of extra envelope writer schemas (envelope*.avsc) ingress accepts, "
            "besides the compiled-in one."),
        INT("envelope.max.future.ms", "86400000", 0, YEAR_MS,
            "How far in the future an envelope's occurred_at may be before it is "
            "rejected."),
        INT("types.reload.ms", "30000", 100, 3600000,
            "Interval of the full reload of the event types registry from Postgres."),

        INT("admission.default.limit", "0", 0, 1000000000,
            "Admissions per window of a source with no row in the sources table; 0 is "
            "unlimited."),
        INT("admission.default.window.ms", "1000", 1, YEAR_MS,
            "Rate window, in milliseconds, of a source with no row in the sources "
            "table."),
        INT("admission.default.pause.after", "0", 0, 1000000000,
            "Throttled events in one window after which a source with no row in the "
            "sources table is paused automatically; 0 never pauses."),
        INT("admission.default.pause.ms", "60000", 0, YEAR_MS,
            "Length, in milliseconds, of the automatic pause of a source with no row "
            "in the sources table."),
        INT("admission.default.dlq.rate", "0", 0, 100,
            "Source breaker of a source with no row in the sources table: the percent "
            "of its events in one dlq window that were dead-lettered at which it is "
            "paused automatically; 0 turns the breaker off."),
        INT("admission.default.dlq.min", "20", 0, 1000000000,
            "Source breaker: events of a source (with no row in the sources table) in "
            "the dlq window before its dead-lettered share counts."),
        INT("admission.default.dlq.window.ms", "60000", 1, YEAR_MS,
            "Source breaker: the window, in milliseconds, over which the dead-lettered "
            "share of a source with no row in the sources table is counted (aligned to "
            "the epoch)."),
        INT("admission.default.dlq.pause.ms", "60000", 0, YEAR_MS,
            "Source breaker: length, in milliseconds, of the automatic pause it starts "
            "for a source with no row in the sources table; 0 turns the breaker off."),
        BOOL("admission.enabled", "true",
             "Per-source admission in sluice-ingress (rate windows, pauses). Off: every "
             "valid event is accepted, no state is kept."),
        INT("admission.mirror.ms", "3000", 100, 3600000,
            "How often sluice-ingress upserts the admission state of the sources it "
            "changed into scheduler_state, in milliseconds."),
        INT("admission.restore.timeout.ms", "60000", 1000, 3600000,
            "Longest sluice-ingress may take to restore one partition's admission "
            "state from its changelog before it gives up the assignment."),
        INT("admission.top.sources", "20", 0, 1000,
            "Sources exported with their own label in "
            "sluice_ingress_top_source_admissions_per_second (the busiest); the rest are "
            "summed under source=\"_other\", so the label cardinality stays bounded."),
        STRV("retry.tiers", "1s,10s,1m,10m", validate_tiers,
             "Delays of the retry tier topics (<topic.prefix>retry.<tier>), ascending; "
             "units ms, s, m, h."),
        INT("retry.backoff.initial.ms", "1000", 1, YEAR_MS,
            "Delay before the first retry of a held-back event, before jitter."),
        INT("retry.backoff.max.ms", "600000", 1, YEAR_MS,
            "Longest delay between retries (after jitter)."),
        DOUBLE("retry.backoff.multiplier", "2", 1, 100,
               "Growth of the retry delay per attempt."),
        DOUBLE("retry.backoff.jitter", "0.2", 0, 1,
               "Relative jitter of a retry delay: the delay is scaled by a random factor "
               "in [1 - jitter, 1 + jitter)."),
        INT("retry.max.attempts", "10", 1, 1000,
            "Retries of a held-back event before it is exhausted (dead-lettered)."),
        STRV("retry.group.id", "sluice-retry", validate_nonempty,
             "Consumer group of sluice-retry (subscribes to every retry tier topic)."),
        INT("retry.batch.size", "2000", 1, 1000000,
            "Most records sluice-retry processes in one batch."),
        INT("retry.batch.ms", "50", 1, 60000,
            "Longest sluice-retry waits to fill a batch, in milliseconds (paused "
            "partitions are resumed, and delayed wake-ups taken, when they fall due, "
            "not on this period)."),
        INT("retry.delay.max.bytes", "67108864", 0, 17179869184,
            "Memory sluice-retry may use to keep awake wake-ups that are due within the "
            "shortest tier (so one does not hold back its whole partition); past it, the "
            "partition is paused on such a record instead.  0: always pause."),
        INT("retry.pg.connections", "2", 1, 8,
            "Postgres connections sluice-retry checks a batch's wake-ups through in "
            "parallel (split by event id); one more writes the 'due' marks."),
        BOOL("retry.pg.async.commit", "true",
             "sluice-retry's Postgres sessions commit without waiting for the WAL flush "
             "(synchronous_commit off).  Safe: a 'due' mark lost in a Postgres crash "
             "leaves the retry scheduled, and ingress decides the re-injected attempt "
             "all the same."),
        INT("retry.due.mark.ms", "2000", 0, 3600000,
            "Longest sluice-retry defers the 'due' marks of re-injected retries while it "
            "is checking wake-ups (a flood), so they do not share Postgres with the "
            "re-injections; between batches they are written at once.  0: never "
            "deferred."),
        INT("retry.due.tolerance.ms", "20", 0, 60000,
            "A wake-up this close to its planned retry time counts as due and is "
            "re-injected at once."),
        INT("retry.reconcile.ms", "30000", 100, 86400000,
            "Interval of sluice-retry's reconciliation: overdue retries in Postgres whose "
            "wake-up was lost get it produced again (also once at start)."),
        INT("retry.reconcile.grace.ms", "5000", 0, 86400000,
            "How long past its next_attempt_at a scheduled or rescheduled retry must be "
            "before reconciliation produces its wake-up again.  A row is re-driven at "
            "most once per max(retry.reconcile.grace.ms, retry.reconcile.ms, twice the "
            "shortest tier)."),
        INT("retry.reconcile.due.grace.ms", "60000", 0, 86400000,
            "How long a retry may stay 'due' (re-injected, ingress not finished) before "
            "reconciliation sets it back to 'scheduled' (same attempt) and produces its "
            "wake-up again."),
        INT("retry.reconcile.limit", "2000", 1, 1000000,
            "Most retries one reconciliation round re-drives."),
        INT("sources.reload.ms", "30000", 100, 3600000,
            "Interval of the full reload of the sources and pauses tables from "
            "Postgres (changes arrive at once through NOTIFY; this is the backstop)."),
        INT("triggers.reload.ms", "30000", 100, 3600000,
            "Interval of the full reload of the triggers table from Postgres (changes "
            "arrive at once through NOTIFY on sluice_triggers; this is the backstop)."),

        INT("trigger.partitions", "6", 1, 1000,
            "Partitions of trigger.matches, workflow.launches, workflow.results and the "
            "launch changelog (co-partitioned: keyed by trigger id)."),
        STRV("trigger.match.group.id", "sluice-trigger-match", validate_nonempty,
             "Consumer group of sluice-trigger-match (over events.accepted)."),
        INT("trigger.match.batch.size", "5000", 1, 1000000,
            "Most records sluice-trigger-match processes in one batch."),
        INT("trigger.match.batch.ms", "20", 1, 60000,
            "Longest sluice-trigger-match waits to fill a batch, in milliseconds."),
        STRV("trigger.launch.group.id", "sluice-trigger-launch", validate_nonempty,
             "Consumer group of sluice-trigger-launch (over trigger.matches and "
             "workflow.results)."),
        INT("trigger.launch.batch.size", "5000", 1, 1000000,
            "Most records sluice-trigger-launch processes in one batch."),
        INT("trigger.launch.batch.ms", "20", 1, 60000,
            "Longest sluice-trigger-launch waits to fill a batch, in milliseconds."),
        INT("trigger.launch.pending.max", "1000000", 1, 100000000,
            "Launches sluice-trigger-launch tracks while waiting for their result (for "
            "the result timeout); past it a trigger's matches are deferred or throttled "
            "as over its limit."),
        INT("trigger.launch.mirror.ms", "3000", 100, 3600000,
            "How often sluice-trigger-launch upserts the state of the triggers it "
            "changed into scheduler_state (stage 'trigger'), in milliseconds."),
        INT("trigger.launch.restore.timeout.ms", "60000", 1000, 3600000,
            "Longest sluice-trigger-launch may take to restore one partition's trigger "
            "state from its changelog."),
        INT("trigger.top.triggers", "20", 0, 1000,
            "Triggers exported with their own label in the per-trigger metrics (the "
            "busiest); the rest are summed under trigger=\"_other\"."),

        STRV("admin.tokens", "", validate_tokens,
             "sluice-admin's bearer tokens: comma-separated NAME:SCOPES:SECRET entries, "
             "SCOPES read, operate or read+operate, SECRET 16..256 printable ASCII "
             "characters without ',', ':' or spaces. NAME is what audit rows record. "
             "Never printed; prefer SLUICE_ADMIN_TOKENS or a file only the service "
             "reads."),
        INT("admin.max.body.bytes", "65536", 1, 16777216,
            "Largest request body sluice-admin reads; a larger one is answered 413."),
        INT("admin.max.connections", "256", 4, 4096,
            "Connections sluice-admin serves at once (one worker thread each); more "
            "wait in the accept queue."),
        INT("admin.idle.timeout.ms", "5000", 100, 600000,
            "How long sluice-admin waits for a request's headers and body, and keeps "
            "an idle keep-alive connection, before it closes the connection."),
        INT("admin.pg.connections", "4", 1, 64,
            "Postgres connections sluice-admin queries through (requests wait for a "
            "free one)."),
        INT("admin.query.timeout.ms", "10000", 100, 3600000,
            "statement_timeout of sluice-admin's Postgres sessions."),
        INT("admin.kafka.timeout.ms", "5000", 100, 600000,
            "Longest sluice-admin waits for the broker (offsets, watermarks, replay "
            "delivery)."),
        INT("admin.replay.max", "10000", 1, 1000000,
            "Most events one POST /admin/replay may re-publish."),
        INT("admin.health.window.minutes", "5", 1, 1440,
            "Minutes of decisions event-health counts per source and trigger."),
        INT("admin.health.lag.degraded", "1000", 0, 1000000000000,
            "Consumer lag of a group (records, summed over its partitions) at which "
            "event-health is degraded; 0 turns the check off."),
        INT("admin.health.lag.critical", "100000", 0, 1000000000000,
            "Consumer lag of a group at which event-health is critical; 0 turns it "
            "off."),
        INT("admin.health.heartbeat.stale.ms", "30000", 0, 86400000,
            "A stage whose newest heartbeat is older than this (and that has not "
            "stopped cleanly) makes event-health degraded; 0 turns the check off."),
        INT("admin.health.dlq.hour.degraded", "1000", 0, 1000000000,
            "Dead letters in the last hour at which event-health is degraded; 0 turns "
            "the check off."),
        INT("admin.health.retries.overdue.ms", "60000", 0, 86400000,
            "How long past its next attempt an open retry counts as overdue."),
        INT("admin.health.retries.overdue.degraded", "100", 0, 1000000000,
            "Overdue retries at which event-health is degraded; 0 turns the check "
            "off."),
        INT("admin.health.breakers.open.degraded", "1", 0, 1000000,
            "Open trigger breakers at which event-health is degraded; 0 turns the check "
            "off."),

        INT("admin.stream.max.clients", "16", 0, 1024,
            "WebSocket clients of /admin/stream at once (each holds one of "
            "admin.max.connections while connected, so it must be lower); one more is "
            "answered 503.  0 turns the stream off."),
        INT("admin.stream.client.queue", "1000", 1, 1000000,
            "Events queued for one stream client that has not read them yet; a client "
            "whose queue is full is dropped (closed with code 1008, counted in "
            "sluice_admin_stream_dropped_total), never slowing the others."),
        INT("admin.stream.ping.ms", "10000", 100, 600000,
            "How long a stream connection may stay silent before sluice-admin pings it; "
            "a client that answers none of several pings is closed."),
        INT("rollup.interval.ms", "10000", 0, 86400000,
            "How often sluice-admin advances the rollups (event_rollups, "
            "delivery_rollups; docs/history.md), in milliseconds; 0: never (run "
            "`sluicectl history rollup` instead).  Copies serialise on an advisory "
            "lock."),
        INT("rollup.lag.ms", "30000", 0, 86400000,
            "How far behind the present the rollups stay: an advance rolls up the rows "
            "changed up to now minus this many milliseconds.  Keep it above the "
            "stages' batch-to-commit time, so a row is committed before the watermark "
            "passes its decided_at; GET /admin/rollups answers newer buckets from the "
            "raw rows."),
        INT("rollup.settle.ms", "10000", 0, 3600000,
            "How long after a minute's end (behind the watermark) an advance waits before "
            "it recomputes that minute: rows still coming for a minute do not make every "
            "advance recompute it again (docs/history.md); GET /admin/rollups answers a "
            "minute that has not settled from the raw rows."),
        INT("replay.rate", "100", 1, 1000000,
            "Default pace of a replay job (sluicectl replay, POST /admin/replay with "
            "\"job\": true), in events per second."),
        INT("admin.health.maintenance.stale.ms", "7200000", 0, 604800000,
            "A kind of history maintenance (archive, retention) whose newest successful "
            "run is older than this makes event-health degraded (docs/history.md); 0 "
            "turns the check off."),
        INT("admin.health.archive.backlog.degraded", "3", 0, 100000,
            "Days of workflow_events past archive.after.days still in the live table at "
            "which event-health is degraded; 0 turns the check off."),

        INT("history.maintenance.interval.ms", "3600000", 0, 604800000,
            "How often sluice-admin runs history maintenance (archive, retention; "
            "docs/history.md) under a Postgres advisory lock, so one copy runs it at a "
            "time; 0 never (run `sluicectl history retention` instead). The first run is "
            "one interval after start."),
        INT("retention.events.days", "30", 1, 36500,
            "Days workflow_events rows are kept: a daily partition whose end is older is "
            "dropped whole (with archive.dir set, its archive file is deleted instead)."),
        STR("retention.event_types", "",
            "Per-type retention of workflow_events longer than retention.events.days: "
            "TYPE=DAYS,TYPE=DAYS. A day holding such a type is kept whole until the "
            "type's retention has passed. Shorter ones are refused (a day goes whole)."),
        INT("retention.dead_letters.days", "30", 1, 36500,
            "Days dead_letters rows are kept (deleted in batches by received_at)."),
        INT("retention.deliveries.days", "365", 1, 36500,
            "Days trigger_deliveries rows are kept (deleted in batches by decided_at; "
            "deferred launches and launches waiting for a result stay)."),
        INT("retention.rollups.minute.days", "30", 1, 36500,
            "Days the minute rows of event_rollups and delivery_rollups are kept "
            "(deleted in batches, a whole hour's minutes at a time). Buckets older than "
            "this are never recomputed, so an hour row is never summed again from "
            "minutes that are gone."),
        INT("retention.rollups.hour.days", "365", 1, 36500,
            "Days the hour rows of event_rollups and delivery_rollups are kept (deleted "
            "in batches)."),
        INT("retention.delete.batch.rows", "10000", 100, 1000000,
            "Rows one DELETE of the retention of dead_letters, trigger_deliveries and "
            "the rollups removes."),
        STR("archive.dir", "",
            "Folder of the archive files of workflow_events; empty: no archiving, "
            "retention drops partitions. Set: a day past archive.after.days is written "
            "to a zstd file of binary COPY in column blocks, verified, then dropped."),
        INT("archive.after.days", "8", 1, 36500,
            "Age in days (of a day's end) at which its partition of workflow_events is "
            "archived and dropped; more than events.partitions.days.back, at most "
            "retention.events.days."),
        INT("archive.zstd.level", "6", 1, 19,
            "zstd compression level of archive files (6: 9.7x smaller than the "
            "partition in bench/history, against 8.9x at 3 for 0.9 s more per million "
            "rows; docs/history.md)."),

        STR("migrations.dir", SL_SOURCE_DIR "/migrations",
            "Folder of the numbered SQL migrations `sluicectl migrate` applies."),

        STRV("ingress.group.id", "sluice-ingress", validate_nonempty,
             "Consumer group of sluice-ingress."),
        INT("ingress.batch.size", "10000", 1, 1000000,
            "Most records sluice-ingress processes in one batch (its consumer's fetch "
            "queue holds four batches or 70000 records, whichever is more, unless "
            "kafka.queued.min.messages is set)."),
        INT("ingress.batch.ms", "100", 1, 60000,
            "Longest sluice-ingress waits to fill a batch, in milliseconds."),
        BOOL("ingress.overlap", "true",
             "Decode and validate the next batch while the COPYs of the one before end "
             "(its outputs are produced after); false: one batch after another."),
        INT("ingress.pg.connections", "2", 1, 8,
            "Postgres connections sluice-ingress writes a batch through in parallel."),
        INT("events.partitions.days.back", "7", 0, 3650,
            "Daily partitions of workflow_events kept created behind today."),
        INT("events.partitions.days.ahead", "14", 0, 3650,
            "Daily partitions of workflow_events created ahead of today."),

        STR("pg.host", "127.0.0.1", "Postgres host (libpq `host`)."),
        INT("pg.port", "55432", 1, 65535, "Postgres port (libpq `port`)."),
        STR("pg.dbname", "sluice", "Postgres database (libpq `dbname`)."),
        STR("pg.user", "sluice", "Postgres user (libpq `user`)."),
        STR("pg.password", "", "Postgres password (libpq `password`); never printed."),
};
// clang-format on

const size_t sl__conf_table_cnt = sizeof(sl__conf_table) / sizeof(sl__conf_table[0]);

int sl__conf_find(const char *key)
{
        for (size_t i = 0; i < sl__conf_table_cnt; i++)
                if (strcmp(sl__conf_table[i].p.name, key) == 0)
                        return (int)i;
        return -1;
}

/* sl_conf_prop_t is the first member of each entry, but the strides differ: the
 * public array is a copy made once. */
static sl_conf_prop_t props[sizeof(sl__conf_table) / sizeof(sl__conf_table[0])];
static pthread_once_t props_once = PTHREAD_ONCE_INIT;

static void props_init(void)
{
        for (size_t i = 0; i < sl__conf_table_cnt; i++)
                props[i] = sl__conf_table[i].p;
}

const sl_conf_prop_t *sl_conf_props(size_t *count)
{
        pthread_once(&props_once, props_init);
        if (count)
                *count = sl__conf_table_cnt;
        return props;
}
