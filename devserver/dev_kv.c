/*
 * flo-dev's KV engine (see dev_kv.h): a uthash table of qualified keys, each
 * holding its last DEV_KV_HISTORY versions, with lazy expiry on read and a
 * sweep the server runs periodically. Versions come from one counter per
 * store, like a single-shard Raft log index: strictly increasing, never 0,
 * and never reused after a delete, so "version became greater" (wait_ms)
 * and CAS stay meaningful across delete/re-create.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_kv.h"
#include "flo/flo_error.h"

struct dev_kv {
    struct dev_kv_entry *table; /* uthash head, keyed by qkey bytes */
    uint64_t last_version;      /* highest version handed out */
    size_t ttl_keys;            /* entries with expire_at != 0 */
    uint64_t batch;             /* version shared by a batch's writes, 0 = none */
};

static const char *const reserved_prefixes[] = {
    "_action:", "_worker:", "_sys:", "_internal:", "_flo:"};

int dev_kv_new(struct dev_kv **out)
{
    struct dev_kv *kv = calloc(1, sizeof *kv);
    if (kv == NULL) {
        return FLO_ENOMEM;
    }
    *out = kv;
    return 0;
}

static void entry_free(struct dev_kv_entry *e)
{
    for (unsigned i = 0; i < e->hist_count; i++) {
        free(e->hist[i].val);
    }
    free(e->qkey);
    free(e);
}

static void entry_remove(struct dev_kv *kv, struct dev_kv_entry *e)
{
    if (e->expire_at != 0) {
        kv->ttl_keys--;
    }
    HASH_DEL(kv->table, e);
    entry_free(e);
}

void dev_kv_free(struct dev_kv *kv)
{
    if (kv == NULL) {
        return;
    }
    struct dev_kv_entry *e, *tmp;
    HASH_ITER(hh, kv->table, e, tmp)
    {
        HASH_DEL(kv->table, e);
        entry_free(e);
    }
    free(kv);
}

static bool is_default_ns(flo_buf_t ns)
{
    return ns.len == 0 ||
           (ns.len == strlen(DEV_KV_DEFAULT_NS) && memcmp(ns.ptr, DEV_KV_DEFAULT_NS, ns.len) == 0);
}

