/*
 * One pipelined TCP connection to a Flo server, driven by a libuv loop.
 *
 * This is libflo's building block under the pool (flo_pool.h); it is
 * exported so the pool can embed it, not as an application API. A
 * connection connects to an already-resolved address (with a timeout),
 * optionally authenticates (the AUTH frame is the first frame it sends),
 * then carries many requests at once: frames are encoded straight into a
 * coalescing output buffer that is written once per loop iteration (and,
 * while a write is in flight, accumulated for the next one), responses are
 * matched to calls by request id in whatever order they arrive.
 *
 * The connection never frees or completes a call itself: every call that
 * leaves it (response, connection death, shutdown) is handed to the owner's
 * done_cb exactly once, and the owner decides (complete, retry, recycle).
 * Per-request deadlines are the owner's business too (one timer for the
 * whole pool, not one per request).
 */
#ifndef FLO_CONN_H
#define FLO_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>
#include <uv.h>

#include "flo_buf.h"
#include "flo_codec.h"
#include "flo_pool.h"

/* Bytes of a connection's unsent output above which it takes no new calls:
 * bounds memory when the server reads slower than we produce. */
#define FLO_CONN_MAX_BACKLOG (32u * 1024 * 1024)
/* Size of the per-connection socket read buffer. */
#define FLO_CONN_READ_CHUNK (64u * 1024)

/*
 * One request record, owned by the pool (flo_pool.c keeps a free list).
 * Defined here because a connection indexes the records it carries.
 */
struct flo_call {
    UT_hash_handle hh;     /* the carrying connection's in-flight table */
    uint64_t id;           /* request id, unique across the pool */
    flo_call_cb cb;        /* NULL once cancelled */
    void *arg;             /* cb's argument */
    uint64_t deadline;     /* loop time (ms) at which the call fails */
    uint64_t heap_key;     /* deadline-heap key (earlier while queued) */
    size_t heap_idx;       /* slot in the pool's deadline heap, SIZE_MAX = none */
    struct flo_conn *conn; /* connection carrying it, NULL if not sent */
    struct flo_call *prev; /* pool wait queue links / free list (next) */
    struct flo_call *next; /* " */
    struct flo_wbuf frame; /* encoded frame kept for queueing and retry */
    unsigned flags;        /* FLO_SEND_* */
    uint32_t affinity;     /* connection choice for flo_pool_send_affine */
    bool affine;           /* affinity is set */
    bool retried;          /* already re-sent once after a dead connection */
    bool queued;           /* waiting in the pool queue for a connection */
};

enum flo_conn_state_e {
    FLO_CONN_IDLE = 0,       /* no socket; flo_conn_connect may be called */
    FLO_CONN_CONNECTING,     /* TCP connect in progress */
    FLO_CONN_AUTHENTICATING, /* AUTH frame sent, waiting for its reply */
    FLO_CONN_UP,             /* usable */
    FLO_CONN_FAILING,        /* socket closing after an error; becomes IDLE */
    FLO_CONN_CLOSED,         /* flo_conn_close called; handles closing */
};

typedef struct flo_conn flo_conn_t;

/* Owner hooks. All run on the loop thread, never from flo_conn_send. */
struct flo_conn_hooks {
    /* The connection became usable. auth_status is the AUTH reply status (0,
     * or FLO_STATUS_INTERNAL when the server does not implement AUTH), or -1
     * when no API key is configured. */
    void (*up_cb)(flo_conn_t *c, int auth_status, void *arg);
    /* A call left the connection: err 0 with the response, or
     * FLO_ECONNCLOSED / FLO_ECLOSING. body is valid only during the call. */
    void (*done_cb)(flo_conn_t *c, struct flo_call *call, int err, uint8_t status, flo_buf_t body,
                    void *arg);
    /* The socket failed (err: libuv code, FLO_ETIMEDOUT for the connect
     * timeout, FLO_EAUTH, a decode error, UV_EOF) and is closed: the
     * connection is IDLE again and may reconnect. was_up: it had reached UP. */
    void (*down_cb)(flo_conn_t *c, int err, bool was_up, void *arg);
    /* After flo_conn_close: every handle is closed, the memory may go. */
    void (*closed_cb)(flo_conn_t *c, void *arg);
    void *arg;
};

