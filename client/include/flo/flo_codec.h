/*
 * Flo binary protocol framing: 32-byte headers with CRC32, the request
 * envelope, TLV options, and an incremental frame decoder.
 *
 * Layouts are in shared/flo-protocol-core.md §2 and are the same for the
 * client (libflo) and the development server (flo-dev): both use these
 * functions, there is no second implementation of the frame format.
 * Per-operation value layouts and response decoders are in flo_kv.h and
 * flo_ops.h.
 */
#ifndef FLO_CODEC_H
#define FLO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo_buf.h"

#define FLO_MAGIC               0x004F4C46u /* bytes 46 4C 4F 00, "FLO\0" */
#define FLO_HEADER_SIZE         32
#define FLO_PROTO_VERSION       1
#define FLO_MAX_PAYLOAD         (100u * 1024 * 1024) /* server rejects larger headers */
#define FLO_MAX_PROCESSED_FRAME (256u * 1024)        /* larger frames stall a real server */
#define FLO_MAX_NAMESPACE       255                  /* SDK-side check (server: 63) */
#define FLO_MAX_KEY             (64u * 1024)
#define FLO_MAX_OPTION_DATA     255
#define FLO_MAX_BLOCK_MS        300000u /* documented ceiling of block_ms / wait_ms */

/* Request op codes (u16). shared/flo-protocol-core.md §4, -ops.md §2-§6. */
enum flo_op_e {
    FLO_OP_PING = 0x000,
    FLO_OP_AUTH = 0x003,
    FLO_OP_SET_DURABILITY = 0x004,
    FLO_OP_NAMESPACE_CREATE = 0x010,
    FLO_OP_NAMESPACE_DELETE = 0x011,
    FLO_OP_NAMESPACE_LIST = 0x012,
    FLO_OP_NAMESPACE_INFO = 0x013,
    FLO_OP_NAMESPACE_CONFIG_SET = 0x014,
    FLO_OP_NAMESPACE_CONFIG_GET = 0x015,
    FLO_OP_CLUSTER_STATUS = 0x030,

    FLO_OP_KV_PUT = 0x100,
    FLO_OP_KV_GET = 0x101,
    FLO_OP_KV_MGET = 0x102,
    FLO_OP_KV_DELETE = 0x103,
    FLO_OP_KV_SCAN = 0x104,
    FLO_OP_KV_HISTORY = 0x105,
    FLO_OP_KV_INCR = 0x10B,
    FLO_OP_KV_JSON_GET = 0x10C,
    FLO_OP_KV_JSON_SET = 0x10D,
    FLO_OP_KV_JSON_DEL = 0x10E,
    FLO_OP_KV_BEGIN_TXN = 0x110,
    FLO_OP_KV_COMMIT_TXN = 0x111,
    FLO_OP_KV_ROLLBACK_TXN = 0x112,
    FLO_OP_KV_TOUCH = 0x113,
    FLO_OP_KV_PERSIST = 0x114,
    FLO_OP_KV_EXISTS = 0x115,

    FLO_OP_STREAM_APPEND = 0x130,
    FLO_OP_STREAM_READ = 0x131,
    FLO_OP_STREAM_TRIM = 0x132,
    FLO_OP_STREAM_INFO = 0x133,
    FLO_OP_STREAM_LIST = 0x13B,
    FLO_OP_STREAM_CREATE = 0x13D,
    FLO_OP_STREAM_ALTER = 0x13F,
    FLO_OP_STREAM_DELETE = 0x140,

    FLO_OP_GROUP_CREATE = 0x150,
    FLO_OP_GROUP_JOIN = 0x151,
    FLO_OP_GROUP_LEAVE = 0x152,
    FLO_OP_GROUP_READ = 0x153,
    FLO_OP_GROUP_ACK = 0x154,
    FLO_OP_GROUP_CLAIM = 0x155,
    FLO_OP_GROUP_PENDING = 0x156,
    FLO_OP_GROUP_CONFIGURE_SWEEPER = 0x157,
    FLO_OP_GROUP_NACK = 0x159,
    FLO_OP_GROUP_TOUCH = 0x15A,
    FLO_OP_GROUP_INFO = 0x15B,
    FLO_OP_GROUP_DELETE = 0x15C,

    FLO_OP_QUEUE_ENQUEUE = 0x170,
    FLO_OP_QUEUE_DEQUEUE = 0x171,
    FLO_OP_QUEUE_COMPLETE = 0x172,
    FLO_OP_QUEUE_EXTEND_LEASE = 0x173,
    FLO_OP_QUEUE_FAIL = 0x174,
    FLO_OP_QUEUE_FAIL_AUTO = 0x175,
    FLO_OP_QUEUE_DLQ_LIST = 0x176,
    FLO_OP_QUEUE_DLQ_DELETE = 0x177,
    FLO_OP_QUEUE_DLQ_REQUEUE = 0x178,
    FLO_OP_QUEUE_DLQ_STATS = 0x179,
    FLO_OP_QUEUE_PROMOTE_DUE = 0x17A,
    FLO_OP_QUEUE_STATS = 0x17B,
    FLO_OP_QUEUE_PEEK = 0x17C,
    FLO_OP_QUEUE_TOUCH = 0x17D,
    FLO_OP_QUEUE_BATCH_ENQUEUE = 0x17E,
    FLO_OP_QUEUE_PURGE = 0x17F,
    FLO_OP_QUEUE_LIST = 0x198,

