/*
 * Frame encoding and decoding: the 32-byte request and response headers with
 * their CRC32, the request envelope, and the incremental reader that turns
 * a byte stream split at arbitrary points into frames
 * (shared/flo-protocol-core.md §2).
 */
#include "flo/flo_codec.h"
#include "flo/flo_error.h"

/* The CRC covers header bytes 0..15, then 20..31, then the body. */
static uint32_t frame_crc(const uint8_t *hdr, const uint8_t *body, size_t body_len)
{
    uint32_t c = flo_crc32(0, hdr, 16);
    c = flo_crc32(c, hdr + 20, 12);
    return flo_crc32(c, body, body_len);
}

/* Write a header at `h` for a body already placed right after it. */
static void put_header(uint8_t *h, uint32_t body_len, uint64_t id, const uint8_t tail[4])
{
    flo_st32(h, FLO_MAGIC);
    flo_st32(h + 4, body_len);
    flo_st64(h + 8, id);
    memcpy(h + 20, tail, 4);
    memset(h + 24, 0, 8);
    flo_st32(h + 16, frame_crc(h, h + FLO_HEADER_SIZE, body_len));
}

int flo_req_encode(struct flo_wbuf *out, const struct flo_req *req)
{
    if (req->ns.len > UINT16_MAX || req->key.len > UINT16_MAX || req->opts.len > UINT16_MAX ||
        req->value.len > FLO_MAX_PAYLOAD) {
        return FLO_EINVAL;
    }
    size_t body = 2 + req->ns.len + 2 + req->key.len + 4 + req->value.len + 2 + req->opts.len;
    int rc = flo_wbuf_reserve(out, FLO_HEADER_SIZE + body);
    if (rc != 0) {
        return rc;
    }
    size_t start = out->len;
    out->len += FLO_HEADER_SIZE;
    /* Capacity is reserved above, so these appends cannot fail. */
    flo_wbuf_str16(out, req->ns.ptr, req->ns.len);
    flo_wbuf_str16(out, req->key.ptr, req->key.len);
    flo_wbuf_str32(out, req->value.ptr, req->value.len);
    flo_wbuf_str16(out, req->opts.ptr, req->opts.len);
    const uint8_t tail[4] = {(uint8_t)req->op, (uint8_t)(req->op >> 8), FLO_PROTO_VERSION,
                             req->flags};
    put_header(out->data + start, (uint32_t)body, req->request_id, tail);
    return 0;
}

/* Append a header with bytes 20..23 = `tail`, then `body` verbatim. */
static int encode_verbatim(struct flo_wbuf *out, uint64_t id, const uint8_t tail[4], flo_buf_t body)
{
    if (body.len > FLO_MAX_PAYLOAD) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(out, FLO_HEADER_SIZE + body.len);
    if (rc != 0) {
        return rc;
    }
    size_t start = out->len;
    out->len += FLO_HEADER_SIZE;
    flo_wbuf_append(out, body.ptr, body.len);
    put_header(out->data + start, (uint32_t)body.len, id, tail);
    return 0;
}

int flo_req_encode_raw(struct flo_wbuf *out, uint16_t op, uint64_t request_id, flo_buf_t body)
{
    const uint8_t tail[4] = {(uint8_t)op, (uint8_t)(op >> 8), FLO_PROTO_VERSION, 0};
    return encode_verbatim(out, request_id, tail, body);
}

int flo_resp_encode(struct flo_wbuf *out, uint64_t request_id, uint8_t status, flo_buf_t body)
{
    const uint8_t tail[4] = {FLO_PROTO_VERSION, status, 0, 0};
    return encode_verbatim(out, request_id, tail, body);
}

