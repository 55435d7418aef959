/*
 * A small JSON writer for HTTP response bodies, with lengths everywhere so
 * binary keys and values never hit a NUL-terminated API, plus base64 and the
 * one payload rule of the HTTP API: a payload (value, key) that is valid
 * UTF-8 travels as a JSON string; any other payload travels base64-encoded
 * with a sibling "<field>_encoding"/"encoding": "base64" marker.
 *
 * The writer appends to a caller-owned flo_wbuf and records the first
 * allocation failure in `err`, so a body can be built with a run of calls
 * and checked once at the end.
 */
#ifndef HTTP_JSON_H
#define HTTP_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "flo/flo_buf.h"

struct http_json {
    struct flo_wbuf *out; /* borrowed output buffer */
    bool need_comma;      /* a member/element was written at this level */
    int err;              /* 0 or the first FLO_ENOMEM */
};

void http_json_init(struct http_json *j, struct flo_wbuf *out);
/* '{' / '}' (nesting is the caller's business: objects here are flat). */
void http_json_begin(struct http_json *j);
void http_json_end(struct http_json *j);
/* "name": "<escaped bytes>" (bytes must be valid UTF-8; see _payload). */
void http_json_str(struct http_json *j, const char *name, flo_buf_t s);
void http_json_cstr(struct http_json *j, const char *name, const char *s);
void http_json_u64(struct http_json *j, const char *name, uint64_t v);
/*
 * The payload rule: valid UTF-8 -> "name": "<text>"; otherwise
 * "name": "<base64>", enc_name: "base64".
 */
void http_json_payload(struct http_json *j, const char *name, const char *enc_name, flo_buf_t p);

/* Append standard base64 (RFC 4648, padded) of p to out. 0 or FLO_ENOMEM. */
int http_base64_encode(struct flo_wbuf *out, flo_buf_t p);

#endif
