/*
 * Integration tests of the issue-6 HTTP stream and consumer-group routes
 * against real flo-dev and flo-sidecar processes on free loopback ports:
 * create / info / delete, append (raw body with X-Flo-Header-* and ?header=,
 * JSON batches, binary payloads) with headers round-tripping on read, reads
 * from an id / the tail / a range / with a count, a long-poll released by
 * another client's append, a long-poll timing out empty, trim, list, the
 * group routes (pending entries made by a group read sent straight to
 * flo-dev), and clear 400s for bad ids. Requests go through libcurl; replies
 * are parsed with cJSON.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_wire.h"
#include "flo/flo_buf.h"
#include "flo/flo_ops.h"
#include "http_json.h"
#include "ts.h"
#include "ts_http_fixture.h"

#define URL_MAX      512
#define BLOCK_LONG   10000
#define RELEASE_MAX  5000
#define TIMEOUT_POLL 300

static struct ts_sidecar sc;

/* ---- fixture ---- */

static void setup(void)
{
    ts_http_fixture_start(&dev, &sc, NULL);
}

static void teardown(void)
{
    ts_http_fixture_stop(&dev, &sc);
}

TestSuite(http_stream, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

static struct ts_http_resp req(const char *method, const char *path, const char *const hdrs[],
                               const void *body, size_t len)
{
    return ts_http_call(&sc, method, path, hdrs, body, len);
}

/* A request whose reply must have status `want` and a JSON body. */
static cJSON *jreq(const char *method, const char *path, const char *const hdrs[], const char *body,
                   long want)
{
    return ts_http_call_json(&sc, method, path, hdrs, body, want);
}

/* Append one raw record; the id is copied into id (FLO_STREAM_ID_TEXT_MAX). */
static void append_raw(const char *s, const char *payload, char *id)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/streams/%s/records", s);
    cJSON *doc = jreq("POST", path, NULL, payload, 200);
    snprintf(id, FLO_STREAM_ID_TEXT_MAX, "%s", ts_json_str(doc, "id"));
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cJSON_Delete(doc);
}

/* GET .../records?query; returns the reply (caller deletes). */
static cJSON *read_recs(const char *s, const char *query)
{
    char path[URL_MAX];
    int n = snprintf(path, sizeof(path), "/v1/streams/%s/records%s%s", s, query ? "?" : "",
                     query ? query : "");
    cr_assert(n > 0 && (size_t)n < sizeof(path), "read path too long");
    return jreq("GET", path, NULL, NULL, 200);
}

static const cJSON *recs_of(const cJSON *doc)
{
    const cJSON *a = cJSON_GetObjectItem(doc, "records");
    cr_assert(cJSON_IsArray(a), "no records array");
    return a;
}

static void expect_400(const char *method, const char *path, const char *body, const char *needle)
{
    struct ts_http_resp r =
        req(method, path, body ? json_hdr : NULL, body, body ? strlen(body) : 0);
    cr_assert_eq(r.status, 400, "%s %s: want 400 got %ld: %s", method, path, r.status, r.body);
    cr_assert(strstr(r.body, needle) != NULL, "%s %s: message lacks \"%s\": %s", method, path,
              needle, r.body);
    ts_http_resp_free(&r);
}

/* ---- stream lifecycle ---- */

