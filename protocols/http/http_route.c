/*
 * Request-target parsing for the HTTP front end: percent-decoding with
 * lengths, the route table, query iteration, KV query parameters and
 * precondition headers. Pure functions over caller buffers (see
 * http_route.h); libmicrohttpd never unescapes anything for us, so this is
 * the one place where URL bytes become key bytes.
 */
#include "http_route.h"

#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "proto_session.h"

#define KV_PREFIX       "/v1/kv/"
#define KV_PREFIX_LEN   (sizeof(KV_PREFIX) - 1)
#define MAX_UINT_DIGITS 20 /* digits of UINT64_MAX */
#define Q_PREFIX        "/v1/queues/"
#define Q_PREFIX_LEN    (sizeof(Q_PREFIX) - 1)
#define S_PREFIX        "/v1/streams/"
#define S_PREFIX_LEN    (sizeof(S_PREFIX) - 1)
#define SESS_PREFIX     "/v1/sessions/"
#define SESS_PREFIX_LEN (sizeof(SESS_PREFIX) - 1)

static const char *const method_names[] = {
    [HTTP_M_GET] = "GET",         [HTTP_M_HEAD] = "HEAD",     [HTTP_M_PUT] = "PUT",
    [HTTP_M_POST] = "POST",       [HTTP_M_DELETE] = "DELETE", [HTTP_M_PATCH] = "PATCH",
    [HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_OTHER] = "OTHER",
};

enum http_method_e http_method_parse(const char *method)
{
    for (int m = HTTP_M_GET; m < HTTP_M_OTHER; m++) {
        if (strcmp(method, method_names[m]) == 0) {
            return (enum http_method_e)m;
        }
    }
    return HTTP_M_OTHER;
}

const char *http_method_name(enum http_method_e m)
{
    if ((unsigned)m > HTTP_M_OTHER) {
        return "OTHER";
    }
    return method_names[m];
}

/* Operation names by method: GET (and HEAD), PUT, POST, DELETE, and the
 * name for any other method. NULL entries fall back to `other`. */
struct route_ops {
    const char *get, *put, *post, *del, *other;
};

static const char *route_op_pick(const struct route_ops *o, enum http_method_e m)
{
    const char *n = NULL;
    switch (m) {
    case HTTP_M_GET:
    case HTTP_M_HEAD:
        n = o->get;
        break;
    case HTTP_M_PUT:
        n = o->put;
        break;
    case HTTP_M_POST:
        n = o->post;
        break;
    case HTTP_M_DELETE:
        n = o->del;
        break;
    default:
        break;
    }
    return n ? n : o->other;
}

