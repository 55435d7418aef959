/*
 * JSON response writer and base64 for the HTTP front end (see http_json.h).
 * Hand-written rather than cJSON because cJSON strings are NUL-terminated:
 * a value holding U+0000 is valid UTF-8 and must come out as "\u0000",
 * not be cut short.
 */
#include "http_json.h"

#include <stdio.h>
#include <string.h>

#include "flo/flo_error.h"
#include "proto.h"

#define U64_DEC_MAX 21 /* 20 digits + NUL */

static void put(struct http_json *j, const void *p, size_t n)
{
    if (j->err == 0 && n > 0) {
        j->err = flo_wbuf_append(j->out, p, n);
    }
}

static void put_c(struct http_json *j, char c)
{
    put(j, &c, 1);
}

void http_json_init(struct http_json *j, struct flo_wbuf *out)
{
    j->out = out;
    j->need_comma = false;
    j->err = 0;
}

void http_json_begin(struct http_json *j)
{
    put_c(j, '{');
    j->need_comma = false;
}

void http_json_start(struct http_json *j, struct flo_wbuf *out)
{
    flo_wbuf_init(out);
    http_json_init(j, out);
    http_json_begin(j);
}

void http_json_end(struct http_json *j)
{
    put_c(j, '}');
    j->need_comma = true;
}

/* Write bytes as the inside of a JSON string: escape '"', '\\' and every
 * control character; everything else (UTF-8 sequences) goes verbatim. */
static void put_escaped(struct http_json *j, flo_buf_t s)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of verbatim bytes */
    if (s.len == 0) {
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
            }
            break;
        }
        if (esc == NULL && c >= 0x20) {
            continue;
        }
        put(j, s.ptr + run, i - run);
        if (esc) {
            put(j, esc, strlen(esc));
        } else {
            put(j, u, sizeof(u));
        }
        run = i + 1;
    }
    put(j, s.ptr + run, s.len - run);
}

static void member(struct http_json *j, const char *name)
{
    if (j->need_comma) {
        put_c(j, ',');
    }
    j->need_comma = true;
    put_c(j, '"');
    put_escaped(j, FLO_BUF_STR(name));
    put(j, "\":", 2);
}

void http_json_str(struct http_json *j, const char *name, flo_buf_t s)
{
    member(j, name);
    put_c(j, '"');
    put_escaped(j, s);
    put_c(j, '"');
}

void http_json_cstr(struct http_json *j, const char *name, const char *s)
{
    http_json_str(j, name, FLO_BUF_STR(s));
}

void http_json_u64(struct http_json *j, const char *name, uint64_t v)
{
    char buf[U64_DEC_MAX];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    member(j, name);
    put(j, buf, (size_t)n);
}

void http_json_i64(struct http_json *j, const char *name, int64_t v)
{
    char buf[U64_DEC_MAX + 1];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    member(j, name);
    put(j, buf, (size_t)n);
}

