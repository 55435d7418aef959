/*
 * flo-dev's stream op handlers (0x130-0x140): decode a request's stream
 * name, value and TLV options, run it on the stream engine (dev_stream.c)
 * and answer with the layouts of shared/flo-protocol-ops.md §3 as the
 * newest server (@3269efe2) does.
 *
 * Blocking reads. A stream_read or stream_group_read (dev_group_ops.c)
 * with block_ms that finds nothing parks in the waiter registry
 * (dev_wait.c) under the stream's identity, with its resolved arguments
 * (a tail start becomes the last id at request time) in the waiter's ext
 * block. Every successful append offers itself to the stream's waiters in
 * arrival order: each re-runs its read and is answered if it now finds
 * records (several group readers of one group: the first takes the new
 * records, the others keep waiting). At the deadline a waiter gets an empty
 * list `00 00 00 00`; a full waiter pool answers at once with a 0-byte
 * body, as the server. A disconnecting client's waiters are freed by the
 * registry (ext included).
 *
 * Time. One timer per server (DEV_STREAM_SWEEP_MS) runs the consumer-group
 * sweeper and retention by age; blocked reads use the registry's timer.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_group.h"
#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "flo/flo_ops.h"

#define WAIT_TAG_STREAM 'S'           /* waiter key family tag */
#define MAX_LIST_BODY   (256u * 1024) /* bound of one stream_list reply */
#define LIST_TRAILER    3             /* [has_more u8][cursor_len u16] */
#define NS_OF(r)        ((r)->env.ns)

static const char oom_msg[] = "internal error: out of memory";

/* ---- clock and lifetime ---- */

static uint64_t wall_ms(void *ud)
{
    (void)ud;
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0) {
        return 0;
    }
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static uint64_t mono_ms(void *ud)
{
    struct dev_server *srv = ud;
    return uv_now(srv->loop);
}

int dev__stream_new_engine(struct dev_server *srv)
{
    struct dev_stream_clock clk = {.wall_ms = wall_ms, .mono_ms = mono_ms, .ud = srv};
    return dev_streams_new(&clk, &srv->streams);
}

static void sweep_cb(uv_timer_t *t)
{
    struct dev_server *srv = t->data;
    size_t dropped = dev_streams_sweep(srv->streams);
    if (dropped > 0) {
        FLO_DEBUG("pending entries dropped past max_deliver", "count=%zu", dropped);
    }
}

void dev__stream_init(struct dev_server *srv)
{
    uv_timer_init(srv->loop, &srv->stream_timer); /* cannot fail for a timer */
    srv->stream_timer.data = srv;
    srv->handles_open++;
    uv_timer_start(&srv->stream_timer, sweep_cb, DEV_STREAM_SWEEP_MS, DEV_STREAM_SWEEP_MS);
}

static void timer_closed_cb(uv_handle_t *h)
{
    dev__server_handle_closed(h->data);
}

void dev__stream_close(struct dev_server *srv)
{
    uv_timer_stop(&srv->stream_timer);
    uv_close((uv_handle_t *)&srv->stream_timer, timer_closed_cb);
}

/* ---- shared helpers ---- */

bool dev__stream_check_name(struct dev_conn *c, const struct dev_req *r)
{
    uint8_t key[DEV_STREAM_MAX_NAME];
    size_t klen;
    const char *msg;
    uint8_t st = dev_stream_make_key(NS_OF(r), r->env.key, key, &klen, NULL, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return false;
    }
    return true;
}

