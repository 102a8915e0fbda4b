/* Unit tests of the backup catalog and job table in the pure FSM: leases,
 * attempts, back-off, cleanup of failed attempts, deletion, the schedule
 * and retention, and their encoding. */
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

#define SHA FSM_TEST_SHA
#define LEASE 30000
#define HOUR 3600000ull
#define DAY (24 * HOUR)

static struct fsm_cmd create_cmd(int kind, const char *region)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "test"};
    c.u.job.kind = FSM_JOB_BACKUP;
    c.u.job.backup_kind = kind;
    c.u.job.region = region;
    return c;
}

static struct fsm_cmd renew_cmd(uint64_t job, uint64_t node, uint32_t attempt)
{
    struct fsm_cmd c = claim_cmd(job, node);
    c.type = FSM_CMD_JOB_RENEW;
    c.u.job.attempt = attempt;
    return c;
}

static struct fsm_cmd finish_ok_cmd(uint64_t job,
                                    uint64_t node,
                                    uint32_t attempt)
{
    struct fsm_cmd c = finish_base_cmd(job, node, attempt);
    c.u.job.backup.stored_bytes = 1234;
    c.u.job.backup.raw_bytes = 99999;
    c.u.job.backup.snapshot_ms = 1500;
    c.u.job.backup.detail = "{\"tables\":3}";
    return c;
}

static struct fsm_cmd finish_fail_cmd(uint64_t job,
                                      uint64_t node,
                                      uint32_t attempt,
                                      const char *error)
{
    struct fsm_cmd c = finish_ok_cmd(job, node, attempt);
    c.u.job.ok = false;
    c.u.job.error = error;
    return c;
}

static struct fsm_cmd expire_cmd(uint64_t job, uint32_t attempt)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_EXPIRE, .actor = "leader"};
    c.u.job.job_id = job;
    c.u.job.attempt = attempt;
    return c;
}

static struct fsm_cmd delete_cmd(const char *id)
{
    struct fsm_cmd c = {.type = FSM_CMD_BACKUP_DELETE, .actor = "admin"};
    c.u.backup_id = id;
    return c;
}

/* Create, claim and finish a backup of kind at now; returns its id. */
static const char *take_backup(struct fsm *f, int kind, uint64_t now)
{
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(kind, NULL);
    uint64_t job = apply_ok(f, &c, now, &res);

    c = claim_cmd(job, 1);
    apply_ok(f, &c, now, &res);
    c = finish_ok_cmd(job, 1, res.attempt);
    apply_ok(f, &c, now + 10, &res);
    return fsm_job_get(f, job)->backup_id;
}

static void test_create_claim_finish(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    const struct fsm_job *j;
    const struct fsm_backup *b;

    assert_int_equal(apply_ok(f, &c, 90061000, &res), 1);
    j = fsm_job_get(f, 1);
    assert_non_null(j);
    assert_int_equal(j->state, FSM_JOB_PENDING);
    assert_string_equal(j->region, "eu-west"); /* the primary */
    assert_string_equal(j->store, "s3://dr-eu");
    /* 90061 s after the epoch: 1970-01-02 01:01:01 UTC. */
    assert_string_equal(j->backup_id, "pg-19700102T010101Z-1");
    assert_string_equal(audit_last(f)->action, "backup-scheduled");

    c = claim_cmd(1, 1);
    apply_ok(f, &c, 90062000, &res);
    assert_int_equal(res.attempt, 1);
    assert_int_equal(res.lease_expires_ms, 90062000 + LEASE);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->state, FSM_JOB_RUNNING);
    assert_int_equal(j->owner, 1);
    assert_string_equal(j->prefix, "backups/pg-19700102T010101Z-1/1");

    c = renew_cmd(1, 1, 1);
    apply_ok(f, &c, 90070000, &res);
    assert_int_equal(res.lease_expires_ms, 90070000 + LEASE);

    assert_null(fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, "eu-west"));
    c = finish_ok_cmd(1, 1, 1);
    apply_ok(f, &c, 90080000, &res);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->state, FSM_JOB_DONE);
    assert_int_equal(j->owner, 0);
    b = fsm_backup_get(f, "pg-19700102T010101Z-1");
    assert_non_null(b);
    assert_ptr_equal(b, fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, "eu-west"));
    assert_int_equal(b->kind, FSM_BACKUP_PG_LOGICAL);
    assert_string_equal(b->origin_region, "eu-west");
    assert_string_equal(b->prefix, "backups/pg-19700102T010101Z-1/1");
    assert_string_equal(b->manifest_sha256, SHA);
    assert_int_equal(b->created_ms, 90080000);
    assert_int_equal(b->snapshot_ms, 1500);
    assert_int_equal(b->stored_bytes, 1234);
    assert_int_equal(b->job_id, 1);
    assert_int_equal(b->state, FSM_BACKUP_COMPLETE);
    assert_string_equal(audit_last(f)->action, "backup-complete");
    /* A late second finish of the same attempt changes nothing. */
    expect_reject_at(f, &c, 90080001, DR_ECONFLICT, "is done, not running");
}

static void test_create_rejections(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_REDIS, "ap-south");

    expect_reject(f, &c, DR_ECONFLICT, "region ap-south has no object store");
    c = create_cmd(FSM_BACKUP_REDIS, "mars");
    expect_reject(f, &c, DR_ENOTFOUND, "region mars does not exist");
    c = create_cmd(7, NULL);
    expect_reject(f, &c, DR_EINVAL, "unknown backup kind 7");
    c = create_cmd(FSM_BACKUP_REDIS, NULL);
    c.u.job.kind = FSM_JOB_DELETE;
    expect_reject(f, &c, DR_EINVAL,
                  "only backup, replicate, wal_stream and wal_scan jobs");
    c = create_cmd(FSM_BACKUP_REDIS, NULL);
    apply_ok(f, &c, T0 + 1, &res);
    /* Another kind, or another region with a store, is fine. */
    c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    apply_ok(f, &c, T0 + 2, &res);
    c = create_cmd(FSM_BACKUP_REDIS, "us-east");
    apply_ok(f, &c, T0 + 3, &res);
    assert_int_equal(f->n_jobs, 3);
}

