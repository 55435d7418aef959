/*
 * Flo queues through the RESP front end, over real sockets: flo-dev as the
 * upstream, flo-sidecar serving RESP, hiredis and redis-cli as clients.
 * Covers the Redis list commands (LPUSH/RPUSH, LPOP/RPOP, BLPOP/BRPOP,
 * LLEN, LRANGE) and the FLO.Q* commands: priority and FIFO order, delay,
 * dedup, leases (exclusive delivery, expiry, touch), ack, nack, the DLQ,
 * pipelined pushes and pops of one queue (FIFO, each value once),
 * max retries, peek, long-polls released by other clients, several queues
 * per BRPOP with nothing lost or duplicated, concurrent producers and
 * consumers, binary payloads, bad input, and reply bytes compared with a
 * real redis-server.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts.h"
#include "ts_resp_fixture.h"
#include "ts_resp_cmp.h"

#define IO_MS 5000 /* bound for one raw exchange */

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void setup(void)
{
    ts_resp_fixture_start(&dev, &sc, NULL);
}

static void teardown(void)
{
    ts_resp_fixture_stop(&dev, &sc);
}

TestSuite(resp_queue, .init = setup, .fini = teardown, .timeout = 90);

/* A field of a message (RESP2 flat array of name/value pairs). */
static const redisReply *field(const redisReply *m, const char *name)
{
    cr_assert_eq(m->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i + 1 < m->elements; i += 2) {
        if (strcmp(m->element[i]->str, name) == 0) {
            return m->element[i + 1];
        }
    }
    cr_assert_fail("message has no field '%s'", name);
    return NULL;
}

static long long ifield(const redisReply *m, const char *name)
{
    const redisReply *v = field(m, name);
    cr_assert_eq(v->type, REDIS_REPLY_INTEGER, "field '%s' type %d", name, v->type);
    return v->integer;
}

/* FLO.QDEQUEUE with extra options; the reply is an array (maybe empty). */
static redisReply *dequeue(redisContext *c, const char *queue, const char *opts)
{
    /* The options are split on spaces by hiredis' format parser. */
    char line[256];
    snprintf(line, sizeof(line), "FLO.QDEQUEUE %s %s", queue, opts);
    redisReply *r = ts_resp_cmd(c, line);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "FLO.QDEQUEUE: type %d (%s)", r->type,
                 ts_resp_err_text(r));
    return r;
}

/* Dequeue exactly one message and return its sequence (payload checked). */
static long long dequeue_one(redisContext *c, const char *queue, const char *opts,
                             const char *payload)
{
    redisReply *r = dequeue(c, queue, opts);
    cr_assert_eq(r->elements, 1, "want one message, got %zu", r->elements);
    const redisReply *p = field(r->element[0], "payload");
    cr_assert_str_eq(p->str, payload);
    long long seq = ifield(r->element[0], "seq");
    freeReplyObject(r);
    return seq;
}

static void expect_empty_dequeue(redisContext *c, const char *queue)
{
    redisReply *r = dequeue(c, queue, "COUNT 10");
    cr_assert_eq(r->elements, 0, "want no message, got %zu", r->elements);
    freeReplyObject(r);
}

static long long stat(redisContext *c, const char *queue, const char *name)
{
    redisReply *r = ts_resp_cmd(c, "FLO.QSTATS %s", queue);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "FLO.QSTATS: %s", ts_resp_err_text(r));
    long long v = ifield(r, name);
    freeReplyObject(r);
    return v;
}

/* ---- order, delay, dedup ---- */

Test(resp_queue, priority_first_then_fifo)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_int(c, "FLO.QPUSH prio a PRIORITY 5");
    ts_resp_int(c, "FLO.QPUSH prio b PRIORITY 1");
    ts_resp_int(c, "FLO.QPUSH prio c PRIORITY 5");
    ts_resp_int(c, "FLO.QPUSH prio d PRIORITY 1");
    ts_resp_int(c, "FLO.QPUSH prio e");
    /* Lower value first (0 before 1 before 5), FIFO within a priority. */
    const char *want[] = {"e", "b", "d", "a", "c"};
    for (size_t i = 0; i < 5; i++) {
        ts_resp_expect_str(c, want[i], "RPOP prio");
    }
    ts_resp_expect_nil(c, "RPOP prio");
    redisFree(c);
}

Test(resp_queue, push_and_pop_are_fifo_not_a_stack)
{
    redisContext *c = ts_resp_conn(&sc);
    cr_assert_eq(ts_resp_int(c, "RPUSH fifo a b"), 2);
    cr_assert_eq(ts_resp_int(c, "LPUSH fifo c"), 3);
    /* RPUSH+RPOP would be a stack in Redis; a Flo queue is FIFO. */
    ts_resp_expect_str(c, "a", "RPOP fifo");
    ts_resp_expect_str(c, "b", "LPOP fifo");
    redisReply *r = ts_resp_cmd(c, "RPOP fifo 5");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->str, "c");
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "LLEN fifo"), 0);
    redisFree(c);
}

