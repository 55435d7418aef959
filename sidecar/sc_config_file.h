/*
 * The flo-sidecar configuration file (--config FILE) and secret files
 * (--auth-token-file, --session-secret-file): reading and syntax only.
 * Which names exist and what values mean is sc_config.c's business; this
 * file turns text into (name, value, line) entries with errors that name
 * FILE:LINE.
 *
 * Format: one `name = value` per line, names are the flags without "--";
 * blank lines and lines starting with '#' are ignored; a value may be
 * wrapped in double quotes (then \" and \\ are the only escapes and a '#'
 * is literal); an unquoted value ends at a '#' that starts it or follows a
 * blank (a comment; quote a value that begins with '#') and has surrounding
 * spaces trimmed.
 */
#ifndef SC_CONFIG_FILE_H
#define SC_CONFIG_FILE_H

#include <stddef.h>

#define SC_CONFIG_FILE_MAX  (1024u * 1024) /* bytes: a config file is small */
#define SC_CONFIG_LINE_MAX  4096u          /* bytes per line */
#define SC_SECRET_FILE_MAX  (64u * 1024)   /* bytes read from a secret file */
#define SC_CONFIG_ENTRY_MAX 256u           /* settings in one file */

struct sc_config_entry {
    char *name;    /* owned, NUL-terminated */
    char *value;   /* owned, NUL-terminated, unquoted */
    unsigned line; /* 1-based line number */
};

struct sc_config_file {
    char *path; /* owned copy of the path */
    struct sc_config_entry *entries;
    size_t n;
};

/*
 * Read and tokenise path into *out. A name given twice is an error (the
 * message names both lines). Returns 0 (the caller frees *out with
 * sc_config_file_free), or -1 with "PATH:LINE: reason" (or "PATH: reason"
 * when the file cannot be read) in err; *out then holds nothing.
 */
int sc_config_file_read(const char *path, struct sc_config_file *out, char *err, size_t errcap);

/* Release what sc_config_file_read allocated (safe on a zeroed struct). */
void sc_config_file_free(struct sc_config_file *f);

/*
 * Read a secret from the first line of path (a trailing "\n" or "\r\n" is
 * dropped; nothing else is trimmed, so a token may contain spaces).
 * Returns 0 and a malloc'd string in *out (the caller frees it, ideally
 * after wiping it), or -1 with a reason naming `what` and the path in err
 * (unreadable, empty, larger than SC_SECRET_FILE_MAX).
 */
int sc_config_read_secret(const char *what, const char *path, char **out, char *err, size_t errcap);

/* printf into err[cap] (nothing when err is NULL or cap 0): the error
 * writer of both configuration files. */
void sc__set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
