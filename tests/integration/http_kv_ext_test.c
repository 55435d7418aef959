/*
 * Integration tests of the issue-4 HTTP KV routes: history, incr, ttl
 * (touch / persist), JSON paths, scan with pagination, mget and
 * transactions. flo-dev and flo-sidecar run as real processes on free
 * loopback ports; requests go through libcurl (responses parsed with
 * cJSON) and, for a few, the curl binary. The sidecar log is checked for
 * sanitizer reports when each test stops it.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts.h"
#include "ts_http_fixture.h"

#define URL_MAX     512
#define PAGE_KEYS   57 /* keys scanned across several pages */
#define TTL_WAIT_MS 3000

static struct ts_flodev dev;
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

TestSuite(http_kv_ext, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static void url_of(char *buf, const char *path)
{
    snprintf(buf, URL_MAX + 128, "http://127.0.0.1:%u%s", (unsigned)sc.http_port, path);
}

static struct ts_http_resp call(const char *method, const char *path, const char *body)
{
    return ts_http_call(&sc, method, path, NULL, body, body ? strlen(body) : 0);
}

static long status_of(const char *method, const char *path, const char *body)
{
    struct ts_http_resp r = call(method, path, body);
    long st = r.status;
    ts_http_resp_free(&r);
    return st;
}

/* Call, check the status, parse the JSON body (caller deletes). */
static cJSON *call_json(const char *method, const char *path, const char *body, long want)
{
    return ts_http_call_json(&sc, method, path, NULL, body, want);
}

static void expect_error(const char *method, const char *path, const char *body, long status,
                         const char *code)
{
    cJSON *doc = call_json(method, path, body, status);
    const cJSON *c = cJSON_GetObjectItem(doc, "code");
    const cJSON *m = cJSON_GetObjectItem(doc, "error");
    cr_assert(cJSON_IsString(c) && strcmp(c->valuestring, code) == 0, "%s %s: code %s, want %s",
              method, path, cJSON_IsString(c) ? c->valuestring : "(none)", code);
    cr_assert(cJSON_IsString(m) && strlen(m->valuestring) > 10, "no useful message");
    cJSON_Delete(doc);
}

static bool flag(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsBool(v), "no bool \"%s\"", name);
    return cJSON_IsTrue(v);
}

static uint64_t put(const char *key, const char *value)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/kv/%s", key);
    cJSON *doc = call_json("PUT", path, value, 200);
    uint64_t v = (uint64_t)ts_json_num(doc, "version");
    cJSON_Delete(doc);
    return v;
}

/* GET /v1/kv/{key}: the status, and the body into buf (NUL-terminated). */
static long get(const char *key, char *buf, size_t cap)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/kv/%s", key);
    struct ts_http_resp r = call("GET", path, NULL);
    long st = r.status;
    if (buf != NULL) {
        snprintf(buf, cap, "%.*s", (int)r.body_len, r.body);
    }
    ts_http_resp_free(&r);
    return st;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* ---- history ---- */

Test(http_kv_ext, history_is_newest_first_and_limited)
{
    uint64_t v1 = put("h", "one");
    uint64_t v2 = put("h", "two");
    uint64_t v3 = put("h", "three");
    cr_assert(v1 < v2 && v2 < v3);
    cJSON *doc = call_json("GET", "/v1/kv/h/history", NULL, 200);
    const cJSON *vs = cJSON_GetObjectItem(doc, "versions");
    cr_assert_eq(cJSON_GetArraySize(vs), 3);
    const char *want[] = {"three", "two", "one"};
    uint64_t wantv[] = {v3, v2, v1};
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(vs, i);
        cr_assert_str_eq(ts_json_str(e, "value"), want[i]);
        cr_assert_eq((uint64_t)ts_json_num(e, "version"), wantv[i]);
    }
    cr_assert_eq(ts_json_num(doc, "count"), 3);
    cJSON_Delete(doc);

    doc = call_json("GET", "/v1/kv/h/history?limit=2", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "versions")), 2);
    cJSON_Delete(doc);

    expect_error("GET", "/v1/kv/h/history?limit=0", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/h/history?limit=x", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/h/history?bogus=1", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/never/history", NULL, 404, "not_found");
    expect_error("POST", "/v1/kv/h/history", NULL, 405, "method_not_allowed");
    expect_error("GET", "/v1/kv/h/nosuch", NULL, 404, "not_found");
}

