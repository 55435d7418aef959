/*
 * flo-dev's op table and the system ops (ping, auth, cluster_status).
 * Like the real server, dispatch is a 1024-slot table indexed by op code;
 * an empty slot (or a code >= 1024) answers status 9 "not implemented" and
 * the connection stays open (flo-protocol-core.md §6.2). Each op family
 * fills its own slots from its own file (dev__kv_register, ...), so adding
 * queues or streams means adding a dev_<family>_ops.c and one call here.
 *
 * Authentication is a flo-dev extension: the real binary port has no AUTH
 * handler (§8), so without an API key AUTH answers "not implemented" exactly
 * like it. With --api-key, a connection must AUTH with the key as the value
 * before any op other than ping/auth.
 */
#include <string.h>

#include "dev_internal.h"
#include "flo/flo_error.h"

#define CLUSTER_STATUS_LEN   21
#define CLUSTER_STATE_LEADER 2

static void op_ping(struct dev_conn *c, const struct dev_req *r)
{
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_STR("PONG"));
}

/* Compare without an early exit, so timing does not reveal the key. */
static bool key_equal(const char *key, size_t key_len, flo_buf_t given)
{
    if (given.len != key_len) {
        return false;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < key_len; i++) {
        diff |= (unsigned char)key[i] ^ given.ptr[i];
    }
    return diff == 0;
}

static void op_auth(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    if (srv->api_key == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "not implemented");
        return;
    }
    if (!key_equal(srv->api_key, srv->api_key_len, r->env.value)) {
        /* A failed attempt does not undo an earlier success (as Redis). */
        dev__reply_text(c, r->id, FLO_STATUS_UNAUTHORIZED, "invalid api key");
        return;
    }
    c->authed = true;
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF_NULL);
}

/* A single node that is its own leader. */
static void op_cluster_status(struct dev_conn *c, const struct dev_req *r)
{
    uint8_t b[CLUSTER_STATUS_LEN];
    flo_st32(b, 1);     /* node_id */
    flo_st32(b + 4, 1); /* leader_id */
    flo_st64(b + 8, 1); /* term */
    b[16] = CLUSTER_STATE_LEADER;
    flo_st32(b + 17, 1); /* member_count */
    dev__reply(c, r->id, FLO_STATUS_OK, FLO_BUF(b, sizeof b));
}

void dev__dispatch_init(struct dev_server *srv)
{
    memset(srv->ops, 0, sizeof srv->ops);
    srv->ops[FLO_OP_PING] = op_ping;
    srv->ops[FLO_OP_AUTH] = op_auth;
    srv->ops[FLO_OP_CLUSTER_STATUS] = op_cluster_status;
    dev__kv_register(srv->ops);
    dev__txn_register(srv->ops);
    dev__kv_json_register(srv->ops);
    dev__queue_register(srv->ops);
    dev__stream_register(srv->ops);
    dev__group_register(srv->ops);
}

void dev__dispatch(struct dev_conn *c, const struct dev_req *r)
{
    struct dev_server *srv = c->srv;
    if (srv->api_key != NULL && !c->authed && r->op != FLO_OP_PING && r->op != FLO_OP_AUTH) {
        dev__reply_text(c, r->id, FLO_STATUS_UNAUTHORIZED, "authentication required");
        return;
    }
    dev_op_fn fn = r->op < DEV_OP_SLOTS ? srv->ops[r->op] : NULL;
    if (fn == NULL) {
        dev__reply_text(c, r->id, FLO_STATUS_INTERNAL, "not implemented");
        return;
    }
    fn(c, r);
}
