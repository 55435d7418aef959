/*
 * Byte-for-byte tests of the queue/stream/group/action/worker codec
 * (client/flo_ops_*.c) against every example of
 * shared/flo-protocol-vectors-ops.md, in all four directions: encode the
 * request from its fields, parse the vector request back with the
 * server-side parsers, encode the response body as a server would, decode
 * the vector response. Alternate forms and error paths are in
 * codec_ops_forms_test.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

#include "ts_bytes.h"

#include "codec_ops_helpers.h"
#include "codec_ops_vectors.h"

#define VEC_MAX 512

/* One example: its frames and the decoded request envelope / response body,
 * all views into the static byte arrays (no heap, nothing to free). */
struct ex {
    int num;
    uint8_t req[VEC_MAX], resp[VEC_MAX];
    size_t req_len, resp_len;
    struct flo_frame rq, rs;
    struct flo_envelope env;
};
static struct ex E;

/*
 * Load example `num`, check that encoding (op, key, value, opts) in
 * namespace "default" with request id `num` gives the vector's request
 * bytes, then decode the vector's request (frame + envelope) and check it
 * carries the same fields. E.env then holds views for the server parsers.
 */
static void check_request(int num, uint16_t op, flo_buf_t key, flo_buf_t value, flo_buf_t opts)
{
    const struct ops_vector *v = &ops_vectors[num];
    E.num = num;
    E.req_len = ts_unhex(v->req, E.req, sizeof E.req);
    E.resp_len = ts_unhex(v->resp, E.resp, sizeof E.resp);

    struct flo_wbuf out;
    flo_wbuf_init(&out);
    struct flo_req r = {.op = op,
                        .request_id = (uint64_t)num,
                        .ns = FLO_BUF_STR("default"),
                        .key = key,
                        .value = value,
                        .opts = opts};
    cr_assert_eq(flo_req_encode(&out, &r), 0);
    ts_assert_bytes(flo_wbuf_view(&out), FLO_BUF(E.req, E.req_len), "request", num);
    flo_wbuf_free(&out);

    long n = flo_frame_decode(E.req, E.req_len, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &E.rq);
    cr_assert_eq(n, (long)E.req_len, "ex %d: request frame decode %ld", num, n);
    cr_assert_eq(E.rq.op, op);
    cr_assert_eq(E.rq.request_id, (uint64_t)num);
    cr_assert_eq(flo_envelope_parse(E.rq.body, &E.env), 0);
    ts_assert_buf_str(E.env.ns, "default", "namespace");
    ts_assert_bytes(E.env.key, key, "key", num);
    ts_assert_bytes(E.env.value, value, "value", num);
    ts_assert_bytes(E.env.opts, opts, "options", num);
}

/* Encode a response (status, body) with the example's id and compare it to
 * the vector; then decode the vector's response into E.rs. */
static void check_response(uint8_t status, flo_buf_t body)
{
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    cr_assert_eq(flo_resp_encode(&out, (uint64_t)E.num, status, body), 0);
    ts_assert_bytes(flo_wbuf_view(&out), FLO_BUF(E.resp, E.resp_len), "response", E.num);
    flo_wbuf_free(&out);

    long n = flo_frame_decode(E.resp, E.resp_len, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &E.rs);
    cr_assert_eq(n, (long)E.resp_len, "ex %d: response frame decode %ld", E.num, n);
    cr_assert_eq(E.rs.status, status);
    cr_assert_eq(E.rs.request_id, (uint64_t)E.num);
    ts_assert_bytes(E.rs.body, body, "response body", E.num);
}
TestSuite(vectors, .init = setup, .fini = teardown);

/* ---- queues ---- */

