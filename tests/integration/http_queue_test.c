/*
 * Integration tests of the issue-5 HTTP queue routes against real flo-dev
 * and flo-sidecar processes on free loopback ports: ordering (priority,
 * FIFO), delay, dedup, leases (hidden from other consumers, expiry,
 * touch), ack / nack / DLQ / requeue / max retries, peek, long-polls
 * (released by another client's enqueue, timing out empty), batch enqueue,
 * 1,000 messages from concurrent producers consumed exactly once, byte-exact
 * binary payloads, and clear 4xx errors on a connection that stays usable.
 * Requests go through libcurl (replies parsed with cJSON) and, for a few,
 * the curl binary. Timing-based checks use short leases and bounded waits.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flo/flo_buf.h"
#include "http_json.h"
#include "ts.h"
#include "ts_http_fixture.h"

#define URL_MAX        512
#define PRODUCERS      4
#define PER_PRODUCER   250
#define TOTAL_MESSAGES (PRODUCERS * PER_PRODUCER)
#define CONSUMERS      4
#define BATCH_SIZE     50
#define CONSUME_MAX_MS 30000

static struct ts_flodev dev;
static struct ts_sidecar sc;

/* ---- fixture ---- */

static void setup(void)
{
    ts_http_fixture_start(&dev, &sc, NULL);
}

static void teardown(void)
{
    ts_http_fixture_stop(&dev, &sc);
}

TestSuite(http_queue, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ---- */

static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

static void url_of(char *buf, const char *path)
{
    snprintf(buf, URL_MAX + 128, "http://127.0.0.1:%u%s", (unsigned)sc.http_port, path);
}

/* A request whose reply must have status `want` and a JSON body; the
 * request body is JSON (Content-Type set) when json is true. */
static cJSON *call_json(const char *method, const char *path, const char *body, bool json,
                        long want)
{
    return ts_http_call_json(&sc, method, path, json ? json_hdr : NULL, body, want);
}

/* Enqueue a raw (non-JSON) body; returns the sequence. */
static uint64_t enq(const char *q, const char *query, const char *payload)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/queues/%s/messages%s%s", q, query ? "?" : "",
             query ? query : "");
    cJSON *doc = call_json("POST", path, payload, false, 200);
    uint64_t seq = (uint64_t)ts_json_num(doc, "seq");
    cJSON_Delete(doc);
    cr_assert_gt(seq, 0);
    return seq;
}

/* Dequeue; returns the reply document (caller deletes). */
static cJSON *deq(const char *q, const char *query)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/queues/%s/dequeue%s%s", q, query ? "?" : "",
             query ? query : "");
    return call_json("POST", path, NULL, false, 200);
}

static const cJSON *msgs_of(const cJSON *doc)
{
    const cJSON *m = cJSON_GetObjectItem(doc, "messages");
    cr_assert(cJSON_IsArray(m), "no messages array");
    return m;
}

/* Dequeue exactly one message and return its sequence (payload checked
 * if want is non-NULL). */
static uint64_t deq_one(const char *q, const char *query, const char *want, double *attempts)
{
    cJSON *doc = deq(q, query);
    const cJSON *m = msgs_of(doc);
    cr_assert_eq(cJSON_GetArraySize(m), 1, "want one message from %s", q);
    const cJSON *first = cJSON_GetArrayItem(m, 0);
    if (want != NULL) {
        cr_assert_str_eq(ts_json_str(first, "payload"), want);
    }
    if (attempts != NULL) {
        *attempts = ts_json_num(first, "attempts");
    }
    uint64_t seq = (uint64_t)ts_json_num(first, "seq");
    cJSON_Delete(doc);
    return seq;
}

static void expect_empty(const char *q, const char *query)
{
    cJSON *doc = deq(q, query);
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 0, "queue %s should look empty", q);
    cr_assert_eq(ts_json_num(doc, "count"), 0);
    cJSON_Delete(doc);
}

/* POST /v1/queues/{q}/{op} with body; checks the status; returns the doc. */
static cJSON *seq_op(const char *q, const char *op, const char *body, long want)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/queues/%s/%s", q, op);
    return call_json("POST", path, body, true, want);
}

