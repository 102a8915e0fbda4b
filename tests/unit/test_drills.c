/* Unit tests of restore drills in the pure FSM: what a drill picks and
 * records, how its job's outcome decides it, the schedule, rejections and
 * the encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dr.pb-c.h"
#include "fsm/fsm.h"
#include "fsm_helpers.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HOUR 3600000ull
#define DAY (24 * HOUR)

static struct fsm_cmd finish_cmd(uint64_t job,
                                 uint64_t node,
                                 uint32_t attempt,
                                 bool ok)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_FINISH, .actor = "node"};
    c.u.job.job_id = job;
    c.u.job.node = node;
    c.u.job.attempt = attempt;
    c.u.job.ok = ok;
    return c;
}

/* A complete backup of kind in eu-west whose data is from snap. */
static void take_backup(struct fsm *f, int kind, uint64_t now, uint64_t snap)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "test"};
    struct fsm_result res;
    uint64_t job;

    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = kind;
    apply_ok(f, &c, now, &res);
    job = res.job_id;
    c = claim_cmd(job, 1);
    apply_ok(f, &c, now + 1, &res);
    c = finish_cmd(job, 1, 1, true);
    c.u.job.backup.manifest_key = "backups/x/1/manifest.pb";
    c.u.job.backup.manifest_sha256 = SHA;
    c.u.job.backup.snapshot_ms = snap;
    apply_ok(f, &c, now + 2, &res);
}

static struct fsm_cmd start_cmd(const char *region)
{
    struct fsm_cmd c = {.type = FSM_CMD_DRILL_START, .actor = "admin"};
    c.u.drill.kind = FSM_DRILL_RESTORE;
    c.u.drill.region = region;
    return c;
}

/* Start a drill at now; returns its job. */
static uint64_t start(struct fsm *f, const char *region, uint64_t now)
{
    struct fsm_cmd c = start_cmd(region);
    struct fsm_result res;
    apply_ok(f, &c, now, &res);
    assert_int_equal(res.drill_id, f->drill_seq);
    return res.job_id;
}

static void test_rejections(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = start_cmd(NULL);

    expect_reject(f, &c, DR_ECONFLICT, "no complete backup to drill with yet");
    take_backup(f, FSM_BACKUP_PG_LOGICAL, DAY, DAY - 1000);
    c = start_cmd("atlantis");
    expect_reject(f, &c, DR_ENOTFOUND, "region \"atlantis\" does not exist");
    c = start_cmd(NULL);
    c.u.drill.kind = 9;
    expect_reject(f, &c, DR_EINVAL, "unknown drill kind 9");
    c = start_cmd("eu-west");
    expect_reject(f, &c, DR_ECONFLICT,
                  "drills never run in the primary region eu-west");
    start(f, NULL, DAY + 10);
    c = start_cmd("ap-south");
    expect_reject_at(f, &c, DAY + 20, DR_ECONFLICT,
                     "drill 1 is still running in us-east");
}

/* A region without members cannot run a drill; nor is it picked. */
static void test_region_without_members(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = member_remove_cmd(2); /* us-east's only member */
    struct fsm_result res;

    take_backup(f, FSM_BACKUP_PG_LOGICAL, DAY, DAY);
    take_backup(f, FSM_BACKUP_REDIS, DAY, DAY);
    apply_ok(f, &c, DAY + 5, &res);
    assert_string_equal(fsm_drill_region(f), "ap-south");
    c = start_cmd("us-east");
    expect_reject(f, &c, DR_ECONFLICT, "region us-east has no member to run");
    c = member_remove_cmd(3);
    apply_ok(f, &c, DAY + 6, &res);
    assert_null(fsm_drill_region(f));
    assert_false(fsm_drill_due(f, DAY + 7));
    c = start_cmd(NULL);
    expect_reject(f, &c, DR_ECONFLICT, "no region to drill in");
}

/* A drill nobody claims for an hour is replaced by the next one, which the
 * schedule then starts. */
