/*
 * The consumer-session routes: POST /v1/streams/{s}/groups/{g}/sessions
 * creates a session (the sidecar joins the group), GET / DELETE
 * /v1/sessions/{id} describe / end it, GET /v1/sessions/{id}/records reads
 * (claim-before-read, long-poll with block_ms, or SSE), POST .../ack, /nack,
 * /touch settle records by id. Rules and examples: docs/http-api.md,
 * "Consumer sessions".
 *
 * All upstream work goes through the session core (proto_session.h). A
 * request holds its session from the lookup until the server releases the
 * request (ext_release), so a session in use never expires under it; an
 * operation in flight is cancelled when the client hangs up or the server
 * closes, and its callback then never runs.
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "http_body.h"
#include "http_session.h"
#include "http_sse.h"
#include "http_stream.h"

#define CLAIM_IDLE_WHAT "a whole number of milliseconds from 1 to 4294967295"
#define COUNT_WHAT      "a whole number of records from 1 to 1000"
#define BLOCK_WHAT      "a whole number of milliseconds (capped at 300000)"
#define CONSUMER_WHAT   "a consumer name of at most 255 bytes"
#define LOCATION_MAX    (sizeof("/v1/sessions/") + PROTO_SESS_ID_MAX)
#define MS_MAX          20 /* decimal digits of a u64 */

/* ---- request state ---- */

static void hsess_release(struct http_req *r)
{
    struct hsess *s = r->ext;
    if (s == NULL) {
        return;
    }
    if (s->op != NULL) {
        proto_sess_op_cancel(s->op);
        s->op = NULL;
    }
    hsess_sse_free(s->sse);
    if (s->sess != NULL) {
        proto_sess_put(s->sess);
    }
    flo_wbuf_free(&s->consumer);
    free(s);
}

/* The client hung up during a long-poll: stop the session read. */
static void hsess_gone(struct http_req *r)
{
    struct hsess *s = r->ext;
    if (s != NULL && s->op != NULL) {
        proto_sess_op_cancel(s->op);
        s->op = NULL;
    }
}

/* Allocate r->ext; replies and returns NULL on failure, and when the
 * sidecar runs without a session registry. */
static struct hsess *hsess_state(struct http_req *r)
{
    if (r->ext != NULL) {
        return r->ext;
    }
    if (r->srv->ctx->sessions == NULL) {
        struct proto_err e;
        proto_err_from_code(&e, FLO_EUNAVAIL);
        snprintf(e.message, sizeof(e.message), "sessions are not available on this sidecar");
        e.code = "sessions_unavailable";
        http_reply_error(r, &e);
        return NULL;
    }
    struct hsess *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return NULL;
    }
    flo_wbuf_init(&s->consumer);
    r->ext = s;
    r->ext_release = hsess_release;
    r->on_gone = hsess_gone;
    return s;
}

/* Resolve the id of the path into s->sess (held). 0, or -1 after replying
 * (404 unknown_session for an id the sidecar did not sign). */
static int hsess_lookup(struct http_req *r, struct hsess *s)
{
    struct proto_err e;
    if (s->sess != NULL) {
        return 0;
    }
    if (proto_sess_get(r->srv->ctx->sessions, flo_wbuf_view(&r->target.key), &s->sess, &e) < 0) {
        s->sess = NULL;
        http_reply_error(r, &e);
        return -1;
    }
    return 0;
}

/* A query of a /v1/sessions/{id} route: only the parameters in ps (the id
 * carries the namespace, so ?namespace is refused like any unknown one).
 * 0, or -1 after replying. */
