/*
 * Session records of the consumer-session registry and their indexes: by
 * id (HTTP sessions) and by (namespace, stream, group) -> consumer name ->
 * sessions (RESP consumer lookups, member listings and the check whether a
 * membership is shared by several records); hold / release; RESP consumers. See proto_session.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utlist.h>

#include "flo/flo_error.h"
#include "proto_session_int.h"

/* ---- helpers ---- */

uint64_t proto__sess_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool proto__sess_http_full(const proto_sess_reg_t *reg)
{
    return reg->st.http_sessions >= reg->max_sessions;
}

static int group_key(struct flo_wbuf *b, flo_buf_t ns, flo_buf_t stream, flo_buf_t group)
{
    flo_wbuf_reset(b);
    if (ns.len > UINT16_MAX || group.len > UINT16_MAX || stream.len > UINT32_MAX) {
        return FLO_EINVAL;
    }
    if (flo_wbuf_str16(b, ns.ptr, ns.len) < 0 || flo_wbuf_str32(b, stream.ptr, stream.len) < 0 ||
        flo_wbuf_str16(b, group.ptr, group.len) < 0) {
        return FLO_ENOMEM;
    }
    return 0;
}

static struct sess_group *group_find(const proto_sess_reg_t *reg, const struct flo_wbuf *k)
{
    struct sess_group *g = NULL;
    HASH_FIND(hh, reg->groups, k->data, k->len, g);
    return g;
}

/* ---- session records ---- */

/* A new, unregistered session with copies of the names (id may be empty). */
proto_sess_t *proto__sess_alloc(proto_sess_reg_t *reg, const char *id, size_t id_len, flo_buf_t ns,
                                flo_buf_t stream, flo_buf_t group, flo_buf_t consumer)
{
    size_t n = id_len + 1 + ns.len + stream.len + group.len + consumer.len;
    proto_sess_t *s = calloc(1, sizeof *s + n);
    if (s == NULL) {
        return NULL;
    }
    s->reg = reg;
    reg->records++;
    uint8_t *p = s->mem;
    s->id = (char *)p;
    s->id_len = id_len;
    memcpy(p, id, id_len);
    p[id_len] = '\0';
    p += id_len + 1;
    flo_buf_t *dst[] = {&s->ns, &s->stream, &s->group, &s->consumer};
    flo_buf_t src[] = {ns, stream, group, consumer};
    for (size_t i = 0; i < 4; i++) {
        if (src[i].len > 0) {
            memcpy(p, src[i].ptr, src[i].len);
        }
        *dst[i] = FLO_BUF(p, src[i].len);
        p += src[i].len;
    }
    s->created_wall = s->used_wall = proto__sess_wall_ms();
    s->used_loop = uv_now(reg->loop);
    return s;
}

void proto__sess_free(proto_sess_t *s)
{
    if (s == NULL) {
        return;
    }
    proto_sess_reg_t *reg = s->reg;
    free(s);
    reg->records--;
    proto__sess_reg_release(reg);
}

/* Add to the indexes. 0 or FLO_ENOMEM. */
int proto__sess_register(proto_sess_t *s)
{
    proto_sess_reg_t *reg = s->reg;
    if (group_key(&reg->scratch, s->ns, s->stream, s->group) < 0) {
        return FLO_ENOMEM;
    }
    struct sess_group *g = group_find(reg, &reg->scratch);
    bool new_group = g == NULL;
    if (new_group) {
        g = calloc(1, sizeof *g);
        if (g == NULL || (g->key = malloc(reg->scratch.len)) == NULL) {
            free(g);
            return FLO_ENOMEM;
        }
        memcpy(g->key, reg->scratch.data, reg->scratch.len);
        g->key_len = reg->scratch.len;
    }
    struct sess_cons *c = NULL;
    HASH_FIND(hh, g->cons, s->consumer.ptr, s->consumer.len, c);
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL || (c->name = malloc(s->consumer.len)) == NULL) {
            free(c);
            if (new_group) {
                free(g->key);
                free(g);
            }
            return FLO_ENOMEM;
        }
        memcpy(c->name, s->consumer.ptr, s->consumer.len);
        c->len = s->consumer.len;
        c->grp = g;
        HASH_ADD_KEYPTR(hh, g->cons, c->name, c->len, c);
    }
    if (new_group) {
        HASH_ADD_KEYPTR(hh, reg->groups, g->key, g->key_len, g);
    }
    DL_APPEND2(c->list, s, cprev, cnext);
    s->cons = c;
    if (!s->resp) {
        HASH_ADD_KEYPTR(hh, reg->by_id, s->id, s->id_len, s);
        reg->st.http_sessions++;
    } else {
        reg->st.resp_consumers++;
    }
    DL_APPEND(reg->all, s);
    s->registered = true;
    return 0;
}

