/*
 * RESP request framing (protocols/resp/resp_parse.c): multibulk through
 * hiredis's reader and inline commands with Redis' quoting rules, input
 * split at every byte, mixed framing, limits and Redis' protocol error texts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_error.h"
#include "resp_parse.h"

#define MAX_CMDS 16
#define MAX_ARGS 8

/* Commands taken from a parser, flattened for comparison. */
struct got {
    size_t n;
    size_t argc[MAX_CMDS];
    char *argv[MAX_CMDS][MAX_ARGS];
    size_t len[MAX_CMDS][MAX_ARGS];
    int err; /* last negative return, 0 if none */
};

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        for (size_t j = 0; j < g->argc[i]; j++) {
            free(g->argv[i][j]);
        }
    }
    memset(g, 0, sizeof(*g));
}

static void drain(struct resp_parser *p, struct got *g)
{
    for (;;) {
        struct resp_argv a;
        int rc = resp_parser_next(p, &a);
        if (rc == 0) {
            return;
        }
        if (rc < 0) {
            g->err = rc;
            return;
        }
        cr_assert_lt(g->n, MAX_CMDS);
        cr_assert_leq(a.argc, MAX_ARGS);
        g->argc[g->n] = a.argc;
        for (size_t j = 0; j < a.argc; j++) {
            g->argv[g->n][j] = malloc(a.argv[j].len + 1);
            memcpy(g->argv[g->n][j], a.argv[j].ptr, a.argv[j].len + 1);
            g->len[g->n][j] = a.argv[j].len;
            /* Arguments are NUL-terminated for convenience. */
            cr_assert_eq(a.argv[j].ptr[a.argv[j].len], 0);
        }
        g->n++;
        resp_argv_free(&a);
    }
}

/* Feed `in` in pieces cut at `cuts` (sorted offsets), draining after each. */
static void parse_cut(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                      const struct resp_parse_limits *lim, struct got *g, char *err, size_t errcap)
{
    struct resp_parser p;
    cr_assert_eq(resp_parser_init(&p, lim), 0);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end > at) {
            resp_parser_feed(&p, in + at, end - at);
        }
        at = end;
        drain(&p, g);
        if (g->err) {
            break;
        }
    }
    if (err) {
        snprintf(err, errcap, "%s", p.err);
    }
    resp_parser_free(&p);
}

static void parse_all(const char *in, size_t len, struct got *g, char *err, size_t errcap)
{
    parse_cut(in, len, NULL, 0, NULL, g, err, errcap);
}

static void assert_arg(const struct got *g, size_t c, size_t a, const char *want, size_t wlen)
{
    cr_assert_lt(c, g->n, "command %zu missing (got %zu)", c, g->n);
    cr_assert_lt(a, g->argc[c], "argument %zu of command %zu missing", a, c);
    cr_assert_eq(g->len[c][a], wlen, "cmd %zu arg %zu: len %zu want %zu", c, a, g->len[c][a], wlen);
    cr_assert_eq(memcmp(g->argv[c][a], want, wlen), 0, "cmd %zu arg %zu: '%s'", c, a,
                 g->argv[c][a]);
}
#define ARG(g, c, a, lit) assert_arg(g, c, a, lit, sizeof(lit) - 1)

