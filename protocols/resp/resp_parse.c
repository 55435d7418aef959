/*
 * RESP request framing (see resp_parse.h).
 *
 * Bytes first land in our own buffer `in`. A command that starts with '*'
 * is handed to hiredis's redisReader, which then owns every byte received
 * until it is back at a command boundary; inline commands are split here.
 * hiredis 0.14 does not bound lengths itself, so before each parse step we
 * look at the header line it is waiting on (the reader struct is public) and
 * reject counts and lengths over our limits before their bytes are buffered.
 */
#include "resp_parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/read.h>

#include "flo/flo_error.h"

/* The root object hiredis builds for one multibulk. Children (the bulk
 * strings) are stored into it directly; their "object" is the root too. */
struct mb {
    size_t argc;
    flo_buf_t *argv;  /* followed by arena_cap bytes for small arguments */
    size_t arena_cap; /* (struct resp_argv.inline_bytes) */
    size_t arena_used;
};

/* Argument bytes kept inside the argv allocation of a multibulk: enough
 * for typical commands (SET key value with short keys and values), so most
 * commands cost one allocation instead of one per argument (the allocator
 * was a fifth of the CPU at pipeline 16). Larger arguments get their own. */
#define ARG_ARENA 128u

/* Returned for "*-1": a command with no arguments, skipped. */
static char null_root;

/* Record the first protocol error message (later ones are consequences). */
static void parse_fail(struct resp_parser *p, const char *msg)
{
    if (!p->err[0]) {
        snprintf(p->err, sizeof(p->err), "%s", msg);
    }
}

/* Redis' message for a multibulk element that is not a bulk string. */
static void parse_fail_type(struct resp_parser *p, char got)
{
    if (!p->err[0]) {
        snprintf(p->err, sizeof(p->err), "Protocol error: expected '$', got '%c'", got);
    }
}

static void argv_free_n(flo_buf_t *argv, size_t n, size_t inline_bytes)
{
    if (!argv) {
        return;
    }
    uintptr_t lo = (uintptr_t)(argv + n), hi = lo + inline_bytes;
    for (size_t i = 0; i < n; i++) {
        uintptr_t a = (uintptr_t)argv[i].ptr;
        if (a < lo || a >= hi) {
            free((void *)argv[i].ptr);
        }
    }
    free(argv);
}

void resp_argv_free(struct resp_argv *a)
{
    argv_free_n(a->argv, a->argc, a->inline_bytes);
    a->argv = NULL;
    a->argc = 0;
    a->inline_bytes = 0;
}

/* ---- hiredis object functions ---- */

static struct resp_parser *task_parser(const redisReadTask *t)
{
    return t->privdata;
}

static void *obj_array(const redisReadTask *t, int elements)
{
    struct resp_parser *p = task_parser(t);
    if (t->parent) {
        parse_fail_type(p, '*');
        return NULL;
    }
    struct mb *m = calloc(1, sizeof(*m));
    if (!m) {
        return NULL;
    }
    /* elements is at most lim.max_args (checked before hiredis sees the
     * header), so the size cannot overflow. Elements never set stay
     * {NULL, 0}, which the free skips. */
    size_t n = elements > 0 ? (size_t)elements : 0;
    m->argv = calloc(1, (n ? n : 1) * sizeof(flo_buf_t) + ARG_ARENA);
    if (!m->argv) {
        free(m);
        return NULL;
    }
    m->argc = n;
    m->arena_cap = n ? ARG_ARENA : 0;
    m->arena_used = 0;
    p->cmd_bytes = 0;
    return m;
}

static void *obj_string(const redisReadTask *t, char *str, size_t len)
{
    struct resp_parser *p = task_parser(t);
    if (!t->parent || t->type != REDIS_REPLY_STRING) {
        parse_fail_type(p, t->type == REDIS_REPLY_ERROR ? '-' : '+');
        return NULL;
    }
    struct mb *m = t->parent->obj;
    if (len > p->lim.max_bulk) {
        parse_fail(p, "Protocol error: invalid bulk length");
        return NULL;
    }
    if (p->unauthenticated && len > RESP_UNAUTH_MAX_BULK) {
        parse_fail(p, "Protocol error: unauthenticated bulk length");
        return NULL;
    }
    if (p->cmd_bytes + len > p->lim.max_command) {
        parse_fail(p, "Protocol error: command too large");
        return NULL;
    }
    uint8_t *copy;
    if (len < m->arena_cap - m->arena_used) {
        copy = (uint8_t *)(m->argv + m->argc) + m->arena_used;
        m->arena_used += len + 1;
    } else if (!(copy = malloc(len + 1))) {
        return NULL;
    }
    memcpy(copy, str, len);
    copy[len] = 0;
    m->argv[t->idx] = FLO_BUF(copy, len);
    p->cmd_bytes += len;
    return m;
}