static void seq_op_ok(const char *q, const char *op, uint64_t seq)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"seqs\":[%llu]}", (unsigned long long)seq);
    cJSON *doc = seq_op(q, op, body, 200);
    cr_assert_eq(ts_json_num(doc, "succeeded"), 1);
    cr_assert_eq(ts_json_num(doc, "failed"), 0);
    cJSON_Delete(doc);
}

static cJSON *stats(const char *q)
{
    char path[URL_MAX];
    snprintf(path, sizeof(path), "/v1/queues/%s", q);
    return call_json("GET", path, NULL, false, 200);
}

static void expect_error(const char *method, const char *path, const char *body, bool json,
                         long status, const char *needle)
{
    cJSON *doc = call_json(method, path, body, json, status);
    const char *msg = ts_json_str(doc, "error");
    cr_assert(strlen(ts_json_str(doc, "code")) > 0);
    cr_assert(strstr(msg, needle) != NULL, "%s %s: \"%s\" lacks \"%s\"", method, path, msg, needle);
    cJSON_Delete(doc);
}

/* ---- ordering, delay, dedup ---- */

Test(http_queue, priority_order_then_fifo_within_a_priority)
{
    enq("ord", "priority=5", "p5-a");
    enq("ord", "priority=1", "p1-a");
    enq("ord", NULL, "p0-a"); /* default priority 0 */
    enq("ord", "priority=5", "p5-b");
    enq("ord", "priority=1", "p1-b");
    cJSON *doc = deq("ord", "count=10");
    const cJSON *m = msgs_of(doc);
    static const char *const want[] = {"p0-a", "p1-a", "p1-b", "p5-a", "p5-b"};
    cr_assert_eq(cJSON_GetArraySize(m), 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *it = cJSON_GetArrayItem(m, i);
        cr_assert_str_eq(ts_json_str(it, "payload"), want[i], "position %d", i);
        cr_assert_eq(ts_json_num(it, "attempts"), 1);
        cr_assert_gt(ts_json_num(it, "lease_deadline_ms"), ts_json_num(it, "enqueued_at_ms"));
    }
    cr_assert_eq(ts_json_num(cJSON_GetArrayItem(m, 3), "priority"), 5);
    cJSON_Delete(doc);
}

Test(http_queue, delay_is_honoured_and_wakes_a_long_poll)
{
    uint64_t t0 = ts_now_ms();
    enq("delayed", "delay_ms=600", "later");
    expect_empty("delayed", NULL);
    cJSON *peek = call_json("GET", "/v1/queues/delayed/peek", NULL, false, 200);
    cr_assert_eq(ts_json_num(peek, "count"), 0, "a delayed message is not visible to peek");
    cJSON_Delete(peek);
    /* A long-poll is answered when the delay becomes due. */
    uint64_t seq = deq_one("delayed", "block_ms=5000", "later", NULL);
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_geq(waited, 550, "delivered after %llu ms, before its delay",
                  (unsigned long long)waited);
    cr_assert_lt(waited, 4000, "the due delay did not wake the long-poll");
    seq_op_ok("delayed", "ack", seq);
}

Test(http_queue, dedup_key_answers_the_first_sequence)
{
    uint64_t a = enq("dedup", "dedup_key=order-1", "first");
    uint64_t b = enq("dedup", "dedup_key=order-1", "second");
    cr_assert_eq(a, b, "a repeated dedup key must return the first message's sequence");
    cJSON *doc = call_json("POST", "/v1/queues/dedup/messages",
                           "{\"payload\":\"third\",\"dedup_key\":\"order-1\"}", true, 200);
    cr_assert_eq((uint64_t)ts_json_num(doc, "seq"), a);
    cJSON_Delete(doc);
    uint64_t c = enq("dedup", "dedup_key=order-2", "other");
    cr_assert_neq(c, a);
    doc = deq("dedup", "count=10");
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 2);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(msgs_of(doc), 0), "payload"), "first");
    cJSON_Delete(doc);
}

