/*
 * Unit tests of sidecar/sc_config.c and sc_config_file.c: flags,
 * environment variables, the config file, the precedence rule (flag > env >
 * file > default), secret files, and the error message for each kind of bad
 * input. Criterion runs every test in its own process, so
 * setenv here never leaks into another test.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flo/flo_log.h"
#include "proto.h"
#include "sc_config.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char err[512];

/* Every FLO_SIDECAR_* variable the tests use, cleared before each test so
 * the developer's own environment cannot change the results. */
static void clear_env(void)
{
    static const char *const vars[] = {
        "FLO_SIDECAR_UPSTREAM",
        "FLO_SIDECAR_DEV",
        "FLO_SIDECAR_HTTP",
        "FLO_SIDECAR_RESP",
        "FLO_SIDECAR_NAMESPACE",
        "FLO_SIDECAR_POOL",
        "FLO_SIDECAR_API_KEY",
        "FLO_API_KEY",
        "FLO_SIDECAR_AUTH_TOKEN",
        "FLO_SIDECAR_MAX_BODY",
        "FLO_SIDECAR_LOG_LEVEL",
        "FLO_SIDECAR_SESSION_SECRET",
        "FLO_SIDECAR_SESSION_IDLE_TIMEOUT",
        "FLO_SIDECAR_MAX_SESSIONS",
        "FLO_SIDECAR_CONFIG",
        "FLO_SIDECAR_AUTH_TOKEN_FILE",
        "FLO_SIDECAR_SESSION_SECRET_FILE",
        "FLO_SIDECAR_SHUTDOWN_GRACE",
        "FLO_SIDECAR_LOG_FORMAT",
        "FLO_SIDECAR_MAX_HTTP_CONNECTIONS",
        "FLO_SIDECAR_MAX_RESP_CLIENTS",
        "FLO_SIDECAR_MAX_RESP_ARGS",
        "FLO_SIDECAR_MAX_RESP_BULK",
        "FLO_SIDECAR_MAX_LONGPOLLS",
        "FLO_SIDECAR_RESP_OUTPUT_LIMIT",
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        unsetenv(vars[i]);
    }
}

TestSuite(sc_config, .init = clear_env);

Test(sc_config, defaults_with_upstream)
{
    char *argv[] = {"flo-sidecar", "--upstream", "127.0.0.1:9000"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.nupstreams, 1);
    cr_assert_str_eq(c.upstreams[0], "127.0.0.1:9000");
    cr_assert_not(c.dev);
    cr_assert_str_eq(c.http, "127.0.0.1:9080");
    cr_assert_str_eq(c.resp, "127.0.0.1:6379");
    cr_assert_str_eq(c.ns, "default");
    cr_assert_eq(c.pool, 2);
    cr_assert_null(c.api_key);
    cr_assert_null(c.auth_token);
    cr_assert_eq(c.max_body, 16u * 1024 * 1024);
    cr_assert_eq(c.log_level, FLO_LOG_INFO);
    cr_assert_null(c.session_secret);
    cr_assert_eq(c.session_idle_s, 300);
    cr_assert_eq(c.max_sessions, 65536);
    sc_config_free(&c);
}

Test(sc_config, every_flag_both_forms)
{
    char *argv[] = {"flo-sidecar",
                    "--upstream=a:1,b.example:2",
                    "--http",
                    "0.0.0.0:8080",
                    "--resp=[::1]:7000",
                    "--namespace",
                    "prod",
                    "--pool=8",
                    "--api-key",
                    "k1",
                    "--auth-token=t1",
                    "--max-body",
                    "512K",
                    "--log-level",
                    "debug"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.nupstreams, 2);
    cr_assert_str_eq(c.upstreams[0], "a:1");
    cr_assert_str_eq(c.upstreams[1], "b.example:2");
    cr_assert_str_eq(c.http, "0.0.0.0:8080");
    cr_assert_str_eq(c.resp, "[::1]:7000");
    cr_assert_str_eq(c.ns, "prod");
    cr_assert_eq(c.pool, 8);
    cr_assert_str_eq(c.api_key, "k1");
    cr_assert_str_eq(c.auth_token, "t1");
    cr_assert_eq(c.max_body, 512u * 1024);
    cr_assert_eq(c.log_level, FLO_LOG_DEBUG);
    sc_config_free(&c);
}