long flo_frame_decode(const uint8_t *buf, size_t len, enum flo_frame_kind_e kind,
                      uint32_t max_payload, struct flo_frame *out)
{
    if (len < FLO_HEADER_SIZE) {
        /* Reject a bad magic as early as its bytes arrive. */
        static const uint8_t magic[4] = {0x46, 0x4C, 0x4F, 0x00};
        size_t have = len < 4 ? len : 4;
        if (have > 0 && memcmp(buf, magic, have) != 0) { /* buf may be NULL if len is 0 */
            return FLO_EBADMAGIC;
        }
        return FLO_EAGAIN;
    }
    if (flo_ld32(buf) != FLO_MAGIC) {
        return FLO_EBADMAGIC;
    }
    uint8_t version = kind == FLO_FRAME_REQUEST ? buf[22] : buf[20];
    if (version != FLO_PROTO_VERSION) {
        return FLO_EBADVERSION;
    }
    for (int i = 24; i < 32; i++) {
        if (buf[i] != 0) {
            return FLO_EBADRESERVED;
        }
    }
    uint32_t body_len = flo_ld32(buf + 4);
    if (body_len > max_payload || body_len > FLO_MAX_PAYLOAD) {
        return FLO_ETOOBIG;
    }
    if (len - FLO_HEADER_SIZE < body_len) {
        return FLO_EAGAIN;
    }
    const uint8_t *body = buf + FLO_HEADER_SIZE;
    if (frame_crc(buf, body, body_len) != flo_ld32(buf + 16)) {
        return FLO_EBADCRC;
    }
    out->request_id = flo_ld64(buf + 8);
    if (kind == FLO_FRAME_REQUEST) {
        out->op = flo_ld16(buf + 20);
        out->status = 0;
        out->flags = buf[23];
    } else {
        out->op = 0;
        out->status = buf[21];
        out->flags = buf[22];
    }
    out->body = FLO_BUF(body, body_len);
    return (long)(FLO_HEADER_SIZE + body_len);
}

/* ---- incremental reader ---- */

void flo_reader_init(struct flo_reader *r, enum flo_frame_kind_e kind, uint32_t max_payload)
{
    flo_wbuf_init(&r->in);
    r->pos = 0;
    r->kind = kind;
    r->max_payload = max_payload;
    r->err = 0;
}

void flo_reader_free(struct flo_reader *r)
{
    flo_wbuf_free(&r->in);
    r->pos = 0;
}

int flo_reader_feed(struct flo_reader *r, const void *data, size_t len)
{
    if (r->err != 0) {
        return r->err;
    }
    /* Compact lazily: frames handed out by _next stay valid until here. */
    if (r->pos > 0) {
        flo_wbuf_consume(&r->in, r->pos);
        r->pos = 0;
    }
    return flo_wbuf_append(&r->in, data, len);
}

int flo_reader_next(struct flo_reader *r, struct flo_frame *out)
{
    if (r->err != 0) {
        return r->err;
    }
    size_t avail = r->in.len - r->pos;
    if (avail == 0) {
        return FLO_EAGAIN;
    }
    long n = flo_frame_decode(r->in.data + r->pos, avail, r->kind, r->max_payload, out);
    if (n == FLO_EAGAIN) {
        return FLO_EAGAIN;
    }
    if (n < 0) {
        r->err = (int)n;
        return r->err;
    }
    r->pos += (size_t)n;
    return 0;
}

/* ---- envelope ---- */

int flo_envelope_parse(flo_buf_t body, struct flo_envelope *out)
{
    out->ns = out->key = out->value = out->opts = FLO_BUF_NULL;
    if (body.len == 0) {
        return 0;
    }
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_str16(&c, &out->ns);
    flo_cur_str16(&c, &out->key);
    flo_cur_str32(&c, &out->value);
    if (c.err != 0) {
        return FLO_ETRUNC;
    }
    /* Options are optional; a length past the end means "no options". */
    uint16_t olen;
    if (flo_cur_u16(&c, &olen) == 0 && olen <= c.left) {
        out->opts = FLO_BUF(c.p, olen);
    }
    return 0;
}
