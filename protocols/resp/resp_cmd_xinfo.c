/*
 * XINFO over Flo streams and consumer groups (docs/resp-commands.md,
 * "Streams are Flo streams"): STREAM (stream info plus the first and last
 * records), CONSUMERS (the group's pending list merged with the consumers
 * this sidecar's session registry knows), GROUPS (refused: Flo has no
 * operation listing a stream's groups) and HELP.
 *
 * What Flo cannot say is not invented: Flo reports no consumer idle time,
 * so a consumer this sidecar has not seen reports idle 0 (Redis clients
 * parse idle as a non-negative integer), and a consumer with no pending
 * entry that this sidecar does not know is not listed. The pending list is
 * read in one request, which returns at most 1000 entries.
 * Replies follow redis-server 7.0's shapes (no 7.2 `inactive` field).
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "proto_session.h"
#include "resp_internal.h"
#include "resp_stream.h"

/* Per-command state. */
struct xi {
    struct flo_stream_info si;
    struct flo_wbuf bodies[3]; /* replies kept until all arrived */
    struct flo_wbuf o1, o2;    /* request values / options (copied on send) */
    unsigned expected, answered;
    struct proto_err err;
    bool failed, notfound;
};

static void xi_free(void *state)
{
    struct xi *x = state;
    if (!x) {
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        flo_wbuf_free(&x->bodies[i]);
    }
    flo_wbuf_free(&x->o1);
    flo_wbuf_free(&x->o2);
    free(x);
}

static bool xi_new(struct resp_pending *p, unsigned ncalls)
{
    struct xi *x = calloc(1, sizeof(*x));
    if (!x || resp__calls_alloc(p, ncalls) < 0) {
        free(x);
        resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        resp__pending_done(p);
        return false;
    }
    for (size_t i = 0; i < 3; i++) {
        flo_wbuf_init(&x->bodies[i]);
    }
    flo_wbuf_init(&x->o1);
    flo_wbuf_init(&x->o2);
    p->state = x;
    p->state_free = xi_free;
    return true;
}

static void reply_err_done(struct resp_pending *p, const char *msg)
{
    resp_reply_error(&p->reply, msg);
    resp__pending_done(p);
}

static void fail(struct resp_pending *p, int err)
{
    flo_wbuf_reset(&p->reply);
    resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    resp__pending_done(p);
}

/* Send call idx of the current phase; false once the command is finished
 * or will fail when the calls in flight answer. */
static bool xi_send(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key,
                    flo_buf_t value, flo_buf_t opts)
{
    int err = resp__send(p, idx, op, key, value, opts, FLO_SEND_IDEMPOTENT);
    if (err < 0) {
        struct xi *x = p->state;
        if (p->outstanding == 0) {
            fail(p, err);
            return false;
        }
        x->failed = true;
        proto_err_from_code(&x->err, err);
        x->expected = x->answered + p->outstanding;
        return false;
    }
    return true;
}

/* Collect a reply of the current phase; true when all answered and none
 * failed. A "not found" is left to the caller (x->notfound). */
static bool xi_collect(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    struct xi *x = p->state;
    x->answered++;
    if (!x->failed) {
        if (!err && status == FLO_STATUS_NOT_FOUND) {
            x->failed = x->notfound = true;
        } else if (err || status != FLO_STATUS_OK) {
            x->failed = true;
            proto_err_from_reply(&x->err, err, status, body);
        } else if (idx < 3 && flo_wbuf_append(&x->bodies[idx], body.ptr, body.len) < 0) {
            x->failed = true;
            proto_err_from_code(&x->err, FLO_ENOMEM);
        }
    }
    if (x->answered < x->expected) {
        return false;
    }
    if (x->failed && !x->notfound) {
        resp__reply_proto_err(p, &x->err);
        resp__pending_done(p);
        return false;
    }
    return true;
}

/* ---- XINFO STREAM ---- */

static void stream_reply(struct resp_pending *p)
{
    struct xi *x = p->state;
    struct flo_wbuf *r = &p->reply;
    char last[FLO_STREAM_ID_TEXT_MAX], first[FLO_STREAM_ID_TEXT_MAX];
    flo_stream_id_format(x->si.last, last, sizeof(last));
    flo_stream_id_format(x->si.first, first, sizeof(first));
    resp_reply_map(r, p->proto, 6);
    resp_reply_bulk_str(r, "length");
    resp_reply_int(r, (int64_t)x->si.count);
    resp_reply_bulk_str(r, "last-generated-id");
    resp_reply_bulk_str(r, last);
    resp_reply_bulk_str(r, "recorded-first-entry-id");
    resp_reply_bulk_str(r, first);
    resp_reply_bulk_str(r, "flo-bytes");
    resp_reply_int(r, (int64_t)x->si.bytes);
    for (unsigned k = 1; k <= 2; k++) {
        resp_reply_bulk_str(r, k == 1 ? "first-entry" : "last-entry");
        struct flo_stream_rec_iter it;
        struct flo_stream_record rec;
        uint32_t count;
        size_t n = 0;
        flo_buf_t body = flo_wbuf_view(&x->bodies[k]);
        if (resp__x_records_count(body, 1, &n) == 0 && n == 1 &&
            flo_stream_records_begin(body, &it, &count) == 0 &&
            flo_stream_records_next(&it, &rec) == 1) {
            resp__x_reply_entry(p, &rec);
        } else {
            resp_reply_null(r, p->proto);
        }
    }
    resp__pending_done(p);
}