Test(sc_config, env_used_when_no_flag)
{
    setenv("FLO_SIDECAR_UPSTREAM", "10.0.0.1:9000", 1);
    setenv("FLO_SIDECAR_POOL", "5", 1);
    setenv("FLO_SIDECAR_NAMESPACE", "envns", 1);
    setenv("FLO_API_KEY", "fallback-key", 1);
    char *argv[] = {"flo-sidecar"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(c.upstreams[0], "10.0.0.1:9000");
    cr_assert_eq(c.pool, 5);
    cr_assert_str_eq(c.ns, "envns");
    cr_assert_str_eq(c.api_key, "fallback-key");
    sc_config_free(&c);
}

Test(sc_config, flag_beats_env_and_sidecar_env_beats_generic)
{
    setenv("FLO_SIDECAR_UPSTREAM", "10.0.0.1:9000", 1);
    setenv("FLO_SIDECAR_POOL", "5", 1);
    setenv("FLO_SIDECAR_API_KEY", "specific", 1);
    setenv("FLO_API_KEY", "generic", 1);
    char *argv[] = {"flo-sidecar", "--pool", "3", "--upstream", "h:1"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.pool, 3);
    cr_assert_str_eq(c.upstreams[0], "h:1");
    cr_assert_str_eq(c.api_key, "specific");
    sc_config_free(&c);
}

Test(sc_config, empty_env_counts_as_unset)
{
    setenv("FLO_SIDECAR_POOL", "", 1);
    char *argv[] = {"flo-sidecar", "--dev"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.pool, 2);
    cr_assert(c.dev);
    cr_assert_eq(c.nupstreams, 0);
    sc_config_free(&c);
}

Test(sc_config, dev_from_env_values)
{
    setenv("FLO_SIDECAR_DEV", "true", 1);
    char *argv[] = {"flo-sidecar"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert(c.dev);
    sc_config_free(&c);

    setenv("FLO_SIDECAR_DEV", "maybe", 1);
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), -1);
    cr_assert(strstr(err, "FLO_SIDECAR_DEV") != NULL, "%s", err);
}

Test(sc_config, dev_flag_overrides_env_upstream)
{
    setenv("FLO_SIDECAR_UPSTREAM", "10.0.0.1:9000", 1);
    char *argv[] = {"flo-sidecar", "--dev"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert(c.dev);
    cr_assert_eq(c.nupstreams, 0);
    sc_config_free(&c);
}

Test(sc_config, dev_and_upstream_flags_conflict)
{
    char *argv[] = {"flo-sidecar", "--dev", "--upstream", "h:1"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--dev") && strstr(err, "--upstream"), "%s", err);
}

Test(sc_config, no_upstream_is_an_error)
{
    char *argv[] = {"flo-sidecar"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--upstream") && strstr(err, "--dev"), "%s", err);
}

Test(sc_config, unknown_flag_and_positional)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--bogus"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "unknown flag '--bogus'"), "%s", err);
    char *a2[] = {"flo-sidecar", "--dev", "stray"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "'stray'"), "%s", err);
}

Test(sc_config, missing_value)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--pool"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--pool needs a value"), "%s", err);
    char *a2[] = {"flo-sidecar", "--upstream", "--dev"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--upstream needs a value"), "%s", err);
}

