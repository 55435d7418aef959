/*
 * RedisJSON's JSON.GET / JSON.SET / JSON.DEL (and JSON.FORGET) over Flo's
 * kv_json_get / kv_json_set / kv_json_del.
 *
 * Paths: Flo supports `$`, `.field`, `['field']` and `[index]` steps
 * (flo-protocol-core.md §7.8). A path starting with `$` is JSONPath and its
 * results come back the RedisJSON 2 way (a JSON array of matches, `[]` when
 * nothing matches); any other path is RedisJSON's legacy syntax (`.`,
 * `.a.b`, `a.b`, `a[0]`), translated to `$...`, whose result is the value
 * itself (and a missing path is an error). Wildcards, recursive descent,
 * filters, slices and unions are refused before anything goes upstream.
 *
 * Flo answers "not found" alike for a missing key and a missing path; where
 * RedisJSON's reply differs between the two, a kv_exists tells them apart.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "resp_internal.h"

#define JSON_MAX_PATH 4096 /* bytes of one path */

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void send_failed(struct resp_pending *p, int err)
{
    resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    done(p);
}

/* One path: what the user wrote and what Flo gets. */
struct jpath {
    flo_buf_t given;
    bool jsonpath;       /* starts with '$': array results */
    struct flo_wbuf flo; /* Flo's form, "$..." */
};

/* Check the path uses only Flo's subset and build Flo's form. False after
 * replying. */
static bool path_make(struct resp_pending *p, flo_buf_t given, struct jpath *jp)
{
    jp->given = given;
    jp->jsonpath = given.len > 0 && given.ptr[0] == '$';
    if (given.len > JSON_MAX_PATH) {
        resp_reply_errorf(&p->reply, "ERR JSON path too long (%zu bytes, max %d)", given.len,
                          JSON_MAX_PATH);
        return false;
    }
    char quote = 0;
    for (size_t i = 0; i < given.len; i++) {
        char ch = (char)given.ptr[i];
        if (quote) {
            if (ch == '\\' && i + 1 < given.len) {
                i++;
            } else if (ch == quote) {
                quote = 0;
            }
            continue;
        }
        bool bad = ch == '*' || ch == '?' || ch == '@' || ch == ',' || ch == ':' || ch == 0 ||
                   (ch == '.' && i + 1 < given.len && given.ptr[i + 1] == '.');
        if (bad) {
            resp_reply_errorf(&p->reply,
                              "ERR JSON path '%.*s' is outside the subset Flo supports: $, "
                              ".field, ['field'] and [index] (no wildcards, recursive descent, "
                              "filters, slices or unions)",
                              (int)(given.len > 200 ? 200 : given.len), (const char *)given.ptr);
            return false;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
        }
    }
    int rc = 0;
    if (jp->jsonpath) {
        rc = flo_wbuf_append(&jp->flo, given.ptr, given.len);
    } else if (given.len == 0 || (given.len == 1 && given.ptr[0] == '.')) {
        rc = flo_wbuf_append(&jp->flo, "$", 1);
    } else if (given.ptr[0] == '.' || given.ptr[0] == '[') {
        rc = flo_wbuf_append(&jp->flo, "$", 1);
        rc = rc ? rc : flo_wbuf_append(&jp->flo, given.ptr, given.len);
    } else {
        rc = flo_wbuf_append(&jp->flo, "$.", 2);
        rc = rc ? rc : flo_wbuf_append(&jp->flo, given.ptr, given.len);
    }
    if (rc < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
        return false;
    }
    return true;
}

static bool path_is_root(const struct jpath *jp)
{
    return jp->flo.len == 1 && jp->flo.data[0] == '$';
}

/* Append s as a JSON string literal (for the object of a multi-path GET). */
static int json_quote(struct flo_wbuf *o, flo_buf_t s)
{
    int rc = flo_wbuf_u8(o, '"');
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        uint8_t ch = s.ptr[i];
        if (ch == '"' || ch == '\\') {
            uint8_t esc[2] = {'\\', ch};
            rc = flo_wbuf_append(o, esc, 2);
        } else if (ch < 0x20) {
            char esc[8];
            int n = snprintf(esc, sizeof(esc), "\\u%04x", ch);
            rc = flo_wbuf_append(o, esc, (size_t)n);
        } else {
            rc = flo_wbuf_u8(o, ch);
        }
    }
    return rc ? rc : flo_wbuf_u8(o, '"');
}

