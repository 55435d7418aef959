/*
 * Redis list commands over Flo queues (docs/resp-commands.md, "Lists are
 * Flo queues"). A list is a queue: LPUSH / RPUSH enqueue at the tail,
 * LPOP / RPOP / BLPOP / BRPOP take from the head (Flo delivers in priority
 * then FIFO order; there is no stack), LLEN counts from the queue stats and
 * LRANGE peeks from the head.
 *
 * A popped element is gone, as a Redis user expects: the sidecar dequeues
 * (which leases the message), acks it, and only then answers. That is
 * at-most-once delivery: a message whose ack was applied but whose reply
 * never reached the client (connection lost in that instant) is lost. If
 * the ack fails, the element is not returned and comes back when its lease
 * ends. FLO.QDEQUEUE / FLO.QACK give the at-least-once model instead.
 *
 * BLPOP / BRPOP: first a non-blocking dequeue on each key in argument order
 * (Redis serves the first non-empty key), then rounds of one blocking
 * dequeue per key, all at once on the pool's blocking lane, each blocking
 * at most BPOP_SLICE_MS. The first message to arrive wins and is acked;
 * any other message delivered to the same command (another key answered in
 * the same instant, or the client went away) is released at once: its
 * lease is cut to 1 ms, so it is ready again with its sequence and place
 * in the queue (on an upstream without touch, whose dequeue consumes, it is
 * enqueued again instead). No message is lost or delivered twice by the
 * race. A client that closes (or half-closes) its connection while blocked
 * gets nothing popped, as Redis frees a blocked client on EOF: a message
 * that arrives for it is handed back. The waiting state lives in its own
 * object (struct bpop), which outlives the command until every upstream
 * request it sent has answered.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "resp_queue.h"

#define ERR_NOT_INT        "ERR value is not an integer or out of range"
#define ERR_COUNT_RANGE    "ERR value is out of range, must be positive"
#define POP_MAX            FLO_QUEUE_MAX_DEQUEUE /* elements per RPOP/LPOP call */
#define BPOP_SLICE_MS      5000u /* longest upstream block of one BLPOP/BRPOP round */
#define BPOP_MAX_KEYS      256u  /* keys of one BLPOP/BRPOP (one upstream waiter each) */
#define RELEASE_LEASE_MS   1u    /* lease left to a message handed back */
#define BPOP_MAX_TIMEOUT_S 1e12  /* beyond this a timeout is "out of range" */

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

/* ---- LPUSH / RPUSH ---- */

static void push_len_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                          flo_buf_t body)
{
    (void)idx;
    struct flo_queue_stats st;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_queue_dec_stats(body, &st)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_int(&p->reply, (int64_t)(st.ready_now + st.leased_now));
    }
    done(p);
}

/* Send queue stats of argv[1] as call 0, reporting through `step`. */
static void send_stats(struct resp_pending *p, resp_step_cb step)
{
    int err = resp__q_calls_realloc(p, 1);
    if (err == 0) {
        p->step = step;
        err = resp__send(p, 0, FLO_OP_QUEUE_STATS, p->args.argv[1], FLO_BUF_NULL, FLO_BUF_NULL,
                         FLO_SEND_IDEMPOTENT);
    }
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_sealed(p);
}

static void pushed(struct resp_pending *p, const uint64_t *seqs, size_t n)
{
    (void)seqs;
    (void)n;
    /* The length after the push: asked only once every enqueue has been
     * answered (Flo answers an enqueue after it commits, so the stats
     * include it). */
    send_stats(p, push_len_step);
}

static void cmd_push(struct resp_pending *p)
{
    if (!resp__q_name_ok(p, p->args.argv[1])) {
        return;
    }
    for (size_t i = 2; i < p->args.argc; i++) {
        struct proto_err e;
        if (proto_check_value(p->c->srv->ctx, p->args.argv[i].len, &e) < 0) {
            resp__reply_proto_err(p, &e);
            done(p);
            return;
        }
    }
    resp__q_push(p, 2, p->args.argc - 2, FLO_BUF_NULL, pushed);
}

/* ---- LLEN ---- */

static void cmd_llen(struct resp_pending *p)
{
    if (!resp__q_name_ok(p, p->args.argv[1])) {
        return;
    }
    send_stats(p, push_len_step);
}

