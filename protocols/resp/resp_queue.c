/*
 * Shared machinery of the RESP queue commands (see resp_queue.h): argument
 * checks, message / stats replies, the push engine (single or batch
 * enqueue with a fallback for upstreams without batch enqueue) and the
 * sequence engine (one upstream request per sequence, pipelined in order
 * on the client's connection, every outcome collected before replying).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "resp_queue.h"

/* A batch request carries at most this many payload bytes, so that with
 * its per-message overhead, the key and the namespace it stays well below
 * Flo's 256 KiB request frame. */
#define BATCH_MAX_BYTES    (192u * 1024)
#define BATCH_MSG_OVERHEAD 5u /* [payload_len u32][priority u8] */

bool resp__q_arg_u64(flo_buf_t arg, uint64_t min, uint64_t max, uint64_t *out)
{
    if (arg.len == 0 || arg.len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < arg.len; i++) {
        uint8_t c = arg.ptr[i];
        if (c < '0' || c > '9' || (i == 0 && c == '0' && arg.len > 1)) {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(c - '0');
    }
    if (v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool resp__q_name_ok(struct resp_pending *p, flo_buf_t name)
{
    if (!resp__key_ok(p, name)) {
        resp__pending_done(p);
        return false;
    }
    return true;
}

void resp__q_fail(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    flo_wbuf_reset(&p->reply);
    resp__reply_upstream_err(p, err, status, body);
    resp__pending_done(p);
}

int resp__q_calls_realloc(struct resp_pending *p, unsigned n)
{
    if (p->calls && p->calls != &p->call1) {
        free(p->calls);
    }
    p->calls = NULL;
    p->ncalls = 0;
    return resp__calls_alloc(p, n);
}

/* ---- replies ---- */

static void reply_field_int(struct resp_pending *p, const char *name, int64_t v)
{
    resp_reply_bulk_str(&p->reply, name);
    resp_reply_int(&p->reply, v);
}

int resp__q_reply_msgs(struct resp_pending *p, flo_buf_t body, int64_t lease_deadline_ms)
{
    struct flo_queue_msg_iter it;
    struct flo_queue_msg m;
    uint32_t count;
    int err = flo_queue_msgs_begin(body, &it, &count);
    if (err < 0) {
        return err;
    }
    size_t nfields = lease_deadline_ms >= 0 ? 6 : 5;
    resp_reply_array(&p->reply, count);
    while ((err = flo_queue_msgs_next(&it, &m)) == 1) {
        resp_reply_map(&p->reply, p->proto, nfields);
        reply_field_int(p, "seq", (int64_t)m.seq);
        resp_reply_bulk_str(&p->reply, "payload");
        resp_reply_bulk(&p->reply, m.payload.ptr, m.payload.len);
        reply_field_int(p, "attempts", m.delivery_count);
        reply_field_int(p, "priority", m.priority);
        reply_field_int(p, "enqueued_at_ms", m.enqueued_at_ms);
        if (lease_deadline_ms >= 0) {
            reply_field_int(p, "lease_deadline_ms", lease_deadline_ms);
        }
    }
    return 0;
}

void resp__q_reply_stats(struct resp_pending *p, const struct flo_queue_stats *s)
{
    resp_reply_map(&p->reply, p->proto, 9);
    reply_field_int(p, "enqueued", (int64_t)s->enqueued);
    reply_field_int(p, "dequeued", (int64_t)s->dequeued);
    reply_field_int(p, "acked", (int64_t)s->acked);
    reply_field_int(p, "nacked", (int64_t)s->nacked);
    reply_field_int(p, "dlq_total", (int64_t)s->dlq_total);
    reply_field_int(p, "leases_expired", (int64_t)s->leases_expired);
    reply_field_int(p, "ready_now", (int64_t)s->ready_now);
    reply_field_int(p, "leased_now", (int64_t)s->leased_now);
    reply_field_int(p, "dlq_now", (int64_t)s->dlq_now);
}

/* ---- push engine ---- */

/* One upstream request of a push: a batch of messages, or one message. */
struct push_req {
    size_t first; /* index of its first message (0-based among the payloads) */
    size_t n;     /* messages it carries */
    bool batch;   /* batch enqueue 0x17E, else enqueue 0x170 */
    bool redo;    /* the upstream lacks batch enqueue: send its messages singly */
};

struct push_state {
    size_t first;   /* argv index of the first payload */
    size_t nmsgs;   /* payloads */
    uint64_t *seqs; /* nmsgs sequences, argument order */
    struct push_req *reqs;
    size_t nreqs;
    size_t *redo_msgs;     /* fallback phase: message index of each call */
    bool fallback;         /* in the fallback phase */
    bool failed;           /* an error is recorded in p->reply */
    struct flo_wbuf opts;  /* single-message options (copy) */
    struct flo_wbuf value; /* scratch for batch values */
    resp_q_pushed_cb done_cb;
};

static void push_state_free(void *state)
{
    struct push_state *s = state;
    if (!s) {
        return;
    }
    free(s->seqs);
    free(s->reqs);
    free(s->redo_msgs);
    flo_wbuf_free(&s->opts);
    flo_wbuf_free(&s->value);
    free(s);
}

static bool upstream_lacks_op(int err, uint8_t status, flo_buf_t body)
{
    static const char ni[] = "not implemented";
    return err == 0 && status == FLO_STATUS_INTERNAL && body.len == sizeof(ni) - 1 &&
           memcmp(body.ptr, ni, body.len) == 0;
}

static void push_record_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    struct push_state *s = p->state;
    if (!s->failed) {
        s->failed = true;
        flo_wbuf_reset(&p->reply);
        resp__reply_upstream_err(p, err, status, body);
    }
}

static void push_finish(struct resp_pending *p);

static void push_single_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                             flo_buf_t body)
{
    struct push_state *s = p->state;
    size_t msg = s->fallback ? s->redo_msgs[idx] : s->reqs[idx].first;
    uint64_t seq;
    if (err || status != FLO_STATUS_OK) {
        push_record_err(p, err, status, body);
    } else if ((err = flo_queue_dec_enqueue(body, &seq)) < 0) {
        push_record_err(p, err, 0, FLO_BUF_NULL);
    } else {
        s->seqs[msg] = seq;
    }
    if (p->outstanding == 0) {
        push_finish(p);
    }
}

static void push_batch_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                            flo_buf_t body)
{
    struct push_state *s = p->state;
    struct push_req *r = &s->reqs[idx];
    uint32_t count;
    flo_buf_t seqs;
    if (upstream_lacks_op(err, status, body)) {
        r->redo = true;
    } else if (err || status != FLO_STATUS_OK) {
        push_record_err(p, err, status, body);
    } else if ((err = flo_queue_dec_batch(body, &count, &seqs)) < 0 || count != r->n) {
        push_record_err(p, err < 0 ? err : FLO_EMALFORMED, 0, FLO_BUF_NULL);
    } else {
        for (size_t i = 0; i < r->n; i++) {
            s->seqs[r->first + i] = flo_ld64(seqs.ptr + 8 * i);
        }
    }
    if (p->outstanding == 0) {
        push_finish(p);
    }
}

