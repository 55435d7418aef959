/*
 * Request-target parsing for the HTTP front end, kept free of libmicrohttpd
 * so it can be unit-tested and fuzzed on its own: percent-decoding with
 * explicit lengths (keys are binary: %00 and %2F are ordinary key bytes),
 * route matching on the raw path, query-string iteration, the KV query
 * parameters, and the If-Match / If-None-Match preconditions.
 *
 * Nothing here allocates except into caller-owned flo_wbuf buffers.
 */
#ifndef HTTP_ROUTE_H
#define HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "proto.h"

/* Request methods the API knows; anything else is HTTP_M_OTHER (405). */
enum http_method_e {
    HTTP_M_GET = 0,
    HTTP_M_HEAD,
    HTTP_M_PUT,
    HTTP_M_POST,
    HTTP_M_DELETE,
    HTTP_M_PATCH,
    HTTP_M_OPTIONS,
    HTTP_M_OTHER,
};
#define HTTP_METHOD_BIT(m) (1u << (m))

/* Map a method token ("GET", ...) to its enum; case-sensitive (RFC 9110). */
enum http_method_e http_method_parse(const char *method);
/* The token for a method ("GET"), "OTHER" for HTTP_M_OTHER. */
const char *http_method_name(enum http_method_e m);

enum http_route_e {
    HTTP_ROUTE_NONE = 0,   /* no route: 404 */
    HTTP_ROUTE_HEALTHZ,    /* /healthz */
    HTTP_ROUTE_READYZ,     /* /readyz */
    HTTP_ROUTE_KV_KEY,     /* /v1/kv/{key} */
    HTTP_ROUTE_KV_SCAN,    /* /v1/kv (scan) */
    HTTP_ROUTE_KV_MGET,    /* POST /v1/kv/mget (other methods: the key "mget") */
    HTTP_ROUTE_KV_TXN,     /* POST /v1/kv/txn (other methods: the key "txn") */
    HTTP_ROUTE_KV_HISTORY, /* /v1/kv/{key}/history */
    HTTP_ROUTE_KV_INCR,    /* /v1/kv/{key}/incr */
    HTTP_ROUTE_KV_TTL,     /* /v1/kv/{key}/ttl */
    HTTP_ROUTE_KV_JSON,    /* /v1/kv/{key}/json */
    /* Queues (issue 5); {q} is decoded into http_target.key like a KV key. */
    HTTP_ROUTE_QUEUES,            /* /v1/queues (list) */
    HTTP_ROUTE_QUEUE,             /* /v1/queues/{q} (stats) */
    HTTP_ROUTE_QUEUE_MESSAGES,    /* /v1/queues/{q}/messages (enqueue, purge) */
    HTTP_ROUTE_QUEUE_DEQUEUE,     /* /v1/queues/{q}/dequeue */
    HTTP_ROUTE_QUEUE_PEEK,        /* /v1/queues/{q}/peek */
    HTTP_ROUTE_QUEUE_ACK,         /* /v1/queues/{q}/ack */
    HTTP_ROUTE_QUEUE_NACK,        /* /v1/queues/{q}/nack */
    HTTP_ROUTE_QUEUE_TOUCH,       /* /v1/queues/{q}/touch */
    HTTP_ROUTE_QUEUE_DLQ,         /* /v1/queues/{q}/dlq (list) */
    HTTP_ROUTE_QUEUE_DLQ_REQUEUE, /* /v1/queues/{q}/dlq/requeue */
    HTTP_ROUTE_QUEUE_DLQ_DELETE,  /* /v1/queues/{q}/dlq/delete */
    /* Streams (issue 6); {s} is decoded into http_target.key, {g} into
     * http_target.group. */
    HTTP_ROUTE_STREAMS,              /* /v1/streams (list) */
    HTTP_ROUTE_STREAM,               /* /v1/streams/{s} (create, info, delete) */
    HTTP_ROUTE_STREAM_RECORDS,       /* /v1/streams/{s}/records (append, read) */
    HTTP_ROUTE_STREAM_TRIM,          /* /v1/streams/{s}/trim */
    HTTP_ROUTE_STREAM_GROUP,         /* /v1/streams/{s}/groups/{g} */
    HTTP_ROUTE_STREAM_GROUP_SWEEPER, /* /v1/streams/{s}/groups/{g}/sweeper */
    HTTP_ROUTE_STREAM_GROUP_PENDING, /* /v1/streams/{s}/groups/{g}/pending */
    /* Consumer sessions (issue 6); {id} is the session id text, copied as
     * sent into http_target.key (base64url: no escapes to decode). */
    HTTP_ROUTE_STREAM_GROUP_SESSIONS, /* /v1/streams/{s}/groups/{g}/sessions (create) */
    HTTP_ROUTE_SESSION,               /* /v1/sessions/{id} (info, delete) */
    HTTP_ROUTE_SESSION_RECORDS,       /* /v1/sessions/{id}/records (read, SSE) */
    HTTP_ROUTE_SESSION_ACK,           /* /v1/sessions/{id}/ack */
    HTTP_ROUTE_SESSION_NACK,          /* /v1/sessions/{id}/nack */
    HTTP_ROUTE_SESSION_TOUCH,         /* /v1/sessions/{id}/touch */
    HTTP_ROUTE_METRICS,               /* /metrics (Prometheus) */
};

