/*
 * The /v1/streams routes: list streams, create / info / delete a stream,
 * append records (raw body with headers from X-Flo-Header-* or ?header=, or
 * a JSON record or array of records as one batch), read records (from an id,
 * the tail, a range, with block_ms long-polls on the pool's blocking lane)
 * and trim. Consumer groups are in http_stream_group.c. Rules and examples:
 * docs/http-api.md, "Streams".
 *
 * Ids travel as "ts-seq" text. An append of N records takes N consecutive
 * ids and Flo answers only the first, so the reply lists first + i.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "http_body.h"
#include "http_queue_body.h"
#include "http_sse.h"
#include "http_stream.h"

#define MAX_PARTITIONS    65536u /* flo-dev's and Flo's create limit */
#define MAX_HEADERS       256u   /* headers per record (the wire allows 65535) */
#define HEADER_PREFIX     "X-Flo-Header-"
#define HEADER_PREFIX_LEN (sizeof(HEADER_PREFIX) - 1)
#define FRAME_ENVELOPE    10u /* ns u16 + key u16 + value u32 + opts u16 */
#define STR16_MAX         UINT16_MAX
#define ID_WHAT           "a stream id \"<ms>-<seq>\" or \"<ms>\" (decimal digits)"
#define APPEND_ROUTE      "POST /v1/streams/{stream}/records"
#define INITIAL_RECS      8u

/* ---- shared helpers (http_stream.h) ---- */

static void hs_release(struct http_req *r)
{
    struct hs_state *s = r->ext;
    if (s != NULL) {
        flo_wbuf_free(&s->val);
        flo_wbuf_free(&s->consumer);
        hs_sse_free(s->sse);
        free(s);
    }
}

struct hs_state *hs_state(struct http_req *r)
{
    if (r->ext != NULL) {
        return r->ext;
    }
    struct hs_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return NULL;
    }
    flo_wbuf_init(&s->val);
    flo_wbuf_init(&s->consumer);
    r->ext = s;
    r->ext_release = hs_release;
    return s;
}

int hs_parse_id(flo_buf_t text, const char *what, struct flo_stream_id *id, struct proto_err *e)
{
    if (flo_stream_id_parse(text, id) < 0) {
        /* Show the text only when it is short and printable. */
        bool show = text.len <= 64;
        for (size_t i = 0; show && i < text.len; i++) {
            show = text.ptr[i] >= 0x20 && text.ptr[i] < 0x7f && text.ptr[i] != '"';
        }
        if (show) {
            proto_err_bad_request(e, "%s: \"%.*s\" is not %s", what, (int)text.len,
                                  (const char *)text.ptr, ID_WHAT);
        } else {
            proto_err_bad_request(e, "%s is not %s", what, ID_WHAT);
        }
        return -1;
    }
    return 0;
}

void hs_json_id(struct http_json *j, const char *name, struct flo_stream_id id)
{
    char buf[FLO_STREAM_ID_TEXT_MAX];
    flo_stream_id_format(id, buf, sizeof(buf));
    http_json_cstr(j, name, buf);
}

struct flo_req hs_req(struct http_req *r, uint16_t op)
{
    struct hs_state *s = r->ext;
    return (struct flo_req){
        .op = op,
        .ns = r->ns,
        .key = flo_wbuf_view(&r->target.key),
        .value = s ? flo_wbuf_view(&s->val) : FLO_BUF_NULL,
        .opts = flo_wbuf_view(&r->opts),
    };
}

void hs_json_names(struct http_json *j, struct http_req *r)
{
    http_json_payload(j, "stream", "stream_encoding", flo_wbuf_view(&r->target.key));
    if (r->target.group.len > 0) {
        http_json_payload(j, "group", "group_encoding", flo_wbuf_view(&r->target.group));
    }
}

/* ---- GET /v1/streams ---- */

static void list_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_stream_list_iter it;
    struct flo_stream_list_entry ent;
    uint32_t count;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_stream_list_begin(body, &it, &count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    uint64_t n = 0;
    http_json_start(&j, &b);
    http_json_array_begin(&j, "streams");
    while ((rc = flo_stream_list_next(&it, &ent)) == 1) {
        http_json_elem_begin(&j);
        http_json_payload(&j, "name", "name_encoding", ent.name);
        http_json_u64(&j, "partitions", ent.partition_count);
        http_json_end(&j);
        n++;
    }
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    http_reply_list_end(r, &b, &j, n, flo_cur_rest(&it.cur));
}