static void stream_read_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                             flo_buf_t body)
{
    if (!xi_collect(p, idx, err, status, body)) {
        return;
    }
    struct xi *x = p->state;
    if (x->notfound) {
        x->bodies[1].len = x->bodies[2].len = 0; /* deleted meanwhile: no entries */
    }
    stream_reply(p);
}

static void stream_info_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                             flo_buf_t body)
{
    if (!xi_collect(p, idx, err, status, body)) {
        return;
    }
    struct xi *x = p->state;
    if (x->notfound) {
        reply_err_done(p, "ERR no such key");
        return;
    }
    if ((err = flo_stream_dec_info(flo_wbuf_view(&x->bodies[0]), &x->si)) < 0) {
        fail(p, err);
        return;
    }
    if (x->si.count == 0 && x->si.last.ts == 0 && x->si.last.seq == 0) {
        reply_err_done(p, "ERR no such key");
        return;
    }
    /* First record (no start) and last record (start just before it). */
    struct flo_stream_read_args first = {.count = 1};
    struct flo_stream_read_args last = {.count = 1, .has_start = true};
    if (!resp__x_id_prev(x->si.last, &last.start)) {
        last.has_start = false;
    }
    if (flo_stream_read_opts(&x->o1, &first) < 0 || flo_stream_read_opts(&x->o2, &last) < 0) {
        fail(p, FLO_ENOMEM);
        return;
    }
    x->expected = 2;
    x->answered = 0;
    p->step = stream_read_step;
    if (!xi_send(p, 1, FLO_OP_STREAM_READ, p->args.argv[2], FLO_BUF_NULL, flo_wbuf_view(&x->o1)) ||
        !xi_send(p, 2, FLO_OP_STREAM_READ, p->args.argv[2], FLO_BUF_NULL, flo_wbuf_view(&x->o2))) {
        return;
    }
    resp__pending_sealed(p);
}

static void cmd_xinfo_stream(struct resp_pending *p)
{
    if (p->args.argc > 3) {
        reply_err_done(p, "ERR flo-sidecar: XINFO STREAM FULL is not supported");
        return;
    }
    if (!resp__key_ok(p, p->args.argv[2])) {
        resp__pending_done(p);
        return;
    }
    if (!xi_new(p, 3)) {
        return;
    }
    struct xi *x = p->state;
    x->expected = 1;
    p->step = stream_info_step;
    xi_send(p, 0, FLO_OP_STREAM_INFO, p->args.argv[2], FLO_BUF_NULL, FLO_BUF_NULL);
}

/* ---- XINFO CONSUMERS ---- */

struct consumer {
    char *name; /* owned copy */
    size_t len;
    int64_t pending;
    uint64_t idle_ms; /* 0 unless the registry knows the consumer */
};

struct consumer_list {
    struct consumer *v;
    size_t n, cap;
    bool oom;
};

static void consumers_free(struct consumer_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
    }
    free(l->v);
}

/* The entry of `name`, added (pending 0, idle 0) if new; NULL on OOM. */
static struct consumer *consumer_get(struct consumer_list *l, flo_buf_t name)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].len == name.len && memcmp(l->v[i].name, name.ptr, name.len) == 0) {
            return &l->v[i];
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct consumer *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    char *copy = malloc(name.len ? name.len : 1);
    if (!copy) {
        l->oom = true;
        return NULL;
    }
    memcpy(copy, name.ptr, name.len);
    l->v[l->n] = (struct consumer){.name = copy, .len = name.len};
    return &l->v[l->n++];
}

static void consumer_known(void *arg, flo_buf_t consumer, uint64_t idle_ms)
{
    struct consumer_list *l = arg;
    struct consumer *c = consumer_get(l, consumer);
    if (c) {
        c->idle_ms = idle_ms;
    }
}

/* Redis lists consumers in its radix tree's order: bytewise, a prefix
 * first. */
