/*
 * flo-dev's queue engine (see dev_queue.h for the model). Data structures:
 *  - every message is one allocation (struct, payload, dedup key) indexed by
 *    sequence in one engine-wide hash, so ack-like ops find it in O(1) and
 *    can tell "another queue's message" from "unknown";
 *  - each queue keeps its ready messages in a binary min-heap on
 *    (priority, seq), its DLQ as a list in arrival order, and its dedup keys
 *    in a hash;
 *  - delayed and leased messages sit in one engine-wide min-heap on their
 *    due time (a message is never in two heaps, so one index field serves),
 *    which the wire layer drives with a single timer: thousands of leases
 *    cost a pointer each and O(log n) per change.
 */
#include "dev_queue.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

#include "flo/flo_error.h"

#define DEFAULT_NS      "default"
#define MAX_NS          63                                  /* namespace name (limits.zig), as KV */
#define MSG_WIRE_FIXED  (8 + 4 + FLO_QUEUE_DEQUEUE_TRAILER) /* seq, payload len, trailer */
#define LIST_WIRE_FIXED 4                                   /* [count u32] */
#define HEAP_MIN_CAP    16

enum msg_state_e {
    ST_READY = 1, /* in its queue's ready heap */
    ST_DELAYED,   /* in the due heap, visible at `due` */
    ST_LEASED,    /* in the due heap, lease ends at `due` */
    ST_DEAD,      /* in its queue's DLQ list */
};

struct qmsg {
    uint64_t seq;               /* engine-wide, from 1 */
    struct dev_queue *q;        /* owning queue */
    uint8_t *payload;           /* points into this allocation */
    size_t len;                 /* payload length */
    uint8_t *dedup;             /* points into this allocation; NULL = none */
    size_t dedup_len;           /* dedup key length (<= 255: a TLV) */
    int64_t enqueued_at_ms;     /* Unix ms */
    uint64_t due;               /* delayed: visible at; leased: lease end (monotonic ms) */
    uint32_t lease_ms;          /* duration of the last lease (touch default) */
    uint32_t delivery_count;    /* deliveries so far */
    uint8_t priority;           /* lower first */
    uint8_t max_retries;        /* nack dead-letters at this delivery_count */
    uint8_t state;              /* enum msg_state_e */
    size_t hidx;                /* index in the ready heap or the due heap */
    struct qmsg *dprev, *dnext; /* DLQ list */
    UT_hash_handle hh;          /* engine table by seq */
    UT_hash_handle hd;          /* queue's dedup table by key */
    uint8_t data[];             /* payload then dedup key */
};

struct heap {
    struct qmsg **v; /* entries */
    size_t len, cap; /* fill and allocation */
};

struct dev_queue {
    UT_hash_handle hh;          /* engine table by key */
    uint8_t *key;               /* ns \0 name, owned */
    size_t klen;                /* key length */
    size_t ns_len;              /* namespace part of key */
    struct heap ready;          /* ready messages on (priority, seq) */
    struct qmsg *dlq;           /* dead messages, arrival order (utlist DL) */
    struct qmsg *dedup;         /* messages with a dedup key (hd handle) */
    size_t n_delayed, n_leased; /* messages in the due heap, per state */
    size_t n_dead;              /* DLQ length */
    struct flo_queue_stats st;  /* cumulative counters (the *_now fields unused) */
    struct dev_queue *wnext;    /* woken list link */
    bool woken;                 /* on the woken list */
};

struct dev_queues {
    struct dev_queue *queues;     /* uthash by key */
    size_t n_queues;              /* entries in queues */
    struct qmsg *by_seq;          /* uthash by seq */
    struct heap due;              /* delayed and leased messages on due time */
    struct dev_queue *woken_head; /* queues with new ready messages (FIFO) */
    struct dev_queue *woken_tail; /* its tail */
    uint64_t last_seq;            /* last sequence handed out */
    size_t n_msgs;                /* messages held */
    size_t bytes;                 /* payload bytes held */
    int64_t wall_offset;          /* monotonic -> Unix ms */
};

/* ---- heaps ---- */

