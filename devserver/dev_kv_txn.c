/*
 * KV transactions of flo-dev (flo-protocol-core.md §7.12): BEGIN pins a
 * routing hash, ops carrying a txn_id option are buffered and answered at
 * once with placeholder results, get/exists inside the transaction read the
 * buffered state, COMMIT applies everything atomically with one version
 * (like one Raft log entry), ROLLBACK drops it.
 *
 * A single node has one partition, so "same partition" is emulated as "same
 * routing hash": every op, COMMIT and ROLLBACK must carry the namespace and
 * routing key (option 0x08, else the key) of the BEGIN, which is exactly what
 * keeps a client correct against a multi-shard server. Transactions are not
 * bound to a connection; an idle one is dropped after DEV_TXN_IDLE_MS.
 * Conditions (CAS/NX/XX, counter type, TTL range) are checked when an op is
 * buffered, against the transaction's view, so the client learns early; and
 * COMMIT checks them all again against the store as it is then, before
 * writing anything, so it applies every op or none — a CAS put inside a
 * transaction is therefore a correct optimistic lock (what RESP WATCH needs).
 * Caps are Flo's: 256 ops and 1 MiB of user keys + values per transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "flo/flo_log.h"

#define DEV_TXN_MAX_OPEN  1024         /* open transactions per server */
#define DEV_TXN_MAX_OPS   256          /* buffered ops per transaction (Flo's cap) */
#define DEV_TXN_MAX_BYTES (1u << 20)   /* buffered user keys + values (Flo's cap) */
#define DEV_TXN_IDLE_MS   (60u * 1000) /* unused this long = dropped */
#define BEGIN_BODY_LEN    17
#define COMMIT_BODY_LEN   11
#define FNV_OFFSET        0xcbf29ce484222325ull
#define FNV_PRIME         0x100000001b3ull

/* One buffered write. */
struct txn_op {
    uint16_t op;     /* FLO_OP_KV_PUT, _DELETE, _INCR, _TOUCH, _PERSIST */
    uint8_t *qkey;   /* owned, qualified key */
    size_t qlen;     /* its length */
    size_t prefix;   /* "ns\0" bytes in front of the user key */
    uint8_t *val;    /* put: owned value (NULL if empty) */
    size_t vlen;     /* put: value length */
    int64_t delta;   /* incr */
    uint64_t ttl_ms; /* put: ttl (0 none); touch: ttl (0 clears) */
    bool has_cas;    /* put, delete, touch, persist: cas_version given */
    uint64_t cas;    /* its value */
    bool nx, xx;     /* put: if_not_exists / if_exists */
};

struct dev_txn {
    UT_hash_handle hh;         /* srv->txns, keyed by id */
    uint64_t id;               /* handed out by BEGIN, never 0 */
    uint8_t ns[DEV_KV_MAX_NS]; /* namespace of the BEGIN */
    size_t nslen;              /* its length */
    uint64_t hash;             /* pinned routing hash */
    uint64_t last_used;        /* loop ms of the last op */
    struct txn_op *ops;        /* buffered ops, in order */
    size_t nops, cap;          /* fill and allocation */
    size_t bytes;              /* buffered key + value bytes */
};

/* The transaction's picture of one key. */
struct view {
    bool present;
    uint64_t version; /* 0 if the transaction wrote the key */
    flo_buf_t val;
    uint8_t counter[8]; /* storage for a value computed from incrs */
};

static flo_buf_t norm_ns(flo_buf_t ns)
{
    return ns.len == 0 ? FLO_BUF_STR(DEV_KV_DEFAULT_NS) : ns;
}

/* FNV-1a over ns, 0x00, routing key (the real server's hash differs; only
 * equality matters here). */
