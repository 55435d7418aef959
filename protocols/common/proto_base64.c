/*
 * Strict base64 encoding and decoding (proto_base64.h).
 */
#include "proto_base64.h"

#include "flo/flo_error.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t proto_b64_encoded_len(size_t n, bool pad)
{
    return pad ? (n + 2) / 3 * 4 : (n * 8 + 5) / 6;
}

size_t proto_b64_encode(char *out, flo_buf_t p, bool url, bool pad)
{
    const char *tbl = url ? b64_url : b64_std;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= p.len; i += 3) {
        uint32_t v = (uint32_t)p.ptr[i] << 16 | (uint32_t)p.ptr[i + 1] << 8 | p.ptr[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < p.len) {
        bool two = i + 1 < p.len; /* two bytes left, else one */
        uint32_t v = (uint32_t)p.ptr[i] << 16 | (two ? (uint32_t)p.ptr[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        if (two) {
            out[o++] = tbl[(v >> 6) & 63];
        }
        if (pad) {
            out[o++] = '=';
            if (!two) {
                out[o++] = '=';
            }
        }
    }
    return o;
}

size_t proto_b64_decoded_max(size_t len)
{
    return len / 4 * 3 + 2;
}

static int b64_val(uint8_t c, bool url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

int proto_b64_decode(flo_buf_t text, bool url, uint8_t *out, size_t cap, size_t *n)
{
    if (text.len % 4 == 1) {
        return FLO_EINVAL; /* no whole byte in the last group */
    }
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < text.len; i++) {
        int v = b64_val(text.ptr[i], url);
        if (v < 0) {
            return FLO_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) {
                return FLO_ELIMIT;
            }
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return FLO_EINVAL; /* non-canonical: leftover bits must be zero */
    }
    *n = o;
    return 0;
}
