/* The backup catalog and the job table: leases, attempts, retention.
 *
 * A job moves pending -> running (claim: a node of the job's region takes a
 * lease) -> done | pending again (the attempt failed or its lease expired,
 * attempts left, after a back-off) | failed. Only the holder of the current
 * lease (node and attempt, not expired at the command's time) may renew or
 * finish it, so a worker that lost its lease can never commit a result.
 * A backup enters the catalog only through the finish of its job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/objkey.h"
#include "fsm/internal.h"
#include "fsm/sm.h"

#define JOB_BACKOFF_BASE_MS 5000u
#define JOB_BACKOFF_MAX_MS 300000u
#define STREAM_BACKOFF_BASE_MS 1000u
#define STREAM_BACKOFF_MAX_MS 30000u
#define DAY_MS 86400000ull

static const char *const backup_kind_names[FSM_BACKUP_KINDS] = {
    "pg_logical", "redis_snapshot", "pg_base"};
static const char *const backup_kind_short[FSM_BACKUP_KINDS] = {"pg", "redis",
                                                                "pg_base"};

const char *fsm_backup_kind_name(int kind)
{
    return kind >= 0 && kind < FSM_BACKUP_KINDS ? backup_kind_names[kind]
                                                : "unknown";
}

int fsm_backup_kind_parse(const char *name)
{
    for (int i = 0; i < FSM_BACKUP_KINDS; i++) {
        if (strcmp(name, backup_kind_names[i]) == 0 ||
            strcmp(name, backup_kind_short[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *fsm_backup_state_name(int state)
{
    switch (state) {
        case FSM_BACKUP_COMPLETE:
            return "complete";
        case FSM_BACKUP_DELETING:
            return "deleting";
    }
    return "unknown";
}

const char *fsm_job_kind_name(int kind)
{
    switch (kind) {
        case FSM_JOB_BACKUP:
            return "backup";
        case FSM_JOB_DELETE:
            return "delete";
        case FSM_JOB_CLEANUP:
            return "cleanup";
        case FSM_JOB_DRILL:
            return "drill";
        case FSM_JOB_REPLICATE:
            return "replicate";
        case FSM_JOB_RESTORE:
            return "restore";
        case FSM_JOB_WAL_STREAM:
            return "wal_stream";
        case FSM_JOB_WAL_SCAN:
            return "wal_scan";
    }
    return "unknown";
}

const char *fsm_job_state_name(int state)
{
    return fsm_sm_name(&fsm_job_sm, state);
}

/* Copies and frees. */

/* The strings a backup or a job owns. */
#define BACKUP_STRS(b)                                                     \
    {                                                                      \
        &(b)->id, &(b)->origin_region, &(b)->store, &(b)->prefix,          \
            &(b)->manifest_key, &(b)->manifest_sha256, &(b)->verify_error, \
            &(b)->detail                                                   \
    }
#define JOB_STRS(j)                                                            \
    {                                                                          \
        &(j)->region, &(j)->backup_id, &(j)->prefix, &(j)->store, &(j)->error, \
            &(j)->actor                                                        \
    }

void fsm_backup_free(struct fsm_backup *b)
{
    char **const strs[] = BACKUP_STRS(b);
    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
    fsm__copies_free(b->copies, b->n_copies);
    memset(b, 0, sizeof(*b));
}

int fsm_backup_copy(struct fsm_backup *dst, const struct fsm_backup *src)
{
    char **const strs[] = BACKUP_STRS(dst);
    *dst = *src;
    dst->copies = NULL;
    if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
        memset(dst, 0, sizeof(*dst));
        return DR_ENOMEM;
    }
    if (fsm__copies_dup(&dst->copies, src->copies, src->n_copies) != DR_OK) {
        dst->n_copies = 0;
        fsm_backup_free(dst);
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm_job_free(struct fsm_job *j)
{
    char **const strs[] = JOB_STRS(j);
    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
    memset(j, 0, sizeof(*j));
}

int fsm_job_copy(struct fsm_job *dst, const struct fsm_job *src)
{
    char **const strs[] = JOB_STRS(dst);
    *dst = *src;
    if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
        memset(dst, 0, sizeof(*dst));
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm__catalog_close(struct fsm *f)
{
    for (size_t i = 0; i < f->n_backups; i++) {
        fsm_backup_free(&f->backups[i]);
    }
    free(f->backups);
    for (size_t i = 0; i < f->n_jobs; i++) {
        fsm_job_free(&f->jobs[i]);
    }
    free(f->jobs);
}

/* Look-ups. */

static int backup_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fsm_backup *)elem)->id);
}

static size_t backup_pos(const struct fsm *f, const char *id, int *found)
{
    return fsm__search(f->backups, f->n_backups, sizeof(*f->backups), id,
                       backup_cmp, found);
}

const struct fsm_backup *fsm_backup_get(const struct fsm *f, const char *id)
{
    int found;
    size_t pos = backup_pos(f, id, &found);
    return found ? &f->backups[pos] : NULL;
}

static int job_cmp(const void *key, const void *elem)
{
    return fsm__cmp_u64(*(const uint64_t *)key,
                        ((const struct fsm_job *)elem)->id);
}

static size_t job_pos(const struct fsm *f, uint64_t id, int *found)
{
    return fsm__search(f->jobs, f->n_jobs, sizeof(*f->jobs), &id, job_cmp,
                       found);
}

const struct fsm_job *fsm_job_get(const struct fsm *f, uint64_t id)
{
    int found;
    size_t pos = job_pos(f, id, &found);
    return found ? &f->jobs[pos] : NULL;
}

const struct fsm_backup *fsm_backup_latest(const struct fsm *f,
                                           int kind,
                                           const char *region)
{
    const struct fsm_backup *best = NULL;

    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        if (b->kind == kind && b->state == FSM_BACKUP_COMPLETE &&
            (region == NULL || strcmp(b->origin_region, region) == 0) &&
            (best == NULL || b->created_ms > best->created_ms)) {
            best = b;
        }
    }
    return best;
}

static const struct fsm_job *active_backup_job(const struct fsm *f,
                                               int kind,
                                               const char *region)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_BACKUP && j->backup_kind == kind &&
            (j->state == FSM_JOB_PENDING || j->state == FSM_JOB_RUNNING) &&
            strcmp(j->region, region) == 0) {
            return j;
        }
    }
    return NULL;
}

/* The backup job of kind in region in state, or NULL. */
static const struct fsm_job *backup_job_in(const struct fsm *f,
                                           int kind,
                                           const char *region,
                                           int state)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_BACKUP && j->backup_kind == kind &&
            j->state == state && strcmp(j->region, region) == 0) {
            return j;
        }
    }
    return NULL;
}

/* A job touching backup id's objects in region of one of kinds (bits of
 * 1 << enum fsm_job_kind) in state (or, with state -1, pending or
 * running), other than j; or NULL. */
static const struct fsm_job *objects_job(const struct fsm *f,
                                         const struct fsm_job *j,
                                         unsigned kinds,
                                         int state)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *o = &f->jobs[i];
        if (o != j && (kinds & (1u << o->kind)) != 0 &&
            (state >= 0 ? o->state == state
                        : o->state == FSM_JOB_PENDING ||
                              o->state == FSM_JOB_RUNNING) &&
            strcmp(o->backup_id, j->backup_id) == 0 &&
            strcmp(o->region, j->region) == 0) {
            return o;
        }
    }
    return NULL;
}

