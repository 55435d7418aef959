/*
 * Declarations shared by the files of the RESP front end (not exported):
 * the server and client structs, the per-client queue of pending commands
 * that keeps replies in request order, the command table entry, and the
 * helpers command handlers use to reply and to call upstream.
 *
 * Life of a command: resp_server.c parses it into a struct resp_pending,
 * appends it to the client's queue and calls resp__cmd_dispatch. The handler
 * either writes its reply into p->reply at once or sends upstream requests
 * (resp__send) whose completions run p->step; either way it ends with
 * resp__pending_done(p), after which p must not be touched (the queue frees
 * it once every earlier command has replied).
 */
#ifndef RESP_INTERNAL_H
#define RESP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flo/flo_buf.h"
#include "flo/flo_codec.h"
#include "flo/flo_pool.h"
#include "proto.h"
#include "resp_parse.h"
#include "resp_reply.h"
#include "resp_server.h"

#define RESP_MAX_PENDING     1024u              /* commands of one client awaiting a reply */
#define RESP_OUTPUT_SOFT     (1u * 1024 * 1024) /* stop reading while this much output waits */
#define RESP_REDIS_VERSION   "7.2.4"            /* what HELLO/INFO advertise to clients */
#define RESP_MAX_CLIENT_NAME 256                /* CLIENT SETNAME / SETINFO value bytes */
#define RESP_FREE_PENDING    32                 /* recycled command records kept per client */
#define RESP_RESULT_MAX      48                 /* error code bytes kept for metrics */

struct resp_pending;
struct resp_client;
struct resp_multi;
struct resp_scan_table;
struct resp_keyref;
struct resp_deferred;

/* Completion of upstream request number `idx` of a pending command. */
typedef void (*resp_step_cb)(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                             flo_buf_t body);

/* One command table entry (Redis conventions for arity and key positions). */
struct resp_cmd {
    const char *name; /* lowercase; "client|setname" for subcommands */
    int arity;        /* > 0: exactly arity args (name included); < 0: at least -arity */
    unsigned flags;   /* enum resp_cmd_flags_e */
    int first_key, last_key, key_step;
    const char *group;   /* COMMAND DOCS group */
    const char *summary; /* COMMAND DOCS summary */
    void (*handler)(struct resp_pending *p);
    /*
     * Optional, for RESP_CMD_WRITE commands: true if this invocation only
     * sends Flo writes (put, delete, incr, touch, persist) and no read. Flo
     * parks writes until their Raft entry applies and applies one key's
     * writes in arrival order, so such a command may follow an unfinished
     * write to the same key on the client's connection without waiting. A
     * command that reads first (SET ... GET, GETDEL) is not blind: its read
     * would be answered before the earlier write applies.
     */
    bool (*blind)(const struct resp_pending *p);
    /*
     * Optional, for RESP_CMD_WRITE commands: this invocation's order class
     * (enum resp_order_class_e), 0 for none. A command of class k may start
     * while started, unfinished commands of the same class k on its key
     * have not finished (sealed or not), because the requests that order
     * them were all sent by their handler and the server takes them in
     * connection order: a single-value LPUSH's enqueue, a pop's dequeue
     * (each dequeue leases its own next message). Return a class only when
     * the handler sends those requests before it returns and never sends
     * more of them later (a multi-value LPUSH may re-send its values one by
     * one after a "not implemented" batch enqueue, so it has none).
     */
    unsigned (*order_class)(const struct resp_pending *p);
};

/* Order classes (struct resp_cmd.order_class); values 1..RESP_ORDER_NCLASSES. */
enum resp_order_class_e {
    RESP_ORDER_NONE = 0,
    RESP_ORDER_QPUSH = 1, /* enqueue of one message (then a stats read) */
    RESP_ORDER_QPOP = 2,  /* dequeue (then acks of what it leased) */
};
#define RESP_ORDER_NCLASSES 2u

enum resp_cmd_flags_e {
    RESP_CMD_NOAUTH = 1 << 0, /* allowed before AUTH (HELLO, AUTH, QUIT) */
    RESP_CMD_WRITE = 1 << 1,
    RESP_CMD_READONLY = 1 << 2,
    RESP_CMD_FAST = 1 << 3,
    RESP_CMD_CONTAINER = 1 << 4, /* has subcommands (CLIENT, CONFIG, COMMAND) */
    /* Runs only after every earlier command of the client has finished, and
     * every later command waits for it (EXEC, SCAN/KEYS/DBSIZE, long-polls:
     * Redis runs a client's commands one at a time, a blocked client runs
     * nothing else). */
    RESP_CMD_BARRIER = 1 << 5,
    /* What a blocking command answers when its wait ends without a result
     * (also when the sidecar ends the wait early: shutdown, client EOF):
     * a nil bulk string (FLO.BGET, FLO.WATCH) or an empty array
     * (FLO.QDEQUEUE); neither = Redis' null array (XREAD, BLPOP). */
    RESP_CMD_TIMEOUT_NIL = 1 << 6,
    RESP_CMD_TIMEOUT_EMPTY = 1 << 7,
};

