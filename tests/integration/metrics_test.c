/*
 * Integration tests of GET /metrics and request ids against real flo-dev
 * and flo-sidecar processes: the content type and every metric family of
 * docs/observability.md; request counters moving by exactly the traffic
 * sent (HTTP and RESP); long-polls waiting and blocked RESP clients; the
 * sessions gauge; X-Request-Id given and generated; the bearer token
 * guarding /metrics.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts.h"
#include "ts_http_fixture.h"

#define WAIT_MS    5000 /* bound on waiting for a gauge to move */
#define POLL_MS    20
#define REQ_ID_MAX 160

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void teardown(void)
{
    ts_http_fixture_stop(&dev, &sc);
}

TestSuite(metrics, .fini = teardown, .timeout = 60);

/* GET /metrics (with optional headers); asserts 200 and returns the body
 * (caller frees). */
static char *scrape_with(const char *const hdrs[])
{
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/metrics", hdrs, NULL, 0);
    cr_assert_eq(r.status, 200, "GET /metrics: %ld %s", r.status, r.body);
    char *body = r.body;
    r.body = NULL;
    ts_http_resp_free(&r);
    return body;
}

static char *scrape(void)
{
    return scrape_with(NULL);
}

/* Value of the sample `series` (exact name and labels), 0 if absent (a
 * counter series appears on its first increment). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static double scrape_sample(const char *series)
{
    char *t = scrape();
    double v = sample(t, series);
    free(t);
    return v;
}

/* Poll /metrics until `series` equals want; asserts within WAIT_MS. */
static void wait_sample(const char *series, double want)
{
    uint64_t end = ts_now_ms() + WAIT_MS;
    double v;
    while ((v = scrape_sample(series)) != want && ts_now_ms() < end) {
        usleep(POLL_MS * 1000);
    }
    cr_assert_eq(v, want, "%s: want %g, got %g", series, want, v);
}

Test(metrics, content_type_and_every_family)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/metrics", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    char ct[128];
    cr_assert_eq(ts_http_header(&r, "Content-Type", ct, sizeof(ct)), 0);
    cr_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
    static const char *const families[] = {
        "flo_sidecar_build_info",
        "flo_sidecar_requests_total",
        "flo_sidecar_request_duration_seconds",
        "flo_sidecar_upstream_request_duration_seconds",
        "flo_sidecar_upstream_connections",
        "flo_sidecar_upstream_reconnects_total",
        "flo_sidecar_upstream_inflight",
        "flo_sidecar_upstream_responses_total",
        "flo_sidecar_upstream_timeouts_total",
        "flo_sidecar_upstream_errors_total",
        "flo_sidecar_longpolls_waiting",
        "flo_sidecar_sessions",
        "flo_sidecar_session_events_total",
        "flo_sidecar_client_connections",
        "flo_sidecar_client_rejected_total",
        "flo_sidecar_bytes_received_total",
        "flo_sidecar_bytes_sent_total",
        "flo_sidecar_ready",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    };
    char want[128];
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(want, sizeof(want), "# TYPE %s ", families[i]);
        cr_assert_not_null(strstr(r.body, want), "missing family %s", families[i]);
        snprintf(want, sizeof(want), "# HELP %s ", families[i]);
        cr_assert_not_null(strstr(r.body, want), "missing help of %s", families[i]);
    }
    cr_assert_eq(sample(r.body, "flo_sidecar_ready"), 1);
    cr_assert_gt(sample(r.body, "flo_sidecar_upstream_connections{state=\"up\"}"), 0);
    cr_assert_not_null(strstr(r.body, "flo_sidecar_build_info{version=\""));
    ts_http_resp_free(&r);
}

