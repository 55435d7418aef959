/*
 * The RESP front end through real processes: flo-dev as the upstream,
 * flo-sidecar serving RESP, and real clients (hiredis, raw sockets replaying
 * the handshakes of redis-py, go-redis, ioredis, Jedis and redis-cli, the
 * redis-cli and redis-benchmark binaries). A comparison test sends the same
 * commands to a real redis-server and asserts byte-identical replies where
 * docs/resp-commands.md claims identity.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"
#include "ts_resp_fixture.h"
#include "ts_resp_cmp.h"

#define REPLY_MAX (1u << 20) /* largest raw reply these tests read */
#define IO_MS     5000       /* bound for one raw exchange */

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void setup(void)
{
    ts_resp_fixture_start(&dev, &sc, NULL);
}

static void teardown(void)
{
    ts_resp_fixture_stop(&dev, &sc);
}

static void expect_status(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "no reply to '%s'", fmt);
    cr_assert(r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR, "'%s': reply type %d",
              fmt, r->type);
    cr_assert_str_eq(r->str, want, "'%s'", fmt);
    freeReplyObject(r);
}

static void expect_bulk(redisContext *c, const void *want, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "'%s': type %d (%s)", fmt, r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq((size_t)r->len, len, "'%s': len %zu want %zu", fmt, (size_t)r->len, len);
    cr_assert_eq(memcmp(r->str, want, len), 0, "'%s': bytes differ", fmt);
    freeReplyObject(r);
}

/*
 * Length of one complete RESP2/RESP3 value at b[0..n): > 0, 0 if more bytes
 * are needed, -1 if malformed. Used to read raw replies, including RESP3
 * types hiredis 0.14 cannot parse.
 */
static long resp_value_len(const char *b, size_t n)
{
    if (n == 0) {
        return 0;
    }
    const char *cr = memchr(b, '\r', n);
    if (!cr || (size_t)(cr - b) + 1 >= n) {
        return 0;
    }
    long hdr = (long)(cr - b) + 2;
    long long v = atoll(b + 1);
    switch (b[0]) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
        return hdr;
    case '$':
    case '=':
    case '!':
        if (v < 0) {
            return hdr;
        }
        return (size_t)(hdr + v + 2) <= n ? hdr + v + 2 : 0;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
        if (v < 0) {
            return hdr;
        }
        long long elems = (b[0] == '%' || b[0] == '|') ? v * 2 : v;
        long at = hdr;
        for (long long i = 0; i < elems; i++) {
            long l = resp_value_len(b + at, n - (size_t)at);
            if (l <= 0) {
                return l;
            }
            at += l;
        }
        return at;
    }
    default:
        return -1;
    }
}

/* Read `count` complete replies from fd into a malloc'd buffer (bounded
 * by IO_MS per read). Returns its length, or -1 on timeout/EOF first. */
static long read_replies(int fd, int count, char **out)
{
    size_t cap = REPLY_MAX, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    int have = 0;
    size_t at = 0;
    while (have < count) {
        long l = resp_value_len(buf + at, len - at);
        if (l < 0) {
            break;
        }
        if (l > 0) {
            at += (size_t)l;
            have++;
            continue;
        }
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, IO_MS) <= 0) {
            break;
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    *out = buf;
    return have == count ? (long)at : -1;
}

/* Send raw bytes on a fresh connection and read `count` replies. */
static long raw_exchange(uint16_t port, const char *send, size_t n, int count, char **out)
{
    int fd = ts_connect(port, IO_MS);
    cr_assert_geq(fd, 0, "connect to %u", port);
    cr_assert_eq(ts_write_full(fd, send, n), 0);
    long l = read_replies(fd, count, out);
    close(fd);
    return l;
}

/* True if the peer closes the connection within the bound. */
static bool peer_closes(int fd)
{
    char b[256];
    uint64_t deadline = ts_now_ms() + IO_MS;
    while (ts_now_ms() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) < 0) {
            return false;
        }
        if (pfd.revents) {
            ssize_t r = recv(fd, b, sizeof(b), 0);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                return true;
            }
        }
    }
    return false;
}

