/* A raft server on the libuv backend: start-up, batched proposals,
 * linearizable-read barriers, membership changes, contact tracking. */
#include "raft/raftnode.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec.h"
#include "log/log.h"
#include "tls/tls.h"

const double raftnode_lat_bounds[RAFTNODE_LAT_BUCKETS] = {
    0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 1e300};

struct batch
{
    struct raft_apply req;
    struct raftnode *node;
    uint64_t start_ns;
    size_t n;
    struct raftfsm_result *res; /* this entry's own results */
    struct raftnode_req *reqs[RAFTFSM_BATCH_MAX];
};

static void batch_free(struct batch *b)
{
    free(b->res);
    free(b);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t raftnode_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

const char *raftnode_state_name(int state)
{
    switch (state) {
        case RAFT_LEADER:
            return "leader";
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_CANDIDATE:
            return "candidate";
    }
    return "unavailable";
}

/* Contact tracking: raft gives no per-peer receive time, so wrap the
 * backend's recv callback and note when each peer last spoke. */

static struct raftnode_contact *contact_slot(struct raftnode *n, raft_id id)
{
    for (size_t i = 0; i < n->n_contacts; i++) {
        if (n->contacts[i].id == id) {
            return &n->contacts[i];
        }
    }
    if (n->n_contacts == FSM_MEMBERS_MAX) {
        return NULL;
    }
    n->contacts[n->n_contacts].id = id;
    return &n->contacts[n->n_contacts++];
}

static void recv_hook(struct raft_io *io, struct raft_message *msg)
{
    struct raft *r = io->data;
    struct raftnode *n = r->data;
    /* Only servers of the configuration get one of the bounded slots. */
    struct raftnode_contact *c = raftnode_role_of(n, msg->server_id) >= 0
                                     ? contact_slot(n, msg->server_id)
                                     : NULL;
    if (c != NULL) {
        c->last_ms = uv_now(n->loop);
    }
    n->orig_recv(io, msg);
}

static int start_hook(struct raft_io *io,
                      unsigned msecs,
                      raft_io_tick_cb tick,
                      raft_io_recv_cb recv)
{
    struct raft *r = io->data;
    struct raftnode *n = r->data;
    n->orig_recv = recv;
    return n->orig_start(io, msecs, tick, recv_hook);
}

int64_t raftnode_contact_ms(struct raftnode *n, raft_id id)
{
    if (!raftnode_is_leader(n)) {
        return -1;
    }
    if (id == n->raft.id) {
        return 0;
    }
    for (size_t i = 0; i < n->n_contacts; i++) {
        if (n->contacts[i].id == id && n->contacts[i].last_ms != 0) {
            return (int64_t)(uv_now(n->loop) - n->contacts[i].last_ms);
        }
    }
    return -1;
}

int64_t raftnode_silence_ms(struct raftnode *n, raft_id id)
{
    int64_t c = raftnode_contact_ms(n, id);

    if (c >= 0 || !raftnode_is_leader(n)) {
        return c;
    }
    return (int64_t)(uv_now(n->loop) - n->leader_since_ms);
}

void raftnode_on_applied(struct raftnode *n, void (*fn)(void *data), void *data)
{
    n->fsm.on_applied = fn;
    n->fsm.on_applied_data = data;
}

const struct fsm *raftnode_state(const struct raftnode *n)
{
    return &n->fsm.state;
}

bool raftnode_is_leader(struct raftnode *n)
{
    return n->started && !n->closing && raft_state(&n->raft) == RAFT_LEADER;
}

const char *raftnode_libraft_version(void)
{
    static char v[32];
    if (v[0] == '\0') {
        int n = raft_version_number(); /* major * 10000 + minor * 100 + rel */
        snprintf(v, sizeof(v), "%d.%d.%d", n / 10000, n / 100 % 100, n % 100);
    }
    return v;
}

const char *raftnode_libuv_version(void)
{
    return uv_version_string();
}

bool raftnode_change_pending(struct raftnode *n)
{
    return n->raft.legacy.change != NULL ||
           n->raft.configuration_uncommitted_index != 0;
}

void raftnode_change_pending_why(struct raftnode *n, char *buf, size_t size)
{
    const struct raft_change *ch = n->raft.legacy.change;
    raft_index pending = n->raft.configuration_uncommitted_index;

    if (ch != NULL && ch->catch_up_id != 0) {
        snprintf(buf, size,
                 "another membership change is in progress: server %llu is "
                 "catching up to become a voter; retry later",
                 (unsigned long long)ch->catch_up_id);
    } else if (pending != 0) {
        snprintf(buf, size,
                 "another membership change is in progress: the "
                 "configuration entry at index %llu is not committed yet "
                 "(commit index %llu); retry later",
                 (unsigned long long)pending,
                 (unsigned long long)n->raft.commit_index);
    } else {
        snprintf(buf, size,
                 "another membership change is in progress; retry later");
    }
}

bool raftnode_ready(struct raftnode *n)
{
    return raftnode_is_leader(n) && n->ready &&
           n->ready_term == n->raft.current_term;
}

static void ready_cb(struct raftnode_read *req, int status)
{
    struct raftnode *n = req->data;
    n->ready_pending = false;
    if (status != 0 || !raftnode_is_leader(n)) {
        return;
    }
    if (n->raft.current_term == n->ready_term) {
        n->ready = true;
    } else {
        /* Leader again in a newer term: that term needs its own barrier. */
        n->ready_term = n->raft.current_term;
        n->ready_pending = raftnode_read(n, req, ready_cb) == DR_OK;
    }
}

raft_id raftnode_leader(struct raftnode *n)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (!n->started || n->closing) {
        return 0;
    }
    raft_leader(&n->raft, &id, &addr);
    return id;
}

