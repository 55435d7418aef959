/*
 * Request order of one RESP client's pipelined commands. Redis runs a
 * client's commands one after another; the sidecar runs them concurrently
 * upstream and must give the same answers. All of a client's upstream
 * requests travel on one pool connection (resp_upstream.c), which the
 * server reads in order, so most commands can start at once. A command is
 * held back only while the server could still reorder it against an
 * earlier, unfinished command of the same client (see resp__pending_run in
 * resp_internal.h for the rules).
 *
 * Bookkeeping is per key, in a uthash of the client's keys that have
 * unfinished commands, so admitting a command costs O(its keys), not a walk
 * of the pending queue. Counters per key:
 *   held_r / held_w  held (not yet started) readers / writers;
 *   w                started, unfinished writers;
 *   ur / uw          started, unfinished, unsealed readers / writers;
 *   cw[k] / cu[k]    the part of w / uw that has order class k+1.
 * A started command is counted once its handler returns (a sealed read
 * counts nothing, so a GET-only pipeline never touches the hash). Held
 * commands are started by resp__order_start_held in request order; during
 * that walk a command that stays held marks its keys (walk generation) so
 * later held commands cannot overtake it.
 *
 * Order classes: a started command of the same class as p is left out of
 * p's conflicts (w - cw[k], uw - cu[k]), so pipelined pops of one queue, or
 * single-value pushes, go upstream back to back; the server leases each
 * dequeue its own next message and applies the enqueues in order. Held
 * commands still count whatever their class, so a command never overtakes
 * an earlier one that has not started.
 */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "resp_internal.h"

/* Entries for keys up to this size are recycled through the client's
 * free list (at most REFS_KEEP); longer keys get an exact-size entry. */
#define REF_KEY_INLINE 48u
#define REFS_KEEP      32u

struct resp_keyref {
    UT_hash_handle hh;
    struct resp_keyref *next_free; /* c->free_refs */
    unsigned held_r, held_w;
    unsigned w, ur, uw;
    unsigned cw[RESP_ORDER_NCLASSES], cu[RESP_ORDER_NCLASSES];
    unsigned mark_gen; /* walk that set mark_r / mark_w */
    bool mark_r, mark_w;
    uint8_t key[]; /* hh.keylen bytes */
};

/* What a command is counted as (p->acct). */
enum acct_e {
    ACCT_HELD = 1 << 0,   /* held_r / held_w */
    ACCT_RUN = 1 << 1,    /* c->nstarted (and running_barriers for a barrier) */
    ACCT_W = 1 << 2,      /* w */
    ACCT_U = 1 << 3,      /* ur / uw */
    ACCT_FAILED = 1 << 4, /* a key could not be indexed: p runs alone */
};

bool resp__blind_always(const struct resp_pending *p)
{
    (void)p;
    return true;
}

/* Key positions of a command, Redis' (first, last, step) convention. */
static bool key_range(const struct resp_pending *p, size_t *first, size_t *last, size_t *step)
{
    const struct resp_cmd *cmd = p->cmd;
    if (!cmd || cmd->first_key <= 0 || p->args.argc <= (size_t)cmd->first_key) {
        return false;
    }
    *first = (size_t)cmd->first_key;
    *last = cmd->last_key < 0 ? p->args.argc + (size_t)cmd->last_key : (size_t)cmd->last_key;
    if (*last >= p->args.argc) {
        *last = p->args.argc - 1;
    }
    *step = cmd->key_step > 0 ? (size_t)cmd->key_step : 1;
    return true;
}

static struct resp_keyref *ref_find(struct resp_client *c, flo_buf_t key)
{
    struct resp_keyref *r = NULL;
    if (c->keys) {
        HASH_FIND(hh, c->keys, key.ptr, key.len, r);
    }
    return r;
}

