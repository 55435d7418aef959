/*
 * The upstream connection pool (contract in flo_pool.h).
 *
 * Layout: one "slot" per connection, naddrs x (conns_per_addr +
 * longpoll_conns_per_addr) of them, allocated once. A slot owns a
 * flo_conn, a backoff timer and an address-resolution request, and keeps
 * reconnecting for the pool's whole life; a slot whose connection attempt
 * fails moves on to the next address (failover). Slot i starts on address
 * i / per_addr.
 *
 * Calls: one record per request (recycled through a free list) that is in
 * exactly one place: in flight on a connection (its hash table), waiting in
 * the pool queue (no connection up yet), or free. Every live record is also
 * in one min-heap of deadlines driving a single uv_timer, so thousands of
 * waiting long-polls cost a heap slot each, not a timer each.
 *
 * Requests sent before any connection is up (start-up, reconnect) wait in a
 * bounded queue for at most min(their timeout, connect_timeout_ms): long
 * enough for a connection attempt to finish, short enough that a caller of
 * a pool whose upstream is down gets FLO_EUNAVAIL promptly.
 */
#include "flo/flo_pool.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_conn.h"
#include "flo/flo_log.h"

#define DEFAULT_CONNS_PER_ADDR     2
#define DEFAULT_LONGPOLL_CONNS     1
#define DEFAULT_CONNECT_TIMEOUT_MS 3000
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
#define DEFAULT_BACKOFF_MIN_MS     100
#define DEFAULT_BACKOFF_MAX_MS     5000
#define DEFAULT_MAX_INFLIGHT       4096
#define DEFAULT_MAX_FRAME          (16u * 1024 * 1024 + 1024)
/* Call records kept for reuse; beyond this they are freed. */
#define FREE_CALLS_MAX 4096
/* A recycled record drops a retained frame buffer bigger than this. */
#define KEEP_FRAME_CAP (64u * 1024)
/* Sanity bounds on the configuration (a pool is a handful of connections). */
#define MAX_ADDRS          64
#define MAX_CONNS_PER_ADDR 256
#define HOST_MAX           255
#define PORT_MAX_LEN       5

enum { LANE_NORMAL = 0, LANE_BLOCKING = 1 };

