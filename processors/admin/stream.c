/*
 * sluice-admin's live stream (docs/admin-api.md): GET /admin/stream upgraded to a
 * WebSocket sends every event accepted from then on (records of events.accepted) as
 * one JSON text message, the envelope as GET /admin/events/{id} shows it, filtered by
 * type and source.
 *
 * One Kafka consumer feeds every client.  It is made when the first client connects,
 * is assigned every partition of events.accepted at its high watermark, read before
 * the handshake completes (so an event published once the client is connected is never
 * missed), never subscribes (no group is joined, nothing is committed), and is
 * unassigned while no client is connected: an idle handle that fetches nothing.
 *
 * Each client has a bounded queue and a writer thread of its own: the consumer thread
 * only appends to queues and never writes to a socket, since mg_websocket_write()
 * blocks while the peer's TCP window is full.  A client whose queue is full is dropped:
 * nothing more is queued for it, its writer sends a close frame (1008) if it can and
 * stops, sluice_admin_stream_dropped_total counts it, and a second later the consumer
 * thread shuts its socket down (shutdown(2)), which ends a write still blocked and
 * CivetWeb's read loop: CivetWeb 1.15 has no call to abort a connection from another
 * thread, so the socket is found at connect time by its address pair (find_socket).
 * CivetWeb also pings a silent connection every admin.stream.ping.ms and closes one
 * that answers none.
 *
 * Not here: replay of older events (GET /admin/events pages through history).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admin_int.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "sluice/err.h"
#include "util/clock.h"

#define STREAM_GROUP    "sluice-admin-stream" /* assign() only: never joined */
#define STREAM_PROTOCOL "sluice.v1"
#define CLOSE_SLOW      1008 /* policy violation: the client does not keep up */
#define CUT_AFTER_MS    1000 /* a dropped client's close frame may take this long */

/* One rendered event, shared by the queues of every client it is for. */
typedef struct msg_s {
        atomic_int refs;
        size_t len;
        char text[];
} msg_t;

typedef struct client_s {
        struct sl_adm_stream_s *st;
        struct mg_connection *conn; /* set by the ready handler */
        char name[SL_ADMIN_TOKEN_NAME_MAX + 1];
        char **types, **sources; /* filters; none: every value */
        size_t ntypes, nsources;
        pthread_mutex_t mu; /* guards the queue and the flags */
        pthread_cond_t cv;
        msg_t **q;
        size_t cap, head, cnt;
        bool dropped, closing, writer, cut;
        int64_t dropped_at; /* sl_mono_ms() */
        int fd;             /* the connection's socket, -1 when not found */
        pthread_t thread;
        struct client_s *next;
} client_t;

struct sl_adm_stream_s {
        sl_admin_t *adm;
        pthread_mutex_t mu; /* guards the client list and the consumer's state */
        pthread_cond_t cv;
        client_t *clients;
        size_t nclients;
        int64_t max_clients, queue;
        rd_kafka_t *rk; /* NULL until the first client */
        bool assigned, running, stop;
        pthread_t thread;
        char topic[256];
        sl_metric_t *m_clients, *m_dropped, *m_sent;
        struct mg_websocket_subprotocols protocols;
};

static const char *protocol_names[] = {STREAM_PROTOCOL};

static void msg_unref(msg_t *m)
{
        if (m && atomic_fetch_sub(&m->refs, 1) == 1)
                free(m);
}