Test(metrics, counters_move_by_exactly_the_traffic)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    static const char put_ok[] =
        "flo_sidecar_requests_total{protocol=\"http\",op=\"kv_put\",result=\"ok\"}";
    static const char resp_get[] = "flo_sidecar_requests_total{protocol=\"resp\",op=\"get\",result="
                                   "\"ok\"}";
    static const char http_miss[] =
        "flo_sidecar_requests_total{protocol=\"http\",op=\"kv_get\",result=\"not_found\"}";
    char *before = scrape();

    for (int i = 0; i < 10; i++) {
        char path[64], val[16];
        snprintf(path, sizeof(path), "/v1/kv/metrics-k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        struct ts_http_resp r = ts_http_call(&sc, "PUT", path, NULL, val, strlen(val));
        cr_assert_eq(r.status, 200, "%s", r.body);
        ts_http_resp_free(&r);
    }
    struct ts_http_resp miss = ts_http_call(&sc, "GET", "/v1/kv/metrics-none", NULL, NULL, 0);
    cr_assert_eq(miss.status, 404);
    ts_http_resp_free(&miss);
    redisContext *rc = ts_redis(sc.resp_port);
    cr_assert_not_null(rc);
    for (int i = 0; i < 5; i++) {
        redisReply *rep = redisCommand(rc, "GET metrics-k%d", i);
        cr_assert_not_null(rep);
        cr_assert_eq(rep->type, REDIS_REPLY_STRING);
        freeReplyObject(rep);
    }
    /* While the client is connected it counts as a RESP connection. */
    char *during = scrape();
    cr_assert_geq(sample(during, "flo_sidecar_client_connections{protocol=\"resp\"}"), 1);
    free(during);
    redisFree(rc);

    char *after = scrape();
    cr_assert_eq(sample(after, put_ok) - sample(before, put_ok), 10, "kv_put");
    cr_assert_eq(sample(after, resp_get) - sample(before, resp_get), 5, "resp get");
    cr_assert_eq(sample(after, http_miss) - sample(before, http_miss), 1, "kv_get not_found");
    const char *cnt = "flo_sidecar_request_duration_seconds_count{protocol=\"http\",op=\"kv_put\"}";
    cr_assert_eq(sample(after, cnt) - sample(before, cnt), 10);
    const char *inf =
        "flo_sidecar_request_duration_seconds_bucket{protocol=\"resp\",op=\"get\",le=\"+Inf\"}";
    cr_assert_eq(sample(after, inf) - sample(before, inf), 5);
    /* Each of the 10 PUTs carried a value and each reply a body. */
    cr_assert_gt(sample(after, "flo_sidecar_bytes_received_total{protocol=\"http\"}"),
                 sample(before, "flo_sidecar_bytes_received_total{protocol=\"http\"}") + 10 * 20);
    cr_assert_gt(sample(after, "flo_sidecar_bytes_received_total{protocol=\"resp\"}"),
                 sample(before, "flo_sidecar_bytes_received_total{protocol=\"resp\"}"));
    cr_assert_gt(sample(after, "flo_sidecar_bytes_sent_total{protocol=\"resp\"}"),
                 sample(before, "flo_sidecar_bytes_sent_total{protocol=\"resp\"}"));
    /* Upstream: at least one response per request, each timed. */
    const char *up_ok = "flo_sidecar_upstream_responses_total{status=\"ok\"}";
    cr_assert_geq(sample(after, up_ok) - sample(before, up_ok), 15);
    const char *up_cnt = "flo_sidecar_upstream_request_duration_seconds_count";
    cr_assert_geq(sample(after, up_cnt) - sample(before, up_cnt), 16);
    free(before);
    free(after);
}

