/*
 * Integration tests of flo-dev: the real build/flo-dev binary on a free
 * loopback port, driven over raw TCP with frames from libflo's encoder and
 * the byte vectors of shared/flo-protocol-vectors-core.md. Covers the KV
 * vectors (status and body layout), versions, CAS/NX/XX, TTL expiry,
 * namespaces, reserved keys, unknown ops, framing errors, blocking GETs
 * answered out of order, disconnects with pending waiters, backpressure
 * and AUTH with and without --api-key. Every read has a socket timeout.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "dev_wire.h"
#include "ts.h"

static void start_dev(const char *const extra[])
{
    cr_assert_eq(ts_flodev_start(&dev, extra), 0, "flo-dev did not start");
}

static void start_plain(void)
{
    start_dev(NULL);
}

static void start_with_key(void)
{
    const char *const extra[] = {"--api-key", "s3cret", NULL};
    start_dev(extra);
}

static void stop_dev(void)
{
    ts_stop(&dev.proc);
}

TestSuite(devserver, .init = start_plain, .fini = stop_dev, .timeout = 60);
TestSuite(devserver_auth, .init = start_with_key, .fini = stop_dev, .timeout = 30);

/* ---- the protocol vectors ---- */

struct vec {
    int num;
    uint8_t *req;
    size_t req_len;
    uint8_t *resp;
    size_t resp_len;
};

/* Read the numbered vectors (request line, response line) from the file. */
static size_t load_vectors(struct vec *out, size_t max)
{
    FILE *f = fopen(FLO_VECTORS_DIR "/flo-protocol-vectors-core.md", "r");
    cr_assert_not_null(f, "vector file");
    char *line = NULL;
    size_t cap = 0, n = 0;
    int num = -1, have = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "## ", 3) == 0) {
            num = atoi(line + 3);
            have = 0;
            continue;
        }
        char *p = strstr(line, "Single line: `");
        if (p == NULL || num < 0 || n >= max) {
            continue;
        }
        p += strlen("Single line: `");
        char *end = strchr(p, '`');
        cr_assert_not_null(end);
        *end = '\0';
        if (have == 0) {
            out[n].num = num;
            cr_assert_eq(ts_hex_decode(p, &out[n].req, &out[n].req_len), 0);
            have = 1;
        } else if (have == 1) {
            cr_assert_eq(ts_hex_decode(p, &out[n].resp, &out[n].resp_len), 0);
            have = 2;
            n++;
        }
    }
    free(line);
    fclose(f);
    return n;
}

static uint64_t vec_id(const struct vec *v)
{
    return flo_ld64(v->req + 8);
}

/* Compare a reply with the vector's, allowing versions to differ: the
 * status must match, and the body must have the vector's layout. */
