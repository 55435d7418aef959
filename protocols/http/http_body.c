/*
 * JSON request bodies of the HTTP front end (POST /v1/kv/mget, /v1/kv/txn,
 * the optional bodies of incr and ttl): parsing with cJSON, and reading
 * typed fields with messages that name the field. The one payload rule
 * applies on the way in as on the way out: a payload field is a JSON
 * string taken as UTF-8 bytes, or base64 when its sibling encoding field
 * says "base64".
 *
 * cJSON keeps strings NUL-terminated, so a "\u0000" escape would silently
 * cut a key or value short; bodies holding one are refused with a pointer
 * to base64 instead of being mangled.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "flo/flo_error.h"
#include "http_body.h"
#include "http_json.h"

#define MAX_EXACT_DOUBLE 9007199254740992.0 /* 2^53: larger JSON numbers lose digits */

/* True if a string literal in the JSON text holds the escape \u0000. */
static bool has_nul_escape(flo_buf_t t)
{
    bool in_str = false;
    for (size_t i = 0; i < t.len; i++) {
        uint8_t c = t.ptr[i];
        if (!in_str) {
            in_str = c == '"';
            continue;
        }
        if (c == '"') {
            in_str = false;
        } else if (c == '\\' && i + 1 < t.len) {
            if (t.ptr[i + 1] == 'u' && i + 5 < t.len && memcmp(t.ptr + i + 2, "0000", 4) == 0) {
                return true;
            }
            i++; /* skip the escaped character */
        }
    }
    return false;
}

/* Parse one JSON value of any type (checks shared by the two entry points). */
static int parse_doc(flo_buf_t body, bool allow_empty, cJSON **out, struct proto_err *e)
{
    *out = NULL;
    size_t n = body.len;
    while (n > 0 && (body.ptr[n - 1] == ' ' || body.ptr[n - 1] == '\n' || body.ptr[n - 1] == '\r' ||
                     body.ptr[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        if (allow_empty) {
            return 0;
        }
        proto_err_bad_request(e, "request body is empty; send a JSON object "
                                 "(Content-Type: application/json)");
        return -1;
    }
    if (has_nul_escape(FLO_BUF(body.ptr, n))) {
        proto_err_bad_request(e, "request body contains \\u0000 in a string; send keys or "
                                 "values holding NUL bytes base64-encoded (see "
                                 "\"encoding\": \"base64\" in docs/http-api.md)");
        return -1;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts((const char *)body.ptr, n, &end, false);
    if (doc == NULL || end != (const char *)body.ptr + n) {
        size_t at = end ? (size_t)(end - (const char *)body.ptr) : 0;
        cJSON_Delete(doc);
        proto_err_bad_request(e, "request body is not valid JSON (error near byte %zu)", at);
        return -1;
    }
    *out = doc;
    return 0;
}

int http_body_json(flo_buf_t body, bool allow_empty, cJSON **out, struct proto_err *e)
{
    if (parse_doc(body, allow_empty, out, e) < 0) {
        return -1;
    }
    if (*out != NULL && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        proto_err_bad_request(e, "request body must be a JSON object");
        return -1;
    }
    return 0;
}

int http_body_json_value(flo_buf_t body, cJSON **out, struct proto_err *e)
{
    return parse_doc(body, false, out, e);
}

int http_body_valid_json(flo_buf_t text, struct proto_err *e)
{
    size_t n = text.len;
    const char *end = NULL;
    if (n == 0) {
        proto_err_bad_request(e, "request body is empty; send the JSON value to store");
        return -1;
    }
    cJSON *doc = cJSON_ParseWithLengthOpts((const char *)text.ptr, n, &end, false);
    if (doc == NULL) {
        size_t at = end ? (size_t)(end - (const char *)text.ptr) : 0;
        proto_err_bad_request(e, "request body is not valid JSON (error near byte %zu)", at);
        return -1;
    }
    cJSON_Delete(doc);
    /* Only whitespace may follow the value. */
    for (const char *p = end; p < (const char *)text.ptr + n; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            proto_err_bad_request(e,
                                  "request body is not valid JSON: extra data after the "
                                  "value at byte %zu",
                                  (size_t)(p - (const char *)text.ptr));
            return -1;
        }
    }
    return 0;
}

int http_body_check_fields(const cJSON *obj, const char *const *allowed, const char *where,
                           struct proto_err *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++) {
            ok = it->string != NULL && strcmp(it->string, allowed[i]) == 0;
        }
        if (!ok) {
            proto_err_bad_request(e, "%s: unknown field \"%.64s\"", where,
                                  it->string ? it->string : "");
            return -1;
        }
    }
    return 0;
}