static void list_prepare(struct http_req *r)
{
    http_parse_query_or_reply(r, NULL, 0, "GET /v1/streams");
}

static void list_start(struct http_req *r)
{
    struct flo_req req = {.op = FLO_OP_STREAM_LIST, .ns = r->ns};
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, list_done);
}

const struct http_route_def http_stream_list_route = {
    .id = HTTP_ROUTE_STREAMS,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = list_prepare,
    .start = list_start,
};

/* ---- PUT / GET / DELETE /v1/streams/{s} ---- */

static void info_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_stream_info in;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_stream_dec_info(body, &in);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    hs_json_id(&j, "first_id", in.first);
    hs_json_id(&j, "last_id", in.last);
    http_json_u64(&j, "count", in.count);
    http_json_u64(&j, "bytes", in.bytes);
    http_json_u64(&j, "partitions", in.partition_count);
    if (in.has_retention) {
        /* 0 means "no limit" for each of them. */
        http_json_object_begin(&j, "retention");
        http_json_u64(&j, "age_s", in.retention_age_s);
        http_json_u64(&j, "count", in.retention_count);
        http_json_u64(&j, "bytes", in.retention_bytes);
        http_json_end(&j);
    }
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void create_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    /* Answer with the stream as Flo now describes it. */
    flo_wbuf_reset(&r->opts);
    struct hs_state *s = r->ext;
    flo_wbuf_reset(&s->val);
    struct flo_req req = hs_req(r, FLO_OP_STREAM_INFO);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, info_done);
}

static void delete_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    if (err == 0 && status == FLO_STATUS_CONFLICT) {
        struct proto_err e;
        proto_err_from_status(&e, status, body);
        snprintf(e.message, sizeof(e.message),
                 "stream is not empty; pass ?force=true to delete it with its records and "
                 "consumer groups");
        http_reply_error(r, &e);
        return;
    }
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

static void stream_prepare(struct http_req *r)
{
    struct hs_state *s = hs_state(r);
    if (s == NULL) {
        return;
    }
    if (r->method == HTTP_M_GET || r->method == HTTP_M_HEAD) {
        http_parse_query_or_reply(r, NULL, 0, "GET /v1/streams/{stream}");
        return;
    }
    if (r->method == HTTP_M_DELETE) {
        struct http_qparam p[] = {
            {.name = "force", .kind = HTTP_QP_BOOL, .what = "true or false"},
        };
        if (http_parse_query_or_reply(r, p, 1, "DELETE /v1/streams/{stream}") == 0) {
            s->force = p[0].b;
        }
        return;
    }
    /* PUT: the settings may come as query parameters or in a JSON body;
     * the query is checked here, the body at the end. */
    struct http_qparam p[] = {
        {.name = "partitions",
         .kind = HTTP_QP_U64,
         .max = MAX_PARTITIONS,
         .what = "a partition count from 1 to 65536"},
        {.name = "retention_age_s",
         .kind = HTTP_QP_U64,
         .max = UINT64_MAX,
         .what = "a whole number of seconds (0 = keep forever)"},
        {.name = "retention_count",
         .kind = HTTP_QP_U64,
         .max = UINT64_MAX,
         .what = "a whole number of records (0 = no limit)"},
    };
    if (http_parse_query_or_reply(r, p, 3, "PUT /v1/streams/{stream}") < 0) {
        return;
    }
    s->partitions = p[0].u;
    s->retention_age_s = p[1].u;
    s->retention_count = p[2].u;
}

/* PUT body: {"partitions"?, "retention_age_s"?, "retention_count"?}; its
 * members replace the query's. Then builds the create value and options.
 * 0, or -1 after replying. */
