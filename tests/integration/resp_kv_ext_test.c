/*
 * The KV commands of issue 4 through the RESP front end, over real sockets:
 * flo-dev as the upstream, flo-sidecar serving RESP, hiredis and the
 * redis-cli binary as clients. Covers MGET/MSET, SETNX/SETEX/PSETEX,
 * GETDEL/GETEX, the counters, the EXPIRE family, TTL/PTTL/PERSIST/TYPE,
 * SCAN/KEYS/DBSIZE, JSON.*, MULTI/EXEC, the FLO.* commands and their
 * long-polls, bad input, and a byte-for-byte comparison with redis-server
 * for the commands docs/resp-commands.md marks identical.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
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

#define IO_MS 5000 /* bound for one raw exchange */

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

TestSuite(resp_ext, .init = setup, .fini = teardown, .timeout = 60);

/* Poll GET until nil; true if the key disappeared within `ms`. */
static bool gone_within(redisContext *c, const char *key, int ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)ms;
    while (ts_now_ms() < deadline) {
        redisReply *r = ts_resp_cmd(c, "GET %s", key);
        bool nil = r->type == REDIS_REPLY_NIL;
        freeReplyObject(r);
        if (nil) {
            return true;
        }
        usleep(20 * 1000);
    }
    return false;
}

/* ---- MGET / MSET ---- */

Test(resp_ext, mget_reports_missing_keys_across_chunks)
{
    redisContext *c = ts_resp_conn(&sc);
    /* 300 present keys and 300 missing ones interleaved: 600 keys need three
     * kv_mget requests of at most 256 keys each. */
    for (int i = 0; i < 300; i++) {
        redisAppendCommand(c, "SET mk:%d val:%d", i * 2, i * 2);
    }
    for (int i = 0; i < 300; i++) {
        redisReply *r = ts_resp_read_reply(c);
        cr_assert_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    const char *argv[601];
    size_t lens[601];
    char names[600][16];
    argv[0] = "MGET";
    lens[0] = 4;
    for (int i = 0; i < 600; i++) {
        snprintf(names[i], sizeof(names[i]), "mk:%d", i);
        argv[i + 1] = names[i];
        lens[i + 1] = strlen(names[i]);
    }
    redisReply *r = redisCommandArgv(c, 601, argv, lens);
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 600);
    for (int i = 0; i < 600; i++) {
        if (i % 2 == 0) {
            char want[16];
            snprintf(want, sizeof(want), "val:%d", i);
            cr_assert_eq(r->element[i]->type, REDIS_REPLY_STRING, "key %d", i);
            cr_assert_str_eq(r->element[i]->str, want);
        } else {
            cr_assert_eq(r->element[i]->type, REDIS_REPLY_NIL, "key %d", i);
        }
    }
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_ext, mset_last_duplicate_wins_and_arity)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "MSET a 1 b 2 a 3");
    ts_resp_expect_str(c, "3", "GET a");
    ts_resp_expect_str(c, "2", "GET b");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'mset' command", "MSET a 1 b");
    ts_resp_expect_status(c, "PONG", "PING");
    redisFree(c);
}

/* ---- SETNX / SETEX / PSETEX / GETDEL / GETEX ---- */

Test(resp_ext, setnx_setex_psetex)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_int(c, 1, "SETNX nx v1");
    ts_resp_expect_int(c, 0, "SETNX nx v2");
    ts_resp_expect_str(c, "v1", "GET nx");
    ts_resp_expect_status(c, "OK", "SETEX ex 1 v");
    ts_resp_expect_str(c, "v", "GET ex");
    cr_assert(gone_within(c, "ex", 3000), "SETEX 1 s did not expire");
    ts_resp_expect_status(c, "OK", "PSETEX px 150 v");
    ts_resp_expect_str(c, "v", "GET px");
    cr_assert(gone_within(c, "px", 2000), "PSETEX 150 ms did not expire");
    ts_resp_expect_err(c, "ERR invalid expire time in 'setex' command", "SETEX ex 0 v");
    ts_resp_expect_err(c, "ERR invalid expire time in 'psetex' command", "PSETEX ex -5 v");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "SETEX ex abc v");
    redisFree(c);
}

