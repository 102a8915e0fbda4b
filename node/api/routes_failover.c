/* The failover runbook (control/failover.c, fsm/runbook.c):
 *
 *   GET  /api/failover          the current or last runbook, the mode, and
 *                               the region a failover would pick now
 *   POST /api/failover          {"to"?, "force"?, "reason"?, "planned"?}:
 *                               start one (decide) now; planned: a
 *                               switchover (fence, final backups, restore:
 *                               RPO 0), "to" required
 *   POST /api/failover/resume   {"epoch"?}: a blocked runbook goes on
 *   POST /api/failover/abort    {"epoch"?}: call it off */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "control/failover.h"

static void view_runbook(struct jout *j,
                         const struct fsm *f,
                         const struct failover *fo)
{
    static const int order[] = {
        FSM_RB_DECIDE,   FSM_RB_FENCE,    FSM_RB_FINAL_BACKUP, FSM_RB_RESTORE,
        FSM_RB_VERIFY,   FSM_RB_ACTIVATE, FSM_RB_DNS,          FSM_RB_NOTIFY,
        FSM_RB_COMPLETE, FSM_RB_BLOCKED,  FSM_RB_ABORTED};
    const struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_value *mode = fsm_setting(f, "failover.mode");
    const char *why = NULL;
    const char *target = fsm_failover_target(f, false, &why);

    jout_begin(j, '{');
    jout_key(j, "state");
    jout_str(j, rb->id == 0 ? "none" : fsm_rb_step_name(rb->step));
    jout_key(j, "site_state");
    jout_str(j, fsm_site_state_name(f->site.state));
    jout_key(j, "primary_region");
    jout_str(j, f->site.primary_region);
    jout_key(j, "mode");
    jout_str(j, mode != NULL ? mode->s : NULL);
    jout_key(j, "candidate");
    jout_str(j, target);
    jout_key(j, "candidate_why_not");
    jout_str(j, why);
    {
        char layout[300];
        bool ok = fsm_layout_survives_region_loss(f, layout, sizeof(layout));
        jout_key(j, "automatic_possible");
        jout_bool(j, ok);
        jout_key(j, "layout_warning");
        jout_str(j, ok ? NULL : layout);
    }
    jout_key(j, "id");
    jout_uint(j, rb->id);
    jout_key(j, "epoch");
    jout_uint(j, rb->id != 0 ? rb->epoch : f->site.epoch);
    jout_key(j, "from_region");
    jout_str(j, rb->from_region);
    jout_key(j, "to_region");
    jout_str(j, rb->to_region);
    jout_key(j, "reason");
    jout_str(j, rb->reason);
    jout_key(j, "actor");
    jout_str(j, rb->actor);
    jout_key(j, "planned");
    jout_bool(j, rb->planned);
    jout_key(j, "final_pg_job");
    jout_uint(j, rb->final_pg_job);
    jout_key(j, "final_redis_job");
    jout_uint(j, rb->final_redis_job);
    if (rb->step == FSM_RB_FINAL_BACKUP) {
        char wait[FSM_TEXT_MAX];
        jout_key(j, "waiting_for");
        jout_str(j, fsm_switchover_waiting(f, wait, sizeof(wait)));
    }
    jout_key(j, "blocked_step");
    jout_str(j, rb->step == FSM_RB_BLOCKED ? fsm_rb_step_name(rb->blocked_step)
                                           : NULL);
    jout_key(j, "steps");
    jout_begin(j, '[');
    /* In the runbook's order (final_backup's value comes after the
     * others'); a step re-entered after a resume shows its last entry. */
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        int s = order[i];
        if (rb->step_ms[s] == 0) {
            continue;
        }
        jout_begin(j, '{');
        jout_key(j, "step");
        jout_str(j, fsm_rb_step_name(s));
        jout_key(j, "at_ms");
        jout_uint(j, rb->step_ms[s]);
        jout_end(j, '}');
    }
    jout_end(j, ']');
    jout_key(j, "loss_ms");
    jout_uint(j, rb->loss_ms);
    jout_key(j, "fence_deadline_ms");
    jout_uint(j, rb->fence_deadline_ms);
    jout_key(j, "pg_backup");
    jout_str(j, rb->pg_backup);
    jout_key(j, "redis_backup");
    jout_str(j, rb->redis_backup);
    jout_key(j, "restore_point_ms");
    jout_uint(j, rb->restore_point_ms);
    jout_key(j, "job_id");
    jout_uint(j, rb->job_id);
    jout_key(j, "rto_ms");
    jout_uint(j, rb->rto_ms);
    jout_key(j, "rpo_ms");
    jout_uint(j, rb->rpo_ms);
    jout_key(j, "error");
    jout_str(j, rb->error);
    jout_key(j, "detail");
    jout_str(j, rb->detail);
    /* The leader's verdict: the primary's coordinators are silent, and
     * why nothing moves yet (null elsewhere, or when all is well). */
    jout_key(j, "primary_lost");
    if (fo != NULL && fo->primary_lost) {
        jout_begin(j, '{');
        jout_key(j, "region");
        jout_str(j, fo->lost_region);
        jout_key(j, "silence_ms");
        jout_uint(j, fo->lost_silence_ms);
        jout_key(j, "why_no_failover");
        jout_str(j, fo->lost_why[0] != '\0' ? fo->lost_why : NULL);
        jout_end(j, '}');
    } else {
        jout_str(j, NULL);
    }
    jout_end(j, '}');
}

