/*
 * The HTTP server: libmicrohttpd in external-event epoll mode, driven from
 * the sidecar's libuv loop (a uv_poll on MHD's epoll fd runs MHD_run, a
 * uv_timer follows MHD_get_timeout and doubles as the "run soon" kick after
 * a connection is resumed), plus the request-context lifecycle, routing
 * dispatch, reply helpers and the health/readiness probes.
 *
 * Every upstream call is asynchronous: a handler suspends its MHD
 * connection (a few hundred bytes of state, no thread) and the pool's
 * completion resumes it. A suspended long-poll also watches its socket for
 * a hang-up, so a client that goes away cancels its upstream call at once
 * instead of holding it until block_ms runs out.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utlist.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "http_internal.h"
#include "http_json.h"
#include "proto_metrics.h"
#include "proto_auth.h"

#define LISTEN_BACKLOG 4096 /* bursts of thousands of long-poll connects */
#define DISCARD_SLACK                                                                              \
    (1u << 20)          /* body bytes we swallow past max_body before                              \
                           giving up on a chunked upload */
#define HOST_MAX     64 /* longest numeric address we accept */
#define LOG_LINE_MAX 512

static const char empty_body[1] = "";

/* ---- listen address ---- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
    char host[HOST_MAX];
    uint64_t port;
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (colon == NULL) {
        return FLO_EINVAL;
    }
    if (http_parse_uint((const uint8_t *)colon + 1, strlen(colon + 1), 65535, &port) < 0) {
        return FLO_EINVAL;
    }
    const char *h = listen;
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        return FLO_EINVAL;
    }
    if (hlen == 0) {
        memcpy(host, "0.0.0.0", sizeof("0.0.0.0"));
    } else {
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    }
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) {
        *v6 = false;
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) {
        *v6 = true;
        return 0;
    }
    return FLO_EINVAL;
}

/* ---- driving MHD from libuv ---- */

static void timer_cb(uv_timer_t *t);

/* Arm the timer from MHD's own idea of when it next needs to run. */
static void arm_timer(struct http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (srv->mhd == NULL || srv->closing) {
        return;
    }
    if (MHD_get_timeout(srv->mhd, &to) == MHD_YES) {
        uv_timer_start(&srv->timer, timer_cb, (uint64_t)to, 0);
    } else {
        uv_timer_stop(&srv->timer);
    }
}

static void kick(struct http_server *srv);

static void run_mhd(struct http_server *srv)
{
    if (srv->mhd == NULL) {
        return;
    }
    MHD_run(srv->mhd);
    /* At --max-http-connections MHD takes its listen socket out of its
     * epoll set (new connections wait in the kernel's backlog) and puts it
     * back only at the start of a later MHD_run: once a connection closed,
     * run again at once, or a waiting client would hang until unrelated
     * traffic woke MHD. */
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    unsigned n = di != NULL ? di->num_connections : 0;
    bool rerun = srv->at_conn_limit && n < srv->conn_limit;
    srv->at_conn_limit = n >= srv->conn_limit;
    if (rerun) {
        kick(srv); /* replaces the timeout timer: the next run re-arms it */
        return;
    }
    arm_timer(srv);
}

