/*
 * One pipelined connection to a Flo server (see flo_conn.h for the model).
 *
 * Life of a socket: IDLE -> CONNECTING -> [AUTHENTICATING] -> UP, and on
 * any error -> FAILING (socket closing, in-flight calls handed back with
 * FLO_ECONNCLOSED) -> IDLE, after which the owner may connect again. The
 * connect timer and the flush hook live as long as the struct; only the TCP
 * handle is re-created per attempt. flo_conn_close moves to CLOSED from any
 * state and reports closed_cb once every handle is closed.
 *
 * Re-entrancy: hooks may call back into the owner, which may call
 * flo_conn_send / flo_conn_close on this very connection. Therefore the
 * reader and buffers are only reset from the TCP close callback (never
 * while a response body handed out to done_cb may still be in use), and
 * loops re-check the state after every hook.
 */
/* uthash must not exit() when a bucket allocation fails: report it instead. */
#define HASH_NONFATAL_OOM 1
static int hash_oom;
#define uthash_nonfatal_oom(obj) (hash_oom = 1)

#include "flo/flo_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"

/* Write buffers larger than this are released after use rather than kept:
 * one burst of big frames must not pin memory for the connection's life. */
#define KEEP_WBUF_CAP (1024u * 1024)
/* TCP keepalive probe delay: notices a silently dead upstream. */
#define KEEPALIVE_S 30
/* Bytes of an error body quoted in a log line. */
#define LOG_BODY_MAX 120

