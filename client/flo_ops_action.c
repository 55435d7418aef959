/*
 * Action op codecs (shared/flo-protocol-ops.md §5, §6.5-§6.8): register in
 * the server and SDK forms, invoke in the 11-byte header and short forms,
 * run ids, status/list/list_runs replies, and the task flow of a worker:
 * await, the task assignment (with its bare run_id fallback), complete,
 * fail and touch.
 */
#include <stdio.h>
#include <string.h>

#include "flo_ops_internal.h"

#define REGISTER_FIXED    9  /* type u8 + timeout u32 + max_retries u32 */
#define SDK_FLAG_BYTES    5  /* zero flag bytes the SDKs append to register */
#define INVOKE_HEADER     11 /* priority u8 + delay i64 + has_caller u8 + has_idem u8 */
#define RUN_ID_PREFIX     "act-"
#define RUN_ID_PREFIX_LEN 4
#define RUN_ID_TS_SHIFT   22
#define RUN_ID_PART_SHIFT 8
#define RUN_ID_PART_MASK  0x3FFFu /* 14 bits between the sequence and the time */
#define RUN_ID_SEQ_MASK   0xFFu

/* ---- register ---- */

static int register_fixed(struct flo_wbuf *v, const struct flo_action_def *d)
{
    int rc = flo_wbuf_u8(v, d->type);
    if (rc == 0) {
        rc = flo_wbuf_u32(v, d->timeout_ms);
    }
    return rc ? rc : flo_wbuf_u32(v, d->max_retries);
}

int flo_action_register_value(struct flo_wbuf *v, const struct flo_action_def *d)
{
    int rc = register_fixed(v, d);
    return rc ? rc : flo__put_str16(v, d->owner);
}

