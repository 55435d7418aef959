/*
 * POST /v1/kv/txn: a list of KV operations committed atomically as one Flo
 * per-shard transaction. The body is validated completely (every op, Flo's
 * caps of 256 ops and 1 MiB) before anything goes upstream; the shared
 * runner (protocols/common/proto_txn.c) then does BEGIN -> ops -> COMMIT
 * and rolls back on the first failure, so a failed request leaves nothing
 * behind. The reply lists each op's result and the commit index, or names
 * the op that failed.
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "http_body.h"
#include "http_internal.h"
#include "http_json.h"
#include "proto_txn.h"

#define WHERE_MAX 32 /* "op 255" and the like */

/* The request's transaction (owned by r->ext). */
struct txn_state {
    struct proto_txn *run;        /* runner in flight, NULL once it reported */
    enum proto_txn_kind_e *kinds; /* kind of each op, for the reply */
    struct flo_wbuf *keys;        /* key of each op (owned), for the reply */
    size_t n;
};

static const struct {
    const char *name;
    enum proto_txn_kind_e kind;
} op_names[] = {
    {"put", PROTO_TXN_PUT},       {"delete", PROTO_TXN_DELETE},   {"incr", PROTO_TXN_INCR},
    {"touch", PROTO_TXN_TOUCH},   {"persist", PROTO_TXN_PERSIST}, {"get", PROTO_TXN_GET},
    {"exists", PROTO_TXN_EXISTS},
};

/* Ops of the API that Flo refuses inside a transaction. */
static const char *const refused_ops[] = {"scan",     "mget",     "history", "json_get",
                                          "json_set", "json_del", "json",    NULL};

static const char *kind_name(enum proto_txn_kind_e k)
{
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (op_names[i].kind == k) {
            return op_names[i].name;
        }
    }
    return "?";
}

static void txn_release(struct http_req *r)
{
    struct txn_state *s = r->ext;
    if (s == NULL) {
        return;
    }
    if (s->run != NULL) {
        proto_txn_cancel(s->run); /* the runner still rolls back upstream */
    }
    for (size_t i = 0; i < s->n; i++) {
        flo_wbuf_free(&s->keys[i]);
    }
    free(s->keys);
    free(s->kinds);
    free(s);
}

/* ---- the reply ---- */

static void result_fields(struct http_json *j, enum proto_txn_kind_e k,
                          const struct proto_txn_result *res)
{
    bool ok = res->status == FLO_STATUS_OK;
    uint64_t version;
    flo_buf_t value;
    bool present;
    int64_t delta;

    switch (k) {
    case PROTO_TXN_PUT:
        http_json_bool(j, "ok", true);
        break;
    case PROTO_TXN_DELETE:
        http_json_bool(j, "deleted", ok);
        break;
    case PROTO_TXN_TOUCH:
    case PROTO_TXN_PERSIST:
        http_json_bool(j, "found", ok);
        break;
    case PROTO_TXN_INCR:
        /* Inside a transaction Flo answers the delta as a placeholder; the
         * counter's new value exists only after COMMIT. */
        if (ok && flo_kv_dec_incr(res->body, &version, &delta) == 0) {
            http_json_i64(j, "delta", delta);
        }
        break;
    case PROTO_TXN_GET:
        http_json_bool(j, "found", ok);
        if (ok && flo_kv_dec_get(res->body, &version, &value) == 0) {
            http_json_payload(j, "value", "encoding", value);
            if (version > 0) {
                http_json_u64(j, "version", version); /* 0 = written in this txn */
            }
        }
        break;
    case PROTO_TXN_EXISTS:
        if (flo_kv_dec_exists(res->body, &version, &present) == 0) {
            http_json_bool(j, "exists", present);
        }
        break;
    }
}

