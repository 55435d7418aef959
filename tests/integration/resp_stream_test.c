/*
 * Flo streams through the RESP front end, over real sockets: flo-dev as the
 * upstream, flo-sidecar serving RESP, hiredis as the client. Covers XADD /
 * XRANGE round-trips of field/value pairs (binary values, the `payload`
 * rule), range bounds (-, +, exclusive, COUNT), XLEN, non-blocking XREAD
 * from an id over several streams, XTRIM (MAXLEN, MINID), XADD with
 * MAXLEN, and refused or bad input answered with -ERR while the connection
 * keeps working.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ts.h"
#include "ts_resp_fixture.h"

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

TestSuite(resp_stream, .init = setup, .fini = teardown, .timeout = 60);

static redisReply *cmdv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    cr_assert_not_null(r, "no reply to %s: %s", argv[0], c->errstr);
    return r;
}

/* XADD key * f v ...; returns the id (static buffer per call site use). */
static void xadd(redisContext *c, char *id, size_t cap, const char *key, int npairs,
                 const char *const *fv, const size_t *fvlen)
{
    const char *argv[64];
    size_t lens[64];
    cr_assert(npairs * 2 + 3 <= 64);
    argv[0] = "XADD";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    argv[2] = "*";
    lens[2] = 1;
    for (int i = 0; i < 2 * npairs; i++) {
        argv[3 + i] = fv[i];
        lens[3 + i] = fvlen ? fvlen[i] : strlen(fv[i]);
    }
    redisReply *r = cmdv(c, 3 + 2 * npairs, argv, lens);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "XADD: type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert(strchr(r->str, '-') != NULL, "id %s is ts-seq", r->str);
    snprintf(id, cap, "%s", r->str);
    freeReplyObject(r);
}

static bool bulk_eq(const redisReply *r, const void *p, size_t n)
{
    return r->type == REDIS_REPLY_STRING && r->len == n && memcmp(r->str, p, n) == 0;
}

