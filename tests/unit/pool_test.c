/*
 * Tests of the upstream pool and its connections (client/flo_pool.c,
 * client/flo_conn.c), in process: a uv loop runs the pool against a fake
 * Flo server written here (a uv TCP listener decoding request frames with
 * flo_reader, answering under the test's control: hold and reorder, never
 * answer, close, AUTH 0/7/9, garbage, framing-error replies) and, end to
 * end, against the flo-dev engine on the same loop. Every wait is bounded
 * and every test checks that the loop ends with no handle left open.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dev_server.h"
#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "flo/flo_log.h"
#include "flo/flo_pool.h"

#define WAIT_MS  5000 /* bound of every wait in this file */
#define MAX_HELD 4096

/* ---------------------------------------------------------------- */
/* fake Flo server                                                   */
/* ---------------------------------------------------------------- */

enum fs_mode_e {
    FS_ANSWER = 0, /* echo each request's value back with status 0 */
    FS_HOLD,       /* keep requests until fs_release */
    FS_SILENT,     /* never answer */
};

struct fsrv;

struct fconn {
    uv_tcp_t tcp;
    struct fsrv *srv;
    struct flo_reader rd;
    struct fconn *next;
    unsigned idx;        /* accept order */
    unsigned nframes;    /* frames received (incl. AUTH) */
    uint16_t first_op;   /* op of the first frame */
    unsigned n_blocking; /* requests whose value starts with 'B' */
    unsigned n_normal;   /* other non-AUTH requests */
    bool closing;
};

struct held {
    struct fconn *fc;
    uint64_t id;
    uint8_t body[64];
    size_t len;
};

struct fsrv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listening;
    uint16_t port;
    enum fs_mode_e mode;
    int auth_status; /* status for AUTH frames (0, 7, 9) */
    bool die_first;  /* first connection to get a request closes */
    bool died;
    bool framing_error;    /* answer the first request with id 0 / status 3 */
    bool garbage;          /* answer the first request with junk bytes */
    bool unknown_id_first; /* send a response for an id never issued first */
    unsigned accepted;
    unsigned requests; /* non-AUTH frames */
    unsigned auth_frames;
    char auth_key[64];
    struct fconn *conns;
    struct held held[MAX_HELD];
    unsigned nheld;
};

struct fwrite {
    uv_write_t req;
    size_t len;
    uint8_t data[];
};

static void fs_write_cb(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void fs_send(struct fconn *fc, const void *p, size_t n)
{
    if (fc->closing) {
        return;
    }
    struct fwrite *w = malloc(sizeof(*w) + n);
    cr_assert_not_null(w);
    memcpy(w->data, p, n);
    w->len = n;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&fc->tcp, &b, 1, fs_write_cb) != 0) {
        free(w);
    }
}

static void fs_reply(struct fconn *fc, uint64_t id, uint8_t status, flo_buf_t body)
{
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    cr_assert_eq(flo_resp_encode(&out, id, status, body), 0);
    fs_send(fc, out.data, out.len);
    flo_wbuf_free(&out);
}

static void fc_closed_cb(uv_handle_t *h)
{
    struct fconn *fc = h->data;
    struct fsrv *s = fc->srv;
    for (struct fconn **pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == fc) {
            *pp = fc->next;
            break;
        }
    }
    /* Drop held requests of this connection. */
    unsigned k = 0;
    for (unsigned i = 0; i < s->nheld; i++) {
        if (s->held[i].fc != fc) {
            s->held[k++] = s->held[i];
        }
    }
    s->nheld = k;
    flo_reader_free(&fc->rd);
    free(fc);
}

static void fc_close(struct fconn *fc)
{
    if (!fc->closing) {
        fc->closing = true;
        uv_close((uv_handle_t *)&fc->tcp, fc_closed_cb);
    }
}

static void fs_frame(struct fconn *fc, const struct flo_frame *f)
{
    struct fsrv *s = fc->srv;
    struct flo_envelope env;
    cr_assert_eq(flo_envelope_parse(f->body, &env), 0);
    if (fc->nframes++ == 0) {
        fc->first_op = f->op;
    }
    if (f->op == FLO_OP_AUTH) {
        s->auth_frames++;
        size_t n =
            env.value.len < sizeof(s->auth_key) - 1 ? env.value.len : sizeof(s->auth_key) - 1;
        memcpy(s->auth_key, env.value.ptr, n);
        s->auth_key[n] = '\0';
        fs_reply(fc, f->request_id, (uint8_t)s->auth_status,
                 s->auth_status ? FLO_BUF_STR("nope") : FLO_BUF_NULL);
        return;
    }
    s->requests++;
    if (env.value.len > 0 && env.value.ptr[0] == 'B') {
        fc->n_blocking++;
    } else {
        fc->n_normal++;
    }
    if (s->die_first && !s->died) {
        s->died = true;
        fc_close(fc);
        return;
    }
    if (s->framing_error) {
        s->framing_error = false;
        fs_reply(fc, 0, FLO_STATUS_BAD_REQUEST, FLO_BUF_STR("Invalid request"));
        fc_close(fc);
        return;
    }
    if (s->garbage) {
        s->garbage = false;
        fs_send(fc, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        return;
    }
    if (s->unknown_id_first) {
        s->unknown_id_first = false;
        fs_reply(fc, 0xFFFFFFFFFFull, 0, FLO_BUF_STR("stray"));
    }
    switch (s->mode) {
    case FS_ANSWER:
        fs_reply(fc, f->request_id, 0, env.value);
        break;
    case FS_HOLD: {
        cr_assert_lt(s->nheld, MAX_HELD);
        struct held *h = &s->held[s->nheld++];
        h->fc = fc;
        h->id = f->request_id;
        h->len = env.value.len < sizeof(h->body) ? env.value.len : sizeof(h->body);
        memcpy(h->body, env.value.ptr, h->len);
        break;
    }
    case FS_SILENT:
        break;
    }
}

static void fc_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void fc_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct fconn *fc = st->data;
    if (nread < 0) {
        free(buf->base);
        fc_close(fc);
        return;
    }
    if (nread > 0) {
        cr_assert_eq(flo_reader_feed(&fc->rd, buf->base, (size_t)nread), 0);
        struct flo_frame f;
        while (!fc->closing && flo_reader_next(&fc->rd, &f) == 0) {
            fs_frame(fc, &f);
        }
    }
    free(buf->base);
}

