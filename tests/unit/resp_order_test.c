/*
 * Order of pipelined RESP commands (protocols/resp/resp_order.c,
 * resp_upstream.c), in process: one libuv loop in a thread runs the RESP
 * server, the upstream pool and a fake Flo server written here that behaves
 * like a Raft-backed Flo node: reads (GET, EXISTS) are answered at once from
 * the applied state, writes (PUT, DELETE, INCR) are parked and applied a few
 * milliseconds later in arrival order. Against it, a sidecar that let a read
 * overtake an earlier write of the same client would return stale values,
 * and one that spread a client's writes over several connections would
 * apply them out of order (the fake reads one connection's whole batch
 * before the next). The tests' clients are hiredis contexts in the test
 * thread; every socket wait is bounded by a 5 s timeout.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "flo/flo_pool.h"
#include "proto.h"
#include "resp_server.h"

#define PARK_MS   3   /* how long the fake parks writes before applying them */
#define MAX_KEYS  512 /* distinct keys the fake stores */
#define MAX_CONNS 16  /* upstream connections the fake accepts */
#define VAL_MAX   64

/* ---------------------------------------------------------------- */
/* fake Flo node: immediate reads, parked writes                     */
/* ---------------------------------------------------------------- */

struct fkey {
    char key[VAL_MAX];
    size_t klen;
    char val[VAL_MAX];
    size_t vlen;
    bool present;
    uint64_t version;
    int writer_conn; /* connection index of the first write, -1 = none */
    bool multi_conn; /* written through more than one connection */
};

struct fconn;

struct parked {
    struct parked *next;
    struct fconn *fc;
    uint64_t id;
    uint16_t op;
    size_t key; /* index in fake.keys */
    char val[VAL_MAX];
    size_t vlen;
    int64_t delta; /* INCR */
};

struct fconn {
    uv_tcp_t tcp;
    int idx;
    bool closed;
    struct flo_reader rd;
    uint8_t rbuf[64 * 1024];
};

static struct {
    uv_tcp_t listener;
    uv_timer_t apply;
    struct fconn *conns[MAX_CONNS];
    int nconns;
    struct fkey keys[MAX_KEYS];
    size_t nkeys;
    struct parked *head, *tail;
    uint64_t next_version;
    unsigned long reads, writes;
    bool overflow; /* more keys or connections than the fake holds */
} fake;

static size_t key_index(flo_buf_t k)
{
    for (size_t i = 0; i < fake.nkeys; i++) {
        if (fake.keys[i].klen == k.len && memcmp(fake.keys[i].key, k.ptr, k.len) == 0) {
            return i;
        }
    }
    if (fake.nkeys == MAX_KEYS || k.len > VAL_MAX) {
        fake.overflow = true;
        return SIZE_MAX;
    }
    struct fkey *e = &fake.keys[fake.nkeys];
    memset(e, 0, sizeof(*e));
    memcpy(e->key, k.ptr, k.len);
    e->klen = k.len;
    e->writer_conn = -1;
    return fake.nkeys++;
}

static void on_fake_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void reply(struct fconn *fc, uint64_t id, uint8_t status, const void *body, size_t len)
{
    if (fc->closed) {
        return;
    }
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    if (flo_resp_encode(&out, id, status, FLO_BUF(body, len)) < 0) {
        flo_wbuf_free(&out);
        return;
    }
    uv_write_t *w = malloc(sizeof(*w));
    if (!w) {
        flo_wbuf_free(&out);
        return;
    }
    w->data = out.data;
    uv_buf_t b = uv_buf_init((char *)out.data, (unsigned)out.len);
    if (uv_write(w, (uv_stream_t *)&fc->tcp, &b, 1, on_fake_written) < 0) {
        free(out.data);
        free(w);
    }
}