/* The step of each call of the first phase: batch or single request. */
static void push_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    struct push_state *s = p->state;
    if (!s->fallback && s->reqs[idx].batch) {
        push_batch_step(p, idx, err, status, body);
    } else {
        push_single_step(p, idx, err, status, body);
    }
}

static int push_send_single(struct resp_pending *p, unsigned idx, size_t msg)
{
    struct push_state *s = p->state;
    flo_buf_t key = p->args.argv[1];
    flo_buf_t payload = p->args.argv[s->first + msg];
    flo_buf_t opts = s->opts.len ? flo_wbuf_view(&s->opts) : FLO_BUF_NULL;
    return resp__send(p, idx, FLO_OP_QUEUE_ENQUEUE, key, payload, opts, 0);
}

static int push_send_batch(struct resp_pending *p, unsigned idx)
{
    struct push_state *s = p->state;
    struct push_req *r = &s->reqs[idx];
    struct flo_queue_batch_msg *msgs = calloc(r->n, sizeof(*msgs));
    if (!msgs) {
        return FLO_ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++) {
        msgs[i].payload = p->args.argv[s->first + r->first + i];
        msgs[i].priority = 0;
    }
    flo_wbuf_reset(&s->value);
    int err = flo_queue_batch_value(&s->value, msgs, r->n);
    free(msgs);
    if (err == 0) {
        err = resp__send(p, idx, FLO_OP_QUEUE_BATCH_ENQUEUE, p->args.argv[1],
                         flo_wbuf_view(&s->value), FLO_BUF_NULL, 0);
    }
    return err;
}