static int hsess_query(struct http_req *r, struct http_qparam *ps, size_t n, const char *route)
{
    struct proto_err e;
    if (http_query_parse(r->target.query, r->target.query_len, ps, n, route, &e) < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    return 0;
}

/* ---- JSON ---- */

int hsess_json_record(struct http_json *j, const struct proto_sess_rec *rec)
{
    int rc = hs_json_record(j, &rec->rec);
    if (rc < 0) {
        return rc;
    }
    http_json_u64(j, "delivery_count", rec->delivery_count);
    return j->err;
}

/* "stream", "group", "consumer" of a described session. */
static void json_names(struct http_json *j, const struct proto_sess_info *in)
{
    http_json_payload(j, "stream", "stream_encoding", in->stream);
    http_json_payload(j, "group", "group_encoding", in->group);
    http_json_payload(j, "consumer", "consumer_encoding", in->consumer);
}

/* The description of a session: the create reply, plus the bookkeeping
 * fields for GET. */
static void reply_info(struct http_req *r, proto_sess_t *sess, unsigned status, bool full)
{
    struct proto_sess_info in;
    struct flo_wbuf b;
    struct http_json j;
    proto_sess_describe(sess, &in);
    http_json_start(&j, &b);
    http_json_str(&j, "session_id", in.id);
    http_json_payload(&j, "namespace", "namespace_encoding", in.ns);
    json_names(&j, &in);
    http_json_u64(&j, "idle_timeout_ms", in.idle_ms);
    http_json_u64(&j, "claim_idle_ms", in.claim_idle_ms);
    if (full) {
        http_json_u64(&j, "created_at_ms", in.created_at_ms);
        http_json_u64(&j, "last_used_at_ms", in.last_used_at_ms);
        http_json_u64(&j, "expires_at_ms", in.expires_at_ms);
        http_json_u64(&j, "delivered", in.delivered);
    }
    http_json_end(&j);
    http_reply_built(r, status, &b, &j);
    if (status == MHD_HTTP_CREATED && in.id.len <= PROTO_SESS_ID_MAX) {
        char loc[LOCATION_MAX];
        snprintf(loc, sizeof(loc), "/v1/sessions/%.*s", (int)in.id.len, (const char *)in.id.ptr);
        http_reply_header(r, MHD_HTTP_HEADER_LOCATION, loc);
    }
}

/* ---- POST /v1/streams/{s}/groups/{g}/sessions ---- */

static void create_prepare(struct http_req *r)
{
    struct hsess *s = hsess_state(r);
    struct proto_err e;
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "consumer",
         .kind = HTTP_QP_BYTES,
         .max = PROTO_SESS_MAX_NAME,
         .what = CONSUMER_WHAT,
         .bytes = &s->consumer},
        {.name = "claim_idle_ms", .kind = HTTP_QP_U64, .max = UINT32_MAX, .what = CLAIM_IDLE_WHAT},
    };
    if (http_parse_query_or_reply(r, p, 2, "POST /v1/streams/{stream}/groups/{group}/sessions") <
        0) {
        return;
    }
    s->has_consumer = p[0].seen;
    if (p[1].seen) {
        if (p[1].u == 0) {
            proto_err_bad_request(&e, "query parameter claim_idle_ms must be " CLAIM_IDLE_WHAT);
            http_reply_error(r, &e);
            return;
        }
        s->has_claim_idle = true;
        s->claim_idle_ms = (uint32_t)p[1].u;
    }
}

/* The optional JSON body {"consumer"?, "claim_idle_ms"?}: its members win
 * over the query's. 0, or -1 with *e. */
