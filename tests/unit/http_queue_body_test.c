/*
 * Unit tests for protocols/http/http_queue_body.c: enqueue bodies (one
 * JSON message, arrays, base64 payloads, defaults from the query, every
 * refusal), the batch-enqueue value and reply, {"seqs": [...]} lists,
 * message lists written as JSON, the DLQ-summary 501 and the shared 501
 * mapping of operations an upstream Flo server lacks.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_json.h"
#include "http_queue_body.h"
#include "proto.h"

static int parse(const char *body, const struct http_queue_msg *defaults, const char *dedup,
                 struct http_queue_batch *b, struct proto_err *e)
{
    static const struct http_queue_msg none;
    return http_queue_parse_enqueue(FLO_BUF_STR(body), defaults ? defaults : &none,
                                    dedup ? FLO_BUF_STR(dedup) : FLO_BUF_NULL, b, e);
}

static void expect_payload(const struct http_queue_batch *b, size_t i, const void *p, size_t n)
{
    flo_buf_t payload;
    struct flo_queue_enqueue_args a;
    http_queue_msg_view(b, i, &payload, &a);
    cr_assert_eq(payload.len, n, "message %zu: length %zu, want %zu", i, payload.len, n);
    cr_assert(n == 0 || memcmp(payload.ptr, p, n) == 0, "message %zu: bytes differ", i);
}

/* ---- enqueue bodies ---- */

Test(http_queue_enqueue, one_object_with_every_field)
{
    struct http_queue_batch b;
    struct proto_err e;
    http_queue_batch_init(&b);
    cr_assert_eq(parse("{\"payload\":\"hello\",\"priority\":7,\"delay_ms\":250,"
                       "\"dedup_key\":\"k1\",\"max_retries\":\"5\"}",
                       NULL, NULL, &b, &e),
                 0, "%s", e.message);
    cr_assert_eq(b.n, 1);
    cr_assert(!b.is_array);
    expect_payload(&b, 0, "hello", 5);
    flo_buf_t p;
    struct flo_queue_enqueue_args a;
    http_queue_msg_view(&b, 0, &p, &a);
    cr_assert(a.has_priority);
    cr_assert_eq(a.priority, 7);
    cr_assert_eq(a.delay_ms, 250);
    cr_assert_eq(a.dedup_key.len, 2);
    cr_assert_eq(memcmp(a.dedup_key.ptr, "k1", 2), 0);
    cr_assert(a.has_max_retries);
    cr_assert_eq(a.max_retries, 5);
    http_queue_batch_free(&b);
}

Test(http_queue_enqueue, array_keeps_order_and_base64_is_byte_exact)
{
    struct http_queue_batch b;
    struct proto_err e;
    http_queue_batch_init(&b);
    /* AP8AAQ== is 00 FF 00 01: NUL bytes and invalid UTF-8 survive. */
    cr_assert_eq(parse("[{\"payload\":\"a\"},{\"payload\":\"AP8AAQ==\",\"encoding\":\"base64\"},"
                       "{\"payload\":\"\"},{\"payload\":\"caf\\u00e9\",\"encoding\":\"utf8\"}]",
                       NULL, NULL, &b, &e),
                 0, "%s", e.message);
    cr_assert(b.is_array);
    cr_assert_eq(b.n, 4);
    expect_payload(&b, 0, "a", 1);
    expect_payload(&b, 1, "\x00\xff\x00\x01", 4);
    expect_payload(&b, 2, "", 0);
    expect_payload(&b, 3, "caf\xc3\xa9", 5);
    http_queue_batch_free(&b);
}

Test(http_queue_enqueue, query_defaults_apply_unless_the_message_overrides)
{
    struct http_queue_batch b;
    struct proto_err e;
    struct http_queue_msg d = {.has_priority = true, .priority = 9, .delay_ms = 100};
    http_queue_batch_init(&b);
    cr_assert_eq(
        parse("[{\"payload\":\"x\"},{\"payload\":\"y\",\"priority\":1}]", &d, NULL, &b, &e), 0);
    flo_buf_t p;
    struct flo_queue_enqueue_args a;
    http_queue_msg_view(&b, 0, &p, &a);
    cr_assert_eq(a.priority, 9);
    cr_assert_eq(a.delay_ms, 100);
    http_queue_msg_view(&b, 1, &p, &a);
    cr_assert_eq(a.priority, 1);
    cr_assert_eq(a.delay_ms, 100);
    http_queue_batch_free(&b);

    /* A raw body takes the query's options, dedup key included. */
    http_queue_batch_init(&b);
    cr_assert_eq(http_queue_batch_add_raw(&b, FLO_BUF("\x01\x02", 2), &d, FLO_BUF_STR("dk"), &e),
                 0);
    cr_assert_eq(b.n, 1);
    expect_payload(&b, 0, "\x01\x02", 2);
    http_queue_msg_view(&b, 0, &p, &a);
    cr_assert_eq(a.priority, 9);
    cr_assert_eq(a.dedup_key.len, 2);
    http_queue_batch_free(&b);
}

