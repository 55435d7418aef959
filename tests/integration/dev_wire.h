/*
 * Wire helpers shared by flo-dev's integration tests (devserver_test.c,
 * devserver_kv_test.c): one flo-dev process per test (`dev`), raw TCP
 * connections with socket timeouts, request encoding with libflo, and
 * response reading with header and CRC checks. Header-only (static inline)
 * so each test executable gets its own copy and unused helpers cost nothing.
 */
#ifndef DEV_WIRE_H
#define DEV_WIRE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "ts.h"

#define IO_TIMEOUT_MS 8000
#define MAX_BODY      (4u << 20)

static struct ts_flodev dev;

static struct ts_flodev dev; /* the flo-dev of the running test */

/* ---- helpers ---- */

struct rsp {
    uint64_t id;
    uint8_t status;
    uint8_t *frame; /* malloc'd whole frame */
    flo_buf_t body; /* view into frame */
};

static inline void rsp_free(struct rsp *r)
{
    free(r->frame);
    r->frame = NULL;
}

static inline int cx(void)
{
    int fd = ts_connect(dev.port, IO_TIMEOUT_MS);
    cr_assert_geq(fd, 0, "connect to flo-dev");
    return fd;
}

/* Read one response frame and verify its header and CRC. */
static inline void rd(int fd, struct rsp *r)
{
    uint8_t h[FLO_HEADER_SIZE];
    cr_assert_eq(ts_read_full(fd, h, sizeof h), 0, "no response header (timeout or EOF)");
    uint32_t n = flo_ld32(h + 4);
    cr_assert_leq(n, MAX_BODY);
    r->frame = malloc(FLO_HEADER_SIZE + n + 1);
    cr_assert_not_null(r->frame);
    memcpy(r->frame, h, sizeof h);
    cr_assert_eq(ts_read_full(fd, r->frame + FLO_HEADER_SIZE, n), 0, "short response body");
    struct flo_frame f;
    long got =
        flo_frame_decode(r->frame, FLO_HEADER_SIZE + n, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &f);
    cr_assert_eq(got, (long)(FLO_HEADER_SIZE + n), "response frame invalid: %ld", got);
    r->id = f.request_id;
    r->status = f.status;
    r->body = f.body;
}

static inline void send_req(int fd, uint16_t op, uint64_t id, const char *ns, flo_buf_t key,
                            flo_buf_t value, flo_buf_t opts)
{
    struct flo_wbuf w;
    flo_wbuf_init(&w);
    struct flo_req q = {.op = op,
                        .request_id = id,
                        .ns = FLO_BUF_STR(ns),
                        .key = key,
                        .value = value,
                        .opts = opts};
    cr_assert_eq(flo_req_encode(&w, &q), 0);
    cr_assert_eq(ts_write_full(fd, w.data, w.len), 0);
    flo_wbuf_free(&w);
}

/* Send and read the reply, which must carry the same id. */
static inline struct rsp call(int fd, uint16_t op, const char *ns, const char *key, flo_buf_t value,
                              flo_buf_t opts)
{
    static uint64_t next_id = 1000;
    uint64_t id = ++next_id;
    send_req(fd, op, id, ns, FLO_BUF_STR(key), value, opts);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, id, "reply id %llu for request %llu", (unsigned long long)r.id,
                 (unsigned long long)id);
    return r;
}

static inline void expect(struct rsp *r, uint8_t status, const char *text)
{
    cr_assert_eq(r->status, status, "status %u, want %u (body '%.*s')", r->status, status,
                 (int)r->body.len, (const char *)r->body.ptr);
    if (text != NULL) {
        cr_assert_eq(r->body.len, strlen(text), "body '%.*s', want '%s'", (int)r->body.len,
                     (const char *)r->body.ptr, text);
        cr_assert(memcmp(r->body.ptr, text, r->body.len) == 0);
    }
}

/* Put without options; returns the version. */
static inline uint64_t put(int fd, const char *ns, const char *key, const char *val)
{
    struct rsp r = call(fd, FLO_OP_KV_PUT, ns, key, FLO_BUF_STR(val), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t v = 0;
    cr_assert_eq(flo_kv_dec_version(r.body, &v), 0);
    cr_assert_eq(r.body.len, 8);
    cr_assert_neq(v, 0);
    rsp_free(&r);
    return v;
}

static inline void expect_eof(int fd)
{
    char b;
    ssize_t n = read(fd, &b, 1);
    cr_assert_eq(n, 0, "expected the server to close the connection (read %zd)", n);
}

static inline flo_buf_t opts_u64(struct flo_wbuf *o, uint8_t tag, uint64_t v)
{
    flo_wbuf_reset(o);
    cr_assert_eq(flo_opt_u64(o, tag, v), 0);
    return flo_wbuf_view(o);
}

static inline flo_buf_t opts_u32(struct flo_wbuf *o, uint8_t tag, uint32_t v)
{
    flo_wbuf_reset(o);
    cr_assert_eq(flo_opt_u32(o, tag, v), 0);
    return flo_wbuf_view(o);
}

static inline flo_buf_t opts_flag(struct flo_wbuf *o, uint8_t tag)
{
    flo_wbuf_reset(o);
    cr_assert_eq(flo_opt_flag(o, tag), 0);
    return flo_wbuf_view(o);
}

/* json_set value: [path_len u16][path][json] */
static inline flo_buf_t json_set_value(struct flo_wbuf *v, const char *path, const char *json)
{
    flo_wbuf_reset(v);
    cr_assert_eq(flo_kv_json_set_value(v, FLO_BUF_STR(path), FLO_BUF_STR(json)), 0);
    return flo_wbuf_view(v);
}

/* BEGIN on `key`; returns the txn id. */
static inline uint64_t txn_begin(int fd, const char *key)
{
    struct rsp r = call(fd, FLO_OP_KV_BEGIN_TXN, "default", key, FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t id, hash;
    cr_assert_eq(flo_kv_dec_begin(r.body, &id, &hash), 0);
    cr_assert_neq(id, 0);
    rsp_free(&r);
    return id;
}

/* TLV with txn_id and routing_key. */
static inline flo_buf_t txn_opts(struct flo_wbuf *o, uint64_t id, const char *routing)
{
    flo_wbuf_reset(o);
    if (routing != NULL) {
        cr_assert_eq(flo_opt_bytes(o, FLO_OPT_ROUTING_KEY, routing, strlen(routing)), 0);
    }
    cr_assert_eq(flo_opt_u64(o, FLO_OPT_TXN_ID, id), 0);
    return flo_wbuf_view(o);
}

#endif