/* ---- leases ---- */

Test(http_queue, a_leased_message_is_hidden_until_its_lease_expires)
{
    enq("lease", NULL, "job");
    double attempts;
    uint64_t seq = deq_one("lease", "visibility_timeout_ms=400", "job", &attempts);
    cr_assert_eq(attempts, 1);
    /* Another consumer sees nothing while the lease runs. */
    expect_empty("lease", NULL);
    usleep(700 * 1000);
    /* Expired: redelivered, with the delivery counted. */
    uint64_t again = deq_one("lease", "visibility_timeout_ms=10000", "job", &attempts);
    cr_assert_eq(again, seq);
    cr_assert_eq(attempts, 2);
    cJSON *st = stats("lease");
    cr_assert_geq(ts_json_num(st, "leases_expired"), 1);
    cr_assert_eq(ts_json_num(st, "leased_now"), 1);
    cJSON_Delete(st);
}

Test(http_queue, ack_removes_a_message_for_good)
{
    enq("acked", NULL, "done");
    uint64_t seq = deq_one("acked", "visibility_timeout_ms=300", "done", NULL);
    seq_op_ok("acked", "ack", seq);
    usleep(500 * 1000); /* past the lease: nothing comes back */
    expect_empty("acked", NULL);
    cJSON *st = stats("acked");
    cr_assert_eq(ts_json_num(st, "acked"), 1);
    cr_assert_eq(ts_json_num(st, "ready_now"), 0);
    cr_assert_eq(ts_json_num(st, "leased_now"), 0);
    cJSON_Delete(st);
}

Test(http_queue, nack_redelivers_at_once)
{
    enq("nacked", NULL, "retry-me");
    uint64_t seq = deq_one("nacked", "visibility_timeout_ms=60000", "retry-me", NULL);
    expect_empty("nacked", NULL);
    seq_op_ok("nacked", "nack", seq);
    double attempts;
    cr_assert_eq(deq_one("nacked", NULL, "retry-me", &attempts), seq);
    cr_assert_eq(attempts, 2);
}

Test(http_queue, nack_to_dlq_then_list_requeue_and_delete)
{
    uint64_t a = enq("dl", NULL, "poison");
    uint64_t b = enq("dl", NULL, "also-poison");
    cJSON *got = deq("dl", "count=2");
    cr_assert_eq(cJSON_GetArraySize(msgs_of(got)), 2);
    cJSON_Delete(got);
    char body[96];
    snprintf(body, sizeof(body), "{\"seqs\":[%llu,%llu],\"to_dlq\":true}", (unsigned long long)a,
             (unsigned long long)b);
    cJSON *doc = seq_op("dl", "nack", body, 200);
    cr_assert_eq(ts_json_num(doc, "succeeded"), 2);
    cJSON_Delete(doc);
    expect_empty("dl", NULL);

    cJSON *dlq = call_json("GET", "/v1/queues/dl/dlq", NULL, false, 200);
    cr_assert_eq(ts_json_num(dlq, "count"), 2);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(msgs_of(dlq), 0), "payload"), "poison");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs_of(dlq), 0), "lease_deadline_ms"));
    cJSON_Delete(dlq);

    /* Acking a dead message is a conflict, reported per sequence. */
    snprintf(body, sizeof(body), "{\"seqs\":[%llu]}", (unsigned long long)a);
    doc = seq_op("dl", "ack", body, 409);
    cr_assert_eq(ts_json_num(doc, "failed"), 1);
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(res, "ok")));
    cr_assert_eq(ts_json_num(res, "status"), 409);
    cr_assert(strstr(ts_json_str(res, "error"), "dead-letter") != NULL, "%s",
              ts_json_str(res, "error"));
    cJSON_Delete(doc);

    seq_op_ok("dl", "dlq/requeue", a);
    seq_op_ok("dl", "dlq/delete", b);
    dlq = call_json("GET", "/v1/queues/dl/dlq", NULL, false, 200);
    cr_assert_eq(ts_json_num(dlq, "count"), 0);
    cJSON_Delete(dlq);
    double attempts;
    cr_assert_eq(deq_one("dl", NULL, "poison", &attempts), a);
    cr_assert_eq(attempts, 1, "a requeued message starts its deliveries again");
    /* Requeueing a live message is refused. */
    snprintf(body, sizeof(body), "{\"seqs\":[%llu]}", (unsigned long long)a);
    cJSON_Delete(seq_op("dl", "dlq/requeue", body, 409));
}

