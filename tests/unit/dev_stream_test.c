/*
 * Unit tests of flo-dev's stream engine (devserver/dev_stream.c), driven
 * directly with a fake clock: Wyhash against the reference vectors, name
 * validation texts, id assignment (per stream, within a millisecond, and
 * monotonic across a backwards clock step), batch validation, reads
 * (exclusive start, `0-n`, tail, inclusive end, start inside an append,
 * the whole-append count budget, partitions and partition keys, headers),
 * trim by before/maxlen/maxage with dry_run, info, create/alter/delete,
 * list, and retention by count and age.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_group.h"
#include "dev_stream.h"
#include "dev_wyhash.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

#define T0 1700000000000ull /* fake wall clock start (Unix ms) */

static uint64_t fake_wall = T0, fake_mono = 1000;
static struct dev_streams *ss;
static struct flo_stream_record out[FLO_STREAM_MAX_COUNT];

static uint64_t wall_ms(void *ud)
{
    (void)ud;
    return fake_wall;
}

static uint64_t mono_ms(void *ud)
{
    (void)ud;
    return fake_mono;
}

static void setup(void)
{
    fake_wall = T0;
    fake_mono = 1000;
    struct dev_stream_clock clk = {.wall_ms = wall_ms, .mono_ms = mono_ms, .ud = NULL};
    cr_assert_eq(dev_streams_new(&clk, &ss), 0);
}

static void teardown(void)
{
    dev_streams_free(ss);
    ss = NULL;
}

TestSuite(dev_stream, .init = setup, .fini = teardown);

#define NS     FLO_BUF_STR("default")
#define S(str) FLO_BUF_STR(str)

/* Append payloads[0..n) as one batch (no headers); returns the first id. */
static struct flo_stream_id append_n(const char *stream, const char *const *payloads, size_t n)
{
    struct flo_stream_rec_in recs[8];
    cr_assert_leq(n, 8);
    for (size_t i = 0; i < n; i++) {
        recs[i] = (struct flo_stream_rec_in){.payload = S(payloads[i])};
    }
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_stream_batch_value(&v, recs, n), 0);
    struct flo_stream_id first;
    const char *msg = NULL;
    uint8_t st = dev_stream_append(ss, NS, S(stream), flo_wbuf_view(&v), false, 0, FLO_BUF_NULL,
                                   &first, &msg);
    cr_assert_eq(st, FLO_STATUS_OK, "append: %s", msg ? msg : "");
    flo_wbuf_free(&v);
    return first;
}

static struct flo_stream_id append1(const char *stream, const char *payload)
{
    const char *p[] = {payload};
    return append_n(stream, p, 1);
}

static size_t read_args(const char *stream, struct dev_stream_read_args a)
{
    size_t n = 99;
    const char *msg;
    cr_assert_eq(dev_stream_read(ss, NS, S(stream), &a, out, &n, &msg), FLO_STATUS_OK);
    return n;
}

static void expect_payload(size_t i, const char *want)
{
    cr_assert_eq(out[i].payload.len, strlen(want), "record %zu payload '%.*s', want '%s'", i,
                 (int)out[i].payload.len, out[i].payload.ptr, want);
    cr_assert(memcmp(out[i].payload.ptr, want, strlen(want)) == 0);
}

static void expect_id(struct flo_stream_id got, uint64_t ts, uint64_t seq)
{
    cr_assert(got.ts == ts && got.seq == seq, "id %llu-%llu, want %llu-%llu",
              (unsigned long long)got.ts, (unsigned long long)got.seq, (unsigned long long)ts,
              (unsigned long long)seq);
}

/* ---- Wyhash ---- */

