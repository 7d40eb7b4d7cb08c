/* Unit tests for src/config: every key type, defaults, the file, environment and -X
 * sources and their precedence, kafka.* and pg.* validation, conninfo quoting, and
 * that secrets never show in printouts or error messages. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "config/conf_int.h"
#include "config/config.h"
#include "sluice/err.h"

static char errstr[512];

static int set(sl_conf_t *conf, const char *key, const char *val)
{
        errstr[0] = '\0';
        return sl_conf_set(conf, key, val, errstr, sizeof(errstr));
}

/* A file in /tmp with the given text; path written to out. */
static void write_file(char *out, size_t size, const char *text)
{
        int fd;

        snprintf(out, size, "/tmp/sl_test_config_XXXXXX");
        fd = mkstemp(out);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

/* Runs fn with stdout captured into buf. */
static int capture_stdout(char *buf, size_t size, int (*fn)(void *), void *arg)
{
        char path[64];
        int saved, fd, rc;
        ssize_t n;

        write_file(path, sizeof(path), "");
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        dup2(fd, STDOUT_FILENO);
        close(fd);
        rc = fn(arg);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        fd = open(path, O_RDONLY);
        n = read(fd, buf, size - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
        unlink(path);
        return rc;
}

static void defaults_come_from_the_table(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        size_t cnt;
        const sl_conf_prop_t *props = sl_conf_props(&cnt);
        (void)state;

        assert_string_equal(sl_conf_get(conf, "log.level"), "info");
        assert_string_equal(sl_conf_get(conf, "http.bind"), "127.0.0.1");
        assert_int_equal(sl_conf_get_int(conf, "http.port"), 0);
        assert_string_equal(sl_conf_get(conf, "topic.prefix"), "sluice.");
        assert_int_equal(sl_conf_get_int(conf, "topic.partitions"), 6);
        assert_int_equal(sl_conf_get_int(conf, "topic.replication"), -1);
        assert_int_equal(sl_conf_get_int(conf, "devbroker.brokers"), 3);
        assert_string_equal(sl_conf_get(conf, "devbroker.bootstrap.file"),
                            ".sluice/bootstrap.txt");
        assert_string_equal(sl_conf_get(conf, "schemas.dir"), "");
        assert_int_equal(sl_conf_get_int(conf, "envelope.max.future.ms"), 86400000);
        assert_int_equal(sl_conf_get_int(conf, "types.reload.ms"), 30000);
        assert_string_equal(sl_conf_get(conf, "migrations.dir"),
                            SL_SOURCE_DIR "/migrations");
        assert_string_equal(sl_conf_get(conf, "ingress.group.id"), "sluice-ingress");
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"), 10000);
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.ms"), 100);
        assert_int_equal(sl_conf_get_int(conf, "ingress.pg.connections"), 2);
        assert_int_equal(sl_conf_get_int(conf, "events.partitions.days.back"), 7);
        assert_int_equal(sl_conf_get_int(conf, "events.partitions.days.ahead"), 14);
        assert_string_equal(sl_conf_get(conf, "pg.host"), "127.0.0.1");
        assert_int_equal(sl_conf_get_int(conf, "pg.port"), 55432);
        assert_string_equal(sl_conf_get(conf, "pg.dbname"), "sluice");
        assert_string_equal(sl_conf_get(conf, "pg.user"), "sluice");
        assert_string_equal(sl_conf_get(conf, "pg.password"), "");
        assert_null(sl_conf_get(conf, "kafka.bootstrap.servers"));
        assert_null(sl_conf_get(conf, "pg.sslmode"));

        /* Every table default passes its own validation, and every key has words. */
        assert_true(cnt >= 23);
        for (size_t i = 0; i < cnt; i++) {
                assert_int_equal(set(conf, props[i].name, props[i].def), SL_OK);
                assert_true(strlen(props[i].desc) > 10);
        }
        sl_conf_destroy(conf);
}

static void int_keys_reject_junk_and_out_of_range(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        assert_int_equal(set(conf, "ingress.batch.size", "5000"), SL_OK);
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"), 5000);
        assert_int_equal(set(conf, "topic.replication", "-1"), SL_OK);

        assert_int_equal(set(conf, "ingress.batch.size", "12x"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "ingress.batch.size"));
        assert_non_null(strstr(errstr, "not an integer"));
        assert_int_equal(set(conf, "ingress.batch.size", ""), SL_ERR_CONFIG);
        assert_int_equal(set(conf, "ingress.batch.size", " 5"), SL_ERR_CONFIG);
        assert_int_equal(set(conf, "ingress.batch.size", "99999999999999999999"),
                         SL_ERR_CONFIG);
        assert_int_equal(set(conf, "http.port", "70000"), SL_ERR_CONFIG);
        assert_string_equal(errstr, "http.port: 70000 is out of range 0..65535");
        assert_int_equal(set(conf, "topic.replication", "-2"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "-1..32"));
        /* A refused value leaves the previous one in place. */
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"), 5000);
        sl_conf_destroy(conf);
}

static void enum_and_string_keys(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        assert_int_equal(set(conf, "log.level", "debug"), SL_OK);
        assert_string_equal(sl_conf_get(conf, "log.level"), "debug");
        assert_int_equal(set(conf, "log.level", "verbose"), SL_ERR_CONFIG);
        assert_string_equal(errstr,
                            "log.level: \"verbose\" is not one of debug,info,warn,error");
        assert_int_equal(set(conf, "log.level", "inf"), SL_ERR_CONFIG);

        assert_int_equal(set(conf, "schemas.dir", "/etc/sluice/schemas"), SL_OK);
        assert_string_equal(sl_conf_get(conf, "schemas.dir"), "/etc/sluice/schemas");
        assert_int_equal(set(conf, "topic.prefix", "acme.prod."), SL_OK);
        assert_int_equal(set(conf, "topic.prefix", "bad prefix"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "topic.prefix"));
        assert_int_equal(set(conf, "ingress.group.id", ""), SL_ERR_CONFIG);
        assert_string_equal(errstr, "ingress.group.id: must not be empty");

        assert_int_equal(set(conf, "no.such.key", "1"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "no.such.key: unknown configuration key"));
        sl_conf_destroy(conf);
}

/* The table has no bool or double key yet; the checker is exercised directly with
 * entries shaped like the table's. */
static void bool_and_double_types(void **state)
{
        const sl__conf_def_t b = {{"x.enabled", "bool", "false", 0, 0, NULL, "x"}, NULL};
        const sl__conf_def_t d = {{"x.ratio", "double", "0.5", 0, 0, NULL, "x"}, NULL};
        const char *yes[] = {"true", "1", "yes", "TRUE", "Yes"},
                   *no[] = {"false", "0", "no"};
        char *norm = NULL;
        (void)state;

        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(
                    sl__conf_check(&b, yes[i], &norm, errstr, sizeof(errstr)), 0);
                assert_string_equal(norm, "true");
                free(norm);
        }
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(sl__conf_check(&b, no[i], &norm, errstr, sizeof(errstr)),
                                 0);
                assert_string_equal(norm, "false");
                free(norm);
        }
        assert_int_equal(sl__conf_check(&b, "maybe", &norm, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_string_equal(
            errstr, "x.enabled: \"maybe\" is not a boolean (true/false/1/0/yes/no)");

        assert_int_equal(sl__conf_check(&d, "0.25", &norm, errstr, sizeof(errstr)), 0);
        free(norm);
        assert_int_equal(sl__conf_check(&d, "1e3", &norm, errstr, sizeof(errstr)), 0);
        free(norm);
        assert_int_equal(sl__conf_check(&d, "0.2.5", &norm, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_int_equal(sl__conf_check(&d, "inf", &norm, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "x.ratio"));

        /* The typed getters parse what the store holds. */
        sl_conf_t *conf = sl_conf_new();
        assert_int_equal(set(conf, "kafka.enable.idempotence", "true"), SL_OK);
        assert_true(sl_conf_get_bool(conf, "kafka.enable.idempotence"));
        assert_int_equal(set(conf, "kafka.enable.idempotence", "false"), SL_OK);
        assert_false(sl_conf_get_bool(conf, "kafka.enable.idempotence"));
        assert_true(sl_conf_get_double(conf, "pg.port") == 55432.0);
        sl_conf_destroy(conf);
}

static void executable_default_overrides_table_default(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        assert_int_equal(sl_conf_set_default(conf, "http.port", "9101"), SL_OK);
        assert_int_equal(sl_conf_get_int(conf, "http.port"), 9101);
        assert_int_equal(sl_conf_set_default(conf, "http.port", "nope"), SL_ERR_CONFIG);
        assert_int_equal(sl_conf_set_default(conf, "kafka.acks", "all"), SL_ERR_CONFIG);
        assert_int_equal(set(conf, "http.port", "9200"), SL_OK);
        assert_int_equal(sl_conf_get_int(conf, "http.port"), 9200);
        sl_conf_destroy(conf);
}

static void file_parsing(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char path[64];
        (void)state;

        write_file(path, sizeof(path),
                   "# sluice test config\n"
                   "\n"
                   "   # indented comment\n"
                   "log.level = debug\n"
                   "ingress.batch.size=777\r\n"
                   "kafka.client.id = sluice-test#1\n"
                   "pg.application_name=a b\n"
                   "\t\n"
                   "schemas.dir=\n");
        assert_int_equal(sl_conf_load_file(conf, path, errstr, sizeof(errstr)), SL_OK);
        assert_string_equal(sl_conf_get(conf, "log.level"), "debug");
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"), 777);
        assert_string_equal(sl_conf_get(conf, "kafka.client.id"), "sluice-test#1");
        assert_string_equal(sl_conf_get(conf, "pg.application_name"), "a b");
        assert_string_equal(sl_conf_get(conf, "schemas.dir"), "");
        unlink(path);

        write_file(path, sizeof(path), "log.level=info\n\nhunter2\n");
        assert_int_equal(sl_conf_load_file(conf, path, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, path));
        assert_non_null(strstr(errstr, ":3: expected key=value"));
        assert_null(strstr(errstr, "hunter2"));
        unlink(path);

        write_file(path, sizeof(path), "log.level=info\ningress.bach.size=5\n");
        assert_int_equal(sl_conf_load_file(conf, path, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(
            strstr(errstr, ":2: ingress.bach.size: unknown configuration key"));
        unlink(path);

        write_file(path, sizeof(path), "http.port=http\n");
        assert_int_equal(sl_conf_load_file(conf, path, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, ":1: http.port: \"http\" is not an integer"));
        unlink(path);

        assert_int_equal(sl_conf_load_file(conf, "/nonexistent/sluice.properties", errstr,
                                           sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "/nonexistent/sluice.properties"));
        sl_conf_destroy(conf);
}

static void env_mapping(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char *env[] = {"PATH=/usr/bin",
                       "SLUICE_CONFIG=/does/not/matter",
                       "SLUICE_SOURCE_DIR=/src",
                       "SLUICE_BUILD_DIR=/build",
                       "SLUICE_INGRESS_BATCH_SIZE=4242",
                       "SLUICE_LOG_LEVEL=warn",
                       "SLUICE_EVENTS_PARTITIONS_DAYS_BACK=3",
                       "SLUICE_KAFKA_BOOTSTRAP_SERVERS=broker1:9092,broker2:9092",
                       "SLUICE_KAFKA_SOCKET_TIMEOUT_MS=12345",
                       "SLUICE_PG_HOST=db.internal",
                       "SLUICE_PG_PASSWORD=pw from env",
                       "SLUICE_PG_APPLICATION_NAME=sluice-test",
                       "SLUICE_PG_SSLMODE=prefer",
                       NULL};
        char *bad_key[] = {"SLUICE_INGRESS_BATCH_SIZ=1", NULL};
        char *bad_pg[] = {"SLUICE_PG_NO_SUCH_KEYWORD=1", NULL};
        char *bad_val[] = {"SLUICE_HTTP_PORT=eighty", NULL};
        char *bad_kafka[] = {"SLUICE_KAFKA_NO_SUCH_PROPERTY=1", NULL};
        (void)state;

        assert_int_equal(sl_conf_load_env(conf, env, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"), 4242);
        assert_string_equal(sl_conf_get(conf, "log.level"), "warn");
        assert_int_equal(sl_conf_get_int(conf, "events.partitions.days.back"), 3);
        assert_string_equal(sl_conf_get(conf, "kafka.bootstrap.servers"),
                            "broker1:9092,broker2:9092");
        assert_string_equal(sl_conf_get(conf, "kafka.socket.timeout.ms"), "12345");
        assert_string_equal(sl_conf_get(conf, "pg.host"), "db.internal");
        assert_string_equal(sl_conf_get(conf, "pg.password"), "pw from env");
        assert_string_equal(sl_conf_get(conf, "pg.application_name"), "sluice-test");
        assert_string_equal(sl_conf_get(conf, "pg.sslmode"), "prefer");

        assert_int_equal(sl_conf_load_env(conf, bad_key, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "SLUICE_INGRESS_BATCH_SIZ"));
        assert_non_null(strstr(errstr, "unknown configuration key"));
        assert_int_equal(sl_conf_load_env(conf, bad_pg, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "SLUICE_PG_NO_SUCH_KEYWORD"));
        assert_int_equal(sl_conf_load_env(conf, bad_val, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "SLUICE_HTTP_PORT: http.port"));
        assert_int_equal(sl_conf_load_env(conf, bad_kafka, errstr, sizeof(errstr)),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.no.such.property"));
        sl_conf_destroy(conf);
}

struct args {
        sl_conf_t *conf;
        int argc;
        char **argv;
        int argi;
};

static int run_from_args(void *p)
{
        struct args *a = p;

        return sl_conf_from_args(a->conf, a->argc, a->argv, &a->argi,
                                 "usage: test [-X k=v]\n", errstr, sizeof(errstr));
}

static void precedence_default_exe_file_env_flag(void **state)
{
        char path[64], out[8192];
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        write_file(
            path, sizeof(path),
            "http.port=9200\nlog.level=warn\ntopic.partitions=8\ningress.batch.ms=10\n");
        setenv("SLUICE_TOPIC_PARTITIONS", "9", 1);
        setenv("SLUICE_INGRESS_BATCH_MS", "50", 1);
        unsetenv("SLUICE_CONFIG");
        sl_conf_set_default(conf, "http.port", "9101");
        sl_conf_set_default(conf, "ingress.batch.size", "10");

        char *argv[] = {
            "prog", "-c", path,        "-X", "topic.partitions=10", "-Xlog.level=error",
            "run",  "-X", "ignored=1", NULL};
        struct args a = {conf, 9, argv, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &a), 0);
        assert_int_equal(a.argi, 6);
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.size"),
                         10);                                            /* exe default */
        assert_int_equal(sl_conf_get_int(conf, "http.port"), 9200);      /* file > exe */
        assert_int_equal(sl_conf_get_int(conf, "ingress.batch.ms"), 50); /* env > file */
        assert_int_equal(sl_conf_get_int(conf, "topic.partitions"), 10); /* -X > env */
        assert_string_equal(sl_conf_get(conf, "log.level"), "error");    /* -X > file */
        assert_int_equal(sl_conf_get_int(conf, "ingress.pg.connections"), 2); /* table */
        sl_conf_destroy(conf);

        /* SLUICE_CONFIG names the file when -c is absent; -- ends the options. */
        conf = sl_conf_new();
        setenv("SLUICE_CONFIG", path, 1);
        char *argv2[] = {"prog", "--", "-X", NULL};
        struct args b = {conf, 3, argv2, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &b), 0);
        assert_int_equal(b.argi, 2);
        assert_int_equal(sl_conf_get_int(conf, "http.port"), 9200);
        sl_conf_destroy(conf);

        /* A bad -X names the key; a bad env variable stops before -X. */
        conf = sl_conf_new();
        char *argv3[] = {"prog", "-X", "ingress.batch.size=lots", NULL};
        struct args c = {conf, 3, argv3, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &c),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "ingress.batch.size"));
        char *argv4[] = {"prog", "-X", "novalue", NULL};
        struct args d = {conf, 3, argv4, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &d),
                         SL_ERR_CONFIG);
        assert_string_equal(errstr, "-X expects key=value");
        char *argv5[] = {"prog", "-c", NULL};
        struct args e = {conf, 2, argv5, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &e),
                         SL_ERR_CONFIG);
        sl_conf_destroy(conf);

        unsetenv("SLUICE_CONFIG");
        unsetenv("SLUICE_TOPIC_PARTITIONS");
        unsetenv("SLUICE_INGRESS_BATCH_MS");
        unlink(path);
}

static void help_and_print_config(void **state)
{
        char out[8192];
        sl_conf_t *conf = sl_conf_new();
        (void)state;

        /* --help works even when the configuration is broken. */
        setenv("SLUICE_NOT_A_KEY", "1", 1);
        char *argv[] = {"prog", "--help", NULL};
        struct args a = {conf, 2, argv, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &a), 1);
        assert_non_null(strstr(out, "usage: test"));
        assert_non_null(strstr(out, "Configuration keys: see docs/configuration.md or "
                                    "'sluicectl config docs'\n"));
        char *argv2[] = {"prog", NULL};
        struct args b = {conf, 1, argv2, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &b),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "SLUICE_NOT_A_KEY"));
        unsetenv("SLUICE_NOT_A_KEY");

        setenv("SLUICE_PG_PASSWORD", "envsecret", 1);
        char *argv3[] = {"prog", "-X", "kafka.sasl.password=flagsecret", "--print-config",
                         NULL};
        struct args c = {conf, 4, argv3, 0};
        assert_int_equal(capture_stdout(out, sizeof(out), run_from_args, &c), 1);
        assert_non_null(strstr(out, "log.level=info\n"));
        assert_non_null(strstr(out, "pg.password=[redacted]\n"));
        assert_non_null(strstr(out, "kafka.sasl.password=[redacted]\n"));
        assert_null(strstr(out, "envsecret"));
        assert_null(strstr(out, "flagsecret"));
        unsetenv("SLUICE_PG_PASSWORD");
        sl_conf_destroy(conf);
}

