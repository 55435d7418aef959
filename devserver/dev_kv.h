/*
 * flo-dev's KV engine: an in-memory, namespaced, versioned key/value store
 * with TTLs and a short per-key version history, following
 * shared/flo-protocol-core.md §7. It knows nothing about sockets or frames:
 * every call takes the current time in milliseconds (any monotonic clock) so
 * the engine can be driven directly by unit tests, and every outcome is a
 * Flo status byte plus an optional static message, exactly what the wire
 * handlers (dev_kv_ops.c) put in a response.
 *
 * Keys are "qualified" before they reach the store: in namespace `default`
 * the key is stored as-is, in any other namespace as ns + 0x00 + key (§7).
 */
#ifndef DEV_KV_H
#define DEV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "flo/flo_buf.h"

#define DEV_KV_MAX_QKEY   4096 /* namespace + separator + key (limits.zig) */
#define DEV_KV_MAX_NS     63   /* namespace name (limits.zig) */
#define DEV_KV_HISTORY    8 /* versions retained per key for kv_history (Flo: a small constant) */
#define DEV_KV_DEFAULT_NS "default"

/* Texts of the counter failures (engine and transactions answer alike). */
#define DEV_KV_MSG_NOT_COUNTER "value is not a counter"
#define DEV_KV_MSG_OVERFLOW    "incr: counter would overflow"

struct dev_kv;

/* A validated, namespace-qualified key (stack storage, no allocation). */
struct dev_qkey {
    uint8_t buf[DEV_KV_MAX_QKEY]; /* the stored form of the key */
    size_t len;                   /* bytes used in buf */
    size_t prefix;                /* bytes of "ns\0" before the user key (0 in default) */
};

/* One retained version of a key. */
struct dev_kv_version {
    uint8_t *val;     /* owned by the entry; NULL when len is 0 */
    size_t len;       /* value length */
    uint64_t version; /* never 0 */
};

/* A stored key. Pointers returned by the engine stay valid until the next
 * mutating call (put, delete, incr, ttl, sweep) or dev_kv_free. */
struct dev_kv_entry {
    uint8_t *qkey;                              /* owned, qualified key */
    size_t qlen;                                /* qualified key length */
    uint64_t expire_at;                         /* absolute ms, 0 = no TTL */
    struct dev_kv_version hist[DEV_KV_HISTORY]; /* hist[0] is the current value */
    unsigned hist_count;                        /* valid entries in hist, >= 1 */
    UT_hash_handle hh;                          /* engine table link (by qkey) */
};

/* Conditions of a put, in the order §7.1 checks them. */
struct dev_kv_put_opts {
    bool has_cas;       /* cas_version option present (8 bytes) */
    uint64_t cas;       /* expected current version, 0 = must be absent */
    bool nx;            /* if_not_exists */
    bool xx;            /* if_exists */
    bool has_ttl;       /* ttl_ms option present, whatever its width */
    bool ttl_bad_width; /* ttl_ms present but not 8 bytes */
    uint64_t ttl_ms;    /* relative TTL, 0 = none */
};

/* Create an empty store. 0 or FLO_ENOMEM. The caller frees with dev_kv_free. */
int dev_kv_new(struct dev_kv **out);
/* Free the store and every key. NULL is allowed. */
void dev_kv_free(struct dev_kv *kv);

/*
 * Validate (ns, key) and build its stored form. An empty namespace means
 * `default`. Returns FLO_STATUS_OK, or FLO_STATUS_BAD_REQUEST with *msg set
 * to the server's text ("key is required", "key must not contain NUL",
 * "namespace + key too large", or a namespace complaint).
 */
uint8_t dev_kv_qualify(flo_buf_t ns, flo_buf_t key, struct dev_qkey *out, const char **msg);

/* True if the user key starts with a reserved prefix (_action:, _worker:,
 * _sys:, _internal:, _flo:). The caller answers 7 "access to reserved key
 * denied". */
bool dev_kv_is_reserved(flo_buf_t key);

/* The live entry for a key, or NULL if absent or expired at `now` (an
 * expired entry is freed here: lookups count as mutations for the
 * validity of earlier pointers). */
