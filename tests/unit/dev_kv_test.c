/*
 * Unit tests of flo-dev's KV engine (devserver/dev_kv.c), driven directly
 * with an explicit clock: key qualification and validation texts, reserved
 * prefixes, versions, CAS/NX/XX and their order, TTL expiry and the sweep,
 * incr (overflow, type conflicts), touch/persist, scan paging (limit, no key
 * lost or repeated while keys come and go, namespace isolation, expired and
 * reserved keys skipped), history bound and expiry.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_kv.h"
#include "flo/flo_error.h"

static struct dev_kv *kv;

static void setup(void)
{
    cr_assert_eq(dev_kv_new(&kv), 0);
}

static void teardown(void)
{
    dev_kv_free(kv);
    kv = NULL;
}

TestSuite(dev_kv, .init = setup, .fini = teardown);

/* Qualify or fail the test. */
static struct dev_qkey qk(const char *ns, const char *key)
{
    struct dev_qkey k;
    const char *msg;
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR(ns), FLO_BUF_STR(key), &k, &msg), FLO_STATUS_OK);
    return k;
}

static uint64_t put(const char *ns, const char *key, const char *val, uint64_t now)
{
    struct dev_qkey k = qk(ns, key);
    struct dev_kv_put_opts o = {0};
    uint64_t v = 0;
    const char *msg;
    cr_assert_eq(dev_kv_put(kv, &k, FLO_BUF_STR(val), &o, now, &v, &msg), FLO_STATUS_OK);
    return v;
}

static uint8_t put_o(const char *key, const char *val, const struct dev_kv_put_opts *o,
                     uint64_t now, const char **msg)
{
    struct dev_qkey k = qk("default", key);
    uint64_t v;
    return dev_kv_put(kv, &k, FLO_BUF_STR(val), o, now, &v, msg);
}

Test(dev_kv, qualify_default_is_stored_as_is)
{
    struct dev_qkey k = qk("default", "user:1");
    cr_assert_eq(k.len, 6);
    cr_assert_eq(k.prefix, 0);
    cr_assert(memcmp(k.buf, "user:1", 6) == 0);
    struct dev_qkey e = qk("", "user:1");
    cr_assert_eq(e.len, 6, "an empty namespace means default");
}

Test(dev_kv, qualify_other_namespace_prefixes_ns_and_nul)
{
    struct dev_qkey k = qk("app", "x");
    cr_assert_eq(k.len, 5);
    cr_assert_eq(k.prefix, 4);
    cr_assert(memcmp(k.buf, "app\0x", 5) == 0);
}

Test(dev_kv, qualify_rejects_bad_keys_with_server_texts)
{
    struct dev_qkey k;
    const char *msg;
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("default"), FLO_BUF_NULL, &k, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "key is required");
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("default"), FLO_BUF("a\0b", 3), &k, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "key must not contain NUL");

    static uint8_t big[DEV_KV_MAX_QKEY + 1];
    memset(big, 'k', sizeof big);
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("default"), FLO_BUF(big, 4096), &k, &msg),
                 FLO_STATUS_OK, "4096 bytes fit in default");
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("default"), FLO_BUF(big, 4097), &k, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "namespace + key too large");
    /* "ab" + NUL + 4093 = 4096 fits; one more byte does not */
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("ab"), FLO_BUF(big, 4093), &k, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_qualify(FLO_BUF_STR("ab"), FLO_BUF(big, 4094), &k, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "namespace + key too large");
}

Test(dev_kv, reserved_prefixes)
{
    const char *bad[] = {"_action:a", "_worker:w", "_sys:x", "_internal:i", "_flo:f"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert(dev_kv_is_reserved(FLO_BUF_STR(bad[i])), "%s", bad[i]);
    }
    cr_assert_not(dev_kv_is_reserved(FLO_BUF_STR("_sys")));
    cr_assert_not(dev_kv_is_reserved(FLO_BUF_STR("sys:x")));
    cr_assert_not(dev_kv_is_reserved(FLO_BUF_STR("_flox")));
}

