/*
 * The RESP listener and its client connections on the sidecar's libuv loop:
 * read -> parse -> dispatch, a per-client queue that writes replies in
 * request order even when upstream answers out of order, and a flush phase
 * (a uv_idle handle, like Redis' beforeSleep) that coalesces each
 * client's replies into one write per loop iteration.
 *
 * Bounds: at most RESP_MAX_PENDING commands per client are in progress and
 * at most RESP_OUTPUT_SOFT bytes of output wait before the client is no
 * longer read (backpressure: a client that does not read stops being read);
 * a client whose unsent replies still grow past --resp-output-limit (the
 * replies of commands already in progress) is disconnected, as Redis does
 * with client-output-buffer-limit. Parser limits (--max-resp-args,
 * --max-resp-bulk) bound everything buffered from the socket, and
 * --max-resp-clients the number of clients.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "proto_auth.h"
#include "proto_metrics.h"
#include "resp_internal.h"

/* Write buffers above this are released after a write instead of reused. */
#define WBUF_KEEP_MAX  (64u * 1024)
#define LISTEN_BACKLOG 511

static void client_close(struct resp_client *c);
static void client_process(struct resp_client *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_flush(uv_idle_t *h);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static unsigned client_end_blocked(struct resp_client *c);

/* ---- server lifetime ---- */

static void server_unref(struct resp_server *srv)
{
    if (--srv->open_handles == 0 && srv->closing) {
        free(srv);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    server_unref(h->data);
}

static void mark_dirty(struct resp_client *c)
{
    struct resp_server *srv = c->srv;
    if (c->dirty || c->closing) {
        return;
    }
    c->dirty = true;
    c->dirty_next = srv->dirty;
    srv->dirty = c;
    if (!uv_is_active((uv_handle_t *)&srv->flush)) {
        uv_idle_start(&srv->flush, on_flush);
    }
}

void resp__client_wake(struct resp_client *c)
{
    mark_dirty(c);
}

/* Fallback for resp__room_wake: the full connection may be carrying only
 * other front ends' requests, whose replies this server does not see. */
#define ROOM_RETRY_MS 5

static void on_room_timer(uv_timer_t *t)
{
    resp__room_wake(t->data);
}

void resp__room_wait(struct resp_client *c)
{
    struct resp_server *srv = c->srv;
    if (c->room_wait || c->closing) {
        return;
    }
    c->room_wait = true;
    c->room_next = srv->room_waiters;
    srv->room_waiters = c;
    if (!uv_is_active((uv_handle_t *)&srv->room_timer)) {
        uv_timer_start(&srv->room_timer, on_room_timer, ROOM_RETRY_MS, 0);
    }
}

void resp__room_wake(struct resp_server *srv)
{
    struct resp_client *list = srv->room_waiters;
    srv->room_waiters = NULL;
    uv_timer_stop(&srv->room_timer);
    while (list) {
        struct resp_client *c = list;
        list = c->room_next;
        c->room_next = NULL;
        c->room_wait = false;
        mark_dirty(c);
    }
}

static void room_unlink(struct resp_client *c)
{
    if (!c->room_wait) {
        return;
    }
    struct resp_client **pp = &c->srv->room_waiters;
    while (*pp && *pp != c) {
        pp = &(*pp)->room_next;
    }
    if (*pp) {
        *pp = c->room_next;
    }
    c->room_wait = false;
    c->room_next = NULL;
}

/* ---- pending queue ---- */

/* Reply buffers up to this size stay with a recycled command record. */
#define REPLY_KEEP_MAX 1024u

/* Free what p owns; keep the record (and a small reply buffer) on the
 * client's free list for the next command: at high pipeline depth the
 * allocator was a fifth of the user time. */
static void pending_free(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    resp__pending_unblocked(p);
    resp_argv_free(&p->args);
    if (p->calls != &p->call1) {
        free(p->calls);
    }
    if (p->state_free) {
        p->state_free(p->state);
    } else {
        free(p->state);
    }
    if (c->closing || c->nfree >= RESP_FREE_PENDING || p->reply.cap > REPLY_KEEP_MAX) {
        flo_wbuf_free(&p->reply);
        free(p);
        return;
    }
    struct flo_wbuf reply = p->reply;
    flo_wbuf_reset(&reply);
    memset(p, 0, sizeof(*p));
    p->reply = reply;
    p->next = c->free_list;
    c->free_list = p;
    c->nfree++;
}

/* A zeroed command record with an empty reply buffer; NULL if out of memory. */
static struct resp_pending *pending_new(struct resp_client *c)
{
    struct resp_pending *p = c->free_list;
    if (p) {
        c->free_list = p->next;
        c->nfree--;
        p->next = NULL;
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p) {
        flo_wbuf_init(&p->reply);
    }
    return p;
}

static void free_list_clear(struct resp_client *c)
{
    while (c->free_list) {
        struct resp_pending *p = c->free_list;
        c->free_list = p->next;
        flo_wbuf_free(&p->reply);
        free(p);
    }
    c->nfree = 0;
}

/* Reply bytes produced and not yet written to the socket. */
static size_t backlog(const struct resp_client *c)
{
    return c->out.len + c->wout.len + c->held_bytes;
}

/* Over --resp-output-limit: log (the client is closed right after, so once
 * per client) and tell the caller to close. */
static bool over_output_limit(const struct resp_client *c)
{
    size_t limit = c->srv->limits.resp_output_limit;
    if (backlog(c) <= limit) {
        return false;
    }
    FLO_WARN("resp client dropped",
             "client=%llu addr=%s reason=output_buffer bytes=%zu limit=%zu "
             "hint=\"the client does not read its replies (--resp-output-limit)\"",
             (unsigned long long)c->id, c->addr, backlog(c), limit);
    proto_metrics_rejected(PROTO_M_RESP, PROTO_M_REJ_OUTPUT_BUFFER);
    return true;
}

/* Move completed replies from the head of the queue to the output buffer.
 * 0 or FLO_ENOMEM (the client must then be closed). */
static int queue_drain(struct resp_client *c)
{
    int err = 0;
    while (c->head && c->head->done) {
        struct resp_pending *p = c->head;
        c->head = p->next;
        if (!c->head) {
            c->tail = NULL;
        }
        c->npending--;
        if (p->held) {
            c->held_bytes -= p->reply.len;
            p->held = false;
        }
        if (!err && flo_wbuf_append(&c->out, p->reply.data, p->reply.len) < 0) {
            err = FLO_ENOMEM;
        }
        proto_metrics_bytes(PROTO_M_RESP, 0, p->reply.len);
        if (p->close_after) {
            c->stop_parsing = true;
            c->eof = true; /* close once everything is written */
        }
        pending_free(p);
    }
    return err;
}

void resp__pending_done(struct resp_pending *p)
{
    if (!p->done) {
        resp__pending_observe(p);
    }
    p->done = true;
    if (p->in_handler) {
        return; /* resp_order.c finishes it once the handler returns */
    }
    resp__pending_finish(p);
}

void resp__pending_finish(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    resp__order_release(p);
    if (p->barrier) {
        p->barrier = false;
        c->barriers--;
    }
    if (c->head != p) {
        /* An earlier command is still waiting: keep request order. The
         * reply waits in p and counts against the output limit. */
        if (!p->held) {
            p->held = true;
            c->held_bytes += p->reply.len;
        }
        if (over_output_limit(c)) {
            client_close(c);
        }
        return;
    }
    if (queue_drain(c) < 0) {
        FLO_WARN("resp client dropped", "client=%llu cmd=%s reason=out_of_memory",
                 (unsigned long long)c->id, c->last_cmd ? c->last_cmd : "-");
        client_close(c);
        return;
    }
    if (over_output_limit(c)) {
        client_close(c);
        return;
    }
    mark_dirty(c);
}

void resp__pending_close_after(struct resp_pending *p)
{
    p->close_after = true;
    p->c->stop_parsing = true;
}

void resp__reply_proto_err(struct resp_pending *p, const struct proto_err *e)
{
    resp_reply_errorf(&p->reply, "%s %s", e->resp_prefix, e->message);
    snprintf(p->result, sizeof(p->result), "%s", e->code ? e->code : "error");
}

void resp__reply_upstream_err(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    struct proto_err e;
    if (err) {
        proto_err_from_code(&e, err);
    } else {
        proto_err_from_status(&e, status, body);
    }
    resp__reply_proto_err(p, &e);
}

/* ---- client I/O ---- */

static void on_client_closed(uv_handle_t *h)
{
    struct resp_client *c = h->data;
    struct resp_server *srv = c->srv;
    resp_parser_free(&c->parser);
    flo_wbuf_free(&c->out);
    flo_wbuf_free(&c->wout);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    free(c);
    server_unref(srv);
}

/* Cancel upstream calls, drop queued commands and close the socket. */
static void client_close(struct resp_client *c)
{
    struct resp_server *srv = c->srv;
    if (c->closing) {
        return;
    }
    c->closing = true;
    resp__upstream_cancel_all(c);
    room_unlink(c);
    while (c->head) {
        struct resp_pending *p = c->head;
        c->head = p->next;
        pending_free(p);
    }
    c->tail = NULL;
    c->npending = 0;
    c->held_bytes = 0;
    c->barriers = 0;
    c->nwaiting = 0;
    resp__order_free(c);
    free_list_clear(c);
    resp__multi_free(c);
    if (c->dirty) {
        struct resp_client **pp = &srv->dirty;
        while (*pp && *pp != c) {
            pp = &(*pp)->dirty_next;
        }
        if (*pp) {
            *pp = c->dirty_next;
        }
        c->dirty = false;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        srv->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    srv->nclients--;
    proto_metrics_conn(PROTO_M_RESP, -1);
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

/* May buffered commands be dispatched now? */
static bool can_process(const struct resp_client *c)
{
    /* Deferred upstream requests mean the client's connection is full:
     * stop taking commands until they are sent. */
    return !c->closing && !c->stop_parsing && c->npending < RESP_MAX_PENDING &&
           backlog(c) < RESP_OUTPUT_SOFT && !c->defer_head;
}

/* May the socket be read now? */
static bool want_read(const struct resp_client *c)
{
    return can_process(c) && !c->eof;
}

static void on_write(uv_write_t *req, int status)
{
    struct resp_client *c = req->data;
    c->writing = false;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        client_close(c);
        return;
    }
    if (c->wout.cap > WBUF_KEEP_MAX) {
        flo_wbuf_free(&c->wout);
    } else {
        flo_wbuf_reset(&c->wout);
    }
    mark_dirty(c);
}

static void client_write(struct resp_client *c)
{
    if (c->writing || c->out.len == 0) {
        return;
    }
    /* Try the socket first: a write that completes at once needs no
     * uv_write, whose synchronous completion makes libuv 1.44 drop and
     * re-register POLLOUT (one extra epoll_ctl per reply at pipeline 1). */
    uv_buf_t tb = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &tb, 1);
    if (n < 0 && n != UV_EAGAIN) {
        client_close(c);
        return;
    }
    if (n > 0 && (size_t)n == c->out.len) {
        if (c->out.cap > WBUF_KEEP_MAX) {
            flo_wbuf_free(&c->out);
        } else {
            flo_wbuf_reset(&c->out);
        }
        return;
    }
    if (n > 0) {
        flo_wbuf_consume(&c->out, (size_t)n);
    }
    struct flo_wbuf tmp = c->wout;
    c->wout = c->out;
    c->out = tmp;
    flo_wbuf_reset(&c->out);
    uv_buf_t b = uv_buf_init((char *)c->wout.data, (unsigned)c->wout.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        client_close(c);
        return;
    }
    c->writing = true;
}

/* One client's share of the flush phase. */
static void client_flush(struct resp_client *c)
{
    resp__upstream_retry(c);
    if (c->closing) {
        return;
    }
    resp__order_start_held(c);
    if (c->closing) {
        return;
    }
    if (can_process(c)) {
        /* Commands buffered while reading was paused come first. */
        client_process(c);
        if (c->closing) {
            return;
        }
    }
    if (c->eof) {
        /* A blocking command started after the EOF (it was buffered, or
         * held behind an earlier command) ends like those blocked at it. */
        client_end_blocked(c);
        if (c->closing) {
            return;
        }
    }
    client_write(c);
    if (c->closing) {
        return;
    }
    if (c->eof && !c->head && !c->writing && c->out.len == 0) {
        client_close(c);
        return;
    }
    bool rd = want_read(c);
    if (rd && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
            c->reading = true;
        }
    } else if (!rd && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_flush(uv_idle_t *h)
{
    struct resp_server *srv = h->data;
    /* Take the list: client_flush may mark clients dirty again. */
    struct resp_client *list = srv->dirty;
    srv->dirty = NULL;
    while (list) {
        struct resp_client *c = list;
        list = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        client_flush(c);
    }
    if (!srv->dirty) {
        uv_idle_stop(&srv->flush);
    }
}

/* Parse and dispatch buffered commands while the client has room. */
static void client_process(struct resp_client *c)
{
    /* Commands parsed in one pass arrived together: one clock read. Inside
     * an upstream callback (a blocked client resuming) that is the
     * callback's shared reading, so a command completed in the same
     * callback never ends before it started. */
    uint64_t t0_ns = flo_pool_now_ns(c->srv->ctx ? c->srv->ctx->pool : NULL);
    while (!c->closing && !c->stop_parsing && c->npending < RESP_MAX_PENDING) {
        struct resp_argv args;
        /* AUTH before this command ran synchronously: the limits follow. */
        c->parser.unauthenticated = !c->authed;
        int rc = resp_parser_next(&c->parser, &args);
        if (rc == 0) {
            break;
        }
        struct resp_pending *p = pending_new(c);
        if (!p) {
            resp_argv_free(&args);
            client_close(c);
            return;
        }
        p->c = c;
        p->t0_ns = t0_ns;
        p->proto = c->proto;
        memcpy(p->ns, c->ns, c->ns_len);
        p->ns_len = c->ns_len;
        if (c->tail) {
            c->tail->next = p;
        } else {
            c->head = p;
        }
        c->tail = p;
        c->npending++;
        c->last_ms = uv_now(c->srv->listener.loop);
        if (rc < 0) {
            /* Protocol error: answer like Redis and close after the reply. */
            if (rc == FLO_EMALFORMED) {
                resp_reply_errorf(&p->reply, "ERR %s", c->parser.err);
            } else {
                resp_reply_error(&p->reply, "ERR out of memory while reading the request");
            }
            resp__pending_close_after(p);
            resp__pending_done(p);
            break;
        }
        p->args = args;
        resp__cmd_dispatch(p); /* p may be freed from here on */
    }
}

/* End the client's blocked commands (each answered like a timeout).
 * Answering one may free it and the finished ones after it: walk again
 * from the head after each. Returns how many were ended. */
static unsigned client_end_blocked(struct resp_client *c)
{
    unsigned n = 0;
    bool again = true;
    while (again && !c->closing) {
        again = false;
        for (struct resp_pending *p = c->head; p; p = p->next) {
            if (resp__upstream_end_blocked(p)) {
                n++;
                again = true;
                break;
            }
        }
    }
    return n;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    /* One buffer per server (one loop thread): the parser copies what it
     * keeps before the next read. */
    struct resp_client *c = h->data;
    *buf = uv_buf_init(c->srv->rbuf, sizeof(c->srv->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct resp_client *c = s->data;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && (c->head || c->out.len || c->writing)) {
            /* Half-closed (e.g. `printf ... | nc`): answer what was sent.
             * A blocked command ends now (Redis frees a blocked client on
             * EOF): it would hold a --max-longpolls slot for its whole
             * block time for a client that sends nothing more. */
            c->eof = true;
            uv_read_stop(s);
            c->reading = false;
            client_end_blocked(c);
            if (!c->closing) {
                mark_dirty(c);
            }
            return;
        }
        client_close(c);
        return;
    }
    if (c->stop_parsing) {
        return; /* after QUIT or a protocol error input is ignored */
    }
    proto_metrics_bytes(PROTO_M_RESP, (uint64_t)nread, 0);
    if (resp_parser_feed(&c->parser, buf->base, (size_t)nread) < 0) {
        client_close(c);
        return;
    }
    client_process(c);
    if (c->closing) {
        return;
    }
    if (!want_read(c) && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
    mark_dirty(c); /* flush: write replies, resume reading when possible */
}

static void fmt_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, cap, "%s:%u", ip, port);
}

/* Redis' reply to a connection over maxclients (then it closes). */
#define MAX_CLIENTS_REPLY "-ERR max number of clients reached\r\n"

/* Accepted over --max-resp-clients: answer like Redis and close. The
 * reply fits any fresh socket's send buffer, so one try_write is enough. */
static void client_reject(struct resp_client *c)
{
    struct resp_server *srv = c->srv;
    uv_buf_t b = uv_buf_init((char *)MAX_CLIENTS_REPLY, sizeof(MAX_CLIENTS_REPLY) - 1);
    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    srv->rejected++;
    proto_metrics_rejected(PROTO_M_RESP, PROTO_M_REJ_MAX_CONNECTIONS);
    uint64_t now = uv_now(srv->listener.loop);
    if (srv->rejected == 1 || now - srv->rejected_log_ms >= 1000) {
        /* At most one line a second: a reconnect storm must not flood. */
        FLO_WARN("resp client rejected",
                 "reason=max_connections clients=%zu limit=%u rejected_total=%llu", srv->nclients,
                 srv->limits.max_resp_clients, (unsigned long long)srv->rejected);
        srv->rejected_log_ms = now;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct resp_server *srv = ls->data;
    if (status < 0 || srv->closing) {
        return;
    }
    struct resp_client *c = calloc(1, sizeof(*c));
    if (!c) {
        return;
    }
    if (uv_tcp_init(ls->loop, &c->tcp) < 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    c->srv = srv;
    srv->open_handles++;
    if (resp_parser_init(&c->parser, &srv->lim) < 0 || uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        /* Not on the client list yet: just close the handle. */
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_client_closed);
        return;
    }
    if (srv->nclients >= srv->limits.max_resp_clients) {
        client_reject(c);
        return;
    }
    flo_wbuf_init(&c->out);
    flo_wbuf_init(&c->wout);
    c->proto = RESP_PROTO_2;
    c->authed = !proto_auth_required();
    c->id = ++srv->next_id;
    c->created_ms = c->last_ms = uv_now(ls->loop);
    c->ns_len = strlen(srv->ctx->default_ns);
    memcpy(c->ns, srv->ctx->default_ns, c->ns_len);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        fmt_addr(&ss, c->addr, sizeof(c->addr));
    }
    len = sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        fmt_addr(&ss, c->laddr, sizeof(c->laddr));
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = srv->clients;
    if (srv->clients) {
        srv->clients->prev = c;
    }
    srv->clients = c;
    srv->nclients++;
    proto_metrics_conn(PROTO_M_RESP, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        client_close(c);
        return;
    }
    c->reading = true;
}

/* ---- public API ---- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        return FLO_EINVAL;
    }
    size_t hl = (size_t)(colon - listen);
    memcpy(host, listen, hl);
    host[hl] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == 0) {
        return FLO_EINVAL;
    }
    /* "[::1]:6379" */
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    if (uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    return FLO_EINVAL;
}

int resp_server_new(const struct proto_ctx *ctx, const char *listen, resp_server_t **out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int rc = parse_listen(listen, &ss);
    if (rc < 0) {
        return rc;
    }
    struct resp_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        return FLO_ENOMEM;
    }
    srv->ctx = ctx;
    if (ctx->password != NULL && (rc = proto_auth_set_token(ctx->password)) < 0) {
        free(srv);
        return rc;
    }
    proto_limits_resolve(&ctx->limits, ctx->max_body, &srv->limits);
    proto_longpoll_set_max(srv->limits.max_longpolls);
    resp_parse_limits_defaults(&srv->lim);
    srv->lim.max_args = srv->limits.max_resp_args;
    /* The default (max_body + slack) lets a slightly larger value still be
     * framed and refused with "value too large" instead of a protocol
     * error that closes the connection; keys must always fit. */
    srv->lim.max_bulk = srv->limits.max_resp_bulk > PROTO_MAX_KEY * 2 ? srv->limits.max_resp_bulk
                                                                      : PROTO_MAX_KEY * 2;
    srv->lim.max_command = srv->lim.max_bulk + RESP_DEFAULT_MAX_COMMAND;
    srv->start_ms = uv_now(ctx->loop);

    if ((rc = uv_tcp_init(ctx->loop, &srv->listener)) < 0) {
        free(srv);
        return rc;
    }
    srv->listener.data = srv;
    srv->open_handles = 1;
    uv_idle_init(ctx->loop, &srv->flush);
    srv->flush.data = srv;
    uv_timer_init(ctx->loop, &srv->room_timer);
    srv->room_timer.data = srv;
    srv->open_handles++;
    srv->open_handles++;

    if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_connection)) < 0) {
        srv->closing = true;
        uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
        uv_close((uv_handle_t *)&srv->flush, on_handle_closed);
        uv_close((uv_handle_t *)&srv->room_timer, on_handle_closed);
        return rc;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    FLO_INFO("resp listening", "addr=%s port=%u", listen, srv->port);
    *out = srv;
    return 0;
}

