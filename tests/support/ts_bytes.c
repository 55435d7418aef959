/*
 * Byte-level assertions for the codec unit tests (see ts_bytes.h). Hex is
 * decoded by ts_hex_decode so there is one hex parser in the test tree.
 */
#include "ts_bytes.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"

size_t ts_unhex(const char *hex, uint8_t *buf, size_t cap)
{
    uint8_t *tmp = NULL;
    size_t n = 0;
    int rc = ts_hex_decode(hex, &tmp, &n);
    bool fits = rc == 0 && n <= cap;
    if (fits) {
        memcpy(buf, tmp, n);
    }
    /* Free before asserting: a failed assertion leaves this function. */
    free(tmp);
    cr_assert_eq(rc, 0, "bad hex (a non-hex digit or an odd count): \"%.60s\"", hex);
    cr_assert(fits, "hex of %zu bytes is longer than its %zu-byte buffer", n, cap);
    return n;
}

void ts_assert_bytes(flo_buf_t got, flo_buf_t want, const char *what, int num)
{
    cr_assert_eq(got.len, want.len, "ex %d %s: length %zu, want %zu", num, what, got.len, want.len);
    for (size_t i = 0; i < want.len; i++) {
        cr_assert_eq(got.ptr[i], want.ptr[i], "ex %d %s: byte %zu is %02x, want %02x", num, what, i,
                     got.ptr[i], want.ptr[i]);
    }
}

void ts_assert_buf_str(flo_buf_t got, const char *want, const char *what)
{
    size_t n = strlen(want);
    cr_assert_eq(got.len, n, "%s: length %zu, want %zu", what, got.len, n);
    cr_assert(n == 0 || memcmp(got.ptr, want, n) == 0, "%s: bytes differ", what);
}
