/* The failover runbook as replicated state (DESIGN.md, "Failure detection
 * and failover"). FAILOVER_START is the decide step: it picks the DR
 * region and its restore point, bumps the epoch and makes the DR region
 * primary in that epoch, so at most one region is primary per epoch. Each
 * later step is committed before the next begins (RUNBOOK_STEP, by the
 * leader's controller, or the restore job's finish), so a new leader
 * resumes where the old one stopped; the step a command names must be the
 * current one, so a step is never taken twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/internal.h"
#include "fsm/sm.h"

const char *fsm_rb_step_name(int step)
{
    return fsm_sm_name(&fsm_runbook_sm, step);
}

bool fsm_failover_automatic(const struct fsm *f)
{
    const struct fsm_value *mode = fsm_setting(f, "failover.mode");
    return mode != NULL && mode->s != NULL &&
           (strcmp(mode->s, "auto") == 0 || strcmp(mode->s, "automatic") == 0);
}

bool fsm_dns_configured(const struct fsm *f)
{
    const struct fsm_value *p = fsm_setting(f, "dns.provider");
    const char *prov = p != NULL && p->s != NULL ? p->s : "pdns";
    const char *key = strcmp(prov, "rfc2136") == 0   ? "dns.update_server"
                      : strcmp(prov, "route53") == 0 ? "dns.zone_id"
                                                     : "dns.api_url";
    const struct fsm_value *v = fsm_setting(f, key);
    return v != NULL && v->s != NULL && v->s[0] != '\0';
}

bool fsm_runbook_active(const struct fsm *f)
{
    int s = f->site.runbook.step;
    return s != FSM_RB_NONE && s != FSM_RB_COMPLETE && s != FSM_RB_ABORTED;
}

const struct fsm_backup *fsm_restore_point(const struct fsm *f,
                                           const char *region,
                                           int kind)
{
    const struct fsm_backup *best = NULL;

    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        const struct fsm_copy *c = fsm_copy_get(b, region);
        if (b->kind == kind && b->state == FSM_BACKUP_COMPLETE && c != NULL &&
            c->state == FSM_COPY_VERIFIED &&
            (best == NULL || b->snapshot_ms > best->snapshot_ms)) {
            best = b;
        }
    }
    return best;
}

bool fsm_regions_survive_loss(const char *const *regions,
                              size_t n,
                              char *why,
                              size_t why_size)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = j < i && strcmp(regions[j], regions[i]) == 0;
        }
        if (seen) {
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            k += strcmp(regions[j], regions[i]) == 0;
        }
        if (2 * k >= n) {
            snprintf(why, why_size,
                     "region %s holds %zu of the %zu coordinators: losing it "
                     "loses the majority, so no failover could be committed "
                     "(every region must hold fewer than half)",
                     regions[i], k, n);
            return false;
        }
    }
    if (why_size > 0) {
        why[0] = '\0';
    }
    return n > 0;
}

bool fsm_layout_survives_region_loss(const struct fsm *f,
                                     char *why,
                                     size_t why_size)
{
    const char *regions[FSM_MEMBERS_MAX];
    size_t n = 0;

    for (size_t i = 0; i < f->n_members && n < FSM_MEMBERS_MAX; i++) {
        regions[n++] = f->members[i].region;
    }
    if (n == 0) {
        snprintf(why, why_size, "no coordinators");
        return false;
    }
    return fsm_regions_survive_loss(regions, n, why, why_size);
}

static bool has_members(const struct fsm *f, const char *region)
{
    for (size_t i = 0; i < f->n_members; i++) {
        if (strcmp(f->members[i].region, region) == 0) {
            return true;
        }
    }
    return false;
}

/* The data a failover to r would restore, newest first: pg, else Redis. */
static uint64_t point_ms(const struct fsm *f, const char *region)
{
    const struct fsm_backup *b =
        fsm_restore_point(f, region, FSM_BACKUP_PG_LOGICAL);
    if (b == NULL) {
        b = fsm_restore_point(f, region, FSM_BACKUP_REDIS);
    }
    return b != NULL ? b->snapshot_ms : 0;
}

