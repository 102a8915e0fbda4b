/* The failover runbook's work in the DR region, in one job child:
 *
 *   failover_restore {"epoch", "region", "pg"?: PART, "redis"?: PART,
 *                     "pg_server"?: CONNINFO, "redis_server"?: HOST:PORT,
 *                     "pg_standby"?: CONNINFO, "max_standby_lag_s"?,
 *                     "redis_password_file"?, "redis_method"?, "parallel"?,
 *                     "activate"?: COMMAND,
 *                     "from_step"?: "restore"|"verify"|"activate",
 *                     "planned"?: bool (a switchover: never promote),
 *                     "pg_promoted"?: bool (from verify: the standby was)}
 *                    PART = {"backup_id", "store", "credentials_file"?,
 *                    "manifest_key", "manifest_sha256", "snapshot_ms"?}
 *                 -> {"ok", "error"?, "restore_ms", "verify_ms",
 *                     "activate_ms", "pg_path": "promote"|"restore",
 *                     "restore_point_ms"? (promoted: its last commit),
 *                     "standby"?: {"in_recovery", "lag_s",
 *                     "replayed_to_ms", "promoted", "why_not"?,
 *                     "promote_ms"?}, "pg"?: {"backup_id", "restore",
 *                     "verify"}, "redis"?: {...},
 *                     "resumed_at"?: "verify"|"activate"}
 *
 * With a standby (pg_standby) fit to take over (see try_standby), it is
 * promoted and checked writable instead of restoring the PostgreSQL
 * backup: the time to take over no longer grows with the database. Else
 * the backup is restored as before, into pg_server.
 *
 * restore: each backup into this region's live database (clean: what was
 * there goes); verify: the contents against the manifest (rows and digest
 * per table, Redis digests); activate: the [hooks] activate command with
 * DR_EPOCH and DR_REGION, only when every check passed. A check that fails
 * is a finding ("ok": false, the runbook blocks with it); a server, store
 * or hook that fails is a job error (retried).
 *
 * Restore and verify are each committed by the cluster before the next
 * step starts (job_progress: the node renews the job's lease with the
 * phase and answers once the runbook moved on); a new attempt starts at
 * "from_step", so a restore committed is never run again for the epoch
 * (it would wipe what the DR site wrote since). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "common/err.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool finding(int rv)
{
    return rv == DR_ECORRUPT || rv == DR_EMALFORMED || rv == DR_ENOTFOUND ||
           rv == DR_EVERSION;
}

/* The sub-spec of an op on PART with the target server. */
static json_t *sub_spec(const json_t *part,
                        const char *key,
                        const char *server,
                        const json_t *spec)
{
    json_t *s = json_object();
    const json_t *pw = json_object_get(spec, "redis_password_file");

    json_object_set(s, "store", json_object_get(part, "store"));
    if (json_is_string(json_object_get(part, "credentials_file"))) {
        json_object_set(s, "credentials_file",
                        json_object_get(part, "credentials_file"));
    }
    json_object_set(s, "manifest_key", json_object_get(part, "manifest_key"));
    json_object_set(s, "manifest_sha256",
                    json_object_get(part, "manifest_sha256"));
    json_object_set_new(s, key, json_string(server));
    if (strcmp(key, "redis") == 0 && json_is_string(pw)) {
        json_object_set(s, "redis_password_file", (json_t *)pw);
    }
    if (strcmp(key, "redis") == 0 &&
        json_is_string(json_object_get(spec, "redis_method"))) {
        json_object_set(s, "method", json_object_get(spec, "redis_method"));
    }
    if (strcmp(key, "pg") == 0 && json_object_get(spec, "parallel") != NULL) {
        json_object_set(s, "parallel", json_object_get(spec, "parallel"));
    }
    return s;
}

/* Restore (verify false) or verify one part. *ok false with why on a
 * finding. */