/* ---- JSON.GET ---- */

struct jget_state {
    size_t npaths;
    struct jpath *paths;
    struct flo_wbuf *results; /* JSON text of each path */
    uint8_t *status;          /* Flo status of each path */
    bool present;             /* kv_exists (last call) */
};

static void jget_free(void *state)
{
    struct jget_state *s = state;
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->npaths; i++) {
        flo_wbuf_free(&s->paths[i].flo);
        flo_wbuf_free(&s->results[i]);
    }
    free(s->paths);
    free(s->results);
    free(s->status);
    free(s);
}

/* The RedisJSON reply element of path i (JSON text into o). False if the
 * path is missing in legacy syntax (then `missing` is set). */
static int jget_value(struct jget_state *s, size_t i, struct flo_wbuf *o)
{
    bool found = s->status[i] == FLO_STATUS_OK;
    int rc = 0;
    if (s->paths[i].jsonpath) {
        rc = flo_wbuf_u8(o, '[');
        if (found && rc == 0) {
            rc = flo_wbuf_append(o, s->results[i].data, s->results[i].len);
        }
        return rc ? rc : flo_wbuf_u8(o, ']');
    }
    return flo_wbuf_append(o, s->results[i].data, s->results[i].len);
}

static void jget_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    struct jget_state *s = p->state;
    if (!p->failed) {
        uint64_t version;
        flo_buf_t value;
        bool present;
        if (idx == s->npaths) {
            if (err || status != FLO_STATUS_OK) {
                resp__reply_upstream_err(p, err, status, body);
                p->failed = true;
            } else if ((err = flo_kv_dec_exists(body, &version, &present)) < 0) {
                resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
                p->failed = true;
            } else {
                s->present = present;
            }
        } else if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
            s->status[idx] = status;
        } else if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
            p->failed = true;
        } else if ((err = flo_kv_dec_get(body, &version, &value)) < 0 ||
                   (err = flo_wbuf_append(&s->results[idx], value.ptr, value.len)) < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            p->failed = true;
        } else {
            s->status[idx] = FLO_STATUS_OK;
        }
    }
    if (p->outstanding > 0) {
        return;
    }
    if (p->failed) {
        done(p);
        return;
    }
    if (!s->present) {
        resp_reply_null(&p->reply, p->proto);
        done(p);
        return;
    }
    /* A legacy path that matched nothing is an error, as in RedisJSON. */
    for (size_t i = 0; i < s->npaths; i++) {
        if (!s->paths[i].jsonpath && s->status[i] != FLO_STATUS_OK) {
            resp_reply_errorf(&p->reply, "ERR Path '%.*s' does not exist",
                              (int)s->paths[i].given.len, (const char *)s->paths[i].given.ptr);
            done(p);
            return;
        }
    }
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    int rc = 0;
    if (s->npaths == 1) {
        rc = jget_value(s, 0, &o);
    } else {
        rc = flo_wbuf_u8(&o, '{');
        for (size_t i = 0; i < s->npaths && rc == 0; i++) {
            if (i > 0) {
                rc = flo_wbuf_u8(&o, ',');
            }
            rc = rc ? rc : json_quote(&o, s->paths[i].given);
            rc = rc ? rc : flo_wbuf_u8(&o, ':');
            rc = rc ? rc : jget_value(s, i, &o);
        }
        rc = rc ? rc : flo_wbuf_u8(&o, '}');
    }
    if (rc < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_bulk(&p->reply, o.data, o.len);
    }
    flo_wbuf_free(&o);
    done(p);
}

