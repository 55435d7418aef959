/*
 * KV and system operations of the Flo protocol: value encoders for the
 * requests whose value has a layout, decoders for every KV/system response
 * body, and the matching request-value parsers flo-dev uses
 * (shared/flo-protocol-core.md §7, §10, §11).
 *
 * Decoders work on a borrowed body and hand out views into it; nothing here
 * allocates except the encoders appending to a caller's buffer. Fixed-size
 * bodies must have exactly their size: a longer body means the caller is
 * decoding the wrong response (or the server changed), and saying so beats
 * silently reading garbage. Variable bodies are validated completely before
 * an iterator is handed out, so a caller never emits half a result.
 */
#include "flo/flo_kv.h"

#include "flo/flo_error.h"
#include "flo_ops_internal.h"

/* Fixed body sizes (core.md §7). */
#define VERSION_SIZE        8
#define EXISTS_SIZE         9  /* version + flag */
#define INCR_SIZE           16 /* version + i64 */
#define BEGIN_SIZE          17 /* tag 0x00 + txn_id + pinned_hash */
#define COMMIT_SIZE         11 /* tag 0x01 + commit_index + op_count */
#define CLUSTER_STATUS_SIZE 21 /* node u32, leader u32, term u64, state u8, members u32 */
#define BEGIN_TAG           0x00
#define COMMIT_TAG          0x01
#define MGET_FOUND          0
#define MGET_MISSING        2
#define STR16_MAX           0xFFFFu

/* Set the server's message for a parser failure if the caller wants it. */
static int fail_msg(const char **msg, int err, const char *text)
{
    if (msg != NULL) {
        *msg = text;
    }
    return err;
}

/* ---- request values ---- */

int flo_kv_mget_value(struct flo_wbuf *v, const flo_buf_t *keys, size_t n)
{
    if (n == 0 || n > FLO_KV_MGET_MAX_KEYS || keys == NULL) {
        return FLO_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len > STR16_MAX) {
            return FLO_EINVAL;
        }
    }
    /* Roll back to the original length on failure so a caller never sends
     * half a key list. */
    size_t mark = v->len;
    int rc = flo_wbuf_u16(v, (uint16_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo_wbuf_str16(v, keys[i].ptr, keys[i].len);
    }
    if (rc != 0) {
        v->len = mark;
    }
    return rc;
}

int flo_kv_scan_value(struct flo_wbuf *v, uint32_t limit, flo_buf_t cursor)
{
    size_t mark = v->len;
    int rc = flo_wbuf_u32(v, limit);
    if (rc == 0 && cursor.len > 0) {
        rc = flo_wbuf_append(v, cursor.ptr, cursor.len);
    }
    if (rc != 0) {
        v->len = mark;
    }
    return rc;
}

int flo_kv_incr_value(struct flo_wbuf *v, int64_t delta)
{
    return flo_wbuf_u64(v, (uint64_t)delta);
}

int flo_kv_json_set_value(struct flo_wbuf *v, flo_buf_t path, flo_buf_t json)
{
    if (path.len > STR16_MAX) {
        return FLO_EINVAL;
    }
    size_t mark = v->len;
    int rc = flo_wbuf_str16(v, path.ptr, path.len);
    if (rc == 0 && json.len > 0) {
        rc = flo_wbuf_append(v, json.ptr, json.len);
    }
    if (rc != 0) {
        v->len = mark;
    }
    return rc;
}

int flo_kv_touch_value(struct flo_wbuf *v, uint64_t ttl_ms)
{
    return flo_wbuf_u64(v, ttl_ms);
}

/* ---- fixed-size response bodies ---- */

/* FLO_ETRUNC if shorter than `size`, FLO_EMALFORMED if longer. */
static int exact_size(flo_buf_t body, size_t size)
{
    if (body.len < size) {
        return FLO_ETRUNC;
    }
    return body.len == size ? 0 : FLO_EMALFORMED;
}

