/* drctl backups, jobs and restore commands. Verification and restores run
 * here, in drctl's own process, against the store the catalog names. */
#include "drctl.h"
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "common/err.h"

#define DRCTL_WAIT_DEFAULT_MS 600000u

/* A time, or "never" for 0. */
const char *drctl_fmt_when(const json_t *v, char *buf, size_t size)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(buf, size, "never");
        return buf;
    }
    return drctl_fmt_time_ms(v, buf, size);
}

/* "us-east:ok eu-west:copying": where a backup's copies are. */
static const char *drctl__fmt_copies(const json_t *v, char *buf, size_t size)
{
    size_t i, len = 0;
    json_t *c;

    buf[0] = '\0';
    json_array_foreach(v, i, c)
    {
        const char *st = json_string_value(json_object_get(c, "state"));
        int n = snprintf(buf + len, size - len, "%s%s:%s", i > 0 ? " " : "",
                         json_string_value(json_object_get(c, "region")),
                         st != NULL && strcmp(st, "verified") == 0 ? "ok"
                         : st                                      ? st
                                                                   : "?");
        if (n < 0 || (size_t)n >= size - len) {
            break;
        }
        len += (size_t)n;
    }
    return buf;
}

static void drctl__backups_table(const json_t *rows)
{
    static const struct drctl_column cols[] = {
        {"ID", "id", drctl_fmt_value, 96},
        {"KIND", "kind", drctl_fmt_value, 32},
        {"REGION", "origin_region", drctl_fmt_value, 64},
        {"STATE", "state", drctl_fmt_value, 16},
        {"CREATED", "created_ms", drctl_fmt_time_ms, 64},
        {"STORED", "stored_bytes", drctl_fmt_value, 32},
        {"RAW", "raw_bytes", drctl_fmt_value, 32},
        {"SAFE", "safe", drctl_fmt_yes_no, 8},
        {"COPIES", "copies", drctl__fmt_copies, 1024},
        {NULL, NULL, NULL, 0},
    };
    drctl_print_objects(rows, cols);
}

static void drctl__copies_table(const json_t *rows)
{
    static const struct drctl_column cols[] = {
        {"REGION", "region", drctl_fmt_value, 64},
        {"STATE", "state", drctl_fmt_value, 16},
        {"VERIFIED", "verified_ms", drctl_fmt_when, 64},
        {"BYTES", "bytes", drctl_fmt_value, 32},
        {"FROM", "source_region", drctl_fmt_value, 64},
        {"STORE", "store", drctl_fmt_value, 300},
        {"ERROR", "error", drctl_fmt_value, 1024},
        {NULL, NULL, NULL, 0},
    };
    drctl_print_objects(rows, cols);
}

static void drctl__print_backups(const json_t *v, const void *arg)
{
    (void)arg;
    drctl__backups_table(json_object_get(v, "backups"));
}

static void drctl__print_fields(const json_t *v, const void *arg)
{
    const char *key;
    json_t *val;
    char buf[1024];

    (void)arg;
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "copies") == 0 && json_is_array(val)) {
            continue; /* a table of their own, below */
        }
        if (strstr(key, "_ms") != NULL && json_is_integer(val)) {
            printf("%-18s %s\n", key, drctl_fmt_when(val, buf, sizeof(buf)));
        } else {
            printf("%-18s %s\n", key, drctl_fmt_value(val, buf, sizeof(buf)));
        }
    }
    if (json_is_array(json_object_get(v, "copies"))) {
        printf("\n");
        drctl__copies_table(json_object_get(v, "copies"));
    }
}

static void drctl__jobs_table(const json_t *rows)
{
    static const struct drctl_column cols[] = {
        {"ID", "id", drctl_fmt_value, 32},
        {"KIND", "kind", drctl_fmt_value, 16},
        {"BACKUP", "backup_id", drctl_fmt_value, 96},
        {"REGION", "region", drctl_fmt_value, 64},
        {"STATE", "state", drctl_fmt_value, 16},
        {"OWNER", "owner", drctl_fmt_value, 24},
        {"ATTEMPT", "attempt", drctl_fmt_value, 8},
        {"UPDATED", "updated_ms", drctl_fmt_time_ms, 64},
        {"ERROR", "error", drctl_fmt_value, 1024},
        {NULL, NULL, NULL, 0},
    };
    drctl_print_objects(rows, cols);
}