static int create_body(struct http_req *r, struct hs_state *s)
{
    static const char *const fields[] = {"partitions", "retention_age_s", "retention_count", NULL};
    struct proto_err e;
    cJSON *doc = NULL;
    if (http_body_json(flo_wbuf_view(&r->body), true, &doc, &e) < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    uint64_t parts = 0, age = 0, cnt = 0;
    bool has_parts = false, has_age = false, has_cnt = false;
    int rc = doc ? http_body_check_fields(doc, fields, "stream settings", &e) : 0;
    if (rc == 0 && doc) {
        rc = http_body_u64(doc, "partitions", MAX_PARTITIONS, "stream settings", &parts, &has_parts,
                           &e);
    }
    if (rc == 0 && doc) {
        rc = http_body_u64(doc, "retention_age_s", UINT64_MAX, "stream settings", &age, &has_age,
                           &e);
    }
    if (rc == 0 && doc) {
        rc = http_body_u64(doc, "retention_count", UINT64_MAX, "stream settings", &cnt, &has_cnt,
                           &e);
    }
    cJSON_Delete(doc);
    if (rc < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    if (has_parts) {
        s->partitions = parts;
    }
    if (has_age) {
        s->retention_age_s = age;
    }
    if (has_cnt) {
        s->retention_count = cnt;
    }
    rc = flo_stream_create_value(&s->val, (uint32_t)s->partitions);
    if (rc == 0 && s->retention_age_s > 0) {
        rc = flo_opt_u64(&r->opts, FLO_OPT_RETENTION_AGE, s->retention_age_s);
    }
    if (rc == 0 && s->retention_count > 0) {
        rc = flo_opt_u64(&r->opts, FLO_OPT_RETENTION_COUNT, s->retention_count);
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return -1;
    }
    return 0;
}

static void stream_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    if (r->method == HTTP_M_GET || r->method == HTTP_M_HEAD) {
        struct flo_req req = hs_req(r, FLO_OP_STREAM_INFO);
        http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, info_done);
        return;
    }
    if (r->method == HTTP_M_DELETE) {
        if (s->force && flo_opt_flag(&r->opts, FLO_OPT_FORCE) < 0) {
            http_reply_code(r, FLO_ENOMEM);
            return;
        }
        struct flo_req req = hs_req(r, FLO_OP_STREAM_DELETE);
        http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, delete_done);
        return;
    }
    if (create_body(r, s) < 0) {
        return;
    }
    /* create is idempotent: it (re)writes the stream's metadata. */
    struct flo_req req = hs_req(r, FLO_OP_STREAM_CREATE);
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, create_done);
}

const struct http_route_def http_stream_route = {
    .id = HTTP_ROUTE_STREAM,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_HEAD) |
               HTTP_METHOD_BIT(HTTP_M_PUT) | HTTP_METHOD_BIT(HTTP_M_DELETE),
    .allow = "GET, HEAD, PUT, DELETE",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_PUT),
    .prepare = stream_prepare,
    .start = stream_start,
};

/* ---- POST /v1/streams/{s}/records (append) ---- */

/* Records and headers being parsed; payload and header bytes live in one
 * arena and are referred to by offset until the arena stops growing. */
struct ap_hdr {
    size_t koff, klen, voff, vlen;
};
struct ap_rec {
    size_t off, len;
    size_t h0, hn; /* headers[h0 .. h0 + hn) */
};
struct ap_build {
    struct flo_wbuf arena;
    struct ap_rec *recs;
    size_t nrecs, cap_recs;
    struct ap_hdr *hdrs;
    size_t nhdrs, cap_hdrs;
    bool is_array;
    uint32_t partition;
    bool has_partition;
};

static void ap_free(struct ap_build *b)
{
    flo_wbuf_free(&b->arena);
    free(b->recs);
    free(b->hdrs);
}

static int ap_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : INITIAL_RECS;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (q == NULL) {
        return FLO_ENOMEM;
    }
    *p = q;
    *cap = n;
    return 0;
}