static void fs_accept_cb(uv_stream_t *l, int status)
{
    struct fsrv *s = l->data;
    if (status < 0) {
        return;
    }
    struct fconn *fc = calloc(1, sizeof(*fc));
    cr_assert_not_null(fc);
    fc->srv = s;
    fc->idx = s->accepted++;
    flo_reader_init(&fc->rd, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD);
    uv_tcp_init(s->loop, &fc->tcp);
    fc->tcp.data = fc;
    cr_assert_eq(uv_accept(l, (uv_stream_t *)&fc->tcp), 0);
    fc->next = s->conns;
    s->conns = fc;
    uv_read_start((uv_stream_t *)&fc->tcp, fc_alloc_cb, fc_read_cb);
}

/* Listen on 127.0.0.1:port (0 = any free port). */
static void fs_listen(struct fsrv *s, uint16_t port)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    cr_assert_eq(uv_tcp_init(s->loop, &s->listener), 0);
    s->listener.data = s;
    cr_assert_eq(uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&s->listener, 128, fs_accept_cb), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    s->listening = true;
}

static void fs_init(struct fsrv *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    fs_listen(s, 0);
}

/* Stop listening and drop every connection (a crashed server). */
static void fs_stop(struct fsrv *s)
{
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
    }
    for (struct fconn *fc = s->conns; fc; fc = fc->next) {
        fc_close(fc);
    }
}

/* Answer held requests, newest first (the reverse of arrival). */
static void fs_release_reversed(struct fsrv *s)
{
    while (s->nheld > 0) {
        struct held *h = &s->held[--s->nheld];
        fs_reply(h->fc, h->id, 0, FLO_BUF(h->body, h->len));
    }
}

/* ---------------------------------------------------------------- */
/* loop driving                                                      */
/* ---------------------------------------------------------------- */

