/*
 * Queues, streams, consumer groups, actions and workers: request value
 * encoders, option builders, response decoders (client side) and request
 * value parsers plus response encoders (server side, used by flo-dev).
 * Layouts: shared/flo-protocol-ops.md §2-§6.
 *
 * Conventions (same as flo_kv.h):
 *  - Encoders append to a struct flo_wbuf and return 0, FLO_EINVAL (a field
 *    does not fit its length prefix or a count is out of range) or
 *    FLO_ENOMEM. On failure the buffer may hold a partial value: reset it.
 *  - Decoders and parsers take a borrowed body/value and return views into
 *    it; they return 0, FLO_ETRUNC (too short) or FLO_EMALFORMED.
 *  - List iterators never allocate: *_begin validates the whole body, then
 *    *_next returns 1 with an entry, or 0 at the end.
 *  - Server-side list bodies start with [count u32]: reserve it with
 *    flo_ops_count_reserve, append entries, then flo_ops_count_patch.
 * Where the server and the SDKs disagree (ops.md §8), decoders and parsers
 * accept every listed form; docs/protocol-notes.md says which form the
 * sidecar sends.
 */
#ifndef FLO_OPS_H
#define FLO_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo_buf.h"

/* ---- shared helpers ---------------------------------------------------- */

/* Append a [count u32] placeholder; *pos receives its offset. 0/FLO_ENOMEM. */
int flo_ops_count_reserve(struct flo_wbuf *b, size_t *pos);
/* Store the final count at the offset returned by flo_ops_count_reserve. */
void flo_ops_count_patch(struct flo_wbuf *b, size_t pos, uint32_t count);
/* Append the shard-walk trailer [has_more u8 = 0][cursor_len u16 = 0]. */
int flo_ops_list_trailer(struct flo_wbuf *b);

/* ---- StreamID ---------------------------------------------------------- */

/* (timestamp_ms, sequence); ordered by ts, then seq. */
struct flo_stream_id {
    uint64_t ts;  /* milliseconds */
    uint64_t seq; /* sequence within the millisecond */
};
#define FLO_STREAM_ID_TEXT_MAX 42 /* "<20 digits>-<20 digits>" + NUL */
#define FLO_STREAM_ID_MAX      ((struct flo_stream_id){UINT64_MAX, UINT64_MAX})

/* Parse "<ts>-<seq>" or "<ts>" (seq 0). Decimal digits only, no sign or
 * spaces, no overflow. 0 or FLO_EMALFORMED. */
int flo_stream_id_parse(flo_buf_t text, struct flo_stream_id *out);
/* Write "<ts>-<seq>" NUL-terminated into buf. Returns the length (> 0), or
 * FLO_EINVAL if cap is too small (FLO_STREAM_ID_TEXT_MAX always fits). */
int flo_stream_id_format(struct flo_stream_id id, char *buf, size_t cap);
/* <0, 0, >0 like memcmp. */
int flo_stream_id_cmp(struct flo_stream_id a, struct flo_stream_id b);

/* ---- queues (ops.md §2) -------------------------------------------------- */

#define FLO_QUEUE_MAX_DEQUEUE     100 /* server cap of count on dequeue */
#define FLO_QUEUE_DEQUEUE_TRAILER 13

/* enqueue: value = payload; options written by flo_queue_enqueue_opts. */
struct flo_queue_enqueue_args {
    bool has_priority;
    uint8_t priority;    /* 0x10, lower is taken first */
    uint64_t delay_ms;   /* 0x11 if non-zero (flo-dev only; a real server ignores it) */
    flo_buf_t dedup_key; /* 0x13 if non-empty (flo-dev only) */
    bool has_max_retries;
    uint8_t max_retries; /* 0x14 (flo-dev only) */
};
int flo_queue_enqueue_opts(struct flo_wbuf *o, const struct flo_queue_enqueue_args *a);

/* dequeue: empty value; options in this order: count 0x15, visibility 0x12
 * (if non-zero), block_ms 0x17 (if non-zero). count 0 = omitted. */
struct flo_queue_dequeue_args {
    uint32_t count;
    uint32_t visibility_timeout_ms;
    uint32_t block_ms;
};
int flo_queue_dequeue_opts(struct flo_wbuf *o, const struct flo_queue_dequeue_args *a);

/* ack/nack value, the form the server parses: one sequence in ASCII decimal. */
int flo_queue_seq_value(struct flo_wbuf *v, uint64_t seq);
/* ack/nack value, the SDK form: [count u32][seq u64]*. A real server refuses
 * it (status 3); flo-dev accepts it. FLO_EINVAL if n == 0 or n > UINT32_MAX. */
