/* Unit tests of the failover runbook in the pure FSM: decide (target,
 * restore point, epoch), the step table, the restore job and its verdict,
 * blocked / resume / abort, RTO and RPO, refusals that change nothing, the
 * switchover's final backups (RPO 0), and the snapshot encoding.
 *
 * The standard bootstrap: eu-west (primary, s3://dr-eu, node 1, priority
 * 10), us-east (file:///srv/dr, node 2, priority 5), ap-south (no store,
 * node 3, priority 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/codec.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"

#define SHA FSM_TEST_SHA
#define SEC 1000ull

static struct fsm_cmd finish(uint64_t job, uint64_t node, uint32_t attempt)
{
    struct fsm_cmd c = finish_base_cmd(job, node, attempt);
    c.u.job.backup.snapshot_ms = 0;
    c.u.job.copy.source_region = "eu-west";
    return c;
}

/* A pg backup in eu-west at now, copied to us-east; its id. */
static const char *backup_copied(struct fsm *f, uint64_t now)
{
    struct fsm_result res;
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "test"};
    uint64_t job;
    const char *id;

    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = FSM_BACKUP_PG_LOGICAL;
    job = apply_ok(f, &c, now, &res);
    c = claim_cmd(job, 1);
    apply_ok(f, &c, now, &res);
    c = finish(job, 1, 1);
    c.u.job.backup.snapshot_ms = now - 500;
    apply_ok(f, &c, now + 1, &res);
    id = fsm_job_get(f, job)->backup_id;
    c = (struct fsm_cmd){.type = FSM_CMD_JOB_CREATE, .actor = "replication"};
    c.u.job.kind = FSM_JOB_REPLICATE;
    c.u.job.backup_id = id;
    c.u.job.region = "us-east";
    job = apply_ok(f, &c, now + 2, &res);
    c = claim_cmd(job, 2);
    apply_ok(f, &c, now + 3, &res);
    c = finish(job, 2, 1);
    apply_ok(f, &c, now + 4, &res);
    return id;
}

static struct fsm_cmd start(const char *to, uint64_t loss, uint64_t deadline)
{
    struct fsm_cmd c = {.type = FSM_CMD_FAILOVER_START, .actor = "leader"};
    c.u.failover.to = to;
    c.u.failover.reason = "region eu-west lost";
    c.u.failover.loss_ms = loss;
    c.u.failover.fence_deadline_ms = deadline;
    return c;
}

static struct fsm_cmd step(uint64_t epoch, int from, int to, const char *err)
{
    struct fsm_cmd c = {.type = FSM_CMD_RUNBOOK_STEP, .actor = "leader"};
    c.u.runbook.epoch = epoch;
    c.u.runbook.from = from;
    c.u.runbook.to = to;
    c.u.runbook.error = err;
    return c;
}

/* A failover to us-east started at t + 1 s, fenced at t + 2 s, its
 * restore job claimed by node 2 at t + 3 s. */
static void restore_claimed(struct fsm *f, uint64_t t)
{
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c = start("us-east", 0, 0);

    apply_ok(f, &c, t + SEC, &res);
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    apply_ok(f, &c, t + 2 * SEC, &res);
    c = claim_cmd(rb->job_id, 2);
    apply_ok(f, &c, t + 3 * SEC, &res);
}

static void test_layout_must_survive_a_region(void **state)
{
    const char *two[] = {"a", "b"}, *five[] = {"a", "a", "b", "b", "c"},
               *three[] = {"a", "a", "b"};
    struct fsm *f = *state;
    char why[300];

    assert_false(fsm_regions_survive_loss(two, 2, why, sizeof(why)));
    assert_non_null(strstr(why, "region a holds 1 of the 2 coordinators"));
    assert_true(fsm_regions_survive_loss(five, 5, why, sizeof(why)));
    assert_false(fsm_regions_survive_loss(three, 3, why, sizeof(why)));
    assert_non_null(strstr(why, "region a holds 2 of the 3"));
    assert_false(fsm_regions_survive_loss(NULL, 0, why, sizeof(why)));
    /* The standard bootstrap: one coordinator in each of three regions. */
    assert_true(fsm_layout_survives_region_loss(f, why, sizeof(why)));
}

