/*
 * The rest of Redis' string and keyspace commands over Flo KV: MGET (one
 * kv_mget per 256 keys), MSET (one kv_put per key, not atomic), SETNX,
 * SETEX, PSETEX, GETDEL and GETEX (a read, then a write conditioned on the
 * version read, retried a bounded number of times), the counters INCR /
 * INCRBY / DECR / DECRBY (kv_incr), EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT
 * (kv_touch, or kv_delete when the deadline has passed), PERSIST
 * (kv_persist), TTL / PTTL (answerable only for a missing key) and TYPE
 * (kv_exists). Argument parsing and error texts follow redis-server 7;
 * docs/resp-commands.md lists where Flo makes the result differ.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "resp_internal.h"

#define RMW_MAX_ATTEMPTS 5   /* read-then-CAS retries of GETDEL / GETEX */
#define MSET_WINDOW      256 /* puts in flight per MSET */
/* Key bytes per kv_mget request: a real Flo server stalls on frames above
 * 256 KiB, so a chunk stays well below it. */
#define MGET_CHUNK_BYTES (192u * 1024)

#define ERR_NOT_INT  "ERR value is not an integer or out of range"
#define ERR_OVERFLOW "ERR increment or decrement would overflow"

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void send_failed(struct resp_pending *p, int err)
{
    resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    done(p);
}

/* Allocate one call and send it; on a synchronous failure reply and finish. */
static void send_one(struct resp_pending *p, resp_step_cb step, uint16_t op, flo_buf_t key,
                     flo_buf_t value, flo_buf_t opts, unsigned flags)
{
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = step;
        err = resp__send(p, 0, op, key, value, opts, flags);
    }
    if (err < 0) {
        send_failed(p, err);
        return;
    }
    resp__pending_sealed(p); /* every send_one command is a single request */
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

/* ---- expire arguments (shared with MULTI) ---- */

bool resp__expire_time(struct resp_pending *p, flo_buf_t arg, uint64_t ms_unit, bool absolute,
                       const char *name, uint64_t *ttl_ms, bool *delete_now)
{
    long long v;
    if (!resp__arg_ll(arg, &v)) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
        return false;
    }
    /* Redis' expireGenericCommand: unit conversion and base time may not
     * overflow; a deadline not in the future deletes the key. */
    if (ms_unit == 1000) {
        if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000) {
            goto invalid;
        }
        v *= 1000;
    }
    long long now = (long long)resp__now_unix_ms();
    long long base = absolute ? 0 : now;
    if (v > LLONG_MAX - base) {
        goto invalid;
    }
    long long when = v + base;
    *delete_now = when <= now;
    /* Relative times are sent as given (no clock round trip). */
    *ttl_ms = *delete_now ? 0 : (uint64_t)(absolute ? when - now : v);
    return true;
invalid:
    resp_reply_errorf(&p->reply, "ERR invalid expire time in '%s' command", name);
    return false;
}

