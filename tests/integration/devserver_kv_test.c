/*
 * Integration tests of flo-dev's KV semantics for issue 4 (shared/
 * flo-protocol-core.md §7), over real sockets against the flo-dev binary:
 * mget (1..256 keys, missing keys, exact error texts), scan walk pagination
 * (cursor, limit, keys only, prefix, namespaces, keys added and removed
 * between pages), history, incr (deltas, type conflicts, overflow), touch
 * and persist, every JSON path form, transactions (caps, refused ops,
 * buffered reads, atomic commit re-checking conditions, rollback), and
 * blocking reads (block_ms / wait_ms). Every read has a socket timeout.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_wire.h"

static void start_plain(void)
{
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0, "flo-dev did not start");
}

/* Stop flo-dev (a clean exit runs LeakSanitizer in a sanitizer build) and
 * require its log to be free of sanitizer reports. */
static void stop_dev(void)
{
    ts_stop(&dev.proc);
    FILE *f = fopen(dev.proc.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        cr_assert_null(strstr(line, "Sanitizer"), "flo-dev log: %s", line);
        cr_assert_null(strstr(line, "runtime error"), "flo-dev log: %s", line);
    }
    fclose(f);
}

TestSuite(devkv, .init = start_plain, .fini = stop_dev, .timeout = 60);

static const char unsupported[] = "operation not supported inside a transaction (scan, mget, "
                                  "history and json ops are not transactional)";

/* ---- mget ---- */

/* mget value for n keys named by fmt(i). */
static flo_buf_t mget_value(struct flo_wbuf *v, size_t n, const char *fmt)
{
    static char names[300][32];
    flo_buf_t keys[300];
    cr_assert_leq(n, 300);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], fmt, (int)i);
        keys[i] = FLO_BUF_STR(names[i]);
    }
    flo_wbuf_reset(v);
    /* The client encoder refuses > 256, so build that case by hand. */
    if (n > FLO_KV_MGET_MAX_KEYS) {
        cr_assert_eq(flo_wbuf_u16(v, (uint16_t)n), 0);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(flo_wbuf_str16(v, keys[i].ptr, keys[i].len), 0);
        }
    } else {
        cr_assert_eq(flo_kv_mget_value(v, keys, n), 0);
    }
    return flo_wbuf_view(v);
}