int flo_queue_seqs_value(struct flo_wbuf *v, const uint64_t *seqs, size_t n);

/* Server side: parse an ack/nack/touch/dlq value in either form. A value of
 * exactly 4 + 8*count bytes is the binary list, anything else must be ASCII
 * decimal (one sequence, no sign, no spaces, fits u64).
 * FLO_EMALFORMED otherwise (server text: "message sequence is required"). */
struct flo_queue_seqs {
    bool binary;   /* true: binary list form */
    uint32_t n;    /* number of sequences (1 for ASCII) */
    uint64_t one;  /* the ASCII sequence */
    flo_buf_t raw; /* binary: 8*n bytes of LE u64 */
};
int flo_queue_parse_seqs(flo_buf_t value, struct flo_queue_seqs *out);
/* The i-th sequence (i < n). */
uint64_t flo_queue_seqs_get(const struct flo_queue_seqs *s, uint32_t i);

/* Server side: parse enqueue/dequeue options (absent options give 0/false;
 * count defaults to 1 and is capped at FLO_QUEUE_MAX_DEQUEUE). */
void flo_queue_parse_enqueue_opts(flo_buf_t opts, struct flo_queue_enqueue_args *a);
void flo_queue_parse_dequeue_opts(flo_buf_t opts, struct flo_queue_dequeue_args *a);

/* dequeue / peek / dlq_list reply: [count u32] then per message
 * [seq u64][payload str32] + 13-byte trailer [enqueued_at_ms i64]
 * [delivery_count u32][priority u8]. The decoder also accepts the form
 * without trailers (what older SDK parsers assume) and says which it saw. */
struct flo_queue_msg {
    uint64_t seq;
    flo_buf_t payload;
    int64_t enqueued_at_ms; /* 0 if the body had no trailer */
    uint32_t delivery_count;
    uint8_t priority;
};
struct flo_queue_msg_iter {
    struct flo_cur cur;
    uint32_t remaining;
    bool trailer; /* messages carry the 13-byte trailer */
};
/* An empty body (0 bytes) is an empty list. */
int flo_queue_msgs_begin(flo_buf_t body, struct flo_queue_msg_iter *it, uint32_t *count);
int flo_queue_msgs_next(struct flo_queue_msg_iter *it, struct flo_queue_msg *m);
/* Server side: append one message with its trailer. */
int flo_queue_msg_put(struct flo_wbuf *b, const struct flo_queue_msg *m);

/* enqueue reply [seq u64]; purge reply [removed u32]. */
int flo_queue_dec_enqueue(flo_buf_t body, uint64_t *seq);
int flo_queue_dec_purge(flo_buf_t body, uint32_t *removed);
/*
 * batch enqueue 0x17E. No server read defines it (a real server answers 9
 * "not implemented"); this is flo-dev's layout, documented in docs/flo-dev.md:
 * value [count u32]([payload str32][priority u8])*, 1..FLO_QUEUE_MAX_BATCH
 * messages; reply [count u32][seq u64 x count] in batch order.
 */
#define FLO_QUEUE_MAX_BATCH 1000
struct flo_queue_batch_msg {
    flo_buf_t payload;
    uint8_t priority;
};
/* FLO_EINVAL if n is 0 or over FLO_QUEUE_MAX_BATCH. */
int flo_queue_batch_value(struct flo_wbuf *v, const struct flo_queue_batch_msg *msgs, size_t n);
/* Server side: validate the whole value (FLO_ETRUNC / FLO_EMALFORMED for a bad
 * layout, FLO_EINVAL for an empty batch, FLO_ELIMIT for more than the max),
 * then iterate. _next returns 1 with *m, 0 at the end. */
struct flo_queue_batch_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_queue_batch_begin(flo_buf_t value, struct flo_queue_batch_iter *it, uint32_t *count);
int flo_queue_batch_next(struct flo_queue_batch_iter *it, struct flo_queue_batch_msg *m);
/* Reply: *seqs views count u64 values; read the i-th with flo_ld64(ptr + 8*i). */
int flo_queue_dec_batch(flo_buf_t body, uint32_t *count, flo_buf_t *seqs);
int flo_queue_batch_reply_put(struct flo_wbuf *b, const uint64_t *seqs, size_t n);

/* touch 0x17D / extend_lease 0x173 reply (flo-dev): [lease_deadline_ms i64],
 * Unix milliseconds. A real server answers 9 "not implemented". */
int flo_queue_dec_touch(flo_buf_t body, int64_t *lease_deadline_ms);

/* dlq_list summary reply of a real server: exactly [count u32 = 0][total u64].
 * FLO_EMALFORMED if the body is not that (then it is a message list). */