/* Why r cannot take over, or NULL when it can. */
static const char *unfit(const struct fsm *f,
                         const struct fsm_region *r,
                         bool force)
{
    if (f->site.primary_region != NULL &&
        strcmp(r->name, f->site.primary_region) == 0) {
        return "it is the primary";
    }
    if (!has_members(f, r->name)) {
        return "it has no coordinator nodes";
    }
    if (r->status == FSM_REGION_LOST) {
        return "it is lost";
    }
    if (!force && r->status != FSM_REGION_HEALTHY) {
        return "it is degraded (--force to fail over anyway)";
    }
    if (point_ms(f, r->name) == 0) {
        return "it holds no verified copy of a backup (drctl replication "
               "status shows its copies)";
    }
    return NULL;
}

const char *fsm_failover_target(const struct fsm *f,
                                bool force,
                                const char **why)
{
    const struct fsm_region *best = NULL;
    const char *last = "there is no other region";
    const char *dummy;

    if (why == NULL) {
        why = &dummy;
    }
    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        const char *no = unfit(f, r, force);
        if (no != NULL) {
            if (f->site.primary_region == NULL ||
                strcmp(r->name, f->site.primary_region) != 0) {
                last = no;
            }
            continue;
        }
        if (best == NULL || r->priority > best->priority ||
            (r->priority == best->priority &&
             point_ms(f, r->name) > point_ms(f, best->name))) {
            best = r;
        }
    }
    *why = best != NULL ? NULL : last;
    return best != NULL ? best->name : NULL;
}

/* The backup a final backup job made, or NULL while there is none. */
static const struct fsm_backup *final_backup(const struct fsm *f,
                                             uint64_t job_id)
{
    for (size_t i = 0; i < f->n_backups && job_id != 0; i++) {
        if (f->backups[i].job_id == job_id &&
            f->backups[i].state == FSM_BACKUP_COMPLETE) {
            return &f->backups[i];
        }
    }
    return NULL;
}

const char *fsm_switchover_waiting(const struct fsm *f,
                                   char *why,
                                   size_t why_size)
{
    const struct fsm_runbook *rb = &f->site.runbook;
    const uint64_t jobs[2] = {rb->final_pg_job, rb->final_redis_job};

    for (int k = 0; k < 2; k++) {
        const struct fsm_backup *b = final_backup(f, jobs[k]);
        const struct fsm_copy *c =
            b != NULL ? fsm_copy_get(b, rb->to_region) : NULL;
        if (jobs[k] == 0) {
            continue;
        }
        if (b == NULL) {
            snprintf(why, why_size,
                     "the final %s backup (job %llu) is not taken yet",
                     fsm_backup_kind_name(k), (unsigned long long)jobs[k]);
            return why;
        }
        if (c == NULL || c->state != FSM_COPY_VERIFIED) {
            snprintf(why, why_size,
                     "the final %s backup %s is not verified in %s yet (%s)",
                     fsm_backup_kind_name(k), b->id, rb->to_region,
                     c == NULL ? "no copy" : fsm_copy_state_name(c->state));
            return why;
        }
    }
    return NULL;
}

/* Checks. */

static int check_start(const struct fsm *f,
                       const struct fsm_cmd_failover *c,
                       struct fsm_result *res)
{
    const char *why = NULL;

