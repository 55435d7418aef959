/*
 * XREAD and XREADGROUP over Flo stream reads and group reads
 * (docs/resp-commands.md, "Streams are Flo streams").
 *
 * One engine serves both: a round sends one read per stream at once (in
 * the command's namespace, on the client's connection) and waits for all
 * of them; the reply holds every stream that returned records. BLOCK makes
 * the reads long-polls on the pool's blocking lane, in rounds of at most
 * SLICE_ONE_MS (one stream) or SLICE_MANY_MS (several: a record on one
 * stream is answered at once while the other reads run out their slice, so
 * this bounds the added latency) until the deadline, then nil. Both
 * commands are barriers, like BRPOP: a blocked client runs nothing else,
 * and XREAD names its keys after STREAMS, where the per-key ordering does
 * not look.
 *
 * XREAD `$` (the stream's tail) is resolved once through stream info
 * before blocking, so a record appended between two rounds is not missed;
 * without BLOCK it never has anything to return. XREADGROUP reads new
 * entries (`>`): Flo hands each record to one consumer of the group and
 * puts it in the group's pending list, so every record a group read
 * returns is delivered (no COUNT cap is applied to what Flo handed out:
 * Flo returns whole appends). NOACK acks them before replying.
 *
 * XREADGROUP with an id instead of `>` returns the consumer's own pending
 * entries after that id (Redis' history read): the consumer's pending list
 * (at most 1000 entries), then one pipelined one-record read per entry, as
 * Flo has no read by id list. An entry whose record was trimmed is
 * [id, nil], as Redis answers for a deleted entry. A history read never
 * blocks and changes no delivery count (Redis ignores BLOCK then too).
 *
 * Every XREADGROUP notes its consumer with the session registry
 * (proto_sess_resp_use) at each round, so an idle consumer expires and a
 * consumer blocked in a long read does not.
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "proto_session.h"
#include "resp_internal.h"
#include "resp_stream.h"

#define XREAD_MAX_KEYS 64u   /* streams of one command (one upstream read each) */
#define SLICE_ONE_MS   5000u /* longest upstream block of a one-stream round */
#define SLICE_MANY_MS  250u  /* longest upstream block of a several-stream round */
#define ERR_NOT_INT    "ERR value is not an integer or out of range"
#define ERR_SYNTAX     "ERR syntax error"

enum xr_phase_e { XR_TAIL, XR_READ, XR_FETCH, XR_ACK };

/* One pending entry of a history read and the read of its record. */
struct xr_fetch {
    struct flo_stream_id id;
    struct flo_wbuf body; /* stream read from the id just before it, count 1 */
};

struct xr {
    bool group, noack, blocking;
    flo_buf_t gname, consumer; /* argv of p (lives as long as p) */
    size_t nkeys, key0;        /* keys are argv[key0 .. key0 + nkeys) */
    struct flo_stream_id start[XREAD_MAX_KEYS];
    bool tail[XREAD_MAX_KEYS]; /* XREAD `$` not yet resolved */
    /* XREADGROUP with an id: key k returns the consumer's pending entries
     * after start[k], fetched into fetch[hfirst[k] .. hfirst[k] + hn[k]). */
    bool hist[XREAD_MAX_KEYS];
    bool any_hist;
    size_t hfirst[XREAD_MAX_KEYS], hn[XREAD_MAX_KEYS];
    struct xr_fetch *fetch; /* owned, nfetch entries */
    size_t nfetch;
    bool nogroup; /* a history key's group does not exist */
    size_t nogroup_key;
    uint32_t count;
    uint64_t deadline; /* uv_now ms; 0 = BLOCK 0 (no deadline) */
    uv_loop_t *loop;
    enum xr_phase_e phase;
    unsigned expected, answered;
    struct flo_wbuf bodies[XREAD_MAX_KEYS]; /* this round's read replies */
    struct flo_wbuf value, opts;            /* scratch (copied on send) */
    struct proto_err err;
    bool failed;
};