static bool in(char **v, size_t n, const char *s)
{
        if (n == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

/* The envelope as GET /admin/events/{id} shows its "event", plus where it was read. */
static msg_t *render(const rd_kafka_message_t *rkm, const sl_envelope_t *env)
{
        json_t *j = sl_envelope_to_jsonv(env, SL_ENVELOPE_JSON_RFC3339);
        const char *replay_of = NULL;
        char *text;
        msg_t *m = NULL;
        size_t len;

        if (!j)
                return NULL;
        for (size_t i = 0; i < env->meta_cnt; i++)
                if (strcmp(env->meta_keys[i], "sluice.replay_of") == 0)
                        replay_of = env->meta_vals[i];
        json_object_set_new(j, "replay_of",
                            replay_of ? json_string(replay_of) : json_null());
        json_object_set_new(j, "kafka",
                            json_pack("{s:s, s:i, s:I}", "topic",
                                      rd_kafka_topic_name(rkm->rkt), "partition",
                                      (int)rkm->partition, "offset",
                                      (json_int_t)rkm->offset));
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text)
                return NULL;
        len = strlen(text);
        m = malloc(sizeof(*m) + len + 1);
        if (m) {
                atomic_init(&m->refs, 1);
                m->len = len;
                memcpy(m->text, text, len + 1);
        }
        free(text);
        return m;
}

/* Nothing more for c: counted once, logged with its token's name.  c->mu held. */
static void drop(client_t *c, const char *why)
{
        if (c->dropped)
                return;
        c->dropped = true;
        c->dropped_at = sl_mono_ms();
        sl_metrics_add(c->st->m_dropped, 1);
        sl_log_warn("stream client (token %s) dropped: %s", c->name, why);
        pthread_cond_signal(&c->cv);
}

/* Queue m for c, or drop c when its queue is full.  st->mu held. */
static void client_push(client_t *c, msg_t *m)
{
        pthread_mutex_lock(&c->mu);
        if (c->dropped || c->closing) {
                /* nothing more for it */
        } else if (c->cnt == c->cap) {
                drop(c, "its queue is full (events not read)");
        } else {
                atomic_fetch_add(&m->refs, 1);
                c->q[(c->head + c->cnt) % c->cap] = m;
                c->cnt++;
                pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
}

/* Dropped clients whose close frame had its chance: their sockets shut down, so a
 * write blocked on a full TCP window fails and CivetWeb's read loop ends (the close
 * handler then unregisters them).  st->mu held. */
static void cut_dropped(struct sl_adm_stream_s *st)
{
        int64_t now = sl_mono_ms();

        for (client_t *c = st->clients; c; c = c->next) {
                pthread_mutex_lock(&c->mu);
                /* Only once the handshake is done (c->conn set): from then on CivetWeb
                 * 1.15 always runs the close handler before it closes the socket, so
                 * the descriptor is still this connection's. */
                if (c->dropped && !c->cut && !c->closing && c->fd >= 0 && c->conn &&
                    now - c->dropped_at >= CUT_AFTER_MS) {
                        shutdown(c->fd, SHUT_RDWR);
                        c->cut = true;
                }
                pthread_mutex_unlock(&c->mu);
        }
}

/* The socket of the connection from ri's client to its server port: the one whose
 * peer and local addresses are those (a TCP connection's address pair is unique).
 * -1 when not found. */
static int find_socket(const struct mg_request_info *ri)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int found = -1;

        if (!d)
                return -1;
        while (found < 0 && (de = readdir(d))) {
                struct sockaddr_storage peer, self;
                socklen_t plen = sizeof(peer), slen = sizeof(self);
                char addr[INET6_ADDRSTRLEN];
                int fd = atoi(de->d_name), pport, sport;
                const void *pa;

                if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
                    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
                    getsockname(fd, (struct sockaddr *)&self, &slen) != 0)
                        continue;
                if (peer.ss_family == AF_INET) {
                        pa = &((struct sockaddr_in *)&peer)->sin_addr;
                        pport = ntohs(((struct sockaddr_in *)&peer)->sin_port);
                        sport = ntohs(((struct sockaddr_in *)&self)->sin_port);
                } else if (peer.ss_family == AF_INET6) {
                        pa = &((struct sockaddr_in6 *)&peer)->sin6_addr;
                        pport = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
                        sport = ntohs(((struct sockaddr_in6 *)&self)->sin6_port);
                } else {
                        continue;
                }
                if (pport == ri->remote_port && sport == ri->server_port &&
                    inet_ntop(peer.ss_family, pa, addr, sizeof(addr)) &&
                    strcmp(addr, ri->remote_addr) == 0)
                        found = fd;
        }
        closedir(d);
        return found;
}

static void dispatch(struct sl_adm_stream_s *st, const rd_kafka_message_t *rkm,
                     sl_envelope_t *env)
{
        sl_reject_t rej;
        msg_t *m = NULL;

        if (sl_envelope_decode(st->adm->codec, rkm->payload, rkm->len, env, &rej) !=
            SL_OK) {
                sl_log_debug("stream: a record at %d/%lld does not decode: %s",
                             (int)rkm->partition, (long long)rkm->offset, rej.msg);
                return;
        }
        pthread_mutex_lock(&st->mu);
        for (client_t *c = st->clients; c; c = c->next) {
                if (!in(c->types, c->ntypes, env->type) ||
                    !in(c->sources, c->nsources, env->source))
                        continue;
                if (!m && !(m = render(rkm, env)))
                        break;
                client_push(c, m);
        }
        pthread_mutex_unlock(&st->mu);
        msg_unref(m);
}