Test(resp_queue, delay_is_honoured)
{
    redisContext *c = ts_resp_conn(&sc);
    uint64_t t0 = ts_now_ms();
    ts_resp_int(c, "FLO.QPUSH delayed later DELAY 400");
    ts_resp_expect_nil(c, "RPOP delayed");
    cr_assert_eq(ts_resp_int(c, "LLEN delayed"), 1, "a delayed message counts in LLEN");
    /* BRPOP is released when the delay ends, not before. */
    redisReply *r = ts_resp_cmd(c, "BRPOP delayed 5");
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "BRPOP: %s", ts_resp_err_text(r));
    cr_assert_str_eq(r->element[1]->str, "later");
    freeReplyObject(r);
    cr_assert_geq(waited, 380, "delivered after %llu ms", (unsigned long long)waited);
    cr_assert_lt(waited, 3000, "delivered after %llu ms", (unsigned long long)waited);
    redisFree(c);
}

Test(resp_queue, dedup_returns_the_first_sequence)
{
    redisContext *c = ts_resp_conn(&sc);
    long long s1 = ts_resp_int(c, "FLO.QPUSH dd one DEDUP order-17");
    long long s2 = ts_resp_int(c, "FLO.QPUSH dd two DEDUP order-17");
    cr_assert_eq(s1, s2, "dedup hit must answer the first message's sequence");
    cr_assert_eq(ts_resp_int(c, "LLEN dd"), 1);
    ts_resp_expect_str(c, "one", "RPOP dd");
    redisFree(c);
}

/* ---- leases, ack, nack, DLQ ---- */

Test(resp_queue, dequeued_message_is_exclusive_until_nacked)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    ts_resp_int(a, "FLO.QPUSH lease m1");
    long long seq = dequeue_one(a, "lease", "VISIBILITY 10000", "m1");
    expect_empty_dequeue(b, "lease");
    ts_resp_expect_nil(b, "RPOP lease");
    cr_assert_eq(stat(b, "lease", "leased_now"), 1);
    cr_assert_eq(ts_resp_int(a, "FLO.QNACK lease %lld", seq), 1);
    redisReply *r = dequeue(b, "lease", "");
    cr_assert_eq(r->elements, 1);
    cr_assert_eq(ifield(r->element[0], "seq"), seq);
    cr_assert_eq(ifield(r->element[0], "attempts"), 2, "a redelivery counts");
    long long deadline = ifield(r->element[0], "lease_deadline_ms");
    cr_assert_gt(deadline, ifield(r->element[0], "enqueued_at_ms"));
    freeReplyObject(r);
    redisFree(a);
    redisFree(b);
}

Test(resp_queue, ack_removes_for_good)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_int(c, "FLO.QPUSH acked x");
    long long seq = dequeue_one(c, "acked", "VISIBILITY 200", "x");
    cr_assert_eq(ts_resp_int(c, "FLO.QACK acked %lld", seq), 1);
    usleep(400 * 1000); /* past the lease: an acked message never comes back */
    expect_empty_dequeue(c, "acked");
    cr_assert_eq(ts_resp_int(c, "LLEN acked"), 0);
    cr_assert_eq(stat(c, "acked", "acked"), 1);
    /* Acking again is harmless (idempotent). */
    cr_assert_eq(ts_resp_int(c, "FLO.QACK acked %lld", seq), 1);
    redisFree(c);
}

Test(resp_queue, nack_to_dlq_then_requeue)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_int(c, "FLO.QPUSH dlq1 poison");
    long long seq = dequeue_one(c, "dlq1", "", "poison");
    cr_assert_eq(ts_resp_int(c, "FLO.QNACK dlq1 DLQ %lld", seq), 1);
    expect_empty_dequeue(c, "dlq1");
    redisReply *r = ts_resp_cmd(c, "FLO.QDLQ dlq1");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 1);
    cr_assert_eq(ifield(r->element[0], "seq"), seq);
    cr_assert_str_eq(field(r->element[0], "payload")->str, "poison");
    freeReplyObject(r);
    cr_assert_eq(stat(c, "dlq1", "dlq_now"), 1);
    /* Acking a dead message is refused with Flo's reason. */
    ts_resp_expect_err(c, "CONFLICT seq", "FLO.QACK dlq1 %lld", seq);
    cr_assert_eq(ts_resp_int(c, "FLO.QREQUEUE dlq1 %lld", seq), 1);
    cr_assert_eq(stat(c, "dlq1", "dlq_now"), 0);
    redisReply *d = dequeue(c, "dlq1", "");
    cr_assert_eq(d->elements, 1);
    cr_assert_eq(ifield(d->element[0], "seq"), seq);
    cr_assert_eq(ifield(d->element[0], "attempts"), 1, "requeue gives a fresh retry budget");
    freeReplyObject(d);
    cr_assert_eq(ts_resp_int(c, "FLO.QNACK dlq1 DLQ %lld", seq), 1);
    cr_assert_eq(ts_resp_int(c, "FLO.QDLQDEL dlq1 %lld", seq), 1);
    r = ts_resp_cmd(c, "FLO.QDLQ dlq1 COUNT 10");
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_queue, expired_lease_redelivers)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    ts_resp_int(a, "FLO.QPUSH exp job");
    long long seq = dequeue_one(a, "exp", "VISIBILITY 150", "job");
    expect_empty_dequeue(b, "exp");
    /* A blocking dequeue is released by the expiry. */
    redisReply *r = dequeue(b, "exp", "BLOCK 3000");
    cr_assert_eq(r->elements, 1, "the message must come back after its lease");
    cr_assert_eq(ifield(r->element[0], "seq"), seq);
    cr_assert_eq(ifield(r->element[0], "attempts"), 2);
    freeReplyObject(r);
    cr_assert_geq(stat(a, "exp", "leases_expired"), 1);
    redisFree(a);
    redisFree(b);
}

