/*
 * RESP consumer groups, second part, over real sockets (flo-dev upstream,
 * flo-sidecar serving RESP, hiredis and raw sockets as clients):
 * XREADGROUP with an id (the consumer's own pending entries, [id, nil] for a
 * trimmed record, byte for byte as redis-server 7.0 in RESP2 and RESP3),
 * XINFO CONSUMERS / GROUPS / HELP, and the implicit RESP consumers of the
 * session registry: forgotten by XGROUP DELCONSUMER / DESTROY, and expired
 * (left upstream) when idle.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts.h"
#include "ts_resp_fixture.h"
#include "ts_resp_cmp.h"

static struct ts_flodev dev;
static struct ts_sidecar sc;

static void setup(void)
{
    ts_resp_fixture_start(&dev, &sc, NULL);
}

/* Idle RESP consumers expire after one second. */
static void setup_expiry(void)
{
    static const char *const extra[] = {"--session-idle-timeout", "1", NULL};
    ts_resp_fixture_start(&dev, &sc, extra);
}

static void teardown(void)
{
    ts_resp_fixture_stop(&dev, &sc);
}

TestSuite(resp_xgroup2, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(resp_xgroup2_expiry, .init = setup_expiry, .fini = teardown, .timeout = 60);

static void xadd(redisContext *c, const char *key, const char *val, char *id, size_t cap)
{
    redisReply *r = ts_resp_cmd(c, "XADD %s * payload %s", key, val);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "XADD: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    snprintf(id, cap, "%s", r->str);
    freeReplyObject(r);
}

/* The ids of an XREADGROUP reply's single stream (RESP2 [[key, entries]]). */
static size_t reply_ids(const redisReply *r, const char *key, char ids[][64], size_t cap)
{
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 1);
    const redisReply *s = r->element[0];
    cr_assert_eq(s->elements, 2);
    cr_assert_str_eq(s->element[0]->str, key);
    const redisReply *e = s->element[1];
    cr_assert_eq(e->type, REDIS_REPLY_ARRAY);
    cr_assert_leq(e->elements, cap);
    for (size_t i = 0; i < e->elements; i++) {
        snprintf(ids[i], 64, "%s", e->element[i]->element[0]->str);
    }
    return e->elements;
}

static size_t group_read(redisContext *c, const char *key, const char *cons, const char *id,
                         int count, char ids[][64], size_t cap)
{
    redisReply *r =
        count > 0
            ? ts_resp_cmd(c, "XREADGROUP GROUP g %s COUNT %d STREAMS %s %s", cons, count, key, id)
            : ts_resp_cmd(c, "XREADGROUP GROUP g %s STREAMS %s %s", cons, key, id);
    size_t n = 0;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    n = reply_ids(r, key, ids, cap);
    freeReplyObject(r);
    return n;
}