static void reply_committed(struct http_req *r, const struct txn_state *s,
                            const struct proto_txn_outcome *o)
{
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    http_json_bool(&j, "committed", true);
    http_json_u64(&j, "commit_index", o->commit_index);
    http_json_u64(&j, "op_count", o->op_count);
    http_json_u64(&j, "txn_id", o->txn_id);
    http_json_array_begin(&j, "results");
    for (size_t i = 0; i < o->nresults && i < s->n; i++) {
        http_json_elem_begin(&j);
        http_json_cstr(&j, "op", kind_name(s->kinds[i]));
        http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&s->keys[i]));
        result_fields(&j, s->kinds[i], &o->results[i]);
        http_json_end(&j);
    }
    http_json_array_end(&j);
    http_json_end(&j);
    if (j.err < 0) {
        http_reply_code(r, j.err);
    } else {
        http_reply_json(r, MHD_HTTP_OK, &b);
    }
    flo_wbuf_free(&b);
}

static void reply_failed(struct http_req *r, const struct txn_state *s,
                         const struct proto_txn_outcome *o)
{
    struct proto_err e = o->error;
    struct flo_wbuf b;
    struct http_json j;
    long step = o->failed_step;
    bool is_op = step >= 0 && (size_t)step < s->n;

    if (is_op && s->kinds[step] == PROTO_TXN_INCR && e.http_status == 400 &&
        strstr(e.message, "not a counter") != NULL) {
        /* Same status as POST /v1/kv/{key}/incr gives for it. */
        e.http_status = MHD_HTTP_CONFLICT;
        e.code = "not_a_counter";
    } else if (is_op && strstr(e.message, "overflow") != NULL) {
        e.http_status = MHD_HTTP_CONFLICT;
        e.code = "counter_overflow";
    }
    if (e.http_status == 409 && is_op && strcmp(e.code, "conflict") == 0) {
        snprintf(e.message, sizeof(e.message),
                 "op %ld (%s) failed its condition: the key changed, exists (if_not_exists), "
                 "is missing (if_exists) or its version differs (if_match); nothing was "
                 "applied",
                 step, kind_name(s->kinds[step]));
    } else if (is_op) {
        char msg[sizeof(e.message)];
        int k = snprintf(msg, sizeof(msg), "op %ld (%s): ", step, kind_name(s->kinds[step]));
        snprintf(msg + k, sizeof(msg) - (size_t)k, "%.400s; nothing was applied", e.message);
        memcpy(e.message, msg, sizeof(msg));
    }
    http_json_start(&j, &b);
    http_json_cstr(&j, "error", e.message);
    http_json_cstr(&j, "code", e.code ? e.code : "error");
    http_json_bool(&j, "committed", false);
    if (is_op) {
        http_json_u64(&j, "failed_op", (uint64_t)step);
        http_json_cstr(&j, "op", kind_name(s->kinds[step]));
        http_json_payload(&j, "key", "key_encoding", flo_wbuf_view(&s->keys[step]));
    } else {
        http_json_cstr(&j, "failed_step", step < 0 ? "begin" : "commit");
    }
    http_json_end(&j);
    if (j.err < 0) {
        http_reply_code(r, j.err);
    } else {
        http_reply_json(r, (unsigned)e.http_status, &b);
    }
    flo_wbuf_free(&b);
}

static void txn_cb(void *arg, const struct proto_txn_outcome *o)
{
    struct http_req *r = arg;
    struct txn_state *s = r->ext;
    s->run = NULL;
    if (o->committed) {
        reply_committed(r, s, o);
    } else {
        reply_failed(r, s, o);
    }
    http_req_resume(r);
}

/* ---- parsing the body ---- */

