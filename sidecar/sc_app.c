/*
 * The sidecar's event-loop wiring. Start-up order is dependencies first
 * (embedded flo-dev, then the upstream pool, then the two front ends that
 * send through the pool); shutdown is the reverse, so no front end ever
 * sends through a closed pool. Shutdown is driven by uv_signal handles that
 * are unreferenced once the first signal arrives: the loop then returns by
 * itself as soon as every other handle has closed.
 *
 * Graceful shutdown (SIGTERM/SIGINT) has two phases. Drain: both listeners
 * stop accepting, long-polls, event streams and blocked RESP commands are
 * ended at once (they would otherwise hold the whole grace period), and a
 * short timer waits until the requests in flight are answered or
 * --shutdown-grace runs out. Close: the front ends close, the session
 * registry leaves every group upstream, then the pool and flo-dev close.
 * SIGHUP re-parses the configuration (files re-read) and applies what can
 * change live; every other changed setting is reported as needing a
 * restart.
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
#include "proto_auth.h"
#include "proto_metrics.h"
#include "proto_session.h"
#include "resp_server.h"

#define SC_DEV_LISTEN        "127.0.0.1:0" /* embedded flo-dev: loopback, any free port */
#define SC_RESPONSE_SLACK    (64u * 1024)  /* response frame room beyond max_body */
#define SC_UPSTREAM_LIST_MAX 2048          /* upstream list as logged */
#define SC_SESSIONS_CLOSE_MS 2000u         /* bound on leaving every group at shutdown */
#define SC_DRAIN_TICK_MS     20u           /* how often the drain checks what is in flight */
#define SC_CLOSE_SLACK_MS    3000u         /* closing after the drain: beyond the sessions' bound */

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
    uv_signal_t sighup;                       /* SIGHUP: reload */
    uv_timer_t grace;                         /* bounds the whole shutdown */
    uv_timer_t drain;                         /* drain phase: polls what is in flight */
    bool stopping;                            /* shutdown has begun */
    bool draining;                            /* drain phase running */
    bool forced;                              /* shutdown overran the grace period */
    const struct sc_config *cur;              /* settings in effect (cfg or reloaded) */
    struct sc_config *reloaded;               /* owned: the last config SIGHUP applied */
    unsigned grace_s;                         /* --shutdown-grace in effect */
    uint64_t drain_start_ms;                  /* loop time the drain began */
    unsigned inflight_at_signal;              /* requests in flight when the drain began */
    unsigned longpolls_ended;                 /* ended at the start of (and during) the drain */
    unsigned cut_off;                         /* still in flight when the grace ran out */
    uint64_t sessions_left;                   /* sessions ended upstream at shutdown */
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
        struct proto_sess_stats st;
        proto_sess_reg_stats(reg, &st);
        app->sessions_left = st.http_sessions + st.resp_consumers;
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
    FLO_ERROR("shutdown took too long; exiting with connections still open", "grace_s=%u",
              app->grace_s);
    app->forced = true;
    uv_stop(&app->loop);
}

/* What the front ends still have in flight; ends long-polls as a side
 * effect (new ones may have started since the last tick). */
static unsigned drain_step(struct sc_app *app)
{
    return http_server_drain(app->http, &app->longpolls_ended) +
           resp_server_drain(app->resp, &app->longpolls_ended);
}

static void drain_done(struct sc_app *app, unsigned left)
{
    app->draining = false;
    uv_timer_stop(&app->drain);
    app->cut_off = left;
    if (left > 0) {
        FLO_WARN("shutdown grace period over: closing requests still in flight",
                 "requests=%u "
                 "grace_s=%u",
                 left, app->grace_s);
    }
    close_all(app);
}

static void on_drain_tick(uv_timer_t *t)
{
    struct sc_app *app = t->data;
    unsigned left = drain_step(app);
    if (left == 0) {
        drain_done(app, 0);
        return;
    }
    if (uv_now(&app->loop) - app->drain_start_ms >= (uint64_t)app->grace_s * 1000u) {
        drain_done(app, left);
    }
}

/* Begin shutdown. With a signal: stop accepting, end long-polls, let the
 * requests in flight finish (up to the grace period), then close
 * everything. Without (start-up failed): close at once. The signal handles
 * and the grace timer are unreferenced so the loop ends once the rest
 * closed. */