static void test_stuck_drill_replaced(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c;
    struct fsm_result res;
    uint64_t t = DAY, job;

    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t);
    take_backup(f, FSM_BACKUP_REDIS, t, t);
    job = start(f, NULL, t + 10);
    assert_false(fsm_drill_due(f, t + 10 + HOUR - 1));
    c = start_cmd(NULL);
    expect_reject_at(f, &c, t + 10 + HOUR - 1, DR_ECONFLICT,
                     "drill 1 is still running");
    assert_true(fsm_drill_due(f, t + 10 + HOUR));
    apply_ok(f, &c, t + 10 + HOUR, &res);
    assert_int_equal(fsm_drill_get(f, 1)->state, FSM_DRILL_FAILED);
    assert_string_equal(fsm_drill_get(f, 1)->error,
                        "no node of us-east claimed its job within 60 "
                        "minutes");
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_FAILED);
    assert_int_equal(fsm_drill_get(f, 2)->state, FSM_DRILL_RUNNING);
    /* A claimed one is never replaced, however long it runs. */
    c = claim_cmd(res.job_id, 2);
    apply_ok(f, &c, t + 11 + HOUR, &res);
    c = start_cmd(NULL);
    expect_reject_at(f, &c, t + 100 * HOUR, DR_ECONFLICT,
                     "drill 2 is still running");
}

/* A drill takes the newest backups of each kind, records their age, and
 * hands a job to its region; the job's report decides it. */
static void test_drill_passes(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    const struct fsm_drill *d;
    const struct fsm_job *j;
    uint64_t t = 2 * DAY, job;

    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t - 60000);
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t + HOUR, t + HOUR - 5000);
    take_backup(f, FSM_BACKUP_REDIS, t + HOUR, t + HOUR - 1000);
    job = start(f, NULL, t + 2 * HOUR);
    d = fsm_drill_get(f, 1);
    assert_non_null(d);
    assert_string_equal(d->region, "us-east"); /* the DR region */
    assert_int_equal(d->state, FSM_DRILL_RUNNING);
    assert_int_equal(d->pg_rpo_ms, HOUR + 5000);
    assert_int_equal(d->redis_rpo_ms, HOUR + 1000);
    assert_string_equal(d->pg_backup,
                        fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, NULL)->id);
    j = fsm_job_get(f, job);
    assert_int_equal(j->kind, FSM_JOB_DRILL);
    assert_int_equal(j->drill_id, 1);
    assert_string_equal(j->region, "us-east");
    assert_string_equal(j->backup_id, "drill-1");
    assert_string_equal(audit_last(f)->action, "drill-start");

    /* Only a node of us-east may claim it. */
    c = claim_cmd(job, 1);
    expect_reject_at(f, &c, t + 2 * HOUR + 1, DR_ECONFLICT,
                     "runs in region us-east");
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 2 * HOUR + 1, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.drill_ok = true;
    c.u.job.drill_rto_ms = 4321;
    c.u.job.backup.detail = "{\"pg\":{\"rows\":10}}";
    apply_ok(f, &c, t + 2 * HOUR + 5000, &res);
    d = fsm_drill_get(f, 1);
    assert_int_equal(d->state, FSM_DRILL_PASSED);
    assert_int_equal(d->rto_ms, 4321);
    assert_int_equal(d->finished_ms, t + 2 * HOUR + 5000);
    assert_string_equal(d->detail, "{\"pg\":{\"rows\":10}}");
    assert_string_equal(d->error, "");
    assert_string_equal(audit_last(f)->action, "drill-passed");
    assert_non_null(strstr(audit_last(f)->detail, "RTO 4321 ms"));
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_DONE);
}

/* A restore drill also takes the newest base backup (replayed with the WAL
 * archive to its end); one is enough to start a drill. The snapshot
 * keeps it. */
