/*
 * Unit tests for the stream paths of http_route_match: /v1/streams,
 * /v1/streams/{s} and its sub-resources, /groups/{g}[/sweeper|/pending],
 * percent-decoded names (a '/' inside a name travels as %2F), and the 400 /
 * 404 answers for empty names and unknown sub-resources.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "http_route.h"

static int match(const char *uri, struct http_target *t, struct proto_err *e)
{
    return http_route_match(uri, strlen(uri), t, e);
}

static void expect_route(const char *uri, enum http_route_e route, const char *stream,
                         const char *group)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match(uri, &t, &e), 0, "%s: %s", uri, e.message);
    cr_assert_eq(t.route, route, "%s: route %d", uri, t.route);
    cr_assert_eq(t.key.len, strlen(stream), "%s: stream name length", uri);
    cr_assert(t.key.len == 0 || memcmp(t.key.data, stream, t.key.len) == 0, "%s: stream name", uri);
    cr_assert_eq(t.group.len, strlen(group), "%s: group name length", uri);
    cr_assert(t.group.len == 0 || memcmp(t.group.data, group, t.group.len) == 0, "%s: group name",
              uri);
    http_target_free(&t);
}

static void expect_error(const char *uri, int status)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match(uri, &t, &e), -1, "%s should not match", uri);
    cr_assert_eq(e.http_status, status, "%s: status %d (%s)", uri, e.http_status, e.message);
    http_target_free(&t);
}

Test(http_stream_route, matches_every_stream_path)
{
    expect_route("/v1/streams", HTTP_ROUTE_STREAMS, "", "");
    expect_route("/v1/streams?namespace=x", HTTP_ROUTE_STREAMS, "", "");
    expect_route("/v1/streams/orders", HTTP_ROUTE_STREAM, "orders", "");
    expect_route("/v1/streams/orders/records?start=1-0", HTTP_ROUTE_STREAM_RECORDS, "orders", "");
    expect_route("/v1/streams/orders/trim", HTTP_ROUTE_STREAM_TRIM, "orders", "");
    expect_route("/v1/streams/orders/groups/g1", HTTP_ROUTE_STREAM_GROUP, "orders", "g1");
    expect_route("/v1/streams/orders/groups/g1/sweeper", HTTP_ROUTE_STREAM_GROUP_SWEEPER, "orders",
                 "g1");
    expect_route("/v1/streams/orders/groups/g1/pending?consumer=c", HTTP_ROUTE_STREAM_GROUP_PENDING,
                 "orders", "g1");
}

Test(http_stream_route, names_are_percent_decoded)
{
    expect_route("/v1/streams/a%2Fb/records", HTTP_ROUTE_STREAM_RECORDS, "a/b", "");
    expect_route("/v1/streams/s/groups/g%2Fh%20i/pending", HTTP_ROUTE_STREAM_GROUP_PENDING, "s",
                 "g/h i");
    /* A target reused for another request forgets the earlier group. */
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(match("/v1/streams/s/groups/g", &t, &e), 0);
    cr_assert_eq(match("/v1/streams/s", &t, &e), 0);
    cr_assert_eq(t.group.len, 0);
    http_target_free(&t);
}

Test(http_stream_route, refuses_empty_names_and_unknown_subresources)
{
    expect_error("/v1/streams/", 400);
    expect_error("/v1/streams//records", 400);
    expect_error("/v1/streams/s/groups/", 404);
    expect_error("/v1/streams/s/groups//pending", 400);
    expect_error("/v1/streams/s/bogus", 404);
    expect_error("/v1/streams/s/groups/g/bogus", 404);
    expect_error("/v1/streams/s/records/extra", 404);
    expect_error("/v1/streams/s%zz", 400);
    expect_error("/v1/streams/s/groups/g%00", 400);
}
