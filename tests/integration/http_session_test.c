/*
 * Integration tests of HTTP consumer sessions (docs/http-api.md, "Consumer
 * sessions") against real flo-dev and flo-sidecar processes on free
 * loopback ports, with libcurl (and `curl -N` for the event stream):
 * lifecycle; two sessions splitting records with none delivered twice;
 * records of a consumer that never acks reaching another session through
 * claim (delivery_count 2), nack then claim (3); max_deliver dropping a
 * poison record; idle expiry leaving the group and re-attach; re-join after
 * flo-dev restarts; ids accepted by a replica with the same secret and
 * refused by one with another; SSE delivery; the same pending entries seen
 * and acked over RESP; and the 4xx answers for bad input. Every wait is
 * bounded.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flo/flo_ops.h"
#include "ts.h"
#include "ts_http_fixture.h"

#define PATH_MAX_LEN 1600
#define ID_MAX       1100
#define N_SPLIT      20
#define SECRET_A     "0123456789abcdef-secret-A"
#define SECRET_B     "fedcba9876543210-secret-B"

static struct ts_flodev dev;
static struct ts_sidecar sc, sc2, sc3;

static void teardown(void)
{
    if (sc2.proc.pid) {
        ts_stop(&sc2.proc);
        ts_http_check_log(&sc2.proc);
    }
    if (sc3.proc.pid) {
        ts_stop(&sc3.proc);
        ts_http_check_log(&sc3.proc);
    }
    ts_http_fixture_stop(&dev, &sc);
}

TestSuite(http_session, .fini = teardown, .timeout = 90);

/* ---- helpers ---- */

static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

static void start(const char *const extra[])
{
    ts_http_fixture_start(&dev, &sc, extra);
}

static cJSON *jreq_on(const struct ts_sidecar *s, const char *method, const char *path,
                      const char *body, long want)
{
    return ts_http_call_json(s, method, path, body ? json_hdr : NULL, body, want);
}

static cJSON *jreq(const char *method, const char *path, const char *body, long want)
{
    return jreq_on(&sc, method, path, body, want);
}

/* A request expected to fail with `want`; its body must name `needle`
 * and carry the code `code` (NULL: any). */
static void expect_err(const char *method, const char *path, const char *body, long want,
                       const char *code, const char *needle)
{
    struct ts_http_resp r =
        ts_http_call(&sc, method, path, body ? json_hdr : NULL, body, body ? strlen(body) : 0);
    cr_assert_eq(r.status, want, "%s %s: want %ld got %ld: %s", method, path, want, r.status,
                 r.body);
    cJSON *doc = cJSON_Parse(r.body);
    cr_assert_not_null(doc, "%s %s: not JSON: %s", method, path, r.body);
    if (code != NULL) {
        cr_assert_str_eq(ts_json_str(doc, "code"), code, "%s %s: %s", method, path, r.body);
    }
    cr_assert(strstr(ts_json_str(doc, "error"), needle) != NULL, "%s %s: message lacks \"%s\": %s",
              method, path, needle, r.body);
    cJSON_Delete(doc);
    ts_http_resp_free(&r);
}

static void put_stream(const char *s)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/%s", s);
    cJSON_Delete(jreq("PUT", path, NULL, 200));
}

/* Create group g on s with the given sweeper settings (JSON members). */
static void put_group(const char *s, const char *g, const char *settings)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/%s/groups/%s", s, g);
    cJSON_Delete(jreq("PUT", path, settings, 201));
}

static void append(const char *s, const char *payload, char *id)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/%s/records", s);
    struct ts_http_resp r = ts_http_call(&sc, "POST", path, NULL, payload, strlen(payload));
    cr_assert_eq(r.status, 200, "append: %ld %s", r.status, r.body);
    cJSON *doc = cJSON_Parse(r.body);
    cr_assert_not_null(doc);
    if (id != NULL) {
        snprintf(id, FLO_STREAM_ID_TEXT_MAX, "%s", ts_json_str(doc, "id"));
    }
    cJSON_Delete(doc);
    ts_http_resp_free(&r);
}

/* POST .../sessions with body; the session id is copied into id. */
static void create_on(const struct ts_sidecar *s, const char *stream, const char *g,
                      const char *body, char *id)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/%s/groups/%s/sessions", stream, g);
    cJSON *doc = jreq_on(s, "POST", path, body, 201);
    snprintf(id, ID_MAX, "%s", ts_json_str(doc, "session_id"));
    cJSON_Delete(doc);
}