Test(sc_config, bad_ports)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--http", "127.0.0.1:70000"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--http") && strstr(err, "bad port"), "%s", err);
    char *a2[] = {"flo-sidecar", "--dev", "--resp", "127.0.0.1:abc"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--resp"), "%s", err);
    char *a3[] = {"flo-sidecar", "--upstream", "h:0"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a3), a3, err, sizeof(err)), -1);
    cr_assert(strstr(err, "bad port '0'"), "%s", err);
    char *a4[] = {"flo-sidecar", "--upstream", "nohost"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a4), a4, err, sizeof(err)), -1);
    char *a5[] = {"flo-sidecar", "--upstream", "a:1,,b:2"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a5), a5, err, sizeof(err)), -1);
    cr_assert(strstr(err, "empty address"), "%s", err);
    char *a6[] = {"flo-sidecar", "--dev", "--http", ":8080"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a6), a6, err, sizeof(err)), -1);
    cr_assert(strstr(err, "host is empty"), "%s", err);
}

Test(sc_config, listen_port_zero_allowed)
{
    char *argv[] = {"flo-sidecar", "--dev", "--http", "127.0.0.1:0"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(c.http, "127.0.0.1:0");
    sc_config_free(&c);
}

Test(sc_config, pool_bounds)
{
    struct sc_config c;
    static char *const bad[] = {"0", "-1", "193", "1025", "2x", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"flo-sidecar", "--dev", "--pool", bad[i]};
        char flag[64];
        snprintf(flag, sizeof(flag), "--pool=%s", bad[i]);
        char *argv2[] = {"flo-sidecar", "--dev", flag};
        int r = bad[i][0] == '-' || bad[i][0] == '\0'
                    ? sc_config_parse(&c, ARGC(argv2), argv2, err, sizeof(err))
                    : sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err));
        cr_assert_eq(r, -1, "pool '%s' accepted", bad[i]);
        cr_assert(strstr(err, "--pool"), "%s", err);
    }
    char *ok[] = {"flo-sidecar", "--dev", "--pool", "192", "--longpoll-pool", "64"};
    cr_assert_eq(sc_config_parse(&c, ARGC(ok), ok, err, sizeof(err)), SC_CONFIG_RUN);
    cr_assert_eq(c.pool, 192);
    sc_config_free(&c);
}

Test(sc_config, longpoll_pool_default_flag_env_and_bounds)
{
    struct sc_config c;
    char *argv[] = {"flo-sidecar", "--dev"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.longpoll_pool, SC_DEFAULT_LONGPOLL_POOL);
    sc_config_free(&c);
    char *flag[] = {"flo-sidecar", "--dev", "--longpoll-pool=8"};
    cr_assert_eq(sc_config_parse(&c, ARGC(flag), flag, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.longpoll_pool, 8);
    sc_config_free(&c);
    setenv("FLO_SIDECAR_LONGPOLL_POOL", "3", 1);
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.longpoll_pool, 3);
    sc_config_free(&c);
    unsetenv("FLO_SIDECAR_LONGPOLL_POOL");
    static char *const bad[] = {"0", "65", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *b[] = {"flo-sidecar", "--dev", "--longpoll-pool", bad[i]};
        cr_assert_eq(sc_config_parse(&c, ARGC(b), b, err, sizeof(err)), -1, "'%s' accepted",
                     bad[i]);
        cr_assert(strstr(err, "--longpoll-pool"), "%s", err);
    }
}

