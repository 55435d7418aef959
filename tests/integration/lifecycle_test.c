/*
 * Integration tests of flo-sidecar's lifecycle through real processes:
 * graceful shutdown on SIGTERM with an HTTP request, a RESP command, an
 * HTTP long-poll, a blocked RESP command and an HTTP consumer session in
 * flight; SIGHUP rotating the client token from its file; --check-config on
 * good and bad files. In-flight requests are made slow by a delaying TCP
 * proxy between the sidecar and flo-dev (responses held back for a while),
 * so they are really in flight when the signal arrives.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"

#define BIN           FLO_BIN_DIR "/flo-sidecar"
#define DELAY_MS      700  /* upstream replies held back this long by the proxy */
#define GRACE_S       5    /* --shutdown-grace of the shutdown test */
#define EXIT_BOUND_MS 8000 /* longest wait for the sidecar to exit */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- a TCP proxy that delays upstream -> sidecar bytes ---- */

static atomic_uint proxy_delay_ms;
static uint16_t proxy_target;

struct pump {
    int from, to;
    bool delay; /* this direction carries replies */
};

static void *pump_run(void *arg)
{
    struct pump *p = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = read(p->from, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        unsigned d = p->delay ? atomic_load(&proxy_delay_ms) : 0;
        if (d) {
            sleep_ms(d);
        }
        if (ts_write_full(p->to, buf, (size_t)n) != 0) {
            break;
        }
    }
    shutdown(p->to, SHUT_WR);
    shutdown(p->from, SHUT_RD);
    free(p);
    return NULL;
}

static void *proxy_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        int u = ts_connect(proxy_target, 5000);
        if (u < 0) {
            close(c);
            continue;
        }
        /* No receive timeout on the pumps: connections stay open idle. */
        struct timeval tv = {0};
        setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        struct pump *up = malloc(sizeof(*up)), *down = malloc(sizeof(*down));
        if (!up || !down) {
            abort();
        }
        *up = (struct pump){.from = c, .to = u, .delay = false};
        *down = (struct pump){.from = u, .to = c, .delay = true};
        pthread_t t;
        pthread_create(&t, NULL, pump_run, up);
        pthread_detach(t);
        pthread_create(&t, NULL, pump_run, down);
        pthread_detach(t);
    }
}

/* Start the proxy to 127.0.0.1:target; returns its port. */
static uint16_t proxy_start(uint16_t target)
{
    proxy_target = target;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 64), 0);
    socklen_t len = sizeof(sa);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    pthread_t t;
    pthread_create(&t, NULL, proxy_accept, (void *)(intptr_t)lfd);
    pthread_detach(t);
    return ntohs(sa.sin_port);
}

/* ---- helpers ---- */

/* Wait (bounded) for the process to exit; returns its wait status or -1. */
static int wait_exit(struct ts_proc *p, int bound_ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)bound_ms;
    while (ts_now_ms() < end) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return st;
        }
        sleep_ms(20);
    }
    return -1;
}