static void check_vector(const struct vec *v, struct rsp *r)
{
    uint8_t want_status = v->resp[21];
    flo_buf_t want = FLO_BUF(v->resp + FLO_HEADER_SIZE, v->resp_len - FLO_HEADER_SIZE);
    cr_assert_eq(r->id, vec_id(v), "vector %d: id", v->num);
    cr_assert_eq(r->status, want_status, "vector %d: status %u, want %u ('%.*s')", v->num,
                 r->status, want_status, (int)r->body.len, (const char *)r->body.ptr);
    uint16_t op = flo_ld16(v->req + 20);
    uint64_t ver;
    flo_buf_t val, wval;
    switch (want_status == FLO_STATUS_OK ? op : 0xFFFF) {
    case FLO_OP_KV_PUT: {
        uint64_t wver;
        cr_assert_eq(flo_kv_dec_version(r->body, &ver), 0);
        cr_assert_eq(flo_kv_dec_version(want, &wver), 0);
        cr_assert_eq(r->body.len, 8);
        /* 0 only as the placeholder of a put inside a transaction */
        cr_assert_eq(ver == 0, wver == 0, "vector %d: version %llu", v->num,
                     (unsigned long long)ver);
        break;
    }
    case FLO_OP_KV_BEGIN_TXN: {
        uint64_t id, wid, hash;
        cr_assert_eq(r->body.len, 17);
        cr_assert_eq(r->body.ptr[0], 0);
        cr_assert_eq(flo_kv_dec_begin(r->body, &id, &hash), 0);
        cr_assert_eq(flo_kv_dec_begin(want, &wid, &hash), 0);
        cr_assert_eq(id, wid, "the vectors' next ops use txn id %llu", (unsigned long long)wid);
        break;
    }
    case FLO_OP_KV_COMMIT_TXN: {
        uint64_t idx;
        uint16_t cnt, wcnt;
        cr_assert_eq(r->body.len, 11);
        cr_assert_eq(r->body.ptr[0], 1);
        cr_assert_eq(flo_kv_dec_commit(r->body, &idx, &cnt), 0);
        cr_assert_eq(flo_kv_dec_commit(want, &idx, &wcnt), 0);
        cr_assert_eq(cnt, wcnt);
        break;
    }
    case FLO_OP_KV_GET:
        cr_assert_eq(flo_kv_dec_get(r->body, &ver, &val), 0);
        cr_assert_eq(flo_kv_dec_get(want, &ver, &wval), 0);
        cr_assert_eq(val.len, wval.len, "vector %d: value length", v->num);
        cr_assert(memcmp(val.ptr, wval.ptr, val.len) == 0, "vector %d: value", v->num);
        break;
    case FLO_OP_KV_JSON_GET:
        cr_assert_eq(flo_kv_dec_get(r->body, &ver, &val), 0);
        cr_assert_eq(flo_kv_dec_get(want, &ver, &wval), 0);
        cr_assert_eq(val.len, wval.len, "vector %d: JSON length", v->num);
        cr_assert(memcmp(val.ptr, wval.ptr, val.len) == 0, "vector %d: JSON", v->num);
        break;
    case FLO_OP_KV_JSON_SET:
        cr_assert_eq(flo_kv_dec_version(r->body, &ver), 0);
        cr_assert_eq(r->body.len, 8);
        cr_assert_neq(ver, 0);
        break;
    case FLO_OP_KV_INCR: {
        int64_t a, b;
        cr_assert_eq(flo_kv_dec_incr(r->body, &ver, &a), 0);
        cr_assert_eq(flo_kv_dec_incr(want, &ver, &b), 0);
        cr_assert_eq(a, b);
        cr_assert_eq(r->body.len, 16);
        break;
    }
    case FLO_OP_KV_EXISTS: {
        bool a, b;
        cr_assert_eq(flo_kv_dec_exists(r->body, &ver, &a), 0);
        cr_assert_neq(ver, 0);
        cr_assert_eq(flo_kv_dec_exists(want, &ver, &b), 0);
        cr_assert_eq(a, b);
        cr_assert_eq(r->body.len, 9);
        break;
    }
    case FLO_OP_KV_MGET: {
        struct flo_kv_mget_iter ia, ib;
        struct flo_kv_mget_entry ea, eb;
        cr_assert_eq(flo_kv_mget_begin(r->body, &ia), 0);
        cr_assert_eq(flo_kv_mget_begin(want, &ib), 0);
        cr_assert_eq(ia.remaining, ib.remaining);
        int ra, rb;
        while ((rb = flo_kv_mget_next(&ib, &eb)) == 1) {
            ra = flo_kv_mget_next(&ia, &ea);
            cr_assert_eq(ra, 1);
            cr_assert_eq(ea.found, eb.found);
            cr_assert_eq(ea.key.len, eb.key.len);
            cr_assert(memcmp(ea.key.ptr, eb.key.ptr, ea.key.len) == 0);
            cr_assert_eq(ea.value.len, eb.value.len);
            cr_assert(ea.value.len == 0 || memcmp(ea.value.ptr, eb.value.ptr, ea.value.len) == 0);
            cr_assert_eq(ea.version == 0, eb.version == 0);
        }
        cr_assert_eq(rb, 0);
        break;
    }
    case FLO_OP_KV_HISTORY: {
        struct flo_kv_history_iter ia, ib;
        struct flo_kv_history_entry ea, eb;
        uint32_t ca, cb;
        cr_assert_eq(flo_kv_history_begin(r->body, &ia, &ca), 0);
        cr_assert_eq(flo_kv_history_begin(want, &ib, &cb), 0);
        cr_assert_eq(ca, cb, "vector %d: history count", v->num);
        uint64_t prev = UINT64_MAX;
        while (flo_kv_history_next(&ib, &eb) == 1) {
            cr_assert_eq(flo_kv_history_next(&ia, &ea), 1);
            cr_assert_eq(ea.value.len, eb.value.len);
            cr_assert(memcmp(ea.value.ptr, eb.value.ptr, ea.value.len) == 0);
            cr_assert_lt(ea.version, prev, "newest first");
            prev = ea.version;
        }
        break;
    }
    default:
        /* No versions inside: byte-exact (scan, errors, empty bodies, PONG). */
        cr_assert_eq(r->body.len, want.len, "vector %d: body length %zu, want %zu", v->num,
                     r->body.len, want.len);
        cr_assert(memcmp(r->body.ptr, want.ptr, want.len) == 0, "vector %d: body", v->num);
    }
}

