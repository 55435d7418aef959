/*
 * Tests of the Flo framing layer (client/flo_codec.c, flo_tlv.c,
 * flo_crc32.c): the incremental reader over streams split at every byte
 * position, header errors reported as soon as they are detectable, the CRC
 * check value, request envelope edge cases and TLV option lookups.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"

#define MAX_FRAMES 16

/* A frame copied out of the reader (its views die on the next call). */
struct got_frame {
    uint64_t id;
    uint16_t op;
    uint8_t status;
    size_t body_len;
    uint8_t body[128];
};

struct stream {
    struct flo_wbuf bytes;
    struct got_frame want[MAX_FRAMES];
    size_t n;
};

static void add_request(struct stream *s, uint16_t op, uint64_t id, const char *ns, const char *key,
                        const char *value)
{
    struct flo_wbuf opts;
    flo_wbuf_init(&opts);
    cr_assert_eq(flo_opt_u64(&opts, FLO_OPT_TTL_MS, id * 1000), 0);
    struct flo_req req = {.op = op,
                          .request_id = id,
                          .ns = FLO_BUF_STR(ns),
                          .key = FLO_BUF_STR(key),
                          .value = FLO_BUF_STR(value),
                          .opts = flo_wbuf_view(&opts)};
    size_t start = s->bytes.len;
    cr_assert_eq(flo_req_encode(&s->bytes, &req), 0);
    struct got_frame *g = &s->want[s->n++];
    g->id = id;
    g->op = op;
    g->status = 0;
    g->body_len = s->bytes.len - start - FLO_HEADER_SIZE;
    cr_assert_leq(g->body_len, sizeof g->body);
    memcpy(g->body, s->bytes.data + start + FLO_HEADER_SIZE, g->body_len);
    flo_wbuf_free(&opts);
}

static void add_raw(struct stream *s, uint16_t op, uint64_t id)
{
    cr_assert_eq(flo_req_encode_raw(&s->bytes, op, id, FLO_BUF_NULL), 0);
    struct got_frame *g = &s->want[s->n++];
    memset(g, 0, sizeof *g);
    g->id = id;
    g->op = op;
}

static void add_response(struct stream *s, uint64_t id, uint8_t status, const char *body)
{
    cr_assert_eq(flo_resp_encode(&s->bytes, id, status, FLO_BUF_STR(body)), 0);
    struct got_frame *g = &s->want[s->n++];
    memset(g, 0, sizeof *g);
    g->id = id;
    g->status = status;
    g->body_len = strlen(body);
    memcpy(g->body, body, g->body_len);
}

/* A pipelined request stream: envelope frames, an empty PING, a big value. */
static void request_stream(struct stream *s)
{
    flo_wbuf_init(&s->bytes);
    s->n = 0;
    add_request(s, FLO_OP_KV_PUT, 1, "default", "greeting", "hello");
    add_raw(s, FLO_OP_PING, 2);
    add_request(s, FLO_OP_KV_GET, 3, "default", "greeting", "");
    add_request(s, FLO_OP_KV_PUT, 4, "ns", "k", "0123456789abcdef0123456789abcdef0123456789");
    add_raw(s, FLO_OP_CLUSTER_STATUS, 0xFFFFFFFFFFFFFFFFull);
}

static void response_stream(struct stream *s)
{
    flo_wbuf_init(&s->bytes);
    s->n = 0;
    add_response(s, 7, FLO_STATUS_OK, "PONG");
    add_response(s, 3, FLO_STATUS_NOT_FOUND, "");
    add_response(s, 9, FLO_STATUS_INTERNAL, "not implemented");
    add_response(s, 1, FLO_STATUS_OK, "\x01\0\0\0\0\0\0\0");
}

/* Drain the reader, checking each frame against the next expected one. */
static void drain(struct flo_reader *r, const struct stream *s, size_t *seen)
{
    struct flo_frame f;
    int rc;
    while ((rc = flo_reader_next(r, &f)) == 0) {
        cr_assert_lt(*seen, s->n, "more frames than were sent");
        const struct got_frame *g = &s->want[*seen];
        cr_assert_eq(f.request_id, g->id, "frame %zu id", *seen);
        cr_assert_eq(f.op, g->op, "frame %zu op", *seen);
        cr_assert_eq(f.status, g->status, "frame %zu status", *seen);
        cr_assert_eq(f.body.len, g->body_len, "frame %zu body length", *seen);
        cr_assert(g->body_len == 0 || memcmp(f.body.ptr, g->body, g->body_len) == 0,
                  "frame %zu body bytes", *seen);
        (*seen)++;
    }
    cr_assert_eq(rc, FLO_EAGAIN, "reader error %d", rc);
}

