/*
 * CRC-32/IEEE (reflected polynomial 0xEDB88320, init and final xor
 * 0xFFFFFFFF), the checksum of every Flo frame header, computed
 * slicing-by-8: eight 256-entry tables let one step fold 8 input bytes with
 * 8 independent lookups instead of a chain of 8 dependent ones.
 *
 * Why not zlib's crc32(): a frame is checksummed in three short pieces
 * (16 + 12 header bytes, then a body of usually a few dozen bytes) and zlib
 * only switches to its fast braided loop for long inputs; below that it
 * runs a byte-at-a-time table loop. Profiled at redis-benchmark -P 16,
 * crc32_z was the sidecar's top function (16 % of its CPU); this version is
 * about 4x faster on frame-sized inputs and gives identical results for
 * any length and any starting crc (same chaining convention as zlib).
 */
#include <string.h>

#include "flo/flo_codec.h"

static uint32_t tables[8][256];

/* Filled before main (a constructor, so no per-call once-check: frames are
 * checksummed in three short calls each, where a call's fixed cost shows). */
__attribute__((constructor)) static void tables_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        tables[0][i] = c;
    }
    /* tables[s][i]: the crc of byte i followed by s zero bytes. */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = tables[0][i];
        for (int s = 1; s < 8; s++) {
            c = tables[0][c & 0xff] ^ (c >> 8);
            tables[s][i] = c;
        }
    }
}

uint32_t flo_crc32(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        /* Little-endian loads (memcpy: no alignment assumption); the frame
         * format and every supported target are little-endian. */
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        a = __builtin_bswap32(a);
        b = __builtin_bswap32(b);
#endif
        a ^= c;
        c = tables[7][a & 0xff] ^ tables[6][(a >> 8) & 0xff] ^ tables[5][(a >> 16) & 0xff] ^
            tables[4][a >> 24] ^ tables[3][b & 0xff] ^ tables[2][(b >> 8) & 0xff] ^
            tables[1][(b >> 16) & 0xff] ^ tables[0][b >> 24];
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        /* Slicing-by-4 for a 4..7-byte tail (a frame's 12-byte header
         * piece and most bodies end in one). */
        uint32_t a;
        memcpy(&a, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        a = __builtin_bswap32(a);
#endif
        a ^= c;
        c = tables[3][a & 0xff] ^ tables[2][(a >> 8) & 0xff] ^ tables[1][(a >> 16) & 0xff] ^
            tables[0][a >> 24];
        p += 4;
        len -= 4;
    }
    while (len--) {
        c = tables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    }
    return ~c;
}
