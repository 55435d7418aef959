/*
 * Delivery of a consumer session's records as Server-Sent Events: GET
 * /v1/sessions/{id}/records with `Accept: text/event-stream` or
 * ?follow=true (docs/http-api.md, "Consumer sessions").
 *
 * The same approach as the stream follow (http_stream_sse.c): a first,
 * non-blocking session read is an ordinary request, so a failure (the group
 * was deleted, Flo is down) is a normal JSON error reply; after it the
 * reply is a chunked text/event-stream produced by a libmicrohttpd
 * content-reader callback. The reader hands out the formatted events of the
 * last read; once they are all taken it starts the next session read
 * (claim, then a blocking group read of at most SSE_ROUND_BLOCK_MS) and
 * suspends the connection until it completes. Memory per client is one read
 * batch, and a client that stops reading stops the reads, so records are
 * not claimed for a consumer that cannot take them. Rounds are cut short so
 * a ": keep-alive" comment goes out at least every SSE_KEEPALIVE_MS. The
 * session stays held (it never expires) while the stream is open; a client
 * hang-up cancels the read in flight (the server's disconnect watch), and
 * sidecar shutdown releases the request and the reader ends the stream.
 *
 * Records delivered here are pending in the group like any session read:
 * the client acks them with POST /v1/sessions/{id}/ack.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_session.h"

#define SSE_ROUND_BLOCK_MS 10000u /* longest blocking session read per round */
#define SSE_KEEPALIVE_MS   15000u /* longest silence on the wire */
#define SSE_MIN_BLOCK_MS   100u   /* never spin with tiny rounds */
#define SSE_BLOCK_SIZE     16384u /* MHD's read size hint */
#define SSE_KEEP_CAP       65536u /* drop a bigger idle buffer once drained */
#define SSE_MIME           "text/event-stream"
#define SSE_KEEPALIVE      ": keep-alive\n\n"

/* An SSE delivery in progress (hsess.sse). */
struct hsess_sse {
    struct flo_wbuf out;    /* formatted events not yet handed to MHD */
    size_t off;             /* bytes of out already handed out */
    uint64_t last_write_ms; /* loop time bytes were last queued */
    bool ending;            /* an error event is queued: end after it */
};

void hsess_sse_free(struct hsess_sse *x)
{
    if (x != NULL) {
        flo_wbuf_free(&x->out);
        free(x);
    }
}

static uint64_t now_ms(struct http_req *r)
{
    return uv_now(r->srv->ctx->loop);
}

static int out_cstr(struct hsess_sse *x, const char *s)
{
    return flo_wbuf_append(&x->out, s, strlen(s));
}

/* "event: error" with {"error", "code"}, then the stream ends. */
static void queue_error(struct http_req *r, struct hsess_sse *x, const struct proto_err *e)
{
    struct flo_wbuf b;
    struct http_json j;
    http_json_start(&j, &b);
    http_json_cstr(&j, "error", e->message);
    http_json_cstr(&j, "code", e->code ? e->code : "error");
    http_json_end(&j);
    /* On allocation failure the stream just ends without the event. */
    if (j.err == 0 && out_cstr(x, "event: error\ndata: ") == 0 &&
        flo_wbuf_append(&x->out, b.data, b.len) == 0) {
        out_cstr(x, "\n\n");
    }
    flo_wbuf_free(&b);
    x->ending = true;
    x->last_write_ms = now_ms(r);
}

static void queue_error_code(struct http_req *r, struct hsess_sse *x, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    queue_error(r, x, &e);
}

/* Format records as events. 0 or a negative code (events formatted so far
 * stay queued; never half an event). */
static int queue_records(struct http_req *r, struct hsess_sse *x, const struct proto_sess_rec *recs,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct flo_wbuf b;
        struct http_json j;
        char id[FLO_STREAM_ID_TEXT_MAX];
        http_json_start(&j, &b);
        int rc = hsess_json_record(&j, &recs[i]);
        http_json_end(&j);
        if (rc == 0 && j.err != 0) {
            rc = j.err;
        }
        if (rc == 0 && flo_stream_id_format(recs[i].rec.id, id, sizeof(id)) < 0) {
            rc = FLO_EINVAL;
        }
        /* The JSON is one line (strings are escaped), as SSE data must be. */
        size_t mark = x->out.len;
        if (rc == 0 && (out_cstr(x, "id: ") < 0 || out_cstr(x, id) < 0 ||
                        out_cstr(x, "\nevent: record\ndata: ") < 0 ||
                        flo_wbuf_append(&x->out, b.data, b.len) < 0 || out_cstr(x, "\n\n") < 0)) {
            x->out.len = mark;
            rc = FLO_ENOMEM;
        }
        flo_wbuf_free(&b);
        if (rc < 0) {
            return rc;
        }
        x->last_write_ms = now_ms(r);
    }
    return 0;
}

