/*
 * Delivery of a consumer session's records as Server-Sent Events: GET
 * /v1/sessions/{id}/records with `Accept: text/event-stream` or
 * ?follow=true (docs/http-api.md, "Consumer sessions").
 *
 * The same approach as the stream follow (http_stream_sse.c): a first,
 * non-blocking session read is an ordinary request, so a failure (the group
 * was deleted, Flo is down) is a normal JSON error reply; after it the
 * reply is a chunked text/event-stream produced by a libmicrohttpd
 * content-reader callback. The shared writer (http_sse.c) hands out the
 * formatted events of the last read; once they are all taken it asks for
 * the next round, which here is a session read (claim, then a blocking
 * group read cut short by the writer) that suspends the connection until
 * it completes. Memory per client is one read
 * batch, and a client that stops reading stops the reads, so records are
 * not claimed for a consumer that cannot take them. Rounds are cut short so
 * a ": keep-alive" comment goes out in time (http_sse.c). The
 * session stays held (it never expires) while the stream is open; a client
 * hang-up cancels the read in flight (the server's disconnect watch), and
 * sidecar shutdown releases the request and the reader ends the stream.
 *
 * Records delivered here are pending in the group like any session read:
 * the client acks them with POST /v1/sessions/{id}/ack.
 */
#include <stdlib.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_session.h"
#include "http_sse.h"

/* An SSE delivery in progress (hsess.sse). */
struct hsess_sse {
    struct http_sse w; /* the event stream */
};

void hsess_sse_free(struct hsess_sse *x)
{
    if (x != NULL) {
        http_sse_free(&x->w);
        free(x);
    }
}

/* Format records as events. 0 or a negative code (events formatted so far
 * stay queued; never half an event). */
static int queue_records(struct http_req *r, struct hsess_sse *x, const struct proto_sess_rec *recs,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct flo_wbuf b;
        struct http_json j;
        http_json_start(&j, &b);
        int rc = hsess_json_record(&j, &recs[i]);
        http_json_end(&j);
        if (rc == 0 && j.err != 0) {
            rc = j.err;
        }
        if (rc == 0) {
            rc = http_sse_record(r, &x->w, recs[i].rec.id, &b);
        }
        flo_wbuf_free(&b);
        if (rc < 0) {
            return rc;
        }
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
        http_sse_error(r, &x->w, e);
    } else {
        int rc = queue_records(r, x, recs, n);
        if (rc < 0) {
            http_sse_error_code(r, &x->w, rc);
        }
    }
    http_req_resume(r);
}

static bool sse_busy(struct http_req *r)
{
    struct hsess *s = r->ext;
    return s->op != NULL;
}

static int sse_round(struct http_req *r, uint32_t block_ms)
{
    struct hsess *s = r->ext;
    struct proto_err e;
    struct proto_sess_read_args a = {.count = s->read.count, .block_ms = block_ms};
    if (proto_sess_read(s->sess, &a, round_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_sse_error(r, &s->sse->w, &e);
        return FLO_EINVAL; /* the error event says what went wrong */
    }
    http_req_suspend(r);
    http_req_watch_disconnect(r);
    return 0;
}

static const struct http_sse_ops sse_ops = {.busy = sse_busy, .round = sse_round};

/* MHD wants more of the body. Runs only while the connection is live, so
 * r is valid; r->ext is gone once the server released the request. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    struct hsess *s = r->ext;
    (void)pos;
    return http_sse_read(r, s != NULL && s->sse != NULL ? &s->sse->w : NULL, buf, max);
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
            http_sse_respond(r, &s->sse->w, sse_reader);
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
    http_sse_init(&x->w, &sse_ops);
    s->sse = x;
    struct proto_sess_read_args a = {.count = s->read.count, .block_ms = 0};
    if (proto_sess_read(s->sess, &a, first_done, r, &s->op, &e) < 0) {
        s->op = NULL;
        http_reply_error(r, &e);
        return;
    }
    http_req_suspend(r);
}