/* ---- LPOP / RPOP ---- */

struct pop_state {
    bool with_count; /* RPOP key count: array reply */
    size_t n;        /* messages dequeued */
    uint64_t seqs[POP_MAX];
    size_t offs[POP_MAX + 1]; /* element i is bulks[offs[i] .. offs[i+1]) */
    bool acked[POP_MAX];
    size_t nacked;
    struct proto_err err;  /* first ack failure */
    struct flo_wbuf bulks; /* the encoded bulk strings, in delivery order */
    struct flo_wbuf opts;
};

static void pop_state_free(void *state)
{
    struct pop_state *s = state;
    if (s) {
        flo_wbuf_free(&s->bulks);
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static void pop_reply_empty(struct resp_pending *p, const struct pop_state *s)
{
    if (s->with_count) {
        resp_reply_null_array(&p->reply, p->proto);
    } else {
        resp_reply_null(&p->reply, p->proto);
    }
}

static void pop_ack_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                         flo_buf_t body)
{
    struct pop_state *s = p->state;
    if (err || status != FLO_STATUS_OK) {
        if (s->err.resp_prefix == NULL) {
            if (err) {
                proto_err_from_code(&s->err, err);
            } else {
                proto_err_from_status(&s->err, status, body);
            }
        }
    } else {
        s->acked[idx] = true;
        s->nacked++;
    }
    if (p->outstanding) {
        return;
    }
    if (s->nacked == 0) {
        /* Nothing was taken for good: say so; the messages come back when
         * their lease ends. */
        resp_reply_errorf(&p->reply,
                          "%s the popped element(s) could not be acknowledged (%s); they stay in "
                          "the queue and are delivered again when their %u ms lease ends",
                          s->err.resp_prefix ? s->err.resp_prefix : "ERR", s->err.message,
                          RESP_QUEUE_DEFAULT_LEASE_MS);
    } else {
        /* Only what was acked is returned: the rest comes back later. */
        if (s->with_count) {
            resp_reply_array(&p->reply, s->nacked);
        }
        for (size_t i = 0; i < s->n; i++) {
            if (s->acked[i]) {
                flo_wbuf_append(&p->reply, s->bulks.data + s->offs[i], s->offs[i + 1] - s->offs[i]);
            }
        }
    }
    done(p);
}

static void pop_deq_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                         flo_buf_t body)
{
    (void)idx;
    struct pop_state *s = p->state;
    struct flo_queue_msg_iter it;
    struct flo_queue_msg m;
    uint32_t count;
    if (err || status != FLO_STATUS_OK) {
        resp__q_fail(p, err, status, body);
        return;
    }
    if ((err = flo_queue_msgs_begin(body, &it, &count)) < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    while (s->n < POP_MAX && flo_queue_msgs_next(&it, &m) == 1) {
        s->offs[s->n] = s->bulks.len;
        if (resp_reply_bulk(&s->bulks, m.payload.ptr, m.payload.len) < 0) {
            /* Not acked: the messages return when their lease ends. */
            resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            return;
        }
        s->seqs[s->n++] = m.seq;
    }
    s->offs[s->n] = s->bulks.len;
    if (s->n == 0) {
        pop_reply_empty(p, s);
        done(p);
        return;
    }
    if ((err = resp__q_calls_realloc(p, (unsigned)s->n)) < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    p->step = pop_ack_step;
    for (size_t i = 0; i < s->n; i++) {
        flo_wbuf_reset(&s->opts);
        err = flo_queue_seq_value(&s->opts, s->seqs[i]);
        if (err == 0) {
            err = resp__send(p, (unsigned)i, FLO_OP_QUEUE_COMPLETE, p->args.argv[1],
                             flo_wbuf_view(&s->opts), FLO_BUF_NULL, 0);
        }
        if (err < 0) {
            /* The unsent ones stay leased and come back after the lease. */
            if (s->err.resp_prefix == NULL) {
                proto_err_from_code(&s->err, err);
            }
            break;
        }
    }
    resp__pending_sealed(p);
    if (p->outstanding == 0) {
        pop_ack_step(p, 0, FLO_ENOMEM, 0, FLO_BUF_NULL); /* nothing sent: reply now */
    }
}

/* RPOP key 0: Redis answers an empty array for an existing list, nil for
 * a missing one; a queue "exists" while it holds messages. */
static void pop_zero_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                          flo_buf_t body)
{
    (void)idx;
    struct flo_queue_stats st;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_queue_dec_stats(body, &st)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else if (st.ready_now + st.leased_now > 0) {
        resp_reply_array(&p->reply, 0);
    } else {
        resp_reply_null_array(&p->reply, p->proto);
    }
    done(p);
}

static void cmd_pop(struct resp_pending *p)
{
    uint64_t count = 1;
    bool with_count = p->args.argc == 3;
    if (p->args.argc > 3) {
        resp_reply_errorf(&p->reply, "ERR wrong number of arguments for '%s' command",
                          p->cmd->name);
        done(p);
        return;
    }
    if (with_count) {
        long long v;
        if (!resp__arg_ll(p->args.argv[2], &v) || v < 0) {
            resp_reply_error(&p->reply, ERR_COUNT_RANGE);
            done(p);
            return;
        }
        count = (uint64_t)v;
    }
    if (!resp__q_name_ok(p, p->args.argv[1])) {
        return;
    }
    if (count == 0) {
        send_stats(p, pop_zero_step);
        return;
    }
    struct pop_state *s = calloc(1, sizeof(*s));
    if (!s) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    flo_wbuf_init(&s->bulks);
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = pop_state_free;
    s->with_count = with_count;
    struct flo_queue_dequeue_args a = {
        .count = (uint32_t)(count < POP_MAX ? count : POP_MAX),
        .visibility_timeout_ms = RESP_QUEUE_DEFAULT_LEASE_MS,
    };
    int err = flo_queue_dequeue_opts(&s->opts, &a);
    if (err == 0) {
        err = resp__calls_alloc(p, 1);
    }
    if (err == 0) {
        p->step = pop_deq_step;
        /* Never retried: a replayed dequeue would lease twice. */
        err = resp__send(p, 0, FLO_OP_QUEUE_DEQUEUE, p->args.argv[1], FLO_BUF_NULL,
                         flo_wbuf_view(&s->opts), 0);
    }
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
    }
}