const struct fsm_job *fsm_job_waits_for(const struct fsm *f,
                                        const struct fsm_job *j)
{
    const struct fsm_job *r;

    if (j->state != FSM_JOB_PENDING) {
        return NULL;
    }
    switch (j->kind) {
        case FSM_JOB_BACKUP:
            r = backup_job_in(f, j->backup_kind, j->region, FSM_JOB_RUNNING);
            return r != NULL && r->id != j->id ? r : NULL;
        case FSM_JOB_REPLICATE:
            /* Not while the region's objects of that backup are deleted. */
            return objects_job(
                f, j, (1u << FSM_JOB_DELETE) | (1u << FSM_JOB_CLEANUP), -1);
        case FSM_JOB_DELETE:
        case FSM_JOB_CLEANUP:
            /* Not while a copy still writes them. */
            return objects_job(f, j, 1u << FSM_JOB_REPLICATE, FSM_JOB_RUNNING);
    }
    return NULL;
}

const char *fsm_backup_interval_key(int kind)
{
    switch (kind) {
        case FSM_BACKUP_PG_LOGICAL:
            return "backup.pg_interval_s";
        case FSM_BACKUP_PG_BASE:
            return "backup.pg_base_interval_s";
        default:
            return "backup.redis_interval_s";
    }
}

bool fsm_backup_due(const struct fsm *f, int kind, uint64_t now)
{
    const char *region = f->site.primary_region;
    const struct fsm_region *r;
    const struct fsm_backup *b;
    uint64_t interval, last = 0;

    if (!f->initialized || region == NULL || kind < 0 ||
        kind >= FSM_BACKUP_KINDS) {
        return false;
    }
    r = fsm_region_get(f, region);
    interval =
        (uint64_t)fsm_setting_int(f, fsm_backup_interval_key(kind)) * 1000;
    if (interval == 0 || r == NULL || r->object_store[0] == '\0' ||
        f->site.state != FSM_SITE_ACTIVE || /* not mid-failover */
        active_backup_job(f, kind, region) != NULL) {
        return false;
    }
    b = fsm_backup_latest(f, kind, region);
    if (b != NULL) {
        last = b->created_ms;
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_BACKUP && j->backup_kind == kind &&
            strcmp(j->region, region) == 0 && j->created_ms > last) {
            last = j->created_ms;
        }
    }
    return last == 0 || now >= last + interval;
}

/* Retention. */

/* Groups of one origin region and kind, newest first inside a group. */
static int by_group_newest_first(const void *a, const void *b)
{
    const struct fsm_backup *x = *(const struct fsm_backup *const *)a;
    const struct fsm_backup *y = *(const struct fsm_backup *const *)b;
    int c = strcmp(x->origin_region, y->origin_region);

    if (c != 0) {
        return c;
    }
    if (x->kind != y->kind) {
        return x->kind < y->kind ? -1 : 1;
    }
    if (x->created_ms != y->created_ms) {
        return x->created_ms > y->created_ms ? -1 : 1;
    }
    return strcmp(y->id, x->id);
}

/* Where backups' newest verified copies are, per region and kind: region
 * names are those of the copies (a removed region keeps its slot). */
struct newest_copies
{
    const char *region[2 * FSM_REGIONS_MAX];
    uint64_t ms[2 * FSM_REGIONS_MAX][FSM_BACKUP_KINDS];
    size_t n;
};

static uint64_t *newest_slot(struct newest_copies *nc, const char *region)
{
    for (size_t i = 0; i < nc->n; i++) {
        if (strcmp(nc->region[i], region) == 0) {
            return nc->ms[i];
        }
    }
    if (nc->n == sizeof(nc->region) / sizeof(nc->region[0])) {
        return NULL;
    }
    nc->region[nc->n] = region;
    memset(nc->ms[nc->n], 0, sizeof(nc->ms[nc->n]));
    return nc->ms[nc->n++];
}

/* Mark in protect[] (by position in f->backups) what retention keeps
 * whatever its age, so a region never loses its last restorable backup to
 * copies still in flight: per origin and kind, the newest safe backup;
 * per region and kind, the newest backup with a verified copy there (ties
 * of the same commit time all count); and the base backups that cover
 * wal.pitr_window_h. all: the complete backups, by group, newest first.
 * One pass to find them, one to mark. */
static void retention_protected(const struct fsm *f,
                                const struct fsm_backup *const *all,
                                size_t n,
                                uint64_t now,
                                bool *protect)
{
    struct newest_copies *nc = calloc(1, sizeof(*nc));
    uint64_t safe_ms = 0;
    uint64_t window_ms =
        (uint64_t)fsm_setting_int(f, "wal.pitr_window_h") * 3600000;
    bool covered = false;

    for (size_t k = 0; k < n; k++) {
        const struct fsm_backup *b = all[k];
        bool first = k == 0 || b->kind != all[k - 1]->kind ||
                     strcmp(b->origin_region, all[k - 1]->origin_region) != 0;
        if (first) {
            safe_ms = 0;
        }
        if ((safe_ms == 0 || b->created_ms == safe_ms) &&
            fsm_backup_safe(f, b)) {
            safe_ms = b->created_ms;
            protect[b - f->backups] = true;
        }
        for (size_t c = 0; nc != NULL && c < b->n_copies; c++) {
            uint64_t *ms;
            if (b->copies[c].state != FSM_COPY_VERIFIED) {
                continue;
            }
            ms = newest_slot(nc, b->copies[c].region);
            if (ms != NULL && b->created_ms > ms[b->kind]) {
                ms[b->kind] = b->created_ms;
            }
        }
    }
    for (size_t k = 0; nc != NULL && k < n; k++) {
        const struct fsm_backup *b = all[k];
        for (size_t c = 0; c < b->n_copies; c++) {
            const uint64_t *ms;
            if (b->copies[c].state != FSM_COPY_VERIFIED) {
                continue;
            }
            ms = newest_slot(nc, b->copies[c].region);
            if (ms == NULL || ms[b->kind] == b->created_ms) {
                protect[b - f->backups] = true;
            }
        }
    }
    /* wal.pitr_window_h: per origin, every base backup that ended within
     * the window and the newest one before it, from which the window's
     * first hours replay. */
    if (window_ms > 0) {
        for (size_t k = 0; k < n; k++) {
            const struct fsm_backup *b = all[k];
            bool first =
                k == 0 || b->kind != all[k - 1]->kind ||
                strcmp(b->origin_region, all[k - 1]->origin_region) != 0;
            if (b->kind != FSM_BACKUP_PG_BASE) {
                continue;
            }
            if (first) {
                covered = false;
            }
            if (!covered) {
                protect[b - f->backups] = true;
                covered = b->snapshot_ms + window_ms <= now;
            }
        }
    }
    if (nc == NULL) { /* out of memory: keep them all (the safe answer) */
        for (size_t k = 0; k < n; k++) {
            protect[all[k] - f->backups] = true;
        }
    }
    free(nc);
}