Test(devserver, every_core_vector_gives_its_status_and_layout)
{
    struct vec v[40];
    size_t n = load_vectors(v, 40);
    cr_assert_geq(n, 27, "found %zu vectors", n);
    int fd = cx();
    int other = cx();
    for (size_t i = 0; i < n; i++) {
        if (v[i].num == 26) {
            continue; /* bad CRC closes the connection: own test */
        }
        /* State the vector assumes. */
        if (v[i].num == 11) {
            put(other, "default", "user:1", "a");
            put(other, "default", "user:2", "b");
            put(other, "default", "zzz", "c");
        } else if (v[i].num == 17) {
            put(other, "default", "doc", "{\"name\": \"flo\"}");
        } else if (v[i].num == 12) {
            put(other, "default", "cfg", "v1");
            put(other, "default", "cfg", "v2");
        }
        cr_assert_eq(ts_write_full(fd, v[i].req, v[i].req_len), 0);
        if (v[i].num == 27) {
            /* wait_ms: the answer comes when another client writes */
            usleep(100 * 1000);
            put(other, "default", "greeting", "hello3");
        }
        struct rsp r;
        rd(fd, &r);
        check_vector(&v[i], &r);
        rsp_free(&r);
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].req);
        free(v[i].resp);
    }
    close(fd);
    close(other);
}

Test(devserver, bad_crc_answers_id0_invalid_request_then_closes)
{
    struct vec v[40];
    size_t n = load_vectors(v, 40);
    int fd = cx();
    bool done = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i].num == 26) {
            uint8_t buf[128];
            memcpy(buf, v[i].req, v[i].req_len);
            /* a valid PING pipelined behind it must be lost */
            memcpy(buf + v[i].req_len, v[0].req, v[0].req_len);
            cr_assert_eq(ts_write_full(fd, buf, v[i].req_len + v[0].req_len), 0);
            uint8_t got[64];
            cr_assert_eq(v[i].resp_len, 47);
            cr_assert_eq(ts_read_full(fd, got, v[i].resp_len), 0);
            cr_assert(memcmp(got, v[i].resp, v[i].resp_len) == 0, "byte-exact reply");
            expect_eof(fd);
            done = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].req);
        free(v[i].resp);
    }
    cr_assert(done, "vector 26 present");
    close(fd);
}

Test(devserver, bad_magic_closes_with_invalid_request)
{
    int fd = cx();
    cr_assert_eq(ts_write_full(fd, "*1\r\n$4\r\nPING\r\n", 14), 0);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, 0);
    expect(&r, FLO_STATUS_BAD_REQUEST, "Invalid request");
    rsp_free(&r);
    expect_eof(fd);
    close(fd);
}

Test(devserver, malformed_envelope_is_refused_not_stalled)
{
    int fd = cx();
    /* ns_len 200 in a 10-byte body: the real server would stall here */
    uint8_t body[10] = {200, 0};
    struct flo_wbuf w;
    flo_wbuf_init(&w);
    cr_assert_eq(flo_req_encode_raw(&w, FLO_OP_KV_GET, 77, FLO_BUF(body, sizeof body)), 0);
    cr_assert_eq(ts_write_full(fd, w.data, w.len), 0);
    flo_wbuf_free(&w);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, 77);
    cr_assert_eq(r.status, FLO_STATUS_BAD_REQUEST);
    cr_assert(r.body.len > 26 && memcmp(r.body.ptr, "request body is malformed:", 26) == 0);
    rsp_free(&r);
    expect_eof(fd);
    close(fd);
}

Test(devserver, frame_over_256k_is_refused_before_its_body)
{
    int fd = cx();
    uint8_t h[FLO_HEADER_SIZE];
    struct flo_wbuf w;
    flo_wbuf_init(&w);
    cr_assert_eq(flo_req_encode_raw(&w, FLO_OP_PING, 55, FLO_BUF_NULL), 0);
    memcpy(h, w.data, sizeof h);
    flo_wbuf_free(&w);
    flo_st32(h + 4, 300 * 1024); /* claims a 300 KiB body that never comes */
    cr_assert_eq(ts_write_full(fd, h, sizeof h), 0);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, 55);
    expect(&r, FLO_STATUS_BAD_REQUEST, "request larger than 256 KiB is not processed by Flo");
    rsp_free(&r);
    expect_eof(fd);
    close(fd);
}

Test(devserver, frame_over_100mib_is_invalid_request)
{
    int fd = cx();
    uint8_t h[FLO_HEADER_SIZE];
    struct flo_wbuf w;
    flo_wbuf_init(&w);
    cr_assert_eq(flo_req_encode_raw(&w, FLO_OP_PING, 56, FLO_BUF_NULL), 0);
    memcpy(h, w.data, sizeof h);
    flo_wbuf_free(&w);
    flo_st32(h + 4, FLO_MAX_PAYLOAD + 1);
    cr_assert_eq(ts_write_full(fd, h, sizeof h), 0);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, 0);
    expect(&r, FLO_STATUS_BAD_REQUEST, "Invalid request");
    rsp_free(&r);
    expect_eof(fd);
    close(fd);
}

