/*
 * The /v1/queues routes that move messages in and out: list queues, stats,
 * enqueue (raw body, one JSON message, or a JSON array as a batch), purge,
 * dequeue (with block_ms long-polls on the pool's blocking lane), peek and
 * the dead-letter listing. Acks and the other per-sequence routes are in
 * http_queue_seq.c. Rules and examples: docs/http-api.md, "Queues".
 *
 * Batch enqueue. flo-dev has a batch op (0x17E) that carries a priority per
 * message but one delay and retry limit for all and no dedup key; a real
 * Flo server lacks it. An array body is therefore sent as batch chunks
 * (each within the 256 KiB Flo frame limit) while the messages allow it,
 * and one enqueue at a time otherwise or as soon as the upstream answers
 * "not supported". Chunks and single enqueues go strictly one after the
 * other, so sequences follow the array's order either way, and the reply
 * lists one sequence per message.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_internal.h"
#include "http_json.h"
#include "http_queue_body.h"

#define PEEK_DEFAULT_COUNT  10u
#define DLQ_DEFAULT_COUNT   100u
#define LIST_MAX_COUNT      1000u /* flo-dev's peek / dlq_list cap */
#define FRAME_ENVELOPE      10u   /* ns u16 + key u16 + value u32 + opts u16 */
#define HTTP_STATUS_NOT_SUP 501

/* Per-request state of the queue routes (r->ext), from prepare on. */
struct hq_state {
    struct http_queue_msg defaults; /* enqueue: the query's message options */
    struct flo_wbuf dedup;          /* enqueue: ?dedup_key= */
    uint32_t count;                 /* dequeue / peek / dlq: messages asked for */
    uint32_t block_ms;              /* dequeue: long-poll time (0 = none) */
    uint32_t visibility_ms;         /* dequeue: lease length */
    struct http_queue_batch batch;  /* enqueue: the messages */
    uint64_t *seqs;                 /* enqueue: sequence per message */
    size_t next;                    /* enqueue: first message not yet sent */
    size_t in_flight;               /* enqueue: messages of the call in flight */
    bool single;                    /* enqueue: upstream lacks batch: one by one */
    struct flo_wbuf val;            /* value of the call in flight */
};

static void hq_release(struct http_req *r)
{
    struct hq_state *s = r->ext;
    if (s != NULL) {
        flo_wbuf_free(&s->dedup);
        flo_wbuf_free(&s->val);
        http_queue_batch_free(&s->batch);
        free(s->seqs);
        free(s);
    }
}

/* Allocate the route state; replies 503 and returns NULL on failure. */
static struct hq_state *hq_state(struct http_req *r)
{
    struct hq_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return NULL;
    }
    flo_wbuf_init(&s->dedup);
    flo_wbuf_init(&s->val);
    http_queue_batch_init(&s->batch);
    r->ext = s;
    r->ext_release = hq_release;
    return s;
}

/* Wall-clock Unix milliseconds (lease deadlines are reported in them). */
static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "queue": name under the payload rule. */
static void json_queue_name(struct http_json *j, struct http_req *r)
{
    http_json_payload(j, "queue", "queue_encoding", flo_wbuf_view(&r->target.key));
}

/* A Flo request on the queue named in the path. */
static struct flo_req queue_req(struct http_req *r, uint16_t op)
{
    return (struct flo_req){
        .op = op,
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
        .opts = flo_wbuf_view(&r->opts),
    };
}

/* ---- GET /v1/queues ---- */

static void list_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_queue_list_iter it;
    struct flo_queue_info q;
    uint32_t count;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_queue_list_begin(body, &it, &count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    uint64_t n = 0;
    http_json_start(&j, &b);
    http_json_array_begin(&j, "queues");
    while ((rc = flo_queue_list_next(&it, &q)) == 1) {
        http_json_elem_begin(&j);
        http_json_payload(&j, "name", "name_encoding", q.name);
        http_json_u64(&j, "pending", q.pending);
        http_json_u64(&j, "available", q.available);
        http_json_u64(&j, "enqueued", q.enqueued);
        http_json_u64(&j, "dequeued", q.dequeued);
        http_json_u64(&j, "dlq", q.dlq);
        http_json_end(&j);
        n++;
    }
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    http_reply_list_end(r, &b, &j, n, flo_cur_rest(&it.cur));
}