static void test_no_target_without_verified_copies(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = start(NULL, 0, 0);
    const char *why = NULL;

    assert_null(fsm_failover_target(f, false, &why));
    expect_reject(f, &c, DR_ECONFLICT, "no region can take over from eu-west");
    c = start("eu-west", 0, 0);
    expect_reject(f, &c, DR_ECONFLICT, "it is the primary");
    c = start("mars", 0, 0);
    expect_reject(f, &c, DR_ENOTFOUND, "region mars does not exist");
    c = start("us-east", 0, 0);
    expect_reject(f, &c, DR_ECONFLICT, "holds no verified copy");
}

static void test_full_runbook(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, epoch0 = f->site.epoch;
    const char *id = backup_copied(f, t);
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;
    const struct fsm_job *j;
    uint64_t job, loss = t + 100 * SEC;

    assert_string_equal(fsm_failover_target(f, false, NULL), "us-east");
    c = start(NULL, loss, loss + 20 * SEC);
    assert_int_equal(fsm_cmd_version(&c), 3);
    apply_ok(f, &c, loss + 10 * SEC, &res);
    /* Decided: us-east is primary in the next epoch, fencing first. */
    assert_int_equal(f->site.epoch, epoch0 + 1);
    assert_int_equal(res.epoch, epoch0 + 1);
    assert_string_equal(f->site.primary_region, "us-east");
    assert_int_equal(f->site.state, FSM_SITE_FAILING_OVER);
    assert_int_equal(rb->step, FSM_RB_FENCE);
    assert_string_equal(rb->from_region, "eu-west");
    assert_string_equal(rb->pg_backup, id);
    assert_string_equal(rb->redis_backup, "");
    assert_int_equal(rb->restore_point_ms, t - 500);
    assert_int_equal(rb->fence_deadline_ms, loss + 20 * SEC);
    assert_string_equal(audit_last(f)->action, "failover-start");
    assert_true(fsm_runbook_active(f));
    /* No backups and no second failover meanwhile; no manual primary. */
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, loss + 99999 * SEC));
    expect_reject(f, &c, DR_ECONFLICT, "a failover to us-east runs already");
    c = primary_cmd("ap-south", "x");
    expect_reject(f, &c, DR_ECONFLICT, "resume or abort it first");

    /* A stale or wrong step changes nothing. */
    c = step(epoch0, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    expect_reject(f, &c, DR_ECONFLICT, "no runbook of epoch");
    c = step(rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
    expect_reject(f, &c, DR_ECONFLICT, "the runbook is at fence, not dns");
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_DNS, NULL);
    expect_reject(f, &c, DR_EINVAL, "fence -> dns is not allowed");

    /* Fenced: the restore job goes to us-east. */
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    apply_ok(f, &c, loss + 21 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_RESTORE);
    j = fsm_job_get(f, rb->job_id);
    assert_non_null(j);
    assert_int_equal(j->kind, FSM_JOB_RESTORE);
    assert_string_equal(j->region, "us-east");
    assert_string_equal(j->backup_id, id);
    assert_int_equal(j->drill_id, rb->epoch);
    c = step(rb->epoch, FSM_RB_RESTORE, FSM_RB_VERIFY, NULL);
    expect_reject(f, &c, DR_EINVAL, "the restore job, not a command");
    job = rb->job_id;
    c = claim_cmd(job, 1);
    expect_reject_at(f, &c, loss + 22 * SEC, DR_ECONFLICT, "runs in region");
    c = claim_cmd(job, 2);
    apply_ok(f, &c, loss + 22 * SEC, &res);
    c = finish(job, 2, 1);
    c.u.job.drill_ok = true;
    c.u.job.backup.detail = "{\"rows\":10}";
    apply_ok(f, &c, loss + 30 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_DNS);
    assert_int_equal(rb->step_ms[FSM_RB_VERIFY], loss + 30 * SEC);
    assert_string_equal(rb->detail, "{\"rows\":10}");
    c = step(rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
    apply_ok(f, &c, loss + 32 * SEC, &res);
    c = step(rb->epoch, FSM_RB_NOTIFY, FSM_RB_COMPLETE, NULL);
    apply_ok(f, &c, loss + 33 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_COMPLETE);
    assert_int_equal(f->site.state, FSM_SITE_ACTIVE);
    assert_false(fsm_runbook_active(f));
    assert_int_equal(rb->rto_ms, 33 * SEC);
    assert_int_equal(rb->rpo_ms, 100 * SEC + 500);
    assert_string_equal(audit_last(f)->action, "failover-complete");
    /* Done twice is refused. */
    expect_reject(f, &c, DR_ECONFLICT, "the runbook is at complete");
}

/* The DR standby promoted instead of the restore: the RPO counts from its
 * last replayed commit, which the job reports (entry version 5). */
static void test_promoted_standby_sets_the_restore_point(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t job, loss;

    backup_copied(f, t);
    loss = t + 100 * SEC;
    c = start(NULL, loss, loss + 20 * SEC);
    apply_ok(f, &c, loss + 10 * SEC, &res);
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    apply_ok(f, &c, loss + 21 * SEC, &res);
    job = rb->job_id;
    c = claim_cmd(job, 2);
    apply_ok(f, &c, loss + 22 * SEC, &res);
    c = finish(job, 2, 1);
    c.u.job.drill_ok = true;
    c.u.job.backup.detail = "{\"pg_path\":\"promote\"}";
    c.u.job.backup.snapshot_ms = loss - 2 * SEC; /* its last commit */
    assert_int_equal(fsm_cmd_version(&c), 5);
    apply_ok(f, &c, loss + 25 * SEC, &res);
    assert_int_equal(rb->restore_point_ms, loss - 2 * SEC);
    c = step(rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
    apply_ok(f, &c, loss + 26 * SEC, &res);
    c = step(rb->epoch, FSM_RB_NOTIFY, FSM_RB_COMPLETE, NULL);
    apply_ok(f, &c, loss + 27 * SEC, &res);
    assert_int_equal(rb->rpo_ms, 2 * SEC); /* not the backup's 100.5 s */
    /* A finish without one is what it always was. */
    c = finish(job, 2, 1);
    c.u.job.drill_ok = true;
    assert_true(fsm_cmd_version(&c) < 5);
}

static void test_verify_failure_blocks_then_resume_and_abort(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, epoch;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t job, old_job;

    backup_copied(f, t);
    c = start("us-east", 0, 0);
    apply_ok(f, &c, t + SEC, &res);
    epoch = rb->epoch;
    c = step(epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    apply_ok(f, &c, t + 2 * SEC, &res);
    job = rb->job_id;
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 3 * SEC, &res);
    c = finish(job, 2, 1);
    c.u.job.drill_ok = false;
    c.u.job.error = "table public.agents: 9 rows, manifest says 10";
    apply_ok(f, &c, t + 4 * SEC, &res);
    /* Bad data is never published: blocked, with the reason. */
    assert_int_equal(rb->step, FSM_RB_BLOCKED);
    assert_int_equal(rb->blocked_step, FSM_RB_RESTORE);
    assert_int_equal(f->site.state, FSM_SITE_BLOCKED);
    assert_non_null(strstr(rb->error, "verify: table public.agents"));
    c = step(epoch, FSM_RB_BLOCKED, FSM_RB_DNS, NULL);
    expect_reject(f, &c, DR_EINVAL, "only by resume or abort");
    /* Resume: a new restore job. */
    old_job = job;
    c = (struct fsm_cmd){.type = FSM_CMD_RUNBOOK_RESUME, .actor = "op"};
    c.u.runbook.epoch = epoch;
    apply_ok(f, &c, t + 5 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_RESTORE);
    assert_int_equal(f->site.state, FSM_SITE_FAILING_OVER);
    assert_int_not_equal(rb->job_id, old_job);
    assert_string_equal(rb->error, "");
    /* Abort: the old primary again, in a new epoch; the job called off. */
    job = rb->job_id;
    c = (struct fsm_cmd){.type = FSM_CMD_RUNBOOK_ABORT, .actor = "op"};
    c.u.runbook.epoch = epoch;
    apply_ok(f, &c, t + 6 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_ABORTED);
    assert_string_equal(f->site.primary_region, "eu-west");
    assert_int_equal(f->site.epoch, epoch + 1);
    assert_int_equal(f->site.state, FSM_SITE_ACTIVE);
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_FAILED);
    expect_reject(f, &c, DR_ECONFLICT, "the runbook is at aborted");
}

static void test_restore_job_failing_blocks(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c = setting_int_cmd("jobs.max_attempts", 1);

    expect_ok(f, &c, t);
    backup_copied(f, t);
    restore_claimed(f, t);
    c = finish(rb->job_id, 2, 1);
    c.u.job.ok = false;
    c.u.job.error = "pg_restore: connection refused";
    apply_ok(f, &c, t + 4 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_BLOCKED);
    assert_string_equal(rb->error, "restore: pg_restore: connection refused");
}

static struct fsm_cmd phase_cmd(uint64_t job, uint32_t attempt, int phase)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_RENEW, .actor = "node"};
    c.u.job.job_id = job;
    c.u.job.node = 2;
    c.u.job.attempt = attempt;
    c.u.job.lease_ms = 30000;
    c.u.job.phase = phase;
    return c;
}

