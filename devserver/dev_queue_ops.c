/*
 * flo-dev's queue op handlers (op codes 0x170-0x198): decode a request's
 * queue name, value and TLV options, run it on the queue engine
 * (dev_queue.c) and answer with the layouts of shared/flo-protocol-ops.md §2
 * under the documented model of §7 (leases, delays, dedup, retries, DLQ).
 *
 * Time: one libuv timer follows the engine's earliest deadline (a delay
 * becoming due or a lease ending); when it fires the engine applies what is
 * due. Blocking dequeues (block_ms) park in the waiter registry
 * (dev_wait.c) under the queue's identity; after every engine call the
 * queues that received ready messages (an enqueue, a nack, an expired
 * lease, a due delay, a DLQ requeue) answer their waiters in arrival order,
 * so nothing polls. A disconnecting client's waiters are dropped by the
 * registry; messages already leased to it come back when their lease ends.
 *
 * Batch enqueue (0x17E, a flo-dev extension: real servers answer 9) takes
 * the value [count u32]([payload str32][priority u8])*, documented in
 * docs/flo-dev.md, and answers [count u32][seq u64]*.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

#define WAIT_TAG_QUEUE    'Q'                 /* waiter key family tag */
#define MAX_OK_BODY       (256u * 1024)       /* largest OK body the real server sends */
#define BATCH_MAX         FLO_QUEUE_MAX_BATCH /* messages of one batch enqueue */
#define DLQ_DEFAULT_COUNT 100                 /* dlq_list page without a count option */
#define STATS_BODY        FLO_QUEUE_STATS_SIZE

static const char oom_msg[] = "internal error: out of memory";

/* ---- shared helpers ---- */

/*
 * Validate the queue name and find (or with `create`, make) the queue.
 * Returns true to proceed (*q may be NULL when not creating); otherwise the
 * request has been answered.
 */
static bool open_queue(struct dev_conn *c, const struct dev_req *r, bool create,
                       struct dev_queue **q)
{
    const char *msg;
    uint8_t st = dev_queue_open(c->srv->queues, r->env.ns, r->env.key, create, q, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return false;
    }
    return true;
}

static flo_buf_t wait_key(const uint8_t *key, size_t klen, uint8_t *buf)
{
    buf[0] = WAIT_TAG_QUEUE;
    memcpy(buf + 1, key, klen);
    return FLO_BUF(buf, klen + 1);
}