const struct dev_kv_entry *dev_kv_lookup(struct dev_kv *kv, const struct dev_qkey *k, uint64_t now);

/*
 * Store `value` (copied). Checks CAS, NX, XX, then the TTL option, as §7.1.
 * Returns OK with *version (new, strictly greater than any version handed
 * out before), CONFLICT (msg NULL: empty body), BAD_REQUEST with *msg, or
 * INTERNAL ("out of memory"). A put replaces the TTL: no ttl_ms = no TTL.
 */
uint8_t dev_kv_put(struct dev_kv *kv, const struct dev_qkey *k, flo_buf_t value,
                   const struct dev_kv_put_opts *o, uint64_t now, uint64_t *version,
                   const char **msg);

/* Delete a key. NOT_FOUND if absent, CONFLICT if has_cas and the version
 * differs, else OK. *msg is always NULL (both errors have empty bodies). */
uint8_t dev_kv_delete(struct dev_kv *kv, const struct dev_qkey *k, bool has_cas, uint64_t cas,
                      uint64_t now, const char **msg);

/*
 * Add `delta` to the 8-byte i64 LE counter at the key (missing = 0). The TTL
 * is kept. OK with *version and *value; BAD_REQUEST DEV_KV_MSG_NOT_COUNTER
 * (the stored value is not 8 bytes); INTERNAL DEV_KV_MSG_OVERFLOW (the sum
 * leaves i64: status 9 is what the spec says a real server may answer, and
 * the value is left unchanged); INTERNAL on memory.
 */
uint8_t dev_kv_incr(struct dev_kv *kv, const struct dev_qkey *k, int64_t delta, uint64_t now,
                    uint64_t *version, int64_t *value, const char **msg);

/*
 * Set (ttl_ms > 0) or clear (ttl_ms == 0) the TTL of an existing key without
 * touching its value or version (kv_touch / kv_persist). NOT_FOUND (empty),
 * CONFLICT (empty) on a CAS mismatch, BAD_REQUEST "ttl too large".
 */
uint8_t dev_kv_set_ttl(struct dev_kv *kv, const struct dev_qkey *k, uint64_t ttl_ms, bool has_cas,
                       uint64_t cas, uint64_t now, const char **msg);

/*
 * Keys of namespace `ns` starting with `prefix` and sorting strictly after
 * `cursor` (empty = from the start), in byte order, at most `limit`. Keys
 * created or deleted between two pages therefore never make a key that
 * exists throughout appear twice or go missing. Cost: one walk of the
 * table plus O(log limit) per matching key (only limit + 1 keys are kept).
 * Reserved keys and expired keys are skipped; in `default`, stored keys that
 * contain 0x00 (other namespaces' keys) are skipped. *keys is a malloc'd
 * array of views into the store (user keys, without the namespace); the
 * caller frees the array, the views die with the next mutation.
 * *has_more tells whether more matching keys follow. 0 or FLO_ENOMEM.
 */
int dev_kv_scan(struct dev_kv *kv, flo_buf_t ns, flo_buf_t prefix, flo_buf_t cursor, size_t limit,
                uint64_t now, flo_buf_t **keys, size_t *n, bool *has_more);

/*
 * Batch writes (a committed transaction): between _begin and _end every
 * write gets the same new version, like the entries of one Raft log entry;
 * a key written twice in the batch keeps one history slot. _begin returns
 * that version.
 */
uint64_t dev_kv_batch_begin(struct dev_kv *kv);
void dev_kv_batch_end(struct dev_kv *kv);
/* The highest version handed out so far (0 before the first write). */
uint64_t dev_kv_last_version(const struct dev_kv *kv);

/* Free every key expired at `now`; returns how many were freed. */
size_t dev_kv_sweep(struct dev_kv *kv, uint64_t now);
/* Keys held in memory, including expired ones not yet swept. */
size_t dev_kv_count(const struct dev_kv *kv);
/* Keys that carry a TTL (the sweeper skips its walk when this is 0). */
size_t dev_kv_ttl_count(const struct dev_kv *kv);

#endif
