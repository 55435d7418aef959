/*
 * Tests of the shared KV transaction runner (protocols/common/proto_txn.c),
 * in process: a uv loop runs the flo-dev engine and a pool against it, and
 * proto_txn_run drives real BEGIN / op / COMMIT / ROLLBACK frames. Covers a
 * commit (results, commit index, data visible afterwards), a failing op that
 * rolls back with nothing applied (type conflict and CAS conflict), caps and
 * bad input refused before anything is sent, and cancellation (no callback,
 * the transaction still rolled back). Every wait is bounded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dev_server.h"
#include "ts_embed.h"
#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "flo/flo_log.h"
#include "flo/flo_pool.h"
#include "proto_txn.h"

#define WAIT_MS   5000 /* bound of every wait in this file */
#define MAX_SAVED 8    /* results copied out of an outcome */

static struct ts_embed emb; /* flo-dev and a pool on the test's loop */
static struct proto_ctx ctx;

/* A copy of an outcome, taken inside the callback. */
struct saved {
    bool called;
    int calls;
    int err;
    bool committed;
    long failed_step;
    int http_status;
    char code[32];
    char message[512];
    uint64_t txn_id, commit_index;
    uint16_t op_count;
    size_t nresults;
    uint8_t status[MAX_SAVED];
    uint8_t body[MAX_SAVED][32];
    size_t body_len[MAX_SAVED];
};

/* Run until the pool has answered every request it took (and at least
 * `min_requests` were taken). */
static bool run_until_quiet(uint64_t min_requests, unsigned ms)
{
    uint64_t end = uv_now(&emb.loop) + ms;
    struct flo_pool_stats st;
    for (;;) {
        flo_pool_stats(emb.pool, &st);
        if (st.requests >= min_requests && st.inflight == 0) {
            return true;
        }
        if (uv_now(&emb.loop) >= end) {
            return false;
        }
        uv_run(&emb.loop, UV_RUN_ONCE);
    }
}

static void txn_cb(void *arg, const struct proto_txn_outcome *o)
{
    struct saved *s = arg;
    s->called = true;
    s->calls++;
    s->err = o->err;
    s->committed = o->committed;
    s->failed_step = o->failed_step;
    s->http_status = o->error.http_status;
    snprintf(s->code, sizeof(s->code), "%s", o->error.code ? o->error.code : "");
    snprintf(s->message, sizeof(s->message), "%s", o->error.message);
    s->txn_id = o->txn_id;
    s->commit_index = o->commit_index;
    s->op_count = o->op_count;
    s->nresults = o->nresults;
    for (size_t i = 0; i < o->nresults && i < MAX_SAVED; i++) {
        s->status[i] = o->results[i].status;
        s->body_len[i] = o->results[i].body.len;
        if (o->results[i].body.len > 0 && o->results[i].body.len <= sizeof(s->body[i])) {
            memcpy(s->body[i], o->results[i].body.ptr, o->results[i].body.len);
        }
    }
}

static void setup(void)
{
    ts_embed_start(&emb, "PROTO_TXN_TEST_LOG");
    ctx = (struct proto_ctx){
        .loop = &emb.loop,
        .pool = emb.pool,
        .default_ns = "default",
        .max_body = PROTO_DEFAULT_MAX_BODY,
    };
}

static void pool_closed(void *arg)
{
    *(bool *)arg = true;
}

static void teardown(void)
{
    ts_embed_stop(&emb);
}

TestSuite(proto_txn, .init = setup, .fini = teardown, .timeout = 30);

/* ---- plain KV helpers (outside any transaction) ---- */

struct kv_res {
    bool done;
    int err;
    uint8_t status;
    uint8_t value[64];
    size_t len;
    uint64_t version;
};

static void kv_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct kv_res *r = arg;
    r->done = true;
    r->err = err;
    r->status = status;
    flo_buf_t v;
    if (err == 0 && status == 0 && body.len >= 8 && body.len - 8 <= sizeof(r->value) &&
        flo_kv_dec_get(body, &r->version, &v) == 0) {
        memcpy(r->value, v.ptr, v.len);
        r->len = v.len;
    }
}

static struct kv_res kv_call(uint16_t op, const char *key, flo_buf_t value)
{
    struct kv_res r = {0};
    struct flo_req req = {
        .op = op,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR(key),
        .value = value,
    };
    cr_assert_eq(flo_pool_send(emb.pool, &req, 0, 0, kv_cb, &r, NULL), 0);
    cr_assert(ts_embed_run_until(&emb, &r.done, WAIT_MS));
    cr_assert_eq(r.err, 0);
    return r;
}

static void put(const char *key, const char *value)
{
    struct kv_res r = kv_call(FLO_OP_KV_PUT, key, FLO_BUF_STR(value));
    cr_assert_eq(r.status, FLO_STATUS_OK);
}

