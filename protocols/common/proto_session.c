/*
 * The consumer-session registry (proto_session.h): creation and shutdown,
 * idle expiry on one unref'd timer, and the public operations, which
 * validate and hand over to the state machines in proto_session_op.c.
 * Records and indexes: proto_session_index.c; ids: proto_session_id.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "proto_session_int.h"

#define EXPIRY_PERIOD_MAX_MS 1000u
#define GEN_CONSUMER_LEN     19 /* "sc-" + 16 hex digits */

static void err_set(struct proto_err *e, int http, const char *prefix, const char *code,
                    const char *msg)
{
    e->http_status = http;
    e->resp_prefix = prefix;
    e->code = code;
    snprintf(e->message, sizeof e->message, "%s", msg);
}

/* ---- registry ---- */

static void expiry_cb(uv_timer_t *t)
{
    proto_sess_reg_t *reg = t->data;
    uint64_t now = uv_now(reg->loop);
    proto_sess_t *s, *tmp;
    DL_FOREACH_SAFE(reg->all, s, tmp)
    {
        if (s->holds == 0 && now - s->used_loop >= reg->idle_ms) {
            proto__sess_unregister(s);
            reg->st.expired++;
            proto__sess_send_leave(reg, s, "expiry"); /* frees s when the leave ends */
        }
    }
}

int proto_sess_reg_new(uv_loop_t *loop, flo_pool_t *pool, const struct proto_sess_cfg *cfg,
                       proto_sess_reg_t **out)
{
    if (cfg->secret != NULL && cfg->secret_len > 0 && cfg->secret_len < PROTO_SESS_SECRET_MIN) {
        return FLO_EINVAL;
    }
    /* Idempotent; fails only when no entropy source can be opened. */
    if (sodium_init() < 0) {
        return FLO_EINVAL;
    }
    proto_sess_reg_t *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        return FLO_ENOMEM;
    }
    int rc = proto__sess_key_init(&reg->key, cfg->secret, cfg->secret ? cfg->secret_len : 0,
                                  cfg->derive_from);
    if (rc < 0) {
        free(reg);
        return rc;
    }
    reg->loop = loop;
    reg->pool = pool;
    reg->idle_ms = cfg->idle_ms ? cfg->idle_ms : PROTO_SESS_DEFAULT_IDLE_MS;
    reg->max_sessions = cfg->max_sessions ? cfg->max_sessions : PROTO_SESS_DEFAULT_MAX;
    flo_wbuf_init(&reg->scratch);
    uv_timer_init(loop, &reg->expiry);
    uv_timer_init(loop, &reg->close_timer);
    uv_timer_init(loop, &reg->defer);
    reg->expiry.data = reg->close_timer.data = reg->defer.data = reg;
    reg->handles_open = 3;
    uint32_t period =
        reg->idle_ms / 4 < EXPIRY_PERIOD_MAX_MS ? reg->idle_ms / 4 : EXPIRY_PERIOD_MAX_MS;
    period = period ? period : 1;
    uv_timer_start(&reg->expiry, expiry_cb, period, period);
    uv_unref((uv_handle_t *)&reg->expiry);
    uv_unref((uv_handle_t *)&reg->close_timer);
    *out = reg;
    return 0;
}

void proto_sess_reg_stats(const proto_sess_reg_t *reg, struct proto_sess_stats *out)
{
    *out = reg->st;
}

void proto__sess_reg_release(proto_sess_reg_t *reg)
{
    if (reg->finished && reg->handles_open == 0 && reg->records == 0) {
        flo_wbuf_free(&reg->scratch);
        free(reg);
    }
}

static void handle_closed(uv_handle_t *h)
{
    proto_sess_reg_t *reg = h->data;
    if (--reg->handles_open > 0) {
        return;
    }
    void (*done)(void *) = reg->done;
    void *arg = reg->done_arg;
    /* Sessions still held by a front end keep the memory until released. */
    proto__sess_reg_release(reg);
    if (done != NULL) {
        done(arg);
    }
}

