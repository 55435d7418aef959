/*
 * flo-dev's KV op handlers: decode a request's key, value and TLV options,
 * run it on the engine (dev_kv.c) and answer with the body layouts and
 * status/message texts of flo-protocol-core.md §7. Blocking GETs (block_ms /
 * wait_ms) park in the waiter registry (dev_wait.c) and are answered when a
 * write to their key lands or when their time is up, while the connection
 * keeps serving its other frames (answers may therefore come out of order,
 * as from the real server).
 *
 * An op carrying a txn_id option is handed to dev_kv_txn.c after key
 * validation and the reserved-key check; the ops Flo does not run inside a
 * transaction (mget, scan, history, json_*) refuse a txn_id instead of
 * silently running outside it. Request values with a layout are parsed by
 * libflo's server-side parsers (flo_kv.h), the one implementation of each
 * layout in the repository, which also carry the server's error texts.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"

#define WAIT_TAG_KV        'K'           /* waiter key family tag */
#define MAX_OK_BODY        (256u * 1024) /* largest OK body the real server sends */
#define MGET_MAX_BODY      (1u << 20)
#define SCAN_DEFAULT_LIMIT 100
#define SCAN_MAX_LIMIT     1000

enum wait_kind_e {
    WAIT_BLOCK = 1,  /* block_ms: until the key exists */
    WAIT_CHANGE = 2, /* wait_ms: until its version exceeds waiter->arg */
};

static const char reserved_msg[] = "access to reserved key denied";

/* ---- shared checks ---- */

/*
 * Key validation, then (if `reserved` applies to the op) the reserved-prefix
 * check; an op with a txn_id option (if `txn`) then goes to the transaction
 * code. Returns true if the request may proceed; otherwise it has been
 * answered.
 */
static bool prelude(struct dev_conn *c, const struct dev_req *r, struct dev_qkey *k, bool reserved,
                    bool txn)
{
    const char *msg;
    if (dev_kv_qualify(r->env.ns, r->env.key, k, &msg) != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return false;
    }
    if (reserved && dev_kv_is_reserved(r->env.key)) {
        dev__reply_text(c, r->id, FLO_STATUS_UNAUTHORIZED, reserved_msg);
        return false;
    }
    flo_buf_t tid;
    if (txn && flo_opt_find(r->env.opts, FLO_OPT_TXN_ID, &tid)) {
        dev__txn_op(c, r, k);
        return false;
    }
    return true;
}

static void reply_status(struct dev_conn *c, uint64_t id, uint8_t st, const char *msg)
{
    dev__reply_text(c, id, st, msg);
}