static void timer_cb(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void epoll_cb(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* Run MHD on the next loop iteration: MHD_resume_connection only marks the
 * connection; MHD_run must pass again to move it back and call us. */
static void kick(struct http_server *srv)
{
    if (srv->mhd != NULL && !srv->closing) {
        uv_timer_start(&srv->timer, timer_cb, 0, 0);
    }
}

/* ---- request contexts ---- */

/* Stop route work in flight (its completion must not run any more) and
 * free the route's state. Idempotent. */
static void ext_release(struct http_req *r)
{
    if (r->ext_release != NULL) {
        void (*release)(struct http_req *) = r->ext_release;
        r->ext_release = NULL;
        release(r);
    }
    r->ext = NULL;
}

/* Give back the request's long-poll slot once its blocking call is over. */
static void longpoll_release(struct http_req *r)
{
    if (r->lp_slot) {
        r->lp_slot = false;
        proto_longpoll_leave();
    }
}

static void req_free(struct http_req *r)
{
    longpoll_release(r);
    ext_release(r);
    if (r->resp) {
        MHD_destroy_response(r->resp);
    }
    http_target_free(&r->target);
    http_kv_params_free(&r->kv);
    flo_wbuf_free(&r->ns_hdr);
    flo_wbuf_free(&r->body);
    flo_wbuf_free(&r->opts);
    free(r->uri);
    free(r);
}

static void disc_close_cb(uv_handle_t *h)
{
    struct http_req *r = h->data;
    r->disc_open = false;
    r->disc_closing = false;
    if (r->conn == NULL) {
        req_free(r); /* MHD finished first: we are the last owner */
    }
}

/* Close the disconnect watch. Must happen before MHD may close the socket:
 * libuv identifies watchers by fd number and the number is reused. */
static void disc_stop(struct http_req *r)
{
    if (r->disc_open && !r->disc_closing) {
        r->disc_closing = true;
        uv_close((uv_handle_t *)&r->disc, disc_close_cb);
    }
}

/* Hand a suspended request back to MHD, which then calls the access
 * handler again to queue the reply (or close, if the client is gone). */
static void req_resume(struct http_req *r)
{
    http__req_longpoll_end(r);
    disc_stop(r);
    if (r->conn != NULL) {
        MHD_resume_connection(r->conn);
    }
    kick(r->srv);
}

static void disc_cb(uv_poll_t *p, int status, int events)
{
    struct http_req *r = p->data;
    (void)status;
    /* Only UV_DISCONNECT (and errors) are watched: any event means the peer
     * hung up. Drop the upstream call; MHD will see the close itself. */
    if (r->state != HTTP_RS_WAITING) {
        disc_stop(r); /* level-triggered: never leave it armed */
        return;
    }
    r->client_gone = true;
    FLO_DEBUG("HTTP client hung up during a long-poll", "events=%d request_id=%s", events,
              http__req_log_id(r));
    longpoll_release(r);
    if (r->call != NULL) {
        flo_pool_cancel(r->srv->ctx->pool, r->call);
        r->call = NULL;
    }
    if (r->on_gone != NULL) {
        r->on_gone(r);
    }
    r->state = HTTP_RS_REPLIED;
    req_resume(r);
}

static void disc_start(struct http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL) {
        return;
    }
    /* Best effort: without the watch an abandoned long-poll still ends when
     * its block time runs out. */
    if (uv_poll_init_socket(r->srv->ctx->loop, &r->disc, ci->connect_fd) < 0) {
        return;
    }
    r->disc.data = r;
    r->disc_open = true;
    if (uv_poll_start(&r->disc, UV_DISCONNECT, disc_cb) < 0) {
        disc_stop(r);
    }
}

static void call_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct http_req *r = arg;
    r->call = NULL;
    longpoll_release(r);
    r->done(r, err, status, body);
    if (r->state == HTTP_RS_WAITING && r->call != NULL) {
        return; /* the completion chained another upstream call */
    }
    req_resume(r);
}

int http_req_send(struct http_req *r, const struct flo_req *req, uint32_t timeout_ms,
                  unsigned flags, http_done_cb done)
{
    bool suspended = r->state == HTTP_RS_WAITING;
    if (flags & FLO_SEND_BLOCKING) {
        /* --max-longpolls: 429 "too many waiting requests" when full. */
        int lp = proto_longpoll_enter();
        if (lp < 0) {
            return lp;
        }
        r->lp_slot = true;
    }
    int rc = flo_pool_send(r->srv->ctx->pool, req, timeout_ms, flags, call_cb, r, &r->call);
    if (rc < 0) {
        r->call = NULL;
        longpoll_release(r);
        return rc;
    }
    r->done = done;
    if (!suspended) {
        r->state = HTTP_RS_WAITING;
        MHD_suspend_connection(r->conn);
    }
    if (flags & FLO_SEND_BLOCKING) {
        http__req_longpoll_begin(r);
    }
    if ((flags & FLO_SEND_BLOCKING) && !r->disc_open) {
        disc_start(r);
    }
    return 0;
}

