/*
 * Unit tests for protocols/http/http_route.c: percent-decoding with lengths
 * (%00, %2F, bad escapes), route matching, query iteration, the KV query
 * parameters per method, and If-Match / If-None-Match parsing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "http_route.h"

static int decode(const char *s, bool plus, struct flo_wbuf *out)
{
    flo_wbuf_reset(out);
    return http_pct_decode(s, strlen(s), plus, out);
}

Test(http_pct, decodes_binary_bytes_with_lengths)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(decode("a%00b%2Fc%ffZ", false, &b), 0);
    cr_assert_eq(b.len, 7);
    cr_assert_eq(memcmp(b.data, "a\0b/c\xffZ", 7), 0);
    /* Upper and lower case hex both work. */
    cr_assert_eq(decode("%2f%2F%aA", false, &b), 0);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "//\xaa", 3), 0);
    flo_wbuf_free(&b);
}

Test(http_pct, plus_is_space_only_when_asked)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(decode("a+b", false, &b), 0);
    cr_assert_eq(memcmp(b.data, "a+b", 3), 0);
    cr_assert_eq(decode("a+b%2B", true, &b), 0);
    cr_assert_eq(b.len, 4);
    cr_assert_eq(memcmp(b.data, "a b+", 4), 0);
    flo_wbuf_free(&b);
}

Test(http_pct, rejects_bad_escapes)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(decode("%", false, &b), FLO_EINVAL);
    cr_assert_eq(decode("ab%4", false, &b), FLO_EINVAL);
    cr_assert_eq(decode("%zz", false, &b), FLO_EINVAL);
    cr_assert_eq(decode("%g0", false, &b), FLO_EINVAL);
    cr_assert_eq(decode("", false, &b), 0);
    cr_assert_eq(b.len, 0);
    flo_wbuf_free(&b);
}

static int match(const char *uri, struct http_target *t, struct proto_err *e)
{
    return http_route_match(uri, strlen(uri), t, e);
}

Test(http_route, probes_and_kv_key)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match("/healthz", &t, &e), 0);
    cr_assert_eq(t.route, HTTP_ROUTE_HEALTHZ);
    cr_assert_eq(t.query_len, 0);
    cr_assert_eq(match("/readyz?x=1", &t, &e), 0);
    cr_assert_eq(t.route, HTTP_ROUTE_READYZ);
    cr_assert_eq(t.query_len, 3);
    cr_assert_eq(memcmp(t.query, "x=1", 3), 0);

    cr_assert_eq(match("/v1/kv/user%2F42%20x?namespace=a", &t, &e), 0);
    cr_assert_eq(t.route, HTTP_ROUTE_KV_KEY);
    cr_assert_eq(t.key.len, 9);
    cr_assert_eq(memcmp(t.key.data, "user/42 x", 9), 0);
    cr_assert_eq(t.query_len, strlen("namespace=a"));
    http_target_free(&t);
}