bool resp__expire_opts_check(struct resp_pending *p)
{
    bool nx = false, xx = false, gt = false, lt = false;
    for (size_t j = 3; j < p->args.argc; j++) {
        flo_buf_t a = p->args.argv[j];
        if (resp__arg_is(a, "nx")) {
            nx = true;
        } else if (resp__arg_is(a, "xx")) {
            xx = true;
        } else if (resp__arg_is(a, "gt")) {
            gt = true;
        } else if (resp__arg_is(a, "lt")) {
            lt = true;
        } else {
            resp_reply_errorf(&p->reply, "ERR Unsupported option %.128s", (const char *)a.ptr);
            return false;
        }
    }
    if (nx && (xx || gt || lt)) {
        resp_reply_error(&p->reply,
                         "ERR NX and XX, GT or LT options at the same time are not compatible");
        return false;
    }
    if (gt && lt) {
        resp_reply_error(&p->reply, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    if (nx || xx || gt || lt) {
        resp_reply_error(&p->reply,
                         "ERR EXPIRE options NX, XX, GT and LT are not supported by flo-sidecar: "
                         "they compare with the key's current TTL, which Flo cannot report");
        return false;
    }
    return true;
}

/* ---- MGET ---- */

struct mget_state {
    size_t nchunks;
    size_t *first;           /* first key index (0-based) of each chunk */
    struct flo_wbuf *bodies; /* answer of each chunk */
    struct flo_wbuf req;     /* scratch for request values */
    size_t answered;
};

static void mget_state_free(void *state)
{
    struct mget_state *m = state;
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->nchunks && m->bodies; i++) {
        flo_wbuf_free(&m->bodies[i]);
    }
    free(m->bodies);
    free(m->first);
    flo_wbuf_free(&m->req);
    free(m);
}

static void mget_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    struct mget_state *m = p->state;
    if (!p->failed) {
        if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
            p->failed = true;
        } else if (flo_wbuf_append(&m->bodies[idx], body.ptr, body.len) < 0) {
            resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            p->failed = true;
        }
    }
    if (p->outstanding > 0) {
        return;
    }
    if (p->failed) {
        done(p);
        return;
    }
    size_t nkeys = p->args.argc - 1;
    resp_reply_array(&p->reply, nkeys);
    for (size_t c = 0; c < m->nchunks; c++) {
        size_t want = (c + 1 < m->nchunks ? m->first[c + 1] : nkeys) - m->first[c];
        struct flo_kv_mget_iter it;
        struct flo_kv_mget_entry e;
        size_t got = 0;
        if (flo_kv_mget_begin(flo_wbuf_view(&m->bodies[c]), &it) == 0) {
            while (got < want && flo_kv_mget_next(&it, &e) == 1) {
                if (e.found) {
                    resp_reply_bulk(&p->reply, e.value.ptr, e.value.len);
                } else {
                    resp_reply_null(&p->reply, p->proto);
                }
                got++;
            }
        }
        /* Entries the server dropped (too large to fit) are reported as
         * missing rather than shifting the later keys. */
        for (; got < want; got++) {
            resp_reply_null(&p->reply, p->proto);
        }
    }
    done(p);
}

static void cmd_mget(struct resp_pending *p)
{
    size_t nkeys = p->args.argc - 1;
    const flo_buf_t *keys = p->args.argv + 1;
    for (size_t i = 0; i < nkeys; i++) {
        if (!resp__key_ok(p, keys[i])) {
            done(p);
            return;
        }
    }
    struct mget_state *m = calloc(1, sizeof(*m));
    if (!m) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&m->req);
    p->state = m;
    p->state_free = mget_state_free;
    /* Chunks of at most 256 keys and MGET_CHUNK_BYTES key bytes. */
    size_t maxchunks = nkeys; /* upper bound */
    m->first = calloc(maxchunks, sizeof(*m->first));
    if (!m->first) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    size_t i = 0;
    while (i < nkeys) {
        m->first[m->nchunks++] = i;
        size_t bytes = 0, n = 0;
        while (i < nkeys && n < FLO_KV_MGET_MAX_KEYS &&
               (n == 0 || bytes + keys[i].len + 2 <= MGET_CHUNK_BYTES)) {
            bytes += keys[i].len + 2;
            n++;
            i++;
        }
    }
    m->bodies = calloc(m->nchunks, sizeof(*m->bodies));
    if (!m->bodies || resp__calls_alloc(p, (unsigned)m->nchunks) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    for (size_t c = 0; c < m->nchunks; c++) {
        flo_wbuf_init(&m->bodies[c]);
    }
    p->step = mget_step;
    for (size_t c = 0; c < m->nchunks; c++) {
        size_t end = c + 1 < m->nchunks ? m->first[c + 1] : nkeys;
        flo_wbuf_reset(&m->req);
        int err = flo_kv_mget_value(&m->req, keys + m->first[c], end - m->first[c]);
        if (err == 0) {
            err = resp__send(p, (unsigned)c, FLO_OP_KV_MGET, FLO_BUF_NULL, flo_wbuf_view(&m->req),
                             FLO_BUF_NULL, FLO_SEND_IDEMPOTENT);
        }
        if (err < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            p->failed = true;
            break;
        }
    }
    resp__pending_sealed(p);
    if (p->outstanding == 0) {
        done(p);
    }
}

