/*
 * Security and limits through the real binaries: client auth on HTTP
 * (bearer token; probes open) and RESP (replies compared byte for byte with
 * redis-server --requirepass), secrets never logged, the upstream API key
 * accepted / refused (not ready, no crash loop) / unused (warning once),
 * and the limits: RESP arguments per command, max clients, the per-client
 * output buffer (a client that never reads is dropped and the sidecar's RSS
 * stays bounded) and the shared cap on waiting long-polls.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts.h"
#include "ts_resp_cmp.h"

#define TOKEN      "tok-7f3a9c"     /* client token of the sidecar */
#define BAD_TOKEN  "guess-d41d8cd9" /* must never appear in a log */
#define API_KEY    "key-5be1a2"
#define BAD_KEY    "badkey-0c9e77"
#define IO_MS      5000
#define MAX_EXTRA  16
#define OUT_VALUE  (200u * 1024) /* value size of the output-buffer test (< Flo's frame cap) */
#define OUT_GETS   400u          /* GETs it pipelines: 80 MiB of replies */
#define RSS_BOUND  (24u * 1024)  /* KiB the sidecar may grow meanwhile */
#define LIMIT_BODY "1M"          /* --resp-output-limit of that test */

static struct ts_flodev dev;
static struct ts_sidecar sc;
static struct ts_proc redis;

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&dev, 0, sizeof dev);
    memset(&sc, 0, sizeof sc);
    memset(&redis, 0, sizeof redis);
}

static char *read_log(const struct ts_proc *p);

/* A sanitizer report in a child's log fails the test (ASan builds). */
static void expect_no_sanitizer_report(const struct ts_proc *p)
{
    if (p->log[0] == '\0' || access(p->log, R_OK) != 0) {
        return;
    }
    char *log = read_log(p);
    cr_expect(strstr(log, "Sanitizer") == NULL && strstr(log, "runtime error:") == NULL,
              "sanitizer report in %s:\n%s", p->log, log);
    free(log);
}

static void teardown(void)
{
    ts_stop(&sc.proc);
    ts_stop(&dev.proc);
    ts_stop(&redis);
    expect_no_sanitizer_report(&sc.proc);
    expect_no_sanitizer_report(&dev.proc);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 120);

/* flo-dev (dev_extra, may be NULL) and a sidecar in front of it. */
static void start(const char *const dev_extra[], const char *const sc_extra[], bool wait_ready)
{
    cr_assert_eq(ts_flodev_start(&dev, dev_extra), 0, "flo-dev did not start");
    if (ts_sidecar_start(&sc, dev.port, sc_extra) != 0) {
        ts_dump_log(&sc.proc);
        cr_assert_fail("flo-sidecar did not start");
    }
    if (wait_ready && ts_sidecar_wait_ready(&sc, TS_WAIT_MS) != 0) {
        ts_dump_log(&sc.proc);
        cr_assert_fail("flo-sidecar not ready");
    }
}

/* The sidecar's log so far (malloc'd, NUL-terminated). */
static char *read_log(const struct ts_proc *p)
{
    FILE *f = fopen(p->log, "rb");
    cr_assert_not_null(f, "cannot open %s", p->log);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static size_t count_in(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle)) {
        n++;
    }
    return n;
}

/* Poll the log until it contains needle (bounded). */
static bool log_wait(const struct ts_proc *p, const char *needle, int timeout_ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)timeout_ms;
    do {
        char *log = read_log(p);
        bool found = strstr(log, needle) != NULL;
        free(log);
        if (found) {
            return true;
        }
        usleep(50 * 1000);
    } while (ts_now_ms() < end);
    return false;
}

static void expect_log_clean(const struct ts_proc *p)
{
    char *log = read_log(p);
    cr_expect(strstr(log, TOKEN) == NULL, "the token is in the log:\n%s", log);
    cr_expect(strstr(log, BAD_TOKEN) == NULL, "a presented token is in the log:\n%s", log);
    cr_expect(strstr(log, API_KEY) == NULL, "the API key is in the log:\n%s", log);
    cr_expect(strstr(log, BAD_KEY) == NULL, "the API key is in the log:\n%s", log);
    free(log);
}

static void url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%u%s", (unsigned)sc.http_port, path);
}

