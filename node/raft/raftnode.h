/* A raft server on the libuv backend: start-up, batched proposals,
 * linearizable-read barriers, membership changes, contact tracking. */
#ifndef DR_RAFTNODE_H
#define DR_RAFTNODE_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "raft/raftfsm.h"
#include "tls/tunnel.h"

#define RAFTNODE_INFLIGHT_MAX 32 /* raft_apply batches in flight */
#define RAFTNODE_LAT_BUCKETS 14

struct raftnode_req;

/* Called once with status 0 and the command's result, or a non-zero raft
 * status (RAFT_LEADERSHIPLOST, RAFT_SHUTDOWN, ...) and res NULL. */
typedef void (*raftnode_apply_cb)(struct raftnode_req *req,
                                  int status,
                                  const struct fsm_result *res);

/* Caller-allocated; must stay valid until the callback. */
struct raftnode_req
{
    void *data;
    raftnode_apply_cb cb;
    /* private */
    uint8_t *cmd;
    size_t len;
    uint32_t version; /* the entry version the command needs */
    struct raftnode_req *next;
};

struct raftnode_read;
/* status 0: the local state is now at least as new as any write completed
 * before the read was asked for. */
typedef void (*raftnode_read_cb)(struct raftnode_read *req, int status);
struct raftnode_read
{
    void *data;
    raftnode_read_cb cb;
    struct raftnode_read *next; /* private */
};

struct raftnode_change;
typedef void (*raftnode_change_cb)(struct raftnode_change *req,
                                   int status,
                                   const char *errmsg);
struct raftnode_change
{
    void *data;
    raftnode_change_cb cb;
    /* private */
    struct raftnode *node;
    struct raft_change change;
    struct raft_transfer transfer;
    raft_id id;
    int promote_status; /* why promotion failed, while the spare is removed */
};

struct raftnode_contact
{
    raft_id id;
    uint64_t last_ms; /* uv_now of the last message received from id */
};

struct raftnode
{
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft raft;
    struct raftfsm fsm;
    char errmsg[2048];
    bool started;
    bool closing;
    int lock_fd; /* flock on DATA_DIR/drnode.lock */
    int (*orig_start)(struct raft_io *,
                      unsigned,
                      raft_io_tick_cb,
                      raft_io_recv_cb);
    raft_io_recv_cb orig_recv;
    int (*orig_connect)(struct raft_uv_transport *,
                        struct raft_uv_connect *,
                        raft_id,
                        const char *,
                        raft_uv_connect_cb);
    int (*orig_listen)(struct raft_uv_transport *, raft_uv_accept_cb);
    /* [tls]: raft's connections run through TLS tunnels (mutual, the
     * peer's certificate naming its member id). */
    void *tls_ctx; /* SSL_CTX of new connections, or NULL: plain TCP */
    struct tls_tunnels tunnels;
    void (*orig_close)(struct raft_uv_transport *, raft_uv_transport_close_cb);
    raft_uv_transport_close_cb transport_close_cb;
    int transport_closing; /* parts not yet closed: tunnels, TCP */
    struct raftnode_contact contacts[FSM_MEMBERS_MAX];
    size_t n_contacts;
    uint64_t leader_since_ms; /* loop time this node last became leader */
    /* proposals */
    struct raftnode_req *queue_head, *queue_tail;
    unsigned inflight;
    uv_check_t flush;
    /* barriers: waiters of the barrier in flight, and of the next one */
    struct raftnode_read *barrier_waiting, *barrier_next;
    bool barrier_inflight;
    struct raft_barrier barrier;
    /* leader-side work */
    uv_timer_t tick;
    int last_state;
    bool bootstrap_proposed;
    bool ready; /* leader whose barrier of its term applied */
    raft_term ready_term;
    bool ready_pending; /* ready_read is queued or in flight */
    struct raftnode_read ready_read;
    struct raftnode_req bootstrap_req;
    void (*on_fatal)(struct raftnode *n); /* set by the daemon */
    void (*on_closed)(struct raftnode *n);
    void *data;
    /* metrics */
    uint64_t lat_buckets[RAFTNODE_LAT_BUCKETS]; /* apply latency, ms */
    double lat_sum_ms;
    uint64_t lat_count;
    uint64_t n_batches, n_commands;
};

/* Bucket upper bounds in milliseconds; the last is +Inf. */
extern const double raftnode_lat_bounds[RAFTNODE_LAT_BUCKETS];

/* Whether raft has never started in the data directory dir (no metadata
 * files yet: a first start, or a disk that was lost). */
bool raftnode_data_dir_fresh(const char *dir);

/* Open the data directory, bootstrap on first start (unless cfg->join) and
 * start raft. cfg is borrowed for the node's life. On error n->errmsg says
 * what failed, naming the data directory; when n->started is set even so
 * (raft was initialised), close the node with raftnode_close and wait for
 * on_closed before closing the loop. */