uint8_t dev_kv_qualify(flo_buf_t ns, flo_buf_t key, struct dev_qkey *out, const char **msg)
{
    *msg = NULL;
    if (key.len == 0) {
        *msg = "key is required";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (memchr(key.ptr, 0, key.len) != NULL) {
        *msg = "key must not contain NUL";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (ns.len > DEV_KV_MAX_NS) {
        *msg = "namespace name too long (max 63 bytes)";
        return FLO_STATUS_BAD_REQUEST;
    }
    /* A NUL in the namespace would make ns\0key ambiguous. */
    if (ns.len > 0 && memchr(ns.ptr, 0, ns.len) != NULL) {
        *msg = "namespace must not contain NUL";
        return FLO_STATUS_BAD_REQUEST;
    }
    size_t prefix = is_default_ns(ns) ? 0 : ns.len + 1;
    if (prefix + key.len > DEV_KV_MAX_QKEY) {
        *msg = "namespace + key too large";
        return FLO_STATUS_BAD_REQUEST;
    }
    if (prefix > 0) {
        memcpy(out->buf, ns.ptr, ns.len);
        out->buf[ns.len] = 0;
    }
    memcpy(out->buf + prefix, key.ptr, key.len);
    out->len = prefix + key.len;
    out->prefix = prefix;
    return FLO_STATUS_OK;
}

bool dev_kv_is_reserved(flo_buf_t key)
{
    for (size_t i = 0; i < sizeof reserved_prefixes / sizeof reserved_prefixes[0]; i++) {
        size_t n = strlen(reserved_prefixes[i]);
        if (key.len >= n && memcmp(key.ptr, reserved_prefixes[i], n) == 0) {
            return true;
        }
    }
    return false;
}

static bool expired(const struct dev_kv_entry *e, uint64_t now)
{
    return e->expire_at != 0 && e->expire_at <= now;
}

/* The stored entry, expired or not. */
static struct dev_kv_entry *find_raw(struct dev_kv *kv, const struct dev_qkey *k)
{
    struct dev_kv_entry *e = NULL;
    HASH_FIND(hh, kv->table, k->buf, k->len, e);
    return e;
}

/* The live entry; an expired one is freed on the spot (lazy expiry). */
static struct dev_kv_entry *find_live(struct dev_kv *kv, const struct dev_qkey *k, uint64_t now)
{
    struct dev_kv_entry *e = find_raw(kv, k);
    if (e != NULL && expired(e, now)) {
        entry_remove(kv, e);
        return NULL;
    }
    return e;
}

const struct dev_kv_entry *dev_kv_lookup(struct dev_kv *kv, const struct dev_qkey *k, uint64_t now)
{
    return find_live(kv, k, now);
}

static void set_expiry(struct dev_kv *kv, struct dev_kv_entry *e, uint64_t expire_at)
{
    if (e->expire_at == 0 && expire_at != 0) {
        kv->ttl_keys++;
    } else if (e->expire_at != 0 && expire_at == 0) {
        kv->ttl_keys--;
    }
    e->expire_at = expire_at;
}

/* now + ttl, or false on overflow. */
static bool expiry_of(uint64_t now, uint64_t ttl_ms, uint64_t *at)
{
    if (ttl_ms > UINT64_MAX - now) {
        return false;
    }
    *at = now + ttl_ms;
    return true;
}

/*
 * Make `value` the newest version of `e` (a new entry when e is NULL).
 * The oldest retained version falls off when the chain is full. Returns the
 * entry or NULL on memory failure (the store is then unchanged).
 */
static struct dev_kv_entry *write_version(struct dev_kv *kv, struct dev_kv_entry *e,
                                          const struct dev_qkey *k, flo_buf_t value)
{
    uint8_t *copy = NULL;
    if (value.len > 0) {
        copy = malloc(value.len);
        if (copy == NULL) {
            return NULL;
        }
        memcpy(copy, value.ptr, value.len);
    }
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        uint8_t *qk = malloc(k->len);
        if (e == NULL || qk == NULL) {
            free(e);
            free(qk);
            free(copy);
            return NULL;
        }
        memcpy(qk, k->buf, k->len);
        e->qkey = qk;
        e->qlen = k->len;
        HASH_ADD_KEYPTR(hh, kv->table, e->qkey, e->qlen, e);
    } else if (kv->batch != 0 && e->hist[0].version == kv->batch) {
        /* Second write of this key in one batch: same version, one slot. */
        free(e->hist[0].val);
        e->hist[0].val = copy;
        e->hist[0].len = value.len;
        return e;
    } else {
        if (e->hist_count == DEV_KV_HISTORY) {
            free(e->hist[DEV_KV_HISTORY - 1].val);
            e->hist_count--;
        }
        memmove(&e->hist[1], &e->hist[0], e->hist_count * sizeof e->hist[0]);
    }
    e->hist[0].val = copy;
    e->hist[0].len = value.len;
    e->hist[0].version = kv->batch != 0 ? kv->batch : ++kv->last_version;
    e->hist_count++;
    return e;
}

uint8_t dev_kv_put(struct dev_kv *kv, const struct dev_qkey *k, flo_buf_t value,
                   const struct dev_kv_put_opts *o, uint64_t now, uint64_t *version,
                   const char **msg)
{
    *msg = NULL;
    struct dev_kv_entry *e = find_live(kv, k, now);
    uint64_t cur = e != NULL ? e->hist[0].version : 0;
    /* §7.1 order: CAS, NX, XX, then the TTL option. */
    if (o->has_cas && cur != o->cas) {
        return FLO_STATUS_CONFLICT;
    }
    if (o->nx && e != NULL) {
        return FLO_STATUS_CONFLICT;
    }
    if (o->xx && e == NULL) {
        return FLO_STATUS_CONFLICT;
    }
    uint64_t expire_at = 0;
    if (o->has_ttl) {
        if (o->ttl_bad_width) {
            *msg = "ttl_ms must be 8 bytes (a u64 of milliseconds)";
            return FLO_STATUS_BAD_REQUEST;
        }
        if (o->ttl_ms != 0 && !expiry_of(now, o->ttl_ms, &expire_at)) {
            *msg = "ttl too large";
            return FLO_STATUS_BAD_REQUEST;
        }
    }
    e = write_version(kv, e, k, value);
    if (e == NULL) {
        *msg = "internal error: out of memory";
        return FLO_STATUS_INTERNAL;
    }
    set_expiry(kv, e, expire_at);
    *version = e->hist[0].version;
    return FLO_STATUS_OK;
}

uint8_t dev_kv_delete(struct dev_kv *kv, const struct dev_qkey *k, bool has_cas, uint64_t cas,
                      uint64_t now, const char **msg)
{
    *msg = NULL;
    struct dev_kv_entry *e = find_live(kv, k, now);
    if (e == NULL) {
        return FLO_STATUS_NOT_FOUND;
    }
    if (has_cas && e->hist[0].version != cas) {
        return FLO_STATUS_CONFLICT;
    }
    entry_remove(kv, e);
    return FLO_STATUS_OK;
}

uint8_t dev_kv_incr(struct dev_kv *kv, const struct dev_qkey *k, int64_t delta, uint64_t now,
                    uint64_t *version, int64_t *value, const char **msg)
{
    *msg = NULL;
    struct dev_kv_entry *e = find_live(kv, k, now);
    int64_t cur = 0;
    if (e != NULL) {
        if (e->hist[0].len != 8) {
            *msg = DEV_KV_MSG_NOT_COUNTER;
            return FLO_STATUS_BAD_REQUEST;
        }
        cur = (int64_t)flo_ld64(e->hist[0].val);
    }
    int64_t next;
    if (__builtin_add_overflow(cur, delta, &next)) {
        *msg = DEV_KV_MSG_OVERFLOW;
        return FLO_STATUS_INTERNAL;
    }
    uint8_t buf[8];
    flo_st64(buf, (uint64_t)next);
    uint64_t keep_expiry = e != NULL ? e->expire_at : 0;
    e = write_version(kv, e, k, FLO_BUF(buf, sizeof buf));
    if (e == NULL) {
        *msg = "internal error: out of memory";
        return FLO_STATUS_INTERNAL;
    }
    set_expiry(kv, e, keep_expiry);
    *version = e->hist[0].version;
    *value = next;
    return FLO_STATUS_OK;
}

uint8_t dev_kv_set_ttl(struct dev_kv *kv, const struct dev_qkey *k, uint64_t ttl_ms, bool has_cas,
                       uint64_t cas, uint64_t now, const char **msg)
{
    *msg = NULL;
    struct dev_kv_entry *e = find_live(kv, k, now);
    if (e == NULL) {
        return FLO_STATUS_NOT_FOUND;
    }
    if (has_cas && e->hist[0].version != cas) {
        return FLO_STATUS_CONFLICT;
    }
    uint64_t at = 0;
    if (ttl_ms != 0 && !expiry_of(now, ttl_ms, &at)) {
        *msg = "ttl too large";
        return FLO_STATUS_BAD_REQUEST;
    }
    set_expiry(kv, e, at);
    return FLO_STATUS_OK;
}

static int key_cmp(flo_buf_t a, flo_buf_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static int key_cmp_qsort(const void *a, const void *b)
{
    return key_cmp(*(const flo_buf_t *)a, *(const flo_buf_t *)b);
}

/* The user key of `e` if it belongs to namespace `ns` (given as its "ns\0"
 * stored prefix, empty for default), else false. */
static bool key_in_ns(const struct dev_kv_entry *e, flo_buf_t nsprefix, flo_buf_t *user)
{
    if (nsprefix.len == 0) {
        /* default: keys of other namespaces are the ones containing 0x00 */
        if (memchr(e->qkey, 0, e->qlen) != NULL) {
            return false;
        }
        *user = FLO_BUF(e->qkey, e->qlen);
        return true;
    }
    if (e->qlen <= nsprefix.len || memcmp(e->qkey, nsprefix.ptr, nsprefix.len) != 0) {
        return false;
    }
    *user = FLO_BUF(e->qkey + nsprefix.len, e->qlen - nsprefix.len);
    return true;
}

/* The page under construction: a max-heap (by key order) of the smallest
 * matching keys seen so far, at most `keep` of them. */
struct scan_heap {
    flo_buf_t *k;
    size_t n, cap, keep;
};

static void heap_swap(flo_buf_t *a, flo_buf_t *b)
{
    flo_buf_t t = *a;
    *a = *b;
    *b = t;
}

static void heap_sift_down(struct scan_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && key_cmp(h->k[l], h->k[m]) > 0) {
            m = l;
        }
        if (r < h->n && key_cmp(h->k[r], h->k[m]) > 0) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(&h->k[i], &h->k[m]);
        i = m;
    }
}

