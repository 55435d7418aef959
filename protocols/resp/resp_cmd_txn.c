/*
 * MULTI / EXEC / DISCARD / WATCH / UNWATCH over one Flo per-shard
 * transaction (protocols/common/proto_txn.h).
 *
 * MULTI starts a per-connection queue. Each command sent after it is
 * validated and turned into Flo transaction ops when it arrives (so an
 * argument error, or a command Flo cannot run inside a transaction, is
 * reported at once and makes EXEC answer EXECABORT, as Redis does for
 * queuing errors) and answered +QUEUED. EXEC runs the queued ops as ONE
 * transaction, routed by the first key: BEGIN, the ops, COMMIT; either all
 * of them are applied or none (the runner rolls back on the first failure).
 * The EXEC reply is an array with one reply per queued command, built from
 * the op results.
 *
 * WATCH is refused: Flo checks a transaction op's conditions when the op is
 * buffered, not at COMMIT, and has no "assert version" op, so the sidecar
 * cannot make EXEC fail atomically when a watched key changed.
 * UNWATCH is accepted (nothing is ever watched).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "proto_txn.h"
#include "resp_internal.h"

/* How the EXEC reply element of a queued command is built from its ops. */
enum mq_kind_e {
    MQ_OK,            /* +OK (SET, SETEX, PSETEX, MSET) */
    MQ_ONE,           /* :1 (SETNX: a failed condition aborts the transaction) */
    MQ_ONE_ZERO,      /* :1 applied, :0 missing key (EXPIRE family, PERSIST) */
    MQ_COUNT_OK,      /* number of ops answered OK (DEL) */
    MQ_COUNT_PRESENT, /* number of exists ops that found the key (EXISTS) */
    MQ_GET,           /* bulk or nil */
    MQ_INCR,          /* integer read back after the incr (second op) */
    MQ_TYPE,          /* +string / +none */
};

struct mq_cmd {
    struct resp_argv args; /* owned; ops' keys and values point into it */
    const char *name;      /* static table name */
    enum mq_kind_e kind;
    size_t first_op, nops;
};

struct resp_multi {
    struct mq_cmd *cmds;
    size_t ncmds, cap;
    struct proto_txn_op *ops;
    size_t nops, opcap;
    size_t bytes; /* keys + values, checked against Flo's cap */
    bool dirty;   /* a command failed to queue: EXEC answers EXECABORT */
};

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void multi_destroy(struct resp_multi *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->ncmds; i++) {
        resp_argv_free(&m->cmds[i].args);
    }
    free(m->cmds);
    free(m->ops);
    free(m);
}

void resp__multi_free(struct resp_client *c)
{
    multi_destroy(c->multi);
    c->multi = NULL;
}

void resp__multi_flag_error(struct resp_client *c)
{
    if (c->multi) {
        c->multi->dirty = true;
    }
}

/* ---- turning a command into ops ---- */

/* Append an op; false (after replying) when a cap is reached. */
static bool add_op(struct resp_pending *p, struct resp_multi *m, const struct proto_txn_op *op)
{
    if (m->nops >= PROTO_TXN_MAX_OPS) {
        resp_reply_errorf(&p->reply,
                          "ERR a Flo transaction holds at most %d operations; this MULTI block "
                          "would exceed it",
                          PROTO_TXN_MAX_OPS);
        return false;
    }
    size_t add = op->key.len + (op->kind == PROTO_TXN_PUT ? op->value.len : 0);
    if (m->bytes + add > PROTO_TXN_MAX_BYTES) {
        resp_reply_errorf(&p->reply,
                          "ERR a Flo transaction holds at most %u bytes of keys and values; this "
                          "MULTI block would exceed it",
                          PROTO_TXN_MAX_BYTES);
        return false;
    }
    if (m->nops == m->opcap) {
        size_t cap = m->opcap ? m->opcap * 2 : 16;
        struct proto_txn_op *n = realloc(m->ops, cap * sizeof(*n));
        if (!n) {
            resp_reply_error(&p->reply, "ERR out of memory");
            return false;
        }
        m->ops = n;
        m->opcap = cap;
    }
    m->ops[m->nops++] = *op;
    m->bytes += add;
    return true;
}