static uv_loop_t loop;
static uv_timer_t tick; /* keeps UV_RUN_ONCE from sleeping unboundedly */
static struct fsrv srv;
static flo_pool_t *pool;
static bool pool_done;

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until *flag or timeout; returns the flag. */
static bool run_until_flag(const bool *flag, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (!*flag && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return *flag;
}

/* Run until the counter reaches `want` or timeout. */
static bool run_until_count(const unsigned *n, unsigned want, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (*n < want && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return *n >= want;
}

static void run_for(unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void setup(void)
{
    /* Many tests provoke errors on purpose; POOL_TEST_LOG=1 shows the log. */
    flo_log_set_level(getenv("POOL_TEST_LOG") ? FLO_LOG_DEBUG : FLO_LOG_OFF);
    cr_assert_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 5, 5);
    fs_init(&srv, &loop);
    pool = NULL;
    pool_done = false;
}

static void pool_done_cb(void *arg)
{
    *(bool *)arg = true;
}

static void teardown(void)
{
    if (pool) {
        flo_pool_close(pool, pool_done_cb, &pool_done);
        cr_assert(run_until_flag(&pool_done, WAIT_MS), "pool did not finish closing");
        pool = NULL;
    }
    fs_stop(&srv);
    uv_close((uv_handle_t *)&tick, NULL);
    for (int i = 0; i < 1000 && uv_loop_alive(&loop); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(uv_loop_close(&loop), 0, "a libuv handle was left open");
}

static void base_cfg(struct flo_pool_config *cfg, const char **addrs, size_t n)
{
    flo_pool_config_defaults(cfg);
    cfg->addrs = addrs;
    cfg->naddrs = n;
    cfg->conns_per_addr = 1;
    cfg->longpoll_conns_per_addr = 0;
    cfg->backoff_min_ms = 10;
    cfg->backoff_max_ms = 40;
    cfg->connect_timeout_ms = 1000;
}

static char addr_buf[4][64];

static const char *loopback(unsigned slot, uint16_t port)
{
    snprintf(addr_buf[slot], sizeof(addr_buf[slot]), "127.0.0.1:%u", port);
    return addr_buf[slot];
}

/* ---------------------------------------------------------------- */
/* call recording                                                    */
/* ---------------------------------------------------------------- */

#define MAX_CALLS 1024

struct rec {
    unsigned ncb; /* callbacks seen */
    unsigned count[MAX_CALLS];
    int err[MAX_CALLS];
    uint8_t status[MAX_CALLS];
    bool body_ok[MAX_CALLS];
    char expect[MAX_CALLS][16];
};
static struct rec rec;

struct tag {
    unsigned i;
};
static struct tag tags[MAX_CALLS];

static void rec_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    unsigned i = ((struct tag *)arg)->i;
    rec.ncb++;
    rec.count[i]++;
    rec.err[i] = err;
    rec.status[i] = status;
    size_t n = strlen(rec.expect[i]);
    rec.body_ok[i] = err == 0 && body.len == n && memcmp(body.ptr, rec.expect[i], n) == 0;
}

/* Send request i whose value is "<prefix><i>"; returns flo_pool_send's code. */
static int send_i(unsigned i, const char *prefix, uint32_t timeout_ms, unsigned flags,
                  flo_call_t **out)
{
    snprintf(rec.expect[i], sizeof(rec.expect[i]), "%s%u", prefix, i);
    tags[i].i = i;
    struct flo_req req = {
        .op = FLO_OP_KV_GET,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("k"),
        .value = FLO_BUF_STR(rec.expect[i]),
    };
    return flo_pool_send(pool, &req, timeout_ms, flags, rec_cb, &tags[i], out);
}

static void start_pool(struct flo_pool_config *cfg)
{
    memset(&rec, 0, sizeof(rec));
    cr_assert_eq(flo_pool_new(&loop, cfg, &pool), 0);
}

static bool ready_flag;
static unsigned ready_changes;

static void on_ready(void *arg, bool ready)
{
    (void)arg;
    ready_flag = ready;
    ready_changes++;
}

static bool wait_ready(bool want)
{
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (flo_pool_ready(pool) != want && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return flo_pool_ready(pool) == want;
}

static unsigned conns_up(void)
{
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    return st.conns_up;
}

TestSuite(pool, .init = setup, .fini = teardown, .timeout = 30);

/* ---------------------------------------------------------------- */
/* tests                                                             */
/* ---------------------------------------------------------------- */

Test(pool, pipelined_out_of_order_responses_are_matched_by_id)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    const unsigned n = 500;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(send_i(i, "v", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&srv.nheld, n, WAIT_MS), "server got %u of %u", srv.nheld, n);
    cr_assert_eq(srv.accepted, 1, "all requests share one pipelined connection");
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, n, WAIT_MS));
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(rec.count[i], 1, "call %u completed %u times", i, rec.count[i]);
        cr_assert_eq(rec.err[i], 0);
        cr_assert(rec.body_ok[i], "call %u got another call's response", i);
    }
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_eq(st.requests, n);
    cr_assert_eq(st.responses, n);
    cr_assert_eq(st.inflight, 0);
}

Test(pool, requests_sent_before_ready_are_queued_and_succeed)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.on_ready = on_ready;
    ready_flag = false;
    ready_changes = 0;
    start_pool(&cfg);
    cr_assert_not(flo_pool_ready(pool));
    for (unsigned i = 0; i < 20; i++) {
        cr_assert_eq(send_i(i, "q", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 20, WAIT_MS));
    for (unsigned i = 0; i < 20; i++) {
        cr_assert_eq(rec.err[i], 0);
        cr_assert(rec.body_ok[i]);
    }
    cr_assert(ready_flag);
    cr_assert_eq(ready_changes, 1);
}

Test(pool, timeout_fires_exactly_once_and_late_reply_is_ignored)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "t", 50, 0, NULL), 0);
    cr_assert_eq(send_i(1, "t", 5000, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_ETIMEDOUT);
    cr_assert_eq(rec.count[1], 0);
    /* The server answers both late: the timed-out one must stay silent. */
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, 2, WAIT_MS));
    run_for(100);
    cr_assert_eq(rec.count[0], 1);
    cr_assert_eq(rec.count[1], 1);
    cr_assert_eq(rec.err[1], 0);
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_eq(st.timeouts, 1);
    cr_assert_eq(st.inflight, 0);
}

Test(pool, many_timeouts_share_one_timer_and_fire_in_deadline_order)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_SILENT;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    /* Deadlines in scrambled order: 30..330 ms. */
    for (unsigned i = 0; i < 300; i++) {
        cr_assert_eq(send_i(i, "s", 30 + (i * 7919) % 300, 0, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 300, WAIT_MS));
    run_for(50);
    for (unsigned i = 0; i < 300; i++) {
        cr_assert_eq(rec.count[i], 1);
        cr_assert_eq(rec.err[i], FLO_ETIMEDOUT);
    }
}

Test(pool, server_close_fails_every_inflight_call_once)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    const unsigned n = 64;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(send_i(i, "c", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&srv.nheld, n, WAIT_MS));
    for (struct fconn *fc = srv.conns; fc; fc = fc->next) {
        fc_close(fc);
    }
    cr_assert(run_until_count(&rec.ncb, n, WAIT_MS));
    run_for(50);
    cr_assert_eq(rec.ncb, n, "a call completed twice");
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(rec.count[i], 1);
        cr_assert_eq(rec.err[i], FLO_ECONNCLOSED);
    }
}

