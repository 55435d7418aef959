/*
 * Unit tests of sidecar/sc_config.c: flags, environment variables, the
 * precedence rule (flag > env > default), and the error message for each
 * kind of bad input. Criterion runs every test in its own process, so
 * setenv here never leaks into another test.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
