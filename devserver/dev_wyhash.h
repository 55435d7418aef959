/*
 * Wyhash as Zig's std.hash.Wyhash computes it (wyhash "final" v4.1, the
 * one-shot form). Flo maps a stream append's partition_key to a partition
 * with Wyhash(seed 0) modulo the stream's partition count
 * (shared/flo-protocol-ops.md §1, tag 0x25), so flo-dev must hash exactly
 * like the server for records to land in the same partition.
 */
#ifndef DEV_WYHASH_H
#define DEV_WYHASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash n bytes at p with `seed`. p may be NULL when n is 0. Pure. */
uint64_t dev_wyhash(uint64_t seed, const void *p, size_t n);

#endif
