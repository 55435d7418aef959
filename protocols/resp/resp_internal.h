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

#define RESP_MAX_PENDING     1024u                /* commands of one client awaiting a reply */
#define RESP_OUTPUT_SOFT     (1u * 1024 * 1024)   /* stop reading while this much output waits */
#define RESP_OUTPUT_HARD     (256u * 1024 * 1024) /* drop a client whose backlog passes this */
#define RESP_REDIS_VERSION   "7.2.4"              /* what HELLO/INFO advertise to clients */
#define RESP_MAX_CLIENT_NAME 256                  /* CLIENT SETNAME / SETINFO value bytes */

struct resp_pending;
struct resp_client;
struct resp_multi;
struct resp_scan_table;

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
};

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
};

/* One upstream request of a pending command. */
struct resp_call {
    struct resp_pending *p;
    flo_call_t *call; /* non-NULL while in flight (cancel on disconnect) */
    unsigned idx;
};

struct resp_pending {
    struct resp_pending *next;        /* next command of the same client, request order */
    struct resp_client *c;            /* owner */
    struct resp_argv args;            /* owned */
    struct flo_wbuf reply;            /* encoded reply, owned */
    int proto;                        /* client protocol when the command arrived */
    bool done;                        /* reply complete */
    bool close_after;                 /* close the connection once this reply is written */
    char ns[PROTO_MAX_NAMESPACE + 1]; /* namespace when the command arrived */
    size_t ns_len;
    struct resp_call *calls; /* owned array of ncalls */
    unsigned ncalls;
    unsigned outstanding;       /* calls in flight */
    resp_step_cb step;          /* completion of each call */
    const struct resp_cmd *cmd; /* set once the command was found and may run */
    bool waiting;               /* held back: an earlier command uses the same key */
    bool barrier;               /* counted in c->barriers until done */
    /* Handler state (the handler that set it knows the meaning). */
    int64_t count; /* DEL/EXISTS accumulator */
    bool failed;   /* an error reply was already written */
    void *state;   /* handler-owned heap state, freed with free() */
    /* If set, frees `state` instead of free() (also when the client goes
     * away with the command unfinished: it must cancel what it started). */
    void (*state_free)(void *state);
};

struct resp_server {
    uv_tcp_t listener;
    uv_prepare_t flush;          /* before each poll: write replies, resume reads */
    const struct proto_ctx *ctx; /* borrowed; outlives the server */
    struct resp_client *clients; /* every live client */
    struct resp_client *dirty;   /* clients with work for the flush phase */
    size_t nclients;
    uint64_t next_id;      /* CLIENT ID counter */
    uint64_t start_ms;     /* uv_now at start, for uptime */
    unsigned open_handles; /* listener + flush + clients; freed at 0 when closing */
    bool closing;
    uint16_t port;
    struct resp_parse_limits lim;
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
};

/* ---- resp_server.c ---- */

/* The command's reply is complete: write it once all earlier ones are. */
void resp__pending_done(struct resp_pending *p);
/* Close the connection after this command's reply; parse nothing after it. */
void resp__pending_close_after(struct resp_pending *p);
/* Allocate p->calls for n upstream requests. 0 or FLO_ENOMEM. */
int resp__calls_alloc(struct resp_pending *p, unsigned n);
/*
 * Send upstream request `idx` (< ncalls) in the command's namespace; its
 * completion runs p->step (never synchronously). Returns 0 or the
 * synchronous flo_pool_send error (then no callback will run).
 */
int resp__send(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
               flo_buf_t opts, unsigned flags);
/* resp__send with an explicit upstream timeout (0 = the pool default);
 * long-polls pass proto_timeout_for_block(ms) and FLO_SEND_BLOCKING. */
int resp__send_ex(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
                  flo_buf_t opts, unsigned flags, uint32_t timeout_ms);
/* Append "-PREFIX message" for an upstream failure (err != 0) or a
 * non-OK status. */
void resp__reply_upstream_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body);
/* Append "-PREFIX message" for a validation error. */
void resp__reply_proto_err(struct resp_pending *p, const struct proto_err *e);
/* CLIENT INFO / CLIENT LIST line for c (with trailing '\n'). 0 or FLO_ENOMEM. */
int resp__client_info(const struct resp_client *c, struct flo_wbuf *out);

/*
 * Run p's handler now, or hold it back while an earlier, unfinished command
 * of the same client touches one of its keys and either of the two writes
 * (Redis executes a client's commands in order; upstream requests on
 * different pool connections may not be). Held commands start from the
 * flush phase once the conflict is gone.
 */
void resp__pending_run(struct resp_pending *p, const struct resp_cmd *cmd);

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

#endif
