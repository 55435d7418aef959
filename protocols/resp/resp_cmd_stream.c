/*
 * Redis stream commands over Flo streams (docs/resp-commands.md, "Streams
 * are Flo streams"): XADD, XLEN, XRANGE, XREVRANGE, XTRIM, and XDEL
 * refused (XREAD / XREADGROUP: resp_cmd_xread.c; groups and XINFO:
 * resp_cmd_xgroup.c). Ids are Flo's (timestamp_ms, sequence) written
 * "ts-seq", the same text as Redis stream ids, so they pass through.
 *
 * Field/value pairs map onto one Flo record so that every accepted XADD
 * reads back exactly: when the first field is named `payload` its value is
 * the record payload and the other pairs are headers, in order; otherwise
 * every pair is a header and the payload is empty. On read the payload is
 * returned as a first `payload` pair unless it is empty and the record has
 * headers. The one XADD that could not round-trip (an empty `payload`
 * first, followed by other pairs) is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "resp_internal.h"
#include "resp_stream.h"

#define PAYLOAD_FIELD  RESP_X_PAYLOAD_FIELD
#define HDR_VALUE_MAX  65535u /* header names and values are str16 on the wire */
#define HDR_COUNT_MAX  65535u /* header count is a u16 */
#define ERR_INVALID_ID RESP_X_ERR_INVALID_ID
#define ERR_NOT_INT    "ERR value is not an integer or out of range"
#define ERR_SYNTAX     "ERR syntax error"
#define REV_MAX_PAGES  10u                 /* XREVRANGE reads at most 10 pages of 1000 */
#define REV_MAX_BYTES  (16u * 1024 * 1024) /* ... and at most this many reply bytes */

/* Per-command state: request buffers kept until the command finishes,
 * and what the reply step needs. */
struct xstate {
    struct flo_wbuf value, opts;
    struct flo_stream_header *hdrs; /* XADD headers, owned */
    bool trim_after;                /* XADD MAXLEN/MINID: trim once appended */
    bool trim_none;                 /* XADD MINID 0: nothing to trim */
    struct flo_stream_trim_args trim;
    char id[FLO_STREAM_ID_TEXT_MAX]; /* XADD's new id */
    uint32_t count;                  /* XRANGE entries wanted */
    /* XREVRANGE: the forward pages read so far, and where the next starts. */
    struct flo_wbuf pages[REV_MAX_PAGES];
    unsigned npages;
    size_t page_bytes;
    struct flo_stream_read_args ra;
};

static void xstate_free(void *state)
{
    struct xstate *s = state;
    if (!s) {
        return;
    }
    flo_wbuf_free(&s->value);
    flo_wbuf_free(&s->opts);
    free(s->hdrs);
    for (unsigned i = 0; i < s->npages; i++) {
        flo_wbuf_free(&s->pages[i]);
    }
    free(s);
}