void http_json_bool(struct http_json *j, const char *name, bool v)
{
    member(j, name);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void http_json_raw(struct http_json *j, const char *name, flo_buf_t json)
{
    member(j, name);
    put(j, json.ptr, json.len);
}

void http_json_array_begin(struct http_json *j, const char *name)
{
    member(j, name);
    put_c(j, '[');
    j->need_comma = false;
}

void http_json_object_begin(struct http_json *j, const char *name)
{
    member(j, name);
    put_c(j, '{');
    j->need_comma = false;
}

void http_json_member_str(struct http_json *j, flo_buf_t name, flo_buf_t s)
{
    if (j->need_comma) {
        put_c(j, ',');
    }
    j->need_comma = true;
    put_c(j, '"');
    put_escaped(j, name);
    put(j, "\":\"", 3);
    put_escaped(j, s);
    put_c(j, '"');
}

void http_json_array_end(struct http_json *j)
{
    put_c(j, ']');
    j->need_comma = true;
}

void http_json_elem_begin(struct http_json *j)
{
    if (j->need_comma) {
        put_c(j, ',');
    }
    put_c(j, '{');
    j->need_comma = false;
}

void http_json_elem_str(struct http_json *j, flo_buf_t s)
{
    if (j->need_comma) {
        put_c(j, ',');
    }
    j->need_comma = true;
    put_c(j, '"');
    put_escaped(j, s);
    put_c(j, '"');
}

void http_json_elem_u64(struct http_json *j, uint64_t v)
{
    char buf[U64_DEC_MAX];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    if (j->need_comma) {
        put_c(j, ',');
    }
    j->need_comma = true;
    put(j, buf, (size_t)n);
}

void http_json_payload(struct http_json *j, const char *name, const char *enc_name, flo_buf_t p)
{
    if (proto_utf8_valid(p)) {
        http_json_str(j, name, p);
        return;
    }
    member(j, name);
    put_c(j, '"');
    if (j->err == 0) {
        j->err = http_base64_encode(j->out, p);
    }
    put_c(j, '"');
    http_json_cstr(j, enc_name, "base64");
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encode with `tbl`; padded output unless `pad` is false. */
static int b64_encode(struct flo_wbuf *out, flo_buf_t p, const char *tbl, bool pad)
{
    size_t need = (p.len + 2) / 3 * 4;
    if (need == 0) {
        return 0;
    }
    int rc = flo_wbuf_reserve(out, need);
    if (rc < 0) {
        return rc;
    }
    uint8_t *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= p.len; i += 3) {
        uint32_t v = (uint32_t)p.ptr[i] << 16 | (uint32_t)p.ptr[i + 1] << 8 | p.ptr[i + 2];
        *o++ = (uint8_t)tbl[v >> 18];
        *o++ = (uint8_t)tbl[(v >> 12) & 63];
        *o++ = (uint8_t)tbl[(v >> 6) & 63];
        *o++ = (uint8_t)tbl[v & 63];
    }
    if (i < p.len) {
        uint32_t v = (uint32_t)p.ptr[i] << 16;
        if (i + 1 < p.len) {
            v |= (uint32_t)p.ptr[i + 1] << 8;
        }
        *o++ = (uint8_t)tbl[v >> 18];
        *o++ = (uint8_t)tbl[(v >> 12) & 63];
        *o++ = (uint8_t)(i + 1 < p.len ? tbl[(v >> 6) & 63] : '=');
        *o++ = '=';
        if (!pad) {
            /* drop the '=' just written: one for 2 bytes left, two for 1 */
            need -= i + 1 < p.len ? 1 : 2;
        }
    }
    out->len += need;
    return 0;
}

int http_base64_encode(struct flo_wbuf *out, flo_buf_t p)
{
    return b64_encode(out, p, b64_std, true);
}

int http_base64url_encode(struct flo_wbuf *out, flo_buf_t p)
{
    return b64_encode(out, p, b64_url, false);
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

static int b64_decode(struct flo_wbuf *out, flo_buf_t in, bool url)
{
    size_t n = in.len;
    if (!url && n % 4 == 0 && n > 0 && in.ptr[n - 1] == '=') {
        n -= (n >= 2 && in.ptr[n - 2] == '=') ? 2 : 1;
    }
    if (n % 4 == 1) {
        return FLO_EINVAL; /* no whole byte in the last group */
    }
    int rc = flo_wbuf_reserve(out, n / 4 * 3 + 2);
    if (rc < 0) {
        return rc;
    }
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(in.ptr[i], url);
        if (v < 0) {
            return FLO_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return FLO_EINVAL; /* non-canonical: leftover bits must be zero */
    }
    return 0;
}

int http_base64_decode(struct flo_wbuf *out, flo_buf_t in)
{
    return b64_decode(out, in, false);
}

int http_base64url_decode(struct flo_wbuf *out, flo_buf_t in)
{
    return b64_decode(out, in, true);
}
