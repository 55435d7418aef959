/*
 * The /v1/kv/{key} routes: GET (raw or JSON, with block_ms / wait_ms
 * long-polls), PUT (ttl_ms, If-Match CAS, If-None-Match create-only),
 * DELETE (If-Match CAS) and HEAD (exists). Each request is validated
 * completely after its headers (before any body is read) and then turned
 * into one Flo request on the shared pool; the reply is built in the
 * completion callback. Status rules are in docs/http-api.md.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "http_internal.h"
#include "http_json.h"

static void reply_precondition_failed(struct http_req *r)
{
    struct proto_err e;
    if (r->if_none_match.kind == HTTP_PRE_ANY) {
        proto_err_bad_request(&e, "precondition failed: If-None-Match: * requires that the key "
                                  "does not exist, and it does");
    } else if (r->if_match.kind == HTTP_PRE_ANY) {
        proto_err_bad_request(&e, "precondition failed: If-Match: * requires that the key "
                                  "exists, and it does not");
    } else if (r->if_match.kind == HTTP_PRE_VERSION) {
        proto_err_bad_request(&e,
                              "precondition failed: If-Match: \"%llu\" does not match the "
                              "key's current version (or the key does not exist); GET it for "
                              "the current ETag and retry",
                              (unsigned long long)r->if_match.version);
    } else {
        proto_err_from_status(&e, FLO_STATUS_CONFLICT, FLO_BUF_NULL);
        http_reply_error(r, &e);
        return;
    }
    e.http_status = MHD_HTTP_PRECONDITION_FAILED;
    e.code = "precondition_failed";
    http_reply_error(r, &e);
}

void http_kv_reply_status(struct http_req *r, uint8_t status, flo_buf_t body)
{
    struct proto_err e;
    proto_err_from_status(&e, status, body);
    http_reply_error(r, &e);
}

/* 404 for a missing key, naming the namespace when it is printable. */
void http_kv_reply_not_found(struct http_req *r)
{
    struct proto_err e;
    bool printable = r->ns.len > 0;
    for (size_t i = 0; i < r->ns.len; i++) {
        printable = printable && r->ns.ptr[i] >= 0x20 && r->ns.ptr[i] < 0x7f && r->ns.ptr[i] != '"';
    }
    proto_err_from_status(&e, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
    if (printable) {
        snprintf(e.message, sizeof(e.message), "key not found in namespace \"%.*s\"",
                 (int)r->ns.len, (const char *)r->ns.ptr);
    } else {
        snprintf(e.message, sizeof(e.message), "key not found");
    }
    http_reply_error(r, &e);
}

static bool is_long_poll(const struct http_req *r)
{
    return (r->kv.has_block && r->kv.block_ms > 0) || (r->kv.has_wait && r->kv.wait_ms > 0);
}

/* ---- completions ---- */

static void get_not_found(struct http_req *r)
{
    if (is_long_poll(r)) {
        /* The wait ran out: an empty success, the client polls again. */
        http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
        return;
    }
    http_kv_reply_not_found(r);
}

static void get_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    flo_buf_t value;

    if (http_check_reply_with(r, err, status, body, get_not_found, NULL) < 0) {
        return;
    }
    int rc = flo_kv_dec_get(body, &version, &value);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    if (!r->want_json) {
        http_reply_bytes(r, MHD_HTTP_OK, "application/octet-stream", value);
    } else {
        struct flo_wbuf b;
        struct http_json j;
        http_json_start(&j, &b);
        http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&r->target.key));
        http_json_payload(&j, "value", "encoding", value);
        http_json_u64(&j, "version", version);
        http_json_end(&j);
        if (j.err < 0) {
            flo_wbuf_free(&b);
            http_reply_code(r, j.err);
            return;
        }
        http_reply_json(r, MHD_HTTP_OK, &b);
        flo_wbuf_free(&b);
    }
    http_reply_version(r, version);
}

