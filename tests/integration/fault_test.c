/*
 * Upstream failure through the real sidecar and a real flo-dev process:
 * requests in flight when flo-dev dies each get exactly one error reply
 * (HTTP 503/504, RESP -TRYAGAIN or another error) within a bound, /readyz
 * turns 503, and once flo-dev is back on the same port the sidecar
 * reconnects by itself and serves again.
 *
 * To have requests really in flight, flo-dev is first frozen with SIGSTOP:
 * the kernel still accepts the sidecar's frames but nothing answers them.
 * SIGKILL then ends it with those requests outstanding, as a crash would.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts.h"

#define N_HTTP         200   /* concurrent HTTP requests in flight */
#define N_RESP_CONNS   4     /* hiredis connections */
#define N_RESP_PIPE    50    /* pipelined commands per connection */
#define SETTLE_MS      500   /* let requests reach the upstream before the kill */
#define REPLY_BOUND_MS 25000 /* every in-flight request must be answered by then */
#define READY_BOUND_MS 15000 /* reconnect after restart (backoff is capped at 5 s) */

struct env {
    struct ts_flodev dev;
    struct ts_sidecar sc;
};

static struct env E;

static void setup(void)
{
    memset(&E, 0, sizeof(E));
    cr_assert_eq(ts_flodev_start(&E.dev, NULL), 0, "flo-dev did not start");
    if (ts_sidecar_start(&E.sc, E.dev.port, NULL) != 0) {
        ts_stop(&E.dev.proc);
        cr_assert_fail("flo-sidecar did not start");
    }
    if (ts_sidecar_wait_ready(&E.sc, TS_WAIT_MS) != 0) {
        ts_dump_log(&E.sc.proc);
        ts_stop(&E.sc.proc);
        ts_stop(&E.dev.proc);
        cr_assert_fail("flo-sidecar never became ready");
    }
}

static void teardown(void)
{
    ts_stop(&E.sc.proc);
    ts_kill(&E.dev.proc, SIGCONT);
    ts_stop(&E.dev.proc);
}

TestSuite(fault, .init = setup, .fini = teardown, .timeout = 120);

static long http_status(const char *method, const char *path, const char *body, char **resp_body)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)E.sc.http_port, path);
    struct ts_http_resp r;
    if (ts_http(method, url, NULL, body, body ? strlen(body) : 0, &r) != 0) {
        return -1;
    }
    long st = r.status;
    if (resp_body) {
        *resp_body = r.body;
        r.body = NULL;
    }
    ts_http_resp_free(&r);
    return st;
}

/* Poll /readyz until it answers `want` or the bound passes. */
static bool wait_readyz(long want, int bound_ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)bound_ms;
    do {
        if (http_status("GET", "/readyz", NULL, NULL) == want) {
            return true;
        }
        usleep(50000);
    } while (ts_now_ms() < deadline);
    return false;
}

/* SET then GET through RESP and PUT then GET through HTTP. */
static void expect_serving(const char *tag)
{
    redisContext *c = ts_redis(E.sc.resp_port);
    cr_assert_not_null(c, "[%s] RESP connect failed", tag);
    redisReply *r = redisCommand(c, "SET fault:%s v-%s", tag, tag);
    cr_assert_not_null(r, "[%s] SET: %s", tag, c->errstr);
    cr_expect_eq(r->type, REDIS_REPLY_STATUS, "[%s] SET reply type %d: %s", tag, r->type,
                 r->str ? r->str : "");
    freeReplyObject(r);
    r = redisCommand(c, "GET fault:%s", tag);
    cr_assert_not_null(r, "[%s] GET: %s", tag, c->errstr);
    cr_expect_eq(r->type, REDIS_REPLY_STRING, "[%s] GET reply type %d", tag, r->type);
    if (r->type == REDIS_REPLY_STRING) {
        char want[64];
        snprintf(want, sizeof(want), "v-%s", tag);
        cr_expect_str_eq(r->str, want);
    }
    freeReplyObject(r);
    redisFree(c);

    char path[128], body[64];
    snprintf(path, sizeof(path), "/v1/kv/fault-http-%s", tag);
    snprintf(body, sizeof(body), "h-%s", tag);
    long st = http_status("PUT", path, body, NULL);
    cr_expect(st == 200 || st == 201 || st == 204, "[%s] PUT status %ld", tag, st);
    char *got = NULL;
    st = http_status("GET", path, NULL, &got);
    cr_expect_eq(st, 200, "[%s] GET status %ld", tag, st);
    cr_expect(got && strstr(got, body), "[%s] GET body: %s", tag, got ? got : "(none)");
    free(got);
}