/* Allocate p->state and n calls; false after replying. */
static bool xstate_new(struct resp_pending *p, unsigned ncalls)
{
    struct xstate *s = calloc(1, sizeof(*s));
    if (!s || resp__calls_alloc(p, ncalls) < 0) {
        free(s);
        resp__reply_upstream_err(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        resp__pending_done(p);
        return false;
    }
    flo_wbuf_init(&s->value);
    flo_wbuf_init(&s->opts);
    p->state = s;
    p->state_free = xstate_free;
    return true;
}

static void fail(struct resp_pending *p, int err, uint8_t status, flo_buf_t body)
{
    flo_wbuf_reset(&p->reply);
    resp__reply_upstream_err(p, err, status, body);
    resp__pending_done(p);
}

static void reply_err_done(struct resp_pending *p, const char *msg)
{
    resp_reply_error(&p->reply, msg);
    resp__pending_done(p);
}

/* ---- ids ---- */

/* The id just before `id`; false if `id` is 0-0 (nothing precedes it). */
bool resp__x_id_prev(struct flo_stream_id id, struct flo_stream_id *out)
{
    if (id.seq > 0) {
        *out = (struct flo_stream_id){id.ts, id.seq - 1};
        return true;
    }
    if (id.ts > 0) {
        *out = (struct flo_stream_id){id.ts - 1, UINT64_MAX};
        return true;
    }
    return false;
}

/* Parse a Redis range bound: "-", "+", "ts", "ts-seq", each optionally
 * preceded by "(" (exclusive). A bare "ts" is ts-0 as a start and
 * ts-<max> as an end, as in Redis. */
struct xbound {
    bool min, max, excl;
    struct flo_stream_id id;
};

static bool bound_parse(flo_buf_t a, bool is_end, struct xbound *b)
{
    memset(b, 0, sizeof(*b));
    if (a.len == 1 && a.ptr[0] == '-') {
        b->min = true;
        return true;
    }
    if (a.len == 1 && a.ptr[0] == '+') {
        b->max = true;
        return true;
    }
    if (a.len > 1 && a.ptr[0] == '(') {
        b->excl = true;
        a = FLO_BUF(a.ptr + 1, a.len - 1);
    }
    if (flo_stream_id_parse(a, &b->id) < 0) {
        return false;
    }
    if (is_end && !memchr(a.ptr, '-', a.len)) {
        b->id.seq = UINT64_MAX;
    }
    return true;
}

/* ---- record replies ---- */

static bool rec_has_payload_pair(const struct flo_stream_record *r)
{
    return r->payload.len > 0 || r->headers.count == 0;
}

/* [id, [field, value, ...]] of one record. */
void resp__x_reply_entry(struct resp_pending *p, const struct flo_stream_record *r)
{
    struct flo_wbuf *out = &p->reply;
    char id[FLO_STREAM_ID_TEXT_MAX];
    flo_stream_id_format(r->id, id, sizeof(id));
    resp_reply_array(out, 2);
    resp_reply_bulk_str(out, id);
    bool pl = rec_has_payload_pair(r);
    resp_reply_array(out, 2 * ((size_t)r->headers.count + (pl ? 1 : 0)));
    if (pl) {
        resp_reply_bulk_str(out, PAYLOAD_FIELD);
        resp_reply_bulk(out, r->payload.ptr, r->payload.len);
    }
    struct flo_stream_hdr_iter hit;
    struct flo_stream_header h;
    flo_stream_hdr_begin(&r->headers, &hit);
    for (uint32_t i = 0; i < r->headers.count; i++) {
        if (flo_stream_hdr_next(&hit, &h) != 1) {
            h.key = h.val = FLO_BUF("", 0); /* checked by resp__x_records_count first */
        }
        resp_reply_bulk(out, h.key.ptr, h.key.len);
        resp_reply_bulk(out, h.val.ptr, h.val.len);
    }
}

/* Walk a record list: the number of records (at most `max`) whose headers
 * decode, or a negative decode error. */
int resp__x_records_count(flo_buf_t body, uint32_t max, size_t *n)
{
    struct flo_stream_rec_iter it;
    struct flo_stream_record r;
    uint32_t count;
    int err = flo_stream_records_begin(body, &it, &count);
    if (err < 0) {
        return err;
    }
    *n = 0;
    while (*n < max && (err = flo_stream_records_next(&it, &r)) == 1) {
        struct flo_stream_hdr_iter hit;
        struct flo_stream_header h;
        flo_stream_hdr_begin(&r.headers, &hit);
        for (uint32_t i = 0; i < r.headers.count; i++) {
            if (flo_stream_hdr_next(&hit, &h) != 1) {
                return FLO_EMALFORMED;
            }
        }
        (*n)++;
    }
    return err < 0 ? err : 0;
}

/* Reply with the array of at most `max` entries of a record list. */
int resp__x_reply_records(struct resp_pending *p, flo_buf_t body, uint32_t max)
{
    size_t n;
    int err = resp__x_records_count(body, max, &n);
    if (err < 0) {
        return err;
    }
    struct flo_stream_rec_iter it;
    struct flo_stream_record r;
    uint32_t count;
    flo_stream_records_begin(body, &it, &count);
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n && flo_stream_records_next(&it, &r) == 1; i++) {
        resp__x_reply_entry(p, &r);
    }
    return 0;
}

/* ---- XADD ---- */

static void xadd_trim_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                           flo_buf_t body)
{
    (void)idx;
    struct xstate *s = p->state;
    uint64_t deleted, first;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = flo_stream_dec_trim(body, &deleted, &first)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp_reply_bulk_str(&p->reply, s->id);
    resp__pending_done(p);
}

static void xadd_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct xstate *s = p->state;
    struct flo_stream_id id;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = flo_stream_dec_append(body, &id)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    flo_stream_id_format(id, s->id, sizeof(s->id));
    if (!s->trim_after || s->trim_none) {
        resp_reply_bulk_str(&p->reply, s->id);
        resp__pending_done(p);
        return;
    }
    /* The trim goes after the append has been applied, as XADD's own
     * trimming runs after the insert. */
    flo_wbuf_reset(&s->opts);
    if ((err = flo_stream_trim_opts(&s->opts, &s->trim)) == 0) {
        p->step = xadd_trim_step;
        err = resp__send(p, 1, FLO_OP_STREAM_TRIM, p->args.argv[1], FLO_BUF_NULL,
                         flo_wbuf_view(&s->opts), 0);
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_sealed(p);
}

