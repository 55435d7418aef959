/*
 * Worker registry codecs (shared/flo-protocol-ops.md §6.1-§6.4): the
 * register value (client encoder and lenient server parser), heartbeat
 * value and reply, and the worker record of info and list replies.
 */
#include "flo_ops_internal.h"

void flo_worker_proc_begin(const struct flo_worker_procs *p, struct flo_worker_proc_iter *it)
{
    flo_cur_init(&it->cur, p->raw);
    it->remaining = p->count;
    it->stats = p->stats;
}

static int proc_read(struct flo_cur *c, bool stats, struct flo_worker_process *p)
{
    *p = (struct flo_worker_process){0};
    flo_cur_str16(c, &p->name);
    flo_cur_u8(c, &p->kind);
    if (stats) {
        uint64_t t = 0;
        flo_cur_u64(c, &p->run_count);
        flo_cur_u64(c, &p->fail_count);
        flo_cur_u64(c, &t);
        p->last_run_at_ms = (int64_t)t;
    }
    return c->err;
}

int flo_worker_proc_next(struct flo_worker_proc_iter *it, struct flo_worker_process *p)
{
    if (it->remaining == 0) {
        return 0;
    }
    int rc = proc_read(&it->cur, it->stats, p);
    if (rc != 0) {
        return rc;
    }
    it->remaining--;
    return 1;
}

/* Read [count u16] and the processes after it; out->raw covers them. */
static int procs_read(struct flo_cur *c, bool stats, struct flo_worker_procs *out)
{
    struct flo_worker_process p;
    out->stats = stats;
    if (flo_cur_u16(c, &out->count) != 0) {
        return c->err;
    }
    const uint8_t *start = c->p;
    for (uint16_t i = 0; i < out->count; i++) {
        if (proc_read(c, stats, &p) != 0) {
            return c->err;
        }
    }
    out->raw = FLO_BUF(start, (size_t)(c->p - start));
    return 0;
}

static int procs_put(struct flo_wbuf *b, const struct flo_worker_process *procs, size_t n,
                     bool stats)
{
    if (n > UINT16_MAX) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_u16(b, (uint16_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo__put_str16(b, procs[i].name);
        if (rc == 0) {
            rc = flo_wbuf_u8(b, procs[i].kind);
        }
        if (rc == 0 && stats) {
            rc = flo_wbuf_u64(b, procs[i].run_count);
            if (rc == 0) {
                rc = flo_wbuf_u64(b, procs[i].fail_count);
            }
            if (rc == 0) {
                rc = flo_wbuf_u64(b, (uint64_t)procs[i].last_run_at_ms);
            }
        }
    }
    return rc;
}

/* [has u8]([str16])? */
static int opt_str_put(struct flo_wbuf *b, bool has, flo_buf_t s)
{
    int rc = flo_wbuf_u8(b, has ? 1 : 0);
    return (rc == 0 && has) ? flo__put_str16(b, s) : rc;
}

static int opt_str_read(struct flo_cur *c, bool *has, flo_buf_t *s)
{
    *s = FLO_BUF_NULL;
    int rc = flo__cur_flag(c, has);
    return (rc == 0 && *has) ? flo_cur_str16(c, s) : rc;
}

int flo_worker_register_value(struct flo_wbuf *v, const struct flo_worker_reg *r)
{
    int rc = flo_wbuf_u8(v, r->type);
    if (rc == 0) {
        rc = flo_wbuf_u32(v, r->max_concurrency);
    }
    if (rc == 0) {
        rc = procs_put(v, r->procs, r->n_procs, false);
    }
    if (rc == 0) {
        rc = opt_str_put(v, r->has_metadata, r->metadata);
    }
    return rc ? rc : opt_str_put(v, r->has_machine_id, r->machine_id);
}

int flo_worker_parse_register(flo_buf_t value, struct flo_worker_reg *r)
{
    struct flo_cur c;
    int rc;
    *r = (struct flo_worker_reg){.max_concurrency = FLO_WORKER_DEFAULT_CONCURRENCY};
    flo_cur_init(&c, value);
    /* Each group of fields may be missing at the end; a group that starts
     * must be complete. */
    if (c.left == 0) {
        return 0;
    }
    flo_cur_u8(&c, &r->type);
    if (c.left == 0) {
        return 0;
    }
    flo_cur_u32(&c, &r->max_concurrency);
    if (c.err != 0 || c.left == 0) {
        return c.err;
    }
    if ((rc = procs_read(&c, false, &r->parsed)) != 0 || c.left == 0) {
        return rc;
    }
    if ((rc = opt_str_read(&c, &r->has_metadata, &r->metadata)) != 0 || c.left == 0) {
        return rc;
    }
    if ((rc = opt_str_read(&c, &r->has_machine_id, &r->machine_id)) != 0) {
        return rc;
    }
    return 0; /* bytes after the machine id are ignored */
}

int flo_worker_heartbeat_value(struct flo_wbuf *v, uint32_t current_load)
{
    return flo_wbuf_u32(v, current_load);
}

int flo_worker_parse_heartbeat(flo_buf_t value, uint32_t *current_load)
{
    *current_load = 0;
    if (value.len == 0) {
        return 0;
    }
    if (value.len < 4) {
        return FLO_ETRUNC;
    }
    *current_load = flo_ld32(value.ptr);
    return 0;
}

int flo_worker_dec_heartbeat(flo_buf_t body, uint8_t *status)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    flo_cur_u8(&c, status);
    int rc = flo__ops_end(&c);
    if (rc == 0 && *status > FLO_WORKER_UNHEALTHY) {
        return FLO_EMALFORMED;
    }
    return rc;
}

