/*
 * Byte-for-byte tests of the KV/system codec against every frame of
 * shared/flo-protocol-vectors-core.md, in both directions (encode from the
 * fields, decode the vector bytes), plus the alternate response forms the
 * decoders accept (core.md §10), their error paths, the request value
 * encoders and the server-side value parsers flo-dev uses.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_kv.h"

#include "ts_bytes.h"

/* The exact request and response bytes of each example, indexed by number. */
static const char *const VEC[28][2] = {
    [1] = {"464c4f00000000000100000000000000fc49462a000001000000000000000000",
           "464c4f000400000001000000000000006d161eec010000000000000000000000504f4e47"},
    [2] = {"464c4f000a0000000200000000000000001432ed00000100000000000000000000000000000000000000",
           "464c4f0004000000020000000000000045bf00b4010000000000000000000000504f4e47"},
    [3] = {"464c4f001e0000000300000000000000ca334201000101000000000000000000070064656661756c7408006"
           "772656574696e670500000068656c6c6f0000",
           "464c4f000800000003000000000000004573e5e80100000000000000000000000100000000000000"},
    [4] = {"464c4f002700000004000000000000001d74b12a000101000000000000000000070064656661756c7408006"
           "772656574696e670200000068690c00010860ea0000000000000300",
           "464c4f00000000000400000000000000f75f68cf010800000000000000000000"},
    [5] = {"464c4f0029000000050000000000000046a56517000101000000000000000000070064656661756c7408006"
           "772656574696e670600000068656c6c6f320a0002080100000000000000",
           "464c4f00080000000500000000000000e87ad6630100000000000000000000000200000000000000"},
    [6] = {"464c4f00190000000600000000000000ff75b2dd010101000000000000000000070064656661756c7408006"
           "772656574696e67000000000000",
           "464c4f000e00000006000000000000009789b5e8010000000000000000000000020000000000000068656c6"
           "c6f32"},
    [7] = {"464c4f001800000007000000000000009757770f010101000000000000000000070064656661756c7407006"
           "d697373696e67000000000000",
           "464c4f00000000000700000000000000b94a6e82010200000000000000000000"},
    [8] = {"464c4f001d00000008000000000000009869bf53010101000000000000000000070064656661756c7406006"
           "a6f623a3432000000000600170488130000",
           "464c4f00000000000800000000000000983af1fe010200000000000000000000"},
    [9] =
        {"464c4f00260000000900000000000000ac4a4ab9020101000000000000000000070064656661756c740000150"
         "00000020008006772656574696e6707006d697373696e670000",
         "464c4f00370000000900000000000000e0127e770100000000000000000000000200000000080067726565746"
         "96e6702000000000000000600000068656c6c6f320207006d697373696e67000000000000000000000000"},
    [10] = {"464c4f00190000000a00000000000000d4a70ef8030101000000000000000000070064656661756c740800"
            "6772656574696e67000000000000",
            "464c4f00000000000a00000000000000d5f5536c010000000000000000000000"},
    [11] = {"464c4f001a0000000b0000000000000018b81139040101000000000000000000070064656661756c740500"
            "757365723a040000000a0000000000",
            "464c4f001f0000000b000000000000002ba14c80010000000000000000000000020000000600757365723a"
            "31000000000600757365723a3200000000000000"},
    [12] = {"464c4f00140000000c00000000000000825b7dcd050101000000000000000000070064656661756c740300"
            "636667000000000000",
            "464c4f00200000000c000000000000004c3b42c40100000000000000000000000200000002000000763207"
            "000000000000000200000076310500000000000000"},
    [13] = {"464c4f001d0000000d000000000000004482bdd00b0101000000000000000000070064656661756c740400"
            "686974730800000005000000000000000000",
            "464c4f00100000000d00000000000000818af58b0100000000000000000000000900000000000000050000"
            "0000000000"},
    [14] = {"464c4f00150000000e00000000000000f05d0fdc150101000000000000000000070064656661756c740400"
            "68697473000000000000",
            "464c4f00090000000e00000000000000cbc3c4b4010000000000000000000000090000000000000001"},
    [15] = {"464c4f001d0000000f00000000000000d1b11b56130101000000000000000000070064656661756c740400"
            "686974730800000030750000000000000000",
            "464c4f00000000000f00000000000000ca25d947010000000000000000000000"},
    [16] = {"464c4f0015000000100000000000000012009680140101000000000000000000070064656661756c740400"
            "68697473000000000000",
            "464c4f00000000001000000000000000cefe80db010000000000000000000000"},
    [17] = {"464c4f001a00000011000000000000001596a4a80c0101000000000000000000070064656661756c740300"
            "646f6306000000242e6e616d650000",
            "464c4f000d0000001100000000000000589163a50100000000000000000000000b0000000000000022666c"
            "6f22"},
    [18] = {"464c4f001c00000012000000000000007bb3b3250d0101000000000000000000070064656661756c740300"
            "646f63080000000500242e616765330000",
            "464c4f00080000001200000000000000594a0a690100000000000000000000000c00000000000000"},
    [19] = {"464c4f001900000013000000000000000f5936e80e0101000000000000000000070064656661756c740300"
            "646f6305000000242e6167650000",
            "464c4f0000000000130000000000000004b32974010000000000000000000000"},
    [20] = {"464c4f00170000001400000000000000ccca1981100101000000000000000000070064656661756c740600"
            "616363743a31000000000000",
            "464c4f0011000000140000000000000088a114630100000000000000000000000001000000000000008877"
            "665544332211"},
    [21] = {"464c4f00240000001500000000000000ebe03b2c000101000000000000000000070064656661756c740600"
            "616363743a31030000003130300a0009080100000000000000",
            "464c4f0008000000150000000000000045acac3a0100000000000000000000000000000000000000"},
    [22] =
        {"464c4f002100000016000000000000007160987f110101000000000000000000070064656661756c740600616"
         "363743a31000000000a0009080100000000000000",
         "464c4f000b00000016000000000000003cca4a800100000000000000000000000139000000000000000100"},
    [23] = {"464c4f00210000001700000000000000630945ac120101000000000000000000070064656661756c740600"
            "616363743a31000000000a0009086300000000000000",
            "464c4f00150000001700000000000000aa5d55f70102000000000000000000007472616e73616374696f6e"
            "206e6f7420666f756e64"},
    [24] = {"464c4f001800000018000000000000002995b09a000101000000000000000000070064656661756c740600"
            "5f7379733a7801000000760000",
            "464c4f001d00000018000000000000002a24526301070000000000000000000061636365737320746f2072"
            "65736572766564206b65792064656e696564"},
    [25] = {"464c4f0012000000190000000000000030532352ff0001000000000000000000070064656661756c740100"
            "6b000000000000",
            "464c4f000f0000001900000000000000ee7498840109000000000000000000006e6f7420696d706c656d65"
            "6e746564"},
    [26] = {"464c4f00000000001a000000000000005e79f2f8000001000000000000000000",
            "464c4f000f00000000000000000000007f1bb07c010300000000000000000000496e76616c696420726571"
            "75657374"},
    [27] = {"464c4f001f0000001b0000000000000086a461f1010101000000000000000000070064656661756c740800"
            "6772656574696e670000000006001804e8030000",
            "464c4f000e0000001b0000000000000090ab19d90100000000000000000000000e0000000000000068656c"
            "6c6f33"},
};