static long http_get(const char *path, const char *auth, struct ts_http_resp *out)
{
    char u[256];
    url(u, sizeof u, path);
    const char *hdrs[] = {auth, NULL};
    cr_assert_eq(ts_http("GET", u, auth ? hdrs : NULL, NULL, 0, out), 0, "GET %s", path);
    return out->status;
}

/* Send raw bytes on a fresh connection; collect what comes back until EOF
 * or a quiet period. *eof tells whether the peer closed. */
static size_t raw_exchange(uint16_t port, const char *data, size_t len, char *out, size_t cap,
                           bool *eof)
{
    int fd = ts_connect(port, 500);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ts_write_full(fd, data, len), 0);
    size_t got = 0;
    *eof = false;
    uint64_t end = ts_now_ms() + IO_MS;
    while (got + 1 < cap && ts_now_ms() < end) {
        ssize_t n = recv(fd, out + got, cap - got - 1, 0);
        if (n == 0) {
            *eof = true;
            break;
        }
        if (n < 0) {
            /* A reset is a close too: the peer closed with our request
             * unread (as redis-server does after a refusal). */
            *eof = errno == ECONNRESET;
            break; /* else 500 ms without data */
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

static uint16_t start_redis_requirepass(void)
{
    uint16_t port = ts_free_port();
    char pbuf[8];
    snprintf(pbuf, sizeof pbuf, "%u", (unsigned)port);
    const char *argv[] = {"/usr/bin/redis-server",
                          "--port",
                          pbuf,
                          "--bind",
                          "127.0.0.1",
                          "--save",
                          "",
                          "--appendonly",
                          "no",
                          "--requirepass",
                          TOKEN,
                          NULL};
    if (access(argv[0], X_OK) != 0) {
        cr_skip_test("redis-server is not installed: comparison skipped");
    }
    cr_assert_eq(ts_spawn(&redis, argv), 0);
    cr_assert_eq(ts_wait_port(port, TS_WAIT_MS), 0, "redis-server did not start");
    return port;
}

/* ---- client auth ---- */

Test(security, http_bearer_required_probes_open)
{
    const char *extra[] = {"--auth-token", TOKEN, NULL};
    start(NULL, extra, true);
    struct ts_http_resp r;
    char www[64];

    cr_assert_eq(http_get("/v1/kv/k", NULL, &r), 401, "%s", r.body);
    cr_assert_eq(ts_http_header(&r, "WWW-Authenticate", www, sizeof www), 0);
    cr_assert_str_eq(www, "Bearer");
    cr_assert(strstr(r.body, "\"code\":\"unauthorized\"") != NULL, "%s", r.body);
    ts_http_resp_free(&r);

    cr_assert_eq(http_get("/v1/kv/k", "Authorization: Bearer " BAD_TOKEN, &r), 401);
    ts_http_resp_free(&r);
    /* A prefix of the token, and the token in another scheme. */
    cr_assert_eq(http_get("/v1/kv/k", "Authorization: Bearer tok-7f3a", &r), 401);
    ts_http_resp_free(&r);
    cr_assert_eq(http_get("/v1/kv/k", "Authorization: Basic " TOKEN, &r), 401);
    ts_http_resp_free(&r);

    cr_assert_eq(http_get("/v1/kv/k", "Authorization: Bearer " TOKEN, &r), 404, "%s", r.body);
    ts_http_resp_free(&r);
    cr_assert_eq(http_get("/v1/kv/k", "authorization: bearer " TOKEN, &r), 404);
    ts_http_resp_free(&r);

    cr_assert_eq(http_get("/healthz", NULL, &r), 200);
    ts_http_resp_free(&r);
    cr_assert_eq(http_get("/readyz", NULL, &r), 200);
    ts_http_resp_free(&r);

    cr_assert(log_wait(&sc.proc, "msg=\"client auth failed\" protocol=http", IO_MS));
    expect_log_clean(&sc.proc);
}

Test(security, resp_auth_matches_redis_requirepass)
{
    const char *extra[] = {"--auth-token", TOKEN, NULL};
    start(NULL, extra, true);
    uint16_t rport = start_redis_requirepass();
    static const char *const cmds[] = {
        "GET k",
        "SET k v",
        "AUTH " BAD_TOKEN,
        "AUTH default " BAD_TOKEN,
        "AUTH nobody " TOKEN,
        "HELLO 3 AUTH default " BAD_TOKEN,
        "HELLO 2 AUTH nobody " TOKEN,
        "AUTH a b c",
        "PING",
        "AUTH " TOKEN,
        "GET k",
        "AUTH default " BAD_TOKEN, /* a failed attempt keeps the session */
        "GET k",
        "RESET",
        "GET k",
        "AUTH default " TOKEN,
        "GET k",
    };
    size_t n = sizeof cmds / sizeof cmds[0];
    size_t la, lb;
    char *a = ts_resp_collect(rport, cmds, n, &la);
    char *b = ts_resp_collect(sc.resp_port, cmds, n, &lb);
    cr_assert_eq(la, lb, "redis-server:\n%s\nflo-sidecar:\n%s", a, b);
    cr_assert_eq(memcmp(a, b, la), 0, "redis-server:\n%s\nflo-sidecar:\n%s", a, b);
    free(a);
    free(b);

    /* The exact bytes (redis-server 7.0.15 answers the same). */
    char out[4096];
    bool eof;
    const char get[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    raw_exchange(sc.resp_port, get, sizeof get - 1, out, sizeof out, &eof);
    cr_assert_str_eq(out, "-NOAUTH Authentication required.\r\n");
    const char wrong[] = "AUTH default " BAD_TOKEN "\r\n";
    raw_exchange(sc.resp_port, wrong, sizeof wrong - 1, out, sizeof out, &eof);
    cr_assert_str_eq(out, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");

    /* HELLO 3 AUTH with the right token: authenticated and in RESP3. */
    const char hello[] = "HELLO 3 AUTH default " TOKEN "\r\nGET k\r\n";
    raw_exchange(sc.resp_port, hello, sizeof hello - 1, out, sizeof out, &eof);
    cr_assert(strncmp(out, "%7\r\n$6\r\nserver\r\n", 16) == 0, "%s", out);
    cr_assert(strstr(out, "$5\r\nproto\r\n:3\r\n") != NULL, "%s", out);
    cr_assert(strstr(out, "_\r\n") != NULL, "RESP3 null expected: %s", out); /* GET k: nil */

    cr_assert(log_wait(&sc.proc, "msg=\"client auth failed\" protocol=resp", IO_MS));
    expect_log_clean(&sc.proc);
}

/* Before AUTH a stranger cannot make the sidecar buffer big requests. */
Test(security, resp_unauthenticated_limits_match_redis)
{
    const char *extra[] = {"--auth-token", TOKEN, NULL};
    start(NULL, extra, true);
    uint16_t rport = start_redis_requirepass();
    static const char *const inputs[] = {"*2000000\r\n", "*11\r\n", "*1\r\n$16385\r\n"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char a[512], b[512];
        bool ea, eb;
        raw_exchange(rport, inputs[i], strlen(inputs[i]), a, sizeof a, &ea);
        raw_exchange(sc.resp_port, inputs[i], strlen(inputs[i]), b, sizeof b, &eb);
        cr_assert_str_eq(b, a, "input %zu", i);
        cr_assert(ea && eb, "both close the connection (input %zu)", i);
    }
}

/* ---- upstream API key ---- */

Test(security, upstream_api_key_accepted)
{
    const char *dextra[] = {"--api-key", API_KEY, NULL};
    const char *extra[] = {"--api-key", API_KEY, NULL};
    start(dextra, extra, true);
    redisContext *c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "SET k v");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "%s", r ? r->str : "no reply");
    freeReplyObject(r);
    r = redisCommand(c, "GET k");
    cr_assert(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "v") == 0);
    freeReplyObject(r);
    redisFree(c);
    expect_log_clean(&sc.proc);
}

Test(security, upstream_api_key_refused_not_ready_keeps_running)
{
    const char *dextra[] = {"--api-key", API_KEY, NULL};
    const char *extra[] = {"--api-key", BAD_KEY, NULL};
    start(dextra, extra, false);
    cr_assert(log_wait(&sc.proc, "upstream refused the API key", TS_WAIT_MS));
    /* Not ready for a while (backoff, no crash loop), yet alive and live. */
    uint64_t end = ts_now_ms() + 2000;
    struct ts_http_resp r;
    do {
        cr_assert_eq(http_get("/readyz", NULL, &r), 503, "%s", r.body);
        cr_assert(strstr(r.body, "refused the API key") != NULL, "%s", r.body);
        ts_http_resp_free(&r);
        usleep(200 * 1000);
    } while (ts_now_ms() < end);
    cr_assert_eq(kill(sc.proc.pid, 0), 0, "the sidecar exited");
    /* Every connection keeps retrying, but the refusal is one log line. */
    char *log = read_log(&sc.proc);
    cr_assert_eq(count_in(log, "upstream refused the API key"), 1, "%s", log);
    free(log);
    cr_assert_eq(http_get("/healthz", NULL, &r), 200);
    ts_http_resp_free(&r);
    /* A request fails with a clear error instead of hanging. */
    redisContext *c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    redisReply *rr = redisCommand(c, "GET k");
    cr_assert(rr && rr->type == REDIS_REPLY_ERROR, "expected an error");
    freeReplyObject(rr);
    redisFree(c);
    expect_log_clean(&sc.proc);
}

Test(security, upstream_without_auth_warns_once)
{
    const char *extra[] = {"--api-key", API_KEY, "--pool", "3", NULL};
    start(NULL, extra, true);
    cr_assert(log_wait(&sc.proc, "the API key was not used", IO_MS));
    usleep(300 * 1000); /* every pool connection is up by now */
    char *log = read_log(&sc.proc);
    cr_assert_eq(count_in(log, "the API key was not used"), 1, "%s", log);
    cr_assert(strstr(log, "level=warn msg=\"upstream does not implement AUTH") != NULL, "%s", log);
    free(log);
    expect_log_clean(&sc.proc);
}

/* ---- limits ---- */

Test(security, resp_args_limit_error_and_close)
{
    const char *extra[] = {"--max-resp-args", "8", NULL};
    start(NULL, extra, true);
    char out[512];
    bool eof;
    const char nine[] = "*9\r\n";
    raw_exchange(sc.resp_port, nine, sizeof nine - 1, out, sizeof out, &eof);
    cr_assert_str_eq(out, "-ERR Protocol error: invalid multibulk length\r\n");
    cr_assert(eof, "the connection is closed after a protocol error");
    /* At the limit: served. */
    const char eight[] = "*8\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
                         "$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n";
    raw_exchange(sc.resp_port, eight, sizeof eight - 1, out, sizeof out, &eof);
    cr_assert(strncmp(out, "-ERR wrong number of arguments", 30) == 0, "%s", out);
    cr_assert_not(eof);
}

Test(security, resp_max_clients)
{
    const char *extra[] = {"--max-resp-clients", "2", NULL};
    start(NULL, extra, true);
    redisContext *a = ts_redis(sc.resp_port), *b = ts_redis(sc.resp_port);
    cr_assert(a && b);
    redisReply *r = redisCommand(a, "PING");
    freeReplyObject(r);
    r = redisCommand(b, "PING");
    freeReplyObject(r);
    char out[256];
    bool eof;
    const char ping[] = "PING\r\n";
    raw_exchange(sc.resp_port, ping, sizeof ping - 1, out, sizeof out, &eof);
    cr_assert_str_eq(out, "-ERR max number of clients reached\r\n");
    cr_assert(eof);
    redisFree(a);
    /* The slot is free again once a client left. */
    uint64_t end = ts_now_ms() + IO_MS;
    do {
        raw_exchange(sc.resp_port, ping, sizeof ping - 1, out, sizeof out, &eof);
    } while (strcmp(out, "+PONG\r\n") != 0 && ts_now_ms() < end);
    cr_assert_str_eq(out, "+PONG\r\n");
    redisFree(b);
    cr_assert(log_wait(&sc.proc, "reason=max_connections", IO_MS));
}

static long vm_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

Test(security, resp_client_that_never_reads_is_dropped)
{
    const char *extra[] = {"--resp-output-limit", LIMIT_BODY, NULL};
    start(NULL, extra, true);
    redisContext *c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    char *v = malloc(OUT_VALUE);
    cr_assert_not_null(v);
    memset(v, 'v', OUT_VALUE);
    redisReply *r = redisCommand(c, "SET big %b", v, (size_t)OUT_VALUE);
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    free(v);
    /* Warm up the path once so the baseline includes the buffers a normal
     * client uses. */
    r = redisCommand(c, "GET big");
    cr_assert(r && r->type == REDIS_REPLY_STRING && r->len == OUT_VALUE);
    freeReplyObject(r);
    redisFree(c);
    long before = vm_rss_kib(sc.proc.pid);

    /* A tiny receive window and no reads: the replies pile up in the
     * sidecar. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(sc.resp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    size_t glen = sizeof get - 1;
    char *burst = malloc(glen * OUT_GETS);
    cr_assert_not_null(burst);
    for (unsigned i = 0; i < OUT_GETS; i++) {
        memcpy(burst + i * glen, get, glen);
    }
    cr_assert_eq(ts_write_full(fd, burst, glen * OUT_GETS), 0);
    free(burst);

    bool dropped = log_wait(&sc.proc, "reason=output_buffer", 10000);
    long after = vm_rss_kib(sc.proc.pid);
    if (!dropped) {
        ts_dump_log(&sc.proc);
    }
    cr_log_info("sidecar RSS %ld -> %ld KiB", before, after);
    cr_assert(dropped, "the client was not disconnected");
    cr_assert_lt(after - before, (long)RSS_BOUND, "RSS grew from %ld to %ld KiB", before, after);

    /* What the client can still read ends well before all the replies. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        total += (size_t)n;
    }
    close(fd);
    cr_assert(n == 0 || n < 0, "connection ended");
    cr_assert_lt(total, (size_t)OUT_VALUE * OUT_GETS / 4, "read %zu bytes", total);

    /* One log line for that client, naming it. */
    char *log = read_log(&sc.proc);
    cr_assert_eq(count_in(log, "reason=output_buffer"), 1, "%s", log);
    cr_assert(strstr(log, "client=") != NULL);
    free(log);
    /* The sidecar serves others as before. */
    c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    r = redisCommand(c, "PING");
    cr_assert(r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0);
    freeReplyObject(r);
    redisFree(c);
}

Test(security, longpoll_cap_shared_by_both_protocols)
{
    const char *extra[] = {"--max-longpolls", "2", NULL};
    start(NULL, extra, true);
    /* Two RESP clients wait on a key that does not exist. */
    redisContext *a = ts_redis(sc.resp_port), *b = ts_redis(sc.resp_port);
    cr_assert(a && b);
    cr_assert_eq(redisAppendCommand(a, "FLO.BGET nokey 2000"), REDIS_OK);
    cr_assert_eq(redisAppendCommand(b, "FLO.BGET nokey 2000"), REDIS_OK);
    int done = 0;
    cr_assert_eq(redisBufferWrite(a, &done), REDIS_OK);
    cr_assert_eq(redisBufferWrite(b, &done), REDIS_OK);

    /* Let the sidecar take both (they are dispatched as soon as read). */
    usleep(300 * 1000);
    /* The third waiter, on HTTP: 429. */
    struct ts_http_resp r;
    cr_assert_eq(http_get("/v1/kv/nokey?block_ms=200", NULL, &r), 429, "%s", r.body);
    cr_assert(strstr(r.body, "\"code\":\"too_many_waiting\"") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "too many waiting requests") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
    /* ... and on RESP. */
    redisContext *c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    redisReply *rr = redisCommand(c, "FLO.BGET nokey 1000");
    cr_assert(rr && rr->type == REDIS_REPLY_ERROR);
    cr_assert(strncmp(rr->str, "BUSY too many waiting requests", 30) == 0, "%s", rr->str);
    freeReplyObject(rr);
    /* A request that does not wait is not affected. */
    rr = redisCommand(c, "GET nokey");
    cr_assert(rr && rr->type == REDIS_REPLY_NIL);
    freeReplyObject(rr);

    /* Waiters that are answered (nil at their timeout) give their slots
     * back. */
    redisReply *ra = NULL, *rb = NULL;
    cr_assert_eq(redisGetReply(a, (void **)&ra), REDIS_OK);
    cr_assert_eq(redisGetReply(b, (void **)&rb), REDIS_OK);
    cr_assert(ra->type == REDIS_REPLY_NIL && rb->type == REDIS_REPLY_NIL);
    freeReplyObject(ra);
    freeReplyObject(rb);
    redisFree(a);
    redisFree(b);
    cr_assert_eq(http_get("/v1/kv/nokey?block_ms=50", NULL, &r), 204, "%s", r.body);
    ts_http_resp_free(&r);
    rr = redisCommand(c, "FLO.BGET nokey 50");
    cr_assert(rr && rr->type == REDIS_REPLY_NIL, "%s", rr && rr->str ? rr->str : "");
    freeReplyObject(rr);
    redisFree(c);
}

/* A client that sends a blocking command and half-closes its socket (what
 * `printf ... | nc` does) is gone for Redis, which frees a blocked client
 * on EOF: its --max-longpolls slot must come back at once, not after the
 * block time, or a few such clients refuse every long-poll with 429 for
 * minutes. */
Test(security, half_closed_blocked_client_gives_its_slot_back)
{
    const char *extra[] = {"--max-longpolls", "1", NULL};
    start(NULL, extra, true);
    int fd = ts_connect(sc.resp_port, IO_MS);
    cr_assert_geq(fd, 0);
    static const char cmd[] = "FLO.BGET nokey 60000\r\n";
    cr_assert_eq(ts_write_full(fd, cmd, sizeof(cmd) - 1), 0);
    usleep(300 * 1000); /* dispatched: it holds the only slot */
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    usleep(300 * 1000);

    struct ts_http_resp r;
    cr_assert_eq(http_get("/v1/kv/nokey?block_ms=50", NULL, &r), 204,
                 "the half-closed client still holds the long-poll slot: %s", r.body);
    ts_http_resp_free(&r);
    /* It was answered like a timeout, then closed. */
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0, "no reply to the half-closed client");
    buf[n] = '\0';
    /* FLO.BGET's own timeout reply: a null bulk string. */
    cr_assert(strncmp(buf, "$-1\r\n", 5) == 0, "reply: %s", buf);
    close(fd);
}

