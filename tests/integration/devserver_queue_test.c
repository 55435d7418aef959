/*
 * Integration tests of flo-dev's queues (shared/flo-protocol-ops.md §2 with
 * the documented model of §7) over real sockets against the flo-dev binary:
 * every queue vector of flo-protocol-vectors-ops.md (status and layout),
 * priority order and FIFO, delays, dedup, lease isolation and expiry, ack,
 * nack, retries into the DLQ, DLQ list/requeue/delete, peek, touch and
 * extend_lease, blocking dequeues released by other connections or timing
 * out, batch enqueue, purge, stats, queue_list, 1,000 messages from several
 * connections consumed exactly once, a disconnecting waiter, and bad input
 * with the exact texts. Every read has a socket timeout; every wait is
 * bounded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/codec_ops_vectors.h"
#include "dev_wire.h"
#include "flo/flo_ops.h"
#include "ts_bytes.h"

#define NS "default"

static void start_plain(void)
{
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0, "flo-dev did not start");
}

/* Stop flo-dev (a clean exit runs LeakSanitizer in a sanitizer build) and
 * require its log to be free of sanitizer reports. */
static void stop_dev(void)
{
    ts_stop(&dev.proc);
    FILE *f = fopen(dev.proc.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        cr_assert_null(strstr(line, "Sanitizer"), "flo-dev log: %s", line);
        cr_assert_null(strstr(line, "runtime error"), "flo-dev log: %s", line);
    }
    fclose(f);
}

TestSuite(devqueue, .init = start_plain, .fini = stop_dev, .timeout = 60);

/* ---- helpers ---- */

struct eopts {
    int priority; /* < 0: absent */
    uint64_t delay_ms;
    const char *dedup;
    int max_retries; /* < 0: absent */
};
#define EOPTS_NONE ((struct eopts){.priority = -1, .max_retries = -1})

static flo_buf_t enqueue_opts(struct flo_wbuf *o, struct eopts e)
{
    flo_wbuf_reset(o);
    struct flo_queue_enqueue_args a = {
        .has_priority = e.priority >= 0,
        .priority = (uint8_t)(e.priority >= 0 ? e.priority : 0),
        .delay_ms = e.delay_ms,
        .dedup_key = e.dedup != NULL ? FLO_BUF_STR(e.dedup) : FLO_BUF_NULL,
        .has_max_retries = e.max_retries >= 0,
        .max_retries = (uint8_t)(e.max_retries >= 0 ? e.max_retries : 0),
    };
    cr_assert_eq(flo_queue_enqueue_opts(o, &a), 0);
    return flo_wbuf_view(o);
}

static uint64_t enqueue(int fd, const char *q, const char *payload, struct eopts e)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_QUEUE_ENQUEUE, NS, q, FLO_BUF_STR(payload), enqueue_opts(&o, e));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t seq = 0;
    cr_assert_eq(r.body.len, 8);
    cr_assert_eq(flo_queue_dec_enqueue(r.body, &seq), 0);
    cr_assert_neq(seq, 0);
    rsp_free(&r);
    flo_wbuf_free(&o);
    return seq;
}

static uint64_t enq(int fd, const char *q, const char *payload)
{
    return enqueue(fd, q, payload, EOPTS_NONE);
}

static flo_buf_t dequeue_opts(struct flo_wbuf *o, uint32_t count, uint32_t vis, uint32_t block)
{
    flo_wbuf_reset(o);
    struct flo_queue_dequeue_args a = {
        .count = count, .visibility_timeout_ms = vis, .block_ms = block};
    cr_assert_eq(flo_queue_dequeue_opts(o, &a), 0);
    return flo_wbuf_view(o);
}

/* A decoded message list (copies of the payloads as C strings). */
struct msgs {
    uint32_t n;
    struct flo_queue_msg m[100];
    char text[100][64];
};

static void decode_msgs(struct rsp *r, struct msgs *out)
{
    expect(r, FLO_STATUS_OK, NULL);
    struct flo_queue_msg_iter it;
    cr_assert_eq(flo_queue_msgs_begin(r->body, &it, &out->n), 0, "message list layout");
    cr_assert_leq(out->n, 100);
    cr_assert(out->n == 0 || it.trailer, "every message carries the 13-byte trailer");
    for (uint32_t i = 0; i < out->n; i++) {
        cr_assert_eq(flo_queue_msgs_next(&it, &out->m[i]), 1);
        size_t len = out->m[i].payload.len < 63 ? out->m[i].payload.len : 63;
        memcpy(out->text[i], out->m[i].payload.ptr, len);
        out->text[i][len] = '\0';
        out->m[i].payload = FLO_BUF_NULL; /* the frame is freed below */
    }
    struct flo_queue_msg extra;
    cr_assert_eq(flo_queue_msgs_next(&it, &extra), 0, "no bytes after the list");
}

