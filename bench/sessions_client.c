/*
 * Load client for bench/sessions.sh: holds N Server-Sent-Events followers of
 * one stream (GET /v1/streams/{s}/records?follow=true, from the tail) and M
 * consumer-group session long-polls (M sessions spread over G groups of the
 * same stream, each keeping GET /v1/sessions/{id}/records?block_ms=B waiting,
 * acking what it got and asking again) on one sidecar, then appends K records
 * spaced INTERVAL_MS apart whose payload carries the send time, and measures
 * append-to-delivery latency for every delivery.
 *
 * Output (one line each, key=value, parsed by bench/sessions.sh):
 *   READY sse=<following> sessions=<waiting> groups=<G> setup_ms=<ms> errors=<n>
 *   RESULT kind=sse|session|all delivered= expected= duplicates= p50_ms= p99_ms= max_ms=
 *   DONE appended= errors= connect= status= closed= protocol= sse_error= append=
 *        redelivered= following= waiting= ms=   (errors = the sum of the six after it)
 * After READY the client waits for SIGUSR1 (so the script can sample the
 * sidecar while everything waits), or for SETTLE_MS when that is > 0.
 *
 * One thread, one epoll set, non-blocking sockets, RLIMIT_NOFILE raised to
 * its hard limit. The HTTP parsing is what the sidecar sends: a status line,
 * headers, then a Content-Length body or a chunked body (SSE, events
 * separated by "\n\n"). Payloads are "lat:<seq>:<CLOCK_REALTIME ns>" (no JSON
 * escaping needed), so records are found by scanning the JSON text. Every
 * phase has a deadline; exit status 0 only when every expected delivery
 * arrived and nothing failed.
 *
 * usage: sessions_client HOST PORT STREAM N M G K INTERVAL_MS
 *                        [BLOCK_MS=30000] [SETTLE_MS=0] [DRAIN_MS=15000]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_BATCH 256   /* connects + session creates in flight (listen backlog) */
#define RAW_MAX       4096  /* unparsed bytes from the socket */
#define BODY_SSE      4096  /* decoded SSE text not yet split into events */
#define BODY_JSON     16384 /* one JSON reply (count=10 records is ~1.5 KiB) */
#define OUT_MAX       2048  /* one request (an ack of 10 ids is ~600 bytes) */
#define SID_MAX       512   /* session id text (the contract keeps it < 1024) */
#define READ_COUNT    10    /* records per session read */
#define MAX_K         1000
#define MAX_CONN_ERRS 5 /* a session connection is dropped after this many failures */
#define SETUP_MS      300000
#define GO_WAIT_MS    600000
#define EVENTS        512

enum kind { K_SSE, K_SESS, K_APP };
enum cst { C_CONNECTING, C_CREATE, C_READ, C_ACK, C_FOLLOW, C_APP_IDLE, C_APP_WAIT, C_DEAD };

struct conn {
    int fd;
    uint8_t kind, st;
    bool out_armed;  /* EPOLLOUT registered */
    bool hdr_done;   /* response headers parsed */
    bool chunked;    /* body is chunked */
    bool chunk_crlf; /* CRLF after a chunk's data still to consume */
    bool chunk_last; /* the 0-size chunk was seen */
    bool counted;    /* counted as following / waiting */
    int status;      /* of the response being parsed */
    long clen;       /* Content-Length, -1 when absent */
    size_t chunk_left;
    uint32_t group;
    uint32_t errs;
    char *raw, *body; /* RAW_MAX, bcap + 1 (NUL-terminated) */
    size_t rlen, blen, bcap;
    char out[OUT_MAX];
    size_t olen, ooff;
    char sid[SID_MAX];
};

struct lat {
    int64_t *v;
    size_t n, cap;
};

struct ctx {
    const char *host, *stream;
    int n, m, g, k, interval_ms, block_ms;
    int ep;
    struct sockaddr_in sa;
    struct conn *c; /* n SSE, m session, 1 appender */
    int total;
    /* progress */
    int opened, setting_up, following, waiting, dead_sse, dead_sess;
    bool app_ready;
    /* measurements */
    uint8_t *sse_seen;   /* n * k */
    uint16_t *sess_seen; /* g * k */
    struct lat lat_sse, lat_sess;
    long dup_sse, dup_sess, redelivered;
    int appended;
    /* errors */
    long e_connect, e_status, e_closed, e_proto, e_sse_error, e_append;
};