static void expect_refused(const char *body, const char *dedup, int status, const char *needle)
{
    struct http_queue_batch b;
    struct proto_err e;
    http_queue_batch_init(&b);
    cr_assert_eq(parse(body, NULL, dedup, &b, &e), -1, "accepted: %.80s", body);
    cr_assert_eq(e.http_status, status, "%.80s: status %d (%s)", body, e.http_status, e.message);
    cr_assert(strstr(e.message, needle) != NULL, "%.80s: message \"%s\" lacks \"%s\"", body,
              e.message, needle);
    http_queue_batch_free(&b);
}

Test(http_queue_enqueue, bad_bodies_get_clear_400s)
{
    expect_refused("", NULL, 400, "empty");
    expect_refused("{\"payload\":", NULL, 400, "not valid JSON");
    expect_refused("\"text\"", NULL, 400, "JSON object");
    expect_refused("[]", NULL, 400, "empty");
    expect_refused("{\"priority\":1}", NULL, 400, "\"payload\" is required");
    expect_refused("{\"payload\":1}", NULL, 400, "must be a string");
    expect_refused("{\"payload\":\"x\",\"priority\":256}", NULL, 400, "priority");
    expect_refused("{\"payload\":\"x\",\"priority\":-1}", NULL, 400, "priority");
    expect_refused("{\"payload\":\"x\",\"priority\":1.5}", NULL, 400, "priority");
    expect_refused("{\"payload\":\"x\",\"delay_ms\":\"soon\"}", NULL, 400, "delay_ms");
    expect_refused("{\"payload\":\"x\",\"colour\":\"red\"}", NULL, 400, "unknown field");
    expect_refused("{\"payload\":\"%%%\",\"encoding\":\"base64\"}", NULL, 400, "base64");
    expect_refused("{\"payload\":\"x\",\"encoding\":\"hex\"}", NULL, 400, "encoding");
    expect_refused("{\"payload\":\"x\",\"dedup_key\":\"\"}", NULL, 400, "dedup_key");
    expect_refused("[{\"payload\":\"x\"},7]", NULL, 400, "message 1");
    expect_refused("[{\"payload\":\"x\"}]", "k", 400, "dedup_key");
    expect_refused("{\"payload\":\"a\\u0000b\"}", NULL, 400, "base64");
}

Test(http_queue_enqueue, too_many_messages_is_413)
{
    size_t n = HTTP_QUEUE_MAX_BATCH + 1;
    char *body = malloc(n * 16 + 2);
    cr_assert_not_null(body);
    size_t len = 0;
    body[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(body + len, "%s{\"payload\":\"m\"}", i ? "," : "");
    }
    body[len++] = ']';
    body[len] = '\0';
    expect_refused(body, NULL, 413, "limit");
    free(body);
}

/* ---- batch value ---- */

Test(http_queue_batch, value_layout_and_chunking)
{
    struct http_queue_batch b;
    struct proto_err e;
    struct flo_wbuf v;
    size_t taken;
    http_queue_batch_init(&b);
    flo_wbuf_init(&v);
    cr_assert_eq(parse("[{\"payload\":\"ab\",\"priority\":3},{\"payload\":\"c\"},"
                       "{\"payload\":\"dddd\"}]",
                       NULL, NULL, &b, &e),
                 0);
    cr_assert(http_queue_batchable(&b, 0, 3));
    cr_assert_eq(http_queue_batch_value(&v, &b, 0, 1 << 20, &taken), 0);
    cr_assert_eq(taken, 3);
    static const uint8_t want[] = {3, 0, 0,   0, 2, 0, 0, 0, 'a', 'b', 3,   1,   0,
                                   0, 0, 'c', 0, 4, 0, 0, 0, 'd', 'd', 'd', 'd', 0};
    cr_assert_eq(v.len, sizeof(want));
    cr_assert_eq(memcmp(v.data, want, sizeof(want)), 0);

    /* A small limit cuts the chunk, never below one message. */
    flo_wbuf_reset(&v);
    cr_assert_eq(http_queue_batch_value(&v, &b, 0, 4 + 5 + 2 + 5 + 1, &taken), 0);
    cr_assert_eq(taken, 2);
    flo_wbuf_reset(&v);
    cr_assert_eq(http_queue_batch_value(&v, &b, 2, 1, &taken), 0);
    cr_assert_eq(taken, 1);
    flo_wbuf_free(&v);
    http_queue_batch_free(&b);
}