Test(devkv, mget_256_keys_reports_missing_ones_in_request_order)
{
    int fd = cx();
    char key[32];
    uint64_t vers[256] = {0};
    for (int i = 0; i < 256; i += 3) { /* every third key exists */
        snprintf(key, sizeof key, "m:%03d", i);
        vers[i] = put(fd, "default", key, key);
    }
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct rsp r =
        call(fd, FLO_OP_KV_MGET, "default", "", mget_value(&v, 256, "m:%03d"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry e;
    cr_assert_eq(flo_kv_mget_begin(r.body, &it), 0);
    int i = 0;
    while (flo_kv_mget_next(&it, &e) == 1) {
        snprintf(key, sizeof key, "m:%03d", i);
        cr_assert_eq(e.key.len, strlen(key));
        cr_assert(memcmp(e.key.ptr, key, e.key.len) == 0, "entry %d in request order", i);
        cr_assert_eq(e.found, i % 3 == 0, "key %d found", i);
        cr_assert_eq(e.version, vers[i]);
        cr_assert_eq(e.value.len, e.found ? strlen(key) : 0);
        i++;
    }
    cr_assert_eq(i, 256);
    rsp_free(&r);

    r = call(fd, FLO_OP_KV_MGET, "default", "", mget_value(&v, 1, "m:%03d"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_kv_mget_begin(r.body, &it), 0);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 1);
    cr_assert(e.found);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 0);
    rsp_free(&r);
    flo_wbuf_free(&v);
    close(fd);
}

Test(devkv, mget_error_texts_and_connection_survives)
{
    int fd = cx();
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct rsp r =
        call(fd, FLO_OP_KV_MGET, "default", "", mget_value(&v, 257, "k%d"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: too many keys (max 256)");
    rsp_free(&r);
    uint8_t one_byte[1] = {1};
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(one_byte, 1), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: missing key count");
    rsp_free(&r);
    uint8_t zero[2] = {0, 0};
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(zero, 2), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: zero keys");
    rsp_free(&r);
    uint8_t list[7] = {2, 0, 1, 0, 'a', 1}; /* second key_len cut in half */
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(list, 6), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: truncated key list");
    rsp_free(&r);
    uint8_t data[6] = {1, 0, 5, 0, 'a', 'b'};
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(data, 6), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: truncated key data");
    rsp_free(&r);
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    r = call(fd, FLO_OP_KV_MGET, "default", "", mget_value(&v, 2, "k%d"),
             opts_u64(&o, FLO_OPT_TXN_ID, 1));
    expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
    rsp_free(&r);
    put(fd, "default", "still", "works");
    flo_wbuf_free(&o);
    flo_wbuf_free(&v);
    close(fd);
}

Test(devkv, mget_unqualifiable_expired_and_reserved_keys)
{
    int fd = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_KV_PUT, "default", "soon", FLO_BUF_STR("x"),
                        opts_u64(&o, FLO_OPT_TTL_MS, 100));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    put(fd, "default", "stay", "y");
    usleep(250 * 1000);
    static char big[4200];
    memset(big, 'b', 4100);
    flo_buf_t keys[4] = {FLO_BUF_STR("soon"), FLO_BUF("a\0b", 3), FLO_BUF_STR(big),
                         FLO_BUF_STR("stay")};
    cr_assert_eq(flo_kv_mget_value(&v, keys, 4), 0);
    r = call(fd, FLO_OP_KV_MGET, "default", "", flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry e;
    cr_assert_eq(flo_kv_mget_begin(r.body, &it), 0);
    const bool want[4] = {false, false, false, true};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(flo_kv_mget_next(&it, &e), 1);
        cr_assert_eq(e.found, want[i], "entry %d", i);
        cr_assert_eq(e.key.len, keys[i].len, "the key is echoed as sent");
        if (!e.found) {
            cr_assert_eq(e.version, 0);
            cr_assert_eq(e.value.len, 0);
        }
    }
    rsp_free(&r);
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- scan ---- */

struct page {
    char keys[64][32];
    int n;
    bool more;
    uint8_t cursor[64];
    size_t clen;
};

/* One walk-form page of `ns` with `prefix`, after `cur`. */
static void scan_page(int fd, const char *ns, const char *prefix, uint32_t limit,
                      const struct page *cur, struct page *out)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    flo_buf_t c = cur != NULL ? FLO_BUF(cur->cursor, cur->clen) : FLO_BUF_NULL;
    cr_assert_eq(flo_kv_scan_value(&v, limit, c), 0);
    struct rsp r = call(fd, FLO_OP_KV_SCAN, ns, prefix, flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    cr_assert_eq(flo_kv_scan_begin(r.body, &page, &it), 0);
    out->n = 0;
    while (flo_kv_scan_next(&it, &e) == 1) {
        cr_assert_lt(out->n, 64);
        cr_assert_lt(e.key.len, sizeof out->keys[0]);
        cr_assert_eq(e.value.len, 0, "the walk form returns keys only");
        memcpy(out->keys[out->n], e.key.ptr, e.key.len);
        out->keys[out->n][e.key.len] = 0;
        out->n++;
    }
    cr_assert_eq((uint32_t)out->n, page.count);
    if (limit > 0) { /* 0 = the server's default page size */
        cr_assert_leq((uint32_t)out->n, limit);
    }
    out->more = page.has_more;
    cr_assert_eq(page.has_more, page.cursor.len > 0, "has_more iff a cursor follows");
    cr_assert_leq(page.cursor.len, sizeof out->cursor);
    memcpy(out->cursor, page.cursor.ptr, page.cursor.len);
    out->clen = page.cursor.len;
    rsp_free(&r);
    flo_wbuf_free(&v);
}

Test(devkv, scan_many_pages_with_keys_added_and_removed_between_pages)
{
    int fd = cx();
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "s:%02d", (i * 7) % 40);
        put(fd, "default", key, "v");
    }
    put(fd, "default", "t:outside", "v");
    put(fd, "app", "s:other-ns", "v");
    int seen[100] = {0}, pages = 0, extra = 0;
    struct page p, prev;
    scan_page(fd, "default", "s:", 6, NULL, &p);
    for (;;) {
        pages++;
        for (int i = 0; i < p.n; i++) {
            int num = -1;
            cr_assert_eq(sscanf(p.keys[i], "s:%d", &num), 1, "key %s", p.keys[i]);
            cr_assert(num >= 0 && num < 100);
            seen[num]++;
            if (i > 0) {
                cr_assert_lt(strcmp(p.keys[i - 1], p.keys[i]), 0, "byte order within a page");
            }
        }
        if (!p.more) {
            break;
        }
        if (pages == 2) {
            /* Churn: remove one key already returned and one still ahead, add
             * one ahead of the cursor (s:90 sorts last) and one behind it. */
            struct rsp r =
                call(fd, FLO_OP_KV_DELETE, "default", "s:00", FLO_BUF_NULL, FLO_BUF_NULL);
            expect(&r, FLO_STATUS_OK, "");
            rsp_free(&r);
            r = call(fd, FLO_OP_KV_DELETE, "default", "s:30", FLO_BUF_NULL, FLO_BUF_NULL);
            expect(&r, FLO_STATUS_OK, "");
            rsp_free(&r);
            put(fd, "default", "s:90", "v");
            put(fd, "default", "s:01x", "v"); /* behind: not returned */
            extra = 1;
        }
        prev = p;
        scan_page(fd, "default", "s:", 6, &prev, &p);
        cr_assert_lt(pages, 50);
    }
    cr_assert(extra);
    cr_assert_geq(pages, 7);
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(seen[i], i == 30 ? 0 : 1, "s:%02d seen %d times", i, seen[i]);
    }
    cr_assert_eq(seen[90], 1, "a key added ahead of the cursor is returned");
    close(fd);
}

