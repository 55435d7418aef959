/*
 * Live follow of a stream over Server-Sent Events: GET
 * /v1/streams/{s}/records with `Accept: text/event-stream` or ?follow=true
 * (docs/http-api.md, "Following a stream (SSE)").
 *
 * The follow starts where the client says: after the Last-Event-ID header
 * (an EventSource reconnecting), else after ?start, else after the stream's
 * last id at connect time (a STREAM_INFO first, so records appended between
 * two reads are never skipped the way repeated tail reads would skip them).
 * The first step is an ordinary upstream call, so a missing stream or a bad
 * id is a normal JSON error reply; after it the reply is a chunked
 * text/event-stream produced by a libmicrohttpd content-reader callback.
 *
 * The reader hands out the formatted events of the last read; once they are
 * all taken it sends the next read (blocking, on the pool's long-poll lane,
 * from the last id sent) and suspends the connection through http_req_send
 * until the read returns. Memory per follower is therefore one read batch:
 * a client that does not read stops the reader being called, so nothing
 * more is read upstream for it (and MHD's idle timeout eventually drops
 * it). Rounds are cut short so a ": keep-alive" comment goes out at least
 * every SSE_KEEPALIVE_MS. A client hang-up while suspended is seen by the
 * server's disconnect watch (the upstream call is cancelled); sidecar
 * shutdown releases the follow and the reader ends the stream cleanly.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_stream.h"

#define SSE_ROUND_BLOCK_MS 10000u /* longest blocking read per round */
#define SSE_KEEPALIVE_MS   15000u /* longest silence on the wire */
#define SSE_MIN_BLOCK_MS   100u   /* never spin with tiny rounds */
#define SSE_BLOCK_SIZE     16384u /* MHD's read size hint */
#define SSE_KEEP_CAP       65536u /* drop a bigger idle buffer once drained */
#define SSE_MIME           "text/event-stream"
#define SSE_KEEPALIVE      ": keep-alive\n\n"
#define LAST_EVENT_ID      "Last-Event-ID"

/* A follow in progress (hs_state.sse). */
struct hs_sse {
    struct flo_wbuf out;         /* formatted events not yet handed to MHD */
    size_t off;                  /* bytes of out already handed out */
    struct flo_stream_id cursor; /* last id sent (reads start after it) */
    uint64_t last_write_ms;      /* loop time bytes were last queued */
    bool ending;                 /* an error event is queued: end after it */
};

void hs_sse_free(struct hs_sse *x)
{
    if (x != NULL) {
        flo_wbuf_free(&x->out);
        free(x);
    }
}

bool hs_sse_wanted(struct http_req *r, bool follow_param)
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

static uint64_t now_ms(struct http_req *r)
{
    return uv_now(r->srv->ctx->loop);
}

static int out_cstr(struct hs_sse *x, const char *s)
{
    return flo_wbuf_append(&x->out, s, strlen(s));
}

/* "event: error" with {"error", "code"}, then the stream ends. */
static void queue_error(struct http_req *r, struct hs_sse *x, const struct proto_err *e)
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

static void queue_error_code(struct http_req *r, struct hs_sse *x, int err)
{
    struct proto_err e;
    proto_err_from_code(&e, err);
    queue_error(r, x, &e);
}

/* Format every record of a read reply as an event; the cursor follows.
 * 0 or a negative code (events formatted so far stay queued). */
static int queue_records(struct http_req *r, struct hs_sse *x, flo_buf_t body)
{
    struct flo_stream_rec_iter it;
    struct flo_stream_record rec;
    uint32_t count;
    int rc = flo_stream_records_begin(body, &it, &count);
    while (rc >= 0 && (rc = flo_stream_records_next(&it, &rec)) == 1) {
        struct flo_wbuf b;
        struct http_json j;
        char id[FLO_STREAM_ID_TEXT_MAX];
        http_json_start(&j, &b);
        rc = hs_json_record(&j, &rec);
        http_json_end(&j);
        if (rc == 0 && j.err != 0) {
            rc = j.err;
        }
        if (rc == 0 && flo_stream_id_format(rec.id, id, sizeof(id)) < 0) {
            rc = FLO_EINVAL;
        }
        /* The JSON is one line (strings are escaped), as SSE data must be. */
        size_t mark = x->out.len;
        if (rc == 0 && (out_cstr(x, "id: ") < 0 || out_cstr(x, id) < 0 ||
                        out_cstr(x, "\nevent: record\ndata: ") < 0 ||
                        flo_wbuf_append(&x->out, b.data, b.len) < 0 || out_cstr(x, "\n\n") < 0)) {
            x->out.len = mark; /* never half an event */
            rc = FLO_ENOMEM;
        }
        flo_wbuf_free(&b);
        if (rc == 0) {
            x->cursor = rec.id;
            x->last_write_ms = now_ms(r);
        }
    }
    return rc < 0 ? rc : 0;
}

