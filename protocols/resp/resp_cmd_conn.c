/*
 * Connection, handshake and server-information commands: HELLO, AUTH, PING,
 * ECHO, QUIT, RESET, SELECT, USE, READONLY/READWRITE, CLIENT, INFO, CONFIG
 * and COMMAND. None of them goes upstream. Replies and error texts follow
 * redis-server 7 so that client libraries' start-up handshakes (redis-py,
 * go-redis, ioredis, Jedis, redis-cli, redis-benchmark) succeed unchanged;
 * docs/resp-commands.md lists where flo-sidecar differs and why.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "proto_auth.h"
#include "resp_internal.h"

#ifndef FLO_VERSION_STRING
#define FLO_VERSION_STRING "0.0.0"
#endif

#define WRONGPASS    "WRONGPASS invalid username-password pair or user is disabled."
#define DEFAULT_USER "default"

static void done(struct resp_pending *p)
{
    resp__pending_done(p);
}

static void reply_ok(struct resp_pending *p)
{
    resp_reply_simple(&p->reply, "OK");
    done(p);
}

/* Redis' ACL check for the default user: with no password configured the
 * default user is "nopass" (any password works), other users do not exist.
 * The password goes through proto_auth (constant time, the live token that
 * SIGHUP may have replaced); a failure is logged without it. */
static bool auth_check(const struct resp_client *c, flo_buf_t user, flo_buf_t pass)
{
    /* User names are case-sensitive in Redis' ACLs; the password is still
     * checked for an unknown user so the reply time does not tell them
     * apart. */
    bool user_ok =
        user.len == strlen(DEFAULT_USER) && memcmp(user.ptr, DEFAULT_USER, user.len) == 0;
    bool pass_ok = !proto_auth_required() || proto_auth_check(pass);
    bool ok = user_ok && pass_ok;
    if (!ok) {
        char who[96];
        snprintf(who, sizeof who, "client=%llu addr=%s", (unsigned long long)c->id, c->addr);
        proto_auth_log_failure("resp", who);
    }
    return ok;
}

/* Redis' validateClientName: printable ASCII without spaces. */
static bool name_valid(flo_buf_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '!' || v.ptr[i] > '~') {
            return false;
        }
    }
    return true;
}

/* Replace *dst with a copy of v (NULL when empty). 0 or -1. */
static int set_str(char **dst, flo_buf_t v)
{
    char *n = NULL;
    if (v.len) {
        n = strndup((const char *)v.ptr, v.len);
        if (!n) {
            return -1;
        }
    }
    free(*dst);
    *dst = n;
    return 0;
}

/* ---- AUTH / HELLO ---- */