/* ---- incr ---- */

Test(http_kv_ext, incr_deltas_overflow_and_type_conflict)
{
    cJSON *doc = call_json("POST", "/v1/kv/c/incr", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "value"), 1);
    uint64_t v1 = (uint64_t)ts_json_num(doc, "version");
    cJSON_Delete(doc);
    doc = call_json("POST", "/v1/kv/c/incr?delta=10", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "value"), 11);
    cr_assert_gt((uint64_t)ts_json_num(doc, "version"), v1);
    cJSON_Delete(doc);
    doc = call_json("POST", "/v1/kv/c/incr", "{\"delta\": -20}", 200);
    cr_assert_eq(ts_json_num(doc, "value"), -9);
    cJSON_Delete(doc);
    doc = call_json("POST", "/v1/kv/c/incr", "{\"delta\": \"-1\"}", 200);
    cr_assert_eq(ts_json_num(doc, "value"), -10);
    cJSON_Delete(doc);

    /* The counter is an 8-byte little-endian integer on GET. */
    char path[URL_MAX], u[URL_MAX];
    struct ts_http_resp r = call("GET", "/v1/kv/c", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 8);
    int64_t raw = 0;
    for (int i = 7; i >= 0; i--) {
        raw = (int64_t)((uint64_t)raw << 8 | (uint8_t)r.body[i]);
    }
    cr_assert_eq(raw, -10);
    ts_http_resp_free(&r);

    /* Overflow: refused, counter unchanged. */
    doc = call_json("POST", "/v1/kv/big/incr?delta=9223372036854775807", NULL, 200);
    cJSON_Delete(doc);
    expect_error("POST", "/v1/kv/big/incr?delta=1", NULL, 409, "counter_overflow");
    doc = call_json("POST", "/v1/kv/big/incr?delta=0", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "value"), 9223372036854775807.0);
    cJSON_Delete(doc);
    doc = call_json("POST", "/v1/kv/neg/incr?delta=-9223372036854775808", NULL, 200);
    cJSON_Delete(doc);
    expect_error("POST", "/v1/kv/neg/incr?delta=-1", NULL, 409, "counter_overflow");

    /* A plain value and a counter cannot share a key. */
    put("plain", "hello");
    expect_error("POST", "/v1/kv/plain/incr", NULL, 409, "not_a_counter");
    char buf[32];
    cr_assert_eq(get("plain", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "hello");

    /* Bad input: clear 400s. */
    expect_error("POST", "/v1/kv/c/incr?delta=abc", NULL, 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr?delta=1.5", NULL, 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr?delta=9223372036854775808", NULL, 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr", "{\"delta\": \"ten\"}", 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr", "{\"delta\": 1.25}", 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr", "{\"delta\": 1", 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr", "{\"step\": 1}", 400, "bad_request");
    expect_error("POST", "/v1/kv/c/incr?delta=1", "{\"delta\": 1}", 400, "bad_request");
    expect_error("GET", "/v1/kv/c/incr", NULL, 405, "method_not_allowed");

    /* The same keep-alive connection keeps working after a 400. */
    CURL *h = curl_easy_init();
    cr_assert_not_null(h);
    snprintf(path, sizeof(path), "/v1/kv/c/incr?delta=zz");
    url_of(u, path);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK);
    long code = 0, conns = -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    cr_assert_eq(code, 400);
    url_of(u, "/v1/kv/c/incr?delta=3");
    curl_easy_setopt(h, CURLOPT_URL, u);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
    cr_assert_eq(code, 200);
    cr_assert_eq(conns, 0, "the connection was not reused after the 400");
    curl_easy_cleanup(h);
}

/* ---- ttl ---- */

static bool wait_status(const char *key, long want, int ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    while (ts_now_ms() < end) {
        if (get(key, NULL, 0) == want) {
            return true;
        }
        usleep(20 * 1000);
    }
    return false;
}

Test(http_kv_ext, touch_sets_ttl_and_persist_clears_it)
{
    /* touch: an existing key gets a TTL without being rewritten. */
    uint64_t v = put("tt", "x");
    cr_assert_eq(status_of("PUT", "/v1/kv/tt/ttl?ttl_ms=300", NULL), 204);
    struct ts_http_resp r = call("GET", "/v1/kv/tt?format=json", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"value\":\"x\"") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
    cr_assert(wait_status("tt", 404, TTL_WAIT_MS), "the key never expired");
    (void)v;

    /* JSON body form. */
    put("tb", "y");
    cr_assert_eq(status_of("PUT", "/v1/kv/tb/ttl", "{\"ttl_ms\": 300}"), 204);
    cr_assert(wait_status("tb", 404, TTL_WAIT_MS), "the key never expired");

    /* persist: a key written with a short TTL outlives it. */
    cJSON *doc = call_json("PUT", "/v1/kv/tp?ttl_ms=300", "z", 200);
    cJSON_Delete(doc);
    cr_assert_eq(status_of("DELETE", "/v1/kv/tp/ttl", NULL), 204);
    usleep(600 * 1000);
    char buf[8];
    cr_assert_eq(get("tp", buf, sizeof(buf)), 200, "persisted key expired");
    cr_assert_str_eq(buf, "z");

    /* Missing keys, CAS and bad input. */
    expect_error("PUT", "/v1/kv/nokey/ttl?ttl_ms=100", NULL, 404, "not_found");
    expect_error("DELETE", "/v1/kv/nokey/ttl", NULL, 404, "not_found");
    expect_error("PUT", "/v1/kv/tp/ttl", NULL, 400, "bad_request");
    expect_error("PUT", "/v1/kv/tp/ttl?ttl_ms=-5", NULL, 400, "bad_request");
    expect_error("PUT", "/v1/kv/tp/ttl", "{\"ttl_ms\": \"soon\"}", 400, "bad_request");
    expect_error("PUT", "/v1/kv/tp/ttl?ttl_ms=5", "{\"ttl_ms\": 5}", 400, "bad_request");
    expect_error("DELETE", "/v1/kv/tp/ttl?ttl_ms=5", NULL, 400, "bad_request");
    char u[URL_MAX + 128];
    url_of(u, "/v1/kv/tp/ttl?ttl_ms=100000");
    const char *stale[] = {"If-Match: \"999999\"", NULL};
    cr_assert_eq(ts_http("PUT", u, stale, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 412, "%s", r.body);
    ts_http_resp_free(&r);
}

/* ---- JSON paths ---- */

static void expect_json_at(const char *path, const char *want)
{
    struct ts_http_resp r = call("GET", path, NULL);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    cr_assert_eq(r.body_len, strlen(want), "GET %s: %s", path, r.body);
    cr_assert_eq(memcmp(r.body, want, r.body_len), 0, "GET %s: %s, want %s", path, r.body, want);
    char ct[64];
    cr_assert_eq(ts_http_header(&r, "Content-Type", ct, sizeof(ct)), 0);
    cr_assert_str_eq(ct, "application/json");
    ts_http_resp_free(&r);
}

Test(http_kv_ext, json_every_path_form)
{
    const char *doc = "{\"user\":{\"name\":\"ann\",\"tags\":[\"a\",\"b\",\"c\"]},\"odd key\":7}";
    cJSON *res = call_json("PUT", "/v1/kv/d/json", doc, 200);
    uint64_t v1 = (uint64_t)ts_json_num(res, "version");
    cr_assert_str_eq(ts_json_str(res, "path"), "$");
    cJSON_Delete(res);

    expect_json_at("/v1/kv/d/json", doc);
    expect_json_at("/v1/kv/d/json?path=%24", doc);
    expect_json_at("/v1/kv/d/json?path=$.user.name", "\"ann\"");
    expect_json_at("/v1/kv/d/json?path=$.user.tags%5B2%5D", "\"c\"");
    expect_json_at("/v1/kv/d/json?path=$%5B'odd%20key'%5D", "7");

    /* Set a nested field, then an array element. */
    res = call_json("PUT", "/v1/kv/d/json?path=$.user.age", "41", 200);
    cr_assert_gt((uint64_t)ts_json_num(res, "version"), v1);
    cJSON_Delete(res);
    res = call_json("PUT", "/v1/kv/d/json?path=$.user.tags%5B0%5D", "\"z\"", 200);
    cJSON_Delete(res);
    expect_json_at("/v1/kv/d/json?path=$.user.age", "41");
    expect_json_at("/v1/kv/d/json?path=$.user.tags%5B0%5D", "\"z\"");

    /* Delete a path, then the whole document. */
    cr_assert_eq(status_of("DELETE", "/v1/kv/d/json?path=$.user.tags", NULL), 204);
    expect_error("GET", "/v1/kv/d/json?path=$.user.tags", NULL, 404, "not_found");
    expect_json_at("/v1/kv/d/json?path=$.user", "{\"name\":\"ann\",\"age\":41}");
    cr_assert_eq(status_of("DELETE", "/v1/kv/d/json", NULL), 204);
    cr_assert_eq(get("d", NULL, 0), 404);

    /* Errors. */
    expect_error("PUT", "/v1/kv/d/json", "{\"a\":", 400, "bad_request");
    expect_error("PUT", "/v1/kv/d/json", "{\"a\":1} x", 400, "bad_request");
    expect_error("PUT", "/v1/kv/d/json", "", 400, "bad_request");
    expect_error("PUT", "/v1/kv/d/json?path=$.x", "1", 404, "not_found");
    res = call_json("PUT", "/v1/kv/d/json", "{\"a\":[1,2]}", 200);
    cJSON_Delete(res);
    expect_error("GET", "/v1/kv/d/json?path=a", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/d/json?path=$..a", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/d/json?path=$.a%5Bx%5D", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/d/json?path=$.a%5B9%5D", NULL, 404, "not_found");
    expect_error("GET", "/v1/kv/nodoc/json", NULL, 404, "not_found");
    put("notjson", "not { json");
    expect_error("GET", "/v1/kv/notjson/json?path=$.a", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv/d/json?ttl_ms=5", NULL, 400, "bad_request");
}

/* ---- scan ---- */

Test(http_kv_ext, scan_pages_lose_and_repeat_nothing)
{
    char key[32], val[32];
    for (int i = 0; i < PAGE_KEYS; i++) {
        snprintf(key, sizeof(key), "pg:%03d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        put(key, val);
    }
    put("other", "x");
    put("ph", "x"); /* shares "p" but not "pg:" */

    for (int keys_only = 0; keys_only < 2; keys_only++) {
        bool seen[PAGE_KEYS] = {false};
        int total = 0, pages = 0;
        char cursor[256] = "";
        bool more = true;
        while (more) {
            char path[URL_MAX + 64];
            snprintf(path, sizeof(path), "/v1/kv?prefix=pg:&limit=10%s%s%s",
                     keys_only ? "&keys_only=true" : "", cursor[0] ? "&cursor=" : "", cursor);
            cJSON *doc = call_json("GET", path, NULL, 200);
            const cJSON *list = cJSON_GetObjectItem(doc, keys_only ? "keys" : "items");
            cr_assert(cJSON_IsArray(list), "no list in page %d", pages);
            cr_assert_leq(cJSON_GetArraySize(list), 10);
            cr_assert_eq(ts_json_num(doc, "count"), cJSON_GetArraySize(list));
            const cJSON *e;
            cJSON_ArrayForEach(e, list)
            {
                const char *k = keys_only ? e->valuestring : ts_json_str(e, "key");
                cr_assert_not_null(k);
                cr_assert_eq(strncmp(k, "pg:", 3), 0, "key %s outside the prefix", k);
                int idx = atoi(k + 3);
                cr_assert(idx >= 0 && idx < PAGE_KEYS);
                cr_assert_not(seen[idx], "key %s repeated", k);
                seen[idx] = true;
                total++;
                if (!keys_only) {
                    snprintf(val, sizeof(val), "value-%d", idx);
                    cr_assert_str_eq(ts_json_str(e, "value"), val);
                    cr_assert_gt(ts_json_num(e, "version"), 0);
                }
            }
            more = flag(doc, "has_more");
            const cJSON *c = cJSON_GetObjectItem(doc, "cursor");
            if (more) {
                cr_assert(cJSON_IsString(c));
                for (const char *p = c->valuestring; *p; p++) {
                    cr_assert(strchr("+/=&%", *p) == NULL, "cursor not URL-safe: %s",
                              c->valuestring);
                }
                snprintf(cursor, sizeof(cursor), "%s", c->valuestring);
            } else {
                cr_assert(cJSON_IsNull(c));
            }
            cJSON_Delete(doc);
            cr_assert_lt(++pages, 20, "too many pages");
        }
        cr_assert_eq(total, PAGE_KEYS, "keys_only=%d: saw %d keys", keys_only, total);
        cr_assert_geq(pages, 6);
    }

    /* Whole namespace, default limit. */
    cJSON *doc = call_json("GET", "/v1/kv", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), PAGE_KEYS + 2);
    cJSON_Delete(doc);
    doc = call_json("GET", "/v1/kv?prefix=none", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 0);
    cr_assert_not(flag(doc, "has_more"));
    cJSON_Delete(doc);

    expect_error("GET", "/v1/kv?limit=0", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv?limit=1001", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv?cursor=***", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv?keys_only=maybe", NULL, 400, "bad_request");
    expect_error("GET", "/v1/kv?sort=asc", NULL, 400, "bad_request");
    expect_error("DELETE", "/v1/kv", NULL, 405, "method_not_allowed");
}

/* ---- mget ---- */

Test(http_kv_ext, mget_reports_missing_keys_in_order)
{
    uint64_t va = put("ma", "alpha");
    put("mc", "gamma");
    cJSON *doc = call_json("POST", "/v1/kv/mget", "{\"keys\":[\"ma\",\"mb\",\"mc\",\"ma\"]}", 200);
    const cJSON *items = cJSON_GetObjectItem(doc, "items");
    cr_assert_eq(cJSON_GetArraySize(items), 4);
    const cJSON *a = cJSON_GetArrayItem(items, 0), *b = cJSON_GetArrayItem(items, 1),
                *c = cJSON_GetArrayItem(items, 2);
    cr_assert_str_eq(ts_json_str(a, "key"), "ma");
    cr_assert(flag(a, "found"));
    cr_assert_str_eq(ts_json_str(a, "value"), "alpha");
    cr_assert_eq((uint64_t)ts_json_num(a, "version"), va);
    cr_assert_str_eq(ts_json_str(b, "key"), "mb");
    cr_assert_not(flag(b, "found"));
    cr_assert_null(cJSON_GetObjectItem(b, "value"));
    cr_assert_str_eq(ts_json_str(c, "value"), "gamma");
    cr_assert_eq(ts_json_num(doc, "found"), 3);
    cJSON_Delete(doc);

    /* Binary values come back base64 with a marker; base64 keys work. */
    char u[URL_MAX + 128];
    struct ts_http_resp r;
    url_of(u, "/v1/kv/mbin");
    const char bin[] = {'\x00', '\xff', '\x01'};
    cr_assert_eq(ts_http("PUT", u, NULL, bin, sizeof(bin), &r), 0);
    ts_http_resp_free(&r);
    doc = call_json("POST", "/v1/kv/mget", "{\"keys\":[\"bWJpbg==\"],\"keys_encoding\":\"base64\"}",
                    200);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "items"), 0);
    cr_assert_str_eq(ts_json_str(e, "key"), "mbin");
    cr_assert_str_eq(ts_json_str(e, "value"), "AP8B");
    cr_assert_str_eq(ts_json_str(e, "encoding"), "base64");
    cJSON_Delete(doc);

    /* 256 keys is the cap. */
    size_t cap = 300 * 8 + 32;
    char *body = malloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"keys\":[");
    for (int i = 0; i < 257; i++) {
        n += (size_t)snprintf(body + n, cap - n, "%s\"k%d\"", i ? "," : "", i);
    }
    snprintf(body + n, cap - n, "]}");
    expect_error("POST", "/v1/kv/mget", body, 400, "bad_request");
    char *cut = strstr(body, ",\"k256\"");
    memcpy(cut, "]}", 3);
    doc = call_json("POST", "/v1/kv/mget", body, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "items")), 256);
    cJSON_Delete(doc);
    free(body);

    expect_error("POST", "/v1/kv/mget", "{\"keys\":[]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "{\"keys\":\"ma\"}", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "{\"keys\":[1]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "{\"keys\":[\"\"]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "[\"ma\"]", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "{\"keys\":[\"a\\u0000b\"]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "not json", 400, "bad_request");
    expect_error("POST", "/v1/kv/mget", "", 400, "bad_request");
}

Test(http_kv_ext, keys_named_mget_and_txn_stay_reachable)
{
    put("mget", "m-value");
    put("txn", "t-value");
    char buf[32];
    cr_assert_eq(get("mget", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "m-value");
    cr_assert_eq(get("txn", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "t-value");
    cr_assert_eq(status_of("HEAD", "/v1/kv/mget", NULL), 200);
    cJSON *doc = call_json("GET", "/v1/kv/mget/history", NULL, 200);
    cJSON_Delete(doc);
    doc = call_json("POST", "/v1/kv/mget", "{\"keys\":[\"mget\",\"txn\"]}", 200);
    cr_assert_eq(ts_json_num(doc, "found"), 2);
    cJSON_Delete(doc);
    cr_assert_eq(status_of("DELETE", "/v1/kv/mget", NULL), 204);
    cr_assert_eq(status_of("DELETE", "/v1/kv/txn", NULL), 204);
    cr_assert_eq(get("mget", NULL, 0), 404);
}

/* ---- transactions ---- */

Test(http_kv_ext, txn_commits_atomically_with_results)
{
    put("tx-old", "old");
    cJSON *doc = call_json(
        "POST", "/v1/kv/txn",
        "{\"routing_key\":\"acct\",\"ops\":["
        "{\"op\":\"put\",\"key\":\"tx-a\",\"value\":\"A\"},"
        "{\"op\":\"put\",\"key\":\"tx-b\",\"value\":\"AP8=\",\"encoding\":\"base64\",\"ttl_ms\":"
        "60000},"
        "{\"op\":\"incr\",\"key\":\"tx-n\",\"delta\":5},"
        "{\"op\":\"get\",\"key\":\"tx-a\"},"
        "{\"op\":\"exists\",\"key\":\"tx-zz\"},"
        "{\"op\":\"delete\",\"key\":\"tx-old\"},"
        "{\"op\":\"touch\",\"key\":\"tx-a\",\"ttl_ms\":60000},"
        "{\"op\":\"persist\",\"key\":\"tx-a\"}]}",
        200);
    cr_assert(flag(doc, "committed"));
    cr_assert_gt(ts_json_num(doc, "commit_index"), 0);
    const cJSON *res = cJSON_GetObjectItem(doc, "results");
    cr_assert_eq(cJSON_GetArraySize(res), 8);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(res, 0), "op"), "put");
    cr_assert_eq(ts_json_num(cJSON_GetArrayItem(res, 2), "delta"), 5);
    cr_assert(flag(cJSON_GetArrayItem(res, 3), "found"));
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(res, 3), "value"), "A");
    cr_assert_not(flag(cJSON_GetArrayItem(res, 4), "exists"));
    cr_assert(flag(cJSON_GetArrayItem(res, 5), "deleted"));
    cJSON_Delete(doc);

    char buf[32];
    cr_assert_eq(get("tx-a", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "A");
    struct ts_http_resp r = call("GET", "/v1/kv/tx-b", NULL);
    cr_assert_eq(r.body_len, 2);
    cr_assert_eq((uint8_t)r.body[1], 0xff);
    ts_http_resp_free(&r);
    cr_assert_eq(get("tx-old", NULL, 0), 404);
    doc = call_json("POST", "/v1/kv/tx-n/incr?delta=0", NULL, 200);
    cr_assert_eq(ts_json_num(doc, "value"), 5);
    cJSON_Delete(doc);

    /* Without routing_key the first op's key routes it. */
    doc = call_json("POST", "/v1/kv/txn",
                    "{\"ops\":[{\"op\":\"put\",\"key\":\"solo\",\"value\":\"s\"}]}", 200);
    cr_assert(flag(doc, "committed"));
    cJSON_Delete(doc);
}

Test(http_kv_ext, txn_failure_leaves_nothing_behind)
{
    uint64_t v = put("tx-cas", "v1");
    put("tx-plain", "p");
    char body[512];

    /* A stale if_match on op 1: 409, op 0 not applied. */
    snprintf(body, sizeof(body),
             "{\"routing_key\":\"r\",\"ops\":[{\"op\":\"put\",\"key\":\"tx-new\",\"value\":\"n\"},"
             "{\"op\":\"put\",\"key\":\"tx-cas\",\"value\":\"v2\",\"if_match\":%llu}]}",
             (unsigned long long)(v + 100));
    cJSON *doc = call_json("POST", "/v1/kv/txn", body, 409);
    cr_assert_not(flag(doc, "committed"));
    cr_assert_eq(ts_json_num(doc, "failed_op"), 1);
    cr_assert_str_eq(ts_json_str(doc, "key"), "tx-cas");
    cr_assert_str_eq(ts_json_str(doc, "code"), "conflict");
    cJSON_Delete(doc);
    cr_assert_eq(get("tx-new", NULL, 0), 404);
    char buf[16];
    cr_assert_eq(get("tx-cas", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "v1");

    /* The right version commits. */
    snprintf(body, sizeof(body),
             "{\"routing_key\":\"r\",\"ops\":[{\"op\":\"put\",\"key\":\"tx-cas\",\"value\":\"v2\","
             "\"if_match\":%llu}]}",
             (unsigned long long)v);
    doc = call_json("POST", "/v1/kv/txn", body, 200);
    cJSON_Delete(doc);

    /* A type conflict on the last op: nothing applied. */
    doc =
        call_json("POST", "/v1/kv/txn",
                  "{\"routing_key\":\"r\",\"ops\":[{\"op\":\"delete\",\"key\":\"tx-cas\"},"
                  "{\"op\":\"incr\",\"key\":\"tx-new2\"},{\"op\":\"incr\",\"key\":\"tx-plain\"}]}",
                  409);
    cr_assert_eq(ts_json_num(doc, "failed_op"), 2);
    cr_assert_str_eq(ts_json_str(doc, "code"), "not_a_counter");
    cJSON_Delete(doc);
    cr_assert_eq(get("tx-cas", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "v2");
    cr_assert_eq(get("tx-new2", NULL, 0), 404);

    /* if_not_exists on an existing key. */
    doc = call_json("POST", "/v1/kv/txn",
                    "{\"ops\":[{\"op\":\"put\",\"key\":\"tx-plain\",\"value\":\"q\","
                    "\"if_not_exists\":true}]}",
                    409);
    cJSON_Delete(doc);
    cr_assert_eq(get("tx-plain", buf, sizeof(buf)), 200);
    cr_assert_str_eq(buf, "p");
}

Test(http_kv_ext, txn_bad_input_refused_before_anything_runs)
{
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"scan\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"mget\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"json_set\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"history\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"frob\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"put\",\"key\":\"a\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn",
                 "{\"ops\":[{\"op\":\"put\",\"key\":\"a\",\"value\":\"v\",\"ttl\":5}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn",
                 "{\"ops\":[{\"op\":\"incr\",\"key\":\"a\",\"delta\":\"x\"}]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[{\"op\":\"put\",\"value\":\"v\"}]}", 400,
                 "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[]}", 400, "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":{}}", 400, "bad_request");
    expect_error("POST", "/v1/kv/txn", "{\"ops\":[", 400, "bad_request");

    /* More than 256 ops: 413, and the first op was not applied. */
    size_t cap = 300 * 48 + 64;
    char *body = malloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"routing_key\":\"r\",\"ops\":[");
    for (int i = 0; i < 257; i++) {
        n += (size_t)snprintf(body + n, cap - n,
                              "%s{\"op\":\"put\",\"key\":\"cap%d\",\"value\":\"v\"}", i ? "," : "",
                              i);
    }
    snprintf(body + n, cap - n, "]}");
    expect_error("POST", "/v1/kv/txn", body, 413, "too_large");
    free(body);
    cr_assert_eq(get("cap0", NULL, 0), 404);
}

/* ---- the curl binary ---- */

Test(http_kv_ext, curl_binary_incr_txn_and_scan)
{
    char u[URL_MAX + 128];
    char *out = NULL;
    size_t len = 0;
    url_of(u, "/v1/kv/cli-n/incr?delta=7");
    const char *incr[] = {"curl", "-s", "-X", "POST", u, NULL};
    cr_assert_eq(ts_run(incr, 10000, NULL, 0, &out, &len), 0);
    cr_assert(strstr(out, "\"value\":7") != NULL, "%s", out);
    free(out);

    char url2[URL_MAX + 128];
    url_of(url2, "/v1/kv/txn");
    const char *txn[] = {"curl",
                         "-s",
                         "-H",
                         "Content-Type: application/json",
                         "-d",
                         "{\"ops\":[{\"op\":\"put\",\"key\":\"cli-a\",\"value\":\"1\"},"
                         "{\"op\":\"incr\",\"key\":\"cli-n\",\"delta\":-7}]}",
                         url2,
                         NULL};
    cr_assert_eq(ts_run(txn, 10000, NULL, 0, &out, &len), 0);
    cr_assert(strstr(out, "\"committed\":true") != NULL, "%s", out);
    free(out);

    char url3[URL_MAX + 128];
    url_of(url3, "/v1/kv?prefix=cli-&keys_only=true");
    const char *scan[] = {"curl", "-s", "-f", url3, NULL};
    cr_assert_eq(ts_run(scan, 10000, NULL, 0, &out, &len), 0);
    cr_assert(strstr(out, "\"keys\":[\"cli-a\",\"cli-n\"]") != NULL, "%s", out);
    free(out);

    char url4[URL_MAX + 128];
    url_of(url4, "/v1/kv/cli-doc/json?path=$.x");
    const char *jbad[] = {"curl",         "-s", "-o",  "/dev/null",     "-w",
                          "%{http_code}", "-X", "PUT", "--data-binary", "{oops",
                          url4,           NULL};
    cr_assert_eq(ts_run(jbad, 10000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "400");
    free(out);
}
