/*
 * A small JSON document model for flo-dev's kv_json_* ops: strict parsing
 * (RFC 8259 grammar, bounded nesting), compact serialisation, and the
 * JSONPath subset Flo documents ($, .field, [index], ['field'] / ["field"]).
 * Strings and numbers keep their source text (escapes included), so a
 * document round-trips byte-exact apart from whitespace, and no Unicode
 * decoding is needed. Self-contained so the flodev library needs no JSON
 * dependency.
 */
#ifndef DEV_JSON_H
#define DEV_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "flo/flo_buf.h"

#define DEV_JSON_MAX_DEPTH 128 /* nesting bound: parsing is recursive */
#define DEV_JSON_MAX_PATH  64  /* path segments */

enum dev_json_type_e {
    DEV_JSON_NULL,
    DEV_JSON_FALSE,
    DEV_JSON_TRUE,
    DEV_JSON_NUMBER,
    DEV_JSON_STRING,
    DEV_JSON_ARRAY,
    DEV_JSON_OBJECT,
};

/* A JSON value. Owned by its parent; the root by whoever parsed it. */
struct dev_json {
    enum dev_json_type_e type;
    char *text;              /* number text / string contents without quotes (owned) */
    size_t len;              /* length of text */
    struct dev_json **items; /* array elements / object values (owned) */
    char **keys;             /* object member names as written, without quotes (owned) */
    size_t *klens;           /* their lengths */
    size_t n, cap;           /* members in use / allocated */
};

/* One path step: a member name (raw, as in the document) or an index. */
struct dev_json_step {
    bool is_index;
    size_t index;
    flo_buf_t name; /* view into the path text */
};

/* Parse a whole document (surrounding whitespace allowed). 0 and *out
 * (caller frees with dev_json_free), FLO_EMALFORMED, or FLO_ENOMEM. */
int dev_json_parse(flo_buf_t text, struct dev_json **out);
void dev_json_free(struct dev_json *v);
/* Append the compact form of v to out. 0 or FLO_ENOMEM. */
int dev_json_write(const struct dev_json *v, struct flo_wbuf *out);

/* Parse a path; an empty path means "$". 0 or FLO_EMALFORMED. steps are
 * views into `path`. */
int dev_json_path(flo_buf_t path, struct dev_json_step *steps, size_t *nsteps);
/* Nesting depth of v: 0 for a scalar, 1 + the deepest member for a
 * container (the measure DEV_JSON_MAX_DEPTH bounds when parsing). */
size_t dev_json_depth(const struct dev_json *v);
/* The value at the path, or NULL. */
struct dev_json *dev_json_get(struct dev_json *root, const struct dev_json_step *steps, size_t n);
/*
 * Replace the value at the path with `val` (ownership moves in on success).
 * An object member that does not exist is added; an array index must exist.
 * 0, FLO_ETRUNC if the parent is missing or of the wrong kind, FLO_ENOMEM.
 * n must be >= 1 (replacing the root is the caller's business).
 */
int dev_json_set(struct dev_json *root, const struct dev_json_step *steps, size_t n,
                 struct dev_json *val);
/* Remove the value at the path (n >= 1). 0 or FLO_ETRUNC if missing. */
int dev_json_del(struct dev_json *root, const struct dev_json_step *steps, size_t n);

#endif
