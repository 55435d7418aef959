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

#endif