int flo_queue_dec_dlq_summary(flo_buf_t body, uint64_t *dlq_total);

/* stats reply: nine u64, 72 bytes. */
struct flo_queue_stats {
    uint64_t enqueued, dequeued, acked, nacked, dlq_total, leases_expired;
    uint64_t ready_now, leased_now, dlq_now;
};
#define FLO_QUEUE_STATS_SIZE 72
int flo_queue_dec_stats(flo_buf_t body, struct flo_queue_stats *s);
int flo_queue_stats_put(struct flo_wbuf *b, const struct flo_queue_stats *s);

/* list reply: [count u32]([name str32][namespace str32][pending u64]
 * [available u64][enqueued u64][dequeued u64][dlq u64])* [has_more u8]
 * [cursor str16]; the trailer may be absent. */
struct flo_queue_info {
    flo_buf_t name, ns;
    uint64_t pending, available, enqueued, dequeued, dlq;
};
struct flo_queue_list_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_queue_list_begin(flo_buf_t body, struct flo_queue_list_iter *it, uint32_t *count);
int flo_queue_list_next(struct flo_queue_list_iter *it, struct flo_queue_info *q);
int flo_queue_info_put(struct flo_wbuf *b, const struct flo_queue_info *q);

/* ---- streams (ops.md §3) -------------------------------------------------- */

#define FLO_STREAM_MAX_BATCH     1000
#define FLO_STREAM_DEFAULT_COUNT 100
#define FLO_STREAM_MAX_COUNT     1000

/* One header of a record (bytes, usually UTF-8). */
struct flo_stream_header {
    flo_buf_t key, val;
};
/* One record to append. */
struct flo_stream_rec_in {
    flo_buf_t payload;
    const struct flo_stream_header *headers; /* may be NULL if n_headers 0 */
    size_t n_headers;
};
/* append value: [count u32]([payload str32][hcount u16]([k str16][v str16])*)*.
 * FLO_EINVAL if n is 0 or > 1000, or a header does not fit its u16 length. */
int flo_stream_batch_value(struct flo_wbuf *v, const struct flo_stream_rec_in *recs, size_t n);

/* Headers of one record, as a raw block plus its count: u16 lengths in an
 * append batch, u32 lengths in read replies. */
struct flo_stream_headers {
    flo_buf_t raw;
    uint32_t count;
    bool wide; /* true: u32 lengths (read replies) */
};
struct flo_stream_hdr_iter {
    struct flo_cur cur;
    uint32_t remaining;
    bool wide;
};
void flo_stream_hdr_begin(const struct flo_stream_headers *h, struct flo_stream_hdr_iter *it);
/* 1 and *h filled, 0 at the end, FLO_ETRUNC if the block is short. */
int flo_stream_hdr_next(struct flo_stream_hdr_iter *it, struct flo_stream_header *h);

/* Server side: validate an append batch (ops.md §3.1). FLO_EMALFORMED for
 * anything that is not exactly a batch of 1..n records (server text
 * "stream append: malformed batch"); FLO_ELIMIT for more than 1000 records
 * (*count holds N for the text "stream append: a batch of N records is over
 * the limit of 1000"). On 0 the iterator yields each record. */
struct flo_stream_batch_rec {
    flo_buf_t payload;
    struct flo_stream_headers headers; /* narrow (u16) form */
};
struct flo_stream_batch_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_stream_parse_batch(flo_buf_t value, struct flo_stream_batch_iter *it, uint32_t *count);
int flo_stream_batch_next(struct flo_stream_batch_iter *it, struct flo_stream_batch_rec *r);

/* append reply: [sequence u64][timestamp_ms i64] (sequence first). */
int flo_stream_dec_append(flo_buf_t body, struct flo_stream_id *first);
int flo_stream_append_reply_put(struct flo_wbuf *b, struct flo_stream_id first);

/* read / group read options. Written in this order: stream_start 0x21,
 * stream_end 0x22, stream_tail 0x23, partition 0x24, partition_key 0x25,
 * count 0x15, limit 0x05 (if legacy_limit, same value as count), block_ms
 * 0x17 (if non-zero). count 0 = omitted. */
struct flo_stream_read_args {
    bool has_start;
    struct flo_stream_id start; /* exclusive */
    bool has_end;
    struct flo_stream_id end; /* inclusive */
    bool tail;
    bool has_partition;
    uint32_t partition;
    flo_buf_t partition_key; /* sent if non-empty */
    uint32_t count;
    bool legacy_limit; /* also send limit 0x05 for servers <= @da88ff49 */
    uint32_t block_ms;
};
int flo_stream_read_opts(struct flo_wbuf *o, const struct flo_stream_read_args *a);
/* Server side: count from 0x15, else 0x05; 0/absent -> 100; cap 1000. An
 * end whose ts is 0 is ignored (has_end false). */