static void xr_free(void *state)
{
    struct xr *x = state;
    if (!x) {
        return;
    }
    for (size_t k = 0; k < x->nkeys; k++) {
        flo_wbuf_free(&x->bodies[k]);
    }
    for (size_t i = 0; i < x->nfetch; i++) {
        flo_wbuf_free(&x->fetch[i].body);
    }
    free(x->fetch);
    flo_wbuf_free(&x->value);
    flo_wbuf_free(&x->opts);
    free(x);
}

static void reply_err_done(struct resp_pending *p, const char *msg)
{
    resp_reply_error(&p->reply, msg);
    resp__pending_done(p);
}

static flo_buf_t key_of(const struct resp_pending *p, const struct xr *x, size_t k)
{
    return p->args.argv[x->key0 + k];
}

/* Records a key's reply may contribute: group reads return all. */
static uint32_t reply_max(const struct xr *x)
{
    return x->group ? UINT32_MAX : x->count;
}

static void xr_fail_now(struct resp_pending *p, int err)
{
    struct xr *x = p->state;
    if (!x->failed) {
        x->failed = true;
        proto_err_from_code(&x->err, err);
    }
}

static void xr_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body);

/* After a phase's sends: if some failed synchronously they count as
 * answered; finish when nothing is in flight. */
static void xr_sent(struct resp_pending *p, unsigned sent);

/* Key k's history entries: [id, fields] from each entry's read, or
 * [id, nil] when its record is gone (trimmed), as Redis answers. */
static void xr_reply_hist(struct resp_pending *p, size_t k)
{
    struct xr *x = p->state;
    resp_reply_array(&p->reply, x->hn[k]);
    for (size_t i = x->hfirst[k]; i < x->hfirst[k] + x->hn[k]; i++) {
        const struct xr_fetch *f = &x->fetch[i];
        struct flo_stream_rec_iter it;
        struct flo_stream_record r;
        uint32_t count;
        bool found = false;
        /* The read starts just before the id: the entry's record is the
         * first one if it still exists (checked to decode in xr_step). */
        if (f->body.len && flo_stream_records_begin(flo_wbuf_view(&f->body), &it, &count) == 0 &&
            flo_stream_records_next(&it, &r) == 1 && flo_stream_id_cmp(r.id, f->id) == 0) {
            found = true;
        }
        if (found) {
            resp__x_reply_entry(p, &r);
            continue;
        }
        char id[FLO_STREAM_ID_TEXT_MAX];
        flo_stream_id_format(f->id, id, sizeof(id));
        resp_reply_array(&p->reply, 2);
        resp_reply_bulk_str(&p->reply, id);
        resp_reply_null_array(&p->reply, p->proto);
    }
}

static void xr_reply(struct resp_pending *p)
{
    struct xr *x = p->state;
    size_t nonempty = 0;
    for (size_t k = 0; k < x->nkeys; k++) {
        size_t n = 0;
        if (x->hist[k]) {
            nonempty++; /* a history key is always answered, even empty */
            continue;
        }
        if (x->bodies[k].len &&
            resp__x_records_count(flo_wbuf_view(&x->bodies[k]), reply_max(x), &n) < 0) {
            resp__reply_upstream_err(p, FLO_EMALFORMED, 0, FLO_BUF_NULL);
            resp__pending_done(p);
            return;
        }
        nonempty += n > 0;
    }
    if (nonempty == 0) {
        resp_reply_null_array(&p->reply, p->proto);
        resp__pending_done(p);
        return;
    }
    /* RESP2: [[key, entries], ...]; RESP3: a map key -> entries (Redis 7). */
    if (p->proto == RESP_PROTO_3) {
        resp_reply_map(&p->reply, p->proto, nonempty);
    } else {
        resp_reply_array(&p->reply, nonempty);
    }
    for (size_t k = 0; k < x->nkeys; k++) {
        flo_buf_t body = flo_wbuf_view(&x->bodies[k]);
        size_t n = 0;
        if (!x->hist[k] && body.len) {
            resp__x_records_count(body, reply_max(x), &n);
        }
        if (n == 0 && !x->hist[k]) {
            continue;
        }
        if (p->proto != RESP_PROTO_3) {
            resp_reply_array(&p->reply, 2);
        }
        flo_buf_t key = key_of(p, x, k);
        resp_reply_bulk(&p->reply, key.ptr, key.len);
        if (x->hist[k]) {
            xr_reply_hist(p, k);
        } else {
            resp__x_reply_records(p, body, reply_max(x));
        }
    }
    resp__pending_done(p);
}