static void cmd_json_get(struct resp_pending *p)
{
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc;
    flo_buf_t key = a[1];
    size_t first = 2;
    /* Formatting options come before the paths. */
    while (first + 1 < argc &&
           (resp__arg_is(a[first], "indent") || resp__arg_is(a[first], "newline") ||
            resp__arg_is(a[first], "space"))) {
        if (a[first + 1].len != 0) {
            resp_reply_error(&p->reply, "ERR JSON.GET INDENT, NEWLINE and SPACE are not "
                                        "supported by flo-sidecar (Flo returns compact JSON)");
            done(p);
            return;
        }
        first += 2;
    }
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct jget_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    p->state = s;
    p->state_free = jget_free;
    size_t n = argc > first ? argc - first : 1;
    s->paths = calloc(n, sizeof(*s->paths));
    s->results = calloc(n, sizeof(*s->results));
    s->status = calloc(n, sizeof(*s->status));
    if (!s->paths || !s->results || !s->status) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    s->npaths = n;
    for (size_t i = 0; i < n; i++) {
        flo_wbuf_init(&s->paths[i].flo);
        flo_wbuf_init(&s->results[i]);
        s->status[i] = FLO_STATUS_NOT_FOUND;
    }
    for (size_t i = 0; i < n; i++) {
        /* No path: the legacy root (the document itself). */
        flo_buf_t given = argc > first ? a[first + i] : FLO_BUF_STR(".");
        if (!path_make(p, given, &s->paths[i])) {
            done(p);
            return;
        }
    }
    if (resp__calls_alloc(p, (unsigned)n + 1) < 0) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    p->step = jget_step;
    for (size_t i = 0; i <= n && !p->failed; i++) {
        int err =
            i < n ? resp__send(p, (unsigned)i, FLO_OP_KV_JSON_GET, key,
                               flo_wbuf_view(&s->paths[i].flo), FLO_BUF_NULL, FLO_SEND_IDEMPOTENT)
                  : resp__send(p, (unsigned)i, FLO_OP_KV_EXISTS, key, FLO_BUF_NULL, FLO_BUF_NULL,
                               FLO_SEND_IDEMPOTENT);
        if (err < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
            p->failed = true;
        }
    }
    if (p->outstanding == 0) {
        done(p);
    }
}

/* ---- JSON.SET ---- */

struct jset_state {
    struct jpath path;
    struct flo_wbuf value, opts;
    bool conditional; /* NX/XX at the root: a kv_put */
    int phase;        /* 0 the write, 1 the exists check after "not found" */
};

static void jset_free(void *state)
{
    struct jset_state *s = state;
    if (s) {
        flo_wbuf_free(&s->path.flo);
        flo_wbuf_free(&s->value);
        flo_wbuf_free(&s->opts);
        free(s);
    }
}

static void jset_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct jset_state *s = p->state;
    if (s->phase == 1) {
        uint64_t version;
        bool present;
        if (err || status != FLO_STATUS_OK) {
            resp__reply_upstream_err(p, err, status, body);
        } else if ((err = flo_kv_dec_exists(body, &version, &present)) < 0) {
            resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
        } else if (!present) {
            resp_reply_error(&p->reply, "ERR new objects must be created at the root");
        } else {
            resp_reply_null(&p->reply, p->proto); /* the path's parent does not exist */
        }
        done(p);
        return;
    }
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_simple(&p->reply, "OK");
    } else if (err == 0 && status == FLO_STATUS_CONFLICT && s->conditional) {
        resp_reply_null(&p->reply, p->proto);
    } else if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        s->phase = 1;
        err = resp__send(p, 0, FLO_OP_KV_EXISTS, p->args.argv[1], FLO_BUF_NULL, FLO_BUF_NULL,
                         FLO_SEND_IDEMPOTENT);
        if (err == 0) {
            return;
        }
        resp__reply_upstream_err(p, err, 0, FLO_BUF_NULL);
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