typedef bool (*heap_less_fn)(const struct qmsg *a, const struct qmsg *b);

static bool ready_less(const struct qmsg *a, const struct qmsg *b)
{
    if (a->priority != b->priority) {
        return a->priority < b->priority;
    }
    return a->seq < b->seq;
}

static bool due_less(const struct qmsg *a, const struct qmsg *b)
{
    if (a->due != b->due) {
        return a->due < b->due;
    }
    return a->seq < b->seq;
}

static void heap_set(struct heap *h, size_t i, struct qmsg *m)
{
    h->v[i] = m;
    m->hidx = i;
}

static void heap_up(struct heap *h, size_t i, heap_less_fn less)
{
    struct qmsg *m = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(m, h->v[p])) {
            break;
        }
        heap_set(h, i, h->v[p]);
        i = p;
    }
    heap_set(h, i, m);
}

static void heap_down(struct heap *h, size_t i, heap_less_fn less)
{
    struct qmsg *m = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, c = l;
        if (l >= h->len) {
            break;
        }
        if (r < h->len && less(h->v[r], h->v[l])) {
            c = r;
        }
        if (!less(h->v[c], m)) {
            break;
        }
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, m);
}

/* Make room for n more entries (done before any state change). */
static int heap_reserve_n(struct heap *h, size_t n)
{
    if (h->cap - h->len >= n) {
        return 0;
    }
    size_t ncap = h->cap == 0 ? HEAP_MIN_CAP : h->cap * 2;
    if (ncap < h->len + n) {
        ncap = h->len + n;
    }
    struct qmsg **nv = realloc(h->v, ncap * sizeof *nv);
    if (nv == NULL) {
        return FLO_ENOMEM;
    }
    h->v = nv;
    h->cap = ncap;
    return 0;
}

static int heap_reserve(struct heap *h)
{
    return heap_reserve_n(h, 1);
}

/* Capacity was reserved by heap_reserve. */
static void heap_push(struct heap *h, struct qmsg *m, heap_less_fn less)
{
    heap_set(h, h->len++, m);
    heap_up(h, m->hidx, less);
}

static void heap_remove(struct heap *h, size_t i, heap_less_fn less)
{
    h->len--;
    if (i == h->len) {
        return;
    }
    heap_set(h, i, h->v[h->len]);
    heap_up(h, i, less);
    heap_down(h, h->v[i]->hidx, less);
}

/* Give back memory of a heap that shrank a lot (after a purge or a drain). */
static void heap_shrink(struct heap *h)
{
    if (h->cap > HEAP_MIN_CAP * 4 && h->len < h->cap / 8) {
        size_t ncap = h->cap / 4;
        struct qmsg **nv = realloc(h->v, ncap * sizeof *nv);
        if (nv != NULL) {
            h->v = nv;
            h->cap = ncap;
        }
    }
}

/* ---- engine ---- */

int dev_queues_new(int64_t wall_offset_ms, struct dev_queues **out)
{
    struct dev_queues *qs = calloc(1, sizeof *qs);
    if (qs == NULL) {
        return FLO_ENOMEM;
    }
    qs->wall_offset = wall_offset_ms;
    *out = qs;
    return 0;
}

void dev_queues_free(struct dev_queues *qs)
{
    if (qs == NULL) {
        return;
    }
    struct dev_queue *q, *qt;
    /* Dedup tables first: clearing one reads its first message. */
    for (q = qs->queues; q != NULL; q = q->hh.next) {
        HASH_CLEAR(hd, q->dedup);
    }
    struct qmsg *m, *mt;
    HASH_ITER(hh, qs->by_seq, m, mt)
    {
        HASH_DEL(qs->by_seq, m);
        free(m);
    }
    HASH_ITER(hh, qs->queues, q, qt)
    {
        HASH_DEL(qs->queues, q);
        free(q->ready.v);
        free(q->key);
        free(q);
    }
    free(qs->due.v);
    free(qs);
}

static bool is_default_ns(flo_buf_t ns)
{
    return ns.len == 0 || (ns.len == strlen(DEFAULT_NS) && memcmp(ns.ptr, DEFAULT_NS, ns.len) == 0);
}