static uint64_t route_hash(flo_buf_t ns, flo_buf_t routing)
{
    if (routing.len == 0) {
        return 0; /* an empty key routes to hash 0 */
    }
    uint64_t h = FNV_OFFSET;
    ns = norm_ns(ns);
    for (size_t i = 0; i < ns.len; i++) {
        h = (h ^ ns.ptr[i]) * FNV_PRIME;
    }
    h = (h ^ 0) * FNV_PRIME;
    for (size_t i = 0; i < routing.len; i++) {
        h = (h ^ routing.ptr[i]) * FNV_PRIME;
    }
    return h;
}

static uint64_t req_hash(const struct dev_req *r)
{
    flo_buf_t rk;
    if (!flo_opt_find(r->env.opts, FLO_OPT_ROUTING_KEY, &rk) || rk.len == 0) {
        rk = r->env.key;
    }
    return route_hash(r->env.ns, rk);
}

static void txn_free(struct dev_server *srv, struct dev_txn *t)
{
    HASH_DEL(srv->txns, t);
    for (size_t i = 0; i < t->nops; i++) {
        free(t->ops[i].qkey);
        free(t->ops[i].val);
    }
    free(t->ops);
    free(t);
}

void dev__txn_free_all(struct dev_server *srv)
{
    struct dev_txn *t, *tmp;
    HASH_ITER(hh, srv->txns, t, tmp)
    {
        txn_free(srv, t);
    }
}

void dev__txn_sweep(struct dev_server *srv, uint64_t now)
{
    struct dev_txn *t, *tmp;
    HASH_ITER(hh, srv->txns, t, tmp)
    {
        if (now - t->last_used >= DEV_TXN_IDLE_MS) {
            FLO_DEBUG("idle transaction dropped", "txn=%llu", (unsigned long long)t->id);
            txn_free(srv, t);
        }
    }
}

/* Find the transaction of request `r` by id, in r's namespace. */
static struct dev_txn *txn_find(struct dev_server *srv, const struct dev_req *r, uint64_t id)
{
    struct dev_txn *t = NULL;
    HASH_FIND(hh, srv->txns, &id, sizeof id, t);
    flo_buf_t ns = norm_ns(r->env.ns);
    if (t == NULL || t->nslen != ns.len || memcmp(t->ns, ns.ptr, ns.len) != 0) {
        return NULL;
    }
    return t;
}

static bool same_key(const struct txn_op *o, const struct dev_qkey *k)
{
    return o->qlen == k->len && memcmp(o->qkey, k->buf, k->len) == 0;
}

/*
 * The state of `k` seen by the transaction before its op `upto`: the last
 * buffered put/delete (or the store), then any incrs after it. Returns
 * FLO_STATUS_OK, BAD_REQUEST (not a counter) or INTERNAL (overflow) with
 * *msg.
 */
static uint8_t view_of(struct dev_server *srv, const struct dev_txn *t, const struct dev_qkey *k,
                       size_t upto, struct view *v, const char **msg)
{
    *msg = NULL;
    size_t start = 0;
    bool touched = false;
    v->present = false;
    v->version = 0;
    v->val = FLO_BUF_NULL;
    for (size_t i = upto; i-- > 0;) {
        const struct txn_op *o = &t->ops[i];
        if ((o->op == FLO_OP_KV_PUT || o->op == FLO_OP_KV_DELETE) && same_key(o, k)) {
            touched = true;
            v->present = o->op == FLO_OP_KV_PUT;
            v->val = FLO_BUF(o->val, o->vlen);
            start = i + 1;
            break;
        }
    }
    if (!touched) {
        const struct dev_kv_entry *e = dev_kv_lookup(srv->kv, k, dev__now(srv));
        if (e != NULL) {
            v->present = true;
            v->version = e->hist[0].version;
            v->val = FLO_BUF(e->hist[0].val, e->hist[0].len);
        }
    }
    for (size_t i = start; i < upto; i++) {
        const struct txn_op *o = &t->ops[i];
        if (o->op != FLO_OP_KV_INCR || !same_key(o, k)) {
            continue;
        }
        touched = true;
        if (v->present && v->val.len != 8) {
            *msg = DEV_KV_MSG_NOT_COUNTER;
            return FLO_STATUS_BAD_REQUEST;
        }
        int64_t cur = v->present ? (int64_t)flo_ld64(v->val.ptr) : 0, next;
        if (__builtin_add_overflow(cur, o->delta, &next)) {
            *msg = DEV_KV_MSG_OVERFLOW;
            return FLO_STATUS_INTERNAL;
        }
        flo_st64(v->counter, (uint64_t)next);
        v->present = true;
        v->val = FLO_BUF(v->counter, 8);
    }
    if (touched) {
        v->version = 0;
    }
    return FLO_STATUS_OK;
}