static void begin_shutdown(struct sc_app *app, const char *signame)
{
    app->stopping = true;
    uv_unref((uv_handle_t *)&app->sigint);
    uv_unref((uv_handle_t *)&app->sigterm);
    uv_unref((uv_handle_t *)&app->sighup);
    uint64_t hard_ms = (uint64_t)app->grace_s * 1000u + SC_SESSIONS_CLOSE_MS + SC_CLOSE_SLACK_MS;
    uv_timer_start(&app->grace, on_grace, hard_ms, 0);
    uv_unref((uv_handle_t *)&app->grace);
    if (signame == NULL || (app->http == NULL && app->resp == NULL)) {
        close_all(app);
        return;
    }
    app->drain_start_ms = uv_now(&app->loop);
    app->inflight_at_signal = drain_step(app);
    FLO_INFO("shutting down: not accepting new connections, finishing requests in flight",
             "signal=%s grace_s=%u in_flight=%u longpolls_ended=%u", signame, app->grace_s,
             app->inflight_at_signal, app->longpolls_ended);
    if (app->inflight_at_signal == 0) {
        close_all(app);
        return;
    }
    app->draining = true;
    uv_timer_start(&app->drain, on_drain_tick, SC_DRAIN_TICK_MS, SC_DRAIN_TICK_MS);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sc_app *app = h->data;
    if (app->stopping) {
        FLO_WARN("second signal: exiting now", "signal=%s", strsignal(signum));
        /* _exit: no atexit handlers, nothing may block the exit. */
        _exit(SC_EXIT_START);
    }
    begin_shutdown(app, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static bool str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a != b;
    }
    return strcmp(a, b) != 0;
}

static bool upstreams_differ(const struct sc_config *a, const struct sc_config *b)
{
    if (a->dev != b->dev || a->nupstreams != b->nupstreams) {
        return true;
    }
    for (size_t i = 0; i < a->nupstreams; i++) {
        if (strcmp(a->upstreams[i], b->upstreams[i]) != 0) {
            return true;
        }
    }
    return false;
}

/* Log one line per setting that changed but only applies after a restart.
 * Returns how many. */
static unsigned report_restart_needed(const struct sc_config *o, const struct sc_config *n)
{
    const struct {
        const char *name;
        bool changed;
    } checks[] = {
        {"upstream/dev", upstreams_differ(o, n)},
        {"http", strcmp(o->http, n->http) != 0},
        {"resp", strcmp(o->resp, n->resp) != 0},
        {"namespace", strcmp(o->ns, n->ns) != 0},
        {"pool", o->pool != n->pool},
        {"longpoll-pool", o->longpoll_pool != n->longpoll_pool},
        {"api-key", str_differs(o->api_key, n->api_key)},
        {"max-body", o->max_body != n->max_body},
        /* Changing the secret would invalidate every session id handed out. */
        {"session-secret", str_differs(o->session_secret, n->session_secret)},
        {"session-idle-timeout", o->session_idle_s != n->session_idle_s},
        {"max-sessions", o->max_sessions != n->max_sessions},
        {"max-http-connections", o->limits.max_http_connections != n->limits.max_http_connections},
        {"max-resp-clients", o->limits.max_resp_clients != n->limits.max_resp_clients},
        {"max-resp-args", o->limits.max_resp_args != n->limits.max_resp_args},
        {"max-resp-bulk", o->limits.max_resp_bulk != n->limits.max_resp_bulk},
        {"max-longpolls", o->limits.max_longpolls != n->limits.max_longpolls},
        {"resp-output-limit", o->limits.resp_output_limit != n->limits.resp_output_limit},
    };
    unsigned count = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (checks[i].changed) {
            FLO_WARN("setting changed but needs a restart to take effect; keeping the old value",
                     "setting=%s", checks[i].name);
            count++;
        }
    }
    return count;
}

/* SIGHUP: parse flags, environment and files again; apply the log level,
 * log format, auth token and shutdown grace; report the rest. A bad
 * configuration keeps every current setting. */
