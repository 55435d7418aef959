/*
 * Growable owned byte buffers (struct flo_wbuf) and the bounds-checked read
 * cursor (struct flo_cur) used by every decoder.
 */
#include <stdlib.h>

#include "flo/flo_buf.h"
#include "flo/flo_error.h"

#define WBUF_MIN_CAP 256

void flo_wbuf_init(struct flo_wbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void flo_wbuf_free(struct flo_wbuf *b)
{
    free(b->data);
    flo_wbuf_init(b);
}

int flo_wbuf_reserve(struct flo_wbuf *b, size_t extra)
{
    if (extra <= b->cap - b->len) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return FLO_ENOMEM;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : WBUF_MIN_CAP;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL) {
        return FLO_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int flo_wbuf_append(struct flo_wbuf *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = flo_wbuf_reserve(b, n);
    if (rc != 0) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int flo_wbuf_u8(struct flo_wbuf *b, uint8_t v)
{
    return flo_wbuf_append(b, &v, 1);
}

int flo_wbuf_u16(struct flo_wbuf *b, uint16_t v)
{
    uint8_t t[2];
    flo_st16(t, v);
    return flo_wbuf_append(b, t, sizeof t);
}

int flo_wbuf_u32(struct flo_wbuf *b, uint32_t v)
{
    uint8_t t[4];
    flo_st32(t, v);
    return flo_wbuf_append(b, t, sizeof t);
}

int flo_wbuf_u64(struct flo_wbuf *b, uint64_t v)
{
    uint8_t t[8];
    flo_st64(t, v);
    return flo_wbuf_append(b, t, sizeof t);
}

int flo_wbuf_str16(struct flo_wbuf *b, const void *p, size_t n)
{
    if (n > UINT16_MAX) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(b, 2 + n);
    if (rc != 0) {
        return rc;
    }
    flo_wbuf_u16(b, (uint16_t)n);
    return flo_wbuf_append(b, p, n);
}

int flo_wbuf_str32(struct flo_wbuf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_reserve(b, 4 + n);
    if (rc != 0) {
        return rc;
    }
    flo_wbuf_u32(b, (uint32_t)n);
    return flo_wbuf_append(b, p, n);
}

void flo_wbuf_consume(struct flo_wbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- cursor ---- */

static int cur_take(struct flo_cur *c, size_t n, const uint8_t **p)
{
    if (c->err != 0 || c->left < n) {
        c->err = FLO_ETRUNC;
        return FLO_ETRUNC;
    }
    *p = c->p;
    /* Skip the arithmetic for n == 0: p may be NULL (an empty body given as
     * FLO_BUF_NULL), and NULL + 0 is undefined in C (clang's UBSan flags it). */
    if (n > 0) {
        c->p += n;
        c->left -= n;
    }
    return 0;
}

int flo_cur_u8(struct flo_cur *c, uint8_t *v)
{
    const uint8_t *p;
    int rc = cur_take(c, 1, &p);
    if (rc == 0) {
        *v = p[0];
    }
    return rc;
}

int flo_cur_u16(struct flo_cur *c, uint16_t *v)
{
    const uint8_t *p;
    int rc = cur_take(c, 2, &p);
    if (rc == 0) {
        *v = flo_ld16(p);
    }
    return rc;
}

int flo_cur_u32(struct flo_cur *c, uint32_t *v)
{
    const uint8_t *p;
    int rc = cur_take(c, 4, &p);
    if (rc == 0) {
        *v = flo_ld32(p);
    }
    return rc;
}

int flo_cur_u64(struct flo_cur *c, uint64_t *v)
{
    const uint8_t *p;
    int rc = cur_take(c, 8, &p);
    if (rc == 0) {
        *v = flo_ld64(p);
    }
    return rc;
}

int flo_cur_bytes(struct flo_cur *c, size_t n, flo_buf_t *out)
{
    const uint8_t *p;
    int rc = cur_take(c, n, &p);
    if (rc == 0) {
        *out = FLO_BUF(p, n);
    }
    return rc;
}

int flo_cur_str16(struct flo_cur *c, flo_buf_t *out)
{
    uint16_t n;
    int rc = flo_cur_u16(c, &n);
    return rc != 0 ? rc : flo_cur_bytes(c, n, out);
}

int flo_cur_str32(struct flo_cur *c, flo_buf_t *out)
{
    uint32_t n;
    int rc = flo_cur_u32(c, &n);
    return rc != 0 ? rc : flo_cur_bytes(c, n, out);
}

flo_buf_t flo_cur_rest(struct flo_cur *c)
{
    flo_buf_t b = FLO_BUF(c->p, c->left);
    if (c->left > 0) { /* see cur_take: never NULL + 0 */
        c->p += c->left;
        c->left = 0;
    }
    return b;
}