#define LIT(s) s, sizeof(s) - 1

/* ---- basic KV ---- */

TestSuite(resp, .init = setup, .fini = teardown, .timeout = 60);
/* Tests that start the sidecar with their own flags. */
TestSuite(resp_cfg, .fini = teardown, .timeout = 60);

Test(resp, binary_and_empty_values_round_trip)
{
    redisContext *c = ts_resp_conn(&sc);
    char bin[256];
    for (int i = 0; i < 256; i++) {
        bin[i] = (char)i;
    }
    expect_status(c, "OK", "SET %s %b", "bin", bin, sizeof(bin));
    expect_bulk(c, bin, sizeof(bin), "GET %s", "bin");
    expect_status(c, "OK", "SET %s %b", "empty", "", (size_t)0);
    expect_bulk(c, "", 0, "GET %s", "empty");
    const char crlf[] = "a\r\nb\r\n\0c";
    expect_status(c, "OK", "SET %b %b", "k\r\n", (size_t)3, crlf, sizeof(crlf));
    expect_bulk(c, crlf, sizeof(crlf), "GET %b", "k\r\n", (size_t)3);
    /* 100 KiB: above hiredis' and our read chunk sizes. */
    size_t big = 100 * 1024;
    char *v = malloc(big);
    for (size_t i = 0; i < big; i++) {
        v[i] = (char)(i * 7);
    }
    expect_status(c, "OK", "SET big %b", v, big);
    expect_bulk(c, v, big, "GET big");
    free(v);
    ts_resp_expect_nil(c, "GET nosuchkey");
    redisFree(c);
}

Test(resp, set_nx_xx_get)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_nil(c, "SET k v XX");
    ts_resp_expect_nil(c, "GET k");
    expect_status(c, "OK", "SET k v1 NX");
    ts_resp_expect_nil(c, "SET k v2 NX");
    expect_bulk(c, LIT("v1"), "GET k");
    expect_status(c, "OK", "SET k v3 XX");
    expect_bulk(c, LIT("v3"), "SET k v4 GET");
    expect_bulk(c, LIT("v4"), "GET k");
    ts_resp_expect_nil(c, "SET fresh x GET");
    expect_bulk(c, LIT("x"), "GET fresh");
    /* NX GET on an existing key: nothing written, old value answered. */
    expect_bulk(c, LIT("v4"), "SET k v5 NX GET");
    expect_bulk(c, LIT("v4"), "GET k");
    /* XX GET on a missing key: nil, nothing written. */
    ts_resp_expect_nil(c, "SET missing v XX GET");
    ts_resp_expect_nil(c, "GET missing");
    redisFree(c);
}

Test(resp, set_get_is_atomic_under_contention)
{
    /* Two clients pipeline SET ... GET on one key. With CAS every version is
     * replaced exactly once: no old value may be returned twice. */
    enum { N = 200 };
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    for (int i = 0; i < N; i++) {
        redisAppendCommand(a, "SET hot a%d GET", i);
        redisAppendCommand(b, "SET hot b%d GET", i);
    }
    char *seen[2 * N];
    size_t nseen = 0, nnil = 0, conflicts = 0;
    for (int i = 0; i < 2 * N; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(i % 2 ? b : a, (void **)&r), REDIS_OK);
        if (r->type == REDIS_REPLY_STRING) {
            for (size_t k = 0; k < nseen; k++) {
                cr_assert_str_neq(seen[k], r->str, "old value %s returned twice", r->str);
            }
            seen[nseen++] = strdup(r->str);
        } else if (r->type == REDIS_REPLY_NIL) {
            nnil++;
        } else {
            cr_assert_eq(r->type, REDIS_REPLY_ERROR);
            cr_assert_eq(strncmp(r->str, "CONFLICT ", 9), 0, "%s", r->str);
            conflicts++;
        }
        freeReplyObject(r);
    }
    cr_assert_eq(nnil, 1, "exactly one SET ... GET saw the key absent");
    cr_assert_eq(nseen + nnil + conflicts, 2 * N);
    for (size_t k = 0; k < nseen; k++) {
        free(seen[k]);
    }
    redisFree(a);
    redisFree(b);
}

