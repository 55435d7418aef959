/*
 * Unit tests of flo-dev's queue engine (devserver/dev_queue.c), driven
 * directly with an explicit clock: name validation texts, sequences,
 * priority order (lower value first) and FIFO within a priority, delays,
 * dedup keys, leases (isolation, expiry, touch), ack/nack and their status
 * rules for unknown, foreign, dead and unleased sequences, retries into the
 * DLQ, DLQ list/requeue/delete, peek, purge, stats, the body budget, the
 * woken-queue list that releases blocked dequeuers, and heap order under a
 * large random load.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_queue.h"
#include "flo/flo_error.h"

#define WALL    1700000000000LL /* Unix ms at monotonic 0 */
#define BIG     (1u << 20)      /* body budget that never binds */
#define VIS     1000u           /* lease used by most tests */
#define T0      5000u           /* start of the fake clock */
#define MAX_OUT 1000

static struct dev_queues *qs;
static struct flo_queue_msg out[MAX_OUT];

static void setup(void)
{
    cr_assert_eq(dev_queues_new(WALL, &qs), 0);
}

static void teardown(void)
{
    dev_queues_free(qs);
    qs = NULL;
}

TestSuite(dev_queue, .init = setup, .fini = teardown);

static struct dev_queue *qopen(const char *ns, const char *name)
{
    struct dev_queue *q = NULL;
    const char *msg;
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_STR(ns), FLO_BUF_STR(name), true, &q, &msg),
                 FLO_STATUS_OK);
    cr_assert_not_null(q);
    return q;
}

/* Enqueue one message; returns its sequence. */
static uint64_t enq(struct dev_queue *q, const char *payload, uint8_t prio, uint64_t delay,
                    const char *dedup, uint64_t now)
{
    struct dev_queue_new_msg m = {.payload = FLO_BUF_STR(payload),
                                  .priority = prio,
                                  .delay_ms = delay,
                                  .dedup_key = dedup != NULL ? FLO_BUF_STR(dedup) : FLO_BUF_NULL,
                                  .max_retries = DEV_QUEUE_DEFAULT_MAX_RETRIES};
    uint64_t seq = 0;
    const char *msg;
    cr_assert_eq(dev_queue_enqueue(qs, q, &m, 1, now, &seq, &msg), FLO_STATUS_OK);
    cr_assert_neq(seq, 0);
    return seq;
}

static uint64_t enq_retries(struct dev_queue *q, const char *payload, uint8_t retries, uint64_t now)
{
    struct dev_queue_new_msg m = {.payload = FLO_BUF_STR(payload), .max_retries = retries};
    uint64_t seq = 0;
    const char *msg;
    cr_assert_eq(dev_queue_enqueue(qs, q, &m, 1, now, &seq, &msg), FLO_STATUS_OK);
    return seq;
}

static size_t deq(struct dev_queue *q, uint32_t count, uint64_t now)
{
    return dev_queue_dequeue(qs, q, count, VIS, BIG, now, out);
}

/* Apply op to one sequence given in the server's ASCII form. */
static uint8_t one(struct dev_queue *q, enum dev_queue_seq_op_e op, uint64_t seq, uint64_t now,
                   const char **msg)
{
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)seq);
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(FLO_BUF_STR(t), &s), 0);
    return dev_queue_apply(qs, q, op, &s, 0, now, NULL, msg);
}

static void ok(struct dev_queue *q, enum dev_queue_seq_op_e op, uint64_t seq, uint64_t now)
{
    const char *msg = NULL;
    uint8_t st = one(q, op, seq, now, &msg);
    cr_assert_eq(st, FLO_STATUS_OK, "op %d on seq %llu: %u %s", (int)op, (unsigned long long)seq,
                 st, msg != NULL ? msg : "");
}

