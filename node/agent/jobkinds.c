/* The job kinds a worker runs (jobkinds.h): for each, which nodes can run
 * it, the spec of its `drnode --run-job` child (ops in backup/job.h), and
 * what of the child's result the finish command carries. */
#include "agent/jobkinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A spec that reads or writes the job's store. */
static json_t *store_spec(const struct config *c,
                          const struct fsm_job *j,
                          const char *op)
{
    json_t *spec = json_object();
    json_object_set_new(spec, "op", json_string(op));
    json_object_set_new(spec, "store", json_string(j->store));
    if (c->store_credentials[0] != '\0') {
        json_object_set_new(spec, "credentials_file",
                            json_string(c->store_credentials));
    }
    return spec;
}

/* The cluster's redis.method, into spec under key. */
static void redis_method(json_t *spec, const struct fsm *f, const char *key)
{
    const struct fsm_value *m = fsm_setting(f, "redis.method");

    json_object_set_new(spec, key,
                        json_string(m != NULL && m->s != NULL ? m->s : "auto"));
}

/* Backups: this node's PostgreSQL or Redis into the region's store. */
static bool backup_can_run(const struct config *c, const struct fsm_job *j)
{
    return j->backup_kind == FSM_BACKUP_REDIS ? c->redis_address[0] != '\0'
                                              : c->pg_conninfo[0] != '\0';
}

/* Where this node's WAL archive is, as wal-push finds it: [services]
 * wal_store, else the region's object store in this file, else the job's
 * ("" when none). */
static const char *wal_store_url(const struct config *c,
                                 const struct fsm_job *j)
{
    const char *region = config_region_store(c, c->region);

    return c->wal_store[0] != '\0' ? c->wal_store
           : region != NULL        ? region
                                   : j->store;
}

/* The WAL archive into o's "store", and the regions wal_copies names into
 * "copies" (URLs). */
static void wal_stores(json_t *o,
                       const struct config *c,
                       const struct fsm_job *j)
{
    const char *store = wal_store_url(c, j);

    json_object_set_new(o, "store", json_string(store));
    if (c->n_wal_copies > 0) {
        json_t *copies = json_array();
        for (size_t i = 0; i < c->n_wal_copies; i++) {
            const char *url = config_region_store(c, c->wal_copy_regions[i]);
            if (url != NULL) {
                json_array_append_new(copies, json_string(url));
            }
        }
        json_object_set_new(o, "copies", copies);
    }
}

/* A base backup expires the WAL no base backup needs any more: where the
 * archive is (as wal-push finds it) and the catalog's base backups. */
static void base_wal_expire(json_t *spec,
                            const struct config *c,
                            const struct fsm *f,
                            const struct fsm_job *j)
{
    json_t *ex = json_object(), *bases = json_array();

    for (size_t i = 0; i < f->n_backups; i++) {
        const struct fsm_backup *b = &f->backups[i];
        json_t *d;
        if (b->kind != FSM_BACKUP_PG_BASE || b->state != FSM_BACKUP_COMPLETE ||
            b->detail == NULL) {
            continue;
        }
        d = json_loads(b->detail, 0, NULL);
        if (json_is_string(json_object_get(d, "system_identifier")) &&
            json_is_string(json_object_get(d, "start_lsn"))) {
            json_array_append_new(
                bases, json_pack("{sO sO}", "system_identifier",
                                 json_object_get(d, "system_identifier"),
                                 "start_lsn", json_object_get(d, "start_lsn")));
        }
        json_decref(d);
    }
    wal_stores(ex, c, j);
    json_object_set_new(ex, "bases", bases);
    json_object_set_new(spec, "wal_expire", ex);
}

static json_t *backup_spec(const struct config *c,
                           const struct fsm *f,
                           const struct fsm_job *j)
{
    bool pg = j->backup_kind == FSM_BACKUP_PG_LOGICAL;
    json_t *spec =
        store_spec(c, j,
                   j->backup_kind == FSM_BACKUP_PG_BASE ? "pg_base_backup"
                   : pg                                 ? "pg_backup"
                                                        : "redis_backup");

    json_object_set_new(spec, "prefix", json_string(j->prefix));
    if (j->backup_kind == FSM_BACKUP_PG_BASE) {
        json_object_set_new(spec, "pg", json_string(c->pg_conninfo));
        base_wal_expire(spec, c, f, j);
    } else if (pg) {
        json_object_set_new(spec, "pg", json_string(c->pg_conninfo));
        json_object_set_new(spec, "parallel",
                            json_integer((json_int_t)c->job_parallel));
    } else {
        json_object_set_new(spec, "redis", json_string(c->redis_address));
        redis_method(spec, f, "method");
        if (c->redis_password_file[0] != '\0') {
            json_object_set_new(spec, "redis_password_file",
                                json_string(c->redis_password_file));
        }
    }
    return spec;
}

