/*
 * Integration tests of the live stream follow over Server-Sent Events
 * (GET /v1/streams/{s}/records with Accept: text/event-stream or
 * ?follow=true) against real flo-dev and flo-sidecar processes on free
 * loopback ports: a follower from the tail sees records appended after it
 * connected; a follower from ?start gets the backlog then live records; a
 * reconnect with Last-Event-ID resumes without gaps or duplicates; 20
 * concurrent followers all see every record; followers that hang up leave
 * the sidecar serving (and, under ASan, nothing leaked: the fixture checks
 * the sidecar's log at teardown); a 200 KiB record, far larger than the
 * writer's 2 KiB block, arrives whole and in order. Followers are libcurl multi handles with a
 * write callback, pumped with bounded waits; one runs as `curl -N` via
 * ts_run.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_ops.h"
#include "ts.h"
#include "ts_http_fixture.h"

#define URL_MAX      512
#define MAX_EVENTS   64
#define WAIT_MS      5000
#define QUIET_MS     400
#define N_CONCURRENT 20
#define BODY_MAX     (1u << 20)
#define ID_LEN       FLO_STREAM_ID_TEXT_MAX
#define CURL_N_SECS  "2"
#define CURL_N_WAIT  8000
#define BIG_LEN      (200u * 1024u) /* many times the SSE block size */

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void setup(void)
{
    ts_http_fixture_start(&dev, &sc, NULL);
}

static void teardown(void)
{
    ts_http_fixture_stop(&dev, &sc);
}

TestSuite(http_sse, .init = setup, .fini = teardown, .timeout = 60);

/* ---- followers ---- */

/* One follower: a curl handle whose body accumulates in buf. */
struct follower {
    CURL *h;
    struct curl_slist *hdrs;
    char *buf;
    size_t len;
    bool done; /* the transfer ended */
};

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
    struct follower *f = arg;
    size_t k = size * n;
    if (f->len + k + 1 > BODY_MAX) {
        return 0; /* abort: far more than any test sends */
    }
    char *q = realloc(f->buf, f->len + k + 1);
    if (q == NULL) {
        return 0;
    }
    f->buf = q;
    memcpy(f->buf + f->len, p, k);
    f->len += k;
    f->buf[f->len] = '\0';
    return k;
}

/* Start following /v1/streams/{s}/records?query, with an optional extra
 * header ("Name: value"), on multi handle m. */
static void follow(CURLM *m, struct follower *f, const char *s, const char *query,
                   const char *extra_hdr)
{
    char url[URL_MAX];
    memset(f, 0, sizeof(*f));
    int n = snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/streams/%s/records%s%s",
                     (unsigned)sc.http_port, s, query ? "?" : "", query ? query : "");
    cr_assert(n > 0 && (size_t)n < sizeof(url));
    f->h = curl_easy_init();
    cr_assert_not_null(f->h);
    f->hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
    if (extra_hdr != NULL) {
        f->hdrs = curl_slist_append(f->hdrs, extra_hdr);
    }
    cr_assert_not_null(f->hdrs);
    curl_easy_setopt(f->h, CURLOPT_URL, url);
    curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->h, CURLOPT_TIMEOUT_MS, 30000L); /* a hard bound per follower */
    cr_assert_eq(curl_multi_add_handle(m, f->h), CURLM_OK);
}

/* Hang up (the sidecar sees the connection close) and free. */
static void unfollow(CURLM *m, struct follower *f)
{
    if (f->h != NULL) {
        curl_multi_remove_handle(m, f->h);
        curl_easy_cleanup(f->h);
        f->h = NULL;
    }
    curl_slist_free_all(f->hdrs);
    f->hdrs = NULL;
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
}

/* Drive every transfer of m for up to ms milliseconds, or until pred(arg)
 * holds (pred may be NULL: run the full time). Returns whether pred held. */
static bool pump(CURLM *m, int ms, bool (*pred)(void *), void *arg)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    for (;;) {
        int running = 0, left = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                struct follower *f = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
                if (f != NULL) {
                    f->done = true;
                }
            }
        }
        if (pred != NULL && pred(arg)) {
            return true;
        }
        if (ts_now_ms() >= end) {
            return false;
        }
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
}