/* Asking for a backup while one of its kind is pending joins that job
 * (nothing changes); while one runs, one follow-up is queued, which waits
 * for it before any node may claim it, and is joined in turn. */
static void test_create_joins_or_follows(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_REDIS, NULL);
    uint64_t first, follow;
    size_t n;

    first = apply_ok(f, &c, T0 + 1, &res);
    assert_false(res.joined);
    n = f->n_jobs;
    assert_int_equal(apply_ok(f, &c, T0 + 2, &res), first);
    assert_true(res.joined);
    assert_int_equal(f->n_jobs, n);

    c = claim_cmd(first, 1);
    apply_ok(f, &c, T0 + 3, &res);
    c = create_cmd(FSM_BACKUP_REDIS, NULL);
    follow = apply_ok(f, &c, T0 + 4, &res);
    assert_false(res.joined);
    assert_int_not_equal(follow, first);
    assert_int_equal(apply_ok(f, &c, T0 + 5, &res), follow);
    assert_true(res.joined);
    assert_int_equal(fsm_job_waits_for(f, fsm_job_get(f, follow))->id, first);

    c = claim_cmd(follow, 1);
    expect_reject(f, &c, DR_ECONFLICT, "runs after job 1 (backup of");
    c = finish_ok_cmd(first, 1, 1);
    apply_ok(f, &c, T0 + 6, &res);
    assert_null(fsm_job_waits_for(f, fsm_job_get(f, follow)));
    c = claim_cmd(follow, 1);
    apply_ok(f, &c, T0 + 7, &res);
}

static void test_claim_rejections(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);

    apply_ok(f, &c, T0 + 1, &res);
    c = claim_cmd(1, 2);
    expect_reject(f, &c, DR_ECONFLICT,
                  "job 1 runs in region eu-west; node 2 is in us-east");
    c = claim_cmd(1, 9);
    expect_reject(f, &c, DR_ENOTFOUND, "node 9 is not a member");
    c = claim_cmd(5, 1);
    expect_reject(f, &c, DR_ENOTFOUND, "job 5 does not exist");
    c = claim_cmd(1, 1);
    c.u.job.lease_ms = 10;
    expect_reject(f, &c, DR_EINVAL, "lease_ms must be 1000 to 3600000");
    c = claim_cmd(1, 1);
    apply_ok(f, &c, T0 + 2, &res);
    /* Two nodes racing for a job: the second loses. */
    expect_reject(f, &c, DR_ECONFLICT, "job 1 is running, not pending");
}

static void test_lease_rules(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    uint64_t t = 10 * HOUR;

    apply_ok(f, &c, t, &res);
    c = claim_cmd(1, 1);
    apply_ok(f, &c, t, &res);
    c = renew_cmd(1, 1, 2);
    expect_reject_at(f, &c, t + 1, DR_ECONFLICT,
                     "job 1: lease lost (attempt 1 is held by node 1)");
    c = renew_cmd(1, 3, 1);
    expect_reject_at(f, &c, t + 1, DR_ECONFLICT, "lease lost");
    c = finish_ok_cmd(1, 1, 1);
    c.u.job.backup.manifest_sha256 = "XYZ";
    expect_reject_at(f, &c, t + 1, DR_EINVAL, "64 lowercase hex digits");
    c = finish_ok_cmd(1, 1, 1);
    c.u.job.backup.manifest_key = "../etc/passwd";
    expect_reject_at(f, &c, t + 1, DR_EINVAL, "relative object key");
    c = finish_fail_cmd(1, 1, 1, "");
    expect_reject_at(f, &c, t + 1, DR_EINVAL, "a failed job needs an error");
    /* Expiry only once the lease has passed, at the command's time. */
    c = expire_cmd(1, 1);
    expect_reject_at(f, &c, t + LEASE, DR_ECONFLICT, "still valid");
    /* A worker whose lease ran out can neither renew nor finish. */
    c = renew_cmd(1, 1, 1);
    expect_reject_at(f, &c, t + LEASE + 1, DR_ECONFLICT,
                     "lease of attempt 1 expired 1 ms ago");
    c = finish_ok_cmd(1, 1, 1);
    expect_reject_at(f, &c, t + LEASE + 1, DR_ECONFLICT, "expired");
    assert_null(fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, "eu-west"));
}

/* The stale worker: node 1 holds attempt 1 and stops (paused, cut off);
 * its lease runs out, the leader expires it, node 2 claims attempt 2. When
 * node 1 comes back, its late renew and finish (success or failure) and a
 * deposed leader's late expire of attempt 1 are refused with "lease lost"
 * (or "not running") and change nothing: no backup is committed from an
 * attempt the cluster no longer counts on. Node 2's own commands still
 * work, and each half of the holder check (node, attempt) is needed. */
static void test_stale_worker_after_reclaim(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    const struct fsm_job *j;
    uint64_t t = 10 * HOUR;
    uint64_t back = t + LEASE + 1 + 5000; /* expiry plus the back-off */

    apply_ok(f, &c, t, &res);
    c = member_put_cmd(member(4, "eu-west", "10.1.0.2:7000", "10.1.0.2:8000"));
    apply_ok(f, &c, t, &res);
    c = claim_cmd(1, 1);
    apply_ok(f, &c, t, &res);
    assert_int_equal(res.attempt, 1);
    c = expire_cmd(1, 1);
    apply_ok(f, &c, t + LEASE + 1, &res);
    c = claim_cmd(1, 4);
    apply_ok(f, &c, back, &res);
    assert_int_equal(res.attempt, 2);

    /* Node 1 resumes: everything it sends for attempt 1 is refused. */
    c = finish_ok_cmd(1, 1, 1);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT,
                     "job 1: lease lost (attempt 2 is held by node 4)");
    c = finish_fail_cmd(1, 1, 1, "interrupted");
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT, "lease lost");
    c = renew_cmd(1, 1, 1);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT,
                     "job 1: lease lost (attempt 2 is held by node 4)");
    /* The right attempt from the wrong node, the wrong attempt from the
     * right node: both halves of the holder are checked. */
    c = finish_ok_cmd(1, 1, 2);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT, "lease lost");
    c = renew_cmd(1, 1, 2);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT, "lease lost");
    c = finish_ok_cmd(1, 4, 1);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT, "lease lost");
    c = renew_cmd(1, 4, 1);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT, "lease lost");
    /* A deposed leader's late expiry of attempt 1, even once attempt 2's
     * lease has run out too, does not touch attempt 2. */
    c = expire_cmd(1, 1);
    expect_reject_at(f, &c, back + 10, DR_ECONFLICT,
                     "job 1 attempt 1 is not running");
    expect_reject_at(f, &c, back + 2 * LEASE, DR_ECONFLICT,
                     "job 1 attempt 1 is not running");
    assert_int_equal(f->n_backups, 0);

    /* The holder of attempt 2 renews and finishes; the backup is its. */
    c = renew_cmd(1, 4, 2);
    apply_ok(f, &c, back + 20, &res);
    c = finish_ok_cmd(1, 4, 2);
    apply_ok(f, &c, back + 30, &res);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->state, FSM_JOB_DONE);
    assert_int_equal(f->n_backups, 1);
    assert_string_equal(
        fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, "eu-west")->manifest_key,
        "backups/x/1/manifest.pb");
    /* After the finish, node 1's attempt is refused as not running. */
    c = finish_ok_cmd(1, 1, 1);
    expect_reject_at(f, &c, back + 40, DR_ECONFLICT, "is done, not running");
    c = expire_cmd(1, 2);
    expect_reject_at(f, &c, back + 2 * LEASE, DR_ECONFLICT,
                     "job 1 attempt 2 is not running");
}