/* ---- request value / option builders (use the encoders under test) ---- */

static void opts_ttl_nx(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u64(o, FLO_OPT_TTL_MS, 60000), 0);
    cr_assert_eq(flo_opt_flag(o, FLO_OPT_IF_NOT_EXISTS), 0);
}
static void opts_cas1(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u64(o, FLO_OPT_CAS_VERSION, 1), 0);
}
static void opts_block5000(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u32(o, FLO_OPT_BLOCK_MS, 5000), 0);
}
static void opts_wait1000(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u32(o, FLO_OPT_WAIT_MS, 1000), 0);
}
static void opts_txn1(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u64(o, FLO_OPT_TXN_ID, 1), 0);
}
static void opts_txn99(struct flo_wbuf *o)
{
    cr_assert_eq(flo_opt_u64(o, FLO_OPT_TXN_ID, 0x63), 0);
}

static void val_mget(struct flo_wbuf *v)
{
    flo_buf_t keys[2] = {FLO_BUF_STR("greeting"), FLO_BUF_STR("missing")};
    cr_assert_eq(flo_kv_mget_value(v, keys, 2), 0);
}
static void val_scan(struct flo_wbuf *v)
{
    cr_assert_eq(flo_kv_scan_value(v, 10, FLO_BUF_NULL), 0);
}
static void val_incr5(struct flo_wbuf *v)
{
    cr_assert_eq(flo_kv_incr_value(v, 5), 0);
}
static void val_touch(struct flo_wbuf *v)
{
    cr_assert_eq(flo_kv_touch_value(v, 30000), 0);
}
static void val_json_set(struct flo_wbuf *v)
{
    cr_assert_eq(flo_kv_json_set_value(v, FLO_BUF_STR("$.age"), FLO_BUF_STR("3")), 0);
}

/* ---- decoded-request checks (options and server-side value parsers) ---- */