static char *read_log(const struct ts_proc *p)
{
    FILE *f = fopen(p->log, "rb");
    cr_assert_not_null(f);
    char *buf = calloc(1, 1 << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static long http_status(const char *method, uint16_t port, const char *path, const char *token,
                        const char *body, char **out_body)
{
    char url[256], auth[300];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
    const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
    struct ts_http_resp r;
    if (ts_http(method, url, token ? hdrs : hdrs + 1, body, body ? strlen(body) : 0, &r) != 0) {
        return -1;
    }
    long st = r.status;
    if (out_body) {
        *out_body = strdup(r.body ? r.body : "");
    }
    ts_http_resp_free(&r);
    return st;
}

/* "members" of a group's info, or -1. */
static long group_members(uint16_t http_port)
{
    char *body = NULL;
    long st = http_status("GET", http_port, "/v1/streams/lc-s/groups/lc-g", NULL, NULL, &body);
    long members = -1;
    if (st == 200) {
        const char *m = strstr(body, "\"members\":");
        if (m) {
            members = strtol(m + 10, NULL, 10);
        }
    }
    free(body);
    return members;
}

struct async_http {
    pthread_t t;
    const char *path;
    uint16_t port;
    long status;
    char *body;
};

static void *async_http_run(void *arg)
{
    struct async_http *a = arg;
    a->status = http_status("GET", a->port, a->path, NULL, NULL, &a->body);
    return NULL;
}

struct async_resp {
    pthread_t t;
    uint16_t port;
    const char *cmd;
    redisReply *reply;
};

static void *async_resp_run(void *arg)
{
    struct async_resp *a = arg;
    redisContext *rc = ts_redis(a->port);
    if (rc == NULL) {
        return NULL;
    }
    a->reply = redisCommand(rc, a->cmd);
    redisFree(rc);
    return NULL;
}

/* ---- graceful shutdown ---- */

Test(lifecycle, sigterm_finishes_in_flight_and_leaves_sessions, .timeout = 60)
{
    struct ts_flodev dev;
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0);
    uint16_t pport = proxy_start(dev.port);
    struct ts_sidecar sc;
    const char *extra[] = {"--shutdown-grace", "5", NULL};
    cr_assert_eq(ts_sidecar_start(&sc, pport, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);

    cr_assert_eq(http_status("PUT", sc.http_port, "/v1/kv/lc-key", NULL, "lc-value", NULL), 200);
    long st = http_status("PUT", sc.http_port, "/v1/streams/lc-s", NULL, NULL, NULL);
    cr_assert(st == 200 || st == 201, "stream create %ld", st);
    st = http_status("PUT", sc.http_port, "/v1/streams/lc-s/groups/lc-g", NULL, NULL, NULL);
    cr_assert(st == 200 || st == 201, "group create %ld", st);
    st = http_status("POST", sc.http_port, "/v1/streams/lc-s/groups/lc-g/sessions", NULL,
                     "{\"consumer\":\"lc-worker\"}", NULL);
    cr_assert_eq(st, 201);
    cr_assert_eq(group_members(sc.http_port), 1);

    /* From here every upstream reply takes DELAY_MS. */
    atomic_store(&proxy_delay_ms, DELAY_MS);
    struct async_http get = {.path = "/v1/kv/lc-key", .port = sc.http_port};
    struct async_http lp = {.path = "/v1/kv/lc-missing?block_ms=30000", .port = sc.http_port};
    struct async_resp rget = {.port = sc.resp_port, .cmd = "GET lc-key"};
    struct async_resp rblock = {.port = sc.resp_port, .cmd = "FLO.BGET lc-missing 30000"};
    pthread_create(&get.t, NULL, async_http_run, &get);
    pthread_create(&lp.t, NULL, async_http_run, &lp);
    pthread_create(&rget.t, NULL, async_resp_run, &rget);
    pthread_create(&rblock.t, NULL, async_resp_run, &rblock);
    sleep_ms(250); /* all four sent, none answered (replies held back) */

    uint64_t t0 = ts_now_ms();
    cr_assert_eq(kill(sc.proc.pid, SIGTERM), 0);
    /* A new connection is refused at once: the listeners are closed. */
    sleep_ms(100);
    int fd = ts_connect(sc.http_port, 500);
    cr_assert_lt(fd, 0, "HTTP still accepting after SIGTERM");

    pthread_join(get.t, NULL);
    pthread_join(lp.t, NULL);
    pthread_join(rget.t, NULL);
    pthread_join(rblock.t, NULL);
    int status = wait_exit(&sc.proc, EXIT_BOUND_MS);
    uint64_t took = ts_now_ms() - t0;
    atomic_store(&proxy_delay_ms, 0);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ts_dump_log(&sc.proc);
    }
    cr_assert_neq(status, -1, "the sidecar did not exit");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert_lt(took, (uint64_t)GRACE_S * 1000u, "shutdown took %llu ms",
                 (unsigned long long)took);

    /* The requests in flight were answered, not dropped. */
    cr_assert_eq(get.status, 200, "in-flight GET: %ld %s", get.status, get.body);
    cr_assert_str_eq(get.body, "lc-value");
    cr_assert_not_null(rget.reply);
    cr_assert_eq(rget.reply->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(rget.reply->str, "lc-value");
    /* The long-polls were ended at the start, not held for the grace. */
    cr_assert_eq(lp.status, 503, "long-poll: %ld %s", lp.status, lp.body);
    cr_assert(strstr(lp.body, "shutting_down"), "%s", lp.body);
    cr_assert_not_null(rblock.reply);
    cr_assert_eq(rblock.reply->type, REDIS_REPLY_NIL, "blocked command: type %d",
                 rblock.reply->type);

    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "shutting down") && strstr(log, "signal=SIGTERM"), "%s", log);
    cr_assert(strstr(log, "flo-sidecar stopped") && strstr(log, "sessions_ended=1"), "%s", log);
    cr_assert(strstr(log, "cut_off=0"), "%s", log);
    /* The GETs were really in flight when the signal came. */
    cr_assert_null(strstr(log, "in_flight=0 "), "%s", log);
    free(log);

    /* The session left its group upstream: a fresh sidecar sees 0 members. */
    struct ts_sidecar sc2;
    cr_assert_eq(ts_sidecar_start(&sc2, dev.port, NULL), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc2, 10000), 0);
    cr_assert_eq(group_members(sc2.http_port), 0);

    free(get.body);
    free(lp.body);
    freeReplyObject(rget.reply);
    freeReplyObject(rblock.reply);
    ts_stop(&sc2.proc);
    ts_stop(&dev.proc);
}