int flo_kv_dec_version(flo_buf_t body, uint64_t *version)
{
    int rc = exact_size(body, VERSION_SIZE);
    if (rc != 0) {
        return rc;
    }
    *version = flo_ld64(body.ptr);
    return 0;
}

int flo_kv_dec_get(flo_buf_t body, uint64_t *version, flo_buf_t *value)
{
    if (body.len < VERSION_SIZE) {
        return FLO_ETRUNC;
    }
    *version = flo_ld64(body.ptr);
    *value = FLO_BUF(body.ptr + VERSION_SIZE, body.len - VERSION_SIZE);
    return 0;
}

int flo_kv_dec_exists(flo_buf_t body, uint64_t *version, bool *present)
{
    int rc = exact_size(body, EXISTS_SIZE);
    if (rc != 0) {
        return rc;
    }
    uint8_t flag = body.ptr[VERSION_SIZE];
    if (flag > 1) {
        return FLO_EMALFORMED;
    }
    *version = flo_ld64(body.ptr);
    *present = flag == 1;
    return 0;
}

int flo_kv_dec_incr(flo_buf_t body, uint64_t *version, int64_t *value)
{
    int rc = exact_size(body, INCR_SIZE);
    if (rc != 0) {
        return rc;
    }
    *version = flo_ld64(body.ptr);
    *value = (int64_t)flo_ld64(body.ptr + VERSION_SIZE);
    return 0;
}

int flo_kv_dec_json_del(flo_buf_t body, uint64_t *version)
{
    /* The server sends an empty body; the Go SDK reads a version if one is
     * there (core.md §10 item 8), so accept both. */
    if (body.len == 0) {
        *version = 0;
        return 0;
    }
    return flo_kv_dec_version(body, version);
}

int flo_kv_dec_begin(flo_buf_t body, uint64_t *txn_id, uint64_t *pinned_hash)
{
    int rc = exact_size(body, BEGIN_SIZE);
    if (rc != 0) {
        return rc;
    }
    if (body.ptr[0] != BEGIN_TAG) {
        return FLO_EMALFORMED;
    }
    *txn_id = flo_ld64(body.ptr + 1);
    *pinned_hash = flo_ld64(body.ptr + 9);
    return 0;
}

int flo_kv_dec_commit(flo_buf_t body, uint64_t *commit_index, uint16_t *op_count)
{
    int rc = exact_size(body, COMMIT_SIZE);
    if (rc != 0) {
        return rc;
    }
    if (body.ptr[0] != COMMIT_TAG) {
        return FLO_EMALFORMED;
    }
    *commit_index = flo_ld64(body.ptr + 1);
    *op_count = flo_ld16(body.ptr + 9);
    return 0;
}

int flo_dec_cluster_status(flo_buf_t body, struct flo_cluster_status *out)
{
    int rc = exact_size(body, CLUSTER_STATUS_SIZE);
    if (rc != 0) {
        return rc;
    }
    /* state is reported as data: a newer server may add roles, and the
     * caller only displays it. */
    out->node_id = flo_ld32(body.ptr);
    out->leader_id = flo_ld32(body.ptr + 4);
    out->term = flo_ld64(body.ptr + 8);
    out->state = body.ptr[16];
    out->member_count = flo_ld32(body.ptr + 17);
    return 0;
}

/* ---- mget ---- */

/* Read one mget entry. 0, FLO_ETRUNC or FLO_EMALFORMED (bad status). */
static int mget_entry(struct flo_cur *c, struct flo_kv_mget_entry *e)
{
    uint8_t status = 0;
    flo_cur_u8(c, &status);
    flo_cur_str16(c, &e->key);
    flo_cur_u64(c, &e->version);
    flo_cur_str32(c, &e->value);
    if (c->err != 0) {
        return c->err;
    }
    if (status != MGET_FOUND && status != MGET_MISSING) {
        return FLO_EMALFORMED;
    }
    e->found = status == MGET_FOUND;
    return 0;
}