/* ---- MSET ---- */

struct mset_key {
    flo_buf_t key;
    UT_hash_handle hh;
};

struct mset_state {
    size_t *pairs; /* argv index of each key to write (last occurrence wins) */
    size_t npairs, next;
    struct mset_key *seen; /* dedup index, freed after planning */
};

static void mset_state_free(void *state)
{
    struct mset_state *m = state;
    if (m) {
        free(m->pairs);
        free(m);
    }
}

static void mset_pump(struct resp_pending *p)
{
    struct mset_state *m = p->state;
    while (!p->failed && m->next < m->npairs && p->outstanding < MSET_WINDOW) {
        size_t call = m->next++;
        size_t a = m->pairs[call];
        int err = resp__send(p, (unsigned)call, FLO_OP_KV_PUT, p->args.argv[a], p->args.argv[a + 1],
                             FLO_BUF_NULL, 0);
        if (err < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            p->failed = true;
        }
    }
    if (m->next == m->npairs || p->failed) {
        resp__pending_sealed(p);
    }
    if (p->outstanding == 0) {
        if (!p->failed) {
            resp_reply_simple(&p->reply, "OK");
        }
        done(p);
    }
}

static void mset_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    if (!p->failed && (err || status != FLO_STATUS_OK)) {
        resp__reply_upstream_err(p, err, status, body);
        p->failed = true;
    }
    mset_pump(p);
}