void flo_stream_parse_read_opts(flo_buf_t opts, struct flo_stream_read_args *a);

/* read reply (also group read, and the head of a claim reply). */
struct flo_stream_record {
    struct flo_stream_id id;
    uint8_t tier; /* 0 in-memory log, 1 warm store */
    uint32_t partition;
    bool key_present; /* servers @03b042a8..@da88ff49 send 1 + stream name */
    flo_buf_t key;
    flo_buf_t payload;
    struct flo_stream_headers headers; /* wide (u32) form */
};
struct flo_stream_rec_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
/* A 0-byte body is an empty list (waiter pool full). Trailing bytes after
 * the records are FLO_EMALFORMED. */
int flo_stream_records_begin(flo_buf_t body, struct flo_stream_rec_iter *it, uint32_t *count);
int flo_stream_records_next(struct flo_stream_rec_iter *it, struct flo_stream_record *r);
/* Server side: append one record. r->headers may be narrow (as parsed from
 * an append batch: they are widened to u32 lengths) or wide. key_present 0
 * writes no key. */
int flo_stream_record_put(struct flo_wbuf *b, const struct flo_stream_record *r);

/* trim (ops.md §3.3, the @3269efe2 form): value empty, exactly one bound. */
enum flo_trim_bound_e {
    FLO_TRIM_BEFORE = 1, /* stream_start 0x21 */
    FLO_TRIM_MAXLEN = 2, /* limit 0x05 as u64 */
    FLO_TRIM_MAXAGE = 3, /* max_age_seconds 0x26 */
};
struct flo_stream_trim_args {
    enum flo_trim_bound_e bound;
    struct flo_stream_id before;
    uint64_t maxlen;
    uint64_t max_age_s;
    bool dry_run; /* 0x28 */
};
/* FLO_EINVAL for an unknown bound or a 0 maxlen/maxage. */
int flo_stream_trim_opts(struct flo_wbuf *o, const struct flo_stream_trim_args *a);
/* Server side: FLO_EMALFORMED with *errmsg = the server's status-3 text. */
int flo_stream_parse_trim(flo_buf_t value, flo_buf_t opts, struct flo_stream_trim_args *a,
                          const char **errmsg);
/* trim reply: [deleted u64][first_seq u64]. */
int flo_stream_dec_trim(flo_buf_t body, uint64_t *deleted, uint64_t *first_seq);
int flo_stream_trim_reply_put(struct flo_wbuf *b, uint64_t deleted, uint64_t first_seq);

/* info reply: 76 bytes (current) or the first 52 (servers before @03b042a8). */
struct flo_stream_info {
    struct flo_stream_id first, last;
    uint64_t count, bytes;
    uint32_t partition_count;
    bool has_retention; /* false for the 52-byte form */
    uint64_t retention_age_s, retention_count, retention_bytes;
};
#define FLO_STREAM_INFO_SIZE     76
#define FLO_STREAM_INFO_OLD_SIZE 52
/* Exactly 52 bytes, or >= 76 (extra bytes ignored); else ETRUNC/EMALFORMED. */
int flo_stream_dec_info(flo_buf_t body, struct flo_stream_info *s);
int flo_stream_info_put(struct flo_wbuf *b, const struct flo_stream_info *s);

/* create value: [partition_count u32] (omitted when 0). Server side: absent
 * or 0 -> 1; FLO_EMALFORMED if the value is neither empty nor 4 bytes. */
int flo_stream_create_value(struct flo_wbuf *v, uint32_t partition_count);
int flo_stream_parse_create(flo_buf_t value, uint32_t *partition_count);

/* list reply: [count u32]([name str32][partition_count u32])* + trailer. */
struct flo_stream_list_entry {
    flo_buf_t name;
    uint32_t partition_count;
};
struct flo_stream_list_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_stream_list_begin(flo_buf_t body, struct flo_stream_list_iter *it, uint32_t *count);
int flo_stream_list_next(struct flo_stream_list_iter *it, struct flo_stream_list_entry *e);
int flo_stream_list_entry_put(struct flo_wbuf *b, const struct flo_stream_list_entry *e);

/* ---- consumer groups (ops.md §4) ---------------------------------------- */

#define FLO_GROUP_MAX_IDS       1000
#define FLO_GROUP_DEFAULT_CLAIM 100
#define FLO_GROUP_MAX_CLAIM     1000