/* Send the next read after the cursor, blocking up to block_ms (0 = answer
 * at once). 0, or a negative code without suspending. */
static int send_read(struct http_req *r, uint32_t block_ms, http_done_cb done)
{
    struct hs_state *s = r->ext;
    s->read.has_start = true;
    s->read.start = s->sse->cursor;
    s->read.tail = false;
    s->read.block_ms = block_ms;
    flo_wbuf_reset(&r->opts);
    int rc = flo_stream_read_opts(&r->opts, &s->read);
    if (rc < 0) {
        return rc;
    }
    struct flo_req req = hs_req(r, FLO_OP_STREAM_READ);
    unsigned flags = FLO_SEND_IDEMPOTENT | (block_ms > 0 ? FLO_SEND_BLOCKING : 0);
    return http_req_send(r, &req, proto_timeout_for_block(block_ms), flags, done);
}

/* A later round came back: queue its events; the server then resumes the
 * connection and MHD calls the reader again. */
static void round_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    struct hs_sse *x = s->sse;
    /* Leave "waiting" so the server resumes us and the next send suspends
     * afresh (the response itself is already queued). */
    r->state = HTTP_RS_REPLIED;
    if (err < 0) {
        queue_error_code(r, x, err);
        return;
    }
    if (status != FLO_STATUS_OK) {
        struct proto_err e;
        proto_err_from_status(&e, status, body);
        queue_error(r, x, &e);
        return;
    }
    int rc = queue_records(r, x, body);
    if (rc < 0) {
        queue_error_code(r, x, rc);
    }
}

static ssize_t copy_out(struct hs_sse *x, char *buf, size_t max)
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
 * r is valid; r->ext is gone once the server released the follow. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    struct hs_state *s = r->ext;
    (void)pos;
    if (r->client_gone) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s == NULL || s->sse == NULL) {
        return MHD_CONTENT_READER_END_OF_STREAM; /* sidecar shutting down */
    }
    struct hs_sse *x = s->sse;
    if (x->off < x->out.len) {
        return copy_out(x, buf, max);
    }
    if (x->ending) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (r->call != NULL) {
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
    int rc = send_read(r, (uint32_t)block, round_done);
    if (rc < 0) {
        queue_error_code(r, x, rc);
        return copy_out(x, buf, max);
    }
    return 0; /* suspended until round_done */
}

/* The first step succeeded: answer 200 with the event stream. */
static void begin_stream(struct http_req *r)
{
    struct hs_state *s = r->ext;
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

/* First read from ?start / Last-Event-ID: the backlog (up to count). */
static void first_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = queue_records(r, s->sse, body);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    begin_stream(r);
}

/* STREAM_INFO for a follow from the tail: start after the last id. */
static void info_done(struct http_req *r, int err, uint8_t status, flo_buf_t body)
{
    struct hs_state *s = r->ext;
    struct flo_stream_info in;
    if (http_check_reply(r, err, status, body) < 0) {
        return;
    }
    int rc = flo_stream_dec_info(body, &in);
    if (rc < 0) {
        http_reply_code(r, rc);
        return;
    }
    s->sse->cursor = in.last;
    begin_stream(r);
}

void hs_sse_start(struct http_req *r)
{
    struct hs_state *s = r->ext;
    struct proto_err e;
    if (s->has_end_param) {
        proto_err_bad_request(&e, "a follow (SSE) has no end: drop ?end, or read the range "
                                  "without follow");
        http_reply_error(r, &e);
        return;
    }
    struct hs_sse *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        http_reply_code(r, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&x->out);
    s->sse = x;
    /* A reconnecting EventSource repeats the URL (with its ?start): the id
     * it last saw wins, so it resumes without gaps or duplicates. */
    const char *last = http_req_header(r, LAST_EVENT_ID);
    if (last != NULL && last[0] != '\0') {
        if (hs_parse_id(FLO_BUF_STR(last), "header " LAST_EVENT_ID, &x->cursor, &e) < 0) {
            http_reply_error(r, &e);
            return;
        }
    } else if (s->read.has_start) {
        x->cursor = s->read.start;
    } else {
        flo_wbuf_reset(&r->opts);
        struct flo_req req = hs_req(r, FLO_OP_STREAM_INFO);
        http_send_or_reply(r, &req, 0, FLO_SEND_IDEMPOTENT, info_done);
        return;
    }
    int rc = send_read(r, 0, first_done);
    if (rc < 0) {
        http_reply_code(r, rc);
    }
}
