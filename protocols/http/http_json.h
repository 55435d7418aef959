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
/* '{' / '}' of the top-level object (see _elem_begin for objects inside
 * arrays; nesting is the caller's business). */
void http_json_begin(struct http_json *j);
void http_json_end(struct http_json *j);
/* The usual opening of a reply body: initialise `out` (the caller frees
 * it), bind j to it and write the top-level '{'. */
void http_json_start(struct http_json *j, struct flo_wbuf *out);
/* "name": "<escaped bytes>" (bytes must be valid UTF-8; see _payload). */
void http_json_str(struct http_json *j, const char *name, flo_buf_t s);
void http_json_cstr(struct http_json *j, const char *name, const char *s);
void http_json_u64(struct http_json *j, const char *name, uint64_t v);
/*
 * The payload rule: valid UTF-8 -> "name": "<text>"; otherwise
 * "name": "<base64>", enc_name: "base64".
 */
void http_json_payload(struct http_json *j, const char *name, const char *enc_name, flo_buf_t p);

void http_json_i64(struct http_json *j, const char *name, int64_t v);
void http_json_bool(struct http_json *j, const char *name, bool v);
/* "name": <json> with `json` copied verbatim (the caller vouches that it is
 * one valid JSON value, e.g. text validated by cJSON or Flo's json_get). */
void http_json_raw(struct http_json *j, const char *name, flo_buf_t json);
/* "name": [ ... ]: open / close an array member. */
void http_json_array_begin(struct http_json *j, const char *name);
void http_json_array_end(struct http_json *j);
/* An object element of the current array: '{' (with the separating comma);
 * close it with http_json_end. */
void http_json_elem_begin(struct http_json *j);
/* A string element of the current array (bytes must be valid UTF-8). */
void http_json_elem_str(struct http_json *j, flo_buf_t s);
/* A number element of the current array. */
void http_json_elem_u64(struct http_json *j, uint64_t v);

/* "name": { : open an object member; close it with http_json_end. */
void http_json_object_begin(struct http_json *j, const char *name);
/* A member whose name is given as bytes ("<name>": "<s>"); both must be
 * valid UTF-8 (record headers, whose names come from clients). */
void http_json_member_str(struct http_json *j, flo_buf_t name, flo_buf_t s);

/* Append standard base64 (RFC 4648, padded) of p to out. 0 or FLO_ENOMEM. */
int http_base64_encode(struct flo_wbuf *out, flo_buf_t p);

/*
 * Decode standard base64 (RFC 4648 §4; padding optional, no whitespace)
 * and append the bytes to out. 0, FLO_EINVAL for a bad character or
 * length, FLO_ENOMEM.
 */
int http_base64_decode(struct flo_wbuf *out, flo_buf_t in);
/* URL-safe base64 (RFC 4648 §5, '-' and '_', no padding): for opaque
 * tokens that travel in query strings (scan cursors). Same returns. */
int http_base64url_encode(struct flo_wbuf *out, flo_buf_t p);
int http_base64url_decode(struct flo_wbuf *out, flo_buf_t in);

#endif
