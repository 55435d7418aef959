/*
 * flo-sidecar configuration: command-line flags, their environment
 * variables (FLO_SIDECAR_<NAME>) and an optional config file (--config,
 * `name = value` with the flag names), with the precedence flag >
 * environment > config file > default, validated up front so that a bad
 * value stops the process with one clear line before anything starts.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

#define SC_ADDR_MAX      300 /* "host:port" incl. brackets and NUL */
#define SC_MAX_UPSTREAMS 64  /* addresses in --upstream */
/* --pool upper bound: with --longpoll-pool at its maximum (64) this stays
 * within the pool's 256 connections per address. */
#define SC_POOL_MAX          192
#define SC_DEFAULT_HTTP      "127.0.0.1:9080"
#define SC_DEFAULT_RESP      "127.0.0.1:6379"
#define SC_DEFAULT_NAMESPACE "default"
#define SC_DEFAULT_POOL      2
/* Long-poll lane: 4 connections x 4096 in flight each covers the HTTP
 * server's default 16384 connections all waiting at once. */
#define SC_DEFAULT_LONGPOLL_POOL  4
#define SC_LONGPOLL_POOL_MAX      64
#define SC_MAX_BODY_LIMIT         (100ull * 1024 * 1024) /* --max-body bound: Flo's largest payload */
#define SC_DEFAULT_SESSION_IDLE_S 300u                   /* --session-idle-timeout */
#define SC_SESSION_IDLE_MAX_S     86400u                 /* one day */
#define SC_DEFAULT_MAX_SESSIONS   65536u
#define SC_SESSION_SECRET_MIN     16u /* bytes; = PROTO_SESS_SECRET_MIN */
#define SC_DEFAULT_SHUTDOWN_GRACE 10u /* seconds in-flight requests get on SIGTERM */
#define SC_SHUTDOWN_GRACE_MAX     3600u

enum sc_log_format_e {
    SC_LOG_LOGFMT = 0, /* key=value lines (default) */
    SC_LOG_JSON = 1,   /* one JSON object per line */
};

/* The validated configuration. Strings are owned by the struct and released
 * by sc_config_free. */
struct sc_config {
    char **upstreams;           /* "host:port" each; NULL when dev */
    size_t nupstreams;          /* 0 when dev */
    bool dev;                   /* run an embedded flo-dev on the same loop */
    char http[SC_ADDR_MAX];     /* HTTP listen address */
    char resp[SC_ADDR_MAX];     /* RESP listen address */
    char ns[256];               /* default namespace, 1..255 bytes */
    unsigned pool;              /* connections per upstream address */
    unsigned longpoll_pool;     /* long-poll lane connections per upstream address */
    char *api_key;              /* upstream API key or NULL */
    char *auth_token;           /* token clients must present, or NULL */
    size_t max_body;            /* largest value / request body in bytes */
    int log_level;              /* enum flo_log_level_e */
    char *session_secret;       /* signs session ids, >= 16 bytes, or NULL (derived) */
    unsigned session_idle_s;    /* consumer-session idle timeout, 1..86400 */
    uint32_t max_sessions;      /* HTTP sessions; RESP consumers apart, >= 1 */
    char *config_path;          /* --config file, or NULL */
    char *auth_token_file;      /* file auth_token was read from, or NULL */
    char *session_secret_file;  /* file session_secret was read from, or NULL */
    unsigned shutdown_grace_s;  /* SIGTERM: time in-flight requests get, 0..3600 */
    int log_format;             /* enum sc_log_format_e */
    struct proto_limits limits; /* client-facing limits, every field resolved */
    /* What was parsed (borrowed from main), so SIGHUP can parse it again
     * with a fresh read of the config and secret files. */
    int argc;
    char *const *argv;
};

enum sc_config_action_e {
    SC_CONFIG_RUN = 0,     /* start the sidecar with the parsed config */
    SC_CONFIG_HELP = 1,    /* --help was given: print sc_config_usage, exit 0 */
    SC_CONFIG_VERSION = 2, /* --version was given: print the version, exit 0 */
    SC_CONFIG_CHECK = 3,   /* --check-config: *cfg is valid (caller frees it);
                              print sc_config_print, exit 0 */
};

/*
 * Parse argv (argv[0] is the program name), the FLO_SIDECAR_* environment
 * (read with getenv; an empty variable counts as unset) and the config file
 * named by --config / FLO_SIDECAR_CONFIG (if any) into *cfg, reading the
 * token and secret files. Returns an enum sc_config_action_e (>= 0), or -1
 * with a one-line message (no trailing newline, naming the flag, variable
 * or FILE:LINE at fault) in err. On success with SC_CONFIG_RUN or
 * SC_CONFIG_CHECK the caller owns *cfg and frees it with sc_config_free;
 * on any other return *cfg holds nothing to free (calling sc_config_free
 * on it is still safe). argv must outlive *cfg (cfg->argv borrows it).
 */
int sc_config_parse(struct sc_config *cfg, int argc, char *const argv[], char *err, size_t errcap);

/* Release the strings owned by cfg (safe on a zeroed or freed struct). */
void sc_config_free(struct sc_config *cfg);

/* Write --help text: every flag with its environment variable and default. */
void sc_config_usage(FILE *out);

/*
 * Write the effective settings of cfg as config-file lines (`name = value`,
 * every option, defaults included), with the API key, auth token and
 * session secret shown as "<redacted>".
 */
void sc_config_print(FILE *out, const struct sc_config *cfg);

/*
 * Parse "host:port" or "[v6]:port" strictly. port_min is 0 for listen
 * addresses (0 = any free port) and 1 for upstreams. On success copies the
 * host (brackets removed) into host[hostcap] and returns 0; else -1 with a
 * reason in err.
 */
int sc_config_parse_addr(const char *s, unsigned port_min, char *host, size_t hostcap,
                         unsigned *port, char *err, size_t errcap);

#endif