void http_req_suspend(struct http_req *r)
{
    r->state = HTTP_RS_WAITING;
    MHD_suspend_connection(r->conn);
}

void http_req_resume(struct http_req *r)
{
    req_resume(r);
}

void http_req_watch_disconnect(struct http_req *r)
{
    if (r->conn != NULL && !r->disc_open) {
        disc_start(r);
    }
    http__req_longpoll_begin(r);
}

const char *http_req_header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- replies ---- */

static void set_resp(struct http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp) {
        MHD_destroy_response(r->resp);
    }
    r->resp = resp; /* NULL on allocation failure: the connection is closed */
    r->resp_status = status;
    r->result[0] = '\0'; /* http_reply_error names the error after this */
    r->state = HTTP_RS_REPLIED;
}

void http_reply_bytes(struct http_req *r, unsigned status, const char *ctype, flo_buf_t body)
{
    struct MHD_Response *resp;
    if (body.len == 0) {
        resp = MHD_create_response_from_buffer(0, (void *)empty_body, MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(body.len, (void *)body.ptr, MHD_RESPMEM_MUST_COPY);
    }
    if (resp && ctype) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    }
    set_resp(r, status, resp);
    r->bytes_out = body.len;
}

void http_reply_json(struct http_req *r, unsigned status, const struct flo_wbuf *json)
{
    http_reply_bytes(r, status, "application/json", flo_wbuf_view(json));
}

int http_error_json(struct flo_wbuf *b, const struct proto_err *e)
{
    struct http_json j;
    http_json_start(&j, b);
    http_json_cstr(&j, "error", e->message);
    http_json_cstr(&j, "code", e->code ? e->code : "error");
    http_json_end(&j);
    return j.err;
}

void http_reply_error(struct http_req *r, const struct proto_err *e)
{
    struct flo_wbuf b;
    if (http_error_json(&b, e) == 0) {
        http_reply_json(r, (unsigned)e->http_status, &b);
    } else {
        set_resp(r, (unsigned)e->http_status, NULL);
    }
    flo_wbuf_free(&b);
    snprintf(r->result, sizeof(r->result), "%s", e->code ? e->code : "error");
}

void http_reply_code(struct http_req *r, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    http_reply_error(r, &e);
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
    if (r->resp) {
        MHD_add_response_header(r->resp, name, value);
    }
}

void http_reply_version(struct http_req *r, uint64_t version)
{
    char v[24], etag[26];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)version);
    snprintf(etag, sizeof(etag), "\"%s\"", v);
    http_reply_header(r, "X-Flo-Version", v);
    http_reply_header(r, MHD_HTTP_HEADER_ETAG, etag);
}

/* ---- probes ---- */

static void healthz_start(struct http_req *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply_bytes(r, MHD_HTTP_OK, "application/json", FLO_BUF(ok, sizeof(ok) - 1));
}

static void readyz_start(struct http_req *r)
{
    static const char ready[] = "{\"status\":\"ready\"}";
    if (flo_pool_ready(r->srv->ctx->pool)) {
        http_reply_bytes(r, MHD_HTTP_OK, "application/json", FLO_BUF(ready, sizeof(ready) - 1));
        return;
    }
    struct proto_err e;
    proto_err_from_code(&e, FLO_EUNAVAIL);
    if (flo_pool_last_error(r->srv->ctx->pool) == FLO_EAUTH) {
        snprintf(e.message, sizeof(e.message), "%s",
                 "not ready: the Flo server refused the API key (check --api-key)");
    } else {
        snprintf(e.message, sizeof(e.message), "%s",
                 "not ready: no upstream connection to Flo is up (check --upstream and that the "
                 "Flo server is reachable)");
    }
    e.http_status = MHD_HTTP_SERVICE_UNAVAILABLE;
    http_reply_error(r, &e);
}