/* Start a record whose payload is already at arena[off..). */
static int ap_rec_begin(struct ap_build *b, size_t off, struct proto_err *e)
{
    if (b->nrecs >= FLO_STREAM_MAX_BATCH) {
        proto_err_bad_request(e, "a batch holds at most %d records", FLO_STREAM_MAX_BATCH);
        return -1;
    }
    if (ap_grow((void **)&b->recs, &b->cap_recs, b->nrecs + 1, sizeof(*b->recs)) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    b->recs[b->nrecs++] =
        (struct ap_rec){.off = off, .len = b->arena.len - off, .h0 = b->nhdrs, .hn = 0};
    return 0;
}

/* Add a header to the last record, copying both parts into the arena. */
static int ap_hdr_add(struct ap_build *b, flo_buf_t k, flo_buf_t v, struct proto_err *e)
{
    struct ap_rec *rec = &b->recs[b->nrecs - 1];
    if (k.len == 0) {
        proto_err_bad_request(e, "record header names must not be empty");
        return -1;
    }
    if (k.len > STR16_MAX || v.len > STR16_MAX) {
        proto_err_bad_request(e, "record header names and values are at most 65535 bytes");
        return -1;
    }
    if (rec->hn >= MAX_HEADERS) {
        proto_err_bad_request(e, "a record carries at most %u headers", MAX_HEADERS);
        return -1;
    }
    if (ap_grow((void **)&b->hdrs, &b->cap_hdrs, b->nhdrs + 1, sizeof(*b->hdrs)) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    struct ap_hdr *h = &b->hdrs[b->nhdrs];
    h->koff = b->arena.len;
    h->klen = k.len;
    int rc = flo_wbuf_append(&b->arena, k.ptr, k.len);
    h->voff = b->arena.len;
    h->vlen = v.len;
    if (rc == 0) {
        rc = flo_wbuf_append(&b->arena, v.ptr, v.len);
    }
    if (rc < 0) {
        proto_err_from_code(e, rc);
        return -1;
    }
    b->nhdrs++;
    rec->hn++;
    return 0;
}

/* One JSON record {"payload", "encoding"?, "headers"?}. */
static int ap_json_record(struct ap_build *b, const cJSON *obj, const char *where,
                          struct proto_err *e)
{
    static const char *const fields[] = {"payload", "encoding", "headers", NULL};
    if (!cJSON_IsObject(obj)) {
        proto_err_bad_request(e,
                              "%s must be an object {\"payload\": ..., \"encoding\"?, "
                              "\"headers\"?}",
                              where);
        return -1;
    }
    if (http_body_check_fields(obj, fields, where, e) < 0) {
        return -1;
    }
    size_t off = b->arena.len;
    bool present = false;
    if (http_body_payload(obj, "payload", "encoding", where, &b->arena, &present, e) < 0) {
        return -1;
    }
    if (!present) {
        proto_err_bad_request(e, "%s: \"payload\" is required", where);
        return -1;
    }
    if (ap_rec_begin(b, off, e) < 0) {
        return -1;
    }
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(obj, "headers");
    if (hs == NULL || cJSON_IsNull(hs)) {
        return 0;
    }
    if (!cJSON_IsObject(hs)) {
        proto_err_bad_request(e, "%s: \"headers\" must be an object of string values", where);
        return -1;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, hs)
    {
        if (!cJSON_IsString(h)) {
            proto_err_bad_request(e, "%s: header \"%.64s\" must have a string value", where,
                                  h->string);
            return -1;
        }
        if (ap_hdr_add(b, FLO_BUF_STR(h->string), FLO_BUF_STR(h->valuestring), e) < 0) {
            return -1;
        }
    }
    return 0;
}

static int ap_parse_json(struct ap_build *b, flo_buf_t body, struct proto_err *e)
{
    cJSON *doc = NULL;
    char where[48];
    if (http_body_json_value(body, &doc, e) < 0) {
        return -1;
    }
    int rc = 0;
    if (cJSON_IsArray(doc)) {
        b->is_array = true;
        int n = cJSON_GetArraySize(doc);
        if (n == 0) {
            proto_err_bad_request(e, "the batch is empty: send 1 to %d records",
                                  FLO_STREAM_MAX_BATCH);
            rc = -1;
        } else if (n > FLO_STREAM_MAX_BATCH) {
            proto_err_bad_request(e, "a batch of %d records is over the limit of %d", n,
                                  FLO_STREAM_MAX_BATCH);
            rc = -1;
        }
        const cJSON *it;
        int i = 0;
        cJSON_ArrayForEach(it, doc)
        {
            if (rc < 0) {
                break;
            }
            snprintf(where, sizeof(where), "record %d", i++);
            rc = ap_json_record(b, it, where, e);
        }
    } else {
        rc = ap_json_record(b, doc, "record", e);
    }
    cJSON_Delete(doc);
    return rc;
}

/* X-Flo-Header-<name>: <value> request headers of a raw append. */
struct ap_hdr_walk {
    struct ap_build *b;
    struct proto_err *e;
    int rc;
};

static enum MHD_Result ap_hdr_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct ap_hdr_walk *w = cls;
    (void)kind;
    if (key == NULL || strncasecmp(key, HEADER_PREFIX, HEADER_PREFIX_LEN) != 0) {
        return MHD_YES;
    }
    w->rc = ap_hdr_add(w->b, FLO_BUF_STR(key + HEADER_PREFIX_LEN), FLO_BUF_STR(value ? value : ""),
                       w->e);
    return w->rc < 0 ? MHD_NO : MHD_YES;
}

/* The query of an append: namespace, partition, and any number of
 * header=name:value. Headers are added to the last record (the raw one). */
static int ap_parse_query(struct http_req *r, struct ap_build *b, bool raw, struct proto_err *e)
{
    struct http_query_iter it;
    struct flo_wbuf name, value;
    int rc;
    bool seen_ns = false;
    flo_wbuf_init(&name);
    flo_wbuf_init(&value);
    http_query_iter_init(&it, r->target.query, r->target.query_len);
    while ((rc = http_query_next(&it, &name, &value)) == 1) {
        flo_buf_t n = flo_wbuf_view(&name), v = flo_wbuf_view(&value);
        if (n.len == 6 && memcmp(n.ptr, "header", 6) == 0) {
            const uint8_t *colon = v.len ? memchr(v.ptr, ':', v.len) : NULL;
            if (!raw) {
                proto_err_bad_request(e, "query parameter header applies to raw bodies; give "
                                         "a JSON record its \"headers\" object");
                rc = -1;
            } else if (colon == NULL) {
                proto_err_bad_request(e, "query parameter header must be name:value");
                rc = -1;
            } else {
                size_t kl = (size_t)(colon - v.ptr);
                rc = ap_hdr_add(b, (flo_buf_t){v.ptr, kl}, (flo_buf_t){colon + 1, v.len - kl - 1},
                                e);
            }
        } else if (n.len == 9 && memcmp(n.ptr, "partition", 9) == 0) {
            uint64_t p;
            if (b->has_partition || http_parse_uint(v.ptr, v.len, UINT32_MAX, &p) < 0) {
                proto_err_bad_request(e, "query parameter partition must be given once, as a "
                                         "partition number (u32)");
                rc = -1;
            } else {
                b->has_partition = true;
                b->partition = (uint32_t)p;
            }
        } else if (n.len == 9 && memcmp(n.ptr, "namespace", 9) == 0) {
            if (seen_ns || v.len == 0 || v.len > PROTO_MAX_NAMESPACE) {
                proto_err_bad_request(e, "query parameter namespace must be given once, as a "
                                         "namespace name of 1 to 255 bytes");
                rc = -1;
            } else if (proto_check_ns(v, e) < 0) {
                rc = -1;
            } else {
                seen_ns = true;
                rc = flo_wbuf_append(&r->kv.ns, v.ptr, v.len);
                if (rc < 0) {
                    proto_err_from_code(e, rc);
                }
                r->kv.has_ns = true;
            }
        } else {
            proto_err_bad_request(e, "unknown query parameter for " APPEND_ROUTE
                                     " (accepted: namespace, partition, header)");
            rc = -1;
        }
        if (rc < 0) {
            break;
        }
    }
    flo_wbuf_free(&name);
    flo_wbuf_free(&value);
    if (rc == FLO_EINVAL) {
        proto_err_bad_request(e, "bad percent-escape in the query string");
    } else if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
    }
    if (rc < 0) {
        return -1;
    }
    return http_kv_pick_namespace(r, e);
}