    if (fsm_runbook_active(f)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "a failover to %s runs already (step %s): see "
                           "drctl failover status",
                           f->site.runbook.to_region,
                           fsm_rb_step_name(f->site.runbook.step));
    }
    if (f->site.state != FSM_SITE_ACTIVE) {
        return fsm__reject(res, DR_ECONFLICT, "the site is %s, not active",
                           fsm_site_state_name(f->site.state));
    }
    if (c->reason != NULL && strlen(c->reason) > FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL, "reason is too long");
    }
    if (c->planned) {
        const struct fsm_region *p =
            f->site.primary_region != NULL
                ? fsm_region_get(f, f->site.primary_region)
                : NULL;
        if (p == NULL) {
            return fsm__reject(res, DR_ECONFLICT, "there is no primary region");
        }
        if (c->to == NULL || c->to[0] == '\0') {
            return fsm__reject(res, DR_EINVAL,
                               "a switchover needs the region to move to");
        }
        if (p->status != FSM_REGION_HEALTHY) {
            return fsm__reject(
                res, DR_ECONFLICT,
                "cannot switch over: the primary %s is %s, so it cannot take "
                "final backups (drctl failover --to %s instead)",
                p->name, fsm_region_status_name(p->status), c->to);
        }
        if (p->object_store[0] == '\0') {
            return fsm__reject(res, DR_ECONFLICT,
                               "cannot switch over: the primary %s has no "
                               "object store for its final backups",
                               p->name);
        }
    }
    if (c->to != NULL && c->to[0] != '\0') {
        const struct fsm_region *r = fsm_region_get(f, c->to);
        if (r == NULL) {
            return fsm__reject(res, DR_ENOTFOUND, "region %s does not exist",
                               c->to);
        }
        why = unfit(f, r, c->force);
        if (why != NULL) {
            return fsm__reject(res, DR_ECONFLICT, "cannot %s to %s: %s",
                               c->planned ? "switch over" : "fail over", c->to,
                               why);
        }
        return DR_OK;
    }
    if (fsm_failover_target(f, c->force, &why) == NULL) {
        return fsm__reject(res, DR_ECONFLICT,
                           "no region can take over from %s: %s",
                           f->site.primary_region, why);
    }
    return DR_OK;
}

static int check_runbook(const struct fsm *f,
                         const struct fsm_cmd *cmd,
                         struct fsm_result *res)
{
    const struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_cmd_runbook *c = &cmd->u.runbook;

    if (rb->id == 0 || c->epoch != rb->epoch) {
        return fsm__reject(res, DR_ECONFLICT,
                           "no runbook of epoch %llu (the current one is of "
                           "epoch %llu)",
                           (unsigned long long)c->epoch,
                           (unsigned long long)rb->epoch);
    }
    if (c->error != NULL && strlen(c->error) > FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL, "error is too long");
    }
    switch (cmd->type) {
        case FSM_CMD_RUNBOOK_RESUME:
            if (rb->step != FSM_RB_BLOCKED) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "the runbook is at %s, not blocked",
                                   fsm_rb_step_name(rb->step));
            }
            return DR_OK;
        case FSM_CMD_RUNBOOK_ABORT:
            if (!fsm_runbook_active(f) || rb->step == FSM_RB_NOTIFY) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "the runbook is at %s: nothing to abort",
                                   fsm_rb_step_name(rb->step));
            }
            return DR_OK;
        default:
            break;
    }
    if (rb->step != c->from) {
        return fsm__reject(res, DR_ECONFLICT, "the runbook is at %s, not %s",
                           fsm_rb_step_name(rb->step),
                           fsm_rb_step_name(c->from));
    }
    if (c->from == FSM_RB_BLOCKED) {
        return fsm__reject(res, DR_EINVAL,
                           "a blocked runbook moves on only by resume or "
                           "abort");
    }
    if (!fsm_sm_allowed(&fsm_runbook_sm, c->from, c->to) ||
        c->to == FSM_RB_ABORTED) {
        return fsm__reject(res, DR_EINVAL,
                           "runbook step %s -> %s is not allowed",
                           fsm_rb_step_name(c->from), fsm_rb_step_name(c->to));
    }
    if ((c->from == FSM_RB_RESTORE || c->from == FSM_RB_VERIFY ||
         c->from == FSM_RB_ACTIVATE) &&
        c->to != FSM_RB_BLOCKED) {
        return fsm__reject(res, DR_EINVAL,
                           "the restore job, not a command, ends step %s",
                           fsm_rb_step_name(c->from));
    }
    if (c->to == FSM_RB_BLOCKED && (c->error == NULL || c->error[0] == '\0')) {
        return fsm__reject(res, DR_EINVAL, "a blocked runbook needs an error");
    }
    if (c->from == FSM_RB_FENCE && c->to != FSM_RB_BLOCKED &&
        (c->to == FSM_RB_FINAL_BACKUP) != rb->planned) {
        return fsm__reject(res, DR_EINVAL, "a %s goes from fence to %s",
                           rb->planned ? "switchover" : "failover",
                           rb->planned ? "final_backup" : "restore");
    }
    if (c->from == FSM_RB_FINAL_BACKUP && c->to == FSM_RB_RESTORE) {
        char why[FSM_TEXT_MAX];
        if (fsm_switchover_waiting(f, why, sizeof(why)) != NULL) {
            return fsm__reject(res, DR_ECONFLICT, "%s", why);
        }
    }
    return DR_OK;
}

