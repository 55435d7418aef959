/*
 * The multi-key KV routes: GET /v1/kv (scan a namespace by prefix, one page
 * at a time, with an opaque URL-safe cursor) and POST /v1/kv/mget (values
 * of up to 256 keys, in request order, missing keys reported as missing).
 *
 * Flo's scan walk returns keys only (flo-protocol-core.md §7.5), so a scan
 * with values is a chain of upstream calls on one suspended request: the
 * scan page, then mget in batches of at most 256 keys; the JSON reply is
 * built as the batches come back. A key deleted (or expired) between the
 * page and its batch is left out of "items": it no longer exists.
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

#define SCAN_DEFAULT_LIMIT 100u
#define SCAN_MAX_LIMIT     1000u /* Flo's own scan maximum */
#define SCAN_MAX_CURSOR    1024u /* characters of a cursor we accept back */

/* State of one scan request with values (owned by the request's ext). */
struct scan_state {
    struct flo_wbuf page;         /* copy of the scan response body */
    struct flo_kv_scan_page info; /* its header; cursor points into page */
    flo_buf_t *keys;              /* keys of the page, views into page */
    size_t nkeys;
    size_t next;          /* first key of the batch in flight */
    size_t batch;         /* keys in the batch in flight */
    struct flo_wbuf mval; /* mget request value of that batch */
    struct flo_wbuf out;  /* the JSON reply being built */
    struct http_json j;   /* writer over out */
    uint64_t items;       /* entries written */
};

/* State of one mget request: the encoded key list, walked again to answer
 * in request order. */
struct mget_state {
    struct flo_wbuf mval;
};

static void scan_release(struct http_req *r)
{
    struct scan_state *s = r->ext;
    if (s != NULL) {
        flo_wbuf_free(&s->page);
        flo_wbuf_free(&s->mval);
        flo_wbuf_free(&s->out);
        free(s->keys);
        free(s);
    }
}

static void mget_release(struct http_req *r)
{
    struct mget_state *m = r->ext;
    if (m != NULL) {
        flo_wbuf_free(&m->mval);
        free(m);
    }
}

/* "has_more" and "cursor" (base64url of Flo's opaque cursor, or null). */
static void page_tail(struct http_json *j, const struct flo_kv_scan_page *info)
{
    bool more = info->has_more && info->cursor.len > 0;
    http_json_bool(j, "has_more", more);
    if (!more) {
        http_json_raw(j, "cursor", FLO_BUF_STR("null"));
        return;
    }
    struct flo_wbuf c;
    flo_wbuf_init(&c);
    int rc = http_base64url_encode(&c, info->cursor);
    if (rc < 0 && j->err == 0) {
        j->err = rc;
    }
    http_json_str(j, "cursor", flo_wbuf_view(&c));
    flo_wbuf_free(&c);
}

/* ---- scan ---- */

static void scan_mget_done(struct http_req *r, int err, uint8_t status, flo_buf_t body);

/* Send the mget of keys[next .. next+256). */
static int scan_send_batch(struct http_req *r)
{
    struct scan_state *s = r->ext;
    size_t left = s->nkeys - s->next;
    s->batch = left < FLO_KV_MGET_MAX_KEYS ? left : FLO_KV_MGET_MAX_KEYS;
    flo_wbuf_reset(&s->mval);
    int rc = flo_kv_mget_value(&s->mval, s->keys + s->next, s->batch);
    if (rc < 0) {
        return rc;
    }
    struct flo_req req = {
        .op = FLO_OP_KV_MGET,
        .ns = r->ns,
        .value = flo_wbuf_view(&s->mval),
    };
    return http_req_send(r, &req, 0, FLO_SEND_IDEMPOTENT, scan_mget_done);
}

static void scan_finish(struct http_req *r)
{
    struct scan_state *s = r->ext;
    http_json_array_end(&s->j);
    http_json_u64(&s->j, "count", s->items);
    page_tail(&s->j, &s->info);
    http_json_end(&s->j);
    if (s->j.err < 0) {
        http_reply_code(r, s->j.err);
        return;
    }
    http_reply_json(r, MHD_HTTP_OK, &s->out);
}