static void refused(struct dev_queue *q, enum dev_queue_seq_op_e op, uint64_t seq, uint64_t now,
                    uint8_t status, const char *text)
{
    const char *msg = NULL;
    cr_assert_eq(one(q, op, seq, now, &msg), status);
    cr_assert_str_eq(msg, text);
}

static void assert_payload(const struct flo_queue_msg *m, const char *want)
{
    cr_assert_eq(m->payload.len, strlen(want));
    cr_assert(memcmp(m->payload.ptr, want, m->payload.len) == 0, "payload '%.*s', want '%s'",
              (int)m->payload.len, (const char *)m->payload.ptr, want);
}

static struct flo_queue_stats stats(struct dev_queue *q, uint64_t now)
{
    struct flo_queue_stats s;
    dev_queue_stats(qs, q, now, &s);
    return s;
}

/* ---- names ---- */

Test(dev_queue, names_are_validated_with_clear_texts)
{
    struct dev_queue *q;
    const char *msg;
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_STR("default"), FLO_BUF_NULL, true, &q, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "queue name is required");
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_STR(""), FLO_BUF("a\0b", 3), true, &q, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "queue name must not contain NUL");
    char ns[70];
    memset(ns, 'n', 64);
    ns[64] = '\0';
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_STR(ns), FLO_BUF_STR("q"), true, &q, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "namespace name too long (max 63 bytes)");
    static char big[DEV_QUEUE_MAX_NAME];
    memset(big, 'x', sizeof big);
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_NULL, FLO_BUF(big, sizeof big), true, &q, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "namespace + queue name too large (max 4096 bytes)");
}

Test(dev_queue, empty_namespace_is_default_and_namespaces_are_separate)
{
    struct dev_queue *a = qopen("", "jobs");
    cr_assert_eq(qopen("default", "jobs"), a);
    struct dev_queue *b = qopen("other", "jobs");
    cr_assert_neq(a, b);
    flo_buf_t k = dev_queue_key(a);
    cr_assert_eq(k.len, strlen("default") + 1 + 4);
    cr_assert(memcmp(k.ptr, "default\0jobs", k.len) == 0);
    struct dev_queue *missing = (struct dev_queue *)1;
    const char *msg;
    cr_assert_eq(dev_queue_open(qs, FLO_BUF_STR("x"), FLO_BUF_STR("nope"), false, &missing, &msg),
                 FLO_STATUS_OK);
    cr_assert_null(missing);
}

/* ---- order ---- */

Test(dev_queue, sequences_start_at_one_and_increase_across_queues)
{
    struct dev_queue *a = qopen("", "a"), *b = qopen("", "b");
    cr_assert_eq(enq(a, "1", 0, 0, NULL, T0), 1);
    cr_assert_eq(enq(b, "2", 0, 0, NULL, T0), 2);
    cr_assert_eq(enq(a, "3", 0, 0, NULL, T0), 3);
}

Test(dev_queue, lower_priority_value_first_then_fifo)
{
    struct dev_queue *q = qopen("", "p");
    enq(q, "low-a", 9, 0, NULL, T0);
    enq(q, "high-a", 1, 0, NULL, T0);
    enq(q, "mid", 5, 0, NULL, T0);
    enq(q, "high-b", 1, 0, NULL, T0);
    enq(q, "low-b", 9, 0, NULL, T0);
    const char *want[] = {"high-a", "high-b", "mid", "low-a", "low-b"};
    cr_assert_eq(deq(q, 10, T0), 5);
    for (int i = 0; i < 5; i++) {
        assert_payload(&out[i], want[i]);
        cr_assert_eq(out[i].delivery_count, 1);
    }
    cr_assert_eq(out[0].priority, 1);
    cr_assert_eq(out[0].enqueued_at_ms, WALL + T0);
}

