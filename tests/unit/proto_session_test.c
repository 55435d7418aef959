/*
 * Tests of the consumer-session registry (protocols/common/proto_session.c).
 * Ids: round trip, tampering, wrong secret, garbage and truncation (all 404
 * unknown_session), and the derived default secret (same configuration =
 * same key). Against an in-process flo-dev on the test's loop: create, read
 * (delivery count 1), ack; a second session claiming what a silent one
 * never acked (delivery count 2); re-attach by a fresh registry; idle
 * expiry leaving the group upstream; close leaving every session; records
 * sharing one membership (same consumer name) leaving it only with the last
 * of them (end, expiry, close); HTTP sessions and RESP consumers bounded
 * apart; a read's --max-longpolls slot held once across its slices and given
 * back once however it ends; creates cancelled or cut off by close while
 * their join is in flight leaving again. Every wait is bounded.
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
#include "flo/flo_log.h"
#include "flo/flo_ops.h"
#include "flo/flo_pool.h"
#include "proto_session.h"
#include "proto_session_id.h"

#define WAIT_MS 5000 /* bound of every wait in this file */
#define MAX_GOT 16

static struct ts_embed emb; /* flo-dev and a pool on the test's loop */
static void setup(void)
{
    ts_embed_start(&emb, "PROTO_SESSION_TEST_LOG");
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static void teardown(void)
{
    ts_embed_stop(&emb);
}

/* ---- registry helpers ---- */

static proto_sess_reg_t *reg_new(uint32_t idle_ms, const char *derive_from)
{
    struct proto_sess_cfg cfg = {.idle_ms = idle_ms, .derive_from = derive_from};
    proto_sess_reg_t *reg = NULL;
    cr_assert_eq(proto_sess_reg_new(&emb.loop, emb.pool, &cfg, &reg), 0);
    return reg;
}

static void reg_close(proto_sess_reg_t *reg)
{
    bool done = false;
    proto_sess_reg_close(reg, 2000, flag_cb, &done);
    cr_assert(ts_embed_run_until(&emb, &done, WAIT_MS), "registry close never finished");
}

struct created {
    bool done;
    proto_sess_t *s;
    int http_status;
    char code[32];
};

static void created_cb(void *arg, proto_sess_t *s, const struct proto_err *e)
{
    struct created *c = arg;
    c->done = true;
    c->s = s;
    if (e != NULL) {
        c->http_status = e->http_status;
        snprintf(c->code, sizeof c->code, "%s", e->code);
    }
}

static proto_sess_t *create(proto_sess_reg_t *reg, const char *stream, const char *group,
                            const char *consumer, uint32_t claim_idle_ms)
{
    struct proto_sess_spec spec = {
        .ns = FLO_BUF_STR("default"),
        .stream = FLO_BUF_STR(stream),
        .group = FLO_BUF_STR(group),
        .consumer = consumer ? FLO_BUF_STR(consumer) : FLO_BUF_NULL,
        .claim_idle_ms = claim_idle_ms,
    };
    struct created c = {0};
    struct proto_err e;
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, &c, NULL, &e), 0, "%s", e.message);
    cr_assert(ts_embed_run_until(&emb, &c.done, WAIT_MS));
    cr_assert_not_null(c.s, "create failed: %d %s", c.http_status, c.code);
    return c.s;
}

/* Copy of a session's id (NUL-terminated). */
static void id_of(proto_sess_t *s, char *out, size_t cap)
{
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_lt(info.id.len, cap);
    memcpy(out, info.id.ptr, info.id.len);
    out[info.id.len] = '\0';
}

struct got {
    bool done;
    size_t n;
    int http_status;
    struct flo_stream_id ids[MAX_GOT];
    uint32_t dc[MAX_GOT];
    char payload[MAX_GOT][32];
};

static void read_cb(void *arg, const struct proto_sess_rec *recs, size_t n,
                    const struct proto_err *e)
{
    struct got *g = arg;
    g->done = true;
    g->http_status = e ? e->http_status : 0;
    g->n = n;
    for (size_t i = 0; i < n && i < MAX_GOT; i++) {
        g->ids[i] = recs[i].rec.id;
        g->dc[i] = recs[i].delivery_count;
        size_t l = recs[i].rec.payload.len < 31 ? recs[i].rec.payload.len : 31;
        memcpy(g->payload[i], recs[i].rec.payload.ptr, l);
        g->payload[i][l] = '\0';
    }
}

static struct got sess_read(proto_sess_t *s, uint32_t count, uint32_t block_ms)
{
    struct got g = {0};
    struct proto_sess_read_args a = {.count = count, .block_ms = block_ms};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(s, &a, read_cb, &g, NULL, &e), 0, "%s", e.message);
    cr_assert(ts_embed_run_until(&emb, &g.done, WAIT_MS + block_ms));
    cr_assert_eq(g.http_status, 0);
    return g;
}

struct done {
    bool done;
    uint64_t n;
    int http_status;
};

static void done_cb(void *arg, uint64_t n, const struct proto_err *e)
{
    struct done *d = arg;
    d->done = true;
    d->n = n;
    d->http_status = e ? e->http_status : 0;
}