Test(sc_config, namespace_limits)
{
    struct sc_config c;
    char ns[300];
    memset(ns, 'n', sizeof(ns));
    ns[PROTO_MAX_NAMESPACE] = '\0';
    char *ok[] = {"flo-sidecar", "--dev", "--namespace", ns};
    cr_assert_eq(sc_config_parse(&c, ARGC(ok), ok, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(strlen(c.ns), PROTO_MAX_NAMESPACE);
    sc_config_free(&c);
    ns[PROTO_MAX_NAMESPACE] = 'n';
    ns[PROTO_MAX_NAMESPACE + 1] = '\0';
    cr_assert_eq(sc_config_parse(&c, ARGC(ok), ok, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--namespace") && strstr(err, "256"), "%s", err);
    char *empty[] = {"flo-sidecar", "--dev", "--namespace="};
    cr_assert_eq(sc_config_parse(&c, ARGC(empty), empty, err, sizeof(err)), -1);
}

Test(sc_config, max_body_sizes)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--max-body", "16MiB"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.max_body, 16u << 20);
    sc_config_free(&c);
    char *a2[] = {"flo-sidecar", "--dev", "--max-body", "1000"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.max_body, 1000);
    sc_config_free(&c);
    char *a3[] = {"flo-sidecar", "--dev", "--max-body", "2G"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a3), a3, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--max-body"), "%s", err);
    char *a4[] = {"flo-sidecar", "--dev", "--max-body", "12Q"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a4), a4, err, sizeof(err)), -1);
}

Test(sc_config, log_level_values)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--log-level", "warn"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.log_level, FLO_LOG_WARN);
    sc_config_free(&c);
    setenv("FLO_SIDECAR_LOG_LEVEL", "loud", 1);
    char *a2[] = {"flo-sidecar", "--dev"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "FLO_SIDECAR_LOG_LEVEL") && strstr(err, "loud"), "%s", err);
}

Test(sc_config, empty_secret_flag_rejected)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--dev", "--auth-token="};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--auth-token") && strstr(err, "empty"), "%s", err);
}

Test(sc_config, help_and_version_win)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar", "--bogus", "--help"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), SC_CONFIG_HELP);
    char *a2[] = {"flo-sidecar", "--version"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), SC_CONFIG_VERSION);
    sc_config_free(&c);
}

Test(sc_config, parse_addr_forms)
{
    char host[64], why[128];
    unsigned port;
    cr_assert_eq(sc_config_parse_addr("[::1]:80", 1, host, sizeof(host), &port, why, sizeof(why)),
                 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 80);
    cr_assert_eq(sc_config_parse_addr("::1:80", 1, host, sizeof(host), &port, why, sizeof(why)),
                 -1);
    cr_assert(strstr(why, "IPv6"), "%s", why);
    cr_assert_eq(sc_config_parse_addr("h:+80", 1, host, sizeof(host), &port, why, sizeof(why)), -1);
    cr_assert_eq(sc_config_parse_addr("h o:80", 1, host, sizeof(host), &port, why, sizeof(why)),
                 -1);
}

