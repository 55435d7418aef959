/*
 * Reading the configuration file and the secret files. The whole file is
 * read first (bounded by SC_CONFIG_FILE_MAX), then split into lines, so a
 * syntax error anywhere stops before any setting is used, and every error
 * names FILE:LINE. Values are never logged here: a line of the file may
 * hold a secret.
 */
#include "sc_config_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc__set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Read at most max bytes of path into a NUL-terminated malloc'd buffer.
 * 0, or -1 with errno-style text in why (too large: "is larger than"). */
static int slurp(const char *path, size_t max, char **out, size_t *len, char *why, size_t whycap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, whycap, "%s", strerror(errno));
        return -1;
    }
    char *buf = malloc(max + 2);
    if (buf == NULL) {
        fclose(f);
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    size_t n = fread(buf, 1, max + 1, f);
    bool failed = ferror(f) != 0;
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(why, whycap, "%s", strerror(saved));
        return -1;
    }
    if (n > max) {
        free(buf);
        snprintf(why, whycap, "larger than %zu bytes", max);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

void sc_config_file_free(struct sc_config_file *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].name);
        if (f->entries[i].value) {
            /* Values may be secrets: do not leave them in freed memory. */
            memset(f->entries[i].value, 0, strlen(f->entries[i].value));
            free(f->entries[i].value);
        }
    }
    free(f->entries);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

static bool name_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_';
}

/* Unquote a value starting at v (after the '=' and leading blanks) into a
 * new string. NULL with a reason in why. */
static char *parse_value(const char *v, char *why, size_t whycap)
{
    size_t len = strlen(v);
    if (*v == '"') {
        char *out = malloc(len + 1);
        if (out == NULL) {
            snprintf(why, whycap, "out of memory");
            return NULL;
        }
        size_t o = 0;
        const char *p = v + 1;
        for (;; p++) {
            if (*p == '\0') {
                memset(out, 0, o);
                free(out);
                snprintf(why, whycap, "unterminated quoted value (missing closing '\"')");
                return NULL;
            }
            if (*p == '"') {
                break;
            }
            if (*p == '\\') {
                if (p[1] != '"' && p[1] != '\\') {
                    /* The escaped character is not named: the value
                     * may be a secret. */
                    memset(out, 0, o);
                    free(out);
                    snprintf(why, whycap,
                             "unknown escape after a backslash in a quoted value (only \\\" "
                             "and \\\\)");
                    return NULL;
                }
                p++;
            }
            out[o++] = *p;
        }
        out[o] = '\0';
        /* After the closing quote: blanks, then optionally a comment. */
        for (p++; *p == ' ' || *p == '\t'; p++) {
        }
        if (*p != '\0' && *p != '#') {
            memset(out, 0, o);
            free(out);
            snprintf(why, whycap, "unexpected text after the closing quote");
            return NULL;
        }
        return out;
    }
    /* Unquoted: ends at a '#' that starts it or follows a blank (a
     * comment: `token = # fill me` is empty, not "# fill me"). */
    size_t end = len;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '#' && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
            end = i;
            break;
        }
    }
    while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
        end--;
    }
    char *out = malloc(end + 1);
    if (out == NULL) {
        snprintf(why, whycap, "out of memory");
        return NULL;
    }
    memcpy(out, v, end);
    out[end] = '\0';
    return out;
}

/* Parse one line (NUL-terminated, no newline). 1 = an entry was added, 0 =
 * blank or comment, -1 = error with the reason in why. */
static int parse_line(struct sc_config_file *f, char *line, unsigned lineno, char *why,
                      size_t whycap)
{
    char *p = line;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0' || *p == '#') {
        return 0;
    }
    const char *name = p;
    while (name_char((unsigned char)*p)) {
        p++;
    }
    size_t nlen = (size_t)(p - name);
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (nlen == 0 || *p != '=') {
        snprintf(why, whycap, "expected 'name = value'");
        return -1;
    }
    if (nlen > 64) {
        snprintf(why, whycap, "setting name too long");
        return -1;
    }
    p++;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strlen(f->entries[i].name) == nlen && strncmp(f->entries[i].name, name, nlen) == 0) {
            snprintf(why, whycap, "'%.*s' is set twice (first on line %u)", (int)nlen, name,
                     f->entries[i].line);
            return -1;
        }
    }
    if (f->n >= SC_CONFIG_ENTRY_MAX) {
        snprintf(why, whycap, "more than %u settings", SC_CONFIG_ENTRY_MAX);
        return -1;
    }
    char *value = parse_value(p, why, whycap);
    if (value == NULL) {
        return -1;
    }
    char *n = strndup(name, nlen);
    if (n == NULL) {
        free(value);
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    struct sc_config_entry *e = &f->entries[f->n++];
    e->name = n;
    e->value = value;
    e->line = lineno;
    return 1;
}

int sc_config_file_read(const char *path, struct sc_config_file *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    char why[256];
    char *text;
    size_t len;
    if (slurp(path, SC_CONFIG_FILE_MAX, &text, &len, why, sizeof(why)) != 0) {
        sc__set_err(err, errcap, "cannot read config file %s: %s", path, why);
        return -1;
    }
    out->path = strdup(path);
    out->entries = calloc(SC_CONFIG_ENTRY_MAX, sizeof(*out->entries));
    if (out->path == NULL || out->entries == NULL) {
        sc__set_err(err, errcap, "out of memory");
        goto fail;
    }
    if (memchr(text, '\0', len) != NULL) {
        sc__set_err(err, errcap, "%s: not a text file (contains a NUL byte)", path);
        goto fail;
    }
    unsigned lineno = 0;
    char *line = text;
    while (line < text + len) {
        lineno++;
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : text + len;
        size_t llen = nl ? (size_t)(nl - line) : strlen(line);
        if (llen > SC_CONFIG_LINE_MAX) {
            sc__set_err(err, errcap, "%s:%u: line longer than %u bytes", path, lineno,
                        SC_CONFIG_LINE_MAX);
            goto fail;
        }
        line[llen] = '\0';
        if (llen > 0 && line[llen - 1] == '\r') {
            line[llen - 1] = '\0'; /* CRLF files written on Windows */
        }
        if (parse_line(out, line, lineno, why, sizeof(why)) < 0) {
            sc__set_err(err, errcap, "%s:%u: %s", path, lineno, why);
            goto fail;
        }
        line = next;
    }
    memset(text, 0, len);
    free(text);
    return 0;
fail:
    memset(text, 0, len);
    free(text);
    sc_config_file_free(out);
    return -1;
}

int sc_config_read_secret(const char *what, const char *path, char **out, char *err, size_t errcap)
{
    char why[256];
    char *text;
    size_t len;
    *out = NULL;
    if (slurp(path, SC_SECRET_FILE_MAX, &text, &len, why, sizeof(why)) != 0) {
        sc__set_err(err, errcap, "cannot read %s %s: %s", what, path, why);
        return -1;
    }
    size_t n = 0;
    while (n < len && text[n] != '\n') {
        n++;
    }
    if (n > 0 && text[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        memset(text, 0, len);
        free(text);
        sc__set_err(err, errcap, "%s %s: the first line is empty", what, path);
        return -1;
    }
    if (memchr(text, '\0', n) != NULL) {
        memset(text, 0, len);
        free(text);
        sc__set_err(err, errcap, "%s %s: contains a NUL byte", what, path);
        return -1;
    }
    /* Wipe what follows the first line before handing the buffer over. */
    memset(text + n, 0, len - n);
    text[n] = '\0';
    *out = text;
    return 0;
}