static void cmd_auth(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    const flo_buf_t *a = p->args.argv;
    if (p->args.argc > 3) {
        resp_reply_error(&p->reply, "ERR syntax error");
        done(p);
        return;
    }
    if (p->args.argc == 2 && !proto_auth_required()) {
        resp_reply_error(&p->reply,
                         "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
        done(p);
        return;
    }
    flo_buf_t user = p->args.argc == 3 ? a[1] : FLO_BUF_STR(DEFAULT_USER);
    flo_buf_t pass = p->args.argc == 3 ? a[2] : a[1];
    if (!auth_check(c, user, pass)) {
        resp_reply_error(&p->reply, WRONGPASS);
        done(p);
        return;
    }
    c->authed = true;
    reply_ok(p);
}

static void cmd_hello(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    const flo_buf_t *a = p->args.argv;
    size_t argc = p->args.argc, j = 1;
    long long ver = 0;
    if (argc >= 2) {
        if (!resp__arg_ll(a[1], &ver)) {
            resp_reply_error(&p->reply, "ERR Protocol version is not an integer or out of range");
            done(p);
            return;
        }
        if (ver < 2 || ver > 3) {
            resp_reply_error(&p->reply, "NOPROTO unsupported protocol version");
            done(p);
            return;
        }
        j = 2;
    }
    const flo_buf_t *user = NULL, *pass = NULL, *name = NULL;
    for (; j < argc; j++) {
        size_t more = argc - 1 - j;
        if (resp__arg_is(a[j], "AUTH") && more >= 2) {
            user = &a[j + 1];
            pass = &a[j + 2];
            j += 2;
        } else if (resp__arg_is(a[j], "SETNAME") && more >= 1) {
            name = &a[j + 1];
            if (!name_valid(*name) || name->len > RESP_MAX_CLIENT_NAME) {
                resp_reply_error(&p->reply, "ERR Client names cannot contain spaces, newlines or "
                                            "special characters.");
                done(p);
                return;
            }
            j++;
        } else {
            resp_reply_errorf(&p->reply, "ERR Syntax error in HELLO option '%.128s'",
                              (const char *)a[j].ptr);
            done(p);
            return;
        }
    }
    if (user) {
        if (!auth_check(c, *user, *pass)) {
            resp_reply_error(&p->reply, WRONGPASS);
            done(p);
            return;
        }
        c->authed = true;
    }
    if (!c->authed) {
        resp_reply_error(&p->reply,
                         "NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the "
                         "same time");
        done(p);
        return;
    }
    if (name && set_str(&c->name, *name) < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
        done(p);
        return;
    }
    if (ver) {
        c->proto = (int)ver;
        p->proto = (int)ver; /* the HELLO reply itself uses the new protocol */
    }
    struct flo_wbuf *r = &p->reply;
    resp_reply_map(r, p->proto, 7);
    resp_reply_bulk_str(r, "server");
    resp_reply_bulk_str(r, "redis");
    resp_reply_bulk_str(r, "version");
    resp_reply_bulk_str(r, RESP_REDIS_VERSION);
    resp_reply_bulk_str(r, "proto");
    resp_reply_int(r, c->proto);
    resp_reply_bulk_str(r, "id");
    resp_reply_int(r, (int64_t)c->id);
    resp_reply_bulk_str(r, "mode");
    resp_reply_bulk_str(r, "standalone");
    resp_reply_bulk_str(r, "role");
    resp_reply_bulk_str(r, "master");
    resp_reply_bulk_str(r, "modules");
    resp_reply_array(r, 0);
    done(p);
}

/* ---- simple connection commands ---- */

static void cmd_ping(struct resp_pending *p)
{
    if (p->args.argc > 2) {
        resp_reply_error(&p->reply, "ERR wrong number of arguments for 'ping' command");
    } else if (p->args.argc == 2) {
        resp_reply_bulk(&p->reply, p->args.argv[1].ptr, p->args.argv[1].len);
    } else {
        resp_reply_simple(&p->reply, "PONG");
    }
    done(p);
}

static void cmd_echo(struct resp_pending *p)
{
    resp_reply_bulk(&p->reply, p->args.argv[1].ptr, p->args.argv[1].len);
    done(p);
}

static void cmd_quit(struct resp_pending *p)
{
    resp__pending_close_after(p);
    reply_ok(p);
}

static void cmd_reset(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    c->proto = RESP_PROTO_2;
    c->authed = !proto_auth_required();
    free(c->name);
    c->name = NULL;
    c->ns_len = strlen(c->srv->ctx->default_ns);
    memcpy(c->ns, c->srv->ctx->default_ns, c->ns_len);
    resp_reply_simple(&p->reply, "RESET");
    done(p);
}

static void cmd_select(struct resp_pending *p)
{
    long long db;
    if (!resp__arg_ll(p->args.argv[1], &db)) {
        resp_reply_error(&p->reply, "ERR value is not an integer or out of range");
    } else if (db != 0) {
        resp_reply_error(&p->reply, "ERR DB index is out of range (flo-sidecar serves database "
                                    "0 only; use USE <namespace> to switch Flo namespaces)");
    } else {
        resp_reply_simple(&p->reply, "OK");
    }
    done(p);
}

static void cmd_use(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    flo_buf_t ns = p->args.argv[1];
    struct proto_err e;
    if (proto_check_ns(ns, &e) < 0) {
        resp__reply_proto_err(p, &e);
        done(p);
        return;
    }
    memcpy(c->ns, ns.ptr, ns.len);
    c->ns_len = ns.len;
    reply_ok(p);
}

static void cmd_readonly(struct resp_pending *p)
{
    /* Cluster-aware clients send these; every sidecar serves reads and
     * writes, so both are accepted (Redis without cluster mode refuses). */
    reply_ok(p);
}

/* ---- CLIENT ---- */

static void client_setname(struct resp_pending *p)
{
    flo_buf_t v = p->args.argv[2];
    if (!name_valid(v)) {
        resp_reply_error(&p->reply,
                         "ERR Client names cannot contain spaces, newlines or special characters.");
    } else if (v.len > RESP_MAX_CLIENT_NAME) {
        resp_reply_errorf(&p->reply, "ERR client name too large (limit %d bytes)",
                          RESP_MAX_CLIENT_NAME);
    } else if (set_str(&p->c->name, v) < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_simple(&p->reply, "OK");
    }
    done(p);
}

static void client_getname(struct resp_pending *p)
{
    const char *n = p->c->name;
    if (n) {
        resp_reply_bulk_str(&p->reply, n);
    } else {
        resp_reply_null(&p->reply, p->proto);
    }
    done(p);
}

static void client_setinfo(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    flo_buf_t attr = p->args.argv[2], v = p->args.argv[3];
    char **dst;
    if (resp__arg_is(attr, "lib-name")) {
        dst = &c->lib_name;
    } else if (resp__arg_is(attr, "lib-ver")) {
        dst = &c->lib_ver;
    } else {
        resp_reply_errorf(&p->reply, "ERR Unrecognized option '%.128s'", (const char *)attr.ptr);
        done(p);
        return;
    }
    if (!name_valid(v) || v.len > RESP_MAX_CLIENT_NAME) {
        resp_reply_errorf(&p->reply,
                          "ERR %s cannot contain spaces, newlines or special characters.",
                          (const char *)attr.ptr);
    } else if (set_str(dst, v) < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_simple(&p->reply, "OK");
    }
    done(p);
}

static void client_id(struct resp_pending *p)
{
    resp_reply_int(&p->reply, (int64_t)p->c->id);
    done(p);
}

static void client_info(struct resp_pending *p)
{
    struct flo_wbuf line;
    flo_wbuf_init(&line);
    if (resp__client_info(p->c, &line) < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_verbatim(&p->reply, p->proto, "txt", line.data, line.len);
    }
    flo_wbuf_free(&line);
    done(p);
}

static void client_list(struct resp_pending *p)
{
    struct flo_wbuf all;
    flo_wbuf_init(&all);
    int rc = 0;
    for (const struct resp_client *c = p->c->srv->clients; c && rc == 0; c = c->next) {
        rc = resp__client_info(c, &all);
    }
    if (rc < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_verbatim(&p->reply, p->proto, "txt", all.data, all.len);
    }
    flo_wbuf_free(&all);
    done(p);
}

static void client_reply_ok(struct resp_pending *p)
{
    /* CLIENT NO-EVICT / NO-TOUCH: accepted, nothing to do in a proxy. */
    reply_ok(p);
}

static const struct resp_cmd client_subs[] = {
    {"client|setname", 3, RESP_CMD_FAST, 0, 0, 0, "connection", "Sets the connection name.",
     client_setname},
    {"client|getname", 2, RESP_CMD_FAST, 0, 0, 0, "connection", "Returns the connection name.",
     client_getname},
    {"client|setinfo", 4, RESP_CMD_FAST, 0, 0, 0, "connection",
     "Sets information specific to the client or connection.", client_setinfo},
    {"client|id", 2, RESP_CMD_FAST, 0, 0, 0, "connection", "Returns the unique client ID.",
     client_id},
    {"client|info", 2, 0, 0, 0, 0, "connection", "Returns information about the connection.",
     client_info},
    {"client|list", -2, 0, 0, 0, 0, "connection", "Lists open connections.", client_list},
    {"client|no-evict", 3, 0, 0, 0, 0, "connection", "Accepted; has no effect.", client_reply_ok},
    {"client|no-touch", 3, 0, 0, 0, 0, "connection", "Accepted; has no effect.", client_reply_ok},
};

static void cmd_client(struct resp_pending *p)
{
    resp__subcmd_dispatch(p, client_subs, sizeof(client_subs) / sizeof(client_subs[0]), "client");
}

/* ---- INFO ---- */

static int info_section(struct resp_pending *p, struct flo_wbuf *o, const char *sec, int nth)
{
    const struct resp_server *srv = p->c->srv;
    char buf[1024];
    int n = 0;
    uint64_t up = (uv_now(srv->listener.loop) - srv->start_ms) / 1000;
    if (strcmp(sec, "server") == 0) {
        struct utsname u;
        if (uname(&u) < 0) {
            memset(&u, 0, sizeof(u));
        }
        n = snprintf(buf, sizeof(buf),
                     "# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\n"
                     "os:%s %s %s\r\narch_bits:%zu\r\nprocess_id:%ld\r\ntcp_port:%u\r\n"
                     "uptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n"
                     "flo_sidecar_version:%s\r\nflo_default_namespace:%s\r\n",
                     RESP_REDIS_VERSION, u.sysname, u.release, u.machine, sizeof(void *) * 8,
                     (long)getpid(), srv->port, (unsigned long long)up,
                     (unsigned long long)(up / 86400), FLO_VERSION_STRING, srv->ctx->default_ns);
    } else if (strcmp(sec, "clients") == 0) {
        n = snprintf(buf, sizeof(buf),
                     "# Clients\r\nconnected_clients:%zu\r\nblocked_clients:0\r\n"
                     "tracking_clients:0\r\n",
                     srv->nclients);
    } else if (strcmp(sec, "persistence") == 0) {
        /* ioredis waits for loading:0 before its first command. */
        n = snprintf(buf, sizeof(buf),
                     "# Persistence\r\nloading:0\r\nasync_loading:0\r\n"
                     "rdb_bgsave_in_progress:0\r\naof_enabled:0\r\n");
    } else if (strcmp(sec, "replication") == 0) {
        n = snprintf(buf, sizeof(buf), "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
    } else if (strcmp(sec, "upstream") == 0) {
        struct flo_pool_stats st;
        flo_pool_stats(srv->ctx->pool, &st);
        n = snprintf(buf, sizeof(buf),
                     "# Upstream\r\nflo_ready:%d\r\nflo_conns_total:%u\r\nflo_conns_up:%u\r\n"
                     "flo_inflight:%llu\r\nflo_requests:%llu\r\nflo_timeouts:%llu\r\n",
                     flo_pool_ready(srv->ctx->pool) ? 1 : 0, st.conns_total, st.conns_up,
                     (unsigned long long)st.inflight, (unsigned long long)st.requests,
                     (unsigned long long)st.timeouts);
    } else {
        return 0;
    }
    if (nth > 0 && flo_wbuf_append(o, "\r\n", 2) < 0) {
        return -1;
    }
    return flo_wbuf_append(o, buf, (size_t)n) < 0 ? -1 : 1;
}

static const char *const info_all[] = {"server", "clients", "persistence", "replication",
                                       "upstream"};
#define INFO_NSECTIONS (sizeof(info_all) / sizeof(info_all[0]))

static void cmd_info(struct resp_pending *p)
{
    bool want[INFO_NSECTIONS] = {false};
    if (p->args.argc == 1) {
        for (size_t i = 0; i < INFO_NSECTIONS; i++) {
            want[i] = true;
        }
    }
    for (size_t a = 1; a < p->args.argc; a++) {
        flo_buf_t arg = p->args.argv[a];
        bool all = resp__arg_is(arg, "all") || resp__arg_is(arg, "everything") ||
                   resp__arg_is(arg, "default");
        for (size_t i = 0; i < INFO_NSECTIONS; i++) {
            if (all || resp__arg_is(arg, info_all[i])) {
                want[i] = true;
            }
        }
    }
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    int nth = 0, rc = 0;
    for (size_t i = 0; i < INFO_NSECTIONS && rc >= 0; i++) {
        if (want[i]) {
            rc = info_section(p, &o, info_all[i], nth);
            nth += rc > 0;
        }
    }
    if (rc < 0) {
        resp_reply_error(&p->reply, "ERR out of memory");
    } else {
        resp_reply_verbatim(&p->reply, p->proto, "txt", o.data, o.len);
    }
    flo_wbuf_free(&o);
    done(p);
}

/* ---- CONFIG ---- */

/* Parameters clients and tools ask for (redis-benchmark: save, appendonly).
 * Values describe the sidecar: no persistence of its own, one database. */
static const struct {
    const char *name, *value;
} config_params[] = {
    {"appendonly", "no"}, {"cluster-enabled", "no"},          {"databases", "1"},
    {"maxmemory", "0"},   {"maxmemory-policy", "noeviction"}, {"save", ""},
    {"timeout", "0"},
};
#define CONFIG_NPARAMS (sizeof(config_params) / sizeof(config_params[0]))

static void config_get(struct resp_pending *p)
{
    bool match[CONFIG_NPARAMS] = {false};
    size_t n = 0;
    for (size_t a = 2; a < p->args.argc; a++) {
        const char *pat = (const char *)p->args.argv[a].ptr;
        for (size_t i = 0; i < CONFIG_NPARAMS; i++) {
            if (!match[i] && fnmatch(pat, config_params[i].name, FNM_CASEFOLD) == 0) {
                match[i] = true;
                n++;
            }
        }
    }
    resp_reply_map(&p->reply, p->proto, n);
    for (size_t i = 0; i < CONFIG_NPARAMS; i++) {
        if (match[i]) {
            resp_reply_bulk_str(&p->reply, config_params[i].name);
            resp_reply_bulk_str(&p->reply, config_params[i].value);
        }
    }
    done(p);
}

static void config_set(struct resp_pending *p)
{
    resp_reply_error(&p->reply, "ERR CONFIG SET is not supported by flo-sidecar: configure it "
                                "with command-line flags or environment variables");
    done(p);
}

static void config_resetstat(struct resp_pending *p)
{
    reply_ok(p);
}

static const struct resp_cmd config_subs[] = {
    {"config|get", -3, 0, 0, 0, 0, "server", "Returns the effective values of parameters.",
     config_get},
    {"config|set", -4, 0, 0, 0, 0, "server", "Not supported by flo-sidecar.", config_set},
    {"config|resetstat", 2, 0, 0, 0, 0, "server", "Accepted; has no effect.", config_resetstat},
};

static void cmd_config(struct resp_pending *p)
{
    resp__subcmd_dispatch(p, config_subs, sizeof(config_subs) / sizeof(config_subs[0]), "config");
}

/* ---- COMMAND ---- */

static void command_all(struct resp_pending *p)
{
    size_t n = resp__cmd_count();
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n; i++) {
        resp__cmd_reply_info(p, resp__cmd_at(i));
    }
    done(p);
}

static void command_count(struct resp_pending *p)
{
    resp_reply_int(&p->reply, (int64_t)resp__cmd_count());
    done(p);
}

static void command_list(struct resp_pending *p)
{
    size_t n = resp__cmd_count();
    resp_reply_array(&p->reply, n);
    for (size_t i = 0; i < n; i++) {
        resp_reply_bulk_str(&p->reply, resp__cmd_at(i)->name);
    }
    done(p);
}

static void command_info(struct resp_pending *p)
{
    if (p->args.argc == 2) {
        command_all(p);
        return;
    }
    resp_reply_array(&p->reply, p->args.argc - 2);
    for (size_t a = 2; a < p->args.argc; a++) {
        const struct resp_cmd *cmd = resp__cmd_lookup(p->args.argv[a]);
        if (cmd) {
            resp__cmd_reply_info(p, cmd);
        } else {
            resp_reply_null(&p->reply, p->proto);
        }
    }
    done(p);
}

static void command_docs(struct resp_pending *p)
{
    size_t n = 0;
    if (p->args.argc == 2) {
        n = resp__cmd_count();
        resp_reply_map(&p->reply, p->proto, n);
        for (size_t i = 0; i < n; i++) {
            resp__cmd_reply_docs(p, resp__cmd_at(i));
        }
        done(p);
        return;
    }
    for (size_t a = 2; a < p->args.argc; a++) {
        n += resp__cmd_lookup(p->args.argv[a]) != NULL;
    }
    resp_reply_map(&p->reply, p->proto, n);
    for (size_t a = 2; a < p->args.argc; a++) {
        const struct resp_cmd *cmd = resp__cmd_lookup(p->args.argv[a]);
        if (cmd) {
            resp__cmd_reply_docs(p, cmd);
        }
    }
    done(p);
}

static const struct resp_cmd command_subs[] = {
    {"command|count", 2, 0, 0, 0, 0, "server", "Returns a count of commands.", command_count},
    {"command|docs", -2, 0, 0, 0, 0, "server", "Returns documentary information about commands.",
     command_docs},
    {"command|info", -2, 0, 0, 0, 0, "server", "Returns information about commands.", command_info},
    {"command|list", -2, 0, 0, 0, 0, "server", "Returns a list of command names.", command_list},
};

static void cmd_command(struct resp_pending *p)
{
    if (p->args.argc == 1) {
        if (!p->c->authed) {
            resp_reply_error(&p->reply, "NOAUTH Authentication required.");
            done(p);
            return;
        }
        command_all(p);
        return;
    }
    resp__subcmd_dispatch(p, command_subs, sizeof(command_subs) / sizeof(command_subs[0]),
                          "command");
}

/* ---- CLIENT INFO line ---- */

int resp__client_info(const struct resp_client *c, struct flo_wbuf *out)
{
    uint64_t now = uv_now(c->srv->listener.loop);
    uv_os_fd_t fd = -1;
    uv_fileno((const uv_handle_t *)&c->tcp, &fd);
    /* Fits the longest name, library fields and namespace (each bounded). */
    char line[2048];
    int n = snprintf(line, sizeof(line),
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=N db=0 "
                     "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu obl=%zu oll=%u cmd=%s user=default "
                     "redir=-1 resp=%d lib-name=%s lib-ver=%s ns=%.*s\n",
                     (unsigned long long)c->id, c->addr, c->laddr, (int)fd, c->name ? c->name : "",
                     (unsigned long long)((now - c->created_ms) / 1000),
                     (unsigned long long)((now - c->last_ms) / 1000),
                     resp_parser_buffered(&c->parser), c->out.len + c->wout.len, c->npending,
                     c->last_cmd ? c->last_cmd : "NULL", c->proto, c->lib_name ? c->lib_name : "",
                     c->lib_ver ? c->lib_ver : "", (int)c->ns_len, c->ns);
    if (n < 0) {
        return FLO_EINVAL;
    }
    return flo_wbuf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- the table ---- */

const struct resp_cmd resp__conn_cmds[] = {
    {"hello", -1, RESP_CMD_NOAUTH | RESP_CMD_FAST, 0, 0, 0, "connection",
     "Handshakes with the server.", cmd_hello},
    {"auth", -2, RESP_CMD_NOAUTH | RESP_CMD_FAST, 0, 0, 0, "connection",
     "Authenticates the connection.", cmd_auth},
    {"ping", -1, RESP_CMD_FAST, 0, 0, 0, "connection", "Returns the server's liveliness response.",
     cmd_ping},
    {"echo", 2, RESP_CMD_FAST, 0, 0, 0, "connection", "Returns the given string.", cmd_echo},
    {"quit", -1, RESP_CMD_NOAUTH | RESP_CMD_FAST, 0, 0, 0, "connection", "Closes the connection.",
     cmd_quit},
    {"reset", 1, RESP_CMD_NOAUTH | RESP_CMD_FAST, 0, 0, 0, "connection", "Resets the connection.",
     cmd_reset},
    {"select", 2, RESP_CMD_FAST, 0, 0, 0, "connection", "Selects the database (only 0 exists).",
     cmd_select},
    {"use", 2, RESP_CMD_FAST, 0, 0, 0, "connection", "Changes the Flo namespace of the connection.",
     cmd_use},
    {"readonly", 1, RESP_CMD_FAST, 0, 0, 0, "cluster", "Accepted; has no effect.", cmd_readonly},
    {"readwrite", 1, RESP_CMD_FAST, 0, 0, 0, "cluster", "Accepted; has no effect.", cmd_readonly},
    {"client", -2, RESP_CMD_CONTAINER, 0, 0, 0, "connection",
     "A container for client connection commands.", cmd_client},
    {"info", -1, 0, 0, 0, 0, "server", "Returns information and statistics about the server.",
     cmd_info},
    {"config", -2, RESP_CMD_CONTAINER, 0, 0, 0, "server",
     "A container for server configuration commands.", cmd_config},
    {"command", -1, RESP_CMD_CONTAINER, 0, 0, 0, "server",
     "Returns detailed information about all commands.", cmd_command},
};
const size_t resp__conn_ncmds = sizeof(resp__conn_cmds) / sizeof(resp__conn_cmds[0]);