static void test_drill_takes_base_backup(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c;
    struct fsm_result res;
    const struct fsm_drill *d;
    uint64_t t = DAY, job;
    struct snap a, b;
    struct fsm g;
    char err[256];

    take_backup(f, FSM_BACKUP_PG_BASE, t, t - 3000);
    take_backup(f, FSM_BACKUP_PG_BASE, t + HOUR, t + HOUR - 2000);
    job = start(f, NULL, t + 2 * HOUR);
    d = fsm_drill_get(f, 1);
    assert_string_equal(d->pg_base_backup,
                        fsm_backup_latest(f, FSM_BACKUP_PG_BASE, NULL)->id);
    assert_string_equal(d->pg_backup, "");
    assert_string_equal(d->redis_backup, "");
    assert_non_null(strstr(audit_last(f)->detail, d->pg_base_backup));
    /* At the start, the base backup's age (from its end). */
    assert_int_equal(d->pg_base_rpo_ms, HOUR + 2000);
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    assert_string_equal(g.drills[0].pg_base_backup, d->pg_base_backup);
    assert_int_equal(g.drills[0].pg_base_rpo_ms, HOUR + 2000);
    fsm_close(&g);
    free(a.base);
    free(b.base);
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 2 * HOUR + 1, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.drill_ok = true;
    c.u.job.backup.detail = "{\"pg_base\":{\"rows\":10}}";
    /* The replay reached a transaction 500 ms before the start. */
    c.u.job.backup.snapshot_ms = t + 2 * HOUR - 500;
    apply_ok(f, &c, t + 2 * HOUR + 2, &res);
    assert_int_equal(fsm_drill_get(f, 1)->state, FSM_DRILL_PASSED);
    assert_int_equal(fsm_drill_get(f, 1)->pg_base_rpo_ms, 500);
    assert_non_null(strstr(audit_last(f)->detail, "pg base + WAL 500 ms"));

    /* With a logical backup too: both. */
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t + 3 * HOUR, t + 3 * HOUR);
    job = start(f, NULL, t + 4 * HOUR);
    d = fsm_drill_get(f, 2);
    assert_string_equal(d->pg_backup,
                        fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, NULL)->id);
    assert_string_equal(d->pg_base_backup,
                        fsm_backup_latest(f, FSM_BACKUP_PG_BASE, NULL)->id);
    /* An idle database: its last transaction is older than the base
     * backup's end, which bounds the RPO. */
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 4 * HOUR + 1, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.drill_ok = true;
    c.u.job.backup.detail = "{}";
    c.u.job.backup.snapshot_ms = t - DAY / 2;
    apply_ok(f, &c, t + 4 * HOUR + 2, &res);
    assert_int_equal(fsm_drill_get(f, 2)->state, FSM_DRILL_PASSED);
    assert_int_equal(fsm_drill_get(f, 2)->pg_base_rpo_ms, 3 * HOUR + 2000);
}

/* Checks that fail end the drill at once (no retry: it would not help);
 * a failed drill needs its reason. */
static void test_drill_fails_on_check(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t job;

    take_backup(f, FSM_BACKUP_REDIS, DAY, DAY - 1);
    job = start(f, "ap-south", DAY + 10);
    c = claim_cmd(job, 3);
    apply_ok(f, &c, DAY + 11, &res);
    c = finish_cmd(job, 3, 1, true);
    c.u.job.drill_ok = false;
    expect_reject_at(f, &c, DAY + 12, DR_EINVAL,
                     "a failed drill needs an error");
    c.u.job.error = "redis: key session:9 differs";
    apply_ok(f, &c, DAY + 12, &res);
    assert_int_equal(fsm_drill_get(f, 1)->state, FSM_DRILL_FAILED);
    assert_string_equal(fsm_drill_get(f, 1)->error,
                        "redis: key session:9 differs");
    assert_string_equal(audit_last(f)->action, "drill-failed");
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_DONE);
}

/* A job that runs out of attempts fails its drill with the last error. */
static void test_drill_fails_when_job_does(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t job, t = DAY;

    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t);
    job = start(f, NULL, t + 10);
    for (uint32_t a = 1; a <= 3; a++) {
        t += 10 * 60000; /* past any back-off */
        c = claim_cmd(job, 2);
        apply_ok(f, &c, t, &res);
        assert_int_equal(res.attempt, a);
        c = finish_cmd(job, 2, a, false);
        c.u.job.error = "pg: CREATE DATABASE dr_drill_1: permission denied";
        apply_ok(f, &c, t + 1, &res);
        assert_int_equal(fsm_drill_get(f, 1)->state,
                         a < 3 ? FSM_DRILL_RUNNING : FSM_DRILL_FAILED);
    }
    assert_string_equal(fsm_drill_get(f, 1)->error,
                        "pg: CREATE DATABASE dr_drill_1: permission denied");
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_FAILED);
    /* A new drill may start now. */
    start(f, NULL, t + 2);
    assert_int_equal(f->drill_seq, 2);
}

/* The schedule: never without backups, one at a time, every
 * drill.restore_interval_h; 0 switches it off; drill.region picks the
 * region. */
static void test_schedule(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t job, t = DAY;

    assert_false(fsm_drill_due(f, t));
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t);
    assert_false(fsm_drill_due(f, t)); /* Redis is scheduled too: wait */
    take_backup(f, FSM_BACKUP_REDIS, t, t);
    assert_true(fsm_drill_due(f, t));
    job = start(f, NULL, t + 10);
    assert_false(fsm_drill_due(f, t + 10 + HOUR - 1)); /* one runs */
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 11, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.drill_ok = true;
    apply_ok(f, &c, t + 12, &res);
    assert_false(fsm_drill_due(f, t + 10 + 168 * HOUR - 1));
    assert_true(fsm_drill_due(f, t + 10 + 168 * HOUR));
    c = setting_str_cmd("drill.region", "atlantis"); /* names no region */
    apply_ok(f, &c, t + 13, &res);
    assert_false(fsm_drill_due(f, t + 10 + 168 * HOUR));
    c = setting_str_cmd("drill.region", "");
    apply_ok(f, &c, t + 14, &res);
    assert_string_equal(fsm_drill_region(f), "us-east");
    c = setting_int_cmd("drill.restore_interval_h", 0);
    apply_ok(f, &c, t + 14, &res);
    assert_false(fsm_drill_due(f, t + 1000 * HOUR));
    c = setting_str_cmd("drill.region", "ap-south");
    apply_ok(f, &c, t + 15, &res);
    assert_string_equal(fsm_drill_region(f), "ap-south");
    start(f, NULL, t + 16);
    assert_string_equal(fsm_drill_get(f, 2)->region, "ap-south");
}