Test(devkv, scan_namespaces_prefix_limit_and_bad_value)
{
    int fd = cx();
    put(fd, "default", "n:a", "v");
    put(fd, "default", "n:b", "v");
    put(fd, "app", "n:c", "v");
    put(fd, "app2", "n:d", "v");
    struct page p;
    scan_page(fd, "default", "", 100, NULL, &p);
    cr_assert_eq(p.n, 2, "default skips keys stored as ns + 0x00 + key");
    cr_assert_str_eq(p.keys[0], "n:a");
    cr_assert_not(p.more);
    scan_page(fd, "app", "n:", 100, NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.keys[0], "n:c");
    scan_page(fd, "app2", "", 100, NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.keys[0], "n:d");
    scan_page(fd, "default", "n:b", 100, NULL, &p);
    cr_assert_eq(p.n, 1);
    scan_page(fd, "default", "zzz", 100, NULL, &p);
    cr_assert_eq(p.n, 0);
    cr_assert_not(p.more);
    scan_page(fd, "default", "n:", 1, NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert(p.more);
    /* limit 0: the server's default page size (100) */
    scan_page(fd, "default", "", 0, NULL, &p);
    cr_assert_eq(p.n, 2);
    uint8_t short_v[2] = {1, 0};
    struct rsp r = call(fd, FLO_OP_KV_SCAN, "default", "", FLO_BUF(short_v, 2), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "scan: value must start with a u32 limit");
    rsp_free(&r);
    /* an empty value is limit 0 without a cursor */
    r = call(fd, FLO_OP_KV_SCAN, "default", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld32(r.body.ptr), 2);
    rsp_free(&r);
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    r = call(fd, FLO_OP_KV_SCAN, "default", "", FLO_BUF_NULL, opts_u64(&o, FLO_OPT_TXN_ID, 1));
    expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devkv, scan_skips_expired_keys)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_KV_PUT, "default", "e:gone", FLO_BUF_STR("v"),
                        opts_u64(&o, FLO_OPT_TTL_MS, 100));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    put(fd, "default", "e:here", "v");
    struct page p;
    scan_page(fd, "default", "e:", 10, NULL, &p);
    cr_assert_eq(p.n, 2);
    usleep(250 * 1000);
    scan_page(fd, "default", "e:", 10, NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.keys[0], "e:here");
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- history ---- */