static void create(const char *stream, const char *g, const char *body, char *id)
{
    create_on(&sc, stream, g, body, id);
}

/* GET /v1/sessions/{id}/records?query: the reply (caller deletes). */
static cJSON *read_sess(const char *id, const char *query)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?%s", id, query);
    return jreq("GET", path, NULL, 200);
}

/* A session read (with query) must deliver nothing. */
static void expect_no_records(const char *id, const char *query)
{
    cJSON *doc = read_sess(id, query);
    cr_assert_eq(ts_json_num(doc, "count"), 0, "session %s delivered records", id);
    cJSON_Delete(doc);
}

static const cJSON *recs_of(const cJSON *doc)
{
    const cJSON *a = cJSON_GetObjectItem(doc, "records");
    cr_assert(cJSON_IsArray(a), "no records array");
    return a;
}

/* POST /v1/sessions/{id}/<op> {"ids":[id]}; returns the count field. */
static double idop(const char *sess, const char *op, const char *rec_id)
{
    char path[PATH_MAX_LEN], body[128], field[16];
    snprintf(path, sizeof(path), "/v1/sessions/%s/%s", sess, op);
    snprintf(body, sizeof(body), "{\"ids\":[\"%s\"]}", rec_id);
    snprintf(field, sizeof(field), "%sed", strcmp(op, "touch") == 0 ? "touch" : op);
    cJSON *doc = jreq("POST", path, body, 200);
    double n = ts_json_num(doc, field);
    cJSON_Delete(doc);
    return n;
}

static double group_field(const char *s, const char *g, const char *field)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/%s/groups/%s", s, g);
    cJSON *doc = jreq("GET", path, NULL, 200);
    double v = ts_json_num(doc, field);
    cJSON_Delete(doc);
    return v;
}

/* Poll the group's `field` until it equals want, for at most ms. */
static bool wait_group_field(const char *s, const char *g, const char *field, double want, int ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    do {
        if (group_field(s, g, field) == want) {
            return true;
        }
        usleep(100 * 1000);
    } while (ts_now_ms() < end);
    return false;
}

/* ---- lifecycle ---- */

Test(http_session, create_info_delete)
{
    start(NULL);
    put_stream("life");
    put_group("life", "g", "{\"ack_timeout_ms\":0}");

    static const char body[] = "{\"consumer\":\"c1\",\"claim_idle_ms\":500}";
    struct ts_http_resp r = ts_http_call(&sc, "POST", "/v1/streams/life/groups/g/sessions",
                                         json_hdr, body, sizeof(body) - 1);
    cr_assert_eq(r.status, 201, "%s", r.body);
    char loc[ID_MAX + 32];
    cr_assert_eq(ts_http_header(&r, "Location", loc, sizeof(loc)), 0);
    cJSON *doc = cJSON_Parse(r.body);
    cr_assert_not_null(doc);
    char id[ID_MAX];
    snprintf(id, sizeof(id), "%s", ts_json_str(doc, "session_id"));
    char want_loc[ID_MAX + 32];
    snprintf(want_loc, sizeof(want_loc), "/v1/sessions/%s", id);
    cr_assert_str_eq(loc, want_loc);
    cr_assert_str_eq(ts_json_str(doc, "stream"), "life");
    cr_assert_str_eq(ts_json_str(doc, "group"), "g");
    cr_assert_str_eq(ts_json_str(doc, "consumer"), "c1");
    cr_assert_eq(ts_json_num(doc, "claim_idle_ms"), 500);
    cr_assert_eq(ts_json_num(doc, "idle_timeout_ms"), 300000);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(doc, "namespace")));
    cJSON_Delete(doc);
    ts_http_resp_free(&r);
    cr_assert_eq(group_field("life", "g", "members"), 1);

    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/sessions/%s", id);
    doc = jreq("GET", path, NULL, 200);
    cr_assert_str_eq(ts_json_str(doc, "session_id"), id);
    cr_assert_str_eq(ts_json_str(doc, "consumer"), "c1");
    cr_assert_eq(ts_json_num(doc, "delivered"), 0);
    cr_assert_geq(ts_json_num(doc, "expires_at_ms"), ts_json_num(doc, "last_used_at_ms"));
    cr_assert_gt(ts_json_num(doc, "created_at_ms"), 0);
    cJSON_Delete(doc);

    /* Query form and a generated consumer name. */
    char id2[ID_MAX];
    create("life", "g", NULL, id2);
    snprintf(path, sizeof(path), "/v1/sessions/%s", id2);
    doc = jreq("GET", path, NULL, 200);
    cr_assert(strncmp(ts_json_str(doc, "consumer"), "sc-", 3) == 0, "generated name");
    cr_assert_eq(ts_json_num(doc, "claim_idle_ms"), 30000);
    cJSON_Delete(doc);
    cr_assert_eq(group_field("life", "g", "members"), 2);

    snprintf(path, sizeof(path), "/v1/sessions/%s", id);
    r = ts_http_call(&sc, "DELETE", path, NULL, NULL, 0);
    cr_assert_eq(r.status, 204, "%s", r.body);
    ts_http_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/sessions/%s", id2);
    r = ts_http_call(&sc, "DELETE", path, NULL, NULL, 0);
    cr_assert_eq(r.status, 204, "%s", r.body);
    ts_http_resp_free(&r);
    cr_assert_eq(group_field("life", "g", "members"), 0);
}