    FLO_OP_ACTION_REGISTER = 0x300,
    FLO_OP_ACTION_INVOKE = 0x301,
    FLO_OP_ACTION_STATUS = 0x302,
    FLO_OP_ACTION_LIST = 0x303,
    FLO_OP_ACTION_LIST_RUNS = 0x304,
    FLO_OP_ACTION_DELETE = 0x305,
    FLO_OP_ACTION_AWAIT = 0x306,
    FLO_OP_ACTION_COMPLETE = 0x307,
    FLO_OP_ACTION_FAIL = 0x308,
    FLO_OP_ACTION_TOUCH = 0x309,

    FLO_OP_WORKER_REGISTER = 0x320,
    FLO_OP_WORKER_HEARTBEAT = 0x321,
    FLO_OP_WORKER_DEREGISTER = 0x322,
    FLO_OP_WORKER_LIST = 0x323,
    FLO_OP_WORKER_INFO = 0x324,
    FLO_OP_WORKER_DRAIN = 0x325,
};

/* TLV option tags (u8). */
enum flo_opt_e {
    FLO_OPT_TTL_MS = 0x01,          /* u64 */
    FLO_OPT_CAS_VERSION = 0x02,     /* u64 */
    FLO_OPT_IF_NOT_EXISTS = 0x03,   /* flag */
    FLO_OPT_IF_EXISTS = 0x04,       /* flag */
    FLO_OPT_LIMIT = 0x05,           /* u32 (u64 for stream_trim maxlen) */
    FLO_OPT_KEYS_ONLY = 0x06,       /* u8 */
    FLO_OPT_CURSOR = 0x07,          /* bytes (not read by the newest server) */
    FLO_OPT_ROUTING_KEY = 0x08,     /* bytes */
    FLO_OPT_TXN_ID = 0x09,          /* u64 */
    FLO_OPT_PRIORITY = 0x10,        /* u8, lower first */
    FLO_OPT_DELAY_MS = 0x11,        /* u64 */
    FLO_OPT_VISIBILITY_MS = 0x12,   /* u32 */
    FLO_OPT_DEDUP_KEY = 0x13,       /* bytes */
    FLO_OPT_MAX_RETRIES = 0x14,     /* u8 */
    FLO_OPT_COUNT = 0x15,           /* u32 */
    FLO_OPT_SEND_TO_DLQ = 0x16,     /* u8 */
    FLO_OPT_BLOCK_MS = 0x17,        /* u32 */
    FLO_OPT_WAIT_MS = 0x18,         /* u32 */
    FLO_OPT_STREAM_START = 0x21,    /* 16 bytes BE StreamID */
    FLO_OPT_STREAM_END = 0x22,      /* 16 bytes BE StreamID */
    FLO_OPT_STREAM_TAIL = 0x23,     /* flag */
    FLO_OPT_PARTITION = 0x24,       /* u32 */
    FLO_OPT_PARTITION_KEY = 0x25,   /* bytes */
    FLO_OPT_MAX_AGE_SECONDS = 0x26, /* u64 */
    FLO_OPT_MAX_BYTES = 0x27,       /* u64 */
    FLO_OPT_DRY_RUN = 0x28,         /* flag */
    FLO_OPT_RETENTION_COUNT = 0x29, /* u64 */
    FLO_OPT_RETENTION_AGE = 0x2A,   /* u64 seconds */
    FLO_OPT_RETENTION_BYTES = 0x2B, /* u64 */
    FLO_OPT_FORCE = 0x2C,           /* flag */
    FLO_OPT_ACK_TIMEOUT_MS = 0x30,  /* u32 */
    FLO_OPT_MAX_DELIVER = 0x31,     /* u8 */
    FLO_OPT_TIMEOUT_MS = 0x50,      /* u64 (ignored by the newest server) */
};

/* CRC-32/IEEE (zlib). Start with crc = 0; chain calls over several ranges. */
uint32_t flo_crc32(uint32_t crc, const void *data, size_t len);

/*
 * A request as the caller describes it. All fields are borrowed; `opts` is
 * already-encoded TLV bytes (build them with the flo_opt_* functions).
 */
struct flo_req {
    uint16_t op;
    uint64_t request_id;
    uint8_t flags; /* header flags; 0 */
    flo_buf_t ns;
    flo_buf_t key;
    flo_buf_t value;
    flo_buf_t opts;
};

/*
 * Append a complete request frame (header with CRC + envelope) to `out`.
 * FLO_EINVAL if ns/key exceed u16 or opts exceeds u16, FLO_ENOMEM.
 */
