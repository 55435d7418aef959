/*
 * Pipelined RESP commands keep Redis' per-client order through real
 * processes: flo-dev as the upstream and flo-sidecar with four pooled
 * upstream connections (--pool 4), so a client's requests would be spread
 * over several connections if the sidecar did not keep them on one. Several
 * hiredis clients push their whole pipelines before any reply is read, so
 * they run at the same time; every reply must be what sequential execution
 * of that client's commands gives. (tests/unit/resp_order_test.c covers the
 * same against a fake node that parks writes like a Raft-backed server.)
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"
#include "ts_resp_fixture.h"

#define VAL_MAX 64

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void setup(void)
{
    static const char *const extra[] = {"--pool", "4", NULL};
    ts_resp_fixture_start(&dev, &sc, extra);
}

static void teardown(void)
{
    ts_resp_fixture_stop(&dev, &sc);
}

TestSuite(resp_order, .init = setup, .fini = teardown, .timeout = 120);

/* ---- a client with a pipeline and the replies it expects ---- */

enum want_e { W_STATUS, W_BULK, W_NIL, W_INT, W_ARRAY_LEN };

struct want {
    enum want_e kind;
    char s[VAL_MAX];
    long long i;
};

struct client {
    redisContext *rc;
    struct want *wants;
    size_t n, cap;
};

static void client_open(struct client *cl)
{
    memset(cl, 0, sizeof(*cl));
    cl->rc = ts_redis(sc.resp_port);
    cr_assert_not_null(cl->rc, "cannot connect to the RESP port");
}

static void client_close(struct client *cl)
{
    redisFree(cl->rc);
    free(cl->wants);
}

static struct want *want(struct client *cl, enum want_e kind)
{
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 256;
        cl->wants = realloc(cl->wants, cl->cap * sizeof(*cl->wants));
        cr_assert_not_null(cl->wants);
    }
    struct want *w = &cl->wants[cl->n++];
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    return w;
}

static void want_status(struct client *cl, const char *s)
{
    snprintf(want(cl, W_STATUS)->s, VAL_MAX, "%s", s);
}

static void want_bulk(struct client *cl, const char *s)
{
    if (s) {
        snprintf(want(cl, W_BULK)->s, VAL_MAX, "%s", s);
    } else {
        want(cl, W_NIL);
    }
}

static void want_int(struct client *cl, long long v)
{
    want(cl, W_INT)->i = v;
}

static void set(struct client *cl, const char *k, const char *v)
{
    redisAppendCommand(cl->rc, "SET %s %s", k, v);
    want_status(cl, "OK");
}

static void get(struct client *cl, const char *k, const char *expect)
{
    redisAppendCommand(cl->rc, "GET %s", k);
    want_bulk(cl, expect);
}

static void check(struct client *cl, const char *who)
{
    for (size_t i = 0; i < cl->n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(cl->rc, (void **)&r), REDIS_OK,
                     "%s: reply %zu of %zu missing: %s", who, i, cl->n, cl->rc->errstr);
        const struct want *w = &cl->wants[i];
        const char *got = r->str ? r->str : "";
        switch (w->kind) {
        case W_STATUS:
            cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s #%zu: type %d (%s)", who, i, r->type,
                         got);
            cr_assert_str_eq(got, w->s, "%s #%zu", who, i);
            break;
        case W_BULK:
            cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s #%zu: type %d (%s), want '%s'", who, i,
                         r->type, got, w->s);
            cr_assert_str_eq(got, w->s, "%s #%zu", who, i);
            break;
        case W_NIL:
            cr_assert_eq(r->type, REDIS_REPLY_NIL, "%s #%zu: type %d (%s), want nil", who, i,
                         r->type, got);
            break;
        case W_INT:
            cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s #%zu: type %d (%s)", who, i, r->type,
                         got);
            cr_assert_eq(r->integer, w->i, "%s #%zu: %lld, want %lld", who, i, r->integer, w->i);
            break;
        case W_ARRAY_LEN:
            cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s #%zu: type %d (%s)", who, i, r->type, got);
            cr_assert_eq((long long)r->elements, w->i, "%s #%zu: %zu elements, want %lld", who, i,
                         r->elements, w->i);
            break;
        }
        freeReplyObject(r);
    }
}

/* Write every client's pipeline before reading any reply. */
static void flush_all(struct client *cls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int done = 0;
        while (!done) {
            cr_assert_eq(redisBufferWrite(cls[i].rc, &done), REDIS_OK, "write: %s",
                         cls[i].rc->errstr);
        }
    }
}