/* A BLPOP/BRPOP waiting forever is a blocked command like FLO.BGET: the
 * drain must end it at once with Redis' timeout reply (nil), not hold the
 * whole grace period and then drop the client without an answer. */
Test(lifecycle, sigterm_ends_blocked_blpop_at_once, .timeout = 60)
{
    struct ts_flodev dev;
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0);
    struct ts_sidecar sc;
    const char *extra[] = {"--shutdown-grace", "6", NULL};
    cr_assert_eq(ts_sidecar_start(&sc, dev.port, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);

    struct async_resp bpop = {.port = sc.resp_port, .cmd = "BLPOP lc-bq 0"};
    pthread_create(&bpop.t, NULL, async_resp_run, &bpop);
    sleep_ms(400); /* BLPOP sent and waiting upstream */

    uint64_t t0 = ts_now_ms();
    cr_assert_eq(kill(sc.proc.pid, SIGTERM), 0);
    pthread_join(bpop.t, NULL);
    int status = wait_exit(&sc.proc, EXIT_BOUND_MS);
    uint64_t took = ts_now_ms() - t0;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ts_dump_log(&sc.proc);
    }
    cr_assert_neq(status, -1, "the sidecar did not exit");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert_lt(took, 3000, "a blocked BLPOP held the shutdown for %llu ms",
                 (unsigned long long)took);
    cr_assert_not_null(bpop.reply, "the blocked BLPOP got no reply");
    cr_assert_eq(bpop.reply->type, REDIS_REPLY_NIL, "blocked BLPOP: type %d", bpop.reply->type);
    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "cut_off=0"), "%s", log);
    free(log);
    freeReplyObject(bpop.reply);
    ts_stop(&dev.proc);
}

/* Ending a blocked RESP command at the start of the drain cancels its
 * upstream call, whose callback then never runs: its --max-longpolls slot
 * must be given back there, or a long-poll that arrives on a kept-alive
 * HTTP connection during the drain is refused with 429 instead of being
 * ended like the others (503 shutting_down). */