/* Feed the stream in pieces ending at each offset in cuts[] (then the rest). */
static void feed_split(const struct stream *s, enum flo_frame_kind_e kind, const size_t *cuts,
                       size_t ncuts)
{
    struct flo_reader r;
    flo_reader_init(&r, kind, FLO_MAX_PAYLOAD);
    size_t seen = 0, at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : s->bytes.len;
        cr_assert_eq(flo_reader_feed(&r, s->bytes.data + at, end - at), 0);
        drain(&r, s, &seen);
        at = end;
    }
    cr_assert_eq(seen, s->n, "got %zu of %zu frames", seen, s->n);
    flo_reader_free(&r);
}

static void every_split(const struct stream *s, enum flo_frame_kind_e kind)
{
    for (size_t cut = 0; cut <= s->bytes.len; cut++) {
        feed_split(s, kind, &cut, 1);
    }
    /* Two cuts: every pair of positions a few bytes apart, so a header and
     * its body can arrive in three pieces. */
    for (size_t a = 0; a + 7 <= s->bytes.len; a++) {
        size_t cuts[2] = {a, a + 7};
        feed_split(s, kind, cuts, 2);
    }
}

static void byte_by_byte(const struct stream *s, enum flo_frame_kind_e kind)
{
    size_t *cuts = malloc(s->bytes.len * sizeof *cuts);
    cr_assert_not_null(cuts);
    for (size_t i = 0; i < s->bytes.len; i++) {
        cuts[i] = i;
    }
    feed_split(s, kind, cuts, s->bytes.len);
    free(cuts);
}

Test(reader, requests_split_everywhere)
{
    struct stream s;
    request_stream(&s);
    every_split(&s, FLO_FRAME_REQUEST);
    flo_wbuf_free(&s.bytes);
}

Test(reader, requests_byte_by_byte)
{
    struct stream s;
    request_stream(&s);
    byte_by_byte(&s, FLO_FRAME_REQUEST);
    flo_wbuf_free(&s.bytes);
}

Test(reader, responses_split_everywhere)
{
    struct stream s;
    response_stream(&s);
    every_split(&s, FLO_FRAME_RESPONSE);
    byte_by_byte(&s, FLO_FRAME_RESPONSE);
    flo_wbuf_free(&s.bytes);
}

Test(reader, whole_stream_at_once)
{
    struct stream s;
    request_stream(&s);
    feed_split(&s, FLO_FRAME_REQUEST, NULL, 0);
    flo_wbuf_free(&s.bytes);
}

/* ---- header errors, reported as soon as detectable ---- */

static void ping_frame(uint8_t out[FLO_HEADER_SIZE])
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_req_encode_raw(&b, FLO_OP_PING, 1, FLO_BUF_NULL), 0);
    cr_assert_eq(b.len, FLO_HEADER_SIZE);
    memcpy(out, b.data, FLO_HEADER_SIZE);
    flo_wbuf_free(&b);
}

/* Feed `frame` byte by byte: FLO_EAGAIN before byte `at` (1-based count of
 * bytes fed), then `err`, which sticks. */
static void expect_error_at(const uint8_t *frame, size_t len, enum flo_frame_kind_e kind,
                            uint32_t max, size_t at, int err)
{
    struct flo_reader r;
    flo_reader_init(&r, kind, max);
    struct flo_frame f;
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(flo_reader_feed(&r, frame + i, 1), 0, "feed byte %zu", i);
        int rc = flo_reader_next(&r, &f);
        if (i + 1 < at) {
            cr_assert_eq(rc, FLO_EAGAIN, "byte %zu: rc %d, want EAGAIN", i, rc);
        } else {
            cr_assert_eq(rc, err, "byte %zu: rc %d, want %d", i, rc, err);
            break;
        }
    }
    cr_assert_eq(flo_reader_next(&r, &f), err, "error is sticky");
    cr_assert_eq(flo_reader_feed(&r, frame, 1), err, "feed after error");
    flo_reader_free(&r);
}

Test(reader_errors, bad_magic_first_byte)
{
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    h[0] = 'G';
    expect_error_at(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, 1, FLO_EBADMAGIC);
}

Test(reader_errors, bad_magic_fourth_byte)
{
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    h[3] = 0x01;
    expect_error_at(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, 4, FLO_EBADMAGIC);
}

Test(reader_errors, bad_version)
{
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    h[22] = 2;
    expect_error_at(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, 32, FLO_EBADVERSION);
}