/* Restore and verify are each committed when the worker reports them (a
 * renewal with a phase): a repeat changes nothing, a step ahead of the
 * runbook or from another job is refused, and a new attempt after the
 * worker died starts after what is committed; the job's end moves on from
 * there. */
static void test_restore_steps_commit_one_by_one(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, job, backup_job;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;

    backup_copied(f, t);
    restore_claimed(f, t);
    job = rb->job_id;

    /* Refused, changing nothing: ahead of the runbook, no such phase, a
     * detail too long, another kind of job, another node's lease. */
    c = phase_cmd(job, 1, FSM_RB_VERIFY);
    expect_reject_at(f, &c, t + 4 * SEC, DR_ECONFLICT,
                     "is at restore, not verify: job");
    c = phase_cmd(job, 1, FSM_RB_DNS);
    expect_reject_at(f, &c, t + 4 * SEC, DR_EINVAL,
                     "phase must be restore or verify");
    {
        char big[4 * FSM_TEXT_MAX + 2];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        c = phase_cmd(job, 1, FSM_RB_RESTORE);
        c.u.job.backup.detail = big;
        expect_reject_at(f, &c, t + 4 * SEC, DR_EINVAL, "detail is too long");
    }
    c = (struct fsm_cmd){.type = FSM_CMD_JOB_CREATE, .actor = "test"};
    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = FSM_BACKUP_REDIS;
    c.u.job.region = "us-east";
    backup_job = apply_ok(f, &c, t + 4 * SEC, &res);
    c = claim_cmd(backup_job, 2);
    apply_ok(f, &c, t + 4 * SEC, &res);
    c = phase_cmd(backup_job, 1, FSM_RB_RESTORE);
    expect_reject_at(f, &c, t + 4 * SEC, DR_EINVAL,
                     "only the runbook's restore job reports a phase");
    c = phase_cmd(job, 1, FSM_RB_RESTORE);
    c.u.job.node = 3;
    expect_reject_at(f, &c, t + 4 * SEC, DR_ECONFLICT, "lease lost");
    assert_int_equal(rb->step, FSM_RB_RESTORE);

    /* Restored (the standby promoted): committed alone, with its report
     * and restore point. */
    c = phase_cmd(job, 1, FSM_RB_RESTORE);
    c.u.job.backup.detail = "{\"pg_path\":\"promote\"}";
    c.u.job.backup.snapshot_ms = t + 500;
    assert_int_equal(fsm_cmd_version(&c), 5);
    {
        /* Through the entry codec, as a follower applies it. */
        uint8_t *buf;
        size_t len;
        struct codec_piece p;
        struct snap e;
        assert_int_equal(codec_cmd_encode(&c, &buf, &len), DR_OK);
        p.base = buf;
        p.len = len;
        assert_int_equal(codec_entry_assemble(5, t + 5 * SEC, &p, 1, malloc,
                                              &e.base, &e.len),
                         DR_OK);
        assert_int_equal(entry_apply(f, &e, &res, 1), DR_OK);
        assert_int_equal(res.code, DR_OK);
        free(buf);
        free(e.base);
    }
    assert_int_equal(rb->step, FSM_RB_VERIFY);
    assert_int_equal(rb->step_ms[FSM_RB_VERIFY], t + 5 * SEC);
    assert_string_equal(rb->detail, "{\"pg_path\":\"promote\"}");
    assert_int_equal(rb->restore_point_ms, t + 500);
    assert_string_equal(audit_last(f)->action, "failover-step");
    assert_int_equal(fsm_job_get(f, job)->lease_expires_ms, t + 35 * SEC);
    /* Said again (its answer lost): nothing moves. */
    apply_ok(f, &c, t + 6 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_VERIFY);
    assert_int_equal(rb->step_ms[FSM_RB_VERIFY], t + 5 * SEC);

    /* Verified: activate, in its own commit. */
    c = phase_cmd(job, 1, FSM_RB_VERIFY);
    apply_ok(f, &c, t + 7 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_ACTIVATE);
    assert_int_equal(rb->step_ms[FSM_RB_ACTIVATE], t + 7 * SEC);
    c = phase_cmd(job, 1, FSM_RB_RESTORE);
    expect_reject_at(f, &c, t + 8 * SEC, DR_ECONFLICT,
                     "is at activate, not restore");

    /* The worker dies in activate: the next attempt starts there (the
     * spec says so, agent/jobkinds.c); its end goes on to dns. */
    c = (struct fsm_cmd){.type = FSM_CMD_JOB_EXPIRE, .actor = "leader"};
    c.u.job.job_id = job;
    c.u.job.attempt = 1;
    apply_ok(f, &c, t + 60 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_ACTIVATE);
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_PENDING);
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 70 * SEC, &res);
    c = finish(job, 2, 2);
    c.u.job.drill_ok = true;
    c.u.job.backup.detail = "{\"resumed_at\":\"activate\"}";
    apply_ok(f, &c, t + 71 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_DNS);
    /* Each step kept its own time; the restore point is the one
     * committed with restore. */
    assert_int_equal(rb->step_ms[FSM_RB_VERIFY], t + 5 * SEC);
    assert_int_equal(rb->step_ms[FSM_RB_ACTIVATE], t + 7 * SEC);
    assert_int_equal(rb->step_ms[FSM_RB_DNS], t + 71 * SEC);
    assert_int_equal(rb->restore_point_ms, t + 500);
    assert_string_equal(rb->detail, "{\"resumed_at\":\"activate\"}");
    /* The job is done: a late phase from it is refused. */
    c = phase_cmd(job, 2, FSM_RB_VERIFY);
    expect_reject_at(f, &c, t + 72 * SEC, DR_ECONFLICT, "not running");
}