/* Check one entry [id, [f, v, ...]] against pairs. */
static void check_entry(const redisReply *e, const char *id, int npairs, const char *const *fv,
                        const size_t *fvlen)
{
    cr_assert_eq(e->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(e->elements, 2);
    if (id) {
        cr_assert_str_eq(e->element[0]->str, id);
    }
    const redisReply *f = e->element[1];
    cr_assert_eq(f->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(f->elements, (size_t)(2 * npairs), "pairs: %zu", f->elements);
    for (int i = 0; i < 2 * npairs; i++) {
        size_t n = fvlen ? fvlen[i] : strlen(fv[i]);
        cr_assert(bulk_eq(f->element[i], fv[i], n), "field/value %d differs", i);
    }
}

Test(resp_stream, xadd_xrange_round_trip)
{
    redisContext *c = ts_resp_conn(&sc);
    /* Every pair a header (first field is not `payload`), with a binary
     * value holding NUL, CR and LF. */
    static const char bin[] = {'a', 0, '\r', '\n', (char)0xff, 'z'};
    const char *p1[] = {"name", "ada", "blob", bin, "payload", "late"};
    const size_t l1[] = {4, 3, 4, sizeof(bin), 7, 4};
    /* `payload` first: the record payload, binary, then a header. */
    const char *p2[] = {"payload", bin, "k", ""};
    const size_t l2[] = {7, sizeof(bin), 1, 0};
    /* One pair, `payload` with an empty value. */
    const char *p3[] = {"payload", ""};
    const size_t l3[] = {7, 0};
    /* Duplicate field names keep their order. */
    const char *p4[] = {"x", "1", "x", "2"};
    char id1[64], id2[64], id3[64], id4[64];
    xadd(c, id1, sizeof(id1), "s:rt", 3, p1, l1);
    xadd(c, id2, sizeof(id2), "s:rt", 2, p2, l2);
    xadd(c, id3, sizeof(id3), "s:rt", 1, p3, l3);
    xadd(c, id4, sizeof(id4), "s:rt", 2, p4, NULL);
    cr_assert_eq(ts_resp_int(c, "XLEN s:rt"), 4);

    redisReply *r = ts_resp_cmd(c, "XRANGE s:rt - +");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 4);
    check_entry(r->element[0], id1, 3, p1, l1);
    check_entry(r->element[1], id2, 2, p2, l2);
    check_entry(r->element[2], id3, 1, p3, l3);
    check_entry(r->element[3], id4, 2, p4, NULL);
    freeReplyObject(r);

    /* Bounds: inclusive start, exclusive start, exclusive end, COUNT. */
    r = ts_resp_cmd(c, "XRANGE s:rt %s +", id2);
    cr_assert_eq(r->elements, 3);
    check_entry(r->element[0], id2, 2, p2, l2);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XRANGE s:rt (%s +", id2);
    cr_assert_eq(r->elements, 2);
    check_entry(r->element[0], id3, 1, p3, l3);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XRANGE s:rt - (%s", id3);
    cr_assert_eq(r->elements, 2);
    check_entry(r->element[1], id2, 2, p2, l2);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XRANGE s:rt %s %s", id2, id3);
    cr_assert_eq(r->elements, 2);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XRANGE s:rt - + COUNT 1");
    cr_assert_eq(r->elements, 1);
    check_entry(r->element[0], id1, 3, p1, l1);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XRANGE s:rt - + COUNT 0");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);

    /* A stream that does not exist: empty, length 0. */
    r = ts_resp_cmd(c, "XRANGE s:none - +");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "XLEN s:none"), 0);
    redisFree(c);
}

Test(resp_stream, xread_from_ids)
{
    redisContext *c = ts_resp_conn(&sc);
    const char *pa[] = {"payload", "a1"};
    const char *pb[] = {"payload", "b1"};
    const char *pa2[] = {"payload", "a2"};
    char a1[64], b1[64], a2[64];
    xadd(c, a1, sizeof(a1), "s:ra", 1, pa, NULL);
    xadd(c, b1, sizeof(b1), "s:rb", 1, pb, NULL);
    xadd(c, a2, sizeof(a2), "s:ra", 1, pa2, NULL);

    redisReply *r = ts_resp_cmd(c, "XREAD COUNT 10 STREAMS s:ra s:rb 0 0");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 2);
    cr_assert_str_eq(r->element[0]->element[0]->str, "s:ra");
    cr_assert_eq(r->element[0]->element[1]->elements, 2);
    check_entry(r->element[0]->element[1]->element[1], a2, 1, pa2, NULL);
    cr_assert_str_eq(r->element[1]->element[0]->str, "s:rb");
    check_entry(r->element[1]->element[1]->element[0], b1, 1, pb, NULL);
    freeReplyObject(r);

    /* Ids are exclusive: after a1 only a2; nothing after b1 is omitted. */
    r = ts_resp_cmd(c, "XREAD STREAMS s:ra s:rb %s %s", a1, b1);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->element[0]->str, "s:ra");
    cr_assert_eq(r->element[0]->element[1]->elements, 1);
    check_entry(r->element[0]->element[1]->element[0], a2, 1, pa2, NULL);
    freeReplyObject(r);

    /* Nothing newer: nil; "$" without BLOCK: nil. */
    r = ts_resp_cmd(c, "XREAD STREAMS s:ra %s", a2);
    cr_assert_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XREAD STREAMS s:ra $");
    cr_assert_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);

    /* COUNT bounds each stream. */
    r = ts_resp_cmd(c, "XREAD COUNT 1 STREAMS s:ra 0");
    cr_assert_eq(r->element[0]->element[1]->elements, 1);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_stream, xtrim_and_xadd_maxlen)
{
    redisContext *c = ts_resp_conn(&sc);
    char ids[6][64];
    for (int i = 0; i < 6; i++) {
        char v[8];
        snprintf(v, sizeof(v), "v%d", i);
        const char *pv[] = {"payload", v};
        xadd(c, ids[i], sizeof(ids[i]), "s:trim", 1, pv, NULL);
    }
    cr_assert_eq(ts_resp_int(c, "XTRIM s:trim MAXLEN 4"), 2);
    cr_assert_eq(ts_resp_int(c, "XLEN s:trim"), 4);
    /* MINID keeps ids >= the given one. */
    cr_assert_eq(ts_resp_int(c, "XTRIM s:trim MINID = %s", ids[3]), 1);
    redisReply *r = ts_resp_cmd(c, "XRANGE s:trim - + COUNT 1");
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->element[0]->str, ids[3]);
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "XTRIM s:trim MINID 0"), 0);

    /* XADD MAXLEN trims after the append. */
    r = ts_resp_cmd(c, "XADD s:trim MAXLEN 2 * payload new");
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "XLEN s:trim"), 2);
    cr_assert_eq(ts_resp_int(c, "XTRIM s:trim MAXLEN 0"), 2);
    cr_assert_eq(ts_resp_int(c, "XLEN s:trim"), 0);
    redisFree(c);
}

