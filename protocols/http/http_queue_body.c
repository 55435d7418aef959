/*
 * Queue request bodies and reply bodies of the HTTP front end, without
 * libmicrohttpd or the pool (see http_queue_body.h): enqueue bodies (raw,
 * one JSON message, or an array for a batch), {"seqs": [...]} lists, the
 * batch-enqueue value, and message lists written as JSON.
 *
 * Payload bytes are gathered into one buffer per request and referred to
 * by offset, so a 1,000-message batch costs two allocations that grow
 * geometrically, not one per message.
 */
#include "http_queue_body.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "http_body.h"
#include "http_route.h"

#define MAX_EXACT_DOUBLE  9007199254740992.0 /* 2^53: larger JSON numbers lose digits */
#define BATCH_HEAD        4u                 /* [count u32] */
#define BATCH_PER_MSG     5u                 /* [payload_len u32] + [priority u8] */
#define DLQ_SUMMARY_BYTES 12u                /* [count u32 = 0][dlq_total u64] */
#define WHERE_MAX         32                 /* "message 999: " */

void http_queue_batch_init(struct http_queue_batch *b)
{
    memset(b, 0, sizeof(*b));
    flo_wbuf_init(&b->bytes);
}

void http_queue_batch_free(struct http_queue_batch *b)
{
    flo_wbuf_free(&b->bytes);
    free(b->msgs);
    b->msgs = NULL;
    b->n = 0;
}

/* Append bytes to the batch buffer, returning their offset. */
static int put_bytes(struct http_queue_batch *b, flo_buf_t p, size_t *off)
{
    *off = b->bytes.len;
    return p.len == 0 ? 0 : flo_wbuf_append(&b->bytes, p.ptr, p.len);
}