int raftnode_role_of(struct raftnode *n, raft_id id)
{
    const struct raft_configuration *c = &n->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return c->servers[i].role;
        }
    }
    return -1;
}

/* raft's TCP transport leaves Nagle's algorithm on, so a lone small
 * AppendEntries can wait for the peer's delayed ACK (40 ms on Linux). Wrap
 * the transport's connect and accept callbacks to set TCP_NODELAY. The
 * wrapped callbacks are raft's own functions, the same for every transport
 * in the process, so they are kept in statics. */
static raft_uv_connect_cb orig_connect_cb;
/* raft_uv_init takes the transport's data field for itself. */
#define NODE_OF_TRANSPORT(t) \
    ((struct raftnode *)((char *)(t)-offsetof(struct raftnode, transport)))
static raft_uv_accept_cb orig_accept_cb;

static void set_nodelay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP) {
        uv_tcp_nodelay((uv_tcp_t *)stream, 1);
    }
}

static void connect_cb_hook(struct raft_uv_connect *req,
                            struct uv_stream_s *stream,
                            int status)
{
    if (status == 0) {
        set_nodelay(stream);
    }
    orig_connect_cb(req, stream, status);
}

/* With [tls], raft's TCP transport still connects, accepts and exchanges
 * its handshake (protocol, member id, address: nothing secret), then each
 * connection runs a TLS handshake; raft gets the plain end of a tunnel
 * once the peer proved with its certificate that it is the member id the
 * handshake named. One connection attempt in flight. */
struct tls_attempt
{
    struct raft_uv_connect inner;  /* the TCP transport's request */
    struct raft_uv_connect *outer; /* raft's */
    struct raftnode *n;
    raft_id id;
    char address[256];
};

static void tls_connected_cb(struct tls_tunnel *tun,
                             void *data,
                             uv_stream_t *app,
                             const char *err)
{
    struct tls_attempt *a = data;
    (void)tun;
    if (app == NULL && strcmp(err, "closing") != 0) {
        log_warn("raft: connection to member %llu at %s refused: %s",
                 (unsigned long long)a->id, a->address, err);
    }
    orig_connect_cb(a->outer, (struct uv_stream_s *)app,
                    app != NULL                   ? 0
                    : strcmp(err, "closing") == 0 ? RAFT_CANCELED
                                                  : RAFT_NOCONNECTION);
    free(a);
}

static void tls_connect_cb(struct raft_uv_connect *req,
                           struct uv_stream_s *stream,
                           int status)
{
    struct tls_attempt *a = req->data;
    if (status != 0) {
        orig_connect_cb(a->outer, NULL, status);
        free(a);
        return;
    }
    tls_tunnel_start(&a->n->tunnels, a->n->tls_ctx, (uv_tcp_t *)stream, false,
                     a->id, tls_connected_cb, a);
}

static int connect_hook(struct raft_uv_transport *t,
                        struct raft_uv_connect *req,
                        raft_id id,
                        const char *address,
                        raft_uv_connect_cb cb)
{
    struct raftnode *n = NODE_OF_TRANSPORT(t);
    struct tls_attempt *a;
    int rv;

    orig_connect_cb = cb;
    if (n->tls_ctx == NULL) {
        return n->orig_connect(t, req, id, address, connect_cb_hook);
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return RAFT_NOMEM;
    }
    a->inner.data = a;
    a->outer = req;
    a->n = n;
    a->id = id;
    snprintf(a->address, sizeof(a->address), "%s", address);
    rv = n->orig_connect(t, &a->inner, id, address, tls_connect_cb);
    if (rv != 0) {
        free(a);
    }
    return rv;
}

struct tls_incoming
{
    struct raftnode *n;
    raft_id id;
    char address[256];
};

static void tls_accepted_cb(struct tls_tunnel *tun,
                            void *data,
                            uv_stream_t *app,
                            const char *err)
{
    struct tls_incoming *in = data;
    (void)tun;
    if (app != NULL) {
        orig_accept_cb(&in->n->transport, in->id, in->address,
                       (struct uv_stream_s *)app);
    } else if (strcmp(err, "closing") != 0) {
        log_warn(
            "raft: connection from %s claiming to be member %llu "
            "refused: %s",
            in->address, (unsigned long long)in->id, err);
    }
    free(in);
}