Test(devserver, half_closed_client_still_gets_its_replies)
{
    int fd = cx();
    send_req(fd, FLO_OP_PING, 42, "", FLO_BUF_NULL, FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, 42);
    expect(&r, FLO_STATUS_OK, "PONG");
    rsp_free(&r);
    expect_eof(fd);
    close(fd);
}

/* ---- KV semantics over the wire ---- */

Test(devserver, versions_increase_and_get_returns_latest)
{
    int fd = cx();
    uint64_t a = put(fd, "default", "k", "one");
    uint64_t b = put(fd, "default", "k", "two");
    cr_assert_gt(b, a);
    struct rsp r = call(fd, FLO_OP_KV_GET, "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t ver;
    flo_buf_t val;
    cr_assert_eq(flo_kv_dec_get(r.body, &ver, &val), 0);
    cr_assert_eq(ver, b);
    cr_assert_eq(val.len, 3);
    cr_assert(memcmp(val.ptr, "two", 3) == 0);
    rsp_free(&r);
    close(fd);
}

Test(devserver, cas_nx_xx_conflicts_have_empty_bodies)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r =
        call(fd, FLO_OP_KV_PUT, "default", "c", FLO_BUF_STR("v"), opts_flag(&o, FLO_OPT_IF_EXISTS));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "c", FLO_BUF_STR("v"),
             opts_flag(&o, FLO_OPT_IF_NOT_EXISTS));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t v;
    flo_kv_dec_version(r.body, &v);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "c", FLO_BUF_STR("v"),
             opts_flag(&o, FLO_OPT_IF_NOT_EXISTS));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "c", FLO_BUF_STR("w"),
             opts_u64(&o, FLO_OPT_CAS_VERSION, v + 100));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "c", FLO_BUF_NULL,
             opts_u64(&o, FLO_OPT_CAS_VERSION, v + 100));
    expect(&r, FLO_STATUS_CONFLICT, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "c", FLO_BUF_STR("w"),
             opts_u64(&o, FLO_OPT_CAS_VERSION, v));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "c", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "c", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devserver, ttl_width_and_key_validation_texts)
{
    int fd = cx();
    uint8_t bad_ttl[] = {FLO_OPT_TTL_MS, 4, 1, 0, 0, 0};
    struct rsp r =
        call(fd, FLO_OP_KV_PUT, "default", "t", FLO_BUF_STR("v"), FLO_BUF(bad_ttl, sizeof bad_ttl));
    expect(&r, FLO_STATUS_BAD_REQUEST, "ttl_ms must be 8 bytes (a u64 of milliseconds)");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "key is required");
    rsp_free(&r);
    send_req(fd, FLO_OP_KV_PUT, 9, "default", FLO_BUF("a\0b", 3), FLO_BUF_STR("v"), FLO_BUF_NULL);
    rd(fd, &r);
    expect(&r, FLO_STATUS_BAD_REQUEST, "key must not contain NUL");
    rsp_free(&r);
    static char big[4100];
    memset(big, 'x', 4097);
    r = call(fd, FLO_OP_KV_PUT, "default", big, FLO_BUF_STR("v"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "namespace + key too large");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "nope", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t ver;
    bool present = true;
    cr_assert_eq(flo_kv_dec_exists(r.body, &ver, &present), 0);
    cr_assert_not(present);
    cr_assert_eq(ver, 0);
    rsp_free(&r);
    close(fd);
}

