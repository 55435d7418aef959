/*
 * The pure parts of the HTTP queue routes, kept free of libmicrohttpd and
 * of the pool so they can be unit-tested and fuzzed on their own: reading
 * enqueue bodies (one JSON message, or an array of them for a batch) and
 * sequence lists ({"seqs": [...]}), encoding flo-dev's batch-enqueue value
 * and decoding its reply, and writing Flo message lists as JSON under the
 * API's one payload rule. Internal to protocols/http/.
 *
 * Functions that can fail on input return 0, or -1 with *e filled (400 for
 * bad input, 413 for too much of it, 503 on memory).
 */
#ifndef HTTP_QUEUE_BODY_H
#define HTTP_QUEUE_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "flo/flo_ops.h"
#include "http_json.h"
#include "proto.h"

#define HTTP_QUEUE_MAX_BATCH             1000u /* messages per enqueue request (flo-dev's batch cap) */
#define HTTP_QUEUE_MAX_SEQS              1000u  /* sequences per ack/nack/touch/dlq request */
#define HTTP_QUEUE_DEFAULT_VISIBILITY_MS 30000u /* Flo's documented default lease */
#define HTTP_QUEUE_MAX_VISIBILITY_MS     (12u * 3600 * 1000) /* 12 h: a longer lease is a bug */
#define HTTP_QUEUE_MAX_DELAY_MS          (30ull * 24 * 3600 * 1000) /* 30 days, flo-dev's cap */
#define HTTP_QUEUE_MAX_DEDUP_KEY         255u /* a TLV option holds at most 255 bytes */

/* One message to enqueue. Payload and dedup key are byte ranges of the
 * owning batch's `bytes` buffer (offsets, because the buffer grows while
 * the body is read). */
struct http_queue_msg {
    size_t payload_off, payload_len;
    size_t dedup_off, dedup_len; /* dedup_len 0 = no dedup key */
    bool has_priority;
    uint8_t priority;  /* lower is delivered first */
    uint64_t delay_ms; /* 0 = visible at once */
    bool has_max_retries;
    uint8_t max_retries;
};

/* The messages of one enqueue request. Owns bytes and msgs; release with
 * http_queue_batch_free. */
struct http_queue_batch {
    struct flo_wbuf bytes;       /* payloads and dedup keys */
    struct http_queue_msg *msgs; /* n entries (calloc'd) */
    size_t n;
    bool is_array; /* the body was a JSON array: answer {"seqs": [...]} */
};

void http_queue_batch_init(struct http_queue_batch *b);
void http_queue_batch_free(struct http_queue_batch *b);

/*
 * Add one message with raw payload bytes (a non-JSON request body) and the
 * options of `defaults` (whose offsets are ignored; `dedup` is its key).
 * 0, or -1 with *e (503).
 */
int http_queue_batch_add_raw(struct http_queue_batch *b, flo_buf_t payload,
                             const struct http_queue_msg *defaults, flo_buf_t dedup,
                             struct proto_err *e);

/*
 * Read a JSON enqueue body: one object {"payload": ..., "encoding"?:
 * "base64"|"utf8", "priority"?, "delay_ms"?, "dedup_key"?, "max_retries"?}
 * or an array of 1..HTTP_QUEUE_MAX_BATCH such objects. Fields a message
 * omits take the values of `defaults` (the query parameters; `dedup` is
 * the query's dedup key, refused together with an array: one key cannot
 * name several messages). Unknown fields, a missing payload, bad numbers
 * and invalid JSON are 400; more messages than the cap is 413.
 */
int http_queue_parse_enqueue(flo_buf_t body, const struct http_queue_msg *defaults, flo_buf_t dedup,
                             struct http_queue_batch *out, struct proto_err *e);

/* The payload, dedup key and enqueue options of message i. */
void http_queue_msg_view(const struct http_queue_batch *b, size_t i, flo_buf_t *payload,
                         struct flo_queue_enqueue_args *args);

/*
 * True if msgs[from..from+n) can travel in one batch-enqueue request:
 * flo-dev's batch carries a priority per message but one delay_ms and
 * max_retries for all, and no dedup key.
 */
bool http_queue_batchable(const struct http_queue_batch *b, size_t from, size_t n);

/*
 * Encode flo-dev's batch-enqueue value ([count u32]([payload str32]
 * [priority u8])*) for as many messages from `from` on as fit in
 * max_value bytes, at least one, and only while http_queue_batchable
 * holds. *taken gets how many. 0, or FLO_ENOMEM (v reset by the caller).
 */
int http_queue_batch_value(struct flo_wbuf *v, const struct http_queue_batch *b, size_t from,
                           size_t max_value, size_t *taken);

/*
 * Decode a batch-enqueue reply [count u32][seq u64]*: exactly `want`
 * sequences into seqs[0..want). 0, FLO_ETRUNC or FLO_EMALFORMED.
 */
int http_queue_dec_batch(flo_buf_t body, size_t want, uint64_t *seqs);

/* What a sequence-list route takes in its JSON body. */
enum http_queue_seq_op_e {
    HTTP_QSEQ_ACK = 0,
    HTTP_QSEQ_NACK,  /* + "to_dlq" */
    HTTP_QSEQ_TOUCH, /* + "visibility_timeout_ms" */
    HTTP_QSEQ_DLQ_REQUEUE,
    HTTP_QSEQ_DLQ_DELETE,
};

/* A parsed sequence-list body. Owns seqs (free with http_queue_seqs_free). */
struct http_queue_seqs {
    uint64_t *seqs;
    size_t n;
    bool to_dlq;            /* nack */
    uint32_t visibility_ms; /* touch: 0 = the message's last lease duration */
};

/*
 * Read {"seqs": [1..HTTP_QUEUE_MAX_SEQS sequence numbers]} plus the op's
 * extra field. A sequence is a JSON number (whole, 0 < n <= 2^53) or a
 * string of decimal digits (full u64 range). An empty list, a non-numeric
 * sequence, an unknown field or invalid JSON is 400; more sequences than
 * the cap is 413.
 */
int http_queue_parse_seqs(flo_buf_t body, enum http_queue_seq_op_e op, struct http_queue_seqs *out,
                          struct proto_err *e);
void http_queue_seqs_free(struct http_queue_seqs *s);

/*
 * Write `"messages": [...]` and `"count": N` for a dequeue / peek / DLQ
 * reply body onto an open JSON object. Each message: seq, payload (+
 * "encoding": "base64" when not UTF-8), priority, attempts (Flo's
 * delivery_count), enqueued_at_ms and, when lease_deadline_ms > 0,
 * lease_deadline_ms. Returns 0 or the decoder's error (FLO_ETRUNC /
 * FLO_EMALFORMED); memory errors land in j->err.
 */
int http_queue_msgs_json(struct http_json *j, flo_buf_t body, int64_t lease_deadline_ms);

/*
 * A real Flo server answers queue_dlq_list with a summary ([count u32 = 0]
 * [dlq_total u64]) instead of the messages. If `body` is that summary, fill
 * *e with a 501 that gives the total and return true; else false.
 */
bool http_queue_dlq_summary_err(flo_buf_t body, struct proto_err *e);

/* True if a Content-Type header value names application/json (any case,
 * parameters such as charset allowed). NULL is false. */
bool http_queue_is_json(const char *content_type);

#endif