/* ---- delivery ---- */

Test(http_session, two_sessions_split_records_without_duplicates)
{
    start(NULL);
    put_stream("split");
    put_group("split", "g", "{\"ack_timeout_ms\":0}");
    for (int i = 0; i < N_SPLIT; i++) {
        char p[16];
        snprintf(p, sizeof(p), "rec-%d", i);
        append("split", p, NULL);
    }
    char a[ID_MAX], b[ID_MAX];
    create("split", "g", "{\"consumer\":\"a\"}", a);
    create("split", "g", "{\"consumer\":\"b\"}", b);

    char seen[N_SPLIT][FLO_STREAM_ID_TEXT_MAX];
    int nseen = 0, got_a = 0, got_b = 0;
    for (int round = 0; round < 40 && nseen < N_SPLIT; round++) {
        const char *who = (round % 2) ? b : a;
        cJSON *doc = read_sess(who, "count=3");
        const cJSON *rec;
        cJSON_ArrayForEach(rec, recs_of(doc))
        {
            const char *rid = ts_json_str(rec, "id");
            for (int k = 0; k < nseen; k++) {
                cr_assert_str_neq(seen[k], rid, "record %s delivered twice", rid);
            }
            cr_assert_eq(ts_json_num(rec, "delivery_count"), 1);
            cr_assert_lt(nseen, N_SPLIT);
            snprintf(seen[nseen++], FLO_STREAM_ID_TEXT_MAX, "%s", rid);
            cr_assert_eq(idop(who, "ack", rid), 1);
            (round % 2) ? got_b++ : got_a++;
        }
        cJSON_Delete(doc);
    }
    cr_assert_eq(nseen, N_SPLIT, "only %d of %d records delivered", nseen, N_SPLIT);
    cr_assert_gt(got_a, 0);
    cr_assert_gt(got_b, 0);
    cr_assert_eq(group_field("split", "g", "pending"), 0);
    /* Nothing is left for either. */
    expect_no_records(a, "count=10&block_ms=200");
}

/* Session a reads and never acks; b (waiting) gets the record by claim. */
Test(http_session, unacked_record_redelivered_to_another_session)
{
    start(NULL);
    put_stream("dead");
    put_group("dead", "g", "{\"ack_timeout_ms\":0}");
    char rid[FLO_STREAM_ID_TEXT_MAX];
    append("dead", "job", rid);
    char a[ID_MAX], b[ID_MAX];
    create("dead", "g", "{\"consumer\":\"a\",\"claim_idle_ms\":300}", a);
    create("dead", "g", "{\"consumer\":\"b\",\"claim_idle_ms\":300}", b);

    cJSON *doc = read_sess(a, "count=1");
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    const cJSON *rec = cJSON_GetArrayItem(recs_of(doc), 0);
    cr_assert_str_eq(ts_json_str(rec, "id"), rid);
    cr_assert_eq(ts_json_num(rec, "delivery_count"), 1);
    cr_assert_str_eq(ts_json_str(rec, "payload"), "job");
    cJSON_Delete(doc);

    uint64_t t0 = ts_now_ms();
    doc = read_sess(b, "count=5&block_ms=4000");
    cr_assert_eq(ts_json_num(doc, "count"), 1, "the abandoned record did not reach b");
    rec = cJSON_GetArrayItem(recs_of(doc), 0);
    cr_assert_str_eq(ts_json_str(rec, "id"), rid);
    cr_assert_eq(ts_json_num(rec, "delivery_count"), 2);
    cr_assert_str_eq(ts_json_str(doc, "consumer"), "b");
    cJSON_Delete(doc);
    cr_assert_lt(ts_now_ms() - t0, 3500, "the claim waited for the whole block time");
    cr_assert_eq(idop(b, "ack", rid), 1);
    cr_assert_eq(group_field("dead", "g", "pending"), 0);
}

