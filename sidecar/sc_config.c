/*
 * Command-line, environment and config-file configuration of flo-sidecar.
 * One table lists every option with its flag (also its config-file name),
 * environment variable and default; the parser first collects raw strings
 * (config file, then environment, then flags on top, which is the
 * precedence rule), then validates each value once, so every error message
 * can name exactly where the bad value came from (flag, variable or
 * FILE:LINE).
 */
#include "sc_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flo/flo_log.h"
#include "proto.h"
#include "sc_config_file.h"

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
    O_CONFIG,
    O_AUTH_TOKEN_FILE,
    O_SESSION_SECRET_FILE,
    O_SHUTDOWN_GRACE,
    O_LOG_FORMAT,
    O_MAX_HTTP_CONNECTIONS,
    O_MAX_RESP_CLIENTS,
    O_MAX_RESP_ARGS,
    O_MAX_RESP_BULK,
    O_MAX_LONGPOLLS,
    O_RESP_OUTPUT_LIMIT,
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
    [O_CONFIG] = {"config", "FLO_SIDECAR_CONFIG", NULL, "FILE", "(none)",
                  "read settings from FILE: `name = value` lines, names are these flags "
                  "without --; flags and environment override it; SIGHUP re-reads it"},
    [O_AUTH_TOKEN_FILE] = {"auth-token-file", "FLO_SIDECAR_AUTH_TOKEN_FILE", NULL, "PATH", "(none)",
                           "read the client token from the first line of PATH (instead of "
                           "--auth-token); SIGHUP re-reads it"},
    [O_SESSION_SECRET_FILE] = {"session-secret-file", "FLO_SIDECAR_SESSION_SECRET_FILE", NULL,
                               "PATH", "(none)",
                               "read the session secret from the first line of PATH (instead "
                               "of --session-secret)"},
    [O_SHUTDOWN_GRACE] = {"shutdown-grace", "FLO_SIDECAR_SHUTDOWN_GRACE", NULL, "SECONDS", "10",
                          "on SIGTERM/SIGINT, how long requests in flight may take to finish "
                          "before the sidecar closes them (0-3600)"},
    [O_LOG_FORMAT] = {"log-format", "FLO_SIDECAR_LOG_FORMAT", NULL, "logfmt|json", "logfmt",
                      "log lines as logfmt (key=value) or JSON objects"},
    [O_MAX_HTTP_CONNECTIONS] = {"max-http-connections", "FLO_SIDECAR_MAX_HTTP_CONNECTIONS", NULL,
                                "N", "16384", "concurrent HTTP connections (1-1000000)"},
    [O_MAX_RESP_CLIENTS] = {"max-resp-clients", "FLO_SIDECAR_MAX_RESP_CLIENTS", NULL, "N", "10000",
                            "concurrent RESP clients; more get \"-ERR max number of clients "
                            "reached\" (1-1000000)"},
    [O_MAX_RESP_ARGS] = {"max-resp-args", "FLO_SIDECAR_MAX_RESP_ARGS", NULL, "N", "65536",
                         "arguments of one RESP command (1-16777216)"},
    [O_MAX_RESP_BULK] = {"max-resp-bulk", "FLO_SIDECAR_MAX_RESP_BULK", NULL, "BYTES",
                         "--max-body + 64K",
                         "bytes of one RESP argument, at most 1G; suffixes K, M, G"},
    [O_MAX_LONGPOLLS] = {"max-longpolls", "FLO_SIDECAR_MAX_LONGPOLLS", NULL, "N", "20000",
                         "blocking requests (long-polls, blocked RESP commands) waiting at "
                         "once, both protocols (1-1000000)"},
    [O_RESP_OUTPUT_LIMIT] = {"resp-output-limit", "FLO_SIDECAR_RESP_OUTPUT_LIMIT", NULL, "BYTES",
                             "32M",
                             "unsent reply bytes of one RESP client before it is disconnected, "
                             "1K-16G; suffixes K, M, G"},
};