Test(vectors, ex01_queue_enqueue_priority)
{
    struct flo_queue_enqueue_args a = {.has_priority = true, .priority = 5};
    cr_assert_eq(flo_queue_enqueue_opts(&O, &a), 0);
    check_request(1, FLO_OP_QUEUE_ENQUEUE, KEY("jobs"), KEY("hello"), VIEW(O));

    struct flo_queue_enqueue_args p;
    flo_queue_parse_enqueue_opts(E.env.opts, &p);
    cr_assert(p.has_priority);
    cr_assert_eq(p.priority, 5);
    cr_assert_eq(p.delay_ms, 0);
    cr_assert_eq(p.dedup_key.len, 0);

    cr_assert_eq(flo_wbuf_u64(&B, 1), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    uint64_t seq = 0;
    cr_assert_eq(flo_queue_dec_enqueue(E.rs.body, &seq), 0);
    cr_assert_eq(seq, 1);
}

Test(vectors, ex02_queue_enqueue_delay_dedup)
{
    struct flo_queue_enqueue_args a = {.delay_ms = 5000, .dedup_key = KEY("order-42")};
    cr_assert_eq(flo_queue_enqueue_opts(&O, &a), 0);
    check_request(2, FLO_OP_QUEUE_ENQUEUE, KEY("jobs"), KEY("{\"id\":42}"), VIEW(O));

    struct flo_queue_enqueue_args p;
    flo_queue_parse_enqueue_opts(E.env.opts, &p);
    cr_assert_not(p.has_priority);
    cr_assert_eq(p.delay_ms, 5000);
    ts_assert_buf_str(p.dedup_key, "order-42", "dedup_key");

    cr_assert_eq(flo_wbuf_u64(&B, 2), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    uint64_t seq = 0;
    cr_assert_eq(flo_queue_dec_enqueue(E.rs.body, &seq), 0);
    cr_assert_eq(seq, 2);
}

Test(vectors, ex03_queue_dequeue_one_message)
{
    struct flo_queue_dequeue_args a = {
        .count = 10, .visibility_timeout_ms = 30000, .block_ms = 5000};
    cr_assert_eq(flo_queue_dequeue_opts(&O, &a), 0);
    check_request(3, FLO_OP_QUEUE_DEQUEUE, KEY("jobs"), FLO_BUF_NULL, VIEW(O));

    struct flo_queue_dequeue_args p;
    flo_queue_parse_dequeue_opts(E.env.opts, &p);
    cr_assert_eq(p.count, 10);
    cr_assert_eq(p.visibility_timeout_ms, 30000);
    cr_assert_eq(p.block_ms, 5000);

    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_queue_msg m = {.seq = 1,
                              .payload = KEY("hello"),
                              .enqueued_at_ms = (int64_t)TS,
                              .delivery_count = 1,
                              .priority = 5};
    cr_assert_eq(flo_queue_msg_put(&B, &m), 0);
    flo_ops_count_patch(&B, pos, 1);
    check_response(FLO_STATUS_OK, VIEW(B));

    struct flo_queue_msg_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_msgs_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert(it.trailer);
    struct flo_queue_msg got;
    cr_assert_eq(flo_queue_msgs_next(&it, &got), 1);
    cr_assert_eq(got.seq, 1);
    ts_assert_buf_str(got.payload, "hello", "payload");
    cr_assert_eq(got.enqueued_at_ms, (int64_t)TS);
    cr_assert_eq(got.delivery_count, 1);
    cr_assert_eq(got.priority, 5);
    cr_assert_eq(flo_queue_msgs_next(&it, &got), 0);
}

Test(vectors, ex04_queue_dequeue_empty)
{
    struct flo_queue_dequeue_args a = {.count = 1};
    cr_assert_eq(flo_queue_dequeue_opts(&O, &a), 0);
    check_request(4, FLO_OP_QUEUE_DEQUEUE, KEY("jobs"), FLO_BUF_NULL, VIEW(O));

    struct flo_queue_dequeue_args p;
    flo_queue_parse_dequeue_opts(E.env.opts, &p);
    cr_assert_eq(p.count, 1);
    cr_assert_eq(p.block_ms, 0);

    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_queue_msg_iter it;
    uint32_t count = 99;
    cr_assert_eq(flo_queue_msgs_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 0);
    struct flo_queue_msg got;
    cr_assert_eq(flo_queue_msgs_next(&it, &got), 0);
}

static void check_ascii_ack(int num, uint16_t op, uint64_t seq)
{
    cr_assert_eq(flo_queue_seq_value(&V, seq), 0);
    check_request(num, op, KEY("jobs"), VIEW(V), FLO_BUF_NULL);
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(E.env.value, &s), 0);
    cr_assert_not(s.binary);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(flo_queue_seqs_get(&s, 0), seq);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex05_queue_complete_ascii)
{
    check_ascii_ack(5, FLO_OP_QUEUE_COMPLETE, 1);
}

Test(vectors, ex06_queue_fail_ascii)
{
    check_ascii_ack(6, FLO_OP_QUEUE_FAIL, 3);
}

Test(vectors, ex07_queue_enqueue_empty_name)
{
    check_request(7, FLO_OP_QUEUE_ENQUEUE, FLO_BUF_NULL, KEY("x"), FLO_BUF_NULL);
    cr_assert_eq(E.env.key.len, 0);
    check_response(FLO_STATUS_BAD_REQUEST, KEY("queue name is required"));
    ts_assert_buf_str(E.rs.body, "queue name is required", "error text");
}

Test(vectors, ex08_queue_stats)
{
    check_request(8, FLO_OP_QUEUE_STATS, KEY("jobs"), FLO_BUF_NULL, FLO_BUF_NULL);
    struct flo_queue_stats s = {.enqueued = 2, .dequeued = 1, .acked = 1, .ready_now = 1};
    cr_assert_eq(flo_queue_stats_put(&B, &s), 0);
    cr_assert_eq(B.len, FLO_QUEUE_STATS_SIZE);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_queue_stats g;
    memset(&g, 0xAA, sizeof g);
    cr_assert_eq(flo_queue_dec_stats(E.rs.body, &g), 0);
    cr_assert_eq(g.enqueued, 2);
    cr_assert_eq(g.dequeued, 1);
    cr_assert_eq(g.acked, 1);
    cr_assert_eq(g.nacked, 0);
    cr_assert_eq(g.dlq_total, 0);
    cr_assert_eq(g.leases_expired, 0);
    cr_assert_eq(g.ready_now, 1);
    cr_assert_eq(g.leased_now, 0);
    cr_assert_eq(g.dlq_now, 0);
}

Test(vectors, ex36_queue_complete_binary_list)
{
    const uint64_t seqs[] = {1, 2};
    cr_assert_eq(flo_queue_seqs_value(&V, seqs, 2), 0);
    check_request(36, FLO_OP_QUEUE_COMPLETE, KEY("jobs"), VIEW(V), FLO_BUF_NULL);
    /* A real server refuses this form; flo-dev's parser accepts it. */
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(E.env.value, &s), 0);
    cr_assert(s.binary);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(flo_queue_seqs_get(&s, 0), 1);
    cr_assert_eq(flo_queue_seqs_get(&s, 1), 2);
    check_response(FLO_STATUS_BAD_REQUEST, KEY("message sequence is required"));
    ts_assert_buf_str(E.rs.body, "message sequence is required", "error text");
}

