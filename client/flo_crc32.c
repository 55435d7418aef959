/*
 * CRC-32/IEEE (reflected polynomial 0xEDB88320, init and final xor
 * 0xFFFFFFFF), the checksum of every Flo frame header. zlib's crc32() is
 * exactly this function with the same chaining convention, and its braided
 * implementation is several times faster than a table loop.
 */
#include <zlib.h>

#include "flo/flo_codec.h"

uint32_t flo_crc32(uint32_t crc, const void *data, size_t len)
{
    const Bytef *p = data;
    uLong c = crc;
    /* zlib takes uInt lengths; feed very large ranges in pieces. */
    while (len > 0) {
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}