Test(dev_kv, versions_strictly_increase_and_are_never_zero)
{
    uint64_t a = put("default", "a", "1", 0);
    uint64_t b = put("default", "b", "1", 0);
    uint64_t a2 = put("default", "a", "2", 0);
    cr_assert_neq(a, 0);
    cr_assert_gt(b, a);
    cr_assert_gt(a2, b);
    struct dev_qkey k = qk("default", "a");
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 0);
    cr_assert_not_null(e);
    cr_assert_eq(e->hist[0].version, a2);
    cr_assert_eq(e->hist[0].len, 1);
    cr_assert_eq(e->hist[0].val[0], '2');
}

Test(dev_kv, version_not_reused_after_delete)
{
    uint64_t v1 = put("default", "k", "x", 0);
    struct dev_qkey k = qk("default", "k");
    const char *msg;
    cr_assert_eq(dev_kv_delete(kv, &k, false, 0, 0, &msg), FLO_STATUS_OK);
    uint64_t v2 = put("default", "k", "y", 0);
    cr_assert_gt(v2, v1);
}

Test(dev_kv, empty_value_is_stored)
{
    put("default", "e", "", 0);
    struct dev_qkey k = qk("default", "e");
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 0);
    cr_assert_not_null(e);
    cr_assert_eq(e->hist[0].len, 0);
}

Test(dev_kv, cas_rules)
{
    const char *msg;
    struct dev_kv_put_opts o = {.has_cas = true, .cas = 0};
    cr_assert_eq(put_o("c", "v", &o, 0, &msg), FLO_STATUS_OK, "absent + cas 0 passes");
    o.cas = 7;
    cr_assert_eq(put_o("d", "v", &o, 0, &msg), FLO_STATUS_CONFLICT, "absent + cas != 0");
    cr_assert_null(msg, "conflict has an empty body");
    struct dev_qkey k = qk("default", "c");
    uint64_t cur = dev_kv_lookup(kv, &k, 0)->hist[0].version;
    o.cas = cur + 1;
    cr_assert_eq(put_o("c", "v", &o, 0, &msg), FLO_STATUS_CONFLICT);
    o.cas = cur;
    cr_assert_eq(put_o("c", "v2", &o, 0, &msg), FLO_STATUS_OK);
    o.cas = 0;
    cr_assert_eq(put_o("c", "v3", &o, 0, &msg), FLO_STATUS_CONFLICT, "present + cas 0");
}

Test(dev_kv, nx_and_xx)
{
    const char *msg;
    struct dev_kv_put_opts nx = {.nx = true}, xx = {.xx = true};
    cr_assert_eq(put_o("n", "v", &xx, 0, &msg), FLO_STATUS_CONFLICT);
    cr_assert_eq(put_o("n", "v", &nx, 0, &msg), FLO_STATUS_OK);
    cr_assert_eq(put_o("n", "v", &nx, 0, &msg), FLO_STATUS_CONFLICT);
    cr_assert_eq(put_o("n", "w", &xx, 0, &msg), FLO_STATUS_OK);
}

