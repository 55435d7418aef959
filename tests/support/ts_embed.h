/*
 * flo-dev embedded in a unit test's process: one libuv loop runs the
 * flo-dev engine on a free loopback port and a flo_pool connected to it, so
 * protocol-layer code (transactions, sessions) can be driven against real
 * frames without spawning processes. Failures are Criterion assertions, so
 * this is only for use inside tests and their init / fini hooks.
 */
#ifndef TS_EMBED_H
#define TS_EMBED_H

#include <stdbool.h>
#include <uv.h>

#include "dev_server.h"
#include "flo/flo_pool.h"

/* One embedded upstream. The test may replace dev (close it, set NULL, start
 * another on the same loop) or pool; ts_embed_stop closes what is set. */
struct ts_embed {
    uv_loop_t loop;
    uv_timer_t tick; /* keeps UV_RUN_ONCE from sleeping unboundedly */
    dev_server_t *dev;
    flo_pool_t *pool;
    char addr[64]; /* "127.0.0.1:<port>" of dev */
    bool ready;    /* the pool's last readiness report (it outlives start) */
};

/* Silence the library log unless the environment variable log_env is set
 * (NULL: always silence), init the loop, start flo-dev on a free port and a
 * pool with default settings against it, and wait until the pool is ready.
 * Asserts on failure. */
void ts_embed_start(struct ts_embed *e, const char *log_env);
/* Close the pool and flo-dev, close every handle left on the loop and the
 * loop itself (asserting that nothing stayed open). */
void ts_embed_stop(struct ts_embed *e);

/* Run the loop until *flag is true or ms passed; returns *flag. */
bool ts_embed_run_until(struct ts_embed *e, const bool *flag, unsigned ms);
/* Run the loop for ms milliseconds. */
void ts_embed_run_for(struct ts_embed *e, unsigned ms);

#endif