/* Enter a phase: nothing of it sent or answered yet. */
static struct xr *xr_phase(struct resp_pending *p, enum xr_phase_e phase)
{
    struct xr *x = p->state;
    x->phase = phase;
    x->expected = x->answered = 0;
    return x;
}

/* One upstream call of the current phase, counted in x->expected unless it
 * could not be sent. 0 or a negative code. */
static int xr_send(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key,
                   flo_buf_t value, flo_buf_t opts, unsigned flags, uint32_t timeout_ms)
{
    struct xr *x = p->state;
    x->expected++;
    int err = resp__send_ex(p, idx, op, key, value, opts, flags, timeout_ms);
    if (err < 0) {
        x->expected--;
    }
    return err;
}

/* NOACK: ack every record handed out, one ack per stream. */
static void xr_ack(struct resp_pending *p)
{
    struct xr *x = xr_phase(p, XR_ACK);
    unsigned sent = 0;
    for (size_t k = 0; k < x->nkeys && !x->failed; k++) {
        struct flo_stream_rec_iter it;
        struct flo_stream_record r;
        uint32_t count;
        if (x->hist[k] || x->bodies[k].len == 0 ||
            flo_stream_records_begin(flo_wbuf_view(&x->bodies[k]), &it, &count) < 0 || count == 0) {
            continue;
        }
        /* Ids go in batches of at most FLO_GROUP_MAX_IDS (a group read
         * returns at most 1000 records but whole appends may pass it). */
        struct flo_stream_id ids[FLO_GROUP_MAX_IDS];
        size_t n = 0;
        int err = 0;
        while (flo_stream_records_next(&it, &r) == 1 && n < FLO_GROUP_MAX_IDS) {
            ids[n++] = r.id;
        }
        flo_wbuf_reset(&x->value);
        err = flo_group_ids_value(&x->value, x->gname, x->consumer, ids, n);
        if (err == 0) {
            err = xr_send(p, (unsigned)k, FLO_OP_GROUP_ACK, key_of(p, x, k),
                          flo_wbuf_view(&x->value), FLO_BUF_NULL, 0, 0);
        }
        if (err < 0) {
            xr_fail_now(p, err);
            break;
        }
        sent++;
    }
    xr_sent(p, sent);
}

/* XREADGROUP: note the consumer's use of each stream's group with the
 * session registry (its idle clock restarts; registered on first use). A
 * full registry only means the sidecar will not expire this consumer. */
static void xr_use_consumer(struct resp_pending *p)
{
    struct xr *x = p->state;
    proto_sess_reg_t *reg = p->c->srv->ctx->sessions;
    if (!x->group || !reg) {
        return;
    }
    for (size_t k = 0; k < x->nkeys; k++) {
        (void)proto_sess_resp_use(reg, FLO_BUF(p->ns, p->ns_len), key_of(p, x, k), x->gname,
                                  x->consumer);
    }
}

