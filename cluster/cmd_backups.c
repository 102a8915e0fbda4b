/* drctl backups, jobs and restore commands. Verification and restores run
 * here, in drctl's own process, against the store the catalog names. */
#include "drctl.h"
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/wal.h"
#include "backup/wal_archive.h"
#include "common/err.h"
#include "local.h"

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
        return drctl_usage_error(d, "--kind pg|redis|pg_base is required");
    }
    if (strcmp(kind, "pg") != 0 && strcmp(kind, "redis") != 0 &&
        strcmp(kind, "pg_base") != 0) {
        return drctl_usage_error(
            d, "--kind: \"%s\" is not pg, redis or pg_base", kind);
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
void drctl_caller_region(struct drctl *d, char *buf, size_t size)
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

static bool drctl__is_base(const json_t *b)
{
    const char *kind = json_string_value(json_object_get(b, "kind"));
    return kind != NULL && strcmp(kind, "pg_base") == 0;
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
        drctl_caller_region(d, here, sizeof(here));
    }
    if ((rv = drctl__get_backup(d, id, &b)) != 0) {
        return rv;
    }
    pg = drctl__is_pg(b);
    if (drctl__is_base(b) && restore_to != NULL) {
        json_decref(b);
        return drctl_usage_error(d,
                                 "backup %s is a base backup: restore it with "
                                 "drctl restore --pitr --backup %s --pgdata "
                                 "DIR",
                                 id, id);
    }
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
        spec = drctl__spec(b, copy,
                           drctl__is_base(b) ? "pg_base_verify"
                           : pg              ? "pg_verify"
                                             : "redis_verify",
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

/* "YYYY-MM-DD[T ]HH:MM:SS[.fff](Z|+HH[:MM]|-HH[:MM])" into unix ms; a
 * zone is required (PostgreSQL would read a time without one in the
 * server's zone, whatever that is). */
static int drctl__parse_time(const char *s, int64_t *out)
{
    int y, mo, da, h, mi, se, n = 0, zh = 0, zm = 0;
    int64_t ms = 0, scale = 100;
    struct tm tm;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &da, &n) != 3 ||
        (s[n] != 'T' && s[n] != ' ')) {
        return DR_EINVAL;
    }
    p = s + n + 1;
    n = 0;
    if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &se, &n) != 3) {
        return DR_EINVAL;
    }
    p += n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' && p[1] == '\0') {
        zh = zm = 0;
    } else if ((*p == '+' || *p == '-') &&
               (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &n) == 2 ||
                sscanf(p + 1, "%2d%n", &zh, &n) == 1) &&
               p[1 + n] == '\0') {
        if (*p == '-') {
            zh = -zh;
            zm = -zm;
        }
    } else {
        return DR_EINVAL;
    }
    if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 ||
        se > 60 || zh < -14 || zh > 14) {
        return DR_EINVAL;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = da;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = ((int64_t)timegm(&tm) - zh * 3600 - zm * 60) * 1000 + ms;
    return 0;
}

