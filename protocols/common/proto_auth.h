/*
 * Client authentication shared by the HTTP and RESP front ends: one token
 * (--auth-token / --auth-token-file), checked in constant time. The token
 * lives behind an accessor so SIGHUP can replace it while clients are
 * connected; connections already authenticated stay authenticated (as in
 * Redis after CONFIG SET requirepass).
 *
 * The token is process-wide (one sidecar = one loop; all calls happen on
 * the loop thread). It is never logged.
 */
#ifndef PROTO_AUTH_H
#define PROTO_AUTH_H

#include <stdbool.h>

#include "flo/flo_buf.h"

/*
 * Replace the token. NULL or "" disables client auth. Only a SHA-256
 * digest of it is kept (the caller keeps and may wipe its string).
 * Returns 0, or a negative code when libsodium cannot initialise (the old
 * token is then kept).
 */
int proto_auth_set_token(const char *token);

/* True when a token is set (clients must authenticate). */
bool proto_auth_required(void);

/*
 * True when presented equals the token. Constant time in the contents and
 * the length of both (SHA-256 digests of both are compared with
 * sodium_memcmp). False when no token is set.
 */
bool proto_auth_check(flo_buf_t presented);

/*
 * Log a refused client credential at warning level without the secret:
 * protocol is "http" or "resp", who says which client (e.g. "client=7
 * addr=127.0.0.1:5000"). Rate-limited to one line per second with the
 * number of failures folded into it, so a brute-force client cannot flood
 * the log.
 */
void proto_auth_log_failure(const char *protocol, const char *who);

/* Client credentials refused since start (both protocols). */
unsigned long long proto_auth_failures(void);

/* Forget the token (auth disabled); wipes the stored digest. */
void proto_auth_clear(void);

#endif
