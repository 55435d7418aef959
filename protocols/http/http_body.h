/*
 * Reading JSON request bodies (cJSON) with the HTTP API's payload rule and
 * error messages that name the field at fault. Internal to protocols/http/.
 * Every function returns 0, or -1 with *e filled (400, or 503 on memory).
 */
#ifndef HTTP_BODY_H
#define HTTP_BODY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "flo/flo_buf.h"
#include "http_route.h"
#include "proto.h"

/*
 * Parse a request body that must be one JSON object. An empty (or all
 * whitespace) body gives *out NULL when allow_empty, else 400. A string
 * holding the escape \u0000 is refused (cJSON would cut it; such bytes
 * travel base64-encoded). The caller owns *out (cJSON_Delete).
 */
int http_body_json(flo_buf_t body, bool allow_empty, cJSON **out, struct proto_err *e);
/* Like http_body_json for a body that may be any JSON value (an object or
 * an array: the queue enqueue route takes either). Empty is 400. */
int http_body_json_value(flo_buf_t body, cJSON **out, struct proto_err *e);
/* Check that `text` is exactly one JSON value of any type (a document to
 * store), with only whitespace after it. */
int http_body_valid_json(flo_buf_t text, struct proto_err *e);
/* Refuse members of obj not named in `allowed` (NULL-terminated). `where`
 * prefixes messages ("op 3"). */
int http_body_check_fields(const cJSON *obj, const char *const *allowed, const char *where,
                           struct proto_err *e);
/* A payload field: a string, UTF-8 bytes unless enc_field is "base64"
 * ("utf8" is accepted too). Appends to out; *present says if given. */
int http_body_payload(const cJSON *obj, const char *field, const char *enc_field, const char *where,
                      struct flo_wbuf *out, bool *present, struct proto_err *e);
/* Whole numbers: a JSON number (exact up to 2^53) or a decimal string. */
int http_body_u64(const cJSON *obj, const char *field, uint64_t max, const char *where,
                  uint64_t *out, bool *present, struct proto_err *e);
int http_body_i64(const cJSON *obj, const char *field, const char *where, int64_t *out,
                  bool *present, struct proto_err *e);
/* true / false; absent = false. */
int http_body_bool(const cJSON *obj, const char *field, const char *where, bool *out,
                   struct proto_err *e);

#endif
