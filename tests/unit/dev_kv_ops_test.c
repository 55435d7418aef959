/*
 * Unit tests of flo-dev's KV wire handlers (devserver/dev_kv_ops.c) that
 * need to look inside the server: flo-dev is embedded on a private libuv
 * loop in this process, a real loopback socket sends the frames, and the
 * test reads the waiter registry directly. This is the only way to check
 * the block_ms / wait_ms cap (300000 ms) without waiting five minutes.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "dev_internal.h"
#include "dev_server.h"
#include "flo/flo_codec.h"
#include "flo/flo_error.h"

#define STEP_BOUND_MS 3000 /* every loop-driving wait below ends by then */

static uv_loop_t loop;
static dev_server_t *srv;
static int fd = -1;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    struct dev_config cfg = {.listen = "127.0.0.1:0"};
    cr_assert_eq(dev_server_new(&loop, &cfg, &srv), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(dev_server_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The kernel completes the handshake from the listen backlog. */
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
}

static void teardown(void)
{
    if (fd >= 0) {
        close(fd);
    }
    dev_server_close(srv);
    uint64_t until = uv_now(&loop) + STEP_BOUND_MS;
    while (uv_loop_alive(&loop) && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(&loop);
    }
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
}

TestSuite(dev_kv_ops, .init = setup, .fini = teardown, .timeout = 20);

static void send_get(uint64_t id, const char *key, uint8_t tag, uint32_t ms)
{
    struct flo_wbuf o, w;
    flo_wbuf_init(&o);
    flo_wbuf_init(&w);
    cr_assert_eq(flo_opt_u32(&o, tag, ms), 0);
    struct flo_req q = {.op = FLO_OP_KV_GET,
                        .request_id = id,
                        .ns = FLO_BUF_STR("default"),
                        .key = FLO_BUF_STR(key),
                        .opts = flo_wbuf_view(&o)};
    cr_assert_eq(flo_req_encode(&w, &q), 0);
    cr_assert_eq(write(fd, w.data, w.len), (ssize_t)w.len);
    flo_wbuf_free(&o);
    flo_wbuf_free(&w);
}

/* Drive the loop until `n` waiters are parked (bounded). */
static void run_until_waiters(size_t n)
{
    uint64_t until = uv_now(&loop) + STEP_BOUND_MS;
    while (dev__wait_count(srv) < n && uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(&loop);
    }
    cr_assert_eq(dev__wait_count(srv), n);
}

/* The longest time left among the parked waiters. */
static uint64_t max_left(void)
{
    uint64_t now = uv_now(&loop), best = 0;
    for (size_t i = 0; i < srv->waits.len; i++) {
        uint64_t d = srv->waits.heap[i]->deadline;
        uint64_t left = d > now ? d - now : 0;
        best = left > best ? left : best;
    }
    return best;
}

Test(dev_kv_ops, block_ms_above_the_maximum_is_capped_at_300000)
{
    send_get(1, "absent", FLO_OPT_BLOCK_MS, UINT32_MAX);
    run_until_waiters(1);
    uint64_t left = max_left();
    cr_assert_leq(left, FLO_MAX_BLOCK_MS);
    cr_assert_geq(left, FLO_MAX_BLOCK_MS - STEP_BOUND_MS);
}

Test(dev_kv_ops, wait_ms_above_the_maximum_is_capped_and_small_values_kept)
{
    send_get(1, "w1", FLO_OPT_WAIT_MS, FLO_MAX_BLOCK_MS + 1);
    run_until_waiters(1);
    cr_assert_leq(max_left(), FLO_MAX_BLOCK_MS);
    cr_assert_geq(max_left(), FLO_MAX_BLOCK_MS - STEP_BOUND_MS);
    send_get(2, "w2", FLO_OPT_WAIT_MS, 5000);
    run_until_waiters(2);
    /* The smaller deadline is at the heap's root. */
    uint64_t d = srv->waits.heap[0]->deadline - uv_now(&loop);
    cr_assert_leq(d, 5000);
    cr_assert_geq(d, 5000 - STEP_BOUND_MS);
}
