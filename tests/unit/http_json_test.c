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

Test(http_json, base64_decode_round_trips_and_refuses_garbage)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    static const char *const vec[][2] = {
        {"", ""},           {"Zg==", "f"},         {"Zm8=", "fo"},        {"Zm9v", "foo"},
        {"Zm9vYg", "foob"}, {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}};
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        flo_wbuf_reset(&b);
        cr_assert_eq(http_base64_decode(&b, FLO_BUF_STR(vec[i][0])), 0, "%s", vec[i][0]);
        assert_buf(&b, vec[i][1]);
    }
    static const char *const bad[] = {"Z", "Zm9v!", "Zg=a", "Zh==", "====", "Zm9-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        flo_wbuf_reset(&b);
        cr_assert_lt(http_base64_decode(&b, FLO_BUF_STR(bad[i])), 0, "%s", bad[i]);
    }
    flo_wbuf_free(&b);
}

Test(http_json, base64url_is_unpadded_and_url_safe)
{
    struct flo_wbuf b, d;
    flo_wbuf_init(&b);
    flo_wbuf_init(&d);
    const uint8_t raw[] = {0xfb, 0xff, 0xfe, 0x00};
    cr_assert_eq(http_base64url_encode(&b, FLO_BUF(raw, 4)), 0);
    assert_buf(&b, "-__-AA");
    cr_assert_eq(http_base64url_decode(&d, flo_wbuf_view(&b)), 0);
    cr_assert_eq(d.len, 4);
    cr_assert_eq(memcmp(d.data, raw, 4), 0);
    flo_wbuf_reset(&d);
    cr_assert_lt(http_base64url_decode(&d, FLO_BUF_STR("+/")), 0);
    flo_wbuf_free(&b);
    flo_wbuf_free(&d);
}

Test(http_json, arrays_nested_objects_and_scalars)
{
    struct flo_wbuf b;
    struct http_json j;
    flo_wbuf_init(&b);
    http_json_init(&j, &b);
    http_json_begin(&j);
    http_json_array_begin(&j, "keys");
    http_json_elem_str(&j, FLO_BUF_STR("a"));
    http_json_elem_begin(&j);
    http_json_i64(&j, "n", -5);
    http_json_bool(&j, "ok", false);
    http_json_end(&j);
    http_json_array_end(&j);
    http_json_raw(&j, "cursor", FLO_BUF_STR("null"));
    http_json_end(&j);
    cr_assert_eq(j.err, 0);
    assert_buf(&b, "{\"keys\":[\"a\",{\"n\":-5,\"ok\":false}],\"cursor\":null}");
    flo_wbuf_free(&b);
}
