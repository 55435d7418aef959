/*
 * Command-line behaviour of the real flo-sidecar binary: --help/--version,
 * exit status 2 with one clear line for each kind of bad flag or variable,
 * environment variables and their precedence, --dev serving real clients
 * (redis-cli, curl), a port already in use (exit 1 naming the address) and
 * a clean exit 0 on SIGTERM.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts.h"

#define SIDECAR  FLO_BIN_DIR "/flo-sidecar"
#define RUN_MS   10000 /* bound for one short-lived command */
#define MAX_ARGS 24

/* Run flo-sidecar with args (NULL-terminated) and optional "NAME=value"
 * environment assignments, with stderr merged into the captured output. */
static int run_sidecar(const char *const env[], const char *const args[], char **out)
{
    const char *argv[MAX_ARGS + 8];
    size_t n = 0;
    argv[n++] = "sh";
    argv[n++] = "-c";
    argv[n++] = "exec \"$0\" \"$@\" 2>&1"; /* merge stderr into stdout */
    argv[n++] = "env";
    for (size_t i = 0; env && env[i] && n < MAX_ARGS; i++) {
        argv[n++] = env[i];
    }
    argv[n++] = SIDECAR;
    for (size_t i = 0; args && args[i] && n < MAX_ARGS + 6; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    size_t len = 0;
    return ts_run(argv, RUN_MS, NULL, 0, out, &len);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* A config error: status 2, exactly one line, mentioning `needle`. */
static void expect_config_error(const char *const env[], const char *const args[],
                                const char *needle)
{
    char *out = NULL;
    int st = run_sidecar(env, args, &out);
    cr_assert_not_null(out);
    cr_expect_eq(st, 2, "exit status %d, output: %s", st, out);
    cr_expect_eq(count_lines(out), 1, "expected one line, got: %s", out);
    cr_expect(strncmp(out, "flo-sidecar: ", 13) == 0, "output: %s", out);
    cr_expect(strstr(out, needle) != NULL, "'%s' not in: %s", needle, out);
    free(out);
}

/* Clear every FLO_SIDECAR_* variable the tests set, so the developer's own
 * environment cannot leak into children started with ts_spawn. */
static void clear_env(void)
{
    static const char *const vars[] = {
        "FLO_SIDECAR_UPSTREAM", "FLO_SIDECAR_DEV",       "FLO_SIDECAR_HTTP",
        "FLO_SIDECAR_RESP",     "FLO_SIDECAR_NAMESPACE", "FLO_SIDECAR_POOL",
        "FLO_SIDECAR_API_KEY",  "FLO_API_KEY",           "FLO_SIDECAR_AUTH_TOKEN",
        "FLO_SIDECAR_MAX_BODY", "FLO_SIDECAR_LOG_LEVEL",
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        unsetenv(vars[i]);
    }
}

TestSuite(cli, .init = clear_env, .timeout = 60);

Test(cli, help_lists_every_flag_and_env_var)
{
    static const char *const want[] = {
        "--upstream",
        "FLO_SIDECAR_UPSTREAM",
        "--dev",
        "FLO_SIDECAR_DEV",
        "--http",
        "FLO_SIDECAR_HTTP",
        "--resp",
        "FLO_SIDECAR_RESP",
        "--namespace",
        "FLO_SIDECAR_NAMESPACE",
        "--pool",
        "FLO_SIDECAR_POOL",
        "--api-key",
        "FLO_SIDECAR_API_KEY",
        "FLO_API_KEY",
        "--auth-token",
        "FLO_SIDECAR_AUTH_TOKEN",
        "--max-body",
        "FLO_SIDECAR_MAX_BODY",
        "--log-level",
        "FLO_SIDECAR_LOG_LEVEL",
        "--version",
        "--help",
        "127.0.0.1:9080",
        "127.0.0.1:6379",
        "default:",
        "16777216",
    };
    const char *args[] = {"--help", NULL};
    char *out = NULL;
    int st = run_sidecar(NULL, args, &out);
    cr_assert_eq(st, 0, "status %d: %s", st, out ? out : "");
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_expect(strstr(out, want[i]) != NULL, "--help does not mention %s", want[i]);
    }
    free(out);
}

Test(cli, version)
{
    const char *args[] = {"--version", NULL};
    char *out = NULL;
    int st = run_sidecar(NULL, args, &out);
    cr_assert_eq(st, 0);
    cr_assert_str_eq(out, "flo-sidecar " FLO_VERSION_STRING " (commit " FLO_GIT_COMMIT ")\n");
    free(out);
}

Test(cli, unknown_flag)
{
    const char *args[] = {"--dev", "--frobnicate", NULL};
    expect_config_error(NULL, args, "unknown flag '--frobnicate'");
}

Test(cli, missing_value)
{
    const char *args[] = {"--dev", "--http", NULL};
    expect_config_error(NULL, args, "--http needs a value");
}

Test(cli, bad_port)
{
    const char *a1[] = {"--dev", "--http", "127.0.0.1:99999", NULL};
    expect_config_error(NULL, a1, "--http");
    const char *a2[] = {"--dev", "--resp", "127.0.0.1:x", NULL};
    expect_config_error(NULL, a2, "--resp");
    const char *a3[] = {"--upstream", "127.0.0.1:0", NULL};
    expect_config_error(NULL, a3, "--upstream");
}

Test(cli, dev_and_upstream_together)
{
    const char *args[] = {"--dev", "--upstream", "127.0.0.1:9000", NULL};
    expect_config_error(NULL, args, "exclude each other");
}

Test(cli, no_upstream_given)
{
    const char *args[] = {NULL};
    expect_config_error(NULL, args, "no upstream");
}

Test(cli, bad_pool_namespace_and_level)
{
    const char *a1[] = {"--dev", "--pool", "0", NULL};
    expect_config_error(NULL, a1, "--pool");
    char ns[300];
    memset(ns, 'x', 256);
    ns[256] = '\0';
    const char *a2[] = {"--dev", "--namespace", ns, NULL};
    expect_config_error(NULL, a2, "--namespace");
    const char *a3[] = {"--dev", "--log-level", "chatty", NULL};
    expect_config_error(NULL, a3, "--log-level");
    const char *a4[] = {"--dev", "--max-body", "lots", NULL};
    expect_config_error(NULL, a4, "--max-body");
}

Test(cli, env_var_error_names_the_variable)
{
    const char *env[] = {"FLO_SIDECAR_POOL=0", NULL};
    const char *args[] = {"--dev", NULL};
    expect_config_error(env, args, "FLO_SIDECAR_POOL");
}

/* Both listeners answer; dump the log and fail otherwise. */
static void expect_listening(struct ts_proc *p, uint16_t http, uint16_t resp)
{
    bool ok = ts_wait_port(http, TS_WAIT_MS) == 0 && ts_wait_port(resp, TS_WAIT_MS) == 0;
    if (!ok) {
        ts_dump_log(p);
    }
    cr_assert(ok, "flo-sidecar is not listening on %u and %u", http, resp);
}

static void http_get_status(uint16_t port, const char *path, long *status)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    struct ts_http_resp r;
    cr_assert_eq(ts_http("GET", url, NULL, NULL, 0, &r), 0, "GET %s failed", url);
    *status = r.status;
    ts_http_resp_free(&r);
}