Test(pool, idempotent_calls_are_retried_on_another_connection)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 2;
    srv.die_first = true; /* the first connection to get a request dies */
    start_pool(&cfg);
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (conns_up() < 2 && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert_eq(conns_up(), 2);
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(send_i(i, "i", 0, FLO_SEND_IDEMPOTENT, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 10, WAIT_MS));
    cr_assert(srv.died);
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(rec.count[i], 1);
        cr_assert_eq(rec.err[i], 0, "call %u: %s", i, flo_strerror(rec.err[i]));
        cr_assert(rec.body_ok[i]);
    }
}

Test(pool, non_idempotent_calls_are_not_retried)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 2;
    srv.die_first = true;
    start_pool(&cfg);
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (conns_up() < 2 && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(send_i(i, "n", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 10, WAIT_MS));
    unsigned closed = 0;
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(rec.count[i], 1);
        cr_assert(rec.err[i] == 0 || rec.err[i] == FLO_ECONNCLOSED);
        closed += rec.err[i] == FLO_ECONNCLOSED;
    }
    cr_assert_gt(closed, 0, "requests on the dead connection must fail, not be resent");
}

Test(pool, reconnects_after_the_server_comes_back)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.on_ready = on_ready;
    ready_changes = 0;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "r", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);

    uint16_t port = srv.port;
    fs_stop(&srv);
    cr_assert(wait_ready(false));
    cr_assert_not(ready_flag);
    run_for(100); /* a few failed reconnect attempts */
    fs_listen(&srv, port);
    cr_assert(wait_ready(true));
    cr_assert(ready_flag);
    cr_assert_geq(ready_changes, 3);
    cr_assert_eq(send_i(1, "r", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 2, WAIT_MS));
    cr_assert_eq(rec.err[1], 0);
    cr_assert(rec.body_ok[1]);
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_gt(st.reconnects, 0);
    cr_assert_gt(st.conn_errors, 0);
}

