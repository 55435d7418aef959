/*
 * Stream op codecs (shared/flo-protocol-ops.md §3): StreamID text and
 * ordering, the append batch (client encoder and the server's strict
 * validator), the read record list in both key_present forms, read and trim
 * options, and the append/trim/info/create/list bodies.
 */
#include <stdio.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo_ops_internal.h"

#define U64_DIGITS 20

/* ---- StreamID ---- */

static int parse_u64_dec(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > U64_DIGITS) {
        return FLO_EMALFORMED;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return FLO_EMALFORMED;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return FLO_EMALFORMED;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int flo_stream_id_parse(flo_buf_t text, struct flo_stream_id *out)
{
    const uint8_t *dash = text.len ? memchr(text.ptr, '-', text.len) : NULL;
    struct flo_stream_id id = {0, 0};
    if (dash == NULL) {
        if (parse_u64_dec(text.ptr, text.len, &id.ts) != 0) {
            return FLO_EMALFORMED;
        }
    } else {
        size_t tl = (size_t)(dash - text.ptr);
        if (parse_u64_dec(text.ptr, tl, &id.ts) != 0 ||
            parse_u64_dec(dash + 1, text.len - tl - 1, &id.seq) != 0) {
            return FLO_EMALFORMED;
        }
    }
    *out = id;
    return 0;
}

int flo_stream_id_format(struct flo_stream_id id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%llu-%llu", (unsigned long long)id.ts, (unsigned long long)id.seq);
    if (n < 0 || (size_t)n >= cap) {
        return FLO_EINVAL;
    }
    return n;
}

int flo_stream_id_cmp(struct flo_stream_id a, struct flo_stream_id b)
{
    if (a.ts != b.ts) {
        return a.ts < b.ts ? -1 : 1;
    }
    if (a.seq != b.seq) {
        return a.seq < b.seq ? -1 : 1;
    }
    return 0;
}

/* ---- headers ---- */

void flo_stream_hdr_begin(const struct flo_stream_headers *h, struct flo_stream_hdr_iter *it)
{
    flo_cur_init(&it->cur, h->raw);
    it->remaining = h->count;
    it->wide = h->wide;
}

/* A header of an append batch: u16 lengths. */
static int hdr_read_narrow(struct flo_cur *c, void *hdr)
{
    struct flo_stream_header *h = hdr;
    flo_cur_str16(c, &h->key);
    flo_cur_str16(c, &h->val);
    return c->err;
}

/* A header of a read reply: u32 lengths. */
static int hdr_read_wide(struct flo_cur *c, void *hdr)
{
    struct flo_stream_header *h = hdr;
    flo_cur_str32(c, &h->key);
    flo_cur_str32(c, &h->val);
    return c->err;
}

static flo__entry_read_fn hdr_reader(bool wide)
{
    return wide ? hdr_read_wide : hdr_read_narrow;
}

int flo_stream_hdr_next(struct flo_stream_hdr_iter *it, struct flo_stream_header *h)
{
    return flo__list_next(&it->cur, &it->remaining, hdr_reader(it->wide), h);
}

/* Consume `count` headers at the cursor; *raw = the bytes they used. */
static int hdrs_skip(struct flo_cur *c, uint32_t count, bool wide, flo_buf_t *raw)
{
    const uint8_t *start = c->p;
    struct flo_stream_header h;
    int rc = flo__list_skip(c, count, hdr_reader(wide), &h);
    if (rc != 0) {
        return rc;
    }
    *raw = FLO_BUF(start, (size_t)(c->p - start));
    return 0;
}

/* ---- append ---- */

int flo_stream_batch_value(struct flo_wbuf *v, const struct flo_stream_rec_in *recs, size_t n)
{
    if (n == 0 || n > FLO_STREAM_MAX_BATCH) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_u32(v, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct flo_stream_rec_in *r = &recs[i];
        if (r->n_headers > UINT16_MAX) {
            return FLO_EINVAL;
        }
        rc = flo__put_str32(v, r->payload);
        if (rc == 0) {
            rc = flo_wbuf_u16(v, (uint16_t)r->n_headers);
        }
        for (size_t j = 0; rc == 0 && j < r->n_headers; j++) {
            rc = flo__put_str16(v, r->headers[j].key);
            if (rc == 0) {
                rc = flo__put_str16(v, r->headers[j].val);
            }
        }
    }
    return rc;
}

static int batch_rec_read(struct flo_cur *c, void *rec)
{
    struct flo_stream_batch_rec *r = rec;
    uint16_t hc = 0;
    flo_cur_str32(c, &r->payload);
    flo_cur_u16(c, &hc);
    if (c->err != 0) {
        return c->err;
    }
    r->headers.count = hc;
    r->headers.wide = false;
    return hdrs_skip(c, hc, false, &r->headers.raw);
}

int flo_stream_parse_batch(flo_buf_t value, struct flo_stream_batch_iter *it, uint32_t *count)
{
    /* Shape first, then size: a raw payload ("login") reads as a huge count
     * and must be reported as malformed, not as over the limit (vector 28).
     * Every record takes at least 6 bytes, so validation is bounded by the
     * value length whatever the count says. A missing count, a short record
     * and trailing bytes all mean "not exactly a batch". */
    struct flo_stream_batch_rec r;
    if (flo__list_begin(value, &it->cur, &it->remaining, count, batch_rec_read, &r,
                        FLO__LIST_EXACT) != 0 ||
        *count == 0) {
        return FLO_EMALFORMED;
    }
    if (*count > FLO_STREAM_MAX_BATCH) {
        it->remaining = 0; /* *count keeps N for the error text */
        return FLO_ELIMIT;
    }
    return 0;
}

int flo_stream_batch_next(struct flo_stream_batch_iter *it, struct flo_stream_batch_rec *r)
{
    return flo__list_next(&it->cur, &it->remaining, batch_rec_read, r);
}

int flo_stream_dec_append(flo_buf_t body, struct flo_stream_id *first)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, &first->seq); /* sequence first: ops.md §3.1 */
    flo_cur_u64(&c, &first->ts);
    return flo__ops_end(&c);
}

