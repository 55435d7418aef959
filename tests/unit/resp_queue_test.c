/*
 * Unit tests of protocols/resp/resp_queue.c: the argument parser of the
 * queue commands and the reply encoders (message lists and stats in RESP2
 * and RESP3), byte for byte. The engines that talk upstream are covered by
 * tests/integration/resp_queue_test.c.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_error.h"
#include "resp_queue.h"

static bool arg(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    return resp__q_arg_u64(FLO_BUF_STR(s), min, max, out);
}

Test(resp_queue_unit, arg_u64_accepts_plain_decimal_in_range)
{
    uint64_t v = 0;
    cr_assert(arg("1", 1, 10, &v));
    cr_assert_eq(v, 1);
    cr_assert(arg("0", 0, 10, &v));
    cr_assert_eq(v, 0);
    cr_assert(arg("18446744073709551615", 1, UINT64_MAX, &v));
    cr_assert_eq(v, UINT64_MAX);
}

Test(resp_queue_unit, arg_u64_refuses_everything_else)
{
    uint64_t v = 77;
    const char *bad[] = {
        "",   "-1", "+1", " 1", "1 ", "01", "1x", "18446744073709551616", "99999999999999999999",
        "1.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(arg(bad[i], 0, UINT64_MAX, &v), "'%s' accepted", bad[i]);
    }
    cr_assert_not(arg("0", 1, 10, &v), "below the minimum");
    cr_assert_not(arg("11", 1, 10, &v), "above the maximum");
    cr_assert_eq(v, 77, "the output is untouched on failure");
}

/* A dequeue-layout body with two messages. */
static void two_msgs(struct flo_wbuf *b)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(b, &pos), 0);
    struct flo_queue_msg m1 = {.seq = 7,
                               .payload = FLO_BUF("a\0b", 3),
                               .enqueued_at_ms = 1000,
                               .delivery_count = 1,
                               .priority = 2};
    struct flo_queue_msg m2 = {.seq = 9, .payload = FLO_BUF_NULL, .enqueued_at_ms = 2000};
    cr_assert_eq(flo_queue_msg_put(b, &m1), 0);
    cr_assert_eq(flo_queue_msg_put(b, &m2), 0);
    flo_ops_count_patch(b, pos, 2);
}

static void expect_reply(const struct resp_pending *p, const char *want, size_t len)
{
    cr_assert_eq(p->reply.len, len, "reply: '%.*s'", (int)p->reply.len,
                 (const char *)p->reply.data);
    cr_assert_eq(memcmp(p->reply.data, want, len), 0, "reply: '%.*s'", (int)p->reply.len,
                 (const char *)p->reply.data);
}

Test(resp_queue_unit, messages_resp2_flat_arrays_with_lease)
{
    struct flo_wbuf body;
    flo_wbuf_init(&body);
    two_msgs(&body);
    struct resp_pending p = {.proto = RESP_PROTO_2};
    flo_wbuf_init(&p.reply);
    cr_assert_eq(resp__q_reply_msgs(&p, flo_wbuf_view(&body), 31000), 0);
    static const char want[] = "*2\r\n"
                               "*12\r\n$3\r\nseq\r\n:7\r\n$7\r\npayload\r\n$3\r\na\0b\r\n"
                               "$8\r\nattempts\r\n:1\r\n$8\r\npriority\r\n:2\r\n"
                               "$14\r\nenqueued_at_ms\r\n:1000\r\n"
                               "$17\r\nlease_deadline_ms\r\n:31000\r\n"
                               "*12\r\n$3\r\nseq\r\n:9\r\n$7\r\npayload\r\n$0\r\n\r\n"
                               "$8\r\nattempts\r\n:0\r\n$8\r\npriority\r\n:0\r\n"
                               "$14\r\nenqueued_at_ms\r\n:2000\r\n"
                               "$17\r\nlease_deadline_ms\r\n:31000\r\n";
    expect_reply(&p, want, sizeof(want) - 1);
    flo_wbuf_free(&p.reply);
    flo_wbuf_free(&body);
}

Test(resp_queue_unit, messages_resp3_maps_without_lease)
{
    struct flo_wbuf body;
    flo_wbuf_init(&body);
    two_msgs(&body);
    struct resp_pending p = {.proto = RESP_PROTO_3};
    flo_wbuf_init(&p.reply);
    cr_assert_eq(resp__q_reply_msgs(&p, flo_wbuf_view(&body), -1), 0);
    static const char want[] = "*2\r\n"
                               "%5\r\n$3\r\nseq\r\n:7\r\n$7\r\npayload\r\n$3\r\na\0b\r\n"
                               "$8\r\nattempts\r\n:1\r\n$8\r\npriority\r\n:2\r\n"
                               "$14\r\nenqueued_at_ms\r\n:1000\r\n"
                               "%5\r\n$3\r\nseq\r\n:9\r\n$7\r\npayload\r\n$0\r\n\r\n"
                               "$8\r\nattempts\r\n:0\r\n$8\r\npriority\r\n:0\r\n"
                               "$14\r\nenqueued_at_ms\r\n:2000\r\n";
    expect_reply(&p, want, sizeof(want) - 1);
    flo_wbuf_free(&p.reply);
    flo_wbuf_free(&body);
}

Test(resp_queue_unit, empty_and_malformed_message_lists)
{
    struct resp_pending p = {.proto = RESP_PROTO_2};
    flo_wbuf_init(&p.reply);
    cr_assert_eq(resp__q_reply_msgs(&p, FLO_BUF_NULL, -1), 0, "0 bytes = empty list");
    expect_reply(&p, "*0\r\n", 4);
    flo_wbuf_reset(&p.reply);
    static const uint8_t truncated[] = {1, 0, 0, 0, 7, 0};
    cr_assert_lt(resp__q_reply_msgs(&p, FLO_BUF(truncated, sizeof(truncated)), -1), 0);
    cr_assert_eq(p.reply.len, 0, "nothing written for a bad body");
    flo_wbuf_free(&p.reply);
}

Test(resp_queue_unit, stats_map)
{
    struct flo_queue_stats st = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct resp_pending p = {.proto = RESP_PROTO_3};
    flo_wbuf_init(&p.reply);
    resp__q_reply_stats(&p, &st);
    static const char want[] = "%9\r\n$8\r\nenqueued\r\n:1\r\n$8\r\ndequeued\r\n:2\r\n"
                               "$5\r\nacked\r\n:3\r\n$6\r\nnacked\r\n:4\r\n"
                               "$9\r\ndlq_total\r\n:5\r\n$14\r\nleases_expired\r\n:6\r\n"
                               "$9\r\nready_now\r\n:7\r\n$10\r\nleased_now\r\n:8\r\n"
                               "$7\r\ndlq_now\r\n:9\r\n";
    expect_reply(&p, want, sizeof(want) - 1);
    flo_wbuf_free(&p.reply);
}
