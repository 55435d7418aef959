/*
 * Internals of the consumer-session registry shared by its three files:
 * proto_session.c (registry, expiry, shutdown, the public operations),
 * proto_session_index.c (session records, the id and member indexes, RESP
 * consumers) and proto_session_op.c (the upstream state machines).
 */
#ifndef PROTO_SESSION_INT_H
#define PROTO_SESSION_INT_H

#include <uthash.h>

#include "proto_session.h"
#include "proto_session_id.h"

struct sess_group;

/* One consumer name within a group: the sessions that use it. */
struct sess_cons {
    UT_hash_handle hh;
    struct sess_group *grp;
    uint8_t *name; /* owned */
    size_t len;
    proto_sess_t *list; /* utlist DL over cprev/cnext */
};

/* (ns, stream, group), keyed by [ns str16][stream str32][group str16]. */
struct sess_group {
    UT_hash_handle hh;
    uint8_t *key; /* owned */
    size_t key_len;
    struct sess_cons *cons; /* uthash */
};

struct proto_sess {
    UT_hash_handle hh;           /* reg->by_id (HTTP sessions) */
    proto_sess_t *cprev, *cnext; /* in cons->list */
    proto_sess_t *prev, *next;   /* reg->all (registered sessions) */
    proto_sess_reg_t *reg;
    struct sess_cons *cons; /* NULL while not registered */
    bool resp;              /* a RESP consumer: no id, no operations */
    bool registered;
    bool joined, ever_joined;
    uint64_t join_reconnects; /* pool reconnect counter at the last join */
    uint32_t holds;
    uint32_t ops; /* operations in flight */
    uint32_t claim_idle_ms;
    struct flo_stream_id cursor; /* where the next claim starts */
    uint64_t created_wall, used_wall, used_loop;
    uint64_t delivered;
    char *id; /* points into mem; "" for RESP consumers */
    size_t id_len;
    flo_buf_t ns, stream, group, consumer; /* views into mem */
    uint8_t mem[];
};

enum op_kind_e { OP_CREATE, OP_READ, OP_IDS, OP_END, OP_LEAVE };
enum op_step_e { ST_JOIN, ST_CLAIM, ST_PENDING, ST_READ, ST_IDS, ST_LEAVE };

struct proto_sess_op {
    proto_sess_op_t *prev, *next; /* reg->ops */
    proto_sess_reg_t *reg;
    proto_sess_t *s; /* held by the op */
    enum op_kind_e kind;
    enum op_step_e step;
    flo_call_t *call;
    bool longpoll; /* holds a --max-longpolls slot (proto.h) until it ends */
    /* A create whose owner went away (cancel, registry close) while its
     * join was in flight: on a successful join it leaves again. */
    bool abandoned;
    bool linked; /* in reg->ops (unlinked while its final callback runs) */
    /* An end whose leave is skipped (the membership is shared with another
     * live record) completes from reg->defer, in reg->deferred. */
    bool deferred;
    proto_sess_op_t *dprev, *dnext;
    uint64_t reconnects_at_send;
    void *arg;
    proto_sess_cb create_cb;
    proto_sess_read_cb read_cb;
    proto_sess_done_cb done_cb;
    /* read */
    uint32_t count;
    uint64_t deadline;     /* loop ms */
    bool claim_from_start; /* the claim in flight started at 0-0 */
    struct flo_wbuf claim; /* copy of a claim reply while pending runs */
    /* ids */
    enum proto_sess_idop_e idop;
    size_t n_ids;
    struct flo_wbuf value; /* ids value, or a leave value */
};