const char *http_route_op(enum http_route_e route, enum http_method_e m)
{
    static const struct route_ops kv = {"kv_get", "kv_put", NULL, "kv_delete", "kv_key"};
    static const struct route_ops ttl = {"kv_ttl_get", "kv_ttl_set", NULL, "kv_ttl_clear",
                                         "kv_ttl"};
    static const struct route_ops json = {"kv_json_get", "kv_json_set", NULL, "kv_json_delete",
                                          "kv_json"};
    static const struct route_ops qmsg = {NULL, NULL, "queue_enqueue", "queue_purge",
                                          "queue_messages"};
    static const struct route_ops stream = {"stream_info", "stream_create", NULL, "stream_delete",
                                            "stream"};
    static const struct route_ops records = {"stream_read", NULL, "stream_append", NULL,
                                             "stream_records"};
    static const struct route_ops group = {"group_info", "group_create", NULL, "group_delete",
                                           "group"};
    static const struct route_ops session = {"session_info", NULL, NULL, "session_delete",
                                             "session"};
    switch (route) {
    case HTTP_ROUTE_NONE:
        return "unmatched";
    case HTTP_ROUTE_HEALTHZ:
        return "healthz";
    case HTTP_ROUTE_READYZ:
        return "readyz";
    case HTTP_ROUTE_METRICS:
        return "metrics";
    case HTTP_ROUTE_KV_KEY:
        return route_op_pick(&kv, m);
    case HTTP_ROUTE_KV_SCAN:
        return "kv_scan";
    case HTTP_ROUTE_KV_MGET:
        return "kv_mget";
    case HTTP_ROUTE_KV_TXN:
        return "kv_txn";
    case HTTP_ROUTE_KV_HISTORY:
        return "kv_history";
    case HTTP_ROUTE_KV_INCR:
        return "kv_incr";
    case HTTP_ROUTE_KV_TTL:
        return route_op_pick(&ttl, m);
    case HTTP_ROUTE_KV_JSON:
        return route_op_pick(&json, m);
    case HTTP_ROUTE_QUEUES:
        return "queue_list";
    case HTTP_ROUTE_QUEUE:
        return "queue_stats";
    case HTTP_ROUTE_QUEUE_MESSAGES:
        return route_op_pick(&qmsg, m);
    case HTTP_ROUTE_QUEUE_DEQUEUE:
        return "queue_dequeue";
    case HTTP_ROUTE_QUEUE_PEEK:
        return "queue_peek";
    case HTTP_ROUTE_QUEUE_ACK:
        return "queue_ack";
    case HTTP_ROUTE_QUEUE_NACK:
        return "queue_nack";
    case HTTP_ROUTE_QUEUE_TOUCH:
        return "queue_touch";
    case HTTP_ROUTE_QUEUE_DLQ:
        return "queue_dlq";
    case HTTP_ROUTE_QUEUE_DLQ_REQUEUE:
        return "queue_dlq_requeue";
    case HTTP_ROUTE_QUEUE_DLQ_DELETE:
        return "queue_dlq_delete";
    case HTTP_ROUTE_STREAMS:
        return "stream_list";
    case HTTP_ROUTE_STREAM:
        return route_op_pick(&stream, m);
    case HTTP_ROUTE_STREAM_RECORDS:
        return route_op_pick(&records, m);
    case HTTP_ROUTE_STREAM_TRIM:
        return "stream_trim";
    case HTTP_ROUTE_STREAM_GROUP:
        return route_op_pick(&group, m);
    case HTTP_ROUTE_STREAM_GROUP_SWEEPER:
        return "group_sweeper";
    case HTTP_ROUTE_STREAM_GROUP_PENDING:
        return "group_pending";
    case HTTP_ROUTE_STREAM_GROUP_SESSIONS:
        return "session_create";
    case HTTP_ROUTE_SESSION:
        return route_op_pick(&session, m);
    case HTTP_ROUTE_SESSION_RECORDS:
        return "session_records";
    case HTTP_ROUTE_SESSION_ACK:
        return "session_ack";
    case HTTP_ROUTE_SESSION_NACK:
        return "session_nack";
    case HTTP_ROUTE_SESSION_TOUCH:
        return "session_touch";
    }
    return "unmatched";
}

void http_target_init(struct http_target *t)
{
    t->route = HTTP_ROUTE_NONE;
    flo_wbuf_init(&t->key);
    flo_wbuf_init(&t->group);
    t->query = NULL;
    t->query_len = 0;
}

void http_target_free(struct http_target *t)
{
    flo_wbuf_free(&t->key);
    flo_wbuf_free(&t->group);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int http_pct_decode(const char *s, size_t n, bool plus_is_space, struct flo_wbuf *out)
{
    /* Decoding never grows the input, so one reservation covers it. */
    int rc = flo_wbuf_reserve(out, n);
    if (rc < 0) {
        return rc;
    }
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3) {
                return FLO_EINVAL;
            }
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                return FLO_EINVAL;
            }
            out->data[out->len++] = (uint8_t)(hi << 4 | lo);
            i += 3;
        } else {
            out->data[out->len++] = (plus_is_space && c == '+') ? ' ' : c;
            i++;
        }
    }
    return 0;
}

static bool path_is(const char *path, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(path, lit, n) == 0;
}

