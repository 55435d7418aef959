/*
 * The metrics registry and the Prometheus text renderer (contract in
 * proto_metrics.h). Series live in two uthash tables keyed by their label
 * values (copied into fixed-size keys, so two spellings of one name from
 * different string literals are still one series): request counters by
 * (protocol, op, result) and latency histograms by (protocol, op). Plain
 * counters and gauges are arrays indexed by protocol.
 *
 * Rendering reads /proc for the process_* families; these are small
 * in-memory files and a scrape is rare, so reading them on the loop thread
 * is harmless.
 */
#include "proto_metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include <unistd.h>

#include "flo/flo_error.h"

#define OVERFLOW_OP   "other" /* op of combinations past PROTO_METRICS_MAX_SERIES */
#define PROC_LINE_MAX 1024

struct series_key {
    uint8_t proto;
    char op[PROTO_METRICS_NAME_MAX];
    char result[PROTO_METRICS_NAME_MAX]; /* all zero for histogram series */
};

struct hist_series {
    struct series_key key;
    struct proto_hist h;
    UT_hash_handle hh;
};

struct counter_series {
    struct series_key key;
    uint64_t value;
    struct hist_series *hist; /* its (protocol, op) histogram: one lookup per request */
    UT_hash_handle hh;
};

static struct {
    struct counter_series *requests; /* uthash */
    struct hist_series *durations;   /* uthash */
    unsigned nrequests, ndurations;
    uint64_t bytes_in[PROTO_M_NPROTO], bytes_out[PROTO_M_NPROTO];
    int64_t conns[PROTO_M_NPROTO];
    int64_t longpolls[PROTO_M_NPROTO];
    uint64_t rejected[PROTO_M_NPROTO][PROTO_M_NREJ];
} reg;

static const char *const proto_names[PROTO_M_NPROTO] = {"http", "resp"};
static const char *const reject_names[PROTO_M_NREJ] = {"max_connections", "auth", "output_buffer",
                                                       "too_large"};

const char *proto_metrics_proto_name(enum proto_metrics_proto_e p)
{
    return (unsigned)p < PROTO_M_NPROTO ? proto_names[p] : "unknown";
}