const double flo_pool_lat_bounds[FLO_POOL_LAT_NBUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

/* A call record as the pool allocates it: the connection layer sees the
 * flo_call (first member), the pool also keeps when it was sent. */
struct pool_call {
    struct flo_call call; /* first: records are freed through &call */
    uint64_t start_ns;    /* uv_hrtime at flo_pool_send */
};

static struct pool_call *pool_call_of(struct flo_call *call)
{
    return (struct pool_call *)call;
}

struct pool_addr {
    char text[HOST_MAX + 16]; /* as configured, for logs */
    char host[HOST_MAX + 1];  /* without brackets */
    char port[PORT_MAX_LEN + 1];
    bool numeric; /* `sa` is valid; no resolution needed */
    struct sockaddr_storage sa;
};

struct pool_slot {
    struct flo_conn conn; /* first: conn hooks recover the slot from it */
    struct flo_pool *pool;
    uv_timer_t backoff;   /* reconnect delay */
    uv_getaddrinfo_t gai; /* name resolution in flight when gai_active */
    bool gai_active;
    unsigned index;    /* position in pool->slots */
    unsigned addr_idx; /* address currently tried */
    unsigned lane;     /* LANE_NORMAL / LANE_BLOCKING */
    unsigned failures; /* consecutive failed attempts (backoff exponent) */
};

struct flo_pool {
    uv_loop_t *loop;
    struct flo_pool_config cfg; /* copy; addrs/api_key point at our copies */
    char *api_key;              /* owned copy, NULL if none */
    struct pool_addr *addrs;    /* naddrs entries, owned */
    struct pool_slot *slots;    /* nslots entries, owned */
    unsigned nslots;
    uv_timer_t deadline_timer; /* fires at the earliest heap key */
    bool timer_armed;
    uint64_t armed_at;      /* heap key the timer was armed for */
    struct flo_call **heap; /* min-heap on heap_key */
    size_t heap_len, heap_cap;
    struct flo_call *wait_head; /* FIFO of calls waiting for a connection */
    struct flo_call *wait_tail;
    size_t nwaiting;
    size_t max_waiting;
    struct flo_call *free_calls; /* recycled records (singly linked by next) */
    size_t nfree;
    uint64_t next_id; /* request ids, shared by all connections */
    uint64_t live;    /* records handed out (in flight + waiting) */
    unsigned conns_up;
    unsigned rr; /* round-robin start for picking */
    bool ready;
    bool closing;
    bool auth_warned;         /* "server ignores the key" logged once */
    bool auth_refused_logged; /* "key refused" logged since the last good connection */
    int last_err;             /* latest connection failure (0 once one comes up) */
    unsigned pending_closes;  /* handles/requests still closing */
    void (*done)(void *arg);
    void *done_arg;
    uint64_t rng; /* backoff jitter state (xorshift64, never 0) */
    /* While a response's completion runs: the clock its socket read was
     * stamped with (flo_conn_read_now_ns), shared by the latency histogram,
     * requests sent from the callback and flo_pool_now_ns. 0 otherwise. */
    uint64_t cb_now_ns;
    struct flo_pool_stats st;
};

void flo_pool_config_defaults(struct flo_pool_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->conns_per_addr = DEFAULT_CONNS_PER_ADDR;
    cfg->longpoll_conns_per_addr = DEFAULT_LONGPOLL_CONNS;
    cfg->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
    cfg->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    cfg->max_inflight_per_conn = DEFAULT_MAX_INFLIGHT;
    cfg->max_frame = DEFAULT_MAX_FRAME;
    cfg->max_request_frame = FLO_MAX_PROCESSED_FRAME;
}

/* ---- address parsing ---- */

static bool valid_host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

/* Parse "host:port", "[v6]:port" or "a.b.c.d:port". 0 or FLO_EINVAL. */
static int parse_addr(const char *s, struct pool_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (!s || strlen(s) >= sizeof(a->text)) {
        return FLO_EINVAL;
    }
    snprintf(a->text, sizeof(a->text), "%s", s);
    const char *host, *host_end, *port;
    bool bracketed = false;
    if (s[0] == '[') {
        host = s + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') {
            return FLO_EINVAL;
        }
        port = host_end + 2;
        bracketed = true;
    } else {
        host = s;
        host_end = strrchr(s, ':');
        if (!host_end || memchr(s, ':', (size_t)(host_end - s))) {
            return FLO_EINVAL; /* no port, or a bare IPv6 address (ambiguous) */
        }
        port = host_end + 1;
    }
    size_t hlen = (size_t)(host_end - host);
    size_t plen = strlen(port);
    if (hlen == 0 || hlen > HOST_MAX || plen == 0 || plen > PORT_MAX_LEN) {
        return FLO_EINVAL;
    }
    unsigned long pnum = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9') {
            return FLO_EINVAL;
        }
        pnum = pnum * 10 + (unsigned long)(port[i] - '0');
    }
    if (pnum == 0 || pnum > 65535) {
        return FLO_EINVAL;
    }
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    memcpy(a->port, port, plen);
    a->port[plen] = '\0';
    if (bracketed) {
        if (uv_ip6_addr(a->host, (int)pnum, (struct sockaddr_in6 *)&a->sa) != 0) {
            return FLO_EINVAL;
        }
        a->numeric = true;
        return 0;
    }
    for (size_t i = 0; i < hlen; i++) {
        if (!valid_host_char(a->host[i])) {
            return FLO_EINVAL;
        }
    }
    unsigned char probe[sizeof(struct in_addr)];
    if (uv_inet_pton(AF_INET, a->host, probe) == 0) {
        if (uv_ip4_addr(a->host, (int)pnum, (struct sockaddr_in *)&a->sa) != 0) {
            return FLO_EINVAL;
        }
        a->numeric = true;
    }
    return 0;
}

/* ---- deadline heap ---- */

static void heap_swap(struct flo_pool *p, size_t i, size_t j)
{
    struct flo_call *t = p->heap[i];
    p->heap[i] = p->heap[j];
    p->heap[j] = t;
    p->heap[i]->heap_idx = i;
    p->heap[j]->heap_idx = j;
}

static void heap_up(struct flo_pool *p, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (p->heap[parent]->heap_key <= p->heap[i]->heap_key) {
            break;
        }
        heap_swap(p, i, parent);
        i = parent;
    }
}

static void heap_down(struct flo_pool *p, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->heap_len && p->heap[l]->heap_key < p->heap[m]->heap_key) {
            m = l;
        }
        if (r < p->heap_len && p->heap[r]->heap_key < p->heap[m]->heap_key) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(p, i, m);
        i = m;
    }
}

static void deadline_cb(uv_timer_t *t);
static void close_done(struct flo_pool *p);

static void arm_timer(struct flo_pool *p)
{
    if (p->closing) {
        return;
    }
    if (p->heap_len == 0) {
        uv_timer_stop(&p->deadline_timer);
        p->timer_armed = false;
        return;
    }
    uint64_t key = p->heap[0]->heap_key;
    if (p->timer_armed && p->armed_at <= key) {
        return; /* fires early at worst, then re-arms */
    }
    uint64_t now = uv_now(p->loop);
    uv_timer_start(&p->deadline_timer, deadline_cb, key > now ? key - now : 0, 0);
    p->timer_armed = true;
    p->armed_at = key;
}