/*
 * Parse "MAXLEN|MINID [=|~] threshold [LIMIT n]" at argv[*i] into a trim
 * (shared by XADD and XTRIM). Returns 1 if parsed (and *i moved past it),
 * 0 if argv[*i] is not MAXLEN/MINID, -1 after replying with an error.
 */
static int trim_parse(struct resp_pending *p, size_t *i, size_t end, struct xstate *s)
{
    const flo_buf_t *argv = p->args.argv;
    bool maxlen = resp__arg_is(argv[*i], "maxlen");
    if (!maxlen && !resp__arg_is(argv[*i], "minid")) {
        return 0;
    }
    size_t k = *i + 1;
    bool approx = false;
    if (k < end && argv[k].len == 1 && (argv[k].ptr[0] == '=' || argv[k].ptr[0] == '~')) {
        approx = argv[k].ptr[0] == '~';
        k++;
    }
    if (k >= end) {
        reply_err_done(p, ERR_SYNTAX);
        return -1;
    }
    if (maxlen) {
        long long n;
        if (!resp__arg_ll(argv[k], &n)) {
            reply_err_done(p, ERR_NOT_INT);
            return -1;
        }
        if (n < 0) {
            reply_err_done(p, "ERR The MAXLEN argument must be >= 0.");
            return -1;
        }
        if (n == 0) {
            /* Flo's maxlen keeps at least one record: "before the largest
             * id" removes every record instead. */
            s->trim.bound = FLO_TRIM_BEFORE;
            s->trim.before = FLO_STREAM_ID_MAX;
        } else {
            s->trim.bound = FLO_TRIM_MAXLEN;
            s->trim.maxlen = (uint64_t)n;
        }
    } else {
        struct xbound b;
        if (!bound_parse(argv[k], false, &b) || b.min || b.max || b.excl) {
            reply_err_done(p, ERR_INVALID_ID);
            return -1;
        }
        /* MINID keeps ids >= minid; Flo's before removes ids <= before. */
        s->trim.bound = FLO_TRIM_BEFORE;
        if (!resp__x_id_prev(b.id, &s->trim.before)) {
            s->trim_none = true;
        }
    }
    k++;
    if (k + 1 < end && resp__arg_is(argv[k], "limit")) {
        long long lim;
        if (!resp__arg_ll(argv[k + 1], &lim) || lim < 0) {
            reply_err_done(p, ERR_NOT_INT);
            return -1;
        }
        if (!approx) {
            reply_err_done(p, "ERR syntax error, LIMIT cannot be used without the special ~ "
                              "option");
            return -1;
        }
        k += 2; /* Flo trims whole appends at once; there is no effort limit */
    }
    *i = k;
    return 1;
}