static void cmd_mset(struct resp_pending *p)
{
    size_t argc = p->args.argc;
    if ((argc - 1) % 2 != 0) {
        resp_reply_error(&p->reply, "ERR wrong number of arguments for 'mset' command");
        done(p);
        return;
    }
    for (size_t a = 1; a < argc; a += 2) {
        if (!resp__key_ok(p, p->args.argv[a]) || !value_ok(p, p->args.argv[a + 1])) {
            done(p);
            return;
        }
    }
    struct mset_state *m = calloc(1, sizeof(*m));
    size_t npairs = (argc - 1) / 2;
    struct mset_key *nodes = calloc(npairs, sizeof(*nodes));
    if (!m || !nodes || !(m->pairs = calloc(npairs, sizeof(*m->pairs)))) {
        free(nodes);
        if (m) {
            free(m->pairs);
        }
        free(m);
        send_failed(p, FLO_ENOMEM);
        return;
    }
    p->state = m;
    p->state_free = mset_state_free;
    /* Puts run concurrently, so a key given twice is written once, with
     * its last value (Redis applies the pairs in order: the last wins). */
    for (size_t k = npairs; k-- > 0;) {
        size_t a = 1 + 2 * k;
        struct mset_key *found = NULL;
        HASH_FIND(hh, m->seen, p->args.argv[a].ptr, p->args.argv[a].len, found);
        if (found) {
            continue;
        }
        nodes[k].key = p->args.argv[a];
        HASH_ADD_KEYPTR(hh, m->seen, nodes[k].key.ptr, nodes[k].key.len, &nodes[k]);
        m->pairs[m->npairs++] = a;
    }
    HASH_CLEAR(hh, m->seen);
    free(nodes);
    if (resp__calls_alloc(p, (unsigned)m->npairs) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    p->step = mset_step;
    mset_pump(p);
}

/* ---- SETNX / SETEX / PSETEX ---- */

struct opts_state {
    struct flo_wbuf opts;
};

static void opts_state_free(void *state)
{
    struct opts_state *s = state;
    if (s) {
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

/* Allocate p->state holding an options buffer; NULL after replying. */
static struct opts_state *opts_state_new(struct resp_pending *p)
{
    struct opts_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return NULL;
    }
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = opts_state_free;
    return s;
}

static void setnx_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_int(&p->reply, 1);
    } else if (err == 0 && status == FLO_STATUS_CONFLICT) {
        resp_reply_int(&p->reply, 0);
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

static void cmd_setnx(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1], val = p->args.argv[2];
    if (!resp__key_ok(p, key) || !value_ok(p, val)) {
        done(p);
        return;
    }
    struct opts_state *s = opts_state_new(p);
    if (!s) {
        return;
    }
    if (flo_opt_flag(&s->opts, FLO_OPT_IF_NOT_EXISTS) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    send_one(p, setnx_step, FLO_OP_KV_PUT, key, val, flo_wbuf_view(&s->opts), 0);
}

static void ok_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_simple(&p->reply, "OK");
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

/* SETEX key seconds value / PSETEX key milliseconds value. */
static void setex_generic(struct resp_pending *p, uint64_t unit, const char *name)
{
    flo_buf_t key = p->args.argv[1], val = p->args.argv[3];
    long long v;
    if (!resp__arg_ll(p->args.argv[2], &v)) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
        done(p);
        return;
    }
    /* Redis' getExpireMillisecondsOrReply: positive, and no overflow once
     * the current time is added. */
    if (v <= 0 || (unit == 1000 && v > LLONG_MAX / 1000) ||
        v * (long long)unit > LLONG_MAX - (long long)resp__now_unix_ms()) {
        resp_reply_errorf(&p->reply, "ERR invalid expire time in '%s' command", name);
        done(p);
        return;
    }
    if (!resp__key_ok(p, key) || !value_ok(p, val)) {
        done(p);
        return;
    }
    struct opts_state *s = opts_state_new(p);
    if (!s) {
        return;
    }
    if (flo_opt_u64(&s->opts, FLO_OPT_TTL_MS, (uint64_t)v * unit) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    send_one(p, ok_step, FLO_OP_KV_PUT, key, val, flo_wbuf_view(&s->opts), 0);
}

static void cmd_setex(struct resp_pending *p)
{
    setex_generic(p, 1000, "setex");
}

static void cmd_psetex(struct resp_pending *p)
{
    setex_generic(p, 1, "psetex");
}

/* ---- GETDEL / GETEX: read, then a write conditioned on the version ---- */

enum rmw_action_e {
    RMW_NONE,    /* GETEX without options: just the read */
    RMW_DELETE,  /* GETDEL, or GETEX with a deadline already passed */
    RMW_TOUCH,   /* GETEX EX/PX/EXAT/PXAT */
    RMW_PERSIST, /* GETEX PERSIST */
};

struct rmw_state {
    enum rmw_action_e action;
    uint64_t ttl_ms;
    int phase; /* 0 reading, 1 writing */
    int attempts;
    uint64_t version;
    struct flo_wbuf old, opts, val;
};

static void rmw_state_free(void *state)
{
    struct rmw_state *s = state;
    if (s) {
        flo_wbuf_free(&s->old);
        flo_wbuf_free(&s->opts);
        flo_wbuf_free(&s->val);
        free(s);
    }
}

static int rmw_send_read(struct resp_pending *p, struct rmw_state *s)
{
    s->phase = 0;
    s->attempts++;
    return resp__send(p, 0, FLO_OP_KV_GET, p->args.argv[1], FLO_BUF_NULL, FLO_BUF_NULL,
                      FLO_SEND_IDEMPOTENT);
}

static int rmw_send_write(struct resp_pending *p, struct rmw_state *s)
{
    flo_wbuf_reset(&s->opts);
    flo_wbuf_reset(&s->val);
    int err = flo_opt_u64(&s->opts, FLO_OPT_CAS_VERSION, s->version);
    uint16_t op = FLO_OP_KV_DELETE;
    if (err == 0 && s->action == RMW_TOUCH) {
        op = FLO_OP_KV_TOUCH;
        err = flo_kv_touch_value(&s->val, s->ttl_ms);
    } else if (s->action == RMW_PERSIST) {
        op = FLO_OP_KV_PERSIST;
    }
    if (err < 0) {
        return err;
    }
    s->phase = 1;
    return resp__send(p, 0, op, p->args.argv[1], flo_wbuf_view(&s->val), flo_wbuf_view(&s->opts),
                      0);
}

static void rmw_retry_or_fail(struct resp_pending *p, struct rmw_state *s)
{
    if (s->attempts < RMW_MAX_ATTEMPTS) {
        int err = rmw_send_read(p, s);
        if (err == 0) {
            return;
        }
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_errorf(&p->reply,
                          "CONFLICT %s gave up after %d attempts: the key kept changing between "
                          "the read and the write",
                          p->cmd->name, RMW_MAX_ATTEMPTS);
    }
    done(p);
}

static void rmw_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct rmw_state *s = p->state;
    if (s->phase == 0) {
        flo_buf_t value;
        if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
            resp_reply_null(&p->reply, p->proto);
        } else if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
        } else if ((err = flo_kv_dec_get(body, &s->version, &value)) < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
        } else if (s->action == RMW_NONE) {
            resp_reply_bulk(&p->reply, value.ptr, value.len);
        } else {
            flo_wbuf_reset(&s->old);
            if (flo_wbuf_append(&s->old, value.ptr, value.len) < 0) {
                resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            } else if ((err = rmw_send_write(p, s)) < 0) {
                resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            } else {
                return;
            }
        }
        done(p);
        return;
    }
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_bulk(&p->reply, s->old.data, s->old.len);
        done(p);
    } else if (err == 0 && (status == FLO_STATUS_CONFLICT || status == FLO_STATUS_NOT_FOUND)) {
        /* Changed or deleted since the read: read again (a deleted key then
         * answers nil, as if this command had come second). */
        rmw_retry_or_fail(p, s);
    } else {
        resp__reply_upstream_err(p, err, status, body);
        done(p);
    }
}

