/*
 * Stream consumer-group codecs (shared/flo-protocol-ops.md §4): the
 * [group][consumer] values, 16-byte id lists for ack/nack/touch (and the
 * legacy 8-byte form), claim, sweeper options, and the join, touch, claim,
 * pending and info replies.
 */
#include <string.h>

#include "flo/flo_codec.h"
#include "flo_ops_internal.h"

#define GROUP_ID_SIZE  16
#define LEGACY_ID_SIZE 8

static const char default_consumer[] = "default";

int flo_group_value(struct flo_wbuf *v, flo_buf_t group)
{
    if (group.len == 0) {
        return FLO_EINVAL;
    }
    return flo__put_str16(v, group);
}

int flo_group_member_value(struct flo_wbuf *v, flo_buf_t group, flo_buf_t consumer)
{
    int rc = flo_group_value(v, group);
    return rc ? rc : flo__put_str16(v, consumer);
}

int flo_group_ids_value(struct flo_wbuf *v, flo_buf_t group, flo_buf_t consumer,
                        const struct flo_stream_id *ids, size_t n)
{
    if (n == 0 || n > FLO_GROUP_MAX_IDS) {
        return FLO_EINVAL;
    }
    int rc = flo_group_member_value(v, group, consumer);
    if (rc == 0) {
        rc = flo_wbuf_u32(v, (uint32_t)n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo_wbuf_u64(v, ids[i].ts);
        if (rc == 0) {
            rc = flo_wbuf_u64(v, ids[i].seq);
        }
    }
    return rc;
}

int flo_group_claim_value(struct flo_wbuf *v, const struct flo_group_claim_args *a)
{
    int rc = flo_group_member_value(v, a->group, a->consumer);
    if (rc == 0) {
        rc = flo_wbuf_u32(v, a->min_idle_ms);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(v, a->start.ts);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(v, a->start.seq);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(v, a->count);
    }
    return rc;
}

int flo_group_sweeper_opts(struct flo_wbuf *o, bool has_ack_timeout, uint32_t ack_timeout_ms,
                           bool has_max_deliver, uint8_t max_deliver)
{
    int rc = 0;
    if (has_ack_timeout) {
        rc = flo_opt_u32(o, FLO_OPT_ACK_TIMEOUT_MS, ack_timeout_ms);
    }
    if (rc == 0 && has_max_deliver) {
        rc = flo_opt_u8(o, FLO_OPT_MAX_DELIVER, max_deliver);
    }
    return rc;
}

/* ---- server-side parsers ---- */

int flo_group_parse_name(flo_buf_t value, flo_buf_t *group, flo_buf_t *rest, const char **errmsg)
{
    struct flo_cur c;
    flo_cur_init(&c, value);
    *errmsg = NULL;
    if (flo_cur_str16(&c, group) != 0 || group->len == 0) {
        *errmsg = "group name is required";
        return FLO_EMALFORMED;
    }
    if (memchr(group->ptr, 0, group->len) != NULL) {
        *errmsg = "group name must not contain NUL";
        return FLO_EMALFORMED;
    }
    *rest = flo_cur_rest(&c);
    return 0;
}

int flo_group_parse_member(flo_buf_t value, flo_buf_t *group, flo_buf_t *consumer, flo_buf_t *rest,
                           const char **errmsg)
{
    flo_buf_t after;
    int rc = flo_group_parse_name(value, group, &after, errmsg);
    if (rc != 0) {
        return rc;
    }
    struct flo_cur c;
    flo_cur_init(&c, after);
    if (flo_cur_str16(&c, consumer) != 0 || consumer->len == 0) {
        /* A missing or empty consumer is "default"; a cut-off one too, and
         * then nothing after it can be read either. */
        *consumer = FLO_BUF(default_consumer, sizeof default_consumer - 1);
        *rest = c.err ? FLO_BUF(after.ptr + after.len, 0) : flo_cur_rest(&c);
        return 0;
    }
    *rest = flo_cur_rest(&c);
    return 0;
}

int flo_group_parse_ids(flo_buf_t value, struct flo_group_ids *out, const char **errmsg)
{
    flo_buf_t rest;
    *out = (struct flo_group_ids){0};
    int rc = flo_group_parse_member(value, &out->group, &out->consumer, &rest, errmsg);
    if (rc != 0) {
        return rc;
    }
    if (rest.len < 4) {
        return 0; /* no count: no ids (ack answers "stream IDs required") */
    }
    out->declared = flo_ld32(rest.ptr);
    size_t bytes = rest.len - 4;
    out->raw = FLO_BUF(rest.ptr + 4, bytes);
    if (out->declared != 0 && bytes == (size_t)out->declared * LEGACY_ID_SIZE &&
        bytes != (size_t)out->declared * GROUP_ID_SIZE) {
        out->legacy = true;
        out->n = out->declared;
    } else {
        size_t whole = bytes / GROUP_ID_SIZE;
        out->n = out->declared < whole ? out->declared : (uint32_t)whole;
    }
    if (out->n > FLO_GROUP_MAX_IDS) {
        out->n = FLO_GROUP_MAX_IDS;
    }
    return 0;
}

struct flo_stream_id flo_group_ids_get(const struct flo_group_ids *ids, uint32_t i)
{
    struct flo_stream_id id = {0, 0};
    if (i >= ids->n) {
        return id;
    }
    if (ids->legacy) {
        id.seq = flo_ld64(ids->raw.ptr + (size_t)i * LEGACY_ID_SIZE);
    } else {
        id.ts = flo_ld64(ids->raw.ptr + (size_t)i * GROUP_ID_SIZE);
        id.seq = flo_ld64(ids->raw.ptr + (size_t)i * GROUP_ID_SIZE + 8);
    }
    return id;
}

int flo_group_parse_claim(flo_buf_t value, struct flo_group_claim_args *a, const char **errmsg)
{
    flo_buf_t rest;
    *a = (struct flo_group_claim_args){0};
    int rc = flo_group_parse_member(value, &a->group, &a->consumer, &rest, errmsg);
    if (rc != 0) {
        return rc;
    }
    /* Each trailing field is optional: read what is there, default the rest. */
    struct flo_cur c;
    flo_cur_init(&c, rest);
    uint32_t count = 0;
    if (flo_cur_u32(&c, &a->min_idle_ms) != 0) {
        a->min_idle_ms = 0;
    } else if (flo_cur_u64(&c, &a->start.ts) != 0 || flo_cur_u64(&c, &a->start.seq) != 0) {
        a->start = (struct flo_stream_id){0, 0};
    } else if (flo_cur_u32(&c, &count) != 0) {
        count = 0;
    }
    if (count == 0) {
        count = FLO_GROUP_DEFAULT_CLAIM;
    }
    a->count = count > FLO_GROUP_MAX_CLAIM ? FLO_GROUP_MAX_CLAIM : count;
    return 0;
}

/* ---- replies ---- */

int flo_group_dec_join(flo_buf_t body, struct flo_group_join_reply *r)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, &r->generation);
    flo_cur_u32(&c, &r->n_partitions);
    flo_cur_u32(&c, &r->partition);
    return flo__ops_end(&c);
}