Test(pool, fails_over_to_the_second_address_when_the_first_is_dead)
{
    /* A port with nothing listening: bind, read it back, close. */
    struct fsrv dead;
    fs_init(&dead, &loop);
    uint16_t dead_port = dead.port;
    fs_stop(&dead);
    uv_run(&loop, UV_RUN_NOWAIT);

    const char *addrs[] = {loopback(0, dead_port), loopback(1, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 2);
    start_pool(&cfg);
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(send_i(i, "f", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 10, WAIT_MS));
    for (unsigned i = 0; i < 10; i++) {
        cr_assert_eq(rec.err[i], 0, "call %u: %s", i, flo_strerror(rec.err[i]));
    }
    /* The slot of the dead address moves over to the live one. */
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (conns_up() < 2 && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert_eq(conns_up(), 2);
    cr_assert_eq(srv.accepted, 2);
}

Test(pool, hostnames_are_resolved_asynchronously)
{
    char a[64];
    snprintf(a, sizeof(a), "localhost:%u", srv.port);
    const char *addrs[] = {a};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    start_pool(&cfg);
    cr_assert_eq(send_i(0, "h", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
    cr_assert(rec.body_ok[0]);
}

Test(pool, unavailable_upstream_fails_queued_calls_with_eunavail)
{
    uint16_t port = srv.port;
    fs_stop(&srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    const char *addrs[] = {loopback(0, port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.connect_timeout_ms = 100; /* bounds the wait in the queue */
    start_pool(&cfg);
    uint64_t t0 = uv_hrtime() / 1000000;
    cr_assert_eq(send_i(0, "u", 5000, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_EUNAVAIL);
    cr_assert_lt(uv_hrtime() / 1000000 - t0, 1000, "waited for the call timeout, not the bound");
    cr_assert_not(flo_pool_ready(pool));
}

Test(pool, auth_ok_is_the_first_frame_and_makes_the_pool_ready)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.api_key = "s3cret";
    srv.auth_status = FLO_STATUS_OK;
    start_pool(&cfg);
    cr_assert_eq(send_i(0, "a", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
    cr_assert(flo_pool_ready(pool));
    cr_assert_eq(srv.auth_frames, 1);
    cr_assert_str_eq(srv.auth_key, "s3cret");
    cr_assert_not_null(srv.conns);
    cr_assert_eq(srv.conns->first_op, FLO_OP_AUTH);
}

Test(pool, auth_not_implemented_still_makes_the_pool_ready)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 2;
    cfg.api_key = "k";
    srv.auth_status = FLO_STATUS_INTERNAL;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "a", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
    cr_assert(rec.body_ok[0]);
}

Test(pool, auth_refused_keeps_the_pool_not_ready_and_retries)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.api_key = "wrong";
    cfg.connect_timeout_ms = 200;
    cfg.on_ready = on_ready;
    ready_changes = 0;
    srv.auth_status = FLO_STATUS_UNAUTHORIZED;
    start_pool(&cfg);
    cr_assert_eq(send_i(0, "x", 0, 0, NULL), 0);
    cr_assert(run_until_count(&srv.auth_frames, 3, WAIT_MS), "the pool retries AUTH");
    cr_assert_not(flo_pool_ready(pool));
    cr_assert_eq(ready_changes, 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_EUNAVAIL);
    cr_assert_eq(srv.requests, 0, "no request may pass a refused connection");
}

Test(pool, cancel_suppresses_the_callback)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    /* Cancelled while queued (pool not ready yet): never sent at all. */
    flo_call_t *queued = NULL;
    cr_assert_eq(send_i(0, "z", 0, 0, &queued), 0);
    flo_pool_cancel(pool, queued);
    cr_assert(wait_ready(true));
    flo_call_t *h1 = NULL;
    cr_assert_eq(send_i(1, "z", 0, 0, &h1), 0);
    cr_assert_eq(send_i(2, "z", 0, 0, NULL), 0);
    cr_assert(run_until_count(&srv.nheld, 2, WAIT_MS));
    flo_pool_cancel(pool, h1);
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    run_for(100);
    cr_assert_eq(rec.count[0], 0);
    cr_assert_eq(rec.count[1], 0);
    cr_assert_eq(rec.count[2], 1);
    cr_assert_eq(srv.requests, 2, "the cancelled queued call was not sent");
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_eq(st.inflight, 0, "cancelled records are freed");
}

Test(pool, oversized_request_is_refused_synchronously)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    start_pool(&cfg);
    size_t n = FLO_MAX_PROCESSED_FRAME; /* + header and envelope: over the limit */
    uint8_t *big = calloc(1, n);
    cr_assert_not_null(big);
    struct flo_req req = {.op = FLO_OP_KV_PUT, .key = FLO_BUF_STR("k"), .value = FLO_BUF(big, n)};
    tags[0].i = 0;
    tags[1].i = 1;
    cr_assert_eq(flo_pool_send(pool, &req, 0, 0, rec_cb, &tags[0], NULL), FLO_ETOOBIG);
    /* Just under the limit is fine. */
    req.value.len = FLO_MAX_PROCESSED_FRAME - FLO_HEADER_SIZE - 2 - 2 - 1 - 4 - 2;
    cr_assert_eq(flo_pool_send(pool, &req, 0, 0, rec_cb, &tags[1], NULL), 0);
    strcpy(rec.expect[1], "");
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.count[0], 0);
    cr_assert_eq(rec.err[1], 0);
    free(big);
    /* Bad arguments. */
    cr_assert_eq(flo_pool_send(pool, NULL, 0, 0, rec_cb, NULL, NULL), FLO_EINVAL);
    cr_assert_eq(flo_pool_send(pool, &req, 0, 0, NULL, NULL, NULL), FLO_EINVAL);
}

Test(pool, close_with_calls_in_flight_completes_them_with_eclosing)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    for (unsigned i = 0; i < 30; i++) {
        cr_assert_eq(send_i(i, "w", 0, 0, NULL), 0);
    }
    cr_assert(run_until_count(&srv.nheld, 30, WAIT_MS));
    flo_pool_close(pool, pool_done_cb, &pool_done);
    cr_assert_eq(rec.ncb, 30, "every call completes before flo_pool_close returns");
    for (unsigned i = 0; i < 30; i++) {
        cr_assert_eq(rec.err[i], FLO_ECLOSING);
    }
    cr_assert(run_until_flag(&pool_done, WAIT_MS));
    pool = NULL;
    cr_assert_eq(rec.ncb, 30);
}

static void close_from_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    rec_cb(arg, err, status, body);
    if (pool) {
        flo_pool_close(pool, pool_done_cb, &pool_done);
        pool = NULL;
    }
}

Test(pool, close_from_inside_a_callback_is_safe)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    struct flo_req req = {.op = FLO_OP_PING, .value = FLO_BUF_STR("p")};
    strcpy(rec.expect[0], "p");
    tags[0].i = 0;
    tags[1].i = 1;
    flo_pool_t *p = pool;
    cr_assert_eq(flo_pool_send(p, &req, 0, 0, close_from_cb, &tags[0], NULL), 0);
    cr_assert_eq(flo_pool_send(p, &req, 0, 0, rec_cb, &tags[1], NULL), 0);
    cr_assert(run_until_flag(&pool_done, WAIT_MS));
    cr_assert_eq(rec.count[0], 1);
    cr_assert_eq(rec.count[1], 1);
    cr_assert_eq(rec.err[0], 0);
    cr_assert(rec.err[1] == 0 || rec.err[1] == FLO_ECLOSING);
}

Test(pool, send_after_close_is_refused)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    start_pool(&cfg);
    flo_pool_close(pool, pool_done_cb, &pool_done);
    cr_assert_eq(send_i(0, "c", 0, 0, NULL), FLO_ECLOSING);
    cr_assert(run_until_flag(&pool_done, WAIT_MS));
    pool = NULL;
    cr_assert_eq(rec.ncb, 0);
}