static int consumer_cmp(const void *a, const void *b)
{
    const struct consumer *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c) {
        return c;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

static void consumers_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                           flo_buf_t body)
{
    if (!xi_collect(p, idx, err, status, body)) {
        return;
    }
    struct xi *x = p->state;
    flo_buf_t key = p->args.argv[2], group = p->args.argv[3];
    if (x->notfound) {
        resp_reply_errorf(&p->reply, "NOGROUP No such consumer group '%.*s' for key name '%.*s'",
                          (int)(group.len > 128 ? 128 : group.len), (const char *)group.ptr,
                          (int)(key.len > 128 ? 128 : key.len), (const char *)key.ptr);
        resp__pending_done(p);
        return;
    }
    struct consumer_list l = {0};
    struct flo_group_pending_iter it;
    struct flo_group_pending_entry e;
    uint32_t n;
    if ((err = flo_group_pending_begin(flo_wbuf_view(&x->bodies[0]), &it, &n)) == 0) {
        while ((err = flo_group_pending_next(&it, &e)) == 1) {
            struct consumer *c = consumer_get(&l, e.consumer);
            if (!c) {
                break;
            }
            c->pending++;
        }
    }
    proto_sess_reg_t *reg = p->c->srv->ctx->sessions;
    if (err >= 0 && !l.oom && reg) {
        proto_sess_foreach_member(reg, FLO_BUF(p->ns, p->ns_len), key, group, consumer_known, &l);
    }
    if (err < 0 || l.oom) {
        consumers_free(&l);
        fail(p, err < 0 ? err : FLO_ENOMEM);
        return;
    }
    if (l.n > 1) {
        qsort(l.v, l.n, sizeof(*l.v), consumer_cmp);
    }
    struct flo_wbuf *r = &p->reply;
    resp_reply_array(r, l.n);
    for (size_t i = 0; i < l.n; i++) {
        resp_reply_map(r, p->proto, 3);
        resp_reply_bulk_str(r, "name");
        resp_reply_bulk(r, l.v[i].name, l.v[i].len);
        resp_reply_bulk_str(r, "pending");
        resp_reply_int(r, l.v[i].pending);
        resp_reply_bulk_str(r, "idle");
        resp_reply_int(r, l.v[i].idle_ms > INT64_MAX ? INT64_MAX : (int64_t)l.v[i].idle_ms);
    }
    consumers_free(&l);
    resp__pending_done(p);
}

static void cmd_xinfo_consumers(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[2], group = p->args.argv[3];
    if (!resp__key_ok(p, key)) {
        resp__pending_done(p);
        return;
    }
    if (group.len == 0 || group.len > UINT16_MAX || memchr(group.ptr, 0, group.len)) {
        reply_err_done(p, "ERR flo-sidecar: group names must be 1 to 65535 bytes without NUL");
        return;
    }
    if (!xi_new(p, 1)) {
        return;
    }
    struct xi *x = p->state;
    if (flo_group_value(&x->o1, group) < 0) {
        fail(p, FLO_ENOMEM);
        return;
    }
    x->expected = 1;
    p->step = consumers_step;
    if (xi_send(p, 0, FLO_OP_GROUP_PENDING, key, flo_wbuf_view(&x->o1), FLO_BUF_NULL)) {
        resp__pending_sealed(p);
    }
}

/* ---- XINFO GROUPS, HELP ---- */

static void cmd_xinfo_groups(struct resp_pending *p)
{
    reply_err_done(p, "ERR XINFO GROUPS is not supported by flo-sidecar: Flo cannot list a "
                      "stream's consumer groups (use XINFO CONSUMERS key group, or GET "
                      "/v1/streams/{stream}/groups/{group} over HTTP)");
}

static void cmd_xinfo_help(struct resp_pending *p)
{
    static const char *const lines[] = {
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Not supported by flo-sidecar: Flo cannot list a stream's consumer groups.",
        "STREAM <key>",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof(lines) / sizeof(lines[0]);
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n; i++) {
        resp_reply_simple(&p->reply, lines[i]);
    }
    resp__pending_done(p);
}

static const struct resp_cmd xinfo_subs[] = {
    {"xinfo|stream", -3, RESP_CMD_READONLY, 2, 2, 1, "stream",
     "Returns information about a Flo stream.", cmd_xinfo_stream},
    {"xinfo|consumers", 4, RESP_CMD_READONLY, 2, 2, 1, "stream",
     "Returns the consumers of a Flo consumer group (pending owners and known members).",
     cmd_xinfo_consumers},
    {"xinfo|groups", 3, RESP_CMD_READONLY, 2, 2, 1, "stream",
     "Refused: Flo cannot list a stream's groups.", cmd_xinfo_groups},
    {"xinfo|help", 2, RESP_CMD_READONLY, 0, 0, 0, "stream", "Returns helpful text about XINFO.",
     cmd_xinfo_help},
};

void resp__xinfo_dispatch(struct resp_pending *p)
{
    resp__subcmd_dispatch(p, xinfo_subs, sizeof(xinfo_subs) / sizeof(xinfo_subs[0]), "xinfo");
}