static void *consume(void *arg)
{
        struct sl_adm_stream_s *st = arg;
        sl_envelope_t env;

        sl_envelope_init(&env);
        pthread_mutex_lock(&st->mu);
        while (!st->stop) {
                rd_kafka_message_t *rkm;

                if (st->nclients == 0) {
                        if (st->assigned) {
                                rd_kafka_assign(st->rk, NULL);
                                st->assigned = false;
                        }
                        pthread_cond_wait(&st->cv, &st->mu);
                        continue;
                }
                pthread_mutex_unlock(&st->mu);
                rkm = rd_kafka_consumer_poll(st->rk, 100);
                if (rkm) {
                        if (!rkm->err)
                                dispatch(st, rkm, &env);
                        else
                                sl_log_debug("stream consumer: %s",
                                             rd_kafka_message_errstr(rkm));
                        rd_kafka_message_destroy(rkm);
                }
                pthread_mutex_lock(&st->mu);
                cut_dropped(st);
        }
        pthread_mutex_unlock(&st->mu);
        sl_envelope_clear(&env);
        return NULL;
}

/* The consumer made, running and assigned at the end of every partition.  st->mu
 * held.  0, or -1 with errstr set (Kafka unreachable). */
static int activate(struct sl_adm_stream_s *st, char *errstr, size_t errstr_size)
{
        int timeout = (int)st->adm->kafka_timeout_ms;
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;
        int32_t n;

        if (!st->rk && !(st->rk = sl_kafka_consumer_new(st->adm->conf, STREAM_GROUP, NULL,
                                                        NULL, errstr, errstr_size)))
                return -1;
        if (!st->running) {
                if (pthread_create(&st->thread, NULL, consume, st) != 0) {
                        snprintf(errstr, errstr_size, "cannot start the stream thread");
                        return -1;
                }
                st->running = true;
        }
        if (st->assigned)
                return 0;
        n = sl_kafka_partition_count(st->rk, st->topic, timeout, errstr, errstr_size);
        if (n <= 0)
                return -1;
        parts = rd_kafka_topic_partition_list_new(n);
        for (int32_t p = 0; p < n; p++) {
                int64_t lo, hi;

                err = rd_kafka_query_watermark_offsets(st->rk, st->topic, p, &lo, &hi,
                                                       timeout);
                if (err) {
                        snprintf(errstr, errstr_size, "watermarks of %s/%d: %s",
                                 st->topic, (int)p, rd_kafka_err2str(err));
                        rd_kafka_topic_partition_list_destroy(parts);
                        return -1;
                }
                rd_kafka_topic_partition_list_add(parts, st->topic, p)->offset = hi;
        }
        err = rd_kafka_assign(st->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err) {
                snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
                return -1;
        }
        st->assigned = true;
        return 0;
}

static void client_free(client_t *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->cnt; i++)
                msg_unref(c->q[(c->head + i) % c->cap]);
        for (size_t i = 0; i < c->ntypes; i++)
                free(c->types[i]);
        for (size_t i = 0; i < c->nsources; i++)
                free(c->sources[i]);
        free(c->types);
        free(c->sources);
        free(c->q);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
}

static client_t *client_new(struct sl_adm_stream_s *st, const sl_adm_req_t *req)
{
        client_t *c = calloc(1, sizeof(*c));
        bool oom = false;

        if (!c)
                return NULL;
        c->st = st;
        c->fd = -1;
        c->cap = (size_t)st->queue;
        snprintf(c->name, sizeof(c->name), "%s", req->tok->name);
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->q = calloc(c->cap, sizeof(*c->q));
        c->types = calloc(req->nparams + 1, sizeof(*c->types));
        c->sources = calloc(req->nparams + 1, sizeof(*c->sources));
        oom = !c->q || !c->types || !c->sources;
        for (size_t i = 0; !oom && i < req->nparams; i++) {
                char *v = strdup(req->params[i].val);

                oom = !v;
                if (v && strcmp(req->params[i].key, "type") == 0)
                        c->types[c->ntypes++] = v;
                else if (v)
                        c->sources[c->nsources++] = v;
        }
        if (oom) {
                client_free(c);
                return NULL;
        }
        return c;
}