/* The same for a blocking command that starts only after the EOF: here it
 * waits behind BLPOP (a barrier) until the EOF ends the BLPOP. (The
 * BLPOP's own dequeue stays upstream until its round ends, holding one of
 * the two slots; the FLO.BGET must not hold the other.) */
Test(security, half_closed_client_command_started_after_eof_ends)
{
    const char *extra[] = {"--max-longpolls", "2", NULL};
    start(NULL, extra, true);
    int fd = ts_connect(sc.resp_port, IO_MS);
    cr_assert_geq(fd, 0);
    static const char cmd[] = "BLPOP hc-q 0\r\nFLO.BGET nokey 60000\r\n";
    cr_assert_eq(ts_write_full(fd, cmd, sizeof(cmd) - 1), 0);
    usleep(300 * 1000);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    usleep(300 * 1000);

    struct ts_http_resp r;
    cr_assert_eq(http_get("/v1/kv/nokey?block_ms=50", NULL, &r), 204,
                 "a command started after the EOF holds a long-poll slot: %s", r.body);
    ts_http_resp_free(&r);
    char buf[64];
    size_t got = 0;
    while (got < 10) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    cr_assert_eq(got, 10u, "replies: %s", buf);
    cr_assert(strncmp(buf, "*-1\r\n", 5) == 0, "BLPOP reply: %s", buf);
    cr_assert(strncmp(buf + 5, "$-1\r\n", 5) == 0, "FLO.BGET reply: %s", buf + 5);
    close(fd);
}

