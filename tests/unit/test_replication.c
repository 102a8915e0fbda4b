/* Unit tests of cross-region copies in the pure FSM: the origin's copy,
 * replicate jobs (creation, claim by the destination region, finish,
 * failure, retry, cleanup), the policy (replication.targets, min_copies,
 * max_concurrent), safety, per-copy verification, deletion of every copy,
 * retention, lag, and the snapshot encoding (old snapshots included).
 *
 * The standard bootstrap: eu-west (primary, s3://dr-eu, node 1), us-east
 * (file:///srv/dr, node 2), ap-south (no store, node 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsm/fsm.h"
#include "fsm_helpers.h"

#define SHA FSM_TEST_SHA
#define MIN 60000ull

static struct fsm_cmd finish_cmd(uint64_t job, uint64_t node, uint32_t attempt)
{
    struct fsm_cmd c = finish_base_cmd(job, node, attempt);
    c.u.job.backup.stored_bytes = 1000;
    c.u.job.copy.bytes = 1000;
    c.u.job.copy.objects = 4;
    c.u.job.copy.copy_ms = 250;
    c.u.job.copy.source_region = "eu-west";
    return c;
}

static struct fsm_cmd fail_cmd(uint64_t job,
                               uint64_t node,
                               uint32_t attempt,
                               const char *error)
{
    struct fsm_cmd c = finish_cmd(job, node, attempt);
    c.u.job.ok = false;
    c.u.job.error = error;
    return c;
}

static struct fsm_cmd replicate_cmd(const char *id, const char *region)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "replication"};
    c.u.job.kind = FSM_JOB_REPLICATE;
    c.u.job.backup_id = id;
    c.u.job.region = region;
    return c;
}

static struct fsm_cmd verified_cmd(const char *id,
                                   const char *region,
                                   bool ok,
                                   const char *error)
{
    struct fsm_cmd c = {.type = FSM_CMD_BACKUP_VERIFIED, .actor = "drctl"};
    c.u.verified.id = id;
    c.u.verified.region = region;
    c.u.verified.ok = ok;
    c.u.verified.error = error;
    return c;
}

/* A backup of kind taken in the primary (eu-west) at now; its id. */
static const char *take_backup(struct fsm *f, int kind, uint64_t now)
{
    struct fsm_result res;
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "test"};
    uint64_t job;

    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = kind;
    job = apply_ok(f, &c, now, &res);
    c = claim_cmd(job, 1);
    apply_ok(f, &c, now, &res);
    c = finish_cmd(job, 1, res.attempt);
    apply_ok(f, &c, now + 10, &res);
    return fsm_job_get(f, job)->backup_id;
}

/* Copy backup id to us-east (node 2) at now: create, claim, finish. */
static void copy_to_us(struct fsm *f, const char *id, uint64_t now)
{
    struct fsm_result res;
    struct fsm_cmd c = replicate_cmd(id, "us-east");
    uint64_t job = apply_ok(f, &c, now, &res);

    c = claim_cmd(job, 2);
    apply_ok(f, &c, now + 1, &res);
    c = finish_cmd(job, 2, res.attempt);
    apply_ok(f, &c, now + 2, &res);
}

static void test_origin_copy_and_policy(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    const struct fsm_backup *b = fsm_backup_get(f, id);
    struct fsm_repl_want w[8];
    const char *why = NULL;

    assert_int_equal(b->n_copies, 1);
    assert_string_equal(b->copies[0].region, "eu-west");
    assert_string_equal(b->copies[0].store, "s3://dr-eu");
    assert_string_equal(b->copies[0].prefix, b->prefix);
    assert_int_equal(b->copies[0].state, FSM_COPY_VERIFIED);
    assert_int_equal(b->copies[0].bytes, 1000);
    /* Safe means a verified copy in the origin and in us-east (ap-south
     * has no store). */
    assert_int_equal(fsm_replication_min_copies(f, b), 2);
    assert_false(fsm_backup_safe(f, b));
    assert_false(fsm_region_receives(f, fsm_region_get(f, "ap-south"),
                                     FSM_BACKUP_PG_LOGICAL, &why));
    assert_string_equal(why, "no object store");
    /* The leader wants exactly one copy: to us-east. */
    assert_int_equal(fsm_replication_wanted(f, T0 + MIN + 20, w, 8), 1);
    assert_string_equal(w[0].backup_id, id);
    assert_string_equal(w[0].region, "us-east");
    /* Lag: us-east lacks a backup committed 50 s ago. */
    assert_int_equal(fsm_replication_lag_ms(f, "us-east", FSM_BACKUP_PG_LOGICAL,
                                            T0 + MIN + 10 + 50000),
                     50000);
    assert_int_equal(fsm_replication_lag_ms(f, "eu-west", FSM_BACKUP_PG_LOGICAL,
                                            T0 + 5 * MIN),
                     0);
}