static void cmd_xadd(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    size_t argc = p->args.argc;
    if (!resp__key_ok(p, argv[1])) {
        resp__pending_done(p);
        return;
    }
    if (!xstate_new(p, 2)) {
        return;
    }
    struct xstate *s = p->state;
    size_t i = 2;
    for (;;) {
        if (i >= argc) {
            reply_err_done(p, "ERR wrong number of arguments for 'xadd' command");
            return;
        }
        if (resp__arg_is(argv[i], "nomkstream")) {
            reply_err_done(p, "ERR XADD NOMKSTREAM is not supported by flo-sidecar: a Flo "
                              "append always creates its stream");
            return;
        }
        int r = trim_parse(p, &i, argc, s);
        if (r < 0) {
            return;
        }
        if (r == 0) {
            break;
        }
        if (s->trim_after) {
            reply_err_done(p, ERR_SYNTAX);
            return;
        }
        s->trim_after = true;
    }
    flo_buf_t id = argv[i++];
    if (!(id.len == 1 && id.ptr[0] == '*')) {
        struct flo_stream_id parsed;
        size_t dash = 0;
        while (dash < id.len && id.ptr[dash] != '-') {
            dash++;
        }
        bool seq_star = dash + 2 == id.len && id.ptr[dash + 1] == '*';
        if (flo_stream_id_parse(seq_star ? FLO_BUF(id.ptr, dash) : id, &parsed) < 0) {
            reply_err_done(p, ERR_INVALID_ID);
            return;
        }
        reply_err_done(p, "ERR explicit stream IDs are not supported by flo-sidecar: Flo "
                          "assigns ids (use *)");
        return;
    }
    size_t nfields = argc - i;
    if (nfields == 0 || nfields % 2 != 0) {
        reply_err_done(p, "ERR wrong number of arguments for 'xadd' command");
        return;
    }
    size_t npairs = nfields / 2;
    struct flo_stream_rec_in rec = {.payload = FLO_BUF("", 0)};
    size_t first = i;
    if (argv[i].len == strlen(PAYLOAD_FIELD) &&
        memcmp(argv[i].ptr, PAYLOAD_FIELD, argv[i].len) == 0) {
        rec.payload = argv[i + 1];
        first = i + 2;
        if (rec.payload.len == 0 && npairs > 1) {
            reply_err_done(p, "ERR flo-sidecar: an empty 'payload' field followed by other "
                              "fields cannot be stored so that it reads back (omit it)");
            return;
        }
    }
    struct proto_err e;
    if (proto_check_value(p->c->srv->ctx, rec.payload.len, &e) < 0) {
        resp__reply_proto_err(p, &e);
        resp__pending_done(p);
        return;
    }
    size_t nh = (argc - first) / 2;
    if (nh > HDR_COUNT_MAX) {
        reply_err_done(p, "ERR flo-sidecar: at most 65535 fields besides 'payload' per entry");
        return;
    }
    if (nh) {
        s->hdrs = calloc(nh, sizeof(*s->hdrs));
        if (!s->hdrs) {
            fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
            return;
        }
    }
    for (size_t k = 0; k < nh; k++) {
        flo_buf_t f = argv[first + 2 * k], v = argv[first + 2 * k + 1];
        if (f.len > HDR_VALUE_MAX || v.len > HDR_VALUE_MAX) {
            reply_err_done(p, "ERR flo-sidecar: fields and values other than the first "
                              "'payload' value are Flo record headers, at most 65535 bytes "
                              "each");
            return;
        }
        s->hdrs[k] = (struct flo_stream_header){.key = f, .val = v};
    }
    rec.headers = s->hdrs;
    rec.n_headers = nh;
    int err = flo_stream_batch_value(&s->value, &rec, 1);
    if (err == 0) {
        p->step = xadd_step;
        err = resp__send(p, 0, FLO_OP_STREAM_APPEND, argv[1], flo_wbuf_view(&s->value),
                         FLO_BUF_NULL, 0);
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    if (!s->trim_after || s->trim_none) {
        resp__pending_sealed(p);
    }
}

/* ---- XLEN ---- */

static void xlen_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct flo_stream_info si;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = flo_stream_dec_info(body, &si)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp_reply_int(&p->reply, (int64_t)si.count);
    resp__pending_done(p);
}

static void cmd_xlen(struct resp_pending *p)
{
    if (!resp__key_ok(p, p->args.argv[1])) {
        resp__pending_done(p);
        return;
    }
    if (!xstate_new(p, 1)) {
        return;
    }
    p->step = xlen_step;
    int err = resp__send(p, 0, FLO_OP_STREAM_INFO, p->args.argv[1], FLO_BUF_NULL, FLO_BUF_NULL,
                         FLO_SEND_IDEMPOTENT);
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_sealed(p);
}

/* ---- XRANGE ---- */

static void range_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    struct xstate *s = p->state;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = resp__x_reply_records(p, body, s->count)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_done(p);
}

/* XREVRANGE: every record of the pages, newest first, at most s->count. */
static void rev_reply(struct resp_pending *p)
{
    struct xstate *s = p->state;
    size_t total = 0;
    for (unsigned i = 0; i < s->npages; i++) {
        size_t n = 0;
        resp__x_records_count(flo_wbuf_view(&s->pages[i]), UINT32_MAX, &n); /* checked */
        total += n;
    }
    size_t out = total < s->count ? total : s->count;
    struct flo_stream_record *recs = calloc(total ? total : 1, sizeof(*recs));
    if (!recs) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    size_t k = 0;
    for (unsigned i = 0; i < s->npages; i++) {
        struct flo_stream_rec_iter it;
        uint32_t count;
        flo_stream_records_begin(flo_wbuf_view(&s->pages[i]), &it, &count);
        while (k < total && flo_stream_records_next(&it, &recs[k]) == 1) {
            k++;
        }
    }
    resp_reply_array(&p->reply, out);
    for (size_t i = 0; i < out; i++) {
        resp__x_reply_entry(p, &recs[k - 1 - i]);
    }
    free(recs);
    resp__pending_done(p);
}