int flo_action_register_value_sdk(struct flo_wbuf *v, const struct flo_action_def *d)
{
    static const uint8_t flags[SDK_FLAG_BYTES] = {0};
    int rc = register_fixed(v, d);
    if (rc == 0) {
        rc = flo_wbuf_u8(v, d->description.len ? 1 : 0);
    }
    if (rc == 0 && d->description.len) {
        rc = flo__put_str16(v, d->description);
    }
    return rc ? rc : flo_wbuf_append(v, flags, sizeof flags);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* The SDK register form has an exact length and ends in five zero bytes. */
static bool parse_register_sdk(flo_buf_t value, struct flo_action_def *d)
{
    const uint8_t *p = value.ptr;
    if (value.len < REGISTER_FIXED + 1 + SDK_FLAG_BYTES ||
        !all_zero(p + value.len - SDK_FLAG_BYTES, SDK_FLAG_BYTES)) {
        return false;
    }
    uint8_t has_desc = p[REGISTER_FIXED];
    if (has_desc == 0 && value.len == REGISTER_FIXED + 1 + SDK_FLAG_BYTES) {
        d->description = FLO_BUF_NULL;
    } else if (has_desc == 1 && value.len >= REGISTER_FIXED + 3 + SDK_FLAG_BYTES) {
        size_t dl = flo_ld16(p + REGISTER_FIXED + 1);
        if (value.len != REGISTER_FIXED + 3 + dl + SDK_FLAG_BYTES) {
            return false;
        }
        d->description = FLO_BUF(p + REGISTER_FIXED + 3, dl);
    } else {
        return false;
    }
    d->sdk_form = true;
    d->owner = FLO_BUF_NULL;
    return true;
}

int flo_action_parse_register(flo_buf_t value, struct flo_action_def *d)
{
    *d = (struct flo_action_def){.type = 0,
                                 .timeout_ms = FLO_ACTION_DEFAULT_TIMEOUT_MS,
                                 .max_retries = FLO_ACTION_DEFAULT_MAX_RETRIES};
    const uint8_t *p = value.ptr;
    if (value.len >= 1) {
        d->type = p[0];
    }
    if (value.len >= 5) {
        d->timeout_ms = flo_ld32(p + 1);
    }
    if (value.len >= REGISTER_FIXED) {
        d->max_retries = flo_ld32(p + 5);
    }
    if (value.len < REGISTER_FIXED + 2) {
        return 0;
    }
    size_t ol = flo_ld16(p + REGISTER_FIXED);
    if (value.len == REGISTER_FIXED + 2 + ol) {
        d->owner = FLO_BUF(p + REGISTER_FIXED + 2, ol);
        return 0;
    }
    if (parse_register_sdk(value, d)) {
        return 0;
    }
    /* What the server does: an owner that does not fit is empty, and bytes
     * after a fitting owner are ignored. */
    if (REGISTER_FIXED + 2 + ol <= value.len) {
        d->owner = FLO_BUF(p + REGISTER_FIXED + 2, ol);
    }
    return 0;
}

/* ---- invoke ---- */

int flo_action_invoke_value(struct flo_wbuf *v, const struct flo_action_invoke_args *a)
{
    int rc = flo_wbuf_u8(v, a->priority);
    if (rc == 0) {
        rc = flo_wbuf_u64(v, (uint64_t)a->delay_ms);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(v, 0); /* has_caller: no caller block exists on the wire */
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(v, a->has_idempotency_key ? 1 : 0);
    }
    if (rc == 0 && a->has_idempotency_key) {
        rc = flo__put_str16(v, a->idempotency_key);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(v, a->has_labels ? 1 : 0);
    }
    if (rc == 0 && a->has_labels) {
        rc = flo__put_str16(v, a->labels);
    }
    return rc ? rc : flo_wbuf_append(v, a->input.ptr, a->input.len);
}

int flo_action_invoke_value_short(struct flo_wbuf *v, const struct flo_action_invoke_args *a)
{
    int rc = flo_wbuf_u8(v, a->has_labels ? 1 : 0);
    if (rc == 0 && a->has_labels) {
        rc = flo__put_str16(v, a->labels);
    }
    return rc ? rc : flo_wbuf_append(v, a->input.ptr, a->input.len);
}

/* Short form [has_labels][labels?][input], only below 11 bytes (ops.md §7). */
static bool parse_invoke_short(flo_buf_t value, struct flo_action_invoke_args *a)
{
    if (value.len == 0 || value.ptr[0] > 1) {
        return false;
    }
    struct flo_cur c;
    flo_cur_init(&c, FLO_BUF(value.ptr + 1, value.len - 1));
    if (value.ptr[0] == 1) {
        if (flo_cur_str16(&c, &a->labels) != 0) {
            return false;
        }
        a->has_labels = true;
    }
    a->input = flo_cur_rest(&c);
    a->short_form = true;
    return true;
}

int flo_action_parse_invoke(flo_buf_t value, struct flo_action_invoke_args *a)
{
    *a = (struct flo_action_invoke_args){0};
    if (value.len < INVOKE_HEADER) {
        if (!parse_invoke_short(value, a)) {
            *a = (struct flo_action_invoke_args){0};
            a->input = value; /* the server takes it whole as the input */
        }
        return 0;
    }
    struct flo_cur c;
    flo_cur_init(&c, value);
    uint8_t has_caller, has_idem, has_labels = 0;
    uint64_t delay;
    flo_cur_u8(&c, &a->priority);
    flo_cur_u64(&c, &delay);
    a->delay_ms = (int64_t)delay;
    flo_cur_u8(&c, &has_caller);
    flo_cur_u8(&c, &has_idem);
    if (has_idem == 1) {
        a->has_idempotency_key = flo_cur_str16(&c, &a->idempotency_key) == 0;
    }
    if (flo_cur_u8(&c, &has_labels) == 0 && has_labels == 1) {
        a->has_labels = flo_cur_str16(&c, &a->labels) == 0;
    }
    /* A value cut inside the idempotency or labels block gives an empty
     * input (the cursor failed and stays failed). */
    a->input = c.err ? FLO_BUF_NULL : flo_cur_rest(&c);
    return 0;
}

int flo_action_dec_invoke(flo_buf_t body, flo_buf_t *run_id, flo_buf_t *output)
{
    struct flo_cur c;
    uint8_t has_output = 0;
    flo_cur_init(&c, body);
    flo_cur_str16(&c, run_id);
    flo_cur_u8(&c, &has_output);
    *output = FLO_BUF_NULL;
    if (c.err != 0) {
        return c.err;
    }
    if (has_output > 1) {
        return FLO_EMALFORMED;
    }
    if (has_output == 1) {
        *output = flo_cur_rest(&c);
        return 0;
    }
    return flo__ops_end(&c);
}

int flo_action_invoke_reply_put(struct flo_wbuf *b, flo_buf_t run_id)
{
    int rc = flo__put_str16(b, run_id);
    return rc ? rc : flo_wbuf_u8(b, 0);
}

int flo_run_id_make(uint64_t unix_ms, uint32_t partition, uint32_t seq, char *out, size_t cap)
{
    uint64_t ms = unix_ms > FLO_RUN_ID_EPOCH_MS ? unix_ms - FLO_RUN_ID_EPOCH_MS : 0;
    uint64_t v = (ms << RUN_ID_TS_SHIFT) |
                 ((uint64_t)(partition & RUN_ID_PART_MASK) << RUN_ID_PART_SHIFT) |
                 (seq & RUN_ID_SEQ_MASK);
    int n = snprintf(out, cap, RUN_ID_PREFIX "%llx", (unsigned long long)v);
    if (n < 0 || (size_t)n >= cap) {
        return FLO_EINVAL;
    }
    return n;
}

/* ---- status ---- */

/* [has u8]([i64])?; *v is 0 when absent or on error. */
static int read_opt_i64(struct flo_cur *c, bool *has, int64_t *v)
{
    uint64_t t = 0;
    int rc = flo__cur_flag(c, has);
    if (rc == 0 && *has) {
        rc = flo_cur_u64(c, &t);
    }
    *v = (int64_t)t;
    return rc;
}

/* [has u8]([str32])?; *v is empty when absent. */
static int read_opt_str32(struct flo_cur *c, bool *has, flo_buf_t *v)
{
    *v = FLO_BUF_NULL;
    int rc = flo__cur_flag(c, has);
    return (rc == 0 && *has) ? flo_cur_str32(c, v) : rc;
}

int flo_action_dec_status(flo_buf_t body, struct flo_action_run *r)
{
    struct flo_cur c;
    uint64_t t = 0;
    int rc;
    *r = (struct flo_action_run){0};
    flo_cur_init(&c, body);
    flo_cur_str32(&c, &r->run_id);
    flo_cur_u8(&c, &r->status);
    flo_cur_u64(&c, &t);
    r->created_at_ms = (int64_t)t;
    if ((rc = read_opt_i64(&c, &r->has_started, &r->started_at_ms)) != 0 ||
        (rc = read_opt_i64(&c, &r->has_completed, &r->completed_at_ms)) != 0 ||
        (rc = read_opt_str32(&c, &r->has_output, &r->output)) != 0 ||
        (rc = read_opt_str32(&c, &r->has_error, &r->error)) != 0) {
        return rc;
    }
    flo_cur_u32(&c, &r->retry_count);
    return flo__ops_end(&c);
}

static int put_opt_i64(struct flo_wbuf *b, bool has, int64_t v)
{
    int rc = flo_wbuf_u8(b, has ? 1 : 0);
    return (rc == 0 && has) ? flo_wbuf_u64(b, (uint64_t)v) : rc;
}

static int put_opt_str32(struct flo_wbuf *b, bool has, flo_buf_t v)
{
    int rc = flo_wbuf_u8(b, has ? 1 : 0);
    return (rc == 0 && has) ? flo__put_str32(b, v) : rc;
}

int flo_action_status_put(struct flo_wbuf *b, const struct flo_action_run *r)
{
    int rc = flo__put_str32(b, r->run_id);
    if (rc == 0) {
        rc = flo_wbuf_u8(b, r->status);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, (uint64_t)r->created_at_ms);
    }
    if (rc == 0) {
        rc = put_opt_i64(b, r->has_started, r->started_at_ms);
    }
    if (rc == 0) {
        rc = put_opt_i64(b, r->has_completed, r->completed_at_ms);
    }
    if (rc == 0) {
        rc = put_opt_str32(b, r->has_output, r->output);
    }
    if (rc == 0) {
        rc = put_opt_str32(b, r->has_error, r->error);
    }
    return rc ? rc : flo_wbuf_u32(b, r->retry_count);
}