static void dequeue(int fd, const char *q, uint32_t count, uint32_t vis, uint32_t block,
                    struct msgs *out)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r =
        call(fd, FLO_OP_QUEUE_DEQUEUE, NS, q, FLO_BUF_NULL, dequeue_opts(&o, count, vis, block));
    decode_msgs(&r, out);
    rsp_free(&r);
    flo_wbuf_free(&o);
}

/* peek / dlq_list with a count option. */
static void list_op(int fd, uint16_t op, const char *q, uint32_t count, struct msgs *out)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, op, NS, q, FLO_BUF_NULL, opts_u32(&o, FLO_OPT_COUNT, count));
    decode_msgs(&r, out);
    rsp_free(&r);
    flo_wbuf_free(&o);
}

/* ack-like op on one sequence (ASCII form); returns the reply. */
static struct rsp seq_call(int fd, uint16_t op, const char *q, uint64_t seq, flo_buf_t opts)
{
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)seq);
    return call(fd, op, NS, q, FLO_BUF_STR(t), opts);
}

static void seq_ok(int fd, uint16_t op, const char *q, uint64_t seq)
{
    struct rsp r = seq_call(fd, op, q, seq, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
}

static void nack_dlq(int fd, const char *q, uint64_t seq)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_opt_u8(&o, FLO_OPT_SEND_TO_DLQ, 1), 0);
    struct rsp r = seq_call(fd, FLO_OP_QUEUE_FAIL, q, seq, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    flo_wbuf_free(&o);
}

static struct flo_queue_stats qstats(int fd, const char *q)
{
    struct rsp r = call(fd, FLO_OP_QUEUE_STATS, NS, q, FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, FLO_QUEUE_STATS_SIZE);
    struct flo_queue_stats s;
    cr_assert_eq(flo_queue_dec_stats(r.body, &s), 0);
    rsp_free(&r);
    return s;
}

/* ---- the protocol vectors ---- */

static const int queue_vectors[] = {1, 2, 3, 4, 5, 6, 7, 8, 36};

Test(devqueue, every_queue_vector_gives_its_status_and_layout)
{
    int fd = cx();
    for (size_t i = 0; i < sizeof queue_vectors / sizeof queue_vectors[0]; i++) {
        int num = queue_vectors[i];
        uint8_t *req, *want;
        size_t req_len, want_len;
        cr_assert_eq(ts_hex_decode(ops_vectors[num].req, &req, &req_len), 0);
        cr_assert_eq(ts_hex_decode(ops_vectors[num].resp, &want, &want_len), 0);
        cr_assert_eq(ts_write_full(fd, req, req_len), 0);
        struct rsp r;
        rd(fd, &r);
        cr_assert_eq(r.id, flo_ld64(req + 8), "vector %d: request id", num);
        flo_buf_t wbody = FLO_BUF(want + FLO_HEADER_SIZE, want_len - FLO_HEADER_SIZE);
        if (num == 36) {
            /* flo-dev accepts the SDKs' binary list (ops.md §7); a real
             * server answers 3. Seq 1 is already acked, seq 2 (delayed by
             * vector 2) is acked now. */
            expect(&r, FLO_STATUS_OK, "");
            struct flo_queue_stats s = qstats(fd, "jobs");
            cr_assert_eq(s.acked, 2);
            cr_assert_eq(s.ready_now, 0);
        } else if (num == 3) {
            /* Vector 2's message is delayed 5 s, so only seq 1 comes back:
             * the same message as the vector; enqueued_at is today's. */
            cr_assert_eq(r.status, want[21], "vector 3: status");
            cr_assert_eq(r.body.len, wbody.len, "vector 3: body length");
            cr_assert(memcmp(r.body.ptr, wbody.ptr, 4 + 8 + 4 + 5) == 0, "seq and payload");
            size_t t = 4 + 8 + 4 + 5;
            int64_t at = (int64_t)flo_ld64(r.body.ptr + t);
            cr_assert_gt(at, 1700000000000LL, "enqueued_at_ms is Unix ms");
            cr_assert(memcmp(r.body.ptr + t + 8, wbody.ptr + t + 8, 5) == 0,
                      "delivery_count 1, priority 5");
        } else {
            /* Fresh server, same order: statuses and bodies match exactly
             * (sequences 1 and 2, stats 2/1/1/0/0/0/1/0/0). */
            cr_assert_eq(r.status, want[21], "vector %d: status %u", num, r.status);
            ts_assert_bytes(r.body, wbody, "vector body", num);
        }
        rsp_free(&r);
        free(req);
        free(want);
    }
    close(fd);
}