/* One round of reads (and, for history keys, pending lists). */
static void xr_round(struct resp_pending *p)
{
    struct xr *x = xr_phase(p, XR_READ);
    xr_use_consumer(p);
    uint32_t block = 0;
    if (x->blocking && !x->any_hist) {
        uint32_t slice = x->nkeys == 1 ? SLICE_ONE_MS : SLICE_MANY_MS;
        block = slice;
        if (x->deadline) {
            uint64_t now = uv_now(x->loop);
            uint64_t left = x->deadline > now ? x->deadline - now : 1;
            block = left < slice ? (uint32_t)left : slice;
        }
    }
    unsigned sent = 0;
    for (size_t k = 0; k < x->nkeys; k++) {
        flo_wbuf_reset(&x->bodies[k]);
        if (x->tail[k]) {
            continue; /* XREAD `$` without BLOCK: nothing newer */
        }
        struct flo_stream_read_args ra = {.count = x->count, .block_ms = block};
        if (!x->group) {
            ra.has_start = true;
            ra.start = x->start[k]; /* exclusive, as XREAD's ids */
        }
        flo_wbuf_reset(&x->opts);
        flo_wbuf_reset(&x->value);
        int err = x->hist[k] ? 0 : flo_stream_read_opts(&x->opts, &ra);
        if (err == 0 && x->group) {
            err = flo_group_member_value(&x->value, x->gname, x->consumer);
        }
        if (err == 0 && x->hist[k]) {
            /* The consumer's own pending entries (filter by consumer). */
            err = xr_send(p, (unsigned)k, FLO_OP_GROUP_PENDING, key_of(p, x, k),
                          flo_wbuf_view(&x->value), FLO_BUF_NULL, FLO_SEND_IDEMPOTENT, 0);
        } else if (err == 0) {
            err = xr_send(p, (unsigned)k, x->group ? FLO_OP_GROUP_READ : FLO_OP_STREAM_READ,
                          key_of(p, x, k), x->group ? flo_wbuf_view(&x->value) : FLO_BUF_NULL,
                          flo_wbuf_view(&x->opts),
                          block ? FLO_SEND_BLOCKING : (x->group ? 0 : FLO_SEND_IDEMPOTENT),
                          proto_timeout_for_block(block));
        }
        if (err < 0) {
            xr_fail_now(p, err);
            break;
        }
        sent++;
    }
    xr_sent(p, sent);
}

/* Make room for n upstream calls (between phases: nothing in flight). */
static int xr_calls_grow(struct resp_pending *p, size_t n)
{
    if (n <= p->ncalls) {
        return 0;
    }
    if (p->calls != &p->call1) {
        free(p->calls);
    }
    p->calls = NULL;
    p->ncalls = 0;
    return resp__calls_alloc(p, (unsigned)n);
}

/* History keys: pick the pending entries after each key's id (at most
 * COUNT per key), then read each entry's record, all pipelined. */
static void xr_fetch_start(struct resp_pending *p)
{
    struct xr *x = xr_phase(p, XR_FETCH);
    size_t total = 0;
    for (size_t k = 0; k < x->nkeys; k++) {
        if (!x->hist[k]) {
            continue;
        }
        struct flo_group_pending_iter it;
        struct flo_group_pending_entry e;
        uint32_t n;
        int err = flo_group_pending_begin(flo_wbuf_view(&x->bodies[k]), &it, &n);
        x->hn[k] = 0;
        while (err == 0 && x->hn[k] < x->count && (err = flo_group_pending_next(&it, &e)) == 1) {
            err = 0;
            x->hn[k] += flo_stream_id_cmp(e.id, x->start[k]) > 0;
        }
        if (err < 0) {
            xr_fail_now(p, err);
            xr_sent(p, 0);
            return;
        }
        total += x->hn[k];
    }
    x->fetch = total ? calloc(total, sizeof(*x->fetch)) : NULL;
    if ((total && !x->fetch) || xr_calls_grow(p, total) < 0) {
        xr_fail_now(p, FLO_ENOMEM);
        xr_sent(p, 0);
        return;
    }
    /* Fill in key order (hfirst / hn index the entries of each key). */
    for (size_t k = 0; k < x->nkeys; k++) {
        if (!x->hist[k]) {
            continue;
        }
        struct flo_group_pending_iter it;
        struct flo_group_pending_entry e;
        uint32_t n;
        size_t want = x->hn[k];
        x->hfirst[k] = x->nfetch;
        flo_group_pending_begin(flo_wbuf_view(&x->bodies[k]), &it, &n);
        while (x->nfetch - x->hfirst[k] < want && flo_group_pending_next(&it, &e) == 1) {
            if (flo_stream_id_cmp(e.id, x->start[k]) > 0) {
                x->fetch[x->nfetch].id = e.id;
                flo_wbuf_init(&x->fetch[x->nfetch].body);
                x->nfetch++;
            }
        }
    }
    unsigned sent = 0;
    for (size_t k = 0; k < x->nkeys && !x->failed; k++) {
        for (size_t i = x->hfirst[k]; x->hist[k] && i < x->hfirst[k] + x->hn[k]; i++) {
            struct flo_stream_read_args ra = {.count = 1};
            ra.has_start = resp__x_id_prev(x->fetch[i].id, &ra.start);
            flo_wbuf_reset(&x->opts);
            int err = flo_stream_read_opts(&x->opts, &ra);
            if (err == 0) {
                err = xr_send(p, (unsigned)i, FLO_OP_STREAM_READ, key_of(p, x, k), FLO_BUF_NULL,
                              flo_wbuf_view(&x->opts), FLO_SEND_IDEMPOTENT, 0);
            }
            if (err < 0) {
                xr_fail_now(p, err);
                break;
            }
            sent++;
        }
    }
    xr_sent(p, sent);
}

