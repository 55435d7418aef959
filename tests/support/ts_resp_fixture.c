/*
 * The RESP integration-test fixture (see ts_resp_fixture.h): process start
 * and stop through the HTTP fixture, and asserting hiredis helpers.
 */
#include "ts_resp_fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "ts_http_fixture.h"

void ts_resp_fixture_start(struct ts_flodev *dev, struct ts_sidecar *sc, const char *const extra[])
{
    signal(SIGPIPE, SIG_IGN);
    ts_http_fixture_start(dev, sc, extra);
}

void ts_resp_fixture_stop(struct ts_flodev *dev, struct ts_sidecar *sc)
{
    ts_http_fixture_stop(dev, sc);
}

redisContext *ts_resp_conn(const struct ts_sidecar *sc)
{
    redisContext *c = ts_redis(sc->resp_port);
    cr_assert_not_null(c, "cannot connect to the RESP port");
    return c;
}

const char *ts_resp_err_text(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)";
}

/* Run fmt and assert that a reply came, and of type `type`. */
static redisReply *vcmd(redisContext *c, int type, const char *fmt, va_list ap)
{
    redisReply *r = redisvCommand(c, fmt, ap);
    cr_assert_not_null(r, "no reply to '%s': %s", fmt, c->errstr);
    if (type >= 0) {
        cr_assert_eq(r->type, type, "'%s': type %d, want %d (%s)", fmt, r->type, type,
                     ts_resp_err_text(r));
    }
    return r;
}

redisReply *ts_resp_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, -1, fmt, ap);
    va_end(ap);
    return r;
}

long long ts_resp_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, REDIS_REPLY_INTEGER, fmt, ap);
    va_end(ap);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

void ts_resp_ok(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    freeReplyObject(vcmd(c, REDIS_REPLY_STATUS, fmt, ap));
    va_end(ap);
}

void ts_resp_expect_status(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, REDIS_REPLY_STATUS, fmt, ap);
    va_end(ap);
    cr_assert_str_eq(r->str, want, "'%s'", fmt);
    freeReplyObject(r);
}

void ts_resp_expect_int(redisContext *c, long long want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, REDIS_REPLY_INTEGER, fmt, ap);
    va_end(ap);
    cr_assert_eq(r->integer, want, "'%s': %lld, want %lld", fmt, r->integer, want);
    freeReplyObject(r);
}

void ts_resp_expect_nil(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    freeReplyObject(vcmd(c, REDIS_REPLY_NIL, fmt, ap));
    va_end(ap);
}

void ts_resp_expect_str(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, REDIS_REPLY_STRING, fmt, ap);
    va_end(ap);
    cr_assert_eq((size_t)r->len, strlen(want), "'%s': '%s', want '%s'", fmt, r->str, want);
    cr_assert_eq(memcmp(r->str, want, strlen(want)), 0, "'%s': '%s', want '%s'", fmt, r->str, want);
    freeReplyObject(r);
}

void ts_resp_expect_err(redisContext *c, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, REDIS_REPLY_ERROR, fmt, ap);
    va_end(ap);
    cr_assert_eq(strncmp(r->str, prefix, strlen(prefix)), 0, "'%s': '%s', want '%s...'", fmt,
                 r->str, prefix);
    freeReplyObject(r);
}

void ts_resp_send_only(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_eq(rc, REDIS_OK);
    int wdone = 0;
    while (!wdone) {
        cr_assert_eq(redisBufferWrite(c, &wdone), REDIS_OK, "write: %s", c->errstr);
    }
}

redisReply *ts_resp_read_reply(redisContext *c)
{
    void *r = NULL;
    cr_assert_eq(redisGetReply(c, &r), REDIS_OK, "read: %s", c->errstr);
    cr_assert_not_null(r);
    return r;
}
