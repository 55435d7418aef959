/*
 * Tests of the shared strict base64 (protocols/common/proto_base64.c):
 * RFC 4648 vectors in both alphabets with and without padding, lengths,
 * and the strict decoder refusing non-canonical text, foreign alphabet
 * characters, a lone last character and output past the caller's buffer.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_error.h"
#include "proto_base64.h"

/* RFC 4648 §10 test vectors (standard alphabet, padded). */
static const char *const vec[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

Test(proto_base64, rfc4648_vectors_encode_and_decode)
{
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        char out[16];
        flo_buf_t in = FLO_BUF_STR(vec[i][0]);
        size_t n = proto_b64_encode(out, in, false, true);
        cr_assert_eq(n, proto_b64_encoded_len(in.len, true));
        cr_assert_eq(n, strlen(vec[i][1]));
        cr_assert(memcmp(out, vec[i][1], n) == 0, "%s", vec[i][0]);
        /* Unpadded: the same text without '='. */
        size_t u = proto_b64_encode(out, in, false, false);
        cr_assert_eq(u, proto_b64_encoded_len(in.len, false));
        size_t want = strcspn(vec[i][1], "=");
        cr_assert_eq(u, want);
        uint8_t dec[16];
        size_t got = 0;
        cr_assert_eq(proto_b64_decode(FLO_BUF(out, u), false, dec, sizeof(dec), &got), 0);
        cr_assert_eq(got, in.len);
        cr_assert(memcmp(dec, in.ptr, got) == 0);
        cr_assert_leq(got, proto_b64_decoded_max(u));
    }
}

Test(proto_base64, url_alphabet_round_trip)
{
    static const uint8_t raw[] = {0xfb, 0xff, 0xbf, 0x00, 0x3e};
    char out[16];
    size_t n = proto_b64_encode(out, FLO_BUF(raw, sizeof(raw)), true, false);
    cr_assert_eq(n, 7);
    cr_assert(memcmp(out, "-_-_AD4", 7) == 0, "%.*s", (int)n, out);
    uint8_t dec[8];
    size_t got = 0;
    cr_assert_eq(proto_b64_decode(FLO_BUF(out, n), true, dec, sizeof(dec), &got), 0);
    cr_assert_eq(got, sizeof(raw));
    cr_assert(memcmp(dec, raw, got) == 0);
    /* The same text is not standard base64. */
    cr_assert_eq(proto_b64_decode(FLO_BUF(out, n), false, dec, sizeof(dec), &got), FLO_EINVAL);
}

Test(proto_base64, strict_decoder_refuses_bad_text)
{
    uint8_t dec[8];
    size_t got = 0;
    static const char *const bad[] = {"Zh", "Zm9=", "Z", "Zm9vY", "Zm 9", "Zm/v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(proto_b64_decode(FLO_BUF_STR(bad[i]), true, dec, sizeof(dec), &got),
                     FLO_EINVAL, "%s", bad[i]);
    }
    /* "Zh" leaves non-zero unused bits; "Zg" is its one spelling. */
    cr_assert_eq(proto_b64_decode(FLO_BUF_STR("Zg"), true, dec, sizeof(dec), &got), 0);
    cr_assert_eq(got, 1);
    cr_assert_eq(dec[0], 'f');
    /* Output past the buffer is refused, not truncated. */
    cr_assert_eq(proto_b64_decode(FLO_BUF_STR("Zm9vYmFy"), false, dec, 5, &got), FLO_ELIMIT);
}