static void rmw_start(struct resp_pending *p, enum rmw_action_e action, uint64_t ttl_ms)
{
    if (!resp__key_ok(p, p->args.argv[1])) {
        done(p);
        return;
    }
    struct rmw_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&s->old);
    flo_wbuf_init(&s->opts);
    flo_wbuf_init(&s->val);
    s->action = action;
    s->ttl_ms = ttl_ms;
    p->state = s;
    p->state_free = rmw_state_free;
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = rmw_step;
        err = rmw_send_read(p, s);
    }
    if (err < 0) {
        send_failed(p, err);
    }
}

static void cmd_getdel(struct resp_pending *p)
{
    rmw_start(p, RMW_DELETE, 0);
}

static void cmd_getex(struct resp_pending *p)
{
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc;
    bool persist = false;
    flo_buf_t exp_arg = FLO_BUF_NULL;
    const char *exp = NULL;
    /* Redis' parseExtendedStringArgumentsOrReply for GETEX: one of
     * EX/PX/EXAT/PXAT (repeatable) or PERSIST. */
    for (size_t j = 2; j < argc; j++) {
        bool has_next = j + 1 < argc;
        const char *e = NULL;
        if (resp__arg_is(a[j], "persist") && !exp) {
            persist = true;
            continue;
        } else if (resp__arg_is(a[j], "ex")) {
            e = "ex";
        } else if (resp__arg_is(a[j], "px")) {
            e = "px";
        } else if (resp__arg_is(a[j], "exat")) {
            e = "exat";
        } else if (resp__arg_is(a[j], "pxat")) {
            e = "pxat";
        }
        if (!e || persist || (exp && strcmp(exp, e) != 0) || !has_next) {
            resp_reply_error(&p->reply, "ERR syntax error");
            done(p);
            return;
        }
        exp = e;
        exp_arg = a[++j];
    }
    enum rmw_action_e action = persist ? RMW_PERSIST : RMW_NONE;
    uint64_t ttl = 0;
    if (exp) {
        long long v;
        if (!resp__arg_ll(exp_arg, &v)) {
            resp_reply_error(&p->reply, ERR_NOT_INT);
            done(p);
            return;
        }
        bool secs = exp[0] == 'e';
        bool absolute = strlen(exp) == 4;
        if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
            resp_reply_error(&p->reply, "ERR invalid expire time in 'getex' command");
            done(p);
            return;
        }
        bool del;
        if (!resp__expire_time(p, exp_arg, secs ? 1000 : 1, absolute, "getex", &ttl, &del)) {
            done(p);
            return;
        }
        action = del ? RMW_DELETE : RMW_TOUCH;
    }
    rmw_start(p, action, ttl);
}