/* ---- LRANGE ---- */

struct range_state {
    long long start, stop;
    struct flo_wbuf opts;
};

static void range_state_free(void *state)
{
    struct range_state *s = state;
    if (s) {
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static void range_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    struct range_state *s = p->state;
    struct flo_queue_msg_iter it;
    struct flo_queue_msg m;
    uint32_t count;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
        done(p);
        return;
    }
    if ((err = flo_queue_msgs_begin(body, &it, &count)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
        done(p);
        return;
    }
    /* Redis' index arithmetic over the visible window. */
    long long len = count, start = s->start, stop = s->stop;
    if (start < 0) {
        start += len;
    }
    if (stop < 0) {
        stop += len;
    }
    if (start < 0) {
        start = 0;
    }
    if (start > stop || start >= len) {
        resp_reply_array(&p->reply, 0);
        done(p);
        return;
    }
    if (stop >= len) {
        stop = len - 1;
    }
    resp_reply_array(&p->reply, (size_t)(stop - start + 1));
    for (long long i = 0; i <= stop && flo_queue_msgs_next(&it, &m) == 1; i++) {
        if (i >= start) {
            resp_reply_bulk(&p->reply, m.payload.ptr, m.payload.len);
        }
    }
    done(p);
}

static void cmd_lrange(struct resp_pending *p)
{
    long long start, stop;
    if (!resp__arg_ll(p->args.argv[2], &start) || !resp__arg_ll(p->args.argv[3], &stop)) {
        resp_reply_error(&p->reply, ERR_NOT_INT);
        done(p);
        return;
    }
    if (!resp__q_name_ok(p, p->args.argv[1])) {
        return;
    }
    if (start >= (long long)RESP_QUEUE_PEEK_MAX) {
        resp_reply_errorf(&p->reply,
                          "ERR LRANGE sees at most the first %u ready messages of a Flo queue "
                          "(start must be below %u)",
                          RESP_QUEUE_PEEK_MAX, RESP_QUEUE_PEEK_MAX);
        done(p);
        return;
    }
    if (start >= 0 && stop >= 0 && start > stop) {
        resp_reply_array(&p->reply, 0); /* an empty range (Redis: empty) */
        done(p);
        return;
    }
    struct range_state *s = calloc(1, sizeof(*s));
    if (!s) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = range_state_free;
    s->start = start;
    s->stop = stop;
    uint32_t want = RESP_QUEUE_PEEK_MAX;
    if (start >= 0 && stop >= 0 && stop < (long long)RESP_QUEUE_PEEK_MAX) {
        want = (uint32_t)stop + 1;
    }
    int err = flo_opt_u32(&s->opts, FLO_OPT_COUNT, want);
    if (err == 0) {
        err = resp__calls_alloc(p, 1);
    }
    if (err == 0) {
        p->step = range_step;
        err = resp__send(p, 0, FLO_OP_QUEUE_PEEK, p->args.argv[1], FLO_BUF_NULL,
                         flo_wbuf_view(&s->opts), FLO_SEND_IDEMPOTENT);
    }
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
    }
}