/* Answer with a message list in the dequeue layout. */
static void reply_msgs(struct dev_conn *c, uint64_t id, const struct flo_queue_msg *m, size_t n)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    size_t pos;
    int rc = flo_ops_count_reserve(&b, &pos);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo_queue_msg_put(&b, &m[i]);
    }
    if (rc != 0) {
        dev__reply_text(c, id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        flo_ops_count_patch(&b, pos, (uint32_t)n);
        dev__reply(c, id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

static void reply_empty_list(struct dev_conn *c, uint64_t id)
{
    static const uint8_t zero[4];
    dev__reply(c, id, FLO_STATUS_OK, FLO_BUF(zero, sizeof zero));
}

/* ---- waking blocked dequeuers, the deadline timer ---- */

struct wake_ctx {
    struct dev_server *srv;
    struct dev_queue *q;
};

static bool wake_fn(struct dev_waiter *w, void *ud)
{
    struct wake_ctx *x = ud;
    if (dev_queue_ready_count(x->q) == 0) {
        return false;
    }
    struct flo_queue_msg out[FLO_QUEUE_MAX_DEQUEUE];
    size_t n = dev_queue_dequeue(x->srv->queues, x->q, (uint32_t)w->kind, (uint32_t)w->arg,
                                 MAX_OK_BODY, dev__now(x->srv), out);
    if (n == 0) {
        return false; /* memory ran out: keep waiting */
    }
    reply_msgs(w->conn, w->request_id, out, n);
    return true;
}

static void timer_cb(uv_timer_t *t);

/* Answer the waiters of every queue that got ready messages, then point the
 * timer at the engine's next deadline. Called after every engine call. */
static void after_op(struct dev_server *srv)
{
    struct dev_queue *q;
    while ((q = dev_queue_pop_woken(srv->queues)) != NULL) {
        if (dev__wait_count(srv) == 0) {
            continue; /* nobody waits anywhere: just empty the list */
        }
        flo_buf_t k = dev_queue_key(q);
        uint8_t buf[1 + DEV_QUEUE_MAX_NAME];
        struct wake_ctx x = {srv, q};
        dev__wait_wake(srv, wait_key(k.ptr, k.len, buf), wake_fn, &x);
    }
    if (srv->closing) {
        return;
    }
    uint64_t due = dev_queue_next_due(srv->queues);
    if (due == srv->queue_timer_due) {
        return;
    }
    srv->queue_timer_due = due;
    if (due == UINT64_MAX) {
        uv_timer_stop(&srv->queue_timer);
        return;
    }
    uint64_t now = dev__now(srv);
    uv_timer_start(&srv->queue_timer, timer_cb, due > now ? due - now : 0, 0);
}

static void timer_cb(uv_timer_t *t)
{
    struct dev_server *srv = t->data;
    srv->queue_timer_due = UINT64_MAX; /* one-shot: it is not armed any more */
    dev_queue_tick(srv->queues, dev__now(srv));
    after_op(srv);
}

static void dequeue_timeout_cb(struct dev_waiter *w)
{
    reply_empty_list(w->conn, w->request_id);
}

/* ---- enqueue ---- */

static void enqueue_defaults(flo_buf_t opts, struct dev_queue_new_msg *m)
{
    struct flo_queue_enqueue_args a;
    flo_queue_parse_enqueue_opts(opts, &a);
    m->priority = a.has_priority ? a.priority : 0;
    m->delay_ms = a.delay_ms;
    m->dedup_key = a.dedup_key;
    m->max_retries = a.has_max_retries ? a.max_retries : DEV_QUEUE_DEFAULT_MAX_RETRIES;
}

static void op_enqueue(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_queue *q;
    if (!open_queue(c, r, true, &q)) {
        return;
    }
    struct dev_queue_new_msg m = {.payload = r->env.value};
    enqueue_defaults(r->env.opts, &m);
    uint64_t seq = 0;
    const char *msg;
    uint8_t st = dev_queue_enqueue(c->srv->queues, q, &m, 1, dev__now(c->srv), &seq, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else {
        uint8_t body[8];
        flo_st64(body, seq);
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    }
    after_op(c->srv);
}

/*
 * Parse a batch value into msgs (at most BATCH_MAX). Returns the count, or
 * 0 with *msg set.
 */
static size_t parse_batch(flo_buf_t value, const struct dev_queue_new_msg *defaults,
                          struct dev_queue_new_msg *msgs, const char **msg)
{
    struct flo_queue_batch_iter it;
    struct flo_queue_batch_msg m;
    uint32_t count;
    int rc = flo_queue_batch_begin(value, &it, &count);
    if (rc == FLO_EINVAL) {
        *msg = "batch enqueue: the batch is empty";
        return 0;
    }
    if (rc == FLO_ELIMIT) {
        *msg = "batch enqueue: more than 1000 messages in one batch";
        return 0;
    }
    if (rc != 0) {
        *msg = "batch enqueue: malformed batch (expected [count u32] then "
               "[payload_len u32][payload][priority u8] per message)";
        return 0;
    }
    for (uint32_t i = 0; flo_queue_batch_next(&it, &m) == 1; i++) {
        msgs[i] = *defaults;
        msgs[i].payload = m.payload;
        msgs[i].priority = m.priority;
    }
    return count;
}

static void op_batch_enqueue(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_queue *q;
    if (!open_queue(c, r, false, &q)) {
        return;
    }
    struct dev_queue_new_msg defaults = {0};
    enqueue_defaults(r->env.opts, &defaults);
    if (defaults.dedup_key.len > 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "batch enqueue: dedup_key is not supported (one key cannot name several "
                        "messages); enqueue such messages one by one");
        return;
    }
    struct dev_queue_new_msg *msgs = malloc(BATCH_MAX * sizeof *msgs);
    uint64_t *seqs = malloc(BATCH_MAX * sizeof *seqs);
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (msgs == NULL || seqs == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
        goto out;
    }
    const char *msg = NULL;
    size_t n = parse_batch(r->env.value, &defaults, msgs, &msg);
    if (n == 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        goto out;
    }
    if (q == NULL && !open_queue(c, r, true, &q)) {
        goto out;
    }
    uint8_t st = dev_queue_enqueue(c->srv->queues, q, msgs, n, dev__now(c->srv), seqs, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        goto out;
    }
    int rc = flo_queue_batch_reply_put(&b, seqs, n);
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
out:
    flo_wbuf_free(&b);
    free(msgs);
    free(seqs);
    after_op(c->srv);
}

/* ---- dequeue, peek, dlq_list ---- */

static void op_dequeue(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_queue *q;
    if (!open_queue(c, r, false, &q)) {
        return;
    }
    struct dev_server *srv = c->srv;
    struct flo_queue_dequeue_args a;
    flo_queue_parse_dequeue_opts(r->env.opts, &a);
    uint32_t block_ms = a.block_ms > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : a.block_ms;
    uint32_t vis =
        a.visibility_timeout_ms != 0 ? a.visibility_timeout_ms : DEV_QUEUE_DEFAULT_VISIBILITY_MS;
    struct flo_queue_msg out[FLO_QUEUE_MAX_DEQUEUE];
    size_t n = dev_queue_dequeue(srv->queues, q, a.count, vis, MAX_OK_BODY, dev__now(srv), out);
    if (n > 0 || block_ms == 0) {
        reply_msgs(c, r->id, out, n);
        after_op(srv);
        return;
    }
    uint8_t key[DEV_QUEUE_MAX_NAME];
    size_t klen;
    const char *msg;
    (void)dev_queue_make_key(r->env.ns, r->env.key, key, &klen, &msg); /* validated above */
    uint8_t buf[1 + DEV_QUEUE_MAX_NAME];
    struct dev_waiter *w =
        dev__wait_add(c, wait_key(key, klen, buf), r->id, block_ms, dequeue_timeout_cb);
    if (w != NULL) {
        w->kind = (int)a.count;
        w->arg = vis;
    } else {
        /* Waiter pool full: the real server answers count=0 at once. */
        reply_empty_list(c, r->id);
    }
    after_op(srv);
}

/* count option for peek / dlq_list: default `def`, capped at DEV_QUEUE_MAX_LIST. */
static uint32_t list_count(flo_buf_t opts, uint32_t def)
{
    uint32_t n;
    if (!flo_opt_get_u32(opts, FLO_OPT_COUNT, &n) || n == 0) {
        n = def;
    }
    return n > DEV_QUEUE_MAX_LIST ? DEV_QUEUE_MAX_LIST : n;
}

static void list_reply(struct dev_conn *c, const struct dev_req *r, bool dlq)
{
    struct dev_queue *q;
    if (!open_queue(c, r, false, &q)) {
        return;
    }
    struct dev_server *srv = c->srv;
    uint32_t count = list_count(r->env.opts, dlq ? DLQ_DEFAULT_COUNT : 1);
    struct flo_queue_msg *out = malloc(count * sizeof *out);
    if (out == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
        return;
    }
    size_t n = dlq ? dev_queue_dlq_list(srv->queues, q, count, MAX_OK_BODY, dev__now(srv), out)
                   : dev_queue_peek(srv->queues, q, count, MAX_OK_BODY, dev__now(srv), out);
    reply_msgs(c, r->id, out, n);
    free(out);
    after_op(srv);
}

static void op_peek(struct dev_conn *c, const struct dev_req *r)
{
    list_reply(c, r, false);
}

static void op_dlq_list(struct dev_conn *c, const struct dev_req *r)
{
    list_reply(c, r, true);
}

/* ---- ack-like ops ---- */

static void seq_op(struct dev_conn *c, const struct dev_req *r, enum dev_queue_seq_op_e op)
{
    struct dev_queue *q;
    if (!open_queue(c, r, false, &q)) {
        return;
    }
    struct flo_queue_seqs seqs;
    if (flo_queue_parse_seqs(r->env.value, &seqs) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, DEV_QUEUE_MSG_SEQ_REQUIRED);
        return;
    }
    uint32_t vis = 0;
    if (op == DEV_QUEUE_TOUCH && !flo_opt_get_u32(r->env.opts, FLO_OPT_VISIBILITY_MS, &vis)) {
        vis = 0;
    }
    struct dev_server *srv = c->srv;
    int64_t until = 0;
    const char *msg;
    uint8_t st = dev_queue_apply(srv->queues, q, op, &seqs, vis, dev__now(srv), &until, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else if (op == DEV_QUEUE_TOUCH) {
        uint8_t body[8];
        flo_st64(body, (uint64_t)until);
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
    }
    after_op(srv);
}

static void op_complete(struct dev_conn *c, const struct dev_req *r)
{
    seq_op(c, r, DEV_QUEUE_ACK);
}

/* send_to_dlq (0x16) is a u8; a zero-length flag form is taken as "yes". */
static bool send_to_dlq(flo_buf_t opts)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, FLO_OPT_SEND_TO_DLQ, &d)) {
        return false;
    }
    return d.len == 0 || d.ptr[0] != 0;
}