static void accept_cb_hook(struct raft_uv_transport *t,
                           raft_id id,
                           const char *address,
                           struct uv_stream_s *stream)
{
    struct raftnode *n = NODE_OF_TRANSPORT(t);
    struct tls_incoming *in;

    set_nodelay(stream);
    if (n->tls_ctx == NULL) {
        orig_accept_cb(t, id, address, stream);
        return;
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free);
        return;
    }
    in->n = n;
    in->id = id;
    snprintf(in->address, sizeof(in->address), "%s", address);
    tls_tunnel_start(&n->tunnels, n->tls_ctx, (uv_tcp_t *)stream, true, id,
                     tls_accepted_cb, in);
}

/* raft closes its transport: the TCP transport and every tunnel, then
 * raft hears of it. */
static void transport_part_closed(struct raftnode *n)
{
    if (--n->transport_closing == 0) {
        n->transport_close_cb(&n->transport);
    }
}

static void tunnels_closed_cb(struct tls_tunnels *ts)
{
    transport_part_closed(
        (struct raftnode *)((char *)ts - offsetof(struct raftnode, tunnels)));
}

static void tcp_transport_closed_cb(struct raft_uv_transport *t)
{
    transport_part_closed(NODE_OF_TRANSPORT(t));
}

static void close_hook(struct raft_uv_transport *t,
                       raft_uv_transport_close_cb cb)
{
    struct raftnode *n = NODE_OF_TRANSPORT(t);
    n->transport_close_cb = cb;
    n->transport_closing = 2;
    n->orig_close(t, tcp_transport_closed_cb);
    tls_tunnels_close(&n->tunnels, tunnels_closed_cb);
}

int raftnode_reload_tls(struct raftnode *n, char *errmsg)
{
    const struct config *c = n->cfg;
    void *ctx;
    if (n->tls_ctx == NULL) {
        return 0;
    }
    ctx = tls_peer_ctx_new(c->tls_cert, c->tls_key, c->tls_ca, errmsg);
    if (ctx == NULL) {
        return DR_EINVAL;
    }
    tls_ctx_free(n->tls_ctx); /* connections keep their reference */
    n->tls_ctx = ctx;
    return 0;
}

static int listen_hook(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct raftnode *n = NODE_OF_TRANSPORT(t);
    orig_accept_cb = cb;
    return n->orig_listen(t, accept_cb_hook);
}

/* Proposals, batched: everything queued during one loop iteration goes out
 * in as few log entries as the in-flight limit allows. */

static void flush_queue(struct raftnode *n);
static void flush_cb(uv_check_t *h);

static void batch_done_cb(struct raft_apply *req, int status, void *result)
{
    struct batch *b = req->data;
    struct raftnode *n = b->node;
    const struct raftfsm_result *res = result;
    double ms = (double)(now_ns() - b->start_ns) / 1e6;

    raftfsm_forget(&n->fsm, b->res);
    size_t k = 0;

    while (k < RAFTNODE_LAT_BUCKETS - 1 && ms > raftnode_lat_bounds[k]) {
        k++;
    }
    n->lat_buckets[k]++;
    n->lat_sum_ms += ms;
    n->lat_count++;
    n->inflight--;
    if (status == 0 && (res != b->res || res->n != b->n)) {
        status = RAFT_MALFORMED;
    }
    for (size_t i = 0; i < b->n; i++) {
        struct raftnode_req *r = b->reqs[i];
        r->cb(r, status, status == 0 ? &res->r[i] : NULL);
    }
    batch_free(b);
    /* Never call back into raft from its own callback: while it steps down
     * it fails requests before its state says so, and a new raft_apply then
     * reads freed leader state. The check handle flushes next iteration. */
    if (!n->closing && n->queue_head != NULL) {
        uv_check_start(&n->flush, flush_cb);
    }
}

static void fail_queue(struct raftnode *n, int status)
{
    while (n->queue_head != NULL) {
        struct raftnode_req *r = n->queue_head;
        n->queue_head = r->next;
        free(r->cmd);
        r->cmd = NULL;
        r->cb(r, status, NULL);
    }
    n->queue_tail = NULL;
}