/* ---- BLPOP / BRPOP ---- */

struct bpop;

enum bpop_kind_e {
    BC_PROBE,     /* non-blocking dequeue of the probe phase */
    BC_ROUND,     /* blocking dequeue of a round */
    BC_ACK,       /* ack of the winning message */
    BC_RELEASE,   /* touch to RELEASE_LEASE_MS of an unwanted message */
    BC_REENQUEUE, /* fallback release on an upstream without touch */
};

/* One upstream request of a BLPOP/BRPOP, owned by the pool callback. */
struct bpop_call {
    struct bpop *b;
    enum bpop_kind_e kind;
    size_t key; /* index into b->keys */
    uint64_t seq;
    uint8_t priority;
    size_t payload_len; /* ACK, RELEASE: the message's payload */
    bool longpoll;      /* holds a --max-longpolls slot until answered */
    uint8_t payload[];
};

struct bpop {
    struct resp_pending *p; /* NULL once the command is gone */
    flo_pool_t *pool;
    uv_loop_t *loop;
    unsigned inflight;   /* bpop_calls not yet answered */
    unsigned round_left; /* blocking dequeues of the current round not answered */
    bool settled;        /* winner chosen, error or timeout: no new rounds */
    bool replied;        /* p's reply is written (p must not be touched) */
    size_t probe;        /* next key of the probe phase */
    uint64_t deadline;   /* uv_now ms; 0 = wait forever */
    size_t nkeys;
    flo_buf_t *keys; /* views into keydata */
    uint8_t *keydata;
    char ns[PROTO_MAX_NAMESPACE + 1];
    size_t ns_len;
};

static void bpop_free(struct bpop *b)
{
    free(b->keys);
    free(b->keydata);
    free(b);
}

/* p is being freed (finished, or its client went away). */
static void bpop_detach(void *state)
{
    struct bpop *b = state;
    b->p = NULL;
    b->settled = true;
    if (b->inflight == 0) {
        bpop_free(b);
    }
}

static void bpop_on_call(void *arg, int err, uint8_t status, flo_buf_t body);

/* Send one request of b; the call record is adopted (freed by the
 * callback, or here on a synchronous failure). */
static int bpop_send(struct bpop *b, struct bpop_call *c, uint16_t op, flo_buf_t value,
                     flo_buf_t opts, unsigned flags, uint32_t timeout_ms)
{
    struct flo_req req = {
        .op = op,
        .ns = FLO_BUF(b->ns, b->ns_len),
        .key = b->keys[c->key],
        .value = value,
        .opts = opts,
    };
    c->b = b;
    if (flags & FLO_SEND_BLOCKING) {
        int lp = proto_longpoll_enter();
        if (lp < 0) {
            free(c);
            return lp;
        }
        c->longpoll = true;
    }
    int err = flo_pool_send(b->pool, &req, timeout_ms, flags, bpop_on_call, c, NULL);
    if (err < 0) {
        if (c->longpoll) {
            proto_longpoll_leave();
        }
        free(c);
        return err;
    }
    b->inflight++;
    if ((flags & FLO_SEND_BLOCKING) && b->p != NULL) {
        resp__pending_blocked(b->p); /* a blocked client, for the metrics */
    }
    return 0;
}