/* ---- order, delay, dedup ---- */

Test(devqueue, lower_priority_value_first_then_fifo)
{
    int fd = cx();
    const char *in[][2] = {
        {"9", "low-a"}, {"1", "high-a"}, {"5", "mid"}, {"1", "high-b"}, {"9", "low-b"}};
    for (int i = 0; i < 5; i++) {
        enqueue(fd, "prio", in[i][1],
                (struct eopts){.priority = atoi(in[i][0]), .max_retries = -1});
    }
    struct msgs m;
    dequeue(fd, "prio", 10, 0, 0, &m);
    const char *want[] = {"high-a", "high-b", "mid", "low-a", "low-b"};
    cr_assert_eq(m.n, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(m.text[i], want[i]);
        cr_assert_eq(m.m[i].delivery_count, 1);
    }
    cr_assert_eq(m.m[0].priority, 1);
    cr_assert_eq(m.m[4].priority, 9);
    close(fd);
}

Test(devqueue, delay_is_honoured)
{
    int fd = cx();
    enqueue(fd, "delayed", "later",
            (struct eopts){.priority = -1, .delay_ms = 300, .max_retries = -1});
    struct msgs m;
    dequeue(fd, "delayed", 1, 0, 0, &m);
    cr_assert_eq(m.n, 0, "invisible before its delay");
    list_op(fd, FLO_OP_QUEUE_PEEK, "delayed", 10, &m);
    cr_assert_eq(m.n, 0, "peek does not show it either");
    uint64_t t0 = ts_now_ms();
    dequeue(fd, "delayed", 1, 0, 3000, &m);
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_eq(m.n, 1, "a blocked dequeue is released when the delay is due");
    cr_assert_str_eq(m.text[0], "later");
    cr_assert_geq(waited, 200);
    cr_assert_lt(waited, 2500);
    close(fd);
}

