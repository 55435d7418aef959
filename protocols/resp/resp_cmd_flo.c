/*
 * FLO.* commands: the Flo KV features Redis has no word for.
 *
 *   FLO.GETV key                       value with its version
 *   FLO.SETV key value [EX s|PX ms]    put, answering the new version
 *   FLO.CAS key value version [EX s|PX ms]
 *                                      put only if the key is at `version`
 *                                      (0 = must not exist); -CONFLICT if not
 *   FLO.HISTORY key [COUNT n]          earlier versions, newest first
 *   FLO.BGET key timeout_ms            wait until the key exists (block_ms)
 *   FLO.WATCH key timeout_ms           wait for the key's next version (wait_ms)
 *
 * A value with its version is a 2-element array [value, version] in RESP2
 * and a map {value, version} in RESP3. The long-polls go to the pool's
 * blocking lane, so they never hold a connection other requests need; they
 * are barriers (resp_internal.h): the commands behind them on the same
 * connection wait for them, as behind a blocked Redis client, while other
 * connections are served meanwhile.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "resp_internal.h"

#define ERR_NOT_INT "ERR value is not an integer or out of range"

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void send_failed(struct resp_pending *p, int err)
{
    resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    done(p);
}

struct flo_state {
    struct flo_wbuf opts;
    uint64_t count; /* FLO.HISTORY COUNT, 0 = all */
};

static void flo_state_free(void *state)
{
    struct flo_state *s = state;
    if (s) {
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static struct flo_state *state_new(struct resp_pending *p)
{
    struct flo_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return NULL;
    }
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = flo_state_free;
    return s;
}

static void send_one(struct resp_pending *p, resp_step_cb step, uint16_t op, flo_buf_t key,
                     flo_buf_t value, flo_buf_t opts, unsigned flags, uint32_t timeout_ms)
{
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = step;
        err = resp__send_ex(p, 0, op, key, value, opts, flags, timeout_ms);
    }
    if (err < 0) {
        send_failed(p, err);
    }
}

/* [value, version] (RESP2) or {value, version} (RESP3). */
static void reply_versioned(struct resp_pending *p, flo_buf_t value, uint64_t version)
{
    if (p->proto == RESP_PROTO_3) {
        resp_reply_map(&p->reply, p->proto, 2);
        resp_reply_bulk_str(&p->reply, "value");
        resp_reply_bulk(&p->reply, value.ptr, value.len);
        resp_reply_bulk_str(&p->reply, "version");
    } else {
        resp_reply_array(&p->reply, 2);
        resp_reply_bulk(&p->reply, value.ptr, value.len);
    }
    resp_reply_int(&p->reply, (int64_t)version);
}

/* ---- FLO.GETV / FLO.BGET / FLO.WATCH ---- */

/* p->count: 1 = answer [value, version], 0 = the value only. */
static void get_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    uint64_t version;
    flo_buf_t value;
    if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        /* Missing key, or a long-poll that timed out. */
        resp_reply_null(&p->reply, p->proto);
    } else if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_kv_dec_get(body, &version, &value)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else if (p->count == 1) {
        reply_versioned(p, value, version);
    } else {
        resp_reply_bulk(&p->reply, value.ptr, value.len);
    }
    done(p);
}

static void cmd_getv(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    p->count = 1;
    send_one(p, get_step, FLO_OP_KV_GET, key, FLO_BUF_NULL, FLO_BUF_NULL, FLO_SEND_IDEMPOTENT, 0);
}

/* FLO.BGET / FLO.WATCH key timeout_ms. */
static void longpoll(struct resp_pending *p, uint8_t tag, bool versioned)
{
    flo_buf_t key = p->args.argv[1];
    long long ms;
    if (!resp__arg_ll(p->args.argv[2], &ms) || ms < 0) {
        resp_reply_error(&p->reply, "ERR timeout is not an integer or out of range");
        done(p);
        return;
    }
    if (ms > FLO_MAX_BLOCK_MS) {
        resp_reply_errorf(&p->reply, "ERR timeout of %lld ms exceeds Flo's maximum of %u ms", ms,
                          FLO_MAX_BLOCK_MS);
        done(p);
        return;
    }
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct flo_state *s = state_new(p);
    if (!s) {
        return;
    }
    p->count = versioned ? 1 : 0;
    unsigned flags = 0;
    uint32_t timeout = 0;
    if (ms > 0) {
        if (flo_opt_u32(&s->opts, tag, (uint32_t)ms) < 0) {
            send_failed(p, FLO_ENOMEM);
            return;
        }
        flags = FLO_SEND_BLOCKING;
        timeout = proto_timeout_for_block((uint32_t)ms);
    }
    send_one(p, get_step, FLO_OP_KV_GET, key, FLO_BUF_NULL, flo_wbuf_view(&s->opts), flags,
             timeout);
}

static void cmd_bget(struct resp_pending *p)
{
    longpoll(p, FLO_OPT_BLOCK_MS, false);
}

static void cmd_watch(struct resp_pending *p)
{
    longpoll(p, FLO_OPT_WAIT_MS, true);
}

/* ---- FLO.SETV / FLO.CAS ---- */

static void put_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    uint64_t version;
    if (err == 0 && status == FLO_STATUS_CONFLICT) {
        resp_reply_error(&p->reply, "CONFLICT the key's version is not the expected one (it "
                                    "changed, or exists when version 0 was given)");
    } else if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_kv_dec_version(body, &version)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_int(&p->reply, (int64_t)version);
    }
    done(p);
}

