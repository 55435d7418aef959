/*
 * Helpers shared by the stream routes (http_stream.c) and the consumer-group
 * routes (http_stream_group.c): per-request state, stream ids and names in
 * JSON replies. Internal to protocols/http/ (the generic completion and reply
 * helpers are in http_internal.h).
 */
#ifndef HTTP_STREAM_H
#define HTTP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "flo/flo_ops.h"
#include "http_internal.h"
#include "http_json.h"

struct hs_sse;

/* Per-request state of the stream routes (r->ext), from prepare on. */
struct hs_state {
    struct flo_wbuf val;              /* request value (owned) */
    struct flo_wbuf consumer;         /* pending: ?consumer= (owned) */
    struct flo_stream_read_args read; /* read: parsed options */
    uint32_t count;                   /* append: records sent */
    bool force;                       /* delete: ?force=true */
    bool dry_run;                     /* trim: echoed in the reply */
    bool has_ack_timeout, has_max_deliver;
    uint32_t ack_timeout_ms; /* group create / sweeper */
    uint8_t max_deliver;
    uint64_t partitions, retention_age_s, retention_count; /* stream create */
    bool follow;                                           /* read: live SSE follow */
    bool has_end_param;                                    /* read: ?end was given */
    struct hs_sse *sse;                                    /* follow state (owned) */
};

/* Allocate r->ext; replies 503 and returns NULL on failure. */
struct hs_state *hs_state(struct http_req *r);

/* Parse a stream id ("ts-seq" or "ts") from bytes; 0, or -1 with *e (400)
 * naming `what` ("query parameter start"). */
int hs_parse_id(flo_buf_t text, const char *what, struct flo_stream_id *id, struct proto_err *e);

/* "name": "ts-seq". */
void hs_json_id(struct http_json *j, const char *name, struct flo_stream_id id);

/* A Flo request on the stream named in the path, with r->opts and s->val. */
struct flo_req hs_req(struct http_req *r, uint16_t op);

/* "stream": name (and "group": name when the path has one). */
void hs_json_names(struct http_json *j, struct http_req *r);

/* The members of one record object (id, payload + encoding, headers +
 * headers_encoding, partition) into the object open in j: the shape every
 * record read uses. 0 or FLO_ENOMEM. */
int hs_json_record(struct http_json *j, const struct flo_stream_record *rec);

/* ---- live follow over Server-Sent Events (http_stream_sse.c) ---- */

/* (Whether a GET asks for a follow: http_sse_wanted in http_sse.h.) */
/* Start a follow with the parsed read options in s->read (start / tail /
 * count / partition); replies (an error, or the event stream) or suspends. */
void hs_sse_start(struct http_req *r);
/* Free a follow's state (the server has already cancelled r->call). */
void hs_sse_free(struct hs_sse *x);

#endif