static volatile sig_atomic_t go_signal;

static void on_usr1(int sig)
{
    (void)sig;
    go_signal = 1;
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long total_errors(const struct ctx *x)
{
    return x->e_connect + x->e_status + x->e_closed + x->e_proto + x->e_sse_error + x->e_append;
}

static int lat_push(struct lat *l, int64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        int64_t *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    return 0;
}

/* ---- connection plumbing ------------------------------------------------ */

static void conn_kill(struct ctx *x, struct conn *c)
{
    if (c->st == C_DEAD) {
        return;
    }
    if (c->kind == K_SSE) {
        x->dead_sse++;
        if (c->counted) {
            x->following--;
        }
    } else if (c->kind == K_SESS) {
        x->dead_sess++;
        if (c->counted) {
            x->waiting--;
        } else {
            x->setting_up--;
        }
    } else {
        x->app_ready = false;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->st = C_DEAD;
}

static void set_interest(struct ctx *x, struct conn *c, bool out)
{
    if (c->out_armed == out) {
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - x->c)};
    epoll_ctl(x->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = out;
}

/* Write what is pending; arms EPOLLOUT for the rest. -1 = connection dead. */
static int flush_out(struct ctx *x, struct conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t w = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_interest(x, c, true);
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            x->e_closed++;
            conn_kill(x, c);
            return -1;
        }
        c->ooff += (size_t)w;
    }
    c->olen = c->ooff = 0;
    set_interest(x, c, false);
    return 0;
}

/* Queue one request (formatted) and start writing it. -1 = dead. */
__attribute__((format(printf, 3, 4))) static int send_req(struct ctx *x, struct conn *c,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(c->out, sizeof(c->out), fmt, ap);
    va_end(ap);
    if (len <= 0 || (size_t)len >= sizeof(c->out)) {
        x->e_proto++;
        conn_kill(x, c);
        return -1;
    }
    c->olen = (size_t)len;
    c->ooff = 0;
    c->hdr_done = false;
    return flush_out(x, c);
}

static int req_session_read(struct ctx *x, struct conn *c)
{
    c->st = C_READ;
    return send_req(x, c,
                    "GET /v1/sessions/%s/records?count=%d&block_ms=%d HTTP/1.1\r\n"
                    "Host: %s\r\n\r\n",
                    c->sid, READ_COUNT, x->block_ms, x->host);
}

/* ---- measurements ------------------------------------------------------- */

/* Parse `"payload":"lat:<seq>:<ns>"` at p (p points at `"payload"`).
 * 0 and *seq, *ns; -1 when the payload is not one of ours. */
static int scan_payload(const char *p, int *seq, int64_t *ns)
{
    p += strlen("\"payload\"");
    while (*p == ' ') {
        p++;
    }
    if (*p++ != ':') {
        return -1;
    }
    while (*p == ' ') {
        p++;
    }
    if (strncmp(p, "\"lat:", 5) != 0) {
        return -1;
    }
    char *end;
    long s = strtol(p + 5, &end, 10);
    if (*end != ':' || s < 0) {
        return -1;
    }
    long long t = strtoll(end + 1, &end, 10);
    if (*end != '"' || t <= 0) {
        return -1;
    }
    *seq = (int)s;
    *ns = (int64_t)t;
    return 0;
}

/* Record one delivery of record `seq` (sent at `ns`) to slot `*seen`. */
static void deliver(struct ctx *x, struct lat *l, long *dup, void *seen, bool wide, int64_t ns)
{
    int64_t d = real_ns() - ns;
    unsigned prev;
    if (wide) {
        uint16_t *s = seen;
        prev = *s;
        if (*s < UINT16_MAX) {
            (*s)++;
        }
    } else {
        uint8_t *s = seen;
        prev = *s;
        if (*s < UINT8_MAX) {
            (*s)++;
        }
    }
    if (prev > 0) {
        (*dup)++; /* latency counts first deliveries only */
        return;
    }
    if (lat_push(l, d < 0 ? 0 : d) != 0) {
        x->e_proto++;
    }
}