static bool value_ok(struct resp_pending *p, flo_buf_t v)
{
    struct proto_err e;
    if (proto_check_value(p->c->srv->ctx, v.len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        return false;
    }
    return true;
}

static bool put_op(struct resp_pending *p, struct resp_multi *m, flo_buf_t key, flo_buf_t val,
                   uint64_t ttl_ms, bool nx, bool xx)
{
    if (!resp__key_ok(p, key) || !value_ok(p, val)) {
        return false;
    }
    struct proto_txn_op op = {.kind = PROTO_TXN_PUT,
                              .key = key,
                              .value = val,
                              .ttl_ms = ttl_ms,
                              .if_not_exists = nx,
                              .if_exists = xx};
    return add_op(p, m, &op);
}

static bool key_op(struct resp_pending *p, struct resp_multi *m, enum proto_txn_kind_e kind,
                   flo_buf_t key)
{
    if (!resp__key_ok(p, key)) {
        return false;
    }
    struct proto_txn_op op = {.kind = kind, .key = key};
    return add_op(p, m, &op);
}

static bool incr_ops(struct resp_pending *p, struct resp_multi *m, int64_t delta)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        return false;
    }
    struct proto_txn_op op = {.kind = PROTO_TXN_INCR, .key = key, .delta = delta};
    /* Flo answers an incr inside a transaction with the delta, not the
     * total: a get right after it reads the transaction's view. */
    return add_op(p, m, &op) && key_op(p, m, PROTO_TXN_GET, key);
}

static bool arg_delta(struct resp_pending *p, bool negate, int64_t *delta)
{
    long long d;
    if (!resp__arg_ll(p->args.argv[2], &d)) {
        resp_reply_error(&p->reply, "ERR value is not an integer or out of range");
        return false;
    }
    if (negate && d == LLONG_MIN) {
        resp_reply_error(&p->reply, "ERR decrement would overflow");
        return false;
    }
    *delta = negate ? -d : d;
    return true;
}

static bool expire_ops(struct resp_pending *p, struct resp_multi *m, uint64_t unit, bool absolute)
{
    uint64_t ttl;
    bool del;
    if (!resp__expire_opts_check(p) ||
        !resp__expire_time(p, p->args.argv[2], unit, absolute, p->cmd->name, &ttl, &del)) {
        return false;
    }
    if (del) {
        return key_op(p, m, PROTO_TXN_DELETE, p->args.argv[1]);
    }
    if (!resp__key_ok(p, p->args.argv[1])) {
        return false;
    }
    struct proto_txn_op op = {.kind = PROTO_TXN_TOUCH, .key = p->args.argv[1], .ttl_ms = ttl};
    return add_op(p, m, &op);
}

static bool setex_op(struct resp_pending *p, struct resp_multi *m, uint64_t unit, const char *name)
{
    long long v;
    if (!resp__arg_ll(p->args.argv[2], &v)) {
        resp_reply_error(&p->reply, "ERR value is not an integer or out of range");
        return false;
    }
    if (v <= 0 || (unit == 1000 && v > LLONG_MAX / 1000)) {
        resp_reply_errorf(&p->reply, "ERR invalid expire time in '%s' command", name);
        return false;
    }
    return put_op(p, m, p->args.argv[1], p->args.argv[3], (uint64_t)v * unit, false, false);
}

/* Build the ops of p's command into m; false after replying (the ops it
 * added are then dropped by the caller). */
