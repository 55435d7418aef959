/*
 * Queue op codecs (shared/flo-protocol-ops.md §2): enqueue/dequeue options,
 * ack/nack values in the server's ASCII form and the SDKs' binary list, the
 * dequeue message list with its 13-byte trailer, stats, purge, DLQ summary
 * and queue list.
 */
#include <stdio.h>

#include "flo/flo_codec.h"
#include "flo_ops_internal.h"

#define SEQ_TEXT_MAX 20 /* digits of UINT64_MAX */

int flo_queue_enqueue_opts(struct flo_wbuf *o, const struct flo_queue_enqueue_args *a)
{
    int rc = 0;
    if (a->has_priority) {
        rc = flo_opt_u8(o, FLO_OPT_PRIORITY, a->priority);
    }
    if (rc == 0 && a->delay_ms != 0) {
        rc = flo_opt_u64(o, FLO_OPT_DELAY_MS, a->delay_ms);
    }
    if (rc == 0 && a->dedup_key.len != 0) {
        rc = flo_opt_bytes(o, FLO_OPT_DEDUP_KEY, a->dedup_key.ptr, a->dedup_key.len);
    }
    if (rc == 0 && a->has_max_retries) {
        rc = flo_opt_u8(o, FLO_OPT_MAX_RETRIES, a->max_retries);
    }
    return rc;
}

int flo_queue_dequeue_opts(struct flo_wbuf *o, const struct flo_queue_dequeue_args *a)
{
    int rc = 0;
    if (a->count != 0) {
        rc = flo_opt_u32(o, FLO_OPT_COUNT, a->count);
    }
    if (rc == 0 && a->visibility_timeout_ms != 0) {
        rc = flo_opt_u32(o, FLO_OPT_VISIBILITY_MS, a->visibility_timeout_ms);
    }
    if (rc == 0 && a->block_ms != 0) {
        rc = flo_opt_u32(o, FLO_OPT_BLOCK_MS, a->block_ms);
    }
    return rc;
}

void flo_queue_parse_enqueue_opts(flo_buf_t opts, struct flo_queue_enqueue_args *a)
{
    *a = (struct flo_queue_enqueue_args){0};
    a->has_priority = flo_opt_get_u8(opts, FLO_OPT_PRIORITY, &a->priority);
    if (!flo_opt_get_u64(opts, FLO_OPT_DELAY_MS, &a->delay_ms)) {
        a->delay_ms = 0;
    }
    flo_buf_t d;
    if (flo_opt_find(opts, FLO_OPT_DEDUP_KEY, &d)) {
        a->dedup_key = d;
    }
    a->has_max_retries = flo_opt_get_u8(opts, FLO_OPT_MAX_RETRIES, &a->max_retries);
}

void flo_queue_parse_dequeue_opts(flo_buf_t opts, struct flo_queue_dequeue_args *a)
{
    *a = (struct flo_queue_dequeue_args){0};
    if (!flo_opt_get_u32(opts, FLO_OPT_COUNT, &a->count) || a->count == 0) {
        a->count = 1;
    }
    if (a->count > FLO_QUEUE_MAX_DEQUEUE) {
        a->count = FLO_QUEUE_MAX_DEQUEUE;
    }
    if (!flo_opt_get_u32(opts, FLO_OPT_VISIBILITY_MS, &a->visibility_timeout_ms)) {
        a->visibility_timeout_ms = 0;
    }
    if (!flo_opt_get_u32(opts, FLO_OPT_BLOCK_MS, &a->block_ms)) {
        a->block_ms = 0;
    }
}

int flo_queue_seq_value(struct flo_wbuf *v, uint64_t seq)
{
    char t[SEQ_TEXT_MAX + 1];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)seq);
    return flo_wbuf_append(v, t, (size_t)n);
}

int flo_queue_seqs_value(struct flo_wbuf *v, const uint64_t *seqs, size_t n)
{
    if (n == 0 || n > UINT32_MAX) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(v, 4 + 8 * n);
    if (rc != 0) {
        return rc;
    }
    flo_wbuf_u32(v, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        flo_wbuf_u64(v, seqs[i]);
    }
    return 0;
}

