/*
 * Deferred requests of flo-dev: a blocking request (GET with block_ms or
 * wait_ms today; dequeue/read/await later) parks a waiter here and the
 * connection goes on serving its next frames, as the real server does
 * (flo-protocol-core.md §6.4). Waiters are indexed twice: by key (a uthash of
 * buckets, so a write wakes exactly the waiters of its key) and by deadline
 * (one binary min-heap driving one libuv timer, so thousands of waiters cost
 * a pointer each and O(log n) per change, not a timer each). Each
 * connection also links its own waiters so a disconnect drops them at once.
 */
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"

static void timer_cb(uv_timer_t *t);

/* ---- heap on deadline ---- */

static bool heap_less(const struct dev_waits *w, size_t a, size_t b)
{
    return w->heap[a]->deadline < w->heap[b]->deadline;
}

static void heap_swap(struct dev_waits *w, size_t a, size_t b)
{
    struct dev_waiter *t = w->heap[a];
    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a]->heap_idx = a;
    w->heap[b]->heap_idx = b;
}

static void heap_up(struct dev_waits *w, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(w, i, p)) {
            break;
        }
        heap_swap(w, i, p);
        i = p;
    }
}

static void heap_down(struct dev_waits *w, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->len && heap_less(w, l, m)) {
            m = l;
        }
        if (r < w->len && heap_less(w, r, m)) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(w, i, m);
        i = m;
    }
}

static void heap_remove(struct dev_waits *w, size_t i)
{
    w->len--;
    if (i == w->len) {
        return;
    }
    w->heap[i] = w->heap[w->len];
    w->heap[i]->heap_idx = i;
    heap_up(w, i);
    heap_down(w, i);
}

/* Point the timer at the earliest deadline (or stop it). */
static void rearm(struct dev_server *srv)
{
    struct dev_waits *w = &srv->waits;
    if (srv->closing) {
        return;
    }
    if (w->len == 0) {
        uv_timer_stop(&w->timer);
        return;
    }
    uint64_t now = dev__now(srv);
    uint64_t due = w->heap[0]->deadline;
    uv_timer_start(&w->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* ---- registry ---- */

int dev__wait_init(struct dev_server *srv)
{
    memset(&srv->waits, 0, sizeof srv->waits);
    int rc = uv_timer_init(srv->loop, &srv->waits.timer);
    if (rc != 0) {
        return rc;
    }
    srv->waits.timer.data = srv;
    srv->handles_open++;
    return 0;
}

static void timer_closed_cb(uv_handle_t *h);

void dev__wait_close(struct dev_server *srv)
{
    /* Waiters belong to connections, which the server closed first. */
    free(srv->waits.heap);
    srv->waits.heap = NULL;
    srv->waits.len = srv->waits.cap = 0;
    uv_close((uv_handle_t *)&srv->waits.timer, timer_closed_cb);
}

/* Unlink a waiter from everything and free it (and an emptied bucket). */
static void waiter_free(struct dev_server *srv, struct dev_waiter *wt)
{
    struct dev_wait_key *b = wt->bucket;
    DL_DELETE2(b->head, wt, kprev, knext);
    if (b->head == NULL) {
        HASH_DEL(srv->waits.table, b);
        free(b);
    }
    DL_DELETE2(wt->conn->waiters, wt, cprev, cnext);
    heap_remove(&srv->waits, wt->heap_idx);
    free(wt->ext);
    free(wt);
}

struct dev_waiter *dev__wait_add(struct dev_conn *c, flo_buf_t key, uint64_t id,
                                 uint32_t timeout_ms, dev_wait_timeout_cb on_timeout)
{
    struct dev_server *srv = c->srv;
    struct dev_waits *w = &srv->waits;
    if (w->len >= DEV_MAX_WAITERS) {
        FLO_WARN("waiter limit reached, answering at once", "limit=%u", DEV_MAX_WAITERS);
        return NULL;
    }
    if (w->len == w->cap) {
        size_t ncap = w->cap == 0 ? 64 : w->cap * 2;
        struct dev_waiter **nh = realloc(w->heap, ncap * sizeof *nh);
        if (nh == NULL) {
            return NULL;
        }
        w->heap = nh;
        w->cap = ncap;
    }
    struct dev_waiter *wt = calloc(1, sizeof *wt);
    if (wt == NULL) {
        return NULL;
    }
    struct dev_wait_key *b = NULL;
    HASH_FIND(hh, w->table, key.ptr, key.len, b);
    if (b == NULL) {
        b = calloc(1, sizeof *b + key.len);
        if (b == NULL) {
            free(wt);
            return NULL;
        }
        memcpy(b->key, key.ptr, key.len);
        b->klen = key.len;
        HASH_ADD(hh, w->table, key, b->klen, b);
    }
    wt->conn = c;
    wt->request_id = id;
    wt->deadline = dev__now(srv) + timeout_ms;
    wt->bucket = b;
    wt->on_timeout = on_timeout;
    DL_APPEND2(b->head, wt, kprev, knext);
    DL_APPEND2(c->waiters, wt, cprev, cnext);
    wt->heap_idx = w->len;
    w->heap[w->len++] = wt;
    heap_up(w, wt->heap_idx);
    if (wt->heap_idx == 0) {
        rearm(srv);
    }
    return wt;
}

void dev__wait_wake(struct dev_server *srv, flo_buf_t key,
                    bool (*fn)(struct dev_waiter *w, void *ud), void *ud)
{
    struct dev_wait_key *b = NULL;
    HASH_FIND(hh, srv->waits.table, key.ptr, key.len, b);
    if (b == NULL) {
        return;
    }
    bool earliest_gone = false;
    struct dev_waiter *wt = b->head;
    while (wt != NULL) {
        struct dev_waiter *next = wt->knext;
        bool last = next == NULL;
        if (fn(wt, ud)) {
            earliest_gone |= wt->heap_idx == 0;
            /* Freeing the last waiter frees the bucket too: stop before it. */
            waiter_free(srv, wt);
        }
        if (last) {
            break;
        }
        wt = next;
    }
    if (earliest_gone) {
        rearm(srv);
    }
}

void dev__wait_drop_conn(struct dev_conn *c)
{
    struct dev_server *srv = c->srv;
    bool any = c->waiters != NULL;
    while (c->waiters != NULL) {
        waiter_free(srv, c->waiters);
    }
    if (any) {
        rearm(srv);
    }
}

size_t dev__wait_count(const struct dev_server *srv)
{
    return srv->waits.len;
}

/* Answer every waiter whose deadline has passed, then re-arm. */
static void timer_cb(uv_timer_t *t)
{
    struct dev_server *srv = t->data;
    struct dev_waits *w = &srv->waits;
    uint64_t now = dev__now(srv);
    while (w->len > 0 && w->heap[0]->deadline <= now) {
        struct dev_waiter *wt = w->heap[0];
        wt->on_timeout(wt);
        waiter_free(srv, wt);
    }
    rearm(srv);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct dev_server *srv = h->data;
    dev__server_handle_closed(srv);
}
