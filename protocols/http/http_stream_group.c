/*
 * The consumer-group routes under /v1/streams/{s}/groups/{g}: create (409
 * when the group exists), info, delete, the sweeper settings, and the
 * pending-entries list. Membership, group reads and acks belong to consumer
 * sessions, which are not part of these routes. Rules and examples:
 * docs/http-api.md, "Consumer groups".
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "http_body.h"
#include "http_stream.h"

#define ACK_TIMEOUT_WHAT "a whole number of milliseconds up to 4294967295 (0 = never redeliver)"
#define MAX_DELIVER_WHAT "a whole number of deliveries from 0 to 255 (0 = unlimited)"
#define MAX_CONSUMER     PROTO_MAX_KEY

/* ---- shared ---- */

/* [group str16] into s->val. 0, or -1 after replying. */
static int group_value(struct http_req *r, struct hs_state *s)
{
    int rc = flo_group_value(&s->val, flo_wbuf_view(&r->target.group));
    if (rc < 0) {
        http_reply_code(r, rc);
        return -1;
    }
    return 0;
}

/* The sweeper settings from the query (already in s) and an optional JSON
 * body {"ack_timeout_ms"?, "max_deliver"?}, whose members win. 0, or -1
 * after replying. */
static int sweeper_body(struct http_req *r, struct hs_state *s, const char *where)
{
    static const char *const fields[] = {"ack_timeout_ms", "max_deliver", NULL};
    struct proto_err e;
    cJSON *doc = NULL;
    if (http_body_json(flo_wbuf_view(&r->body), true, &doc, &e) < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    if (doc == NULL) {
        return 0;
    }
    uint64_t ack = 0, md = 0;
    bool has_ack = false, has_md = false;
    int rc = http_body_check_fields(doc, fields, where, &e);
    if (rc == 0) {
        rc = http_body_u64(doc, "ack_timeout_ms", UINT32_MAX, where, &ack, &has_ack, &e);
    }
    if (rc == 0) {
        rc = http_body_u64(doc, "max_deliver", UINT8_MAX, where, &md, &has_md, &e);
    }
    cJSON_Delete(doc);
    if (rc < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    if (has_ack) {
        s->has_ack_timeout = true;
        s->ack_timeout_ms = (uint32_t)ack;
    }
    if (has_md) {
        s->has_max_deliver = true;
        s->max_deliver = (uint8_t)md;
    }
    return 0;
}

/* ?ack_timeout_ms= and ?max_deliver= (plus namespace). */
static void sweeper_query(struct http_req *r, const char *route)
{
    struct hs_state *s = hs_state(r);
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "ack_timeout_ms",
         .kind = HTTP_QP_U64,
         .max = UINT32_MAX,
         .what = ACK_TIMEOUT_WHAT},
        {.name = "max_deliver", .kind = HTTP_QP_U64, .max = UINT8_MAX, .what = MAX_DELIVER_WHAT},
    };
    if (http_parse_query_or_reply(r, p, 2, route) < 0) {
        return;
    }
    s->has_ack_timeout = p[0].seen;
    s->ack_timeout_ms = (uint32_t)p[0].u;
    s->has_max_deliver = p[1].seen;
    s->max_deliver = (uint8_t)p[1].u;
}

/* Reply {"stream", "group", <settings given>, extra flag}. */
static void settings_reply(struct http_req *r, unsigned status, const char *flag)
{
    struct hs_state *s = r->ext;
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    if (s->has_ack_timeout) {
        http_json_u64(&j, "ack_timeout_ms", s->ack_timeout_ms);
    }
    if (s->has_max_deliver) {
        http_json_u64(&j, "max_deliver", s->max_deliver);
    }
    http_json_bool(&j, flag, true);
    http_json_end(&j);
    http_reply_built(r, status, &b, &j);
}

/* ---- PUT / GET / DELETE /v1/streams/{s}/groups/{g} ---- */

static void create_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (err == 0 && status == FLO_STATUS_CONFLICT) {
        struct proto_err e;
        proto_err_from_status(&e, status, body);
        snprintf(e.message, sizeof(e.message),
                 "consumer group already exists on this stream; change its settings with "
                 "PATCH .../sweeper or delete it first");
        http_reply_error(r, &e);
        return;
    }
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    settings_reply(r, MHD_HTTP_CREATED, "created");
}

static void info_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_group_info g;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_group_dec_info(body, &g);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    http_json_u64(&j, "pending", g.pending_count);
    http_json_u64(&j, "members", g.member_count);
    http_json_u64(&j, "created_at_ms", g.created_at_ns / 1000000u);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void delete_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    http_json_bool(&j, "deleted", true);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void group_prepare(struct http_req *r)
{
    if (r->method == HTTP_M_PUT) {
        sweeper_query(r, "PUT /v1/streams/{stream}/groups/{group}");
        return;
    }
    if (hs_state(r) != NULL) {
        http_parse_query_or_reply(r, NULL, 0,
                                  r->method == HTTP_M_DELETE
                                      ? "DELETE /v1/streams/{stream}/groups/{group}"
                                      : "GET /v1/streams/{stream}/groups/{group}");
    }
}

