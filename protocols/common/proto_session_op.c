/*
 * The upstream state machines of session operations: create (join), read
 * (join if needed, claim idle entries, their delivery counts from pending,
 * then a group read sliced at claim_idle_ms), ack / nack / touch, end and
 * the best-effort leaves of expiry and shutdown. See proto_session.h.
 */
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "proto_session_int.h"

/* Lower bound of a claimed record's delivery count when pending did not
 * list it (the consumer owns more than the 1000 entries pending returns):
 * a claim always raises the count of a delivered entry. */
#define CLAIMED_MIN_DELIVERIES 2u

/* Shortest blocking slice: a tiny claim_idle_ms (a client's choice) must not
 * turn one long-poll into a busy loop of claims and reads upstream. */
#define SLICE_MIN_MS 100u

static uint64_t reconnects(const proto_sess_reg_t *reg)
{
    struct flo_pool_stats ps;
    flo_pool_stats(reg->pool, &ps);
    return ps.reconnects;
}

proto_sess_op_t *proto__sess_op_new(proto_sess_reg_t *reg, proto_sess_t *s, enum op_kind_e kind)
{
    proto_sess_op_t *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return NULL;
    }
    op->reg = reg;
    op->s = s;
    op->kind = kind;
    flo_wbuf_init(&op->claim);
    flo_wbuf_init(&op->value);
    if (s != NULL) {
        proto_sess_hold(s);
        s->ops++;
    }
    DL_APPEND(reg->ops, op);
    op->linked = true;
    return op;
}

/* Take the op off the registry's list before its final callback, so that
 * a callback that closes the registry does not see it again, and give back
 * its --max-longpolls slot (before the callback: the owner may start the
 * next long-poll from it). Every way an op ends passes here exactly once
 * with the slot held, so the slot is released exactly once. */
static void op_unlink(proto_sess_op_t *op)
{
    if (op->linked) {
        DL_DELETE(op->reg->ops, op);
        op->linked = false;
    }
    if (op->longpoll) {
        op->longpoll = false;
        proto_longpoll_leave();
    }
}

/* Unlink and free; releases the op's hold on its session. */
void proto__sess_op_free(proto_sess_op_t *op)
{
    op_unlink(op);
    if (op->call != NULL) {
        flo_pool_cancel(op->reg->pool, op->call);
    }
    if (op->deferred) {
        DL_DELETE2(op->reg->deferred, op, dprev, dnext);
        op->deferred = false;
    }
    flo_wbuf_free(&op->claim);
    flo_wbuf_free(&op->value);
    proto_sess_t *s = op->s;
    free(op);
    if (s != NULL) {
        s->ops--;
        proto_sess_put(s);
    }
}

static void op_call_cb(void *arg, int err, uint8_t status, flo_buf_t body);

/* Send one request for the op's session. 0 or a FLO_E* code. */
static int op_send(proto_sess_op_t *op, uint16_t code, flo_buf_t value, flo_buf_t opts,
                   uint32_t block_ms, unsigned flags)
{
    proto_sess_t *s = op->s;
    struct flo_req req = {.op = code, .ns = s->ns, .key = s->stream, .value = value, .opts = opts};
    op->reconnects_at_send = reconnects(op->reg);
    uint32_t timeout = proto_timeout_for_block(block_ms);
    if (block_ms > 0) {
        /* A waiting read takes a --max-longpolls slot at its first blocking
         * slice and keeps it until the op ends (op_unlink): released between
         * slices, the slot could go to another client and a later slice be
         * refused with 429 after this client had already waited. */
        if (!op->longpoll) {
            int lp = proto_longpoll_enter();
            if (lp < 0) {
                return lp;
            }
            op->longpoll = true;
        }
        flags |= FLO_SEND_BLOCKING;
    }
    /* On failure the caller ends the op, which releases the slot. */
    return flo_pool_send(op->reg->pool, &req, timeout, flags, op_call_cb, op, &op->call);
}

int proto__sess_send_member(proto_sess_op_t *op, uint16_t code, unsigned flags)
{
    flo_wbuf_reset(&op->value);
    int rc = flo_group_member_value(&op->value, op->s->group, op->s->consumer);
    if (rc == 0) {
        rc = op_send(op, code, flo_wbuf_view(&op->value), FLO_BUF_NULL, 0, flags);
    }
    return rc;
}