/* ---- streams ---- */

static void check_append_reply(struct flo_stream_id first)
{
    cr_assert_eq(flo_stream_append_reply_put(&B, first), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_stream_id got = {1, 1};
    cr_assert_eq(flo_stream_dec_append(E.rs.body, &got), 0);
    cr_assert_eq(got.ts, first.ts);
    cr_assert_eq(got.seq, first.seq);
}

/* Parse the example's append value and check its payloads (no headers). */
static void check_batch(const char *const *payloads, uint32_t n)
{
    struct flo_stream_batch_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_parse_batch(E.env.value, &it, &count), 0);
    cr_assert_eq(count, n);
    struct flo_stream_batch_rec r;
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(flo_stream_batch_next(&it, &r), 1);
        ts_assert_buf_str(r.payload, payloads[i], "record payload");
        cr_assert_eq(r.headers.count, 0);
        cr_assert_not(r.headers.wide);
    }
    cr_assert_eq(flo_stream_batch_next(&it, &r), 0);
}

Test(vectors, ex09_stream_append_one)
{
    struct flo_stream_rec_in rec = {.payload = KEY("login")};
    cr_assert_eq(flo_stream_batch_value(&V, &rec, 1), 0);
    check_request(9, FLO_OP_STREAM_APPEND, KEY("events"), VIEW(V), FLO_BUF_NULL);
    const char *p[] = {"login"};
    check_batch(p, 1);
    check_append_reply((struct flo_stream_id){TS, 0});
}

Test(vectors, ex10_stream_append_partition_key)
{
    struct flo_stream_rec_in rec = {.payload = KEY("logout")};
    cr_assert_eq(flo_stream_batch_value(&V, &rec, 1), 0);
    cr_assert_eq(flo_opt_bytes(&O, FLO_OPT_PARTITION_KEY, "user-7", 6), 0);
    check_request(10, FLO_OP_STREAM_APPEND, KEY("events"), VIEW(V), VIEW(O));
    const char *p[] = {"logout"};
    check_batch(p, 1);
    flo_buf_t pk;
    cr_assert(flo_opt_find(E.env.opts, FLO_OPT_PARTITION_KEY, &pk));
    ts_assert_buf_str(pk, "user-7", "partition_key");
    check_append_reply((struct flo_stream_id){TS + 5, 0});
}

Test(vectors, ex29_stream_append_two)
{
    struct flo_stream_rec_in recs[] = {{.payload = KEY("a")}, {.payload = KEY("b")}};
    cr_assert_eq(flo_stream_batch_value(&V, recs, 2), 0);
    check_request(29, FLO_OP_STREAM_APPEND, KEY("events"), VIEW(V), FLO_BUF_NULL);
    const char *p[] = {"a", "b"};
    check_batch(p, 2);
    check_append_reply((struct flo_stream_id){TS + 20, 0});
}

Test(vectors, ex28_stream_append_raw_value)
{
    check_request(28, FLO_OP_STREAM_APPEND, KEY("events"), KEY("login"), FLO_BUF_NULL);
    struct flo_stream_batch_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_parse_batch(E.env.value, &it, &count), FLO_EMALFORMED);
    check_response(FLO_STATUS_BAD_REQUEST, KEY("stream append: malformed batch"));
    ts_assert_buf_str(E.rs.body, "stream append: malformed batch", "error text");
}

/* Check one decoded read record against the fields a vector holds. */
static void check_record(const struct flo_stream_record *r, uint64_t ts, const char *payload)
{
    cr_assert_eq(r->id.ts, ts);
    cr_assert_eq(r->id.seq, 0);
    cr_assert_eq(r->tier, 0);
    cr_assert_eq(r->partition, 0);
    cr_assert_not(r->key_present);
    ts_assert_buf_str(r->payload, payload, "record payload");
}
Test(vectors, ex11_stream_read_after_id)
{
    struct flo_stream_read_args a = {.has_start = true, .start = {TS, 0}, .count = 2};
    cr_assert_eq(flo_stream_read_opts(&O, &a), 0);
    check_request(11, FLO_OP_STREAM_READ, KEY("events"), FLO_BUF_NULL, VIEW(O));

    struct flo_stream_read_args p;
    flo_stream_parse_read_opts(E.env.opts, &p);
    cr_assert(p.has_start);
    cr_assert_eq(p.start.ts, TS);
    cr_assert_eq(p.start.seq, 0);
    cr_assert_eq(p.count, 2);
    cr_assert_not(p.tail);
    cr_assert_not(p.has_end);

    put_one_record(TS + 5, "logout");
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_records_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_stream_record r;
    cr_assert_eq(flo_stream_records_next(&it, &r), 1);
    check_record(&r, TS + 5, "logout");
    cr_assert_eq(r.headers.count, 0);
    cr_assert_eq(flo_stream_records_next(&it, &r), 0);
}

