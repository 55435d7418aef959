/*
 * Helpers shared by the RESP queue commands (resp_cmd_queue.c: the Redis
 * list commands over Flo queues; resp_cmd_flo_queue.c: FLO.Q*): argument
 * parsing, message and stats replies, and two small engines that run a
 * command's upstream requests — the push engine (enqueue one message, or
 * several as batch enqueues with a transparent fallback to one enqueue per
 * message) and the sequence engine (ack / nack / touch / DLQ requeue / DLQ
 * delete, one upstream request per sequence because that is the only form a
 * Flo server parses). Not exported outside protocols/resp.
 */
#ifndef RESP_QUEUE_H
#define RESP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_ops.h"
#include "resp_internal.h"

#define RESP_QUEUE_DEFAULT_LEASE_MS 30000u      /* Flo's default visibility timeout */
#define RESP_QUEUE_MAX_LEASE_MS     43200000u   /* 12 h, same bound as the HTTP routes */
#define RESP_QUEUE_MAX_DELAY_MS     2592000000u /* 30 days, Flo's bound on delay_ms */
#define RESP_QUEUE_MAX_SEQS         1000u       /* sequences per ack/nack/... command */
#define RESP_QUEUE_PEEK_MAX         1000u       /* Flo's cap on peek / dlq_list count */
#define RESP_QUEUE_DLQ_DEFAULT      100u        /* FLO.QDLQ default COUNT (Flo's) */
#define RESP_QUEUE_PEEK_DEFAULT     10u         /* FLO.QPEEK default COUNT */

/* Parse a positive integer argument (a sequence, a count...). */
bool resp__q_arg_u64(flo_buf_t arg, uint64_t min, uint64_t max, uint64_t *out);

/* Validate a queue name (a Flo key); false after replying (the command is
 * finished then). */
bool resp__q_name_ok(struct resp_pending *p, flo_buf_t name);

/* Reply with a message list body (dequeue / peek / dlq_list layout): an
 * array of messages, each a map (RESP3) or a flat key/value array (RESP2)
 * of seq, payload, attempts, priority, enqueued_at_ms and, when
 * lease_deadline_ms >= 0, lease_deadline_ms. Returns 0, or a decode error
 * after which nothing was written. */
int resp__q_reply_msgs(struct resp_pending *p, flo_buf_t body, int64_t lease_deadline_ms);

/* Reply with the stats as a map of the nine counters. */
void resp__q_reply_stats(struct resp_pending *p, const struct flo_queue_stats *s);

/* Free p->calls (if heap-allocated) and allocate n again. Only when no
 * call of p is in flight. 0 or FLO_ENOMEM. */
int resp__q_calls_realloc(struct resp_pending *p, unsigned n);

/* Reply with the upstream failure and finish the command. */
void resp__q_fail(struct resp_pending *p, int err, uint8_t status, flo_buf_t body);

/*
 * Push engine. Enqueues argv[first .. first+n-1] of p (n >= 1 payloads) to the
 * queue argv[1], in argument order, with `opts` (an enqueue options block,
 * copied; only for a single message: batches carry priority 0 and no
 * options). Several messages go as batch enqueues of at most 1000 messages
 * and 192 KiB each, pipelined in order on the client's connection; an
 * upstream that answers "not implemented" gets them again one enqueue per
 * message. When every message is in, `done_cb` runs with the sequences (in
 * argument order, owned by the engine, valid during the call); on failure
 * the engine replies with the error and finishes p itself. The engine owns
 * p->state. Returns nothing: errors are replied.
 */
typedef void (*resp_q_pushed_cb)(struct resp_pending *p, const uint64_t *seqs, size_t n);
void resp__q_push(struct resp_pending *p, size_t first, size_t n, flo_buf_t opts,
                  resp_q_pushed_cb done_cb);

/* Sequence ops. */
enum resp_q_seqop_e {
    RESP_Q_ACK,
    RESP_Q_NACK,
    RESP_Q_NACK_DLQ,
    RESP_Q_TOUCH,
    RESP_Q_DLQ_REQUEUE,
    RESP_Q_DLQ_DELETE,
};
/*
 * Apply `op` to each sequence in argv[first .. first+n-1] (already checked
 * to be sequences) of queue argv[1]: one upstream request per sequence,
 * pipelined in order. Reply: the number of sequences (integer), or for
 * touch an array of the new lease deadlines (Unix ms); if any sequence
 * failed, the first failure as an error that names its sequence and says
 * how many others were applied (nothing is rolled back). `visibility_ms`
 * (touch only, 0 = the message's last lease length).
 */
void resp__q_seqop(struct resp_pending *p, enum resp_q_seqop_e op, size_t first, size_t n,
                   uint32_t visibility_ms);

#endif