Test(devqueue, dedup_key_answers_the_first_sequence)
{
    int fd = cx();
    struct eopts e = {.priority = -1, .dedup = "order-42", .max_retries = -1};
    uint64_t a = enqueue(fd, "dd", "first", e);
    cr_assert_eq(enqueue(fd, "dd", "second", e), a);
    cr_assert_eq(qstats(fd, "dd").enqueued, 1);
    struct msgs m;
    dequeue(fd, "dd", 10, 0, 0, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_str_eq(m.text[0], "first");
    seq_ok(fd, FLO_OP_QUEUE_COMPLETE, "dd", a);
    cr_assert_neq(enqueue(fd, "dd", "third", e), a, "the key is free once the message is gone");
    close(fd);
}

/* ---- leases ---- */

Test(devqueue, leased_message_goes_to_nobody_else_until_its_lease_expires)
{
    int a = cx(), b = cx();
    uint64_t s = enq(a, "lease", "job");
    struct msgs m;
    dequeue(a, "lease", 1, 400, 0, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.m[0].seq, s);
    dequeue(b, "lease", 1, 0, 0, &m);
    cr_assert_eq(m.n, 0, "leased to the first consumer");
    uint64_t t0 = ts_now_ms();
    dequeue(b, "lease", 1, 0, 3000, &m);
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_eq(m.n, 1, "the expired lease releases the blocked consumer");
    cr_assert_eq(m.m[0].seq, s);
    cr_assert_eq(m.m[0].delivery_count, 2);
    cr_assert_geq(waited, 250);
    cr_assert_lt(waited, 2500);
    cr_assert_eq(qstats(a, "lease").leases_expired, 1);
    close(a);
    close(b);
}

Test(devqueue, ack_removes_for_good)
{
    int fd = cx();
    uint64_t s = enq(fd, "ack", "job");
    struct msgs m;
    dequeue(fd, "ack", 1, 200, 0, &m);
    cr_assert_eq(m.n, 1);
    seq_ok(fd, FLO_OP_QUEUE_COMPLETE, "ack", s);
    dequeue(fd, "ack", 1, 0, 600, &m);
    cr_assert_eq(m.n, 0, "not redelivered after the lease would have ended");
    struct flo_queue_stats st = qstats(fd, "ack");
    cr_assert_eq(st.acked, 1);
    cr_assert_eq(st.ready_now + st.leased_now + st.dlq_now, 0);
    seq_ok(fd, FLO_OP_QUEUE_COMPLETE, "ack", s); /* already consumed: silent ok */
    close(fd);
}

Test(devqueue, nack_redelivers_with_delivery_count_plus_one)
{
    int fd = cx();
    uint64_t s = enq(fd, "nack", "job");
    struct msgs m;
    dequeue(fd, "nack", 1, 0, 0, &m);
    cr_assert_eq(m.m[0].delivery_count, 1);
    seq_ok(fd, FLO_OP_QUEUE_FAIL, "nack", s);
    dequeue(fd, "nack", 1, 0, 0, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.m[0].seq, s);
    cr_assert_eq(m.m[0].delivery_count, 2);
    close(fd);
}

Test(devqueue, nack_to_dlq_then_list_requeue_and_delete)
{
    int fd = cx();
    uint64_t a = enq(fd, "dlq", "a");
    uint64_t b = enq(fd, "dlq", "b");
    struct msgs m;
    dequeue(fd, "dlq", 2, 0, 0, &m);
    cr_assert_eq(m.n, 2);
    nack_dlq(fd, "dlq", a);
    nack_dlq(fd, "dlq", b);
    dequeue(fd, "dlq", 2, 0, 0, &m);
    cr_assert_eq(m.n, 0);
    list_op(fd, FLO_OP_QUEUE_DLQ_LIST, "dlq", 10, &m);
    cr_assert_eq(m.n, 2, "dlq_list in the dequeue layout");
    cr_assert_eq(m.m[0].seq, a);
    cr_assert_str_eq(m.text[1], "b");
    cr_assert_eq(m.m[1].delivery_count, 1);
    struct rsp r = seq_call(fd, FLO_OP_QUEUE_COMPLETE, "dlq", a, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_CONFLICT,
           "message is in the dead-letter queue (requeue or delete it there)");
    rsp_free(&r);
    seq_ok(fd, FLO_OP_QUEUE_DLQ_REQUEUE, "dlq", a);
    seq_ok(fd, FLO_OP_QUEUE_DLQ_DELETE, "dlq", b);
    r = seq_call(fd, FLO_OP_QUEUE_DLQ_DELETE, "dlq", a, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_CONFLICT, "message is not in the dead-letter queue");
    rsp_free(&r);
    list_op(fd, FLO_OP_QUEUE_DLQ_LIST, "dlq", 10, &m);
    cr_assert_eq(m.n, 0);
    dequeue(fd, "dlq", 2, 0, 0, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.m[0].seq, a);
    cr_assert_str_eq(m.text[0], "a");
    struct flo_queue_stats st = qstats(fd, "dlq");
    cr_assert_eq(st.dlq_total, 2);
    cr_assert_eq(st.dlq_now, 0);
    close(fd);
}

Test(devqueue, max_retries_sends_to_the_dlq)
{
    int fd = cx();
    uint64_t s = enqueue(fd, "retry", "poison", (struct eopts){.priority = -1, .max_retries = 2});
    struct msgs m;
    for (uint32_t i = 1; i <= 2; i++) {
        dequeue(fd, "retry", 1, 0, 0, &m);
        cr_assert_eq(m.n, 1, "delivery %u", i);
        cr_assert_eq(m.m[0].delivery_count, i);
        seq_ok(fd, FLO_OP_QUEUE_FAIL, "retry", s);
    }
    dequeue(fd, "retry", 1, 0, 0, &m);
    cr_assert_eq(m.n, 0);
    list_op(fd, FLO_OP_QUEUE_DLQ_LIST, "retry", 10, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.m[0].seq, s);
    cr_assert_eq(m.m[0].delivery_count, 2);
    close(fd);
}

Test(devqueue, peek_leases_nothing)
{
    int fd = cx();
    enqueue(fd, "peek", "b", (struct eopts){.priority = 2, .max_retries = -1});
    enqueue(fd, "peek", "a", (struct eopts){.priority = 1, .max_retries = -1});
    struct msgs m;
    list_op(fd, FLO_OP_QUEUE_PEEK, "peek", 5, &m);
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.text[0], "a");
    cr_assert_str_eq(m.text[1], "b");
    cr_assert_eq(m.m[0].delivery_count, 0);
    list_op(fd, FLO_OP_QUEUE_PEEK, "peek", 5, &m);
    cr_assert_eq(m.n, 2, "peeking twice shows the same messages");
    struct flo_queue_stats st = qstats(fd, "peek");
    cr_assert_eq(st.leased_now, 0);
    cr_assert_eq(st.dequeued, 0);
    dequeue(fd, "peek", 5, 0, 0, &m);
    cr_assert_eq(m.n, 2);
    close(fd);
}