Test(http_stream, create_info_delete)
{
    cJSON *doc = jreq("PUT", "/v1/streams/life", json_hdr,
                      "{\"partitions\":3,\"retention_age_s\":3600,\"retention_count\":50}", 200);
    cr_assert_str_eq(ts_json_str(doc, "stream"), "life");
    cr_assert_eq(ts_json_num(doc, "partitions"), 3);
    const cJSON *ret = cJSON_GetObjectItem(doc, "retention");
    cr_assert_eq(ts_json_num(ret, "age_s"), 3600);
    cr_assert_eq(ts_json_num(ret, "count"), 50);
    cJSON_Delete(doc);

    /* Query form; the body is optional. */
    doc = jreq("PUT", "/v1/streams/life2?partitions=2", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "partitions"), 2);
    cJSON_Delete(doc);

    char id[FLO_STREAM_ID_TEXT_MAX];
    append_raw("life", "one", id);
    doc = jreq("GET", "/v1/streams/life", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cr_assert_str_eq(ts_json_str(doc, "first_id"), id);
    cr_assert_str_eq(ts_json_str(doc, "last_id"), id);
    cr_assert_gt(ts_json_num(doc, "bytes"), 0);
    cJSON_Delete(doc);

    /* A stream with records needs force. */
    struct ts_http_resp r = req("DELETE", "/v1/streams/life", NULL, NULL, 0);
    cr_assert_eq(r.status, 409, "%s", r.body);
    cr_assert(strstr(r.body, "force=true") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
    doc = jreq("DELETE", "/v1/streams/life?force=true", NULL, NULL, 200);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "deleted")));
    cJSON_Delete(doc);
    doc = jreq("GET", "/v1/streams/life", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 0);
    cJSON_Delete(doc);

    expect_400("PUT", "/v1/streams/bad?partitions=70000", NULL, "partitions");
    expect_400("PUT", "/v1/streams/bad", "{\"partitions\":\"x\"}", "partitions");
    expect_400("PUT", "/v1/streams/bad", "{\"shards\":1}", "shards");
}

Test(http_stream, list)
{
    cJSON_Delete(jreq("PUT", "/v1/streams/la", NULL, NULL, 200));
    char id[FLO_STREAM_ID_TEXT_MAX];
    append_raw("lb%2Fx", "x", id); /* a '/' in the name travels as %2F */
    cJSON *doc = jreq("GET", "/v1/streams", NULL, NULL, 200);
    const cJSON *a = cJSON_GetObjectItem(doc, "streams");
    cr_assert(cJSON_IsArray(a));
    bool la = false, lb = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        la = la || strcmp(ts_json_str(it, "name"), "la") == 0;
        lb = lb || strcmp(ts_json_str(it, "name"), "lb/x") == 0;
    }
    cr_assert(la && lb, "both streams listed");
    cr_assert_eq(ts_json_num(doc, "count"), cJSON_GetArraySize(a));
    cJSON_Delete(doc);
}

/* ---- append and read ---- */