/* Strict ASCII decimal u64: 1..20 digits, no sign, no overflow. */
static int parse_decimal(flo_buf_t t, uint64_t *out)
{
    if (t.len == 0 || t.len > SEQ_TEXT_MAX) {
        return FLO_EMALFORMED;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        uint8_t c = t.ptr[i];
        if (c < '0' || c > '9') {
            return FLO_EMALFORMED;
        }
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return FLO_EMALFORMED;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int flo_queue_parse_seqs(flo_buf_t value, struct flo_queue_seqs *out)
{
    *out = (struct flo_queue_seqs){0};
    if (value.len >= 4) {
        uint32_t count = flo_ld32(value.ptr);
        /* The binary list is recognised only when its length is exact. An
         * ASCII number cannot match: its first four digits read as a count
         * of at least 0x30303030, far more than its length allows. */
        if (count != 0 && (value.len - 4) % 8 == 0 && (value.len - 4) / 8 == count) {
            out->binary = true;
            out->n = count;
            out->raw = FLO_BUF(value.ptr + 4, value.len - 4);
            return 0;
        }
    }
    int rc = parse_decimal(value, &out->one);
    if (rc == 0) {
        out->n = 1;
    }
    return rc;
}

uint64_t flo_queue_seqs_get(const struct flo_queue_seqs *s, uint32_t i)
{
    if (!s->binary) {
        return s->one;
    }
    return i < s->n ? flo_ld64(s->raw.ptr + 8 * (size_t)i) : 0;
}

static int msg_read(struct flo_cur *c, bool trailer, struct flo_queue_msg *m)
{
    *m = (struct flo_queue_msg){0};
    flo_cur_u64(c, &m->seq);
    flo_cur_str32(c, &m->payload);
    if (trailer) {
        uint64_t at;
        flo_cur_u64(c, &at);
        m->enqueued_at_ms = (int64_t)at;
        flo_cur_u32(c, &m->delivery_count);
        flo_cur_u8(c, &m->priority);
    }
    return c->err;
}

/* The two message layouts as list entry readers. */
static int msg_read_full(struct flo_cur *c, void *msg)
{
    return msg_read(c, true, msg);
}

static int msg_read_bare(struct flo_cur *c, void *msg)
{
    return msg_read(c, false, msg);
}

int flo_queue_msgs_begin(flo_buf_t body, struct flo_queue_msg_iter *it, uint32_t *count)
{
    /* The server always sends trailers; older SDK parsers assume none. A
     * waiter-pool-full answer may be a 0-byte body (EMPTY_OK). When neither
     * layout fits, the error is the one of the server's layout. */
    struct flo_queue_msg m;
    it->trailer = true;
    int rc = flo__list_begin(body, &it->cur, &it->remaining, count, msg_read_full, &m,
                             FLO__LIST_EMPTY_OK);
    if (rc != 0 && flo__list_begin(body, &it->cur, &it->remaining, count, msg_read_bare, &m,
                                   FLO__LIST_EMPTY_OK) == 0) {
        it->trailer = false;
        return 0;
    }
    return rc;
}

int flo_queue_msgs_next(struct flo_queue_msg_iter *it, struct flo_queue_msg *m)
{
    return flo__list_next(&it->cur, &it->remaining, it->trailer ? msg_read_full : msg_read_bare, m);
}

int flo_queue_msg_put(struct flo_wbuf *b, const struct flo_queue_msg *m)
{
    if (m->payload.len > UINT32_MAX) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(b, 8 + 4 + m->payload.len + FLO_QUEUE_DEQUEUE_TRAILER);
    if (rc != 0) {
        return rc;
    }
    flo_wbuf_u64(b, m->seq);
    flo_wbuf_str32(b, m->payload.ptr, m->payload.len);
    flo_wbuf_u64(b, (uint64_t)m->enqueued_at_ms);
    flo_wbuf_u32(b, m->delivery_count);
    return flo_wbuf_u8(b, m->priority);
}

int flo_queue_dec_enqueue(flo_buf_t body, uint64_t *seq)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, seq);
    return flo__ops_end(&c);
}

int flo_queue_dec_purge(flo_buf_t body, uint32_t *removed)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u32(&c, removed);
    return flo__ops_end(&c);
}

int flo_queue_dec_dlq_summary(flo_buf_t body, uint64_t *dlq_total)
{
    if (body.len != 12 || flo_ld32(body.ptr) != 0) {
        return FLO_EMALFORMED;
    }
    *dlq_total = flo_ld64(body.ptr + 4);
    return 0;
}

int flo_queue_dec_stats(flo_buf_t body, struct flo_queue_stats *s)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    uint64_t *f[] = {&s->enqueued,       &s->dequeued,  &s->acked,      &s->nacked, &s->dlq_total,
                     &s->leases_expired, &s->ready_now, &s->leased_now, &s->dlq_now};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        flo_cur_u64(&c, f[i]);
    }
    return flo__ops_end(&c);
}

