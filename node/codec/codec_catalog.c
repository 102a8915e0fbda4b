/* Protobuf mapping of the backup catalog and the job table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_catalog.h"

static void copy_to_pb(const struct fsm_copy *c, Dr__BackupCopy *pb)
{
    dr__backup_copy__init(pb);
    pb->region = c->region ? c->region : "";
    pb->store = c->store ? c->store : "";
    pb->prefix = c->prefix ? c->prefix : "";
    pb->state = (Dr__CopyState)c->state;
    pb->verified_ms = c->verified_ms;
    pb->changed_ms = c->changed_ms;
    pb->bytes = c->bytes;
    pb->objects = c->objects;
    pb->copy_ms = c->copy_ms;
    pb->source_region = c->source_region ? c->source_region : "";
    pb->error = c->error ? c->error : "";
    pb->failures = c->failures;
    pb->job_id = c->job_id;
}

static void copy_from_pb(const Dr__BackupCopy *pb, struct fsm_copy *c)
{
    memset(c, 0, sizeof(*c));
    c->region = pb->region;
    c->store = pb->store;
    c->prefix = pb->prefix;
    c->state = (int)pb->state;
    c->verified_ms = pb->verified_ms;
    c->changed_ms = pb->changed_ms;
    c->bytes = pb->bytes;
    c->objects = pb->objects;
    c->copy_ms = pb->copy_ms;
    c->source_region = pb->source_region;
    c->error = pb->error;
    c->failures = pb->failures;
    c->job_id = pb->job_id;
}

/* pb borrows a's strings; its ranges go into ranges/ptrs (n_ranges of
 * each). */
static void wal_to_pb(const struct fsm_wal_archive *a,
                      Dr__WalArchive *pb,
                      Dr__WalRange *ranges,
                      Dr__WalRange **ptrs)
{
    dr__wal_archive__init(pb);
    pb->region = a->region ? a->region : "";
    pb->store = a->store ? a->store : "";
    pb->scanned_ms = a->scanned_ms;
    pb->newest_ms = a->newest_ms;
    pb->files = a->files;
    pb->gaps = a->gaps;
    pb->ranges_total = a->ranges_total;
    pb->job_id = a->job_id;
    for (size_t i = 0; i < a->n_ranges && i < FSM_WAL_RANGES_MAX; i++) {
        const struct fsm_wal_range *w = &a->ranges[i];
        dr__wal_range__init(&ranges[i]);
        ranges[i].sysid = w->sysid;
        ranges[i].timeline = w->timeline;
        ranges[i].start_lsn = w->start_lsn;
        ranges[i].end_lsn = w->end_lsn;
        ranges[i].segments = w->segments;
        ranges[i].bytes = w->bytes;
        ranges[i].streamed = w->streamed;
        ptrs[i] = &ranges[i];
    }
    pb->n_ranges =
        a->n_ranges < FSM_WAL_RANGES_MAX ? a->n_ranges : FSM_WAL_RANGES_MAX;
    pb->ranges = ptrs;
}

/* a borrows pb's strings; false when pb holds more ranges than allowed. */
static bool wal_from_pb(const Dr__WalArchive *pb, struct fsm_wal_archive *a)
{
    memset(a, 0, sizeof(*a));
    if (pb->n_ranges > FSM_WAL_RANGES_MAX) {
        return false;
    }
    a->region = pb->region;
    a->store = pb->store;
    a->scanned_ms = pb->scanned_ms;
    a->newest_ms = pb->newest_ms;
    a->files = pb->files;
    a->gaps = pb->gaps;
    a->ranges_total = pb->ranges_total;
    a->job_id = pb->job_id;
    for (size_t i = 0; i < pb->n_ranges; i++) {
        const Dr__WalRange *w = pb->ranges[i];
        a->ranges[i] = (struct fsm_wal_range){
            w->sysid,    w->timeline, w->start_lsn, w->end_lsn,
            w->segments, w->bytes,    w->streamed,
        };
    }
    a->n_ranges = pb->n_ranges;
    return true;
}

static void backup_to_pb(const struct fsm_backup *b, Dr__Backup *pb)
{
    dr__backup__init(pb);
    pb->id = b->id ? b->id : "";
    pb->kind = (Dr__BackupKind)b->kind;
    pb->origin_region = b->origin_region ? b->origin_region : "";
    pb->created_ms = b->created_ms;
    pb->snapshot_ms = b->snapshot_ms;
    pb->stored_bytes = b->stored_bytes;
    pb->raw_bytes = b->raw_bytes;
    pb->store = b->store ? b->store : "";
    pb->prefix = b->prefix ? b->prefix : "";
    pb->manifest_key = b->manifest_key ? b->manifest_key : "";
    pb->manifest_sha256 = b->manifest_sha256 ? b->manifest_sha256 : "";
    pb->state = (Dr__BackupState)b->state;
    pb->verified_ms = b->verified_ms;
    pb->verify_ok = b->verify_ok;
    pb->verify_error = b->verify_error ? b->verify_error : "";
    pb->job_id = b->job_id;
    pb->detail = b->detail ? b->detail : "";
}

