/*
 * Integration tests of flo-dev's streams and consumer groups
 * (shared/flo-protocol-ops.md §3-§4, server @3269efe2) over real sockets
 * against the flo-dev binary: every stream and group vector of
 * flo-protocol-vectors-ops.md (status and layout; ids differ), ids that
 * only grow, exclusive start, tail, `0-n`, the whole-append count budget,
 * blocking reads released by an append on another connection or timing out
 * empty, trim forms and refusals, create/alter/delete/list, and the group
 * model: consumers splitting records with none delivered twice, ack, nack
 * then claim, claim cursor paging, the sweeper dropping past max_deliver,
 * pending per consumer, info, delete, blocking group reads and the name
 * and wildcard texts. Every read has a socket timeout; every wait is
 * bounded; flo-dev's log must be free of sanitizer reports.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../unit/codec_ops_vectors.h"
#include "dev_wire.h"
#include "flo/flo_ops.h"
#include "ts_bytes.h"

#define NS "default"

static void start_plain(void)
{
    cr_assert_eq(ts_flodev_start(&dev, NULL), 0, "flo-dev did not start");
}

/* Stop flo-dev (a clean exit runs LeakSanitizer in a sanitizer build) and
 * require its log to be free of sanitizer reports. */
static void stop_dev(void)
{
    ts_stop(&dev.proc);
    FILE *f = fopen(dev.proc.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        cr_assert_null(strstr(line, "Sanitizer"), "flo-dev log: %s", line);
        cr_assert_null(strstr(line, "runtime error"), "flo-dev log: %s", line);
    }
    fclose(f);
}

TestSuite(devstream, .init = start_plain, .fini = stop_dev, .timeout = 60);

/* ---- helpers ---- */

#define MAX_RECS 1000

/* A decoded record list (payload copies as C strings). */
struct recs {
    uint32_t n;
    struct flo_stream_id id[MAX_RECS];
    uint32_t partition[MAX_RECS];
    char text[MAX_RECS][32];
    uint32_t hcount[MAX_RECS];
    bool has_cursor;
    struct flo_stream_id cursor; /* claim replies */
};

static void decode_recs(struct rsp *r, struct recs *out, bool claim)
{
    expect(r, FLO_STATUS_OK, NULL);
    struct flo_stream_rec_iter it;
    int rc = claim ? flo_group_claim_begin(r->body, &it, &out->n, &out->cursor)
                   : flo_stream_records_begin(r->body, &it, &out->n);
    cr_assert_eq(rc, 0, "record list layout (%zu bytes)", r->body.len);
    out->has_cursor = claim;
    cr_assert_leq(out->n, MAX_RECS);
    for (uint32_t i = 0; i < out->n; i++) {
        struct flo_stream_record rec;
        cr_assert_eq(flo_stream_records_next(&it, &rec), 1);
        cr_assert_eq(rec.key_present, false, "key_present is 0 (@3269efe2)");
        cr_assert_eq(rec.tier, 0);
        out->id[i] = rec.id;
        out->partition[i] = rec.partition;
        out->hcount[i] = rec.headers.count;
        size_t len = rec.payload.len < 31 ? rec.payload.len : 31;
        memcpy(out->text[i], rec.payload.ptr, len);
        out->text[i][len] = '\0';
    }
}

static flo_buf_t batch(struct flo_wbuf *v, const char *const *payloads, size_t n)
{
    struct flo_stream_rec_in recs[16];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++) {
        recs[i] = (struct flo_stream_rec_in){.payload = FLO_BUF_STR(payloads[i])};
    }
    flo_wbuf_reset(v);
    cr_assert_eq(flo_stream_batch_value(v, recs, n), 0);
    return flo_wbuf_view(v);
}

static struct flo_stream_id append_n(int fd, const char *s, const char *const *payloads, size_t n)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct rsp r = call(fd, FLO_OP_STREAM_APPEND, NS, s, batch(&v, payloads, n), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 16);
    struct flo_stream_id id;
    cr_assert_eq(flo_stream_dec_append(r.body, &id), 0);
    rsp_free(&r);
    flo_wbuf_free(&v);
    return id;
}

static struct flo_stream_id append1(int fd, const char *s, const char *payload)
{
    const char *p[] = {payload};
    return append_n(fd, s, p, 1);
}

static flo_buf_t read_opts(struct flo_wbuf *o, const struct flo_stream_read_args *a)
{
    flo_wbuf_reset(o);
    cr_assert_eq(flo_stream_read_opts(o, a), 0);
    return flo_wbuf_view(o);
}

static void sread(int fd, const char *s, struct flo_stream_read_args a, struct recs *out)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_STREAM_READ, NS, s, FLO_BUF_NULL, read_opts(&o, &a));
    decode_recs(&r, out, false);
    rsp_free(&r);
    flo_wbuf_free(&o);
}

static struct flo_stream_info sinfo(int fd, const char *s)
{
    struct rsp r = call(fd, FLO_OP_STREAM_INFO, NS, s, FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, FLO_STREAM_INFO_SIZE);
    struct flo_stream_info info;
    cr_assert_eq(flo_stream_dec_info(r.body, &info), 0);
    rsp_free(&r);
    return info;
}

static flo_buf_t gvalue(struct flo_wbuf *v, const char *group)
{
    flo_wbuf_reset(v);
    cr_assert_eq(flo_group_value(v, FLO_BUF_STR(group)), 0);
    return flo_wbuf_view(v);
}

static flo_buf_t mvalue(struct flo_wbuf *v, const char *group, const char *consumer)
{
    flo_wbuf_reset(v);
    cr_assert_eq(flo_group_member_value(v, FLO_BUF_STR(group), FLO_BUF_STR(consumer)), 0);
    return flo_wbuf_view(v);
}

/* A group op with [group] or [group][consumer] and options; returns the reply. */
static struct rsp gcall(int fd, uint16_t op, const char *s, const char *group, const char *consumer,
                        flo_buf_t opts)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    flo_buf_t value = consumer ? mvalue(&v, group, consumer) : gvalue(&v, group);
    struct rsp r = call(fd, op, NS, s, value, opts);
    flo_wbuf_free(&v);
    return r;
}

