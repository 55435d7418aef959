/*
 * libFuzzer target for the upstream frame decoder: the input is fed to a
 * request reader and a response reader in chunks (the first input byte picks
 * the chunk size), and every decoded frame goes through the envelope parser,
 * the TLV lookups, the server-side value parsers and every KV/system
 * response decoder, iterating each to its end. When the first byte's top
 * bit is set, the harness first rewrites each frame's CRC to the right
 * value, so mutated bodies get past the checksum and reach the decoders. A decoded frame must also
 * re-encode to the bytes it came from, which checks the encoders against
 * the decoder on inputs nobody wrote by hand.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"

#define FUZZ_MAX_PAYLOAD (1u << 20)
#define FUZZ_MAX_CHUNK   64
#define FUZZ_FIX_CRC     0x80 /* first-byte bit: repair CRCs before decoding */

/* Keep results observable so the compiler cannot drop the decoders. */
static volatile uint64_t sink;

static void check(int cond)
{
    if (!cond) {
        __builtin_trap();
    }
}

static void use_buf(flo_buf_t b)
{
    /* Touch the first and last byte: ASan reports any view outside input. */
    if (b.len > 0) {
        sink += b.ptr[0] + b.ptr[b.len - 1];
    }
}

static void fuzz_options(flo_buf_t opts)
{
    static const uint8_t tags[] = {
        FLO_OPT_TTL_MS,
        FLO_OPT_CAS_VERSION,
        FLO_OPT_IF_NOT_EXISTS,
        FLO_OPT_IF_EXISTS,
        FLO_OPT_LIMIT,
        FLO_OPT_KEYS_ONLY,
        FLO_OPT_ROUTING_KEY,
        FLO_OPT_TXN_ID,
        FLO_OPT_BLOCK_MS,
        FLO_OPT_WAIT_MS,
        FLO_OPT_STREAM_START,
        FLO_OPT_STREAM_END,
        FLO_OPT_STREAM_TAIL,
        FLO_OPT_PRIORITY,
        0x00,
        0xFF,
    };
    for (size_t i = 0; i < sizeof tags; i++) {
        flo_buf_t d;
        uint8_t v8;
        uint32_t v32;
        uint64_t v64, seq;
        if (flo_opt_find(opts, tags[i], &d)) {
            check(d.ptr >= opts.ptr && d.ptr + d.len <= opts.ptr + opts.len);
            use_buf(d);
        }
        if (flo_opt_get_u8(opts, tags[i], &v8)) {
            sink += v8;
        }
        if (flo_opt_get_u32(opts, tags[i], &v32)) {
            sink += v32;
        }
        if (flo_opt_get_u64(opts, tags[i], &v64)) {
            sink += v64;
        }
        if (flo_opt_get_stream_id(opts, tags[i], &v64, &seq)) {
            sink += v64 ^ seq;
        }
        sink += flo_opt_has_flag(opts, tags[i]);
    }
}

static void fuzz_request_value(flo_buf_t value)
{
    const char *msg = NULL;
    struct flo_kv_key_iter kit;
    uint16_t count;
    if (flo_kv_parse_mget(value, &kit, &count, &msg) == 0) {
        flo_buf_t key;
        uint16_t n = 0;
        int rc;
        while ((rc = flo_kv_key_next(&kit, &key)) == 1) {
            use_buf(key);
            n++;
        }
        /* A validated list yields exactly its count. */
        check(rc == 0 && n == count);
    } else {
        check(msg != NULL);
    }
    uint32_t limit;
    flo_buf_t cursor, path, json;
    int64_t delta;
    uint64_t ttl;
    if (flo_kv_parse_scan(value, &limit, &cursor, NULL) == 0) {
        use_buf(cursor);
    }
    if (flo_kv_parse_incr(value, &delta, NULL) == 0) {
        sink += (uint64_t)delta;
    }
    if (flo_kv_parse_json_set(value, &path, &json, NULL) == 0) {
        use_buf(path);
        use_buf(json);
    }
    if (flo_kv_parse_touch(value, &ttl, NULL) == 0) {
        sink += ttl;
    }
}

static void fuzz_response_body(flo_buf_t body)
{
    uint64_t a, b;
    int64_t i64;
    uint16_t u16;
    bool flag;
    flo_buf_t v;
    if (flo_kv_dec_version(body, &a) == 0) {
        sink += a;
    }
    if (flo_kv_dec_get(body, &a, &v) == 0) {
        use_buf(v);
    }
    if (flo_kv_dec_exists(body, &a, &flag) == 0) {
        sink += a + flag;
    }
    if (flo_kv_dec_incr(body, &a, &i64) == 0) {
        sink += a + (uint64_t)i64;
    }
    if (flo_kv_dec_json_del(body, &a) == 0) {
        sink += a;
    }
    if (flo_kv_dec_begin(body, &a, &b) == 0) {
        sink += a ^ b;
    }
    if (flo_kv_dec_commit(body, &a, &u16) == 0) {
        sink += a + u16;
    }
    struct flo_cluster_status cs;
    if (flo_dec_cluster_status(body, &cs) == 0) {
        sink += cs.term;
    }

    struct flo_kv_mget_iter mit;
    if (flo_kv_mget_begin(body, &mit) == 0) {
        struct flo_kv_mget_entry e;
        int rc;
        while ((rc = flo_kv_mget_next(&mit, &e)) == 1) {
            use_buf(e.key);
            use_buf(e.value);
        }
        check(rc == 0); /* begin validated every entry */
    }

    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter sit;
    if (flo_kv_scan_begin(body, &page, &sit) == 0) {
        struct flo_kv_scan_entry e;
        uint32_t n = 0;
        int rc;
        while ((rc = flo_kv_scan_next(&sit, &e)) == 1) {
            use_buf(e.key);
            use_buf(e.value);
            n++;
        }
        check(rc == 0 && n == page.count);
        use_buf(page.cursor);
    }

    struct flo_kv_history_iter hit;
    uint32_t count;
    if (flo_kv_history_begin(body, &hit, &count) == 0) {
        struct flo_kv_history_entry e;
        uint32_t n = 0;
        int rc;
        while ((rc = flo_kv_history_next(&hit, &e)) == 1) {
            use_buf(e.value);
            n++;
        }
        check(rc == 0 && n == count);
    }

    struct flo_name_iter nit;
    if (flo_ns_list_begin(body, &nit, &count) == 0) {
        flo_buf_t name;
        uint32_t n = 0;
        int rc;
        while ((rc = flo_ns_list_next(&nit, &name)) == 1) {
            use_buf(name);
            n++;
        }
        check(rc == 0 && n == count);
    }
}

