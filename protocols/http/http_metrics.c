/*
 * Observability of the HTTP front end: the GET /metrics route (Prometheus
 * text format 0.0.4, rendered by proto_metrics.c from the registry and from
 * the pool and session counters read at scrape time), request ids
 * (X-Request-Id taken from the client or generated, echoed in every reply
 * and carried by every log line about the request), per-request metrics and
 * the debug-level access line, all fed by a few calls from http_server.c.
 */
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "http_internal.h"
#include "proto_metrics.h"
#include "proto_session.h"

#define HTTP_VERSION_SLACK 11 /* " HTTP/1.1\r\n" after the request target */
#define HEADER_LINE_SLACK  4  /* ": " and "\r\n" around each header field */
#define GENERATED_ID_BYTES 8  /* 16 hex digits */
#define NS_PER_MS          1e6

/* ---- GET /metrics ---- */

static void metrics_start(struct http_req *r)
{
    const struct proto_ctx *ctx = r->srv->ctx;
    struct flo_pool_stats ps;
    flo_pool_stats(ctx->pool, &ps);
    struct proto_metrics_src src = {.pool = &ps, .ready = flo_pool_ready(ctx->pool)};
    if (ctx->sessions != NULL) {
        struct proto_sess_stats ss;
        proto_sess_reg_stats(ctx->sessions, &ss);
        src.have_sessions = true;
        src.http_sessions = ss.http_sessions;
        src.resp_sessions = ss.resp_consumers;
        src.sess_created = ss.created;
        src.sess_expired = ss.expired;
        src.sess_ended = ss.ended;
        src.sess_reattached = ss.reattached;
        src.sess_rejoined = ss.rejoins;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (proto_metrics_render(&src, &b) < 0) {
        http_reply_code(r, FLO_ENOMEM);
    } else {
        http_reply_bytes(r, MHD_HTTP_OK, PROTO_METRICS_CONTENT_TYPE, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

/* Not public: the bearer token guards it like every non-probe route
 * (Prometheus sends it with authorization.credentials_file). */
const struct http_route_def http_metrics_route = {
    .id = HTTP_ROUTE_METRICS,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD),
    .allow = "GET, HEAD",
    .start = metrics_start,
};

/* ---- request ids ---- */

static bool request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (n >= HTTP_REQUEST_ID_MAX || ch <= 0x20 || ch >= 0x7f) {
            return false;
        }
    }
    return n > 0;
}

/* 16 hex digits: a counter mixed through splitmix64 from a random start,
 * so ids are unique within the process and unpredictable across restarts
 * without a system call per request. */
static void request_id_generate(char *out, size_t cap)
{
    static uint64_t next;
    static bool seeded;
    if (!seeded) {
        randombytes_buf(&next, sizeof(next));
        seeded = true;
    }
    uint64_t z = (next += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    snprintf(out, cap, "%0*llx", GENERATED_ID_BYTES * 2, (unsigned long long)z);
}

static enum MHD_Result header_bytes_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    uint64_t *sum = cls;
    (void)kind;
    *sum += strlen(key) + (value ? strlen(value) : 0) + HEADER_LINE_SLACK;
    return MHD_YES;
}

void http__conn_notify_cb(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    proto_metrics_conn(PROTO_M_HTTP, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

void http__req_arrived(struct http_req *r)
{
    r->t0_ns = uv_hrtime();
}

void http__req_headers(struct http_req *r, const char *method)
{
    const char *given = http_req_header(r, HTTP_REQUEST_ID_HEADER);
    if (given != NULL && request_id_ok(given)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", given);
    } else {
        request_id_generate(r->request_id, sizeof(r->request_id));
    }
    uint64_t hdr = 0;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, header_bytes_cb, &hdr);
    r->bytes_in = strlen(method) + 1 + r->uri_len + HTTP_VERSION_SLACK + hdr + 2;
}

void http__req_reply_headers(struct http_req *r)
{
    if (r->resp != NULL && r->request_id[0] != '\0') {
        MHD_add_response_header(r->resp, HTTP_REQUEST_ID_HEADER, r->request_id);
    }
}

const char *http__req_log_id(const struct http_req *r)
{
    static char buf[2 * HTTP_REQUEST_ID_MAX + 3];
    const char *id = r->request_id[0] ? r->request_id : "-";
    if (strpbrk(id, "\"\\=") == NULL) {
        return id;
    }
    /* A client id may hold quotes or '=': quote it so the line stays
     * logfmt. */
    size_t n = 0;
    buf[n++] = '"';
    for (const char *p = id; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
        }
        buf[n++] = *p;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* ---- long-polls ---- */

void http__req_longpoll_begin(struct http_req *r)
{
    if (!r->longpoll) {
        r->longpoll = true;
        proto_metrics_longpoll(PROTO_M_HTTP, 1);
    }
}

void http__req_longpoll_end(struct http_req *r)
{
    if (r->longpoll) {
        r->longpoll = false;
        proto_metrics_longpoll(PROTO_M_HTTP, -1);
    }
}

/* ---- the finished request ---- */

/* A result label for an error reply that did not name its code. */
static const char *result_for_status(unsigned status)
{
    switch (status) {
    case MHD_HTTP_BAD_REQUEST:
        return "bad_request";
    case MHD_HTTP_UNAUTHORIZED:
        return "unauthorized";
    case MHD_HTTP_NOT_FOUND:
        return "not_found";
    case MHD_HTTP_METHOD_NOT_ALLOWED:
        return "method_not_allowed";
    case MHD_HTTP_CONFLICT:
        return "conflict";
    case MHD_HTTP_PRECONDITION_FAILED:
        return "precondition_failed";
    case MHD_HTTP_CONTENT_TOO_LARGE:
        return "too_large";
    case MHD_HTTP_TOO_MANY_REQUESTS:
        return "overloaded";
    case MHD_HTTP_NOT_IMPLEMENTED:
        return "not_supported";
    case MHD_HTTP_BAD_GATEWAY:
        return "upstream_error";
    case MHD_HTTP_SERVICE_UNAVAILABLE:
        return "unavailable";
    case MHD_HTTP_GATEWAY_TIMEOUT:
        return "upstream_timeout";
    default:
        return "error";
    }
}

void http__req_finished(struct http_req *r)
{
    uint64_t ns = uv_hrtime() - r->t0_ns;
    const char *op = http_route_op(r->target.route, r->method);
    const char *result;
    if (r->client_gone || r->resp_status == 0) {
        result = "client_closed"; /* the client left before a reply existed */
    } else if (r->resp_status < MHD_HTTP_BAD_REQUEST) {
        result = "ok";
    } else if (r->result[0] != '\0') {
        result = r->result;
    } else {
        result = result_for_status(r->resp_status);
    }
    uint64_t in = r->bytes_in + r->body_seen;
    proto_metrics_request(PROTO_M_HTTP, op, result, ns);
    proto_metrics_bytes(PROTO_M_HTTP, in, r->bytes_out);
    if (r->resp_status == MHD_HTTP_UNAUTHORIZED) {
        proto_metrics_rejected(PROTO_M_HTTP, PROTO_M_REJ_AUTH);
    } else if (r->resp_status == MHD_HTTP_CONTENT_TOO_LARGE) {
        proto_metrics_rejected(PROTO_M_HTTP, PROTO_M_REJ_TOO_LARGE);
    }
    double ms = (double)ns / NS_PER_MS;
    if (r->resp_status >= MHD_HTTP_INTERNAL_SERVER_ERROR) {
        FLO_WARN("HTTP request failed",
                 "method=%s op=%s status=%u result=%s duration_ms=%.3f request_id=%s",
                 http_method_name(r->method), op, r->resp_status, result, ms, http__req_log_id(r));
    }
    if (flo_log_get_level() > FLO_LOG_DEBUG) {
        return;
    }
    FLO_DEBUG("HTTP request",
              "method=%s op=%s status=%u result=%s duration_ms=%.3f bytes_in=%llu "
              "bytes_out=%llu request_id=%s",
              http_method_name(r->method), op, r->resp_status, result, ms, (unsigned long long)in,
              (unsigned long long)r->bytes_out, http__req_log_id(r));
}