static void flush_queue(struct raftnode *n)
{
    while (n->queue_head != NULL && n->inflight < RAFTNODE_INFLIGHT_MAX) {
        struct batch *b;
        struct codec_piece pieces[RAFTFSM_BATCH_MAX];
        struct raft_buffer buf;
        void *base;
        size_t len;
        uint32_t version;
        int rv;

        if (raft_state(&n->raft) != RAFT_LEADER) {
            fail_queue(n, RAFT_NOTLEADER);
            return;
        }
        b = malloc(sizeof(*b));
        if (b == NULL) {
            fail_queue(n, RAFT_NOMEM);
            return;
        }
        b->node = n;
        b->n = 0;
        b->req.data = b;
        version = 1;
        while (n->queue_head != NULL && b->n < RAFTFSM_BATCH_MAX) {
            struct raftnode_req *r = n->queue_head;
            n->queue_head = r->next;
            /* An entry says the newest version any of its commands needs:
             * a node too old for one stops instead of skipping it. */
            version = r->version > version ? r->version : version;
            pieces[b->n].base = r->cmd;
            pieces[b->n].len = r->len;
            b->reqs[b->n++] = r;
        }
        if (n->queue_head == NULL) {
            n->queue_tail = NULL;
        }
        b->res = raftfsm_result_alloc(b->n);
        rv = b->res == NULL
                 ? DR_ENOMEM
                 : codec_entry_assemble(version, raftnode_wall_ms(), pieces,
                                        b->n, raft_malloc, &base, &len);
        for (size_t i = 0; i < b->n; i++) {
            free(b->reqs[i]->cmd);
            b->reqs[i]->cmd = NULL;
        }
        if (rv == DR_OK) {
            buf.base = base;
            buf.len = len;
            b->start_ns = now_ns();
            rv = raft_apply(&n->raft, &b->req, &buf, 1, batch_done_cb);
            if (rv != 0) {
                raft_free(base);
            } else if (raftfsm_expect(&n->fsm, b->req.index, b->res) != DR_OK) {
                /* The entry is on its way: it may commit, but its results
                 * cannot reach the requests. batch_done_cb then fails them
                 * as RAFT_MALFORMED, an unknown outcome. */
                log_warn(
                    "out of memory: the outcome of entry %llu will be "
                    "unknown to its requests",
                    (unsigned long long)b->req.index);
            }
        } else {
            rv = RAFT_NOMEM;
        }
        if (rv != 0) {
            for (size_t i = 0; i < b->n; i++) {
                b->reqs[i]->cb(b->reqs[i], rv, NULL);
            }
            batch_free(b);
            continue;
        }
        n->inflight++;
        n->n_batches++;
        n->n_commands += b->n;
    }
}

static void barrier_issue(struct raftnode *n);
static void fail_reads(struct raftnode_read **list, int status);

/* Runs once per loop iteration while there is queued work: proposals that
 * wait for a free in-flight slot, reads that wait for the next barrier. */
static void flush_cb(uv_check_t *h)
{
    struct raftnode *n = h->data;

    if (n->closing) {
        uv_check_stop(h);
        return;
    }
    if (n->barrier_next != NULL && !n->barrier_inflight) {
        if (raft_state(&n->raft) == RAFT_LEADER) {
            barrier_issue(n);
        } else {
            fail_reads(&n->barrier_next, RAFT_NOTLEADER);
        }
    }
    if (n->queue_head != NULL) {
        flush_queue(n);
    }
    if (n->queue_head == NULL &&
        (n->barrier_next == NULL || n->barrier_inflight)) {
        uv_check_stop(h);
    }
}

int raftnode_propose(struct raftnode *n,
                     struct raftnode_req *req,
                     const struct fsm_cmd *cmd,
                     raftnode_apply_cb cb)
{
    int rv;
    if (!raftnode_is_leader(n)) {
        return DR_ENOTLEADER;
    }
    rv = codec_cmd_encode(cmd, &req->cmd, &req->len);
    if (rv != DR_OK) {
        return rv;
    }
    req->version = fsm_cmd_version(cmd);
    req->cb = cb;
    req->next = NULL;
    if (n->queue_tail != NULL) {
        n->queue_tail->next = req;
    } else {
        n->queue_head = req;
    }
    n->queue_tail = req;
    uv_check_start(&n->flush, flush_cb);
    return DR_OK;
}

/* Reads: a barrier issued after the read arrived proves this node still led
 * at some point after that, and that its state holds every earlier commit.
 * Reads that arrive while a barrier is in flight wait for the next one. */

static void barrier_issue(struct raftnode *n);

static void barrier_done_cb(struct raft_barrier *req, int status)
{
    struct raftnode *n = req->data;
    struct raftnode_read *w = n->barrier_waiting;

    n->barrier_inflight = false;
    n->barrier_waiting = NULL;
    while (w != NULL) {
        struct raftnode_read *next = w->next;
        w->cb(w, status);
        w = next;
    }
    if (n->barrier_next != NULL) {
        /* The next barrier goes out from the check handle, not from inside
         * raft's callback (see batch_done_cb). */
        uv_check_start(&n->flush, flush_cb);
    }
}

static void fail_reads(struct raftnode_read **list, int status)
{
    struct raftnode_read *w = *list;
    *list = NULL;
    while (w != NULL) {
        struct raftnode_read *next = w->next;
        w->cb(w, status);
        w = next;
    }
}

static void barrier_issue(struct raftnode *n)
{
    int rv;
    n->barrier_waiting = n->barrier_next;
    n->barrier_next = NULL;
    n->barrier.data = n;
    n->barrier_inflight = true;
    rv = raft_barrier(&n->raft, &n->barrier, barrier_done_cb);
    if (rv != 0) {
        barrier_done_cb(&n->barrier, rv);
    }
}

