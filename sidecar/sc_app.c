/*
 * The sidecar's event-loop wiring. Start-up order is dependencies first
 * (embedded flo-dev, then the upstream pool, then the two front ends that
 * send through the pool); shutdown is the reverse, so no front end ever
 * sends through a closed pool. Shutdown is driven by uv_signal handles that
 * are unreferenced once the first signal arrives: the loop then returns by
 * itself as soon as every other handle has closed.
 */
#include "sc_app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "dev_server.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "flo/flo_pool.h"
#include "http_server.h"
#include "proto.h"
#include "proto_session.h"
#include "resp_server.h"

#define SC_DEV_LISTEN        "127.0.0.1:0" /* embedded flo-dev: loopback, any free port */
#define SC_RESPONSE_SLACK    (64u * 1024)  /* response frame room beyond max_body */
#define SC_UPSTREAM_LIST_MAX 2048          /* upstream list as logged */
#define SC_SESSIONS_CLOSE_MS 2000u         /* bound on leaving every group at shutdown */

struct sc_app {
    uv_loop_t loop;
    const struct sc_config *cfg;
    dev_server_t *dev;          /* embedded flo-dev (--dev) or NULL */
    flo_pool_t *pool;           /* NULL once closed */
    proto_sess_reg_t *sessions; /* consumer sessions; NULL once closing */
    resp_server_t *resp;
    http_server_t *http;
    struct proto_ctx ctx;                     /* handed to both servers; lives in this struct */
    uv_signal_t sigint, sigterm;              /* SIGINT/SIGTERM: graceful shutdown */
    uv_timer_t grace;                         /* bounds the shutdown */
    bool stopping;                            /* shutdown has begun */
    bool forced;                              /* shutdown overran the grace period */
    char dev_addr[32];                        /* "127.0.0.1:<port>" of the embedded flo-dev */
    const char *dev_addrs[1];                 /* pool address list for --dev */
    char upstream_desc[SC_UPSTREAM_LIST_MAX]; /* for log lines */
};

/* Raise the soft open-file limit to the hard one: every waiting long-poll
 * and client holds a descriptor, and the default soft limit (often 1024) is
 * far below what a sidecar needs. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur == rl.rlim_max) {
        return;
    }
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        FLO_WARN("cannot raise the open-file limit", "soft=%llu hard=%llu", (unsigned long long)old,
                 (unsigned long long)rl.rlim_max);
        return;
    }
    FLO_DEBUG("raised the open-file limit", "from=%llu to=%llu", (unsigned long long)old,
              (unsigned long long)rl.rlim_max);
}

/* "host:port" from a configured listen address with the port actually
 * bound (differs when the configured port is 0). */