Test(resp_stream, bad_input_keeps_connection)
{
    redisContext *c = ts_resp_conn(&sc);
    static const char *const bad[] = {
        "XADD s:bad 1-1 f v",          /* explicit id: Flo assigns ids */
        "XADD s:bad abc f v",          /* not an id */
        "XADD s:bad * f",              /* odd pairs */
        "XADD s:bad NOMKSTREAM * f v", /* refused */
        "XRANGE s:bad x +",
        "XRANGE s:bad - + COUNT z",
        "XRANGE s:bad - + LIMIT 1",
        "XREAD STREAMS s:bad",
        "XREAD STREAMS s:bad nope",
        "XREAD BLOCK -1 STREAMS s:bad $",
        "XREADGROUP GROUP g c STREAMS s:bad 0-x",
        "XREADGROUP STREAMS s:bad >",
        "XTRIM s:bad MAXLEN -1",
        "XTRIM s:bad FOO 1",
        "XTRIM s:bad MINID bad",
        "XTRIM s:bad MAXLEN 1 LIMIT 10",
        "XDEL s:bad 1-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = ts_resp_cmd(c, bad[i]);
        cr_assert_eq(r->type, REDIS_REPLY_ERROR, "'%s' gave type %d", bad[i], r->type);
        cr_assert(strncmp(r->str, "ERR", 3) == 0, "'%s': %s", bad[i], r->str);
        freeReplyObject(r);
    }
    /* An empty `payload` followed by other fields cannot round-trip. */
    const char *argv[] = {"XADD", "s:bad", "*", "payload", "", "f", "v"};
    const size_t lens[] = {4, 5, 1, 7, 0, 1, 1};
    redisReply *r = cmdv(c, 7, argv, lens);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "XLEN s:bad"), 0, "nothing was appended");
    r = ts_resp_cmd(c, "PING");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS);
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_stream, xread_block_released_and_timeout)
{
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    /* Timeout: nil after about the BLOCK time. */
    uint64_t t0 = ts_now_ms();
    redisReply *r = ts_resp_cmd(a, "XREAD BLOCK 300 STREAMS s:blk $");
    cr_assert_eq(r->type, REDIS_REPLY_NIL, "type %d", r->type);
    freeReplyObject(r);
    uint64_t took = ts_now_ms() - t0;
    cr_assert(took >= 250 && took < 4000, "took %llu ms", (unsigned long long)took);

    /* Blocked on `$` of two streams; another client is served meanwhile
     * and its XADD releases the reader. */
    cr_assert_eq(redisAppendCommand(a, "XREAD BLOCK 5000 STREAMS s:blk s:blk2 $ $"), REDIS_OK);
    cr_assert_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    r = ts_resp_cmd(b, "PING");
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    r = ts_resp_cmd(b, "XRANGE s:blk - +");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    const char *pv[] = {"payload", "wake", "h", "1"};
    char id[64];
    xadd(b, id, sizeof(id), "s:blk2", 2, pv, NULL);
    void *out = NULL;
    cr_assert_eq(redisGetReply(a, &out), REDIS_OK, "blocked reader: %s", a->errstr);
    r = out;
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d", r->type);
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->element[0]->str, "s:blk2");
    cr_assert_eq(r->element[0]->element[1]->elements, 1);
    check_entry(r->element[0]->element[1]->element[0], id, 2, pv, NULL);
    freeReplyObject(r);
    /* The connection goes on. */
    cr_assert_eq(ts_resp_int(a, "XLEN s:blk2"), 1);
    redisFree(a);
    redisFree(b);
}

/* XREADGROUP ... > for one consumer: the ids it got (at most cap). */
static size_t group_read(redisContext *c, const char *consumer, const char *count, char ids[][64],
                         size_t cap)
{
    redisReply *r =
        ts_resp_cmd(c, "XREADGROUP GROUP g1 %s COUNT %s STREAMS s:grp >", consumer, count);
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "type %d (%s)", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 1);
    const redisReply *ents = r->element[0]->element[1];
    size_t n = ents->elements;
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 64, "%s", ents->element[i]->element[0]->str);
    }
    freeReplyObject(r);
    return n;
}