static bool build(struct resp_pending *p, const struct resp_cmd *cmd, struct resp_multi *m,
                  enum mq_kind_e *kind)
{
    const char *n = cmd->name;
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc;
    int64_t delta;
    if (strcmp(n, "get") == 0) {
        *kind = MQ_GET;
        return key_op(p, m, PROTO_TXN_GET, a[1]);
    }
    if (strcmp(n, "set") == 0) {
        struct resp_set_opts o;
        memset(&o, 0, sizeof(o));
        if (!resp__set_opts_parse(p, &o)) {
            return false;
        }
        if (o.get || o.keepttl) {
            resp_reply_error(&p->reply, "ERR SET with GET or KEEPTTL cannot run inside MULTI on "
                                        "flo-sidecar (it needs a read-then-write outside a Flo "
                                        "transaction)");
            return false;
        }
        *kind = MQ_OK;
        return put_op(p, m, a[1], a[2], o.ttl_ms, o.nx, o.xx);
    }
    if (strcmp(n, "setnx") == 0) {
        *kind = MQ_ONE;
        return put_op(p, m, a[1], a[2], 0, true, false);
    }
    if (strcmp(n, "setex") == 0 || strcmp(n, "psetex") == 0) {
        *kind = MQ_OK;
        return setex_op(p, m, n[0] == 's' ? 1000 : 1, n);
    }
    if (strcmp(n, "mset") == 0) {
        if ((argc - 1) % 2 != 0) {
            resp_reply_error(&p->reply, "ERR wrong number of arguments for 'mset' command");
            return false;
        }
        *kind = MQ_OK;
        for (size_t j = 1; j < argc; j += 2) {
            if (!put_op(p, m, a[j], a[j + 1], 0, false, false)) {
                return false;
            }
        }
        return true;
    }
    if (strcmp(n, "del") == 0 || strcmp(n, "exists") == 0) {
        bool del = n[0] == 'd';
        *kind = del ? MQ_COUNT_OK : MQ_COUNT_PRESENT;
        for (size_t j = 1; j < argc; j++) {
            if (!key_op(p, m, del ? PROTO_TXN_DELETE : PROTO_TXN_EXISTS, a[j])) {
                return false;
            }
        }
        return true;
    }
    *kind = MQ_INCR;
    if (strcmp(n, "incr") == 0 || strcmp(n, "decr") == 0) {
        return incr_ops(p, m, n[0] == 'i' ? 1 : -1);
    }
    if (strcmp(n, "incrby") == 0 || strcmp(n, "decrby") == 0) {
        return arg_delta(p, n[0] == 'd', &delta) && incr_ops(p, m, delta);
    }
    *kind = MQ_ONE_ZERO;
    if (strcmp(n, "expire") == 0 || strcmp(n, "pexpire") == 0) {
        return expire_ops(p, m, n[0] == 'e' ? 1000 : 1, false);
    }
    if (strcmp(n, "expireat") == 0 || strcmp(n, "pexpireat") == 0) {
        return expire_ops(p, m, n[0] == 'e' ? 1000 : 1, true);
    }
    if (strcmp(n, "persist") == 0) {
        return key_op(p, m, PROTO_TXN_PERSIST, a[1]);
    }
    if (strcmp(n, "type") == 0) {
        *kind = MQ_TYPE;
        return key_op(p, m, PROTO_TXN_EXISTS, a[1]);
    }
    resp_reply_errorf(&p->reply,
                      "ERR '%s' cannot run inside MULTI on flo-sidecar: a Flo transaction holds "
                      "only put, delete, incr, touch, persist, get and exists operations (GET, "
                      "SET, SETNX, SETEX, PSETEX, MSET, DEL, EXISTS, INCR, INCRBY, DECR, DECRBY, "
                      "EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST, TYPE)",
                      n);
    return false;
}

/* Queue p's command; false after replying with the queuing error. */
static bool queue(struct resp_pending *p, const struct resp_cmd *cmd, struct resp_multi *m)
{
    if (m->ncmds == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct mq_cmd *n = realloc(m->cmds, cap * sizeof(*n));
        if (!n) {
            resp_reply_error(&p->reply, "ERR out of memory");
            return false;
        }
        m->cmds = n;
        m->cap = cap;
    }
    size_t first = m->nops, bytes = m->bytes;
    enum mq_kind_e kind = MQ_OK;
    /* p->cmd is what handlers and the expire helpers read. */
    p->cmd = cmd;
    if (!build(p, cmd, m, &kind)) {
        m->nops = first;
        m->bytes = bytes;
        return false;
    }
    struct mq_cmd *q = &m->cmds[m->ncmds++];
    q->args = p->args; /* the ops point into these arguments: keep them */
    memset(&p->args, 0, sizeof(p->args));
    q->name = cmd->name;
    q->kind = kind;
    q->first_op = first;
    q->nops = m->nops - first;
    return true;
}

/* ---- EXEC ---- */

struct exec_state {
    struct resp_multi *m;  /* owned */
    struct proto_txn *txn; /* running transaction, NULL when none */
};

static void exec_state_free(void *state)
{
    struct exec_state *s = state;
    if (!s) {
        return;
    }
    if (s->txn) {
        proto_txn_cancel(s->txn); /* rolled back upstream; the runner frees itself */
    }
    multi_destroy(s->m);
    free(s);
}