Test(resp_parse, multibulk_command)
{
    struct got g = {0};
    const char in[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    parse_all(in, sizeof(in) - 1, &g, NULL, 0);
    cr_assert_eq(g.err, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.argc[0], 3);
    ARG(&g, 0, 0, "SET");
    ARG(&g, 0, 1, "k");
    ARG(&g, 0, 2, "value");
    got_free(&g);
}

Test(resp_parse, binary_safe_and_empty_bulk)
{
    struct got g = {0};
    const char in[] = "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$6\r\na\0\r\nb\xff\r\n";
    parse_all(in, sizeof(in) - 1, &g, NULL, 0);
    cr_assert_eq(g.err, 0);
    cr_assert_eq(g.n, 1);
    ARG(&g, 0, 1, "");
    assert_arg(&g, 0, 2, "a\0\r\nb\xff", 6);
    got_free(&g);
}

/* A pipeline mixing framings: multibulk, inline, an empty multibulk, a
 * blank line, a nil multibulk, then multibulk again. */
static const char mixed[] = "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"
                            "SET \"a b\" 'c d'\r\n"
                            "*0\r\n"
                            "\r\n"
                            "*-1\r\n"
                            "*1\r\n$4\r\nPING\r\n"
                            "GET x\n";

static void check_mixed(const struct got *g)
{
    cr_assert_eq(g->err, 0);
    cr_assert_eq(g->n, 4, "got %zu commands", g->n);
    ARG(g, 0, 0, "ECHO");
    ARG(g, 0, 1, "hi");
    ARG(g, 1, 0, "SET");
    ARG(g, 1, 1, "a b");
    ARG(g, 1, 2, "c d");
    ARG(g, 2, 0, "PING");
    cr_assert_eq(g->argc[2], 1);
    ARG(g, 3, 0, "GET");
    ARG(g, 3, 1, "x");
}

Test(resp_parse, mixed_pipeline_whole)
{
    struct got g = {0};
    parse_all(mixed, sizeof(mixed) - 1, &g, NULL, 0);
    check_mixed(&g);
    got_free(&g);
}

Test(resp_parse, mixed_pipeline_split_at_every_byte)
{
    size_t len = sizeof(mixed) - 1;
    for (size_t cut = 1; cut < len; cut++) {
        struct got g = {0};
        parse_cut(mixed, len, &cut, 1, NULL, &g, NULL, 0);
        check_mixed(&g);
        got_free(&g);
    }
}

Test(resp_parse, mixed_pipeline_one_byte_at_a_time)
{
    size_t len = sizeof(mixed) - 1;
    size_t cuts[sizeof(mixed)];
    for (size_t i = 0; i < len - 1; i++) {
        cuts[i] = i + 1;
    }
    struct got g = {0};
    parse_cut(mixed, len, cuts, len - 1, NULL, &g, NULL, 0);
    check_mixed(&g);
    got_free(&g);
}

Test(resp_parse, inline_quoting_rules)
{
    struct got g = {0};
    const char in[] = "SET \"\\x41\\n\\t\\\\\\\"\" 'it\\'s'   x\"y z\"\r\n";
    parse_all(in, sizeof(in) - 1, &g, NULL, 0);
    cr_assert_eq(g.err, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.argc[0], 4);
    ARG(&g, 0, 1, "A\n\t\\\"");
    ARG(&g, 0, 2, "it's");
    ARG(&g, 0, 3, "xy z"); /* a quote opens mid-token, like sdssplitargs */
    got_free(&g);
}

Test(resp_parse, inline_unbalanced_quotes)
{
    const char *bad[] = {"ECHO \"abc\r\n", "ECHO 'abc\r\n", "ECHO \"a\"b\r\n", "ECHO 'a'b\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct got g = {0};
        char err[200];
        parse_all(bad[i], strlen(bad[i]), &g, err, sizeof(err));
        cr_assert_eq(g.err, FLO_EMALFORMED, "case %zu", i);
        cr_assert_str_eq(err, "Protocol error: unbalanced quotes in request");
        got_free(&g);
    }
}

Test(resp_parse, inline_line_limit)
{
    size_t n = RESP_MAX_INLINE + 10;
    char *in = malloc(n);
    memset(in, 'x', n);
    struct got g = {0};
    char err[200];
    parse_all(in, n, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: too big inline request");
    got_free(&g);
    free(in);
}

Test(resp_parse, inline_line_below_limit_waits)
{
    struct resp_parser p;
    cr_assert_eq(resp_parser_init(&p, NULL), 0);
    resp_parser_feed(&p, "PING", 4);
    struct resp_argv a;
    cr_assert_eq(resp_parser_next(&p, &a), 0);
    cr_assert_eq(resp_parser_buffered(&p), 4);
    resp_parser_feed(&p, "\r\n", 2);
    cr_assert_eq(resp_parser_next(&p, &a), 1);
    cr_assert_eq(a.argc, 1);
    resp_argv_free(&a);
    resp_parser_free(&p);
}

struct bad_case {
    const char *in;
    const char *err;
};

Test(resp_parse, malformed_multibulk_gives_redis_errors)
{
    const struct bad_case cases[] = {
        {"*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
        {"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
        {"*1\r\n-ERR\r\n", "Protocol error: expected '$', got '-'"},
        {"*1\r\n*1\r\n$1\r\na\r\n", "Protocol error: expected '$', got '*'"},
        {"*abc\r\n", "Protocol error: invalid multibulk length"},
        {"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n$99999999999\r\n", "Protocol error: invalid bulk length"},
        {"*1\r\n!x\r\n", "Protocol error: expected '$', got '!'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct got g = {0};
        char err[200] = "";
        parse_all(cases[i].in, strlen(cases[i].in), &g, err, sizeof(err));
        cr_assert_eq(g.err, FLO_EMALFORMED, "case %zu: rc %d n %zu", i, g.err, g.n);
        cr_assert_str_eq(err, cases[i].err, "case %zu: %s", i, err);
        got_free(&g);
    }
}

Test(resp_parse, commands_before_an_error_are_returned)
{
    struct got g = {0};
    const char in[] = "PING\r\n*1\r\n:1\r\n";
    parse_all(in, sizeof(in) - 1, &g, NULL, 0);
    cr_assert_eq(g.n, 1);
    ARG(&g, 0, 0, "PING");
    cr_assert_eq(g.err, FLO_EMALFORMED);
    got_free(&g);
}

Test(resp_parse, error_is_sticky)
{
    struct resp_parser p;
    cr_assert_eq(resp_parser_init(&p, NULL), 0);
    resp_parser_feed(&p, "*x\r\n", 4);
    struct resp_argv a;
    cr_assert_eq(resp_parser_next(&p, &a), FLO_EMALFORMED);
    cr_assert_eq(resp_parser_feed(&p, "PING\r\n", 6), FLO_EMALFORMED);
    cr_assert_eq(resp_parser_next(&p, &a), FLO_EMALFORMED);
    resp_parser_free(&p);
}

Test(resp_parse, limits_checked_before_the_body_arrives)
{
    struct resp_parse_limits lim;
    resp_parse_limits_defaults(&lim);
    lim.max_bulk = 100;
    lim.max_args = 4;
    /* Only the header of a 101-byte bulk: refused at once. */
    struct got g = {0};
    char err[200];
    const char big[] = "*2\r\n$3\r\nGET\r\n$101\r\n";
    parse_cut(big, sizeof(big) - 1, NULL, 0, &lim, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: invalid bulk length");
    got_free(&g);

    const char many[] = "*5\r\n";
    parse_cut(many, sizeof(many) - 1, NULL, 0, &lim, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: invalid multibulk length");
    got_free(&g);

    /* Exactly at the limits is fine. */
    char ok[300];
    int n = snprintf(ok, sizeof(ok), "*2\r\n$3\r\nSET\r\n$100\r\n%0100d\r\n", 0);
    parse_cut(ok, (size_t)n, NULL, 0, &lim, &g, err, sizeof(err));
    cr_assert_eq(g.err, 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.len[0][1], 100);
    got_free(&g);
}

Test(resp_parse, command_total_limit)
{
    struct resp_parse_limits lim;
    resp_parse_limits_defaults(&lim);
    lim.max_command = 10;
    struct got g = {0};
    char err[200];
    const char in[] = "*3\r\n$3\r\nSET\r\n$4\r\nkkkk\r\n$4\r\nvvvv\r\n";
    parse_cut(in, sizeof(in) - 1, NULL, 0, &lim, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: command too large");
    got_free(&g);
}

Test(resp_parse, overlong_header_line)
{
    size_t n = RESP_MAX_INLINE + 100;
    char *in = malloc(n);
    memset(in, '1', n);
    in[0] = '*';
    struct got g = {0};
    char err[200];
    parse_all(in, n, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: too big mbulk count string");
    got_free(&g);
    memcpy(in, "*1\r\n$", 5);
    parse_all(in, n, &g, err, sizeof(err));
    cr_assert_eq(g.err, FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: too big bulk count string");
    got_free(&g);
    free(in);
}

Test(resp_parse, large_pipeline_drains_in_order)
{
    struct resp_parser p;
    cr_assert_eq(resp_parser_init(&p, NULL), 0);
    char cmd[64];
    for (int i = 0; i < 2000; i++) {
        int n = i % 2 ? snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nECHO\r\n$%d\r\n%d\r\n",
                                 (int)snprintf(NULL, 0, "%d", i), i)
                      : snprintf(cmd, sizeof(cmd), "ECHO %d\r\n", i);
        resp_parser_feed(&p, cmd, (size_t)n);
    }
    for (int i = 0; i < 2000; i++) {
        struct resp_argv a;
        cr_assert_eq(resp_parser_next(&p, &a), 1, "command %d", i);
        cr_assert_eq(a.argc, 2);
        cr_assert_eq(atoi((const char *)a.argv[1].ptr), i);
        resp_argv_free(&a);
    }
    struct resp_argv a;
    cr_assert_eq(resp_parser_next(&p, &a), 0);
    cr_assert_eq(resp_parser_buffered(&p), 0);
    resp_parser_free(&p);
}

Test(resp_parse, split_inline_direct)
{
    struct resp_argv a;
    cr_assert_eq(resp_split_inline("   ", 3, &a), 0);
    cr_assert_eq(a.argc, 0);
    cr_assert_eq(resp_split_inline("a\0b c", 5, &a), 0); /* a NUL ends the line */
    cr_assert_eq(a.argc, 1);
    resp_argv_free(&a);
    cr_assert_eq(resp_split_inline("\"\\xZZ\"", 6, &a), 0); /* not hex: literal */
    cr_assert_eq(a.argc, 1);
    cr_assert_eq(a.argv[0].len, 3);
    cr_assert_eq(memcmp(a.argv[0].ptr, "xZZ", 3), 0);
    resp_argv_free(&a);
}

/* Before AUTH (when required) Redis accepts at most 10 arguments and 16 KiB
 * bulks, with its own error texts; whole or split input alike. */
static int parse_unauth(const char *in, size_t len, size_t cut, char *err, size_t cap)
{
    struct resp_parser p;
    cr_assert_eq(resp_parser_init(&p, NULL), 0);
    p.unauthenticated = true;
    struct resp_argv a;
    int rc = resp_parser_feed(&p, in, cut);
    if (rc == 0) {
        rc = resp_parser_next(&p, &a);
    }
    if (rc == 0) {
        rc = resp_parser_feed(&p, in + cut, len - cut);
        if (rc == 0) {
            rc = resp_parser_next(&p, &a);
        }
    }
    if (rc == 1) {
        resp_argv_free(&a);
    }
    snprintf(err, cap, "%s", p.err);
    resp_parser_free(&p);
    return rc;
}

Test(resp_parse, unauthenticated_limits)
{
    char err[200];
    const char many[] = "*11\r\n";
    cr_assert_eq(parse_unauth(many, sizeof(many) - 1, sizeof(many) - 1, err, sizeof err),
                 FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: unauthenticated multibulk length");
    /* Over the general limits, a stranger still gets Redis' unauthenticated
     * text (Redis checks only INT_MAX first). */
    const char huge[] = "*2000000\r\n";
    cr_assert_eq(parse_unauth(huge, sizeof(huge) - 1, sizeof(huge) - 1, err, sizeof err),
                 FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: unauthenticated multibulk length");

    static char big[20000];
    int n = snprintf(big, sizeof big, "*2\r\n$4\r\nAUTH\r\n$16385\r\n");
    memset(big + n, 'x', 16385);
    memcpy(big + n + 16385, "\r\n", 2);
    size_t len = (size_t)n + 16387;
    /* Header alone (checked before the body), and the whole command. */
    cr_assert_eq(parse_unauth(big, len, (size_t)n, err, sizeof err), FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: unauthenticated bulk length");
    cr_assert_eq(parse_unauth(big, len, len, err, sizeof err), FLO_EMALFORMED);
    cr_assert_str_eq(err, "Protocol error: unauthenticated bulk length");

    /* At the limits: accepted. */
    n = snprintf(big, sizeof big, "*2\r\n$4\r\nAUTH\r\n$16384\r\n");
    memset(big + n, 'x', 16384);
    memcpy(big + n + 16384, "\r\n", 2);
    cr_assert_eq(parse_unauth(big, (size_t)n + 16386, (size_t)n, err, sizeof err), 1);
    const char ten[] = "*10\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
                       "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n";
    cr_assert_eq(parse_unauth(ten, sizeof(ten) - 1, 3, err, sizeof err), 1);
}