static void scan_mget_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct scan_state *s = r->ext;
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry en;
    int rc;

    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    size_t seen = 0;
    rc = flo_kv_mget_begin(body, &it);
    if (rc == 0) {
        while ((rc = flo_kv_mget_next(&it, &en)) == 1) {
            seen++;
            if (!en.found) {
                continue; /* gone since the page was read */
            }
            http_json_elem_begin(&s->j);
            http_json_payload(&s->j, "key", "key_encoding", en.key);
            http_json_payload(&s->j, "value", "encoding", en.value);
            http_json_u64(&s->j, "version", en.version);
            http_json_end(&s->j);
            s->items++;
        }
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    /* Entries that did not fit Flo's 1 MiB mget reply come in a batch of
     * their own (never fewer than one key per batch). */
    s->next += seen > 0 ? seen : s->batch;
    if (s->next < s->nkeys) {
        rc = scan_send_batch(r);
        if (rc < 0) {
            http_reply_code(r, rc);
        }
        return;
    }
    scan_finish(r);
}

static void scan_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct flo_kv_scan_page info;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry en;

    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_kv_scan_begin(body, &info, &it);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    if (r->kv.keys_only) {
        struct flo_wbuf b;
        struct http_json j;
        http_json_start(&j, &b);
        http_json_array_begin(&j, "keys");
        uint64_t n = 0;
        while ((rc = flo_kv_scan_next(&it, &en)) == 1) {
            if (proto_utf8_valid(en.key)) {
                http_json_elem_str(&j, en.key);
            } else {
                http_json_elem_begin(&j);
                http_json_payload(&j, "key", "key_encoding", en.key);
                http_json_end(&j);
            }
            n++;
        }
        http_json_array_end(&j);
        http_json_u64(&j, "count", n);
        page_tail(&j, &info);
        http_json_end(&j);
        if (j.err < 0 || rc < 0) {
            http_reply_code(r, j.err < 0 ? j.err : rc);
        } else {
            http_reply_json(r, MHD_HTTP_OK, &b);
        }
        flo_wbuf_free(&b);
        return;
    }

    /* With values: keep the page, then fetch its keys with mget. */
    struct scan_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&s->page);
    flo_wbuf_init(&s->mval);
    flo_wbuf_init(&s->out);
    r->ext = s;
    r->ext_release = scan_release;
    if (flo_wbuf_append(&s->page, body.ptr, body.len) < 0 ||
        (info.count > 0 && (s->keys = calloc(info.count, sizeof(*s->keys))) == NULL)) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    /* Re-read the copy so the key views outlive this callback's body. */
    rc = flo_kv_scan_begin(flo_wbuf_view(&s->page), &s->info, &it);
    while (rc == 0 && s->nkeys < s->info.count && (rc = flo_kv_scan_next(&it, &en)) == 1) {
        s->keys[s->nkeys++] = en.key;
        rc = 0;
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    http_json_init(&s->j, &s->out);
    http_json_begin(&s->j);
    http_json_array_begin(&s->j, "items");
    if (s->nkeys == 0) {
        scan_finish(r);
        return;
    }
    rc = scan_send_batch(r);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

static void scan_prepare(struct http_req *r)
{
    struct proto_err e;
    struct http_qparam p[] = {
        {.name = "prefix",
         .kind = HTTP_QP_BYTES,
         .max = PROTO_MAX_KEY,
         .what = "a key prefix of at most 65536 bytes",
         .bytes = &r->kv.prefix},
        {.name = "limit",
         .kind = HTTP_QP_U64,
         .max = SCAN_MAX_LIMIT,
         .what = "a whole number of keys per page (1..1000)"},
        {.name = "cursor",
         .kind = HTTP_QP_BYTES,
         .max = SCAN_MAX_CURSOR,
         .what = "the cursor of the previous page, as returned",
         .bytes = &r->kv.cursor},
        {.name = "keys_only", .kind = HTTP_QP_BOOL, .what = "true or false"},
    };
    if (http_parse_query_or_reply(r, p, 4, "GET /v1/kv") < 0) {
        return;
    }
    if (p[1].seen && p[1].u == 0) {
        proto_err_bad_request(&e, "query parameter limit must be at least 1");
        http_reply_error(r, &e);
        return;
    }
    r->kv.has_prefix = p[0].seen;
    r->kv.has_limit = p[1].seen;
    r->kv.limit = p[1].seen ? p[1].u : SCAN_DEFAULT_LIMIT;
    r->kv.has_cursor = p[2].seen;
    r->kv.keys_only = p[3].seen && p[3].b;
}

static void scan_start(struct http_req *r)
{
    struct flo_wbuf cursor, val;
    struct proto_err e;
    int rc;

    flo_wbuf_init(&cursor);
    flo_wbuf_init(&val);
    rc = http_base64url_decode(&cursor, flo_wbuf_view(&r->kv.cursor));
    if (rc == FLO_EINVAL) {
        flo_wbuf_free(&cursor);
        proto_err_bad_request(&e, "query parameter cursor is not a cursor this API returned "
                                  "(pass the \"cursor\" of the previous page unchanged)");
        http_reply_error(r, &e);
        return;
    }
    if (rc == 0) {
        rc = flo_kv_scan_value(&val, (uint32_t)r->kv.limit, flo_wbuf_view(&cursor));
    }
    if (rc == 0) {
        struct flo_req req = {
            .op = FLO_OP_KV_SCAN,
            .ns = r->ns,
            .key = flo_wbuf_view(&r->kv.prefix),
            .value = flo_wbuf_view(&val),
        };
        rc = http_req_send(r, &req, 0, FLO_SEND_IDEMPOTENT, scan_done);
    }
    flo_wbuf_free(&cursor);
    flo_wbuf_free(&val);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

const struct http_route_def http_kv_scan_route = {
    .id = HTTP_ROUTE_KV_SCAN,
    .methods = HTTP_METHOD_BIT(HTTP_M_GET),
    .allow = "GET",
    .prepare = scan_prepare,
    .start = scan_start,
};

/* ---- mget ---- */

static void mget_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct mget_state *m = r->ext;
    struct flo_kv_key_iter keys;
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry en;
    uint16_t count;
    flo_buf_t key;

    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_kv_mget_begin(body, &it);
    if (rc == 0) {
        rc = flo_kv_parse_mget(flo_wbuf_view(&m->mval), &keys, &count, NULL);
    }
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    struct flo_wbuf b;
    struct http_json j;
    uint64_t found = 0;
    bool truncated = false;
    http_json_start(&j, &b);
    http_json_array_begin(&j, "items");
    while (flo_kv_key_next(&keys, &key) == 1) {
        int got = truncated ? 0 : flo_kv_mget_next(&it, &en);
        if (got < 0) {
            flo_wbuf_free(&b);
            http_reply_code(r, got);
            return;
        }
        http_json_elem_begin(&j);
        http_json_payload(&j, "key", "key_encoding", key);
        if (got == 0) {
            /* Flo drops entries past 1 MiB of reply: say so per key. */
            truncated = true;
            http_json_raw(&j, "found", FLO_BUF_STR("null"));
            http_json_bool(&j, "truncated", true);
        } else if (en.found) {
            http_json_bool(&j, "found", true);
            http_json_payload(&j, "value", "encoding", en.value);
            http_json_u64(&j, "version", en.version);
            found++;
        } else {
            http_json_bool(&j, "found", false);
        }
        http_json_end(&j);
    }
    http_json_array_end(&j);
    http_json_u64(&j, "count", count);
    http_json_u64(&j, "found", found);
    if (truncated) {
        http_json_bool(&j, "truncated", true);
    }
    http_json_end(&j);
    if (j.err < 0) {
        http_reply_code(r, j.err);
    } else {
        http_reply_json(r, MHD_HTTP_OK, &b);
    }
    flo_wbuf_free(&b);
}

static void mget_prepare(struct http_req *r)
{
    (void)http_parse_query_or_reply(r, NULL, 0, "POST /v1/kv/mget");
}

/* Read {"keys": [...], "keys_encoding": "base64"?} into the mget value. */
static int mget_keys(const cJSON *doc, struct flo_wbuf *mval, struct proto_err *e)
{
    static const char *const fields[] = {"keys", "keys_encoding", NULL};
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(doc, "keys_encoding");
    const cJSON *k;
    bool b64 = false;
    struct flo_wbuf one, packed;
    int ret = -1;

    if (http_body_check_fields(doc, fields, "mget body", e) < 0) {
        return -1;
    }
    if (!cJSON_IsArray(keys)) {
        proto_err_bad_request(e, "mget body needs \"keys\": an array of 1 to %d key strings",
                              FLO_KV_MGET_MAX_KEYS);
        return -1;
    }
    int n = cJSON_GetArraySize(keys);
    if (n < 1 || n > FLO_KV_MGET_MAX_KEYS) {
        proto_err_bad_request(e, "mget takes 1 to %d keys per request (Flo's limit); got %d",
                              FLO_KV_MGET_MAX_KEYS, n);
        return -1;
    }
    if (enc != NULL) {
        if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0) {
            b64 = true;
        } else if (!(cJSON_IsString(enc) && strcmp(enc->valuestring, "utf8") == 0)) {
            proto_err_bad_request(e, "mget body: \"keys_encoding\" must be \"base64\" or "
                                     "\"utf8\"");
            return -1;
        }
    }
    /* Keys are first packed as [len u32][bytes] in one buffer, then
     * encoded; the views stay valid because packed no longer grows. */
    flo_wbuf_init(&one);
    flo_wbuf_init(&packed);
    flo_buf_t views[FLO_KV_MGET_MAX_KEYS];
    size_t i = 0;
    cJSON_ArrayForEach(k, keys)
    {
        if (!cJSON_IsString(k)) {
            proto_err_bad_request(e, "mget body: keys[%zu] must be a string", i);
            goto out;
        }
        flo_wbuf_reset(&one);
        flo_buf_t s = FLO_BUF_STR(k->valuestring);
        int rc = b64 ? http_base64_decode(&one, s) : flo_wbuf_append(&one, s.ptr, s.len);
        if (rc == FLO_ENOMEM || (rc == 0 && flo_wbuf_str32(&packed, one.data, one.len) < 0)) {
            proto_err_from_code(e, FLO_ENOMEM);
            goto out;
        }
        if (rc < 0) {
            proto_err_bad_request(e, "mget body: keys[%zu] is not valid base64", i);
            goto out;
        }
        if (one.len == 0) {
            proto_err_bad_request(e, "mget body: keys[%zu] is empty", i);
            goto out;
        }
        if (proto_check_key(flo_wbuf_view(&one), e) < 0) {
            goto out;
        }
        i++;
    }
    struct flo_cur c;
    flo_cur_init(&c, flo_wbuf_view(&packed));
    for (size_t x = 0; x < i; x++) {
        flo_cur_str32(&c, &views[x]);
    }
    if (flo_kv_mget_value(mval, views, i) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        goto out;
    }
    ret = 0;
out:
    flo_wbuf_free(&one);
    flo_wbuf_free(&packed);
    return ret;
}

static void mget_start(struct http_req *r)
{
    struct proto_err e;
    cJSON *doc = NULL;

    if (http_body_json(flo_wbuf_view(&r->body), false, &doc, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    struct mget_state *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        cJSON_Delete(doc);
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&m->mval);
    r->ext = m;
    r->ext_release = mget_release;
    int bad = mget_keys(doc, &m->mval, &e);
    cJSON_Delete(doc);
    if (bad < 0) {
        http_reply_error(r, &e);
        return;
    }
    struct flo_req req = {
        .op = FLO_OP_KV_MGET,
        .ns = r->ns,
        .value = flo_wbuf_view(&m->mval),
    };
    http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, mget_done);
}

const struct http_route_def http_kv_mget_route = {
    .id = HTTP_ROUTE_KV_MGET,
    .methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .allow = "POST",
    .body_methods = HTTP_METHOD_BIT(HTTP_M_POST),
    .prepare = mget_prepare,
    .start = mget_start,
};
