/*
 * The sub-resources of a key: GET /v1/kv/{key}/history, POST .../incr,
 * PUT / DELETE .../ttl (Flo's touch / persist) and GET / PUT / DELETE
 * .../json (Flo's json_get / json_set / json_del on a JSON path). Like the
 * plain key routes, each request is validated completely before anything
 * goes upstream (query parameters after the headers, the body at the end)
 * and becomes exactly one Flo request; the reply is built in the
 * completion. Status rules are in docs/http-api.md.
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "http_body.h"
#include "http_internal.h"
#include "http_json.h"

#define HISTORY_MAX_LIMIT 10000u /* more than any retained version chain */
#define JSON_PATH_MAX     1024u  /* bytes of a JSON path */

/* ---- shared with the other KV route files ---- */

int http_kv_parse_query(struct http_req *r, const struct http_qparam *extra, size_t n,
                        struct http_qparam *out, const char *route, struct proto_err *e)
{
    struct http_qparam ps[HTTP_QUERY_MAX_EXTRA + 1];
    if (n > HTTP_QUERY_MAX_EXTRA) {
        proto_err_from_code(e, FLO_EINVAL);
        return -1;
    }
    ps[0] = (struct http_qparam){.name = "namespace",
                                 .kind = HTTP_QP_BYTES,
                                 .max = PROTO_MAX_NAMESPACE,
                                 .what = "a namespace name of 1 to 255 bytes",
                                 .bytes = &r->kv.ns};
    if (n > 0) {
        memcpy(ps + 1, extra, n * sizeof(*extra));
    }
    if (http_query_parse(r->target.query, r->target.query_len, ps, n + 1, route, e) < 0) {
        return -1;
    }
    if (ps[0].seen) {
        if (r->kv.ns.len == 0) {
            proto_err_bad_request(e, "query parameter namespace must not be empty");
            return -1;
        }
        if (proto_check_ns(flo_wbuf_view(&r->kv.ns), e) < 0) {
            return -1;
        }
        r->kv.has_ns = true;
    }
    if (n > 0) {
        memcpy(out, ps + 1, n * sizeof(*extra));
    }
    return http_kv_pick_namespace(r, e);
}

/* Serialise a JSON reply built with `j` on `b`, or a 503 if it ran out of
 * memory. Frees b. */
static void reply_built(struct http_req *r, unsigned status, struct flo_wbuf *b,
                        const struct http_json *j)
{
    if (j->err < 0) {
        http_reply_code(r, j->err);
    } else {
        http_reply_json(r, status, b);
    }
    flo_wbuf_free(b);
}

static void reply_cas_failed(struct http_req *r)
{
    struct proto_err e;
    proto_err_bad_request(&e, "precondition failed: If-Match does not match the key's "
                              "current version; GET it for the current ETag and retry");
    e.http_status = MHD_HTTP_PRECONDITION_FAILED;
    e.code = "precondition_failed";
    http_reply_error(r, &e);
}