Test(dev_queue, random_load_comes_out_sorted_and_peek_agrees)
{
    struct dev_queue *q = qopen("", "r");
    srand(42);
    for (int i = 0; i < 20000; i++) {
        char p[16];
        snprintf(p, sizeof p, "%d", i);
        enq(q, p, (uint8_t)(rand() % 7), 0, NULL, T0);
    }
    struct flo_queue_msg peeked[100];
    uint64_t last_seq = 0;
    int last_prio = -1;
    size_t total = 0;
    for (;;) {
        size_t np = dev_queue_peek(qs, q, 100, BIG, T0, peeked);
        size_t n = deq(q, 100, T0);
        cr_assert_eq(np, n);
        if (n == 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(peeked[i].seq, out[i].seq, "peek and dequeue disagree at %zu", total + i);
            if (out[i].priority == last_prio) {
                cr_assert_gt(out[i].seq, last_seq);
            } else {
                cr_assert_gt(out[i].priority, last_prio);
            }
            last_prio = out[i].priority;
            last_seq = out[i].seq;
        }
        total += n;
    }
    cr_assert_eq(total, 20000);
    cr_assert_eq(stats(q, T0).leased_now, 20000);
}

/* ---- delay, dedup ---- */

Test(dev_queue, delayed_message_is_invisible_until_due)
{
    struct dev_queue *q = qopen("", "d");
    uint64_t s = enq(q, "later", 0, 500, NULL, T0);
    enq(q, "now", 5, 0, NULL, T0);
    cr_assert_eq(dev_queue_next_due(qs), T0 + 500);
    cr_assert_eq(dev_queue_peek(qs, q, 10, BIG, T0 + 499, out), 1);
    assert_payload(&out[0], "now");
    cr_assert_eq(stats(q, T0).ready_now, 2, "a delayed message counts as waiting");
    while (dev_queue_pop_woken(qs) != NULL) {
    }
    dev_queue_tick(qs, T0 + 500);
    cr_assert_eq(dev_queue_pop_woken(qs), q, "a due delay wakes the queue");
    cr_assert_eq(dev_queue_next_due(qs), UINT64_MAX);
    cr_assert_eq(deq(q, 10, T0 + 500), 2);
    cr_assert_eq(out[0].seq, s, "priority 0 beats 5 once visible");
}