static void gread(int fd, const char *s, const char *group, const char *consumer, uint32_t count,
                  struct recs *out)
{
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r = gcall(fd, FLO_OP_GROUP_READ, s, group, consumer,
                         count ? opts_u32(&o, FLO_OPT_COUNT, count) : FLO_BUF_NULL);
    decode_recs(&r, out, false);
    rsp_free(&r);
    flo_wbuf_free(&o);
}

/* ack / nack / touch; returns the reply. */
static struct rsp ids_call(int fd, uint16_t op, const char *s, const char *group,
                           const struct flo_stream_id *ids, size_t n)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    if (n == 0) {
        /* The encoder refuses an empty list; send [group][consumer][count 0]. */
        cr_assert_eq(flo_group_member_value(&v, FLO_BUF_STR(group), FLO_BUF_STR("c")), 0);
        cr_assert_eq(flo_wbuf_u32(&v, 0), 0);
    } else {
        cr_assert_eq(flo_group_ids_value(&v, FLO_BUF_STR(group), FLO_BUF_STR("c"), ids, n), 0);
    }
    struct rsp r = call(fd, op, NS, s, flo_wbuf_view(&v), FLO_BUF_NULL);
    flo_wbuf_free(&v);
    return r;
}

static void ids_ok(int fd, uint16_t op, const char *s, const char *group,
                   const struct flo_stream_id *ids, size_t n)
{
    struct rsp r = ids_call(fd, op, s, group, ids, n);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
}

static void gclaim(int fd, const char *s, const char *group, const char *consumer,
                   uint32_t min_idle, struct flo_stream_id start, uint32_t count, struct recs *out)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct flo_group_claim_args a = {.group = FLO_BUF_STR(group),
                                     .consumer = FLO_BUF_STR(consumer),
                                     .min_idle_ms = min_idle,
                                     .start = start,
                                     .count = count};
    cr_assert_eq(flo_group_claim_value(&v, &a), 0);
    struct rsp r = call(fd, FLO_OP_GROUP_CLAIM, NS, s, flo_wbuf_view(&v), FLO_BUF_NULL);
    decode_recs(&r, out, true);
    rsp_free(&r);
    flo_wbuf_free(&v);
}

/* pending (consumer NULL = all): fills ids/counts; returns the count. */
struct pend {
    uint32_t n;
    struct flo_stream_id id[MAX_RECS];
    uint32_t dc[MAX_RECS];
    char consumer[MAX_RECS][16];
};

static void gpending(int fd, const char *s, const char *group, const char *consumer,
                     struct pend *out)
{
    struct rsp r = gcall(fd, FLO_OP_GROUP_PENDING, s, group, consumer, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_group_pending_iter it;
    cr_assert_eq(flo_group_pending_begin(r.body, &it, &out->n), 0);
    cr_assert_leq(out->n, MAX_RECS);
    for (uint32_t i = 0; i < out->n; i++) {
        struct flo_group_pending_entry e;
        cr_assert_eq(flo_group_pending_next(&it, &e), 1);
        out->id[i] = e.id;
        out->dc[i] = e.delivery_count;
        size_t len = e.consumer.len < 15 ? e.consumer.len : 15;
        memcpy(out->consumer[i], e.consumer.ptr, len);
        out->consumer[i][len] = '\0';
    }
    rsp_free(&r);
}

static struct flo_group_info ginfo(int fd, const char *s, const char *group)
{
    struct rsp r = gcall(fd, FLO_OP_GROUP_INFO, s, group, NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, FLO_GROUP_INFO_SIZE);
    struct flo_group_info gi;
    cr_assert_eq(flo_group_dec_info(r.body, &gi), 0);
    rsp_free(&r);
    return gi;
}

static bool is_max(struct flo_stream_id id)
{
    return id.ts == UINT64_MAX && id.seq == UINT64_MAX;
}

static uint64_t wall_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ---- the protocol vectors ---- */

/* Send vector num's request bytes as they are; return the reply and the
 * vector's expected response (caller frees both). */
static struct rsp send_vector(int fd, int num, uint8_t **want, size_t *want_len)
{
    uint8_t *req;
    size_t req_len;
    cr_assert_eq(ts_hex_decode(ops_vectors[num].req, &req, &req_len), 0);
    cr_assert_eq(ts_hex_decode(ops_vectors[num].resp, want, want_len), 0);
    cr_assert_eq(ts_write_full(fd, req, req_len), 0);
    struct rsp r;
    rd(fd, &r);
    cr_assert_eq(r.id, flo_ld64(req + 8), "vector %d: request id", num);
    cr_assert_eq(r.status, (*want)[21], "vector %d: status %u (body '%.*s')", num, r.status,
                 (int)r.body.len, r.body.ptr);
    free(req);
    return r;
}

static flo_buf_t want_body(const uint8_t *want, size_t len)
{
    return FLO_BUF(want + FLO_HEADER_SIZE, len - FLO_HEADER_SIZE);
}

Test(devstream, every_stream_and_group_vector_gives_its_status_and_layout)
{
    int fd = cx();
    uint8_t *want;
    size_t want_len;
    struct recs rs;

    /* 9: append one record: [seq u64][ts i64], a fresh stream starts at seq 0. */
    uint64_t before = wall_now_ms();
    struct rsp r = send_vector(fd, 9, &want, &want_len);
    cr_assert_eq(r.body.len, 16);
    struct flo_stream_id id9;
    cr_assert_eq(flo_stream_dec_append(r.body, &id9), 0);
    cr_assert_eq(id9.seq, 0);
    cr_assert(id9.ts >= before && id9.ts <= wall_now_ms() + 1, "ts is the server clock");
    rsp_free(&r);
    free(want);

    /* 10: append with partition_key (one partition: partition 0). */
    r = send_vector(fd, 10, &want, &want_len);
    cr_assert_eq(r.body.len, 16);
    rsp_free(&r);
    free(want);

    /* 11: read after TS-0 (an id older than ours), count 2: both records. */
    r = send_vector(fd, 11, &want, &want_len);
    decode_recs(&r, &rs, false);
    cr_assert_eq(rs.n, 2);
    cr_assert_str_eq(rs.text[0], "login");
    cr_assert_str_eq(rs.text[1], "logout");
    cr_assert_eq(rs.partition[1], 0);
    rsp_free(&r);
    free(want);

    /* 12: tail read with block_ms=10000, released by an append on another
     * connection of a record "x" with header content-type: text/plain. */
    int other = cx();
    uint8_t *req;
    size_t req_len;
    cr_assert_eq(ts_hex_decode(ops_vectors[12].req, &req, &req_len), 0);
    cr_assert_eq(ts_write_full(fd, req, req_len), 0);
    usleep(100 * 1000);
    struct flo_stream_header h = {FLO_BUF_STR("content-type"), FLO_BUF_STR("text/plain")};
    struct flo_stream_rec_in rec = {.payload = FLO_BUF_STR("x"), .headers = &h, .n_headers = 1};
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_stream_batch_value(&v, &rec, 1), 0);
    struct rsp ra =
        call(other, FLO_OP_STREAM_APPEND, NS, "events", flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&ra, FLO_STATUS_OK, NULL);
    struct flo_stream_id idx;
    cr_assert_eq(flo_stream_dec_append(ra.body, &idx), 0);
    rsp_free(&ra);
    rd(fd, &r);
    cr_assert_eq(r.id, flo_ld64(req + 8));
    cr_assert_eq(ts_hex_decode(ops_vectors[12].resp, &want, &want_len), 0);
    cr_assert_eq(r.status, FLO_STATUS_OK);
    /* Same bytes as the vector once the id (body bytes 4..20) is ours. */
    flo_buf_t wb = want_body(want, want_len);
    cr_assert_eq(r.body.len, wb.len);
    uint8_t *patched = malloc(wb.len);
    cr_assert_not_null(patched);
    memcpy(patched, wb.ptr, wb.len);
    flo_st64(patched + 4, idx.seq);
    flo_st64(patched + 12, idx.ts);
    ts_assert_bytes(r.body, FLO_BUF(patched, wb.len), "vector body", 12);
    free(patched);
    free(req);
    rsp_free(&r);
    free(want);
    close(other);

