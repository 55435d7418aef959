/*
 * FLO.Q* commands: Flo queues with their full at-least-once model, for
 * clients that need what the Redis list commands hide (leases, ack/nack,
 * priorities, delays, dedup, the DLQ). docs/resp-commands.md, "FLO.Q*".
 *
 *   FLO.QPUSH key payload [PRIORITY p] [DELAY ms] [DEDUP id] [MAXRETRIES n]  -> seq
 *   FLO.QBATCH key payload [payload ...]                 -> [seq, ...]
 *   FLO.QDEQUEUE key [COUNT n] [BLOCK ms] [VISIBILITY ms] -> [message, ...]
 *   FLO.QACK key seq [seq ...]                            -> n
 *   FLO.QNACK key [DLQ] seq [seq ...]                     -> n
 *   FLO.QTOUCH key seq [seq ...] [VISIBILITY ms]          -> [lease_deadline_ms, ...]
 *   FLO.QPEEK key [COUNT n]  /  FLO.QDLQ key [COUNT n]    -> [message, ...]
 *   FLO.QREQUEUE key seq [seq ...] / FLO.QDLQDEL key seq [seq ...] -> n
 *   FLO.QSTATS key -> map       FLO.QPURGE key -> removed
 *
 * A message is a map (RESP3) or a flat key/value array (RESP2) of seq,
 * payload, attempts, priority, enqueued_at_ms and, for a dequeue,
 * lease_deadline_ms (the sidecar's clock when the reply arrived plus the
 * lease, so at most one round trip later than Flo's own deadline).
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "resp_queue.h"

#define ERR_SYNTAX "ERR syntax error"

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void reply_err_done(struct resp_pending *p, const char *msg)
{
    resp_reply_error(&p->reply, msg);
    done(p);
}

/* Scratch options owned by the command (p->state). */
struct fq_state {
    struct flo_wbuf opts;
    uint32_t visibility_ms; /* FLO.QDEQUEUE: the lease asked for */
    bool dlq;               /* FLO.QDLQ: the reply may be a real server's summary */
};

static void fq_state_free(void *state)
{
    struct fq_state *s = state;
    if (s) {
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static struct fq_state *fq_state_new(struct resp_pending *p)
{
    struct fq_state *s = calloc(1, sizeof(*s));
    if (!s) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return NULL;
    }
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = fq_state_free;
    return s;
}

static void send_one(struct resp_pending *p, resp_step_cb step, uint16_t op, flo_buf_t opts,
                     unsigned flags, uint32_t timeout_ms)
{
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = step;
        err = resp__send_ex(p, 0, op, p->args.argv[1], FLO_BUF_NULL, opts, flags, timeout_ms);
    }
    if (err < 0) {
        resp__q_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_sealed(p);
}

/* A numeric option value in [min, max]; false after replying. */
static bool opt_num(struct resp_pending *p, size_t i, const char *name, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    if (i >= p->args.argc) {
        reply_err_done(p, ERR_SYNTAX);
        return false;
    }
    if (!resp__q_arg_u64(p->args.argv[i], min, max, out)) {
        resp_reply_errorf(&p->reply, "ERR %s must be an integer from %llu to %llu", name,
                          (unsigned long long)min, (unsigned long long)max);
        done(p);
        return false;
    }
    return true;
}

/* ---- FLO.QPUSH / FLO.QBATCH ---- */

static void qpush_done(struct resp_pending *p, const uint64_t *seqs, size_t n)
{
    (void)n;
    resp_reply_int(&p->reply, (int64_t)seqs[0]);
    done(p);
}

static void qbatch_done(struct resp_pending *p, const uint64_t *seqs, size_t n)
{
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n; i++) {
        resp_reply_int(&p->reply, (int64_t)seqs[i]);
    }
    done(p);
}

static bool payloads_ok(struct resp_pending *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        struct proto_err e;
        if (proto_check_value(p->c->srv->ctx, p->args.argv[i].len, &e) < 0) {
            resp__reply_proto_err(p, &e);
            done(p);
            return false;
        }
    }
    return true;
}