static void drctl__print_jobs(const json_t *v, const void *arg)
{
    (void)arg;
    drctl__jobs_table(json_object_get(v, "jobs"));
}

static int drctl__backups_list(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/backups", drctl__print_backups);
}

static int drctl__get_backup(struct drctl *d, const char *id, json_t **out)
{
    char path[512];
    int rv = drctl_path(d, path, sizeof(path), "backups", id);
    return rv != 0 ? rv : drctl_call(d, "GET", path, NULL, out);
}

static int drctl__backups_show(struct drctl *d, int argc, char **argv)
{
    const char *id;
    char path[512];
    int rv = drctl_parse_name(d, argc, argv, NULL, "ID", &id);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    rv = drctl_path(d, path, sizeof(path), "backups", id);
    return rv != 0
               ? rv
               : drctl_show(d, "GET", path, NULL, drctl__print_fields, NULL);
}

void drctl_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

uint64_t drctl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Poll job id until it is done or failed; *job gets its last view. */
static int drctl__wait_job(struct drctl *d,
                           json_int_t id,
                           unsigned wait_ms,
                           json_t **job)
{
    char path[96];
    uint64_t start = drctl_mono_ms(), deadline = start + wait_ms;
    const char *state = "";
    /* A status line while waiting, on a terminal only. */
    bool show = !d->json && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);

    snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)id);
    for (;;) {
        json_t *j = NULL;
        int rv = drctl_call(d, "GET", path, NULL, &j);
        if (rv != 0) {
            if (show) {
                fprintf(stderr, "\r\033[K");
            }
            return rv;
        }
        state = json_string_value(json_object_get(j, "state"));
        if (state != NULL &&
            (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0)) {
            if (show) {
                fprintf(stderr, "\r\033[K");
            }
            *job = j;
            return 0;
        }
        if (show) {
            /* The job runs on a node: its state, where, and how long. */
            json_int_t owner = json_integer_value(json_object_get(j, "owner"));
            json_int_t attempt =
                json_integer_value(json_object_get(j, "attempt"));
            char where[64] = "";
            if (owner > 0) {
                snprintf(where, sizeof(where), " on node %lld (attempt %lld)",
                         (long long)owner, (long long)attempt);
            }
            fprintf(stderr, "\r\033[Kjob %lld: %s%s, %llu s", (long long)id,
                    state ? state : "?", where,
                    (unsigned long long)((drctl_mono_ms() - start) / 1000));
            fflush(stderr);
        }
        json_decref(j);
        if (drctl_mono_ms() >= deadline) {
            if (show) {
                fprintf(stderr, "\r\033[K");
            }
            return drctl_fail(d,
                              "job %lld is still %s after %u s (see drctl "
                              "jobs show %lld)",
                              (long long)id, state ? state : "?",
                              wait_ms / 1000, (long long)id);
        }
        drctl_sleep_ms(300);
    }
}