Test(devkv, history_newest_first_bounded_and_gone_after_expiry)
{
    int fd = cx();
    char val[16];
    uint64_t vers[12];
    for (int i = 0; i < 12; i++) {
        snprintf(val, sizeof val, "v%d", i);
        vers[i] = put(fd, "default", "h", val);
    }
    struct rsp r = call(fd, FLO_OP_KV_HISTORY, "default", "h", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_kv_history_iter it;
    struct flo_kv_history_entry e;
    uint32_t count;
    cr_assert_eq(flo_kv_history_begin(r.body, &it, &count), 0);
    cr_assert_eq(count, 8, "flo-dev keeps the last 8 versions");
    for (int i = 11; flo_kv_history_next(&it, &e) == 1; i--) {
        snprintf(val, sizeof val, "v%d", i);
        cr_assert_eq(e.version, vers[i], "newest first");
        cr_assert_eq(e.value.len, strlen(val));
        cr_assert(memcmp(e.value.ptr, val, e.value.len) == 0);
    }
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_HISTORY, "default", "nope", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    r = call(fd, FLO_OP_KV_HISTORY, "default", "h", FLO_BUF_NULL, opts_u64(&o, FLO_OPT_TXN_ID, 1));
    expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "h", FLO_BUF_STR("last"),
             opts_u64(&o, FLO_OPT_TTL_MS, 100));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    usleep(250 * 1000);
    r = call(fd, FLO_OP_KV_HISTORY, "default", "h", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- incr ---- */

static int64_t incr(int fd, const char *key, flo_buf_t value, uint64_t *version)
{
    struct rsp r = call(fd, FLO_OP_KV_INCR, "default", key, value, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t ver;
    int64_t val;
    cr_assert_eq(flo_kv_dec_incr(r.body, &ver, &val), 0);
    cr_assert_neq(ver, 0);
    if (version != NULL) {
        *version = ver;
    }
    rsp_free(&r);
    return val;
}

Test(devkv, incr_deltas_types_and_overflow)
{
    int fd = cx();
    uint8_t d[8];
    uint64_t v1, v2;
    cr_assert_eq(incr(fd, "c", FLO_BUF_NULL, &v1), 1, "missing key starts at 0, empty = +1");
    flo_st64(d, (uint64_t)-11);
    cr_assert_eq(incr(fd, "c", FLO_BUF(d, 8), &v2), -10);
    cr_assert_gt(v2, v1);
    struct rsp r = call(fd, FLO_OP_KV_GET, "default", "c", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 16, "a counter is stored as 8 bytes");
    cr_assert_eq((int64_t)flo_ld64(r.body.ptr + 8), -10);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_INCR, "default", "c", FLO_BUF_STR("12"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "incr: value must be empty or 8-byte i64 LE");
    rsp_free(&r);
    put(fd, "default", "plain", "hello");
    r = call(fd, FLO_OP_KV_INCR, "default", "plain", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "value is not a counter");
    rsp_free(&r);
    flo_st64(d, (uint64_t)INT64_MAX);
    cr_assert_eq(incr(fd, "big", FLO_BUF(d, 8), NULL), INT64_MAX);
    r = call(fd, FLO_OP_KV_INCR, "default", "big", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_INTERNAL, "incr: counter would overflow");
    rsp_free(&r);
    flo_st64(d, (uint64_t)-1);
    cr_assert_eq(incr(fd, "big", FLO_BUF(d, 8), NULL), INT64_MAX - 1, "value kept on overflow");
    close(fd);
}

/* ---- touch / persist ---- */

Test(devkv, touch_and_persist_ms_cas_and_missing_keys)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint8_t ttl[8];
    flo_st64(ttl, 150);
    struct rsp r = call(fd, FLO_OP_KV_TOUCH, "default", "none", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PERSIST, "default", "none", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    uint64_t v = put(fd, "default", "t", "v");
    r = call(fd, FLO_OP_KV_TOUCH, "default", "t", FLO_BUF(ttl, 8),
             opts_u64(&o, FLO_OPT_CAS_VERSION, v + 1));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_TOUCH, "default", "t", FLO_BUF(ttl, 8),
             opts_u64(&o, FLO_OPT_CAS_VERSION, v));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "t", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), v, "touch keeps the version");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PERSIST, "default", "t", FLO_BUF_NULL,
             opts_u64(&o, FLO_OPT_CAS_VERSION, v + 5));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    usleep(300 * 1000); /* 150 ms TTL in milliseconds, not seconds */
    r = call(fd, FLO_OP_KV_GET, "default", "t", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    /* persist clears a TTL; touch with an empty value clears it too */
    put(fd, "default", "p", "v");
    r = call(fd, FLO_OP_KV_TOUCH, "default", "p", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PERSIST, "default", "p", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    put(fd, "default", "q", "v");
    r = call(fd, FLO_OP_KV_TOUCH, "default", "q", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_TOUCH, "default", "q", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    flo_st64(ttl, UINT64_MAX);
    r = call(fd, FLO_OP_KV_TOUCH, "default", "q", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "ttl too large");
    rsp_free(&r);
    usleep(300 * 1000);
    r = call(fd, FLO_OP_KV_GET, "default", "p", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "q", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- JSON ---- */

static void json_get_is(int fd, const char *key, const char *path, const char *want)
{
    struct rsp r = call(fd, FLO_OP_KV_JSON_GET, "default", key, FLO_BUF_STR(path), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_geq(r.body.len, 8);
    cr_assert_neq(flo_ld64(r.body.ptr), 0);
    cr_assert_eq(r.body.len - 8, strlen(want), "%s: got '%.*s' want '%s'", path,
                 (int)(r.body.len - 8), (const char *)r.body.ptr + 8, want);
    cr_assert(memcmp(r.body.ptr + 8, want, strlen(want)) == 0);
    rsp_free(&r);
}

static void json_status(int fd, uint16_t op, const char *key, flo_buf_t value, uint8_t st,
                        const char *text)
{
    struct rsp r = call(fd, op, "default", key, value, FLO_BUF_NULL);
    expect(&r, st, text);
    rsp_free(&r);
}

Test(devkv, json_every_path_form)
{
    int fd = cx();
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    const char *doc = "{\"a\":[{\"b\":1},{\"b\":2}],\"o\":{\"p\":{\"q\":\"deep\"}},\"n\":null}";
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$", doc), FLO_STATUS_OK, NULL);
    json_get_is(fd, "d", "$", doc);
    json_get_is(fd, "d", "", doc);
    json_get_is(fd, "d", "$.n", "null");
    json_get_is(fd, "d", "$.o", "{\"p\":{\"q\":\"deep\"}}");
    json_get_is(fd, "d", "$.o.p.q", "\"deep\"");
    json_get_is(fd, "d", "$.a[1]", "{\"b\":2}");
    json_get_is(fd, "d", "$.a[0].b", "1");
    json_get_is(fd, "d", "$['o'][\"p\"].q", "\"deep\"");
    /* set on each form */
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.a[0].b", "10"), FLO_STATUS_OK,
                NULL);
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.o.p.r", "[true]"), FLO_STATUS_OK,
                NULL);
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.a[1]", "\"x\""), FLO_STATUS_OK,
                NULL);
    json_get_is(fd, "d", "$.a", "[{\"b\":10},\"x\"]");
    json_get_is(fd, "d", "$.o.p", "{\"q\":\"deep\",\"r\":[true]}");
    /* missing path / index / key: 2 */
    json_status(fd, FLO_OP_KV_JSON_GET, "d", FLO_BUF_STR("$.a[5]"), FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_GET, "d", FLO_BUF_STR("$.o.zz.q"), FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_GET, "nokey", FLO_BUF_STR("$"), FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.a[9]", "1"),
                FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.x.y", "1"), FLO_STATUS_NOT_FOUND,
                "");
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$.nothere"), FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_DEL, "nokey", FLO_BUF_STR("$.a"), FLO_STATUS_NOT_FOUND, "");
    /* delete by member, nested member and index: empty OK body */
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$.a[0]"), FLO_STATUS_OK, "");
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$.o.p.q"), FLO_STATUS_OK, "");
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$.n"), FLO_STATUS_OK, "");
    json_get_is(fd, "d", "$", "{\"a\":[\"x\"],\"o\":{\"p\":{\"r\":[true]}}}");
    /* bad paths: 3 with the server's text */
    const char *bad[] = {"a", "$.", "$[", "$[x]", "$[-1]", "$..a", "$.a[0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_status(fd, FLO_OP_KV_JSON_GET, "d", FLO_BUF_STR(bad[i]), FLO_STATUS_BAD_REQUEST,
                    "invalid json path or document");
    }
    json_status(fd, FLO_OP_KV_JSON_SET, "d", json_set_value(&v, "$.a", "{bad"),
                FLO_STATUS_BAD_REQUEST, "invalid json path or document");
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$x"), FLO_STATUS_BAD_REQUEST,
                "invalid json path or document");
    /* $ deletes the key */
    json_status(fd, FLO_OP_KV_JSON_DEL, "d", FLO_BUF_STR("$"), FLO_STATUS_OK, "");
    json_status(fd, FLO_OP_KV_GET, "d", FLO_BUF_NULL, FLO_STATUS_NOT_FOUND, "");
    flo_wbuf_free(&v);
    close(fd);
}

