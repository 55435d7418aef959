/*
 * Byte views and growable byte buffers used by every layer of libflo.
 *
 * A flo_buf_t is a borrowed (ptr, len) view: payloads are binary, never
 * NUL-terminated. A struct flo_wbuf owns its memory and grows up to a caller
 * supplied bound; it is the output buffer for frame encoding and the input
 * accumulator for connection reads. Little-endian load/store helpers live
 * here because every Flo integer is little-endian (except StreamIDs in TLV
 * options, see flo_codec.h).
 */
#ifndef FLO_BUF_H
#define FLO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A borrowed byte range. The owner of the bytes is whoever handed it out. */
typedef struct flo_buf {
    const uint8_t *ptr;
    size_t len;
} flo_buf_t;

#define FLO_BUF(p, n)  ((flo_buf_t){(const uint8_t *)(p), (size_t)(n)})
#define FLO_BUF_STR(s) ((flo_buf_t){(const uint8_t *)(s), strlen(s)})
#define FLO_BUF_NULL   ((flo_buf_t){NULL, 0})

/* A growable, owned byte buffer. Embed it and call flo_wbuf_init/_free. */
struct flo_wbuf {
    uint8_t *data; /* heap memory, owned; NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
};

/* Initialise an empty buffer (no allocation). */
void flo_wbuf_init(struct flo_wbuf *b);
/* Release the memory; the buffer is empty and reusable afterwards. */
void flo_wbuf_free(struct flo_wbuf *b);
/* Make room for at least `extra` more bytes. 0 or FLO_ENOMEM. */
int flo_wbuf_reserve(struct flo_wbuf *b, size_t extra);
/* Append bytes. 0 or FLO_ENOMEM (the buffer is unchanged on failure). */
int flo_wbuf_append(struct flo_wbuf *b, const void *p, size_t n);
int flo_wbuf_u8(struct flo_wbuf *b, uint8_t v);
int flo_wbuf_u16(struct flo_wbuf *b, uint16_t v); /* little-endian */
int flo_wbuf_u32(struct flo_wbuf *b, uint32_t v); /* little-endian */
int flo_wbuf_u64(struct flo_wbuf *b, uint64_t v); /* little-endian */
/* Append [len u16][bytes]; FLO_EINVAL if n > 65535. */
int flo_wbuf_str16(struct flo_wbuf *b, const void *p, size_t n);
/* Append [len u32][bytes]. */
int flo_wbuf_str32(struct flo_wbuf *b, const void *p, size_t n);
/* Drop the first n bytes (consumed input), keeping the rest. */
void flo_wbuf_consume(struct flo_wbuf *b, size_t n);
/* Forget the contents but keep the allocation. */
static inline void flo_wbuf_reset(struct flo_wbuf *b)
{
    b->len = 0;
}
static inline flo_buf_t flo_wbuf_view(const struct flo_wbuf *b)
{
    return FLO_BUF(b->data, b->len);
}

/* Little-endian loads and stores on raw memory (no alignment needed). */
static inline uint16_t flo_ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t flo_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t flo_ld64(const uint8_t *p)
{
    return (uint64_t)flo_ld32(p) | ((uint64_t)flo_ld32(p + 4) << 32);
}
static inline void flo_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void flo_st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void flo_st64(uint8_t *p, uint64_t v)
{
    flo_st32(p, (uint32_t)v);
    flo_st32(p + 4, (uint32_t)(v >> 32));
}

/*
 * A bounds-checked cursor over a borrowed body, for decoders. Every read
 * returns 0 or FLO_ETRUNC when fewer bytes remain than asked for; once a
 * read fails the cursor stays failed (err sticks) so a decoder may check
 * once at the end.
 */
struct flo_cur {
    const uint8_t *p;
    size_t left;
    int err; /* 0 or the first FLO_ETRUNC */
};
static inline void flo_cur_init(struct flo_cur *c, flo_buf_t b)
{
    c->p = b.ptr;
    c->left = b.len;
    c->err = 0;
}
int flo_cur_u8(struct flo_cur *c, uint8_t *v);
int flo_cur_u16(struct flo_cur *c, uint16_t *v);
int flo_cur_u32(struct flo_cur *c, uint32_t *v);
int flo_cur_u64(struct flo_cur *c, uint64_t *v);
/* Take n bytes as a view into the body. */
int flo_cur_bytes(struct flo_cur *c, size_t n, flo_buf_t *out);
/* Take [len u16][bytes] / [len u32][bytes]. */
int flo_cur_str16(struct flo_cur *c, flo_buf_t *out);
int flo_cur_str32(struct flo_cur *c, flo_buf_t *out);
/* The rest of the body (possibly empty). Never fails. */
flo_buf_t flo_cur_rest(struct flo_cur *c);

#endif
