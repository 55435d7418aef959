/*
 * Unit tests for the consumer-session paths of http_route_match:
 * /v1/streams/{s}/groups/{g}/sessions, /v1/sessions/{id} and its
 * sub-resources, and the 404 "unknown_session" answers for ids that are
 * empty, too long or not base64url text (checked before anything else).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http_route.h"
#include "proto_session.h"

static void expect_route(const char *uri, enum http_route_e route, const char *key,
                         const char *group)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(http_route_match(uri, strlen(uri), &t, &e), 0, "%s: %s", uri, e.message);
    cr_assert_eq(t.route, route, "%s: route %d", uri, t.route);
    cr_assert_eq(t.key.len, strlen(key), "%s: key length %zu", uri, t.key.len);
    cr_assert(t.key.len == 0 || memcmp(t.key.data, key, t.key.len) == 0, "%s: key", uri);
    cr_assert_eq(t.group.len, strlen(group), "%s: group length", uri);
    http_target_free(&t);
}

static void expect_error(const char *uri, size_t len, int status, const char *code)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(http_route_match(uri, len, &t, &e), -1, "%.40s should not match", uri);
    cr_assert_eq(e.http_status, status, "%.40s: status %d (%s)", uri, e.http_status, e.message);
    cr_assert_str_eq(e.code, code, "%.40s: code %s", uri, e.code);
    http_target_free(&t);
}

Test(http_session_route, matches_every_session_path)
{
    expect_route("/v1/streams/orders/groups/g1/sessions", HTTP_ROUTE_STREAM_GROUP_SESSIONS,
                 "orders", "g1");
    expect_route("/v1/streams/a%2Fb/groups/g%201/sessions?consumer=c",
                 HTTP_ROUTE_STREAM_GROUP_SESSIONS, "a/b", "g 1");
    expect_route("/v1/sessions/AQAB-_xyz09", HTTP_ROUTE_SESSION, "AQAB-_xyz09", "");
    expect_route("/v1/sessions/AQAB/records?count=5&block_ms=100", HTTP_ROUTE_SESSION_RECORDS,
                 "AQAB", "");
    expect_route("/v1/sessions/AQAB/ack", HTTP_ROUTE_SESSION_ACK, "AQAB", "");
    expect_route("/v1/sessions/AQAB/nack", HTTP_ROUTE_SESSION_NACK, "AQAB", "");
    expect_route("/v1/sessions/AQAB/touch", HTTP_ROUTE_SESSION_TOUCH, "AQAB", "");
}

Test(http_session_route, bad_ids_are_unknown_sessions)
{
    const char *bad[] = {
        "/v1/sessions/",    "/v1/sessions//records", "/v1/sessions/ab%2Fcd",   "/v1/sessions/ab+cd",
        "/v1/sessions/ab=", "/v1/sessions/a.b/ack",  "/v1/sessions/ab%00/ack",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_error(bad[i], strlen(bad[i]), 404, "unknown_session");
    }
}

Test(http_session_route, id_length_is_bounded_before_anything_else)
{
    size_t pre = strlen("/v1/sessions/");
    size_t n = pre + PROTO_SESS_ID_MAX + 1;
    char *uri = malloc(n + 1);
    cr_assert_not_null(uri);
    memcpy(uri, "/v1/sessions/", pre);
    memset(uri + pre, 'A', PROTO_SESS_ID_MAX + 1);
    uri[n] = '\0';
    expect_error(uri, n, 404, "unknown_session");
    /* Exactly the longest id is routed (the core then judges it). */
    uri[n - 1] = '\0';
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(http_route_match(uri, n - 1, &t, &e), 0, "%s", e.message);
    cr_assert_eq(t.key.len, PROTO_SESS_ID_MAX);
    http_target_free(&t);
    free(uri);
}

Test(http_session_route, unknown_sub_resources_are_404)
{
    expect_error("/v1/sessions/AQAB/claim", strlen("/v1/sessions/AQAB/claim"), 404, "not_found");
    expect_error("/v1/streams/s/groups/g/session", strlen("/v1/streams/s/groups/g/session"), 404,
                 "not_found");
    expect_error("/v1/sessions", strlen("/v1/sessions"), 404, "not_found");
}