Test(devkv, json_set_creates_only_with_root_and_keeps_numbers_exact)
{
    int fd = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    json_status(fd, FLO_OP_KV_JSON_SET, "new", json_set_value(&v, "$.a", "1"), FLO_STATUS_NOT_FOUND,
                "");
    json_status(fd, FLO_OP_KV_JSON_SET, "new", json_set_value(&v, "$.a", "{bad"),
                FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_SET, "new", json_set_value(&v, "$", "[1,"),
                FLO_STATUS_BAD_REQUEST, "invalid json document");
    json_status(fd, FLO_OP_KV_JSON_SET, "new", json_set_value(&v, "", "{}"), FLO_STATUS_OK, NULL);
    /* Integers beyond 2^53 and number spellings survive a rewrite of
     * another member (the reason flo-dev does not use cJSON). */
    const char *doc = "{\"id\":9007199254740993,\"big\":12345678901234567890,\"f\":1.0E2}";
    json_status(fd, FLO_OP_KV_JSON_SET, "num", json_set_value(&v, "$", doc), FLO_STATUS_OK, NULL);
    json_status(fd, FLO_OP_KV_JSON_SET, "num", json_set_value(&v, "$.x", "\"\\u00e9\""),
                FLO_STATUS_OK, NULL);
    json_get_is(fd, "num", "$",
                "{\"id\":9007199254740993,\"big\":12345678901234567890,\"f\":1.0E2,"
                "\"x\":\"\\u00e9\"}");
    /* a stored value that is not JSON */
    put(fd, "default", "text", "hello");
    json_status(fd, FLO_OP_KV_JSON_GET, "text", FLO_BUF_STR("$"), FLO_STATUS_BAD_REQUEST,
                "invalid json path or document");
    json_status(fd, FLO_OP_KV_JSON_SET, "text", json_set_value(&v, "$.a", "1"),
                FLO_STATUS_BAD_REQUEST, "invalid json path or document");
    /* value layout errors come from the shared parser */
    uint8_t trunc[4] = {9, 0, '$', '.'};
    json_status(fd, FLO_OP_KV_JSON_SET, "num", FLO_BUF(trunc, 4), FLO_STATUS_BAD_REQUEST,
                "json_set: truncated path");
    /* nesting that would make the stored document unreadable is refused */
    char deep[300];
    memset(deep, '[', 128);
    memset(deep + 128, ']', 128);
    deep[256] = 0;
    json_status(fd, FLO_OP_KV_JSON_SET, "num", json_set_value(&v, "$.a.b", "[]"),
                FLO_STATUS_NOT_FOUND, "");
    json_status(fd, FLO_OP_KV_JSON_SET, "num", json_set_value(&v, "$.deep", deep),
                FLO_STATUS_BAD_REQUEST, "invalid json path or document");
    json_status(fd, FLO_OP_KV_JSON_SET, "num", json_set_value(&v, "$", deep), FLO_STATUS_OK, NULL);
    /* no JSON op runs inside a transaction */
    const uint16_t ops[] = {FLO_OP_KV_JSON_GET, FLO_OP_KV_JSON_SET, FLO_OP_KV_JSON_DEL};
    for (size_t i = 0; i < 3; i++) {
        struct rsp r = call(fd, ops[i], "default", "num", json_set_value(&v, "$", "1"),
                            opts_u64(&o, FLO_OPT_TXN_ID, 1));
        expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
        rsp_free(&r);
    }
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- transactions ---- */

Test(devkv, txn_caps_256_ops_and_1_mib)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t id = txn_begin(fd, "cap");
    char key[32];
    for (int i = 0; i < 256; i++) {
        snprintf(key, sizeof key, "cap:%d", i);
        struct rsp r =
            call(fd, FLO_OP_KV_PUT, "default", key, FLO_BUF_STR("v"), txn_opts(&o, id, "cap"));
        expect(&r, FLO_STATUS_OK, NULL);
        rsp_free(&r);
    }
    struct rsp r =
        call(fd, FLO_OP_KV_INCR, "default", "cap:x", FLO_BUF_NULL, txn_opts(&o, id, "cap"));
    expect(&r, FLO_STATUS_BAD_REQUEST, "transaction op or payload limit exceeded");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "cap", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t index;
    uint16_t count;
    cr_assert_eq(flo_kv_dec_commit(r.body, &index, &count), 0);
    cr_assert_eq(count, 256, "the refused op was not buffered");
    rsp_free(&r);

    /* 1 MiB of keys + values: five 200 KiB values fit, the sixth does not */
    id = txn_begin(fd, "mb");
    size_t chunk = 200 * 1024;
    uint8_t *big = malloc(chunk);
    cr_assert_not_null(big);
    memset(big, 'z', chunk);
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "mb:%d", i);
        r = call(fd, FLO_OP_KV_PUT, "default", key, FLO_BUF(big, chunk), txn_opts(&o, id, "mb"));
        if (i < 5) {
            expect(&r, FLO_STATUS_OK, NULL);
        } else {
            expect(&r, FLO_STATUS_BAD_REQUEST, "transaction op or payload limit exceeded");
        }
        rsp_free(&r);
    }
    free(big);
    r = call(fd, FLO_OP_KV_ROLLBACK_TXN, "default", "mb", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "mb:0", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(r.body.ptr[8], 0, "rolled back: nothing written");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devkv, txn_reads_see_buffered_writes_and_rollback_is_final)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t v0 = put(fd, "default", "r:old", "before");
    uint64_t id = txn_begin(fd, "r");
    struct rsp r =
        call(fd, FLO_OP_KV_EXISTS, "default", "r:old", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    cr_assert_eq(flo_ld64(r.body.ptr), v0, "an untouched key shows its stored version");
    cr_assert_eq(r.body.ptr[8], 1);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "r:old", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "r:old", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    cr_assert_eq(r.body.ptr[8], 0, "a buffered delete hides the key");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "r:old", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    uint8_t d[8];
    flo_st64(d, 4);
    r = call(fd, FLO_OP_KV_INCR, "default", "r:n", FLO_BUF(d, 8), txn_opts(&o, id, "r"));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 16);
    cr_assert_eq(flo_ld64(r.body.ptr), 0, "[0][delta] inside a transaction");
    cr_assert_eq((int64_t)flo_ld64(r.body.ptr + 8), 4);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_INCR, "default", "r:n", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "r:n", FLO_BUF_NULL, txn_opts(&o, id, "r"));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), 0);
    cr_assert_eq((int64_t)flo_ld64(r.body.ptr + 8), 5, "buffered incrs add up");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_ROLLBACK_TXN, "default", "r", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_ROLLBACK_TXN, "default", "r", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "transaction not found");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "r:old", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), v0, "nothing applied");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "r:n", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(r.body.ptr[8], 0);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