/* Backup id's copy verified in region. */
static void copy_to(struct fsm *f,
                    const char *id,
                    const char *region,
                    uint64_t now)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "replication"};
    struct fsm_result res;
    uint64_t job;

    c.u.job.kind = FSM_JOB_REPLICATE;
    c.u.job.backup_id = id;
    c.u.job.region = region;
    apply_ok(f, &c, now, &res);
    job = res.job_id;
    c = claim_cmd(job, 2);
    apply_ok(f, &c, now + 1, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.copy.source_region = "eu-west";
    apply_ok(f, &c, now + 2, &res);
}

static void test_failover_drill(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = start_cmd(NULL);
    struct fsm_result res;
    char *targets[] = {"10.2.0.1", "10.2.0.2"};
    const struct fsm_drill *d;
    uint64_t t = DAY, job;
    struct snap s;
    struct fsm back;
    char err[256];

    c.u.drill.kind = FSM_DRILL_FAILOVER;
    assert_int_equal(fsm_cmd_version(&c), 5);
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t - 1000);
    /* Refusals, changing nothing. */
    expect_reject(f, &c, DR_ECONFLICT,
                  "no region a failover could pick to drill: ");
    copy_to(f, fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, NULL)->id, "us-east",
            t + 10);
    expect_reject(f, &c, DR_ECONFLICT,
                  "no failover drill: set failover.practice_name");
    assert_false(fsm_failover_drill_due(f, t + 20));
    {
        struct fsm_cmd s1 =
            setting_str_cmd("failover.practice_name", "drill.dr.example.");
        struct fsm_cmd s2 = setting_str_cmd("dns.api_url", "http://x:1");
        struct fsm_cmd s3 = setting_str_cmd("dns.zone", "other.example");
        struct fsm_cmd s4 = setting_str_cmd("dns.name", "drill.dr.example");
        assert_int_equal(fsm_cmd_version(&s1), 5);
        apply_ok(f, &s1, t + 20, &res);
        apply_ok(f, &s2, t + 20, &res);
        apply_ok(f, &s3, t + 20, &res);
        expect_reject(f, &c, DR_ECONFLICT, "must be a name inside dns.zone");
        s3 = setting_str_cmd("dns.zone", "dr.example");
        apply_ok(f, &s3, t + 20, &res);
        apply_ok(f, &s4, t + 20, &res);
        expect_reject(f, &c, DR_ECONFLICT, "must not be dns.name");
        s4 = setting_str_cmd("dns.name", "app.dr.example.");
        apply_ok(f, &s4, t + 20, &res);
    }
    {
        /* us-east's two targets (the bootstrap gave it one). */
        struct fsm_cmd r = region_cmd(FSM_CMD_REGION_UPDATE,
                                      region("us-east", 5, targets, 2, ""));
        r.fields = FSM_REGION_F_DNS_TARGETS;
        apply_ok(f, &r, t + 30, &res);
    }
    assert_true(fsm_failover_drill_due(f, t + 40));
    c.u.drill.region = "ap-south"; /* holds no copy */
    expect_reject(f, &c, DR_ECONFLICT, "region ap-south has no dns_targets");
    c.u.drill.region = NULL;
    apply_ok(f, &c, t + 40, &res);
    d = fsm_drill_get(f, res.drill_id);
    assert_int_equal(d->kind, FSM_DRILL_FAILOVER);
    assert_string_equal(d->region, "us-east");
    assert_string_equal(d->pg_backup,
                        fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, NULL)->id);
    assert_int_equal(d->pg_rpo_ms, 40 + 1000);
    assert_false(fsm_failover_drill_due(f, t + 41));
    /* Restored and checked in us-east: the practice DNS comes next. */
    job = res.job_id;
    c = claim_cmd(job, 2);
    apply_ok(f, &c, t + 50, &res);
    c = finish_cmd(job, 2, 1, true);
    c.u.job.drill_ok = true;
    c.u.job.drill_rto_ms = 3000;
    apply_ok(f, &c, t + 3050, &res);
    d = fsm_drill_get(f, d->id);
    assert_int_equal(d->state, FSM_DRILL_DNS);
    assert_ptr_equal(fsm_drill_dns_pending(f), d);
    assert_false(fsm_drill_due(f, t + 1000 * HOUR)); /* busy */
    /* Through a snapshot, waiting for its DNS. */
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err), DR_OK);
    assert_int_equal(fsm_drill_get(&back, d->id)->state, FSM_DRILL_DNS);
    assert_int_equal(fsm_drill_get(&back, d->id)->kind, FSM_DRILL_FAILOVER);
    fsm_close(&back);
    free(s.base);
    c = (struct fsm_cmd){.type = FSM_CMD_DRILL_DNS_DONE, .actor = "failover"};
    c.u.drill_dns.drill_id = 99;
    expect_reject(f, &c, DR_ENOTFOUND, "drill 99 does not exist");
    c.u.drill_dns.drill_id = d->id;
    c.u.drill_dns.ok = true;
    c.u.drill_dns.confirmed_ms = t + 40 + 5000;
    assert_int_equal(fsm_cmd_version(&c), 5);
    apply_ok(f, &c, t + 6000, &res);
    d = fsm_drill_get(f, d->id);
    assert_int_equal(d->state, FSM_DRILL_PASSED);
    assert_int_equal(d->rto_ms, 5000);
    assert_int_equal(d->dns_confirmed_ms, t + 40 + 5000);
    assert_string_equal(audit_last(f)->action, "drill-passed");
    expect_reject(f, &c, DR_ECONFLICT, "is passed, not waiting");
    /* Monthly by default. */
    assert_false(fsm_failover_drill_due(f, t + 40 + 720 * HOUR - 1));
    assert_true(fsm_failover_drill_due(f, t + 40 + 720 * HOUR));
}

