/*
 * The HTTP/JSON front end: libmicrohttpd in external-event (epoll) mode,
 * driven from the sidecar's libuv loop, translating REST routes into Flo
 * operations on the shared upstream pool.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include "proto.h"

typedef struct http_server http_server_t;

/*
 * Listen on "ADDR:PORT" (port 0 = any free port) on ctx->loop. ctx must
 * outlive the server. Returns 0 and *out, or a negative code.
 */
int http_server_new(const struct proto_ctx *ctx, const char *listen, http_server_t **out);
uint16_t http_server_port(const http_server_t *srv);
/* Stop accepting, resume and finish suspended requests with 503, free. */
void http_server_close(http_server_t *srv);

#endif