size_t fsm_retention_victims(const struct fsm *f,
                             uint64_t now,
                             const char **ids,
                             size_t max)
{
    uint64_t recent_ms =
        (uint64_t)fsm_setting_int(f, "backup.retention_recent_h") * 3600000;
    int64_t daily = fsm_setting_int(f, "backup.retention_daily");
    const struct fsm_backup **all;
    bool *protect;
    size_t n = 0, n_out = 0;
    int64_t days_kept = 0;
    uint64_t last_day = UINT64_MAX;

    if (f->n_backups == 0) {
        return 0;
    }
    all = malloc(f->n_backups * sizeof(*all));
    protect = calloc(f->n_backups, sizeof(*protect));
    if (all == NULL || protect == NULL) {
        free(all);
        free(protect);
        return 0; /* nothing deleted: the safe answer */
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        if (f->backups[i].state == FSM_BACKUP_COMPLETE) {
            all[n++] = &f->backups[i];
        }
    }
    qsort(all, n, sizeof(*all), by_group_newest_first);
    retention_protected(f, all, n, now, protect);
    for (size_t k = 0; k < n && n_out < max; k++) {
        const struct fsm_backup *b = all[k];
        bool first = k == 0 || b->kind != all[k - 1]->kind ||
                     strcmp(b->origin_region, all[k - 1]->origin_region) != 0;
        uint64_t day = b->created_ms / DAY_MS;
        /* The newest of its group, and everything recent, stay. */
        bool keep = first || b->created_ms + recent_ms >= now;

        if (first) {
            days_kept = 0;
            last_day = UINT64_MAX;
        }
        if (day != last_day) {
            /* The newest backup of this day: kept for the first days. */
            if (days_kept < daily) {
                keep = true;
                days_kept++;
            }
            last_day = day;
        }
        if (!keep && !protect[b - f->backups]) {
            ids[n_out++] = b->id;
        }
    }
    free(all);
    free(protect);
    return n_out;
}

/* Checks. */

static bool valid_sha256_hex(const char *s)
{
    size_t i;
    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return i == FSM_SHA256_HEX;
}

/* The lease of cmd's job is held by cmd's node and attempt (and, with a
 * time, has not expired). */
static int check_lease(const struct fsm_job *j,
                       const struct fsm_cmd_job *c,
                       uint64_t now,
                       struct fsm_result *res)
{
    if (j->state != FSM_JOB_RUNNING) {
        return fsm__reject(res, DR_ECONFLICT, "job %llu is %s, not running",
                           (unsigned long long)j->id,
                           fsm_job_state_name(j->state));
    }
    if (j->owner != c->node || j->attempt != c->attempt) {
        return fsm__reject(res, DR_ECONFLICT,
                           "job %llu: lease lost (attempt %u is held by node "
                           "%llu)",
                           (unsigned long long)j->id, (unsigned)j->attempt,
                           (unsigned long long)j->owner);
    }
    if (now != 0 && now > j->lease_expires_ms) {
        return fsm__reject(res, DR_ECONFLICT,
                           "job %llu: lease of attempt %u expired %llu ms ago",
                           (unsigned long long)j->id, (unsigned)j->attempt,
                           (unsigned long long)(now - j->lease_expires_ms));
    }
    return DR_OK;
}

static int check_finished_backup(const struct fsm_backup *b,
                                 struct fsm_result *res)
{
    if (!dr_object_key_ok(b->manifest_key)) {
        return fsm__reject(res, DR_EINVAL,
                           "backup.manifest_key must be a relative object key");
    }
    if (b->manifest_sha256 == NULL || !valid_sha256_hex(b->manifest_sha256)) {
        return fsm__reject(res, DR_EINVAL,
                           "backup.manifest_sha256 must be 64 lowercase hex "
                           "digits");
    }
    if (b->detail != NULL && strlen(b->detail) > 4 * FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL, "backup.detail is too long");
    }
    return DR_OK;
}

/* Room in the job table for n new jobs. */
static int check_room(const struct fsm *f, size_t n, struct fsm_result *res)
{
    size_t finished = 0;

    for (size_t i = 0; i < f->n_jobs; i++) {
        finished += f->jobs[i].state == FSM_JOB_DONE ||
                    f->jobs[i].state == FSM_JOB_FAILED;
    }
    if (f->n_jobs + n > FSM_JOBS_MAX + finished) {
        return fsm__reject(res, DR_ELIMIT,
                           "%d jobs are pending or running already",
                           FSM_JOBS_MAX);
    }
    return DR_OK;
}

static int check_create_replica(const struct fsm *f,
                                const struct fsm_cmd_job *c,
                                struct fsm_result *res)
{
    const struct fsm_backup *b =
        c->backup_id != NULL ? fsm_backup_get(f, c->backup_id) : NULL;
    const struct fsm_region *r =
        c->region != NULL ? fsm_region_get(f, c->region) : NULL;
    const struct fsm_copy *cp;
    const char *why = "";

    if (b == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "backup %s does not exist",
                           c->backup_id != NULL ? c->backup_id : "(none)");
    }
    if (b->state != FSM_BACKUP_COMPLETE) {
        return fsm__reject(res, DR_ECONFLICT, "backup %s is being deleted",
                           b->id);
    }
    if (r == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region %s does not exist",
                           c->region != NULL ? c->region : "(none)");
    }
    if (!fsm_region_receives(f, r, b->kind, &why)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s receives no copy of %s: %s", r->name,
                           b->id, why);
    }
    if (fsm__store_shared(b, r)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s's object store already holds a copy of "
                           "%s (two regions share one store)",
                           r->name, b->id);
    }
    cp = fsm_copy_get(b, r->name);
    if (cp != NULL && cp->state != FSM_COPY_FAILED) {
        return fsm__reject(res, DR_ECONFLICT, "region %s's copy of %s is %s",
                           r->name, b->id, fsm_copy_state_name(cp->state));
    }
    if (fsm_copy_pick(f, b, NULL, NULL) == NULL) {
        return fsm__reject(res, DR_ECONFLICT,
                           "backup %s has no verified copy to copy from "
                           "(check the others with drctl backups verify, or "
                           "take a new backup)",
                           b->id);
    }
    return check_room(f, 1, res);
}

const struct fsm_job *fsm_wal_stream_job(const struct fsm *f)
{
    for (size_t i = f->n_jobs; i-- > 0;) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_WAL_STREAM &&
            (j->state == FSM_JOB_PENDING || j->state == FSM_JOB_RUNNING) &&
            f->site.primary_region != NULL &&
            strcmp(j->region, f->site.primary_region) == 0) {
            return j;
        }
    }
    return NULL;
}

bool fsm_wal_stream_wanted(const struct fsm *f)
{
    const struct fsm_value *on = fsm_setting(f, "wal.stream");
    return on != NULL && on->b && f->site.primary_region != NULL &&
           fsm_wal_stream_job(f) == NULL;
}

bool fsm_wal_stream_slot_wanted(const struct fsm *f, const char *region)
{
    const struct fsm_value *on = fsm_setting(f, "wal.stream");

    if (region == NULL) {
        return false;
    }
    if (on != NULL && on->b && f->site.primary_region != NULL &&
        strcmp(region, f->site.primary_region) == 0) {
        return true;
    }
    for (size_t i = f->n_jobs; i-- > 0;) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_WAL_STREAM &&
            (j->state == FSM_JOB_PENDING || j->state == FSM_JOB_RUNNING) &&
            strcmp(j->region, region) == 0) {
            return true;
        }
    }
    return false;
}

/* One stream at a time, from the primary region, while wal.stream is on. */
static int check_create_stream(const struct fsm *f,
                               const char *region,
                               struct fsm_result *res)
{
    const struct fsm_value *on = fsm_setting(f, "wal.stream");
    const struct fsm_job *j = fsm_wal_stream_job(f);

    if (on == NULL || !on->b) {
        return fsm__reject(res, DR_ECONFLICT,
                           "wal.stream is off (drctl settings set wal.stream "
                           "true)");
    }
    if (region == NULL || f->site.primary_region == NULL ||
        strcmp(region, f->site.primary_region) != 0) {
        return fsm__reject(
            res, DR_ECONFLICT,
            "WAL is streamed from the primary region (%s), "
            "not %s",
            f->site.primary_region != NULL ? f->site.primary_region : "(none)",
            region != NULL ? region : "(none)");
    }
    if (fsm_region_get(f, region) == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region %s does not exist",
                           region);
    }
    if (j != NULL) {
        return fsm__reject(
            res, DR_ECONFLICT, "job %llu already streams %s's WAL (%s)",
            (unsigned long long)j->id, region, fsm_job_state_name(j->state));
    }
    return check_room(f, 1, res);
}