static void reply_result(struct resp_pending *p, const struct mq_cmd *q,
                         const struct proto_txn_outcome *out)
{
    const struct proto_txn_result *r = &out->results[q->first_op];
    struct flo_wbuf *w = &p->reply;
    uint64_t version;
    flo_buf_t value;
    bool present;
    int64_t count = 0;
    switch (q->kind) {
    case MQ_OK:
        resp_reply_simple(w, "OK");
        return;
    case MQ_ONE:
        resp_reply_int(w, 1);
        return;
    case MQ_ONE_ZERO:
        resp_reply_int(w, r->status == FLO_STATUS_OK ? 1 : 0);
        return;
    case MQ_COUNT_OK:
        for (size_t i = 0; i < q->nops; i++) {
            count += r[i].status == FLO_STATUS_OK;
        }
        resp_reply_int(w, count);
        return;
    case MQ_COUNT_PRESENT:
    case MQ_TYPE:
        for (size_t i = 0; i < q->nops; i++) {
            if (flo_kv_dec_exists(r[i].body, &version, &present) == 0) {
                count += present;
            }
        }
        if (q->kind == MQ_TYPE) {
            resp_reply_simple(w, count ? "string" : "none");
        } else {
            resp_reply_int(w, count);
        }
        return;
    case MQ_GET:
        if (r->status == FLO_STATUS_OK && flo_kv_dec_get(r->body, &version, &value) == 0) {
            resp_reply_bulk(w, value.ptr, value.len);
        } else {
            resp_reply_null(w, p->proto);
        }
        return;
    case MQ_INCR:
        /* r[1] is the get that followed the incr. */
        if (r[1].status == FLO_STATUS_OK && flo_kv_dec_get(r[1].body, &version, &value) == 0 &&
            value.len == 8) {
            resp_reply_int(w, (int64_t)flo_ld64(value.ptr));
        } else {
            resp_reply_error(w, "ERR the counter could not be read back inside the transaction");
        }
        return;
    }
}

/* Index of the queued command that owns op number `op`. */
static size_t cmd_of_op(const struct resp_multi *m, size_t op)
{
    for (size_t i = 0; i < m->ncmds; i++) {
        if (op < m->cmds[i].first_op + m->cmds[i].nops) {
            return i;
        }
    }
    return m->ncmds ? m->ncmds - 1 : 0;
}

static bool msg_has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

static void exec_cb(void *arg, const struct proto_txn_outcome *out)
{
    struct resp_pending *p = arg;
    struct exec_state *s = p->state;
    struct resp_multi *m = s->m;
    s->txn = NULL;
    if (out->committed) {
        resp_reply_array(&p->reply, m->ncmds);
        for (size_t i = 0; i < m->ncmds; i++) {
            reply_result(p, &m->cmds[i], out);
        }
        done(p);
        return;
    }
    const struct proto_err *e = &out->error;
    if (msg_has(e->message, "different partition")) {
        resp_reply_errorf(&p->reply,
                          "CROSSSLOT EXEC refused, nothing was applied: the keys of this MULTI "
                          "block span Flo shards (the transaction is pinned to the shard of the "
                          "first key); Flo said: %s",
                          e->message);
    } else if (out->failed_step < 0) {
        resp_reply_errorf(&p->reply,
                          "%s EXEC failed, nothing was applied: the Flo transaction "
                          "could not begin: %s",
                          e->resp_prefix, e->message);
    } else if ((size_t)out->failed_step >= m->nops) {
        if (out->err) {
            resp_reply_errorf(&p->reply,
                              "%s EXEC outcome unknown: the commit was sent but not "
                              "answered: %s",
                              e->resp_prefix, e->message);
        } else {
            resp_reply_errorf(&p->reply,
                              "%s EXEC failed, nothing was applied: Flo refused the "
                              "commit: %s",
                              e->resp_prefix, e->message);
        }
    } else {
        size_t i = cmd_of_op(m, (size_t)out->failed_step);
        resp_reply_errorf(&p->reply,
                          "%s EXEC failed at command #%zu (%s), the transaction was rolled back "
                          "and nothing was applied: %s",
                          e->resp_prefix, i + 1, m->cmds[i].name, e->message);
    }
    done(p);
}

static void cmd_exec(struct resp_pending *p)
{
    struct exec_state *s = p->state;
    struct resp_multi *m = s->m;
    if (m->dirty) {
        resp_reply_error(&p->reply, "EXECABORT Transaction discarded because of previous errors.");
        done(p);
        return;
    }
    if (m->ncmds == 0) {
        resp_reply_array(&p->reply, 0);
        done(p);
        return;
    }
    struct proto_err e;
    flo_buf_t routing = m->ops[0].key;
    if (proto_txn_run(p->c->srv->ctx, FLO_BUF(p->ns, p->ns_len), routing, m->ops, m->nops, exec_cb,
                      p, &s->txn, &e) < 0) {
        resp_reply_errorf(&p->reply, "%s EXEC refused, nothing was applied: %s", e.resp_prefix,
                          e.message);
        done(p);
    }
}