Test(resp_xgroup2, history_returns_own_pending_only)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_ok(c, "XGROUP CREATE s:h g 0 MKSTREAM");
    char all[3][64];
    for (int i = 0; i < 3; i++) {
        char v[8];
        snprintf(v, sizeof(v), "v%d", i);
        xadd(c, "s:h", v, all[i], sizeof(all[i]));
    }
    char got1[4][64], got2[4][64], h[4][64];
    cr_assert_eq(group_read(c, "s:h", "c1", ">", 2, got1, 4), 2);
    cr_assert_eq(group_read(c, "s:h", "c2", ">", 0, got2, 4), 1);

    /* c1's history: its two entries with their fields, not c2's. */
    redisReply *r = ts_resp_cmd(c, "XREADGROUP GROUP g c1 STREAMS s:h 0");
    cr_assert_eq(reply_ids(r, "s:h", h, 4), 2);
    cr_assert_str_eq(h[0], all[0]);
    cr_assert_str_eq(h[1], all[1]);
    const redisReply *f = r->element[0]->element[1]->element[0]->element[1];
    cr_assert_eq(f->elements, 2);
    cr_assert_str_eq(f->element[0]->str, "payload");
    cr_assert_str_eq(f->element[1]->str, "v0");
    freeReplyObject(r);
    /* After an id, COUNT, and BLOCK ignored (answers at once). */
    cr_assert_eq(group_read(c, "s:h", "c1", all[0], 0, h, 4), 1);
    cr_assert_str_eq(h[0], all[1]);
    cr_assert_eq(group_read(c, "s:h", "c1", "0-0", 1, h, 4), 1);
    cr_assert_str_eq(h[0], all[0]);
    uint64_t t0 = ts_now_ms();
    r = ts_resp_cmd(c, "XREADGROUP GROUP g c1 BLOCK 3000 STREAMS s:h %s", all[1]);
    cr_assert_eq(reply_ids(r, "s:h", h, 4), 0, "nothing after its last entry");
    freeReplyObject(r);
    cr_assert_lt(ts_now_ms() - t0, 2000, "a history read does not block");
    cr_assert_eq(group_read(c, "s:h", "c2", "0", 0, h, 4), 1);
    cr_assert_str_eq(h[0], all[2]);

    /* A history read does not change delivery counts. */
    r = ts_resp_cmd(c, "XPENDING s:h g - + 10 c1");
    cr_assert_eq(r->elements, 2);
    cr_assert_eq(r->element[0]->element[3]->integer, 1);
    freeReplyObject(r);

    /* Mixed with `>`: the history key is answered (empty or not); a `>`
     * key with nothing new is left out. */
    r = ts_resp_cmd(c, "XREADGROUP GROUP g c1 STREAMS s:h s:h 0 >");
    cr_assert_eq(reply_ids(r, "s:h", h, 4), 2);
    freeReplyObject(r);

    /* After XACK the history is empty: [[key, []]]. */
    cr_assert_eq(ts_resp_int(c, "XACK s:h g %s %s", got1[0], got1[1]), 2);
    cr_assert_eq(group_read(c, "s:h", "c1", "0", 0, h, 4), 0);

    /* A history read of a missing group is NOGROUP (no group is made). */
    r = ts_resp_cmd(c, "XREADGROUP GROUP nog c1 STREAMS s:h 0");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(r->str,
                     "NOGROUP No such key 's:h' or consumer group 'nog' in XREADGROUP with GROUP "
                     "option");
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_xgroup2, history_shapes_match_redis)
{
    static const char *const cmds[] = {
        "XGROUP CREATE k g 0 MKSTREAM",
        "XINFO CONSUMERS k g",
        "XREADGROUP GROUP g c STREAMS k 0",
        "XREADGROUP GROUP g c COUNT 5 BLOCK 100 STREAMS k 0-0",
        "XREADGROUP GROUP nog c STREAMS k 0",
        "XREADGROUP GROUP g c STREAMS k abc",
        "XREADGROUP GROUP g c STREAMS k $",
        "XINFO CONSUMERS k nog",
        "XINFO",
        "XINFO CONSUMERS k",
        "XINFO STREAM",
    };
    ts_resp_compare_with_redis(sc.resp_port, cmds, sizeof(cmds) / sizeof(cmds[0]));
}