/* One scan of a region's WAL archive at a time, of a region with a store. */
static int check_create_scan(const struct fsm *f,
                             const char *region,
                             struct fsm_result *res)
{
    const struct fsm_region *r = fsm_region_get(f, region);

    if (r == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region %s does not exist",
                           region != NULL ? region : "(none)");
    }
    if (r->object_store[0] == '\0') {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s has no object store: no WAL archive to "
                           "read",
                           region);
    }
    for (size_t i = f->n_jobs; i-- > 0;) {
        const struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_WAL_SCAN && strcmp(j->region, region) == 0 &&
            (j->state == FSM_JOB_PENDING || j->state == FSM_JOB_RUNNING)) {
            return fsm__reject(res, DR_ECONFLICT,
                               "job %llu already reads %s's WAL archive (%s)",
                               (unsigned long long)j->id, region,
                               fsm_job_state_name(j->state));
        }
    }
    return check_room(f, 1, res);
}

static int check_create(const struct fsm *f,
                        const struct fsm_cmd_job *c,
                        struct fsm_result *res)
{
    const char *region = c->region != NULL && c->region[0] != '\0'
                             ? c->region
                             : f->site.primary_region;
    const struct fsm_region *r;
    const struct fsm_job *busy;

    if (c->kind == FSM_JOB_REPLICATE) {
        return check_create_replica(f, c, res);
    }
    if (c->kind == FSM_JOB_WAL_STREAM) {
        return check_create_stream(f, region, res);
    }
    if (c->kind == FSM_JOB_WAL_SCAN) {
        return check_create_scan(f, region, res);
    }
    if (c->kind != FSM_JOB_BACKUP) {
        return fsm__reject(res, DR_EINVAL,
                           "only backup, replicate, wal_stream and wal_scan "
                           "jobs can be created directly");
    }
    if (c->backup_kind < 0 || c->backup_kind >= FSM_BACKUP_KINDS) {
        return fsm__reject(res, DR_EINVAL, "unknown backup kind %d",
                           c->backup_kind);
    }
    r = fsm_region_get(f, region);
    if (r == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region %s does not exist",
                           region);
    }
    if (r->object_store[0] == '\0') {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s has no object store (set one with "
                           "drctl regions update %s --object-store URL)",
                           region, region);
    }
    /* A pending job of that kind is joined (its snapshot is not taken
     * yet); a running one gets one follow-up, joined in turn. */
    busy = backup_job_in(f, c->backup_kind, region, FSM_JOB_PENDING);
    if (busy != NULL) {
        return DR_OK;
    }
    return check_room(f, 1, res);
}

int fsm__catalog_check(const struct fsm *f,
                       const struct fsm_cmd *cmd,
                       uint64_t now,
                       struct fsm_result *res)
{
    const struct fsm_cmd_job *c = &cmd->u.job;
    const struct fsm_job *j = NULL;
    const struct fsm_member *m;
    const struct fsm_backup *b;

    if (cmd->type == FSM_CMD_JOB_CREATE) {
        return check_create(f, c, res);
    }
    if (cmd->type == FSM_CMD_BACKUP_DELETE ||
        cmd->type == FSM_CMD_BACKUP_VERIFIED) {
        const char *id = cmd->type == FSM_CMD_BACKUP_DELETE
                             ? cmd->u.backup_id
                             : cmd->u.verified.id;
        b = id != NULL ? fsm_backup_get(f, id) : NULL;
        if (b == NULL) {
            return fsm__reject(res, DR_ENOTFOUND, "backup %s does not exist",
                               id != NULL ? id : "(none)");
        }
        if (b->state != FSM_BACKUP_COMPLETE) {
            return fsm__reject(res, DR_ECONFLICT, "backup %s is being deleted",
                               b->id);
        }
        if (cmd->type == FSM_CMD_BACKUP_VERIFIED) {
            const char *region = cmd->u.verified.region;
            const struct fsm_copy *cp = fsm_copy_get(
                b, region != NULL && region[0] != '\0' ? region
                                                       : b->origin_region);
            if (cmd->u.verified.error != NULL &&
                strlen(cmd->u.verified.error) > FSM_TEXT_MAX) {
                return fsm__reject(res, DR_EINVAL, "error is too long");
            }
            if (cp == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "backup %s has no copy in region %s", b->id,
                                   region != NULL && region[0] != '\0'
                                       ? region
                                       : b->origin_region);
            }
            if (cp->state == FSM_COPY_COPYING) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "region %s's copy of %s is still being "
                                   "made",
                                   cp->region, b->id);
            }
            return DR_OK;
        }
        return check_room(f, b->n_copies > 0 ? b->n_copies : 1, res);
    }
    j = fsm_job_get(f, c->job_id);
    if (j == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "job %llu does not exist",
                           (unsigned long long)c->job_id);
    }
    switch (cmd->type) {
        case FSM_CMD_JOB_CLAIM:
            if (j->state != FSM_JOB_PENDING) {
                return fsm__reject(
                    res, DR_ECONFLICT, "job %llu is %s, not pending",
                    (unsigned long long)j->id, fsm_job_state_name(j->state));
            }
            m = fsm_member_get(f, c->node);
            if (m == NULL) {
                return fsm__reject(res, DR_ENOTFOUND,
                                   "node %llu is not a member",
                                   (unsigned long long)c->node);
            }
            if (strcmp(m->region, j->region) != 0) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "job %llu runs in region %s; node %llu is "
                                   "in %s",
                                   (unsigned long long)j->id, j->region,
                                   (unsigned long long)c->node, m->region);
            }
            if (fsm_job_waits_for(f, j) != NULL) {
                const struct fsm_job *w = fsm_job_waits_for(f, j);
                return fsm__reject(
                    res, DR_ECONFLICT,
                    "job %llu runs after job %llu (%s of %s in %s), still %s",
                    (unsigned long long)j->id, (unsigned long long)w->id,
                    fsm_job_kind_name(w->kind), w->backup_id, w->region,
                    fsm_job_state_name(w->state));
            }
            if (j->kind == FSM_JOB_REPLICATE) {
                int64_t limit =
                    fsm_setting_int(f, "replication.max_concurrent");
                int64_t running = 0;
                for (size_t i = 0; i < f->n_jobs; i++) {
                    running += f->jobs[i].kind == FSM_JOB_REPLICATE &&
                               f->jobs[i].state == FSM_JOB_RUNNING &&
                               strcmp(f->jobs[i].region, j->region) == 0;
                }
                if (running >= limit) {
                    return fsm__reject(res, DR_ECONFLICT,
                                       "region %s runs %lld copies already "
                                       "(replication.max_concurrent)",
                                       j->region, (long long)running);
                }
            }
            if (c->lease_ms < 1000 || c->lease_ms > 3600000) {
                return fsm__reject(res, DR_EINVAL,
                                   "lease_ms must be 1000 to 3600000");
            }
            if (now != 0 && now < j->not_before_ms) {
                return fsm__reject(
                    res, DR_ECONFLICT, "job %llu backs off for another %llu ms",
                    (unsigned long long)j->id,
                    (unsigned long long)(j->not_before_ms - now));
            }
            return DR_OK;
        case FSM_CMD_JOB_RENEW:
            if (c->lease_ms < 1000 || c->lease_ms > 3600000) {
                return fsm__reject(res, DR_EINVAL,
                                   "lease_ms must be 1000 to 3600000");
            }
            if (check_lease(j, c, now, res) != DR_OK) {
                return res->code;
            }
            return c->phase != 0 ? fsm__runbook_check_phase(f, j, c, res)
                                 : DR_OK;
        case FSM_CMD_JOB_FINISH:
            if (check_lease(j, c, now, res) != DR_OK) {
                return res->code;
            }
            if (!c->ok) {
                if (c->error == NULL || c->error[0] == '\0') {
                    return fsm__reject(res, DR_EINVAL,
                                       "a failed job needs an error");
                }
                if (strlen(c->error) > FSM_TEXT_MAX) {
                    return fsm__reject(res, DR_EINVAL, "error is too long");
                }
                return DR_OK;
            }
            if (j->kind == FSM_JOB_DRILL || j->kind == FSM_JOB_RESTORE) {
                if (c->backup.detail != NULL &&
                    strlen(c->backup.detail) > 4 * FSM_TEXT_MAX) {
                    return fsm__reject(res, DR_EINVAL, "detail is too long");
                }
                if (!c->drill_ok && (c->error == NULL || c->error[0] == '\0' ||
                                     strlen(c->error) > FSM_TEXT_MAX)) {
                    return fsm__reject(res, DR_EINVAL,
                                       "a failed drill needs an error (at "
                                       "most %d bytes)",
                                       FSM_TEXT_MAX);
                }
            }
            if (j->kind == FSM_JOB_REPLICATE && c->copy.source_region != NULL &&
                strlen(c->copy.source_region) > FSM_NAME_MAX) {
                return fsm__reject(res, DR_EINVAL,
                                   "copy.source_region is too long");
            }
            if (j->kind == FSM_JOB_WAL_SCAN &&
                fsm_wal_archive_check(&c->wal, res) != DR_OK) {
                return res->code;
            }
            if (j->kind == FSM_JOB_BACKUP) {
                if (check_finished_backup(&c->backup, res) != DR_OK) {
                    return res->code;
                }
                if (f->n_backups >= FSM_BACKUPS_MAX) {
                    return fsm__reject(res, DR_ELIMIT,
                                       "the catalog holds %d backups already",
                                       FSM_BACKUPS_MAX);
                }
            }
            return DR_OK;
        case FSM_CMD_JOB_EXPIRE:
            if (j->state != FSM_JOB_RUNNING || j->attempt != c->attempt) {
                return fsm__reject(
                    res, DR_ECONFLICT, "job %llu attempt %u is not running",
                    (unsigned long long)j->id, (unsigned)c->attempt);
            }
            if (now != 0 && now <= j->lease_expires_ms) {
                return fsm__reject(res, DR_ECONFLICT,
                                   "job %llu: the lease of attempt %u is still "
                                   "valid",
                                   (unsigned long long)j->id,
                                   (unsigned)j->attempt);
            }
            return DR_OK;
    }
    return fsm__reject(res, DR_EINVAL, "unknown catalog command (type %d)",
                       cmd->type);
}