/* ---- INCR / INCRBY / DECR / DECRBY ---- */

struct incr_state {
    struct flo_wbuf val;
};

static void incr_state_free(void *state)
{
    struct incr_state *s = state;
    if (s) {
        flo_wbuf_free(&s->val);
        free(s);
    }
}

static bool text_has(flo_buf_t body, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= body.len; i++) {
        if (memcmp(body.ptr + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

void resp__reply_incr_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    if (err == 0 && status == FLO_STATUS_BAD_REQUEST && text_has(body, "not a counter")) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
    } else if (err == 0 && (status == FLO_STATUS_BAD_REQUEST || status == FLO_STATUS_INTERNAL) &&
               (text_has(body, "overflow") || text_has(body, "counter corrupted"))) {
        resp_reply_error(&p->reply, ERR_OVERFLOW);
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
}

static void incr_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    uint64_t version;
    int64_t value;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_incr_err(p, err, status, body);
    } else if ((err = flo_kv_dec_incr(body, &version, &value)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_int(&p->reply, value);
    }
    done(p);
}

static void incr_generic(struct resp_pending *p, int64_t delta)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct incr_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&s->val);
    p->state = s;
    p->state_free = incr_state_free;
    if (flo_kv_incr_value(&s->val, delta) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    send_one(p, incr_step, FLO_OP_KV_INCR, key, flo_wbuf_view(&s->val), FLO_BUF_NULL, 0);
}

static void cmd_incr(struct resp_pending *p)
{
    incr_generic(p, 1);
}

static void cmd_decr(struct resp_pending *p)
{
    incr_generic(p, -1);
}

static void cmd_incrby(struct resp_pending *p)
{
    long long d;
    if (!resp__arg_ll(p->args.argv[2], &d)) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
        done(p);
        return;
    }
    incr_generic(p, d);
}

static void cmd_decrby(struct resp_pending *p)
{
    long long d;
    if (!resp__arg_ll(p->args.argv[2], &d)) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
        done(p);
        return;
    }
    if (d == LLONG_MIN) {
        resp_reply_error(&p->reply, "ERR decrement would overflow");
        done(p);
        return;
    }
    incr_generic(p, -d);
}

/* ---- EXPIRE family / PERSIST ---- */

/* :1 when Flo applied it, :0 when the key does not exist. */
static void one_zero_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                          flo_buf_t body)
{
    (void)idx;
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_int(&p->reply, 1);
    } else if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        resp_reply_int(&p->reply, 0);
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

static void expire_generic(struct resp_pending *p, uint64_t unit, bool absolute)
{
    flo_buf_t key = p->args.argv[1];
    uint64_t ttl;
    bool del;
    if (!resp__expire_opts_check(p) ||
        !resp__expire_time(p, p->args.argv[2], unit, absolute, p->cmd->name, &ttl, &del) ||
        !resp__key_ok(p, key)) {
        done(p);
        return;
    }
    if (del) {
        send_one(p, one_zero_step, FLO_OP_KV_DELETE, key, FLO_BUF_NULL, FLO_BUF_NULL, 0);
        return;
    }
    struct opts_state *s = opts_state_new(p);
    if (!s) {
        return;
    }
    /* The touch value goes in the same scratch buffer as options would. */
    if (flo_kv_touch_value(&s->opts, ttl) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    send_one(p, one_zero_step, FLO_OP_KV_TOUCH, key, flo_wbuf_view(&s->opts), FLO_BUF_NULL, 0);
}

static void cmd_expire(struct resp_pending *p)
{
    expire_generic(p, 1000, false);
}

static void cmd_pexpire(struct resp_pending *p)
{
    expire_generic(p, 1, false);
}

static void cmd_expireat(struct resp_pending *p)
{
    expire_generic(p, 1000, true);
}

static void cmd_pexpireat(struct resp_pending *p)
{
    expire_generic(p, 1, true);
}

static void cmd_persist(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    send_one(p, one_zero_step, FLO_OP_KV_PERSIST, key, FLO_BUF_NULL, FLO_BUF_NULL, 0);
}

/* ---- TTL / PTTL / TYPE (kv_exists) ---- */

static void exists_reply_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                              flo_buf_t body)
{
    (void)idx;
    uint64_t version;
    bool present;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_kv_dec_exists(body, &version, &present)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else if (p->count == 1) {
        /* TYPE: Flo KV holds one kind of value. */
        resp_reply_simple(&p->reply, present ? "string" : "none");
    } else if (!present) {
        resp_reply_int(&p->reply, -2); /* TTL / PTTL of a missing key */
    } else {
        resp_reply_errorf(&p->reply,
                          "ERR %s is not supported by flo-sidecar for an existing key: Flo cannot "
                          "report a key's remaining time to live",
                          p->count == 2 ? "TTL" : "PTTL");
    }
    done(p);
}