static void test_targets(void **state)
{
    struct fsm *f = *state;
    const struct fsm_region *us = fsm_region_get(f, "us-east");
    const char *why = NULL;
    struct fsm_cmd c;

    c = setting_str_cmd("replication.targets", "us-east:pg");
    expect_ok(f, &c, T0 + 1);
    assert_true(fsm_region_receives(f, us, FSM_BACKUP_PG_LOGICAL, NULL));
    assert_false(fsm_region_receives(f, us, FSM_BACKUP_REDIS, &why));
    assert_string_equal(why, "replication.targets leaves out this kind");
    assert_false(fsm_region_receives(f, fsm_region_get(f, "eu-west"),
                                     FSM_BACKUP_PG_LOGICAL, &why));
    assert_string_equal(why, "not in replication.targets");
    c = setting_str_cmd("replication.targets", "*:redis+pg");
    expect_ok(f, &c, T0 + 2);
    assert_true(fsm_region_receives(f, us, FSM_BACKUP_REDIS, NULL));
    c = setting_str_cmd("replication.targets", "none");
    expect_ok(f, &c, T0 + 3);
    assert_false(fsm_region_receives(f, us, FSM_BACKUP_PG_LOGICAL, &why));
    assert_string_equal(why, "replication.targets is \"none\"");
    /* The command that needs it says version 3. */
    assert_int_equal(fsm_cmd_version(&c), 3);

    c = setting_str_cmd("replication.targets", "us-east:mysql");
    expect_reject(f, &c, DR_EINVAL, "unknown backup kind \"mysql\"");
    c = setting_str_cmd("replication.targets", "us-east,,eu-west");
    expect_reject(f, &c, DR_EINVAL, "empty item");
    c = setting_str_cmd("replication.targets", "us-east:");
    expect_reject(f, &c, DR_EINVAL, "needs kinds like pg");
    c = setting_str_cmd("replication.targets", "Bad Region");
    expect_reject(f, &c, DR_EINVAL, "setting replication.targets: ");
    c = setting_int_cmd("replication.max_concurrent", 0);
    expect_reject(f, &c, DR_EINVAL, "outside 1..64");
}

static void test_replicate_lifecycle(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    struct fsm_result res;
    struct fsm_cmd c = replicate_cmd(id, "us-east");
    const struct fsm_backup *b;
    const struct fsm_job *j;
    const struct fsm_copy *cp;
    struct fsm_repl_want w[8];
    uint64_t job;

    assert_int_equal(fsm_cmd_version(&c), 3);
    job = apply_ok(f, &c, T0 + 2 * MIN, &res);
    j = fsm_job_get(f, job);
    assert_int_equal(j->kind, FSM_JOB_REPLICATE);
    assert_string_equal(j->region, "us-east");
    assert_string_equal(j->store, "file:///srv/dr");
    assert_string_equal(j->prefix, fsm_backup_get(f, id)->prefix);
    assert_string_equal(audit_last(f)->action, "copy-scheduled");
    cp = fsm_copy_get(fsm_backup_get(f, id), "us-east");
    assert_non_null(cp);
    assert_int_equal(cp->state, FSM_COPY_COPYING);
    assert_int_equal(cp->job_id, job);
    /* Copying: neither wanted again nor created twice. */
    assert_int_equal(fsm_replication_wanted(f, T0 + 2 * MIN, w, 8), 0);
    expect_reject(f, &c, DR_ECONFLICT, "copy of");

    /* Only a node of the destination region claims it. */
    c = claim_cmd(job, 1);
    expect_reject_at(f, &c, T0 + 2 * MIN, DR_ECONFLICT,
                     "runs in region us-east; node 1 is in eu-west");
    c = claim_cmd(job, 2);
    apply_ok(f, &c, T0 + 2 * MIN, &res);
    /* A finish without the copy's figures is still a success. */
    c = finish_cmd(job, 2, res.attempt);
    apply_ok(f, &c, T0 + 2 * MIN + 500, &res);
    b = fsm_backup_get(f, id);
    cp = fsm_copy_get(b, "us-east");
    assert_int_equal(cp->state, FSM_COPY_VERIFIED);
    assert_int_equal(cp->verified_ms, T0 + 2 * MIN + 500);
    assert_string_equal(cp->source_region, "eu-west");
    assert_int_equal(cp->bytes, 1000);
    assert_int_equal(cp->objects, 4);
    assert_int_equal(cp->copy_ms, 250);
    assert_int_equal(cp->job_id, 0);
    assert_true(fsm_backup_safe(f, b));
    assert_string_equal(audit_last(f)->action, "backup-copied");
    assert_int_equal(fsm_replication_lag_ms(f, "us-east", FSM_BACKUP_PG_LOGICAL,
                                            T0 + 10 * MIN),
                     0);
    /* Readers in us-east use the local copy, in ap-south the origin's. */
    {
        const char *why;
        assert_ptr_equal(fsm_copy_pick(f, b, "us-east", &why), cp);
        assert_string_equal(why, "local");
        assert_string_equal(fsm_copy_pick(f, b, "ap-south", &why)->region,
                            "eu-west");
        assert_string_equal(why, "origin");
    }
}