Test(resp, set_option_errors_match_redis)
{
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "ERR syntax error", "SET k v NX XX");
    expect_status(c, "ERR syntax error", "SET k v EX 10 PX 100");
    expect_status(c, "ERR syntax error", "SET k v EX");
    expect_status(c, "ERR syntax error", "SET k v BOGUS");
    expect_status(c, "ERR syntax error", "SET k v KEEPTTL EX 1");
    expect_status(c, "ERR invalid expire time in 'set' command", "SET k v EX 0");
    expect_status(c, "ERR invalid expire time in 'set' command", "SET k v PX -5");
    expect_status(c, "ERR value is not an integer or out of range", "SET k v EX 1.5");
    ts_resp_expect_err(c, "ERR SET KEEPTTL is not supported", "SET k v KEEPTTL");
    ts_resp_expect_nil(c, "GET k"); /* none of these wrote */
    redisFree(c);
}

/* Poll GET until nil, bounded. */
static bool expires_within(redisContext *c, const char *key, int ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)ms;
    while (ts_now_ms() < deadline) {
        redisReply *r = ts_resp_cmd(c, "GET %s", key);
        bool gone = r->type == REDIS_REPLY_NIL;
        freeReplyObject(r);
        if (gone) {
            return true;
        }
        usleep(20 * 1000);
    }
    return false;
}

Test(resp, set_ttl_options_expire_keys)
{
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "OK", "SET px v PX 150");
    expect_bulk(c, LIT("v"), "GET px");
    cr_assert(expires_within(c, "px", 5000), "PX key did not expire");

    expect_status(c, "OK", "SET ex v EX 1");
    expect_bulk(c, LIT("v"), "GET ex");
    cr_assert(expires_within(c, "ex", 5000), "EX key did not expire");

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    expect_status(c, "OK", "SET pxat v PXAT %lld", now_ms + 300);
    expect_bulk(c, LIT("v"), "GET pxat");
    cr_assert(expires_within(c, "pxat", 5000), "PXAT key did not expire");

    expect_status(c, "OK", "SET exat v EXAT %lld", now_ms / 1000 + 2);
    cr_assert(expires_within(c, "exat", 6000), "EXAT key did not expire");

    /* A long TTL keeps the key. */
    expect_status(c, "OK", "SET long v EX 3600");
    usleep(300 * 1000);
    expect_bulk(c, LIT("v"), "GET long");
    redisFree(c);
}

Test(resp, del_and_exists_count_like_redis)
{
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "OK", "SET a 1");
    expect_status(c, "OK", "SET b 2");
    ts_resp_expect_int(c, 2, "EXISTS a b");
    ts_resp_expect_int(c, 3, "EXISTS a a b nope");
    ts_resp_expect_int(c, 0, "EXISTS nope");
    ts_resp_expect_int(c, 2, "DEL a b nope");
    ts_resp_expect_int(c, 0, "DEL a");
    ts_resp_expect_int(c, 0, "EXISTS a b");
    /* Many keys: more than the in-flight window. */
    for (int i = 0; i < 300; i++) {
        redisAppendCommand(c, "SET m%d x", i);
    }
    for (int i = 0; i < 300; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    const char *argv[601];
    size_t lens[601];
    char names[600][8];
    argv[0] = "EXISTS";
    lens[0] = 6;
    for (int i = 0; i < 600; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i % 300);
        argv[i + 1] = names[i];
        lens[i + 1] = strlen(names[i]);
    }
    redisReply *r = redisCommandArgv(c, 601, argv, lens);
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(r->integer, 600);
    freeReplyObject(r);
    argv[0] = "DEL";
    lens[0] = 3;
    r = redisCommandArgv(c, 601, argv, lens);
    cr_assert_not_null(r);
    cr_assert_eq(r->integer, 300, "duplicates count once for DEL: %lld", r->integer);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp, pipeline_of_1000_replies_in_order)
{
    redisContext *c = ts_resp_conn(&sc);
    for (int i = 0; i < 500; i++) {
        redisAppendCommand(c, "SET p%d v%d", i, i);
        redisAppendCommand(c, "GET p%d", i);
    }
    for (int i = 0; i < 500; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        cr_assert_str_eq(r->str, want);
        freeReplyObject(r);
    }
    redisFree(c);
}