Test(dev_queue, delay_over_the_limit_is_refused)
{
    struct dev_queue *q = qopen("", "d");
    struct dev_queue_new_msg m = {.payload = FLO_BUF_STR("x"),
                                  .delay_ms = DEV_QUEUE_MAX_DELAY_MS + 1};
    uint64_t seq;
    const char *msg;
    cr_assert_eq(dev_queue_enqueue(qs, q, &m, 1, T0, &seq, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "delay_ms too large (max 2592000000, 30 days)");
    cr_assert_eq(dev_queues_message_count(qs), 0);
}

Test(dev_queue, dedup_key_answers_first_sequence_while_message_is_held)
{
    struct dev_queue *q = qopen("", "dd"), *other = qopen("", "other");
    uint64_t a = enq(q, "one", 0, 0, "order-42", T0);
    cr_assert_eq(enq(q, "two", 0, 0, "order-42", T0), a);
    cr_assert_neq(enq(other, "x", 0, 0, "order-42", T0), a, "dedup keys are per queue");
    cr_assert_eq(stats(q, T0).enqueued, 1);
    cr_assert_eq(deq(q, 1, T0), 1);
    cr_assert_eq(enq(q, "three", 0, 0, "order-42", T0), a, "a leased message still dedups");
    ok(q, DEV_QUEUE_ACK, a, T0);
    uint64_t b = enq(q, "four", 0, 0, "order-42", T0);
    cr_assert_neq(b, a, "after the ack the key is free again");
    cr_assert_eq(deq(q, 10, T0), 1);
    assert_payload(&out[0], "four");
}

Test(dev_queue, batch_is_atomic_and_dedups_inside_itself)
{
    struct dev_queue *q = qopen("", "b");
    struct dev_queue_new_msg m[3] = {
        {.payload = FLO_BUF_STR("a"), .priority = 2, .dedup_key = FLO_BUF_STR("k")},
        {.payload = FLO_BUF_STR("b"), .priority = 1},
        {.payload = FLO_BUF_STR("c"), .dedup_key = FLO_BUF_STR("k")},
    };
    uint64_t seqs[3];
    const char *msg;
    cr_assert_eq(dev_queue_enqueue(qs, q, m, 3, T0, seqs, &msg), FLO_STATUS_OK);
    cr_assert_eq(seqs[0], 1);
    cr_assert_eq(seqs[1], 2);
    cr_assert_eq(seqs[2], 1);
    m[1].delay_ms = DEV_QUEUE_MAX_DELAY_MS + 1;
    cr_assert_eq(dev_queue_enqueue(qs, q, m, 3, T0, seqs, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_eq(dev_queues_message_count(qs), 2, "a refused batch adds nothing");
}

/* ---- leases ---- */

Test(dev_queue, leased_message_is_not_delivered_again_until_its_lease_expires)
{
    struct dev_queue *q = qopen("", "l");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    cr_assert_eq(deq(q, 1, T0 + VIS - 1), 0);
    cr_assert_eq(dev_queue_next_due(qs), T0 + VIS);
    cr_assert_eq(deq(q, 1, T0 + VIS), 1, "the expired lease made it ready again");
    cr_assert_eq(out[0].seq, s);
    cr_assert_eq(out[0].delivery_count, 2);
    struct flo_queue_stats st = stats(q, T0 + VIS);
    cr_assert_eq(st.leases_expired, 1);
    cr_assert_eq(st.dequeued, 2);
    cr_assert_eq(st.leased_now, 1);
}

Test(dev_queue, default_visibility_is_30_seconds)
{
    struct dev_queue *q = qopen("", "v");
    enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(dev_queue_dequeue(qs, q, 1, 0, BIG, T0, out), 1);
    cr_assert_eq(dev_queue_next_due(qs), T0 + 30000);
}

Test(dev_queue, touch_restarts_the_lease_and_reports_the_deadline)
{
    struct dev_queue *q = qopen("", "t");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    struct flo_queue_seqs one_seq = {.n = 1, .one = s};
    int64_t until = 0;
    const char *msg;
    cr_assert_eq(dev_queue_apply(qs, q, DEV_QUEUE_TOUCH, &one_seq, 0, T0 + 800, &until, &msg),
                 FLO_STATUS_OK);
    cr_assert_eq(until, WALL + T0 + 800 + VIS, "default: the duration of the last lease");
    cr_assert_eq(deq(q, 1, T0 + VIS + 500), 0, "still leased past the first deadline");
    cr_assert_eq(dev_queue_apply(qs, q, DEV_QUEUE_TOUCH, &one_seq, 5000, T0 + 1500, &until, &msg),
                 FLO_STATUS_OK);
    cr_assert_eq(until, WALL + T0 + 1500 + 5000);
    cr_assert_eq(deq(q, 1, T0 + 6499), 0);
    cr_assert_eq(deq(q, 1, T0 + 6500), 1);
    cr_assert_eq(stats(q, T0 + 6500).leases_expired, 1);
}

Test(dev_queue, touch_of_an_unleased_or_unknown_message_is_refused)
{
    struct dev_queue *q = qopen("", "t");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    refused(q, DEV_QUEUE_TOUCH, s, T0, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_NOT_LEASED);
    cr_assert_eq(deq(q, 1, T0), 1);
    refused(q, DEV_QUEUE_TOUCH, s, T0 + VIS, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_NOT_LEASED);
    refused(q, DEV_QUEUE_TOUCH, 999, T0, FLO_STATUS_NOT_FOUND, "message not found in this queue");
}

/* ---- ack ---- */

Test(dev_queue, ack_removes_for_good)
{
    struct dev_queue *q = qopen("", "a");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    ok(q, DEV_QUEUE_ACK, s, T0 + 10);
    cr_assert_eq(deq(q, 1, T0 + 10 * VIS), 0, "never redelivered");
    cr_assert_eq(dev_queues_message_count(qs), 0);
    cr_assert_eq(dev_queue_next_due(qs), UINT64_MAX, "the lease deadline went with it");
    ok(q, DEV_QUEUE_ACK, s, T0 + 20); /* already consumed: silent ok */
    struct flo_queue_stats st = stats(q, T0);
    cr_assert_eq(st.acked, 1);
    cr_assert_eq(st.leased_now + st.ready_now, 0);
}

Test(dev_queue, late_ack_after_the_lease_expired_is_honoured)
{
    struct dev_queue *q = qopen("", "a");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    ok(q, DEV_QUEUE_ACK, s, T0 + VIS + 1);
    cr_assert_eq(deq(q, 1, T0 + VIS + 2), 0);
}

Test(dev_queue, foreign_sequence_is_refused_and_the_list_changes_nothing)
{
    struct dev_queue *q = qopen("", "a"), *other = qopen("", "b");
    uint64_t mine = enq(q, "m", 0, 0, NULL, T0);
    uint64_t theirs = enq(other, "o", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    uint64_t list[3] = {mine, 12345, theirs};
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_queue_seqs_value(&v, list, 3), 0);
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(flo_wbuf_view(&v), &s), 0);
    const char *msg;
    cr_assert_eq(dev_queue_apply(qs, q, DEV_QUEUE_ACK, &s, 0, T0, NULL, &msg),
                 FLO_STATUS_NOT_FOUND);
    cr_assert_str_eq(msg, "message not found in this queue");
    cr_assert_eq(stats(q, T0).leased_now, 1, "the valid sequence was not acked");
    /* The same sequence on a queue that does not exist yet. */
    cr_assert_eq(dev_queue_apply(qs, NULL, DEV_QUEUE_ACK, &s, 0, T0, NULL, &msg),
                 FLO_STATUS_NOT_FOUND);
    list[2] = 777;
    flo_wbuf_reset(&v);
    cr_assert_eq(flo_queue_seqs_value(&v, list, 3), 0);
    cr_assert_eq(flo_queue_parse_seqs(flo_wbuf_view(&v), &s), 0);
    cr_assert_eq(dev_queue_apply(qs, q, DEV_QUEUE_ACK, &s, 0, T0, NULL, &msg), FLO_STATUS_OK);
    cr_assert_eq(stats(q, T0).acked, 1);
    flo_wbuf_free(&v);
}

Test(dev_queue, duplicate_sequences_in_one_list_are_harmless)
{
    struct dev_queue *q = qopen("", "a");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    uint64_t list[2] = {s, s};
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_queue_seqs_value(&v, list, 2), 0);
    struct flo_queue_seqs ss;
    cr_assert_eq(flo_queue_parse_seqs(flo_wbuf_view(&v), &ss), 0);
    const char *msg;
    cr_assert_eq(dev_queue_apply(qs, q, DEV_QUEUE_ACK, &ss, 0, T0, NULL, &msg), FLO_STATUS_OK);
    cr_assert_eq(stats(q, T0).acked, 1);
    flo_wbuf_free(&v);
}

/* ---- nack, retries, DLQ ---- */

Test(dev_queue, nack_redelivers_with_delivery_count_plus_one)
{
    struct dev_queue *q = qopen("", "n");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    enq(q, "newer", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    ok(q, DEV_QUEUE_NACK, s, T0 + 1);
    cr_assert_eq(deq(q, 1, T0 + 1), 1);
    cr_assert_eq(out[0].seq, s, "FIFO by sequence: the nacked message goes first again");
    cr_assert_eq(out[0].delivery_count, 2);
    cr_assert_eq(stats(q, T0).nacked, 1);
    ok(q, DEV_QUEUE_NACK, 999, T0); /* unknown: silent */
}

Test(dev_queue, nack_of_a_waiting_message_changes_nothing)
{
    struct dev_queue *q = qopen("", "n");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0);
    ok(q, DEV_QUEUE_NACK, s, T0);
    cr_assert_eq(stats(q, T0).nacked, 0);
    cr_assert_eq(deq(q, 1, T0), 1);
    cr_assert_eq(out[0].delivery_count, 1);
}

Test(dev_queue, max_retries_sends_to_the_dlq)
{
    struct dev_queue *q = qopen("", "r");
    uint64_t s = enq(q, "m", 0, 0, NULL, T0); /* default max_retries 3 */
    for (uint32_t i = 1; i <= 3; i++) {
        cr_assert_eq(deq(q, 1, T0), 1, "delivery %u", i);
        cr_assert_eq(out[0].delivery_count, i);
        ok(q, DEV_QUEUE_NACK, s, T0);
    }
    cr_assert_eq(deq(q, 1, T0), 0, "the third nack dead-lettered it");
    struct flo_queue_stats st = stats(q, T0);
    cr_assert_eq(st.dlq_now, 1);
    cr_assert_eq(st.dlq_total, 1);
    cr_assert_eq(dev_queue_dlq_list(qs, q, 10, BIG, T0, out), 1);
    cr_assert_eq(out[0].seq, s);
    cr_assert_eq(out[0].delivery_count, 3);
    ok(q, DEV_QUEUE_NACK, s, T0); /* nack of a dead message: idempotent */
    cr_assert_eq(stats(q, T0).dlq_total, 1);

    uint64_t one_try = enq_retries(q, "once", 1, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    ok(q, DEV_QUEUE_NACK, one_try, T0);
    cr_assert_eq(stats(q, T0).dlq_now, 2, "max_retries 1: the first nack dead-letters");
}

Test(dev_queue, expired_leases_never_dead_letter)
{
    struct dev_queue *q = qopen("", "r");
    enq_retries(q, "m", 1, T0);
    uint64_t t = T0;
    for (uint32_t i = 1; i <= 5; i++, t += VIS) {
        cr_assert_eq(deq(q, 1, t), 1);
        cr_assert_eq(out[0].delivery_count, i);
    }
    cr_assert_eq(stats(q, t).dlq_now, 0);
}

Test(dev_queue, nack_to_dlq_then_requeue_and_delete)
{
    struct dev_queue *q = qopen("", "dlq");
    uint64_t a = enq(q, "a", 0, 0, NULL, T0);
    uint64_t b = enq(q, "b", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 2, T0), 2);
    ok(q, DEV_QUEUE_NACK_DLQ, a, T0);
    ok(q, DEV_QUEUE_NACK_DLQ, b, T0);
    cr_assert_eq(deq(q, 2, T0 + 5 * VIS), 0, "dead messages are not delivered");
    cr_assert_eq(dev_queue_dlq_list(qs, q, 10, BIG, T0, out), 2);
    cr_assert_eq(out[0].seq, a);
    cr_assert_eq(out[1].seq, b);
    refused(q, DEV_QUEUE_ACK, a, T0, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_IN_DLQ);
    refused(q, DEV_QUEUE_TOUCH, a, T0, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_NOT_LEASED);
    ok(q, DEV_QUEUE_DLQ_REQUEUE, a, T0);
    ok(q, DEV_QUEUE_DLQ_DELETE, b, T0);
    ok(q, DEV_QUEUE_DLQ_DELETE, b, T0); /* gone: silent */
    refused(q, DEV_QUEUE_DLQ_DELETE, a, T0, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_NOT_IN_DLQ);
    refused(q, DEV_QUEUE_DLQ_REQUEUE, a, T0, FLO_STATUS_CONFLICT, DEV_QUEUE_MSG_NOT_IN_DLQ);
    cr_assert_eq(dev_queue_dlq_list(qs, q, 10, BIG, T0, out), 0);
    cr_assert_eq(deq(q, 2, T0), 1);
    cr_assert_eq(out[0].seq, a);
    cr_assert_eq(out[0].delivery_count, 1, "a requeue starts a fresh retry budget");
    cr_assert_eq(dev_queues_message_count(qs), 1);
}

/* ---- peek, purge, stats, budget ---- */

Test(dev_queue, peek_leases_nothing)
{
    struct dev_queue *q = qopen("", "pk");
    enq(q, "b", 2, 0, NULL, T0);
    enq(q, "a", 1, 0, NULL, T0);
    cr_assert_eq(dev_queue_peek(qs, q, 5, BIG, T0, out), 2);
    assert_payload(&out[0], "a");
    assert_payload(&out[1], "b");
    cr_assert_eq(out[0].delivery_count, 0);
    cr_assert_eq(dev_queue_peek(qs, q, 1, BIG, T0, out), 1);
    struct flo_queue_stats st = stats(q, T0);
    cr_assert_eq(st.dequeued, 0);
    cr_assert_eq(st.leased_now, 0);
    cr_assert_eq(deq(q, 5, T0), 2);
    cr_assert_eq(dev_queue_peek(qs, q, 5, BIG, T0, out), 0, "leased messages are not ready");
}

Test(dev_queue, purge_removes_live_messages_and_keeps_the_dlq)
{
    struct dev_queue *q = qopen("", "pg"), *other = qopen("", "keep");
    uint64_t dead = enq(q, "dead", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 1, T0), 1);
    ok(q, DEV_QUEUE_NACK_DLQ, dead, T0);
    for (int i = 0; i < 50; i++) {
        enq(q, "r", 0, 0, NULL, T0);
        enq(q, "d", 0, 100 + (uint64_t)i, NULL, T0);
        enq(other, "o", 0, 100 + (uint64_t)i, NULL, T0);
    }
    uint64_t leased_seq = 0;
    cr_assert_eq(deq(q, 10, T0), 10);
    leased_seq = out[0].seq;
    uint32_t removed = 0;
    dev_queue_purge(qs, q, T0, &removed);
    cr_assert_eq(removed, 100);
    struct flo_queue_stats st = stats(q, T0);
    cr_assert_eq(st.ready_now + st.leased_now, 0);
    cr_assert_eq(st.dlq_now, 1);
    ok(q, DEV_QUEUE_ACK, leased_seq, T0); /* purged: unknown now, silent */
    cr_assert_eq(stats(other, T0).ready_now, 50, "other queues keep theirs");
    cr_assert_eq(dev_queue_peek(qs, other, 100, BIG, T0 + 1000, out), 50,
                 "the due heap stayed consistent");
    dev_queue_purge(qs, NULL, T0, &removed);
    cr_assert_eq(removed, 0);
}