static void list_prepare(struct http_req *r)
{
    (void)http_parse_query_or_reply(r, NULL, 0, "GET /v1/queues");
}

static void list_start(struct http_req *r)
{
    struct flo_req req = {.op = FLO_OP_QUEUE_LIST, .ns = r->ns};
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, list_done);
}

const struct http_route_def http_queue_list_route = {
    .id = HTTP_ROUTE_QUEUES,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = list_prepare,
    .start = list_start,
};

/* ---- GET /v1/queues/{q} (stats) ---- */

static void stats_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_queue_stats st;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_queue_dec_stats(body, &st);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    json_queue_name(&j, r);
    http_json_u64(&j, "enqueued", st.enqueued);
    http_json_u64(&j, "dequeued", st.dequeued);
    http_json_u64(&j, "acked", st.acked);
    http_json_u64(&j, "nacked", st.nacked);
    http_json_u64(&j, "dlq_total", st.dlq_total);
    http_json_u64(&j, "leases_expired", st.leases_expired);
    http_json_u64(&j, "ready_now", st.ready_now);
    http_json_u64(&j, "leased_now", st.leased_now);
    http_json_u64(&j, "dlq_now", st.dlq_now);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void stats_prepare(struct http_req *r)
{
    (void)http_parse_query_or_reply(r, NULL, 0, "GET /v1/queues/{queue}");
}

static void stats_start(struct http_req *r)
{
    struct flo_req req = queue_req(r, FLO_OP_QUEUE_STATS);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, stats_done);
}

const struct http_route_def http_queue_stats_route = {
    .id = HTTP_ROUTE_QUEUE,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = stats_prepare,
    .start = stats_start,
};

/* ---- POST /v1/queues/{q}/messages (enqueue), DELETE (purge) ---- */

/* Answer with every sequence so far: {"seq": N} for one message sent as a
 * single object or raw body, {"seqs": [...], "count": n} for an array. On
 * error (e != NULL) the error body also lists what was enqueued before it,
 * so a client can tell exactly which messages are in the queue. */
static void enqueue_reply(struct http_req *r, const struct proto_err *e)
{
    struct hq_state *s = r->ext;
    struct flo_wbuf b;
    struct http_json j;
    if (e != NULL && s->next == 0) {
        http_reply_error(r, e);
        return;
    }
    http_json_start(&j, &b);
    if (e != NULL) {
        http_json_cstr(&j, "error", e->message);
        http_json_cstr(&j, "code", e->code ? e->code : "error");
        http_json_u64(&j, "enqueued", s->next);
    }
    if (!s->batch.is_array) {
        http_json_u64(&j, "seq", s->seqs[0]);
    } else {
        http_json_array_begin(&j, "seqs");
        for (size_t i = 0; i < s->next; i++) {
            http_json_elem_u64(&j, s->seqs[i]);
        }
        http_json_array_end(&j);
        http_json_u64(&j, "count", s->next);
    }
    http_json_end(&j);
    http_reply_built(r, e != NULL ? (unsigned)e->http_status : MHD_HTTP_OK, &b, &j);
}

static void enqueue_next(struct http_req *r);

static void enqueue_fail_status(struct http_req *r, uint8_t status, flo_buf_t body)
{
    struct proto_err e;
    proto_err_from_status(&e, status, body);
    enqueue_reply(r, &e);
}

static void enqueue_fail_code(struct http_req *r, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    enqueue_reply(r, &e);
}