static void backup_from_pb(const Dr__Backup *pb, struct fsm_backup *b)
{
    memset(b, 0, sizeof(*b));
    b->id = pb->id;
    b->kind = (int)pb->kind;
    b->origin_region = pb->origin_region;
    b->created_ms = pb->created_ms;
    b->snapshot_ms = pb->snapshot_ms;
    b->stored_bytes = pb->stored_bytes;
    b->raw_bytes = pb->raw_bytes;
    b->store = pb->store;
    b->prefix = pb->prefix;
    b->manifest_key = pb->manifest_key;
    b->manifest_sha256 = pb->manifest_sha256;
    b->state = (int)pb->state;
    b->verified_ms = pb->verified_ms;
    b->verify_ok = pb->verify_ok;
    b->verify_error = pb->verify_error;
    b->job_id = pb->job_id;
    b->detail = pb->detail;
}

static void job_to_pb(const struct fsm_job *j, Dr__Job *pb)
{
    dr__job__init(pb);
    pb->id = j->id;
    pb->kind = (Dr__JobKind)j->kind;
    pb->backup_kind = (Dr__BackupKind)j->backup_kind;
    pb->region = j->region;
    pb->backup_id = j->backup_id;
    pb->prefix = j->prefix;
    pb->store = j->store;
    pb->state = (Dr__JobState)j->state;
    pb->owner = j->owner;
    pb->attempt = j->attempt;
    pb->max_attempts = j->max_attempts;
    pb->lease_expires_ms = j->lease_expires_ms;
    pb->not_before_ms = j->not_before_ms;
    pb->created_ms = j->created_ms;
    pb->updated_ms = j->updated_ms;
    pb->error = j->error;
    pb->actor = j->actor;
    pb->drill_id = j->drill_id;
}

static void job_from_pb(const Dr__Job *pb, struct fsm_job *j)
{
    memset(j, 0, sizeof(*j));
    j->id = pb->id;
    j->kind = (int)pb->kind;
    j->backup_kind = (int)pb->backup_kind;
    j->region = pb->region;
    j->backup_id = pb->backup_id;
    j->prefix = pb->prefix;
    j->store = pb->store;
    j->state = (int)pb->state;
    j->owner = pb->owner;
    j->attempt = pb->attempt;
    j->max_attempts = pb->max_attempts;
    j->lease_expires_ms = pb->lease_expires_ms;
    j->not_before_ms = pb->not_before_ms;
    j->created_ms = pb->created_ms;
    j->updated_ms = pb->updated_ms;
    j->error = pb->error;
    j->actor = pb->actor;
    j->drill_id = pb->drill_id;
}

static void drill_to_pb(const struct fsm_drill *d, Dr__Drill *pb)
{
    dr__drill__init(pb);
    pb->id = d->id;
    pb->kind = (char *)fsm_drill_kind_name(d->kind);
    pb->region = d->region;
    pb->state = (char *)fsm_drill_state_name(d->state);
    pb->started_ms = d->started_ms;
    pb->finished_ms = d->finished_ms;
    pb->pg_backup = d->pg_backup;
    pb->redis_backup = d->redis_backup;
    pb->pg_base_backup = d->pg_base_backup;
    pb->pg_rpo_ms = d->pg_rpo_ms;
    pb->redis_rpo_ms = d->redis_rpo_ms;
    pb->pg_base_rpo_ms = d->pg_base_rpo_ms;
    pb->rto_ms = d->rto_ms;
    pb->job_id = d->job_id;
    pb->error = d->error;
    pb->detail = d->detail;
    pb->actor = d->actor;
    pb->dns_confirmed_ms = d->dns_confirmed_ms;
}

static int drill_state_parse(const char *s)
{
    for (int st = FSM_DRILL_RUNNING; st <= FSM_DRILL_DNS; st++) {
        if (strcmp(s, fsm_drill_state_name(st)) == 0) {
            return st;
        }
    }
    return -1;
}