static int create_body(struct http_req *r, struct hsess *s, struct proto_err *e)
{
    static const char *const fields[] = {"consumer", "claim_idle_ms", NULL};
    static const char where[] = "session";
    cJSON *doc = NULL;
    if (http_body_json(flo_wbuf_view(&r->body), true, &doc, e) < 0) {
        return -1;
    }
    if (doc == NULL) {
        return 0;
    }
    int rc = http_body_check_fields(doc, fields, where, e);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "consumer");
    if (rc == 0 && c != NULL) {
        if (!cJSON_IsString(c)) {
            proto_err_bad_request(e, "%s: consumer must be a string (%s)", where, CONSUMER_WHAT);
            rc = -1;
        } else if (strlen(c->valuestring) > PROTO_SESS_MAX_NAME) {
            proto_err_bad_request(e, "%s: consumer must be %s", where, CONSUMER_WHAT);
            rc = -1;
        } else {
            flo_wbuf_reset(&s->consumer);
            if (flo_wbuf_append(&s->consumer, c->valuestring, strlen(c->valuestring)) < 0) {
                proto_err_from_code(e, FLO_ENOMEM);
                rc = -1;
            }
            s->has_consumer = true;
        }
    }
    uint64_t ms = 0;
    bool has_ms = false;
    if (rc == 0) {
        rc = http_body_u64(doc, "claim_idle_ms", UINT32_MAX, where, &ms, &has_ms, e);
    }
    if (rc == 0 && has_ms) {
        if (ms == 0) {
            proto_err_bad_request(e, "%s: claim_idle_ms must be " CLAIM_IDLE_WHAT, where);
            rc = -1;
        } else {
            s->has_claim_idle = true;
            s->claim_idle_ms = (uint32_t)ms;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

static void create_done(void *arg, proto_sess_t *sess, const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    s->op = NULL;
    if (sess == NULL) {
        http_reply_error(r, e);
    } else {
        s->sess = sess; /* held; released with the request */
        reply_info(r, sess, MHD_HTTP_CREATED, false);
    }
    http_req_resume(r);
}

static void create_start(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    if (create_body(r, s, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    if (s->has_consumer && s->consumer.len == 0) {
        proto_err_bad_request(&e, "consumer must not be empty (omit it to get a generated name)");
        http_reply_error(r, &e);
        return;
    }
    struct proto_sess_spec spec = {
        .ns = r->ns,
        .stream = flo_wbuf_view(&r->target.key),
        .group = flo_wbuf_view(&r->target.group),
        .consumer = flo_wbuf_view(&s->consumer),
        .claim_idle_ms = s->claim_idle_ms,
    };
    if (proto_sess_create(r->srv->ctx->sessions, &spec, create_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
}

const struct http_route_def http_session_create_route = {
    .id = HTTP_ROUTE_STREAM_GROUP_SESSIONS,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = create_prepare,
    .start = create_start,
};

/* ---- GET / DELETE /v1/sessions/{id} ---- */

static void session_prepare(struct http_req *r)
{
    struct hsess *s = hsess_state(r);
    if (s == NULL) {
        return;
    }
    if (hsess_query(r, NULL, 0,
                    r->method == HTTP_M_DELETE ? "DELETE /v1/sessions/{id}"
                                               : "GET /v1/sessions/{id}") < 0) {
        return;
    }
    hsess_lookup(r, s);
}

static void end_done(void *arg, uint64_t n, const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    (void)n;
    s->op = NULL;
    if (e != NULL) {
        http_reply_error(r, e);
    } else {
        http_reply_bytes(r, MHD_HTTP_NO_CONTENT, NULL, FLO_BUF_NULL);
    }
    http_req_resume(r);
}

static void session_start(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    if (r->method != HTTP_M_DELETE) {
        reply_info(r, s->sess, MHD_HTTP_OK, true);
        return;
    }
    if (proto_sess_end(s->sess, end_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
}

const struct http_route_def http_session_route = {
    .id = HTTP_ROUTE_SESSION,
    .methods =
        HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "GET, HEAD, DELETE",
    .prepare = session_prepare,
    .start = session_start,
};

/* ---- GET /v1/sessions/{id}/records ---- */

static void records_prepare(struct http_req *r)
{
    struct hsess *s = hsess_state(r);
    if (s == NULL) {
        return;
    }
    struct http_qparam p[] = {
        {.name = "count", .kind = HTTP_QP_U64, .max = PROTO_SESS_MAX_COUNT, .what = COUNT_WHAT},
        {.name = "block_ms", .kind = HTTP_QP_U64, .max = UINT64_MAX, .what = BLOCK_WHAT},
        {.name = "follow", .kind = HTTP_QP_BOOL, .what = "true or false"},
    };
    if (hsess_query(r, p, 3, "GET /v1/sessions/{id}/records") < 0) {
        return;
    }
    if (p[0].seen && p[0].u == 0) {
        struct proto_err e;
        proto_err_bad_request(&e, "query parameter count must be " COUNT_WHAT);
        http_reply_error(r, &e);
        return;
    }
    s->read.count = (uint32_t)p[0].u;
    s->read.block_ms = p[1].u > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : (uint32_t)p[1].u;
    s->follow = p[2].seen && p[2].b;
    hsess_lookup(r, s);
}

static void read_done(void *arg, const struct proto_sess_rec *recs, size_t n,
                      const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    s->op = NULL;
    if (e != NULL) {
        http_reply_error(r, e);
        http_req_resume(r);
        return;
    }
    struct proto_sess_info in;
    struct flo_wbuf b;
    struct http_json j;
    int rc = 0;
    proto_sess_describe(s->sess, &in);
    http_json_start(&j, &b);
    http_json_str(&j, "session_id", in.id);
    json_names(&j, &in);
    http_json_array_begin(&j, "records");
    for (size_t i = 0; i < n && rc == 0; i++) {
        http_json_elem_begin(&j);
        rc = hsess_json_record(&j, &recs[i]);
        http_json_end(&j);
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", n);
    http_json_end(&j);
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
    } else {
        http_reply_built(r, MHD_HTTP_OK, &b, &j);
    }
    http_req_resume(r);
}

static void records_start(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    if (http_sse_wanted(r, s->follow)) {
        hsess_sse_start(r);
        return;
    }
    if (proto_sess_read(s->sess, &s->read, read_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
    if (s->read.block_ms > 0) {
        http_req_watch_disconnect(r);
    }
}

const struct http_route_def http_session_records_route = {
    .id = HTTP_ROUTE_SESSION_RECORDS,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = records_prepare,
    .start = records_start,
};

/* ---- POST /v1/sessions/{id}/ack, /nack, /touch ---- */

/* {"ids": ["ts-seq", ...]} with 1..PROTO_SESS_MAX_IDS ids into a new array
 * (*out, caller frees). 0, or -1 with *e. */
static int parse_ids(flo_buf_t body, struct flo_stream_id **out, size_t *n, struct proto_err *e)
{
    static const char *const fields[] = {"ids", NULL};
    cJSON *doc = NULL;
    *out = NULL;
    *n = 0;
    if (http_body_json(body, false, &doc, e) < 0) {
        return -1;
    }
    int rc = http_body_check_fields(doc, fields, "body", e);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(doc, "ids");
    int count = cJSON_GetArraySize(ids);
    if (rc == 0 && (!cJSON_IsArray(ids) || count < 1 || (unsigned)count > PROTO_SESS_MAX_IDS)) {
        proto_err_bad_request(e,
                              "the body must be {\"ids\": [\"<ms>-<seq>\", ...]} with 1 to %u "
                              "record ids",
                              PROTO_SESS_MAX_IDS);
        rc = -1;
    }
    struct flo_stream_id *v = NULL;
    if (rc == 0) {
        v = calloc((size_t)count, sizeof(*v));
        if (v == NULL) {
            proto_err_from_code(e, FLO_ENOMEM);
            rc = -1;
        }
    }
    size_t i = 0;
    const cJSON *it;
    const cJSON *walk = rc == 0 ? ids : NULL; /* nothing to walk after an error */
    cJSON_ArrayForEach(it, walk)
    {
        char what[32];
        snprintf(what, sizeof(what), "ids[%zu]", i);
        if (!cJSON_IsString(it)) {
            proto_err_bad_request(e, "%s must be a string \"<ms>-<seq>\"", what);
            rc = -1;
            break;
        }
        if (hs_parse_id(FLO_BUF_STR(it->valuestring), what, &v[i], e) < 0) {
            rc = -1;
            break;
        }
        i++;
    }
    cJSON_Delete(doc);
    if (rc < 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = i;
    return 0;
}

static const char *idop_field(enum http_route_e route)
{
    switch (route) {
    case HTTP_ROUTE_SESSION_NACK:
        return "nacked";
    case HTTP_ROUTE_SESSION_TOUCH:
        return "touched";
    default:
        return "acked";
    }
}

static void ids_prepare(struct http_req *r)
{
    struct hsess *s = hsess_state(r);
    if (s == NULL) {
        return;
    }
    const char *route = r->target.route == HTTP_ROUTE_SESSION_NACK ? "POST /v1/sessions/{id}/nack"
                        : r->target.route == HTTP_ROUTE_SESSION_TOUCH
                            ? "POST /v1/sessions/{id}/touch"
                            : "POST /v1/sessions/{id}/ack";
    if (hsess_query(r, NULL, 0, route) < 0) {
        return;
    }
    hsess_lookup(r, s);
}

static void ids_done(void *arg, uint64_t n, const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    s->op = NULL;
    if (e != NULL) {
        http_reply_error(r, e);
    } else {
        struct flo_wbuf b;
        struct http_json j;
        http_json_start(&j, &b);
        http_json_u64(&j, idop_field(r->target.route), n);
        http_json_end(&j);
        http_reply_built(r, MHD_HTTP_OK, &b, &j);
    }
    http_req_resume(r);
}

static void ids_start(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    struct flo_stream_id *ids;
    size_t n;
    if (parse_ids(flo_wbuf_view(&r->body), &ids, &n, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    enum proto_sess_idop_e kind = r->target.route == HTTP_ROUTE_SESSION_NACK    ? PROTO_SESS_NACK
                                  : r->target.route == HTTP_ROUTE_SESSION_TOUCH ? PROTO_SESS_TOUCH
                                                                                : PROTO_SESS_ACK;
    /* The core copies the ids. */
    int rc = proto_sess_ids(s->sess, kind, ids, n, ids_done, r, &s->op, &e);
    free(ids);
    if (rc < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
}

#define IDS_ROUTE(name, route_id)                                                                  \
    const struct http_route_def name = {                                                           \
        .id = route_id,                                                                            \
        .methods = HTTP_METHOD_BIT(HTTP_M_POST),                                                   \
        .allow = "POST",                                                                           \
        .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),                                              \
        .prepare = ids_prepare,                                                                    \
        .start = ids_start,                                                                        \
    }

IDS_ROUTE(http_session_ack_route, HTTP_ROUTE_SESSION_ACK);
IDS_ROUTE(http_session_nack_route, HTTP_ROUTE_SESSION_NACK);
IDS_ROUTE(http_session_touch_route, HTTP_ROUTE_SESSION_TOUCH);