Test(devserver, ttl_expiry_makes_keys_absent)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_KV_PUT, "default", "short", FLO_BUF_STR("v"),
                        opts_u64(&o, FLO_OPT_TTL_MS, 200));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "short", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    /* touch a second key to 200 ms, persist a third */
    put(fd, "default", "touched", "v");
    r = call(fd, FLO_OP_KV_TOUCH, "default", "touched", FLO_BUF_STR("abc"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "touch: value must be empty or 8-byte u64 LE");
    rsp_free(&r);
    uint8_t ttl[8];
    flo_st64(ttl, 200);
    r = call(fd, FLO_OP_KV_TOUCH, "default", "touched", FLO_BUF(ttl, 8), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "default", "kept", FLO_BUF_STR("v"),
             opts_u64(&o, FLO_OPT_TTL_MS, 200));
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PERSIST, "default", "kept", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    usleep(450 * 1000);
    r = call(fd, FLO_OP_KV_GET, "default", "short", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "touched", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_EXISTS, "default", "short", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(r.body.len, 9);
    cr_assert_eq(r.body.ptr[8], 0);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "kept", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devserver, namespaces_isolate_keys)
{
    int fd = cx();
    put(fd, "default", "k", "d");
    put(fd, "app", "k", "a");
    struct rsp r = call(fd, FLO_OP_KV_GET, "app", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 9);
    cr_assert_eq(r.body.ptr[8], 'a');
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "other", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    /* a scan of default must not list app's key */
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_kv_scan_value(&v, 0, FLO_BUF_NULL), 0);
    r = call(fd, FLO_OP_KV_SCAN, "default", "", flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    cr_assert_eq(flo_kv_scan_begin(r.body, &page, &it), 0);
    cr_assert_eq(page.count, 1);
    cr_assert_not(page.has_more);
    rsp_free(&r);
    flo_wbuf_free(&v);
    close(fd);
}

Test(devserver, scan_pages_with_cursor)
{
    int fd = cx();
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "p:%d", i);
        put(fd, "default", key, "v");
    }
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    flo_buf_t cursor = FLO_BUF_NULL;
    uint8_t cur_copy[64];
    int seen = 0, pages = 0;
    for (;;) {
        flo_wbuf_reset(&v);
        cr_assert_eq(flo_kv_scan_value(&v, 2, cursor), 0);
        struct rsp r = call(fd, FLO_OP_KV_SCAN, "default", "p:", flo_wbuf_view(&v), FLO_BUF_NULL);
        expect(&r, FLO_STATUS_OK, NULL);
        struct flo_kv_scan_page page;
        struct flo_kv_scan_iter it;
        struct flo_kv_scan_entry e;
        cr_assert_eq(flo_kv_scan_begin(r.body, &page, &it), 0);
        while (flo_kv_scan_next(&it, &e) == 1) {
            snprintf(key, sizeof key, "p:%d", seen++);
            cr_assert_eq(e.key.len, strlen(key));
            cr_assert(memcmp(e.key.ptr, key, e.key.len) == 0);
        }
        pages++;
        bool more = page.has_more;
        if (more) {
            cr_assert_leq(page.cursor.len, sizeof cur_copy);
            memcpy(cur_copy, page.cursor.ptr, page.cursor.len);
            cursor = FLO_BUF(cur_copy, page.cursor.len);
        }
        rsp_free(&r);
        if (!more) {
            break;
        }
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(seen, 5);
    cr_assert_eq(pages, 3);
    flo_wbuf_free(&v);
    close(fd);
}

Test(devserver, reserved_keys_are_denied)
{
    int fd = cx();
    const uint16_t ops[] = {FLO_OP_KV_GET,  FLO_OP_KV_PUT,   FLO_OP_KV_DELETE, FLO_OP_KV_HISTORY,
                            FLO_OP_KV_INCR, FLO_OP_KV_TOUCH, FLO_OP_KV_PERSIST};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        struct rsp r = call(fd, ops[i], "default", "_worker:w1", FLO_BUF_NULL, FLO_BUF_NULL);
        expect(&r, FLO_STATUS_UNAUTHORIZED, "access to reserved key denied");
        rsp_free(&r);
    }
    close(fd);
}

Test(devserver, unknown_and_out_of_table_ops_are_not_implemented)
{
    int fd = cx();
    const uint16_t ops[] = {0x0FF, 0x400, 0xFFFF, FLO_OP_QUEUE_FAIL_AUTO, FLO_OP_AUTH};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        struct rsp r = call(fd, ops[i], "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
        expect(&r, FLO_STATUS_INTERNAL, "not implemented");
        rsp_free(&r);
    }
    /* the connection stays open */
    put(fd, "default", "still", "open");
    close(fd);
}

Test(devserver, incr_and_mget)
{
    int fd = cx();
    struct rsp r = call(fd, FLO_OP_KV_INCR, "default", "n", FLO_BUF_NULL, FLO_BUF_NULL);
    uint64_t ver;
    int64_t val;
    cr_assert_eq(flo_kv_dec_incr(r.body, &ver, &val), 0);
    cr_assert_eq(val, 1);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_INCR, "default", "n", FLO_BUF_STR("abc"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "incr: value must be empty or 8-byte i64 LE");
    rsp_free(&r);
    put(fd, "default", "s", "text");
    r = call(fd, FLO_OP_KV_INCR, "default", "s", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "value is not a counter");
    rsp_free(&r);

    uint8_t zero[2] = {0, 0};
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(zero, 2), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: zero keys");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: missing key count");
    rsp_free(&r);
    uint8_t trunc[5] = {1, 0, 9, 0, 'x'};
    r = call(fd, FLO_OP_KV_MGET, "default", "", FLO_BUF(trunc, 5), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "mget: truncated key data");
    rsp_free(&r);
    close(fd);
}