static struct bpop_call *bpop_call_new(enum bpop_kind_e kind, size_t key, const uint8_t *payload,
                                       size_t len)
{
    struct bpop_call *c = calloc(1, sizeof(*c) + len);
    if (c) {
        c->kind = kind;
        c->key = key;
        c->payload_len = len;
        if (len) {
            memcpy(c->payload, payload, len);
        }
    }
    return c;
}

static void bpop_reply_err(struct bpop *b, int err, uint8_t status, flo_buf_t body)
{
    b->settled = true;
    if (b->p && !b->replied) {
        b->replied = true;
        resp__reply_upstream_err(b->p, err, status, body);
        resp__pending_done(b->p);
    }
}

/* Hand an unwanted message back: cut its lease to 1 ms (it is ready again
 * with its sequence, ahead of newer messages of its priority). */
static void bpop_release(struct bpop *b, size_t key, const struct flo_queue_msg *m)
{
    struct bpop_call *c = bpop_call_new(BC_RELEASE, key, m->payload.ptr, m->payload.len);
    uint8_t vbuf[24], obuf[8];
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    int err = c ? 0 : FLO_ENOMEM;
    if (err == 0) {
        c->seq = m->seq;
        c->priority = m->priority;
        err = flo_queue_seq_value(&v, m->seq);
    }
    if (err == 0) {
        err = flo_opt_u32(&o, FLO_OPT_VISIBILITY_MS, RELEASE_LEASE_MS);
    }
    if (err == 0 && v.len <= sizeof(vbuf) && o.len <= sizeof(obuf)) {
        memcpy(vbuf, v.data, v.len);
        memcpy(obuf, o.data, o.len);
        err = bpop_send(b, c, FLO_OP_QUEUE_TOUCH, FLO_BUF(vbuf, v.len), FLO_BUF(obuf, o.len), 0, 0);
        c = NULL; /* adopted (or freed) by bpop_send */
    }
    free(c);
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    if (err < 0) {
        FLO_WARN("resp bpop release failed",
                 "seq=%llu err=%d (the message is ready again when "
                 "its lease ends)",
                 (unsigned long long)m->seq, err);
    }
}

/* The first message: ack it, then answer [key, payload]. */
static void bpop_win(struct bpop *b, size_t key, const struct flo_queue_msg *m)
{
    b->settled = true;
    struct bpop_call *c = bpop_call_new(BC_ACK, key, m->payload.ptr, m->payload.len);
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    int err = c ? flo_queue_seq_value(&v, m->seq) : FLO_ENOMEM;
    if (err == 0) {
        c->seq = m->seq;
        err = bpop_send(b, c, FLO_OP_QUEUE_COMPLETE, flo_wbuf_view(&v), FLO_BUF_NULL, 0, 0);
        c = NULL;
    }
    free(c);
    flo_wbuf_free(&v);
    if (err < 0) {
        bpop_release(b, key, m);
        bpop_reply_err(b, err, 0, FLO_BUF_NULL);
    }
}

/* The client closed (or half-closed) its connection: like Redis, which
 * frees a blocked client on EOF, pop nothing for it. */
static bool bpop_client_gone(const struct bpop *b)
{
    return b->p == NULL || b->p->c->eof || b->p->c->closing;
}

/* Stop waiting with Redis' timeout answer (nil). */
static void bpop_reply_nil(struct bpop *b)
{
    b->settled = true;
    if (b->p && !b->replied) {
        b->replied = true;
        resp_reply_null_array(&b->p->reply, b->p->proto);
        resp__pending_done(b->p);
    }
}

/* Graceful shutdown (resp__upstream_end_blocked): a BLPOP still waiting
 * answers nil at once, like a timeout. Its dequeues in flight answer later
 * and any message they lease goes back (b->p is gone by then). A BLPOP
 * that already won (acking its message) finishes normally. */
static bool bpop_end_blocked(struct resp_pending *p)
{
    struct bpop *b = p->state;
    if (b == NULL || b->settled || b->replied) {
        return false;
    }
    bpop_reply_nil(b); /* may free p */
    return true;
}

