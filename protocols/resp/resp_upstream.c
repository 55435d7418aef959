/*
 * Upstream requests of RESP commands. Every request of one client goes to
 * the same pool connection (flo_pool_send_affine with the client id as the
 * affinity): a Flo server parses a connection's frames in order and one
 * key's work stays ordered behind them, so a client's pipelined writes keep
 * their order without waiting for each other's replies (resp_order.c only
 * holds back what the server could still reorder).
 *
 * Backpressure: when the client's connection is full (max_inflight_per_conn
 * or its write backlog, reachable when many clients share one connection)
 * the pool refuses with FLO_ELIMIT rather than overtake on another
 * connection. Such a request is not an error for the client: it is copied
 * into the client's deferred queue, every later request of the client
 * queues behind it (order), the client is not read meanwhile, and the flush
 * phase sends the queue in order once an upstream reply has arrived (room
 * was freed) or, as a fallback, after a few milliseconds.
 *
 * A blocking request (FLO_SEND_BLOCKING) takes one of the process-wide
 * long-poll slots (--max-longpolls) for as long as it is queued or in
 * flight; without a slot it fails at once with PROTO_ELONGPOLLS (-BUSY).
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "resp_internal.h"

/* One request waiting for room on the client's connection; its buffers
 * are copied because a command may reuse its scratch buffers at once. */
struct resp_deferred {
    struct resp_deferred *next;
    struct resp_call *rc; /* borrowed: the command outlives its calls */
    uint16_t op;
    unsigned flags;
    uint32_t timeout_ms;
    size_t ns_len, key_len, value_len, opts_len;
    bool key_null, value_null, opts_null; /* keep FLO_BUF_NULL distinct from empty */
    uint8_t data[];                       /* ns, key, value, opts */
};

int resp__calls_alloc(struct resp_pending *p, unsigned n)
{
    /* Most commands make one request: no allocation for those. */
    p->calls = n <= 1 ? &p->call1 : calloc(n, sizeof(*p->calls));
    if (!p->calls) {
        return FLO_ENOMEM;
    }
    if (n <= 1) {
        memset(p->calls, 0, sizeof(*p->calls));
    }
    for (unsigned i = 0; i < n; i++) {
        p->calls[i].p = p;
        p->calls[i].idx = i;
    }
    p->ncalls = n;
    return 0;
}

static void on_call(void *arg, int err, uint8_t status, flo_buf_t body)
{
    struct resp_call *rc = arg;
    struct resp_pending *p = rc->p;
    struct resp_server *srv = p->c->srv;
    rc->call = NULL;
    if (rc->longpoll) {
        rc->longpoll = false;
        proto_longpoll_leave();
    }
    p->outstanding--;
    p->step(p, rc->idx, err, status, body); /* p may be freed */
    if (srv->room_waiters) {
        resp__room_wake(srv); /* a reply came: its connection has room */
    }
}

static uint32_t affinity(const struct resp_client *c)
{
    return (uint32_t)c->id;
}

static int defer_push(struct resp_client *c, struct resp_call *rc, const struct flo_req *req,
                      unsigned flags, uint32_t timeout_ms)
{
    size_t total = req->ns.len + req->key.len + req->value.len + req->opts.len;
    struct resp_deferred *d = malloc(sizeof(*d) + total);
    if (!d) {
        return FLO_ENOMEM;
    }
    d->next = NULL;
    d->rc = rc;
    d->op = req->op;
    d->flags = flags;
    d->timeout_ms = timeout_ms;
    d->ns_len = req->ns.len;
    d->key_len = req->key.len;
    d->value_len = req->value.len;
    d->opts_len = req->opts.len;
    d->key_null = req->key.ptr == NULL;
    d->value_null = req->value.ptr == NULL;
    d->opts_null = req->opts.ptr == NULL;
    uint8_t *w = d->data;
    const flo_buf_t parts[4] = {req->ns, req->key, req->value, req->opts};
    for (size_t i = 0; i < 4; i++) {
        if (parts[i].len) {
            memcpy(w, parts[i].ptr, parts[i].len);
            w += parts[i].len;
        }
    }
    if (c->defer_tail) {
        c->defer_tail->next = d;
    } else {
        c->defer_head = d;
    }
    c->defer_tail = d;
    return 0;
}

static flo_buf_t part(const uint8_t *ptr, size_t len, bool null)
{
    return null ? FLO_BUF_NULL : FLO_BUF(ptr, len);
}

/* Send one deferred request; 0, FLO_ELIMIT (still full) or another error. */
static int defer_send(struct resp_client *c, struct resp_deferred *d)
{
    const uint8_t *r = d->data;
    struct flo_req req = {.op = d->op};
    req.ns = FLO_BUF(r, d->ns_len);
    r += d->ns_len;
    req.key = part(r, d->key_len, d->key_null);
    r += d->key_len;
    req.value = part(r, d->value_len, d->value_null);
    r += d->value_len;
    req.opts = part(r, d->opts_len, d->opts_null);
    return flo_pool_send_affine(c->srv->ctx->pool, affinity(c), &req, d->timeout_ms, d->flags,
                                on_call, d->rc, &d->rc->call);
}

