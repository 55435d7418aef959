/*
 * The sidecar's one metrics registry and its Prometheus text renderer
 * (exposition format 0.0.4). Both front ends record into it: requests by
 * (protocol, op, result), client-facing latency histograms by (protocol,
 * op), bytes, connections, long-polls waiting and rejected clients. Upstream
 * pool counters, session counts, readiness, build and process figures are
 * read at render time from their owners (struct proto_metrics_src).
 *
 * The registry is process-wide and used from the loop thread only (one
 * libuv loop runs everything). Label sets are bounded: op and result are
 * short static names from the route / command / error tables; each distinct
 * (protocol, op, result) is one series, at most PROTO_METRICS_MAX_SERIES of
 * them (beyond that new combinations are folded into op="other").
 */
#ifndef PROTO_METRICS_H
#define PROTO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "flo/flo_pool.h"

#define PROTO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROTO_METRICS_MAX_SERIES   2048u /* (protocol, op, result) combinations */
#define PROTO_METRICS_NAME_MAX     48u   /* op / result label bytes kept */
/* Histogram buckets: the upstream pool's bounds (flo_pool.h), so client and
 * upstream latencies compare bucket for bucket. */
#define PROTO_METRICS_NBUCKETS FLO_POOL_LAT_NBUCKETS

#ifndef FLO_GIT_COMMIT
#define FLO_GIT_COMMIT "unknown"
#endif

enum proto_metrics_proto_e {
    PROTO_M_HTTP = 0,
    PROTO_M_RESP = 1,
    PROTO_M_NPROTO = 2,
};

enum proto_metrics_reject_e {
    PROTO_M_REJ_MAX_CONNECTIONS = 0, /* listener at its connection limit */
    PROTO_M_REJ_AUTH = 1,            /* missing / wrong token or password */
    PROTO_M_REJ_OUTPUT_BUFFER = 2,   /* client did not read its replies */
    PROTO_M_REJ_TOO_LARGE = 3,       /* request / value over a size limit */
    PROTO_M_NREJ = 4,
};

/* A latency histogram: per-bucket counts (not cumulative; the last slot is
 * +Inf), observation count and sum in seconds. */
struct proto_hist {
    uint64_t buckets[PROTO_METRICS_NBUCKETS + 1];
    uint64_t count;
    double sum;
};

/* Add one observation (seconds, >= 0) to h. */
void proto_hist_observe(struct proto_hist *h, double seconds);

/* The label value of a protocol: "http" / "resp". */
const char *proto_metrics_proto_name(enum proto_metrics_proto_e p);

/*
 * One finished request: counts it under (protocol, op, result) and observes
 * its duration under (protocol, op). op and result are copied (cut at
 * PROTO_METRICS_NAME_MAX - 1 bytes); NULL op is "unknown", NULL result is
 * "ok". Memory for a new series is allocated here; if that fails the
 * request is not counted (metrics never fail a request).
 */
void proto_metrics_request(enum proto_metrics_proto_e p, const char *op, const char *result,
                           uint64_t duration_ns);
/* Bytes read from / written to clients. */
void proto_metrics_bytes(enum proto_metrics_proto_e p, uint64_t received, uint64_t sent);
/* Client connections open now: +1 on accept, -1 on close. */
void proto_metrics_conn(enum proto_metrics_proto_e p, int delta);
/* Requests suspended on a blocking upstream call now: +1 / -1. */
void proto_metrics_longpoll(enum proto_metrics_proto_e p, int delta);
/* A client or request refused for `reason`. */
void proto_metrics_rejected(enum proto_metrics_proto_e p, enum proto_metrics_reject_e reason);

/* What the renderer reads besides the registry. Every pointer may be NULL
 * (that part is then rendered as zeros / omitted). */
struct proto_metrics_src {
    const struct flo_pool_stats *pool; /* upstream pool counters */
    bool ready;                        /* the sidecar answers 200 on /readyz */
    bool have_sessions;                /* the session fields below are valid */
    uint64_t http_sessions, resp_sessions;
    uint64_t sess_created, sess_expired, sess_ended, sess_reattached, sess_rejoined;
};

/*
 * Render every family (HELP and TYPE lines, then samples) into out
 * (appended). Returns 0 or FLO_ENOMEM.
 */
int proto_metrics_render(const struct proto_metrics_src *src, struct flo_wbuf *out);

/* Append s as a Prometheus label value (without the quotes): \ " and
 * newline escaped. 0 or FLO_ENOMEM. */
int proto_metrics_escape(struct flo_wbuf *out, const char *s);

/* Forget every series and zero every counter and gauge (tests; and the
 * sidecar at exit, so a leak check sees no registry memory). */
void proto_metrics_reset(void);

#endif