    /* 13: info, 76 bytes: 3 records, first = id9. */
    r = send_vector(fd, 13, &want, &want_len);
    cr_assert_eq(r.body.len, 76);
    struct flo_stream_info info;
    cr_assert_eq(flo_stream_dec_info(r.body, &info), 0);
    cr_assert_eq(info.count, 3);
    cr_assert(info.first.ts == id9.ts && info.first.seq == id9.seq);
    cr_assert(info.last.ts == idx.ts && info.last.seq == idx.seq);
    cr_assert_eq(info.partition_count, 1);
    /* "login" 15 + "logout" 16 + "x" with its header 37 = 68, as the vector. */
    cr_assert_eq(info.bytes, 68);
    ts_assert_bytes(FLO_BUF(r.body.ptr + 32, 44), FLO_BUF(want_body(want, want_len).ptr + 32, 44),
                    "info tail", 13);
    rsp_free(&r);
    free(want);

    /* 14: create orders with 4 partitions: ok, empty. */
    r = send_vector(fd, 14, &want, &want_len);
    cr_assert_eq(r.body.len, 0);
    rsp_free(&r);
    free(want);
    cr_assert_eq(sinfo(fd, "orders").partition_count, 4);

    /* 15: join: the fixed placeholder bytes. */
    r = send_vector(fd, 15, &want, &want_len);
    ts_assert_bytes(r.body, want_body(want, want_len), "join body", 15);
    rsp_free(&r);
    free(want);

    /* 16: group read count=10: every record so far, to c1. */
    r = send_vector(fd, 16, &want, &want_len);
    decode_recs(&r, &rs, false);
    cr_assert_eq(rs.n, 3);
    cr_assert_str_eq(rs.text[0], "login");
    cr_assert_eq(rs.hcount[2], 1);
    rsp_free(&r);
    free(want);

    /* 17-19: ack / legacy ack / nack of ids not pending here: ok, empty. */
    for (int num = 17; num <= 19; num++) {
        r = send_vector(fd, num, &want, &want_len);
        cr_assert_eq(r.body.len, 0, "vector %d", num);
        rsp_free(&r);
        free(want);
    }
    struct pend p;
    gpending(fd, "events", "billing", NULL, &p);
    cr_assert_eq(p.n, 3, "the legacy 8-byte ack acked nothing");
    cr_assert_eq(p.dc[0], 1);

    /* 28: a raw value: exactly the server's text. */
    r = send_vector(fd, 28, &want, &want_len);
    ts_assert_bytes(r.body, want_body(want, want_len), "malformed text", 28);
    rsp_free(&r);
    free(want);

    /* 29: a batch of two: the reply names the first id; the second is +1. */
    r = send_vector(fd, 29, &want, &want_len);
    struct flo_stream_id id29;
    cr_assert_eq(flo_stream_dec_append(r.body, &id29), 0);
    rsp_free(&r);
    free(want);
    sread(fd, "events", (struct flo_stream_read_args){.has_start = true, .start = idx}, &rs);
    cr_assert_eq(rs.n, 2);
    cr_assert(rs.id[0].ts == id29.ts && rs.id[0].seq == id29.seq);
    cr_assert(rs.id[1].ts == id29.ts && rs.id[1].seq == id29.seq + 1);

    /* 30: trim maxlen=2 (u64): keeps the 2-record batch, removes 3 appends. */
    r = send_vector(fd, 30, &want, &want_len);
    cr_assert_eq(r.body.len, 16);
    uint64_t deleted, first_seq;
    cr_assert_eq(flo_stream_dec_trim(r.body, &deleted, &first_seq), 0);
    cr_assert_eq(deleted, 3);
    cr_assert_eq(first_seq, id29.seq);
    rsp_free(&r);
    free(want);

