/*
 * KV and system operations: value encoders for requests whose value has a
 * layout, and decoders for every KV/system response body
 * (shared/flo-protocol-core.md §7, §11).
 *
 * Decoders take a borrowed body and return views into it; they return 0,
 * FLO_ETRUNC (body too short) or FLO_EMALFORMED. Iterators never allocate.
 * Where the real server and its SDKs disagree, decoders accept every form the
 * protocol file lists (scan with or without a cursor, json_del empty or with
 * a version).
 * A fixed-size body must have exactly its size (shorter: FLO_ETRUNC, longer:
 * FLO_EMALFORMED), so decoding the wrong op's body is caught. The *_begin
 * functions of iterators validate the whole body first; after they return
 * 0, *_next cannot fail.
 */
#ifndef FLO_KV_H
#define FLO_KV_H

#include <stdbool.h>
#include <stdint.h>

#include "flo_buf.h"

/* ---- request values ---- */

/* mget: [count u16]([key_len u16][key])*; FLO_EINVAL if n == 0 or > 256. */
int flo_kv_mget_value(struct flo_wbuf *v, const flo_buf_t *keys, size_t n);
/* scan: [limit u32][cursor bytes]. */
int flo_kv_scan_value(struct flo_wbuf *v, uint32_t limit, flo_buf_t cursor);
/* incr: 8-byte i64 delta. */
int flo_kv_incr_value(struct flo_wbuf *v, int64_t delta);
/* json_set: [path_len u16][path][json]. */
int flo_kv_json_set_value(struct flo_wbuf *v, flo_buf_t path, flo_buf_t json);
/* touch: 8-byte u64 ttl in milliseconds. */
int flo_kv_touch_value(struct flo_wbuf *v, uint64_t ttl_ms);

/* ---- response bodies ---- */

/* put, json_set: [version u64]. */
int flo_kv_dec_version(flo_buf_t body, uint64_t *version);
/* get, json_get: [version u64][value...]. */
int flo_kv_dec_get(flo_buf_t body, uint64_t *version, flo_buf_t *value);
/* exists: [version u64][flag u8]. */
int flo_kv_dec_exists(flo_buf_t body, uint64_t *version, bool *present);
/* incr: [version u64][value i64]. */
int flo_kv_dec_incr(flo_buf_t body, uint64_t *version, int64_t *value);
/* json_del: empty (server) or [version u64] (tolerated); *version 0 if empty. */
int flo_kv_dec_json_del(flo_buf_t body, uint64_t *version);
/* begin: [0x00][txn_id u64][pinned_hash u64]. */
int flo_kv_dec_begin(flo_buf_t body, uint64_t *txn_id, uint64_t *pinned_hash);
/* commit: [0x01][commit_index u64][op_count u16]. */
int flo_kv_dec_commit(flo_buf_t body, uint64_t *commit_index, uint16_t *op_count);

/* mget: [count u32] then per key [status u8][key str16][version u64][value str32]. */
struct flo_kv_mget_entry {
    bool found;
    flo_buf_t key;
    uint64_t version;
    flo_buf_t value;
};
struct flo_kv_mget_iter {
    struct flo_cur cur;
    uint32_t remaining; /* entries the count field announced, not yet read */
};
int flo_kv_mget_begin(flo_buf_t body, struct flo_kv_mget_iter *it);
/* 1 and *e filled; 0 at the end (also when the body ends early: the
 * server drops entries that do not fit); negative on a malformed entry. */
int flo_kv_mget_next(struct flo_kv_mget_iter *it, struct flo_kv_mget_entry *e);

/* scan: [count u32]([key str16][value str32])*[has_more u8]([cursor str16])? */
struct flo_kv_scan_entry {
    flo_buf_t key;
    flo_buf_t value; /* empty on the walk path */
};
struct flo_kv_scan_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
struct flo_kv_scan_page {
    uint32_t count;
    bool has_more;
    flo_buf_t cursor; /* empty if absent */
};
/* Validates the whole body, fills *page, positions *it at the first entry. */
int flo_kv_scan_begin(flo_buf_t body, struct flo_kv_scan_page *page, struct flo_kv_scan_iter *it);
int flo_kv_scan_next(struct flo_kv_scan_iter *it, struct flo_kv_scan_entry *e);