static int64_t touch(int fd, uint16_t op, const char *q, uint64_t seq, uint32_t vis)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    flo_buf_t opts = vis != 0 ? opts_u32(&o, FLO_OPT_VISIBILITY_MS, vis) : FLO_BUF_NULL;
    struct rsp r = seq_call(fd, op, q, seq, opts);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 8, "touch answers the new lease deadline");
    int64_t until = (int64_t)flo_ld64(r.body.ptr);
    rsp_free(&r);
    flo_wbuf_free(&o);
    return until;
}

Test(devqueue, touch_and_extend_lease_restart_the_lease)
{
    int a = cx(), b = cx();
    uint64_t s = enq(a, "touch", "long job");
    struct msgs m;
    dequeue(a, "touch", 1, 400, 0, &m);
    cr_assert_eq(m.n, 1);
    usleep(250 * 1000);
    int64_t until = touch(a, FLO_OP_QUEUE_TOUCH, "touch", s, 1000);
    cr_assert_gt(until, m.m[0].enqueued_at_ms + 1000);
    usleep(300 * 1000); /* past the first lease's end */
    dequeue(b, "touch", 1, 0, 0, &m);
    cr_assert_eq(m.n, 0, "the touched lease still holds");
    int64_t until2 = touch(a, FLO_OP_QUEUE_EXTEND_LEASE, "touch", s, 0);
    cr_assert_geq(until2, until, "extend_lease restarts it with the last duration");
    seq_ok(a, FLO_OP_QUEUE_FAIL, "touch", s);
    struct rsp r = seq_call(a, FLO_OP_QUEUE_TOUCH, "touch", s, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_CONFLICT,
           "message is not leased (its lease expired, it was nacked, or it was never delivered)");
    rsp_free(&r);
    r = seq_call(a, FLO_OP_QUEUE_TOUCH, "touch", 987654, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "message not found in this queue");
    rsp_free(&r);
    close(a);
    close(b);
}

/* ---- blocking ---- */

Test(devqueue, blocking_dequeue_is_released_by_an_enqueue_on_another_connection)
{
    int waiter = cx(), producer = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    send_req(waiter, FLO_OP_QUEUE_DEQUEUE, 77, NS, FLO_BUF_STR("block"), FLO_BUF_NULL,
             dequeue_opts(&o, 5, 0, 10000));
    /* The waiting connection keeps serving its other frames meanwhile. */
    struct rsp p = call(waiter, FLO_OP_PING, NS, "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&p, FLO_STATUS_OK, "PONG");
    rsp_free(&p);
    uint64_t t0 = ts_now_ms();
    uint64_t s = enq(producer, "block", "wake up");
    struct rsp r;
    rd(waiter, &r);
    cr_assert_eq(r.id, 77);
    cr_assert_lt(ts_now_ms() - t0, 2000);
    struct msgs m;
    decode_msgs(&r, &m);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.m[0].seq, s);
    cr_assert_str_eq(m.text[0], "wake up");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(waiter);
    close(producer);
}

Test(devqueue, blocked_dequeuers_are_served_in_arrival_order)
{
    int w1 = cx(), w2 = cx(), producer = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    send_req(w1, FLO_OP_QUEUE_DEQUEUE, 1, NS, FLO_BUF_STR("fair"), FLO_BUF_NULL,
             dequeue_opts(&o, 1, 0, 10000));
    usleep(50 * 1000);
    send_req(w2, FLO_OP_QUEUE_DEQUEUE, 2, NS, FLO_BUF_STR("fair"), FLO_BUF_NULL,
             dequeue_opts(&o, 1, 0, 10000));
    usleep(50 * 1000);
    enq(producer, "fair", "first");
    struct rsp r;
    struct msgs m;
    rd(w1, &r);
    decode_msgs(&r, &m);
    cr_assert_str_eq(m.text[0], "first");
    rsp_free(&r);
    enq(producer, "fair", "second");
    rd(w2, &r);
    decode_msgs(&r, &m);
    cr_assert_str_eq(m.text[0], "second");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(w1);
    close(w2);
    close(producer);
}