Test(reader_errors, nonzero_reserved)
{
    for (int i = 24; i < 32; i++) {
        uint8_t h[FLO_HEADER_SIZE];
        ping_frame(h);
        h[i] = 0x80;
        expect_error_at(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, 32, FLO_EBADRESERVED);
    }
}

Test(reader_errors, crc_mismatch_after_body)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_resp_encode(&b, 5, 0, FLO_BUF_STR("PONG")), 0);
    b.data[FLO_HEADER_SIZE + 1] ^= 0x20; /* corrupt the body, not the header */
    expect_error_at(b.data, b.len, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, b.len, FLO_EBADCRC);
    flo_wbuf_free(&b);
}

Test(reader_errors, length_over_reader_max_before_body)
{
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_resp_encode(&b, 5, 0, FLO_BUF_STR("0123456789abcdefX")), 0);
    /* 17-byte body against a 16-byte maximum: refused at the header. */
    expect_error_at(b.data, b.len, FLO_FRAME_RESPONSE, 16, 32, FLO_ETOOBIG);
    flo_wbuf_free(&b);
}

Test(reader_errors, length_over_protocol_max)
{
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    flo_st32(h + 4, FLO_MAX_PAYLOAD + 1);
    expect_error_at(h, sizeof h, FLO_FRAME_REQUEST, UINT32_MAX, 32, FLO_ETOOBIG);
    /* Exactly the maximum is legal: the reader waits for the body. */
    struct flo_frame f;
    flo_st32(h + 4, FLO_MAX_PAYLOAD);
    cr_assert_eq(flo_frame_decode(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f), FLO_EAGAIN);
}

Test(reader_errors, empty_and_partial_magic_wait)
{
    struct flo_frame f;
    static const uint8_t part[] = {0x46, 0x4C, 0x4F};
    cr_assert_eq(flo_frame_decode(NULL, 0, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f), FLO_EAGAIN);
    cr_assert_eq(flo_frame_decode(part, sizeof part, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &f),
                 FLO_EAGAIN);
    struct flo_reader r;
    flo_reader_init(&r, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD);
    cr_assert_eq(flo_reader_next(&r, &f), FLO_EAGAIN);
    cr_assert_eq(flo_reader_feed(&r, NULL, 0), 0);
    cr_assert_eq(flo_reader_next(&r, &f), FLO_EAGAIN);
    flo_reader_free(&r);
}

Test(reader_errors, good_frame_then_bad_one)
{
    uint8_t two[2 * FLO_HEADER_SIZE];
    ping_frame(two);
    ping_frame(two + FLO_HEADER_SIZE);
    two[FLO_HEADER_SIZE + 16] ^= 1; /* second frame's CRC */
    struct flo_reader r;
    flo_reader_init(&r, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD);
    cr_assert_eq(flo_reader_feed(&r, two, sizeof two), 0);
    struct flo_frame f;
    cr_assert_eq(flo_reader_next(&r, &f), 0);
    cr_assert_eq(f.request_id, 1);
    cr_assert_eq(flo_reader_next(&r, &f), FLO_EBADCRC);
    flo_reader_free(&r);
}

Test(reader_errors, wrong_kind_is_bad_version)
{
    /* A response read as a request has version 0 at byte 22, and a request
     * read as a response has the op's low byte at byte 20 (0x00 for
     * kv_put; an op whose low byte is 0x01 would pass for version 1, which is
     * why each side must know which kind it reads). */
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    struct flo_frame f;
    cr_assert_eq(flo_resp_encode(&b, 1, 0, FLO_BUF_STR("PONG")), 0);
    cr_assert_eq(flo_frame_decode(b.data, b.len, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f),
                 FLO_EBADVERSION);
    flo_wbuf_reset(&b);
    cr_assert_eq(flo_req_encode_raw(&b, FLO_OP_KV_PUT, 1, FLO_BUF_NULL), 0);
    cr_assert_eq(flo_frame_decode(b.data, b.len, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &f),
                 FLO_EBADVERSION);
    flo_wbuf_free(&b);
}

/* ---- CRC ---- */

Test(crc, ping_check_value)
{
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    cr_assert_eq(flo_ld32(h + 16), 0x2A4649FCu);
}