static void *obj_integer(const redisReadTask *t, long long v)
{
    (void)v;
    parse_fail_type(task_parser(t), ':');
    return NULL;
}

static void *obj_nil(const redisReadTask *t)
{
    struct resp_parser *p = task_parser(t);
    if (!t->parent) {
        return &null_root; /* "*-1": empty command */
    }
    if (t->type == REDIS_REPLY_ARRAY) {
        parse_fail_type(p, '*');
    } else {
        parse_fail(p, "Protocol error: invalid bulk length");
    }
    return NULL;
}

static void obj_free(void *obj)
{
    if (!obj || obj == &null_root) {
        return;
    }
    struct mb *m = obj;
    argv_free_n(m->argv, m->argc, m->arena_cap);
    free(m);
}

static redisReplyObjectFunctions obj_fns = {
    .createString = obj_string,
    .createArray = obj_array,
    .createInteger = obj_integer,
    .createNil = obj_nil,
    .freeObject = obj_free,
};

/* ---- setup ---- */

void resp_parse_limits_defaults(struct resp_parse_limits *lim)
{
    lim->max_args = RESP_DEFAULT_MAX_ARGS;
    lim->max_bulk = RESP_DEFAULT_MAX_BULK;
    lim->max_inline = RESP_MAX_INLINE;
    lim->max_command = RESP_DEFAULT_MAX_COMMAND;
}

static int reader_new(struct resp_parser *p)
{
    p->reader = redisReaderCreateWithFunctions(&obj_fns);
    if (!p->reader) {
        return FLO_ENOMEM;
    }
    p->reader->privdata = p;
    return 0;
}

int resp_parser_init(struct resp_parser *p, const struct resp_parse_limits *lim)
{
    memset(p, 0, sizeof(*p));
    if (lim) {
        p->lim = *lim;
    } else {
        resp_parse_limits_defaults(&p->lim);
    }
    flo_wbuf_init(&p->in);
    return reader_new(p);
}

void resp_parser_free(struct resp_parser *p)
{
    if (p->reader) {
        redisReaderFree(p->reader);
        p->reader = NULL;
    }
    flo_wbuf_free(&p->in);
}

int resp_parser_feed(struct resp_parser *p, const void *data, size_t len)
{
    if (p->failed) {
        return FLO_EMALFORMED;
    }
    return flo_wbuf_append(&p->in, data, len);
}

size_t resp_parser_buffered(const struct resp_parser *p)
{
    return (p->in.len - p->in_pos) + (p->reader ? p->reader->len - p->reader->pos : 0);
}

/* ---- helpers ---- */

/* hiredis holds bytes or a partly parsed command. */
static bool reader_busy(const redisReader *r)
{
    return r->ridx >= 0 || r->len > r->pos;
}

/* Parse a decimal header number the way Redis' string2ll does: optional
 * '-', digits, no leading '+' or spaces, fits in long long. */
static bool parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20) {
        return false;
    }
    char tmp[24];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!(isdigit((unsigned char)tmp[0]) || (tmp[0] == '-' && n > 1))) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!isdigit((unsigned char)tmp[i])) {
            return false;
        }
    }
    errno = 0;
    char *end;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

/* Find the header line at p[0..avail) ("<type><digits>\r"). Returns the
 * index of '\r' (> 0), 0 if incomplete, or -1 if longer than max. */
static long find_line(const char *p, size_t avail, size_t max)
{
    size_t lim = avail < max ? avail : max;
    const char *cr = memchr(p, '\r', lim);
    if (cr) {
        return cr - p;
    }
    return avail > max ? -1 : 0;
}

/*
 * Check the "*N\r\n" header at p. Returns 1 if a command with N > 0
 * arguments follows, 2 if the header announces an empty command (its
 * length in *skip), 0 if incomplete, FLO_EMALFORMED on a bad header.
 */
