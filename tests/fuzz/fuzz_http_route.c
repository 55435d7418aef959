/*
 * libFuzzer target for the HTTP request mapping (protocols/http/http_route.c):
 * the raw request target (path + query) as a client sends it, then the KV
 * query parameters for every method and the precondition headers. The
 * first input byte picks the method; the rest is the URI. Checks the
 * invariants a handler relies on: a matched KV route has a key within
 * PROTO_MAX_KEY, a matched session route has an id of 1..PROTO_SESS_ID_MAX
 * base64url characters, a failure always carries an HTTP status.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "http_route.h"
#include "proto_session.h"

static bool session_route(enum http_route_e r)
{
    return r == HTTP_ROUTE_SESSION || r == HTTP_ROUTE_SESSION_RECORDS ||
           r == HTTP_ROUTE_SESSION_ACK || r == HTTP_ROUTE_SESSION_NACK ||
           r == HTTP_ROUTE_SESSION_TOUCH;
}

static bool b64url_id(const struct flo_wbuf *id)
{
    if (id->len == 0 || id->len > PROTO_SESS_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < id->len; i++) {
        uint8_t c = id->data[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    enum http_method_e m = (enum http_method_e)(data[0] % (HTTP_M_OTHER + 1));
    /* MHD hands us a NUL-terminated URI: mirror that. */
    char *uri = malloc(size);
    if (uri == NULL) {
        return 0;
    }
    memcpy(uri, data + 1, size - 1);
    uri[size - 1] = '\0';
    size_t len = strlen(uri);

    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    if (http_route_match(uri, len, &t, &e) == 0) {
        if (t.route == HTTP_ROUTE_KV_KEY && (t.key.len == 0 || t.key.len > PROTO_MAX_KEY)) {
            abort();
        }
        if (session_route(t.route) && !b64url_id(&t.key)) {
            abort();
        }
        struct http_kv_params p;
        http_kv_params_init(&p);
        if (http_kv_params_parse(m, t.query, t.query_len, &p, &e) == 0) {
            if (p.has_block && p.has_wait) {
                abort();
            }
            if (p.block_ms > FLO_MAX_BLOCK_MS || p.wait_ms > FLO_MAX_BLOCK_MS) {
                abort();
            }
        } else if (e.http_status < 400) {
            abort();
        }
        http_kv_params_free(&p);
    } else if (e.http_status < 400) {
        abort();
    }
    struct http_precond pc;
    if (http_parse_precond("If-Match", uri, &pc, &e) < 0 && e.http_status != 400) {
        abort();
    }
    http_target_free(&t);
    free(uri);
    return 0;
}