/* Split complete SSE events off the decoded body. -1 = connection dead. */
static int sse_events(struct ctx *x, struct conn *c)
{
    int idx = (int)(c - x->c);
    char *start = c->body;
    char *sep;
    while ((sep = strstr(start, "\n\n")) != NULL) {
        *sep = '\0';
        bool record =
            strstr(start, "event: record\n") != NULL || strncmp(start, "event: record", 13) == 0;
        if (strstr(start, "event: error") != NULL) {
            x->e_sse_error++;
        }
        char *pl = record ? strstr(start, "\"payload\"") : NULL;
        if (pl != NULL) {
            int seq;
            int64_t ns;
            if (scan_payload(pl, &seq, &ns) == 0 && seq < x->k) {
                deliver(x, &x->lat_sse, &x->dup_sse, &x->sse_seen[(size_t)idx * x->k + seq], false,
                        ns);
            }
        }
        start = sep + 2;
    }
    size_t used = (size_t)(start - c->body);
    if (used > 0) {
        memmove(c->body, start, c->blen - used);
        c->blen -= used;
        c->body[c->blen] = '\0';
    }
    if (c->blen >= c->bcap) {
        x->e_proto++; /* one event larger than the buffer */
        conn_kill(x, c);
        return -1;
    }
    return 0;
}

/* ---- HTTP response parsing ---------------------------------------------- */

static void raw_consume(struct conn *c, size_t n)
{
    memmove(c->raw, c->raw + n, c->rlen - n);
    c->rlen -= n;
}