static int drctl__backups_run(struct drctl *d, int argc, char **argv)
{
    const char *kind = NULL, *region = NULL, *wait = NULL;
    bool no_wait = false;
    const struct drctl_opt opts[] = {
        {"--kind", &kind, NULL}, {"--region", &region, NULL},
        {"--wait", &wait, NULL}, {"--no-wait", NULL, &no_wait},
        {NULL, NULL, NULL},
    };
    unsigned wait_ms = DRCTL_WAIT_DEFAULT_MS;
    json_t *body, *out = NULL, *job = NULL, *backup = NULL;
    const char *state;
    json_int_t id;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (kind == NULL) {
        return drctl_usage_error(d, "--kind pg|redis is required");
    }
    if (strcmp(kind, "pg") != 0 && strcmp(kind, "redis") != 0) {
        return drctl_usage_error(d, "--kind: \"%s\" is not pg or redis", kind);
    }
    if (wait != NULL &&
        (rv = drctl_parse_seconds(d, "--wait", wait, 86400, &wait_ms)) != 0) {
        return rv;
    }
    body = json_pack("{ss}", "kind", kind);
    if (region != NULL) {
        json_object_set_new(body, "region", json_string(region));
    }
    rv = drctl_call(d, "POST", "/api/backups", body, &out);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    id = json_integer_value(json_object_get(json_object_get(out, "job"), "id"));
    if (no_wait) {
        if (d->json) {
            drctl_print_json(out);
        } else {
            printf("job %lld scheduled\n", (long long)id);
        }
        json_decref(out);
        return 0;
    }
    json_decref(out);
    rv = drctl__wait_job(d, id, wait_ms, &job);
    if (rv != 0) {
        return rv;
    }
    state = json_string_value(json_object_get(job, "state"));
    if (strcmp(state, "failed") == 0) {
        rv = drctl_fail(
            d, "job %lld failed after %lld attempts: %s", (long long)id,
            (long long)json_integer_value(json_object_get(job, "attempt")),
            json_string_value(json_object_get(job, "error")));
        if (d->json) {
            drctl_print_json(job);
        }
        json_decref(job);
        return rv;
    }
    rv = drctl__get_backup(
        d, json_string_value(json_object_get(job, "backup_id")), &backup);
    json_decref(job);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(backup);
    } else {
        drctl__print_fields(backup, NULL);
    }
    json_decref(backup);
    return 0;
}

static int drctl__backups_delete(struct drctl *d, int argc, char **argv)
{
    const char *id;
    char path[512];
    json_t *out = NULL;
    int rv = drctl_parse_name(d, argc, argv, NULL, "ID", &id);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if ((rv = drctl_path(d, path, sizeof(path), "backups", id)) != 0 ||
        (rv = drctl_call(d, "DELETE", path, NULL, &out)) != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(out);
    } else {
        printf(
            "backup %s marked for deletion (job %lld removes its "
            "objects, then its entry)\n",
            id,
            (long long)json_integer_value(
                json_object_get(json_object_get(out, "job"), "id")));
    }
    json_decref(out);
    return 0;
}

/* The caller's region: the region of the node drctl reaches first (ask
 * before anything else, while no leader has been learned), "" when it
 * cannot be told. */
static void drctl__caller_region(struct drctl *d, char *buf, size_t size)
{
    json_t *st = NULL;

    buf[0] = '\0';
    if (drctl_call(d, "GET", "/api/status", NULL, &st) == 0) {
        const char *r = json_string_value(json_object_get(st, "region"));
        snprintf(buf, size, "%s", r != NULL ? r : "");
    }
    json_decref(st);
}

/* The verified copy of b to read for a caller in region: that region's,
 * else the origin's, else the first verified one; says which on stderr
 * when it is not the caller's. With strict, only region's own copy will do
 * (in any state). NULL when none fits. Borrowed from b. */
static const json_t *drctl__pick_copy(struct drctl *d,
                                      const json_t *b,
                                      const char *region,
                                      bool strict)
{
    const json_t *copies = json_object_get(b, "copies"), *c, *pick = NULL;
    const char *origin = json_string_value(json_object_get(b, "origin_region"));
    const char *why = NULL;
    size_t i;

    json_array_foreach(copies, i, c)
    {
        const char *cr = json_string_value(json_object_get(c, "region"));
        const char *cs = json_string_value(json_object_get(c, "state"));
        bool ok = cs != NULL && strcmp(cs, "verified") == 0;
        if (region != NULL && cr != NULL && strcmp(cr, region) == 0 &&
            (ok || strict)) {
            return c;
        }
        if (strict || !ok) {
            continue;
        }
        if (pick == NULL || (origin != NULL && strcmp(cr, origin) == 0)) {
            pick = c;
            why = origin != NULL && strcmp(cr, origin) == 0 ? "the origin's"
                                                            : "a verified";
        }
    }
    if (pick != NULL) {
        drctl_note(
            d, "using %s copy in %s (%s has no verified copy)", why,
            json_string_value(json_object_get(pick, "region")),
            region != NULL && region[0] != '\0' ? region : "this region");
    }
    return pick;
}