static void cmd_json_set(struct resp_pending *p)
{
    const flo_buf_t *a = p->args.argv;
    flo_buf_t key = a[1], json = a[3];
    bool nx = false, xx = false;
    for (size_t j = 4; j < p->args.argc; j++) {
        if (resp__arg_is(a[j], "nx") && !xx) {
            nx = true;
        } else if (resp__arg_is(a[j], "xx") && !nx) {
            xx = true;
        } else {
            resp_reply_error(&p->reply, "ERR syntax error");
            done(p);
            return;
        }
    }
    struct proto_err e;
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    if (proto_check_value(p->c->srv->ctx, json.len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        done(p);
        return;
    }
    struct jset_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&s->path.flo);
    flo_wbuf_init(&s->value);
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = jset_free;
    if (!path_make(p, a[2], &s->path)) {
        done(p);
        return;
    }
    int err = 0;
    uint16_t op = FLO_OP_KV_JSON_SET;
    if (nx || xx) {
        if (!path_is_root(&s->path)) {
            resp_reply_error(&p->reply,
                             "ERR JSON.SET NX/XX is supported at the root only on flo-sidecar: "
                             "Flo's json_set has no condition, a whole-document write does");
            done(p);
            return;
        }
        /* A conditional whole-document write is a conditional kv_put; the
         * document is validated here since kv_put does not parse it. */
        cJSON *doc = cJSON_ParseWithLength((const char *)json.ptr, json.len);
        if (!doc) {
            resp_reply_error(&p->reply, "ERR invalid json document");
            done(p);
            return;
        }
        cJSON_Delete(doc);
        s->conditional = true;
        op = FLO_OP_KV_PUT;
        err = flo_opt_flag(&s->opts, nx ? FLO_OPT_IF_NOT_EXISTS : FLO_OPT_IF_EXISTS);
        err = err ? err : flo_wbuf_append(&s->value, json.ptr, json.len);
    } else {
        err = flo_kv_json_set_value(&s->value, flo_wbuf_view(&s->path.flo), json);
    }
    if (err == 0) {
        err = resp__calls_alloc(p, 1);
    }
    if (err == 0) {
        p->step = jset_step;
        err = resp__send(p, 0, op, key, flo_wbuf_view(&s->value), flo_wbuf_view(&s->opts), 0);
    }
    if (err < 0) {
        send_failed(p, err);
    }
}

/* ---- JSON.DEL / JSON.FORGET ---- */

struct jdel_state {
    struct jpath path;
};

static void jdel_free(void *state)
{
    struct jdel_state *s = state;
    if (s) {
        flo_wbuf_free(&s->path.flo);
        free(s);
    }
}

static void jdel_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    if (err == 0 && status == FLO_STATUS_OK) {
        resp_reply_int(&p->reply, 1);
    } else if (err == 0 && status == FLO_STATUS_NOT_FOUND) {
        resp_reply_int(&p->reply, 0);
    } else {
        resp__reply_upstream_err(p, err, status, body);
    }
    done(p);
}

static void cmd_json_del(struct resp_pending *p)
{
    flo_buf_t key = p->args.argv[1];
    if (p->args.argc > 3) {
        resp_reply_errorf(&p->reply, "ERR wrong number of arguments for '%s' command",
                          p->cmd->name);
        done(p);
        return;
    }
    if (!resp__key_ok(p, key)) {
        done(p);
        return;
    }
    struct jdel_state *s = calloc(1, sizeof(*s));
    if (!s) {
        send_failed(p, FLO_ENOMEM);
        return;
    }
    flo_wbuf_init(&s->path.flo);
    p->state = s;
    p->state_free = jdel_free;
    if (!path_make(p, p->args.argc == 3 ? p->args.argv[2] : FLO_BUF_STR("$"), &s->path)) {
        done(p);
        return;
    }
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = jdel_step;
        err =
            resp__send(p, 0, FLO_OP_KV_JSON_DEL, key, flo_wbuf_view(&s->path.flo), FLO_BUF_NULL, 0);
    }
    if (err < 0) {
        send_failed(p, err);
    }
}

const struct resp_cmd resp__json_cmds[] = {
    {"json.get", -2, RESP_CMD_READONLY, 1, 1, 1, "json",
     "Gets the value at one or more paths in JSON serialized form.", cmd_json_get},
    {"json.set", -4, RESP_CMD_WRITE, 1, 1, 1, "json",
     "Sets or updates the JSON value at a path (NX/XX at the root only).", cmd_json_set},
    {"json.del", -2, RESP_CMD_WRITE, 1, 1, 1, "json", "Deletes a value.", cmd_json_del},
    {"json.forget", -2, RESP_CMD_WRITE, 1, 1, 1, "json", "Deletes a value (alias of JSON.DEL).",
     cmd_json_del},
};
const size_t resp__json_ncmds = sizeof(resp__json_cmds) / sizeof(resp__json_cmds[0]);