/* Mutations. */

/* "20261126T082500Z" for a command time. */
static void format_utc(uint64_t ms, char *buf, size_t size)
{
    uint64_t secs = ms / 1000;
    int64_t days = (int64_t)(secs / 86400);
    unsigned sod = (unsigned)(secs % 86400);
    /* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned mo = mp < 10 ? mp + 3 : mp - 9;

    y += mo <= 2;
    snprintf(buf, size, "%04lld%02u%02uT%02u%02u%02uZ", (long long)y, mo, d,
             sod / 3600, sod / 60 % 60, sod % 60);
}

/* Forget the oldest finished job when the table is full. */
static void jobs_make_room(struct fsm *f)
{
    if (f->n_jobs < FSM_JOBS_MAX) {
        return;
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        if (f->jobs[i].state == FSM_JOB_DONE ||
            f->jobs[i].state == FSM_JOB_FAILED) {
            fsm_job_free(&f->jobs[i]);
            memmove(&f->jobs[i], &f->jobs[i + 1],
                    (f->n_jobs - i - 1) * sizeof(*f->jobs));
            f->n_jobs--;
            return;
        }
    }
}

/* Append a new job (ids only grow, so appending keeps the order). The new
 * job is owned by the table; returns it, or NULL when out of memory. */
struct fsm_job *fsm__job_add(struct fsm *f, const struct fsm_job *tmpl)
{
    struct fsm_job *grown, *j;

    jobs_make_room(f);
    grown = realloc(f->jobs, (f->n_jobs + 1) * sizeof(*f->jobs));
    if (grown == NULL) {
        return NULL;
    }
    f->jobs = grown;
    j = &f->jobs[f->n_jobs];
    if (fsm_job_copy(j, tmpl) != DR_OK) {
        return NULL;
    }
    f->job_seq = tmpl->id;
    f->n_jobs++;
    return j;
}

/* A new pending job of kind in region (its store), with the next id and
 * the attempts jobs.max_attempts gives; no backup, prefix or error yet.
 * Strings are borrowed until fsm__job_add copies them. */
static struct fsm_job job_template(const struct fsm *f,
                                   int kind,
                                   const char *region,
                                   const char *store,
                                   uint64_t now,
                                   const char *actor)
{
    struct fsm_job t;

    memset(&t, 0, sizeof(t));
    t.id = f->job_seq + 1;
    t.kind = kind;
    t.region = (char *)region;
    t.backup_id = (char *)"";
    t.prefix = (char *)"";
    t.store = (char *)store;
    t.state = FSM_JOB_PENDING;
    t.max_attempts = (uint32_t)fsm_setting_int(f, "jobs.max_attempts");
    t.created_ms = t.updated_ms = now;
    t.error = (char *)"";
    t.actor = (char *)(actor != NULL ? actor : "");
    return t;
}

/* Add a job deleting the objects under prefix in region's store. */
static int add_delete_job(struct fsm *f,
                          int kind,
                          const char *region,
                          const char *store,
                          const char *prefix,
                          const char *backup_id,
                          const char *actor,
                          uint64_t now,
                          uint64_t *id)
{
    struct fsm_job t;

    t = job_template(f, kind, region, store, now, actor);
    t.backup_id = (char *)backup_id;
    t.prefix = (char *)prefix;
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    *id = t.id;
    return DR_OK;
}

/* Region's copy of backup id, for changing it; NULL when either is gone. */
static struct fsm_copy *copy_of(struct fsm *f,
                                const char *id,
                                const char *region,
                                struct fsm_backup **bp)
{
    struct fsm_backup *b = (struct fsm_backup *)fsm_backup_get(f, id);

    if (bp != NULL) {
        *bp = b;
    }
    return b != NULL ? (struct fsm_copy *)fsm_copy_get(b, region) : NULL;
}

/* A replicate attempt failed: the copy says why; with no attempts left it
 * is failed (and started again after replication.retry_s). */
static int replica_failed(struct fsm *f,
                          const struct fsm_job *j,
                          const char *error,
                          uint64_t now)
{
    struct fsm_backup *b;
    struct fsm_copy *c = copy_of(f, j->backup_id, j->region, &b);

    if (c == NULL || c->state != FSM_COPY_COPYING || c->job_id != j->id) {
        return DR_OK; /* deleted meanwhile */
    }
    if (fsm__set_str(&c->error, error) != DR_OK) {
        return DR_ENOMEM;
    }
    c->failures++;
    if (j->state == FSM_JOB_FAILED) {
        c->state = FSM_COPY_FAILED;
        c->changed_ms = now;
        c->job_id = 0;
    }
    return DR_OK;
}

/* An attempt ended without success: retry after a back-off, or fail. */
static int attempt_failed(struct fsm *f,
                          struct fsm_job *j,
                          const char *error,
                          uint64_t now,
                          const char *actor)
{
    char region[FSM_NAME_MAX + 1], store[FSM_ADDR_MAX + 1];
    char prefix[1100], backup_id[128];
    bool cleanup = j->kind == FSM_JOB_BACKUP && j->prefix[0] != '\0';
    int rv;
    uint64_t backoff, id;
    /* Doubling from the first attempt's back-off; attempt 0 (nothing
     * claimed it) counts as the first. */
    unsigned shift = j->attempt < 1 ? 0 : j->attempt < 7 ? j->attempt - 1 : 6;

    if (fsm__set_str(&j->error, error) != DR_OK) {
        return DR_ENOMEM;
    }
    j->updated_ms = now;
    j->owner = 0;
    j->lease_expires_ms = 0;
    if (j->attempt >= j->max_attempts && j->kind != FSM_JOB_WAL_STREAM) {
        fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_FAILED);
    } else {
        backoff = (uint64_t)JOB_BACKOFF_BASE_MS << shift;
        if (backoff > JOB_BACKOFF_MAX_MS) {
            backoff = JOB_BACKOFF_MAX_MS;
        }
        if (j->kind == FSM_JOB_WAL_STREAM) {
            /* Every second without a stream adds to the RPO: retry soon,
             * but not so often that a server down for hours floods the
             * history. */
            backoff = (uint64_t)STREAM_BACKOFF_BASE_MS << shift;
            if (backoff > STREAM_BACKOFF_MAX_MS) {
                backoff = STREAM_BACKOFF_MAX_MS;
            }
        }
        fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_PENDING);
        j->not_before_ms = now + backoff;
    }
    fsm__audit_add(f, now, actor, "job-attempt-failed",
                   "job %llu (%s%s%s) attempt %u: %s%s",
                   (unsigned long long)j->id, fsm_job_kind_name(j->kind),
                   j->backup_id[0] != '\0' ? " " : "", j->backup_id,
                   (unsigned)j->attempt, error,
                   j->state == FSM_JOB_FAILED ? " (no attempts left)" : "");
    if (j->kind == FSM_JOB_DRILL && j->state == FSM_JOB_FAILED) {
        return fsm__drill_job_done(f, j, false, NULL, error, now, actor);
    }
    if (j->kind == FSM_JOB_RESTORE && j->state == FSM_JOB_FAILED) {
        return fsm__runbook_job_done(f, j, false, NULL, error, now, actor);
    }
    if (j->kind == FSM_JOB_REPLICATE) {
        /* A next attempt writes the same keys over what this one left; the
         * last one's leftovers are removed by a cleanup job. */
        if ((rv = replica_failed(f, j, error, now)) != DR_OK) {
            return rv;
        }
        cleanup = j->state == FSM_JOB_FAILED;
    }
    if (!cleanup) {
        return DR_OK;
    }
    /* The attempt's objects are orphans now: a cleanup job removes them.
     * Copy what it needs first: adding a job may move the table. */
    snprintf(region, sizeof(region), "%s", j->region);
    snprintf(store, sizeof(store), "%s", j->store);
    snprintf(prefix, sizeof(prefix), "%s", j->prefix);
    snprintf(backup_id, sizeof(backup_id), "%s", j->backup_id);
    return add_delete_job(f, FSM_JOB_CLEANUP, region, store, prefix, backup_id,
                          actor, now, &id);
}

