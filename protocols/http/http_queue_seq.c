/*
 * The /v1/queues/{q} routes that act on messages by sequence number: ack,
 * nack (back to ready, or to the DLQ), touch (extend the lease), and the
 * DLQ's requeue and delete. Body {"seqs": [...]} (http_queue_body.c).
 *
 * A real Flo server parses exactly one sequence per request, in ASCII
 * decimal (flo-protocol-ops.md §2.3), so each sequence is its own upstream
 * request. They are pipelined on one upstream connection (a bounded window
 * per HTTP request, so one large ack cannot fill the pool): Flo reads a
 * connection's frames in order, so the sequences are applied in the order
 * of the list (which decides, e.g., the DLQ's order), and the reply
 * reports the outcome of every sequence: 200 when all succeeded, otherwise
 * the status of the first failure, with the per-sequence results in the
 * body either way (the others were applied: nothing is rolled back).
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_internal.h"
#include "http_json.h"
#include "http_queue_body.h"

#define SEQ_WINDOW   64u /* upstream requests in flight per HTTP request */
#define TOUCH_REPLY  8u  /* [lease_until_ms i64] */
#define UNSENT_CODE  1   /* result.err before the request completes */
#define SEQ_TEXT_MAX 400 /* bytes of an error message kept per sequence */

struct seq_run;

/* One sequence's upstream request and outcome. */
struct seq_slot {
    struct seq_run *run;
    flo_call_t *call; /* in flight, NULL otherwise */
    int err;          /* libflo error, 0 once answered, UNSENT_CODE before */
    uint8_t status;   /* Flo status when err == 0 */
    int64_t until;    /* touch: the new lease deadline (Unix ms) */
    char *text;       /* error message (owned), NULL when fine */
};

/* State of one sequence-list request (r->ext). */
struct seq_run {
    struct http_req *r;
    enum http_queue_seq_op_e op;
    struct http_queue_seqs in;
    struct seq_slot *slots; /* in.n */
    size_t sent;            /* slots sent so far (in order) */
    size_t pending;         /* calls in flight */
    bool suspended;         /* the MHD connection waits for us */
    struct flo_wbuf val;    /* scratch: one sequence in ASCII */
    struct flo_wbuf opts;   /* the op's options, the same for every sequence */
    uint32_t affinity;      /* one upstream connection for the whole list */
};

/* Affinities handed to successive requests, spreading them over the
 * pool's connections. */
static uint32_t next_affinity;

static const struct {
    uint16_t op;
    bool idempotent; /* safe to replay if the connection dies */
    const char *route;
} ops[] = {
    [HTTP_QSEQ_ACK] = {FLO_OP_QUEUE_COMPLETE, true, "POST /v1/queues/{queue}/ack"},
    [HTTP_QSEQ_NACK] = {FLO_OP_QUEUE_FAIL, false, "POST /v1/queues/{queue}/nack"},
    [HTTP_QSEQ_TOUCH] = {FLO_OP_QUEUE_TOUCH, true, "POST /v1/queues/{queue}/touch"},
    [HTTP_QSEQ_DLQ_REQUEUE] = {FLO_OP_QUEUE_DLQ_REQUEUE, false,
                               "POST /v1/queues/{queue}/dlq/requeue"},
    [HTTP_QSEQ_DLQ_DELETE] = {FLO_OP_QUEUE_DLQ_DELETE, true, "POST /v1/queues/{queue}/dlq/delete"},
};

static void run_release(struct http_req *r)
{
    struct seq_run *s = r->ext;
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; s->slots != NULL && i < s->in.n; i++) {
        if (s->slots[i].call != NULL) {
            flo_pool_cancel(r->srv->ctx->pool, s->slots[i].call);
        }
        free(s->slots[i].text);
    }
    free(s->slots);
    http_queue_seqs_free(&s->in);
    flo_wbuf_free(&s->val);
    flo_wbuf_free(&s->opts);
    free(s);
}

/* The user-facing error of a failed slot. */
static void slot_err(const struct seq_slot *sl, struct proto_err *e)
{
    if (sl->err != 0) {
        proto_err_from_code(e, sl->err);
    } else {
        proto_err_from_status(e, sl->status, sl->text ? FLO_BUF_STR(sl->text) : FLO_BUF_NULL);
    }
}

static bool slot_ok(const struct seq_slot *sl)
{
    return sl->err == 0 && sl->status == FLO_STATUS_OK;
}

static void run_reply(struct seq_run *s)
{
    struct http_req *r = s->r;
    struct flo_wbuf b;
    struct http_json j;
    struct proto_err first, e;
    size_t ok = 0, failed = 0;

    http_json_start(&j, &b);
    for (size_t i = 0; i < s->in.n; i++) {
        if (!slot_ok(&s->slots[i]) && failed++ == 0) {
            slot_err(&s->slots[i], &first);
        }
    }
    if (failed > 0) {
        http_json_cstr(&j, "error", first.message);
        http_json_cstr(&j, "code", first.code ? first.code : "error");
    }
    http_json_payload(&j, "queue", "queue_encoding", flo_wbuf_view(&r->target.key));
    http_json_array_begin(&j, "results");
    for (size_t i = 0; i < s->in.n; i++) {
        const struct seq_slot *sl = &s->slots[i];
        http_json_elem_begin(&j);
        http_json_u64(&j, "seq", s->in.seqs[i]);
        http_json_bool(&j, "ok", slot_ok(sl));
        if (slot_ok(sl)) {
            ok++;
            if (s->op == HTTP_QSEQ_TOUCH && sl->until > 0) {
                http_json_i64(&j, "lease_deadline_ms", sl->until);
            }
        } else {
            slot_err(sl, &e);
            http_json_u64(&j, "status", (uint64_t)e.http_status);
            http_json_cstr(&j, "code", e.code ? e.code : "error");
            http_json_cstr(&j, "error", e.message);
        }
        http_json_end(&j);
    }
    http_json_array_end(&j);
    http_json_u64(&j, "succeeded", ok);
    http_json_u64(&j, "failed", failed);
    http_json_end(&j);
    if (j.err < 0) {
        http_reply_code(r, j.err);
    } else {
        http_reply_json(r, failed > 0 ? (unsigned)first.http_status : MHD_HTTP_OK, &b);
    }
    flo_wbuf_free(&b);
}