static struct kv_res get(const char *key)
{
    return kv_call(FLO_OP_KV_GET, key, FLO_BUF_NULL);
}

static void run_txn(const char *routing, const struct proto_txn_op *ops, size_t n, struct saved *s)
{
    struct proto_err e;
    memset(s, 0, sizeof(*s));
    int rc = proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR(routing), ops, n, txn_cb, s,
                           NULL, &e);
    cr_assert_eq(rc, 0, "proto_txn_run refused: %s", e.message);
    cr_assert_not(s->called, "callback ran synchronously");
    cr_assert(ts_embed_run_until(&emb, &s->called, WAIT_MS), "transaction never finished");
}

/* ---- tests ---- */

Test(proto_txn, commit_applies_every_op_and_reports_results)
{
    put("t-old", "bye");
    struct proto_txn_op ops[] = {
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-a"), .value = FLO_BUF_STR("alpha")},
        {.kind = PROTO_TXN_INCR, .key = FLO_BUF_STR("t-n"), .delta = 41},
        {.kind = PROTO_TXN_INCR, .key = FLO_BUF_STR("t-n"), .delta = 1},
        {.kind = PROTO_TXN_GET, .key = FLO_BUF_STR("t-a")},
        {.kind = PROTO_TXN_DELETE, .key = FLO_BUF_STR("t-old")},
        {.kind = PROTO_TXN_DELETE, .key = FLO_BUF_STR("t-never")},
        {.kind = PROTO_TXN_EXISTS, .key = FLO_BUF_STR("t-a")},
    };
    struct saved s;
    run_txn("t-route", ops, 7, &s);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.err, 0);
    cr_assert(s.committed, "not committed: %s", s.message);
    cr_assert_gt(s.txn_id, 0);
    cr_assert_gt(s.commit_index, 0);
    cr_assert_eq(s.op_count, 4, "op_count %u", s.op_count); /* put, 2 incr, delete */
    cr_assert_eq(s.nresults, 7);
    /* put buffered: [0 u64]; incr: [0][delta]; get reads the buffered put. */
    cr_assert_eq(s.status[0], FLO_STATUS_OK);
    cr_assert_eq(s.body_len[0], 8);
    cr_assert_eq(s.status[3], FLO_STATUS_OK);
    cr_assert_eq(s.body_len[3], 8 + 5);
    cr_assert_eq(memcmp(s.body[3] + 8, "alpha", 5), 0);
    cr_assert_eq(s.status[4], FLO_STATUS_OK);
    /* deleting a missing key is a result (a miss), not a failure */
    cr_assert_eq(s.status[5], FLO_STATUS_NOT_FOUND);
    cr_assert_eq(s.body_len[5], 0);
    cr_assert_eq(s.status[6], FLO_STATUS_OK);

    struct kv_res a = get("t-a");
    cr_assert_eq(a.status, FLO_STATUS_OK);
    cr_assert_eq(a.len, 5);
    cr_assert_eq(memcmp(a.value, "alpha", 5), 0);
    struct kv_res n = get("t-n");
    cr_assert_eq(n.status, FLO_STATUS_OK);
    cr_assert_eq(n.len, 8);
    cr_assert_eq(flo_ld64(n.value), 42);
    cr_assert_eq(get("t-old").status, FLO_STATUS_NOT_FOUND);
}

Test(proto_txn, empty_transaction_commits_with_zero_ops)
{
    struct saved s;
    run_txn("t-empty", NULL, 0, &s);
    cr_assert(s.committed, "%s", s.message);
    cr_assert_eq(s.op_count, 0);
    cr_assert_eq(s.nresults, 0);
}

Test(proto_txn, type_conflict_rolls_back_and_applies_nothing)
{
    put("t-plain", "x"); /* not an 8-byte counter */
    struct proto_txn_op ops[] = {
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-b"), .value = FLO_BUF_STR("beta")},
        {.kind = PROTO_TXN_INCR, .key = FLO_BUF_STR("t-plain"), .delta = 1},
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-c"), .value = FLO_BUF_STR("gamma")},
    };
    struct saved s;
    run_txn("t-route2", ops, 3, &s);
    cr_assert_not(s.committed);
    cr_assert_eq(s.err, 0);
    cr_assert_eq(s.failed_step, 1);
    cr_assert_eq(s.http_status, 400);
    cr_assert(strstr(s.message, "counter") != NULL, "message: %s", s.message);
    cr_assert_eq(s.nresults, 1, "only the op before the failure has a result");
    cr_assert(run_until_quiet(0, WAIT_MS)); /* the rollback has been answered */
    cr_assert_eq(get("t-b").status, FLO_STATUS_NOT_FOUND);
    cr_assert_eq(get("t-c").status, FLO_STATUS_NOT_FOUND);
    struct kv_res p = get("t-plain");
    cr_assert_eq(p.len, 1);
    cr_assert_eq(p.value[0], 'x');
}