/* One upstream request of a pending command. */
struct resp_call {
    struct resp_pending *p;
    flo_call_t *call; /* non-NULL while in flight (cancel on disconnect) */
    unsigned idx;
    bool longpoll; /* holds a proto_longpoll_enter slot until done/cancelled */
};

struct resp_pending {
    struct resp_pending *next;        /* next command of the same client, request order */
    struct resp_client *c;            /* owner */
    struct resp_argv args;            /* owned */
    struct flo_wbuf reply;            /* encoded reply, owned */
    int proto;                        /* client protocol when the command arrived */
    bool done;                        /* reply complete */
    bool close_after;                 /* close the connection once this reply is written */
    bool held;                        /* done behind an unfinished one: counted in c->held_bytes */
    char ns[PROTO_MAX_NAMESPACE + 1]; /* namespace when the command arrived */
    size_t ns_len;
    struct resp_call *calls; /* owned array of ncalls (or &call1) */
    struct resp_call call1;  /* storage for the common single call */
    unsigned ncalls;
    unsigned outstanding;       /* calls in flight */
    resp_step_cb step;          /* completion of each call */
    const struct resp_cmd *cmd; /* set once the command was found and may run */
    bool waiting;               /* held back: an earlier command uses the same key */
    bool blocking;              /* sent a FLO_SEND_BLOCKING request (a long-poll) */
    /* Metrics (resp_server.c): */
    uint64_t t0_ns;               /* uv_hrtime when parsed */
    bool lp_counted;              /* counted in flo_sidecar_longpolls_waiting */
    char result[RESP_RESULT_MAX]; /* error code of an error reply ("" = by prefix) */
    bool barrier;                 /* counted in c->barriers until done */
    /* Ordering state (resp_order.c). */
    struct resp_pending *held_next; /* c->held list while waiting */
    bool writes, blind;             /* classification when admitted */
    uint8_t oclass;                 /* order class when admitted (writes only) */
    bool sealed;                    /* every upstream request it will make is sent */
    bool in_handler;                /* handler running: finishing is deferred to its return */
    uint8_t acct;                   /* what resp_order.c counted for it */
    struct resp_keyref *kref;       /* its key's entry while counted (single-key) */
    /* Handler state (the handler that set it knows the meaning). */
    int64_t count; /* DEL/EXISTS accumulator */
    bool failed;   /* an error reply was already written */
    void *state;   /* handler-owned heap state, freed with free() */
    /* If set, frees `state` instead of free() (also when the client goes
     * away with the command unfinished: it must cancel what it started). */
    void (*state_free)(void *state);
    /* If set: a command that waits without a blocking resp__send request
     * (BLPOP/BRPOP own their calls) ends its wait, answering as on a
     * timeout (graceful shutdown, client EOF). true when it did (p may be
     * freed). */
    bool (*end_blocked)(struct resp_pending *p);
};

struct resp_server {
    uv_tcp_t listener;
    /* Flush phase: an idle handle, active only while clients have work, so
     * it runs before the pool's own flush (a prepare handle) in the same
     * loop iteration and upstream requests it sends leave before the poll;
     * and work it creates for itself runs without waiting for I/O. */
    uv_idle_t flush;
    uv_timer_t room_timer;            /* fallback retry of deferred sends */
    struct resp_client *room_waiters; /* clients with deferred sends */
    const struct proto_ctx *ctx;      /* borrowed; outlives the server */
    struct resp_client *clients;      /* every live client */
    struct resp_client *dirty;        /* clients with work for the flush phase */
    size_t nclients;
    uint64_t next_id;      /* CLIENT ID counter */
    uint64_t start_ms;     /* uv_now at start, for uptime */
    unsigned open_handles; /* listener + flush + clients; freed at 0 when closing */
    bool closing;
    bool draining; /* resp_server_drain ran: listener closed, no new commands */
    uint16_t port;
    struct resp_parse_limits lim;
    struct proto_limits limits;    /* ctx->limits with the defaults filled in */
    unsigned long long rejected;   /* connections refused over max_resp_clients */
    uint64_t rejected_log_ms;      /* uv_now of the last rejection log line */
    struct resp_scan_table *scans; /* SCAN cursors (resp_cmd_scan.c), owned */
    char rbuf[64 * 1024];          /* read buffer shared by the clients (one loop) */
};