/* Send `req` on a raw socket and check the reply is exactly `want`. */
static void raw_expect(int fd, const char *req, const char *want)
{
    cr_assert_eq(ts_write_full(fd, req, strlen(req)), 0);
    size_t n = strlen(want);
    char *buf = calloc(1, n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(ts_read_full(fd, buf, n), 0, "short reply to %s", req);
    cr_assert(memcmp(buf, want, n) == 0, "reply to %s:\n%s\nwant:\n%s", req, buf, want);
    free(buf);
}

Test(resp_xgroup2, trimmed_pending_entry_is_nil)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_ok(c, "XGROUP CREATE s:t g 0");
    char id[3][64], got[4][64];
    for (int i = 0; i < 3; i++) {
        xadd(c, "s:t", "x", id[i], sizeof(id[i]));
    }
    cr_assert_eq(group_read(c, "s:t", "c1", ">", 0, got, 4), 3);
    /* Trim the first two records away while they are pending. */
    ts_resp_int(c, "XTRIM s:t MINID %s", id[2]);
    cr_assert_eq(ts_resp_int(c, "XLEN s:t"), 1);
    redisFree(c);

    /* redis-server 7.0 answers a deleted pending entry as [id, nil]:
     * `*2 id *-1` in RESP2, `*2 id _` in RESP3. */
    char want2[1024], want3[1024], ent[2][128];
    for (int i = 0; i < 2; i++) {
        snprintf(ent[i], sizeof(ent[i]), "*2\r\n$%zu\r\n%s\r\n", strlen(id[i]), id[i]);
    }
    snprintf(want2, sizeof(want2),
             "*1\r\n*2\r\n$3\r\ns:t\r\n*3\r\n%s*-1\r\n%s*-1\r\n*2\r\n$%zu\r\n%s\r\n*2\r\n"
             "$7\r\npayload\r\n$1\r\nx\r\n",
             ent[0], ent[1], strlen(id[2]), id[2]);
    snprintf(want3, sizeof(want3),
             "%%1\r\n$3\r\ns:t\r\n*3\r\n%s_\r\n%s_\r\n*2\r\n$%zu\r\n%s\r\n*2\r\n"
             "$7\r\npayload\r\n$1\r\nx\r\n",
             ent[0], ent[1], strlen(id[2]), id[2]);
    int fd = ts_connect(sc.resp_port, 5000);
    cr_assert_geq(fd, 0);
    raw_expect(fd, "XREADGROUP GROUP g c1 STREAMS s:t 0\r\n", want2);
    /* Switch to RESP3; skip HELLO's reply up to a PING's. */
    const char *hello = "HELLO 3\r\nPING\r\n";
    cr_assert_eq(ts_write_full(fd, hello, strlen(hello)), 0);
    char buf[4096];
    size_t len = 0;
    while (len < 7 || memcmp(buf + len - 7, "+PONG\r\n", 7) != 0) {
        cr_assert_lt(len, sizeof(buf));
        cr_assert_eq(ts_read_full(fd, buf + len, 1), 0, "HELLO 3 reply");
        len++;
    }
    raw_expect(fd, "XREADGROUP GROUP g c1 STREAMS s:t 0\r\n", want3);
    /* XINFO CONSUMERS entries are maps in RESP3 (Redis 7.0's 3 fields). */
    raw_expect(fd, "XINFO CONSUMERS s:t g\r\n",
               "*1\r\n%3\r\n$4\r\nname\r\n$2\r\nc1\r\n$7\r\npending\r\n:3\r\n$4\r\nidle\r\n:");
    close(fd);
}

/* XINFO CONSUMERS as [[name, pending, idle]] (checks the RESP2 shape). */
struct cinfo {
    char name[32];
    long long pending, idle;
};

static size_t consumers(redisContext *c, const char *key, struct cinfo *out, size_t cap)
{
    redisReply *r = ts_resp_cmd(c, "XINFO CONSUMERS %s g", key);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_leq(r->elements, cap);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        cr_assert_eq(e->elements, 6);
        cr_assert_str_eq(e->element[0]->str, "name");
        cr_assert_str_eq(e->element[2]->str, "pending");
        cr_assert_str_eq(e->element[4]->str, "idle");
        snprintf(out[i].name, sizeof(out[i].name), "%s", e->element[1]->str);
        out[i].pending = e->element[3]->integer;
        out[i].idle = e->element[5]->integer;
        cr_assert_geq(out[i].idle, 0);
    }
    size_t n = r->elements;
    freeReplyObject(r);
    return n;
}