static void drill_from_pb(const Dr__Drill *pb, struct fsm_drill *d)
{
    memset(d, 0, sizeof(*d));
    d->id = pb->id;
    d->kind = fsm_drill_kind_parse(pb->kind);
    d->region = pb->region;
    d->state = drill_state_parse(pb->state);
    d->started_ms = pb->started_ms;
    d->finished_ms = pb->finished_ms;
    d->pg_backup = pb->pg_backup;
    d->redis_backup = pb->redis_backup;
    d->pg_base_backup = pb->pg_base_backup;
    d->pg_rpo_ms = pb->pg_rpo_ms;
    d->redis_rpo_ms = pb->redis_rpo_ms;
    d->pg_base_rpo_ms = pb->pg_base_rpo_ms;
    d->rto_ms = pb->rto_ms;
    d->job_id = pb->job_id;
    d->error = pb->error;
    d->detail = pb->detail;
    d->dns_confirmed_ms = pb->dns_confirmed_ms;
    d->actor = pb->actor;
}

int codec__catalog_cmd_to_pb(const struct fsm_cmd *cmd,
                             Dr__Command *c,
                             struct codec__catalog_scratch *s)
{
    const struct fsm_cmd_job *j = &cmd->u.job;

    switch (cmd->type) {
        case FSM_CMD_JOB_CREATE:
            dr__cmd_job_create__init(&s->create);
            s->create.kind = (Dr__JobKind)j->kind;
            s->create.backup_kind = (Dr__BackupKind)j->backup_kind;
            s->create.region = (char *)(j->region ? j->region : "");
            s->create.backup_id = (char *)(j->backup_id ? j->backup_id : "");
            c->kind_case = DR__COMMAND__KIND_JOB_CREATE;
            c->job_create = &s->create;
            return DR_OK;
        case FSM_CMD_JOB_CLAIM:
            dr__cmd_job_claim__init(&s->claim);
            s->claim.job_id = j->job_id;
            s->claim.node = j->node;
            s->claim.lease_ms = j->lease_ms;
            c->kind_case = DR__COMMAND__KIND_JOB_CLAIM;
            c->job_claim = &s->claim;
            return DR_OK;
        case FSM_CMD_JOB_RENEW:
            dr__cmd_job_renew__init(&s->renew);
            s->renew.job_id = j->job_id;
            s->renew.node = j->node;
            s->renew.attempt = j->attempt;
            s->renew.lease_ms = j->lease_ms;
            s->renew.phase = (uint32_t)j->phase;
            s->renew.restore_point_ms = j->backup.snapshot_ms;
            s->renew.detail =
                (char *)(j->backup.detail ? j->backup.detail : "");
            c->kind_case = DR__COMMAND__KIND_JOB_RENEW;
            c->job_renew = &s->renew;
            return DR_OK;
        case FSM_CMD_JOB_FINISH:
            dr__cmd_job_finish__init(&s->finish);
            s->finish.job_id = j->job_id;
            s->finish.node = j->node;
            s->finish.attempt = j->attempt;
            s->finish.ok = j->ok;
            s->finish.error = (char *)(j->error ? j->error : "");
            s->finish.drill_ok = j->drill_ok;
            s->finish.drill_rto_ms = j->drill_rto_ms;
            if (j->ok) {
                backup_to_pb(&j->backup, &s->backup);
                s->finish.backup = &s->backup;
                copy_to_pb(&j->copy, &s->copy);
                s->finish.copy = &s->copy;
                if (j->wal.files != 0 || j->wal.ranges_total != 0 ||
                    (j->wal.store != NULL && j->wal.store[0] != '\0')) {
                    wal_to_pb(&j->wal, &s->wal, s->wal_ranges,
                              s->wal_range_ptrs);
                    s->finish.wal = &s->wal;
                }
            }
            c->kind_case = DR__COMMAND__KIND_JOB_FINISH;
            c->job_finish = &s->finish;
            return DR_OK;
        case FSM_CMD_JOB_EXPIRE:
            dr__cmd_job_expire__init(&s->expire);
            s->expire.job_id = j->job_id;
            s->expire.attempt = j->attempt;
            c->kind_case = DR__COMMAND__KIND_JOB_EXPIRE;
            c->job_expire = &s->expire;
            return DR_OK;
        case FSM_CMD_BACKUP_DELETE:
            dr__cmd_backup_delete__init(&s->del);
            s->del.id = (char *)(cmd->u.backup_id ? cmd->u.backup_id : "");
            c->kind_case = DR__COMMAND__KIND_BACKUP_DELETE;
            c->backup_delete = &s->del;
            return DR_OK;
        case FSM_CMD_DRILL_START:
            dr__cmd_drill_start__init(&s->drill);
            s->drill.kind = (char *)fsm_drill_kind_name(cmd->u.drill.kind);
            s->drill.region =
                (char *)(cmd->u.drill.region ? cmd->u.drill.region : "");
            c->kind_case = DR__COMMAND__KIND_DRILL_START;
            c->drill_start = &s->drill;
            return DR_OK;
        case FSM_CMD_DRILL_DNS_DONE:
            dr__cmd_drill_dns__init(&s->drill_dns);
            s->drill_dns.drill_id = cmd->u.drill_dns.drill_id;
            s->drill_dns.ok = cmd->u.drill_dns.ok;
            s->drill_dns.error =
                (char *)(cmd->u.drill_dns.error ? cmd->u.drill_dns.error : "");
            s->drill_dns.confirmed_ms = cmd->u.drill_dns.confirmed_ms;
            c->kind_case = DR__COMMAND__KIND_DRILL_DNS_DONE;
            c->drill_dns_done = &s->drill_dns;
            return DR_OK;
        case FSM_CMD_FAILOVER_START:
            dr__cmd_failover_start__init(&s->failover);
            s->failover.to =
                (char *)(cmd->u.failover.to ? cmd->u.failover.to : "");
            s->failover.reason =
                (char *)(cmd->u.failover.reason ? cmd->u.failover.reason : "");
            s->failover.force = cmd->u.failover.force;
            s->failover.loss_ms = cmd->u.failover.loss_ms;
            s->failover.fence_deadline_ms = cmd->u.failover.fence_deadline_ms;
            s->failover.planned = cmd->u.failover.planned;
            c->kind_case = DR__COMMAND__KIND_FAILOVER_START;
            c->failover_start = &s->failover;
            return DR_OK;
        case FSM_CMD_RUNBOOK_STEP:
        case FSM_CMD_RUNBOOK_RESUME:
        case FSM_CMD_RUNBOOK_ABORT:
            dr__cmd_runbook__init(&s->runbook);
            s->runbook.epoch = cmd->u.runbook.epoch;
            s->runbook.from = (uint32_t)cmd->u.runbook.from;
            s->runbook.to = (uint32_t)cmd->u.runbook.to;
            s->runbook.error =
                (char *)(cmd->u.runbook.error ? cmd->u.runbook.error : "");
            if (cmd->type == FSM_CMD_RUNBOOK_STEP) {
                c->kind_case = DR__COMMAND__KIND_RUNBOOK_STEP;
                c->runbook_step = &s->runbook;
            } else if (cmd->type == FSM_CMD_RUNBOOK_RESUME) {
                c->kind_case = DR__COMMAND__KIND_RUNBOOK_RESUME;
                c->runbook_resume = &s->runbook;
            } else {
                c->kind_case = DR__COMMAND__KIND_RUNBOOK_ABORT;
                c->runbook_abort = &s->runbook;
            }
            return DR_OK;
        case FSM_CMD_BACKUP_VERIFIED:
            dr__cmd_backup_verified__init(&s->verified);
            s->verified.id =
                (char *)(cmd->u.verified.id ? cmd->u.verified.id : "");
            s->verified.ok = cmd->u.verified.ok;
            s->verified.error =
                (char *)(cmd->u.verified.error ? cmd->u.verified.error : "");
            s->verified.region =
                (char *)(cmd->u.verified.region ? cmd->u.verified.region : "");
            c->kind_case = DR__COMMAND__KIND_BACKUP_VERIFIED;
            c->backup_verified = &s->verified;
            return DR_OK;
    }
    return DR_EINVAL;
}