static const struct http_route_def healthz_route = {
    .id = HTTP_ROUTE_HEALTHZ,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD),
    .allow = "GET, HEAD",
    .public = true,
    .start = healthz_start,
};

static const struct http_route_def readyz_route = {
    .id = HTTP_ROUTE_READYZ,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD),
    .allow = "GET, HEAD",
    .public = true,
    .start = readyz_start,
};

static const struct http_route_def *route_def(enum http_route_e id)
{
    switch (id) {
    case HTTP_ROUTE_HEALTHZ:
        return &healthz_route;
    case HTTP_ROUTE_READYZ:
        return &readyz_route;
    case HTTP_ROUTE_METRICS:
        return &http_metrics_route;
    case HTTP_ROUTE_KV_KEY:
        return &http_kv_route;
    case HTTP_ROUTE_KV_SCAN:
        return &http_kv_scan_route;
    case HTTP_ROUTE_KV_MGET:
        return &http_kv_mget_route;
    case HTTP_ROUTE_KV_TXN:
        return &http_kv_txn_route;
    case HTTP_ROUTE_KV_HISTORY:
        return &http_kv_history_route;
    case HTTP_ROUTE_KV_INCR:
        return &http_kv_incr_route;
    case HTTP_ROUTE_KV_TTL:
        return &http_kv_ttl_route;
    case HTTP_ROUTE_KV_JSON:
        return &http_kv_json_route;
    case HTTP_ROUTE_QUEUES:
        return &http_queue_list_route;
    case HTTP_ROUTE_QUEUE:
        return &http_queue_stats_route;
    case HTTP_ROUTE_QUEUE_MESSAGES:
        return &http_queue_messages_route;
    case HTTP_ROUTE_QUEUE_DEQUEUE:
        return &http_queue_dequeue_route;
    case HTTP_ROUTE_QUEUE_PEEK:
        return &http_queue_peek_route;
    case HTTP_ROUTE_QUEUE_ACK:
        return &http_queue_ack_route;
    case HTTP_ROUTE_QUEUE_NACK:
        return &http_queue_nack_route;
    case HTTP_ROUTE_QUEUE_TOUCH:
        return &http_queue_touch_route;
    case HTTP_ROUTE_QUEUE_DLQ:
        return &http_queue_dlq_route;
    case HTTP_ROUTE_QUEUE_DLQ_REQUEUE:
        return &http_queue_dlq_requeue_route;
    case HTTP_ROUTE_QUEUE_DLQ_DELETE:
        return &http_queue_dlq_delete_route;
    case HTTP_ROUTE_STREAMS:
        return &http_stream_list_route;
    case HTTP_ROUTE_STREAM:
        return &http_stream_route;
    case HTTP_ROUTE_STREAM_RECORDS:
        return &http_stream_records_route;
    case HTTP_ROUTE_STREAM_TRIM:
        return &http_stream_trim_route;
    case HTTP_ROUTE_STREAM_GROUP:
        return &http_stream_group_route;
    case HTTP_ROUTE_STREAM_GROUP_SWEEPER:
        return &http_stream_sweeper_route;
    case HTTP_ROUTE_STREAM_GROUP_PENDING:
        return &http_stream_pending_route;
    case HTTP_ROUTE_STREAM_GROUP_SESSIONS:
        return &http_session_create_route;
    case HTTP_ROUTE_SESSION:
        return &http_session_route;
    case HTTP_ROUTE_SESSION_RECORDS:
        return &http_session_records_route;
    case HTTP_ROUTE_SESSION_ACK:
        return &http_session_ack_route;
    case HTTP_ROUTE_SESSION_NACK:
        return &http_session_nack_route;
    case HTTP_ROUTE_SESSION_TOUCH:
        return &http_session_touch_route;
    case HTTP_ROUTE_NONE:
        break;
    }
    return NULL;
}

