/*
 * Redis string/keyspace commands mapped onto Flo KV: GET (kv_get), SET with
 * its options (kv_put with ttl_ms / if_not_exists / if_exists; SET ... GET is
 * a read followed by a CAS put on the version read, retried a bounded number
 * of times when another writer gets in between), DEL (kv_delete per key) and
 * EXISTS (kv_exists per key). Limits are checked before anything goes
 * upstream; Flo statuses map through proto_err (not found -> nil).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "resp_internal.h"

#define SET_GET_MAX_ATTEMPTS 5   /* CAS retries of SET ... GET under contention */
#define MULTI_KEY_WINDOW     256 /* upstream requests in flight per DEL/EXISTS */

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

bool resp__key_ok(struct resp_pending *p, flo_buf_t key)
{
    struct proto_err e;
    if (proto_check_key(key, &e) < 0) {
        resp__reply_proto_err(p, &e);
        return false;
    }
    return true;
}

/* Reply for a failed synchronous send and finish. */
static void send_failed(struct resp_pending *p, int err)
{
    resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    done(p);
}

/* ---- GET ---- */

static void get_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    uint64_t version;
    flo_buf_t value;
    if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        resp_reply_null(&p->reply, p->proto);
    } else if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_kv_dec_get(body, &version, &value)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_bulk(&p->reply, value.ptr, value.len);
    }
    done(p);
}

static void cmd_get(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1];
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = get_step;
        err = resp__send(p, 0, FLO_OP_KV_GET, key, FLO_BUF_NULL, FLO_BUF_NULL, FLO_SEND_IDEMPOTENT);
    }
    if (err < 0) {
        send_failed(p, err);
        return;
    }
    resp__pending_sealed(p);
}

/* ---- SET ---- */

enum set_expire_e { EXP_NONE = 0, EXP_EX, EXP_PX, EXP_EXAT, EXP_PXAT };

struct set_state {
    bool nx, xx, get, keepttl;
    enum set_expire_e exp;
    flo_buf_t exp_arg;
    uint64_t ttl_ms;      /* 0 = no TTL */
    int phase;            /* SET ... GET: 0 = reading, 1 = writing */
    int attempts;         /* reads done so far */
    bool had_old;         /* the key existed at the read */
    uint64_t version;     /* version read (0 = absent) */
    struct flo_wbuf old;  /* value read */
    struct flo_wbuf opts; /* TLV options of the put */
};

/* Redis' parseExtendedStringArgumentsOrReply for SET. Returns false after
 * replying "-ERR syntax error". */
static bool set_parse(struct resp_pending *p, struct set_state *s)
{
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc;
    for (size_t j = 3; j < argc; j++) {
        bool has_next = j + 1 < argc;
        bool other_exp = s->exp != EXP_NONE;
        enum set_expire_e e = EXP_NONE;
        if (resp__arg_is(a[j], "nx") && !s->xx) {
            s->nx = true;
        } else if (resp__arg_is(a[j], "xx") && !s->nx) {
            s->xx = true;
        } else if (resp__arg_is(a[j], "get")) {
            s->get = true;
        } else if (resp__arg_is(a[j], "keepttl") && !other_exp) {
            s->keepttl = true;
        } else if (resp__arg_is(a[j], "ex")) {
            e = EXP_EX;
        } else if (resp__arg_is(a[j], "px")) {
            e = EXP_PX;
        } else if (resp__arg_is(a[j], "exat")) {
            e = EXP_EXAT;
        } else if (resp__arg_is(a[j], "pxat")) {
            e = EXP_PXAT;
        } else {
            goto syntax;
        }
        if (e != EXP_NONE) {
            /* The same expire option may repeat; two different ones or one
             * with KEEPTTL may not, and each needs its value. */
            if (s->keepttl || (other_exp && s->exp != e) || !has_next) {
                goto syntax;
            }
            s->exp = e;
            s->exp_arg = a[++j];
        }
    }
    return true;
syntax:
    resp_reply_error(&p->reply, "ERR syntax error");
    return false;
}