Test(resp_queue, max_retries_sends_to_dlq)
{
    redisContext *c = ts_resp_conn(&sc);
    long long seq = ts_resp_int(c, "FLO.QPUSH retry bad MAXRETRIES 2");
    cr_assert_eq(dequeue_one(c, "retry", "", "bad"), seq);
    cr_assert_eq(ts_resp_int(c, "FLO.QNACK retry %lld", seq), 1);
    cr_assert_eq(dequeue_one(c, "retry", "", "bad"), seq);
    cr_assert_eq(ts_resp_int(c, "FLO.QNACK retry %lld", seq), 1);
    expect_empty_dequeue(c, "retry");
    redisReply *r = ts_resp_cmd(c, "FLO.QDLQ retry");
    cr_assert_eq(r->elements, 1, "after 2 deliveries the nack dead-letters");
    cr_assert_eq(ifield(r->element[0], "seq"), seq);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_queue, peek_and_lrange_lease_nothing)
{
    redisContext *c = ts_resp_conn(&sc);
    cr_assert_eq(ts_resp_int(c, "RPUSH pk a b c"), 3);
    redisReply *r = ts_resp_cmd(c, "FLO.QPEEK pk COUNT 2");
    cr_assert_eq(r->elements, 2);
    cr_assert_str_eq(field(r->element[0], "payload")->str, "a");
    cr_assert_eq(ifield(r->element[0], "attempts"), 0);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "LRANGE pk 0 -1");
    cr_assert_eq(r->elements, 3);
    cr_assert_str_eq(r->element[2]->str, "c");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "LRANGE pk 1 1");
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->str, "b");
    freeReplyObject(r);
    cr_assert_eq(stat(c, "pk", "leased_now"), 0);
    cr_assert_eq(stat(c, "pk", "dequeued"), 0);
    r = dequeue(c, "pk", "");
    cr_assert_eq(ifield(r->element[0], "attempts"), 1, "peeks are not deliveries");
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_queue, touch_extends_the_lease)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    ts_resp_int(a, "FLO.QPUSH touch t");
    long long seq = dequeue_one(a, "touch", "VISIBILITY 300", "t");
    usleep(150 * 1000);
    redisReply *r = ts_resp_cmd(a, "FLO.QTOUCH touch %lld VISIBILITY 3000", seq);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "FLO.QTOUCH: %s", ts_resp_err_text(r));
    cr_assert_eq(r->elements, 1);
    cr_assert_gt(r->element[0]->integer, 0);
    freeReplyObject(r);
    usleep(400 * 1000); /* past the first lease, inside the renewed one */
    expect_empty_dequeue(b, "touch");
    cr_assert_eq(ts_resp_int(a, "FLO.QACK touch %lld", seq), 1);
    /* Touching a message that is gone tells the worker. */
    ts_resp_expect_err(a, "ERR seq", "FLO.QTOUCH touch %lld", seq);
    redisFree(a);
    redisFree(b);
}

/* ---- long-polls ---- */

Test(resp_queue, brpop_released_by_another_client)
{
    redisContext *waiter = ts_resp_conn(&sc), *other = ts_resp_conn(&sc),
                 *pusher = ts_resp_conn(&sc);
    uint64_t t0 = ts_now_ms();
    ts_resp_send_only(waiter, "BRPOP bq 10");
    usleep(100 * 1000);
    /* Other clients are served while the BRPOP waits. */
    redisReply *r = ts_resp_cmd(other, "PING");
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(other, "LLEN bq"), 0);
    /* The length right after the push: the waiter may already hold it. */
    long long len = ts_resp_int(pusher, "LPUSH bq wake");
    cr_assert(len == 0 || len == 1, "LPUSH answered %lld", len);
    r = ts_resp_read_reply(waiter);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "BRPOP: %s", ts_resp_err_text(r));
    cr_assert_eq(r->elements, 2);
    cr_assert_str_eq(r->element[0]->str, "bq");
    cr_assert_str_eq(r->element[1]->str, "wake");
    freeReplyObject(r);
    cr_assert_lt(ts_now_ms() - t0, 3000, "BRPOP must return as soon as the push lands");
    cr_assert_eq(ts_resp_int(other, "LLEN bq"), 0, "a popped element is gone");
    redisFree(waiter);
    redisFree(other);
    redisFree(pusher);
}

Test(resp_queue, brpop_serves_first_nonempty_key_in_order)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_int(c, "RPUSH k2 two");
    ts_resp_int(c, "RPUSH k3 three");
    redisReply *r = ts_resp_cmd(c, "BLPOP k1 k2 k3 1");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_str_eq(r->element[0]->str, "k2");
    cr_assert_str_eq(r->element[1]->str, "two");
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "LLEN k3"), 1, "the other key is untouched");
    redisFree(c);
}

/* Poll RPOP until it returns a value (a released message is ready again
 * after 1 ms); the value, malloc'd, or NULL after `ms`. */