Test(http_queue_batch, dedup_or_mixed_delays_are_not_batchable)
{
    struct http_queue_batch b;
    struct proto_err e;
    struct flo_wbuf v;
    size_t taken;
    http_queue_batch_init(&b);
    flo_wbuf_init(&v);
    cr_assert_eq(
        parse("[{\"payload\":\"a\"},{\"payload\":\"b\"},{\"payload\":\"c\",\"delay_ms\":5},"
              "{\"payload\":\"d\",\"dedup_key\":\"k\"}]",
              NULL, NULL, &b, &e),
        0);
    cr_assert(http_queue_batchable(&b, 0, 2));
    cr_assert(!http_queue_batchable(&b, 0, 3));
    cr_assert(!http_queue_batchable(&b, 3, 1));
    cr_assert(!http_queue_batchable(&b, 3, 2)); /* past the end */
    cr_assert_eq(http_queue_batch_value(&v, &b, 0, 1 << 20, &taken), 0);
    cr_assert_eq(taken, 2);
    flo_wbuf_free(&v);
    http_queue_batch_free(&b);
}

Test(http_queue_batch, reply_decoding)
{
    static const uint8_t ok[] = {2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
    uint64_t seqs[2];
    cr_assert_eq(http_queue_dec_batch(FLO_BUF(ok, sizeof(ok)), 2, seqs), 0);
    cr_assert_eq(seqs[0], 7);
    cr_assert_eq(seqs[1], 9);
    cr_assert_eq(http_queue_dec_batch(FLO_BUF(ok, sizeof(ok)), 3, seqs), FLO_EMALFORMED);
    cr_assert_eq(http_queue_dec_batch(FLO_BUF(ok, sizeof(ok) - 1), 2, seqs), FLO_ETRUNC);
    cr_assert_eq(http_queue_dec_batch(FLO_BUF(ok, 2), 2, seqs), FLO_ETRUNC);
}

/* ---- sequence lists ---- */

Test(http_queue_seqs, numbers_and_digit_strings)
{
    struct http_queue_seqs s;
    struct proto_err e;
    cr_assert_eq(http_queue_parse_seqs(FLO_BUF_STR("{\"seqs\":[1,\"18446744073709551615\",42]}"),
                                       HTTP_QSEQ_ACK, &s, &e),
                 0, "%s", e.message);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.seqs[0], 1);
    cr_assert_eq(s.seqs[1], UINT64_MAX);
    cr_assert_eq(s.seqs[2], 42);
    http_queue_seqs_free(&s);

    cr_assert_eq(http_queue_parse_seqs(FLO_BUF_STR("{\"seqs\":[5],\"to_dlq\":true}"),
                                       HTTP_QSEQ_NACK, &s, &e),
                 0);
    cr_assert(s.to_dlq);
    http_queue_seqs_free(&s);
    cr_assert_eq(http_queue_parse_seqs(FLO_BUF_STR("{\"seqs\":[5],\"visibility_timeout_ms\":900}"),
                                       HTTP_QSEQ_TOUCH, &s, &e),
                 0);
    cr_assert_eq(s.visibility_ms, 900);
    http_queue_seqs_free(&s);
}

static void seqs_refused(const char *body, enum http_queue_seq_op_e op, int status,
                         const char *needle)
{
    struct http_queue_seqs s;
    struct proto_err e;
    cr_assert_eq(http_queue_parse_seqs(FLO_BUF_STR(body), op, &s, &e), -1, "accepted %s", body);
    cr_assert_eq(e.http_status, status, "%s: %d %s", body, e.http_status, e.message);
    cr_assert(strstr(e.message, needle) != NULL, "%s: \"%s\" lacks \"%s\"", body, e.message,
              needle);
    cr_assert_null(s.seqs);
}

