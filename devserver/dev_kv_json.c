/*
 * flo-dev's kv_json_get / kv_json_set / kv_json_del handlers
 * (flo-protocol-core.md §7.8-§7.10): the document is an ordinary KV value
 * holding JSON text; these ops parse it (dev_json.c), act on the path and
 * store the compact result as a new version, so GET, history, CAS and
 * blocking reads see JSON writes like any other write. None of them runs
 * inside a transaction: a txn_id option is refused (Flo's
 * kv_txn_unsupported_op). The json_set value layout is parsed by libflo's
 * server-side parser (flo_kv_parse_json_set).
 */
#include <string.h>

#include "dev_internal.h"
#include "dev_json.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"

#define MAX_DOC (256u * 1024) /* largest value the real server stores */

static const char bad_path_or_doc[] = "invalid json path or document";

/* Key validation, (optionally) the reserved check, then the refusal of a
 * txn_id; true to proceed. */
static bool json_key(struct dev_conn *c, const struct dev_req *r, struct dev_qkey *k, bool reserved)
{
    const char *msg;
    if (dev_kv_qualify(r->env.ns, r->env.key, k, &msg) != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return false;
    }
    if (reserved && dev_kv_is_reserved(r->env.key)) {
        dev__reply_text(c, r->id, FLO_STATUS_UNAUTHORIZED, "access to reserved key denied");
        return false;
    }
    return !dev__txn_refuse(c, r);
}

/* Remaining TTL of an entry, 0 if none: JSON edits keep it. */
static uint64_t ttl_left(const struct dev_kv_entry *e, uint64_t now)
{
    return e != NULL && e->expire_at > now ? e->expire_at - now : 0;
}

/* Serialise `doc` and store it; answers the request either way. */
static void store_doc(struct dev_conn *c, const struct dev_req *r, const struct dev_qkey *k,
                      const struct dev_json *doc, uint64_t ttl_ms, bool body_version)
{
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    if (dev_json_write(doc, &out) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        goto out;
    }
    if (out.len > MAX_DOC) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, "value too large");
        goto out;
    }
    struct dev_kv_put_opts o = {.has_ttl = ttl_ms != 0, .ttl_ms = ttl_ms};
    uint64_t version;
    const char *msg;
    uint8_t st =
        dev_kv_put(c->srv->kv, k, flo_wbuf_view(&out), &o, dev__now(c->srv), &version, &msg);
    if (st != FLO_STATUS_OK) {
        dev__reply_text(c, r->id, st, msg);
        goto out;
    }
    if (body_version) {
        uint8_t body[8];
        flo_st64(body, version);
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(body, sizeof body));
    } else {
        dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
    }
    dev__kv_wake(c->srv, k);
out:
    flo_wbuf_free(&out);
}

static void op_json_get(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!json_key(c, r, &k, false)) {
        return;
    }
    const struct dev_kv_entry *e = dev_kv_lookup(c->srv->kv, &k, dev__now(c->srv));
    if (e == NULL) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    struct dev_json_step steps[DEV_JSON_MAX_PATH];
    size_t n;
    struct dev_json *doc = NULL;
    if (dev_json_path(r->env.value, steps, &n) != 0 ||
        dev_json_parse(FLO_BUF(e->hist[0].val, e->hist[0].len), &doc) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        return;
    }
    const struct dev_json *sel = dev_json_get(doc, steps, n);
    if (sel == NULL) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        dev_json_free(doc);
        return;
    }
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    if (flo_wbuf_u64(&b, e->hist[0].version) == 0 && dev_json_write(sel, &b) == 0) {
        dev__reply(c, r->id, FLO_STATUS_OK, flo_wbuf_view(&b));
    } else {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
    }
    flo_wbuf_free(&b);
    dev_json_free(doc);
}

static void op_json_set(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!json_key(c, r, &k, true)) {
        return;
    }
    flo_buf_t path, text;
    const char *msg;
    if (flo_kv_parse_json_set(r->env.value, &path, &text, &msg) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, msg);
        return;
    }
    struct dev_json_step steps[DEV_JSON_MAX_PATH];
    size_t n;
    if (dev_json_path(path, steps, &n) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        return;
    }
    uint64_t now = dev__now(c->srv);
    uint64_t ttl_ms = 0;
    flo_buf_t ttl;
    bool has_ttl = flo_opt_find(r->env.opts, FLO_OPT_TTL_MS, &ttl);
    if (has_ttl && ttl.len != 8) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        "ttl_ms must be 8 bytes (a u64 of milliseconds)");
        return;
    }
    const struct dev_kv_entry *e = dev_kv_lookup(c->srv->kv, &k, now);
    /* A missing key can only be created whole, with "$" (§7.9). */
    if (e == NULL && n > 0) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    ttl_ms = has_ttl ? flo_ld64(ttl.ptr) : ttl_left(e, now);
    struct dev_json *val = NULL;
    if (dev_json_parse(text, &val) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST,
                        e == NULL ? "invalid json document" : bad_path_or_doc);
        return;
    }
    /* The result must stay parseable: its nesting is the path's steps plus
     * the value's own (the parser's bound applies to every later read). */
    if (n + dev_json_depth(val) > DEV_JSON_MAX_DEPTH) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        dev_json_free(val);
        return;
    }
    if (n == 0) { /* "$": the whole document, existing or new */
        store_doc(c, r, &k, val, ttl_ms, true);
        dev_json_free(val);
        return;
    }
    struct dev_json *doc = NULL;
    if (dev_json_parse(FLO_BUF(e->hist[0].val, e->hist[0].len), &doc) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        dev_json_free(val);
        return;
    }
    int rc = dev_json_set(doc, steps, n, val);
    if (rc != 0) {
        dev_json_free(val);
        if (rc == FLO_ENOMEM) {
            dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "internal error: out of memory");
        } else {
            dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        }
        dev_json_free(doc);
        return;
    }
    store_doc(c, r, &k, doc, ttl_ms, true);
    dev_json_free(doc);
}

static void op_json_del(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_qkey k;
    if (!json_key(c, r, &k, true)) {
        return;
    }
    struct dev_json_step steps[DEV_JSON_MAX_PATH];
    size_t n;
    if (dev_json_path(r->env.value, steps, &n) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        return;
    }
    uint64_t now = dev__now(c->srv);
    const struct dev_kv_entry *e = dev_kv_lookup(c->srv->kv, &k, now);
    if (e == NULL) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        return;
    }
    if (n == 0) { /* "$" deletes the key */
        const char *msg;
        uint8_t st = dev_kv_delete(c->srv->kv, &k, false, 0, now, &msg);
        dev__reply_text(c, r->id, st, msg);
        return;
    }
    struct dev_json *doc = NULL;
    if (dev_json_parse(FLO_BUF(e->hist[0].val, e->hist[0].len), &doc) != 0) {
        dev__reply_text(c, r->id, FLO_STATUS_BAD_REQUEST, bad_path_or_doc);
        return;
    }
    if (dev_json_del(doc, steps, n) != 0) {
        dev__reply(c, r->id, FLO_STATUS_NOT_FOUND, FLO_BUF_NULL);
        dev_json_free(doc);
        return;
    }
    store_doc(c, r, &k, doc, ttl_left(e, now), false);
    dev_json_free(doc);
}

void dev__kv_json_register(dev_op_fn ops[DEV_OP_SLOTS])
{
    ops[FLO_OP_KV_JSON_GET] = op_json_get;
    ops[FLO_OP_KV_JSON_SET] = op_json_set;
    ops[FLO_OP_KV_JSON_DEL] = op_json_del;
}
