/*
 * Test support (see ts.h): free loopback ports, child processes that die
 * with the test process, bounded waits, raw sockets, hex vectors, hiredis
 * and libcurl helpers. Every wait here has an explicit bound so that a
 * broken server makes a test fail instead of hang.
 */
#include "ts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FLO_BIN_DIR
#error "FLO_BIN_DIR must be defined by the build (tests/CMakeLists.txt)"
#endif

#define TS_LOG_DIR          FLO_BIN_DIR "/tests/logs"
#define TS_STOP_GRACE_MS    3000         /* ts_stop: SIGTERM, then SIGKILL after this */
#define TS_REAP_MS          3000         /* ts_kill: how long to wait for the exit */
#define TS_POLL_STEP_MS     20           /* sleep between readiness probes */
#define TS_RUN_MAX_OUT      (64u << 20)  /* ts_run: cap on captured stdout */
#define TS_HTTP_MAX_BODY    (256u << 20) /* ts_http: cap on a response body */
#define TS_HTTP_MAX_HEADERS (1u << 20)   /* ts_http: cap on the header block */
#define TS_HTTP_TIMEOUT_MS  10000        /* ts_http: whole exchange */
#define TS_READY_PROBE_MS   1000         /* ts_sidecar_wait_ready: one probe */
#define TS_DUMP_MAX         (64u << 10)  /* ts_dump_log prints at most the tail */
#define TS_START_ATTEMPTS   3            /* a "free" port may be taken by someone else */
#define TS_MAX_EXTRA        32           /* extra argv entries for flo-dev / sidecar */
#define TS_MAX_FLODEVS      16           /* flo-dev instances remembered for restart */

/* A test that writes to a connection the server closed must see EPIPE and
 * fail its assertion, not die of SIGPIPE (hiredis and raw sockets write
 * with plain write()). Children get the default disposition back. */
__attribute__((constructor)) static void ts_ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static void child_default_signals(void)
{
    signal(SIGPIPE, SIG_DFL);
}

