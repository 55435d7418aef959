/*
 * flo-dev's queue engine: priority queues with leases, delays, dedup keys,
 * retries and a dead-letter queue, following the documented model of
 * shared/flo-protocol-ops.md §7 ("Queues — the documented model") with the
 * op codes and options of §1-§2. Like the KV engine (dev_kv.h) it knows
 * nothing about sockets or frames: every call takes the current time in
 * milliseconds from a monotonic clock, so unit tests drive it directly, and
 * every outcome is a Flo status byte plus an optional static message.
 *
 * Model. A message is in exactly one state: ready (visible; dequeued lowest
 * priority value first, then by sequence), delayed (invisible until its
 * delay is due), leased (delivered; invisible until acked, nacked or its
 * lease expires) or dead (in the queue's DLQ). Sequences are one counter per
 * engine (a single shard), starting at 1. delivery_count counts deliveries:
 * the first dequeue reports 1.
 *
 * Time. The engine keeps one min-heap of due times (delays and lease
 * deadlines) over all queues: next_due() gives the earliest, tick() applies
 * everything due. Every operation ticks first, so results never depend on
 * when the caller's timer fired. Queues that received ready messages are
 * remembered (pop_woken) so the caller can answer blocked dequeuers.
 */
#ifndef DEV_QUEUE_H
#define DEV_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "flo/flo_ops.h"

#define DEV_QUEUE_DEFAULT_VISIBILITY_MS 30000u /* lease when the dequeue names none */
#define DEV_QUEUE_DEFAULT_MAX_RETRIES   3      /* deliveries before a nack dead-letters */
#define DEV_QUEUE_MAX_DELAY_MS          (30ull * 24 * 3600 * 1000) /* 30 days */
#define DEV_QUEUE_MAX_NAME              4096         /* namespace + NUL + name, as KV keys */
#define DEV_QUEUE_MAX_MESSAGES          1000000      /* messages held by one engine */
#define DEV_QUEUE_MAX_BYTES             (1ull << 30) /* payload bytes held by one engine */
#define DEV_QUEUE_MAX_QUEUES            100000       /* distinct queues of one engine */
#define DEV_QUEUE_MAX_LIST              1000         /* messages of one peek / dlq_list */

/* Texts shared by the engine and the wire handlers. */
#define DEV_QUEUE_MSG_NAME_REQUIRED "queue name is required"
#define DEV_QUEUE_MSG_SEQ_REQUIRED  "message sequence is required"
#define DEV_QUEUE_MSG_OTHER_QUEUE   "message not found in this queue"
#define DEV_QUEUE_MSG_NOT_LEASED                                                                   \
    "message is not leased (its lease expired, it was nacked, or it was never delivered)"
#define DEV_QUEUE_MSG_IN_DLQ     "message is in the dead-letter queue (requeue or delete it there)"
#define DEV_QUEUE_MSG_NOT_IN_DLQ "message is not in the dead-letter queue"

struct dev_queues; /* the engine */
struct dev_queue;  /* one queue */

/* One message to enqueue. */
struct dev_queue_new_msg {
    flo_buf_t payload;   /* copied */
    uint8_t priority;    /* lower is delivered first */
    uint64_t delay_ms;   /* 0 = visible at once; at most DEV_QUEUE_MAX_DELAY_MS */
    flo_buf_t dedup_key; /* empty = none */
    uint8_t max_retries; /* nack dead-letters once delivery_count reaches it */
};

/* What ack-like operations do with each sequence of their list. */
enum dev_queue_seq_op_e {
    DEV_QUEUE_ACK,         /* remove for good */
    DEV_QUEUE_NACK,        /* back to ready, or to the DLQ at max_retries */
    DEV_QUEUE_NACK_DLQ,    /* straight to the DLQ (send_to_dlq) */
    DEV_QUEUE_TOUCH,       /* restart the lease */
    DEV_QUEUE_DLQ_REQUEUE, /* DLQ -> ready, delivery_count reset */
    DEV_QUEUE_DLQ_DELETE,  /* remove a DLQ message for good */
};

/*
 * Create an empty engine. wall_offset_ms is added to the monotonic `now`
 * of each call to produce enqueued_at_ms and lease deadlines in Unix ms.
 * 0 or FLO_ENOMEM; the caller frees with dev_queues_free.
 */
int dev_queues_new(int64_t wall_offset_ms, struct dev_queues **out);
/* Free the engine, every queue and message. NULL is allowed. */
void dev_queues_free(struct dev_queues *qs);

/*
 * Find the queue named (ns, name); an empty namespace means `default`.
 * Validation first: BAD_REQUEST with *msg for an empty name
 * (DEV_QUEUE_MSG_NAME_REQUIRED), a NUL in the name or namespace, a
 * namespace over 63 bytes, or namespace + name over DEV_QUEUE_MAX_NAME.
 * With create, a missing queue is created (OVERLOADED past
 * DEV_QUEUE_MAX_QUEUES, INTERNAL on memory); without, *q is NULL when it
 * does not exist. Queues live until dev_queues_free.
 */
uint8_t dev_queue_open(struct dev_queues *qs, flo_buf_t ns, flo_buf_t name, bool create,
                       struct dev_queue **q, const char **msg);

/*
 * Write the identity of (ns, name), the form dev_queue_key returns
 * (namespace, NUL, name), into buf (DEV_QUEUE_MAX_NAME bytes) without
 * looking the queue up. Validation and texts as dev_queue_open.
 */
uint8_t dev_queue_make_key(flo_buf_t ns, flo_buf_t name, uint8_t *buf, size_t *len,
                           const char **msg);