/* Over --max-http-connections libmicrohttpd stops accepting: the next
 * connection waits in the kernel's listen backlog (no reply, no 503) and is
 * served as soon as a connection closes. */
Test(security, http_connection_limit_queues_until_a_slot_frees)
{
    const char *extra[] = {"--max-http-connections", "2", NULL};
    start(NULL, extra, true);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int a = ts_connect(sc.http_port, IO_MS), b = ts_connect(sc.http_port, IO_MS);
    cr_assert(a >= 0 && b >= 0);
    char buf[512];
    cr_assert_eq(ts_write_full(a, req, sizeof req - 1), 0);
    cr_assert_gt(recv(a, buf, sizeof buf, 0), 0);
    cr_assert_eq(ts_write_full(b, req, sizeof req - 1), 0);
    cr_assert_gt(recv(b, buf, sizeof buf, 0), 0);

    int c = ts_connect(sc.http_port, 700); /* the kernel completes the handshake */
    cr_assert_geq(c, 0);
    cr_assert_eq(ts_write_full(c, req, sizeof req - 1), 0);
    cr_assert_lt(recv(c, buf, sizeof buf, 0), 0, "served over the limit");

    close(a);
    uint64_t t0 = ts_now_ms();
    ssize_t n;
    do {
        n = recv(c, buf, sizeof buf - 1, 0);
    } while (n < 0 && ts_now_ms() - t0 < IO_MS);
    cr_assert_gt(n, 0, "not served after a slot freed");
    buf[n] = '\0';
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert_lt(ts_now_ms() - t0, 1500, "served only after %llu ms",
                 (unsigned long long)(ts_now_ms() - t0));
    close(b);
    close(c);
}