Test(pool, blocking_requests_use_their_own_lane)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 2;
    cfg.longpoll_conns_per_addr = 1;
    start_pool(&cfg);
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (conns_up() < 3 && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert_eq(conns_up(), 3);
    for (unsigned i = 0; i < 40; i++) {
        bool blocking = i % 2 == 0;
        cr_assert_eq(send_i(i, blocking ? "B" : "N", 0, blocking ? FLO_SEND_BLOCKING : 0, NULL), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 40, WAIT_MS));
    unsigned blocking_conns = 0, normal_conns = 0;
    for (struct fconn *fc = srv.conns; fc; fc = fc->next) {
        cr_assert(fc->n_blocking == 0 || fc->n_normal == 0,
                  "a connection carried both blocking and normal requests");
        blocking_conns += fc->n_blocking > 0;
        normal_conns += fc->n_normal > 0;
    }
    cr_assert_eq(blocking_conns, 1);
    cr_assert_eq(normal_conns, 2, "normal requests are spread over the normal lane");
}

Test(pool, blocking_requests_fall_back_to_the_normal_lane)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.longpoll_conns_per_addr = 0;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "B", 0, FLO_SEND_BLOCKING, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
}

static int send_affine_i(unsigned i, uint32_t affinity)
{
    snprintf(rec.expect[i], sizeof(rec.expect[i]), "a%u", i);
    tags[i].i = i;
    struct flo_req req = {
        .op = FLO_OP_KV_GET,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("k"),
        .value = FLO_BUF_STR(rec.expect[i]),
    };
    return flo_pool_send_affine(pool, affinity, &req, 0, 0, rec_cb, &tags[i], NULL);
}

static void start_pool_all_up(struct flo_pool_config *cfg, unsigned want)
{
    start_pool(cfg);
    uint64_t end = uv_hrtime() / 1000000 + WAIT_MS;
    while (conns_up() < want && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert_eq(conns_up(), want);
}

Test(pool, same_affinity_uses_one_connection)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 4;
    cfg.longpoll_conns_per_addr = 0;
    start_pool_all_up(&cfg, 4);
    for (unsigned i = 0; i < 40; i++) {
        cr_assert_eq(send_affine_i(i, 7), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 40, WAIT_MS));
    unsigned used = 0;
    for (struct fconn *fc = srv.conns; fc; fc = fc->next) {
        used += fc->n_normal > 0;
    }
    cr_assert_eq(used, 1, "every call with one affinity went to one connection");
}

Test(pool, different_affinities_spread_over_the_lane)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 4;
    cfg.longpoll_conns_per_addr = 0;
    start_pool_all_up(&cfg, 4);
    for (unsigned i = 0; i < 40; i++) {
        cr_assert_eq(send_affine_i(i, i), 0);
    }
    cr_assert(run_until_count(&rec.ncb, 40, WAIT_MS));
    unsigned used = 0;
    for (struct fconn *fc = srv.conns; fc; fc = fc->next) {
        used += fc->n_normal > 0;
        if (fc->n_normal > 0) {
            cr_assert_eq(fc->n_normal, 10, "affinity i %% 4 gives 10 calls per connection");
        }
    }
    cr_assert_eq(used, 4);
}

Test(pool, a_full_affine_connection_is_not_overtaken)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.conns_per_addr = 2;
    cfg.longpoll_conns_per_addr = 0;
    cfg.max_inflight_per_conn = 2;
    srv.mode = FS_HOLD;
    start_pool_all_up(&cfg, 2);
    cr_assert_eq(send_affine_i(0, 1), 0);
    cr_assert_eq(send_affine_i(1, 1), 0);
    cr_assert_eq(send_affine_i(2, 1), FLO_ELIMIT, "the other connection is free but not used");
    cr_assert_eq(send_affine_i(3, 2), 0, "another affinity still has room");
    cr_assert(run_until_count(&srv.nheld, 3, WAIT_MS));
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, 3, WAIT_MS));
}

Test(pool, framing_error_reply_fails_the_connection_and_it_recovers)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.framing_error = true;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "e", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_ECONNCLOSED);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(1, "e", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 2, WAIT_MS));
    cr_assert_eq(rec.err[1], 0);
    cr_assert_eq(srv.accepted, 2);
}

Test(pool, garbage_from_the_server_fails_the_connection)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.garbage = true;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "g", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_ECONNCLOSED);
}

Test(pool, response_with_unknown_id_is_ignored)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.unknown_id_first = true;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "x", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
    cr_assert(rec.body_ok[0]);
    cr_assert_eq(srv.accepted, 1, "the connection survived the stray response");
}

Test(pool, oversized_response_fails_the_connection)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.max_frame = FLO_HEADER_SIZE + 4; /* echo of a 5+ byte value is too big */
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "toolong", 0, 0, NULL), 0);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_ECONNCLOSED);
}

Test(pool, inflight_limit_is_enforced)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.max_inflight_per_conn = 4;
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    for (unsigned i = 0; i < 4; i++) {
        cr_assert_eq(send_i(i, "l", 0, 0, NULL), 0);
    }
    cr_assert_eq(send_i(4, "l", 0, 0, NULL), FLO_ELIMIT);
    cr_assert(run_until_count(&srv.nheld, 4, WAIT_MS));
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, 4, WAIT_MS));
    cr_assert_eq(send_i(5, "l", 0, 0, NULL), 0, "capacity comes back with the replies");
}

