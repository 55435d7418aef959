/*
 * The per-shard KV transaction runner shared by HTTP (POST /v1/kv/txn) and
 * RESP (MULTI/EXEC): a small state machine on the loop that sends BEGIN,
 * then each op one after another (each carries the txn id and the BEGIN's
 * routing key so it lands on the pinned shard), then COMMIT. The first
 * failed step stops the run, a ROLLBACK is sent (and awaited, so that when
 * the caller hears "failed" nothing of the transaction is left upstream),
 * and the caller gets one outcome. Ops run strictly one at a time: Flo
 * answers a transaction's ops in any order, but a failure must stop the
 * ops behind it, so pipelining them would buffer writes we then throw away.
 *
 * What counts as a failure: any libflo error, and any non-OK status except
 * a plain miss (status 2 with an empty body) on get / delete / touch /
 * persist, which is a result ("no such key"), not a reason to abort: a
 * RESP DEL of a missing key answers 0 inside EXEC as outside. A status 2
 * *with* text is "transaction not found" (expired, or the shard lost it):
 * that is a failure.
 */
#include "proto_txn.h"

#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "flo/flo_log.h"
#include "flo/flo_pool.h"

#define STEP_BEGIN (-1L)

enum txn_phase_e {
    PH_BEGIN,    /* BEGIN in flight */
    PH_OPS,      /* op number `step` in flight */
    PH_COMMIT,   /* COMMIT in flight */
    PH_ROLLBACK, /* ROLLBACK in flight after a failure or a cancel */
};

/* One op, its key and value pointing into the runner's arena. */
struct txn_op {
    struct proto_txn_op d; /* key/value views into proto_txn.arena */
};

struct proto_txn {
    const struct proto_ctx *ctx; /* borrowed; outlives the runner */
    uint8_t *arena;              /* owned: ns, routing key, every key and value */
    flo_buf_t ns, routing;       /* views into arena */
    struct txn_op *ops;          /* owned array of n ops */
    size_t n;
    proto_txn_cb cb; /* NULL once cancelled */
    void *arg;
    enum txn_phase_e phase;
    size_t step;                      /* op in flight (PH_OPS) */
    flo_call_t *call;                 /* upstream call in flight, NULL if none */
    struct proto_txn_result *results; /* owned array of n; bodies malloc'd */
    size_t nresults;
    struct proto_txn_outcome out; /* what the caller will get */
    bool begun;                   /* BEGIN answered OK: a rollback is owed */
};

/* ---- validation and copying ---- */

static bool kind_valid(enum proto_txn_kind_e k)
{
    switch (k) {
    case PROTO_TXN_PUT:
    case PROTO_TXN_DELETE:
    case PROTO_TXN_INCR:
    case PROTO_TXN_TOUCH:
    case PROTO_TXN_PERSIST:
    case PROTO_TXN_GET:
    case PROTO_TXN_EXISTS:
        return true;
    }
    return false;
}

static int validate(const struct proto_ctx *ctx, flo_buf_t ns, flo_buf_t routing,
                    const struct proto_txn_op *ops, size_t n, size_t *arena_len,
                    struct proto_err *e)
{
    if (ns.len == 0) {
        proto_err_bad_request(e, "transaction: the namespace must not be empty");
        return -1;
    }
    if (proto_check_ns(ns, e) < 0) {
        return -1;
    }
    if (routing.len == 0) {
        proto_err_bad_request(e, "transaction: a routing key is required (it picks the shard "
                                 "every op of the transaction runs on)");
        return -1;
    }
    if (routing.len > FLO_MAX_OPTION_DATA) {
        /* Every op carries it as a TLV option, whose data is at most 255. */
        proto_err_bad_request(e, "transaction: routing key of %zu bytes is too long (max %d)",
                              routing.len, FLO_MAX_OPTION_DATA);
        return -1;
    }
    if (memchr(routing.ptr, 0, routing.len) != NULL) {
        proto_err_bad_request(e, "transaction: routing key must not contain a NUL byte");
        return -1;
    }
    if (n > PROTO_TXN_MAX_OPS) {
        proto_err_too_large(e, "transaction has %zu ops; Flo allows at most %d per transaction", n,
                            PROTO_TXN_MAX_OPS);
        return -1;
    }
    if (n > 0 && ops == NULL) {
        proto_err_bad_request(e, "transaction: ops missing");
        return -1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct proto_txn_op *o = &ops[i];
        if (!kind_valid(o->kind)) {
            proto_err_bad_request(e,
                                  "transaction op %zu: only put, delete, incr, touch, persist, "
                                  "get and exists can run inside a Flo transaction",
                                  i);
            return -1;
        }
        if (o->key.len == 0) {
            proto_err_bad_request(e, "transaction op %zu: key is required", i);
            return -1;
        }
        if (proto_check_key(o->key, e) < 0) {
            return -1;
        }
        if (o->kind == PROTO_TXN_PUT && proto_check_value(ctx, o->value.len, e) < 0) {
            return -1;
        }
        if (o->kind == PROTO_TXN_PUT && o->if_exists && o->if_not_exists) {
            proto_err_bad_request(e,
                                  "transaction op %zu: if_exists and if_not_exists cannot "
                                  "be combined",
                                  i);
            return -1;
        }
        bytes += o->key.len + (o->kind == PROTO_TXN_PUT ? o->value.len : 0);
        if (bytes > PROTO_TXN_MAX_BYTES) {
            proto_err_too_large(e,
                                "transaction keys and values exceed %u bytes (Flo's limit per "
                                "transaction)",
                                PROTO_TXN_MAX_BYTES);
            return -1;
        }
    }
    *arena_len = ns.len + routing.len + bytes;
    return 0;
}