Test(vectors, ex12_stream_read_tail_with_header)
{
    struct flo_stream_read_args a = {.tail = true, .block_ms = 10000};
    cr_assert_eq(flo_stream_read_opts(&O, &a), 0);
    check_request(12, FLO_OP_STREAM_READ, KEY("events"), FLO_BUF_NULL, VIEW(O));
    struct flo_stream_read_args p;
    flo_stream_parse_read_opts(E.env.opts, &p);
    cr_assert(p.tail);
    cr_assert_eq(p.block_ms, 10000);
    cr_assert_eq(p.count, FLO_STREAM_DEFAULT_COUNT);
    cr_assert_not(p.has_start);

    /* The server keeps the append's u16 header block and widens it. */
    struct flo_stream_header h = {KEY("content-type"), KEY("text/plain")};
    struct flo_stream_rec_in in = {.payload = KEY("x"), .headers = &h, .n_headers = 1};
    cr_assert_eq(flo_stream_batch_value(&V, &in, 1), 0);
    struct flo_stream_batch_iter bit;
    struct flo_stream_batch_rec br;
    uint32_t n;
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &bit, &n), 0);
    cr_assert_eq(flo_stream_batch_next(&bit, &br), 1);
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_stream_record out = {
        .id = {TS + 9, 0}, .payload = br.payload, .headers = br.headers};
    cr_assert_eq(flo_stream_record_put(&B, &out), 0);
    flo_ops_count_patch(&B, pos, 1);
    check_response(FLO_STATUS_OK, VIEW(B));

    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_records_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_stream_record r;
    cr_assert_eq(flo_stream_records_next(&it, &r), 1);
    check_record(&r, TS + 9, "x");
    cr_assert(r.headers.wide);
    cr_assert_eq(r.headers.count, 1);
    struct flo_stream_hdr_iter hit;
    struct flo_stream_header got;
    flo_stream_hdr_begin(&r.headers, &hit);
    cr_assert_eq(flo_stream_hdr_next(&hit, &got), 1);
    ts_assert_buf_str(got.key, "content-type", "header key");
    ts_assert_buf_str(got.val, "text/plain", "header value");
    cr_assert_eq(flo_stream_hdr_next(&hit, &got), 0);
}

Test(vectors, ex13_stream_info)
{
    check_request(13, FLO_OP_STREAM_INFO, KEY("events"), FLO_BUF_NULL, FLO_BUF_NULL);
    struct flo_stream_info s = {
        .first = {TS, 0}, .last = {TS + 9, 0}, .count = 3, .bytes = 68, .partition_count = 1};
    cr_assert_eq(flo_stream_info_put(&B, &s), 0);
    cr_assert_eq(B.len, FLO_STREAM_INFO_SIZE);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_stream_info g;
    cr_assert_eq(flo_stream_dec_info(E.rs.body, &g), 0);
    cr_assert_eq(g.first.ts, TS);
    cr_assert_eq(g.first.seq, 0);
    cr_assert_eq(g.last.ts, TS + 9);
    cr_assert_eq(g.last.seq, 0);
    cr_assert_eq(g.count, 3);
    cr_assert_eq(g.bytes, 68);
    cr_assert_eq(g.partition_count, 1);
    cr_assert(g.has_retention);
    cr_assert_eq(g.retention_age_s, 0);
    cr_assert_eq(g.retention_count, 0);
    cr_assert_eq(g.retention_bytes, 0);
}

Test(vectors, ex14_stream_create)
{
    cr_assert_eq(flo_stream_create_value(&V, 4), 0);
    check_request(14, FLO_OP_STREAM_CREATE, KEY("orders"), VIEW(V), FLO_BUF_NULL);
    uint32_t pc = 0;
    cr_assert_eq(flo_stream_parse_create(E.env.value, &pc), 0);
    cr_assert_eq(pc, 4);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex30_stream_trim_maxlen)
{
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_MAXLEN, .maxlen = 2};
    cr_assert_eq(flo_stream_trim_opts(&O, &a), 0);
    check_request(30, FLO_OP_STREAM_TRIM, KEY("events"), FLO_BUF_NULL, VIEW(O));
    struct flo_stream_trim_args p;
    const char *msg = "unset";
    cr_assert_eq(flo_stream_parse_trim(E.env.value, E.env.opts, &p, &msg), 0);
    cr_assert_null(msg);
    cr_assert_eq(p.bound, FLO_TRIM_MAXLEN);
    cr_assert_eq(p.maxlen, 2);
    cr_assert_not(p.dry_run);

    cr_assert_eq(flo_stream_trim_reply_put(&B, 1, 0), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    uint64_t deleted = 9, first = 9;
    cr_assert_eq(flo_stream_dec_trim(E.rs.body, &deleted, &first), 0);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(first, 0);
}

/* ---- consumer groups ---- */