enum src_e { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };

struct raw_val {
    const char *val; /* borrowed from argv / environ / the config file */
    enum src_e src;
    const char *where; /* "--pool", "FLO_SIDECAR_POOL" or "pool (FILE:LINE)" */
    char flagname[40]; /* storage for "--<flag>" */
    char fileref[300]; /* storage for "<name> (FILE:LINE)" */
};

void sc_config_usage(FILE *out)
{
    fprintf(out, "Usage: flo-sidecar (--upstream HOST:PORT[,HOST:PORT...] | --dev) [options]\n"
                 "\n"
                 "A local proxy that keeps pooled, pipelined connections to Flo and serves\n"
                 "HTTP/JSON and RESP (Redis protocol) clients.\n"
                 "\n"
                 "Options (each also read from its environment variable and, without the\n"
                 "leading --, from the --config file; a flag beats the environment, the\n"
                 "environment beats the file, the file beats the default; an empty variable\n"
                 "is unset):\n");
    for (int i = 0; i < O_COUNT; i++) {
        const struct opt_def *o = &opts[i];
        fprintf(out, "  --%s%s%s\n", o->flag, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "      %s\n", o->help);
        fprintf(out, "      env: %s%s%s   default: %s\n", o->env, o->env_alt ? ", " : "",
                o->env_alt ? o->env_alt : "", o->def);
    }
    fprintf(out, "  --check-config\n      validate flags, environment, config and secret files,\n"
                 "      print \"configuration ok\" and the effective settings (secrets\n"
                 "      redacted) and exit 0, or print the error and exit 2\n"
                 "  --help, -h\n      print this help and exit\n"
                 "  --version, -V\n      print the version and exit\n"
                 "\n"
                 "Flags take their value as \"--flag VALUE\" or \"--flag=VALUE\". --dev and\n"
                 "--upstream exclude each other, as do --auth-token and --auth-token-file, and\n"
                 "--session-secret and --session-secret-file (a higher-precedence source\n"
                 "overrides the other one). Signals: SIGTERM/SIGINT shut down gracefully;\n"
                 "SIGHUP re-reads the config and secret files and applies the log level, log\n"
                 "format and auth token. Exit status: 0 after a clean shutdown, 1 when a\n"
                 "listener or the upstream set-up fails, 2 for bad configuration.\n");
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
            sc__set_err(err, errcap, "expected [IPV6]:PORT");
            return -1;
        }
        hstart = s + 1;
        hend = close;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            sc__set_err(err, errcap, "expected HOST:PORT (no ':' found)");
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
            sc__set_err(err, errcap, "an IPv6 address must be written as [ADDR]:PORT");
            return -1;
        }
        hend = colon;
    }
    size_t hlen = (size_t)(hend - hstart);
    if (hlen == 0) {
        sc__set_err(err, errcap, "the host is empty");
        return -1;
    }
    if (hlen + 1 > hostcap || hlen > 253) {
        sc__set_err(err, errcap, "the host is too long");
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)hstart[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' && c != '%') {
            sc__set_err(err, errcap, "the host has an invalid character '%c'",
                        isprint(c) ? c : '?');
            return -1;
        }
    }
    uint64_t p;
    if (parse_u64(colon + 1, &p) != 0 || p > 65535 || p < port_min) {
        sc__set_err(err, errcap, "bad port '%s' (expected %u-65535)", colon + 1, port_min);
        return -1;
    }
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* Take the config file's entries as raw values (the lowest source). */
static int apply_file(struct raw_val raw[O_COUNT], const struct sc_config_file *f, char *err,
                      size_t errcap)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct sc_config_entry *e = &f->entries[i];
        int id = find_flag(e->name, strlen(e->name));
        if (id < 0) {
            sc__set_err(err, errcap,
                        "%s:%u: unknown setting '%s' (names are the flags without --, see --help)",
                        f->path, e->line, e->name);
            return -1;
        }
        if (id == O_CONFIG) {
            sc__set_err(err, errcap, "%s:%u: 'config' cannot be set inside a config file", f->path,
                        e->line);
            return -1;
        }
        raw[id].val = e->value;
        raw[id].src = SRC_FILE;
        snprintf(raw[id].fileref, sizeof(raw[id].fileref), "%s (%s:%u)", opts[id].flag, f->path,
                 e->line);
        raw[id].where = raw[id].fileref;
    }
    return 0;
}