Test(resp, big_raw_pipeline_with_backpressure)
{
    /* 5000 commands in one write, more than the per-client pending limit:
     * reading pauses and resumes, every reply arrives in order. */
    size_t n = 5000;
    struct {
        char *p;
        size_t len;
    } b = {malloc(n * 40), 0};
    for (size_t i = 0; i < n; i++) {
        char arg[16];
        int al = snprintf(arg, sizeof(arg), "%zu", i);
        b.len += (size_t)sprintf(b.p + b.len, "*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n", al, arg);
    }
    char *out = NULL;
    long l = raw_exchange(sc.resp_port, b.p, b.len, (int)n, &out);
    cr_assert_gt(l, 0, "did not get %zu replies", n);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        char want[32];
        int wl = snprintf(want, sizeof(want), "$%d\r\n%zu\r\n", snprintf(NULL, 0, "%zu", i), i);
        cr_assert_eq(memcmp(out + at, want, (size_t)wl), 0, "reply %zu out of order", i);
        at += (size_t)wl;
    }
    free(out);
    free(b.p);
}

Test(resp, use_isolates_namespaces)
{
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "OK", "USE nsa");
    expect_status(c, "OK", "SET k a");
    expect_status(c, "OK", "USE nsb");
    ts_resp_expect_nil(c, "GET k");
    expect_status(c, "OK", "SET k b");
    expect_status(c, "OK", "USE nsa");
    expect_bulk(c, LIT("a"), "GET k");
    redisContext *c2 = ts_resp_conn(&sc); /* a new connection starts in the default namespace */
    ts_resp_expect_nil(c2, "GET k");
    char ns[300];
    memset(ns, 'n', sizeof(ns) - 1);
    ns[sizeof(ns) - 1] = 0;
    ts_resp_expect_err(c2, "ERR namespace too large", "USE %s", ns);
    expect_status(c2, "PONG", "PING");
    redisFree(c2);
    redisFree(c);
}

Test(resp, oversized_key_refused_connection_usable)
{
    redisContext *c = ts_resp_conn(&sc);
    size_t klen = 64 * 1024 + 1;
    char *k = malloc(klen);
    memset(k, 'k', klen);
    ts_resp_expect_err(c, "ERR key too large", "SET %b v", k, klen);
    ts_resp_expect_err(c, "ERR key too large", "GET %b", k, klen);
    ts_resp_expect_err(c, "ERR key too large", "DEL a %b", k, klen);
    expect_status(c, "PONG", "PING");
    expect_status(c, "OK", "SET ok v");
    free(k);
    redisFree(c);
}

Test(resp_cfg, oversized_value_refused)
{
    const char *extra[] = {"--max-body", "1K", NULL};
    ts_resp_fixture_start(&dev, &sc, extra);
    redisContext *c = ts_resp_conn(&sc);
    char v[2000];
    memset(v, 'v', sizeof(v));
    ts_resp_expect_err(c, "ERR value too large", "SET k %b", v, sizeof(v));
    ts_resp_expect_nil(c, "GET k");
    expect_status(c, "OK", "SET k %b", v, (size_t)1024);
    expect_status(c, "PONG", "PING");
    redisFree(c);
}

/* ---- protocol versions, auth, errors ---- */