static void check_member(const char *group, const char *consumer)
{
    flo_buf_t g, c, rest;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_member(E.env.value, &g, &c, &rest, &msg), 0);
    ts_assert_buf_str(g, group, "group");
    ts_assert_buf_str(c, consumer, "consumer");
    cr_assert_eq(rest.len, 0);
}

Test(vectors, ex15_group_join)
{
    cr_assert_eq(flo_group_member_value(&V, KEY("billing"), KEY("c1")), 0);
    check_request(15, FLO_OP_GROUP_JOIN, KEY("events"), VIEW(V), FLO_BUF_NULL);
    check_member("billing", "c1");
    struct flo_group_join_reply j = {.generation = 1, .n_partitions = 1, .partition = 0};
    cr_assert_eq(flo_group_join_reply_put(&B, &j), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_group_join_reply g;
    cr_assert_eq(flo_group_dec_join(E.rs.body, &g), 0);
    cr_assert_eq(g.generation, 1);
    cr_assert_eq(g.n_partitions, 1);
    cr_assert_eq(g.partition, 0);
}

Test(vectors, ex16_group_read)
{
    cr_assert_eq(flo_group_member_value(&V, KEY("billing"), KEY("c1")), 0);
    struct flo_stream_read_args a = {.count = 10};
    cr_assert_eq(flo_stream_read_opts(&O, &a), 0);
    check_request(16, FLO_OP_GROUP_READ, KEY("events"), VIEW(V), VIEW(O));
    check_member("billing", "c1");
    struct flo_stream_read_args p;
    flo_stream_parse_read_opts(E.env.opts, &p);
    cr_assert_eq(p.count, 10);
    cr_assert_eq(p.block_ms, 0);

    put_one_record(TS, "login");
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_records_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_stream_record r;
    cr_assert_eq(flo_stream_records_next(&it, &r), 1);
    check_record(&r, TS, "login");
}

/* ack / nack / touch with one 16-byte id (TS, 0). */
static void check_ids_request(int num, uint16_t op)
{
    struct flo_stream_id id = {TS, 0};
    cr_assert_eq(flo_group_ids_value(&V, KEY("billing"), KEY("c1"), &id, 1), 0);
    check_request(num, op, KEY("events"), VIEW(V), FLO_BUF_NULL);
    struct flo_group_ids ids;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_ids(E.env.value, &ids, &msg), 0);
    ts_assert_buf_str(ids.group, "billing", "group");
    ts_assert_buf_str(ids.consumer, "c1", "consumer");
    cr_assert_eq(ids.declared, 1);
    cr_assert_eq(ids.n, 1);
    cr_assert_not(ids.legacy);
    struct flo_stream_id got = flo_group_ids_get(&ids, 0);
    cr_assert_eq(got.ts, TS);
    cr_assert_eq(got.seq, 0);
}

