/*
 * Unit tests for protocols/http/http_json.c: string escaping with lengths
 * (NUL and control bytes), base64 (RFC 4648 vectors), and the payload rule
 * (UTF-8 as text, anything else base64 with an encoding marker).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http_json.h"

static void assert_buf(const struct flo_wbuf *b, const char *want)
{
    size_t n = strlen(want);
    cr_assert_eq(b->len, n, "got %zu bytes: %.*s", b->len, (int)b->len, (const char *)b->data);
    if (n == 0) {
        return;
    }
    cr_assert_eq(memcmp(b->data, want, n), 0, "got %.*s want %s", (int)b->len,
                 (const char *)b->data, want);
}

Test(http_json, object_with_escapes_and_numbers)
{
    struct flo_wbuf b;
    struct http_json j;
    flo_wbuf_init(&b);
    http_json_init(&j, &b);
    http_json_begin(&j);
    http_json_str(&j, "k", FLO_BUF("a\"b\\c\n\0\x1f", 8));
    http_json_u64(&j, "version", UINT64_MAX);
    http_json_cstr(&j, "e", "");
    http_json_end(&j);
    cr_assert_eq(j.err, 0);
    assert_buf(&b, "{\"k\":\"a\\\"b\\\\c\\n\\u0000\\u001f\",\"version\":18446744073709551615,"
                   "\"e\":\"\"}");
    flo_wbuf_free(&b);
}

Test(http_json, empty_payload_is_an_empty_string)
{
    struct flo_wbuf b;
    struct http_json j;
    flo_wbuf_init(&b);
    http_json_init(&j, &b);
    http_json_begin(&j);
    http_json_payload(&j, "value", "encoding", FLO_BUF_NULL);
    http_json_end(&j);
    cr_assert_eq(j.err, 0);
    assert_buf(&b, "{\"value\":\"\"}");
    flo_wbuf_free(&b);
}

Test(http_json, base64_rfc4648_vectors)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct flo_wbuf b;
        flo_wbuf_init(&b);
        cr_assert_eq(http_base64_encode(&b, FLO_BUF_STR(in[i])), 0);
        assert_buf(&b, out[i]);
        flo_wbuf_free(&b);
    }
}

Test(http_json, payload_rule_text_or_base64)
{
    struct flo_wbuf b;
    struct http_json j;
    flo_wbuf_init(&b);
    http_json_init(&j, &b);
    http_json_begin(&j);
    http_json_payload(&j, "value", "encoding", FLO_BUF_STR("h\xc3\xa9llo"));
    http_json_end(&j);
    assert_buf(&b, "{\"value\":\"h\xc3\xa9llo\"}");
    flo_wbuf_reset(&b);
    http_json_init(&j, &b);
    http_json_begin(&j);
    http_json_payload(&j, "value", "encoding", FLO_BUF("\xff\x00\x01", 3));
    http_json_end(&j);
    assert_buf(&b, "{\"value\":\"/wAB\",\"encoding\":\"base64\"}");
    flo_wbuf_free(&b);
}