static void on_sighup(uv_signal_t *h, int signum)
{
    struct sc_app *app = h->data;
    (void)signum;
    if (app->stopping) {
        return;
    }
    struct sc_config *next = calloc(1, sizeof(*next));
    char err[1024];
    if (next == NULL) {
        FLO_ERROR("reload failed: out of memory; keeping the current settings", NULL);
        return;
    }
    const struct sc_config *cur = app->cur;
    int rc = sc_config_parse(next, cur->argc, cur->argv, err, sizeof(err));
    if (rc != SC_CONFIG_RUN && rc != SC_CONFIG_CHECK) {
        FLO_ERROR("reload failed: keeping the current settings", "err=\"%s\"",
                  rc < 0 ? err : "unexpected action");
        if (rc >= 0) {
            sc_config_free(next);
        }
        free(next);
        return;
    }
    unsigned applied = 0, kept = 0;
    if (next->auth_token == NULL && proto_auth_required()) {
        /* Never switch client auth off on a reload: a config file caught
         * truncated by an editor (or half copied) reads as "no token", and
         * that must not open every route. Only a restart disables auth. */
        if (cur->auth_token != NULL) {
            FLO_WARN("setting changed but needs a restart to take effect; keeping the old value",
                     "setting=auth-token reason=\"a reload never turns client auth off\"");
            kept++;
        }
    } else if (str_differs(cur->auth_token, next->auth_token)) {
        if (proto_auth_set_token(next->auth_token) != 0) {
            FLO_ERROR("reload failed: out of memory; keeping the current settings", NULL);
            sc_config_free(next);
            free(next);
            return;
        }
        FLO_INFO("reloaded setting", "setting=auth-token auth=%s", next->auth_token ? "on" : "off");
        applied++;
    }
    /* The log level and format change last, after the reload's own lines
     * were written in the old ones (a switch to "warn" would hide them). */
    bool relog = cur->log_level != next->log_level || cur->log_format != next->log_format;
    if (cur->log_level != next->log_level) {
        FLO_INFO("reloaded setting", "setting=log-level value=%s",
                 next->log_level == FLO_LOG_DEBUG  ? "debug"
                 : next->log_level == FLO_LOG_INFO ? "info"
                 : next->log_level == FLO_LOG_WARN ? "warn"
                                                   : "error");
        applied++;
    }
    if (cur->log_format != next->log_format) {
        FLO_INFO("reloaded setting", "setting=log-format value=%s",
                 next->log_format == SC_LOG_JSON ? "json" : "logfmt");
        applied++;
    }
    if (cur->shutdown_grace_s != next->shutdown_grace_s) {
        app->grace_s = next->shutdown_grace_s;
        FLO_INFO("reloaded setting", "setting=shutdown-grace value=%u", app->grace_s);
        applied++;
    }
    /* Against the start-up settings: those are the ones still in effect. */
    unsigned restart = report_restart_needed(app->cfg, next) + kept;
    FLO_INFO("configuration reloaded", "applied=%u needs_restart=%u config=%s", applied, restart,
             next->config_path ? next->config_path : "(none)");
    if (relog) {
        sc_app_apply_logging(next);
    }
    /* The previous reloaded config may be freed: nothing borrows from it
     * (the servers borrow from the start-up config only). */
    if (app->reloaded) {
        sc_config_free(app->reloaded);
        free(app->reloaded);
    }
    app->reloaded = next;
    app->cur = next;
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
    app->ctx.limits = cfg->limits;
    if (proto_auth_set_token(cfg->auth_token) != 0) {
        FLO_ERROR("out of memory", NULL);
        return -1;
    }
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
             "version=%s http=%s resp=%s upstream=%s namespace=%s pool=%u auth=%s "
             "shutdown_grace_s=%u config=%s pid=%d",
             FLO_VERSION_STRING, http, resp, app->upstream_desc, cfg->ns, cfg->pool,
             cfg->auth_token ? "on" : "off", cfg->shutdown_grace_s,
             cfg->config_path ? cfg->config_path : "(none)", (int)getpid());
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

void sc_app_apply_logging(const struct sc_config *cfg)
{
    flo_log_set_format(cfg->log_format == SC_LOG_JSON ? FLO_LOG_FORMAT_JSON
                                                      : FLO_LOG_FORMAT_LOGFMT);
    flo_log_set_level(cfg->log_level);
}

int sc_app_run(const struct sc_config *cfg)
{
    struct sc_app *app = calloc(1, sizeof(*app));
    if (app == NULL) {
        FLO_ERROR("out of memory", NULL);
        return SC_EXIT_START;
    }
    app->cfg = cfg;
    app->cur = cfg;
    app->grace_s = cfg->shutdown_grace_s;
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
    uv_signal_init(&app->loop, &app->sighup);
    uv_timer_init(&app->loop, &app->grace);
    uv_timer_init(&app->loop, &app->drain);
    app->sigint.data = app->sigterm.data = app->sighup.data = app;
    app->grace.data = app->drain.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sighup, on_sighup, SIGHUP);

    int code = SC_EXIT_OK;
    if (start(app) != 0) {
        code = SC_EXIT_START;
        begin_shutdown(app, NULL);
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    if (app->forced) {
        /* Handles are still open and may reference app: leave it to the
         * process exit rather than free memory libuv still points to. */
        return SC_EXIT_START;
    }
    uv_close((uv_handle_t *)&app->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&app->sighup, on_handle_closed);
    uv_close((uv_handle_t *)&app->grace, on_handle_closed);
    uv_close((uv_handle_t *)&app->drain, on_handle_closed);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    proto_auth_clear();
    uv_update_time(&app->loop); /* the cached loop time may predate the last pass */
    uint64_t now_ms = uv_now(&app->loop);
    uint64_t shutdown_ms = now_ms > app->drain_start_ms ? now_ms - app->drain_start_ms : 0;
    proto_metrics_reset(); /* the registry's series: nothing left for a leak check */
    if (uv_loop_close(&app->loop) != 0) {
        uv_walk(&app->loop, report_leftover, NULL);
        FLO_WARN("event loop not empty at exit", NULL);
        return code; /* app stays allocated: handles still point into it */
    }
    if (code == SC_EXIT_OK) {
        FLO_INFO("flo-sidecar stopped",
                 "in_flight_at_signal=%u longpolls_ended=%u cut_off=%u sessions_ended=%llu "
                 "shutdown_ms=%llu",
                 app->inflight_at_signal, app->longpolls_ended, app->cut_off,
                 (unsigned long long)app->sessions_left, (unsigned long long)shutdown_ms);
    }
    if (app->reloaded) {
        sc_config_free(app->reloaded);
        free(app->reloaded);
    }
    free(app);
    return code;
}