void proto_hist_observe(struct proto_hist *h, double seconds)
{
    unsigned i = 0;
    while (i < PROTO_METRICS_NBUCKETS && seconds > flo_pool_lat_bounds[i]) {
        i++;
    }
    h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

static void key_fill(struct series_key *k, enum proto_metrics_proto_e p, const char *op,
                     const char *result)
{
    memset(k, 0, sizeof(*k));
    k->proto = (uint8_t)p;
    op = op ? op : "unknown";
    memcpy(k->op, op, strnlen(op, sizeof(k->op) - 1));
    if (result) {
        memcpy(k->result, result, strnlen(result, sizeof(k->result) - 1));
    }
}

/* FNV-1a over the label text only (a few bytes) rather than uthash's
 * default over the whole fixed-size key: this runs once per request. */
static unsigned key_hash(const struct series_key *k)
{
    uint32_t h = 2166136261u ^ k->proto;
    for (const char *p = k->op; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    h = (h ^ 0xffu) * 16777619u; /* separator: ("ab","c") != ("a","bc") */
    for (const char *p = k->result; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h;
}

/* Find or create; past the series cap the op becomes OVERFLOW_OP. NULL if
 * out of memory. */
static struct counter_series *counter_get(struct series_key *k)
{
    struct counter_series *s;
    unsigned hv = key_hash(k);
    HASH_FIND_BYHASHVALUE(hh, reg.requests, k, sizeof(*k), hv, s);
    if (s) {
        return s;
    }
    if (reg.nrequests >= PROTO_METRICS_MAX_SERIES) {
        snprintf(k->op, sizeof(k->op), "%s", OVERFLOW_OP);
        hv = key_hash(k);
        HASH_FIND_BYHASHVALUE(hh, reg.requests, k, sizeof(*k), hv, s);
        if (s) {
            return s;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->key = *k;
    HASH_ADD_BYHASHVALUE(hh, reg.requests, key, sizeof(s->key), hv, s);
    reg.nrequests++;
    return s;
}

static struct hist_series *hist_get(struct series_key *k)
{
    struct hist_series *s;
    HASH_FIND(hh, reg.durations, k, sizeof(*k), s);
    if (s) {
        return s;
    }
    if (reg.ndurations >= PROTO_METRICS_MAX_SERIES) {
        snprintf(k->op, sizeof(k->op), "%s", OVERFLOW_OP);
        HASH_FIND(hh, reg.durations, k, sizeof(*k), s);
        if (s) {
            return s;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->key = *k;
    HASH_ADD(hh, reg.durations, key, sizeof(s->key), s);
    reg.ndurations++;
    return s;
}

void proto_metrics_request(enum proto_metrics_proto_e p, const char *op, const char *result,
                           uint64_t duration_ns)
{
    if ((unsigned)p >= PROTO_M_NPROTO) {
        return;
    }
    struct series_key k;
    key_fill(&k, p, op, result ? result : "ok");
    struct counter_series *c = counter_get(&k);
    if (c == NULL) {
        return;
    }
    c->value++;
    if (c->hist == NULL) {
        /* k.op may have become OVERFLOW_OP: the histogram follows it. */
        memset(k.result, 0, sizeof(k.result));
        c->hist = hist_get(&k);
    }
    if (c->hist != NULL) {
        proto_hist_observe(&c->hist->h, (double)duration_ns / 1e9);
    }
}

void proto_metrics_bytes(enum proto_metrics_proto_e p, uint64_t received, uint64_t sent)
{
    if ((unsigned)p < PROTO_M_NPROTO) {
        reg.bytes_in[p] += received;
        reg.bytes_out[p] += sent;
    }
}

void proto_metrics_conn(enum proto_metrics_proto_e p, int delta)
{
    if ((unsigned)p < PROTO_M_NPROTO) {
        reg.conns[p] += delta;
    }
}

void proto_metrics_longpoll(enum proto_metrics_proto_e p, int delta)
{
    if ((unsigned)p < PROTO_M_NPROTO) {
        reg.longpolls[p] += delta;
    }
}

void proto_metrics_rejected(enum proto_metrics_proto_e p, enum proto_metrics_reject_e reason)
{
    if ((unsigned)p < PROTO_M_NPROTO && (unsigned)reason < PROTO_M_NREJ) {
        reg.rejected[p][reason]++;
    }
}

void proto_metrics_reset(void)
{
    struct counter_series *c, *ct;
    HASH_ITER(hh, reg.requests, c, ct)
    {
        HASH_DEL(reg.requests, c);
        free(c);
    }
    struct hist_series *h, *ht;
    HASH_ITER(hh, reg.durations, h, ht)
    {
        HASH_DEL(reg.durations, h);
        free(h);
    }
    memset(&reg, 0, sizeof(reg));
}

/* ---- rendering ---- */

int proto_metrics_escape(struct flo_wbuf *out, const char *s)
{
    for (const char *q = s; *q; q++) {
        const char *rep = NULL;
        if (*q == '\\') {
            rep = "\\\\";
        } else if (*q == '"') {
            rep = "\\\"";
        } else if (*q == '\n') {
            rep = "\\n";
        }
        int rc = rep ? flo_wbuf_append(out, rep, 2) : flo_wbuf_append(out, q, 1);
        if (rc < 0) {
            return FLO_ENOMEM;
        }
    }
    return 0;
}

/* A rendering pass: the first error sticks, later writes are skipped. */
struct out {
    struct flo_wbuf *b;
    int err;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (o->err) {
        return;
    }
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        o->err = FLO_EINVAL; /* only fixed-size pieces go through here */
        return;
    }
    if (flo_wbuf_append(o->b, tmp, (size_t)n) < 0) {
        o->err = FLO_ENOMEM;
    }
}

static void put_label(struct out *o, const char *s)
{
    if (!o->err && proto_metrics_escape(o->b, s) < 0) {
        o->err = FLO_ENOMEM;
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Prometheus floats: integers without a fraction, others shortest exact. */
static void put_double(struct out *o, double v)
{
    put(o, "%.9g", v);
}

/* Buckets (cumulative), _sum and _count of one histogram; `labels` is the
 * already-rendered label list without braces ("" for none). */
static void put_hist(struct out *o, const char *name, const char *labels, const uint64_t *buckets,
                     uint64_t count, double sum)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (unsigned i = 0; i <= PROTO_METRICS_NBUCKETS; i++) {
        cum += buckets[i];
        if (i < PROTO_METRICS_NBUCKETS) {
            put(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, flo_pool_lat_bounds[i],
                (unsigned long long)cum);
        } else {
            put(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
        }
    }
    put(o, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
    put_double(o, sum);
    put(o, "\n%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        (unsigned long long)count);
}

static int counter_cmp(struct counter_series *a, struct counter_series *b)
{
    int c = (int)a->key.proto - (int)b->key.proto;
    if (c == 0) {
        c = strcmp(a->key.op, b->key.op);
    }
    return c ? c : strcmp(a->key.result, b->key.result);
}

static int hist_cmp(struct hist_series *a, struct hist_series *b)
{
    int c = (int)a->key.proto - (int)b->key.proto;
    return c ? c : strcmp(a->key.op, b->key.op);
}

static void render_requests(struct out *o)
{
    family(o, "flo_sidecar_requests_total", "counter",
           "Client requests (HTTP requests, RESP commands) by protocol, operation and result.");
    HASH_SORT(reg.requests, counter_cmp);
    struct counter_series *c, *ct;
    HASH_ITER(hh, reg.requests, c, ct)
    {
        put(o, "flo_sidecar_requests_total{protocol=\"%s\",op=\"", proto_names[c->key.proto]);
        put_label(o, c->key.op);
        put(o, "\",result=\"");
        put_label(o, c->key.result);
        put(o, "\"} %llu\n", (unsigned long long)c->value);
    }
    family(o, "flo_sidecar_request_duration_seconds", "histogram",
           "Time from a request's arrival to its reply, long-polls included.");
    HASH_SORT(reg.durations, hist_cmp);
    struct hist_series *h, *ht;
    HASH_ITER(hh, reg.durations, h, ht)
    {
        /* Label values are escaped into a bounded buffer first: put_hist
         * repeats them on every bucket line. */
        struct flo_wbuf lab;
        flo_wbuf_init(&lab);
        struct out lo = {.b = &lab};
        put(&lo, "protocol=\"%s\",op=\"", proto_names[h->key.proto]);
        put_label(&lo, h->key.op);
        put(&lo, "\"");
        if (!lo.err && flo_wbuf_u8(&lab, 0) < 0) {
            lo.err = FLO_ENOMEM;
        }
        if (lo.err) {
            o->err = lo.err;
        } else {
            put_hist(o, "flo_sidecar_request_duration_seconds", (const char *)lab.data,
                     h->h.buckets, h->h.count, h->h.sum);
        }
        flo_wbuf_free(&lab);
    }
}

static void per_proto_gauge(struct out *o, const char *name, const char *type, const char *help,
                            const int64_t *v)
{
    family(o, name, type, help);
    for (unsigned p = 0; p < PROTO_M_NPROTO; p++) {
        put(o, "%s{protocol=\"%s\"} %lld\n", name, proto_names[p], (long long)v[p]);
    }
}

static void per_proto_counter(struct out *o, const char *name, const char *help, const uint64_t *v)
{
    family(o, name, "counter", help);
    for (unsigned p = 0; p < PROTO_M_NPROTO; p++) {
        put(o, "%s{protocol=\"%s\"} %llu\n", name, proto_names[p], (unsigned long long)v[p]);
    }
}

static void render_clients(struct out *o)
{
    per_proto_gauge(o, "flo_sidecar_longpolls_waiting", "gauge",
                    "Requests suspended on a blocking upstream call (long-polls, blocked RESP "
                    "clients).",
                    reg.longpolls);
    per_proto_gauge(o, "flo_sidecar_client_connections", "gauge", "Client connections open.",
                    reg.conns);
    family(o, "flo_sidecar_client_rejected_total", "counter",
           "Client connections or requests refused, by reason.");
    for (unsigned p = 0; p < PROTO_M_NPROTO; p++) {
        for (unsigned r = 0; r < PROTO_M_NREJ; r++) {
            put(o, "flo_sidecar_client_rejected_total{protocol=\"%s\",reason=\"%s\"} %llu\n",
                proto_names[p], reject_names[r], (unsigned long long)reg.rejected[p][r]);
        }
    }
    per_proto_counter(o, "flo_sidecar_bytes_received_total", "Bytes received from clients.",
                      reg.bytes_in);
    per_proto_counter(o, "flo_sidecar_bytes_sent_total", "Bytes sent to clients.", reg.bytes_out);
}

static void render_upstream(struct out *o, const struct flo_pool_stats *ps)
{
    static const struct flo_pool_stats zero;
    if (!ps) {
        ps = &zero;
    }
    family(o, "flo_sidecar_upstream_request_duration_seconds", "histogram",
           "Time from sending a request to Flo to its response (responses only).");
    uint64_t count = 0;
    for (unsigned i = 0; i <= PROTO_METRICS_NBUCKETS; i++) {
        count += ps->lat_buckets[i];
    }
    put_hist(o, "flo_sidecar_upstream_request_duration_seconds", "", ps->lat_buckets, count,
             ps->lat_sum_s);
    family(o, "flo_sidecar_upstream_connections", "gauge",
           "Upstream connections to Flo by state (pipelined and long-poll lanes).");
    put(o, "flo_sidecar_upstream_connections{state=\"up\"} %u\n", (unsigned)ps->conns_up);
    put(o, "flo_sidecar_upstream_connections{state=\"down\"} %u\n",
        (unsigned)(ps->conns_total - ps->conns_up));
    family(o, "flo_sidecar_upstream_reconnects_total", "counter",
           "Upstream connection attempts after the first one of each connection.");
    put(o, "flo_sidecar_upstream_reconnects_total %llu\n", (unsigned long long)ps->reconnects);
    family(o, "flo_sidecar_upstream_inflight", "gauge",
           "Upstream requests sent or queued and not yet answered.");
    put(o, "flo_sidecar_upstream_inflight %llu\n", (unsigned long long)ps->inflight);
    family(o, "flo_sidecar_upstream_responses_total", "counter",
           "Upstream responses by Flo status.");
    uint64_t unknown = 0;
    for (unsigned s = 0; s < FLO_POOL_NSTATUS; s++) {
        const char *name = flo_status_name(s);
        if (s == FLO_POOL_NSTATUS - 1 || strcmp(name, "unknown_status") == 0) {
            unknown += ps->by_status[s];
            continue;
        }
        put(o, "flo_sidecar_upstream_responses_total{status=\"%s\"} %llu\n", name,
            (unsigned long long)ps->by_status[s]);
    }
    put(o, "flo_sidecar_upstream_responses_total{status=\"unknown_status\"} %llu\n",
        (unsigned long long)unknown);
    family(o, "flo_sidecar_upstream_timeouts_total", "counter",
           "Upstream requests that got no response within their timeout.");
    put(o, "flo_sidecar_upstream_timeouts_total %llu\n", (unsigned long long)ps->timeouts);
    family(o, "flo_sidecar_upstream_errors_total", "counter",
           "Upstream requests that failed without a response (connection lost, no connection "
           "available, shutting down).");
    put(o, "flo_sidecar_upstream_errors_total %llu\n", (unsigned long long)ps->failures);
}

static void render_sessions(struct out *o, const struct proto_metrics_src *src)
{
    bool have = src->have_sessions;
    family(o, "flo_sidecar_sessions", "gauge",
           "Live consumer sessions by kind (HTTP sessions, RESP group consumers).");
    put(o, "flo_sidecar_sessions{kind=\"http\"} %llu\n",
        (unsigned long long)(have ? src->http_sessions : 0));
    put(o, "flo_sidecar_sessions{kind=\"resp\"} %llu\n",
        (unsigned long long)(have ? src->resp_sessions : 0));
    family(o, "flo_sidecar_session_events_total", "counter", "Consumer session events.");
    const struct {
        const char *name;
        uint64_t v;
    } ev[] = {
        {"created", src->sess_created},   {"expired", src->sess_expired},
        {"ended", src->sess_ended},       {"reattached", src->sess_reattached},
        {"rejoined", src->sess_rejoined},
    };
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
        put(o, "flo_sidecar_session_events_total{event=\"%s\"} %llu\n", ev[i].name,
            (unsigned long long)(have ? ev[i].v : 0));
    }
}

/* Resident set size in bytes from /proc/self/statm; -1 if unreadable. */
static long long proc_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) {
        return -1;
    }
    unsigned long long size, resident;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (long long)(resident * (unsigned long long)page) : -1;
}

/* Open descriptors (entries of /proc/self/fd, minus the one reading it). */
static long long proc_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        return -1;
    }
    long long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* Process start, seconds since the epoch: boot time (/proc/stat btime) plus
 * the start tick (field 22 of /proc/self/stat). -1 if unreadable. */
static double proc_start_time(void)
{
    char line[PROC_LINE_MAX];
    unsigned long long btime = 0, start = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "btime %llu", &btime) == 1) {
            break;
        }
    }
    fclose(f);
    f = fopen("/proc/self/stat", "r");
    if (!f) {
        return -1;
    }
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name (field 2) may hold spaces: count fields after ')'. */
    const char *p = strrchr(line, ')');
    if (!p || btime == 0) {
        return -1;
    }
    int field = 2;
    for (p++; *p && field < 22; p++) {
        if (*p == ' ') {
            field++;
        }
    }
    if (field != 22 || sscanf(p, "%llu", &start) != 1) {
        return -1;
    }
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)btime + (double)start / (double)hz : -1;
}

static void render_process(struct out *o, const struct proto_metrics_src *src)
{
    family(o, "flo_sidecar_build_info", "gauge",
           "Always 1; the labels carry the version and git commit of this build.");
    put(o, "flo_sidecar_build_info{version=\"");
    put_label(o, FLO_VERSION_STRING);
    put(o, "\",commit=\"");
    put_label(o, FLO_GIT_COMMIT);
    put(o, "\"} 1\n");
    family(o, "flo_sidecar_ready", "gauge",
           "1 when the sidecar is ready (an upstream connection is up), else 0.");
    put(o, "flo_sidecar_ready %d\n", src->ready ? 1 : 0);
    long long rss = proc_rss();
    if (rss >= 0) {
        family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        put(o, "process_resident_memory_bytes %lld\n", rss);
    }
    long long fds = proc_fds();
    if (fds >= 0) {
        family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
        put(o, "process_open_fds %lld\n", fds);
    }
    double st = proc_start_time();
    if (st >= 0) {
        family(o, "process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch in seconds.");
        put(o, "process_start_time_seconds %.2f\n", st);
    }
}

int proto_metrics_render(const struct proto_metrics_src *src, struct flo_wbuf *out)
{
    static const struct proto_metrics_src none;
    struct out o = {.b = out};
    if (!src) {
        src = &none;
    }
    render_process(&o, src);
    render_requests(&o);
    render_clients(&o);
    render_upstream(&o, src->pool);
    render_sessions(&o, src);
    return o.err ? FLO_ENOMEM : 0;
}