Test(devqueue, blocking_dequeue_times_out_empty)
{
    int fd = cx();
    uint64_t t0 = ts_now_ms();
    struct msgs m;
    dequeue(fd, "nothing", 3, 0, 250, &m);
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_eq(m.n, 0);
    cr_assert_geq(waited, 200);
    cr_assert_lt(waited, 3000);
    close(fd);
}

Test(devqueue, disconnected_waiter_does_not_swallow_a_message)
{
    int gone = cx(), fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    send_req(gone, FLO_OP_QUEUE_DEQUEUE, 5, NS, FLO_BUF_STR("dc"), FLO_BUF_NULL,
             dequeue_opts(&o, 1, 0, 10000));
    usleep(50 * 1000);
    close(gone);
    usleep(100 * 1000);
    enq(fd, "dc", "kept");
    struct msgs m;
    dequeue(fd, "dc", 1, 0, 0, &m);
    cr_assert_eq(m.n, 1, "the closed connection's waiter was dropped, not served");
    cr_assert_str_eq(m.text[0], "kept");
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- many producers and consumers ---- */

#define PRODUCERS 4
#define CONSUMERS 3
#define TOTAL     1000

Test(devqueue, thousand_messages_from_several_connections_are_consumed_exactly_once, .timeout = 120)
{
    int prod[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        prod[p] = cx();
    }
    /* Pipeline every enqueue on every connection before reading a reply,
     * so the server interleaves the producers. */
    for (int i = 0; i < TOTAL; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "msg-%04d", i);
        send_req(prod[i % PRODUCERS], FLO_OP_QUEUE_ENQUEUE, (uint64_t)i + 1, NS,
                 FLO_BUF_STR("bulk"), FLO_BUF_STR(payload), FLO_BUF_NULL);
    }
    static bool seq_seen[TOTAL + 1];
    memset(seq_seen, 0, sizeof seq_seen);
    for (int i = 0; i < TOTAL; i++) {
        struct rsp r;
        rd(prod[i % PRODUCERS], &r);
        cr_assert_eq(r.id, (uint64_t)i + 1, "replies in order per connection");
        uint64_t seq;
        cr_assert_eq(flo_queue_dec_enqueue(r.body, &seq), 0);
        cr_assert(seq >= 1 && seq <= TOTAL && !seq_seen[seq], "unique sequence %llu",
                  (unsigned long long)seq);
        seq_seen[seq] = true;
        rsp_free(&r);
    }
    int cons[CONSUMERS];
    for (int c = 0; c < CONSUMERS; c++) {
        cons[c] = cx();
    }
    static bool got[TOTAL];
    memset(got, 0, sizeof got);
    int received = 0;
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    for (int round = 0; received < TOTAL && round < 100; round++) {
        /* Every consumer asks before any reads: the dequeues race. */
        for (int c = 0; c < CONSUMERS; c++) {
            send_req(cons[c], FLO_OP_QUEUE_DEQUEUE, 9000 + (uint64_t)round, NS, FLO_BUF_STR("bulk"),
                     FLO_BUF_NULL, dequeue_opts(&o, 37, 0, 0));
        }
        for (int c = 0; c < CONSUMERS; c++) {
            struct rsp r;
            rd(cons[c], &r);
            cr_assert_eq(r.id, 9000 + (uint64_t)round);
            struct msgs m;
            decode_msgs(&r, &m);
            rsp_free(&r);
            for (uint32_t i = 0; i < m.n; i++) {
                int idx = atoi(m.text[i] + 4);
                cr_assert(idx >= 0 && idx < TOTAL);
                cr_assert(!got[idx], "message %d delivered twice", idx);
                cr_assert_eq(m.m[i].delivery_count, 1);
                got[idx] = true;
                received++;
            }
            /* Ack the batch with the SDKs' binary list. */
            if (m.n > 0) {
                uint64_t seqs[100];
                for (uint32_t i = 0; i < m.n; i++) {
                    seqs[i] = m.m[i].seq;
                }
                struct flo_wbuf v;
                flo_wbuf_init(&v);
                cr_assert_eq(flo_queue_seqs_value(&v, seqs, m.n), 0);
                r = call(cons[c], FLO_OP_QUEUE_COMPLETE, NS, "bulk", flo_wbuf_view(&v),
                         FLO_BUF_NULL);
                expect(&r, FLO_STATUS_OK, "");
                rsp_free(&r);
                flo_wbuf_free(&v);
            }
        }
    }
    flo_wbuf_free(&o);
    cr_assert_eq(received, TOTAL);
    struct flo_queue_stats st = qstats(cons[0], "bulk");
    cr_assert_eq(st.enqueued, TOTAL);
    cr_assert_eq(st.dequeued, TOTAL);
    cr_assert_eq(st.acked, TOTAL);
    cr_assert_eq(st.ready_now + st.leased_now + st.dlq_now, 0);
    for (int p = 0; p < PRODUCERS; p++) {
        close(prod[p]);
    }
    for (int c = 0; c < CONSUMERS; c++) {
        close(cons[c]);
    }
}