/* A synchronous send failure: stop sending; finish once the calls already
 * sent have answered (their step sees outstanding reach 0). */
static void push_send_failed(struct resp_pending *p, int err)
{
    push_record_err(p, err, 0, FLO_BUF_NULL);
    if (p->outstanding == 0) {
        push_finish(p);
    }
}

/* Phase 2: the messages of the requests the upstream refused as "not
 * implemented" (batch enqueue), one enqueue each, in order. */
static void push_fallback(struct resp_pending *p)
{
    struct push_state *s = p->state;
    size_t n = 0;
    for (size_t i = 0; i < s->nreqs; i++) {
        n += s->reqs[i].redo ? s->reqs[i].n : 0;
    }
    s->redo_msgs = calloc(n, sizeof(*s->redo_msgs));
    if (!s->redo_msgs || resp__q_calls_realloc(p, (unsigned)n) < 0) {
        push_send_failed(p, FLO_ENOMEM);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nreqs; i++) {
        for (size_t j = 0; s->reqs[i].redo && j < s->reqs[i].n; j++) {
            s->redo_msgs[k++] = s->reqs[i].first + j;
        }
        s->reqs[i].redo = false;
    }
    s->fallback = true;
    p->step = push_single_step;
    for (size_t i = 0; i < n; i++) {
        int err = push_send_single(p, (unsigned)i, s->redo_msgs[i]);
        if (err < 0) {
            push_send_failed(p, err);
            return;
        }
    }
}

static void push_finish(struct resp_pending *p)
{
    struct push_state *s = p->state;
    if (s->failed) {
        resp__pending_done(p);
        return;
    }
    if (!s->fallback) {
        for (size_t i = 0; i < s->nreqs; i++) {
            if (s->reqs[i].redo) {
                push_fallback(p);
                return;
            }
        }
    }
    s->done_cb(p, s->seqs, s->nmsgs);
}

void resp__q_push(struct resp_pending *p, size_t first, size_t n, flo_buf_t opts,
                  resp_q_pushed_cb done_cb)
{
    struct push_state *s = calloc(1, sizeof(*s));
    if (!s) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    flo_wbuf_init(&s->opts);
    flo_wbuf_init(&s->value);
    p->state = s;
    p->state_free = push_state_free;
    s->first = first;
    s->nmsgs = n;
    s->done_cb = done_cb;
    s->seqs = calloc(s->nmsgs, sizeof(*s->seqs));
    s->reqs = calloc(s->nmsgs, sizeof(*s->reqs)); /* at most one request per message */
    if (!s->seqs || !s->reqs || (opts.len && flo_wbuf_append(&s->opts, opts.ptr, opts.len) < 0)) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    /* Cut the payloads into requests: runs that fit a batch, and any
     * payload too large to share a frame on its own. */
    size_t i = 0;
    while (i < s->nmsgs) {
        struct push_req *r = &s->reqs[s->nreqs++];
        r->first = i;
        size_t bytes = 0;
        while (i < s->nmsgs && r->n < FLO_QUEUE_MAX_BATCH && s->nmsgs > 1 && opts.len == 0) {
            size_t len = p->args.argv[first + i].len + BATCH_MSG_OVERHEAD;
            if (r->n > 0 && bytes + len > BATCH_MAX_BYTES) {
                break;
            }
            bytes += len;
            r->n++;
            i++;
        }
        if (r->n == 0) {
            r->n = 1; /* a single message (or options that only enqueue carries) */
            i++;
        }
        r->batch = r->n > 1;
    }
    int err = resp__calls_alloc(p, (unsigned)s->nreqs);
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    p->step = push_step;
    for (size_t k = 0; k < s->nreqs; k++) {
        err = s->reqs[k].batch ? push_send_batch(p, (unsigned)k)
                               : push_send_single(p, (unsigned)k, s->reqs[k].first);
        if (err < 0) {
            push_send_failed(p, err);
            return;
        }
    }
}

/* ---- sequence engine ---- */

struct seqop_state {
    enum resp_q_seqop_e op;
    size_t first, n;       /* argv range of the sequences */
    int64_t *deadlines;    /* touch: per sequence */
    size_t failed;         /* sequences that failed */
    size_t first_fail;     /* index of the first failure (in argument order) */
    struct proto_err err;  /* its error */
    struct flo_wbuf value; /* scratch: one sequence in ASCII */
    struct flo_wbuf opts;
};