Test(resp, hello_3_and_2)
{
    int fd = ts_connect(sc.resp_port, IO_MS);
    cr_assert_geq(fd, 0);
    char *out = NULL;
    const char hello3[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(hello3)), 0);
    long l = read_replies(fd, 1, &out);
    cr_assert_gt(l, 0);
    const char want3[] = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n"
                         "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:";
    cr_assert_eq(memcmp(out, want3, sizeof(want3) - 1), 0, "%.*s", (int)l, out);
    const char tail3[] = "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                         "$7\r\nmodules\r\n*0\r\n";
    cr_assert_eq(memcmp(out + l - (sizeof(tail3) - 1), tail3, sizeof(tail3) - 1), 0);
    free(out);
    /* RESP3 null and map. */
    const char cmds[] = "*2\r\n$3\r\nGET\r\n$6\r\nnokey3\r\n"
                        "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(cmds)), 0);
    l = read_replies(fd, 2, &out);
    cr_assert_eq(l, (long)strlen("_\r\n%1\r\n$4\r\nsave\r\n$0\r\n\r\n"));
    cr_assert_eq(memcmp(out, "_\r\n%1\r\n$4\r\nsave\r\n$0\r\n\r\n", (size_t)l), 0);
    free(out);
    /* Back to RESP2. */
    const char hello2[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n*2\r\n$3\r\nGET\r\n$6\r\nnokey3\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(hello2)), 0);
    l = read_replies(fd, 2, &out);
    cr_assert_gt(l, 0);
    cr_assert_eq(memcmp(out, "*14\r\n$6\r\nserver\r\n", 17), 0);
    cr_assert_eq(memcmp(out + l - 5, "$-1\r\n", 5), 0);
    free(out);
    const char hello4[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n4\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(hello4)), 0);
    l = read_replies(fd, 1, &out);
    cr_assert_eq(l, (long)strlen("-NOPROTO unsupported protocol version\r\n"));
    cr_assert_eq(memcmp(out, "-NOPROTO unsupported protocol version\r\n", (size_t)l), 0);
    free(out);
    close(fd);
}

Test(resp_cfg, auth_required_with_token)
{
    const char *extra[] = {"--auth-token", "s3cret", NULL};
    ts_resp_fixture_start(&dev, &sc, extra);
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "NOAUTH Authentication required.", "GET k");
    expect_status(c, "NOAUTH Authentication required.", "CLIENT ID");
    ts_resp_expect_err(c, "ERR unknown command 'NOPE'", "NOPE");
    expect_status(c, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH wrong");
    expect_status(c, "WRONGPASS invalid username-password pair or user is disabled.",
                  "AUTH someone s3cret");
    ts_resp_expect_err(c, "NOAUTH HELLO must be called with the client already authenticated",
                       "HELLO 2");
    expect_status(c, "NOAUTH Authentication required.", "SET k v");
    expect_status(c, "OK", "AUTH s3cret");
    expect_status(c, "OK", "SET k v");
    expect_bulk(c, LIT("v"), "GET k");
    expect_status(c, "RESET", "RESET"); /* back to unauthenticated */
    expect_status(c, "NOAUTH Authentication required.", "GET k");
    redisReply *r = ts_resp_cmd(c, "HELLO 2 AUTH default s3cret SETNAME app1");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 14);
    freeReplyObject(r);
    expect_bulk(c, LIT("app1"), "CLIENT GETNAME");
    expect_status(c, "OK", "AUTH default s3cret");
    redisFree(c);
}