Test(http_route, key_bytes_are_exact_and_nul_is_refused)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match("/v1/kv/%FF%FE%01", &t, &e), 0);
    cr_assert_eq(t.key.len, 3);
    cr_assert_eq(memcmp(t.key.data, "\xff\xfe\x01", 3), 0);
    /* %00 decodes to a NUL byte, which Flo forbids in keys: 400 up front. */
    cr_assert_eq(match("/v1/kv/a%00b", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert(strstr(e.message, "NUL") != NULL, "message: %s", e.message);
    http_target_free(&t);
}

Test(http_route, errors_name_the_problem)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match("/nope", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert_str_eq(e.code, "not_found");
    cr_assert_eq(match("/v1/kv/", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(match("/v1/kv/a/b", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert(strstr(e.message, "%2F") != NULL, "message: %s", e.message);
    cr_assert_eq(match("/v1/kv/a%zz", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(match("/v1/kvx", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert_eq(match("/healthz/", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    http_target_free(&t);
}

Test(http_route, key_over_64k_is_413)
{
    size_t n = PROTO_MAX_KEY + 1;
    char *uri = malloc(7 + n + 1);
    memcpy(uri, "/v1/kv/", 7);
    memset(uri + 7, 'k', n);
    uri[7 + n] = '\0';
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match(uri, &t, &e), -1);
    cr_assert_eq(e.http_status, 413);
    uri[7 + n - 1] = '\0'; /* exactly the limit is fine */
    cr_assert_eq(match(uri, &t, &e), 0);
    cr_assert_eq(t.key.len, PROTO_MAX_KEY);
    http_target_free(&t);
    free(uri);
}

Test(http_query, iterates_and_decodes_pairs)
{
    const char *q = "a=1&&b=x%20y+z&flag&c=%26%3D";
    struct http_query_iter it;
    struct flo_wbuf n, v;
    flo_wbuf_init(&n);
    flo_wbuf_init(&v);
    http_query_iter_init(&it, q, strlen(q));
    cr_assert_eq(http_query_next(&it, &n, &v), 1);
    cr_assert(n.len == 1 && n.data[0] == 'a' && v.len == 1 && v.data[0] == '1');
    cr_assert_eq(http_query_next(&it, &n, &v), 1);
    cr_assert(n.len == 1 && n.data[0] == 'b');
    cr_assert_eq(v.len, 5);
    cr_assert_eq(memcmp(v.data, "x y z", 5), 0);
    cr_assert_eq(http_query_next(&it, &n, &v), 1);
    cr_assert(n.len == 4 && v.len == 0);
    cr_assert_eq(http_query_next(&it, &n, &v), 1);
    cr_assert_eq(v.len, 2);
    cr_assert_eq(memcmp(v.data, "&=", 2), 0);
    cr_assert_eq(http_query_next(&it, &n, &v), 0);
    http_query_iter_init(&it, "x=%4", 4);
    cr_assert_eq(http_query_next(&it, &n, &v), FLO_EINVAL);
    http_query_iter_init(&it, NULL, 0);
    cr_assert_eq(http_query_next(&it, &n, &v), 0);
    flo_wbuf_free(&n);
    flo_wbuf_free(&v);
}

Test(http_query, parse_uint_is_strict)
{
    uint64_t v;
    cr_assert_eq(http_parse_uint((const uint8_t *)"0", 1, 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(http_parse_uint((const uint8_t *)"18446744073709551615", 20, UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(http_parse_uint((const uint8_t *)"18446744073709551616", 20, UINT64_MAX, &v),
                 FLO_EINVAL);
    cr_assert_eq(http_parse_uint((const uint8_t *)"11", 2, 10, &v), FLO_EINVAL);
    cr_assert_eq(http_parse_uint((const uint8_t *)"-1", 2, 10, &v), FLO_EINVAL);
    cr_assert_eq(http_parse_uint((const uint8_t *)" 1", 2, 10, &v), FLO_EINVAL);
    cr_assert_eq(http_parse_uint((const uint8_t *)"abc", 3, 10, &v), FLO_EINVAL);
    cr_assert_eq(http_parse_uint((const uint8_t *)"", 0, 10, &v), FLO_EINVAL);
}

static int kvp(enum http_method_e m, const char *q, struct http_kv_params *p, struct proto_err *e)
{
    http_kv_params_free(p);
    http_kv_params_init(p);
    return http_kv_params_parse(m, q, strlen(q), p, e);
}

Test(http_kv_params, accepts_what_each_method_takes)
{
    struct http_kv_params p;
    struct proto_err e;
    http_kv_params_init(&p);
    cr_assert_eq(kvp(HTTP_M_GET, "namespace=t%20x&format=json&block_ms=2500", &p, &e), 0);
    cr_assert(p.has_ns && p.ns.len == 3 && memcmp(p.ns.data, "t x", 3) == 0);
    cr_assert_eq(p.format, HTTP_FMT_JSON);
    cr_assert(p.has_block && p.block_ms == 2500 && !p.has_wait);
    cr_assert_eq(kvp(HTTP_M_GET, "wait_ms=999999999&format=raw", &p, &e), 0);
    cr_assert_eq(p.wait_ms, FLO_MAX_BLOCK_MS); /* clamped to Flo's cap */
    cr_assert_eq(p.format, HTTP_FMT_RAW);
    cr_assert_eq(kvp(HTTP_M_PUT, "ttl_ms=1500", &p, &e), 0);
    cr_assert(p.has_ttl && p.ttl_ms == 1500);
    cr_assert_eq(kvp(HTTP_M_DELETE, "", &p, &e), 0);
    cr_assert(!p.has_ns);
    http_kv_params_free(&p);
}

Test(http_kv_params, refuses_bad_values_with_400)
{
    struct http_kv_params p;
    struct proto_err e;
    http_kv_params_init(&p);
    cr_assert_eq(kvp(HTTP_M_PUT, "ttl_ms=abc", &p, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert(strstr(e.message, "ttl_ms") != NULL);
    cr_assert_eq(kvp(HTTP_M_PUT, "ttl_ms=-5", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "block_ms=1s", &p, &e), -1);
    cr_assert(strstr(e.message, "block_ms") != NULL);
    cr_assert_eq(kvp(HTTP_M_GET, "block_ms=1&wait_ms=1", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "format=xml", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "ttl_ms=5", &p, &e), -1); /* PUT only */
    cr_assert(strstr(e.message, "ttl_ms") != NULL && strstr(e.message, "GET") != NULL);
    cr_assert_eq(kvp(HTTP_M_PUT, "block_ms=5", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "bogus=1", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "namespace=", &p, &e), -1);
    cr_assert_eq(kvp(HTTP_M_GET, "namespace=a&namespace=b", &p, &e), -1);
    cr_assert(strstr(e.message, "more than once") != NULL);
    cr_assert_eq(kvp(HTTP_M_GET, "namespace=%zz", &p, &e), -1);
    cr_assert_eq(e.http_status, 400);
    http_kv_params_free(&p);
}

Test(http_kv_params, namespace_over_255_is_refused)
{
    char q[10 + 300 + 1] = "namespace=";
    memset(q + 10, 'n', 256);
    q[10 + 256] = '\0';
    struct http_kv_params p;
    struct proto_err e;
    http_kv_params_init(&p);
    cr_assert_eq(kvp(HTTP_M_GET, q, &p, &e), -1);
    cr_assert(e.http_status == 400 || e.http_status == 413);
    q[10 + 255] = '\0';
    cr_assert_eq(kvp(HTTP_M_GET, q, &p, &e), 0);
    cr_assert_eq(p.ns.len, 255);
    http_kv_params_free(&p);
}

Test(http_precond, parses_star_quoted_and_bare)
{
    struct http_precond pc;
    struct proto_err e;
    cr_assert_eq(http_parse_precond("If-Match", NULL, &pc, &e), 0);
    cr_assert_eq(pc.kind, HTTP_PRE_NONE);
    cr_assert_eq(http_parse_precond("If-Match", " * ", &pc, &e), 0);
    cr_assert_eq(pc.kind, HTTP_PRE_ANY);
    cr_assert_eq(http_parse_precond("If-Match", "\"42\"", &pc, &e), 0);
    cr_assert(pc.kind == HTTP_PRE_VERSION && pc.version == 42);
    cr_assert_eq(http_parse_precond("If-Match", "7", &pc, &e), 0);
    cr_assert(pc.kind == HTTP_PRE_VERSION && pc.version == 7);
}

Test(http_precond, refuses_weak_lists_and_garbage)
{
    struct http_precond pc;
    struct proto_err e;
    cr_assert_eq(http_parse_precond("If-Match", "W/\"1\"", &pc, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert(strstr(e.message, "weak") != NULL);
    cr_assert_eq(http_parse_precond("If-Match", "\"1\", \"2\"", &pc, &e), -1);
    cr_assert_eq(http_parse_precond("If-Match", "\"abc\"", &pc, &e), -1);
    cr_assert(strstr(e.message, "If-Match") != NULL);
    cr_assert_eq(http_parse_precond("If-None-Match", "\"\"", &pc, &e), -1);
    cr_assert(strstr(e.message, "If-None-Match") != NULL);
    cr_assert_eq(http_parse_precond("If-Match", "", &pc, &e), -1);
}

Test(http_method, parse_and_name)
{
    cr_assert_eq(http_method_parse("GET"), HTTP_M_GET);
    cr_assert_eq(http_method_parse("DELETE"), HTTP_M_DELETE);
    cr_assert_eq(http_method_parse("get"), HTTP_M_OTHER);
    cr_assert_eq(http_method_parse("BREW"), HTTP_M_OTHER);
    cr_assert_str_eq(http_method_name(HTTP_M_PUT), "PUT");
}

/* ---- issue 4: sub-resources, batch routes, query tables ---- */

static int match_n(const char *uri, struct http_target *t, struct proto_err *e)
{
    return http_route_match(uri, strlen(uri), t, e);
}

Test(http_route, sub_resources_and_batch_routes)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    static const struct {
        const char *uri;
        enum http_route_e route;
        const char *key;
    } ok[] = {
        {"/v1/kv", HTTP_ROUTE_KV_SCAN, ""},
        {"/v1/kv?prefix=a", HTTP_ROUTE_KV_SCAN, ""},
        {"/v1/kv/mget", HTTP_ROUTE_KV_MGET, "mget"},
        {"/v1/kv/txn", HTTP_ROUTE_KV_TXN, "txn"},
        {"/v1/kv/%6Dget", HTTP_ROUTE_KV_KEY, "mget"},
        {"/v1/kv/a%2Fb/history?limit=2", HTTP_ROUTE_KV_HISTORY, "a/b"},
        {"/v1/kv/mget/incr", HTTP_ROUTE_KV_INCR, "mget"},
        {"/v1/kv/k/ttl", HTTP_ROUTE_KV_TTL, "k"},
        {"/v1/kv/k/json?path=$.a", HTTP_ROUTE_KV_JSON, "k"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(match_n(ok[i].uri, &t, &e), 0, "%s: %s", ok[i].uri, e.message);
        cr_assert_eq(t.route, ok[i].route, "%s", ok[i].uri);
        cr_assert_eq(t.key.len, strlen(ok[i].key), "%s", ok[i].uri);
        cr_assert(t.key.len == 0 || memcmp(t.key.data, ok[i].key, t.key.len) == 0, "%s", ok[i].uri);
    }
    cr_assert_eq(match_n("/v1/kv/k/nope", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert(strstr(e.message, "history") != NULL, "%s", e.message);
    cr_assert_eq(match_n("/v1/kv//history", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(match_n("/v1/kv/k/history/x", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    http_target_free(&t);
}

Test(http_route, batch_paths_are_keys_for_other_methods)
{
    cr_assert_eq(http_route_for_method(HTTP_ROUTE_KV_MGET, HTTP_M_POST), HTTP_ROUTE_KV_MGET);
    cr_assert_eq(http_route_for_method(HTTP_ROUTE_KV_TXN, HTTP_M_POST), HTTP_ROUTE_KV_TXN);
    enum http_method_e others[] = {HTTP_M_GET, HTTP_M_HEAD, HTTP_M_PUT, HTTP_M_DELETE};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(http_route_for_method(HTTP_ROUTE_KV_MGET, others[i]), HTTP_ROUTE_KV_KEY);
        cr_assert_eq(http_route_for_method(HTTP_ROUTE_KV_TXN, others[i]), HTTP_ROUTE_KV_KEY);
    }
    cr_assert_eq(http_route_for_method(HTTP_ROUTE_KV_INCR, HTTP_M_GET), HTTP_ROUTE_KV_INCR);
}

Test(http_query, table_parses_types_and_refuses_the_rest)
{
    struct flo_wbuf prefix;
    struct proto_err e;
    flo_wbuf_init(&prefix);
    struct http_qparam ps[] = {
        {.name = "limit", .kind = HTTP_QP_U64, .max = 1000, .what = "1..1000"},
        {.name = "delta", .kind = HTTP_QP_I64, .what = "an integer"},
        {.name = "keys_only", .kind = HTTP_QP_BOOL, .what = "true or false"},
        {.name = "prefix", .kind = HTTP_QP_BYTES, .max = 4, .what = "short", .bytes = &prefix},
    };
    const char *q = "limit=10&delta=-9223372036854775808&keys_only&prefix=a%00b";
    cr_assert_eq(http_query_parse(q, strlen(q), ps, 4, "GET /x", &e), 0, "%s", e.message);
    cr_assert_eq(ps[0].u, 10);
    cr_assert_eq(ps[1].i, INT64_MIN);
    cr_assert(ps[2].seen && ps[2].b);
    cr_assert_eq(prefix.len, 3);
    cr_assert_eq(memcmp(prefix.data, "a\0b", 3), 0);

    static const char *const bad[] = {
        "limit=1001",   "limit=-1", "delta=9223372036854775808", "delta=1e3", "keys_only=yes",
        "prefix=abcde", "other=1",  "limit=1&limit=2",           "limit=%zz",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t k = 0; k < 4; k++) {
            ps[k].seen = false;
        }
        cr_assert_eq(http_query_parse(bad[i], strlen(bad[i]), ps, 4, "GET /x", &e), -1, "%s",
                     bad[i]);
        cr_assert_eq(e.http_status, 400);
    }
    flo_wbuf_free(&prefix);
}

/* ---- queue routes (issue 5) ---- */

Test(http_route, queue_paths_and_sub_resources)
{
    static const struct {
        const char *path;
        enum http_route_e route;
    } cases[] = {
        {"/v1/queues", HTTP_ROUTE_QUEUES},
        {"/v1/queues?namespace=x", HTTP_ROUTE_QUEUES},
        {"/v1/queues/jobs", HTTP_ROUTE_QUEUE},
        {"/v1/queues/jobs/messages?priority=1", HTTP_ROUTE_QUEUE_MESSAGES},
        {"/v1/queues/jobs/dequeue", HTTP_ROUTE_QUEUE_DEQUEUE},
        {"/v1/queues/jobs/peek", HTTP_ROUTE_QUEUE_PEEK},
        {"/v1/queues/jobs/ack", HTTP_ROUTE_QUEUE_ACK},
        {"/v1/queues/jobs/nack", HTTP_ROUTE_QUEUE_NACK},
        {"/v1/queues/jobs/touch", HTTP_ROUTE_QUEUE_TOUCH},
        {"/v1/queues/jobs/dlq", HTTP_ROUTE_QUEUE_DLQ},
        {"/v1/queues/jobs/dlq/requeue", HTTP_ROUTE_QUEUE_DLQ_REQUEUE},
        {"/v1/queues/jobs/dlq/delete", HTTP_ROUTE_QUEUE_DLQ_DELETE},
    };
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(match(cases[i].path, &t, &e), 0, "%s: %s", cases[i].path, e.message);
        cr_assert_eq(t.route, cases[i].route, "%s", cases[i].path);
        if (cases[i].route != HTTP_ROUTE_QUEUES) {
            cr_assert_eq(t.key.len, 4, "%s", cases[i].path);
            cr_assert_eq(memcmp(t.key.data, "jobs", 4), 0);
        }
    }
    http_target_free(&t);
}

Test(http_route, queue_names_are_percent_decoded_and_checked)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    /* %2F is part of the name, not a separator. */
    cr_assert_eq(match("/v1/queues/a%2Fb%FF/ack", &t, &e), 0);
    cr_assert_eq(t.route, HTTP_ROUTE_QUEUE_ACK);
    cr_assert_eq(t.key.len, 4);
    cr_assert_eq(memcmp(t.key.data, "a/b\xff", 4), 0);
    cr_assert_eq(match("/v1/queues/", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert(strstr(e.message, "queue") != NULL, "message: %s", e.message);
    cr_assert_eq(match("/v1/queues//ack", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(match("/v1/queues/jobs/bogus", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert(strstr(e.message, "dlq/requeue") != NULL, "message: %s", e.message);
    cr_assert_eq(match("/v1/queues/jobs/dlq/other", &t, &e), -1);
    cr_assert_eq(e.http_status, 404);
    cr_assert_eq(match("/v1/queues/a%zz", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(match("/v1/queues/a%00b", &t, &e), -1);
    cr_assert_eq(e.http_status, 400);
    http_target_free(&t);
}