/* Build the append value from the parsed records. */
/* A view of arena bytes (no pointer arithmetic on an empty arena). */
static flo_buf_t ap_view(const struct ap_build *b, size_t off, size_t len)
{
    return len ? (flo_buf_t){b->arena.data + off, len} : (flo_buf_t){(const uint8_t *)"", 0};
}

static int ap_value(struct ap_build *b, struct flo_wbuf *val, struct proto_err *e)
{
    struct flo_stream_rec_in *in = calloc(b->nrecs, sizeof(*in));
    struct flo_stream_header *hv = calloc(b->nhdrs ? b->nhdrs : 1, sizeof(*hv));
    int rc = 0;
    if (in == NULL || hv == NULL) {
        rc = FLO_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < b->nhdrs; i++) {
        const struct ap_hdr *h = &b->hdrs[i];
        hv[i].key = ap_view(b, h->koff, h->klen);
        hv[i].val = ap_view(b, h->voff, h->vlen);
    }
    for (size_t i = 0; rc == 0 && i < b->nrecs; i++) {
        const struct ap_rec *rec = &b->recs[i];
        in[i].payload = ap_view(b, rec->off, rec->len);
        in[i].headers = hv + rec->h0;
        in[i].n_headers = rec->hn;
    }
    if (rc == 0) {
        rc = flo_stream_batch_value(val, in, b->nrecs);
    }
    free(in);
    free(hv);
    if (rc < 0) {
        proto_err_from_code(e, rc);
        return -1;
    }
    return 0;
}