static void do_failover_get(struct api_call *c)
{
    struct jout j;

    jout_init(&j);
    view_runbook(&j, api_state(c), c->api->failover);
    api_reply_jout(c, 200, &j);
}

static void after_step(struct api_call *c)
{
    do_failover_get(c);
}

static void do_failover_start(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"to", JT_STRING, false},
        {"force", JT_BOOL, false},
        {"reason", JT_STRING, false},
        {"planned", JT_BOOL, false},
    };
    const struct fsm *f = api_state(c);
    const struct jin *v;
    struct fsm_cmd cmd;
    uint64_t last = 0;

    if (api__check_body(c, fields, 4) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_FAILOVER_START;
    cmd.actor = c->actor;
    v = jin_get(c->body, "to");
    cmd.u.failover.to = v != NULL ? v->u.str.s : NULL;
    v = jin_get(c->body, "force");
    cmd.u.failover.force = v != NULL && v->u.b;
    v = jin_get(c->body, "planned");
    cmd.u.failover.planned = v != NULL && v->u.b;
    v = jin_get(c->body, "reason");
    cmd.u.failover.reason = v != NULL ? v->u.str.s
                            : cmd.u.failover.planned
                                ? "switchover asked for by an operator"
                                : "failover asked for by an operator";
    if (f->site.primary_region != NULL) {
        uint64_t now = raftnode_wall_ms();
        /* The old primary's nodes fence themselves once they lose the
         * leader or learn the new epoch; --force: the operator vouches that
         * they are fenced already. */
        uint64_t deadline = failover_fence_deadline(
            c->api->node, f->site.primary_region, now, &last);
        /* A switchover waits for the old primary's confirmed fence
         * whatever --force says (force only waives the target's health). */
        cmd.u.failover.fence_deadline_ms =
            cmd.u.failover.force && !cmd.u.failover.planned ? now : deadline;
        cmd.u.failover.loss_ms = now;
    }
    api_propose_then(c, &cmd, after_step);
}

static void runbook_cmd(struct api_call *c, int type)
{
    static const struct api_field fields[] = {
        {"epoch", JT_INT, false},
    };
    const struct fsm *f = api_state(c);
    const struct jin *v;
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 1) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = type;
    cmd.actor = c->actor;
    v = jin_get(c->body, "epoch");
    cmd.u.runbook.epoch =
        v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : f->site.runbook.epoch;
    api_propose_then(c, &cmd, after_step);
}

static void do_failover_resume(struct api_call *c)
{
    runbook_cmd(c, FSM_CMD_RUNBOOK_RESUME);
}

static void do_failover_abort(struct api_call *c)
{
    runbook_cmd(c, FSM_CMD_RUNBOOK_ABORT);
}

static const struct api_route_def routes[] = {
    {"GET", "/api/failover", NULL, ROUTE_FAILOVER, API_READ, API_ROLE_READER, 0,
     do_failover_get, NULL},
    {"POST", "/api/failover", NULL, ROUTE_FAILOVER, API_WRITE, API_ROLE_ADMIN,
     API_BODY, do_failover_start, NULL},
    {"POST", "/api/failover/resume", NULL, ROUTE_FAILOVER, API_WRITE,
     API_ROLE_ADMIN, API_BODY, do_failover_resume, NULL},
    {"POST", "/api/failover/abort", NULL, ROUTE_FAILOVER, API_WRITE,
     API_ROLE_ADMIN, API_BODY, do_failover_abort, NULL},
};

const struct api_route_table api_routes_failover = API_ROUTE_TABLE(routes);
