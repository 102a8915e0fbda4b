/* The leader's backup controller: new backup jobs on the replicated
 * schedule, restore drills on theirs, expiry of leases that ran out, and
 * retention. It proposes
 * commands and decides nothing the FSM would not check again at its own
 * time; one round of proposals at a time, so a slow commit never doubles a
 * job. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "daemon/log.h"

#define SCHED_RETENTION_BATCH 8
/* Leases are judged on the leader's clock; a little slack for a worker
 * whose renewal is in flight. */
#define SCHED_EXPIRE_SLACK_MS 2000

struct sched_req {
    struct raftnode_req req;
    struct agent *a;
};

static void applied_cb(struct raftnode_req *r, int status,
                       const struct fsm_result *res)
{
    struct sched_req *s = r->data;
    s->a->sched_inflight--;
    if (status == 0 && res != NULL && res->code != DR_OK) {
        log_debug("scheduler: proposal refused: %s", res->msg);
    }
    free(s);
}

static void propose(struct agent *a, const struct fsm_cmd *cmd)
{
    struct sched_req *s = malloc(sizeof(*s));

    if (s == NULL) {
        return;
    }
    s->a = a;
    s->req.data = s;
    if (raftnode_propose(a->node, &s->req, cmd, applied_cb) != DR_OK) {
        free(s);
        return;
    }
    a->sched_inflight++;
}

void agent__schedule(struct agent *a)
{
    const struct fsm *f = &a->node->fsm.state;
    uint64_t now = raftnode_wall_ms();
    const char *victims[SCHED_RETENTION_BATCH];
    struct fsm_cmd cmd;
    size_t n;

    if (a->sched_inflight > 0 || !f->initialized) {
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
            propose(a, &cmd);
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
            propose(a, &cmd);
        }
    }
    if (fsm_drill_due(f, now)) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_DRILL_START;
        cmd.actor = "scheduler";
        cmd.u.drill.kind = FSM_DRILL_RESTORE;
        log_info("scheduler: a restore drill in %s is due",
                 fsm_drill_region(f));
        propose(a, &cmd);
    }
    n = fsm_retention_victims(f, now, victims, SCHED_RETENTION_BATCH);
    for (size_t i = 0; i < n; i++) {
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = FSM_CMD_BACKUP_DELETE;
        cmd.actor = "retention";
        cmd.u.backup_id = victims[i];
        log_info("retention: deleting backup %s", victims[i]);
        propose(a, &cmd);
    }
}