/* Messages of a dequeue reply: the first may win, the others go back. */
static void bpop_deliver(struct bpop *b, size_t key, flo_buf_t body)
{
    struct flo_queue_msg_iter it;
    struct flo_queue_msg m;
    uint32_t count;
    if (flo_queue_msgs_begin(body, &it, &count) < 0) {
        bpop_reply_err(b, FLO_EMALFORMED, 0, FLO_BUF_NULL);
        return;
    }
    while (flo_queue_msgs_next(&it, &m) == 1) {
        if (!b->settled && !bpop_client_gone(b)) {
            bpop_win(b, key, &m);
        } else {
            if (!b->settled) {
                bpop_reply_nil(b);
            }
            bpop_release(b, key, &m);
        }
    }
}

static int bpop_send_dequeue(struct bpop *b, enum bpop_kind_e kind, size_t key, uint32_t block_ms)
{
    struct bpop_call *c = bpop_call_new(kind, key, NULL, 0);
    if (!c) {
        return FLO_ENOMEM;
    }
    uint8_t obuf[32];
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct flo_queue_dequeue_args a = {
        .count = 1,
        .visibility_timeout_ms = RESP_QUEUE_DEFAULT_LEASE_MS,
        .block_ms = block_ms,
    };
    int err = flo_queue_dequeue_opts(&o, &a);
    if (err == 0 && o.len > sizeof(obuf)) {
        err = FLO_EINVAL;
    }
    if (err < 0) {
        flo_wbuf_free(&o);
        free(c);
        return err;
    }
    memcpy(obuf, o.data, o.len);
    size_t olen = o.len;
    flo_wbuf_free(&o);
    return bpop_send(b, c, FLO_OP_QUEUE_DEQUEUE, FLO_BUF_NULL, FLO_BUF(obuf, olen),
                     block_ms ? FLO_SEND_BLOCKING : 0, proto_timeout_for_block(block_ms));
}

/* Start a round: one blocking dequeue per key; or time out. */
static void bpop_round(struct bpop *b)
{
    uint64_t now = uv_now(b->loop);
    if ((b->deadline && now >= b->deadline) || bpop_client_gone(b)) {
        bpop_reply_nil(b);
        return;
    }
    uint64_t block = BPOP_SLICE_MS;
    if (b->deadline && b->deadline - now < block) {
        block = b->deadline - now;
    }
    b->round_left = 0;
    for (size_t i = 0; i < b->nkeys; i++) {
        int err = bpop_send_dequeue(b, BC_ROUND, i, (uint32_t)block);
        if (err < 0) {
            /* Those already sent answer later; their messages go back. */
            bpop_reply_err(b, err, 0, FLO_BUF_NULL);
            return;
        }
        b->round_left++;
    }
}

static void bpop_probe_next(struct bpop *b)
{
    if (bpop_client_gone(b)) {
        bpop_reply_nil(b);
        return;
    }
    if (b->probe >= b->nkeys) {
        bpop_round(b);
        return;
    }
    int err = bpop_send_dequeue(b, BC_PROBE, b->probe++, 0);
    if (err < 0) {
        bpop_reply_err(b, err, 0, FLO_BUF_NULL);
    }
}