static char *pop_within(redisContext *c, const char *queue, int ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)ms;
    while (ts_now_ms() < deadline) {
        redisReply *r = ts_resp_cmd(c, "RPOP %s", queue);
        if (r->type == REDIS_REPLY_STRING) {
            char *v = strdup(r->str);
            freeReplyObject(r);
            return v;
        }
        freeReplyObject(r);
        usleep(10 * 1000);
    }
    return NULL;
}

Test(resp_queue, brpop_hands_back_what_it_does_not_take)
{
    redisContext *waiter = ts_resp_conn(&sc), *pusher = ts_resp_conn(&sc);
    ts_resp_send_only(waiter, "BRPOP ra rb 5");
    usleep(100 * 1000);
    /* Both queues get a message at once: both waiters of the BRPOP may be
     * served; one message wins, the other must go back. */
    redisAppendCommand(pusher, "RPUSH ra x");
    redisAppendCommand(pusher, "RPUSH rb y");
    for (int i = 0; i < 2; i++) {
        redisReply *r = ts_resp_read_reply(pusher);
        cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "RPUSH: %s", ts_resp_err_text(r));
        freeReplyObject(r);
    }
    redisReply *r = ts_resp_read_reply(waiter);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "BRPOP: %s", ts_resp_err_text(r));
    bool took_x = strcmp(r->element[1]->str, "x") == 0;
    cr_assert_str_eq(r->element[0]->str, took_x ? "ra" : "rb");
    freeReplyObject(r);
    char *other = pop_within(pusher, took_x ? "rb" : "ra", 2000);
    cr_assert_not_null(other, "the message BRPOP did not take was lost");
    cr_assert_str_eq(other, took_x ? "y" : "x");
    free(other);
    cr_assert_eq(ts_resp_int(pusher, "LLEN ra") + ts_resp_int(pusher, "LLEN rb"), 0);
    redisFree(waiter);
    redisFree(pusher);
}

Test(resp_queue, brpop_of_a_gone_client_loses_nothing)
{
    redisContext *waiter = ts_resp_conn(&sc), *c = ts_resp_conn(&sc);
    ts_resp_send_only(waiter, "BRPOP gone 4");
    usleep(100 * 1000);
    redisFree(waiter); /* its upstream waiter stays parked for its round */
    usleep(100 * 1000);
    cr_assert_geq(ts_resp_int(c, "LPUSH gone v"), 0);
    /* Without the hand-back it would wait for its 30 s lease. */
    char *v = pop_within(c, "gone", 5000);
    cr_assert_not_null(v, "the message taken by the gone client's waiter did not come back");
    cr_assert_str_eq(v, "v");
    free(v);
    redisFree(c);
}

static void expect_raw(uint16_t port, const char *hello, const char *req, const char *want)
{
    int fd = ts_connect(port, IO_MS);
    cr_assert_geq(fd, 0);
    char buf[512];
    if (hello) {
        cr_assert_eq(ts_write_full(fd, hello, strlen(hello)), 0);
        ssize_t n = recv(fd, buf, sizeof(buf), 0); /* the HELLO map fits one read */
        cr_assert_gt(n, 0);
    }
    cr_assert_eq(ts_write_full(fd, req, strlen(req)), 0);
    cr_assert_eq(ts_read_full(fd, buf, strlen(want)), 0, "no reply to %s", req);
    cr_assert_eq(memcmp(buf, want, strlen(want)), 0, "%s: got '%.*s'", req, (int)strlen(want), buf);
    close(fd);
}

Test(resp_queue, brpop_timeout_is_nil_in_both_protocols)
{
    uint64_t t0 = ts_now_ms();
    expect_raw(sc.resp_port, NULL, "BRPOP none1 none2 0.3\r\n", "*-1\r\n");
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_geq(waited, 280, "timed out after %llu ms", (unsigned long long)waited);
    cr_assert_lt(waited, 3000);
    expect_raw(sc.resp_port, "HELLO 3\r\n", "BRPOP none1 0.1\r\n", "_\r\n");
    expect_raw(sc.resp_port, "HELLO 3\r\n", "RPOP none1\r\n", "_\r\n");
    /* FLO.QDEQUEUE's long-poll answers an empty list. */
    expect_raw(sc.resp_port, NULL, "FLO.QDEQUEUE none1 BLOCK 100\r\n", "*0\r\n");
}

/* A consumer thread: BRPOP on several keys until a pop times out. */
struct popper {
    char keys[64];
    int got[1000]; /* message ids popped */
    size_t n;
    int errors;
};

