/* Health of the regions' services and the circuit breakers' timers.
 *
 * Every node probes its own region (node/probe) and reports each round to
 * the leader. The leader keeps the newest report per region in memory (not
 * every probe goes through the log), commits a region's service health
 * when it changes, turns LLM probe outcomes into breaker events, and
 * proposes the half-open move of every open breaker whose reset timeout is
 * over. Nothing here changes state except through the log. */
#ifndef DR_CONTROL_HEALTH_H
#define DR_CONTROL_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "control/reach.h"
#include "http/httpc.h"
#include "json/jsonin.h"
#include "json/jsonout.h"
#include "probe/probe.h"
#include "raft/raftnode.h"

/* One region's services as a node of it reported them. */
struct health_report
{
    char region[64];
    uint64_t node;
    uint64_t received;      /* uv_now() when it arrived */
    uint64_t applied_index; /* the reporting node's raft applied index */
    uint32_t interval_ms, timeout_ms; /* the reporter's probe settings (0:
                                         unknown, the leader's are used) */
    struct probe_result results[PROBE__COUNT];
    bool proposing;         /* a REGION_HEALTH for it is in flight */
    int last[FSM_SERVICES]; /* what the previous report said */
    bool confirmed;         /* two reports in a row said the same */
    /* The other regions' endpoints as the reporter sees them (reach.h):
     * down_ms 0 = one answered in its last round. */
    struct health_remote
    {
        char region[64];
        uint64_t down_ms;
    } remote[REACH_REGIONS_MAX];
    size_t n_remote;
    /* The newest runbook epoch the reporter's fence hook ran for and
     * succeeded (0: none): its confirmation that it is fenced. */
    uint64_t fenced_epoch;
    /* Its probe results were in a report a leader already took (sent
     * again for a new leader or a fence confirmation): they count towards
     * no breaker a second time. */
    bool repeat;
};

/* The leader's freshest word from each (node, region) pair on a region's
 * endpoints. */
struct health_evidence
{
    uint64_t node;
    char reporter_region[64];
    char region[64];
    uint64_t down_ms;
    uint64_t received; /* uv_now() */
    uint64_t fresh;    /* ms it stays fresh */
};

struct health
{
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct raftnode *node;    /* borrowed */
    char token[512];
    struct prober prober;
    bool probing;
    struct reach reach;
    uint64_t fenced_epoch; /* this node's, set by control/failover.c */
    struct httpc http;
    struct httpc_req report_req;
    bool report_inflight;
    bool report_again; /* asked for while one was in flight */
    /* Prober rounds: the one in the report on its way, the newest a
     * leader took (its LLM outcomes counted). */
    uint64_t inflight_round, counted_round;
    raft_id seen_leader;     /* the leader this node last knew (0: none) */
    raft_id inflight_leader; /* the one the report on its way is for */
    bool leader_report_due;  /* a new leader has not taken a report yet */
    uv_timer_t tick;
    /* uv_now() since the WAL stream's slot has been seen unread while the
     * catalog wants none in this region (0: not so) */
    uint64_t slot_unwanted_since;
    uint64_t slot_drop_warned_ms; /* uv_now() of the last failed-drop log */
    /* PostgreSQL and Redis: failed rounds in a row, and the last round
     * that found each up (status PROBE_UP; reported instead of a failure
     * until [probes] down_after rounds have failed) */
    unsigned down_rounds[PROBE__COUNT];
    struct probe_result last_up[PROBE__COUNT];
    bool stopping;
    int open_parts; /* prober, httpc, timer not yet closed */
    void (*stopped_cb)(struct health *h);
    /* leader */
    struct health_report reports[FSM_REGIONS_MAX];
    size_t n_reports;
    bool half_open_pending[FSM_PROVIDERS];
    uint64_t ready_since; /* uv_now when this node became the leader */
    struct health_member
    {
        uint64_t id, applied_index;
        uint64_t received;      /* uv_now() */
        uint64_t fresh;         /* ms its reports stay fresh */
        uint64_t fenced_epoch;  /* as its last report said */
    } members[FSM_MEMBERS_MAX]; /* applied index each node last reported */
    size_t n_members;
    struct health_evidence evidence[FSM_MEMBERS_MAX];
    size_t n_evidence;
    int proposals; /* in flight */
    /* metrics */
    uint64_t reports_sent, reports_failed, reports_received;
};

/* Start probing and, on the leader, the controller. cfg and node are
 * borrowed for its life; token (copied) authenticates reports to the
 * leader. errmsg (256 bytes) says why it could not start. */
int health_start(struct health *h,
                 uv_loop_t *loop,
                 const struct config *cfg,
                 struct raftnode *node,
                 const char *token,
                 char *errmsg);
/* Stop probes and requests, close every handle, then call cb (may be
 * NULL). Proposals in flight still call back into h: it must outlive
 * raft. */
void health_stop(struct health *h, void (*cb)(struct health *h));

/* Leader: take a region's report (copied). DR_ENOTLEADER on a follower,
 * DR_ENOTFOUND when the region is not in the replicated state. */
int health_ingest(struct health *h, const struct health_report *r);

/* The leader's fresh view of region (reported within three probe
 * intervals), or NULL (not the leader, no recent report). */
const struct health_report *health_view(const struct health *h,
                                        const char *region);

/* Leader: entries member id is behind the leader's commit index, as of
 * its last report (fresh as in health_view), or -1 when unknown. */
int64_t health_member_lag(const struct health *h, uint64_t id);

/* Leader: whether region's public endpoints are down for the leader's
 * purposes. Returns 1 when a fresh report of a node of another region says
 * every endpoint has failed for at least window_ms, 0 when a fresh report
 * says one answers (or none is down long enough), -1 when no node of
 * another region has a fresh verdict. why (size bytes) names the evidence. */
int health_endpoints_down(const struct health *h,
                          const char *region,
                          uint64_t window_ms,
                          char *why,
                          size_t size);

/* Report this node's state now rather than at the next probe round (a
 * fence just confirmed). */
void health_report_soon(struct health *h);

/* Leader: every member of region has reported, freshly, that its fence
 * hook succeeded for the runbook of epoch (or a later one). */
bool health_region_fenced(const struct health *h,
                          const struct fsm *st,
                          const char *region,
                          uint64_t epoch);

/* The replicated status a probe result stands for. */
int health_service_status(const struct probe_result *r);

/* Reports on the wire (POST /api/probes): write r as JSON; parse one back,
 * checking every field. parse fills out (received = 0) or returns
 * DR_EINVAL with errmsg (256 bytes) naming the field. */
void health_report_write(struct jout *j, const struct health_report *r);
/* "models": [...] of an LLM provider's result, into the current object. */
void health_write_models(struct jout *j, const struct probe_result *r);
int health_report_parse(const struct jin *root,
                        struct health_report *out,
                        char *errmsg);

#endif /* DR_CONTROL_HEALTH_H */
