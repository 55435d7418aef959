/*
 * The alternate wire forms the flo_ops decoders and server-side parsers
 * accept (shared/flo-protocol-ops.md §7, §8: dequeue replies without
 * trailers, the 52-byte stream_info, key_present 1 records, legacy group
 * ids, the SDK register form, the short invoke form, the bare run_id task
 * fallback, ...) and their error paths: truncated bodies, malformed
 * batches, counts that disagree with the bytes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ops_helpers.h"

TestSuite(forms, .init = setup, .fini = teardown);
TestSuite(errors, .init = setup, .fini = teardown);

/* ---- alternate forms (ops.md §8, §7) ---- */

Test(forms, dequeue_reply_without_trailer)
{
    /* What older SDK parsers assume: [count][seq][payload str32] only. */
    cr_assert_eq(flo_wbuf_u32(&B, 2), 0);
    cr_assert_eq(flo_wbuf_u64(&B, 7), 0);
    cr_assert_eq(flo_wbuf_str32(&B, "ab", 2), 0);
    cr_assert_eq(flo_wbuf_u64(&B, 8), 0);
    cr_assert_eq(flo_wbuf_str32(&B, "", 0), 0);
    struct flo_queue_msg_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_msgs_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_not(it.trailer);
    struct flo_queue_msg m;
    cr_assert_eq(flo_queue_msgs_next(&it, &m), 1);
    cr_assert_eq(m.seq, 7);
    ts_assert_buf_str(m.payload, "ab", "payload");
    cr_assert_eq(m.delivery_count, 0);
    cr_assert_eq(flo_queue_msgs_next(&it, &m), 1);
    cr_assert_eq(m.seq, 8);
    cr_assert_eq(m.payload.len, 0);
    cr_assert_eq(flo_queue_msgs_next(&it, &m), 0);
}

Test(forms, dequeue_reply_two_messages_with_trailer)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_queue_msg a = {
        .seq = 1, .payload = KEY("x"), .enqueued_at_ms = 5, .delivery_count = 2, .priority = 0};
    struct flo_queue_msg b = {
        .seq = 2, .payload = KEY("yy"), .enqueued_at_ms = 6, .delivery_count = 1, .priority = 9};
    cr_assert_eq(flo_queue_msg_put(&B, &a), 0);
    cr_assert_eq(flo_queue_msg_put(&B, &b), 0);
    flo_ops_count_patch(&B, pos, 2);
    struct flo_queue_msg_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_msgs_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert(it.trailer);
    struct flo_queue_msg m;
    cr_assert_eq(flo_queue_msgs_next(&it, &m), 1);
    cr_assert_eq(m.delivery_count, 2);
    cr_assert_eq(flo_queue_msgs_next(&it, &m), 1);
    cr_assert_eq(m.seq, 2);
    cr_assert_eq(m.priority, 9);
    cr_assert_eq(m.enqueued_at_ms, 6);
}

Test(forms, dequeue_reply_empty_body_is_empty_list)
{
    struct flo_queue_msg_iter it;
    uint32_t count = 5;
    cr_assert_eq(flo_queue_msgs_begin(FLO_BUF_NULL, &it, &count), 0);
    cr_assert_eq(count, 0);
}

Test(forms, dlq_summary_and_list)
{
    cr_assert_eq(flo_wbuf_u32(&B, 0), 0);
    cr_assert_eq(flo_wbuf_u64(&B, 42), 0);
    uint64_t total = 0;
    cr_assert_eq(flo_queue_dec_dlq_summary(VIEW(B), &total), 0);
    cr_assert_eq(total, 42);
    /* A dequeue-style list (flo-dev's DLQ) is not a summary. */
    flo_wbuf_reset(&B);
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_queue_msg m = {.seq = 3, .payload = KEY("dead")};
    cr_assert_eq(flo_queue_msg_put(&B, &m), 0);
    flo_ops_count_patch(&B, pos, 1);
    cr_assert_eq(flo_queue_dec_dlq_summary(VIEW(B), &total), FLO_EMALFORMED);
    struct flo_queue_msg_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_msgs_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 1);
}

Test(forms, queue_seqs_ascii_edges)
{
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(KEY("18446744073709551615"), &s), 0);
    cr_assert_eq(flo_queue_seqs_get(&s, 0), UINT64_MAX);
    cr_assert_eq(flo_queue_parse_seqs(KEY("0"), &s), 0);
    cr_assert_eq(s.one, 0);
    /* 12 ASCII digits are never a binary list of one (that needs 12 bytes
     * with count 1 in the first four). */
    cr_assert_eq(flo_queue_parse_seqs(KEY("123456789012"), &s), 0);
    cr_assert_not(s.binary);
    cr_assert_eq(s.one, 123456789012ull);
    cr_assert_eq(flo_queue_seq_value(&V, UINT64_MAX), 0);
    ts_assert_buf_str(VIEW(V), "18446744073709551615", "ascii seq");
}

Test(forms, queue_seqs_binary_single)
{
    const uint64_t one = 77;
    cr_assert_eq(flo_queue_seqs_value(&V, &one, 1), 0);
    cr_assert_eq(V.len, 12);
    struct flo_queue_seqs s;
    cr_assert_eq(flo_queue_parse_seqs(VIEW(V), &s), 0);
    cr_assert(s.binary);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(flo_queue_seqs_get(&s, 0), 77);
}

Test(forms, queue_list_roundtrip)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_queue_info q = {.name = KEY("jobs"),
                               .ns = KEY("default"),
                               .pending = 1,
                               .available = 2,
                               .enqueued = 3,
                               .dequeued = 4,
                               .dlq = 5};
    cr_assert_eq(flo_queue_info_put(&B, &q), 0);
    flo_ops_count_patch(&B, pos, 1);
    cr_assert_eq(flo_ops_list_trailer(&B), 0);
    struct flo_queue_list_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_list_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_queue_info g;
    cr_assert_eq(flo_queue_list_next(&it, &g), 1);
    ts_assert_buf_str(g.name, "jobs", "name");
    ts_assert_buf_str(g.ns, "default", "namespace");
    cr_assert_eq(g.pending, 1);
    cr_assert_eq(g.dlq, 5);
    cr_assert_eq(flo_queue_list_next(&it, &g), 0);
    /* Without the trailer (merged walk) it decodes too. */
    flo_buf_t shorter = FLO_BUF(B.data, B.len - 3);
    cr_assert_eq(flo_queue_list_begin(shorter, &it, &count), 0);
    cr_assert_eq(count, 1);
}