Test(http_stream, append_headers_roundtrip)
{
    /* Raw body: headers from X-Flo-Header-* and ?header=. */
    const char *const hdrs[] = {"X-Flo-Header-trace: t-1", "Content-Type: text/plain", NULL};
    struct ts_http_resp r =
        req("POST", "/v1/streams/h/records?header=src:web%3A1", hdrs, "hello", 5);
    cr_assert_eq(r.status, 200, "%s", r.body);
    ts_http_resp_free(&r);

    /* Binary raw body (not UTF-8). */
    const uint8_t bin[] = {0xff, 0x00, 0xfe, 0x80, 'a'};
    r = req("POST", "/v1/streams/h/records", NULL, bin, sizeof(bin));
    cr_assert_eq(r.status, 200, "%s", r.body);
    ts_http_resp_free(&r);

    /* A JSON batch: ids are consecutive. */
    cJSON *doc = jreq("POST", "/v1/streams/h/records", json_hdr,
                      "[{\"payload\":\"b1\",\"headers\":{\"k\":\"v\",\"n\":\"2\"}},"
                      "{\"payload\":\"/wD+\",\"encoding\":\"base64\"},{\"payload\":\"b3\"}]",
                      200);
    const cJSON *ids = cJSON_GetObjectItem(doc, "ids");
    cr_assert_eq(cJSON_GetArraySize(ids), 3);
    cr_assert_eq(ts_json_num(doc, "count"), 3);
    struct flo_stream_id first, id;
    cr_assert_eq(flo_stream_id_parse(FLO_BUF_STR(ts_json_str(doc, "id")), &first), 0);
    for (int i = 0; i < 3; i++) {
        const char *t = cJSON_GetArrayItem(ids, i)->valuestring;
        cr_assert_eq(flo_stream_id_parse(FLO_BUF_STR(t), &id), 0);
        cr_assert_eq(id.ts, first.ts);
        cr_assert_eq(id.seq, first.seq + (uint64_t)i);
    }
    cJSON_Delete(doc);
    /* A single JSON object is a batch of one. */
    doc = jreq("POST", "/v1/streams/h/records", json_hdr, "{\"payload\":\"solo\"}", 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "ids")), 1);
    cJSON_Delete(doc);

    doc = read_recs("h", "start=0-0");
    const cJSON *a = recs_of(doc);
    cr_assert_eq(cJSON_GetArraySize(a), 6);
    const cJSON *r0 = cJSON_GetArrayItem(a, 0);
    cr_assert_str_eq(ts_json_str(r0, "payload"), "hello");
    const cJSON *h0 = cJSON_GetObjectItem(r0, "headers");
    cr_assert_str_eq(ts_json_str(h0, "trace"), "t-1");
    cr_assert_str_eq(ts_json_str(h0, "src"), "web:1");
    cr_assert_eq(ts_json_num(r0, "partition"), 0);

    const cJSON *r1 = cJSON_GetArrayItem(a, 1);
    cr_assert_str_eq(ts_json_str(r1, "encoding"), "base64");
    struct flo_wbuf dec;
    flo_wbuf_init(&dec);
    cr_assert_eq(http_base64_decode(&dec, FLO_BUF_STR(ts_json_str(r1, "payload"))), 0);
    cr_assert_eq(dec.len, sizeof(bin));
    cr_assert_eq(memcmp(dec.data, bin, sizeof(bin)), 0, "binary payload round-trips");
    flo_wbuf_free(&dec);

    const cJSON *r2 = cJSON_GetArrayItem(a, 2);
    cr_assert_str_eq(ts_json_str(r2, "payload"), "b1");
    cr_assert_str_eq(ts_json_str(cJSON_GetObjectItem(r2, "headers"), "k"), "v");
    cr_assert_str_eq(ts_json_str(cJSON_GetObjectItem(r2, "headers"), "n"), "2");
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(a, 3), "payload"), "/wD+");
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(a, 3), "encoding"), "base64");
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(a, 5), "payload"), "solo");
    cr_assert_str_eq(ts_json_str(doc, "next"), ts_json_str(cJSON_GetArrayItem(a, 5), "id"));
    cJSON_Delete(doc);

    expect_400("POST", "/v1/streams/h/records", "[]", "empty");
    expect_400("POST", "/v1/streams/h/records", "{\"headers\":{}}", "payload");
    expect_400("POST", "/v1/streams/h/records", "{\"payload\":\"x\",\"headers\":{\"a\":1}}",
               "string");
    expect_400("POST", "/v1/streams/h/records?header=nocolon", NULL, "name:value");
}