static void apply_parked(uv_timer_t *t)
{
    (void)t;
    while (fake.head) {
        struct parked *pk = fake.head;
        fake.head = pk->next;
        struct fkey *e = &fake.keys[pk->key];
        uint8_t body[16];
        fake.writes++;
        if (pk->op == FLO_OP_KV_PUT) {
            memcpy(e->val, pk->val, pk->vlen);
            e->vlen = pk->vlen;
            e->present = true;
            e->version = ++fake.next_version;
            flo_st64(body, e->version);
            reply(pk->fc, pk->id, FLO_STATUS_OK, body, 8);
        } else if (pk->op == FLO_OP_KV_DELETE) {
            bool was = e->present;
            e->present = false;
            reply(pk->fc, pk->id, was ? FLO_STATUS_OK : FLO_STATUS_NOT_FOUND, NULL, 0);
        } else { /* INCR */
            long long cur = 0;
            if (e->present) {
                char tmp[VAL_MAX + 1];
                memcpy(tmp, e->val, e->vlen);
                tmp[e->vlen] = 0;
                cur = strtoll(tmp, NULL, 10);
            }
            cur += pk->delta;
            e->vlen = (size_t)snprintf(e->val, sizeof(e->val), "%lld", cur);
            e->present = true;
            e->version = ++fake.next_version;
            flo_st64(body, e->version);
            flo_st64(body + 8, (uint64_t)cur);
            reply(pk->fc, pk->id, FLO_STATUS_OK, body, 16);
        }
        free(pk);
    }
    fake.tail = NULL;
}

static void handle_request(struct fconn *fc, const struct flo_frame *f)
{
    struct flo_envelope env;
    if (flo_envelope_parse(f->body, &env) < 0) {
        reply(fc, f->request_id, FLO_STATUS_OK, NULL, 0);
        return;
    }
    bool write = f->op == FLO_OP_KV_PUT || f->op == FLO_OP_KV_DELETE || f->op == FLO_OP_KV_INCR;
    bool read = f->op == FLO_OP_KV_GET || f->op == FLO_OP_KV_EXISTS;
    if (!write && !read) {
        reply(fc, f->request_id, FLO_STATUS_OK, NULL, 0); /* e.g. a probe */
        return;
    }
    size_t ki = key_index(env.key);
    if (ki == SIZE_MAX) {
        reply(fc, f->request_id, 3, NULL, 0);
        return;
    }
    struct fkey *e = &fake.keys[ki];
    if (read) {
        fake.reads++;
        uint8_t body[8 + VAL_MAX];
        if (f->op == FLO_OP_KV_EXISTS) {
            flo_st64(body, e->present ? e->version : 0);
            body[8] = e->present;
            reply(fc, f->request_id, FLO_STATUS_OK, body, 9);
        } else if (!e->present) {
            reply(fc, f->request_id, FLO_STATUS_NOT_FOUND, NULL, 0);
        } else {
            flo_st64(body, e->version);
            memcpy(body + 8, e->val, e->vlen);
            reply(fc, f->request_id, FLO_STATUS_OK, body, 8 + e->vlen);
        }
        return;
    }
    if (e->writer_conn < 0) {
        e->writer_conn = fc->idx;
    } else if (e->writer_conn != fc->idx) {
        e->multi_conn = true;
    }
    struct parked *pk = calloc(1, sizeof(*pk));
    if (!pk || env.value.len > VAL_MAX) {
        free(pk);
        reply(fc, f->request_id, 3, NULL, 0);
        return;
    }
    pk->fc = fc;
    pk->id = f->request_id;
    pk->op = f->op;
    pk->key = ki;
    if (f->op == FLO_OP_KV_PUT) {
        memcpy(pk->val, env.value.ptr, env.value.len);
        pk->vlen = env.value.len;
    } else if (f->op == FLO_OP_KV_INCR && env.value.len >= 8) {
        pk->delta = (int64_t)flo_ld64(env.value.ptr);
    }
    if (fake.tail) {
        fake.tail->next = pk;
    } else {
        fake.head = pk;
    }
    fake.tail = pk;
    if (!uv_is_active((uv_handle_t *)&fake.apply)) {
        uv_timer_start(&fake.apply, apply_parked, PARK_MS, 0);
    }
}

static void fconn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    struct fconn *fc = h->data;
    *b = uv_buf_init((char *)fc->rbuf, sizeof(fc->rbuf));
}

static void fconn_closed(uv_handle_t *h)
{
    struct fconn *fc = h->data;
    flo_reader_free(&fc->rd);
    free(fc);
}

static void fconn_close(struct fconn *fc)
{
    if (!fc->closed) {
        fc->closed = true;
        uv_close((uv_handle_t *)&fc->tcp, fconn_closed);
    }
}

