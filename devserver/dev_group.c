/*
 * flo-dev's consumer groups (dev_group.h): members, the group cursor, the
 * pending-entries list with delivery counts and idle timers, ack / nack /
 * touch, claim with its cursor, pending, info, and the sweeper that bumps
 * or drops entries idle past ack_timeout_ms. State lives on the stream
 * (dev_stream_internal.h), so deleting a stream deletes its groups.
 */
#include <stdlib.h>
#include <string.h>

#include "dev_stream_internal.h"
#include "flo/flo_error.h"

#define PEL_MIN     64 /* first PEL allocation */
#define COMPACT_MIN 64 /* tombstones tolerated before compaction is considered */
#define NS_PER_MS   1000000ull

static const char oom_msg[] = "internal error: out of memory";

/* ---- lookup ---- */

/*
 * Validate names and find the stream and group. With create, the stream
 * and group are made as needed (defaults); *created tells (may be NULL).
 */
static uint8_t find_group(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                          bool create, struct dev_group **g, bool *created, const char **msg)
{
    *g = NULL;
    if (created != NULL) {
        *created = false;
    }
    uint8_t key[DEV_STREAM_MAX_NAME];
    size_t klen;
    uint8_t st = dev_stream_make_key(ns, stream, key, &klen, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (klen + 1 + group.len > DEV_STREAM_MAX_NAME) { /* ns \0 stream \0 group */
        *msg = DEV_GROUP_MSG_NAME_LONG;
        return FLO_STATUS_BAD_REQUEST;
    }
    struct dev_stream *s;
    st = dev__stream_find(ss, ns, stream, create, &s, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_group *found = NULL;
    if (s != NULL) {
        HASH_FIND(hh, s->groups, group.ptr, group.len, found);
    }
    if (found != NULL) {
        *g = found;
        return FLO_STATUS_OK;
    }
    if (!create) {
        *msg = DEV_GROUP_MSG_NOT_FOUND;
        return FLO_STATUS_NOT_FOUND;
    }
    if (s->n_groups >= DEV_GROUP_MAX_GROUPS) {
        *msg = "flo-dev consumer group limit reached (1000 groups per stream)";
        return FLO_STATUS_OVERLOADED;
    }
    struct dev_group *ng = calloc(1, sizeof *ng + group.len);
    if (ng == NULL) {
        *msg = oom_msg;
        return FLO_STATUS_INTERNAL;
    }
    memcpy(ng->name, group.ptr, group.len);
    ng->nlen = group.len;
    ng->ack_timeout_ms = DEV_GROUP_DEFAULT_ACK_TIMEOUT_MS;
    ng->max_deliver = DEV_GROUP_DEFAULT_MAX_DELIVER;
    ng->created_at_ns = ss->clk.wall_ms(ss->clk.ud) * NS_PER_MS;
    HASH_ADD(hh, s->groups, name, ng->nlen, ng);
    s->n_groups++;
    *g = ng;
    if (created != NULL) {
        *created = true;
    }
    return FLO_STATUS_OK;
}

static struct dev_stream *group_stream(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream)
{
    struct dev_stream *s = NULL;
    const char *msg;
    (void)dev__stream_find(ss, ns, stream, false, &s, &msg);
    return s;
}

static struct dev_member *member_find(struct dev_group *g, flo_buf_t name)
{
    struct dev_member *m = NULL;
    HASH_FIND(hh, g->members, name.ptr, name.len, m);
    return m;
}

/* Find or add a member; an existing leaving member becomes active. */
static uint8_t member_join(struct dev_group *g, flo_buf_t name, struct dev_member **out,
                           const char **msg)
{
    struct dev_member *m = member_find(g, name);
    if (m == NULL) {
        if (g->n_members >= DEV_GROUP_MAX_MEMBERS) {
            *msg = "flo-dev consumer limit reached (10000 consumers per group)";
            return FLO_STATUS_OVERLOADED;
        }
        m = calloc(1, sizeof *m + name.len);
        if (m == NULL) {
            *msg = oom_msg;
            return FLO_STATUS_INTERNAL;
        }
        memcpy(m->name, name.ptr, name.len);
        m->nlen = name.len;
        HASH_ADD(hh, g->members, name, m->nlen, m);
        g->n_members++;
    }
    m->leaving = false;
    *out = m;
    return FLO_STATUS_OK;
}

static void member_free(struct dev_group *g, struct dev_member *m)
{
    HASH_DEL(g->members, m);
    g->n_members--;
    free(m);
}

/* A member lost one pending entry: a leaving member with none left goes. */
static void member_release(struct dev_group *g, struct dev_member *m)
{
    m->pending--;
    if (m->pending == 0 && m->leaving) {
        member_free(g, m);
    }
}

static void group_free(struct dev_stream *s, struct dev_group *g)
{
    struct dev_member *m, *tmp;
    HASH_ITER(hh, g->members, m, tmp)
    {
        member_free(g, m);
    }
    HASH_DEL(s->groups, g);
    s->n_groups--;
    free(g->pel);
    free(g);
}

void dev__groups_free(struct dev_stream *s)
{
    struct dev_group *g, *tmp;
    HASH_ITER(hh, s->groups, g, tmp)
    {
        group_free(s, g);
    }
}

/* ---- the PEL ---- */

/* Index of the first slot whose id is >= id (pel_len if none). */
static size_t pel_lower(const struct dev_group *g, struct flo_stream_id id)
{
    size_t lo = 0, hi = g->pel_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (flo_stream_id_cmp(g->pel[mid].id, id) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The live slot holding id, or NULL. */
static struct dev_pel *pel_find(struct dev_group *g, struct flo_stream_id id)
{
    size_t i = pel_lower(g, id);
    if (i < g->pel_len && g->pel[i].owner != NULL && flo_stream_id_cmp(g->pel[i].id, id) == 0) {
        return &g->pel[i];
    }
    return NULL;
}

static void pel_remove(struct dev_group *g, struct dev_pel *e)
{
    struct dev_member *owner = e->owner;
    e->owner = NULL;
    g->pel_live--;
    member_release(g, owner);
}

/* Squeeze tombstones out once they outnumber live slots. */
static void pel_maybe_compact(struct dev_group *g)
{
    size_t dead = g->pel_len - g->pel_live;
    if (dead < COMPACT_MIN || dead < g->pel_live) {
        return;
    }
    size_t w = 0;
    for (size_t r = 0; r < g->pel_len; r++) {
        if (g->pel[r].owner != NULL) {
            g->pel[w++] = g->pel[r];
        }
    }
    g->pel_len = w;
}

static int pel_reserve(struct dev_group *g, size_t extra)
{
    if (g->pel_len + extra <= g->pel_cap) {
        return 0;
    }
    pel_maybe_compact(g);
    size_t need = g->pel_len + extra;
    if (need <= g->pel_cap) {
        return 0;
    }
    size_t ncap = g->pel_cap == 0 ? PEL_MIN : g->pel_cap;
    while (ncap < need) {
        ncap *= 2;
    }
    struct dev_pel *np = realloc(g->pel, ncap * sizeof *np);
    if (np == NULL) {
        return FLO_ENOMEM;
    }
    g->pel = np;
    g->pel_cap = ncap;
    return 0;
}

/* ---- create, configure, join, leave, delete, info ---- */

static void apply_settings(struct dev_group *g, const struct dev_group_settings *set)
{
    if (set->has_ack_timeout) {
        g->ack_timeout_ms = set->ack_timeout_ms;
    }
    if (set->has_max_deliver) {
        g->max_deliver = set->max_deliver;
    }
}

uint8_t dev_group_create(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                         const struct dev_group_settings *set, const char **msg)
{
    struct dev_group *g;
    bool created;
    uint8_t st = find_group(ss, ns, stream, group, true, &g, &created, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (!created) {
        *msg = DEV_GROUP_MSG_EXISTS;
        return FLO_STATUS_CONFLICT;
    }
    apply_settings(g, set);
    return FLO_STATUS_OK;
}

uint8_t dev_group_configure(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                            const struct dev_group_settings *set, const char **msg)
{
    struct dev_group *g;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st == FLO_STATUS_OK) {
        apply_settings(g, set);
    }
    return st;
}

uint8_t dev_group_join(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       flo_buf_t consumer, const char **msg)
{
    struct dev_group *g;
    uint8_t st = find_group(ss, ns, stream, group, true, &g, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_member *m;
    return member_join(g, consumer, &m, msg);
}

uint8_t dev_group_leave(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer, const char **msg)
{
    struct dev_group *g;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_member *m = member_find(g, consumer);
    if (m == NULL) {
        return FLO_STATUS_OK;
    }
    if (m->pending > 0) {
        m->leaving = true; /* kept until its entries are acked, dropped or claimed */
    } else {
        member_free(g, m);
    }
    return FLO_STATUS_OK;
}

uint8_t dev_group_delete(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                         const char **msg)
{
    struct dev_group *g;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st == FLO_STATUS_OK) {
        group_free(group_stream(ss, ns, stream), g);
    }
    return st;
}

uint8_t dev_group_info(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       struct flo_group_info *out, const char **msg)
{
    struct dev_group *g;
    *out = (struct flo_group_info){0};
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st == FLO_STATUS_OK) {
        out->pending_count = g->pel_live;
        out->member_count = g->n_members;
        out->created_at_ns = g->created_at_ns;
    }
    return st;
}

/* ---- read ---- */

uint8_t dev_group_read(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                       flo_buf_t consumer, uint32_t count, struct flo_stream_record *out, size_t *n,
                       const char **msg)
{
    struct dev_group *g;
    struct dev_member *m;
    *n = 0;
    uint8_t st = find_group(ss, ns, stream, group, true, &g, NULL, msg);
    if (st == FLO_STATUS_OK) {
        st = member_join(g, consumer, &m, msg);
    }
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_stream *s = group_stream(ss, ns, stream);
    struct flo_stream_id last = g->cursor;
    size_t got =
        dev__stream_collect(s, g->has_cursor, g->cursor, false, last, false, 0, count, out, &last);
    if (got == 0) {
        return FLO_STATUS_OK;
    }
    if (g->pel_live + got > DEV_GROUP_MAX_PENDING) {
        *msg = "consumer group has too many pending entries (1000000); ack or claim some first";
        return FLO_STATUS_OVERLOADED;
    }
    if (pel_reserve(g, got) != 0) {
        *msg = oom_msg;
        return FLO_STATUS_INTERNAL;
    }
    uint64_t now = ss->clk.mono_ms(ss->clk.ud);
    for (size_t i = 0; i < got; i++) {
        g->pel[g->pel_len++] =
            (struct dev_pel){.id = out[i].id, .owner = m, .delivery_count = 1, .delivered_at = now};
    }
    g->pel_live += got;
    m->pending += (uint32_t)got;
    g->cursor = last;
    g->has_cursor = true;
    *n = got;
    return FLO_STATUS_OK;
}

/* ---- ack, nack, touch ---- */

uint8_t dev_group_apply(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        enum dev_group_id_op_e op, const struct flo_stream_id *ids, size_t n,
                        uint32_t *found, const char **msg)
{
    struct dev_group *g;
    *found = 0;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (op == DEV_GROUP_ACK && n == 0) {
        *msg = DEV_GROUP_MSG_IDS_REQUIRED;
        return FLO_STATUS_BAD_REQUEST;
    }
    uint64_t now = ss->clk.mono_ms(ss->clk.ud);
    for (size_t i = 0; i < n; i++) {
        struct dev_pel *e = pel_find(g, ids[i]);
        if (e == NULL) {
            continue;
        }
        (*found)++;
        switch (op) {
        case DEV_GROUP_ACK:
            pel_remove(g, e);
            break;
        case DEV_GROUP_NACK:
            e->delivery_count++;
            e->delivered_at = now;
            break;
        case DEV_GROUP_TOUCH:
            e->delivered_at = now;
            break;
        }
    }
    pel_maybe_compact(g);
    return FLO_STATUS_OK;
}

/* ---- claim ---- */

uint8_t dev_group_claim(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer, uint32_t min_idle_ms, struct flo_stream_id start,
                        uint32_t count, struct flo_stream_record *out, size_t *n,
                        struct flo_stream_id *next, const char **msg)
{
    struct dev_group *g;
    struct dev_member *m;
    *n = 0;
    *next = FLO_STREAM_ID_MAX;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st == FLO_STATUS_OK) {
        st = member_join(g, consumer, &m, msg);
    }
    if (st != FLO_STATUS_OK) {
        return st;
    }
    if (count == 0) {
        count = FLO_GROUP_DEFAULT_CLAIM;
    }
    if (count > FLO_GROUP_MAX_CLAIM) {
        count = FLO_GROUP_MAX_CLAIM;
    }
    struct dev_stream *s = group_stream(ss, ns, stream);
    uint64_t now = ss->clk.mono_ms(ss->clk.ud);
    uint32_t claimed = 0;
    size_t i = pel_lower(g, start);
    for (; i < g->pel_len && claimed < count; i++) {
        struct dev_pel *e = &g->pel[i];
        if (e->owner == NULL || now - e->delivered_at < min_idle_ms) {
            continue;
        }
        if (e->owner != m) {
            struct dev_member *old = e->owner;
            e->owner = m;
            m->pending++;
            member_release(g, old);
        }
        e->delivery_count++;
        e->delivered_at = now;
        claimed++;
        if (s != NULL && dev__stream_lookup(s, e->id, &out[*n])) {
            (*n)++;
        }
    }
    /* The cursor: the next live entry not examined, if any. */
    for (; i < g->pel_len; i++) {
        if (g->pel[i].owner != NULL) {
            *next = g->pel[i].id;
            break;
        }
    }
    return FLO_STATUS_OK;
}

/* ---- pending ---- */

uint8_t dev_group_pending(struct dev_streams *ss, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                          flo_buf_t consumer, struct flo_group_pending_entry *out, size_t *n,
                          const char **msg)
{
    struct dev_group *g;
    *n = 0;
    uint8_t st = find_group(ss, ns, stream, group, false, &g, NULL, msg);
    if (st != FLO_STATUS_OK) {
        return st;
    }
    struct dev_member *only = NULL;
    if (consumer.len > 0) {
        only = member_find(g, consumer);
        if (only == NULL) {
            return FLO_STATUS_OK; /* an unknown consumer owns nothing */
        }
    }
    for (size_t i = 0; i < g->pel_len && *n < DEV_GROUP_MAX_LIST; i++) {
        const struct dev_pel *e = &g->pel[i];
        if (e->owner == NULL || (only != NULL && e->owner != only)) {
            continue;
        }
        out[(*n)++] = (struct flo_group_pending_entry){
            .id = e->id,
            .delivery_count = e->delivery_count,
            .consumer = FLO_BUF(e->owner->name, e->owner->nlen),
        };
    }
    return FLO_STATUS_OK;
}

/* ---- sweeper ---- */

size_t dev__groups_sweep(struct dev_stream *s, uint64_t now)
{
    size_t dropped = 0;
    struct dev_group *g, *tmp;
    HASH_ITER(hh, s->groups, g, tmp)
    {
        if (g->ack_timeout_ms == 0) {
            continue;
        }
        for (size_t i = 0; i < g->pel_len; i++) {
            struct dev_pel *e = &g->pel[i];
            if (e->owner == NULL || now - e->delivered_at < g->ack_timeout_ms) {
                continue;
            }
            if (g->max_deliver > 0 && e->delivery_count >= g->max_deliver) {
                pel_remove(g, e); /* no dead-letter queue: the entry is gone */
                dropped++;
            } else {
                e->delivery_count++;
                e->delivered_at = now;
            }
        }
        pel_maybe_compact(g);
    }
    return dropped;
}