Test(resp, unknown_command_and_arity_errors)
{
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ", "FOO a b");
    expect_status(c, "ERR unknown command 'foo', with args beginning with: ", "foo");
    expect_status(c, "ERR wrong number of arguments for 'get' command", "GET");
    expect_status(c, "ERR wrong number of arguments for 'set' command", "SET k");
    expect_status(c, "ERR wrong number of arguments for 'del' command", "DEL");
    expect_status(c, "ERR wrong number of arguments for 'client|setname' command",
                  "CLIENT SETNAME");
    expect_status(c, "ERR unknown subcommand 'FOO'. Try CLIENT HELP.", "CLIENT FOO");
    expect_status(c, "ERR Protocol version is not an integer or out of range", "HELLO x");
    expect_status(c, "ERR Syntax error in HELLO option 'FOO'", "HELLO 3 FOO");
    expect_status(c, "OK", "SELECT 0");
    ts_resp_expect_err(c, "ERR DB index is out of range", "SELECT 1");
    expect_status(c, "PONG", "PING"); /* still usable */
    redisFree(c);
}

Test(resp, protocol_error_replies_then_closes)
{
    int fd = ts_connect(sc.resp_port, IO_MS);
    cr_assert_geq(fd, 0);
    const char bad[] = "PING\r\n*1\r\n:1\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(bad)), 0);
    char *out = NULL;
    long l = read_replies(fd, 2, &out);
    const char want[] = "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n";
    cr_assert_eq(l, (long)sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, sizeof(want) - 1), 0);
    free(out);
    cr_assert(peer_closes(fd), "connection not closed after a protocol error");
    close(fd);
}

Test(resp, quit_replies_ok_then_closes)
{
    int fd = ts_connect(sc.resp_port, IO_MS);
    const char q[] = "*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(q)), 0);
    char *out = NULL;
    cr_assert_eq(read_replies(fd, 1, &out), 5);
    cr_assert_eq(memcmp(out, "+OK\r\n", 5), 0);
    free(out);
    cr_assert(peer_closes(fd));
    close(fd);
}

Test(resp, inline_commands_like_telnet)
{
    char *out = NULL;
    const char in[] = "SET \"sp ace\" 'v 1'\r\nGET \"sp ace\"\r\n\r\nEXISTS \"sp ace\"\n";
    long l = raw_exchange(sc.resp_port, LIT(in), 3, &out);
    const char want[] = "+OK\r\n$3\r\nv 1\r\n:1\r\n";
    cr_assert_eq(l, (long)sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, sizeof(want) - 1), 0);
    free(out);
}

Test(resp, disconnect_with_calls_in_flight)
{
    for (int round = 0; round < 5; round++) {
        int fd = ts_connect(sc.resp_port, IO_MS);
        char buf[64 * 200];
        size_t len = 0;
        for (int i = 0; i < 200; i++) {
            len += (size_t)sprintf(buf + len, "*2\r\n$3\r\nGET\r\n$2\r\nk%d\r\n", i % 10);
        }
        cr_assert_eq(ts_write_full(fd, buf, len), 0);
        close(fd); /* gone before the replies */
    }
    redisContext *c = ts_resp_conn(&sc);
    expect_status(c, "PONG", "PING");
    expect_status(c, "OK", "SET after v");
    redisFree(c);
}

/* ---- client library handshakes (raw bytes as each library sends them) ---- */