static void test_expiry_retries_with_backoff_and_cleanup(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    const struct fsm_job *j, *clean;
    uint64_t t = 10 * HOUR;

    apply_ok(f, &c, t, &res);
    c = claim_cmd(1, 1);
    apply_ok(f, &c, t, &res);
    c = expire_cmd(1, 1);
    apply_ok(f, &c, t + LEASE + 1, &res);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->state, FSM_JOB_PENDING);
    assert_int_equal(j->owner, 0);
    assert_int_equal(j->not_before_ms, t + LEASE + 1 + 5000);
    assert_string_equal(j->error,
                        "lease expired: node 1 stopped renewing attempt 1");
    /* The attempt's objects get a cleanup job in the same region. */
    clean = fsm_job_get(f, 2);
    assert_non_null(clean);
    assert_int_equal(clean->kind, FSM_JOB_CLEANUP);
    assert_string_equal(clean->prefix, fsm_job_get(f, 1)->prefix);
    assert_string_equal(clean->region, "eu-west");
    assert_int_equal(clean->state, FSM_JOB_PENDING);

    c = claim_cmd(1, 1);
    expect_reject_at(f, &c, t + LEASE + 2, DR_ECONFLICT,
                     "job 1 backs off for another 4999 ms");
    apply_ok(f, &c, t + LEASE + 1 + 5000, &res);
    assert_int_equal(res.attempt, 2);
    j = fsm_job_get(f, 1);
    assert_string_equal(j->prefix, "backups/pg-19700101T100000Z-1/2");
    /* The second failure doubles the back-off. */
    c = finish_fail_cmd(1, 1, 2, "COPY public.t: connection reset");
    apply_ok(f, &c, t + 40000, &res);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->not_before_ms, t + 40000 + 10000);
    assert_string_equal(j->error, "COPY public.t: connection reset");
    assert_int_equal(f->n_jobs, 3); /* a second cleanup job */
    /* The cleanup job finishing touches no backup. */
    c = claim_cmd(2, 1);
    apply_ok(f, &c, t + 40001, &res);
    c = finish_ok_cmd(2, 1, 1);
    apply_ok(f, &c, t + 40002, &res);
    assert_int_equal(fsm_job_get(f, 2)->state, FSM_JOB_DONE);
    assert_int_equal(f->n_backups, 0);
    /* Third attempt fails: no attempts left (jobs.max_attempts = 3). */
    c = claim_cmd(1, 1);
    apply_ok(f, &c, t + 60000, &res);
    c = finish_fail_cmd(1, 1, 3, "disk full");
    apply_ok(f, &c, t + 60001, &res);
    j = fsm_job_get(f, 1);
    assert_int_equal(j->state, FSM_JOB_FAILED);
    assert_string_equal(j->error, "disk full");
    assert_non_null(strstr(audit_last(f)->detail, "no attempts left"));
    c = claim_cmd(1, 1);
    expect_reject_at(f, &c, t + 70000, DR_ECONFLICT, "is failed");
    /* A failed job no longer blocks a new backup of that kind. */
    c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    apply_ok(f, &c, t + 70000, &res);
}

static void test_delete_and_verified(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    const char *id = take_backup(f, FSM_BACKUP_REDIS, T0 + 100);
    char saved[64];
    struct fsm_cmd c;
    const struct fsm_job *j;

    snprintf(saved, sizeof(saved), "%s", id);
    c = (struct fsm_cmd){.type = FSM_CMD_BACKUP_VERIFIED, .actor = "drctl"};
    c.u.verified.id = saved;
    c.u.verified.ok = false;
    c.u.verified.error = "object backups/x/1/data.0: SHA-256 mismatch";
    apply_ok(f, &c, T0 + 200, &res);
    assert_int_equal(fsm_backup_get(f, saved)->verified_ms, T0 + 200);
    assert_false(fsm_backup_get(f, saved)->verify_ok);
    assert_string_equal(fsm_backup_get(f, saved)->verify_error,
                        "object backups/x/1/data.0: SHA-256 mismatch");
    c.u.verified.ok = true;
    apply_ok(f, &c, T0 + 300, &res);
    assert_true(fsm_backup_get(f, saved)->verify_ok);
    assert_string_equal(fsm_backup_get(f, saved)->verify_error, "");

    c = delete_cmd("nope");
    expect_reject(f, &c, DR_ENOTFOUND, "backup nope does not exist");
    c = delete_cmd(saved);
    apply_ok(f, &c, T0 + 400, &res);
    assert_int_equal(fsm_backup_get(f, saved)->state, FSM_BACKUP_DELETING);
    /* Never restored once marked, and not deleted twice. */
    assert_null(fsm_backup_latest(f, FSM_BACKUP_REDIS, "eu-west"));
    expect_reject(f, &c, DR_ECONFLICT, "is being deleted");
    j = fsm_job_get(f, res.job_id);
    assert_int_equal(j->kind, FSM_JOB_DELETE);
    assert_string_equal(j->prefix, fsm_backup_get(f, saved)->prefix);
    c = claim_cmd(j->id, 1);
    apply_ok(f, &c, T0 + 500, &res);
    c = finish_ok_cmd(j->id, 1, 1);
    apply_ok(f, &c, T0 + 600, &res);
    assert_null(fsm_backup_get(f, saved));
    assert_string_equal(audit_last(f)->action, "backup-deleted");
}