static int check_mbulk_header(struct resp_parser *p, const char *s, size_t avail, size_t *skip)
{
    long cr = find_line(s, avail, p->lim.max_inline);
    if (cr < 0) {
        parse_fail(p, "Protocol error: too big mbulk count string");
        return FLO_EMALFORMED;
    }
    if (cr == 0 || (size_t)cr + 1 >= avail) {
        return 0; /* need the '\n' too */
    }
    long long n;
    bool parsed = parse_ll(s + 1, (size_t)cr - 1, &n);
    if (parsed && n <= INT_MAX && p->unauthenticated && n > (long long)RESP_UNAUTH_MAX_ARGS) {
        parse_fail(p, "Protocol error: unauthenticated multibulk length");
        return FLO_EMALFORMED;
    }
    if (!parsed || n > (long long)p->lim.max_args || n > INT_MAX) {
        parse_fail(p, "Protocol error: invalid multibulk length");
        return FLO_EMALFORMED;
    }
    if (n <= 0) {
        *skip = (size_t)cr + 2;
        return 2;
    }
    return 1;
}

/* After hiredis stopped for more input: validate the header it waits on. */
static int check_pending_item(struct resp_parser *p)
{
    redisReader *r = p->reader;
    if (r->ridx < 0) {
        return 0;
    }
    const redisReadTask *cur = &r->rstack[r->ridx];
    const char *s = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    switch (cur->type) {
    case -1:
        return 0; /* type byte not read yet */
    case REDIS_REPLY_STRING: {
        /* pos is just past '$': the length line follows. */
        long cr = find_line(s, avail, p->lim.max_inline);
        if (cr < 0) {
            parse_fail(p, "Protocol error: too big bulk count string");
            return FLO_EMALFORMED;
        }
        if (cr == 0) {
            return 0;
        }
        long long n;
        if (!parse_ll(s, (size_t)cr, &n) || n < 0 || (unsigned long long)n > p->lim.max_bulk) {
            parse_fail(p, "Protocol error: invalid bulk length");
            return FLO_EMALFORMED;
        }
        if (p->unauthenticated && n > (long long)RESP_UNAUTH_MAX_BULK) {
            parse_fail(p, "Protocol error: unauthenticated bulk length");
            return FLO_EMALFORMED;
        }
        if (p->cmd_bytes + (size_t)n > p->lim.max_command) {
            parse_fail(p, "Protocol error: command too large");
            return FLO_EMALFORMED;
        }
        return 0;
    }
    case REDIS_REPLY_ARRAY:
        if (r->ridx == 0) {
            return 0; /* the root header was validated before */
        }
        parse_fail_type(p, '*');
        return FLO_EMALFORMED;
    case REDIS_REPLY_INTEGER:
        parse_fail_type(p, ':');
        return FLO_EMALFORMED;
    case REDIS_REPLY_ERROR:
        parse_fail_type(p, '-');
        return FLO_EMALFORMED;
    default:
        parse_fail_type(p, '+');
        return FLO_EMALFORMED;
    }
}

/* Turn a hiredis error into Redis' wording. */
static void reader_error(struct resp_parser *p)
{
    if (p->err[0]) {
        return; /* our object functions refused the input and said why */
    }
    const char *e = p->reader->errstr;
    const char *prefix = "Protocol error, got \"";
    size_t pl = strlen(prefix);
    if (strncmp(e, prefix, pl) == 0 && e[pl] && e[pl + 1] == '"') {
        parse_fail_type(p, e[pl]);
    } else if (strcasestr(e, "multi-bulk length") || strcasestr(e, "multibulk length")) {
        parse_fail(p, "Protocol error: invalid multibulk length");
    } else if (strcasestr(e, "bulk string length")) {
        parse_fail(p, "Protocol error: invalid bulk length");
    } else if (p->reader->err == REDIS_ERR_OOM) {
        snprintf(p->err, sizeof(p->err), "out of memory while reading the request");
    } else {
        snprintf(p->err, sizeof(p->err), "Protocol error: %.120s", e);
    }
}

static int fail(struct resp_parser *p)
{
    p->failed = 1;
    if (!p->err[0]) {
        snprintf(p->err, sizeof(p->err), "Protocol error");
    }
    return FLO_EMALFORMED;
}

/* Drop consumed input; keep the buffer small when a pipeline drains. */
static void in_compact(struct resp_parser *p)
{
    if (p->in_pos == p->in.len) {
        flo_wbuf_reset(&p->in);
        p->in_pos = 0;
    } else if (p->in_pos > 4096 && p->in_pos * 2 > p->in.len) {
        flo_wbuf_consume(&p->in, p->in_pos);
        p->in_pos = 0;
    }
}

