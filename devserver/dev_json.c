/*
 * JSON document model for flo-dev (see dev_json.h): a recursive-descent
 * parser with a depth bound, a compact writer, and path get/set/delete.
 *
 * Why not cJSON (a project dependency elsewhere): json_set and json_del
 * rewrite a stored document, and every byte the client did not address must
 * survive. cJSON keeps numbers only as doubles and prints them back with
 * "%1.15g"/"%1.17g", so 9007199254740993 becomes 9007199254740992 and
 * 12345678901234567890 becomes 1.2345678901234567e+19 — silent corruption of
 * IDs and counters on the first json_set of an unrelated field; it also
 * rewrites number spellings (1.0 -> 1, 1E2 -> 100) and re-encodes string
 * escapes. This model keeps every number and string as its source text, so
 * a document round-trips byte-exact apart from insignificant whitespace.
 * (tests/unit/dev_json_test.c and tests/integration/devserver_kv_test.c pin
 * the big-integer case.)
 */
#include <stdlib.h>
#include <string.h>

#include "dev_json.h"
#include "flo/flo_error.h"

struct parser {
    const uint8_t *p, *end;
    int depth;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static struct dev_json *new_value(enum dev_json_type_e t)
{
    struct dev_json *v = calloc(1, sizeof *v);
    if (v != NULL) {
        v->type = t;
    }
    return v;
}

void dev_json_free(struct dev_json *v)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        dev_json_free(v->items[i]);
        if (v->keys != NULL) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->klens);
    free(v->text);
    free(v);
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Scan a string token at ps->p (a quote); start and n get its raw contents. */
static int scan_string(struct parser *ps, const uint8_t **start, size_t *n)
{
    if (ps->p >= ps->end || *ps->p != '"') {
        return FLO_EMALFORMED;
    }
    const uint8_t *s = ++ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        uint8_t c = *ps->p;
        if (c < 0x20) {
            return FLO_EMALFORMED;
        }
        if (c == '\\') {
            if (++ps->p >= ps->end) {
                return FLO_EMALFORMED;
            }
            c = *ps->p;
            if (c == 'u') {
                if (ps->end - ps->p < 5 || !is_hex(ps->p[1]) || !is_hex(ps->p[2]) ||
                    !is_hex(ps->p[3]) || !is_hex(ps->p[4])) {
                    return FLO_EMALFORMED;
                }
                ps->p += 4;
            } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                return FLO_EMALFORMED;
            }
        }
        ps->p++;
    }
    if (ps->p >= ps->end) {
        return FLO_EMALFORMED;
    }
    *start = s;
    *n = (size_t)(ps->p - s);
    ps->p++; /* closing quote */
    return 0;
}

static bool digit(const struct parser *ps)
{
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* number = [-] int [frac] [exp] */
static int scan_number(struct parser *ps)
{
    if (ps->p < ps->end && *ps->p == '-') {
        ps->p++;
    }
    if (!digit(ps)) {
        return FLO_EMALFORMED;
    }
    if (*ps->p == '0') {
        ps->p++;
    } else {
        while (digit(ps)) {
            ps->p++;
        }
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!digit(ps)) {
            return FLO_EMALFORMED;
        }
        while (digit(ps)) {
            ps->p++;
        }
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
            ps->p++;
        }
        if (!digit(ps)) {
            return FLO_EMALFORMED;
        }
        while (digit(ps)) {
            ps->p++;
        }
    }
    return 0;
}

/* Append a member (key may be NULL for arrays); takes ownership of both. */
static int push(struct dev_json *c, char *key, size_t klen, struct dev_json *item)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap == 0 ? 4 : c->cap * 2;
        struct dev_json **ni = realloc(c->items, ncap * sizeof *ni);
        if (ni == NULL) {
            return FLO_ENOMEM;
        }
        c->items = ni;
        if (c->type == DEV_JSON_OBJECT) {
            char **nk = realloc(c->keys, ncap * sizeof *nk);
            if (nk == NULL) {
                return FLO_ENOMEM;
            }
            c->keys = nk;
            size_t *nl = realloc(c->klens, ncap * sizeof *nl);
            if (nl == NULL) {
                return FLO_ENOMEM;
            }
            c->klens = nl;
        }
        c->cap = ncap;
    }
    if (c->type == DEV_JSON_OBJECT) {
        c->keys[c->n] = key;
        c->klens[c->n] = klen;
    }
    c->items[c->n++] = item;
    return 0;
}

static int parse_value(struct parser *ps, struct dev_json **out);