/* The sub-resource after "{key}/", HTTP_ROUTE_NONE if unknown. */
static enum http_route_e sub_route(const char *sub, size_t len)
{
    if (path_is(sub, len, "history")) {
        return HTTP_ROUTE_KV_HISTORY;
    }
    if (path_is(sub, len, "incr")) {
        return HTTP_ROUTE_KV_INCR;
    }
    if (path_is(sub, len, "ttl")) {
        return HTTP_ROUTE_KV_TTL;
    }
    if (path_is(sub, len, "json")) {
        return HTTP_ROUTE_KV_JSON;
    }
    return HTTP_ROUTE_NONE;
}

/* The sub-resource after "{q}/", HTTP_ROUTE_NONE if unknown. */
static enum http_route_e queue_sub_route(const char *sub, size_t len)
{
    static const struct {
        const char *name;
        enum http_route_e route;
    } subs[] = {
        {"messages", HTTP_ROUTE_QUEUE_MESSAGES},
        {"dequeue", HTTP_ROUTE_QUEUE_DEQUEUE},
        {"peek", HTTP_ROUTE_QUEUE_PEEK},
        {"ack", HTTP_ROUTE_QUEUE_ACK},
        {"nack", HTTP_ROUTE_QUEUE_NACK},
        {"touch", HTTP_ROUTE_QUEUE_TOUCH},
        {"dlq", HTTP_ROUTE_QUEUE_DLQ},
        {"dlq/requeue", HTTP_ROUTE_QUEUE_DLQ_REQUEUE},
        {"dlq/delete", HTTP_ROUTE_QUEUE_DLQ_DELETE},
    };
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (path_is(sub, len, subs[i].name)) {
            return subs[i].route;
        }
    }
    return HTTP_ROUTE_NONE;
}

/* /v1/queues/{q}[/sub]: seg is what follows the prefix. */
static int match_queue(const char *seg, size_t seglen, struct http_target *t, struct proto_err *e)
{
    enum http_route_e route = HTTP_ROUTE_QUEUE;
    const char *slash = memchr(seg, '/', seglen);
    if (slash != NULL) {
        const char *sub = slash + 1;
        route = queue_sub_route(sub, seglen - (size_t)(sub - seg));
        if (route == HTTP_ROUTE_NONE) {
            proto_err_bad_request(e, "no route for this path; sub-resources of a queue are "
                                     "messages, dequeue, peek, ack, nack, touch, dlq, "
                                     "dlq/requeue and dlq/delete; if '/' is part of the queue "
                                     "name, percent-encode it as %%2F");
            e->http_status = 404;
            e->code = "not_found";
            return -1;
        }
        seglen = (size_t)(slash - seg);
    }
    if (seglen == 0) {
        proto_err_bad_request(e, "missing queue name: use /v1/queues/{queue} with a non-empty, "
                                 "percent-encoded name (GET /v1/queues without a trailing '/' "
                                 "lists queues)");
        return -1;
    }
    int rc = http_pct_decode(seg, seglen, false, &t->key);
    if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
        return -1;
    }
    if (rc < 0) {
        proto_err_bad_request(e, "bad percent-escape in queue name: '%%' must be followed by "
                                 "two hex digits");
        return -1;
    }
    if (proto_check_key(flo_wbuf_view(&t->key), e) < 0) {
        return -1;
    }
    t->route = route;
    return 0;
}

/* Decode one name segment ({s} or {g}) into out and check it like a key.
 * what: "stream" / "group", for messages. */
static int decode_name(const char *seg, size_t len, const char *what, struct flo_wbuf *out,
                       struct proto_err *e)
{
    if (len == 0) {
        proto_err_bad_request(e, "missing %s name: use a non-empty, percent-encoded name", what);
        return -1;
    }
    int rc = http_pct_decode(seg, len, false, out);
    if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
        return -1;
    }
    if (rc < 0) {
        proto_err_bad_request(e,
                              "bad percent-escape in %s name: '%%' must be followed by two "
                              "hex digits",
                              what);
        return -1;
    }
    return proto_check_key(flo_wbuf_view(out), e) < 0 ? -1 : 0;
}