int fsm__runbook_check(const struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res)
{
    (void)now;
    if (cmd->type == FSM_CMD_FAILOVER_START) {
        return check_start(f, &cmd->u.failover, res);
    }
    return check_runbook(f, cmd, res);
}

/* Mutations. */

void fsm__runbook_free(struct fsm_runbook *rb)
{
    char **const strs[] = {&rb->from_region, &rb->to_region, &rb->reason,
                           &rb->actor,       &rb->pg_backup, &rb->redis_backup,
                           &rb->error,       &rb->detail};
    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
}

/* Enter step to at now. */
static void enter(struct fsm_runbook *rb, int to, uint64_t now)
{
    fsm_sm_move(&fsm_runbook_sm, &rb->step, to);
    rb->step_ms[to] = now;
    rb->attempts = 0;
}

/* The restore job of the runbook (restore, verify, activate in the DR
 * region), made once per entry into the restore step. */
static int add_restore_job(struct fsm *f, uint64_t now, const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_region *r = fsm_region_get(f, rb->to_region);
    struct fsm_job t;

    memset(&t, 0, sizeof(t));
    t.id = f->job_seq + 1;
    t.kind = FSM_JOB_RESTORE;
    t.backup_kind =
        rb->pg_backup[0] != '\0' ? FSM_BACKUP_PG_LOGICAL : FSM_BACKUP_REDIS;
    t.region = rb->to_region;
    t.backup_id = rb->pg_backup[0] != '\0' ? rb->pg_backup : rb->redis_backup;
    t.prefix = (char *)"";
    t.store = r != NULL ? r->object_store : (char *)"";
    t.state = FSM_JOB_PENDING;
    t.max_attempts = (uint32_t)fsm_setting_int(f, "jobs.max_attempts");
    t.created_ms = t.updated_ms = now;
    t.error = (char *)"";
    t.actor = (char *)actor;
    t.drill_id = rb->epoch;
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    rb->job_id = t.id;
    return DR_OK;
}

static int mutate_start(struct fsm *f,
                        const struct fsm_cmd *cmd,
                        uint64_t now,
                        struct fsm_result *res)
{
    const struct fsm_cmd_failover *c = &cmd->u.failover;
    struct fsm_runbook *rb = &f->site.runbook;
    const char *to = c->to != NULL && c->to[0] != '\0'
                         ? c->to
                         : fsm_failover_target(f, c->force, NULL);
    const struct fsm_backup *pg =
        fsm_restore_point(f, to, FSM_BACKUP_PG_LOGICAL);
    const struct fsm_backup *rd = fsm_restore_point(f, to, FSM_BACKUP_REDIS);
    struct fsm_runbook n;
    char *primary;