/* create, configure_sweeper, info, delete, pending without filter: [group str16]. */
int flo_group_value(struct flo_wbuf *v, flo_buf_t group);
/* join, leave, read; pending with a consumer filter: [group str16][consumer str16]. */
int flo_group_member_value(struct flo_wbuf *v, flo_buf_t group, flo_buf_t consumer);
/* ack, nack, touch: [group][consumer][count u32]([ts u64][seq u64])*.
 * FLO_EINVAL if n is 0 or > 1000. */
int flo_group_ids_value(struct flo_wbuf *v, flo_buf_t group, flo_buf_t consumer,
                        const struct flo_stream_id *ids, size_t n);
/* claim: [group][consumer][min_idle_ms u32][start_ts u64][start_seq u64][count u32]. */
struct flo_group_claim_args {
    flo_buf_t group, consumer;
    uint32_t min_idle_ms;
    struct flo_stream_id start; /* inclusive */
    uint32_t count;
};
int flo_group_claim_value(struct flo_wbuf *v, const struct flo_group_claim_args *a);
/* create / configure_sweeper options: ack_timeout_ms 0x30, max_deliver 0x31. */
int flo_group_sweeper_opts(struct flo_wbuf *o, bool has_ack_timeout, uint32_t ack_timeout_ms,
                           bool has_max_deliver, uint8_t max_deliver);

/* Server side. On FLO_EMALFORMED *errmsg is the server's status-3 text
 * ("group name is required", "group name must not contain NUL"). The
 * consumer defaults to "default" when missing or empty. *rest = bytes after
 * the parsed names. */
int flo_group_parse_name(flo_buf_t value, flo_buf_t *group, flo_buf_t *rest, const char **errmsg);
int flo_group_parse_member(flo_buf_t value, flo_buf_t *group, flo_buf_t *consumer, flo_buf_t *rest,
                           const char **errmsg);
/* ack/nack/touch ids. The current form is 16-byte ids; at most 1000 are
 * taken and trailing partial ids are ignored, as the server does. The legacy
 * form [count][seq u64]* (older JS SDK) is recognised when the id bytes are
 * exactly 8*count and not 16*count: legacy is set and each id reads as
 * (0, seq). A real server misreads that form (ops.md vector 18); flo-dev may
 * choose to honour it or refuse it. n == 0 means "no complete id" (server
 * text for ack: "stream IDs required for ack"). */
struct flo_group_ids {
    flo_buf_t group, consumer;
    uint32_t declared; /* the count field */
    uint32_t n;        /* ids available through flo_group_ids_get */
    bool legacy;       /* 8-byte sequence form */
    flo_buf_t raw;
};
int flo_group_parse_ids(flo_buf_t value, struct flo_group_ids *out, const char **errmsg);
struct flo_stream_id flo_group_ids_get(const struct flo_group_ids *ids, uint32_t i);
/* claim value; missing trailing fields default (min_idle 0, start 0-0,
 * count 100); count 0 -> 100, capped at 1000. */
int flo_group_parse_claim(flo_buf_t value, struct flo_group_claim_args *a, const char **errmsg);

/* join reply: [generation u64][n u32][partition u32] (placeholders 1, 1, 0). */
struct flo_group_join_reply {
    uint64_t generation;
    uint32_t n_partitions;
    uint32_t partition;
};
int flo_group_dec_join(flo_buf_t body, struct flo_group_join_reply *r);
int flo_group_join_reply_put(struct flo_wbuf *b, const struct flo_group_join_reply *r);
/* touch reply [touched u32]. */
int flo_group_dec_touch(flo_buf_t body, uint32_t *touched);
/* claim reply: a record list (flo_stream_record_put) then the 16-byte cursor
 * [next_ts u64][next_seq u64]; FLO_STREAM_ID_MAX = pending list scanned. */
int flo_group_claim_begin(flo_buf_t body, struct flo_stream_rec_iter *it, uint32_t *count,
                          struct flo_stream_id *next);
int flo_group_claim_cursor_put(struct flo_wbuf *b, struct flo_stream_id next);

/* pending reply: [count u32]([ts u64][seq u64][delivery_count u32][consumer str16])*. */
struct flo_group_pending_entry {
    struct flo_stream_id id;
    uint32_t delivery_count;
    flo_buf_t consumer;
};
struct flo_group_pending_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_group_pending_begin(flo_buf_t body, struct flo_group_pending_iter *it, uint32_t *count);
int flo_group_pending_next(struct flo_group_pending_iter *it, struct flo_group_pending_entry *e);
int flo_group_pending_put(struct flo_wbuf *b, const struct flo_group_pending_entry *e);