static int stream_not_found(struct proto_err *e)
{
    proto_err_bad_request(e, "no route for this path; sub-resources of a stream are records, "
                             "trim and groups/{group}[/sweeper|/pending|/sessions]; if '/' is "
                             "part of a "
                             "stream or group name, percent-encode it as %%2F");
    e->http_status = 404;
    e->code = "not_found";
    return -1;
}

/* /v1/streams/{s}[/records|/trim|/groups/{g}[/sweeper|/pending|/sessions]]:
 * seg is what follows the prefix. */
static int match_stream(const char *seg, size_t seglen, struct http_target *t, struct proto_err *e)
{
    const char *slash = memchr(seg, '/', seglen);
    size_t namelen = slash ? (size_t)(slash - seg) : seglen;
    enum http_route_e route = HTTP_ROUTE_STREAM;
    if (slash != NULL) {
        const char *sub = slash + 1;
        size_t sublen = seglen - (size_t)(sub - seg);
        if (path_is(sub, sublen, "records")) {
            route = HTTP_ROUTE_STREAM_RECORDS;
        } else if (path_is(sub, sublen, "trim")) {
            route = HTTP_ROUTE_STREAM_TRIM;
        } else if (sublen > 7 && memcmp(sub, "groups/", 7) == 0) {
            const char *g = sub + 7;
            size_t glen = sublen - 7;
            const char *gs = memchr(g, '/', glen);
            route = HTTP_ROUTE_STREAM_GROUP;
            if (gs != NULL) {
                const char *gsub = gs + 1;
                size_t gsublen = glen - (size_t)(gsub - g);
                if (path_is(gsub, gsublen, "sweeper")) {
                    route = HTTP_ROUTE_STREAM_GROUP_SWEEPER;
                } else if (path_is(gsub, gsublen, "pending")) {
                    route = HTTP_ROUTE_STREAM_GROUP_PENDING;
                } else if (path_is(gsub, gsublen, "sessions")) {
                    route = HTTP_ROUTE_STREAM_GROUP_SESSIONS;
                } else {
                    return stream_not_found(e);
                }
                glen = (size_t)(gs - g);
            }
            if (decode_name(g, glen, "group", &t->group, e) < 0) {
                return -1;
            }
        } else {
            return stream_not_found(e);
        }
    }
    if (decode_name(seg, namelen, "stream", &t->key, e) < 0) {
        return -1;
    }
    t->route = route;
    return 0;
}

static bool b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int unknown_session(struct proto_err *e, const char *why)
{
    proto_err_bad_request(e,
                          "unknown session: %s; create one with POST "
                          "/v1/streams/{stream}/groups/{group}/sessions",
                          why);
    e->http_status = 404;
    e->code = "unknown_session";
    return -1;
}

/* /v1/sessions/{id}[/records|/ack|/nack|/touch]: seg is what follows the
 * prefix. The id is checked (length, then charset) before anything else
 * reads it, so no later code sees an oversized or escaped id; it is kept
 * as sent (base64url needs no decoding). */
static int match_session(const char *seg, size_t seglen, struct http_target *t, struct proto_err *e)
{
    const char *slash = memchr(seg, '/', seglen);
    size_t idlen = slash ? (size_t)(slash - seg) : seglen;
    if (idlen == 0) {
        return unknown_session(e, "the session id in the path is empty");
    }
    if (idlen > PROTO_SESS_ID_MAX) {
        return unknown_session(e, "the session id is longer than any id this sidecar issues");
    }
    for (size_t i = 0; i < idlen; i++) {
        if (!b64url_char((unsigned char)seg[i])) {
            return unknown_session(e, "a session id is base64url text (A-Z a-z 0-9 - _)");
        }
    }
    enum http_route_e route = HTTP_ROUTE_SESSION;
    if (slash != NULL) {
        const char *sub = slash + 1;
        size_t sublen = seglen - (size_t)(sub - seg);
        if (path_is(sub, sublen, "records")) {
            route = HTTP_ROUTE_SESSION_RECORDS;
        } else if (path_is(sub, sublen, "ack")) {
            route = HTTP_ROUTE_SESSION_ACK;
        } else if (path_is(sub, sublen, "nack")) {
            route = HTTP_ROUTE_SESSION_NACK;
        } else if (path_is(sub, sublen, "touch")) {
            route = HTTP_ROUTE_SESSION_TOUCH;
        } else {
            proto_err_bad_request(e, "no route for this path; sub-resources of a session are "
                                     "records, ack, nack and touch");
            e->http_status = 404;
            e->code = "not_found";
            return -1;
        }
    }
    if (flo_wbuf_append(&t->key, seg, idlen) < 0) {
        proto_err_from_code(e, FLO_ENOMEM);
        return -1;
    }
    t->route = route;
    return 0;
}