/* Resolve XREAD `$` keys to the stream's last id (BLOCK only). */
static void xr_tail(struct resp_pending *p)
{
    struct xr *x = xr_phase(p, XR_TAIL);
    unsigned sent = 0;
    for (size_t k = 0; k < x->nkeys; k++) {
        if (!x->tail[k]) {
            continue;
        }
        int err = xr_send(p, (unsigned)k, FLO_OP_STREAM_INFO, key_of(p, x, k), FLO_BUF_NULL,
                          FLO_BUF_NULL, FLO_SEND_IDEMPOTENT, 0);
        if (err < 0) {
            xr_fail_now(p, err);
            break;
        }
        sent++;
    }
    xr_sent(p, sent);
}

/* Did a `>` key's group read (or an XREAD) return records? */
static bool xr_any_new(const struct xr *x)
{
    for (size_t k = 0; k < x->nkeys; k++) {
        struct flo_stream_rec_iter it;
        uint32_t count = 0;
        if (!x->hist[k] && x->bodies[k].len &&
            flo_stream_records_begin(flo_wbuf_view(&x->bodies[k]), &it, &count) == 0 && count) {
            return true;
        }
    }
    return false;
}

/* Every request of the phase has answered: go on. */
static void xr_phase_done(struct resp_pending *p)
{
    struct xr *x = p->state;
    if (x->failed) {
        if (x->nogroup) {
            flo_buf_t k = key_of(p, x, x->nogroup_key);
            resp_reply_errorf(&p->reply,
                              "NOGROUP No such key '%.*s' or consumer group '%.*s' in XREADGROUP "
                              "with GROUP option",
                              (int)(k.len > 128 ? 128 : k.len), (const char *)k.ptr,
                              (int)(x->gname.len > 128 ? 128 : x->gname.len),
                              (const char *)x->gname.ptr);
        } else {
            resp__reply_proto_err(p, &x->err);
        }
        resp__pending_done(p);
        return;
    }
    if (x->phase == XR_TAIL) {
        xr_round(p);
        return;
    }
    if (x->phase == XR_ACK) {
        xr_reply(p);
        return;
    }
    if (x->phase == XR_READ && x->any_hist) {
        xr_fetch_start(p);
        return;
    }
    bool any = xr_any_new(x);
    if (x->phase == XR_FETCH || any) {
        xr_use_consumer(p); /* the read may have blocked: restart the idle clock */
        if (x->group && x->noack && any) {
            xr_ack(p);
        } else {
            xr_reply(p);
        }
        return;
    }
    if (x->blocking && (x->deadline == 0 || uv_now(x->loop) < x->deadline)) {
        xr_round(p);
        return;
    }
    xr_use_consumer(p);
    resp_reply_null_array(&p->reply, p->proto);
    resp__pending_done(p);
}

static void xr_sent(struct resp_pending *p, unsigned sent)
{
    struct xr *x = p->state;
    (void)sent;
    if (x->answered == x->expected) {
        xr_phase_done(p); /* nothing in flight (nothing sent, or all failed) */
    }
}

