/*
 * Session ids (internal to proto_session.c): the binary identity of a
 * session, signed with HMAC-SHA256 and written as base64url without padding.
 * Layout: [version u8 = 1][claim_idle_ms u32 LE][ns str8][stream str16]
 * [group str8][consumer str8] + the first 16 bytes of
 * HMAC-SHA256(key, everything before). See proto_session.h.
 */
#ifndef PROTO_SESSION_ID_H
#define PROTO_SESSION_ID_H

#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"

#define PROTO__SESS_ID_VERSION 1u
#define PROTO__SESS_MAC_LEN    16u
#define PROTO__SESS_KEY_MAX    64u /* a configured secret longer than this is hashed first */

/* The identity an id carries. Views borrow from the caller. */
struct proto__sess_ident {
    uint32_t claim_idle_ms;
    flo_buf_t ns, stream, group, consumer;
};

/* The HMAC key. */
struct proto__sess_key {
    uint8_t k[PROTO__SESS_KEY_MAX];
    size_t len;
};

/*
 * Build the key: a configured secret (secret_len > 0) is used as is (hashed
 * with SHA-256 when longer than PROTO__SESS_KEY_MAX, as HMAC itself would);
 * otherwise SHA-256("flo-sidecar session v1" || derive_from), derive_from
 * may be NULL (= empty). 0 or FLO_ENOMEM.
 */
int proto__sess_key_init(struct proto__sess_key *key, const uint8_t *secret, size_t secret_len,
                         const char *derive_from);

/*
 * Write the id of `id` NUL-terminated into out (cap bytes). Returns its
 * length, FLO_EINVAL if a field does not fit its length prefix, or
 * FLO_ELIMIT if the text would not fit cap (PROTO_SESS_ID_MAX + 1).
 */
int proto__sess_id_encode(const struct proto__sess_key *key, const struct proto__sess_ident *id,
                          char *out, size_t cap);

/*
 * Check and decode an id. On success 0 and *id views into `scratch`
 * (at least PROTO_SESS_ID_MAX bytes). Otherwise FLO_EMALFORMED with *why a
 * sentence for the client (not base64url, truncated, unknown version,
 * signature mismatch).
 */
int proto__sess_id_decode(const struct proto__sess_key *key, flo_buf_t text, uint8_t *scratch,
                          size_t cap, struct proto__sess_ident *id, const char **why);

#endif