enum http_route_e http_route_for_method(enum http_route_e route, enum http_method_e m)
{
    if ((route == HTTP_ROUTE_KV_MGET || route == HTTP_ROUTE_KV_TXN) && m != HTTP_M_POST) {
        return HTTP_ROUTE_KV_KEY;
    }
    return route;
}

int http_route_match(const char *uri, size_t len, struct http_target *t, struct proto_err *e)
{
    const char *q = memchr(uri, '?', len);
    size_t plen = q ? (size_t)(q - uri) : len;
    if (q) {
        t->query = q + 1;
        t->query_len = len - plen - 1;
    } else {
        t->query = NULL;
        t->query_len = 0;
    }
    t->route = HTTP_ROUTE_NONE;
    flo_wbuf_reset(&t->key);
    flo_wbuf_reset(&t->group);

    if (path_is(uri, plen, "/healthz")) {
        t->route = HTTP_ROUTE_HEALTHZ;
        return 0;
    }
    if (path_is(uri, plen, "/readyz")) {
        t->route = HTTP_ROUTE_READYZ;
        return 0;
    }
    if (path_is(uri, plen, "/metrics")) {
        t->route = HTTP_ROUTE_METRICS;
        return 0;
    }
    if (path_is(uri, plen, "/v1/kv")) {
        t->route = HTTP_ROUTE_KV_SCAN;
        return 0;
    }
    if (path_is(uri, plen, "/v1/streams")) {
        t->route = HTTP_ROUTE_STREAMS;
        return 0;
    }
    if (plen >= S_PREFIX_LEN && memcmp(uri, S_PREFIX, S_PREFIX_LEN) == 0) {
        return match_stream(uri + S_PREFIX_LEN, plen - S_PREFIX_LEN, t, e);
    }
    if (plen >= SESS_PREFIX_LEN && memcmp(uri, SESS_PREFIX, SESS_PREFIX_LEN) == 0) {
        return match_session(uri + SESS_PREFIX_LEN, plen - SESS_PREFIX_LEN, t, e);
    }
    if (path_is(uri, plen, "/v1/queues")) {
        t->route = HTTP_ROUTE_QUEUES;
        return 0;
    }
    if (plen >= Q_PREFIX_LEN && memcmp(uri, Q_PREFIX, Q_PREFIX_LEN) == 0) {
        return match_queue(uri + Q_PREFIX_LEN, plen - Q_PREFIX_LEN, t, e);
    }
    if (plen >= KV_PREFIX_LEN && memcmp(uri, KV_PREFIX, KV_PREFIX_LEN) == 0) {
        const char *seg = uri + KV_PREFIX_LEN;
        size_t seglen = plen - KV_PREFIX_LEN;
        enum http_route_e route = HTTP_ROUTE_KV_KEY;
        if (seglen == 0) {
            proto_err_bad_request(e, "missing key: use /v1/kv/{key} with a non-empty, "
                                     "percent-encoded key (GET /v1/kv without a trailing '/' "
                                     "scans keys)");
            return -1;
        }
        const char *slash = memchr(seg, '/', seglen);
        if (slash != NULL) {
            /* {key}/<sub-resource>: the key's own '/' travels as %2F. */
            const char *sub = slash + 1;
            size_t sublen = seglen - (size_t)(sub - seg);
            route = sub_route(sub, sublen);
            if (route == HTTP_ROUTE_NONE) {
                proto_err_bad_request(e, "no route for this path; sub-resources of a key are "
                                         "history, incr, ttl and json; if '/' is part of the "
                                         "key, percent-encode it as %%2F");
                e->http_status = 404;
                e->code = "not_found";
                return -1;
            }
            seglen = (size_t)(slash - seg);
        } else if (seglen == 4 && memcmp(seg, "mget", 4) == 0) {
            route = HTTP_ROUTE_KV_MGET;
        } else if (seglen == 3 && memcmp(seg, "txn", 3) == 0) {
            route = HTTP_ROUTE_KV_TXN;
        }
        if (seglen == 0) {
            proto_err_bad_request(e, "missing key before the sub-resource: use "
                                     "/v1/kv/{key}/...");
            return -1;
        }
        int rc = http_pct_decode(seg, seglen, false, &t->key);
        if (rc == FLO_ENOMEM) {
            proto_err_from_code(e, rc);
            return -1;
        }
        if (rc < 0) {
            proto_err_bad_request(e, "bad percent-escape in key: '%%' must be followed by "
                                     "two hex digits");
            return -1;
        }
        if (proto_check_key(flo_wbuf_view(&t->key), e) < 0) {
            return -1;
        }
        t->route = route;
        return 0;
    }
    proto_err_bad_request(e, "no route for this path (see docs/http-api.md)");
    e->http_status = 404;
    e->code = "not_found";
    return -1;
}