static int parse_container(struct parser *ps, bool object, struct dev_json **out)
{
    if (++ps->depth > DEV_JSON_MAX_DEPTH) {
        return FLO_EMALFORMED;
    }
    struct dev_json *c = new_value(object ? DEV_JSON_OBJECT : DEV_JSON_ARRAY);
    if (c == NULL) {
        return FLO_ENOMEM;
    }
    uint8_t close = object ? '}' : ']';
    int rc = 0;
    ps->p++; /* opening bracket */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        goto done;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        if (object) {
            const uint8_t *ks;
            skip_ws(ps);
            if ((rc = scan_string(ps, &ks, &klen)) != 0) {
                goto fail;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                rc = FLO_EMALFORMED;
                goto fail;
            }
            ps->p++;
            if ((key = dup_bytes(ks, klen)) == NULL) {
                rc = FLO_ENOMEM;
                goto fail;
            }
        }
        struct dev_json *item = NULL;
        if ((rc = parse_value(ps, &item)) != 0 || (rc = push(c, key, klen, item)) != 0) {
            free(key);
            dev_json_free(item);
            goto fail;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            break;
        }
        rc = FLO_EMALFORMED;
        goto fail;
    }
done:
    ps->depth--;
    *out = c;
    return 0;
fail:
    dev_json_free(c);
    return rc;
}

static int parse_value(struct parser *ps, struct dev_json **out)
{
    skip_ws(ps);
    if (ps->p >= ps->end) {
        return FLO_EMALFORMED;
    }
    static const struct {
        const char *word;
        enum dev_json_type_e type;
    } words[] = {{"null", DEV_JSON_NULL}, {"false", DEV_JSON_FALSE}, {"true", DEV_JSON_TRUE}};
    uint8_t c = *ps->p;
    if (c == '{' || c == '[') {
        return parse_container(ps, c == '{', out);
    }
    struct dev_json *v;
    if (c == '"' || c == '-' || (c >= '0' && c <= '9')) {
        const uint8_t *s = ps->p;
        size_t n;
        int rc;
        enum dev_json_type_e t = c == '"' ? DEV_JSON_STRING : DEV_JSON_NUMBER;
        if (t == DEV_JSON_STRING) {
            rc = scan_string(ps, &s, &n);
        } else {
            rc = scan_number(ps);
            n = (size_t)(ps->p - s);
        }
        if (rc != 0) {
            return rc;
        }
        v = new_value(t);
        if (v == NULL || (v->text = dup_bytes(s, n)) == NULL) {
            free(v);
            return FLO_ENOMEM;
        }
        v->len = n;
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t wl = strlen(words[i].word);
        if ((size_t)(ps->end - ps->p) >= wl && memcmp(ps->p, words[i].word, wl) == 0) {
            ps->p += wl;
            v = new_value(words[i].type);
            if (v == NULL) {
                return FLO_ENOMEM;
            }
            *out = v;
            return 0;
        }
    }
    return FLO_EMALFORMED;
}

int dev_json_parse(flo_buf_t text, struct dev_json **out)
{
    struct parser ps = {text.ptr, text.ptr + text.len, 0};
    if (text.len == 0) {
        return FLO_EMALFORMED;
    }
    struct dev_json *v = NULL;
    int rc = parse_value(&ps, &v);
    if (rc != 0) {
        return rc;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        dev_json_free(v);
        return FLO_EMALFORMED;
    }
    *out = v;
    return 0;
}

int dev_json_write(const struct dev_json *v, struct flo_wbuf *out)
{
    int rc = 0;
    switch (v->type) {
    case DEV_JSON_NULL:
        return flo_wbuf_append(out, "null", 4);
    case DEV_JSON_FALSE:
        return flo_wbuf_append(out, "false", 5);
    case DEV_JSON_TRUE:
        return flo_wbuf_append(out, "true", 4);
    case DEV_JSON_NUMBER:
        return flo_wbuf_append(out, v->text, v->len);
    case DEV_JSON_STRING:
        rc |= flo_wbuf_u8(out, '"');
        rc |= flo_wbuf_append(out, v->text, v->len);
        return rc | flo_wbuf_u8(out, '"');
    case DEV_JSON_ARRAY:
    case DEV_JSON_OBJECT: {
        bool obj = v->type == DEV_JSON_OBJECT;
        rc |= flo_wbuf_u8(out, obj ? '{' : '[');
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (i > 0) {
                rc |= flo_wbuf_u8(out, ',');
            }
            if (obj) {
                rc |= flo_wbuf_u8(out, '"');
                rc |= flo_wbuf_append(out, v->keys[i], v->klens[i]);
                rc |= flo_wbuf_append(out, "\":", 2);
            }
            rc |= dev_json_write(v->items[i], out);
        }
        return rc | flo_wbuf_u8(out, obj ? '}' : ']');
    }
    }
    return FLO_EINVAL;
}

/* ---- paths ---- */