Test(forms, stream_info_old_52_bytes)
{
    struct flo_stream_info s = {.first = {1, 2},
                                .last = {3, 4},
                                .count = 5,
                                .bytes = 6,
                                .partition_count = 7,
                                .retention_age_s = 8};
    cr_assert_eq(flo_stream_info_put(&B, &s), 0);
    struct flo_stream_info g;
    cr_assert_eq(flo_stream_dec_info(FLO_BUF(B.data, FLO_STREAM_INFO_OLD_SIZE), &g), 0);
    cr_assert_not(g.has_retention);
    cr_assert_eq(g.first.seq, 2);
    cr_assert_eq(g.last.ts, 3);
    cr_assert_eq(g.count, 5);
    cr_assert_eq(g.bytes, 6);
    cr_assert_eq(g.partition_count, 7);
    cr_assert_eq(g.retention_age_s, 0);
}

Test(forms, stream_record_key_present_1)
{
    /* Servers @03b042a8 .. @da88ff49 repeat the stream name in every record. */
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_stream_record r = {.id = {TS, 3},
                                  .tier = 1,
                                  .partition = 2,
                                  .key_present = true,
                                  .key = KEY("events"),
                                  .payload = KEY("p")};
    cr_assert_eq(flo_stream_record_put(&B, &r), 0);
    struct flo_stream_record r2 = {.id = {TS, 4}, .payload = KEY("q")};
    cr_assert_eq(flo_stream_record_put(&B, &r2), 0);
    flo_ops_count_patch(&B, pos, 2);
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_records_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 2);
    struct flo_stream_record g;
    cr_assert_eq(flo_stream_records_next(&it, &g), 1);
    cr_assert(g.key_present);
    ts_assert_buf_str(g.key, "events", "record key");
    ts_assert_buf_str(g.payload, "p", "payload");
    cr_assert_eq(g.id.seq, 3);
    cr_assert_eq(g.tier, 1);
    cr_assert_eq(g.partition, 2);
    cr_assert_eq(flo_stream_records_next(&it, &g), 1);
    cr_assert_not(g.key_present);
    ts_assert_buf_str(g.payload, "q", "payload");
}

Test(forms, stream_read_empty_body_and_legacy_limit)
{
    struct flo_stream_rec_iter it;
    uint32_t count = 3;
    cr_assert_eq(flo_stream_records_begin(FLO_BUF_NULL, &it, &count), 0);
    cr_assert_eq(count, 0);
    /* Both page-size tags, for servers of either generation. */
    struct flo_stream_read_args a = {.count = 50, .legacy_limit = true};
    cr_assert_eq(flo_stream_read_opts(&O, &a), 0);
    uint32_t c = 0, l = 0;
    cr_assert(flo_opt_get_u32(VIEW(O), FLO_OPT_COUNT, &c));
    cr_assert(flo_opt_get_u32(VIEW(O), FLO_OPT_LIMIT, &l));
    cr_assert_eq(c, 50);
    cr_assert_eq(l, 50);
    /* Server side: limit alone (old clients), capped at 1000. */
    flo_wbuf_reset(&O);
    cr_assert_eq(flo_opt_u32(&O, FLO_OPT_LIMIT, 5000), 0);
    struct flo_stream_read_args p;
    flo_stream_parse_read_opts(VIEW(O), &p);
    cr_assert_eq(p.count, FLO_STREAM_MAX_COUNT);
    cr_assert(p.legacy_limit);
}

Test(forms, stream_trim_before_and_maxage)
{
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_BEFORE, .before = {TS, 2}, .dry_run = true};
    cr_assert_eq(flo_stream_trim_opts(&O, &a), 0);
    struct flo_stream_trim_args p;
    const char *msg = NULL;
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), 0);
    cr_assert_eq(p.bound, FLO_TRIM_BEFORE);
    cr_assert_eq(p.before.ts, TS);
    cr_assert_eq(p.before.seq, 2);
    cr_assert(p.dry_run);
    flo_wbuf_reset(&O);
    a = (struct flo_stream_trim_args){.bound = FLO_TRIM_MAXAGE, .max_age_s = 3600};
    cr_assert_eq(flo_stream_trim_opts(&O, &a), 0);
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), 0);
    cr_assert_eq(p.bound, FLO_TRIM_MAXAGE);
    cr_assert_eq(p.max_age_s, 3600);
    cr_assert_not(p.dry_run);
}

Test(forms, stream_create_default_partitions)
{
    uint32_t pc = 0;
    cr_assert_eq(flo_stream_create_value(&V, 0), 0);
    cr_assert_eq(V.len, 0);
    cr_assert_eq(flo_stream_parse_create(FLO_BUF_NULL, &pc), 0);
    cr_assert_eq(pc, 1);
    cr_assert_eq(flo_wbuf_u32(&V, 0), 0);
    cr_assert_eq(flo_stream_parse_create(VIEW(V), &pc), 0);
    cr_assert_eq(pc, 1);
}

Test(forms, stream_list_roundtrip)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_stream_list_entry e = {.name = KEY("events"), .partition_count = 4};
    cr_assert_eq(flo_stream_list_entry_put(&B, &e), 0);
    flo_ops_count_patch(&B, pos, 1);
    cr_assert_eq(flo_ops_list_trailer(&B), 0);
    struct flo_stream_list_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_list_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_stream_list_entry g;
    cr_assert_eq(flo_stream_list_next(&it, &g), 1);
    ts_assert_buf_str(g.name, "events", "name");
    cr_assert_eq(g.partition_count, 4);
}

Test(forms, stream_id_text)
{
    struct flo_stream_id id;
    cr_assert_eq(flo_stream_id_parse(KEY("1703350800000-3"), &id), 0);
    cr_assert_eq(id.ts, 1703350800000ull);
    cr_assert_eq(id.seq, 3);
    cr_assert_eq(flo_stream_id_parse(KEY("42"), &id), 0);
    cr_assert_eq(id.ts, 42);
    cr_assert_eq(id.seq, 0);
    char buf[FLO_STREAM_ID_TEXT_MAX];
    cr_assert_eq(flo_stream_id_format(FLO_STREAM_ID_MAX, buf, sizeof buf), 41);
    cr_assert_str_eq(buf, "18446744073709551615-18446744073709551615");
    cr_assert_eq(flo_stream_id_parse(FLO_BUF(buf, 41), &id), 0);
    cr_assert_eq(id.seq, UINT64_MAX);
    cr_assert_eq(flo_stream_id_format(id, buf, 10), FLO_EINVAL);
    const char *bad[] = {
        "", "-", "1-", "-1", "a-1", "1-2-3", "1 -2", "+1-2", "18446744073709551616-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(flo_stream_id_parse(FLO_BUF_STR(bad[i]), &id), FLO_EMALFORMED, "'%s'", bad[i]);
    }
    struct flo_stream_id a = {5, 1}, b = {5, 2}, c = {6, 0};
    cr_assert_lt(flo_stream_id_cmp(a, b), 0);
    cr_assert_gt(flo_stream_id_cmp(c, b), 0);
    cr_assert_eq(flo_stream_id_cmp(a, a), 0);
    /* A bare sequence (0-n) sorts before every real id. */
    cr_assert_lt(flo_stream_id_cmp((struct flo_stream_id){0, 99}, a), 0);
}