static uint64_t sess_ids(proto_sess_t *s, enum proto_sess_idop_e kind,
                         const struct flo_stream_id *ids, size_t n)
{
    struct done d = {0};
    struct proto_err e;
    cr_assert_eq(proto_sess_ids(s, kind, ids, n, done_cb, &d, NULL, &e), 0, "%s", e.message);
    cr_assert(ts_embed_run_until(&emb, &d.done, WAIT_MS));
    cr_assert_eq(d.http_status, 0);
    return d.n;
}

/* ---- upstream helpers ---- */

struct call_res {
    bool done;
    int err;
    uint8_t status;
    uint8_t body[64];
    size_t len;
};

static void call_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct call_res *r = arg;
    r->done = true;
    r->err = err;
    r->status = status;
    r->len = body.len < sizeof r->body ? body.len : sizeof r->body;
    if (r->len > 0) {
        memcpy(r->body, body.ptr, r->len);
    }
}

static struct call_res call(uint16_t op, const char *stream, struct flo_wbuf *value)
{
    struct call_res r = {0};
    struct flo_req req = {.op = op,
                          .ns = FLO_BUF_STR("default"),
                          .key = FLO_BUF_STR(stream),
                          .value = flo_wbuf_view(value)};
    cr_assert_eq(flo_pool_send(emb.pool, &req, 0, 0, call_cb, &r, NULL), 0);
    cr_assert(ts_embed_run_until(&emb, &r.done, WAIT_MS));
    cr_assert_eq(r.err, 0);
    flo_wbuf_free(value);
    return r;
}

static void append(const char *stream, const char *payload)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct flo_stream_rec_in rec = {.payload = FLO_BUF_STR(payload)};
    cr_assert_eq(flo_stream_batch_value(&v, &rec, 1), 0);
    cr_assert_eq(call(FLO_OP_STREAM_APPEND, stream, &v).status, FLO_STATUS_OK);
}

static struct flo_group_info group_info(const char *stream, const char *group)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_group_value(&v, FLO_BUF_STR(group)), 0);
    struct call_res r = call(FLO_OP_GROUP_INFO, stream, &v);
    cr_assert_eq(r.status, FLO_STATUS_OK);
    struct flo_group_info g;
    cr_assert_eq(flo_group_dec_info(FLO_BUF(r.body, r.len), &g), 0);
    return g;
}

static void expect_unknown(proto_sess_reg_t *reg, const char *id, const char *why)
{
    proto_sess_t *s = NULL;
    struct proto_err e;
    cr_assert_eq(proto_sess_get(reg, FLO_BUF_STR(id), &s, &e), -1, "%s accepted", why);
    cr_assert_eq(e.http_status, 404, "%s", why);
    cr_assert_str_eq(e.code, "unknown_session", "%s", why);
}

TestSuite(proto_session, .init = setup, .fini = teardown, .timeout = 60);

/* ---- ids ---- */

Test(proto_session, id_round_trip_and_tampering)
{
    struct proto__sess_key key;
    cr_assert_eq(proto__sess_key_init(&key, NULL, 0, "apikey"), 0);
    struct proto__sess_ident in = {
        .claim_idle_ms = 1234,
        .ns = FLO_BUF_STR("ns1"),
        .stream = FLO_BUF_STR("orders"),
        .group = FLO_BUF_STR("billing"),
        .consumer = FLO_BUF_STR("worker-7"),
    };
    char id[PROTO_SESS_ID_MAX + 1];
    int n = proto__sess_id_encode(&key, &in, id, sizeof id);
    cr_assert_gt(n, 0);
    cr_assert_eq(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 (size_t)n, "not base64url: %s", id);
    uint8_t scratch[PROTO_SESS_ID_MAX];
    struct proto__sess_ident out;
    const char *why = NULL;
    cr_assert_eq(proto__sess_id_decode(&key, FLO_BUF(id, n), scratch, sizeof scratch, &out, &why),
                 0);
    cr_assert_eq(out.claim_idle_ms, 1234);
    cr_assert(out.stream.len == 6 && memcmp(out.stream.ptr, "orders", 6) == 0);
    cr_assert(out.group.len == 7 && memcmp(out.group.ptr, "billing", 7) == 0);
    cr_assert(out.consumer.len == 8 && memcmp(out.consumer.ptr, "worker-7", 8) == 0);
    cr_assert(out.ns.len == 3 && memcmp(out.ns.ptr, "ns1", 3) == 0);

    /* Through the registry: every kind of bad id is a 404 unknown_session. */
    proto_sess_reg_t *reg = reg_new(0, "apikey");
    proto_sess_t *s = NULL;
    struct proto_err e;
    cr_assert_eq(proto_sess_get(reg, FLO_BUF(id, n), &s, &e), 0, "%s", e.message);
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_eq(info.claim_idle_ms, 1234);
    cr_assert(info.consumer.len == 8 && memcmp(info.consumer.ptr, "worker-7", 8) == 0);
    proto_sess_put(s);

    char bad[PROTO_SESS_ID_MAX + 1];
    for (int i = 0; i < n; i += 7) { /* flip one character at a time */
        memcpy(bad, id, (size_t)n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        expect_unknown(reg, bad, "tampered id");
    }
    memcpy(bad, id, (size_t)n + 1);
    bad[n - 3] = '\0';
    expect_unknown(reg, bad, "truncated id");
    expect_unknown(reg, "not a session id!", "garbage");
    expect_unknown(reg, "", "empty id");
    expect_unknown(reg, "AQ", "short id");

    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.reattached, 1);
    cr_assert_eq(st.http_sessions, 1);
    reg_close(reg);
}