static int parse_kind(const cJSON *op, const char *where, enum proto_txn_kind_e *kind,
                      struct proto_err *e)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(op, "op");
    if (!cJSON_IsString(name)) {
        proto_err_bad_request(e,
                              "%s: \"op\" is required (put, delete, incr, touch, persist, "
                              "get or exists)",
                              where);
        return -1;
    }
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (strcmp(name->valuestring, op_names[i].name) == 0) {
            *kind = op_names[i].kind;
            return 0;
        }
    }
    for (size_t i = 0; refused_ops[i] != NULL; i++) {
        if (strcmp(name->valuestring, refused_ops[i]) == 0) {
            proto_err_bad_request(e,
                                  "%s: \"%s\" cannot run inside a transaction (Flo refuses "
                                  "scan, mget, json and history in one); only put, delete, "
                                  "incr, touch, persist, get and exists can",
                                  where, refused_ops[i]);
            return -1;
        }
    }
    proto_err_bad_request(e,
                          "%s: unknown op \"%.32s\" (use put, delete, incr, touch, persist, get "
                          "or exists)",
                          where, name->valuestring);
    return -1;
}

/* The fields each kind accepts (besides op, key, key_encoding). */
static const char *const *fields_of(enum proto_txn_kind_e k)
{
    static const char *const put[] = {
        "op",     "key",      "key_encoding", "value",         "encoding",
        "ttl_ms", "if_match", "if_exists",    "if_not_exists", NULL};
    static const char *const cas[] = {"op", "key", "key_encoding", "if_match", NULL};
    static const char *const incr[] = {"op", "key", "key_encoding", "delta", NULL};
    static const char *const touch[] = {"op", "key", "key_encoding", "ttl_ms", "if_match", NULL};
    static const char *const plain[] = {"op", "key", "key_encoding", NULL};
    switch (k) {
    case PROTO_TXN_PUT:
        return put;
    case PROTO_TXN_DELETE:
    case PROTO_TXN_PERSIST:
        return cas;
    case PROTO_TXN_INCR:
        return incr;
    case PROTO_TXN_TOUCH:
        return touch;
    default:
        return plain;
    }
}

/* One op object into *o; its key and value go to key/value (owned by the
 * caller, views taken by *o). */
static int parse_op(const cJSON *op, size_t idx, struct proto_txn_op *o, struct flo_wbuf *key,
                    struct flo_wbuf *value, struct proto_err *e)
{
    char where[WHERE_MAX];
    bool present;
    snprintf(where, sizeof(where), "op %zu", idx);
    memset(o, 0, sizeof(*o));
    if (!cJSON_IsObject(op)) {
        proto_err_bad_request(e,
                              "%s must be an object like {\"op\": \"put\", \"key\": \"k\", "
                              "\"value\": \"v\"}",
                              where);
        return -1;
    }
    if (parse_kind(op, where, &o->kind, e) < 0 ||
        http_body_check_fields(op, fields_of(o->kind), where, e) < 0 ||
        http_body_payload(op, "key", "key_encoding", where, key, &present, e) < 0) {
        return -1;
    }
    if (!present || key->len == 0) {
        proto_err_bad_request(e, "%s: \"key\" is required and must not be empty", where);
        return -1;
    }
    o->key = flo_wbuf_view(key);
    switch (o->kind) {
    case PROTO_TXN_PUT:
        if (http_body_payload(op, "value", "encoding", where, value, &present, e) < 0) {
            return -1;
        }
        if (!present) {
            proto_err_bad_request(e, "%s: put needs \"value\" (\"\" for an empty value)", where);
            return -1;
        }
        o->value = flo_wbuf_view(value);
        if (http_body_u64(op, "ttl_ms", UINT64_MAX, where, &o->ttl_ms, &present, e) < 0 ||
            http_body_bool(op, "if_exists", where, &o->if_exists, e) < 0 ||
            http_body_bool(op, "if_not_exists", where, &o->if_not_exists, e) < 0) {
            return -1;
        }
        break;
    case PROTO_TXN_INCR:
        o->delta = 1;
        if (http_body_i64(op, "delta", where, &o->delta, &present, e) < 0) {
            return -1;
        }
        break;
    case PROTO_TXN_TOUCH:
        if (http_body_u64(op, "ttl_ms", UINT64_MAX, where, &o->ttl_ms, &present, e) < 0) {
            return -1;
        }
        if (!present) {
            proto_err_bad_request(e, "%s: touch needs \"ttl_ms\" (use persist to clear a TTL)",
                                  where);
            return -1;
        }
        break;
    default:
        break;
    }
    if (cJSON_GetObjectItemCaseSensitive(op, "if_match") != NULL &&
        http_body_u64(op, "if_match", UINT64_MAX, where, &o->cas_version, &o->has_cas, e) < 0) {
        return -1;
    }
    return 0;
}