Test(forms, group_ids_partial_trailing_id)
{
    /* count says 2, one full id and 4 stray bytes: the server takes one. */
    struct flo_stream_id id = {TS, 1};
    cr_assert_eq(flo_group_ids_value(&V, KEY("g"), KEY("c"), &id, 1), 0);
    flo_st32(V.data + 2 + 1 + 2 + 1, 2);
    cr_assert_eq(flo_wbuf_u32(&V, 0xdeadbeef), 0);
    struct flo_group_ids ids;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_ids(VIEW(V), &ids, &msg), 0);
    cr_assert_eq(ids.declared, 2);
    cr_assert_eq(ids.n, 1);
    cr_assert_not(ids.legacy);
    cr_assert_eq(flo_group_ids_get(&ids, 0).seq, 1);
    cr_assert_eq(flo_group_ids_get(&ids, 5).ts, 0, "out of range is 0-0");
}

Test(forms, group_member_default_consumer)
{
    cr_assert_eq(flo_group_value(&V, KEY("billing")), 0);
    flo_buf_t g, c, rest;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_member(VIEW(V), &g, &c, &rest, &msg), 0);
    ts_assert_buf_str(c, "default", "missing consumer");
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_group_member_value(&V, KEY("billing"), FLO_BUF_NULL), 0);
    cr_assert_eq(flo_group_parse_member(VIEW(V), &g, &c, &rest, &msg), 0);
    ts_assert_buf_str(c, "default", "empty consumer");
    /* pending with a consumer filter. */
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_group_member_value(&V, KEY("billing"), KEY("c1")), 0);
    cr_assert_eq(flo_group_parse_name(VIEW(V), &g, &rest, &msg), 0);
    cr_assert_eq(rest.len, 4);
}

Test(forms, group_claim_defaults)
{
    cr_assert_eq(flo_group_member_value(&V, KEY("g"), KEY("c")), 0);
    struct flo_group_claim_args p;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_claim(VIEW(V), &p, &msg), 0);
    cr_assert_eq(p.min_idle_ms, 0);
    cr_assert_eq(p.start.ts, 0);
    cr_assert_eq(p.count, FLO_GROUP_DEFAULT_CLAIM);
    cr_assert_eq(flo_wbuf_u32(&V, 500), 0);
    cr_assert_eq(flo_group_parse_claim(VIEW(V), &p, &msg), 0);
    cr_assert_eq(p.min_idle_ms, 500);
    cr_assert_eq(p.count, FLO_GROUP_DEFAULT_CLAIM);
    flo_wbuf_reset(&V);
    struct flo_group_claim_args a = {
        .group = KEY("g"), .consumer = KEY("c"), .start = {1, 2}, .count = 5000};
    cr_assert_eq(flo_group_claim_value(&V, &a), 0);
    cr_assert_eq(flo_group_parse_claim(VIEW(V), &p, &msg), 0);
    cr_assert_eq(p.start.seq, 2);
    cr_assert_eq(p.count, FLO_GROUP_MAX_CLAIM, "capped");
}

