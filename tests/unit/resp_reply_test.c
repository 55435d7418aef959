/*
 * RESP2/RESP3 reply encodings of protocols/resp/resp_reply.c, byte for byte
 * against what redis-server 7 writes.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "resp_reply.h"

static struct flo_wbuf out;

static void setup(void)
{
    flo_wbuf_init(&out);
}

static void teardown(void)
{
    flo_wbuf_free(&out);
}

static void expect(const char *want, size_t want_len)
{
    cr_assert_eq(out.len, want_len, "length %zu, want %zu: got '%.*s'", out.len, want_len,
                 (int)out.len, (const char *)out.data);
    cr_assert_eq(memcmp(out.data, want, want_len), 0, "got '%.*s'", (int)out.len,
                 (const char *)out.data);
}
#define EXPECT(lit) expect(lit, sizeof(lit) - 1)

TestSuite(resp_reply, .init = setup, .fini = teardown);

Test(resp_reply, simple_string)
{
    cr_assert_eq(resp_reply_simple(&out, "OK"), 0);
    EXPECT("+OK\r\n");
}

Test(resp_reply, simple_string_newlines_become_spaces)
{
    resp_reply_simple(&out, "a\r\nb");
    EXPECT("+a  b\r\n");
}

Test(resp_reply, error_keeps_code_and_sanitises)
{
    resp_reply_error(&out, "ERR bad\nthing");
    resp_reply_error(&out, "-NOPROTO unsupported protocol version");
    EXPECT("-ERR bad thing\r\n-NOPROTO unsupported protocol version\r\n");
}

Test(resp_reply, errorf_formats)
{
    resp_reply_errorf(&out, "ERR wrong number of arguments for '%s' command", "get");
    EXPECT("-ERR wrong number of arguments for 'get' command\r\n");
}

Test(resp_reply, integers)
{
    resp_reply_int(&out, 0);
    resp_reply_int(&out, -42);
    resp_reply_int(&out, INT64_MAX);
    EXPECT(":0\r\n:-42\r\n:9223372036854775807\r\n");
}

/* The hand-written decimal formatter: digit-count edges, the sign, and both
 * ends of int64_t (INT64_MIN has no positive counterpart). */
Test(resp_reply, integer_edges)
{
    cr_assert_eq(resp_reply_int(&out, 0), 0);
    cr_assert_eq(resp_reply_int(&out, 9), 0);
    cr_assert_eq(resp_reply_int(&out, 10), 0);
    cr_assert_eq(resp_reply_int(&out, -1), 0);
    cr_assert_eq(resp_reply_int(&out, INT64_MAX), 0);
    cr_assert_eq(resp_reply_int(&out, INT64_MIN), 0);
    EXPECT(":0\r\n:9\r\n:10\r\n:-1\r\n:9223372036854775807\r\n:-9223372036854775808\r\n");
}

Test(resp_reply, integer_matches_printf)
{
    /* Every power of ten and its neighbours, both signs. */
    int64_t v = 1;
    char want[64];
    for (int i = 0; i < 19; i++) {
        const int64_t cases[] = {v - 1, v, v + 1, -(v - 1), -v, -(v + 1)};
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            out.len = 0;
            cr_assert_eq(resp_reply_int(&out, cases[k]), 0);
            int n = snprintf(want, sizeof(want), ":%lld\r\n", (long long)cases[k]);
            cr_assert_eq(out.len, (size_t)n, "value %lld", (long long)cases[k]);
            cr_assert_eq(memcmp(out.data, want, (size_t)n), 0, "value %lld", (long long)cases[k]);
        }
        if (i < 18) {
            v *= 10; /* 10^18 is the last power below INT64_MAX */
        }
    }
}

Test(resp_reply, headers_use_the_same_formatter)
{
    resp_reply_array(&out, 10);
    resp_reply_bulk(&out, "0123456789", 10);
    resp_reply_set(&out, RESP_PROTO_3, 9);
    EXPECT("*10\r\n$10\r\n0123456789\r\n~9\r\n");
}

Test(resp_reply, bulk_is_binary_safe)
{
    const char v[] = {'a', 0, '\r', '\n', 'b'};
    resp_reply_bulk(&out, v, sizeof(v));
    expect("$5\r\na\0\r\nb\r\n", 11);
}

Test(resp_reply, empty_bulk)
{
    resp_reply_bulk(&out, NULL, 0);
    EXPECT("$0\r\n\r\n");
}

Test(resp_reply, null_resp2_and_resp3)
{
    resp_reply_null(&out, RESP_PROTO_2);
    resp_reply_null_array(&out, RESP_PROTO_2);
    resp_reply_null(&out, RESP_PROTO_3);
    resp_reply_null_array(&out, RESP_PROTO_3);
    EXPECT("$-1\r\n*-1\r\n_\r\n_\r\n");
}

Test(resp_reply, map_is_flat_array_in_resp2)
{
    resp_reply_map(&out, RESP_PROTO_2, 2);
    resp_reply_map(&out, RESP_PROTO_3, 2);
    EXPECT("*4\r\n%2\r\n");
}

Test(resp_reply, set_and_array_headers)
{
    resp_reply_set(&out, RESP_PROTO_2, 3);
    resp_reply_set(&out, RESP_PROTO_3, 3);
    resp_reply_array(&out, 0);
    EXPECT("*3\r\n~3\r\n*0\r\n");
}

Test(resp_reply, double_resp2_is_bulk_resp3_is_comma)
{
    resp_reply_double(&out, RESP_PROTO_2, 1.5);
    resp_reply_double(&out, RESP_PROTO_3, 1.5);
    resp_reply_double(&out, RESP_PROTO_3, INFINITY);
    resp_reply_double(&out, RESP_PROTO_2, -INFINITY);
    EXPECT("$3\r\n1.5\r\n,1.5\r\n,inf\r\n$4\r\n-inf\r\n");
}

Test(resp_reply, verbatim_resp3_counts_format_prefix)
{
    resp_reply_verbatim(&out, RESP_PROTO_3, "txt", "hi", 2);
    resp_reply_verbatim(&out, RESP_PROTO_2, "txt", "hi", 2);
    EXPECT("=6\r\ntxt:hi\r\n$2\r\nhi\r\n");
}

Test(resp_reply, large_bulk_header)
{
    size_t n = 100000;
    char *v = malloc(n);
    cr_assert_not_null(v);
    memset(v, 'x', n);
    cr_assert_eq(resp_reply_bulk(&out, v, n), 0);
    cr_assert_eq(out.len, n + strlen("$100000\r\n") + 2);
    cr_assert_eq(memcmp(out.data, "$100000\r\nxxx", 12), 0);
    cr_assert_eq(memcmp(out.data + out.len - 3, "x\r\n", 3), 0);
    free(v);
}