Test(metrics, longpolls_waiting_http_and_resp)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    static const char http_lp[] = "flo_sidecar_longpolls_waiting{protocol=\"http\"}";
    static const char resp_lp[] = "flo_sidecar_longpolls_waiting{protocol=\"resp\"}";
    cr_assert_eq(scrape_sample(http_lp), 0);

    int fd = ts_connect(sc.http_port, 5000);
    cr_assert_geq(fd, 0);
    static const char req[] = "GET /v1/kv/metrics-absent?block_ms=20000 HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n\r\n";
    cr_assert_eq(ts_write_full(fd, req, sizeof(req) - 1), 0);
    wait_sample(http_lp, 1);
    close(fd); /* the hang-up ends the long-poll at once */
    wait_sample(http_lp, 0);

    int rfd = ts_connect(sc.resp_port, 5000);
    cr_assert_geq(rfd, 0);
    static const char blpop[] = "*3\r\n$5\r\nBLPOP\r\n$9\r\nmetrics-q\r\n$2\r\n20\r\n";
    cr_assert_eq(ts_write_full(rfd, blpop, sizeof(blpop) - 1), 0);
    wait_sample(resp_lp, 1);
    close(rfd);
    wait_sample(resp_lp, 0);
    /* The long-poll was a request too: counted when it ended. */
    char *t = scrape();
    cr_assert_geq(
        sample(t, "flo_sidecar_request_duration_seconds_count{protocol=\"http\",op=\"kv_get\"}"),
        1);
    free(t);
}

Test(metrics, sessions_gauge)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    static const char *const json[] = {"Content-Type: application/json", NULL};
    cr_assert_eq(scrape_sample("flo_sidecar_sessions{kind=\"http\"}"), 0);
    cJSON_Delete(ts_http_call_json(&sc, "PUT", "/v1/streams/mstream", NULL, NULL, 200));
    cJSON_Delete(ts_http_call_json(&sc, "PUT", "/v1/streams/mstream/groups/g", json, "{}", 201));
    cJSON *doc = ts_http_call_json(&sc, "POST", "/v1/streams/mstream/groups/g/sessions", json,
                                   "{\"consumer\":\"m1\"}", 201);
    char path[256];
    snprintf(path, sizeof(path), "/v1/sessions/%s", ts_json_str(doc, "session_id"));
    cJSON_Delete(doc);
    char *t = scrape();
    cr_assert_eq(sample(t, "flo_sidecar_sessions{kind=\"http\"}"), 1, "%s", t);
    cr_assert_eq(sample(t, "flo_sidecar_session_events_total{event=\"created\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_requests_total{protocol=\"http\",op=\"session_create\","
                           "result=\"ok\"}"),
                 1);
    free(t);
    struct ts_http_resp r = ts_http_call(&sc, "DELETE", path, NULL, NULL, 0);
    cr_assert_lt(r.status, 300, "%ld %s", r.status, r.body);
    ts_http_resp_free(&r);
    t = scrape();
    cr_assert_eq(sample(t, "flo_sidecar_sessions{kind=\"http\"}"), 0);
    cr_assert_eq(sample(t, "flo_sidecar_session_events_total{event=\"ended\"}"), 1);
    free(t);
}

static void request_id_of(const char *const hdrs[], char *out, size_t cap)
{
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/healthz", hdrs, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(ts_http_header(&r, "X-Request-Id", out, cap), 0, "no X-Request-Id: %s", r.headers);
    ts_http_resp_free(&r);
}