/* ---- list ---- */

#define ACTION_LIST_VALUE_LEN 6 /* type u8 + version u32 + enabled u8 */

static int list_entry_read(struct flo_cur *c, void *entry)
{
    struct flo_action_list_entry *e = entry;
    flo_buf_t val;
    uint32_t vl = 0;
    flo_cur_str16(c, &e->name);
    flo_cur_u32(c, &vl);
    if (flo_cur_bytes(c, vl, &val) != 0) {
        return c->err;
    }
    if (vl < ACTION_LIST_VALUE_LEN) {
        return FLO_EMALFORMED;
    }
    e->type = val.ptr[0];
    e->version = flo_ld32(val.ptr + 1);
    e->enabled = val.ptr[5] != 0;
    return 0;
}

int flo_action_list_begin(flo_buf_t body, struct flo_action_list_iter *it, uint32_t *count)
{
    struct flo_action_list_entry e;
    return flo__list_begin(body, &it->cur, &it->remaining, count, list_entry_read, &e,
                           FLO__LIST_TRAILER);
}

int flo_action_list_next(struct flo_action_list_iter *it, struct flo_action_list_entry *e)
{
    return flo__list_next(&it->cur, &it->remaining, list_entry_read, e);
}

int flo_action_list_entry_put(struct flo_wbuf *b, const struct flo_action_list_entry *e)
{
    int rc = flo__put_str16(b, e->name);
    if (rc == 0) {
        rc = flo_wbuf_u32(b, ACTION_LIST_VALUE_LEN);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, e->type);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, e->version);
    }
    return rc ? rc : flo_wbuf_u8(b, e->enabled ? 1 : 0);
}