static void bpop_on_call(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct bpop_call *c = arg;
    struct bpop *b = c->b;
    if (c->longpoll) {
        c->longpoll = false;
        proto_longpoll_leave();
    }
    /* This call stays counted until the end: finishing p below may detach
     * b, which must not free it under us. */
    bool ok = err == 0 && status == FLO_STATUS_OK;
    switch (c->kind) {
    case BC_PROBE:
    case BC_ROUND:
        if (c->kind == BC_ROUND) {
            b->round_left--;
        }
        if (ok) {
            bpop_deliver(b, c->key, body);
        } else if (!b->settled) {
            bpop_reply_err(b, err, status, body);
        }
        if (!b->settled && b->p) {
            if (c->kind == BC_PROBE) {
                bpop_probe_next(b);
            } else if (b->round_left == 0) {
                bpop_round(b);
            }
        }
        break;
    case BC_ACK:
        if (b->p && !b->replied) {
            b->replied = true;
            struct resp_pending *p = b->p;
            if (ok) {
                resp_reply_array(&p->reply, 2);
                resp_reply_bulk(&p->reply, b->keys[c->key].ptr, b->keys[c->key].len);
                resp_reply_bulk(&p->reply, c->payload, c->payload_len);
            } else {
                /* Not taken: it comes back when its lease ends. */
                resp__reply_upstream_err(p, err, status, body);
            }
            resp__pending_done(p);
        }
        break;
    case BC_RELEASE:
        if (err == 0 && status == FLO_STATUS_INTERNAL) {
            /* No touch upstream (a real Flo server, whose dequeue consumes):
             * put the message back as a new one. */
            struct bpop_call *r = bpop_call_new(BC_REENQUEUE, c->key, NULL, 0);
            uint8_t obuf[8];
            struct flo_wbuf o;
            flo_wbuf_init(&o);
            int e2 = r ? flo_opt_u8(&o, FLO_OPT_PRIORITY, c->priority) : FLO_ENOMEM;
            if (e2 == 0 && o.len <= sizeof(obuf)) {
                memcpy(obuf, o.data, o.len);
                e2 = bpop_send(b, r, FLO_OP_QUEUE_ENQUEUE, FLO_BUF(c->payload, c->payload_len),
                               FLO_BUF(obuf, o.len), 0, 0);
                r = NULL;
            }
            free(r);
            flo_wbuf_free(&o);
            if (e2 < 0) {
                FLO_ERROR("resp bpop message lost", "seq=%llu err=%d", (unsigned long long)c->seq,
                          e2);
            }
        } else if (!ok) {
            FLO_WARN("resp bpop release failed",
                     "seq=%llu status=%u err=%d (ready again when its lease ends)",
                     (unsigned long long)c->seq, status, err);
        }
        break;
    case BC_REENQUEUE:
        if (!ok) {
            FLO_ERROR("resp bpop message lost", "seq=%llu status=%u err=%d",
                      (unsigned long long)c->seq, status, err);
        }
        break;
    }
    free(c);
    if (--b->inflight == 0 && b->p == NULL) {
        bpop_free(b);
    }
}

/* Redis' timeout argument: seconds as a float, 0 = forever. */
static bool bpop_timeout(struct resp_pending *p, flo_buf_t arg, uint64_t *ms)
{
    char buf[64];
    if (arg.len == 0 || arg.len >= sizeof(buf)) {
        resp_reply_error(&p->reply, "ERR timeout is not a float or out of range");
        return false;
    }
    memcpy(buf, arg.ptr, arg.len);
    buf[arg.len] = 0;
    char *end;
    double t = strtod(buf, &end);
    if (*end != 0 || isnan(t) || buf[0] == ' ') {
        resp_reply_error(&p->reply, "ERR timeout is not a float or out of range");
        return false;
    }
    if (t < 0 || isinf(t)) {
        resp_reply_error(&p->reply, "ERR timeout is negative");
        return false;
    }
    if (t > BPOP_MAX_TIMEOUT_S) {
        resp_reply_error(&p->reply, "ERR timeout is out of range");
        return false;
    }
    /* Round up (without libm): 0.0001 s still waits 1 ms. */
    double x = t * 1000.0;
    *ms = (uint64_t)x;
    if ((double)*ms < x) {
        (*ms)++;
    }
    return true;
}