static void test_schedule(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t t = 5 * HOUR;

    assert_true(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, t));
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t);
    /* The default interval: 300 s, the seed's PostgreSQL RPO. */
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, t + 299999));
    assert_true(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, t + 300010));
    /* A job pending is not doubled, however late. */
    c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    apply_ok(f, &c, t + 300010, &res);
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, t + 5 * DAY));
    /* Redis has its own interval (60 s). Command time never goes back, so
     * go on from a later time. */
    t += 2 * DAY;
    assert_true(fsm_backup_due(f, FSM_BACKUP_REDIS, t));
    take_backup(f, FSM_BACKUP_REDIS, t);
    assert_false(fsm_backup_due(f, FSM_BACKUP_REDIS, t + 59000));
    assert_true(fsm_backup_due(f, FSM_BACKUP_REDIS, t + 60010));
    /* 0 turns the schedule off. */
    c = setting_int_cmd("backup.redis_interval_s", 0);
    expect_ok(f, &c, t + 1);
    assert_false(fsm_backup_due(f, FSM_BACKUP_REDIS, t + 10 * DAY));
    /* The schedule follows the primary; ap-south has no store. */
    c = primary_cmd("ap-south", "drill");
    expect_ok(f, &c, t + 2);
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_LOGICAL, t + 10 * DAY));
}

/* Base backups: a kind of their own, off until scheduled, new with entry
 * version 5. */
static void test_base_backups(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t t = 5 * HOUR;

    assert_int_equal(fsm_backup_kind_parse("pg_base"), FSM_BACKUP_PG_BASE);
    assert_string_equal(fsm_backup_kind_name(FSM_BACKUP_PG_BASE), "pg_base");
    assert_int_equal(fsm_backup_kind_parse("base"), -1);
    c = create_cmd(FSM_BACKUP_PG_BASE, NULL);
    assert_int_equal(fsm_cmd_version(&c), 5);
    c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    assert_true(fsm_cmd_version(&c) < 5);
    c = setting_int_cmd("backup.pg_base_interval_s", 86400);
    assert_int_equal(fsm_cmd_version(&c), 5);
    /* Not scheduled by default. */
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_BASE, t));
    expect_ok(f, &c, t);
    assert_true(fsm_backup_due(f, FSM_BACKUP_PG_BASE, t + 1));
    take_backup(f, FSM_BACKUP_PG_BASE, t + 1);
    assert_false(fsm_backup_due(f, FSM_BACKUP_PG_BASE, t + 86400000));
    assert_true(fsm_backup_due(f, FSM_BACKUP_PG_BASE, t + 86400020));
    /* Each kind has its own newest backup. */
    assert_non_null(fsm_backup_latest(f, FSM_BACKUP_PG_BASE, "eu-west"));
    assert_null(fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, "eu-west"));
    /* A kind past the last is refused, naming it. */
    c = create_cmd(FSM_BACKUP_KINDS, NULL);
    expect_reject(f, &c, DR_EINVAL, "unknown backup kind 3");
    (void)res;
}

static void test_retention(void **state)
{
    struct fsm *f = *state;
    const char *ids[64], *victims[64];
    char saved[20][64];
    struct fsm_cmd c = setting_int_cmd("backup.retention_daily", 3);
    uint64_t t0 = 100 * DAY;
    size_t n;

    expect_ok(f, &c, T0 + 1);
    /* Two backups a day for six days, then three in the last hours. */
    for (int d = 0; d < 6; d++) {
        for (int k = 0; k < 2; k++) {
            ids[d * 2 + k] =
                take_backup(f, FSM_BACKUP_PG_LOGICAL,
                            t0 + (uint64_t)d * DAY + (uint64_t)k * 6 * HOUR);
            snprintf(saved[d * 2 + k], 64, "%s", ids[d * 2 + k]);
        }
    }
    for (int k = 0; k < 3; k++) {
        ids[12 + k] = take_backup(f, FSM_BACKUP_PG_LOGICAL,
                                  t0 + 6 * DAY + (uint64_t)k * HOUR);
        snprintf(saved[12 + k], 64, "%s", ids[12 + k]);
    }
    /* Now is day 6 + 3h: the last 24 h hold day 5's second backup (6 h
     * into day 5 is 21 h ago? no: 6*DAY+3h - (5*DAY+6h) = 21 h) and the
     * three of day 6. Daily keeps the newest of days 6, 5, 4. */
    n = fsm_retention_victims(f, t0 + 6 * DAY + 3 * HOUR, victims, 64);
    /* Kept: 14, 13, 12 (recent, day 6), 11 (recent, newest of day 5),
     * 10 (day 5's first is not newest of its day: 21+6=27 h old -> victim),
     * 9 (newest of day 4). Victims: 10, 8, 7, 6, 5, 4, 3, 2, 1, 0. */
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        bool kept = false;
        for (int k = 9; k <= 14 && !kept; k++) {
            kept = k != 10 && strcmp(victims[i], saved[k]) == 0;
        }
        assert_false(kept);
    }
    /* The newest backup is never a victim, however old. */
    n = fsm_retention_victims(f, t0 + 400 * DAY, victims, 64);
    assert_int_equal(n, 12); /* 15 - 3 newest days' bests */
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(victims[i], saved[14]);
    }
    /* The output bound is respected. */
    assert_int_equal(fsm_retention_victims(f, t0 + 400 * DAY, victims, 2), 2);
}

/* wal.pitr_window_h keeps the base backups a restore to any point of the
 * window needs: those that ended within it and the newest before it. */