static void conn_fail(flo_conn_t *c, int err);
static void flush(flo_conn_t *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void handle_closed_cb(uv_handle_t *h)
{
    flo_conn_t *c = h->data;
    c->open_handles--;
    if (c->state == FLO_CONN_CLOSED && c->open_handles == 0) {
        flo_reader_free(&c->rd);
        flo_wbuf_free(&c->out);
        flo_wbuf_free(&c->sending);
        c->hooks.closed_cb(c, c->hooks.arg);
    }
}

int flo_conn_init(flo_conn_t *c, uv_loop_t *loop, const struct flo_conn_config *cfg,
                  const struct flo_conn_hooks *hooks)
{
    if (!c || !loop || !cfg || !hooks || !cfg->next_id || !hooks->up_cb || !hooks->done_cb ||
        !hooks->down_cb || !hooks->closed_cb || cfg->max_inflight == 0) {
        return FLO_EINVAL;
    }
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->cfg = *cfg;
    c->hooks = *hooks;
    c->state = FLO_CONN_IDLE;
    flo_wbuf_init(&c->out);
    flo_wbuf_init(&c->sending);
    flo_reader_init(&c->rd, FLO_FRAME_RESPONSE, cfg->max_payload);
    /* Both initialisers only fill in the struct and always return 0 in
     * libuv (no syscall, no allocation), so nothing can be left half-open. */
    (void)uv_timer_init(loop, &c->ctimer);
    (void)uv_prepare_init(loop, &c->flusher);
    c->ctimer.data = c;
    c->flusher.data = c;
    c->open_handles = 2;
    snprintf(c->peer, sizeof(c->peer), "-");
    return 0;
}

static void format_peer(flo_conn_t *c, const struct sockaddr *addr)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        uv_ip4_name(in, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        uv_ip6_name(in6, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

static void go_up(flo_conn_t *c, int auth_status)
{
    uv_timer_stop(&c->ctimer);
    c->state = FLO_CONN_UP;
    c->was_up = true;
    c->hooks.up_cb(c, auth_status, c->hooks.arg);
}

static void ctimer_cb(uv_timer_t *t)
{
    flo_conn_t *c = t->data;
    FLO_DEBUG("upstream connect timed out", "peer=%s stage=%s timeout_ms=%u", c->peer,
              c->state == FLO_CONN_AUTHENTICATING ? "auth" : "connect", c->cfg.connect_timeout_ms);
    conn_fail(c, FLO_ETIMEDOUT);
}

static void flusher_cb(uv_prepare_t *p)
{
    flush(p->data);
}

static void schedule_flush(flo_conn_t *c)
{
    /* A write in flight flushes `out` from its completion; otherwise write
     * everything produced during this loop iteration just before polling. */
    if (!c->writing && !c->flush_armed) {
        uv_prepare_start(&c->flusher, flusher_cb);
        c->flush_armed = true;
    }
}

static void write_cb(uv_write_t *req, int status)
{
    flo_conn_t *c = req->data;
    c->writing = false;
    if (c->sending.cap > KEEP_WBUF_CAP) {
        flo_wbuf_free(&c->sending);
    } else {
        flo_wbuf_reset(&c->sending);
    }
    if (status < 0) {
        if (status != UV_ECANCELED) {
            conn_fail(c, status);
        }
        return;
    }
    if (c->out.len > 0) {
        flush(c);
    }
}

/* Hand `out` to libuv as one write (swapping buffers so new frames can
 * accumulate meanwhile). */
static void flush(flo_conn_t *c)
{
    if (c->flush_armed) {
        uv_prepare_stop(&c->flusher);
        c->flush_armed = false;
    }
    if (c->writing || c->out.len == 0 ||
        (c->state != FLO_CONN_UP && c->state != FLO_CONN_AUTHENTICATING)) {
        return;
    }
    /* Try the socket directly first: most flushes fit in the kernel buffer,
     * and a uv_write that completes at once still costs libuv 1.44 an extra
     * epoll_ctl round. Only what does not fit goes through uv_write. */
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len) {
        flo_wbuf_reset(&c->out);
        return;
    }
    if (n > 0) {
        flo_wbuf_consume(&c->out, (size_t)n);
    } else if (n != UV_EAGAIN) {
        conn_fail(c, n);
        return;
    }
    struct flo_wbuf tmp = c->sending;
    c->sending = c->out;
    c->out = tmp;
    b = uv_buf_init((char *)c->sending.data, (unsigned)c->sending.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc < 0) {
        flo_wbuf_reset(&c->sending);
        conn_fail(c, rc);
        return;
    }
    c->writing = true;
}

/* Hand every in-flight call back to the owner with `err`. The table is
 * emptied first, so hooks that send or close re-enter a consistent conn. */
static void drain_inflight(flo_conn_t *c, int err)
{
    struct flo_call *list = NULL, *call, *tmp;
    HASH_ITER(hh, c->inflight, call, tmp)
    {
        HASH_DEL(c->inflight, call);
        if (call == &c->sentinel) {
            continue;
        }
        call->conn = NULL;
        call->next = list;
        list = call;
    }
    c->ninflight = 0;
    while (list) {
        call = list;
        list = call->next;
        call->next = NULL;
        c->hooks.done_cb(c, call, err, 0, FLO_BUF_NULL, c->hooks.arg);
    }
}

static void tcp_closed_cb(uv_handle_t *h)
{
    flo_conn_t *c = h->data;
    c->tcp_open = false;
    if (c->state == FLO_CONN_CLOSED) {
        handle_closed_cb(h);
        return;
    }
    c->open_handles--;
    /* FAILING -> IDLE: nothing refers to the old bytes any more. */
    flo_reader_free(&c->rd);
    flo_reader_init(&c->rd, FLO_FRAME_RESPONSE, c->cfg.max_payload);
    flo_wbuf_reset(&c->out);
    flo_wbuf_reset(&c->sending);
    c->writing = false;
    c->state = FLO_CONN_IDLE;
    c->hooks.down_cb(c, c->fail_err, c->was_up, c->hooks.arg);
}

static void conn_fail(flo_conn_t *c, int err)
{
    if (c->state != FLO_CONN_CONNECTING && c->state != FLO_CONN_AUTHENTICATING &&
        c->state != FLO_CONN_UP) {
        return;
    }
    c->state = FLO_CONN_FAILING;
    c->fail_err = err;
    c->auth_id = 0;
    uv_timer_stop(&c->ctimer);
    if (c->flush_armed) {
        uv_prepare_stop(&c->flusher);
        c->flush_armed = false;
    }
    uv_close((uv_handle_t *)&c->tcp, tcp_closed_cb);
    drain_inflight(c, FLO_ECONNCLOSED);
}

static void start_auth(flo_conn_t *c)
{
    struct flo_req req = {
        .op = FLO_OP_AUTH,
        .request_id = (*c->cfg.next_id)++,
        .ns = FLO_BUF_NULL,
        .key = FLO_BUF_NULL,
        .value = c->cfg.api_key,
        .opts = FLO_BUF_NULL,
    };
    int rc = flo_req_encode(&c->out, &req);
    if (rc < 0) {
        conn_fail(c, rc);
        return;
    }
    c->auth_id = req.request_id;
    c->state = FLO_CONN_AUTHENTICATING;
    schedule_flush(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
    flo_conn_t *c = req->data;
    if (c->state != FLO_CONN_CONNECTING) {
        return; /* closed meanwhile (status is UV_ECANCELED) */
    }
    if (status < 0) {
        conn_fail(c, status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0) {
        conn_fail(c, rc);
        return;
    }
    if (c->cfg.api_key.len > 0) {
        start_auth(c);
    } else {
        go_up(c, -1);
    }
}

int flo_conn_connect(flo_conn_t *c, const struct sockaddr *addr)
{
    if (c->state != FLO_CONN_IDLE || !addr ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
        return FLO_EINVAL;
    }
    format_peer(c, addr);
    int rc = uv_tcp_init(c->loop, &c->tcp);
    if (rc < 0) {
        return rc;
    }
    c->tcp.data = c;
    c->tcp_open = true;
    c->open_handles++;
    c->was_up = false;
    c->fail_err = 0;
    c->writing = false;
    c->creq.data = c;
    c->state = FLO_CONN_CONNECTING;
    rc = uv_tcp_connect(&c->creq, &c->tcp, addr, connect_cb);
    if (rc < 0) {
        /* Reported like any connect failure: via down_cb once closed. */
        conn_fail(c, rc);
        return 0;
    }
    uv_timer_start(&c->ctimer, ctimer_cb, c->cfg.connect_timeout_ms, 0);
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    flo_conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void log_framing_error(flo_conn_t *c, flo_buf_t body)
{
    int n = (int)(body.len < LOG_BODY_MAX ? body.len : LOG_BODY_MAX);
    char text[LOG_BODY_MAX + 1];
    for (int i = 0; i < n; i++) {
        char ch = (char)body.ptr[i];
        text[i] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? ch : '?';
    }
    text[n] = '\0';
    FLO_ERROR("upstream rejected a frame and closes the connection", "peer=%s body=\"%s\"", c->peer,
              text);
}

static void handle_auth_reply(flo_conn_t *c, uint8_t status)
{
    c->auth_id = 0;
    if (status == FLO_STATUS_OK || status == FLO_STATUS_INTERNAL) {
        /* 9 = "not implemented": today's server has no AUTH and serves
         * unauthenticated connections; the owner warns about it once. */
        go_up(c, status);
        return;
    }
    /* Never log the key itself; the pool logs the refusal once per run. */
    FLO_DEBUG("upstream refused the API key", "peer=%s status=%s", c->peer,
              flo_status_name(status));
    conn_fail(c, FLO_EAUTH);
}

static void handle_frame(flo_conn_t *c, const struct flo_frame *f)
{
    if (f->request_id == 0 && f->status == FLO_STATUS_BAD_REQUEST) {
        /* §6.3: the server's reply to a framing error; it closes next and
         * every frame pipelined behind the bad one is lost. */
        log_framing_error(c, f->body);
        conn_fail(c, FLO_EMALFORMED);
        return;
    }
    if (c->state == FLO_CONN_AUTHENTICATING) {
        if (f->request_id == c->auth_id) {
            handle_auth_reply(c, f->status);
        } else {
            FLO_WARN("upstream answered an unknown request during AUTH", "peer=%s id=%llu", c->peer,
                     (unsigned long long)f->request_id);
        }
        return;
    }
    struct flo_call *call = NULL;
    HASH_FIND(hh, c->inflight, &f->request_id, sizeof(uint64_t), call);
    if (call == &c->sentinel) {
        call = NULL;
    }
    if (!call) {
        /* Ids we issued come back late after a timeout or a cancel: normal.
         * An id we never issued means a confused server. */
        if (f->request_id < *c->cfg.next_id) {
            FLO_DEBUG("late response ignored", "peer=%s id=%llu", c->peer,
                      (unsigned long long)f->request_id);
        } else {
            FLO_WARN("response with an unknown request id ignored", "peer=%s id=%llu", c->peer,
                     (unsigned long long)f->request_id);
        }
        return;
    }
    HASH_DEL(c->inflight, call);
    c->ninflight--;
    call->conn = NULL;
    c->hooks.done_cb(c, call, 0, f->status, f->body, c->hooks.arg);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    flo_conn_t *c = s->data;
    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF) {
            FLO_WARN("upstream read failed", "peer=%s err=%s", c->peer, flo_strerror((int)nread));
        }
        conn_fail(c, (int)nread);
        return;
    }
    if (nread == 0 || (c->state != FLO_CONN_UP && c->state != FLO_CONN_AUTHENTICATING)) {
        return;
    }
    int rc = flo_reader_feed(&c->rd, c->rbuf, (size_t)nread);
    /* The clock is read lazily, by the first response that needs it. */
    c->in_read = true;
    c->read_now_ns = 0;
    while (rc == 0) {
        struct flo_frame f;
        rc = flo_reader_next(&c->rd, &f);
        if (rc == 0) {
            handle_frame(c, &f);
            if (c->state != FLO_CONN_UP && c->state != FLO_CONN_AUTHENTICATING) {
                c->in_read = false;
                return;
            }
        }
    }
    c->in_read = false;
    if (rc == FLO_EAGAIN && c->rd.pos == c->rd.in.len && c->rd.in.cap > KEEP_WBUF_CAP) {
        /* Everything decoded and every body handed out is done with: drop
         * the memory one large response grew, instead of pinning it. */
        flo_reader_free(&c->rd);
        flo_reader_init(&c->rd, FLO_FRAME_RESPONSE, c->cfg.max_payload);
        return;
    }
    if (rc != FLO_EAGAIN) {
        FLO_ERROR("upstream sent an undecodable frame", "peer=%s err=%s", c->peer,
                  flo_strerror(rc));
        conn_fail(c, rc);
    }
}

uint64_t flo_conn_read_now_ns(flo_conn_t *c)
{
    if (!c->in_read) {
        return uv_hrtime();
    }
    if (c->read_now_ns == 0) {
        c->read_now_ns = uv_hrtime();
    }
    return c->read_now_ns;
}

bool flo_conn_can_send(const flo_conn_t *c)
{
    return c->state == FLO_CONN_UP && c->ninflight < c->cfg.max_inflight &&
           c->out.len + c->sending.len < FLO_CONN_MAX_BACKLOG;
}

int flo_conn_send(flo_conn_t *c, struct flo_call *call, const struct flo_req *req, bool keep)
{
    if (!flo_conn_can_send(c)) {
        return FLO_ELIMIT;
    }
    size_t before = c->out.len;
    int rc;
    if (req) {
        struct flo_req r = *req;
        r.request_id = call->id;
        rc = flo_req_encode(&c->out, &r);
        if (rc == 0 && keep) {
            flo_wbuf_reset(&call->frame);
            rc = flo_wbuf_append(&call->frame, c->out.data + before, c->out.len - before);
        }
    } else {
        rc = flo_wbuf_append(&c->out, call->frame.data, call->frame.len);
    }
    if (rc < 0) {
        c->out.len = before;
        return rc;
    }
    if (!c->inflight) {
        /* See flo_conn.sentinel. If its table cannot be allocated (out
         * of memory) it is simply absent, as before. */
        c->sentinel.id = UINT64_MAX;
        HASH_ADD(hh, c->inflight, id, sizeof(uint64_t), &c->sentinel);
    }
    hash_oom = 0;
    HASH_ADD(hh, c->inflight, id, sizeof(uint64_t), call);
    if (hash_oom) {
        struct flo_call *found = NULL;
        HASH_FIND(hh, c->inflight, &call->id, sizeof(uint64_t), found);
        if (!found) {
            c->out.len = before;
            return FLO_ENOMEM;
        }
    }
    call->conn = c;
    c->ninflight++;
    schedule_flush(c);
    return 0;
}

void flo_conn_forget(flo_conn_t *c, struct flo_call *call)
{
    if (call->conn != c) {
        return;
    }
    HASH_DEL(c->inflight, call);
    c->ninflight--;
    call->conn = NULL;
}

void flo_conn_close(flo_conn_t *c)
{
    if (c->state == FLO_CONN_CLOSED) {
        return;
    }
    enum flo_conn_state_e prev = c->state;
    c->state = FLO_CONN_CLOSED;
    uv_timer_stop(&c->ctimer);
    uv_close((uv_handle_t *)&c->ctimer, handle_closed_cb);
    uv_close((uv_handle_t *)&c->flusher, handle_closed_cb);
    c->flush_armed = false;
    if (c->tcp_open && prev != FLO_CONN_FAILING) {
        uv_close((uv_handle_t *)&c->tcp, tcp_closed_cb);
    }
    /* In FAILING the TCP close is already under way: tcp_closed_cb sees
     * CLOSED and counts it as the last handle instead of going IDLE. */
    drain_inflight(c, FLO_ECLOSING);
}