static void head_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;
    bool present;

    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_kv_dec_exists(body, &version, &present);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    if (!present) {
        http_kv_reply_not_found(r);
        return;
    }
    http_reply_bytes(r, MHD_HTTP_OK, "application/octet-stream", FLO_BUF_NULL);
    http_reply_version(r, version);
}

static void put_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    uint64_t version;

    if (http_check_reply_with(r, err, status, body, NULL, reply_precondition_failed) < 0) {
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
    http_json_u64(&j, "version", version);
    http_json_end(&j);
    if (j.err < 0) {
        http_reply_code(r, j.err);
    } else {
        bool created = r->if_none_match.kind == HTTP_PRE_ANY;
        http_reply_json(r, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, &b);
        http_reply_version(r, version);
    }
    flo_wbuf_free(&b);
}

static void delete_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply_with(r, err, status, body, http_kv_reply_not_found,
                              reply_precondition_failed) < 0) {
        return;
    }
    http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
}

/* ---- phases ---- */

/* Choose the namespace: ?namespace= wins over X-Flo-Namespace, which wins
 * over the sidecar's default. */
int http_kv_pick_namespace(struct http_req *r, struct proto_err *e)
{
    if (r->kv.has_ns) {
        r->ns = flo_wbuf_view(&r->kv.ns);
        return 0;
    }
    const char *h = http_req_header(r, HTTP_NS_HEADER);
    if (h == NULL) {
        r->ns = FLO_BUF_STR(r->srv->ctx->default_ns);
        return 0;
    }
    flo_buf_t v = FLO_BUF_STR(h);
    if (v.len == 0) {
        proto_err_bad_request(e, HTTP_NS_HEADER " must not be empty (omit it for the default "
                                                "namespace)");
        return -1;
    }
    if (proto_check_ns(v, e) < 0) {
        return -1;
    }
    if (flo_wbuf_append(&r->ns_hdr, v.ptr, v.len) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    r->ns = flo_wbuf_view(&r->ns_hdr);
    return 0;
}

int http_kv_if_match(struct http_req *r, bool *has, uint64_t *version, struct proto_err *e)
{
    struct http_precond pre;
    *has = false;
    *version = 0;
    if (http_parse_precond("If-Match", http_req_header(r, MHD_HTTP_HEADER_IF_MATCH), &pre, e) < 0) {
        return -1;
    }
    if (pre.kind == HTTP_PRE_ANY) {
        proto_err_bad_request(e, "If-Match: * is not supported here (the key must exist "
                                 "anyway); give a version \"N\" for a CAS");
        return -1;
    }
    if (pre.kind == HTTP_PRE_VERSION) {
        *has = true;
        *version = pre.version;
    }
    return 0;
}

static int pick_preconditions(struct http_req *r, struct proto_err *e)
{
    if (r->method != HTTP_M_PUT && r->method != HTTP_M_DELETE) {
        return 0; /* conditional GET/HEAD are not offered: headers ignored */
    }
    if (http_parse_precond("If-Match", http_req_header(r, MHD_HTTP_HEADER_IF_MATCH), &r->if_match,
                           e) < 0 ||
        http_parse_precond("If-None-Match", http_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH),
                           &r->if_none_match, e) < 0) {
        return -1;
    }
    if (r->if_none_match.kind != HTTP_PRE_NONE) {
        if (r->method == HTTP_M_DELETE) {
            proto_err_bad_request(e, "If-None-Match is not supported on DELETE");
            return -1;
        }
        if (r->if_none_match.kind != HTTP_PRE_ANY) {
            proto_err_bad_request(e, "If-None-Match supports only * (create the key only if "
                                     "it does not exist)");
            return -1;
        }
        if (r->if_match.kind != HTTP_PRE_NONE) {
            proto_err_bad_request(e, "If-Match and If-None-Match cannot be combined: use "
                                     "If-Match to replace a version, If-None-Match: * to "
                                     "create");
            return -1;
        }
    }
    return 0;
}