Test(resp_ext, getdel_and_getex)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "SET gd v");
    ts_resp_expect_str(c, "v", "GETDEL gd");
    ts_resp_expect_nil(c, "GETDEL gd");
    ts_resp_expect_nil(c, "GET gd");

    ts_resp_expect_status(c, "OK", "SET ge v");
    ts_resp_expect_str(c, "v", "GETEX ge");
    ts_resp_expect_str(c, "v", "GETEX ge PX 200");
    cr_assert(gone_within(c, "ge", 2000), "GETEX PX did not expire the key");

    ts_resp_expect_status(c, "OK", "SET ge2 v PX 300");
    ts_resp_expect_str(c, "v", "GETEX ge2 PERSIST");
    usleep(600 * 1000);
    ts_resp_expect_str(c, "v", "GET ge2");

    /* A deadline in the past deletes the key, as in Redis. */
    ts_resp_expect_str(c, "v", "GETEX ge2 EXAT 1");
    ts_resp_expect_nil(c, "GET ge2");
    ts_resp_expect_nil(c, "GETEX missing EX 10");
    ts_resp_expect_err(c, "ERR syntax error", "GETEX ge EX 10 PX 10");
    ts_resp_expect_err(c, "ERR invalid expire time in 'getex' command", "GETEX ge EX 0");
    redisFree(c);
}

/* ---- counters ---- */

Test(resp_ext, incr_family_overflow_and_type_conflicts)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_int(c, 1, "INCR n");
    ts_resp_expect_int(c, 11, "INCRBY n 10");
    ts_resp_expect_int(c, 10, "DECR n");
    ts_resp_expect_int(c, 7, "DECRBY n 3");
    ts_resp_expect_int(c, -3, "INCRBY n -10");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "INCRBY n abc");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "INCRBY n 1.5");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range",
                       "INCRBY n 99999999999999999999");
    ts_resp_expect_err(c, "ERR decrement would overflow", "DECRBY n -9223372036854775808");
    /* A plain value and a counter cannot share a key. */
    ts_resp_expect_status(c, "OK", "SET s hello");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "INCR s");
    ts_resp_expect_str(c, "hello", "GET s");
    ts_resp_expect_int(c, LLONG_MAX, "INCRBY big 9223372036854775807");
    ts_resp_expect_err(c, "ERR increment or decrement would overflow", "INCR big");
    ts_resp_expect_int(c, LLONG_MAX, "INCRBY big 0");
    ts_resp_expect_int(c, -7, "DECRBY neg 7");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'incrby' command", "INCRBY n");
    ts_resp_expect_int(c, -3, "INCRBY n 0");
    redisFree(c);
}

/* ---- EXPIRE family, TTL, PERSIST, TYPE ---- */

Test(resp_ext, expire_family_ttl_persist_type)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_int(c, 0, "EXPIRE missing 100");
    ts_resp_expect_status(c, "OK", "SET e v");
    ts_resp_expect_int(c, 1, "EXPIRE e 100");
    ts_resp_expect_int(c, 1, "PEXPIRE e 150");
    cr_assert(gone_within(c, "e", 2000), "PEXPIRE did not expire the key");

    ts_resp_expect_status(c, "OK", "SET e v");
    ts_resp_expect_int(c, 1, "PEXPIREAT e 1");
    ts_resp_expect_nil(c, "GET e");
    ts_resp_expect_status(c, "OK", "SET e v");
    ts_resp_expect_int(c, 1, "EXPIRE e -1");
    ts_resp_expect_int(c, 0, "EXISTS e");

    ts_resp_expect_status(c, "OK", "SET e v");
    char cmdline[64];
    snprintf(cmdline, sizeof(cmdline), "EXPIREAT e %llu", (unsigned long long)time(NULL) + 1000);
    ts_resp_expect_int(c, 1, cmdline);
    ts_resp_expect_str(c, "v", "GET e");

    ts_resp_expect_err(c, "ERR EXPIRE options NX, XX, GT and LT are not supported",
                       "EXPIRE e 10 NX");
    ts_resp_expect_err(c, "ERR Unsupported option FOO", "EXPIRE e 10 FOO");
    ts_resp_expect_err(c, "ERR NX and XX, GT or LT options at the same time are not compatible",
                       "EXPIRE e 10 NX XX");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "EXPIRE e abc");
    ts_resp_expect_err(c, "ERR invalid expire time in 'expire' command",
                       "EXPIRE e 9223372036854775807");

    ts_resp_expect_int(c, -2, "TTL missing");
    ts_resp_expect_int(c, -2, "PTTL missing");
    ts_resp_expect_err(c, "ERR TTL is not supported by flo-sidecar", "TTL e");
    ts_resp_expect_err(c, "ERR PTTL is not supported by flo-sidecar", "PTTL e");

    /* PERSIST removes the TTL: the key outlives it. */
    ts_resp_expect_status(c, "OK", "SET p v PX 300");
    ts_resp_expect_int(c, 1, "PERSIST p");
    usleep(600 * 1000);
    ts_resp_expect_str(c, "v", "GET p");
    ts_resp_expect_int(c, 0, "PERSIST missing");

    ts_resp_expect_status(c, "string", "TYPE p");
    ts_resp_expect_status(c, "none", "TYPE missing");
    redisFree(c);
}

