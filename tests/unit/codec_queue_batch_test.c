/*
 * The batch-enqueue value and reply and the touch reply: flo-dev's layouts
 * for ops no real server defines (flo_ops.h, docs/flo-dev.md).
 */
#include <criterion/criterion.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "ts_bytes.h"

Test(queue_batch, value_round_trips_through_the_server_parser)
{
    struct flo_queue_batch_msg in[3] = {
        {FLO_BUF_STR("a"), 5},
        {FLO_BUF("\0\xff", 2), 0},
        {FLO_BUF_NULL, 255},
    };
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_queue_batch_value(&v, in, 3), 0);
    uint8_t want[64];
    size_t wlen = ts_unhex("03000000"
                           "01000000 61 05"
                           "02000000 00ff 00"
                           "00000000 ff",
                           want, sizeof want);
    ts_assert_bytes(flo_wbuf_view(&v), FLO_BUF(want, wlen), "batch value", 0);
    struct flo_queue_batch_iter it;
    uint32_t n;
    cr_assert_eq(flo_queue_batch_begin(flo_wbuf_view(&v), &it, &n), 0);
    cr_assert_eq(n, 3);
    struct flo_queue_batch_msg m;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(flo_queue_batch_next(&it, &m), 1);
        cr_assert_eq(m.payload.len, in[i].payload.len);
        cr_assert(m.payload.len == 0 ||
                  memcmp(m.payload.ptr, in[i].payload.ptr, m.payload.len) == 0);
        cr_assert_eq(m.priority, in[i].priority);
    }
    cr_assert_eq(flo_queue_batch_next(&it, &m), 0);
    flo_wbuf_free(&v);
}

Test(queue_batch, encoder_refuses_empty_and_oversized_batches)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct flo_queue_batch_msg one = {FLO_BUF_STR("x"), 0};
    cr_assert_eq(flo_queue_batch_value(&v, &one, 0), FLO_EINVAL);
    cr_assert_eq(flo_queue_batch_value(&v, &one, FLO_QUEUE_MAX_BATCH + 1), FLO_EINVAL);
    flo_wbuf_free(&v);
}

Test(queue_batch, parser_rejects_bad_values)
{
    struct flo_queue_batch_iter it;
    uint32_t n;
    uint8_t b[64];
    struct {
        const char *hex;
        int want;
    } rows[] = {
        {"00000000", FLO_EINVAL}, /* empty batch */
        {"e9030000", FLO_ELIMIT}, /* 1001 messages */
        {"01000000"
         "05000000"
         "6162",
         FLO_ETRUNC}, /* payload cut short */
        {"01000000"
         "01000000"
         "61",
         FLO_ETRUNC}, /* priority missing */
        {"01000000"
         "01000000"
         "61"
         "00"
         "ff",
         FLO_EMALFORMED},     /* trailing byte */
        {"0100", FLO_ETRUNC}, /* count cut short */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = ts_unhex(rows[i].hex, b, sizeof b);
        cr_assert_eq(flo_queue_batch_begin(FLO_BUF(b, len), &it, &n), rows[i].want, "row %zu", i);
        cr_assert_eq(n, 0);
    }
}

Test(queue_batch, reply_round_trips)
{
    uint64_t seqs[] = {7, 8, 1ull << 40};
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_queue_batch_reply_put(&b, seqs, 3), 0);
    uint32_t n;
    flo_buf_t v;
    cr_assert_eq(flo_queue_dec_batch(flo_wbuf_view(&b), &n, &v), 0);
    cr_assert_eq(n, 3);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(flo_ld64(v.ptr + 8 * i), seqs[i]);
    }
    b.len -= 1;
    cr_assert_eq(flo_queue_dec_batch(flo_wbuf_view(&b), &n, &v), FLO_ETRUNC);
    cr_assert_eq(flo_wbuf_u8(&b, 0), 0);
    cr_assert_eq(flo_wbuf_u8(&b, 0), 0);
    cr_assert_eq(flo_queue_dec_batch(flo_wbuf_view(&b), &n, &v), FLO_EMALFORMED);
    flo_wbuf_free(&b);
}

Test(queue_touch, reply_is_one_i64)
{
    uint8_t body[8];
    flo_st64(body, 1717171717000ull);
    int64_t d = 0;
    cr_assert_eq(flo_queue_dec_touch(FLO_BUF(body, 8), &d), 0);
    cr_assert_eq(d, 1717171717000ll);
    cr_assert_eq(flo_queue_dec_touch(FLO_BUF(body, 7), &d), FLO_ETRUNC);
    cr_assert_eq(flo_queue_dec_touch(FLO_BUF_NULL, &d), FLO_ETRUNC);
}
