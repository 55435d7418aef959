/*
 * Unit tests of flo-dev's consumer groups (devserver/dev_group.c) on the
 * stream engine, with a fake clock: create/configure/join/leave/delete and
 * their status texts, group reads handing each record to exactly one
 * consumer with the whole-append budget, the PEL with delivery counts,
 * ack (unknown ids ignored, none refused), nack (no redelivery by read),
 * touch, claim (idle filter, inclusive start, count, cursor paging, trimmed
 * records), pending with and without a consumer filter, info, and the
 * sweeper (bumping, dropping past max_deliver, off and unlimited settings).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_group.h"
#include "dev_stream.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

#define T0 1700000000000ull

static uint64_t fake_wall = T0, fake_mono = 1000;
static struct dev_streams *ss;
static struct flo_stream_record out[FLO_STREAM_MAX_COUNT];
static struct flo_group_pending_entry pend[DEV_GROUP_MAX_LIST];

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

TestSuite(dev_group, .init = setup, .fini = teardown);

#define NS     FLO_BUF_STR("default")
#define S(str) FLO_BUF_STR(str)
#define STREAM S("events")
#define GROUP  S("billing")

static struct flo_stream_id append_n(size_t n)
{
    struct flo_stream_rec_in recs[16];
    char text[16][24];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++) {
        snprintf(text[i], sizeof text[i], "r%zu", i);
        recs[i] = (struct flo_stream_rec_in){.payload = S(text[i])};
    }
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_stream_batch_value(&v, recs, n), 0);
    struct flo_stream_id first;
    const char *msg;
    cr_assert_eq(
        dev_stream_append(ss, NS, STREAM, flo_wbuf_view(&v), false, 0, FLO_BUF_NULL, &first, &msg),
        FLO_STATUS_OK);
    flo_wbuf_free(&v);
    fake_wall++; /* next append in a new millisecond */
    return first;
}

static size_t gread(const char *consumer, uint32_t count)
{
    size_t n = 99;
    const char *msg = NULL;
    uint8_t st = dev_group_read(ss, NS, STREAM, GROUP, S(consumer), count, out, &n, &msg);
    cr_assert_eq(st, FLO_STATUS_OK, "group read: %s", msg ? msg : "");
    return n;
}

static uint32_t apply(enum dev_group_id_op_e op, const struct flo_stream_id *ids, size_t n)
{
    uint32_t found = 99;
    const char *msg = NULL;
    uint8_t st = dev_group_apply(ss, NS, STREAM, GROUP, op, ids, n, &found, &msg);
    cr_assert_eq(st, FLO_STATUS_OK, "apply: %s", msg ? msg : "");
    return found;
}

static size_t pending(const char *consumer)
{
    size_t n = 99;
    const char *msg;
    cr_assert_eq(dev_group_pending(ss, NS, STREAM, GROUP, consumer ? S(consumer) : FLO_BUF_NULL,
                                   pend, &n, &msg),
                 FLO_STATUS_OK);
    return n;
}

static struct flo_group_info ginfo(void)
{
    struct flo_group_info gi;
    const char *msg;
    cr_assert_eq(dev_group_info(ss, NS, STREAM, GROUP, &gi, &msg), FLO_STATUS_OK);
    return gi;
}

static size_t claim(const char *consumer, uint32_t min_idle, struct flo_stream_id start,
                    uint32_t count, struct flo_stream_id *next)
{
    size_t n = 99;
    const char *msg;
    cr_assert_eq(dev_group_claim(ss, NS, STREAM, GROUP, S(consumer), min_idle, start, count, out,
                                 &n, next, &msg),
                 FLO_STATUS_OK);
    return n;
}

static bool is_max(struct flo_stream_id id)
{
    return id.ts == UINT64_MAX && id.seq == UINT64_MAX;
}

/* ---- lifecycle ---- */

