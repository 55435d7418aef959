/*
 * flo-dev's stream engine: append-only streams with per-stream ids, reads
 * by id range, trim, info, create/alter/delete and list, following
 * shared/flo-protocol-ops.md §3 for the newest server (@3269efe2) and the
 * development-server guidance of §7. Consumer groups live on the same
 * engine (dev_group.h). Like the KV and queue engines it knows nothing about
 * sockets or frames: unit tests drive it directly, and every outcome is a
 * Flo status byte plus an optional message.
 *
 * Ids. Each stream has its own id space: an append of N records takes the
 * ids (ts, s) .. (ts, s+N-1) where ts is the engine's wall clock in ms and
 * s is 0 for the first append of a new millisecond, else the previous
 * sequence + 1. If the clock is not ahead of the last id (same millisecond
 * or the clock stepped back), the last timestamp is kept and the sequence
 * continues, so ids only grow. The last id survives trims (ids are never
 * reused); stream_delete forgets it.
 *
 * Storage. One allocation per append (a copy of the batch value plus a
 * record index), kept oldest first in a ring; reads find their start by
 * binary search and return views into it, valid until the next engine call
 * that can remove appends (append with retention, trim, delete, sweep).
 *
 * Clock. The engine reads time through an injected clock: wall ms for ids,
 * maxage and timestamps, monotonic ms for consumer-group idle timers. Tests
 * pass a fake clock (and can step it backwards).
 */
#ifndef DEV_STREAM_H
#define DEV_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "flo/flo_ops.h"

#define DEV_STREAM_MAX_NAME       4096         /* namespace + NUL + stream name */
#define DEV_STREAM_MAX_NS         63           /* namespace name bound (core §limits) */
#define DEV_STREAM_MAX_STREAMS    100000       /* distinct streams of one engine */
#define DEV_STREAM_MAX_RECORDS    10000000ull  /* records held by one engine */
#define DEV_STREAM_MAX_BYTES      (1ull << 30) /* batch-value bytes held by one engine */
#define DEV_STREAM_READ_MAX_BYTES (8u << 20)   /* reply budget past the first append */
#define DEV_STREAM_MAX_PARTITIONS 65536        /* partition_count accepted by create */

/* Texts shared by the engine and the wire handlers (ops.md §3). */
#define DEV_STREAM_MSG_NAME_REQUIRED "stream name is required"
#define DEV_STREAM_MSG_NAME_NUL      "stream name must not contain NUL"
#define DEV_STREAM_MSG_NAME_LONG     "stream name too long for its namespace"
#define DEV_STREAM_MSG_MALFORMED     "stream append: malformed batch"
#define DEV_STREAM_MSG_NOT_FOUND     "stream not found"
#define DEV_STREAM_MSG_NOT_EMPTY     "stream is not empty; pass --force to delete"
#define DEV_STREAM_MSG_RETENTION_BYTES                                                             \
    "stream retention by bytes is not supported; use retention_age or retention_count"

struct dev_streams; /* the engine (streams and their consumer groups) */

/* The engine's time source. Both functions are called synchronously from
 * engine calls only. */
struct dev_stream_clock {
    uint64_t (*wall_ms)(void *ud); /* Unix ms: ids, maxage, created_at */
    uint64_t (*mono_ms)(void *ud); /* monotonic ms: idle timers of pending entries */
    void *ud;                      /* passed to both */
};

/*
 * Create an empty engine reading time from *clk (copied). 0 or FLO_ENOMEM;
 * the caller frees with dev_streams_free.
 */
int dev_streams_new(const struct dev_stream_clock *clk, struct dev_streams **out);
/* Free the engine with every stream, record and group. NULL is allowed. */
void dev_streams_free(struct dev_streams *ss);

/*
 * Validate (ns, name) and write the stream's identity (namespace, NUL,
 * name; an empty namespace is `default`) into buf (DEV_STREAM_MAX_NAME
 * bytes). BAD_REQUEST with *msg for an empty name, a NUL in the name or
 * namespace, a namespace over DEV_STREAM_MAX_NS bytes, or an identity over
 * DEV_STREAM_MAX_NAME bytes. *ns_len gets the namespace part's length (may
 * be NULL).
 */
uint8_t dev_stream_make_key(flo_buf_t ns, flo_buf_t name, uint8_t *buf, size_t *len, size_t *ns_len,
                            const char **msg);

/*
 * Append a batch value (ops.md §3.1: [count u32] then per record
 * [payload str32][hcount u16]([k str16][v str16])*) as one append. The
 * partition is `partition` when has_partition (not checked against the
 * partition count, as the server), else Wyhash(0, partition_key) modulo the
 * partition count when partition_key is non-empty, else 0. *first gets the
 * id of the batch's first record. Retention by count (stream_create) is
 * applied after the append. OK; BAD_REQUEST for the name, a malformed batch
 * (DEV_STREAM_MSG_MALFORMED) or more than 1000 records (*msg names N);
 * OVERLOADED past the engine limits; INTERNAL on memory. Nothing is stored
 * unless OK. *msg may point into the engine: valid until the next call.
 */