Test(forms, claim_reply_cursor_mid_list)
{
    cr_assert_eq(flo_wbuf_u32(&B, 0), 0);
    cr_assert_eq(flo_group_claim_cursor_put(&B, (struct flo_stream_id){TS, 7}), 0);
    struct flo_stream_rec_iter it;
    uint32_t count = 1;
    struct flo_stream_id next;
    cr_assert_eq(flo_group_claim_begin(VIEW(B), &it, &count, &next), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(next.ts, TS);
    cr_assert_eq(next.seq, 7);
}

Test(forms, action_register_sdk_form)
{
    struct flo_action_def d = {.type = 0, .timeout_ms = 1000, .max_retries = 5};
    cr_assert_eq(flo_action_register_value_sdk(&V, &d), 0);
    cr_assert_eq(V.len, 15);
    struct flo_action_def p;
    cr_assert_eq(flo_action_parse_register(VIEW(V), &p), 0);
    cr_assert(p.sdk_form);
    cr_assert_eq(p.timeout_ms, 1000);
    cr_assert_eq(p.max_retries, 5);
    cr_assert_eq(p.owner.len, 0);
    cr_assert_eq(p.description.len, 0);

    flo_wbuf_reset(&V);
    d.description = KEY("sends mail");
    cr_assert_eq(flo_action_register_value_sdk(&V, &d), 0);
    cr_assert_eq(flo_action_parse_register(VIEW(V), &p), 0);
    cr_assert(p.sdk_form);
    ts_assert_buf_str(p.description, "sends mail", "description");
    cr_assert_eq(p.owner.len, 0);
}

Test(forms, action_register_server_form_owner_and_defaults)
{
    struct flo_action_def d = {.type = 1, .timeout_ms = 5, .max_retries = 0, .owner = KEY("team")};
    cr_assert_eq(flo_action_register_value(&V, &d), 0);
    struct flo_action_def p;
    cr_assert_eq(flo_action_parse_register(VIEW(V), &p), 0);
    cr_assert_not(p.sdk_form);
    cr_assert_eq(p.type, 1);
    cr_assert_eq(p.max_retries, 0);
    ts_assert_buf_str(p.owner, "team", "owner");
    /* Every field optional: empty value gives the defaults. */
    cr_assert_eq(flo_action_parse_register(FLO_BUF_NULL, &p), 0);
    cr_assert_eq(p.timeout_ms, FLO_ACTION_DEFAULT_TIMEOUT_MS);
    cr_assert_eq(p.max_retries, FLO_ACTION_DEFAULT_MAX_RETRIES);
    /* Only type + timeout present. */
    cr_assert_eq(flo_action_parse_register(FLO_BUF(V.data, 5), &p), 0);
    cr_assert_eq(p.timeout_ms, 5);
    cr_assert_eq(p.max_retries, FLO_ACTION_DEFAULT_MAX_RETRIES);
    /* An owner length past the end: owner empty, as the server reads it. */
    flo_st16(V.data + 9, 200);
    cr_assert_eq(flo_action_parse_register(VIEW(V), &p), 0);
    cr_assert_eq(p.owner.len, 0);
}

Test(forms, action_invoke_short_form)
{
    struct flo_action_invoke_args a = {.input = KEY("hi")};
    cr_assert_eq(flo_action_invoke_value_short(&V, &a), 0);
    cr_assert_eq(V.len, 3);
    struct flo_action_invoke_args p;
    cr_assert_eq(flo_action_parse_invoke(VIEW(V), &p), 0);
    cr_assert(p.short_form);
    cr_assert_not(p.has_labels);
    ts_assert_buf_str(p.input, "hi", "input");

    flo_wbuf_reset(&V);
    a = (struct flo_action_invoke_args){.has_labels = true, .labels = KEY("{}"), .input = KEY("z")};
    cr_assert_eq(flo_action_invoke_value_short(&V, &a), 0);
    cr_assert_eq(flo_action_parse_invoke(VIEW(V), &p), 0);
    cr_assert(p.short_form);
    cr_assert(p.has_labels);
    ts_assert_buf_str(p.labels, "{}", "labels");
    ts_assert_buf_str(p.input, "z", "input");
}

Test(forms, action_invoke_raw_short_value_is_input)
{
    /* Under 11 bytes and not starting with 0/1: the whole value is input. */
    struct flo_action_invoke_args p;
    cr_assert_eq(flo_action_parse_invoke(KEY("{\"a\":1}"), &p), 0);
    cr_assert_not(p.short_form);
    ts_assert_buf_str(p.input, "{\"a\":1}", "input");
    /* First byte 1 but the labels length runs past the end: raw input too. */
    const uint8_t odd[] = {1, 50, 0, 'x'};
    cr_assert_eq(flo_action_parse_invoke(FLO_BUF(odd, sizeof odd), &p), 0);
    cr_assert_not(p.short_form);
    cr_assert_eq(p.input.len, sizeof odd);
}

Test(forms, action_invoke_labels_long_form)
{
    struct flo_action_invoke_args a = {.priority = 1,
                                       .delay_ms = 100,
                                       .has_labels = true,
                                       .labels = KEY("{\"gpu\":true}"),
                                       .input = KEY("in")};
    cr_assert_eq(flo_action_invoke_value(&V, &a), 0);
    struct flo_action_invoke_args p;
    cr_assert_eq(flo_action_parse_invoke(VIEW(V), &p), 0);
    cr_assert_not(p.short_form);
    cr_assert_eq(p.delay_ms, 100);
    cr_assert_not(p.has_idempotency_key);
    cr_assert(p.has_labels);
    ts_assert_buf_str(p.labels, "{\"gpu\":true}", "labels");
    ts_assert_buf_str(p.input, "in", "input");
    /* Cut inside the labels block: empty input. */
    cr_assert_eq(flo_action_parse_invoke(FLO_BUF(V.data, 16), &p), 0);
    cr_assert_eq(p.input.len, 0);
    cr_assert_not(p.has_labels);
}

Test(forms, action_task_bare_run_id_fallback)
{
    /* An assignment over 8192 bytes is sent as the bare run id. */
    static uint8_t big[FLO_TASK_MAX_BODY];
    memset(big, 'i', sizeof big);
    struct flo_action_task t = {.task_id = KEY(RUN_ID),
                                .task_type = KEY("send-email"),
                                .attempt = 1,
                                .input = FLO_BUF(big, sizeof big)};
    cr_assert_eq(flo_action_task_put(&B, &t), 0);
    ts_assert_buf_str(VIEW(B), RUN_ID, "fallback body");
    struct flo_action_task g;
    cr_assert_eq(flo_action_dec_task(VIEW(B), &g), 0);
    cr_assert(g.present);
    cr_assert(g.bare_run_id);
    ts_assert_buf_str(g.task_id, RUN_ID, "task_id");
    cr_assert_eq(g.input.len, 0);
    /* Just below the limit the full layout is kept. */
    flo_wbuf_reset(&B);
    size_t fixed = 2 + strlen(RUN_ID) + 2 + 10 + 8 + 4 + 1;
    t.input = FLO_BUF(big, FLO_TASK_MAX_BODY - fixed);
    cr_assert_eq(flo_action_task_put(&B, &t), 0);
    cr_assert_eq(B.len, FLO_TASK_MAX_BODY);
    cr_assert_eq(flo_action_dec_task(VIEW(B), &g), 0);
    cr_assert_not(g.bare_run_id);
    cr_assert_eq(g.input.len, FLO_TASK_MAX_BODY - fixed);
}

Test(forms, action_task_empty_and_caller)
{
    struct flo_action_task g;
    cr_assert_eq(flo_action_dec_task(FLO_BUF_NULL, &g), 0);
    cr_assert_not(g.present);
    struct flo_action_task t = {.task_id = KEY(RUN_ID),
                                .task_type = KEY("a"),
                                .attempt = 2,
                                .has_caller = true,
                                .caller_run_id = KEY("act-1"),
                                .caller_workflow = KEY("wf"),
                                .input = KEY("x")};
    cr_assert_eq(flo_action_task_put(&B, &t), 0);
    cr_assert_eq(flo_action_dec_task(VIEW(B), &g), 0);
    cr_assert(g.has_caller);
    ts_assert_buf_str(g.caller_run_id, "act-1", "caller run");
    ts_assert_buf_str(g.caller_workflow, "wf", "caller workflow");
    ts_assert_buf_str(g.input, "x", "input");
    cr_assert_eq(g.attempt, 2);
}

Test(forms, action_status_with_output_and_error)
{
    struct flo_action_run r = {.run_id = KEY("act-1"),
                               .status = FLO_RUN_FAILED,
                               .created_at_ms = 1,
                               .has_output = true,
                               .output = KEY("out"),
                               .has_error = true,
                               .error = KEY("boom"),
                               .retry_count = 2};
    cr_assert_eq(flo_action_status_put(&B, &r), 0);
    struct flo_action_run g;
    cr_assert_eq(flo_action_dec_status(VIEW(B), &g), 0);
    cr_assert_eq(g.status, FLO_RUN_FAILED);
    cr_assert_not(g.has_started);
    cr_assert(g.has_output);
    ts_assert_buf_str(g.output, "out", "output");
    cr_assert(g.has_error);
    ts_assert_buf_str(g.error, "boom", "error");
    cr_assert_eq(g.retry_count, 2);
}

Test(forms, action_touch_and_complete_minimal)
{
    struct flo_action_touch_args t = {.action = KEY("a"), .task_id = KEY("t")};
    cr_assert_eq(flo_action_touch_value(&V, &t), 0);
    struct flo_action_touch_args pt;
    cr_assert_eq(flo_action_parse_touch(VIEW(V), &pt), 0);
    cr_assert_not(pt.has_extend);
    flo_wbuf_reset(&V);
    struct flo_action_complete_args c = {
        .action = KEY("a"), .task_id = KEY("t"), .outcome = KEY("ok")};
    cr_assert_eq(flo_action_complete_value(&V, &c), 0);
    struct flo_action_complete_args pc;
    cr_assert_eq(flo_action_parse_complete(VIEW(V), &pc), 0);
    cr_assert_not(pc.has_result);
    ts_assert_buf_str(pc.outcome, "ok", "outcome");
}

Test(forms, action_lists_roundtrip)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_action_list_entry e = {
        .name = KEY("send-email"), .type = 0, .version = 3, .enabled = true};
    cr_assert_eq(flo_action_list_entry_put(&B, &e), 0);
    flo_ops_count_patch(&B, pos, 1);
    cr_assert_eq(flo_ops_list_trailer(&B), 0);
    struct flo_action_list_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_action_list_begin(VIEW(B), &it, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_action_list_entry g;
    cr_assert_eq(flo_action_list_next(&it, &g), 1);
    ts_assert_buf_str(g.name, "send-email", "name");
    cr_assert_eq(g.version, 3);
    cr_assert(g.enabled);

    flo_wbuf_reset(&B);
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_action_run_summary s = {.run_id = KEY(RUN_ID),
                                       .action = KEY("send-email"),
                                       .status = FLO_RUN_RUNNING,
                                       .created_at_ms = 10,
                                       .has_started = true,
                                       .started_at_ms = 11};
    cr_assert_eq(flo_action_run_summary_put(&B, &s), 0);
    flo_ops_count_patch(&B, pos, 1);
    struct flo_action_runs_iter rit;
    cr_assert_eq(flo_action_runs_begin(VIEW(B), &rit, &count), 0);
    cr_assert_eq(count, 1);
    struct flo_action_run_summary gs;
    cr_assert_eq(flo_action_runs_next(&rit, &gs), 1);
    ts_assert_buf_str(gs.run_id, RUN_ID, "run id");
    cr_assert_eq(gs.status, FLO_RUN_RUNNING);
    cr_assert(gs.has_started);
    cr_assert_eq(gs.started_at_ms, 11);
    cr_assert_not(gs.has_completed);

    uint32_t limit = 0;
    cr_assert_eq(flo_action_list_runs_value(&V, 25), 0);
    cr_assert_eq(flo_action_parse_list_runs(VIEW(V), &limit), 0);
    cr_assert_eq(limit, 25);
    cr_assert_eq(flo_action_parse_list_runs(FLO_BUF_NULL, &limit), 0);
    cr_assert_eq(limit, FLO_ACTION_DEFAULT_RUNS_LIMIT);
}

Test(forms, worker_record_info_and_list)
{
    struct flo_worker_process procs[] = {{.name = KEY("send-email"),
                                          .kind = 0,
                                          .run_count = 4,
                                          .fail_count = 1,
                                          .last_run_at_ms = 99},
                                         {.name = KEY("events"), .kind = 1}};
    struct flo_worker_record w = {.id = KEY("w-1"),
                                  .type = 0,
                                  .status = FLO_WORKER_DRAINING,
                                  .tasks_completed = 4,
                                  .tasks_failed = 1,
                                  .current_load = 2,
                                  .max_concurrency = 10,
                                  .registered_at_ms = 5,
                                  .last_heartbeat_ms = 6,
                                  .procs = procs,
                                  .n_procs = 2,
                                  .has_metadata = true,
                                  .metadata = KEY("{\"gpu\":\"yes\"}"),
                                  .has_machine_id = true,
                                  .machine_id = KEY("m1")};
    cr_assert_eq(flo_worker_record_put(&B, &w), 0);
    struct flo_worker_record g;
    cr_assert_eq(flo_worker_dec_info(VIEW(B), &g), 0);
    ts_assert_buf_str(g.id, "w-1", "id");
    cr_assert_eq(g.status, FLO_WORKER_DRAINING);
    cr_assert_eq(g.max_concurrency, 10);
    cr_assert_eq(g.last_heartbeat_ms, 6);
    cr_assert_eq(g.parsed.count, 2);
    cr_assert(g.has_metadata);
    ts_assert_buf_str(g.metadata, "{\"gpu\":\"yes\"}", "metadata");
    ts_assert_buf_str(g.machine_id, "m1", "machine id");
    struct flo_worker_proc_iter pit;
    struct flo_worker_process p;
    flo_worker_proc_begin(&g.parsed, &pit);
    cr_assert_eq(flo_worker_proc_next(&pit, &p), 1);
    cr_assert_eq(p.run_count, 4);
    cr_assert_eq(p.last_run_at_ms, 99);
    cr_assert_eq(flo_worker_proc_next(&pit, &p), 1);
    ts_assert_buf_str(p.name, "events", "process");
    cr_assert_eq(p.kind, 1);
    cr_assert_eq(flo_worker_proc_next(&pit, &p), 0);

    struct flo_wbuf L;
    flo_wbuf_init(&L);
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&L, &pos), 0);
    cr_assert_eq(flo_worker_record_put(&L, &w), 0);
    cr_assert_eq(flo_worker_record_put(&L, &w), 0);
    flo_ops_count_patch(&L, pos, 2);
    cr_assert_eq(flo_ops_list_trailer(&L), 0);
    struct flo_worker_list_iter it;
    uint32_t count = 0;
    int rc = flo_worker_list_begin(flo_wbuf_view(&L), &it, &count);
    int n1 = flo_worker_list_next(&it, &g);
    int n2 = flo_worker_list_next(&it, &g);
    int n3 = flo_worker_list_next(&it, &g);
    flo_wbuf_free(&L);
    cr_assert_eq(rc, 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(n1, 1);
    cr_assert_eq(n2, 1);
    cr_assert_eq(n3, 0);
}