uint64_t resp__now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Turn the expire option into a relative TTL; false after replying. */
static bool set_ttl(struct resp_pending *p, struct set_state *s)
{
    if (s->exp == EXP_NONE) {
        return true;
    }
    long long v;
    if (!resp__arg_ll(s->exp_arg, &v)) {
        resp_reply_error(&p->reply, "ERR value is not an integer or out of range");
        return false;
    }
    bool secs = s->exp == EXP_EX || s->exp == EXP_EXAT;
    if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
        resp_reply_error(&p->reply, "ERR invalid expire time in 'set' command");
        return false;
    }
    uint64_t ms = (uint64_t)v * (secs ? 1000 : 1);
    if (s->exp == EXP_EX || s->exp == EXP_PX) {
        /* Redis adds the current time and refuses an overflow. */
        if (ms > (uint64_t)LLONG_MAX - resp__now_unix_ms()) {
            resp_reply_error(&p->reply, "ERR invalid expire time in 'set' command");
            return false;
        }
        s->ttl_ms = ms;
    } else {
        uint64_t now = resp__now_unix_ms();
        /* A time in the past: Redis stores and at once expires the key; the
         * closest Flo equivalent is the shortest TTL. */
        s->ttl_ms = ms > now ? ms - now : 1;
    }
    return true;
}

bool resp__set_opts_parse(struct resp_pending *p, struct resp_set_opts *o)
{
    struct set_state s;
    memset(&s, 0, sizeof(s));
    if (!set_parse(p, &s) || !set_ttl(p, &s)) {
        return false;
    }
    o->nx = s.nx;
    o->xx = s.xx;
    o->get = s.get;
    o->keepttl = s.keepttl;
    o->ttl_ms = s.ttl_ms;
    return true;
}

static int set_send_put(struct resp_pending *p, struct set_state *s, bool cas)
{
    flo_wbuf_reset(&s->opts);
    int err = 0;
    if (s->ttl_ms) {
        err = flo_opt_u64(&s->opts, FLO_OPT_TTL_MS, s->ttl_ms);
    }
    if (!err && cas) {
        err = flo_opt_u64(&s->opts, FLO_OPT_CAS_VERSION, s->version);
    } else if (!err && s->nx) {
        err = flo_opt_flag(&s->opts, FLO_OPT_IF_NOT_EXISTS);
    } else if (!err && s->xx) {
        err = flo_opt_flag(&s->opts, FLO_OPT_IF_EXISTS);
    }
    if (err) {
        return err;
    }
    return resp__send(p, 0, FLO_OP_KV_PUT, p->args.argv[1], p->args.argv[2],
                      flo_wbuf_view(&s->opts), 0);
}

static int set_send_read(struct resp_pending *p, struct set_state *s)
{
    s->phase = 0;
    s->attempts++;
    return resp__send(p, 0, FLO_OP_KV_GET, p->args.argv[1], FLO_BUF_NULL, FLO_BUF_NULL,
                      FLO_SEND_IDEMPOTENT);
}

static void set_reply_old(struct resp_pending *p, struct set_state *s)
{
    if (s->had_old) {
        resp_reply_bulk(&p->reply, s->old.data, s->old.len);
    } else {
        resp_reply_null(&p->reply, p->proto);
    }
}

/* Free what the state owns besides itself (p->state is freed with p). */
static void set_finish(struct resp_pending *p, struct set_state *s)
{
    flo_wbuf_free(&s->old);
    flo_wbuf_free(&s->opts);
    done(p);
}