int raftnode_read(struct raftnode *n,
                  struct raftnode_read *req,
                  raftnode_read_cb cb)
{
    if (!raftnode_is_leader(n)) {
        return DR_ENOTLEADER;
    }
    req->cb = cb;
    req->next = n->barrier_next;
    n->barrier_next = req;
    /* Issued from the check handle: this may run inside a raft callback. */
    uv_check_start(&n->flush, flush_cb);
    return DR_OK;
}

/* Membership changes. */

static void change_done(struct raftnode_change *req, int status)
{
    char msg[256];
    msg[0] = '\0';
    if (status != 0) {
        snprintf(msg, sizeof(msg), "%s", raft_strerror(status));
    }
    req->cb(req, status, msg);
}

static void unpromoted_removed_cb(struct raft_change *change, int status)
{
    struct raftnode_change *req = change->data;
    if (status == 0) {
        log_info("membership: spare %llu taken out again",
                 (unsigned long long)req->id);
    } else {
        log_warn("membership: taking spare %llu out again failed: %s",
                 (unsigned long long)req->id, raft_strerror(status));
    }
    change_done(req, req->promote_status);
}

static void assign_cb(struct raft_change *change, int status)
{
    struct raftnode_change *req = change->data;
    struct raftnode *n = req->node;

    if (status == 0) {
        log_info("membership: server %llu is a voter",
                 (unsigned long long)req->id);
    } else {
        log_warn("membership: promoting server %llu to voter failed: %s",
                 (unsigned long long)req->id, raft_strerror(status));
    }
    if (status != 0 && status != RAFT_LEADERSHIPLOST &&
        status != RAFT_SHUTDOWN && status != RAFT_NOTLEADER &&
        raftnode_is_leader(n) && raftnode_role_of(n, req->id) == RAFT_SPARE) {
        /* It never caught up: take the spare out again so that the same
         * id can be added once the node is reachable. */
        req->promote_status = status;
        if (raft_remove(&n->raft, &req->change, req->id,
                        unpromoted_removed_cb) == 0) {
            return;
        }
    }
    change_done(req, status);
}

static void add_cb(struct raft_change *change, int status)
{
    struct raftnode_change *req = change->data;
    struct raftnode *n = req->node;
    int rv;

    if (status != 0) {
        log_warn("membership: adding server %llu as a spare failed: %s",
                 (unsigned long long)req->id, raft_strerror(status));
        change_done(req, status);
        return;
    }
    log_info("membership: server %llu joined as a spare; catching it up",
             (unsigned long long)req->id);
    /* Joined as spare; raft_assign catches it up before it votes. */
    rv = raft_assign(&n->raft, &req->change, req->id, RAFT_VOTER, assign_cb);
    if (rv != 0) {
        change_done(req, rv);
    }
}

static int change_check(struct raftnode *n, char *errmsg)
{
    if (!raftnode_is_leader(n)) {
        snprintf(errmsg, 256, "this node is not the leader");
        return DR_ENOTLEADER;
    }
    if (raftnode_change_pending(n)) {
        raftnode_change_pending_why(n, errmsg, 256);
        return DR_ECONFLICT;
    }
    return DR_OK;
}

static int change_error(int rv,
                        char *errmsg,
                        const char *what,
                        struct raftnode *n)
{
    snprintf(errmsg, 256, "%s: %s", what, raft_errmsg(&n->raft));
    switch (rv) {
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
            return DR_EEXIST;
        case RAFT_BADID:
        case RAFT_BADROLE:
        case RAFT_NOTFOUND:
            return DR_ENOTFOUND;
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
            return DR_ENOTLEADER;
        case RAFT_CANTCHANGE:
            return DR_ECONFLICT;
    }
    return DR_EUNAVAILABLE;
}