static void kv_prepare(struct http_req *r)
{
    struct proto_err e;
    const char *q = r->target.query;

    if (http_kv_params_parse(r->method, q, r->target.query_len, &r->kv, &e) < 0 ||
        http_kv_pick_namespace(r, &e) < 0 || pick_preconditions(r, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    if (r->method == HTTP_M_GET) {
        if (r->kv.format == HTTP_FMT_DEFAULT) {
            const char *acc = http_req_header(r, MHD_HTTP_HEADER_ACCEPT);
            r->want_json = acc != NULL && strstr(acc, "application/json") != NULL;
        } else {
            r->want_json = r->kv.format == HTTP_FMT_JSON;
        }
    }
}

static void kv_start(struct http_req *r)
{
    const struct proto_ctx *ctx = r->srv->ctx;
    struct flo_req req = {
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
    };
    uint32_t timeout = 0;
    unsigned flags = 0;
    http_done_cb done = NULL;
    struct proto_err e;
    int rc = 0;

    switch (r->method) {
    case HTTP_M_GET:
        req.op = FLO_OP_KV_GET;
        done = get_done;
        flags = FLO_SEND_IDEMPOTENT;
        if (r->kv.has_block && r->kv.block_ms > 0) {
            rc = flo_opt_u32(&r->opts, FLO_OPT_BLOCK_MS, r->kv.block_ms);
            timeout = proto_timeout_for_block(r->kv.block_ms);
            flags = FLO_SEND_BLOCKING;
        } else if (r->kv.has_wait && r->kv.wait_ms > 0) {
            rc = flo_opt_u32(&r->opts, FLO_OPT_WAIT_MS, r->kv.wait_ms);
            timeout = proto_timeout_for_block(r->kv.wait_ms);
            flags = FLO_SEND_BLOCKING;
        }
        break;
    case HTTP_M_HEAD:
        req.op = FLO_OP_KV_EXISTS;
        done = head_done;
        flags = FLO_SEND_IDEMPOTENT;
        break;
    case HTTP_M_PUT:
        if (proto_check_value(ctx, r->body.len, &e) < 0) {
            http_reply_error(r, &e);
            return;
        }
        req.op = FLO_OP_KV_PUT;
        req.value = flo_wbuf_view(&r->body);
        done = put_done;
        if (r->kv.has_ttl && r->kv.ttl_ms > 0) {
            rc = flo_opt_u64(&r->opts, FLO_OPT_TTL_MS, r->kv.ttl_ms);
        }
        if (rc == 0 && r->if_match.kind == HTTP_PRE_VERSION) {
            rc = flo_opt_u64(&r->opts, FLO_OPT_CAS_VERSION, r->if_match.version);
        } else if (rc == 0 && r->if_match.kind == HTTP_PRE_ANY) {
            rc = flo_opt_flag(&r->opts, FLO_OPT_IF_EXISTS);
        }
        if (rc == 0 && r->if_none_match.kind == HTTP_PRE_ANY) {
            rc = flo_opt_flag(&r->opts, FLO_OPT_IF_NOT_EXISTS);
        }
        break;
    case HTTP_M_DELETE:
        req.op = FLO_OP_KV_DELETE;
        done = delete_done;
        if (r->if_match.kind == HTTP_PRE_VERSION) {
            rc = flo_opt_u64(&r->opts, FLO_OPT_CAS_VERSION, r->if_match.version);
        }
        /* If-Match: * adds nothing: delete already requires the key. */
        break;
    default:
        http_reply_code(r, FLO_EINVAL); /* unreachable: methods are checked */
        return;
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    req.opts = flo_wbuf_view(&r->opts);
    http_send_or_reply(r, &req, timeout, flags, done);
}

const struct http_route_def http_kv_route = {
    .id = HTTP_ROUTE_KV_KEY,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD) |
               HTTP_METHOD_BIT(HTTP_M_PUT) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "GET, HEAD, PUT, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PUT),
    .prepare = kv_prepare,
    .start = kv_start,
};