void dev__stream_reply_records(struct dev_conn *c, uint64_t id,
                               const struct flo_stream_record *recs, size_t n,
                               const struct flo_stream_id *cursor)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    size_t pos;
    int rc = flo_ops_count_reserve(&b, &pos);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo_stream_record_put(&b, &recs[i]);
    }
    if (rc == 0 && cursor != NULL) {
        rc = flo_group_claim_cursor_put(&b, *cursor);
    }
    if (rc != 0) {
        dev__reply_text(c, id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        flo_ops_count_patch(&b, pos, (uint32_t)n);
        dev__reply(c, id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

static void reply_empty_list(struct dev_conn *c, uint64_t id)
{
    static const uint8_t zero[4];
    dev__reply(c, id, FLO_STATUS_OK, FLO_BUF(zero, sizeof zero));
}

static struct flo_stream_record *out_alloc(struct dev_conn *c, uint64_t id)
{
    struct flo_stream_record *out = malloc(DEV_STREAM_OUT_MAX * sizeof *out);
    if (out == NULL) {
        dev__reply_text(c, id, FLO_STATUS_INTERNAL, oom_msg);
    }
    return out;
}

/* ---- blocked reads ---- */

/* A parked read: everything needed to run it again, copied out of the
 * request (the connection's read buffer is reused). */
struct read_wait {
    bool group;                       /* group read (else stream read) */
    struct dev_stream_read_args args; /* stream read: resolved (no tail, no key) */
    uint32_t count;                   /* group read budget */
    size_t ns_len, name_len;          /* data: namespace, stream name */
    size_t group_len, consumer_len;   /* data (group read): group, consumer */
    uint8_t data[];                   /* the names, back to back */
};

static flo_buf_t rw_part(const struct read_wait *x, size_t off, size_t len)
{
    return FLO_BUF(x->data + off, len);
}

static bool wake_fn(struct dev_waiter *w, void *ud)
{
    struct dev_server *srv = ud;
    struct read_wait *x = w->ext;
    struct flo_stream_record *out = malloc(DEV_STREAM_OUT_MAX * sizeof *out);
    if (out == NULL) {
        return false; /* memory ran out: keep waiting (the deadline still answers) */
    }
    flo_buf_t ns = rw_part(x, 0, x->ns_len);
    flo_buf_t name = rw_part(x, x->ns_len, x->name_len);
    size_t n = 0;
    const char *msg = NULL;
    uint8_t st;
    if (x->group) {
        flo_buf_t g = rw_part(x, x->ns_len + x->name_len, x->group_len);
        flo_buf_t cons = rw_part(x, x->ns_len + x->name_len + x->group_len, x->consumer_len);
        st = dev_group_read(srv->streams, ns, name, g, cons, x->count, out, &n, &msg);
    } else {
        st = dev_stream_read(srv->streams, ns, name, &x->args, out, &n, &msg);
    }
    bool answered = true;
    if (st != FLO_STATUS_OK) {
        dev__reply_text(w->conn, w->request_id, st, msg);
    } else if (n > 0) {
        dev__stream_reply_records(w->conn, w->request_id, out, n, NULL);
    } else {
        answered = false;
    }
    free(out);
    return answered;
}

static void read_timeout_cb(struct dev_waiter *w)
{
    reply_empty_list(w->conn, w->request_id);
}

/* Wake the readers parked on (ns, name) after an append. */
static void wake_stream(struct dev_server *srv, flo_buf_t ns, flo_buf_t name)
{
    if (dev__wait_count(srv) == 0) {
        return;
    }
    uint8_t key[1 + DEV_STREAM_MAX_NAME];
    size_t klen;
    const char *msg;
    key[0] = WAIT_TAG_STREAM;
    if (dev_stream_make_key(ns, name, key + 1, &klen, NULL, &msg) != FLO_STATUS_OK) {
        return;
    }
    dev__wait_wake(srv, FLO_BUF(key, klen + 1), wake_fn, srv);
}

/* Park x (owned: freed here on failure) for request r; false if it could
 * not be parked (the caller answers). */
static bool park(struct dev_conn *c, const struct dev_req *r, struct read_wait *x,
                 uint32_t block_ms)
{
    uint8_t key[1 + DEV_STREAM_MAX_NAME];
    size_t klen;
    const char *msg;
    key[0] = WAIT_TAG_STREAM;
    if (dev_stream_make_key(NS_OF(r), r->env.key, key + 1, &klen, NULL, &msg) != FLO_STATUS_OK) {
        free(x);
        return false;
    }
    struct dev_waiter *w =
        dev__wait_add(c, FLO_BUF(key, klen + 1), r->id, block_ms, read_timeout_cb);
    if (w == NULL) {
        free(x);
        return false;
    }
    w->ext = x;
    return true;
}

static struct read_wait *rw_new(const struct dev_req *r, size_t extra)
{
    size_t ns_len = r->env.ns.len, name_len = r->env.key.len;
    struct read_wait *x = calloc(1, sizeof *x + ns_len + name_len + extra);
    if (x == NULL) {
        return NULL;
    }
    x->ns_len = ns_len;
    x->name_len = name_len;
    if (ns_len > 0) {
        memcpy(x->data, r->env.ns.ptr, ns_len);
    }
    memcpy(x->data + ns_len, r->env.key.ptr, name_len);
    return x;
}

void dev__stream_park_group_read(struct dev_conn *c, const struct dev_req *r, flo_buf_t group,
                                 flo_buf_t consumer, uint32_t count, uint32_t block_ms)
{
    struct read_wait *x = rw_new(r, group.len + consumer.len);
    if (x != NULL) {
        x->group = true;
        x->count = count;
        x->group_len = group.len;
        x->consumer_len = consumer.len;
        memcpy(x->data + x->ns_len + x->name_len, group.ptr, group.len);
        memcpy(x->data + x->ns_len + x->name_len + group.len, consumer.ptr, consumer.len);
    }
    if (x == NULL || !park(c, r, x, block_ms)) {
        /* Waiter pool full (or no memory): the server answers a 0-byte body. */
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
    }
}

/* ---- append, read ---- */

static void op_append(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    uint32_t partition = 0;
    bool has_partition = flo_opt_get_u32(r->env.opts, FLO_OPT_PARTITION, &partition);
    flo_buf_t pkey = FLO_BUF_NULL;
    if (!flo_opt_find(r->env.opts, FLO_OPT_PARTITION_KEY, &pkey)) {
        pkey = FLO_BUF_NULL;
    }
    struct flo_stream_id first;
    const char *msg;
    struct dev_server *srv = c->srv;
    uint8_t st = dev_stream_append(srv->streams, NS_OF(r), r->env.key, r->env.value, has_partition,
                                   partition, pkey, &first, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    uint8_t body[16];
    flo_st64(body, first.seq); /* sequence first, then the timestamp (ops.md §3.1) */
    flo_st64(body + 8, first.ts);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    wake_stream(srv, NS_OF(r), r->env.key);
}

static void op_read(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct flo_stream_read_args ra;
    flo_stream_parse_read_opts(r->env.opts, &ra);
    struct dev_stream_read_args a = {
        .tail = ra.tail,
        .has_start = ra.has_start,
        .start = ra.start,
        .has_end = ra.has_end,
        .end = ra.end,
        .has_partition = ra.has_partition,
        .partition = ra.partition,
        .partition_key = ra.partition_key,
        .count = ra.count,
    };
    uint32_t block_ms = ra.block_ms > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : ra.block_ms;
    struct flo_stream_record *out = out_alloc(c, r->id);
    if (out == NULL) {
        return;
    }
    size_t n = 0;
    const char *msg;
    uint8_t st = dev_stream_read(c->srv->streams, NS_OF(r), r->env.key, &a, out, &n, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else if (n > 0 || block_ms == 0) {
        dev__stream_reply_records(c, r->id, out, n, NULL);
    } else {
        struct read_wait *x = rw_new(r, 0);
        if (x != NULL) {
            x->args = a; /* resolved: no tail, no partition key view */
        }
        if (x == NULL || !park(c, r, x, block_ms)) {
            dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
        }
    }
    free(out);
}

/* ---- trim, info ---- */

static void op_trim(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct flo_stream_trim_args a;
    const char *msg;
    if (flo_stream_parse_trim(r->env.value, r->env.opts, &a, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    uint64_t deleted = 0, first_seq = 0;
    uint8_t st =
        dev_stream_trim(c->srv->streams, NS_OF(r), r->env.key, &a, &deleted, &first_seq, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    uint8_t body[16];
    flo_st64(body, deleted);
    flo_st64(body + 8, first_seq);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
}

static void op_info(struct dev_conn *c, const struct dev_req *r)
{
    struct flo_stream_info info;
    const char *msg;
    uint8_t st = dev_stream_info(c->srv->streams, NS_OF(r), r->env.key, &info, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (flo_stream_info_put(&b, &info) != 0 || b.len != FLO_STREAM_INFO_SIZE) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

/* ---- create, alter, delete ---- */

/* Retention options of create/alter; false (answered) when refused. */
static bool parse_meta(struct dev_conn *c, const struct dev_req *r, struct dev_stream_meta *m)
{
    flo_buf_t d;
    if (flo_opt_find(r->env.opts, FLO_OPT_RETENTION_BYTES, &d)) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, DEV_STREAM_MSG_RETENTION_BYTES);
        return false;
    }
    if (!flo_opt_get_u64(r->env.opts, FLO_OPT_RETENTION_AGE, &m->retention_age_s)) {
        m->retention_age_s = 0;
    }
    if (!flo_opt_get_u64(r->env.opts, FLO_OPT_RETENTION_COUNT, &m->retention_count)) {
        m->retention_count = 0;
    }
    return true;
}

static void op_create(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct dev_stream_meta m = {0};
    if (flo_stream_parse_create(r->env.value, &m.partition_count) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "stream create: the value must be empty or a u32 partition count");
        return;
    }
    if (!parse_meta(c, r, &m)) {
        return;
    }
    const char *msg;
    uint8_t st = dev_stream_create(c->srv->streams, NS_OF(r), r->env.key, &m, &msg);
    dev__reply_text(c, r->id, st, st == FLO_STATUS_OK ? NULL : msg);
}

static void op_alter(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct dev_stream_meta m = {0};
    if (!parse_meta(c, r, &m)) {
        return;
    }
    const char *msg;
    uint8_t st = dev_stream_alter(c->srv->streams, NS_OF(r), r->env.key, &m, &msg);
    dev__reply_text(c, r->id, st, st == FLO_STATUS_OK ? NULL : msg);
}

static void op_delete(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    bool force = flo_opt_has_flag(r->env.opts, FLO_OPT_FORCE);
    const char *msg;
    uint8_t st = dev_stream_delete(c->srv->streams, NS_OF(r), r->env.key, force, &msg);
    dev__reply_text(c, r->id, st, st == FLO_STATUS_OK ? NULL : msg);
}

/* ---- list ---- */

struct list_ctx {
    struct flo_wbuf *b; /* reply body */
    uint32_t count;     /* entries written */
    bool has_more;      /* stopped at the body bound */
    int rc;             /* first encoder error */
};

static bool list_fn(flo_buf_t name, uint32_t partition_count, void *ud)
{
    struct list_ctx *x = ud;
    if (x->b->len + 4 + name.len + 4 + LIST_TRAILER > MAX_LIST_BODY) {
        x->has_more = true;
        return false;
    }
    struct flo_stream_list_entry e = {.name = name, .partition_count = partition_count};
    x->rc = flo_stream_list_entry_put(x->b, &e);
    if (x->rc != 0) {
        return false;
    }
    x->count++;
    return true;
}

static void op_list(struct dev_conn *c, const struct dev_req *r)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    size_t pos;
    struct list_ctx x = {.b = &b};
    const char *msg = NULL;
    uint8_t st = FLO_STATUS_OK;
    x.rc = flo_ops_count_reserve(&b, &pos);
    if (x.rc == 0) {
        st = dev_stream_each(c->srv->streams, NS_OF(r), list_fn, &x, &msg);
    }
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        flo_wbuf_free(&b);
        return;
    }
    if (x.rc == 0) {
        flo_ops_count_patch(&b, pos, x.count);
        /* [has_more u8][cursor_len u16 = 0]: no cursor (see docs/flo-dev.md) */
        x.rc = flo_wbuf_u8(&b, x.has_more ? 1 : 0);
        if (x.rc == 0) {
            x.rc = flo_wbuf_u16(&b, 0);
        }
    }
    if (x.rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

/* ---- registration ---- */

void dev__stream_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_STREAM_APPEND] = op_append;
    ops[FLO_OP_STREAM_READ] = op_read;
    ops[FLO_OP_STREAM_TRIM] = op_trim;
    ops[FLO_OP_STREAM_INFO] = op_info;
    ops[FLO_OP_STREAM_LIST] = op_list;
    ops[FLO_OP_STREAM_CREATE] = op_create;
    ops[FLO_OP_STREAM_ALTER] = op_alter;
    ops[FLO_OP_STREAM_DELETE] = op_delete;
}
