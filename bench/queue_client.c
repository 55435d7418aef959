/*
 * Queue load client for bench/run.sh: T threads, each on one keep-alive
 * HTTP/1.1 connection to a sidecar, loop enqueue -> dequeue -> ack on a
 * queue of their own (POST /v1/queues/{q}/messages, .../dequeue,
 * .../ack) for SECS seconds, then the program prints one line:
 *
 *   DONE msgs=<acked> secs=<s> rate=<msgs/s> p50_ms=<> p99_ms=<> errors=<n>
 *
 * where a "message" is one full cycle (three requests) and the latencies
 * are per cycle. Own queue per thread: a dequeue always finds the message
 * its thread just enqueued, so an empty dequeue is an error, not noise.
 * Blocking sockets with a receive timeout; every wait is bounded.
 *
 * usage: queue_client HOST PORT [THREADS] [SECS] [PAYLOAD_BYTES]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS 16
#define DEFAULT_SECS    10
#define DEFAULT_PAYLOAD 26 /* the size of run.sh's KV value */
#define MAX_PAYLOAD     4096
#define RESP_MAX        8192 /* a one-message dequeue reply fits easily */
#define REQ_MAX         (MAX_PAYLOAD + 512)
#define IO_TIMEOUT_S    5
#define MAX_SAMPLES     (1u << 18) /* cycle latencies kept per thread */

struct worker {
    pthread_t tid;
    int id;
    struct sockaddr_in sa;
    int fd;
    double secs;
    size_t payload;
    unsigned long msgs, errors;
    double *lat; /* cycle latencies, ms */
    size_t nlat;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(struct worker *w)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&w->sa, sizeof(w->sa)) != 0) {
        close(fd);
        return -1;
    }
    w->fd = fd;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request/response on the connection. The body (NUL-terminated) goes to
 * out. Returns the HTTP status, or -1 on an I/O or framing error. */
static int exchange(struct worker *w, const char *req, size_t len, char *out, size_t cap)
{
    char buf[RESP_MAX];
    size_t got = 0;
    if (write_all(w->fd, req, len) < 0) {
        return -1;
    }
    char *end = NULL;
    while (end == NULL) {
        if (got == sizeof(buf) - 1) {
            return -1;
        }
        ssize_t k = read(w->fd, buf + got, sizeof(buf) - 1 - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        got += (size_t)k;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body_len = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t head = (size_t)(end + 4 - buf);
    if (head + body_len > sizeof(buf) - 1 || body_len >= cap) {
        return -1;
    }
    while (got < head + body_len) {
        ssize_t k = read(w->fd, buf + got, head + body_len - got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        got += (size_t)k;
    }
    memcpy(out, buf + head, body_len);
    out[body_len] = '\0';
    return status;
}

/* One enqueue -> dequeue -> ack cycle. 0, or -1 on any failure. */
static int cycle(struct worker *w, const char *payload)
{
    char req[REQ_MAX], body[RESP_MAX];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/queues/bench-%d/messages HTTP/1.1\r\nHost: bench\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n%s",
                     w->id, w->payload, payload);
    if (exchange(w, req, (size_t)n, body, sizeof(body)) != 200) {
        return -1;
    }
    n = snprintf(req, sizeof(req),
                 "POST /v1/queues/bench-%d/dequeue?count=1 HTTP/1.1\r\nHost: bench\r\n"
                 "Content-Length: 0\r\n\r\n",
                 w->id);
    if (exchange(w, req, (size_t)n, body, sizeof(body)) != 200) {
        return -1;
    }
    const char *s = strstr(body, "\"seq\":");
    if (s == NULL) {
        return -1; /* empty dequeue: the message just enqueued is missing */
    }
    unsigned long long seq = strtoull(s + 6, NULL, 10);
    char ack[64];
    int alen = snprintf(ack, sizeof(ack), "{\"seqs\":[%llu]}", seq);
    n = snprintf(req, sizeof(req),
                 "POST /v1/queues/bench-%d/ack HTTP/1.1\r\nHost: bench\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                 w->id, alen, ack);
    return exchange(w, req, (size_t)n, body, sizeof(body)) == 200 ? 0 : -1;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    char payload[MAX_PAYLOAD + 1];
    memset(payload, 'q', w->payload);
    payload[w->payload] = '\0';
    if (connect_to(w) < 0) {
        w->errors++;
        return NULL;
    }
    double end = now_s() + w->secs;
    while (now_s() < end) {
        double t0 = now_s();
        if (cycle(w, payload) < 0) {
            w->errors++;
            /* The connection state is unknown after a failure: start over. */
            close(w->fd);
            if (connect_to(w) < 0) {
                return NULL;
            }
            continue;
        }
        w->msgs++;
        if (w->nlat < MAX_SAMPLES) {
            w->lat[w->nlat++] = (now_s() - t0) * 1000.0;
        }
    }
    close(w->fd);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [THREADS] [SECS] [PAYLOAD_BYTES]\n", argv[0]);
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : DEFAULT_THREADS;
    double secs = argc > 4 ? atof(argv[4]) : DEFAULT_SECS;
    long payload = argc > 5 ? atol(argv[5]) : DEFAULT_PAYLOAD;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (threads < 1 || threads > 1024 || secs <= 0 || payload < 1 || payload > MAX_PAYLOAD ||
        inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr,
                "queue_client: bad arguments (threads 1..1024, secs > 0, payload "
                "1..%d, HOST an IPv4 address)\n",
                MAX_PAYLOAD);
        return 2;
    }
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    if (ws == NULL) {
        return 1;
    }
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        ws[i] = (struct worker){.id = i, .sa = sa, .secs = secs, .payload = (size_t)payload};
        ws[i].lat = malloc(MAX_SAMPLES * sizeof(double));
        if (ws[i].lat == NULL || pthread_create(&ws[i].tid, NULL, run, &ws[i]) != 0) {
            fprintf(stderr, "queue_client: cannot start thread %d\n", i);
            return 1;
        }
    }
    unsigned long msgs = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        msgs += ws[i].msgs;
        errors += ws[i].errors;
        nlat += ws[i].nlat;
    }
    double elapsed = now_s() - t0;
    double *all = malloc((nlat ? nlat : 1) * sizeof(double));
    if (all == NULL) {
        return 1;
    }
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof(double));
        k += ws[i].nlat;
        free(ws[i].lat);
    }
    qsort(all, nlat, sizeof(double), cmp_double);
    double p50 = nlat ? all[nlat / 2] : 0, p99 = nlat ? all[(nlat * 99) / 100] : 0;
    printf("DONE msgs=%lu secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f errors=%lu\n", msgs, elapsed,
           msgs / elapsed, p50, p99, errors);
    free(all);
    free(ws);
    return 0;
}