Test(lifecycle, drain_gives_back_the_slots_of_ended_commands, .timeout = 60)
{
    struct ts_flodev dev;
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0);
    uint16_t pport = proxy_start(dev.port);
    struct ts_sidecar sc;
    const char *extra[] = {"--shutdown-grace", "5", "--max-longpolls", "1", NULL};
    cr_assert_eq(ts_sidecar_start(&sc, pport, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);

    /* A kept-alive HTTP connection, opened before the listener closes. */
    int fd = ts_connect(sc.http_port, 5000);
    cr_assert_geq(fd, 0);
    static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_write_full(fd, probe, sizeof(probe) - 1), 0);
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);

    atomic_store(&proxy_delay_ms, 1500);
    struct async_resp rblock = {.port = sc.resp_port, .cmd = "FLO.BGET lc-missing 30000"};
    struct async_http get = {.path = "/v1/kv/lc-slow", .port = sc.http_port};
    pthread_create(&rblock.t, NULL, async_resp_run, &rblock);
    sleep_ms(150); /* the blocked command holds the only long-poll slot */
    pthread_create(&get.t, NULL, async_http_run, &get);
    sleep_ms(250); /* the GET keeps the drain going */
    cr_assert_eq(kill(sc.proc.pid, SIGTERM), 0);
    sleep_ms(200);

    static const char lp[] = "GET /v1/kv/lc-lp?block_ms=30000 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_write_full(fd, lp, sizeof(lp) - 1), 0);
    n = read(fd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0, "no reply to the long-poll sent during the drain");
    buf[n] = '\0';
    cr_assert(strncmp(buf, "HTTP/1.1 503", 12) == 0, "long-poll during the drain: %.200s", buf);
    cr_assert(strstr(buf, "shutting_down") != NULL || strstr(buf, "Content-Length") != NULL,
              "%.300s", buf);
    close(fd);

    pthread_join(rblock.t, NULL);
    pthread_join(get.t, NULL);
    int status = wait_exit(&sc.proc, EXIT_BOUND_MS);
    atomic_store(&proxy_delay_ms, 0);
    cr_assert_neq(status, -1, "the sidecar did not exit");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert_not_null(rblock.reply);
    cr_assert_eq(rblock.reply->type, REDIS_REPLY_NIL);
    freeReplyObject(rblock.reply);
    free(get.body);
    ts_stop(&dev.proc);
}

Test(lifecycle, grace_expiry_closes_what_is_left, .timeout = 60)
{
    struct ts_flodev dev;
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0);
    uint16_t pport = proxy_start(dev.port);
    struct ts_sidecar sc;
    const char *extra[] = {"--shutdown-grace", "1", NULL};
    cr_assert_eq(ts_sidecar_start(&sc, pport, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);

    /* A reply held back longer than the grace period. */
    atomic_store(&proxy_delay_ms, 3000);
    struct async_http get = {.path = "/v1/kv/slow", .port = sc.http_port};
    pthread_create(&get.t, NULL, async_http_run, &get);
    sleep_ms(250);
    uint64_t t0 = ts_now_ms();
    cr_assert_eq(kill(sc.proc.pid, SIGTERM), 0);
    int status = wait_exit(&sc.proc, EXIT_BOUND_MS);
    uint64_t took = ts_now_ms() - t0;
    pthread_join(get.t, NULL);
    cr_assert_neq(status, -1, "the sidecar did not exit");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert_geq(took, 900, "left before the grace period: %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 4000, "took %llu ms", (unsigned long long)took);
    cr_assert_eq(get.status, 503, "cut-off request: %ld", get.status);
    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "grace period over") && strstr(log, "cut_off=1"), "%s", log);
    free(log);
    free(get.body);
    atomic_store(&proxy_delay_ms, 0);
    ts_stop(&dev.proc);
}

/* ---- SIGHUP ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Poll until the token is accepted (not 401) or the bound passes. */
static bool token_works(uint16_t port, const char *token, int bound_ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)bound_ms;
    do {
        long st = http_status("GET", port, "/v1/kv/lc-any", token, NULL, NULL);
        if (st != 401 && st > 0) {
            return true;
        }
        sleep_ms(50);
    } while (ts_now_ms() < end);
    return false;
}