static void *popper_main(void *arg)
{
    struct popper *pp = arg;
    redisContext *c = ts_redis(sc.resp_port);
    if (!c) {
        pp->errors++;
        return NULL;
    }
    for (;;) {
        redisReply *r = redisCommand(c, pp->keys); /* "BRPOP k k k 1", split by hiredis */
        if (!r) {
            pp->errors++;
            break;
        }
        if (r->type == REDIS_REPLY_NIL) {
            freeReplyObject(r);
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || pp->n >= 1000) {
            pp->errors++;
            freeReplyObject(r);
            break;
        }
        pp->got[pp->n++] = atoi(r->element[1]->str);
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

Test(resp_queue, brpop_on_several_queues_loses_and_duplicates_nothing)
{
    enum { NPOP = 4, NMSG = 300 };
    struct popper *pp = calloc(NPOP, sizeof(*pp));
    pthread_t th[NPOP];
    for (int i = 0; i < NPOP; i++) {
        /* Different key orders so the waiters race on every queue. */
        snprintf(pp[i].keys, sizeof(pp[i].keys), "BRPOP %s 1",
                 i % 2 ? "mq1 mq2 mq3" : "mq3 mq1 mq2");
        cr_assert_eq(pthread_create(&th[i], NULL, popper_main, &pp[i]), 0);
    }
    redisContext *c = ts_resp_conn(&sc);
    for (int i = 0; i < NMSG; i++) {
        redisReply *r = ts_resp_cmd(c, "LPUSH mq%d %d", 1 + i % 3, i);
        cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "LPUSH: %s", ts_resp_err_text(r));
        freeReplyObject(r);
    }
    for (int i = 0; i < NPOP; i++) {
        pthread_join(th[i], NULL);
    }
    int seen[NMSG] = {0};
    size_t total = 0;
    for (int i = 0; i < NPOP; i++) {
        total += pp[i].n;
    }
    long long left =
        ts_resp_int(c, "LLEN mq1") + ts_resp_int(c, "LLEN mq2") + ts_resp_int(c, "LLEN mq3");
    cr_assert_eq(total, NMSG, "popped %zu of %d, %lld left in the queues", total, NMSG, left);
    for (int i = 0; i < NPOP; i++) {
        cr_assert_eq(pp[i].errors, 0, "popper %d failed", i);
        for (size_t k = 0; k < pp[i].n; k++) {
            cr_assert(pp[i].got[k] >= 0 && pp[i].got[k] < NMSG);
            seen[pp[i].got[k]]++;
        }
    }
    for (int i = 0; i < NMSG; i++) {
        cr_assert_eq(seen[i], 1, "message %d popped %d times", i, seen[i]);
    }
    for (int q = 1; q <= 3; q++) {
        cr_assert_eq(ts_resp_int(c, "LLEN mq%d", q), 0);
        cr_assert_eq(stat(c, q == 1 ? "mq1" : q == 2 ? "mq2" : "mq3", "dlq_now"), 0);
    }
    free(pp);
    redisFree(c);
}

/* ---- concurrency, payloads, bad input ---- */

struct pusher {
    int first, n;
    int errors;
};

static void *pusher_main(void *arg)
{
    struct pusher *pu = arg;
    redisContext *c = ts_redis(sc.resp_port);
    if (!c) {
        pu->errors++;
        return NULL;
    }
    for (int i = pu->first; i < pu->first + pu->n; i += 2) {
        /* Two values per LPUSH (a batch enqueue) where possible. */
        redisReply *r = i + 1 < pu->first + pu->n ? redisCommand(c, "LPUSH many %d %d", i, i + 1)
                                                  : redisCommand(c, "RPUSH many %d", i);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            pu->errors++;
        }
        if (r) {
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

static void *rpopper_main(void *arg)
{
    struct popper *pp = arg;
    redisContext *c = ts_redis(sc.resp_port);
    if (!c) {
        pp->errors++;
        return NULL;
    }
    int idle = 0;
    while (idle < 50) {
        redisReply *r = redisCommand(c, "RPOP many 7");
        if (!r) {
            pp->errors++;
            break;
        }
        if (r->type == REDIS_REPLY_NIL) {
            idle++;
            usleep(10 * 1000);
        } else if (r->type == REDIS_REPLY_ARRAY) {
            idle = 0;
            for (size_t k = 0; k < r->elements && pp->n < 1000; k++) {
                pp->got[pp->n++] = atoi(r->element[k]->str);
            }
        } else {
            pp->errors++;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

Test(resp_queue, thousand_messages_from_concurrent_clients_popped_once)
{
    enum { NPUSH = 4, NPOP = 4, NMSG = 1000 };
    struct pusher pu[NPUSH];
    struct popper *pp = calloc(NPOP, sizeof(*pp));
    pthread_t tp[NPUSH], tc[NPOP];
    for (int i = 0; i < NPUSH; i++) {
        pu[i] = (struct pusher){.first = i * (NMSG / NPUSH), .n = NMSG / NPUSH};
        cr_assert_eq(pthread_create(&tp[i], NULL, pusher_main, &pu[i]), 0);
    }
    for (int i = 0; i < NPOP; i++) {
        cr_assert_eq(pthread_create(&tc[i], NULL, rpopper_main, &pp[i]), 0);
    }
    for (int i = 0; i < NPUSH; i++) {
        pthread_join(tp[i], NULL);
        cr_assert_eq(pu[i].errors, 0, "pusher %d failed", i);
    }
    for (int i = 0; i < NPOP; i++) {
        pthread_join(tc[i], NULL);
        cr_assert_eq(pp[i].errors, 0, "popper %d failed", i);
    }
    int *seen = calloc(NMSG, sizeof(*seen));
    size_t total = 0;
    for (int i = 0; i < NPOP; i++) {
        for (size_t k = 0; k < pp[i].n; k++) {
            cr_assert(pp[i].got[k] >= 0 && pp[i].got[k] < NMSG);
            seen[pp[i].got[k]]++;
            total++;
        }
    }
    cr_assert_eq(total, NMSG, "popped %zu of %d", total, NMSG);
    for (int i = 0; i < NMSG; i++) {
        cr_assert_eq(seen[i], 1, "message %d popped %d times", i, seen[i]);
    }
    redisContext *c = ts_resp_conn(&sc);
    cr_assert_eq(stat(c, "many", "enqueued"), NMSG);
    cr_assert_eq(stat(c, "many", "acked"), NMSG);
    cr_assert_eq(ts_resp_int(c, "LLEN many"), 0);
    redisFree(c);
    free(seen);
    free(pp);
}

/* ---- pipelined pushes and pops of one queue (same order class) ---- */

/* Append `n` commands "<verb> key <prefix><i>" (or "<verb> key" when
 * prefix is NULL) to c's output buffer without reading. */
static void append_n(redisContext *c, const char *verb, const char *key, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = prefix ? redisAppendCommand(c, "%s %s %s%d", verb, key, prefix, i)
                        : redisAppendCommand(c, "%s %s", verb, key);
        cr_assert_eq(rc, REDIS_OK);
    }
}

/* Parse "<prefix><i>" of a popped element into i, -1 if it is not one. */
static int elem_index(const redisReply *r, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (r->type != REDIS_REPLY_STRING || r->len <= pl || memcmp(r->str, prefix, pl) != 0) {
        return -1;
    }
    return atoi(r->str + pl);
}

Test(resp_queue, pipelined_pushes_then_pops_are_fifo_and_exactly_once)
{
    enum { N = 200 };
    redisContext *c = ts_resp_conn(&sc);
    append_n(c, "LPUSH", "pipeq", "v", N);
    append_n(c, "RPOP", "pipeq", NULL, N);
    long long last_len = 0;
    for (int i = 0; i < N; i++) {
        redisReply *r = ts_resp_read_reply(c);
        cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "LPUSH %d: type %d (%s)", i, r->type,
                     ts_resp_err_text(r));
        /* Pushes of one pipeline may be counted by an earlier LPUSH's length
         * (docs/resp-commands.md), never fewer than the pushes up to it. */
        cr_assert(r->integer >= i + 1 && r->integer <= N, "LPUSH %d answered %lld", i, r->integer);
        cr_assert(r->integer >= last_len, "LPUSH %d: length %lld after %lld", i, r->integer,
                  last_len);
        last_len = r->integer;
        freeReplyObject(r);
    }
    cr_assert_eq(last_len, N);
    for (int i = 0; i < N; i++) {
        redisReply *r = ts_resp_read_reply(c);
        cr_assert_eq(elem_index(r, "v"), i, "RPOP %d: type %d '%s'", i, r->type,
                     r->type == REDIS_REPLY_STRING ? r->str : ts_resp_err_text(r));
        freeReplyObject(r);
    }
    /* A mixed pipeline keeps the order across classes: each pop sees the
     * pushes before it and none after it. */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(redisAppendCommand(c, "LPUSH pipeq m%d", i), REDIS_OK);
        cr_assert_eq(redisAppendCommand(c, "RPOP pipeq"), REDIS_OK);
        cr_assert_eq(redisAppendCommand(c, "RPOP pipeq"), REDIS_OK);
    }
    for (int i = 0; i < 20; i++) {
        redisReply *r = ts_resp_read_reply(c);
        cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "LPUSH m%d: %s", i, ts_resp_err_text(r));
        cr_assert_eq(r->integer, 1, "LPUSH m%d into an empty queue answered %lld", i, r->integer);
        freeReplyObject(r);
        r = ts_resp_read_reply(c);
        cr_assert_eq(elem_index(r, "m"), i, "RPOP after LPUSH m%d: type %d", i, r->type);
        freeReplyObject(r);
        r = ts_resp_read_reply(c);
        cr_assert_eq(r->type, REDIS_REPLY_NIL, "RPOP of an empty queue: type %d", r->type);
        freeReplyObject(r);
    }
    ts_resp_expect_nil(c, "RPOP pipeq");
    cr_assert_eq(ts_resp_int(c, "LLEN pipeq"), 0);
    cr_assert_eq(stat(c, "pipeq", "enqueued"), N + 20);
    cr_assert_eq(stat(c, "pipeq", "acked"), N + 20);
    redisFree(c);
}

/* Flush a client's whole output buffer. */
static void flush_out(redisContext *c)
{
    int wdone = 0;
    while (!wdone) {
        cr_assert_eq(redisBufferWrite(c, &wdone), REDIS_OK, "write: %s", c->errstr);
    }
}

Test(resp_queue, two_clients_interleaving_pipelines_lose_and_reorder_nothing)
{
    enum { N = 150, CHUNK = 10 };
    redisContext *a = ts_resp_conn(&sc);
    redisContext *b = ts_resp_conn(&sc);
    /* Both producers pipeline into one queue, in chunks sent alternately
     * so their enqueues interleave upstream. */
    for (int i = 0; i < N; i += CHUNK) {
        for (int k = i; k < i + CHUNK; k++) {
            cr_assert_eq(redisAppendCommand(a, "RPUSH duoq a%d", k), REDIS_OK);
            cr_assert_eq(redisAppendCommand(b, "LPUSH duoq b%d", k), REDIS_OK);
        }
        flush_out(a);
        flush_out(b);
    }
    for (int i = 0; i < N; i++) {
        redisReply *ra = ts_resp_read_reply(a);
        redisReply *rb = ts_resp_read_reply(b);
        cr_assert_eq(ra->type, REDIS_REPLY_INTEGER, "a%d: %s", i, ts_resp_err_text(ra));
        cr_assert_eq(rb->type, REDIS_REPLY_INTEGER, "b%d: %s", i, ts_resp_err_text(rb));
        cr_assert(ra->integer >= i + 1 && ra->integer <= 2 * N);
        cr_assert(rb->integer >= i + 1 && rb->integer <= 2 * N);
        freeReplyObject(ra);
        freeReplyObject(rb);
    }
    /* Both consumers pipeline pops (single and counted) alternately. */
    int seen_a[N] = {0}, seen_b[N] = {0};
    int next_a[2] = {0, 0}, next_b[2] = {0, 0}; /* per consumer: next index expected at least */
    redisContext *cs[2] = {a, b};
    for (int i = 0; i < N; i += CHUNK) {
        for (int k = i; k < i + CHUNK; k++) {
            cr_assert_eq(redisAppendCommand(a, "RPOP duoq"), REDIS_OK);
            cr_assert_eq(redisAppendCommand(b, k % 2 ? "LPOP duoq 1" : "LPOP duoq"), REDIS_OK);
        }
        flush_out(a);
        flush_out(b);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        for (int w = 0; w < 2; w++) {
            redisReply *r = ts_resp_read_reply(cs[w]);
            const redisReply *e = r;
            if (r->type == REDIS_REPLY_ARRAY) {
                cr_assert_eq(r->elements, 1, "counted pop: %zu elements", r->elements);
                e = r->element[0];
            }
            int ia = elem_index(e, "a"), ib = elem_index(e, "b");
            cr_assert(ia >= 0 || ib >= 0, "consumer %d pop %d: type %d (%s)", w, i, e->type,
                      ts_resp_err_text(e));
            /* FIFO per producer: what one consumer takes from a producer
             * comes in that producer's order. */
            if (ia >= 0) {
                cr_assert(ia < N && ia >= next_a[w], "consumer %d got a%d after a%d", w, ia,
                          next_a[w] - 1);
                next_a[w] = ia + 1;
                seen_a[ia]++;
            } else {
                cr_assert(ib < N && ib >= next_b[w], "consumer %d got b%d after b%d", w, ib,
                          next_b[w] - 1);
                next_b[w] = ib + 1;
                seen_b[ib]++;
            }
            total++;
            freeReplyObject(r);
        }
    }
    cr_assert_eq(total, 2 * N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(seen_a[i], 1, "a%d popped %d times", i, seen_a[i]);
        cr_assert_eq(seen_b[i], 1, "b%d popped %d times", i, seen_b[i]);
    }
    ts_resp_expect_nil(a, "RPOP duoq");
    cr_assert_eq(stat(a, "duoq", "acked"), 2 * N);
    redisFree(a);
    redisFree(b);
}

Test(resp_queue, binary_payloads_are_byte_exact)
{
    redisContext *c = ts_resp_conn(&sc);
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof(bin); i++) {
        bin[i] = (uint8_t)(i * 7 + 3);
    }
    bin[0] = 0;
    bin[1] = '\r';
    bin[2] = '\n';
    bin[3] = 0xff;
    for (int round = 0; round < 3; round++) {
        redisReply *r = round == 0 ? ts_resp_cmd(c, "LPUSH bin %b", bin, sizeof(bin))
                        : round == 1
                            ? ts_resp_cmd(c, "FLO.QPUSH bin %b PRIORITY 3", bin, sizeof(bin))
                            : ts_resp_cmd(c, "FLO.QBATCH bin %b %b", bin, sizeof(bin), "", 0);
        cr_assert_neq(r->type, REDIS_REPLY_ERROR, "push: %s", ts_resp_err_text(r));
        freeReplyObject(r);
        if (round == 2) {
            r = ts_resp_cmd(c, "LRANGE bin 0 -1");
            cr_assert_eq(r->elements, 2);
            cr_assert_eq(r->element[0]->len, sizeof(bin));
            cr_assert_eq(memcmp(r->element[0]->str, bin, sizeof(bin)), 0);
            cr_assert_eq(r->element[1]->len, 0, "an empty payload stays empty");
            freeReplyObject(r);
            r = dequeue(c, "bin", "COUNT 2");
            const redisReply *p = field(r->element[0], "payload");
            cr_assert_eq(p->len, sizeof(bin));
            cr_assert_eq(memcmp(p->str, bin, sizeof(bin)), 0);
            cr_assert_eq(ts_resp_int(c, "FLO.QACK bin %lld %lld", ifield(r->element[0], "seq"),
                                     ifield(r->element[1], "seq")),
                         2);
            freeReplyObject(r);
            continue;
        }
        r = ts_resp_cmd(c, round == 0 ? "RPOP bin" : "BRPOP bin 1");
        const redisReply *v = round == 0 ? r : r->element[1];
        cr_assert_eq(v->type, REDIS_REPLY_STRING);
        cr_assert_eq(v->len, sizeof(bin));
        cr_assert_eq(memcmp(v->str, bin, sizeof(bin)), 0, "payload changed in transit");
        freeReplyObject(r);
    }
    redisFree(c);
}

Test(resp_queue, bad_input_is_refused_and_the_connection_keeps_working)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_expect_err(c, "ERR value is out of range", "RPOP q -1");
    ts_resp_expect_err(c, "ERR wrong number of arguments", "RPOP q 1 2");
    ts_resp_expect_err(c, "ERR timeout is not a float", "BRPOP q soon");
    ts_resp_expect_err(c, "ERR timeout is negative", "BRPOP q -1");
    ts_resp_expect_err(c, "ERR value is not an integer", "LRANGE q a 1");
    ts_resp_expect_err(c, "ERR LRANGE sees at most", "LRANGE q 5000 6000");
    ts_resp_expect_err(c, "ERR PRIORITY must be", "FLO.QPUSH q v PRIORITY 256");
    ts_resp_expect_err(c, "ERR syntax error", "FLO.QPUSH q v PRIORITY");
    ts_resp_expect_err(c, "ERR syntax error", "FLO.QPUSH q v COLOR red");
    ts_resp_expect_err(c, "ERR DELAY must be", "FLO.QPUSH q v DELAY -5");
    ts_resp_expect_err(c, "ERR DEDUP id must be", "FLO.QPUSH q v DEDUP %s", "");
    ts_resp_expect_err(c, "ERR COUNT must be", "FLO.QDEQUEUE q COUNT 0");
    ts_resp_expect_err(c, "ERR COUNT must be", "FLO.QDEQUEUE q COUNT 101");
    ts_resp_expect_err(c, "ERR BLOCK must be", "FLO.QDEQUEUE q BLOCK 300001");
    ts_resp_expect_err(c, "ERR invalid sequence", "FLO.QACK q abc");
    ts_resp_expect_err(c, "ERR invalid sequence", "FLO.QACK q 0");
    ts_resp_expect_err(c, "ERR wrong number of arguments", "FLO.QNACK q DLQ");
    ts_resp_expect_err(c, "ERR key must not be empty", "LPUSH %s v", "");
    ts_resp_expect_err(c, "ERR lindex is not supported", "LINDEX q 0");
    ts_resp_expect_err(c, "ERR wrong number of arguments", "LPUSH q");
    /* A touch of a message that is not leased: Flo's reason, as CONFLICT. */
    long long seq = ts_resp_int(c, "FLO.QPUSH badq v");
    ts_resp_expect_err(c, "CONFLICT seq", "FLO.QTOUCH badq %lld", seq);
    redisReply *r = ts_resp_cmd(c, "PING");
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    ts_resp_expect_str(c, "v", "RPOP badq");
    redisFree(c);
}