void proto__sess_unregister(proto_sess_t *s)
{
    if (!s->registered) {
        return;
    }
    proto_sess_reg_t *reg = s->reg;
    struct sess_cons *c = s->cons;
    DL_DELETE2(c->list, s, cprev, cnext);
    if (c->list == NULL) {
        struct sess_group *g = c->grp;
        HASH_DELETE(hh, g->cons, c);
        free(c->name);
        free(c);
        if (g->cons == NULL) {
            HASH_DELETE(hh, reg->groups, g);
            free(g->key);
            free(g);
        }
    }
    s->cons = NULL;
    if (!s->resp) {
        HASH_DELETE(hh, reg->by_id, s);
        reg->st.http_sessions--;
    } else {
        reg->st.resp_consumers--;
    }
    DL_DELETE(reg->all, s);
    s->registered = false;
}

void proto__sess_touch(proto_sess_t *s)
{
    s->used_loop = uv_now(s->reg->loop);
    s->used_wall = proto__sess_wall_ms();
}

bool proto__sess_shared(proto_sess_t *s)
{
    /* Ended and expired records are unregistered, so the consumer's list
     * holds exactly the live records of this identity. */
    struct sess_cons *c = s->cons;
    if (c == NULL) {
        proto_sess_reg_t *reg = s->reg;
        /* On ENOMEM answer "not shared" and leave as before the check:
         * the other record's next group read joins it again. */
        if (group_key(&reg->scratch, s->ns, s->stream, s->group) < 0) {
            return false;
        }
        struct sess_group *g = group_find(reg, &reg->scratch);
        if (g != NULL) {
            HASH_FIND(hh, g->cons, s->consumer.ptr, s->consumer.len, c);
        }
    }
    if (c == NULL) {
        return false;
    }
    const proto_sess_t *o;
    DL_FOREACH2(c->list, o, cnext)
    {
        if (o != s) {
            return true;
        }
    }
    return false;
}

void proto_sess_hold(proto_sess_t *s)
{
    s->holds++;
    proto__sess_touch(s);
}

void proto_sess_put(proto_sess_t *s)
{
    if (s->holds > 0) {
        s->holds--;
    }
    proto__sess_touch(s);
    if (s->holds == 0 && !s->registered) {
        proto__sess_free(s);
    }
}

/* ---- RESP consumers ---- */

static proto_sess_t *resp_find(const proto_sess_reg_t *reg, flo_buf_t consumer)
{
    struct sess_group *g = group_find(reg, &reg->scratch);
    struct sess_cons *c = NULL;
    if (g != NULL) {
        HASH_FIND(hh, g->cons, consumer.ptr, consumer.len, c);
    }
    proto_sess_t *s = NULL;
    if (c != NULL) {
        DL_FOREACH2(c->list, s, cnext)
        {
            if (s->resp) {
                break;
            }
        }
    }
    return s;
}

int proto_sess_resp_use(proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                        flo_buf_t consumer)
{
    if (reg->closing) {
        return FLO_ECLOSING;
    }
    int rc = group_key(&reg->scratch, ns, stream, group);
    if (rc < 0) {
        return rc;
    }
    proto_sess_t *s = resp_find(reg, consumer);
    if (s != NULL) {
        proto__sess_touch(s);
        return 0;
    }
    /* RESP consumers have their own bound of the same value: names a RESP
     * client makes up must not use up the HTTP sessions' room. */
    if (reg->st.resp_consumers >= reg->max_sessions) {
        return FLO_ELIMIT;
    }
    s = proto__sess_alloc(reg, "", 0, ns, stream, group, consumer);
    if (s == NULL) {
        return FLO_ENOMEM;
    }
    s->resp = true;
    if ((rc = proto__sess_register(s)) < 0) {
        proto__sess_free(s);
        return rc;
    }
    reg->st.created++;
    return 0;
}

void proto_sess_resp_forget(proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream, flo_buf_t group,
                            flo_buf_t consumer)
{
    if (group_key(&reg->scratch, ns, stream, group) < 0) {
        return;
    }
    proto_sess_t *s = resp_find(reg, consumer);
    if (s != NULL) {
        proto__sess_unregister(s);
        if (s->holds == 0) {
            proto__sess_free(s);
        }
    }
}

void proto_sess_foreach_member(const proto_sess_reg_t *reg, flo_buf_t ns, flo_buf_t stream,
                               flo_buf_t group,
                               void (*fn)(void *arg, flo_buf_t consumer, uint64_t idle_ms),
                               void *arg)
{
    /* The scratch buffer is a lookup cache, not state: casting away const
     * for it keeps the visit allocation-free after the first call. */
    struct flo_wbuf *k = (struct flo_wbuf *)&reg->scratch;
    if (group_key(k, ns, stream, group) < 0) {
        return;
    }
    struct sess_group *g = group_find(reg, k);
    if (g == NULL) {
        return;
    }
    uint64_t now = uv_now(reg->loop);
    struct sess_cons *c, *tmp;
    HASH_ITER(hh, g->cons, c, tmp)
    {
        uint64_t idle = UINT64_MAX;
        proto_sess_t *s;
        DL_FOREACH2(c->list, s, cnext)
        {
            uint64_t i = s->holds > 0 ? 0 : now - s->used_loop;
            idle = i < idle ? i : idle;
        }
        fn(arg, FLO_BUF(c->name, c->len), idle);
    }
}