static struct resp_keyref *ref_get(struct resp_client *c, flo_buf_t key)
{
    unsigned hv;
    HASH_VALUE(key.ptr, key.len, hv);
    struct resp_keyref *r = NULL;
    if (c->keys) {
        HASH_FIND_BYHASHVALUE(hh, c->keys, key.ptr, key.len, hv, r);
        if (r) {
            return r;
        }
    }
    if (key.len <= REF_KEY_INLINE && c->free_refs) {
        r = c->free_refs;
        c->free_refs = r->next_free;
        c->nfree_refs--;
        memset(r, 0, sizeof(*r));
    } else {
        size_t cap = key.len <= REF_KEY_INLINE ? REF_KEY_INLINE : key.len;
        r = calloc(1, sizeof(*r) + cap);
        if (!r) {
            return NULL;
        }
    }
    memcpy(r->key, key.ptr, key.len);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, c->keys, r->key, key.len, hv, r);
    return r;
}

static void ref_put(struct resp_client *c, struct resp_keyref *r)
{
    if (r->held_r || r->held_w || r->w || r->ur || r->uw) {
        return;
    }
    size_t klen = r->hh.keylen;
    HASH_DEL(c->keys, r);
    if (klen <= REF_KEY_INLINE && c->nfree_refs < REFS_KEEP) {
        r->next_free = c->free_refs;
        c->free_refs = r;
        c->nfree_refs++;
        return;
    }
    free(r);
}

/* Counter changes applied to every key of a command; each *_SUB undoes
 * the *_ADD just before it. */
enum delta_e { D_HELD_ADD, D_HELD_SUB, D_W_ADD, D_W_SUB, D_U_ADD, D_U_SUB };

static void ref_delta(struct resp_keyref *r, const struct resp_pending *p, enum delta_e d)
{
    switch (d) {
    case D_HELD_ADD:
        p->writes ? r->held_w++ : r->held_r++;
        break;
    case D_HELD_SUB:
        p->writes ? r->held_w-- : r->held_r--;
        break;
    case D_W_ADD:
        r->w++;
        if (p->oclass) {
            r->cw[p->oclass - 1]++;
        }
        break;
    case D_W_SUB:
        r->w--;
        if (p->oclass) {
            r->cw[p->oclass - 1]--;
        }
        break;
    case D_U_ADD:
        p->writes ? r->uw++ : r->ur++;
        if (p->oclass) {
            r->cu[p->oclass - 1]++;
        }
        break;
    case D_U_SUB:
        p->writes ? r->uw-- : r->ur--;
        if (p->oclass) {
            r->cu[p->oclass - 1]--;
        }
        break;
    }
}

/* Apply `d` to each key of p. Adding may fail (out of memory for a new
 * entry): then what was added is rolled back and false returned. */
static bool keys_apply(struct resp_pending *p, enum delta_e d)
{
    struct resp_client *c = p->c;
    size_t first, last, step;
    if (!key_range(p, &first, &last, &step)) {
        return true;
    }
    bool add = d == D_HELD_ADD || d == D_W_ADD || d == D_U_ADD;
    if (first == last) {
        /* One key (most commands): the entry found first is kept in p while
         * p is counted in it, which keeps it alive. */
        struct resp_keyref *r = p->kref;
        if (!r) {
            r = add ? ref_get(c, p->args.argv[first]) : ref_find(c, p->args.argv[first]);
        }
        if (!r) {
            return !add;
        }
        ref_delta(r, p, d);
        p->kref = r;
        if (!add) {
            ref_put(c, r);
        }
        return true;
    }
    for (size_t i = first; i <= last; i += step) {
        struct resp_keyref *r = add ? ref_get(c, p->args.argv[i]) : ref_find(c, p->args.argv[i]);
        if (r) {
            ref_delta(r, p, d);
            if (!add) {
                ref_put(c, r);
            }
            continue;
        }
        if (add) {
            for (size_t j = first; j < i; j += step) {
                struct resp_keyref *u = ref_find(c, p->args.argv[j]);
                if (u) {
                    ref_delta(u, p, (enum delta_e)(d + 1));
                    ref_put(c, u);
                }
            }
            return false;
        }
        /* Removing: every key was added before, so it is present. */
    }
    return true;
}

/* Stop counting p as `flags` (its counters were taken back already). */
static void acct_clear(struct resp_pending *p, uint8_t flags)
{
    p->acct &= (uint8_t)~flags;
    if (!(p->acct & (ACCT_HELD | ACCT_W | ACCT_U))) {
        p->kref = NULL; /* no count of p keeps the entry alive any more */
    }
}