Test(forms, worker_register_metadata_and_defaults)
{
    struct flo_worker_reg r = {.type = 1,
                               .max_concurrency = 3,
                               .has_metadata = true,
                               .metadata = KEY("{\"zone\":\"a\"}"),
                               .has_machine_id = true,
                               .machine_id = KEY("host")};
    cr_assert_eq(flo_worker_register_value(&V, &r), 0);
    struct flo_worker_reg p;
    cr_assert_eq(flo_worker_parse_register(VIEW(V), &p), 0);
    cr_assert_eq(p.type, 1);
    cr_assert_eq(p.parsed.count, 0);
    ts_assert_buf_str(p.metadata, "{\"zone\":\"a\"}", "metadata");
    ts_assert_buf_str(p.machine_id, "host", "machine id");
    cr_assert_eq(flo_worker_parse_register(FLO_BUF(V.data, 1), &p), 0);
    cr_assert_eq(p.max_concurrency, FLO_WORKER_DEFAULT_CONCURRENCY);
    cr_assert_eq(flo_worker_parse_register(FLO_BUF(V.data, 5), &p), 0);
    cr_assert_eq(p.max_concurrency, 3);
    uint32_t load = 9;
    cr_assert_eq(flo_worker_parse_heartbeat(FLO_BUF_NULL, &load), 0);
    cr_assert_eq(load, 0);
}