static void seqop_state_free(void *state)
{
    struct seqop_state *s = state;
    if (s) {
        free(s->deadlines);
        flo_wbuf_free(&s->value);
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static const uint16_t seqop_codes[] = {
    [RESP_Q_ACK] = FLO_OP_QUEUE_COMPLETE,
    [RESP_Q_NACK] = FLO_OP_QUEUE_FAIL,
    [RESP_Q_NACK_DLQ] = FLO_OP_QUEUE_FAIL,
    [RESP_Q_TOUCH] = FLO_OP_QUEUE_TOUCH,
    [RESP_Q_DLQ_REQUEUE] = FLO_OP_QUEUE_DLQ_REQUEUE,
    [RESP_Q_DLQ_DELETE] = FLO_OP_QUEUE_DLQ_DELETE,
};

static void seqop_finish(struct resp_pending *p)
{
    struct seqop_state *s = p->state;
    if (s->failed) {
        const flo_buf_t seq = p->args.argv[s->first + s->first_fail];
        resp_reply_errorf(&p->reply, "%s seq %.*s: %s (%zu of %zu sequences applied)",
                          s->err.resp_prefix, (int)seq.len, (const char *)seq.ptr, s->err.message,
                          s->n - s->failed, s->n);
    } else if (s->op == RESP_Q_TOUCH) {
        resp_reply_array(&p->reply, s->n);
        for (size_t i = 0; i < s->n; i++) {
            resp_reply_int(&p->reply, s->deadlines[i]);
        }
    } else {
        resp_reply_int(&p->reply, (int64_t)s->n);
    }
    resp__pending_done(p);
}

static void seqop_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    struct seqop_state *s = p->state;
    int64_t deadline = 0;
    if (err == 0 && status == FLO_STATUS_OK && s->op == RESP_Q_TOUCH) {
        err = flo_queue_dec_touch(body, &deadline);
    }
    if (err || status != FLO_STATUS_OK) {
        if (s->failed == 0 || idx < s->first_fail) {
            s->first_fail = idx;
            if (err) {
                proto_err_from_code(&s->err, err);
            } else {
                proto_err_from_status(&s->err, status, body);
            }
        }
        s->failed++;
    } else if (s->op == RESP_Q_TOUCH) {
        s->deadlines[idx] = deadline;
    }
    if (p->outstanding == 0) {
        seqop_finish(p);
    }
}

void resp__q_seqop(struct resp_pending *p, enum resp_q_seqop_e op, size_t first, size_t n,
                   uint32_t visibility_ms)
{
    struct seqop_state *s = calloc(1, sizeof(*s));
    if (!s) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    flo_wbuf_init(&s->value);
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = seqop_state_free;
    s->op = op;
    s->first = first;
    s->n = n;
    int err = 0;
    if (op == RESP_Q_TOUCH) {
        s->deadlines = calloc(n, sizeof(*s->deadlines));
        err = s->deadlines ? 0 : FLO_ENOMEM;
        if (err == 0 && visibility_ms) {
            err = flo_opt_u32(&s->opts, FLO_OPT_VISIBILITY_MS, visibility_ms);
        }
    } else if (op == RESP_Q_NACK_DLQ) {
        err = flo_opt_u8(&s->opts, FLO_OPT_SEND_TO_DLQ, 1);
    }
    if (err == 0) {
        err = resp__calls_alloc(p, (unsigned)n);
    }
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    p->step = seqop_step;
    flo_buf_t opts = s->opts.len ? flo_wbuf_view(&s->opts) : FLO_BUF_NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = 0;
        (void)resp__q_arg_u64(p->args.argv[first + i], 1, UINT64_MAX, &seq);
        flo_wbuf_reset(&s->value);
        err = flo_queue_seq_value(&s->value, seq);
        if (err == 0) {
            err = resp__send(p, (unsigned)i, seqop_codes[op], p->args.argv[1],
                             flo_wbuf_view(&s->value), opts, 0);
        }
        if (err < 0) {
            /* Count this and every unsent sequence as failed with this
             * error; the ones already sent still answer. */
            if (s->failed == 0 || i < s->first_fail) {
                s->first_fail = i;
                proto_err_from_code(&s->err, err);
            }
            s->failed += n - i;
            break;
        }
    }
    resp__pending_sealed(p);
    if (p->outstanding == 0) {
        seqop_finish(p);
    }
}