static uint8_t *take(uint8_t **at, flo_buf_t src, flo_buf_t *dst)
{
    if (src.len > 0) {
        memcpy(*at, src.ptr, src.len);
    }
    *dst = FLO_BUF(*at, src.len);
    *at += src.len;
    return *at;
}

static void txn_free(struct proto_txn *t)
{
    for (size_t i = 0; i < t->nresults; i++) {
        free((void *)t->results[i].body.ptr);
    }
    free(t->results);
    free(t->ops);
    free(t->arena);
    free(t);
}

/* ---- the state machine ---- */

static void step_cb(void *arg, int err, uint8_t status, flo_buf_t body);

/* Send one request of the transaction on the shared pool. Every request
 * names the BEGIN's routing key (option and, for BEGIN/COMMIT/ROLLBACK,
 * envelope key) so it reaches the pinned shard. */
static int send_step(struct proto_txn *t, uint16_t op, flo_buf_t key, flo_buf_t value,
                     const struct proto_txn_op *d)
{
    struct flo_wbuf opts, val;
    int rc = 0;
    flo_wbuf_init(&opts);
    flo_wbuf_init(&val);

    if (op != FLO_OP_KV_BEGIN_TXN) {
        rc = flo_opt_u64(&opts, FLO_OPT_TXN_ID, t->out.txn_id);
    }
    if (rc == 0) {
        rc = flo_opt_bytes(&opts, FLO_OPT_ROUTING_KEY, t->routing.ptr, t->routing.len);
    }
    if (rc == 0 && d != NULL) {
        switch (d->kind) {
        case PROTO_TXN_PUT:
            if (d->ttl_ms > 0) {
                rc = flo_opt_u64(&opts, FLO_OPT_TTL_MS, d->ttl_ms);
            }
            if (rc == 0 && d->if_not_exists) {
                rc = flo_opt_flag(&opts, FLO_OPT_IF_NOT_EXISTS);
            }
            if (rc == 0 && d->if_exists) {
                rc = flo_opt_flag(&opts, FLO_OPT_IF_EXISTS);
            }
            break;
        case PROTO_TXN_INCR:
            rc = flo_kv_incr_value(&val, d->delta);
            value = flo_wbuf_view(&val);
            break;
        case PROTO_TXN_TOUCH:
            rc = flo_kv_touch_value(&val, d->ttl_ms);
            value = flo_wbuf_view(&val);
            break;
        default:
            break;
        }
        bool cas_kind = d->kind == PROTO_TXN_PUT || d->kind == PROTO_TXN_DELETE ||
                        d->kind == PROTO_TXN_TOUCH || d->kind == PROTO_TXN_PERSIST;
        if (rc == 0 && cas_kind && d->has_cas) {
            rc = flo_opt_u64(&opts, FLO_OPT_CAS_VERSION, d->cas_version);
        }
    }
    if (rc == 0) {
        struct flo_req req = {
            .op = op,
            .ns = t->ns,
            .key = key,
            .value = value,
            .opts = flo_wbuf_view(&opts),
        };
        rc = flo_pool_send(t->ctx->pool, &req, 0, 0, step_cb, t, &t->call);
        if (rc < 0) {
            t->call = NULL;
        }
    }
    flo_wbuf_free(&opts);
    flo_wbuf_free(&val);
    return rc;
}