bool codec__catalog_cmd_from_pb(const Dr__Command *c, struct fsm_cmd *cmd)
{
    struct fsm_cmd_job *j = &cmd->u.job;

    switch (c->kind_case) {
        case DR__COMMAND__KIND_JOB_CREATE:
            j->kind = (int)c->job_create->kind;
            j->backup_kind = (int)c->job_create->backup_kind;
            j->region = c->job_create->region;
            j->backup_id = c->job_create->backup_id;
            cmd->type = FSM_CMD_JOB_CREATE;
            return true;
        case DR__COMMAND__KIND_JOB_CLAIM:
            j->job_id = c->job_claim->job_id;
            j->node = c->job_claim->node;
            j->lease_ms = c->job_claim->lease_ms;
            cmd->type = FSM_CMD_JOB_CLAIM;
            return true;
        case DR__COMMAND__KIND_JOB_RENEW:
            j->job_id = c->job_renew->job_id;
            j->node = c->job_renew->node;
            j->attempt = c->job_renew->attempt;
            j->lease_ms = c->job_renew->lease_ms;
            j->phase = (int)c->job_renew->phase;
            j->backup.snapshot_ms = c->job_renew->restore_point_ms;
            j->backup.detail = c->job_renew->detail;
            cmd->type = FSM_CMD_JOB_RENEW;
            return true;
        case DR__COMMAND__KIND_JOB_FINISH:
            j->job_id = c->job_finish->job_id;
            j->node = c->job_finish->node;
            j->attempt = c->job_finish->attempt;
            j->ok = c->job_finish->ok;
            j->error = c->job_finish->error;
            j->drill_ok = c->job_finish->drill_ok;
            j->drill_rto_ms = c->job_finish->drill_rto_ms;
            if (j->ok) {
                if (c->job_finish->backup == NULL) {
                    return true; /* malformed: type stays 0 */
                }
                backup_from_pb(c->job_finish->backup, &j->backup);
                if (c->job_finish->copy != NULL) {
                    copy_from_pb(c->job_finish->copy, &j->copy);
                }
                if (c->job_finish->wal != NULL &&
                    !wal_from_pb(c->job_finish->wal, &j->wal)) {
                    return true; /* malformed: type stays 0 */
                }
            }
            cmd->type = FSM_CMD_JOB_FINISH;
            return true;
        case DR__COMMAND__KIND_JOB_EXPIRE:
            j->job_id = c->job_expire->job_id;
            j->attempt = c->job_expire->attempt;
            cmd->type = FSM_CMD_JOB_EXPIRE;
            return true;
        case DR__COMMAND__KIND_BACKUP_DELETE:
            cmd->u.backup_id = c->backup_delete->id;
            cmd->type = FSM_CMD_BACKUP_DELETE;
            return true;
        case DR__COMMAND__KIND_DRILL_START:
            cmd->u.drill.kind = fsm_drill_kind_parse(c->drill_start->kind);
            cmd->u.drill.region = c->drill_start->region;
            cmd->type = FSM_CMD_DRILL_START;
            return true;
        case DR__COMMAND__KIND_DRILL_DNS_DONE:
            cmd->u.drill_dns.drill_id = c->drill_dns_done->drill_id;
            cmd->u.drill_dns.ok = c->drill_dns_done->ok;
            cmd->u.drill_dns.error = c->drill_dns_done->error;
            cmd->u.drill_dns.confirmed_ms = c->drill_dns_done->confirmed_ms;
            cmd->type = FSM_CMD_DRILL_DNS_DONE;
            return true;
        case DR__COMMAND__KIND_FAILOVER_START:
            cmd->u.failover.to = c->failover_start->to;
            cmd->u.failover.reason = c->failover_start->reason;
            cmd->u.failover.force = c->failover_start->force;
            cmd->u.failover.planned = c->failover_start->planned;
            cmd->u.failover.loss_ms = c->failover_start->loss_ms;
            cmd->u.failover.fence_deadline_ms =
                c->failover_start->fence_deadline_ms;
            cmd->type = FSM_CMD_FAILOVER_START;
            return true;
        case DR__COMMAND__KIND_RUNBOOK_STEP:
        case DR__COMMAND__KIND_RUNBOOK_RESUME:
        case DR__COMMAND__KIND_RUNBOOK_ABORT: {
            const Dr__CmdRunbook *r =
                c->kind_case == DR__COMMAND__KIND_RUNBOOK_STEP ? c->runbook_step
                : c->kind_case == DR__COMMAND__KIND_RUNBOOK_RESUME
                    ? c->runbook_resume
                    : c->runbook_abort;
            cmd->u.runbook.epoch = r->epoch;
            cmd->u.runbook.from = r->from < FSM_RB_STEPS ? (int)r->from : -1;
            cmd->u.runbook.to = r->to < FSM_RB_STEPS ? (int)r->to : -1;
            cmd->u.runbook.error = r->error;
            cmd->type = c->kind_case == DR__COMMAND__KIND_RUNBOOK_STEP
                            ? FSM_CMD_RUNBOOK_STEP
                        : c->kind_case == DR__COMMAND__KIND_RUNBOOK_RESUME
                            ? FSM_CMD_RUNBOOK_RESUME
                            : FSM_CMD_RUNBOOK_ABORT;
            return true;
        }
        case DR__COMMAND__KIND_BACKUP_VERIFIED:
            cmd->u.verified.id = c->backup_verified->id;
            cmd->u.verified.ok = c->backup_verified->ok;
            cmd->u.verified.error = c->backup_verified->error;
            cmd->u.verified.region = c->backup_verified->region;
            cmd->type = FSM_CMD_BACKUP_VERIFIED;
            return true;
        default:
            return false;
    }
}