/* ---- SCAN / KEYS / DBSIZE ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SCAN to the end; returns the keys (malloc'd strings) and their number. */
static size_t scan_all(redisContext *c, const char *extra, char ***out, int *pages)
{
    size_t n = 0, cap = 64;
    char **keys = malloc(cap * sizeof(*keys));
    char cursor[32] = "0";
    *pages = 0;
    do {
        char line[256];
        snprintf(line, sizeof(line), "SCAN %s %s", cursor, extra);
        redisReply *r = ts_resp_cmd(c, line);
        cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s: %s", line, ts_resp_err_text(r));
        cr_assert_eq(r->elements, 2);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            if (n == cap) {
                cap *= 2;
                keys = realloc(keys, cap * sizeof(*keys));
            }
            keys[n++] = strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
        (*pages)++;
        cr_assert_lt(*pages, 10000, "SCAN does not end");
    } while (strcmp(cursor, "0") != 0);
    qsort(keys, n, sizeof(*keys), cmp_str);
    *out = keys;
    return n;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
}

Test(resp_ext, scan_pages_lose_and_repeat_nothing)
{
    redisContext *c = ts_resp_conn(&sc);
    for (int i = 0; i < 250; i++) {
        redisAppendCommand(c, "SET user:%03d v", i);
        redisAppendCommand(c, "SET item:%03d v", i);
    }
    for (int i = 0; i < 500; i++) {
        freeReplyObject(ts_resp_read_reply(c));
    }
    char **keys;
    int pages;
    size_t n = scan_all(c, "COUNT 7", &keys, &pages);
    cr_assert_eq(n, 500, "SCAN returned %zu keys", n);
    cr_assert_gt(pages, 10, "only %d pages", pages);
    for (size_t i = 1; i < n; i++) {
        cr_assert_neq(strcmp(keys[i - 1], keys[i]), 0, "key %s repeated", keys[i]);
    }
    free_keys(keys, n);

    /* MATCH: prefix pushed to Flo plus the full glob on each key. */
    n = scan_all(c, "MATCH user:1?[05] COUNT 9", &keys, &pages);
    cr_assert_eq(n, 20, "MATCH returned %zu keys", n);
    cr_assert_str_eq(keys[0], "user:100");
    cr_assert_str_eq(keys[19], "user:195");
    free_keys(keys, n);
    n = scan_all(c, "MATCH *:2[4-9]9 TYPE string", &keys, &pages);
    cr_assert_eq(n, 2, "got %zu", n); /* user:249 and item:249 (keys stop at 249) */
    free_keys(keys, n);
    n = scan_all(c, "TYPE hash", &keys, &pages);
    cr_assert_eq(n, 0);
    free_keys(keys, n);

    ts_resp_expect_int(c, 500, "DBSIZE");
    redisReply *r = ts_resp_cmd(c, "KEYS item:00*");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 10);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "KEYS *");
    cr_assert_eq(r->elements, 500);
    freeReplyObject(r);

    ts_resp_expect_err(c, "ERR invalid cursor", "SCAN 12345");
    ts_resp_expect_err(c, "ERR invalid cursor", "SCAN abc");
    ts_resp_expect_err(c, "ERR syntax error", "SCAN 0 COUNT 0");
    ts_resp_expect_err(c, "ERR syntax error", "SCAN 0 FOO bar");
    redisFree(c);
}

Test(resp_ext, scan_cursor_is_per_namespace)
{
    redisContext *c = ts_resp_conn(&sc);
    for (int i = 0; i < 20; i++) {
        freeReplyObject(ts_resp_cmd(c, "SET k%d v", i));
    }
    redisReply *r = ts_resp_cmd(c, "SCAN 0 COUNT 5");
    cr_assert_str_neq(r->element[0]->str, "0");
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    freeReplyObject(r);
    ts_resp_expect_status(c, "OK", "USE other");
    ts_resp_expect_err(c, "ERR invalid cursor", "SCAN %s", cursor);
    ts_resp_expect_int(c, 0, "DBSIZE");
    redisFree(c);
}