Test(lifecycle, sighup_rotates_the_token_file, .timeout = 60)
{
    char tok[] = "/tmp/lc_token_XXXXXX";
    int fd = mkstemp(tok);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(tok, "token-one\n");
    struct ts_sidecar sc;
    const char *extra[] = {"--auth-token-file", tok, NULL};
    cr_assert_eq(ts_sidecar_start(&sc, 0, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);

    cr_assert(token_works(sc.http_port, "token-one", 0));
    cr_assert_eq(http_status("GET", sc.http_port, "/v1/kv/lc-any", "token-two", NULL, NULL), 401);

    write_file(tok, "token-two\n");
    cr_assert_eq(kill(sc.proc.pid, SIGHUP), 0);
    cr_assert(token_works(sc.http_port, "token-two", 3000), "new token refused after SIGHUP");
    cr_assert_eq(http_status("GET", sc.http_port, "/v1/kv/lc-any", "token-one", NULL, NULL), 401);
    /* RESP takes the new token too. */
    redisContext *rc = ts_redis(sc.resp_port);
    cr_assert_not_null(rc);
    redisReply *r = redisCommand(rc, "AUTH token-one");
    cr_assert(r && r->type == REDIS_REPLY_ERROR, "old token accepted on RESP");
    freeReplyObject(r);
    r = redisCommand(rc, "AUTH token-two");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "new token refused on RESP: %s",
              r ? r->str : "(no reply)");
    freeReplyObject(r);
    redisFree(rc);

    /* A bad file keeps the settings in effect and says why. */
    write_file(tok, "\n");
    cr_assert_eq(kill(sc.proc.pid, SIGHUP), 0);
    sleep_ms(300);
    cr_assert(token_works(sc.http_port, "token-two", 0));
    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "reload failed") && strstr(log, "keeping the current settings"), "%s",
              log);
    cr_assert(strstr(log, "setting=auth-token"), "%s", log);
    cr_assert_null(strstr(log, "token-two"), "the token was logged");
    free(log);
    ts_stop(&sc.proc);
    unlink(tok);
}

/* An editor that truncates the config file before writing it (or a
 * half-copied file) must not switch client auth off: a reload that would
 * drop the token keeps it, says so, and only a restart disables auth. */
Test(lifecycle, sighup_never_turns_client_auth_off, .timeout = 60)
{
    char conf[] = "/tmp/lc_conf_XXXXXX";
    int fd = mkstemp(conf);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(conf, "auth-token = cfg-token\n");
    struct ts_sidecar sc;
    const char *extra[] = {"--config", conf, NULL};
    cr_assert_eq(ts_sidecar_start(&sc, 0, extra), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, 10000), 0);
    cr_assert(token_works(sc.http_port, "cfg-token", 0));
    cr_assert_eq(http_status("GET", sc.http_port, "/v1/kv/lc-any", NULL, NULL, NULL), 401);

    write_file(conf, ""); /* truncated, not yet rewritten */
    cr_assert_eq(kill(sc.proc.pid, SIGHUP), 0);
    sleep_ms(300);
    cr_assert_eq(http_status("GET", sc.http_port, "/v1/kv/lc-any", NULL, NULL, NULL), 401,
                 "client auth was switched off by a reload");
    cr_assert(token_works(sc.http_port, "cfg-token", 0));
    redisContext *rc = ts_redis(sc.resp_port);
    cr_assert_not_null(rc);
    redisReply *r = redisCommand(rc, "GET lc-any");
    cr_assert(r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0,
              "RESP served a command without AUTH after the reload");
    freeReplyObject(r);
    redisFree(rc);
    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "setting=auth-token"), "%s", log);
    cr_assert_null(strstr(log, "cfg-token"), "the token was logged");
    free(log);
    ts_stop(&sc.proc);
    unlink(conf);
}