Test(dev_queue, stats_count_every_transition)
{
    struct dev_queue *q = qopen("ns1", "s");
    uint64_t a = enq(q, "a", 0, 0, NULL, T0);
    uint64_t b = enq(q, "b", 0, 0, NULL, T0);
    enq(q, "c", 0, 0, NULL, T0);
    cr_assert_eq(deq(q, 3, T0), 3);
    ok(q, DEV_QUEUE_ACK, a, T0);
    ok(q, DEV_QUEUE_NACK_DLQ, b, T0);
    struct flo_queue_stats st = stats(q, T0 + VIS);
    cr_assert_eq(st.enqueued, 3);
    cr_assert_eq(st.dequeued, 3);
    cr_assert_eq(st.acked, 1);
    cr_assert_eq(st.nacked, 1);
    cr_assert_eq(st.dlq_total, 1);
    cr_assert_eq(st.leases_expired, 1);
    cr_assert_eq(st.ready_now, 1);
    cr_assert_eq(st.leased_now, 0);
    cr_assert_eq(st.dlq_now, 1);
    enq(qopen("ns1", "t"), "x", 0, 0, NULL, T0);
    enq(qopen("ns2", "t"), "x", 0, 0, NULL, T0);
    struct flo_queue_stats sum;
    dev_queue_stats_ns(qs, FLO_BUF_STR("ns1"), T0 + VIS, &sum);
    cr_assert_eq(sum.enqueued, 4);
    cr_assert_eq(sum.ready_now, 2);
    dev_queue_stats(qs, NULL, T0, &st);
    cr_assert_eq(st.enqueued, 0);
}