int flo_stream_append_reply_put(struct flo_wbuf *b, struct flo_stream_id first)
{
    int rc = flo_wbuf_u64(b, first.seq);
    return rc ? rc : flo_wbuf_u64(b, first.ts);
}

/* ---- read ---- */

int flo_stream_read_opts(struct flo_wbuf *o, const struct flo_stream_read_args *a)
{
    int rc = 0;
    if (a->has_start) {
        rc = flo_opt_stream_id(o, FLO_OPT_STREAM_START, a->start.ts, a->start.seq);
    }
    if (rc == 0 && a->has_end) {
        rc = flo_opt_stream_id(o, FLO_OPT_STREAM_END, a->end.ts, a->end.seq);
    }
    if (rc == 0 && a->tail) {
        rc = flo_opt_flag(o, FLO_OPT_STREAM_TAIL);
    }
    if (rc == 0 && a->has_partition) {
        rc = flo_opt_u32(o, FLO_OPT_PARTITION, a->partition);
    }
    if (rc == 0 && a->partition_key.len != 0) {
        rc = flo_opt_bytes(o, FLO_OPT_PARTITION_KEY, a->partition_key.ptr, a->partition_key.len);
    }
    if (rc == 0 && a->count != 0) {
        rc = flo_opt_u32(o, FLO_OPT_COUNT, a->count);
        if (rc == 0 && a->legacy_limit) {
            rc = flo_opt_u32(o, FLO_OPT_LIMIT, a->count);
        }
    }
    if (rc == 0 && a->block_ms != 0) {
        rc = flo_opt_u32(o, FLO_OPT_BLOCK_MS, a->block_ms);
    }
    return rc;
}

