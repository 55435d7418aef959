/*
 * The command table: case-insensitive lookup (a uthash index over the
 * tables of the resp_cmd_*.c files), the checks redis-server
 * makes before running a command (unknown command, arity, authentication,
 * in that order, with its exact error texts), subcommand dispatch for
 * container commands (CLIENT, CONFIG, COMMAND), and the COMMAND INFO / DOCS
 * entries clients read at start-up.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "resp_internal.h"

/* Longest command name we index ("client|setinfo" fits easily). */
#define CMD_NAME_MAX 32
/* Redis quotes at most this many bytes of the name and of the arguments
 * in "unknown command" errors. */
#define UNKNOWN_QUOTE_MAX 128

struct cmd_index {
    char name[CMD_NAME_MAX]; /* lowercase key */
    const struct resp_cmd *cmd;
    UT_hash_handle hh;
};

static struct cmd_index *index_head;
static struct cmd_index *index_storage;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

/* Every command file's table, in COMMAND listing order. */
static const struct {
    const struct resp_cmd *cmds;
    const size_t *n;
} tables[] = {
    {resp__conn_cmds, &resp__conn_ncmds},
    {resp__kv_cmds, &resp__kv_ncmds},
    {resp__kv_ext_cmds, &resp__kv_ext_ncmds},
    {resp__scan_cmds, &resp__scan_ncmds},
    {resp__json_cmds, &resp__json_ncmds},
    {resp__txn_cmds, &resp__txn_ncmds},
    {resp__flo_cmds, &resp__flo_ncmds},
    {resp__queue_cmds, &resp__queue_ncmds},
    {resp__flo_queue_cmds, &resp__flo_queue_ncmds},
    {resp__stream_cmds, &resp__stream_ncmds},
    {resp__xread_cmds, &resp__xread_ncmds},
    {resp__xgroup_cmds, &resp__xgroup_ncmds},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

size_t resp__cmd_count(void)
{
    size_t n = 0;
    for (size_t t = 0; t < NTABLES; t++) {
        n += *tables[t].n;
    }
    return n;
}

const struct resp_cmd *resp__cmd_at(size_t i)
{
    for (size_t t = 0; t < NTABLES; t++) {
        if (i < *tables[t].n) {
            return &tables[t].cmds[i];
        }
        i -= *tables[t].n;
    }
    return NULL;
}

static void index_build(void)
{
    size_t n = resp__cmd_count();
    /* Built once per process and kept for its lifetime (a static table). */
    index_storage = calloc(n, sizeof(*index_storage));
    if (!index_storage) {
        return; /* lookups then find nothing: every command is "unknown" */
    }
    for (size_t i = 0; i < n; i++) {
        const struct resp_cmd *cmd = resp__cmd_at(i);
        struct cmd_index *e = &index_storage[i];
        snprintf(e->name, sizeof(e->name), "%s", cmd->name);
        e->cmd = cmd;
        HASH_ADD_STR(index_head, name, e);
    }
}

/* Lowercase `name` into buf; false if too long to be a command name. */
static bool lower_name(flo_buf_t name, char *buf, size_t cap)
{
    if (name.len == 0 || name.len >= cap) {
        return false;
    }
    for (size_t i = 0; i < name.len; i++) {
        buf[i] = (char)tolower(name.ptr[i]);
    }
    buf[name.len] = 0;
    return true;
}

const struct resp_cmd *resp__cmd_lookup(flo_buf_t name)
{
    pthread_once(&index_once, index_build);
    char key[CMD_NAME_MAX];
    if (!lower_name(name, key, sizeof(key)) || memchr(name.ptr, '|', name.len)) {
        return NULL;
    }
    struct cmd_index *e = NULL;
    HASH_FIND_STR(index_head, key, e);
    return e ? e->cmd : NULL;
}

bool resp__arg_is(flo_buf_t arg, const char *s)
{
    size_t n = strlen(s);
    return arg.len == n && strncasecmp((const char *)arg.ptr, s, n) == 0;
}

bool resp__arg_ll(flo_buf_t arg, long long *out)
{
    const uint8_t *p = arg.ptr;
    size_t n = arg.len;
    if (n == 0 || n > 20) {
        return false;
    }
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = p[0] == '-' ? 1 : 0;
    if (i >= n || p[i] < '1' || p[i] > '9') {
        return false; /* no '+', no leading zeros, no spaces: like string2ll */
    }
    for (size_t k = i; k < n; k++) {
        if (!isdigit(p[k])) {
            return false;
        }
    }
    errno = 0;
    long long v = strtoll((const char *)p, NULL, 10); /* argv is NUL-terminated */
    if (errno == ERANGE) {
        return false;
    }
    *out = v;
    return true;
}

static bool arity_ok(const struct resp_cmd *cmd, size_t argc)
{
    return cmd->arity > 0 ? argc == (size_t)cmd->arity : argc >= (size_t)-cmd->arity;
}

static void reply_arity(struct resp_pending *p, const char *name)
{
    resp__multi_flag_error(p->c);
    resp_reply_errorf(&p->reply, "ERR wrong number of arguments for '%s' command", name);
    resp__pending_done(p);
}

/* Auth check and run; the command was found and its arity checked. */
static void run(struct resp_pending *p, const struct resp_cmd *cmd)
{
    struct resp_client *c = p->c;
    if (!c->authed && !(cmd->flags & RESP_CMD_NOAUTH)) {
        resp__multi_flag_error(c);
        resp_reply_error(&p->reply, "NOAUTH Authentication required.");
        resp__pending_done(p);
        return;
    }
    c->last_cmd = cmd->name;
    if (resp__multi_admit(p, cmd)) {
        return; /* queued for EXEC, or refused inside MULTI */
    }
    resp__pending_run(p, cmd);
}

void resp__cmd_dispatch(struct resp_pending *p)
{
    const flo_buf_t *argv = p->args.argv;
    size_t argc = p->args.argc;
    const struct resp_cmd *cmd = resp__cmd_lookup(argv[0]);
    if (!cmd) {
        /* Redis' exact text: the name and the first arguments quoted, up to
         * 128 bytes, each argument followed by a space. */
        char args[UNKNOWN_QUOTE_MAX * 2 + 8];
        size_t used = 0;
        args[0] = 0;
        for (size_t i = 1; i < argc && used < UNKNOWN_QUOTE_MAX; i++) {
            int w = snprintf(args + used, sizeof(args) - used, "'%.*s' ",
                             (int)(UNKNOWN_QUOTE_MAX - used), (const char *)argv[i].ptr);
            if (w < 0 || (size_t)w >= sizeof(args) - used) {
                break;
            }
            used += (size_t)w;
        }
        resp__multi_flag_error(p->c);
        resp_reply_errorf(&p->reply, "ERR unknown command '%.128s', with args beginning with: %s",
                          (const char *)argv[0].ptr, args);
        resp__pending_done(p);
        return;
    }
    if (!arity_ok(cmd, argc)) {
        reply_arity(p, cmd->name);
        return;
    }
    if (cmd->flags & RESP_CMD_CONTAINER) {
        cmd->handler(p); /* checks its subcommand, then auth, itself */
        return;
    }
    run(p, cmd);
}

void resp__subcmd_dispatch(struct resp_pending *p, const struct resp_cmd *subs, size_t nsubs,
                           const char *container)
{
    flo_buf_t sub = p->args.argv[1];
    size_t clen = strlen(container);
    for (size_t i = 0; i < nsubs; i++) {
        /* Table names are "container|sub". */
        const char *sname = subs[i].name + clen + 1;
        if (resp__arg_is(sub, sname)) {
            if (!arity_ok(&subs[i], p->args.argc)) {
                reply_arity(p, subs[i].name);
                return;
            }
            run(p, &subs[i]);
            return;
        }
    }
    char upper[CMD_NAME_MAX];
    size_t k;
    for (k = 0; k < clen && k + 1 < sizeof(upper); k++) {
        upper[k] = (char)toupper((unsigned char)container[k]);
    }
    upper[k] = 0;
    resp__multi_flag_error(p->c);
    resp_reply_errorf(&p->reply, "ERR unknown subcommand '%.128s'. Try %s HELP.",
                      (const char *)sub.ptr, upper);
    resp__pending_done(p);
}

/* ---- COMMAND INFO / DOCS entries ---- */

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {RESP_CMD_WRITE, "write"},
    {RESP_CMD_READONLY, "readonly"},
    {RESP_CMD_FAST, "fast"},
    {RESP_CMD_NOAUTH, "no_auth"},
};