Test(proto_session, secret_derivation_and_configured_secret)
{
    proto_sess_reg_t *a = reg_new(0, "key+token");
    proto_sess_reg_t *b = reg_new(0, "key+token");
    proto_sess_reg_t *c = reg_new(0, "other-key");
    proto_sess_t *s = create(a, "st", "g", "c1", 0);
    char id[PROTO_SESS_ID_MAX + 1];
    id_of(s, id, sizeof id);
    proto_sess_put(s);

    proto_sess_t *t = NULL;
    struct proto_err e;
    cr_assert_eq(proto_sess_get(b, FLO_BUF_STR(id), &t, &e), 0, "same config refused");
    struct proto_sess_info info;
    proto_sess_describe(t, &info);
    cr_assert(info.consumer.len == 2 && memcmp(info.consumer.ptr, "c1", 2) == 0);
    cr_assert_eq(info.claim_idle_ms, PROTO_SESS_DEFAULT_CLAIM_IDLE_MS);
    proto_sess_put(t);
    expect_unknown(c, id, "id from a registry with another derivation");

    /* A configured secret: too short is refused; a good one differs from
     * the derived key. */
    struct proto_sess_cfg cfg = {.secret = (const uint8_t *)"short", .secret_len = 5};
    proto_sess_reg_t *d = NULL;
    cr_assert_eq(proto_sess_reg_new(&emb.loop, emb.pool, &cfg, &d), FLO_EINVAL);
    cfg.secret = (const uint8_t *)"0123456789abcdef-secret";
    cfg.secret_len = strlen((const char *)cfg.secret);
    cr_assert_eq(proto_sess_reg_new(&emb.loop, emb.pool, &cfg, &d), 0);
    expect_unknown(d, id, "id under another secret");
    reg_close(a);
    reg_close(b);
    reg_close(c);
    reg_close(d);
}

Test(proto_session, create_validation)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    struct proto_err e;
    struct proto_sess_spec spec = {
        .ns = FLO_BUF_STR("default"), .stream = FLO_BUF_STR("s"), .group = FLO_BUF_NULL};
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, NULL, NULL, &e), -1);
    cr_assert_eq(e.http_status, 400);
    spec.group = FLO_BUF("g\0x", 3);
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, NULL, NULL, &e), -1);
    cr_assert_eq(e.http_status, 400);
    /* A generated consumer name. */
    proto_sess_t *s = create(reg, "s", "g", NULL, 0);
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_eq(info.consumer.len, 19);
    cr_assert(memcmp(info.consumer.ptr, "sc-", 3) == 0);
    proto_sess_put(s);
    reg_close(reg);
}

/* ---- against flo-dev ---- */

Test(proto_session, read_then_ack)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "orders", "billing", "c1", 0);
    cr_assert_eq(group_info("orders", "billing").member_count, 1);
    append("orders", "one");
    append("orders", "two");
    struct got g = sess_read(s, 10, 0);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.payload[0], "one");
    cr_assert_str_eq(g.payload[1], "two");
    cr_assert_eq(g.dc[0], 1);
    cr_assert_eq(g.dc[1], 1);
    cr_assert_eq(group_info("orders", "billing").pending_count, 2);
    cr_assert_eq(sess_ids(s, PROTO_SESS_TOUCH, g.ids, 2), 2);
    cr_assert_eq(sess_ids(s, PROTO_SESS_ACK, g.ids, 2), 2);
    cr_assert_eq(group_info("orders", "billing").pending_count, 0);

    /* Nothing new: a short blocking read comes back empty, and a record
     * appended during a blocking read is delivered. */
    g = sess_read(s, 10, 50);
    cr_assert_eq(g.n, 0);
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_eq(info.delivered, 2);

    struct done d = {0};
    struct proto_err e;
    cr_assert_eq(proto_sess_end(s, done_cb, &d, NULL, &e), 0);
    proto_sess_put(s);
    cr_assert(ts_embed_run_until(&emb, &d.done, WAIT_MS));
    cr_assert_eq(d.http_status, 0);
    cr_assert_eq(group_info("orders", "billing").member_count, 0);
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.ended, 1);
    cr_assert_eq(st.http_sessions, 0);
    reg_close(reg);
}