/* An operator aborts while the restore job runs: its next step report is
 * refused, so its worker stops before verify and activate. */
static void test_abort_stops_a_running_restore_job(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, job;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;

    backup_copied(f, t);
    restore_claimed(f, t);
    job = rb->job_id;
    c = (struct fsm_cmd){.type = FSM_CMD_RUNBOOK_ABORT, .actor = "op"};
    c.u.runbook.epoch = rb->epoch;
    apply_ok(f, &c, t + 4 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_ABORTED);
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_RUNNING);
    c = phase_cmd(job, 1, FSM_RB_RESTORE);
    expect_reject_at(f, &c, t + 5 * SEC, DR_ECONFLICT,
                     "is at aborted, not restore: job");
    assert_int_equal(rb->step, FSM_RB_ABORTED);
}

/* After restore was committed, a check that fails blocks at verify, and
 * a hook that keeps failing in activate blocks there; both resume with a
 * new restore (the data may be what failed). */
static void test_steps_after_restore_block_where_they_fail(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c = setting_int_cmd("jobs.max_attempts", 1);

    expect_ok(f, &c, t);
    backup_copied(f, t);
    restore_claimed(f, t);
    c = phase_cmd(rb->job_id, 1, FSM_RB_RESTORE);
    apply_ok(f, &c, t + 4 * SEC, &res);
    c = finish(rb->job_id, 2, 1);
    c.u.job.drill_ok = false;
    c.u.job.error = "redis: key session:7 differs";
    apply_ok(f, &c, t + 5 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_BLOCKED);
    assert_int_equal(rb->blocked_step, FSM_RB_RESTORE);
    assert_string_equal(rb->error, "verify: redis: key session:7 differs");
    assert_non_null(strstr(audit_last(f)->detail, "at verify"));

    c = (struct fsm_cmd){.type = FSM_CMD_RUNBOOK_RESUME, .actor = "op"};
    c.u.runbook.epoch = rb->epoch;
    apply_ok(f, &c, t + 6 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_RESTORE);
    c = claim_cmd(rb->job_id, 2);
    apply_ok(f, &c, t + 7 * SEC, &res);
    c = phase_cmd(rb->job_id, 1, FSM_RB_RESTORE);
    apply_ok(f, &c, t + 8 * SEC, &res);
    c = phase_cmd(rb->job_id, 1, FSM_RB_VERIFY);
    apply_ok(f, &c, t + 9 * SEC, &res);
    c = finish(rb->job_id, 2, 1);
    c.u.job.ok = false;
    c.u.job.error = "activate hook exited with status 2";
    apply_ok(f, &c, t + 10 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_BLOCKED);
    assert_int_equal(rb->blocked_step, FSM_RB_RESTORE);
    assert_string_equal(rb->error,
                        "activate: activate hook exited with status 2");
}