Test(http_session, nack_then_claim)
{
    start(NULL);
    put_stream("nk");
    put_group("nk", "g", "{\"ack_timeout_ms\":0}");
    char rid[FLO_STREAM_ID_TEXT_MAX];
    append("nk", "retry-me", rid);
    char a[ID_MAX], b[ID_MAX];
    create("nk", "g", "{\"consumer\":\"a\",\"claim_idle_ms\":300}", a);
    create("nk", "g", "{\"consumer\":\"b\",\"claim_idle_ms\":300}", b);
    cJSON *doc = read_sess(a, "count=1");
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cJSON_Delete(doc);
    cr_assert_eq(idop(a, "nack", rid), 1);
    cr_assert_eq(idop(a, "touch", rid), 1);

    doc = read_sess(b, "count=1&block_ms=4000");
    cr_assert_eq(ts_json_num(doc, "count"), 1, "the nacked record was not claimed");
    const cJSON *rec = cJSON_GetArrayItem(recs_of(doc), 0);
    cr_assert_str_eq(ts_json_str(rec, "id"), rid);
    cr_assert_eq(ts_json_num(rec, "delivery_count"), 3);
    cJSON_Delete(doc);
    cr_assert_eq(idop(b, "ack", rid), 1);
}

Test(http_session, max_deliver_drops_a_poison_record)
{
    start(NULL);
    put_stream("poison");
    put_group("poison", "g", "{\"ack_timeout_ms\":300,\"max_deliver\":2}");
    char rid[FLO_STREAM_ID_TEXT_MAX];
    append("poison", "bad", rid);
    char a[ID_MAX], b[ID_MAX];
    create("poison", "g", "{\"consumer\":\"a\",\"claim_idle_ms\":60000}", a);
    cJSON *doc = read_sess(a, "count=1");
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cJSON_Delete(doc);
    cr_assert_eq(group_field("poison", "g", "pending"), 1);
    /* The sweeper bumps the count after 300 ms idle, then drops it. */
    cr_assert(wait_group_field("poison", "g", "pending", 0, 5000),
              "the poison record was never dropped");
    create("poison", "g", "{\"consumer\":\"b\",\"claim_idle_ms\":1}", b);
    doc = read_sess(b, "count=5&block_ms=500");
    cr_assert_eq(ts_json_num(doc, "count"), 0, "a dropped record was delivered again");
    cJSON_Delete(doc);
    expect_no_records(a, "count=5");
}

/* ---- liveness ---- */

Test(http_session, idle_session_expires_and_reattaches)
{
    const char *const extra[] = {"--session-idle-timeout", "1", NULL};
    start(extra);
    put_stream("idle");
    put_group("idle", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX];
    create("idle", "g", "{\"consumer\":\"sleepy\"}", id);
    cr_assert_eq(group_field("idle", "g", "members"), 1);
    cr_assert(wait_group_field("idle", "g", "members", 0, 5000),
              "the idle session never left the group");

    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/sessions/%s", id);
    cJSON *doc = jreq("GET", path, NULL, 200);
    cr_assert_str_eq(ts_json_str(doc, "consumer"), "sleepy");
    cJSON_Delete(doc);
    char rid[FLO_STREAM_ID_TEXT_MAX];
    append("idle", "after", rid);
    doc = read_sess(id, "count=1&block_ms=1000");
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs_of(doc), 0), "id"), rid);
    cJSON_Delete(doc);
    cr_assert_eq(group_field("idle", "g", "members"), 1);
}