struct resp_client {
    uv_tcp_t tcp;
    struct resp_server *srv;
    struct resp_client *prev, *next; /* srv->clients */
    struct resp_client *dirty_next;  /* srv->dirty */
    bool dirty;
    struct resp_parser parser;
    struct resp_pending *head, *tail; /* queue of commands in request order */
    unsigned npending;
    struct flo_wbuf out;  /* replies not yet handed to libuv */
    struct flo_wbuf wout; /* bytes of the write in flight */
    size_t held_bytes;    /* replies done behind an unfinished command */
    uv_write_t wreq;
    bool writing, reading, eof, closing;
    bool stop_parsing; /* QUIT or a protocol error: ignore later input */
    int proto;         /* 2 or 3 */
    bool authed;
    uint64_t id;
    uint64_t created_ms, last_ms; /* uv_now */
    char ns[PROTO_MAX_NAMESPACE + 1];
    size_t ns_len;
    char *name, *lib_name, *lib_ver; /* owned, NULL if unset */
    char addr[64], laddr[64];        /* "ip:port" */
    const char *last_cmd;            /* static table name of the last command */
    struct resp_multi *multi;        /* MULTI queue (resp_cmd_txn.c), NULL outside MULTI */
    unsigned barriers;               /* unfinished barrier commands in the queue */
    unsigned nwaiting;               /* commands held back (p->waiting) */
    /* Ordering (resp_order.c): keys of unfinished commands, held commands
     * in request order, started-and-unfinished counts. */
    struct resp_keyref *keys;      /* uthash, owned */
    struct resp_keyref *free_refs; /* recycled entries (resp_order.c) */
    unsigned nfree_refs;
    struct resp_pending *held_head, *held_tail;
    unsigned nstarted;         /* admitted commands started and not done */
    unsigned running_barriers; /* barrier commands started and not done */
    unsigned walk_gen;         /* marks of the current held-command walk */
    /* Upstream requests queued because the client's connection was full
     * (resp_upstream.c), in send order; reading pauses while any wait. */
    struct resp_deferred *defer_head, *defer_tail;
    struct resp_client *room_next; /* srv->room_waiters */
    bool room_wait;                /* on srv->room_waiters */
    /* Recycled command records (resp_server.c), at most RESP_FREE_PENDING. */
    struct resp_pending *free_list;
    unsigned nfree;
};

/* ---- resp_server.c ---- */

/* The command's reply is complete: write it once all earlier ones are. */
void resp__pending_done(struct resp_pending *p);
/* Close the connection after this command's reply; parse nothing after it. */
void resp__pending_close_after(struct resp_pending *p);
/* What resp__pending_done does, once p's handler has returned (a command
 * that completes inside its handler is finished by resp_order.c then). */
void resp__pending_finish(struct resp_pending *p);
/* Append "-PREFIX message" for an upstream failure (err != 0) or a
 * non-OK status. */
void resp__reply_upstream_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body);
/* Append "-PREFIX message" for a validation error. */
void resp__reply_proto_err(struct resp_pending *p, const struct proto_err *e);
/* CLIENT INFO / CLIENT LIST line for c (with trailing '\n'). 0 or FLO_ENOMEM. */
int resp__client_info(const struct resp_client *c, struct flo_wbuf *out);

/* Mark the client for the flush phase (write replies, start held
 * commands, retry deferred sends, resume reading). */
void resp__client_wake(struct resp_client *c);
/* The client's connection is full: retry its deferred sends when an
 * upstream reply arrives (resp__room_wake) or after a short timer. */
void resp__room_wait(struct resp_client *c);
/* Wake every client waiting for room (an upstream reply freed some). */
void resp__room_wake(struct resp_server *srv);

/* A command sent a blocking upstream request: count its client as blocked
 * (flo_sidecar_longpolls_waiting{protocol="resp"}) until it replies or
 * goes away. Idempotent. */
void resp__pending_blocked(struct resp_pending *p);
/* (resp_metrics.c) The command's reply is complete: count it under its
 * lowercased table name ("unknown" for unknown commands) with its result
 * ("ok", or the error code of an error reply) and its time since it was
 * parsed, and end its blocked state. */
void resp__pending_observe(struct resp_pending *p);
/* The command goes away (client closed) without replying: end its blocked
 * state. Idempotent. */