/* The response status once the headers are in (0 before). */
static long status_of(const struct follower *f)
{
    long code = 0;
    curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

struct group {
    struct follower *fs;
    size_t n;
    size_t want; /* events each must have */
};

static size_t count_events(const struct follower *f);

static bool all_connected(void *arg)
{
    struct group *g = arg;
    for (size_t i = 0; i < g->n; i++) {
        if (status_of(&g->fs[i]) == 0) {
            return false;
        }
    }
    return true;
}

static bool all_have(void *arg)
{
    struct group *g = arg;
    for (size_t i = 0; i < g->n; i++) {
        if (count_events(&g->fs[i]) < g->want) {
            return false;
        }
    }
    return true;
}

/* Wait for the 200 and the event-stream headers: the follow's start point
 * is fixed from then on. */
static void wait_connected(CURLM *m, struct follower *fs, size_t n)
{
    struct group g = {fs, n, 0};
    cr_assert(pump(m, WAIT_MS, all_connected, &g), "followers did not connect in time");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(status_of(&fs[i]), 200, "follower %zu: status %ld: %s", i, status_of(&fs[i]),
                     fs[i].buf ? fs[i].buf : "");
        char *ct = NULL;
        curl_easy_getinfo(fs[i].h, CURLINFO_CONTENT_TYPE, &ct);
        cr_assert(ct != NULL && strstr(ct, "text/event-stream") != NULL);
    }
}

static void wait_events(CURLM *m, struct follower *fs, size_t n, size_t want)
{
    struct group g = {fs, n, want};
    bool ok = pump(m, WAIT_MS, all_have, &g);
    for (size_t i = 0; i < n; i++) {
        cr_assert(ok, "follower %zu has %zu of %zu events: %s", i, count_events(&fs[i]), want,
                  fs[i].buf ? fs[i].buf : "");
    }
}

/* ---- event parsing ---- */

struct event {
    char id[ID_LEN];
    char payload[64];
};

/* Parse the complete "record" events in text (blocks ending with a blank
 * line); comments are skipped. Returns how many (<= max). Each event's id
 * line must match the id in its JSON data. */
static size_t parse_events(const char *text, struct event *ev, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (p != NULL && *p != '\0') {
        const char *end = strstr(p, "\n\n");
        if (end == NULL) {
            break; /* an event still arriving */
        }
        if (p[0] != ':') {
            const char *id = strstr(p, "id: ");
            const char *type = strstr(p, "event: record\n");
            const char *data = strstr(p, "data: ");
            cr_assert(id != NULL && id < end && type != NULL && type < end && data != NULL &&
                          data < end,
                      "malformed event: %.*s", (int)(end - p), p);
            cr_assert_lt(n, max, "more events than expected");
            const char *id_end = strchr(id, '\n');
            size_t il = (size_t)(id_end - id - 4);
            cr_assert_lt(il, sizeof(ev[n].id));
            memcpy(ev[n].id, id + 4, il);
            ev[n].id[il] = '\0';
            cJSON *doc = cJSON_ParseWithLength(data + 6, (size_t)(end - data - 6));
            cr_assert_not_null(doc, "data is not JSON: %.*s", (int)(end - data), data);
            cr_assert_str_eq(ts_json_str(doc, "id"), ev[n].id);
            snprintf(ev[n].payload, sizeof(ev[n].payload), "%s", ts_json_str(doc, "payload"));
            cr_assert(cJSON_IsObject(cJSON_GetObjectItem(doc, "headers")));
            cJSON_Delete(doc);
            n++;
        }
        p = end + 2;
    }
    return n;
}

static size_t count_events(const struct follower *f)
{
    struct event ev[MAX_EVENTS];
    return f->buf ? parse_events(f->buf, ev, MAX_EVENTS) : 0;
}

/* Expect exactly the payloads want[0..n) in this order. */
static void expect_payloads(const struct follower *f, const char *const want[], size_t n,
                            struct event *ev)
{
    size_t got = parse_events(f->buf ? f->buf : "", ev, MAX_EVENTS);
    cr_assert_eq(got, n, "want %zu events, got %zu: %s", n, got, f->buf ? f->buf : "");
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(ev[i].payload, want[i], "event %zu", i);
    }
}

/* ---- helpers ---- */