int raftnode_add(struct raftnode *n,
                 struct raftnode_change *req,
                 raft_id id,
                 const char *address,
                 raftnode_change_cb cb,
                 char *errmsg)
{
    int rv = change_check(n, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    req->node = n;
    req->cb = cb;
    req->id = id;
    req->change.data = req;
    rv = raft_add(&n->raft, &req->change, id, address, add_cb);
    if (rv != 0) {
        return change_error(rv, errmsg, "add", n);
    }
    return DR_OK;
}

int raftnode_promote(struct raftnode *n,
                     struct raftnode_change *req,
                     raft_id id,
                     raftnode_change_cb cb,
                     char *errmsg)
{
    int rv = change_check(n, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    if (raftnode_role_of(n, id) != RAFT_SPARE) {
        snprintf(errmsg, 256, "server %llu is not a spare",
                 (unsigned long long)id);
        return DR_ECONFLICT;
    }
    req->node = n;
    req->cb = cb;
    req->id = id;
    req->change.data = req;
    rv = raft_assign(&n->raft, &req->change, id, RAFT_VOTER, assign_cb);
    if (rv != 0) {
        return change_error(rv, errmsg, "promote", n);
    }
    return DR_OK;
}

static void remove_cb(struct raft_change *change, int status)
{
    struct raftnode_change *req = change->data;
    if (status == 0) {
        log_info("membership: server %llu removed",
                 (unsigned long long)req->id);
    } else {
        log_warn("membership: removing server %llu failed: %s",
                 (unsigned long long)req->id, raft_strerror(status));
    }
    change_done(req, status);
}

int raftnode_remove(struct raftnode *n,
                    struct raftnode_change *req,
                    raft_id id,
                    raftnode_change_cb cb,
                    char *errmsg)
{
    int rv = change_check(n, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    req->node = n;
    req->cb = cb;
    req->id = id;
    req->change.data = req;
    rv = raft_remove(&n->raft, &req->change, id, remove_cb);
    if (rv != 0) {
        return change_error(rv, errmsg, "remove", n);
    }
    return DR_OK;
}

static void transfer_cb(struct raft_transfer *t)
{
    struct raftnode_change *req = t->data;
    req->cb(req, 0, "");
}

int raftnode_transfer(struct raftnode *n,
                      struct raftnode_change *req,
                      raft_id id,
                      raftnode_change_cb cb,
                      char *errmsg)
{
    int rv;
    if (!raftnode_is_leader(n)) {
        snprintf(errmsg, 256, "this node is not the leader");
        return DR_ENOTLEADER;
    }
    if (n->raft.transfer != NULL) {
        snprintf(errmsg, 256, "a leadership transfer is already running");
        return DR_ECONFLICT;
    }
    req->node = n;
    req->cb = cb;
    req->id = id;
    req->transfer.data = req;
    rv = raft_transfer(&n->raft, &req->transfer, id, transfer_cb);
    if (rv != 0) {
        return change_error(rv, errmsg, "transfer", n);
    }
    return DR_OK;
}

/* Leader-side housekeeping: the first leader writes the bootstrap state. */

static void bootstrap_done_cb(struct raftnode_req *req,
                              int status,
                              const struct fsm_result *res)
{
    struct raftnode *n = req->data;
    if (status != 0) {
        n->bootstrap_proposed = false; /* retry on the next tick */
        return;
    }
    if (res->code != DR_OK) {
        log_warn("bootstrap command refused: %s", res->msg);
    } else {
        log_info("cluster state bootstrapped");
    }
}

static void propose_bootstrap(struct raftnode *n)
{
    const struct config *c = n->cfg;
    struct fsm_region regions[64];
    struct fsm_member members[64];
    char *targets[64][16];
    struct fsm_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    memset(regions, 0, sizeof(regions));
    memset(members, 0, sizeof(members));
    cmd.type = FSM_CMD_BOOTSTRAP;
    cmd.actor = "bootstrap";
    for (size_t i = 0; i < c->n_regions; i++) {
        regions[i].name = (char *)c->regions[i].name;
        regions[i].priority = c->regions[i].priority;
        regions[i].object_store = (char *)c->regions[i].object_store;
        for (size_t j = 0; j < c->regions[i].n_dns_targets; j++) {
            targets[i][j] = (char *)c->regions[i].dns_targets[j];
        }
        regions[i].dns_targets = targets[i];
        regions[i].n_dns_targets = c->regions[i].n_dns_targets;
    }
    for (size_t i = 0; i < c->n_members; i++) {
        members[i].id = c->members[i].id;
        members[i].region = (char *)c->members[i].region;
        members[i].raft_address = (char *)c->members[i].raft_address;
        members[i].api_address = (char *)c->members[i].api_address;
    }
    cmd.u.bootstrap.regions = regions;
    cmd.u.bootstrap.n_regions = c->n_regions;
    cmd.u.bootstrap.members = members;
    cmd.u.bootstrap.n_members = c->n_members;
    cmd.u.bootstrap.primary_region = c->primary_region;
    n->bootstrap_req.data = n;
    if (raftnode_propose(n, &n->bootstrap_req, &cmd, bootstrap_done_cb) ==
        DR_OK) {
        n->bootstrap_proposed = true;
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct raftnode *n = t->data;
    int state;

    if (n->fsm.fatal) {
        uv_timer_stop(t);
        snprintf(n->errmsg, sizeof(n->errmsg), "%s", n->fsm.errmsg);
        if (n->on_fatal != NULL) {
            n->on_fatal(n);
        }
        return;
    }
    state = raft_state(&n->raft);
    if (state != n->last_state) {
        raft_id lid = 0;
        const char *laddr = NULL;
        raft_leader(&n->raft, &lid, &laddr);
        log_info("raft state %s -> %s (term %llu)",
                 raftnode_state_name(n->last_state), raftnode_state_name(state),
                 (unsigned long long)n->raft.current_term);
        n->last_state = state;
        n->bootstrap_proposed = false;
        n->ready = false;
        if (state == RAFT_LEADER) {
            n->leader_since_ms = uv_now(n->loop);
            n->ready_term = n->raft.current_term;
            n->ready_read.data = n;
            if (!n->ready_pending) {
                n->ready_pending =
                    raftnode_read(n, &n->ready_read, ready_cb) == DR_OK;
            }
        }
    }
    if (state == RAFT_LEADER && !n->fsm.state.initialized &&
        !n->bootstrap_proposed && n->cfg->n_members > 0 &&
        raft_last_applied(&n->raft) >= n->raft.commit_index) {
        propose_bootstrap(n);
    }
}

/* Start-up and shutdown. */

bool raftnode_data_dir_fresh(const char *path)
{
    char probe[1100];
    struct stat st;
    /* raft's libuv backend writes "metadata1"/"metadata2" on first start. */
    snprintf(probe, sizeof(probe), "%s/metadata1", path);
    if (stat(probe, &st) == 0) {
        return 0;
    }
    snprintf(probe, sizeof(probe), "%s/metadata2", path);
    return stat(probe, &st) != 0;
}

/* Two processes on one data directory would interleave raft's segment
 * files; raft itself takes no lock. Hold an exclusive flock for the life of
 * the process (the kernel drops it when the process dies, even by kill -9). */
static int lock_data_dir(struct raftnode *n, const char *dir)
{
    char path[1100];
    char pid[32];
    int fd;

    snprintf(path, sizeof(path), "%s/drnode.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(n->errmsg, sizeof(n->errmsg), "data dir lock %s: %s", path,
                 strerror(errno));
        return DR_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t len = read(fd, pid, sizeof(pid) - 1);
        pid[len > 0 ? len : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(n->errmsg, sizeof(n->errmsg),
                 "data dir %s is in use by another drnode (pid %s); stop it "
                 "first",
                 dir, pid[0] ? pid : "unknown");
        close(fd);
        return DR_EIO;
    }
    if (ftruncate(fd, 0) == 0) {
        int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (write(fd, pid, (size_t)len) != len) {
            /* The pid is only a hint for the message above. */
        }
    }
    n->lock_fd = fd;
    return DR_OK;
}

static int bootstrap_config(struct raftnode *n)
{
    const struct config *c = n->cfg;
    struct raft_configuration conf;
    int rv;

    raft_configuration_init(&conf);
    for (size_t i = 0; i < c->n_members; i++) {
        rv = raft_configuration_add(&conf, c->members[i].id,
                                    c->members[i].raft_address, RAFT_VOTER);
        if (rv != 0) {
            raft_configuration_close(&conf);
            snprintf(n->errmsg, sizeof(n->errmsg),
                     "bootstrap configuration: %s", raft_strerror(rv));
            return DR_EINVAL;
        }
    }
    rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        snprintf(n->errmsg, sizeof(n->errmsg), "bootstrap in %s: %s",
                 c->data_dir, raft_errmsg(&n->raft));
        return DR_EIO;
    }
    if (rv == 0) {
        log_info("bootstrapped a new cluster of %zu members", c->n_members);
        log_info(
            "the data dir %s was empty, so this node bootstrapped from "
            "its member list; if it was a member before and lost its "
            "disk, stop it, run 'drctl members remove %llu', and start "
            "it with join = true",
            c->data_dir, (unsigned long long)c->id);
    }
    return DR_OK;
}

/* Whether host:port cannot be bound because another socket holds it (at
 * start-up only: it blocks on name resolution). */
static bool address_in_use(const char *address)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    struct addrinfo hints, *res = NULL;
    bool busy = false;
    size_t len;

    if (colon == NULL || (len = (size_t)(colon - address)) >= sizeof(host)) {
        return false;
    }
    memcpy(host, address, len);
    host[len] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        return false;
    }
    {
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            busy = bind(fd, res->ai_addr, res->ai_addrlen) != 0 &&
                   errno == EADDRINUSE;
            close(fd);
        }
    }
    freeaddrinfo(res);
    return busy;
}

