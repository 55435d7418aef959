/*
 * Byte-for-byte comparison of RESP replies with a real redis-server: the
 * oracle the RESP integration tests use for every command whose replies the
 * docs claim identical to Redis's.
 */
#ifndef TS_RESP_CMP_H
#define TS_RESP_CMP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Send each command (inline form) to 127.0.0.1:port on one connection and
 * read exactly one RESP2 reply each. Returns "cmd => reply\n" lines
 * (malloc'd, caller frees) and their length. Fails the test on a missing
 * reply.
 */
char *ts_resp_collect(uint16_t port, const char *const *cmds, size_t n, size_t *len);

/*
 * Start redis-server on a free loopback port (skip the test if it is not
 * installed), run `cmds` against it and against the sidecar's RESP port, and
 * fail the test unless the replies are byte-identical.
 */
void ts_resp_compare_with_redis(uint16_t sidecar_port, const char *const *cmds, size_t n);

#endif