Test(devserver, json_documents)
{
    int fd = cx();
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct rsp r =
        call(fd, FLO_OP_KV_JSON_SET, "default", "j", json_set_value(&v, "$.a", "1"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_SET, "default", "j", json_set_value(&v, "$", "{oops"),
             FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "invalid json document");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_SET, "default", "j", json_set_value(&v, "$", "{\"a\": [1, 2]}"),
             FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_SET, "default", "j", json_set_value(&v, "$.a[1]", "\"two\""),
             FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "j", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    const char *want = "{\"a\":[1,\"two\"]}";
    cr_assert_eq(r.body.len, 8 + strlen(want));
    cr_assert(memcmp(r.body.ptr + 8, want, strlen(want)) == 0);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_GET, "default", "j", FLO_BUF_STR("$.nope"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_GET, "default", "j", FLO_BUF_STR("bad path"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "invalid json path or document");
    rsp_free(&r);
    put(fd, "default", "plain", "not json");
    r = call(fd, FLO_OP_KV_JSON_GET, "default", "plain", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "invalid json path or document");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_JSON_DEL, "default", "j", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "j", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    uint8_t short_v[1] = {3};
    r = call(fd, FLO_OP_KV_JSON_SET, "default", "j", FLO_BUF(short_v, 1), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "json_set: missing path_len");
    rsp_free(&r);
    flo_wbuf_free(&v);
    close(fd);
}

/* ---- transactions ---- */

Test(devserver, transaction_buffers_then_commits_atomically)
{
    int fd = cx(), other = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t id = txn_begin(fd, "acct");
    struct rsp r =
        call(fd, FLO_OP_KV_PUT, "default", "acct:a", FLO_BUF_STR("10"), txn_opts(&o, id, "acct"));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 8);
    cr_assert_eq(flo_ld64(r.body.ptr), 0, "placeholder version");
    rsp_free(&r);
    uint8_t five[8];
    flo_st64(five, 5);
    r = call(fd, FLO_OP_KV_INCR, "default", "acct:n", FLO_BUF(five, 8), txn_opts(&o, id, "acct"));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t ver;
    int64_t val;
    cr_assert_eq(flo_kv_dec_incr(r.body, &ver, &val), 0);
    cr_assert_eq(ver, 0);
    cr_assert_eq(val, 5);
    rsp_free(&r);
    /* inside: the buffered value with version 0; outside: nothing yet */
    r = call(fd, FLO_OP_KV_GET, "default", "acct:a", FLO_BUF_NULL, txn_opts(&o, id, "acct"));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 10);
    cr_assert_eq(flo_ld64(r.body.ptr), 0);
    cr_assert(memcmp(r.body.ptr + 8, "10", 2) == 0);
    rsp_free(&r);
    r = call(other, FLO_OP_KV_GET, "default", "acct:a", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    /* a key routed elsewhere is refused */
    r = call(fd, FLO_OP_KV_PUT, "default", "elsewhere", FLO_BUF_STR("x"), txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_BAD_REQUEST, "key hashes to a different partition than the transaction");
    rsp_free(&r);
    /* commit: both writes visible with the same version (one log entry) */
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "acct", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t index;
    uint16_t count;
    cr_assert_eq(flo_kv_dec_commit(r.body, &index, &count), 0);
    cr_assert_eq(count, 2);
    rsp_free(&r);
    r = call(other, FLO_OP_KV_GET, "default", "acct:a", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), index);
    rsp_free(&r);
    r = call(other, FLO_OP_KV_EXISTS, "default", "acct:n", FLO_BUF_NULL, FLO_BUF_NULL);
    cr_assert_eq(flo_ld64(r.body.ptr), index);
    rsp_free(&r);
    /* the transaction is gone */
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "acct", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "transaction not found");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
    close(other);
}