static int finish_backup(struct fsm *f,
                         struct fsm_job *j,
                         const struct fsm_backup *in,
                         uint64_t now)
{
    struct fsm_backup b, copy, *grown;
    struct fsm_copy origin;
    int found;
    size_t pos;

    memset(&b, 0, sizeof(b));
    b.id = j->backup_id;
    b.kind = j->backup_kind;
    b.origin_region = j->region;
    b.created_ms = now;
    b.snapshot_ms = in->snapshot_ms != 0 ? in->snapshot_ms : now;
    b.stored_bytes = in->stored_bytes;
    b.raw_bytes = in->raw_bytes;
    b.store = j->store;
    b.prefix = j->prefix;
    b.manifest_key = in->manifest_key;
    b.manifest_sha256 = in->manifest_sha256;
    b.state = FSM_BACKUP_COMPLETE;
    b.verify_error = (char *)"";
    b.job_id = j->id;
    b.detail = in->detail != NULL ? in->detail : (char *)"";
    /* The origin's copy: every object was hashed as it was written. */
    memset(&origin, 0, sizeof(origin));
    origin.region = j->region;
    origin.store = j->store;
    origin.prefix = j->prefix;
    origin.state = FSM_COPY_VERIFIED;
    origin.verified_ms = origin.changed_ms = now;
    origin.bytes = in->stored_bytes;
    origin.source_region = (char *)"";
    origin.error = (char *)"";
    b.copies = &origin;
    b.n_copies = 1;
    pos = backup_pos(f, b.id, &found);
    if (found) { /* ids are unique per job; a second finish is refused */
        return DR_OK;
    }
    grown = realloc(f->backups, (f->n_backups + 1) * sizeof(*f->backups));
    if (grown == NULL) {
        return DR_ENOMEM;
    }
    f->backups = grown;
    if (fsm_backup_copy(&copy, &b) != DR_OK) {
        return DR_ENOMEM;
    }
    memmove(&f->backups[pos + 1], &f->backups[pos],
            (f->n_backups - pos) * sizeof(*f->backups));
    f->backups[pos] = copy;
    f->n_backups++;
    return DR_OK;
}

static void backup_remove(struct fsm *f, const char *id)
{
    int found;
    size_t pos = backup_pos(f, id, &found);

    if (!found) {
        return;
    }
    fsm_backup_free(&f->backups[pos]);
    memmove(&f->backups[pos], &f->backups[pos + 1],
            (f->n_backups - pos - 1) * sizeof(*f->backups));
    f->n_backups--;
}

/* A delete job of region ended: that copy is gone, and the backup with
 * its last copy. */
static void copy_deleted(struct fsm *f, const struct fsm_job *j)
{
    struct fsm_backup *b;
    struct fsm_copy *c = copy_of(f, j->backup_id, j->region, &b);

    if (b == NULL) {
        return;
    }
    if (c != NULL) {
        size_t i = (size_t)(c - b->copies);
        fsm__copy_free(c);
        memmove(&b->copies[i], &b->copies[i + 1],
                (b->n_copies - i - 1) * sizeof(*b->copies));
        b->n_copies--;
    }
    for (size_t i = 0; i < b->n_copies; i++) {
        if (b->copies[i].state == FSM_COPY_DELETING) {
            return; /* other regions still delete theirs */
        }
    }
    backup_remove(f, j->backup_id);
}

/* Make (or restart) region's copy of b, made by job job_id. */
static int copy_start(struct fsm_backup *b,
                      const struct fsm_region *r,
                      uint64_t job_id,
                      uint64_t now)
{
    struct fsm_copy *c = (struct fsm_copy *)fsm_copy_get(b, r->name), t;

    if (c == NULL) {
        struct fsm_copy *grown =
            realloc(b->copies, (b->n_copies + 1) * sizeof(*b->copies));
        if (grown == NULL) {
            return DR_ENOMEM;
        }
        b->copies = grown;
        memset(&t, 0, sizeof(t));
        t.region = r->name;
        t.store = r->object_store;
        t.prefix = b->prefix;
        t.source_region = (char *)"";
        t.error = (char *)"";
        if (fsm__copies_dup(&c, &t, 1) != DR_OK) {
            return DR_ENOMEM;
        }
        b->copies[b->n_copies++] = *c;
        free(c);
        c = &b->copies[b->n_copies - 1];
    } else if (fsm__set_str(&c->store, r->object_store) != DR_OK ||
               fsm__set_str(&c->error, "") != DR_OK) {
        return DR_ENOMEM;
    }
    c->state = FSM_COPY_COPYING;
    c->changed_ms = now;
    c->verified_ms = 0;
    c->job_id = job_id;
    return DR_OK;
}

