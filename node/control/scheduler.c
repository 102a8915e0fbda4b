/* The leader's backup controller: new backup jobs on the replicated
 * schedule, copies of backups into the regions that lack them, restore
 * drills on their schedule, expiry of leases that ran out, and retention.
 * It proposes
 * commands and decides nothing the FSM would not check again at its own
 * time; one round of proposals at a time, so a slow commit never doubles a
 * job. */
#include "control/scheduler.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

#define SCHED_TICK_MS 500

#define SCHED_RETENTION_BATCH 8
#define SCHED_REPLICATION_BATCH 16
/* Leases are judged on the leader's clock; a little slack for a worker
 * whose renewal is in flight. */
#define SCHED_EXPIRE_SLACK_MS 2000

struct sched_req
{
    struct raftnode_req req;
    struct scheduler *s;
};

static void applied_cb(struct raftnode_req *r,
                       int status,
                       const struct fsm_result *res)
{
    struct sched_req *q = r->data;
    q->s->inflight--;
    if (status == 0 && res != NULL && res->code != DR_OK) {
        log_debug("scheduler: proposal refused: %s", res->msg);
    }
    free(q);
}

static void propose(struct scheduler *s, const struct fsm_cmd *cmd)
{
    struct sched_req *q = malloc(sizeof(*q));

    if (q == NULL) {
        return;
    }
    q->s = s;
    q->req.data = q;
    if (raftnode_propose(s->node, &q->req, cmd, applied_cb) != DR_OK) {
        free(q);
        return;
    }
    s->inflight++;
}

void scheduler_step(struct scheduler *s)
{
    const struct fsm *f = raftnode_state(s->node);
    uint64_t now = raftnode_wall_ms();
    const char *victims[SCHED_RETENTION_BATCH];
    struct fsm_repl_want wants[SCHED_REPLICATION_BATCH];
    struct fsm_cmd cmd;
    size_t n;

    if (s->inflight > 0 || !f->initialized || !raftnode_ready(s->node)) {
        return;
    }
    for (int kind = 0; kind < FSM_BACKUP_KINDS; kind++) {
        if (fsm_backup_due(f, kind, now)) {
            memset(&cmd, 0, sizeof(cmd));
            cmd.type = FSM_CMD_JOB_CREATE;
            cmd.actor = "scheduler";
            cmd.u.job.kind = FSM_JOB_BACKUP;
            cmd.u.job.backup_kind = kind;
            log_info("scheduler: %s backup of %s is due",
                     fsm_backup_kind_name(kind), f->site.primary_region);
            propose(s, &cmd);
        }
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->state == FSM_JOB_RUNNING &&
            now > j->lease_expires_ms + SCHED_EXPIRE_SLACK_MS) {
            memset(&cmd, 0, sizeof(cmd));
            cmd.type = FSM_CMD_JOB_EXPIRE;
            cmd.actor = "scheduler";
            cmd.u.job.job_id = j->id;
            cmd.u.job.attempt = j->attempt;
            log_warn("scheduler: job %" PRIu64 " attempt %u: node %" PRIu64
                     " stopped renewing its lease",
                     j->id, (unsigned)j->attempt, j->owner);
            propose(s, &cmd);
        }
    }
    if (fsm_wal_stream_wanted(f)) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_JOB_CREATE;
        cmd.actor = "scheduler";
        cmd.u.job.kind = FSM_JOB_WAL_STREAM;
        cmd.u.job.region = f->site.primary_region;
        log_info("scheduler: streaming the WAL of %s", f->site.primary_region);
        propose(s, &cmd);
    }
    for (size_t i = 0; i < f->n_regions; i++) {
        if (!fsm_wal_scan_due(f, f->regions[i].name, now)) {
            continue;
        }
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_JOB_CREATE;
        cmd.actor = "scheduler";
        cmd.u.job.kind = FSM_JOB_WAL_SCAN;
        cmd.u.job.region = f->regions[i].name;
        propose(s, &cmd);
    }
    n = fsm_replication_wanted(f, now, wants, SCHED_REPLICATION_BATCH);
    for (size_t i = 0; i < n; i++) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_JOB_CREATE;
        cmd.actor = "replication";
        cmd.u.job.kind = FSM_JOB_REPLICATE;
        cmd.u.job.backup_id = wants[i].backup_id;
        cmd.u.job.region = wants[i].region;
        log_info("replication: copying %s to %s", wants[i].backup_id,
                 wants[i].region);
        propose(s, &cmd);
    }
    if (fsm_drill_due(f, now)) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_DRILL_START;
        cmd.actor = "scheduler";
        cmd.u.drill.kind = FSM_DRILL_RESTORE;
        log_info("scheduler: a restore drill in %s is due",
                 fsm_drill_region(f));
        propose(s, &cmd);
    } else if (fsm_failover_drill_due(f, now)) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_DRILL_START;
        cmd.actor = "scheduler";
        cmd.u.drill.kind = FSM_DRILL_FAILOVER;
        log_info("scheduler: a failover drill to %s is due",
                 fsm_failover_target(f, false, NULL));
        propose(s, &cmd);
    }
    n = fsm_retention_victims(f, now, victims, SCHED_RETENTION_BATCH);
    for (size_t i = 0; i < n; i++) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_BACKUP_DELETE;
        cmd.actor = "retention";
        cmd.u.backup_id = victims[i];
        log_info("retention: deleting backup %s", victims[i]);
        propose(s, &cmd);
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct scheduler *s = t->data;
    if (!s->stopping) {
        scheduler_step(s);
    }
}

void scheduler_start(struct scheduler *s,
                     uv_loop_t *loop,
                     struct raftnode *node)
{
    memset(s, 0, sizeof(*s));
    s->node = node;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, tick_cb, SCHED_TICK_MS, SCHED_TICK_MS);
}

static void closed_cb(uv_handle_t *h)
{
    struct scheduler *s = h->data;
    if (s->stopped_cb != NULL) {
        s->stopped_cb(s);
    }
}

void scheduler_stop(struct scheduler *s, void (*cb)(struct scheduler *s))
{
    s->stopping = true;
    s->stopped_cb = cb;
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, closed_cb);
}
