/*
 * Test support shared by unit and integration tests: free loopback ports,
 * spawning flo-dev / flo-sidecar as real processes (they die with the test
 * process: PR_SET_PDEATHSIG), bounded waits, raw sockets, hex vectors,
 * hiredis and libcurl helpers. Every wait here is bounded.
 */
#ifndef TS_H
#define TS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TS_WAIT_MS 10000 /* default bound for process start-up */

/* A free TCP port on 127.0.0.1 (bind port 0, read it back, close). */
uint16_t ts_free_port(void);

/* Block until 127.0.0.1:port accepts a connection, or timeout. 0 / -1. */
int ts_wait_port(uint16_t port, int timeout_ms);

struct ts_proc {
    pid_t pid;     /* 0 when not running */
    char log[256]; /* file holding the child's stdout+stderr */
};
/* fork+exec argv (argv[0] is a path). Output goes to a log file under the
 * build directory. The child gets SIGKILL if the test process dies. */
int ts_spawn(struct ts_proc *p, const char *const argv[]);
/* SIGTERM, wait up to 3 s, then SIGKILL; reaps. Safe on a stopped proc. */
void ts_stop(struct ts_proc *p);
/* Send a signal (e.g. SIGKILL to simulate a crash) and reap. */
void ts_kill(struct ts_proc *p, int sig);
/* Print the child's log to stderr (call when a test fails). */
void ts_dump_log(const struct ts_proc *p);

struct ts_flodev {
    struct ts_proc proc;
    uint16_t port;
};
/* Start build/flo-dev --listen 127.0.0.1:<free port> [extra...]; waits for
 * the port. extra may be NULL. 0 / -1. */
int ts_flodev_start(struct ts_flodev *d, const char *const extra[]);
/* Start it again on the same port (after ts_kill / ts_stop). */
int ts_flodev_restart(struct ts_flodev *d);

struct ts_sidecar {
    struct ts_proc proc;
    uint16_t http_port, resp_port;
};
/* Start build/flo-sidecar with --http/--resp on free ports and
 * --upstream 127.0.0.1:<upstream_port> (or --dev if upstream_port is 0)
 * [extra...]; waits for both ports. 0 / -1. */
int ts_sidecar_start(struct ts_sidecar *s, uint16_t upstream_port, const char *const extra[]);
/* Poll GET /readyz until 200 or timeout. 0 / -1. */
int ts_sidecar_wait_ready(const struct ts_sidecar *s, int timeout_ms);

/* hiredis connection with a 5 s connect and command timeout; NULL on error. */
redisContext *ts_redis(uint16_t port);

/* A raw blocking TCP client socket to 127.0.0.1:port with SO_RCVTIMEO. */
int ts_connect(uint16_t port, int timeout_ms);
/* Read exactly n bytes or fail (timeout/EOF). 0 / -1. */
int ts_read_full(int fd, void *buf, size_t n);
int ts_write_full(int fd, const void *buf, size_t n);

/* Run a command (argv[0] looked up in PATH), wait at most timeout_ms, capture
 * stdout (malloc'd, NUL-terminated, caller frees; may be NULL). Returns the
 * exit status, or -1 on spawn failure / timeout (the child is killed). */
int ts_run(const char *const argv[], int timeout_ms, const void *stdin_data, size_t stdin_len,
           char **out, size_t *out_len);

/* Decode hex (whitespace allowed) into a malloc'd buffer. 0 / -1. */
int ts_hex_decode(const char *hex, uint8_t **out, size_t *len);

/* One HTTP exchange through libcurl (10 s timeout). */
struct ts_http_resp {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
    char *headers; /* malloc'd raw header block */
};
/* headers: NULL-terminated list of "Name: value" or NULL. 0 / -1 (transport). */
int ts_http(const char *method, const char *url, const char *const headers[], const void *body,
            size_t body_len, struct ts_http_resp *out);
/* Value of a response header (case-insensitive name) copied into buf; 0 / -1. */
int ts_http_header(const struct ts_http_resp *r, const char *name, char *buf, size_t cap);
void ts_http_resp_free(struct ts_http_resp *r);

/* Milliseconds from a monotonic clock. */
uint64_t ts_now_ms(void);

#endif