/* ---- error paths ---- */

Test(errors, truncated_fixed_bodies)
{
    uint8_t z[80] = {0};
    struct flo_queue_stats qs;
    cr_assert_eq(flo_queue_dec_stats(FLO_BUF(z, 71), &qs), FLO_ETRUNC);
    cr_assert_eq(flo_queue_dec_stats(FLO_BUF(z, 73), &qs), FLO_EMALFORMED);
    uint64_t u64;
    uint32_t u32;
    cr_assert_eq(flo_queue_dec_enqueue(FLO_BUF(z, 7), &u64), FLO_ETRUNC);
    cr_assert_eq(flo_queue_dec_purge(FLO_BUF(z, 5), &u32), FLO_EMALFORMED);
    struct flo_stream_id id;
    cr_assert_eq(flo_stream_dec_append(FLO_BUF(z, 15), &id), FLO_ETRUNC);
    cr_assert_eq(flo_stream_dec_append(FLO_BUF(z, 17), &id), FLO_EMALFORMED);
    uint64_t a, b;
    cr_assert_eq(flo_stream_dec_trim(FLO_BUF(z, 8), &a, &b), FLO_ETRUNC);
    struct flo_stream_info si;
    cr_assert_eq(flo_stream_dec_info(FLO_BUF(z, 51), &si), FLO_ETRUNC);
    cr_assert_eq(flo_stream_dec_info(FLO_BUF(z, 60), &si), FLO_EMALFORMED);
    struct flo_group_info gi;
    cr_assert_eq(flo_group_dec_info(FLO_BUF(z, 19), &gi), FLO_ETRUNC);
    struct flo_group_join_reply j;
    cr_assert_eq(flo_group_dec_join(FLO_BUF(z, 12), &j), FLO_ETRUNC);
    cr_assert_eq(flo_group_dec_touch(FLO_BUF(z, 3), &u32), FLO_ETRUNC);
    uint8_t st;
    cr_assert_eq(flo_worker_dec_heartbeat(FLO_BUF_NULL, &st), FLO_ETRUNC);
    z[0] = 7;
    cr_assert_eq(flo_worker_dec_heartbeat(FLO_BUF(z, 1), &st), FLO_EMALFORMED);
}

Test(errors, queue_seqs_malformed)
{
    const char *bad[] = {
        "", "-1", "+1", " 1", "1 ", "1a", "18446744073709551616", "123456789012345678901"};
    struct flo_queue_seqs s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(flo_queue_parse_seqs(FLO_BUF_STR(bad[i]), &s), FLO_EMALFORMED, "'%s'", bad[i]);
    }
    /* Binary count that disagrees with the length is not a list. */
    const uint64_t seqs[] = {1, 2};
    cr_assert_eq(flo_queue_seqs_value(&V, seqs, 2), 0);
    flo_st32(V.data, 3);
    cr_assert_eq(flo_queue_parse_seqs(VIEW(V), &s), FLO_EMALFORMED);
    cr_assert_eq(flo_queue_seqs_value(&V, seqs, 0), FLO_EINVAL);
}

Test(errors, dequeue_reply_wrong_count)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_queue_msg m = {.seq = 1, .payload = KEY("p")};
    cr_assert_eq(flo_queue_msg_put(&B, &m), 0);
    flo_ops_count_patch(&B, pos, 2);
    struct flo_queue_msg_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_queue_msgs_begin(VIEW(B), &it, &count), FLO_ETRUNC);
    flo_ops_count_patch(&B, pos, 0);
    cr_assert_eq(flo_queue_msgs_begin(VIEW(B), &it, &count), FLO_EMALFORMED);
    cr_assert_eq(flo_queue_msgs_begin(FLO_BUF(B.data, 3), &it, &count), FLO_ETRUNC);
}

Test(errors, batch_malformed)
{
    struct flo_stream_batch_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_parse_batch(FLO_BUF_NULL, &it, &count), FLO_EMALFORMED, "empty");
    const uint8_t zero[] = {0, 0, 0, 0};
    cr_assert_eq(flo_stream_parse_batch(FLO_BUF(zero, 4), &it, &count), FLO_EMALFORMED,
                 "zero records");
    struct flo_stream_header h = {KEY("k"), KEY("v")};
    struct flo_stream_rec_in rec = {.payload = KEY("data"), .headers = &h, .n_headers = 1};
    cr_assert_eq(flo_stream_batch_value(&V, &rec, 1), 0);
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &it, &count), 0);
    for (size_t cut = 1; cut < V.len; cut++) {
        cr_assert_eq(flo_stream_parse_batch(FLO_BUF(V.data, cut), &it, &count), FLO_EMALFORMED,
                     "truncated at %zu", cut);
    }
    cr_assert_eq(flo_wbuf_u8(&V, 0), 0);
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &it, &count), FLO_EMALFORMED, "trailing byte");
    /* Declared count larger than the records present. */
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_stream_batch_value(&V, &rec, 1), 0);
    flo_st32(V.data, 2);
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &it, &count), FLO_EMALFORMED, "count 2 of 1");
}

