/*
 * The upstream connection pool: N pipelined connections per Flo address on
 * one libuv loop, plus a separate lane of connections for blocking requests
 * (block_ms / wait_ms long-polls) so a long-poll never shares a connection
 * with latency-sensitive traffic. Reconnects with exponential backoff and
 * jitter, fails over between addresses, authenticates each new connection
 * when an API key is configured, and reports readiness (>= 1 connection up).
 *
 * Everything runs on the loop thread; no function here blocks. Callbacks are
 * never invoked synchronously from flo_pool_send (errors detected while
 * sending are delivered on a later loop iteration), so callers need not
 * guard against re-entrancy.
 */
#ifndef FLO_POOL_H
#define FLO_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flo_buf.h"
#include "flo_codec.h"
#include "flo_error.h"

typedef struct flo_pool flo_pool_t;
typedef struct flo_call flo_call_t;

/*
 * Completion of one request. err is 0 when a response arrived (then `status`
 * is the Flo status byte and `body` the response body, valid only during the
 * callback), or a negative code: FLO_ETIMEDOUT, FLO_ECONNCLOSED (connection
 * died with the request in flight), FLO_EUNAVAIL (no connection usable),
 * FLO_ECLOSING (pool shutting down). Called exactly once per successful
 * flo_pool_send, unless the call was cancelled.
 */
typedef void (*flo_call_cb)(void *arg, int err, uint8_t status, flo_buf_t body);

/* Called when readiness changes (ready = at least one connection usable). */
typedef void (*flo_pool_ready_cb)(void *arg, bool ready);

struct flo_pool_config {
    const char *const *addrs;         /* "host:port" strings, copied */
    size_t naddrs;                    /* >= 1 */
    unsigned conns_per_addr;          /* pipelined connections per address (default 2) */
    unsigned longpoll_conns_per_addr; /* blocking-request lane per address (default 1) */
    const char *api_key;              /* NULL = none; copied */
    uint32_t connect_timeout_ms;      /* default 3000 */
    uint32_t request_timeout_ms;      /* default for non-blocking requests, 10000 */
    uint32_t backoff_min_ms;          /* first reconnect delay, default 100 */
    uint32_t backoff_max_ms;          /* cap, default 5000 */
    uint32_t max_inflight_per_conn;   /* default 4096; beyond it send fails FLO_ELIMIT */
    uint32_t max_frame;               /* largest response accepted, default 16 MiB + 1 KiB */
    uint32_t max_request_frame;       /* largest request sent, default FLO_MAX_PROCESSED_FRAME:
                                         a real server stalls the connection on larger
                                         frames, so flo_pool_send refuses them (FLO_ETOOBIG) */
    flo_pool_ready_cb on_ready;       /* optional */
    void *on_ready_arg;
};

/* Fill *cfg with the defaults above (addrs NULL). */
void flo_pool_config_defaults(struct flo_pool_config *cfg);

/*
 * Create a pool on `loop` and start connecting. Address strings are resolved
 * asynchronously (uv_getaddrinfo). Returns 0 and *out, or FLO_EINVAL
 * (bad address syntax) / FLO_ENOMEM. The caller owns the pool and ends it
 * with flo_pool_close.
 */
int flo_pool_new(uv_loop_t *loop, const struct flo_pool_config *cfg, flo_pool_t **out);

/*
 * Close every connection; in-flight calls complete with FLO_ECLOSING before
 * this returns or on the next loop iterations. The pool memory is freed once
 * every libuv handle has closed; `done` (optional) is called then.
 */
void flo_pool_close(flo_pool_t *pool, void (*done)(void *arg), void *arg);

enum flo_send_flags_e {
    FLO_SEND_BLOCKING = 1 << 0,   /* long-poll: route to the blocking lane */
    FLO_SEND_IDEMPOTENT = 1 << 1, /* may be retried once on another connection
                                    if its connection dies before the reply */
};

