/*
 * flo-dev's consumer-group op handlers (0x150-0x15C): parse the group
 * value with libflo's server-side parsers (flo_group_parse_*), run it on
 * the group engine (dev_group.c) and answer with the layouts of
 * shared/flo-protocol-ops.md §4 as the newest server (@3269efe2) does.
 * Blocking group reads park through dev_stream_ops.c, so an append wakes
 * stream and group readers alike.
 *
 * Legacy 8-byte ack ids. Servers since @03b042a8 read ack/nack/touch ids as
 * 16 bytes whatever their count says, so the older `[count][seq u64]*`
 * form is misread: two sequences make one (bogus) id, nothing matches, and
 * the reply is still ok (vector 18). flo-dev does exactly the same (and
 * answers 3 "stream IDs required for ack" when not even one 16-byte id
 * fits), so a client that works here works against the server.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_group.h"
#include "dev_internal.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

#define GROUP_ID_BYTES 16 /* [ts u64][seq u64] */

static const char oom_msg[] = "internal error: out of memory";

/* Answer a status-only result (empty body when OK). */
static void reply_status(struct dev_conn *c, const struct dev_req *r, uint8_t st, const char *msg)
{
    dev__reply_text(c, r->id, st, st == FLO_STATUS_OK ? NULL : msg);
}