/* Make room for one more entry, so that heap_insert cannot fail after a
 * request has already been written into a connection's buffer. */
static int heap_reserve(struct flo_pool *p)
{
    if (p->heap_len < p->heap_cap) {
        return 0;
    }
    size_t ncap = p->heap_cap ? p->heap_cap * 2 : 64;
    struct flo_call **nh = realloc(p->heap, ncap * sizeof(*nh));
    if (!nh) {
        return FLO_ENOMEM;
    }
    p->heap = nh;
    p->heap_cap = ncap;
    return 0;
}

/* Insert; the caller has called heap_reserve. */
static void heap_insert(struct flo_pool *p, struct flo_call *call)
{
    call->heap_idx = p->heap_len;
    p->heap[p->heap_len++] = call;
    heap_up(p, call->heap_idx);
    arm_timer(p);
}

static void heap_remove(struct flo_pool *p, struct flo_call *call)
{
    size_t i = call->heap_idx;
    if (i == SIZE_MAX) {
        return;
    }
    call->heap_idx = SIZE_MAX;
    p->heap_len--;
    if (i == p->heap_len) {
        return;
    }
    p->heap[i] = p->heap[p->heap_len];
    p->heap[i]->heap_idx = i;
    heap_down(p, i);
    heap_up(p, i);
}

static void heap_rekey(struct flo_pool *p, struct flo_call *call, uint64_t key)
{
    call->heap_key = key;
    if (call->heap_idx != SIZE_MAX) {
        heap_down(p, call->heap_idx);
        heap_up(p, call->heap_idx);
        arm_timer(p);
    }
}

/* ---- call records ---- */

static struct flo_call *call_get(struct flo_pool *p)
{
    struct flo_call *call = p->free_calls;
    if (call) {
        p->free_calls = call->next;
        p->nfree--;
    } else {
        struct pool_call *pc = calloc(1, sizeof(*pc));
        if (!pc) {
            return NULL;
        }
        call = &pc->call;
        flo_wbuf_init(&call->frame);
    }
    call->next = call->prev = NULL;
    call->conn = NULL;
    call->heap_idx = SIZE_MAX;
    call->retried = false;
    call->queued = false;
    flo_wbuf_reset(&call->frame);
    return call;
}

static void call_put(struct flo_pool *p, struct flo_call *call)
{
    call->cb = NULL;
    call->arg = NULL;
    if (p->nfree >= FREE_CALLS_MAX || p->closing) {
        flo_wbuf_free(&call->frame);
        free(call);
        return;
    }
    if (call->frame.cap > KEEP_FRAME_CAP) {
        flo_wbuf_free(&call->frame);
    }
    call->next = p->free_calls;
    p->free_calls = call;
    p->nfree++;
}

static void wait_unlink(struct flo_pool *p, struct flo_call *call)
{
    if (call->prev) {
        call->prev->next = call->next;
    } else {
        p->wait_head = call->next;
    }
    if (call->next) {
        call->next->prev = call->prev;
    } else {
        p->wait_tail = call->prev;
    }
    call->next = call->prev = NULL;
    call->queued = false;
    p->nwaiting--;
}

static void wait_push(struct flo_pool *p, struct flo_call *call)
{
    call->next = NULL;
    call->prev = p->wait_tail;
    if (p->wait_tail) {
        p->wait_tail->next = call;
    } else {
        p->wait_head = call;
    }
    p->wait_tail = call;
    call->queued = true;
    p->nwaiting++;
}

/* Count a response by status and its latency since flo_pool_send. */
static void observe_response(struct flo_pool *p, struct flo_call *call, uint8_t status)
{
    p->st.by_status[status < FLO_POOL_NSTATUS ? status : FLO_POOL_NSTATUS - 1]++;
    uint64_t start = pool_call_of(call)->start_ns;
    uint64_t now = flo_pool_now_ns(p);
    /* A request sent from a completion callback is stamped with that
     * callback's (shared) clock, so start <= now always holds in practice;
     * the guard only keeps a bad stamp from wrapping to a huge latency. */
    double s = now > start ? (double)(now - start) / 1e9 : 0.0;
    unsigned i = 0;
    while (i < FLO_POOL_LAT_NBUCKETS && s > flo_pool_lat_bounds[i]) {
        i++;
    }
    p->st.lat_buckets[i]++;
    p->st.lat_sum_s += s;
}

/* Finish a call: take it out of every structure, recycle the record, then
 * run its callback (last, so the callback may send or close freely). */
static void complete(struct flo_pool *p, struct flo_call *call, int err, uint8_t status,
                     flo_buf_t body)
{
    heap_remove(p, call);
    if (call->queued) {
        wait_unlink(p, call);
    }
    if (call->conn) {
        flo_conn_forget(call->conn, call);
    }
    if (err == 0) {
        observe_response(p, call, status);
    } else if (err != FLO_ETIMEDOUT) {
        p->st.failures++;
    }
    flo_call_cb cb = call->cb;
    void *arg = call->arg;
    call_put(p, call);
    p->live--;
    if (cb) {
        cb(arg, err, status, body);
    }
}