/* info reply: [pending_count u64][member_count u32][created_at_ns u64], 20 bytes. */
struct flo_group_info {
    uint64_t pending_count;
    uint32_t member_count;
    uint64_t created_at_ns;
};
#define FLO_GROUP_INFO_SIZE 20
int flo_group_dec_info(flo_buf_t body, struct flo_group_info *g);
int flo_group_info_put(struct flo_wbuf *b, const struct flo_group_info *g);

/* ---- actions (ops.md §5, §6.5-§6.8) ------------------------------------ */

#define FLO_ACTION_MAX_NAME               256
#define FLO_ACTION_DEFAULT_TIMEOUT_MS     30000
#define FLO_ACTION_DEFAULT_MAX_RETRIES    3
#define FLO_ACTION_AWAIT_DEFAULT_BLOCK_MS 30000 /* block_ms absent on await */
#define FLO_TASK_MAX_BODY                 8192  /* larger assignments are sent as the bare run_id */
#define FLO_RUN_ID_MAX                    20    /* "act-" + up to 16 hex digits */
#define FLO_RUN_ID_EPOCH_MS               1704067200000ull /* 2024-01-01T00:00Z */

enum flo_run_status_e {
    FLO_RUN_PENDING = 0,
    FLO_RUN_RUNNING = 1,
    FLO_RUN_COMPLETED = 2,
    FLO_RUN_FAILED = 3,
    FLO_RUN_CANCELLED = 4,
    FLO_RUN_TIMED_OUT = 5,
};

/* register, server form: [type u8][timeout_ms u32][max_retries u32][owner str16]. */
struct flo_action_def {
    uint8_t type; /* 0 user (external worker) */
    uint32_t timeout_ms;
    uint32_t max_retries;
    flo_buf_t owner;
    flo_buf_t description; /* SDK form only; never stored by a server */
    bool sdk_form;         /* parse result: the value was the SDK form */
};
int flo_action_register_value(struct flo_wbuf *v, const struct flo_action_def *d);
/* register, SDK form: [type][timeout][max_retries][has_desc u8]([desc str16])?
 * + five zero flag bytes (d->owner is not sent). */
int flo_action_register_value_sdk(struct flo_wbuf *v, const struct flo_action_def *d);
/* Server side: fields missing at the end take their defaults. The SDK form is
 * recognised by its exact length (sdk_form set, description filled, owner
 * empty); otherwise bytes 9-10 are owner_len and an owner running past the
 * end is taken as empty, as the server does. Never fails on length. */
int flo_action_parse_register(flo_buf_t value, struct flo_action_def *d);

/* invoke, server (11-byte header) form. */
struct flo_action_invoke_args {
    uint8_t priority;
    int64_t delay_ms;
    bool has_idempotency_key;
    flo_buf_t idempotency_key;
    bool has_labels;
    flo_buf_t labels; /* JSON object */
    flo_buf_t input;
    bool short_form; /* parse result: the [has_labels][labels?][input] form */
};
int flo_action_invoke_value(struct flo_wbuf *v, const struct flo_action_invoke_args *a);
/* invoke, short form of Python @0e400545: [has_labels u8]([labels str16])?[input]. */
int flo_action_invoke_value_short(struct flo_wbuf *v, const struct flo_action_invoke_args *a);
/* Server side (ops.md §5.2, §7): a value shorter than 11 bytes whose first
 * byte is 0 or 1 and which is a consistent short form is the short form;
 * any other value shorter than 11 bytes is the input; otherwise the 11-byte
 * header form, where a value cut inside the idempotency or labels block
 * gives an empty input. Never fails. */
int flo_action_parse_invoke(flo_buf_t value, struct flo_action_invoke_args *a);

/* invoke reply: [run_id str16][has_output u8 = 0]. With has_output 1 the
 * rest is exposed as *output (layout not defined by any server read). */
int flo_action_dec_invoke(flo_buf_t body, flo_buf_t *run_id, flo_buf_t *output);
int flo_action_invoke_reply_put(struct flo_wbuf *b, flo_buf_t run_id);

/* run ids: "act-" + lowercase hex of (ms since 2024-01-01) << 22 |
 * partition << 8 | seq. Writes NUL-terminated text into out (cap >=
 * FLO_RUN_ID_MAX + 1); returns the length or FLO_EINVAL. */
int flo_run_id_make(uint64_t unix_ms, uint32_t partition, uint32_t seq, char *out, size_t cap);