Test(resp_stream, groups_split_ack_pending_claim)
{
    redisContext *c = ts_resp_conn(&sc);
    redisReply *r = ts_resp_cmd(c, "XGROUP CREATE s:grp g1 $");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "$ is refused");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XGROUP CREATE s:grp g1 0 MKSTREAM");
    cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XGROUP CREATE s:grp g1 0");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "BUSYGROUP", 9) == 0, "%s", r->str);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XGROUP CREATECONSUMER s:grp nosuch c1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "NOGROUP", 7) == 0, "%s", r->str);
    freeReplyObject(r);
    cr_assert_eq(ts_resp_int(c, "XGROUP CREATECONSUMER s:grp g1 c1"), 1);

    char all[6][64];
    for (int i = 0; i < 6; i++) {
        char v[8];
        snprintf(v, sizeof(v), "m%d", i);
        const char *pv[] = {"payload", v};
        xadd(c, all[i], sizeof(all[i]), "s:grp", 1, pv, NULL);
    }
    /* Two consumers split the entries: none twice, none missing. */
    char got1[8][64], got2[8][64];
    size_t n1 = group_read(c, "c1", "2", got1, 8);
    size_t n2 = group_read(c, "c2", "10", got2, 8);
    cr_assert_eq(n1, 2);
    cr_assert_eq(n2, 4);
    cr_assert_eq(group_read(c, "c1", "10", got1 + n1, 8 - n1), 0, "nothing left");
    for (int i = 0; i < 6; i++) {
        int seen = 0;
        for (size_t k = 0; k < n1; k++) {
            seen += strcmp(got1[k], all[i]) == 0;
        }
        for (size_t k = 0; k < n2; k++) {
            seen += strcmp(got2[k], all[i]) == 0;
        }
        cr_assert_eq(seen, 1, "entry %s delivered %d times", all[i], seen);
    }

    /* XPENDING summary: 6 pending, c1 has 2, c2 has 4. */
    r = ts_resp_cmd(c, "XPENDING s:grp g1");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 4);
    cr_assert_eq(r->element[0]->integer, 6);
    cr_assert_str_eq(r->element[1]->str, all[0]);
    cr_assert_str_eq(r->element[2]->str, all[5]);
    cr_assert_eq(r->element[3]->elements, 2);
    freeReplyObject(r);

    /* XACK counts what was pending, once. */
    cr_assert_eq(ts_resp_int(c, "XACK s:grp g1 %s %s %s", got1[0], got1[0], got1[1]), 2);
    cr_assert_eq(ts_resp_int(c, "XACK s:grp g1 %s", got1[0]), 0);

    /* Extended form: c2's four entries, delivery count 1. */
    r = ts_resp_cmd(c, "XPENDING s:grp g1 - + 10 c2");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 4);
    cr_assert_str_eq(r->element[0]->element[0]->str, got2[0]);
    cr_assert_str_eq(r->element[0]->element[1]->str, "c2");
    cr_assert_eq(r->element[0]->element[3]->integer, 1);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XPENDING s:grp g1 - + 1");
    cr_assert_eq(r->elements, 1);
    freeReplyObject(r);

    /* XAUTOCLAIM after an idle time: c1 takes c2's entries. */
    r = ts_resp_cmd(c, "XAUTOCLAIM s:grp g1 c1 60000 0-0 COUNT 10");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->element[1]->elements, 0, "nothing idle for a minute");
    freeReplyObject(r);
    usleep(300 * 1000);
    r = ts_resp_cmd(c, "XAUTOCLAIM s:grp g1 c1 200 0-0 COUNT 2");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 3);
    cr_assert_eq(r->element[1]->elements, 2);
    cr_assert_str_eq(r->element[1]->element[0]->element[0]->str, got2[0]);
    cr_assert_str_neq(r->element[0]->str, "0-0", "more to scan");
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XAUTOCLAIM s:grp g1 c1 200 %s COUNT 10", cursor);
    cr_assert_eq(r->element[1]->elements, 2);
    cr_assert_str_eq(r->element[0]->str, "0-0", "scan complete");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XPENDING s:grp g1 - + 10 c1");
    cr_assert_eq(r->elements, 4);
    cr_assert_eq(r->element[0]->element[3]->integer, 2, "claimed: delivered twice");
    freeReplyObject(r);

    /* DELCONSUMER reports the consumer's pending count. */
    cr_assert_eq(ts_resp_int(c, "XGROUP DELCONSUMER s:grp g1 c2"), 0);

    /* NOACK: read entries are not pending. */
    const char *pv[] = {"payload", "noack"};
    char id[64];
    xadd(c, id, sizeof(id), "s:grp", 1, pv, NULL);
    r = ts_resp_cmd(c, "XREADGROUP GROUP g1 c3 NOACK STREAMS s:grp >");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XPENDING s:grp g1");
    cr_assert_eq(r->element[0]->integer, 4);
    freeReplyObject(r);

    /* XREADGROUP BLOCK times out with nil. */
    r = ts_resp_cmd(c, "XREADGROUP GROUP g1 c3 BLOCK 200 STREAMS s:grp >");
    cr_assert_eq(r->type, REDIS_REPLY_NIL, "type %d", r->type);
    freeReplyObject(r);

    /* XINFO STREAM. */
    r = ts_resp_cmd(c, "XINFO STREAM s:grp");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 12);
    cr_assert_str_eq(r->element[0]->str, "length");
    cr_assert_eq(r->element[1]->integer, 7);
    cr_assert_str_eq(r->element[3]->str, id);
    cr_assert_str_eq(r->element[9]->element[0]->str, all[0]);
    cr_assert_str_eq(r->element[11]->element[0]->str, id);
    freeReplyObject(r);

    cr_assert_eq(ts_resp_int(c, "XGROUP DESTROY s:grp g1"), 1);
    cr_assert_eq(ts_resp_int(c, "XGROUP DESTROY s:grp g1"), 0);
    r = ts_resp_cmd(c, "XPENDING s:grp g1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(strncmp(r->str, "NOGROUP", 7) == 0, "%s", r->str);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XGROUP SETID s:grp g1 0");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XCLAIM s:grp g1 c1 0 %s", id);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
}