    memset(&n, 0, sizeof(n));
    n.id = rb->id + 1;
    n.epoch = f->site.epoch + 1;
    n.from_region = f->site.primary_region;
    n.to_region = (char *)to;
    n.reason = (char *)(c->reason != NULL ? c->reason : "");
    n.actor = (char *)(cmd->actor != NULL ? cmd->actor : "");
    n.pg_backup = pg != NULL ? pg->id : (char *)"";
    n.redis_backup = rd != NULL ? rd->id : (char *)"";
    n.restore_point_ms = pg != NULL ? pg->snapshot_ms : rd->snapshot_ms;
    n.loss_ms = c->loss_ms != 0 && !c->planned ? c->loss_ms : now;
    n.planned = c->planned;
    n.fence_deadline_ms =
        c->fence_deadline_ms != 0 ? c->fence_deadline_ms : now;
    n.error = (char *)"";
    n.detail = (char *)"";
    {
        char **const strs[] = {&n.from_region, &n.to_region, &n.reason,
                               &n.actor,       &n.pg_backup, &n.redis_backup,
                               &n.error,       &n.detail};
        if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
            return DR_ENOMEM;
        }
    }
    primary = fsm__dup_str(to);
    if (primary == NULL) {
        fsm__runbook_free(&n);
        return DR_ENOMEM;
    }
    n.step = rb->step; /* none, complete or aborted: checked */
    fsm__runbook_free(rb);
    *rb = n;
    enter(rb, FSM_RB_DECIDE, now);
    enter(rb, FSM_RB_FENCE, now);
    /* Decided: the DR region is primary in the new epoch. */
    free(f->site.primary_region);
    f->site.primary_region = primary;
    f->site.epoch = rb->epoch;
    f->site.changed_ms = now;
    fsm_sm_move(&fsm_site_sm, &f->site.state,
                rb->planned ? FSM_SITE_SWITCHING_OVER : FSM_SITE_FAILING_OVER);
    res->epoch = f->site.epoch;
    fsm__audit_add(
        f, now, cmd->actor, rb->planned ? "switchover-start" : "failover-start",
        "%s -> %s (epoch %llu): %s; restore point pg %s, redis %s%s",
        rb->from_region, rb->to_region, (unsigned long long)rb->epoch,
        rb->reason, rb->pg_backup[0] ? rb->pg_backup : "(none)",
        rb->redis_backup[0] ? rb->redis_backup : "(none)",
        rb->planned ? " until the final backups after the fence" : "");
    return DR_OK;
}

/* The runbook stops at a failure, with the reason; resume takes it up at
 * the step that failed. */
static int block(struct fsm *f,
                 int from,
                 const char *error,
                 uint64_t now,
                 const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;

    if (fsm__set_str(&rb->error, error) != DR_OK) {
        return DR_ENOMEM;
    }
    rb->blocked_step = from == FSM_RB_VERIFY || from == FSM_RB_ACTIVATE
                           ? FSM_RB_RESTORE
                           : from;
    enter(rb, FSM_RB_BLOCKED, now);
    fsm_sm_move(&fsm_site_sm, &f->site.state, FSM_SITE_BLOCKED);
    fsm__audit_add(f, now, actor, "failover-blocked", "epoch %llu at %s: %s",
                   (unsigned long long)rb->epoch, fsm_rb_step_name(from),
                   error);
    return DR_OK;
}

/* A switchover's final backups: one job per kind the runbook restores, in
 * the old primary's region, made now that its fence is confirmed (so the
 * snapshots hold every write). A pending job of that kind is joined: its
 * snapshot is not taken yet either. */