Test(resp, handshake_redis_py)
{
    char *out = NULL;
    const char hs[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    const char si[] = "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$8\r\nredis-py\r\n"
                      "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$7\r\nLIB-VER\r\n$5\r\n5.0.1\r\n";
    int fd = ts_connect(sc.resp_port, IO_MS);
    cr_assert_eq(ts_write_full(fd, LIT(hs)), 0);
    long l = read_replies(fd, 1, &out);
    cr_assert_gt(l, 0);
    cr_assert_eq(out[0], '%');
    free(out);
    cr_assert_eq(ts_write_full(fd, LIT(si)), 0);
    l = read_replies(fd, 2, &out);
    cr_assert_eq(l, 10);
    cr_assert_eq(memcmp(out, "+OK\r\n+OK\r\n", 10), 0);
    free(out);
    const char info[] = "*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n";
    cr_assert_eq(ts_write_full(fd, LIT(info)), 0);
    l = read_replies(fd, 1, &out);
    cr_assert_gt(l, 0);
    cr_assert_eq(out[0], '=', "RESP3 verbatim string expected");
    cr_assert_not_null(memmem(out, (size_t)l, "lib-name=redis-py lib-ver=5.0.1", 31));
    cr_assert_not_null(memmem(out, (size_t)l, "resp=3", 6));
    free(out);
    close(fd);
}

Test(resp, handshake_go_redis_pipelined)
{
    char *out = NULL;
    const char hs[] = "*2\r\n$5\r\nhello\r\n$1\r\n3\r\n"
                      "*4\r\n$6\r\nclient\r\n$7\r\nsetinfo\r\n$8\r\nLIB-NAME\r\n$8\r\ngo-redis\r\n"
                      "*4\r\n$6\r\nclient\r\n$7\r\nsetinfo\r\n$7\r\nLIB-VER\r\n$5\r\n9.5.1\r\n"
                      "*1\r\n$4\r\nping\r\n";
    long l = raw_exchange(sc.resp_port, LIT(hs), 4, &out);
    cr_assert_gt(l, 0);
    cr_assert_eq(out[0], '%');
    const char tail[] = "+OK\r\n+OK\r\n+PONG\r\n";
    cr_assert_eq(memcmp(out + l - (sizeof(tail) - 1), tail, sizeof(tail) - 1), 0);
    free(out);
}

Test(resp, handshake_ioredis_info_loading)
{
    char *out = NULL;
    const char hs[] = "*1\r\n$4\r\ninfo\r\n";
    long l = raw_exchange(sc.resp_port, LIT(hs), 1, &out);
    cr_assert_gt(l, 0);
    cr_assert_eq(out[0], '$');
    cr_assert_not_null(memmem(out, (size_t)l, "\r\nloading:0\r\n", 13));
    cr_assert_not_null(memmem(out, (size_t)l, "redis_version:7.", 16));
    cr_assert_not_null(memmem(out, (size_t)l, "flo_sidecar_version:", 20));
    cr_assert_not_null(memmem(out, (size_t)l, "# Clients\r\nconnected_clients:", 29));
    free(out);
}

Test(resp, handshake_jedis)
{
    char *out = NULL;
    const char hs[] = "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nlib-name\r\n$5\r\njedis\r\n"
                      "*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$7\r\nlib-ver\r\n$5\r\n5.1.0\r\n"
                      "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
                      "*1\r\n$4\r\nPING\r\n";
    long l = raw_exchange(sc.resp_port, LIT(hs), 4, &out);
    const char want[] = "+OK\r\n+OK\r\n+OK\r\n+PONG\r\n";
    cr_assert_eq(l, (long)sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, sizeof(want) - 1), 0);
    free(out);
}

Test(resp, handshake_redis_cli_command_docs)
{
    char *out = NULL;
    const char hs[] = "*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n"
                      "*2\r\n$7\r\nCOMMAND\r\n$5\r\nCOUNT\r\n"
                      "*1\r\n$7\r\nCOMMAND\r\n";
    long l = raw_exchange(sc.resp_port, LIT(hs), 3, &out);
    cr_assert_gt(l, 0, "COMMAND replies malformed or missing");
    /* The count matches the entries of COMMAND and COMMAND DOCS. */
    long docs = atol(out + 1);
    const char *cnt = memchr(out + resp_value_len(out, (size_t)l), ':', 4);
    cr_assert_not_null(cnt);
    long n = atol(cnt + 1);
    cr_assert_gt(n, 10);
    cr_assert_eq(docs, 2 * n);
    free(out);
}

/* ---- real client binaries ---- */