/* ---- batch, purge, list, stats ---- */

Test(devqueue, batch_enqueue_returns_every_sequence)
{
    int fd = cx();
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    const char *p[3] = {"x", "", "zz"};
    uint8_t prio[3] = {7, 3, 3};
    cr_assert_eq(flo_wbuf_u32(&v, 3), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(flo_wbuf_str32(&v, p[i], strlen(p[i])), 0);
        cr_assert_eq(flo_wbuf_u8(&v, prio[i]), 0);
    }
    struct rsp r =
        call(fd, FLO_OP_QUEUE_BATCH_ENQUEUE, NS, "batch", flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 4 + 3 * 8);
    cr_assert_eq(flo_ld32(r.body.ptr), 3);
    uint64_t s0 = flo_ld64(r.body.ptr + 4);
    cr_assert_eq(flo_ld64(r.body.ptr + 12), s0 + 1);
    cr_assert_eq(flo_ld64(r.body.ptr + 20), s0 + 2);
    rsp_free(&r);
    struct msgs m;
    dequeue(fd, "batch", 10, 0, 0, &m);
    cr_assert_eq(m.n, 3);
    cr_assert_str_eq(m.text[0], "");
    cr_assert_str_eq(m.text[1], "zz");
    cr_assert_str_eq(m.text[2], "x");
    cr_assert_eq(m.m[2].priority, 7);

    /* malformed: one byte short; empty; too many */
    flo_buf_t whole = flo_wbuf_view(&v);
    r = call(fd, FLO_OP_QUEUE_BATCH_ENQUEUE, NS, "batch", FLO_BUF(whole.ptr, whole.len - 1),
             FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST,
           "batch enqueue: malformed batch (expected [count u32] then [payload_len u32][payload]"
           "[priority u8] per message)");
    rsp_free(&r);
    uint8_t zero[4] = {0};
    r = call(fd, FLO_OP_QUEUE_BATCH_ENQUEUE, NS, "batch", FLO_BUF(zero, 4), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "batch enqueue: the batch is empty");
    rsp_free(&r);
    uint8_t many[4];
    flo_st32(many, 1001);
    r = call(fd, FLO_OP_QUEUE_BATCH_ENQUEUE, NS, "batch", FLO_BUF(many, 4), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "batch enqueue: more than 1000 messages in one batch");
    rsp_free(&r);
    cr_assert_eq(qstats(fd, "batch").enqueued, 3, "refused batches add nothing");
    flo_wbuf_free(&v);
    close(fd);
}

