/*
 * Helpers shared by the two codec_ops test files (vectors, and alternate
 * forms / error paths): scratch buffers reset around each test and a
 * one-record list builder (byte assertions are in tests/support/ts_bytes.h).
 * Static: each test binary gets its own copy.
 */
#ifndef CODEC_OPS_HELPERS_H
#define CODEC_OPS_HELPERS_H

#include <criterion/criterion.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"
#include "ts_bytes.h"

#define TS      1717171717000ull /* the vectors' base timestamp (ms) */
#define RUN_ID  "act-c345c3e2000000"
#define KEY(s)  FLO_BUF_STR(s)
#define VIEW(w) flo_wbuf_view(&(w))

/* The name codec_ops_forms_test.c uses for the shared string assertion. */

/* Scratch buffers; each test starts with them empty and frees them. */
static struct flo_wbuf V, O, B;
static void setup(void)
{
    flo_wbuf_init(&V);
    flo_wbuf_init(&O);
    flo_wbuf_init(&B);
}
static void teardown(void)
{
    flo_wbuf_free(&V);
    flo_wbuf_free(&O);
    flo_wbuf_free(&B);
}

/* Server side: a record list body of one record without headers. */
static void put_one_record(uint64_t ts, const char *payload)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_stream_record r = {.id = {ts, 0}, .payload = FLO_BUF_STR(payload)};
    cr_assert_eq(flo_stream_record_put(&B, &r), 0);
    flo_ops_count_patch(&B, pos, 1);
}

#endif
