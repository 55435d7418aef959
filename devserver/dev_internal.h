/*
 * Declarations shared by flo-dev's files but not part of its embedding API
 * (dev_server.h): the server and connection structs, the reply path, the op
 * table that families (dev_kv_ops.c, later queues/streams/actions) fill in,
 * and the registry of deferred (blocking) requests. Cross-file functions use
 * the dev__ prefix.
 */
#ifndef DEV_INTERNAL_H
#define DEV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>
#include <uv.h>

#include "dev_kv.h"
#include "dev_queue.h"
#include "dev_server.h"
#include "dev_stream.h"
#include "flo/flo_buf.h"
#include "flo/flo_codec.h"

#define DEV_OP_SLOTS          1024         /* real server's dispatch table size */
#define DEV_OUT_SOFT_MAX      (1u << 20)   /* stop reading above this backlog */
#define DEV_OUT_HARD_MAX      (64u << 20)  /* close a client whose backlog exceeds it */
#define DEV_MAX_WAITERS       100000       /* blocking requests held at once */
#define DEV_SWEEP_INTERVAL_MS 1000         /* TTL sweeper period */
#define DEV_MAX_ERROR_TEXT    480          /* the real server's error body bound */
#define DEV_READ_CHUNK        (64u * 1024) /* bytes offered to one uv read */
#define DEV_TXN_UNSUPPORTED_MSG                                                                    \
    "operation not supported inside a transaction (scan, mget, history and json ops are not "      \
    "transactional)"

struct dev_conn;
struct dev_waiter;

/* A request as a handler sees it: the envelope is already parsed. */
struct dev_req {
    uint64_t id;             /* request_id to echo */
    uint16_t op;             /* op code */
    struct flo_envelope env; /* views into the connection's read buffer */
};

/* An op handler. It answers with dev__reply* now, or defers (dev__wait_add)
 * and answers later; it must do one or the other exactly once. */
typedef void (*dev_op_fn)(struct dev_conn *c, const struct dev_req *r);

/* Called when a deferred request's time is up; must answer the request.
 * The registry frees the waiter afterwards. */
typedef void (*dev_wait_timeout_cb)(struct dev_waiter *w);

/* One deferred request (blocking get, later dequeue/read/await). */
struct dev_waiter {
    struct dev_conn *conn;            /* where the answer goes */
    uint64_t request_id;              /* id to answer with */
    uint64_t deadline;                /* uv_now() ms when the wait ends */
    size_t heap_idx;                  /* position in the deadline heap */
    struct dev_wait_key *bucket;      /* the key it waits on */
    struct dev_waiter *kprev, *knext; /* bucket list, arrival order */
    struct dev_waiter *cprev, *cnext; /* per-connection list */
    int kind;                         /* family-defined (e.g. block vs wait) */
    uint64_t arg;                     /* family-defined (e.g. base version) */
    dev_wait_timeout_cb on_timeout;   /* answers the request at the deadline */
    void *ext;                        /* family state: one malloc'd block freed with the
                                         waiter (NULL = none) */
};

/* Waiters on one key. */
struct dev_wait_key {
    UT_hash_handle hh;       /* table link, keyed by key[0..klen) */
    struct dev_waiter *head; /* utlist DL list of waiters */
    size_t klen;             /* key length */
    uint8_t key[];           /* family tag byte + family key */
};

/* Every deferred request of a server, by key and by deadline. */
struct dev_waits {
    struct dev_wait_key *table; /* uthash of buckets */
    struct dev_waiter **heap;   /* min-heap on deadline */
    size_t len, cap;            /* heap fill and allocation */
    uv_timer_t timer;           /* fires at heap[0]->deadline */
};