/* The replicate job that verifies backup id's copy in us-east. */
static void copy_to_us_east(struct fsm *f, const char *id, uint64_t now)
{
    struct fsm_result res;
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "replication"};
    uint64_t job;

    c.u.job.kind = FSM_JOB_REPLICATE;
    c.u.job.backup_id = id;
    c.u.job.region = "us-east";
    job = apply_ok(f, &c, now, &res);
    c = claim_cmd(job, 2);
    apply_ok(f, &c, now + 1, &res);
    c = finish(job, 2, 1);
    apply_ok(f, &c, now + 2, &res);
}

static void test_switchover_final_backups_rpo_0(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, epoch0 = f->site.epoch, fence;
    const char *old = backup_copied(f, t);
    const struct fsm_runbook *rb = &f->site.runbook;
    const struct fsm_backup *fin;
    struct fsm_region *eu = (struct fsm_region *)fsm_region_get(f, "eu-west");
    struct fsm_result res;
    struct fsm_cmd c;
    const struct fsm_job *j;
    uint64_t job;

    /* Refused, changing nothing: no target, a degraded primary. */
    c = start(NULL, 0, 0);
    c.u.failover.planned = true;
    expect_reject(f, &c, DR_EINVAL, "a switchover needs the region to move to");
    c = start("us-east", 0, t + 30 * SEC);
    c.u.failover.planned = true;
    assert_int_equal(fsm_cmd_version(&c), 5);
    eu->status = FSM_REGION_DEGRADED;
    expect_reject(f, &c, DR_ECONFLICT,
                  "the primary eu-west is degraded, so it cannot take final "
                  "backups (drctl failover --to us-east instead)");
    eu->status = FSM_REGION_HEALTHY;
    apply_ok(f, &c, t + 10 * SEC, &res);
    assert_int_equal(f->site.epoch, epoch0 + 1);
    assert_string_equal(f->site.primary_region, "us-east");
    assert_int_equal(f->site.state, FSM_SITE_SWITCHING_OVER);
    assert_true(rb->planned);
    assert_int_equal(rb->loss_ms, t + 10 * SEC);
    assert_string_equal(audit_last(f)->action, "switchover-start");

    /* The fence leads to the final backups, not straight to restore. */
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    expect_reject(f, &c, DR_EINVAL,
                  "a switchover goes from fence to final_backup");
    fence = t + 12 * SEC;
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_FINAL_BACKUP, NULL);
    apply_ok(f, &c, fence, &res);
    assert_int_equal(rb->step, FSM_RB_FINAL_BACKUP);
    assert_int_equal(rb->final_redis_job, 0); /* no Redis restore point */
    j = fsm_job_get(f, rb->final_pg_job);
    assert_non_null(j);
    assert_int_equal(j->kind, FSM_JOB_BACKUP);
    assert_int_equal(j->backup_kind, FSM_BACKUP_PG_LOGICAL);
    assert_string_equal(j->region, "eu-west");
    assert_int_equal(j->state, FSM_JOB_PENDING);
    /* Not before the final backup exists and is verified in us-east. */
    c = step(rb->epoch, FSM_RB_FINAL_BACKUP, FSM_RB_RESTORE, NULL);
    expect_reject(f, &c, DR_ECONFLICT, "the final pg_logical backup (job");
    job = rb->final_pg_job;
    c = claim_cmd(job, 1);
    apply_ok(f, &c, fence + SEC, &res);
    c = finish(job, 1, 1);
    c.u.job.backup.snapshot_ms = fence + SEC;
    apply_ok(f, &c, fence + 2 * SEC, &res);
    fin = fsm_backup_get(f, fsm_job_get(f, job)->backup_id);
    assert_non_null(fin);
    c = step(rb->epoch, FSM_RB_FINAL_BACKUP, FSM_RB_RESTORE, NULL);
    expect_reject(f, &c, DR_ECONFLICT, "is not verified in us-east yet");
    copy_to_us_east(f, fin->id, fence + 3 * SEC);
    apply_ok(f, &c, fence + 6 * SEC, &res);
    /* The final backup is the restore point, not the older one. */
    assert_string_not_equal(rb->pg_backup, old);
    assert_string_equal(rb->pg_backup, fin->id);
    assert_int_equal(rb->restore_point_ms, fence + SEC);
    j = fsm_job_get(f, rb->job_id);
    assert_int_equal(j->kind, FSM_JOB_RESTORE);
    assert_string_equal(j->backup_id, fin->id);
    c = claim_cmd(rb->job_id, 2);
    apply_ok(f, &c, fence + 7 * SEC, &res);
    c = finish(rb->job_id, 2, 1);
    c.u.job.drill_ok = true;
    apply_ok(f, &c, fence + 9 * SEC, &res);
    c = step(rb->epoch, FSM_RB_DNS, FSM_RB_NOTIFY, NULL);
    apply_ok(f, &c, fence + 10 * SEC, &res);
    c = step(rb->epoch, FSM_RB_NOTIFY, FSM_RB_COMPLETE, NULL);
    apply_ok(f, &c, fence + 11 * SEC, &res);
    assert_int_equal(f->site.state, FSM_SITE_ACTIVE);
    /* Every write before the fence is in the restore point: RPO 0. */
    assert_int_equal(rb->rpo_ms, 0);
    assert_int_equal(rb->rto_ms, 13 * SEC);
    assert_string_equal(audit_last(f)->action, "switchover-complete");
}