Test(http_session, rejoins_after_flodev_restart)
{
    start(NULL);
    put_stream("rs");
    put_group("rs", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX];
    create("rs", "g", "{\"consumer\":\"survivor\"}", id);
    expect_no_records(id, "count=1");

    ts_kill(&dev.proc, SIGKILL);
    cr_assert_eq(ts_flodev_restart(&dev), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc, TS_WAIT_MS), 0);

    /* flo-dev lost everything: the stream comes back with the append, the
     * group with the session's (re-joining) read. Early calls may still
     * meet the dead connection: retry within a bound. */
    char rid[FLO_STREAM_ID_TEXT_MAX] = "";
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/streams/rs/records");
    uint64_t end = ts_now_ms() + 10000;
    while (rid[0] == '\0' && ts_now_ms() < end) {
        struct ts_http_resp r = ts_http_call(&sc, "POST", path, NULL, "again", 5);
        if (r.status == 200) {
            cJSON *d = cJSON_Parse(r.body);
            snprintf(rid, sizeof(rid), "%s", ts_json_str(d, "id"));
            cJSON_Delete(d);
        }
        ts_http_resp_free(&r);
        if (rid[0] == '\0') {
            usleep(100 * 1000);
        }
    }
    cr_assert(rid[0] != '\0', "append never succeeded after the restart");

    snprintf(path, sizeof(path), "/v1/sessions/%s/records?count=1&block_ms=1000", id);
    bool got = false;
    end = ts_now_ms() + 10000;
    while (!got && ts_now_ms() < end) {
        struct ts_http_resp r = ts_http_call(&sc, "GET", path, NULL, NULL, 0);
        if (r.status == 200) {
            cJSON *d = cJSON_Parse(r.body);
            const cJSON *rec = cJSON_GetArrayItem(recs_of(d), 0);
            if (rec != NULL) {
                cr_assert_str_eq(ts_json_str(rec, "id"), rid);
                cr_assert_str_eq(ts_json_str(d, "consumer"), "survivor");
                got = true;
            }
            cJSON_Delete(d);
        } else {
            cr_assert(r.status == 503 || r.status == 504, "unexpected %ld: %s", r.status, r.body);
            usleep(100 * 1000);
        }
        ts_http_resp_free(&r);
    }
    cr_assert(got, "the session never read the record appended after the restart");
    cr_assert_eq(group_field("rs", "g", "members"), 1);
}

Test(http_session, ids_are_accepted_by_replicas_with_the_same_secret)
{
    const char *const a_args[] = {"--session-secret", SECRET_A, NULL};
    const char *const b_args[] = {"--session-secret", SECRET_B, NULL};
    start(a_args);
    cr_assert_eq(ts_sidecar_start(&sc2, dev.port, a_args), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc2, TS_WAIT_MS), 0);
    cr_assert_eq(ts_sidecar_start(&sc3, dev.port, b_args), 0);
    cr_assert_eq(ts_sidecar_wait_ready(&sc3, TS_WAIT_MS), 0);
    put_stream("rep");
    put_group("rep", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX], rid[FLO_STREAM_ID_TEXT_MAX];
    create("rep", "g", "{\"consumer\":\"moving\"}", id);
    append("rep", "x", rid);

    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?count=1", id);
    cJSON *doc = jreq_on(&sc2, "GET", path, NULL, 200);
    cr_assert_eq(ts_json_num(doc, "count"), 1, "the replica did not read for the session");
    cr_assert_str_eq(ts_json_str(doc, "consumer"), "moving");
    cJSON_Delete(doc);

    struct ts_http_resp r = ts_http_call(&sc3, "GET", path, NULL, NULL, 0);
    cr_assert_eq(r.status, 404, "%s", r.body);
    cr_assert(strstr(r.body, "unknown_session") != NULL, "%s", r.body);
    ts_http_resp_free(&r);
}

/* ---- SSE ---- */