uint64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void loopback_addr(struct sockaddr_in *sa, uint16_t port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

uint16_t ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in sa;
    loopback_addr(&sa, 0);
    socklen_t len = sizeof(sa);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

/* One connect attempt; loopback connects complete or fail at once. */
static bool port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in sa;
    loopback_addr(&sa, port);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int ts_wait_port(uint16_t port, int timeout_ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (port_accepts(port)) {
            return 0;
        }
        if (ts_now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(TS_POLL_STEP_MS);
    }
}

/* ---- processes ---------------------------------------------------------- */

static int mkdir_p_logs(void)
{
    if (mkdir(FLO_BIN_DIR "/tests", 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    if (mkdir(TS_LOG_DIR, 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* Child side after fork: die with the parent; if the parent is already gone
 * (it died between fork and prctl) exit now rather than linger. */
static void child_bind_to_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
}

int ts_spawn(struct ts_proc *p, const char *const argv[])
{
    static unsigned seq;
    memset(p, 0, sizeof(*p));
    if (argv == NULL || argv[0] == NULL || mkdir_p_logs() != 0) {
        return -1;
    }
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    snprintf(p->log, sizeof(p->log), "%s/%s-%d-%u.log", TS_LOG_DIR, base, (int)getpid(), seq++);
    int logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        return -1;
    }
    /* The child reports an exec failure through this close-on-exec pipe:
     * EOF without data means exec succeeded. */
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        close(logfd);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        close(errpipe[0]);
        close(errpipe[1]);
        return -1;
    }
    if (pid == 0) {
        child_bind_to_parent(parent);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
            _exit(127);
        }
        /* Start in a fresh process group so a ^C aimed at the test runner
         * is not also delivered to the server under test. */
        setpgid(0, 0);
        child_default_signals();
        execv(argv[0], (char *const *)argv);
        int e = errno;
        (void)!write(errpipe[1], &e, sizeof(e));
        _exit(127);
    }
    close(logfd);
    close(errpipe[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(errpipe[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        fprintf(stderr, "ts_spawn: cannot exec %s: %s\n", argv[0], strerror(child_errno));
        return -1;
    }
    p->pid = pid;
    return 0;
}

/* Wait up to timeout_ms for pid to exit; true if reaped. */
static bool reap_within(pid_t pid, int timeout_ms, int *status)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            return true;
        }
        if (ts_now_ms() >= deadline) {
            return false;
        }
        sleep_ms(5);
    }
}

void ts_stop(struct ts_proc *p)
{
    if (p == NULL || p->pid <= 0) {
        return;
    }
    kill(p->pid, SIGTERM);
    /* A stopped process only acts on SIGTERM once continued. */
    kill(p->pid, SIGCONT);
    if (!reap_within(p->pid, TS_STOP_GRACE_MS, NULL)) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
}

void ts_kill(struct ts_proc *p, int sig)
{
    if (p == NULL || p->pid <= 0) {
        return;
    }
    kill(p->pid, sig);
    /* Job-control signals do not end the process: nothing to reap. */
    if (sig == SIGSTOP || sig == SIGCONT || sig == SIGTSTP || sig == 0) {
        return;
    }
    if (!reap_within(p->pid, TS_REAP_MS, NULL)) {
        /* The signal was handled and the process kept running: a caller
         * asked for it to be gone, so make sure it is. */
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
}

void ts_dump_log(const struct ts_proc *p)
{
    if (p == NULL || p->log[0] == '\0') {
        return;
    }
    FILE *f = fopen(p->log, "rb");
    if (f == NULL) {
        fprintf(stderr, "ts_dump_log: cannot open %s\n", p->log);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)TS_DUMP_MAX ? size - (long)TS_DUMP_MAX : 0;
    fseek(f, from, SEEK_SET);
    fprintf(stderr, "---- %s%s ----\n", p->log, from ? " (tail)" : "");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, n, stderr);
    }
    fprintf(stderr, "---- end of %s ----\n", p->log);
    fclose(f);
}

/* True while the child is still running (reaps it if it has exited). */
static bool proc_alive(struct ts_proc *p)
{
    if (p->pid <= 0) {
        return false;
    }
    pid_t r = waitpid(p->pid, NULL, WNOHANG);
    if (r == 0) {
        return true;
    }
    p->pid = 0;
    return false;
}

/* Wait for every port, giving up early if the child dies. 0 / -1. */
static int wait_ports(struct ts_proc *p, const uint16_t *ports, size_t n, int timeout_ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)timeout_ms;
    size_t up = 0;
    while (up < n) {
        if (port_accepts(ports[up])) {
            up++;
            continue;
        }
        if (!proc_alive(p) || ts_now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(TS_POLL_STEP_MS);
    }
    return 0;
}

/* Remembered extra arguments per flo-dev, so a restart reuses them. The
 * memory stays reachable from this table until the process exits. */
static struct {
    const struct ts_flodev *dev;
    char *extra[TS_MAX_EXTRA + 1];
} flodevs[TS_MAX_FLODEVS];

static int flodev_remember(const struct ts_flodev *d, const char *const extra[])
{
    int slot = -1;
    for (int i = 0; i < TS_MAX_FLODEVS; i++) {
        if (flodevs[i].dev == d) {
            slot = i;
            break;
        }
        if (slot < 0 && flodevs[i].dev == NULL) {
            slot = i;
        }
    }
    if (slot < 0) {
        /* Table full: recycle the oldest entry rather than fail a test. */
        slot = 0;
    }
    for (int i = 0; flodevs[slot].extra[i]; i++) {
        free(flodevs[slot].extra[i]);
        flodevs[slot].extra[i] = NULL;
    }
    flodevs[slot].dev = d;
    for (int i = 0; extra && extra[i]; i++) {
        if (i == TS_MAX_EXTRA) {
            return -1;
        }
        flodevs[slot].extra[i] = strdup(extra[i]);
        if (flodevs[slot].extra[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

static char **flodev_extra(const struct ts_flodev *d)
{
    for (int i = 0; i < TS_MAX_FLODEVS; i++) {
        if (flodevs[i].dev == d) {
            return flodevs[i].extra;
        }
    }
    return NULL;
}

static int flodev_launch(struct ts_flodev *d, const char *const *extra)
{
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)d->port);
    const char *argv[TS_MAX_EXTRA + 4] = {FLO_BIN_DIR "/flo-dev", "--listen", listen};
    size_t n = 3;
    for (size_t i = 0; extra && extra[i]; i++) {
        if (i == TS_MAX_EXTRA) {
            return -1;
        }
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    if (ts_spawn(&d->proc, argv) != 0) {
        return -1;
    }
    if (wait_ports(&d->proc, &d->port, 1, TS_WAIT_MS) != 0) {
        return -1;
    }
    return 0;
}

int ts_flodev_start(struct ts_flodev *d, const char *const extra[])
{
    memset(d, 0, sizeof(*d));
    if (flodev_remember(d, extra) != 0) {
        return -1;
    }
    for (int attempt = 0; attempt < TS_START_ATTEMPTS; attempt++) {
        d->port = ts_free_port();
        if (d->port == 0) {
            continue;
        }
        if (flodev_launch(d, extra) == 0) {
            return 0;
        }
        /* Most likely someone took the port between probe and bind. */
        ts_dump_log(&d->proc);
        ts_stop(&d->proc);
    }
    d->port = 0;
    return -1;
}

int ts_flodev_restart(struct ts_flodev *d)
{
    if (d->port == 0) {
        return -1;
    }
    ts_stop(&d->proc);
    const char *const *extra = (const char *const *)flodev_extra(d);
    /* The old listener may linger for a moment; retry for a bounded time. */
    uint64_t deadline = ts_now_ms() + TS_WAIT_MS;
    do {
        if (flodev_launch(d, extra) == 0) {
            return 0;
        }
        ts_stop(&d->proc);
        sleep_ms(100);
    } while (ts_now_ms() < deadline);
    ts_dump_log(&d->proc);
    return -1;
}

int ts_sidecar_start(struct ts_sidecar *s, uint16_t upstream_port, const char *const extra[])
{
    memset(s, 0, sizeof(*s));
    for (int attempt = 0; attempt < TS_START_ATTEMPTS; attempt++) {
        s->http_port = ts_free_port();
        s->resp_port = ts_free_port();
        if (s->http_port == 0 || s->resp_port == 0 || s->http_port == s->resp_port) {
            continue;
        }
        char http[32], resp[32], up[32];
        snprintf(http, sizeof(http), "127.0.0.1:%u", (unsigned)s->http_port);
        snprintf(resp, sizeof(resp), "127.0.0.1:%u", (unsigned)s->resp_port);
        snprintf(up, sizeof(up), "127.0.0.1:%u", (unsigned)upstream_port);
        const char *argv[TS_MAX_EXTRA + 10] = {FLO_BIN_DIR "/flo-sidecar", "--http", http, "--resp",
                                               resp};
        size_t n = 5;
        if (upstream_port) {
            argv[n++] = "--upstream";
            argv[n++] = up;
        } else {
            argv[n++] = "--dev";
        }
        for (size_t i = 0; extra && extra[i]; i++) {
            if (i == TS_MAX_EXTRA) {
                return -1;
            }
            argv[n++] = extra[i];
        }
        argv[n] = NULL;
        if (ts_spawn(&s->proc, argv) != 0) {
            return -1;
        }
        uint16_t ports[2] = {s->http_port, s->resp_port};
        if (wait_ports(&s->proc, ports, 2, TS_WAIT_MS) == 0) {
            return 0;
        }
        ts_dump_log(&s->proc);
        ts_stop(&s->proc);
    }
    s->http_port = s->resp_port = 0;
    return -1;
}

/* ---- HTTP --------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct grow_buf {
    char *data;
    size_t len, cap, max;
    bool overflow;
};

static int grow_append(struct grow_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->max) {
        b->overflow = true;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;
    return grow_append(arg, ptr, n) == 0 ? n : 0;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct grow_buf *b = arg;
    size_t n = size * nmemb;
    /* Keep only the final header block (after 100 Continue or redirects). */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        b->len = 0;
    }
    return grow_append(b, ptr, n) == 0 ? n : 0;
}

static bool has_header(const char *const headers[], const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], name, nl) == 0 && headers[i][nl] == ':') {
            return true;
        }
    }
    return false;
}

