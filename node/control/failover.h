/* The failover controller (failover.c), on every node's loop:
 *
 * - on every node, fencing: a node that has heard from no leader for
 *   fence.timeout_ms runs its [hooks] fence command once (it may be the
 *   cut-off old primary), and so does a node of a region the committed
 *   runbook moved the primary away from, once per epoch;
 * - on the leader, the runbook's own steps: detection of a lost primary
 *   region (failover.mode automatic), the fence wait, the DNS update and its
 *   confirmation, the webhooks, completion. Restore, verify and activate
 *   run as a job in the DR region (agent).
 *
 * Every step is a committed command; the controller keeps only what it is
 * doing right now, so a new leader resumes from the replicated state. */
#ifndef DR_CONTROL_FAILOVER_H
#define DR_CONTROL_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "control/awsrole.h"
#include "control/health.h"
#include "dns/dns.h"
#include "dns/lookup.h"
#include "http/httpc.h"
#include "raft/raftnode.h"

#define FAILOVER_NOTIFY_MAX 8

struct failover;

/* One webhook of the notify step: delivered at least once per epoch (a
 * new leader sends again; receivers deduplicate by the event's "id"). */
struct failover_notify
{
    struct httpc_req req;
    struct failover *f;
    bool busy;
    bool done;         /* answered 2xx, or given up after the last try */
    uint32_t tries;    /* sent this many times for notify_epoch */
    uint64_t retry_at; /* loop time of the next try */
};

struct failover
{
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct raftnode *node;    /* borrowed */
    struct health *health;    /* borrowed, may be NULL */
    struct httpc http;
    uv_timer_t tick;
    bool stopping;
    int open; /* handles and the client not yet closed */
    void (*stopped_cb)(struct failover *f);
    /* Fencing on this node. */
    uint64_t last_leader_ms;   /* loop time a leader was last known */
    bool self_fenced;          /* ran the hook for this loss of contact */
    uint64_t self_fence_epoch; /* the site's epoch when it did */
    uint64_t fenced_epoch;     /* ran the hook for the runbook of this epoch */
    uint64_t fence_retry_at;   /* a runbook's fence hook failed: try again */
    uv_process_t hook;
    bool hook_running; /* until its handle has closed */
    const char *hook_kind;
    uint64_t hook_fence_epoch; /* a runbook's fence hook: its epoch */
    char dns_api_key[256];     /* [dns] api_key_file, read at start */
    struct dns_tsig_key tsig;  /* [dns] tsig_key_file, read at start */
    struct s3_creds aws;       /* [dns] aws_credentials_file, the env, or
                                  the instance role (fetched when needed) */
    bool has_aws;
    struct awsrole role;     /* the instance role's credentials, async */
    uint64_t role_failed_at; /* loop time the last fetch failed, 0 */
    /* The leader's step in progress. */
    bool inflight; /* a proposal not yet answered */
    bool dns_busy;
    bool dns_live;      /* dns's handles are open */
    uint64_t dns_epoch; /* the runbook the DNS step ran for */
    uint32_t dns_attempts;
    uint64_t dns_retry_at;
    struct dns_publish dns;
    /* A failover drill's practice DNS: publish, then remove. */
    struct dns_publish drill_dns;
    uint64_t drill_id;           /* the drill being published, 0: none */
    int drill_phase;             /* 0 idle, 1 publish, 2 remove, 3 report */
    bool drill_live;             /* drill_dns's handles are open */
    uint64_t drill_confirmed_ms; /* wall time the practice name answered */
    uint32_t drill_attempts;
    uint64_t drill_retry_at;
    char drill_error[300];
    struct raftnode_read barrier;
    uint64_t barrier_epoch;
    struct failover_notify notify[FAILOVER_NOTIFY_MAX];
    uint64_t notify_epoch;       /* the runbook notify[] is for */
    uint64_t webhooks_delivered; /* /metrics counters */
    uint64_t webhooks_failed;
    uint64_t detect_logged_ms;
    char detect_logged_what[300]; /* the verdict last logged */
    /* The leader's verdict on the primary region, for /metrics: lost (no
     * coordinator heard from for the detection window) and no runbook
     * moving yet (manual mode, or no region can take over). */
    bool primary_lost;
    char lost_region[64];
    uint64_t lost_silence_ms;
    char lost_why[300]; /* why no failover moves (endpoints, mode...) */
    /* What dns.servers answer for dns.name now (every node, dnswatch.c). */
    struct dns_lookup watch;
    bool watch_live;      /* watch's handles are open */
    uint64_t watch_next;  /* loop time of the next lookup */
    char watch_name[256]; /* the name of watch_last */
    struct dns_lookup_result watch_last[DNS_SERVERS_MAX];
    size_t watch_n;        /* servers in watch_last */
    uint64_t watch_at_ms;  /* wall time watch_last was taken, 0: never */
    char watch_error[256]; /* why nothing is asked ("": asked) */
};

/* health (borrowed, may be NULL) tells whether the other regions reach a
 * silent region's endpoints and whether a region confirmed its fencing;
 * this node's own confirmation goes out with its probe reports. */
int failover_start(struct failover *f,
                   uv_loop_t *loop,
                   const struct config *cfg,
                   struct raftnode *node,
                   struct health *health,
                   char *err);
void failover_stop(struct failover *f, void (*cb)(struct failover *f));

/* When the fence deadline of region's coordinators falls (loop-independent
 * wall time): the latest time the leader heard from any of them, plus
 * fence.timeout_ms and a clock-drift margin. now_ms when none was ever
 * heard from. Exposed for the API's manual failover. */
/* DNS watch (dnswatch.c): every FO_DNS_WATCH_MS, ask dns.servers what
 * dns.name answers; called from the controller's tick. */
void failover__dns_watch(struct failover *f);
void failover__dns_watch_stop(struct failover *f);
/* Does the last answer of server i point at the primary region's
 * dns_targets (a CNAME to its one host name, or exactly its addresses)?
 * Writes the expected targets, comma-separated, into want when given. */
bool failover_dns_matches(const struct failover *f,
                          const struct fsm *st,
                          size_t i,
                          char *want,
                          size_t want_size);

uint64_t failover_fence_deadline(struct raftnode *node,
                                 const char *region,
                                 uint64_t now_ms,
                                 uint64_t *last_heard_ms);

#endif