static void batch_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hq_state *s = r->ext;
    if (err < 0) {
        enqueue_fail_code(r, err);
        return;
    }
    if (status != FLO_STATUS_OK) {
        struct proto_err e;
        proto_err_from_status(&e, status, body);
        if (e.http_status == HTTP_STATUS_NOT_SUP) {
            /* A real Flo server: the batch was refused as a whole, nothing
             * of it was enqueued; go on one message at a time. */
            s->single = true;
            enqueue_next(r);
            return;
        }
        enqueue_reply(r, &e);
        return;
    }
    int rc = http_queue_dec_batch(body, s->in_flight, s->seqs + s->next);
    if (rc < 0) {
        enqueue_fail_code(r, rc);
        return;
    }
    s->next += s->in_flight;
    enqueue_next(r);
}

static void single_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hq_state *s = r->ext;
    if (err < 0) {
        enqueue_fail_code(r, err);
        return;
    }
    if (status != FLO_STATUS_OK) {
        enqueue_fail_status(r, status, body);
        return;
    }
    int rc = flo_queue_dec_enqueue(body, &s->seqs[s->next]);
    if (rc < 0) {
        enqueue_fail_code(r, rc);
        return;
    }
    s->next++;
    enqueue_next(r);
}

/* Send the next chunk (batch op) or message (single enqueue), or reply
 * when every message is in. */
static void enqueue_next(struct http_req *r)
{
    struct hq_state *s = r->ext;
    struct flo_queue_enqueue_args args;
    flo_buf_t payload;
    int rc;

    if (s->next == s->batch.n) {
        enqueue_reply(r, NULL);
        return;
    }
    flo_wbuf_reset(&r->opts);
    flo_wbuf_reset(&s->val);
    http_queue_msg_view(&s->batch, s->next, &payload, &args);
    struct flo_req req = queue_req(r, FLO_OP_QUEUE_ENQUEUE);
    http_done_cb done = single_done;
    if (!s->single && http_queue_batchable(&s->batch, s->next, 2)) {
        /* Priorities travel in the value; delay and retries as options. */
        args.has_priority = false;
        rc = flo_queue_enqueue_opts(&r->opts, &args);
        size_t fixed =
            FLO_HEADER_SIZE + FRAME_ENVELOPE + r->ns.len + r->target.key.len + r->opts.len;
        if (rc == 0) {
            rc = http_queue_batch_value(&s->val, &s->batch, s->next,
                                        FLO_MAX_PROCESSED_FRAME - fixed, &s->in_flight);
        }
        req.op = FLO_OP_QUEUE_BATCH_ENQUEUE;
        req.value = flo_wbuf_view(&s->val);
        done = batch_done;
    } else {
        rc = flo_queue_enqueue_opts(&r->opts, &args);
        req.value = payload;
        s->in_flight = 1;
    }
    if (rc < 0) {
        enqueue_fail_code(r, rc);
        return;
    }
    req.opts = flo_wbuf_view(&r->opts);
    rc = http_req_send(r, &req, 0, 0, done);
    if (rc < 0) {
        enqueue_fail_code(r, rc);
    }
}

