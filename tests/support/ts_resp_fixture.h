/*
 * The fixture shared by the RESP integration tests: flo-dev and a
 * flo-sidecar in front of it on free loopback ports (the HTTP fixture's
 * start and stop, so a sanitizer report in the sidecar's log fails the
 * test), plus hiredis helpers that assert on the reply. Failures are
 * Criterion assertions, so these are only for use inside tests and their
 * init / fini hooks.
 */
#ifndef TS_RESP_FIXTURE_H
#define TS_RESP_FIXTURE_H

#include <hiredis/hiredis.h>

#include "ts.h"

/* Ignore SIGPIPE (tests write to sockets the sidecar may close), start
 * flo-dev, then flo-sidecar (extra arguments NULL-terminated, or NULL) and
 * wait until it is ready. Asserts on failure. */
void ts_resp_fixture_start(struct ts_flodev *dev, struct ts_sidecar *sc, const char *const extra[]);
/* Stop both (safe after a partial start); a sanitizer report in the
 * sidecar's log fails the test. */
void ts_resp_fixture_stop(struct ts_flodev *dev, struct ts_sidecar *sc);

/* A hiredis connection to the sidecar's RESP port (asserts). */
redisContext *ts_resp_conn(const struct ts_sidecar *sc);
/* Run a command; asserts that a reply came (the caller frees it). */
redisReply *ts_resp_cmd(redisContext *c, const char *fmt, ...);
/* Run a command whose reply must be an integer; returns it. */
long long ts_resp_int(redisContext *c, const char *fmt, ...);
/* Run a command whose reply must be a status (any text). */
void ts_resp_ok(redisContext *c, const char *fmt, ...);

/* Run a command and expect its reply: the status `want`, the integer
 * `want`, nil, the bulk string `want`, an error starting with `prefix`. */
void ts_resp_expect_status(redisContext *c, const char *want, const char *fmt, ...);
void ts_resp_expect_int(redisContext *c, long long want, const char *fmt, ...);
void ts_resp_expect_nil(redisContext *c, const char *fmt, ...);
void ts_resp_expect_str(redisContext *c, const char *want, const char *fmt, ...);
void ts_resp_expect_err(redisContext *c, const char *prefix, const char *fmt, ...);

/* Send a command without reading its reply (a long-poll in flight), and
 * read the next reply (asserts that one came). */
void ts_resp_send_only(redisContext *c, const char *fmt, ...);
redisReply *ts_resp_read_reply(redisContext *c);

/* The text of an error reply, "(not an error)" otherwise (for messages). */
const char *ts_resp_err_text(const redisReply *r);

#endif