static int mutate_create_replica(struct fsm *f,
                                 const struct fsm_cmd *cmd,
                                 uint64_t now,
                                 struct fsm_result *res)
{
    const struct fsm_cmd_job *c = &cmd->u.job;
    struct fsm_backup *b = (struct fsm_backup *)fsm_backup_get(f, c->backup_id);
    const struct fsm_region *r = fsm_region_get(f, c->region);
    struct fsm_job t;

    t = job_template(f, FSM_JOB_REPLICATE, r->name, r->object_store, now,
                     cmd->actor);
    t.backup_kind = b->kind;
    t.backup_id = b->id;
    t.prefix = b->prefix;
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    /* Adding the job may have forgotten an old one, never a backup. */
    if (copy_start(b, r, t.id, now) != DR_OK) {
        return DR_ENOMEM;
    }
    res->job_id = t.id;
    fsm__audit_add(f, now, cmd->actor, "copy-scheduled",
                   "job %llu: copy %s to region %s", (unsigned long long)t.id,
                   b->id, r->name);
    return DR_OK;
}

/* Delete every copy of a backup: one delete job per region holding one;
 * pending copies are called off. */
static int mutate_backup_delete(struct fsm *f,
                                const struct fsm_cmd *cmd,
                                uint64_t now,
                                struct fsm_result *res)
{
    const char *actor = cmd->actor != NULL ? cmd->actor : "";
    struct fsm_backup *b =
        (struct fsm_backup *)fsm_backup_get(f, cmd->u.backup_id);
    char id[128];
    size_t n;
    int rv;

    snprintf(id, sizeof(id), "%s", b->id);
    b->state = FSM_BACKUP_DELETING;
    fsm__audit_add(f, now, cmd->actor, "backup-delete", "%s", id);
    for (size_t i = 0; i < f->n_jobs; i++) {
        struct fsm_job *j = &f->jobs[i];
        if (j->kind == FSM_JOB_REPLICATE && j->state == FSM_JOB_PENDING &&
            strcmp(j->backup_id, id) == 0) {
            if (fsm__set_str(&j->error, "backup deleted") != DR_OK) {
                return DR_ENOMEM;
            }
            fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_FAILED);
            j->updated_ms = now;
        }
    }
    n = b->n_copies;
    if (n == 0) { /* a backup from before copies: its origin's objects */
        return add_delete_job(f, FSM_JOB_DELETE, b->origin_region, b->store,
                              b->prefix, id, actor, now, &res->job_id);
    }
    for (size_t i = 0; i < n; i++) {
        char region[FSM_NAME_MAX + 1], store[FSM_ADDR_MAX + 1], prefix[1100];
        uint64_t job_id;

        /* Adding a job never moves the catalog, but look b up again. */
        b = (struct fsm_backup *)fsm_backup_get(f, id);
        b->copies[i].state = FSM_COPY_DELETING;
        b->copies[i].changed_ms = now;
        snprintf(region, sizeof(region), "%s", b->copies[i].region);
        snprintf(store, sizeof(store), "%s", b->copies[i].store);
        snprintf(prefix, sizeof(prefix), "%s", b->copies[i].prefix);
        rv = add_delete_job(f, FSM_JOB_DELETE, region, store, prefix, id, actor,
                            now, &job_id);
        if (rv != DR_OK) {
            return rv;
        }
        if (i == 0) {
            res->job_id = job_id;
        }
    }
    return DR_OK;
}

static int mutate_verified(struct fsm *f,
                           const struct fsm_cmd *cmd,
                           uint64_t now)
{
    const struct fsm_cmd_backup_verified *v = &cmd->u.verified;
    struct fsm_backup *b = (struct fsm_backup *)fsm_backup_get(f, v->id);
    const char *region = v->region != NULL && v->region[0] != '\0'
                             ? v->region
                             : b->origin_region;
    struct fsm_copy *c = (struct fsm_copy *)fsm_copy_get(b, region);

    if (fsm__set_str(&b->verify_error, v->ok ? "" : v->error) != DR_OK) {
        return DR_ENOMEM;
    }
    b->verified_ms = now;
    b->verify_ok = v->ok;
    if (c != NULL && c->state != FSM_COPY_DELETING) {
        if (fsm__set_str(&c->error, v->ok ? "" : v->error) != DR_OK) {
            return DR_ENOMEM;
        }
        if (v->ok) {
            c->verified_ms = now;
            if (c->state != FSM_COPY_VERIFIED) {
                c->state = FSM_COPY_VERIFIED;
                c->changed_ms = now;
            }
        } else {
            /* A bad copy is never restored; the leader copies it again
             * from a good one. */
            c->state = FSM_COPY_FAILED;
            c->changed_ms = now;
            c->failures++;
        }
    }
    fsm__audit_add(f, now, cmd->actor, "backup-verified", "%s in %s: %s%s%s",
                   b->id, region, v->ok ? "ok" : "FAILED", v->ok ? "" : ": ",
                   v->ok ? "" : (v->error ? v->error : ""));
    return DR_OK;
}

/* A replicate job succeeded: its copy is verified (the worker checked
 * every object against the manifest and wrote the manifest last). */
static int replica_done(struct fsm *f,
                        const struct fsm_job *j,
                        const struct fsm_copy *in,
                        uint64_t now,
                        const char *actor)
{
    struct fsm_copy *c = copy_of(f, j->backup_id, j->region, NULL);

    if (c == NULL || c->state != FSM_COPY_COPYING || c->job_id != j->id) {
        return DR_OK; /* the backup is being deleted */
    }
    if (fsm__set_str(&c->source_region,
                     in->source_region != NULL ? in->source_region : "") !=
            DR_OK ||
        fsm__set_str(&c->error, "") != DR_OK) {
        return DR_ENOMEM;
    }
    c->state = FSM_COPY_VERIFIED;
    c->verified_ms = c->changed_ms = now;
    c->bytes = in->bytes;
    c->objects = in->objects;
    c->copy_ms = in->copy_ms;
    c->job_id = 0;
    fsm__audit_add(f, now, actor, "backup-copied",
                   "%s to %s from %s: %llu bytes in %llu ms", j->backup_id,
                   j->region, c->source_region, (unsigned long long)in->bytes,
                   (unsigned long long)in->copy_ms);
    return DR_OK;
}

void fsm__wal_stream_close(struct fsm *f,
                           const char *keep_region,
                           const char *why,
                           uint64_t now,
                           const char *actor)
{
    for (size_t i = 0; i < f->n_jobs; i++) {
        struct fsm_job *j = &f->jobs[i];
        if (j->kind != FSM_JOB_WAL_STREAM ||
            (j->state != FSM_JOB_PENDING && j->state != FSM_JOB_RUNNING) ||
            (keep_region != NULL && strcmp(j->region, keep_region) == 0)) {
            continue;
        }
        /* A running one's worker has its next renewal refused and is
         * stopped; what it streamed stays in the store. A pending one never
         * runs again (nothing skips the claim to become done). */
        fsm_sm_move(
            &fsm_job_sm, &j->state,
            j->state == FSM_JOB_RUNNING ? FSM_JOB_DONE : FSM_JOB_FAILED);
        j->owner = 0;
        j->lease_expires_ms = 0;
        j->updated_ms = now;
        if (fsm__set_str(&j->error, why) != DR_OK) {
            continue; /* the job is done all the same; only the note is lost */
        }
        fsm__audit_add(f, now, actor, "wal-stream-stopped", "job %llu (%s): %s",
                       (unsigned long long)j->id, j->region, why);
    }
}