int dev_json_path(flo_buf_t path, struct dev_json_step *steps, size_t *nsteps)
{
    *nsteps = 0;
    if (path.len == 0) {
        return 0;
    }
    const uint8_t *p = path.ptr, *end = path.ptr + path.len;
    if (*p++ != '$') {
        return FLO_EMALFORMED;
    }
    while (p < end) {
        if (*nsteps == DEV_JSON_MAX_PATH) {
            return FLO_EMALFORMED;
        }
        struct dev_json_step *s = &steps[*nsteps];
        memset(s, 0, sizeof *s);
        if (*p == '.') {
            const uint8_t *b = ++p;
            while (p < end && *p != '.' && *p != '[') {
                p++;
            }
            if (p == b) {
                return FLO_EMALFORMED;
            }
            s->name = FLO_BUF(b, p - b);
        } else if (*p == '[') {
            p++;
            if (p < end && (*p == '\'' || *p == '"')) {
                uint8_t q = *p++;
                const uint8_t *b = p;
                while (p < end && *p != q) {
                    p++;
                }
                if (p + 1 >= end || p[1] != ']') {
                    return FLO_EMALFORMED;
                }
                s->name = FLO_BUF(b, p - b);
                p += 2;
            } else {
                size_t idx = 0;
                const uint8_t *b = p;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (idx > (SIZE_MAX - 9) / 10) {
                        return FLO_EMALFORMED;
                    }
                    idx = idx * 10 + (size_t)(*p++ - '0');
                }
                if (p == b || p >= end || *p != ']') {
                    return FLO_EMALFORMED;
                }
                p++;
                s->is_index = true;
                s->index = idx;
            }
        } else {
            return FLO_EMALFORMED;
        }
        (*nsteps)++;
    }
    return 0;
}

size_t dev_json_depth(const struct dev_json *v)
{
    if (v->type != DEV_JSON_ARRAY && v->type != DEV_JSON_OBJECT) {
        return 0;
    }
    size_t deepest = 0;
    for (size_t i = 0; i < v->n; i++) {
        size_t d = dev_json_depth(v->items[i]);
        if (d > deepest) {
            deepest = d;
        }
    }
    return deepest + 1;
}

/* Position of step s inside container c, or -1. */
static long child_pos(const struct dev_json *c, const struct dev_json_step *s)
{
    if (s->is_index) {
        return c->type == DEV_JSON_ARRAY && s->index < c->n ? (long)s->index : -1;
    }
    if (c->type != DEV_JSON_OBJECT) {
        return -1;
    }
    /* Duplicate names: the last one wins, as most parsers do. */
    for (size_t i = c->n; i-- > 0;) {
        if (c->klens[i] == s->name.len && memcmp(c->keys[i], s->name.ptr, s->name.len) == 0) {
            return (long)i;
        }
    }
    return -1;
}

struct dev_json *dev_json_get(struct dev_json *root, const struct dev_json_step *steps, size_t n)
{
    struct dev_json *v = root;
    for (size_t i = 0; i < n && v != NULL; i++) {
        long pos = child_pos(v, &steps[i]);
        v = pos < 0 ? NULL : v->items[pos];
    }
    return v;
}

int dev_json_set(struct dev_json *root, const struct dev_json_step *steps, size_t n,
                 struct dev_json *val)
{
    struct dev_json *parent = dev_json_get(root, steps, n - 1);
    if (parent == NULL) {
        return FLO_ETRUNC;
    }
    const struct dev_json_step *last = &steps[n - 1];
    long pos = child_pos(parent, last);
    if (pos >= 0) {
        dev_json_free(parent->items[pos]);
        parent->items[pos] = val;
        return 0;
    }
    if (last->is_index || parent->type != DEV_JSON_OBJECT) {
        return FLO_ETRUNC;
    }
    char *key = dup_bytes(last->name.ptr, last->name.len);
    if (key == NULL) {
        return FLO_ENOMEM;
    }
    int rc = push(parent, key, last->name.len, val);
    if (rc != 0) {
        free(key);
    }
    return rc;
}

int dev_json_del(struct dev_json *root, const struct dev_json_step *steps, size_t n)
{
    struct dev_json *parent = dev_json_get(root, steps, n - 1);
    long pos = parent != NULL ? child_pos(parent, &steps[n - 1]) : -1;
    if (pos < 0) {
        return FLO_ETRUNC;
    }
    dev_json_free(parent->items[pos]);
    if (parent->keys != NULL) {
        free(parent->keys[pos]);
        memmove(&parent->keys[pos], &parent->keys[pos + 1],
                (parent->n - (size_t)pos - 1) * sizeof parent->keys[0]);
        memmove(&parent->klens[pos], &parent->klens[pos + 1],
                (parent->n - (size_t)pos - 1) * sizeof parent->klens[0]);
    }
    memmove(&parent->items[pos], &parent->items[pos + 1],
            (parent->n - (size_t)pos - 1) * sizeof parent->items[0]);
    parent->n--;
    return 0;
}