static void test_replicate_rejections(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_REDIS, T0 + MIN);
    struct fsm_cmd c;
    struct fsm_region r;

    c = replicate_cmd("redis-nope", "us-east");
    expect_reject(f, &c, DR_ENOTFOUND, "backup redis-nope does not exist");
    c = replicate_cmd(id, "mars");
    expect_reject(f, &c, DR_ENOTFOUND, "region mars does not exist");
    c = replicate_cmd(id, "ap-south");
    expect_reject(f, &c, DR_ECONFLICT, "receives no copy of");
    c = replicate_cmd(id, "eu-west");
    expect_reject(f, &c, DR_ECONFLICT, "region eu-west's copy of");
    /* Two regions on one store: a copy there would be a copy onto itself
     * (and its cleanup would delete the origin's objects). */
    r = region("us-east", 5, NULL, 0, "s3://dr-eu");
    c = region_cmd(FSM_CMD_REGION_UPDATE, r);
    c.fields = FSM_REGION_F_OBJECT_STORE;
    expect_ok(f, &c, T0 + 2 * MIN);
    c = replicate_cmd(id, "us-east");
    expect_reject(f, &c, DR_ECONFLICT, "two regions share one store");
    {
        struct fsm_repl_want w[4];
        assert_int_equal(fsm_replication_wanted(f, T0 + 3 * MIN, w, 4), 0);
    }
}

static void test_replicate_failure_retry_cleanup(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    struct fsm_result res;
    struct fsm_cmd c = replicate_cmd(id, "us-east");
    uint64_t job = apply_ok(f, &c, T0 + 2 * MIN, &res), cleanup = 0, now;
    const struct fsm_copy *cp;
    struct fsm_repl_want w[4];

    c = setting_int_cmd("replication.retry_s", 30);
    expect_ok(f, &c, T0 + 2 * MIN);
    now = T0 + 2 * MIN;
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        c = claim_cmd(job, 2);
        now += 400000; /* past any back-off */
        apply_ok(f, &c, now, &res);
        assert_int_equal(res.attempt, attempt);
        c = fail_cmd(job, 2, attempt,
                     "object x: SHA-256 mismatch (expected 01..., got ff...)");
        apply_ok(f, &c, now + 1, &res);
    }
    cp = fsm_copy_get(fsm_backup_get(f, id), "us-east");
    assert_int_equal(cp->state, FSM_COPY_FAILED);
    assert_int_equal(cp->failures, 3);
    assert_non_null(strstr(cp->error, "SHA-256 mismatch"));
    assert_int_equal(fsm_job_get(f, job)->state, FSM_JOB_FAILED);
    /* The last attempt's objects get a cleanup job in us-east's store. */
    for (size_t i = 0; i < f->n_jobs; i++) {
        if (f->jobs[i].kind == FSM_JOB_CLEANUP &&
            strcmp(f->jobs[i].region, "us-east") == 0) {
            cleanup = f->jobs[i].id;
            assert_string_equal(f->jobs[i].store, "file:///srv/dr");
            assert_string_equal(f->jobs[i].prefix, cp->prefix);
        }
    }
    assert_int_not_equal(cleanup, 0);
    assert_false(fsm_backup_safe(f, fsm_backup_get(f, id)));
    /* Not again before replication.retry_s, then again. */
    assert_int_equal(fsm_replication_wanted(f, now + 1 + 29000, w, 4), 0);
    assert_int_equal(fsm_replication_wanted(f, now + 1 + 30000, w, 4), 1);
    c = replicate_cmd(id, "us-east");
    job = apply_ok(f, &c, now + 31000, &res);
    assert_int_equal(fsm_copy_get(fsm_backup_get(f, id), "us-east")->state,
                     FSM_COPY_COPYING);
    /* It waits for the cleanup of the same objects. */
    assert_int_equal(fsm_job_waits_for(f, fsm_job_get(f, job))->id, cleanup);
    c = claim_cmd(job, 2);
    expect_reject_at(f, &c, now + 32000, DR_ECONFLICT, "(cleanup of");
    c = claim_cmd(cleanup, 2);
    apply_ok(f, &c, now + 33000, &res);
    c = finish_cmd(cleanup, 2, res.attempt);
    apply_ok(f, &c, now + 34000, &res);
    assert_null(fsm_job_waits_for(f, fsm_job_get(f, job)));
    c = claim_cmd(job, 2);
    apply_ok(f, &c, now + 35000, &res);
    c = finish_cmd(job, 2, res.attempt);
    apply_ok(f, &c, now + 36000, &res);
    cp = fsm_copy_get(fsm_backup_get(f, id), "us-east");
    assert_int_equal(cp->state, FSM_COPY_VERIFIED);
    assert_string_equal(cp->error, "");
}