Test(dev_kv, ttl_width_is_checked_after_conditions)
{
    const char *msg;
    put("default", "t", "v", 0);
    struct dev_kv_put_opts o = {.nx = true, .has_ttl = true, .ttl_bad_width = true};
    cr_assert_eq(put_o("t", "v", &o, 0, &msg), FLO_STATUS_CONFLICT);
    o.nx = false;
    cr_assert_eq(put_o("t", "v", &o, 0, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "ttl_ms must be 8 bytes (a u64 of milliseconds)");
    struct dev_kv_put_opts huge = {.has_ttl = true, .ttl_ms = UINT64_MAX};
    cr_assert_eq(put_o("t", "v", &huge, 10, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "ttl too large");
}

Test(dev_kv, ttl_expiry_and_sweep)
{
    const char *msg;
    struct dev_kv_put_opts o = {.has_ttl = true, .ttl_ms = 100};
    cr_assert_eq(put_o("x1", "v", &o, 1000, &msg), FLO_STATUS_OK);
    cr_assert_eq(put_o("x2", "v", &o, 1000, &msg), FLO_STATUS_OK);
    put("default", "forever", "v", 1000);
    cr_assert_eq(dev_kv_ttl_count(kv), 2);
    struct dev_qkey k = qk("default", "x1");
    cr_assert_not_null(dev_kv_lookup(kv, &k, 1099));
    cr_assert_null(dev_kv_lookup(kv, &k, 1100), "expired keys behave as absent");
    /* x1 was freed by the lookup; the sweep frees x2 */
    cr_assert_eq(dev_kv_count(kv), 2);
    cr_assert_eq(dev_kv_sweep(kv, 1100), 1);
    cr_assert_eq(dev_kv_count(kv), 1);
    cr_assert_eq(dev_kv_ttl_count(kv), 0);
    /* NX on an expired key succeeds */
    cr_assert_eq(put_o("x1", "v", &o, 2000, &msg), FLO_STATUS_OK);
    struct dev_kv_put_opts nx = {.nx = true};
    cr_assert_eq(put_o("x1", "w", &nx, 2100, &msg), FLO_STATUS_OK);
}

Test(dev_kv, put_without_ttl_clears_ttl)
{
    const char *msg;
    struct dev_kv_put_opts o = {.has_ttl = true, .ttl_ms = 50};
    cr_assert_eq(put_o("p", "v", &o, 0, &msg), FLO_STATUS_OK);
    put("default", "p", "w", 10);
    struct dev_qkey k = qk("default", "p");
    cr_assert_not_null(dev_kv_lookup(kv, &k, 1000));
    cr_assert_eq(dev_kv_ttl_count(kv), 0);
}

Test(dev_kv, delete_rules)
{
    const char *msg;
    struct dev_qkey k = qk("default", "d");
    cr_assert_eq(dev_kv_delete(kv, &k, false, 0, 0, &msg), FLO_STATUS_NOT_FOUND);
    uint64_t v = put("default", "d", "v", 0);
    cr_assert_eq(dev_kv_delete(kv, &k, true, v + 1, 0, &msg), FLO_STATUS_CONFLICT);
    cr_assert_null(msg);
    cr_assert_eq(dev_kv_delete(kv, &k, true, v, 0, &msg), FLO_STATUS_OK);
    cr_assert_null(dev_kv_lookup(kv, &k, 0));
}

Test(dev_kv, incr_counts_and_checks)
{
    const char *msg;
    struct dev_qkey k = qk("default", "hits");
    uint64_t v1, v2;
    int64_t val;
    cr_assert_eq(dev_kv_incr(kv, &k, 5, 0, &v1, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(val, 5);
    cr_assert_eq(dev_kv_incr(kv, &k, -7, 0, &v2, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(val, -2);
    cr_assert_gt(v2, v1);
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 0);
    cr_assert_eq(e->hist[0].len, 8, "counters are stored as 8-byte i64 LE");
    cr_assert_eq((int64_t)flo_ld64(e->hist[0].val), -2);

    put("default", "s", "text", 0);
    struct dev_qkey s = qk("default", "s");
    cr_assert_eq(dev_kv_incr(kv, &s, 1, 0, &v1, &val, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "value is not a counter");

    cr_assert_eq(dev_kv_incr(kv, &k, INT64_MAX, 0, &v1, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(val, INT64_MAX - 2);
    /* Overflow: status 9 (the spec's suggestion), value left unchanged. */
    cr_assert_eq(dev_kv_incr(kv, &k, INT64_MAX, 0, &v2, &val, &msg), FLO_STATUS_INTERNAL);
    cr_assert_str_eq(msg, "incr: counter would overflow");
    e = dev_kv_lookup(kv, &k, 0);
    cr_assert_eq((int64_t)flo_ld64(e->hist[0].val), INT64_MAX - 2);
    cr_assert_eq(e->hist[0].version, v1, "a refused incr writes no version");
    /* Underflow likewise. */
    struct dev_qkey m = qk("default", "low");
    cr_assert_eq(dev_kv_incr(kv, &m, INT64_MIN, 0, &v1, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_incr(kv, &m, -1, 0, &v1, &val, &msg), FLO_STATUS_INTERNAL);
    cr_assert_str_eq(msg, "incr: counter would overflow");
}

Test(dev_kv, incr_treats_any_8_byte_value_as_counter_and_others_not)
{
    const char *msg;
    uint64_t v;
    int64_t val;
    uint8_t raw[8];
    flo_st64(raw, 41);
    struct dev_qkey k = qk("default", "raw8");
    struct dev_kv_put_opts o = {0};
    cr_assert_eq(dev_kv_put(kv, &k, FLO_BUF(raw, 8), &o, 0, &v, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_incr(kv, &k, 1, 0, &v, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(val, 42);
    const char *not_counters[] = {"", "1234567", "123456789"};
    for (size_t i = 0; i < 3; i++) {
        put("default", "plain", not_counters[i], 0);
        struct dev_qkey p = qk("default", "plain");
        cr_assert_eq(dev_kv_incr(kv, &p, 1, 0, &v, &val, &msg), FLO_STATUS_BAD_REQUEST);
        cr_assert_str_eq(msg, "value is not a counter");
    }
}

Test(dev_kv, incr_keeps_ttl)
{
    const char *msg;
    struct dev_qkey k = qk("default", "c");
    uint64_t v;
    int64_t val;
    cr_assert_eq(dev_kv_incr(kv, &k, 1, 0, &v, &val, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_set_ttl(kv, &k, 100, false, 0, 0, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_incr(kv, &k, 1, 50, &v, &val, &msg), FLO_STATUS_OK);
    cr_assert_null(dev_kv_lookup(kv, &k, 100));
}

Test(dev_kv, touch_and_persist)
{
    const char *msg;
    struct dev_qkey k = qk("default", "t");
    cr_assert_eq(dev_kv_set_ttl(kv, &k, 10, false, 0, 0, &msg), FLO_STATUS_NOT_FOUND);
    uint64_t v = put("default", "t", "v", 0);
    cr_assert_eq(dev_kv_set_ttl(kv, &k, 10, true, v + 1, 0, &msg), FLO_STATUS_CONFLICT);
    cr_assert_eq(dev_kv_set_ttl(kv, &k, 10, true, v, 0, &msg), FLO_STATUS_OK);
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 5);
    cr_assert_not_null(e);
    cr_assert_eq(e->hist[0].version, v, "touch does not change the version");
    cr_assert_eq(dev_kv_set_ttl(kv, &k, 0, false, 0, 5, &msg), FLO_STATUS_OK, "persist");
    cr_assert_not_null(dev_kv_lookup(kv, &k, 1000000));
    cr_assert_eq(dev_kv_set_ttl(kv, &k, UINT64_MAX, false, 0, 5, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "ttl too large");
}

Test(dev_kv, namespaces_isolate_keys)
{
    put("default", "k", "d", 0);
    put("app", "k", "a", 0);
    struct dev_qkey d = qk("default", "k"), a = qk("app", "k"), o = qk("other", "k");
    cr_assert_eq(dev_kv_lookup(kv, &d, 0)->hist[0].val[0], 'd');
    cr_assert_eq(dev_kv_lookup(kv, &a, 0)->hist[0].val[0], 'a');
    cr_assert_null(dev_kv_lookup(kv, &o, 0));
}

static void expect_keys(flo_buf_t *keys, size_t n, const char *const want[], size_t nwant)
{
    cr_assert_eq(n, nwant);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(keys[i].len, strlen(want[i]));
        cr_assert(memcmp(keys[i].ptr, want[i], keys[i].len) == 0, "key %zu", i);
    }
}

Test(dev_kv, scan_pages_in_order_within_namespace)
{
    put("default", "user:3", "v", 0);
    put("default", "user:1", "v", 0);
    put("default", "user:2", "v", 0);
    put("default", "other", "v", 0);
    put("default", "_sys:x", "v", 0); /* stored by the engine, hidden from scans */
    put("app", "user:9", "v", 0);     /* another namespace */
    flo_buf_t *keys;
    size_t n;
    bool more;
    cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF_STR("user:"), FLO_BUF_NULL, 2, 0,
                             &keys, &n, &more),
                 0);
    expect_keys(keys, n, (const char *const[]){"user:1", "user:2"}, 2);
    cr_assert(more);
    flo_buf_t cursor = FLO_BUF_STR("user:2");
    free(keys);
    cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF_STR("user:"), cursor, 2, 0, &keys,
                             &n, &more),
                 0);
    expect_keys(keys, n, (const char *const[]){"user:3"}, 1);
    cr_assert_not(more);
    free(keys);

    cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF_NULL, FLO_BUF_NULL, 100, 0, &keys,
                             &n, &more),
                 0);
    expect_keys(keys, n, (const char *const[]){"other", "user:1", "user:2", "user:3"}, 4);
    free(keys);

    cr_assert_eq(
        dev_kv_scan(kv, FLO_BUF_STR("app"), FLO_BUF_NULL, FLO_BUF_NULL, 100, 0, &keys, &n, &more),
        0);
    expect_keys(keys, n, (const char *const[]){"user:9"}, 1);
    free(keys);

    cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF("u\0", 2), FLO_BUF_NULL, 100, 0,
                             &keys, &n, &more),
                 0);
    cr_assert_eq(n, 0, "a prefix with NUL matches nothing");
}

Test(dev_kv, scan_skips_expired)
{
    const char *msg;
    struct dev_kv_put_opts o = {.has_ttl = true, .ttl_ms = 10};
    cr_assert_eq(put_o("gone", "v", &o, 0, &msg), FLO_STATUS_OK);
    put("default", "here", "v", 0);
    flo_buf_t *keys;
    size_t n;
    bool more;
    cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF_NULL, FLO_BUF_NULL, 10, 20, &keys,
                             &n, &more),
                 0);
    expect_keys(keys, n, (const char *const[]){"here"}, 1);
    free(keys);
}

Test(dev_kv, history_newest_first_and_bounded)
{
    uint64_t last = 0;
    char val[16];
    for (int i = 0; i < DEV_KV_HISTORY + 3; i++) {
        snprintf(val, sizeof val, "v%d", i);
        last = put("default", "cfg", val, 0);
    }
    struct dev_qkey k = qk("default", "cfg");
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 0);
    cr_assert_eq(e->hist_count, DEV_KV_HISTORY);
    cr_assert_eq(e->hist[0].version, last);
    snprintf(val, sizeof val, "v%d", DEV_KV_HISTORY + 2);
    cr_assert(memcmp(e->hist[0].val, val, strlen(val)) == 0);
    for (unsigned i = 1; i < e->hist_count; i++) {
        cr_assert_lt(e->hist[i].version, e->hist[i - 1].version);
    }
}

Test(dev_kv, batch_writes_share_one_version)
{
    uint64_t before = put("default", "x", "0", 0);
    uint64_t b = dev_kv_batch_begin(kv);
    cr_assert_gt(b, before);
    uint64_t v1 = put("default", "x", "1", 0);
    uint64_t v2 = put("default", "y", "1", 0);
    uint64_t v3 = put("default", "x", "2", 0);
    dev_kv_batch_end(kv);
    cr_assert_eq(v1, b);
    cr_assert_eq(v2, b);
    cr_assert_eq(v3, b);
    struct dev_qkey k = qk("default", "x");
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 0);
    cr_assert_eq(e->hist_count, 2, "a key written twice in a batch keeps one slot");
    cr_assert_eq(e->hist[0].val[0], '2');
    cr_assert_eq(dev_kv_last_version(kv), b);
    cr_assert_gt(put("default", "x", "3", 0), b, "writes after the batch move on");
}

/* Page through the whole namespace `ns` with `limit`, optionally mutating
 * the store between pages; returns the keys seen, in order, joined by ','. */
typedef void (*between_pages_fn)(int page);

static char *scan_all(const char *ns, const char *prefix, size_t limit, between_pages_fn between)
{
    static char seen[65536];
    seen[0] = 0;
    char cursor[256] = "";
    size_t clen = 0;
    for (int page = 0; page < 10000; page++) {
        flo_buf_t *keys;
        size_t n;
        bool more;
        cr_assert_eq(dev_kv_scan(kv, FLO_BUF_STR(ns), FLO_BUF_STR(prefix), FLO_BUF(cursor, clen),
                                 limit, 0, &keys, &n, &more),
                     0);
        cr_assert_leq(n, limit);
        for (size_t i = 0; i < n; i++) {
            strncat(seen, (const char *)keys[i].ptr, keys[i].len);
            strcat(seen, ",");
            if (i > 0) {
                size_t m = keys[i - 1].len < keys[i].len ? keys[i - 1].len : keys[i].len;
                int c = memcmp(keys[i - 1].ptr, keys[i].ptr, m);
                cr_assert(c < 0 || (c == 0 && keys[i - 1].len < keys[i].len), "byte order");
            }
        }
        if (!more) {
            free(keys);
            return seen;
        }
        cr_assert_gt(n, 0, "has_more with an empty page");
        cr_assert_lt(keys[n - 1].len, sizeof cursor);
        memcpy(cursor, keys[n - 1].ptr, keys[n - 1].len);
        clen = keys[n - 1].len;
        free(keys);
        if (between != NULL) {
            between(page);
        }
    }
    cr_assert_fail("scan never ended");
    return NULL;
}

Test(dev_kv, scan_limit_pages_cover_every_key_once)
{
    char key[16], want[4096] = "";
    for (int i = 0; i < 57; i++) { /* inserted out of order */
        snprintf(key, sizeof key, "k%03d", (i * 37) % 57);
        put("default", key, "v", 0);
    }
    for (int i = 0; i < 57; i++) {
        snprintf(key, sizeof key, "k%03d,", i);
        strcat(want, key);
    }
    const size_t limits[] = {1, 2, 7, 56, 57, 58, 1000};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        cr_assert_str_eq(scan_all("default", "k", limits[i], NULL), want, "limit %zu", limits[i]);
    }
}