static void secrets_are_redacted(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char out[8192];
        FILE *fp;
        const sl__conf_def_t secret_int = {
            {"x.secret.pin", "int", "0", 0, 9999, NULL, "x"}, NULL};
        char *norm = NULL;
        (void)state;

        assert_true(sl_conf_is_secret("pg.password"));
        assert_true(sl_conf_is_secret("kafka.sasl.password"));
        assert_true(sl_conf_is_secret("kafka.sasl.oauthbearer.client.secret"));
        assert_true(sl_conf_is_secret("kafka.sasl.oauthbearer.config"));
        assert_true(sl_conf_is_secret("kafka.ssl.key.pem"));
        assert_true(sl_conf_is_secret("kafka.ssl.key.password"));
        assert_false(sl_conf_is_secret("kafka.bootstrap.servers"));
        assert_false(sl_conf_is_secret("pg.user"));

        assert_int_equal(set(conf, "pg.password", "hunter2"), SL_OK);
        assert_int_equal(set(conf, "kafka.sasl.username", "alice"), SL_OK);
        assert_int_equal(set(conf, "kafka.sasl.password", "swordfish"), SL_OK);
        assert_int_equal(set(conf, "kafka.sasl.oauthbearer.config", "principal=bob"),
                         SL_OK);
        fp = fmemopen(out, sizeof(out), "w");
        sl_conf_dump(conf, fp);
        fclose(fp);
        assert_non_null(strstr(out, "pg.password=[redacted]\n"));
        assert_non_null(strstr(out, "kafka.sasl.password=[redacted]\n"));
        assert_non_null(strstr(out, "kafka.sasl.oauthbearer.config=[redacted]\n"));
        assert_non_null(strstr(out, "kafka.sasl.username=alice\n"));
        assert_null(strstr(out, "hunter2"));
        assert_null(strstr(out, "swordfish"));
        assert_null(strstr(out, "principal=bob"));
        /* Table keys in table order, pass-through keys sorted, after them. */
        assert_true(strstr(out, "log.level=") < strstr(out, "pg.password="));
        assert_true(strstr(out, "kafka.sasl.oauthbearer.config=") <
                    strstr(out, "kafka.sasl.password="));

        /* An error about a secret's value names the key, never the value. */
        assert_int_equal(
            sl__conf_check(&secret_int, "hunter2", &norm, errstr, sizeof(errstr)),
            SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "x.secret.pin"));
        assert_null(strstr(errstr, "hunter2"));
        assert_int_equal(set(conf, "kafka.ssl.key.bogus", "hunter2"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.ssl.key.bogus"));
        assert_null(strstr(errstr, "hunter2"));
        /* librdkafka echoes bad values; for secrets the echo is scrubbed. */
        assert_int_equal(set(conf, "kafka.sasl.oauthbearer.secret.thing", "hunter2"),
                         SL_ERR_CONFIG);
        assert_null(strstr(errstr, "hunter2"));
        sl_conf_destroy(conf);
}

static void kafka_keys_are_validated_and_applied(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        rd_kafka_conf_t *kconf;
        char val[256];
        size_t len = sizeof(val);
        (void)state;

        assert_int_equal(set(conf, "kafka.acks", "all"), SL_OK);
        assert_int_equal(set(conf, "kafka.client.id", "sluice-unit"), SL_OK);
        assert_int_equal(set(conf, "kafka.client.id", "sluice-unit-2"), SL_OK);
        assert_int_equal(set(conf, "kafka.linger.ms", "5"), SL_OK);

        assert_int_equal(set(conf, "kafka.no.such.property", "1"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.no.such.property: "));
        assert_non_null(strstr(errstr, "No such configuration property"));
        assert_int_equal(set(conf, "kafka.acks", "banana"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.acks: "));
        assert_int_equal(set(conf, "kafka.linger.ms", "-5"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "kafka.linger.ms"));
        assert_int_equal(set(conf, "kafka.", "1"), SL_ERR_CONFIG);

        kconf = rd_kafka_conf_new();
        assert_int_equal(sl_conf_apply_kafka(conf, kconf, errstr, sizeof(errstr)), SL_OK);
        assert_int_equal(rd_kafka_conf_get(kconf, "client.id", val, &len),
                         RD_KAFKA_CONF_OK);
        assert_string_equal(val, "sluice-unit-2");
        len = sizeof(val);
        assert_int_equal(rd_kafka_conf_get(kconf, "linger.ms", val, &len),
                         RD_KAFKA_CONF_OK);
        assert_string_equal(val, "5");
        rd_kafka_conf_destroy(kconf);
        sl_conf_destroy(conf);
}

static void pg_keys_and_conninfo_quoting(void **state)
{
        sl_conf_t *conf = sl_conf_new();
        char *ci, *err = NULL;
        PQconninfoOption *opts;
        int seen = 0;
        (void)state;

        assert_int_equal(set(conf, "pg.sslmode", "disable"), SL_OK);
        assert_int_equal(set(conf, "pg.application_name", "it's here"), SL_OK);
        assert_int_equal(set(conf, "pg.password", "p a'ss\\word\"x"), SL_OK);
        assert_int_equal(set(conf, "pg.host", "/tmp/pg sock"), SL_OK);
        assert_int_equal(set(conf, "pg.nonsense", "1"), SL_ERR_CONFIG);
        assert_non_null(strstr(errstr, "pg.nonsense"));
        assert_non_null(strstr(errstr, "libpq"));

        ci = sl_conf_pg_conninfo(conf);
        assert_non_null(ci);
        assert_non_null(strstr(ci, "password='p a\\'ss\\\\word\"x'"));
        /* libpq reads back exactly what was set. */
        opts = PQconninfoParse(ci, &err);
        assert_non_null(opts);
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (!o->val)
                        continue;
                if (strcmp(o->keyword, "password") == 0) {
                        assert_string_equal(o->val, "p a'ss\\word\"x");
                        seen++;
                } else if (strcmp(o->keyword, "host") == 0) {
                        assert_string_equal(o->val, "/tmp/pg sock");
                        seen++;
                } else if (strcmp(o->keyword, "port") == 0) {
                        assert_string_equal(o->val, "55432");
                        seen++;
                } else if (strcmp(o->keyword, "dbname") == 0) {
                        assert_string_equal(o->val, "sluice");
                        seen++;
                } else if (strcmp(o->keyword, "user") == 0) {
                        assert_string_equal(o->val, "sluice");
                        seen++;
                } else if (strcmp(o->keyword, "application_name") == 0) {
                        assert_string_equal(o->val, "it's here");
                        seen++;
                } else if (strcmp(o->keyword, "sslmode") == 0) {
                        assert_string_equal(o->val, "disable");
                        seen++;
                }
        }
        assert_int_equal(seen, 7);
        PQconninfoFree(opts);
        free(ci);

        /* An unset password is left out rather than sent empty. */
        sl_conf_destroy(conf);
        conf = sl_conf_new();
        ci = sl_conf_pg_conninfo(conf);
        assert_string_equal(
            ci, "host='127.0.0.1' port='55432' dbname='sluice' user='sluice'");
        free(ci);
        sl_conf_destroy(conf);
}

static int run_docs(void *p)
{
        (void)p;
        sl_conf_docs(stdout);
        return 0;
}

static void docs_list_every_key(void **state)
{
        static char out[65536];
        size_t cnt;
        const sl_conf_prop_t *props = sl_conf_props(&cnt);
        char row[256];
        (void)state;

        capture_stdout(out, sizeof(out), run_docs, NULL);
        assert_true(strncmp(out, "# Configuration reference\n", 26) == 0);
        for (size_t i = 0; i < cnt; i++) {
                snprintf(row, sizeof(row), "| `%s` | %s | ", props[i].name,
                         props[i].type);
                assert_non_null(strstr(out, row));
        }
        assert_non_null(strstr(out, "| `http.port` | int | `0` | 0..65535 |"));
        assert_non_null(
            strstr(out, "| `log.level` | enum | `info` | debug, info, warn, error |"));
        assert_non_null(strstr(out, "`<source tree>/migrations`"));
        assert_null(strstr(out, SL_SOURCE_DIR "/"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(defaults_come_from_the_table),
            cmocka_unit_test(int_keys_reject_junk_and_out_of_range),
            cmocka_unit_test(enum_and_string_keys),
            cmocka_unit_test(bool_and_double_types),
            cmocka_unit_test(executable_default_overrides_table_default),
            cmocka_unit_test(file_parsing),
            cmocka_unit_test(env_mapping),
            cmocka_unit_test(precedence_default_exe_file_env_flag),
            cmocka_unit_test(help_and_print_config),
            cmocka_unit_test(secrets_are_redacted),
            cmocka_unit_test(kafka_keys_are_validated_and_applied),
            cmocka_unit_test(pg_keys_and_conninfo_quoting),
            cmocka_unit_test(docs_list_every_key),
        };

        /* The harness's own variables must be ignored, not rejected. */
        setenv("SLUICE_SOURCE_DIR", SL_SOURCE_DIR, 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