static void set_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct set_state *s = p->state;
    if (!s->get) {
        /* Plain SET: one put. A failed NX/XX condition answers nil. */
        if (err == 0 && status == FLO_STATUS_OK) {
            resp_reply_simple(&p->reply, "OK");
        } else if (err == 0 && status == FLO_STATUS_CONFLICT && (s->nx || s->xx)) {
            resp_reply_null(&p->reply, p->proto);
        } else {
            resp__reply_upstream_err(p, err, status, body);
        }
        set_finish(p, s);
        return;
    }
    if (s->phase == 0) {
        /* SET ... GET, read done. */
        uint64_t version = 0;
        flo_buf_t value = FLO_BUF_NULL;
        if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
            s->had_old = false;
        } else if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
            set_finish(p, s);
            return;
        } else if ((err = flo_kv_dec_get(body, &version, &value)) < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            set_finish(p, s);
            return;
        } else {
            s->had_old = true;
        }
        s->version = s->had_old ? version : 0;
        flo_wbuf_reset(&s->old);
        if (s->had_old && flo_wbuf_append(&s->old, value.ptr, value.len) < 0) {
            resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            set_finish(p, s);
            return;
        }
        if ((s->nx && s->had_old) || (s->xx && !s->had_old)) {
            /* Condition fails: nothing is written, the old value answers. */
            set_reply_old(p, s);
            set_finish(p, s);
            return;
        }
        s->phase = 1;
        if ((err = set_send_put(p, s, true)) < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            set_finish(p, s);
        }
        return;
    }
    /* SET ... GET, CAS put done. */
    if (err == 0 && status == FLO_STATUS_OK) {
        set_reply_old(p, s);
    } else if (err == 0 && status == FLO_STATUS_CONFLICT) {
        if (s->attempts < SET_GET_MAX_ATTEMPTS) {
            if ((err = set_send_read(p, s)) == 0) {
                return;
            }
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
        } else {
            resp_reply_errorf(&p->reply,
                              "CONFLICT SET ... GET gave up after %d attempts: the key kept "
                              "changing between the read and the write",
                              SET_GET_MAX_ATTEMPTS);
        }
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    set_finish(p, s);
}