/* Move everything in `in` into the hiredis reader. */
static int in_to_reader(struct resp_parser *p)
{
    size_t n = p->in.len - p->in_pos;
    if (n && redisReaderFeed(p->reader, (const char *)p->in.data + p->in_pos, n) != REDIS_OK) {
        return FLO_ENOMEM;
    }
    flo_wbuf_reset(&p->in);
    p->in_pos = 0;
    return 0;
}

/*
 * hiredis finished a command and holds more bytes. If they start another
 * multibulk it keeps them; otherwise (an inline command follows) they go
 * back to `in` and the reader is replaced by a fresh one.
 */
static int reader_handback(struct resp_parser *p)
{
    redisReader *r = p->reader;
    size_t n = r->len - r->pos;
    if (n == 0 || r->buf[r->pos] == '*') {
        return 0;
    }
    /* `in` is empty here: all of it was moved into the reader. */
    if (flo_wbuf_append(&p->in, r->buf + r->pos, n) < 0) {
        return FLO_ENOMEM;
    }
    redisReaderFree(r);
    p->reader = NULL;
    return reader_new(p);
}

static int next_inline(struct resp_parser *p, struct resp_argv *out)
{
    const char *s = (const char *)p->in.data + p->in_pos;
    size_t avail = p->in.len - p->in_pos;
    const char *nl = memchr(s, '\n', avail < p->lim.max_inline ? avail : p->lim.max_inline);
    if (!nl) {
        if (avail > p->lim.max_inline) {
            snprintf(p->err, sizeof(p->err), "Protocol error: too big inline request");
            return fail(p);
        }
        return 0;
    }
    size_t linelen = (size_t)(nl - s);
    p->in_pos += linelen + 1;
    if (linelen && s[linelen - 1] == '\r') {
        linelen--;
    }
    int rc = resp_split_inline(s, linelen, out);
    if (rc == FLO_EMALFORMED) {
        snprintf(p->err, sizeof(p->err), "Protocol error: unbalanced quotes in request");
        return fail(p);
    }
    if (rc < 0) {
        return rc;
    }
    in_compact(p);
    return out->argc ? 1 : 2; /* 2 = blank line, skip */
}

static int next_multibulk(struct resp_parser *p, struct resp_argv *out)
{
    redisReader *r = p->reader;
    void *obj = NULL;
    if (redisReaderGetReply(r, &obj) != REDIS_OK) {
        reader_error(p);
        return fail(p);
    }
    if (!obj) {
        if (check_pending_item(p) < 0) {
            return fail(p);
        }
        return 0;
    }
    int rc = reader_handback(p);
    if (obj == &null_root) {
        return rc < 0 ? rc : 2;
    }
    struct mb *m = obj;
    out->argc = m->argc;
    out->argv = m->argv;
    out->inline_bytes = m->arena_cap;
    free(m);
    if (rc < 0) {
        resp_argv_free(out);
        return rc;
    }
    return out->argc ? 1 : 2;
}

int resp_parser_next(struct resp_parser *p, struct resp_argv *out)
{
    out->argc = 0;
    out->argv = NULL;
    out->inline_bytes = 0;
    if (p->failed) {
        return FLO_EMALFORMED;
    }
    for (;;) {
        int rc;
        if (reader_busy(p->reader)) {
            redisReader *r = p->reader;
            if (r->ridx < 0) {
                /* At a boundary with buffered bytes starting with '*'. */
                size_t skip = 0;
                rc = check_mbulk_header(p, r->buf + r->pos, r->len - r->pos, &skip);
                if (rc < 0) {
                    return fail(p);
                }
                if (rc == 2) {
                    r->pos += skip;
                    continue;
                }
                if (rc == 0) {
                    /* Header incomplete: pull whatever else arrived. */
                    if (p->in.len == p->in_pos) {
                        return 0;
                    }
                    if ((rc = in_to_reader(p)) < 0) {
                        return rc;
                    }
                    continue;
                }
            }
            if ((rc = in_to_reader(p)) < 0) {
                return rc;
            }
            rc = next_multibulk(p, out);
        } else {
            if (p->in.len == p->in_pos) {
                return 0;
            }
            if (p->in.data[p->in_pos] == '*') {
                size_t skip = 0;
                rc = check_mbulk_header(p, (const char *)p->in.data + p->in_pos,
                                        p->in.len - p->in_pos, &skip);
                if (rc < 0) {
                    return fail(p);
                }
                if (rc == 0) {
                    return 0;
                }
                if (rc == 2) {
                    p->in_pos += skip;
                    in_compact(p);
                    continue;
                }
                if ((rc = in_to_reader(p)) < 0) {
                    return rc;
                }
                rc = next_multibulk(p, out);
            } else {
                rc = next_inline(p, out);
            }
        }
        if (rc != 2) {
            return rc;
        }
    }
}

