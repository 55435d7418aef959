/*
 * Translation rules shared by the HTTP and RESP front ends: the one table
 * that maps Flo statuses and libflo error codes to an HTTP status, a RESP
 * error prefix, a stable machine code and a message a user can act on; the
 * input limits checked before anything goes upstream; and the context both
 * servers get from the sidecar (loop, pool, defaults).
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flo/flo_buf.h"
#include "flo/flo_pool.h"

#define PROTO_MAX_KEY             (64u * 1024) /* bytes */
#define PROTO_MAX_NAMESPACE       255u         /* bytes */
#define PROTO_DEFAULT_MAX_BODY    (16u * 1024 * 1024)
#define PROTO_UPSTREAM_TIMEOUT_MS 10000u
#define PROTO_BLOCK_MARGIN_MS     5000u /* added to block_ms for the upstream timeout */

struct proto_sess_reg;

/*
 * Resource limits of the client-facing servers (flags of the same names,
 * docs/security.md). A field left 0 means "the default" (see
 * proto_limits_defaults), so a zeroed struct is valid.
 */
#define PROTO_DEFAULT_MAX_HTTP_CONNECTIONS 16384u       /* = HTTP_DEFAULT_CONN_LIMIT */
#define PROTO_DEFAULT_MAX_RESP_CLIENTS     10000u       /* Redis' maxclients default */
#define PROTO_DEFAULT_MAX_RESP_ARGS        65536u       /* elements of one multibulk */
#define PROTO_RESP_BULK_SLACK              (64u * 1024) /* added to max_body */
#define PROTO_DEFAULT_MAX_LONGPOLLS        20000u
#define PROTO_DEFAULT_RESP_OUTPUT_LIMIT    (32u * 1024 * 1024) /* bytes */
struct proto_limits {
    unsigned max_http_connections; /* concurrent HTTP connections (MHD limit) */
    unsigned max_resp_clients;     /* concurrent RESP connections */
    size_t max_resp_args;          /* arguments of one RESP command */
    size_t max_resp_bulk;          /* bytes of one RESP argument; 0 = max_body + slack */
    unsigned max_longpolls;        /* blocking requests waiting, both protocols */
    size_t resp_output_limit;      /* unsent reply bytes of one RESP client */
};
/* Fill every field with its default; max_body (0 = PROTO_DEFAULT_MAX_BODY)
 * sizes max_resp_bulk. */
void proto_limits_defaults(struct proto_limits *l, size_t max_body);
/* *out = *in with each 0 field replaced by its default. in may be NULL. */
void proto_limits_resolve(const struct proto_limits *in, size_t max_body, struct proto_limits *out);

/* What the sidecar hands to each protocol server. Owned by the sidecar;
 * outlives both servers. */
struct proto_ctx {
    uv_loop_t *loop;
    flo_pool_t *pool;
    const char *default_ns;          /* NUL-terminated, <= PROTO_MAX_NAMESPACE */
    size_t max_body;                 /* largest value / request body accepted */
    const char *password;            /* initial RESP AUTH / HTTP bearer token:
                                        when non-NULL the servers install it
                                        with proto_auth_set_token at start;
                                        the live token is proto_auth.h's
                                        (SIGHUP swaps it there) */
    struct proto_sess_reg *sessions; /* consumer sessions (proto_session.h);
                                        NULL = sessions unavailable (503) */
    struct proto_limits limits;      /* 0 fields = defaults */
};

/* One user-facing error. message is NUL-terminated. */
struct proto_err {
    int http_status;         /* 400, 401, 404, 409, 412, 413, 429, 501, 502, 503, 504 */
    const char *resp_prefix; /* "ERR", "CONFLICT", "NOAUTH", "BUSY", "TRYAGAIN" */
    const char *code;        /* stable snake_case code for JSON bodies: "not_found", ... */
    char message[512];
};

/*
 * Map a non-OK Flo status with its optional text body. The message includes
 * the server's text when there is one, else a sentence for the status.
 * A status 9 "not implemented" becomes 501 / "ERR ... not supported by the
 * upstream Flo server".
 */
void proto_err_from_status(struct proto_err *e, uint8_t status, flo_buf_t body);
/* Map a libflo / libuv error code (FLO_ETIMEDOUT -> 504, FLO_EUNAVAIL -> 503, ...). */
void proto_err_from_code(struct proto_err *e, int err);
/* A failed upstream reply: from err when it is non-zero (the call failed),
 * else from the non-OK status and its body. */
void proto_err_from_reply(struct proto_err *e, int err, uint8_t status, flo_buf_t body);
/* A client-side validation error: 400 / ERR / "bad_request" unless given. */
void proto_err_bad_request(struct proto_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 413 / ERR / "too_large". */
void proto_err_too_large(struct proto_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Limit checks: 0, or fill *e and return -1. */
int proto_check_key(flo_buf_t key, struct proto_err *e);
int proto_check_ns(flo_buf_t ns, struct proto_err *e);
int proto_check_value(const struct proto_ctx *ctx, size_t len, struct proto_err *e);

/*
 * Concurrent blocking requests (upstream calls sent with FLO_SEND_BLOCKING:
 * HTTP long-polls and SSE waits, RESP blocking commands, session reads)
 * share one process-wide count and cap (one sidecar process = one loop, so
 * no locking). Each server sets the cap from ctx->limits.max_longpolls at
 * start (0 = PROTO_DEFAULT_MAX_LONGPOLLS). Enter before sending: 0, or
 * PROTO_ELONGPOLLS, which proto_err_from_code maps to 429 / "BUSY" / code
 * "too_many_waiting" ("too many waiting requests"). Every successful enter
 * is paired with exactly one leave (on completion or cancellation).
 */
#define PROTO_ELONGPOLLS (-11001)
void proto_longpoll_set_max(unsigned max);
int proto_longpoll_enter(void);
void proto_longpoll_leave(void);
/* Blocking requests currently counted. */
unsigned proto_longpoll_count(void);

/* Upstream timeout for a request that may block for block_ms. */
static inline uint32_t proto_timeout_for_block(uint32_t block_ms)
{
    return block_ms ? block_ms + PROTO_BLOCK_MARGIN_MS : 0;
}

/* True if buf is valid UTF-8 (for the JSON payload rule: non-UTF-8 payloads
 * travel base64-encoded with "encoding":"base64"). */
bool proto_utf8_valid(flo_buf_t buf);

#endif