/* Bytes an op counts against DEV_TXN_MAX_BYTES: user key + value, as the
 * sidecar counts them (the namespace is not the client's payload). */
static size_t op_bytes(size_t qlen, size_t prefix, size_t vlen)
{
    return qlen - prefix + vlen;
}

/* Append an op (copies key and value). false if a limit or memory fails. */
static bool txn_append(struct dev_txn *t, const struct txn_op *proto, const struct dev_qkey *k,
                       flo_buf_t val)
{
    size_t add = op_bytes(k->len, k->prefix, val.len);
    if (t->nops >= DEV_TXN_MAX_OPS || add > DEV_TXN_MAX_BYTES - t->bytes) {
        return false;
    }
    if (t->nops == t->cap) {
        size_t ncap = t->cap == 0 ? 8 : t->cap * 2;
        struct txn_op *n = realloc(t->ops, ncap * sizeof *n);
        if (n == NULL) {
            return false;
        }
        t->ops = n;
        t->cap = ncap;
    }
    struct txn_op o = *proto;
    o.qkey = malloc(k->len);
    o.val = val.len > 0 ? malloc(val.len) : NULL;
    if (o.qkey == NULL || (val.len > 0 && o.val == NULL)) {
        free(o.qkey);
        free(o.val);
        return false;
    }
    memcpy(o.qkey, k->buf, k->len);
    o.qlen = k->len;
    o.prefix = k->prefix;
    if (val.len > 0) {
        memcpy(o.val, val.ptr, val.len);
    }
    o.vlen = val.len;
    t->ops[t->nops++] = o;
    t->bytes += add;
    return true;
}

/* Undo the last txn_append. */
static void txn_pop(struct dev_txn *t)
{
    struct txn_op *o = &t->ops[--t->nops];
    t->bytes -= op_bytes(o->qlen, o->prefix, o->vlen);
    free(o->qkey);
    free(o->val);
}

/* now + ttl must not overflow (the real server's "ttl too large"). */
static bool ttl_fits(uint64_t now, uint64_t ttl_ms)
{
    return ttl_ms <= UINT64_MAX - now;
}

/*
 * The conditions of buffered op `i` against the state before it (the store
 * as it is now plus the transaction's earlier ops). Used both when the op is
 * buffered and again at COMMIT. OK, or the status the op would get alone
 * (CONFLICT and NOT_FOUND with *msg NULL, BAD_REQUEST / INTERNAL with text).
 */