/* ---- inline splitting (Redis' sdssplitargs) ---- */

static int hex_val(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int argv_push(struct resp_argv *out, size_t *cap, const struct flo_wbuf *cur)
{
    if (out->argc == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        flo_buf_t *n = realloc(out->argv, ncap * sizeof(*n));
        if (!n) {
            return FLO_ENOMEM;
        }
        out->argv = n;
        *cap = ncap;
    }
    uint8_t *copy = malloc(cur->len + 1);
    if (!copy) {
        return FLO_ENOMEM;
    }
    if (cur->len) {
        memcpy(copy, cur->data, cur->len);
    }
    copy[cur->len] = 0;
    out->argv[out->argc++] = FLO_BUF(copy, cur->len);
    return 0;
}

int resp_split_inline(const char *line, size_t len, struct resp_argv *out)
{
    out->argc = 0;
    out->argv = NULL;
    out->inline_bytes = 0;
    size_t cap = 0;
    struct flo_wbuf cur;
    flo_wbuf_init(&cur);
    /* sdssplitargs works on a C string: a NUL ends the line. */
    const char *nul = memchr(line, 0, len);
    const char *p = line, *end = nul ? nul : line + len;
    int rc = 0;

    for (;;) {
        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        if (p >= end) {
            break;
        }
        bool inq = false, insq = false, done = false;
        flo_wbuf_reset(&cur);
        while (!done) {
            char ch = p < end ? *p : 0;
            if (inq) {
                if (p >= end) {
                    rc = FLO_EMALFORMED; /* unterminated quotes */
                    goto out;
                }
                if (ch == '\\' && p + 3 < end && p[1] == 'x' && hex_val(p[2]) >= 0 &&
                    hex_val(p[3]) >= 0) {
                    uint8_t b = (uint8_t)(hex_val(p[2]) * 16 + hex_val(p[3]));
                    rc = flo_wbuf_append(&cur, &b, 1);
                    p += 3;
                } else if (ch == '\\' && p + 1 < end) {
                    char c2;
                    p++;
                    switch (*p) {
                    case 'n':
                        c2 = '\n';
                        break;
                    case 'r':
                        c2 = '\r';
                        break;
                    case 't':
                        c2 = '\t';
                        break;
                    case 'b':
                        c2 = '\b';
                        break;
                    case 'a':
                        c2 = '\a';
                        break;
                    default:
                        c2 = *p;
                        break;
                    }
                    rc = flo_wbuf_append(&cur, &c2, 1);
                } else if (ch == '"') {
                    /* The closing quote must be followed by a space. */
                    if (p + 1 < end && !isspace((unsigned char)p[1])) {
                        rc = FLO_EMALFORMED;
                        goto out;
                    }
                    done = true;
                } else {
                    rc = flo_wbuf_append(&cur, p, 1);
                }
            } else if (insq) {
                if (p >= end) {
                    rc = FLO_EMALFORMED;
                    goto out;
                }
                if (ch == '\\' && p + 1 < end && p[1] == '\'') {
                    p++;
                    rc = flo_wbuf_append(&cur, "'", 1);
                } else if (ch == '\'') {
                    if (p + 1 < end && !isspace((unsigned char)p[1])) {
                        rc = FLO_EMALFORMED;
                        goto out;
                    }
                    done = true;
                } else {
                    rc = flo_wbuf_append(&cur, p, 1);
                }
            } else {
                switch (ch) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0':
                    done = true;
                    break;
                case '"':
                    inq = true;
                    break;
                case '\'':
                    insq = true;
                    break;
                default:
                    rc = flo_wbuf_append(&cur, p, 1);
                    break;
                }
            }
            if (rc < 0) {
                goto out;
            }
            if (p < end) {
                p++;
            }
        }
        if ((rc = argv_push(out, &cap, &cur)) < 0) {
            goto out;
        }
    }
out:
    flo_wbuf_free(&cur);
    if (rc < 0) {
        resp_argv_free(out);
    }
    return rc;
}
