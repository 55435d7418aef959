/*
 * flo-dev's network side: the libuv TCP listener, one struct dev_conn per
 * client, request framing with libflo's reader, and the reply path.
 *
 * Reads are decoded frame by frame and dispatched in order; replies are
 * appended to the connection's `out` buffer and handed to libuv once per
 * loop iteration from a uv_prepare handle (Redis's beforeSleep), so a burst
 * of pipelined requests costs one write. Backpressure: while a client's
 * unsent replies exceed DEV_OUT_SOFT_MAX the server stops reading and
 * decoding its frames; replies that arrive anyway (deferred answers woken by
 * other clients) are bounded by DEV_OUT_HARD_MAX, past which the client is
 * disconnected. Input is bounded too: a frame larger than the 256 KiB the
 * real server processes is refused before its body is buffered.
 *
 * Framing errors follow §6.3 (one reply with request_id 0, status 3,
 * "Invalid request", then close). The two cases where the real server
 * silently stalls (inner lengths overrunning the body, frames over 256 KiB)
 * get a status 3 reply with a clear message and a close instead, see
 * docs/flo-dev.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"

#define LISTEN_BACKLOG 511
#define WBUF_KEEP_MAX  (256u * 1024) /* keep a write buffer's allocation up to this */

static void conn_process(struct dev_conn *c);
static void conn_close(struct dev_conn *c);
static void flush_cb(uv_prepare_t *p);

uint64_t dev__now(const struct dev_server *srv)
{
    return uv_now(srv->loop);
}

static size_t backlog(const struct dev_conn *c)
{
    return c->out.len + c->wbuf.len;
}

/* ---- teardown ---- */

void dev__server_handle_closed(struct dev_server *srv)
{
    srv->handles_open--;
    if (srv->handles_open > 0 || !srv->closing) {
        return;
    }
    dev__txn_free_all(srv);
    dev_kv_free(srv->kv);
    dev_queues_free(srv->queues);
    dev_streams_free(srv->streams);
    free(srv->api_key);
    free(srv);
}

static void server_handle_closed_cb(uv_handle_t *h)
{
    dev__server_handle_closed(h->data);
}

static void conn_closed_cb(uv_handle_t *h)
{
    struct dev_conn *c = (struct dev_conn *)h;
    struct dev_server *srv = c->srv;
    flo_reader_free(&c->rd);
    flo_wbuf_free(&c->out);
    flo_wbuf_free(&c->wbuf);
    free(c);
    dev__server_handle_closed(srv);
}