Test(devserver, transaction_rollback_and_errors)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_KV_BEGIN_TXN, "default", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST,
           "BEGIN: routing key required (use --routing-key or supply key)");
    rsp_free(&r);
    uint64_t id = txn_begin(fd, "r");
    r = call(fd, FLO_OP_KV_PUT, "default", "r", FLO_BUF_STR("v"), txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_DELETE, "default", "r", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "r", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    uint8_t bad_id[] = {FLO_OPT_TXN_ID, 4, 1, 0, 0, 0};
    r = call(fd, FLO_OP_KV_PUT, "default", "r", FLO_BUF_STR("v"), FLO_BUF(bad_id, sizeof bad_id));
    expect(&r, FLO_STATUS_BAD_REQUEST, "txn_id option must be u64");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_PUT, "other-ns", "r", FLO_BUF_STR("v"), txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_NOT_FOUND, "transaction not found");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_COMMIT_TXN, "default", "r", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "COMMIT: txn_id required");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_ROLLBACK_TXN, "default", "r", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "ROLLBACK: txn_id required");
    rsp_free(&r);
    /* the id may also travel as an 8-byte value */
    uint8_t idv[8];
    flo_st64(idv, id);
    r = call(fd, FLO_OP_KV_ROLLBACK_TXN, "default", "r", FLO_BUF(idv, 8), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "r", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devserver, commit_wakes_blocking_get)
{
    int a = cx(), b = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    send_req(a, FLO_OP_KV_GET, 300, "default", FLO_BUF_STR("t:job"), FLO_BUF_NULL,
             opts_u32(&o, FLO_OPT_BLOCK_MS, 10000));
    uint64_t id = txn_begin(b, "t");
    struct rsp r =
        call(b, FLO_OP_KV_PUT, "default", "t:job", FLO_BUF_STR("go"), txn_opts(&o, id, "t"));
    rsp_free(&r);
    r = call(b, FLO_OP_KV_COMMIT_TXN, "default", "t", FLO_BUF_NULL, txn_opts(&o, id, NULL));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    rd(a, &r);
    cr_assert_eq(r.id, 300);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 10);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(a);
    close(b);
}

/* ---- blocking reads ---- */

Test(devserver, blocking_get_is_answered_out_of_order_after_a_put)
{
    int a = cx(), b = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    send_req(a, FLO_OP_KV_GET, 100, "default", FLO_BUF_STR("job"), FLO_BUF_NULL,
             opts_u32(&o, FLO_OPT_BLOCK_MS, 10000));
    send_req(a, FLO_OP_PING, 101, "", FLO_BUF_NULL, FLO_BUF_NULL, FLO_BUF_NULL);
    struct rsp r;
    rd(a, &r);
    cr_assert_eq(r.id, 101, "the later PING is answered first");
    expect(&r, FLO_STATUS_OK, "PONG");
    rsp_free(&r);
    uint64_t t0 = ts_now_ms();
    uint64_t v = put(b, "default", "job", "done");
    rd(a, &r);
    cr_assert_eq(r.id, 100);
    expect(&r, FLO_STATUS_OK, NULL);
    uint64_t ver;
    flo_buf_t val;
    cr_assert_eq(flo_kv_dec_get(r.body, &ver, &val), 0);
    cr_assert_eq(ver, v);
    cr_assert_eq(val.len, 4);
    cr_assert(memcmp(val.ptr, "done", 4) == 0);
    cr_assert_lt(ts_now_ms() - t0, 5000, "released by the put, not the timeout");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(a);
    close(b);
}

Test(devserver, block_ms_on_existing_key_answers_at_once)
{
    int fd = cx();
    put(fd, "default", "here", "v");
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t t0 = ts_now_ms();
    struct rsp r = call(fd, FLO_OP_KV_GET, "default", "here", FLO_BUF_NULL,
                        opts_u32(&o, FLO_OPT_BLOCK_MS, 5000));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_lt(ts_now_ms() - t0, 2000);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devserver, wait_ms_times_out_with_not_found_even_if_key_exists)
{
    int fd = cx();
    put(fd, "default", "w", "v");
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t t0 = ts_now_ms();
    struct rsp r =
        call(fd, FLO_OP_KV_GET, "default", "w", FLO_BUF_NULL, opts_u32(&o, FLO_OPT_WAIT_MS, 300));
    uint64_t took = ts_now_ms() - t0;
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    cr_assert_geq(took, 250, "answered after %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 3000);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devserver, block_ms_wins_over_wait_ms)
{
    int fd = cx();
    put(fd, "default", "both", "v");
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_BLOCK_MS, 5000), 0);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_WAIT_MS, 5000), 0);
    uint64_t t0 = ts_now_ms();
    struct rsp r = call(fd, FLO_OP_KV_GET, "default", "both", FLO_BUF_NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_lt(ts_now_ms() - t0, 2000, "block_ms on an existing key answers now");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

/* Sanitizer reports land in the child's log; a clean exit leaves none. */
static void assert_log_clean(void)
{
    FILE *f = fopen(dev.proc.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        cr_assert_null(strstr(line, "Sanitizer"), "flo-dev log: %s", line);
        cr_assert_null(strstr(line, "runtime error"), "flo-dev log: %s", line);
    }
    fclose(f);
}

Test(devserver, disconnect_with_pending_waiters_drops_them)
{
    int a = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "never:%d", i % 20);
        send_req(a, FLO_OP_KV_GET, (uint64_t)i + 1, "default", FLO_BUF_STR(key), FLO_BUF_NULL,
                 opts_u32(&o, i % 2 ? FLO_OPT_BLOCK_MS : FLO_OPT_WAIT_MS, 60000));
    }
    send_req(a, FLO_OP_PING, 9999, "", FLO_BUF_NULL, FLO_BUF_NULL, FLO_BUF_NULL);
    struct rsp r;
    rd(a, &r); /* all 200 are parked once the ping comes back */
    cr_assert_eq(r.id, 9999);
    rsp_free(&r);
    close(a);
    usleep(100 * 1000);
    /* writes to the keys must not try to answer the dead connection */
    int b = cx();
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "never:%d", i);
        put(b, "default", key, "v");
    }
    r = call(b, FLO_OP_PING, "", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "PONG");
    rsp_free(&r);
    close(b);
    flo_wbuf_free(&o);
    ts_stop(&dev.proc); /* clean exit: LeakSanitizer runs in the ASan build */
    assert_log_clean();
}