/* A write by another client between buffering and COMMIT breaks a CAS
 * condition: COMMIT answers 8 and applies none of the ops. */
Test(devkv, txn_commit_rechecks_conditions_and_applies_nothing_on_failure)
{
    int fd = cx(), other = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t v = put(fd, "default", "w:watched", "1");
    uint64_t id = txn_begin(fd, "w");
    struct rsp r =
        call(fd, FLO_OP_KV_PUT, "default", "w:side", FLO_BUF_STR("s"), txn_opts(&o, id, "w"));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_opt_bytes(&o, FLO_OPT_ROUTING_KEY, "w", 1), 0);
    cr_assert_eq(flo_opt_u64(&o, FLO_OPT_TXN_ID, id), 0);
    cr_assert_eq(flo_opt_u64(&o, FLO_OPT_CAS_VERSION, v), 0);
    r = call(fd, FLO_OP_KV_PUT, "default", "w:watched", FLO_BUF_STR("2"), flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    uint64_t v2 = put(other, "default", "w:watched", "other");
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "w", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "w:watched", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), v2);
    cr_assert(memcmp(r.body.ptr + 8, "other", 5) == 0);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "w:side", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(r.body.ptr[8], 0, "the unconditional op was not applied either");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "w", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "transaction not found");
    rsp_free(&r);

    /* A counter made a plain value meanwhile fails the commit likewise. */
    id = txn_begin(fd, "w");
    r = call(fd, FLO_OP_KV_PUT, "default", "w:a", FLO_BUF_STR("a"), txn_opts(&o, id, "w"));
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_INCR, "default", "w:cnt", FLO_BUF_NULL, txn_opts(&o, id, "w"));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    put(other, "default", "w:cnt", "text");
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "w", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_BAD_REQUEST, "value is not a counter");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "w:a", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(r.body.ptr[8], 0);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
    close(other);
}