static void test_pitr_window(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    char saved[16][64];
    const char *victims[64];
    struct fsm_cmd c = setting_int_cmd("backup.retention_daily", 1);
    uint64_t t0 = 100 * DAY, now = t0 + 91 * HOUR;
    size_t n;

    expect_ok(f, &c, T0 + 1);
    c = setting_int_cmd("backup.retention_recent_h", 0);
    expect_ok(f, &c, T0 + 1);
    /* A base backup every 6 hours for four days, each ending when taken. */
    for (int k = 0; k < 16; k++) {
        uint64_t at = t0 + (uint64_t)k * 6 * HOUR;
        struct fsm_cmd cc = create_cmd(FSM_BACKUP_PG_BASE, NULL);
        uint64_t job = apply_ok(f, &cc, at, &res);
        cc = claim_cmd(job, 1);
        apply_ok(f, &cc, at, &res);
        cc = finish_ok_cmd(job, 1, res.attempt);
        cc.u.job.backup.snapshot_ms = at + 5;
        apply_ok(f, &cc, at + 10, &res);
        snprintf(saved[k], 64, "%s", fsm_job_get(f, job)->backup_id);
    }
    /* Retention alone keeps the newest (90 h). */
    n = fsm_retention_victims(f, now, victims, 64);
    assert_int_equal(n, 15);
    /* A 24 h window starts at 67 h: the four backups after it and the one
     * of 66 h that replays from there stay; 60 h and older go. */
    c = setting_int_cmd("wal.pitr_window_h", 24);
    assert_int_equal(fsm_cmd_version(&c), 5);
    expect_ok(f, &c, T0 + 2);
    n = fsm_retention_victims(f, now, victims, 64);
    assert_int_equal(n, 11);
    for (size_t i = 0; i < n; i++) {
        for (int k = 11; k < 16; k++) {
            assert_string_not_equal(victims[i], saved[k]);
        }
    }
    /* A window longer than the history keeps all of it. */
    c = setting_int_cmd("wal.pitr_window_h", 1000);
    expect_ok(f, &c, T0 + 3);
    assert_int_equal(fsm_retention_victims(f, now, victims, 64), 0);
    /* Other kinds are not held by it (the FSM's clock only moves on). */
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t0 + 100 * HOUR);
    take_backup(f, FSM_BACKUP_PG_LOGICAL, t0 + 150 * HOUR);
    assert_int_equal(fsm_retention_victims(f, t0 + 200 * HOUR, victims, 64), 1);
}

/* Every catalog command through the codec into two FSMs, and a snapshot of
 * the result: byte-identical states. */
static void test_codec_round_trip(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    struct fsm_cmd cmds[8];
    struct fsm_result res[1];
    struct snap a, b;
    char err[256];
    uint64_t t = 3 * DAY;
    size_t n = 0;

    cmds[n++] = create_cmd(FSM_BACKUP_PG_LOGICAL, "eu-west");
    cmds[n++] = claim_cmd(1, 1);
    cmds[n++] = renew_cmd(1, 1, 1);
    cmds[n++] = finish_fail_cmd(1, 1, 1, "boom");
    cmds[n++] = expire_cmd(1, 1); /* rejected on both: not running */
    cmds[n++] = claim_cmd(1, 1);
    cmds[n++] = finish_ok_cmd(1, 1, 2);
    for (size_t i = 0; i < n; i++) {
        cmd_apply_encoded(f, &cmds[i], t + i * 10000, res);
    }
    assert_int_equal(f->n_backups, 1);
    {
        struct fsm_cmd del = delete_cmd(f->backups[0].id);
        expect_ok(f, &del, t + 100000);
    }
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    assert_int_equal(g.n_jobs, f->n_jobs);
    assert_int_equal(g.job_seq, 3);
    assert_string_equal(g.backups[0].id, f->backups[0].id);
    assert_int_equal(g.backups[0].state, FSM_BACKUP_DELETING);
    fsm_close(&g);
    free(a.base);
    free(b.base);
}

/* The job table forgets the oldest finished jobs, never a live one. */
static void test_job_table_bound(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c;
    uint64_t t = DAY;

    for (int i = 0; i < FSM_JOBS_MAX + 10; i++) {
        take_backup(f, FSM_BACKUP_REDIS, t + (uint64_t)i * 1000);
    }
    assert_int_equal(f->n_jobs, FSM_JOBS_MAX);
    assert_null(fsm_job_get(f, 1));
    assert_non_null(fsm_job_get(f, FSM_JOBS_MAX + 10));
    c = create_cmd(FSM_BACKUP_PG_LOGICAL, NULL);
    apply_ok(f, &c, t + DAY, &res);
    assert_int_equal(res.job_id, FSM_JOBS_MAX + 11);
}

/* A snapshot whose catalog breaks the FSM's rules is refused whole. */
static void test_snapshot_catalog_rejected(void **state)
{
    struct fsm *f = *state;
    struct fsm g;
    char err[256];
    struct
    {
        int what;
        const char *msg;
    } cases[] = {
        {0, "malformed job of backup"}, /* id beyond job_seq */
        {1, "backups out of order or duplicated"},
        {2, "malformed backup"}, /* unknown state */
        {3, "jobs out of order or duplicated"},
        {4, "runs without an attempt"}, /* found by fuzz_codec_snapshot */
        {5, "without copies or origin region"}, /* the same */
    };

    take_backup(f, FSM_BACKUP_PG_LOGICAL, DAY);
    take_backup(f, FSM_BACKUP_REDIS, DAY + 1000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct snap a = snap_take(f);
        Dr__Snapshot *pb = dr__snapshot__unpack(NULL, a.len, a.base);
        uint8_t *bad;
        size_t len, saved_copies = 0;
        char *saved_origin = NULL;

        assert_non_null(pb);
        assert_int_equal(pb->n_backups, 2);
        assert_int_equal(pb->n_jobs, 2);
        switch (cases[i].what) {
            case 0:
                pb->job_seq = 1;
                break;
            case 1: {
                Dr__Backup *t = pb->backups[0];
                pb->backups[0] = pb->backups[1];
                pb->backups[1] = t;
                break;
            }
            case 2:
                pb->backups[1]->state = (Dr__BackupState)7;
                break;
            case 3:
                pb->jobs[1]->id = pb->jobs[0]->id;
                break;
            case 4:
                pb->jobs[1]->state = DR__JOB_STATE__JOB_RUNNING;
                pb->jobs[1]->attempt = 0;
                break;
            case 5:
                saved_copies = pb->backups[1]->n_copies;
                saved_origin = pb->backups[1]->origin_region;
                pb->backups[1]->n_copies = 0;
                pb->backups[1]->origin_region = (char *)"";
                break;
        }
        len = dr__snapshot__get_packed_size(pb);
        bad = malloc(len);
        assert_non_null(bad);
        dr__snapshot__pack(pb, bad);
        assert_int_equal(codec_snapshot_decode(bad, len, &g, err),
                         DR_EMALFORMED);
        assert_non_null(strstr(err, cases[i].msg));
        assert_int_equal(g.n_backups, 0); /* left empty */
        if (cases[i].what == 1) { /* restore the pointers before freeing */
            Dr__Backup *t = pb->backups[0];
            pb->backups[0] = pb->backups[1];
            pb->backups[1] = t;
        }
        if (cases[i].what == 5) {
            pb->backups[1]->n_copies = saved_copies;
            pb->backups[1]->origin_region = saved_origin;
        }
        dr__snapshot__free_unpacked(pb, NULL);
        free(bad);
        free(a.base);
    }
}

