/*
 * Command-line and environment configuration of flo-sidecar. One table
 * lists every option with its flag, environment variable and default; the
 * parser first collects raw strings (environment, then flags on top, which
 * is the precedence rule), then validates each value once, so every error
 * message can name exactly where the bad value came from.
 */
#include "sc_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_log.h"
#include "proto.h"

enum opt_id_e {
    O_UPSTREAM,
    O_DEV,
    O_HTTP,
    O_RESP,
    O_NAMESPACE,
    O_POOL,
    O_LONGPOLL_POOL,
    O_API_KEY,
    O_AUTH_TOKEN,
    O_MAX_BODY,
    O_LOG_LEVEL,
    O_SESSION_SECRET,
    O_SESSION_IDLE,
    O_MAX_SESSIONS,
    O_COUNT
};

struct opt_def {
    const char *flag;    /* without the leading "--" */
    const char *env;     /* FLO_SIDECAR_<NAME> */
    const char *env_alt; /* a second, lower-priority variable, or NULL */
    const char *metavar; /* NULL for a boolean flag */
    const char *def;     /* default shown in --help */
    const char *help;
};

static const struct opt_def opts[O_COUNT] = {
    [O_UPSTREAM] = {"upstream", "FLO_SIDECAR_UPSTREAM", NULL, "HOST:PORT[,HOST:PORT...]",
                    "(none: --upstream or --dev is required)",
                    "Flo server addresses; the pool connects to each one"},
    [O_DEV] = {"dev", "FLO_SIDECAR_DEV", NULL, NULL, "off",
               "run an embedded in-memory flo-dev as the upstream (env: 1/true/yes/on)"},
    [O_HTTP] = {"http", "FLO_SIDECAR_HTTP", NULL, "ADDR:PORT", SC_DEFAULT_HTTP,
                "HTTP/JSON listen address (port 0 = any free port)"},
    [O_RESP] = {"resp", "FLO_SIDECAR_RESP", NULL, "ADDR:PORT", SC_DEFAULT_RESP,
                "RESP (Redis protocol) listen address (port 0 = any free port)"},
    [O_NAMESPACE] = {"namespace", "FLO_SIDECAR_NAMESPACE", NULL, "NS", SC_DEFAULT_NAMESPACE,
                     "default Flo namespace (1-255 bytes)"},
    [O_POOL] = {"pool", "FLO_SIDECAR_POOL", NULL, "N", "2",
                "pipelined connections per upstream address (1-192)"},
    [O_LONGPOLL_POOL] = {"longpoll-pool", "FLO_SIDECAR_LONGPOLL_POOL", NULL, "N", "4",
                         "connections per upstream address reserved for long-polls (block_ms / "
                         "wait_ms), each carrying up to 4096 waiting requests (1-64)"},
    [O_API_KEY] = {"api-key", "FLO_SIDECAR_API_KEY", "FLO_API_KEY", "KEY", "(none)",
                   "API key presented to the upstream on each new connection"},
    [O_AUTH_TOKEN] = {"auth-token", "FLO_SIDECAR_AUTH_TOKEN", NULL, "TOKEN",
                      "(none: no client auth)",
                      "token clients must present (RESP AUTH, HTTP Authorization: Bearer)"},
    [O_MAX_BODY] =
        {"max-body", "FLO_SIDECAR_MAX_BODY", NULL, "BYTES", "16777216 (16 MiB)",
         "largest value / request body accepted, at most 100M; suffixes K, M, G (x1024)"},
    [O_LOG_LEVEL] = {"log-level", "FLO_SIDECAR_LOG_LEVEL", NULL, "debug|info|warn|error", "info",
                     "lowest level of log lines written to stderr"},
    [O_SESSION_SECRET] = {"session-secret", "FLO_SIDECAR_SESSION_SECRET", NULL, "SECRET",
                          "(derived from --api-key and --auth-token)",
                          "key that signs consumer-session ids (at least 16 bytes); give every "
                          "replica the same one so they accept each other's ids"},
    [O_SESSION_IDLE] = {"session-idle-timeout", "FLO_SIDECAR_SESSION_IDLE_TIMEOUT", NULL, "SECONDS",
                        "300",
                        "end a consumer session (and leave its group) after this long unused "
                        "(1-86400)"},
    [O_MAX_SESSIONS] = {"max-sessions", "FLO_SIDECAR_MAX_SESSIONS", NULL, "N", "65536",
                        "consumer sessions (HTTP) plus RESP group consumers tracked at once "
                        "(1-4294967295)"},
};