Test(resp_queue, command_docs_and_redis_cli)
{
    redisContext *c = ts_resp_conn(&sc);
    redisReply *r = ts_resp_cmd(c, "COMMAND INFO brpop flo.qdequeue lindex");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 3);
    cr_assert_str_eq(r->element[0]->element[0]->str, "brpop");
    cr_assert_eq(r->element[0]->element[1]->integer, -3);
    cr_assert_str_eq(r->element[1]->element[0]->str, "flo.qdequeue");
    freeReplyObject(r);
    redisFree(c);
    char port[8];
    snprintf(port, sizeof(port), "%u", sc.resp_port);
    const char *push[] = {"redis-cli", "-p", port, "RPUSH", "cliq", "hello", "world", NULL};
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(ts_run(push, 5000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "2\n");
    free(out);
    const char *pop[] = {"redis-cli", "-p", port, "BRPOP", "cliq", "1", NULL};
    cr_assert_eq(ts_run(pop, 5000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "cliq\nhello\n");
    free(out);
    const char *llen[] = {"redis-cli", "-p", port, "LLEN", "cliq", NULL};
    cr_assert_eq(ts_run(llen, 5000, NULL, 0, &out, &len), 0);
    cr_assert_str_eq(out, "1\n");
    free(out);
}

/* ---- byte-for-byte comparison with redis-server ---- */

/* Commands whose replies (types and bytes) must be redis-server's. */
static const char *const compare_cmds[] = {
    "RPOP cmpq",    "RPOP cmpq 2",    "RPOP cmpq 0",      "RPOP cmpq -1",     "RPOP cmpq x",
    "LPOP cmpq",    "LLEN cmpq",      "LRANGE cmpq 0 -1", "LRANGE cmpq a 1",  "RPUSH cmpq a b c",
    "RPUSH cmpq d", "LLEN cmpq",      "LRANGE cmpq 0 0",  "LRANGE cmpq 5 10", "LRANGE cmpq 2 1",
    "RPOP cmpq 0",  "LPOP cmpq 2",    "BLPOP cmpq 1",     "LLEN cmpq",        "RPOP cmpq",
    "RPOP cmpq",    "BRPOP cmpq 0.1", "BLPOP q1 q2 0.05", "BRPOP cmpq -1",    "BRPOP cmpq x",
    "LPUSH cmpq",   "RPOP cmpq 1 2",  "LLEN cmpq x",      "BRPOP cmpq",       "LPUSH cmpq e",
    "BLPOP cmpq 0",
};

Test(resp_queue, replies_identical_to_redis_server)
{
    ts_resp_compare_with_redis(sc.resp_port, compare_cmds,
                               sizeof(compare_cmds) / sizeof(compare_cmds[0]));
}
