/*
 * Redis consumer-group commands over Flo consumer groups
 * (docs/resp-commands.md, "Streams are Flo streams"): XGROUP CREATE /
 * DESTROY / CREATECONSUMER / DELCONSUMER (SETID refused), XACK, XPENDING
 * (summary and extended form), XAUTOCLAIM (Flo's claim with a cursor),
 * XCLAIM refused, and the XINFO container (resp_cmd_xinfo.c).
 *
 * Consumers named by CREATECONSUMER and XAUTOCLAIM are noted with the
 * session registry (proto_sess_resp_use) so that they expire when idle;
 * DELCONSUMER and DESTROY make it forget them.
 *
 * What Flo cannot say is not invented: a Flo group starts at the beginning
 * of its stream (only id 0 is accepted), pending entries carry no idle time
 * (XPENDING reports 0 and refuses IDLE), claim takes every idle entry from
 * a start id (so XCLAIM of chosen ids cannot be done safely), and the ids
 * of records trimmed while pending are not listed by XAUTOCLAIM. Pending
 * lists are read in one request, which returns at most
 * FLO_GROUP_PENDING_MAX entries.
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "proto_session.h"
#include "resp_internal.h"
#include "resp_stream.h"

#define FLO_GROUP_PENDING_MAX 1000u /* entries one pending request returns */
#define ERR_NOT_INT           "ERR value is not an integer or out of range"
#define ERR_SYNTAX            "ERR syntax error"

/* Per-command state. */
struct xg {
    struct flo_wbuf value, value2, opts;
    struct flo_stream_id *ids; /* XACK ids, owned */
    bool *found;               /* XACK: ids[i] was pending */
    size_t nids;
    struct flo_wbuf bodies[3];   /* replies kept until all arrived */
    unsigned expected, answered; /* calls of the current phase */
    struct proto_err err;
    bool failed;
    bool notfound; /* a call answered "not found": NOGROUP */
    /* XPENDING extended form. */
    bool extended;
    struct flo_stream_id lo, hi;
    bool empty_range;
    long long count;
};

static void xg_free(void *state)
{
    struct xg *g = state;
    if (!g) {
        return;
    }
    flo_wbuf_free(&g->value);
    flo_wbuf_free(&g->value2);
    flo_wbuf_free(&g->opts);
    for (size_t i = 0; i < 3; i++) {
        flo_wbuf_free(&g->bodies[i]);
    }
    free(g->ids);
    free(g->found);
    free(g);
}

static bool xg_new(struct resp_pending *p, unsigned ncalls)
{
    struct xg *g = calloc(1, sizeof(*g));
    if (!g || resp__calls_alloc(p, ncalls) < 0) {
        free(g);
        resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        resp__pending_done(p);
        return false;
    }
    flo_wbuf_init(&g->value);
    flo_wbuf_init(&g->value2);
    flo_wbuf_init(&g->opts);
    for (size_t i = 0; i < 3; i++) {
        flo_wbuf_init(&g->bodies[i]);
    }
    p->state = g;
    p->state_free = xg_free;
    return true;
}

static void reply_err_done(struct resp_pending *p, const char *msg)
{
    resp_reply_error(&p->reply, msg);
    resp__pending_done(p);
}

static void fail(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    flo_wbuf_reset(&p->reply);
    resp__reply_upstream_err(p, err, status, body);
    resp__pending_done(p);
}

/* Note a use of consumer `cons` of the command's group (registry optional). */
static void use_consumer(struct resp_pending *p, flo_buf_t key, flo_buf_t group, flo_buf_t cons)
{
    proto_sess_reg_t *reg = p->c->srv->ctx->sessions;
    if (reg) {
        /* FLO_ELIMIT / FLO_ENOMEM: the command still runs; the consumer is
         * then only not expired by this sidecar. */
        (void)proto_sess_resp_use(reg, FLO_BUF(p->ns, p->ns_len), key, group, cons);
    }
}