Test(crc, standard_check_and_chaining)
{
    const char *s = "123456789";
    cr_assert_eq(flo_crc32(0, s, 9), 0xCBF43926u);
    cr_assert_eq(flo_crc32(flo_crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
    cr_assert_eq(flo_crc32(0, NULL, 0), 0);
}

Test(crc, header_field_is_skipped_not_zeroed)
{
    /* Changing the CRC field changes nothing but the comparison: the frame
     * with its computed CRC decodes, any other value is FLO_EBADCRC. */
    uint8_t h[FLO_HEADER_SIZE];
    ping_frame(h);
    struct flo_frame f;
    cr_assert_eq(flo_frame_decode(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f),
                 FLO_HEADER_SIZE);
    flo_st32(h + 16, 0);
    cr_assert_eq(flo_frame_decode(h, sizeof h, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f),
                 FLO_EBADCRC);
}

/* ---- envelope ---- */

static flo_buf_t bytes(const char *s, size_t n)
{
    return FLO_BUF(s, n);
}

Test(envelope, empty_body_gives_empty_parts)
{
    struct flo_envelope e;
    cr_assert_eq(flo_envelope_parse(FLO_BUF_NULL, &e), 0);
    cr_assert_eq(e.ns.len + e.key.len + e.value.len + e.opts.len, 0);
}

Test(envelope, options_missing_or_short)
{
    /* ns "a", key "b", value "c", then nothing / one stray byte. */
    static const char base[] = "\x01\x00"
                               "a"
                               "\x01\x00"
                               "b"
                               "\x01\x00\x00\x00"
                               "c"
                               "\x05";
    struct flo_envelope e;
    cr_assert_eq(flo_envelope_parse(bytes(base, 11), &e), 0);
    cr_assert_eq(e.ns.len, 1);
    cr_assert_eq(e.ns.ptr[0], 'a');
    cr_assert_eq(e.key.ptr[0], 'b');
    cr_assert_eq(e.value.len, 1);
    cr_assert_eq(e.value.ptr[0], 'c');
    cr_assert_eq(e.opts.len, 0);
    cr_assert_eq(flo_envelope_parse(bytes(base, 12), &e), 0);
    cr_assert_eq(e.opts.len, 0);
}

Test(envelope, opts_len_past_end_means_none)
{
    static const char b[] = "\x00\x00\x00\x00\x00\x00\x00\x00"
                            "\x05\x00"
                            "\x03\x00";
    struct flo_envelope e;
    cr_assert_eq(flo_envelope_parse(bytes(b, 12), &e), 0);
    cr_assert_eq(e.opts.len, 0);
}

Test(envelope, bytes_after_options_ignored)
{
    static const char b[] = "\x00\x00\x00\x00\x00\x00\x00\x00"
                            "\x02\x00"
                            "\x03\x00"
                            "junk";
    struct flo_envelope e;
    cr_assert_eq(flo_envelope_parse(bytes(b, 16), &e), 0);
    cr_assert_eq(e.opts.len, 2);
    cr_assert(flo_opt_has_flag(e.opts, FLO_OPT_IF_NOT_EXISTS));
}

Test(envelope, inner_length_overrun_is_trunc)
{
    struct flo_envelope e;
    static const char ns_over[] = "\x05\x00"
                                  "ab";
    static const char key_over[] = "\x00\x00\x09\x00"
                                   "k";
    static const char val_over[] = "\x00\x00\x00\x00\xff\xff\xff\xff"
                                   "v";
    static const char half_len[] = "\x00";
    cr_assert_eq(flo_envelope_parse(bytes(ns_over, 4), &e), FLO_ETRUNC);
    cr_assert_eq(flo_envelope_parse(bytes(key_over, 5), &e), FLO_ETRUNC);
    cr_assert_eq(flo_envelope_parse(bytes(val_over, 9), &e), FLO_ETRUNC);
    cr_assert_eq(flo_envelope_parse(bytes(half_len, 1), &e), FLO_ETRUNC);
    /* value_len field itself cut short */
    cr_assert_eq(flo_envelope_parse(bytes(val_over, 6), &e), FLO_ETRUNC);
}

Test(envelope, request_encode_limits)
{
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    char *big = calloc(1, 0x10000);
    cr_assert_not_null(big);
    struct flo_req req = {.op = FLO_OP_KV_GET, .request_id = 1, .key = FLO_BUF(big, 0x10000)};
    cr_assert_eq(flo_req_encode(&out, &req), FLO_EINVAL);
    req.key = FLO_BUF(big, 0xFFFF);
    cr_assert_eq(flo_req_encode(&out, &req), 0);
    cr_assert_eq(out.len, FLO_HEADER_SIZE + 10 + 0xFFFF);
    free(big);
    flo_wbuf_free(&out);
}

/* ---- TLV options ---- */

Test(tlv, first_occurrence_wins)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_LIMIT, 10), 0);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_LIMIT, 20), 0);
    uint32_t v = 0;
    cr_assert(flo_opt_get_u32(flo_wbuf_view(&o), FLO_OPT_LIMIT, &v));
    cr_assert_eq(v, 10);
    flo_wbuf_free(&o);
}