int http_queue_batch_add_raw(struct http_queue_batch *b, flo_buf_t payload,
                             const struct http_queue_msg *defaults, flo_buf_t dedup,
                             struct proto_err *e)
{
    free(b->msgs);
    b->n = 0;
    b->is_array = false;
    b->msgs = calloc(1, sizeof(*b->msgs));
    if (b->msgs == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    struct http_queue_msg *m = &b->msgs[0];
    *m = *defaults;
    if (put_bytes(b, payload, &m->payload_off) < 0 || put_bytes(b, dedup, &m->dedup_off) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    m->payload_len = payload.len;
    m->dedup_len = dedup.len;
    b->n = 1;
    return 0;
}

/* One message object of a JSON enqueue body. */
static int parse_msg(const cJSON *o, const char *where, const struct http_queue_msg *defaults,
                     flo_buf_t dedup, struct http_queue_batch *b, struct http_queue_msg *m,
                     struct proto_err *e)
{
    static const char *const fields[] = {"payload",   "encoding",    "priority", "delay_ms",
                                         "dedup_key", "max_retries", NULL};
    bool present;
    uint64_t v;

    if (!cJSON_IsObject(o)) {
        proto_err_bad_request(e, "%s must be a JSON object {\"payload\": ...}", where);
        return -1;
    }
    if (http_body_check_fields(o, fields, where, e) < 0) {
        return -1;
    }
    *m = *defaults;
    m->payload_off = b->bytes.len;
    if (http_body_payload(o, "payload", "encoding", where, &b->bytes, &present, e) < 0) {
        return -1;
    }
    if (!present) {
        proto_err_bad_request(e,
                              "%s: \"payload\" is required (a string; base64 with "
                              "\"encoding\": \"base64\" for binary payloads)",
                              where);
        return -1;
    }
    m->payload_len = b->bytes.len - m->payload_off;
    if (http_body_u64(o, "priority", UINT8_MAX, where, &v, &present, e) < 0) {
        return -1;
    }
    if (present) {
        m->has_priority = true;
        m->priority = (uint8_t)v;
    }
    if (http_body_u64(o, "delay_ms", HTTP_QUEUE_MAX_DELAY_MS, where, &v, &present, e) < 0) {
        return -1;
    }
    if (present) {
        m->delay_ms = v;
    }
    if (http_body_u64(o, "max_retries", UINT8_MAX, where, &v, &present, e) < 0) {
        return -1;
    }
    if (present) {
        m->has_max_retries = true;
        m->max_retries = (uint8_t)v;
    }
    const cJSON *dk = cJSON_GetObjectItemCaseSensitive(o, "dedup_key");
    flo_buf_t key = dedup;
    if (dk != NULL) {
        if (!cJSON_IsString(dk)) {
            proto_err_bad_request(e, "%s: \"dedup_key\" must be a string", where);
            return -1;
        }
        key = FLO_BUF_STR(dk->valuestring);
        if (key.len == 0 || key.len > HTTP_QUEUE_MAX_DEDUP_KEY) {
            proto_err_bad_request(e, "%s: \"dedup_key\" must be 1 to %u bytes", where,
                                  HTTP_QUEUE_MAX_DEDUP_KEY);
            return -1;
        }
    }
    if (put_bytes(b, key, &m->dedup_off) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    m->dedup_len = key.len;
    return 0;
}

int http_queue_parse_enqueue(flo_buf_t body, const struct http_queue_msg *defaults, flo_buf_t dedup,
                             struct http_queue_batch *out, struct proto_err *e)
{
    cJSON *doc = NULL;
    char where[WHERE_MAX];
    int ret = -1;

    if (http_body_json_value(body, &doc, e) < 0) {
        return -1;
    }
    out->is_array = cJSON_IsArray(doc);
    size_t n = out->is_array ? (size_t)cJSON_GetArraySize(doc) : 1;
    if (out->is_array && n == 0) {
        proto_err_bad_request(e, "the message array is empty: send 1 to %u messages",
                              HTTP_QUEUE_MAX_BATCH);
        goto out;
    }
    if (n > HTTP_QUEUE_MAX_BATCH) {
        proto_err_too_large(e,
                            "%zu messages in one request is over the limit of %u; split the "
                            "batch",
                            n, HTTP_QUEUE_MAX_BATCH);
        goto out;
    }
    if (out->is_array && dedup.len > 0) {
        proto_err_bad_request(e, "query parameter dedup_key cannot apply to an array of "
                                 "messages (one key would make them duplicates of each other); "
                                 "give each message its own \"dedup_key\"");
        goto out;
    }
    free(out->msgs);
    out->n = 0;
    out->msgs = calloc(n, sizeof(*out->msgs));
    if (out->msgs == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        goto out;
    }
    if (!out->is_array) {
        if (parse_msg(doc, "message", defaults, dedup, out, &out->msgs[0], e) < 0) {
            goto out;
        }
        out->n = 1;
    } else {
        const cJSON *it;
        cJSON_ArrayForEach(it, doc)
        {
            snprintf(where, sizeof(where), "message %zu", out->n);
            if (parse_msg(it, where, defaults, FLO_BUF_NULL, out, &out->msgs[out->n], e) < 0) {
                goto out;
            }
            out->n++;
        }
    }
    ret = 0;
out:
    cJSON_Delete(doc);
    return ret;
}

void http_queue_msg_view(const struct http_queue_batch *b, size_t i, flo_buf_t *payload,
                         struct flo_queue_enqueue_args *args)
{
    const struct http_queue_msg *m = &b->msgs[i];
    *payload = FLO_BUF(b->bytes.data + m->payload_off, m->payload_len);
    if (m->payload_len == 0) {
        *payload = FLO_BUF_NULL;
    }
    memset(args, 0, sizeof(*args));
    args->has_priority = m->has_priority;
    args->priority = m->priority;
    args->delay_ms = m->delay_ms;
    args->dedup_key =
        m->dedup_len ? FLO_BUF(b->bytes.data + m->dedup_off, m->dedup_len) : FLO_BUF_NULL;
    args->has_max_retries = m->has_max_retries;
    args->max_retries = m->max_retries;
}

bool http_queue_batchable(const struct http_queue_batch *b, size_t from, size_t n)
{
    if (from + n > b->n || n == 0) {
        return false;
    }
    const struct http_queue_msg *first = &b->msgs[from];
    for (size_t i = from; i < from + n; i++) {
        const struct http_queue_msg *m = &b->msgs[i];
        if (m->dedup_len > 0 || m->delay_ms != first->delay_ms ||
            m->has_max_retries != first->has_max_retries ||
            (m->has_max_retries && m->max_retries != first->max_retries)) {
            return false;
        }
    }
    return true;
}

int http_queue_batch_value(struct flo_wbuf *v, const struct http_queue_batch *b, size_t from,
                           size_t max_value, size_t *taken)
{
    size_t n = 0, size = BATCH_HEAD;
    while (from + n < b->n && n < FLO_QUEUE_MAX_BATCH) {
        size_t add = BATCH_PER_MSG + b->msgs[from + n].payload_len;
        if (n > 0 && (size + add > max_value || !http_queue_batchable(b, from, n + 1))) {
            break;
        }
        size += add;
        n++;
    }
    *taken = n;
    struct flo_queue_batch_msg *msgs = malloc(n * sizeof *msgs);
    if (msgs == NULL) {
        return FLO_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct http_queue_msg *m = &b->msgs[from + i];
        msgs[i].payload = FLO_BUF(b->bytes.data + m->payload_off, m->payload_len);
        msgs[i].priority = m->has_priority ? m->priority : 0;
    }
    int rc = flo_wbuf_reserve(v, size);
    if (rc == 0) {
        rc = flo_queue_batch_value(v, msgs, n);
    }
    free(msgs);
    return rc;
}

int http_queue_dec_batch(flo_buf_t body, size_t want, uint64_t *seqs)
{
    uint32_t count;
    flo_buf_t v;
    int rc = flo_queue_dec_batch(body, &count, &v);
    if (rc != 0) {
        return rc;
    }
    if (count != want) {
        return FLO_EMALFORMED;
    }
    for (size_t i = 0; i < want; i++) {
        seqs[i] = flo_ld64(v.ptr + 8 * i);
    }
    return 0;
}

/* One sequence number: a whole JSON number or a string of digits. */
static int seq_of(const cJSON *v, uint64_t *out)
{
    if (cJSON_IsString(v)) {
        return http_parse_uint((const uint8_t *)v->valuestring, strlen(v->valuestring), UINT64_MAX,
                               out);
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= 0 && d <= MAX_EXACT_DOUBLE && (double)(uint64_t)d == d) {
            *out = (uint64_t)d;
            return 0;
        }
    }
    return FLO_EINVAL;
}

int http_queue_parse_seqs(flo_buf_t body, enum http_queue_seq_op_e op, struct http_queue_seqs *out,
                          struct proto_err *e)
{
    static const char *const ack_fields[] = {"seqs", NULL};
    static const char *const nack_fields[] = {"seqs", "to_dlq", NULL};
    static const char *const touch_fields[] = {"seqs", "visibility_timeout_ms", NULL};
    cJSON *doc = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_body_json(body, false, &doc, e) < 0) {
        return -1;
    }
    const char *const *fields = op == HTTP_QSEQ_NACK    ? nack_fields
                                : op == HTTP_QSEQ_TOUCH ? touch_fields
                                                        : ack_fields;
    if (http_body_check_fields(doc, fields, "body", e) < 0) {
        goto out;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "seqs");
    if (!cJSON_IsArray(arr)) {
        proto_err_bad_request(e,
                              "body needs \"seqs\": an array of 1 to %u message sequence "
                              "numbers (as returned by enqueue / dequeue)",
                              HTTP_QUEUE_MAX_SEQS);
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        proto_err_bad_request(e, "\"seqs\" is empty: give 1 to %u sequence numbers",
                              HTTP_QUEUE_MAX_SEQS);
        goto out;
    }
    if (n > HTTP_QUEUE_MAX_SEQS) {
        proto_err_too_large(e, "%zu sequence numbers in one request is over the limit of %u", n,
                            HTTP_QUEUE_MAX_SEQS);
        goto out;
    }
    out->seqs = calloc(n, sizeof(*out->seqs));
    if (out->seqs == NULL) {
        proto_err_from_code(e, FLO_ENOMEM);
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (seq_of(it, &out->seqs[out->n]) < 0 || out->seqs[out->n] == 0) {
            proto_err_bad_request(e,
                                  "seqs[%zu] is not a message sequence number: give a whole "
                                  "number >= 1 (a JSON number up to 2^53, or a string of "
                                  "digits)",
                                  out->n);
            goto out;
        }
        out->n++;
    }
    if (op == HTTP_QSEQ_NACK && http_body_bool(doc, "to_dlq", "body", &out->to_dlq, e) < 0) {
        goto out;
    }
    if (op == HTTP_QSEQ_TOUCH) {
        uint64_t v;
        bool present;
        if (http_body_u64(doc, "visibility_timeout_ms", HTTP_QUEUE_MAX_VISIBILITY_MS, "body", &v,
                          &present, e) < 0) {
            goto out;
        }
        out->visibility_ms = present ? (uint32_t)v : 0;
    }
    ret = 0;
out:
    cJSON_Delete(doc);
    if (ret < 0) {
        http_queue_seqs_free(out);
    }
    return ret;
}

void http_queue_seqs_free(struct http_queue_seqs *s)
{
    free(s->seqs);
    s->seqs = NULL;
    s->n = 0;
}

int http_queue_msgs_json(struct http_json *j, flo_buf_t body, int64_t lease_deadline_ms)
{
    struct flo_queue_msg_iter it;
    struct flo_queue_msg m;
    uint32_t count;
    int rc = flo_queue_msgs_begin(body, &it, &count);
    if (rc < 0) {
        return rc;
    }
    http_json_array_begin(j, "messages");
    uint64_t n = 0;
    while ((rc = flo_queue_msgs_next(&it, &m)) == 1) {
        http_json_elem_begin(j);
        http_json_u64(j, "seq", m.seq);
        http_json_payload(j, "payload", "encoding", m.payload);
        if (it.trailer) {
            http_json_u64(j, "priority", m.priority);
            http_json_u64(j, "attempts", m.delivery_count);
            http_json_i64(j, "enqueued_at_ms", m.enqueued_at_ms);
        }
        if (lease_deadline_ms > 0) {
            http_json_i64(j, "lease_deadline_ms", lease_deadline_ms);
        }
        http_json_end(j);
        n++;
    }
    http_json_array_end(j);
    http_json_u64(j, "count", n);
    return rc < 0 ? rc : 0;
}

bool http_queue_dlq_summary_err(flo_buf_t body, struct proto_err *e)
{
    uint64_t total;
    if (body.len != DLQ_SUMMARY_BYTES || flo_queue_dec_dlq_summary(body, &total) != 0) {
        return false;
    }
    proto_err_from_status(e, FLO_STATUS_INTERNAL, FLO_BUF_STR("not implemented"));
    snprintf(e->message, sizeof(e->message),
             "listing dead-letter messages is not supported by the upstream Flo server: it "
             "reports only a summary (%llu messages in the dead-letter queue)",
             (unsigned long long)total);
    return true;
}

bool http_queue_is_json(const char *content_type)
{
    static const char mt[] = "application/json";
    if (content_type == NULL) {
        return false;
    }
    while (*content_type == ' ' || *content_type == '\t') {
        content_type++;
    }
    if (strncasecmp(content_type, mt, sizeof(mt) - 1) != 0) {
        return false;
    }
    char c = content_type[sizeof(mt) - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}
