/*
 * Unit tests of the metrics registry and its Prometheus text rendering
 * (protocols/common/proto_metrics.c): cumulative histogram buckets, label
 * escaping, series keyed by label text, the series cap, the upstream and
 * session families, and the HTTP route operation names used as labels.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_route.h"
#include "proto_metrics.h"

static void reset(void)
{
    proto_metrics_reset();
}

TestSuite(proto_metrics, .init = reset, .fini = reset);

/* Render into a NUL-terminated malloc'd string. */
static char *render(const struct proto_metrics_src *src)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(proto_metrics_render(src, &b), 0);
    char *s = malloc(b.len + 1);
    cr_assert_not_null(s);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    flo_wbuf_free(&b);
    return s;
}

/* The value of the sample line starting with `series` + ' ', or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
    }
    return -1;
}

static char *escape(const char *s)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(proto_metrics_escape(&b, s), 0);
    char *out = strndup((const char *)b.data, b.len);
    flo_wbuf_free(&b);
    return out;
}

Test(proto_metrics, escapes_quote_backslash_newline)
{
    char *e = escape("a\"b\\c\nd");
    cr_assert_str_eq(e, "a\\\"b\\\\c\\nd");
    free(e);
    e = escape("plain_op");
    cr_assert_str_eq(e, "plain_op");
    free(e);
}

Test(proto_metrics, label_values_rendered_escaped)
{
    proto_metrics_request(PROTO_M_HTTP, "we\"ird\\op\n", "ok", 1000);
    char *t = render(NULL);
    cr_assert_eq(sample(t, "flo_sidecar_requests_total{protocol=\"http\",op=\"we\\\"ird\\\\op\\n\","
                           "result=\"ok\"}"),
                 1, "%s", t);
    /* No raw newline inside a label: every line is a comment or a sample. */
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        cr_assert(line[0] == '#' || strncmp(line, "flo_sidecar_", 12) == 0 ||
                      strncmp(line, "process_", 8) == 0,
                  "stray line: %s", line);
    }
    free(t);
}

Test(proto_metrics, histogram_buckets_are_cumulative)
{
    /* One observation per region: below the first bound, exactly on a
     * bound (le is inclusive), between bounds, and past the last bound. */
    const uint64_t obs_ns[] = {100000, 5000000, 7000000, 300000000, 90000000000ull};
    for (size_t i = 0; i < sizeof(obs_ns) / sizeof(obs_ns[0]); i++) {
        proto_metrics_request(PROTO_M_RESP, "get", "ok", obs_ns[i]);
    }
    char *t = render(NULL);
    const char *pre =
        "flo_sidecar_request_duration_seconds_bucket{protocol=\"resp\",op=\"get\",le=";
    char name[256];
    struct {
        const char *le;
        double want;
    } want[] = {
        {"0.0005", 1}, {"0.001", 1}, {"0.0025", 1}, {"0.005", 2}, {"0.01", 3},
        {"0.25", 3},   {"0.5", 4},   {"30", 4},     {"60", 4},    {"+Inf", 5},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(name, sizeof(name), "%s\"%s\"}", pre, want[i].le);
        cr_assert_eq(sample(t, name), want[i].want, "le=%s\n%s", want[i].le, t);
    }
    /* Non-decreasing over every bound, ending at _count. */
    double prev = 0;
    for (unsigned i = 0; i < PROTO_METRICS_NBUCKETS; i++) {
        snprintf(name, sizeof(name), "%s\"%g\"}", pre, flo_pool_lat_bounds[i]);
        double v = sample(t, name);
        cr_assert_geq(v, prev, "bucket %g went down", flo_pool_lat_bounds[i]);
        prev = v;
    }
    cr_assert_eq(
        sample(t, "flo_sidecar_request_duration_seconds_count{protocol=\"resp\",op=\"get\"}"), 5);
    double sum =
        sample(t, "flo_sidecar_request_duration_seconds_sum{protocol=\"resp\",op=\"get\"}");
    cr_assert(sum > 90.3 && sum < 90.4, "sum %f", sum);
    free(t);
}