Test(resp_ext, redis_cli_scan_and_keys)
{
    redisContext *c = ts_resp_conn(&sc);
    for (int i = 0; i < 40; i++) {
        freeReplyObject(ts_resp_cmd(c, "SET cli:%d v", i));
    }
    redisFree(c);
    char port[8];
    snprintf(port, sizeof(port), "%u", sc.resp_port);
    const char *scan[] = {"redis-cli", "-p", port, "--scan", "--pattern", "cli:1*", NULL};
    char *out = NULL;
    size_t len = 0;
    int rc = ts_run(scan, 10000, NULL, 0, &out, &len);
    if (rc == -1 && access("/usr/bin/redis-cli", X_OK) != 0) {
        cr_skip_test("redis-cli is not installed");
    }
    cr_assert_eq(rc, 0, "redis-cli --scan failed: %s", out ? out : "");
    int lines = 0;
    for (size_t i = 0; i < len; i++) {
        lines += out[i] == '\n';
    }
    cr_assert_eq(lines, 11, "cli:1 and cli:10..19 expected, got:\n%s", out);
    free(out);
    const char *mset[] = {"redis-cli", "-p", port, "MSET", "x", "1", "y", "2", NULL};
    cr_assert_eq(ts_run(mset, 10000, NULL, 0, &out, &len), 0);
    cr_assert_not_null(strstr(out, "OK"), "%s", out);
    free(out);
    const char *incr[] = {"redis-cli", "-p", port, "INCRBY", "ctr", "41", NULL};
    cr_assert_eq(ts_run(incr, 10000, NULL, 0, &out, &len), 0);
    cr_assert_not_null(strstr(out, "41"), "%s", out);
    free(out);
}

/* ---- JSON ---- */

Test(resp_ext, json_paths_get_set_del)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "JSON.SET doc $ %s",
                          "{\"a\":1,\"b\":{\"c\":[10,20,30]},\"d e\":true}");
    ts_resp_expect_str(c, "{\"a\":1,\"b\":{\"c\":[10,20,30]},\"d e\":true}", "JSON.GET doc");
    ts_resp_expect_str(c, "[{\"a\":1,\"b\":{\"c\":[10,20,30]},\"d e\":true}]", "JSON.GET doc $");
    ts_resp_expect_str(c, "[20]", "JSON.GET doc $.b.c[1]");
    ts_resp_expect_str(c, "[true]", "JSON.GET doc %s", "$['d e']");
    ts_resp_expect_str(c, "1", "JSON.GET doc .a");
    ts_resp_expect_str(c, "1", "JSON.GET doc a");
    ts_resp_expect_str(c, "30", "JSON.GET doc b.c[2]");
    ts_resp_expect_str(c, "{\"a\":1,\"b.c\":[10,20,30]}", "JSON.GET doc a b.c");
    ts_resp_expect_str(c, "{\"$.a\":[1],\"$.nope\":[]}", "JSON.GET doc $.a $.nope");
    ts_resp_expect_str(c, "[]", "JSON.GET doc $.nope");
    ts_resp_expect_err(c, "ERR Path '.nope' does not exist", "JSON.GET doc .nope");
    ts_resp_expect_nil(c, "JSON.GET missing");
    ts_resp_expect_nil(c, "JSON.GET missing $.a");
    ts_resp_expect_err(c, "ERR JSON path '$..a' is outside the subset", "JSON.GET doc $..a");
    ts_resp_expect_err(c, "ERR JSON path '$.b.c[*]' is outside the subset",
                       "JSON.GET doc $.b.c[*]");

    ts_resp_expect_status(c, "OK", "JSON.SET doc $.a %s", "{\"x\":[1]}");
    ts_resp_expect_status(c, "OK", "JSON.SET doc .b.c[0] 11");
    ts_resp_expect_str(c, "[{\"x\":[1]}]", "JSON.GET doc $.a");
    ts_resp_expect_str(c, "[11]", "JSON.GET doc $.b.c[0]");
    ts_resp_expect_nil(c, "JSON.SET doc $.no.such 1");
    ts_resp_expect_err(c, "ERR new objects must be created at the root", "JSON.SET fresh $.a 1");
    ts_resp_expect_err(c, "ERR", "JSON.SET doc $ %s", "{bad json");
    ts_resp_expect_err(c, "ERR", "JSON.SET doc $.a[ 1");
    ts_resp_expect_err(c, "ERR syntax error", "JSON.SET doc $ 1 FOO");
    ts_resp_expect_err(c, "ERR JSON.SET NX/XX is supported at the root only",
                       "JSON.SET doc $.a 1 NX");

    ts_resp_expect_nil(c, "JSON.SET doc $ %s NX", "{\"n\":1}");
    ts_resp_expect_status(c, "OK", "JSON.SET newdoc $ %s NX", "{\"n\":1}");
    ts_resp_expect_nil(c, "JSON.SET ghost $ %s XX", "{\"n\":1}");
    ts_resp_expect_status(c, "OK", "JSON.SET newdoc . %s XX", "{\"n\":2}");
    ts_resp_expect_str(c, "[2]", "JSON.GET newdoc $.n");
    ts_resp_expect_err(c, "ERR invalid json document", "JSON.SET newdoc $ %s XX", "{nope");

    ts_resp_expect_int(c, 1, "JSON.DEL doc $.a");
    ts_resp_expect_int(c, 0, "JSON.DEL doc $.a");
    ts_resp_expect_int(c, 1, "JSON.FORGET doc .b.c[0]");
    ts_resp_expect_str(c, "[[20,30]]", "JSON.GET doc $.b.c");
    ts_resp_expect_int(c, 1, "JSON.DEL doc");
    ts_resp_expect_nil(c, "GET doc");
    ts_resp_expect_int(c, 0, "JSON.DEL doc");
    redisFree(c);
}