/* A job spec for backup b (borrowed) read from copy (borrowed; NULL: the
 * origin's store): op, store, manifest. */
static json_t *drctl__spec(const json_t *b,
                           const json_t *copy,
                           const char *op,
                           const char *credentials)
{
    json_t *spec =
        json_pack("{ss sO sO sO}", "op", op, "store",
                  json_object_get(copy != NULL ? copy : b, "store"),
                  "manifest_key", json_object_get(b, "manifest_key"),
                  "manifest_sha256", json_object_get(b, "manifest_sha256"));
    if (credentials != NULL) {
        json_object_set_new(spec, "credentials_file", json_string(credentials));
    }
    return spec;
}

static bool drctl__is_pg(const json_t *b)
{
    const char *kind = json_string_value(json_object_get(b, "kind"));
    return kind != NULL && strcmp(kind, "pg_logical") == 0;
}

/* Run one job here, showing progress on a terminal (what: "restore ID";
 * passes: how often it reads the backup's objects, 0 when unknown); print
 * its failure. *result may be NULL. */
static int drctl__run_job(struct drctl *d,
                          json_t *spec,
                          const json_t *b,
                          const char *what,
                          unsigned passes,
                          json_t **result,
                          char *errmsg)
{
    char title[160];
    int rv;
    *result = NULL;
    errmsg[0] = '\0';
    snprintf(title, sizeof(title), "%s %s", what,
             json_string_value(json_object_get(b, "id")) != NULL
                 ? json_string_value(json_object_get(b, "id"))
                 : "");
    drctl_progress_start(!d->json, title,
                         passes * (uint64_t)json_integer_value(
                                      json_object_get(b, "stored_bytes")));
    rv = job_run(spec, result, errmsg);
    drctl_progress_stop();
    json_decref(spec);
    if (rv != 0) {
        drctl_warn(d, "%s", errmsg);
    }
    return rv;
}

static int drctl__backups_verify(struct drctl *d, int argc, char **argv)
{
    const char *credentials = getenv("DRCTL_STORE_CREDENTIALS");
    const char *restore_to = NULL, *id, *region = NULL, *copy_region;
    const struct drctl_opt opts[] = {
        {"--restore-to", &restore_to, NULL},
        {"--credentials", &credentials, NULL},
        {"--region", &region, NULL},
        {NULL, NULL, NULL},
    };
    json_t *b = NULL, *spec, *result = NULL, *report, *body;
    const json_t *copy;
    char here[128];
    char errmsg[256], path[600];
    bool pg;
    int rv = drctl_parse_name(d, argc, argv, opts, "ID", &id);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (region == NULL) {
        drctl__caller_region(d, here, sizeof(here));
    }
    if ((rv = drctl__get_backup(d, id, &b)) != 0) {
        return rv;
    }
    pg = drctl__is_pg(b);
    /* One region's copy is checked: the one asked for, else the copy this
     * node's region would restore from. */
    copy =
        drctl__pick_copy(d, b, region != NULL ? region : here, region != NULL);
    if (copy == NULL) {
        rv = region != NULL
                 ? drctl_fail(d, "backup %s has no copy in region %s", id,
                              region)
                 : drctl_fail(d, "backup %s has no verified copy to check", id);
        json_decref(b);
        return rv;
    }
    copy_region = json_string_value(json_object_get(copy, "region"));
    report = json_object();
    json_object_set_new(report, "backup", json_string(id));
    json_object_set_new(report, "region", json_string(copy_region));
    if (restore_to != NULL) {
        spec = drctl__spec(b, copy, pg ? "pg_restore" : "redis_restore",
                           credentials);
        json_object_set_new(spec, pg ? "pg" : "redis", json_string(restore_to));
        /* Every object is checked before the restore reads it again. */
        rv = drctl__run_job(d, spec, b, "restore", 2, &result, errmsg);
        json_object_set_new(report, "restore", result ? result : json_null());
        result = NULL;
    }
    if (rv == 0) {
        spec = drctl__spec(b, copy, pg ? "pg_verify" : "redis_verify",
                           credentials);
        if (restore_to != NULL) {
            json_object_set_new(spec, pg ? "pg" : "redis",
                                json_string(restore_to));
        }
        rv = drctl__run_job(d, spec, b, "verify", restore_to != NULL ? 0 : 1,
                            &result, errmsg);
        json_object_set_new(report, "verify", result ? result : json_null());
    }
    json_object_set_new(report, "ok", json_boolean(rv == 0));
    if (rv != 0) {
        json_object_set_new(report, "error", json_string(errmsg));
    }
    /* The outcome goes into the catalog, so the whole cluster sees it. */
    body = json_pack("{sb ss}", "ok", rv == 0, "region", copy_region);
    if (rv != 0) {
        json_object_set_new(body, "error", json_string(errmsg));
    }
    snprintf(path, sizeof(path), "/api/backups/%s/verified", id);
    if (drctl_call(d, "POST", path, body, NULL) != 0) {
        drctl_warn(d, "the result could not be recorded in the catalog");
    }
    json_decref(body);
    if (d->json) {
        drctl_print_json(report);
    } else if (rv == 0) {
        printf(
            "backup %s verified in %s: every object's SHA-256 "
            "matches%s\n",
            id, copy_region,
            restore_to ? "; restored contents match the manifest" : "");
    } else {
        printf("backup %s FAILED verification in %s: %s\n", id, copy_region,
               errmsg);
    }
    json_decref(report);
    json_decref(b);
    return rv == 0 ? 0 : DRCTL_EXIT_FAIL;
}

