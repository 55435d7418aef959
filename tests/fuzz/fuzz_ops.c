/*
 * libFuzzer target for the queue/stream/group/action/worker codec
 * (flo_ops.h): the input is handed, as a response body and as a request
 * value, to every decoder and server-side parser, and every iterator is run
 * to its end. Every view a decoder returns is touched at both ends so ASan
 * reports one that points outside the input. Where a decoder accepted the
 * input, its fields are re-encoded and decoded again and must match, which
 * checks encoders against decoders on inputs nobody wrote by hand.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flo/flo_codec.h"
#include "flo/flo_error.h"
#include "flo/flo_ops.h"

static volatile uint64_t sink;

static void check(int cond)
{
    if (!cond) {
        __builtin_trap();
    }
}

static void use(flo_buf_t b)
{
    if (b.len > 0) {
        sink += b.ptr[0] + b.ptr[b.len - 1];
    }
}

static void use_headers(const struct flo_stream_headers *h)
{
    struct flo_stream_hdr_iter it;
    struct flo_stream_header x;
    flo_stream_hdr_begin(h, &it);
    while (flo_stream_hdr_next(&it, &x) == 1) {
        use(x.key);
        use(x.val);
    }
}

static void use_procs(const struct flo_worker_procs *p)
{
    struct flo_worker_proc_iter it;
    struct flo_worker_process x;
    flo_worker_proc_begin(p, &it);
    while (flo_worker_proc_next(&it, &x) == 1) {
        use(x.name);
    }
}

static void replies(flo_buf_t in)
{
    uint32_t n;
    uint64_t u, v;
    struct flo_queue_msg_iter qi;
    struct flo_queue_msg qm;
    if (flo_queue_msgs_begin(in, &qi, &n) == 0) {
        uint32_t seen = 0;
        while (flo_queue_msgs_next(&qi, &qm) == 1) {
            use(qm.payload);
            seen++;
        }
        check(seen == n);
    }
    struct flo_queue_stats qs;
    if (flo_queue_dec_stats(in, &qs) == 0) {
        struct flo_wbuf b;
        flo_wbuf_init(&b);
        check(flo_queue_stats_put(&b, &qs) == 0);
        check(b.len == in.len && memcmp(b.data, in.ptr, in.len) == 0);
        flo_wbuf_free(&b);
    }
    flo_queue_dec_enqueue(in, &u);
    flo_queue_dec_purge(in, &n);
    flo_queue_dec_dlq_summary(in, &u);
    struct flo_queue_list_iter ql;
    struct flo_queue_info qinfo;
    if (flo_queue_list_begin(in, &ql, &n) == 0) {
        while (flo_queue_list_next(&ql, &qinfo) == 1) {
            use(qinfo.name);
            use(qinfo.ns);
        }
    }

    struct flo_stream_id id;
    flo_stream_dec_append(in, &id);
    flo_stream_dec_trim(in, &u, &v);
    struct flo_stream_info si;
    flo_stream_dec_info(in, &si);
    struct flo_stream_rec_iter ri;
    struct flo_stream_record r;
    if (flo_stream_records_begin(in, &ri, &n) == 0) {
        struct flo_wbuf b;
        size_t pos;
        flo_wbuf_init(&b);
        check(flo_ops_count_reserve(&b, &pos) == 0);
        while (flo_stream_records_next(&ri, &r) == 1) {
            use(r.key);
            use(r.payload);
            use_headers(&r.headers);
            check(flo_stream_record_put(&b, &r) == 0);
        }
        flo_ops_count_patch(&b, pos, n);
        /* Re-encoding a decoded list gives the same bytes (an empty body is
         * the one input that re-encodes as [count = 0]). */
        if (in.len > 0) {
            check(b.len == in.len && memcmp(b.data, in.ptr, in.len) == 0);
        }
        flo_wbuf_free(&b);
    }
    struct flo_stream_list_iter sl;
    struct flo_stream_list_entry se;
    if (flo_stream_list_begin(in, &sl, &n) == 0) {
        while (flo_stream_list_next(&sl, &se) == 1) {
            use(se.name);
        }
    }

    struct flo_group_join_reply j;
    flo_group_dec_join(in, &j);
    flo_group_dec_touch(in, &n);
    struct flo_group_info gi;
    flo_group_dec_info(in, &gi);
    if (flo_group_claim_begin(in, &ri, &n, &id) == 0) {
        while (flo_stream_records_next(&ri, &r) == 1) {
            use(r.payload);
        }
    }
    struct flo_group_pending_iter gp;
    struct flo_group_pending_entry pe;
    if (flo_group_pending_begin(in, &gp, &n) == 0) {
        while (flo_group_pending_next(&gp, &pe) == 1) {
            use(pe.consumer);
        }
    }

    flo_buf_t a, b2;
    if (flo_action_dec_invoke(in, &a, &b2) == 0) {
        use(a);
        use(b2);
    }
    struct flo_action_run run;
    if (flo_action_dec_status(in, &run) == 0) {
        struct flo_wbuf b;
        flo_wbuf_init(&b);
        check(flo_action_status_put(&b, &run) == 0);
        check(b.len == in.len && memcmp(b.data, in.ptr, in.len) == 0);
        flo_wbuf_free(&b);
    }
    struct flo_action_list_iter al;
    struct flo_action_list_entry ae;
    if (flo_action_list_begin(in, &al, &n) == 0) {
        while (flo_action_list_next(&al, &ae) == 1) {
            use(ae.name);
        }
    }
    struct flo_action_runs_iter ar;
    struct flo_action_run_summary rs;
    if (flo_action_runs_begin(in, &ar, &n) == 0) {
        while (flo_action_runs_next(&ar, &rs) == 1) {
            use(rs.run_id);
            use(rs.action);
        }
    }
    struct flo_action_task t;
    if (flo_action_dec_task(in, &t) == 0) {
        use(t.task_id);
        use(t.task_type);
        use(t.caller_run_id);
        use(t.caller_workflow);
        use(t.input);
    }

    uint8_t st;
    flo_worker_dec_heartbeat(in, &st);
    struct flo_worker_record w;
    if (flo_worker_dec_info(in, &w) == 0) {
        use(w.id);
        use(w.metadata);
        use_procs(&w.parsed);
    }
    struct flo_worker_list_iter wl;
    if (flo_worker_list_begin(in, &wl, &n) == 0) {
        while (flo_worker_list_next(&wl, &w) == 1) {
            use(w.machine_id);
            use_procs(&w.parsed);
        }
    }
}