void flo_stream_parse_read_opts(flo_buf_t opts, struct flo_stream_read_args *a)
{
    *a = (struct flo_stream_read_args){0};
    a->has_start = flo_opt_get_stream_id(opts, FLO_OPT_STREAM_START, &a->start.ts, &a->start.seq);
    a->has_end = flo_opt_get_stream_id(opts, FLO_OPT_STREAM_END, &a->end.ts, &a->end.seq);
    if (a->has_end && a->end.ts == 0) {
        a->has_end = false; /* the server ignores an end whose ts is 0 */
    }
    a->tail = flo_opt_has_flag(opts, FLO_OPT_STREAM_TAIL);
    a->has_partition = flo_opt_get_u32(opts, FLO_OPT_PARTITION, &a->partition);
    flo_buf_t pk;
    if (flo_opt_find(opts, FLO_OPT_PARTITION_KEY, &pk)) {
        a->partition_key = pk;
    }
    uint32_t n = 0;
    if (!flo_opt_get_u32(opts, FLO_OPT_COUNT, &n)) {
        a->legacy_limit = flo_opt_get_u32(opts, FLO_OPT_LIMIT, &n);
    }
    if (n == 0) {
        n = FLO_STREAM_DEFAULT_COUNT;
    }
    a->count = n > FLO_STREAM_MAX_COUNT ? FLO_STREAM_MAX_COUNT : n;
    if (!flo_opt_get_u32(opts, FLO_OPT_BLOCK_MS, &a->block_ms)) {
        a->block_ms = 0;
    }
}

int flo__stream_record_read(struct flo_cur *c, void *record)
{
    struct flo_stream_record *r = record;
    uint8_t kp = 0;
    *r = (struct flo_stream_record){0};
    flo_cur_u64(c, &r->id.seq);
    flo_cur_u64(c, &r->id.ts);
    flo_cur_u8(c, &r->tier);
    flo_cur_u32(c, &r->partition);
    flo_cur_u8(c, &kp);
    if (c->err != 0) {
        return c->err;
    }
    if (kp > 1) {
        return FLO_EMALFORMED;
    }
    r->key_present = kp == 1;
    if (r->key_present) {
        flo_cur_str32(c, &r->key);
    }
    flo_cur_str32(c, &r->payload);
    flo_cur_u32(c, &r->headers.count);
    if (c->err != 0) {
        return c->err;
    }
    r->headers.wide = true;
    return hdrs_skip(c, r->headers.count, true, &r->headers.raw);
}

int flo_stream_records_begin(flo_buf_t body, struct flo_stream_rec_iter *it, uint32_t *count)
{
    /* EMPTY_OK: a waiter-pool-full answer is status 0 with a 0-byte body. */
    struct flo_stream_record r;
    return flo__list_begin(body, &it->cur, &it->remaining, count, flo__stream_record_read, &r,
                           FLO__LIST_EMPTY_OK);
}

int flo_stream_records_next(struct flo_stream_rec_iter *it, struct flo_stream_record *r)
{
    return flo__list_next(&it->cur, &it->remaining, flo__stream_record_read, r);
}

int flo_stream_record_put(struct flo_wbuf *b, const struct flo_stream_record *r)
{
    int rc = flo_wbuf_u64(b, r->id.seq);
    if (rc == 0) {
        rc = flo_wbuf_u64(b, r->id.ts);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, r->tier);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, r->partition);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, r->key_present ? 1 : 0);
    }
    if (rc == 0 && r->key_present) {
        rc = flo__put_str32(b, r->key);
    }
    if (rc == 0) {
        rc = flo__put_str32(b, r->payload);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, r->headers.count);
    }
    struct flo_stream_hdr_iter it;
    struct flo_stream_header h;
    flo_stream_hdr_begin(&r->headers, &it);
    while (rc == 0) {
        int more = flo_stream_hdr_next(&it, &h);
        if (more <= 0) {
            rc = more == 0 ? 0 : FLO_EINVAL; /* a header block shorter than its count */
            break;
        }
        rc = flo__put_str32(b, h.key);
        if (rc == 0) {
            rc = flo__put_str32(b, h.val);
        }
    }
    return rc;
}

/* ---- trim ---- */