/* The result's full text, when small, for the catalog's detail. */
void agent_job_detail(json_t *o, const json_t *res)
{
    char *detail = json_dumps(res, JSON_COMPACT);
    if (detail != NULL && strlen(detail) < 4000) {
        json_object_set_new(o, "detail", json_string(detail));
    }
    free(detail);
}

static void backup_finish(json_t *body, const json_t *res)
{
    json_t *b = json_object();
    json_object_set(b, "manifest_key", json_object_get(res, "manifest_key"));
    json_object_set(b, "manifest_sha256",
                    json_object_get(res, "manifest_sha256"));
    json_object_set(b, "stored_bytes", json_object_get(res, "stored_bytes"));
    json_object_set(b, "raw_bytes", json_object_get(res, "raw_bytes"));
    if (json_integer_value(json_object_get(res, "snapshot_time_ms")) > 0) {
        json_object_set(b, "snapshot_ms",
                        json_object_get(res, "snapshot_time_ms"));
    }
    agent_job_detail(b, res);
    json_object_set_new(body, "backup", b);
}

/* Deletes and cleanups: every object under the job's prefix. */
static bool store_can_run(const struct config *c, const struct fsm_job *j)
{
    (void)c;
    (void)j;
    return true; /* the store is all they need */
}

static json_t *delete_spec(const struct config *c,
                           const struct fsm *f,
                           const struct fsm_job *j)
{
    json_t *spec = store_spec(c, j, "store_delete");
    char prefix[1200];

    (void)f;
    /* The trailing slash keeps attempt 1 from matching attempt 10. */
    snprintf(prefix, sizeof(prefix), "%s/", j->prefix);
    json_object_set_new(spec, "prefix", json_string(prefix));
    return spec;
}

/* A backup of a drill: where its objects live, to be checked there. */
static void drill_backup(json_t *spec,
                         const char *key,
                         const struct fsm *f,
                         const char *id,
                         const struct config *c,
                         const char *region)
{
    const struct fsm_backup *b = id[0] != '\0' ? fsm_backup_get(f, id) : NULL;
    const struct fsm_copy *cp = NULL;
    json_t *o;

    if (id[0] == '\0') {
        return; /* the drill has no backup of this kind */
    }
    if (b != NULL) {
        /* The drill's region's own copy when it is verified. */
        cp = fsm_copy_pick(f, b, region, NULL);
    }
    if (b == NULL || b->state != FSM_BACKUP_COMPLETE || cp == NULL) {
        /* Deleted since the drill started: the job reports it. */
        json_t *m = json_object_get(spec, "missing");
        if (m == NULL) {
            m = json_array();
            json_object_set_new(spec, "missing", m);
        }
        json_array_append_new(m, json_string(id));
        return;
    }
    o = json_object();
    json_object_set_new(o, "backup_id", json_string(b->id));
    json_object_set_new(o, "store", json_string(cp->store));
    json_object_set_new(o, "copy_region", json_string(cp->region));
    json_object_set_new(o, "manifest_key", json_string(b->manifest_key));
    json_object_set_new(o, "manifest_sha256", json_string(b->manifest_sha256));
    json_object_set_new(o, "snapshot_ms",
                        json_integer((json_int_t)b->snapshot_ms));
    if (c->store_credentials[0] != '\0') {
        json_object_set_new(o, "credentials_file",
                            json_string(c->store_credentials));
    }
    json_object_set_new(spec, key, o);
}

/* Where a base backup's drill replays WAL from (into part, its spec):
 * this region's store (its
 * copies, with wal_copies), then the origin's (where its PostgreSQL
 * archives by default); the restore takes the first that holds the
 * backup's WAL. drctl restore --pitr picks the same two. */
