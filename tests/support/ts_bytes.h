/*
 * Byte-level assertions shared by the codec unit tests (KV and ops): hex
 * vectors decoded into caller buffers, and byte-for-byte comparisons of
 * flo_buf_t views. Each helper fails the running Criterion test with a
 * message naming what was compared, so callers need no checks of their own.
 */
#ifndef TS_BYTES_H
#define TS_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "flo/flo_buf.h"

/* Decode hex (whitespace allowed, either case) into buf and return the byte
 * count. Fails the test on a bad digit, an odd digit count or more than cap
 * bytes. */
size_t ts_unhex(const char *hex, uint8_t *buf, size_t cap);

/* Fail the test unless got holds exactly the bytes of want; the message
 * names `what` and example `num` and gives the first differing byte. */
void ts_assert_bytes(flo_buf_t got, flo_buf_t want, const char *what, int num);

/* Fail the test unless got holds exactly the characters of the C string. */
void ts_assert_buf_str(flo_buf_t got, const char *want, const char *what);

#endif
