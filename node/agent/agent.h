/* Per-node job worker.
 *
 * The worker (every node) claims pending jobs of its own region through the
 * leader, runs each in a `drnode --run-job` child process, renews the lease
 * while the child runs, kills the child when the lease is lost, and reports
 * the outcome through the leader. It never touches the state directly:
 * everything goes through the log. (The leader's scheduler, which creates
 * the jobs, is in control/scheduler.h.) */
#ifndef DR_AGENT_H
#define DR_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "http/httpc.h"
#include "raft/raftnode.h"

enum agent_phase {
    AGENT_IDLE = 0,
    AGENT_CLAIMING,  /* claim request in flight */
    AGENT_RUNNING,   /* the child runs; renewals go out */
    AGENT_FINISHING, /* the outcome is being committed */
};

/* Which jobs a worker claims: a node runs two, so that the WAL stream,
 * which never ends, leaves the other jobs a worker of their own. */
enum agent_lane {
    AGENT_LANE_JOBS = 0, /* every kind but wal_stream, one at a time */
    AGENT_LANE_STREAM,   /* wal_stream only */
};

struct agent
{
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct raftnode *node;    /* borrowed */
    char token[512];
    char self_exe[1024];
    struct httpc http;
    uv_timer_t tick;
    int phase; /* enum agent_phase */
    int lane;  /* enum agent_lane */
    bool stopping;
    int open_handles;
    void (*stopped_cb)(struct agent *a);
    /* the job at hand */
    uint64_t job_id;
    uint32_t attempt;
    int job_kind;
    uint64_t lease_ms;
    uint64_t lease_expires_local; /* uv_now when the lease ends, as known */
    uint64_t next_renew;          /* uv_now of the next renewal */
    uint64_t retry_at;            /* uv_now before which nothing is claimed */
    struct
    {
        uint64_t job;   /* a job left to better-equipped nodes */
        uint64_t since; /* uv_now when this node first saw it */
    } deferred[4];
    bool renew_inflight;
    bool lost_lease;
    struct httpc_req req; /* claim / finish */
    struct httpc_req renew_req;
    /* the child */
    uv_process_t proc;
    uv_pipe_t in, out;
    uv_write_t write;
    /* steps the child finished (job_progress): a line in, a renewal with
     * the phase to the leader, "ok" or "stop WHY" back once committed */
    uv_pipe_t prog;
    bool prog_open;
    char prog_line[8192];
    size_t prog_len;
    char *phase_body; /* the renewal carrying it, until committed */
    bool renew_phase; /* the renewal in flight carries it */
    uv_write_t prog_write;
    char prog_reply[320];
    char *spec;
    char *output;
    size_t output_len, output_cap;
    bool proc_alive, out_open, in_open;
    int64_t exit_status;
    int term_signal;
    char *finish_body;
    int finish_tries;
    uint64_t jobs_run, jobs_failed, leases_lost; /* metrics */
};

/* Start the worker of lane. token (copied) authenticates to the
 * leader's API. */
int agent_start(struct agent *a,
                uv_loop_t *loop,
                const struct config *cfg,
                struct raftnode *node,
                const char *token,
                int lane,
                char *errmsg);
/* Kill a running child, cancel requests, close handles, then cb. */
void agent_stop(struct agent *a, void (*cb)(struct agent *a));

#endif /* DR_AGENT_H */
