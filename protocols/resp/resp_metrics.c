/*
 * Metrics and the debug command line of the RESP front end: each command
 * is counted once, when its reply is complete, under its command-table name
 * and a result taken from its reply (the sidecar's error code when the
 * error came from the shared error table, else one derived from the RESP
 * error prefix); blocked clients (a command waiting on a blocking upstream
 * request) are counted as long-polls waiting.
 */
#include <stdio.h>
#include <string.h>

#include "flo/flo_log.h"
#include "proto_metrics.h"
#include "resp_internal.h"

#define NS_PER_MS 1e6

void resp__pending_blocked(struct resp_pending *p)
{
    if (!p->lp_counted) {
        p->lp_counted = true;
        proto_metrics_longpoll(PROTO_M_RESP, 1);
    }
}

void resp__pending_unblocked(struct resp_pending *p)
{
    if (p->lp_counted) {
        p->lp_counted = false;
        proto_metrics_longpoll(PROTO_M_RESP, -1);
    }
}

/* Does the error reply start with this prefix word ("-NOAUTH ...")? */
static bool prefix_is(const struct flo_wbuf *reply, const char *word)
{
    size_t n = strlen(word);
    return reply->len > n + 1 && memcmp(reply->data + 1, word, n) == 0 &&
           (reply->data[n + 1] == ' ' || reply->data[n + 1] == '\r');
}

/* Result of an error reply written without a code from the error table:
 * the sidecar's own validation errors (arity, syntax, unknown command)
 * carry "ERR" and are bad requests. */
static const char *result_for_prefix(const struct flo_wbuf *reply)
{
    if (prefix_is(reply, "NOAUTH") || prefix_is(reply, "WRONGPASS")) {
        return "unauthorized";
    }
    if (prefix_is(reply, "BUSY")) {
        return "overloaded";
    }
    if (prefix_is(reply, "TRYAGAIN")) {
        return "unavailable";
    }
    if (prefix_is(reply, "CONFLICT")) {
        return "conflict";
    }
    if (prefix_is(reply, "EXECABORT")) {
        return "aborted";
    }
    if (prefix_is(reply, "WRONGTYPE")) {
        return "wrong_type";
    }
    return prefix_is(reply, "ERR") ? "bad_request" : "error";
}

void resp__pending_observe(struct resp_pending *p)
{
    const struct resp_cmd *cmd = p->cmd;
    if (cmd == NULL && p->args.argc > 0) {
        cmd = resp__cmd_lookup(p->args.argv[0]);
    }
    const char *op = cmd ? cmd->name : "unknown";
    const char *result = "ok";
    /* RESP2/3 simple errors start with '-', RESP3 blob errors with '!'. */
    if (p->reply.len > 0 && (p->reply.data[0] == '-' || p->reply.data[0] == '!')) {
        result = p->result[0] ? p->result : result_for_prefix(&p->reply);
    }
    /* A command completed from an upstream callback ends when that
     * response's socket read was stamped (shared with the upstream
     * histogram); a fresh reading otherwise (flo_pool_now_ns). */
    uint64_t now = flo_pool_now_ns(p->c->srv->ctx ? p->c->srv->ctx->pool : NULL);
    uint64_t ns = now > p->t0_ns ? now - p->t0_ns : 0;
    proto_metrics_request(PROTO_M_RESP, op, result, ns);
    if (strcmp(result, "unauthorized") == 0) {
        proto_metrics_rejected(PROTO_M_RESP, PROTO_M_REJ_AUTH);
    } else if (strcmp(result, "too_large") == 0) {
        proto_metrics_rejected(PROTO_M_RESP, PROTO_M_REJ_TOO_LARGE);
    }
    resp__pending_unblocked(p);
    if (flo_log_get_level() > FLO_LOG_DEBUG) {
        return;
    }
    FLO_DEBUG("resp command", "client=%llu cmd=%s result=%s duration_ms=%.3f",
              (unsigned long long)p->c->id, op, result, (double)ns / NS_PER_MS);
}