/* Header value of `name` (lower case, with ':') in the header block, or NULL. */
static const char *hdr_find(const char *hdrs, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = hdrs; p + nl < hdrs + len;) {
        const char *eol = memmem(p, (size_t)(hdrs + len - p), "\r\n", 2);
        if (eol == NULL) {
            return NULL;
        }
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            p += nl;
            while (*p == ' ') {
                p++;
            }
            return p;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Parse what is buffered. 1 = one complete response in body[0..blen),
 * 0 = need more bytes, -1 = protocol error. SSE bodies are split into events
 * as they arrive (1 only when the server ended the stream). */
static int parse(struct ctx *x, struct conn *c)
{
    if (!c->hdr_done) {
        char *e = memmem(c->raw, c->rlen, "\r\n\r\n", 4);
        if (e == NULL) {
            return c->rlen >= RAW_MAX ? -1 : 0;
        }
        size_t hl = (size_t)(e - c->raw) + 4;
        if (c->rlen < 12 || strncmp(c->raw, "HTTP/1.1 ", 9) != 0) {
            return -1;
        }
        c->status = atoi(c->raw + 9);
        const char *te = hdr_find(c->raw, hl, "transfer-encoding:");
        const char *cl = hdr_find(c->raw, hl, "content-length:");
        c->chunked = te != NULL && strncasecmp(te, "chunked", 7) == 0;
        c->clen = cl != NULL ? atol(cl) : -1;
        if (!c->chunked && c->clen < 0) {
            if (c->status != 204 && c->status != 304) {
                return -1; /* close-delimited bodies: the sidecar sends none */
            }
            c->clen = 0;
        }
        if (!c->chunked && (size_t)c->clen > c->bcap) {
            return -1;
        }
        raw_consume(c, hl);
        c->hdr_done = true;
        c->blen = 0;
        c->body[0] = '\0';
        c->chunk_left = 0;
        c->chunk_crlf = c->chunk_last = false;
        if (c->kind == K_SSE) {
            if (c->status != 200) {
                return -1;
            }
            c->st = C_FOLLOW;
            c->counted = true;
            x->following++;
        }
    }
    if (!c->chunked) {
        size_t take = (size_t)c->clen - c->blen;
        if (take > c->rlen) {
            take = c->rlen;
        }
        memcpy(c->body + c->blen, c->raw, take);
        c->blen += take;
        c->body[c->blen] = '\0';
        raw_consume(c, take);
        return c->blen == (size_t)c->clen ? 1 : 0;
    }
    for (;;) {
        if (c->chunk_last) {
            /* No trailers from the sidecar: the last chunk is "0\r\n\r\n". */
            if (c->rlen < 2) {
                return 0;
            }
            if (memcmp(c->raw, "\r\n", 2) != 0) {
                return -1;
            }
            raw_consume(c, 2);
            return 1;
        }
        if (c->chunk_crlf) {
            if (c->rlen < 2) {
                return 0;
            }
            if (memcmp(c->raw, "\r\n", 2) != 0) {
                return -1;
            }
            raw_consume(c, 2);
            c->chunk_crlf = false;
        }
        if (c->chunk_left == 0) {
            char *eol = memmem(c->raw, c->rlen, "\r\n", 2);
            if (eol == NULL) {
                return c->rlen > 64 ? -1 : 0;
            }
            char *end;
            unsigned long size = strtoul(c->raw, &end, 16);
            if (end == c->raw || (end != eol && *end != ';')) {
                return -1;
            }
            raw_consume(c, (size_t)(eol - c->raw) + 2);
            if (size == 0) {
                c->chunk_last = true;
                continue;
            }
            c->chunk_left = size;
        }
        if (c->rlen == 0) {
            return 0;
        }
        size_t take = c->chunk_left < c->rlen ? c->chunk_left : c->rlen;
        if (take > c->bcap - c->blen) {
            take = c->bcap - c->blen;
        }
        if (take == 0) {
            return -1; /* body buffer full */
        }
        memcpy(c->body + c->blen, c->raw, take);
        c->blen += take;
        c->body[c->blen] = '\0';
        raw_consume(c, take);
        c->chunk_left -= take;
        if (c->chunk_left == 0) {
            c->chunk_crlf = true;
        }
        if (c->kind == K_SSE && sse_events(x, c) != 0) {
            return 0; /* killed: counted already */
        }
    }
}

/* ---- response handlers -------------------------------------------------- */

/* A session read reply: record deliveries, then ack them or read again. */
static int on_session_records(struct ctx *x, struct conn *c)
{
    char ack[OUT_MAX / 2];
    size_t alen = (size_t)snprintf(ack, sizeof(ack), "{\"ids\":[");
    int nids = 0;
    /* Records: "id" (the record id; "session_id" does not match because of
     * the leading quote), "payload", "delivery_count". */
    for (const char *p = c->body; (p = strstr(p, "\"id\"")) != NULL; p += 4) {
        const char *q = p + 4;
        while (*q == ' ' || *q == ':') {
            q++;
        }
        if (*q != '"') {
            continue;
        }
        const char *e = strchr(q + 1, '"');
        if (e == NULL || (size_t)(e - q) + 4 > sizeof(ack) - alen - 4) {
            x->e_proto++;
            break;
        }
        alen += (size_t)snprintf(ack + alen, sizeof(ack) - alen, "%s%.*s", nids ? "," : "",
                                 (int)(e - q + 1), q);
        nids++;
    }
    for (const char *p = c->body; (p = strstr(p, "\"payload\"")) != NULL; p += 9) {
        int seq;
        int64_t ns;
        if (scan_payload(p, &seq, &ns) == 0 && seq < x->k) {
            deliver(x, &x->lat_sess, &x->dup_sess, &x->sess_seen[(size_t)c->group * x->k + seq],
                    true, ns);
        }
    }
    for (const char *p = c->body; (p = strstr(p, "\"delivery_count\"")) != NULL; p += 16) {
        const char *q = p + 16;
        while (*q == ' ' || *q == ':') {
            q++;
        }
        if (atol(q) > 1) {
            x->redelivered++;
        }
    }
    if (nids == 0) {
        return req_session_read(x, c);
    }
    alen += (size_t)snprintf(ack + alen, sizeof(ack) - alen, "]}");
    c->st = C_ACK;
    return send_req(x, c,
                    "POST /v1/sessions/%s/ack HTTP/1.1\r\nHost: %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    c->sid, x->host, alen, ack);
}

static int on_create(struct ctx *x, struct conn *c)
{
    const char *p = c->status == 201 ? strstr(c->body, "\"session_id\"") : NULL;
    if (p == NULL) {
        x->e_status++;
        fprintf(stderr, "session create: HTTP %d %.200s\n", c->status, c->body);
        conn_kill(x, c);
        return -1;
    }
    p += strlen("\"session_id\"");
    while (*p == ' ' || *p == ':') {
        p++;
    }
    const char *e = *p == '"' ? strchr(p + 1, '"') : NULL;
    if (e == NULL || (size_t)(e - p - 1) >= sizeof(c->sid) || e == p + 1) {
        x->e_proto++;
        conn_kill(x, c);
        return -1;
    }
    memcpy(c->sid, p + 1, (size_t)(e - p - 1));
    c->sid[e - p - 1] = '\0';
    c->counted = true;
    x->setting_up--;
    x->waiting++;
    return req_session_read(x, c);
}

/* One complete response on a session connection. */
static int on_session_reply(struct ctx *x, struct conn *c)
{
    if (c->st == C_CREATE) {
        return on_create(x, c);
    }
    if (c->status != 200) {
        x->e_status++;
        if (++c->errs > MAX_CONN_ERRS) {
            fprintf(stderr, "session %s: HTTP %d %.200s (giving up)\n", c->sid, c->status, c->body);
            conn_kill(x, c);
            return -1;
        }
        return req_session_read(x, c);
    }
    if (c->st == C_READ) {
        return on_session_records(x, c);
    }
    return req_session_read(x, c); /* ack answered */
}

static void on_readable(struct ctx *x, struct conn *c)
{
    if (c->rlen >= RAW_MAX) {
        x->e_proto++;
        conn_kill(x, c);
        return;
    }
    ssize_t r = read(c->fd, c->raw + c->rlen, RAW_MAX - c->rlen);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (r <= 0) {
        x->e_closed++;
        if (c->kind == K_SSE || c->st != C_CREATE) {
            fprintf(stderr, "%s connection %d closed by the server\n",
                    c->kind == K_SSE    ? "sse"
                    : c->kind == K_SESS ? "session"
                                        : "append",
                    (int)(c - x->c));
        }
        conn_kill(x, c);
        return;
    }
    c->rlen += (size_t)r;
    while (c->st != C_DEAD) {
        int rc = parse(x, c);
        if (c->st == C_DEAD) {
            return;
        }
        if (rc < 0) {
            x->e_proto++;
            if (c->kind == K_SSE && c->hdr_done && c->status != 200) {
                x->e_proto--;
                x->e_status++;
            }
            conn_kill(x, c);
            return;
        }
        if (rc == 0) {
            return;
        }
        c->hdr_done = false;
        if (c->kind == K_SSE) {
            x->e_closed++; /* the follow ended */
            conn_kill(x, c);
            return;
        }
        if (c->kind == K_APP) {
            if (c->status != 200) {
                x->e_append++;
                fprintf(stderr, "append: HTTP %d %.200s\n", c->status, c->body);
            } else {
                x->appended++;
            }
            c->st = C_APP_IDLE;
            continue;
        }
        if (on_session_reply(x, c) != 0) {
            return;
        }
    }
}

static void on_connected(struct ctx *x, struct conn *c)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
        x->e_connect++;
        conn_kill(x, c);
        return;
    }
    if (c->kind == K_SSE) {
        c->st = C_FOLLOW; /* counted as following once the 200 headers arrive */
        send_req(x, c,
                 "GET /v1/streams/%s/records?follow=true HTTP/1.1\r\nHost: %s\r\n"
                 "Accept: text/event-stream\r\n\r\n",
                 x->stream, x->host);
    } else if (c->kind == K_SESS) {
        c->st = C_CREATE;
        send_req(x, c,
                 "POST /v1/streams/%s/groups/g%u/sessions HTTP/1.1\r\nHost: %s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 x->stream, c->group, x->host);
    } else {
        c->st = C_APP_IDLE;
        x->app_ready = true;
        set_interest(x, c, false);
    }
}

static void open_one(struct ctx *x, int i)
{
    struct conn *c = &x->c[i];
    c->kind = i < x->n ? K_SSE : i < x->n + x->m ? K_SESS : K_APP;
    c->group = c->kind == K_SESS ? (uint32_t)((i - x->n) % x->g) : 0;
    c->bcap = c->kind == K_SSE ? BODY_SSE : BODY_JSON;
    c->raw = malloc(RAW_MAX);
    c->body = malloc(c->bcap + 1);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->st = C_CONNECTING;
    c->clen = -1;
    if (c->kind == K_SESS) {
        x->setting_up++;
    }
    if (c->raw == NULL || c->body == NULL || c->fd < 0 ||
        (connect(c->fd, (const struct sockaddr *)&x->sa, sizeof(x->sa)) != 0 &&
         errno != EINPROGRESS)) {
        x->e_connect++;
        conn_kill(x, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    epoll_ctl(x->ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->out_armed = true;
}

/* Run the event loop once (at most wait_ms). */
static void poll_once(struct ctx *x, int wait_ms)
{
    struct epoll_event evs[EVENTS];
    int k = epoll_wait(x->ep, evs, EVENTS, wait_ms);
    for (int i = 0; i < k; i++) {
        struct conn *c = &x->c[evs[i].data.u32];
        if (c->st == C_DEAD) {
            continue;
        }
        if (c->st == C_CONNECTING) {
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                on_connected(x, c);
            }
            continue;
        }
        if ((evs[i].events & EPOLLOUT) && c->olen > 0 && flush_out(x, c) != 0) {
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            on_readable(x, c);
        }
    }
}

/* Sessions in set-up (connecting or creating) count against CONNECT_BATCH,
 * as do SSE followers not yet answered. */
static int in_setup(const struct ctx *x)
{
    int sse_opened = x->opened < x->n ? x->opened : x->n;
    /* opened followers = answered and alive + dead (answered or not) + pending */
    return sse_opened - x->following - x->dead_sse + x->setting_up;
}

static double pct_ms(const struct lat *l, double q)
{
    if (l->n == 0) {
        return 0;
    }
    size_t i = (size_t)(q * (double)l->n + 0.999999);
    i = i == 0 ? 0 : i - 1;
    if (i >= l->n) {
        i = l->n - 1;
    }
    return (double)l->v[i] / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *kind, struct lat *l, long expected, long dup)
{
    qsort(l->v, l->n, sizeof(*l->v), cmp_i64);
    printf("RESULT kind=%s delivered=%zu expected=%ld duplicates=%ld p50_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f\n",
           kind, l->n, expected, dup, pct_ms(l, 0.50), pct_ms(l, 0.99), pct_ms(l, 1.0));
}

static int arg_int(const char *s, const char *name, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s must be an integer in %d..%d (got '%s')\n", name, min, max, s);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    if (argc < 9 || argc > 12) {
        fprintf(stderr,
                "usage: %s HOST PORT STREAM N M G K INTERVAL_MS [BLOCK_MS] [SETTLE_MS] "
                "[DRAIN_MS]\n",
                argv[0]);
        return 2;
    }
    static struct ctx x;
    x.host = argv[1];
    x.stream = argv[3];
    int port = arg_int(argv[2], "PORT", 1, 65535);
    x.n = arg_int(argv[4], "N", 0, 1000000);
    x.m = arg_int(argv[5], "M", 0, 1000000);
    x.g = arg_int(argv[6], "G", 1, 65535);
    x.k = arg_int(argv[7], "K", 1, MAX_K);
    x.interval_ms = arg_int(argv[8], "INTERVAL_MS", 0, 60000);
    x.block_ms = argc > 9 ? arg_int(argv[9], "BLOCK_MS", 1, 300000) : 30000;
    int settle_ms = argc > 10 ? arg_int(argv[10], "SETTLE_MS", 0, 600000) : 0;
    int drain_ms = argc > 11 ? arg_int(argv[11], "DRAIN_MS", 0, 600000) : 15000;
    if (x.m > 0 && x.g > x.m) {
        x.g = x.m; /* every group gets at least one session */
    }
    x.sa.sin_family = AF_INET;
    x.sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, x.host, &x.sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address %s\n", x.host);
        return 2;
    }
    x.total = x.n + x.m + 1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)x.total + 32) {
        fprintf(stderr, "open-file limit %llu is below N+M+32; raise it (ulimit -Hn)\n",
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART: wakes epoll_wait */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    x.c = calloc((size_t)x.total, sizeof(*x.c));
    x.sse_seen = calloc((size_t)x.n * x.k + 1, 1);
    x.sess_seen = calloc((size_t)x.g * x.k + 1, sizeof(uint16_t));
    x.ep = epoll_create1(EPOLL_CLOEXEC);
    if (x.c == NULL || x.sse_seen == NULL || x.sess_seen == NULL || x.ep < 0) {
        perror("setup");
        return 1;
    }
    for (int i = 0; i < x.total; i++) {
        x.c[i].fd = -1;
    }

    /* Phase 1: every follower following, every session waiting. */
    long start = mono_ms();
    while (mono_ms() - start < SETUP_MS) {
        while (x.opened < x.total && in_setup(&x) < CONNECT_BATCH) {
            open_one(&x, x.opened++);
        }
        if (x.opened == x.total && x.following + x.dead_sse == x.n &&
            x.waiting + x.dead_sess == x.m && (x.app_ready || x.c[x.total - 1].st == C_DEAD)) {
            break;
        }
        poll_once(&x, 100);
    }
    long setup_ms = mono_ms() - start;
    printf("READY sse=%d sessions=%d groups=%d setup_ms=%ld errors=%ld\n", x.following, x.waiting,
           x.m > 0 ? x.g : 0, setup_ms, total_errors(&x));
    fflush(stdout);
    if (!x.app_ready) {
        fprintf(stderr, "set-up incomplete after %ld ms (appender connected: %s)\n", setup_ms,
                x.app_ready ? "yes" : "no");
        return 1;
    }

    /* Phase 2: keep everything waiting until told to go. */
    long go_at = settle_ms > 0 ? mono_ms() + settle_ms : mono_ms() + GO_WAIT_MS;
    while (!go_signal && mono_ms() < go_at) {
        poll_once(&x, 100);
    }
    if (settle_ms == 0 && !go_signal) {
        fprintf(stderr, "no SIGUSR1 within %d s\n", GO_WAIT_MS / 1000);
        return 1;
    }
    int sse_at_go = x.following, groups_at_go = 0;
    for (int gi = 0; gi < x.g; gi++) {
        for (int i = x.n + gi; i < x.n + x.m; i += x.g) {
            if (x.c[i].st != C_DEAD) {
                groups_at_go++;
                break;
            }
        }
    }

    /* Phase 3: K appends, spaced interval_ms, one at a time. */
    struct conn *app = &x.c[x.total - 1];
    long next = mono_ms(), app_deadline = 0;
    int sent = 0;
    long expected_sse = (long)sse_at_go * x.k, expected_sess = (long)groups_at_go * x.k;
    long drain_end = 0;
    for (;;) {
        long now = mono_ms();
        if (app->st == C_APP_IDLE && sent < x.k && now >= next) {
            char body[64];
            int blen = snprintf(body, sizeof(body), "lat:%d:%lld", sent, (long long)real_ns());
            app->st = C_APP_WAIT;
            if (send_req(&x, app,
                         "POST /v1/streams/%s/records HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
                         x.stream, x.host, blen, body) != 0) {
                break;
            }
            sent++;
            next += x.interval_ms;
            app_deadline = now + 10000;
        }
        if (app->st == C_APP_WAIT && now > app_deadline) {
            fprintf(stderr, "append %d not answered within 10 s\n", sent - 1);
            x.e_append++;
            break;
        }
        if (app->st == C_DEAD) {
            break;
        }
        bool all_sent = sent == x.k && app->st == C_APP_IDLE;
        if (all_sent && drain_end == 0) {
            drain_end = now + drain_ms;
        }
        if (all_sent &&
            ((long)x.lat_sse.n >= expected_sse && (long)x.lat_sess.n >= expected_sess)) {
            break;
        }
        if (drain_end != 0 && now >= drain_end) {
            break;
        }
        long wait = sent < x.k ? next - now : 100;
        poll_once(&x, wait < 0 ? 0 : wait > 100 ? 100 : (int)wait);
    }

    report("sse", &x.lat_sse, expected_sse, x.dup_sse);
    report("session", &x.lat_sess, expected_sess, x.dup_sess);
    struct lat all = {0};
    for (size_t i = 0; i < x.lat_sse.n; i++) {
        lat_push(&all, x.lat_sse.v[i]);
    }
    for (size_t i = 0; i < x.lat_sess.n; i++) {
        lat_push(&all, x.lat_sess.v[i]);
    }
    report("all", &all, expected_sse + expected_sess, x.dup_sse + x.dup_sess);
    printf("DONE appended=%d errors=%ld connect=%ld status=%ld closed=%ld protocol=%ld "
           "sse_error=%ld append=%ld redelivered=%ld following=%d waiting=%d ms=%ld\n",
           x.appended, total_errors(&x), x.e_connect, x.e_status, x.e_closed, x.e_proto,
           x.e_sse_error, x.e_append, x.redelivered, x.following, x.waiting, mono_ms() - start);
    fflush(stdout);
    bool ok = x.appended == x.k && total_errors(&x) == 0 && (long)x.lat_sse.n == expected_sse &&
              (long)x.lat_sess.n == expected_sess;
    for (int i = 0; i < x.total; i++) {
        if (x.c[i].fd >= 0) {
            close(x.c[i].fd);
        }
        free(x.c[i].raw);
        free(x.c[i].body);
    }
    free(x.c);
    free(x.sse_seen);
    free(x.sess_seen);
    free(x.lat_sse.v);
    free(x.lat_sess.v);
    free(all.v);
    close(x.ep);
    return ok ? 0 : 1;
}