Test(proto_session, blocking_read_wakes_on_append)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "events", "g", "c1", 0);
    struct got g = {0};
    struct proto_sess_read_args a = {.count = 5, .block_ms = 3000};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(s, &a, read_cb, &g, NULL, &e), 0);
    ts_embed_run_for(&emb, 100);
    cr_assert(!g.done);
    append("events", "late");
    cr_assert(ts_embed_run_until(&emb, &g.done, WAIT_MS));
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.payload[0], "late");
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, claim_from_silent_session)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *dead = create(reg, "jobs", "workers", "dead", 100);
    proto_sess_t *live = create(reg, "jobs", "workers", "live", 100);
    append("jobs", "j1");
    struct got g = sess_read(dead, 10, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.dc[0], 1);
    /* Not idle long enough yet: nothing for the other session. */
    g = sess_read(live, 10, 0);
    cr_assert_eq(g.n, 0);
    /* A blocking read is sliced at claim_idle_ms, so it picks the entry up
     * once it has been idle that long. */
    g = sess_read(live, 10, 2000);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.payload[0], "j1");
    cr_assert_eq(g.dc[0], 2);
    cr_assert_eq(sess_ids(live, PROTO_SESS_ACK, g.ids, 1), 1);
    cr_assert_eq(group_info("jobs", "workers").pending_count, 0);
    proto_sess_put(dead);
    proto_sess_put(live);
    reg_close(reg);
}

Test(proto_session, nack_comes_back_through_claim)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "nq", "g", "c", 50);
    append("nq", "x");
    struct got g = sess_read(s, 10, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(sess_ids(s, PROTO_SESS_NACK, g.ids, 1), 1);
    ts_embed_run_for(&emb, 80);
    g = sess_read(s, 10, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.payload[0], "x");
    cr_assert_geq(g.dc[0], 3); /* read 1, nack +1, claim +1 */
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, reattach_in_fresh_registry)
{
    proto_sess_reg_t *a = reg_new(0, "same");
    proto_sess_t *s = create(a, "ra", "g", "c", 0);
    char id[PROTO_SESS_ID_MAX + 1];
    id_of(s, id, sizeof id);
    proto_sess_put(s);
    reg_close(a); /* leaves upstream */
    cr_assert_eq(group_info("ra", "g").member_count, 0);

    proto_sess_reg_t *b = reg_new(0, "same");
    proto_sess_t *t = NULL;
    struct proto_err e;
    cr_assert_eq(proto_sess_get(b, FLO_BUF_STR(id), &t, &e), 0, "%s", e.message);
    append("ra", "after");
    struct got g = sess_read(t, 10, 0); /* joins again first */
    cr_assert_eq(g.n, 1);
    cr_assert_eq(group_info("ra", "g").member_count, 1);
    /* Known now: the same record comes back. */
    proto_sess_t *t2 = NULL;
    cr_assert_eq(proto_sess_get(b, FLO_BUF_STR(id), &t2, &e), 0);
    cr_assert_eq(t, t2);
    proto_sess_put(t2);
    proto_sess_put(t);
    struct proto_sess_stats st;
    proto_sess_reg_stats(b, &st);
    cr_assert_eq(st.reattached, 1);
    cr_assert_eq(st.rejoins, 1);
    reg_close(b);
}

Test(proto_session, idle_expiry_leaves_group)
{
    proto_sess_reg_t *reg = reg_new(100, NULL);
    proto_sess_t *held = create(reg, "ex", "g", "held", 0);
    proto_sess_t *s = create(reg, "ex", "g", "idle", 0);
    proto_sess_put(s);
    cr_assert_eq(proto_sess_resp_use(reg, FLO_BUF_STR("default"), FLO_BUF_STR("ex"),
                                     FLO_BUF_STR("g"), FLO_BUF_STR("resp")),
                 0);
    cr_assert_eq(group_info("ex", "g").member_count, 2);
    ts_embed_run_for(&emb, 300);
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.expired, 2, "expired %llu", (unsigned long long)st.expired);
    cr_assert_eq(st.http_sessions, 1); /* the held one stays */
    cr_assert_eq(st.resp_consumers, 0);
    /* The leave goes upstream on its own schedule: poll, bounded. */
    uint64_t end = uv_now(&emb.loop) + WAIT_MS;
    while (group_info("ex", "g").member_count != 1 && uv_now(&emb.loop) < end) {
        ts_embed_run_for(&emb, 20);
    }
    cr_assert_eq(group_info("ex", "g").member_count, 1);
    proto_sess_put(held);
    reg_close(reg);
}

static void count_member(void *arg, flo_buf_t consumer, uint64_t idle_ms)
{
    (void)idle_ms;
    (void)consumer;
    (*(int *)arg)++;
}

Test(proto_session, resp_consumers_and_members)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    flo_buf_t ns = FLO_BUF_STR("default"), st = FLO_BUF_STR("rs"), g = FLO_BUF_STR("g");
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("a")), 0);
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("a")), 0);
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("b")), 0);
    proto_sess_t *s = create(reg, "rs", "g", "a", 0); /* same name as a RESP consumer */
    int n = 0;
    proto_sess_foreach_member(reg, ns, st, g, count_member, &n);
    cr_assert_eq(n, 2);
    proto_sess_resp_forget(reg, ns, st, g, FLO_BUF_STR("b"));
    n = 0;
    proto_sess_foreach_member(reg, ns, st, g, count_member, &n);
    cr_assert_eq(n, 1);
    struct proto_sess_stats sts;
    proto_sess_reg_stats(reg, &sts);
    cr_assert_eq(sts.resp_consumers, 1);
    cr_assert_eq(sts.http_sessions, 1);
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, max_sessions)
{
    struct proto_sess_cfg cfg = {.max_sessions = 1};
    proto_sess_reg_t *reg = NULL;
    cr_assert_eq(proto_sess_reg_new(&emb.loop, emb.pool, &cfg, &reg), 0);
    proto_sess_t *s = create(reg, "m", "g", "c1", 0);
    struct proto_sess_spec spec = {.ns = FLO_BUF_STR("default"),
                                   .stream = FLO_BUF_STR("m"),
                                   .group = FLO_BUF_STR("g"),
                                   .consumer = FLO_BUF_STR("c2")};
    struct proto_err e;
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, NULL, NULL, &e), -1);
    cr_assert_eq(e.http_status, 429);
    proto_sess_put(s);
    reg_close(reg);
}