/* status reply (ops.md §5.3). */
struct flo_action_run {
    flo_buf_t run_id; /* u32-prefixed in status replies */
    uint8_t status;   /* enum flo_run_status_e */
    int64_t created_at_ms;
    bool has_started;
    int64_t started_at_ms;
    bool has_completed;
    int64_t completed_at_ms;
    bool has_output;
    flo_buf_t output;
    bool has_error;
    flo_buf_t error;
    uint32_t retry_count;
};
int flo_action_dec_status(flo_buf_t body, struct flo_action_run *r);
int flo_action_status_put(struct flo_wbuf *b, const struct flo_action_run *r);

/* list reply: [count u32]([name str16][value_len u32][type u8][version u32]
 * [enabled u8])* + trailer. value_len is 6 today; a longer value is skipped
 * past, a shorter one is FLO_EMALFORMED. */
struct flo_action_list_entry {
    flo_buf_t name;
    uint8_t type;
    uint32_t version;
    bool enabled;
};
struct flo_action_list_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_action_list_begin(flo_buf_t body, struct flo_action_list_iter *it, uint32_t *count);
int flo_action_list_next(struct flo_action_list_iter *it, struct flo_action_list_entry *e);
int flo_action_list_entry_put(struct flo_wbuf *b, const struct flo_action_list_entry *e);

/* list_runs value [limit u32]; server side: absent or 0 -> 100. */
#define FLO_ACTION_DEFAULT_RUNS_LIMIT 100
int flo_action_list_runs_value(struct flo_wbuf *v, uint32_t limit);
int flo_action_parse_list_runs(flo_buf_t value, uint32_t *limit);
/* list_runs reply: [count u32]([run_id str16][action str16][status u8]
 * [created i64][has_started u8][started i64]?[has_completed u8][completed i64]?)*. */
struct flo_action_run_summary {
    flo_buf_t run_id, action;
    uint8_t status;
    int64_t created_at_ms;
    bool has_started;
    int64_t started_at_ms;
    bool has_completed;
    int64_t completed_at_ms;
};
struct flo_action_runs_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_action_runs_begin(flo_buf_t body, struct flo_action_runs_iter *it, uint32_t *count);
int flo_action_runs_next(struct flo_action_runs_iter *it, struct flo_action_run_summary *s);
int flo_action_run_summary_put(struct flo_wbuf *b, const struct flo_action_run_summary *s);

/* await value: [type_count u32]([name str16])*. FLO_EINVAL if n == 0 or the
 * first name is empty. Options: block_ms 0x17 (absent = 30 s, 0 = now). */
int flo_action_await_value(struct flo_wbuf *v, const flo_buf_t *names, size_t n);
/* Server side: FLO_EMALFORMED if the first name is missing or empty
 * ("action name is required"); the iterator yields each name. */
struct flo_name_list_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_action_parse_await(flo_buf_t value, struct flo_name_list_iter *it, uint32_t *count);
int flo_action_await_next(struct flo_name_list_iter *it, flo_buf_t *name);

/* Task assignment (await reply). An empty body means no task. A full body is
 * [task_id str16][task_type str16][created_at i64][attempt u32][has_caller u8]
 * ([caller_run_id str16][caller_workflow str16])?[input...]. When the full
 * assignment would exceed 8192 bytes the server sends only the run_id bytes;
 * the decoder tells the two apart by the first two bytes: in a full body they
 * are the task-id length (a run id is <= 20 bytes, a full body <= 8192), in a
 * fallback body they are the text "ac" of "act-", i.e. 0x6361 = 25441 as a
 * u16. So: a body starting with "act-" whose u16 prefix exceeds the body
 * length is a bare run_id (bare_run_id set, only task_id filled). */
struct flo_action_task {
    bool present;      /* false: empty body, no task */
    bool bare_run_id;  /* the 8192-byte fallback */
    flo_buf_t task_id; /* the run id */
    flo_buf_t task_type;
    int64_t created_at_ms;
    uint32_t attempt;
    bool has_caller;
    flo_buf_t caller_run_id, caller_workflow;
    flo_buf_t input;
};
int flo_action_dec_task(flo_buf_t body, struct flo_action_task *t);
/* Server side: the full layout, or the bare run_id when the full layout
 * would exceed FLO_TASK_MAX_BODY (what the server does). */
int flo_action_task_put(struct flo_wbuf *b, const struct flo_action_task *t);

/* complete value: [action str16][task_id str16][outcome str16][result bytes16]
 * (result optional on parse). FLO_EINVAL if result > 65535 bytes. */
struct flo_action_complete_args {
    flo_buf_t action, task_id, outcome;
    bool has_result;
    flo_buf_t result;
};
int flo_action_complete_value(struct flo_wbuf *v, const struct flo_action_complete_args *a);
/* Server side: FLO_EMALFORMED -> server text "invalid value format". */
int flo_action_parse_complete(flo_buf_t value, struct flo_action_complete_args *a);