/*
 * Enqueue n messages atomically (all or none) and write their sequences to
 * seqs[0..n). A message whose dedup key belongs to a message still held by
 * the queue (in any state, DLQ included) is not added: its seq is that
 * message's. OK; BAD_REQUEST "delay_ms too large ..."; OVERLOADED when the
 * engine's message or byte limit would be passed; INTERNAL on memory.
 */
uint8_t dev_queue_enqueue(struct dev_queues *qs, struct dev_queue *q,
                          const struct dev_queue_new_msg *m, size_t n, uint64_t now, uint64_t *seqs,
                          const char **msg);

/*
 * Lease up to `count` ready messages (q may be NULL: nothing) for
 * visibility_ms (0 = DEV_QUEUE_DEFAULT_VISIBILITY_MS), best first, each
 * with delivery_count + 1. Stops before the reply body
 * ([count u32] + per message 12 + payload + 13 bytes) would pass max_body,
 * but always delivers at least one available message. Fills out[0..ret)
 * with views valid until the next engine call. Returns the number leased.
 */
size_t dev_queue_dequeue(struct dev_queues *qs, struct dev_queue *q, uint32_t count,
                         uint32_t visibility_ms, size_t max_body, uint64_t now,
                         struct flo_queue_msg *out);

/* Like dequeue, without leasing or counting a delivery (peek). */
size_t dev_queue_peek(struct dev_queues *qs, struct dev_queue *q, uint32_t count, size_t max_body,
                      uint64_t now, struct flo_queue_msg *out);

/* The DLQ's messages, oldest arrival in the DLQ first (dlq_list). */
size_t dev_queue_dlq_list(struct dev_queues *qs, struct dev_queue *q, uint32_t count,
                          size_t max_body, uint64_t now, struct flo_queue_msg *out);

/*
 * Apply `op` to every sequence of `seqs` (q may be NULL). All sequences are
 * checked before any is applied, so a refused list changes nothing:
 *  - a sequence of another queue → NOT_FOUND DEV_QUEUE_MSG_OTHER_QUEUE;
 *  - an unknown sequence (acked, purged, deleted, never issued) is skipped
 *    silently, except for TOUCH (NOT_FOUND DEV_QUEUE_MSG_OTHER_QUEUE: a
 *    worker must learn that the message it extends is gone);
 *  - ACK of a dead message → CONFLICT DEV_QUEUE_MSG_IN_DLQ; TOUCH of a
 *    message that is not leased → CONFLICT DEV_QUEUE_MSG_NOT_LEASED;
 *    DLQ_REQUEUE/DLQ_DELETE of a live message → CONFLICT
 *    DEV_QUEUE_MSG_NOT_IN_DLQ.
 * ACK removes a leased, ready or delayed message (a late ack after the
 * lease expired is honoured). NACK of a leased message returns it to ready,
 * or to the DLQ once delivery_count >= max_retries; NACK of a waiting
 * (ready/delayed) or dead message changes nothing. NACK_DLQ moves any live
 * message to the DLQ. TOUCH sets the lease deadline to now + visibility_ms
 * (0 = the duration of its last lease) and reports it in *lease_until_ms
 * (Unix ms; may be NULL).
 */
uint8_t dev_queue_apply(struct dev_queues *qs, struct dev_queue *q, enum dev_queue_seq_op_e op,
                        const struct flo_queue_seqs *seqs, uint32_t visibility_ms, uint64_t now,
                        int64_t *lease_until_ms, const char **msg);

/* Remove every ready, delayed and leased message (the DLQ stays);
 * *removed gets how many. q may be NULL (0). */
void dev_queue_purge(struct dev_queues *qs, struct dev_queue *q, uint64_t now, uint32_t *removed);

/*
 * Counters of one queue (q NULL: zeros): enqueued (messages added), dequeued
 * (deliveries), acked, nacked (nacks that changed something), dlq_total
 * (moves into the DLQ), leases_expired, ready_now (waiting for delivery,
 * delayed included), leased_now, dlq_now.
 */
void dev_queue_stats(struct dev_queues *qs, const struct dev_queue *q, uint64_t now,
                     struct flo_queue_stats *out);
/* The sum of dev_queue_stats over every queue of namespace ns. */
void dev_queue_stats_ns(struct dev_queues *qs, flo_buf_t ns, uint64_t now,
                        struct flo_queue_stats *out);

/*
 * Call fn for every queue of namespace ns (empty = default) until it
 * returns false; info views live until the next engine call. pending =
 * ready + delayed + leased, available = ready now, dlq = dlq_now.
 */
void dev_queue_each(struct dev_queues *qs, flo_buf_t ns, uint64_t now,
                    bool (*fn)(const struct flo_queue_info *info, void *ud), void *ud);

/* Apply every delay and lease deadline due at `now`. */
void dev_queue_tick(struct dev_queues *qs, uint64_t now);
/* Earliest pending deadline (monotonic ms), UINT64_MAX if none. */
uint64_t dev_queue_next_due(const struct dev_queues *qs);
/* Next queue that received ready messages since it was last returned (or
 * NULL); its blocked dequeuers can be answered now. */
struct dev_queue *dev_queue_pop_woken(struct dev_queues *qs);
/* The queue's identity: namespace, NUL, name (stable for its lifetime). */
flo_buf_t dev_queue_key(const struct dev_queue *q);
/* Messages ready for delivery right now. */
size_t dev_queue_ready_count(const struct dev_queue *q);
/* Messages held by the engine, all states. */
size_t dev_queues_message_count(const struct dev_queues *qs);

#endif