Test(devqueue, purge_answers_the_removed_count)
{
    int fd = cx();
    for (int i = 0; i < 5; i++) {
        enq(fd, "purge", "m");
    }
    struct msgs m;
    dequeue(fd, "purge", 2, 0, 0, &m);
    struct rsp r = call(fd, FLO_OP_QUEUE_PURGE, NS, "purge", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint32_t removed = 0;
    cr_assert_eq(flo_queue_dec_purge(r.body, &removed), 0);
    cr_assert_eq(r.body.len, 4);
    cr_assert_eq(removed, 5);
    rsp_free(&r);
    seq_ok(fd, FLO_OP_QUEUE_COMPLETE, "purge", m.m[0].seq); /* purged: silent ok */
    dequeue(fd, "purge", 10, 0, 0, &m);
    cr_assert_eq(m.n, 0);
    close(fd);
}

Test(devqueue, queue_list_and_namespace_stats)
{
    int fd = cx();
    enq(fd, "list-a", "1");
    enq(fd, "list-a", "2");
    enq(fd, "list-b", "1");
    struct msgs m;
    dequeue(fd, "list-a", 1, 0, 0, &m);
    struct rsp r = call(fd, FLO_OP_QUEUE_LIST, NS, "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_queue_list_iter it;
    uint32_t n = 0;
    cr_assert_eq(flo_queue_list_begin(r.body, &it, &n), 0);
    cr_assert_eq(n, 2);
    struct flo_queue_info qi;
    int seen = 0;
    while (flo_queue_list_next(&it, &qi) == 1) {
        cr_assert_eq(qi.ns.len, strlen(NS));
        if (qi.name.len == 6 && memcmp(qi.name.ptr, "list-a", 6) == 0) {
            cr_assert_eq(qi.pending, 2);
            cr_assert_eq(qi.available, 1);
            cr_assert_eq(qi.enqueued, 2);
            cr_assert_eq(qi.dequeued, 1);
            seen++;
        }
    }
    cr_assert_eq(seen, 1);
    cr_assert_eq(r.body.ptr[r.body.len - 3], 0, "has_more 0");
    rsp_free(&r);
    struct flo_queue_stats st = qstats(fd, "");
    cr_assert_eq(st.enqueued, 3, "no queue named: the namespace's totals");
    cr_assert_eq(st.leased_now, 1);
    close(fd);
}

/* ---- bad input ---- */

Test(devqueue, empty_queue_name_is_refused_by_every_queue_op)
{
    int fd = cx();
    const uint16_t ops[] = {
        FLO_OP_QUEUE_ENQUEUE,  FLO_OP_QUEUE_DEQUEUE,      FLO_OP_QUEUE_COMPLETE,
        FLO_OP_QUEUE_FAIL,     FLO_OP_QUEUE_PURGE,        FLO_OP_QUEUE_PEEK,
        FLO_OP_QUEUE_DLQ_LIST, FLO_OP_QUEUE_DLQ_REQUEUE,  FLO_OP_QUEUE_DLQ_DELETE,
        FLO_OP_QUEUE_TOUCH,    FLO_OP_QUEUE_EXTEND_LEASE, FLO_OP_QUEUE_BATCH_ENQUEUE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        struct rsp r = call(fd, ops[i], NS, "", FLO_BUF_STR("1"), FLO_BUF_NULL);
        expect(&r, FLO_STATUS_BAD_REQUEST, "queue name is required");
        rsp_free(&r);
    }
    char longns[80];
    memset(longns, 'n', 64);
    longns[64] = '\0';
    struct rsp r = call(fd, FLO_OP_QUEUE_ENQUEUE, longns, "q", FLO_BUF_STR("x"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "namespace name too long (max 63 bytes)");
    rsp_free(&r);
    close(fd);
}

Test(devqueue, bad_sequence_values_are_refused)
{
    int fd = cx();
    const char *bad[] = {"", "abc", "-1", "1 2", " 1", "18446744073709551616", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rsp r =
            call(fd, FLO_OP_QUEUE_COMPLETE, NS, "jobs", FLO_BUF_STR(bad[i]), FLO_BUF_NULL);
        expect(&r, FLO_STATUS_BAD_REQUEST, "message sequence is required");
        rsp_free(&r);
    }
    /* a binary list whose count does not match its length */
    uint8_t v[4 + 8] = {2, 0, 0, 0, 1};
    struct rsp r = call(fd, FLO_OP_QUEUE_FAIL, NS, "jobs", FLO_BUF(v, sizeof v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "message sequence is required");
    rsp_free(&r);
    /* another queue's sequence */
    uint64_t s = enq(fd, "mine", "m");
    r = seq_call(fd, FLO_OP_QUEUE_COMPLETE, "yours", s, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "message not found in this queue");
    rsp_free(&r);
    r = seq_call(fd, FLO_OP_QUEUE_DLQ_REQUEUE, "yours", s, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "message not found in this queue");
    rsp_free(&r);
    cr_assert_eq(qstats(fd, "mine").ready_now, 1, "still there");
    close(fd);
}

Test(devqueue, unimplemented_queue_ops_answer_not_implemented)
{
    int fd = cx();
    const uint16_t ops[] = {FLO_OP_QUEUE_FAIL_AUTO, FLO_OP_QUEUE_DLQ_STATS,
                            FLO_OP_QUEUE_PROMOTE_DUE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        struct rsp r = call(fd, ops[i], NS, "q", FLO_BUF_NULL, FLO_BUF_NULL);
        expect(&r, FLO_STATUS_INTERNAL, "not implemented");
        rsp_free(&r);
    }
    close(fd);
}