int raftnode_start(struct raftnode *n,
                   uv_loop_t *loop,
                   const struct config *cfg)
{
    int rv;
    bool fresh;

    memset(n, 0, sizeof(*n));
    n->loop = loop;
    n->cfg = cfg;
    n->last_state = RAFT_UNAVAILABLE;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(n->errmsg, sizeof(n->errmsg), "data dir %s: %s", cfg->data_dir,
                 strerror(errno));
        return DR_EIO;
    }
    if (lock_data_dir(n, cfg->data_dir) != DR_OK) {
        return DR_EIO;
    }
    fresh = raftnode_data_dir_fresh(cfg->data_dir);
    if (raftfsm_init(&n->fsm) != DR_OK) {
        snprintf(n->errmsg, sizeof(n->errmsg), "out of memory");
        return DR_ENOMEM;
    }
    n->transport.version = 1; /* required before raft_uv_tcp_init */
    rv = raft_uv_tcp_init(&n->transport, loop);
    if (rv != 0) {
        snprintf(n->errmsg, sizeof(n->errmsg), "raft transport: %s",
                 raft_strerror(rv));
        goto err_after_fsm;
    }
    n->orig_connect = n->transport.connect;
    n->orig_listen = n->transport.listen;
    n->transport.connect = connect_hook;
    n->transport.listen = listen_hook;
    if (cfg->tls_cert[0] != '\0') {
        char err[TLS_ERRMSG_MAX];
        n->tls_ctx =
            tls_peer_ctx_new(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err);
        if (n->tls_ctx == NULL) {
            snprintf(n->errmsg, sizeof(n->errmsg), "raft transport: %s", err);
            rv = RAFT_INVALID;
            goto err_after_transport;
        }
        tls_tunnels_init(&n->tunnels, loop, raft_malloc, raft_free);
        n->orig_close = n->transport.close;
        n->transport.close = close_hook;
    }
    rv = raft_uv_init(&n->io, loop, cfg->data_dir, &n->transport);
    if (rv != 0) {
        snprintf(n->errmsg, sizeof(n->errmsg), "raft storage in %s: %s",
                 cfg->data_dir, n->io.errmsg);
        goto err_after_transport;
    }
    n->orig_start = n->io.start;
    n->io.start = start_hook;
    rv = raft_init(&n->raft, &n->io, &n->fsm.base, cfg->id, cfg->raft_address);
    if (rv != 0) {
        snprintf(n->errmsg, sizeof(n->errmsg),
                 "raft init in %s: %s (raft needs kernel AIO and O_DIRECT "
                 "or tmpfs on the data directory)",
                 cfg->data_dir, raft_errmsg(&n->raft));
        goto err_after_io;
    }
    n->raft.data = n;
    n->fsm.raft = &n->raft;
    /* From here on raft_close is the only way out, and it closes these. */
    uv_check_init(loop, &n->flush);
    n->flush.data = n;
    uv_timer_init(loop, &n->tick);
    n->tick.data = n;
    raft_set_election_timeout(&n->raft, cfg->election_timeout_ms);
    raft_set_heartbeat_timeout(&n->raft, cfg->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&n->raft, cfg->snapshot_threshold);
    raft_set_snapshot_trailing(&n->raft, cfg->snapshot_trailing);
    raft_set_pre_vote(&n->raft, true);
    if (fresh && !cfg->join) {
        rv = bootstrap_config(n);
        if (rv != DR_OK) {
            goto err_after_raft;
        }
    } else if (fresh) {
        log_info("join mode: waiting to be added to the cluster");
    }
    rv = raft_start(&n->raft);
    if (rv != 0) {
        const char *why = raft_errmsg(&n->raft);
        char busy[200];
        /* libraft says nothing when its listener cannot bind: say it. */
        if (address_in_use(cfg->raft_address)) {
            snprintf(busy, sizeof(busy),
                     "the raft address %.64s is in use by another process",
                     cfg->raft_address);
            why = busy;
        }
        snprintf(n->errmsg, sizeof(n->errmsg), "raft start in %s: %s (%s)",
                 cfg->data_dir,
                 why != NULL && why[0] != '\0' ? why : "no detail",
                 raft_strerror(rv));
        goto err_after_raft;
    }
    n->started = true;
    /* 10 ms: a new leader notices its election and issues the readiness
     * barrier soon after winning (raftnode_ready), so it answers for the
     * cluster quickly. */
    uv_timer_start(&n->tick, tick_cb, 10, 10);
    return DR_OK;