static void xr_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    struct xr *x = p->state;
    x->answered++;
    if (!x->failed) {
        if (!err && status == FLO_STATUS_NOT_FOUND && x->phase == XR_FETCH) {
            /* The stream is gone: the entry's record too (nil). */
        } else if (!err && status == FLO_STATUS_NOT_FOUND && x->phase == XR_READ && x->hist[idx]) {
            x->failed = true; /* pending of a missing group */
            x->nogroup = true;
            x->nogroup_key = idx;
        } else if (err || status != FLO_STATUS_OK) {
            x->failed = true;
            proto_err_from_reply(&x->err, err, status, body);
        } else if (x->phase == XR_FETCH) {
            size_t n;
            struct xr_fetch *f = &x->fetch[idx];
            if (flo_wbuf_append(&f->body, body.ptr, body.len) < 0) {
                xr_fail_now(p, FLO_ENOMEM);
            } else if (body.len && (err = resp__x_records_count(body, 1, &n)) < 0) {
                xr_fail_now(p, err);
            }
        } else if (x->phase == XR_TAIL) {
            struct flo_stream_info si;
            if ((err = flo_stream_dec_info(body, &si)) < 0) {
                xr_fail_now(p, err);
            } else {
                x->start[idx] = si.last; /* 0-0 for an empty stream: from the start */
                x->tail[idx] = false;
            }
        } else if (x->phase == XR_READ) {
            if (flo_wbuf_append(&x->bodies[idx], body.ptr, body.len) < 0) {
                xr_fail_now(p, FLO_ENOMEM);
            } else if (x->hist[idx]) {
                struct flo_group_pending_iter it;
                uint32_t n;
                if ((err = flo_group_pending_begin(body, &it, &n)) < 0) {
                    xr_fail_now(p, err);
                }
            } else if (body.len) {
                size_t n;
                if ((err = resp__x_records_count(body, reply_max(x), &n)) < 0) {
                    xr_fail_now(p, err);
                }
            }
        }
    }
    if (x->answered == x->expected) {
        xr_phase_done(p);
    }
}

/* Name of a group or consumer: non-empty, no NUL (Flo's rules). */
static bool name_ok(flo_buf_t n)
{
    return n.len > 0 && n.len <= UINT16_MAX && !memchr(n.ptr, 0, n.len);
}

