/* Reachability of the other regions' public endpoints, seen from this node.
 *
 * Every round (the probe interval) the node tries each endpoint of every
 * other region (the replicated region records name them: drctl regions
 * update R --endpoints ...): a TCP connection for tcp://, postgres:// and
 * redis:// (host names resolved on libuv's thread pool, never on the
 * loop), a GET for http(s):// URLs (curl on the loop), where an answer
 * below 500 counts and a 5xx (a load balancer whose backends are gone, an
 * app that cannot serve) does not. A region is reachable when one of its
 * endpoints answered in the last round; once a whole round fails, down_ms
 * counts from the last time one of them answered (as Sentinel's
 * down-after-milliseconds does), so the probe interval does not add to the
 * detection window. The node reports
 * that with its probe report; the leader needs it before it declares a
 * region whose coordinators are silent lost (control/failover.c): silent
 * coordinators alone may be dead coordinators in a data center that still
 * serves. */
#ifndef DR_CONTROL_REACH_H
#define DR_CONTROL_REACH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "fsm/fsm.h"
#include "http/httpc.h"
#include "raft/raftnode.h"

#define REACH_REGIONS_MAX 16 /* other regions probed */
#define REACH_ATTEMPTS_MAX (REACH_REGIONS_MAX * FSM_ENDPOINTS_MAX)

struct reach;

struct reach_region
{
    char name[64];
    bool seen;           /* probed at least one full round */
    bool ok_this_round;  /* an endpoint answered in the current round */
    uint64_t down_since; /* loop ms since which none answered; 0: up */
    uint64_t last_ok;    /* loop ms of the last answer; 0: none yet */
    char last_error[160];
};

struct reach_attempt
{
    struct reach *r;
    int region; /* index in regions[] */
    bool busy;
    int open; /* handles not yet closed (tcp, timer) */
    bool done;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t timeout;
    bool is_http;          /* an http(s) endpoint: a GET, not a connect */
    struct httpc_req http; /* its request */
    char host[FSM_HOST_MAX + 1];
    char port[8];
};

struct reach
{
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct raftnode *node;    /* borrowed */
    uv_timer_t timer;
    bool stopping;
    int open; /* the timer, and attempts' handles, not yet closed */
    void (*stopped_cb)(struct reach *r);
    uint64_t round_start;
    int round_left; /* attempts of the current round not finished */
    struct reach_region regions[REACH_REGIONS_MAX];
    size_t n_regions;
    struct reach_attempt attempts[REACH_ATTEMPTS_MAX];
    uint64_t rounds;
    struct httpc http; /* GETs of http(s) endpoints */
    bool http_ready;
};

int reach_start(struct reach *r,
                uv_loop_t *loop,
                const struct config *cfg,
                struct raftnode *node);
/* Close everything, then call cb (may be NULL). */
void reach_stop(struct reach *r, void (*cb)(struct reach *r));

/* How long every endpoint of region has failed (0: one answered in the last
 * round), or -1 when this node has no verdict (its own region, no
 * endpoints, not probed yet). */
int64_t reach_down_ms(const struct reach *r, const char *region);

#endif /* DR_CONTROL_REACH_H */