static void fconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct fconn *fc = s->data;
    if (n < 0) {
        fake.conns[fc->idx] = NULL;
        fconn_close(fc);
        return;
    }
    if (n == 0 || flo_reader_feed(&fc->rd, b->base, (size_t)n) < 0) {
        return;
    }
    struct flo_frame f;
    while (flo_reader_next(&fc->rd, &f) == 0) {
        handle_request(fc, &f);
    }
}

static void fake_accept(uv_stream_t *ls, int status)
{
    if (status < 0) {
        return;
    }
    struct fconn *fc = calloc(1, sizeof(*fc));
    if (!fc) {
        return;
    }
    uv_tcp_init(ls->loop, &fc->tcp);
    fc->tcp.data = fc;
    flo_reader_init(&fc->rd, FLO_FRAME_REQUEST, 1u << 20);
    if (uv_accept(ls, (uv_stream_t *)&fc->tcp) < 0 || fake.nconns == MAX_CONNS) {
        fake.overflow = fake.nconns == MAX_CONNS;
        fconn_close(fc);
        return;
    }
    fc->idx = fake.nconns++;
    fake.conns[fc->idx] = fc;
    uv_read_start((uv_stream_t *)&fc->tcp, fconn_alloc, fconn_read);
}

/* ---------------------------------------------------------------- */
/* the loop thread: fake node + pool + RESP server                   */
/* ---------------------------------------------------------------- */

static uv_loop_t loop;
static uv_async_t stop_async;
static flo_pool_t *pool;
static resp_server_t *rsrv;
static struct proto_ctx ctx;
static pthread_t thread;
static uint16_t resp_port;
static char upstream[64];

static void on_stop(uv_async_t *a)
{
    resp_server_close(rsrv);
    flo_pool_close(pool, NULL, NULL);
    for (int i = 0; i < fake.nconns; i++) {
        if (fake.conns[i]) {
            fconn_close(fake.conns[i]);
            fake.conns[i] = NULL;
        }
    }
    uv_timer_stop(&fake.apply);
    while (fake.head) {
        struct parked *pk = fake.head;
        fake.head = pk->next;
        free(pk);
    }
    uv_close((uv_handle_t *)&fake.apply, NULL);
    uv_close((uv_handle_t *)&fake.listener, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Start everything with `conns` pipelined upstream connections of at most
 * `max_inflight` requests each. */
static void start(unsigned conns, uint32_t max_inflight)
{
    signal(SIGPIPE, SIG_IGN); /* as flo-sidecar: writes to gone clients fail with EPIPE */
    flo_log_set_level(FLO_LOG_ERROR);
    memset(&fake, 0, sizeof(fake));
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_tcp_init(&loop, &fake.listener), 0);
    cr_assert_eq(uv_timer_init(&loop, &fake.apply), 0);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    cr_assert_eq(uv_tcp_bind(&fake.listener, (struct sockaddr *)&sa, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&fake.listener, 64, fake_accept), 0);
    struct sockaddr_in bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&fake.listener, (struct sockaddr *)&bound, &len);
    snprintf(upstream, sizeof(upstream), "127.0.0.1:%u", ntohs(bound.sin_port));

    struct flo_pool_config cfg;
    flo_pool_config_defaults(&cfg);
    const char *addrs[] = {upstream};
    cfg.addrs = addrs;
    cfg.naddrs = 1;
    cfg.conns_per_addr = conns;
    cfg.longpoll_conns_per_addr = 1;
    cfg.max_inflight_per_conn = max_inflight;
    cr_assert_eq(flo_pool_new(&loop, &cfg, &pool), 0);
    ctx.loop = &loop;
    ctx.pool = pool;
    ctx.default_ns = "default";
    ctx.max_body = 1u << 20;
    ctx.password = NULL;
    cr_assert_eq(resp_server_new(&ctx, "127.0.0.1:0", &rsrv), 0);
    resp_port = resp_server_port(rsrv);
    cr_assert_eq(uv_async_init(&loop, &stop_async, on_stop), 0);
    cr_assert_eq(pthread_create(&thread, NULL, loop_main, NULL), 0);
}

static void stop(void)
{
    uv_async_send(&stop_async);
    pthread_join(thread, NULL);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
}

/* ---------------------------------------------------------------- */
/* clients                                                           */
/* ---------------------------------------------------------------- */