static void group_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    if (group_value(r, s) < 0) {
        return;
    }
    if (r->method == HTTP_M_GET || r->method == HTTP_M_HEAD) {
        struct flo_req req = hs_req(r, FLO_OP_GROUP_INFO);
        http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, info_done);
        return;
    }
    if (r->method == HTTP_M_DELETE) {
        struct flo_req req = hs_req(r, FLO_OP_GROUP_DELETE);
        http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, delete_done);
        return;
    }
    if (sweeper_body(r, s, "group settings") < 0) {
        return;
    }
    int rc = flo_group_sweeper_opts(&r->opts, s->has_ack_timeout, s->ack_timeout_ms,
                                    s->has_max_deliver, s->max_deliver);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    /* Not retried: a replay after a lost reply would answer 409. */
    struct flo_req req = hs_req(r, FLO_OP_GROUP_CREATE);
    http_send_or_reply(r, &req, 0, 0, create_done);
}

const struct http_route_def http_stream_group_route = {
    .id = HTTP_ROUTE_STREAM_GROUP,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD) |
               HTTP_METHOD_BIT(HTTP_M_PUT) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "GET, HEAD, PUT, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PUT),
    .prepare = group_prepare,
    .start = group_start,
};

/* ---- PATCH (or POST) /v1/streams/{s}/groups/{g}/sweeper ---- */

static void sweeper_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    settings_reply(r, MHD_HTTP_OK, "updated");
}

static void sweeper_prepare(struct http_req *r)
{
    sweeper_query(r, "PATCH /v1/streams/{stream}/groups/{group}/sweeper");
}

static void sweeper_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    struct proto_err e;
    if (sweeper_body(r, s, "sweeper settings") < 0 || group_value(r, s) < 0) {
        return;
    }
    if (!s->has_ack_timeout && !s->has_max_deliver) {
        proto_err_bad_request(&e, "give ack_timeout_ms and/or max_deliver (JSON body or query)");
        http_reply_error(r, &e);
        return;
    }
    int rc = flo_group_sweeper_opts(&r->opts, s->has_ack_timeout, s->ack_timeout_ms,
                                    s->has_max_deliver, s->max_deliver);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    /* Setting the same values twice is harmless. */
    struct flo_req req = hs_req(r, FLO_OP_GROUP_CONFIGURE_SWEEPER);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, sweeper_done);
}

const struct http_route_def http_stream_sweeper_route = {
    .id = HTTP_ROUTE_STREAM_GROUP_SWEEPER,
    .methods = HTTP_METHOD_BIT(HTTP_M_PATCH) | HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "PATCH, POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PATCH) | HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = sweeper_prepare,
    .start = sweeper_start,
};

/* ---- GET /v1/streams/{s}/groups/{g}/pending ---- */

static void pending_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_group_pending_iter it;
    struct flo_group_pending_entry ent;
    uint32_t count;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_group_pending_begin(body, &it, &count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    uint64_t n = 0;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    http_json_array_begin(&j, "pending");
    while ((rc = flo_group_pending_next(&it, &ent)) == 1) {
        http_json_elem_begin(&j);
        hs_json_id(&j, "id", ent.id);
        http_json_payload(&j, "consumer", "consumer_encoding", ent.consumer);
        http_json_u64(&j, "delivery_count", ent.delivery_count);
        http_json_end(&j);
        n++;
    }
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", n);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void pending_prepare(struct http_req *r)
{
    struct hs_state *s = hs_state(r);
    struct proto_err e;
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "consumer",
         .kind = HTTP_QP_BYTES,
         .max = MAX_CONSUMER,
         .what = "a consumer name (non-empty, no NUL)",
         .bytes = &s->consumer},
    };
    if (http_parse_query_or_reply(r, p, 1, "GET /v1/streams/{stream}/groups/{group}/pending") < 0) {
        return;
    }
    if (p[0].seen && (s->consumer.len == 0 || memchr(s->consumer.data, 0, s->consumer.len))) {
        /* Flo reads an empty consumer as "default": refuse rather than
         * list another consumer's entries. */
        proto_err_bad_request(&e, "query parameter consumer must be a non-empty name without "
                                  "NUL bytes (omit it for every consumer)");
        http_reply_error(r, &e);
    }
}

static void pending_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    int rc;
    if (s->consumer.len > 0) {
        rc = flo_group_member_value(&s->val, flo_wbuf_view(&r->target.group),
                                    flo_wbuf_view(&s->consumer));
    } else {
        rc = flo_group_value(&s->val, flo_wbuf_view(&r->target.group));
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_req req = hs_req(r, FLO_OP_GROUP_PENDING);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, pending_done);
}

const struct http_route_def http_stream_pending_route = {
    .id = HTTP_ROUTE_STREAM_GROUP_PENDING,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = pending_prepare,
    .start = pending_start,
};