static int one_part(const json_t *spec,
                    const char *name,
                    bool verify,
                    json_t *report,
                    int64_t *ms,
                    bool *ok,
                    char *why,
                    char *errmsg)
{
    const json_t *part = json_object_get(spec, name);
    bool pg = strcmp(name, "pg") == 0;
    const char *server = json_string_value(
        json_object_get(spec, pg ? "pg_server" : "redis_server"));
    json_t *s, *res = NULL, *o;
    char err[256] = "";
    int64_t t0;
    int rv;

    if (part == NULL || json_is_null(part)) {
        return 0;
    }
    if (!json_is_object(part) ||
        !json_is_string(json_object_get(part, "backup_id"))) {
        snprintf(errmsg, 256, "\"%s\" must be an object with backup_id", name);
        return DR_EINVAL;
    }
    if (server == NULL) {
        snprintf(errmsg, 256,
                 "this node has no %s to restore into ([services] %s)",
                 pg ? "PostgreSQL" : "Redis", pg ? "pg" : "redis");
        return DR_EINVAL;
    }
    o = json_object_get(report, name);
    if (o == NULL) {
        o = json_pack("{sO}", "backup_id", json_object_get(part, "backup_id"));
        json_object_set_new(report, name, o);
    }
    s = sub_spec(part, pg ? "pg" : "redis", server, spec);
    if (!verify) {
        json_object_set_new(s, "clean", json_true());
    }
    t0 = mono_ms();
    if (verify) {
        rv = pg ? pgjob_verify(s, &res, err) : redisjob_verify(s, &res, err);
    } else {
        rv = pg ? pgjob_restore(s, &res, err) : redisjob_restore(s, &res, err);
    }
    *ms += mono_ms() - t0;
    json_object_set_new(o, verify ? "verify" : "restore",
                        res != NULL ? res : json_null());
    json_decref(s);
    if (finding(rv)) {
        *ok = false;
        snprintf(why, 600, "%s%s: %.500s", name, verify ? "" : " restore", err);
        return 0;
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%s %s: %.220s", name,
                 verify ? "verify" : "restore", err);
    }
    return rv;
}

/* The DR region's standby replaying the archive ("pg_standby"): promoted
 * instead of restoring a backup when it is in recovery and either its
 * replay lag is at most "max_standby_lag_s" or it has replayed past the
 * backup's snapshot (an idle primary makes the lag grow while nothing is
 * missing). *promoted says whether it was; *point_ms is its last replayed
 * commit (the data it brings), 0 when it was not promoted. */
static int try_standby(const json_t *spec,
                       json_t *report,
                       bool *promoted,
                       uint64_t *point_ms,
                       char *errmsg)
{
    const char *conninfo =
        json_string_value(json_object_get(spec, "pg_standby"));
    const char *server = json_string_value(json_object_get(spec, "pg_server"));
    bool same = server != NULL && strcmp(server, conninfo) == 0;
    const json_t *part = json_object_get(spec, "pg");
    json_int_t max_lag =
        json_integer_value(json_object_get(spec, "max_standby_lag_s"));
    json_int_t backup_ms = json_integer_value(
        json_object_get(json_is_object(part) ? part : NULL, "snapshot_ms"));
    json_t *o = json_object();
    PGconn *c = NULL;
    PGresult *res = NULL;
    char err[256], why[300] = "";
    long long lag = -1, at_ms = 0;
    bool in_recovery = false, have_backup = json_is_object(part);
    int64_t t0 = mono_ms();
    int rv;

    *promoted = false;
    *point_ms = 0;
    json_object_set_new(report, "standby", o);
    rv = pgj_connect(conninfo, NULL, "standby", &c, err);
    if (rv == 0) {
        rv = pgj_query(c,
                       "SELECT pg_is_in_recovery(), COALESCE(floor(extract("
                       "epoch FROM now() - pg_last_xact_replay_timestamp()))"
                       "::bigint, -1), COALESCE(floor(extract(epoch FROM "
                       "pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)",
                       0, NULL, &res, err);
    }
    if (rv == 0) {
        in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        lag = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        at_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        PQclear(res);
        json_object_set_new(o, "in_recovery", json_boolean(in_recovery));
        json_object_set_new(o, "lag_s", json_integer(lag));
        json_object_set_new(o, "replayed_to_ms", json_integer(at_ms));
    }
    if (rv != 0) {
        snprintf(why, sizeof(why), "unreachable: %.250s", err);
    } else if (in_recovery && have_backup &&
               json_is_true(json_object_get(spec, "planned"))) {
        /* The final backup holds every commit; the standby has only what
         * reached its region's archive. */
        snprintf(why, sizeof(why),
                 "a switchover restores its final backup (RPO 0); the "
                 "standby may lack the last commits");
    } else if (!in_recovery) {
        snprintf(why, sizeof(why),
                 "not in recovery: not a standby (or promoted already)");
    } else if (!(lag >= 0 && lag <= max_lag) &&
               !(have_backup && at_ms > 0 && at_ms >= backup_ms)) {
        if (lag < 0) {
            snprintf(why, sizeof(why),
                     "has replayed no commit since it started: its lag is "
                     "unknown");
        } else {
            snprintf(why, sizeof(why),
                     "%lld s behind (failover.max_standby_lag_s %lld) and "
                     "older than the backup",
                     lag, (long long)max_lag);
        }
        if (!have_backup) {
            why[0] = '\0'; /* no backup to do better with: promote it */
        }
    }
    if (why[0] != '\0') {
        json_object_set_new(o, "why_not", json_string(why));
    }
    if (why[0] != '\0' && !(same && rv == 0 && in_recovery)) {
        json_object_set_new(o, "promoted", json_false());
        PQfinish(c);
        return 0; /* the backup is restored instead */
    }
    /* A stale standby that is also pg_server is promoted all the same: the
     * backup is restored over it, and a server in recovery takes no
     * writes. */
    rv = pgj_query(c, "SELECT pg_promote(true, 60)", 0, NULL, &res, err);
    if (rv == 0) {
        bool done = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!done) {
            snprintf(err, sizeof(err), "pg_promote did not finish within 60 s");
            rv = DR_ETIMEOUT;
        }
    }
    /* Writable now: a primary, not a standby that says it promoted. */
    if (rv == 0) {
        rv = pgj_exec(c,
                      "CREATE TEMP TABLE drnode_promote_check (i int); "
                      "DROP TABLE drnode_promote_check",
                      err);
    }
    /* The promotion replays what the archive got since the check above
     * (the stream's last flush among it); the last commit replayed stays
     * readable once recovery ended: what the RPO counts from. */
    if (rv == 0 &&
        pgj_query(c,
                  "SELECT COALESCE(floor(extract(epoch FROM "
                  "pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)",
                  0, NULL, &res, err) == 0) {
        long long after = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (after > at_ms) {
            at_ms = after;
            json_object_set_new(o, "replayed_to_ms", json_integer(at_ms));
        }
    }
    PQfinish(c);
    if (rv != 0) {
        snprintf(errmsg, 256, "promote the standby: %.220s", err);
        return rv;
    }
    json_object_set_new(o, "promoted", json_true());
    json_object_set_new(o, "promote_ms", json_integer(mono_ms() - t0));
    if (why[0] != '\0') {
        return 0; /* promoted to take the restore */
    }
    *promoted = true;
    *point_ms = at_ms > 0 ? (uint64_t)at_ms : 0;
    return 0;
}