Test(dev_stream, wyhash_matches_reference_vectors)
{
    static const struct {
        uint64_t seed, want;
        const char *in;
    } v[] = {
        {0, 0x409638ee2bde459ull, ""},
        {1, 0xa8412d091b5fe0a9ull, "a"},
        {2, 0x32dd92e4b2915153ull, "abc"},
        {3, 0x8619124089a3a16bull, "message digest"},
        {4, 0x7a43afb61d7f5f40ull, "abcdefghijklmnopqrstuvwxyz"},
        {5, 0xff42329b90e50d58ull,
         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"},
        {6, 0xc39cab13b115aad3ull,
         "12345678901234567890123456789012345678901234567890123456789012345678901234567890"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        cr_assert_eq(dev_wyhash(v[i].seed, v[i].in, strlen(v[i].in)), v[i].want, "vector %zu", i);
    }
}

/* ---- names ---- */

Test(dev_stream, name_validation_texts)
{
    uint8_t key[DEV_STREAM_MAX_NAME];
    size_t len;
    const char *msg;
    cr_assert_eq(dev_stream_make_key(NS, S(""), key, &len, NULL, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream name is required");
    cr_assert_eq(dev_stream_make_key(NS, FLO_BUF("a\0b", 3), key, &len, NULL, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream name must not contain NUL");
    char *big = malloc(DEV_STREAM_MAX_NAME);
    cr_assert_not_null(big);
    memset(big, 'x', DEV_STREAM_MAX_NAME);
    /* "default" + NUL + name must fit 4096 bytes. */
    cr_assert_eq(
        dev_stream_make_key(NS, FLO_BUF(big, DEV_STREAM_MAX_NAME - 8), key, &len, NULL, &msg),
        FLO_STATUS_OK);
    cr_assert_eq(
        dev_stream_make_key(NS, FLO_BUF(big, DEV_STREAM_MAX_NAME - 7), key, &len, NULL, &msg),
        FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream name too long for its namespace");
    free(big);
    /* The empty namespace is `default`. */
    size_t ns_len;
    cr_assert_eq(dev_stream_make_key(FLO_BUF_NULL, S("s"), key, &len, &ns_len, &msg),
                 FLO_STATUS_OK);
    cr_assert_eq(ns_len, 7);
    cr_assert(memcmp(key, "default\0s", 9) == 0);
}

/* ---- ids ---- */

Test(dev_stream, ids_are_per_stream_and_sequence_within_a_millisecond)
{
    expect_id(append1("a", "1"), T0, 0);
    expect_id(append1("a", "2"), T0, 1);
    expect_id(append1("b", "1"), T0, 0); /* its own id space */
    const char *three[] = {"x", "y", "z"};
    expect_id(append_n("a", three, 3), T0, 2); /* takes T0-2 .. T0-4 */
    expect_id(append1("a", "after"), T0, 5);
    fake_wall = T0 + 7;
    expect_id(append1("a", "new ms"), T0 + 7, 0);
    size_t n = read_args("a", (struct dev_stream_read_args){.count = 100});
    cr_assert_eq(n, 7);
    expect_id(out[3].id, T0, 3);
    expect_payload(3, "y");
}

Test(dev_stream, ids_stay_monotonic_when_the_clock_steps_back)
{
    fake_wall = T0 + 1000;
    expect_id(append1("s", "1"), T0 + 1000, 0);
    fake_wall = T0; /* the clock went back one second */
    expect_id(append1("s", "2"), T0 + 1000, 1);
    expect_id(append1("s", "3"), T0 + 1000, 2);
    fake_wall = T0 + 1000; /* caught up to the same ms: still the next sequence */
    expect_id(append1("s", "4"), T0 + 1000, 3);
    fake_wall = T0 + 1001;
    expect_id(append1("s", "5"), T0 + 1001, 0);
}

/* ---- append validation ---- */

static bool count_fn(flo_buf_t name, uint32_t pc, void *ud)
{
    (void)name;
    (void)pc;
    (*(size_t *)ud)++;
    return true;
}

static uint8_t append_raw(flo_buf_t value, const char **msg)
{
    struct flo_stream_id first;
    return dev_stream_append(ss, NS, S("s"), value, false, 0, FLO_BUF_NULL, &first, msg);
}

Test(dev_stream, malformed_batches_are_refused_and_nothing_is_stored)
{
    const char *msg;
    cr_assert_eq(append_raw(S("login"), &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream append: malformed batch");
    cr_assert_eq(append_raw(FLO_BUF_NULL, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream append: malformed batch");
    static const uint8_t zero_records[] = {0, 0, 0, 0};
    cr_assert_eq(append_raw(FLO_BUF(zero_records, 4), &msg), FLO_STATUS_BAD_REQUEST);
    static const uint8_t truncated[] = {1, 0, 0, 0, 5, 0, 0, 0, 'l', 'o'};
    cr_assert_eq(append_raw(FLO_BUF(truncated, sizeof truncated), &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream append: malformed batch");
    static const uint8_t trailing[] = {1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 0, 'X'};
    cr_assert_eq(append_raw(FLO_BUF(trailing, sizeof trailing), &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream append: malformed batch");
    cr_assert_eq(dev_streams_record_count(ss), 0);
    struct flo_stream_info info;
    cr_assert_eq(dev_stream_info(ss, NS, S("s"), &info, &msg), FLO_STATUS_OK);
    cr_assert_eq(info.count, 0);
    /* A failed append does not list the stream. */
    size_t listed = 0;
    cr_assert_eq(dev_stream_each(ss, NS, count_fn, &listed, &msg), FLO_STATUS_OK);
    cr_assert_eq(listed, 0);
}

Test(dev_stream, a_batch_over_1000_records_names_its_size)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_wbuf_u32(&v, 1001), 0);
    for (int i = 0; i < 1001; i++) {
        cr_assert_eq(flo_wbuf_u32(&v, 1), 0);
        cr_assert_eq(flo_wbuf_u8(&v, 'p'), 0);
        cr_assert_eq(flo_wbuf_u16(&v, 0), 0);
    }
    const char *msg;
    cr_assert_eq(append_raw(flo_wbuf_view(&v), &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream append: a batch of 1001 records is over the limit of 1000");
    cr_assert_eq(dev_streams_record_count(ss), 0);
    flo_wbuf_free(&v);
}

Test(dev_stream, headers_round_trip_in_reads)
{
    struct flo_stream_header h[2] = {{S("content-type"), S("text/plain")}, {S("k"), S("")}};
    struct flo_stream_rec_in rec = {.payload = S("x"), .headers = h, .n_headers = 2};
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_stream_batch_value(&v, &rec, 1), 0);
    struct flo_stream_id first;
    const char *msg;
    cr_assert_eq(
        dev_stream_append(ss, NS, S("h"), flo_wbuf_view(&v), false, 0, FLO_BUF_NULL, &first, &msg),
        FLO_STATUS_OK);
    flo_wbuf_free(&v);
    cr_assert_eq(read_args("h", (struct dev_stream_read_args){0}), 1);
    cr_assert_eq(out[0].headers.count, 2);
    struct flo_stream_hdr_iter it;
    struct flo_stream_header got;
    flo_stream_hdr_begin(&out[0].headers, &it);
    cr_assert_eq(flo_stream_hdr_next(&it, &got), 1);
    cr_assert(got.key.len == 12 && memcmp(got.key.ptr, "content-type", 12) == 0);
    cr_assert(got.val.len == 10 && memcmp(got.val.ptr, "text/plain", 10) == 0);
    cr_assert_eq(flo_stream_hdr_next(&it, &got), 1);
    cr_assert(got.key.len == 1 && got.val.len == 0);
    cr_assert_eq(flo_stream_hdr_next(&it, &got), 0);
    /* The wire encoder widens the u16 lengths to u32 and key_present is 0. */
    struct flo_wbuf b;
    flo_wbuf_init(&b);
    cr_assert_eq(flo_stream_record_put(&b, &out[0]), 0);
    struct flo_stream_record back;
    struct flo_stream_rec_iter rit;
    uint32_t count;
    struct flo_wbuf list;
    flo_wbuf_init(&list);
    cr_assert_eq(flo_wbuf_u32(&list, 1), 0);
    cr_assert_eq(flo_wbuf_append(&list, b.data, b.len), 0);
    cr_assert_eq(flo_stream_records_begin(flo_wbuf_view(&list), &rit, &count), 0);
    cr_assert_eq(flo_stream_records_next(&rit, &back), 1);
    cr_assert_eq(back.key_present, false);
    cr_assert_eq(back.headers.count, 2);
    cr_assert(back.headers.wide);
    flo_wbuf_free(&b);
    flo_wbuf_free(&list);
}

/* ---- reads ---- */

Test(dev_stream, start_is_exclusive_and_bare_sequence_means_from_the_beginning)
{
    struct flo_stream_id a = append1("s", "a");
    fake_wall += 5;
    struct flo_stream_id b = append1("s", "b");
    size_t n = read_args("s", (struct dev_stream_read_args){.has_start = true, .start = a});
    cr_assert_eq(n, 1);
    expect_payload(0, "b");
    expect_id(out[0].id, b.ts, b.seq);
    n = read_args("s", (struct dev_stream_read_args){.has_start = true, .start = b});
    cr_assert_eq(n, 0);
    n = read_args("s", (struct dev_stream_read_args){.has_start = true, .start = {0, 7}});
    cr_assert_eq(n, 2, "0-n reads from the beginning");
    expect_payload(0, "a");
    n = read_args("s", (struct dev_stream_read_args){0});
    cr_assert_eq(n, 2, "no start reads from the beginning");
    cr_assert_eq(out[0].key_present, false);
    cr_assert_eq(out[0].tier, 0);
}

Test(dev_stream, tail_resolves_to_the_last_id)
{
    append1("s", "old");
    struct dev_stream_read_args a = {.tail = true, .has_start = true, .start = {0, 1}};
    size_t n = 99;
    const char *msg;
    cr_assert_eq(dev_stream_read(ss, NS, S("s"), &a, out, &n, &msg), FLO_STATUS_OK);
    cr_assert_eq(n, 0, "tail wins over start");
    cr_assert(!a.tail && a.has_start);
    expect_id(a.start, T0, 0);
    append1("s", "new");
    cr_assert_eq(dev_stream_read(ss, NS, S("s"), &a, out, &n, &msg), FLO_STATUS_OK);
    cr_assert_eq(n, 1, "the resolved read sees later appends only");
    expect_payload(0, "new");
    /* Tail of an unknown stream: everything appended later. */
    struct dev_stream_read_args u = {.tail = true};
    cr_assert_eq(dev_stream_read(ss, NS, S("later"), &u, out, &n, &msg), FLO_STATUS_OK);
    cr_assert_eq(n, 0);
    append1("later", "first");
    cr_assert_eq(dev_stream_read(ss, NS, S("later"), &u, out, &n, &msg), FLO_STATUS_OK);
    cr_assert_eq(n, 1);
}

Test(dev_stream, end_is_inclusive_and_can_cut_an_append)
{
    const char *three[] = {"a", "b", "c"};
    append_n("s", three, 3); /* T0-0..T0-2 */
    fake_wall += 1;
    append1("s", "d");
    size_t n = read_args("s", (struct dev_stream_read_args){.has_end = true, .end = {T0, 1}});
    cr_assert_eq(n, 2);
    expect_payload(1, "b");
    n = read_args("s", (struct dev_stream_read_args){.has_end = true, .end = {T0 + 1, 0}});
    cr_assert_eq(n, 4);
    n = read_args("s", (struct dev_stream_read_args){
                           .has_start = true, .start = {T0, 0}, .has_end = true, .end = {T0, 1}});
    cr_assert_eq(n, 1, "start inside the append, end inside it too");
    expect_payload(0, "b");
}

Test(dev_stream, count_budget_takes_whole_appends_but_at_least_one)
{
    const char *three[] = {"a1", "a2", "a3"};
    const char *two[] = {"b1", "b2"};
    append_n("s", three, 3);
    append_n("s", two, 2);
    append1("s", "c1");
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){.count = 2}), 3,
                 "a 3-record append comes whole even with count 2");
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){.count = 4}), 3,
                 "the second append would pass the budget");
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){.count = 5}), 5);
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){.count = 6}), 6);
    /* Start inside the first append: its remaining records count. */
    size_t n = read_args(
        "s", (struct dev_stream_read_args){.has_start = true, .start = {T0, 1}, .count = 3});
    cr_assert_eq(n, 3);
    expect_payload(0, "a3");
    expect_payload(2, "b2");
    /* count 0 is the default of 100. */
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){.count = 0}), 6);
}