static int http_do(const char *method, const char *url, const char *const headers[],
                   const void *body, size_t body_len, struct ts_http_resp *out, long timeout_ms)
{
    memset(out, 0, sizeof(*out));
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return -1;
    }
    struct grow_buf bb = {.max = TS_HTTP_MAX_BODY}, hb = {.max = TS_HTTP_MAX_HEADERS};
    struct curl_slist *list = NULL;
    int rc = -1;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(list, headers[i]);
        if (l == NULL) {
            goto out;
        }
        list = l;
    }
    if (!has_header(headers, "Expect")) {
        /* No 100-continue round trip: the tests talk to a local server. */
        struct curl_slist *l = curl_slist_append(list, "Expect:");
        if (l == NULL) {
            goto out;
        }
        list = l;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        /* Always send a Content-Length (0 when there is no body). */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        if (strcmp(method, "POST") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    /* Hand out empty strings rather than NULL so callers can strcmp. */
    if ((bb.data == NULL && grow_append(&bb, "", 0) != 0) ||
        (hb.data == NULL && grow_append(&hb, "", 0) != 0)) {
        goto out;
    }
    out->body = bb.data;
    out->body_len = bb.len;
    out->headers = hb.data;
    bb.data = hb.data = NULL;
    rc = 0;
out:
    free(bb.data);
    free(hb.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return rc;
}

int ts_http(const char *method, const char *url, const char *const headers[], const void *body,
            size_t body_len, struct ts_http_resp *out)
{
    return http_do(method, url, headers, body, body_len, out, TS_HTTP_TIMEOUT_MS);
}

int ts_http_header(const struct ts_http_resp *r, const char *name, char *buf, size_t cap)
{
    if (r == NULL || r->headers == NULL || cap == 0) {
        return -1;
    }
    size_t nl = strlen(name);
    const char *line = r->headers;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *end = line + len;
            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }
            size_t vl = (size_t)(end - v);
            if (vl + 1 > cap) {
                return -1;
            }
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return 0;
        }
        if (eol == NULL) {
            break;
        }
        line = eol + 1;
    }
    return -1;
}