void codec__runbook_to_pb(const struct fsm_runbook *rb,
                          Dr__Runbook *pb,
                          uint64_t *step_ms)
{
    dr__runbook__init(pb);
    pb->id = rb->id;
    pb->epoch = rb->epoch;
    pb->from_region = rb->from_region ? rb->from_region : "";
    pb->to_region = rb->to_region ? rb->to_region : "";
    pb->reason = rb->reason ? rb->reason : "";
    pb->actor = rb->actor ? rb->actor : "";
    pb->step = (uint32_t)rb->step;
    pb->blocked_step = (uint32_t)rb->blocked_step;
    for (int i = 0; i < FSM_RB_STEPS; i++) {
        step_ms[i] = rb->step_ms[i];
    }
    pb->n_step_ms = FSM_RB_STEPS;
    pb->step_ms = step_ms;
    pb->loss_ms = rb->loss_ms;
    pb->fence_deadline_ms = rb->fence_deadline_ms;
    pb->pg_backup = rb->pg_backup ? rb->pg_backup : "";
    pb->redis_backup = rb->redis_backup ? rb->redis_backup : "";
    pb->restore_point_ms = rb->restore_point_ms;
    pb->job_id = rb->job_id;
    pb->attempts = rb->attempts;
    pb->error = rb->error ? rb->error : "";
    pb->detail = rb->detail ? rb->detail : "";
    pb->rto_ms = rb->rto_ms;
    pb->rpo_ms = rb->rpo_ms;
    pb->planned = rb->planned;
    pb->final_pg_job = rb->final_pg_job;
    pb->final_redis_job = rb->final_redis_job;
}