/* One forward page of XREVRANGE arrived: keep it, read on or reply. */
static void rev_step(struct resp_pending *p, unsigned idx, int err, uint8_t status, flo_buf_t body)
{
    (void)idx;
    struct xstate *s = p->state;
    size_t n = 0;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = resp__x_records_count(body, UINT32_MAX, &n)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    if (n == 0) {
        rev_reply(p);
        return;
    }
    if (s->npages == REV_MAX_PAGES || s->page_bytes + body.len > REV_MAX_BYTES) {
        flo_wbuf_reset(&p->reply);
        resp_reply_errorf(&p->reply,
                          "ERR flo-sidecar: XREVRANGE reads its range forward and holds at most "
                          "%u entries or %u MiB; narrow the range (start/end ids)",
                          REV_MAX_PAGES * FLO_STREAM_MAX_COUNT, REV_MAX_BYTES >> 20);
        resp__pending_done(p);
        return;
    }
    struct flo_wbuf *pg = &s->pages[s->npages++];
    flo_wbuf_init(pg);
    if (flo_wbuf_append(pg, body.ptr, body.len) < 0) {
        fail(p, FLO_ENOMEM, 0, FLO_BUF_NULL);
        return;
    }
    s->page_bytes += body.len;
    /* The next page starts after this page's last record. */
    struct flo_stream_rec_iter it;
    struct flo_stream_record r = {0};
    uint32_t count;
    flo_stream_records_begin(body, &it, &count);
    for (size_t i = 0; i < n; i++) {
        flo_stream_records_next(&it, &r);
    }
    if (s->ra.has_end && flo_stream_id_cmp(r.id, s->ra.end) >= 0) {
        rev_reply(p);
        return;
    }
    s->ra.has_start = true;
    s->ra.start = r.id;
    flo_wbuf_reset(&s->opts);
    err = flo_stream_read_opts(&s->opts, &s->ra);
    if (err == 0) {
        err = resp__send(p, 0, FLO_OP_STREAM_READ, p->args.argv[1], FLO_BUF_NULL,
                         flo_wbuf_view(&s->opts), FLO_SEND_IDEMPOTENT);
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
    }
}

/* Parse "COUNT n" at argv[i..]; Redis: negative counts are 0. False after
 * replying. */
static bool count_parse(struct resp_pending *p, size_t i, long long *count)
{
    if (i + 2 != p->args.argc || !resp__arg_is(p->args.argv[i], "count")) {
        reply_err_done(p, ERR_SYNTAX);
        return false;
    }
    if (!resp__arg_ll(p->args.argv[i + 1], count)) {
        reply_err_done(p, ERR_NOT_INT);
        return false;
    }
    if (*count < 0) {
        *count = 0;
    }
    return true;
}