static void append(const char *s, const char *payload, char *id)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/streams/%s/records", s);
    cJSON *doc = ts_http_call_json(&sc, "POST", path, NULL, payload, 200);
    if (id != NULL) {
        snprintf(id, ID_LEN, "%s", ts_json_str(doc, "id"));
    }
    cJSON_Delete(doc);
}

static CURLM *multi(void)
{
    CURLM *m = curl_multi_init();
    cr_assert_not_null(m);
    return m;
}

/* ---- tests ---- */

Test(http_sse, tail_follower_sees_live_records)
{
    append("live", "before", NULL);
    CURLM *m = multi();
    struct follower f;
    follow(m, &f, "live", NULL, NULL);
    wait_connected(m, &f, 1);
    char ids[3][ID_LEN];
    static const char *const want[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        append("live", want[i], ids[i]);
        wait_events(m, &f, 1, (size_t)i + 1); /* each arrives live, one by one */
    }
    struct event ev[MAX_EVENTS];
    expect_payloads(&f, want, 3, ev);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(ev[i].id, ids[i]);
    }
    cr_assert(!f.done, "the stream must stay open");
    unfollow(m, &f);
    curl_multi_cleanup(m);
}

Test(http_sse, start_gets_backlog_then_live)
{
    char first[ID_LEN];
    append("back", "zero", first);
    append("back", "one", NULL);
    append("back", "two", NULL);
    CURLM *m = multi();
    struct follower f;
    char q[URL_MAX];
    /* ?follow=true without the Accept header works too; start is exclusive. */
    snprintf(q, sizeof(q), "follow=true&start=%s", first);
    follow(m, &f, "back", q, NULL);
    wait_events(m, &f, 1, 2);
    append("back", "three", NULL);
    wait_events(m, &f, 1, 3);
    static const char *const want[] = {"one", "two", "three"};
    struct event ev[MAX_EVENTS];
    pump(m, QUIET_MS, NULL, NULL);
    expect_payloads(&f, want, 3, ev);
    unfollow(m, &f);
    curl_multi_cleanup(m);
}

Test(http_sse, last_event_id_resumes_without_gaps_or_duplicates)
{
    CURLM *m = multi();
    struct follower f;
    follow(m, &f, "resume", "start=0-0", NULL);
    wait_connected(m, &f, 1);
    append("resume", "r1", NULL);
    append("resume", "r2", NULL);
    wait_events(m, &f, 1, 2);
    struct event ev[MAX_EVENTS];
    static const char *const first[] = {"r1", "r2"};
    expect_payloads(&f, first, 2, ev);
    char last[ID_LEN];
    snprintf(last, sizeof(last), "%s", ev[1].id);
    unfollow(m, &f);

    /* Appended while nobody follows. */
    append("resume", "r3", NULL);
    append("resume", "r4", NULL);

    /* An EventSource reconnects to the same URL (start=0-0) plus the id it
     * saw last: that id wins. */
    char hdr[URL_MAX];
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", last);
    follow(m, &f, "resume", "start=0-0", hdr);
    wait_events(m, &f, 1, 2);
    append("resume", "r5", NULL);
    wait_events(m, &f, 1, 3);
    pump(m, QUIET_MS, NULL, NULL);
    static const char *const second[] = {"r3", "r4", "r5"};
    expect_payloads(&f, second, 3, ev);
    unfollow(m, &f);
    curl_multi_cleanup(m);
}

Test(http_sse, twenty_concurrent_followers_get_every_record)
{
    CURLM *m = multi();
    struct follower fs[N_CONCURRENT];
    for (size_t i = 0; i < N_CONCURRENT; i++) {
        follow(m, &fs[i], "fan", NULL, NULL);
    }
    wait_connected(m, fs, N_CONCURRENT);
    static const char *const want[] = {"f1", "f2", "f3", "f4", "f5"};
    for (size_t i = 0; i < 5; i++) {
        append("fan", want[i], NULL);
    }
    wait_events(m, fs, N_CONCURRENT, 5);
    pump(m, QUIET_MS, NULL, NULL);
    struct event ev[MAX_EVENTS];
    for (size_t i = 0; i < N_CONCURRENT; i++) {
        expect_payloads(&fs[i], want, 5, ev);
        unfollow(m, &fs[i]);
    }
    curl_multi_cleanup(m);
}

