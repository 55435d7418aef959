/*
 * Helpers shared by the flo_ops_*.c files (queue, stream, group, action,
 * worker codecs) and nothing else: list trailers, end-of-body checks and the
 * record-list validator that stream reads and group claims both use.
 */
#ifndef FLO_OPS_INTERNAL_H
#define FLO_OPS_INTERNAL_H

#include "flo/flo_buf.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

/* 0 if the cursor has not failed and nothing is left; FLO_ETRUNC if a read
 * failed; FLO_EMALFORMED if bytes remain. */
int flo__ops_end(const struct flo_cur *c);

/* Consume an optional shard-walk trailer [has_more u8][cursor str16] (either
 * part may be absent: servers and walkers differ) and require the end. */
int flo__ops_trailer_end(struct flo_cur *c);

/* Read one record of a read reply at the cursor (ops.md §3.2). */
int flo__stream_record_read(struct flo_cur *c, struct flo_stream_record *r);

/* Read `count` records from a copy of *c and leave *c after them. */
int flo__stream_records_skip(struct flo_cur *c, uint32_t count);

/* Append bytes16/str16 with a u16 length; FLO_EINVAL if n > 65535. */
static inline int flo__put_str16(struct flo_wbuf *b, flo_buf_t s)
{
    return flo_wbuf_str16(b, s.ptr, s.len);
}

/* Append a u32-prefixed byte string; FLO_EINVAL if n > UINT32_MAX. */
static inline int flo__put_str32(struct flo_wbuf *b, flo_buf_t s)
{
    if (s.len > UINT32_MAX) {
        return FLO_EINVAL;
    }
    return flo_wbuf_str32(b, s.ptr, s.len);
}

#endif