static void range_generic(struct resp_pending *p, bool rev)
{
    const flo_buf_t *argv = p->args.argv;
    struct xbound lo, hi;
    /* XRANGE key start end; XREVRANGE key end start. */
    if (!bound_parse(argv[rev ? 3 : 2], false, &lo) || !bound_parse(argv[rev ? 2 : 3], true, &hi) ||
        (lo.excl && lo.id.ts == UINT64_MAX && lo.id.seq == UINT64_MAX) || lo.max || hi.min) {
        reply_err_done(p, ERR_INVALID_ID);
        return;
    }
    long long count = FLO_STREAM_MAX_COUNT;
    if (p->args.argc > 4 && !count_parse(p, 4, &count)) {
        return;
    }
    if (!resp__key_ok(p, argv[1])) {
        resp__pending_done(p);
        return;
    }
    struct flo_stream_read_args ra = {0};
    bool empty = count == 0;
    if (!lo.min) {
        if (lo.excl) {
            ra.has_start = true;
            ra.start = lo.id; /* Flo's start is exclusive */
        } else {
            ra.has_start = resp__x_id_prev(lo.id, &ra.start);
        }
    }
    if (!hi.max) {
        ra.has_end = true;
        ra.end = hi.id;
        if (hi.excl && !resp__x_id_prev(hi.id, &ra.end)) {
            empty = true;
        }
        /* Flo ignores an end with timestamp 0; no record has one. */
        if (ra.end.ts == 0) {
            empty = true;
        }
        if (ra.has_start && flo_stream_id_cmp(ra.start, ra.end) >= 0) {
            empty = true;
        }
    }
    if (empty) {
        resp_reply_array(&p->reply, 0);
        resp__pending_done(p);
        return;
    }
    if (!xstate_new(p, 1)) {
        return;
    }
    struct xstate *s = p->state;
    s->count = count > FLO_STREAM_MAX_COUNT ? FLO_STREAM_MAX_COUNT : (uint32_t)count;
    ra.count = rev ? FLO_STREAM_MAX_COUNT : s->count;
    s->ra = ra;
    int err = flo_stream_read_opts(&s->opts, &ra);
    if (err == 0) {
        p->step = rev ? rev_step : range_step;
        err = resp__send(p, 0, FLO_OP_STREAM_READ, argv[1], FLO_BUF_NULL, flo_wbuf_view(&s->opts),
                         FLO_SEND_IDEMPOTENT);
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    if (!rev) {
        /* XREVRANGE sends its next pages later: a later write of the
         * client must not overtake them. */
        resp__pending_sealed(p);
    }
}

static void cmd_xrange(struct resp_pending *p)
{
    range_generic(p, false);
}

static void cmd_xrevrange(struct resp_pending *p)
{
    range_generic(p, true);
}

/* ---- XTRIM ---- */

static void xtrim_step(struct resp_pending *p, unsigned idx, int err, uint8_t status,
                       flo_buf_t body)
{
    (void)idx;
    uint64_t deleted, first;
    if (err || status != FLO_STATUS_OK) {
        fail(p, err, status, body);
        return;
    }
    if ((err = flo_stream_dec_trim(body, &deleted, &first)) < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp_reply_int(&p->reply, (int64_t)deleted);
    resp__pending_done(p);
}

static void cmd_xtrim(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    if (!resp__key_ok(p, argv[1])) {
        resp__pending_done(p);
        return;
    }
    if (!xstate_new(p, 1)) {
        return;
    }
    struct xstate *s = p->state;
    size_t i = 2;
    int r = trim_parse(p, &i, p->args.argc, s);
    if (r < 0) {
        return;
    }
    if (r == 0 || i != p->args.argc) {
        reply_err_done(p, ERR_SYNTAX);
        return;
    }
    if (s->trim_none) {
        resp_reply_int(&p->reply, 0);
        resp__pending_done(p);
        return;
    }
    int err = flo_stream_trim_opts(&s->opts, &s->trim);
    if (err == 0) {
        p->step = xtrim_step;
        err =
            resp__send(p, 0, FLO_OP_STREAM_TRIM, argv[1], FLO_BUF_NULL, flo_wbuf_view(&s->opts), 0);
    }
    if (err < 0) {
        fail(p, err, 0, FLO_BUF_NULL);
        return;
    }
    resp__pending_sealed(p);
}

/* ---- refused ---- */

static void cmd_xdel(struct resp_pending *p)
{
    reply_err_done(p, "ERR XDEL is not supported by flo-sidecar: Flo cannot delete single "
                      "stream records (use XTRIM)");
}

#define S_GROUP "stream"

const struct resp_cmd resp__stream_cmds[] = {
    {"xadd", -5, RESP_CMD_WRITE | RESP_CMD_FAST, 1, 1, 1, S_GROUP,
     "Appends an entry to a Flo stream (one record; ids are assigned by Flo).", cmd_xadd},
    {"xlen", 2, RESP_CMD_READONLY | RESP_CMD_FAST, 1, 1, 1, S_GROUP,
     "Returns the number of records of a Flo stream.", cmd_xlen},
    {"xrange", -4, RESP_CMD_READONLY, 1, 1, 1, S_GROUP,
     "Returns entries of a Flo stream in an id range (at most 1000 per call).", cmd_xrange},
    {"xrevrange", -4, RESP_CMD_READONLY, 1, 1, 1, S_GROUP,
     "Returns entries of a Flo stream in an id range, newest first (range of at most 10000).",
     cmd_xrevrange},
    {"xtrim", -4, RESP_CMD_WRITE, 1, 1, 1, S_GROUP,
     "Trims a Flo stream by MAXLEN or MINID; returns the number of appends removed.", cmd_xtrim},
    {"xdel", -3, RESP_CMD_WRITE, 1, 1, 1, S_GROUP, "Refused: Flo cannot delete single records.",
     cmd_xdel},
};
const size_t resp__stream_ncmds = sizeof(resp__stream_cmds) / sizeof(resp__stream_cmds[0]);