uint8_t dev_stream_append(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, flo_buf_t value,
                          bool has_partition, uint32_t partition, flo_buf_t partition_key,
                          struct flo_stream_id *first, const char **msg);

/* What a read returns (ops.md §3.2). */
struct dev_stream_read_args {
    bool tail;                  /* start after the stream's last id (wins over start) */
    bool has_start;             /* exclusive start; ts 0 = from the beginning */
    struct flo_stream_id start; /* see has_start */
    bool has_end;               /* inclusive end */
    struct flo_stream_id end;   /* see has_end */
    bool has_partition;         /* only records of this partition */
    uint32_t partition;         /* see has_partition */
    flo_buf_t partition_key;    /* non-empty: partition = hash modulo the count */
    uint32_t count;             /* record budget, 1..1000 (0 = 100) */
};

/*
 * Read records of (ns, name) into out[0..*n) (room for FLO_STREAM_MAX_COUNT
 * records): whole appends in id order whose records fit the count budget,
 * but always at least the first readable append (when start falls inside an
 * append, only its records after start), and no more appends once the
 * reply would pass DEV_STREAM_READ_MAX_BYTES. An unknown stream reads
 * empty. On return *a is resolved for a later retry (blocking reads): tail
 * becomes has_start at the current last id and a partition key becomes
 * has_partition, so re-running the read with *a never re-resolves them.
 * Views in out[] live until the next engine call that removes appends.
 * OK, or BAD_REQUEST for the name.
 */
uint8_t dev_stream_read(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        struct dev_stream_read_args *a, struct flo_stream_record *out, size_t *n,
                        const char **msg);

/*
 * Trim (ops.md §3.3, the @3269efe2 form; a is the parsed option set).
 * Whole appends only: before removes the appends whose every record is <=
 * before; maxlen removes oldest appends while at least maxlen records stay;
 * maxage removes appends older than now - max_age_s. With dry_run nothing
 * is removed. *deleted = appends removed (or that would be), *first_seq =
 * sequence of the (would-be) new first id, 0 if empty. Unknown stream:
 * 0, 0. OK or BAD_REQUEST for the name.
 */
uint8_t dev_stream_trim(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        const struct flo_stream_trim_args *a, uint64_t *deleted,
                        uint64_t *first_seq, const char **msg);

/*
 * Info (ops.md §3.4): first/last id of the records held, logical record
 * count, stored batch bytes, partition count (1 unless created otherwise),
 * retention. An unknown or empty stream gives zero ids and partition_count
 * >= 1. An empty name is allowed (an unknown stream). OK or BAD_REQUEST.
 */
uint8_t dev_stream_info(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                        struct flo_stream_info *out, const char **msg);

/* Stream metadata set by create and alter. */
struct dev_stream_meta {
    uint32_t partition_count; /* create: 0 -> 1; alter: ignored */
    uint64_t retention_age_s; /* 0 = none (alter: 0 keeps the current value) */
    uint64_t retention_count; /* 0 = none (alter: 0 keeps the current value) */
};

/* create (ops.md §3.5): make the stream if needed and overwrite its
 * metadata. OK, BAD_REQUEST (name, partition_count over
 * DEV_STREAM_MAX_PARTITIONS), OVERLOADED, INTERNAL. */
uint8_t dev_stream_create(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                          const struct dev_stream_meta *m, const char **msg);
/* alter (ops.md §3.6): the stream must have been created by create, else
 * NOT_FOUND DEV_STREAM_MSG_NOT_FOUND; non-zero values replace. */
uint8_t dev_stream_alter(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name,
                         const struct dev_stream_meta *m, const char **msg);
/* delete (ops.md §3.7): a stream holding records needs force, else
 * CONFLICT DEV_STREAM_MSG_NOT_EMPTY. Removes records, metadata and the
 * stream's consumer groups. A missing stream is OK. */
uint8_t dev_stream_delete(struct dev_streams *ss, flo_buf_t ns, flo_buf_t name, bool force,
                          const char **msg);

/*
 * Call fn for every stream of namespace ns (empty = default) that was
 * appended to or created, until it returns false. name views live until
 * the next engine call. BAD_REQUEST for a bad namespace, else OK.
 */
uint8_t dev_stream_each(struct dev_streams *ss, flo_buf_t ns,
                        bool (*fn)(flo_buf_t name, uint32_t partition_count, void *ud), void *ud,
                        const char **msg);

/*
 * Periodic work: retention by age for every stream, and the consumer-group
 * sweeper (dev_group.h). Returns the number of pending entries dropped past
 * max_deliver (for logs).
 */
size_t dev_streams_sweep(struct dev_streams *ss);

/* Records and batch bytes held by the engine (tests, logs). */
uint64_t dev_streams_record_count(const struct dev_streams *ss);
uint64_t dev_streams_byte_count(const struct dev_streams *ss);

#endif