static void reply_nogroup(struct resp_pending *p)
{
    /* Key then group name, at the command's first key position. */
    size_t ki = p->cmd->first_key > 0 ? (size_t)p->cmd->first_key : 1;
    flo_buf_t k = p->args.argv[ki];
    flo_buf_t g = ki + 1 < p->args.argc ? p->args.argv[ki + 1] : FLO_BUF("", 0);
    flo_wbuf_reset(&p->reply);
    resp_reply_errorf(&p->reply, "NOGROUP No such key '%.*s' or consumer group '%.*s'",
                      (int)(k.len > 128 ? 128 : k.len), (const char *)k.ptr,
                      (int)(g.len > 128 ? 128 : g.len), (const char *)g.ptr);
    resp__pending_done(p);
}

/* Group and consumer names: non-empty, no NUL, str16 (Flo's rules). */
static bool name_ok(flo_buf_t n)
{
    return n.len > 0 && n.len <= UINT16_MAX && !memchr(n.ptr, 0, n.len);
}

static bool names_ok(struct resp_pending *p, flo_buf_t key, flo_buf_t group, const flo_buf_t *cons)
{
    if (!resp__key_ok(p, key)) {
        resp__pending_done(p);
        return false;
    }
    if (!name_ok(group) || (cons && !name_ok(*cons))) {
        reply_err_done(p, "ERR flo-sidecar: group and consumer names must be 1 to 65535 bytes "
                          "without NUL");
        return false;
    }
    return true;
}

/* Send call idx; false after replying (the command is finished). */
static bool xsend(struct resp_pending *p, unsigned idx, uint16_t op, flo_buf_t key, flo_buf_t value,
                  flo_buf_t opts, unsigned flags)
{
    int err = resp__send(p, idx, op, key, value, opts, flags);
    if (err < 0) {
        struct xg *g = p->state;
        if (p->outstanding == 0) {
            fail(p, err, 0, FLO_BUF_NULL);
            return false;
        }
        /* Earlier calls are in flight: fail when they answer. */
        g->failed = true;
        proto_err_from_code(&g->err, err);
        g->expected = g->answered + p->outstanding;
        return false;
    }
    return true;
}

/* Collect a reply of a multi-call phase; true when every call answered and
 * none failed (else the error was replied once all answered). */
static bool collect(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    struct xg *g = p->state;
    g->answered++;
    if (!g->failed) {
        if (err || status != FLO_STATUS_OK) {
            g->failed = true;
            if (err) {
                proto_err_from_code(&g->err, err);
            } else if (status == FLO_STATUS_NOT_FOUND) {
                g->notfound = true;
            } else {
                proto_err_from_status(&g->err, status, body);
            }
        } else if (idx < 3 && flo_wbuf_append(&g->bodies[idx], body.ptr, body.len) < 0) {
            g->failed = true;
            proto_err_from_code(&g->err, FLO_ENOMEM);
        }
    }
    if (g->answered < g->expected) {
        return false;
    }
    if (g->failed) {
        if (g->notfound) {
            reply_nogroup(p);
        } else {
            resp__reply_proto_err(p, &g->err);
            resp__pending_done(p);
        }
        return false;
    }
    return true;
}

/* One call whose reply step is `step`; false after replying. */
static bool send1(struct resp_pending *p, uint16_t op, flo_buf_t key, flo_buf_t value,
                  flo_buf_t opts, unsigned flags, resp_step_cb step)
{
    struct xg *g = p->state;
    g->expected = 1;
    p->step = step;
    if (!xsend(p, 0, op, key, value, opts, flags)) {
        return false;
    }
    resp__pending_sealed(p);
    return true;
}

/* ---- XGROUP ---- */

static void create_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                        flo_buf_t body)
{
    (void)idx;
    if (!err && status == FLO_STATUS_CONFLICT) {
        reply_err_done(p, "BUSYGROUP Consumer Group name already exists");
        return;
    }
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    resp_reply_simple(&p->reply, "OK");
    resp__pending_done(p);
}