/* ---- picking a connection ---- */

static flo_conn_t *pick_in_lane(struct flo_pool *p, unsigned lane)
{
    flo_conn_t *best = NULL;
    unsigned n = p->nslots;
    unsigned start = p->rr++ % n;
    for (unsigned k = 0; k < n; k++) {
        struct pool_slot *s = &p->slots[(start + k) % n];
        if (s->lane != lane || !flo_conn_can_send(&s->conn)) {
            continue;
        }
        if (!best || s->conn.ninflight < best->ninflight) {
            best = &s->conn;
            if (best->ninflight == 0) {
                break;
            }
        }
    }
    return best;
}

/* The least-loaded usable connection of the call's lane, else of the other
 * lane: a long-poll on a normal connection beats failing it, and readiness
 * promises that a request can go somewhere. */
static flo_conn_t *pick(struct flo_pool *p, unsigned flags)
{
    unsigned lane = (flags & FLO_SEND_BLOCKING) ? LANE_BLOCKING : LANE_NORMAL;
    flo_conn_t *c = pick_in_lane(p, lane);
    return c ? c : pick_in_lane(p, 1 - lane);
}

/* The lane's slot chosen by `affinity` (the same slot for the same value
 * while the slot count is fixed). *full is set when that connection is up but
 * cannot take more: the caller must not overtake it on another connection.
 * NULL without *full = it is down: fall back to pick(). */
static flo_conn_t *pick_affine(struct flo_pool *p, unsigned flags, uint32_t affinity, bool *full)
{
    unsigned lane = (flags & FLO_SEND_BLOCKING) ? LANE_BLOCKING : LANE_NORMAL;
    unsigned nlane = 0;
    for (unsigned i = 0; i < p->nslots; i++) {
        nlane += p->slots[i].lane == lane;
    }
    *full = false;
    if (nlane == 0) {
        return NULL;
    }
    unsigned want = affinity % nlane;
    for (unsigned i = 0; i < p->nslots; i++) {
        struct pool_slot *s = &p->slots[i];
        if (s->lane != lane || want-- != 0) {
            continue;
        }
        if (flo_conn_can_send(&s->conn)) {
            return &s->conn;
        }
        *full = s->conn.state == FLO_CONN_UP;
        return NULL;
    }
    return NULL;
}

/* Where a call goes now: its affine connection, or the least-loaded one. */
static flo_conn_t *pick_for(struct flo_pool *p, const struct flo_call *call, bool *full)
{
    *full = false;
    if (call->affine) {
        flo_conn_t *c = pick_affine(p, call->flags, call->affinity, full);
        if (c || *full) {
            return c;
        }
    }
    return pick(p, call->flags);
}

/* True if some connection is UP (conns_up lags: it drops only once a failed
 * socket has finished closing, and a send in between must queue). */
static bool any_up(const struct flo_pool *p)
{
    for (unsigned i = 0; i < p->nslots; i++) {
        if (p->slots[i].conn.state == FLO_CONN_UP) {
            return true;
        }
    }
    return false;
}

/* Key under which a waiting call sits in the heap (see the file comment). */
static uint64_t wait_key(struct flo_pool *p, const struct flo_call *call)
{
    uint64_t limit = uv_now(p->loop) + p->cfg.connect_timeout_ms;
    return call->deadline < limit ? call->deadline : limit;
}

/* Send waiting calls on connections that can take them, in FIFO order. */
static void drain_waiting(struct flo_pool *p)
{
    while (p->wait_head && !p->closing) {
        struct flo_call *call = p->wait_head;
        bool full;
        flo_conn_t *c = pick_for(p, call, &full);
        if (!c) {
            return;
        }
        wait_unlink(p, call);
        int rc = flo_conn_send(c, call, NULL, false);
        if (rc < 0) {
            complete(p, call, rc, 0, FLO_BUF_NULL);
            continue;
        }
        heap_rekey(p, call, call->deadline);
    }
}

/* ---- connection slots ---- */

static struct pool_slot *slot_of(flo_conn_t *c)
{
    return (struct pool_slot *)c; /* conn is the first member */
}

static void update_ready(struct flo_pool *p)
{
    bool now_ready = p->conns_up > 0 && !p->closing;
    if (now_ready == p->ready) {
        return;
    }
    p->ready = now_ready;
    FLO_DEBUG(now_ready ? "upstream ready" : "upstream not ready", "conns_up=%u", p->conns_up);
    if (p->cfg.on_ready) {
        p->cfg.on_ready(p->cfg.on_ready_arg, now_ready);
    }
}

