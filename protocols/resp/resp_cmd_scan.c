/*
 * Keyspace iteration over Flo's kv_scan walk (flo-protocol-core.md §7.5):
 * SCAN, KEYS and DBSIZE.
 *
 * Flo's scan cursor is opaque bytes; Redis clients parse SCAN's cursor as
 * an unsigned 64-bit number. The server therefore keeps a bounded table
 * mapping numeric cursors to (namespace, prefix, Flo cursor): at most
 * SCAN_MAX_CURSORS entries, least recently used evicted first, entries idle
 * for SCAN_CURSOR_IDLE_MS dropped. A cursor stays valid after use (a client
 * may retry a page) until it is evicted; an unknown cursor, or one from
 * another namespace, is "-ERR invalid cursor".
 *
 * MATCH: the pattern's literal prefix (up to the first unescaped * ? [)
 * becomes Flo's prefix filter, and the whole pattern is applied to each key
 * with Redis' stringmatchlen rules, so a page may hold fewer keys than
 * COUNT, or none, while the cursor is not 0 (as in Redis).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "flo/flo_error.h"
#include "flo/flo_kv.h"
#include "resp_internal.h"

#define SCAN_MAX_CURSORS    10000u
#define SCAN_CURSOR_IDLE_MS (10u * 60 * 1000)
#define SCAN_FLO_MAX_LIMIT  1000u /* largest page asked from Flo */
#define SCAN_DEFAULT_COUNT  10u   /* Redis' default COUNT */
#define KEYS_MAX_MATCHES    100000u
#define GLOB_MAX_NESTING    1000 /* Redis' protection against abusive patterns */

struct scan_cursor {
    uint64_t id;
    char ns[PROTO_MAX_NAMESPACE + 1];
    size_t ns_len;
    uint8_t *prefix; /* owned */
    size_t prefix_len;
    uint8_t *flo_cursor; /* owned */
    size_t flo_cursor_len;
    uint64_t last_ms;
    UT_hash_handle hh;
};

struct resp_scan_table {
    struct scan_cursor *by_id; /* uthash keeps insertion order: oldest use first */
    size_t n;
    uint64_t rng;
};

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

/* ---- glob ---- */

/* Redis' stringmatchlen_impl (util.c), case-sensitive. Bytes compare as
 * char, like Redis, so ranges over bytes >= 0x80 behave the same. */
static bool glob_impl(const char *pat, size_t plen, const char *s, size_t slen, bool *skip_longer,
                      int nesting)
{
    if (nesting > GLOB_MAX_NESTING) {
        return false;
    }
    while (plen && slen) {
        switch (pat[0]) {
        case '*':
            while (plen > 1 && pat[1] == '*') {
                pat++;
                plen--;
            }
            if (plen == 1) {
                return true;
            }
            while (slen) {
                if (glob_impl(pat + 1, plen - 1, s, slen, skip_longer, nesting + 1)) {
                    return true;
                }
                if (*skip_longer) {
                    return false;
                }
                s++;
                slen--;
            }
            *skip_longer = true;
            return false;
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            pat++;
            plen--;
            bool neg = plen && pat[0] == '^';
            if (neg) {
                pat++;
                plen--;
            }
            bool match = false;
            for (;;) {
                if (plen >= 2 && pat[0] == '\\') {
                    pat++;
                    plen--;
                    if (pat[0] == s[0]) {
                        match = true;
                    }
                } else if (plen == 0) {
                    /* Unterminated class: step back so the loop below
                     * consumes the last byte (Redis does the same). */
                    pat--;
                    plen++;
                    break;
                } else if (pat[0] == ']') {
                    break;
                } else if (plen >= 3 && pat[1] == '-') {
                    int start = pat[0], end = pat[2], c = s[0];
                    if (start > end) {
                        int t = start;
                        start = end;
                        end = t;
                    }
                    pat += 2;
                    plen -= 2;
                    if (c >= start && c <= end) {
                        match = true;
                    }
                } else if (pat[0] == s[0]) {
                    match = true;
                }
                pat++;
                plen--;
            }
            if (neg) {
                match = !match;
            }
            if (!match) {
                return false;
            }
            s++;
            slen--;
            break;
        }
        case '\\':
            if (plen >= 2) {
                pat++;
                plen--;
            }
            /* fall through */
        default:
            if (pat[0] != s[0]) {
                return false;
            }
            s++;
            slen--;
            break;
        }
        pat++;
        plen--;
        if (slen == 0) {
            while (plen && pat[0] == '*') {
                pat++;
                plen--;
            }
            break;
        }
    }
    return plen == 0 && slen == 0;
}

bool resp__glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen)
{
    bool skip = false;
    return glob_impl((const char *)pat, plen, (const char *)s, slen, &skip, 0);
}