struct dev_server {
    uv_loop_t *loop;             /* not owned */
    uv_tcp_t listener;           /* the binary-protocol port */
    uv_timer_t sweep_timer;      /* periodic TTL sweep */
    uv_prepare_t flush;          /* writes coalesced once per loop iteration */
    struct dev_waits waits;      /* deferred requests */
    struct dev_kv *kv;           /* the KV engine, owned */
    struct dev_txn *txns;        /* open KV transactions (uthash by id), owned */
    struct dev_queues *queues;   /* the queue engine, owned */
    uv_timer_t queue_timer;      /* fires at the queue engine's next delay/lease deadline */
    uint64_t queue_timer_due;    /* deadline queue_timer is armed for, UINT64_MAX = stopped */
    struct dev_streams *streams; /* the stream + consumer-group engine, owned */
    uv_timer_t stream_timer;     /* periodic consumer-group sweeper and stream retention */
    uint64_t next_txn_id;        /* last transaction id handed out */
    dev_op_fn ops[DEV_OP_SLOTS]; /* op code -> handler; NULL = not implemented */
    char *api_key;               /* owned copy, NULL = AUTH not implemented */
    size_t api_key_len;          /* its length */
    struct dev_conn *conns;      /* every open connection (utlist DL) */
    struct dev_conn *dirty;      /* connections with output to flush (utlist DL, d-links) */
    uint64_t next_conn_id;       /* for log lines */
    int handles_open;            /* server-level handles not yet closed */
    bool closing;                /* dev_server_close was called */
    uint16_t port;               /* bound port */
    char rbuf[DEV_READ_CHUNK];   /* shared read buffer: read_cb consumes it at once */
};

struct dev_conn {
    uv_tcp_t tcp;                   /* first: the close callback casts back */
    struct dev_server *srv;         /* owner */
    uint64_t id;                    /* for log lines */
    struct flo_reader rd;           /* request frames */
    struct flo_wbuf out;            /* replies not yet handed to libuv */
    struct flo_wbuf wbuf;           /* bytes of the write in flight */
    uv_write_t wreq;                /* the write in flight */
    struct dev_waiter *waiters;     /* deferred requests of this connection */
    struct dev_conn *prev, *next;   /* srv->conns */
    struct dev_conn *dprev, *dnext; /* srv->dirty */
    bool writing;                   /* wreq in flight */
    bool reading;                   /* uv_read_start active */
    bool is_dirty;                  /* on srv->dirty */
    bool closing;                   /* uv_close called */
    bool close_after_flush;         /* framing error: drain `out`, then close */
    bool overflowed;                /* backlog exceeded DEV_OUT_HARD_MAX: close */
    bool authed;                    /* AUTH succeeded (only meaningful with an api key) */
};

/* ---- replies (dev_server.c) ---- */

/* Queue a response frame. Never closes the connection synchronously (a
 * backlog over the hard limit marks it for closing at the next flush), so
 * callers may keep iterating over waiters. Ignored on a closing connection. */
void dev__reply(struct dev_conn *c, uint64_t id, uint8_t status, flo_buf_t body);
/* Error reply with a text body (truncated to DEV_MAX_ERROR_TEXT); NULL or ""
 * gives an empty body. */
void dev__reply_text(struct dev_conn *c, uint64_t id, uint8_t status, const char *msg);
/* A server-level handle (listener, timers, prepare) finished closing:
 * decrements handles_open and frees the server after the last one. */
void dev__server_handle_closed(struct dev_server *srv);
/* Current loop time in ms (the clock of TTLs and waits). */
uint64_t dev__now(const struct dev_server *srv);

/* ---- op table (dev_dispatch.c) ---- */

/* Fill srv->ops with every family's handlers. */
void dev__dispatch_init(struct dev_server *srv);
/* Run one request: auth gate, then the handler or "not implemented". */
void dev__dispatch(struct dev_conn *c, const struct dev_req *r);

/* Family registration (one per dev_<family>_ops.c). */
void dev__kv_register(dev_op_fn ops[DEV_OP_SLOTS]);
void dev__txn_register(dev_op_fn ops[DEV_OP_SLOTS]);
void dev__kv_json_register(dev_op_fn ops[DEV_OP_SLOTS]);
void dev__queue_register(dev_op_fn ops[DEV_OP_SLOTS]);
void dev__stream_register(dev_op_fn ops[DEV_OP_SLOTS]);
void dev__group_register(dev_op_fn ops[DEV_OP_SLOTS]);

/* ---- queue glue (dev_queue_ops.c) ---- */

/* Start the queue deadline timer (counts in srv->handles_open; the engine
 * srv->queues must exist). */