Test(http_stream, read_from_id_tail_range_count)
{
    char ids[5][FLO_STREAM_ID_TEXT_MAX];
    char q[URL_MAX];
    for (int i = 0; i < 5; i++) {
        char p[8];
        snprintf(p, sizeof(p), "m%d", i);
        append_raw("rd", p, ids[i]);
    }
    /* Exclusive start. */
    snprintf(q, sizeof(q), "start=%s", ids[1]);
    cJSON *doc = read_recs("rd", q);
    cr_assert_eq(cJSON_GetArraySize(recs_of(doc)), 3);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs_of(doc), 0), "payload"), "m2");
    cJSON_Delete(doc);
    /* Range: (ids[0], ids[3]]. */
    snprintf(q, sizeof(q), "start=%s&end=%s", ids[0], ids[3]);
    doc = read_recs("rd", q);
    cr_assert_eq(cJSON_GetArraySize(recs_of(doc)), 3);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs_of(doc), 2), "payload"), "m3");
    cJSON_Delete(doc);
    /* Count pages, next continues. */
    doc = read_recs("rd", "count=2");
    cr_assert_eq(cJSON_GetArraySize(recs_of(doc)), 2);
    cr_assert_str_eq(ts_json_str(doc, "next"), ids[1]);
    cJSON_Delete(doc);
    snprintf(q, sizeof(q), "start=%s&count=2", ids[1]);
    doc = read_recs("rd", q);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs_of(doc), 0), "payload"), "m2");
    cr_assert_str_eq(ts_json_str(doc, "next"), ids[3]);
    cJSON_Delete(doc);
    /* Tail without block: nothing newer. */
    doc = read_recs("rd", "tail=true");
    cr_assert_eq(cJSON_GetArraySize(recs_of(doc)), 0);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "next")));
    cJSON_Delete(doc);
    /* An empty page after the last id keeps the cursor. */
    snprintf(q, sizeof(q), "start=%s", ids[4]);
    doc = read_recs("rd", q);
    cr_assert_eq(cJSON_GetArraySize(recs_of(doc)), 0);
    cr_assert_str_eq(ts_json_str(doc, "next"), ids[4]);
    cJSON_Delete(doc);
}

struct poll_arg {
    const char *query;
    cJSON *doc;
    uint64_t ms;
};

static void *poll_thread(void *p)
{
    struct poll_arg *a = p;
    char u[URL_MAX];
    struct ts_http_resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/v1/streams/bl/records?%s", (unsigned)sc.http_port,
             a->query);
    uint64_t t0 = ts_now_ms();
    if (ts_http("GET", u, NULL, NULL, 0, &r) == 0) {
        if (r.status == 200) {
            a->doc = cJSON_ParseWithLength(r.body, r.body_len);
        }
        ts_http_resp_free(&r);
    }
    a->ms = ts_now_ms() - t0;
    return NULL;
}

Test(http_stream, blocking_read_released_by_append)
{
    char id[FLO_STREAM_ID_TEXT_MAX];
    append_raw("bl", "old", id);
    struct poll_arg a = {.query = "tail=true&block_ms=10000"};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_thread, &a), 0);
    usleep(300 * 1000);
    append_raw("bl", "new", id);
    pthread_join(th, NULL);
    cr_assert_not_null(a.doc, "long-poll failed");
    const cJSON *recs = recs_of(a.doc);
    cr_assert_eq(cJSON_GetArraySize(recs), 1);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs, 0), "payload"), "new");
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs, 0), "id"), id);
    cr_assert_lt(a.ms, RELEASE_MAX, "released by the append, not the timeout (%llu ms)",
                 (unsigned long long)a.ms);
    cJSON_Delete(a.doc);
}

Test(http_stream, blocking_read_times_out_empty)
{
    char id[FLO_STREAM_ID_TEXT_MAX];
    char q[URL_MAX];
    append_raw("bl", "only", id);
    snprintf(q, sizeof(q), "start=%s&block_ms=%d", id, TIMEOUT_POLL);
    struct poll_arg a = {.query = q};
    poll_thread(&a);
    cr_assert_not_null(a.doc, "timed-out long-poll answers 200 JSON");
    cr_assert_eq(cJSON_GetArraySize(recs_of(a.doc)), 0);
    cr_assert_str_eq(ts_json_str(a.doc, "next"), id);
    cr_assert_geq(a.ms, TIMEOUT_POLL - 50, "waited about block_ms (%llu ms)",
                  (unsigned long long)a.ms);
    cJSON_Delete(a.doc);
}

/* ---- trim ---- */