static int mutate_create_stream(struct fsm *f,
                                const struct fsm_cmd *cmd,
                                const struct fsm_region *r,
                                uint64_t now,
                                struct fsm_result *res)
{
    char why[160];
    struct fsm_job t;

    snprintf(why, sizeof(why), "superseded: the primary region is %.64s",
             r->name);
    fsm__wal_stream_close(f, r->name, why, now,
                          cmd->actor != NULL ? cmd->actor : "");
    t = job_template(f, FSM_JOB_WAL_STREAM, r->name, r->object_store, now,
                     cmd->actor);
    /* Streaming is never given up: a failed attempt backs off and goes
     * on (attempt_failed), from the slot where the last one stopped. */
    t.max_attempts = UINT32_MAX;
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    res->job_id = t.id;
    fsm__audit_add(f, now, cmd->actor, "wal-stream-scheduled",
                   "job %llu: PostgreSQL's WAL of region %s streamed into the "
                   "store",
                   (unsigned long long)t.id, r->name);
    return DR_OK;
}

static int mutate_create(struct fsm *f,
                         const struct fsm_cmd *cmd,
                         uint64_t now,
                         struct fsm_result *res)
{
    const struct fsm_cmd_job *c = &cmd->u.job;
    const char *region = c->region != NULL && c->region[0] != '\0'
                             ? c->region
                             : f->site.primary_region;
    const struct fsm_region *r = fsm_region_get(f, region);
    const struct fsm_job *pending =
        c->kind == FSM_JOB_BACKUP
            ? backup_job_in(f, c->backup_kind, region, FSM_JOB_PENDING)
            : NULL;
    char when[32], backup_id[96];
    struct fsm_job t;

    if (c->kind == FSM_JOB_REPLICATE) {
        return mutate_create_replica(f, cmd, now, res);
    }
    if (c->kind == FSM_JOB_WAL_STREAM) {
        return mutate_create_stream(f, cmd, r, now, res);
    }
    if (c->kind == FSM_JOB_WAL_SCAN) {
        /* One attempt: a scan that fails waits for the next interval. */
        t = job_template(f, FSM_JOB_WAL_SCAN, r->name, r->object_store, now,
                         cmd->actor);
        t.max_attempts = 1;
        if (fsm__job_add(f, &t) == NULL) {
            return DR_ENOMEM;
        }
        res->job_id = t.id;
        return DR_OK;
    }
    if (pending != NULL) {
        /* Joined: nothing changes; the caller waits for that job. */
        res->job_id = pending->id;
        res->joined = true;
        return DR_OK;
    }
    t = job_template(f, FSM_JOB_BACKUP, r->name, r->object_store, now,
                     cmd->actor);
    format_utc(now, when, sizeof(when));
    snprintf(backup_id, sizeof(backup_id), "%s-%s-%llu",
             backup_kind_short[c->backup_kind], when, (unsigned long long)t.id);
    t.backup_kind = c->backup_kind;
    t.backup_id = backup_id;
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    res->job_id = t.id;
    fsm__audit_add(f, now, cmd->actor, "backup-scheduled",
                   "job %llu: %s backup %s of region %s",
                   (unsigned long long)t.id,
                   fsm_backup_kind_name(c->backup_kind), backup_id, region);
    return DR_OK;
}

int fsm__catalog_mutate(struct fsm *f,
                        const struct fsm_cmd *cmd,
                        uint64_t now,
                        struct fsm_result *res)
{
    const struct fsm_cmd_job *c = &cmd->u.job;
    struct fsm_job *j;
    int found;
    size_t pos;

    switch (cmd->type) {
        case FSM_CMD_JOB_CREATE:
            return mutate_create(f, cmd, now, res);
        case FSM_CMD_BACKUP_DELETE:
            return mutate_backup_delete(f, cmd, now, res);
        case FSM_CMD_BACKUP_VERIFIED:
            return mutate_verified(f, cmd, now);
        default:
            break;
    }
    pos = job_pos(f, c->job_id, &found);
    j = &f->jobs[pos];
    switch (cmd->type) {
        case FSM_CMD_JOB_CLAIM:
            fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_RUNNING);
            j->owner = c->node;
            j->attempt++;
            j->lease_expires_ms = now + c->lease_ms;
            j->updated_ms = now;
            if (j->kind == FSM_JOB_BACKUP) {
                char prefix[256];
                /* Each attempt writes under its own prefix, so a late
                 * writer from an earlier attempt never mixes in. */
                snprintf(prefix, sizeof(prefix), "backups/%s/%u", j->backup_id,
                         (unsigned)j->attempt);
                if (fsm__set_str(&j->prefix, prefix) != DR_OK) {
                    return DR_ENOMEM;
                }
            }
            res->attempt = j->attempt;
            res->lease_expires_ms = j->lease_expires_ms;
            res->job_id = j->id;
            return DR_OK;
        case FSM_CMD_JOB_RENEW:
            j->lease_expires_ms = now + c->lease_ms;
            j->updated_ms = now;
            res->attempt = j->attempt;
            res->lease_expires_ms = j->lease_expires_ms;
            return c->phase != 0
                       ? fsm__runbook_phase_done(
                             f, j, c, now, cmd->actor != NULL ? cmd->actor : "")
                       : DR_OK;
        case FSM_CMD_JOB_EXPIRE: {
            char why[160];
            snprintf(why, sizeof(why),
                     "lease expired: node %llu stopped renewing attempt %u",
                     (unsigned long long)j->owner, (unsigned)j->attempt);
            return attempt_failed(f, j, why, now,
                                  cmd->actor != NULL ? cmd->actor : "");
        }
        case FSM_CMD_JOB_FINISH:
            if (!c->ok) {
                return attempt_failed(f, j, c->error, now,
                                      cmd->actor != NULL ? cmd->actor : "");
            }
            fsm_sm_move(&fsm_job_sm, &j->state, FSM_JOB_DONE);
            j->updated_ms = now;
            j->owner = 0;
            j->lease_expires_ms = 0;
            if (fsm__set_str(&j->error, "") != DR_OK) {
                return DR_ENOMEM;
            }
            if (j->kind == FSM_JOB_BACKUP) {
                if (finish_backup(f, j, &c->backup, now) != DR_OK) {
                    return DR_ENOMEM;
                }
                fsm__audit_add(f, now, cmd->actor, "backup-complete",
                               "%s: %llu bytes stored, manifest %s",
                               j->backup_id,
                               (unsigned long long)c->backup.stored_bytes,
                               c->backup.manifest_key);
            } else if (j->kind == FSM_JOB_DELETE) {
                fsm__audit_add(f, now, cmd->actor, "backup-deleted", "%s in %s",
                               j->backup_id, j->region);
                copy_deleted(f, j);
            } else if (j->kind == FSM_JOB_REPLICATE) {
                return replica_done(f, j, &c->copy, now,
                                    cmd->actor != NULL ? cmd->actor : "");
            } else if (j->kind == FSM_JOB_DRILL) {
                return fsm__drill_job_done(
                    f, j, true, c, c->error, now,
                    cmd->actor != NULL ? cmd->actor : "");
            } else if (j->kind == FSM_JOB_RESTORE) {
                return fsm__runbook_job_done(
                    f, j, true, c, c->error, now,
                    cmd->actor != NULL ? cmd->actor : "");
            } else if (j->kind == FSM_JOB_WAL_SCAN) {
                return fsm__wal_scan_done(f, j, &c->wal, now);
            }
            return DR_OK;
        default:
            break;
    }
    return DR_EINVAL;
}