void ts_http_resp_free(struct ts_http_resp *r)
{
    if (r == NULL) {
        return;
    }
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

int ts_sidecar_wait_ready(const struct ts_sidecar *s, int timeout_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", (unsigned)s->http_port);
    uint64_t deadline = ts_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t now = ts_now_ms();
        long left = now < deadline ? (long)(deadline - now) : 1;
        struct ts_http_resp r;
        if (http_do("GET", url, NULL, NULL, 0, &r,
                    left < TS_READY_PROBE_MS ? left : TS_READY_PROBE_MS) == 0) {
            long st = r.status;
            ts_http_resp_free(&r);
            if (st == 200) {
                return 0;
            }
        }
        if (ts_now_ms() >= deadline) {
            return -1;
        }
        sleep_ms(50);
    }
}

/* ---- sockets and clients ------------------------------------------------ */

redisContext *ts_redis(uint16_t port)
{
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL) {
        return NULL;
    }
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int ts_connect(uint16_t port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa;
    loopback_addr(&sa, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int ts_read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1; /* EOF, error, or SO_RCVTIMEO expired (EAGAIN) */
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int ts_write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        /* MSG_NOSIGNAL: a peer that closed must fail the test, not kill it. */
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK) {
            w = write(fd, p, n);
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- ts_run ------------------------------------------------------------- */

static int status_code(int st)
{
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st); /* the shell's convention */
    }
    return -1;
}