static void slot_connect(struct pool_slot *s);

static void backoff_cb(uv_timer_t *t)
{
    struct pool_slot *s = t->data;
    s->pool->st.reconnects++;
    slot_connect(s);
}

/* Full-jitter exponential backoff in [min, min(max, min * 2^failures)]. */
static uint64_t backoff_delay(struct flo_pool *p, unsigned failures)
{
    uint64_t lo = p->cfg.backoff_min_ms, cap = lo;
    for (unsigned i = 0; i < failures && cap < p->cfg.backoff_max_ms; i++) {
        cap *= 2;
    }
    if (cap > p->cfg.backoff_max_ms) {
        cap = p->cfg.backoff_max_ms;
    }
    if (cap <= lo) {
        return lo;
    }
    /* xorshift64: per-pool state seeded from the clock, so sidecars that
     * lost the same upstream at once do not reconnect in lockstep. */
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    return lo + x % (cap - lo + 1);
}

/* An attempt failed (or an up connection died): schedule the next one. */
static void slot_retry(struct pool_slot *s, int err, bool was_up)
{
    struct flo_pool *p = s->pool;
    if (p->closing) {
        return;
    }
    p->st.conn_errors++;
    p->last_err = err;
    const struct pool_addr *a = &p->addrs[s->addr_idx];
    if (err == FLO_EAUTH) {
        /* Every connection retries with backoff; one line per refusal run
         * is enough, and it never names the key. */
        if (!p->auth_refused_logged) {
            p->auth_refused_logged = true;
            FLO_ERROR("upstream refused the API key; the sidecar stays not ready until it is "
                      "accepted (check --api-key)",
                      "addr=%s", a->text);
        }
        s->failures++;
        uv_timer_start(&s->backoff, backoff_cb, backoff_delay(p, s->failures - 1), 0);
        return;
    }
    if (was_up) {
        s->failures = 0;
        FLO_WARN("upstream connection lost", "addr=%s lane=%s err=\"%s\"", a->text,
                 s->lane == LANE_BLOCKING ? "blocking" : "normal", flo_strerror(err));
    } else {
        s->failures++;
        /* Only the first failure of a run is worth a warning; the rest of a
         * long outage would flood the log at backoff_max intervals. */
        if (s->failures == 1) {
            FLO_WARN("upstream connect failed", "addr=%s err=\"%s\"", a->text, flo_strerror(err));
        } else {
            FLO_DEBUG("upstream connect failed", "addr=%s err=\"%s\" attempt=%u", a->text,
                      flo_strerror(err), s->failures);
        }
        if (p->cfg.naddrs > 1) {
            s->addr_idx = (s->addr_idx + 1) % (unsigned)p->cfg.naddrs;
        }
    }
    uv_timer_start(&s->backoff, backoff_cb, backoff_delay(p, was_up ? 0 : s->failures - 1), 0);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pool_slot *s = req->data;
    struct flo_pool *p = s->pool;
    s->gai_active = false;
    if (p->closing) {
        if (res) {
            uv_freeaddrinfo(res);
        }
        close_done(p);
        return;
    }
    if (status < 0) {
        slot_retry(s, status, false);
        return;
    }
    /* Spread slots over the addresses a name resolves to, and move on to
     * the next one after each failed attempt ("localhost" may list ::1
     * first while the server listens on 127.0.0.1 only). */
    unsigned n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            n++;
        }
    }
    struct addrinfo *chosen = NULL;
    unsigned want = n ? (s->index + s->failures) % n : 0;
    for (struct addrinfo *ai = res; ai && !chosen; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            if (want-- == 0) {
                chosen = ai;
            }
        }
    }
    int rc = chosen ? flo_conn_connect(&s->conn, chosen->ai_addr) : UV_EAI_NONAME;
    uv_freeaddrinfo(res);
    if (rc < 0) {
        slot_retry(s, rc, false);
    }
}

static void slot_connect(struct pool_slot *s)
{
    struct flo_pool *p = s->pool;
    const struct pool_addr *a = &p->addrs[s->addr_idx];
    int rc;
    if (a->numeric) {
        rc = flo_conn_connect(&s->conn, (const struct sockaddr *)&a->sa);
    } else {
        /* Resolved on every attempt: a restarted upstream may have moved. */
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        s->gai.data = s;
        rc = uv_getaddrinfo(p->loop, &s->gai, gai_cb, a->host, a->port, &hints);
        if (rc == 0) {
            s->gai_active = true;
        }
    }
    if (rc < 0) {
        slot_retry(s, rc, false);
    }
}