Test(lifecycle, sighup_reports_settings_needing_a_restart, .timeout = 60)
{
    char conf[] = "/tmp/lc_conf_XXXXXX";
    int fd = mkstemp(conf);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(conf, "pool = 2\nlog-level = info\n");
    struct ts_sidecar sc;
    const char *extra[] = {"--config", conf, NULL};
    cr_assert_eq(ts_sidecar_start(&sc, 0, extra), 0);
    write_file(conf, "pool = 3\nlog-level = debug\nlog-format = json\n");
    cr_assert_eq(kill(sc.proc.pid, SIGHUP), 0);
    sleep_ms(300);
    /* debug is now on: a request leaves a debug line. */
    http_status("GET", sc.http_port, "/v1/kv/lc-any", NULL, NULL, NULL);
    sleep_ms(100);
    char *log = read_log(&sc.proc);
    cr_assert(strstr(log, "setting=log-level value=debug"), "%s", log);
    cr_assert(strstr(log, "needs a restart") && strstr(log, "setting=pool"), "%s", log);
    cr_assert(strstr(log, "setting=log-format value=json"), "%s", log);
    /* Lines after the reload are JSON objects at debug level. */
    cr_assert(strstr(log, "{\"ts\":") && strstr(log, "\"level\":\"debug\""), "%s", log);
    free(log);
    ts_stop(&sc.proc);
    unlink(conf);
}

/* ---- --check-config ---- */

static int run_sh(const char *cmd, char **out)
{
    const char *argv[] = {"sh", "-c", cmd, NULL};
    size_t len;
    return ts_run(argv, 10000, NULL, 0, out, &len);
}

Test(lifecycle, check_config_good_and_bad_files)
{
    char conf[] = "/tmp/lc_check_XXXXXX", tok[] = "/tmp/lc_ctok_XXXXXX";
    int fd = mkstemp(conf);
    cr_assert_geq(fd, 0);
    close(fd);
    fd = mkstemp(tok);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(tok, "very-secret-token\n");
    char text[512];
    snprintf(text, sizeof(text),
             "upstream = 10.0.0.1:9000\nauth-token-file = %s\napi-key = \"key with spaces\"\n"
             "pool = 4\n",
             tok);
    write_file(conf, text);

    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof(cmd), "FLO_SIDECAR_POOL=6 %s --check-config --config %s 2>&1", BIN, conf);
    int st = run_sh(cmd, &out);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strncmp(out, "configuration ok\n", 17) == 0, "%s", out);
    cr_assert(strstr(out, "upstream = 10.0.0.1:9000"), "%s", out);
    cr_assert(strstr(out, "pool = 6"), "env beats the file:\n%s", out);
    cr_assert(strstr(out, "api-key = <redacted>"), "%s", out);
    cr_assert_null(strstr(out, "very-secret-token"), "%s", out);
    cr_assert_null(strstr(out, "key with spaces"), "%s", out);
    free(out);

    /* A bad value: exit 2, the message names FILE:LINE. */
    snprintf(text, sizeof(text), "upstream = 10.0.0.1:9000\n# comment\npool = 999\n");
    write_file(conf, text);
    snprintf(cmd, sizeof(cmd), "%s --check-config --config %s 2>&1", BIN, conf);
    st = run_sh(cmd, &out);
    cr_assert_eq(st, 2, "%s", out);
    char where[64];
    snprintf(where, sizeof(where), "%s:3", conf);
    cr_assert(strstr(out, where) && strstr(out, "pool"), "%s", out);
    cr_assert_null(strstr(out, "configuration ok"), "%s", out);
    free(out);

    /* An unreadable token file is found by --check-config. */
    snprintf(text, sizeof(text), "dev = true\nauth-token-file = /nonexistent/tok\n");
    write_file(conf, text);
    st = run_sh(cmd, &out);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "/nonexistent/tok") && strstr(out, ":2"), "%s", out);
    free(out);
    unlink(conf);
    unlink(tok);
}