Test(proto_metrics, buckets_match_the_issue)
{
    static const double want[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
    cr_assert_eq(PROTO_METRICS_NBUCKETS, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert_eq(flo_pool_lat_bounds[i], want[i]);
    }
}

Test(proto_metrics, series_keyed_by_text_not_pointer)
{
    char a[16], b[16];
    snprintf(a, sizeof(a), "kv_%s", "put");
    snprintf(b, sizeof(b), "kv_%s", "put");
    proto_metrics_request(PROTO_M_HTTP, a, "ok", 1);
    proto_metrics_request(PROTO_M_HTTP, b, "ok", 1);
    proto_metrics_request(PROTO_M_HTTP, "kv_put", "not_found", 1);
    proto_metrics_request(PROTO_M_RESP, "kv_put", NULL, 1); /* NULL result = ok */
    proto_metrics_request(PROTO_M_RESP, NULL, "bad_request", 1);
    char *t = render(NULL);
    cr_assert_eq(
        sample(t, "flo_sidecar_requests_total{protocol=\"http\",op=\"kv_put\",result=\"ok\"}"), 2);
    cr_assert_eq(
        sample(t,
               "flo_sidecar_requests_total{protocol=\"http\",op=\"kv_put\",result=\"not_found\"}"),
        1);
    cr_assert_eq(
        sample(t, "flo_sidecar_requests_total{protocol=\"resp\",op=\"kv_put\",result=\"ok\"}"), 1);
    cr_assert_eq(
        sample(
            t,
            "flo_sidecar_requests_total{protocol=\"resp\",op=\"unknown\",result=\"bad_request\"}"),
        1);
    /* One histogram per (protocol, op), whatever the result. */
    cr_assert_eq(
        sample(t, "flo_sidecar_request_duration_seconds_count{protocol=\"http\",op=\"kv_put\"}"),
        3);
    free(t);
}

Test(proto_metrics, series_past_the_cap_fold_into_other)
{
    char op[32];
    for (unsigned i = 0; i < PROTO_METRICS_MAX_SERIES + 10; i++) {
        snprintf(op, sizeof(op), "op%u", i);
        proto_metrics_request(PROTO_M_RESP, op, "ok", 1);
    }
    char *t = render(NULL);
    cr_assert_eq(
        sample(t, "flo_sidecar_requests_total{protocol=\"resp\",op=\"op0\",result=\"ok\"}"), 1);
    cr_assert_eq(
        sample(t, "flo_sidecar_requests_total{protocol=\"resp\",op=\"other\",result=\"ok\"}"), 10,
        "overflow not folded");
    char last[96];
    snprintf(last, sizeof(last),
             "flo_sidecar_requests_total{protocol=\"resp\",op=\"op%u\",result=\"ok\"}",
             PROTO_METRICS_MAX_SERIES + 5);
    cr_assert_eq(sample(t, last), -1, "a series past the cap exists");
    free(t);
}

Test(proto_metrics, gauges_counters_and_sources)
{
    proto_metrics_conn(PROTO_M_HTTP, 1);
    proto_metrics_conn(PROTO_M_HTTP, 1);
    proto_metrics_conn(PROTO_M_HTTP, -1);
    proto_metrics_longpoll(PROTO_M_RESP, 1);
    proto_metrics_bytes(PROTO_M_RESP, 100, 7);
    proto_metrics_rejected(PROTO_M_HTTP, PROTO_M_REJ_AUTH);
    proto_metrics_rejected(PROTO_M_RESP, PROTO_M_REJ_OUTPUT_BUFFER);

    struct flo_pool_stats ps;
    memset(&ps, 0, sizeof(ps));
    ps.conns_total = 6;
    ps.conns_up = 4;
    ps.reconnects = 3;
    ps.inflight = 2;
    ps.timeouts = 1;
    ps.failures = 5;
    ps.by_status[0] = 40;
    ps.by_status[2] = 2;
    ps.by_status[FLO_POOL_NSTATUS - 1] = 1;
    ps.lat_buckets[0] = 41;
    ps.lat_buckets[FLO_POOL_LAT_NBUCKETS] = 1;
    ps.lat_sum_s = 61.01;
    struct proto_metrics_src src = {
        .pool = &ps,
        .ready = true,
        .have_sessions = true,
        .http_sessions = 2,
        .resp_sessions = 1,
        .sess_created = 3,
        .sess_rejoined = 1,
    };
    char *t = render(&src);
    cr_assert_eq(sample(t, "flo_sidecar_client_connections{protocol=\"http\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_longpolls_waiting{protocol=\"resp\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_longpolls_waiting{protocol=\"http\"}"), 0);
    cr_assert_eq(sample(t, "flo_sidecar_bytes_received_total{protocol=\"resp\"}"), 100);
    cr_assert_eq(sample(t, "flo_sidecar_bytes_sent_total{protocol=\"resp\"}"), 7);
    cr_assert_eq(sample(t, "flo_sidecar_client_rejected_total{protocol=\"http\",reason=\"auth\"}"),
                 1);
    cr_assert_eq(
        sample(t, "flo_sidecar_client_rejected_total{protocol=\"resp\",reason=\"output_buffer\"}"),
        1);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_connections{state=\"up\"}"), 4);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_connections{state=\"down\"}"), 2);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_reconnects_total"), 3);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_inflight"), 2);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_timeouts_total"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_errors_total"), 5);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_responses_total{status=\"ok\"}"), 40);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_responses_total{status=\"not_found\"}"), 2);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_responses_total{status=\"unknown_status\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_request_duration_seconds_bucket{le=\"0.0005\"}"),
                 41);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_request_duration_seconds_bucket{le=\"60\"}"), 41);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_request_duration_seconds_bucket{le=\"+Inf\"}"),
                 42);
    cr_assert_eq(sample(t, "flo_sidecar_upstream_request_duration_seconds_count"), 42);
    cr_assert_eq(sample(t, "flo_sidecar_sessions{kind=\"http\"}"), 2);
    cr_assert_eq(sample(t, "flo_sidecar_sessions{kind=\"resp\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_session_events_total{event=\"created\"}"), 3);
    cr_assert_eq(sample(t, "flo_sidecar_session_events_total{event=\"rejoined\"}"), 1);
    cr_assert_eq(sample(t, "flo_sidecar_ready"), 1);
    free(t);
}