static int add_final_backups(struct fsm *f, uint64_t now, const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;
    uint64_t *ids[2] = {&rb->final_pg_job, &rb->final_redis_job};
    const char *points[2] = {rb->pg_backup, rb->redis_backup};

    for (int k = 0; k < 2; k++) {
        struct fsm_cmd cmd;
        struct fsm_result r;
        int rv;

        *ids[k] = 0;
        if (points[k] == NULL || points[k][0] == '\0') {
            continue; /* nothing of that kind to restore */
        }
        memset(&cmd, 0, sizeof(cmd));
        memset(&r, 0, sizeof(r));
        cmd.type = FSM_CMD_JOB_CREATE;
        cmd.actor = actor;
        cmd.u.job.kind = FSM_JOB_BACKUP;
        cmd.u.job.backup_kind = k;
        cmd.u.job.region = rb->from_region;
        if (fsm__catalog_check(f, &cmd, now, &r) != DR_OK) {
            char why[FSM_TEXT_MAX + 64];
            snprintf(why, sizeof(why), "final %s backup: %s",
                     fsm_backup_kind_name(k), r.msg);
            return block(f, FSM_RB_FINAL_BACKUP, why, now, actor);
        }
        rv = fsm__catalog_mutate(f, &cmd, now, &r);
        if (rv != DR_OK) {
            return rv;
        }
        *ids[k] = r.job_id;
    }
    return DR_OK;
}

/* The final backups become the restore point. */
static int take_final_point(struct fsm *f)
{
    struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_backup *pg = final_backup(f, rb->final_pg_job);
    const struct fsm_backup *rd = final_backup(f, rb->final_redis_job);

    if ((pg != NULL && fsm__set_str(&rb->pg_backup, pg->id) != DR_OK) ||
        (rd != NULL && fsm__set_str(&rb->redis_backup, rd->id) != DR_OK)) {
        return DR_ENOMEM;
    }
    if (pg != NULL || rd != NULL) {
        rb->restore_point_ms = pg != NULL ? pg->snapshot_ms : rd->snapshot_ms;
        if (pg != NULL && rd != NULL && rd->snapshot_ms < pg->snapshot_ms) {
            rb->restore_point_ms = rd->snapshot_ms;
        }
    }
    return DR_OK;
}

static int step_to(struct fsm *f, int to, uint64_t now, const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;

    enter(rb, to, now);
    if (to == FSM_RB_FINAL_BACKUP) {
        fsm__audit_add(f, now, actor, "failover-step",
                       "epoch %llu: final_backup of %s",
                       (unsigned long long)rb->epoch, rb->from_region);
        return add_final_backups(f, now, actor);
    }
    if (to == FSM_RB_RESTORE) {
        if ((rb->planned && take_final_point(f) != DR_OK) ||
            add_restore_job(f, now, actor) != DR_OK) {
            return DR_ENOMEM;
        }
    }
    if (to == FSM_RB_COMPLETE) {
        /* Data lost: what was written between the restore point and the
         * moment writes stopped: the loss, or for a switchover the fence
         * confirmed before the final backups (0 when they came after). */
        uint64_t stop =
            rb->planned ? rb->step_ms[FSM_RB_FINAL_BACKUP] : rb->loss_ms;
        rb->rto_ms = now > rb->loss_ms ? now - rb->loss_ms : 0;
        rb->rpo_ms =
            stop > rb->restore_point_ms ? stop - rb->restore_point_ms : 0;
        fsm_sm_move(&fsm_site_sm, &f->site.state, FSM_SITE_ACTIVE);
        f->site.changed_ms = now;
        fsm__audit_add(
            f, now, actor,
            rb->planned ? "switchover-complete" : "failover-complete",
            "%s is primary (epoch %llu): RTO %llu ms, RPO %llu ms",
            rb->to_region, (unsigned long long)rb->epoch,
            (unsigned long long)rb->rto_ms, (unsigned long long)rb->rpo_ms);
        return DR_OK;
    }
    fsm__audit_add(f, now, actor, "failover-step", "epoch %llu: %s",
                   (unsigned long long)rb->epoch, fsm_rb_step_name(to));
    return DR_OK;
}