struct proto_sess_reg {
    uv_loop_t *loop;
    flo_pool_t *pool;
    struct proto__sess_key key;
    uint32_t idle_ms, max_sessions;
    proto_sess_t *by_id;       /* uthash over hh */
    proto_sess_t *all;         /* utlist DL of registered sessions */
    struct sess_group *groups; /* uthash */
    proto_sess_op_t *ops;      /* utlist DL of operations in flight */
    struct flo_wbuf scratch;   /* group-key lookups */
    struct proto_sess_stats st;
    uv_timer_t expiry, close_timer;
    uv_timer_t defer;          /* completes reg->deferred on the next turn */
    proto_sess_op_t *deferred; /* utlist DL over dprev/dnext */
    int handles_open;
    /* Session records allocated and not yet freed. The registry's memory
     * outlives its close until the last one is freed, so a front end that
     * still holds a session may describe and release it afterwards. */
    uint64_t records;
    bool closing, finished;
    void (*done)(void *arg);
    void *done_arg;
};

/* ---- proto_session_index.c ---- */

/* Wall clock in Unix milliseconds. */
uint64_t proto__sess_wall_ms(void);
/* Whether max_sessions HTTP sessions are registered (RESP consumers are
 * bounded apart, in proto_sess_resp_use). */
bool proto__sess_http_full(const proto_sess_reg_t *reg);
/* A new, unregistered session with copies of the names (id may be ""). */
proto_sess_t *proto__sess_alloc(proto_sess_reg_t *reg, const char *id, size_t id_len, flo_buf_t ns,
                                flo_buf_t stream, flo_buf_t group, flo_buf_t consumer);
/* Free a record (NULL is fine); frees a closed registry with its last
 * record. */
void proto__sess_free(proto_sess_t *s);
/* Add to / remove from the indexes. Register: 0 or FLO_ENOMEM. */
int proto__sess_register(proto_sess_t *s);
void proto__sess_unregister(proto_sess_t *s);
/* Restart the idle clock. */
void proto__sess_touch(proto_sess_t *s);
/* Whether a registered record other than s (itself registered or not) has s's
 * (ns, stream, group, consumer): they share one membership upstream, so s
 * must not leave it. O(records of that consumer name). */
bool proto__sess_shared(proto_sess_t *s);

/* ---- proto_session_op.c ---- */

/* A new op holding s (may be NULL), linked into reg->ops; NULL on ENOMEM. */
proto_sess_op_t *proto__sess_op_new(proto_sess_reg_t *reg, proto_sess_t *s, enum op_kind_e kind);
/* Unlink, cancel its upstream call, free; releases the hold on its session. */
void proto__sess_op_free(proto_sess_op_t *op);
/* Detach the owner of a create whose join is in flight (its callback will
 * not run) and have the op leave again if the join succeeds. false (op
 * untouched) when op is not such a create. */
bool proto__sess_create_abandon(proto_sess_op_t *op);
/* Run the owner's callback with e, then free the op. */
void proto__sess_op_fail(proto_sess_op_t *op, const struct proto_err *e);
/* Start a read or ids op (joining first if needed). 0 or a FLO_E* code. */
int proto__sess_op_start(proto_sess_op_t *op);
/* Send an end's leave; while another live record shares the membership,
 * skip it and complete the end (success) on the next loop turn instead.
 * 0 or a FLO_E* code. */
int proto__sess_end_leave(proto_sess_op_t *op);
/* Send [group][consumer] with `code` (join, leave) for the op. */
int proto__sess_send_member(proto_sess_op_t *op, uint16_t code, unsigned flags);
/* Best-effort leave of a forgotten session (expiry, shutdown, after an
 * ended session's in-flight read); skipped while another live record shares
 * the membership (why: for the debug log). Frees s when done unless someone
 * holds it. */
void proto__sess_send_leave(proto_sess_reg_t *reg, proto_sess_t *s, const char *why);

/* ---- proto_session.c ---- */

/* 429 "too many sessions". */
void proto__sess_err_full(struct proto_err *e);
/* Free a closed registry once its handles are closed and no record is
 * left. */
void proto__sess_reg_release(proto_sess_reg_t *reg);
/* A leave finished: completes a shutdown once nothing is in flight. */
void proto__sess_leaves_check(proto_sess_reg_t *reg);

#endif