static uint8_t check_op(struct dev_server *srv, const struct dev_txn *t, size_t i,
                        const struct dev_qkey *k, bool at_commit, const char **msg)
{
    const struct txn_op *o = &t->ops[i];
    struct view v;
    *msg = NULL;
    /* incr: the counter with this op included must stay a valid i64. */
    uint8_t st = view_of(srv, t, k, o->op == FLO_OP_KV_INCR ? i + 1 : i, &v, msg);
    if (st != FLO_STATUS_OK || o->op == FLO_OP_KV_INCR) {
        return st;
    }
    uint64_t cur = v.present ? v.version : 0;
    uint64_t now = dev__now(srv);
    switch (o->op) {
    case FLO_OP_KV_PUT:
        if ((o->has_cas && cur != o->cas) || (o->nx && v.present) || (o->xx && !v.present)) {
            return FLO_STATUS_CONFLICT;
        }
        break;
    default: /* delete, touch, persist */
        if (!v.present && !at_commit) {
            return FLO_STATUS_NOT_FOUND;
        }
        /* At COMMIT, a key deleted meanwhile stays deleted: an unconditional
         * delete/touch/persist of it is moot; a conditional one conflicts. */
        if (o->has_cas && cur != o->cas) {
            return FLO_STATUS_CONFLICT;
        }
    }
    if ((o->op == FLO_OP_KV_PUT || o->op == FLO_OP_KV_TOUCH) && !ttl_fits(now, o->ttl_ms)) {
        *msg = "ttl too large";
        return FLO_STATUS_BAD_REQUEST;
    }
    return FLO_STATUS_OK;
}

/*
 * Buffer `o` (its fields other than the key and value already set), check
 * its conditions against the transaction's view and answer: the placeholder
 * body on success; otherwise the op's error, and the op is not kept.
 */
static void txn_buffer(struct dev_conn *c, const struct dev_req *r, struct dev_txn *t,
                       const struct txn_op *o, const struct dev_qkey *k, flo_buf_t val)
{
    if (!txn_append(t, o, k, val)) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "transaction op or payload limit exceeded");
        return;
    }
    const char *msg;
    uint8_t st = check_op(c->srv, t, t->nops - 1, k, false, &msg);
    if (st != FLO_STATUS_OK) {
        txn_pop(t);
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    uint8_t body[16] = {0};
    size_t len = 0;
    if (o->op == FLO_OP_KV_PUT) {
        len = 8; /* [0 u64] */
    } else if (o->op == FLO_OP_KV_INCR) {
        flo_st64(body + 8, (uint64_t)o->delta); /* [0 u64][delta i64] */
        len = 16;
    }
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, len));
}

/* Decode a write's value and options into a txn_op; false if answered. */
static bool txn_decode(struct dev_conn *c, const struct dev_req *r, struct txn_op *o)
{
    const char *msg = NULL;
    int rc = 0;
    o->op = r->op;
    o->has_cas = flo_opt_get_u64(r->env.opts, FLO_OPT_CAS_VERSION, &o->cas);
    switch (r->op) {
    case FLO_OP_KV_PUT: {
        o->nx = flo_opt_has_flag(r->env.opts, FLO_OPT_IF_NOT_EXISTS);
        o->xx = flo_opt_has_flag(r->env.opts, FLO_OPT_IF_EXISTS);
        flo_buf_t ttl;
        if (flo_opt_find(r->env.opts, FLO_OPT_TTL_MS, &ttl)) {
            if (ttl.len != 8) {
                msg = "ttl_ms must be 8 bytes (a u64 of milliseconds)";
                rc = FLO_EMALFORMED;
            } else {
                o->ttl_ms = flo_ld64(ttl.ptr);
            }
        }
        break;
    }
    case FLO_OP_KV_INCR:
        o->has_cas = false; /* incr takes no CAS (§7.15) */
        rc = flo_kv_parse_incr(r->env.value, &o->delta, &msg);
        break;
    case FLO_OP_KV_TOUCH:
        rc = flo_kv_parse_touch(r->env.value, &o->ttl_ms, &msg);
        break;
    default: /* delete, persist */
        break;
    }
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return false;
    }
    return true;
}

/* The txn_id option: true and *id, or answered (bad width) and false. */
static bool opt_txn_id(struct dev_conn *c, const struct dev_req *r, bool *present, uint64_t *id)
{
    flo_buf_t d;
    *present = flo_opt_find(r->env.opts, FLO_OPT_TXN_ID, &d);
    if (!*present) {
        return true;
    }
    if (d.len != 8) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, "txn_id option must be u64");
        return false;
    }
    *id = flo_ld64(d.ptr);
    return true;
}