    /* 31: pending of billing: c1's three entries (records since trimmed). */
    r = send_vector(fd, 31, &want, &want_len);
    struct flo_group_pending_iter pit;
    uint32_t pn;
    cr_assert_eq(flo_group_pending_begin(r.body, &pit, &pn), 0);
    cr_assert_eq(pn, 3);
    struct flo_group_pending_entry pe;
    cr_assert_eq(flo_group_pending_next(&pit, &pe), 1);
    cr_assert(pe.consumer.len == 2 && memcmp(pe.consumer.ptr, "c1", 2) == 0);
    rsp_free(&r);
    free(want);

    /* 32: claim idle >= 60 s for c2: nothing idle yet; cursor (max, max). */
    r = send_vector(fd, 32, &want, &want_len);
    decode_recs(&r, &rs, true);
    cr_assert_eq(rs.n, 0);
    cr_assert(is_max(rs.cursor));
    rsp_free(&r);
    free(want);

    /* 33: touch of an id not pending here: [touched u32 = 0]. */
    r = send_vector(fd, 33, &want, &want_len);
    cr_assert_eq(r.body.len, 4);
    uint32_t touched = 99;
    cr_assert_eq(flo_group_dec_touch(r.body, &touched), 0);
    cr_assert_eq(touched, 0);
    rsp_free(&r);
    free(want);

    /* 34: configure_sweeper: ok, empty. */
    r = send_vector(fd, 34, &want, &want_len);
    cr_assert_eq(r.body.len, 0);
    rsp_free(&r);
    free(want);

    /* 35: group info, 20 bytes: 3 pending, 2 members (c1, and c2, which
     * joined by claiming even though it got nothing). */
    r = send_vector(fd, 35, &want, &want_len);
    cr_assert_eq(r.body.len, 20);
    struct flo_group_info gi;
    cr_assert_eq(flo_group_dec_info(r.body, &gi), 0);
    cr_assert_eq(gi.pending_count, 3);
    cr_assert_eq(gi.member_count, 2);
    cr_assert(gi.created_at_ns / 1000000u >= before &&
              gi.created_at_ns / 1000000u <= wall_now_ms());
    rsp_free(&r);
    free(want);
    flo_wbuf_free(&v);
    close(fd);
}

/* ---- ids and reads ---- */

Test(devstream, ids_strictly_increase_and_share_a_millisecond)
{
    int fd = cx();
    struct flo_stream_id prev = append1(fd, "ids", "0");
    cr_assert_eq(prev.seq, 0);
    bool same_ms = false;
    for (int i = 1; i < 300; i++) {
        struct flo_stream_id id = append1(fd, "ids", "x");
        cr_assert_gt(flo_stream_id_cmp(id, prev), 0, "ids only grow");
        if (id.ts == prev.ts) {
            cr_assert_eq(id.seq, prev.seq + 1);
            same_ms = true;
        } else {
            cr_assert_eq(id.seq, 0, "a new millisecond starts at sequence 0");
        }
        prev = id;
    }
    cr_assert(same_ms, "300 appends in a row share a millisecond at least once");
    /* Another stream has its own id space. */
    cr_assert_eq(append1(fd, "ids-other", "x").seq, 0);
    close(fd);
}

Test(devstream, exclusive_start_bare_sequence_and_tail)
{
    int fd = cx();
    struct flo_stream_id a = append1(fd, "r", "a");
    struct flo_stream_id b = append1(fd, "r", "b");
    struct recs rs;
    sread(fd, "r", (struct flo_stream_read_args){.has_start = true, .start = a}, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert_str_eq(rs.text[0], "b");
    sread(fd, "r", (struct flo_stream_read_args){.has_start = true, .start = b}, &rs);
    cr_assert_eq(rs.n, 0);
    sread(fd, "r", (struct flo_stream_read_args){.has_start = true, .start = {0, 5}}, &rs);
    cr_assert_eq(rs.n, 2, "0-n = from the beginning");
    sread(fd, "r", (struct flo_stream_read_args){.tail = true}, &rs);
    cr_assert_eq(rs.n, 0, "tail: only later appends");
    sread(fd, "r", (struct flo_stream_read_args){.has_end = true, .end = a}, &rs);
    cr_assert_eq(rs.n, 1, "end is inclusive");
    cr_assert_str_eq(rs.text[0], "a");
    /* The older servers' page-size tag (limit 0x05) is honoured too. */
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct rsp r =
        call(fd, FLO_OP_STREAM_READ, NS, "r", FLO_BUF_NULL, opts_u32(&o, FLO_OPT_LIMIT, 1));
    decode_recs(&r, &rs, false);
    cr_assert_eq(rs.n, 1);
    rsp_free(&r);
    flo_wbuf_free(&o);
    /* An unknown stream reads empty. */
    sread(fd, "unknown", (struct flo_stream_read_args){0}, &rs);
    cr_assert_eq(rs.n, 0);
    close(fd);
}

Test(devstream, count_budget_returns_whole_appends)
{
    int fd = cx();
    const char *three[] = {"a1", "a2", "a3"};
    const char *two[] = {"b1", "b2"};
    append_n(fd, "c", three, 3);
    append_n(fd, "c", two, 2);
    struct recs rs;
    sread(fd, "c", (struct flo_stream_read_args){.count = 1}, &rs);
    cr_assert_eq(rs.n, 3, "the first append comes whole");
    sread(fd, "c", (struct flo_stream_read_args){.count = 4}, &rs);
    cr_assert_eq(rs.n, 3);
    sread(fd, "c", (struct flo_stream_read_args){.count = 5}, &rs);
    cr_assert_eq(rs.n, 5);
    sread(fd, "c", (struct flo_stream_read_args){.has_start = true, .start = rs.id[1], .count = 2},
          &rs);
    cr_assert_eq(rs.n, 1, "start inside an append: the rest of it only");
    cr_assert_str_eq(rs.text[0], "a3");
    /* 1,200 records in 1-record appends: the page is capped at 1000. */
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    for (int i = 0; i < 1200; i++) {
        send_req(fd, FLO_OP_STREAM_APPEND, 5000 + (uint64_t)i, NS, FLO_BUF_STR("big"),
                 batch(&v, (const char *const[]){"p"}, 1), FLO_BUF_NULL);
    }
    for (int i = 0; i < 1200; i++) {
        struct rsp r;
        rd(fd, &r);
        expect(&r, FLO_STATUS_OK, NULL);
        rsp_free(&r);
    }
    flo_wbuf_free(&v);
    sread(fd, "big", (struct flo_stream_read_args){.count = 5000}, &rs);
    cr_assert_eq(rs.n, 1000);
    sread(fd, "big", (struct flo_stream_read_args){0}, &rs);
    cr_assert_eq(rs.n, 100, "default count 100");
    close(fd);
}

Test(devstream, blocking_read_is_released_by_an_append_on_another_connection)
{
    int waiter = cx(), producer = cx();
    append1(producer, "blk", "before");
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    struct flo_stream_read_args a = {.tail = true, .block_ms = 10000};
    send_req(waiter, FLO_OP_STREAM_READ, 77, NS, FLO_BUF_STR("blk"), FLO_BUF_NULL,
             read_opts(&o, &a));
    usleep(150 * 1000);
    /* The waiting connection keeps serving other frames. */
    struct rsp ping = call(waiter, FLO_OP_PING, NS, "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&ping, FLO_STATUS_OK, "PONG");
    rsp_free(&ping);
    uint64_t t0 = ts_now_ms();
    struct flo_stream_id id = append1(producer, "blk", "wake up");
    struct rsp r;
    rd(waiter, &r);
    cr_assert_eq(r.id, 77);
    struct recs rs;
    decode_recs(&r, &rs, false);
    cr_assert_eq(rs.n, 1);
    cr_assert_str_eq(rs.text[0], "wake up");
    cr_assert(rs.id[0].ts == id.ts && rs.id[0].seq == id.seq);
    cr_assert_lt(ts_now_ms() - t0, 2000);
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(waiter);
    close(producer);
}

Test(devstream, blocking_read_times_out_with_an_empty_list)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t t0 = ts_now_ms();
    struct rsp r = call(fd, FLO_OP_STREAM_READ, NS, "quiet", FLO_BUF_NULL,
                        read_opts(&o, &(struct flo_stream_read_args){.block_ms = 300}));
    uint64_t took = ts_now_ms() - t0;
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 4, "timeout: an empty list 00 00 00 00");
    cr_assert_eq(flo_ld32(r.body.ptr), 0);
    cr_assert_geq(took, 250);
    cr_assert_lt(took, 3000);
    rsp_free(&r);
    /* A waiter that disconnects is dropped (no leak, no answer to anyone). */
    int gone = cx();
    send_req(gone, FLO_OP_STREAM_READ, 9, NS, FLO_BUF_STR("quiet"), FLO_BUF_NULL,
             read_opts(&o, &(struct flo_stream_read_args){.block_ms = 20000}));
    usleep(100 * 1000);
    close(gone);
    usleep(100 * 1000);
    append1(fd, "quiet", "after the waiter left");
    flo_wbuf_free(&o);
    close(fd);
}