Test(resp_xgroup2, xinfo_consumers_groups_help)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_ok(c, "XGROUP CREATE s:i g 0");
    char id[64], got[4][64];
    for (int i = 0; i < 3; i++) {
        xadd(c, "s:i", "v", id, sizeof(id));
    }
    cr_assert_eq(group_read(c, "s:i", "bob", ">", 2, got, 4), 2);
    cr_assert_eq(group_read(c, "s:i", "alice", ">", 0, got, 4), 1);
    cr_assert_eq(group_read(c, "s:i", "carol", ">", 0, got, 4), 0);
    struct cinfo ci[8];
    cr_assert_eq(consumers(c, "s:i", ci, 8), 3);
    /* Sorted by name as Redis lists them; carol known with 0 pending. */
    cr_assert_str_eq(ci[0].name, "alice");
    cr_assert_eq(ci[0].pending, 1);
    cr_assert_str_eq(ci[1].name, "bob");
    cr_assert_eq(ci[1].pending, 2);
    cr_assert_str_eq(ci[2].name, "carol");
    cr_assert_eq(ci[2].pending, 0);
    cr_assert_lt(ci[2].idle, 60000);

    redisReply *r = ts_resp_cmd(c, "XINFO GROUPS s:i");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strstr(r->str, "XINFO CONSUMERS") != NULL, "%s", r->str);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XINFO HELP");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 9);
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XINFO NOPE s:i");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(r->str, "ERR unknown subcommand 'NOPE'. Try XINFO HELP.");
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_xgroup2, delconsumer_and_destroy_forget)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_ok(c, "XGROUP CREATE s:d g 0");
    char id[64], got[4][64];
    xadd(c, "s:d", "v", id, sizeof(id));
    /* NOACK: dave owns nothing, so only the registry lists him. */
    redisReply *r = ts_resp_cmd(c, "XREADGROUP GROUP g dave NOACK STREAMS s:d >");
    freeReplyObject(r);
    cr_assert_eq(group_read(c, "s:d", "erin", ">", 0, got, 4), 0);
    struct cinfo ci[8];
    cr_assert_eq(consumers(c, "s:d", ci, 8), 2);
    cr_assert_eq(ts_resp_int(c, "XGROUP DELCONSUMER s:d g dave"), 0);
    cr_assert_eq(consumers(c, "s:d", ci, 8), 1, "dave forgotten");
    cr_assert_str_eq(ci[0].name, "erin");
    /* DESTROY forgets every consumer of the group. */
    cr_assert_eq(ts_resp_int(c, "XGROUP DESTROY s:d g"), 1);
    ts_resp_ok(c, "XGROUP CREATE s:d g 0");
    cr_assert_eq(consumers(c, "s:d", ci, 8), 0, "erin forgotten with the group");
    redisFree(c);
}

/* The group's member count from the HTTP group info. */
static long members(const char *stream)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/streams/%s/groups/g", sc.http_port, stream);
    struct ts_http_resp hr;
    cr_assert_eq(ts_http("GET", url, NULL, NULL, 0, &hr), 0);
    cr_assert_eq(hr.status, 200, "%s", hr.body);
    const char *m = strstr(hr.body, "\"members\":");
    cr_assert_not_null(m, "%s", hr.body);
    long n = strtol(m + strlen("\"members\":"), NULL, 10);
    ts_http_resp_free(&hr);
    return n;
}

Test(resp_xgroup2_expiry, idle_consumer_leaves_upstream)
{
    redisContext *c = ts_resp_conn(&sc);
    ts_resp_ok(c, "XGROUP CREATE s:e g 0");
    char id[64];
    xadd(c, "s:e", "v", id, sizeof(id));
    redisReply *r = ts_resp_cmd(c, "XREADGROUP GROUP g frank NOACK STREAMS s:e >");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    cr_assert_eq(members("s:e"), 1, "frank joined by the read");
    struct cinfo ci[4];
    cr_assert_eq(consumers(c, "s:e", ci, 4), 1);
    /* Idle for a second: the sidecar leaves the group for frank. */
    uint64_t deadline = ts_now_ms() + 5000;
    long n = 1;
    while (n != 0 && ts_now_ms() < deadline) {
        usleep(200 * 1000);
        n = members("s:e");
    }
    cr_assert_eq(n, 0, "frank still a member after 5 s");
    cr_assert_eq(consumers(c, "s:e", ci, 4), 0, "frank forgotten");
    redisFree(c);
}