/* ---- MHD callbacks ---- */

/* Keep the URI escaped: MHD's default unescape writes into a C string and a
 * %00 in a key would cut it short. We decode with lengths ourselves. */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* First sight of a request: the raw target, before MHD splits or unescapes
 * it. The context allocated here is MHD's per-request pointer. */
static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *srv = cls;
    struct http_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->uri_len = strlen(uri);
    r->uri = malloc(r->uri_len + 1);
    if (r->uri == NULL) {
        free(r);
        return NULL;
    }
    memcpy(r->uri, uri, r->uri_len + 1);
    r->srv = srv;
    r->conn = conn;
    r->state = HTTP_RS_NEW;
    http__req_arrived(r);
    http_target_init(&r->target);
    http_kv_params_init(&r->kv);
    flo_wbuf_init(&r->ns_hdr);
    flo_wbuf_init(&r->body);
    flo_wbuf_init(&r->opts);
    DL_APPEND(srv->reqs, r);
    srv->nreqs++;
    return r;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *r = *con_cls;
    (void)conn;
    (void)toe;
    if (r == NULL) {
        return;
    }
    *con_cls = NULL;
    http__req_longpoll_end(r);
    http__req_finished(r);
    if (r->call != NULL) {
        /* Only reachable if MHD drops a connection we still wait for. */
        flo_pool_cancel(srv->ctx->pool, r->call);
        r->call = NULL;
    }
    ext_release(r);
    DL_DELETE(srv->reqs, r);
    srv->nreqs--;
    r->conn = NULL;
    if (r->disc_open) {
        disc_stop(r); /* disc_close_cb frees */
        return;
    }
    req_free(r);
}

/* "Authorization: Bearer <token>" against the live token (proto_auth:
 * constant time, swapped by SIGHUP). A refusal is logged without the
 * header's value. */
static bool token_ok(struct http_req *r)
{
    static const char prefix[] = "Bearer ";
    const char *hdr = http_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    bool ok = hdr != NULL && strncasecmp(hdr, prefix, sizeof(prefix) - 1) == 0 &&
              proto_auth_check(FLO_BUF_STR(hdr + sizeof(prefix) - 1));
    if (!ok) {
        char who[96] = "addr=?";
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci != NULL && ci->client_addr != NULL) {
            char ip[INET6_ADDRSTRLEN] = "?";
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
            } else if (sa->sa_family == AF_INET6) {
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
            }
            snprintf(who, sizeof who, "addr=%s reason=%s", ip,
                     hdr == NULL ? "missing_token" : "wrong_token");
        }
        proto_auth_log_failure("http", who);
    }
    return ok;
}