static void op_fail(struct dev_conn *c, const struct dev_req *r)
{
    seq_op(c, r, send_to_dlq(r->env.opts) ? DEV_QUEUE_NACK_DLQ : DEV_QUEUE_NACK);
}

static void op_touch(struct dev_conn *c, const struct dev_req *r)
{
    seq_op(c, r, DEV_QUEUE_TOUCH);
}

static void op_dlq_requeue(struct dev_conn *c, const struct dev_req *r)
{
    seq_op(c, r, DEV_QUEUE_DLQ_REQUEUE);
}

static void op_dlq_delete(struct dev_conn *c, const struct dev_req *r)
{
    seq_op(c, r, DEV_QUEUE_DLQ_DELETE);
}

/* ---- stats, purge, list ---- */

static void op_stats(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    struct flo_queue_stats s;
    if (r->env.key.len == 0) {
        /* No queue named: the namespace's totals (a real server reports
         * its shard's, whatever the key). Still validate the namespace. */
        uint8_t key[DEV_QUEUE_MAX_NAME];
        size_t klen;
        const char *msg;
        uint8_t st = dev_queue_make_key(r->env.ns, FLO_BUF_STR("-"), key, &klen, &msg);
        if (st != FLO_STATUS_OK) {
            dev__reply_text(c, r->id, st, msg);
            return;
        }
        dev_queue_stats_ns(srv->queues, r->env.ns, dev__now(srv), &s);
    } else {
        struct dev_queue *q;
        if (!open_queue(c, r, false, &q)) {
            return;
        }
        dev_queue_stats(srv->queues, q, dev__now(srv), &s);
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (flo_queue_stats_put(&b, &s) != 0 || b.len != STATS_BODY) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
    after_op(srv);
}

static void op_purge(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_queue *q;
    if (!open_queue(c, r, false, &q)) {
        return;
    }
    uint32_t removed = 0;
    dev_queue_purge(c->srv->queues, q, dev__now(c->srv), &removed);
    uint8_t body[4];
    flo_st32(body, removed);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    after_op(c->srv);
}

struct list_ctx {
    struct flo_wbuf *b; /* reply body */
    uint32_t count;     /* entries written */
    bool has_more;      /* stopped at the body bound */
    int rc;             /* first encoder error */
};

static bool list_fn(const struct flo_queue_info *info, void *ud)
{
    struct list_ctx *x = ud;
    size_t entry = 4 + info->name.len + 4 + info->ns.len + 5 * 8;
    if (x->b->len + entry + 3 > MAX_OK_BODY) {
        x->has_more = true;
        return false;
    }
    x->rc = flo_queue_info_put(x->b, info);
    if (x->rc != 0) {
        return false;
    }
    x->count++;
    return true;
}

static void op_list(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    uint8_t key[DEV_QUEUE_MAX_NAME];
    size_t klen;
    const char *msg;
    /* Validate the namespace with a placeholder name. */
    uint8_t st = dev_queue_make_key(r->env.ns, FLO_BUF_STR("-"), key, &klen, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    size_t pos;
    struct list_ctx x = {.b = &b};
    x.rc = flo_ops_count_reserve(&b, &pos);
    if (x.rc == 0) {
        dev_queue_each(srv->queues, r->env.ns, dev__now(srv), list_fn, &x);
    }
    if (x.rc == 0) {
        flo_ops_count_patch(&b, pos, x.count);
        /* [has_more u8][cursor_len u16 = 0]: no cursor, see docs/flo-dev.md */
        x.rc = flo_wbuf_u8(&b, x.has_more ? 1 : 0);
        if (x.rc == 0) {
            x.rc = flo_wbuf_u16(&b, 0);
        }
    }
    if (x.rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
    after_op(srv);
}

/* ---- registration, lifetime ---- */

void dev__queue_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_QUEUE_ENQUEUE] = op_enqueue;
    ops[FLO_OP_QUEUE_DEQUEUE] = op_dequeue;
    ops[FLO_OP_QUEUE_COMPLETE] = op_complete;
    ops[FLO_OP_QUEUE_EXTEND_LEASE] = op_touch;
    ops[FLO_OP_QUEUE_FAIL] = op_fail;
    ops[FLO_OP_QUEUE_DLQ_LIST] = op_dlq_list;
    ops[FLO_OP_QUEUE_DLQ_DELETE] = op_dlq_delete;
    ops[FLO_OP_QUEUE_DLQ_REQUEUE] = op_dlq_requeue;
    ops[FLO_OP_QUEUE_STATS] = op_stats;
    ops[FLO_OP_QUEUE_PEEK] = op_peek;
    ops[FLO_OP_QUEUE_TOUCH] = op_touch;
    ops[FLO_OP_QUEUE_BATCH_ENQUEUE] = op_batch_enqueue;
    ops[FLO_OP_QUEUE_PURGE] = op_purge;
    ops[FLO_OP_QUEUE_LIST] = op_list;
}

void dev__queue_init(struct dev_server *srv)
{
    uv_timer_init(srv->loop, &srv->queue_timer); /* cannot fail for a timer */
    srv->queue_timer.data = srv;
    srv->queue_timer_due = UINT64_MAX;
    srv->handles_open++;
}

static void timer_closed_cb(uv_handle_t *h)
{
    dev__server_handle_closed(h->data);
}

void dev__queue_close(struct dev_server *srv)
{
    uv_timer_stop(&srv->queue_timer);
    uv_close((uv_handle_t *)&srv->queue_timer, timer_closed_cb);
}
