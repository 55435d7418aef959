/*
 * RESP2/RESP3 reply encoders (see resp_reply.h). Formats follow what
 * redis-server 7 writes so replies can be compared byte for byte.
 */
#include "resp_reply.h"

#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_error.h"

/* Longest header line: type byte, a 20-digit number, CRLF. */
#define HDR_MAX 32
/* Error lines are formatted on the stack up to this size and truncated
 * beyond it (Redis error messages are short sentences). */
#define ERR_FMT_MAX 1024

/* Write the decimal form of n at dst (room for 20 digits and a sign) and
 * return its length. Every reply header goes through here, so it avoids
 * snprintf (its format parsing showed up at ~2 % of a pipelined GET
 * profile). The magnitude is taken as uint64_t so INT64_MIN needs no
 * special case. */
static size_t fmt_i64(char *dst, int64_t n)
{
    char tmp[20];
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (n < 0) {
        dst[len++] = '-';
    }
    while (k > 0) {
        dst[len++] = tmp[--k];
    }
    return len;
}

static int append_hdr(struct flo_wbuf *out, char type, int64_t n)
{
    int rc = flo_wbuf_reserve(out, HDR_MAX);
    if (rc < 0) {
        return rc;
    }
    char *p = (char *)out->data + out->len;
    size_t len = 0;
    p[len++] = type;
    len += fmt_i64(p + len, n);
    p[len++] = '\r';
    p[len++] = '\n';
    out->len += len;
    return 0;
}

/* Append text with CR/LF replaced by spaces (a status or error line must be
 * one line, or the client would desynchronise). */
static int append_line(struct flo_wbuf *out, char type, const char *text, size_t len)
{
    int rc = flo_wbuf_reserve(out, len + 3);
    if (rc < 0) {
        return rc;
    }
    uint8_t *p = out->data + out->len;
    *p++ = (uint8_t)type;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        *p++ = (uint8_t)((ch == '\r' || ch == '\n') ? ' ' : ch);
    }
    *p++ = '\r';
    *p++ = '\n';
    out->len += len + 3;
    return 0;
}

int resp_reply_simple(struct flo_wbuf *out, const char *text)
{
    return append_line(out, '+', text, strlen(text));
}

int resp_reply_error(struct flo_wbuf *out, const char *msg)
{
    if (msg[0] == '-') {
        msg++;
    }
    return append_line(out, '-', msg, strlen(msg));
}

int resp_reply_errorf(struct flo_wbuf *out, const char *fmt, ...)
{
    char buf[ERR_FMT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return resp_reply_error(out, buf);
}

int resp_reply_int(struct flo_wbuf *out, int64_t n)
{
    return append_hdr(out, ':', n);
}

int resp_reply_bulk(struct flo_wbuf *out, const void *p, size_t len)
{
    int rc = flo_wbuf_reserve(out, len + HDR_MAX + 2);
    if (rc < 0) {
        return rc;
    }
    append_hdr(out, '$', (int64_t)len); /* cannot fail: reserved */
    if (len) {
        flo_wbuf_append(out, p, len);
    }
    return flo_wbuf_append(out, "\r\n", 2);
}

int resp_reply_bulk_str(struct flo_wbuf *out, const char *s)
{
    return resp_reply_bulk(out, s, strlen(s));
}

int resp_reply_null(struct flo_wbuf *out, int proto)
{
    return proto >= RESP_PROTO_3 ? flo_wbuf_append(out, "_\r\n", 3)
                                 : flo_wbuf_append(out, "$-1\r\n", 5);
}

int resp_reply_null_array(struct flo_wbuf *out, int proto)
{
    return proto >= RESP_PROTO_3 ? flo_wbuf_append(out, "_\r\n", 3)
                                 : flo_wbuf_append(out, "*-1\r\n", 5);
}

int resp_reply_array(struct flo_wbuf *out, size_t n)
{
    return append_hdr(out, '*', (int64_t)n);
}

int resp_reply_map(struct flo_wbuf *out, int proto, size_t npairs)
{
    return proto >= RESP_PROTO_3 ? append_hdr(out, '%', (int64_t)npairs)
                                 : append_hdr(out, '*', (int64_t)npairs * 2);
}

int resp_reply_set(struct flo_wbuf *out, int proto, size_t n)
{
    return append_hdr(out, proto >= RESP_PROTO_3 ? '~' : '*', (int64_t)n);
}

int resp_reply_double(struct flo_wbuf *out, int proto, double d)
{
    char num[64];
    if (isinf(d)) {
        snprintf(num, sizeof(num), "%s", d > 0 ? "inf" : "-inf");
    } else if (isnan(d)) {
        snprintf(num, sizeof(num), "nan");
    } else {
        snprintf(num, sizeof(num), "%.17g", d);
    }
    if (proto >= RESP_PROTO_3) {
        return append_line(out, ',', num, strlen(num));
    }
    return resp_reply_bulk_str(out, num);
}

int resp_reply_verbatim(struct flo_wbuf *out, int proto, const char *fmt, const void *p, size_t len)
{
    if (proto < RESP_PROTO_3) {
        return resp_reply_bulk(out, p, len);
    }
    /* The 3-byte format and the colon are part of the counted payload. */
    int rc = flo_wbuf_reserve(out, len + HDR_MAX + 6);
    if (rc < 0) {
        return rc;
    }
    append_hdr(out, '=', (int64_t)len + 4);
    flo_wbuf_append(out, fmt, 3);
    flo_wbuf_append(out, ":", 1);
    if (len) {
        flo_wbuf_append(out, p, len);
    }
    return flo_wbuf_append(out, "\r\n", 2);
}
