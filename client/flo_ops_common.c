/*
 * Pieces every flo_ops family (and flo_kv.c) uses: the [count u32]
 * placeholder that server encoders patch once a list is complete, the
 * shard-walk list trailer, the end-of-body checks of the decoders, and the
 * counted-list iterator behind every *_begin / *_next pair.
 */
#include "flo_ops_internal.h"

int flo_ops_count_reserve(struct flo_wbuf *b, size_t *pos)
{
    *pos = b->len;
    return flo_wbuf_u32(b, 0);
}

void flo_ops_count_patch(struct flo_wbuf *b, size_t pos, uint32_t count)
{
    if (pos + 4 <= b->len) {
        flo_st32(b->data + pos, count);
    }
}

int flo_ops_list_trailer(struct flo_wbuf *b)
{
    int rc = flo_wbuf_u8(b, 0);
    if (rc == 0) {
        rc = flo_wbuf_u16(b, 0);
    }
    return rc;
}

int flo__ops_end(const struct flo_cur *c)
{
    if (c->err != 0) {
        return c->err;
    }
    return c->left == 0 ? 0 : FLO_EMALFORMED;
}

int flo__ops_trailer_end(struct flo_cur *c)
{
    if (c->err != 0) {
        return c->err;
    }
    if (c->left == 0) {
        return 0; /* a merged walk result may carry no trailer */
    }
    uint8_t has_more;
    flo_cur_u8(c, &has_more);
    if (has_more > 1) {
        return FLO_EMALFORMED;
    }
    if (c->left == 0) {
        return 0; /* older fallback paths stop after has_more */
    }
    flo_buf_t cursor;
    flo_cur_str16(c, &cursor);
    return flo__ops_end(c);
}

int flo__cur_flag(struct flo_cur *c, bool *has)
{
    uint8_t flag = 0;
    if (flo_cur_u8(c, &flag) != 0) {
        return c->err;
    }
    if (flag > 1) {
        return FLO_EMALFORMED;
    }
    *has = flag == 1;
    return 0;
}

int flo__parse_u32_or(flo_buf_t value, uint32_t dflt, uint32_t *out)
{
    if (value.len == 0) {
        *out = dflt;
        return 0;
    }
    if (value.len != 4) {
        return FLO_EMALFORMED;
    }
    uint32_t n = flo_ld32(value.ptr);
    *out = n ? n : dflt;
    return 0;
}

int flo__list_skip(struct flo_cur *c, uint32_t n, flo__entry_read_fn read, void *scratch)
{
    /* Every entry consumes at least one byte or fails, so a huge count from
     * a hostile body is bounded by the body length. */
    for (uint32_t i = 0; i < n; i++) {
        int rc = read(c, scratch);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int flo__list_begin(flo_buf_t body, struct flo_cur *cur, uint32_t *remaining, uint32_t *count,
                    flo__entry_read_fn read, void *scratch, unsigned flags)
{
    flo_cur_init(cur, body);
    *remaining = 0;
    *count = 0;
    if ((flags & FLO__LIST_EMPTY_OK) && body.len == 0) {
        return 0;
    }
    uint32_t n;
    if (flo_cur_u32(cur, &n) != 0) {
        return FLO_ETRUNC;
    }
    /* Validate on a copy so the caller emits nothing from a body that turns
     * out to be broken further on. */
    struct flo_cur c = *cur;
    int rc = flo__list_skip(&c, n, read, scratch);
    if (rc == 0) {
        rc = (flags & FLO__LIST_TRAILER) ? flo__ops_trailer_end(&c) : flo__ops_end(&c);
    }
    if (rc != 0) {
        return rc;
    }
    *remaining = n;
    *count = n;
    return 0;
}

int flo__list_next(struct flo_cur *cur, uint32_t *remaining, flo__entry_read_fn read, void *entry)
{
    if (*remaining == 0) {
        return 0;
    }
    int rc = read(cur, entry);
    if (rc != 0) {
        return rc;
    }
    (*remaining)--;
    return 1;
}

int flo__str16_read(struct flo_cur *c, void *name)
{
    return flo_cur_str16(c, name);
}