static void values(flo_buf_t in)
{
    const char *msg;
    uint32_t n;
    struct flo_queue_seqs qs;
    if (flo_queue_parse_seqs(in, &qs) == 0) {
        for (uint32_t i = 0; i < qs.n; i++) {
            sink += flo_queue_seqs_get(&qs, i);
        }
    }
    struct flo_stream_batch_iter bi;
    struct flo_stream_batch_rec br;
    if (flo_stream_parse_batch(in, &bi, &n) == 0) {
        uint32_t seen = 0;
        while (flo_stream_batch_next(&bi, &br) == 1) {
            use(br.payload);
            use_headers(&br.headers);
            seen++;
        }
        check(seen == n);
    }
    flo_stream_parse_create(in, &n);
    struct flo_stream_read_args ra;
    flo_stream_parse_read_opts(in, &ra);
    struct flo_stream_trim_args ta;
    flo_stream_parse_trim(FLO_BUF_NULL, in, &ta, &msg);

    struct flo_group_ids ids;
    if (flo_group_parse_ids(in, &ids, &msg) == 0) {
        use(ids.group);
        use(ids.consumer);
        for (uint32_t i = 0; i < ids.n; i++) {
            sink += flo_group_ids_get(&ids, i).seq;
        }
    }
    struct flo_group_claim_args ca;
    if (flo_group_parse_claim(in, &ca, &msg) == 0) {
        use(ca.group);
        use(ca.consumer);
    }

    struct flo_action_def d;
    flo_action_parse_register(in, &d);
    use(d.owner);
    use(d.description);
    struct flo_action_invoke_args ia;
    flo_action_parse_invoke(in, &ia);
    use(ia.idempotency_key);
    use(ia.labels);
    use(ia.input);
    struct flo_name_list_iter nl;
    flo_buf_t name;
    if (flo_action_parse_await(in, &nl, &n) == 0) {
        while (flo_action_await_next(&nl, &name) == 1) {
            use(name);
        }
    }
    struct flo_action_complete_args cpa;
    if (flo_action_parse_complete(in, &cpa) == 0) {
        use(cpa.result);
    }
    struct flo_action_fail_args fa;
    if (flo_action_parse_fail(in, &fa) == 0) {
        use(fa.message);
    }
    struct flo_action_touch_args tta;
    flo_action_parse_touch(in, &tta);
    flo_action_parse_list_runs(in, &n);

    struct flo_worker_reg wr;
    if (flo_worker_parse_register(in, &wr) == 0) {
        use(wr.metadata);
        use(wr.machine_id);
        use_procs(&wr.parsed);
    }
    flo_worker_parse_heartbeat(in, &n);
    struct flo_stream_id id;
    flo_stream_id_parse(in, &id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flo_buf_t in = FLO_BUF(data, size);
    replies(in);
    values(in);
    return 0;
}