int flo_kv_mget_begin(flo_buf_t body, struct flo_kv_mget_iter *it)
{
    flo_cur_init(&it->cur, body);
    uint32_t count = 0;
    if (flo_cur_u32(&it->cur, &count) != 0) {
        return FLO_ETRUNC;
    }
    it->remaining = count;
    /* Walk a copy to the end so a malformed entry is reported before the
     * caller has produced any output. Running out of bytes at an entry
     * boundary is the server dropping entries that did not fit (§3). */
    struct flo_kv_mget_iter probe = *it;
    struct flo_kv_mget_entry e;
    int rc;
    while ((rc = flo_kv_mget_next(&probe, &e)) == 1) {
    }
    return rc;
}

int flo_kv_mget_next(struct flo_kv_mget_iter *it, struct flo_kv_mget_entry *e)
{
    if (it->remaining == 0) {
        /* Bytes after the announced entries break the layout. */
        return it->cur.left == 0 ? 0 : FLO_EMALFORMED;
    }
    if (it->cur.left == 0) {
        it->remaining = 0;
        return 0;
    }
    int rc = mget_entry(&it->cur, e);
    if (rc != 0) {
        return rc;
    }
    it->remaining--;
    return 1;
}

/* ---- scan ---- */

static int scan_entry(struct flo_cur *c, void *entry)
{
    struct flo_kv_scan_entry *e = entry;
    flo_cur_str16(c, &e->key);
    flo_cur_str32(c, &e->value);
    return c->err;
}

int flo_kv_scan_begin(flo_buf_t body, struct flo_kv_scan_page *page, struct flo_kv_scan_iter *it)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    uint32_t count = 0;
    if (flo_cur_u32(&c, &count) != 0) {
        return FLO_ETRUNC;
    }
    it->cur = c;
    it->remaining = count;

    /* Entries: keys only on the walk path (value_len 0), key+value on the
     * fallback path; both share one layout. */
    struct flo_kv_scan_entry e;
    int rc = flo__list_skip(&c, count, scan_entry, &e);
    if (rc != 0) {
        return rc;
    }
    uint8_t has_more = 0;
    if (flo_cur_u8(&c, &has_more) != 0) {
        return FLO_ETRUNC;
    }
    if (has_more > 1) {
        return FLO_EMALFORMED;
    }
    /* The walk path appends [cursor_len u16][cursor]; the fallback path
     * ends at has_more (core.md §7.5): read a cursor only if bytes remain. */
    flo_buf_t cursor = FLO_BUF_NULL;
    if (c.left > 0) {
        if (flo_cur_str16(&c, &cursor) != 0) {
            return FLO_ETRUNC;
        }
        if (c.left > 0) {
            return FLO_EMALFORMED;
        }
    }
    page->count = count;
    page->has_more = has_more == 1;
    page->cursor = cursor;
    return 0;
}

int flo_kv_scan_next(struct flo_kv_scan_iter *it, struct flo_kv_scan_entry *e)
{
    return flo__list_next(&it->cur, &it->remaining, scan_entry, e);
}

/* ---- history ---- */

static int history_entry(struct flo_cur *c, void *entry)
{
    struct flo_kv_history_entry *e = entry;
    flo_cur_str32(c, &e->value);
    flo_cur_u64(c, &e->version);
    return c->err;
}

int flo_kv_history_begin(flo_buf_t body, struct flo_kv_history_iter *it, uint32_t *count)
{
    struct flo_kv_history_entry e;
    return flo__list_begin(body, &it->cur, &it->remaining, count, history_entry, &e,
                           FLO__LIST_EXACT);
}

int flo_kv_history_next(struct flo_kv_history_iter *it, struct flo_kv_history_entry *e)
{
    return flo__list_next(&it->cur, &it->remaining, history_entry, e);
}

/* ---- namespace_list ---- */

