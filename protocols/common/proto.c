/*
 * The one table that turns Flo statuses and libflo error codes into what a
 * user sees: an HTTP status, a RESP error prefix, a stable code and an
 * actionable message. Both front ends call these; neither keeps its own
 * mapping.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "proto.h"

static void set(struct proto_err *e, int http, const char *prefix, const char *code)
{
    e->http_status = http;
    e->resp_prefix = prefix;
    e->code = code;
}

/* Copy at most `cap - 1` bytes of server text, replacing control bytes. */
static void copy_text(char *dst, size_t cap, flo_buf_t text)
{
    size_t n = text.len < cap - 1 ? text.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = text.ptr[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[n] = '\0';
}

static bool text_is(flo_buf_t body, const char *s)
{
    size_t n = strlen(s);
    return body.len == n && memcmp(body.ptr, s, n) == 0;
}

static bool text_ends_with(flo_buf_t body, const char *s)
{
    size_t n = strlen(s);
    return body.len >= n && memcmp(body.ptr + body.len - n, s, n) == 0;
}

/* The upstream lacks the operation: status 9 "not implemented" (no handler)
 * or status 3 "<op> not yet implemented" (a handler that refuses, e.g. the
 * queue DLQ requeue/delete of current servers). */
static bool upstream_lacks_op(uint8_t status, flo_buf_t body)
{
    return (status == FLO_STATUS_INTERNAL && text_is(body, "not implemented")) ||
           (status == FLO_STATUS_BAD_REQUEST && text_ends_with(body, "not yet implemented"));
}

void proto_err_from_status(struct proto_err *e, uint8_t status, flo_buf_t body)
{
    char text[400];
    const char *fallback;
    copy_text(text, sizeof text, body);

    if (upstream_lacks_op(status, body)) {
        set(e, 501, "ERR", "not_supported");
        snprintf(e->message, sizeof e->message,
                 "this operation is not supported by the upstream Flo server (it answered: %s)",
                 text);
        return;
    }
    switch (status) {
    case FLO_STATUS_NOT_FOUND:
        set(e, 404, "ERR", "not_found");
        fallback = "not found";
        break;
    case FLO_STATUS_BAD_REQUEST:
        set(e, 400, "ERR", "bad_request");
        fallback = "the Flo server rejected the request as malformed";
        break;
    case FLO_STATUS_CONFLICT:
        set(e, 409, "CONFLICT", "conflict");
        fallback = "version conflict: the key changed or the condition (CAS, NX, XX) failed";
        break;
    case FLO_STATUS_UNAUTHORIZED:
        set(e, 401, "NOAUTH", "unauthorized");
        fallback = "not authorized by the Flo server";
        break;
    case FLO_STATUS_OVERLOADED:
    case FLO_STATUS_RATE_LIMITED:
        set(e, 429, "BUSY", status == FLO_STATUS_OVERLOADED ? "overloaded" : "rate_limited");
        fallback = "the Flo server is overloaded; retry with backoff";
        break;
    case FLO_STATUS_UNAVAILABLE:
        set(e, 503, "TRYAGAIN", "unavailable");
        fallback = "the Flo cluster has no leader for this key right now; retry shortly";
        break;
    case FLO_STATUS_GROUP_LOCKED:
        set(e, 409, "BUSY", "group_locked");
        fallback = "the consumer group is locked by another consumer";
        break;
    case FLO_STATUS_INTERNAL:
        set(e, 502, "ERR", "upstream_internal");
        fallback = "the Flo server reported an internal error";
        break;
    default:
        set(e, 502, "ERR", "upstream_error");
        fallback = "the Flo server answered with an error";
        break;
    }
    if (text[0] != '\0') {
        snprintf(e->message, sizeof e->message, "%s", text);
    } else {
        snprintf(e->message, sizeof e->message, "%s", fallback);
    }
}

void proto_err_from_reply(struct proto_err *e, int err, uint8_t status, flo_buf_t body)
{
    if (err) {
        proto_err_from_code(e, err);
    } else {
        proto_err_from_status(e, status, body);
    }
}

void proto_err_from_code(struct proto_err *e, int err)
{
    switch (err) {
    case FLO_ETIMEDOUT:
        set(e, 504, "TRYAGAIN", "upstream_timeout");
        snprintf(e->message, sizeof e->message, "the Flo server did not answer in time");
        return;
    case FLO_ECONNCLOSED:
        set(e, 503, "TRYAGAIN", "upstream_unavailable");
        snprintf(e->message, sizeof e->message,
                 "the connection to the Flo server was lost before it answered; the "
                 "operation may or may not have been applied");
        return;
    case FLO_EUNAVAIL:
        set(e, 503, "TRYAGAIN", "upstream_unavailable");
        snprintf(e->message, sizeof e->message,
                 "no connection to the Flo server is available; retry shortly");
        return;
    case FLO_EAUTH:
        set(e, 503, "TRYAGAIN", "upstream_auth");
        snprintf(e->message, sizeof e->message,
                 "the Flo server refused the sidecar's API key (check --api-key)");
        return;
    case FLO_ECLOSING:
        set(e, 503, "TRYAGAIN", "shutting_down");
        snprintf(e->message, sizeof e->message, "the sidecar is shutting down");
        return;
    case FLO_ELIMIT:
        set(e, 429, "BUSY", "overloaded");
        snprintf(e->message, sizeof e->message,
                 "too many requests in flight to the Flo server; retry with backoff");
        return;
    case PROTO_ELONGPOLLS:
        set(e, 429, "BUSY", "too_many_waiting");
        snprintf(e->message, sizeof e->message,
                 "too many waiting requests (the sidecar's --max-longpolls limit); retry later");
        return;
    case FLO_ETOOBIG:
        set(e, 413, "ERR", "too_large");
        snprintf(e->message, sizeof e->message,
                 "request too large: Flo processes frames of at most %u bytes",
                 FLO_MAX_PROCESSED_FRAME);
        return;
    case FLO_ETRUNC:
    case FLO_EMALFORMED:
        set(e, 502, "ERR", "upstream_malformed");
        snprintf(e->message, sizeof e->message,
                 "the Flo server sent a response the sidecar could not decode");
        return;
    case FLO_ENOMEM:
        set(e, 503, "ERR", "out_of_memory");
        snprintf(e->message, sizeof e->message, "the sidecar is out of memory");
        return;
    case FLO_EINVAL:
        set(e, 400, "ERR", "bad_request");
        snprintf(e->message, sizeof e->message, "invalid request");
        return;
    default:
        set(e, 502, "ERR", "internal");
        snprintf(e->message, sizeof e->message, "sidecar error: %s", flo_strerror(err));
        return;
    }
}

void proto_err_bad_request(struct proto_err *e, const char *fmt, ...)
{
    set(e, 400, "ERR", "bad_request");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void proto_err_too_large(struct proto_err *e, const char *fmt, ...)
{
    set(e, 413, "ERR", "too_large");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

int proto_check_key(flo_buf_t key, struct proto_err *e)
{
    if (key.len == 0) {
        proto_err_bad_request(e, "key must not be empty");
        return -1;
    }
    if (key.len > PROTO_MAX_KEY) {
        proto_err_too_large(e, "key too large: %zu bytes (limit %u)", key.len, PROTO_MAX_KEY);
        return -1;
    }
    if (memchr(key.ptr, 0, key.len) != NULL) {
        proto_err_bad_request(e, "key must not contain a NUL byte");
        return -1;
    }
    return 0;
}

int proto_check_ns(flo_buf_t ns, struct proto_err *e)
{
    if (ns.len == 0) {
        proto_err_bad_request(e, "namespace must not be empty");
        return -1;
    }
    if (ns.len > PROTO_MAX_NAMESPACE) {
        proto_err_too_large(e, "namespace too large: %zu bytes (limit %u)", ns.len,
                            PROTO_MAX_NAMESPACE);
        return -1;
    }
    if (memchr(ns.ptr, 0, ns.len) != NULL) {
        proto_err_bad_request(e, "namespace must not contain a NUL byte");
        return -1;
    }
    return 0;
}

int proto_check_value(const struct proto_ctx *ctx, size_t len, struct proto_err *e)
{
    if (len > ctx->max_body) {
        proto_err_too_large(e, "value too large: %zu bytes (limit %zu)", len, ctx->max_body);
        return -1;
    }
    return 0;
}

bool proto_utf8_valid(flo_buf_t buf)
{
    const uint8_t *p = buf.ptr;
    size_t i = 0, n = buf.len;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            need = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + need >= n) { /* continuation bytes run past the end */
            return false;
        }
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Reject overlongs, surrogates and values past U+10FFFF. */
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}