/*
 * The stable operation name of a route reached with method m, used as the
 * `op` label of the request metrics and in access logs: "kv_get",
 * "kv_put", "stream_read", "session_records"... ("unmatched" for
 * HTTP_ROUTE_NONE). A static string.
 */
const char *http_route_op(enum http_route_e route, enum http_method_e m);

/* The parsed request target. */
struct http_target {
    enum http_route_e route;
    struct flo_wbuf key;   /* decoded {key} / {q} / {s} bytes (owned) */
    struct flo_wbuf group; /* decoded {g} of the consumer-group routes (owned) */
    const char *query;     /* raw query string after '?', borrowed from the URI */
    size_t query_len;      /* 0 if there is none */
};

/* Initialise / release a target (frees the decoded key). */
void http_target_init(struct http_target *t);
void http_target_free(struct http_target *t);

/*
 * Percent-decode s[0..n) and append the bytes to out. "%XX" (hex, either
 * case) becomes one byte, any byte included; '+' becomes a space only when
 * plus_is_space (query strings, as HTML forms encode them; never in paths).
 * Returns 0, FLO_EINVAL for a '%' not followed by two hex digits (out is
 * then left with a partial result), or FLO_ENOMEM.
 */
int http_pct_decode(const char *s, size_t n, bool plus_is_space, struct flo_wbuf *out);

/*
 * Match the raw request URI (path and optional "?query", as the client sent
 * it, still percent-encoded) against the route table. Fills *t on success.
 * Returns 0, or -1 with *e filled: 404 "not_found" for an unknown path (with
 * a hint when a key seems to contain an unencoded '/'), 400 for a bad
 * percent-escape or an empty key, 413 for a key over PROTO_MAX_KEY, and
 * 404 "unknown_session" for a session id that is empty, longer than
 * PROTO_SESS_ID_MAX or not base64url text (checked before anything else
 * looks at it).
 */
int http_route_match(const char *uri, size_t len, struct http_target *t, struct proto_err *e);

/*
 * The route a method really reaches: POST /v1/kv/mget and POST /v1/kv/txn
 * are the batch endpoints, every other method on those two paths addresses
 * the key literally named "mget" / "txn" (HTTP_ROUTE_KV_KEY), so such keys
 * stay reachable. Any other route is returned unchanged.
 */
enum http_route_e http_route_for_method(enum http_route_e route, enum http_method_e m);

/* Iterates "a=1&b=2" pairs; decoded name and value go to caller buffers. */
struct http_query_iter {
    const char *p;   /* next unread byte */
    const char *end; /* one past the last byte */
};
void http_query_iter_init(struct http_query_iter *it, const char *query, size_t len);
/*
 * Decode the next non-empty pair into name/value (both reset first). A pair
 * without '=' has an empty value. Returns 1 for a pair, 0 at the end,
 * FLO_EINVAL for a bad escape, FLO_ENOMEM.
 */
int http_query_next(struct http_query_iter *it, struct flo_wbuf *name, struct flo_wbuf *value);

/*
 * Strict unsigned decimal: 1..20 digits, no sign, no spaces, value <= max.
 * Returns 0 and *out, or FLO_EINVAL.
 */
int http_parse_uint(const uint8_t *s, size_t n, uint64_t max, uint64_t *out);

/* Strict signed decimal: optional '-', then digits, within int64.
 * 0 and *out, or FLO_EINVAL. */