int flo_ns_list_begin(flo_buf_t body, struct flo_name_iter *it, uint32_t *count)
{
    flo_buf_t name;
    return flo__list_begin(body, &it->cur, &it->remaining, count, flo__str16_read, &name,
                           FLO__LIST_EXACT);
}

int flo_ns_list_next(struct flo_name_iter *it, flo_buf_t *name)
{
    return flo__list_next(&it->cur, &it->remaining, flo__str16_read, name);
}

/* ---- request values, server side ---- */

int flo_kv_parse_mget(flo_buf_t value, struct flo_kv_key_iter *it, uint16_t *count,
                      const char **msg)
{
    struct flo_cur c;
    flo_cur_init(&c, value);
    uint16_t n = 0;
    if (flo_cur_u16(&c, &n) != 0) {
        return fail_msg(msg, FLO_ETRUNC, "mget: missing key count");
    }
    if (n == 0) {
        return fail_msg(msg, FLO_EMALFORMED, "mget: zero keys");
    }
    if (n > FLO_KV_MGET_MAX_KEYS) {
        return fail_msg(msg, FLO_EMALFORMED, "mget: too many keys (max 256)");
    }
    it->cur = c;
    it->remaining = n;
    for (uint16_t i = 0; i < n; i++) {
        uint16_t klen = 0;
        flo_buf_t key;
        if (flo_cur_u16(&c, &klen) != 0) {
            return fail_msg(msg, FLO_ETRUNC, "mget: truncated key list");
        }
        if (flo_cur_bytes(&c, klen, &key) != 0) {
            return fail_msg(msg, FLO_ETRUNC, "mget: truncated key data");
        }
    }
    *count = n;
    return 0;
}

int flo_kv_key_next(struct flo_kv_key_iter *it, flo_buf_t *key)
{
    if (it->remaining == 0) {
        return 0;
    }
    int rc = flo_cur_str16(&it->cur, key);
    if (rc != 0) {
        return rc;
    }
    it->remaining--;
    return 1;
}

int flo_kv_parse_scan(flo_buf_t value, uint32_t *limit, flo_buf_t *cursor, const char **msg)
{
    if (value.len == 0) {
        *limit = 0;
        *cursor = FLO_BUF_NULL;
        return 0;
    }
    if (value.len < sizeof(uint32_t)) {
        return fail_msg(msg, FLO_ETRUNC, "scan: value must start with a u32 limit");
    }
    *limit = flo_ld32(value.ptr);
    *cursor = FLO_BUF(value.ptr + sizeof(uint32_t), value.len - sizeof(uint32_t));
    return 0;
}

int flo_kv_parse_incr(flo_buf_t value, int64_t *delta, const char **msg)
{
    if (value.len == 0) {
        *delta = 1;
        return 0;
    }
    if (value.len != sizeof(int64_t)) {
        return fail_msg(msg, FLO_EMALFORMED, "incr: value must be empty or 8-byte i64 LE");
    }
    *delta = (int64_t)flo_ld64(value.ptr);
    return 0;
}

int flo_kv_parse_json_set(flo_buf_t value, flo_buf_t *path, flo_buf_t *json, const char **msg)
{
    struct flo_cur c;
    flo_cur_init(&c, value);
    uint16_t plen = 0;
    if (flo_cur_u16(&c, &plen) != 0) {
        return fail_msg(msg, FLO_ETRUNC, "json_set: missing path_len");
    }
    if (flo_cur_bytes(&c, plen, path) != 0) {
        return fail_msg(msg, FLO_ETRUNC, "json_set: truncated path");
    }
    *json = flo_cur_rest(&c);
    return 0;
}

int flo_kv_parse_touch(flo_buf_t value, uint64_t *ttl_ms, const char **msg)
{
    if (value.len == 0) {
        *ttl_ms = 0;
        return 0;
    }
    if (value.len != sizeof(uint64_t)) {
        return fail_msg(msg, FLO_EMALFORMED, "touch: value must be empty or 8-byte u64 LE");
    }
    *ttl_ms = flo_ld64(value.ptr);
    return 0;
}