/* Answer a GET hit: [version u64][value]. */
static void reply_entry(struct dev_conn *c, uint64_t id, const struct dev_kv_entry *e)
{
    const struct dev_kv_version *v = &e->hist[0];
    if (v->len > MAX_OK_BODY) {
        dev__reply_text(c, id, FLO_STATUS_INTERNAL, "internal error: value too large to send");
        return;
    }
    uint8_t *body = malloc(8 + v->len);
    if (body == NULL) {
        dev__reply_text(c, id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        return;
    }
    flo_st64(body, v->version);
    if (v->len > 0) {
        memcpy(body + 8, v->val, v->len);
    }
    dev__reply(c, id, FLO_STATUS_OK, FLO_BUF(body, 8 + v->len));
    free(body);
}

static flo_buf_t wait_key(const struct dev_qkey *k, uint8_t *buf)
{
    buf[0] = WAIT_TAG_KV;
    memcpy(buf + 1, k->buf, k->len);
    return FLO_BUF(buf, k->len + 1);
}

/* ---- blocking reads ---- */

static void wait_timeout_cb(struct dev_waiter *w)
{
    dev__reply(w->conn, w->request_id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
}

static bool wake_fn(struct dev_waiter *w, void *ud)
{
    const struct dev_kv_entry *e = ud;
    if (w->kind == WAIT_CHANGE && e->hist[0].version <= w->arg) {
        return false;
    }
    reply_entry(w->conn, w->request_id, e);
    return true;
}

void dev__kv_wake(struct dev_server *srv, const struct dev_qkey *k)
{
    const struct dev_kv_entry *e = dev_kv_lookup(srv->kv, k, dev__now(srv));
    if (e == NULL) {
        return;
    }
    uint8_t buf[1 + DEV_KV_MAX_QKEY];
    dev__wait_wake(srv, wait_key(k, buf), wake_fn, (void *)e);
}

static uint32_t capped_wait(flo_buf_t opts, uint8_t tag)
{
    uint32_t v = 0;
    if (!flo_opt_get_u32(opts, tag, &v)) {
        return 0;
    }
    return v > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : v;
}

/* ---- ops ---- */

static void op_get(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    struct dev_server *srv = c->srv;
    const struct dev_kv_entry *e = dev_kv_lookup(srv->kv, &k, dev__now(srv));
    uint32_t block_ms = capped_wait(r->env.opts, FLO_OPT_BLOCK_MS);
    uint32_t wait_ms = capped_wait(r->env.opts, FLO_OPT_WAIT_MS);
    int kind = 0;
    uint32_t timeout = 0;
    if (block_ms > 0) { /* block_ms wins over wait_ms */
        if (e == NULL) {
            kind = WAIT_BLOCK;
            timeout = block_ms;
        }
    } else if (wait_ms > 0) {
        kind = WAIT_CHANGE;
        timeout = wait_ms;
    }
    if (kind != 0) {
        uint8_t buf[1 + DEV_KV_MAX_QKEY];
        struct dev_waiter *w = dev__wait_add(c, wait_key(&k, buf), r->id, timeout, wait_timeout_cb);
        if (w != NULL) {
            w->kind = kind;
            w->arg = e != NULL ? e->hist[0].version : 0;
            return;
        }
        /* Waiter pool full: the real server answers "not found" at once. */
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    if (e == NULL) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    reply_entry(c, r->id, e);
}

static void op_put(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    struct dev_kv_put_opts o = {0};
    o.has_cas = flo_opt_get_u64(r->env.opts, FLO_OPT_CAS_VERSION, &o.cas);
    o.nx = flo_opt_has_flag(r->env.opts, FLO_OPT_IF_NOT_EXISTS);
    o.xx = flo_opt_has_flag(r->env.opts, FLO_OPT_IF_EXISTS);
    flo_buf_t ttl;
    if (flo_opt_find(r->env.opts, FLO_OPT_TTL_MS, &ttl)) {
        o.has_ttl = true;
        o.ttl_bad_width = ttl.len != 8;
        o.ttl_ms = ttl.len == 8 ? flo_ld64(ttl.ptr) : 0;
    }
    uint64_t version;
    const char *msg;
    uint8_t st = dev_kv_put(c->srv->kv, &k, r->env.value, &o, dev__now(c->srv), &version, &msg);
    if (st != FLO_STATUS_OK) {
        reply_status(c, r->id, st, msg);
        return;
    }
    uint8_t body[8];
    flo_st64(body, version);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    dev__kv_wake(c->srv, &k);
}

static void op_delete(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    uint64_t cas = 0;
    bool has_cas = flo_opt_get_u64(r->env.opts, FLO_OPT_CAS_VERSION, &cas);
    const char *msg;
    uint8_t st = dev_kv_delete(c->srv->kv, &k, has_cas, cas, dev__now(c->srv), &msg);
    reply_status(c, r->id, st, msg);
}

static void op_exists(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, false, true)) {
        return;
    }
    const struct dev_kv_entry *e = dev_kv_lookup(c->srv->kv, &k, dev__now(c->srv));
    uint8_t body[9];
    flo_st64(body, e != NULL ? e->hist[0].version : 0);
    body[8] = e != NULL ? 1 : 0;
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
}

static void op_incr(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    int64_t delta;
    const char *msg;
    if (flo_kv_parse_incr(r->env.value, &delta, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    uint64_t version;
    int64_t value;
    uint8_t st = dev_kv_incr(c->srv->kv, &k, delta, dev__now(c->srv), &version, &value, &msg);
    if (st != FLO_STATUS_OK) {
        reply_status(c, r->id, st, msg);
        return;
    }
    uint8_t body[16];
    flo_st64(body, version);
    flo_st64(body + 8, (uint64_t)value);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    dev__kv_wake(c->srv, &k);
}

static void op_touch(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    uint64_t ttl;
    const char *msg;
    if (flo_kv_parse_touch(r->env.value, &ttl, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    uint64_t cas = 0;
    bool has_cas = flo_opt_get_u64(r->env.opts, FLO_OPT_CAS_VERSION, &cas);
    uint8_t st = dev_kv_set_ttl(c->srv->kv, &k, ttl, has_cas, cas, dev__now(c->srv), &msg);
    reply_status(c, r->id, st, msg);
}

static void op_persist(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, true)) {
        return;
    }
    uint64_t cas = 0;
    bool has_cas = flo_opt_get_u64(r->env.opts, FLO_OPT_CAS_VERSION, &cas);
    const char *msg;
    uint8_t st = dev_kv_set_ttl(c->srv->kv, &k, 0, has_cas, cas, dev__now(c->srv), &msg);
    reply_status(c, r->id, st, msg);
}

static void op_mget(struct dev_conn *c, const struct dev_req *r)
{
    if (dev__txn_refuse(c, r)) {
        return;
    }
    struct flo_kv_key_iter it;
    uint16_t count;
    const char *msg;
    if (flo_kv_parse_mget(r->env.value, &it, &count, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    int rc = flo_wbuf_u32(&b, count);
    uint64_t now = dev__now(c->srv);
    flo_buf_t key;
    while (rc == 0 && flo_kv_key_next(&it, &key) == 1) {
        struct dev_qkey k;
        const struct dev_kv_entry *e = NULL;
        /* Keys that cannot be qualified are reported missing (§7.3). */
        if (dev_kv_qualify(r->env.ns, key, &k, &msg) == FLO_STATUS_OK) {
            e = dev_kv_lookup(c->srv->kv, &k, now);
        }
        const struct dev_kv_version *v = e != NULL ? &e->hist[0] : NULL;
        size_t need = 1 + 2 + key.len + 8 + 4 + (v != NULL ? v->len : 0);
        if (b.len + need > MGET_MAX_BODY) {
            break; /* the real server drops what does not fit; count stays */
        }
        rc |= flo_wbuf_u8(&b, v != NULL ? FLO_STATUS_OK : FLO_STATUS_NOT_FOUND);
        rc |= flo_wbuf_str16(&b, key.ptr, key.len);
        rc |= flo_wbuf_u64(&b, v != NULL ? v->version : 0);
        rc |= flo_wbuf_str32(&b, v != NULL ? v->val : NULL, v != NULL ? v->len : 0);
    }
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

static void op_scan(struct dev_conn *c, const struct dev_req *r)
{
    if (dev__txn_refuse(c, r)) {
        return;
    }
    uint32_t limit;
    flo_buf_t cursor;
    const char *msg;
    if (flo_kv_parse_scan(r->env.value, &limit, &cursor, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    if (limit == 0) {
        limit = SCAN_DEFAULT_LIMIT;
    } else if (limit > SCAN_MAX_LIMIT) {
        limit = SCAN_MAX_LIMIT;
    }
    flo_buf_t *keys;
    size_t n;
    bool more;
    int rc = dev_kv_scan(c->srv->kv, r->env.ns, r->env.key, cursor, limit, dev__now(c->srv), &keys,
                         &n, &more);
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    rc = flo_wbuf_u32(&b, 0); /* count, patched below */
    size_t used = 0;
    /* Room for the trailer (has_more + cursor = last key) must remain. */
    for (; used < n && rc == 0; used++) {
        size_t need = 2 + keys[used].len + 4;
        if (b.len + need + 1 + 2 + keys[used].len > MAX_OK_BODY) {
            more = true;
            break;
        }
        rc |= flo_wbuf_str16(&b, keys[used].ptr, keys[used].len);
        rc |= flo_wbuf_u32(&b, 0); /* the walk never returns values */
    }
    flo_buf_t next = more && used > 0 ? keys[used - 1] : FLO_BUF_NULL;
    rc |= flo_wbuf_u8(&b, next.len > 0 ? 1 : 0);
    rc |= flo_wbuf_str16(&b, next.ptr, next.len);
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
    } else {
        flo_st32(b.data, (uint32_t)used);
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
    free(keys);
}

static void op_history(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!prelude(c, r, &k, true, false) || dev__txn_refuse(c, r)) {
        return;
    }
    const struct dev_kv_entry *e = dev_kv_lookup(c->srv->kv, &k, dev__now(c->srv));
    if (e == NULL) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    int rc = flo_wbuf_u32(&b, 0);
    uint32_t used = 0;
    for (; used < e->hist_count && rc == 0; used++) {
        const struct dev_kv_version *v = &e->hist[used];
        if (b.len + 4 + v->len + 8 > MAX_OK_BODY) {
            break; /* newest first: older versions that do not fit are left out */
        }
        rc |= flo_wbuf_str32(&b, v->val, v->len);
        rc |= flo_wbuf_u64(&b, v->version);
    }
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
    } else {
        flo_st32(b.data, used);
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

void dev__kv_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_KV_PUT] = op_put;
    ops[FLO_OP_KV_GET] = op_get;
    ops[FLO_OP_KV_MGET] = op_mget;
    ops[FLO_OP_KV_DELETE] = op_delete;
    ops[FLO_OP_KV_SCAN] = op_scan;
    ops[FLO_OP_KV_HISTORY] = op_history;
    ops[FLO_OP_KV_INCR] = op_incr;
    ops[FLO_OP_KV_TOUCH] = op_touch;
    ops[FLO_OP_KV_PERSIST] = op_persist;
    ops[FLO_OP_KV_EXISTS] = op_exists;
}