err_after_raft:
    /* raft_init succeeded: raft_close is the only way to release it, so the
     * caller closes the node as if it had started. */
    n->started = true;
    return DR_EIO;
err_after_io:
    raft_uv_close(&n->io);
err_after_transport:
    raft_uv_tcp_close(&n->transport);
err_after_fsm:
    raftfsm_close(&n->fsm);
    return DR_EIO;
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct raftnode *n = h->data;
    if (h == (uv_handle_t *)&n->tick && n->on_closed != NULL) {
        n->on_closed(n);
    }
}

static void raft_closed_cb(struct raft *r)
{
    struct raftnode *n = r->data;
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->transport);
    fail_queue(n, RAFT_SHUTDOWN);
    fail_reads(&n->barrier_next, RAFT_SHUTDOWN);
    /* The FSM state stays readable until raftnode_free: HTTP connections
     * still open may read it until the loop stops. */
    uv_close((uv_handle_t *)&n->flush, handle_closed_cb);
    uv_close((uv_handle_t *)&n->tick, handle_closed_cb);
}

void raftnode_free(struct raftnode *n)
{
    tls_ctx_free(n->tls_ctx);
    n->tls_ctx = NULL;
    raftfsm_close(&n->fsm);
}

void raftnode_close(struct raftnode *n)
{
    if (n->closing || !n->started) {
        return;
    }
    n->closing = true;
    uv_timer_stop(&n->tick);
    fail_queue(n, RAFT_SHUTDOWN);
    raft_close(&n->raft, raft_closed_cb);
}

bool raftnode_leader_url(struct raftnode *n,
                         const char *path,
                         char *url,
                         size_t size)
{
    raft_id leader = raftnode_leader(n);
    const struct fsm_member *m =
        leader != 0 ? fsm_member_get(&n->fsm.state, leader) : NULL;
    if (m == NULL) {
        return false;
    }
    snprintf(url, size, "%s://%s%s", config_api_scheme(n->cfg), m->api_address,
             path);
    return true;
}