int fsm__runbook_mutate(struct fsm *f,
                        const struct fsm_cmd *cmd,
                        uint64_t now,
                        struct fsm_result *res)
{
    struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_cmd_runbook *c = &cmd->u.runbook;
    const char *actor = cmd->actor != NULL ? cmd->actor : "";

    switch (cmd->type) {
        case FSM_CMD_FAILOVER_START:
            return mutate_start(f, cmd, now, res);
        case FSM_CMD_RUNBOOK_STEP:
            res->epoch = f->site.epoch;
            if (c->to == FSM_RB_BLOCKED) {
                return block(f, c->from, c->error, now, actor);
            }
            return step_to(f, c->to, now, actor);
        case FSM_CMD_RUNBOOK_RESUME:
            if (fsm__set_str(&rb->error, "") != DR_OK) {
                return DR_ENOMEM;
            }
            fsm_sm_move(
                &fsm_site_sm, &f->site.state,
                rb->planned ? FSM_SITE_SWITCHING_OVER : FSM_SITE_FAILING_OVER);
            fsm__audit_add(f, now, actor, "failover-resume", "epoch %llu at %s",
                           (unsigned long long)rb->epoch,
                           fsm_rb_step_name(rb->blocked_step));
            return step_to(f, rb->blocked_step, now, actor);
        case FSM_CMD_RUNBOOK_ABORT: {
            /* Called off: the old primary is primary again, in a new
             * epoch (the runbook's epoch already belonged to the DR
             * region). */
            char *back = fsm__dup_str(rb->from_region);
            if (back == NULL) {
                return DR_ENOMEM;
            }
            for (size_t i = 0; i < f->n_jobs; i++) {
                struct fsm_job *j = &f->jobs[i];
                if (j->kind == FSM_JOB_RESTORE && j->drill_id == rb->epoch &&
                    j->state == FSM_JOB_PENDING) {
                    if (fsm__set_str(&j->error, "runbook aborted") != DR_OK) {
                        free(back);
                        return DR_ENOMEM;
                    }
                    fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_FAILED);
                    j->updated_ms = now;
                }
            }
            enter(rb, FSM_RB_ABORTED, now);
            free(f->site.primary_region);
            f->site.primary_region = back;
            f->site.epoch++;
            f->site.changed_ms = now;
            fsm_sm_move(&fsm_site_sm, &f->site.state, FSM_SITE_ACTIVE);
            res->epoch = f->site.epoch;
            fsm__audit_add(f, now, actor, "failover-abort",
                           "epoch %llu called off: %s is primary again "
                           "(epoch %llu)",
                           (unsigned long long)rb->epoch, back,
                           (unsigned long long)f->site.epoch);
            return DR_OK;
        }
    }
    return DR_EINVAL;
}

/* The restore point a restore job brought: when the DR standby was
 * promoted, PostgreSQL's data reaches its last replayed commit, not the
 * backup's snapshot; Redis's is still the Redis backup's. The RPO counts
 * from the older of the two. */
static void take_job_point(struct fsm *f, uint64_t snapshot_ms)
{
    struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_backup *rd =
        rb->redis_backup != NULL && rb->redis_backup[0] != '\0'
            ? fsm_backup_get(f, rb->redis_backup)
            : NULL;

    if (snapshot_ms == 0) {
        return;
    }
    rb->restore_point_ms = snapshot_ms;
    if (rd != NULL && rd->snapshot_ms < rb->restore_point_ms) {
        rb->restore_point_ms = rd->snapshot_ms;
    }
}

/* The step after a phase the restore job reports. */
static int after_phase(int phase)
{
    return phase == FSM_RB_RESTORE ? FSM_RB_VERIFY : FSM_RB_ACTIVATE;
}