/* One expected reply. */
enum want_e { W_STATUS, W_BULK, W_NIL, W_INT };
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
    struct timeval tv = {.tv_sec = 5};
    cl->rc = redisConnectWithTimeout("127.0.0.1", resp_port, tv);
    cr_assert(cl->rc && !cl->rc->err, "connect to the RESP server");
    cr_assert_eq(redisSetTimeout(cl->rc, tv), REDIS_OK);
}

static struct want *push_want(struct client *cl)
{
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 256;
        cl->wants = realloc(cl->wants, cl->cap * sizeof(*cl->wants));
        cr_assert_not_null(cl->wants);
    }
    struct want *w = &cl->wants[cl->n++];
    memset(w, 0, sizeof(*w));
    return w;
}

/* Queue "SET k v" (reply +OK) and record the value in the model. */
static void q_set(struct client *cl, const char *k, const char *v)
{
    redisAppendCommand(cl->rc, "SET %s %s", k, v);
    struct want *w = push_want(cl);
    w->kind = W_STATUS;
    snprintf(w->s, sizeof(w->s), "OK");
}

static void q_get(struct client *cl, const char *k, const char *expect /* NULL = nil */)
{
    redisAppendCommand(cl->rc, "GET %s", k);
    struct want *w = push_want(cl);
    w->kind = expect ? W_BULK : W_NIL;
    if (expect) {
        snprintf(w->s, sizeof(w->s), "%s", expect);
    }
}

static void q_int(struct client *cl, long long expect, const char *fmt, const char *k)
{
    redisAppendCommand(cl->rc, fmt, k);
    struct want *w = push_want(cl);
    w->kind = W_INT;
    w->i = expect;
}

/* Read every reply of the client and compare with the model. */
static void client_check(struct client *cl, const char *who)
{
    for (size_t i = 0; i < cl->n; i++) {
        redisReply *r = NULL;
        int rc = redisGetReply(cl->rc, (void **)&r);
        cr_assert_eq(rc, REDIS_OK, "%s: reply %zu of %zu missing: %s", who, i, cl->n,
                     cl->rc->errstr);
        const struct want *w = &cl->wants[i];
        switch (w->kind) {
        case W_STATUS:
            cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s #%zu: type %d (%s)", who, i, r->type,
                         r->str ? r->str : "");
            cr_assert_str_eq(r->str, w->s, "%s #%zu", who, i);
            break;
        case W_BULK:
            cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s #%zu: type %d (%s), want '%s'", who, i,
                         r->type, r->str ? r->str : "", w->s);
            cr_assert_str_eq(r->str, w->s, "%s #%zu: stale or reordered read", who, i);
            break;
        case W_NIL:
            cr_assert_eq(r->type, REDIS_REPLY_NIL, "%s #%zu: type %d (%s), want nil", who, i,
                         r->type, r->str ? r->str : "");
            break;
        case W_INT:
            cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s #%zu: type %d (%s)", who, i, r->type,
                         r->str ? r->str : "");
            cr_assert_eq(r->integer, w->i, "%s #%zu: %lld, want %lld", who, i, r->integer, w->i);
            break;
        }
        freeReplyObject(r);
    }
}

static void client_close(struct client *cl)
{
    redisFree(cl->rc);
    free(cl->wants);
}

/* Push every client's queued commands to the socket before reading any
 * reply, so the clients' pipelines run at the same time. */
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

/* The mixed sequence of client `id` (its own keys), `rounds` times. */
static void q_mix(struct client *cl, int id, int rounds)
{
    char k[32], c[32], v[32];
    snprintf(k, sizeof(k), "k:%d", id);
    snprintf(c, sizeof(c), "c:%d", id);
    long long counter = 0;
    for (int r = 0; r < rounds; r++) {
        snprintf(v, sizeof(v), "a%d", r);
        q_set(cl, k, v);
        snprintf(v, sizeof(v), "b%d", r);
        q_set(cl, k, v);
        q_get(cl, k, v);
        for (int i = 0; i < 5; i++) {
            q_int(cl, ++counter, "INCR %s", c);
        }
        char cv[32];
        snprintf(cv, sizeof(cv), "%lld", counter);
        q_get(cl, c, cv);
        q_int(cl, 1, "DEL %s", k);
        q_get(cl, k, NULL);
        q_int(cl, 0, "EXISTS %s", k);
        snprintf(v, sizeof(v), "c%d", r);
        q_set(cl, k, v);
        q_int(cl, 1, "EXISTS %s", k);
        q_get(cl, k, v);
        /* Commands that read before they write (SET ... GET, GETDEL) are
         * not blind writes: they wait for the SET before them. */
        char e[32];
        snprintf(e, sizeof(e), "e%d", r);
        q_set(cl, k, e);
        redisAppendCommand(cl->rc, "SET %s d%d GET", k, r);
        struct want *w = push_want(cl);
        w->kind = W_BULK;
        snprintf(w->s, sizeof(w->s), "%s", e);
        redisAppendCommand(cl->rc, "GETDEL %s", k);
        w = push_want(cl);
        w->kind = W_BULK;
        snprintf(w->s, sizeof(w->s), "d%d", r);
        q_get(cl, k, NULL);
        q_set(cl, k, v);
    }
}

