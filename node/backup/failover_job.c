/* The failover runbook's work in the DR region, in one job child:
 *
 *   failover_restore {"epoch", "region", "pg"?: PART, "redis"?: PART,
 *                     "pg_server"?: CONNINFO, "redis_server"?: HOST:PORT,
 *                     "redis_password_file"?, "redis_method"?, "parallel"?,
 *                     "activate"?: COMMAND}
 *                    PART = {"backup_id", "store", "credentials_file"?,
 *                    "manifest_key", "manifest_sha256"}
 *                 -> {"ok", "error"?, "restore_ms", "verify_ms",
 *                     "activate_ms", "pg"?: {"backup_id", "restore",
 *                     "verify"}, "redis"?: {...}}
 *
 * restore: each backup into this region's live database (clean: what was
 * there goes); verify: the contents against the manifest (rows and digest
 * per table, Redis digests); activate: the [hooks] activate command with
 * DR_EPOCH and DR_REGION, only when every check passed. A check that fails
 * is a finding ("ok": false, the runbook blocks with it); a server, store
 * or hook that fails is a job error (retried). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
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

/* Restore then verify one part. *ok false with why on a finding. */
static int one_part(const json_t *spec,
                    const char *name,
                    json_t *report,
                    int64_t *restore_ms,
                    int64_t *verify_ms,
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
    o = json_pack("{sO}", "backup_id", json_object_get(part, "backup_id"));
    json_object_set_new(report, name, o);
    s = sub_spec(part, pg ? "pg" : "redis", server, spec);
    json_object_set_new(s, "clean", json_true());
    t0 = mono_ms();
    rv = pg ? pgjob_restore(s, &res, err) : redisjob_restore(s, &res, err);
    *restore_ms += mono_ms() - t0;
    json_object_set_new(o, "restore", res != NULL ? res : json_null());
    json_decref(s);
    res = NULL;
    if (finding(rv)) {
        *ok = false;
        snprintf(why, 600, "%s restore: %.500s", name, err);
        return 0;
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%s restore: %.220s", name, err);
        return rv;
    }
    s = sub_spec(part, pg ? "pg" : "redis", server, spec);
    t0 = mono_ms();
    rv = pg ? pgjob_verify(s, &res, err) : redisjob_verify(s, &res, err);
    *verify_ms += mono_ms() - t0;
    json_object_set_new(o, "verify", res != NULL ? res : json_null());
    json_decref(s);
    if (finding(rv)) {
        *ok = false;
        snprintf(why, 600, "%s: %.500s", name, err);
        return 0;
    }
    if (rv != 0) {
        snprintf(errmsg, 256, "%s verify: %.220s", name, err);
    }
    return rv;
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

int failoverjob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    json_t *report = json_object();
    int64_t restore_ms = 0, verify_ms = 0, activate_ms = 0, t0;
    const char *cmd = json_string_value(json_object_get(spec, "activate"));
    bool ok = true;
    char why[600] = "";
    int rv;

    *result = NULL;
    if (json_object_get(spec, "pg") == NULL &&
        json_object_get(spec, "redis") == NULL) {
        snprintf(errmsg, 256,
                 "nothing to restore: neither \"pg\" nor \"redis\"");
        json_decref(report);
        return DR_EINVAL;
    }
    rv =
        one_part(spec, "pg", report, &restore_ms, &verify_ms, &ok, why, errmsg);
    if (rv == 0 && ok) {
        rv = one_part(spec, "redis", report, &restore_ms, &verify_ms, &ok, why,
                      errmsg);
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