Test(errors, batch_over_limit)
{
    static struct flo_stream_rec_in recs[FLO_STREAM_MAX_BATCH + 1];
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        recs[i].payload = KEY("r");
    }
    cr_assert_eq(flo_stream_batch_value(&V, recs, FLO_STREAM_MAX_BATCH + 1), FLO_EINVAL);
    cr_assert_eq(flo_stream_batch_value(&V, recs, 0), FLO_EINVAL);
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_stream_batch_value(&V, recs, FLO_STREAM_MAX_BATCH), 0);
    struct flo_stream_batch_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &it, &count), 0);
    cr_assert_eq(count, FLO_STREAM_MAX_BATCH);
    /* Hand-build 1001 well-formed records: the server's over-limit error. */
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_wbuf_u32(&V, FLO_STREAM_MAX_BATCH + 1), 0);
    for (int i = 0; i < FLO_STREAM_MAX_BATCH + 1; i++) {
        cr_assert_eq(flo_wbuf_str32(&V, "r", 1), 0);
        cr_assert_eq(flo_wbuf_u16(&V, 0), 0);
    }
    cr_assert_eq(flo_stream_parse_batch(VIEW(V), &it, &count), FLO_ELIMIT);
    cr_assert_eq(count, FLO_STREAM_MAX_BATCH + 1);
}

Test(errors, batch_header_too_long_for_u16)
{
    static uint8_t big[70000];
    struct flo_stream_header h = {FLO_BUF(big, sizeof big), KEY("v")};
    struct flo_stream_rec_in rec = {.payload = KEY("p"), .headers = &h, .n_headers = 1};
    cr_assert_eq(flo_stream_batch_value(&V, &rec, 1), FLO_EINVAL);
}

Test(errors, records_malformed)
{
    put_one_record(TS, "abc");
    struct flo_stream_rec_iter it;
    uint32_t count = 0;
    for (size_t cut = 1; cut < B.len; cut++) {
        cr_assert_lt(flo_stream_records_begin(FLO_BUF(B.data, cut), &it, &count), 0,
                     "truncated at %zu", cut);
    }
    cr_assert_eq(flo_wbuf_u8(&B, 0), 0);
    cr_assert_eq(flo_stream_records_begin(VIEW(B), &it, &count), FLO_EMALFORMED, "trailing");
    B.len--;
    B.data[4 + 8 + 8 + 1 + 4] = 2; /* key_present must be 0 or 1 */
    cr_assert_eq(flo_stream_records_begin(VIEW(B), &it, &count), FLO_EMALFORMED);
    /* A claim reply whose cursor is cut short. */
    flo_wbuf_reset(&B);
    put_one_record(TS, "abc");
    cr_assert_eq(flo_wbuf_u64(&B, 1), 0);
    struct flo_stream_id next;
    cr_assert_eq(flo_group_claim_begin(VIEW(B), &it, &count, &next), FLO_ETRUNC);
}

Test(errors, stream_trim_refused)
{
    struct flo_stream_trim_args p;
    const char *msg = NULL;
    cr_assert_eq(flo_stream_parse_trim(KEY("10"), FLO_BUF_NULL, &p, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "stream trim takes no value; give before, maxlen or maxage");
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, FLO_BUF_NULL, &p, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "stream trim: give one of before, maxlen or maxage");
    cr_assert_eq(flo_opt_u64(&O, FLO_OPT_LIMIT, 5), 0);
    cr_assert_eq(flo_opt_u64(&O, FLO_OPT_MAX_AGE_SECONDS, 5), 0);
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "stream trim: give only one of before, maxlen or maxage");
    flo_wbuf_reset(&O);
    cr_assert_eq(flo_opt_u32(&O, FLO_OPT_LIMIT, 5), 0);
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "stream trim: maxlen must be a u64");
    flo_wbuf_reset(&O);
    cr_assert_eq(flo_opt_u64(&O, FLO_OPT_RETENTION_COUNT, 5), 0);
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), FLO_EMALFORMED);
    cr_assert_not_null(strstr(msg, "retention_count"));
    flo_wbuf_reset(&O);
    cr_assert_eq(flo_opt_stream_id(&O, FLO_OPT_STREAM_START, 0, 0), 0);
    cr_assert_eq(flo_stream_parse_trim(FLO_BUF_NULL, VIEW(O), &p, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "stream trim: before must not be 0-0");
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_MAXLEN, .maxlen = 0};
    cr_assert_eq(flo_stream_trim_opts(&O, &a), FLO_EINVAL);
    a.bound = 0;
    cr_assert_eq(flo_stream_trim_opts(&O, &a), FLO_EINVAL);
}