Test(dev_stream, partition_filter_and_partition_key)
{
    struct dev_stream_meta m = {.partition_count = 4};
    const char *msg;
    cr_assert_eq(dev_stream_create(ss, NS, S("p"), &m, &msg), FLO_STATUS_OK);
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct flo_stream_rec_in rec = {.payload = S("x")};
    cr_assert_eq(flo_stream_batch_value(&v, &rec, 1), 0);
    struct flo_stream_id first;
    cr_assert_eq(
        dev_stream_append(ss, NS, S("p"), flo_wbuf_view(&v), true, 2, FLO_BUF_NULL, &first, &msg),
        FLO_STATUS_OK);
    cr_assert_eq(
        dev_stream_append(ss, NS, S("p"), flo_wbuf_view(&v), false, 0, S("user-7"), &first, &msg),
        FLO_STATUS_OK);
    uint32_t want = (uint32_t)(dev_wyhash(0, "user-7", 6) % 4);
    cr_assert_eq(read_args("p", (struct dev_stream_read_args){0}), 2);
    cr_assert_eq(out[0].partition, 2);
    cr_assert_eq(out[1].partition, want);
    size_t n = read_args("p", (struct dev_stream_read_args){.has_partition = true, .partition = 2});
    cr_assert(n >= 1 && out[0].partition == 2);
    n = read_args("p", (struct dev_stream_read_args){.partition_key = S("user-7")});
    cr_assert_geq(n, 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].partition, want);
    }
    flo_wbuf_free(&v);
}