static void cmd_xgroup_create(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    for (size_t i = 5; i < p->args.argc; i++) {
        if (resp__arg_is(argv[i], "mkstream")) {
            continue; /* a Flo group needs no stream: always "made" */
        }
        if (resp__arg_is(argv[i], "entriesread") && i + 1 < p->args.argc) {
            reply_err_done(p, "ERR flo-sidecar: ENTRIESREAD is not supported (Flo groups do "
                              "not track lag)");
            return;
        }
        reply_err_done(p, ERR_SYNTAX);
        return;
    }
    flo_buf_t id = argv[4];
    struct flo_stream_id sid = {0, 0};
    bool tail = id.len == 1 && id.ptr[0] == '$';
    if (!tail && flo_stream_id_parse(id, &sid) < 0) {
        reply_err_done(p, RESP_X_ERR_INVALID_ID);
        return;
    }
    if (tail || sid.ts != 0 || sid.seq != 0) {
        reply_err_done(p, "ERR flo-sidecar: a Flo consumer group starts at the beginning of its "
                          "stream; create it with id 0");
        return;
    }
    if (!names_ok(p, argv[2], argv[3], NULL) || !xg_new(p, 1)) {
        return;
    }
    struct xg *g = p->state;
    if (flo_group_value(&g->value, argv[3]) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    send1(p, FLO_OP_GROUP_CREATE, argv[2], flo_wbuf_view(&g->value), FLO_BUF_NULL, 0, create_step);
}

/* Names of a group's consumers the registry knows (copied). */
struct member_list {
    char **names;
    size_t *lens;
    size_t n, cap;
    bool oom;
};

static void member_collect(void *arg, flo_buf_t consumer, uint64_t idle_ms)
{
    struct member_list *m = arg;
    (void)idle_ms;
    if (m->oom) {
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **names = realloc(m->names, cap * sizeof(*names));
        if (names) {
            m->names = names;
        }
        size_t *lens = names ? realloc(m->lens, cap * sizeof(*lens)) : NULL;
        if (lens) {
            m->lens = lens;
        }
        if (!names || !lens) {
            m->oom = true;
            return;
        }
        m->cap = cap;
    }
    char *copy = malloc(consumer.len ? consumer.len : 1);
    if (!copy) {
        m->oom = true;
        return;
    }
    memcpy(copy, consumer.ptr, consumer.len);
    m->names[m->n] = copy;
    m->lens[m->n++] = consumer.len;
}

/* The group is gone upstream: forget its consumers in the registry
 * (collected first, as forgetting during the visit would change what is
 * being visited). Out of memory leaves the rest to expire on their own;
 * their leave upstream then finds no group, which is harmless. */
static void forget_group(struct resp_pending *p, flo_buf_t key, flo_buf_t group)
{
    proto_sess_reg_t *reg = p->c->srv->ctx->sessions;
    if (!reg) {
        return;
    }
    struct member_list m = {0};
    flo_buf_t ns = FLO_BUF(p->ns, p->ns_len);
    proto_sess_foreach_member(reg, ns, key, group, member_collect, &m);
    for (size_t i = 0; i < m.n; i++) {
        proto_sess_resp_forget(reg, ns, key, group, FLO_BUF(m.names[i], m.lens[i]));
        free(m.names[i]);
    }
    free(m.names);
    free(m.lens);
}

static void destroy_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                         flo_buf_t body)
{
    (void)idx;
    if (!err && status == FLO_STATUS_NOT_FOUND) {
        resp_reply_int(&p->reply, 0);
        resp__pending_done(p);
        return;
    }
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    forget_group(p, p->args.argv[2], p->args.argv[3]);
    resp_reply_int(&p->reply, 1);
    resp__pending_done(p);
}

static void cmd_xgroup_destroy(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    if (!names_ok(p, argv[2], argv[3], NULL) || !xg_new(p, 1)) {
        return;
    }
    struct xg *g = p->state;
    if (flo_group_value(&g->value, argv[3]) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    send1(p, FLO_OP_GROUP_DELETE, argv[2], flo_wbuf_view(&g->value), FLO_BUF_NULL, 0, destroy_step);
}

static void createconsumer_join_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                                     flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return;
    }
    /* Flo's join does not say whether the consumer was new. */
    use_consumer(p, p->args.argv[2], p->args.argv[3], p->args.argv[4]);
    resp_reply_int(&p->reply, 1);
    resp__pending_done(p);
}