/* Would p overtake a started, unfinished command on key r? */
static bool conflict_started(const struct resp_pending *p, const struct resp_keyref *r)
{
    if (p->writes) {
        /* Same-class commands are not conflicts (cw / cu are 0 for none). */
        unsigned same_w = p->oclass ? r->cw[p->oclass - 1] : 0;
        unsigned same_u = p->oclass ? r->cu[p->oclass - 1] : 0;
        return r->ur || r->uw > same_u || (!p->blind && r->w > same_w);
    }
    return r->w > 0;
}

/* Would p overtake a held command on key r (admission: all are earlier)? */
static bool conflict_held(const struct resp_pending *p, const struct resp_keyref *r)
{
    return p->writes ? (r->held_r || r->held_w) : r->held_w > 0;
}

/* Would p overtake a command that stayed held earlier in this walk? */
static bool conflict_marked(const struct resp_pending *p, const struct resp_keyref *r, unsigned gen)
{
    if (r->mark_gen != gen) {
        return false;
    }
    return p->writes ? (r->mark_r || r->mark_w) : r->mark_w;
}

/* Key conflicts of p; `gen` 0 = admission (held counters), else the walk
 * generation (marks of earlier held commands). */
static bool keys_conflict(struct resp_pending *p, unsigned gen)
{
    struct resp_client *c = p->c;
    size_t first, last, step;
    if (!c->keys || !key_range(p, &first, &last, &step)) {
        return false;
    }
    for (size_t i = first; i <= last; i += step) {
        const struct resp_keyref *r = ref_find(c, p->args.argv[i]);
        if (!r) {
            continue;
        }
        if (conflict_started(p, r) || (gen ? conflict_marked(p, r, gen) : conflict_held(p, r))) {
            return true;
        }
    }
    return false;
}

static void keys_mark(struct resp_pending *p, unsigned gen)
{
    struct resp_client *c = p->c;
    size_t first, last, step;
    if (!key_range(p, &first, &last, &step)) {
        return;
    }
    for (size_t i = first; i <= last; i += step) {
        struct resp_keyref *r = ref_find(c, p->args.argv[i]);
        if (!r) {
            continue; /* a held command's keys are indexed */
        }
        if (r->mark_gen != gen) {
            r->mark_gen = gen;
            r->mark_r = r->mark_w = false;
        }
        if (p->writes) {
            r->mark_w = true;
        } else {
            r->mark_r = true;
        }
    }
}

static void hold(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    p->waiting = true;
    p->held_next = NULL;
    if (c->held_tail) {
        c->held_tail->held_next = p;
    } else {
        c->held_head = p;
    }
    c->held_tail = p;
    c->nwaiting++;
    if (keys_apply(p, D_HELD_ADD)) {
        p->acct |= ACCT_HELD;
    } else {
        /* Out of memory for the index: make p a stand-alone command (it
         * starts once everything before it has finished, and everything
         * after it waits), which needs no per-key state. */
        p->acct |= ACCT_FAILED;
        if (!p->barrier) {
            p->barrier = true;
            c->barriers++;
        }
    }
}

/* Count a started command once its handler has returned unfinished. */
static void account_started(struct resp_pending *p)
{
    if (p->writes) {
        if (!keys_apply(p, D_W_ADD)) {
            goto fail;
        }
        p->acct |= ACCT_W;
    }
    if (!p->sealed) {
        if (!keys_apply(p, D_U_ADD)) {
            goto fail;
        }
        p->acct |= ACCT_U;
    }
    return;
fail:
    /* Out of memory for the index: later commands of the client wait for
     * this one as they would for a barrier. */
    p->acct |= ACCT_FAILED;
    if (!p->barrier) {
        p->barrier = true;
        p->c->barriers++;
        p->c->running_barriers++; /* it is running: released as one */
    }
}

static void start(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    c->nstarted++;
    if (p->barrier) {
        c->running_barriers++;
    }
    p->acct |= ACCT_RUN;
    p->in_handler = true;
    p->cmd->handler(p);
    if (c->closing) {
        return; /* p was freed with the client's queue */
    }
    p->in_handler = false;
    if (p->done) {
        resp__pending_finish(p); /* p may be freed from here on */
        return;
    }
    account_started(p);
}