Test(errors, group_names)
{
    flo_buf_t g, c, rest;
    const char *msg = NULL;
    cr_assert_eq(flo_group_parse_name(FLO_BUF_NULL, &g, &rest, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "group name is required");
    const uint8_t empty[] = {0, 0};
    cr_assert_eq(flo_group_parse_member(FLO_BUF(empty, 2), &g, &c, &rest, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "group name is required");
    const uint8_t nul[] = {3, 0, 'a', 0, 'b'};
    cr_assert_eq(flo_group_parse_name(FLO_BUF(nul, 5), &g, &rest, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "group name must not contain NUL");
    /* Raw, unprefixed group names are refused (@3269efe2). */
    cr_assert_eq(flo_group_parse_name(KEY("billing"), &g, &rest, &msg), FLO_EMALFORMED);
    cr_assert_eq(flo_group_value(&V, FLO_BUF_NULL), FLO_EINVAL);
    struct flo_stream_id id = {1, 1};
    cr_assert_eq(flo_group_ids_value(&V, KEY("g"), KEY("c"), &id, 0), FLO_EINVAL);
    cr_assert_eq(flo_group_ids_value(&V, KEY("g"), KEY("c"), &id, FLO_GROUP_MAX_IDS + 1),
                 FLO_EINVAL);
    /* No ids at all: parses, n == 0 (the server's "stream IDs required"). */
    flo_wbuf_reset(&V);
    cr_assert_eq(flo_group_member_value(&V, KEY("g"), KEY("c")), 0);
    struct flo_group_ids ids;
    cr_assert_eq(flo_group_parse_ids(VIEW(V), &ids, &msg), 0);
    cr_assert_eq(ids.n, 0);
}

Test(errors, group_lists_malformed)
{
    size_t pos;
    cr_assert_eq(flo_ops_count_reserve(&B, &pos), 0);
    struct flo_group_pending_entry e = {.id = {1, 2}, .delivery_count = 1, .consumer = KEY("c")};
    cr_assert_eq(flo_group_pending_put(&B, &e), 0);
    flo_ops_count_patch(&B, pos, 2);
    struct flo_group_pending_iter it;
    uint32_t count = 0;
    cr_assert_eq(flo_group_pending_begin(VIEW(B), &it, &count), FLO_ETRUNC);
    flo_ops_count_patch(&B, pos, 1);
    cr_assert_eq(flo_wbuf_u8(&B, 1), 0);
    cr_assert_eq(flo_group_pending_begin(VIEW(B), &it, &count), FLO_EMALFORMED);
}

Test(errors, action_values_malformed)
{
    struct flo_action_complete_args c;
    cr_assert_eq(flo_action_parse_complete(KEY("x"), &c), FLO_EMALFORMED);
    struct flo_action_complete_args in = {.action = KEY("a"),
                                          .task_id = KEY("t"),
                                          .outcome = KEY("o"),
                                          .has_result = true,
                                          .result = KEY("r")};
    cr_assert_eq(flo_action_complete_value(&V, &in), 0);
    cr_assert_eq(flo_action_parse_complete(FLO_BUF(V.data, V.len - 1), &c), FLO_EMALFORMED,
                 "cut result");
    cr_assert_eq(flo_action_parse_complete(FLO_BUF(V.data, 8), &c), FLO_EMALFORMED, "cut outcome");
    static uint8_t big[70000];
    in.result = FLO_BUF(big, sizeof big);
    cr_assert_eq(flo_action_complete_value(&V, &in), FLO_EINVAL, "result over u16");

    struct flo_action_fail_args f;
    const uint8_t nofl[] = {1, 0, 'a', 1, 0, 't'};
    cr_assert_eq(flo_action_parse_fail(FLO_BUF(nofl, sizeof nofl), &f), FLO_EMALFORMED);
    struct flo_action_touch_args t;
    cr_assert_eq(flo_action_parse_touch(FLO_BUF(nofl, 4), &t), FLO_EMALFORMED);

    struct flo_name_list_iter it;
    uint32_t n;
    cr_assert_eq(flo_action_parse_await(FLO_BUF_NULL, &it, &n), FLO_EMALFORMED);
    const uint8_t empty_name[] = {1, 0, 0, 0, 0, 0};
    cr_assert_eq(flo_action_parse_await(FLO_BUF(empty_name, 6), &it, &n), FLO_EMALFORMED,
                 "first name empty: action name is required");
    const uint8_t two_one[] = {2, 0, 0, 0, 1, 0, 'a'};
    cr_assert_eq(flo_action_parse_await(FLO_BUF(two_one, 7), &it, &n), FLO_ETRUNC);
    flo_buf_t none = FLO_BUF_NULL;
    cr_assert_eq(flo_action_await_value(&V, &none, 1), FLO_EINVAL);
    cr_assert_eq(flo_action_await_value(&V, &none, 0), FLO_EINVAL);
    cr_assert_eq(flo_action_parse_list_runs(FLO_BUF(two_one, 3), &n), FLO_EMALFORMED);
}

Test(errors, action_replies_malformed)
{
    flo_buf_t rid, out;
    const uint8_t cut[] = {18, 0, 'a', 'c', 't'};
    cr_assert_eq(flo_action_dec_invoke(FLO_BUF(cut, sizeof cut), &rid, &out), FLO_ETRUNC);
    cr_assert_eq(flo_action_invoke_reply_put(&B, KEY("act-1")), 0);
    cr_assert_eq(flo_wbuf_u8(&B, 0), 0);
    cr_assert_eq(flo_action_dec_invoke(VIEW(B), &rid, &out), FLO_EMALFORMED, "trailing byte");

    struct flo_action_run r = {.run_id = KEY("act-1"), .has_started = true, .started_at_ms = 1};
    flo_wbuf_reset(&B);
    cr_assert_eq(flo_action_status_put(&B, &r), 0);
    struct flo_action_run g;
    for (size_t i = 0; i < B.len; i++) {
        cr_assert_eq(flo_action_dec_status(FLO_BUF(B.data, i), &g), FLO_ETRUNC, "cut at %zu", i);
    }
    B.data[4 + 5 + 1 + 8] = 2; /* has_started must be 0 or 1 */
    cr_assert_eq(flo_action_dec_status(VIEW(B), &g), FLO_EMALFORMED);

    struct flo_action_task t;
    const uint8_t short_task[] = {3, 0, 'a', 'b', 'c', 1, 0, 'x', 0};
    cr_assert_eq(flo_action_dec_task(FLO_BUF(short_task, sizeof short_task), &t), FLO_ETRUNC);

    /* action list entry whose value is shorter than 6 bytes. */
    flo_wbuf_reset(&B);
    cr_assert_eq(flo_wbuf_u32(&B, 1), 0);
    cr_assert_eq(flo_wbuf_str16(&B, "a", 1), 0);
    cr_assert_eq(flo_wbuf_u32(&B, 2), 0);
    cr_assert_eq(flo_wbuf_u16(&B, 0), 0);
    struct flo_action_list_iter it;
    uint32_t count;
    cr_assert_eq(flo_action_list_begin(VIEW(B), &it, &count), FLO_EMALFORMED);
}

Test(errors, worker_malformed)
{
    struct flo_worker_process proc = {.name = KEY("send-email")};
    struct flo_worker_reg r = {.max_concurrency = 1, .procs = &proc, .n_procs = 1};
    cr_assert_eq(flo_worker_register_value(&V, &r), 0);
    struct flo_worker_reg p;
    cr_assert_eq(flo_worker_parse_register(FLO_BUF(V.data, 3), &p), FLO_ETRUNC, "cut concurrency");
    cr_assert_eq(flo_worker_parse_register(FLO_BUF(V.data, 10), &p), FLO_ETRUNC, "cut process");
    uint32_t load;
    cr_assert_eq(flo_worker_parse_heartbeat(FLO_BUF(V.data, 2), &load), FLO_ETRUNC);
    struct flo_worker_record w = {.id = KEY("w")};
    cr_assert_eq(flo_worker_record_put(&B, &w), 0);
    struct flo_worker_record g;
    cr_assert_eq(flo_worker_dec_info(FLO_BUF(B.data, B.len - 1), &g), FLO_ETRUNC);
    cr_assert_eq(flo_wbuf_u8(&B, 0), 0);
    cr_assert_eq(flo_worker_dec_info(VIEW(B), &g), FLO_EMALFORMED);
    struct flo_worker_list_iter it;
    uint32_t count;
    cr_assert_eq(flo_worker_list_begin(FLO_BUF(B.data, 2), &it, &count), FLO_ETRUNC);
}