/* RESP consumers have their own bound (of the same value): many RESP
 * consumer names must not make HTTP creates fail, nor the reverse. */
Test(proto_session, max_sessions_counts_http_and_resp_apart)
{
    struct proto_sess_cfg cfg = {.max_sessions = 1};
    proto_sess_reg_t *reg = NULL;
    cr_assert_eq(proto_sess_reg_new(&emb.loop, emb.pool, &cfg, &reg), 0);
    flo_buf_t ns = FLO_BUF_STR("default"), st = FLO_BUF_STR("ma"), g = FLO_BUF_STR("g");
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("r1")), 0);
    proto_sess_t *s = create(reg, "ma", "g", "c1", 0); /* not refused by the RESP consumer */
    struct proto_sess_spec spec = {
        .ns = ns, .stream = st, .group = g, .consumer = FLO_BUF_STR("c2")};
    struct proto_err e;
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, NULL, NULL, &e), -1);
    cr_assert_eq(e.http_status, 429);
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("r2")), FLO_ELIMIT);
    cr_assert_eq(proto_sess_resp_use(reg, ns, st, g, FLO_BUF_STR("r1")), 0); /* known: a use */
    struct proto_sess_stats sts;
    proto_sess_reg_stats(reg, &sts);
    cr_assert_eq(sts.http_sessions, 1);
    cr_assert_eq(sts.resp_consumers, 1);
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, close_leaves_every_session_and_fails_reads)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *a = create(reg, "cl", "g", "a", 0);
    proto_sess_t *b = create(reg, "cl", "g", "b", 0);
    cr_assert_eq(group_info("cl", "g").member_count, 2);
    struct got g = {0};
    struct proto_sess_read_args ra = {.count = 5, .block_ms = 10000};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(b, &ra, read_cb, &g, NULL, &e), 0);
    ts_embed_run_for(&emb, 50);
    proto_sess_put(a);
    proto_sess_put(b);
    bool done = false;
    proto_sess_reg_close(reg, 2000, flag_cb, &done);
    cr_assert(g.done, "the blocking read was not failed by close");
    cr_assert_eq(g.http_status, 503);
    cr_assert(ts_embed_run_until(&emb, &done, WAIT_MS));
    cr_assert_eq(group_info("cl", "g").member_count, 0);
}

Test(proto_session, cancel_detaches)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "cx", "g", "c", 0);
    struct got g = {0};
    struct proto_sess_read_args ra = {.count = 5, .block_ms = 2000};
    struct proto_err e;
    proto_sess_op_t *op = NULL;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g, &op, &e), 0);
    ts_embed_run_for(&emb, 30);
    proto_sess_op_cancel(op);
    append("cx", "r");
    ts_embed_run_for(&emb, 100);
    cr_assert(!g.done);
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_eq(info.ops_in_flight, 0);
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, rejoins_after_upstream_reconnect)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "rj", "g", "c", 0);
    cr_assert_eq(group_info("rj", "g").member_count, 1);

    /* Replace the upstream with an empty flo-dev on the same port: the pool
     * reconnects and the membership must be joined again. */
    uint16_t port = dev_server_port(emb.dev);
    dev_server_close(emb.dev);
    emb.dev = NULL;
    ts_embed_run_for(&emb, 50);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    struct dev_config dcfg = {.listen = listen, .api_key = NULL};
    cr_assert_eq(dev_server_new(&emb.loop, &dcfg, &emb.dev), 0);
    struct flo_pool_stats ps;
    uint64_t end = uv_now(&emb.loop) + WAIT_MS;
    do {
        ts_embed_run_for(&emb, 20);
        flo_pool_stats(emb.pool, &ps);
    } while ((ps.reconnects == 0 || ps.conns_up < ps.conns_total) && uv_now(&emb.loop) < end);
    cr_assert_gt(ps.reconnects, 0);

    append("rj", "fresh");
    struct got g = sess_read(s, 10, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(group_info("rj", "g").member_count, 1);
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.rejoins, 1);
    proto_sess_put(s);
    reg_close(reg);
}

/* Wait (bounded) until the group has `want` members; returns the last count. */
static uint32_t wait_members(const char *stream, const char *group, uint32_t want)
{
    uint64_t end = uv_now(&emb.loop) + WAIT_MS;
    uint32_t n = group_info(stream, group).member_count;
    while (n != want && uv_now(&emb.loop) < end) {
        ts_embed_run_for(&emb, 20);
        n = group_info(stream, group).member_count;
    }
    return n;
}