void resp__pending_unblocked(struct resp_pending *p);

/* ---- resp_upstream.c ---- */

/* Allocate p->calls for n upstream requests. 0 or FLO_ENOMEM. */
int resp__calls_alloc(struct resp_pending *p, unsigned n);
/*
 * Send upstream request `idx` (< ncalls) in the command's namespace on the
 * client's own pool connection (flo_pool_send_affine, affinity = client
 * id), so the server reads a client's requests in the order sent; its
 * completion runs p->step (never synchronously). When that connection is
 * full the request is queued on the client (and sent, in order, once the
 * connection has room; the client is not read meanwhile). Returns 0 or a
 * synchronous error (then no callback will run).
 */
int resp__send(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
               flo_buf_t opts, unsigned flags);
/* resp__send with an explicit upstream timeout (0 = the pool default);
 * long-polls pass proto_timeout_for_block(ms) and FLO_SEND_BLOCKING. */
int resp__send_ex(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
                  flo_buf_t opts, unsigned flags, uint32_t timeout_ms);

/* Send the client's deferred upstream requests while its connection has
 * room (flush phase). A request refused for another reason fails through
 * its command's step. */
void resp__upstream_retry(struct resp_client *c);
/* Cancel every upstream request of the client's commands and drop the
 * deferred ones (client close; no callback runs afterwards). */
void resp__upstream_cancel_all(struct resp_client *c);
/*
 * Graceful shutdown or client EOF: cancel the blocking upstream requests
 * of p (a command that long-polls; their --max-longpolls slots are given
 * back) and answer it with a null reply, what Redis answers when a
 * blocking command times out (p->end_blocked, when set, does it instead). false (nothing done) when
 * p is not waiting on a blocking request that was sent (one still queued on the client's connection
 * is left alone).
 */
bool resp__upstream_end_blocked(struct resp_pending *p);

/* ---- resp_order.c ---- */

/*
 * Run p's handler now, or hold it back until it may run without breaking
 * the order a Redis client expects. Every upstream request of a client
 * goes to one pool connection (flo_pool_send_affine), which the server
 * reads in order, so a later command waits only when (for an unfinished
 * earlier command of the same client on one of its keys):
 *  - the later one reads (anything but a blind write) and the earlier one
 *    writes: Flo answers reads at once but parks writes until they commit;
 *  - either one writes and the earlier one is not sealed (it may still
 *    send requests, e.g. SET ... GET's CAS put), or has not started;
 *    except that a started command of the same order class as the later
 *    one (struct resp_cmd.order_class) never holds it back;
 *  - either one is a barrier (EXEC, SCAN, long-polls...).
 * The check is O(keys of p) through a per-client hash of keys. Held
 * commands start from the flush phase, in request order.
 */
void resp__pending_run(struct resp_pending *p, const struct resp_cmd *cmd);
/* The command has sent every upstream request it will ever send (call it
 * right after the last resp__send; later commands may then follow it on
 * the connection). Commands that never call it are ordered as if they
 * could send more until they finish. */
void resp__pending_sealed(struct resp_pending *p);
/* Start held commands whose conflicts are gone, in request order. */
void resp__order_start_held(struct resp_client *c);
/* The command finished (or the client goes away): drop what it counted. */
void resp__order_release(struct resp_pending *p);
/* Free the client's key index (client close, after every release). */
void resp__order_free(struct resp_client *c);
/* A blind hook for commands that always are (see struct resp_cmd). */
bool resp__blind_always(const struct resp_pending *p);

/* ---- resp_cmd.c ---- */

/* Look up, check arity and auth, run the handler. */
void resp__cmd_dispatch(struct resp_pending *p);
/* Case-insensitive lookup of a top-level command; NULL if unknown. */
const struct resp_cmd *resp__cmd_lookup(flo_buf_t name);
/* Run a container's subcommand (argv[1]) from `subs` with Redis' errors. */
void resp__subcmd_dispatch(struct resp_pending *p, const struct resp_cmd *subs, size_t nsubs,
                           const char *container);
/* Iterate over all top-level commands (for COMMAND). */
size_t resp__cmd_count(void);
const struct resp_cmd *resp__cmd_at(size_t i);
/* Reply with the COMMAND INFO entry / COMMAND DOCS entry of cmd. */
void resp__cmd_reply_info(struct resp_pending *p, const struct resp_cmd *cmd);
void resp__cmd_reply_docs(struct resp_pending *p, const struct resp_cmd *cmd);
/* Case-insensitive compare of an argument with a C string. */
bool resp__arg_is(flo_buf_t arg, const char *s);
/* Parse an argument as a long long like Redis' string2ll. */
bool resp__arg_ll(flo_buf_t arg, long long *out);

