/*
 * Text for libflo error codes and names for Flo status bytes.
 */
#include <stdio.h>
#include <uv.h>

#include "flo/flo_error.h"

const char *flo_strerror(int err)
{
    switch (err) {
    case FLO_OK:
        return "ok";
    case FLO_ENOMEM:
        return "out of memory";
    case FLO_EINVAL:
        return "invalid argument";
    case FLO_EAGAIN:
        return "incomplete input";
    case FLO_EBADMAGIC:
        return "bad frame magic";
    case FLO_EBADVERSION:
        return "unsupported protocol version";
    case FLO_EBADRESERVED:
        return "reserved header bytes are not zero";
    case FLO_EBADCRC:
        return "frame CRC mismatch";
    case FLO_ETOOBIG:
        return "frame too large";
    case FLO_ETRUNC:
        return "truncated body";
    case FLO_EMALFORMED:
        return "malformed body";
    case FLO_ETIMEDOUT:
        return "upstream request timed out";
    case FLO_ECONNCLOSED:
        return "upstream connection closed before the response";
    case FLO_EUNAVAIL:
        return "no upstream connection available";
    case FLO_ECANCELED:
        return "request cancelled";
    case FLO_ELIMIT:
        return "limit reached";
    case FLO_EAUTH:
        return "upstream refused the API key";
    case FLO_ECLOSING:
        return "shutting down";
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        return uv_strerror(err);
    }
    return "unknown error";
}

const char *flo_status_name(unsigned status)
{
    static const char *const names[] = {
        "ok",
        "error",
        "not_found",
        "bad_request",
        "cross_core_transaction",
        "no_active_transaction",
        "group_locked",
        "unauthorized",
        "conflict",
        "internal_error",
        "overloaded",
        "rate_limited",
        "unavailable",
    };
    if (status < sizeof names / sizeof names[0]) {
        return names[status];
    }
    return "unknown_status";
}