Test(vectors, ex17_group_ack)
{
    check_ids_request(17, FLO_OP_GROUP_ACK);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex18_group_ack_legacy_8_byte)
{
    cr_assert_eq(flo_group_member_value(&V, KEY("billing"), KEY("c1")), 0);
    cr_assert_eq(flo_wbuf_u32(&V, 2), 0);
    cr_assert_eq(flo_wbuf_u64(&V, 1), 0);
    cr_assert_eq(flo_wbuf_u64(&V, 2), 0);
    check_request(18, FLO_OP_GROUP_ACK, KEY("events"), VIEW(V), FLO_BUF_NULL);
    struct flo_group_ids ids;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_ids(E.env.value, &ids, &msg), 0);
    cr_assert(ids.legacy);
    cr_assert_eq(ids.declared, 2);
    cr_assert_eq(ids.n, 2);
    struct flo_stream_id a = flo_group_ids_get(&ids, 0), b = flo_group_ids_get(&ids, 1);
    cr_assert_eq(a.ts, 0);
    cr_assert_eq(a.seq, 1);
    cr_assert_eq(b.ts, 0);
    cr_assert_eq(b.seq, 2);
    /* The raw bytes are what a real server misreads as the single id (1, 2). */
    cr_assert_eq(ids.raw.len, 16);
    cr_assert_eq(flo_ld64(ids.raw.ptr), 1);
    cr_assert_eq(flo_ld64(ids.raw.ptr + 8), 2);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex19_group_nack)
{
    check_ids_request(19, FLO_OP_GROUP_NACK);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex33_group_touch)
{
    check_ids_request(33, FLO_OP_GROUP_TOUCH);
    cr_assert_eq(flo_wbuf_u32(&B, 1), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    uint32_t touched = 0;
    cr_assert_eq(flo_group_dec_touch(E.rs.body, &touched), 0);
    cr_assert_eq(touched, 1);
}

Test(vectors, ex31_group_pending)
{
    cr_assert_eq(flo_group_value(&V, KEY("billing")), 0);
    check_request(31, FLO_OP_GROUP_PENDING, KEY("events"), VIEW(V), FLO_BUF_NULL);
    flo_buf_t g, rest;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_name(E.env.value, &g, &rest, &msg), 0);
    ts_assert_buf_str(g, "billing", "group");
    cr_assert_eq(rest.len, 0, "no consumer filter");

    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_group_pending_entry e = {.id = {TS, 0}, .delivery_count = 1, .consumer = KEY("c1")};
    cr_assert_eq(flo_group_pending_put(&B, &e), 0);
    flo_ops_count_patch(&B, pos, 1);
    check_response(FLO_STATUS_OK, VIEW(B));

    struct flo_group_pending_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_group_pending_begin(E.rs.body, &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_group_pending_entry got;
    cr_assert_eq(flo_group_pending_next(&it, &got), 1);
    cr_assert_eq(got.id.ts, TS);
    cr_assert_eq(got.id.seq, 0);
    cr_assert_eq(got.delivery_count, 1);
    ts_assert_buf_str(got.consumer, "c1", "consumer");
    cr_assert_eq(flo_group_pending_next(&it, &got), 0);
}

Test(vectors, ex32_group_claim)
{
    struct flo_group_claim_args a = {.group = KEY("billing"),
                                     .consumer = KEY("c2"),
                                     .min_idle_ms = 60000,
                                     .start = {0, 0},
                                     .count = 10};
    cr_assert_eq(flo_group_claim_value(&V, &a), 0);
    check_request(32, FLO_OP_GROUP_CLAIM, KEY("events"), VIEW(V), FLO_BUF_NULL);
    struct flo_group_claim_args p;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_claim(E.env.value, &p, &msg), 0);
    ts_assert_buf_str(p.group, "billing", "group");
    ts_assert_buf_str(p.consumer, "c2", "consumer");
    cr_assert_eq(p.min_idle_ms, 60000);
    cr_assert_eq(p.start.ts, 0);
    cr_assert_eq(p.start.seq, 0);
    cr_assert_eq(p.count, 10);

    put_one_record(TS, "login");
    cr_assert_eq(flo_group_claim_cursor_put(&B, FLO_STREAM_ID_MAX), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    struct flo_stream_id next = {0, 0};
    cr_assert_eq(flo_group_claim_begin(E.rs.body, &it, &count, &next), 0);
    cr_assert_eq(count, 1);
    cr_assert_eq(next.ts, UINT64_MAX);
    cr_assert_eq(next.seq, UINT64_MAX);
    struct flo_stream_record r;
    cr_assert_eq(flo_stream_records_next(&it, &r), 1);
    check_record(&r, TS, "login");
    cr_assert_eq(flo_stream_records_next(&it, &r), 0);
}

Test(vectors, ex34_group_configure_sweeper)
{
    cr_assert_eq(flo_group_value(&V, KEY("billing")), 0);
    cr_assert_eq(flo_group_sweeper_opts(&O, true, 60000, true, 5), 0);
    check_request(34, FLO_OP_GROUP_CONFIGURE_SWEEPER, KEY("events"), VIEW(V), VIEW(O));
    uint32_t ack = 0;
    uint8_t md = 0;
    cr_assert(flo_opt_get_u32(E.env.opts, FLO_OPT_ACK_TIMEOUT_MS, &ack));
    cr_assert(flo_opt_get_u8(E.env.opts, FLO_OPT_MAX_DELIVER, &md));
    cr_assert_eq(ack, 60000);
    cr_assert_eq(md, 5);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex35_group_info)
{
    cr_assert_eq(flo_group_value(&V, KEY("billing")), 0);
    check_request(35, FLO_OP_GROUP_INFO, KEY("events"), VIEW(V), FLO_BUF_NULL);
    flo_buf_t g, rest;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_name(E.env.value, &g, &rest, &msg), 0);
    ts_assert_buf_str(g, "billing", "group");
    const uint64_t created_ns = TS * 1000000ull;
    struct flo_group_info i = {.pending_count = 1, .member_count = 2, .created_at_ns = created_ns};
    cr_assert_eq(flo_group_info_put(&B, &i), 0);
    cr_assert_eq(B.len, FLO_GROUP_INFO_SIZE);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_group_info got;
    cr_assert_eq(flo_group_dec_info(E.rs.body, &got), 0);
    cr_assert_eq(got.pending_count, 1);
    cr_assert_eq(got.member_count, 2);
    cr_assert_eq(got.created_at_ns, created_ns);
}

/* ---- actions ---- */

Test(vectors, ex20_action_register_server_form)
{
    struct flo_action_def d = {.type = 0, .timeout_ms = 30000, .max_retries = 3};
    cr_assert_eq(flo_action_register_value(&V, &d), 0);
    check_request(20, FLO_OP_ACTION_REGISTER, KEY("send-email"), VIEW(V), FLO_BUF_NULL);
    struct flo_action_def p;
    cr_assert_eq(flo_action_parse_register(E.env.value, &p), 0);
    cr_assert_not(p.sdk_form);
    cr_assert_eq(p.type, 0);
    cr_assert_eq(p.timeout_ms, 30000);
    cr_assert_eq(p.max_retries, 3);
    cr_assert_eq(p.owner.len, 0);
    check_response(FLO_STATUS_OK, E.env.key);
    ts_assert_buf_str(E.rs.body, "send-email", "reply = action name");
}