static void purge_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint32_t removed;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_queue_dec_purge(body, &removed);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    json_queue_name(&j, r);
    http_json_u64(&j, "removed", removed);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void messages_prepare(struct http_req *r)
{
    struct proto_err e;
    if (r->method == HTTP_M_DELETE) {
        (void)http_parse_query_or_reply(r, NULL, 0, "DELETE /v1/queues/{queue}/messages");
        return;
    }
    struct hq_state *s = hq_state(r);
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "priority",
         .kind = HTTP_QP_U64,
         .max = UINT8_MAX,
         .what = "a whole number from 0 to 255 (lower is delivered first)"},
        {.name = "delay_ms",
         .kind = HTTP_QP_U64,
         .max = HTTP_QUEUE_MAX_DELAY_MS,
         .what = "a whole number of milliseconds, at most 2592000000 (30 days)"},
        {.name = "dedup_key",
         .kind = HTTP_QP_BYTES,
         .max = HTTP_QUEUE_MAX_DEDUP_KEY,
         .what = "a deduplication key of 1 to 255 bytes",
         .bytes = &s->dedup},
        {.name = "max_retries",
         .kind = HTTP_QP_U64,
         .max = UINT8_MAX,
         .what = "a whole number of deliveries from 0 to 255"},
    };
    if (http_parse_query_or_reply(r, p, 4, "POST /v1/queues/{queue}/messages") < 0) {
        return;
    }
    if (p[2].seen && s->dedup.len == 0) {
        proto_err_bad_request(&e, "query parameter dedup_key must not be empty");
        http_reply_error(r, &e);
        return;
    }
    s->defaults.has_priority = p[0].seen;
    s->defaults.priority = (uint8_t)p[0].u;
    s->defaults.delay_ms = p[1].u;
    s->defaults.has_max_retries = p[3].seen;
    s->defaults.max_retries = (uint8_t)p[3].u;
}

static void messages_start(struct http_req *r)
{
    struct hq_state *s = r->ext;
    struct proto_err e;

    if (r->method == HTTP_M_DELETE) {
        struct flo_req req = queue_req(r, FLO_OP_QUEUE_PURGE);
        http_send_or_reply(r, &req, 0, 0, purge_done);
        return;
    }
    flo_buf_t body = flo_wbuf_view(&r->body);
    flo_buf_t dedup = flo_wbuf_view(&s->dedup);
    int rc;
    if (http_queue_is_json(http_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        rc = http_queue_parse_enqueue(body, &s->defaults, dedup, &s->batch, &e);
    } else {
        rc = proto_check_value(r->srv->ctx, body.len, &e);
        if (rc == 0) {
            rc = http_queue_batch_add_raw(&s->batch, body, &s->defaults, dedup, &e);
        }
    }
    if (rc < 0) {
        http_reply_error(r, &e);
        return;
    }
    s->seqs = calloc(s->batch.n, sizeof(*s->seqs));
    if (s->seqs == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    enqueue_next(r);
}

const struct http_route_def http_queue_messages_route = {
    .id = HTTP_ROUTE_QUEUE_MESSAGES,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "POST, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = messages_prepare,
    .start = messages_start,
};

/* ---- POST /v1/queues/{q}/dequeue, GET .../peek, GET .../dlq ---- */

/* Reply {"queue", "messages", "count"} for a message list. lease: the
 * visibility of a dequeue (0 for peek and the DLQ: nothing is leased). */
static void msgs_reply(struct http_req *r, flo_buf_t body, uint32_t lease_ms)
{
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    json_queue_name(&j, r);
    int rc = http_queue_msgs_json(&j, body, lease_ms ? unix_ms() + lease_ms : 0);
    http_json_end(&j);
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void dequeue_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hq_state *s = r->ext;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    /* A long-poll that timed out is an empty list, answered 200 like any
     * other dequeue that found nothing. */
    msgs_reply(r, body, s->visibility_ms);
}

static void peek_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    msgs_reply(r, body, 0);
}

static void dlq_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct proto_err e;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    if (http_queue_dlq_summary_err(body, &e)) {
        http_reply_error(r, &e);
        return;
    }
    msgs_reply(r, body, 0);
}