/* The activate hook: /bin/sh -c CMD with DR_EPOCH and DR_REGION. */
static int activate(const char *cmd,
                    json_int_t epoch,
                    const char *region,
                    char *errmsg)
{
    char e1[64], e2[128];
    pid_t pid;
    int status;

    snprintf(e1, sizeof(e1), "%lld", (long long)epoch);
    snprintf(e2, sizeof(e2), "%s", region != NULL ? region : "");
    pid = fork();
    if (pid < 0) {
        snprintf(errmsg, 256, "activate hook: fork failed");
        return DR_EIO;
    }
    if (pid == 0) {
        /* What the hook prints goes to the node's log: stdout carries the
         * job's result. */
        dup2(2, 1);
        setenv("DR_EPOCH", e1, 1);
        setenv("DR_REGION", e2, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(errmsg, 256, "activate hook exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128);
        return DR_EIO;
    }
    return 0;
}

/* The step the spec starts at: a new attempt after the worker committed
 * restore (and verify) starts after them (agent/jobkinds.c). */
enum { FROM_RESTORE, FROM_VERIFY, FROM_ACTIVATE };

static int start_step(const json_t *spec, char *errmsg)
{
    const char *from = json_string_value(json_object_get(spec, "from_step"));

    if (json_object_get(spec, "from_step") == NULL) {
        return FROM_RESTORE;
    }
    if (from != NULL && strcmp(from, "restore") == 0) {
        return FROM_RESTORE;
    }
    if (from != NULL && strcmp(from, "verify") == 0) {
        return FROM_VERIFY;
    }
    if (from != NULL && strcmp(from, "activate") == 0) {
        return FROM_ACTIVATE;
    }
    snprintf(errmsg, 256,
             "\"from_step\" must be \"restore\", \"verify\" or \"activate\"");
    return -1;
}

/* Restore: the standby promoted, or the PostgreSQL backup restored, then
 * the Redis backup. */
static int restore_parts(const json_t *spec,
                         json_t *report,
                         int64_t *ms,
                         bool *promoted,
                         bool *ok,
                         char *why,
                         char *errmsg)
{
    uint64_t point_ms = 0;
    int64_t t0;
    int rv = 0;

    if (json_is_string(json_object_get(spec, "pg_standby"))) {
        t0 = mono_ms();
        rv = try_standby(spec, report, promoted, &point_ms, errmsg);
        *ms += mono_ms() - t0;
        if (rv != 0) {
            return rv;
        }
    }
    if (!*promoted && json_object_get(spec, "pg") == NULL &&
        json_object_get(spec, "redis") == NULL) {
        const char *why_not = json_string_value(
            json_object_get(json_object_get(report, "standby"), "why_not"));
        snprintf(errmsg, 256,
                 "the standby cannot take over (%.150s) and there is no "
                 "backup to restore",
                 why_not != NULL ? why_not : "promoted only to restore");
        return DR_EUNAVAILABLE;
    }
    json_object_set_new(report, "pg_path",
                        json_string(*promoted ? "promote" : "restore"));
    if (*promoted) {
        /* What the runbook's RPO counts from: the standby's last commit
         * (the Redis part's snapshot is the FSM's to weigh). */
        json_object_set_new(report, "restore_point_ms",
                            json_integer((json_int_t)point_ms));
    } else {
        rv = one_part(spec, "pg", false, report, ms, ok, why, errmsg);
    }
    if (rv == 0 && *ok) {
        rv = one_part(spec, "redis", false, report, ms, ok, why, errmsg);
    }
    return rv;
}

/* Tell the node a step is done and wait until the cluster committed it
 * (job_progress); the restore's report goes with it. */
static int step_done(const char *phase, const json_t *report, char *errmsg)
{
    json_t *fields = json_object();
    int rv;

    if (strcmp(phase, "restore") == 0) {
        json_object_set_new(fields, "report", json_deep_copy(report));
        if (json_object_get(report, "restore_point_ms") != NULL) {
            json_object_set(fields, "restore_point_ms",
                            json_object_get(report, "restore_point_ms"));
        }
    }
    rv = job_progress(phase, fields, errmsg);
    json_decref(fields);
    return rv;
}

int failoverjob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    json_t *report = json_object();
    int64_t restore_ms = 0, verify_ms = 0, activate_ms = 0, t0;
    const char *cmd = json_string_value(json_object_get(spec, "activate"));
    int from = start_step(spec, errmsg);
    bool ok = true,
         promoted = json_is_true(json_object_get(spec, "pg_promoted"));
    char why[600] = "";
    int rv = 0;

    *result = NULL;
    if (from < 0) {
        json_decref(report);
        return DR_EINVAL;
    }
    if (json_object_get(spec, "pg") == NULL &&
        json_object_get(spec, "redis") == NULL &&
        !json_is_string(json_object_get(spec, "pg_standby"))) {
        snprintf(errmsg, 256,
                 "nothing to restore: neither \"pg\" nor \"redis\"");
        json_decref(report);
        return DR_EINVAL;
    }
    if (from > FROM_RESTORE) {
        /* An earlier attempt's steps are committed: never again. */
        json_object_set_new(
            report, "resumed_at",
            json_string(from == FROM_VERIFY ? "verify" : "activate"));
    }
    if (from == FROM_RESTORE) {
        rv = restore_parts(spec, report, &restore_ms, &promoted, &ok, why,
                           errmsg);
        if (rv == 0 && ok) {
            rv = step_done("restore", report, errmsg);
        }
    }
    if (rv == 0 && ok && from <= FROM_VERIFY) {
        if (!promoted) {
            rv = one_part(spec, "pg", true, report, &verify_ms, &ok, why,
                          errmsg);
        }
        if (rv == 0 && ok) {
            rv = one_part(spec, "redis", true, report, &verify_ms, &ok, why,
                          errmsg);
        }
        if (rv == 0 && ok) {
            rv = step_done("verify", report, errmsg);
        }
    }
    if (rv == 0 && ok && cmd != NULL && cmd[0] != '\0') {
        t0 = mono_ms();
        rv = activate(cmd, json_integer_value(json_object_get(spec, "epoch")),
                      json_string_value(json_object_get(spec, "region")),
                      errmsg);
        activate_ms = mono_ms() - t0;
        json_object_set_new(report, "activated", json_boolean(rv == 0));
    }
    json_object_set_new(report, "ok", json_boolean(rv == 0 && ok));
    if (!ok) {
        json_object_set_new(report, "error", json_string(why));
    }
    json_object_set_new(report, "restore_ms", json_integer(restore_ms));
    json_object_set_new(report, "verify_ms", json_integer(verify_ms));
    json_object_set_new(report, "activate_ms", json_integer(activate_ms));
    json_object_set_new(report, "rto_ms",
                        json_integer(restore_ms + verify_ms + activate_ms));
    *result = report;
    return rv;
}