Test(http_stream, trim)
{
    char ids[5][FLO_STREAM_ID_TEXT_MAX];
    for (int i = 0; i < 5; i++) {
        append_raw("tr", "x", ids[i]);
    }
    cJSON *doc =
        jreq("POST", "/v1/streams/tr/trim", json_hdr, "{\"maxlen\":2,\"dry_run\":true}", 200);
    cr_assert_eq(ts_json_num(doc, "deleted"), 3);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "dry_run")));
    cJSON_Delete(doc);
    doc = jreq("GET", "/v1/streams/tr", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 5, "dry run removes nothing");
    cJSON_Delete(doc);

    char body[128];
    snprintf(body, sizeof(body), "{\"before\":\"%s\"}", ids[1]);
    doc = jreq("POST", "/v1/streams/tr/trim", json_hdr, body, 200);
    cr_assert_eq(ts_json_num(doc, "deleted"), 2);
    struct flo_stream_id third;
    cr_assert_eq(flo_stream_id_parse(FLO_BUF_STR(ids[2]), &third), 0);
    cr_assert_eq(ts_json_num(doc, "first_seq"), (double)third.seq);
    cJSON_Delete(doc);

    doc = jreq("POST", "/v1/streams/tr/trim", json_hdr, "{\"maxlen\":1}", 200);
    cr_assert_eq(ts_json_num(doc, "deleted"), 2);
    cJSON_Delete(doc);
    doc = jreq("GET", "/v1/streams/tr", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cr_assert_str_eq(ts_json_str(doc, "first_id"), ids[4]);
    cJSON_Delete(doc);

    expect_400("POST", "/v1/streams/tr/trim", "{\"maxlen\":1,\"maxage_s\":5}", "exactly one");
    expect_400("POST", "/v1/streams/tr/trim", "{}", "exactly one");
    expect_400("POST", "/v1/streams/tr/trim", "{\"maxlen\":0}", "at least 1");
    expect_400("POST", "/v1/streams/tr/trim", "{\"before\":\"1-\"}", "not a stream id");
}

/* ---- consumer groups ---- */

/* Join consumer c on (s, g) and read up to n records straight from flo-dev,
 * so they enter the group's pending-entries list. Returns records read. */
static uint32_t group_read(const char *s, const char *g, const char *c, uint32_t n)
{
    int fd = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    cr_assert_eq(flo_group_member_value(&v, FLO_BUF_STR(g), FLO_BUF_STR(c)), 0);
    struct rsp r = call(fd, FLO_OP_GROUP_JOIN, "default", s, flo_wbuf_view(&v), FLO_BUF_NULL);
    cr_assert_eq(r.status, FLO_STATUS_OK);
    rsp_free(&r);
    struct flo_stream_read_args a = {.count = n};
    cr_assert_eq(flo_stream_read_opts(&o, &a), 0);
    r = call(fd, FLO_OP_GROUP_READ, "default", s, flo_wbuf_view(&v), flo_wbuf_view(&o));
    cr_assert_eq(r.status, FLO_STATUS_OK);
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_records_begin(r.body, &it, &count), 0);
    rsp_free(&r);
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(fd);
    return count;
}