static void txn_prepare(struct http_req *r)
{
    (void)http_parse_query_or_reply(r, NULL, 0, "POST /v1/kv/txn");
}

static void txn_start(struct http_req *r)
{
    static const char *const fields[] = {"routing_key", "routing_key_encoding", "ops", NULL};
    struct proto_err e;
    cJSON *doc = NULL;
    struct proto_txn_op *ops = NULL;
    struct flo_wbuf *values = NULL;
    struct flo_wbuf routing;
    bool has_routing = false;
    size_t n = 0;
    bool ok = false;

    flo_wbuf_init(&routing);
    if (http_body_json(flo_wbuf_view(&r->body), false, &doc, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    struct txn_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        proto_err_from_code(&e, FLO_ENOMEM);
        goto out;
    }
    r->ext = s;
    r->ext_release = txn_release;
    if (http_body_check_fields(doc, fields, "txn body", &e) < 0 ||
        http_body_payload(doc, "routing_key", "routing_key_encoding", "txn body", &routing,
                          &has_routing, &e) < 0) {
        goto out;
    }
    const cJSON *jops = cJSON_GetObjectItemCaseSensitive(doc, "ops");
    if (!cJSON_IsArray(jops)) {
        proto_err_bad_request(&e, "txn body needs \"ops\": an array of operations");
        goto out;
    }
    int count = cJSON_GetArraySize(jops);
    if (count > PROTO_TXN_MAX_OPS) {
        proto_err_too_large(&e, "transaction has %d ops; Flo allows at most %d", count,
                            PROTO_TXN_MAX_OPS);
        goto out;
    }
    n = (size_t)count;
    if (n > 0) {
        ops = calloc(n, sizeof(*ops));
        values = calloc(n, sizeof(*values));
        s->keys = calloc(n, sizeof(*s->keys));
        s->kinds = calloc(n, sizeof(*s->kinds));
        if (ops == NULL || values == NULL || s->keys == NULL || s->kinds == NULL) {
            proto_err_from_code(&e, FLO_ENOMEM);
            goto out;
        }
    }
    s->n = n; /* the key buffers are zeroed = initialised and empty */
    size_t i = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, jops)
    {
        if (parse_op(op, i, &ops[i], &s->keys[i], &values[i], &e) < 0) {
            goto out;
        }
        s->kinds[i] = ops[i].kind;
        i++;
    }
    if (!has_routing && n > 0) {
        /* Default: the first op's key, so a single-key transaction needs
         * no routing key at all. */
        if (flo_wbuf_append(&routing, s->keys[0].data, s->keys[0].len) < 0) {
            proto_err_from_code(&e, FLO_ENOMEM);
            goto out;
        }
    }
    if (routing.len == 0) {
        proto_err_bad_request(&e, "txn body needs a non-empty \"routing_key\" (it picks the "
                                  "shard all ops run on; it defaults to the first op's key)");
        goto out;
    }
    if (proto_txn_run(r->srv->ctx, r->ns, flo_wbuf_view(&routing), ops, n, txn_cb, r, &s->run, &e) <
        0) {
        goto out;
    }
    ok = true;
    http_req_suspend(r);
out:
    if (!ok) {
        http_reply_error(r, &e);
    }
    for (size_t x = 0; values != NULL && x < n; x++) {
        flo_wbuf_free(&values[x]);
    }
    free(values);
    free(ops);
    flo_wbuf_free(&routing);
    cJSON_Delete(doc);
}

const struct http_route_def http_kv_txn_route = {
    .id = HTTP_ROUTE_KV_TXN,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = txn_prepare,
    .start = txn_start,
};