/* Between pages: delete keys already returned and not yet returned, add
 * keys behind and ahead of the cursor. */
static void churn(int page)
{
    char key[16];
    const char *msg;
    if (page != 0) {
        return;
    }
    const char *gone[] = {"a00", "a15"}; /* a00 already returned, a15 ahead */
    for (size_t i = 0; i < 2; i++) {
        struct dev_qkey k = qk("default", gone[i]);
        cr_assert_eq(dev_kv_delete(kv, &k, false, 0, 0, &msg), FLO_STATUS_OK);
    }
    snprintf(key, sizeof key, "a01x"); /* behind the cursor: not seen, fine */
    put("default", key, "v", 0);
    snprintf(key, sizeof key, "a99"); /* ahead of the cursor: seen */
    put("default", key, "v", 0);
}

Test(dev_kv, scan_survives_writes_between_pages)
{
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "a%02d", i);
        put("default", key, "v", 0);
    }
    char *seen = scan_all("default", "a", 5, churn);
    /* Every key present from start to end appears exactly once, in order. */
    const char *want = "a00,a01,a02,a03,a04,a05,a06,a07,a08,a09,a10,a11,a12,a13,a14,a16,a17,"
                       "a18,a19,a99,";
    cr_assert_str_eq(seen, want);
}