/* Encoded and replayed, or through a snapshot: the same state. A snapshot
 * with a malformed drill is refused. */
static void test_codec(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    struct fsm_result res[1];
    struct fsm_cmd cmds[3];
    struct snap a, b;
    char err[256];
    uint64_t t = DAY;

    take_backup(f, FSM_BACKUP_PG_LOGICAL, t, t - 7);
    cmds[0] = start_cmd("ap-south");
    cmds[1] = claim_cmd(f->job_seq + 1, 3);
    cmds[2] = finish_cmd(f->job_seq + 1, 3, 1, true);
    cmds[2].u.job.drill_ok = false;
    cmds[2].u.job.drill_rto_ms = 99;
    cmds[2].u.job.error = "pg: table agents: 9 rows, manifest says 10";
    cmds[2].u.job.backup.detail = "{}";
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cmd_apply_encoded(f, &cmds[i], t + 100 + i, res),
                         DR_OK);
        assert_int_equal(res[0].code, DR_OK);
    }
    assert_int_equal(fsm_drill_get(f, 1)->state, FSM_DRILL_FAILED);
    assert_int_equal(fsm_drill_get(f, 1)->rto_ms, 99);
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    assert_int_equal(g.n_drills, 1);
    assert_string_equal(g.drills[0].error,
                        "pg: table agents: 9 rows, manifest says 10");
    assert_int_equal(g.jobs[g.n_jobs - 1].drill_id, 1);
    fsm_close(&g);
    free(b.base);
    {
        Dr__Snapshot *pb = dr__snapshot__unpack(NULL, a.len, a.base);
        uint8_t *bad;
        size_t len;
        char *saved;
        assert_non_null(pb);
        saved = pb->drills[0]->state;
        pb->drills[0]->state = "exploded";
        len = dr__snapshot__get_packed_size(pb);
        bad = malloc(len);
        assert_non_null(bad);
        dr__snapshot__pack(pb, bad);
        pb->drills[0]->state = saved;
        assert_int_equal(codec_snapshot_decode(bad, len, &g, err),
                         DR_EMALFORMED);
        assert_non_null(strstr(err, "malformed drill in region"));
        free(bad);
        dr__snapshot__free_unpacked(pb, NULL);
    }
    free(a.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOOTED(test_rejections),
        BOOTED(test_region_without_members),
        BOOTED(test_stuck_drill_replaced),
        BOOTED(test_drill_passes),
        BOOTED(test_drill_takes_base_backup),
        BOOTED(test_drill_fails_on_check),
        BOOTED(test_drill_fails_when_job_does),
        BOOTED(test_schedule),
        BOOTED(test_failover_drill),
        BOOTED(test_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