/* Peak resident set size: catches a backlog that grew and was freed again. */
static long peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    fclose(f);
    return kib;
}

Test(devserver, client_that_does_not_read_does_not_grow_memory)
{
    int a = cx();
    static char big[200 * 1024];
    memset(big, 'b', sizeof big);
    struct rsp r = call(a, FLO_OP_KV_PUT, "default", "big", FLO_BUF(big, sizeof big), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    long before = peak_rss_kib(dev.proc.pid);
    /* 1000 GETs = 200 MB of replies that this client never reads */
    struct flo_wbuf w;
    flo_wbuf_init(&w);
    for (int i = 0; i < 1000; i++) {
        struct flo_req q = {.op = FLO_OP_KV_GET,
                            .request_id = (uint64_t)i + 1,
                            .ns = FLO_BUF_STR("default"),
                            .key = FLO_BUF_STR("big")};
        cr_assert_eq(flo_req_encode(&w, &q), 0);
    }
    cr_assert_eq(ts_write_full(a, w.data, w.len), 0);
    flo_wbuf_free(&w);
    usleep(500 * 1000);
    long after = peak_rss_kib(dev.proc.pid);
    cr_assert_lt(after - before, 32 * 1024, "peak RSS grew from %ld to %ld KiB", before, after);
    /* others are still served */
    int b = cx();
    r = call(b, FLO_OP_PING, "", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "PONG");
    rsp_free(&r);
    close(b);
    close(a);
}

/* ---- AUTH ---- */

Test(devserver_auth, requires_auth_before_other_ops)
{
    int fd = cx();
    struct rsp r = call(fd, FLO_OP_PING, "", "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "PONG");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_UNAUTHORIZED, "authentication required");
    rsp_free(&r);
    r = call(fd, 0x0FF, "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_UNAUTHORIZED, "authentication required");
    rsp_free(&r);
    r = call(fd, FLO_OP_AUTH, "", "", FLO_BUF_STR("wrong"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_UNAUTHORIZED, "invalid api key");
    rsp_free(&r);
    r = call(fd, FLO_OP_AUTH, "", "", FLO_BUF_STR("s3cret"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_KV_GET, "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "");
    rsp_free(&r);
    close(fd);
    /* authentication is per connection */
    fd = cx();
    r = call(fd, FLO_OP_KV_GET, "default", "k", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_UNAUTHORIZED, "authentication required");
    rsp_free(&r);
    close(fd);
}

Test(devserver, auth_without_api_key_is_not_implemented)
{
    int fd = cx();
    struct rsp r = call(fd, FLO_OP_AUTH, "", "", FLO_BUF_STR("anything"), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_INTERNAL, "not implemented");
    rsp_free(&r);
    put(fd, "default", "served", "unauthenticated");
    close(fd);
}

/* ---- command line ---- */

Test(devserver, bad_flags_exit_nonzero_with_a_message)
{
    const char *const bad1[] = {FLO_BIN_DIR "/flo-dev", "--bogus", NULL};
    char *out = NULL;
    size_t len = 0;
    int st = ts_run(bad1, 5000, NULL, 0, &out, &len);
    cr_assert_neq(st, 0);
    free(out);
    const char *const bad2[] = {FLO_BIN_DIR "/flo-dev", "--listen", "nonsense", NULL};
    st = ts_run(bad2, 5000, NULL, 0, &out, &len);
    cr_assert_neq(st, 0);
    free(out);
    const char *const bad3[] = {FLO_BIN_DIR "/flo-dev", "--log-level", "loud", NULL};
    st = ts_run(bad3, 5000, NULL, 0, &out, &len);
    cr_assert_neq(st, 0);
    free(out);
    const char *const help[] = {FLO_BIN_DIR "/flo-dev", "--help", NULL};
    st = ts_run(help, 5000, NULL, 0, &out, &len);
    cr_assert_eq(st, 0);
    cr_assert_not_null(out);
    cr_assert_not_null(strstr(out, "--listen"));
    free(out);
}