Test(sc_config, session_flags_env_and_bounds)
{
    struct sc_config c;
    char *a1[] = {"flo-sidecar",
                  "--dev",
                  "--session-secret",
                  "0123456789abcdef",
                  "--session-idle-timeout=86400",
                  "--max-sessions",
                  "10"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a1), a1, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(c.session_secret, "0123456789abcdef");
    cr_assert_eq(c.session_idle_s, 86400);
    cr_assert_eq(c.max_sessions, 10);
    sc_config_free(&c);

    setenv("FLO_SIDECAR_SESSION_SECRET", "env-secret-of-24-bytes!!", 1);
    setenv("FLO_SIDECAR_SESSION_IDLE_TIMEOUT", "1", 1);
    setenv("FLO_SIDECAR_MAX_SESSIONS", "4294967295", 1);
    char *a2[] = {"flo-sidecar", "--dev"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(c.session_secret, "env-secret-of-24-bytes!!");
    cr_assert_eq(c.session_idle_s, 1);
    cr_assert_eq(c.max_sessions, 4294967295u);
    sc_config_free(&c);

    /* A short secret is a clear error naming where it came from. */
    setenv("FLO_SIDECAR_SESSION_SECRET", "short", 1);
    cr_assert_eq(sc_config_parse(&c, ARGC(a2), a2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "FLO_SIDECAR_SESSION_SECRET") && strstr(err, "16"), "%s", err);
    unsetenv("FLO_SIDECAR_SESSION_SECRET");
    char *a3[] = {"flo-sidecar", "--dev", "--session-secret", "fifteen-bytes!!"};
    cr_assert_eq(sc_config_parse(&c, ARGC(a3), a3, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--session-secret"), "%s", err);

    static char *const bad_idle[] = {"0", "86401", "5m", "-1"};
    for (size_t i = 0; i < sizeof(bad_idle) / sizeof(bad_idle[0]); i++) {
        char *b[] = {"flo-sidecar", "--dev", "--session-idle-timeout", bad_idle[i]};
        cr_assert_eq(sc_config_parse(&c, ARGC(b), b, err, sizeof(err)), -1, "'%s' accepted",
                     bad_idle[i]);
        cr_assert(strstr(err, "--session-idle-timeout"), "%s", err);
    }
    static char *const bad_max[] = {"0", "4294967296", "x"};
    for (size_t i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++) {
        char *b[] = {"flo-sidecar", "--dev", "--max-sessions", bad_max[i]};
        cr_assert_eq(sc_config_parse(&c, ARGC(b), b, err, sizeof(err)), -1, "'%s' accepted",
                     bad_max[i]);
        cr_assert(strstr(err, "--max-sessions"), "%s", err);
    }
}

Test(sc_config, usage_lists_session_flags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    sc_config_usage(f);
    fclose(f);
    cr_assert(strstr(text, "--session-secret") && strstr(text, "FLO_SIDECAR_SESSION_SECRET"));
    cr_assert(strstr(text, "--session-idle-timeout") && strstr(text, "--max-sessions"));
    free(text);
}

/* ---- config file, secret files, lifecycle and limit flags ---- */

/* Write text to a new temporary file; returns its path (static storage
 * per slot, up to 4 files per test). */
static const char *tmp_file(const char *text)
{
    static char paths[4][64];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 64, "/tmp/sc_config_test_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static int parse_with_file(struct sc_config *c, const char *path, const char *extra_flag,
                           const char *extra_val)
{
    char *argv[6] = {"flo-sidecar", "--config", (char *)path};
    int argc = 3;
    if (extra_flag) {
        argv[argc++] = (char *)extra_flag;
        argv[argc++] = (char *)extra_val;
    }
    return sc_config_parse(c, argc, argv, err, sizeof(err));
}

Test(sc_config_file, values_comments_quotes_and_blank_lines)
{
    const char *path = tmp_file("# a comment\n"
                                "\n"
                                "upstream = 10.0.0.1:9000, 10.0.0.2:9000\n"
                                "  pool=4   # trailing comment\n"
                                "namespace = \"ns#1\"  # the quotes keep the #\n"
                                "api-key = \"say \\\"hi\\\" \\\\ bye\"\r\n"
                                "log-level = debug\n"
                                "shutdown-grace = 0\n"
                                "max-resp-bulk = 2M\n");
    struct sc_config c;
    cr_assert_eq(parse_with_file(&c, path, NULL, NULL), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.nupstreams, 2);
    cr_assert_str_eq(c.upstreams[1], "10.0.0.2:9000");
    cr_assert_eq(c.pool, 4);
    cr_assert_str_eq(c.ns, "ns#1");
    cr_assert_str_eq(c.api_key, "say \"hi\" \\ bye");
    cr_assert_eq(c.log_level, FLO_LOG_DEBUG);
    cr_assert_eq(c.shutdown_grace_s, 0);
    cr_assert_eq(c.limits.max_resp_bulk, 2u * 1024 * 1024);
    cr_assert_str_eq(c.config_path, path);
    sc_config_free(&c);
    unlink(path);
}

Test(sc_config_file, precedence_flag_env_file_default)
{
    const char *path = tmp_file("dev = true\npool = 3\nlongpoll-pool = 5\nmax-body = 1K\n");
    struct sc_config c;
    /* file only */
    cr_assert_eq(parse_with_file(&c, path, NULL, NULL), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.pool, 3);
    cr_assert_eq(c.longpoll_pool, 5);
    cr_assert_eq(c.max_body, 1024);
    cr_assert_eq(c.session_idle_s, 300, "default where nobody sets it");
    sc_config_free(&c);
    /* env beats file */
    setenv("FLO_SIDECAR_POOL", "6", 1);
    cr_assert_eq(parse_with_file(&c, path, NULL, NULL), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.pool, 6);
    cr_assert_eq(c.longpoll_pool, 5);
    sc_config_free(&c);
    /* flag beats env and file */
    cr_assert_eq(parse_with_file(&c, path, "--pool", "9"), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.pool, 9);
    sc_config_free(&c);
    /* the file named by the environment */
    setenv("FLO_SIDECAR_CONFIG", path, 1);
    unsetenv("FLO_SIDECAR_POOL");
    char *argv[] = {"flo-sidecar"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert(c.dev);
    cr_assert_eq(c.pool, 3);
    sc_config_free(&c);
    /* a flag for the upstream beats --dev from the file */
    char *argv2[] = {"flo-sidecar", "--upstream", "127.0.0.1:1"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv2), argv2, err, sizeof(err)), SC_CONFIG_RUN, "%s",
                 err);
    cr_assert_not(c.dev);
    cr_assert_eq(c.nupstreams, 1);
    sc_config_free(&c);
    unlink(path);
}

/* Each bad file gives -1 and a message naming FILE:LINE. */
Test(sc_config_file, errors_name_file_and_line)
{
    static const struct {
        const char *text;
        unsigned line;
        const char *what;
    } cases[] = {
        {"dev = true\npol = 3\n", 2, "unknown setting 'pol'"},
        {"dev = true\n\npool = 0\n", 3, "pool"},
        {"# x\ndev = true\njust words\n", 3, "expected 'name = value'"},
        {"dev = true\nnamespace = \"open\n", 2, "unterminated"},
        {"dev = true\napi-key = \"a\" b\n", 2, "after the closing quote"},
        {"dev = true\npool = 2\npool = 3\n", 3, "set twice (first on line 2)"},
        {"config = /etc/other\n", 1, "'config' cannot be set"},
        {"dev = maybe\n", 1, "dev"},
        {"dev = true\nhttp = nowhere\n", 2, "http"},
        {"dev = true\nshutdown-grace = 3601\n", 2, "shutdown-grace"},
        {"dev = true\nlog-format = xml\n", 2, "log-format"},
        {"dev = true\nmax-resp-args = 0\n", 2, "max-resp-args"},
        {"dev = true\napi-key = \"a\\q\"\n", 2, "unknown escape"},
        /* A placeholder comment is no token: empty, refused. */
        {"dev = true\nauth-token = # fill me\n", 2, "auth-token"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = tmp_file(cases[i].text);
        struct sc_config c;
        cr_assert_eq(parse_with_file(&c, path, NULL, NULL), -1, "case %zu accepted", i);
        char where[128];
        snprintf(where, sizeof(where), "%s:%u", path, cases[i].line);
        cr_assert(strstr(err, where), "case %zu: '%s' lacks %s", i, err, where);
        cr_assert(strstr(err, cases[i].what), "case %zu: '%s' lacks '%s'", i, err, cases[i].what);
        unlink(path);
    }
}

/* A config file line may hold a secret: no error about it may repeat any
 * part of the value (here every character of the secret is one that
 * appears nowhere else in the messages or the temporary path). */
Test(sc_config_file, secret_values_stay_out_of_errors)
{
    static const char *const cases[] = {
        "dev = true\nauth-token = \"~~\\~~\"\n",
        "dev = true\napi-key = \"~~\\~\"\n",
        "dev = true\nsession-secret = \"~~~~\" ~~\n",
        "dev = true\nauth-token = \"~~~~\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = tmp_file(cases[i]);
        struct sc_config c;
        cr_assert_eq(parse_with_file(&c, path, NULL, NULL), -1, "case %zu accepted", i);
        cr_assert(strstr(err, ":2:") != NULL, "case %zu: '%s' lacks the line", i, err);
        cr_assert_null(strchr(err, '~'), "case %zu: the error repeats the secret: '%s'", i, err);
        unlink(path);
    }
}

Test(sc_config_file, missing_file_is_an_error)
{
    struct sc_config c;
    cr_assert_eq(parse_with_file(&c, "/nonexistent/flo.conf", NULL, NULL), -1);
    cr_assert(strstr(err, "/nonexistent/flo.conf") && strstr(err, "No such file"), "%s", err);
}

Test(sc_config_file, token_and_secret_files)
{
    const char *tok = tmp_file("s3cret token\r\nsecond line ignored\n");
    const char *sec = tmp_file("0123456789abcdef0123\n");
    char *argv[] = {"flo-sidecar",           "--dev",    "--auth-token-file", (char *)tok,
                    "--session-secret-file", (char *)sec};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(c.auth_token, "s3cret token");
    cr_assert_str_eq(c.auth_token_file, tok);
    cr_assert_str_eq(c.session_secret, "0123456789abcdef0123");
    sc_config_free(&c);

    /* A flag beats a file from the environment... */
    setenv("FLO_SIDECAR_AUTH_TOKEN_FILE", tok, 1);
    char *argv2[] = {"flo-sidecar", "--dev", "--auth-token", "direct"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv2), argv2, err, sizeof(err)), SC_CONFIG_RUN, "%s",
                 err);
    cr_assert_str_eq(c.auth_token, "direct");
    cr_assert_null(c.auth_token_file);
    sc_config_free(&c);
    unsetenv("FLO_SIDECAR_AUTH_TOKEN_FILE");
    /* ...but both at the same level conflict. */
    char *argv3[] = {"flo-sidecar",       "--dev",    "--auth-token", "direct",
                     "--auth-token-file", (char *)tok};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv3), argv3, err, sizeof(err)), -1);
    cr_assert(strstr(err, "exclude each other"), "%s", err);

    /* Unreadable, empty, too short for a session secret. */
    char *argv4[] = {"flo-sidecar", "--dev", "--auth-token-file", "/nonexistent/token"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv4), argv4, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--auth-token-file") && strstr(err, "/nonexistent/token"), "%s", err);
    const char *empty = tmp_file("\nnot the first line\n");
    char *argv5[] = {"flo-sidecar", "--dev", "--auth-token-file", (char *)empty};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv5), argv5, err, sizeof(err)), -1);
    cr_assert(strstr(err, "empty"), "%s", err);
    const char *shortsec = tmp_file("short\n");
    char *argv6[] = {"flo-sidecar", "--dev", "--session-secret-file", (char *)shortsec};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv6), argv6, err, sizeof(err)), -1);
    cr_assert(strstr(err, "too short") && strstr(err, "--session-secret-file"), "%s", err);
    unlink(tok);
    unlink(sec);
    unlink(empty);
    unlink(shortsec);
}