static void test_max_concurrent(void **state)
{
    struct fsm *f = *state;
    const char *a = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    const char *b = take_backup(f, FSM_BACKUP_REDIS, T0 + 2 * MIN);
    struct fsm_result res;
    struct fsm_cmd c = setting_int_cmd("replication.max_concurrent", 1);
    struct fsm_repl_want w[8];
    uint64_t ja, jb;

    expect_ok(f, &c, T0 + 3 * MIN);
    /* One pending job per region at a time: the newest backup first. */
    assert_int_equal(fsm_replication_wanted(f, T0 + 3 * MIN, w, 8), 1);
    assert_string_equal(w[0].backup_id, b);
    c = replicate_cmd(b, "us-east");
    jb = apply_ok(f, &c, T0 + 3 * MIN, &res);
    assert_int_equal(fsm_replication_wanted(f, T0 + 3 * MIN, w, 8), 0);
    c = claim_cmd(jb, 2);
    apply_ok(f, &c, T0 + 3 * MIN, &res);
    assert_int_equal(fsm_replication_wanted(f, T0 + 3 * MIN, w, 8), 1);
    assert_string_equal(w[0].backup_id, a);
    c = replicate_cmd(a, "us-east");
    ja = apply_ok(f, &c, T0 + 3 * MIN, &res);
    c = claim_cmd(ja, 2);
    expect_reject_at(f, &c, T0 + 3 * MIN, DR_ECONFLICT,
                     "region us-east runs 1 copies already");
}

static void test_verify_copy(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    struct fsm_cmd c;
    const struct fsm_copy *cp;
    struct fsm_repl_want w[4];

    c = verified_cmd(id, "us-east", true, "");
    expect_reject(f, &c, DR_ENOTFOUND, "has no copy in region us-east");
    copy_to_us(f, id, T0 + 2 * MIN);
    c = verified_cmd(id, "us-east", false,
                     "object backups/x: SHA-256 mismatch");
    assert_int_equal(fsm_cmd_version(&c), 3);
    expect_ok(f, &c, T0 + 3 * MIN);
    cp = fsm_copy_get(fsm_backup_get(f, id), "us-east");
    assert_int_equal(cp->state, FSM_COPY_FAILED);
    assert_int_equal(cp->failures, 1);
    assert_false(fsm_backup_safe(f, fsm_backup_get(f, id)));
    /* The origin's copy is untouched and is what readers get. */
    assert_string_equal(
        fsm_copy_pick(f, fsm_backup_get(f, id), "us-east", NULL)->region,
        "eu-west");
    /* Copied again from a good copy once retry_s passed (default 60 s). */
    assert_int_equal(fsm_replication_wanted(f, T0 + 3 * MIN + 59000, w, 4), 0);
    assert_int_equal(fsm_replication_wanted(f, T0 + 4 * MIN, w, 4), 1);
    copy_to_us(f, id, T0 + 4 * MIN);
    c = verified_cmd(id, "us-east", true, "");
    expect_ok(f, &c, T0 + 5 * MIN);
    cp = fsm_copy_get(fsm_backup_get(f, id), "us-east");
    assert_int_equal(cp->state, FSM_COPY_VERIFIED);
    assert_int_equal(cp->verified_ms, T0 + 5 * MIN);
    /* Without a region: the origin's copy (and the old backup-level
     * fields), version 2 as before. */
    c = verified_cmd(id, NULL, true, "");
    assert_int_equal(fsm_cmd_version(&c), 1);
    expect_ok(f, &c, T0 + 6 * MIN);
    assert_int_equal(
        fsm_copy_get(fsm_backup_get(f, id), "eu-west")->verified_ms,
        T0 + 6 * MIN);
}