/* Finish with an error (owner callback, then free). */
void proto__sess_op_fail(proto_sess_op_t *op, const struct proto_err *e)
{
    op_unlink(op);
    switch (op->kind) {
    case OP_CREATE:
        if (op->create_cb != NULL) {
            op->create_cb(op->arg, NULL, e);
        }
        break;
    case OP_READ:
        if (op->read_cb != NULL) {
            op->read_cb(op->arg, NULL, 0, e);
        }
        break;
    case OP_IDS:
    case OP_END:
        if (op->done_cb != NULL) {
            op->done_cb(op->arg, 0, e);
        }
        break;
    case OP_LEAVE:
        break;
    }
    proto__sess_op_free(op);
}

static void op_fail_code(proto_sess_op_t *op, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    proto__sess_op_fail(op, &e);
}

/* The session was ended (proto_sess_end) while this op was in flight. */
static bool sess_ended(const proto_sess_op_t *op)
{
    return (op->kind == OP_READ || op->kind == OP_IDS) && !op->s->registered && !op->s->resp;
}

static bool needs_join(const proto_sess_op_t *op)
{
    return !op->s->joined || op->s->join_reconnects != reconnects(op->reg);
}

static int step_claim(proto_sess_op_t *op);
static int step_read(proto_sess_op_t *op);

static int step_ids(proto_sess_op_t *op)
{
    static const uint16_t codes[] = {FLO_OP_GROUP_ACK, FLO_OP_GROUP_NACK, FLO_OP_GROUP_TOUCH};
    op->step = ST_IDS;
    /* Ack and touch change nothing when repeated; nack raises counts. */
    unsigned flags = op->idop == PROTO_SESS_NACK ? 0 : FLO_SEND_IDEMPOTENT;
    return op_send(op, codes[op->idop], flo_wbuf_view(&op->value), FLO_BUF_NULL, 0, flags);
}

/* The first step of an op, or the one after a join. */
static int step_main(proto_sess_op_t *op)
{
    switch (op->kind) {
    case OP_READ:
        return step_claim(op);
    case OP_IDS:
        return step_ids(op);
    default:
        return FLO_EINVAL;
    }
}

int proto__sess_op_start(proto_sess_op_t *op)
{
    if (needs_join(op)) {
        op->step = ST_JOIN;
        return proto__sess_send_member(op, FLO_OP_GROUP_JOIN, FLO_SEND_IDEMPOTENT);
    }
    return step_main(op);
}

static int step_claim(proto_sess_op_t *op)
{
    proto_sess_t *s = op->s;
    struct flo_group_claim_args a = {
        .group = s->group,
        .consumer = s->consumer,
        .min_idle_ms = s->claim_idle_ms,
        .start = s->cursor,
        .count = op->count,
    };
    op->step = ST_CLAIM;
    op->claim_from_start = s->cursor.ts == 0 && s->cursor.seq == 0;
    flo_wbuf_reset(&op->value);
    int rc = flo_group_claim_value(&op->value, &a);
    if (rc == 0) {
        rc = op_send(op, FLO_OP_GROUP_CLAIM, flo_wbuf_view(&op->value), FLO_BUF_NULL, 0, 0);
    }
    return rc;
}

static int step_read(proto_sess_op_t *op)
{
    uint64_t now = uv_now(op->reg->loop);
    uint64_t left = op->deadline > now ? op->deadline - now : 0;
    uint32_t every = op->s->claim_idle_ms > SLICE_MIN_MS ? op->s->claim_idle_ms : SLICE_MIN_MS;
    uint32_t slice = left < every ? (uint32_t)left : every;
    struct flo_stream_read_args ra = {.count = op->count, .legacy_limit = true, .block_ms = slice};
    struct flo_wbuf opts;
    flo_wbuf_init(&opts);
    op->step = ST_READ;
    flo_wbuf_reset(&op->value);
    int rc = flo_group_member_value(&op->value, op->s->group, op->s->consumer);
    if (rc == 0) {
        rc = flo_stream_read_opts(&opts, &ra);
    }
    if (rc == 0) {
        rc = op_send(op, FLO_OP_GROUP_READ, flo_wbuf_view(&op->value), flo_wbuf_view(&opts), slice,
                     0);
    }
    flo_wbuf_free(&opts);
    return rc;
}

/* Hand records to the owner: n entries of `it` with their delivery counts
 * (from `pend` when given, else 1). */