Test(sc_config_file, lifecycle_and_limit_flags)
{
    struct sc_config c;
    char *argv[] = {"flo-sidecar", "--dev"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    cr_assert_eq(c.shutdown_grace_s, 10);
    cr_assert_eq(c.log_format, SC_LOG_LOGFMT);
    struct proto_limits d;
    proto_limits_defaults(&d, c.max_body);
    cr_assert_eq(c.limits.max_http_connections, d.max_http_connections);
    cr_assert_eq(c.limits.max_resp_bulk, d.max_resp_bulk);
    cr_assert_eq(c.limits.resp_output_limit, d.resp_output_limit);
    sc_config_free(&c);

    setenv("FLO_SIDECAR_MAX_LONGPOLLS", "77", 1);
    char *argv2[] = {"flo-sidecar",
                     "--dev",
                     "--shutdown-grace=30",
                     "--log-format",
                     "json",
                     "--max-http-connections",
                     "100",
                     "--max-resp-clients=50",
                     "--max-resp-args",
                     "1000",
                     "--max-resp-bulk",
                     "1M",
                     "--resp-output-limit",
                     "4M"};
    cr_assert_eq(sc_config_parse(&c, ARGC(argv2), argv2, err, sizeof(err)), SC_CONFIG_RUN, "%s",
                 err);
    cr_assert_eq(c.shutdown_grace_s, 30);
    cr_assert_eq(c.log_format, SC_LOG_JSON);
    cr_assert_eq(c.limits.max_http_connections, 100);
    cr_assert_eq(c.limits.max_resp_clients, 50);
    cr_assert_eq(c.limits.max_resp_args, 1000);
    cr_assert_eq(c.limits.max_resp_bulk, 1024 * 1024);
    cr_assert_eq(c.limits.max_longpolls, 77);
    cr_assert_eq(c.limits.resp_output_limit, 4u * 1024 * 1024);
    sc_config_free(&c);

    static const char *const bad[][2] = {
        {"--shutdown-grace", "-1"},   {"--max-http-connections", "0"},
        {"--max-resp-clients", "x"},  {"--max-longpolls", "1000001"},
        {"--resp-output-limit", "1"}, {"--max-resp-bulk", "2G"},
        {"--log-format", "text"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *b[] = {"flo-sidecar", "--dev", (char *)bad[i][0], (char *)bad[i][1]};
        cr_assert_eq(sc_config_parse(&c, ARGC(b), b, err, sizeof(err)), -1, "%s %s accepted",
                     bad[i][0], bad[i][1]);
        cr_assert(strstr(err, bad[i][0]), "%s", err);
    }
}

Test(sc_config_file, check_config_action_and_redacted_print)
{
    const char *tok = tmp_file("tok-value-xyz\n");
    char *argv[] = {"flo-sidecar", "--check-config",   "--dev",
                    "--api-key",   "apikey-value-xyz", "--auth-token-file",
                    (char *)tok,   "--session-secret", "secret-value-xyz-0123"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_CHECK, "%s",
                 err);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sc_config_print(f, &c);
    fclose(f);
    cr_assert_null(strstr(text, "value-xyz"), "a secret leaked:\n%s", text);
    cr_assert(strstr(text, "api-key = <redacted>"), "%s", text);
    cr_assert(strstr(text, "session-secret = <redacted>"), "%s", text);
    cr_assert(strstr(text, "auth-token-file = "), "%s", text);
    cr_assert(strstr(text, "dev = true") && strstr(text, "shutdown-grace = 10"), "%s", text);
    free(text);
    sc_config_free(&c);
    unlink(tok);
}

Test(sc_config_file, printed_settings_parse_back)
{
    char *argv[] = {"flo-sidecar", "--upstream", "10.1.1.1:9000", "--namespace", "a#b",
                    "--pool",      "5"};
    struct sc_config c;
    cr_assert_eq(sc_config_parse(&c, ARGC(argv), argv, err, sizeof(err)), SC_CONFIG_RUN, "%s", err);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sc_config_print(f, &c);
    fclose(f);
    sc_config_free(&c);
    const char *path = tmp_file(text);
    free(text);
    struct sc_config back;
    cr_assert_eq(parse_with_file(&back, path, NULL, NULL), SC_CONFIG_RUN, "%s", err);
    cr_assert_str_eq(back.ns, "a#b");
    cr_assert_eq(back.pool, 5);
    cr_assert_str_eq(back.upstreams[0], "10.1.1.1:9000");
    sc_config_free(&back);
    unlink(path);
}

Test(sc_config_file, usage_lists_lifecycle_flags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    sc_config_usage(f);
    fclose(f);
    static const char *const want[] = {
        "--config FILE",          "FLO_SIDECAR_CONFIG",        "--auth-token-file PATH",
        "--session-secret-file",  "--shutdown-grace",          "--log-format logfmt|json",
        "--max-http-connections", "--max-resp-clients",        "--max-resp-args",
        "--max-resp-bulk",        "--max-longpolls",           "--resp-output-limit",
        "--check-config",         "FLO_SIDECAR_SHUTDOWN_GRACE"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert(strstr(text, want[i]), "usage lacks %s", want[i]);
    }
    free(text);
}
