/*
 * RESP reply encoding for RESP2 and RESP3 into a growable byte buffer.
 *
 * Every function appends one complete reply element to `out` and returns 0
 * or FLO_ENOMEM (the buffer is then unchanged or holds a partial element: the
 * caller drops the connection on FLO_ENOMEM). Where RESP2 and RESP3 differ the
 * function takes the connection's protocol version (2 or 3) and picks the
 * encoding redis-server 7 uses for that version.
 */
#ifndef RESP_REPLY_H
#define RESP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"

#define RESP_PROTO_2 2
#define RESP_PROTO_3 3

/* "+text\r\n". text must not contain CR or LF (replaced by spaces if it does). */
int resp_reply_simple(struct flo_wbuf *out, const char *text);
/*
 * "-CODE message\r\n". `msg` is the full error line including its code
 * ("ERR syntax error", "NOAUTH Authentication required."); a leading '-' is
 * tolerated and dropped. CR/LF inside are replaced by spaces, as Redis does.
 */
int resp_reply_error(struct flo_wbuf *out, const char *msg);
/* Same as resp_reply_error with printf formatting. */
int resp_reply_errorf(struct flo_wbuf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ":n\r\n". */
int resp_reply_int(struct flo_wbuf *out, int64_t n);
/* "$len\r\nbytes\r\n" (binary-safe). */
int resp_reply_bulk(struct flo_wbuf *out, const void *p, size_t len);
/* Bulk string of a NUL-terminated C string. */
int resp_reply_bulk_str(struct flo_wbuf *out, const char *s);
/* Null bulk: "$-1\r\n" (RESP2) or "_\r\n" (RESP3). */
int resp_reply_null(struct flo_wbuf *out, int proto);
/* Null array: "*-1\r\n" (RESP2) or "_\r\n" (RESP3). */
int resp_reply_null_array(struct flo_wbuf *out, int proto);
/* Array header "*n\r\n"; the caller appends n elements. */
int resp_reply_array(struct flo_wbuf *out, size_t n);
/* Map header: "%n\r\n" (RESP3) or "*2n\r\n" (RESP2, flat key/value array). */
int resp_reply_map(struct flo_wbuf *out, int proto, size_t npairs);
/* Set header: "~n\r\n" (RESP3) or "*n\r\n" (RESP2). */
int resp_reply_set(struct flo_wbuf *out, int proto, size_t n);
/* Double: ",d\r\n" (RESP3) or a bulk string (RESP2), formatted like Redis
 * ("%.17g", "inf", "-inf", "nan"). */
int resp_reply_double(struct flo_wbuf *out, int proto, double d);
/* Verbatim string: "=len\r\ntxt:bytes\r\n" (RESP3, `fmt` is 3 chars) or a
 * bulk string (RESP2). INFO and CLIENT INFO use it. */
int resp_reply_verbatim(struct flo_wbuf *out, int proto, const char *fmt, const void *p,
                        size_t len);

#endif