/* history: [count u32]([value str32][version u64])*, newest first. */
struct flo_kv_history_entry {
    flo_buf_t value;
    uint64_t version;
};
struct flo_kv_history_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_kv_history_begin(flo_buf_t body, struct flo_kv_history_iter *it, uint32_t *count);
int flo_kv_history_next(struct flo_kv_history_iter *it, struct flo_kv_history_entry *e);

/* cluster_status: 21 bytes. */
struct flo_cluster_status {
    uint32_t node_id, leader_id;
    uint64_t term;
    uint8_t state; /* 0 follower, 1 candidate, 2 leader */
    uint32_t member_count;
};
int flo_dec_cluster_status(flo_buf_t body, struct flo_cluster_status *out);

/* namespace_list: [count u32]([name str16])*. */
struct flo_name_iter {
    struct flo_cur cur;
    uint32_t remaining;
};
int flo_ns_list_begin(flo_buf_t body, struct flo_name_iter *it, uint32_t *count);
int flo_ns_list_next(struct flo_name_iter *it, flo_buf_t *name);

/* ---- request values, server side (flo-dev) ----
 *
 * Parsers for the request values whose layout the server checks. Each takes
 * the envelope value (a borrowed view) and returns views into it. On failure
 * they return FLO_ETRUNC or FLO_EMALFORMED and, when `msg` is not NULL, set
 * *msg to the static text the real server puts in its status-3 body
 * (shared/flo-protocol-core.md §7), so a development server answers with
 * the same words. *msg is left untouched on success.
 */

#define FLO_KV_MGET_MAX_KEYS 256

/* mget: [count u16]([key_len u16][key])*, count 1..256. */
struct flo_kv_key_iter {
    struct flo_cur cur;
    uint16_t remaining; /* keys not yet returned */
};
/* Validates the whole key list, sets *count and positions *it at the first
 * key. FLO_ETRUNC ("mget: missing key count", "mget: truncated key list",
 * "mget: truncated key data"), FLO_EMALFORMED ("mget: zero keys",
 * "mget: too many keys (max 256)"). Bytes after the last key are ignored. */
int flo_kv_parse_mget(flo_buf_t value, struct flo_kv_key_iter *it, uint16_t *count,
                      const char **msg);
/* 1 and *key set; 0 when every key has been returned. */
int flo_kv_key_next(struct flo_kv_key_iter *it, flo_buf_t *key);

/* scan (walk form): [limit u32][cursor bytes]. An empty value means limit 0
 * (server default) and no cursor; 1-3 bytes is FLO_ETRUNC. *cursor is the
 * rest of the value (empty if absent). */
int flo_kv_parse_scan(flo_buf_t value, uint32_t *limit, flo_buf_t *cursor, const char **msg);

/* incr: empty => *delta = 1; exactly 8 bytes => i64 LE delta; any other
 * length is FLO_EMALFORMED ("incr: value must be empty or 8-byte i64 LE"). */
int flo_kv_parse_incr(flo_buf_t value, int64_t *delta, const char **msg);

/* json_set: [path_len u16][path][json]. *json is the rest (may be empty).
 * FLO_ETRUNC ("json_set: missing path_len", "json_set: truncated path"). */
int flo_kv_parse_json_set(flo_buf_t value, flo_buf_t *path, flo_buf_t *json, const char **msg);

/* touch: empty => *ttl_ms = 0 (clear the TTL); exactly 8 bytes => u64 LE
 * milliseconds (0 also clears); other lengths FLO_EMALFORMED
 * ("touch: value must be empty or 8-byte u64 LE"). */
int flo_kv_parse_touch(flo_buf_t value, uint64_t *ttl_ms, const char **msg);

#endif