void dev__txn_op(struct dev_conn *c, const struct dev_req *r, const struct dev_qkey *k)
{
    struct dev_server *srv = c->srv;
    bool present;
    uint64_t id = 0;
    if (!opt_txn_id(c, r, &present, &id)) {
        return;
    }
    struct dev_txn *t = txn_find(srv, r, id);
    if (t == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_NOT_FOUND, "transaction not found");
        return;
    }
    if (req_hash(r) != t->hash) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "key hashes to a different partition than the transaction");
        return;
    }
    t->last_used = dev__now(srv);
    if (r->op != FLO_OP_KV_GET && r->op != FLO_OP_KV_EXISTS) {
        struct txn_op o = {0};
        if (txn_decode(c, r, &o)) {
            txn_buffer(c, r, t, &o, k, r->op == FLO_OP_KV_PUT ? r->env.value : FLO_BUF_NULL);
        }
        return;
    }
    struct view v;
    const char *msg;
    uint8_t st = view_of(srv, t, k, t->nops, &v, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    switch (r->op) {
    case FLO_OP_KV_GET:
        if (!v.present) {
            dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
            return;
        }
        struct flo_wbuf b;
        flo_wbuf_init(&b);
        if (flo_wbuf_u64(&b, v.version) == 0 && flo_wbuf_append(&b, v.val.ptr, v.val.len) == 0) {
            dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
        } else {
            dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        }
        flo_wbuf_free(&b);
        return;
    default: { /* exists */
        uint8_t body[9];
        flo_st64(body, v.present ? v.version : 0);
        body[8] = v.present ? 1 : 0;
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
        return;
    }
    }
}

bool dev__txn_refuse(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t tid;
    if (!flo_opt_find(r->env.opts, FLO_OPT_TXN_ID, &tid)) {
        return false;
    }
    dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, DEV_TXN_UNSUPPORTED_MSG);
    return true;
}

/* ---- begin / commit / rollback ---- */

static void op_begin(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    flo_buf_t rk;
    if (!flo_opt_find(r->env.opts, FLO_OPT_ROUTING_KEY, &rk) || rk.len == 0) {
        rk = r->env.key;
    }
    if (rk.len == 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "BEGIN: routing key required (use --routing-key or supply key)");
        return;
    }
    flo_buf_t ns = norm_ns(r->env.ns);
    if (ns.len > DEV_KV_MAX_NS) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, "namespace name too long (max 63 bytes)");
        return;
    }
    if (HASH_COUNT(srv->txns) >= DEV_TXN_MAX_OPEN) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, "too many open transactions");
        return;
    }
    struct dev_txn *t = calloc(1, sizeof *t);
    if (t == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        return;
    }
    t->id = ++srv->next_txn_id;
    memcpy(t->ns, ns.ptr, ns.len);
    t->nslen = ns.len;
    t->hash = route_hash(r->env.ns, rk);
    t->last_used = dev__now(srv);
    HASH_ADD(hh, srv->txns, id, sizeof t->id, t);
    uint8_t body[BEGIN_BODY_LEN];
    body[0] = 0;
    flo_st64(body + 1, t->id);
    flo_st64(body + 9, t->hash);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
}

/* COMMIT/ROLLBACK addressing: id from the option or an 8-byte value, the
 * transaction in this namespace, reached with the pinned routing hash. */
static struct dev_txn *end_target(struct dev_conn *c, const struct dev_req *r, const char *need)
{
    bool present;
    uint64_t id = 0;
    if (!opt_txn_id(c, r, &present, &id)) {
        return NULL;
    }
    if (!present) {
        if (r->env.value.len != 8) {
            dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, need);
            return NULL;
        }
        id = flo_ld64(r->env.value.ptr);
    }
    struct dev_txn *t = txn_find(c->srv, r, id);
    /* Another routing hash would reach a shard that never saw the txn. */
    if (t == NULL || req_hash(r) != t->hash) {
        dev__reply_text(c, r->id, FLO_STATUS_NOT_FOUND, "transaction not found");
        return NULL;
    }
    return t;
}