int ts_run(const char *const argv[], int timeout_ms, const void *stdin_data, size_t stdin_len,
           char **out, size_t *out_len)
{
    if (out) {
        *out = NULL;
    }
    if (out_len) {
        *out_len = 0;
    }
    if (argv == NULL || argv[0] == NULL) {
        return -1;
    }
    /* stdin is a socket pair when there is data to feed, so writes can use
     * MSG_NOSIGNAL (a child that exits early must not SIGPIPE the test). */
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, errpipe[2] = {-1, -1};
    struct grow_buf ob = {.max = TS_RUN_MAX_OUT};
    int rc = -1;
    pid_t pid = -1;
    if (stdin_data && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
        goto out;
    }
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
        goto out;
    }
    pid_t parent = getpid();
    pid = fork();
    if (pid < 0) {
        goto out;
    }
    if (pid == 0) {
        child_bind_to_parent(parent);
        int infd = stdin_data ? in[1] : open("/dev/null", O_RDONLY);
        if (infd < 0 || dup2(infd, 0) < 0 || dup2(outp[1], 1) < 0) {
            _exit(127);
        }
        child_default_signals();
        execvp(argv[0], (char *const *)argv);
        int e = errno;
        (void)!write(errpipe[1], &e, sizeof(e));
        _exit(127);
    }
    close(errpipe[1]);
    errpipe[1] = -1;
    close(outp[1]);
    outp[1] = -1;
    if (stdin_data) {
        close(in[1]);
        in[1] = -1;
        fcntl(in[0], F_SETFL, fcntl(in[0], F_GETFL) | O_NONBLOCK);
    }
    int child_errno = 0;
    ssize_t en;
    do {
        en = read(errpipe[0], &child_errno, sizeof(child_errno));
    } while (en < 0 && errno == EINTR);
    if (en > 0) {
        fprintf(stderr, "ts_run: cannot exec %s: %s\n", argv[0], strerror(child_errno));
        waitpid(pid, NULL, 0);
        pid = -1;
        goto out;
    }

    uint64_t deadline = ts_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    size_t written = 0;
    if (stdin_data && stdin_len == 0) {
        shutdown(in[0], SHUT_WR);
    }
    bool out_open = true, in_open = stdin_data != NULL && stdin_len > 0;
    while (out_open) {
        uint64_t now = ts_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "ts_run: %s timed out after %d ms\n", argv[0], timeout_ms);
            goto out; /* the child is killed below */
        }
        struct pollfd pfd[2] = {{.fd = outp[0], .events = POLLIN},
                                {.fd = in_open ? in[0] : -1, .events = POLLOUT}};
        int pr = poll(pfd, 2, (int)(deadline - now));
        if (pr < 0 && errno != EINTR) {
            goto out;
        }
        if (pr <= 0) {
            continue;
        }
        if (pfd[0].revents) {
            char buf[16384];
            ssize_t r = read(outp[0], buf, sizeof(buf));
            if (r < 0 && errno != EINTR && errno != EAGAIN) {
                goto out;
            }
            if (r == 0) {
                out_open = false;
            } else if (r > 0 && grow_append(&ob, buf, (size_t)r) != 0) {
                fprintf(stderr, "ts_run: %s wrote more than %u bytes\n", argv[0], TS_RUN_MAX_OUT);
                goto out;
            }
        }
        if (in_open && pfd[1].revents) {
            ssize_t w =
                send(in[0], (const char *)stdin_data + written, stdin_len - written, MSG_NOSIGNAL);
            if (w > 0) {
                written += (size_t)w;
            }
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_len) {
                /* Done, or the child stopped reading: give it EOF. */
                shutdown(in[0], SHUT_WR);
                in_open = false;
            }
        }
    }
    /* stdout closed: the child is exiting; still bound the wait. */
    int st = 0;
    uint64_t now = ts_now_ms();
    if (!reap_within(pid, now < deadline ? (int)(deadline - now) : 0, &st)) {
        fprintf(stderr, "ts_run: %s timed out after %d ms\n", argv[0], timeout_ms);
        goto out;
    }
    pid = -1;
    rc = status_code(st);
    if (out) {
        if (ob.data == NULL && grow_append(&ob, "", 0) != 0) {
            rc = -1;
            goto out;
        }
        *out = ob.data;
        ob.data = NULL;
    }
    if (out_len) {
        *out_len = ob.len;
    }
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    free(ob.data);
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (outp[i] >= 0) {
            close(outp[i]);
        }
        if (errpipe[i] >= 0) {
            close(errpipe[i]);
        }
    }
    return rc;
}

/* ---- hex ---------------------------------------------------------------- */

static int hexval(int c)
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

int ts_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (hex == NULL) {
        return -1;
    }
    uint8_t *buf = malloc(strlen(hex) / 2 + 1);
    if (buf == NULL) {
        return -1;
    }
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (isspace((unsigned char)*p)) {
            continue;
        }
        int v = hexval((unsigned char)*p);
        if (v < 0) {
            free(buf);
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) { /* odd number of digits */
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}