Test(vectors, ex21_action_invoke_idempotency)
{
    struct flo_action_invoke_args a = {.priority = 10,
                                       .has_idempotency_key = true,
                                       .idempotency_key = KEY("idem-1"),
                                       .input = KEY("{\"to\":\"a@b.c\"}")};
    cr_assert_eq(flo_action_invoke_value(&V, &a), 0);
    check_request(21, FLO_OP_ACTION_INVOKE, KEY("send-email"), VIEW(V), FLO_BUF_NULL);
    struct flo_action_invoke_args p;
    cr_assert_eq(flo_action_parse_invoke(E.env.value, &p), 0);
    cr_assert_not(p.short_form);
    cr_assert_eq(p.priority, 10);
    cr_assert_eq(p.delay_ms, 0);
    cr_assert(p.has_idempotency_key);
    ts_assert_buf_str(p.idempotency_key, "idem-1", "idempotency key");
    cr_assert_not(p.has_labels);
    ts_assert_buf_str(p.input, "{\"to\":\"a@b.c\"}", "input");

    char run_id[FLO_RUN_ID_MAX + 1];
    cr_assert_eq(flo_run_id_make(TS, 0, 0, run_id, sizeof run_id), (int)strlen(RUN_ID));
    cr_assert_str_eq(run_id, RUN_ID);
    cr_assert_eq(flo_action_invoke_reply_put(&B, FLO_BUF_STR(run_id)), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    flo_buf_t rid, output;
    cr_assert_eq(flo_action_dec_invoke(E.rs.body, &rid, &output), 0);
    ts_assert_buf_str(rid, RUN_ID, "run_id");
    cr_assert_eq(output.len, 0);
}

Test(vectors, ex22_action_status_completed)
{
    check_request(22, FLO_OP_ACTION_STATUS, KEY(RUN_ID), FLO_BUF_NULL, FLO_BUF_NULL);
    struct flo_action_run r = {.run_id = KEY(RUN_ID),
                               .status = FLO_RUN_COMPLETED,
                               .created_at_ms = (int64_t)TS,
                               .has_started = true,
                               .started_at_ms = (int64_t)TS + 10,
                               .has_completed = true,
                               .completed_at_ms = (int64_t)TS + 50};
    cr_assert_eq(flo_action_status_put(&B, &r), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_action_run g;
    cr_assert_eq(flo_action_dec_status(E.rs.body, &g), 0);
    ts_assert_buf_str(g.run_id, RUN_ID, "run_id");
    cr_assert_eq(g.status, FLO_RUN_COMPLETED);
    cr_assert_eq(g.created_at_ms, (int64_t)TS);
    cr_assert(g.has_started);
    cr_assert_eq(g.started_at_ms, (int64_t)TS + 10);
    cr_assert(g.has_completed);
    cr_assert_eq(g.completed_at_ms, (int64_t)TS + 50);
    cr_assert_not(g.has_output);
    cr_assert_not(g.has_error);
    cr_assert_eq(g.retry_count, 0);
}

Test(vectors, ex24_action_await_task)
{
    flo_buf_t names[] = {KEY("send-email")};
    cr_assert_eq(flo_action_await_value(&V, names, 1), 0);
    cr_assert_eq(flo_opt_u32(&O, FLO_OPT_BLOCK_MS, 30000), 0);
    check_request(24, FLO_OP_ACTION_AWAIT, KEY("w-1"), VIEW(V), VIEW(O));
    struct flo_name_list_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_action_parse_await(E.env.value, &it, &count), 0);
    cr_assert_eq(count, 1);
    flo_buf_t name;
    cr_assert_eq(flo_action_await_next(&it, &name), 1);
    ts_assert_buf_str(name, "send-email", "task type");
    cr_assert_eq(flo_action_await_next(&it, &name), 0);
    uint32_t block = 0;
    cr_assert(flo_opt_get_u32(E.env.opts, FLO_OPT_BLOCK_MS, &block));
    cr_assert_eq(block, 30000);

    struct flo_action_task t = {.task_id = KEY(RUN_ID),
                                .task_type = KEY("send-email"),
                                .created_at_ms = (int64_t)TS,
                                .attempt = 1,
                                .input = KEY("{\"to\":\"a@b.c\"}")};
    cr_assert_eq(flo_action_task_put(&B, &t), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    struct flo_action_task g;
    cr_assert_eq(flo_action_dec_task(E.rs.body, &g), 0);
    cr_assert(g.present);
    cr_assert_not(g.bare_run_id);
    ts_assert_buf_str(g.task_id, RUN_ID, "task_id");
    ts_assert_buf_str(g.task_type, "send-email", "task_type");
    cr_assert_eq(g.created_at_ms, (int64_t)TS);
    cr_assert_eq(g.attempt, 1);
    cr_assert_not(g.has_caller);
    ts_assert_buf_str(g.input, "{\"to\":\"a@b.c\"}", "input");
}

Test(vectors, ex25_action_complete)
{
    struct flo_action_complete_args a = {.action = KEY("send-email"),
                                         .task_id = KEY(RUN_ID),
                                         .outcome = KEY("success"),
                                         .has_result = true,
                                         .result = KEY("{\"ok\":true}")};
    cr_assert_eq(flo_action_complete_value(&V, &a), 0);
    check_request(25, FLO_OP_ACTION_COMPLETE, KEY("w-1"), VIEW(V), FLO_BUF_NULL);
    struct flo_action_complete_args p;
    cr_assert_eq(flo_action_parse_complete(E.env.value, &p), 0);
    ts_assert_buf_str(p.action, "send-email", "action");
    ts_assert_buf_str(p.task_id, RUN_ID, "task_id");
    ts_assert_buf_str(p.outcome, "success", "outcome");
    cr_assert(p.has_result);
    ts_assert_buf_str(p.result, "{\"ok\":true}", "result");
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex26_action_fail_retry)
{
    struct flo_action_fail_args a = {.action = KEY("send-email"),
                                     .task_id = KEY("act-c345c3e2000001"),
                                     .retry = true,
                                     .message = KEY("smtp timeout")};
    cr_assert_eq(flo_action_fail_value(&V, &a), 0);
    check_request(26, FLO_OP_ACTION_FAIL, KEY("w-1"), VIEW(V), FLO_BUF_NULL);
    struct flo_action_fail_args p;
    cr_assert_eq(flo_action_parse_fail(E.env.value, &p), 0);
    ts_assert_buf_str(p.action, "send-email", "action");
    ts_assert_buf_str(p.task_id, "act-c345c3e2000001", "task_id");
    cr_assert(p.retry);
    ts_assert_buf_str(p.message, "smtp timeout", "message");
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex37_action_touch)
{
    struct flo_action_touch_args a = {.action = KEY("send-email"),
                                      .task_id = KEY(RUN_ID),
                                      .has_extend = true,
                                      .extend_ms = 30000};
    cr_assert_eq(flo_action_touch_value(&V, &a), 0);
    check_request(37, FLO_OP_ACTION_TOUCH, KEY("w-1"), VIEW(V), FLO_BUF_NULL);
    struct flo_action_touch_args p;
    cr_assert_eq(flo_action_parse_touch(E.env.value, &p), 0);
    ts_assert_buf_str(p.action, "send-email", "action");
    ts_assert_buf_str(p.task_id, RUN_ID, "task_id");
    cr_assert(p.has_extend);
    cr_assert_eq(p.extend_ms, 30000);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

/* ---- workers ---- */

Test(vectors, ex23_worker_register)
{
    struct flo_worker_process proc = {.name = KEY("send-email"), .kind = 0};
    struct flo_worker_reg r = {.type = 0, .max_concurrency = 10, .procs = &proc, .n_procs = 1};
    cr_assert_eq(flo_worker_register_value(&V, &r), 0);
    check_request(23, FLO_OP_WORKER_REGISTER, KEY("w-1"), VIEW(V), FLO_BUF_NULL);
    struct flo_worker_reg p;
    cr_assert_eq(flo_worker_parse_register(E.env.value, &p), 0);
    cr_assert_eq(p.type, 0);
    cr_assert_eq(p.max_concurrency, 10);
    cr_assert_eq(p.parsed.count, 1);
    cr_assert_not(p.has_metadata);
    cr_assert_not(p.has_machine_id);
    struct flo_worker_proc_iter it;
    struct flo_worker_process got;
    flo_worker_proc_begin(&p.parsed, &it);
    cr_assert_eq(flo_worker_proc_next(&it, &got), 1);
    ts_assert_buf_str(got.name, "send-email", "process name");
    cr_assert_eq(got.kind, 0);
    cr_assert_eq(flo_worker_proc_next(&it, &got), 0);
    check_response(FLO_STATUS_OK, FLO_BUF_NULL);
    cr_assert_eq(E.rs.body.len, 0);
}

Test(vectors, ex27_worker_heartbeat)
{
    cr_assert_eq(flo_worker_heartbeat_value(&V, 3), 0);
    check_request(27, FLO_OP_WORKER_HEARTBEAT, KEY("w-1"), VIEW(V), FLO_BUF_NULL);
    uint32_t load = 0;
    cr_assert_eq(flo_worker_parse_heartbeat(E.env.value, &load), 0);
    cr_assert_eq(load, 3);
    cr_assert_eq(flo_wbuf_u8(&B, FLO_WORKER_ACTIVE), 0);
    check_response(FLO_STATUS_OK, VIEW(B));
    uint8_t st = 9;
    cr_assert_eq(flo_worker_dec_heartbeat(E.rs.body, &st), 0);
    cr_assert_eq(st, FLO_WORKER_ACTIVE);
}

/* Every example has a test above: 1-37. */
Test(vectors, all_examples_present)
{
    cr_assert_eq(sizeof ops_vectors / sizeof ops_vectors[0], OPS_VECTOR_COUNT + 1);
    for (int i = 1; i <= OPS_VECTOR_COUNT; i++) {
        uint8_t buf[VEC_MAX];
        size_t n = ts_unhex(ops_vectors[i].req, buf, sizeof buf);
        cr_assert_geq(n, FLO_HEADER_SIZE, "example %d request", i);
        struct flo_frame f;
        cr_assert_eq(flo_frame_decode(buf, n, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f), (long)n,
                     "example %d request frame (CRC)", i);
        n = ts_unhex(ops_vectors[i].resp, buf, sizeof buf);
        cr_assert_eq(flo_frame_decode(buf, n, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &f), (long)n,
                     "example %d response frame (CRC)", i);
    }
}