static struct fsm_cmd stream_cmd(const char *region)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "scheduler"};
    c.u.job.kind = FSM_JOB_WAL_STREAM;
    c.u.job.region = region;
    return c;
}

/* The WAL stream: one job of the primary region while wal.stream is on,
 * retried for ever with a short back-off, superseded when the primary
 * moves, stopped when wal.stream goes off; carried by snapshots. */
static void test_wal_stream_job(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = stream_cmd(NULL);
    const struct fsm_job *j;
    struct fsm g;
    struct snap a, b;
    char err[256];
    uint64_t t = DAY, id, id2;

    assert_false(fsm_wal_stream_wanted(f));
    assert_false(fsm_wal_stream_slot_wanted(f, "eu-west"));
    expect_reject_at(f, &c, t, DR_ECONFLICT, "wal.stream is off");
    c = setting_bool_cmd("wal.stream", true);
    expect_ok(f, &c, t);
    assert_true(fsm_wal_stream_wanted(f));
    /* The primary's slot is wanted before its job exists; no other's. */
    assert_true(fsm_wal_stream_slot_wanted(f, "eu-west"));
    assert_false(fsm_wal_stream_slot_wanted(f, "us-east"));
    assert_false(fsm_wal_stream_slot_wanted(f, NULL));
    assert_int_equal(fsm_cmd_version(&c), 5);
    c = stream_cmd("us-east");
    expect_reject_at(f, &c, t, DR_ECONFLICT, "primary region (eu-west)");
    c = stream_cmd(NULL);
    assert_int_equal(fsm_cmd_version(&c), 5);
    id = apply_ok(f, &c, t, &res);
    assert_false(fsm_wal_stream_wanted(f));
    assert_ptr_equal(fsm_wal_stream_job(f), fsm_job_get(f, id));
    assert_string_equal(audit_last(f)->action, "wal-stream-scheduled");
    expect_reject_at(f, &c, t, DR_ECONFLICT, "already streams eu-west");

    /* Never given up: twelve failed attempts and it still waits for the
     * next, at most 30 s away. */
    for (uint32_t attempt = 1; attempt <= 12; attempt++) {
        t += 60000;
        c = claim_cmd(id, 1);
        apply_ok(f, &c, t, &res);
        c = finish_base_cmd(id, 1, attempt);
        c.u.job.ok = false;
        c.u.job.error = "replication connection: refused";
        apply_ok(f, &c, t, &res);
        j = fsm_job_get(f, id);
        assert_int_equal(j->state, FSM_JOB_PENDING);
        assert_int_equal(j->not_before_ms,
                         t + (attempt == 1   ? 1000
                              : attempt == 2 ? 2000
                              : attempt <= 5 ? 1000u << (attempt - 1)
                                             : 30000));
    }
    t += 60000;
    c = claim_cmd(id, 1);
    apply_ok(f, &c, t, &res);
    c = expire_cmd(id, res.attempt);
    apply_ok(f, &c, t + 2 * LEASE, &res);
    assert_int_equal(fsm_job_get(f, id)->state, FSM_JOB_PENDING);

    /* The primary moves: the stream of us-east is wanted, and creating it
     * ends eu-west's (pending here: it never runs again). */
    c = primary_cmd("us-east", "test");
    expect_ok(f, &c, t);
    assert_true(fsm_wal_stream_wanted(f));
    /* eu-west's stream still holds its slot until it ends. */
    assert_true(fsm_wal_stream_slot_wanted(f, "eu-west"));
    assert_true(fsm_wal_stream_slot_wanted(f, "us-east"));
    c = stream_cmd(NULL);
    id2 = apply_ok(f, &c, t, &res);
    assert_false(fsm_wal_stream_slot_wanted(f, "eu-west"));
    j = fsm_job_get(f, id);
    assert_int_equal(j->state, FSM_JOB_FAILED);
    assert_string_equal(j->error, "superseded: the primary region is us-east");
    j = fsm_job_get(f, id2);
    assert_string_equal(j->region, "us-east");
    assert_int_equal(j->state, FSM_JOB_PENDING);

    /* Carried by a snapshot. */
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    assert_int_equal(fsm_job_get(&g, id2)->kind, FSM_JOB_WAL_STREAM);
    free(a.base);
    free(b.base);
    fsm_close(&g);

    /* wal.stream off: the running stream is done, its lease refused. */
    c = claim_cmd(id2, 2);
    apply_ok(f, &c, t, &res);
    c = setting_bool_cmd("wal.stream", false);
    expect_ok(f, &c, t + 1);
    j = fsm_job_get(f, id2);
    assert_int_equal(j->state, FSM_JOB_DONE);
    assert_string_equal(j->error, "wal.stream was turned off");
    assert_string_equal(audit_last(f)->action, "wal-stream-stopped");
    c = renew_cmd(id2, 2, 1);
    expect_reject_at(f, &c, t + 2, DR_ECONFLICT, "");
    assert_false(fsm_wal_stream_wanted(f));
    assert_false(fsm_wal_stream_slot_wanted(f, "us-east"));
}

