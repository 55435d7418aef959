/*
 * Error codes of libflo and Flo's wire status codes.
 *
 * Functions that can fail return 0 or a negative code. libuv's codes
 * (UV_ECONNRESET, ...: small negative errno values) pass through unchanged;
 * libflo's own codes live below -10000 so the two never collide.
 * A Flo *status* is not an error code: it is the u8 a server put in a
 * response header, handed to callers as data (enum flo_status_e).
 */
#ifndef FLO_ERROR_H
#define FLO_ERROR_H

enum flo_err_e {
    FLO_OK = 0,
    FLO_ENOMEM = -10001,       /* allocation failed */
    FLO_EINVAL = -10002,       /* bad argument from the caller */
    FLO_EAGAIN = -10003,       /* incomplete input: feed more bytes */
    FLO_EBADMAGIC = -10004,    /* frame does not start with "FLO\0" */
    FLO_EBADVERSION = -10005,  /* frame version byte is not 1 */
    FLO_EBADRESERVED = -10006, /* reserved header bytes not zero */
    FLO_EBADCRC = -10007,      /* CRC32 mismatch */
    FLO_ETOOBIG = -10008,      /* declared length over the configured maximum */
    FLO_ETRUNC = -10009,       /* a body is shorter than its layout requires */
    FLO_EMALFORMED = -10010,   /* a body has bytes that break its layout */
    FLO_ETIMEDOUT = -10011,    /* no response within the request timeout */
    FLO_ECONNCLOSED = -10012,  /* the connection died before the response */
    FLO_EUNAVAIL = -10013,     /* no upstream connection is usable */
    FLO_ECANCELED = -10014,    /* the request was cancelled by its owner */
    FLO_ELIMIT = -10015,       /* a configured limit (in-flight, queue) was hit */
    FLO_EAUTH = -10016,        /* the upstream refused the API key */
    FLO_ECLOSING = -10017,     /* the object is shutting down */
};

/* Status byte of a response header (flo-protocol-core.md §5). */
enum flo_status_e {
    FLO_STATUS_OK = 0,
    FLO_STATUS_ERROR = 1,
    FLO_STATUS_NOT_FOUND = 2,
    FLO_STATUS_BAD_REQUEST = 3,
    FLO_STATUS_CROSS_CORE_TXN = 4,
    FLO_STATUS_NO_ACTIVE_TXN = 5,
    FLO_STATUS_GROUP_LOCKED = 6,
    FLO_STATUS_UNAUTHORIZED = 7,
    FLO_STATUS_CONFLICT = 8,
    FLO_STATUS_INTERNAL = 9,
    FLO_STATUS_OVERLOADED = 10,
    FLO_STATUS_RATE_LIMITED = 11,
    FLO_STATUS_UNAVAILABLE = 12,
};

/* Static text for an error code (libflo's or libuv's). Never NULL. */
const char *flo_strerror(int err);
/* Static name for a status byte ("not_found", ...; "status_N" if unknown). */
const char *flo_status_name(unsigned status);

#endif
