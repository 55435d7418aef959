/*
 * A Flo per-shard KV transaction run on behalf of one client request:
 * BEGIN (pinned by a routing key) -> each op carrying txn_id and the routing
 * key, one after another -> COMMIT; on the first failure the transaction is
 * rolled back and nothing is applied. Shared by HTTP (POST /v1/kv/txn) and
 * RESP (MULTI/EXEC), so both protocols get the same semantics and limits.
 *
 * Flo's caps are checked before BEGIN goes upstream: at most
 * PROTO_TXN_MAX_OPS ops and PROTO_TXN_MAX_BYTES of keys + values. Only
 * put/delete/incr/touch/persist/get/exists may appear inside a transaction
 * (Flo refuses scan/mget/json/history in one).
 */
#ifndef PROTO_TXN_H
#define PROTO_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PROTO_TXN_MAX_OPS   256
#define PROTO_TXN_MAX_BYTES (1024u * 1024)

enum proto_txn_kind_e {
    PROTO_TXN_PUT,
    PROTO_TXN_DELETE,
    PROTO_TXN_INCR,
    PROTO_TXN_TOUCH,
    PROTO_TXN_PERSIST,
    PROTO_TXN_GET,
    PROTO_TXN_EXISTS,
};

/* One op as the caller describes it; buffers are borrowed and copied by
 * proto_txn_run before it returns. */
struct proto_txn_op {
    enum proto_txn_kind_e kind;
    flo_buf_t key;
    flo_buf_t value; /* PUT */
    uint64_t ttl_ms; /* PUT (0 = none), TOUCH (0 = clear) */
    bool has_cas;    /* PUT, DELETE, TOUCH, PERSIST */
    uint64_t cas_version;
    bool if_not_exists; /* PUT */
    bool if_exists;     /* PUT */
    int64_t delta;      /* INCR */
};

/* The upstream answer to one op (its body copied, owned by the outcome). */
struct proto_txn_result {
    uint8_t status;
    flo_buf_t body;
};

struct proto_txn_outcome {
    int err;        /* 0, or a libflo code (connection lost, timeout...) */
    bool committed; /* true only if COMMIT answered OK */
    /* On failure: which step failed (-1 BEGIN, 0..n-1 an op, n COMMIT),
     * with the Flo status and its message (a proto_err is filled for you). */
    long failed_step;
    struct proto_err error;
    uint64_t txn_id;
    uint64_t commit_index;
    uint16_t op_count;
    size_t nresults; /* results of the ops that ran, in order */
    const struct proto_txn_result *results;
};

struct proto_txn;

/* Called once with the outcome; the outcome and its buffers are valid only
 * during the call. Never called synchronously from proto_txn_run. */
typedef void (*proto_txn_cb)(void *arg, const struct proto_txn_outcome *out);

/*
 * Validate and start. Returns 0 (cb will be called) or -1 with *e filled
 * (too many ops, too large, empty routing key, bad key) and nothing sent.
 * *out (optional) is a handle for proto_txn_cancel.
 */
int proto_txn_run(const struct proto_ctx *ctx, flo_buf_t ns, flo_buf_t routing_key,
                  const struct proto_txn_op *ops, size_t n, proto_txn_cb cb, void *arg,
                  struct proto_txn **out, struct proto_err *e);

/* The requester went away: cb will not be called; a begun transaction is
 * still rolled back upstream, and the runner frees itself. */
void proto_txn_cancel(struct proto_txn *t);

#endif