Test(cli, env_used_when_no_flag)
{
    uint16_t http = ts_free_port(), resp = ts_free_port();
    char h[32], r[32];
    snprintf(h, sizeof(h), "127.0.0.1:%u", (unsigned)http);
    snprintf(r, sizeof(r), "127.0.0.1:%u", (unsigned)resp);
    setenv("FLO_SIDECAR_DEV", "1", 1);
    setenv("FLO_SIDECAR_HTTP", h, 1);
    setenv("FLO_SIDECAR_RESP", r, 1);
    struct ts_proc p;
    const char *argv[] = {SIDECAR, NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    expect_listening(&p, http, resp);
    long st;
    http_get_status(http, "/healthz", &st);
    cr_expect_eq(st, 200);
    ts_stop(&p);
}

Test(cli, flag_beats_env)
{
    uint16_t env_http = ts_free_port(), http = ts_free_port(), resp = ts_free_port();
    char eh[32], h[32], r[32];
    snprintf(eh, sizeof(eh), "127.0.0.1:%u", (unsigned)env_http);
    snprintf(h, sizeof(h), "127.0.0.1:%u", (unsigned)http);
    snprintf(r, sizeof(r), "127.0.0.1:%u", (unsigned)resp);
    setenv("FLO_SIDECAR_HTTP", eh, 1);
    /* An invalid value in the environment is never looked at when a flag
     * overrides it. */
    setenv("FLO_SIDECAR_POOL", "0", 1);
    struct ts_proc p;
    const char *argv[] = {SIDECAR, "--dev", "--http", h, "--resp", r, "--pool", "1", NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    expect_listening(&p, http, resp);
    long st;
    http_get_status(http, "/healthz", &st);
    cr_expect_eq(st, 200);
    cr_expect_neq(ts_wait_port(env_http, 200), 0, "the environment's port is in use too");
    ts_stop(&p);
}

Test(cli, dev_serves_redis_cli_and_curl)
{
    struct ts_sidecar s;
    cr_assert_eq(ts_sidecar_start(&s, 0, NULL), 0);
    if (ts_sidecar_wait_ready(&s, TS_WAIT_MS) != 0) {
        ts_dump_log(&s.proc);
        cr_assert_fail("--dev never became ready");
    }
    char port[8], url[64];
    snprintf(port, sizeof(port), "%u", (unsigned)s.resp_port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", (unsigned)s.http_port);

    const char *ping[] = {"redis-cli", "-p", port, "PING", NULL};
    char *out = NULL;
    size_t len;
    cr_expect_eq(ts_run(ping, RUN_MS, NULL, 0, &out, &len), 0);
    cr_expect_str_eq(out ? out : "", "PONG\n");
    free(out);

    const char *curl[] = {"curl",      "-s", "--noproxy",    "*", "-o",
                          "/dev/null", "-w", "%{http_code}", url, NULL};
    out = NULL;
    cr_expect_eq(ts_run(curl, RUN_MS, NULL, 0, &out, &len), 0);
    cr_expect_str_eq(out ? out : "", "200");
    free(out);

    /* The start line names the bound addresses. */
    char *log = NULL;
    const char *cat[] = {"cat", s.proc.log, NULL};
    cr_assert_eq(ts_run(cat, RUN_MS, NULL, 0, &log, &len), 0);
    char want[64];
    snprintf(want, sizeof(want), "http=127.0.0.1:%u", (unsigned)s.http_port);
    cr_expect(strstr(log, "flo-sidecar started") && strstr(log, want), "log: %s", log);
    cr_expect(strstr(log, "upstream ready") != NULL, "log: %s", log);
    free(log);
    ts_stop(&s.proc);
}

/* Hold a listening socket on a free loopback port. */
static int occupy_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void expect_bind_failure(bool busy_is_resp)
{
    uint16_t busy;
    int fd = occupy_port(&busy);
    char b[32], f[32];
    snprintf(b, sizeof(b), "127.0.0.1:%u", (unsigned)busy);
    snprintf(f, sizeof(f), "127.0.0.1:%u", (unsigned)ts_free_port());
    const char *args[] = {"--dev", "--resp", busy_is_resp ? b : f, "--http", busy_is_resp ? f : b,
                          NULL};
    char *out = NULL;
    int st = run_sidecar(NULL, args, &out);
    close(fd);
    cr_assert_not_null(out);
    cr_expect_eq(st, 1, "status %d: %s", st, out);
    cr_expect(strstr(out, b) != NULL, "the busy address %s is not named: %s", b, out);
    cr_expect(strstr(out, busy_is_resp ? "RESP" : "HTTP") != NULL, "output: %s", out);
    free(out);
}

Test(cli, resp_port_in_use_exits_1)
{
    expect_bind_failure(true);
}

Test(cli, http_port_in_use_exits_1)
{
    expect_bind_failure(false);
}

Test(cli, sigterm_exits_cleanly)
{
    struct ts_sidecar s;
    cr_assert_eq(ts_sidecar_start(&s, 0, NULL), 0);
    /* A connected idle client must not hold up the shutdown. */
    redisContext *c = ts_redis(s.resp_port);
    cr_assert_not_null(c);
    cr_assert_eq(kill(s.proc.pid, SIGTERM), 0);
    int status = -1;
    uint64_t deadline = ts_now_ms() + 8000;
    pid_t r = 0;
    while ((r = waitpid(s.proc.pid, &status, WNOHANG)) == 0 && ts_now_ms() < deadline) {
        usleep(20000);
    }
    redisFree(c);
    if (r != s.proc.pid) {
        ts_dump_log(&s.proc);
        ts_stop(&s.proc);
        cr_assert_fail("flo-sidecar did not exit within 8 s of SIGTERM");
    }
    s.proc.pid = 0;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    cr_expect_neq(ts_wait_port(s.resp_port, 100), 0, "still listening after exit");
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

Test(cli, sigterm_fails_inflight_longpoll_and_exits_0)
{
    struct ts_sidecar s;
    cr_assert_eq(ts_sidecar_start(&s, 0, NULL), 0);
    if (ts_sidecar_wait_ready(&s, TS_WAIT_MS) != 0) {
        ts_dump_log(&s.proc);
        ts_stop(&s.proc);
        cr_assert_fail("--dev never became ready");
    }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/kv/never?block_ms=20000",
             (unsigned)s.http_port);
    CURLM *m = curl_multi_init();
    CURL *h = curl_easy_init();
    cr_assert(m && h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_multi_add_handle(m, h);
    int running = 1;
    uint64_t until = ts_now_ms() + 500;
    while (ts_now_ms() < until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    cr_expect_eq(running, 1, "the long-poll returned before SIGTERM");
    uint64_t sent = ts_now_ms();
    cr_assert_eq(kill(s.proc.pid, SIGTERM), 0);
    while (running && ts_now_ms() < sent + 10000) {
        curl_multi_perform(m, &running);
        if (running) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    cr_expect_eq(running, 0, "the long-poll was not answered after SIGTERM");
    cr_expect_eq(code, 503, "long-poll answered %ld during shutdown", code);
    curl_multi_remove_handle(m, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);

    int status = -1;
    pid_t r = 0;
    while ((r = waitpid(s.proc.pid, &status, WNOHANG)) == 0 && ts_now_ms() < sent + 10000) {
        usleep(20000);
    }
    if (r != s.proc.pid) {
        ts_dump_log(&s.proc);
        ts_stop(&s.proc);
        cr_assert_fail("flo-sidecar did not exit within 10 s of SIGTERM");
    }
    s.proc.pid = 0;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}

/* --auth-token and --max-body reach the front ends. */
Test(cli, auth_token_and_max_body_are_wired)
{
    const char *extra[] = {"--auth-token", "s3cret", "--max-body", "16", "--api-key", "k", NULL};
    struct ts_sidecar s;
    cr_assert_eq(ts_sidecar_start(&s, 0, extra), 0);
    redisContext *c = ts_redis(s.resp_port);
    cr_assert_not_null(c);
    redisReply *r = redisCommand(c, "SET k v");
    cr_assert_not_null(r);
    cr_expect_eq(r->type, REDIS_REPLY_ERROR);
    cr_expect(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0, "reply: %s",
              r->str ? r->str : "");
    freeReplyObject(r);
    r = redisCommand(c, "AUTH s3cret");
    cr_assert_not_null(r);
    cr_expect_eq(r->type, REDIS_REPLY_STATUS, "AUTH reply: %s", r->str ? r->str : "");
    freeReplyObject(r);
    /* The embedded flo-dev shares the API key, so the upstream is usable. */
    r = redisCommand(c, "SET k v");
    cr_assert_not_null(r);
    cr_expect_eq(r->type, REDIS_REPLY_STATUS, "SET reply: %s", r->str ? r->str : "");
    freeReplyObject(r);
    redisFree(c);

    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/kv/big", (unsigned)s.http_port);
    const char *auth[] = {"Authorization: Bearer s3cret", NULL};
    struct ts_http_resp hr;
    cr_assert_eq(ts_http("PUT", url, auth, "0123456789abcdefXYZ", 19, &hr), 0);
    cr_expect_eq(hr.status, 413, "status %ld: %s", hr.status, hr.body);
    ts_http_resp_free(&hr);
    cr_assert_eq(ts_http("PUT", url, NULL, "small", 5, &hr), 0);
    cr_expect_eq(hr.status, 401, "no token: status %ld", hr.status);
    ts_http_resp_free(&hr);
    ts_stop(&s.proc);
}
