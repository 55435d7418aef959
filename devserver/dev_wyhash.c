/*
 * Wyhash, one-shot, bit-compatible with Zig's std.hash.Wyhash (the hash
 * Flo's server uses for partition keys). Checked against the reference
 * test vectors in tests/unit/dev_stream_test.c.
 */
#include "dev_wyhash.h"

#include <string.h>

static const uint64_t secret[4] = {
    0xa0761d6478bd642full,
    0xe7037ed1a0b428dbull,
    0x8ebc6af09c88c6e3ull,
    0x589965cc75374cc3ull,
};

#define ROUND_BYTES 48 /* bytes consumed by one three-lane round */
#define SMALL_MAX   16 /* inputs up to this size take the short path */

/* 64x64 -> 128 multiply; a gets the low half, b the high half. */
static void mum(uint64_t *a, uint64_t *b)
{
    unsigned __int128 x = (unsigned __int128)*a * *b;
    *a = (uint64_t)x;
    *b = (uint64_t)(x >> 64);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    mum(&a, &b);
    return a ^ b;
}

/* Little-endian loads, as Zig's std.mem.readInt(.little). */
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t rd32(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

uint64_t dev_wyhash(uint64_t seed, const void *data, size_t n)
{
    const uint8_t *in = data;
    uint64_t state[3];
    uint64_t a, b;
    state[0] = seed ^ mix(seed ^ secret[0], secret[1]);
    state[1] = state[0];
    state[2] = state[0];

    if (n <= SMALL_MAX) {
        if (n >= 4) {
            size_t end = n - 4;
            size_t quarter = (n >> 3) << 2;
            a = (rd32(in) << 32) | rd32(in + quarter);
            b = (rd32(in + end) << 32) | rd32(in + end - quarter);
        } else if (n > 0) {
            a = ((uint64_t)in[0] << 16) | ((uint64_t)in[n >> 1] << 8) | in[n - 1];
            b = 0;
        } else {
            a = 0;
            b = 0;
        }
    } else {
        size_t i = 0;
        if (n >= ROUND_BYTES) {
            while (i + ROUND_BYTES < n) {
                for (int l = 0; l < 3; l++) {
                    uint64_t x = rd64(in + i + 16 * (size_t)l);
                    uint64_t y = rd64(in + i + 16 * (size_t)l + 8);
                    state[l] = mix(x ^ secret[l + 1], y ^ state[l]);
                }
                i += ROUND_BYTES;
            }
            state[0] ^= state[1] ^ state[2];
        }
        /* final1: the remaining (at most 48) bytes in 16-byte steps. */
        const uint8_t *rest = in + i;
        size_t rlen = n - i;
        for (size_t j = 0; j + 16 < rlen; j += 16) {
            state[0] = mix(rd64(rest + j) ^ secret[1], rd64(rest + j + 8) ^ state[0]);
        }
        a = rd64(in + n - 16);
        b = rd64(in + n - 8);
    }
    /* final2 */
    a ^= secret[1];
    b ^= state[0];
    mum(&a, &b);
    return mix(a ^ secret[0] ^ (uint64_t)n, b ^ secret[1]);
}