static void read_deliver(proto_sess_op_t *op, struct flo_stream_rec_iter *it, uint32_t n,
                         const struct flo_group_pending_entry *pend, size_t npend)
{
    struct proto_sess_rec *recs = n > 0 ? calloc(n, sizeof *recs) : NULL;
    if (n > 0 && recs == NULL) {
        op_fail_code(op, FLO_ENOMEM);
        return;
    }
    size_t got = 0;
    while (got < n && flo_stream_records_next(it, &recs[got].rec) == 1) {
        uint32_t dc = pend != NULL ? CLAIMED_MIN_DELIVERIES : 1;
        /* pending lists entries in id order: binary search. */
        size_t lo = 0, hi = npend;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = flo_stream_id_cmp(pend[mid].id, recs[got].rec.id);
            if (c == 0) {
                dc = pend[mid].delivery_count;
                break;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        recs[got++].delivery_count = dc;
    }
    op->s->delivered += got;
    op_unlink(op);
    if (op->read_cb != NULL) {
        op->read_cb(op->arg, recs, got, NULL);
    }
    free(recs);
    proto__sess_op_free(op);
}

/* A claim reply: remember the cursor; fetch delivery counts if records came
 * back, else go on to the group read. */
static void claim_done(proto_sess_op_t *op, flo_buf_t body)
{
    struct flo_stream_rec_iter it;
    uint32_t n = 0;
    struct flo_stream_id next;
    int rc = flo_group_claim_begin(body, &it, &n, &next);
    if (rc < 0) {
        op_fail_code(op, rc);
        return;
    }
    /* (max, max): the pending list was scanned to the end; start over. */
    bool at_end = flo_stream_id_cmp(next, FLO_STREAM_ID_MAX) == 0;
    op->s->cursor = at_end ? (struct flo_stream_id){0, 0} : next;
    if (n == 0 && at_end && !op->claim_from_start) {
        /* Entries before the old cursor may have gone idle meanwhile: scan
         * them too before reading new records (once: this claim starts at
         * 0-0). */
        rc = step_claim(op);
    } else if (n == 0 && sess_ended(op)) {
        /* Ended meanwhile: a group read would join the consumer again. */
        read_deliver(op, &it, 0, NULL, 0);
        return;
    } else if (n == 0) {
        rc = step_read(op);
    } else {
        flo_wbuf_reset(&op->claim);
        rc = flo_wbuf_append(&op->claim, body.ptr, body.len);
        if (rc == 0) {
            op->step = ST_PENDING;
            rc = proto__sess_send_member(op, FLO_OP_GROUP_PENDING, FLO_SEND_IDEMPOTENT);
        }
    }
    if (rc < 0) {
        op_fail_code(op, rc);
    }
}

static void pending_done(proto_sess_op_t *op, flo_buf_t body)
{
    struct flo_group_pending_iter pit;
    uint32_t np = 0;
    int rc = flo_group_pending_begin(body, &pit, &np);
    struct flo_group_pending_entry *pend = NULL;
    size_t got = 0;
    if (rc == 0 && np > 0) {
        pend = calloc(np, sizeof *pend);
        if (pend == NULL) {
            rc = FLO_ENOMEM;
        }
    }
    while (rc == 0 && got < np && (rc = flo_group_pending_next(&pit, &pend[got])) == 1) {
        got++;
        rc = 0;
    }
    struct flo_stream_rec_iter it;
    uint32_t n = 0;
    struct flo_stream_id next;
    if (rc >= 0) {
        rc = flo_group_claim_begin(flo_wbuf_view(&op->claim), &it, &n, &next);
    }
    if (rc < 0) {
        free(pend);
        op_fail_code(op, rc);
        return;
    }
    /* An empty pending list still marks the records as claimed. */
    static const struct flo_group_pending_entry none;
    read_deliver(op, &it, n, pend != NULL ? pend : &none, got);
    free(pend);
}

static void read_done(proto_sess_op_t *op, flo_buf_t body)
{
    struct flo_stream_rec_iter it;
    uint32_t n = 0;
    int rc = flo_stream_records_begin(body, &it, &n);
    if (rc < 0) {
        op_fail_code(op, rc);
        return;
    }
    /* A 0-byte body is Flo's "waiter pool full": do not spin on it. No
     * further slice for a session ended meanwhile. */
    if (n > 0 || body.len == 0 || uv_now(op->reg->loop) >= op->deadline || sess_ended(op)) {
        read_deliver(op, &it, n, NULL, 0);
        return;
    }
    rc = proto__sess_op_start(op); /* next slice: claim again first */
    if (rc < 0) {
        op_fail_code(op, rc);
    }
}

/* The join of a create answered: register the session (or adopt the
 * record of the same id registered meanwhile) and hand it to the owner. */
static void create_done(proto_sess_op_t *op)
{
    struct proto_err e;
    proto_sess_reg_t *reg = op->reg;
    proto_sess_t *s = op->s;
    proto_sess_t *have = NULL;
    HASH_FIND(hh, reg->by_id, s->id, s->id_len, have);
    if (have == NULL && proto__sess_http_full(reg)) {
        proto__sess_err_full(&e);
        proto__sess_op_fail(op, &e);
        return;
    }
    if (have == NULL) {
        int rc = proto__sess_register(s);
        if (rc < 0) {
            op_fail_code(op, rc);
            return;
        }
        reg->st.created++;
        have = s;
    } else {
        have->joined = have->ever_joined = true;
        have->join_reconnects = op->reconnects_at_send;
    }
    proto_sess_hold(have); /* the caller's hold */
    op_unlink(op);
    if (op->create_cb != NULL) {
        op->create_cb(op->arg, have, NULL);
    } else {
        proto_sess_put(have);
    }
    proto__sess_op_free(op);
}

/* The join of a create whose owner went away (cancel, registry close)
 * answered. If it made the consumer a member, nothing on this sidecar
 * remembers it: leave again (best effort, and not while another live
 * record shares the membership), else it would stay joined upstream. */
static void create_abandoned_done(proto_sess_op_t *op, bool joined)
{
    proto_sess_reg_t *reg = op->reg;
    if (joined) {
        proto__sess_send_leave(reg, op->s, "abandoned_create"); /* holds s itself */
    }
    proto__sess_op_free(op);
    proto__sess_leaves_check(reg);
}

static void op_call_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    proto_sess_op_t *op = arg;
    op->call = NULL;
    struct proto_err e;
    if (op->kind == OP_CREATE && op->abandoned) {
        create_abandoned_done(op, err == 0 && status == FLO_STATUS_OK);
        return;
    }
    if (op->kind == OP_LEAVE || op->kind == OP_END) {
        /* Leaving is best effort: the membership is gone from this sidecar
         * either way, and Flo keeps a member's pending entries claimable. */
        proto_sess_reg_t *reg = op->reg;
        if (op->kind == OP_END && op->done_cb != NULL && err == 0 && status != FLO_STATUS_OK &&
            status != FLO_STATUS_NOT_FOUND) {
            proto_err_from_status(&e, status, body);
            proto__sess_op_fail(op, &e);
        } else if (op->kind == OP_END && op->done_cb != NULL && err < 0) {
            op_fail_code(op, err);
        } else {
            op_unlink(op);
            if (op->done_cb != NULL) {
                op->done_cb(op->arg, 0, NULL);
            }
            proto__sess_op_free(op);
        }
        proto__sess_leaves_check(reg);
        return;
    }
    if (err < 0) {
        op_fail_code(op, err);
        return;
    }
    if (status != FLO_STATUS_OK) {
        proto_err_from_status(&e, status, body);
        proto__sess_op_fail(op, &e);
        return;
    }
    if ((op->step == ST_JOIN || op->step == ST_READ) && sess_ended(op) && !op->reg->closing) {
        /* A join or group read answered after the end's leave may have
         * made the consumer a member again (Flo's read joins): leave once
         * more, so an ended session does not stay joined upstream. */
        proto__sess_send_leave(op->reg, op->s, "ended_read");
    }
    int rc = 0;
    switch (op->step) {
    case ST_JOIN:
        if (op->s->ever_joined) {
            op->reg->st.rejoins++;
        }
        op->s->joined = op->s->ever_joined = true;
        op->s->join_reconnects = op->reconnects_at_send;
        if (op->kind == OP_CREATE) {
            create_done(op);
            return;
        }
        rc = step_main(op);
        break;
    case ST_CLAIM:
        claim_done(op, body);
        return;
    case ST_PENDING:
        pending_done(op, body);
        return;
    case ST_READ:
        read_done(op, body);
        return;
    case ST_IDS: {
        uint32_t touched = (uint32_t)op->n_ids;
        if (op->idop == PROTO_SESS_TOUCH) {
            rc = flo_group_dec_touch(body, &touched);
        }
        if (rc == 0) {
            op_unlink(op);
            if (op->done_cb != NULL) {
                op->done_cb(op->arg, touched, NULL);
            }
            proto__sess_op_free(op);
            return;
        }
        break;
    }
    default:
        rc = FLO_EINVAL;
        break;
    }
    if (rc < 0) {
        op_fail_code(op, rc);
    }
}