/* A new client registered (the consumer activated for it).  0, or the problem sent. */
static int join(struct sl_adm_stream_s *st, sl_adm_req_t *req, int fd, client_t **out)
{
        char errstr[512];
        client_t *c;
        int rc;

        if (st->max_clients == 0)
                return sl__adm_problem(req, 503, "unavailable", "Service Unavailable",
                                       NULL,
                                       "the stream is turned off "
                                       "(admin.stream.max.clients is 0)");
        if (!(c = client_new(st, req)))
                return sl__adm_problem(req, 500, "internal", "Internal Server Error",
                                       NULL, "out of memory");
        c->fd = fd;
        pthread_mutex_lock(&st->mu);
        if ((int64_t)st->nclients >= st->max_clients) {
                pthread_mutex_unlock(&st->mu);
                client_free(c);
                return sl__adm_problem(req, 503, "unavailable", "Service Unavailable",
                                       "Retry-After: 5",
                                       "%lld stream clients are connected, the most "
                                       "admin.stream.max.clients allows",
                                       (long long)st->max_clients);
        }
        rc = activate(st, errstr, sizeof(errstr));
        if (rc == 0) {
                c->next = st->clients;
                st->clients = c;
                st->nclients++;
                sl_metrics_set(st->m_clients, (double)st->nclients);
                pthread_cond_broadcast(&st->cv);
        }
        pthread_mutex_unlock(&st->mu);
        if (rc != 0) {
                client_free(c);
                sl_log_warn("stream: %s", errstr);
                return sl__adm_problem(req, 503, "unavailable", "Service Unavailable",
                                       NULL, "Kafka is unreachable: %s", errstr);
        }
        *out = c;
        return 0;
}

int sl__adm_stream_params(sl_adm_req_t *req)
{
        for (size_t i = 0; i < req->nparams; i++) {
                const sl_adm_param_t *p = &req->params[i];

                if (strcmp(p->key, "type") != 0 && strcmp(p->key, "source") != 0)
                        return sl__adm_problem(
                            req, 400, "invalid-parameter", "Bad Request", NULL,
                            "unknown query parameter '%s' (the stream takes type and "
                            "source)",
                            p->key);
                if (!p->val[0])
                        return sl__adm_problem(req, 400, "invalid-parameter",
                                               "Bad Request", NULL,
                                               "%s must not be empty", p->key);
        }
        return 0;
}

int sl__adm_stream_plain(sl_adm_req_t *req)
{
        int status = sl__adm_stream_params(req);

        if (status)
                return status;
        return sl__adm_problem(req, 426, "upgrade-required", "Upgrade Required",
                               "Upgrade: websocket",
                               "/admin/stream is a WebSocket: send the upgrade "
                               "handshake (RFC 6455)");
}

static void *write_loop(void *arg)
{
        client_t *c = arg;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                msg_t *m;
                size_t len;
                int rc;

                while (!c->cnt && !c->dropped && !c->closing)
                        pthread_cond_wait(&c->cv, &c->mu);
                if (c->closing)
                        break;
                if (c->dropped) {
                        static const char why[] = "client too slow: its queue is full";
                        char frame[2 + sizeof(why)];

                        pthread_mutex_unlock(&c->mu);
                        frame[0] = (char)(CLOSE_SLOW >> 8);
                        frame[1] = (char)(CLOSE_SLOW & 0xff);
                        memcpy(frame + 2, why, sizeof(why) - 1);
                        mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE,
                                           frame, sizeof(frame) - 1);
                        pthread_mutex_lock(&c->mu);
                        break;
                }
                m = c->q[c->head];
                c->q[c->head] = NULL;
                c->head = (c->head + 1) % c->cap;
                c->cnt--;
                pthread_mutex_unlock(&c->mu);
                len = m->len;
                rc = mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, m->text, len);
                msg_unref(m);
                pthread_mutex_lock(&c->mu);
                if (rc != (int)len) {
                        /* The peer is gone, or read nothing for request_timeout_ms: the
                         * frame may be cut, so nothing more is written; CivetWeb's read
                         * loop closes the connection. */
                        if (rc == 0 || c->closing)
                                c->dropped = true; /* gone: not a slow client */
                        else
                                drop(c, "a write failed or timed out (not read)");
                        break;
                }
                sl_metrics_add(c->st->m_sent, 1);
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
        struct sl_adm_stream_s *st = cbdata;
        struct mg_connection *conn = (struct mg_connection *)cconn; /* to answer */
        const struct mg_request_info *ri = mg_get_request_info(conn);
        sl_adm_req_t req = {.conn = conn,
                            .adm = st->adm,
                            .method = ri->request_method,
                            .path = "/admin/stream",
                            .ws = true};
        client_t *c = NULL;
        int status;

        if (!ri->local_uri || strcmp(ri->local_uri, "/admin/stream") != 0)
                status = sl__adm_problem(&req, 404, "not-found", "Not Found", NULL,
                                         "no such route");
        else if (!(status = sl__adm_authenticate(&req, SL_ADMIN_SCOPE_READ)) &&
                 !(status = sl__adm_parse_query(&req, ri->query_string)) &&
                 !(status = sl__adm_stream_params(&req)))
                status = join(st, &req, find_socket(ri), &c);
        sl__adm_params_free(&req);
        sl__adm_count_status(st->adm, status ? status : 101);
        if (status)
                return 1; /* answered: no handshake */
        if (c->fd < 0)
                sl_log_warn("stream: the socket of %s:%d was not found: a dropped client "
                            "is closed by CivetWeb's pings only",
                            ri->remote_addr, ri->remote_port);
        mg_set_user_connection_data(cconn, c);
        sl_log_info("stream client connected (token %s, %zu type and %zu source "
                    "filters)",
                    c->name, c->ntypes, c->nsources);
        return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
        client_t *c = mg_get_user_connection_data(conn);

        (void)cbdata;
        if (!c)
                return;
        pthread_mutex_lock(&c->mu);
        c->conn = conn;
        pthread_mutex_unlock(&c->mu);
        if (pthread_create(&c->thread, NULL, write_loop, c) == 0)
                c->writer = true;
        else
                sl_log_error("stream: cannot start a writer thread");
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len,
                   void *cbdata)
{
        (void)conn, (void)bits, (void)data, (void)len, (void)cbdata;
        return 1; /* what a client sends is ignored (CivetWeb answers pings) */
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
        struct sl_adm_stream_s *st = cbdata;
        client_t *c = mg_get_user_connection_data(conn), **pp;
        bool dropped;

        if (!c)
                return;
        pthread_mutex_lock(&st->mu);
        for (pp = &st->clients; *pp; pp = &(*pp)->next)
                if (*pp == c) {
                        *pp = c->next;
                        st->nclients--;
                        break;
                }
        sl_metrics_set(st->m_clients, (double)st->nclients);
        pthread_mutex_unlock(&st->mu);
        pthread_mutex_lock(&c->mu);
        c->closing = true;
        dropped = c->dropped;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        if (c->writer)
                pthread_join(c->thread, NULL);
        sl_log_info("stream client disconnected (token %s%s)", c->name,
                    dropped ? ", dropped" : "");
        mg_set_user_connection_data(conn, NULL);
        client_free(c);
}