Test(proto_metrics, every_family_has_help_and_type)
{
    static const char *const families[][2] = {
        {"flo_sidecar_build_info", "gauge"},
        {"flo_sidecar_requests_total", "counter"},
        {"flo_sidecar_request_duration_seconds", "histogram"},
        {"flo_sidecar_upstream_request_duration_seconds", "histogram"},
        {"flo_sidecar_upstream_connections", "gauge"},
        {"flo_sidecar_upstream_reconnects_total", "counter"},
        {"flo_sidecar_upstream_inflight", "gauge"},
        {"flo_sidecar_upstream_responses_total", "counter"},
        {"flo_sidecar_upstream_timeouts_total", "counter"},
        {"flo_sidecar_upstream_errors_total", "counter"},
        {"flo_sidecar_longpolls_waiting", "gauge"},
        {"flo_sidecar_sessions", "gauge"},
        {"flo_sidecar_session_events_total", "counter"},
        {"flo_sidecar_client_connections", "gauge"},
        {"flo_sidecar_client_rejected_total", "counter"},
        {"flo_sidecar_bytes_received_total", "counter"},
        {"flo_sidecar_bytes_sent_total", "counter"},
        {"flo_sidecar_ready", "gauge"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_start_time_seconds", "gauge"},
    };
    char *t = render(NULL);
    char want[160];
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        snprintf(want, sizeof(want), "\n# TYPE %s %s\n", families[i][0], families[i][1]);
        cr_assert_not_null(strstr(t, want), "missing %s", want);
        snprintf(want, sizeof(want), "# HELP %s ", families[i][0]);
        cr_assert_not_null(strstr(t, want), "missing %s", want);
    }
    cr_assert_not_null(
        strstr(t, "flo_sidecar_build_info{version=\"" FLO_VERSION_STRING "\",commit=\""));
    /* The process figures are real. */
    cr_assert_gt(sample(t, "process_resident_memory_bytes"), 0);
    cr_assert_gt(sample(t, "process_open_fds"), 0);
    cr_assert_gt(sample(t, "process_start_time_seconds"), 1.6e9);
    free(t);
}

Test(proto_metrics, reset_forgets_everything)
{
    proto_metrics_request(PROTO_M_HTTP, "kv_get", "ok", 1);
    proto_metrics_conn(PROTO_M_RESP, 3);
    proto_metrics_reset();
    char *t = render(NULL);
    cr_assert_eq(
        sample(t, "flo_sidecar_requests_total{protocol=\"http\",op=\"kv_get\",result=\"ok\"}"), -1);
    cr_assert_eq(sample(t, "flo_sidecar_client_connections{protocol=\"resp\"}"), 0);
    free(t);
}

Test(proto_metrics, http_route_op_names)
{
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_KV_KEY, HTTP_M_GET), "kv_get");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_KV_KEY, HTTP_M_HEAD), "kv_get");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_KV_KEY, HTTP_M_PUT), "kv_put");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_KV_KEY, HTTP_M_DELETE), "kv_delete");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_KV_KEY, HTTP_M_PATCH), "kv_key");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_STREAM_RECORDS, HTTP_M_GET), "stream_read");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_STREAM_RECORDS, HTTP_M_POST), "stream_append");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_SESSION_RECORDS, HTTP_M_GET), "session_records");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_METRICS, HTTP_M_GET), "metrics");
    cr_assert_str_eq(http_route_op(HTTP_ROUTE_NONE, HTTP_M_GET), "unmatched");
    /* Every route has a name made of label-safe characters. */
    for (int r = HTTP_ROUTE_NONE; r <= HTTP_ROUTE_METRICS; r++) {
        for (int m = HTTP_M_GET; m <= HTTP_M_OTHER; m++) {
            const char *op = http_route_op((enum http_route_e)r, (enum http_method_e)m);
            cr_assert_not_null(op);
            cr_assert_gt(strlen(op), 0);
            cr_assert_eq(strspn(op, "abcdefghijklmnopqrstuvwxyz_"), strlen(op), "%s", op);
        }
    }
}

Test(proto_metrics, metrics_path_routes)
{
    struct http_target t;
    struct proto_err e;
    http_target_init(&t);
    cr_assert_eq(http_route_match("/metrics", 8, &t, &e), 0);
    cr_assert_eq(t.route, HTTP_ROUTE_METRICS);
    http_target_free(&t);
}