static void createconsumer_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                                flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return; /* NOGROUP for a missing group, as Redis */
    }
    struct xg *g = p->state;
    g->expected = 1;
    g->answered = 0;
    p->step = createconsumer_join_step;
    if (xsend(p, 1, FLO_OP_GROUP_JOIN, p->args.argv[2], flo_wbuf_view(&g->value2), FLO_BUF_NULL,
              0)) {
        resp__pending_sealed(p);
    }
}

static void cmd_xgroup_createconsumer(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    if (!names_ok(p, argv[2], argv[3], &argv[4]) || !xg_new(p, 2)) {
        return;
    }
    struct xg *g = p->state;
    if (flo_group_value(&g->value, argv[3]) < 0 ||
        flo_group_member_value(&g->value2, argv[3], argv[4]) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    /* Group info first: Redis answers NOGROUP for a missing group, while
     * Flo's join would create it. */
    g->expected = 1;
    p->step = createconsumer_step;
    xsend(p, 0, FLO_OP_GROUP_INFO, argv[2], flo_wbuf_view(&g->value), FLO_BUF_NULL,
          FLO_SEND_IDEMPOTENT);
}

/* Entries of a pending reply body (consumer filter already applied). */
static int pending_count(flo_buf_t body, uint32_t *n)
{
    struct flo_group_pending_iter it;
    return flo_group_pending_begin(body, &it, n);
}

static void delconsumer_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                             flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return;
    }
    struct xg *g = p->state;
    uint32_t n = 0;
    if ((err = pending_count(flo_wbuf_view(&g->bodies[0]), &n)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    /* It left upstream: the registry must not expire (leave) it again. */
    if (p->c->srv->ctx->sessions) {
        proto_sess_resp_forget(p->c->srv->ctx->sessions, FLO_BUF(p->ns, p->ns_len), p->args.argv[2],
                               p->args.argv[3], p->args.argv[4]);
    }
    resp_reply_int(&p->reply, n);
    resp__pending_done(p);
}

static void cmd_xgroup_delconsumer(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    if (!names_ok(p, argv[2], argv[3], &argv[4]) || !xg_new(p, 2)) {
        return;
    }
    struct xg *g = p->state;
    if (flo_group_member_value(&g->value, argv[3], argv[4]) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    /* The consumer's pending entries (Redis' reply), then the leave. Flo
     * keeps a leaving consumer's entries pending (claimable) rather than
     * dropping them as Redis does. */
    g->expected = 2;
    p->step = delconsumer_step;
    if (!xsend(p, 0, FLO_OP_GROUP_PENDING, argv[2], flo_wbuf_view(&g->value), FLO_BUF_NULL,
               FLO_SEND_IDEMPOTENT) ||
        !xsend(p, 1, FLO_OP_GROUP_LEAVE, argv[2], flo_wbuf_view(&g->value), FLO_BUF_NULL, 0)) {
        return;
    }
    resp__pending_sealed(p);
}

static void cmd_xgroup_refuse(struct resp_pending *p)
{
    resp_reply_errorf(&p->reply,
                      "ERR XGROUP %s is not supported by flo-sidecar: a Flo consumer group's "
                      "position cannot be set",
                      p->cmd->name + strlen("xgroup|"));
    resp__pending_done(p);
}

static const struct resp_cmd xgroup_subs[] = {
    {"xgroup|create", -5, RESP_CMD_WRITE, 2, 2, 1, "stream",
     "Creates a Flo consumer group (id 0: from the beginning).", cmd_xgroup_create},
    {"xgroup|destroy", 4, RESP_CMD_WRITE, 2, 2, 1, "stream", "Deletes a Flo consumer group.",
     cmd_xgroup_destroy},
    {"xgroup|createconsumer", 5, RESP_CMD_WRITE, 2, 2, 1, "stream",
     "Joins a consumer to a Flo consumer group.", cmd_xgroup_createconsumer},
    {"xgroup|delconsumer", 5, RESP_CMD_WRITE, 2, 2, 1, "stream",
     "Removes a consumer from a Flo consumer group.", cmd_xgroup_delconsumer},
    {"xgroup|setid", -5, RESP_CMD_WRITE, 2, 2, 1, "stream", "Refused.", cmd_xgroup_refuse},
};

static void cmd_xgroup(struct resp_pending *p)
{
    resp__subcmd_dispatch(p, xgroup_subs, sizeof(xgroup_subs) / sizeof(xgroup_subs[0]), "xgroup");
}

/* ---- XACK ---- */

static void xack_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return;
    }
    struct xg *g = p->state;
    struct flo_group_pending_iter it;
    struct flo_group_pending_entry e;
    uint32_t n;
    if ((err = flo_group_pending_begin(flo_wbuf_view(&g->bodies[0]), &it, &n)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    /* Redis counts the ids that were pending (each once). */
    int64_t acked = 0;
    while ((err = flo_group_pending_next(&it, &e)) == 1) {
        for (size_t i = 0; i < g->nids; i++) {
            if (!g->found[i] && flo_stream_id_cmp(g->ids[i], e.id) == 0) {
                g->found[i] = true;
                acked++;
                break;
            }
        }
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp_reply_int(&p->reply, acked);
    resp__pending_done(p);
}

static void cmd_xack(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    size_t nids = p->args.argc - 3;
    if (nids > FLO_GROUP_MAX_IDS) {
        reply_err_done(p, "ERR flo-sidecar: XACK takes at most 1000 ids");
        return;
    }
    if (!names_ok(p, argv[1], argv[2], NULL) || !xg_new(p, 2)) {
        return;
    }
    struct xg *g = p->state;
    g->ids = calloc(nids, sizeof(*g->ids));
    g->found = calloc(nids, sizeof(*g->found));
    if (!g->ids || !g->found) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    g->nids = nids;
    for (size_t i = 0; i < nids; i++) {
        if (flo_stream_id_parse(argv[3 + i], &g->ids[i]) < 0) {
            reply_err_done(p, RESP_X_ERR_INVALID_ID);
            return;
        }
    }
    /* The consumer is not checked by Flo's ack: the group's own name is
     * as good as any. */
    if (flo_group_value(&g->value, argv[2]) < 0 ||
        flo_group_ids_value(&g->value2, argv[2], argv[2], g->ids, nids) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    /* The pending list (to count what the ack removes), then the ack, in
     * order on the client's connection. */
    g->expected = 2;
    p->step = xack_step;
    if (!xsend(p, 0, FLO_OP_GROUP_PENDING, argv[1], flo_wbuf_view(&g->value), FLO_BUF_NULL,
               FLO_SEND_IDEMPOTENT) ||
        !xsend(p, 1, FLO_OP_GROUP_ACK, argv[1], flo_wbuf_view(&g->value2), FLO_BUF_NULL, 0)) {
        return;
    }
    resp__pending_sealed(p);
}

/* ---- XPENDING ---- */

struct cons_count {
    flo_buf_t name;
    int64_t n;
};

static void pending_summary(struct resp_pending *p, flo_buf_t body)
{
    struct flo_group_pending_iter it;
    struct flo_group_pending_entry e;
    uint32_t n;
    int err = flo_group_pending_begin(body, &it, &n);
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    struct flo_wbuf *r = &p->reply;
    if (n == 0) {
        resp_reply_array(r, 4);
        resp_reply_int(r, 0);
        resp_reply_null(r, p->proto);
        resp_reply_null(r, p->proto);
        resp_reply_null_array(r, p->proto);
        resp__pending_done(p);
        return;
    }
    struct cons_count *cc = calloc(n, sizeof(*cc));
    if (!cc) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    size_t ncc = 0;
    struct flo_stream_id lo = FLO_STREAM_ID_MAX, hi = {0, 0};
    uint32_t total = 0;
    while ((err = flo_group_pending_next(&it, &e)) == 1) {
        total++;
        if (flo_stream_id_cmp(e.id, lo) < 0) {
            lo = e.id;
        }
        if (flo_stream_id_cmp(e.id, hi) > 0) {
            hi = e.id;
        }
        size_t k = 0;
        while (k < ncc && !(cc[k].name.len == e.consumer.len &&
                            memcmp(cc[k].name.ptr, e.consumer.ptr, e.consumer.len) == 0)) {
            k++;
        }
        if (k == ncc) {
            cc[ncc++].name = e.consumer;
        }
        cc[k].n++;
    }
    if (err < 0) {
        free(cc);
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    char a[FLO_STREAM_ID_TEXT_MAX], b[FLO_STREAM_ID_TEXT_MAX];
    flo_stream_id_format(lo, a, sizeof(a));
    flo_stream_id_format(hi, b, sizeof(b));
    resp_reply_array(r, 4);
    resp_reply_int(r, total);
    resp_reply_bulk_str(r, a);
    resp_reply_bulk_str(r, b);
    resp_reply_array(r, ncc);
    for (size_t k = 0; k < ncc; k++) {
        char num[24];
        int len = snprintf(num, sizeof(num), "%lld", (long long)cc[k].n);
        resp_reply_array(r, 2);
        resp_reply_bulk(r, cc[k].name.ptr, cc[k].name.len);
        resp_reply_bulk(r, num, (size_t)len);
    }
    free(cc);
    resp__pending_done(p);
}

static void pending_extended(struct resp_pending *p, flo_buf_t body)
{
    struct xg *g = p->state;
    struct flo_group_pending_iter it;
    struct flo_group_pending_entry e;
    uint32_t n;
    int err = flo_group_pending_begin(body, &it, &n);
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    /* Two passes: count what the range keeps, then reply. */
    size_t keep = 0;
    while ((err = flo_group_pending_next(&it, &e)) == 1) {
        if ((long long)keep < g->count && flo_stream_id_cmp(e.id, g->lo) >= 0 &&
            flo_stream_id_cmp(e.id, g->hi) <= 0) {
            keep++;
        }
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    flo_group_pending_begin(body, &it, &n);
    resp_reply_array(&p->reply, keep);
    size_t done = 0;
    while (done < keep && flo_group_pending_next(&it, &e) == 1) {
        if (flo_stream_id_cmp(e.id, g->lo) < 0 || flo_stream_id_cmp(e.id, g->hi) > 0) {
            continue;
        }
        char id[FLO_STREAM_ID_TEXT_MAX];
        flo_stream_id_format(e.id, id, sizeof(id));
        resp_reply_array(&p->reply, 4);
        resp_reply_bulk_str(&p->reply, id);
        resp_reply_bulk(&p->reply, e.consumer.ptr, e.consumer.len);
        resp_reply_int(&p->reply, 0); /* Flo does not report idle times */
        resp_reply_int(&p->reply, e.delivery_count);
        done++;
    }
    resp__pending_done(p);
}

static void xpending_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                          flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return;
    }
    struct xg *g = p->state;
    if (g->extended) {
        pending_extended(p, flo_wbuf_view(&g->bodies[0]));
    } else {
        pending_summary(p, flo_wbuf_view(&g->bodies[0]));
    }
}

static void cmd_xpending(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    size_t argc = p->args.argc;
    const flo_buf_t *consumer = NULL;
    struct xg tmp = {0};
    if (argc > 3) {
        size_t i = 3;
        if (resp__arg_is(argv[i], "idle")) {
            reply_err_done(p, "ERR flo-sidecar: XPENDING IDLE is not supported (Flo does not "
                              "report idle times)");
            return;
        }
        if (argc != 6 && argc != 7) {
            reply_err_done(p, ERR_SYNTAX);
            return;
        }
        /* start end count [consumer]: bounds like XRANGE. */
        flo_buf_t s = argv[i], e = argv[i + 1];
        bool sx = s.len > 1 && s.ptr[0] == '(', ex = e.len > 1 && e.ptr[0] == '(';
        if (sx) {
            s = FLO_BUF(s.ptr + 1, s.len - 1);
        }
        if (ex) {
            e = FLO_BUF(e.ptr + 1, e.len - 1);
        }
        tmp.lo = (struct flo_stream_id){0, 0};
        tmp.hi = FLO_STREAM_ID_MAX;
        bool ok = true;
        if (!(s.len == 1 && s.ptr[0] == '-') && !sx) {
            ok = flo_stream_id_parse(s, &tmp.lo) == 0;
        } else if (sx) {
            struct flo_stream_id x;
            ok = flo_stream_id_parse(s, &x) == 0;
            tmp.lo = x;
            if (ok && ++tmp.lo.seq == 0 && ++tmp.lo.ts == 0) {
                tmp.empty_range = true;
            }
        }
        if (ok && !(e.len == 1 && e.ptr[0] == '+')) {
            struct flo_stream_id x;
            ok = flo_stream_id_parse(e, &x) == 0;
            if (ok && !memchr(e.ptr, '-', e.len) && !ex) {
                x.seq = UINT64_MAX;
            }
            tmp.hi = x;
            if (ok && ex && !resp__x_id_prev(x, &tmp.hi)) {
                tmp.empty_range = true;
            }
        }
        if (!ok) {
            reply_err_done(p, RESP_X_ERR_INVALID_ID);
            return;
        }
        if (!resp__arg_ll(argv[i + 2], &tmp.count)) {
            reply_err_done(p, ERR_NOT_INT);
            return;
        }
        if (tmp.count < 0) {
            tmp.count = 0;
        }
        if (argc == 7) {
            consumer = &argv[6];
        }
        tmp.extended = true;
    }
    if (!names_ok(p, argv[1], argv[2], consumer) || !xg_new(p, 1)) {
        return;
    }
    struct xg *g = p->state;
    g->extended = tmp.extended;
    g->lo = tmp.lo;
    g->hi = tmp.hi;
    g->count = tmp.empty_range ? 0 : tmp.count;
    int err = consumer ? flo_group_member_value(&g->value, argv[2], *consumer)
                       : flo_group_value(&g->value, argv[2]);
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    send1(p, FLO_OP_GROUP_PENDING, argv[1], flo_wbuf_view(&g->value), FLO_BUF_NULL,
          FLO_SEND_IDEMPOTENT, xpending_step);
}

/* ---- XAUTOCLAIM ---- */

static void xautoclaim_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                            flo_buf_t body)
{
    if (!collect(p, idx, err, status, body)) {
        return;
    }
    struct xg *g = p->state;
    flo_buf_t b = flo_wbuf_view(&g->bodies[0]);
    struct flo_stream_rec_iter it;
    struct flo_stream_record r;
    uint32_t count;
    struct flo_stream_id next;
    if ((err = flo_group_claim_begin(b, &it, &count, &next)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    /* Check every record decodes before writing anything. */
    size_t n = 0;
    while ((err = flo_stream_records_next(&it, &r)) == 1) {
        struct flo_stream_hdr_iter hit;
        struct flo_stream_header h;
        flo_stream_hdr_begin(&r.headers, &hit);
        for (uint32_t i = 0; i < r.headers.count && err == 1; i++) {
            if (flo_stream_hdr_next(&hit, &h) != 1) {
                err = FLO_EMALFORMED;
            }
        }
        if (err < 0) {
            break;
        }
        n++;
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    char cur[FLO_STREAM_ID_TEXT_MAX];
    if (flo_stream_id_cmp(next, FLO_STREAM_ID_MAX) == 0) {
        snprintf(cur, sizeof(cur), "0-0"); /* scan complete, as Redis says it */
    } else {
        flo_stream_id_format(next, cur, sizeof(cur));
    }
    flo_group_claim_begin(b, &it, &count, &next);
    resp_reply_array(&p->reply, 3);
    resp_reply_bulk_str(&p->reply, cur);
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n && flo_stream_records_next(&it, &r) == 1; i++) {
        resp__x_reply_entry(p, &r);
    }
    resp_reply_array(&p->reply, 0); /* Flo does not list trimmed ids */
    resp__pending_done(p);
}

static void cmd_xautoclaim(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    size_t argc = p->args.argc;
    long long idle, count = FLO_GROUP_DEFAULT_CLAIM;
    struct flo_group_claim_args a = {.group = argv[2], .consumer = argv[3]};
    if (!resp__arg_ll(argv[4], &idle) || idle < 0) {
        reply_err_done(p, "ERR Invalid min-idle-time argument for XAUTOCLAIM");
        return;
    }
    if (flo_stream_id_parse(argv[5], &a.start) < 0 &&
        !(argv[5].len == 1 && argv[5].ptr[0] == '-')) {
        reply_err_done(p, RESP_X_ERR_INVALID_ID);
        return;
    }
    for (size_t i = 6; i < argc; i++) {
        if (resp__arg_is(argv[i], "count") && i + 1 < argc) {
            if (!resp__arg_ll(argv[++i], &count) || count < 1 || count > FLO_GROUP_MAX_CLAIM) {
                reply_err_done(p, "ERR COUNT must be > 0 (and at most 1000 with flo-sidecar)");
                return;
            }
        } else if (resp__arg_is(argv[i], "justid")) {
            reply_err_done(p, "ERR flo-sidecar: XAUTOCLAIM JUSTID is not supported (a Flo claim "
                              "always redelivers)");
            return;
        } else {
            reply_err_done(p, ERR_SYNTAX);
            return;
        }
    }
    a.min_idle_ms = idle > UINT32_MAX ? UINT32_MAX : (uint32_t)idle;
    a.count = (uint32_t)count;
    if (!names_ok(p, argv[1], argv[2], &argv[3]) || !xg_new(p, 1)) {
        return;
    }
    use_consumer(p, argv[1], argv[2], argv[3]);
    struct xg *g = p->state;
    if (flo_group_claim_value(&g->value, &a) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    send1(p, FLO_OP_GROUP_CLAIM, argv[1], flo_wbuf_view(&g->value), FLO_BUF_NULL, 0,
          xautoclaim_step);
}

static void cmd_xclaim(struct resp_pending *p)
{
    reply_err_done(p, "ERR XCLAIM is not supported by flo-sidecar: a Flo claim takes every "
                      "idle pending entry from a start id, not chosen ids (use XAUTOCLAIM)");
}

static void cmd_xinfo(struct resp_pending *p)
{
    resp__xinfo_dispatch(p);
}

const struct resp_cmd resp__xgroup_cmds[] = {
    {"xgroup", -2, RESP_CMD_CONTAINER, 0, 0, 0, "stream",
     "A container for Flo consumer group commands.", cmd_xgroup},
    {"xack", -4, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, "stream",
     "Acknowledges entries of a Flo consumer group's pending list.", cmd_xack},
    {"xpending", -3, RESP_CMD_READONLY, 1, 1, 1, "stream",
     "Returns a Flo consumer group's pending entries (summary or list).", cmd_xpending},
    {"xautoclaim", -6, RESP_CMD_WRITE, 1, 1, 1, "stream",
     "Claims idle pending entries of a Flo consumer group from a start id.", cmd_xautoclaim},
    {"xclaim", -6, RESP_CMD_WRITE, 1, 1, 1, "stream", "Refused: use XAUTOCLAIM.", cmd_xclaim},
    {"xinfo", -2, RESP_CMD_CONTAINER, 0, 0, 0, "stream",
     "A container for stream introspection commands.", cmd_xinfo},
};
const size_t resp__xgroup_ncmds = sizeof(resp__xgroup_cmds) / sizeof(resp__xgroup_cmds[0]);
