/*
 * Consumer-group sessions, shared by the HTTP and RESP front ends: the
 * sidecar-side state that lets a stateless client be a reliable member of a
 * Flo stream consumer group (design.md, "Sessions").
 *
 * A session is (namespace, stream, group, consumer) plus the sidecar's
 * bookkeeping (last use, claim cursor, whether it has joined upstream since
 * the last reconnect). Its id carries the identity itself, authenticated
 * with HMAC-SHA256 under the sidecar's session secret, so an id presented to
 * a restarted sidecar, or to another replica with the same secret, is
 * re-attached (the membership is joined again) instead of being unknown.
 *
 * Reading: Flo hands a pending record out again only through claim (its
 * sweeper never pushes), so every session read first claims the group's
 * entries idle for at least the session's claim_idle_ms (continuing from the
 * session's claim cursor), reports their delivery counts (from pending), and
 * only then reads new records (group read, blocking for block_ms). A
 * blocking read is cut into slices of at most claim_idle_ms so that records
 * abandoned by a dead consumer reach a waiting session in time.
 *
 * Liveness: Flo has no member heartbeat, so "keeping a membership alive" is
 * re-joining after every upstream reconnect (detected from the pool's
 * reconnect counter) and on re-attach. A session unused for idle_ms (no
 * operation in flight, none started) expires: the sidecar leaves the group
 * upstream and forgets the session. Using an expired id again re-attaches it.
 *
 * RESP consumers (XREADGROUP GROUP g c) are registered implicitly with
 * proto_sess_resp_use and expire the same way.
 *
 * Everything runs on the loop thread. Callbacks are never invoked from
 * inside the call that started the operation.
 */
#ifndef PROTO_SESSION_H
#define PROTO_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flo/flo_buf.h"
#include "flo/flo_ops.h"
#include "flo/flo_pool.h"
#include "proto.h"

#define PROTO_SESS_DEFAULT_IDLE_MS       300000u /* 5 minutes */
#define PROTO_SESS_DEFAULT_CLAIM_IDLE_MS 30000u  /* Flo's default ack timeout */
#define PROTO_SESS_DEFAULT_MAX           65536u  /* sessions per sidecar */
#define PROTO_SESS_MAX_NAME                                                                        \
    255u                               /* stream / group / consumer bytes in an id                 \
                                          (group and consumer travel as str8) */
#define PROTO_SESS_MAX_COUNT     1000u /* records per read (Flo's cap) */
#define PROTO_SESS_DEFAULT_COUNT 10u
#define PROTO_SESS_MAX_IDS       1000u /* ids per ack / nack / touch (Flo's cap) */
#define PROTO_SESS_ID_MAX        1024u /* longest session id text */
#define PROTO_SESS_SECRET_MIN    16u   /* bytes of a configured secret */

typedef struct proto_sess_reg proto_sess_reg_t;
typedef struct proto_sess proto_sess_t;
typedef struct proto_sess_op proto_sess_op_t;

struct proto_sess_cfg {
    uint32_t idle_ms; /* expiry of an unused session; 0 = default */
    /* HTTP sessions at once; RESP consumers have their own limit of the
     * same value. 0 = default */
    uint32_t max_sessions;
    /* HMAC key for session ids. NULL = derive one from `derive_from`
     * (the API key and auth token, when set) so that replicas with the same
     * configuration accept each other's ids; see docs/http-api.md. */
    const uint8_t *secret;
    size_t secret_len;
    const char *derive_from; /* may be NULL */
};

/*
 * Create the registry on `loop`, using `pool` for upstream calls. Both must
 * outlive it. 0 and *out, FLO_EINVAL (secret shorter than
 * PROTO_SESS_SECRET_MIN), FLO_ENOMEM.
 */
int proto_sess_reg_new(uv_loop_t *loop, flo_pool_t *pool, const struct proto_sess_cfg *cfg,
                       proto_sess_reg_t **out);

/*
 * Shut down: refuse new sessions and operations, cancel operations in
 * flight (their callbacks run with a 503 "shutting down" error), leave every
 * group upstream (waiting at most timeout_ms for the answers), then free
 * everything and call `done` (optional) from the loop.
 */
void proto_sess_reg_close(proto_sess_reg_t *reg, uint32_t timeout_ms, void (*done)(void *arg),
                          void *arg);

struct proto_sess_stats {
    uint64_t http_sessions, resp_consumers; /* live now */
    uint64_t created, expired, ended, reattached, rejoins;
};
void proto_sess_reg_stats(const proto_sess_reg_t *reg, struct proto_sess_stats *out);

/* ---- HTTP sessions ---- */

struct proto_sess_spec {
    flo_buf_t ns, stream, group;
    flo_buf_t consumer;     /* empty = generated ("sc-" + 16 hex digits) */
    uint32_t claim_idle_ms; /* 0 = PROTO_SESS_DEFAULT_CLAIM_IDLE_MS */
};

/* What a session is (views valid while the caller holds the session). */
struct proto_sess_info {
    flo_buf_t id, ns, stream, group, consumer;
    uint32_t idle_ms, claim_idle_ms;
    uint64_t created_at_ms, last_used_at_ms, expires_at_ms; /* wall clock */
    uint32_t ops_in_flight;
    uint64_t delivered; /* records handed to the client by this sidecar */
};