struct flo_conn_config {
    uint32_t connect_timeout_ms; /* connect + AUTH must finish within it */
    uint32_t max_inflight;       /* calls carried at once */
    uint32_t max_payload;        /* largest response body accepted */
    flo_buf_t api_key;           /* empty = no AUTH; borrowed, must outlive c */
    uint64_t *next_id;           /* shared request-id counter (owner's) */
};

struct flo_conn {
    uv_loop_t *loop;
    uv_tcp_t tcp; /* re-initialised per connect attempt */
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t ctimer;    /* connect/AUTH timeout */
    uv_prepare_t flusher; /* writes coalesced output before poll */
    enum flo_conn_state_e state;
    bool tcp_open;             /* tcp handle initialised and not yet closed */
    bool writing;              /* a uv_write of `sending` is in flight */
    bool flush_armed;          /* flusher started */
    bool was_up;               /* reached UP during this attempt */
    int fail_err;              /* why the socket is closing */
    unsigned open_handles;     /* handles not yet closed (for closed_cb) */
    struct flo_wbuf out;       /* frames waiting for the next write */
    struct flo_wbuf sending;   /* frames owned by the in-flight write */
    struct flo_reader rd;      /* response decoder */
    struct flo_call *inflight; /* uthash head, keyed by id */
    uint32_t ninflight;
    /* Permanent member of `inflight` while the connection carries calls
     * (id UINT64_MAX, never issued, never answered): uthash frees its bucket
     * table whenever the table empties, so without it every burst that
     * drained to zero re-allocated and re-grew the table. */
    struct flo_call sentinel;
    uint64_t auth_id; /* request id of the AUTH frame, 0 = none */
    /* Clock shared by the responses of one read callback (see
     * flo_conn_read_now_ns): valid while in_read and read_now_ns != 0. */
    bool in_read;
    uint64_t read_now_ns;
    struct flo_conn_config cfg;
    struct flo_conn_hooks hooks;
    char peer[64];                     /* printable address for logs */
    uint8_t rbuf[FLO_CONN_READ_CHUNK]; /* socket read buffer (inline: init cannot fail) */
};

/*
 * Initialise an embedded connection (state IDLE). cfg and hooks are copied;
 * cfg->api_key and cfg->next_id are borrowed. Returns 0 or FLO_EINVAL (missing
 * hook or counter; nothing was initialised). On success the owner must end it with
 * flo_conn_close and may free the memory only after hooks->closed_cb.
 */
int flo_conn_init(flo_conn_t *c, uv_loop_t *loop, const struct flo_conn_config *cfg,
                  const struct flo_conn_hooks *hooks);

/*
 * Start connecting to `addr` (sockaddr_in or sockaddr_in6). Only valid in
 * state IDLE (else FLO_EINVAL). Returns 0 (outcome reported through up_cb or
 * down_cb) or a libuv error (nothing to wait for: still IDLE).
 */
int flo_conn_connect(flo_conn_t *c, const struct sockaddr *addr);

/* True if the connection can take one more call now. */
bool flo_conn_can_send(const flo_conn_t *c);

/*
 * Send a request frame for `call` (id call->id already set): encodes `req`
 * (its request_id is replaced by call->id) directly into the output buffer,
 * or, when `req` is NULL, copies the pre-encoded call->frame. When keep is
 * true the encoded bytes are also kept in call->frame (for a later retry).
 * Registers the call as in flight. Never calls back synchronously.
 * Returns 0, FLO_ELIMIT (not UP, full, or backlog over limit), FLO_EINVAL
 * (fields too long) or FLO_ENOMEM; on error nothing was queued.
 */
int flo_conn_send(flo_conn_t *c, struct flo_call *call, const struct flo_req *req, bool keep);

/*
 * uv_hrtime() for latency accounting. Inside done_cb for a response, every
 * response decoded from the same socket read gets the same value (the clock
 * is read once, at the first of them): they arrived together, and one clock
 * read per read callback instead of per response is measurably cheaper at
 * high pipelining depth. Elsewhere a fresh uv_hrtime().
 */
uint64_t flo_conn_read_now_ns(flo_conn_t *c);

/* Remove an in-flight call (timed out) without completing it. */
void flo_conn_forget(flo_conn_t *c, struct flo_call *call);

/*
 * Shut down for good: every in-flight call goes to done_cb with
 * FLO_ECLOSING (synchronously), then the handles close and closed_cb runs.
 */
void flo_conn_close(flo_conn_t *c);

#endif