static void cmd_qpush(struct resp_pending *p)
{
    const flo_buf_t *a = p->args.argv;
    struct flo_queue_enqueue_args ea = {0};
    bool seen_delay = false;
    for (size_t i = 3; i < p->args.argc; i += 2) {
        uint64_t v;
        if (resp__arg_is(a[i], "priority") && !ea.has_priority) {
            if (!opt_num(p, i + 1, "PRIORITY", 0, 255, &v)) {
                return;
            }
            ea.has_priority = true;
            ea.priority = (uint8_t)v;
        } else if (resp__arg_is(a[i], "delay") && !seen_delay) {
            if (!opt_num(p, i + 1, "DELAY", 0, RESP_QUEUE_MAX_DELAY_MS, &v)) {
                return;
            }
            seen_delay = true;
            ea.delay_ms = v;
        } else if (resp__arg_is(a[i], "dedup") && ea.dedup_key.len == 0) {
            if (i + 1 >= p->args.argc) {
                reply_err_done(p, ERR_SYNTAX);
                return;
            }
            if (a[i + 1].len == 0 || a[i + 1].len > 255) {
                reply_err_done(p, "ERR DEDUP id must be 1 to 255 bytes");
                return;
            }
            ea.dedup_key = a[i + 1];
        } else if (resp__arg_is(a[i], "maxretries") && !ea.has_max_retries) {
            if (!opt_num(p, i + 1, "MAXRETRIES", 0, 255, &v)) {
                return;
            }
            ea.has_max_retries = true;
            ea.max_retries = (uint8_t)v;
        } else {
            reply_err_done(p, ERR_SYNTAX);
            return;
        }
    }
    if (!resp__q_name_ok(p, a[1]) || !payloads_ok(p, 2, 3)) {
        return;
    }
    struct flo_wbuf opts;
    flo_wbuf_init(&opts);
    if (flo_queue_enqueue_opts(&opts, &ea) < 0) {
        flo_wbuf_free(&opts);
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    resp__q_push(p, 2, 1, flo_wbuf_view(&opts), qpush_done); /* copies the options */
    flo_wbuf_free(&opts);
}

static void cmd_qbatch(struct resp_pending *p)
{
    if (p->args.argc - 2 > FLO_QUEUE_MAX_BATCH) {
        resp_reply_errorf(&p->reply, "ERR too many messages: at most %u per FLO.QBATCH",
                          FLO_QUEUE_MAX_BATCH);
        done(p);
        return;
    }
    if (!resp__q_name_ok(p, p->args.argv[1]) || !payloads_ok(p, 2, p->args.argc)) {
        return;
    }
    resp__q_push(p, 2, p->args.argc - 2, FLO_BUF_NULL, qbatch_done);
}

/* ---- FLO.QDEQUEUE / FLO.QPEEK / FLO.QDLQ ---- */

static void msgs_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct fq_state *s = p->state;
    uint64_t total;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if (s->dlq && flo_queue_dec_dlq_summary(body, &total) == 0) {
        /* A real Flo server lists no DLQ messages, only their number. */
        if (total == 0) {
            resp_reply_array(&p->reply, 0);
        } else {
            resp_reply_errorf(&p->reply,
                              "ERR listing DLQ messages is not supported by the upstream Flo "
                              "server (it reports %llu dead messages in total)",
                              (unsigned long long)total);
        }
    } else {
        int64_t deadline = -1;
        if (s->visibility_ms) {
            deadline = (int64_t)(resp__now_unix_ms() + s->visibility_ms);
        }
        if ((err = resp__q_reply_msgs(p, body, deadline)) < 0) {
            flo_wbuf_reset(&p->reply);
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
        }
    }
    done(p);
}

/* Parse [COUNT n] [BLOCK ms] [VISIBILITY ms] (only those in `allowed`). */
enum { OPT_COUNT = 1, OPT_BLOCK = 2, OPT_VISIBILITY = 4 };

static bool parse_read_opts(struct resp_pending *p, unsigned allowed, uint64_t count_max,
                            uint64_t *count, uint64_t *block, uint64_t *vis)
{
    const flo_buf_t *a = p->args.argv;
    unsigned seen = 0;
    for (size_t i = 2; i < p->args.argc; i += 2) {
        if ((allowed & OPT_COUNT) && !(seen & OPT_COUNT) && resp__arg_is(a[i], "count")) {
            seen |= OPT_COUNT;
            if (!opt_num(p, i + 1, "COUNT", 1, count_max, count)) {
                return false;
            }
        } else if ((allowed & OPT_BLOCK) && !(seen & OPT_BLOCK) && resp__arg_is(a[i], "block")) {
            seen |= OPT_BLOCK;
            if (!opt_num(p, i + 1, "BLOCK", 0, FLO_MAX_BLOCK_MS, block)) {
                return false;
            }
        } else if ((allowed & OPT_VISIBILITY) && !(seen & OPT_VISIBILITY) &&
                   resp__arg_is(a[i], "visibility")) {
            seen |= OPT_VISIBILITY;
            if (!opt_num(p, i + 1, "VISIBILITY", 1, RESP_QUEUE_MAX_LEASE_MS, vis)) {
                return false;
            }
        } else {
            reply_err_done(p, ERR_SYNTAX);
            return false;
        }
    }
    return resp__q_name_ok(p, a[1]);
}