/* One round of the mixed sequence on client `id`'s own keys. */
static void mix_round(struct client *cl, int id, int r, long long *counter)
{
    char k[32], c[32], m[32], v[32], e[32];
    snprintf(k, sizeof(k), "ord:k:%d", id);
    snprintf(c, sizeof(c), "ord:c:%d", id);
    snprintf(m, sizeof(m), "ord:m:%d", id);
    snprintf(v, sizeof(v), "a%d", r);
    set(cl, k, v);
    snprintf(v, sizeof(v), "b%d", r);
    set(cl, k, v);
    get(cl, k, v);
    for (int i = 0; i < 5; i++) {
        redisAppendCommand(cl->rc, "INCR %s", c);
        want_int(cl, ++*counter);
    }
    /* Flo counters are binary: read one back with INCRBY 0. */
    redisAppendCommand(cl->rc, "INCRBY %s 0", c);
    want_int(cl, *counter);
    redisAppendCommand(cl->rc, "DEL %s", k);
    want_int(cl, 1);
    get(cl, k, NULL);
    redisAppendCommand(cl->rc, "EXISTS %s %s", k, c);
    want_int(cl, 1);
    /* MSET/MGET across two keys, then a write after the read. */
    snprintf(v, sizeof(v), "m%d", r);
    redisAppendCommand(cl->rc, "MSET %s %s %s x%d", k, v, m, r);
    want_status(cl, "OK");
    redisAppendCommand(cl->rc, "MGET %s %s", k, m);
    want(cl, W_ARRAY_LEN)->i = 2;
    /* Read-then-write commands right behind a write. */
    snprintf(e, sizeof(e), "e%d", r);
    set(cl, k, e);
    redisAppendCommand(cl->rc, "SET %s d%d GET", k, r);
    want_bulk(cl, e);
    redisAppendCommand(cl->rc, "GETDEL %s", k);
    snprintf(v, sizeof(v), "d%d", r);
    want_bulk(cl, v);
    redisAppendCommand(cl->rc, "SETNX %s n%d", k, r);
    want_int(cl, 1);
    redisAppendCommand(cl->rc, "SETNX %s z%d", k, r);
    want_int(cl, 0);
    snprintf(v, sizeof(v), "n%d", r);
    get(cl, k, v);
    redisAppendCommand(cl->rc, "DEL %s %s", k, m);
    want_int(cl, 2);
}

Test(resp_order, concurrent_pipelined_mixes_match_sequential_execution)
{
    enum { NCLIENTS = 8, ROUNDS = 30 };
    struct client cls[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        long long counter = 0;
        for (int r = 0; r < ROUNDS; r++) {
            mix_round(&cls[i], i, r, &counter);
        }
    }
    flush_all(cls, NCLIENTS);
    char who[32];
    for (int i = 0; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        check(&cls[i], who);
        client_close(&cls[i]);
    }
}

Test(resp_order, thousand_deep_pipeline)
{
    struct client cl;
    client_open(&cl);
    char v[32];
    for (int i = 1; i <= 1000; i++) {
        snprintf(v, sizeof(v), "%d", i);
        set(&cl, "ord:deep", v);
        if (i % 100 == 0) {
            get(&cl, "ord:deep", v);
            redisAppendCommand(cl.rc, "INCRBY ord:deepc %d", i);
            want_int(&cl, (long long)(i / 100) * (i / 100 + 1) / 2 * 100);
        }
    }
    redisAppendCommand(cl.rc, "DEL ord:deep ord:deepc");
    want_int(&cl, 2);
    get(&cl, "ord:deep", NULL);
    flush_all(&cl, 1);
    check(&cl, "deep");
    client_close(&cl);
}

Test(resp_order, interleaved_increasing_sets_end_with_the_last_value)
{
    /* Each client alternates SETs of increasing values over two keys; with
     * four upstream connections, any request of a client sent on another
     * connection than its predecessors could land first and leave an
     * older value behind. */
    enum { NCLIENTS = 10, N = 2000 };
    struct client cls[NCLIENTS];
    char k1[32], k2[32], v[32];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        snprintf(k1, sizeof(k1), "ord:i1:%d", i);
        snprintf(k2, sizeof(k2), "ord:i2:%d", i);
        for (int j = 1; j <= N; j++) {
            snprintf(v, sizeof(v), "%d", j);
            set(&cls[i], j % 2 ? k1 : k2, v);
        }
        snprintf(v, sizeof(v), "%d", N - 1);
        get(&cls[i], k1, v);
        snprintf(v, sizeof(v), "%d", N);
        get(&cls[i], k2, v);
    }
    flush_all(cls, NCLIENTS);
    char who[32];
    for (int i = 0; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        check(&cls[i], who);
        client_close(&cls[i]);
    }
}

Test(resp_order, barriers_and_transactions_in_a_pipeline)
{
    struct client cl;
    client_open(&cl);
    set(&cl, "ord:b:1", "one");
    set(&cl, "ord:b:2", "two");
    redisAppendCommand(cl.rc, "KEYS ord:b:*");
    want(&cl, W_ARRAY_LEN)->i = 2;
    set(&cl, "ord:b:1", "uno");
    redisAppendCommand(cl.rc, "MULTI");
    want_status(&cl, "OK");
    redisAppendCommand(cl.rc, "SET ord:b:2 dos");
    want_status(&cl, "QUEUED");
    redisAppendCommand(cl.rc, "GET ord:b:1");
    want_status(&cl, "QUEUED");
    redisAppendCommand(cl.rc, "EXEC");
    want(&cl, W_ARRAY_LEN)->i = 2;
    get(&cl, "ord:b:2", "dos");
    redisAppendCommand(cl.rc, "DEL ord:b:1 ord:b:2");
    want_int(&cl, 2);
    redisAppendCommand(cl.rc, "KEYS ord:b:*");
    want(&cl, W_ARRAY_LEN)->i = 0;
    flush_all(&cl, 1);
    check(&cl, "barriers");
    client_close(&cl);
}
