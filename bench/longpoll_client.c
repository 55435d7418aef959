/*
 * Long-poll load client for bench/longpoll.sh: opens N concurrent HTTP/1.1
 * connections to a sidecar, sends one GET /v1/kv/{key}?block_ms=B on each
 * (a long-poll waiting for the key to exist), prints "READY <n>" once every
 * request is written, then waits for the answers and prints
 * "DONE sent=<n> s200=<n> s204=<n> other=<n> errors=<n> ms=<elapsed>".
 * One thread, one epoll set, non-blocking sockets; every wait is bounded
 * by block_ms plus a margin.
 *
 * usage: longpoll_client HOST PORT KEY [N] [BLOCK_MS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_N        5000
#define DEFAULT_BLOCK_MS 60000
#define MARGIN_MS        15000 /* beyond block_ms before giving up */
#define CONNECT_BATCH    256   /* connects in flight at once (listen backlog) */
#define REQ_MAX          512
#define RESP_MAX         256 /* only the status line matters */
#define EVENTS           512

enum st_e { ST_CONNECTING, ST_SENT, ST_DONE };

struct lp {
    int fd;
    enum st_e st;
    char resp[RESP_MAX];
    size_t got;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int open_one(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT KEY [N] [BLOCK_MS]\n", argv[0]);
        return 2;
    }
    int n = argc > 4 ? atoi(argv[4]) : DEFAULT_N;
    int block_ms = argc > 5 ? atoi(argv[5]) : DEFAULT_BLOCK_MS;
    if (n <= 0 || block_ms <= 0) {
        fprintf(stderr, "N and BLOCK_MS must be positive\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
        return 2;
    }
    char req[REQ_MAX];
    int reqlen =
        snprintf(req, sizeof(req), "GET /v1/kv/%s?block_ms=%d HTTP/1.1\r\nHost: %s\r\n\r\n",
                 argv[3], block_ms, argv[1]);
    if (reqlen <= 0 || reqlen >= (int)sizeof(req)) {
        fprintf(stderr, "key too long\n");
        return 2;
    }
    struct lp *lps = calloc((size_t)n, sizeof(*lps));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lps == NULL || ep < 0) {
        perror("setup");
        return 1;
    }

    long start = now_ms(), deadline = start + block_ms + MARGIN_MS;
    int opened = 0, sent = 0, done = 0, s200 = 0, s204 = 0, other = 0, errors = 0;
    bool ready = false;
    struct epoll_event evs[EVENTS];

    while (done < n && now_ms() < deadline) {
        /* Keep at most CONNECT_BATCH connects in flight. */
        while (opened < n && opened - sent - errors < CONNECT_BATCH) {
            struct lp *l = &lps[opened];
            l->fd = open_one(&sa);
            if (l->fd < 0) {
                l->st = ST_DONE;
                errors++;
                done++;
                opened++;
                continue;
            }
            l->st = ST_CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP,
                                     .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev);
            opened++;
        }
        if (!ready && sent + errors == n) {
            printf("READY %d\n", sent);
            fflush(stdout);
            ready = true;
        }
        int k = epoll_wait(ep, evs, EVENTS, 200);
        for (int i = 0; i < k; i++) {
            struct lp *l = &lps[evs[i].data.u32];
            if (l->st == ST_DONE) {
                continue;
            }
            if (l->st == ST_CONNECTING && (evs[i].events & EPOLLOUT)) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr != 0 || write(l->fd, req, (size_t)reqlen) != reqlen) {
                    l->st = ST_DONE;
                    errors++;
                    done++;
                    close(l->fd);
                    continue;
                }
                l->st = ST_SENT;
                sent++;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data = evs[i].data};
                epoll_ctl(ep, EPOLL_CTL_MOD, l->fd, &ev);
                continue;
            }
            if (l->st == ST_SENT && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
                ssize_t r = read(l->fd, l->resp + l->got, sizeof(l->resp) - 1 - l->got);
                if (r > 0) {
                    l->got += (size_t)r;
                    l->resp[l->got] = '\0';
                }
                /* The status line is all we need. */
                if (l->got >= 12 || r <= 0) {
                    int code = l->got >= 12 ? atoi(l->resp + 9) : 0;
                    if (code == 200) {
                        s200++;
                    } else if (code == 204) {
                        s204++;
                    } else if (code > 0) {
                        other++;
                    } else {
                        errors++;
                    }
                    l->st = ST_DONE;
                    done++;
                    close(l->fd);
                }
            }
        }
    }
    for (int i = 0; i < opened; i++) {
        if (lps[i].st != ST_DONE) {
            errors++;
            close(lps[i].fd);
        }
    }
    if (!ready) {
        printf("READY %d\n", sent);
    }
    printf("DONE sent=%d s200=%d s204=%d other=%d errors=%d ms=%ld\n", sent, s200, s204, other,
           errors, now_ms() - start);
    fflush(stdout);
    free(lps);
    close(ep);
    return s200 + s204 == n ? 0 : 1;
}
