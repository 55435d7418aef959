/*
 * flo-dev's stream engine (dev_stream.h): per-stream id assignment that
 * never goes backwards, appends stored whole in a ring, reads by id range
 * with the whole-append count budget, trim by before/maxlen/maxage, info,
 * create/alter/delete/list and retention. Consumer groups are in
 * dev_group.c on the same structures (dev_stream_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_stream_internal.h"
#include "dev_wyhash.h"
#include "flo/flo_codec.h"
#include "flo/flo_error.h"

#define DEFAULT_NS      "default"
#define RING_MIN        16 /* first ring allocation */
#define REC_REPLY_FIXED 30 /* bytes of a read-reply record besides payload and headers */
#define MS_PER_S        1000ull

static const char oom_msg[] = "internal error: out of memory";

/* ---- engine lifetime ---- */

int dev_streams_new(const struct dev_stream_clock *clk, struct dev_streams **out)
{
    struct dev_streams *ss = calloc(1, sizeof *ss);
    if (ss == NULL) {
        return FLO_ENOMEM;
    }
    ss->clk = *clk;
    *out = ss;
    return 0;
}

static void remove_front(struct dev_streams *ss, struct dev_stream *s, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        struct dev_append *a = dev__stream_app(s, i);
        s->records -= a->n;
        s->bytes -= a->vlen;
        ss->records -= a->n;
        ss->bytes -= a->vlen;
        free(a);
    }
    if (k > 0) {
        s->head = (s->head + k) % s->cap;
        s->len -= k;
    }
}

static void stream_free(struct dev_streams *ss, struct dev_stream *s)
{
    dev__groups_free(s);
    remove_front(ss, s, s->len);
    HASH_DEL(ss->streams, s);
    ss->n_streams--;
    free(s->ring);
    free(s->key);
    free(s);
}

void dev_streams_free(struct dev_streams *ss)
{
    if (ss == NULL) {
        return;
    }
    struct dev_stream *s, *tmp;
    HASH_ITER(hh, ss->streams, s, tmp)
    {
        stream_free(ss, s);
    }
    free(ss);
}

uint64_t dev_streams_record_count(const struct dev_streams *ss)
{
    return ss->records;
}

uint64_t dev_streams_byte_count(const struct dev_streams *ss)
{
    return ss->bytes;
}

/* ---- names ---- */

static bool is_default_ns(flo_buf_t ns)
{
    return ns.len == 0 || (ns.len == strlen(DEFAULT_NS) && memcmp(ns.ptr, DEFAULT_NS, ns.len) == 0);
}

