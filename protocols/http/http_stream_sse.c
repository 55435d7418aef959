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
 * The shared writer (http_sse.c) hands out the formatted events of the last
 * read; once they are all taken it asks for the next round, which here is a
 * read (blocking, on the pool's long-poll lane, from the last id sent) that
 * suspends the connection through http_req_send until it returns. Memory per follower is therefore
 * one read batch: a client that does not read stops the reader being called, so nothing more is
 * read upstream for it (and MHD's idle timeout eventually drops it). Rounds are cut short so a ":
 * keep-alive" comment goes out in time (http_sse.c). A client hang-up while suspended is seen by
 * the server's disconnect watch (the upstream call is cancelled); sidecar shutdown releases the
 * follow and the reader ends the stream cleanly.
 */
#include <stdlib.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_sse.h"
#include "http_stream.h"

#define LAST_EVENT_ID "Last-Event-ID"

/* A follow in progress (hs_state.sse). */
struct hs_sse {
    struct http_sse w;           /* the event stream */
    struct flo_stream_id cursor; /* last id sent (reads start after it) */
};

void hs_sse_free(struct hs_sse *x)
{
    if (x != NULL) {
        http_sse_free(&x->w);
        free(x);
    }
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
        http_json_start(&j, &b);
        rc = hs_json_record(&j, &rec);
        http_json_end(&j);
        if (rc == 0 && j.err != 0) {
            rc = j.err;
        }
        if (rc == 0) {
            rc = http_sse_record(r, &x->w, rec.id, &b);
        }
        flo_wbuf_free(&b);
        if (rc == 0) {
            x->cursor = rec.id;
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
        http_sse_error_code(r, &x->w, err);
        return;
    }
    if (status != FLO_STATUS_OK) {
        struct proto_err e;
        proto_err_from_status(&e, status, body);
        http_sse_error(r, &x->w, &e);
        return;
    }
    int rc = queue_records(r, x, body);
    if (rc < 0) {
        http_sse_error_code(r, &x->w, rc);
    }
}

static bool sse_busy(struct http_req *r)
{
    return r->call != NULL;
}

static int sse_round(struct http_req *r, uint32_t block_ms)
{
    struct hs_state *s = r->ext;
    int rc = send_read(r, block_ms, round_done);
    if (rc < 0) {
        http_sse_error_code(r, &s->sse->w, rc);
    }
    return rc;
}

static const struct http_sse_ops sse_ops = {.busy = sse_busy, .round = sse_round};

/* MHD wants more of the body. Runs only while the connection is live, so
 * r is valid; r->ext is gone once the server released the follow. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    struct hs_state *s = r->ext;
    (void)pos;
    return http_sse_read(r, s != NULL && s->sse != NULL ? &s->sse->w : NULL, buf, max);
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
    http_sse_respond(r, &s->sse->w, sse_reader);
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
    http_sse_respond(r, &s->sse->w, sse_reader);
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
    http_sse_init(&x->w, &sse_ops);
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