int flo_group_join_reply_put(struct flo_wbuf *b, const struct flo_group_join_reply *r)
{
    int rc = flo_wbuf_u64(b, r->generation);
    if (rc == 0) {
        rc = flo_wbuf_u32(b, r->n_partitions);
    }
    return rc ? rc : flo_wbuf_u32(b, r->partition);
}

int flo_group_dec_touch(flo_buf_t body, uint32_t *touched)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u32(&c, touched);
    return flo__ops_end(&c);
}

int flo_group_claim_begin(flo_buf_t body, struct flo_stream_rec_iter *it, uint32_t *count,
                          struct flo_stream_id *next)
{
    flo_cur_init(&it->cur, body);
    it->remaining = 0;
    *count = 0;
    uint32_t n;
    if (flo_cur_u32(&it->cur, &n) != 0) {
        return FLO_ETRUNC;
    }
    struct flo_cur c = it->cur;
    struct flo_stream_record r;
    int rc = flo__list_skip(&c, n, flo__stream_record_read, &r);
    if (rc != 0) {
        return rc;
    }
    flo_cur_u64(&c, &next->ts);
    flo_cur_u64(&c, &next->seq);
    rc = flo__ops_end(&c);
    if (rc != 0) {
        return rc;
    }
    it->remaining = n;
    *count = n;
    return 0;
}

int flo_group_claim_cursor_put(struct flo_wbuf *b, struct flo_stream_id next)
{
    int rc = flo_wbuf_u64(b, next.ts);
    return rc ? rc : flo_wbuf_u64(b, next.seq);
}

static int pending_read(struct flo_cur *c, void *entry)
{
    struct flo_group_pending_entry *e = entry;
    flo_cur_u64(c, &e->id.ts);
    flo_cur_u64(c, &e->id.seq);
    flo_cur_u32(c, &e->delivery_count);
    flo_cur_str16(c, &e->consumer);
    return c->err;
}

int flo_group_pending_begin(flo_buf_t body, struct flo_group_pending_iter *it, uint32_t *count)
{
    struct flo_group_pending_entry e;
    return flo__list_begin(body, &it->cur, &it->remaining, count, pending_read, &e,
                           FLO__LIST_EXACT);
}

int flo_group_pending_next(struct flo_group_pending_iter *it, struct flo_group_pending_entry *e)
{
    return flo__list_next(&it->cur, &it->remaining, pending_read, e);
}

int flo_group_pending_put(struct flo_wbuf *b, const struct flo_group_pending_entry *e)
{
    int rc = flo_wbuf_u64(b, e->id.ts);
    if (rc == 0) {
        rc = flo_wbuf_u64(b, e->id.seq);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, e->delivery_count);
    }
    return rc ? rc : flo__put_str16(b, e->consumer);
}

int flo_group_dec_info(flo_buf_t body, struct flo_group_info *g)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, &g->pending_count);
    flo_cur_u32(&c, &g->member_count);
    flo_cur_u64(&c, &g->created_at_ns);
    return flo__ops_end(&c);
}

int flo_group_info_put(struct flo_wbuf *b, const struct flo_group_info *g)
{
    int rc = flo_wbuf_u64(b, g->pending_count);
    if (rc == 0) {
        rc = flo_wbuf_u32(b, g->member_count);
    }
    return rc ? rc : flo_wbuf_u64(b, g->created_at_ns);
}
