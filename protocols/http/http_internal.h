/*
 * Declarations shared inside protocols/http/: the server object, the
 * per-request context, and the helpers route handlers use to reply and to
 * call upstream. Not part of the module's public API (http_server.h).
 *
 * Life of a request: libmicrohttpd (MHD) hands us the raw URI first
 * (uri-log callback: the context is allocated there), then calls the access
 * handler once after the headers (route->prepare: validate, reject early),
 * once per body chunk, and once at the end of the body (route->start). A
 * handler either replies at once (http_reply_*) or calls http_req_send,
 * which suspends the MHD connection; the upstream completion builds the
 * reply and resumes the connection, and the next access-handler call queues
 * the reply. MHD's request-completed notification releases the context.
 */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flo/flo_buf.h"
#include "flo/flo_codec.h"
#include "flo/flo_pool.h"
#include "http_route.h"
#include "http_server.h"
#include "proto.h"

struct http_req;

#define HTTP_REQUEST_ID_MAX    128 /* longest X-Request-Id taken from a client */
#define HTTP_REQUEST_ID_HEADER "X-Request-Id"
#define HTTP_RESULT_MAX        48 /* error code bytes kept for metrics */

/* A route: which methods it serves and its two phases. */
struct http_route_def {
    enum http_route_e id;
    unsigned methods;      /* HTTP_METHOD_BIT set */
    const char *allow;     /* Allow header value for 405 */
    unsigned body_methods; /* methods whose body is kept (bounded by max_body);
                              other bodies are counted and dropped */
    bool public;           /* reachable without the bearer token (probes) */
    /* After the headers: parse and validate; may reply (then start is not
     * called). Optional. */
    void (*prepare)(struct http_req *r);
    /* After the body: reply or http_req_send. */
    void (*start)(struct http_req *r);
};

/* Completion of an upstream call made with http_req_send. Must reply. */
typedef void (*http_done_cb)(struct http_req *r, int err, uint8_t status, flo_buf_t body);

enum http_req_state_e {
    HTTP_RS_NEW = 0, /* URI seen, access handler not called yet */
    HTTP_RS_BODY,    /* headers done, receiving the body */
    HTTP_RS_WAITING, /* suspended, upstream call in flight */
    HTTP_RS_REPLIED, /* a reply is ready / queued */
};

/* One HTTP request. Owns everything allocated for it; freed only by
 * req_release once MHD is done with it and its disconnect watch (if any)
 * has closed. */
struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;  /* NULL once MHD completed the request */
    struct http_req *prev, *next; /* srv->reqs (live requests) */
    char *uri;                    /* raw request target as sent (owned) */
    size_t uri_len;
    enum http_method_e method;
    enum http_req_state_e state;
    const struct http_route_def *route;
    struct http_target target; /* route id, decoded key, raw query */
    struct http_kv_params kv;  /* KV query parameters */
    struct http_precond if_match, if_none_match;
    flo_buf_t ns;              /* namespace in effect (view into kv.ns,
                                  ns_hdr or ctx->default_ns) */
    struct flo_wbuf ns_hdr;    /* X-Flo-Namespace copy (owned) */
    bool want_json;            /* GET answers with the JSON envelope */
    struct flo_wbuf body;      /* request body (owned, <= max_body) */
    uint64_t body_seen;        /* body bytes received (kept or not) */
    bool body_too_large;       /* stop buffering; 413 at the end */
    struct flo_wbuf opts;      /* TLV options of the upstream request */
    flo_call_t *call;          /* pending upstream call, NULL if none */
    bool lp_slot;              /* call holds a --max-longpolls slot (proto.h) */
    http_done_cb done;         /* its completion */
    struct MHD_Response *resp; /* reply to queue (owned until queued) */
    unsigned resp_status;
    uv_poll_t disc;                          /* client-disconnect watch while a
                                                long-poll is suspended */
    bool disc_open;                          /* disc initialised and not yet closed */
    bool disc_closing;                       /* uv_close issued, close cb pending */
    bool client_gone;                        /* the client hung up while waiting */
    void *ext;                               /* state of a multi-step route (scan, mget, txn...),
                                                owned through ext_release */
    void (*ext_release)(struct http_req *r); /* stops the route's work in flight
                                                 (no completion runs after it) and
                                                 frees ext; called once, by the server */
    void (*on_gone)(struct http_req *r);     /* optional: the client hung up while
the request was suspended with a
disconnect watch; stops the route's
work (its completion must not run) */
    /* Metrics and request logs (http_metrics.c). */
    uint64_t t0_ns;                           /* uv_hrtime when the request arrived */
    uint64_t bytes_in, bytes_out;             /* request line+headers+body, reply body */
    char result[HTTP_RESULT_MAX];             /* error code of the reply ("" = by status) */
    bool longpoll;                            /* counted in flo_sidecar_longpolls_waiting */
    char request_id[HTTP_REQUEST_ID_MAX + 1]; /* X-Request-Id, given or generated */
};

/* The server: MHD daemon driven from the libuv loop. Freed after every
 * embedded handle has closed (close_pending reaches 0 after closing). */