Test(http_queue_seqs, bad_lists_get_clear_400s)
{
    seqs_refused("", HTTP_QSEQ_ACK, 400, "empty");
    seqs_refused("{\"seqs\":[1,", HTTP_QSEQ_ACK, 400, "not valid JSON");
    seqs_refused("[1,2]", HTTP_QSEQ_ACK, 400, "JSON object");
    seqs_refused("{}", HTTP_QSEQ_ACK, 400, "\"seqs\"");
    seqs_refused("{\"seqs\":[]}", HTTP_QSEQ_ACK, 400, "empty");
    seqs_refused("{\"seqs\":\"1\"}", HTTP_QSEQ_ACK, 400, "array");
    seqs_refused("{\"seqs\":[1,\"two\"]}", HTTP_QSEQ_ACK, 400, "seqs[1]");
    seqs_refused("{\"seqs\":[0]}", HTTP_QSEQ_ACK, 400, "seqs[0]");
    seqs_refused("{\"seqs\":[-3]}", HTTP_QSEQ_ACK, 400, "seqs[0]");
    seqs_refused("{\"seqs\":[1.5]}", HTTP_QSEQ_ACK, 400, "seqs[0]");
    seqs_refused("{\"seqs\":[\"18446744073709551616\"]}", HTTP_QSEQ_ACK, 400, "seqs[0]");
    /* Fields belong to their op only. */
    seqs_refused("{\"seqs\":[1],\"to_dlq\":true}", HTTP_QSEQ_ACK, 400, "unknown field");
    seqs_refused("{\"seqs\":[1],\"to_dlq\":1}", HTTP_QSEQ_NACK, 400, "to_dlq");
    seqs_refused("{\"seqs\":[1],\"visibility_timeout_ms\":99999999999}", HTTP_QSEQ_TOUCH, 400,
                 "visibility_timeout_ms");
}

Test(http_queue_seqs, too_many_is_413)
{
    size_t n = HTTP_QUEUE_MAX_SEQS + 1;
    char *body = malloc(n * 8 + 16);
    cr_assert_not_null(body);
    size_t len = (size_t)sprintf(body, "{\"seqs\":[");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(body + len, "%s%zu", i ? "," : "", i + 1);
    }
    sprintf(body + len, "]}");
    seqs_refused(body, HTTP_QSEQ_ACK, 413, "limit");
    free(body);
}

/* ---- message lists as JSON ---- */

static cJSON *msgs_doc(flo_buf_t body, int64_t deadline)
{
    struct flo_wbuf out;
    struct http_json j;
    flo_wbuf_init(&out);
    http_json_init(&j, &out);
    http_json_begin(&j);
    cr_assert_eq(http_queue_msgs_json(&j, body, deadline), 0);
    http_json_end(&j);
    cr_assert_eq(j.err, 0);
    cJSON *doc = cJSON_ParseWithLength((const char *)out.data, out.len);
    cr_assert_not_null(doc, "not JSON: %.*s", (int)out.len, (const char *)out.data);
    flo_wbuf_free(&out);
    return doc;
}

Test(http_queue_msgs, dequeue_layout_with_trailer_and_binary_payload)
{
    struct flo_wbuf b;
    size_t pos;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_ops_count_reserve(&b, &pos), 0);
    struct flo_queue_msg m1 = {.seq = 3,
                               .payload = FLO_BUF_STR("text"),
                               .enqueued_at_ms = 1700000000000,
                               .delivery_count = 2,
                               .priority = 4};
    struct flo_queue_msg m2 = {.seq = 4, .payload = FLO_BUF("\xff\x00", 2), .delivery_count = 1};
    cr_assert_eq(flo_queue_msg_put(&b, &m1), 0);
    cr_assert_eq(flo_queue_msg_put(&b, &m2), 0);
    flo_ops_count_patch(&b, pos, 2);

    cJSON *doc = msgs_doc(flo_wbuf_view(&b), 1800000000000);
    const cJSON *msgs = cJSON_GetObjectItem(doc, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 2);
    cr_assert_eq(cJSON_GetObjectItem(doc, "count")->valuedouble, 2);
    const cJSON *a = cJSON_GetArrayItem(msgs, 0);
    cr_assert_eq(cJSON_GetObjectItem(a, "seq")->valuedouble, 3);
    cr_assert_str_eq(cJSON_GetObjectItem(a, "payload")->valuestring, "text");
    cr_assert_null(cJSON_GetObjectItem(a, "encoding"));
    cr_assert_eq(cJSON_GetObjectItem(a, "priority")->valuedouble, 4);
    cr_assert_eq(cJSON_GetObjectItem(a, "attempts")->valuedouble, 2);
    cr_assert_eq(cJSON_GetObjectItem(a, "enqueued_at_ms")->valuedouble, 1700000000000.0);
    cr_assert_eq(cJSON_GetObjectItem(a, "lease_deadline_ms")->valuedouble, 1800000000000.0);
    const cJSON *c = cJSON_GetArrayItem(msgs, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(c, "payload")->valuestring, "/wA=");
    cr_assert_str_eq(cJSON_GetObjectItem(c, "encoding")->valuestring, "base64");
    cJSON_Delete(doc);

    /* No deadline for peek / DLQ listings. */
    doc = msgs_doc(flo_wbuf_view(&b), 0);
    a = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "messages"), 0);
    cr_assert_null(cJSON_GetObjectItem(a, "lease_deadline_ms"));
    cJSON_Delete(doc);
    flo_wbuf_free(&b);
}