/* Every leave answered or the bound passed: free everything. */
static void close_finish(proto_sess_reg_t *reg)
{
    if (reg->finished) {
        return;
    }
    reg->finished = true;
    struct proto_err e;
    proto_err_from_code(&e, FLO_ECLOSING);
    /* Leaves still unanswered at the bound: cancel them (an owner waiting
     * for its end gets the shutdown error). Freeing an op releases its
     * session, which is no longer registered, so that frees it too. */
    while (reg->ops != NULL) {
        proto_sess_op_t *op = reg->ops;
        if (op->call != NULL) {
            flo_pool_cancel(reg->pool, op->call);
            op->call = NULL;
        }
        if (op->done_cb != NULL) {
            proto__sess_op_fail(op, &e);
        } else {
            proto__sess_op_free(op);
        }
    }
    uv_close((uv_handle_t *)&reg->expiry, handle_closed);
    uv_close((uv_handle_t *)&reg->close_timer, handle_closed);
    uv_close((uv_handle_t *)&reg->defer, handle_closed);
}

void proto__sess_leaves_check(proto_sess_reg_t *reg)
{
    if (reg->closing && reg->ops == NULL) {
        close_finish(reg);
    }
}

static void close_timer_cb(uv_timer_t *t)
{
    close_finish(t->data);
}

void proto_sess_reg_close(proto_sess_reg_t *reg, uint32_t timeout_ms, void (*done)(void *arg),
                          void *arg)
{
    if (reg->closing) {
        return;
    }
    reg->closing = true;
    reg->done = done;
    reg->done_arg = arg;
    uv_timer_stop(&reg->expiry);
    struct proto_err e;
    proto_err_from_code(&e, FLO_ECLOSING);
    /* Fail the owners' operations (not the leaves), one at a time: a
     * callback may release other sessions. */
    for (;;) {
        proto_sess_op_t *op = reg->ops;
        while (op != NULL && (op->kind == OP_LEAVE || op->step == ST_LEAVE || op->abandoned)) {
            op = op->next;
        }
        if (op == NULL) {
            break;
        }
        proto_sess_cb create_cb = op->create_cb;
        void *create_arg = op->arg;
        if (proto__sess_create_abandon(op)) {
            /* A join in flight may still land upstream: the op waits for it
             * (and leaves again) like the leaves below; its owner hears of
             * the shutdown now. */
            if (create_cb != NULL) {
                create_cb(create_arg, NULL, &e);
            }
            continue;
        }
        if (op->call != NULL) {
            flo_pool_cancel(reg->pool, op->call);
            op->call = NULL;
        }
        proto__sess_op_fail(op, &e);
    }
    /* Leave every group. Each leave op holds its session and frees it when
     * done; a session still held by a front end is the front end's to
     * release (they are closed before the registry). */
    proto_sess_t *s, *tmp;
    DL_FOREACH_SAFE(reg->all, s, tmp)
    {
        proto__sess_unregister(s);
        proto__sess_send_leave(reg, s, "close");
    }
    if (reg->ops == NULL) {
        close_finish(reg);
        return;
    }
    uv_ref((uv_handle_t *)&reg->close_timer);
    uv_timer_start(&reg->close_timer, close_timer_cb, timeout_ms, 0);
}

/* ---- HTTP sessions ---- */

static int check_name(flo_buf_t v, const char *what, size_t max, bool nul_ok, struct proto_err *e)
{
    if (v.len == 0) {
        proto_err_bad_request(e, "%s must not be empty", what);
        return -1;
    }
    if (v.len > max) {
        proto_err_bad_request(e, "%s too long for a session: %zu bytes (limit %zu)", what, v.len,
                              max);
        return -1;
    }
    if (!nul_ok && memchr(v.ptr, 0, v.len) != NULL) {
        proto_err_bad_request(e, "%s must not contain a NUL byte", what);
        return -1;
    }
    return 0;
}

static void err_closing(struct proto_err *e)
{
    proto_err_from_code(e, FLO_ECLOSING);
}

void proto__sess_err_full(struct proto_err *e)
{
    err_set(e, 429, "BUSY", "too_many_sessions",
            "too many sessions on this sidecar; end unused ones or raise --max-sessions");
}

