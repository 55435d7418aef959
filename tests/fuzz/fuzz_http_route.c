/*
 * libFuzzer target for the HTTP request mapping (protocols/http/http_route.c):
 * the raw request target (path + query) as a client sends it, then the KV
 * query parameters for every method and the precondition headers. The
 * first input byte picks the method; the rest is the URI. Checks the
 * invariants a handler relies on: a matched KV route has a key within
 * PROTO_MAX_KEY, a failure always carries an HTTP status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "http_route.h"

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
