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

/*
 * Graceful shutdown, called repeatedly (e.g. from a timer) before
 * http_server_close: the first call stops accepting connections; every
 * call ends the long-polls and event streams waiting at that moment (a
 * long-poll answers 503 "shutting_down" with Connection: close, an event
 * stream ends), adding their number to *ended (may be NULL), and returns
 * how many other requests are still in progress (being received, waiting
 * for the upstream, or answered but not yet handed to libmicrohttpd).
 */
unsigned http_server_drain(http_server_t *srv, unsigned *ended);

/*
 * Sizing knobs (additive to the contract above; http_server_new uses the
 * defaults). Memory per waiting long-poll is dominated by conn_memory: each
 * connection's request line + headers must fit in about half of it, larger
 * request heads get 414/431 from libmicrohttpd.
 */
#define HTTP_DEFAULT_CONN_LIMIT 16384u /* concurrent HTTP connections */
/* 3 KiB of MHD pool per connection: ~52 MiB RSS for 10,000 waiting
 * long-polls (measured), request heads (request line + headers) up to about
 * 2.5 KiB; larger heads get 431 / 414 from libmicrohttpd. */
#define HTTP_DEFAULT_CONN_MEMORY    3072u
#define HTTP_DEFAULT_CONN_TIMEOUT_S 90u /* idle keep-alive connections */
struct http_server_opts {
    unsigned conn_limit;     /* MHD_OPTION_CONNECTION_LIMIT */
    size_t conn_memory;      /* MHD_OPTION_CONNECTION_MEMORY_LIMIT */
    unsigned conn_timeout_s; /* MHD_OPTION_CONNECTION_TIMEOUT (suspended
                                long-polls are not subject to it) */
};
void http_server_opts_defaults(struct http_server_opts *o);
/* http_server_new with explicit sizing; o NULL = defaults, with conn_limit
 * taken from ctx->limits.max_http_connections when that is set
 * (--max-http-connections). Over the limit libmicrohttpd stops accepting:
 * a new connection waits in the kernel's listen backlog, unanswered, until
 * a connection closes (docs/security.md). */
int http_server_new_opts(const struct proto_ctx *ctx, const char *listen,
                         const struct http_server_opts *o, http_server_t **out);

#endif