static void slot_cb(void *arg, int err, uint8_t status, flo_buf_t body);

/* Keep up to SEQ_WINDOW requests in flight; a request refused at once
 * (pool full, ...) is recorded as that sequence's outcome. */
static void pump(struct seq_run *s)
{
    struct http_req *r = s->r;
    while (s->sent < s->in.n && s->pending < SEQ_WINDOW) {
        struct seq_slot *sl = &s->slots[s->sent++];
        flo_wbuf_reset(&s->val);
        int rc = flo_queue_seq_value(&s->val, s->in.seqs[sl - s->slots]);
        if (rc == 0) {
            struct flo_req req = {
                .op = ops[s->op].op,
                .ns = r->ns,
                .key = flo_wbuf_view(&r->target.key),
                .value = flo_wbuf_view(&s->val),
                .opts = flo_wbuf_view(&s->opts),
            };
            rc = flo_pool_send_affine(r->srv->ctx->pool, s->affinity, &req, 0,
                                      ops[s->op].idempotent ? FLO_SEND_IDEMPOTENT : 0, slot_cb, sl,
                                      &sl->call);
        }
        if (rc < 0) {
            sl->call = NULL;
            sl->err = rc;
            continue;
        }
        s->pending++;
    }
}

static void slot_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct seq_slot *sl = arg;
    struct seq_run *s = sl->run;
    sl->call = NULL;
    sl->err = err;
    sl->status = status;
    if (err == 0 && status != FLO_STATUS_OK && body.len > 0) {
        /* Keep the server's text (bounded) for the per-sequence error. */
        size_t n = body.len < SEQ_TEXT_MAX ? body.len : SEQ_TEXT_MAX;
        sl->text = malloc(n + 1);
        if (sl->text != NULL) {
            memcpy(sl->text, body.ptr, n);
            sl->text[n] = '\0';
        }
    }
    if (err == 0 && status == FLO_STATUS_OK && s->op == HTTP_QSEQ_TOUCH &&
        body.len == TOUCH_REPLY) {
        sl->until = (int64_t)flo_ld64(body.ptr);
    }
    s->pending--;
    pump(s);
    if (s->pending == 0 && s->sent == s->in.n) {
        run_reply(s);
        http_req_resume(s->r);
    }
}

static void seq_prepare(struct http_req *r, enum http_queue_seq_op_e op)
{
    (void)http_parse_query_or_reply(r, NULL, 0, ops[op].route);
}

static void seq_start(struct http_req *r, enum http_queue_seq_op_e op)
{
    struct proto_err e;
    struct seq_run *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    s->r = r;
    s->op = op;
    s->affinity = next_affinity++;
    flo_wbuf_init(&s->val);
    flo_wbuf_init(&s->opts);
    r->ext = s;
    r->ext_release = run_release;
    if (http_queue_parse_seqs(flo_wbuf_view(&r->body), op, &s->in, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    s->slots = calloc(s->in.n, sizeof(*s->slots));
    if (s->slots == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    for (size_t i = 0; i < s->in.n; i++) {
        s->slots[i].run = s;
        s->slots[i].err = UNSENT_CODE;
    }
    int rc = 0;
    if (op == HTTP_QSEQ_NACK && s->in.to_dlq) {
        rc = flo_opt_u8(&s->opts, FLO_OPT_SEND_TO_DLQ, 1);
    } else if (op == HTTP_QSEQ_TOUCH && s->in.visibility_ms > 0) {
        rc = flo_opt_u32(&s->opts, FLO_OPT_VISIBILITY_MS, s->in.visibility_ms);
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    pump(s);
    if (s->pending == 0) {
        run_reply(s); /* every request was refused at once */
        return;
    }
    http_req_suspend(r);
}

#define SEQ_ROUTE(fn, opcode, rid)                                                                 \
    static void fn##_prepare(struct http_req *r)                                                   \
    {                                                                                              \
        seq_prepare(r, opcode);                                                                    \
    }                                                                                              \
    static void fn##_start(struct http_req *r)                                                     \
    {                                                                                              \
        seq_start(r, opcode);                                                                      \
    }                                                                                              \
    const struct http_route_def http_queue_##fn##_route = {                                        \
        .id = rid,                                                                                 \
        .methods = HTTP_METHOD_BIT(HTTP_M_POST),                                                   \
        .allow = "POST",                                                                           \
        .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),                                              \
        .prepare = fn##_prepare,                                                                   \
        .start = fn##_start,                                                                       \
    }

SEQ_ROUTE(ack, HTTP_QSEQ_ACK, HTTP_ROUTE_QUEUE_ACK);
SEQ_ROUTE(nack, HTTP_QSEQ_NACK, HTTP_ROUTE_QUEUE_NACK);
SEQ_ROUTE(touch, HTTP_QSEQ_TOUCH, HTTP_ROUTE_QUEUE_TOUCH);
SEQ_ROUTE(dlq_requeue, HTTP_QSEQ_DLQ_REQUEUE, HTTP_ROUTE_QUEUE_DLQ_REQUEUE);
SEQ_ROUTE(dlq_delete, HTTP_QSEQ_DLQ_DELETE, HTTP_ROUTE_QUEUE_DLQ_DELETE);