Test(pool, bad_addresses_are_rejected)
{
    const char *bad[] = {"nohost",    "host:",     ":9000", "host:99999", "host:0",
                         "1::2:9000", "[::1]9000", "[::1",  "bad host:1", "host:9x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *addrs[] = {bad[i]};
        struct flo_pool_config cfg;
        base_cfg(&cfg, addrs, 1);
        flo_pool_t *p = NULL;
        cr_assert_eq(flo_pool_new(&loop, &cfg, &p), FLO_EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_null(p);
    }
    const char *good[] = {"[::1]:9000", "flo.example-1.svc:9000", "10.0.0.1:1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *addrs[] = {good[i]};
        struct flo_pool_config cfg;
        base_cfg(&cfg, addrs, 1);
        flo_pool_t *p = NULL;
        cr_assert_eq(flo_pool_new(&loop, &cfg, &p), 0, "rejected \"%s\"", good[i]);
        bool done = false;
        flo_pool_close(p, pool_done_cb, &done);
        cr_assert(run_until_flag(&done, WAIT_MS));
    }
}

/* ---------------------------------------------------------------- */
/* end to end against flo-dev                                        */
/* ---------------------------------------------------------------- */

struct kv_res {
    bool done;
    int err;
    uint8_t status;
    char value[64];
    size_t len;
};

static void kv_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct kv_res *r = arg;
    r->done = true;
    r->err = err;
    r->status = status;
    uint64_t version;
    flo_buf_t v = FLO_BUF_NULL;
    if (err == 0 && status == 0 && flo_kv_dec_get(body, &version, &v) == 0 &&
        v.len < sizeof(r->value)) {
        memcpy(r->value, v.ptr, v.len);
        r->len = v.len;
    }
}

static dev_server_t *dev;

static void start_dev_pool(void)
{
    struct dev_config dcfg = {.listen = "127.0.0.1:0", .api_key = NULL};
    cr_assert_eq(dev_server_new(&loop, &dcfg, &dev), 0);
    const char *addrs[] = {loopback(0, dev_server_port(dev))};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    cfg.longpoll_conns_per_addr = 1;
    cfg.api_key = "key"; /* flo-dev without a key answers 9, like the real server */
    start_pool(&cfg);
    cr_assert(wait_ready(true));
}

static void stop_dev(void)
{
    flo_pool_close(pool, pool_done_cb, &pool_done);
    cr_assert(run_until_flag(&pool_done, WAIT_MS));
    pool = NULL;
    dev_server_close(dev);
}

Test(pool, devserver_put_then_get)
{
    start_dev_pool();
    struct kv_res put = {0}, get = {0};
    struct flo_req preq = {
        .op = FLO_OP_KV_PUT,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("pool-key"),
        .value = FLO_BUF_STR("hello"),
    };
    cr_assert_eq(flo_pool_send(pool, &preq, 0, 0, kv_cb, &put, NULL), 0);
    struct flo_req greq = {
        .op = FLO_OP_KV_GET,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("pool-key"),
    };
    cr_assert_eq(flo_pool_send(pool, &greq, 0, FLO_SEND_IDEMPOTENT, kv_cb, &get, NULL), 0);
    cr_assert(run_until_flag(&get.done, WAIT_MS));
    cr_assert(put.done);
    cr_assert_eq(put.err, 0);
    cr_assert_eq(put.status, 0);
    cr_assert_eq(get.err, 0);
    cr_assert_eq(get.status, 0);
    cr_assert_eq(get.len, 5);
    cr_assert_arr_eq(get.value, "hello", 5);
    stop_dev();
}

Test(pool, devserver_blocking_get_does_not_stall_other_requests)
{
    start_dev_pool();
    struct flo_wbuf opts;
    flo_wbuf_init(&opts);
    cr_assert_eq(flo_opt_u32(&opts, FLO_OPT_BLOCK_MS, 3000), 0);
    struct kv_res bget = {0}, put = {0};
    struct flo_req breq = {
        .op = FLO_OP_KV_GET,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("later"),
        .opts = flo_wbuf_view(&opts),
    };
    cr_assert_eq(flo_pool_send(pool, &breq, 3500, FLO_SEND_BLOCKING, kv_cb, &bget, NULL), 0);
    flo_wbuf_free(&opts);
    run_for(50);
    cr_assert_not(bget.done, "the blocking GET waits for the key");
    struct flo_req preq = {
        .op = FLO_OP_KV_PUT,
        .ns = FLO_BUF_STR("default"),
        .key = FLO_BUF_STR("later"),
        .value = FLO_BUF_STR("now"),
    };
    uint64_t t0 = uv_hrtime() / 1000000;
    cr_assert_eq(flo_pool_send(pool, &preq, 0, 0, kv_cb, &put, NULL), 0);
    cr_assert(run_until_flag(&put.done, WAIT_MS));
    cr_assert(run_until_flag(&bget.done, WAIT_MS));
    cr_assert_lt(uv_hrtime() / 1000000 - t0, 1000, "the long-poll ended on the write");
    cr_assert_eq(put.err, 0);
    cr_assert_eq(bget.err, 0);
    cr_assert_eq(bget.status, 0);
    cr_assert_eq(bget.len, 3);
    cr_assert_arr_eq(bget.value, "now", 3);
    stop_dev();
}