Test(http_queue_msgs, empty_bodies_and_malformed_ones)
{
    static const uint8_t zero[4] = {0};
    cJSON *doc = msgs_doc(FLO_BUF(zero, 4), 0);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "messages")), 0);
    cJSON_Delete(doc);
    doc = msgs_doc(FLO_BUF_NULL, 0);
    cr_assert_eq(cJSON_GetObjectItem(doc, "count")->valuedouble, 0);
    cJSON_Delete(doc);

    static const uint8_t bad[] = {1, 0, 0, 0, 7, 0};
    struct flo_wbuf out;
    struct http_json j;
    flo_wbuf_init(&out);
    http_json_init(&j, &out);
    http_json_begin(&j);
    cr_assert_lt(http_queue_msgs_json(&j, FLO_BUF(bad, sizeof(bad)), 0), 0);
    flo_wbuf_free(&out);
}

/* ---- what an upstream without the documented model answers ---- */

Test(http_queue_upstream, dlq_summary_is_501_with_the_total)
{
    static const uint8_t summary[12] = {0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t empty_list[4] = {0};
    struct proto_err e;
    cr_assert(http_queue_dlq_summary_err(FLO_BUF(summary, sizeof(summary)), &e));
    cr_assert_eq(e.http_status, 501);
    cr_assert_str_eq(e.code, "not_supported");
    cr_assert(strstr(e.message, "5 messages") != NULL, "%s", e.message);
    cr_assert(!http_queue_dlq_summary_err(FLO_BUF(empty_list, 4), &e));
}

Test(http_queue_upstream, missing_ops_map_to_501_never_success)
{
    struct proto_err e;
    /* No handler (touch, batch enqueue on a real server): status 9. */
    proto_err_from_status(&e, FLO_STATUS_INTERNAL, FLO_BUF_STR("not implemented"));
    cr_assert_eq(e.http_status, 501);
    cr_assert_str_eq(e.code, "not_supported");
    cr_assert(strstr(e.message, "not supported by the upstream Flo server") != NULL);
    /* A handler that refuses (DLQ requeue / delete): status 3. */
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST,
                          FLO_BUF_STR("dlq requeue not yet implemented"));
    cr_assert_eq(e.http_status, 501);
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST,
                          FLO_BUF_STR("dlq delete not yet implemented"));
    cr_assert_eq(e.http_status, 501);
    /* Other queue errors keep their own status. */
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST, FLO_BUF_STR("message sequence is required"));
    cr_assert_eq(e.http_status, 400);
    proto_err_from_status(&e, FLO_STATUS_NOT_FOUND, FLO_BUF_STR("message not found in this queue"));
    cr_assert_eq(e.http_status, 404);
}

Test(http_queue_ctype, json_media_type_detection)
{
    cr_assert(http_queue_is_json("application/json"));
    cr_assert(http_queue_is_json("Application/JSON; charset=utf-8"));
    cr_assert(http_queue_is_json(" application/json"));
    cr_assert(!http_queue_is_json(NULL));
    cr_assert(!http_queue_is_json("application/octet-stream"));
    cr_assert(!http_queue_is_json("application/jsonx"));
    cr_assert(!http_queue_is_json("text/plain"));
    cr_assert(!http_queue_is_json("application/x-www-form-urlencoded"));
}