/* Headers are in: route, authorise, check method and declared length. */
static void headers_phase(struct http_req *r, const char *method)
{
    struct proto_err e;
    const struct proto_ctx *ctx = r->srv->ctx;

    r->method = http_method_parse(method);
    if (http_route_match(r->uri, r->uri_len, &r->target, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    r->target.route = http_route_for_method(r->target.route, r->method);
    r->route = route_def(r->target.route);
    if (r->route == NULL) {
        proto_err_bad_request(&e, "no route for this path (see docs/http-api.md)");
        e.http_status = MHD_HTTP_NOT_FOUND;
        e.code = "not_found";
        http_reply_error(r, &e);
        return;
    }
    if (!r->route->public && proto_auth_required() && !token_ok(r)) {
        proto_err_bad_request(&e, "missing or wrong bearer token: send Authorization: Bearer "
                                  "<the sidecar's --auth-token>");
        e.http_status = MHD_HTTP_UNAUTHORIZED;
        e.code = "unauthorized";
        http_reply_error(r, &e);
        http_reply_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return;
    }
    if ((r->route->methods & HTTP_METHOD_BIT(r->method)) == 0) {
        proto_err_bad_request(&e, "method %s is not allowed here; allowed: %s", method,
                              r->route->allow);
        e.http_status = MHD_HTTP_METHOD_NOT_ALLOWED;
        e.code = "method_not_allowed";
        http_reply_error(r, &e);
        http_reply_header(r, MHD_HTTP_HEADER_ALLOW, r->route->allow);
        return;
    }
    const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len;
    if (cl != NULL && http_parse_uint((const uint8_t *)cl, strlen(cl), UINT64_MAX, &len) == 0 &&
        len > ctx->max_body) {
        /* Refuse before reading (and before "100 Continue"). */
        proto_err_too_large(&e, "request body of %llu bytes is over the limit of %zu bytes",
                            (unsigned long long)len, ctx->max_body);
        http_reply_error(r, &e);
        return;
    }
    if (r->route->prepare) {
        r->route->prepare(r);
    }
}

/* One body chunk. Returns false to abort the connection. */
static bool body_chunk(struct http_req *r, const char *data, size_t n)
{
    size_t max = r->srv->ctx->max_body;
    r->body_seen += n;
    if (r->body_seen > max) {
        if (!r->body_too_large) {
            r->body_too_large = true;
            flo_wbuf_free(&r->body);
        }
        /* Chunked uploads have no declared length; swallow a little past the
         * limit so the 413 can be sent, then give up on the connection. */
        return r->body_seen - max <= DISCARD_SLACK;
    }
    if ((r->route->body_methods & HTTP_METHOD_BIT(r->method)) &&
        flo_wbuf_append(&r->body, data, n) < 0) {
        return false;
    }
    return true;
}

static enum MHD_Result queue_reply(struct http_req *r)
{
    if (r->client_gone || r->resp == NULL) {
        return MHD_NO; /* nobody to answer, or out of memory: close */
    }
    http__req_reply_headers(r);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->resp_status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_req *r = *con_cls;
    (void)cls;
    (void)url;
    (void)version;
    if (r == NULL) {
        return MHD_NO; /* the context could not be allocated */
    }
    r->conn = conn;
    switch (r->state) {
    case HTTP_RS_NEW:
        http__req_headers(r, method);
        headers_phase(r, method);
        if (r->state == HTTP_RS_REPLIED && r->resp_status == MHD_HTTP_CONTENT_TOO_LARGE) {
            return queue_reply(r); /* refuse before reading (and before 100-continue) */
        }
        if (r->state == HTTP_RS_REPLIED) {
            /* A reply queued before the request is fully read makes MHD close
             * the connection; wait for the end of the (discarded) body so a
             * client's bad request does not cost it its keep-alive connection. */
            return MHD_YES;
        }
        r->state = HTTP_RS_BODY;
        return MHD_YES;
    case HTTP_RS_BODY:
        if (*upload_data_size != 0) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            return body_chunk(r, upload_data, n) ? MHD_YES : MHD_NO;
        }
        if (r->body_too_large) {
            struct proto_err e;
            proto_err_too_large(&e, "request body is over the limit of %zu bytes",
                                r->srv->ctx->max_body);
            http_reply_error(r, &e);
            return queue_reply(r);
        }
        r->route->start(r);
        if (r->state == HTTP_RS_REPLIED) {
            return queue_reply(r);
        }
        return MHD_YES; /* suspended until the upstream answers */
    case HTTP_RS_WAITING:
        /* MHD does not call a suspended connection; be safe if it does. */
        *upload_data_size = 0;
        return MHD_YES;
    case HTTP_RS_REPLIED:
        if (*upload_data_size != 0) {
            /* The body of a request answered after its headers: count it
             * against the limit and drop it. */
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            r->body_seen += n;
            return r->body_seen <= r->srv->ctx->max_body + DISCARD_SLACK ? MHD_YES : MHD_NO;
        }
        return queue_reply(r);
    }
    return MHD_NO;
}

static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    (void)cls;
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0) {
        return;
    }
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    /* MHD refuses connections over MHD_OPTION_CONNECTION_LIMIT with only
     * this message: count them for flo_sidecar_client_rejected_total. */
    if (strstr(line, "reached connection limit") != NULL) {
        proto_metrics_rejected(PROTO_M_HTTP, PROTO_M_REJ_MAX_CONNECTIONS);
    }
    /* Client resets and the like are routine for a proxy: debug level. */
    FLO_DEBUG("libmicrohttpd", "detail=\"%s\"", line);
}