/* Validate a key (proto_check_key); on failure reply and return false. */
bool resp__key_ok(struct resp_pending *p, flo_buf_t key);
/* Wall-clock Unix time in milliseconds (EXAT/PXAT conversions). */
uint64_t resp__now_unix_ms(void);

/* ---- resp_cmd_kv.c ---- */

/* SET's options, parsed with Redis' rules and errors. */
struct resp_set_opts {
    bool nx, xx, get, keepttl;
    uint64_t ttl_ms; /* 0 = no TTL */
};
/* Parse argv[3..] of SET into *o; false after replying with Redis' error. */
bool resp__set_opts_parse(struct resp_pending *p, struct resp_set_opts *o);

/* ---- resp_cmd_kv_ext.c ---- */

/*
 * An EXPIRE-family time argument turned into what Flo can do: a relative
 * TTL, or "delete now" when the deadline is not in the future (Redis
 * deletes the key then). `ms_unit` is 1000 for seconds, 1 for milliseconds;
 * `absolute` for EXPIREAT/PEXPIREAT/EXAT/PXAT. `name` is the command name
 * for Redis' "invalid expire time in '<name>' command". False after
 * replying.
 */
bool resp__expire_time(struct resp_pending *p, flo_buf_t arg, uint64_t ms_unit, bool absolute,
                       const char *name, uint64_t *ttl_ms, bool *delete_now);
/* Parse EXPIRE's NX/XX/GT/LT options (argv[3..]) like Redis and refuse
 * them (they need the current TTL, which Flo cannot report). False after
 * replying. */
bool resp__expire_opts_check(struct resp_pending *p);
/* Reply to a failed kv_incr with Redis' error where one exists ("value is
 * not an integer or out of range", "increment or decrement would
 * overflow"), else the shared mapping. */
void resp__reply_incr_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body);

/* ---- resp_cmd_txn.c ---- */

/*
 * MULTI bookkeeping at dispatch time (in request order, before the command
 * may be held back): returns true if the command was answered here (queued,
 * or refused inside MULTI), false if it runs normally. MULTI, EXEC and
 * DISCARD change the client's state here so that the commands pipelined
 * behind them are classified correctly.
 */
bool resp__multi_admit(struct resp_pending *p, const struct resp_cmd *cmd);
/* A command failed before it could be queued (unknown, arity, auth):
 * EXEC will answer EXECABORT. No-op outside MULTI. */
void resp__multi_flag_error(struct resp_client *c);
/* Free the client's MULTI queue (client close, RESET). */
void resp__multi_free(struct resp_client *c);

/* ---- resp_cmd_scan.c ---- */

/* Free the server's SCAN cursor table (server close). */
void resp__scan_table_free(struct resp_server *srv);
/* Redis' stringmatchlen (glob with * ? [..] \), case-sensitive. */
bool resp__glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen);

/* Command tables, defined by the command files. */
extern const struct resp_cmd resp__conn_cmds[];
extern const size_t resp__conn_ncmds;
extern const struct resp_cmd resp__kv_cmds[];
extern const size_t resp__kv_ncmds;
extern const struct resp_cmd resp__kv_ext_cmds[];
extern const size_t resp__kv_ext_ncmds;
extern const struct resp_cmd resp__scan_cmds[];
extern const size_t resp__scan_ncmds;
extern const struct resp_cmd resp__json_cmds[];
extern const size_t resp__json_ncmds;
extern const struct resp_cmd resp__txn_cmds[];
extern const size_t resp__txn_ncmds;
extern const struct resp_cmd resp__flo_cmds[];
extern const size_t resp__flo_ncmds;
extern const struct resp_cmd resp__queue_cmds[]; /* resp_cmd_queue.c */
extern const size_t resp__queue_ncmds;
extern const struct resp_cmd resp__flo_queue_cmds[]; /* resp_cmd_flo_queue.c */
extern const size_t resp__flo_queue_ncmds;
extern const struct resp_cmd resp__stream_cmds[]; /* resp_cmd_stream.c */
extern const size_t resp__stream_ncmds;
extern const struct resp_cmd resp__xread_cmds[]; /* resp_cmd_xread.c */
extern const size_t resp__xread_ncmds;
extern const struct resp_cmd resp__xgroup_cmds[]; /* resp_cmd_xgroup.c */
extern const size_t resp__xgroup_ncmds;

#endif