Test(resp, redis_cli_binary)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", sc.resp_port);
    char *out = NULL;
    size_t len = 0;
    const char *set[] = {"redis-cli", "-p", port, "SET", "cli", "hello world", NULL};
    int st = ts_run(set, 10000, NULL, 0, &out, &len);
    if (st == -1) {
        cr_skip_test("redis-cli not runnable");
    }
    cr_assert_eq(st, 0);
    cr_assert_str_eq(out, "OK\n");
    free(out);
    const char *get[] = {"redis-cli", "-p", port, "--no-raw", "GET", "cli", NULL};
    cr_assert_eq(ts_run(get, 10000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "\"hello world\"\n");
    free(out);
    const char *nil[] = {"redis-cli", "-p", port, "--no-raw", "GET", "nokey", NULL};
    cr_assert_eq(ts_run(nil, 10000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "(nil)\n");
    free(out);
    const char *ex[] = {"redis-cli", "-p", port, "--no-raw", "EXISTS", "cli", "cli", NULL};
    cr_assert_eq(ts_run(ex, 10000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "(integer) 2\n");
    free(out);
    const char *r3[] = {"redis-cli", "-3", "-p", port, "--no-raw", "GET", "nokey", NULL};
    cr_assert_eq(ts_run(r3, 10000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "(nil)\n");
    free(out);
}

Test(resp, redis_benchmark_runs_clean, .timeout = 120)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", sc.resp_port);
    const char *argv[] = {"redis-benchmark", "-p", port, "-t", "set,get", "-n",
                          "10000",           "-q", NULL};
    char *out = NULL;
    size_t len = 0;
    int st = ts_run(argv, 100000, NULL, 0, &out, &len);
    if (st == -1 && !out) {
        cr_skip_test("redis-benchmark not runnable");
    }
    cr_assert_eq(st, 0, "redis-benchmark failed: %s", out ? out : "");
    cr_assert_not_null(out);
    /* -q prints progress lines ending in \r, then one final line per test. */
    const char *set = strstr(out, "SET: ");
    const char *get = strstr(out, "GET: ");
    cr_assert_not_null(set, "%s", out);
    cr_assert_not_null(get, "%s", out);
    cr_assert_not_null(strstr(out, "requests per second"));
    const char *s = out;
    int final_lines = 0;
    while ((s = strstr(s, "requests per second")) != NULL) {
        final_lines++;
        s++;
    }
    cr_assert_eq(final_lines, 2, "%s", out);
    cr_assert_null(strstr(out, "ERR"), "%s", out);
    cr_assert_null(strstr(out, "rror"), "%s", out);
    free(out);
}

/* ---- byte-for-byte comparison with redis-server ---- */

static const char *const compare_cmds[] = {
    "PING",
    "PING hello",
    "ECHO \"a b\"",
    "SET k v",
    "GET k",
    "GET missing",
    "SET k v2 GET",
    "SET k v3 NX",
    "SET k2 v XX",
    "SET k2 v XX GET",
    "SET k v NX GET",
    "SET k v NX XX",
    "SET k v EX 0",
    "SET k v EX abc",
    "SET k v PX",
    "SET k v EX 10 PX 10",
    "SET k v EX 100",
    "SET empty \"\"",
    "GET empty",
    "SET bin \"\\x00\\xff\\r\\n\"",
    "GET bin",
    "EXISTS k k missing empty",
    "DEL k missing k",
    "DEL k",
    "EXISTS k",
    "FOO a b",
    "GET",
    "SET k",
    "ECHO",
    "CONFIG GET save",
    "CONFIG GET appendonly",
    "CONFIG GET nosuchparam",
    "CONFIG FOO",
    "SELECT 0",
    "SELECT abc",
    "CLIENT SETNAME \"bad name\"",
    "CLIENT SETNAME",
    "CLIENT GETNAME",
    "CLIENT SETNAME good",
    "CLIENT GETNAME",
    "CLIENT FOO",
    "COMMAND FOO",
    "HELLO 4",
    "HELLO abc",
    "HELLO 3 FOO",
    "AUTH x",
    "AUTH default x",
    "AUTH nobody x",
    "AUTH a b c",
    "RESET",
    "QUIT",
};

Test(resp, replies_identical_to_redis_server)
{
    ts_resp_compare_with_redis(sc.resp_port, compare_cmds,
                               sizeof(compare_cmds) / sizeof(compare_cmds[0]));
}
