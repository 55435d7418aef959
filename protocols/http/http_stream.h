/*
 * Helpers shared by the stream routes (http_stream.c) and the consumer-group
 * routes (http_stream_group.c): per-request state, query parsing with the
 * namespace, completion checks and JSON replies. Internal to protocols/http/.
 */
#ifndef HTTP_STREAM_H
#define HTTP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "flo/flo_ops.h"
#include "http_internal.h"
#include "http_json.h"

#define HTTP_STREAM_MAX_PARAMS 8 /* route query parameters besides namespace */

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

/*
 * Parse the query against ps[0..n) plus "namespace", then pick the
 * namespace (?namespace= > X-Flo-Namespace > default). `route` names the
 * route in messages. 0, or -1 after replying 400.
 */
int hs_parse_query(struct http_req *r, struct http_qparam *ps, size_t n, const char *route);

/* Parse a stream id ("ts-seq" or "ts") from bytes; 0, or -1 with *e (400)
 * naming `what` ("query parameter start"). */
int hs_parse_id(flo_buf_t text, const char *what, struct flo_stream_id *id, struct proto_err *e);

/* "name": "ts-seq". */
void hs_json_id(struct http_json *j, const char *name, struct flo_stream_id id);

/* Head of every completion: 0 to go on with an OK body, -1 once a reply
 * (transport error or Flo status) has been made. */
int hs_check_reply(struct http_req *r, int err, uint8_t status, flo_buf_t body);

/* Serialise a finished JSON body, or 503 if building it failed. Frees b. */
void hs_reply_built(struct http_req *r, unsigned status, struct flo_wbuf *b,
                    const struct http_json *j);

/* http_req_send, replying with the error if it cannot be sent. */
void hs_send(struct http_req *r, const struct flo_req *req, uint32_t timeout, unsigned flags,
             http_done_cb done);

/* A Flo request on the stream named in the path, with r->opts and s->val. */
struct flo_req hs_req(struct http_req *r, uint16_t op);

/* "stream": name (and "group": name when the path has one). */
void hs_json_names(struct http_json *j, struct http_req *r);

#endif