/* Shared parser: [GROUP g c] [COUNT n] [BLOCK ms] [NOACK] STREAMS k.. id.. */
static void xread_generic(struct resp_pending *p, bool group)
{
    const flo_buf_t *argv = p->args.argv;
    size_t argc = p->args.argc;
    const char *name = group ? "xreadgroup" : "xread";
    long long count = 0, block = -1;
    bool noack = false;
    flo_buf_t gname = FLO_BUF_NULL, consumer = FLO_BUF_NULL;
    size_t streams = 0;
    for (size_t i = 1; i < argc && !streams; i++) {
        bool more = i + 1 < argc;
        if (resp__arg_is(argv[i], "count") && more) {
            if (!resp__arg_ll(argv[++i], &count)) {
                reply_err_done(p, ERR_NOT_INT);
                return;
            }
        } else if (resp__arg_is(argv[i], "block") && more) {
            if (!resp__arg_ll(argv[++i], &block)) {
                reply_err_done(p, "ERR timeout is not an integer or out of range");
                return;
            }
            if (block < 0) {
                reply_err_done(p, "ERR timeout is negative");
                return;
            }
        } else if (resp__arg_is(argv[i], "streams")) {
            streams = i + 1;
        } else if (group && resp__arg_is(argv[i], "group") && i + 2 < argc) {
            gname = argv[i + 1];
            consumer = argv[i + 2];
            i += 2;
        } else if (group && resp__arg_is(argv[i], "noack")) {
            noack = true;
        } else {
            reply_err_done(p, ERR_SYNTAX);
            return;
        }
    }
    if (streams == 0 || streams >= argc || (argc - streams) % 2 != 0) {
        if (streams == 0) {
            reply_err_done(p, ERR_SYNTAX);
        } else {
            resp_reply_errorf(&p->reply,
                              "ERR Unbalanced '%s' list of streams: for each stream key an ID "
                              "or '%s' must be specified.",
                              name, group ? ">" : "$");
            resp__pending_done(p);
        }
        return;
    }
    if (group && !gname.ptr) {
        reply_err_done(p, "ERR Missing GROUP option for XREADGROUP");
        return;
    }
    if (group && (!name_ok(gname) || !name_ok(consumer))) {
        reply_err_done(p, "ERR flo-sidecar: group and consumer names must be 1 to 65535 bytes "
                          "without NUL");
        return;
    }
    size_t nkeys = (argc - streams) / 2;
    if (nkeys > XREAD_MAX_KEYS) {
        resp_reply_errorf(&p->reply, "ERR flo-sidecar: %s reads at most %u streams at once", name,
                          XREAD_MAX_KEYS);
        resp__pending_done(p);
        return;
    }
    struct xr *x = calloc(1, sizeof(*x));
    if (!x || resp__calls_alloc(p, (unsigned)nkeys) < 0) {
        free(x);
        resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        resp__pending_done(p);
        return;
    }
    for (size_t k = 0; k < nkeys; k++) {
        flo_wbuf_init(&x->bodies[k]);
    }
    flo_wbuf_init(&x->value);
    flo_wbuf_init(&x->opts);
    x->nkeys = nkeys;
    p->state = x;
    p->state_free = xr_free;
    x->group = group;
    x->noack = noack;
    x->gname = gname;
    x->consumer = consumer;
    x->key0 = streams;
    x->loop = p->c->srv->ctx->loop;
    x->count = count <= 0 ? FLO_STREAM_MAX_COUNT
                          : (count > FLO_STREAM_MAX_COUNT ? FLO_STREAM_MAX_COUNT : (uint32_t)count);
    x->blocking = block >= 0;
    x->deadline = block > 0 ? uv_now(x->loop) + (uint64_t)block : 0;
    bool all_tail = true;
    for (size_t k = 0; k < nkeys; k++) {
        flo_buf_t a = argv[streams + nkeys + k];
        if (group) {
            if (!(a.len == 1 && a.ptr[0] == '>')) {
                /* An id: the consumer's pending entries after it. */
                if (a.len == 1 && a.ptr[0] == '$') {
                    reply_err_done(p, "ERR The $ ID is meaningless in the context of XREADGROUP: "
                                      "you want to read the history of this consumer by "
                                      "specifying a proper ID, or use the > ID to get new "
                                      "messages. The $ ID would just return an empty result set.");
                    return;
                }
                if (flo_stream_id_parse(a, &x->start[k]) < 0) {
                    reply_err_done(p, RESP_X_ERR_INVALID_ID);
                    return;
                }
                x->hist[k] = true;
                x->any_hist = true;
            }
            all_tail = false;
        } else if (a.len == 1 && a.ptr[0] == '$') {
            x->tail[k] = true;
        } else if (flo_stream_id_parse(a, &x->start[k]) < 0) {
            reply_err_done(p, RESP_X_ERR_INVALID_ID);
            return;
        } else {
            all_tail = false;
        }
        if (!resp__key_ok(p, key_of(p, x, k))) {
            resp__pending_done(p);
            return;
        }
    }
    p->step = xr_step;
    if (x->blocking && !group) {
        xr_tail(p);
    } else if (all_tail) {
        /* Without BLOCK, "$" never has anything newer to return. */
        resp_reply_null_array(&p->reply, p->proto);
        resp__pending_done(p);
    } else {
        xr_round(p);
    }
}

static void cmd_xread(struct resp_pending *p)
{
    xread_generic(p, false);
}

static void cmd_xreadgroup(struct resp_pending *p)
{
    xread_generic(p, true);
}

const struct resp_cmd resp__xread_cmds[] = {
    {"xread", -4, RESP_CMD_READONLY | RESP_CMD_BARRIER, 0, 0, 0, "stream",
     "Returns entries newer than the given ids from Flo streams; BLOCK waits for them.", cmd_xread},
    {"xreadgroup", -7, RESP_CMD_WRITE | RESP_CMD_BARRIER, 0, 0, 0, "stream",
     "Reads new entries of Flo streams as a consumer of a group (they enter its pending list).",
     cmd_xreadgroup},
};
const size_t resp__xread_ncmds = sizeof(resp__xread_cmds) / sizeof(resp__xread_cmds[0]);