/* Plain SET key value (the common case): one put, no handler state. */
static void set_plain_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                           flo_buf_t body)
{
    (void)idx;
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_simple(&p->reply, "OK");
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

static void set_plain(struct resp_pending *p)
{
    struct proto_err e;
    if (!resp__key_ok(p, p->args.argv[1])) {
        done(p);
        return;
    }
    if (proto_check_value(p->c->srv->ctx, p->args.argv[2].len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        done(p);
        return;
    }
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = set_plain_step;
        err = resp__send(p, 0, FLO_OP_KV_PUT, p->args.argv[1], p->args.argv[2], FLO_BUF_NULL, 0);
    }
    if (err < 0) {
        send_failed(p, err);
        return;
    }
    resp__pending_sealed(p);
}

static void cmd_set(struct resp_pending *p)
{
    if (p->args.argc == 3) {
        set_plain(p);
        return;
    }
    struct set_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    p->state = s;
    flo_wbuf_init(&s->old);
    flo_wbuf_init(&s->opts);
    if (!set_parse(p, s) || !set_ttl(p, s)) {
        done(p);
        return;
    }
    if (s->keepttl) {
        resp_reply_error(&p->reply, "ERR SET KEEPTTL is not supported by flo-sidecar: Flo cannot "
                                    "read a key's remaining TTL, so it cannot be preserved");
        done(p);
        return;
    }
    struct proto_err e;
    if (!resp__key_ok(p, p->args.argv[1])) {
        done(p);
        return;
    }
    if (proto_check_value(p->c->srv->ctx, p->args.argv[2].len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        done(p);
        return;
    }
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = set_step;
        err = s->get ? set_send_read(p, s) : set_send_put(p, s, false);
    }
    if (err < 0) {
        flo_wbuf_free(&s->opts);
        send_failed(p, err);
        return;
    }
    if (!s->get) {
        resp__pending_sealed(p); /* SET ... GET still has its CAS put to send */
    }
}

/* SET without GET sends one put and reads nothing (see struct resp_cmd). */
static bool set_blind(const struct resp_pending *p)
{
    for (size_t j = 3; j < p->args.argc; j++) {
        if (resp__arg_is(p->args.argv[j], "get")) {
            return false;
        }
    }
    return true;
}

/* ---- DEL / EXISTS ---- */

/* Progress of a multi-key command: p->count accumulates, state holds the
 * index of the next key to send. */
struct multi_state {
    uint16_t op;
    size_t next; /* next key index (0-based over argv[1..]) */
    size_t nkeys;
};

static void multi_finish(struct resp_pending *p)
{
    if (!p->failed) {
        resp_reply_int(&p->reply, p->count);
    }
    done(p);
}

/* Send keys while the window has room. Returns false if nothing more will
 * complete (all sent and answered, or a send failed with none in flight). */
static void multi_pump(struct resp_pending *p)
{
    struct multi_state *m = p->state;
    while (!p->failed && m->next < m->nkeys && p->outstanding < MULTI_KEY_WINDOW) {
        size_t i = m->next++;
        unsigned flags = m->op == FLO_OP_KV_EXISTS ? FLO_SEND_IDEMPOTENT : 0;
        int err = resp__send(p, (unsigned)i, m->op, p->args.argv[i + 1], FLO_BUF_NULL, FLO_BUF_NULL,
                             flags);
        if (err < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            p->failed = true;
        }
    }
    if (m->next == m->nkeys || p->failed) {
        resp__pending_sealed(p); /* nothing more will be sent */
    }
    if (p->outstanding == 0) {
        multi_finish(p);
    }
}

static void multi_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    struct multi_state *m = p->state;
    if (!p->failed) {
        if (err == 0 && m->op == FLO_OP_KV_DELETE && status == FLO_STATUS_NOT_FOUND) {
            /* absent: not counted */
        } else if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
            p->failed = true;
        } else if (m->op == FLO_OP_KV_DELETE) {
            p->count++;
        } else {
            uint64_t version;
            bool present;
            if ((err = flo_kv_dec_exists(body, &version, &present)) < 0) {
                resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
                p->failed = true;
            } else {
                p->count += present;
            }
        }
    }
    multi_pump(p);
}

static void multi_key(struct resp_pending *p, uint16_t op)
{
    size_t nkeys = p->args.argc - 1;
    for (size_t i = 1; i <= nkeys; i++) {
        if (!resp__key_ok(p, p->args.argv[i])) {
            done(p);
            return;
        }
    }
    struct multi_state *m = calloc(1, sizeof(*m));
    if (!m || resp__calls_alloc(p, (unsigned)nkeys) < 0) {
        free(m);
        send_failed(p, FLO_ENOMEM);
        return;
    }
    m->op = op;
    m->nkeys = nkeys;
    p->state = m;
    p->step = multi_step;
    multi_pump(p);
}

static void cmd_del(struct resp_pending *p)
{
    multi_key(p, FLO_OP_KV_DELETE);
}

static void cmd_exists(struct resp_pending *p)
{
    multi_key(p, FLO_OP_KV_EXISTS);
}

const struct resp_cmd resp__kv_cmds[] = {
    {"get", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, "string",
     "Returns the string value of a key.", cmd_get},
    {"set", -3, RESP_CMD_WRITE, 1, 1, 1, "string",
     "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
     cmd_set, set_blind},
    {"del", -2, RESP_CMD_WRITE, 1, -1, 1, "generic", "Deletes one or more keys.", cmd_del,
     resp__blind_always},
    {"exists", -2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, -1, 1, "generic",
     "Determines whether one or more keys exist.", cmd_exists},
};
const size_t resp__kv_ncmds = sizeof(resp__kv_cmds) / sizeof(resp__kv_cmds[0]);