/* ---- list_runs ---- */

int flo_action_list_runs_value(struct flo_wbuf *v, uint32_t limit)
{
    return flo_wbuf_u32(v, limit);
}

int flo_action_parse_list_runs(flo_buf_t value, uint32_t *limit)
{
    *limit = FLO_ACTION_DEFAULT_RUNS_LIMIT; /* also when the value is malformed */
    return flo__parse_u32_or(value, FLO_ACTION_DEFAULT_RUNS_LIMIT, limit);
}

static int run_summary_read(struct flo_cur *c, void *entry)
{
    struct flo_action_run_summary *s = entry;
    uint64_t t = 0;
    int rc;
    flo_cur_str16(c, &s->run_id);
    flo_cur_str16(c, &s->action);
    flo_cur_u8(c, &s->status);
    flo_cur_u64(c, &t);
    s->created_at_ms = (int64_t)t;
    if ((rc = read_opt_i64(c, &s->has_started, &s->started_at_ms)) != 0) {
        return rc;
    }
    return read_opt_i64(c, &s->has_completed, &s->completed_at_ms);
}

int flo_action_runs_begin(flo_buf_t body, struct flo_action_runs_iter *it, uint32_t *count)
{
    struct flo_action_run_summary s;
    return flo__list_begin(body, &it->cur, &it->remaining, count, run_summary_read, &s,
                           FLO__LIST_EXACT);
}

int flo_action_runs_next(struct flo_action_runs_iter *it, struct flo_action_run_summary *s)
{
    return flo__list_next(&it->cur, &it->remaining, run_summary_read, s);
}