static void conn_up_cb(flo_conn_t *c, int auth_status, void *arg)
{
    struct flo_pool *p = arg;
    struct pool_slot *s = slot_of(c);
    s->failures = 0;
    p->conns_up++;
    p->last_err = 0;
    p->auth_refused_logged = false;
    FLO_INFO("upstream connected", "addr=%s peer=%s lane=%s", p->addrs[s->addr_idx].text, c->peer,
             s->lane == LANE_BLOCKING ? "blocking" : "normal");
    if (auth_status == FLO_STATUS_INTERNAL && !p->auth_warned) {
        p->auth_warned = true;
        FLO_WARN("upstream does not implement AUTH; the API key was not used", "addr=%s",
                 p->addrs[s->addr_idx].text);
    }
    update_ready(p);
    drain_waiting(p);
}

static void conn_down_cb(flo_conn_t *c, int err, bool was_up, void *arg)
{
    struct flo_pool *p = arg;
    struct pool_slot *s = slot_of(c);
    if (was_up) {
        p->conns_up--;
        update_ready(p);
    }
    slot_retry(s, err, was_up);
}

static void conn_done_cb(flo_conn_t *c, struct flo_call *call, int err, uint8_t status,
                         flo_buf_t body, void *arg)
{
    struct flo_pool *p = arg;
    if (err == 0) {
        p->st.responses++;
        /* Responses decoded from one socket read share one clock read.
         * The pool outlives the callback (its memory goes only after every
         * handle has closed, on a later loop iteration). */
        p->cb_now_ns = flo_conn_read_now_ns(c);
        complete(p, call, 0, status, body);
        p->cb_now_ns = 0;
        if (p->wait_head) {
            drain_waiting(p);
        }
        return;
    }
    if (err == FLO_ECONNCLOSED && !p->closing && (call->flags & FLO_SEND_IDEMPOTENT) &&
        !call->retried && call->frame.len > 0 && call->cb) {
        /* Resend the same frame (same id: ids are pool-wide) once. */
        call->retried = true;
        flo_conn_t *other = pick(p, call->flags);
        if (other && flo_conn_send(other, call, NULL, false) == 0) {
            return;
        }
        if (!other && p->nwaiting < p->max_waiting) {
            wait_push(p, call);
            heap_rekey(p, call, wait_key(p, call));
            return;
        }
    }
    complete(p, call, err, 0, FLO_BUF_NULL);
}

static void conn_closed_cb(flo_conn_t *c, void *arg)
{
    (void)c;
    close_done(arg);
}

/* ---- deadlines ---- */

static void deadline_cb(uv_timer_t *t)
{
    struct flo_pool *p = t->data;
    p->timer_armed = false;
    uint64_t now = uv_now(p->loop);
    while (p->heap_len > 0 && p->heap[0]->heap_key <= now && !p->closing) {
        struct flo_call *call = p->heap[0];
        if (call->queued) {
            /* Never got a connection: the upstream is unavailable. */
            complete(p, call, FLO_EUNAVAIL, 0, FLO_BUF_NULL);
        } else {
            p->st.timeouts++;
            complete(p, call, FLO_ETIMEDOUT, 0, FLO_BUF_NULL);
        }
    }
    arm_timer(p);
}

/* ---- life cycle ---- */

static void free_pool(struct flo_pool *p)
{
    while (p->free_calls) {
        struct flo_call *call = p->free_calls;
        p->free_calls = call->next;
        flo_wbuf_free(&call->frame);
        free(call);
    }
    free(p->heap);
    free(p->slots);
    free(p->addrs);
    free(p->api_key);
    free(p);
}

static void close_done(struct flo_pool *p)
{
    if (--p->pending_closes > 0) {
        return;
    }
    void (*done)(void *) = p->done;
    void *done_arg = p->done_arg;
    free_pool(p);
    if (done) {
        done(done_arg);
    }
}

static void pool_handle_closed_cb(uv_handle_t *h)
{
    close_done(h->data);
}