/* Offer a key: kept if the heap has room or it sorts before the greatest
 * kept key (which then drops out). 0 or FLO_ENOMEM. */
static int heap_offer(struct scan_heap *h, flo_buf_t key)
{
    if (h->n == h->keep) {
        if (h->n == 0 || key_cmp(key, h->k[0]) >= 0) {
            return 0;
        }
        h->k[0] = key;
        heap_sift_down(h, 0);
        return 0;
    }
    if (h->n == h->cap) {
        size_t ncap = h->cap == 0 ? 64 : h->cap * 2;
        if (ncap > h->keep) {
            ncap = h->keep;
        }
        flo_buf_t *nk = realloc(h->k, ncap * sizeof *nk);
        if (nk == NULL) {
            return FLO_ENOMEM;
        }
        h->k = nk;
        h->cap = ncap;
    }
    size_t i = h->n++;
    h->k[i] = key;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (key_cmp(h->k[i], h->k[p]) <= 0) {
            break;
        }
        heap_swap(&h->k[i], &h->k[p]);
        i = p;
    }
    return 0;
}

int dev_kv_scan(struct dev_kv *kv, flo_buf_t ns, flo_buf_t prefix, flo_buf_t cursor, size_t limit,
                uint64_t now, flo_buf_t **keys, size_t *n, bool *has_more)
{
    *keys = NULL;
    *n = 0;
    *has_more = false;
    /* A prefix with 0x00 can never match a user key (§7.5). */
    if (prefix.len > 0 && memchr(prefix.ptr, 0, prefix.len) != NULL) {
        return 0;
    }
    uint8_t nsbuf[DEV_KV_MAX_NS + 1];
    flo_buf_t nsprefix = FLO_BUF_NULL;
    if (!is_default_ns(ns)) {
        if (ns.len > DEV_KV_MAX_NS) {
            return 0;
        }
        memcpy(nsbuf, ns.ptr, ns.len);
        nsbuf[ns.len] = 0;
        nsprefix = FLO_BUF(nsbuf, ns.len + 1);
    }
    /* One key beyond the page tells whether more follow. */
    struct scan_heap h = {.keep = limit < SIZE_MAX ? limit + 1 : limit};
    struct dev_kv_entry *e, *tmp;
    HASH_ITER(hh, kv->table, e, tmp)
    {
        flo_buf_t user;
        if (expired(e, now) || !key_in_ns(e, nsprefix, &user)) {
            continue;
        }
        if (prefix.len > 0 &&
            (user.len < prefix.len || memcmp(user.ptr, prefix.ptr, prefix.len) != 0)) {
            continue;
        }
        if (dev_kv_is_reserved(user)) {
            continue;
        }
        if (cursor.len > 0 && key_cmp(user, cursor) <= 0) {
            continue;
        }
        if (heap_offer(&h, user) != 0) {
            free(h.k);
            return FLO_ENOMEM;
        }
    }
    size_t cnt = h.n;
    if (cnt > 0) {
        qsort(h.k, cnt, sizeof *h.k, key_cmp_qsort);
    }
    if (cnt > limit) {
        *has_more = true;
        cnt = limit;
    }
    if (cnt == 0) {
        free(h.k);
        h.k = NULL;
    }
    *keys = h.k;
    *n = cnt;
    return 0;
}

uint64_t dev_kv_batch_begin(struct dev_kv *kv)
{
    kv->batch = ++kv->last_version;
    return kv->batch;
}

void dev_kv_batch_end(struct dev_kv *kv)
{
    kv->batch = 0;
}

uint64_t dev_kv_last_version(const struct dev_kv *kv)
{
    return kv->last_version;
}

size_t dev_kv_sweep(struct dev_kv *kv, uint64_t now)
{
    size_t freed = 0;
    if (kv->ttl_keys == 0) {
        return 0;
    }
    struct dev_kv_entry *e, *tmp;
    HASH_ITER(hh, kv->table, e, tmp)
    {
        if (expired(e, now)) {
            entry_remove(kv, e);
            freed++;
        }
    }
    return freed;
}

size_t dev_kv_count(const struct dev_kv *kv)
{
    return HASH_COUNT(kv->table);
}

size_t dev_kv_ttl_count(const struct dev_kv *kv)
{
    return kv->ttl_keys;
}