struct sl_adm_stream_s *sl__adm_stream_new(sl_admin_t *adm, char *errstr,
                                           size_t errstr_size)
{
        struct sl_adm_stream_s *st = calloc(1, sizeof(*st));
        int64_t conns = sl_conf_get_int(adm->conf, "admin.max.connections");

        if (!st) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        st->adm = adm;
        st->max_clients = sl_conf_get_int(adm->conf, "admin.stream.max.clients");
        st->queue = sl_conf_get_int(adm->conf, "admin.stream.client.queue");
        if (st->max_clients >= conns) {
                snprintf(errstr, errstr_size,
                         "admin.stream.max.clients: %lld must be lower than "
                         "admin.max.connections (%lld): each stream client holds a "
                         "connection",
                         (long long)st->max_clients, (long long)conns);
                free(st);
                return NULL;
        }
        pthread_mutex_init(&st->mu, NULL);
        pthread_cond_init(&st->cv, NULL);
        sl_kafka_topic_name(adm->conf, SL_TOPIC_EVENTS_ACCEPTED, st->topic,
                            sizeof(st->topic));
        st->m_clients = sl_metrics_gauge("sluice_admin_stream_clients", NULL,
                                         "WebSocket clients of /admin/stream connected.");
        st->m_dropped = sl_metrics_counter(
            "sluice_admin_stream_dropped_total", NULL,
            "Stream clients dropped because their queue was full (too slow).");
        st->m_sent = sl_metrics_counter("sluice_admin_stream_sent_total", NULL,
                                        "Events sent to stream clients.");
        st->protocols.nb_subprotocols = 1;
        st->protocols.subprotocols = protocol_names;
        return st;
}

int sl__adm_stream_register(struct sl_adm_stream_s *st)
{
        struct mg_context *ctx = sl_http_context(st->adm->http);

        if (!ctx)
                return SL_ERR_STATE;
        mg_set_websocket_handler_with_subprotocols(ctx, "/admin/stream", &st->protocols,
                                                   ws_connect, ws_ready, ws_data,
                                                   ws_close, st);
        return SL_OK;
}

void sl__adm_stream_destroy(struct sl_adm_stream_s *st)
{
        if (!st)
                return;
        pthread_mutex_lock(&st->mu);
        st->stop = true;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        if (st->running)
                pthread_join(st->thread, NULL);
        if (st->rk) {
                rd_kafka_consumer_close(st->rk);
                rd_kafka_destroy(st->rk);
        }
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        free(st);
}