int flo_pool_new(uv_loop_t *loop, const struct flo_pool_config *cfg, flo_pool_t **out)
{
    if (!loop || !cfg || !out || !cfg->addrs || cfg->naddrs == 0 || cfg->naddrs > MAX_ADDRS ||
        cfg->conns_per_addr == 0 ||
        cfg->conns_per_addr + cfg->longpoll_conns_per_addr > MAX_CONNS_PER_ADDR) {
        return FLO_EINVAL;
    }
    struct flo_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        return FLO_ENOMEM;
    }
    p->loop = loop;
    p->cfg = *cfg;
    p->cfg.addrs = NULL; /* the caller's strings are not kept */
    struct flo_pool_config def;
    flo_pool_config_defaults(&def);
    /* 0 means "the default" for every tunable. */
    if (!p->cfg.connect_timeout_ms) {
        p->cfg.connect_timeout_ms = def.connect_timeout_ms;
    }
    if (!p->cfg.request_timeout_ms) {
        p->cfg.request_timeout_ms = def.request_timeout_ms;
    }
    if (!p->cfg.backoff_min_ms) {
        p->cfg.backoff_min_ms = def.backoff_min_ms;
    }
    if (!p->cfg.backoff_max_ms) {
        p->cfg.backoff_max_ms = def.backoff_max_ms;
    }
    if (p->cfg.backoff_max_ms < p->cfg.backoff_min_ms) {
        p->cfg.backoff_max_ms = p->cfg.backoff_min_ms;
    }
    if (!p->cfg.max_inflight_per_conn) {
        p->cfg.max_inflight_per_conn = def.max_inflight_per_conn;
    }
    if (!p->cfg.max_frame) {
        p->cfg.max_frame = def.max_frame;
    }
    if (!p->cfg.max_request_frame) {
        p->cfg.max_request_frame = def.max_request_frame;
    }
    int rc = FLO_ENOMEM;
    p->addrs = calloc(cfg->naddrs, sizeof(*p->addrs));
    if (!p->addrs) {
        goto fail;
    }
    for (size_t i = 0; i < cfg->naddrs; i++) {
        if (parse_addr(cfg->addrs[i], &p->addrs[i]) < 0) {
            FLO_ERROR("bad upstream address (want host:port or [ipv6]:port)", "addr=\"%s\"",
                      cfg->addrs[i] ? cfg->addrs[i] : "(null)");
            rc = FLO_EINVAL;
            goto fail;
        }
    }
    if (cfg->api_key && cfg->api_key[0]) {
        p->api_key = strdup(cfg->api_key);
        if (!p->api_key) {
            goto fail;
        }
    }
    p->cfg.api_key = p->api_key;
    unsigned per_addr = cfg->conns_per_addr + cfg->longpoll_conns_per_addr;
    p->nslots = (unsigned)cfg->naddrs * per_addr;
    p->slots = calloc(p->nslots, sizeof(*p->slots));
    if (!p->slots) {
        goto fail;
    }
    p->max_waiting = (size_t)p->nslots * p->cfg.max_inflight_per_conn;
    p->next_id = 1; /* 0 is the server's id for framing-error replies */
    p->rng = (uv_hrtime() ^ ((uint64_t)(uintptr_t)p << 16)) | 1;

    struct flo_conn_config ccfg = {
        .connect_timeout_ms = p->cfg.connect_timeout_ms,
        .max_inflight = p->cfg.max_inflight_per_conn,
        .max_payload = p->cfg.max_frame > FLO_HEADER_SIZE ? p->cfg.max_frame - FLO_HEADER_SIZE
                                                          : p->cfg.max_frame,
        .api_key = p->api_key ? FLO_BUF_STR(p->api_key) : FLO_BUF_NULL,
        .next_id = &p->next_id,
    };
    struct flo_conn_hooks hooks = {
        .up_cb = conn_up_cb,
        .done_cb = conn_done_cb,
        .down_cb = conn_down_cb,
        .closed_cb = conn_closed_cb,
        .arg = p,
    };
    /* From here on nothing can fail: handle initialisers only fill structs. */
    uv_timer_init(loop, &p->deadline_timer);
    p->deadline_timer.data = p;
    for (unsigned i = 0; i < p->nslots; i++) {
        struct pool_slot *s = &p->slots[i];
        s->pool = p;
        s->index = i;
        s->addr_idx = i / per_addr;
        s->lane = (i % per_addr) < cfg->conns_per_addr ? LANE_NORMAL : LANE_BLOCKING;
        flo_conn_init(&s->conn, loop, &ccfg, &hooks);
        uv_timer_init(loop, &s->backoff);
        s->backoff.data = s;
    }
    for (unsigned i = 0; i < p->nslots; i++) {
        slot_connect(&p->slots[i]);
    }
    *out = p;
    return 0;
fail:
    free_pool(p);
    return rc;
}

void flo_pool_close(flo_pool_t *p, void (*done)(void *arg), void *arg)
{
    if (!p || p->closing) {
        return;
    }
    p->closing = true;
    p->ready = false;
    p->done = done;
    p->done_arg = arg;
    /* One pending close for this function itself, released at the end, so
     * nothing can free the pool while we are still walking it. */
    p->pending_closes = 1;
    while (p->wait_head) {
        complete(p, p->wait_head, FLO_ECLOSING, 0, FLO_BUF_NULL);
    }
    for (unsigned i = 0; i < p->nslots; i++) {
        struct pool_slot *s = &p->slots[i];
        uv_timer_stop(&s->backoff);
        p->pending_closes++;
        s->backoff.data = p;
        uv_close((uv_handle_t *)&s->backoff, pool_handle_closed_cb);
        if (s->gai_active) {
            p->pending_closes++; /* released by gai_cb (UV_ECANCELED or late) */
            uv_cancel((uv_req_t *)&s->gai);
        }
        p->pending_closes++;
        flo_conn_close(&s->conn); /* in-flight calls complete with FLO_ECLOSING */
    }
    /* Every live call was waiting or in flight; anything left is a bug, but
     * completing it still honours "exactly once". */
    while (p->heap_len > 0) {
        complete(p, p->heap[0], FLO_ECLOSING, 0, FLO_BUF_NULL);
    }
    p->conns_up = 0;
    uv_timer_stop(&p->deadline_timer);
    p->pending_closes++;
    uv_close((uv_handle_t *)&p->deadline_timer, pool_handle_closed_cb);
    close_done(p);
}