int flo_req_encode(struct flo_wbuf *out, const struct flo_req *req);

/*
 * Append a request frame whose body is `body` verbatim (no envelope), e.g.
 * an empty PING (body len 0) or a deliberately odd frame in tests.
 */
int flo_req_encode_raw(struct flo_wbuf *out, uint16_t op, uint64_t request_id, flo_buf_t body);

/* Append a response frame: header (status, CRC) then `body`. */
int flo_resp_encode(struct flo_wbuf *out, uint64_t request_id, uint8_t status, flo_buf_t body);

/* Which header layout a decoder expects at bytes 20..23. */
enum flo_frame_kind_e {
    FLO_FRAME_REQUEST = 0,  /* op u16 @20, version @22, flags @23 */
    FLO_FRAME_RESPONSE = 1, /* version @20, status @21, flags @22, pad @23 */
};

/* A decoded frame. `body` points into the decoder's input. */
struct flo_frame {
    uint64_t request_id;
    uint16_t op;    /* requests only */
    uint8_t status; /* responses only */
    uint8_t flags;
    flo_buf_t body;
};

/*
 * Decode one frame from the start of buf[0..len).
 * Returns the frame's total size (> 0) and fills *out; FLO_EAGAIN if more
 * bytes are needed (header errors are reported as soon as the 32 header
 * bytes are present, before the body arrives); or FLO_EBADMAGIC,
 * FLO_EBADVERSION, FLO_EBADRESERVED, FLO_ETOOBIG (length > max_payload),
 * FLO_EBADCRC. After an error the stream is unusable: close it.
 */
long flo_frame_decode(const uint8_t *buf, size_t len, enum flo_frame_kind_e kind,
                      uint32_t max_payload, struct flo_frame *out);

/*
 * Incremental decoder over a byte stream split at arbitrary points. Feed
 * whatever arrived with flo_reader_feed, then call flo_reader_next until it
 * returns FLO_EAGAIN. A frame returned by _next stays valid until the next
 * call to _feed or _next.
 */
struct flo_reader {
    struct flo_wbuf in; /* bytes received, not yet decoded */
    size_t pos;         /* start of the next undecoded frame in `in` */
    enum flo_frame_kind_e kind;
    uint32_t max_payload;
    int err; /* sticky decode error, 0 if none */
};
void flo_reader_init(struct flo_reader *r, enum flo_frame_kind_e kind, uint32_t max_payload);
void flo_reader_free(struct flo_reader *r);
int flo_reader_feed(struct flo_reader *r, const void *data, size_t len);
/* 0 and *out filled; FLO_EAGAIN; or a sticky decode error. */
int flo_reader_next(struct flo_reader *r, struct flo_frame *out);

/*
 * Request envelope (server side, shared/flo-protocol-core.md §2.4):
 * [ns u16][ns][key u16][key][value u32][value][opts u16][opts].
 * An empty body gives four empty parts. Options are optional (fewer than two
 * bytes left = none; an opts_len past the end = none). Returns 0 or
 * FLO_ETRUNC when ns/key/value overrun the body.
 */
struct flo_envelope {
    flo_buf_t ns, key, value, opts;
};
int flo_envelope_parse(flo_buf_t body, struct flo_envelope *out);

/* ---- TLV options: [tag u8][len u8][data] ---- */

int flo_opt_flag(struct flo_wbuf *o, uint8_t tag);
int flo_opt_u8(struct flo_wbuf *o, uint8_t tag, uint8_t v);
int flo_opt_u32(struct flo_wbuf *o, uint8_t tag, uint32_t v);
int flo_opt_u64(struct flo_wbuf *o, uint8_t tag, uint64_t v);
/* FLO_EINVAL if n > 255. */
int flo_opt_bytes(struct flo_wbuf *o, uint8_t tag, const void *p, size_t n);
/* 16 bytes, big-endian ts then seq (the one BE exception). */
int flo_opt_stream_id(struct flo_wbuf *o, uint8_t tag, uint64_t ts, uint64_t seq);

/*
 * Find the first occurrence of `tag`. Returns true and sets *data if found.
 * A truncated trailing TLV ends the search (not found).
 */
bool flo_opt_find(flo_buf_t opts, uint8_t tag, flo_buf_t *data);
/* Typed lookups: true only if present with exactly the right width. */
bool flo_opt_get_u8(flo_buf_t opts, uint8_t tag, uint8_t *v);
bool flo_opt_get_u32(flo_buf_t opts, uint8_t tag, uint32_t *v);
bool flo_opt_get_u64(flo_buf_t opts, uint8_t tag, uint64_t *v);
bool flo_opt_get_stream_id(flo_buf_t opts, uint8_t tag, uint64_t *ts, uint64_t *seq);
/* Flag: len 0, or (for if_exists/if_not_exists) a 1-byte non-zero value. */
bool flo_opt_has_flag(flo_buf_t opts, uint8_t tag);

#endif