Test(http_session, sse_delivers_appends_live)
{
    start(NULL);
    put_stream("live");
    put_group("live", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX];
    create("live", "g", "{\"consumer\":\"watcher\"}", id);

    char cmd[PATH_MAX_LEN + 128];
    snprintf(cmd, sizeof(cmd),
             "curl -sN --max-time 3 -H 'Accept: text/event-stream' "
             "'http://127.0.0.1:%u/v1/sessions/%s/records'",
             (unsigned)sc.http_port, id);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    usleep(500 * 1000); /* let it connect and wait */
    char r1[FLO_STREAM_ID_TEXT_MAX], r2[FLO_STREAM_ID_TEXT_MAX];
    append("live", "first", r1);
    append("live", "second", r2);
    char out[8192];
    size_t n = 0, k;
    while (n < sizeof(out) - 1 && (k = fread(out + n, 1, sizeof(out) - 1 - n, f)) > 0) {
        n += k;
    }
    out[n] = '\0';
    pclose(f);
    char want[128];
    snprintf(want, sizeof(want), "id: %s\nevent: record\ndata: ", r1);
    cr_assert(strstr(out, want) != NULL, "first record missing: %s", out);
    snprintf(want, sizeof(want), "id: %s\nevent: record\ndata: ", r2);
    cr_assert(strstr(out, want) != NULL, "second record missing: %s", out);
    cr_assert(strstr(out, "\"payload\":\"second\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"delivery_count\":1") != NULL, "%s", out);

    /* Delivered records are pending until acked. */
    cr_assert_eq(group_field("live", "g", "pending"), 2);
    cr_assert_eq(idop(id, "ack", r1), 1);
    cr_assert_eq(idop(id, "ack", r2), 1);
    cr_assert_eq(group_field("live", "g", "pending"), 0);
    /* The sidecar is still fine after the client went away mid-wait. */
    expect_no_records(id, "count=1");
}

/* ---- cross-protocol ---- */

Test(http_session, session_reads_show_up_in_xpending_and_xack_settles_them)
{
    start(NULL);
    put_stream("xp");
    put_group("xp", "g", "{\"ack_timeout_ms\":0}");
    char r1[FLO_STREAM_ID_TEXT_MAX], r2[FLO_STREAM_ID_TEXT_MAX];
    append("xp", "one", r1);
    append("xp", "two", r2);
    char id[ID_MAX];
    create("xp", "g", "{\"consumer\":\"httpc\"}", id);
    cJSON *doc = read_sess(id, "count=10");
    cr_assert_eq(ts_json_num(doc, "count"), 2);
    cJSON_Delete(doc);

    redisContext *c = ts_redis(sc.resp_port);
    cr_assert_not_null(c);
    redisReply *rep = redisCommand(c, "XPENDING xp g - + 10");
    cr_assert_not_null(rep);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "XPENDING: type %d %s", rep->type,
                 rep->str ? rep->str : "");
    cr_assert_eq(rep->elements, 2);
    for (size_t i = 0; i < 2; i++) {
        redisReply *e = rep->element[i];
        cr_assert_eq(e->type, REDIS_REPLY_ARRAY);
        cr_assert_str_eq(e->element[0]->str, i == 0 ? r1 : r2);
        cr_assert_str_eq(e->element[1]->str, "httpc");
        cr_assert_eq(e->element[3]->integer, 1);
    }
    freeReplyObject(rep);
    rep = redisCommand(c, "XACK xp g %s", r1);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "XACK: %s", rep->str ? rep->str : "");
    cr_assert_eq(rep->integer, 1);
    freeReplyObject(rep);
    redisFree(c);

    cr_assert_eq(group_field("xp", "g", "pending"), 1);
    /* The record RESP did not ack is still the session's to ack. */
    cr_assert_eq(idop(id, "ack", r2), 1);
    cr_assert_eq(group_field("xp", "g", "pending"), 0);
}

/* ---- errors ---- */