static int drctl__backups_jobs(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/jobs", drctl__print_jobs);
}

int drctl_cmd_backups(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"list", drctl__backups_list},
        {"show", drctl__backups_show},
        {"run", drctl__backups_run},
        {"delete", drctl__backups_delete},
        {"verify", drctl__backups_verify},
        {"jobs", drctl__backups_jobs},
        {NULL, NULL},
    };
    return drctl_dispatch(d, argc, argv, subs);
}

/* The newest complete backup of kind ("pg_logical", "redis_snapshot"), or
 * NULL; from list (borrowed), which is newest first. */
static const json_t *drctl__latest(const json_t *list, const char *kind)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(list, "backups"), i, b)
    {
        if (strcmp(json_string_value(json_object_get(b, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(b, "state")),
                   "complete") == 0) {
            return b;
        }
    }
    return NULL;
}

/* target_key: the job spec's field the target goes in ("pg", "redis" or
 * "rdb_file"). */
static int drctl__restore_one(struct drctl *d,
                              const json_t *b,
                              const char *target_key,
                              const char *target,
                              bool clean,
                              const char *credentials,
                              const char *region,
                              json_t *report)
{
    bool pg = drctl__is_pg(b);
    const json_t *copy = drctl__pick_copy(d, b, region, false);
    json_t *spec, *result = NULL, *one;
    char errmsg[256];
    uint64_t t0 = drctl_mono_ms();
    int rv;

    if (copy == NULL) {
        return drctl_fail(d, "backup %s has no verified copy to restore",
                          json_string_value(json_object_get(b, "id")));
    }
    spec =
        drctl__spec(b, copy, pg ? "pg_restore" : "redis_restore", credentials);
    json_object_set_new(spec, target_key, json_string(target));
    json_object_set_new(spec, "clean", json_boolean(clean));
    rv = drctl__run_job(d, spec, b, "restore", 2, &result, errmsg);
    one = json_pack("{sO sb si}", "id", json_object_get(b, "id"), "ok", rv == 0,
                    "duration_ms", (int)(drctl_mono_ms() - t0));
    json_object_set_new(one, "snapshot_ms",
                        json_deep_copy(json_object_get(b, "snapshot_ms")));
    json_object_set(one, "copy_region", json_object_get(copy, "region"));
    if (result != NULL) {
        json_object_set_new(one, "result", result);
    }
    if (rv != 0) {
        json_object_set_new(one, "error", json_string(errmsg));
    }
    json_object_set_new(report, pg ? "pg" : "redis", one);
    return rv;
}