/*
 * Send a request. req->request_id is ignored (the pool assigns ids unique
 * across the pool); req's buffers are copied into the frame before this
 * returns. timeout_ms 0 = the configured default; for FLO_SEND_BLOCKING
 * pass the block time plus a margin. On success returns 0 and, if `out` is
 * non-NULL, a handle usable with flo_pool_cancel until the callback runs.
 * Returns FLO_EINVAL / FLO_ENOMEM / FLO_ETOOBIG (frame over max_request_frame)
 * / FLO_ELIMIT (every usable connection at max_inflight_per_conn or its
 * write backlog limit, or the start-up queue full) / FLO_ECLOSING (after
 * flo_pool_close) synchronously without calling `cb`.
 * If no connection is up the call waits in a bounded queue for one, at most
 * min(timeout, connect_timeout_ms); then it fails through `cb` with
 * FLO_EUNAVAIL. FLO_SEND_IDEMPOTENT keeps a copy of the frame for the retry.
 */
int flo_pool_send(flo_pool_t *pool, const struct flo_req *req, uint32_t timeout_ms, unsigned flags,
                  flo_call_cb cb, void *arg, flo_call_t **out);

/*
 * Like flo_pool_send, but every request sent with the same `affinity` goes to
 * the same connection of its lane while that connection stays up, so the
 * server reads them in the order they were sent (a Flo server parses a
 * connection's frames in order; per-key work then stays ordered). Used to
 * keep one client's pipelined commands in order without waiting for each
 * reply. If that connection is up but full the call fails with FLO_ELIMIT
 * rather than overtaking on another connection; if it is down, another
 * connection of the lane is used.
 */
int flo_pool_send_affine(flo_pool_t *pool, uint32_t affinity, const struct flo_req *req,
                         uint32_t timeout_ms, unsigned flags, flo_call_cb cb, void *arg,
                         flo_call_t **out);

/*
 * Detach a call's owner: its callback will never be invoked. Safe to call
 * any time before the callback has run. The pool frees its own record when
 * the response or the timeout arrives.
 */
void flo_pool_cancel(flo_pool_t *pool, flo_call_t *call);

/* True if at least one connection is connected (and authenticated). */
bool flo_pool_ready(const flo_pool_t *pool);

/* The latest connection failure (a libflo / libuv code, FLO_EAUTH when the
 * server refused the API key), or 0 since a connection came up: lets a
 * readiness probe say why it is not ready. */
int flo_pool_last_error(const flo_pool_t *pool);

/* Upper bounds (seconds) of the upstream latency histogram buckets, the
 * same as the sidecar's client-facing histograms; a last, implicit bucket
 * is +Inf. */
#define FLO_POOL_LAT_NBUCKETS 16
extern const double flo_pool_lat_bounds[FLO_POOL_LAT_NBUCKETS];
/* Responses are counted by Flo status byte; statuses >= FLO_POOL_NSTATUS - 1
 * share the last slot. */
#define FLO_POOL_NSTATUS 16

struct flo_pool_stats {
    uint32_t conns_total, conns_up;
    uint64_t inflight;
    uint64_t reconnects;
    uint64_t requests, responses, timeouts, conn_errors;
    /* Requests that ended without a response for a reason other than their
     * timeout (connection lost with the request in flight, no connection
     * available in time, pool closing). */
    uint64_t failures;
    uint64_t by_status[FLO_POOL_NSTATUS]; /* responses by Flo status byte */
    /* Send-to-response time of every response (not of timeouts/failures):
     * per-bucket counts (not cumulative; index FLO_POOL_LAT_NBUCKETS is
     * +Inf), their sum in seconds. */
    uint64_t lat_buckets[FLO_POOL_LAT_NBUCKETS + 1];
    double lat_sum_s;
};
/*
 * uv_hrtime() for latency accounting by the pool's callers: while a call's
 * callback runs for a response, the clock reading taken once for the
 * socket read that delivered it (every response of that read shares it);
 * elsewhere a fresh uv_hrtime(). pool may be NULL (fresh reading). Lets a
 * front end time a command completed from the callback without another
 * clock read.
 */
uint64_t flo_pool_now_ns(const flo_pool_t *pool);

/* Copy the counters (cheap: a struct copy). */
void flo_pool_stats(const flo_pool_t *pool, struct flo_pool_stats *out);

#endif
