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
