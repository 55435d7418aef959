/*
 * Defaults of the client-facing resource limits and the process-wide count
 * of blocking requests (long-polls, SSE waits, RESP blocking commands) that
 * both front ends share, so one cap bounds the memory that waiting clients
 * can pin whatever protocol they use.
 */
#include "proto.h"

void proto_limits_defaults(struct proto_limits *l, size_t max_body)
{
    if (max_body == 0) {
        max_body = PROTO_DEFAULT_MAX_BODY;
    }
    l->max_http_connections = PROTO_DEFAULT_MAX_HTTP_CONNECTIONS;
    l->max_resp_clients = PROTO_DEFAULT_MAX_RESP_CLIENTS;
    l->max_resp_args = PROTO_DEFAULT_MAX_RESP_ARGS;
    /* A value travels as one bulk argument: the largest accepted value plus
     * room for nothing else, so the slack only has to cover rounding. */
    l->max_resp_bulk = max_body + PROTO_RESP_BULK_SLACK;
    l->max_longpolls = PROTO_DEFAULT_MAX_LONGPOLLS;
    l->resp_output_limit = PROTO_DEFAULT_RESP_OUTPUT_LIMIT;
}

void proto_limits_resolve(const struct proto_limits *in, size_t max_body, struct proto_limits *out)
{
    struct proto_limits d;
    proto_limits_defaults(&d, max_body);
    if (in == NULL) {
        *out = d;
        return;
    }
    out->max_http_connections =
        in->max_http_connections ? in->max_http_connections : d.max_http_connections;
    out->max_resp_clients = in->max_resp_clients ? in->max_resp_clients : d.max_resp_clients;
    out->max_resp_args = in->max_resp_args ? in->max_resp_args : d.max_resp_args;
    out->max_resp_bulk = in->max_resp_bulk ? in->max_resp_bulk : d.max_resp_bulk;
    out->max_longpolls = in->max_longpolls ? in->max_longpolls : d.max_longpolls;
    out->resp_output_limit = in->resp_output_limit ? in->resp_output_limit : d.resp_output_limit;
}

/* Process-wide: every caller runs on the sidecar's one loop thread. */
static unsigned longpolls_waiting;
static unsigned longpolls_max = PROTO_DEFAULT_MAX_LONGPOLLS;

void proto_longpoll_set_max(unsigned max)
{
    longpolls_max = max ? max : PROTO_DEFAULT_MAX_LONGPOLLS;
}

int proto_longpoll_enter(void)
{
    if (longpolls_waiting >= longpolls_max) {
        return PROTO_ELONGPOLLS;
    }
    longpolls_waiting++;
    return 0;
}

void proto_longpoll_leave(void)
{
    if (longpolls_waiting > 0) {
        longpolls_waiting--;
    }
}

unsigned proto_longpoll_count(void)
{
    return longpolls_waiting;
}