/* ---- MULTI / EXEC ---- */

Test(resp_ext, multi_exec_commits_atomically)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_status(c, "QUEUED", "SET t 1");
    ts_resp_expect_status(c, "QUEUED", "INCR cnt");
    ts_resp_expect_status(c, "QUEUED", "INCRBY cnt 5");
    ts_resp_expect_status(c, "QUEUED", "EXPIRE t 100");
    ts_resp_expect_status(c, "QUEUED", "DEL nothere t2");
    ts_resp_expect_status(c, "QUEUED", "EXISTS t t");
    ts_resp_expect_status(c, "QUEUED", "GET t");
    ts_resp_expect_status(c, "QUEUED", "MSET m1 a m2 b");
    ts_resp_expect_status(c, "QUEUED", "TYPE t");
    ts_resp_expect_status(c, "QUEUED", "SETEX se 100 v");
    ts_resp_expect_status(c, "QUEUED", "PERSIST se");
    redisReply *r = ts_resp_cmd(c, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "EXEC: %s", ts_resp_err_text(r));
    cr_assert_eq(r->elements, 11);
    cr_assert_str_eq(r->element[0]->str, "OK");
    cr_assert_eq(r->element[1]->integer, 1);
    cr_assert_eq(r->element[2]->integer, 6);
    cr_assert_eq(r->element[3]->integer, 1);
    cr_assert_eq(r->element[4]->integer, 0);
    cr_assert_eq(r->element[5]->integer, 2);
    cr_assert_str_eq(r->element[6]->str, "1");
    cr_assert_str_eq(r->element[7]->str, "OK");
    cr_assert_str_eq(r->element[8]->str, "string");
    cr_assert_str_eq(r->element[9]->str, "OK");
    cr_assert_eq(r->element[10]->integer, 1);
    freeReplyObject(r);
    ts_resp_expect_str(c, "1", "GET t");
    ts_resp_expect_str(c, "b", "GET m2");
    ts_resp_expect_int(c, 7, "INCR cnt");
    /* An empty transaction is an empty array. */
    ts_resp_expect_status(c, "OK", "MULTI");
    r = ts_resp_cmd(c, "EXEC");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_ext, multi_exec_failure_leaves_nothing_behind)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "SET s text");
    ts_resp_expect_status(c, "OK", "SET keep k");
    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_status(c, "QUEUED", "SET x 1");
    ts_resp_expect_status(c, "QUEUED", "DEL keep");
    ts_resp_expect_status(c, "QUEUED", "INCR s"); /* s is a plain value: Flo refuses the incr */
    ts_resp_expect_status(c, "QUEUED", "SET y 2");
    ts_resp_expect_err(c, "ERR EXEC failed at command #3 (incr)", "EXEC");
    ts_resp_expect_nil(c, "GET x");
    ts_resp_expect_nil(c, "GET y");
    ts_resp_expect_str(c, "text", "GET s");
    ts_resp_expect_str(c, "k", "GET keep");

    /* A failed NX condition aborts the whole block too. */
    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_status(c, "QUEUED", "SET z 1");
    ts_resp_expect_status(c, "QUEUED", "SETNX s other");
    ts_resp_expect_err(c, "CONFLICT EXEC failed at command #2 (setnx)", "EXEC");
    ts_resp_expect_nil(c, "GET z");
    redisFree(c);
}