static bool count_fn(const struct flo_queue_info *info, void *ud)
{
    size_t *n = ud;
    if (info->name.len == 1 && info->name.ptr[0] == 'a') {
        cr_assert_eq(info->pending, 2);
        cr_assert_eq(info->available, 1);
        cr_assert_eq(info->enqueued, 2);
        cr_assert_eq(info->dequeued, 1);
        cr_assert_eq(info->ns.len, 2);
    }
    (*n)++;
    return true;
}

Test(dev_queue, each_lists_the_namespace_queues)
{
    struct dev_queue *a = qopen("n1", "a");
    enq(a, "x", 0, 0, NULL, T0);
    enq(a, "y", 0, 0, NULL, T0);
    cr_assert_eq(deq(a, 1, T0), 1);
    qopen("n1", "b");
    qopen("n2", "c");
    size_t n = 0;
    dev_queue_each(qs, FLO_BUF_STR("n1"), T0, count_fn, &n);
    cr_assert_eq(n, 2);
}

Test(dev_queue, body_budget_limits_a_dequeue_but_never_to_zero)
{
    struct dev_queue *q = qopen("", "big");
    static char payload[1001];
    memset(payload, 'p', 1000);
    for (int i = 0; i < 5; i++) {
        enq(q, payload, 0, 0, NULL, T0);
    }
    /* [count] + 2 * (25 + 1000) = 2054: two fit in 2100, three do not. */
    cr_assert_eq(dev_queue_dequeue(qs, q, 5, VIS, 2100, T0, out), 2);
    cr_assert_eq(dev_queue_dequeue(qs, q, 5, VIS, 10, T0, out), 1);
    cr_assert_eq(stats(q, T0).leased_now, 3, "only the delivered messages are leased");
}