static void drill_wal_stores(json_t *part,
                             const struct fsm *f,
                             const char *backup_id,
                             const char *region)
{
    const struct fsm_backup *b = fsm_backup_get(f, backup_id);
    const char *want[2] = {region, b != NULL ? b->origin_region : NULL};
    json_t *stores = json_array();

    for (size_t k = 0; k < 2; k++) {
        const struct fsm_region *r =
            want[k] != NULL ? fsm_region_get(f, want[k]) : NULL;
        if (r != NULL && r->object_store[0] != '\0' &&
            (k == 0 || strcmp(want[0], want[1]) != 0)) {
            json_array_append_new(stores, json_string(r->object_store));
        }
    }
    if (json_array_size(stores) > 0) {
        json_object_set_new(part, "wal_stores", stores);
    } else {
        json_decref(stores); /* the job says it cannot tell */
    }
}

/* A restore drill: the drill's backups into this region's scratch
 * databases (a scratch PostgreSQL database the job creates; the Redis db
 * the operator named in [services] drill_redis_db, else objects only). */
static json_t *drill_spec(const struct config *c,
                          const struct fsm *f,
                          const struct fsm_job *j)
{
    const struct fsm_drill *d = fsm_drill_get(f, j->drill_id);
    json_t *spec = json_object();

    json_object_set_new(spec, "op", json_string("drill_restore"));
    json_object_set_new(spec, "drill_id",
                        json_integer((json_int_t)j->drill_id));
    if (d != NULL) {
        drill_backup(spec, "pg", f, d->pg_backup, c, j->region);
        drill_backup(spec, "redis", f, d->redis_backup, c, j->region);
        drill_backup(spec, "pg_base", f, d->pg_base_backup, c, j->region);
    }
    if (d != NULL && c->drill_pgdata[0] != '\0' &&
        json_is_object(json_object_get(spec, "pg_base"))) {
        drill_wal_stores(json_object_get(spec, "pg_base"), f, d->pg_base_backup,
                         j->region);
        json_object_set_new(spec, "scratch_dir", json_string(c->drill_pgdata));
    }
    if (c->pg_conninfo[0] != '\0') {
        json_object_set_new(spec, "pg_server", json_string(c->pg_conninfo));
        json_object_set_new(spec, "parallel",
                            json_integer((json_int_t)c->job_parallel));
    }
    if (c->redis_address[0] != '\0' && c->drill_redis_db >= 0) {
        json_object_set_new(spec, "redis_server",
                            json_string(c->redis_address));
        json_object_set_new(spec, "redis_db",
                            json_integer((json_int_t)c->drill_redis_db));
        if (c->redis_password_file[0] != '\0') {
            json_object_set_new(spec, "redis_password_file",
                                json_string(c->redis_password_file));
        }
        redis_method(spec, f, "redis_method");
    }
    return spec;
}

static void drill_finish(json_t *body, const json_t *res)
{
    /* The drill ran; whether its checks passed is its own verdict. */
    json_t *dr = json_object();
    const char *derr = json_string_value(json_object_get(res, "error"));
    bool passed = json_is_true(json_object_get(res, "ok"));

    json_object_set_new(dr, "ok", json_boolean(passed));
    json_object_set(dr, "rto_ms", json_object_get(res, "rto_ms"));
    if (json_integer_value(json_object_get(res, "restore_point_ms")) > 0) {
        /* A promoted standby: the data it brings is newer than the
         * backup's (the runbook's RPO counts from it); a drill's base
         * backup replayed with the WAL archive: the point it reached. */
        json_object_set(dr, "restore_point_ms",
                        json_object_get(res, "restore_point_ms"));
    }
    if (!passed) {
        char e[600];
        snprintf(e, sizeof(e), "%s",
                 derr != NULL ? derr : "drill checks failed");
        json_object_set_new(dr, "error", json_string(e));
    }
    agent_job_detail(dr, res);
    json_object_set_new(body, "drill", dr);
}

static bool drill_can_run(const struct config *c, const struct fsm_job *j)
{
    (void)c;
    (void)j;
    return true; /* without services it checks the objects only */
}

/* A restore drill of a base backup replays it only on a node with [services]
 * drill_pgdata; elsewhere it checks the objects. In a region where one node
 * has it, that node should run the drill, whichever node looks first. */
static bool drill_lacks(const struct config *c,
                        const struct fsm *f,
                        const struct fsm_job *j,
                        char *why,
                        size_t size)
{
    const struct fsm_drill *d = fsm_drill_get(f, j->drill_id);

    if (d == NULL || d->pg_base_backup == NULL ||
        d->pg_base_backup[0] == '\0' || c->drill_pgdata[0] != '\0') {
        return false;
    }
    snprintf(why, size,
             "no [services] drill_pgdata to replay base backup %s (this node "
             "would check its objects only)",
             d->pg_base_backup);
    return true;
}