Test(resp_ext, multi_queue_errors_discard_and_watch)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_status(c, "QUEUED", "SET a 1");
    ts_resp_expect_err(c, "ERR unknown command 'FOO'", "FOO");
    ts_resp_expect_err(c, "EXECABORT Transaction discarded because of previous errors.", "EXEC");
    ts_resp_expect_nil(c, "GET a");

    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_err(c, "ERR 'mget' cannot run inside MULTI", "MGET a");
    ts_resp_expect_status(c, "QUEUED", "SET a 1");
    ts_resp_expect_err(c, "EXECABORT", "EXEC");
    ts_resp_expect_nil(c, "GET a");

    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "INCRBY a x");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'set' command", "SET a");
    ts_resp_expect_err(c, "EXECABORT", "EXEC");

    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_err(c, "ERR MULTI calls can not be nested", "MULTI");
    ts_resp_expect_err(c, "ERR WATCH inside MULTI is not allowed", "WATCH a");
    ts_resp_expect_status(c, "QUEUED", "SET a 1");
    ts_resp_expect_status(c, "OK", "DISCARD");
    ts_resp_expect_nil(c, "GET a");
    ts_resp_expect_err(c, "ERR EXEC without MULTI", "EXEC");
    ts_resp_expect_err(c, "ERR DISCARD without MULTI", "DISCARD");
    ts_resp_expect_err(c, "ERR WATCH is not supported by flo-sidecar", "WATCH a");
    ts_resp_expect_status(c, "OK", "UNWATCH");
    redisFree(c);
}

Test(resp_ext, multi_exec_pipelined_after_writes)
{
    /* EXEC waits for the writes pipelined before MULTI, and the reads
     * behind EXEC see its writes. */
    redisContext *c = ts_resp_conn(&sc);
    redisAppendCommand(c, "SET base 10");
    redisAppendCommand(c, "INCRBY ctr 10");
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "INCRBY ctr 5");
    redisAppendCommand(c, "GET base");
    redisAppendCommand(c, "SET after 1");
    redisAppendCommand(c, "EXEC");
    redisAppendCommand(c, "GET after");
    redisAppendCommand(c, "INCR ctr");
    const char *want_status[] = {"OK", NULL, "OK", "QUEUED", "QUEUED", "QUEUED"};
    for (int i = 0; i < 6; i++) {
        redisReply *r = ts_resp_read_reply(c);
        if (want_status[i]) {
            cr_assert_eq(r->type, REDIS_REPLY_STATUS, "reply %d: %s", i, ts_resp_err_text(r));
            cr_assert_str_eq(r->str, want_status[i]);
        } else {
            cr_assert_eq(r->integer, 10);
        }
        freeReplyObject(r);
    }
    redisReply *r = ts_resp_read_reply(c);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", ts_resp_err_text(r));
    cr_assert_eq(r->elements, 3);
    cr_assert_eq(r->element[0]->integer, 15);
    cr_assert_str_eq(r->element[1]->str, "10");
    freeReplyObject(r);
    r = ts_resp_read_reply(c);
    cr_assert_str_eq(r->str, "1");
    freeReplyObject(r);
    r = ts_resp_read_reply(c);
    cr_assert_eq(r->integer, 16);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- FLO.* ---- */

Test(resp_ext, flo_versions_cas_and_history)
{
    redisContext *c = ts_resp_conn(&sc);
    redisReply *r = ts_resp_cmd(c, "FLO.SETV k v1");
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s", ts_resp_err_text(r));
    long long v1 = r->integer;
    cr_assert_gt(v1, 0);
    freeReplyObject(r);

    r = ts_resp_cmd(c, "FLO.GETV k");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    cr_assert_str_eq(r->element[0]->str, "v1");
    cr_assert_eq(r->element[1]->integer, v1);
    freeReplyObject(r);

    r = ts_resp_cmd(c, "FLO.CAS k v2 %lld", v1);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s", ts_resp_err_text(r));
    long long v2 = r->integer;
    cr_assert_gt(v2, v1);
    freeReplyObject(r);
    ts_resp_expect_err(c, "CONFLICT", "FLO.CAS k v3 %lld", v1);
    ts_resp_expect_str(c, "v2", "GET k");
    ts_resp_expect_err(c, "CONFLICT", "FLO.CAS k v3 0");
    r = ts_resp_cmd(c, "FLO.CAS fresh v 0 PX 5000");
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s", ts_resp_err_text(r));
    freeReplyObject(r);
    ts_resp_expect_err(c, "CONFLICT", "FLO.CAS fresh v 0");
    ts_resp_expect_nil(c, "FLO.GETV missing");

    freeReplyObject(ts_resp_cmd(c, "SET k v3"));
    r = ts_resp_cmd(c, "FLO.HISTORY k");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 3, "%zu versions", r->elements);
    cr_assert_str_eq(r->element[0]->element[0]->str, "v3");
    cr_assert_str_eq(r->element[1]->element[0]->str, "v2");
    cr_assert_str_eq(r->element[2]->element[0]->str, "v1");
    cr_assert_eq(r->element[2]->element[1]->integer, v1);
    cr_assert_gt(r->element[0]->element[1]->integer, r->element[1]->element[1]->integer);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "FLO.HISTORY k COUNT 1");
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->element[0]->str, "v3");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "FLO.HISTORY missing");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    ts_resp_expect_err(c, "ERR COUNT must be positive", "FLO.HISTORY k COUNT 0");
    ts_resp_expect_err(c, "ERR syntax error", "FLO.HISTORY k LIMIT 1");
    ts_resp_expect_err(c, "ERR version is not an integer", "FLO.CAS k v x");
    ts_resp_expect_err(c, "ERR syntax error", "FLO.SETV k v EX");
    redisFree(c);
}