void resp__cmd_reply_info(struct resp_pending *p, const struct resp_cmd *cmd)
{
    struct flo_wbuf *r = &p->reply;
    size_t nflags = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        nflags += (cmd->flags & flag_names[i].flag) != 0;
    }
    /* Redis 7 layout: name, arity, flags, first key, last key, step,
     * ACL categories, tips, key specifications, subcommands. */
    resp_reply_array(r, 10);
    resp_reply_bulk_str(r, cmd->name);
    resp_reply_int(r, cmd->arity);
    resp_reply_set(r, p->proto, nflags);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
        if (cmd->flags & flag_names[i].flag) {
            resp_reply_simple(r, flag_names[i].name);
        }
    }
    resp_reply_int(r, cmd->first_key);
    resp_reply_int(r, cmd->last_key);
    resp_reply_int(r, cmd->key_step);
    resp_reply_set(r, p->proto, 0);
    resp_reply_set(r, p->proto, 0);
    resp_reply_array(r, 0);
    resp_reply_array(r, 0);
}

void resp__cmd_reply_docs(struct resp_pending *p, const struct resp_cmd *cmd)
{
    struct flo_wbuf *r = &p->reply;
    resp_reply_bulk_str(r, cmd->name);
    resp_reply_map(r, p->proto, 3);
    resp_reply_bulk_str(r, "summary");
    resp_reply_bulk_str(r, cmd->summary ? cmd->summary : "");
    resp_reply_bulk_str(r, "since");
    resp_reply_bulk_str(r, "1.0.0");
    resp_reply_bulk_str(r, "group");
    resp_reply_bulk_str(r, cmd->group ? cmd->group : "generic");
}