static struct fsm_cmd scan_cmd(const char *region)
{
    struct fsm_cmd c = {.type = FSM_CMD_JOB_CREATE, .actor = "scheduler"};
    c.u.job.kind = FSM_JOB_WAL_SCAN;
    c.u.job.region = region;
    return c;
}

/* A scan's finish: two ranges of one system (timeline 1, then 2 from its
 * switch point, the second ending in a streamed partial). */
static struct fsm_cmd scan_finish_cmd(uint64_t job, uint64_t node)
{
    struct fsm_cmd c = finish_base_cmd(job, node, 1);
    struct fsm_wal_archive *w = &c.u.job.wal;

    w->newest_ms = 3 * DAY - 5000;
    w->files = 9;
    w->gaps = 1;
    w->ranges_total = 3; /* one older range left out by the worker */
    w->ranges[0] =
        (struct fsm_wal_range){0x7a1b, 1, 0x3000000, 0x6000000, 3, 3000, false};
    w->ranges[1] =
        (struct fsm_wal_range){0x7a1b, 2, 0x6000000, 0x7000800, 1, 1000, true};
    w->n_ranges = 2;
    return c;
}

/* The WAL catalog: one scan at a time per region with a store, due again
 * wal.scan_interval_s after the last one was created (failed or not); its
 * finish records the region's ranges (checked: in order, not empty, at
 * most FSM_WAL_RANGES_MAX), replacing the previous scan's; carried by
 * entries and snapshots, with entry version 5. */
static void test_wal_scan_job(void **state)
{
    struct fsm *f = *state;
    struct fsm_result res;
    struct fsm_cmd c = scan_cmd("eu-west");
    const struct fsm_wal_archive *w;
    struct fsm g;
    struct snap a, b;
    char err[256];
    uint64_t t = 3 * DAY, id;

    assert_null(fsm_wal_archive_get(f, "eu-west"));
    assert_true(fsm_wal_scan_due(f, "eu-west", t));
    assert_true(fsm_wal_scan_due(f, "us-east", t));
    assert_false(fsm_wal_scan_due(f, "nowhere", t));
    assert_int_equal(fsm_cmd_version(&c), 5);
    c = scan_cmd("nowhere");
    expect_reject_at(f, &c, t, DR_ENOTFOUND, "region nowhere does not exist");
    c = scan_cmd("eu-west");
    id = apply_ok(f, &c, t, &res);
    assert_string_equal(fsm_job_kind_name(fsm_job_get(f, id)->kind),
                        "wal_scan");
    assert_int_equal(fsm_job_get(f, id)->max_attempts, 1);
    assert_false(fsm_wal_scan_due(f, "eu-west", t + 3600000));
    expect_reject_at(f, &c, t, DR_ECONFLICT, "already reads eu-west's WAL");

    /* Bad results are refused, nothing recorded. */
    c = claim_cmd(id, 1);
    apply_ok(f, &c, t + 1000, &res);
    c = scan_finish_cmd(id, 1);
    c.u.job.wal.ranges[1].timeline = 1; /* overlaps the first */
    c.u.job.wal.ranges[1].start_lsn = 0x5000000;
    expect_reject_at(f, &c, t + 2000, DR_EINVAL, "out of order or overlaps");
    c = scan_finish_cmd(id, 1);
    c.u.job.wal.ranges[0].end_lsn = c.u.job.wal.ranges[0].start_lsn;
    expect_reject_at(f, &c, t + 2000, DR_EINVAL, "at or before its start");
    c = scan_finish_cmd(id, 1);
    c.u.job.wal.ranges[0].timeline = 0;
    expect_reject_at(f, &c, t + 2000, DR_EINVAL, "timeline 0");
    c = scan_finish_cmd(id, 1);
    c.u.job.wal.ranges_total = 1;
    expect_reject_at(f, &c, t + 2000, DR_EINVAL, "below the 2 ranges");
    c = scan_finish_cmd(id, 1);
    c.u.job.wal.n_ranges = FSM_WAL_RANGES_MAX + 1;
    expect_reject_at(f, &c, t + 2000, DR_ELIMIT, "at most 16 WAL ranges");
    assert_null(fsm_wal_archive_get(f, "eu-west"));

    c = scan_finish_cmd(id, 1);
    assert_int_equal(fsm_cmd_version(&c), 5);
    apply_ok(f, &c, t + 2000, &res);
    w = fsm_wal_archive_get(f, "eu-west");
    assert_non_null(w);
    assert_string_equal(w->store, "s3://dr-eu"); /* the job's */
    assert_int_equal(w->scanned_ms, t + 2000);
    assert_int_equal(w->newest_ms, 3 * DAY - 5000);
    assert_int_equal(w->job_id, id);
    assert_int_equal(w->n_ranges, 2);
    assert_int_equal(w->ranges_total, 3);
    assert_int_equal(w->ranges[1].timeline, 2);
    assert_int_equal(w->ranges[1].end_lsn, 0x7000800);
    assert_true(w->ranges[1].streamed);

    /* Due again an interval after the last scan was created. */
    assert_false(fsm_wal_scan_due(f, "eu-west", t + 899999));
    assert_true(fsm_wal_scan_due(f, "eu-west", t + 900000));
    c = setting_int_cmd("wal.scan_interval_s", 0);
    expect_ok(f, &c, t + 3000);
    assert_false(fsm_wal_scan_due(f, "eu-west", t + 9000000));
    c = setting_int_cmd("wal.scan_interval_s", 60);
    expect_ok(f, &c, t + 3000);
    assert_true(fsm_wal_scan_due(f, "eu-west", t + 60000));

    /* Carried by a snapshot. */
    a = snap_take(f);
    assert_int_equal(codec_snapshot_decode(a.base, a.len, &g, err), DR_OK);
    b = snap_take(&g);
    assert_true(snap_same(&a, &b));
    w = fsm_wal_archive_get(&g, "eu-west");
    assert_non_null(w);
    assert_int_equal(w->ranges[0].sysid, 0x7a1b);
    assert_int_equal(w->ranges[0].segments, 3);
    free(a.base);
    free(b.base);
    fsm_close(&g);

    /* A failed scan leaves the last good one, and is due again later. */
    c = scan_cmd("eu-west");
    id = apply_ok(f, &c, t + 60000, &res);
    c = claim_cmd(id, 1);
    apply_ok(f, &c, t + 61000, &res);
    c = finish_fail_cmd(id, 1, 1, "store: connection refused");
    apply_ok(f, &c, t + 62000, &res);
    assert_int_equal(fsm_job_get(f, id)->state, FSM_JOB_FAILED);
    assert_int_equal(fsm_wal_archive_get(f, "eu-west")->scanned_ms, t + 2000);
    assert_false(fsm_wal_scan_due(f, "eu-west", t + 62000));
    assert_true(fsm_wal_scan_due(f, "eu-west", t + 120000));
}