int http_parse_i64(const uint8_t *s, size_t n, int64_t *out);

/* How a GET chooses its response body. */
enum http_format_e {
    HTTP_FMT_DEFAULT = 0, /* not asked for: decided by the Accept header */
    HTTP_FMT_RAW,         /* ?format=raw: value bytes */
    HTTP_FMT_JSON,        /* ?format=json: JSON envelope */
};

/* Query parameters of /v1/kv/{key}. Which ones a method accepts is checked
 * by http_kv_params_parse. */
struct http_kv_params {
    struct flo_wbuf ns; /* ?namespace= (decoded, owned); has_ns tells if given */
    bool has_ns;
    bool has_block, has_wait, has_ttl;
    uint32_t block_ms; /* clamped to FLO_MAX_BLOCK_MS */
    uint32_t wait_ms;  /* clamped to FLO_MAX_BLOCK_MS */
    uint64_t ttl_ms;   /* 0 = no TTL */
    enum http_format_e format;
    /* Sub-resource and batch routes (parsed with http_query_parse). */
    bool has_limit, has_delta, has_path, has_cursor, has_prefix;
    uint64_t limit;         /* history / scan page size */
    int64_t delta;          /* incr */
    bool keys_only;         /* scan */
    struct flo_wbuf path;   /* JSON path (owned) */
    struct flo_wbuf prefix; /* scan prefix (owned) */
    struct flo_wbuf cursor; /* scan cursor as sent: base64url text (owned) */
};
void http_kv_params_init(struct http_kv_params *p);
void http_kv_params_free(struct http_kv_params *p);

/*
 * Parse the query of a /v1/kv/{key} request for method m. Accepted:
 * namespace (all methods), format/block_ms/wait_ms (GET), ttl_ms (PUT).
 * Unknown or inapplicable parameters, repeated parameters, bad numbers,
 * an empty namespace, and block_ms together with wait_ms are 400 with a
 * message naming the parameter. Returns 0, or -1 with *e filled.
 */
int http_kv_params_parse(enum http_method_e m, const char *query, size_t len,
                         struct http_kv_params *p, struct proto_err *e);

/* One query parameter a route accepts, for http_query_parse. */
enum http_qparam_kind_e {
    HTTP_QP_U64,   /* strict unsigned decimal <= max */
    HTTP_QP_I64,   /* optional '-' then decimal, within int64 */
    HTTP_QP_BOOL,  /* true/false/1/0 (an empty value means true) */
    HTTP_QP_BYTES, /* percent-decoded bytes into *bytes (<= max bytes) */
};
struct http_qparam {
    const char *name;
    enum http_qparam_kind_e kind;
    uint64_t max;           /* U64: largest value; BYTES: longest value */
    const char *what;       /* how to describe a valid value in errors */
    bool seen;              /* out: the parameter was given */
    uint64_t u;             /* out: U64 */
    int64_t i;              /* out: I64 */
    bool b;                 /* out: BOOL */
    struct flo_wbuf *bytes; /* BYTES: caller-owned destination */
};

/*
 * Parse a query string against a table of accepted parameters. Unknown and
 * repeated parameters, bad escapes and bad values are 400 with a message
 * naming the parameter and `route` (e.g. "GET /v1/kv"). Returns 0, or -1
 * with *e filled.
 */
int http_query_parse(const char *query, size_t len, struct http_qparam *ps, size_t n,
                     const char *route, struct proto_err *e);

/* A parsed If-Match / If-None-Match header. */
enum http_precond_e {
    HTTP_PRE_NONE = 0, /* header absent */
    HTTP_PRE_ANY,      /* "*" */
    HTTP_PRE_VERSION,  /* one entity tag "N" (or a bare N) */
};
struct http_precond {
    enum http_precond_e kind;
    uint64_t version; /* HTTP_PRE_VERSION only */
};

/*
 * Parse an If-Match or If-None-Match value (NULL = absent). Accepts "*",
 * "\"N\"" and a bare N (decimal u64), surrounded by optional spaces. Weak
 * tags (W/"N") and lists of tags are refused: versions compare strongly
 * and Flo's CAS takes exactly one version. Returns 0 or -1 with *e (400).
 */
int http_parse_precond(const char *header_name, const char *value, struct http_precond *out,
                       struct proto_err *e);

#endif