/* The literal prefix every key matching `pat` starts with, unescaped into
 * out (capacity >= plen). */
static size_t glob_prefix(flo_buf_t pat, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < pat.len; i++) {
        uint8_t ch = pat.ptr[i];
        if (ch == '*' || ch == '?' || ch == '[') {
            break;
        }
        if (ch == '\\') {
            if (i + 1 >= pat.len) {
                break;
            }
            ch = pat.ptr[++i];
        }
        out[n++] = ch;
    }
    return n;
}

/* ---- the cursor table ---- */

static void cursor_free(struct scan_cursor *e)
{
    free(e->prefix);
    free(e->flo_cursor);
    free(e);
}

void resp__scan_table_free(struct resp_server *srv)
{
    struct resp_scan_table *t = srv->scans;
    if (!t) {
        return;
    }
    struct scan_cursor *e, *tmp;
    HASH_ITER(hh, t->by_id, e, tmp)
    {
        HASH_DEL(t->by_id, e);
        cursor_free(e);
    }
    free(t);
    srv->scans = NULL;
}

static struct resp_scan_table *table(struct resp_server *srv)
{
    if (!srv->scans) {
        srv->scans = calloc(1, sizeof(*srv->scans));
        if (srv->scans) {
            /* Cursor numbers are not guessable in order, so a client cannot
             * easily stumble onto another client's iteration. */
            srv->scans->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)srv;
        }
    }
    return srv->scans;
}

static uint64_t next_id(struct resp_scan_table *t)
{
    for (;;) {
        /* xorshift64*; ids fit in 63 bits and are never 0 ("done"). */
        t->rng ^= t->rng >> 12;
        t->rng ^= t->rng << 25;
        t->rng ^= t->rng >> 27;
        uint64_t id = (t->rng * 0x2545F4914F6CDD1DULL) >> 1;
        struct scan_cursor *e = NULL;
        HASH_FIND(hh, t->by_id, &id, sizeof(id), e);
        if (id != 0 && !e) {
            return id;
        }
    }
}

/* Drop idle cursors and make room for one more. */
static void table_trim(struct resp_scan_table *t, uint64_t now)
{
    struct scan_cursor *e, *tmp;
    HASH_ITER(hh, t->by_id, e, tmp)
    {
        if (t->n < SCAN_MAX_CURSORS && now - e->last_ms < SCAN_CURSOR_IDLE_MS) {
            break; /* the rest were used more recently */
        }
        HASH_DEL(t->by_id, e);
        cursor_free(e);
        t->n--;
    }
}

/* Store a continuation; its id, or 0 on allocation failure. */
static uint64_t cursor_put(struct resp_pending *p, flo_buf_t prefix, flo_buf_t flo_cursor)
{
    struct resp_scan_table *t = table(p->c->srv);
    if (!t) {
        return 0;
    }
    uint64_t now = uv_now(p->c->srv->ctx->loop);
    table_trim(t, now);
    struct scan_cursor *e = calloc(1, sizeof(*e));
    if (!e) {
        return 0;
    }
    e->prefix = malloc(prefix.len ? prefix.len : 1);
    e->flo_cursor = malloc(flo_cursor.len ? flo_cursor.len : 1);
    if (!e->prefix || !e->flo_cursor) {
        cursor_free(e);
        return 0;
    }
    if (prefix.len) {
        memcpy(e->prefix, prefix.ptr, prefix.len);
    }
    e->prefix_len = prefix.len;
    memcpy(e->flo_cursor, flo_cursor.ptr, flo_cursor.len); /* non-empty: has_more */
    e->flo_cursor_len = flo_cursor.len;
    memcpy(e->ns, p->ns, p->ns_len);
    e->ns_len = p->ns_len;
    e->last_ms = now;
    e->id = next_id(t);
    HASH_ADD(hh, t->by_id, id, sizeof(e->id), e);
    t->n++;
    return e->id;
}

/* Find a cursor of this namespace and mark it used; NULL if unknown. */
static struct scan_cursor *cursor_get(struct resp_pending *p, uint64_t id)
{
    struct resp_scan_table *t = p->c->srv->scans;
    struct scan_cursor *e = NULL;
    if (!t) {
        return NULL;
    }
    HASH_FIND(hh, t->by_id, &id, sizeof(id), e);
    if (!e || e->ns_len != p->ns_len || memcmp(e->ns, p->ns, p->ns_len) != 0) {
        return NULL;
    }
    uint64_t now = uv_now(p->c->srv->ctx->loop);
    if (now - e->last_ms >= SCAN_CURSOR_IDLE_MS) {
        return NULL;
    }
    /* Move to the back: the table stays ordered by last use. */
    HASH_DEL(t->by_id, e);
    e->last_ms = now;
    HASH_ADD(hh, t->by_id, id, sizeof(e->id), e);
    return e;
}

