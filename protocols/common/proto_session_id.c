/*
 * Session id encoding, signing and verification (proto_session_id.h). The
 * id is self-describing so that any sidecar holding the same key can
 * re-attach a session it has never seen; the truncated HMAC-SHA256 (128
 * bits) stops clients from forging ids for other consumers.
 */
#include <sodium.h>
#include <string.h>

#include "flo/flo_error.h"
#include "proto_base64.h"
#include "proto_session.h"
#include "proto_session_id.h"

#define DERIVE_LABEL "flo-sidecar session v1"

int proto__sess_key_init(struct proto__sess_key *key, const uint8_t *secret, size_t secret_len,
                         const char *derive_from)
{
    if (secret_len > 0 && secret_len <= PROTO__SESS_KEY_MAX) {
        memcpy(key->k, secret, secret_len);
        key->len = secret_len;
        return 0;
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    if (secret_len > 0) {
        crypto_hash_sha256_update(&st, secret, secret_len);
    } else {
        crypto_hash_sha256_update(&st, (const uint8_t *)DERIVE_LABEL, strlen(DERIVE_LABEL));
        if (derive_from != NULL) {
            crypto_hash_sha256_update(&st, (const uint8_t *)derive_from, strlen(derive_from));
        }
    }
    crypto_hash_sha256_final(&st, key->k);
    key->len = crypto_hash_sha256_BYTES;
    return 0;
}

static int mac(const struct proto__sess_key *key, const uint8_t *p, size_t n,
               uint8_t out[PROTO__SESS_MAC_LEN])
{
    uint8_t full[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    if (crypto_auth_hmacsha256_init(&st, key->k, key->len) != 0 ||
        crypto_auth_hmacsha256_update(&st, p, n) != 0 ||
        crypto_auth_hmacsha256_final(&st, full) != 0) {
        return FLO_ENOMEM;
    }
    memcpy(out, full, PROTO__SESS_MAC_LEN);
    return 0;
}

/* Append a name with a u8 or u16 length prefix. */
static int put_name(uint8_t *buf, size_t cap, size_t *pos, flo_buf_t s, size_t max, int width)
{
    if (s.len > max || *pos + (size_t)width + s.len > cap) {
        return FLO_EINVAL;
    }
    buf[(*pos)++] = (uint8_t)s.len;
    if (width == 2) {
        buf[(*pos)++] = (uint8_t)(s.len >> 8);
    }
    if (s.len > 0) {
        memcpy(buf + *pos, s.ptr, s.len);
    }
    *pos += s.len;
    return 0;
}

int proto__sess_id_encode(const struct proto__sess_key *key, const struct proto__sess_ident *id,
                          char *out, size_t cap)
{
    /* Worst case: 26 bytes of framing and MAC plus four names. */
    uint8_t raw[32 + 3 * UINT8_MAX + UINT16_MAX];
    size_t pos = 0;
    raw[pos++] = PROTO__SESS_ID_VERSION;
    flo_st32(raw + pos, id->claim_idle_ms);
    pos += 4;
    if (put_name(raw, sizeof raw, &pos, id->ns, UINT8_MAX, 1) < 0 ||
        put_name(raw, sizeof raw, &pos, id->stream, UINT16_MAX, 2) < 0 ||
        put_name(raw, sizeof raw, &pos, id->group, UINT8_MAX, 1) < 0 ||
        put_name(raw, sizeof raw, &pos, id->consumer, UINT8_MAX, 1) < 0) {
        return FLO_EINVAL;
    }
    int rc = mac(key, raw, pos, raw + pos);
    if (rc < 0) {
        return rc;
    }
    pos += PROTO__SESS_MAC_LEN;
    size_t need = proto_b64_encoded_len(pos, false);
    if (need + 1 > cap || need > PROTO_SESS_ID_MAX) {
        return FLO_ELIMIT;
    }
    size_t o = proto_b64_encode(out, FLO_BUF(raw, pos), true, false);
    out[o] = '\0';
    return (int)o;
}

static int get_name(const uint8_t *p, size_t end, size_t *pos, int width, flo_buf_t *out)
{
    if (*pos + (size_t)width > end) {
        return FLO_ETRUNC;
    }
    size_t len = width == 2 ? flo_ld16(p + *pos) : p[*pos];
    *pos += (size_t)width;
    if (*pos + len > end) {
        return FLO_ETRUNC;
    }
    *out = FLO_BUF(p + *pos, len);
    *pos += len;
    return 0;
}

int proto__sess_id_decode(const struct proto__sess_key *key, flo_buf_t text, uint8_t *scratch,
                          size_t cap, struct proto__sess_ident *id, const char **why)
{
    size_t n = 0;
    if (text.len == 0 || text.len > PROTO_SESS_ID_MAX) {
        *why = "session id is empty or too long";
        return FLO_EMALFORMED;
    }
    /* Strict base64url: every id has exactly one spelling (the registry is
     * keyed by the text). */
    if (proto_b64_decode(text, true, scratch, cap, &n) < 0) {
        *why = "session id is not valid base64url";
        return FLO_EMALFORMED;
    }
    if (n < 1 + 4 + PROTO__SESS_MAC_LEN) {
        *why = "session id is truncated";
        return FLO_EMALFORMED;
    }
    if (scratch[0] != PROTO__SESS_ID_VERSION) {
        *why = "session id has an unknown version";
        return FLO_EMALFORMED;
    }
    /* Check the signature before trusting any length inside. */
    size_t body = n - PROTO__SESS_MAC_LEN;
    uint8_t want[PROTO__SESS_MAC_LEN];
    if (mac(key, scratch, body, want) < 0 ||
        sodium_memcmp(want, scratch + body, PROTO__SESS_MAC_LEN) != 0) {
        *why = "session id signature does not match (issued by a sidecar with another session "
               "secret, or altered)";
        return FLO_EMALFORMED;
    }
    size_t pos = 5;
    id->claim_idle_ms = flo_ld32(scratch + 1);
    if (get_name(scratch, body, &pos, 1, &id->ns) < 0 ||
        get_name(scratch, body, &pos, 2, &id->stream) < 0 ||
        get_name(scratch, body, &pos, 1, &id->group) < 0 ||
        get_name(scratch, body, &pos, 1, &id->consumer) < 0 || pos != body || id->stream.len == 0 ||
        id->group.len == 0 || id->consumer.len == 0 || id->claim_idle_ms == 0) {
        *why = "session id is truncated";
        return FLO_EMALFORMED;
    }
    return 0;
}
