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
#include "proto_base64.h"

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

/* Append the encoding of p (no NUL). */
static int b64_encode(struct flo_wbuf *out, flo_buf_t p, bool url, bool pad)
{
    size_t need = proto_b64_encoded_len(p.len, pad);
    if (need == 0) {
        return 0;
    }
    int rc = flo_wbuf_reserve(out, need);
    if (rc < 0) {
        return rc;
    }
    out->len += proto_b64_encode((char *)out->data + out->len, p, url, pad);
    return 0;
}

int http_base64_encode(struct flo_wbuf *out, flo_buf_t p)
{
    return b64_encode(out, p, false, true);
}

int http_base64url_encode(struct flo_wbuf *out, flo_buf_t p)
{
    return b64_encode(out, p, true, false);
}

/* Append the decoding of in (standard: '=' padding optional). 0,
 * FLO_EINVAL for bad text or FLO_ENOMEM. */
static int b64_decode(struct flo_wbuf *out, flo_buf_t in, bool url)
{
    size_t n = in.len;
    if (!url && n % 4 == 0 && n > 0 && in.ptr[n - 1] == '=') {
        n -= (n >= 2 && in.ptr[n - 2] == '=') ? 2 : 1;
    }
    size_t max = proto_b64_decoded_max(n);
    int rc = flo_wbuf_reserve(out, max);
    if (rc < 0) {
        return rc;
    }
    size_t got = 0;
    if (proto_b64_decode(FLO_BUF(in.ptr, n), url, out->data + out->len, max, &got) < 0) {
        return FLO_EINVAL;
    }
    out->len += got;
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
