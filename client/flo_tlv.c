/*
 * TLV options: [tag u8][len u8][data]. Integers are little-endian, except
 * StreamIDs, which are 16 bytes big-endian (ts then seq).
 */
#include "flo/flo_codec.h"
#include "flo/flo_error.h"

int flo_opt_bytes(struct flo_wbuf *o, uint8_t tag, const void *p, size_t n)
{
    if (n > FLO_MAX_OPTION_DATA) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(o, 2 + n);
    if (rc != 0) {
        return rc;
    }
    o->data[o->len++] = tag;
    o->data[o->len++] = (uint8_t)n;
    return flo_wbuf_append(o, p, n);
}

int flo_opt_flag(struct flo_wbuf *o, uint8_t tag)
{
    return flo_opt_bytes(o, tag, NULL, 0);
}

int flo_opt_u8(struct flo_wbuf *o, uint8_t tag, uint8_t v)
{
    return flo_opt_bytes(o, tag, &v, 1);
}

int flo_opt_u32(struct flo_wbuf *o, uint8_t tag, uint32_t v)
{
    uint8_t t[4];
    flo_st32(t, v);
    return flo_opt_bytes(o, tag, t, sizeof t);
}

int flo_opt_u64(struct flo_wbuf *o, uint8_t tag, uint64_t v)
{
    uint8_t t[8];
    flo_st64(t, v);
    return flo_opt_bytes(o, tag, t, sizeof t);
}

static void st64_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t ld64_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

int flo_opt_stream_id(struct flo_wbuf *o, uint8_t tag, uint64_t ts, uint64_t seq)
{
    uint8_t t[16];
    st64_be(t, ts);
    st64_be(t + 8, seq);
    return flo_opt_bytes(o, tag, t, sizeof t);
}

bool flo_opt_find(flo_buf_t opts, uint8_t tag, flo_buf_t *data)
{
    size_t i = 0;
    while (i + 2 <= opts.len) {
        uint8_t t = opts.ptr[i];
        uint8_t n = opts.ptr[i + 1];
        if (i + 2 + n > opts.len) {
            return false; /* truncated trailing TLV ends the iteration */
        }
        if (t == tag) {
            *data = FLO_BUF(opts.ptr + i + 2, n);
            return true;
        }
        i += 2 + (size_t)n;
    }
    return false;
}

bool flo_opt_get_u8(flo_buf_t opts, uint8_t tag, uint8_t *v)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, tag, &d) || d.len != 1) {
        return false;
    }
    *v = d.ptr[0];
    return true;
}

bool flo_opt_get_u32(flo_buf_t opts, uint8_t tag, uint32_t *v)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, tag, &d) || d.len != 4) {
        return false;
    }
    *v = flo_ld32(d.ptr);
    return true;
}

bool flo_opt_get_u64(flo_buf_t opts, uint8_t tag, uint64_t *v)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, tag, &d) || d.len != 8) {
        return false;
    }
    *v = flo_ld64(d.ptr);
    return true;
}

bool flo_opt_get_stream_id(flo_buf_t opts, uint8_t tag, uint64_t *ts, uint64_t *seq)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, tag, &d) || d.len != 16) {
        return false;
    }
    *ts = ld64_be(d.ptr);
    *seq = ld64_be(d.ptr + 8);
    return true;
}

bool flo_opt_has_flag(flo_buf_t opts, uint8_t tag)
{
    flo_buf_t d;
    if (!flo_opt_find(opts, tag, &d)) {
        return false;
    }
    return d.len == 0 || (d.len == 1 && d.ptr[0] != 0);
}
