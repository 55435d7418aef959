/*
 * libFuzzer target for what the HTTP front end reads from request bodies
 * and query strings beyond the route itself (protocols/http/http_body.c,
 * http_json.c's base64 decoders, http_route.c's http_query_parse): JSON
 * bodies of mget / txn / incr / ttl, payload fields with their encoding
 * markers, whole numbers, base64 and the scan cursor. Invariants: every
 * failure carries a 4xx/5xx status, decoded base64 re-encodes to a string
 * that decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_body.h"
#include "http_json.h"
#include "http_route.h"

static void check_err(const struct proto_err *e)
{
    if (e->http_status < 400) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flo_buf_t in = FLO_BUF(data, size);
    struct proto_err e;
    cJSON *doc = NULL;

    if (http_body_json(in, size > 0 && data[0] == ' ', &doc, &e) < 0) {
        check_err(&e);
    } else if (doc != NULL) {
        static const char *const fields[] = {"key", "value", "delta", "ttl_ms", "ok", NULL};
        struct flo_wbuf out;
        bool present, b;
        uint64_t u;
        int64_t i;
        flo_wbuf_init(&out);
        if (http_body_check_fields(doc, fields, "fuzz", &e) < 0) {
            check_err(&e);
        }
        if (http_body_payload(doc, "key", "key_encoding", "fuzz", &out, &present, &e) < 0 ||
            http_body_payload(doc, "value", "encoding", "fuzz", &out, &present, &e) < 0 ||
            http_body_u64(doc, "ttl_ms", UINT64_MAX, "fuzz", &u, &present, &e) < 0 ||
            http_body_i64(doc, "delta", "fuzz", &i, &present, &e) < 0 ||
            http_body_bool(doc, "ok", "fuzz", &b, &e) < 0) {
            check_err(&e);
        }
        flo_wbuf_free(&out);
        cJSON_Delete(doc);
    }
    if (http_body_valid_json(in, &e) < 0) {
        check_err(&e);
    }

    /* base64 / base64url: decode, re-encode, decode again to the same bytes. */
    for (int url = 0; url < 2; url++) {
        struct flo_wbuf d1, enc, d2;
        flo_wbuf_init(&d1);
        flo_wbuf_init(&enc);
        flo_wbuf_init(&d2);
        int rc = url ? http_base64url_decode(&d1, in) : http_base64_decode(&d1, in);
        if (rc == 0) {
            rc = url ? http_base64url_encode(&enc, flo_wbuf_view(&d1))
                     : http_base64_encode(&enc, flo_wbuf_view(&d1));
            if (rc == 0) {
                rc = url ? http_base64url_decode(&d2, flo_wbuf_view(&enc))
                         : http_base64_decode(&d2, flo_wbuf_view(&enc));
                if (rc != 0 || d1.len != d2.len ||
                    (d1.len > 0 && memcmp(d1.data, d2.data, d1.len) != 0)) {
                    abort();
                }
            }
        }
        flo_wbuf_free(&d1);
        flo_wbuf_free(&enc);
        flo_wbuf_free(&d2);
    }

    struct flo_wbuf prefix;
    flo_wbuf_init(&prefix);
    struct http_qparam ps[] = {
        {.name = "limit", .kind = HTTP_QP_U64, .max = 1000, .what = "n"},
        {.name = "delta", .kind = HTTP_QP_I64, .what = "n"},
        {.name = "keys_only", .kind = HTTP_QP_BOOL, .what = "b"},
        {.name = "prefix", .kind = HTTP_QP_BYTES, .max = 64, .what = "p", .bytes = &prefix},
    };
    if (http_query_parse((const char *)data, size, ps, 4, "fuzz", &e) < 0) {
        check_err(&e);
    } else if (ps[0].u > 1000 || prefix.len > 64) {
        abort();
    }
    flo_wbuf_free(&prefix);
    return 0;
}