static void test_delete_every_copy(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    char saved[96];
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t del_eu = 0, del_us = 0, rep;
    const struct fsm_backup *b;

    snprintf(saved, sizeof(saved), "%s", id);
    copy_to_us(f, saved, T0 + 2 * MIN);
    /* A second copy job (after a failed verification) still running. */
    c = verified_cmd(saved, "us-east", false, "bad");
    expect_ok(f, &c, T0 + 3 * MIN);
    c = replicate_cmd(saved, "us-east");
    rep = apply_ok(f, &c, T0 + 5 * MIN, &res);
    c = claim_cmd(rep, 2);
    apply_ok(f, &c, T0 + 5 * MIN, &res);

    c = (struct fsm_cmd){.type = FSM_CMD_BACKUP_DELETE, .actor = "admin"};
    c.u.backup_id = saved;
    apply_ok(f, &c, T0 + 5 * MIN + 10000, &res);
    b = fsm_backup_get(f, saved);
    assert_int_equal(b->state, FSM_BACKUP_DELETING);
    assert_int_equal(b->copies[0].state, FSM_COPY_DELETING);
    assert_int_equal(b->copies[1].state, FSM_COPY_DELETING);
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_DELETE) {
            if (strcmp(j->region, "eu-west") == 0) {
                del_eu = j->id;
                assert_string_equal(j->store, "s3://dr-eu");
            } else {
                del_us = j->id;
                assert_string_equal(j->store, "file:///srv/dr");
            }
        }
    }
    assert_int_not_equal(del_eu, 0);
    assert_int_not_equal(del_us, 0);
    assert_int_equal(res.job_id, del_eu);
    /* us-east's delete waits for the copy still writing there. */
    assert_int_equal(fsm_job_waits_for(f, fsm_job_get(f, del_us))->id, rep);
    assert_null(fsm_job_waits_for(f, fsm_job_get(f, del_eu)));
    /* That copy's finish no longer makes it verified. */
    c = finish_cmd(rep, 2, 1);
    apply_ok(f, &c, T0 + 5 * MIN + 20000, &res);
    assert_int_equal(fsm_copy_get(fsm_backup_get(f, saved), "us-east")->state,
                     FSM_COPY_DELETING);
    /* One region done: the backup stays until the last copy is gone. */
    c = claim_cmd(del_eu, 1);
    apply_ok(f, &c, T0 + 7 * MIN, &res);
    c = finish_cmd(del_eu, 1, 1);
    apply_ok(f, &c, T0 + 7 * MIN + 1, &res);
    b = fsm_backup_get(f, saved);
    assert_non_null(b);
    assert_int_equal(b->n_copies, 1);
    assert_string_equal(b->copies[0].region, "us-east");
    c = claim_cmd(del_us, 2);
    apply_ok(f, &c, T0 + 8 * MIN, &res);
    c = finish_cmd(del_us, 2, 1);
    apply_ok(f, &c, T0 + 8 * MIN + 1, &res);
    assert_null(fsm_backup_get(f, saved));
}

static void test_delete_calls_off_pending_copies(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    char saved[96];
    struct fsm_result res;
    struct fsm_cmd c = replicate_cmd(id, "us-east");
    uint64_t rep;

    snprintf(saved, sizeof(saved), "%s", id);
    rep = apply_ok(f, &c, T0 + 2 * MIN, &res);
    c = (struct fsm_cmd){.type = FSM_CMD_BACKUP_DELETE, .actor = "admin"};
    c.u.backup_id = saved;
    apply_ok(f, &c, T0 + 3 * MIN, &res);
    assert_int_equal(fsm_job_get(f, rep)->state, FSM_JOB_FAILED);
    assert_string_equal(fsm_job_get(f, rep)->error, "backup deleted");
}