enum src_e { SRC_DEFAULT = 0, SRC_ENV, SRC_FLAG };

struct raw_val {
    const char *val; /* borrowed from argv / environ */
    enum src_e src;
    const char *where; /* "--pool" or "FLO_SIDECAR_POOL" for messages */
    char flagname[40]; /* storage for "--<flag>" */
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

void sc_config_usage(FILE *out)
{
    fprintf(out, "Usage: flo-sidecar (--upstream HOST:PORT[,HOST:PORT...] | --dev) [options]\n"
                 "\n"
                 "A local proxy that keeps pooled, pipelined connections to Flo and serves\n"
                 "HTTP/JSON and RESP (Redis protocol) clients.\n"
                 "\n"
                 "Options (each also read from its environment variable; a flag beats the\n"
                 "environment, the environment beats the default; an empty variable is unset):\n");
    for (int i = 0; i < O_COUNT; i++) {
        const struct opt_def *o = &opts[i];
        fprintf(out, "  --%s%s%s\n", o->flag, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "      %s\n", o->help);
        fprintf(out, "      env: %s%s%s   default: %s\n", o->env, o->env_alt ? ", " : "",
                o->env_alt ? o->env_alt : "", o->def);
    }
    fprintf(out, "  --help, -h\n      print this help and exit\n"
                 "  --version, -V\n      print the version and exit\n"
                 "\n"
                 "Flags take their value as \"--flag VALUE\" or \"--flag=VALUE\". --dev and\n"
                 "--upstream exclude each other (a flag overrides the other one set in the\n"
                 "environment). Exit status: 0 after a clean shutdown (SIGINT/SIGTERM),\n"
                 "1 when a listener or the upstream set-up fails, 2 for bad configuration.\n");
}

static int find_flag(const char *name, size_t len)
{
    for (int i = 0; i < O_COUNT; i++) {
        if (strlen(opts[i].flag) == len && strncmp(opts[i].flag, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)*s)) {
        return -1;
    }
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    if (*s != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* "1048576", "512K", "16M", "1G", "16MiB", "16MB": K/M/G are powers of 1024. */
static int parse_size(const char *s, uint64_t *out)
{
    char num[32];
    size_t n = 0;
    while (isdigit((unsigned char)s[n]) && n < sizeof(num) - 1) {
        num[n] = s[n];
        n++;
    }
    num[n] = '\0';
    uint64_t v;
    if (parse_u64(num, &v) != 0) {
        return -1;
    }
    const char *suf = s + n;
    unsigned shift = 0;
    if (*suf) {
        switch (tolower((unsigned char)*suf)) {
        case 'k':
            shift = 10;
            break;
        case 'm':
            shift = 20;
            break;
        case 'g':
            shift = 30;
            break;
        default:
            return -1;
        }
        suf++;
        if (strcasecmp(suf, "") != 0 && strcasecmp(suf, "b") != 0 && strcasecmp(suf, "ib") != 0) {
            return -1;
        }
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        return -1;
    }
    *out = v << shift;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int sc_config_parse_addr(const char *s, unsigned port_min, char *host, size_t hostcap,
                         unsigned *port, char *err, size_t errcap)
{
    const char *colon;
    const char *hstart = s, *hend;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            set_err(err, errcap, "expected [IPV6]:PORT");
            return -1;
        }
        hstart = s + 1;
        hend = close;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            set_err(err, errcap, "expected HOST:PORT (no ':' found)");
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
            set_err(err, errcap, "an IPv6 address must be written as [ADDR]:PORT");
            return -1;
        }
        hend = colon;
    }
    size_t hlen = (size_t)(hend - hstart);
    if (hlen == 0) {
        set_err(err, errcap, "the host is empty");
        return -1;
    }
    if (hlen + 1 > hostcap || hlen > 253) {
        set_err(err, errcap, "the host is too long");
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)hstart[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' && c != '%') {
            set_err(err, errcap, "the host has an invalid character '%c'", isprint(c) ? c : '?');
            return -1;
        }
    }
    uint64_t p;
    if (parse_u64(colon + 1, &p) != 0 || p > 65535 || p < port_min) {
        set_err(err, errcap, "bad port '%s' (expected %u-65535)", colon + 1, port_min);
        return -1;
    }
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* Collect raw values: environment first, then flags override. */
static int collect(struct raw_val raw[O_COUNT], int argc, char *const argv[], int *action,
                   char *err, size_t errcap)
{
    for (int i = 0; i < O_COUNT; i++) {
        snprintf(raw[i].flagname, sizeof(raw[i].flagname), "--%s", opts[i].flag);
        raw[i].where = raw[i].flagname;
        const char *v = getenv(opts[i].env);
        const char *where = opts[i].env;
        if ((v == NULL || *v == '\0') && opts[i].env_alt) {
            v = getenv(opts[i].env_alt);
            where = opts[i].env_alt;
        }
        if (v != NULL && *v != '\0') {
            raw[i].val = v;
            raw[i].src = SRC_ENV;
            raw[i].where = where;
        }
    }
    /* --help / --version win over everything else on the line, so a user
     * who is unsure of a flag can always get help. */
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            *action = SC_CONFIG_HELP;
            return 0;
        }
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--version") == 0 || strcmp(argv[a], "-V") == 0) {
            *action = SC_CONFIG_VERSION;
            return 0;
        }
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            set_err(err, errcap, "unexpected argument '%s' (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = find_flag(name, nlen);
        if (id < 0) {
            set_err(err, errcap, "unknown flag '--%.*s' (see --help)", (int)(nlen > 64 ? 64 : nlen),
                    name);
            return -1;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (opts[id].metavar == NULL) {
            val = "1"; /* a bare boolean flag */
        } else if (a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0) {
            val = argv[++a];
        } else {
            set_err(err, errcap, "flag --%s needs a value (%s)", opts[id].flag, opts[id].metavar);
            return -1;
        }
        raw[id].val = val;
        raw[id].src = SRC_FLAG;
        raw[id].where = raw[id].flagname;
    }
    return 0;
}