Test(dev_group, create_conflicts_and_missing_groups_are_not_found)
{
    const char *msg;
    struct dev_group_settings set = {0};
    cr_assert_eq(dev_group_create(ss, NS, STREAM, GROUP, &set, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_group_create(ss, NS, STREAM, GROUP, &set, &msg), FLO_STATUS_CONFLICT);
    cr_assert_str_eq(msg, "consumer group already exists");
    /* The same group name on another stream is another group. */
    cr_assert_eq(dev_group_create(ss, NS, S("other"), GROUP, &set, &msg), FLO_STATUS_OK);
    struct flo_group_info gi;
    cr_assert_eq(dev_group_info(ss, NS, STREAM, S("nope"), &gi, &msg), FLO_STATUS_NOT_FOUND);
    cr_assert_str_eq(msg, "consumer group not found");
    uint32_t found;
    cr_assert_eq(dev_group_apply(ss, NS, STREAM, S("nope"), DEV_GROUP_ACK, NULL, 0, &found, &msg),
                 FLO_STATUS_NOT_FOUND);
    cr_assert_eq(dev_group_configure(ss, NS, STREAM, S("nope"), &set, &msg), FLO_STATUS_NOT_FOUND);
    cr_assert_eq(dev_group_leave(ss, NS, STREAM, S("nope"), S("c"), &msg), FLO_STATUS_NOT_FOUND);
    cr_assert_eq(dev_group_delete(ss, NS, STREAM, S("nope"), &msg), FLO_STATUS_NOT_FOUND);
    size_t n;
    struct flo_stream_id next;
    cr_assert_eq(dev_group_claim(ss, NS, STREAM, S("nope"), S("c"), 0, (struct flo_stream_id){0},
                                 10, out, &n, &next, &msg),
                 FLO_STATUS_NOT_FOUND);
    cr_assert_eq(dev_group_pending(ss, NS, STREAM, S("nope"), FLO_BUF_NULL, pend, &n, &msg),
                 FLO_STATUS_NOT_FOUND);
    cr_assert_eq(dev_group_delete(ss, NS, STREAM, GROUP, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_group_info(ss, NS, STREAM, GROUP, &gi, &msg), FLO_STATUS_NOT_FOUND);
}

Test(dev_group, names_are_validated)
{
    const char *msg;
    struct dev_group_settings set = {0};
    cr_assert_eq(dev_group_create(ss, NS, S(""), GROUP, &set, &msg), FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream name is required");
    char *big = malloc(DEV_STREAM_MAX_NAME);
    cr_assert_not_null(big);
    memset(big, 'g', DEV_STREAM_MAX_NAME);
    /* "default\0events\0" is 15 bytes: a group of 4081 fits, 4082 does not. */
    cr_assert_eq(dev_group_create(ss, NS, STREAM, FLO_BUF(big, 4081), &set, &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_group_create(ss, NS, STREAM, FLO_BUF(big, 4082), &set, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream + group name too long");
    free(big);
}

Test(dev_group, create_and_configure_apply_sweeper_settings)
{
    const char *msg;
    struct dev_group_settings set = {.has_ack_timeout = true, .ack_timeout_ms = 100};
    cr_assert_eq(dev_group_create(ss, NS, STREAM, GROUP, &set, &msg), FLO_STATUS_OK);
    struct flo_group_info gi = ginfo();
    cr_assert_eq(gi.created_at_ns, T0 * 1000000ull);
    cr_assert_eq(gi.pending_count, 0);
    append_n(1);
    cr_assert_eq(gread("c1", 10), 1);
    /* ack_timeout 100, max_deliver default 10: the sweeper bumps. */
    fake_mono += 100;
    dev_streams_sweep(ss);
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 2);
    /* configure max_deliver 3 only: ack_timeout stays 100. */
    struct dev_group_settings md = {.has_max_deliver = true, .max_deliver = 3};
    cr_assert_eq(dev_group_configure(ss, NS, STREAM, GROUP, &md, &msg), FLO_STATUS_OK);
    fake_mono += 100;
    dev_streams_sweep(ss);
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 3);
    fake_mono += 100;
    cr_assert_eq(dev_streams_sweep(ss), 1, "delivery_count 3 >= max_deliver 3: dropped");
    cr_assert_eq(pending(NULL), 0);
    cr_assert_eq(ginfo().pending_count, 0);
    /* A dropped entry is never handed out again. */
    cr_assert_eq(gread("c1", 10), 0);
}

Test(dev_group, sweeper_off_and_unlimited)
{
    const char *msg;
    struct dev_group_settings off = {.has_ack_timeout = true, .ack_timeout_ms = 0};
    cr_assert_eq(dev_group_create(ss, NS, STREAM, GROUP, &off, &msg), FLO_STATUS_OK);
    append_n(1);
    cr_assert_eq(gread("c", 1), 1);
    fake_mono += 1000000;
    dev_streams_sweep(ss);
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 1, "ack_timeout 0: no sweeping");
    struct dev_group_settings unl = {
        .has_ack_timeout = true, .ack_timeout_ms = 10, .has_max_deliver = true, .max_deliver = 0};
    cr_assert_eq(dev_group_configure(ss, NS, STREAM, GROUP, &unl, &msg), FLO_STATUS_OK);
    for (int i = 0; i < 20; i++) {
        fake_mono += 10;
        cr_assert_eq(dev_streams_sweep(ss), 0);
    }
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 21, "max_deliver 0: bumped, never dropped");
    /* Not idle long enough: untouched. */
    fake_mono += 5;
    dev_streams_sweep(ss);
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 21);
}

Test(dev_group, join_creates_the_group_and_leave_keeps_owners_of_pending_entries)
{
    const char *msg;
    cr_assert_eq(dev_group_join(ss, NS, STREAM, GROUP, S("c1"), &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_group_join(ss, NS, STREAM, GROUP, S("c2"), &msg), FLO_STATUS_OK);
    cr_assert_eq(dev_group_join(ss, NS, STREAM, GROUP, S("c2"), &msg), FLO_STATUS_OK);
    cr_assert_eq(ginfo().member_count, 2);
    cr_assert_eq(dev_group_leave(ss, NS, STREAM, GROUP, S("c2"), &msg), FLO_STATUS_OK);
    cr_assert_eq(ginfo().member_count, 1);
    cr_assert_eq(dev_group_leave(ss, NS, STREAM, GROUP, S("unknown"), &msg), FLO_STATUS_OK);
    append_n(2);
    cr_assert_eq(gread("c1", 10), 2);
    cr_assert_eq(dev_group_leave(ss, NS, STREAM, GROUP, S("c1"), &msg), FLO_STATUS_OK);
    cr_assert_eq(ginfo().member_count, 1, "c1 owns pending entries: kept as leaving");
    struct flo_stream_id id0 = out[0].id, id1 = out[1].id;
    apply(DEV_GROUP_ACK, &id0, 1);
    cr_assert_eq(ginfo().member_count, 1);
    apply(DEV_GROUP_ACK, &id1, 1);
    cr_assert_eq(ginfo().member_count, 0, "its last entry acked: gone");
}

/* ---- read ---- */

Test(dev_group, two_consumers_split_records_none_delivered_twice)
{
    for (int i = 0; i < 10; i++) {
        append_n(1);
    }
    bool seen[10] = {0};
    size_t total = 0;
    const char *who[] = {"c1", "c2"};
    for (int round = 0; round < 10; round++) {
        size_t n = gread(who[round % 2], 3);
        for (size_t i = 0; i < n; i++) {
            size_t idx = (size_t)(out[i].id.ts - T0);
            cr_assert_lt(idx, 10);
            cr_assert(!seen[idx], "record %zu delivered twice", idx);
            seen[idx] = true;
        }
        total += n;
    }
    cr_assert_eq(total, 10);
    cr_assert_eq(pending(NULL), 10);
    size_t c1 = pending("c1"), c2 = pending("c2");
    cr_assert_eq(c1, 6); /* rounds 0, 2 give 3 + 3; round 1 gives c2 3, round 3 the last 1 */
    cr_assert_eq(c2, 4);
    for (size_t i = 0; i < c2; i++) {
        cr_assert(pend[i].consumer.len == 2 && memcmp(pend[i].consumer.ptr, "c2", 2) == 0);
        cr_assert_eq(pend[i].delivery_count, 1);
    }
    cr_assert_eq(pending("nobody"), 0);
    cr_assert_eq(ginfo().member_count, 2);
}

Test(dev_group, group_read_takes_whole_appends_within_the_budget)
{
    append_n(3);
    append_n(2);
    append_n(1);
    cr_assert_eq(gread("c", 2), 3, "the first append comes whole");
    cr_assert_eq(gread("c", 2), 2);
    cr_assert_eq(gread("c", 2), 1);
    cr_assert_eq(gread("c", 2), 0);
    cr_assert_eq(pending(NULL), 6, "every record of a batch is its own pending entry");
}

/* ---- ack, nack, touch ---- */

Test(dev_group, ack_removes_and_ignores_unknown_ids)
{
    const char *msg;
    append_n(3);
    cr_assert_eq(gread("c", 10), 3);
    struct flo_stream_id ids[3] = {out[1].id, {T0 + 99, 0}, out[1].id};
    cr_assert_eq(apply(DEV_GROUP_ACK, ids, 3), 1);
    cr_assert_eq(pending(NULL), 2);
    cr_assert_eq(pend[0].id.seq, 0);
    cr_assert_eq(pend[1].id.seq, 2);
    uint32_t found;
    cr_assert_eq(dev_group_apply(ss, NS, STREAM, GROUP, DEV_GROUP_ACK, NULL, 0, &found, &msg),
                 FLO_STATUS_BAD_REQUEST);
    cr_assert_str_eq(msg, "stream IDs required for ack");
    cr_assert_eq(apply(DEV_GROUP_NACK, NULL, 0), 0, "nack without ids is ok");
    cr_assert_eq(gread("c", 10), 0, "acked records are not delivered again");
}

Test(dev_group, nack_bumps_without_redelivery_then_claim_delivers_it)
{
    append_n(1);
    cr_assert_eq(gread("c1", 10), 1);
    struct flo_stream_id id = out[0].id;
    fake_mono += 50;
    cr_assert_eq(apply(DEV_GROUP_NACK, &id, 1), 1);
    cr_assert_eq(gread("c1", 10), 0, "nack does not make read hand it out again");
    cr_assert_eq(gread("c2", 10), 0);
    cr_assert_eq(pending(NULL), 1);
    cr_assert_eq(pend[0].delivery_count, 2);
    struct flo_stream_id next;
    cr_assert_eq(claim("c2", 100, (struct flo_stream_id){0}, 10, &next), 0,
                 "nack restarted the idle timer");
    fake_mono += 100;
    cr_assert_eq(claim("c2", 100, (struct flo_stream_id){0}, 10, &next), 1);
    cr_assert(is_max(next));
    cr_assert_eq(out[0].id.ts, id.ts);
    cr_assert_eq(pending("c2"), 1);
    cr_assert_eq(pend[0].delivery_count, 3);
    cr_assert_eq(pending("c1"), 0);
}

Test(dev_group, touch_restarts_the_idle_timer_and_counts_found_ids)
{
    append_n(2);
    cr_assert_eq(gread("c", 10), 2);
    struct flo_stream_id ids[3] = {out[0].id, out[1].id, {1, 1}};
    fake_mono += 1000;
    cr_assert_eq(apply(DEV_GROUP_TOUCH, ids, 3), 2);
    struct flo_stream_id next;
    cr_assert_eq(claim("d", 500, (struct flo_stream_id){0}, 10, &next), 0);
    cr_assert_eq(pending(NULL), 2);
    cr_assert_eq(pend[0].delivery_count, 1, "touch does not count a delivery");
}

/* ---- claim ---- */

Test(dev_group, claim_pages_with_its_cursor)
{
    for (int i = 0; i < 5; i++) {
        append_n(1);
    }
    cr_assert_eq(gread("dead", 10), 5);
    fake_mono += 60000;
    struct flo_stream_id next;
    cr_assert_eq(claim("live", 60000, (struct flo_stream_id){0}, 2, &next), 2);
    cr_assert_eq(out[0].id.ts, T0);
    cr_assert_eq(out[1].id.ts, T0 + 1);
    cr_assert_eq(next.ts, T0 + 2, "cursor = first entry not examined");
    cr_assert_eq(claim("live", 60000, next, 2, &next), 2, "start is inclusive");
    cr_assert_eq(out[0].id.ts, T0 + 2);
    cr_assert_eq(next.ts, T0 + 4);
    cr_assert_eq(claim("live", 60000, next, 2, &next), 1);
    cr_assert(is_max(next), "scanned to the end");
    cr_assert_eq(pending("live"), 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(pend[i].delivery_count, 2);
    }
    /* Just claimed: not idle; the scan still reaches the end. */
    cr_assert_eq(claim("other", 60000, (struct flo_stream_id){0}, 2, &next), 0);
    cr_assert(is_max(next));
    /* min_idle 0 re-delivers even to the same owner (drain own pending). */
    cr_assert_eq(claim("live", 0, (struct flo_stream_id){0}, 100, &next), 5);
    cr_assert(is_max(next));
    cr_assert_eq(pending("live"), 5);
    cr_assert_eq(pend[0].delivery_count, 3);
}

Test(dev_group, claim_leaves_out_trimmed_records_but_takes_their_entries)
{
    append_n(1);
    append_n(1);
    cr_assert_eq(gread("c1", 10), 2);
    uint64_t deleted, first_seq;
    const char *msg;
    struct flo_stream_trim_args t = {.bound = FLO_TRIM_MAXLEN, .maxlen = 1};
    cr_assert_eq(dev_stream_trim(ss, NS, STREAM, &t, &deleted, &first_seq, &msg), FLO_STATUS_OK);
    cr_assert_eq(deleted, 1);
    struct flo_stream_id next;
    cr_assert_eq(claim("c2", 0, (struct flo_stream_id){0}, 10, &next), 1);
    cr_assert_eq(out[0].id.ts, T0 + 1);
    cr_assert_eq(pending("c2"), 2);
}

Test(dev_group, pending_is_capped_and_in_id_order)
{
    for (int i = 0; i < 120; i++) {
        append_n(10);
    }
    size_t got = 0;
    while (got < 1200) {
        size_t n = gread(got % 2 ? "b" : "a", 1000);
        cr_assert_gt(n, 0);
        got += n;
    }
    cr_assert_eq(pending(NULL), DEV_GROUP_MAX_LIST);
    for (size_t i = 1; i < DEV_GROUP_MAX_LIST; i++) {
        cr_assert_lt(flo_stream_id_cmp(pend[i - 1].id, pend[i].id), 0);
    }
    cr_assert_eq(ginfo().pending_count, 1200);
    /* Ack most of them: the PEL compacts and lookups stay right. */
    struct flo_stream_id *ids = malloc(1000 * sizeof *ids);
    cr_assert_not_null(ids);
    for (size_t i = 0; i < 1000; i++) {
        ids[i] = pend[i].id;
    }
    cr_assert_eq(apply(DEV_GROUP_ACK, ids, 1000), 1000);
    free(ids);
    cr_assert_eq(ginfo().pending_count, 200);
    cr_assert_eq(pending(NULL), 200);
    struct flo_stream_id next;
    cr_assert_eq(claim("c", 0, pend[150].id, 1000, &next), 50);
    cr_assert(is_max(next));
}

Test(dev_group, read_on_a_missing_stream_creates_the_group_and_reads_later_appends)
{
    cr_assert_eq(gread("c", 10), 0);
    cr_assert_eq(ginfo().member_count, 1);
    append_n(2);
    cr_assert_eq(gread("c", 10), 2);
}