Test(dev_stream, unknown_stream_reads_empty)
{
    cr_assert_eq(read_args("nope", (struct dev_stream_read_args){0}), 0);
    const char *msg;
    size_t n;
    struct dev_stream_read_args a = {0};
    cr_assert_eq(dev_stream_read(ss, NS, S(""), &a, out, &n, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream name is required");
}

/* ---- trim ---- */

static void trim(const char *stream, struct flo_stream_trim_args a, uint64_t want_deleted,
                 uint64_t want_first_seq)
{
    uint64_t deleted = 99, first_seq = 99;
    const char *msg;
    cr_assert_eq(dev_stream_trim(ss, NS, S(stream), &a, &deleted, &first_seq, &msg), FLO_STATUS_OK);
    cr_assert_eq(deleted, want_deleted, "deleted %llu, want %llu", (unsigned long long)deleted,
                 (unsigned long long)want_deleted);
    cr_assert_eq(first_seq, want_first_seq, "first_seq %llu, want %llu",
                 (unsigned long long)first_seq, (unsigned long long)want_first_seq);
}

/* Appends: T0-0 "a" | T0-1..3 (three) | (T0+1)-0 "d" | (T0+1)-1 "e". */
static void trim_fixture(void)
{
    append1("s", "a");
    const char *three[] = {"b", "c", "x"};
    append_n("s", three, 3);
    fake_wall = T0 + 1;
    append1("s", "d");
    append1("s", "e");
}

Test(dev_stream, trim_maxlen_removes_whole_appends_only)
{
    trim_fixture();
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_MAXLEN, .maxlen = 3, .dry_run = true};
    trim("s", a, 1, 1); /* dropping the three-record append would leave 2 < 3 */
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){0}), 6, "dry run removes nothing");
    a.dry_run = false;
    trim("s", a, 1, 1);
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){0}), 5);
    expect_payload(0, "b");
    a.maxlen = 1;
    trim("s", a, 2, 1); /* the three-record append and "d" */
    cr_assert_eq(read_args("s", (struct dev_stream_read_args){0}), 1);
    expect_payload(0, "e");
    /* Ids continue after a trim. */
    expect_id(append1("s", "f"), T0 + 1, 2);
}