Test(http_sse, hung_up_followers_leave_the_sidecar_serving)
{
    append("gone", "g1", NULL);
    /* curl -N with a 2 s limit: it gets the backlog, then hangs up while the
     * sidecar is blocked upstream for it. */
    char url[URL_MAX];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/streams/gone/records?follow=true&start=0-0",
             (unsigned)sc.http_port);
    const char *const argv[] = {"curl", "-sN", "-m", CURL_N_SECS, url, NULL};
    char *out = NULL;
    size_t out_len = 0;
    int st = ts_run(argv, CURL_N_WAIT, NULL, 0, &out, &out_len);
    cr_assert_eq(st, 28, "curl should stop on its own time limit (28), got %d", st);
    cr_assert_not_null(out);
    struct event ev[MAX_EVENTS];
    cr_assert_eq(parse_events(out, ev, MAX_EVENTS), 1, "%s", out);
    cr_assert_str_eq(ev[0].payload, "g1");
    free(out);

    /* Several more hang up mid-wait, then the sidecar must still serve
     * reads, appends and new followers. */
    CURLM *m = multi();
    struct follower fs[5];
    for (size_t i = 0; i < 5; i++) {
        follow(m, &fs[i], "gone", NULL, NULL);
    }
    wait_connected(m, fs, 5);
    for (size_t i = 0; i < 5; i++) {
        unfollow(m, &fs[i]);
    }
    struct follower f;
    follow(m, &f, "gone", NULL, NULL);
    wait_connected(m, &f, 1);
    append("gone", "g2", NULL);
    wait_events(m, &f, 1, 1);
    static const char *const want[] = {"g2"};
    expect_payloads(&f, want, 1, ev);
    unfollow(m, &f);
    curl_multi_cleanup(m);

    cJSON *doc =
        ts_http_call_json(&sc, "GET", "/v1/streams/gone/records?start=0-0", NULL, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 2);
    cJSON_Delete(doc);
}

Test(http_sse, bad_requests_are_plain_json_errors)
{
    static const char *const bad_id[] = {"Accept: text/event-stream", "Last-Event-ID: nope", NULL};
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/v1/streams/x/records", bad_id, NULL, 0);
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert(strstr(r.body, "Last-Event-ID") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
    r = ts_http_call(&sc, "GET", "/v1/streams/x/records?follow=true&end=5-0", NULL, NULL, 0);
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert(strstr(r.body, "no end") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
}

static bool has_two_events(void *arg)
{
    const struct follower *f = arg;
    return count_events(f) >= 2;
}

Test(http_sse, large_record_streams_whole)
{
    char *big = malloc(BIG_LEN + 1);
    cr_assert_not_null(big);
    /* A pattern that shifts every block, so a lost, repeated or reordered
     * chunk cannot go unnoticed. */
    for (size_t i = 0; i < BIG_LEN; i++) {
        big[i] = (char)('a' + (i / 7 + i % 13) % 26);
    }
    big[BIG_LEN] = '\0';
    CURLM *m = multi();
    struct follower f;
    follow(m, &f, "big", NULL, NULL);
    wait_connected(m, &f, 1);
    char id[ID_LEN];
    append("big", big, id);
    append("big", "after", NULL);
    cr_assert(pump(m, WAIT_MS, has_two_events, &f), "got %zu bytes", f.len);
    const char *data = strstr(f.buf, "data: ");
    cr_assert_not_null(data);
    const char *end = strstr(data, "\n\n");
    cr_assert_not_null(end);
    cJSON *doc = cJSON_ParseWithLength(data + 6, (size_t)(end - data - 6));
    cr_assert_not_null(doc);
    cr_assert_str_eq(ts_json_str(doc, "id"), id);
    const char *payload = ts_json_str(doc, "payload");
    cr_assert_eq(strlen(payload), BIG_LEN);
    cr_assert(memcmp(payload, big, BIG_LEN) == 0, "the payload changed on the way");
    cJSON_Delete(doc);
    struct event ev[MAX_EVENTS];
    cr_assert_eq(parse_events(f.buf, ev, MAX_EVENTS), 2);
    cr_assert_str_eq(ev[1].payload, "after");
    cr_assert(!f.done, "the stream must stay open");
    free(big);
    unfollow(m, &f);
    curl_multi_cleanup(m);
}