/* fail value: [action str16][task_id str16][retry u8][message...]. */
struct flo_action_fail_args {
    flo_buf_t action, task_id;
    bool retry;
    flo_buf_t message;
};
int flo_action_fail_value(struct flo_wbuf *v, const struct flo_action_fail_args *a);
int flo_action_parse_fail(flo_buf_t value, struct flo_action_fail_args *a);

/* touch value: [action str16][task_id str16] + the SDKs' [extend_ms u32]
 * (ignored by the server) when has_extend. */
struct flo_action_touch_args {
    flo_buf_t action, task_id;
    bool has_extend;
    uint32_t extend_ms;
};
int flo_action_touch_value(struct flo_wbuf *v, const struct flo_action_touch_args *a);
/* Server side: bytes after the task id are ignored (has_extend set when they
 * are exactly 4). */
int flo_action_parse_touch(flo_buf_t value, struct flo_action_touch_args *a);

/* ---- workers (ops.md §6.1-§6.4) ------------------------------------------ */

#define FLO_WORKER_DEFAULT_CONCURRENCY 10

enum flo_worker_status_e {
    FLO_WORKER_ACTIVE = 0,
    FLO_WORKER_IDLE = 1,
    FLO_WORKER_DRAINING = 2,
    FLO_WORKER_UNHEALTHY = 3,
};

/* A process a worker serves (register) or reports (list/info records). */
struct flo_worker_process {
    flo_buf_t name;
    uint8_t kind;                   /* 0 action, 1 stream_consumer */
    uint64_t run_count, fail_count; /* records only */
    int64_t last_run_at_ms;         /* records only */
};
/* Processes as a raw block + count; iterate with flo_worker_proc_next. */
struct flo_worker_procs {
    flo_buf_t raw;
    uint16_t count;
    bool stats; /* record form: each entry carries run/fail/last_run */
};
struct flo_worker_proc_iter {
    struct flo_cur cur;
    uint16_t remaining;
    bool stats;
};
void flo_worker_proc_begin(const struct flo_worker_procs *p, struct flo_worker_proc_iter *it);
int flo_worker_proc_next(struct flo_worker_proc_iter *it, struct flo_worker_process *p);

/* register value (ops.md §6.1). */
struct flo_worker_reg {
    uint8_t type; /* 0 action worker, 1 stream worker */
    uint32_t max_concurrency;
    const struct flo_worker_process *procs; /* encode input */
    size_t n_procs;
    struct flo_worker_procs parsed; /* parse output */
    bool has_metadata;
    flo_buf_t metadata; /* JSON object; its keys are the worker's labels */
    bool has_machine_id;
    flo_buf_t machine_id;
};
int flo_worker_register_value(struct flo_wbuf *v, const struct flo_worker_reg *r);
/* Server side: missing trailing fields take defaults (type 0, concurrency
 * 10, no processes, no metadata); a field cut in the middle is FLO_ETRUNC. */
int flo_worker_parse_register(flo_buf_t value, struct flo_worker_reg *r);

/* heartbeat value [current_load u32]; server side: absent -> 0. */
int flo_worker_heartbeat_value(struct flo_wbuf *v, uint32_t current_load);
int flo_worker_parse_heartbeat(flo_buf_t value, uint32_t *current_load);
/* heartbeat reply: 1 byte status (enum flo_worker_status_e). */
int flo_worker_dec_heartbeat(flo_buf_t body, uint8_t *status);

/* list/info record (ops.md §6.4). */
struct flo_worker_record {
    flo_buf_t id;
    uint8_t type, status;
    uint64_t tasks_completed, tasks_failed;
    uint32_t current_load, max_concurrency;
    int64_t registered_at_ms, last_heartbeat_ms;
    const struct flo_worker_process *procs; /* encode input */
    size_t n_procs;
    struct flo_worker_procs parsed; /* decode output */
    bool has_metadata;
    flo_buf_t metadata;
    bool has_machine_id;
    flo_buf_t machine_id;
};
/* info body = exactly one record. */
int flo_worker_dec_info(flo_buf_t body, struct flo_worker_record *w);
int flo_worker_record_put(struct flo_wbuf *b, const struct flo_worker_record *w);
/* list body = [count u32](record)* + trailer (may be absent). */
struct flo_worker_list_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_worker_list_begin(flo_buf_t body, struct flo_worker_list_iter *it, uint32_t *count);
int flo_worker_list_next(struct flo_worker_list_iter *it, struct flo_worker_record *w);

#endif
