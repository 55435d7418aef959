/*
 * The Server-Sent Events writer shared by the stream follow and the
 * consumer-session delivery (http_sse.h has the contract).
 *
 * Memory: libmicrohttpd allocates SSE_BLOCK_SIZE bytes per callback
 * response for the whole life of the connection, so that hint is most of
 * what an idle follower costs; events are small and a large one simply
 * takes several reader calls (copy_out hands out at most `max` bytes each
 * time). The event buffer itself is given back once a large batch drained.
 */
#include "http_sse.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "http_json.h"
#include "proto_metrics.h"

#define SSE_ROUND_BLOCK_MS 10000u /* longest blocking read per round */
#define SSE_KEEPALIVE_MS   15000u /* longest silence on the wire */
#define SSE_MIN_BLOCK_MS   100u   /* never spin with tiny rounds */
#define SSE_BLOCK_SIZE     2048u  /* MHD's per-connection body buffer */
#define SSE_KEEP_CAP       65536u /* drop a bigger idle buffer once drained */
#define SSE_MIME           "text/event-stream"
#define SSE_KEEPALIVE      ": keep-alive\n\n"

bool http_sse_wanted(struct http_req *r, bool follow_param)
{
    if (follow_param) {
        return true;
    }
    const char *accept = http_req_header(r, MHD_HTTP_HEADER_ACCEPT);
    size_t n = sizeof(SSE_MIME) - 1;
    for (const char *p = accept; p != NULL && *p != '\0'; p++) {
        if (strncasecmp(p, SSE_MIME, n) == 0) {
            return true;
        }
    }
    return false;
}

void http_sse_init(struct http_sse *w, const struct http_sse_ops *ops)
{
    memset(w, 0, sizeof(*w));
    w->ops = ops;
    flo_wbuf_init(&w->out);
}

void http_sse_free(struct http_sse *w)
{
    flo_wbuf_free(&w->out);
}

static uint64_t now_ms(struct http_req *r)
{
    return uv_now(r->srv->ctx->loop);
}

static int out_cstr(struct http_sse *w, const char *s)
{
    return flo_wbuf_append(&w->out, s, strlen(s));
}

int http_sse_record(struct http_req *r, struct http_sse *w, struct flo_stream_id id,
                    const struct flo_wbuf *json)
{
    char text[FLO_STREAM_ID_TEXT_MAX];
    if (flo_stream_id_format(id, text, sizeof(text)) < 0) {
        return FLO_EINVAL;
    }
    size_t mark = w->out.len;
    if (out_cstr(w, "id: ") < 0 || out_cstr(w, text) < 0 ||
        out_cstr(w, "\nevent: record\ndata: ") < 0 ||
        flo_wbuf_append(&w->out, json->data, json->len) < 0 || out_cstr(w, "\n\n") < 0) {
        w->out.len = mark; /* never half an event */
        return FLO_ENOMEM;
    }
    w->last_write_ms = now_ms(r);
    return 0;
}

void http_sse_error(struct http_req *r, struct http_sse *w, const struct proto_err *e)
{
    struct flo_wbuf b;
    /* On allocation failure the stream just ends without the event. */
    if (http_error_json(&b, e) == 0 && out_cstr(w, "event: error\ndata: ") == 0 &&
        flo_wbuf_append(&w->out, b.data, b.len) == 0) {
        out_cstr(w, "\n\n");
    }
    flo_wbuf_free(&b);
    w->ending = true;
    w->last_write_ms = now_ms(r);
}

void http_sse_error_code(struct http_req *r, struct http_sse *w, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    http_sse_error(r, w, &e);
}

void http_sse_respond(struct http_req *r, struct http_sse *w,
                      ssize_t (*reader)(void *cls, uint64_t pos, char *buf, size_t max))
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_SIZE, reader, r, NULL);
    if (resp == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, SSE_MIME);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* nginx and friends buffer responses unless told not to. */
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    if (r->resp != NULL) {
        MHD_destroy_response(r->resp);
    }
    r->resp = resp;
    r->resp_status = MHD_HTTP_OK;
    r->state = HTTP_RS_REPLIED;
    if (w->out.len == 0) {
        w->last_write_ms = now_ms(r); /* the headers count as traffic */
    }
}

static ssize_t copy_out(struct http_sse *w, char *buf, size_t max)
{
    size_t n = w->out.len - w->off;
    if (n > max) {
        n = max;
    }
    memcpy(buf, w->out.data + w->off, n);
    w->off += n;
    /* Event streams bypass the per-request byte count (no final body). */
    proto_metrics_bytes(PROTO_M_HTTP, 0, n);
    if (w->off == w->out.len) {
        w->off = 0;
        if (w->out.cap > SSE_KEEP_CAP) {
            flo_wbuf_free(&w->out); /* a big batch went by: give it back */
        } else {
            flo_wbuf_reset(&w->out);
        }
    }
    return (ssize_t)n;
}

ssize_t http_sse_read(struct http_req *r, struct http_sse *w, char *buf, size_t max)
{
    if (r->client_gone) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (w == NULL) {
        return MHD_CONTENT_READER_END_OF_STREAM; /* sidecar shutting down */
    }
    if (w->off < w->out.len) {
        return copy_out(w, buf, max);
    }
    if (w->ending) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (w->ops->busy(r)) {
        return 0; /* a round is in flight; its completion resumes us */
    }
    uint64_t idle = now_ms(r) - w->last_write_ms;
    if (idle >= SSE_KEEPALIVE_MS) {
        if (out_cstr(w, SSE_KEEPALIVE) < 0) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        w->last_write_ms = now_ms(r);
        return copy_out(w, buf, max);
    }
    uint64_t block = SSE_KEEPALIVE_MS - idle;
    if (block > SSE_ROUND_BLOCK_MS) {
        block = SSE_ROUND_BLOCK_MS;
    }
    if (block < SSE_MIN_BLOCK_MS) {
        block = SSE_MIN_BLOCK_MS;
    }
    if (w->ops->round(r, (uint32_t)block) < 0) {
        return copy_out(w, buf, max); /* the error event, then the end */
    }
    return 0; /* suspended until the round completes */
}