int flo_action_run_summary_put(struct flo_wbuf *b, const struct flo_action_run_summary *s)
{
    int rc = flo__put_str16(b, s->run_id);
    if (rc == 0) {
        rc = flo__put_str16(b, s->action);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, s->status);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, (uint64_t)s->created_at_ms);
    }
    if (rc == 0) {
        rc = put_opt_i64(b, s->has_started, s->started_at_ms);
    }
    return rc ? rc : put_opt_i64(b, s->has_completed, s->completed_at_ms);
}

/* ---- await and the task assignment ---- */

int flo_action_await_value(struct flo_wbuf *v, const flo_buf_t *names, size_t n)
{
    if (n == 0 || n > UINT32_MAX || names[0].len == 0) {
        return FLO_EINVAL;
    }
    int rc = flo_wbuf_u32(v, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = flo__put_str16(v, names[i]);
    }
    return rc;
}

int flo_action_parse_await(flo_buf_t value, struct flo_name_list_iter *it, uint32_t *count)
{
    flo_cur_init(&it->cur, value);
    it->remaining = 0;
    *count = 0;
    uint32_t n = 0;
    flo_buf_t name;
    flo_cur_u32(&it->cur, &n);
    struct flo_cur c = it->cur;
    if (n == 0 || flo_cur_str16(&c, &name) != 0 || name.len == 0) {
        return FLO_EMALFORMED;
    }
    int rc = flo__list_skip(&c, n - 1, flo__str16_read, &name);
    if (rc != 0) {
        return rc;
    }
    it->remaining = n;
    *count = n;
    return 0;
}

int flo_action_await_next(struct flo_name_list_iter *it, flo_buf_t *name)
{
    return flo__list_next(&it->cur, &it->remaining, flo__str16_read, name);
}

/* A fallback body is the run id text itself ("act-<hex>"). Its first two
 * bytes, read as a full body's task-id length, give 0x6361 (25441): more
 * than the body holds, which a full body's prefix never is. */
static bool is_bare_run_id(flo_buf_t body)
{
    return body.len >= RUN_ID_PREFIX_LEN &&
           memcmp(body.ptr, RUN_ID_PREFIX, RUN_ID_PREFIX_LEN) == 0 &&
           (size_t)flo_ld16(body.ptr) + 2 > body.len;
}

int flo_action_dec_task(flo_buf_t body, struct flo_action_task *t)
{
    *t = (struct flo_action_task){0};
    if (body.len == 0) {
        return 0; /* no task: timeout, waiter pool full, block_ms 0 */
    }
    t->present = true;
    if (is_bare_run_id(body)) {
        t->bare_run_id = true;
        t->task_id = body;
        return 0;
    }
    struct flo_cur c;
    uint64_t created = 0;
    uint8_t has_caller = 0;
    flo_cur_init(&c, body);
    flo_cur_str16(&c, &t->task_id);
    flo_cur_str16(&c, &t->task_type);
    flo_cur_u64(&c, &created);
    t->created_at_ms = (int64_t)created;
    flo_cur_u32(&c, &t->attempt);
    flo_cur_u8(&c, &has_caller);
    if (c.err != 0) {
        return c.err;
    }
    if (has_caller > 1) {
        return FLO_EMALFORMED;
    }
    t->has_caller = has_caller == 1;
    if (t->has_caller) {
        flo_cur_str16(&c, &t->caller_run_id);
        flo_cur_str16(&c, &t->caller_workflow);
        if (c.err != 0) {
            return c.err;
        }
    }
    t->input = flo_cur_rest(&c);
    return 0;
}

