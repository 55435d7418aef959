/*
 * flo-dev's consumer groups (shared/flo-protocol-ops.md §4, server
 * @3269efe2), on the stream engine of dev_stream.h.
 *
 * Model. A group is identified by (namespace, stream, group). It holds
 * members, a cursor (the last id handed out; records after it are new), a
 * pending-entries list (PEL) and sweeper settings. group_read hands each
 * new record to exactly one consumer: the record enters the PEL owned by
 * that consumer with delivery_count 1 and the cursor moves past it; it is
 * never handed out by read again. It leaves the PEL when acked, dropped by
 * the sweeper, or (with its group) deleted; claim moves it to another
 * consumer. Pending entries are tracked per record id (a multi-record
 * append gives one entry per record), so acking any returned id works.
 *
 * Time. Idle time of an entry = monotonic now - its last delivery (read,
 * nack, claim, touch and the sweeper restart it).
 *
 * The PEL is an array in id order (reads always add ids above every
 * pending one) with tombstones, compacted when they outnumber live
 * entries, so ack/nack/touch/claim find an id by binary search.
 */
#ifndef DEV_GROUP_H
#define DEV_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_stream.h"
#include "flo/flo_buf.h"
#include "flo/flo_ops.h"

#define DEV_GROUP_DEFAULT_ACK_TIMEOUT_MS 30000u  /* 0x30 absent on create */
#define DEV_GROUP_DEFAULT_MAX_DELIVER    10      /* 0x31 absent on create */
#define DEV_GROUP_MAX_PENDING            1000000 /* entries of one group's PEL */
#define DEV_GROUP_MAX_MEMBERS            10000   /* consumers of one group */
#define DEV_GROUP_MAX_GROUPS             1000    /* groups of one stream */
#define DEV_GROUP_MAX_LIST               1000    /* entries of one pending reply */

#define DEV_GROUP_MSG_NOT_FOUND "consumer group not found"
#define DEV_GROUP_MSG_EXISTS    "consumer group already exists"
#define DEV_GROUP_MSG_NAME_LONG "stream + group name too long"
#define DEV_GROUP_MSG_WILDCARD                                                                     \
    "wildcard group reads are no longer supported; target a single stream"
#define DEV_GROUP_MSG_IDS_REQUIRED "stream IDs required for ack"

/* Sweeper settings given to create / configure_sweeper. */
struct dev_group_settings {
    bool has_ack_timeout;
    uint32_t ack_timeout_ms; /* 0 = no sweeping */
    bool has_max_deliver;
    uint8_t max_deliver; /* 0 = unlimited */
};

/* What ack-like calls do with each id found in the PEL. */
enum dev_group_id_op_e {
    DEV_GROUP_ACK,   /* remove */
    DEV_GROUP_NACK,  /* delivery_count + 1, idle timer restarts (no redelivery by read) */
    DEV_GROUP_TOUCH, /* idle timer restarts */
};

/*
 * Every call validates the stream name (dev_stream_make_key texts) and the
 * group's qualified length (BAD_REQUEST DEV_GROUP_MSG_NAME_LONG when
 * namespace + stream + group + 2 separators exceed DEV_STREAM_MAX_NAME).
 * The group name itself is checked by the wire parser
 * (flo_group_parse_name). Calls that need an existing group answer
 * NOT_FOUND DEV_GROUP_MSG_NOT_FOUND without one. *msg is static.
 */

/* create: CONFLICT DEV_GROUP_MSG_EXISTS if present; absent settings take
 * the defaults. The stream need not exist. */
uint8_t dev_group_create(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                         const struct dev_group_settings *set, const char **msg);
/* configure_sweeper: present settings replace, absent ones stay. */
uint8_t dev_group_configure(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                            const struct dev_group_settings *set, const char **msg);
/* join: create the group (defaults) if needed and add the consumer (a
 * leaving member becomes active again). */
uint8_t dev_group_join(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       flo_buf_t consumer, const char **msg);
/* leave: remove the consumer; one that owns pending entries stays (as
 * leaving) until they are acked, dropped or claimed away. Unknown consumer:
 * OK. */
uint8_t dev_group_leave(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer, const char **msg);

/*
 * read: join (creating the group if needed), then hand the consumer the
 * records after the group's cursor, whole appends within `count` (0 = 100,
 * capped at 1000; at least the first append). out (room for
 * FLO_STREAM_MAX_COUNT) gets views as dev_stream_read. OVERLOADED when the
 * PEL is full (DEV_GROUP_MAX_PENDING), INTERNAL on memory (nothing is
 * handed out then).
 */
uint8_t dev_group_read(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       flo_buf_t consumer, uint32_t count, struct flo_stream_record *out, size_t *n,
                       const char **msg);

/*
 * ack / nack / touch the ids[0..n) found in the PEL (unknown ids are
 * ignored; the consumer is not checked, as the server). *found = how many
 * were in the PEL (touch's reply). ACK with n == 0 is BAD_REQUEST
 * DEV_GROUP_MSG_IDS_REQUIRED; NACK/TOUCH with none are OK.
 */
uint8_t dev_group_apply(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        enum dev_group_id_op_e op, const struct flo_stream_id *ids, size_t n,
                        uint32_t *found, const char **msg);

/*
 * claim: scan the PEL in id order from `start` (inclusive); every entry
 * idle >= min_idle_ms goes to `consumer` (joined if needed) with
 * delivery_count + 1 and a restarted idle timer, up to `count` entries (0 =
 * 100, capped at 1000). out (room for FLO_GROUP_MAX_CLAIM) gets the claimed
 * records still held by the stream (trimmed ones are claimed but left
 * out); *next = id of the first entry not examined, or FLO_STREAM_ID_MAX
 * when the PEL was scanned to its end.
 */
uint8_t dev_group_claim(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer, uint32_t min_idle_ms, struct flo_stream_id start,
                        uint32_t count, struct flo_stream_record *out, size_t *n,
                        struct flo_stream_id *next, const char **msg);

/* pending: up to DEV_GROUP_MAX_LIST entries in id order into out, only
 * those owned by `consumer` when it is non-empty. Consumer views live until
 * the next engine call. */
uint8_t dev_group_pending(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                          flo_buf_t consumer, struct flo_group_pending_entry *out, size_t *n,
                          const char **msg);

/* info: pending_count = PEL size, member_count (leaving members included),
 * created_at_ns (wall clock). */
uint8_t dev_group_info(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       struct flo_group_info *out, const char **msg);

/* delete: remove the group with its members and PEL. */
uint8_t dev_group_delete(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                         const char **msg);

#endif
