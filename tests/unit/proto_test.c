/*
 * The shared translation table: Flo status / libflo error -> HTTP status,
 * RESP prefix, code, message; input limits; the UTF-8 check behind the
 * JSON payload rule.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_error.h"
#include "proto.h"

Test(proto_err, not_found_without_text_has_a_sentence)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
    cr_assert_eq(e.http_status, 404);
    cr_assert_str_eq(e.code, "not_found");
    cr_assert_str_eq(e.resp_prefix, "ERR");
    cr_assert_str_eq(e.message, "not found");
}

Test(proto_err, server_text_is_kept)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST, FLO_BUF_STR("key must not contain NUL"));
    cr_assert_eq(e.http_status, 400);
    cr_assert_str_eq(e.message, "key must not contain NUL");
}

Test(proto_err, server_text_control_bytes_are_blanked)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST, FLO_BUF("a\r\nb", 4));
    cr_assert_str_eq(e.message, "a  b");
}

Test(proto_err, conflict_is_409_with_conflict_prefix)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_CONFLICT, FLO_BUF_NULL);
    cr_assert_eq(e.http_status, 409);
    cr_assert_str_eq(e.resp_prefix, "CONFLICT");
}

Test(proto_err, not_implemented_says_upstream_lacks_it)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_INTERNAL, FLO_BUF_STR("not implemented"));
    cr_assert_eq(e.http_status, 501);
    cr_assert_str_eq(e.code, "not_supported");
    cr_assert(strstr(e.message, "not supported by the upstream Flo server") != NULL);
}

Test(proto_err, not_yet_implemented_handler_is_also_unsupported)
{
    struct proto_err e;
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST,
                          FLO_BUF_STR("dlq requeue not yet implemented"));
    cr_assert_eq(e.http_status, 501);
    cr_assert_str_eq(e.code, "not_supported");
    cr_assert(strstr(e.message, "dlq requeue not yet implemented") != NULL);
    proto_err_from_status(&e, FLO_STATUS_BAD_REQUEST, FLO_BUF_STR("queue name is required"));
    cr_assert_eq(e.http_status, 400, "other bad requests stay 400");
}

Test(proto_err, statuses_map_as_the_design_table_says)
{
    struct {
        uint8_t status;
        int http;
        const char *prefix;
    } rows[] = {
        {FLO_STATUS_UNAUTHORIZED, 401, "NOAUTH"}, {FLO_STATUS_OVERLOADED, 429, "BUSY"},
        {FLO_STATUS_RATE_LIMITED, 429, "BUSY"},   {FLO_STATUS_UNAVAILABLE, 503, "TRYAGAIN"},
        {FLO_STATUS_INTERNAL, 502, "ERR"},        {200, 502, "ERR"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct proto_err e;
        proto_err_from_status(&e, rows[i].status, FLO_BUF_NULL);
        cr_assert_eq(e.http_status, rows[i].http, "status %u", rows[i].status);
        cr_assert_str_eq(e.resp_prefix, rows[i].prefix, "status %u", rows[i].status);
        cr_assert(e.message[0] != '\0');
    }
}

Test(proto_err, codes_map_to_gateway_statuses)
{
    struct proto_err e;
    proto_err_from_code(&e, FLO_ETIMEDOUT);
    cr_assert_eq(e.http_status, 504);
    proto_err_from_code(&e, FLO_EUNAVAIL);
    cr_assert_eq(e.http_status, 503);
    cr_assert_str_eq(e.resp_prefix, "TRYAGAIN");
    proto_err_from_code(&e, FLO_ECONNCLOSED);
    cr_assert_eq(e.http_status, 503);
    proto_err_from_code(&e, FLO_ETOOBIG);
    cr_assert_eq(e.http_status, 413);
    proto_err_from_code(&e, FLO_ELIMIT);
    cr_assert_eq(e.http_status, 429);
}

Test(proto_limits, keys)
{
    struct proto_err e;
    static uint8_t big[PROTO_MAX_KEY + 1];
    memset(big, 'k', sizeof big);
    cr_assert_eq(proto_check_key(FLO_BUF_STR("user:1"), &e), 0);
    cr_assert_eq(proto_check_key(FLO_BUF(big, PROTO_MAX_KEY), &e), 0);
    cr_assert_eq(proto_check_key(FLO_BUF(big, sizeof big), &e), -1);
    cr_assert_eq(e.http_status, 413);
    cr_assert_eq(proto_check_key(FLO_BUF_NULL, &e), -1);
    cr_assert_eq(e.http_status, 400);
    cr_assert_eq(proto_check_key(FLO_BUF("a\0b", 3), &e), -1);
    cr_assert_eq(e.http_status, 400);
}

Test(proto_limits, namespaces_and_values)
{
    struct proto_err e;
    char ns[PROTO_MAX_NAMESPACE + 1];
    memset(ns, 'n', sizeof ns);
    cr_assert_eq(proto_check_ns(FLO_BUF(ns, PROTO_MAX_NAMESPACE), &e), 0);
    cr_assert_eq(proto_check_ns(FLO_BUF(ns, sizeof ns), &e), -1);
    cr_assert_eq(e.http_status, 413);
    struct proto_ctx ctx = {.max_body = 10};
    cr_assert_eq(proto_check_value(&ctx, 10, &e), 0);
    cr_assert_eq(proto_check_value(&ctx, 11, &e), -1);
    cr_assert_eq(e.http_status, 413);
}

Test(proto_utf8, accepts_valid_text)
{
    cr_assert(proto_utf8_valid(FLO_BUF_STR("")));
    cr_assert(proto_utf8_valid(FLO_BUF_STR("plain ascii")));
    cr_assert(proto_utf8_valid(FLO_BUF_STR("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
}

Test(proto_utf8, rejects_invalid_sequences)
{
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xff", 1)));
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xc3", 1)));             /* truncated */
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xe2\x82", 2)));         /* truncated */
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xc0\xaf", 2)));         /* overlong */
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xed\xa0\x80", 3)));     /* surrogate */
    cr_assert_not(proto_utf8_valid(FLO_BUF("\xf4\x90\x80\x80", 4))); /* > U+10FFFF */
    cr_assert_not(proto_utf8_valid(FLO_BUF("a\x80", 2)));            /* stray continuation */
}
