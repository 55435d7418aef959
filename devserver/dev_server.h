/*
 * flo-dev: an in-memory single-node server speaking Flo's binary protocol
 * with Flo's semantics (shared/flo-protocol-*.md). This is its embedding API,
 * used by devserver/main.c and by `flo-sidecar --dev`, which runs it on the
 * sidecar's own loop.
 */
#ifndef DEV_SERVER_H
#define DEV_SERVER_H

#include <stdint.h>
#include <uv.h>

typedef struct dev_server dev_server_t;

struct dev_config {
    const char *listen;  /* "ADDR:PORT"; port 0 = pick a free one */
    const char *api_key; /* NULL = AUTH answers "not implemented", as a real server */
};

/*
 * Bind, listen and serve on `loop`. Returns 0 and *out, or a negative
 * libuv/FLO_E* code (bind failure, bad address). The caller owns the server
 * and ends it with dev_server_close.
 */
int dev_server_new(uv_loop_t *loop, const struct dev_config *cfg, dev_server_t **out);
/* The bound port (useful with port 0). */
uint16_t dev_server_port(const dev_server_t *srv);
/* Stop listening, close every connection; memory is freed once libuv has
 * closed all handles (keep running the loop). */
void dev_server_close(dev_server_t *srv);

#endif