int flo_action_task_put(struct flo_wbuf *b, const struct flo_action_task *t)
{
    size_t full = 2 + t->task_id.len + 2 + t->task_type.len + 8 + 4 + 1 + t->input.len;
    if (t->has_caller) {
        full += 2 + t->caller_run_id.len + 2 + t->caller_workflow.len;
    }
    if (full > FLO_TASK_MAX_BODY) {
        return flo_wbuf_append(b, t->task_id.ptr, t->task_id.len);
    }
    int rc = flo__put_str16(b, t->task_id);
    if (rc == 0) {
        rc = flo__put_str16(b, t->task_type);
    }
    if (rc == 0) {
        rc = flo_wbuf_u64(b, (uint64_t)t->created_at_ms);
    }
    if (rc == 0) {
        rc = flo_wbuf_u32(b, t->attempt);
    }
    if (rc == 0) {
        rc = flo_wbuf_u8(b, t->has_caller ? 1 : 0);
    }
    if (rc == 0 && t->has_caller) {
        rc = flo__put_str16(b, t->caller_run_id);
        if (rc == 0) {
            rc = flo__put_str16(b, t->caller_workflow);
        }
    }
    return rc ? rc : flo_wbuf_append(b, t->input.ptr, t->input.len);
}

/* ---- complete / fail / touch ---- */

static int put_action_task(struct flo_wbuf *v, flo_buf_t action, flo_buf_t task_id)
{
    int rc = flo__put_str16(v, action);
    return rc ? rc : flo__put_str16(v, task_id);
}

int flo_action_complete_value(struct flo_wbuf *v, const struct flo_action_complete_args *a)
{
    int rc = put_action_task(v, a->action, a->task_id);
    if (rc == 0) {
        rc = flo__put_str16(v, a->outcome);
    }
    if (rc == 0 && a->has_result) {
        rc = flo__put_str16(v, a->result);
    }
    return rc;
}

int flo_action_parse_complete(flo_buf_t value, struct flo_action_complete_args *a)
{
    struct flo_cur c;
    *a = (struct flo_action_complete_args){0};
    flo_cur_init(&c, value);
    flo_cur_str16(&c, &a->action);
    flo_cur_str16(&c, &a->task_id);
    flo_cur_str16(&c, &a->outcome);
    if (c.err != 0) {
        return FLO_EMALFORMED;
    }
    if (c.left == 0) {
        return 0; /* the result is optional */
    }
    if (flo_cur_str16(&c, &a->result) != 0) {
        return FLO_EMALFORMED;
    }
    a->has_result = true;
    return 0;
}

int flo_action_fail_value(struct flo_wbuf *v, const struct flo_action_fail_args *a)
{
    int rc = put_action_task(v, a->action, a->task_id);
    if (rc == 0) {
        rc = flo_wbuf_u8(v, a->retry ? 1 : 0);
    }
    return rc ? rc : flo_wbuf_append(v, a->message.ptr, a->message.len);
}

int flo_action_parse_fail(flo_buf_t value, struct flo_action_fail_args *a)
{
    struct flo_cur c;
    uint8_t retry = 0;
    *a = (struct flo_action_fail_args){0};
    flo_cur_init(&c, value);
    flo_cur_str16(&c, &a->action);
    flo_cur_str16(&c, &a->task_id);
    flo_cur_u8(&c, &retry);
    if (c.err != 0) {
        return FLO_EMALFORMED;
    }
    a->retry = retry != 0;
    a->message = flo_cur_rest(&c);
    return 0;
}

int flo_action_touch_value(struct flo_wbuf *v, const struct flo_action_touch_args *a)
{
    int rc = put_action_task(v, a->action, a->task_id);
    return (rc == 0 && a->has_extend) ? flo_wbuf_u32(v, a->extend_ms) : rc;
}

int flo_action_parse_touch(flo_buf_t value, struct flo_action_touch_args *a)
{
    struct flo_cur c;
    *a = (struct flo_action_touch_args){0};
    flo_cur_init(&c, value);
    flo_cur_str16(&c, &a->action);
    flo_cur_str16(&c, &a->task_id);
    if (c.err != 0) {
        return FLO_EMALFORMED;
    }
    if (c.left == 4) {
        a->has_extend = true;
        flo_cur_u32(&c, &a->extend_ms);
    }
    return 0;
}