static uint16_t op_code(enum proto_txn_kind_e k)
{
    switch (k) {
    case PROTO_TXN_PUT:
        return FLO_OP_KV_PUT;
    case PROTO_TXN_DELETE:
        return FLO_OP_KV_DELETE;
    case PROTO_TXN_INCR:
        return FLO_OP_KV_INCR;
    case PROTO_TXN_TOUCH:
        return FLO_OP_KV_TOUCH;
    case PROTO_TXN_PERSIST:
        return FLO_OP_KV_PERSIST;
    case PROTO_TXN_GET:
        return FLO_OP_KV_GET;
    case PROTO_TXN_EXISTS:
        return FLO_OP_KV_EXISTS;
    }
    return FLO_OP_KV_GET; /* unreachable: kinds are validated */
}

/* Tell the caller (unless it went away) and free everything. */
static void finish(struct proto_txn *t)
{
    if (t->cb != NULL) {
        t->out.nresults = t->nresults;
        t->out.results = t->results;
        t->cb(t->arg, &t->out);
    }
    txn_free(t);
}

/* A step failed (or the caller left): roll back if BEGIN succeeded, then
 * finish. The rollback's own answer is ignored: an unknown transaction (2)
 * is already gone, and any other failure leaves it to Flo's idle timeout. */
static void abort_run(struct proto_txn *t)
{
    if (t->begun) {
        t->begun = false;
        t->phase = PH_ROLLBACK;
        int rc = send_step(t, FLO_OP_KV_ROLLBACK_TXN, t->routing, FLO_BUF_NULL, NULL);
        if (rc == 0) {
            return; /* finish when the rollback answers */
        }
        FLO_WARN("transaction rollback could not be sent; Flo drops it after its idle timeout",
                 "txn_id=%llu err=\"%s\"", (unsigned long long)t->out.txn_id, flo_strerror(rc));
    }
    finish(t);
}

static void fail_code(struct proto_txn *t, long step, int err)
{
    t->out.err = err;
    t->out.failed_step = step;
    proto_err_from_code(&t->out.error, err);
    abort_run(t);
}

static void fail_status(struct proto_txn *t, long step, uint8_t status, flo_buf_t body)
{
    t->out.failed_step = step;
    proto_err_from_status(&t->out.error, status, body);
    abort_run(t);
}

/* Send op number t->step, or COMMIT once every op has run. */
static void next_step(struct proto_txn *t)
{
    int rc;
    if (t->step < t->n) {
        const struct proto_txn_op *d = &t->ops[t->step].d;
        t->phase = PH_OPS;
        rc = send_step(t, op_code(d->kind), d->key,
                       d->kind == PROTO_TXN_PUT ? d->value : FLO_BUF_NULL, d);
        if (rc < 0) {
            fail_code(t, (long)t->step, rc);
        }
        return;
    }
    t->phase = PH_COMMIT;
    rc = send_step(t, FLO_OP_KV_COMMIT_TXN, t->routing, FLO_BUF_NULL, NULL);
    if (rc < 0) {
        fail_code(t, (long)t->n, rc);
    }
}

/* A miss is a result, not a failure, for these kinds (see the file comment). */
static bool miss_is_result(enum proto_txn_kind_e k, uint8_t status, flo_buf_t body)
{
    if (status != FLO_STATUS_NOT_FOUND || body.len != 0) {
        return false;
    }
    return k == PROTO_TXN_GET || k == PROTO_TXN_DELETE || k == PROTO_TXN_TOUCH ||
           k == PROTO_TXN_PERSIST;
}

static int keep_result(struct proto_txn *t, uint8_t status, flo_buf_t body)
{
    uint8_t *copy = NULL;
    if (body.len > 0) {
        copy = malloc(body.len);
        if (copy == NULL) {
            return FLO_ENOMEM;
        }
        memcpy(copy, body.ptr, body.len);
    }
    t->results[t->nresults].status = status;
    t->results[t->nresults].body = FLO_BUF(copy, body.len);
    t->nresults++;
    return 0;
}