Test(dev_queue, woken_list_names_each_queue_once)
{
    struct dev_queue *a = qopen("", "a"), *b = qopen("", "b");
    enq(a, "1", 0, 0, NULL, T0);
    enq(b, "1", 0, 0, NULL, T0);
    enq(a, "2", 0, 0, NULL, T0);
    cr_assert_eq(dev_queue_pop_woken(qs), a);
    cr_assert_eq(dev_queue_pop_woken(qs), b);
    cr_assert_null(dev_queue_pop_woken(qs));
    cr_assert_eq(deq(a, 1, T0), 1);
    cr_assert_null(dev_queue_pop_woken(qs), "a dequeue readies nothing");
    ok(a, DEV_QUEUE_NACK, out[0].seq, T0);
    cr_assert_eq(dev_queue_pop_woken(qs), a, "a nack readies the message again");
}

Test(dev_queue, thousands_of_leases_expire_through_one_heap)
{
    struct dev_queue *q = qopen("", "many");
    for (int i = 0; i < 5000; i++) {
        enq(q, "m", 0, 0, NULL, T0);
    }
    uint64_t t = T0;
    for (int i = 0; i < 50; i++, t++) {
        cr_assert_eq(deq(q, 100, t), 100);
    }
    cr_assert_eq(dev_queue_next_due(qs), T0 + VIS);
    dev_queue_tick(qs, T0 + VIS + 24);
    struct flo_queue_stats st = stats(q, T0 + VIS + 24);
    cr_assert_eq(st.leases_expired, 2500);
    cr_assert_eq(st.leased_now, 2500);
    cr_assert_eq(dev_queue_next_due(qs), T0 + VIS + 25);
}