static void drctl__utc(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* A base backup's stop LSN, from its result in the catalog (0: unknown). */
static uint64_t drctl__stop_lsn(const json_t *b)
{
    const char *detail = json_string_value(json_object_get(b, "detail"));
    json_t *d = detail != NULL ? json_loads(detail, 0, NULL) : NULL;
    uint64_t lsn = 0;

    if (pgbase_lsn_parse(json_string_value(json_object_get(d, "stop_lsn")),
                         &lsn) != 0) {
        lsn = 0;
    }
    json_decref(d);
    return lsn;
}

/* How far a store's clock may lag the database's when the archive's end
 * is judged by upload times. */
#define DRCTL_ARCHIVE_SKEW_MS 30000

/* A target time after the WAL archive's end cannot be reached: PostgreSQL
 * would replay everything, then stop short ("recovery ended before
 * configured recovery target was reached") after the whole unpack. The
 * archive is the first of stores holding the base backup's last segment
 * (as the restore job picks it); its end is its newest file's upload time.
 * Refused before anything is written, with that end; 0 otherwise (also
 * when no store can be read: the job says why). */
static int drctl__target_archived(struct drctl *d,
                                  const json_t *pick,
                                  const char *const *stores,
                                  size_t n_stores,
                                  const char *credentials,
                                  int64_t tms)
{
    const char *detail = json_string_value(json_object_get(pick, "detail"));
    json_t *det = detail != NULL ? json_loads(detail, 0, NULL) : NULL;
    const char *sysid_s =
        json_string_value(json_object_get(det, "system_identifier"));
    json_int_t tli = json_integer_value(json_object_get(det, "timeline"));
    uint64_t stop = drctl__stop_lsn(pick), sysid;
    char seg[25], errmsg[256], when[64], end[64], *e;
    bool ok;
    int rv = 0;

    if (sysid_s == NULL || tli <= 0 || stop == 0) {
        json_decref(det);
        return 0;
    }
    sysid = strtoull(sysid_s, &e, 16);
    ok = sysid_s[0] != '\0' && *e == '\0';
    json_decref(det); /* sysid_s and e point into it */
    if (!ok) {
        return 0;
    }
    wal_segment_name((uint32_t)tli, stop / (16u << 20), 16u << 20, seg);
    for (size_t i = 0; i < n_stores; i++) {
        struct wal_archive_end ae;
        if (wal_archive_end(stores[i], credentials, sysid, seg, &ae, errmsg) !=
                0 ||
            !ae.holds) {
            continue;
        }
        if (ae.newest_ms > 0 && tms > ae.newest_ms + DRCTL_ARCHIVE_SKEW_MS) {
            drctl__utc(tms, when, sizeof(when));
            drctl__utc(ae.newest_ms, end, sizeof(end));
            rv = drctl_fail(d,
                            "target %s is after the end of the WAL archive in "
                            "%s: its newest file (%s) was stored at %s, so "
                            "replay cannot reach the target. Either the "
                            "database wrote nothing since (--target latest "
                            "restores the same data), or the segment in "
                            "progress is not archived yet (archive_timeout, "
                            "wal.stream), or archiving is failing (drctl wal "
                            "status --store %s)",
                            when, stores[i], ae.newest_key, end, stores[i]);
        }
        break;
    }
    return rv;
}

/* drctl restore --pitr: a data directory from the newest base backup
 * before the target, replaying the WAL archive up to it. */
static int drctl__restore_pitr(struct drctl *d, int argc, char **argv)
{
    const char *credentials = getenv("DRCTL_STORE_CREDENTIALS");
    const char *ttime = NULL, *tlsn = NULL, *target = NULL, *pgdata = NULL;
    const char *id = NULL, *region = NULL, *wal_store = NULL;
    const char *wal_config = NULL, *drnode_opt = NULL, *port_s = NULL;
    const char *wait_s = NULL;
    bool pitr = false, start = false, keep_archiving = false, standby = false;
    const struct drctl_opt opts[] = {
        {"--pitr", NULL, &pitr},
        {"--target-time", &ttime, NULL},
        {"--target-lsn", &tlsn, NULL},
        {"--target", &target, NULL},
        {"--pgdata", &pgdata, NULL},
        {"--backup", &id, NULL},
        {"--region", &region, NULL},
        {"--wal-store", &wal_store, NULL},
        {"--wal-config", &wal_config, NULL},
        {"--credentials", &credentials, NULL},
        {"--drnode", &drnode_opt, NULL},
        {"--start", NULL, &start},
        {"--port", &port_s, NULL},
        {"--wait", &wait_s, NULL},
        {"--keep-archiving", NULL, &keep_archiving},
        {"--standby", NULL, &standby},
        {NULL, NULL, NULL},
    };
    json_t *list = NULL, *spec, *result = NULL, *regions = NULL, *r;
    json_t *wal_stores = NULL;
    const json_t *b, *pick = NULL, *oldest = NULL, *copy;
    char here[128], dir[4096], when[64], from[64], now_s[64], errmsg[256];
    char drnode[4096], utc[64];
    int64_t tms = 0, now = (int64_t)time(NULL) * 1000;
    uint64_t lsn = 0;
    long port = 0, wait = 3600;
    size_t i;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if ((ttime != NULL) + (tlsn != NULL) + (target != NULL) + standby != 1) {
        return drctl_usage_error(d,
                                 "give one target: --target-time TIME, "
                                 "--target-lsn LSN or --target latest (or "
                                 "--standby)");
    }
    if (target != NULL && strcmp(target, "latest") != 0) {
        return drctl_usage_error(d, "--target: \"%s\" is not latest", target);
    }
    if (ttime != NULL && drctl__parse_time(ttime, &tms) != 0) {
        return drctl_usage_error(d,
                                 "--target-time: \"%s\" is not a time with a "
                                 "zone (2026-12-06T03:14:00Z, "
                                 "2026-12-06 04:14:00+01:00)",
                                 ttime);
    }
    if (tlsn != NULL && pgbase_lsn_parse(tlsn, &lsn) != 0) {
        return drctl_usage_error(d,
                                 "--target-lsn: \"%s\" is not an LSN (like "
                                 "0/3000060)",
                                 tlsn);
    }
    if (pgdata == NULL) {
        return drctl_usage_error(d, "--pgdata DIR is required");
    }
    if (start != (port_s != NULL)) {
        return drctl_usage_error(d, "--start and --port P go together");
    }
    if (port_s != NULL) {
        char *end;
        port = strtol(port_s, &end, 10);
        if (*end != '\0' || port < 1 || port > 65535) {
            return drctl_usage_error(d, "--port: \"%s\" is not a port", port_s);
        }
    }
    if (wait_s != NULL) {
        char *end;
        wait = strtol(wait_s, &end, 10);
        if (*end != '\0' || wait < 0 || wait > 30 * 86400) {
            return drctl_usage_error(d, "--wait: \"%s\" is not seconds",
                                     wait_s);
        }
    }
    if (wal_store != NULL && wal_config != NULL) {
        return drctl_usage_error(d, "--wal-store and --wal-config: give one");
    }
    if (pgdata[0] != '/') {
        if (getcwd(dir, sizeof(dir) - 256) == NULL) {
            return drctl_fail(d, "getcwd: cannot make %s absolute", pgdata);
        }
        snprintf(dir + strlen(dir), 256, "/%.250s", pgdata);
        pgdata = dir;
    }
    if (local_find_drnode(drnode_opt, drnode, sizeof(drnode), errmsg) != 0) {
        return drctl_fail(d, "%s", errmsg);
    }
    if (region == NULL) {
        drctl_caller_region(d, here, sizeof(here));
        region = here;
    }
    if ((rv = drctl_call(d, "GET", "/api/backups", NULL, &list)) != 0) {
        return rv;
    }
    /* The window: from the oldest base backup's end to now. */
    json_array_foreach(json_object_get(list, "backups"), i, b)
    {
        const char *st = json_string_value(json_object_get(b, "state"));
        int64_t at = json_integer_value(json_object_get(b, "snapshot_ms"));
        if (!drctl__is_base(b) || st == NULL || strcmp(st, "complete") != 0) {
            continue;
        }
        if (oldest == NULL ||
            at < json_integer_value(json_object_get(oldest, "snapshot_ms"))) {
            oldest = b;
        }
        if (id != NULL) {
            if (strcmp(json_string_value(json_object_get(b, "id")), id) == 0) {
                pick = b;
            }
            continue;
        }
        if ((ttime != NULL && at > tms) ||
            (tlsn != NULL &&
             (drctl__stop_lsn(b) == 0 || drctl__stop_lsn(b) > lsn))) {
            continue;
        }
        if (pick == NULL ||
            at > json_integer_value(json_object_get(pick, "snapshot_ms"))) {
            pick = b;
        }
    }
    if (oldest == NULL) {
        json_decref(list);
        return drctl_fail(d,
                          "no complete base backup in the catalog: take one "
                          "with drctl backups run --kind pg_base");
    }
    drctl__utc(json_integer_value(json_object_get(oldest, "snapshot_ms")), from,
               sizeof(from));
    drctl__utc(now, now_s, sizeof(now_s));
    if (ttime != NULL && (tms > now || tms < json_integer_value(json_object_get(
                                                 oldest, "snapshot_ms")))) {
        drctl__utc(tms, when, sizeof(when));
        json_decref(list);
        return drctl_fail(d,
                          "target %s is outside the archive's window: %s (the "
                          "oldest base backup's end) to %s (now)",
                          when, from, now_s);
    }
    if (pick == NULL) {
        json_decref(list);
        if (id != NULL) {
            return drctl_fail(d, "backup %s is not a complete base backup", id);
        }
        return drctl_fail(d,
                          "no base backup ends before LSN %s: the oldest "
                          "(from %s) ends after it",
                          tlsn, from);
    }
    if (ttime != NULL &&
        json_integer_value(json_object_get(pick, "snapshot_ms")) > tms) {
        drctl__utc(tms, when, sizeof(when));
        rv = drctl_fail(d,
                        "backup %s ends after the target %s: pick an older "
                        "one, or leave --backup out",
                        id, when);
        json_decref(list);
        return rv;
    }
    copy = drctl__pick_copy(d, pick, region, false);
    if (copy == NULL) {
        rv = drctl_fail(d, "backup %s has no verified copy to restore",
                        json_string_value(json_object_get(pick, "id")));
        json_decref(list);
        return rv;
    }
    spec = drctl__spec(pick, copy, "pg_base_restore", credentials);
    if (wal_config == NULL && wal_store == NULL) {
        /* The archive: the store of the region whose copy is restored
         * (its own copies of the WAL, with wal_copies), then the origin's,
         * where its PostgreSQL archives (the wal_store default); the
         * restore replays from the first that holds the backup's WAL. */
        const char *origin =
            json_string_value(json_object_get(pick, "origin_region"));
        const char *at = json_string_value(json_object_get(copy, "region"));
        const char *want[2] = {at, origin};
        wal_stores = json_array();
        if (drctl_call(d, "GET", "/api/regions", NULL, &regions) == 0) {
            for (size_t k = 0; k < 2; k++) {
                json_array_foreach(json_object_get(regions, "regions"), i, r)
                {
                    const char *url =
                        json_string_value(json_object_get(r, "object_store"));
                    if (want[k] != NULL && url != NULL && url[0] != '\0' &&
                        strcmp(json_string_value(json_object_get(r, "name")),
                               want[k]) == 0 &&
                        (k == 0 || at == NULL || strcmp(at, origin) != 0)) {
                        json_array_append_new(wal_stores, json_string(url));
                    }
                }
            }
        }
        if (json_array_size(wal_stores) == 0) {
            json_decref(wal_stores);
            json_decref(spec);
            json_decref(regions);
            json_decref(list);
            return drctl_fail(d,
                              "cannot tell where the WAL archive is: give "
                              "--wal-store URL or --wal-config FILE");
        }
    }
    if (ttime != NULL && wal_config == NULL) {
        const char *stores[8];
        size_t n = 0;
        if (wal_store != NULL) {
            stores[n++] = wal_store;
        } else {
            json_array_foreach(wal_stores, i, r)
            {
                if (n < sizeof(stores) / sizeof(stores[0])) {
                    stores[n++] = json_string_value(r);
                }
            }
        }
        rv = drctl__target_archived(d, pick, stores, n, credentials, tms);
        if (rv != 0) {
            json_decref(wal_stores);
            json_decref(spec);
            json_decref(regions);
            json_decref(list);
            return rv;
        }
    }
    json_object_set_new(spec, "pgdata", json_string(pgdata));
    json_object_set_new(spec, "drnode", json_string(drnode));
    if (wal_config != NULL) {
        json_object_set_new(spec, "wal_config", json_string(wal_config));
    } else if (wal_store != NULL) {
        json_object_set_new(spec, "wal_store", json_string(wal_store));
    } else {
        json_object_set_new(spec, "wal_stores", wal_stores);
    }
    if (ttime != NULL) {
        drctl__utc(tms, utc, sizeof(utc));
        json_object_set_new(spec, "target_time", json_string(utc));
    } else if (tlsn != NULL) {
        json_object_set_new(spec, "target_lsn", json_string(tlsn));
    }
    json_object_set_new(spec, "archive", json_boolean(keep_archiving));
    json_object_set_new(spec, "standby", json_boolean(standby));
    if (start) {
        json_object_set_new(spec, "port", json_integer(port));
        json_object_set_new(spec, "wait_s", json_integer(wait));
    }
    rv = drctl__run_job(d, spec, pick, "restore", 1, &result, errmsg);
    if (d->json) {
        json_t *report = json_pack("{sb sO sO}", "ok", rv == 0, "backup",
                                   json_object_get(pick, "id"), "copy_region",
                                   json_object_get(copy, "region"));
        json_object_set_new(report, "result",
                            result != NULL ? json_incref(result) : json_null());
        if (rv != 0) {
            json_object_set_new(report, "error", json_string(errmsg));
        }
        drctl_print_json(report);
        json_decref(report);
    } else if (rv == 0) {
        const char *ci = json_string_value(json_object_get(result, "conninfo"));
        char conn[4096] = "";
        if (ci != NULL) {
            drctl_shell_word(conn, sizeof(conn), ci);
        }
        printf(
            "restored base backup %s (%s's copy, consistent at LSN %s) "
            "into %s\n",
            json_string_value(json_object_get(pick, "id")),
            json_string_value(json_object_get(copy, "region")),
            json_string_value(json_object_get(result, "base_stop_lsn")),
            pgdata);
        if (ci != NULL && standby) {
            printf(
                "a standby replays the WAL archive as it grows, read-only "
                "(promote it with pg_ctl promote): psql %s\n",
                conn);
        } else if (standby) {
            printf(
                "start PostgreSQL on it: a standby that replays the WAL "
                "archive as it grows, until promoted\n");
        } else if (ci != NULL) {
            printf(
                "replayed the WAL archive to %s and promoted in %lld ms: "
                "psql %s\n",
                json_string_value(json_object_get(result, "target")),
                (long long)json_integer_value(
                    json_object_get(result, "recovery_ms")),
                conn);
        } else {
            printf(
                "start PostgreSQL on it: it replays the WAL archive to %s "
                "and promotes\n",
                json_string_value(json_object_get(result, "target")));
        }
    }
    json_decref(result);
    json_decref(regions);
    json_decref(list);
    return rv == 0 ? 0 : DRCTL_EXIT_FAIL;
}

int drctl_cmd_restore(struct drctl *d, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--pitr") == 0) {
            return drctl__restore_pitr(d, argc, argv);
        }
    }

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
        drctl_caller_region(d, here, sizeof(here));
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
        } else if (drctl__is_base(b)) {
            failed = drctl_usage_error(d,
                                       "backup %s is a base backup: restore "
                                       "it with --pitr --pgdata DIR",
                                       id);
            json_decref(b);
            json_decref(report);
            return failed;
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