bool proto__sess_create_abandon(proto_sess_op_t *op)
{
    if (op->kind != OP_CREATE || op->call == NULL) {
        return false;
    }
    /* The join may already be on the wire: wait for its answer (the op
     * stays in reg->ops, so a shutdown waits for it and its leave, within
     * its bound) to know whether a leave is needed. */
    op->create_cb = NULL;
    op->abandoned = true;
    return true;
}

void proto_sess_op_cancel(proto_sess_op_t *op)
{
    if (op == NULL) {
        return;
    }
    if (op->kind == OP_END) {
        /* The leave is already on its way: let it finish, unobserved. */
        op->done_cb = NULL;
        return;
    }
    if (proto__sess_create_abandon(op)) {
        return;
    }
    proto__sess_op_free(op);
}

/* Whether s's membership is shared with another live record (two HTTP
 * sessions of one consumer with different claim_idle_ms, or an HTTP session
 * and a RESP consumer of the same name): then leaving upstream would also
 * drop the other record's membership, so the last record to go leaves. */
static bool leave_shared(proto_sess_t *s, const char *why)
{
    if (!proto__sess_shared(s)) {
        return false;
    }
    int sl = s->stream.len < PROTO_SESS_MAX_NAME ? (int)s->stream.len : (int)PROTO_SESS_MAX_NAME;
    FLO_DEBUG("session leave skipped: membership shared with a live session",
              "reason=%s ns=%.*s stream=%.*s group=%.*s consumer=%.*s", why, (int)s->ns.len,
              (const char *)s->ns.ptr, sl, (const char *)s->stream.ptr, (int)s->group.len,
              (const char *)s->group.ptr, (int)s->consumer.len, (const char *)s->consumer.ptr);
    return true;
}