static void req_ttl_nx(const struct flo_envelope *e)
{
    uint64_t ttl = 0;
    cr_assert(flo_opt_get_u64(e->opts, FLO_OPT_TTL_MS, &ttl));
    cr_assert_eq(ttl, 60000);
    cr_assert(flo_opt_has_flag(e->opts, FLO_OPT_IF_NOT_EXISTS));
    cr_assert_not(flo_opt_has_flag(e->opts, FLO_OPT_IF_EXISTS));
}
static void req_cas1(const struct flo_envelope *e)
{
    uint64_t cas = 0;
    cr_assert(flo_opt_get_u64(e->opts, FLO_OPT_CAS_VERSION, &cas));
    cr_assert_eq(cas, 1);
}
static void req_block5000(const struct flo_envelope *e)
{
    uint32_t ms = 0;
    cr_assert(flo_opt_get_u32(e->opts, FLO_OPT_BLOCK_MS, &ms));
    cr_assert_eq(ms, 5000);
    cr_assert_not(flo_opt_get_u32(e->opts, FLO_OPT_WAIT_MS, &ms));
}
static void req_wait1000(const struct flo_envelope *e)
{
    uint32_t ms = 0;
    cr_assert(flo_opt_get_u32(e->opts, FLO_OPT_WAIT_MS, &ms));
    cr_assert_eq(ms, 1000);
    cr_assert_not(flo_opt_get_u32(e->opts, FLO_OPT_BLOCK_MS, &ms));
}
static void req_txn1(const struct flo_envelope *e)
{
    uint64_t id = 0;
    cr_assert(flo_opt_get_u64(e->opts, FLO_OPT_TXN_ID, &id));
    cr_assert_eq(id, 1);
}
static void req_txn99(const struct flo_envelope *e)
{
    uint64_t id = 0;
    cr_assert(flo_opt_get_u64(e->opts, FLO_OPT_TXN_ID, &id));
    cr_assert_eq(id, 0x63);
}
static void req_mget(const struct flo_envelope *e)
{
    struct flo_kv_key_iter it;
    uint16_t count = 0;
    flo_buf_t k;
    cr_assert_eq(flo_kv_parse_mget(e->value, &it, &count, NULL), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(flo_kv_key_next(&it, &k), 1);
    ts_assert_buf_str(k, "greeting", "mget key 0");
    cr_assert_eq(flo_kv_key_next(&it, &k), 1);
    ts_assert_buf_str(k, "missing", "mget key 1");
    cr_assert_eq(flo_kv_key_next(&it, &k), 0);
}
static void req_scan(const struct flo_envelope *e)
{
    uint32_t limit = 0;
    flo_buf_t cursor = FLO_BUF_STR("x");
    cr_assert_eq(flo_kv_parse_scan(e->value, &limit, &cursor, NULL), 0);
    cr_assert_eq(limit, 10);
    cr_assert_eq(cursor.len, 0);
}
static void req_incr5(const struct flo_envelope *e)
{
    int64_t d = 0;
    cr_assert_eq(flo_kv_parse_incr(e->value, &d, NULL), 0);
    cr_assert_eq(d, 5);
}
static void req_touch(const struct flo_envelope *e)
{
    uint64_t ttl = 0;
    cr_assert_eq(flo_kv_parse_touch(e->value, &ttl, NULL), 0);
    cr_assert_eq(ttl, 30000);
}
static void req_json_set(const struct flo_envelope *e)
{
    flo_buf_t path, json;
    cr_assert_eq(flo_kv_parse_json_set(e->value, &path, &json, NULL), 0);
    ts_assert_buf_str(path, "$.age", "json_set path");
    ts_assert_buf_str(json, "3", "json_set json");
}

/* ---- response body checks through the matching decoder ---- */

static void body_version(flo_buf_t b, uint64_t want)
{
    uint64_t v = 99;
    cr_assert_eq(flo_kv_dec_version(b, &v), 0);
    cr_assert_eq(v, want);
}
static void resp_v1(flo_buf_t b)
{
    body_version(b, 1);
}
static void resp_v2(flo_buf_t b)
{
    body_version(b, 2);
}
static void resp_v12(flo_buf_t b)
{
    body_version(b, 12);
}
static void resp_v0(flo_buf_t b)
{
    body_version(b, 0);
}
static void resp_get_hello2(flo_buf_t b)
{
    uint64_t v = 0;
    flo_buf_t val;
    cr_assert_eq(flo_kv_dec_get(b, &v, &val), 0);
    cr_assert_eq(v, 2);
    ts_assert_buf_str(val, "hello2", "get value");
}
static void resp_get_hello3(flo_buf_t b)
{
    uint64_t v = 0;
    flo_buf_t val;
    cr_assert_eq(flo_kv_dec_get(b, &v, &val), 0);
    cr_assert_eq(v, 14);
    ts_assert_buf_str(val, "hello3", "get value");
}
static void resp_mget(flo_buf_t b)
{
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry e;
    cr_assert_eq(flo_kv_mget_begin(b, &it), 0);
    cr_assert_eq(it.remaining, 2);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 1);
    cr_assert(e.found);
    ts_assert_buf_str(e.key, "greeting", "mget key 0");
    cr_assert_eq(e.version, 2);
    ts_assert_buf_str(e.value, "hello2", "mget value 0");
    cr_assert_eq(flo_kv_mget_next(&it, &e), 1);
    cr_assert_not(e.found);
    ts_assert_buf_str(e.key, "missing", "mget key 1");
    cr_assert_eq(e.version, 0);
    cr_assert_eq(e.value.len, 0);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 0);
}
static void resp_scan(flo_buf_t b)
{
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    cr_assert_eq(flo_kv_scan_begin(b, &page, &it), 0);
    cr_assert_eq(page.count, 2);
    cr_assert_not(page.has_more);
    cr_assert_eq(page.cursor.len, 0);
    cr_assert_eq(flo_kv_scan_next(&it, &e), 1);
    ts_assert_buf_str(e.key, "user:1", "scan key 0");
    cr_assert_eq(e.value.len, 0);
    cr_assert_eq(flo_kv_scan_next(&it, &e), 1);
    ts_assert_buf_str(e.key, "user:2", "scan key 1");
    cr_assert_eq(flo_kv_scan_next(&it, &e), 0);
}
static void resp_history(flo_buf_t b)
{
    struct flo_kv_history_iter it;
    struct flo_kv_history_entry e;
    uint32_t count = 0;
    cr_assert_eq(flo_kv_history_begin(b, &it, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(flo_kv_history_next(&it, &e), 1);
    ts_assert_buf_str(e.value, "v2", "history value 0");
    cr_assert_eq(e.version, 7);
    cr_assert_eq(flo_kv_history_next(&it, &e), 1);
    ts_assert_buf_str(e.value, "v1", "history value 1");
    cr_assert_eq(e.version, 5);
    cr_assert_eq(flo_kv_history_next(&it, &e), 0);
}
static void resp_incr(flo_buf_t b)
{
    uint64_t v = 0;
    int64_t n = 0;
    cr_assert_eq(flo_kv_dec_incr(b, &v, &n), 0);
    cr_assert_eq(v, 9);
    cr_assert_eq(n, 5);
}
static void resp_exists(flo_buf_t b)
{
    uint64_t v = 0;
    bool present = false;
    cr_assert_eq(flo_kv_dec_exists(b, &v, &present), 0);
    cr_assert_eq(v, 9);
    cr_assert(present);
}
static void resp_json_get(flo_buf_t b)
{
    uint64_t v = 0;
    flo_buf_t val;
    cr_assert_eq(flo_kv_dec_get(b, &v, &val), 0);
    cr_assert_eq(v, 11);
    ts_assert_buf_str(val, "\"flo\"", "json_get value");
}
static void resp_json_del(flo_buf_t b)
{
    uint64_t v = 99;
    cr_assert_eq(flo_kv_dec_json_del(b, &v), 0);
    cr_assert_eq(v, 0);
}
static void resp_begin(flo_buf_t b)
{
    uint64_t txn = 0, hash = 0;
    cr_assert_eq(flo_kv_dec_begin(b, &txn, &hash), 0);
    cr_assert_eq(txn, 1);
    cr_assert_eq(hash, 0x1122334455667788ull);
}
static void resp_commit(flo_buf_t b)
{
    uint64_t idx = 0;
    uint16_t ops = 0;
    cr_assert_eq(flo_kv_dec_commit(b, &idx, &ops), 0);
    cr_assert_eq(idx, 0x39);
    cr_assert_eq(ops, 1);
}

/* ---- the 27 examples ---- */

struct vec {
    uint16_t op;
    bool raw;          /* example 1: header only, no envelope */
    bool bad_crc;      /* example 26: the request's CRC is deliberately wrong */
    const char *ns;    /* NULL = empty */
    const char *key;   /* NULL = empty */
    const char *value; /* literal value (NULL = empty) unless build_value */
    void (*build_value)(struct flo_wbuf *v);
    void (*build_opts)(struct flo_wbuf *o);
    void (*check_req)(const struct flo_envelope *e);
    uint64_t resp_id; /* equals the example number except example 26 */
    uint8_t status;
    const char *body_hex; /* expected response body */
    void (*check_resp)(flo_buf_t body);
};

#define PONG_HEX "504f4e47"
static const struct vec VECS[28] = {
    [1] = {FLO_OP_PING, .raw = true, .resp_id = 1, .body_hex = PONG_HEX},
    [2] = {FLO_OP_PING, .resp_id = 2, .body_hex = PONG_HEX},
    [3] = {FLO_OP_KV_PUT, .ns = "default", .key = "greeting", .value = "hello", .resp_id = 3,
           .body_hex = "0100000000000000", .check_resp = resp_v1},
    [4] = {FLO_OP_KV_PUT, .ns = "default", .key = "greeting", .value = "hi",
           .build_opts = opts_ttl_nx, .check_req = req_ttl_nx, .resp_id = 4,
           .status = FLO_STATUS_CONFLICT, .body_hex = ""},
    [5] = {FLO_OP_KV_PUT, .ns = "default", .key = "greeting", .value = "hello2",
           .build_opts = opts_cas1, .check_req = req_cas1, .resp_id = 5,
           .body_hex = "0200000000000000", .check_resp = resp_v2},
    [6] = {FLO_OP_KV_GET, .ns = "default", .key = "greeting", .resp_id = 6,
           .body_hex = "020000000000000068656c6c6f32", .check_resp = resp_get_hello2},
    [7] = {FLO_OP_KV_GET, .ns = "default", .key = "missing", .resp_id = 7,
           .status = FLO_STATUS_NOT_FOUND, .body_hex = ""},
    [8] = {FLO_OP_KV_GET, .ns = "default", .key = "job:42", .build_opts = opts_block5000,
           .check_req = req_block5000, .resp_id = 8, .status = FLO_STATUS_NOT_FOUND,
           .body_hex = ""},
    [9] = {FLO_OP_KV_MGET, .ns = "default", .build_value = val_mget, .check_req = req_mget,
           .resp_id = 9,
           .body_hex = "02000000 00 0800 6772656574696e67 0200000000000000 06000000 68656c6c6f32"
                       " 02 0700 6d697373696e67 0000000000000000 00000000",
           .check_resp = resp_mget},
    [10] = {FLO_OP_KV_DELETE, .ns = "default", .key = "greeting", .resp_id = 10, .body_hex = ""},
    [11] = {FLO_OP_KV_SCAN, .ns = "default", .key = "user:", .build_value = val_scan,
            .check_req = req_scan, .resp_id = 11,
            .body_hex = "02000000 0600 757365723a31 00000000 0600 757365723a32 00000000 00 0000",
            .check_resp = resp_scan},
    [12] = {FLO_OP_KV_HISTORY, .ns = "default", .key = "cfg", .resp_id = 12,
            .body_hex = "02000000 02000000 7632 0700000000000000 02000000 7631 0500000000000000",
            .check_resp = resp_history},
    [13] = {FLO_OP_KV_INCR, .ns = "default", .key = "hits", .build_value = val_incr5,
            .check_req = req_incr5, .resp_id = 13, .body_hex = "0900000000000000 0500000000000000",
            .check_resp = resp_incr},
    [14] = {FLO_OP_KV_EXISTS, .ns = "default", .key = "hits", .resp_id = 14,
            .body_hex = "0900000000000000 01", .check_resp = resp_exists},
    [15] = {FLO_OP_KV_TOUCH, .ns = "default", .key = "hits", .build_value = val_touch,
            .check_req = req_touch, .resp_id = 15, .body_hex = ""},
    [16] = {FLO_OP_KV_PERSIST, .ns = "default", .key = "hits", .resp_id = 16, .body_hex = ""},
    [17] = {FLO_OP_KV_JSON_GET, .ns = "default", .key = "doc", .value = "$.name", .resp_id = 17,
            .body_hex = "0b00000000000000 22666c6f22", .check_resp = resp_json_get},
    [18] = {FLO_OP_KV_JSON_SET, .ns = "default", .key = "doc", .build_value = val_json_set,
            .check_req = req_json_set, .resp_id = 18, .body_hex = "0c00000000000000",
            .check_resp = resp_v12},
    [19] = {FLO_OP_KV_JSON_DEL, .ns = "default", .key = "doc", .value = "$.age", .resp_id = 19,
            .body_hex = "", .check_resp = resp_json_del},
    [20] = {FLO_OP_KV_BEGIN_TXN, .ns = "default", .key = "acct:1", .resp_id = 20,
            .body_hex = "00 0100000000000000 8877665544332211", .check_resp = resp_begin},
    [21] = {FLO_OP_KV_PUT, .ns = "default", .key = "acct:1", .value = "100",
            .build_opts = opts_txn1, .check_req = req_txn1, .resp_id = 21,
            .body_hex = "0000000000000000", .check_resp = resp_v0},
    [22] = {FLO_OP_KV_COMMIT_TXN, .ns = "default", .key = "acct:1", .build_opts = opts_txn1,
            .check_req = req_txn1, .resp_id = 22, .body_hex = "01 3900000000000000 0100",
            .check_resp = resp_commit},
    [23] = {FLO_OP_KV_ROLLBACK_TXN, .ns = "default", .key = "acct:1", .build_opts = opts_txn99,
            .check_req = req_txn99, .resp_id = 23, .status = FLO_STATUS_NOT_FOUND,
            .body_hex = "7472616e73616374696f6e206e6f7420666f756e64"},
    [24] = {FLO_OP_KV_PUT, .ns = "default", .key = "_sys:x", .value = "v", .resp_id = 24,
            .status = FLO_STATUS_UNAUTHORIZED,
            .body_hex = "61636365737320746f207265736572766564206b65792064656e696564"},
    [25] = {0x0FF, .ns = "default", .key = "k", .resp_id = 25, .status = FLO_STATUS_INTERNAL,
            .body_hex = "6e6f7420696d706c656d656e746564"},
    [26] = {FLO_OP_PING, .raw = true, .bad_crc = true, .resp_id = 0,
            .status = FLO_STATUS_BAD_REQUEST, .body_hex = "496e76616c69642072657175657374"},
    [27] = {FLO_OP_KV_GET, .ns = "default", .key = "greeting", .build_opts = opts_wait1000,
            .check_req = req_wait1000, .resp_id = 27, .body_hex = "0e00000000000000 68656c6c6f33",
            .check_resp = resp_get_hello3},
};

static flo_buf_t opt_str(const char *s)
{
    return s != NULL ? FLO_BUF_STR(s) : FLO_BUF_NULL;
}

/* Everything the example's fields say, built with the encoders under test. */
struct built {
    struct flo_wbuf value, opts;
};

static void build_fields(const struct vec *v, struct built *b)
{
    flo_wbuf_init(&b->value);
    flo_wbuf_init(&b->opts);
    if (v->build_value != NULL) {
        v->build_value(&b->value);
    } else if (v->value != NULL) {
        cr_assert_eq(flo_wbuf_append(&b->value, v->value, strlen(v->value)), 0);
    }
    if (v->build_opts != NULL) {
        v->build_opts(&b->opts);
    }
}

static void free_fields(struct built *b)
{
    flo_wbuf_free(&b->value);
    flo_wbuf_free(&b->opts);
}

/* Request: encode from fields == vector bytes (CRC aside for example 26). */
static void check_request_encode(int num)
{
    const struct vec *v = &VECS[num];
    uint8_t want[512];
    size_t want_len = ts_unhex(VEC[num][0], want, sizeof want);
    struct built b;
    build_fields(v, &b);
    struct flo_wbuf out;
    flo_wbuf_init(&out);
    if (v->raw) {
        cr_assert_eq(flo_req_encode_raw(&out, v->op, (uint64_t)num, FLO_BUF_NULL), 0);
    } else {
        struct flo_req req = {.op = v->op,
                              .request_id = (uint64_t)num,
                              .ns = opt_str(v->ns),
                              .key = opt_str(v->key),
                              .value = flo_wbuf_view(&b.value),
                              .opts = flo_wbuf_view(&b.opts)};
        cr_assert_eq(flo_req_encode(&out, &req), 0);
    }
    if (v->bad_crc) {
        /* The vector's CRC field is corrupted on purpose: everything else
         * matches, and the CRC we computed differs from the vector's. */
        cr_assert_eq(out.len, want_len);
        cr_assert_neq(flo_ld32(out.data + 16), flo_ld32(want + 16), "ex 26 CRC should differ");
        memcpy(out.data + 16, want + 16, 4);
    }
    ts_assert_bytes(flo_wbuf_view(&out), FLO_BUF(want, want_len), "request encode", num);
    flo_wbuf_free(&out);
    free_fields(&b);
}

/* Request: decode the vector bytes and check op/id/envelope/options. */
static void check_request_decode(int num)
{
    const struct vec *v = &VECS[num];
    uint8_t frame[512];
    size_t len = ts_unhex(VEC[num][0], frame, sizeof frame);
    struct flo_frame f;
    long n = flo_frame_decode(frame, len, FLO_FRAME_REQUEST, FLO_MAX_PAYLOAD, &f);
    if (v->bad_crc) {
        cr_assert_eq(n, FLO_EBADCRC, "ex 26: got %ld", n);
        return;
    }
    cr_assert_eq(n, (long)len, "ex %d: decode returned %ld, want %zu", num, n, len);
    cr_assert_eq(f.op, v->op, "ex %d op", num);
    cr_assert_eq(f.request_id, (uint64_t)num, "ex %d id", num);
    cr_assert_eq(f.flags, 0);
    cr_assert_eq(f.body.len, len - FLO_HEADER_SIZE);

    struct flo_envelope e;
    cr_assert_eq(flo_envelope_parse(f.body, &e), 0, "ex %d envelope", num);
    struct built b;
    build_fields(v, &b);
    ts_assert_buf_str(e.ns, v->ns ? v->ns : "", "namespace");
    ts_assert_buf_str(e.key, v->key ? v->key : "", "key");
    ts_assert_bytes(e.value, FLO_BUF(b.value.data, b.value.len), "value", num);
    ts_assert_bytes(e.opts, FLO_BUF(b.opts.data, b.opts.len), "options", num);
    if (v->check_req != NULL) {
        v->check_req(&e);
    }
    free_fields(&b);
}

/* Response: encode (id, status, body) == vector; decode the vector back. */
static void check_response(int num)
{
    const struct vec *v = &VECS[num];
    uint8_t want[512], body[256];
    size_t want_len = ts_unhex(VEC[num][1], want, sizeof want);
    size_t body_len = ts_unhex(v->body_hex, body, sizeof body);

    struct flo_wbuf out;
    flo_wbuf_init(&out);
    cr_assert_eq(flo_resp_encode(&out, v->resp_id, v->status, FLO_BUF(body, body_len)), 0);
    ts_assert_bytes(flo_wbuf_view(&out), FLO_BUF(want, want_len), "response encode", num);
    flo_wbuf_free(&out);

    struct flo_frame f;
    long n = flo_frame_decode(want, want_len, FLO_FRAME_RESPONSE, FLO_MAX_PAYLOAD, &f);
    cr_assert_eq(n, (long)want_len, "ex %d: response decode returned %ld", num, n);
    cr_assert_eq(f.request_id, v->resp_id, "ex %d response id", num);
    cr_assert_eq(f.status, v->status, "ex %d status %u", num, f.status);
    cr_assert_eq(f.flags, 0);
    ts_assert_bytes(f.body, FLO_BUF(body, body_len), "response body", num);
    if (v->check_resp != NULL) {
        v->check_resp(f.body);
    }
}

static void check_example(int num)
{
    cr_assert_not_null(VEC[num][0]);
    check_request_encode(num);
    check_request_decode(num);
    check_response(num);
}

Test(vectors, ex01_ping_empty)
{
    check_example(1);
}

Test(vectors, ex02_ping_envelope)
{
    check_example(2);
}

Test(vectors, ex03_put)
{
    check_example(3);
}

Test(vectors, ex04_put_ttl_nx_conflict)
{
    check_example(4);
}

Test(vectors, ex05_put_cas)
{
    check_example(5);
}

Test(vectors, ex06_get_hit)
{
    check_example(6);
}

Test(vectors, ex07_get_miss)
{
    check_example(7);
}

Test(vectors, ex08_get_block_ms)
{
    check_example(8);
}

Test(vectors, ex09_mget)
{
    check_example(9);
}

Test(vectors, ex10_delete)
{
    check_example(10);
}

Test(vectors, ex11_scan_walk)
{
    check_example(11);
}

Test(vectors, ex12_history)
{
    check_example(12);
}

Test(vectors, ex13_incr)
{
    check_example(13);
}

Test(vectors, ex14_exists)
{
    check_example(14);
}

Test(vectors, ex15_touch)
{
    check_example(15);
}

Test(vectors, ex16_persist)
{
    check_example(16);
}

Test(vectors, ex17_json_get)
{
    check_example(17);
}

Test(vectors, ex18_json_set)
{
    check_example(18);
}

Test(vectors, ex19_json_del)
{
    check_example(19);
}

Test(vectors, ex20_begin)
{
    check_example(20);
}

Test(vectors, ex21_put_in_txn)
{
    check_example(21);
}

Test(vectors, ex22_commit)
{
    check_example(22);
}

Test(vectors, ex23_rollback_unknown)
{
    check_example(23);
}

Test(vectors, ex24_put_reserved)
{
    check_example(24);
}

Test(vectors, ex25_unknown_op)
{
    check_example(25);
}

Test(vectors, ex26_bad_crc)
{
    check_example(26);
}

Test(vectors, ex27_get_wait_ms)
{
    check_example(27);
}

/* ---- alternate forms the decoders accept (core.md §7.5, §10) ---- */

/* Parse a hex body into a static-lifetime buffer owned by the caller. */
#define HEXBODY(name, hex)                                                                         \
    uint8_t name##_bytes[256];                                                                     \
    flo_buf_t name = FLO_BUF(name##_bytes, ts_unhex(hex, name##_bytes, sizeof name##_bytes))

Test(scan_forms, fallback_with_values_no_cursor)
{
    /* Fallback path: values present, body ends at has_more (no cursor_len). */
    HEXBODY(b, "02000000 0100 61 03000000 78797a 0100 62 00000000 00");
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    cr_assert_eq(flo_kv_scan_begin(b, &page, &it), 0);
    cr_assert_eq(page.count, 2);
    cr_assert_not(page.has_more);
    cr_assert_eq(page.cursor.len, 0);
    cr_assert_eq(flo_kv_scan_next(&it, &e), 1);
    ts_assert_buf_str(e.key, "a", "key 0");
    ts_assert_buf_str(e.value, "xyz", "value 0");
    cr_assert_eq(flo_kv_scan_next(&it, &e), 1);
    ts_assert_buf_str(e.key, "b", "key 1");
    cr_assert_eq(e.value.len, 0);
    cr_assert_eq(flo_kv_scan_next(&it, &e), 0);
}

Test(scan_forms, walk_with_cursor)
{
    HEXBODY(b, "01000000 0200 6b31 00000000 01 0300 637572");
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    cr_assert_eq(flo_kv_scan_begin(b, &page, &it), 0);
    cr_assert_eq(page.count, 1);
    cr_assert(page.has_more);
    ts_assert_buf_str(page.cursor, "cur", "cursor");
    cr_assert_eq(flo_kv_scan_next(&it, &e), 1);
    ts_assert_buf_str(e.key, "k1", "key");
    cr_assert_eq(flo_kv_scan_next(&it, &e), 0);
}

Test(scan_forms, empty_page_both_forms)
{
    HEXBODY(walk, "00000000 00 0000");
    HEXBODY(fallback, "00000000 00");
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    struct flo_kv_scan_entry e;
    cr_assert_eq(flo_kv_scan_begin(walk, &page, &it), 0);
    cr_assert_eq(page.count, 0);
    cr_assert_eq(flo_kv_scan_next(&it, &e), 0);
    cr_assert_eq(flo_kv_scan_begin(fallback, &page, &it), 0);
    cr_assert_eq(page.count, 0);
    cr_assert_not(page.has_more);
}

Test(scan_forms, errors)
{
    struct flo_kv_scan_page page;
    struct flo_kv_scan_iter it;
    HEXBODY(no_count, "010000");
    HEXBODY(no_has_more, "00000000");
    HEXBODY(short_entry, "01000000 0500 6162");
    HEXBODY(half_cursor_len, "00000000 01 03");
    HEXBODY(short_cursor, "00000000 01 0300 6162");
    HEXBODY(trailing, "00000000 00 0000 ff");
    HEXBODY(bad_has_more, "00000000 02");
    HEXBODY(huge_count, "ffffffff 00");
    cr_assert_eq(flo_kv_scan_begin(FLO_BUF_NULL, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(no_count, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(no_has_more, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(short_entry, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(half_cursor_len, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(short_cursor, &page, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_scan_begin(trailing, &page, &it), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_scan_begin(bad_has_more, &page, &it), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_scan_begin(huge_count, &page, &it), FLO_ETRUNC);
}

Test(json_del_forms, empty_or_version)
{
    HEXBODY(with_version, "2a00000000000000");
    HEXBODY(short_version, "2a0000");
    HEXBODY(long_version, "2a00000000000000 00");
    uint64_t v = 7;
    cr_assert_eq(flo_kv_dec_json_del(FLO_BUF_NULL, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(flo_kv_dec_json_del(with_version, &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(flo_kv_dec_json_del(short_version, &v), FLO_ETRUNC);
    cr_assert_eq(flo_kv_dec_json_del(long_version, &v), FLO_EMALFORMED);
}

Test(mget_forms, body_ends_early)
{
    /* Count says 3, only one entry fits: the server dropped the rest. */
    HEXBODY(b, "03000000 00 0100 61 0500000000000000 01000000 78");
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry e;
    cr_assert_eq(flo_kv_mget_begin(b, &it), 0);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 1);
    cr_assert(e.found);
    ts_assert_buf_str(e.key, "a", "key");
    cr_assert_eq(e.version, 5);
    ts_assert_buf_str(e.value, "x", "value");
    cr_assert_eq(flo_kv_mget_next(&it, &e), 0);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 0, "end is stable");
}

Test(mget_forms, count_only)
{
    HEXBODY(b, "02000000");
    struct flo_kv_mget_iter it;
    struct flo_kv_mget_entry e;
    cr_assert_eq(flo_kv_mget_begin(b, &it), 0);
    cr_assert_eq(flo_kv_mget_next(&it, &e), 0);
}

Test(mget_forms, errors)
{
    struct flo_kv_mget_iter it;
    HEXBODY(no_count, "0200");
    HEXBODY(partial_entry, "02000000 00 0100 61 0500000000000000 0100");
    HEXBODY(bad_status, "01000000 01 0100 61 0500000000000000 00000000");
    HEXBODY(trailing, "01000000 02 0100 61 0000000000000000 00000000 00");
    HEXBODY(value_overrun, "01000000 00 0100 61 0500000000000000 05000000 78");
    cr_assert_eq(flo_kv_mget_begin(FLO_BUF_NULL, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_mget_begin(no_count, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_mget_begin(partial_entry, &it), FLO_ETRUNC);
    cr_assert_eq(flo_kv_mget_begin(bad_status, &it), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_mget_begin(trailing, &it), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_mget_begin(value_overrun, &it), FLO_ETRUNC);
}

/* ---- fixed-size decoders: short => FLO_ETRUNC, long => FLO_EMALFORMED ---- */

Test(fixed_bodies, version)
{
    HEXBODY(short_b, "01000000000000");
    HEXBODY(long_b, "0100000000000000 00");
    uint64_t v;
    cr_assert_eq(flo_kv_dec_version(FLO_BUF_NULL, &v), FLO_ETRUNC);
    cr_assert_eq(flo_kv_dec_version(short_b, &v), FLO_ETRUNC);
    cr_assert_eq(flo_kv_dec_version(long_b, &v), FLO_EMALFORMED);
}

Test(fixed_bodies, get)
{
    HEXBODY(short_b, "01000000000000");
    HEXBODY(empty_value, "ffffffffffffffff");
    uint64_t v;
    flo_buf_t val = FLO_BUF_STR("x");
    cr_assert_eq(flo_kv_dec_get(short_b, &v, &val), FLO_ETRUNC);
    cr_assert_eq(flo_kv_dec_get(empty_value, &v, &val), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(val.len, 0);
}

Test(fixed_bodies, exists)
{
    HEXBODY(absent, "0000000000000000 00");
    HEXBODY(bad_flag, "0000000000000000 02");
    HEXBODY(short_b, "0000000000000000");
    uint64_t v = 1;
    bool present = true;
    cr_assert_eq(flo_kv_dec_exists(absent, &v, &present), 0);
    cr_assert_eq(v, 0);
    cr_assert_not(present);
    cr_assert_eq(flo_kv_dec_exists(bad_flag, &v, &present), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_dec_exists(short_b, &v, &present), FLO_ETRUNC);
}

Test(fixed_bodies, incr_negative)
{
    HEXBODY(b, "0300000000000000 fdffffffffffffff");
    HEXBODY(short_b, "0300000000000000 fdff");
    uint64_t v;
    int64_t n;
    cr_assert_eq(flo_kv_dec_incr(b, &v, &n), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(n, -3);
    cr_assert_eq(flo_kv_dec_incr(short_b, &v, &n), FLO_ETRUNC);
}

Test(fixed_bodies, begin_commit_tags)
{
    HEXBODY(begin_bad, "01 0100000000000000 0200000000000000");
    HEXBODY(begin_short, "00 0100000000000000");
    HEXBODY(commit_bad, "00 0100000000000000 0000");
    HEXBODY(commit_short, "01 01000000");
    uint64_t a, h;
    uint16_t c;
    cr_assert_eq(flo_kv_dec_begin(begin_bad, &a, &h), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_dec_begin(begin_short, &a, &h), FLO_ETRUNC);
    cr_assert_eq(flo_kv_dec_commit(commit_bad, &a, &c), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_dec_commit(commit_short, &a, &c), FLO_ETRUNC);
}

Test(fixed_bodies, cluster_status)
{
    HEXBODY(b, "01000000 02000000 0700000000000000 02 03000000");
    HEXBODY(short_b, "01000000 02000000 0700000000000000 02 030000");
    struct flo_cluster_status cs;
    cr_assert_eq(flo_dec_cluster_status(b, &cs), 0);
    cr_assert_eq(cs.node_id, 1);
    cr_assert_eq(cs.leader_id, 2);
    cr_assert_eq(cs.term, 7);
    cr_assert_eq(cs.state, 2);
    cr_assert_eq(cs.member_count, 3);
    cr_assert_eq(flo_dec_cluster_status(short_b, &cs), FLO_ETRUNC);
}

/* ---- variable bodies: history, namespace_list ---- */

Test(history, errors_and_empty)
{
    HEXBODY(empty, "00000000");
    HEXBODY(short_value, "01000000 05000000 6162");
    HEXBODY(no_version, "01000000 01000000 61 0100");
    HEXBODY(trailing, "01000000 01000000 61 0100000000000000 ff");
    HEXBODY(huge_count, "ffffffff");
    struct flo_kv_history_iter it;
    struct flo_kv_history_entry e;
    uint32_t count = 9;
    cr_assert_eq(flo_kv_history_begin(empty, &it, &count), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(flo_kv_history_next(&it, &e), 0);
    cr_assert_eq(flo_kv_history_begin(FLO_BUF_NULL, &it, &count), FLO_ETRUNC);
    cr_assert_eq(flo_kv_history_begin(short_value, &it, &count), FLO_ETRUNC);
    cr_assert_eq(flo_kv_history_begin(no_version, &it, &count), FLO_ETRUNC);
    cr_assert_eq(flo_kv_history_begin(trailing, &it, &count), FLO_EMALFORMED);
    cr_assert_eq(flo_kv_history_begin(huge_count, &it, &count), FLO_ETRUNC);
}

Test(ns_list, names_and_errors)
{
    HEXBODY(b, "02000000 0700 64656661756c74 0300 617070");
    HEXBODY(short_b, "02000000 0700 64656661756c74 0300 61");
    HEXBODY(trailing, "00000000 00");
    struct flo_name_iter it;
    flo_buf_t name;
    uint32_t count = 0;
    cr_assert_eq(flo_ns_list_begin(b, &it, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(flo_ns_list_next(&it, &name), 1);
    ts_assert_buf_str(name, "default", "ns 0");
    cr_assert_eq(flo_ns_list_next(&it, &name), 1);
    ts_assert_buf_str(name, "app", "ns 1");
    cr_assert_eq(flo_ns_list_next(&it, &name), 0);
    cr_assert_eq(flo_ns_list_begin(short_b, &it, &count), FLO_ETRUNC);
    cr_assert_eq(flo_ns_list_begin(trailing, &it, &count), FLO_EMALFORMED);
    cr_assert_eq(flo_ns_list_begin(FLO_BUF_NULL, &it, &count), FLO_ETRUNC);
}

/* ---- request value encoders ---- */

Test(encoders, mget_limits)
{
    static flo_buf_t keys[FLO_KV_MGET_MAX_KEYS + 1];
    for (size_t i = 0; i <= FLO_KV_MGET_MAX_KEYS; i++) {
        keys[i] = FLO_BUF_STR("k");
    }
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_kv_mget_value(&v, keys, 0), FLO_EINVAL);
    cr_assert_eq(flo_kv_mget_value(&v, keys, FLO_KV_MGET_MAX_KEYS + 1), FLO_EINVAL);
    cr_assert_eq(v.len, 0);
    cr_assert_eq(flo_kv_mget_value(&v, keys, FLO_KV_MGET_MAX_KEYS), 0);
    cr_assert_eq(v.len, 2 + FLO_KV_MGET_MAX_KEYS * 3);

    /* A key over u16 is refused before anything is written. */
    size_t big = 0x10000;
    char *k = calloc(1, big);
    cr_assert_not_null(k);
    flo_buf_t bad[2] = {FLO_BUF_STR("a"), FLO_BUF(k, big)};
    size_t before = v.len;
    cr_assert_eq(flo_kv_mget_value(&v, bad, 2), FLO_EINVAL);
    cr_assert_eq(v.len, before);
    free(k);
    flo_wbuf_free(&v);
}

Test(encoders, scan_with_cursor_and_json_set)
{
    struct flo_wbuf v;
    flo_wbuf_init(&v);
    cr_assert_eq(flo_kv_scan_value(&v, 0x01020304, FLO_BUF_STR("cur")), 0);
    uint8_t want[16];
    size_t n = ts_unhex("04030201 637572", want, sizeof want);
    ts_assert_bytes(flo_wbuf_view(&v), FLO_BUF(want, n), "scan value", 0);

    flo_wbuf_reset(&v);
    size_t big = 0x10000;
    char *p = calloc(1, big);
    cr_assert_not_null(p);
    cr_assert_eq(flo_kv_json_set_value(&v, FLO_BUF(p, big), FLO_BUF_STR("1")), FLO_EINVAL);
    cr_assert_eq(v.len, 0);
    free(p);
    cr_assert_eq(flo_kv_json_set_value(&v, FLO_BUF_STR("$"), FLO_BUF_NULL), 0);
    n = ts_unhex("0100 24", want, sizeof want);
    ts_assert_bytes(flo_wbuf_view(&v), FLO_BUF(want, n), "json_set value", 0);

    flo_wbuf_reset(&v);
    cr_assert_eq(flo_kv_incr_value(&v, -1), 0);
    n = ts_unhex("ffffffffffffffff", want, sizeof want);
    ts_assert_bytes(flo_wbuf_view(&v), FLO_BUF(want, n), "incr value", 0);
    flo_wbuf_free(&v);
}

/* ---- server-side value parsers ---- */

Test(parsers, mget_errors_carry_server_text)
{
    struct flo_kv_key_iter it;
    uint16_t count;
    const char *msg = NULL;
    HEXBODY(one_byte, "01");
    HEXBODY(zero, "0000");
    HEXBODY(too_many, "0101");
    HEXBODY(no_len, "0200 0100 61");
    HEXBODY(short_key, "0100 0300 6162");
    HEXBODY(max, "0001"); /* 256 keys announced, none present */

    cr_assert_eq(flo_kv_parse_mget(FLO_BUF_NULL, &it, &count, &msg), FLO_ETRUNC);
    cr_assert_str_eq(msg, "mget: missing key count");
    cr_assert_eq(flo_kv_parse_mget(one_byte, &it, &count, &msg), FLO_ETRUNC);
    cr_assert_eq(flo_kv_parse_mget(zero, &it, &count, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "mget: zero keys");
    cr_assert_eq(flo_kv_parse_mget(too_many, &it, &count, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "mget: too many keys (max 256)");
    cr_assert_eq(flo_kv_parse_mget(no_len, &it, &count, &msg), FLO_ETRUNC);
    cr_assert_str_eq(msg, "mget: truncated key list");
    cr_assert_eq(flo_kv_parse_mget(short_key, &it, &count, &msg), FLO_ETRUNC);
    cr_assert_str_eq(msg, "mget: truncated key data");
    cr_assert_eq(flo_kv_parse_mget(max, &it, &count, NULL), FLO_ETRUNC);
}

Test(parsers, mget_empty_key_and_trailing)
{
    HEXBODY(b, "0200 0000 0100 7a ffff");
    struct flo_kv_key_iter it;
    uint16_t count = 0;
    flo_buf_t k;
    cr_assert_eq(flo_kv_parse_mget(b, &it, &count, NULL), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(flo_kv_key_next(&it, &k), 1);
    cr_assert_eq(k.len, 0);
    cr_assert_eq(flo_kv_key_next(&it, &k), 1);
    ts_assert_buf_str(k, "z", "key 1");
    cr_assert_eq(flo_kv_key_next(&it, &k), 0);
}

Test(parsers, scan_value)
{
    HEXBODY(short_b, "0a0000");
    HEXBODY(with_cursor, "0a000000 6162");
    uint32_t limit = 5;
    flo_buf_t cursor;
    const char *msg = NULL;
    cr_assert_eq(flo_kv_parse_scan(FLO_BUF_NULL, &limit, &cursor, &msg), 0);
    cr_assert_eq(limit, 0);
    cr_assert_eq(cursor.len, 0);
    cr_assert_null(msg);
    cr_assert_eq(flo_kv_parse_scan(short_b, &limit, &cursor, &msg), FLO_ETRUNC);
    cr_assert_not_null(msg);
    cr_assert_eq(flo_kv_parse_scan(with_cursor, &limit, &cursor, NULL), 0);
    cr_assert_eq(limit, 10);
    ts_assert_buf_str(cursor, "ab", "cursor");
}

Test(parsers, incr_value)
{
    HEXBODY(neg, "feffffffffffffff");
    HEXBODY(four, "05000000");
    int64_t d = 0;
    const char *msg = NULL;
    cr_assert_eq(flo_kv_parse_incr(FLO_BUF_NULL, &d, &msg), 0);
    cr_assert_eq(d, 1);
    cr_assert_eq(flo_kv_parse_incr(neg, &d, &msg), 0);
    cr_assert_eq(d, -2);
    cr_assert_eq(flo_kv_parse_incr(four, &d, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "incr: value must be empty or 8-byte i64 LE");
}

Test(parsers, json_set_value)
{
    HEXBODY(one, "01");
    HEXBODY(short_path, "0500 2461");
    HEXBODY(no_json, "0100 24");
    flo_buf_t path, json;
    const char *msg = NULL;
    cr_assert_eq(flo_kv_parse_json_set(one, &path, &json, &msg), FLO_ETRUNC);
    cr_assert_str_eq(msg, "json_set: missing path_len");
    cr_assert_eq(flo_kv_parse_json_set(short_path, &path, &json, &msg), FLO_ETRUNC);
    cr_assert_str_eq(msg, "json_set: truncated path");
    cr_assert_eq(flo_kv_parse_json_set(no_json, &path, &json, &msg), 0);
    ts_assert_buf_str(path, "$", "path");
    cr_assert_eq(json.len, 0);
}

Test(parsers, touch_value)
{
    HEXBODY(ms, "e803000000000000");
    HEXBODY(bad, "e803");
    uint64_t ttl = 9;
    const char *msg = NULL;
    cr_assert_eq(flo_kv_parse_touch(FLO_BUF_NULL, &ttl, &msg), 0);
    cr_assert_eq(ttl, 0);
    cr_assert_eq(flo_kv_parse_touch(ms, &ttl, &msg), 0);
    cr_assert_eq(ttl, 1000);
    cr_assert_eq(flo_kv_parse_touch(bad, &ttl, &msg), FLO_EMALFORMED);
    cr_assert_str_eq(msg, "touch: value must be empty or 8-byte u64 LE");
}