Test(proto_txn, cas_conflict_fails_with_409_and_nothing_applied)
{
    put("t-cas", "v1");
    uint64_t version = get("t-cas").version;
    cr_assert_gt(version, 0);
    struct proto_txn_op ops[] = {
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-d"), .value = FLO_BUF_STR("delta")},
        {.kind = PROTO_TXN_PUT,
         .key = FLO_BUF_STR("t-cas"),
         .value = FLO_BUF_STR("v2"),
         .has_cas = true,
         .cas_version = version + 1000},
    };
    struct saved s;
    run_txn("t-route3", ops, 2, &s);
    cr_assert_not(s.committed);
    cr_assert_eq(s.failed_step, 1);
    cr_assert_eq(s.http_status, 409);
    cr_assert_str_eq(s.code, "conflict");
    cr_assert_eq(get("t-d").status, FLO_STATUS_NOT_FOUND);
    struct kv_res c = get("t-cas");
    cr_assert_eq(c.len, 2);
    cr_assert_eq(memcmp(c.value, "v1", 2), 0);
    cr_assert_eq(c.version, version);

    /* The right version commits. */
    ops[1].cas_version = version;
    run_txn("t-route3", ops, 2, &s);
    cr_assert(s.committed, "%s", s.message);
    c = get("t-cas");
    cr_assert_eq(memcmp(c.value, "v2", 2), 0);
}

Test(proto_txn, if_not_exists_conflict_fails)
{
    put("t-nx", "here");
    struct proto_txn_op op = {.kind = PROTO_TXN_PUT,
                              .key = FLO_BUF_STR("t-nx"),
                              .value = FLO_BUF_STR("new"),
                              .if_not_exists = true};
    struct saved s;
    run_txn("t-route4", &op, 1, &s);
    cr_assert_not(s.committed);
    cr_assert_eq(s.failed_step, 0);
    cr_assert_eq(s.http_status, 409);
}

Test(proto_txn, caps_and_bad_input_refused_before_begin)
{
    struct flo_pool_stats before, after;
    struct proto_err e;
    struct saved s = {0};
    flo_pool_stats(emb.pool, &before);

    static struct proto_txn_op many[PROTO_TXN_MAX_OPS + 1];
    for (size_t i = 0; i < PROTO_TXN_MAX_OPS + 1; i++) {
        many[i] = (struct proto_txn_op){.kind = PROTO_TXN_GET, .key = FLO_BUF_STR("k")};
    }
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("r"), many,
                               PROTO_TXN_MAX_OPS + 1, txn_cb, &s, NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 413);
    cr_assert(strstr(e.message, "256") != NULL, "%s", e.message);

    /* Exactly at the op cap is accepted by validation (checked by a run). */
    size_t big_len = PROTO_TXN_MAX_BYTES / 2 + 1;
    char *big = malloc(big_len);
    cr_assert_not_null(big);
    memset(big, 'v', big_len);
    struct proto_txn_op two_big[] = {
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("b1"), .value = FLO_BUF(big, big_len)},
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("b2"), .value = FLO_BUF(big, big_len)},
    };
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("r"), two_big, 2, txn_cb,
                               &s, NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 413);
    free(big);

    cr_assert_eq(
        proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_NULL, many, 1, txn_cb, &s, NULL, &e),
        -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert(strstr(e.message, "routing key") != NULL, "%s", e.message);

    char longkey[300];
    memset(longkey, 'r', sizeof(longkey));
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF(longkey, sizeof(longkey)),
                               many, 1, txn_cb, &s, NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 400);

    struct proto_txn_op nokey = {.kind = PROTO_TXN_PUT, .value = FLO_BUF_STR("v")};
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("r"), &nokey, 1, txn_cb,
                               &s, NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 400);

    struct proto_txn_op badkind = {.kind = (enum proto_txn_kind_e)99, .key = FLO_BUF_STR("k")};
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("r"), &badkind, 1, txn_cb,
                               &s, NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 400);

    struct proto_txn_op both = {
        .kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("k"), .if_exists = true, .if_not_exists = true};
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("r"), &both, 1, txn_cb, &s,
                               NULL, &e),
                 -1);
    cr_assert_eq(e.http_status, 400);

    for (int i = 0; i < 5; i++) {
        uv_run(&emb.loop, UV_RUN_NOWAIT);
    }
    flo_pool_stats(emb.pool, &after);
    cr_assert_eq(after.requests, before.requests, "something was sent upstream");
    cr_assert_not(s.called);
}