Test(proto_session, end_while_read_in_flight_leaves_for_good)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "ew", "g", "c", 0);
    struct got g = {0};
    struct proto_sess_read_args ra = {.count = 5, .block_ms = 3000};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g, NULL, &e), 0);
    ts_embed_run_for(&emb, 50);
    struct done d = {0};
    cr_assert_eq(proto_sess_end(s, done_cb, &d, NULL, &e), 0);
    cr_assert(ts_embed_run_until(&emb, &d.done, WAIT_MS));
    cr_assert_eq(d.http_status, 0);
    /* The read in flight ends without starting another slice ... */
    append("ew", "after-end");
    cr_assert(ts_embed_run_until(&emb, &g.done, WAIT_MS));
    cr_assert_eq(g.http_status, 0);
    /* ... and whatever it did upstream, the consumer is not left joined: once
     * what it delivered is settled (Flo keeps a leaving member that still
     * owns pending entries), the member is gone. */
    if (g.n > 0) {
        struct flo_wbuf v;
        flo_wbuf_init(&v);
        cr_assert_eq(flo_group_ids_value(&v, FLO_BUF_STR("g"), FLO_BUF_STR("c"), g.ids, g.n), 0);
        cr_assert_eq(call(FLO_OP_GROUP_ACK, "ew", &v).status, FLO_STATUS_OK);
    }
    cr_assert_eq(wait_members("ew", "g", 0), 0, "the ended session is still a member");
    /* New operations on the ended record are refused, not run unregistered. */
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g, NULL, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert_str_eq(e.code, "unknown_session");
    struct flo_stream_id one = {1, 0};
    cr_assert_eq(proto_sess_ids(s, PROTO_SESS_ACK, &one, 1, done_cb, &d, NULL, &e), -1);
    cr_assert_eq(e.http_status, 404);
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, claim_wraps_to_entries_before_the_cursor)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *dead = create(reg, "cw", "g", "dead", 200);
    proto_sess_t *live = create(reg, "cw", "g", "live", 200);
    append("cw", "r1");
    append("cw", "r2");
    append("cw", "r3");
    struct got all = sess_read(dead, 10, 0);
    cr_assert_eq(all.n, 3);
    ts_embed_run_for(&emb, 250);
    /* Claim one: r1; the cursor stops at r2. */
    struct got g = sess_read(live, 1, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.payload[0], "r1");
    ts_embed_run_for(&emb, 150);
    /* r2 and r3 become busy again; r1 (before the cursor) goes idle. */
    cr_assert_eq(sess_ids(dead, PROTO_SESS_TOUCH, &all.ids[1], 2), 2);
    ts_embed_run_for(&emb, 100);
    g = sess_read(live, 1, 0);
    cr_assert_eq(g.n, 1, "an idle entry before the claim cursor was skipped");
    cr_assert_str_eq(g.payload[0], "r1");
    cr_assert_geq(g.dc[0], 3);
    proto_sess_put(dead);
    proto_sess_put(live);
    reg_close(reg);
}

Test(proto_session, tiny_claim_idle_does_not_spin_upstream)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "sp", "g", "c", 1); /* claim_idle_ms 1 */
    struct flo_pool_stats before, after;
    flo_pool_stats(emb.pool, &before);
    struct got g = sess_read(s, 10, 600);
    cr_assert_eq(g.n, 0);
    flo_pool_stats(emb.pool, &after);
    /* Slices have a floor: a handful of claim + read pairs, not hundreds. */
    cr_assert_leq(after.requests - before.requests, 30, "%llu upstream requests for one read",
                  (unsigned long long)(after.requests - before.requests));
    proto_sess_put(s);
    reg_close(reg);
}

Test(proto_session, session_held_across_registry_close)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "hc", "g", "c", 0);
    reg_close(reg); /* a front end still holds s */
    cr_assert_eq(group_info("hc", "g").member_count, 0);
    /* The held record stays usable for what a front end does with it after
     * the close: describe it, see operations refused, release it. */
    struct proto_sess_info info;
    proto_sess_describe(s, &info);
    cr_assert_eq(info.consumer.len, 1);
    struct got g = {0};
    struct proto_sess_read_args ra = {.count = 1};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g, NULL, &e), -1);
    cr_assert_eq(e.http_status, 503);
    proto_sess_put(s); /* frees the record and, last, the registry */
}

/* ---- records sharing one membership ---- */

static void end_ok(proto_sess_t *s)
{
    struct done d = {0};
    struct proto_err e;
    cr_assert_eq(proto_sess_end(s, done_cb, &d, NULL, &e), 0, "%s", e.message);
    cr_assert(!d.done, "end completed inside the call");
    cr_assert(ts_embed_run_until(&emb, &d.done, WAIT_MS));
    cr_assert_eq(d.http_status, 0);
}