static bool text_has(flo_buf_t body, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= body.len && i + n <= body.len; i++) {
        if (memcmp(body.ptr + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- history ---- */

static void history_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_kv_history_iter it;
    struct flo_kv_history_entry en;
    uint32_t count;

    if (http_check_reply_with(r, err, status, body, http_kv_reply_not_found, NULL) < 0) {
        return;
    }
    int rc = flo_kv_history_begin(body, &it, &count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    uint64_t limit = r->kv.has_limit ? r->kv.limit : UINT64_MAX;
    uint64_t newest = 0, shown = 0;
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&r->target.key));
    http_json_array_begin(&j, "versions");
    while (shown < limit && (rc = flo_kv_history_next(&it, &en)) == 1) {
        if (shown == 0) {
            newest = en.version;
        }
        http_json_elem_begin(&j);
        http_json_u64(&j, "version", en.version);
        http_json_payload(&j, "value", "encoding", en.value);
        http_json_end(&j);
        shown++;
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", shown);
    http_json_end(&j);
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    reply_built(r, MHD_HTTP_OK, &b, &j);
    if (shown > 0) {
        http_reply_version(r, newest);
    }
}

static void history_prepare(struct http_req *r)
{
    struct proto_err e;
    struct http_qparam p[] = {{.name = "limit",
                               .kind = HTTP_QP_U64,
                               .max = HISTORY_MAX_LIMIT,
                               .what = "a whole number of versions (1..10000)"}};
    if (http_parse_query_or_reply(r, p, 1, "GET /v1/kv/{key}/history") < 0) {
        return;
    }
    if (p[0].seen && p[0].u == 0) {
        proto_err_bad_request(&e, "query parameter limit must be at least 1");
        http_reply_error(r, &e);
        return;
    }
    r->kv.has_limit = p[0].seen;
    r->kv.limit = p[0].u;
}

static void history_start(struct http_req *r)
{
    struct flo_req req = {
        .op = FLO_OP_KV_HISTORY,
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
    };
    /* Flo ignores a limit option on history; the sidecar trims instead. */
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, history_done);
}

const struct http_route_def http_kv_history_route = {
    .id = HTTP_ROUTE_KV_HISTORY,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = history_prepare,
    .start = history_start,
};

/* ---- incr ---- */

static void incr_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    int64_t value;
    struct proto_err e;

    if (err < 0) {
        http_reply_code(r, err);
        return;
    }
    if (status == FLO_STATUS_BAD_REQUEST && text_has(body, "not a counter")) {
        proto_err_bad_request(&e, "the key holds a value that is not a counter: incr needs a "
                                  "missing key or an 8-byte little-endian integer (as incr "
                                  "writes it); nothing was changed");
        e.http_status = MHD_HTTP_CONFLICT;
        e.code = "not_a_counter";
        http_reply_error(r, &e);
        return;
    }
    if (status != FLO_STATUS_OK && text_has(body, "overflow")) {
        proto_err_bad_request(&e, "the counter would overflow a signed 64-bit integer; "
                                  "nothing was changed");
        e.http_status = MHD_HTTP_CONFLICT;
        e.code = "counter_overflow";
        http_reply_error(r, &e);
        return;
    }
    if (status != FLO_STATUS_OK) {
        http_kv_reply_status(r, status, body);
        return;
    }
    int rc = flo_kv_dec_incr(body, &version, &value);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&r->target.key));
    http_json_i64(&j, "value", value);
    http_json_u64(&j, "version", version);
    http_json_end(&j);
    reply_built(r, MHD_HTTP_OK, &b, &j);
    http_reply_version(r, version);
}

static void incr_prepare(struct http_req *r)
{
    struct http_qparam p[] = {{.name = "delta",
                               .kind = HTTP_QP_I64,
                               .what = "a whole number (a signed 64-bit integer, e.g. 5 or -2)"}};
    if (http_parse_query_or_reply(r, p, 1, "POST /v1/kv/{key}/incr") < 0) {
        return;
    }
    r->kv.has_delta = p[0].seen;
    r->kv.delta = p[0].i;
}