Test(http_queue, max_retries_sends_to_the_dlq)
{
    uint64_t seq = enq("retries", "max_retries=2", "flaky");
    for (int i = 1; i <= 2; i++) {
        double attempts;
        cr_assert_eq(deq_one("retries", NULL, "flaky", &attempts), seq);
        cr_assert_eq(attempts, i);
        seq_op_ok("retries", "nack", seq);
    }
    expect_empty("retries", NULL);
    cJSON *dlq = call_json("GET", "/v1/queues/retries/dlq?count=5", NULL, false, 200);
    cr_assert_eq(ts_json_num(dlq, "count"), 1);
    const cJSON *m = cJSON_GetArrayItem(msgs_of(dlq), 0);
    cr_assert_eq((uint64_t)ts_json_num(m, "seq"), seq);
    cr_assert_eq(ts_json_num(m, "attempts"), 2);
    cJSON_Delete(dlq);
    cJSON *st = stats("retries");
    cr_assert_eq(ts_json_num(st, "dlq_now"), 1);
    cJSON_Delete(st);
}

Test(http_queue, peek_leases_nothing)
{
    enq("peeked", "priority=2", "b");
    enq("peeked", "priority=1", "a");
    for (int round = 0; round < 2; round++) {
        cJSON *doc = call_json("GET", "/v1/queues/peeked/peek?count=5", NULL, false, 200);
        cr_assert_eq(ts_json_num(doc, "count"), 2);
        const cJSON *first = cJSON_GetArrayItem(msgs_of(doc), 0);
        cr_assert_str_eq(ts_json_str(first, "payload"), "a");
        cr_assert_eq(ts_json_num(first, "attempts"), 0);
        cr_assert_null(cJSON_GetObjectItem(first, "lease_deadline_ms"));
        cJSON_Delete(doc);
    }
    cJSON *doc = deq("peeked", "count=5");
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 2, "peek must not have hidden anything");
    cJSON_Delete(doc);
}

Test(http_queue, touch_extends_the_lease)
{
    enq("touched", NULL, "long-job");
    uint64_t seq = deq_one("touched", "visibility_timeout_ms=500", "long-job", NULL);
    usleep(250 * 1000);
    char body[96];
    snprintf(body, sizeof(body), "{\"seqs\":[%llu],\"visibility_timeout_ms\":3000}",
             (unsigned long long)seq);
    cJSON *doc = seq_op("touched", "touch", body, 200);
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(res, "ok")));
    cr_assert_gt(ts_json_num(res, "lease_deadline_ms"), 0);
    cJSON_Delete(doc);
    usleep(500 * 1000); /* past the first lease, inside the extended one */
    expect_empty("touched", NULL);
    seq_op_ok("touched", "ack", seq);
    /* Touching a message that is no longer leased says so. */
    cJSON_Delete(seq_op("touched", "touch", body, 404));
}

/* ---- long-polls ---- */

struct poll_arg {
    long status;
    char payload[64];
    uint64_t elapsed_ms;
};

static void *poll_thread(void *p)
{
    struct poll_arg *a = p;
    char u[URL_MAX + 128];
    struct ts_http_resp r;
    url_of(u, "/v1/queues/wake/dequeue?block_ms=8000");
    uint64_t t0 = ts_now_ms();
    if (ts_http("POST", u, NULL, NULL, 0, &r) == 0) {
        a->status = r.status;
        cJSON *doc = cJSON_ParseWithLength(r.body, r.body_len);
        const cJSON *m = doc ? cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "messages"), 0) : NULL;
        const cJSON *pl = m ? cJSON_GetObjectItem(m, "payload") : NULL;
        if (cJSON_IsString(pl)) {
            snprintf(a->payload, sizeof(a->payload), "%s", pl->valuestring);
        }
        cJSON_Delete(doc);
        ts_http_resp_free(&r);
    }
    a->elapsed_ms = ts_now_ms() - t0;
    return NULL;
}