void codec__runbook_from_pb(const Dr__Runbook *pb, struct fsm_runbook *rb)
{
    memset(rb, 0, sizeof(*rb));
    rb->id = pb->id;
    rb->epoch = pb->epoch;
    rb->from_region = pb->from_region;
    rb->to_region = pb->to_region;
    rb->reason = pb->reason;
    rb->actor = pb->actor;
    rb->step = (int)pb->step;
    rb->blocked_step = (int)pb->blocked_step;
    for (size_t i = 0; i < pb->n_step_ms && i < FSM_RB_STEPS; i++) {
        rb->step_ms[i] = pb->step_ms[i];
    }
    rb->loss_ms = pb->loss_ms;
    rb->fence_deadline_ms = pb->fence_deadline_ms;
    rb->pg_backup = pb->pg_backup;
    rb->redis_backup = pb->redis_backup;
    rb->restore_point_ms = pb->restore_point_ms;
    rb->job_id = pb->job_id;
    rb->attempts = pb->attempts;
    rb->error = pb->error;
    rb->detail = pb->detail;
    rb->rto_ms = pb->rto_ms;
    rb->rpo_ms = pb->rpo_ms;
    rb->planned = pb->planned;
    rb->final_pg_job = pb->final_pg_job;
    rb->final_redis_job = pb->final_redis_job;
}

int codec__catalog_to_pb(const struct fsm *f,
                         Dr__Snapshot *s,
                         struct codec__catalog_pb *pb)
{
    size_t n_copies = 0, k = 0;