int flo_queue_stats_put(struct flo_wbuf *b, const struct flo_queue_stats *s)
{
    const uint64_t f[] = {s->enqueued,       s->dequeued,  s->acked,      s->nacked, s->dlq_total,
                          s->leases_expired, s->ready_now, s->leased_now, s->dlq_now};
    int rc = flo_wbuf_reserve(b, FLO_QUEUE_STATS_SIZE);
    for (size_t i = 0; rc == 0 && i < sizeof f / sizeof f[0]; i++) {
        rc = flo_wbuf_u64(b, f[i]);
    }
    return rc;
}

static int qinfo_read(struct flo_cur *c, void *info)
{
    struct flo_queue_info *q = info;
    flo_cur_str32(c, &q->name);
    flo_cur_str32(c, &q->ns);
    flo_cur_u64(c, &q->pending);
    flo_cur_u64(c, &q->available);
    flo_cur_u64(c, &q->enqueued);
    flo_cur_u64(c, &q->dequeued);
    flo_cur_u64(c, &q->dlq);
    return c->err;
}

int flo_queue_list_begin(flo_buf_t body, struct flo_queue_list_iter *it, uint32_t *count)
{
    struct flo_queue_info q;
    return flo__list_begin(body, &it->cur, &it->remaining, count, qinfo_read, &q,
                           FLO__LIST_TRAILER);
}

int flo_queue_list_next(struct flo_queue_list_iter *it, struct flo_queue_info *q)
{
    return flo__list_next(&it->cur, &it->remaining, qinfo_read, q);
}

int flo_queue_info_put(struct flo_wbuf *b, const struct flo_queue_info *q)
{
    int rc = flo__put_str32(b, q->name);
    if (rc == 0) {
        rc = flo__put_str32(b, q->ns);
    }
    const uint64_t f[] = {q->pending, q->available, q->enqueued, q->dequeued, q->dlq};
    for (size_t i = 0; rc == 0 && i < sizeof f / sizeof f[0]; i++) {
        rc = flo_wbuf_u64(b, f[i]);
    }
    return rc;
}

/* ---- batch enqueue and touch (flo-dev layouts) ---- */

int flo_queue_batch_value(struct flo_wbuf *v, const struct flo_queue_batch_msg *msgs, size_t n)
{
    if (n == 0 || n > FLO_QUEUE_MAX_BATCH) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_u32(v, (uint32_t)n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = flo_wbuf_str32(v, msgs[i].payload.ptr, msgs[i].payload.len);
        if (rc == 0) {
            rc = flo_wbuf_u8(v, msgs[i].priority);
        }
    }
    return rc;
}

static int batch_msg_read(struct flo_cur *c, void *out)
{
    struct flo_queue_batch_msg *m = out;
    flo_cur_str32(c, &m->payload);
    flo_cur_u8(c, &m->priority);
    return c->err;
}

int flo_queue_batch_begin(flo_buf_t value, struct flo_queue_batch_iter *it, uint32_t *count)
{
    struct flo_queue_batch_msg scratch;
    *count = 0;
    it->remaining = 0;
    if (value.len >= 4) {
        uint32_t n = flo_ld32(value.ptr);
        if (n == 0) {
            return FLO_EINVAL;
        }
        if (n > FLO_QUEUE_MAX_BATCH) {
            return FLO_ELIMIT;
        }
    }
    return flo__list_begin(value, &it->cur, &it->remaining, count, batch_msg_read, &scratch,
                           FLO__LIST_EXACT);
}

int flo_queue_batch_next(struct flo_queue_batch_iter *it, struct flo_queue_batch_msg *m)
{
    return flo__list_next(&it->cur, &it->remaining, batch_msg_read, m);
}

int flo_queue_dec_batch(flo_buf_t body, uint32_t *count, flo_buf_t *seqs)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    uint32_t n = 0;
    flo_cur_u32(&c, &n);
    if (c.err == 0 && (uint64_t)n * 8 != c.left) {
        return (uint64_t)n * 8 > c.left ? FLO_ETRUNC : FLO_EMALFORMED;
    }
    flo_cur_bytes(&c, (size_t)n * 8, seqs);
    if (c.err != 0) {
        return c.err;
    }
    *count = n;
    return 0;
}

int flo_queue_batch_reply_put(struct flo_wbuf *b, const uint64_t *seqs, size_t n)
{
    int rc = flo_wbuf_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = flo_wbuf_u64(b, seqs[i]);
    }
    return rc;
}

int flo_queue_dec_touch(flo_buf_t body, int64_t *lease_deadline_ms)
{
    struct flo_cur c;
    uint64_t v = 0;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, &v);
    int rc = flo__ops_end(&c);
    if (rc == 0) {
        *lease_deadline_ms = (int64_t)v;
    }
    return rc;
}