static void conn_close(struct dev_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    FLO_DEBUG("client disconnected", "conn=%llu", (unsigned long long)c->id);
    dev__wait_drop_conn(c);
    DL_DELETE(c->srv->conns, c);
    if (c->is_dirty) {
        DL_DELETE2(c->srv->dirty, c, dprev, dnext);
        c->is_dirty = false;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

/* ---- writes ---- */

static void mark_dirty(struct dev_conn *c)
{
    if (c->is_dirty) {
        return;
    }
    if (c->srv->dirty == NULL) {
        uv_prepare_start(&c->srv->flush, flush_cb);
    }
    c->is_dirty = true;
    DL_APPEND2(c->srv->dirty, c, dprev, dnext);
}

static void write_cb(uv_write_t *req, int status);

/* Hand `out` to libuv if no write is in flight. */
static void conn_flush(struct dev_conn *c)
{
    if (c->closing || c->writing) {
        return;
    }
    if (c->out.len == 0) {
        if (c->close_after_flush) {
            conn_close(c);
        }
        return;
    }
    /* wbuf is idle: swap so `out` keeps accepting replies during the write */
    struct flo_wbuf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    flo_wbuf_reset(&c->out);
    uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc != 0) {
        FLO_DEBUG("write failed", "conn=%llu err=%s", (unsigned long long)c->id, uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void write_cb(uv_write_t *req, int status)
{
    struct dev_conn *c = req->data;
    c->writing = false;
    if (c->closing) {
        return; /* cancelled by uv_close; memory goes in conn_closed_cb */
    }
    if (c->wbuf.cap > WBUF_KEEP_MAX) {
        flo_wbuf_free(&c->wbuf);
    } else {
        flo_wbuf_reset(&c->wbuf);
    }
    if (status < 0) {
        FLO_DEBUG("write failed", "conn=%llu err=%s", (unsigned long long)c->id,
                  uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_flush(c);
    if (!c->closing && !c->close_after_flush && backlog(c) < DEV_OUT_SOFT_MAX) {
        conn_process(c); /* frames held back by backpressure, then reading */
    }
}

static void flush_cb(uv_prepare_t *p)
{
    struct dev_server *srv = p->data;
    while (srv->dirty != NULL) {
        struct dev_conn *c = srv->dirty;
        DL_DELETE2(srv->dirty, c, dprev, dnext);
        c->is_dirty = false;
        if (c->overflowed) {
            FLO_WARN("client not reading its replies, disconnecting", "conn=%llu limit=%u",
                     (unsigned long long)c->id, DEV_OUT_HARD_MAX);
            conn_close(c);
            continue;
        }
        conn_flush(c);
    }
    uv_prepare_stop(p);
}

void dev__reply(struct dev_conn *c, uint64_t id, uint8_t status, flo_buf_t body)
{
    if (c->closing || c->overflowed) {
        return;
    }
    if (backlog(c) + FLO_HEADER_SIZE + body.len > DEV_OUT_HARD_MAX ||
        flo_resp_encode(&c->out, id, status, body) != 0) {
        /* Closing here would invalidate callers iterating waiters; the
         * flush step disconnects the client instead. */
        c->overflowed = true;
        flo_wbuf_free(&c->out);
    }
    mark_dirty(c);
}

void dev__reply_text(struct dev_conn *c, uint64_t id, uint8_t status, const char *msg)
{
    size_t n = msg != NULL ? strlen(msg) : 0;
    if (n > DEV_MAX_ERROR_TEXT) {
        n = DEV_MAX_ERROR_TEXT;
    }
    dev__reply(c, id, status, FLO_BUF(msg, n));
}

/* ---- reads ---- */

/* Stop reading and processing; close once queued replies are written.
 * Deferred requests are dropped: nothing answers them after this. */
static void close_after_flush(struct dev_conn *c)
{
    c->close_after_flush = true;
    dev__wait_drop_conn(c);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    mark_dirty(c);
}

/* Answer, then close once the answer is flushed: nothing after it on this
 * connection is processed. */
static void fail_and_close(struct dev_conn *c, uint64_t id, const char *msg)
{
    dev__reply_text(c, id, FLO_STATUS_BAD_REQUEST, msg);
    close_after_flush(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct dev_conn *c = (struct dev_conn *)h;
    buf->base = c->srv->rbuf;
    buf->len = sizeof c->srv->rbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct dev_conn *c = (struct dev_conn *)s;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread == UV_EOF) {
        /* The client finished sending (maybe a half-close, as `nc` does):
         * deliver the replies already produced, then close. */
        close_after_flush(c);
        return;
    }
    if (nread < 0) {
        FLO_DEBUG("read failed", "conn=%llu err=%s", (unsigned long long)c->id,
                  uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (flo_reader_feed(&c->rd, buf->base, (size_t)nread) != 0) {
        FLO_WARN("out of memory buffering a request", "conn=%llu", (unsigned long long)c->id);
        conn_close(c);
        return;
    }
    conn_process(c);
}

static void set_reading(struct dev_conn *c, bool on)
{
    if (on == c->reading || c->closing) {
        return;
    }
    if (on) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc != 0) {
            conn_close(c);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->reading = on;
}

/*
 * A frame is not complete yet. Refuse it now if it can never be processed
 * (over 256 KiB with its header), so the read buffer stays bounded.
 */
static bool check_pending_size(struct dev_conn *c)
{
    size_t avail = c->rd.in.len - c->rd.pos;
    if (avail < FLO_HEADER_SIZE) {
        return true;
    }
    const uint8_t *h = c->rd.in.data + c->rd.pos;
    uint64_t total = (uint64_t)FLO_HEADER_SIZE + flo_ld32(h + 4);
    if (total <= FLO_MAX_PROCESSED_FRAME) {
        return true;
    }
    FLO_DEBUG("request too large", "conn=%llu bytes=%llu", (unsigned long long)c->id,
              (unsigned long long)total);
    fail_and_close(c, flo_ld64(h + 8), "request larger than 256 KiB is not processed by Flo");
    return false;
}

/* Decode and dispatch buffered frames while the reply backlog allows. */
static void conn_process(struct dev_conn *c)
{
    while (!c->closing && !c->close_after_flush && !c->overflowed) {
        if (backlog(c) >= DEV_OUT_SOFT_MAX) {
            set_reading(c, false); /* resumed from write_cb */
            return;
        }
        struct flo_frame f;
        int rc = flo_reader_next(&c->rd, &f);
        if (rc == FLO_EAGAIN) {
            if (check_pending_size(c)) {
                set_reading(c, true);
            }
            return;
        }
        if (rc != 0) {
            FLO_DEBUG("framing error", "conn=%llu err=%s", (unsigned long long)c->id,
                      flo_strerror(rc));
            fail_and_close(c, 0, "Invalid request");
            return;
        }
        struct dev_req r = {.id = f.request_id, .op = f.op};
        if (flo_envelope_parse(f.body, &r.env) != 0) {
            fail_and_close(c, f.request_id,
                           "request body is malformed: a namespace, key or value length runs "
                           "past the end of the body");
            return;
        }
        dev__dispatch(c, &r);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct dev_server *srv = listener->data;
    if (status < 0) {
        FLO_WARN("accept failed", "err=%s", uv_strerror(status));
        return;
    }
    struct dev_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        FLO_WARN("out of memory accepting a client", NULL);
        return;
    }
    int rc = uv_tcp_init(srv->loop, &c->tcp);
    if (rc != 0) {
        free(c);
        return;
    }
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->wreq.data = c;
    flo_reader_init(&c->rd, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD);
    flo_wbuf_init(&c->out);
    flo_wbuf_init(&c->wbuf);
    srv->handles_open++;
    DL_APPEND(srv->conns, c);
    rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        FLO_WARN("accept failed", "err=%s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    FLO_DEBUG("client connected", "conn=%llu", (unsigned long long)c->id);
    set_reading(c, true);
}

/* ---- server ---- */

/* "ADDR:PORT" or "[V6]:PORT"; "localhost" means 127.0.0.1. */
static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0') {
        return FLO_EINVAL;
    }
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (s[0] == '[') {
        if (hl < 2 || s[hl - 1] != ']') {
            return FLO_EINVAL;
        }
        h = s + 1;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        return FLO_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port > 65535) {
        return FLO_EINVAL;
    }
    if (strcmp(host, "localhost") == 0) {
        strcpy(host, "127.0.0.1");
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    return FLO_EINVAL;
}

static void sweep_cb(uv_timer_t *t)
{
    struct dev_server *srv = t->data;
    dev__txn_sweep(srv, dev__now(srv));
    size_t n = dev_kv_sweep(srv->kv, dev__now(srv));
    if (n > 0) {
        FLO_DEBUG("expired keys swept", "count=%zu", n);
    }
}

static void bound_port(struct dev_server *srv)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
}

int dev_server_new(uv_loop_t *loop, const struct dev_config *cfg, dev_server_t **out)
{
    struct sockaddr_storage ss;
    const char *listen = cfg->listen != NULL ? cfg->listen : "127.0.0.1:9000";
    if (parse_listen(listen, &ss) != 0) {
        FLO_ERROR("bad listen address, expected ADDR:PORT", "listen=%s", listen);
        return FLO_EINVAL;
    }
    struct dev_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return FLO_ENOMEM;
    }
    srv->loop = loop;
    int rc = dev_kv_new(&srv->kv);
    if (rc != 0) {
        free(srv);
        return rc;
    }
    /* Queue timestamps (enqueued_at_ms, lease deadlines) are Unix ms: the
     * loop's monotonic clock plus this offset. */
    uv_timeval64_t tv;
    int64_t wall = uv_gettimeofday(&tv) == 0 ? tv.tv_sec * 1000 + tv.tv_usec / 1000 : 0;
    rc = dev_queues_new(wall - (int64_t)uv_now(loop), &srv->queues);
    if (rc != 0) {
        dev_kv_free(srv->kv);
        free(srv);
        return rc;
    }
    rc = dev__stream_new_engine(srv);
    if (rc != 0) {
        dev_queues_free(srv->queues);
        dev_kv_free(srv->kv);
        free(srv);
        return rc;
    }
    if (cfg->api_key != NULL) {
        srv->api_key_len = strlen(cfg->api_key);
        srv->api_key = strdup(cfg->api_key);
        if (srv->api_key == NULL) {
            dev_streams_free(srv->streams);
            dev_queues_free(srv->queues);
            dev_kv_free(srv->kv);
            free(srv);
            return FLO_ENOMEM;
        }
    }
    dev__dispatch_init(srv);

    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles_open++;
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_connection);
    }
    if (rc != 0) {
        FLO_ERROR("cannot listen", "listen=%s err=%s", listen, uv_strerror(rc));
        /* The listener is the only handle so far; its close frees srv. */
        srv->closing = true;
        uv_close((uv_handle_t *)&srv->listener, server_handle_closed_cb);
        return rc;
    }
    bound_port(srv);

    uv_timer_init(loop, &srv->sweep_timer);
    srv->sweep_timer.data = srv;
    srv->handles_open++;
    uv_timer_start(&srv->sweep_timer, sweep_cb, DEV_SWEEP_INTERVAL_MS, DEV_SWEEP_INTERVAL_MS);

    uv_prepare_init(loop, &srv->flush);
    srv->flush.data = srv;
    srv->handles_open++; /* started by mark_dirty when a reply is queued */

    (void)dev__wait_init(srv); /* uv_timer_init cannot fail */
    dev__queue_init(srv);
    dev__stream_init(srv);
    *out = srv;
    return 0;
}

uint16_t dev_server_port(const dev_server_t *srv)
{
    return srv->port;
}

void dev_server_close(dev_server_t *srv)
{
    if (srv == NULL || srv->closing) {
        return;
    }
    srv->closing = true;
    while (srv->conns != NULL) {
        conn_close(srv->conns);
    }
    uv_close((uv_handle_t *)&srv->listener, server_handle_closed_cb);
    uv_timer_stop(&srv->sweep_timer);
    uv_close((uv_handle_t *)&srv->sweep_timer, server_handle_closed_cb);
    uv_prepare_stop(&srv->flush);
    uv_close((uv_handle_t *)&srv->flush, server_handle_closed_cb);
    dev__wait_close(srv);
    dev__queue_close(srv);
    dev__stream_close(srv);
}
