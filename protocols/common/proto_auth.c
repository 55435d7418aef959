/*
 * The client auth token and its constant-time check. Both sides are hashed
 * with SHA-256 before sodium_memcmp, so the comparison takes the same time
 * whatever the length or the contents of the presented token (a plain
 * memcmp leaks the matching prefix length; comparing only equal-length
 * strings leaks the token length).
 */
#include <sodium.h>
#include <string.h>

#include <uv.h>

#include "flo/flo_error.h"
#include "flo/flo_log.h"
#include "proto_auth.h"

static struct {
    bool set;
    unsigned char digest[crypto_hash_sha256_BYTES];
} auth;

static bool sodium_ready(void)
{
    /* Idempotent and cheap after the first call; < 0 only when the system
     * has no usable randomness source, which a hash does not need, but a
     * failed init leaves libsodium unusable, so refuse auth then. */
    return sodium_init() >= 0;
}

int proto_auth_set_token(const char *token)
{
    if (token == NULL || token[0] == '\0') {
        proto_auth_clear();
        return 0;
    }
    if (!sodium_ready()) {
        return FLO_ENOMEM;
    }
    /* Only the digest is kept: the secret itself never stays in memory
     * longer than the caller keeps it. */
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, (const unsigned char *)token, strlen(token));
    memcpy(auth.digest, d, sizeof d);
    sodium_memzero(d, sizeof d);
    auth.set = true;
    return 0;
}

bool proto_auth_required(void)
{
    return auth.set;
}

bool proto_auth_check(flo_buf_t presented)
{
    if (!auth.set || !sodium_ready()) {
        return false;
    }
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, presented.len ? presented.ptr : (const unsigned char *)"", presented.len);
    bool ok = sodium_memcmp(d, auth.digest, sizeof d) == 0;
    sodium_memzero(d, sizeof d);
    return ok;
}

void proto_auth_clear(void)
{
    sodium_memzero(auth.digest, sizeof auth.digest);
    auth.set = false;
}

/* Rate limit of the failure log (one loop thread: plain statics). */
#define LOG_INTERVAL_NS 1000000000ull
static unsigned long long failures, failures_unlogged;
static uint64_t last_log_ns;
static bool logged_once;

void proto_auth_log_failure(const char *protocol, const char *who)
{
    failures++;
    failures_unlogged++;
    uint64_t now = uv_hrtime();
    if (logged_once && now - last_log_ns < LOG_INTERVAL_NS) {
        return;
    }
    FLO_WARN("client auth failed", "protocol=%s %s count=%llu", protocol, who, failures_unlogged);
    failures_unlogged = 0;
    last_log_ns = now;
    logged_once = true;
}

unsigned long long proto_auth_failures(void)
{
    return failures;
}