/* Namespace checks shared by keyed calls and list. */
static uint8_t check_ns(flo_buf_t *ns, const char **msg)
{
    if (ns->len > DEV_STREAM_MAX_NS) {
        *msg = "namespace name too long (max 63 bytes)";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (ns->len > 0 && memchr(ns->ptr, 0, ns->len) != NULL) {
        *msg = "namespace must not contain NUL";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (is_default_ns(*ns)) {
        *ns = FLO_BUF_STR(DEFAULT_NS);
    }
    return FLO_STATUS_OK;
}

uint8_t dev_stream_make_key(flo_buf_t ns, flo_buf_t name, uint8_t *buf, size_t *len, size_t *ns_len,
                            const char **msg)
{
    *msg = NULL;
    if (name.len == 0) {
        *msg = DEV_STREAM_MSG_NAME_REQUIRED;
        return FLO_STATUS_BAD_REQUEST;
    }
    if (memchr(name.ptr, 0, name.len) != NULL) {
        *msg = DEV_STREAM_MSG_NAME_NUL;
        return FLO_STATUS_BAD_REQUEST;
    }
    uint8_t st = check_ns(&ns, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (ns.len + 1 + name.len > DEV_STREAM_MAX_NAME) {
        *msg = DEV_STREAM_MSG_NAME_LONG;
        return FLO_STATUS_BAD_REQUEST;
    }
    memcpy(buf, ns.ptr, ns.len);
    buf[ns.len] = 0;
    memcpy(buf + ns.len + 1, name.ptr, name.len);
    *len = ns.len + 1 + name.len;
    if (ns_len != NULL) {
        *ns_len = ns.len;
    }
    return FLO_STATUS_OK;
}

uint8_t dev__stream_find(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, bool create,
                         struct dev_stream **s, const char **msg)
{
    uint8_t key[DEV_STREAM_MAX_NAME];
    size_t klen, ns_len;
    *s = NULL;
    uint8_t st = dev_stream_make_key(ns, name, key, &klen, &ns_len, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_stream *found = NULL;
    HASH_FIND(hh, ss->streams, key, klen, found);
    if (found != NULL || !create) {
        *s = found;
        return FLO_STATUS_OK;
    }
    if (ss->n_streams >= DEV_STREAM_MAX_STREAMS) {
        *msg = "flo-dev stream limit reached (100000 streams)";
        return FLO_STATUS_OVERLOADED;
    }
    struct dev_stream *ns_ = calloc(1, sizeof *ns_);
    uint8_t *k = malloc(klen);
    if (ns_ == NULL || k == NULL) {
        free(ns_);
        free(k);
        *msg = oom_msg;
        return FLO_STATUS_INTERNAL;
    }
    memcpy(k, key, klen);
    ns_->key = k;
    ns_->klen = klen;
    ns_->ns_len = ns_len;
    ns_->partition_count = 1;
    HASH_ADD_KEYPTR(hh, ss->streams, ns_->key, ns_->klen, ns_);
    ss->n_streams++;
    *s = ns_;
    return FLO_STATUS_OK;
}

/* ---- append ---- */

/* Make room for one more append in the ring. */
static int ring_reserve(struct dev_stream *s)
{
    if (s->len < s->cap) {
        return 0;
    }
    size_t ncap = s->cap == 0 ? RING_MIN : s->cap * 2;
    struct dev_append **nr = malloc(ncap * sizeof *nr);
    if (nr == NULL) {
        return FLO_ENOMEM;
    }
    for (size_t i = 0; i < s->len; i++) {
        nr[i] = dev__stream_app(s, i);
    }
    free(s->ring);
    s->ring = nr;
    s->cap = ncap;
    s->head = 0;
    return 0;
}

/* Build an append from a validated batch (count records). */
static struct dev_append *append_build(flo_buf_t value, uint32_t count)
{
    size_t recs = (size_t)count * sizeof(struct dev_rec);
    struct dev_append *a = malloc(sizeof *a + recs + value.len);
    if (a == NULL) {
        return NULL;
    }
    a->n = count;
    a->vlen = value.len;
    a->value = (uint8_t *)a + sizeof *a + recs;
    memcpy(a->value, value.ptr, value.len);
    struct flo_stream_batch_iter it;
    struct flo_stream_batch_rec r;
    uint32_t n;
    /* Parse the copy so the offsets below are relative to it. */
    (void)flo_stream_parse_batch(FLO_BUF(a->value, a->vlen), &it, &n);
    for (uint32_t i = 0; i < count && flo_stream_batch_next(&it, &r) == 1; i++) {
        a->recs[i] = (struct dev_rec){
            .poff = (uint32_t)(r.payload.ptr - a->value),
            .plen = (uint32_t)r.payload.len,
            .hoff = (uint32_t)(r.headers.raw.len > 0 ? r.headers.raw.ptr - a->value : 0),
            .hlen = (uint32_t)r.headers.raw.len,
            .hcount = r.headers.count,
        };
    }
    return a;
}

static struct flo_stream_id next_id(const struct dev_streams *ss, const struct dev_stream *s)
{
    uint64_t wall = ss->clk.wall_ms(ss->clk.ud);
    if (!s->has_last || wall > s->last_id.ts) {
        return (struct flo_stream_id){wall, 0};
    }
    /* Same millisecond, or the clock went back: keep the last timestamp. */
    return (struct flo_stream_id){s->last_id.ts, s->last_id.seq + 1};
}

static uint32_t pick_partition(const struct dev_stream *s, bool has_partition, uint32_t partition,
                               flo_buf_t partition_key)
{
    if (has_partition) {
        return partition;
    }
    if (partition_key.len > 0) {
        uint32_t pc = s->partition_count > 0 ? s->partition_count : 1;
        return (uint32_t)(dev_wyhash(0, partition_key.ptr, partition_key.len) % pc);
    }
    return 0;
}

static size_t trim_plan_maxlen(const struct dev_stream *s, uint64_t maxlen);

uint8_t dev_stream_append(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, flo_buf_t value,
                          bool has_partition, uint32_t partition, flo_buf_t partition_key,
                          struct flo_stream_id *first, const char **msg)
{
    uint8_t key[DEV_STREAM_MAX_NAME];
    size_t klen;
    uint8_t st = dev_stream_make_key(ns, name, key, &klen, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct flo_stream_batch_iter it;
    uint32_t count = 0;
    int rc = flo_stream_parse_batch(value, &it, &count);
    if (rc == FLO_ELIMIT) {
        snprintf(ss->errbuf, sizeof ss->errbuf,
                 "stream append: a batch of %u records is over the limit of %u", count,
                 (unsigned)FLO_STREAM_MAX_BATCH);
        *msg = ss->errbuf;
        return FLO_STATUS_BAD_REQUEST;
    }
    if (rc != 0 || count == 0) {
        *msg = DEV_STREAM_MSG_MALFORMED;
        return FLO_STATUS_BAD_REQUEST;
    }
    if (ss->records + count > DEV_STREAM_MAX_RECORDS ||
        ss->bytes + value.len > DEV_STREAM_MAX_BYTES) {
        *msg = "flo-dev stream storage is full (10000000 records or 1 GiB); trim or delete streams";
        return FLO_STATUS_OVERLOADED;
    }
    struct dev_stream *s;
    st = dev__stream_find(ss, ns, name, true, &s, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_append *a = NULL;
    if (ring_reserve(s) != 0 || (a = append_build(value, count)) == NULL) {
        *msg = oom_msg;
        return FLO_STATUS_INTERNAL;
    }
    a->first = next_id(ss, s);
    a->partition = pick_partition(s, has_partition, partition, partition_key);
    s->ring[(s->head + s->len) % s->cap] = a;
    s->len++;
    s->last_id = dev__app_last(a);
    s->has_last = true;
    s->records += count;
    s->bytes += value.len;
    ss->records += count;
    ss->bytes += value.len;
    s->listed = true;
    *first = a->first;
    if (s->retention_count > 0) {
        remove_front(ss, s, trim_plan_maxlen(s, s->retention_count));
    }
    return FLO_STATUS_OK;
}

/* ---- read ---- */

static void fill_record(const struct dev_append *a, uint32_t i, struct flo_stream_record *r)
{
    const struct dev_rec *rec = &a->recs[i];
    *r = (struct flo_stream_record){
        .id = {a->first.ts, a->first.seq + i},
        .tier = 0,
        .partition = a->partition,
        .key_present = false,
        .payload = FLO_BUF(a->value + rec->poff, rec->plen),
        .headers = {.raw = FLO_BUF(rec->hlen > 0 ? a->value + rec->hoff : a->value, rec->hlen),
                    .count = rec->hcount,
                    .wide = false},
    };
}

/* Index of the first append whose last id is > id (s->len if none). */
static size_t first_after(const struct dev_stream *s, struct flo_stream_id id)
{
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (flo_stream_id_cmp(dev__app_last(dev__stream_app(s, mid)), id) > 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

size_t dev__stream_collect(const struct dev_stream *s, bool has_after, struct flo_stream_id after,
                           bool has_end, struct flo_stream_id end, bool has_partition,
                           uint32_t partition, uint32_t count, struct flo_stream_record *out,
                           struct flo_stream_id *last)
{
    if (count == 0) {
        count = FLO_STREAM_DEFAULT_COUNT;
    }
    if (count > FLO_STREAM_MAX_COUNT) {
        count = FLO_STREAM_MAX_COUNT;
    }
    /* A bare sequence (ts 0) sorts before every real id: from the start. */
    bool from_start = !has_after || after.ts == 0;
    size_t total = 0, bytes = 0;
    for (size_t i = from_start ? 0 : first_after(s, after); i < s->len; i++) {
        const struct dev_append *a = dev__stream_app(s, i);
        if (has_end && flo_stream_id_cmp(a->first, end) > 0) {
            break;
        }
        if (has_partition && a->partition != partition) {
            continue;
        }
        uint32_t lo = 0, hi = a->n;
        if (!from_start && flo_stream_id_cmp(a->first, after) <= 0) {
            lo = (uint32_t)(after.seq - a->first.seq + 1); /* same ms: start inside */
        }
        bool stop = false;
        if (has_end && flo_stream_id_cmp(dev__app_last(a), end) > 0) {
            hi = (uint32_t)(end.seq - a->first.seq + 1); /* same ms: end inside */
            stop = true;
        }
        size_t take = hi - lo, est = 0;
        for (uint32_t k = lo; k < hi; k++) {
            est += REC_REPLY_FIXED + a->recs[k].plen + a->recs[k].hlen + 4u * a->recs[k].hcount;
        }
        if (total > 0 && (total + take > count || bytes + est > DEV_STREAM_READ_MAX_BYTES)) {
            break;
        }
        for (uint32_t k = lo; k < hi; k++) {
            fill_record(a, k, &out[total++]);
        }
        bytes += est;
        if (last != NULL && take > 0) {
            *last = out[total - 1].id;
        }
        if (stop) {
            break;
        }
    }
    return total;
}

bool dev__stream_lookup(const struct dev_stream *s, struct flo_stream_id id,
                        struct flo_stream_record *out)
{
    /* First append whose last id is >= id, i.e. > (id - 1). */
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (flo_stream_id_cmp(dev__app_last(dev__stream_app(s, mid)), id) >= 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if (lo == s->len) {
        return false;
    }
    const struct dev_append *a = dev__stream_app(s, lo);
    if (flo_stream_id_cmp(a->first, id) > 0) {
        return false;
    }
    fill_record(a, (uint32_t)(id.seq - a->first.seq), out);
    return true;
}

uint8_t dev_stream_read(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        struct dev_stream_read_args *a, struct flo_stream_record *out, size_t *n,
                        const char **msg)
{
    struct dev_stream *s;
    *n = 0;
    uint8_t st = dev__stream_find(ss, ns, name, false, &s, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (a->tail) {
        a->tail = false;
        a->has_start = s != NULL && s->has_last;
        a->start = a->has_start ? s->last_id : (struct flo_stream_id){0, 0};
    }
    if (!a->has_partition && a->partition_key.len > 0) {
        uint32_t pc = s != NULL && s->partition_count > 0 ? s->partition_count : 1;
        a->has_partition = true;
        a->partition = (uint32_t)(dev_wyhash(0, a->partition_key.ptr, a->partition_key.len) % pc);
    }
    a->partition_key = FLO_BUF_NULL;
    if (s == NULL) {
        return FLO_STATUS_OK;
    }
    *n = dev__stream_collect(s, a->has_start, a->start, a->has_end, a->end, a->has_partition,
                             a->partition, a->count, out, NULL);
    return FLO_STATUS_OK;
}

/* ---- trim ---- */

static size_t trim_plan_maxlen(const struct dev_stream *s, uint64_t maxlen)
{
    uint64_t remaining = s->records;
    size_t k = 0;
    while (k < s->len) {
        uint32_t n = dev__stream_app(s, k)->n;
        if (remaining - n < maxlen) {
            break;
        }
        remaining -= n;
        k++;
    }
    return k;
}

static size_t trim_plan_maxage(const struct dev_streams *ss, const struct dev_stream *s,
                               uint64_t max_age_s)
{
    uint64_t wall = ss->clk.wall_ms(ss->clk.ud);
    uint64_t span = max_age_s > UINT64_MAX / MS_PER_S ? UINT64_MAX : max_age_s * MS_PER_S;
    if (span >= wall) {
        return 0; /* nothing can be older than the epoch */
    }
    uint64_t cutoff = wall - span;
    size_t k = 0;
    while (k < s->len && dev__stream_app(s, k)->first.ts < cutoff) {
        k++;
    }
    return k;
}

static size_t trim_plan_before(const struct dev_stream *s, struct flo_stream_id before)
{
    size_t k = 0;
    while (k < s->len && flo_stream_id_cmp(dev__app_last(dev__stream_app(s, k)), before) <= 0) {
        k++;
    }
    return k;
}

uint8_t dev_stream_trim(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        const struct flo_stream_trim_args *a, uint64_t *deleted,
                        uint64_t *first_seq, const char **msg)
{
    struct dev_stream *s;
    *deleted = 0;
    *first_seq = 0;
    uint8_t st = dev__stream_find(ss, ns, name, false, &s, msg);
    if (st != FLO_STATUS_OK || s == NULL) {
        return st;
    }
    size_t k = 0;
    switch (a->bound) {
    case FLO_TRIM_BEFORE:
        k = trim_plan_before(s, a->before);
        break;
    case FLO_TRIM_MAXLEN:
        k = trim_plan_maxlen(s, a->maxlen);
        break;
    case FLO_TRIM_MAXAGE:
        k = trim_plan_maxage(ss, s, a->max_age_s);
        break;
    }
    *deleted = k;
    *first_seq = k < s->len ? dev__stream_app(s, k)->first.seq : 0;
    if (!a->dry_run) {
        remove_front(ss, s, k);
    }
    return FLO_STATUS_OK;
}

/* ---- info, create, alter, delete, list ---- */

uint8_t dev_stream_info(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        struct flo_stream_info *out, const char **msg)
{
    *out = (struct flo_stream_info){.partition_count = 1, .has_retention = true};
    *msg = NULL;
    if (name.len == 0) {
        return FLO_STATUS_OK; /* no such stream: zeros, as an unknown one */
    }
    struct dev_stream *s;
    uint8_t st = dev__stream_find(ss, ns, name, false, &s, msg);
    if (st != FLO_STATUS_OK || s == NULL) {
        return st;
    }
    if (s->len > 0) {
        out->first = dev__stream_app(s, 0)->first;
        out->last = dev__app_last(dev__stream_app(s, s->len - 1));
    }
    out->count = s->records;
    out->bytes = s->bytes;
    out->partition_count = s->partition_count > 0 ? s->partition_count : 1;
    out->retention_age_s = s->retention_age_s;
    out->retention_count = s->retention_count;
    return FLO_STATUS_OK;
}

uint8_t dev_stream_create(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                          const struct dev_stream_meta *m, const char **msg)
{
    if (m->partition_count > DEV_STREAM_MAX_PARTITIONS) {
        *msg = "stream partition count too large (max 65536)";
        return FLO_STATUS_BAD_REQUEST;
    }
    struct dev_stream *s;
    uint8_t st = dev__stream_find(ss, ns, name, true, &s, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    s->partition_count = m->partition_count > 0 ? m->partition_count : 1;
    s->retention_age_s = m->retention_age_s;
    s->retention_count = m->retention_count;
    s->created = true;
    s->listed = true;
    if (s->retention_count > 0) {
        remove_front(ss, s, trim_plan_maxlen(s, s->retention_count));
    }
    return FLO_STATUS_OK;
}

uint8_t dev_stream_alter(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                         const struct dev_stream_meta *m, const char **msg)
{
    struct dev_stream *s;
    uint8_t st = dev__stream_find(ss, ns, name, false, &s, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (s == NULL || !s->created) {
        *msg = DEV_STREAM_MSG_NOT_FOUND;
        return FLO_STATUS_NOT_FOUND;
    }
    if (m->retention_age_s > 0) {
        s->retention_age_s = m->retention_age_s;
    }
    if (m->retention_count > 0) {
        s->retention_count = m->retention_count;
        remove_front(ss, s, trim_plan_maxlen(s, s->retention_count));
    }
    return FLO_STATUS_OK;
}

uint8_t dev_stream_delete(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, bool force,
                          const char **msg)
{
    struct dev_stream *s;
    uint8_t st = dev__stream_find(ss, ns, name, false, &s, msg);
    if (st != FLO_STATUS_OK || s == NULL) {
        return st;
    }
    if (s->records > 0 && !force) {
        *msg = DEV_STREAM_MSG_NOT_EMPTY;
        return FLO_STATUS_CONFLICT;
    }
    stream_free(ss, s);
    return FLO_STATUS_OK;
}

uint8_t dev_stream_each(struct dev_streams *ss, flo_buf_t ns,
                        bool (*fn)(flo_buf_t name, uint32_t partition_count, void *ud), void *ud,
                        const char **msg)
{
    *msg = NULL;
    uint8_t st = check_ns(&ns, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_stream *s, *tmp;
    HASH_ITER(hh, ss->streams, s, tmp)
    {
        if (!s->listed || s->ns_len != ns.len || memcmp(s->key, ns.ptr, ns.len) != 0) {
            continue;
        }
        flo_buf_t nm = FLO_BUF(s->key + s->ns_len + 1, s->klen - s->ns_len - 1);
        if (!fn(nm, s->partition_count > 0 ? s->partition_count : 1, ud)) {
            break;
        }
    }
    return FLO_STATUS_OK;
}

/* ---- periodic work ---- */

size_t dev_streams_sweep(struct dev_streams *ss)
{
    uint64_t now = ss->clk.mono_ms(ss->clk.ud);
    size_t dropped = 0;
    struct dev_stream *s, *tmp;
    HASH_ITER(hh, ss->streams, s, tmp)
    {
        if (s->retention_age_s > 0) {
            remove_front(ss, s, trim_plan_maxage(ss, s, s->retention_age_s));
        }
        dropped += dev__groups_sweep(s, now);
    }
    return dropped;
}