void resp__pending_run(struct resp_pending *p, const struct resp_cmd *cmd)
{
    struct resp_client *c = p->c;
    p->cmd = cmd;
    p->writes = (cmd->flags & RESP_CMD_WRITE) != 0;
    p->blind = p->writes && cmd->blind && cmd->blind(p);
    p->oclass = 0;
    if (p->writes && cmd->order_class) {
        unsigned k = cmd->order_class(p);
        p->oclass = k <= RESP_ORDER_NCLASSES ? (uint8_t)k : 0;
    }
    bool wait;
    if (cmd->flags & RESP_CMD_BARRIER) {
        /* Runs alone: after every earlier command has finished. */
        wait = c->nstarted > 0 || c->nwaiting > 0;
        p->barrier = true;
        c->barriers++;
    } else {
        /* Behind an unfinished barrier everything waits. */
        wait = c->barriers > 0 || keys_conflict(p, 0);
    }
    if (wait) {
        hold(p);
        return;
    }
    start(p);
}

void resp__pending_sealed(struct resp_pending *p)
{
    p->sealed = true;
    if (p->acct & ACCT_U) {
        keys_apply(p, D_U_SUB);
        acct_clear(p, ACCT_U);
        if (p->c->nwaiting) {
            resp__client_wake(p->c);
        }
    }
}

void resp__order_release(struct resp_pending *p)
{
    struct resp_client *c = p->c;
    uint8_t a = p->acct;
    if (!a) {
        return;
    }
    if (a & ACCT_HELD) {
        keys_apply(p, D_HELD_SUB);
    }
    if (a & ACCT_W) {
        keys_apply(p, D_W_SUB);
    }
    if (a & ACCT_U) {
        keys_apply(p, D_U_SUB);
    }
    if (a & ACCT_RUN) {
        c->nstarted--;
        if (p->barrier) {
            c->running_barriers--;
        }
    }
    acct_clear(p, 0xff);
    if (c->nwaiting) {
        resp__client_wake(c);
    }
}

void resp__order_start_held(struct resp_client *c)
{
    if (!c->held_head) {
        return;
    }
    if (++c->walk_gen == 0) {
        /* Wrapped: clear stale marks so generation 1 means this walk. */
        for (struct resp_keyref *r = c->keys; r; r = r->hh.next) {
            r->mark_gen = 0;
        }
        c->walk_gen = 1;
    }
    unsigned gen = c->walk_gen;
    bool stayed = false; /* an earlier held command is still held */
    struct resp_pending **pp = &c->held_head;
    struct resp_pending *prev = NULL;
    while (!c->closing && c->running_barriers == 0 && *pp) {
        struct resp_pending *p = *pp;
        bool wait = p->barrier ? (stayed || c->nstarted > 0) : keys_conflict(p, gen);
        if (wait) {
            if (p->barrier) {
                break; /* everything after it waits for it */
            }
            keys_mark(p, gen);
            stayed = true;
            prev = p;
            pp = &p->held_next;
            continue;
        }
        *pp = p->held_next;
        if (c->held_tail == p) {
            c->held_tail = prev;
        }
        p->held_next = NULL;
        p->waiting = false;
        c->nwaiting--;
        if (p->acct & ACCT_HELD) {
            keys_apply(p, D_HELD_SUB);
            acct_clear(p, ACCT_HELD);
        }
        /* p may be freed by start; *pp is already its successor. A
         * barrier that is still running stops the walk (loop condition);
         * one that finished at once lets the walk go on, as nothing but I/O
         * would bring the flush back. */
        start(p);
    }
}

void resp__order_free(struct resp_client *c)
{
    struct resp_keyref *r, *tmp;
    HASH_ITER(hh, c->keys, r, tmp)
    {
        HASH_DEL(c->keys, r);
        free(r);
    }
    while (c->free_refs) {
        r = c->free_refs;
        c->free_refs = r->next_free;
        free(r);
    }
    c->nfree_refs = 0;
    c->held_head = c->held_tail = NULL;
    c->nstarted = 0;
    c->running_barriers = 0;
}