/* Complete the deferred ends, one at a time: a callback may free other ops
 * or close the registry (which frees the rest and empties the list). */
static void defer_cb(uv_timer_t *t)
{
    proto_sess_reg_t *reg = t->data;
    while (reg->deferred != NULL) {
        proto_sess_op_t *op = reg->deferred;
        DL_DELETE2(reg->deferred, op, dprev, dnext);
        op->deferred = false;
        op_unlink(op);
        if (op->done_cb != NULL) {
            op->done_cb(op->arg, 0, NULL);
        }
        proto__sess_op_free(op);
        proto__sess_leaves_check(reg);
    }
}

int proto__sess_end_leave(proto_sess_op_t *op)
{
    if (!leave_shared(op->s, "end")) {
        return proto__sess_send_member(op, FLO_OP_GROUP_LEAVE, FLO_SEND_IDEMPOTENT);
    }
    /* Callbacks never run inside the call that started the operation. */
    proto_sess_reg_t *reg = op->reg;
    int rc = uv_timer_start(&reg->defer, defer_cb, 0, 0);
    if (rc < 0) {
        return FLO_EINVAL;
    }
    DL_APPEND2(reg->deferred, op, dprev, dnext);
    op->deferred = true;
    return 0;
}

/* Send a best-effort leave for a session being forgotten (expiry, close,
 * after an ended session's read). */
void proto__sess_send_leave(proto_sess_reg_t *reg, proto_sess_t *s, const char *why)
{
    if (leave_shared(s, why)) {
        if (s->holds == 0 && !s->registered) {
            proto__sess_free(s);
        }
        return;
    }
    proto_sess_op_t *op = proto__sess_op_new(reg, s, OP_LEAVE);
    if (op == NULL) {
        if (s->holds == 0 && !s->registered) {
            proto__sess_free(s);
        }
        return;
    }
    op->step = ST_LEAVE;
    int rc = proto__sess_send_member(op, FLO_OP_GROUP_LEAVE, FLO_SEND_IDEMPOTENT);
    if (rc < 0) {
        proto__sess_op_free(op); /* frees s too unless someone holds it */
    }
}