static void cmd_bpop(struct resp_pending *p)
{
    size_t nkeys = p->args.argc - 2;
    uint64_t ms;
    if (!bpop_timeout(p, p->args.argv[p->args.argc - 1], &ms)) {
        done(p);
        return;
    }
    if (nkeys > BPOP_MAX_KEYS) {
        resp_reply_errorf(&p->reply, "ERR %s waits on at most %u queues at once", p->cmd->name,
                          BPOP_MAX_KEYS);
        done(p);
        return;
    }
    size_t total = 0;
    for (size_t i = 1; i <= nkeys; i++) {
        if (!resp__q_name_ok(p, p->args.argv[i])) {
            return;
        }
        total += p->args.argv[i].len;
    }
    struct bpop *b = calloc(1, sizeof(*b));
    if (b) {
        b->keys = calloc(nkeys, sizeof(*b->keys));
        b->keydata = malloc(total ? total : 1);
    }
    if (!b || !b->keys || !b->keydata) {
        if (b) {
            bpop_free(b);
        }
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    size_t off = 0;
    for (size_t i = 0; i < nkeys; i++) {
        flo_buf_t k = p->args.argv[i + 1];
        memcpy(b->keydata + off, k.ptr, k.len);
        b->keys[i] = FLO_BUF(b->keydata + off, k.len);
        off += k.len;
    }
    b->nkeys = nkeys;
    b->p = p;
    b->pool = p->c->srv->ctx->pool;
    b->loop = p->c->srv->ctx->loop;
    memcpy(b->ns, p->ns, p->ns_len);
    b->ns_len = p->ns_len;
    b->deadline = ms ? uv_now(b->loop) + ms : 0;
    p->state = b;
    p->state_free = bpop_detach;
    p->end_blocked = bpop_end_blocked;
    /* One key: its blocking dequeue answers at once when a message is
     * ready, so the probe phase would only add a round trip. */
    b->probe = nkeys > 1 ? 0 : nkeys;
    bpop_probe_next(b);
}

/* ---- refused list commands ---- */

static void cmd_refuse(struct resp_pending *p)
{
    resp_reply_errorf(&p->reply,
                      "ERR %s is not supported by flo-sidecar: lists are Flo queues, which are "
                      "taken from the head only (use LPUSH/RPUSH, LPOP/RPOP, BLPOP/BRPOP, LLEN, "
                      "LRANGE, or the FLO.Q* commands)",
                      p->cmd->name);
    done(p);
}

/* Order classes (resp_internal.h): a client's pipelined single-value
 * pushes, or pops, of one queue go upstream without waiting for each other.
 * Enqueues reach the server in request order, so FIFO holds; the length a
 * push reports may then include later pushes of the same pipeline. */
static unsigned push_class(const struct resp_pending *p)
{
    /* Several values may be re-sent one by one after their batch enqueue
     * was refused (resp__q_push), i.e. after a later push's enqueue. */
    return p->args.argc == 3 ? RESP_ORDER_QPUSH : RESP_ORDER_NONE;
}

static unsigned pop_class(const struct resp_pending *p)
{
    /* One dequeue, sent by the handler; "key 0" reads the stats instead
     * and keeps the ordinary order. */
    long long v;
    if (p->args.argc == 2 || (p->args.argc == 3 && resp__arg_ll(p->args.argv[2], &v) && v > 0)) {
        return RESP_ORDER_QPOP;
    }
    return RESP_ORDER_NONE;
}

#define Q_GROUP "list"

const struct resp_cmd resp__queue_cmds[] = {
    {"lpush", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, Q_GROUP,
     "Enqueues the elements at the tail of a Flo queue; returns the queue length.", cmd_push, NULL,
     push_class},
    {"rpush", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, Q_GROUP,
     "Enqueues the elements at the tail of a Flo queue (same as LPUSH); returns the length.",
     cmd_push, NULL, push_class},
    {"lpop", -2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, Q_GROUP,
     "Takes the next element(s) of a Flo queue (dequeue + ack).", cmd_pop, NULL, pop_class},
    {"rpop", -2, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, Q_GROUP,
     "Takes the next element(s) of a Flo queue (same as LPOP: FIFO, not a stack).", cmd_pop, NULL,
     pop_class},
    {"blpop", -3, RESP_CMD_WRITE | RESP_CMD_BARRIER, 1, -2, 1, Q_GROUP,
     "Waits for the next element of one of the queues (dequeue + ack).", cmd_bpop},
    {"brpop", -3, RESP_CMD_WRITE | RESP_CMD_BARRIER, 1, -2, 1, Q_GROUP,
     "Waits for the next element of one of the queues (same as BLPOP).", cmd_bpop},
    {"llen", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, Q_GROUP,
     "Returns the number of ready, delayed and leased messages of a Flo queue.", cmd_llen},
    {"lrange", 4, RESP_CMD_READONLY, 1, 1, 1, Q_GROUP,
     "Returns ready elements from the head of a Flo queue (at most the first 1000).", cmd_lrange},
    {"lindex", -1, RESP_CMD_READONLY, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lset", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"linsert", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lrem", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"ltrim", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lpos", -1, RESP_CMD_READONLY, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lpushx", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"rpushx", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lmove", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"blmove", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"rpoplpush", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"brpoplpush", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"lmpop", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
    {"blmpop", -1, RESP_CMD_WRITE, 0, 0, 0, Q_GROUP, "Refused: Flo queues.", cmd_refuse},
};
const size_t resp__queue_ncmds = sizeof(resp__queue_cmds) / sizeof(resp__queue_cmds[0]);
