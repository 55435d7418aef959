/*
 * State shared by the consumer-session routes (http_session.c) and the
 * session's Server-Sent Events delivery (http_session_sse.c). Internal to
 * protocols/http/. Every session operation goes through the session core
 * (protocols/common/proto_session.h); these files never talk to Flo's
 * group ops themselves.
 */
#ifndef HTTP_SESSION_H
#define HTTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "http_internal.h"
#include "http_json.h"
#include "proto_session.h"

struct hsess_sse;

/* Per-request state of a session route (r->ext). */
struct hsess {
    proto_sess_t *sess;       /* held for the request's life (NULL until got) */
    proto_sess_op_t *op;      /* session operation in flight, NULL if none */
    struct flo_wbuf consumer; /* create: ?consumer= (owned) */
    bool has_consumer;
    uint32_t claim_idle_ms; /* create: 0 = default */
    bool has_claim_idle;
    struct proto_sess_read_args read; /* records: count, block_ms */
    bool follow;                      /* records: ?follow= given true */
    struct hsess_sse *sse;            /* SSE delivery (owned) */
};

/* One record of a session read as the JSON object every read uses (the
 * stream read's members plus "delivery_count") into the object open in j.
 * 0 or FLO_ENOMEM. */
int hsess_json_record(struct http_json *j, const struct proto_sess_rec *rec);

/* Deliver the session's records as Server-Sent Events; s->sess is held and
 * s->read parsed. Replies (an error, or the event stream) or suspends. */
void hsess_sse_start(struct http_req *r);
/* Free the SSE state (the session op is already cancelled). */
void hsess_sse_free(struct hsess_sse *x);

#endif