Test(http_queue, blocking_dequeue_is_released_by_another_clients_enqueue)
{
    struct poll_arg a = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, poll_thread, &a), 0);
    usleep(300 * 1000);
    enq("wake", NULL, "ping");
    pthread_join(t, NULL);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.payload, "ping");
    cr_assert_lt(a.elapsed_ms, 4000, "the enqueue did not release the long-poll (%llu ms)",
                 (unsigned long long)a.elapsed_ms);
    cr_assert_geq(a.elapsed_ms, 250);
}

Test(http_queue, a_long_poll_that_times_out_is_an_empty_200)
{
    uint64_t t0 = ts_now_ms();
    cJSON *doc = deq("quiet", "block_ms=400&count=5");
    uint64_t waited = ts_now_ms() - t0;
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 0);
    cJSON_Delete(doc);
    cr_assert_geq(waited, 350, "answered after %llu ms", (unsigned long long)waited);
    cr_assert_lt(waited, 4000);
}

/* ---- batches and many clients ---- */

Test(http_queue, batch_enqueue_keeps_order_including_the_one_by_one_path)
{
    /* The dedup message cannot travel in flo-dev's batch op: the sidecar
     * mixes batch chunks and single enqueues and keeps the order. */
    cJSON *doc = call_json("POST", "/v1/queues/batch/messages",
                           "[{\"payload\":\"m0\"},{\"payload\":\"m1\",\"priority\":0},"
                           "{\"payload\":\"m2\",\"dedup_key\":\"d\"},{\"payload\":\"m3\"},"
                           "{\"payload\":\"m4\"}]",
                           true, 200);
    const cJSON *seqs = cJSON_GetObjectItem(doc, "seqs");
    cr_assert_eq(cJSON_GetArraySize(seqs), 5);
    cr_assert_eq(ts_json_num(doc, "count"), 5);
    for (int i = 1; i < 5; i++) {
        cr_assert_gt(cJSON_GetArrayItem(seqs, i)->valuedouble,
                     cJSON_GetArrayItem(seqs, i - 1)->valuedouble, "seqs follow the array");
    }
    cJSON_Delete(doc);
    doc = deq("batch", "count=10");
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 5);
    for (int i = 0; i < 5; i++) {
        char want[8];
        snprintf(want, sizeof(want), "m%d", i);
        cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(msgs_of(doc), i), "payload"), want);
    }
    cJSON_Delete(doc);
}

struct producer {
    int id;
    int failures;
};

static void *produce(void *p)
{
    struct producer *pr = p;
    char u[URL_MAX + 128];
    struct ts_http_resp r;
    url_of(u, "/v1/queues/many/messages");
    if (pr->id % 2 == 0) {
        /* JSON arrays (batch enqueue). */
        char *body = malloc(BATCH_SIZE * 40 + 4);
        for (int b = 0; body && b < PER_PRODUCER / BATCH_SIZE; b++) {
            size_t len = 0;
            body[len++] = '[';
            for (int i = 0; i < BATCH_SIZE; i++) {
                len += (size_t)sprintf(body + len, "%s{\"payload\":\"%d-%d\"}", i ? "," : "",
                                       pr->id, b * BATCH_SIZE + i);
            }
            body[len++] = ']';
            if (ts_http("POST", u, json_hdr, body, len, &r) != 0) {
                pr->failures++;
                continue;
            }
            pr->failures += r.status != 200;
            ts_http_resp_free(&r);
        }
        pr->failures += body == NULL;
        free(body);
    } else {
        for (int i = 0; i < PER_PRODUCER; i++) {
            char payload[32];
            int n = snprintf(payload, sizeof(payload), "%d-%d", pr->id, i);
            if (ts_http("POST", u, NULL, payload, (size_t)n, &r) != 0) {
                pr->failures++;
                continue;
            }
            pr->failures += r.status != 200;
            ts_http_resp_free(&r);
        }
    }
    return NULL;
}