/* ---- the walk shared by SCAN, KEYS and DBSIZE ---- */

enum walk_mode_e { WALK_SCAN, WALK_KEYS, WALK_DBSIZE };

struct walk_state {
    enum walk_mode_e mode;
    flo_buf_t pattern; /* view into argv; empty = match everything */
    bool has_pattern;
    bool type_ok;   /* SCAN TYPE names Flo's one type (or is absent) */
    uint32_t limit; /* keys per Flo page */
    struct flo_wbuf prefix, cursor, value;
    struct flo_wbuf keys; /* encoded bulk replies of matching keys */
    uint64_t nkeys;       /* keys in `keys` (KEYS, SCAN) or counted (DBSIZE) */
};

static void walk_state_free(void *state)
{
    struct walk_state *w = state;
    if (w) {
        flo_wbuf_free(&w->prefix);
        flo_wbuf_free(&w->cursor);
        flo_wbuf_free(&w->value);
        flo_wbuf_free(&w->keys);
        free(w);
    }
}

static struct walk_state *walk_new(struct resp_pending *p, enum walk_mode_e mode)
{
    struct walk_state *w = calloc(1, sizeof(*w));
    if (!w) {
        return NULL;
    }
    flo_wbuf_init(&w->prefix);
    flo_wbuf_init(&w->cursor);
    flo_wbuf_init(&w->value);
    flo_wbuf_init(&w->keys);
    w->mode = mode;
    w->type_ok = true;
    w->limit = SCAN_FLO_MAX_LIMIT;
    p->state = w;
    p->state_free = walk_state_free;
    return w;
}

static int walk_send(struct resp_pending *p, struct walk_state *w)
{
    flo_wbuf_reset(&w->value);
    int err = flo_kv_scan_value(&w->value, w->limit, flo_wbuf_view(&w->cursor));
    if (err == 0) {
        err = resp__send(p, 0, FLO_OP_KV_SCAN, flo_wbuf_view(&w->prefix), flo_wbuf_view(&w->value),
                         FLO_BUF_NULL, FLO_SEND_IDEMPOTENT);
    }
    return err;
}

static void walk_fail(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    resp__reply_upstream_err(p, err, status, body);
    done(p);
}

static void walk_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct walk_state *w = p->state;
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    if (err || status != FLO_STATUS_OK) {
        walk_fail(p, err, status, body);
        return;
    }
    if ((err = flo_kv_scan_begin(body, &page, &it)) < 0) {
        walk_fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    while (flo_kv_scan_next(&it, &e) == 1) {
        if (w->mode == WALK_DBSIZE) {
            w->nkeys++;
            continue;
        }
        if (!w->type_ok || (w->has_pattern && !resp__glob_match(w->pattern.ptr, w->pattern.len,
                                                                e.key.ptr, e.key.len))) {
            continue;
        }
        if (w->mode == WALK_KEYS && w->nkeys >= KEYS_MAX_MATCHES) {
            resp_reply_errorf(&p->reply,
                              "ERR KEYS matched more than %u keys; iterate with SCAN instead",
                              KEYS_MAX_MATCHES);
            done(p);
            return;
        }
        if (resp_reply_bulk(&w->keys, e.key.ptr, e.key.len) < 0) {
            walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            return;
        }
        w->nkeys++;
    }
    bool more = page.has_more && page.cursor.len > 0;
    if (w->mode == WALK_SCAN) {
        char num[24] = "0";
        if (more) {
            uint64_t id = cursor_put(p, flo_wbuf_view(&w->prefix), page.cursor);
            if (id == 0) {
                walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
                return;
            }
            snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
        }
        resp_reply_array(&p->reply, 2);
        resp_reply_bulk_str(&p->reply, num);
        resp_reply_array(&p->reply, w->nkeys);
        flo_wbuf_append(&p->reply, w->keys.data, w->keys.len);
        done(p);
        return;
    }
    if (more) {
        flo_wbuf_reset(&w->cursor);
        if ((err = flo_wbuf_append(&w->cursor, page.cursor.ptr, page.cursor.len)) < 0 ||
            (err = walk_send(p, w)) < 0) {
            walk_fail(p, err, 0, FLO_BUF_NULL);
        }
        return;
    }
    if (w->mode == WALK_DBSIZE) {
        resp_reply_int(&p->reply, (int64_t)w->nkeys);
    } else {
        resp_reply_array(&p->reply, w->nkeys);
        flo_wbuf_append(&p->reply, w->keys.data, w->keys.len);
    }
    done(p);
}