/* Response bodies are not looked at: only the status matters here. */
static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* Freeze flo-dev so requests stay in flight, give them time to arrive. */
static void freeze_upstream(void)
{
    cr_assert_eq(kill(E.dev.proc.pid, SIGSTOP), 0);
}

static void crash_upstream(void)
{
    usleep(SETTLE_MS * 1000);
    ts_kill(&E.dev.proc, SIGKILL);
}

Test(fault, http_inflight_requests_fail_once_then_recover)
{
    expect_serving("before");
    CURLM *m = curl_multi_init();
    cr_assert_not_null(m);
    CURL *h[N_HTTP];
    char urls[N_HTTP][128];
    for (int i = 0; i < N_HTTP; i++) {
        /* Half plain reads, half long-polls: both lanes of the pool. */
        snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%u/v1/kv/missing-%d%s",
                 (unsigned)E.sc.http_port, i, i % 2 ? "?block_ms=5000" : "");
        h[i] = curl_easy_init();
        cr_assert_not_null(h[i]);
        curl_easy_setopt(h[i], CURLOPT_URL, urls[i]);
        curl_easy_setopt(h[i], CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, (long)REPLY_BOUND_MS);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard_cb);
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
        curl_multi_add_handle(m, h[i]);
    }
    freeze_upstream();
    int running = 0;
    uint64_t settle_until = ts_now_ms() + SETTLE_MS;
    while (ts_now_ms() < settle_until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    cr_expect_eq(running, N_HTTP, "requests finished while the upstream was frozen");
    ts_kill(&E.dev.proc, SIGKILL);

    uint64_t deadline = ts_now_ms() + REPLY_BOUND_MS;
    do {
        curl_multi_perform(m, &running);
        if (running) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
    } while (running && ts_now_ms() < deadline);
    cr_expect_eq(running, 0, "%d requests still unanswered after %d ms", running, REPLY_BOUND_MS);

    int done[N_HTTP] = {0}, n503 = 0, n504 = 0, other = 0, transport = 0, msgs;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &msgs)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        void *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        int i = (int)(intptr_t)priv;
        done[i]++;
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        if (msg->data.result != CURLE_OK) {
            transport++;
        } else if (code == 503) {
            n503++;
        } else if (code == 504) {
            n504++;
        } else {
            other++;
            fprintf(stderr, "request %d answered %ld\n", i, code);
        }
    }
    for (int i = 0; i < N_HTTP; i++) {
        cr_expect_eq(done[i], 1, "request %d completed %d times", i, done[i]);
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    cr_expect_eq(transport, 0, "%d requests got no HTTP reply at all", transport);
    cr_expect_eq(other, 0, "%d requests got a non-503/504 reply", other);
    cr_expect_eq(n503 + n504, N_HTTP, "503: %d, 504: %d", n503, n504);

    cr_expect(wait_readyz(503, 10000), "/readyz did not turn 503 with the upstream gone");
    cr_expect_eq(http_status("GET", "/v1/kv/anything", NULL, NULL), 503);

    cr_assert_eq(ts_flodev_restart(&E.dev), 0, "flo-dev did not restart");
    if (!wait_readyz(200, READY_BOUND_MS)) {
        ts_dump_log(&E.sc.proc);
        cr_assert_fail("the sidecar did not reconnect within %d ms", READY_BOUND_MS);
    }
    expect_serving("after");
}