static void incr_start(struct http_req *r)
{
    static const char *const fields[] = {"delta", NULL};
    struct proto_err e;
    cJSON *doc = NULL;
    int64_t delta = 1;
    bool present = false;

    if (http_body_json(flo_wbuf_view(&r->body), true, &doc, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    if (doc != NULL) {
        int bad = http_body_check_fields(doc, fields, "incr body", &e) < 0 ||
                  http_body_i64(doc, "delta", "incr body", &delta, &present, &e) < 0;
        cJSON_Delete(doc);
        if (bad) {
            http_reply_error(r, &e);
            return;
        }
    }
    if (present && r->kv.has_delta) {
        proto_err_bad_request(&e, "give the delta either as ?delta= or in the body, not both");
        http_reply_error(r, &e);
        return;
    }
    if (r->kv.has_delta) {
        delta = r->kv.delta;
    }
    struct flo_wbuf val;
    flo_wbuf_init(&val);
    int rc = flo_kv_incr_value(&val, delta);
    if (rc == 0) {
        struct flo_req req = {
            .op = FLO_OP_KV_INCR,
            .ns = r->ns,
            .key = flo_wbuf_view(&r->target.key),
            .value = flo_wbuf_view(&val),
        };
        rc = http_req_send(r, &req, 0, 0, incr_done);
    }
    flo_wbuf_free(&val);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

const struct http_route_def http_kv_incr_route = {
    .id = HTTP_ROUTE_KV_INCR,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = incr_prepare,
    .start = incr_start,
};

/* ---- ttl: touch (PUT) and persist (DELETE) ---- */

static void ttl_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply_with(r, err, status, body, http_kv_reply_not_found, reply_cas_failed) <
        0) {
        return;
    }
    http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
}

static void ttl_prepare(struct http_req *r)
{
    struct http_qparam p[] = {{.name = "ttl_ms",
                               .kind = HTTP_QP_U64,
                               .max = UINT64_MAX,
                               .what = "a whole number of milliseconds"}};
    const char *route =
        r->method == HTTP_M_PUT ? "PUT /v1/kv/{key}/ttl" : "DELETE /v1/kv/{key}/ttl";
    size_t n = r->method == HTTP_M_PUT ? 1 : 0;
    if (http_parse_query_or_reply(r, p, n, route) < 0) {
        return;
    }
    if (n == 1) {
        r->kv.has_ttl = p[0].seen;
        r->kv.ttl_ms = p[0].u;
    }
}

static void ttl_start(struct http_req *r)
{
    static const char *const fields[] = {"ttl_ms", NULL};
    struct proto_err e;
    bool has_cas;
    uint64_t cas;
    struct flo_wbuf val;
    int rc = 0;

    if (http_kv_if_match(r, &has_cas, &cas, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    struct flo_req req = {
        .op = FLO_OP_KV_PERSIST,
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
    };
    flo_wbuf_init(&val);
    if (r->method == HTTP_M_PUT) {
        cJSON *doc = NULL;
        bool present = false;
        uint64_t ttl = 0;
        if (http_body_json(flo_wbuf_view(&r->body), true, &doc, &e) < 0) {
            http_reply_error(r, &e);
            return;
        }
        if (doc != NULL) {
            int bad = http_body_check_fields(doc, fields, "ttl body", &e) < 0 ||
                      http_body_u64(doc, "ttl_ms", UINT64_MAX, "ttl body", &ttl, &present, &e) < 0;
            cJSON_Delete(doc);
            if (bad) {
                http_reply_error(r, &e);
                return;
            }
        }
        if (present == r->kv.has_ttl) {
            proto_err_bad_request(&e, present ? "give ttl_ms either as ?ttl_ms= or in the body, "
                                                "not both"
                                              : "missing ttl_ms: PUT /v1/kv/{key}/ttl?ttl_ms=N "
                                                "or a body {\"ttl_ms\": N}");
            http_reply_error(r, &e);
            return;
        }
        if (r->kv.has_ttl) {
            ttl = r->kv.ttl_ms;
        }
        req.op = FLO_OP_KV_TOUCH;
        rc = flo_kv_touch_value(&val, ttl);
        req.value = flo_wbuf_view(&val);
    }
    if (rc == 0 && has_cas) {
        rc = flo_opt_u64(&r->opts, FLO_OPT_CAS_VERSION, cas);
    }
    if (rc == 0) {
        req.opts = flo_wbuf_view(&r->opts);
        rc = http_req_send(r, &req, 0, 0, ttl_done);
    }
    flo_wbuf_free(&val);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

const struct http_route_def http_kv_ttl_route = {
    .id = HTTP_ROUTE_KV_TTL,
    .methods = HTTP_METHOD_BIT(HTTP_M_PUT) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "PUT, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PUT),
    .prepare = ttl_prepare,
    .start = ttl_start,
};

/* ---- json ---- */

static void json_reply_not_found(struct http_req *r)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
    snprintf(e.message, sizeof(e.message), "%s",
             "the key does not exist, or the JSON path selects nothing in its document");
    http_reply_error(r, &e);
}

static void json_reply_status(struct http_req *r, uint8_t status, flo_buf_t body)
{
    struct proto_err e;
    proto_err_from_status(&e, status, body);
    if (status == FLO_STATUS_BAD_REQUEST && text_has(body, "json")) {
        size_t n = strlen(e.message);
        snprintf(e.message + n, sizeof(e.message) - n, "%s",
                 " (paths: $, $.field, $.a.b, $.list[0], $['odd key']; the stored value must "
                 "be a JSON document)");
    }
    http_reply_error(r, &e);
}

static void json_get_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    flo_buf_t doc;
    if (err < 0) {
        http_reply_code(r, err);
        return;
    }
    if (status == FLO_STATUS_NOT_FOUND) {
        json_reply_not_found(r);
        return;
    }
    if (status != FLO_STATUS_OK) {
        json_reply_status(r, status, body);
        return;
    }
    int rc = flo_kv_dec_get(body, &version, &doc);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    http_reply_bytes(r, MHD_HTTP_OK, "application/json", doc);
    http_reply_version(r, version);
}

static void json_set_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    if (err < 0) {
        http_reply_code(r, err);
        return;
    }
    if (status == FLO_STATUS_NOT_FOUND) {
        struct proto_err e;
        proto_err_from_status(&e, status, FLO_BUF_NULL);
        snprintf(e.message, sizeof(e.message), "%s",
                 "the key does not exist (only path $ may create it) or the path's parent "
                 "does not exist in the document");
        http_reply_error(r, &e);
        return;
    }
    if (status != FLO_STATUS_OK) {
        json_reply_status(r, status, body);
        return;
    }
    int rc = flo_kv_dec_version(body, &version);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&r->target.key));
    http_json_str(&j, "path", flo_wbuf_view(&r->kv.path));
    http_json_u64(&j, "version", version);
    http_json_end(&j);
    reply_built(r, MHD_HTTP_OK, &b, &j);
    http_reply_version(r, version);
}