/* ---- lifecycle ---- */

void http_server_opts_defaults(struct http_server_opts *o)
{
    o->conn_limit = HTTP_DEFAULT_CONN_LIMIT;
    o->conn_memory = HTTP_DEFAULT_CONN_MEMORY;
    o->conn_timeout_s = HTTP_DEFAULT_CONN_TIMEOUT_S;
}

static void handle_close_cb(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    if (--srv->close_pending == 0) {
        free(srv);
    }
}

int http_server_new_opts(const struct proto_ctx *ctx, const char *listen,
                         const struct http_server_opts *o, http_server_t **out)
{
    struct http_server_opts defaults;
    struct sockaddr_storage ss;
    bool v6;
    int rc;

    if (ctx == NULL || ctx->loop == NULL || ctx->pool == NULL || out == NULL) {
        return FLO_EINVAL;
    }
    if (o == NULL) {
        http_server_opts_defaults(&defaults);
        if (ctx->limits.max_http_connections != 0) {
            defaults.conn_limit = ctx->limits.max_http_connections; /* --max-http-connections */
        }
        o = &defaults;
    }
    if (ctx->password != NULL && (rc = proto_auth_set_token(ctx->password)) < 0) {
        return rc;
    }
    proto_longpoll_set_max(ctx->limits.max_longpolls);
    rc = parse_listen(listen, &ss, &v6);
    if (rc < 0) {
        FLO_ERROR("bad HTTP listen address", "listen=\"%s\" want=ADDR:PORT",
                  listen ? listen : "(null)");
        return rc;
    }
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return FLO_ENOMEM;
    }
    srv->ctx = ctx;
    srv->conn_limit = o->conn_limit;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6) {
        flags |= MHD_USE_IPv6;
    }
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, srv,
        /* The logger first, so MHD never falls back to printing on stderr. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->conn_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)o->conn_memory, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->conn_timeout_s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG, MHD_OPTION_URI_LOG_CALLBACK,
        uri_log_cb, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, srv,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv, MHD_OPTION_NOTIFY_CONNECTION,
        http__conn_notify_cb, srv, MHD_OPTION_END);
    if (srv->mhd == NULL) {
        FLO_ERROR("cannot start the HTTP listener", "listen=\"%s\" hint=\"%s\"", listen,
                  "address in use or not local?");
        free(srv);
        return UV_EADDRINUSE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (di == NULL || getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) != 0) {
        MHD_stop_daemon(srv->mhd);
        free(srv);
        return FLO_EINVAL;
    }
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL) {
        MHD_stop_daemon(srv->mhd);
        free(srv);
        return FLO_EINVAL;
    }
    rc = uv_poll_init(ctx->loop, &srv->epoll_watch, di->epoll_fd);
    if (rc < 0) {
        MHD_stop_daemon(srv->mhd);
        free(srv);
        return rc;
    }
    srv->epoll_watch.data = srv;
    uv_timer_init(ctx->loop, &srv->timer);
    srv->timer.data = srv;
    rc = uv_poll_start(&srv->epoll_watch, UV_READABLE, epoll_cb);
    if (rc < 0) {
        srv->closing = true;
        srv->close_pending = 2;
        uv_close((uv_handle_t *)&srv->epoll_watch, handle_close_cb);
        uv_close((uv_handle_t *)&srv->timer, handle_close_cb);
        MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
        return rc;
    }
    run_mhd(srv);
    FLO_INFO("HTTP listening", "listen=\"%s\" port=%u", listen, (unsigned)srv->port);
    *out = srv;
    return 0;
}

int http_server_new(const struct proto_ctx *ctx, const char *listen, http_server_t **out)
{
    return http_server_new_opts(ctx, listen, NULL, out);
}

uint16_t http_server_port(const http_server_t *srv)
{
    return srv->port;
}

void http_server_close(http_server_t *srv)
{
    if (srv == NULL || srv->closing) {
        return;
    }
    /* Stop accepting first (unless a drain did); MHD leaves closing the
     * listen socket to us. */
    MHD_socket lfd = srv->draining ? MHD_INVALID_SOCKET : MHD_quiesce_daemon(srv->mhd);
    /* Answer everything still waiting upstream with 503 and let MHD send
     * those replies before the daemon (and every connection) goes away. */
    struct http_req *r, *tmp;
    DL_FOREACH_SAFE(srv->reqs, r, tmp)
    {
        if (r->state != HTTP_RS_WAITING) {
            continue;
        }
        if (r->call != NULL) {
            flo_pool_cancel(srv->ctx->pool, r->call);
            r->call = NULL;
        }
        ext_release(r);
        http_reply_code(r, FLO_ECLOSING);
        disc_stop(r);
        if (r->conn != NULL) {
            MHD_resume_connection(r->conn);
        }
    }
    MHD_run(srv->mhd); /* moves resumed connections back, queues replies */
    MHD_run(srv->mhd); /* writes them */
    srv->closing = true;
    srv->close_pending = 2;
    uv_close((uv_handle_t *)&srv->epoll_watch, handle_close_cb);
    uv_close((uv_handle_t *)&srv->timer, handle_close_cb);
    /* Closes every connection; completed_cb releases each request. */
    MHD_stop_daemon(srv->mhd);
    srv->mhd = NULL;
    if (lfd != MHD_INVALID_SOCKET) {
        close(lfd);
    }
}