static bool is_hex16(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

Test(metrics, request_id_echoed_or_generated)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    char id[REQ_ID_MAX];
    static const char *const given[] = {"X-Request-Id: trace-42/abc.DEF", NULL};
    request_id_of(given, id, sizeof(id));
    cr_assert_str_eq(id, "trace-42/abc.DEF");

    request_id_of(NULL, id, sizeof(id));
    cr_assert(is_hex16(id), "generated id %s", id);
    char id2[REQ_ID_MAX];
    request_id_of(NULL, id2, sizeof(id2));
    cr_assert(is_hex16(id2));
    cr_assert_str_neq(id, id2, "generated ids repeat");

    /* Not acceptable (a space, too long): replaced by a generated one. */
    static const char *const spaced[] = {"X-Request-Id: two words", NULL};
    request_id_of(spaced, id, sizeof(id));
    cr_assert(is_hex16(id), "got %s", id);
    char longhdr[200];
    snprintf(longhdr, sizeof(longhdr), "X-Request-Id: %0129d", 7);
    const char *const toolong[] = {longhdr, NULL};
    request_id_of(toolong, id, sizeof(id));
    cr_assert(is_hex16(id), "got %s", id);
    char max128[160];
    snprintf(max128, sizeof(max128), "X-Request-Id: %0128d", 7);
    const char *const exact[] = {max128, NULL};
    request_id_of(exact, id, sizeof(id));
    cr_assert_str_eq(id, max128 + strlen("X-Request-Id: "));

    /* Error replies carry it too. */
    static const char *const err_id[] = {"X-Request-Id: err-1", NULL};
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/no/such/route", err_id, NULL, 0);
    cr_assert_eq(r.status, 404);
    cr_assert_eq(ts_http_header(&r, "X-Request-Id", id, sizeof(id)), 0);
    cr_assert_str_eq(id, "err-1");
    ts_http_resp_free(&r);
}

Test(metrics, bearer_token_required)
{
    static const char *const extra[] = {"--auth-token", "metrics-s3cret", NULL};
    ts_http_fixture_start(&dev, &sc, extra);
    struct ts_http_resp r = ts_http_call(&sc, "GET", "/metrics", NULL, NULL, 0);
    cr_assert_eq(r.status, 401, "%ld %s", r.status, r.body);
    ts_http_resp_free(&r);
    static const char *const wrong[] = {"Authorization: Bearer nope", NULL};
    r = ts_http_call(&sc, "GET", "/metrics", wrong, NULL, 0);
    cr_assert_eq(r.status, 401);
    ts_http_resp_free(&r);
    static const char *const good[] = {"Authorization: Bearer metrics-s3cret", NULL};
    char *t = scrape_with(good);
    /* The two refusals were counted as auth rejections. */
    cr_assert_eq(sample(t, "flo_sidecar_client_rejected_total{protocol=\"http\",reason=\"auth\"}"),
                 2, "%s", t);
    cr_assert_eq(sample(t, "flo_sidecar_requests_total{protocol=\"http\",op=\"metrics\","
                           "result=\"unauthorized\"}"),
                 2);
    free(t);
}

/* A RESP command answered from an upstream callback is timed up to that
 * response (the end reading is shared with the upstream histogram, not
 * skipped): a BLPOP that waits 0.3 s on an empty list is observed >= 0.3 s,
 * on both the client-facing and the upstream histogram. */
Test(metrics, blocking_resp_command_latency_is_measured)
{
    ts_http_fixture_start(&dev, &sc, NULL);
    static const char sum[] =
        "flo_sidecar_request_duration_seconds_sum{protocol=\"resp\",op=\"blpop\"}";
    static const char cnt[] =
        "flo_sidecar_request_duration_seconds_count{protocol=\"resp\",op=\"blpop\"}";
    static const char up_sum[] = "flo_sidecar_upstream_request_duration_seconds_sum";
    char *before = scrape();
    redisContext *rc = ts_redis(sc.resp_port);
    cr_assert_not_null(rc);
    redisReply *rep = redisCommand(rc, "BLPOP metrics-latency-q 0.3");
    cr_assert_not_null(rep);
    cr_assert(rep->type == REDIS_REPLY_NIL || rep->type == REDIS_REPLY_ARRAY, "type %d", rep->type);
    freeReplyObject(rep);
    redisFree(rc);
    char *after = scrape();
    cr_assert_eq(sample(after, cnt) - sample(before, cnt), 1);
    double d = sample(after, sum) - sample(before, sum);
    cr_assert_geq(d, 0.3, "BLPOP 0.3 observed as %.6f s", d);
    cr_assert_lt(d, 5.0);
    double up = sample(after, up_sum) - sample(before, up_sum);
    cr_assert_geq(up, 0.3, "upstream blocking read observed as %.6f s", up);
    free(before);
    free(after);
}