Test(http_stream, groups)
{
    char ids[3][FLO_STREAM_ID_TEXT_MAX];
    for (int i = 0; i < 3; i++) {
        append_raw("gs", "rec", ids[i]);
    }
    cJSON *doc = jreq("PUT", "/v1/streams/gs/groups/g1", json_hdr,
                      "{\"ack_timeout_ms\":60000,\"max_deliver\":4}", 201);
    cr_assert_str_eq(ts_json_str(doc, "group"), "g1");
    cr_assert_eq(ts_json_num(doc, "ack_timeout_ms"), 60000);
    cr_assert_eq(ts_json_num(doc, "max_deliver"), 4);
    cJSON_Delete(doc);
    struct ts_http_resp r = req("PUT", "/v1/streams/gs/groups/g1", NULL, NULL, 0);
    cr_assert_eq(r.status, 409, "%s", r.body);
    cr_assert(strstr(r.body, "already exists") != NULL, "%s", r.body);
    ts_http_resp_free(&r);

    doc = jreq("GET", "/v1/streams/gs/groups/g1", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "pending"), 0);
    cr_assert_eq(ts_json_num(doc, "members"), 0);
    cr_assert_gt(ts_json_num(doc, "created_at_ms"), 0);
    cJSON_Delete(doc);

    doc = jreq("PATCH", "/v1/streams/gs/groups/g1/sweeper", json_hdr, "{\"max_deliver\":2}", 200);
    cr_assert_eq(ts_json_num(doc, "max_deliver"), 2);
    cJSON_Delete(doc);
    doc = jreq("POST", "/v1/streams/gs/groups/g1/sweeper?ack_timeout_ms=30000", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "ack_timeout_ms"), 30000);
    cJSON_Delete(doc);
    expect_400("PATCH", "/v1/streams/gs/groups/g1/sweeper", "{}", "ack_timeout_ms");
    expect_400("PATCH", "/v1/streams/gs/groups/g1/sweeper", "{\"max_deliver\":256}", "max_deliver");

    cr_assert_eq(group_read("gs", "g1", "c1", 2), 2);
    cr_assert_eq(group_read("gs", "g1", "c2", 5), 1);

    doc = jreq("GET", "/v1/streams/gs/groups/g1/pending", NULL, NULL, 200);
    const cJSON *p = cJSON_GetObjectItem(doc, "pending");
    cr_assert_eq(cJSON_GetArraySize(p), 3);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(p, 0), "id"), ids[0]);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(p, 0), "consumer"), "c1");
    cr_assert_eq(ts_json_num(cJSON_GetArrayItem(p, 0), "delivery_count"), 1);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(p, 2), "consumer"), "c2");
    cJSON_Delete(doc);
    doc = jreq("GET", "/v1/streams/gs/groups/g1/pending?consumer=c2", NULL, NULL, 200);
    p = cJSON_GetObjectItem(doc, "pending");
    cr_assert_eq(cJSON_GetArraySize(p), 1);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(p, 0), "id"), ids[2]);
    cJSON_Delete(doc);
    doc = jreq("GET", "/v1/streams/gs/groups/g1", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "pending"), 3);
    cr_assert_eq(ts_json_num(doc, "members"), 2);
    cJSON_Delete(doc);
    expect_400("GET", "/v1/streams/gs/groups/g1/pending?consumer=", NULL, "consumer");

    doc = jreq("DELETE", "/v1/streams/gs/groups/g1", NULL, NULL, 200);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "deleted")));
    cJSON_Delete(doc);
    r = req("GET", "/v1/streams/gs/groups/g1", NULL, NULL, 0);
    cr_assert_eq(r.status, 404, "%s", r.body);
    ts_http_resp_free(&r);
    r = req("GET", "/v1/streams/gs/groups/g1/pending", NULL, NULL, 0);
    cr_assert_eq(r.status, 404, "%s", r.body);
    ts_http_resp_free(&r);
}

/* ---- errors ---- */

Test(http_stream, bad_ids_and_params)
{
    expect_400("GET", "/v1/streams/e/records?start=abc", NULL, "abc\\\" is not a stream id");
    expect_400("GET", "/v1/streams/e/records?start=1-", NULL, "1-\\\" is not a stream id");
    expect_400("GET", "/v1/streams/e/records?end=-5", NULL, "not a stream id");
    expect_400("GET", "/v1/streams/e/records?start=1-1&tail=true", NULL, "not both");
    expect_400("GET", "/v1/streams/e/records?count=0", NULL, "count");
    expect_400("GET", "/v1/streams/e/records?count=1001", NULL, "count");
    expect_400("GET", "/v1/streams/e/records?bogus=1", NULL, "bogus");
    struct ts_http_resp r = req("GET", "/v1/streams/e/nothing", NULL, NULL, 0);
    cr_assert_eq(r.status, 404, "%s", r.body);
    ts_http_resp_free(&r);
    r = req("PATCH", "/v1/streams/e", NULL, NULL, 0);
    cr_assert_eq(r.status, 405, "%s", r.body);
    ts_http_resp_free(&r);
    /* The connection and the sidecar still serve. */
    char id[FLO_STREAM_ID_TEXT_MAX];
    append_raw("e", "fine", id);
    cr_assert_gt(strlen(id), 2);
}