static void walk_start(struct resp_pending *p, struct walk_state *w)
{
    int err = resp__calls_alloc(p, 1);
    if (err == 0) {
        p->step = walk_step;
        err = walk_send(p, w);
    }
    if (err < 0) {
        walk_fail(p, err, 0, FLO_BUF_NULL);
    }
}

/* Set the walk's pattern and its literal prefix; false on memory. */
static bool walk_pattern(struct walk_state *w, flo_buf_t pat)
{
    w->pattern = pat;
    /* "*" matches everything: skip the per-key match. */
    w->has_pattern = !(pat.len == 1 && pat.ptr[0] == '*');
    if (flo_wbuf_reserve(&w->prefix, pat.len + 1) < 0) {
        return false;
    }
    w->prefix.len = glob_prefix(pat, w->prefix.data);
    return true;
}

/* ---- commands ---- */

/* Redis' parseScanCursorOrReply: a decimal unsigned 64-bit number. */
static bool parse_cursor(flo_buf_t a, uint64_t *out)
{
    if (a.len == 0 || a.len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < a.len; i++) {
        if (a.ptr[i] < '0' || a.ptr[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(a.ptr[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void cmd_scan(struct resp_pending *p)
{
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc;
    uint64_t id;
    if (!parse_cursor(a[1], &id)) {
        resp_reply_error(&p->reply, "ERR invalid cursor");
        done(p);
        return;
    }
    long long count = SCAN_DEFAULT_COUNT;
    bool has_match = false, type_ok = true;
    flo_buf_t pat = FLO_BUF_NULL;
    for (size_t j = 2; j < argc; j += 2) {
        bool has_next = j + 1 < argc;
        if (resp__arg_is(a[j], "count") && has_next) {
            if (!resp__arg_ll(a[j + 1], &count)) {
                resp_reply_error(&p->reply, "ERR value is not an integer or out of range");
                done(p);
                return;
            }
            if (count < 1) {
                resp_reply_error(&p->reply, "ERR syntax error");
                done(p);
                return;
            }
        } else if (resp__arg_is(a[j], "match") && has_next) {
            pat = a[j + 1];
            has_match = true;
        } else if (resp__arg_is(a[j], "type") && has_next) {
            /* Flo KV holds strings only: any other type matches nothing. */
            type_ok = resp__arg_is(a[j + 1], "string");
        } else {
            resp_reply_error(&p->reply, "ERR syntax error");
            done(p);
            return;
        }
    }
    struct walk_state *w = walk_new(p, WALK_SCAN);
    if (!w) {
        walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    w->type_ok = type_ok;
    w->limit = count > (long long)SCAN_FLO_MAX_LIMIT ? SCAN_FLO_MAX_LIMIT : (uint32_t)count;
    if (has_match && !walk_pattern(w, pat)) {
        walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    if (id != 0) {
        struct scan_cursor *e = cursor_get(p, id);
        if (!e) {
            resp_reply_error(&p->reply, "ERR invalid cursor");
            done(p);
            return;
        }
        /* The iteration keeps the prefix it started with (a changed MATCH
         * only filters). */
        flo_wbuf_reset(&w->prefix);
        flo_wbuf_reset(&w->cursor);
        if (flo_wbuf_append(&w->prefix, e->prefix, e->prefix_len) < 0 ||
            flo_wbuf_append(&w->cursor, e->flo_cursor, e->flo_cursor_len) < 0) {
            walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            return;
        }
    }
    walk_start(p, w);
}

static void cmd_keys(struct resp_pending *p)
{
    struct walk_state *w = walk_new(p, WALK_KEYS);
    if (!w || !walk_pattern(w, p->args.argv[1])) {
        walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    walk_start(p, w);
}

static void cmd_dbsize(struct resp_pending *p)
{
    struct walk_state *w = walk_new(p, WALK_DBSIZE);
    if (!w) {
        walk_fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    walk_start(p, w);
}

/* Barriers: a pipelined "SET a ..; KEYS *" must see a (Redis runs them in
 * order), and there are no key positions to order them by. */
const struct resp_cmd resp__scan_cmds[] = {
    {"scan", -2, RESP_CMD_READONLY | RESP_CMD_BARRIER, 0, 0, 0, "generic",
     "Iterates over the key names in the namespace.", cmd_scan},
    {"keys", 2, RESP_CMD_READONLY | RESP_CMD_BARRIER, 0, 0, 0, "generic",
     "Returns all key names that match a pattern (at most 100000).", cmd_keys},
    {"dbsize", 1, RESP_CMD_READONLY | RESP_CMD_BARRIER, 0, 0, 0, "server",
     "Returns the number of keys in the namespace (walks every key).", cmd_dbsize},
};
const size_t resp__scan_ncmds = sizeof(resp__scan_cmds) / sizeof(resp__scan_cmds[0]);