static int check_listen(const struct raw_val *r, const char *def, char *dst, char *err,
                        size_t errcap)
{
    const char *v = r->val ? r->val : def;
    char host[SC_ADDR_MAX], why[128];
    unsigned port;
    if (strlen(v) >= SC_ADDR_MAX) {
        set_err(err, errcap, "invalid %s '%.40s...': too long", r->where, v);
        return -1;
    }
    if (sc_config_parse_addr(v, 0, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        set_err(err, errcap, "invalid %s '%s': %s", r->where, v, why);
        return -1;
    }
    snprintf(dst, SC_ADDR_MAX, "%s", v);
    return 0;
}

static int split_upstreams(struct sc_config *cfg, const struct raw_val *r, char *err, size_t errcap)
{
    const char *v = r->val;
    size_t n = 1;
    for (const char *p = v; *p; p++) {
        n += *p == ',';
    }
    if (n > SC_MAX_UPSTREAMS) {
        set_err(err, errcap, "invalid %s: %zu addresses (at most %d)", r->where, n,
                SC_MAX_UPSTREAMS);
        return -1;
    }
    cfg->upstreams = calloc(n, sizeof(char *));
    if (cfg->upstreams == NULL) {
        set_err(err, errcap, "out of memory");
        return -1;
    }
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        /* Tolerate spaces around commas ("a:1, b:2"), common in YAML env. */
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        char one[SC_ADDR_MAX], host[SC_ADDR_MAX], why[128];
        unsigned port;
        if (len == 0) {
            set_err(err, errcap, "invalid %s '%s': empty address in the list", r->where, v);
            return -1;
        }
        if (len >= sizeof(one)) {
            set_err(err, errcap, "invalid %s: address too long", r->where);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (sc_config_parse_addr(one, 1, host, sizeof(host), &port, why, sizeof(why)) != 0) {
            set_err(err, errcap, "invalid %s '%s': %s", r->where, one, why);
            return -1;
        }
        cfg->upstreams[cfg->nupstreams] = strdup(one);
        if (cfg->upstreams[cfg->nupstreams] == NULL) {
            set_err(err, errcap, "out of memory");
            return -1;
        }
        cfg->nupstreams++;
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return 0;
}

static int dup_secret(const struct raw_val *r, char **dst, char *err, size_t errcap)
{
    if (r->val == NULL) {
        *dst = NULL;
        return 0;
    }
    if (*r->val == '\0') {
        set_err(err, errcap, "invalid %s: must not be empty", r->where);
        return -1;
    }
    *dst = strdup(r->val);
    if (*dst == NULL) {
        set_err(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/* The consumer-session options. */
static int build_sessions(struct sc_config *cfg, struct raw_val raw[O_COUNT], char *err,
                          size_t errcap)
{
    const struct raw_val *r = &raw[O_SESSION_IDLE];
    cfg->session_idle_s = SC_DEFAULT_SESSION_IDLE_S;
    if (r->val) {
        uint64_t n;
        if (parse_u64(r->val, &n) != 0 || n < 1 || n > SC_SESSION_IDLE_MAX_S) {
            set_err(err, errcap, "invalid %s '%s': expected a whole number of seconds 1-%u",
                    r->where, r->val, SC_SESSION_IDLE_MAX_S);
            return -1;
        }
        cfg->session_idle_s = (unsigned)n;
    }
    r = &raw[O_MAX_SESSIONS];
    cfg->max_sessions = SC_DEFAULT_MAX_SESSIONS;
    if (r->val) {
        uint64_t n;
        if (parse_u64(r->val, &n) != 0 || n < 1 || n > UINT32_MAX) {
            set_err(err, errcap, "invalid %s '%s': expected a whole number 1-4294967295", r->where,
                    r->val);
            return -1;
        }
        cfg->max_sessions = (uint32_t)n;
    }
    r = &raw[O_SESSION_SECRET];
    if (r->val && strlen(r->val) < SC_SESSION_SECRET_MIN) {
        set_err(err, errcap,
                "invalid %s: %zu bytes is too short for a session secret (at least %u; e.g. "
                "the output of 'openssl rand -hex 32')",
                r->where, strlen(r->val), SC_SESSION_SECRET_MIN);
        return -1;
    }
    return dup_secret(r, &cfg->session_secret, err, errcap);
}

/* Validate raw values into cfg. */
static int build(struct sc_config *cfg, struct raw_val raw[O_COUNT], char *err, size_t errcap)
{
    /* Upstream selection: --dev or --upstream. A flag beats the other one
     * coming from the environment; both at the same level is a mistake. */
    bool dev = false;
    if (raw[O_DEV].val && parse_bool(raw[O_DEV].val, &dev) != 0) {
        set_err(err, errcap, "invalid %s '%s': expected 1/true/yes/on or 0/false/no/off",
                raw[O_DEV].where, raw[O_DEV].val);
        return -1;
    }
    bool have_up = raw[O_UPSTREAM].val != NULL;
    if (dev && have_up) {
        if (raw[O_DEV].src == raw[O_UPSTREAM].src) {
            set_err(err, errcap, "%s and %s exclude each other: use one of them", raw[O_DEV].where,
                    raw[O_UPSTREAM].where);
            return -1;
        }
        if (raw[O_DEV].src == SRC_FLAG) {
            have_up = false;
        } else {
            dev = false;
        }
    }
    if (!dev && !have_up) {
        set_err(err, errcap,
                "no upstream: give --upstream HOST:PORT (or FLO_SIDECAR_UPSTREAM), or --dev to "
                "run an embedded flo-dev");
        return -1;
    }
    cfg->dev = dev;
    if (have_up && split_upstreams(cfg, &raw[O_UPSTREAM], err, errcap) != 0) {
        return -1;
    }

    if (check_listen(&raw[O_HTTP], SC_DEFAULT_HTTP, cfg->http, err, errcap) != 0 ||
        check_listen(&raw[O_RESP], SC_DEFAULT_RESP, cfg->resp, err, errcap) != 0) {
        return -1;
    }

    const char *ns = raw[O_NAMESPACE].val ? raw[O_NAMESPACE].val : SC_DEFAULT_NAMESPACE;
    size_t nslen = strlen(ns);
    if (nslen == 0 || nslen > PROTO_MAX_NAMESPACE) {
        set_err(err, errcap, "invalid %s: length %zu (must be 1-%u bytes)", raw[O_NAMESPACE].where,
                nslen, PROTO_MAX_NAMESPACE);
        return -1;
    }
    for (size_t i = 0; i < nslen; i++) {
        if (iscntrl((unsigned char)ns[i]) || ns[i] == ' ') {
            set_err(err, errcap, "invalid %s: spaces and control characters are not allowed",
                    raw[O_NAMESPACE].where);
            return -1;
        }
    }
    memcpy(cfg->ns, ns, nslen + 1);

    cfg->pool = SC_DEFAULT_POOL;
    if (raw[O_POOL].val) {
        uint64_t n;
        if (parse_u64(raw[O_POOL].val, &n) != 0 || n < 1 || n > SC_POOL_MAX) {
            set_err(err, errcap, "invalid %s '%s': expected a whole number 1-%d", raw[O_POOL].where,
                    raw[O_POOL].val, SC_POOL_MAX);
            return -1;
        }
        cfg->pool = (unsigned)n;
    }

    cfg->longpoll_pool = SC_DEFAULT_LONGPOLL_POOL;
    if (raw[O_LONGPOLL_POOL].val) {
        uint64_t n;
        if (parse_u64(raw[O_LONGPOLL_POOL].val, &n) != 0 || n < 1 || n > SC_LONGPOLL_POOL_MAX) {
            set_err(err, errcap, "invalid %s '%s': expected a whole number 1-%d",
                    raw[O_LONGPOLL_POOL].where, raw[O_LONGPOLL_POOL].val, SC_LONGPOLL_POOL_MAX);
            return -1;
        }
        cfg->longpoll_pool = (unsigned)n;
    }

    cfg->max_body = PROTO_DEFAULT_MAX_BODY;
    if (raw[O_MAX_BODY].val) {
        uint64_t n;
        if (parse_size(raw[O_MAX_BODY].val, &n) != 0 || n < 1 || n > SC_MAX_BODY_LIMIT) {
            set_err(
                err, errcap,
                "invalid %s '%s': expected a size from 1 byte to 100M (e.g. 1048576, 512K, 16M)",
                raw[O_MAX_BODY].where, raw[O_MAX_BODY].val);
            return -1;
        }
        cfg->max_body = (size_t)n;
    }

    cfg->log_level = FLO_LOG_INFO;
    if (raw[O_LOG_LEVEL].val) {
        int lv = flo_log_parse_level(raw[O_LOG_LEVEL].val);
        if (lv < 0) {
            set_err(err, errcap, "invalid %s '%s': expected debug, info, warn or error",
                    raw[O_LOG_LEVEL].where, raw[O_LOG_LEVEL].val);
            return -1;
        }
        cfg->log_level = lv;
    }

    if (dup_secret(&raw[O_API_KEY], &cfg->api_key, err, errcap) != 0 ||
        dup_secret(&raw[O_AUTH_TOKEN], &cfg->auth_token, err, errcap) != 0) {
        return -1;
    }
    return build_sessions(cfg, raw, err, errcap);
}

int sc_config_parse(struct sc_config *cfg, int argc, char *const argv[], char *err, size_t errcap)
{
    memset(cfg, 0, sizeof(*cfg));
    if (err && errcap) {
        err[0] = '\0';
    }
    struct raw_val raw[O_COUNT];
    memset(raw, 0, sizeof(raw));
    int action = SC_CONFIG_RUN;
    if (collect(raw, argc, argv, &action, err, errcap) != 0) {
        return -1;
    }
    if (action != SC_CONFIG_RUN) {
        return action;
    }
    if (build(cfg, raw, err, errcap) != 0) {
        sc_config_free(cfg);
        return -1;
    }
    return SC_CONFIG_RUN;
}

void sc_config_free(struct sc_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->nupstreams; i++) {
        free(cfg->upstreams[i]);
    }
    free(cfg->upstreams);
    free(cfg->api_key);
    free(cfg->auth_token);
    free(cfg->session_secret);
    cfg->session_secret = NULL;
    cfg->upstreams = NULL;
    cfg->nupstreams = 0;
    cfg->api_key = NULL;
    cfg->auth_token = NULL;
}