/* A copy of a backup into this region: from the origin's verified copy,
 * else from the other verified copies, highest-priority region first. */
static json_t *replicate_spec(const struct config *c,
                              const struct fsm *f,
                              const struct fsm_job *j)
{
    const struct fsm_backup *b = fsm_backup_get(f, j->backup_id);
    json_t *spec = store_spec(c, j, "replicate"), *sources = json_array();
    int64_t bps = fsm_setting_int(f, "replication.bandwidth_bps");
    int64_t slots = fsm_setting_int(f, "replication.max_concurrent");
    const struct fsm_copy *order[FSM_REGIONS_MAX];
    size_t n = 0;

    json_object_set_new(spec, "backup_id", json_string(j->backup_id));
    json_object_set_new(spec, "kind",
                        json_string(fsm_backup_kind_name(j->backup_kind)));
    json_object_set_new(spec, "prefix", json_string(j->prefix));
    json_object_set_new(spec, "parallel",
                        json_integer((json_int_t)c->job_parallel));
    /* The region's limit is shared by the copies it may run at once. */
    json_object_set_new(
        spec, "bandwidth_bps",
        json_integer((json_int_t)(bps > 0 ? (bps + slots - 1) / slots : 0)));
    if (b != NULL) {
        json_object_set_new(spec, "manifest_key", json_string(b->manifest_key));
        json_object_set_new(spec, "manifest_sha256",
                            json_string(b->manifest_sha256));
        for (size_t i = 0; i < b->n_copies && n < FSM_REGIONS_MAX; i++) {
            const struct fsm_copy *cp = &b->copies[i];
            const struct fsm_region *r = fsm_region_get(f, cp->region);
            size_t k;
            if (cp->state != FSM_COPY_VERIFIED ||
                strcmp(cp->region, j->region) == 0) {
                continue;
            }
            /* Origin first, then by priority (insertion keeps it stable). */
            for (k = n; k > 0; k--) {
                const struct fsm_copy *o = order[k - 1];
                const struct fsm_region *orr = fsm_region_get(f, o->region);
                bool before = strcmp(cp->region, b->origin_region) == 0 ||
                              (strcmp(o->region, b->origin_region) != 0 &&
                               (r != NULL ? r->priority : INT32_MIN) >
                                   (orr != NULL ? orr->priority : INT32_MIN));
                if (!before) {
                    break;
                }
                order[k] = o;
            }
            order[k] = cp;
            n++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            sources, json_pack("{ss ss}", "region", order[i]->region, "store",
                               order[i]->store));
    }
    json_object_set_new(spec, "sources", sources);
    return spec;
}

static void replicate_finish(json_t *body, const json_t *res)
{
    json_t *c = json_object();
    json_object_set(c, "bytes", json_object_get(res, "bytes"));
    json_object_set(c, "objects", json_object_get(res, "objects"));
    json_object_set(c, "copy_ms", json_object_get(res, "copy_ms"));
    json_object_set(c, "source_region", json_object_get(res, "source_region"));
    json_object_set_new(body, "copy", c);
}

/* The failover runbook's restore: the restore point's backups, from this
 * region's own copies, into this region's live databases, checked, then
 * the activate hook. */