int proto_sess_create(proto_sess_reg_t *reg, const struct proto_sess_spec *spec, proto_sess_cb cb,
                      void *arg, proto_sess_op_t **opp, struct proto_err *e)
{
    if (reg->closing) {
        err_closing(e);
        return -1;
    }
    /* Group and consumer travel with a u8 length in the id. */
    if (proto_check_ns(spec->ns, e) < 0 ||
        check_name(spec->stream, "stream name", PROTO_SESS_MAX_NAME, true, e) < 0 ||
        check_name(spec->group, "group name", UINT8_MAX, false, e) < 0 ||
        (spec->consumer.len > 0 &&
         check_name(spec->consumer, "consumer name", UINT8_MAX, false, e) < 0)) {
        return -1;
    }
    if (proto__sess_http_full(reg)) {
        proto__sess_err_full(e);
        return -1;
    }
    char gen[GEN_CONSUMER_LEN + 1];
    flo_buf_t consumer = spec->consumer;
    if (consumer.len == 0) {
        uint8_t rnd[8];
        randombytes_buf(rnd, sizeof rnd);
        snprintf(gen, sizeof gen, "sc-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        consumer = FLO_BUF(gen, GEN_CONSUMER_LEN);
    }
    struct proto__sess_ident ident = {
        .claim_idle_ms =
            spec->claim_idle_ms ? spec->claim_idle_ms : PROTO_SESS_DEFAULT_CLAIM_IDLE_MS,
        .ns = spec->ns,
        .stream = spec->stream,
        .group = spec->group,
        .consumer = consumer,
    };
    char id[PROTO_SESS_ID_MAX + 1];
    int n = proto__sess_id_encode(&reg->key, &ident, id, sizeof id);
    if (n < 0) {
        if (n == FLO_ELIMIT || n == FLO_EINVAL) {
            proto_err_bad_request(e,
                                  "stream, group and consumer names are too long together "
                                  "for a session id (at most %u characters)",
                                  PROTO_SESS_ID_MAX);
        } else {
            proto_err_from_code(e, n);
        }
        return -1;
    }
    proto_sess_t *s =
        proto__sess_alloc(reg, id, (size_t)n, spec->ns, spec->stream, spec->group, consumer);
    proto_sess_op_t *op = s ? proto__sess_op_new(reg, s, OP_CREATE) : NULL;
    if (op == NULL) {
        proto__sess_free(s);
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    s->claim_idle_ms = ident.claim_idle_ms;
    op->create_cb = cb;
    op->arg = arg;
    op->step = ST_JOIN;
    int rc = proto__sess_send_member(op, FLO_OP_GROUP_JOIN, FLO_SEND_IDEMPOTENT);
    if (rc < 0) {
        op->create_cb = NULL;
        proto__sess_op_free(op);
        proto_err_from_code(e, rc);
        return -1;
    }
    if (opp != NULL) {
        *opp = op;
    }
    return 0;
}

static void err_unknown(struct proto_err *e, const char *why)
{
    err_set(e, 404, "ERR", "unknown_session", why);
}

int proto_sess_get(proto_sess_reg_t *reg, flo_buf_t id, proto_sess_t **out, struct proto_err *e)
{
    if (reg->closing) {
        err_closing(e);
        return -1;
    }
    if (id.len == 0 || id.len > PROTO_SESS_ID_MAX) {
        err_unknown(e, "unknown session: the id is empty or too long");
        return -1;
    }
    proto_sess_t *s = NULL;
    HASH_FIND(hh, reg->by_id, id.ptr, id.len, s);
    if (s != NULL) {
        proto_sess_hold(s);
        *out = s;
        return 0;
    }
    uint8_t raw[PROTO_SESS_ID_MAX];
    struct proto__sess_ident ident;
    const char *why = NULL;
    if (proto__sess_id_decode(&reg->key, id, raw, sizeof raw, &ident, &why) < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown session: %s", why);
        err_unknown(e, msg);
        return -1;
    }
    if (proto__sess_http_full(reg)) {
        proto__sess_err_full(e);
        return -1;
    }
    s = proto__sess_alloc(reg, (const char *)id.ptr, id.len, ident.ns, ident.stream, ident.group,
                          ident.consumer);
    if (s == NULL || proto__sess_register(s) < 0) {
        proto__sess_free(s);
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    s->claim_idle_ms = ident.claim_idle_ms;
    s->ever_joined = true; /* its first join here is a re-join */
    reg->st.reattached++;
    proto_sess_hold(s);
    *out = s;
    return 0;
}

void proto_sess_describe(const proto_sess_t *s, struct proto_sess_info *out)
{
    const proto_sess_reg_t *reg = s->reg;
    out->id = FLO_BUF(s->id, s->id_len);
    out->ns = s->ns;
    out->stream = s->stream;
    out->group = s->group;
    out->consumer = s->consumer;
    out->idle_ms = reg->idle_ms;
    out->claim_idle_ms = s->claim_idle_ms;
    out->created_at_ms = s->created_wall;
    out->last_used_at_ms = s->used_wall;
    out->expires_at_ms = (s->holds > 0 ? proto__sess_wall_ms() : s->used_wall) + reg->idle_ms;
    out->ops_in_flight = s->ops;
    out->delivered = s->delivered;
}

/* Common checks of read / ids / end. */
static int op_check(const proto_sess_t *s, struct proto_err *e)
{
    if (s->reg->closing) {
        err_closing(e);
        return -1;
    }
    if (s->resp) {
        proto_err_bad_request(e, "not a session");
        return -1;
    }
    return 0;
}

/* Read and ids also refuse a record ended by a concurrent request: run
 * unregistered, a read would join the consumer again upstream and nothing
 * would ever leave or expire it. (A new request with the id re-attaches.) */
static int op_check_live(const proto_sess_t *s, struct proto_err *e)
{
    if (op_check(s, e) < 0) {
        return -1;
    }
    if (!s->registered) {
        err_unknown(e, "unknown session: it was ended");
        return -1;
    }
    return 0;
}

static int op_start_or_fail(proto_sess_op_t *op, proto_sess_op_t **opp, struct proto_err *e)
{
    int rc = proto__sess_op_start(op);
    if (rc < 0) {
        proto__sess_op_free(op);
        proto_err_from_code(e, rc);
        return -1;
    }
    if (opp != NULL) {
        *opp = op;
    }
    return 0;
}

int proto_sess_read(proto_sess_t *s, const struct proto_sess_read_args *a, proto_sess_read_cb cb,
                    void *arg, proto_sess_op_t **opp, struct proto_err *e)
{
    if (op_check_live(s, e) < 0) {
        return -1;
    }
    uint32_t count = a->count ? a->count : PROTO_SESS_DEFAULT_COUNT;
    if (count > PROTO_SESS_MAX_COUNT) {
        proto_err_bad_request(e, "count must be 1..%u", PROTO_SESS_MAX_COUNT);
        return -1;
    }
    uint32_t block = a->block_ms < FLO_MAX_BLOCK_MS ? a->block_ms : FLO_MAX_BLOCK_MS;
    proto_sess_op_t *op = proto__sess_op_new(s->reg, s, OP_READ);
    if (op == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    op->read_cb = cb;
    op->arg = arg;
    op->count = count;
    op->deadline = uv_now(s->reg->loop) + block;
    return op_start_or_fail(op, opp, e);
}

int proto_sess_ids(proto_sess_t *s, enum proto_sess_idop_e kind, const struct flo_stream_id *ids,
                   size_t n, proto_sess_done_cb cb, void *arg, proto_sess_op_t **opp,
                   struct proto_err *e)
{
    if (op_check_live(s, e) < 0) {
        return -1;
    }
    if (n == 0 || n > PROTO_SESS_MAX_IDS || (unsigned)kind > PROTO_SESS_TOUCH) {
        proto_err_bad_request(e, "give 1..%u record ids", PROTO_SESS_MAX_IDS);
        return -1;
    }
    proto_sess_op_t *op = proto__sess_op_new(s->reg, s, OP_IDS);
    int rc = op ? flo_group_ids_value(&op->value, s->group, s->consumer, ids, n) : FLO_ENOMEM;
    if (rc < 0) {
        if (op != NULL) {
            proto__sess_op_free(op);
        }
        proto_err_from_code(e, rc);
        return -1;
    }
    op->idop = kind;
    op->n_ids = n;
    op->done_cb = cb;
    op->arg = arg;
    return op_start_or_fail(op, opp, e);
}

int proto_sess_end(proto_sess_t *s, proto_sess_done_cb cb, void *arg, proto_sess_op_t **opp,
                   struct proto_err *e)
{
    if (op_check(s, e) < 0) {
        return -1;
    }
    proto_sess_op_t *op = proto__sess_op_new(s->reg, s, OP_END);
    if (op == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    op->done_cb = cb;
    op->arg = arg;
    op->step = ST_LEAVE;
    int rc = proto__sess_end_leave(op);
    if (rc < 0) {
        op->done_cb = NULL;
        proto__sess_op_free(op);
        proto_err_from_code(e, rc);
        return -1;
    }
    if (s->registered) {
        proto__sess_unregister(s);
        s->reg->st.ended++;
    }
    if (opp != NULL) {
        *opp = op;
    }
    return 0;
}