/* The frame's header sits right before its body in the reader's buffer.
 * Re-encoding must reproduce it, except the bytes the decoder does not
 * interpret (request flags @23; response flags @22 and pad @23). */
static void check_reencode(const struct flo_frame *f, enum flo_frame_kind_e kind)
{
    const uint8_t *orig = f->body.ptr - FLO_HEADER_SIZE;
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    int rc = kind == FLO_FRAME_REQUEST ? flo_req_encode_raw(&out, f->op, f->request_id, f->body)
                                       : flo_resp_encode(&out, f->request_id, f->status, f->body);
    if (rc == FLO_ENOMEM) {
        flo_wbuf_free(&out);
        return;
    }
    check(rc == 0 && out.len == FLO_HEADER_SIZE + f->body.len);
    bool same_tail = memcmp(out.data + 20, orig + 20, 2) == 0 &&
                     (kind == FLO_FRAME_RESPONSE || out.data[22] == orig[22]);
    check(same_tail && memcmp(out.data, orig, 16) == 0 && memcmp(out.data + 24, orig + 24, 8) == 0);
    /* The CRC covers the uninterpreted bytes, so it only matches when they
     * are zero as the encoder writes them. */
    if (memcmp(out.data + 20, orig + 20, 4) == 0) {
        check(memcmp(out.data + 16, orig + 16, 4) == 0);
    }
    check(memcmp(out.data + FLO_HEADER_SIZE, f->body.ptr, f->body.len) == 0);
    flo_wbuf_free(&out);
}

static void run_reader(const uint8_t *data, size_t size, size_t chunk, enum flo_frame_kind_e kind)
{
    struct flo_reader r;
    flo_reader_init(&r, kind, FUZZ_MAX_PAYLOAD);
    size_t at = 0;
    int rc = 0;
    while (at < size && rc == 0) {
        size_t n = size - at < chunk ? size - at : chunk;
        rc = flo_reader_feed(&r, data + at, n);
        at += n;
        struct flo_frame f;
        while (rc == 0 && (rc = flo_reader_next(&r, &f)) == 0) {
            check_reencode(&f, kind);
            struct flo_envelope env;
            if (flo_envelope_parse(f.body, &env) == 0) {
                use_buf(env.ns);
                use_buf(env.key);
                use_buf(env.value);
                fuzz_options(env.opts);
                fuzz_request_value(env.value);
            }
            fuzz_response_body(f.body);
        }
        if (rc == FLO_EAGAIN) {
            rc = 0;
        }
    }
    flo_reader_free(&r);
}

/* Walk the frames a decoder would see and store each one's correct CRC
 * (header bytes 0..15 and 20..31, then the body). */
static void fix_crcs(uint8_t *buf, size_t size)
{
    size_t at = 0;
    while (size - at >= FLO_HEADER_SIZE) {
        uint8_t *h = buf + at;
        uint32_t len = flo_ld32(h + 4);
        if (len > size - at - FLO_HEADER_SIZE) {
            return;
        }
        uint32_t c = flo_crc32(0, h, 16);
        c = flo_crc32(c, h + 20, 12);
        c = flo_crc32(c, h + FLO_HEADER_SIZE, len);
        flo_st32(h + 16, c);
        at += FLO_HEADER_SIZE + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t chunk = (size_t)(data[0] % FUZZ_MAX_CHUNK) + 1;
    bool fix = (data[0] & FUZZ_FIX_CRC) != 0;
    data++;
    size--;
    uint8_t *copy = NULL;
    if (fix && size > 0) {
        copy = malloc(size);
        if (copy == NULL) {
            return 0;
        }
        memcpy(copy, data, size);
        fix_crcs(copy, size);
        data = copy;
    }
    run_reader(data, size, chunk, FLO_FRAME_REQUEST);
    run_reader(data, size, chunk, FLO_FRAME_RESPONSE);
    /* The same bytes as one block exercise flo_frame_decode directly. */
    struct flo_frame f;
    long n = flo_frame_decode(data, size, FLO_FRAME_RESPONSE, FUZZ_MAX_PAYLOAD, &f);
    check(n < 0 || (size_t)n <= size);
    free(copy);
    return 0;
}