/* ---------------------------------------------------------------- */
/* tests                                                             */
/* ---------------------------------------------------------------- */

Test(resp_order, reads_wait_for_earlier_writes_of_the_client, .timeout = 60)
{
    start(4, 4096);
    enum { NCLIENTS = 8 };
    struct client cls[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        q_mix(&cls[i], i, 20);
    }
    flush_all(cls, NCLIENTS);
    char who[32];
    for (int i = 0; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        client_check(&cls[i], who);
        client_close(&cls[i]);
    }
    stop();
    cr_assert(!fake.overflow);
    cr_assert_gt(fake.reads, 0);
    cr_assert_gt(fake.writes, 0);
}

Test(resp_order, a_clients_writes_stay_on_one_connection, .timeout = 60)
{
    /* Four connections: without affinity the INCRs of one client would be
     * spread over them and the fake would apply them out of order. */
    start(4, 4096);
    enum { NCLIENTS = 6, DEPTH = 1000 };
    struct client cls[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        char c[32], k[32], v[32];
        snprintf(c, sizeof(c), "n:%d", i);
        snprintf(k, sizeof(k), "s:%d", i);
        for (int j = 1; j <= DEPTH; j++) {
            q_int(&cls[i], j, "INCR %s", c);
            snprintf(v, sizeof(v), "%d", j);
            q_set(&cls[i], k, v);
        }
        snprintf(v, sizeof(v), "%d", DEPTH);
        q_get(&cls[i], k, v);
        q_get(&cls[i], c, v);
    }
    flush_all(cls, NCLIENTS);
    char who[32];
    for (int i = 0; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        client_check(&cls[i], who);
        client_close(&cls[i]);
    }
    stop();
    cr_assert(!fake.overflow);
    cr_assert_geq(fake.nconns, 2, "the pool opened %d connections", fake.nconns);
    for (size_t i = 0; i < fake.nkeys; i++) {
        cr_assert(!fake.keys[i].multi_conn, "key %.*s was written through several connections",
                  (int)fake.keys[i].klen, fake.keys[i].key);
    }
}

Test(resp_order, full_connection_is_backpressure_not_an_error, .timeout = 60)
{
    /* 2 connections of 8 in-flight requests for 16 clients pipelining
     * hundreds of commands: most sends find the connection full. */
    start(2, 8);
    enum { NCLIENTS = 16 };
    struct client cls[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        q_mix(&cls[i], 100 + i, 25);
    }
    flush_all(cls, NCLIENTS);
    char who[32];
    for (int i = 0; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        client_check(&cls[i], who);
        client_close(&cls[i]);
    }
    stop();
    cr_assert(!fake.overflow);
}

Test(resp_order, client_gone_with_deferred_requests, .timeout = 60)
{
    /* Clients that disconnect while their requests wait for room must not
     * leave anything behind (ASan checks the frees) nor disturb others. */
    start(1, 2);
    enum { NCLIENTS = 8 };
    struct client cls[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        client_open(&cls[i]);
        q_mix(&cls[i], 200 + i, 10);
    }
    flush_all(cls, NCLIENTS);
    for (int i = 0; i < NCLIENTS / 2; i++) {
        client_close(&cls[i]); /* gone without reading */
    }
    char who[32];
    for (int i = NCLIENTS / 2; i < NCLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        client_check(&cls[i], who);
        client_close(&cls[i]);
    }
    stop();
    cr_assert(!fake.overflow);
}