int resp__send(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
               flo_buf_t opts, unsigned flags)
{
    return resp__send_ex(p, idx, op, key, value, opts, flags, 0);
}

int resp__send_ex(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
                  flo_buf_t opts, unsigned flags, uint32_t timeout_ms)
{
    struct resp_client *c = p->c;
    struct flo_req req = {
        .op = op,
        .ns = FLO_BUF(p->ns, p->ns_len),
        .key = key,
        .value = value,
        .opts = opts,
    };
    struct resp_call *rc = &p->calls[idx];
    rc->call = NULL;
    if (flags & FLO_SEND_BLOCKING) {
        int lp = proto_longpoll_enter();
        if (lp < 0) {
            return lp;
        }
        rc->longpoll = true;
    }
    int err = FLO_ELIMIT;
    if (!c->defer_head) {
        err = flo_pool_send_affine(c->srv->ctx->pool, affinity(c), &req, timeout_ms, flags, on_call,
                                   rc, &rc->call);
    }
    if (err == FLO_ELIMIT) {
        /* Full connection (or earlier requests already queued): wait for
         * room in order instead of failing the command. */
        err = defer_push(c, rc, &req, flags, timeout_ms);
        if (err == 0) {
            resp__room_wait(c);
        }
    }
    if (err == 0) {
        p->outstanding++;
        if (flags & FLO_SEND_BLOCKING) {
            p->blocking = true;
            resp__pending_blocked(p);
        }
    } else {
        rc->call = NULL;
        if (rc->longpoll) {
            rc->longpoll = false;
            proto_longpoll_leave();
        }
    }
    return err;
}

void resp__upstream_retry(struct resp_client *c)
{
    while (c->defer_head && !c->closing) {
        struct resp_deferred *d = c->defer_head;
        int err = defer_send(c, d);
        if (err == FLO_ELIMIT) {
            resp__room_wait(c);
            return;
        }
        c->defer_head = d->next;
        if (!c->defer_head) {
            c->defer_tail = NULL;
        }
        struct resp_call *rc = d->rc;
        free(d);
        if (err < 0) {
            /* Refused for good (e.g. the pool is closing): the command
             * sees it like an asynchronous failure. */
            rc->call = NULL;
            on_call(rc, err, 0, FLO_BUF_NULL);
        }
    }
}

void resp__upstream_cancel_all(struct resp_client *c)
{
    flo_pool_t *pool = c->srv->ctx->pool;
    for (struct resp_pending *p = c->head; p; p = p->next) {
        for (unsigned i = 0; i < p->ncalls; i++) {
            if (p->calls[i].call) {
                flo_pool_cancel(pool, p->calls[i].call);
                p->calls[i].call = NULL;
            }
            /* In flight or deferred: no callback will run now. */
            if (p->calls[i].longpoll) {
                p->calls[i].longpoll = false;
                proto_longpoll_leave();
            }
        }
    }
    while (c->defer_head) {
        struct resp_deferred *d = c->defer_head;
        c->defer_head = d->next;
        free(d);
    }
    c->defer_tail = NULL;
}

/* The reply the command gives when its block time runs out, so an early
 * end looks like a timeout to the client (the command table says which). */
static int timeout_reply(struct resp_pending *p)
{
    unsigned flags = p->cmd != NULL ? p->cmd->flags : 0;
    if (flags & RESP_CMD_TIMEOUT_NIL) {
        return resp_reply_null(&p->reply, p->proto);
    }
    if (flags & RESP_CMD_TIMEOUT_EMPTY) {
        return resp_reply_array(&p->reply, 0);
    }
    return resp_reply_null_array(&p->reply, p->proto);
}

bool resp__upstream_end_blocked(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    if (p->end_blocked != NULL && !p->done && !p->in_handler) {
        return p->end_blocked(p);
    }
    if (!p->blocking || p->done || p->outstanding == 0 || p->in_handler) {
        return false;
    }
    for (struct resp_deferred *d = c->defer_head; d; d = d->next) {
        if (d->rc->p == p) {
            return false; /* not sent yet: freeing p would leave d dangling */
        }
    }
    for (unsigned i = 0; i < p->ncalls; i++) {
        if (p->calls[i].call) {
            flo_pool_cancel(c->srv->ctx->pool, p->calls[i].call);
            p->calls[i].call = NULL;
        }
        /* A cancelled call's callback never runs: give its --max-longpolls
         * slot back here or it stays taken. */
        if (p->calls[i].longpoll) {
            p->calls[i].longpoll = false;
            proto_longpoll_leave();
        }
    }
    p->outstanding = 0;
    flo_wbuf_reset(&p->reply);
    if (timeout_reply(p) < 0) {
        resp_reply_error(&p->reply, "TRYAGAIN the sidecar is shutting down");
    }
    resp__pending_done(p);
    return true;
}