static void dequeue_prepare(struct http_req *r)
{
    struct proto_err e;
    struct hq_state *s = hq_state(r);
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "count",
         .kind = HTTP_QP_U64,
         .max = FLO_QUEUE_MAX_DEQUEUE,
         .what = "a whole number of messages from 1 to 100 (Flo's limit per dequeue)"},
        {.name = "block_ms",
         .kind = HTTP_QP_U64,
         .max = UINT64_MAX,
         .what = "a whole number of milliseconds (0..300000; larger values are clamped)"},
        {.name = "visibility_timeout_ms",
         .kind = HTTP_QP_U64,
         .max = HTTP_QUEUE_MAX_VISIBILITY_MS,
         .what = "a lease length in milliseconds from 1 to 43200000 (12 h)"},
    };
    if (http_parse_query_or_reply(r, p, 3, "POST /v1/queues/{queue}/dequeue") < 0) {
        return;
    }
    if ((p[0].seen && p[0].u == 0) || (p[2].seen && p[2].u == 0)) {
        proto_err_bad_request(&e, "query parameter %s must be at least 1",
                              p[0].seen && p[0].u == 0 ? "count" : "visibility_timeout_ms");
        http_reply_error(r, &e);
        return;
    }
    s->count = p[0].seen ? (uint32_t)p[0].u : 1;
    s->block_ms = p[1].u > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : (uint32_t)p[1].u;
    s->visibility_ms = p[2].seen ? (uint32_t)p[2].u : HTTP_QUEUE_DEFAULT_VISIBILITY_MS;
}

static void dequeue_start(struct http_req *r)
{
    struct hq_state *s = r->ext;
    /* The lease length is always sent, so the deadline reported is the
     * one Flo applies (a server that ignores it consumes on dequeue). */
    struct flo_queue_dequeue_args a = {
        .count = s->count,
        .visibility_timeout_ms = s->visibility_ms,
        .block_ms = s->block_ms,
    };
    int rc = flo_queue_dequeue_opts(&r->opts, &a);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_req req = queue_req(r, FLO_OP_QUEUE_DEQUEUE);
    /* Never retried: a dequeue leases, a replay would lease twice. */
    unsigned flags = s->block_ms > 0 ? FLO_SEND_BLOCKING : 0;
    http_send_or_reply(r, &req, proto_timeout_for_block(s->block_ms), flags, dequeue_done);
}

const struct http_route_def http_queue_dequeue_route = {
    .id = HTTP_ROUTE_QUEUE_DEQUEUE,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .prepare = dequeue_prepare,
    .start = dequeue_start,
};

/* ?count for peek and the DLQ listing. */
static void list_msgs_prepare(struct http_req *r, const char *route, uint32_t def)
{
    struct proto_err e;
    struct hq_state *s = hq_state(r);
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "count",
         .kind = HTTP_QP_U64,
         .max = LIST_MAX_COUNT,
         .what = "a whole number of messages from 1 to 1000"},
    };
    if (http_parse_query_or_reply(r, p, 1, route) < 0) {
        return;
    }
    if (p[0].seen && p[0].u == 0) {
        proto_err_bad_request(&e, "query parameter count must be at least 1");
        http_reply_error(r, &e);
        return;
    }
    s->count = p[0].seen ? (uint32_t)p[0].u : def;
}

static void list_msgs_start(struct http_req *r, uint16_t op, http_done_cb done)
{
    struct hq_state *s = r->ext;
    int rc = flo_opt_u32(&r->opts, FLO_OPT_COUNT, s->count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_req req = queue_req(r, op);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, done);
}

static void peek_prepare(struct http_req *r)
{
    list_msgs_prepare(r, "GET /v1/queues/{queue}/peek", PEEK_DEFAULT_COUNT);
}

static void peek_start(struct http_req *r)
{
    list_msgs_start(r, FLO_OP_QUEUE_PEEK, peek_done);
}

static void dlq_prepare(struct http_req *r)
{
    list_msgs_prepare(r, "GET /v1/queues/{queue}/dlq", DLQ_DEFAULT_COUNT);
}

static void dlq_start(struct http_req *r)
{
    list_msgs_start(r, FLO_OP_QUEUE_DLQ_LIST, dlq_done);
}

const struct http_route_def http_queue_peek_route = {
    .id = HTTP_ROUTE_QUEUE_PEEK,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = peek_prepare,
    .start = peek_start,
};

const struct http_route_def http_queue_dlq_route = {
    .id = HTTP_ROUTE_QUEUE_DLQ,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = dlq_prepare,
    .start = dlq_start,
};
