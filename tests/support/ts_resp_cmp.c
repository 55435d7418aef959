/*
 * Byte-for-byte comparison of RESP replies with a real redis-server (see
 * ts_resp_cmp.h).
 */
#include "ts_resp_cmp.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts.h"

#define CMP_IO_MS     5000
#define CMP_REPLY_MAX 4096
#define CMP_OUT_MAX   (1 << 16)

/* Read one complete RESP2 reply (lines, bulks, nested arrays); its length,
 * or -1 on EOF, timeout or a reply larger than the buffer. */
static long read_one(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = 0;
        const char *p = buf, *end = buf + len;
        long need = 1;
        bool ok = true;
        while (need > 0) {
            const char *cr = memchr(p, '\r', (size_t)(end - p));
            if (!cr || cr + 1 >= end) {
                ok = false;
                break;
            }
            char type = p[0];
            long v = atol(p + 1);
            p = cr + 2;
            need--;
            if (type == '*' && v > 0) {
                need += v;
            } else if (type == '$' && v >= 0) {
                if (p + v + 2 > end) {
                    ok = false;
                    break;
                }
                p += v + 2;
            }
        }
        if (ok) {
            return (long)len;
        }
        if (len + 1 >= cap) {
            return -1;
        }
    }
}

char *ts_resp_collect(uint16_t port, const char *const *cmds, size_t n, size_t *outlen)
{
    int fd = ts_connect(port, CMP_IO_MS);
    cr_assert_geq(fd, 0);
    size_t len = 0;
    char *all = malloc(CMP_OUT_MAX);
    cr_assert_not_null(all);
    for (size_t i = 0; i < n; i++) {
        char line[256];
        int w = snprintf(line, sizeof(line), "%s\r\n", cmds[i]);
        cr_assert(w > 0 && (size_t)w < sizeof(line), "command too long: %s", cmds[i]);
        cr_assert_eq(ts_write_full(fd, line, (size_t)w), 0);
        char r[CMP_REPLY_MAX];
        long l = read_one(fd, r, sizeof(r));
        cr_assert_gt(l, 0, "no reply to '%s' from port %u", cmds[i], port);
        int m = snprintf(all + len, CMP_OUT_MAX - len, "%s => %.*s\n", cmds[i], (int)l, r);
        cr_assert(m > 0 && (size_t)m < CMP_OUT_MAX - len, "comparison transcript too long");
        len += (size_t)m;
    }
    close(fd);
    *outlen = len;
    return all;
}

void ts_resp_compare_with_redis(uint16_t sidecar_port, const char *const *cmds, size_t n)
{
    struct ts_proc redis = {0};
    uint16_t rport = ts_free_port();
    char pbuf[8];
    snprintf(pbuf, sizeof(pbuf), "%u", rport);
    const char *argv[] = {
        "/usr/bin/redis-server", "--port", pbuf, "--bind", "127.0.0.1", "--save", "",
        "--appendonly",          "no",     NULL};
    if (access(argv[0], X_OK) != 0) {
        cr_skip_test("redis-server is not installed: comparison skipped");
    }
    cr_assert_eq(ts_spawn(&redis, argv), 0);
    if (ts_wait_port(rport, TS_WAIT_MS) != 0) {
        ts_stop(&redis);
        cr_assert_fail("redis-server did not start");
    }
    size_t la, lb;
    char *a = ts_resp_collect(rport, cmds, n, &la);
    char *b = ts_resp_collect(sidecar_port, cmds, n, &lb);
    ts_stop(&redis);
    cr_assert_eq(la, lb, "redis-server:\n%s\nflo-sidecar:\n%s", a, b);
    cr_assert_eq(memcmp(a, b, la), 0, "redis-server:\n%s\nflo-sidecar:\n%s", a, b);
    free(a);
    free(b);
}