int flo_stream_trim_opts(struct flo_wbuf *o, const struct flo_stream_trim_args *a)
{
    int rc;
    switch (a->bound) {
    case FLO_TRIM_BEFORE:
        rc = flo_opt_stream_id(o, FLO_OPT_STREAM_START, a->before.ts, a->before.seq);
        break;
    case FLO_TRIM_MAXLEN:
        rc = a->maxlen ? flo_opt_u64(o, FLO_OPT_LIMIT, a->maxlen) : FLO_EINVAL;
        break;
    case FLO_TRIM_MAXAGE:
        rc = a->max_age_s ? flo_opt_u64(o, FLO_OPT_MAX_AGE_SECONDS, a->max_age_s) : FLO_EINVAL;
        break;
    default:
        return FLO_EINVAL;
    }
    if (rc == 0 && a->dry_run) {
        rc = flo_opt_flag(o, FLO_OPT_DRY_RUN);
    }
    return rc;
}

/* Options @3269efe2 refuses on trim, with the names its messages use. */
static const struct {
    uint8_t tag;
    const char *msg;
} trim_refused[] = {
    {FLO_OPT_MAX_BYTES, "stream trim: max_bytes is not supported; give before, maxlen or maxage"},
    {FLO_OPT_STREAM_END, "stream trim: end is not supported; give before, maxlen or maxage"},
    {FLO_OPT_RETENTION_COUNT,
     "stream trim: retention_count is not supported; give before, maxlen or maxage"},
    {FLO_OPT_RETENTION_AGE,
     "stream trim: retention_age is not supported; give before, maxlen or maxage"},
    {FLO_OPT_RETENTION_BYTES,
     "stream trim: retention_bytes is not supported; give before, maxlen or maxage"},
};

int flo_stream_parse_trim(flo_buf_t value, flo_buf_t opts, struct flo_stream_trim_args *a,
                          const char **errmsg)
{
    *a = (struct flo_stream_trim_args){0};
    *errmsg = NULL;
    if (value.len != 0) {
        *errmsg = "stream trim takes no value; give before, maxlen or maxage";
        return FLO_EMALFORMED;
    }
    flo_buf_t d;
    for (size_t i = 0; i < sizeof trim_refused / sizeof trim_refused[0]; i++) {
        if (flo_opt_find(opts, trim_refused[i].tag, &d)) {
            *errmsg = trim_refused[i].msg;
            return FLO_EMALFORMED;
        }
    }
    bool before = flo_opt_find(opts, FLO_OPT_STREAM_START, &d);
    bool maxlen = flo_opt_find(opts, FLO_OPT_LIMIT, &d);
    bool maxage = flo_opt_find(opts, FLO_OPT_MAX_AGE_SECONDS, &d);
    int bounds = (int)before + (int)maxlen + (int)maxage;
    if (bounds == 0) {
        *errmsg = "stream trim: give one of before, maxlen or maxage";
        return FLO_EMALFORMED;
    }
    if (bounds > 1) {
        *errmsg = "stream trim: give only one of before, maxlen or maxage";
        return FLO_EMALFORMED;
    }
    if (before) {
        a->bound = FLO_TRIM_BEFORE;
        if (!flo_opt_get_stream_id(opts, FLO_OPT_STREAM_START, &a->before.ts, &a->before.seq)) {
            *errmsg = "stream trim: before must be a 16-byte stream id";
            return FLO_EMALFORMED;
        }
        if (a->before.ts == 0 && a->before.seq == 0) {
            *errmsg = "stream trim: before must not be 0-0";
            return FLO_EMALFORMED;
        }
    } else if (maxlen) {
        a->bound = FLO_TRIM_MAXLEN;
        if (!flo_opt_get_u64(opts, FLO_OPT_LIMIT, &a->maxlen)) {
            *errmsg = "stream trim: maxlen must be a u64";
            return FLO_EMALFORMED;
        }
        if (a->maxlen == 0) {
            *errmsg = "stream trim: maxlen must be greater than 0";
            return FLO_EMALFORMED;
        }
    } else {
        a->bound = FLO_TRIM_MAXAGE;
        if (!flo_opt_get_u64(opts, FLO_OPT_MAX_AGE_SECONDS, &a->max_age_s)) {
            *errmsg = "stream trim: maxage must be a u64";
            return FLO_EMALFORMED;
        }
        if (a->max_age_s == 0) {
            *errmsg = "stream trim: maxage must be greater than 0";
            return FLO_EMALFORMED;
        }
    }
    a->dry_run = flo_opt_has_flag(opts, FLO_OPT_DRY_RUN);
    return 0;
}