static void append_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    struct flo_stream_id first;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_stream_dec_append(body, &first);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    char buf[FLO_STREAM_ID_TEXT_MAX];
    http_json_start(&j, &b);
    hs_json_id(&j, "id", first);
    http_json_array_begin(&j, "ids");
    for (uint32_t i = 0; i < s->count; i++) {
        struct flo_stream_id id = {first.ts, first.seq + i};
        int n = flo_stream_id_format(id, buf, sizeof(buf));
        http_json_elem_str(&j, (flo_buf_t){(const uint8_t *)buf, n > 0 ? (size_t)n : 0});
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", s->count);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void append_start(struct http_req *r)
{
    struct hs_state *s = hs_state(r);
    struct ap_build b = {0};
    struct proto_err e;
    if (s == NULL) {
        return;
    }
    flo_wbuf_init(&b.arena);
    flo_buf_t body = flo_wbuf_view(&r->body);
    bool raw = !http_queue_is_json(http_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
    int rc;
    if (raw) {
        rc = proto_check_value(r->srv->ctx, body.len, &e);
        if (rc == 0 && flo_wbuf_append(&b.arena, body.ptr, body.len) < 0) {
            proto_err_from_code(&e, FLO_ENOMEM);
            rc = -1;
        }
        if (rc == 0) {
            rc = ap_rec_begin(&b, 0, &e);
        }
        if (rc == 0) {
            struct ap_hdr_walk w = {.b = &b, .e = &e, .rc = 0};
            MHD_get_connection_values(r->conn, MHD_HEADER_KIND, ap_hdr_cb, &w);
            rc = w.rc;
        }
    } else {
        rc = ap_parse_json(&b, body, &e);
    }
    if (rc == 0) {
        rc = ap_parse_query(r, &b, raw, &e);
    }
    if (rc == 0 && b.has_partition) {
        rc = flo_opt_u32(&r->opts, FLO_OPT_PARTITION, b.partition);
        if (rc < 0) {
            proto_err_from_code(&e, rc);
        }
    }
    if (rc == 0) {
        rc = ap_value(&b, &s->val, &e);
    }
    s->count = (uint32_t)b.nrecs;
    ap_free(&b);
    if (rc == 0) {
        size_t frame = FLO_HEADER_SIZE + FRAME_ENVELOPE + r->ns.len + r->target.key.len +
                       r->opts.len + s->val.len;
        if (frame > FLO_MAX_PROCESSED_FRAME) {
            proto_err_too_large(&e,
                                "the append is %zu bytes on the wire; Flo takes at most %u "
                                "per request: split the batch",
                                frame, FLO_MAX_PROCESSED_FRAME);
            rc = -1;
        }
    }
    if (rc < 0) {
        http_reply_error(r, &e);
        return;
    }
    /* Never retried: a replayed append would store the records twice. */
    struct flo_req req = hs_req(r, FLO_OP_STREAM_APPEND);
    http_send_or_reply(r, &req, 0, 0, append_done);
}

/* ---- GET /v1/streams/{s}/records (read) ---- */

static bool headers_utf8(const struct flo_stream_headers *h)
{
    struct flo_stream_hdr_iter it;
    struct flo_stream_header hd;
    flo_stream_hdr_begin(h, &it);
    while (flo_stream_hdr_next(&it, &hd) == 1) {
        if (!proto_utf8_valid(hd.key) || !proto_utf8_valid(hd.val)) {
            return false;
        }
    }
    return true;
}

/* "headers": {name: value}; when a name or value is not UTF-8, both are
 * base64 text and "headers_encoding": "base64" says so. */
static int json_headers(struct http_json *j, const struct flo_stream_headers *h)
{
    struct flo_stream_hdr_iter it;
    struct flo_stream_header hd;
    struct flo_wbuf k, v;
    bool utf8 = headers_utf8(h);
    int rc;
    flo_wbuf_init(&k);
    flo_wbuf_init(&v);
    http_json_object_begin(j, "headers");
    flo_stream_hdr_begin(h, &it);
    while ((rc = flo_stream_hdr_next(&it, &hd)) == 1) {
        if (utf8) {
            http_json_member_str(j, hd.key, hd.val);
            continue;
        }
        flo_wbuf_reset(&k);
        flo_wbuf_reset(&v);
        if (http_base64_encode(&k, hd.key) < 0 || http_base64_encode(&v, hd.val) < 0) {
            rc = FLO_ENOMEM;
            break;
        }
        http_json_member_str(j, flo_wbuf_view(&k), flo_wbuf_view(&v));
    }
    http_json_end(j);
    if (!utf8) {
        http_json_cstr(j, "headers_encoding", "base64");
    }
    flo_wbuf_free(&k);
    flo_wbuf_free(&v);
    return rc;
}

int hs_json_record(struct http_json *j, const struct flo_stream_record *rec)
{
    hs_json_id(j, "id", rec->id);
    http_json_payload(j, "payload", "encoding", rec->payload);
    int rc = json_headers(j, &rec->headers);
    http_json_u64(j, "partition", rec->partition);
    return rc;
}

static void read_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    struct flo_stream_rec_iter it;
    struct flo_stream_record rec;
    uint32_t count;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    /* A long-poll that timed out is an empty list, answered 200. */
    int rc = flo_stream_records_begin(body, &it, &count);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    uint64_t n = 0;
    bool have_last = false;
    struct flo_stream_id last = {0, 0};
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    http_json_array_begin(&j, "records");
    while (rc >= 0 && (rc = flo_stream_records_next(&it, &rec)) == 1) {
        http_json_elem_begin(&j);
        rc = hs_json_record(&j, &rec);
        http_json_end(&j);
        last = rec.id;
        have_last = true;
        n++;
    }
    if (rc < 0) {
        flo_wbuf_free(&b);
        http_reply_code(r, rc);
        return;
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", n);
    /* Where the next page starts: the last id returned, else the start
     * asked for (a tail or timed-out read without one has no cursor). */
    if (have_last) {
        hs_json_id(&j, "next", last);
    } else if (s->read.has_start && !s->read.tail) {
        hs_json_id(&j, "next", s->read.start);
    } else {
        http_json_raw(&j, "next", FLO_BUF_STR("null"));
    }
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void records_prepare(struct http_req *r)
{
    struct hs_state *s = hs_state(r);
    struct proto_err e;
    if (s == NULL || r->method != HTTP_M_GET) {
        return; /* append: everything is checked with the body */
    }
    struct flo_wbuf start, end;
    flo_wbuf_init(&start);
    flo_wbuf_init(&end);
    struct http_qparam p[] = {
        {.name = "start", .kind = HTTP_QP_BYTES, .max = 64, .what = ID_WHAT, .bytes = &start},
        {.name = "end", .kind = HTTP_QP_BYTES, .max = 64, .what = ID_WHAT, .bytes = &end},
        {.name = "tail", .kind = HTTP_QP_BOOL, .what = "true or false"},
        {.name = "count",
         .kind = HTTP_QP_U64,
         .max = FLO_STREAM_MAX_COUNT,
         .what = "a whole number of records from 1 to 1000"},
        {.name = "block_ms",
         .kind = HTTP_QP_U64,
         .max = UINT64_MAX,
         .what = "a whole number of milliseconds (0..300000; larger values are clamped)"},
        {.name = "partition",
         .kind = HTTP_QP_U64,
         .max = UINT32_MAX,
         .what = "a partition number (u32)"},
        {.name = "follow", .kind = HTTP_QP_BOOL, .what = "true or false"},
    };
    int rc = http_parse_query_or_reply(r, p, 7, "GET /v1/streams/{stream}/records");
    struct flo_stream_read_args *a = &s->read;
    if (rc == 0 && p[0].seen) {
        rc = hs_parse_id(flo_wbuf_view(&start), "query parameter start", &a->start, &e);
        a->has_start = rc == 0;
    }
    if (rc == 0 && p[1].seen) {
        rc = hs_parse_id(flo_wbuf_view(&end), "query parameter end", &a->end, &e);
        a->has_end = rc == 0;
        if (rc == 0 && a->end.ts == 0) {
            /* Flo ignores an end whose timestamp is 0: say so rather than
             * return records past it. */
            proto_err_bad_request(&e, "query parameter end must have a non-zero timestamp");
            rc = -1;
        }
    }
    if (rc == 0 && p[0].seen && p[2].b) {
        proto_err_bad_request(&e, "give start or tail=true, not both");
        rc = -1;
    }
    if (rc == 0 && p[3].seen && p[3].u == 0) {
        proto_err_bad_request(&e, "query parameter count must be at least 1");
        rc = -1;
    }
    flo_wbuf_free(&start);
    flo_wbuf_free(&end);
    if (rc < 0) {
        if (r->state != HTTP_RS_REPLIED) {
            http_reply_error(r, &e);
        }
        return;
    }
    a->tail = p[2].b;
    a->count = p[3].seen ? (uint32_t)p[3].u : FLO_STREAM_DEFAULT_COUNT;
    /* Older servers page by limit 0x05: send both so they agree. */
    a->legacy_limit = true;
    a->block_ms = p[4].u > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : (uint32_t)p[4].u;
    a->has_partition = p[5].seen;
    a->partition = (uint32_t)p[5].u;
    s->follow = http_sse_wanted(r, p[6].b);
    s->has_end_param = p[1].seen;
}

static void records_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    if (r->method == HTTP_M_POST) {
        append_start(r);
        return;
    }
    if (s->follow) {
        hs_sse_start(r);
        return;
    }
    int rc = flo_stream_read_opts(&r->opts, &s->read);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_req req = hs_req(r, FLO_OP_STREAM_READ);
    unsigned flags = FLO_SEND_IDEMPOTENT;
    if (s->read.block_ms > 0) {
        flags |= FLO_SEND_BLOCKING;
    }
    http_send_or_reply(r, &req, proto_timeout_for_block(s->read.block_ms), flags, read_done);
}

const struct http_route_def http_stream_records_route = {
    .id = HTTP_ROUTE_STREAM_RECORDS,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET) | HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "GET, POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = records_prepare,
    .start = records_start,
};

/* ---- POST /v1/streams/{s}/trim ---- */

static void trim_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    uint64_t deleted, first_seq;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_stream_dec_trim(body, &deleted, &first_seq);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    hs_json_names(&j, r);
    http_json_u64(&j, "deleted", deleted);
    http_json_u64(&j, "first_seq", first_seq);
    http_json_bool(&j, "dry_run", s->dry_run);
    http_json_end(&j);
    http_reply_built(r, MHD_HTTP_OK, &b, &j);
}