Test(dev_stream, trim_before_and_maxage)
{
    trim_fixture();
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_BEFORE, .before = {T0, 2}};
    trim("s", a, 1, 1); /* only "a": the append holding T0-2 also holds T0-3 */
    a.before = (struct flo_stream_id){T0, 3};
    trim("s", a, 1, 0); /* new first is (T0+1)-0 */
    a.before = (struct flo_stream_id){0, 5};
    trim("s", a, 0, 0); /* a bare sequence sorts before every id */
    fake_wall = T0 + 1 + 10000;
    struct flo_stream_trim_args age = {.bound = FLO_TRIM_MAXAGE, .max_age_s = 20};
    trim("s", age, 0, 0);
    age.max_age_s = 5;
    trim("s", age, 2, 0);
    struct flo_stream_info info;
    const char *msg;
    cr_assert_eq(dev_stream_info(ss, NS, S("s"), &info, &msg), FLO_STATUS_OK);
    cr_assert_eq(info.count, 0);
    expect_id(info.first, 0, 0);
    trim("nope", age, 0, 0);
}

/* ---- info, create, alter, delete, list ---- */

Test(dev_stream, info_reports_ids_counts_bytes_and_metadata)
{
    const char *msg;
    struct flo_stream_info info;
    cr_assert_eq(dev_stream_info(ss, NS, S("none"), &info, &msg), FLO_STATUS_OK);
    cr_assert_eq(info.partition_count, 1);
    cr_assert_eq(info.count, 0);
    expect_id(info.last, 0, 0);
    cr_assert_eq(dev_stream_info(ss, NS, S(""), &info, &msg), FLO_STATUS_OK);
    append1("s", "login"); /* batch value: 4 + 4 + 5 + 2 = 15 bytes */
    const char *two[] = {"a", "b"};
    fake_wall += 9;
    append_n("s", two, 2); /* 4 + 2 * (4 + 1 + 2) = 18 bytes */
    cr_assert_eq(dev_stream_info(ss, NS, S("s"), &info, &msg), FLO_STATUS_OK);
    expect_id(info.first, T0, 0);
    expect_id(info.last, T0 + 9, 1);
    cr_assert_eq(info.count, 3);
    cr_assert_eq(info.bytes, 33);
    cr_assert_eq(info.partition_count, 1);
    struct dev_stream_meta m = {.partition_count = 4, .retention_age_s = 60, .retention_count = 9};
    cr_assert_eq(dev_stream_create(ss, NS, S("s"), &m, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_stream_info(ss, NS, S("s"), &info, &msg), FLO_STATUS_OK);
    cr_assert_eq(info.partition_count, 4);
    cr_assert_eq(info.retention_age_s, 60);
    cr_assert_eq(info.retention_count, 9);
    cr_assert_eq(info.count, 3, "create on an existing stream keeps its records");
}

Test(dev_stream, alter_needs_a_created_stream)
{
    const char *msg;
    struct dev_stream_meta m = {.retention_count = 5};
    cr_assert_eq(dev_stream_alter(ss, NS, S("s"), &m, &msg), FLO_STATUS_NOT_FOUND);
    cr_assert_str_eq(msg, "stream not found");
    append1("s", "x");
    cr_assert_eq(dev_stream_alter(ss, NS, S("s"), &m, &msg), FLO_STATUS_NOT_FOUND,
                 "appended but never created");
    struct dev_stream_meta c = {.retention_age_s = 10, .retention_count = 100};
    cr_assert_eq(dev_stream_create(ss, NS, S("s"), &c, &msg), FLO_STATUS_OK);
    struct dev_stream_meta alter = {.retention_count = 5}; /* age 0 keeps the current value */
    cr_assert_eq(dev_stream_alter(ss, NS, S("s"), &alter, &msg), FLO_STATUS_OK);
    struct flo_stream_info info;
    cr_assert_eq(dev_stream_info(ss, NS, S("s"), &info, &msg), FLO_STATUS_OK);
    cr_assert_eq(info.retention_age_s, 10);
    cr_assert_eq(info.retention_count, 5);
}

Test(dev_stream, delete_needs_force_when_not_empty_and_removes_groups)
{
    const char *msg;
    cr_assert_eq(dev_stream_delete(ss, NS, S("missing"), false, &msg), FLO_STATUS_OK);
    append1("s", "x");
    struct dev_group_settings set = {0};
    cr_assert_eq(dev_group_create(ss, NS, S("s"), S("g"), &set, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_stream_delete(ss, NS, S("s"), false, &msg), FLO_STATUS_CONFLICT);
    cr_assert_str_eq(msg, "stream is not empty; pass --force to delete");
    cr_assert_eq(dev_stream_delete(ss, NS, S("s"), true, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_streams_record_count(ss), 0);
    cr_assert_eq(dev_streams_byte_count(ss), 0);
    struct flo_group_info gi;
    cr_assert_eq(dev_group_info(ss, NS, S("s"), S("g"), &gi, &msg), FLO_STATUS_NOT_FOUND);
    cr_assert_str_eq(msg, "consumer group not found");
    /* A new stream of the same name starts a fresh id space. */
    fake_wall = T0 - 50;
    expect_id(append1("s", "again"), T0 - 50, 0);
    /* An empty (created) stream deletes without force. */
    struct dev_stream_meta m = {0};
    cr_assert_eq(dev_stream_create(ss, NS, S("e"), &m, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_stream_delete(ss, NS, S("e"), false, &msg), FLO_STATUS_OK);
}

struct names {
    size_t n;
    char name[8][32];
    uint32_t pc[8];
};

static bool names_fn(flo_buf_t name, uint32_t pc, void *ud)
{
    struct names *x = ud;
    cr_assert_lt(x->n, 8);
    snprintf(x->name[x->n], sizeof x->name[x->n], "%.*s", (int)name.len, name.ptr);
    x->pc[x->n++] = pc;
    return true;
}

Test(dev_stream, list_shows_created_and_appended_streams_of_the_namespace)
{
    const char *msg;
    append1("one", "x");
    struct dev_stream_meta m = {.partition_count = 3};
    cr_assert_eq(dev_stream_create(ss, NS, S("two"), &m, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_stream_create(ss, S("other"), S("three"), &m, &msg), FLO_STATUS_OK);
    struct dev_group_settings set = {0};
    cr_assert_eq(dev_group_create(ss, NS, S("groups-only"), S("g"), &set, &msg), FLO_STATUS_OK);
    struct names x = {0};
    cr_assert_eq(dev_stream_each(ss, NS, names_fn, &x, &msg), FLO_STATUS_OK);
    cr_assert_eq(x.n, 2);
    cr_assert_str_eq(x.name[0], "one");
    cr_assert_eq(x.pc[0], 1);
    cr_assert_str_eq(x.name[1], "two");
    cr_assert_eq(x.pc[1], 3);
    struct names y = {0};
    cr_assert_eq(dev_stream_each(ss, S("other"), names_fn, &y, &msg), FLO_STATUS_OK);
    cr_assert_eq(y.n, 1);
    cr_assert_str_eq(y.name[0], "three");
}

Test(dev_stream, retention_by_count_and_age)
{
    const char *msg;
    struct dev_stream_meta m = {.retention_count = 2};
    cr_assert_eq(dev_stream_create(ss, NS, S("r"), &m, &msg), FLO_STATUS_OK);
    append1("r", "1");
    append1("r", "2");
    append1("r", "3");
    cr_assert_eq(read_args("r", (struct dev_stream_read_args){0}), 2);
    expect_payload(0, "2");
    struct dev_stream_meta age = {.retention_age_s = 1};
    cr_assert_eq(dev_stream_create(ss, NS, S("a"), &age, &msg), FLO_STATUS_OK);
    append1("a", "old");
    fake_wall += 1500;
    append1("a", "new");
    dev_streams_sweep(ss);
    cr_assert_eq(read_args("a", (struct dev_stream_read_args){0}), 1);
    expect_payload(0, "new");
}
