/*
 * Base64 (RFC 4648) shared by the front ends: the standard alphabet for
 * binary payloads in JSON, and the URL-safe one for opaque tokens (scan
 * cursors, consumer-session ids). Decoding is strict so that every byte
 * string has exactly one accepted spelling: only alphabet characters, no
 * length that leaves a lone character, and the unused low bits of the last
 * character zero. Padding is the caller's business (strip '=' first).
 */
#ifndef PROTO_BASE64_H
#define PROTO_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"

/* Characters that encoding n bytes produces, with or without padding. */
size_t proto_b64_encoded_len(size_t n, bool pad);

/* Encode p into out, which has room for proto_b64_encoded_len(p.len, pad)
 * characters (no NUL is written); `url` picks the RFC 4648 §5 alphabet.
 * Returns the characters written. */
size_t proto_b64_encode(char *out, flo_buf_t p, bool url, bool pad);

/* Most bytes that len characters decode to. */
size_t proto_b64_decoded_max(size_t len);

/* Decode unpadded text into out[0..cap): 0 with *n set, FLO_EINVAL for
 * text that is not strict base64 of that alphabet, FLO_ELIMIT if it decodes
 * to more than cap bytes. */
int proto_b64_decode(flo_buf_t text, bool url, uint8_t *out, size_t cap, size_t *n);

#endif