static void test_retention_keeps_newest_restorable(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd c = setting_int_cmd("backup.retention_recent_h", 0);
    const char *victims[8];
    char old[96], mid[96];
    uint64_t day = 24 * 3600000ull, now;
    size_t n;

    expect_ok(f, &c, T0);
    c = setting_int_cmd("backup.retention_daily", 1);
    expect_ok(f, &c, T0);
    /* Day 1: old, copied to us-east. Day 2: mid, copied. Day 3: new, not
     * copied yet. Retention (one daily) would keep only the newest: but
     * mid is the newest safe backup and the newest in us-east. */
    snprintf(old, sizeof(old), "%s",
             take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + day));
    copy_to_us(f, old, T0 + day + MIN);
    snprintf(mid, sizeof(mid), "%s",
             take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + 2 * day));
    copy_to_us(f, mid, T0 + 2 * day + MIN);
    take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + 3 * day);
    now = T0 + 3 * day + 2 * MIN;
    n = fsm_retention_victims(f, now, victims, 8);
    assert_int_equal(n, 1);
    assert_string_equal(victims[0], old);
}

/* Snapshots carry copies; one written before copies (none) decodes into
 * the origin's copy. */
static void test_snapshot_copies(void **state)
{
    struct fsm *f = *state;
    const char *id = take_backup(f, FSM_BACKUP_PG_LOGICAL, T0 + MIN);
    struct fsm_backup *b;
    struct fsm back;
    struct snap s;
    char err[256];
    const struct fsm_backup *d;

    copy_to_us(f, id, T0 + 2 * MIN);
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err), DR_OK);
    d = fsm_backup_get(&back, id);
    assert_int_equal(d->n_copies, 2);
    assert_string_equal(d->copies[1].region, "us-east");
    assert_int_equal(d->copies[1].state, FSM_COPY_VERIFIED);
    assert_string_equal(d->copies[1].source_region, "eu-west");
    assert_int_equal(d->copies[1].copy_ms, 250);
    snap_check(&s, &back);
    fsm_close(&back);

    /* A copy in a state no node writes is refused, naming the backup. */
    b = (struct fsm_backup *)fsm_backup_get(f, id);
    b->copies[1].state = 9;
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err),
                     DR_EMALFORMED);
    assert_non_null(strstr(err, "malformed copy of backup"));
    assert_non_null(strstr(err, id));
    free(s.base);
    b->copies[1].state = FSM_COPY_VERIFIED;

    /* As an old node wrote it: no copies, a failed verification. */
    b = (struct fsm_backup *)fsm_backup_get(f, id);
    for (size_t i = 0; i < b->n_copies; i++) {
        free(b->copies[i].region);
        free(b->copies[i].store);
        free(b->copies[i].prefix);
        free(b->copies[i].source_region);
        free(b->copies[i].error);
    }
    free(b->copies);
    b->copies = NULL;
    b->n_copies = 0;
    b->verified_ms = T0 + 3 * MIN;
    b->verify_ok = false;
    free(b->verify_error);
    b->verify_error = strdup("object x: missing");
    s = snap_take(f);
    assert_int_equal(codec_snapshot_decode(s.base, s.len, &back, err), DR_OK);
    free(s.base);
    d = fsm_backup_get(&back, id);
    assert_int_equal(d->n_copies, 1);
    assert_string_equal(d->copies[0].region, "eu-west");
    assert_string_equal(d->copies[0].store, "s3://dr-eu");
    assert_string_equal(d->copies[0].prefix, d->prefix);
    assert_int_equal(d->copies[0].state, FSM_COPY_FAILED);
    assert_string_equal(d->copies[0].error, "object x: missing");
    fsm_close(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOOTED(test_origin_copy_and_policy),
        BOOTED(test_targets),
        BOOTED(test_replicate_lifecycle),
        BOOTED(test_replicate_rejections),
        BOOTED(test_replicate_failure_retry_cleanup),
        BOOTED(test_max_concurrent),
        BOOTED(test_verify_copy),
        BOOTED(test_delete_every_copy),
        BOOTED(test_delete_calls_off_pending_copies),
        BOOTED(test_retention_keeps_newest_restorable),
        BOOTED(test_snapshot_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