void http_query_iter_init(struct http_query_iter *it, const char *query, size_t len)
{
    it->p = query;
    it->end = query ? query + len : query;
}

int http_query_next(struct http_query_iter *it, struct flo_wbuf *name, struct flo_wbuf *value)
{
    while (it->p && it->p < it->end) {
        const char *start = it->p;
        const char *amp = memchr(start, '&', (size_t)(it->end - start));
        const char *stop = amp ? amp : it->end;
        it->p = amp ? amp + 1 : it->end;
        if (stop == start) {
            continue; /* "a=1&&b=2": empty pairs are skipped */
        }
        const char *eq = memchr(start, '=', (size_t)(stop - start));
        const char *nend = eq ? eq : stop;
        flo_wbuf_reset(name);
        flo_wbuf_reset(value);
        int rc = http_pct_decode(start, (size_t)(nend - start), true, name);
        if (rc == 0 && eq) {
            rc = http_pct_decode(eq + 1, (size_t)(stop - eq - 1), true, value);
        }
        return rc < 0 ? rc : 1;
    }
    return 0;
}

int http_parse_uint(const uint8_t *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > MAX_UINT_DIGITS) {
        return FLO_EINVAL;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return FLO_EINVAL;
        }
        unsigned d = s[i] - '0';
        if (v > (UINT64_MAX - d) / 10) {
            return FLO_EINVAL;
        }
        v = v * 10 + d;
    }
    if (v > max) {
        return FLO_EINVAL;
    }
    *out = v;
    return 0;
}

void http_kv_params_init(struct http_kv_params *p)
{
    memset(p, 0, sizeof(*p));
    flo_wbuf_init(&p->ns);
    flo_wbuf_init(&p->path);
    flo_wbuf_init(&p->prefix);
    flo_wbuf_init(&p->cursor);
}

void http_kv_params_free(struct http_kv_params *p)
{
    flo_wbuf_free(&p->ns);
    flo_wbuf_free(&p->path);
    flo_wbuf_free(&p->prefix);
    flo_wbuf_free(&p->cursor);
}

/* A parameter name as a printable C string for messages (names we accept
 * are short ASCII; anything else is shown truncated and sanitised). */