static int send_call(flo_pool_t *p, bool affine, uint32_t affinity, const struct flo_req *req,
                     uint32_t timeout_ms, unsigned flags, flo_call_cb cb, void *arg,
                     flo_call_t **out);

int flo_pool_send(flo_pool_t *p, const struct flo_req *req, uint32_t timeout_ms, unsigned flags,
                  flo_call_cb cb, void *arg, flo_call_t **out)
{
    return send_call(p, false, 0, req, timeout_ms, flags, cb, arg, out);
}

int flo_pool_send_affine(flo_pool_t *p, uint32_t affinity, const struct flo_req *req,
                         uint32_t timeout_ms, unsigned flags, flo_call_cb cb, void *arg,
                         flo_call_t **out)
{
    return send_call(p, true, affinity, req, timeout_ms, flags, cb, arg, out);
}

static int send_call(flo_pool_t *p, bool affine, uint32_t affinity, const struct flo_req *req,
                     uint32_t timeout_ms, unsigned flags, flo_call_cb cb, void *arg,
                     flo_call_t **out)
{
    if (!p || !req || !cb) {
        return FLO_EINVAL;
    }
    if (p->closing) {
        return FLO_ECLOSING;
    }
    if (req->ns.len > UINT16_MAX || req->key.len > UINT16_MAX || req->opts.len > UINT16_MAX ||
        req->value.len > UINT32_MAX) {
        return FLO_EINVAL;
    }
    /* Size check before anything is encoded: a real server never finishes
     * reading a frame over 256 KiB and the connection would stall. */
    size_t frame_len = (size_t)FLO_HEADER_SIZE + 2 + req->ns.len + 2 + req->key.len + 4 +
                       req->value.len + 2 + req->opts.len;
    if (frame_len > p->cfg.max_request_frame) {
        return FLO_ETOOBIG;
    }
    struct flo_call *call = heap_reserve(p) == 0 ? call_get(p) : NULL;
    if (!call) {
        return FLO_ENOMEM;
    }
    pool_call_of(call)->start_ns = flo_pool_now_ns(p);
    call->id = p->next_id++;
    call->cb = cb;
    call->arg = arg;
    call->flags = flags;
    call->affine = affine;
    call->affinity = affinity;
    call->deadline = uv_now(p->loop) + (timeout_ms ? timeout_ms : p->cfg.request_timeout_ms);
    call->heap_key = call->deadline;
    int rc;
    bool full;
    flo_conn_t *c = pick_for(p, call, &full);
    if (c) {
        rc = flo_conn_send(c, call, req, (flags & FLO_SEND_IDEMPOTENT) != 0);
    } else if (full || any_up(p) || p->nwaiting >= p->max_waiting) {
        rc = FLO_ELIMIT; /* every connection is full */
    } else {
        struct flo_req r = *req;
        r.request_id = call->id;
        rc = flo_req_encode(&call->frame, &r);
        if (rc == 0) {
            wait_push(p, call);
            call->heap_key = wait_key(p, call);
        }
    }
    if (rc < 0) {
        call_put(p, call);
        return rc;
    }
    heap_insert(p, call);
    p->live++;
    p->st.requests++;
    if (out) {
        *out = call;
    }
    return 0;
}

void flo_pool_cancel(flo_pool_t *p, flo_call_t *call)
{
    if (!p || !call) {
        return;
    }
    call->cb = NULL;
    call->arg = NULL;
    if (call->queued) {
        /* Not on the wire yet: drop it now rather than send it later. */
        complete(p, call, FLO_ECANCELED, 0, FLO_BUF_NULL);
    }
    /* In flight: the record goes when its response or deadline arrives. */
}

bool flo_pool_ready(const flo_pool_t *p)
{
    return p && p->ready;
}

int flo_pool_last_error(const flo_pool_t *p)
{
    return p ? p->last_err : 0;
}

uint64_t flo_pool_now_ns(const flo_pool_t *p)
{
    return p && p->cb_now_ns != 0 ? p->cb_now_ns : uv_hrtime();
}

void flo_pool_stats(const flo_pool_t *p, struct flo_pool_stats *out)
{
    *out = p->st;
    out->conns_total = p->nslots;
    out->conns_up = p->conns_up;
    out->inflight = p->live;
}
