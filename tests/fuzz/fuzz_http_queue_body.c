/*
 * libFuzzer target for the queue request and reply bodies of the HTTP
 * front end (protocols/http/http_queue_body.c): enqueue bodies (one JSON
 * message or an array), {"seqs": [...]} lists for every op, the batch value
 * built from whatever parsed, batch replies, and Flo message lists written
 * as JSON. Invariants: every failure carries a 4xx/5xx status; a parsed
 * batch re-encodes into values whose messages sum to the batch; a message
 * list that decodes produces JSON cJSON accepts.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "http_queue_body.h"

#define FUZZ_FRAME_LIMIT 4096 /* small chunks: exercise the splitting */

static void check_err(const struct proto_err *e)
{
    if (e->http_status < 400) {
        abort();
    }
}

static void batch_roundtrip(const struct http_queue_batch *b)
{
    struct flo_wbuf v;
    size_t from = 0, taken;
    flo_wbuf_init(&v);
    while (from < b->n) {
        flo_wbuf_reset(&v);
        if (!http_queue_batchable(b, from, 1) ||
            http_queue_batch_value(&v, b, from, FUZZ_FRAME_LIMIT, &taken) != 0) {
            from++; /* a dedup message goes alone; a memory error is fine */
            continue;
        }
        if (taken == 0 || from + taken > b->n) {
            abort();
        }
        from += taken;
    }
    flo_wbuf_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flo_buf_t in = FLO_BUF(data, size);
    struct proto_err e;
    struct http_queue_batch b;
    struct http_queue_msg defaults = {.has_priority = size > 0 && (data[0] & 1)};

    http_queue_batch_init(&b);
    if (http_queue_parse_enqueue(in, &defaults, FLO_BUF_NULL, &b, &e) < 0) {
        check_err(&e);
    } else {
        batch_roundtrip(&b);
    }
    http_queue_batch_free(&b);

    for (int op = HTTP_QSEQ_ACK; op <= HTTP_QSEQ_DLQ_DELETE; op++) {
        struct http_queue_seqs s;
        if (http_queue_parse_seqs(in, (enum http_queue_seq_op_e)op, &s, &e) < 0) {
            check_err(&e);
        } else {
            if (s.n == 0 || s.n > HTTP_QUEUE_MAX_SEQS) {
                abort();
            }
            http_queue_seqs_free(&s);
        }
    }

    uint64_t seqs[4];
    (void)http_queue_dec_batch(in, 4, seqs);
    if (http_queue_dlq_summary_err(in, &e)) {
        check_err(&e);
    }

    struct flo_wbuf out;
    struct http_json j;
    flo_wbuf_init(&out);
    http_json_init(&j, &out);
    http_json_begin(&j);
    int rc = http_queue_msgs_json(&j, in, 1);
    http_json_end(&j);
    if (rc == 0 && j.err == 0) {
        cJSON *doc = cJSON_ParseWithLength((const char *)out.data, out.len);
        if (doc == NULL) {
            abort();
        }
        cJSON_Delete(doc);
    }
    flo_wbuf_free(&out);
    return 0;
}