int http_body_payload(const cJSON *obj, const char *field, const char *enc_field, const char *where,
                      struct flo_wbuf *out, bool *present, struct proto_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(obj, enc_field);
    *present = v != NULL;
    if (v == NULL) {
        if (enc != NULL) {
            proto_err_bad_request(e, "%s: \"%s\" given without \"%s\"", where, enc_field, field);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(v)) {
        proto_err_bad_request(e, "%s: \"%s\" must be a string", where, field);
        return -1;
    }
    bool b64 = false;
    if (enc != NULL) {
        if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0) {
            b64 = true;
        } else if (!(cJSON_IsString(enc) && strcmp(enc->valuestring, "utf8") == 0)) {
            proto_err_bad_request(e, "%s: \"%s\" must be \"base64\" or \"utf8\"", where, enc_field);
            return -1;
        }
    }
    flo_buf_t s = FLO_BUF_STR(v->valuestring);
    int rc = b64 ? http_base64_decode(out, s) : flo_wbuf_append(out, s.ptr, s.len);
    if (rc == FLO_ENOMEM) {
        proto_err_from_code(e, rc);
        return -1;
    }
    if (rc < 0) {
        proto_err_bad_request(e, "%s: \"%s\" is not valid base64", where, field);
        return -1;
    }
    return 0;
}

int http_body_u64(const cJSON *obj, const char *field, uint64_t max, const char *where,
                  uint64_t *out, bool *present, struct proto_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *present = v != NULL;
    if (v == NULL) {
        return 0;
    }
    if (cJSON_IsString(v)) {
        /* Strings carry the full u64 range exactly. */
        if (http_parse_uint((const uint8_t *)v->valuestring, strlen(v->valuestring), max, out) ==
            0) {
            return 0;
        }
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= 0 && d <= MAX_EXACT_DOUBLE && (double)(uint64_t)d == d && (uint64_t)d <= max) {
            *out = (uint64_t)d;
            return 0;
        }
    }
    proto_err_bad_request(e,
                          "%s: \"%s\" must be a whole number from 0 to %llu (as a JSON number "
                          "up to 2^53, or a string of digits)",
                          where, field, (unsigned long long)max);
    return -1;
}

int http_body_i64(const cJSON *obj, const char *field, const char *where, int64_t *out,
                  bool *present, struct proto_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *present = v != NULL;
    if (v == NULL) {
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (http_parse_i64((const uint8_t *)v->valuestring, strlen(v->valuestring), out) == 0) {
            return 0;
        }
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -MAX_EXACT_DOUBLE && d <= MAX_EXACT_DOUBLE && (double)(int64_t)d == d) {
            *out = (int64_t)d;
            return 0;
        }
    }
    proto_err_bad_request(e,
                          "%s: \"%s\" must be a whole number (a signed 64-bit integer: a JSON "
                          "number up to +-2^53, or a string of digits for the full range)",
                          where, field);
    return -1;
}

int http_body_bool(const cJSON *obj, const char *field, const char *where, bool *out,
                   struct proto_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = false;
    if (v == NULL) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        proto_err_bad_request(e, "%s: \"%s\" must be true or false", where, field);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}
