/*
 * Pieces every flo_ops family uses: the [count u32] placeholder that server
 * encoders patch once a list is complete, the shard-walk list trailer, and
 * the end-of-body checks of the decoders.
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