Test(fault, resp_pipelined_requests_fail_once_then_recover)
{
    expect_serving("before");
    redisContext *c[N_RESP_CONNS];
    for (int i = 0; i < N_RESP_CONNS; i++) {
        c[i] = ts_redis(E.sc.resp_port);
        cr_assert_not_null(c[i]);
        /* Long enough to outlast the pool's own request timeout. */
        struct timeval tv = {.tv_sec = REPLY_BOUND_MS / 1000, .tv_usec = 0};
        redisSetTimeout(c[i], tv);
    }
    freeze_upstream();
    for (int i = 0; i < N_RESP_CONNS; i++) {
        for (int j = 0; j < N_RESP_PIPE; j++) {
            if (j % 2) {
                redisAppendCommand(c[i], "SET pipe:%d:%d v", i, j);
            } else {
                redisAppendCommand(c[i], "GET pipe:%d:%d", i, j);
            }
        }
        int done = 0;
        while (!done) {
            cr_assert_eq(redisBufferWrite(c[i], &done), REDIS_OK, "write: %s", c[i]->errstr);
        }
    }
    crash_upstream();

    uint64_t start = ts_now_ms();
    int errors = 0;
    for (int i = 0; i < N_RESP_CONNS; i++) {
        for (int j = 0; j < N_RESP_PIPE; j++) {
            redisReply *r = NULL;
            cr_assert_eq(redisGetReply(c[i], (void **)&r), REDIS_OK, "conn %d reply %d missing: %s",
                         i, j, c[i]->errstr);
            cr_expect_eq(r->type, REDIS_REPLY_ERROR, "conn %d reply %d type %d", i, j, r->type);
            if (r->type == REDIS_REPLY_ERROR) {
                errors++;
                cr_expect(strncmp(r->str, "TRYAGAIN", 8) == 0 || strncmp(r->str, "ERR", 3) == 0,
                          "unexpected error: %s", r->str);
            }
            freeReplyObject(r);
        }
        /* No reply was sent twice: the next reply is the PING's. */
        redisReply *r = redisCommand(c[i], "PING");
        cr_assert_not_null(r, "conn %d: %s", i, c[i]->errstr);
        cr_expect(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0,
                  "conn %d: a stray reply (type %d '%s') after the errors", i, r->type,
                  r->str ? r->str : "");
        freeReplyObject(r);
    }
    cr_expect_eq(errors, N_RESP_CONNS * N_RESP_PIPE);
    cr_expect_lt(ts_now_ms() - start, (uint64_t)REPLY_BOUND_MS);

    /* While the upstream is down, new commands fail fast instead of hanging. */
    redisReply *r = redisCommand(c[0], "GET down");
    cr_assert_not_null(r);
    cr_expect_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);

    cr_assert_eq(ts_flodev_restart(&E.dev), 0, "flo-dev did not restart");
    if (!wait_readyz(200, READY_BOUND_MS)) {
        ts_dump_log(&E.sc.proc);
        cr_assert_fail("the sidecar did not reconnect within %d ms", READY_BOUND_MS);
    }
    /* The connections that saw the failure are still usable. */
    for (int i = 0; i < N_RESP_CONNS; i++) {
        r = redisCommand(c[i], "SET again:%d x", i);
        cr_assert_not_null(r);
        cr_expect_eq(r->type, REDIS_REPLY_STATUS, "conn %d after restart: type %d %s", i, r->type,
                     r->str ? r->str : "");
        freeReplyObject(r);
        redisFree(c[i]);
    }
    expect_serving("after");
}

Test(fault, blocking_get_fails_when_upstream_dies)
{
    /* A long-poll waiting inside a live flo-dev (not frozen) when it dies. */
    CURLM *m = curl_multi_init();
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/kv/never?block_ms=20000",
             (unsigned)E.sc.http_port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)REPLY_BOUND_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_multi_add_handle(m, h);
    int running = 1;
    uint64_t settle_until = ts_now_ms() + SETTLE_MS;
    while (ts_now_ms() < settle_until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    cr_expect_eq(running, 1, "the long-poll returned before the upstream died");
    uint64_t killed = ts_now_ms();
    ts_kill(&E.dev.proc, SIGKILL);
    uint64_t deadline = killed + REPLY_BOUND_MS;
    do {
        curl_multi_perform(m, &running);
        if (running) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
    } while (running && ts_now_ms() < deadline);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    cr_expect_eq(running, 0);
    cr_expect(code == 503 || code == 504, "long-poll answered %ld", code);
    /* Well before the 20 s block time: the failure is noticed, not waited out. */
    cr_expect_lt(ts_now_ms() - killed, 15000u);
    curl_multi_remove_handle(m, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);
}