Test(tlv, wrong_width_reads_absent)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_TTL_MS, 5), 0);   /* u64 tag with 4 bytes */
    cr_assert_eq(flo_opt_u64(&o, FLO_OPT_BLOCK_MS, 5), 0); /* u32 tag with 8 bytes */
    cr_assert_eq(flo_opt_u8(&o, FLO_OPT_PRIORITY, 3), 0);
    flo_buf_t ov = flo_wbuf_view(&o);
    uint64_t v64;
    uint32_t v32;
    uint8_t v8 = 0;
    cr_assert_not(flo_opt_get_u64(ov, FLO_OPT_TTL_MS, &v64));
    cr_assert_not(flo_opt_get_u32(ov, FLO_OPT_BLOCK_MS, &v32));
    cr_assert_not(flo_opt_get_u32(ov, FLO_OPT_PRIORITY, &v32));
    cr_assert(flo_opt_get_u8(ov, FLO_OPT_PRIORITY, &v8));
    cr_assert_eq(v8, 3);
    /* The raw lookup still finds them. */
    flo_buf_t d;
    cr_assert(flo_opt_find(ov, FLO_OPT_TTL_MS, &d));
    cr_assert_eq(d.len, 4);
    flo_wbuf_free(&o);
}

Test(tlv, truncated_trailing_tlv_ends_search)
{
    /* limit=7, then a ttl TLV that claims 8 bytes but has 3. */
    static const uint8_t b[] = {0x05, 4, 7, 0, 0, 0, 0x01, 8, 1, 2, 3};
    uint32_t v = 0;
    uint64_t t;
    flo_buf_t d;
    cr_assert(flo_opt_get_u32(FLO_BUF(b, sizeof b), FLO_OPT_LIMIT, &v));
    cr_assert_eq(v, 7);
    cr_assert_not(flo_opt_get_u64(FLO_BUF(b, sizeof b), FLO_OPT_TTL_MS, &t));
    cr_assert_not(flo_opt_find(FLO_BUF(b, sizeof b), FLO_OPT_TTL_MS, &d));
    /* A lone tag byte without its length. */
    cr_assert_not(flo_opt_find(FLO_BUF(b, 1), FLO_OPT_LIMIT, &d));
}

Test(tlv, flags)
{
    static const uint8_t b[] = {0x03, 1, 1, 0x04, 1, 0, 0x23, 0};
    flo_buf_t o = FLO_BUF(b, sizeof b);
    cr_assert(flo_opt_has_flag(o, FLO_OPT_IF_NOT_EXISTS));
    cr_assert_not(flo_opt_has_flag(o, FLO_OPT_IF_EXISTS)); /* 1-byte zero */
    cr_assert(flo_opt_has_flag(o, FLO_OPT_STREAM_TAIL));
    cr_assert_not(flo_opt_has_flag(o, FLO_OPT_DRY_RUN));
}

Test(tlv, stream_id_is_big_endian)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_opt_stream_id(&o, FLO_OPT_STREAM_START, 0x0102030405060708ull, 9), 0);
    static const uint8_t want[] = {0x21, 16, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9};
    cr_assert_eq(o.len, sizeof want);
    cr_assert_arr_eq(o.data, want, sizeof want);
    uint64_t ts = 0, seq = 0;
    cr_assert(flo_opt_get_stream_id(flo_wbuf_view(&o), FLO_OPT_STREAM_START, &ts, &seq));
    cr_assert_eq(ts, 0x0102030405060708ull);
    cr_assert_eq(seq, 9);
    cr_assert_not(flo_opt_get_stream_id(flo_wbuf_view(&o), FLO_OPT_STREAM_END, &ts, &seq));
    flo_wbuf_free(&o);
}

Test(tlv, bytes_limit_and_unknown_tags)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    char data[256] = {0};
    cr_assert_eq(flo_opt_bytes(&o, FLO_OPT_ROUTING_KEY, data, 256), FLO_EINVAL);
    cr_assert_eq(flo_opt_bytes(&o, 0xEE, data, 255), 0); /* unknown tag, max size */
    cr_assert_eq(flo_opt_bytes(&o, FLO_OPT_ROUTING_KEY, "rk", 2), 0);
    flo_buf_t d;
    cr_assert(flo_opt_find(flo_wbuf_view(&o), FLO_OPT_ROUTING_KEY, &d));
    cr_assert_eq(d.len, 2);
    cr_assert_eq(memcmp(d.ptr, "rk", 2), 0);
    flo_wbuf_free(&o);
}