Test(dev_kv, scan_default_skips_other_namespaces_and_they_stay_isolated)
{
    put("default", "x1", "v", 0);
    put("ns1", "x2", "v", 0);
    put("ns2", "x3", "v", 0);
    put("ns1", "_flo:hidden", "v", 0);
    cr_assert_str_eq(scan_all("default", "", 10, NULL), "x1,");
    cr_assert_str_eq(scan_all("ns1", "", 10, NULL), "x2,");
    cr_assert_str_eq(scan_all("ns2", "x", 10, NULL), "x3,");
    cr_assert_str_eq(scan_all("ns3", "", 10, NULL), "");
    cr_assert_str_eq(scan_all("ns1", "y", 10, NULL), "", "prefix filter");
}

Test(dev_kv, scan_limit_zero_reports_more_without_keys)
{
    put("default", "a", "v", 0);
    flo_buf_t *keys;
    size_t n;
    bool more;
    cr_assert_eq(
        dev_kv_scan(kv, FLO_BUF_STR("default"), FLO_BUF_NULL, FLO_BUF_NULL, 0, 0, &keys, &n, &more),
        0);
    cr_assert_eq(n, 0);
    cr_assert(more);
    free(keys);
}

Test(dev_kv, expired_keys_are_absent_for_lookup_and_history_source)
{
    const char *msg;
    struct dev_kv_put_opts o = {.has_ttl = true, .ttl_ms = 10};
    cr_assert_eq(put_o("h", "1", &o, 0, &msg), FLO_STATUS_OK);
    cr_assert_eq(put_o("h", "2", &o, 1, &msg), FLO_STATUS_OK);
    struct dev_qkey k = qk("default", "h");
    const struct dev_kv_entry *e = dev_kv_lookup(kv, &k, 10);
    cr_assert_not_null(e);
    cr_assert_eq(e->hist_count, 2);
    cr_assert_null(dev_kv_lookup(kv, &k, 11), "expired at 1 + 10");
    /* Re-created after expiry: a new chain, not the expired versions. */
    uint64_t v = put("default", "h", "3", 12);
    e = dev_kv_lookup(kv, &k, 12);
    cr_assert_eq(e->hist_count, 1);
    cr_assert_eq(e->hist[0].version, v);
    cr_assert_eq(dev_kv_delete(kv, &k, false, 0, 12, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_kv_delete(kv, &k, false, 0, 12, &msg), FLO_STATUS_NOT_FOUND);
}