struct http_server {
    const struct proto_ctx *ctx;
    struct MHD_Daemon *mhd;
    uv_poll_t epoll_watch; /* readiness of MHD's epoll fd */
    uv_timer_t timer;      /* MHD_get_timeout, and "run soon" kicks */
    uint16_t port;
    bool closing;
    bool draining;         /* http_server_drain ran: not accepting any more */
    int close_pending;     /* handles whose close cb has not run yet */
    struct http_req *reqs; /* live requests (utlist DL) */
    uint64_t nreqs;        /* live request count */
    unsigned conn_limit;   /* MHD_OPTION_CONNECTION_LIMIT (--max-http-connections) */
    bool at_conn_limit;    /* MHD had conn_limit connections after its last run */
};

/* ---- replies (http_server.c); each replaces any earlier reply ---- */

/* A reply with a body copied from `body` (may be empty) and a Content-Type
 * (NULL = none). Sets r->state to HTTP_RS_REPLIED. */
void http_reply_bytes(struct http_req *r, unsigned status, const char *ctype, flo_buf_t body);
/* JSON body (already serialised). */
void http_reply_json(struct http_req *r, unsigned status, const struct flo_wbuf *json);
/* {"error": message, "code": code} with e->http_status. */
void http_reply_error(struct http_req *r, const struct proto_err *e);
/* That error object serialised into b (initialised here; the caller frees
 * it in any case). 0 or FLO_ENOMEM. */
int http_error_json(struct flo_wbuf *b, const struct proto_err *e);
/* Shorthands that build the proto_err first. */
void http_reply_code(struct http_req *r, int err);
/* Add a header to the prepared reply (after an http_reply_*). */
void http_reply_header(struct http_req *r, const char *name, const char *value);
/* X-Flo-Version: N and ETag: "N". */
void http_reply_version(struct http_req *r, uint64_t version);

/*
 * Send `req` upstream on the shared pool and suspend the connection until
 * `done` runs. Returns 0, or a negative code without suspending (the caller
 * replies with it). With FLO_SEND_BLOCKING the client socket is watched for
 * a hang-up so an abandoned long-poll is cancelled at once.
 */
int http_req_send(struct http_req *r, const struct flo_req *req, uint32_t timeout_ms,
                  unsigned flags, http_done_cb done);

/*
 * For a route whose upstream work does not go through http_req_send (the
 * transaction runner): suspend the connection until http_req_resume, which
 * the route calls once it has built the reply. Set r->ext_release first so
 * the server can stop the work if it closes meanwhile.
 */
void http_req_suspend(struct http_req *r);
void http_req_resume(struct http_req *r);

/*
 * Watch the client socket of a request suspended with http_req_suspend for
 * a hang-up (http_req_send does this itself for blocking calls). On a
 * hang-up r->client_gone is set, r->on_gone runs and the request is resumed
 * (and then closed). The watch stops when the request is resumed.
 */
void http_req_watch_disconnect(struct http_req *r);

/* Request header value, NULL if absent. */
const char *http_req_header(struct http_req *r, const char *name);

/* ---- routes ---- */

/* The KV routes (http_kv.c). */
extern const struct http_route_def http_kv_route;
/* /v1/kv/{key}/history, /incr, /ttl, /json (http_kv_ext.c). */
extern const struct http_route_def http_kv_history_route;
extern const struct http_route_def http_kv_incr_route;
extern const struct http_route_def http_kv_ttl_route;
extern const struct http_route_def http_kv_json_route;
/* GET /v1/kv (scan) and POST /v1/kv/mget (http_kv_batch.c). */
extern const struct http_route_def http_kv_scan_route;
extern const struct http_route_def http_kv_mget_route;
/* POST /v1/kv/txn (http_kv_txn.c). */
extern const struct http_route_def http_kv_txn_route;

/* The queue routes: list, stats, messages (enqueue / purge), dequeue, peek,
 * dlq (http_queue.c); ack, nack, touch, dlq/requeue, dlq/delete
 * (http_queue_seq.c). */
extern const struct http_route_def http_queue_list_route;
extern const struct http_route_def http_queue_stats_route;
extern const struct http_route_def http_queue_messages_route;
extern const struct http_route_def http_queue_dequeue_route;
extern const struct http_route_def http_queue_peek_route;
extern const struct http_route_def http_queue_dlq_route;
extern const struct http_route_def http_queue_ack_route;
extern const struct http_route_def http_queue_nack_route;
extern const struct http_route_def http_queue_touch_route;
extern const struct http_route_def http_queue_dlq_requeue_route;
extern const struct http_route_def http_queue_dlq_delete_route;

/* The stream routes: list, stream (create / info / delete), records
 * (append / read), trim (http_stream.c); consumer groups: group (create /
 * info / delete), sweeper, pending (http_stream_group.c). */
extern const struct http_route_def http_stream_list_route;
extern const struct http_route_def http_stream_route;
extern const struct http_route_def http_stream_records_route;
extern const struct http_route_def http_stream_trim_route;
extern const struct http_route_def http_stream_group_route;
extern const struct http_route_def http_stream_sweeper_route;
extern const struct http_route_def http_stream_pending_route;