    memset(pb, 0, sizeof(*pb));
    for (size_t i = 0; i < f->n_backups; i++) {
        n_copies += f->backups[i].n_copies;
    }
    pb->copies = calloc(n_copies + 1, sizeof(*pb->copies));
    pb->copy_ptrs = calloc(n_copies + 1, sizeof(*pb->copy_ptrs));
    pb->backups = calloc(f->n_backups + 1, sizeof(*pb->backups));
    pb->backup_ptrs = calloc(f->n_backups + 1, sizeof(*pb->backup_ptrs));
    pb->jobs = calloc(f->n_jobs + 1, sizeof(*pb->jobs));
    pb->job_ptrs = calloc(f->n_jobs + 1, sizeof(*pb->job_ptrs));
    pb->drills = calloc(f->n_drills + 1, sizeof(*pb->drills));
    pb->drill_ptrs = calloc(f->n_drills + 1, sizeof(*pb->drill_ptrs));
    pb->wal = calloc(f->n_wal_archives + 1, sizeof(*pb->wal));
    pb->wal_ptrs = calloc(f->n_wal_archives + 1, sizeof(*pb->wal_ptrs));
    pb->wal_ranges = calloc(f->n_wal_archives * FSM_WAL_RANGES_MAX + 1,
                            sizeof(*pb->wal_ranges));
    pb->wal_range_ptrs = calloc(f->n_wal_archives * FSM_WAL_RANGES_MAX + 1,
                                sizeof(*pb->wal_range_ptrs));
    if (!pb->backups || !pb->backup_ptrs || !pb->jobs || !pb->job_ptrs ||
        !pb->drills || !pb->drill_ptrs || !pb->copies || !pb->copy_ptrs ||
        !pb->wal || !pb->wal_ptrs || !pb->wal_ranges || !pb->wal_range_ptrs) {
        codec__catalog_pb_free(pb);
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        backup_to_pb(b, &pb->backups[i]);
        pb->backups[i].n_copies = b->n_copies;
        pb->backups[i].copies = &pb->copy_ptrs[k];
        for (size_t c = 0; c < b->n_copies; c++, k++) {
            copy_to_pb(&b->copies[c], &pb->copies[k]);
            pb->copy_ptrs[k] = &pb->copies[k];
        }
        pb->backup_ptrs[i] = &pb->backups[i];
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        job_to_pb(&f->jobs[i], &pb->jobs[i]);
        pb->job_ptrs[i] = &pb->jobs[i];
    }
    s->n_backups = f->n_backups;
    s->backups = pb->backup_ptrs;
    s->n_jobs = f->n_jobs;
    s->jobs = pb->job_ptrs;
    s->job_seq = f->job_seq;
    for (size_t i = 0; i < f->n_drills; i++) {
        drill_to_pb(&f->drills[i], &pb->drills[i]);
        pb->drill_ptrs[i] = &pb->drills[i];
    }
    s->n_drills = f->n_drills;
    s->drills = pb->drill_ptrs;
    s->drill_seq = f->drill_seq;
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        wal_to_pb(&f->wal_archives[i], &pb->wal[i],
                  &pb->wal_ranges[i * FSM_WAL_RANGES_MAX],
                  &pb->wal_range_ptrs[i * FSM_WAL_RANGES_MAX]);
        pb->wal_ptrs[i] = &pb->wal[i];
    }
    s->n_wal_archives = f->n_wal_archives;
    s->wal_archives = pb->wal_ptrs;
    return DR_OK;
}

void codec__catalog_pb_free(struct codec__catalog_pb *pb)
{
    free(pb->backups);
    free(pb->backup_ptrs);
    free(pb->jobs);
    free(pb->job_ptrs);
    free(pb->drills);
    free(pb->drill_ptrs);
    free(pb->copies);
    free(pb->copy_ptrs);
    free(pb->wal);
    free(pb->wal_ptrs);
    free(pb->wal_ranges);
    free(pb->wal_range_ptrs);
    memset(pb, 0, sizeof(*pb));
}

static int fail(char *errmsg, const char *what, const char *name)
{
    snprintf(errmsg, 256, "snapshot: %s%s%.64s%s", what, name ? " \"" : "",
             name ? name : "", name ? "\"" : "");
    return DR_EMALFORMED;
}