int drctl_cmd_restore(struct drctl *d, int argc, char **argv)
{
    const char *credentials = getenv("DRCTL_STORE_CREDENTIALS");
    const char *id = NULL, *pg = NULL, *redis = NULL, *region = NULL;
    const char *rdb_file = NULL, *redis_key = "redis";
    bool clean = false;
    const struct drctl_opt opts[] = {
        {"--backup", &id, NULL},
        {"--region", &region, NULL},
        {"--pg", &pg, NULL},
        {"--redis", &redis, NULL},
        {"--redis-rdb-file", &rdb_file, NULL},
        {"--clean", NULL, &clean},
        {"--credentials", &credentials, NULL},
        {NULL, NULL, NULL},
    };
    json_t *list = NULL, *report, *b = NULL;
    const json_t *pick;
    char here[128];
    int rv = drctl_parse_opts(d, argc, argv, opts), failed = 0;

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (id == NULL) {
        return drctl_usage_error(d, "--backup ID|latest is required");
    }
    if (redis != NULL && rdb_file != NULL) {
        return drctl_usage_error(d,
                                 "--redis and --redis-rdb-file: give one "
                                 "Redis target");
    }
    if (rdb_file != NULL) { /* an RDB for a server about to start */
        redis = rdb_file;
        redis_key = "rdb_file";
    }
    if (pg == NULL && redis == NULL) {
        return drctl_usage_error(d,
                                 "give a target: --pg CONNINFO and/or "
                                 "--redis HOST:PORT (or --redis-rdb-file "
                                 "PATH)");
    }
    if (region == NULL) {
        drctl__caller_region(d, here, sizeof(here));
        region = here;
    }
    report = json_object();
    if (strcmp(id, "latest") == 0) {
        if ((rv = drctl_call(d, "GET", "/api/backups", NULL, &list)) != 0) {
            json_decref(report);
            return rv;
        }
        if (pg != NULL) {
            pick = drctl__latest(list, "pg_logical");
            if (pick == NULL) {
                failed = drctl_fail(d,
                                    "no complete PostgreSQL backup in the "
                                    "catalog");
            } else {
                failed |= drctl__restore_one(d, pick, "pg", pg, clean,
                                             credentials, region, report) != 0;
            }
        }
        if (redis != NULL && !failed) {
            pick = drctl__latest(list, "redis_snapshot");
            if (pick == NULL) {
                failed = drctl_fail(d,
                                    "no complete Redis backup in the "
                                    "catalog");
            } else {
                failed |= drctl__restore_one(d, pick, redis_key, redis, clean,
                                             credentials, region, report) != 0;
            }
        }
        json_decref(list);
    } else {
        if ((rv = drctl__get_backup(d, id, &b)) != 0) {
            json_decref(report);
            return rv;
        }
        if (strcmp(json_string_value(json_object_get(b, "state")),
                   "complete") != 0) {
            failed = drctl_fail(d, "backup %s is being deleted", id);
        } else if (drctl__is_pg(b) ? pg == NULL : redis == NULL) {
            failed = drctl_usage_error(
                d, "backup %s is a %s backup: give %s", id,
                json_string_value(json_object_get(b, "kind")),
                drctl__is_pg(b) ? "--pg CONNINFO" : "--redis HOST:PORT");
            json_decref(b);
            json_decref(report);
            return failed;
        } else {
            failed =
                drctl__restore_one(d, b, drctl__is_pg(b) ? "pg" : redis_key,
                                   drctl__is_pg(b) ? pg : redis, clean,
                                   credentials, region, report) != 0;
        }
        json_decref(b);
    }
    json_object_set_new(report, "ok", json_boolean(!failed));
    if (d->json) {
        drctl_print_json(report);
    } else if (!failed) {
        const char *key;
        json_t *v;
        json_object_foreach(report, key, v)
        {
            if (json_is_object(v)) {
                printf("restored %s backup %s in %lld ms\n", key,
                       json_string_value(json_object_get(v, "id")),
                       (long long)json_integer_value(
                           json_object_get(v, "duration_ms")));
            }
        }
    }
    json_decref(report);
    return failed ? DRCTL_EXIT_FAIL : 0;
}

int drctl_cmd_jobs(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"list", drctl__backups_jobs},
        {NULL, NULL},
    };
    return drctl_dispatch(d, argc, argv, subs);
}