/* A later round came back: queue its events and resume the connection;
 * MHD then calls the reader again. */
static void round_done(void *arg, const struct proto_sess_rec *recs, size_t n,
                       const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    struct hsess_sse *x = s->sse;
    s->op = NULL;
    /* Leave "waiting" so the next round suspends afresh (the response
     * itself is already queued). */
    r->state = HTTP_RS_REPLIED;
    if (e != NULL) {
        queue_error(r, x, e);
    } else {
        int rc = queue_records(r, x, recs, n);
        if (rc < 0) {
            queue_error_code(r, x, rc);
        }
    }
    http_req_resume(r);
}

static ssize_t copy_out(struct hsess_sse *x, char *buf, size_t max)
{
    size_t n = x->out.len - x->off;
    if (n > max) {
        n = max;
    }
    memcpy(buf, x->out.data + x->off, n);
    x->off += n;
    if (x->off == x->out.len) {
        x->off = 0;
        if (x->out.cap > SSE_KEEP_CAP) {
            flo_wbuf_free(&x->out); /* a big batch went by: give it back */
        } else {
            flo_wbuf_reset(&x->out);
        }
    }
    return (ssize_t)n;
}

/* MHD wants more of the body. Runs only while the connection is live, so
 * r is valid; r->ext is gone once the server released the request. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    struct hsess *s = r->ext;
    struct proto_err e;
    (void)pos;
    if (r->client_gone) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s == NULL || s->sse == NULL) {
        return MHD_CONTENT_READER_END_OF_STREAM; /* sidecar shutting down */
    }
    struct hsess_sse *x = s->sse;
    if (x->off < x->out.len) {
        return copy_out(x, buf, max);
    }
    if (x->ending) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (s->op != NULL) {
        return 0; /* a read is in flight; its completion resumes us */
    }
    uint64_t idle = now_ms(r) - x->last_write_ms;
    if (idle >= SSE_KEEPALIVE_MS) {
        if (out_cstr(x, SSE_KEEPALIVE) < 0) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        x->last_write_ms = now_ms(r);
        return copy_out(x, buf, max);
    }
    uint64_t block = SSE_KEEPALIVE_MS - idle;
    if (block > SSE_ROUND_BLOCK_MS) {
        block = SSE_ROUND_BLOCK_MS;
    }
    if (block < SSE_MIN_BLOCK_MS) {
        block = SSE_MIN_BLOCK_MS;
    }
    struct proto_sess_read_args a = {.count = s->read.count, .block_ms = (uint32_t)block};
    if (proto_sess_read(s->sess, &a, round_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        queue_error(r, x, &e);
        return copy_out(x, buf, max);
    }
    http_req_suspend(r);
    http_req_watch_disconnect(r);
    return 0; /* suspended until round_done */
}

/* The first read succeeded: answer 200 with the event stream. */
static void begin_stream(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_SIZE, sse_reader, r, NULL);
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
    if (s->sse->out.len == 0) {
        s->sse->last_write_ms = now_ms(r); /* the headers count as traffic */
    }
}

/* The first read (claimed and waiting records, without blocking). */
static void first_done(void *arg, const struct proto_sess_rec *recs, size_t n,
                       const struct proto_err *e)
{
    struct http_req *r = arg;
    struct hsess *s = r->ext;
    s->op = NULL;
    if (e != NULL) {
        http_reply_error(r, e);
    } else {
        int rc = queue_records(r, s->sse, recs, n);
        if (rc < 0) {
            http_reply_code(r, rc);
        } else {
            begin_stream(r);
        }
    }
    http_req_resume(r);
}

void hsess_sse_start(struct http_req *r)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    if (s->read.block_ms > 0) {
        proto_err_bad_request(&e, "block_ms has no meaning for an event stream (it waits "
                                  "for records as long as it is open): drop it");
        http_reply_error(r, &e);
        return;
    }
    struct hsess_sse *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&x->out);
    s->sse = x;
    struct proto_sess_read_args a = {.count = s->read.count, .block_ms = 0};
    if (proto_sess_read(s->sess, &a, first_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
}