static void test_switchover_blocked_at_final_backup_resumes(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC, first;
    const struct fsm_runbook *rb = &f->site.runbook;
    struct fsm_result res;
    struct fsm_cmd c;

    backup_copied(f, t);
    c = start("us-east", 0, t + 30 * SEC);
    c.u.failover.planned = true;
    apply_ok(f, &c, t + SEC, &res);
    c = step(rb->epoch, FSM_RB_FENCE, FSM_RB_FINAL_BACKUP, NULL);
    apply_ok(f, &c, t + 2 * SEC, &res);
    first = rb->final_pg_job;
    c = claim_cmd(first, 1);
    apply_ok(f, &c, t + 3 * SEC, &res);
    c = step(rb->epoch, FSM_RB_FINAL_BACKUP, FSM_RB_BLOCKED,
             "final pg_logical backup (job 9): connection refused");
    apply_ok(f, &c, t + 4 * SEC, &res);
    assert_int_equal(rb->step, FSM_RB_BLOCKED);
    assert_int_equal(rb->blocked_step, FSM_RB_FINAL_BACKUP);
    assert_int_equal(f->site.state, FSM_SITE_BLOCKED);
    c = (struct fsm_cmd){.type = FSM_CMD_RUNBOOK_RESUME, .actor = "op"};
    c.u.runbook.epoch = rb->epoch;
    apply_ok(f, &c, t + 5 * SEC, &res);
    /* Resumed: final backups again (the running one gets a follow-up). */
    assert_int_equal(rb->step, FSM_RB_FINAL_BACKUP);
    assert_int_equal(f->site.state, FSM_SITE_SWITCHING_OVER);
    assert_true(rb->final_pg_job > first);
    assert_int_equal(fsm_job_get(f, rb->final_pg_job)->state, FSM_JOB_PENDING);
}