Test(devstream, partition_option_and_filter)
{
    int fd = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    struct rsp r =
        call(fd, FLO_OP_STREAM_APPEND, NS, "parts", batch(&v, (const char *const[]){"p3"}, 1),
             opts_u32(&o, FLO_OPT_PARTITION, 3));
    expect(&r, FLO_STATUS_OK, NULL);
    rsp_free(&r);
    append1(fd, "parts", "p0");
    struct recs rs;
    sread(fd, "parts", (struct flo_stream_read_args){.has_partition = true, .partition = 3}, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert_str_eq(rs.text[0], "p3");
    cr_assert_eq(rs.partition[0], 3);
    sread(fd, "parts", (struct flo_stream_read_args){.has_partition = true, .partition = 0}, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert_str_eq(rs.text[0], "p0");
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- trim ---- */

static struct rsp trim_call(int fd, const char *s, flo_buf_t value, flo_buf_t opts)
{
    return call(fd, FLO_OP_STREAM_TRIM, NS, s, value, opts);
}

Test(devstream, trim_forms_and_refusals)
{
    int fd = cx();
    const char *two[] = {"a", "b"};
    struct flo_stream_id first = append_n(fd, "t", two, 2);
    struct flo_stream_id second = append1(fd, "t", "c");
    append1(fd, "t", "d");
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    uint64_t deleted, first_seq;

    /* dry run of maxlen 2: would remove the 2-record append. */
    struct flo_stream_trim_args a = {.bound = FLO_TRIM_MAXLEN, .maxlen = 2, .dry_run = true};
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_stream_trim_opts(&o, &a), 0);
    struct rsp r = trim_call(fd, "t", FLO_BUF_NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_stream_dec_trim(r.body, &deleted, &first_seq), 0);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(first_seq, second.seq);
    rsp_free(&r);
    cr_assert_eq(sinfo(fd, "t").count, 4, "dry run removes nothing");

    /* before = the first append's last id: removes it. */
    struct flo_stream_trim_args b = {.bound = FLO_TRIM_BEFORE, .before = {first.ts, first.seq + 1}};
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_stream_trim_opts(&o, &b), 0);
    r = trim_call(fd, "t", FLO_BUF_NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_stream_dec_trim(r.body, &deleted, &first_seq), 0);
    cr_assert_eq(deleted, 1);
    rsp_free(&r);
    cr_assert_eq(sinfo(fd, "t").count, 2);

    /* maxage of an hour removes nothing fresh. */
    struct flo_stream_trim_args m = {.bound = FLO_TRIM_MAXAGE, .max_age_s = 3600};
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_stream_trim_opts(&o, &m), 0);
    r = trim_call(fd, "t", FLO_BUF_NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(flo_stream_dec_trim(r.body, &deleted, &first_seq), 0);
    cr_assert_eq(deleted, 0);
    rsp_free(&r);

    /* Refusals, each status 3 with the server's text. */
    r = trim_call(fd, "t", FLO_BUF_STR("2"), opts_u64(&o, FLO_OPT_LIMIT, 2));
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream trim takes no value; give before, maxlen or maxage");
    rsp_free(&r);
    r = trim_call(fd, "t", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream trim: give one of before, maxlen or maxage");
    rsp_free(&r);
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_opt_u64(&o, FLO_OPT_LIMIT, 1), 0);
    cr_assert_eq(flo_opt_u64(&o, FLO_OPT_MAX_AGE_SECONDS, 1), 0);
    r = trim_call(fd, "t", FLO_BUF_NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream trim: give only one of before, maxlen or maxage");
    rsp_free(&r);
    r = trim_call(fd, "t", FLO_BUF_NULL, opts_u32(&o, FLO_OPT_LIMIT, 2));
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream trim: maxlen must be a u64");
    rsp_free(&r);
    static const uint8_t refused[] = {FLO_OPT_MAX_BYTES, FLO_OPT_STREAM_END,
                                      FLO_OPT_RETENTION_COUNT, FLO_OPT_RETENTION_AGE,
                                      FLO_OPT_RETENTION_BYTES};
    for (size_t i = 0; i < sizeof refused; i++) {
        r = trim_call(fd, "t", FLO_BUF_NULL, opts_u64(&o, refused[i], 1));
        cr_assert_eq(r.status, FLO_STATUS_BAD_REQUEST, "tag 0x%02x", refused[i]);
        cr_assert_gt(r.body.len, 0);
        rsp_free(&r);
    }
    r = trim_call(fd, "", FLO_BUF_NULL, opts_u64(&o, FLO_OPT_LIMIT, 2));
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream name is required");
    rsp_free(&r);
    cr_assert_eq(sinfo(fd, "t").count, 2, "refused trims remove nothing");
    flo_wbuf_free(&o);
    close(fd);
}

/* ---- create, alter, delete, list, names ---- */

Test(devstream, create_alter_delete_and_list)
{
    int fd = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    struct rsp r = call(fd, FLO_OP_STREAM_ALTER, NS, "meta", FLO_BUF_NULL,
                        opts_u64(&o, FLO_OPT_RETENTION_COUNT, 5));
    expect(&r, FLO_STATUS_NOT_FOUND, "stream not found");
    rsp_free(&r);
    cr_assert_eq(flo_stream_create_value(&v, 2), 0);
    r = call(fd, FLO_OP_STREAM_CREATE, NS, "meta", flo_wbuf_view(&v),
             opts_u64(&o, FLO_OPT_RETENTION_AGE, 3600));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_STREAM_CREATE, NS, "meta", FLO_BUF_NULL,
             opts_u64(&o, FLO_OPT_RETENTION_BYTES, 10));
    expect(&r, FLO_STATUS_BAD_REQUEST,
           "stream retention by bytes is not supported; use retention_age or retention_count");
    rsp_free(&r);
    r = call(fd, FLO_OP_STREAM_ALTER, NS, "meta", FLO_BUF_NULL,
             opts_u64(&o, FLO_OPT_RETENTION_COUNT, 5));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    struct flo_stream_info info = sinfo(fd, "meta");
    cr_assert_eq(info.partition_count, 2);
    cr_assert_eq(info.retention_age_s, 3600);
    cr_assert_eq(info.retention_count, 5);
    append1(fd, "meta", "x");
    append1(fd, "plain", "y");

    r = call(fd, FLO_OP_STREAM_LIST, NS, "", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, NULL);
    struct flo_stream_list_iter it;
    uint32_t count;
    cr_assert_eq(flo_stream_list_begin(r.body, &it, &count), 0);
    cr_assert_eq(count, 2);
    struct flo_stream_list_entry e;
    cr_assert_eq(flo_stream_list_next(&it, &e), 1);
    ts_assert_buf_str(e.name, "meta", "first name");
    cr_assert_eq(e.partition_count, 2);
    cr_assert_eq(flo_stream_list_next(&it, &e), 1);
    ts_assert_buf_str(e.name, "plain", "second name");
    rsp_free(&r);

    r = call(fd, FLO_OP_STREAM_DELETE, NS, "meta", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_CONFLICT, "stream is not empty; pass --force to delete");
    rsp_free(&r);
    r = call(fd, FLO_OP_STREAM_DELETE, NS, "meta", FLO_BUF_NULL, opts_flag(&o, FLO_OPT_FORCE));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = call(fd, FLO_OP_STREAM_DELETE, NS, "never", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    info = sinfo(fd, "meta");
    cr_assert_eq(info.count, 0);
    cr_assert_eq(info.partition_count, 1);
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devstream, name_texts_and_batch_limit)
{
    int fd = cx();
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    struct rsp r = call(fd, FLO_OP_STREAM_APPEND, NS, "", batch(&v, (const char *const[]){"x"}, 1),
                        FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream name is required");
    rsp_free(&r);
    static const char nul_name[] = "a\0b";
    send_req(fd, FLO_OP_STREAM_READ, 5, NS, FLO_BUF(nul_name, 3), FLO_BUF_NULL, FLO_BUF_NULL);
    rd(fd, &r);
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream name must not contain NUL");
    rsp_free(&r);
    char *big = malloc(4100);
    cr_assert_not_null(big);
    memset(big, 's', 4099);
    big[4099] = '\0';
    r = call(fd, FLO_OP_STREAM_INFO, NS, big, FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream name too long for its namespace");
    rsp_free(&r);
    free(big);
    flo_wbuf_reset(&v);
    cr_assert_eq(flo_wbuf_u32(&v, 1001), 0);
    for (int i = 0; i < 1001; i++) {
        cr_assert_eq(flo_wbuf_u32(&v, 0), 0);
        cr_assert_eq(flo_wbuf_u16(&v, 0), 0);
    }
    r = call(fd, FLO_OP_STREAM_APPEND, NS, "lim", flo_wbuf_view(&v), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST,
           "stream append: a batch of 1001 records is over the limit of 1000");
    rsp_free(&r);
    cr_assert_eq(sinfo(fd, "lim").count, 0);
    flo_wbuf_free(&v);
    close(fd);
}

/* ---- consumer groups ---- */

Test(devstream, group_create_exists_and_missing_group_texts)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_group_sweeper_opts(&o, true, 1000, true, 3), 0);
    struct rsp r = gcall(fd, FLO_OP_GROUP_CREATE, "g", "workers", NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = gcall(fd, FLO_OP_GROUP_CREATE, "g", "workers", NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_CONFLICT, "consumer group already exists");
    rsp_free(&r);
    static const uint16_t need_group[] = {FLO_OP_GROUP_INFO, FLO_OP_GROUP_PENDING,
                                          FLO_OP_GROUP_CONFIGURE_SWEEPER, FLO_OP_GROUP_DELETE};
    for (size_t i = 0; i < sizeof need_group / sizeof need_group[0]; i++) {
        r = gcall(fd, need_group[i], "g", "missing", NULL, FLO_BUF_NULL);
        expect(&r, FLO_STATUS_NOT_FOUND, "consumer group not found");
        rsp_free(&r);
    }
    r = gcall(fd, FLO_OP_GROUP_LEAVE, "g", "missing", "c", FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "consumer group not found");
    rsp_free(&r);
    struct flo_stream_id one = {1, 1};
    r = ids_call(fd, FLO_OP_GROUP_ACK, "g", "missing", &one, 1);
    expect(&r, FLO_STATUS_NOT_FOUND, "consumer group not found");
    rsp_free(&r);
    /* Group name texts. */
    r = call(fd, FLO_OP_GROUP_CREATE, NS, "g", FLO_BUF_NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "group name is required");
    rsp_free(&r);
    static const uint8_t nul_group[] = {3, 0, 'a', 0, 'b'};
    r = call(fd, FLO_OP_GROUP_CREATE, NS, "g", FLO_BUF(nul_group, sizeof nul_group), FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST, "group name must not contain NUL");
    rsp_free(&r);
    /* Wildcard group reads. */
    r = gcall(fd, FLO_OP_GROUP_READ, "orders-*", "workers", "c", FLO_BUF_NULL);
    expect(&r, FLO_STATUS_BAD_REQUEST,
           "wildcard group reads are no longer supported; target a single stream");
    rsp_free(&r);
    /* Ack without ids. */
    r = ids_call(fd, FLO_OP_GROUP_ACK, "g", "workers", NULL, 0);
    expect(&r, FLO_STATUS_BAD_REQUEST, "stream IDs required for ack");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devstream, two_consumers_split_records_none_delivered_twice)
{
    int fd = cx(), c1 = cx(), c2 = cx();
    for (int i = 0; i < 40; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        append1(fd, "split", p);
    }
    bool seen[40] = {0};
    uint32_t total = 0, got1 = 0, got2 = 0;
    struct recs rs;
    for (int round = 0; total < 40 && round < 100; round++) {
        int conn = round % 2 ? c2 : c1;
        gread(conn, "split", "g", round % 2 ? "c2" : "c1", 7, &rs);
        for (uint32_t i = 0; i < rs.n; i++) {
            int idx = atoi(rs.text[i] + 1);
            cr_assert(idx >= 0 && idx < 40);
            cr_assert(!seen[idx], "record %d delivered twice", idx);
            seen[idx] = true;
        }
        if (round % 2) {
            got2 += rs.n;
        } else {
            got1 += rs.n;
        }
        total += rs.n;
    }
    cr_assert_eq(total, 40);
    cr_assert_gt(got1, 0);
    cr_assert_gt(got2, 0);
    struct pend p;
    gpending(fd, "split", "g", "c1", &p);
    cr_assert_eq(p.n, got1);
    for (uint32_t i = 0; i < p.n; i++) {
        cr_assert_str_eq(p.consumer[i], "c1");
        cr_assert_eq(p.dc[i], 1);
    }
    gpending(fd, "split", "g", "c2", &p);
    cr_assert_eq(p.n, got2);
    gpending(fd, "split", "g", NULL, &p);
    cr_assert_eq(p.n, 40);
    for (uint32_t i = 1; i < p.n; i++) {
        cr_assert_lt(flo_stream_id_cmp(p.id[i - 1], p.id[i]), 0, "pending is in id order");
    }
    /* Ack everything c1 holds: the PEL shrinks by that much. */
    gpending(fd, "split", "g", "c1", &p);
    ids_ok(fd, FLO_OP_GROUP_ACK, "split", "g", p.id, p.n);
    gpending(fd, "split", "g", "c1", &p);
    cr_assert_eq(p.n, 0);
    struct flo_group_info gi = ginfo(fd, "split", "g");
    cr_assert_eq(gi.pending_count, got2);
    cr_assert_eq(gi.member_count, 2);
    gread(c1, "split", "g", "c1", 100, &rs);
    cr_assert_eq(rs.n, 0, "acked records are never delivered again");
    close(fd);
    close(c1);
    close(c2);
}

Test(devstream, nack_then_claim_gives_delivery_count_two)
{
    int fd = cx();
    append1(fd, "nc", "poison");
    struct recs rs;
    gread(fd, "nc", "g", "c1", 10, &rs);
    cr_assert_eq(rs.n, 1);
    struct flo_stream_id id = rs.id[0];
    ids_ok(fd, FLO_OP_GROUP_NACK, "nc", "g", &id, 1);
    gread(fd, "nc", "g", "c1", 10, &rs);
    cr_assert_eq(rs.n, 0, "a nacked record is not handed out by read");
    struct pend p;
    gpending(fd, "nc", "g", NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.dc[0], 2);
    /* Touch answers how many ids it found. */
    struct flo_stream_id ids[2] = {id, {1, 1}};
    struct rsp r = ids_call(fd, FLO_OP_GROUP_TOUCH, "nc", "g", ids, 2);
    expect(&r, FLO_STATUS_OK, NULL);
    uint32_t touched;
    cr_assert_eq(flo_group_dec_touch(r.body, &touched), 0);
    cr_assert_eq(touched, 1);
    rsp_free(&r);
    usleep(120 * 1000);
    gclaim(fd, "nc", "g", "c2", 100, (struct flo_stream_id){0, 0}, 10, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert_str_eq(rs.text[0], "poison");
    cr_assert(is_max(rs.cursor));
    gpending(fd, "nc", "g", "c2", &p);
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.dc[0], 3, "read 1, nack 2, claim 3");
    close(fd);
}

Test(devstream, claim_moves_a_dead_consumers_records_with_delivery_count_two)
{
    int fd = cx();
    for (int i = 0; i < 5; i++) {
        append1(fd, "cl", "r");
    }
    struct recs rs;
    gread(fd, "cl", "g", "dead", 10, &rs);
    cr_assert_eq(rs.n, 5);
    struct flo_stream_id third = rs.id[2];
    usleep(150 * 1000);
    gclaim(fd, "cl", "g", "live", 100, (struct flo_stream_id){0, 0}, 2, &rs);
    cr_assert_eq(rs.n, 2);
    cr_assert(rs.cursor.ts == third.ts && rs.cursor.seq == third.seq, "cursor = next entry");
    gclaim(fd, "cl", "g", "live", 100, rs.cursor, 2, &rs);
    cr_assert_eq(rs.n, 2);
    cr_assert(rs.id[0].ts == third.ts && rs.id[0].seq == third.seq, "start is inclusive");
    gclaim(fd, "cl", "g", "live", 100, rs.cursor, 2, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert(is_max(rs.cursor));
    struct pend p;
    gpending(fd, "cl", "g", "live", &p);
    cr_assert_eq(p.n, 5);
    for (uint32_t i = 0; i < p.n; i++) {
        cr_assert_eq(p.dc[i], 2);
    }
    gpending(fd, "cl", "g", "dead", &p);
    cr_assert_eq(p.n, 0);
    /* The dead consumer left: it no longer counts once it owns nothing. */
    struct rsp r = gcall(fd, FLO_OP_GROUP_LEAVE, "cl", "g", "dead", FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    cr_assert_eq(ginfo(fd, "cl", "g").member_count, 1);
    close(fd);
}

Test(devstream, sweeper_drops_entries_past_max_deliver)
{
    int fd = cx();
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    cr_assert_eq(flo_group_sweeper_opts(&o, true, 100, true, 2), 0);
    struct rsp r = gcall(fd, FLO_OP_GROUP_CREATE, "sw", "g", NULL, flo_wbuf_view(&o));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    append1(fd, "sw", "poison");
    struct recs rs;
    gread(fd, "sw", "g", "c", 10, &rs);
    cr_assert_eq(rs.n, 1);
    struct pend p;
    uint64_t deadline = ts_now_ms() + 5000;
    bool bumped = false;
    do {
        usleep(50 * 1000);
        gpending(fd, "sw", "g", NULL, &p);
        if (p.n == 1 && p.dc[0] == 2) {
            bumped = true;
        }
    } while (p.n > 0 && ts_now_ms() < deadline);
    cr_assert(bumped, "the sweeper bumped the delivery count first");
    cr_assert_eq(p.n, 0, "then dropped the entry at max_deliver");
    gread(fd, "sw", "g", "c", 10, &rs);
    cr_assert_eq(rs.n, 0, "the sweeper never redelivers");
    gclaim(fd, "sw", "g", "c2", 0, (struct flo_stream_id){0, 0}, 10, &rs);
    cr_assert_eq(rs.n, 0);
    flo_wbuf_free(&o);
    close(fd);
}

Test(devstream, blocking_group_read_is_released_by_an_append)
{
    int w1 = cx(), w2 = cx(), producer = cx();
    struct flo_wbuf v, o;
    flo_wbuf_init(&v);
    flo_wbuf_init(&o);
    flo_wbuf_reset(&o);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_COUNT, 10), 0);
    cr_assert_eq(flo_opt_u32(&o, FLO_OPT_BLOCK_MS, 3000), 0);
    send_req(w1, FLO_OP_GROUP_READ, 11, NS, FLO_BUF_STR("gb"), mvalue(&v, "g", "c1"),
             flo_wbuf_view(&o));
    send_req(w2, FLO_OP_GROUP_READ, 12, NS, FLO_BUF_STR("gb"), mvalue(&v, "g", "c2"),
             flo_wbuf_view(&o));
    usleep(150 * 1000);
    append1(producer, "gb", "only one");
    struct rsp r;
    rd(w1, &r);
    cr_assert_eq(r.id, 11);
    struct recs rs;
    decode_recs(&r, &rs, false);
    cr_assert_eq(rs.n, 1, "the first waiter takes the record");
    rsp_free(&r);
    /* The second keeps waiting, then times out empty. */
    uint64_t t0 = ts_now_ms();
    rd(w2, &r);
    cr_assert_eq(r.id, 12);
    expect(&r, FLO_STATUS_OK, NULL);
    cr_assert_eq(r.body.len, 4);
    cr_assert_eq(flo_ld32(r.body.ptr), 0);
    cr_assert_geq(ts_now_ms() - t0, 1500);
    rsp_free(&r);
    struct pend p;
    gpending(producer, "gb", "g", NULL, &p);
    cr_assert_eq(p.n, 1);
    cr_assert_str_eq(p.consumer[0], "c1");
    flo_wbuf_free(&v);
    flo_wbuf_free(&o);
    close(w1);
    close(w2);
    close(producer);
}

Test(devstream, group_delete_and_stream_delete_remove_groups)
{
    int fd = cx();
    append1(fd, "gd", "x");
    struct recs rs;
    gread(fd, "gd", "g", "c", 10, &rs);
    cr_assert_eq(rs.n, 1);
    struct rsp r = gcall(fd, FLO_OP_GROUP_DELETE, "gd", "g", NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = gcall(fd, FLO_OP_GROUP_INFO, "gd", "g", NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "consumer group not found");
    rsp_free(&r);
    /* A new group of the same name starts from the beginning again. */
    gread(fd, "gd", "g", "c", 10, &rs);
    cr_assert_eq(rs.n, 1);
    struct flo_wbuf o;
    flo_wbuf_init(&o);
    r = call(fd, FLO_OP_STREAM_DELETE, NS, "gd", FLO_BUF_NULL, opts_flag(&o, FLO_OPT_FORCE));
    expect(&r, FLO_STATUS_OK, "");
    rsp_free(&r);
    r = gcall(fd, FLO_OP_GROUP_INFO, "gd", "g", NULL, FLO_BUF_NULL);
    expect(&r, FLO_STATUS_NOT_FOUND, "consumer group not found");
    rsp_free(&r);
    flo_wbuf_free(&o);
    close(fd);
}