uint16_t resp_server_port(const resp_server_t *srv)
{
    return srv->port;
}

void resp_server_close(resp_server_t *srv)
{
    if (!srv || srv->closing) {
        return;
    }
    srv->closing = true;
    while (srv->clients) {
        client_close(srv->clients);
    }
    resp__scan_table_free(srv);
    uv_idle_stop(&srv->flush);
    if (!srv->draining) { /* a drain closed the listener already */
        uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    }
    uv_close((uv_handle_t *)&srv->flush, on_handle_closed);
    uv_timer_stop(&srv->room_timer);
    uv_close((uv_handle_t *)&srv->room_timer, on_handle_closed);
}

unsigned resp_server_drain(resp_server_t *srv, unsigned *ended)
{
    if (!srv || srv->closing) {
        return 0;
    }
    if (!srv->draining) {
        srv->draining = true;
        uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
        /* Commands already received finish; later input is ignored. */
        for (struct resp_client *c = srv->clients; c; c = c->next) {
            c->stop_parsing = true;
        }
    }
    unsigned busy = 0;
    struct resp_client *c = srv->clients;
    while (c) {
        struct resp_client *next = c->next;
        unsigned n = client_end_blocked(c);
        if (ended) {
            *ended += n;
        }
        if (!c->closing) {
            /* Unanswered commands, or replies not written yet. */
            busy += c->npending + (backlog(c) > 0 || c->writing ? 1u : 0u);
        }
        c = next;
    }
    return busy;
}