static void test_snapshot_keeps_runbook(void **state)
{
    struct fsm *f = *state;
    uint64_t t = T0 + 600 * SEC;
    struct fsm_result res;
    struct fsm_cmd c;
    struct fsm back;
    struct snap s;
    char err[256];

    backup_copied(f, t);
    c = start("us-east", t, t + 5 * SEC);
    apply_ok(f, &c, t + SEC, &res);
    c = step(f->site.runbook.epoch, FSM_RB_FENCE, FSM_RB_RESTORE, NULL);
    apply_ok(f, &c, t + 6 * SEC, &res);
    f->site.runbook.planned = true; /* the fields a switchover adds, too */
    f->site.runbook.final_pg_job = 77;
    f->site.runbook.final_redis_job = 78;
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err), DR_OK);
    assert_int_equal(back.site.runbook.step, FSM_RB_RESTORE);
    assert_int_equal(back.site.runbook.epoch, f->site.runbook.epoch);
    assert_string_equal(back.site.runbook.to_region, "us-east");
    assert_int_equal(back.site.runbook.step_ms[FSM_RB_RESTORE], t + 6 * SEC);
    assert_int_equal(back.site.runbook.job_id, f->site.runbook.job_id);
    assert_int_equal(back.site.state, FSM_SITE_FAILING_OVER);
    assert_true(back.site.runbook.planned);
    assert_int_equal(back.site.runbook.final_pg_job, 77);
    assert_int_equal(back.site.runbook.final_redis_job, 78);
    snap_check(&s, &back);
    fsm_close(&back);

    /* A step no node writes is refused. */
    f->site.runbook.step = 42;
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err),
                     DR_EMALFORMED);
    assert_non_null(strstr(err, "unknown runbook step"));
    free(s.base);
    f->site.runbook.step = FSM_RB_RESTORE;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOOTED(test_layout_must_survive_a_region),
        BOOTED(test_no_target_without_verified_copies),
        BOOTED(test_full_runbook),
        BOOTED(test_promoted_standby_sets_the_restore_point),
        BOOTED(test_verify_failure_blocks_then_resume_and_abort),
        BOOTED(test_restore_job_failing_blocks),
        BOOTED(test_restore_steps_commit_one_by_one),
        BOOTED(test_abort_stops_a_running_restore_job),
        BOOTED(test_steps_after_restore_block_where_they_fail),
        BOOTED(test_switchover_final_backups_rpo_0),
        BOOTED(test_switchover_blocked_at_final_backup_resumes),
        BOOTED(test_snapshot_keeps_runbook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