/* Stream name, then [group str16]; false when answered. */
static bool parse_group(struct dev_conn *c, const struct dev_req *r, flo_buf_t *group,
                        flo_buf_t *rest)
{
    if (!dev__stream_check_name(c, r)) {
        return false;
    }
    const char *msg;
    if (flo_group_parse_name(r->env.value, group, rest, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return false;
    }
    return true;
}

/* Stream name, then [group str16][consumer str16]; false when answered. */
static bool parse_member(struct dev_conn *c, const struct dev_req *r, flo_buf_t *group,
                         flo_buf_t *consumer)
{
    if (!dev__stream_check_name(c, r)) {
        return false;
    }
    const char *msg;
    flo_buf_t rest;
    if (flo_group_parse_member(r->env.value, group, consumer, &rest, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return false;
    }
    return true;
}

/* ack_timeout_ms 0x30 (u32) and max_deliver 0x31 (u8), each if present. */
static void parse_settings(flo_buf_t opts, struct dev_group_settings *set)
{
    *set = (struct dev_group_settings){0};
    set->has_ack_timeout = flo_opt_get_u32(opts, FLO_OPT_ACK_TIMEOUT_MS, &set->ack_timeout_ms);
    set->has_max_deliver = flo_opt_get_u8(opts, FLO_OPT_MAX_DELIVER, &set->max_deliver);
}

/* ---- create, configure, join, leave, delete, info ---- */

static void op_create(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, rest;
    if (!parse_group(c, r, &group, &rest)) {
        return;
    }
    struct dev_group_settings set;
    parse_settings(r->env.opts, &set);
    const char *msg;
    uint8_t st = dev_group_create(c->srv->streams, r->env.ns, r->env.key, group, &set, &msg);
    reply_status(c, r, st, msg);
}

static void op_configure(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, rest;
    if (!parse_group(c, r, &group, &rest)) {
        return;
    }
    struct dev_group_settings set;
    parse_settings(r->env.opts, &set);
    const char *msg;
    uint8_t st = dev_group_configure(c->srv->streams, r->env.ns, r->env.key, group, &set, &msg);
    reply_status(c, r, st, msg);
}

static void op_join(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, consumer;
    if (!parse_member(c, r, &group, &consumer)) {
        return;
    }
    const char *msg;
    uint8_t st = dev_group_join(c->srv->streams, r->env.ns, r->env.key, group, consumer, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    /* Fixed placeholders, as the server: generation 1, 1 partition, index 0. */
    uint8_t body[16];
    flo_st64(body, 1);
    flo_st32(body + 8, 1);
    flo_st32(body + 12, 0);
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
}

static void op_leave(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, consumer;
    if (!parse_member(c, r, &group, &consumer)) {
        return;
    }
    const char *msg;
    uint8_t st = dev_group_leave(c->srv->streams, r->env.ns, r->env.key, group, consumer, &msg);
    reply_status(c, r, st, msg);
}

static void op_delete(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, rest;
    if (!parse_group(c, r, &group, &rest)) {
        return;
    }
    const char *msg;
    uint8_t st = dev_group_delete(c->srv->streams, r->env.ns, r->env.key, group, &msg);
    reply_status(c, r, st, msg);
}

static void op_info(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, rest;
    if (!parse_group(c, r, &group, &rest)) {
        return;
    }
    struct flo_group_info info;
    const char *msg;
    uint8_t st = dev_group_info(c->srv->streams, r->env.ns, r->env.key, group, &info, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (flo_group_info_put(&b, &info) != 0 || b.len != FLO_GROUP_INFO_SIZE) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
}

/* ---- read ---- */

static void op_read(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t key = r->env.key;
    if (key.len > 0 && key.ptr[key.len - 1] == '*') {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, DEV_GROUP_MSG_WILDCARD);
        return;
    }
    flo_buf_t group, consumer;
    if (!parse_member(c, r, &group, &consumer)) {
        return;
    }
    struct flo_stream_read_args ra;
    flo_stream_parse_read_opts(r->env.opts, &ra); /* count 0x15, else limit 0x05; block_ms */
    uint32_t block_ms = ra.block_ms > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : ra.block_ms;
    struct flo_stream_record *out = malloc(DEV_STREAM_OUT_MAX * sizeof *out);
    if (out == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
        return;
    }
    size_t n = 0;
    const char *msg;
    uint8_t st =
        dev_group_read(c->srv->streams, r->env.ns, key, group, consumer, ra.count, out, &n, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else if (n > 0 || block_ms == 0) {
        dev__stream_reply_records(c, r->id, out, n, NULL);
    } else {
        dev__stream_park_group_read(c, r, group, consumer, ra.count, block_ms);
    }
    free(out);
}

/* ---- ack, nack, touch ---- */

static void ids_op(struct dev_conn *c, const struct dev_req *r, enum dev_group_id_op_e op)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct flo_group_ids ids;
    const char *msg;
    if (flo_group_parse_ids(r->env.value, &ids, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    if (ids.legacy) {
        /* Read the 8-byte form as the server does: as 16-byte ids. */
        size_t whole = ids.raw.len / GROUP_ID_BYTES;
        ids.legacy = false;
        ids.n = ids.declared < whole ? ids.declared : (uint32_t)whole;
        if (ids.n > FLO_GROUP_MAX_IDS) {
            ids.n = FLO_GROUP_MAX_IDS;
        }
    }
    struct flo_stream_id *list = NULL;
    if (ids.n > 0) {
        list = malloc(ids.n * sizeof *list);
        if (list == NULL) {
            dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
            return;
        }
        for (uint32_t i = 0; i < ids.n; i++) {
            list[i] = flo_group_ids_get(&ids, i);
        }
    }
    uint32_t found = 0;
    uint8_t st = dev_group_apply(c->srv->streams, r->env.ns, r->env.key, ids.group, op, list, ids.n,
                                 &found, &msg);
    free(list);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else if (op == DEV_GROUP_TOUCH) {
        uint8_t body[4];
        flo_st32(body, found);
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
    }
}

static void op_ack(struct dev_conn *c, const struct dev_req *r)
{
    ids_op(c, r, DEV_GROUP_ACK);
}

static void op_nack(struct dev_conn *c, const struct dev_req *r)
{
    ids_op(c, r, DEV_GROUP_NACK);
}

static void op_touch(struct dev_conn *c, const struct dev_req *r)
{
    ids_op(c, r, DEV_GROUP_TOUCH);
}

/* ---- claim, pending ---- */

static void op_claim(struct dev_conn *c, const struct dev_req *r)
{
    if (!dev__stream_check_name(c, r)) {
        return;
    }
    struct flo_group_claim_args a;
    const char *msg;
    if (flo_group_parse_claim(r->env.value, &a, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    struct flo_stream_record *out = malloc(FLO_GROUP_MAX_CLAIM * sizeof *out);
    if (out == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
        return;
    }
    size_t n = 0;
    struct flo_stream_id next;
    uint8_t st = dev_group_claim(c->srv->streams, r->env.ns, r->env.key, a.group, a.consumer,
                                 a.min_idle_ms, a.start, a.count, out, &n, &next, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
    } else {
        dev__stream_reply_records(c, r->id, out, n, &next);
    }
    free(out);
}

static void op_pending(struct dev_conn *c, const struct dev_req *r)
{
    flo_buf_t group, rest;
    if (!parse_group(c, r, &group, &rest)) {
        return;
    }
    /* Optional [consumer str16] filter; missing or empty = every consumer. */
    flo_buf_t consumer = FLO_BUF_NULL;
    struct flo_cur cur;
    flo_cur_init(&cur, rest);
    if (rest.len > 0 && flo_cur_str16(&cur, &consumer) != 0) {
        consumer = FLO_BUF_NULL;
    }
    struct flo_group_pending_entry *out = malloc(DEV_GROUP_MAX_LIST * sizeof *out);
    if (out == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
        return;
    }
    size_t n = 0;
    const char *msg;
    uint8_t st =
        dev_group_pending(c->srv->streams, r->env.ns, r->env.key, group, consumer, out, &n, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        free(out);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    size_t pos;
    int rc = flo_ops_count_reserve(&b, &pos);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo_group_pending_put(&b, &out[i]);
    }
    if (rc != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, oom_msg);
    } else {
        flo_ops_count_patch(&b, pos, (uint32_t)n);
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    }
    flo_wbuf_free(&b);
    free(out);
}

/* ---- registration ---- */

void dev__group_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_GROUP_CREATE] = op_create;
    ops[FLO_OP_GROUP_JOIN] = op_join;
    ops[FLO_OP_GROUP_LEAVE] = op_leave;
    ops[FLO_OP_GROUP_READ] = op_read;
    ops[FLO_OP_GROUP_ACK] = op_ack;
    ops[FLO_OP_GROUP_CLAIM] = op_claim;
    ops[FLO_OP_GROUP_PENDING] = op_pending;
    ops[FLO_OP_GROUP_CONFIGURE_SWEEPER] = op_configure;
    ops[FLO_OP_GROUP_NACK] = op_nack;
    ops[FLO_OP_GROUP_TOUCH] = op_touch;
    ops[FLO_OP_GROUP_INFO] = op_info;
    ops[FLO_OP_GROUP_DELETE] = op_delete;
}
