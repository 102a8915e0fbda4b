/* Glue between canonical raft's struct raft_fsm and our pure FSM. */
#include "raft/raftfsm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"

struct raftfsm_result *raftfsm_result_alloc(size_t cap)
{
    struct raftfsm_result *r =
        malloc(sizeof(*r) + cap * sizeof(struct fsm_result));
    if (r != NULL) {
        r->code = DR_OK;
        r->n = 0;
        r->cap = cap;
    }
    return r;
}

/* The wait for the entry at index, or NULL. */
static struct raftfsm_result *take_wait(struct raftfsm *rf, raft_index index)
{
    for (size_t i = 0; i < rf->n_waits; i++) {
        if (rf->waits[i].index == index) {
            struct raftfsm_result *dst = rf->waits[i].dst;
            rf->waits[i] = rf->waits[--rf->n_waits];
            return dst;
        }
    }
    return NULL;
}

int raftfsm_expect(struct raftfsm *rf,
                   raft_index index,
                   struct raftfsm_result *dst)
{
    if (rf->n_waits == rf->cap_waits) {
        size_t cap = rf->cap_waits ? rf->cap_waits * 2 : 64;
        struct raftfsm_wait *w = realloc(rf->waits, cap * sizeof(*w));
        if (w == NULL) {
            return DR_ENOMEM;
        }
        rf->waits = w;
        rf->cap_waits = cap;
    }
    rf->waits[rf->n_waits].index = index;
    rf->waits[rf->n_waits].dst = dst;
    rf->n_waits++;
    return DR_OK;
}

void raftfsm_forget(struct raftfsm *rf, const struct raftfsm_result *dst)
{
    for (size_t i = 0; i < rf->n_waits; i++) {
        if (rf->waits[i].dst == dst) {
            rf->waits[i] = rf->waits[--rf->n_waits];
            return;
        }
    }
}

static int apply_cb(struct raft_fsm *base,
                    const struct raft_buffer *buf,
                    void **result)
{
    struct raftfsm *rf = base->data;
    struct raftfsm_result *res = rf->scratch;
    struct codec_entry *ce;
    int rv;

    /* raft sets last_applied after this returns: the entry being applied
     * is the next one. A local request waits for its own entry's results. */
    if (rf->raft != NULL && rf->n_waits > 0) {
        struct raftfsm_result *dst =
            take_wait(rf, raft_last_applied(rf->raft) + 1);
        if (dst != NULL) {
            res = dst;
        }
    }
    *result = NULL;

    rv = codec_entry_decode(buf->base, buf->len, &ce);
    if (rv == DR_OK && ce->e.n_cmds > res->cap &&
        ce->e.n_cmds <= RAFTFSM_BATCH_MAX) {
        /* Not the entry the request appended (another leader's entry at
         * that index): its results go nowhere, and the request, told
         * nothing, fails. */
        res = rf->scratch;
    }
    if (rv != DR_OK || ce->e.n_cmds > RAFTFSM_BATCH_MAX) {
        if (rv == DR_OK) {
            codec_entry_free(ce);
        }
        snprintf(rf->errmsg, sizeof(rf->errmsg),
                 "log entry of %zu bytes cannot be decoded", buf->len);
        rf->fatal = true;
        return RAFT_MALFORMED;
    }
    res->n = ce->e.n_cmds;
    res->code = fsm_apply_entry(&rf->state, &ce->e, res->r);
    if (res->code == DR_EVERSION) {
        snprintf(rf->errmsg, sizeof(rf->errmsg),
                 "log entry version %u is newer than this drnode supports "
                 "(%d): upgrade drnode",
                 (unsigned)ce->e.version, FSM_VERSION);
        rf->fatal = true;
        codec_entry_free(ce);
        return RAFT_MALFORMED;
    }
    codec_entry_free(ce);
    for (size_t i = 0; i < res->n; i++) {
        if (res->r[i].code == DR_ENOMEM || rf->state.broken) {
            /* Other nodes applied this command, and the commands before it
             * in the entry are applied here: raft would retry the entry
             * (applying them twice) or snapshot a state no other node has.
             * Crash-stop; a restart replays the log from the last
             * snapshot. */
            fprintf(stderr,
                    "drnode: out of memory applying a log entry; "
                    "stopping so that this node does not diverge\n");
            abort();
        }
    }
    rf->n_applied++;
    *result = res == rf->scratch ? NULL : res;
    if (rf->on_applied != NULL) {
        rf->on_applied(rf->on_applied_data);
    }
    return 0;
}

static void *plain_malloc(size_t size)
{
    return malloc(size);
}

/* Version 2: raft hands the buffers back through snapshot_finalize. */
static int snapshot_cb(struct raft_fsm *base,
                       struct raft_buffer *bufs[],
                       unsigned *n_bufs)
{
    struct raftfsm *rf = base->data;
    struct raft_buffer *b = malloc(sizeof(*b));
    void *data;
    size_t len;

    if (b == NULL) {
        return RAFT_NOMEM;
    }
    if (codec_snapshot_encode(&rf->state, plain_malloc, &data, &len) != DR_OK) {
        free(b);
        return RAFT_NOMEM;
    }
    b->base = data;
    b->len = len;
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

static int snapshot_finalize_cb(struct raft_fsm *base,
                                struct raft_buffer *bufs[],
                                unsigned *n_bufs)
{
    (void)base;
    for (unsigned i = 0; i < *n_bufs; i++) {
        free((*bufs)[i].base);
    }
    free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int restore_cb(struct raft_fsm *base, struct raft_buffer *buf)
{
    struct raftfsm *rf = base->data;
    struct fsm next;
    char err[256];
    int rv;

    rv = codec_snapshot_decode(buf->base, buf->len, &next, err);
    if (rv != DR_OK) {
        snprintf(rf->errmsg, sizeof(rf->errmsg), "%s", err);
        rf->fatal = true;
        return RAFT_MALFORMED;
    }
    raft_free(buf->base); /* restore owns the buffer on success */
    fsm_replace(&rf->state, &next);
    rf->n_restored++;
    return 0;
}

int raftfsm_init(struct raftfsm *rf)
{
    memset(rf, 0, sizeof(*rf));
    rf->scratch = raftfsm_result_alloc(RAFTFSM_BATCH_MAX);
    if (rf->scratch == NULL) {
        return DR_ENOMEM;
    }
    if (fsm_init(&rf->state) != DR_OK) {
        free(rf->scratch);
        rf->scratch = NULL;
        return DR_ENOMEM;
    }
    rf->base.version = 2;
    rf->base.data = rf;
    rf->base.apply = apply_cb;
    rf->base.snapshot = snapshot_cb;
    rf->base.snapshot_finalize = snapshot_finalize_cb;
    rf->base.restore = restore_cb;
    return DR_OK;
}

void raftfsm_close(struct raftfsm *rf)
{
    free(rf->waits);
    rf->waits = NULL;
    free(rf->scratch);
    rf->scratch = NULL;
    rf->n_waits = rf->cap_waits = 0;
    fsm_close(&rf->state);
}