Test(resp_ext, flo_bget_released_by_set_from_another_client)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    uint64_t t0 = ts_now_ms();
    ts_resp_send_only(a, "FLO.BGET late 4000");
    usleep(200 * 1000);
    ts_resp_expect_status(b, "OK", "SET late here");
    redisReply *r = ts_resp_read_reply(a);
    uint64_t took = ts_now_ms() - t0;
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s", ts_resp_err_text(r));
    cr_assert_str_eq(r->str, "here");
    cr_assert_lt(took, 3000, "released after %llu ms", (unsigned long long)took);
    freeReplyObject(r);
    /* An existing key answers at once. */
    ts_resp_expect_str(a, "here", "FLO.BGET late 4000");
    redisFree(a);
    redisFree(b);
}

Test(resp_ext, flo_watch_released_by_version_change)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    ts_resp_expect_status(b, "OK", "SET w v1");
    ts_resp_send_only(a, "FLO.WATCH w 4000");
    usleep(200 * 1000);
    redisReply *r = ts_resp_cmd(b, "FLO.SETV w v2");
    long long ver = r->integer;
    freeReplyObject(r);
    r = ts_resp_read_reply(a);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", ts_resp_err_text(r));
    cr_assert_str_eq(r->element[0]->str, "v2");
    cr_assert_eq(r->element[1]->integer, ver);
    freeReplyObject(r);
    redisFree(a);
    redisFree(b);
}

Test(resp_ext, flo_bget_timeout_is_nil_and_blocks_only_its_connection)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    uint64_t t0 = ts_now_ms();
    /* The SET behind the long-poll on the same connection waits for it. */
    ts_resp_send_only(a, "FLO.BGET never 800");
    ts_resp_send_only(a, "SET after-bget 1");
    /* Meanwhile another client is served at once. */
    ts_resp_expect_status(b, "OK", "SET other 1");
    ts_resp_expect_nil(b, "GET after-bget");
    cr_assert_lt(ts_now_ms() - t0, 500, "other client waited");
    redisReply *r = ts_resp_read_reply(a);
    uint64_t took = ts_now_ms() - t0;
    cr_assert_eq(r->type, REDIS_REPLY_NIL, "%s", ts_resp_err_text(r));
    cr_assert_geq(took, 700, "timed out after %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 4000);
    freeReplyObject(r);
    r = ts_resp_read_reply(a);
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    ts_resp_expect_nil(a, "FLO.WATCH never 100");
    ts_resp_expect_err(a, "ERR timeout of 300001 ms exceeds Flo's maximum", "FLO.BGET k 300001");
    ts_resp_expect_err(a, "ERR timeout is not an integer", "FLO.BGET k soon");
    redisFree(a);
    redisFree(b);
}

Test(resp_ext, disconnect_during_longpoll_and_exec)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc), *c = ts_resp_conn(&sc);
    ts_resp_send_only(a, "FLO.BGET gone 3000");
    ts_resp_send_only(a, "SET behind 1");
    ts_resp_expect_status(c, "OK", "MULTI");
    ts_resp_expect_status(c, "QUEUED", "SET q 1");
    ts_resp_expect_status(c, "QUEUED", "INCR qn");
    ts_resp_send_only(c, "EXEC");
    /* Both clients vanish with work in flight. An EOF may be a half-close,
     * so the sidecar finishes what was sent (the long-poll, released by the
     * SET below, or the transaction, committed or rolled back), then drops
     * the connections; other clients are unaffected. */
    redisFree(a);
    redisFree(c);
    usleep(300 * 1000);
    ts_resp_expect_status(b, "PONG", "PING");
    ts_resp_expect_status(b, "OK", "SET gone 1");
    redisReply *r = ts_resp_cmd(b, "MGET q qn");
    cr_assert_eq(r->elements, 2);
    /* All or nothing: either both writes of the EXEC landed or neither. */
    cr_assert_eq(r->element[0]->type == REDIS_REPLY_NIL, r->element[1]->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(b);
}