int flo_stream_dec_trim(flo_buf_t body, uint64_t *deleted, uint64_t *first_seq)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u64(&c, deleted);
    flo_cur_u64(&c, first_seq);
    return flo__ops_end(&c);
}

int flo_stream_trim_reply_put(struct flo_wbuf *b, uint64_t deleted, uint64_t first_seq)
{
    int rc = flo_wbuf_u64(b, deleted);
    return rc ? rc : flo_wbuf_u64(b, first_seq);
}

/* ---- info / create / list ---- */

int flo_stream_dec_info(flo_buf_t body, struct flo_stream_info *s)
{
    if (body.len < FLO_STREAM_INFO_OLD_SIZE) {
        return FLO_ETRUNC;
    }
    if (body.len != FLO_STREAM_INFO_OLD_SIZE && body.len < FLO_STREAM_INFO_SIZE) {
        return FLO_EMALFORMED;
    }
    struct flo_cur c;
    flo_cur_init(&c, body);
    *s = (struct flo_stream_info){0};
    flo_cur_u64(&c, &s->first.ts);
    flo_cur_u64(&c, &s->first.seq);
    flo_cur_u64(&c, &s->last.ts);
    flo_cur_u64(&c, &s->last.seq);
    flo_cur_u64(&c, &s->count);
    flo_cur_u64(&c, &s->bytes);
    flo_cur_u32(&c, &s->partition_count);
    if (body.len >= FLO_STREAM_INFO_SIZE) {
        s->has_retention = true;
        flo_cur_u64(&c, &s->retention_age_s);
        flo_cur_u64(&c, &s->retention_count);
        flo_cur_u64(&c, &s->retention_bytes);
    }
    return c.err;
}

int flo_stream_info_put(struct flo_wbuf *b, const struct flo_stream_info *s)
{
    int rc = flo_wbuf_reserve(b, FLO_STREAM_INFO_SIZE);
    const uint64_t head[] = {s->first.ts, s->first.seq, s->last.ts,
                             s->last.seq, s->count,     s->bytes};
    for (size_t i = 0; rc == 0 && i < sizeof head / sizeof head[0]; i++) {
        rc = flo_wbuf_u64(b, head[i]);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, s->partition_count);
    }
    const uint64_t tail[] = {s->retention_age_s, s->retention_count, s->retention_bytes};
    for (size_t i = 0; rc == 0 && i < sizeof tail / sizeof tail[0]; i++) {
        rc = flo_wbuf_u64(b, tail[i]);
    }
    return rc;
}

int flo_stream_create_value(struct flo_wbuf *v, uint32_t partition_count)
{
    return partition_count ? flo_wbuf_u32(v, partition_count) : 0;
}

int flo_stream_parse_create(flo_buf_t value, uint32_t *partition_count)
{
    return flo__parse_u32_or(value, 1, partition_count);
}

static int list_entry_read(struct flo_cur *c, void *entry)
{
    struct flo_stream_list_entry *e = entry;
    flo_cur_str32(c, &e->name);
    flo_cur_u32(c, &e->partition_count);
    return c->err;
}

int flo_stream_list_begin(flo_buf_t body, struct flo_stream_list_iter *it, uint32_t *count)
{
    struct flo_stream_list_entry e;
    return flo__list_begin(body, &it->cur, &it->remaining, count, list_entry_read, &e,
                           FLO__LIST_TRAILER);
}

int flo_stream_list_next(struct flo_stream_list_iter *it, struct flo_stream_list_entry *e)
{
    return flo__list_next(&it->cur, &it->remaining, list_entry_read, e);
}

int flo_stream_list_entry_put(struct flo_wbuf *b, const struct flo_stream_list_entry *e)
{
    int rc = flo__put_str32(b, e->name);
    return rc ? rc : flo_wbuf_u32(b, e->partition_count);
}