static void op_rollback(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_txn *t = end_target(c, r, "ROLLBACK: txn_id required");
    if (t == NULL) {
        return;
    }
    txn_free(c->srv, t);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
}

static struct dev_qkey *op_key(const struct txn_op *o, struct dev_qkey *k)
{
    memcpy(k->buf, o->qkey, o->qlen);
    k->len = o->qlen;
    k->prefix = o->prefix;
    return k;
}

static void op_commit(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    struct dev_txn *t = end_target(c, r, "COMMIT: txn_id required");
    if (t == NULL) {
        return;
    }
    struct dev_qkey k;
    const char *msg;
    /* All or nothing: every condition is checked again against the store as
     * it is now (another client may have written since an op was buffered);
     * one failure applies nothing and ends the transaction. */
    for (size_t i = 0; i < t->nops; i++) {
        uint8_t st = check_op(srv, t, i, op_key(&t->ops[i], &k), true, &msg);
        if (st != FLO_STATUS_OK) {
            FLO_DEBUG("transaction commit refused", "txn=%llu op=%zu status=%u",
                      (unsigned long long)t->id, i, st);
            txn_free(srv, t);
            dev__reply_text(c, r->id, st, msg);
            return;
        }
    }
    uint64_t now = dev__now(srv);
    uint64_t index = t->nops > 0 ? dev_kv_batch_begin(srv->kv) : dev_kv_last_version(srv->kv);
    uint8_t st = FLO_STATUS_OK;
    for (size_t i = 0; i < t->nops && st == FLO_STATUS_OK; i++) {
        const struct txn_op *o = &t->ops[i];
        op_key(o, &k);
        uint64_t ver;
        int64_t val;
        switch (o->op) {
        case FLO_OP_KV_PUT: {
            struct dev_kv_put_opts po = {.has_ttl = o->ttl_ms != 0, .ttl_ms = o->ttl_ms};
            st = dev_kv_put(srv->kv, &k, FLO_BUF(o->val, o->vlen), &po, now, &ver, &msg);
            break;
        }
        case FLO_OP_KV_DELETE:
            (void)dev_kv_delete(srv->kv, &k, false, 0, now, &msg);
            break;
        case FLO_OP_KV_INCR:
            st = dev_kv_incr(srv->kv, &k, o->delta, now, &ver, &val, &msg);
            break;
        default: /* touch, persist: a key deleted meanwhile stays deleted */
            (void)dev_kv_set_ttl(srv->kv, &k, o->op == FLO_OP_KV_TOUCH ? o->ttl_ms : 0, false, 0,
                                 now, &msg);
        }
    }
    if (t->nops > 0) {
        dev_kv_batch_end(srv->kv);
    }
    if (st != FLO_STATUS_OK) {
        /* Only memory can fail here (everything else was checked). */
        FLO_ERROR("transaction commit failed midway", "txn=%llu err=%s", (unsigned long long)t->id,
                  msg != NULL ? msg : "?");
        txn_free(srv, t);
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: commit failed");
        return;
    }
    for (size_t i = 0; i < t->nops; i++) {
        if (t->ops[i].op == FLO_OP_KV_PUT || t->ops[i].op == FLO_OP_KV_INCR) {
            dev__kv_wake(srv, op_key(&t->ops[i], &k));
        }
    }
    uint8_t body[COMMIT_BODY_LEN];
    body[0] = 1;
    flo_st64(body + 1, index);
    flo_st16(body + 9, (uint16_t)t->nops);
    txn_free(srv, t);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
}

void dev__txn_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_KV_BEGIN_TXN] = op_begin;
    ops[FLO_OP_KV_COMMIT_TXN] = op_commit;
    ops[FLO_OP_KV_ROLLBACK_TXN] = op_rollback;
}
