/*
 * The Server-Sent Events writer shared by the stream follow
 * (http_stream_sse.c) and the consumer-session delivery
 * (http_session_sse.c): the buffer of formatted events, the libmicrohttpd
 * content-reader logic that hands it out, the error event that ends a
 * stream, and the keep-alive bookkeeping that sizes each blocking round.
 * Internal to protocols/http/.
 *
 * The owner embeds a struct http_sse in its per-request state, formats
 * events into it (http_sse_record, http_sse_error), answers with
 * http_sse_respond once its first step succeeded, and implements two hooks:
 * whether a round is in flight, and how to start the next blocking round.
 * Memory per client is the events of one round plus MHD's SSE_BLOCK_SIZE
 * buffer; a client that stops reading stops the reader being called, so no
 * more rounds run for it.
 */
#ifndef HTTP_SSE_H
#define HTTP_SSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "flo/flo_buf.h"
#include "flo/flo_ops.h"
#include "http_internal.h"

/* The owner's side of the reader. */
struct http_sse_ops {
    /* Whether a round started by `round` has not completed yet. */
    bool (*busy)(struct http_req *r);
    /* Start the next round, waiting up to block_ms for records, and suspend
     * the connection; its completion queues events (or an error event),
     * sets r->state to HTTP_RS_REPLIED and resumes the connection. 0, or a
     * negative code after queueing an error event (not suspended). */
    int (*round)(struct http_req *r, uint32_t block_ms);
};

/* An event stream in progress. */
struct http_sse {
    const struct http_sse_ops *ops;
    struct flo_wbuf out;    /* formatted events not yet handed to MHD */
    size_t off;             /* bytes of out already handed out */
    uint64_t last_write_ms; /* loop time bytes were last queued */
    bool ending;            /* an error event is queued: end after it */
};

/* Whether a GET asks for an event stream: ?follow=true (follow_param) or
 * an Accept header naming text/event-stream. */
bool http_sse_wanted(struct http_req *r, bool follow_param);

/* Prepare w (nothing allocated yet). */
void http_sse_init(struct http_sse *w, const struct http_sse_ops *ops);
/* Free w's buffer (w itself belongs to the caller). */
void http_sse_free(struct http_sse *w);

/* Queue "id: <id>\nevent: record\ndata: <json>\n\n" (json is one line).
 * 0, or FLO_ENOMEM with nothing queued (never half an event). */
int http_sse_record(struct http_req *r, struct http_sse *w, struct flo_stream_id id,
                    const struct flo_wbuf *json);

/* Queue "event: error" with {"error", "code"}; the stream ends after it.
 * On allocation failure the stream just ends without the event. */
void http_sse_error(struct http_req *r, struct http_sse *w, const struct proto_err *e);
/* The same from a negative code. */
void http_sse_error_code(struct http_req *r, struct http_sse *w, int err);

/* The owner's first step succeeded: make the 200 text/event-stream reply
 * whose body `reader` produces (reader calls http_sse_read with r as cls).
 * Replies 503 itself if the response cannot be made. */
void http_sse_respond(struct http_req *r, struct http_sse *w,
                      ssize_t (*reader)(void *cls, uint64_t pos, char *buf, size_t max));

/* The body of a content-reader callback: hand out queued events, end the
 * stream after an error event, send a keep-alive comment when the line has
 * been silent for too long, else start the next round (cut short so the
 * keep-alive is never late). w is NULL once the owner released its state
 * (sidecar shutdown): the stream then ends cleanly. */
ssize_t http_sse_read(struct http_req *r, struct http_sse *w, char *buf, size_t max);

#endif