/* Collect raw values: the config file first, then the environment, then
 * flags override. The file's strings are owned by *file. */
static int collect(struct raw_val raw[O_COUNT], int argc, char *const argv[], int *action,
                   struct sc_config_file *file, char *err, size_t errcap)
{
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
    /* Flags first into their own slots: the config file's path may be one. */
    struct raw_val flags[O_COUNT];
    memset(flags, 0, sizeof(flags));
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--check-config") == 0) {
            *action = SC_CONFIG_CHECK;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            sc__set_err(err, errcap, "unexpected argument '%s' (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = find_flag(name, nlen);
        if (id < 0) {
            sc__set_err(err, errcap, "unknown flag '--%.*s' (see --help)",
                        (int)(nlen > 64 ? 64 : nlen), name);
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
            sc__set_err(err, errcap, "flag --%s needs a value (%s)", opts[id].flag,
                        opts[id].metavar);
            return -1;
        }
        flags[id].val = val;
    }
    for (int i = 0; i < O_COUNT; i++) {
        snprintf(raw[i].flagname, sizeof(raw[i].flagname), "--%s", opts[i].flag);
        raw[i].where = raw[i].flagname;
    }
    const char *path = flags[O_CONFIG].val;
    if (path == NULL) {
        path = getenv(opts[O_CONFIG].env);
    }
    if (path != NULL && *path != '\0') {
        if (sc_config_file_read(path, file, err, errcap) != 0 ||
            apply_file(raw, file, err, errcap) != 0) {
            return -1;
        }
    }
    for (int i = 0; i < O_COUNT; i++) {
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
    for (int i = 0; i < O_COUNT; i++) {
        if (flags[i].val != NULL) {
            raw[i].val = flags[i].val;
            raw[i].src = SRC_FLAG;
            raw[i].where = raw[i].flagname;
        }
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
        sc__set_err(err, errcap, "invalid %s '%.40s...': too long", r->where, v);
        return -1;
    }
    if (sc_config_parse_addr(v, 0, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        sc__set_err(err, errcap, "invalid %s '%s': %s", r->where, v, why);
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
        sc__set_err(err, errcap, "invalid %s: %zu addresses (at most %d)", r->where, n,
                    SC_MAX_UPSTREAMS);
        return -1;
    }
    cfg->upstreams = calloc(n, sizeof(char *));
    if (cfg->upstreams == NULL) {
        sc__set_err(err, errcap, "out of memory");
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
            sc__set_err(err, errcap, "invalid %s '%s': empty address in the list", r->where, v);
            return -1;
        }
        if (len >= sizeof(one)) {
            sc__set_err(err, errcap, "invalid %s: address too long", r->where);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (sc_config_parse_addr(one, 1, host, sizeof(host), &port, why, sizeof(why)) != 0) {
            sc__set_err(err, errcap, "invalid %s '%s': %s", r->where, one, why);
            return -1;
        }
        cfg->upstreams[cfg->nupstreams] = strdup(one);
        if (cfg->upstreams[cfg->nupstreams] == NULL) {
            sc__set_err(err, errcap, "out of memory");
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
        sc__set_err(err, errcap, "invalid %s: must not be empty", r->where);
        return -1;
    }
    *dst = strdup(r->val);
    if (*dst == NULL) {
        sc__set_err(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * Of a secret given directly (val) and through a file (file): which one
 * applies. The higher-precedence source wins; both from the same source is
 * a mistake. 1 = the file, 0 = val (or neither), -1 = error.
 */
static int pick_secret(const struct raw_val *val, const struct raw_val *file, char *err,
                       size_t errcap)
{
    if (file->val == NULL) {
        return 0;
    }
    if (val->val == NULL) {
        return 1;
    }
    if (val->src == file->src) {
        sc__set_err(err, errcap, "%s and %s exclude each other: use one of them", val->where,
                    file->where);
        return -1;
    }
    return file->src > val->src;
}

/* Read the secret named by r (a file path) into *secret; keep the path. */
static int read_secret_file(const struct raw_val *r, const char *what, char **path, char **secret,
                            char *err, size_t errcap)
{
    if (*r->val == '\0') {
        sc__set_err(err, errcap, "invalid %s: must not be empty", r->where);
        return -1;
    }
    char why[512];
    if (sc_config_read_secret(what, r->val, secret, why, sizeof(why)) != 0) {
        sc__set_err(err, errcap, "invalid %s: %s", r->where, why);
        return -1;
    }
    *path = strdup(r->val);
    if (*path == NULL) {
        sc__set_err(err, errcap, "out of memory");
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
            sc__set_err(err, errcap, "invalid %s '%s': expected a whole number of seconds 1-%u",
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
            sc__set_err(err, errcap, "invalid %s '%s': expected a whole number 1-4294967295",
                        r->where, r->val);
            return -1;
        }
        cfg->max_sessions = (uint32_t)n;
    }
    r = &raw[O_SESSION_SECRET];
    const char *where = r->where;
    int use_file = pick_secret(r, &raw[O_SESSION_SECRET_FILE], err, errcap);
    if (use_file < 0) {
        return -1;
    }
    if (use_file) {
        where = raw[O_SESSION_SECRET_FILE].where;
        if (read_secret_file(&raw[O_SESSION_SECRET_FILE], "session-secret-file",
                             &cfg->session_secret_file, &cfg->session_secret, err, errcap) != 0) {
            return -1;
        }
    } else if (dup_secret(r, &cfg->session_secret, err, errcap) != 0) {
        return -1;
    }
    if (cfg->session_secret && strlen(cfg->session_secret) < SC_SESSION_SECRET_MIN) {
        sc__set_err(err, errcap,
                    "invalid %s: %zu bytes is too short for a session secret (at least %u; e.g. "
                    "the output of 'openssl rand -hex 32')",
                    where, strlen(cfg->session_secret), SC_SESSION_SECRET_MIN);
        return -1;
    }
    return 0;
}

/* A whole number in [lo, hi] from r (unset: *out keeps its default). */
static int get_uint(const struct raw_val *r, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
                    size_t errcap)
{
    if (r->val == NULL) {
        return 0;
    }
    uint64_t n;
    if (parse_u64(r->val, &n) != 0 || n < lo || n > hi) {
        sc__set_err(err, errcap, "invalid %s '%s': expected a whole number %llu-%llu", r->where,
                    r->val, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = n;
    return 0;
}

/* A size in [lo, hi] bytes from r (unset: *out keeps its default). */
static int get_size(const struct raw_val *r, uint64_t lo, uint64_t hi, const char *range,
                    uint64_t *out, char *err, size_t errcap)
{
    if (r->val == NULL) {
        return 0;
    }
    uint64_t n;
    if (parse_size(r->val, &n) != 0 || n < lo || n > hi) {
        sc__set_err(err, errcap, "invalid %s '%s': expected a size %s (e.g. 1048576, 512K, 16M)",
                    r->where, r->val, range);
        return -1;
    }
    *out = n;
    return 0;
}

/* Shutdown, log format and the client-facing limits. */
static int build_lifecycle(struct sc_config *cfg, struct raw_val raw[O_COUNT], char *err,
                           size_t errcap)
{
    uint64_t grace = SC_DEFAULT_SHUTDOWN_GRACE;
    if (get_uint(&raw[O_SHUTDOWN_GRACE], 0, SC_SHUTDOWN_GRACE_MAX, &grace, err, errcap) != 0) {
        return -1;
    }
    cfg->shutdown_grace_s = (unsigned)grace;

    cfg->log_format = SC_LOG_LOGFMT;
    const struct raw_val *r = &raw[O_LOG_FORMAT];
    if (r->val) {
        if (strcasecmp(r->val, "logfmt") == 0) {
            cfg->log_format = SC_LOG_LOGFMT;
        } else if (strcasecmp(r->val, "json") == 0) {
            cfg->log_format = SC_LOG_JSON;
        } else {
            sc__set_err(err, errcap, "invalid %s '%s': expected logfmt or json", r->where, r->val);
            return -1;
        }
    }

    /* 0 = default in struct proto_limits: only given values are set. */
    struct proto_limits given;
    memset(&given, 0, sizeof(given));
    uint64_t v = 0;
    if (get_uint(&raw[O_MAX_HTTP_CONNECTIONS], 1, 1000000, &v, err, errcap) != 0) {
        return -1;
    }
    given.max_http_connections = (unsigned)v;
    v = 0;
    if (get_uint(&raw[O_MAX_RESP_CLIENTS], 1, 1000000, &v, err, errcap) != 0) {
        return -1;
    }
    given.max_resp_clients = (unsigned)v;
    v = 0;
    if (get_uint(&raw[O_MAX_RESP_ARGS], 1, 16777216, &v, err, errcap) != 0) {
        return -1;
    }
    given.max_resp_args = (size_t)v;
    v = 0;
    if (get_size(&raw[O_MAX_RESP_BULK], 1, 1ull << 30, "from 1 byte to 1G", &v, err, errcap) != 0) {
        return -1;
    }
    given.max_resp_bulk = (size_t)v;
    v = 0;
    if (get_uint(&raw[O_MAX_LONGPOLLS], 1, 1000000, &v, err, errcap) != 0) {
        return -1;
    }
    given.max_longpolls = (unsigned)v;
    v = 0;
    if (get_size(&raw[O_RESP_OUTPUT_LIMIT], 1024, 16ull << 30, "from 1K to 16G", &v, err, errcap) !=
        0) {
        return -1;
    }
    given.resp_output_limit = (size_t)v;
    proto_limits_resolve(&given, cfg->max_body, &cfg->limits);
    return 0;
}

/* Validate raw values into cfg. */
static int build(struct sc_config *cfg, struct raw_val raw[O_COUNT], char *err, size_t errcap)
{
    /* Upstream selection: --dev or --upstream. A flag beats the other one
     * coming from the environment; both at the same level is a mistake. */
    bool dev = false;
    if (raw[O_DEV].val && parse_bool(raw[O_DEV].val, &dev) != 0) {
        sc__set_err(err, errcap, "invalid %s '%s': expected 1/true/yes/on or 0/false/no/off",
                    raw[O_DEV].where, raw[O_DEV].val);
        return -1;
    }
    bool have_up = raw[O_UPSTREAM].val != NULL;
    if (dev && have_up) {
        if (raw[O_DEV].src == raw[O_UPSTREAM].src) {
            sc__set_err(err, errcap, "%s and %s exclude each other: use one of them",
                        raw[O_DEV].where, raw[O_UPSTREAM].where);
            return -1;
        }
        if (raw[O_DEV].src == SRC_FLAG) {
            have_up = false;
        } else {
            dev = false;
        }
    }
    if (!dev && !have_up) {
        sc__set_err(err, errcap,
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
        sc__set_err(err, errcap, "invalid %s: length %zu (must be 1-%u bytes)",
                    raw[O_NAMESPACE].where, nslen, PROTO_MAX_NAMESPACE);
        return -1;
    }
    for (size_t i = 0; i < nslen; i++) {
        if (iscntrl((unsigned char)ns[i]) || ns[i] == ' ') {
            sc__set_err(err, errcap, "invalid %s: spaces and control characters are not allowed",
                        raw[O_NAMESPACE].where);
            return -1;
        }
    }
    memcpy(cfg->ns, ns, nslen + 1);

    cfg->pool = SC_DEFAULT_POOL;
    if (raw[O_POOL].val) {
        uint64_t n;
        if (parse_u64(raw[O_POOL].val, &n) != 0 || n < 1 || n > SC_POOL_MAX) {
            sc__set_err(err, errcap, "invalid %s '%s': expected a whole number 1-%d",
                        raw[O_POOL].where, raw[O_POOL].val, SC_POOL_MAX);
            return -1;
        }
        cfg->pool = (unsigned)n;
    }

    cfg->longpoll_pool = SC_DEFAULT_LONGPOLL_POOL;
    if (raw[O_LONGPOLL_POOL].val) {
        uint64_t n;
        if (parse_u64(raw[O_LONGPOLL_POOL].val, &n) != 0 || n < 1 || n > SC_LONGPOLL_POOL_MAX) {
            sc__set_err(err, errcap, "invalid %s '%s': expected a whole number 1-%d",
                        raw[O_LONGPOLL_POOL].where, raw[O_LONGPOLL_POOL].val, SC_LONGPOLL_POOL_MAX);
            return -1;
        }
        cfg->longpoll_pool = (unsigned)n;
    }

    cfg->max_body = PROTO_DEFAULT_MAX_BODY;
    if (raw[O_MAX_BODY].val) {
        uint64_t n;
        if (parse_size(raw[O_MAX_BODY].val, &n) != 0 || n < 1 || n > SC_MAX_BODY_LIMIT) {
            sc__set_err(
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
            sc__set_err(err, errcap, "invalid %s '%s': expected debug, info, warn or error",
                        raw[O_LOG_LEVEL].where, raw[O_LOG_LEVEL].val);
            return -1;
        }
        cfg->log_level = lv;
    }

    if (dup_secret(&raw[O_API_KEY], &cfg->api_key, err, errcap) != 0) {
        return -1;
    }
    int use_file = pick_secret(&raw[O_AUTH_TOKEN], &raw[O_AUTH_TOKEN_FILE], err, errcap);
    if (use_file < 0) {
        return -1;
    }
    if (use_file) {
        if (read_secret_file(&raw[O_AUTH_TOKEN_FILE], "auth-token-file", &cfg->auth_token_file,
                             &cfg->auth_token, err, errcap) != 0) {
            return -1;
        }
    } else if (dup_secret(&raw[O_AUTH_TOKEN], &cfg->auth_token, err, errcap) != 0) {
        return -1;
    }
    if (build_sessions(cfg, raw, err, errcap) != 0) {
        return -1;
    }
    return build_lifecycle(cfg, raw, err, errcap);
}

int sc_config_parse(struct sc_config *cfg, int argc, char *const argv[], char *err, size_t errcap)
{
    memset(cfg, 0, sizeof(*cfg));
    if (err && errcap) {
        err[0] = '\0';
    }
    struct raw_val raw[O_COUNT];
    memset(raw, 0, sizeof(raw));
    struct sc_config_file file;
    memset(&file, 0, sizeof(file));
    int action = SC_CONFIG_RUN;
    if (collect(raw, argc, argv, &action, &file, err, errcap) != 0) {
        sc_config_file_free(&file);
        return -1;
    }
    if (action != SC_CONFIG_RUN && action != SC_CONFIG_CHECK) {
        sc_config_file_free(&file);
        return action;
    }
    int rc = build(cfg, raw, err, errcap);
    if (rc == 0 && file.path != NULL) {
        cfg->config_path = strdup(file.path);
        if (cfg->config_path == NULL) {
            sc__set_err(err, errcap, "out of memory");
            rc = -1;
        }
    }
    sc_config_file_free(&file); /* build copied every value it keeps */
    if (rc != 0) {
        sc_config_free(cfg);
        return -1;
    }
    cfg->argc = argc;
    cfg->argv = argv;
    return action;
}

/* Secrets do not stay behind in freed memory. */
static void wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
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
    wipe_free(cfg->api_key);
    wipe_free(cfg->auth_token);
    wipe_free(cfg->session_secret);
    free(cfg->config_path);
    free(cfg->auth_token_file);
    free(cfg->session_secret_file);
    cfg->config_path = NULL;
    cfg->auth_token_file = NULL;
    cfg->session_secret_file = NULL;
    cfg->session_secret = NULL;
    cfg->upstreams = NULL;
    cfg->nupstreams = 0;
    cfg->api_key = NULL;
    cfg->auth_token = NULL;
}

static const char *level_name(int lv)
{
    switch (lv) {
    case FLO_LOG_DEBUG:
        return "debug";
    case FLO_LOG_INFO:
        return "info";
    case FLO_LOG_WARN:
        return "warn";
    case FLO_LOG_ERROR:
        return "error";
    default:
        return "off";
    }
}

/* A string setting: quoted when it has characters the file syntax would
 * treat specially (so the output can be used as a config file). */
static void print_str(FILE *out, const char *name, const char *v)
{
    bool quote = *v == '\0' || *v == '"' || strchr(v, '#') != NULL || isspace((unsigned char)*v) ||
                 isspace((unsigned char)v[strlen(v) - 1]);
    if (!quote) {
        fprintf(out, "%s = %s\n", name, v);
        return;
    }
    fprintf(out, "%s = \"", name);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
        }
        fputc(*p, out);
    }
    fputs("\"\n", out);
}

void sc_config_print(FILE *out, const struct sc_config *cfg)
{
    if (cfg->dev) {
        fprintf(out, "dev = true\n");
    } else {
        fprintf(out, "upstream = ");
        for (size_t i = 0; i < cfg->nupstreams; i++) {
            fprintf(out, "%s%s", i ? "," : "", cfg->upstreams[i]);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "http = %s\nresp = %s\n", cfg->http, cfg->resp);
    print_str(out, "namespace", cfg->ns);
    fprintf(out, "pool = %u\nlongpoll-pool = %u\n", cfg->pool, cfg->longpoll_pool);
    fprintf(out, "%s\n", cfg->api_key ? "api-key = <redacted>" : "# api-key: not set");
    if (cfg->auth_token_file) {
        print_str(out, "auth-token-file", cfg->auth_token_file);
    } else {
        fprintf(out, "%s\n",
                cfg->auth_token ? "auth-token = <redacted>"
                                : "# auth-token: not set (no client auth)");
    }
    fprintf(out, "max-body = %zu\n", cfg->max_body);
    fprintf(out, "log-level = %s\n", level_name(cfg->log_level));
    fprintf(out, "log-format = %s\n", cfg->log_format == SC_LOG_JSON ? "json" : "logfmt");
    if (cfg->session_secret_file) {
        print_str(out, "session-secret-file", cfg->session_secret_file);
    } else {
        fprintf(out, "%s\n",
                cfg->session_secret ? "session-secret = <redacted>"
                                    : "# session-secret: not set (derived from api-key and "
                                      "auth-token)");
    }
    fprintf(out, "session-idle-timeout = %u\nmax-sessions = %u\n", cfg->session_idle_s,
            (unsigned)cfg->max_sessions);
    fprintf(out, "shutdown-grace = %u\n", cfg->shutdown_grace_s);
    fprintf(out, "max-http-connections = %u\nmax-resp-clients = %u\nmax-resp-args = %zu\n",
            cfg->limits.max_http_connections, cfg->limits.max_resp_clients,
            cfg->limits.max_resp_args);
    fprintf(out, "max-resp-bulk = %zu\nmax-longpolls = %u\nresp-output-limit = %zu\n",
            cfg->limits.max_resp_bulk, cfg->limits.max_longpolls, cfg->limits.resp_output_limit);
    if (cfg->config_path) {
        fprintf(out, "# read from config file %s\n", cfg->config_path);
    }
}