/* Completion of create / get-by-id: s is held for the caller (release with
 * proto_sess_put), or NULL with *e set. */
typedef void (*proto_sess_cb)(void *arg, proto_sess_t *s, const struct proto_err *e);

/*
 * Validate spec (names non-empty, each <= PROTO_SESS_MAX_NAME, namespace
 * <= PROTO_MAX_NAMESPACE, no NUL in group / consumer), join upstream, and
 * register the session. Validation errors return -1 with *e (400; 429
 * "too many sessions" at max_sessions HTTP sessions) and no callback; otherwise 0 and `cb`
 * runs later. *op (optional) may be cancelled until then.
 */
int proto_sess_create(proto_sess_reg_t *reg, const struct proto_sess_spec *spec, proto_sess_cb cb,
                      void *arg, proto_sess_op_t **op, struct proto_err *e);

/*
 * Resolve a session id. A known id is returned at once (0, *out held). A
 * well-signed id this sidecar does not know (restart, other replica,
 * expired) is re-attached: registered again and joined on its next
 * operation. A malformed or badly signed id gives -1 with *e: 404
 * "unknown_session" with a message that says why.
 */
int proto_sess_get(proto_sess_reg_t *reg, flo_buf_t id, proto_sess_t **out, struct proto_err *e);

/* Hold / release a session. A session is never freed while held; holding
 * marks it in use (it cannot expire), releasing restarts its idle clock. */
void proto_sess_hold(proto_sess_t *s);
void proto_sess_put(proto_sess_t *s);

void proto_sess_describe(const proto_sess_t *s, struct proto_sess_info *out);

/* One record handed to the client. Views valid during the callback only. */
struct proto_sess_rec {
    struct flo_stream_record rec;
    uint32_t delivery_count; /* 1 for a first delivery; more for a claim */
};

struct proto_sess_read_args {
    uint32_t count;    /* 1..PROTO_SESS_MAX_COUNT; 0 = PROTO_SESS_DEFAULT_COUNT */
    uint32_t block_ms; /* 0 = do not wait; capped at Flo's maximum */
};

/* Records (n may be 0: the wait ran out), or e != NULL. */
typedef void (*proto_sess_read_cb)(void *arg, const struct proto_sess_rec *recs, size_t n,
                                   const struct proto_err *e);

/*
 * Claim idle entries, then read new records (see the file comment). The
 * session is held until `cb` has run. 0, or -1 with *e and no callback.
 */
int proto_sess_read(proto_sess_t *s, const struct proto_sess_read_args *a, proto_sess_read_cb cb,
                    void *arg, proto_sess_op_t **op, struct proto_err *e);

enum proto_sess_idop_e { PROTO_SESS_ACK, PROTO_SESS_NACK, PROTO_SESS_TOUCH };

/* n: for TOUCH the number of ids Flo found pending; else the ids sent. */
typedef void (*proto_sess_done_cb)(void *arg, uint64_t n, const struct proto_err *e);

/*
 * Ack, nack or touch 1..PROTO_SESS_MAX_IDS ids (copied) as this session's
 * consumer. Nack raises the delivery count; the record comes back through a
 * claim once idle for claim_idle_ms (by this or another session).
 */
int proto_sess_ids(proto_sess_t *s, enum proto_sess_idop_e kind, const struct flo_stream_id *ids,
                   size_t n, proto_sess_done_cb cb, void *arg, proto_sess_op_t **op,
                   struct proto_err *e);

/*
 * End the session: leave the group upstream (unless another live session or
 * RESP consumer shares its (ns, stream, group, consumer): one membership,
 * left when the last of them ends) and forget it (operations still
 * in flight finish first; the record is freed when the last holder
 * releases it). `cb` gets n = 0.
 */
int proto_sess_end(proto_sess_t *s, proto_sess_done_cb cb, void *arg, proto_sess_op_t **op,
                   struct proto_err *e);

/* Detach an operation's owner: its callback will never run. A create's
 * join still in flight is waited for and, if it made the consumer a member,
 * left again (unless another live record shares that membership); the same
 * holds for a create cut off by proto_sess_reg_close. */
void proto_sess_op_cancel(proto_sess_op_t *op);

/* ---- RESP consumers ---- */

/*
 * Note a use of consumer `consumer` of (ns, stream, group) by a RESP client
 * (XREADGROUP, XACK, ...): registers it on first use, restarts its idle
 * clock. Joining is left to the group read itself (Flo's read joins). 0, or
 * FLO_ELIMIT at max_sessions RESP consumers (counted apart from HTTP
 * sessions) / FLO_ENOMEM (the command still runs; the
 * consumer is then not expired by the sidecar).
 */
int proto_sess_resp_use(proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer);
/* Forget a RESP consumer (XGROUP DELCONSUMER already left upstream). */
void proto_sess_resp_forget(proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                            flo_buf_t consumer);

/* Visit the consumers of (ns, stream, group) this sidecar knows (HTTP
 * sessions and RESP consumers): name and milliseconds since last use. */
void proto_sess_foreach_member(const proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream,
                               flo_buf_t group,
                               void (*fn)(void *arg, flo_buf_t consumer, uint64_t idle_ms),
                               void *arg);

#endif