static int resend_rc = 1;

static void resend_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    rec_cb(arg, err, status, body);
    /* Sent while the dead connection is still closing: must queue. */
    resend_rc = send_i(1, "again", 0, 0, NULL);
}

Test(pool, send_while_the_only_connection_is_dying_is_queued)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    strcpy(rec.expect[0], "d");
    tags[0].i = 0;
    struct flo_req req = {.op = FLO_OP_KV_GET, .key = FLO_BUF_STR("k"), .value = FLO_BUF_STR("d")};
    cr_assert_eq(flo_pool_send(pool, &req, 0, 0, resend_cb, &tags[0], NULL), 0);
    cr_assert(run_until_count(&srv.nheld, 1, WAIT_MS));
    srv.mode = FS_ANSWER;
    for (struct fconn *fc = srv.conns; fc; fc = fc->next) {
        fc_close(fc);
    }
    cr_assert(run_until_count(&rec.ncb, 2, WAIT_MS));
    cr_assert_eq(rec.err[0], FLO_ECONNCLOSED);
    cr_assert_eq(resend_rc, 0);
    cr_assert_eq(rec.err[1], 0, "%s", flo_strerror(rec.err[1]));
    cr_assert(rec.body_ok[1]);
}

/* ---------------------------------------------------------------- */
/* latency clock                                                     */
/* ---------------------------------------------------------------- */

#define CLOCK_CALLS 16
static uint64_t clock_seen[CLOCK_CALLS][2];
static unsigned clock_ncb;

static void clock_cb(void *arg, int err, uint8_t status, flo_buf_t body)
{
    (void)status;
    (void)body;
    unsigned i = ((struct tag *)arg)->i;
    cr_assert_eq(err, 0);
    clock_seen[i][0] = flo_pool_now_ns(pool);
    clock_seen[i][1] = flo_pool_now_ns(pool);
    clock_ncb++;
}

Test(pool, upstream_latency_of_a_delayed_reply_is_measured)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    cr_assert_eq(send_i(0, "d", 0, 0, NULL), 0);
    cr_assert(run_until_count(&srv.nheld, 1, WAIT_MS));
    run_for(50); /* the server sits on the reply for 50 ms */
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&rec.ncb, 1, WAIT_MS));
    cr_assert_eq(rec.err[0], 0);
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_geq(st.lat_sum_s, 0.05, "observed %.6f s for a reply held 50 ms", st.lat_sum_s);
    cr_assert_lt(st.lat_sum_s, 5.0);
    uint64_t total = 0;
    for (unsigned i = 0; i <= FLO_POOL_LAT_NBUCKETS; i++) {
        total += st.lat_buckets[i];
        if (i < FLO_POOL_LAT_NBUCKETS && flo_pool_lat_bounds[i] < 0.05) {
            cr_assert_eq(st.lat_buckets[i], 0, "bucket le=%g counted a 50 ms reply",
                         flo_pool_lat_bounds[i]);
        }
    }
    cr_assert_eq(total, 1);
}

Test(pool, responses_of_one_read_share_one_clock_reading)
{
    const char *addrs[] = {loopback(0, srv.port)};
    struct flo_pool_config cfg;
    base_cfg(&cfg, addrs, 1);
    srv.mode = FS_HOLD;
    start_pool(&cfg);
    cr_assert(wait_ready(true));
    clock_ncb = 0;
    for (unsigned i = 0; i < CLOCK_CALLS; i++) {
        tags[i].i = i;
        struct flo_req req = {
            .op = FLO_OP_KV_GET,
            .ns = FLO_BUF_STR("default"),
            .key = FLO_BUF_STR("k"),
            .value = FLO_BUF_STR("c"),
        };
        cr_assert_eq(flo_pool_send(pool, &req, 0, 0, clock_cb, &tags[i], NULL), 0);
    }
    cr_assert(run_until_count(&srv.nheld, CLOCK_CALLS, WAIT_MS));
    uint64_t before = flo_pool_now_ns(pool);
    /* Every reply is written before the pool's next read: on loopback they
     * are all in the socket buffer and arrive in one read callback. */
    fs_release_reversed(&srv);
    cr_assert(run_until_count(&clock_ncb, CLOCK_CALLS, WAIT_MS));
    uint64_t after = flo_pool_now_ns(pool);
    for (unsigned i = 0; i < CLOCK_CALLS; i++) {
        cr_assert_eq(clock_seen[i][0], clock_seen[i][1], "stable within one callback");
        cr_assert_eq(clock_seen[i][0], clock_seen[0][0], "call %u read its own clock", i);
    }
    cr_assert_gt(clock_seen[0][0], before);
    cr_assert_lt(clock_seen[0][0], after);
    /* Outside a callback every call is a fresh reading. */
    cr_assert_gt(flo_pool_now_ns(pool), after);
    cr_assert_neq(flo_pool_now_ns(NULL), 0);
    struct flo_pool_stats st;
    flo_pool_stats(pool, &st);
    cr_assert_eq(st.responses, CLOCK_CALLS);
}