/* Consumer sessions (http_session.c): create under a group, info / delete,
 * records (long-poll or SSE), ack, nack, touch. */
extern const struct http_route_def http_session_create_route;
extern const struct http_route_def http_session_route;
extern const struct http_route_def http_session_records_route;
extern const struct http_route_def http_session_ack_route;
extern const struct http_route_def http_session_nack_route;
extern const struct http_route_def http_session_touch_route;

/* ---- metrics and request logs (http_metrics.c) ---- */

/* GET /metrics: the Prometheus text exposition. */
extern const struct http_route_def http_metrics_route;
/* MHD_OPTION_NOTIFY_CONNECTION: keeps flo_sidecar_client_connections. */
void http__conn_notify_cb(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe);
/* The request arrived (uri-log callback): start its clock. */
void http__req_arrived(struct http_req *r);
/* Headers are in: take X-Request-Id when it is 1..HTTP_REQUEST_ID_MAX
 * printable ASCII bytes without spaces, else generate 16 hex digits; count
 * the request line and headers as received bytes. */
void http__req_headers(struct http_req *r, const char *method);
/* Add X-Request-Id to the reply about to be queued. */
void http__req_reply_headers(struct http_req *r);
/* The request suspends on a blocking wait (long-poll) / stops waiting.
 * Both idempotent. */
void http__req_longpoll_begin(struct http_req *r);
void http__req_longpoll_end(struct http_req *r);
/* MHD is done with the request: count it (op, result, latency, bytes) and
 * write the debug access line (and a warning for a 5xx). */
void http__req_finished(struct http_req *r);
/* The request id in a form safe for a logfmt value (quoted if needed);
 * valid until the next call. */
const char *http__req_log_id(const struct http_req *r);

/* ---- shared by the KV route files ---- */

#define HTTP_NS_HEADER "X-Flo-Namespace"

/*
 * Choose the namespace of a KV request: ?namespace= (already parsed into
 * r->kv.ns / has_ns) wins over X-Flo-Namespace, which wins over the
 * sidecar's default. Sets r->ns. 0, or -1 with *e (400).
 */
int http_kv_pick_namespace(struct http_req *r, struct proto_err *e);
#define HTTP_QUERY_MAX_EXTRA 8 /* route query parameters besides namespace */

/*
 * Parse the query of a KV sub-resource or batch route: `namespace` plus the
 * n (<= HTTP_QUERY_MAX_EXTRA) parameters described by `extra`; the parsed copies land in
 * out[0..n) (which may be `extra` itself). Then picks the namespace.
 * `route` names the route in messages. 0, or -1 with *e (400).
 */
int http_kv_parse_query(struct http_req *r, const struct http_qparam *extra, size_t n,
                        struct http_qparam *out, const char *route, struct proto_err *e);
/* ---- shared by all route files (http_reply.c) ---- */

struct http_json;

/* Head of a completion: 0 to go on with an OK body, -1 once a reply
 * (transport error or non-OK Flo status, via http_kv_reply_status) has
 * been made. */
int http_check_reply(struct http_req *r, int err, uint8_t status, flo_buf_t body);
/* The same with route-specific replies for NOT_FOUND and CONFLICT (each
 * optional: NULL leaves that status to http_kv_reply_status). */
int http_check_reply_with(struct http_req *r, int err, uint8_t status, flo_buf_t body,
                          void (*on_not_found)(struct http_req *r),
                          void (*on_conflict)(struct http_req *r));
/* Serialise a finished JSON body with `status`, or 503 if building it
 * failed. Frees b either way. */
void http_reply_built(struct http_req *r, unsigned status, struct flo_wbuf *b,
                      const struct http_json *j);
/* Finish a namespace listing whose array of n entries is open in j: close
 * it, add "count" and "has_more" (from the optional shard-walk trailer left
 * after the entries: a non-zero first byte means the list was cut), close
 * the object and reply 200 (http_reply_built, so b is freed). */
void http_reply_list_end(struct http_req *r, struct flo_wbuf *b, struct http_json *j, uint64_t n,
                         flo_buf_t trailer);
/* http_req_send, replying with the error if the call cannot be sent. */
void http_send_or_reply(struct http_req *r, const struct flo_req *req, uint32_t timeout,
                        unsigned flags, http_done_cb done);
/* http_kv_parse_query with ps as both input and output, replying 400 on
 * failure. 0, or -1 once the reply is made. */
int http_parse_query_or_reply(struct http_req *r, struct http_qparam *ps, size_t n,
                              const char *route);

/* Reply for a non-OK Flo status (the shared mapping). */
void http_kv_reply_status(struct http_req *r, uint8_t status, flo_buf_t body);
/* 404 for a missing key, naming the namespace when printable. */
void http_kv_reply_not_found(struct http_req *r);
/* The If-Match header of a write as a CAS version: 0, with *has set and
 * *version the version to compare; -1 with *e for a bad header (and for
 * If-Match: *, which has no meaning where the key must exist anyway). */
int http_kv_if_match(struct http_req *r, bool *has, uint64_t *version, struct proto_err *e);

#endif