static void cmd_qdequeue(struct resp_pending *p)
{
    uint64_t count = 1, block = 0, vis = RESP_QUEUE_DEFAULT_LEASE_MS;
    if (!parse_read_opts(p, OPT_COUNT | OPT_BLOCK | OPT_VISIBILITY, FLO_QUEUE_MAX_DEQUEUE, &count,
                         &block, &vis)) {
        return;
    }
    struct fq_state *s = fq_state_new(p);
    if (!s) {
        return;
    }
    /* The lease is always sent so that the reported deadline is the one
     * applied. */
    s->visibility_ms = (uint32_t)vis;
    struct flo_queue_dequeue_args da = {
        .count = (uint32_t)count,
        .visibility_timeout_ms = (uint32_t)vis,
        .block_ms = (uint32_t)block,
    };
    if (flo_queue_dequeue_opts(&s->opts, &da) < 0) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    /* Never FLO_SEND_IDEMPOTENT: a replayed dequeue would lease twice. */
    send_one(p, msgs_step, FLO_OP_QUEUE_DEQUEUE, flo_wbuf_view(&s->opts),
             block ? FLO_SEND_BLOCKING : 0, proto_timeout_for_block((uint32_t)block));
}

static void list_cmd(struct resp_pending *p, uint16_t op, uint64_t def)
{
    uint64_t count = def, block = 0, vis = 0;
    if (!parse_read_opts(p, OPT_COUNT, RESP_QUEUE_PEEK_MAX, &count, &block, &vis)) {
        return;
    }
    struct fq_state *s = fq_state_new(p);
    if (!s) {
        return;
    }
    s->dlq = op == FLO_OP_QUEUE_DLQ_LIST;
    if (flo_opt_u32(&s->opts, FLO_OPT_COUNT, (uint32_t)count) < 0) {
        resp__q_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    send_one(p, msgs_step, op, flo_wbuf_view(&s->opts), FLO_SEND_IDEMPOTENT, 0);
}

static void cmd_qpeek(struct resp_pending *p)
{
    list_cmd(p, FLO_OP_QUEUE_PEEK, RESP_QUEUE_PEEK_DEFAULT);
}

static void cmd_qdlq(struct resp_pending *p)
{
    list_cmd(p, FLO_OP_QUEUE_DLQ_LIST, RESP_QUEUE_DLQ_DEFAULT);
}

/* ---- sequence commands ---- */

/* Check argv[first .. first+n-1] are sequences; false after replying. */
static bool seqs_ok(struct resp_pending *p, size_t first, size_t n)
{
    if (n == 0) {
        resp_reply_errorf(&p->reply, "ERR wrong number of arguments for '%s' command",
                          p->cmd->name);
        done(p);
        return false;
    }
    if (n > RESP_QUEUE_MAX_SEQS) {
        resp_reply_errorf(&p->reply, "ERR too many sequences: at most %u per command",
                          RESP_QUEUE_MAX_SEQS);
        done(p);
        return false;
    }
    for (size_t i = first; i < first + n; i++) {
        uint64_t v;
        if (!resp__q_arg_u64(p->args.argv[i], 1, UINT64_MAX, &v)) {
            resp_reply_errorf(&p->reply, "ERR invalid sequence '%.64s': a whole number >= 1",
                              (const char *)p->args.argv[i].ptr);
            done(p);
            return false;
        }
    }
    return resp__q_name_ok(p, p->args.argv[1]);
}

static void seq_cmd(struct resp_pending *p, enum resp_q_seqop_e op)
{
    size_t n = p->args.argc - 2;
    if (seqs_ok(p, 2, n)) {
        resp__q_seqop(p, op, 2, n, 0);
    }
}

static void cmd_qack(struct resp_pending *p)
{
    seq_cmd(p, RESP_Q_ACK);
}

static void cmd_qrequeue(struct resp_pending *p)
{
    seq_cmd(p, RESP_Q_DLQ_REQUEUE);
}

static void cmd_qdlqdel(struct resp_pending *p)
{
    seq_cmd(p, RESP_Q_DLQ_DELETE);
}

static void cmd_qnack(struct resp_pending *p)
{
    bool dlq = resp__arg_is(p->args.argv[2], "dlq");
    size_t first = dlq ? 3 : 2;
    size_t n = p->args.argc - first;
    if (seqs_ok(p, first, n)) {
        resp__q_seqop(p, dlq ? RESP_Q_NACK_DLQ : RESP_Q_NACK, first, n, 0);
    }
}

static void cmd_qtouch(struct resp_pending *p)
{
    size_t n = p->args.argc - 2;
    uint64_t vis = 0;
    if (n >= 2 && resp__arg_is(p->args.argv[p->args.argc - 2], "visibility")) {
        if (!opt_num(p, p->args.argc - 1, "VISIBILITY", 1, RESP_QUEUE_MAX_LEASE_MS, &vis)) {
            return;
        }
        n -= 2;
    }
    if (seqs_ok(p, 2, n)) {
        resp__q_seqop(p, RESP_Q_TOUCH, 2, n, (uint32_t)vis);
    }
}

/* ---- FLO.QSTATS / FLO.QPURGE ---- */

static void stats_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    struct flo_queue_stats st;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_queue_dec_stats(body, &st)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp__q_reply_stats(p, &st);
    }
    done(p);
}