Test(proto_session, sessions_sharing_a_consumer_leave_with_the_last)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    /* Different claim_idle_ms: different ids, one upstream member. */
    proto_sess_t *a = create(reg, "sh", "g", "c", 1000);
    proto_sess_t *b = create(reg, "sh", "g", "c", 2000);
    char ida[PROTO_SESS_ID_MAX + 1], idb[PROTO_SESS_ID_MAX + 1];
    id_of(a, ida, sizeof ida);
    id_of(b, idb, sizeof idb);
    cr_assert_str_neq(ida, idb);
    cr_assert_eq(group_info("sh", "g").member_count, 1);
    end_ok(a);
    proto_sess_put(a);
    ts_embed_run_for(&emb, 100); /* a leave, had one been sent, lands */
    cr_assert_eq(group_info("sh", "g").member_count, 1, "ending one session left for both");
    end_ok(b);
    proto_sess_put(b);
    cr_assert_eq(wait_members("sh", "g", 0), 0, "the last session's end did not leave");
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.ended, 2);
    reg_close(reg);
}

Test(proto_session, resp_consumer_expiry_keeps_shared_http_membership)
{
    proto_sess_reg_t *reg = reg_new(100, NULL);
    proto_sess_t *s = create(reg, "sr", "g", "x", 0); /* held: never expires */
    cr_assert_eq(proto_sess_resp_use(reg, FLO_BUF_STR("default"), FLO_BUF_STR("sr"),
                                     FLO_BUF_STR("g"), FLO_BUF_STR("x")),
                 0);
    ts_embed_run_for(&emb, 400);
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.resp_consumers, 0);
    cr_assert_eq(st.http_sessions, 1);
    cr_assert_eq(group_info("sr", "g").member_count, 1, "RESP expiry left the HTTP membership");
    /* Released, the HTTP session expires too, and that leave does go out. */
    proto_sess_put(s);
    cr_assert_eq(wait_members("sr", "g", 0), 0);
    reg_close(reg);
}

Test(proto_session, close_leaves_a_shared_membership_once)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *a = create(reg, "so", "g", "c", 1000);
    proto_sess_t *b = create(reg, "so", "g", "c", 2000);
    cr_assert_eq(proto_sess_resp_use(reg, FLO_BUF_STR("default"), FLO_BUF_STR("so"),
                                     FLO_BUF_STR("g"), FLO_BUF_STR("c")),
                 0);
    proto_sess_put(a);
    proto_sess_put(b);
    struct flo_pool_stats before, after;
    flo_pool_stats(emb.pool, &before);
    reg_close(reg);
    flo_pool_stats(emb.pool, &after);
    cr_assert_eq(after.requests - before.requests, 1, "%llu leaves for one identity",
                 (unsigned long long)(after.requests - before.requests));
    cr_assert_eq(group_info("so", "g").member_count, 0);
}

Test(proto_session, shared_end_pending_at_close_completes)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *a = create(reg, "sp2", "g", "c", 1000);
    proto_sess_t *b = create(reg, "sp2", "g", "c", 2000);
    struct done d = {0};
    struct proto_err e;
    cr_assert_eq(proto_sess_end(a, done_cb, &d, NULL, &e), 0, "%s", e.message);
    proto_sess_put(a);
    proto_sess_put(b);
    /* The end (no leave: b shares the membership) has not completed yet. */
    bool closed = false;
    proto_sess_reg_close(reg, 2000, flag_cb, &closed);
    cr_assert(ts_embed_run_until(&emb, &closed, WAIT_MS));
    cr_assert(d.done, "the pending end never completed");
    cr_assert_eq(d.http_status, 0);
    cr_assert_eq(group_info("sp2", "g").member_count, 0);
}

/* ---- the --max-longpolls slot of a session read ---- */

/* Another client on the loop that takes every free long-poll slot once the
 * read under test holds one (and until it finished). */
struct grabber {
    unsigned base;    /* slots held before the read */
    bool armed;       /* the read has taken its slot */
    const bool *done; /* the read's completion flag */
    unsigned grabbed;
};

static void grab_cb(uv_check_t *h)
{
    struct grabber *gr = h->data;
    if (*gr->done) {
        return;
    }
    if (!gr->armed) {
        gr->armed = proto_longpoll_count() > gr->base;
        return;
    }
    if (proto_longpoll_enter() == 0) {
        gr->grabbed++;
    }
}