Test(http_session, bad_input_is_a_clear_4xx)
{
    start(NULL);
    put_stream("err");
    put_group("err", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX];
    create("err", "g", "{\"consumer\":\"c\"}", id);
    char path[PATH_MAX_LEN];

    /* Ids the sidecar never signed. */
    expect_err("GET", "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 404,
               "unknown_session", "session");
    expect_err("GET", "/v1/sessions/not.base64", NULL, 404, "unknown_session", "base64url");
    expect_err("POST", "/v1/sessions/%2F%2F/ack", "{\"ids\":[\"1-0\"]}", 404, "unknown_session",
               "base64url");
    /* A tampered id: flip one character of a real one. */
    char bad[ID_MAX];
    snprintf(bad, sizeof(bad), "%s", id);
    bad[strlen(bad) / 2] = bad[strlen(bad) / 2] == 'A' ? 'B' : 'A';
    snprintf(path, sizeof(path), "/v1/sessions/%s", bad);
    expect_err("GET", path, NULL, 404, "unknown_session", "session");

    snprintf(path, sizeof(path), "/v1/sessions/%s/ack", id);
    expect_err("POST", path, "not json", 400, "bad_request", "JSON");
    expect_err("POST", path, "{\"ids\":[]}", 400, "bad_request", "ids");
    expect_err("POST", path, "{\"ids\":\"1-0\"}", 400, "bad_request", "ids");
    expect_err("POST", path, "{\"ids\":[\"banana\"]}", 400, "bad_request", "ids[0]");
    expect_err("POST", path, "{\"ids\":[\"1-0\"],\"x\":1}", 400, "bad_request", "x");
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?count=0", id);
    expect_err("GET", path, NULL, 400, "bad_request", "count");
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?count=5000", id);
    expect_err("GET", path, NULL, 400, "bad_request", "count");
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?namespace=x", id);
    expect_err("GET", path, NULL, 400, "bad_request", "namespace");
    snprintf(path, sizeof(path), "/v1/sessions/%s/records?follow=true&block_ms=5", id);
    expect_err("GET", path, NULL, 400, "bad_request", "block_ms");
    expect_err("POST", "/v1/streams/err/groups/g/sessions", "{\"claim_idle_ms\":0}", 400,
               "bad_request", "claim_idle_ms");
    expect_err("POST", "/v1/streams/err/groups/g/sessions", "{\"consumer\":5}", 400, "bad_request",
               "consumer");
    expect_err("POST", "/v1/streams/err/groups/g/sessions", "{\"consumer\":\"\"}", 400,
               "bad_request", "consumer");
    expect_err("POST", "/v1/streams/err/groups/g/sessions", "{\"group\":\"x\"}", 400, "bad_request",
               "group");
    snprintf(path, sizeof(path), "/v1/sessions/%s", id);
    expect_err("PUT", path, NULL, 405, "method_not_allowed", "DELETE");
    /* The session is still fine after all that. */
    expect_no_records(id, "count=1");
}

/* ---- clients that go away, a sidecar that stops ---- */

/* Run `curl` on a session long-poll in the background; returns its stream. */
static FILE *bg_poll(const char *id, int max_time_s)
{
    char cmd[PATH_MAX_LEN + 128];
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null -w '%%{http_code}' --max-time %d "
             "'http://127.0.0.1:%u/v1/sessions/%s/records?count=1&block_ms=20000'",
             max_time_s, (unsigned)sc.http_port, id);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    return f;
}

Test(http_session, hung_up_long_poll_is_cancelled_and_shutdown_answers_503)
{
    start(NULL);
    put_stream("gone");
    put_group("gone", "g", "{\"ack_timeout_ms\":0}");
    char id[ID_MAX];
    create("gone", "g", "{\"consumer\":\"c\",\"claim_idle_ms\":300}", id);

    /* The client gives up after 1 s of a 20 s wait. */
    FILE *f = bg_poll(id, 1);
    char code[8] = "";
    cr_assert_not_null(fgets(code, sizeof(code), f));
    pclose(f);
    cr_assert_str_eq(code, "000", "the hung-up poll was answered: %s", code);
    /* The session still serves: a record appended now is read (at worst
     * claimed back from a read that was cancelled after it was sent). */
    char rid[FLO_STREAM_ID_TEXT_MAX];
    append("gone", "still-here", rid);
    cJSON *doc = read_sess(id, "count=1&block_ms=3000");
    cr_assert_eq(ts_json_num(doc, "count"), 1);
    cr_assert_str_eq(ts_json_str(cJSON_GetArrayItem(recs_of(doc), 0), "id"), rid);
    cJSON_Delete(doc);
    /* Acked, so the next poll has nothing to claim back and waits. */
    cr_assert_eq(idop(id, "ack", rid), 1);

    /* A sidecar that stops answers a waiting session poll with 503. */
    f = bg_poll(id, 8);
    usleep(500 * 1000);
    uint64_t t0 = ts_now_ms();
    ts_stop(&sc.proc);
    ts_http_check_log(&sc.proc);
    cr_assert_not_null(fgets(code, sizeof(code), f));
    pclose(f);
    cr_assert_str_eq(code, "503", "a waiting poll got %s at shutdown", code);
    cr_assert_lt(ts_now_ms() - t0, 5000, "shutdown waited for the poll");
}