/* Validate (ns, name) and write the key ns \0 name into buf. */
static uint8_t make_key(flo_buf_t ns, flo_buf_t name, uint8_t *buf, size_t *klen, size_t *ns_len,
                        const char **msg)
{
    *msg = NULL;
    if (name.len == 0) {
        *msg = DEV_QUEUE_MSG_NAME_REQUIRED;
        return FLO_STATUS_BAD_REQUEST;
    }
    if (memchr(name.ptr, 0, name.len) != NULL) {
        *msg = "queue name must not contain NUL";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (ns.len > MAX_NS) {
        *msg = "namespace name too long (max 63 bytes)";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (ns.len > 0 && memchr(ns.ptr, 0, ns.len) != NULL) {
        *msg = "namespace must not contain NUL";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (is_default_ns(ns)) {
        ns = FLO_BUF_STR(DEFAULT_NS);
    }
    if (ns.len + 1 + name.len > DEV_QUEUE_MAX_NAME) {
        *msg = "namespace + queue name too large (max 4096 bytes)";
        return FLO_STATUS_BAD_REQUEST;
    }
    memcpy(buf, ns.ptr, ns.len);
    buf[ns.len] = 0;
    memcpy(buf + ns.len + 1, name.ptr, name.len);
    *klen = ns.len + 1 + name.len;
    *ns_len = ns.len;
    return FLO_STATUS_OK;
}

uint8_t dev_queue_make_key(flo_buf_t ns, flo_buf_t name, uint8_t *buf, size_t *len,
                           const char **msg)
{
    size_t ns_len;
    return make_key(ns, name, buf, len, &ns_len, msg);
}

uint8_t dev_queue_open(struct dev_queues *qs, flo_buf_t ns, flo_buf_t name, bool create,
                       struct dev_queue **q, const char **msg)
{
    uint8_t key[DEV_QUEUE_MAX_NAME];
    size_t klen, ns_len;
    *q = NULL;
    uint8_t st = make_key(ns, name, key, &klen, &ns_len, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_queue *found = NULL;
    HASH_FIND(hh, qs->queues, key, klen, found);
    if (found != NULL || !create) {
        *q = found;
        return FLO_STATUS_OK;
    }
    if (qs->n_queues >= DEV_QUEUE_MAX_QUEUES) {
        *msg = "flo-dev queue limit reached (100000 queues)";
        return FLO_STATUS_OVERLOADED;
    }
    struct dev_queue *nq = calloc(1, sizeof *nq);
    uint8_t *k = malloc(klen);
    if (nq == NULL || k == NULL) {
        free(nq);
        free(k);
        *msg = "internal error: out of memory";
        return FLO_STATUS_INTERNAL;
    }
    memcpy(k, key, klen);
    nq->key = k;
    nq->klen = klen;
    nq->ns_len = ns_len;
    HASH_ADD_KEYPTR(hh, qs->queues, nq->key, nq->klen, nq);
    qs->n_queues++;
    *q = nq;
    return FLO_STATUS_OK;
}

flo_buf_t dev_queue_key(const struct dev_queue *q)
{
    return FLO_BUF(q->key, q->klen);
}

size_t dev_queue_ready_count(const struct dev_queue *q)
{
    return q->ready.len;
}

size_t dev_queues_message_count(const struct dev_queues *qs)
{
    return qs->n_msgs;
}

uint64_t dev_queue_next_due(const struct dev_queues *qs)
{
    return qs->due.len > 0 ? qs->due.v[0]->due : UINT64_MAX;
}

struct dev_queue *dev_queue_pop_woken(struct dev_queues *qs)
{
    struct dev_queue *q = qs->woken_head;
    if (q == NULL) {
        return NULL;
    }
    qs->woken_head = q->wnext;
    if (qs->woken_head == NULL) {
        qs->woken_tail = NULL;
    }
    q->wnext = NULL;
    q->woken = false;
    return q;
}

static void mark_woken(struct dev_queues *qs, struct dev_queue *q)
{
    if (q->woken) {
        return;
    }
    q->woken = true;
    q->wnext = NULL;
    if (qs->woken_tail != NULL) {
        qs->woken_tail->wnext = q;
    } else {
        qs->woken_head = q;
    }
    qs->woken_tail = q;
}

/* ---- state transitions ---- */

/* Take a message out of whatever structure its state puts it in. */
static void detach(struct dev_queues *qs, struct qmsg *m)
{
    struct dev_queue *q = m->q;
    switch (m->state) {
    case ST_READY:
        heap_remove(&q->ready, m->hidx, ready_less);
        break;
    case ST_DELAYED:
        heap_remove(&qs->due, m->hidx, due_less);
        q->n_delayed--;
        break;
    case ST_LEASED:
        heap_remove(&qs->due, m->hidx, due_less);
        q->n_leased--;
        break;
    case ST_DEAD:
        DL_DELETE2(q->dlq, m, dprev, dnext);
        q->n_dead--;
        break;
    default:
        break;
    }
    m->state = 0;
}

/* Every transition target reserves heap room first, so a state change never
 * fails half-way; only this reservation can fail. */
static int reserve_for(struct dev_queues *qs, struct qmsg *m, uint8_t target)
{
    if (target == ST_READY) {
        return heap_reserve(&m->q->ready);
    }
    if (target == ST_DELAYED || target == ST_LEASED) {
        return heap_reserve(&qs->due);
    }
    return 0;
}

/* Put a detached message into `target` (room reserved). */
static void attach(struct dev_queues *qs, struct qmsg *m, uint8_t target)
{
    struct dev_queue *q = m->q;
    m->state = target;
    switch (target) {
    case ST_READY:
        heap_push(&q->ready, m, ready_less);
        mark_woken(qs, q);
        break;
    case ST_DELAYED:
        heap_push(&qs->due, m, due_less);
        q->n_delayed++;
        break;
    case ST_LEASED:
        heap_push(&qs->due, m, due_less);
        q->n_leased++;
        break;
    case ST_DEAD:
        DL_APPEND2(q->dlq, m, dprev, dnext);
        q->n_dead++;
        q->st.dlq_total++;
        break;
    default:
        break;
    }
}

/* Move a message to `target`; FLO_ENOMEM leaves it where it was. */
static int move(struct dev_queues *qs, struct qmsg *m, uint8_t target)
{
    int rc = reserve_for(qs, m, target);
    if (rc != 0) {
        return rc;
    }
    detach(qs, m);
    attach(qs, m, target);
    return 0;
}

static void msg_free(struct dev_queues *qs, struct qmsg *m)
{
    detach(qs, m);
    HASH_DEL(qs->by_seq, m);
    if (m->dedup != NULL) {
        HASH_DELETE(hd, m->q->dedup, m);
    }
    qs->n_msgs--;
    qs->bytes -= m->len;
    free(m);
}

void dev_queue_tick(struct dev_queues *qs, uint64_t now)
{
    while (qs->due.len > 0 && qs->due.v[0]->due <= now) {
        struct qmsg *m = qs->due.v[0];
        bool lease = m->state == ST_LEASED;
        /* Becoming ready cannot be undone: if the ready heap cannot grow,
         * leave the message due and retry at the next tick. */
        if (move(qs, m, ST_READY) != 0) {
            return;
        }
        if (lease) {
            m->q->st.leases_expired++;
        }
    }
}

/* ---- enqueue ---- */

uint8_t dev_queue_enqueue(struct dev_queues *qs, struct dev_queue *q,
                          const struct dev_queue_new_msg *in, size_t n, uint64_t now,
                          uint64_t *seqs, const char **msg)
{
    *msg = NULL;
    dev_queue_tick(qs, now);
    size_t bytes = 0, delayed = 0, ready = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].delay_ms > DEV_QUEUE_MAX_DELAY_MS) {
            *msg = "delay_ms too large (max 2592000000, 30 days)";
            return FLO_STATUS_BAD_REQUEST;
        }
        bytes += in[i].payload.len;
        if (in[i].delay_ms > 0) {
            delayed++;
        } else {
            ready++;
        }
    }
    if (qs->n_msgs + n > DEV_QUEUE_MAX_MESSAGES || qs->bytes + bytes > DEV_QUEUE_MAX_BYTES) {
        *msg = "flo-dev queue memory limit reached (1000000 messages or 1 GiB of payloads)";
        return FLO_STATUS_OVERLOADED;
    }
    /* Reserve heap room for the whole batch so it cannot fail half-way. */
    if (heap_reserve_n(&q->ready, ready) != 0 || heap_reserve_n(&qs->due, delayed) != 0) {
        *msg = "internal error: out of memory";
        return FLO_STATUS_INTERNAL;
    }
    /* Allocate every message before changing anything (all or none); a
     * single enqueue, the common case, needs no pointer array. */
    struct qmsg *single = NULL;
    struct qmsg **made = n <= 1 ? &single : calloc(n, sizeof *made);
    if (made == NULL) {
        *msg = "internal error: out of memory";
        return FLO_STATUS_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        made[i] = malloc(sizeof *made[i] + in[i].payload.len + in[i].dedup_key.len);
        if (made[i] == NULL) {
            for (size_t j = 0; j < i; j++) {
                free(made[j]);
            }
            if (made != &single) {
                free(made);
            }
            *msg = "internal error: out of memory";
            return FLO_STATUS_INTERNAL;
        }
    }
    int64_t wall = (int64_t)now + qs->wall_offset;
    for (size_t i = 0; i < n; i++) {
        const struct dev_queue_new_msg *e = &in[i];
        struct qmsg *dup = NULL;
        if (e->dedup_key.len > 0) {
            HASH_FIND(hd, q->dedup, e->dedup_key.ptr, e->dedup_key.len, dup);
        }
        if (dup != NULL) {
            seqs[i] = dup->seq;
            free(made[i]);
            continue;
        }
        struct qmsg *m = made[i];
        memset(m, 0, sizeof *m);
        m->seq = ++qs->last_seq;
        m->q = q;
        m->payload = m->data;
        m->len = e->payload.len;
        if (m->len > 0) {
            memcpy(m->payload, e->payload.ptr, m->len);
        }
        if (e->dedup_key.len > 0) {
            m->dedup = m->data + m->len;
            m->dedup_len = e->dedup_key.len;
            memcpy(m->dedup, e->dedup_key.ptr, m->dedup_len);
            HASH_ADD_KEYPTR(hd, q->dedup, m->dedup, m->dedup_len, m);
        }
        m->enqueued_at_ms = wall;
        m->priority = e->priority;
        m->max_retries = e->max_retries;
        m->lease_ms = DEV_QUEUE_DEFAULT_VISIBILITY_MS;
        HASH_ADD(hh, qs->by_seq, seq, sizeof m->seq, m);
        qs->n_msgs++;
        qs->bytes += m->len;
        q->st.enqueued++;
        if (e->delay_ms > 0) {
            m->due = now + e->delay_ms;
            attach(qs, m, ST_DELAYED);
        } else {
            attach(qs, m, ST_READY);
        }
        seqs[i] = m->seq;
    }
    if (made != &single) {
        free(made);
    }
    return FLO_STATUS_OK;
}

/* ---- reads ---- */

static void view(const struct qmsg *m, struct flo_queue_msg *out)
{
    out->seq = m->seq;
    out->payload = FLO_BUF(m->payload, m->len);
    out->enqueued_at_ms = m->enqueued_at_ms;
    out->delivery_count = m->delivery_count;
    out->priority = m->priority;
}

/* Does one more message of `len` bytes fit the body budget? The first
 * always does: a reply never withholds the only message it could send. */
static bool fits(size_t *used, size_t n_before, size_t len, size_t max_body)
{
    size_t add = MSG_WIRE_FIXED + len;
    if (n_before > 0 && *used + add > max_body) {
        return false;
    }
    *used += add;
    return true;
}

size_t dev_queue_dequeue(struct dev_queues *qs, struct dev_queue *q, uint32_t count,
                         uint32_t visibility_ms, size_t max_body, uint64_t now,
                         struct flo_queue_msg *out)
{
    dev_queue_tick(qs, now);
    if (q == NULL) {
        return 0;
    }
    if (visibility_ms == 0) {
        visibility_ms = DEV_QUEUE_DEFAULT_VISIBILITY_MS;
    }
    size_t n = 0, used = LIST_WIRE_FIXED;
    while (n < count && q->ready.len > 0) {
        struct qmsg *m = q->ready.v[0];
        if (!fits(&used, n, m->len, max_body) || heap_reserve(&qs->due) != 0) {
            break;
        }
        detach(qs, m);
        m->delivery_count++;
        m->lease_ms = visibility_ms;
        m->due = now + visibility_ms;
        attach(qs, m, ST_LEASED);
        q->st.dequeued++;
        view(m, &out[n++]);
    }
    heap_shrink(&q->ready);
    return n;
}

size_t dev_queue_peek(struct dev_queues *qs, struct dev_queue *q, uint32_t count, size_t max_body,
                      uint64_t now, struct flo_queue_msg *out)
{
    dev_queue_tick(qs, now);
    if (q == NULL || q->ready.len == 0) {
        return 0;
    }
    if (count > DEV_QUEUE_MAX_LIST) {
        count = DEV_QUEUE_MAX_LIST;
    }
    /* The `count` best entries of a binary heap without disturbing it: a
     * best-first walk from the root with a small frontier heap of indexes
     * (each step adds at most two children, so count + 1 slots suffice). */
    size_t cap = (size_t)count + 2;
    size_t *fr = malloc(cap * sizeof *fr);
    if (fr == NULL) {
        return 0;
    }
    const struct heap *h = &q->ready;
    size_t flen = 0, n = 0, used = LIST_WIRE_FIXED;
    fr[flen++] = 0;
    while (n < count && flen > 0) {
        /* pop the best frontier index (linear: the frontier is small) */
        size_t best = 0;
        for (size_t i = 1; i < flen; i++) {
            if (ready_less(h->v[fr[i]], h->v[fr[best]])) {
                best = i;
            }
        }
        size_t idx = fr[best];
        fr[best] = fr[--flen];
        const struct qmsg *m = h->v[idx];
        if (!fits(&used, n, m->len, max_body)) {
            break;
        }
        view(m, &out[n++]);
        for (size_t c = 2 * idx + 1; c <= 2 * idx + 2 && c < h->len; c++) {
            if (flen < cap) {
                fr[flen++] = c;
            }
        }
    }
    free(fr);
    return n;
}

size_t dev_queue_dlq_list(struct dev_queues *qs, struct dev_queue *q, uint32_t count,
                          size_t max_body, uint64_t now, struct flo_queue_msg *out)
{
    dev_queue_tick(qs, now);
    if (q == NULL) {
        return 0;
    }
    if (count > DEV_QUEUE_MAX_LIST) {
        count = DEV_QUEUE_MAX_LIST;
    }
    size_t n = 0, used = LIST_WIRE_FIXED;
    for (struct qmsg *m = q->dlq; m != NULL && n < count; m = m->dnext) {
        if (!fits(&used, n, m->len, max_body)) {
            break;
        }
        view(m, &out[n++]);
    }
    return n;
}

/* ---- ack, nack, touch, dlq ops ---- */

/* Check one sequence against `op`. Sets *m (NULL = unknown, skip). */
static uint8_t check_one(struct dev_queues *qs, struct dev_queue *q, enum dev_queue_seq_op_e op,
                         uint64_t seq, struct qmsg **m, const char **msg)
{
    HASH_FIND(hh, qs->by_seq, &seq, sizeof seq, *m);
    struct qmsg *x = *m;
    if (x == NULL) {
        if (op == DEV_QUEUE_TOUCH) {
            *msg = DEV_QUEUE_MSG_OTHER_QUEUE;
            return FLO_STATUS_NOT_FOUND;
        }
        return FLO_STATUS_OK;
    }
    if (x->q != q) {
        *msg = DEV_QUEUE_MSG_OTHER_QUEUE;
        return FLO_STATUS_NOT_FOUND;
    }
    bool dead = x->state == ST_DEAD;
    switch (op) {
    case DEV_QUEUE_ACK:
        if (dead) {
            *msg = DEV_QUEUE_MSG_IN_DLQ;
            return FLO_STATUS_CONFLICT;
        }
        break;
    case DEV_QUEUE_TOUCH:
        if (x->state != ST_LEASED) {
            *msg = DEV_QUEUE_MSG_NOT_LEASED;
            return FLO_STATUS_CONFLICT;
        }
        break;
    case DEV_QUEUE_DLQ_REQUEUE:
    case DEV_QUEUE_DLQ_DELETE:
        if (!dead) {
            *msg = DEV_QUEUE_MSG_NOT_IN_DLQ;
            return FLO_STATUS_CONFLICT;
        }
        break;
    default:
        break;
    }
    return FLO_STATUS_OK;
}

/* Apply `op` to a checked message. 0 or FLO_ENOMEM (message unchanged). */
static int apply_one(struct dev_queues *qs, struct qmsg *m, enum dev_queue_seq_op_e op,
                     uint32_t visibility_ms, uint64_t now)
{
    struct dev_queue *q = m->q;
    switch (op) {
    case DEV_QUEUE_ACK:
        q->st.acked++;
        msg_free(qs, m);
        return 0;
    case DEV_QUEUE_NACK:
        if (m->state != ST_LEASED) {
            return 0; /* already waiting for delivery, or dead */
        }
        q->st.nacked++;
        return move(qs, m, m->delivery_count >= m->max_retries ? ST_DEAD : ST_READY);
    case DEV_QUEUE_NACK_DLQ:
        if (m->state == ST_DEAD) {
            return 0;
        }
        q->st.nacked++;
        return move(qs, m, ST_DEAD);
    case DEV_QUEUE_TOUCH: {
        uint32_t ms = visibility_ms != 0 ? visibility_ms : m->lease_ms;
        m->lease_ms = ms;
        m->due = now + ms;
        /* Same heap, new key: restore the heap order in place. */
        heap_up(&qs->due, m->hidx, due_less);
        heap_down(&qs->due, m->hidx, due_less);
        return 0;
    }
    case DEV_QUEUE_DLQ_REQUEUE: {
        int rc = reserve_for(qs, m, ST_READY);
        if (rc == 0) {
            m->delivery_count = 0; /* a fresh retry budget */
            detach(qs, m);
            attach(qs, m, ST_READY);
        }
        return rc;
    }
    case DEV_QUEUE_DLQ_DELETE:
        msg_free(qs, m);
        return 0;
    }
    return 0;
}

uint8_t dev_queue_apply(struct dev_queues *qs, struct dev_queue *q, enum dev_queue_seq_op_e op,
                        const struct flo_queue_seqs *seqs, uint32_t visibility_ms, uint64_t now,
                        int64_t *lease_until_ms, const char **msg)
{
    *msg = NULL;
    dev_queue_tick(qs, now);
    for (uint32_t i = 0; i < seqs->n; i++) {
        struct qmsg *m;
        uint8_t st = check_one(qs, q, op, flo_queue_seqs_get(seqs, i), &m, msg);
        if (st != FLO_STATUS_OK) {
            return st;
        }
    }
    int64_t until = 0;
    for (uint32_t i = 0; i < seqs->n; i++) {
        uint64_t seq = flo_queue_seqs_get(seqs, i);
        struct qmsg *m = NULL;
        /* Looked up again: an earlier duplicate in the list may have freed it. */
        HASH_FIND(hh, qs->by_seq, &seq, sizeof seq, m);
        if (m == NULL) {
            continue;
        }
        if (apply_one(qs, m, op, visibility_ms, now) != 0) {
            *msg = "internal error: out of memory";
            return FLO_STATUS_INTERNAL;
        }
        if (op == DEV_QUEUE_TOUCH) {
            until = (int64_t)m->due + qs->wall_offset;
        }
    }
    if (lease_until_ms != NULL) {
        *lease_until_ms = until;
    }
    return FLO_STATUS_OK;
}

/* ---- purge, stats, list ---- */

void dev_queue_purge(struct dev_queues *qs, struct dev_queue *q, uint64_t now, uint32_t *removed)
{
    dev_queue_tick(qs, now);
    *removed = 0;
    if (q == NULL) {
        return;
    }
    uint32_t n = 0;
    while (q->ready.len > 0) {
        msg_free(qs, q->ready.v[q->ready.len - 1]);
        n++;
    }
    if (q->n_delayed + q->n_leased > 0) {
        /* Filter the engine heap in one pass, then restore its order
         * (Floyd): O(n) however many of the queue's messages it holds. */
        struct heap *h = &qs->due;
        size_t w = 0;
        for (size_t i = 0; i < h->len; i++) {
            struct qmsg *m = h->v[i];
            if (m->q != q) {
                heap_set(h, w++, m);
                continue;
            }
            if (m->state == ST_DELAYED) {
                q->n_delayed--;
            } else {
                q->n_leased--;
            }
            m->state = 0; /* detached: msg_free must not touch the heap */
            msg_free(qs, m);
            n++;
        }
        h->len = w;
        for (size_t i = h->len / 2; i-- > 0;) {
            heap_down(h, i, due_less);
        }
    }
    heap_shrink(&q->ready);
    heap_shrink(&qs->due);
    *removed = n;
}

static void stats_of(const struct dev_queue *q, struct flo_queue_stats *out)
{
    *out = q->st;
    out->ready_now = q->ready.len + q->n_delayed;
    out->leased_now = q->n_leased;
    out->dlq_now = q->n_dead;
}

void dev_queue_stats(struct dev_queues *qs, const struct dev_queue *q, uint64_t now,
                     struct flo_queue_stats *out)
{
    dev_queue_tick(qs, now);
    memset(out, 0, sizeof *out);
    if (q != NULL) {
        stats_of(q, out);
    }
}

static bool in_ns(const struct dev_queue *q, flo_buf_t ns)
{
    if (is_default_ns(ns)) {
        ns = FLO_BUF_STR(DEFAULT_NS);
    }
    return q->ns_len == ns.len && memcmp(q->key, ns.ptr, ns.len) == 0;
}

void dev_queue_stats_ns(struct dev_queues *qs, flo_buf_t ns, uint64_t now,
                        struct flo_queue_stats *out)
{
    dev_queue_tick(qs, now);
    memset(out, 0, sizeof *out);
    for (struct dev_queue *q = qs->queues; q != NULL; q = q->hh.next) {
        if (!in_ns(q, ns)) {
            continue;
        }
        struct flo_queue_stats s;
        stats_of(q, &s);
        out->enqueued += s.enqueued;
        out->dequeued += s.dequeued;
        out->acked += s.acked;
        out->nacked += s.nacked;
        out->dlq_total += s.dlq_total;
        out->leases_expired += s.leases_expired;
        out->ready_now += s.ready_now;
        out->leased_now += s.leased_now;
        out->dlq_now += s.dlq_now;
    }
}

void dev_queue_each(struct dev_queues *qs, flo_buf_t ns, uint64_t now,
                    bool (*fn)(const struct flo_queue_info *info, void *ud), void *ud)
{
    dev_queue_tick(qs, now);
    for (struct dev_queue *q = qs->queues; q != NULL; q = q->hh.next) {
        if (!in_ns(q, ns)) {
            continue;
        }
        struct flo_queue_info info = {
            .name = FLO_BUF(q->key + q->ns_len + 1, q->klen - q->ns_len - 1),
            .ns = FLO_BUF(q->key, q->ns_len),
            .pending = q->ready.len + q->n_delayed + q->n_leased,
            .available = q->ready.len,
            .enqueued = q->st.enqueued,
            .dequeued = q->st.dequeued,
            .dlq = q->n_dead,
        };
        if (!fn(&info, ud)) {
            return;
        }
    }
}