int raftnode_start(struct raftnode *n,
                   uv_loop_t *loop,
                   const struct config *cfg);

/* Close raft; on_closed fires once every request has called back. The
 * replicated state stays readable until raftnode_free (after the loop). */
void raftnode_close(struct raftnode *n);
void raftnode_free(struct raftnode *n);

/* Propose one command. Returns DR_ENOTLEADER when this node is not the
 * leader (no callback then), DR_ENOMEM, or DR_OK. cmd is copied. */
int raftnode_propose(struct raftnode *n,
                     struct raftnode_req *req,
                     const struct fsm_cmd *cmd,
                     raftnode_apply_cb cb);

/* Ask for a linearizable read. DR_ENOTLEADER when not the leader. */
int raftnode_read(struct raftnode *n,
                  struct raftnode_read *req,
                  raftnode_read_cb cb);

/* Membership: add as spare then promote to voter; remove; transfer
 * leadership (id 0: any voter). DR_ENOTLEADER, DR_ECONFLICT when another
 * change runs, DR_EINVAL for a bad id; errmsg (256 bytes) explains. */
int raftnode_add(struct raftnode *n,
                 struct raftnode_change *req,
                 raft_id id,
                 const char *address,
                 raftnode_change_cb cb,
                 char *errmsg);
/* Promote server id, a spare (an add whose promotion was cut short by a
 * leadership change), to voter. DR_ECONFLICT when it is not a spare. */
int raftnode_promote(struct raftnode *n,
                     struct raftnode_change *req,
                     raft_id id,
                     raftnode_change_cb cb,
                     char *errmsg);
int raftnode_remove(struct raftnode *n,
                    struct raftnode_change *req,
                    raft_id id,
                    raftnode_change_cb cb,
                    char *errmsg);
int raftnode_transfer(struct raftnode *n,
                      struct raftnode_change *req,
                      raft_id id,
                      raftnode_change_cb cb,
                      char *errmsg);

/* The replicated state as applied on this node. Read-only: only the FSM's
 * apply path (raft's callbacks into raftfsm) changes it. Valid until
 * raftnode_free. */
const struct fsm *raftnode_state(const struct raftnode *n);

/* fn(data) after each log entry this node applies (one hook; NULL clears
 * it). It runs inside raft's callback: it may note the change or arm a
 * timer, never call back into raft. */
void raftnode_on_applied(struct raftnode *n,
                         void (*fn)(void *data),
                         void *data);

bool raftnode_is_leader(struct raftnode *n);
/* Leader, and everything committed before its term is applied here: only
 * then does the local state answer for the cluster (a barrier of this term
 * has been applied). */
bool raftnode_ready(struct raftnode *n);

/* libraft's and libuv's versions as linked, e.g. "0.22.1" and "1.44.2"
 * (static strings). */
const char *raftnode_libraft_version(void);
const char *raftnode_libuv_version(void);

/* True while a membership change runs or its configuration entry is not
 * committed yet: raft accepts one change at a time. */
bool raftnode_change_pending(struct raftnode *n);
/* Why a membership change cannot start now, in words for the refusal
 * ("another membership change is in progress: ..."). */
void raftnode_change_pending_why(struct raftnode *n, char *buf, size_t size);
/* The leader's id (0 if unknown). */
raft_id raftnode_leader(struct raftnode *n);
/* Milliseconds since the leader last heard from id: 0 for itself, -1 when
 * unknown or when this node is not the leader. */
int64_t raftnode_contact_ms(struct raftnode *n, raft_id id);
/* Milliseconds the leader has not heard from id: its contact when known,
 * else how long this node has led (it never heard from id in that time);
 * -1 when this node is not the leader. */
int64_t raftnode_silence_ms(struct raftnode *n, raft_id id);
/* Role of server id in the current raft configuration: RAFT_VOTER,
 * RAFT_STANDBY, RAFT_SPARE, or -1 when it is not in it. */
int raftnode_role_of(struct raftnode *n, raft_id id);

const char *raftnode_state_name(int state);

/* Build a new TLS context for raft's connections from [tls] (SIGHUP): new
 * connections use it. On failure nothing changes; errmsg (TLS_ERRMSG_MAX)
 * says why. 0 when [tls] is off. */
int raftnode_reload_tls(struct raftnode *n, char *errmsg);

/* "http://LEADER_API_ADDRESS" + path into url (size bytes); false when no
 * leader is known or the replicated state does not list it. */
bool raftnode_leader_url(struct raftnode *n,
                         const char *path,
                         char *url,
                         size_t size);

/* The wall clock (ms since the epoch) a leader stamps log entries with:
 * controllers that judge command times (leases, schedules) use it too. */
uint64_t raftnode_wall_ms(void);

#endif /* DR_RAFTNODE_H */
