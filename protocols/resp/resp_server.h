/*
 * The RESP (Redis protocol) front end: a libuv TCP listener whose clients'
 * commands are translated into Flo operations on the shared upstream pool.
 */
#ifndef RESP_SERVER_H
#define RESP_SERVER_H

#include "proto.h"

typedef struct resp_server resp_server_t;

/*
 * Listen on "ADDR:PORT" (port 0 = any free port) on ctx->loop. ctx must
 * outlive the server. Returns 0 and *out, or a negative libuv/FLO_E* code.
 */
int resp_server_new(const struct proto_ctx *ctx, const char *listen, resp_server_t **out);
uint16_t resp_server_port(const resp_server_t *srv);
/* Stop accepting and close every client; freed once libuv closed the handles. */
void resp_server_close(resp_server_t *srv);

/*
 * Graceful shutdown, called repeatedly (e.g. from a timer) before
 * resp_server_close: the first call closes the listener and stops taking
 * new commands (commands already received still run and are answered);
 * every call answers the blocked commands waiting at that moment with a
 * null reply (a blocking command's timeout reply), adding their number to
 * *ended (may be NULL), and returns how many commands are unanswered plus
 * how many clients still have reply bytes to write.
 */
unsigned resp_server_drain(resp_server_t *srv, unsigned *ended);

#endif