/* ---- graceful shutdown ---- */

/* End one waiting long-poll or event stream: its upstream wait is
 * cancelled and it answers like a closing server (a long-poll gets 503
 * "shutting_down", an event stream ends once its route state is gone). */
static void end_longpoll(struct http_req *r)
{
    if (r->call != NULL) {
        flo_pool_cancel(r->srv->ctx->pool, r->call);
        r->call = NULL;
    }
    ext_release(r);
    http_reply_code(r, FLO_ECLOSING);
    http_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req_resume(r);
}

unsigned http_server_drain(http_server_t *srv, unsigned *ended)
{
    if (srv == NULL || srv->closing) {
        return 0;
    }
    if (!srv->draining) {
        srv->draining = true;
        MHD_socket lfd = MHD_quiesce_daemon(srv->mhd);
        if (lfd != MHD_INVALID_SOCKET) {
            close(lfd);
        }
    }
    unsigned busy = 0;
    struct http_req *r, *tmp;
    DL_FOREACH_SAFE(srv->reqs, r, tmp)
    {
        /* A long-poll or event stream is the one kind of suspended request
         * that watches its socket (http_req_send with FLO_SEND_BLOCKING,
         * http_req_watch_disconnect): it would hold the grace period. */
        if (r->state == HTTP_RS_WAITING && r->disc_open && !r->disc_closing) {
            end_longpoll(r);
            if (ended != NULL) {
                (*ended)++;
            }
            continue;
        }
        /* Received but not answered, or answered but not yet queued. */
        if (r->conn != NULL && (r->state != HTTP_RS_REPLIED || r->resp != NULL)) {
            busy++;
        }
    }
    return busy;
}
