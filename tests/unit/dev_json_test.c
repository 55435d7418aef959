/*
 * Unit tests of flo-dev's JSON model (devserver/dev_json.c): strict parsing,
 * compact round-trips, the path grammar, and get/set/delete at a path.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dev_json.h"
#include "flo/flo_error.h"

static struct dev_json *parse_ok(const char *s)
{
    struct dev_json *v = NULL;
    cr_assert_eq(dev_json_parse(FLO_BUF_STR(s), &v), 0, "parse: %s", s);
    return v;
}

/* Compact form of v, compared with want. */
static void expect_text(const struct dev_json *v, const char *want)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(dev_json_write(v, &b), 0);
    cr_assert_eq(b.len, strlen(want), "got '%.*s' want '%s'", (int)b.len, (char *)b.data, want);
    cr_assert(memcmp(b.data, want, b.len) == 0);
    flo_wbuf_free(&b);
}

Test(dev_json, round_trips_compactly)
{
    struct dev_json *v = parse_ok(
        " { \"a\" : [1, -2.5e3, true, false, null], \"s\": \"x\\\"\\u00e9\", \"o\": {} } ");
    expect_text(v, "{\"a\":[1,-2.5e3,true,false,null],\"s\":\"x\\\"\\u00e9\",\"o\":{}}");
    dev_json_free(v);
    v = parse_ok("\"flo\"");
    expect_text(v, "\"flo\"");
    dev_json_free(v);
}

Test(dev_json, rejects_malformed_documents)
{
    const char *bad[] = {"",        "{",     "[1,]",   "{\"a\" 1}", "01",
                         "1.",      "-",     "\"abc",  "\"\\x\"",   "tru",
                         "[1] [2]", "{a:1}", "\"\t\"", "\"\\u12\"", "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dev_json *v = NULL;
        cr_assert_eq(dev_json_parse(FLO_BUF_STR(bad[i]), &v), FLO_EMALFORMED, "accepted: %s",
                     bad[i]);
    }
}

Test(dev_json, nesting_is_bounded)
{
    size_t depth = DEV_JSON_MAX_DEPTH + 1;
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    struct dev_json *v = NULL;
    cr_assert_eq(dev_json_parse(FLO_BUF_STR(s), &v), FLO_EMALFORMED);
    free(s);
}

Test(dev_json, path_grammar)
{
    struct dev_json_step st[DEV_JSON_MAX_PATH];
    size_t n;
    cr_assert_eq(dev_json_path(FLO_BUF_NULL, st, &n), 0);
    cr_assert_eq(n, 0, "empty means $");
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$"), st, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.a[2]['b c'][\"d\"]"), st, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert(!st[0].is_index && st[0].name.len == 1);
    cr_assert(st[1].is_index && st[1].index == 2);
    cr_assert_eq(st[2].name.len, 3);
    cr_assert(memcmp(st[3].name.ptr, "d", 1) == 0);
    const char *bad[] = {"a", "$.", "$[", "$[x]", "$['a'", "$..a", "$a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(dev_json_path(FLO_BUF_STR(bad[i]), st, &n), FLO_EMALFORMED, "%s", bad[i]);
    }
}

Test(dev_json, get_set_del_at_paths)
{
    struct dev_json *doc = parse_ok("{\"name\":\"flo\",\"tags\":[\"a\",\"b\"]}");
    struct dev_json_step st[DEV_JSON_MAX_PATH];
    size_t n;
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.tags[1]"), st, &n), 0);
    expect_text(dev_json_get(doc, st, n), "\"b\"");

    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.age"), st, &n), 0);
    cr_assert_null(dev_json_get(doc, st, n));
    cr_assert_eq(dev_json_set(doc, st, n, parse_ok("3")), 0, "new member is added");
    cr_assert_eq(dev_json_set(doc, st, n, parse_ok("4")), 0, "existing member is replaced");
    expect_text(doc, "{\"name\":\"flo\",\"tags\":[\"a\",\"b\"],\"age\":4}");

    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.tags[5]"), st, &n), 0);
    struct dev_json *x = parse_ok("1");
    cr_assert_eq(dev_json_set(doc, st, n, x), FLO_ETRUNC, "index must exist");
    dev_json_free(x);
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.missing.deeper"), st, &n), 0);
    x = parse_ok("1");
    cr_assert_eq(dev_json_set(doc, st, n, x), FLO_ETRUNC, "parent must exist");
    dev_json_free(x);

    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.tags[0]"), st, &n), 0);
    cr_assert_eq(dev_json_del(doc, st, n), 0);
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.name"), st, &n), 0);
    cr_assert_eq(dev_json_del(doc, st, n), 0);
    cr_assert_eq(dev_json_del(doc, st, n), FLO_ETRUNC, "already gone");
    expect_text(doc, "{\"tags\":[\"b\"],\"age\":4}");
    dev_json_free(doc);
}

/* Why flo-dev keeps its own parser: numbers are kept as written, so integers
 * beyond 2^53 (which a double-based parser such as cJSON rounds) survive. */
Test(dev_json, big_integers_and_number_spellings_survive_a_set)
{
    struct dev_json *v = parse_ok("{\"id\":9007199254740993,\"u\":18446744073709551615,"
                                  "\"f\":1.0E2}");
    struct dev_json_step steps[DEV_JSON_MAX_PATH];
    size_t n;
    cr_assert_eq(dev_json_path(FLO_BUF_STR("$.x"), steps, &n), 0);
    cr_assert_eq(dev_json_set(v, steps, n, parse_ok("-0")), 0);
    expect_text(v, "{\"id\":9007199254740993,\"u\":18446744073709551615,\"f\":1.0E2,\"x\":-0}");
    dev_json_free(v);
}

Test(dev_json, depth_counts_containers)
{
    const char *cases[] = {"1", "[]", "{\"a\":[1,{\"b\":[]}]}", "[[[[\"x\"]]]]"};
    const size_t want[] = {0, 1, 4, 4};
    for (size_t i = 0; i < 4; i++) {
        struct dev_json *v = parse_ok(cases[i]);
        cr_assert_eq(dev_json_depth(v), want[i], "%s", cases[i]);
        dev_json_free(v);
    }
    char deep[2 * DEV_JSON_MAX_DEPTH + 3];
    memset(deep, '[', DEV_JSON_MAX_DEPTH + 1);
    memset(deep + DEV_JSON_MAX_DEPTH + 1, ']', DEV_JSON_MAX_DEPTH + 1);
    deep[2 * DEV_JSON_MAX_DEPTH + 2] = 0;
    struct dev_json *v = NULL;
    cr_assert_eq(dev_json_parse(FLO_BUF_STR(deep), &v), FLO_EMALFORMED, "over the bound");
    deep[DEV_JSON_MAX_DEPTH] = ' ';
    deep[DEV_JSON_MAX_DEPTH + 1] = ' ';
    v = parse_ok(deep);
    cr_assert_eq(dev_json_depth(v), DEV_JSON_MAX_DEPTH);
    dev_json_free(v);
}
