/*
 * Reply helpers shared by the route files of protocols/http/: the common
 * head of upstream completions, serialising a built JSON body, and sending
 * upstream with the error reply when the call cannot even start. Kept apart
 * from http_server.c, which owns the MHD side of replies.
 */
#include <microhttpd.h>

#include "flo/flo_codec.h"
#include "http_internal.h"
#include "http_json.h"

int http_check_reply_with(struct http_req *r, int err, uint8_t status, flo_buf_t body,
                          void (*on_not_found)(struct http_req *r),
                          void (*on_conflict)(struct http_req *r))
{
    if (err < 0) {
        http_reply_code(r, err);
        return -1;
    }
    if (status == FLO_STATUS_NOT_FOUND && on_not_found != NULL) {
        on_not_found(r);
        return -1;
    }
    if (status == FLO_STATUS_CONFLICT && on_conflict != NULL) {
        on_conflict(r);
        return -1;
    }
    if (status != FLO_STATUS_OK) {
        http_kv_reply_status(r, status, body);
        return -1;
    }
    return 0;
}

int http_check_reply(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    return http_check_reply_with(r, err, status, body, NULL, NULL);
}

void http_reply_built(struct http_req *r, unsigned status, struct flo_wbuf *b,
                      const struct http_json *j)
{
    if (j->err < 0) {
        http_reply_code(r, j->err);
    } else {
        http_reply_json(r, status, b);
    }
    flo_wbuf_free(b);
}

void http_send_or_reply(struct http_req *r, const struct flo_req *req, uint32_t timeout,
                        unsigned flags, http_done_cb done)
{
    int rc = http_req_send(r, req, timeout, flags, done);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}

int http_parse_query_or_reply(struct http_req *r, struct http_qparam *ps, size_t n,
                              const char *route)
{
    struct proto_err e;
    if (http_kv_parse_query(r, ps, n, ps, route, &e) < 0) {
        http_reply_error(r, &e);
        return -1;
    }
    return 0;
}

void http_reply_list_end(struct http_req *r, struct flo_wbuf *b, struct http_json *j, uint64_t n,
                         flo_buf_t trailer)
{
    http_json_array_end(j);
    http_json_u64(j, "count", n);
    /* The optional shard-walk trailer says whether the list was cut. */
    http_json_bool(j, "has_more", trailer.len > 0 && trailer.ptr[0] != 0);
    http_json_end(j);
    http_reply_built(r, MHD_HTTP_OK, b, j);
}