static json_t *restore_spec(const struct config *c,
                            const struct fsm *f,
                            const struct fsm_job *j)
{
    const struct fsm_runbook *rb = &f->site.runbook;
    json_t *spec = json_object();

    json_object_set_new(spec, "op", json_string("failover_restore"));
    json_object_set_new(spec, "epoch", json_integer((json_int_t)j->drill_id));
    json_object_set_new(spec, "region", json_string(j->region));
    if (rb->epoch == j->drill_id) {
        drill_backup(spec, "pg", f, rb->pg_backup, c, j->region);
        drill_backup(spec, "redis", f, rb->redis_backup, c, j->region);
    }
    if (rb->epoch == j->drill_id && rb->job_id == j->id &&
        (rb->step == FSM_RB_VERIFY || rb->step == FSM_RB_ACTIVATE)) {
        /* An earlier attempt's restore (and verify) are committed: this
         * one starts after them, and knows from the restore's report
         * whether PostgreSQL came from the promoted standby. */
        json_t *d = json_loads(rb->detail != NULL ? rb->detail : "", 0, NULL);
        const char *path = json_string_value(json_object_get(d, "pg_path"));
        json_object_set_new(
            spec, "from_step",
            json_string(rb->step == FSM_RB_VERIFY ? "verify" : "activate"));
        json_object_set_new(
            spec, "pg_promoted",
            json_boolean(path != NULL && strcmp(path, "promote") == 0));
        json_decref(d);
    }
    if (c->pg_conninfo[0] != '\0') {
        json_object_set_new(spec, "pg_server", json_string(c->pg_conninfo));
        json_object_set_new(spec, "parallel",
                            json_integer((json_int_t)c->job_parallel));
    }
    if (c->redis_address[0] != '\0') {
        json_object_set_new(spec, "redis_server",
                            json_string(c->redis_address));
        if (c->redis_password_file[0] != '\0') {
            json_object_set_new(spec, "redis_password_file",
                                json_string(c->redis_password_file));
        }
        redis_method(spec, f, "redis_method");
    }
    if (c->pg_standby_conninfo[0] != '\0') {
        /* Promoted instead of a restore when it is recent enough; never
         * in a switchover, whose final backup has every commit. */
        json_object_set_new(spec, "pg_standby",
                            json_string(c->pg_standby_conninfo));
        json_object_set_new(spec, "planned", json_boolean(rb->planned));
        json_object_set_new(
            spec, "max_standby_lag_s",
            json_integer(fsm_setting_int(f, "failover.max_standby_lag_s")));
    }
    if (c->hook_activate[0] != '\0') {
        json_object_set_new(spec, "activate", json_string(c->hook_activate));
    }
    return spec;
}

/* A node restores only what it has the databases for. */
static bool restore_can_run(const struct config *c, const struct fsm_job *j)
{
    (void)j;
    return c->pg_conninfo[0] != '\0' || c->redis_address[0] != '\0' ||
           c->pg_standby_conninfo[0] != '\0';
}

/* The WAL stream: this node's PostgreSQL through a replication slot into
 * the WAL archive, until the lease is refused. */
static bool stream_can_run(const struct config *c, const struct fsm_job *j)
{
    return c->pg_conninfo[0] != '\0' && wal_store_url(c, j)[0] != '\0';
}

static json_t *stream_spec(const struct config *c,
                           const struct fsm *f,
                           const struct fsm_job *j)
{
    json_t *spec = json_object();

    json_object_set_new(spec, "op", json_string("wal_stream"));
    json_object_set_new(spec, "pg", json_string(c->pg_conninfo));
    wal_stores(spec, c, j);
    if (c->store_credentials[0] != '\0') {
        json_object_set_new(spec, "credentials_file",
                            json_string(c->store_credentials));
    }
    json_object_set_new(spec, "flush_ms",
                        json_integer(fsm_setting_int(f, "wal.flush_ms")));
    return spec;
}

/* The WAL catalog: this region's archive (where this node's wal-push and
 * stream write) read by its object names. */
static json_t *scan_spec(const struct config *c,
                         const struct fsm *f,
                         const struct fsm_job *j)
{
    json_t *spec = json_object();

    (void)f;
    json_object_set_new(spec, "op", json_string("wal_scan"));
    json_object_set_new(spec, "store", json_string(wal_store_url(c, j)));
    if (c->store_credentials[0] != '\0') {
        json_object_set_new(spec, "credentials_file",
                            json_string(c->store_credentials));
    }
    return spec;
}

static void scan_finish(json_t *body, const json_t *res)
{
    json_object_set(body, "wal", (json_t *)res);
}

static const struct agent_job_kind kinds[] = {
    {FSM_JOB_BACKUP, "backup", backup_can_run, backup_spec, backup_finish,
     NULL},
    {FSM_JOB_DELETE, "delete", store_can_run, delete_spec, NULL, NULL},
    {FSM_JOB_CLEANUP, "cleanup", store_can_run, delete_spec, NULL, NULL},
    {FSM_JOB_DRILL, "drill", drill_can_run, drill_spec, drill_finish,
     drill_lacks},
    {FSM_JOB_REPLICATE, "replicate", store_can_run, replicate_spec,
     replicate_finish, NULL},
    {FSM_JOB_RESTORE, "restore", restore_can_run, restore_spec, drill_finish,
     NULL},
    {FSM_JOB_WAL_STREAM, "wal_stream", stream_can_run, stream_spec, NULL, NULL},
    {FSM_JOB_WAL_SCAN, "wal_scan", store_can_run, scan_spec, scan_finish, NULL},
};

const struct agent_job_kind *agent_job_kind(int kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].kind == kind) {
            return &kinds[i];
        }
    }
    return NULL;
}