Test(proto_txn, full_op_cap_commits)
{
    static struct proto_txn_op ops[PROTO_TXN_MAX_OPS];
    for (size_t i = 0; i < PROTO_TXN_MAX_OPS; i++) {
        ops[i] =
            (struct proto_txn_op){.kind = PROTO_TXN_INCR, .key = FLO_BUF_STR("t-cap"), .delta = 1};
    }
    struct saved s;
    run_txn("t-cap", ops, PROTO_TXN_MAX_OPS, &s);
    cr_assert(s.committed, "%s", s.message);
    cr_assert_eq(s.nresults, PROTO_TXN_MAX_OPS);
    struct kv_res r = get("t-cap");
    cr_assert_eq(flo_ld64(r.value), PROTO_TXN_MAX_OPS);
}

Test(proto_txn, cancel_before_begin_answers_rolls_back_without_callback)
{
    struct proto_txn_op op = {
        .kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-cancel"), .value = FLO_BUF_STR("no")};
    struct proto_txn *t = NULL;
    struct proto_err e;
    struct saved s = {0};
    struct flo_pool_stats before;
    flo_pool_stats(emb.pool, &before);
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("t-cancel"), &op, 1,
                               txn_cb, &s, &t, &e),
                 0);
    cr_assert_not_null(t);
    proto_txn_cancel(t);
    /* BEGIN, then ROLLBACK instead of the op. */
    cr_assert(run_until_quiet(before.requests + 2, WAIT_MS));
    cr_assert_not(s.called);
    struct flo_pool_stats after;
    flo_pool_stats(emb.pool, &after);
    cr_assert_eq(after.requests, before.requests + 2, "expected BEGIN + ROLLBACK only");
    cr_assert_eq(get("t-cancel").status, FLO_STATUS_NOT_FOUND);
}

Test(proto_txn, cancel_mid_ops_applies_nothing)
{
    struct proto_txn_op ops[] = {
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-m1"), .value = FLO_BUF_STR("1")},
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-m2"), .value = FLO_BUF_STR("2")},
        {.kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-m3"), .value = FLO_BUF_STR("3")},
    };
    struct proto_txn *t = NULL;
    struct proto_err e;
    struct saved s = {0};
    struct flo_pool_stats before, st;
    flo_pool_stats(emb.pool, &before);
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("t-mid"), ops, 3, txn_cb,
                               &s, &t, &e),
                 0);
    /* Wait until BEGIN and the first op have been answered. */
    uint64_t end = uv_now(&emb.loop) + WAIT_MS;
    do {
        uv_run(&emb.loop, UV_RUN_ONCE);
        flo_pool_stats(emb.pool, &st);
    } while (st.responses < before.responses + 2 && uv_now(&emb.loop) < end);
    cr_assert_geq(st.responses, before.responses + 2);
    cr_assert_not(s.called);
    proto_txn_cancel(t);
    cr_assert(run_until_quiet(before.requests + 3, WAIT_MS));
    for (int i = 0; i < 10; i++) {
        uv_run(&emb.loop, UV_RUN_NOWAIT);
    }
    cr_assert(run_until_quiet(before.requests + 3, WAIT_MS));
    cr_assert_not(s.called);
    cr_assert_eq(get("t-m1").status, FLO_STATUS_NOT_FOUND);
    cr_assert_eq(get("t-m2").status, FLO_STATUS_NOT_FOUND);
    cr_assert_eq(get("t-m3").status, FLO_STATUS_NOT_FOUND);
}

Test(proto_txn, upstream_gone_reports_error_once)
{
    struct proto_txn_op op = {
        .kind = PROTO_TXN_PUT, .key = FLO_BUF_STR("t-gone"), .value = FLO_BUF_STR("x")};
    struct saved s = {0};
    struct proto_err e;
    cr_assert_eq(proto_txn_run(&ctx, FLO_BUF_STR("default"), FLO_BUF_STR("t-gone"), &op, 1, txn_cb,
                               &s, NULL, &e),
                 0);
    /* Close the pool under the running transaction: the step in flight
     * fails with FLO_ECLOSING, and the rollback cannot be sent any more. */
    bool closed = false;
    flo_pool_close(emb.pool, pool_closed, &closed);
    cr_assert(ts_embed_run_until(&emb, &s.called, WAIT_MS));
    cr_assert_eq(s.calls, 1);
    cr_assert_not(s.committed);
    cr_assert_lt(s.err, 0);
    cr_assert_geq(s.http_status, 500);
    ts_embed_run_until(&emb, &closed, WAIT_MS);
    /* teardown closes the pool again: give it a fresh one. */
    const char *addrs[] = {emb.addr};
    struct flo_pool_config cfg;
    flo_pool_config_defaults(&cfg);
    cfg.addrs = addrs;
    cfg.naddrs = 1;
    cr_assert_eq(flo_pool_new(&emb.loop, &cfg, &emb.pool), 0);
}