/* Shared by the consumers: how often each message was delivered. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int seen[TOTAL_MESSAGES];
static int seen_total, bad_payloads, consumer_errors;

static void *consume(void *p)
{
    (void)p;
    char deq_url[URL_MAX + 128], ack_url[URL_MAX + 128];
    url_of(deq_url, "/v1/queues/many/dequeue?count=25&block_ms=300");
    url_of(ack_url, "/v1/queues/many/ack");
    uint64_t end = ts_now_ms() + CONSUME_MAX_MS;
    while (ts_now_ms() < end) {
        pthread_mutex_lock(&seen_mu);
        bool done = seen_total >= TOTAL_MESSAGES;
        pthread_mutex_unlock(&seen_mu);
        if (done) {
            break;
        }
        struct ts_http_resp r;
        if (ts_http("POST", deq_url, NULL, NULL, 0, &r) != 0 || r.status != 200) {
            __atomic_add_fetch(&consumer_errors, 1, __ATOMIC_SEQ_CST);
            if (r.body) {
                ts_http_resp_free(&r);
            }
            continue;
        }
        cJSON *doc = cJSON_ParseWithLength(r.body, r.body_len);
        ts_http_resp_free(&r);
        const cJSON *m, *msgs = doc ? cJSON_GetObjectItem(doc, "messages") : NULL;
        char ack[32 * 25 + 16];
        size_t len = (size_t)sprintf(ack, "{\"seqs\":[");
        int n = 0;
        cJSON_ArrayForEach(m, msgs)
        {
            int prod, idx;
            const cJSON *pl = cJSON_GetObjectItem(m, "payload");
            pthread_mutex_lock(&seen_mu);
            if (cJSON_IsString(pl) && sscanf(pl->valuestring, "%d-%d", &prod, &idx) == 2 &&
                prod >= 0 && prod < PRODUCERS && idx >= 0 && idx < PER_PRODUCER) {
                seen[prod * PER_PRODUCER + idx]++;
                seen_total++;
            } else {
                bad_payloads++;
            }
            pthread_mutex_unlock(&seen_mu);
            len += (size_t)sprintf(ack + len, "%s%.0f", n++ ? "," : "",
                                   cJSON_GetObjectItem(m, "seq")->valuedouble);
        }
        cJSON_Delete(doc);
        if (n == 0) {
            continue;
        }
        len += (size_t)sprintf(ack + len, "]}");
        if (ts_http("POST", ack_url, json_hdr, ack, len, &r) != 0 || r.status != 200) {
            __atomic_add_fetch(&consumer_errors, 1, __ATOMIC_SEQ_CST);
        }
        if (r.body) {
            ts_http_resp_free(&r);
        }
    }
    return NULL;
}

Test(http_queue, a_thousand_messages_from_concurrent_clients_are_consumed_exactly_once)
{
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    struct producer prs[PRODUCERS];
    memset(seen, 0, sizeof(seen));
    seen_total = bad_payloads = consumer_errors = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        cr_assert_eq(pthread_create(&ct[i], NULL, consume, NULL), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        prs[i] = (struct producer){.id = i};
        cr_assert_eq(pthread_create(&pt[i], NULL, produce, &prs[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(pt[i], NULL);
        cr_assert_eq(prs[i].failures, 0, "producer %d had %d failed requests", i, prs[i].failures);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(ct[i], NULL);
    }
    cr_assert_eq(consumer_errors, 0);
    cr_assert_eq(bad_payloads, 0);
    cr_assert_eq(seen_total, TOTAL_MESSAGES);
    for (int i = 0; i < TOTAL_MESSAGES; i++) {
        cr_assert_eq(seen[i], 1, "message %d-%d delivered %d times", i / PER_PRODUCER,
                     i % PER_PRODUCER, seen[i]);
    }
    cJSON *st = stats("many");
    cr_assert_eq(ts_json_num(st, "enqueued"), TOTAL_MESSAGES);
    cr_assert_eq(ts_json_num(st, "acked"), TOTAL_MESSAGES);
    cr_assert_eq(ts_json_num(st, "ready_now"), 0);
    cr_assert_eq(ts_json_num(st, "leased_now"), 0);
    cJSON_Delete(st);
}

/* ---- payloads, stats, purge, list ---- */