/* Scan region with scan_finish_cmd's ranges, the second one ending at
 * end (0: left out). */
static void scan_region(struct fsm *f,
                        const char *region,
                        uint64_t end,
                        uint64_t t)
{
    struct fsm_result res;
    struct fsm_cmd c = scan_cmd(region);
    uint64_t id = apply_ok(f, &c, t, &res);

    c = claim_cmd(id, region[0] == 'e' ? 1 : 2);
    apply_ok(f, &c, t + 1, &res);
    c = scan_finish_cmd(id, region[0] == 'e' ? 1 : 2);
    c.u.job.wal.ranges_total = end != 0 ? 2 : 1;
    c.u.job.wal.n_ranges = end != 0 ? 2 : 1;
    c.u.job.wal.ranges[1].end_lsn = end;
    apply_ok(f, &c, t + 2, &res);
}

/* How much of the primary's newest timeline a DR region's archive lacks,
 * by the last scans. */
static void test_wal_lag_bytes(void **state)
{
    struct fsm *f = *state;
    uint64_t lag = 1, t = 3 * DAY;

    assert_string_equal(f->site.primary_region, "eu-west");
    assert_false(fsm_wal_lag_bytes(f, "us-east", &lag)); /* no scans */
    assert_int_equal(lag, 0);
    scan_region(f, "us-east", 0x6800000, t);
    assert_false(fsm_wal_lag_bytes(f, "us-east", &lag)); /* nor eu-west's */
    scan_region(f, "eu-west", 0x7000800, t + 10);
    assert_false(fsm_wal_lag_bytes(f, "eu-west", &lag)); /* the primary */
    assert_true(fsm_wal_lag_bytes(f, "us-east", &lag));
    assert_int_equal(lag, 0x7000800 - 0x6800000);
    /* Timeline 2 missing altogether: all of it. */
    scan_region(f, "us-east", 0, t + 20);
    assert_true(fsm_wal_lag_bytes(f, "us-east", &lag));
    assert_int_equal(lag, 0x7000800 - 0x6000000);
    /* Caught up, or ahead (scanned later than the primary). */
    scan_region(f, "us-east", 0x7100000, t + 30);
    assert_true(fsm_wal_lag_bytes(f, "us-east", &lag));
    assert_int_equal(lag, 0);
}

/* What a standby replaying a region's archive can reach: the end of its
 * newest range, by timeline before end. */
static void test_wal_archive_end(void **state)
{
    struct fsm *f = *state;
    uint64_t end = 1, t = 3 * DAY;

    assert_false(fsm_wal_archive_end(f, "us-east", &end)); /* no scan */
    assert_int_equal(end, 0);
    scan_region(f, "us-east", 0x7000800, t);
    assert_true(fsm_wal_archive_end(f, "us-east", &end));
    assert_int_equal(end, 0x7000800);
    assert_false(fsm_wal_archive_end(f, "eu-west", &end));
    /* Timeline 2 gone: timeline 1's end. */
    scan_region(f, "us-east", 0, t + 10);
    assert_true(fsm_wal_archive_end(f, "us-east", &end));
    assert_int_equal(end, 0x6000000);
    assert_false(fsm_wal_archive_end(f, "nowhere", &end));
}

/* Entries carry a scan's ranges byte for byte. */
static void test_wal_scan_codec(void **state)
{
    struct fsm *f = *state;
    struct fsm_cmd cmds[3];
    struct fsm_result res[1];
    const struct fsm_wal_archive *w;
    uint64_t t = 3 * DAY;

    cmds[0] = scan_cmd("eu-west");
    cmds[1] = claim_cmd(1, 1);
    cmds[2] = scan_finish_cmd(1, 1);
    cmds[2].u.job.wal.store = "s3://dr-eu-wal"; /* the node's wal_store */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cmd_apply_encoded(f, &cmds[i], t + i * 1000, res),
                         DR_OK);
        assert_int_equal(res[0].code, DR_OK);
    }
    w = fsm_wal_archive_get(f, "eu-west");
    assert_non_null(w);
    assert_string_equal(w->store, "s3://dr-eu-wal");
    assert_int_equal(w->n_ranges, 2);
    assert_int_equal(w->files, 9);
    assert_int_equal(w->gaps, 1);
    assert_int_equal(w->ranges[0].start_lsn, 0x3000000);
    assert_int_equal(w->ranges[1].bytes, 1000);
    assert_true(w->ranges[1].streamed);
    assert_false(w->ranges[0].streamed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOOTED(test_create_claim_finish),
        BOOTED(test_create_rejections),
        BOOTED(test_create_joins_or_follows),
        BOOTED(test_claim_rejections),
        BOOTED(test_lease_rules),
        BOOTED(test_stale_worker_after_reclaim),
        BOOTED(test_expiry_retries_with_backoff_and_cleanup),
        BOOTED(test_delete_and_verified),
        BOOTED(test_schedule),
        BOOTED(test_base_backups),
        BOOTED(test_retention),
        BOOTED(test_pitr_window),
        BOOTED(test_codec_round_trip),
        BOOTED(test_job_table_bound),
        BOOTED(test_snapshot_catalog_rejected),
        BOOTED(test_wal_stream_job),
        BOOTED(test_wal_scan_job),
        BOOTED(test_wal_lag_bytes),
        BOOTED(test_wal_archive_end),
        BOOTED(test_wal_scan_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
