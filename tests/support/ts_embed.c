/*
 * The embedded flo-dev + pool of the protocol-layer unit tests (see
 * ts_embed.h).
 */
#include "ts_embed.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "flo/flo_log.h"

#define TS_EMBED_WAIT_MS 5000 /* pool start-up and shutdown bound */

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static void ready_cb(void *arg, bool ready)
{
    *(bool *)arg = ready;
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

bool ts_embed_run_until(struct ts_embed *e, const bool *flag, unsigned ms)
{
    uint64_t end = uv_now(&e->loop) + ms;
    while (!*flag && uv_now(&e->loop) < end) {
        uv_run(&e->loop, UV_RUN_ONCE);
    }
    return *flag;
}

void ts_embed_run_for(struct ts_embed *e, unsigned ms)
{
    uint64_t end = uv_now(&e->loop) + ms;
    while (uv_now(&e->loop) < end) {
        uv_run(&e->loop, UV_RUN_ONCE);
    }
}

void ts_embed_start(struct ts_embed *e, const char *log_env)
{
    if (log_env == NULL || getenv(log_env) == NULL) {
        flo_log_set_level(FLO_LOG_OFF);
    }
    e->dev = NULL;
    e->pool = NULL;
    cr_assert_eq(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->tick);
    uv_timer_start(&e->tick, tick_cb, 10, 10);
    struct dev_config dcfg = {.listen = "127.0.0.1:0", .api_key = NULL};
    cr_assert_eq(dev_server_new(&e->loop, &dcfg, &e->dev), 0);
    snprintf(e->addr, sizeof(e->addr), "127.0.0.1:%u", (unsigned)dev_server_port(e->dev));
    const char *addrs[] = {e->addr};
    struct flo_pool_config cfg;
    flo_pool_config_defaults(&cfg);
    cfg.addrs = addrs;
    cfg.naddrs = 1;
    e->ready = false;
    cfg.on_ready = ready_cb;
    cfg.on_ready_arg = &e->ready;
    cr_assert_eq(flo_pool_new(&e->loop, &cfg, &e->pool), 0);
    cr_assert(ts_embed_run_until(e, &e->ready, TS_EMBED_WAIT_MS), "pool never became ready");
}

void ts_embed_stop(struct ts_embed *e)
{
    if (e->pool != NULL) {
        bool closed = false;
        flo_pool_close(e->pool, flag_cb, &closed);
        ts_embed_run_until(e, &closed, TS_EMBED_WAIT_MS);
        e->pool = NULL;
    }
    if (e->dev != NULL) {
        dev_server_close(e->dev);
        e->dev = NULL;
    }
    uv_timer_stop(&e->tick);
    uv_close((uv_handle_t *)&e->tick, NULL);
    for (int i = 0; i < 100 && uv_loop_alive(&e->loop); i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
    }
    uv_walk(&e->loop, walk_close, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&e->loop), 0, "a handle was left open");
}