Test(devkv, txn_refuses_unsupported_ops_and_foreign_ids)
{
    int fd = cx();
    struct flo_wbuf o, v;
    flo_wbuf_init(&o);
    flo_wbuf_init(&v);
    uint64_t id = txn_begin(fd, "u");
    struct rsp r = call(fd, FLO_OP_KV_HISTORY, "default", "u", FLO_BUF_NULL, txn_opts(&o, id, "u"));
    expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
    rsp_free(&r);
    cr_assert_eq(flo_kv_scan_value(&v, 10, FLO_BUF_NULL), 0);
    r = call(fd, FLO_OP_KV_SCAN, "default", "", flo_wbuf_view(&v), txn_opts(&o, id, "u"));
    expect(&r, FLO_STATUS_BAD_REQUEST, unsupported);
    rsp_free(&r);
    /* the transaction is still usable after a refused op */
    r = call(fd, FLO_OP_KV_PUT, "default", "u", FLO_BUF_STR("1"), txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "u", FLO_BUF_STR("1"), txn_opts(&o, id + 100, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "transaction not found");
    rsp_free(&r);
    uint8_t ttl[8];
    flo_st64(ttl, UINT64_MAX);
    r = call(fd, FLO_OP_KV_TOUCH, "default", "u", FLO_BUF(ttl, 8), txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_BAD_REQUEST, "ttl too large");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "u", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t index;
    uint16_t count;
    cr_assert_eq(flo_kv_dec_commit(r.body, &index, &count), 0);
    cr_assert_eq(count, 1);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "u", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), index, "the commit index is the written version");
    rsp_free(&r);
    /* empty transaction commits with op_count 0 */
    id = txn_begin(fd, "u");
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "u", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_kv_dec_commit(r.body, &index, &count), 0);
    cr_assert_eq(count, 0);
    rsp_free(&r);
    flo_wbuf_free(&o);
    flo_wbuf_free(&v);
    close(fd);
}