static void param_name(const struct flo_wbuf *name, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < name->len && n + 1 < cap; i++) {
        uint8_t c = name->data[i];
        buf[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    buf[n] = '\0';
}

static bool name_is(const struct flo_wbuf *name, const char *lit)
{
    size_t n = strlen(lit);
    return name->len == n && memcmp(name->data, lit, n) == 0;
}

/* Parse a millisecond count for block_ms / wait_ms, clamping to Flo's cap. */
static int parse_block(const struct flo_wbuf *v, const char *pname, uint32_t *out,
                       struct proto_err *e)
{
    uint64_t ms;
    if (http_parse_uint(v->data, v->len, UINT64_MAX, &ms) < 0) {
        proto_err_bad_request(e,
                              "query parameter %s must be a whole number of milliseconds "
                              "(0..%u)",
                              pname, FLO_MAX_BLOCK_MS);
        return -1;
    }
    *out = ms > FLO_MAX_BLOCK_MS ? FLO_MAX_BLOCK_MS : (uint32_t)ms;
    return 0;
}

int http_kv_params_parse(enum http_method_e m, const char *query, size_t len,
                         struct http_kv_params *p, struct proto_err *e)
{
    struct http_query_iter it;
    struct flo_wbuf name, value;
    char pname[40];
    int rc, ret = -1;
    bool has_format = false;

    flo_wbuf_init(&name);
    flo_wbuf_init(&value);
    http_query_iter_init(&it, query, len);
    while ((rc = http_query_next(&it, &name, &value)) == 1) {
        param_name(&name, pname, sizeof(pname));
        bool dup = false;
        if (name_is(&name, "namespace")) {
            dup = p->has_ns;
            if (!dup) {
                if (value.len == 0) {
                    proto_err_bad_request(e, "query parameter namespace must not be empty");
                    goto out;
                }
                if (proto_check_ns(flo_wbuf_view(&value), e) < 0) {
                    goto out;
                }
                flo_wbuf_reset(&p->ns);
                if (flo_wbuf_append(&p->ns, value.data, value.len) < 0) {
                    proto_err_from_code(e, FLO_ENOMEM);
                    goto out;
                }
                p->has_ns = true;
            }
        } else if (m == HTTP_M_GET && name_is(&name, "format")) {
            dup = has_format;
            has_format = true;
            if (name_is(&value, "json")) {
                p->format = HTTP_FMT_JSON;
            } else if (name_is(&value, "raw")) {
                p->format = HTTP_FMT_RAW;
            } else {
                proto_err_bad_request(e, "query parameter format must be \"raw\" or \"json\"");
                goto out;
            }
        } else if (m == HTTP_M_GET && name_is(&name, "block_ms")) {
            dup = p->has_block;
            p->has_block = true;
            if (parse_block(&value, "block_ms", &p->block_ms, e) < 0) {
                goto out;
            }
        } else if (m == HTTP_M_GET && name_is(&name, "wait_ms")) {
            dup = p->has_wait;
            p->has_wait = true;
            if (parse_block(&value, "wait_ms", &p->wait_ms, e) < 0) {
                goto out;
            }
        } else if (m == HTTP_M_PUT && name_is(&name, "ttl_ms")) {
            dup = p->has_ttl;
            p->has_ttl = true;
            if (http_parse_uint(value.data, value.len, UINT64_MAX, &p->ttl_ms) < 0) {
                proto_err_bad_request(e, "query parameter ttl_ms must be a whole number of "
                                         "milliseconds (0 = no expiry)");
                goto out;
            }
        } else {
            proto_err_bad_request(e,
                                  "query parameter \"%s\" is not supported by %s /v1/kv/{key} "
                                  "(see docs/http-api.md)",
                                  pname, http_method_name(m));
            goto out;
        }
        if (dup) {
            proto_err_bad_request(e, "query parameter %s is given more than once", pname);
            goto out;
        }
    }
    if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
        goto out;
    }
    if (rc < 0) {
        proto_err_bad_request(e, "bad percent-escape in the query string: '%%' must be "
                                 "followed by two hex digits");
        goto out;
    }
    if (p->has_block && p->has_wait) {
        proto_err_bad_request(e, "use either block_ms (wait until the key exists) or "
                                 "wait_ms (wait for its next change), not both");
        goto out;
    }
    ret = 0;
out:
    flo_wbuf_free(&name);
    flo_wbuf_free(&value);
    return ret;
}