static void json_del_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    if (err < 0) {
        http_reply_code(r, err);
        return;
    }
    if (status == FLO_STATUS_NOT_FOUND) {
        json_reply_not_found(r);
        return;
    }
    if (status != FLO_STATUS_OK) {
        json_reply_status(r, status, body);
        return;
    }
    /* The real server answers an empty body; a version is tolerated. */
    if (flo_kv_dec_json_del(body, &version) == 0 && version > 0) {
        http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
        http_reply_version(r, version);
        return;
    }
    http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
}

/* A light syntax check, so an obvious mistake gets a precise message
 * without a round trip; the server has the last word on the grammar. */
static int check_path(flo_buf_t p, struct proto_err *e)
{
    if (p.len == 0 || p.ptr[0] != '$') {
        proto_err_bad_request(e, "query parameter path must start with $ (e.g. $, $.user.name, "
                                 "$.items[0]; default $)");
        return -1;
    }
    if (memchr(p.ptr, 0, p.len) != NULL) {
        proto_err_bad_request(e, "query parameter path must not contain a NUL byte");
        return -1;
    }
    return 0;
}

static void json_prepare(struct http_req *r)
{
    struct proto_err e;
    struct http_qparam p[] = {
        {.name = "path",
         .kind = HTTP_QP_BYTES,
         .max = JSON_PATH_MAX,
         .what = "a JSON path of at most 1024 bytes",
         .bytes = &r->kv.path},
        {.name = "ttl_ms",
         .kind = HTTP_QP_U64,
         .max = UINT64_MAX,
         .what = "a whole number of milliseconds (0 = no expiry)"},
    };
    const char *route = r->method == HTTP_M_GET   ? "GET /v1/kv/{key}/json"
                        : r->method == HTTP_M_PUT ? "PUT /v1/kv/{key}/json"
                                                  : "DELETE /v1/kv/{key}/json";
    size_t n = r->method == HTTP_M_PUT ? 2 : 1;
    if (http_parse_query_or_reply(r, p, n, route) < 0) {
        return;
    }
    r->kv.has_path = p[0].seen;
    if (!r->kv.has_path) {
        flo_wbuf_reset(&r->kv.path);
        if (flo_wbuf_append(&r->kv.path, "$", 1) < 0) {
            http_reply_code(r, FLO_ENOMEM);
            return;
        }
    }
    if (check_path(flo_wbuf_view(&r->kv.path), &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    if (n == 2) {
        r->kv.has_ttl = p[1].seen;
        r->kv.ttl_ms = p[1].u;
    }
}

static void json_start(struct http_req *r)
{
    struct proto_err e;
    struct flo_wbuf val;
    http_done_cb done;
    unsigned flags = 0;
    int rc = 0;
    struct flo_req req = {
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
        .value = flo_wbuf_view(&r->kv.path),
    };

    flo_wbuf_init(&val);
    switch (r->method) {
    case HTTP_M_GET:
        req.op = FLO_OP_KV_JSON_GET;
        done = json_get_done;
        flags = FLO_SEND_IDEMPOTENT;
        break;
    case HTTP_M_PUT:
        if (proto_check_value(r->srv->ctx, r->body.len, &e) < 0 ||
            http_body_valid_json(flo_wbuf_view(&r->body), &e) < 0) {
            http_reply_error(r, &e);
            return;
        }
        req.op = FLO_OP_KV_JSON_SET;
        done = json_set_done;
        rc = flo_kv_json_set_value(&val, flo_wbuf_view(&r->kv.path), flo_wbuf_view(&r->body));
        req.value = flo_wbuf_view(&val);
        if (rc == 0 && r->kv.has_ttl && r->kv.ttl_ms > 0) {
            rc = flo_opt_u64(&r->opts, FLO_OPT_TTL_MS, r->kv.ttl_ms);
        }
        break;
    default:
        req.op = FLO_OP_KV_JSON_DEL;
        done = json_del_done;
        break;
    }
    if (rc == 0) {
        req.opts = flo_wbuf_view(&r->opts);
        rc = http_req_send(r, &req, 0, flags, done);
    }
    flo_wbuf_free(&val);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

const struct http_route_def http_kv_json_route = {
    .id = HTTP_ROUTE_KV_JSON,
    .methods =
        HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_PUT) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "GET, PUT, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PUT),
    .prepare = json_prepare,
    .start = json_start,
};