void dev__queue_init(struct dev_server *srv);
/* Close the queue timer; the engine is freed with the server. */
void dev__queue_close(struct dev_server *srv);

/* ---- stream glue (dev_stream_ops.c, used by dev_group_ops.c) ---- */

#define DEV_STREAM_SWEEP_MS 500 /* consumer-group sweeper and retention period */

/* Create the stream engine on srv (clock: uv_gettimeofday for wall time,
 * the loop's uv_now for idle timers). 0 or FLO_ENOMEM. */
int dev__stream_new_engine(struct dev_server *srv);
/* Start the sweeper timer (counts in srv->handles_open). */
void dev__stream_init(struct dev_server *srv);
/* Close the sweeper timer; the engine is freed with the server. */
void dev__stream_close(struct dev_server *srv);
/* Validate the request's stream name (and namespace); on failure answer
 * 3 with the server's text and return false. */
bool dev__stream_check_name(struct dev_conn *c, const struct dev_req *r);
/* Answer with a record list in the stream_read layout (key_present 0), plus
 * the 16-byte claim cursor when `cursor` is non-NULL. */
void dev__stream_reply_records(struct dev_conn *c, uint64_t id,
                               const struct flo_stream_record *recs, size_t n,
                               const struct flo_stream_id *cursor);
/* Park a group read that found nothing for block_ms (already capped): an
 * append to the stream re-runs it. Answers at once (0-byte body, as the
 * server's full waiter pool) when it cannot be parked. */
void dev__stream_park_group_read(struct dev_conn *c, const struct dev_req *r, flo_buf_t group,
                                 flo_buf_t consumer, uint32_t count, uint32_t block_ms);
/* Room for the records of one read or claim reply. */
#define DEV_STREAM_OUT_MAX FLO_STREAM_MAX_COUNT

/* ---- KV glue (dev_kv_ops.c, dev_kv_txn.c) ---- */

/* A write gave `k` a new version: answer the GETs waiting on it. */
void dev__kv_wake(struct dev_server *srv, const struct dev_qkey *k);
/*
 * The request carries a txn_id option: buffer or read inside that
 * transaction and answer (put, get, delete, incr, touch, persist, exists;
 * the key is already validated). Always answers.
 */
void dev__txn_op(struct dev_conn *c, const struct dev_req *r, const struct dev_qkey *k);
/*
 * For ops Flo does not run inside a transaction (mget, scan, history,
 * json_*): if the request carries a txn_id option, answer 3
 * DEV_TXN_UNSUPPORTED_MSG (Flo's kv_txn_unsupported_op) and return true;
 * otherwise return false and leave the request to the caller.
 */
bool dev__txn_refuse(struct dev_conn *c, const struct dev_req *r);
/* Drop transactions idle for longer than DEV_TXN_IDLE_MS. */
void dev__txn_sweep(struct dev_server *srv, uint64_t now);
/* Free every transaction (server teardown). */
void dev__txn_free_all(struct dev_server *srv);

/* ---- deferred requests (dev_wait.c) ---- */

int dev__wait_init(struct dev_server *srv);
/* Close the timer (counts in srv->handles_open). Waiters must be gone. */
void dev__wait_close(struct dev_server *srv);
/*
 * Defer request `id` of `c` on `key` (family tag byte first, so families
 * never share buckets) for timeout_ms. Returns the waiter (owned by the
 * registry; set kind/arg on it) or NULL when DEV_MAX_WAITERS are held or
 * memory ran out: the caller then answers at once.
 */
struct dev_waiter *dev__wait_add(struct dev_conn *c, flo_buf_t key, uint64_t id,
                                 uint32_t timeout_ms, dev_wait_timeout_cb on_timeout);
/* Offer an event on `key` to its waiters in arrival order; each one for
 * which fn returns true (it answered) is removed and freed. */
void dev__wait_wake(struct dev_server *srv, flo_buf_t key,
                    bool (*fn)(struct dev_waiter *w, void *ud), void *ud);
/* Drop (without answering) every waiter of a connection that is closing. */
void dev__wait_drop_conn(struct dev_conn *c);
/* Waiters currently held (for tests and logs). */
size_t dev__wait_count(const struct dev_server *srv);

#endif