static void exists_generic(struct resp_pending *p, int64_t mode)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    p->count = mode;
    send_one(p, exists_reply_step, FLO_OP_KV_EXISTS, key, FLO_BUF_NULL, FLO_BUF_NULL,
             FLO_SEND_IDEMPOTENT);
}

static void cmd_type(struct resp_pending *p)
{
    exists_generic(p, 1);
}

static void cmd_ttl(struct resp_pending *p)
{
    exists_generic(p, 2);
}

static void cmd_pttl(struct resp_pending *p)
{
    exists_generic(p, 3);
}

const struct resp_cmd resp__kv_ext_cmds[] = {
    {"mget", -2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, -1, 1, "string",
     "Atomically returns the string values of one or more keys.", cmd_mget},
    {"mset", -3, RESP_CMD_WRITE, 1, -1, 2, "string",
     "Sets the string values of one or more keys (not atomic across keys on Flo).", cmd_mset,
     resp__blind_always},
    {"setnx", 3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Set the string value of a key only when the key doesn't exist.", cmd_setnx,
     resp__blind_always},
    {"setex", 4, RESP_CMD_WRITE, 1, 1, 1, "string",
     "Sets the string value and expiration time of a key.", cmd_setex, resp__blind_always},
    {"psetex", 4, RESP_CMD_WRITE, 1, 1, 1, "string",
     "Sets both string value and expiration time in milliseconds of a key.", cmd_psetex,
     resp__blind_always},
    {"getdel", 2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Returns the string value of a key after deleting the key.", cmd_getdel},
    {"getex", -2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Returns the string value of a key after setting its expiration time.", cmd_getex},
    {"incr", 2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Increments the integer value of a key by one.", cmd_incr, resp__blind_always},
    {"incrby", 3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Increments the integer value of a key by a number.", cmd_incrby, resp__blind_always},
    {"decr", 2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Decrements the integer value of a key by one.", cmd_decr, resp__blind_always},
    {"decrby", 3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "string",
     "Decrements a number from the integer value of a key.", cmd_decrby, resp__blind_always},
    {"expire", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Sets the expiration time of a key in seconds.", cmd_expire, resp__blind_always},
    {"pexpire", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Sets the expiration time of a key in milliseconds.", cmd_pexpire, resp__blind_always},
    {"expireat", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Sets the expiration time of a key to a Unix timestamp.", cmd_expireat, resp__blind_always},
    {"pexpireat", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp.", cmd_pexpireat,
     resp__blind_always},
    {"persist", 2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Removes the expiration time of a key.", cmd_persist, resp__blind_always},
    {"ttl", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Returns -2 for a missing key; refused for an existing key (Flo has no TTL read).", cmd_ttl},
    {"pttl", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Returns -2 for a missing key; refused for an existing key (Flo has no TTL read).", cmd_pttl},
    {"type", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "generic",
     "Determines the type of value stored at a key.", cmd_type},
};
const size_t resp__kv_ext_ncmds = sizeof(resp__kv_ext_cmds) / sizeof(resp__kv_ext_cmds[0]);