/* One worker record into a struct flo_worker_record; a list entry reader. */
static int record_read(struct flo_cur *c, void *record)
{
    struct flo_worker_record *w = record;
    uint64_t reg = 0, hb = 0;
    int rc;
    *w = (struct flo_worker_record){0};
    flo_cur_str16(c, &w->id);
    flo_cur_u8(c, &w->type);
    flo_cur_u8(c, &w->status);
    flo_cur_u64(c, &w->tasks_completed);
    flo_cur_u64(c, &w->tasks_failed);
    flo_cur_u32(c, &w->current_load);
    flo_cur_u32(c, &w->max_concurrency);
    flo_cur_u64(c, &reg);
    flo_cur_u64(c, &hb);
    w->registered_at_ms = (int64_t)reg;
    w->last_heartbeat_ms = (int64_t)hb;
    if (c->err != 0) {
        return c->err;
    }
    if ((rc = procs_read(c, true, &w->parsed)) != 0) {
        return rc;
    }
    if ((rc = opt_str_read(c, &w->has_metadata, &w->metadata)) != 0) {
        return rc;
    }
    return opt_str_read(c, &w->has_machine_id, &w->machine_id);
}

int flo_worker_dec_info(flo_buf_t body, struct flo_worker_record *w)
{
    struct flo_cur c;
    flo_cur_init(&c, body);
    int rc = record_read(&c, w);
    return rc ? rc : flo__ops_end(&c);
}

int flo_worker_record_put(struct flo_wbuf *b, const struct flo_worker_record *w)
{
    int rc = flo__put_str16(b, w->id);
    if (rc == 0) {
        rc = flo_wbuf_u8(b, w->type);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, w->status);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, w->tasks_completed);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, w->tasks_failed);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, w->current_load);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, w->max_concurrency);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, (uint64_t)w->registered_at_ms);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, (uint64_t)w->last_heartbeat_ms);
    }
    if (rc == 0) {
        rc = procs_put(b, w->procs, w->n_procs, true);
    }
    if (rc == 0) {
        rc = opt_str_put(b, w->has_metadata, w->metadata);
    }
    return rc ? rc : opt_str_put(b, w->has_machine_id, w->machine_id);
}

int flo_worker_list_begin(flo_buf_t body, struct flo_worker_list_iter *it, uint32_t *count)
{
    struct flo_worker_record w;
    return flo__list_begin(body, &it->cur, &it->remaining, count, record_read, &w,
                           FLO__LIST_TRAILER);
}

int flo_worker_list_next(struct flo_worker_list_iter *it, struct flo_worker_record *w)
{
    return flo__list_next(&it->cur, &it->remaining, record_read, w);
}