int http_parse_i64(const uint8_t *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t mag;
    if (neg) {
        s++;
        n--;
    }
    if (http_parse_uint(s, n, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag) < 0) {
        return FLO_EINVAL;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int parse_bool(const struct flo_wbuf *v, bool *out)
{
    if (v->len == 0 || name_is(v, "true") || name_is(v, "1")) {
        *out = true;
        return 0;
    }
    if (name_is(v, "false") || name_is(v, "0")) {
        *out = false;
        return 0;
    }
    return FLO_EINVAL;
}

int http_query_parse(const char *query, size_t len, struct http_qparam *ps, size_t n,
                     const char *route, struct proto_err *e)
{
    struct http_query_iter it;
    struct flo_wbuf name, value;
    char pname[40];
    int rc, ret = -1;

    flo_wbuf_init(&name);
    flo_wbuf_init(&value);
    http_query_iter_init(&it, query, len);
    while ((rc = http_query_next(&it, &name, &value)) == 1) {
        param_name(&name, pname, sizeof(pname));
        struct http_qparam *p = NULL;
        for (size_t i = 0; i < n; i++) {
            if (name_is(&name, ps[i].name)) {
                p = &ps[i];
                break;
            }
        }
        if (p == NULL) {
            proto_err_bad_request(e,
                                  "query parameter \"%s\" is not supported by %s "
                                  "(see docs/http-api.md)",
                                  pname, route);
            goto out;
        }
        if (p->seen) {
            proto_err_bad_request(e, "query parameter %s is given more than once", pname);
            goto out;
        }
        p->seen = true;
        switch (p->kind) {
        case HTTP_QP_U64:
            rc = http_parse_uint(value.data, value.len, p->max, &p->u);
            break;
        case HTTP_QP_I64:
            rc = http_parse_i64(value.data, value.len, &p->i);
            break;
        case HTTP_QP_BOOL:
            rc = parse_bool(&value, &p->b);
            break;
        case HTTP_QP_BYTES:
            rc = value.len > p->max ? FLO_EINVAL : 0;
            if (rc == 0) {
                flo_wbuf_reset(p->bytes);
                if (flo_wbuf_append(p->bytes, value.data, value.len) < 0) {
                    proto_err_from_code(e, FLO_ENOMEM);
                    goto out;
                }
            }
            break;
        }
        if (rc < 0) {
            proto_err_bad_request(e, "query parameter %s must be %s", pname, p->what);
            goto out;
        }
    }
    if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
        goto out;
    }
    if (rc < 0) {
        proto_err_bad_request(e, "bad percent-escape in the query string: '%%' must be "
                                 "followed by two hex digits");
        goto out;
    }
    ret = 0;
out:
    flo_wbuf_free(&name);
    flo_wbuf_free(&value);
    return ret;
}

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

int http_parse_precond(const char *header_name, const char *value, struct http_precond *out,
                       struct proto_err *e)
{
    out->kind = HTTP_PRE_NONE;
    out->version = 0;
    if (value == NULL) {
        return 0;
    }
    const char *s = skip_ows(value);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    if (n == 1 && s[0] == '*') {
        out->kind = HTTP_PRE_ANY;
        return 0;
    }
    if (n >= 2 && s[0] == 'W' && s[1] == '/') {
        proto_err_bad_request(e,
                              "%s: weak entity tags are not supported; send the version "
                              "from X-Flo-Version or ETag as \"N\"",
                              header_name);
        return -1;
    }
    if (memchr(s, ',', n) != NULL) {
        proto_err_bad_request(e, "%s: give exactly one version (\"N\") or *", header_name);
        return -1;
    }
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    if (http_parse_uint((const uint8_t *)s, n, UINT64_MAX, &out->version) < 0) {
        proto_err_bad_request(e,
                              "%s must be * or a version as \"N\" (N a decimal number, as "
                              "returned in ETag / X-Flo-Version)",
                              header_name);
        return -1;
    }
    out->kind = HTTP_PRE_VERSION;
    return 0;
}