Test(proto_session, longpoll_slot_held_once_for_the_whole_read)
{
    /* The test holds one slot itself: a double release would show. */
    proto_longpoll_set_max(2);
    cr_assert_eq(proto_longpoll_enter(), 0);
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *s = create(reg, "lp", "g", "c", 100); /* 100 ms slices */

    /* Completed after several slices: the slot never came free between
     * them, so no later slice could be refused with 429. */
    struct got g = {0};
    struct grabber gr = {.base = 1, .done = &g.done};
    static uv_check_t chk; /* outlives the test body if an assertion fails */
    cr_assert_eq(uv_check_init(&emb.loop, &chk), 0);
    chk.data = &gr;
    cr_assert_eq(uv_check_start(&chk, grab_cb), 0);
    struct proto_sess_read_args ra = {.count = 5, .block_ms = 600};
    struct proto_err e;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g, NULL, &e), 0, "%s", e.message);
    bool finished = ts_embed_run_until(&emb, &g.done, WAIT_MS);
    uv_check_stop(&chk);
    uv_close((uv_handle_t *)&chk, NULL);
    for (unsigned i = 0; i < gr.grabbed; i++) {
        proto_longpoll_leave();
    }
    cr_assert(finished);
    cr_assert(gr.armed, "the blocking read never took a slot");
    cr_assert_eq(gr.grabbed, 0, "the read's slot came free between slices");
    cr_assert_eq(g.http_status, 0, "a later slice was refused: %d", g.http_status);
    cr_assert_eq(proto_longpoll_count(), 1);

    /* Cancelled: given back once. */
    struct got g2 = {0};
    proto_sess_op_t *op = NULL;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g2, &op, &e), 0);
    ts_embed_run_for(&emb, 250);
    cr_assert_eq(proto_longpoll_count(), 2);
    proto_sess_op_cancel(op);
    cr_assert_eq(proto_longpoll_count(), 1);
    ts_embed_run_for(&emb, 100);
    cr_assert(!g2.done);
    cr_assert_eq(proto_longpoll_count(), 1);

    /* Ended while waiting: the read finishes and gives it back once. */
    struct got g3 = {0};
    ra.block_ms = 3000;
    cr_assert_eq(proto_sess_read(s, &ra, read_cb, &g3, NULL, &e), 0);
    ts_embed_run_for(&emb, 150);
    cr_assert_eq(proto_longpoll_count(), 2);
    end_ok(s);
    cr_assert(ts_embed_run_until(&emb, &g3.done, WAIT_MS));
    cr_assert_eq(proto_longpoll_count(), 1);
    proto_sess_put(s);

    /* Registry closed while waiting: failed with 503, given back once. */
    proto_sess_t *s2 = create(reg, "lp", "g", "c2", 100);
    struct got g4 = {0};
    cr_assert_eq(proto_sess_read(s2, &ra, read_cb, &g4, NULL, &e), 0);
    ts_embed_run_for(&emb, 150);
    cr_assert_eq(proto_longpoll_count(), 2);
    proto_sess_put(s2);
    reg_close(reg);
    cr_assert(g4.done);
    cr_assert_eq(g4.http_status, 503);
    cr_assert_eq(proto_longpoll_count(), 1);
    proto_longpoll_leave();
    proto_longpoll_set_max(0);
}

/* ---- creates abandoned while their join is in flight ---- */

static void create_async(proto_sess_reg_t *reg, const char *stream, const char *consumer,
                         uint32_t claim_idle_ms, struct created *c, proto_sess_op_t **op)
{
    struct proto_sess_spec spec = {
        .ns = FLO_BUF_STR("default"),
        .stream = FLO_BUF_STR(stream),
        .group = FLO_BUF_STR("g"),
        .consumer = FLO_BUF_STR(consumer),
        .claim_idle_ms = claim_idle_ms,
    };
    struct proto_err e;
    cr_assert_eq(proto_sess_create(reg, &spec, created_cb, c, op, &e), 0, "%s", e.message);
}

Test(proto_session, cancelled_create_does_not_stay_joined)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *keep = create(reg, "cc", "g", "keep", 0);
    struct created c = {0};
    proto_sess_op_t *op = NULL;
    create_async(reg, "cc", "gone", 0, &c, &op);
    proto_sess_op_cancel(op);
    /* The join lands upstream all the same; the sidecar must leave again. */
    ts_embed_run_for(&emb, 200);
    cr_assert(!c.done, "a cancelled create called back");
    cr_assert_eq(wait_members("cc", "g", 1), 1, "the cancelled create's member stayed joined");

    /* Sharing guard: a cancelled create of a live session's identity (other
     * claim_idle_ms, same consumer) must not leave that session's
     * membership. */
    create_async(reg, "cc", "keep", 5000, &c, &op);
    proto_sess_op_cancel(op);
    ts_embed_run_for(&emb, 200);
    cr_assert_eq(group_info("cc", "g").member_count, 1, "left a live session's membership");
    struct proto_sess_stats st;
    proto_sess_reg_stats(reg, &st);
    cr_assert_eq(st.http_sessions, 1);
    append("cc", "r");
    struct got g = sess_read(keep, 10, 0);
    cr_assert_eq(g.n, 1);
    /* Settled, so that the close's leave does remove the member. */
    cr_assert_eq(sess_ids(keep, PROTO_SESS_ACK, g.ids, 1), 1);
    proto_sess_put(keep);
    reg_close(reg);
    cr_assert_eq(group_info("cc", "g").member_count, 0);
}

Test(proto_session, create_in_flight_at_close_does_not_stay_joined)
{
    proto_sess_reg_t *reg = reg_new(0, NULL);
    proto_sess_t *keep = create(reg, "ccl", "g", "keep", 0);
    proto_sess_put(keep);
    struct created c = {0};
    create_async(reg, "ccl", "late", 0, &c, NULL);
    reg_close(reg);
    cr_assert(c.done);
    cr_assert_null(c.s);
    cr_assert_eq(c.http_status, 503);
    cr_assert_eq(wait_members("ccl", "g", 0), 0, "a create in flight at close stayed joined");
}