/* ---- dispatch-time bookkeeping ---- */

bool resp__multi_admit(struct resp_pending *p, const struct resp_cmd *cmd)
{
    struct resp_client *c = p->c;
    const char *n = cmd->name;
    if (strcmp(n, "multi") == 0) {
        if (c->multi) {
            resp_reply_error(&p->reply, "ERR MULTI calls can not be nested");
            done(p);
            return true;
        }
        c->multi = calloc(1, sizeof(*c->multi));
        if (!c->multi) {
            resp_reply_error(&p->reply, "ERR out of memory");
            done(p);
            return true;
        }
        return false; /* the handler answers +OK in order */
    }
    if (strcmp(n, "exec") == 0) {
        if (!c->multi) {
            resp_reply_error(&p->reply, "ERR EXEC without MULTI");
            done(p);
            return true;
        }
        struct exec_state *s = calloc(1, sizeof(*s));
        if (!s) {
            resp__multi_free(c);
            resp_reply_error(&p->reply, "ERR out of memory");
            done(p);
            return true;
        }
        /* The queue leaves the client now: later commands are not queued
         * even if EXEC itself waits for earlier commands to finish. */
        s->m = c->multi;
        c->multi = NULL;
        p->state = s;
        p->state_free = exec_state_free;
        return false;
    }
    if (strcmp(n, "discard") == 0) {
        if (!c->multi) {
            resp_reply_error(&p->reply, "ERR DISCARD without MULTI");
        } else {
            resp__multi_free(c);
            resp_reply_simple(&p->reply, "OK");
        }
        done(p);
        return true;
    }
    if (strcmp(n, "reset") == 0) {
        resp__multi_free(c);
        return false;
    }
    if (!c->multi || strcmp(n, "quit") == 0) {
        return false;
    }
    if (strcmp(n, "watch") == 0) {
        resp_reply_error(&p->reply, "ERR WATCH inside MULTI is not allowed");
        done(p);
        return true;
    }
    if (!c->multi->dirty && !queue(p, cmd, c->multi)) {
        c->multi->dirty = true;
        done(p);
        return true;
    }
    /* After a queuing error Redis still answers QUEUED (EXEC will abort). */
    resp_reply_simple(&p->reply, "QUEUED");
    done(p);
    return true;
}

/* ---- handlers ---- */

static void cmd_multi(struct resp_pending *p)
{
    resp_reply_simple(&p->reply, "OK");
    done(p);
}

static void cmd_discard(struct resp_pending *p)
{
    /* Answered in resp__multi_admit; reached only if that changes. */
    resp_reply_simple(&p->reply, "OK");
    done(p);
}

static void cmd_watch(struct resp_pending *p)
{
    resp_reply_error(&p->reply,
                     "ERR WATCH is not supported by flo-sidecar: a Flo transaction cannot check "
                     "at commit that a key is unchanged; use FLO.GETV and FLO.CAS for optimistic "
                     "concurrency");
    done(p);
}

static void cmd_unwatch(struct resp_pending *p)
{
    /* Nothing is ever watched; clients send UNWATCH when resetting. */
    resp_reply_simple(&p->reply, "OK");
    done(p);
}

const struct resp_cmd resp__txn_cmds[] = {
    {"multi", 1, RESP_CMD_FAST, 0, 0, 0, "transactions", "Starts a transaction.", cmd_multi},
    {"exec", 1, RESP_CMD_BARRIER, 0, 0, 0, "transactions",
     "Executes all commands in a transaction (one Flo per-shard transaction).", cmd_exec},
    {"discard", 1, RESP_CMD_FAST, 0, 0, 0, "transactions", "Discards a transaction.", cmd_discard},
    {"watch", -2, RESP_CMD_FAST, 1, -1, 1, "transactions",
     "Not supported by flo-sidecar (use FLO.GETV / FLO.CAS).", cmd_watch},
    {"unwatch", 1, RESP_CMD_FAST, 0, 0, 0, "transactions",
     "Forgets about watched keys (none are ever watched).", cmd_unwatch},
};
const size_t resp__txn_ncmds = sizeof(resp__txn_cmds) / sizeof(resp__txn_cmds[0]);
