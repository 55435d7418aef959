/*
 * The stream engine's data structures, shared by dev_stream.c (streams,
 * records) and dev_group.c (consumer groups) and by nothing else. Callers
 * use dev_stream.h and dev_group.h.
 */
#ifndef DEV_STREAM_INTERNAL_H
#define DEV_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "dev_group.h"
#include "dev_stream.h"

/* One record of an append: offsets into the append's value copy. */
struct dev_rec {
    uint32_t poff, plen; /* payload */
    uint32_t hoff, hlen; /* header block, narrow (u16 lengths) form */
    uint32_t hcount;     /* headers in the block */
};

/* One append: a copy of its batch value plus an index of its records.
 * Record i has id (first.ts, first.seq + i). One allocation. */
struct dev_append {
    struct flo_stream_id first; /* id of record 0 */
    uint32_t n;                 /* records, 1..1000 */
    uint32_t partition;         /* partition of every record */
    size_t vlen;                /* stored batch value bytes */
    uint8_t *value;             /* points after recs[] */
    struct dev_rec recs[];      /* n entries */
};

/* A consumer of a group. */
struct dev_member {
    UT_hash_handle hh; /* group->members, keyed by name */
    uint32_t pending;  /* PEL entries it owns */
    bool leaving;      /* left while owning entries: freed when pending reaches 0 */
    size_t nlen;       /* name length */
    uint8_t name[];    /* consumer name */
};

/* A PEL slot; owner NULL = tombstone (acked or dropped). */
struct dev_pel {
    struct flo_stream_id id;  /* record id */
    struct dev_member *owner; /* consumer holding it */
    uint32_t delivery_count;  /* deliveries so far (read: 1) */
    uint64_t delivered_at;    /* monotonic ms the idle timer restarted */
};

struct dev_stream;

/* A consumer group. */
struct dev_group {
    UT_hash_handle hh;           /* stream->groups, keyed by name */
    bool has_cursor;             /* false: nothing handed out yet */
    struct flo_stream_id cursor; /* last id handed out */
    uint32_t ack_timeout_ms;     /* sweeper: idle time before action, 0 = off */
    uint8_t max_deliver;         /* sweeper: drop at this delivery count, 0 = never */
    uint64_t created_at_ns;      /* wall clock */
    struct dev_member *members;  /* uthash by name */
    uint32_t n_members;          /* HASH_COUNT(members) */
    struct dev_pel *pel;         /* id order, with tombstones */
    size_t pel_len, pel_cap;     /* slots used / allocated */
    size_t pel_live;             /* slots with an owner */
    size_t nlen;                 /* name length */
    uint8_t name[];              /* group name */
};

/* A stream. */
struct dev_stream {
    UT_hash_handle hh;            /* ss->streams, keyed by key */
    uint8_t *key;                 /* namespace, NUL, name (owned) */
    size_t klen, ns_len;          /* key length, namespace part length */
    struct dev_append **ring;     /* appends, oldest first, circular */
    size_t head, len, cap;        /* ring start, appends held, ring size */
    struct flo_stream_id last_id; /* last id ever assigned (survives trims) */
    bool has_last;                /* any id assigned */
    uint64_t records, bytes;      /* held by this stream */
    uint32_t partition_count;     /* from create, default 1 */
    uint64_t retention_age_s;     /* 0 = none */
    uint64_t retention_count;     /* 0 = none */
    bool created;                 /* stream_create ran (alter needs it) */
    bool listed;                  /* appended to or created: stream_list shows it */
    struct dev_group *groups;     /* uthash by name */
    uint32_t n_groups;            /* HASH_COUNT(groups) */
};

/* The engine. */
struct dev_streams {
    struct dev_stream_clock clk; /* time source */
    struct dev_stream *streams;  /* uthash by key */
    size_t n_streams;            /* HASH_COUNT(streams) */
    uint64_t records, bytes;     /* totals, for the limits */
    char errbuf[128];            /* formatted messages (valid until the next call) */
};

/* The i-th append held (0 = oldest). */
static inline struct dev_append *dev__stream_app(const struct dev_stream *s, size_t i)
{
    return s->ring[(s->head + i) % s->cap];
}

/* Id of the last record of an append. */
static inline struct flo_stream_id dev__app_last(const struct dev_append *a)
{
    return (struct flo_stream_id){a->first.ts, a->first.seq + a->n - 1};
}

/* Validate (ns, name) and find the stream; with create, make it (not
 * listed). *s may be NULL without create. */
uint8_t dev__stream_find(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, bool create,
                         struct dev_stream **s, const char **msg);

/*
 * Collect readable records of s (see dev_stream_read): id > after (all when
 * !has_after or after.ts == 0), <= end when has_end, of `partition` when
 * has_partition, whole appends within count (at least one) and the byte
 * budget. Returns the number written to out; *last gets the last id
 * returned.
 */
size_t dev__stream_collect(const struct dev_stream *s, bool has_after, struct flo_stream_id after,
                           bool has_end, struct flo_stream_id end, bool has_partition,
                           uint32_t partition, uint32_t count, struct flo_stream_record *out,
                           struct flo_stream_id *last);

/* The record with this id, if s still holds it. */
bool dev__stream_lookup(const struct dev_stream *s, struct flo_stream_id id,
                        struct flo_stream_record *out);

/* Free every group of a stream (stream delete, engine teardown). */
void dev__groups_free(struct dev_stream *s);
/* The sweeper over the stream's groups at monotonic `now`; returns entries
 * dropped. */
size_t dev__groups_sweep(struct dev_stream *s, uint64_t now);

#endif