static void step_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct proto_txn *t = arg;
    uint64_t pinned;
    int rc;
    t->call = NULL;

    switch (t->phase) {
    case PH_BEGIN:
        if (err < 0) {
            fail_code(t, STEP_BEGIN, err);
            return;
        }
        if (status != FLO_STATUS_OK) {
            fail_status(t, STEP_BEGIN, status, body);
            return;
        }
        rc = flo_kv_dec_begin(body, &t->out.txn_id, &pinned);
        if (rc < 0) {
            fail_code(t, STEP_BEGIN, rc);
            return;
        }
        t->begun = true;
        if (t->cb == NULL) {
            abort_run(t); /* cancelled while BEGIN was in flight */
            return;
        }
        t->step = 0;
        next_step(t);
        return;
    case PH_OPS: {
        long step = (long)t->step;
        if (err < 0) {
            fail_code(t, step, err);
            return;
        }
        enum proto_txn_kind_e k = t->ops[t->step].d.kind;
        if (status != FLO_STATUS_OK && !miss_is_result(k, status, body)) {
            fail_status(t, step, status, body);
            return;
        }
        rc = keep_result(t, status, body);
        if (rc < 0) {
            fail_code(t, step, rc);
            return;
        }
        if (t->cb == NULL) {
            abort_run(t);
            return;
        }
        t->step++;
        next_step(t);
        return;
    }
    case PH_COMMIT:
        /* Whatever COMMIT answered, the transaction is over upstream except
         * after a transport error, where its fate is unknown: a rollback of
         * a committed transaction is answered "not found" and harmless. */
        if (err < 0) {
            fail_code(t, (long)t->n, err);
            return;
        }
        if (status != FLO_STATUS_OK) {
            t->begun = status != FLO_STATUS_NOT_FOUND;
            fail_status(t, (long)t->n, status, body);
            return;
        }
        rc = flo_kv_dec_commit(body, &t->out.commit_index, &t->out.op_count);
        t->begun = false;
        if (rc < 0) {
            /* COMMIT said OK: the writes are applied; only its body is odd. */
            FLO_WARN("transaction commit body malformed", "txn_id=%llu err=\"%s\"",
                     (unsigned long long)t->out.txn_id, flo_strerror(rc));
            t->out.commit_index = 0;
            t->out.op_count = (uint16_t)t->n;
        }
        t->out.committed = true;
        t->out.failed_step = 0;
        finish(t);
        return;
    case PH_ROLLBACK:
        if (err < 0 || (status != FLO_STATUS_OK && status != FLO_STATUS_NOT_FOUND)) {
            FLO_WARN("transaction rollback failed; Flo drops it after its idle timeout",
                     "txn_id=%llu err=\"%s\" status=%u", (unsigned long long)t->out.txn_id,
                     err < 0 ? flo_strerror(err) : "none", (unsigned)status);
        }
        finish(t);
        return;
    }
}

/* ---- public API ---- */

int proto_txn_run(const struct proto_ctx *ctx, flo_buf_t ns, flo_buf_t routing_key,
                  const struct proto_txn_op *ops, size_t n, proto_txn_cb cb, void *arg,
                  struct proto_txn **out, struct proto_err *e)
{
    size_t arena_len = 0;
    if (out != NULL) {
        *out = NULL;
    }
    if (ctx == NULL || ctx->pool == NULL || cb == NULL) {
        proto_err_from_code(e, FLO_EINVAL);
        return -1;
    }
    if (validate(ctx, ns, routing_key, ops, n, &arena_len, e) < 0) {
        return -1;
    }
    struct proto_txn *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    t->arena = malloc(arena_len > 0 ? arena_len : 1);
    t->ops = calloc(n > 0 ? n : 1, sizeof(*t->ops));
    t->results = calloc(n > 0 ? n : 1, sizeof(*t->results));
    if (t->arena == NULL || t->ops == NULL || t->results == NULL) {
        txn_free(t);
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    uint8_t *at = t->arena;
    take(&at, ns, &t->ns);
    take(&at, routing_key, &t->routing);
    for (size_t i = 0; i < n; i++) {
        t->ops[i].d = ops[i];
        take(&at, ops[i].key, &t->ops[i].d.key);
        if (ops[i].kind == PROTO_TXN_PUT) {
            take(&at, ops[i].value, &t->ops[i].d.value);
        } else {
            t->ops[i].d.value = FLO_BUF_NULL;
        }
    }
    t->ctx = ctx;
    t->n = n;
    t->cb = cb;
    t->arg = arg;
    t->phase = PH_BEGIN;
    t->out.failed_step = STEP_BEGIN;
    int rc = send_step(t, FLO_OP_KV_BEGIN_TXN, t->routing, FLO_BUF_NULL, NULL);
    if (rc < 0) {
        txn_free(t);
        proto_err_from_code(e, rc);
        return -1;
    }
    if (out != NULL) {
        *out = t;
    }
    return 0;
}

void proto_txn_cancel(struct proto_txn *t)
{
    if (t == NULL) {
        return;
    }
    /* An upstream step is always in flight while the runner exists (it
     * frees itself in the same callback that would have reported): let it
     * land, then roll back instead of continuing. */
    t->cb = NULL;
    t->arg = NULL;
}