Test(resp_stream, blocked_client_goes_away)
{
    /* A client closing while its XREAD / XREADGROUP is blocked: the
     * sidecar drops its reads and keeps serving others. */
    redisContext *a = ts_resp_conn(&sc), *b = ts_resp_conn(&sc);
    cr_assert_eq(redisAppendCommand(a, "XREAD BLOCK 3000 STREAMS s:gone $"), REDIS_OK);
    cr_assert_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    redisContext *a2 = ts_resp_conn(&sc);
    cr_assert_eq(redisAppendCommand(a2, "XREADGROUP GROUP gg c BLOCK 3000 STREAMS s:gone >"),
                 REDIS_OK);
    cr_assert_eq(redisBufferWrite(a2, &(int){0}), REDIS_OK);
    usleep(100 * 1000);
    redisFree(a);
    redisFree(a2);
    redisReply *r = ts_resp_cmd(b, "PING");
    cr_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    const char *pv[] = {"payload", "after"};
    char id[64];
    xadd(b, id, sizeof(id), "s:gone", 1, pv, NULL);
    cr_assert_eq(ts_resp_int(b, "XLEN s:gone"), 1);
    redisFree(b);
}

Test(resp_stream, xrevrange_pages_newest_first)
{
    redisContext *c = ts_resp_conn(&sc);
    /* 1200 entries: more than one forward page of 1000. Pipelined. */
    enum { N = 1200 };
    for (int i = 0; i < N; i++) {
        cr_assert_eq(redisAppendCommand(c, "XADD s:rev * payload v%d", i), REDIS_OK);
    }
    char first[64] = "", last[64] = "", mid[64] = "";
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        cr_assert_eq(redisGetReply(c, &out), REDIS_OK);
        redisReply *r = out;
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        if (i == 0) {
            snprintf(first, sizeof(first), "%s", r->str);
        } else if (i == 600) {
            snprintf(mid, sizeof(mid), "%s", r->str);
        } else if (i == N - 1) {
            snprintf(last, sizeof(last), "%s", r->str);
        }
        freeReplyObject(r);
    }
    redisReply *r = ts_resp_cmd(c, "XREVRANGE s:rev + - COUNT 3");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    cr_assert_eq(r->elements, 3);
    cr_assert_str_eq(r->element[0]->element[0]->str, last);
    cr_assert_str_eq(r->element[0]->element[1]->element[1]->str, "v1199");
    cr_assert_str_eq(r->element[2]->element[1]->element[1]->str, "v1197");
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XREVRANGE s:rev %s - COUNT 5000", mid);
    cr_assert_eq(r->elements, 601);
    cr_assert_str_eq(r->element[0]->element[0]->str, mid);
    cr_assert_str_eq(r->element[600]->element[0]->str, first);
    freeReplyObject(r);
    r = ts_resp_cmd(c, "XREVRANGE s:rev (%s %s", mid, mid);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    redisFree(c);
}