static void expect_b64_payload(const cJSON *m, const uint8_t *want, size_t n)
{
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    cr_assert_str_eq(ts_json_str(m, "encoding"), "base64");
    cr_assert_eq(http_base64_decode(&out, FLO_BUF_STR(ts_json_str(m, "payload"))), 0);
    cr_assert_eq(out.len, n);
    cr_assert_eq(memcmp(out.data, want, n), 0, "payload bytes differ");
    flo_wbuf_free(&out);
}

Test(http_queue, binary_payloads_round_trip_byte_exact)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)(255 - i);
    }
    /* Raw body in. */
    static const char *const octet[] = {"Content-Type: application/octet-stream", NULL};
    char u[URL_MAX + 128];
    struct ts_http_resp r;
    url_of(u, "/v1/queues/bin/messages");
    cr_assert_eq(ts_http("POST", u, octet, all, sizeof(all), &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    ts_http_resp_free(&r);
    /* Base64 JSON in: 00 FF 00. */
    cJSON_Delete(call_json("POST", "/v1/queues/bin/messages",
                           "{\"payload\":\"AP8A\",\"encoding\":\"base64\"}", true, 200));
    cJSON *doc = deq("bin", "count=2");
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 2);
    expect_b64_payload(cJSON_GetArrayItem(msgs_of(doc), 0), all, sizeof(all));
    expect_b64_payload(cJSON_GetArrayItem(msgs_of(doc), 1), (const uint8_t *)"\x00\xff\x00", 3);
    cJSON_Delete(doc);
}

Test(http_queue, stats_purge_list_and_namespaces)
{
    enq("purged", NULL, "a");
    enq("purged", NULL, "b");
    enq("purged", "namespace=other", "c");
    cJSON *doc = call_json("DELETE", "/v1/queues/purged/messages", NULL, false, 200);
    cr_assert_eq(ts_json_num(doc, "removed"), 2);
    cJSON_Delete(doc);
    expect_empty("purged", NULL);
    /* The other namespace's queue is untouched. */
    cr_assert_gt(deq_one("purged", "namespace=other", "c", NULL), 0);

    doc = call_json("GET", "/v1/queues", NULL, false, 200);
    const cJSON *qs = cJSON_GetObjectItem(doc, "queues"), *q;
    bool found = false;
    cJSON_ArrayForEach(q, qs)
    {
        found = found || strcmp(ts_json_str(q, "name"), "purged") == 0;
    }
    cr_assert(found, "GET /v1/queues does not list the queue");
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(doc, "has_more")));
    cJSON_Delete(doc);
    doc = stats("purged");
    cr_assert_str_eq(ts_json_str(doc, "queue"), "purged");
    cr_assert_eq(ts_json_num(doc, "enqueued"), 2);
    cr_assert_eq(ts_json_num(doc, "ready_now"), 0);
    cJSON_Delete(doc);
}

/* ---- bad input ---- */

