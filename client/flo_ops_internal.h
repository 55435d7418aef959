/*
 * Helpers shared by the flo_ops_*.c files (queue, stream, group, action,
 * worker codecs) and flo_kv.c, and nothing else: the counted-list iterator
 * every list reply uses, list trailers, end-of-body checks and the stream
 * record reader that stream reads and group claims both use.
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

/* Read a presence flag [has u8]: 0 with *has set, FLO_ETRUNC, or
 * FLO_EMALFORMED for a byte other than 0 and 1 (*has is then untouched). */
int flo__cur_flag(struct flo_cur *c, bool *has);

/* A value that is empty or exactly [n u32] (list_runs limit, stream
 * partition count): *out = n, or dflt when the value is empty or n is 0.
 * FLO_EMALFORMED for any other length, *out untouched. */
int flo__parse_u32_or(flo_buf_t value, uint32_t dflt, uint32_t *out);

/* Reads one list entry at the cursor into *entry (the caller's entry type)
 * and returns 0, or the error (FLO_ETRUNC, FLO_EMALFORMED). An entry that
 * reads successfully must consume at least one byte: that is what bounds a
 * hostile count by the body length. */
typedef int (*flo__entry_read_fn)(struct flo_cur *c, void *entry);

/* What flo__list_begin accepts around the entries (a bit set). */
enum flo__list_flags_e {
    FLO__LIST_EXACT = 0,         /* the entries end the body */
    FLO__LIST_TRAILER = 1 << 0,  /* an optional shard-walk trailer may follow */
    FLO__LIST_EMPTY_OK = 1 << 1, /* a 0-byte body is an empty list */
};

/* Read `n` entries at *c with `read`, each into *scratch, leaving *c after
 * them. 0 or the first entry's error. */
int flo__list_skip(struct flo_cur *c, uint32_t n, flo__entry_read_fn read, void *scratch);

/* Start a [count u32](entry)* list iterator over body: *cur is set after the
 * count, every entry is validated with `read` on a copy of it (scratch gets
 * each one), then the end (flags). On 0, *remaining = *count = the count
 * and flo__list_next cannot fail; on error both are 0. FLO_ETRUNC without
 * a count, else the entry's or the end check's error. */
int flo__list_begin(flo_buf_t body, struct flo_cur *cur, uint32_t *remaining, uint32_t *count,
                    flo__entry_read_fn read, void *scratch, unsigned flags);

/* 1 and *entry read with `read`, 0 when *remaining is 0, or the reader's
 * error. */
int flo__list_next(struct flo_cur *cur, uint32_t *remaining, flo__entry_read_fn read, void *entry);

/* Read a str16 into a flo_buf_t: the entry reader of name lists. */
int flo__str16_read(struct flo_cur *c, void *name);

/* Read one record of a read reply at the cursor into a struct
 * flo_stream_record (ops.md §3.2); a flo__entry_read_fn. */
int flo__stream_record_read(struct flo_cur *c, void *record);

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