/* Parse [EX s|PX ms] from argv[from..]; false after replying. */
static bool parse_ttl(struct resp_pending *p, size_t from, uint64_t *ttl_ms)
{
    const flo_buf_t *a = p->args.argv;
    *ttl_ms = 0;
    for (size_t j = from; j < p->args.argc; j += 2) {
        bool ex = resp__arg_is(a[j], "ex"), px = resp__arg_is(a[j], "px");
        long long v;
        if ((!ex && !px) || j + 1 >= p->args.argc || *ttl_ms) {
            resp_reply_error(&p->reply, "ERR syntax error");
            return false;
        }
        if (!resp__arg_ll(a[j + 1], &v)) {
            resp_reply_error(&p->reply, ERR_NOT_INT);
            return false;
        }
        if (v <= 0 || (ex && v > LLONG_MAX / 1000)) {
            resp_reply_errorf(&p->reply, "ERR invalid expire time in '%s' command", p->cmd->name);
            return false;
        }
        *ttl_ms = (uint64_t)v * (ex ? 1000 : 1);
    }
    return true;
}

static void put_generic(struct resp_pending *p, bool cas)
{
    flo_buf_t key = p->args.argv[1], val = p->args.argv[2];
    uint64_t version = 0, ttl;
    if (cas) {
        long long v;
        if (!resp__arg_ll(p->args.argv[3], &v) || v < 0) {
            resp_reply_error(&p->reply, "ERR version is not an integer or out of range");
            done(p);
            return;
        }
        version = (uint64_t)v;
    }
    if (!parse_ttl(p, cas ? 4 : 3, &ttl) || !resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct proto_err e;
    if (proto_check_value(p->c->srv->ctx, val.len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        done(p);
        return;
    }
    struct flo_state *s = state_new(p);
    if (!s) {
        return;
    }
    int err = 0;
    if (ttl) {
        err = flo_opt_u64(&s->opts, FLO_OPT_TTL_MS, ttl);
    }
    if (err == 0 && cas) {
        err = flo_opt_u64(&s->opts, FLO_OPT_CAS_VERSION, version);
    }
    if (err < 0) {
        send_failed(p, err);
        return;
    }
    send_one(p, put_step, FLO_OP_KV_PUT, key, val, flo_wbuf_view(&s->opts), 0, 0);
}

static void cmd_setv(struct resp_pending *p)
{
    put_generic(p, false);
}

static void cmd_cas(struct resp_pending *p)
{
    put_generic(p, true);
}

/* ---- FLO.HISTORY ---- */

static void history_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                         flo_buf_t body)
{
    (void)idx;
    struct flo_state *s = p->state;
    struct flo_kv_history_iter it;
    struct flo_kv_history_entry e;
    uint32_t count;
    if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        resp_reply_array(&p->reply, 0); /* no such key: no versions */
    } else if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_kv_history_begin(body, &it, &count)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        uint64_t n = count;
        if (s->count && s->count < n) {
            n = s->count;
        }
        resp_reply_array(&p->reply, n);
        for (uint64_t i = 0; i < n && flo_kv_history_next(&it, &e) == 1; i++) {
            reply_versioned(p, e.value, e.version);
        }
    }
    done(p);
}

static void cmd_history(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1];
    uint64_t count = 0;
    if (p->args.argc == 4 && resp__arg_is(p->args.argv[2], "count")) {
        long long v;
        if (!resp__arg_ll(p->args.argv[3], &v)) {
            resp_reply_error(&p->reply, ERR_NOT_INT);
            done(p);
            return;
        }
        if (v < 1) {
            resp_reply_error(&p->reply, "ERR COUNT must be positive");
            done(p);
            return;
        }
        count = (uint64_t)v;
    } else if (p->args.argc != 2) {
        resp_reply_error(&p->reply, "ERR syntax error");
        done(p);
        return;
    }
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct flo_state *s = state_new(p);
    if (!s) {
        return;
    }
    s->count = count;
    send_one(p, history_step, FLO_OP_KV_HISTORY, key, FLO_BUF_NULL, FLO_BUF_NULL,
             FLO_SEND_IDEMPOTENT, 0);
}

const struct resp_cmd resp__flo_cmds[] = {
    {"flo.getv", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "flo",
     "Returns the value of a key with its version.", cmd_getv},
    {"flo.setv", -3, RESP_CMD_WRITE, 1, 1, 1, "flo",
     "Sets a key ([EX s|PX ms]) and returns its new version.", cmd_setv},
    {"flo.cas", -4, RESP_CMD_WRITE, 1, 1, 1, "flo",
     "Sets a key only if its version is the given one (0 = absent); returns the new version.",
     cmd_cas},
    {"flo.history", -2, RESP_CMD_READONLY, 1, 1, 1, "flo",
     "Returns earlier values of a key with their versions, newest first.", cmd_history},
    {"flo.bget", 3, RESP_CMD_READONLY | RESP_CMD_BARRIER | RESP_CMD_TIMEOUT_NIL, 1, 1, 1, "flo",
     "Waits up to timeout_ms for the key to exist and returns its value (nil on timeout).",
     cmd_bget},
    {"flo.watch", 3, RESP_CMD_READONLY | RESP_CMD_BARRIER | RESP_CMD_TIMEOUT_NIL, 1, 1, 1, "flo",
     "Waits up to timeout_ms for the key's next version; [value, version] or nil on timeout.",
     cmd_watch},
};
const size_t resp__flo_ncmds = sizeof(resp__flo_cmds) / sizeof(resp__flo_cmds[0]);