static void cmd_qstats(struct resp_pending *p)
{
    if (resp__q_name_ok(p, p->args.argv[1])) {
        send_one(p, stats_step, FLO_OP_QUEUE_STATS, FLO_BUF_NULL, FLO_SEND_IDEMPOTENT, 0);
    }
}

static void purge_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    uint32_t removed;
    if (err || status != FLO_STATUS_OK) {
        resp__reply_upstream_err(p, err, status, body);
    } else if ((err = flo_queue_dec_purge(body, &removed)) < 0) {
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp_reply_int(&p->reply, removed);
    }
    done(p);
}

static void cmd_qpurge(struct resp_pending *p)
{
    if (resp__q_name_ok(p, p->args.argv[1])) {
        send_one(p, purge_step, FLO_OP_QUEUE_PURGE, FLO_BUF_NULL, 0, 0);
    }
}

#define FQ_GROUP "flo"

const struct resp_cmd resp__flo_queue_cmds[] = {
    {"flo.qpush", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Enqueues a message ([PRIORITY p] [DELAY ms] [DEDUP id] [MAXRETRIES n]); returns its "
     "sequence.",
     cmd_qpush, resp__blind_always},
    {"flo.qbatch", -3, RESP_CMD_WRITE, 1, 1, 1, FQ_GROUP,
     "Enqueues several messages in order; returns their sequences.", cmd_qbatch,
     resp__blind_always},
    {"flo.qdequeue", -2, RESP_CMD_WRITE | RESP_CMD_BARRIER | RESP_CMD_TIMEOUT_EMPTY, 1, 1, 1,
     FQ_GROUP, "Leases up to COUNT messages ([BLOCK ms] [VISIBILITY ms]); ack, nack or touch them.",
     cmd_qdequeue},
    {"flo.qack", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Acknowledges leased messages: they are gone for good.", cmd_qack, resp__blind_always},
    {"flo.qnack", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Gives leased messages back for redelivery, or to the DLQ with DLQ.", cmd_qnack,
     resp__blind_always},
    {"flo.qtouch", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Renews the leases of messages ([VISIBILITY ms]); returns the new deadlines.", cmd_qtouch,
     resp__blind_always},
    {"flo.qpeek", -2, RESP_CMD_READONLY, 1, 1, 1, FQ_GROUP,
     "Returns the next ready messages without leasing them.", cmd_qpeek},
    {"flo.qdlq", -2, RESP_CMD_READONLY, 1, 1, 1, FQ_GROUP,
     "Lists the dead-letter queue's messages.", cmd_qdlq},
    {"flo.qrequeue", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Moves dead messages back to ready.", cmd_qrequeue, resp__blind_always},
    {"flo.qdlqdel", -3, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Deletes dead messages for good.", cmd_qdlqdel, resp__blind_always},
    {"flo.qstats", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, FQ_GROUP,
     "Returns the queue's counters.", cmd_qstats},
    {"flo.qpurge", 2, RESP_CMD_WRITE, 1, 1, 1, FQ_GROUP,
     "Removes every ready, delayed and leased message (the DLQ stays); returns how many.",
     cmd_qpurge, resp__blind_always},
};
const size_t resp__flo_queue_ncmds = sizeof(resp__flo_queue_cmds) / sizeof(resp__flo_queue_cmds[0]);
