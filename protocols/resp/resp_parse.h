/*
 * RESP request framing: turns the byte stream of one client into commands
 * (argument vectors). Multibulk requests ("*N\r\n$len\r\n...") go through
 * hiredis's redisReader with our own object functions (so arguments are
 * built directly, no redisReply tree); inline commands (what telnet or a
 * shell pipe sends: "SET k v\r\n") are split with Redis' quoting rules.
 *
 * Everything read from the socket is bounded: the multibulk count, each bulk
 * length, the inline line and the total argument bytes of one command, and
 * much lower counts and lengths before the client has authenticated (as
 * Redis does). A violation is a protocol error: the caller answers "-ERR <message>" and
 * closes the connection, as redis-server does.
 */
#ifndef RESP_PARSE_H
#define RESP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "flo/flo_buf.h"

#define RESP_DEFAULT_MAX_ARGS    (1024u * 1024)      /* elements of one multibulk */
#define RESP_DEFAULT_MAX_BULK    (32u * 1024 * 1024) /* bytes of one argument */
#define RESP_MAX_INLINE          (64u * 1024)        /* Redis' PROTO_INLINE_MAX_SIZE */
#define RESP_DEFAULT_MAX_COMMAND (64u * 1024 * 1024) /* argument bytes of one command */
/* Redis' limits for a client that has not authenticated yet (when auth is
 * required): a stranger cannot make the server buffer large requests. */
#define RESP_UNAUTH_MAX_ARGS 10u
#define RESP_UNAUTH_MAX_BULK 16384u

struct resp_parse_limits {
    size_t max_args;    /* largest multibulk count accepted */
    size_t max_bulk;    /* largest bulk string accepted */
    size_t max_inline;  /* longest inline line (and header line) */
    size_t max_command; /* sum of argument lengths of one command */
};

/* One command. argv[i].ptr is memory owned by the struct, followed by
 * a NUL that is not counted in len (convenient for number parsing; the
 * arguments themselves are binary). */
struct resp_argv {
    size_t argc;
    flo_buf_t *argv;
    /* Bytes right after argv[argc - 1] in argv's own allocation that hold
     * small arguments (one allocation per command instead of one per
     * argument); arguments outside them are separate allocations. */
    size_t inline_bytes;
};
/* Free the arguments (safe on a zeroed struct); leaves it zeroed. */
void resp_argv_free(struct resp_argv *a);

typedef struct redisReader redisReader;

struct resp_parser {
    struct flo_wbuf in;           /* received bytes not handed to hiredis */
    size_t in_pos;                /* start of the unparsed part of `in` */
    redisReader *reader;          /* owns the bytes of a multibulk being read */
    struct resp_parse_limits lim; /* copied at init */
    size_t cmd_bytes;             /* argument bytes of the multibulk being read */
    int failed;                   /* sticky: a protocol error was reported */
    bool unauthenticated;         /* set by the owner: apply RESP_UNAUTH_* (and Redis'
                                     "unauthenticated ... length" errors) */
    char err[160];                /* message of the protocol error, without "ERR " */
};

/* Set *lim to the defaults above. */
void resp_parse_limits_defaults(struct resp_parse_limits *lim);

/* 0 or FLO_ENOMEM. lim NULL = defaults. Free with resp_parser_free. */
int resp_parser_init(struct resp_parser *p, const struct resp_parse_limits *lim);
void resp_parser_free(struct resp_parser *p);

/* Append received bytes. 0, FLO_ENOMEM, or FLO_EMALFORMED after an error. */
int resp_parser_feed(struct resp_parser *p, const void *data, size_t len);

/*
 * Take the next complete command.
 * Returns 1 and fills *out (caller frees with resp_argv_free); 0 if more
 * bytes are needed; FLO_EMALFORMED on a protocol error (message in p->err,
 * e.g. "Protocol error: invalid bulk length"; the error is sticky); or
 * FLO_ENOMEM. Empty commands ("\r\n", "*0\r\n", "*-1\r\n") are skipped.
 */
int resp_parser_next(struct resp_parser *p, struct resp_argv *out);

/* Bytes received and not yet returned as commands. */
size_t resp_parser_buffered(const struct resp_parser *p);

/*
 * Split one inline line (no CR/LF) into arguments with the rules of
 * Redis' sdssplitargs: whitespace separates, "..." supports \n \r \t \b \a
 * \\ \" and \xHH, '...' supports \', a closing quote must be followed by
 * whitespace or the end. Returns 0 (out->argc may be 0 for a blank line),
 * FLO_EMALFORMED ("unbalanced quotes") or FLO_ENOMEM.
 */
int resp_split_inline(const char *line, size_t len, struct resp_argv *out);

#endif
