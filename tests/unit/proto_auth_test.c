/*
 * Client auth token (proto_auth) and the client-facing limits (proto.h):
 * token swap and refusal, equal treatment of lengths and prefixes, the
 * defaults and zero-means-default resolution of struct proto_limits, the
 * shared long-poll gate and the error a refused long-poll maps to.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_error.h"
#include "proto.h"
#include "proto_auth.h"

static void reset(void)
{
    proto_auth_clear();
}

TestSuite(proto_auth, .init = reset, .fini = reset);

Test(proto_auth, no_token_means_not_required_and_nothing_matches)
{
    cr_assert_not(proto_auth_required());
    cr_assert_not(proto_auth_check(FLO_BUF_STR("")));
    cr_assert_not(proto_auth_check(FLO_BUF_STR("anything")));
}

Test(proto_auth, exact_token_only)
{
    cr_assert_eq(proto_auth_set_token("s3cret-token"), 0);
    cr_assert(proto_auth_required());
    cr_assert(proto_auth_check(FLO_BUF_STR("s3cret-token")));
    /* Prefixes, extensions, case and a NUL inside are all refused. */
    cr_assert_not(proto_auth_check(FLO_BUF_STR("s3cret")));
    cr_assert_not(proto_auth_check(FLO_BUF_STR("s3cret-token2")));
    cr_assert_not(proto_auth_check(FLO_BUF_STR("S3CRET-TOKEN")));
    cr_assert_not(proto_auth_check(FLO_BUF("s3cret-token\0", 13)));
    cr_assert_not(proto_auth_check(FLO_BUF_NULL));
}

Test(proto_auth, binary_presented_token)
{
    cr_assert_eq(proto_auth_set_token("k"), 0);
    const uint8_t bin[] = {0xff, 0x00, 'k'};
    cr_assert_not(proto_auth_check(FLO_BUF(bin, sizeof bin)));
    cr_assert(proto_auth_check(FLO_BUF(bin + 2, 1)));
}

Test(proto_auth, swap_replaces_old_token)
{
    cr_assert_eq(proto_auth_set_token("old"), 0);
    cr_assert(proto_auth_check(FLO_BUF_STR("old")));
    cr_assert_eq(proto_auth_set_token("new"), 0);
    cr_assert(proto_auth_check(FLO_BUF_STR("new")));
    cr_assert_not(proto_auth_check(FLO_BUF_STR("old")));
}

Test(proto_auth, empty_or_null_disables)
{
    cr_assert_eq(proto_auth_set_token("x"), 0);
    cr_assert_eq(proto_auth_set_token(""), 0);
    cr_assert_not(proto_auth_required());
    cr_assert_eq(proto_auth_set_token("x"), 0);
    cr_assert_eq(proto_auth_set_token(NULL), 0);
    cr_assert_not(proto_auth_required());
    cr_assert_not(proto_auth_check(FLO_BUF_STR("x")));
}

Test(proto_auth, failures_are_counted)
{
    unsigned long long before = proto_auth_failures();
    proto_auth_log_failure("resp", "client=1 addr=127.0.0.1:1");
    proto_auth_log_failure("http", "addr=127.0.0.1");
    cr_assert_eq(proto_auth_failures(), before + 2);
}

Test(proto_limits, defaults)
{
    struct proto_limits l;
    proto_limits_defaults(&l, 0);
    cr_assert_eq(l.max_http_connections, PROTO_DEFAULT_MAX_HTTP_CONNECTIONS);
    cr_assert_eq(l.max_resp_clients, 10000u);
    cr_assert_eq(l.max_resp_args, 65536u);
    cr_assert_eq(l.max_resp_bulk, (size_t)PROTO_DEFAULT_MAX_BODY + PROTO_RESP_BULK_SLACK);
    cr_assert_eq(l.max_longpolls, 20000u);
    cr_assert_eq(l.resp_output_limit, (size_t)32 * 1024 * 1024);
    proto_limits_defaults(&l, 1024);
    cr_assert_eq(l.max_resp_bulk, (size_t)1024 + PROTO_RESP_BULK_SLACK);
}

Test(proto_limits, resolve_fills_only_zero_fields)
{
    struct proto_limits in = {.max_resp_clients = 3, .resp_output_limit = 4096}, out;
    proto_limits_resolve(&in, 2048, &out);
    cr_assert_eq(out.max_resp_clients, 3u);
    cr_assert_eq(out.resp_output_limit, 4096u);
    cr_assert_eq(out.max_resp_args, PROTO_DEFAULT_MAX_RESP_ARGS);
    cr_assert_eq(out.max_resp_bulk, (size_t)2048 + PROTO_RESP_BULK_SLACK);
    cr_assert_eq(out.max_longpolls, PROTO_DEFAULT_MAX_LONGPOLLS);
    cr_assert_eq(out.max_http_connections, PROTO_DEFAULT_MAX_HTTP_CONNECTIONS);
    proto_limits_resolve(NULL, 0, &out);
    cr_assert_eq(out.max_resp_clients, PROTO_DEFAULT_MAX_RESP_CLIENTS);
}

Test(proto_limits, longpoll_gate)
{
    proto_longpoll_set_max(2);
    unsigned base = proto_longpoll_count();
    cr_assert_eq(base, 0u);
    cr_assert_eq(proto_longpoll_enter(), 0);
    cr_assert_eq(proto_longpoll_enter(), 0);
    cr_assert_eq(proto_longpoll_enter(), PROTO_ELONGPOLLS);
    cr_assert_eq(proto_longpoll_count(), 2u);
    proto_longpoll_leave();
    cr_assert_eq(proto_longpoll_enter(), 0);
    proto_longpoll_leave();
    proto_longpoll_leave();
    cr_assert_eq(proto_longpoll_count(), 0u);
    proto_longpoll_leave(); /* never below zero */
    cr_assert_eq(proto_longpoll_count(), 0u);
    proto_longpoll_set_max(0); /* back to the default */
    for (unsigned i = 0; i < PROTO_DEFAULT_MAX_LONGPOLLS; i++) {
        cr_assert_eq(proto_longpoll_enter(), 0);
    }
    cr_assert_eq(proto_longpoll_enter(), PROTO_ELONGPOLLS);
    for (unsigned i = 0; i < PROTO_DEFAULT_MAX_LONGPOLLS; i++) {
        proto_longpoll_leave();
    }
}

Test(proto_limits, refused_longpoll_error)
{
    struct proto_err e;
    proto_err_from_code(&e, PROTO_ELONGPOLLS);
    cr_assert_eq(e.http_status, 429);
    cr_assert_str_eq(e.resp_prefix, "BUSY");
    cr_assert_str_eq(e.code, "too_many_waiting");
    cr_assert(strstr(e.message, "too many waiting requests") != NULL, "%s", e.message);
}