int codec__catalog_from_pb(const Dr__Snapshot *s, struct fsm *f, char *errmsg)
{
    if (s->n_backups > FSM_BACKUPS_MAX || s->n_jobs > FSM_JOBS_MAX) {
        return fail(errmsg, "more backups or jobs than allowed", NULL);
    }
    f->backups = calloc(s->n_backups + 1, sizeof(*f->backups));
    f->jobs = calloc(s->n_jobs + 1, sizeof(*f->jobs));
    if (f->backups == NULL || f->jobs == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_backups; i++) {
        const Dr__Backup *pbb = s->backups[i];
        struct fsm_backup b;
        struct fsm_copy *copies;
        int rv;

        backup_from_pb(pbb, &b);
        if (b.id[0] == '\0' || b.kind < 0 || b.kind >= FSM_BACKUP_KINDS ||
            b.state < FSM_BACKUP_COMPLETE || b.state > FSM_BACKUP_DELETING) {
            return fail(errmsg, "malformed backup", b.id);
        }
        if (i > 0 && strcmp(f->backups[i - 1].id, b.id) >= 0) {
            return fail(errmsg, "backups out of order or duplicated", NULL);
        }
        if (pbb->n_copies > FSM_REGIONS_MAX) {
            return fail(errmsg, "too many copies of backup", b.id);
        }
        copies = calloc(pbb->n_copies + 1, sizeof(*copies));
        if (copies == NULL) {
            return DR_ENOMEM;
        }
        for (size_t c = 0; c < pbb->n_copies; c++) {
            copy_from_pb(pbb->copies[c], &copies[c]);
            if (copies[c].region[0] == '\0' ||
                copies[c].state < FSM_COPY_COPYING ||
                copies[c].state > FSM_COPY_DELETING) {
                free(copies);
                return fail(errmsg, "malformed copy of backup", b.id);
            }
        }
        b.copies = copies;
        b.n_copies = pbb->n_copies;
        if (b.n_copies == 0 &&
            (b.origin_region == NULL || b.origin_region[0] == '\0')) {
            /* Its one copy would be of no region (a fuzz find: then the
             * state did not encode to a snapshot that decodes). */
            free(copies);
            return fail(errmsg, "backup without copies or origin region", b.id);
        }
        if (b.n_copies == 0) {
            /* From before copies: the origin's objects are its one copy,
             * as checked then (or as written, when never verified). */
            copies[0].region = b.origin_region;
            copies[0].store = b.store;
            copies[0].prefix = b.prefix;
            copies[0].state = b.state == FSM_BACKUP_DELETING ? FSM_COPY_DELETING
                              : b.verified_ms != 0 && !b.verify_ok
                                  ? FSM_COPY_FAILED
                                  : FSM_COPY_VERIFIED;
            copies[0].verified_ms =
                b.verified_ms != 0 ? b.verified_ms : b.created_ms;
            copies[0].changed_ms = copies[0].verified_ms;
            copies[0].bytes = b.stored_bytes;
            copies[0].source_region = (char *)"";
            copies[0].error = b.verify_error;
            b.n_copies = 1;
        }
        rv = fsm_backup_copy(&f->backups[i], &b);
        free(copies);
        if (rv != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_backups++;
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        struct fsm_job j;
        job_from_pb(s->jobs[i], &j);
        if (j.id == 0 || j.id > s->job_seq || j.kind < FSM_JOB_BACKUP ||
            j.kind > FSM_JOB_WAL_SCAN || j.state < FSM_JOB_PENDING ||
            j.state > FSM_JOB_FAILED || j.backup_kind < 0 ||
            j.backup_kind >= FSM_BACKUP_KINDS) {
            return fail(errmsg, "malformed job of backup", j.backup_id);
        }
        /* A running job holds the attempt its claim made (from 1). */
        if (j.state == FSM_JOB_RUNNING && j.attempt == 0) {
            snprintf(errmsg, 256, "snapshot: job %llu runs without an attempt",
                     (unsigned long long)j.id);
            return DR_EMALFORMED;
        }
        if (i > 0 && f->jobs[i - 1].id >= j.id) {
            return fail(errmsg, "jobs out of order or duplicated", NULL);
        }
        if (fsm_job_copy(&f->jobs[i], &j) != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_jobs++;
    }
    f->job_seq = s->job_seq;
    if (s->n_drills > FSM_DRILLS_MAX) {
        return fail(errmsg, "more drills than allowed", NULL);
    }
    f->drills = calloc(s->n_drills + 1, sizeof(*f->drills));
    if (f->drills == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_drills; i++) {
        struct fsm_drill d;
        drill_from_pb(s->drills[i], &d);
        /* (Its region may have been removed since: not checked.) */
        if (d.id == 0 || d.id > s->drill_seq || d.kind < 0 || d.state < 0 ||
            d.region[0] == '\0') {
            return fail(errmsg, "malformed drill in region", d.region);
        }
        if (i > 0 && f->drills[i - 1].id >= d.id) {
            return fail(errmsg, "drills out of order or duplicated", NULL);
        }
        if (fsm_drill_copy(&f->drills[i], &d) != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_drills++;
    }
    f->drill_seq = s->drill_seq;
    if (s->n_wal_archives > FSM_REGIONS_MAX) {
        return fail(errmsg, "more WAL archives than regions allowed", NULL);
    }
    f->wal_archives = calloc(s->n_wal_archives + 1, sizeof(*f->wal_archives));
    if (f->wal_archives == NULL) {
        return DR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_wal_archives; i++) {
        struct fsm_wal_archive a;
        struct fsm_result res;
        if (!wal_from_pb(s->wal_archives[i], &a) || a.region[0] == '\0' ||
            fsm_wal_archive_check(&a, &res) != DR_OK) {
            return fail(errmsg, "malformed WAL archive of region",
                        s->wal_archives[i]->region);
        }
        if (i > 0 && strcmp(f->wal_archives[i - 1].region, a.region) >= 0) {
            return fail(errmsg, "WAL archives out of order or duplicated",
                        NULL);
        }
        if (fsm_wal_archive_copy(&f->wal_archives[i], &a) != DR_OK) {
            return DR_ENOMEM;
        }
        f->n_wal_archives++;
    }
    return DR_OK;
}