static void trim_prepare(struct http_req *r)
{
    if (hs_state(r) != NULL) {
        http_parse_query_or_reply(r, NULL, 0, "POST /v1/streams/{stream}/trim");
    }
}

/* Body {"before": "ts-seq" | "maxlen": N | "maxage_s": N, "dry_run"?}. */
static int trim_parse(flo_buf_t body, struct flo_stream_trim_args *a, struct proto_err *e)
{
    static const char *const fields[] = {"before", "maxlen", "maxage_s", "dry_run", NULL};
    const char *where = "trim";
    cJSON *doc = NULL;
    if (http_body_json(body, false, &doc, e) < 0) {
        return -1;
    }
    int rc = http_body_check_fields(doc, fields, where, e);
    bool has_maxlen = false, has_maxage = false;
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(doc, "before");
    if (rc == 0) {
        rc = http_body_u64(doc, "maxlen", UINT64_MAX, where, &a->maxlen, &has_maxlen, e);
    }
    if (rc == 0) {
        rc = http_body_u64(doc, "maxage_s", UINT64_MAX, where, &a->max_age_s, &has_maxage, e);
    }
    if (rc == 0) {
        rc = http_body_bool(doc, "dry_run", where, &a->dry_run, e);
    }
    if (rc == 0 && (before != NULL) + has_maxlen + has_maxage != 1) {
        proto_err_bad_request(e, "trim takes exactly one of \"before\" (a stream id), "
                                 "\"maxlen\" (records to keep) and \"maxage_s\" (seconds)");
        rc = -1;
    }
    if (rc == 0 && before != NULL) {
        if (!cJSON_IsString(before)) {
            proto_err_bad_request(e, "trim: \"before\" must be a string, " ID_WHAT);
            rc = -1;
        } else {
            rc = hs_parse_id(FLO_BUF_STR(before->valuestring), "trim: \"before\"", &a->before, e);
        }
        a->bound = FLO_TRIM_BEFORE;
    } else if (rc == 0) {
        a->bound = has_maxlen ? FLO_TRIM_MAXLEN : FLO_TRIM_MAXAGE;
        if ((has_maxlen ? a->maxlen : a->max_age_s) == 0) {
            proto_err_bad_request(e, "trim: \"%s\" must be at least 1",
                                  has_maxlen ? "maxlen" : "maxage_s");
            rc = -1;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

static void trim_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    struct flo_stream_trim_args a = {0};
    struct proto_err e;
    if (trim_parse(flo_wbuf_view(&r->body), &a, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    s->dry_run = a.dry_run;
    int rc = flo_stream_trim_opts(&r->opts, &a);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_req req = hs_req(r, FLO_OP_STREAM_TRIM);
    /* A dry run changes nothing; a real trim by a bound is idempotent. */
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, trim_done);
}

const struct http_route_def http_stream_trim_route = {
    .id = HTTP_ROUTE_STREAM_TRIM,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = trim_prepare,
    .start = trim_start,
};