static void bound_addr(const char *configured, uint16_t port, char *out, size_t cap)
{
    char host[SC_ADDR_MAX];
    unsigned cport;
    if (sc_config_parse_addr(configured, 0, host, sizeof(host), &cport, NULL, 0) != 0) {
        snprintf(out, cap, "%s", configured);
        return;
    }
    snprintf(out, cap, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

static void on_ready(void *arg, bool ready)
{
    struct sc_app *app = arg;
    if (app->stopping) {
        return; /* the pool going down during shutdown is expected */
    }
    if (ready) {
        FLO_INFO("upstream ready", "upstream=%s", app->upstream_desc);
    } else {
        FLO_WARN("upstream unavailable: requests fail with 503 / -TRYAGAIN until it is back",
                 "upstream=%s", app->upstream_desc);
    }
}

static void on_pool_closed(void *arg)
{
    struct sc_app *app = arg;
    app->pool = NULL;
}

/* The pool and the embedded flo-dev go last: the session registry leaves
 * its groups through them. */
static void close_upstream(struct sc_app *app)
{
    if (app->pool) {
        flo_pool_t *pool = app->pool;
        flo_pool_close(pool, on_pool_closed, app);
    }
    if (app->dev) {
        dev_server_close(app->dev);
        app->dev = NULL;
    }
}

static void on_sessions_closed(void *arg)
{
    close_upstream(arg);
}

/* Close everything that exists, dependents first. Idempotent. */
static void close_all(struct sc_app *app)
{
    if (app->http) {
        http_server_close(app->http);
        app->http = NULL;
    }
    if (app->resp) {
        resp_server_close(app->resp);
        app->resp = NULL;
    }
    if (app->sessions) {
        proto_sess_reg_t *reg = app->sessions;
        app->sessions = NULL;
        app->ctx.sessions = NULL;
        proto_sess_reg_close(reg, SC_SESSIONS_CLOSE_MS, on_sessions_closed, app);
        return;
    }
    close_upstream(app);
}

/* The session registry. Without --session-secret the id key is derived
 * from the API key and auth token, so replicas configured alike (and a
 * restarted sidecar) accept each other's ids. 0, or -1 after logging. */
static int start_sessions(struct sc_app *app)
{
    const struct sc_config *cfg = app->cfg;
    const char *key = cfg->api_key ? cfg->api_key : "";
    const char *tok = cfg->auth_token ? cfg->auth_token : "";
    size_t n = strlen(key) + 1 + strlen(tok) + 1;
    char *derive = malloc(n);
    if (derive == NULL) {
        FLO_ERROR("out of memory", NULL);
        return -1;
    }
    /* A separator keeps ("ab", "c") and ("a", "bc") apart. */
    snprintf(derive, n, "%s\n%s", key, tok);
    struct proto_sess_cfg sc = {
        .idle_ms = cfg->session_idle_s * 1000u,
        .max_sessions = cfg->max_sessions,
        .secret = (const uint8_t *)cfg->session_secret,
        .secret_len = cfg->session_secret ? strlen(cfg->session_secret) : 0,
        .derive_from = derive,
    };
    int err = proto_sess_reg_new(&app->loop, app->pool, &sc, &app->sessions);
    free(derive);
    if (err != 0) {
        app->sessions = NULL;
        FLO_ERROR("cannot create the session registry", "err=\"%s\"", flo_strerror(err));
        return -1;
    }
    if (cfg->session_secret == NULL) {
        FLO_DEBUG("session ids signed with a key derived from the configuration; set "
                  "--session-secret for a real secret",
                  NULL);
    }
    app->ctx.sessions = app->sessions;
    return 0;
}

static void on_grace(uv_timer_t *t)
{
    struct sc_app *app = t->data;
    FLO_ERROR("shutdown took too long; exiting with connections still open", "grace_ms=%d",
              SC_SHUTDOWN_GRACE_MS);
    app->forced = true;
    uv_stop(&app->loop);
}

/* Begin shutdown: stop accepting, close everything; the signal handles and
 * the grace timer are unreferenced so the loop ends once the rest closed. */
static void begin_shutdown(struct sc_app *app)
{
    app->stopping = true;
    uv_unref((uv_handle_t *)&app->sigint);
    uv_unref((uv_handle_t *)&app->sigterm);
    uv_timer_start(&app->grace, on_grace, SC_SHUTDOWN_GRACE_MS, 0);
    uv_unref((uv_handle_t *)&app->grace);
    close_all(app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sc_app *app = h->data;
    if (app->stopping) {
        FLO_WARN("second signal: exiting now", "signal=%s", strsignal(signum));
        /* _exit: no atexit handlers, nothing may block the exit. */
        _exit(SC_EXIT_START);
    }
    FLO_INFO("shutting down", "signal=%s", strsignal(signum));
    begin_shutdown(app);
}

static void describe_upstreams(struct sc_app *app)
{
    const struct sc_config *cfg = app->cfg;
    size_t off = 0;
    if (cfg->dev) {
        snprintf(app->upstream_desc, sizeof(app->upstream_desc), "%s(embedded-flo-dev)",
                 app->dev_addr);
        return;
    }
    app->upstream_desc[0] = '\0';
    for (size_t i = 0; i < cfg->nupstreams && off < sizeof(app->upstream_desc); i++) {
        int n = snprintf(app->upstream_desc + off, sizeof(app->upstream_desc) - off, "%s%s",
                         i ? "," : "", cfg->upstreams[i]);
        if (n < 0) {
            break;
        }
        off += (size_t)n;
    }
}

/* Bring everything up. 0, or -1 after logging why. */
static int start(struct sc_app *app)
{
    const struct sc_config *cfg = app->cfg;
    int err;

    if (cfg->dev) {
        struct dev_config dc = {.listen = SC_DEV_LISTEN, .api_key = cfg->api_key};
        err = dev_server_new(&app->loop, &dc, &app->dev);
        if (err != 0) {
            FLO_ERROR("cannot start the embedded flo-dev", "listen=%s err=\"%s\"", SC_DEV_LISTEN,
                      flo_strerror(err));
            return -1;
        }
        snprintf(app->dev_addr, sizeof(app->dev_addr), "127.0.0.1:%u",
                 (unsigned)dev_server_port(app->dev));
        app->dev_addrs[0] = app->dev_addr;
    }
    describe_upstreams(app);

    struct flo_pool_config pc;
    flo_pool_config_defaults(&pc);
    if (cfg->dev) {
        pc.addrs = app->dev_addrs;
        pc.naddrs = 1;
    } else {
        pc.addrs = (const char *const *)cfg->upstreams;
        pc.naddrs = cfg->nupstreams;
    }
    pc.conns_per_addr = cfg->pool;
    pc.longpoll_conns_per_addr = cfg->longpoll_pool;
    pc.api_key = cfg->api_key;
    /* A response may carry a value as large as the largest accepted body. */
    if (pc.max_frame < cfg->max_body + SC_RESPONSE_SLACK) {
        pc.max_frame = (uint32_t)(cfg->max_body + SC_RESPONSE_SLACK);
    }
    pc.on_ready = on_ready;
    pc.on_ready_arg = app;
    err = flo_pool_new(&app->loop, &pc, &app->pool);
    if (err != 0) {
        app->pool = NULL;
        FLO_ERROR("cannot create the upstream pool", "upstream=%s err=\"%s\"", app->upstream_desc,
                  flo_strerror(err));
        return -1;
    }

    app->ctx.loop = &app->loop;
    app->ctx.pool = app->pool;
    app->ctx.default_ns = cfg->ns;
    app->ctx.max_body = cfg->max_body;
    app->ctx.password = cfg->auth_token;
    if (start_sessions(app) != 0) {
        return -1;
    }

    err = resp_server_new(&app->ctx, cfg->resp, &app->resp);
    if (err != 0) {
        app->resp = NULL;
        FLO_ERROR("cannot listen for RESP clients", "addr=%s err=\"%s\"", cfg->resp,
                  flo_strerror(err));
        return -1;
    }
    err = http_server_new(&app->ctx, cfg->http, &app->http);
    if (err != 0) {
        app->http = NULL;
        FLO_ERROR("cannot listen for HTTP clients", "addr=%s err=\"%s\"", cfg->http,
                  flo_strerror(err));
        return -1;
    }

    char http[SC_ADDR_MAX + 8], resp[SC_ADDR_MAX + 8];
    bound_addr(cfg->http, http_server_port(app->http), http, sizeof(http));
    bound_addr(cfg->resp, resp_server_port(app->resp), resp, sizeof(resp));
    FLO_INFO("flo-sidecar started",
             "version=%s http=%s resp=%s upstream=%s namespace=%s pool=%u auth=%s pid=%d",
             FLO_VERSION_STRING, http, resp, app->upstream_desc, cfg->ns, cfg->pool,
             cfg->auth_token ? "on" : "off", (int)getpid());
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void report_leftover(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        FLO_DEBUG("handle still open at exit", "type=%s",
                  uv_handle_type_name(uv_handle_get_type(h)));
    }
}

int sc_app_run(const struct sc_config *cfg)
{
    struct sc_app *app = calloc(1, sizeof(*app));
    if (app == NULL) {
        FLO_ERROR("out of memory", NULL);
        return SC_EXIT_START;
    }
    app->cfg = cfg;
    raise_nofile();
    /* A client that disconnects mid-write must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);

    int err = uv_loop_init(&app->loop);
    if (err != 0) {
        FLO_ERROR("cannot create the event loop", "err=\"%s\"", uv_strerror(err));
        free(app);
        return SC_EXIT_START;
    }
    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    uv_timer_init(&app->loop, &app->grace);
    app->sigint.data = app->sigterm.data = app->grace.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);

    int code = SC_EXIT_OK;
    if (start(app) != 0) {
        code = SC_EXIT_START;
        begin_shutdown(app);
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    if (app->forced) {
        /* Handles are still open and may reference app: leave it to the
         * process exit rather than free memory libuv still points to. */
        return SC_EXIT_START;
    }
    uv_close((uv_handle_t *)&app->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&app->grace, on_handle_closed);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&app->loop) != 0) {
        uv_walk(&app->loop, report_leftover, NULL);
        FLO_WARN("event loop not empty at exit", NULL);
        return code; /* app stays allocated: handles still point into it */
    }
    if (code == SC_EXIT_OK) {
        FLO_INFO("flo-sidecar stopped", NULL);
    }
    free(app);
    return code;
}