int fsm__runbook_check_phase(const struct fsm *f,
                             const struct fsm_job *j,
                             const struct fsm_cmd_job *c,
                             struct fsm_result *res)
{
    const struct fsm_runbook *rb = &f->site.runbook;

    if (j->kind != FSM_JOB_RESTORE) {
        return fsm__reject(res, DR_EINVAL,
                           "only the runbook's restore job reports a phase "
                           "(job %llu is a %s job)",
                           (unsigned long long)j->id,
                           fsm_job_kind_name(j->kind));
    }
    if (c->phase != FSM_RB_RESTORE && c->phase != FSM_RB_VERIFY) {
        return fsm__reject(res, DR_EINVAL,
                           "phase must be restore or verify, not %d", c->phase);
    }
    if (c->backup.detail != NULL &&
        strlen(c->backup.detail) > 4 * FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL, "detail is too long");
    }
    if (rb->job_id != j->id ||
        (rb->step != c->phase && rb->step != after_phase(c->phase))) {
        /* Aborted, blocked and resumed with a new job, or ahead of the
         * runbook: this worker must stop before its next effect. */
        return fsm__reject(
            res, DR_ECONFLICT,
            "the runbook of epoch %llu is at %s, not %s: job "
            "%llu's work is no longer wanted",
            (unsigned long long)rb->epoch, fsm_rb_step_name(rb->step),
            fsm_rb_step_name(c->phase), (unsigned long long)j->id);
    }
    return DR_OK;
}

int fsm__runbook_phase_done(struct fsm *f,
                            const struct fsm_job *j,
                            const struct fsm_cmd_job *c,
                            uint64_t now,
                            const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;

    if (rb->job_id != j->id || rb->step != c->phase) {
        return DR_OK; /* said again after it was committed */
    }
    if (c->phase == FSM_RB_RESTORE) {
        if (c->backup.detail != NULL &&
            fsm__set_str(&rb->detail, c->backup.detail) != DR_OK) {
            return DR_ENOMEM;
        }
        take_job_point(f, c->backup.snapshot_ms);
    }
    return step_to(f, after_phase(c->phase), now, actor);
}

/* The job's end. Its worker may have committed restore and verify already
 * (phases); what is left moves now: a failure blocks at the step it
 * happened in, a check that failed blocks at verify, else on to dns. */
int fsm__runbook_job_done(struct fsm *f,
                          const struct fsm_job *j,
                          bool ok,
                          const struct fsm_cmd_job *c,
                          const char *error,
                          uint64_t now,
                          const char *actor)
{
    struct fsm_runbook *rb = &f->site.runbook;
    char why[FSM_TEXT_MAX + 64];

    if ((rb->step != FSM_RB_RESTORE && rb->step != FSM_RB_VERIFY &&
         rb->step != FSM_RB_ACTIVATE) ||
        rb->job_id != j->id) {
        return DR_OK; /* from an aborted or resumed runbook: ignored */
    }
    if (c != NULL && c->backup.detail != NULL &&
        fsm__set_str(&rb->detail, c->backup.detail) != DR_OK) {
        return DR_ENOMEM;
    }
    if (ok && c != NULL) {
        take_job_point(f, c->backup.snapshot_ms);
    }
    if (!ok) {
        snprintf(why, sizeof(why), "%s: %s", fsm_rb_step_name(rb->step),
                 error ? error : "failed");
        return block(f, rb->step, why, now, actor);
    }
    if (rb->step == FSM_RB_RESTORE) {
        enter(rb, FSM_RB_VERIFY, now);
    }
    if (!c->drill_ok) {
        /* Never publish data that does not match its manifests. */
        snprintf(why, sizeof(why), "verify: %s",
                 error && error[0] ? error : "the checks failed");
        return block(f, rb->step, why, now, actor);
    }
    if (rb->step == FSM_RB_VERIFY) {
        enter(rb, FSM_RB_ACTIVATE, now);
    }
    return step_to(f, FSM_RB_DNS, now, actor);
}