/* ---- bad input ---- */

Test(resp_ext, bad_input_errors_keep_the_connection)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_err(c, "ERR value is not an integer or out of range", "INCRBY k ten");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'getdel' command", "GETDEL");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'json.set' command", "JSON.SET k $");
    ts_resp_expect_err(c, "ERR wrong number of arguments for 'flo.bget' command", "FLO.BGET k");
    size_t big = 70 * 1024;
    char *key = malloc(big);
    memset(key, 'k', big);
    const char *argv[] = {"MGET", "a", key};
    size_t lens[] = {4, 1, big};
    redisReply *r = redisCommandArgv(c, 3, argv, lens);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert_not_null(strstr(r->str, "key too large"), "%s", r->str);
    freeReplyObject(r);
    const char *argv2[] = {"INCR", key};
    size_t lens2[] = {4, big};
    r = redisCommandArgv(c, 2, argv2, lens2);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    free(key);
    ts_resp_expect_status(c, "PONG", "PING");
    ts_resp_expect_int(c, 1, "INCR still-works");
    redisFree(c);
}

Test(resp_ext, command_table_lists_new_commands)
{
    redisContext *c = ts_resp_conn(&sc);
    redisReply *r = ts_resp_cmd(c, "COMMAND INFO mget flo.cas json.get exec scan nosuch");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 6);
    cr_assert_str_eq(r->element[0]->element[0]->str, "mget");
    cr_assert_eq(r->element[1]->element[1]->integer, -4);
    cr_assert_str_eq(r->element[2]->element[0]->str, "json.get");
    cr_assert_eq(r->element[5]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "COMMAND COUNT");
    cr_assert_geq(r->integer, 50);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "COMMAND DOCS flo.watch");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 2);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- byte-for-byte comparison with redis-server ---- */

static const char *const compare_cmds[] = {
    "MSET a 1 b 2",
    "MGET a b missing",
    "MSET a",
    "SETNX a x",
    "SETNX n x",
    "SETEX e 100 v",
    "SETEX e 0 v",
    "SETEX e abc v",
    "PSETEX p 0 v",
    "PSETEX p 100000 v",
    "GETDEL n",
    "GETDEL n",
    "GETEX a",
    "GETEX a EX 100",
    "GETEX a EX 0",
    "GETEX a EX 10 PX 10",
    "GETEX missing EX 10",
    "INCR c",
    "INCRBY c 10",
    "DECR c",
    "DECRBY c 3",
    "INCRBY c abc",
    "DECRBY c -9223372036854775808",
    "SET s hello",
    "INCR s",
    "INCRBY big 9223372036854775807",
    "INCR big",
    "EXPIRE a 100",
    "EXPIRE missing 100",
    "EXPIRE a abc",
    "EXPIRE a 100 FOO",
    "EXPIRE a 100 NX XX",
    "PEXPIRE a 100000",
    "EXPIREAT a 99999999999",
    "PEXPIREAT a 99999999999999",
    "TTL missing",
    "PTTL missing",
    "TYPE a",
    "TYPE missing",
    "PERSIST missing",
    "EXPIRE s -1",
    "EXISTS s",
    "MULTI",
    "SET t 1",
    "INCR t2",
    "GET t",
    "DEL t3",
    "EXEC",
    "EXEC",
    "DISCARD",
    "MULTI",
    "MULTI",
    "SET u 1",
    "DISCARD",
    "GET u",
    "MULTI",
    "FOO",
    "EXEC",
    "UNWATCH",
    "SCAN abc",
    "SCAN 0 COUNT 0",
    "SCAN 0 FOO",
    "SCAN 0 MATCH zz* COUNT 100",
    "KEYS zz*",
    "DBSIZE",
};

Test(resp_ext, replies_identical_to_redis_server)
{
    ts_resp_compare_with_redis(sc.resp_port, compare_cmds,
                               sizeof(compare_cmds) / sizeof(compare_cmds[0]));
}