/* ---- blocking reads ---- */

Test(devkv, wait_ms_is_released_by_a_version_change_not_by_touch)
{
    int a = cx(), b = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    put(b, "default", "watch", "v1");
    send_req(a, FLO_OP_KV_GET, 500, "default", FLO_BUF_STR("watch"), FLO_BUF_NULL,
             opts_u32(&o, FLO_OPT_WAIT_MS, 10000));
    send_req(a, FLO_OP_PING, 501, "", FLO_BUF_NULL, FLO_BUF_NULL, FLO_BUF_NULL);
    struct rsp r;
    rd(a, &r);
    cr_assert_eq(r.id, 501, "the watch waits");
    rsp_free(&r);
    uint8_t ttl[8];
    flo_st64(ttl, 60000);
    r = call(b, FLO_OP_KV_TOUCH, "default", "watch", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    uint64_t t0 = ts_now_ms();
    uint64_t v2 = put(b, "default", "watch", "v2");
    rd(a, &r);
    cr_assert_eq(r.id, 500, "released by the put (touch does not change the version)");
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), v2);
    cr_assert(memcmp(r.body.ptr + 8, "v2", 2) == 0);
    cr_assert_lt(ts_now_ms() - t0, 5000);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(a);
    close(b);
}

Test(devkv, block_ms_times_out_empty_and_huge_values_are_capped_not_refused)
{
    int a = cx(), b = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t t0 = ts_now_ms();
    struct rsp r = call(a, FLO_OP_KV_GET, "default", "never", FLO_BUF_NULL,
                        opts_u32(&o, FLO_OPT_BLOCK_MS, 200));
    uint64_t took = ts_now_ms() - t0;
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    cr_assert_geq(took, 150);
    cr_assert_lt(took, 3000);
    rsp_free(&r);
    /* UINT32_MAX ms (49 days) is taken as Flo's 5-minute maximum: the
     * request waits (it is not refused) and a put releases it. */
    send_req(a, FLO_OP_KV_GET, 700, "default", FLO_BUF_STR("later"), FLO_BUF_NULL,
             opts_u32(&o, FLO_OPT_BLOCK_MS, UINT32_MAX));
    usleep(100 * 1000);
    uint64_t v = put(b, "default", "later", "x");
    rd(a, &r);
    cr_assert_eq(r.id, 700);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), v);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(a);
    close(b);
}