Test(http_queue, bad_input_gets_clear_4xx)
{
    expect_error("POST", "/v1/queues/bad/messages?priority=256", "x", false, 400, "priority");
    expect_error("POST", "/v1/queues/bad/messages?priority=high", "x", false, 400, "priority");
    expect_error("POST", "/v1/queues/bad/messages?prio=1", "x", false, 400, "prio");
    expect_error("POST", "/v1/queues/bad/messages?dedup_key=", "x", false, 400, "dedup_key");
    expect_error("POST", "/v1/queues/bad/messages", "{\"payload\":", true, 400, "not valid JSON");
    expect_error("POST", "/v1/queues/bad/messages", "{\"payload\":\"x\",\"priority\":-2}", true,
                 400, "priority");
    expect_error("POST", "/v1/queues/bad/dequeue?count=0", NULL, false, 400, "count");
    expect_error("POST", "/v1/queues/bad/dequeue?count=101", NULL, false, 400, "count");
    expect_error("POST", "/v1/queues/bad/dequeue?visibility_timeout_ms=0", NULL, false, 400,
                 "visibility_timeout_ms");
    expect_error("POST", "/v1/queues/bad/ack", "{\"seqs\":[]}", true, 400, "empty");
    expect_error("POST", "/v1/queues/bad/ack", "{\"seqs\":[\"seven\"]}", true, 400, "seqs[0]");
    expect_error("POST", "/v1/queues/bad/nack", "{\"seqs\":[1],\"to_dlq\":\"yes\"}", true, 400,
                 "to_dlq");
    expect_error("POST", "/v1/queues/bad/ack", "not json", true, 400, "not valid JSON");
    expect_error("GET", "/v1/queues/bad/dequeue", NULL, false, 405, "POST");
    expect_error("GET", "/v1/queues/bad/unknown", NULL, false, 404, "sub-resources");
    expect_error("GET", "/v1/queues/bad/peek?count=1001", NULL, false, 400, "count");

    size_t n = 1001;
    char *body = malloc(n * 16 + 4);
    cr_assert_not_null(body);
    size_t len = 0;
    body[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(body + len, "%s{\"payload\":\"m\"}", i ? "," : "");
    }
    body[len++] = ']';
    body[len] = '\0';
    expect_error("POST", "/v1/queues/bad/messages", body, true, 413, "limit");
    free(body);
    /* Nothing was enqueued by any of the refused requests. */
    cJSON *st = stats("bad");
    cr_assert_eq(ts_json_num(st, "enqueued"), 0);
    cJSON_Delete(st);
}

/* ---- the curl binary ---- */

Test(http_queue, curl_binary_keeps_the_connection_after_a_bad_request)
{
    char bad[URL_MAX + 128], good[URL_MAX + 128];
    url_of(bad, "/v1/queues/cli/ack");
    url_of(good, "/v1/queues/cli/messages?priority=3");
    const char *const argv[] = {"curl",
                                "-s",
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code} %{num_connects}\\n",
                                "-H",
                                "Content-Type: application/json",
                                "-d",
                                "{\"seqs\":[]}",
                                bad,
                                "--next",
                                "-s",
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code} %{num_connects}\\n",
                                "--data-binary",
                                "hello",
                                good,
                                NULL};
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(ts_run(argv, 10000, NULL, 0, &out, &len), 0);
    /* 400 on a new connection, then 200 on the same one (0 new connects). */
    cr_assert_str_eq(out, "400 1\n200 0\n");
    free(out);
}

Test(http_queue, curl_binary_round_trips_a_binary_file)
{
    char path[] = "/tmp/http_queue_binXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7 + 1);
    }
    data[10] = 0;
    cr_assert_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
    close(fd);
    char u[URL_MAX + 128], file_arg[64];
    url_of(u, "/v1/queues/clibin/messages");
    snprintf(file_arg, sizeof(file_arg), "@%s", path);
    const char *const enq_argv[] = {
        "curl",          "-s",     "-H", "Content-Type: application/octet-stream",
        "--data-binary", file_arg, u,    NULL};
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(ts_run(enq_argv, 10000, NULL, 0, &out, &len), 0);
    unlink(path);
    cr_assert(strstr(out, "\"seq\":") != NULL, "%s", out);
    free(out);
    url_of(u, "/v1/queues/clibin/dequeue");
    const char *const deq_argv[] = {"curl", "-s", "-X", "POST", u, NULL};
    cr_assert_eq(ts_run(deq_argv, 10000, NULL, 0, &out, &len), 0);
    cJSON *doc = cJSON_ParseWithLength(out, len);
    free(out);
    cr_assert_not_null(doc);
    cr_assert_eq(cJSON_GetArraySize(msgs_of(doc)), 1);
    expect_b64_payload(cJSON_GetArrayItem(msgs_of(doc), 0), data, sizeof(data));
    cJSON_Delete(doc);
}
