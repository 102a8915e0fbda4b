/* API routes of the backup catalog and the job table.
 *
 *   GET    /api/backups              the catalog, newest first
 *   POST   /api/backups  {"kind": "pg"|"redis"|"pg_base", "region"?}: a
 *                                    backup job (202)
 *   GET    /api/backups/{id}
 *   DELETE /api/backups/{id}         mark deleting + a delete job (202)
 *   POST   /api/backups/{id}/verified {"ok", "error"?, "region"?}: a
 *                                    verification of one region's copy
 *   GET    /api/jobs, /api/jobs/{id}
 *   POST   /api/jobs/{id}/claim      {"node", "lease_ms"?}
 *   POST   /api/jobs/{id}/renew      {"node", "attempt", "lease_ms"?}
 *   POST   /api/jobs/{id}/finish     {"node", "attempt", "ok", "error"?,
 *                                     "backup"?, "drill"?, "copy"?}
 * The job routes are the workers' side of the lease protocol. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

/* Views. */

static void view_copy(struct jout *j, const struct fsm_copy *c)
{
    jout_begin(j, '{');
    jout_key(j, "region");
    jout_str(j, c->region);
    jout_key(j, "store");
    jout_str(j, c->store);
    jout_key(j, "prefix");
    jout_str(j, c->prefix);
    jout_key(j, "state");
    jout_str(j, fsm_copy_state_name(c->state));
    jout_key(j, "verified_ms");
    jout_uint(j, c->verified_ms);
    jout_key(j, "changed_ms");
    jout_uint(j, c->changed_ms);
    jout_key(j, "bytes");
    jout_uint(j, c->bytes);
    jout_key(j, "objects");
    jout_uint(j, c->objects);
    jout_key(j, "copy_ms");
    jout_uint(j, c->copy_ms);
    jout_key(j, "source_region");
    jout_str(j, c->source_region);
    jout_key(j, "error");
    jout_str(j, c->error);
    jout_key(j, "failures");
    jout_uint(j, c->failures);
    jout_key(j, "job_id");
    jout_uint(j, c->job_id);
    jout_end(j, '}');
}

static void view_backup(struct jout *j,
                        const struct fsm *f,
                        const struct fsm_backup *b)
{
    jout_begin(j, '{');
    jout_key(j, "id");
    jout_str(j, b->id);
    jout_key(j, "kind");
    jout_str(j, fsm_backup_kind_name(b->kind));
    jout_key(j, "origin_region");
    jout_str(j, b->origin_region);
    jout_key(j, "state");
    jout_str(j, fsm_backup_state_name(b->state));
    jout_key(j, "created_ms");
    jout_uint(j, b->created_ms);
    jout_key(j, "snapshot_ms");
    jout_uint(j, b->snapshot_ms);
    jout_key(j, "stored_bytes");
    jout_uint(j, b->stored_bytes);
    jout_key(j, "raw_bytes");
    jout_uint(j, b->raw_bytes);
    jout_key(j, "store");
    jout_str(j, b->store);
    jout_key(j, "prefix");
    jout_str(j, b->prefix);
    jout_key(j, "manifest_key");
    jout_str(j, b->manifest_key);
    jout_key(j, "manifest_sha256");
    jout_str(j, b->manifest_sha256);
    jout_key(j, "verified_ms");
    jout_uint(j, b->verified_ms);
    jout_key(j, "verify_ok");
    jout_bool(j, b->verify_ok);
    jout_key(j, "verify_error");
    jout_str(j, b->verify_error);
    jout_key(j, "job_id");
    jout_uint(j, b->job_id);
    jout_key(j, "detail");
    jout_str(j, b->detail);
    jout_key(j, "safe");
    jout_bool(j, fsm_backup_safe(f, b));
    jout_key(j, "min_copies");
    jout_uint(j, fsm_replication_min_copies(f, b));
    jout_key(j, "copies");
    jout_begin(j, '[');
    for (size_t i = 0; i < b->n_copies; i++) {
        view_copy(j, &b->copies[i]);
    }
    jout_end(j, ']');
    jout_end(j, '}');
}

static void view_job(struct jout *j, const struct fsm_job *job)
{
    jout_begin(j, '{');
    jout_key(j, "id");
    jout_uint(j, job->id);
    jout_key(j, "kind");
    jout_str(j, fsm_job_kind_name(job->kind));
    jout_key(j, "backup_kind");
    jout_str(j, fsm_backup_kind_name(job->backup_kind));
    jout_key(j, "region");
    jout_str(j, job->region);
    jout_key(j, "backup_id");
    jout_str(j, job->backup_id);
    jout_key(j, "prefix");
    jout_str(j, job->prefix);
    jout_key(j, "store");
    jout_str(j, job->store);
    jout_key(j, "state");
    jout_str(j, fsm_job_state_name(job->state));
    jout_key(j, "owner");
    jout_uint(j, job->owner);
    jout_key(j, "attempt");
    jout_uint(j, job->attempt);
    jout_key(j, "max_attempts");
    jout_uint(j, job->max_attempts);
    jout_key(j, "lease_expires_ms");
    jout_uint(j, job->lease_expires_ms);
    jout_key(j, "not_before_ms");
    jout_uint(j, job->not_before_ms);
    jout_key(j, "created_ms");
    jout_uint(j, job->created_ms);
    jout_key(j, "updated_ms");
    jout_uint(j, job->updated_ms);
    jout_key(j, "error");
    jout_str(j, job->error);
    jout_key(j, "actor");
    jout_str(j, job->actor);
    if (job->kind == FSM_JOB_DRILL) {
        jout_key(j, "drill_id");
        jout_uint(j, job->drill_id);
    }
    jout_end(j, '}');
}

/* Reads. */

static int newest_first(const void *a, const void *b)
{
    const struct fsm_backup *x = *(const struct fsm_backup *const *)a;
    const struct fsm_backup *y = *(const struct fsm_backup *const *)b;
    if (x->created_ms != y->created_ms) {
        return x->created_ms > y->created_ms ? -1 : 1;
    }
    return strcmp(y->id, x->id);
}

static void do_backups_list(struct api_call *c)
{
    const struct fsm *f = api_state(c);
    const struct fsm_backup **order;
    struct jout j;

    order = malloc((f->n_backups + 1) * sizeof(*order));
    if (order == NULL) {
        api_reply_error(c, 503, "unavailable", "out of memory");
        return;
    }
    for (size_t i = 0; i < f->n_backups; i++) {
        order[i] = &f->backups[i];
    }
    qsort(order, f->n_backups, sizeof(*order), newest_first);
    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "backups");
    jout_begin(&j, '[');
    for (size_t i = 0; i < f->n_backups; i++) {
        view_backup(&j, f, order[i]);
    }
    jout_end(&j, ']');
    jout_end(&j, '}');
    free(order);
    api_reply_jout(c, 200, &j);
}

static void do_backup_get(struct api_call *c)
{
    const struct fsm_backup *b = fsm_backup_get(api_state(c), c->arg);
    struct jout j;

    if (b == NULL) {
        api_reply_error(c, 404, "not_found", "backup \"%s\" does not exist",
                        c->arg);
        return;
    }
    jout_init(&j);
    view_backup(&j, api_state(c), b);
    api_reply_jout(c, 200, &j);
}

static void do_jobs_list(struct api_call *c)
{
    const struct fsm *f = api_state(c);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "jobs");
    jout_begin(&j, '[');
    for (size_t i = f->n_jobs; i > 0; i--) {
        view_job(&j, &f->jobs[i - 1]);
    }
    jout_end(&j, ']');
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static void lsn_out(struct jout *j, const char *key, uint64_t lsn)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
    jout_key(j, key);
    jout_str(j, buf);
}

/* The WAL catalog: each region's archive at its last scan. */
static void do_wal_list(struct api_call *c)
{
    const struct fsm *f = api_state(c);
    struct jout j;
    char id[24];

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "scan_interval_s");
    jout_int(&j, fsm_setting_int(f, "wal.scan_interval_s"));
    jout_key(&j, "regions");
    jout_begin(&j, '[');
    for (size_t i = 0; i < f->n_wal_archives; i++) {
        const struct fsm_wal_archive *w = &f->wal_archives[i];
        jout_begin(&j, '{');
        jout_key(&j, "region");
        jout_str(&j, w->region);
        jout_key(&j, "store");
        jout_str(&j, w->store);
        jout_key(&j, "scanned_ms");
        jout_uint(&j, w->scanned_ms);
        jout_key(&j, "newest_ms");
        jout_uint(&j, w->newest_ms);
        jout_key(&j, "files");
        jout_uint(&j, w->files);
        jout_key(&j, "gaps");
        jout_uint(&j, w->gaps);
        jout_key(&j, "ranges_total");
        jout_uint(&j, w->ranges_total);
        jout_key(&j, "job_id");
        jout_uint(&j, w->job_id);
        jout_key(&j, "ranges");
        jout_begin(&j, '[');
        for (size_t k = 0; k < w->n_ranges; k++) {
            const struct fsm_wal_range *r = &w->ranges[k];
            jout_begin(&j, '{');
            snprintf(id, sizeof(id), "%016llx", (unsigned long long)r->sysid);
            jout_key(&j, "sysid");
            jout_str(&j, id);
            jout_key(&j, "timeline");
            jout_uint(&j, r->timeline);
            lsn_out(&j, "start_lsn", r->start_lsn);
            lsn_out(&j, "end_lsn", r->end_lsn);
            jout_key(&j, "segments");
            jout_uint(&j, r->segments);
            jout_key(&j, "bytes");
            jout_uint(&j, r->bytes);
            jout_key(&j, "streamed");
            jout_bool(&j, r->streamed);
            jout_end(&j, '}');
        }
        jout_end(&j, ']');
        jout_end(&j, '}');
    }
    jout_end(&j, ']');
    jout_end(&j, '}');
    api_reply_jout(c, 200, &j);
}

static bool parse_id(const char *s, uint64_t *id)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0) {
        return false;
    }
    *id = v;
    return true;
}

static void do_job_get(struct api_call *c)
{
    const struct fsm_job *job = fsm_job_get(api_state(c), c->id);
    struct jout j;

    if (job == NULL) {
        api_reply_error(c, 404, "not_found", "job %" PRIu64 " does not exist",
                        c->id);
        return;
    }
    jout_init(&j);
    view_job(&j, job);
    api_reply_jout(c, 200, &j);
}

/* Writes. */

static void reply_job(struct api_call *c, int status, uint64_t id)
{
    const struct fsm_job *job = fsm_job_get(api_state(c), id);
    struct jout j;

    jout_init(&j);
    jout_begin(&j, '{');
    jout_key(&j, "job");
    if (job != NULL) {
        view_job(&j, job);
    } else {
        jout_str(&j, NULL); /* forgotten already: the table is bounded */
    }
    jout_key(&j, "attempt");
    jout_uint(&j, c->result.attempt);
    jout_key(&j, "lease_expires_ms");
    jout_uint(&j, c->result.lease_expires_ms);
    jout_end(&j, '}');
    api_reply_jout(c, status, &j);
}

static void after_job_created(struct api_call *c)
{
    reply_job(c, 202, c->result.job_id);
}

static void do_backup_run(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"kind", JT_STRING, true},
        {"region", JT_STRING, false},
    };
    const struct jin *v;
    struct fsm_cmd cmd;
    int kind;

    if (api__check_body(c, fields, 2) != 0) {
        return;
    }
    kind = fsm_backup_kind_parse(jin_get(c->body, "kind")->u.str.s);
    if (kind < 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"kind\" must be \"pg\", \"redis\" or "
                        "\"pg_base\"");
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_JOB_CREATE;
    cmd.actor = c->actor;
    cmd.u.job.kind = FSM_JOB_BACKUP;
    cmd.u.job.backup_kind = kind;
    v = jin_get(c->body, "region");
    cmd.u.job.region = v != NULL ? v->u.str.s : NULL;
    api_propose_then(c, &cmd, after_job_created);
}

static void do_backup_delete(struct api_call *c)
{
    struct fsm_cmd cmd;

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_BACKUP_DELETE;
    cmd.actor = c->actor;
    cmd.u.backup_id = c->arg;
    api_propose_then(c, &cmd, after_job_created);
}

static void after_verified(struct api_call *c)
{
    do_backup_get(c);
}

static void do_backup_verified(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"ok", JT_BOOL, true},
        {"error", JT_STRING, false},
        {"region", JT_STRING, false},
    };
    const struct jin *v;
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 3) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_BACKUP_VERIFIED;
    cmd.actor = c->actor;
    cmd.u.verified.id = c->arg;
    cmd.u.verified.ok = jin_get(c->body, "ok")->u.b;
    v = jin_get(c->body, "error");
    cmd.u.verified.error = v != NULL ? v->u.str.s : "";
    v = jin_get(c->body, "region");
    cmd.u.verified.region = v != NULL ? v->u.str.s : NULL;
    if (!cmd.u.verified.ok && cmd.u.verified.error[0] == '\0') {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"error\" is required when \"ok\" is false");
        return;
    }
    api_propose_then(c, &cmd, after_verified);
}

static int get_uint(struct api_call *c,
                    const char *name,
                    uint64_t def,
                    uint64_t *out)
{
    const struct jin *v = jin_get(c->body, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (v->u.i < 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"%s\" must not be negative", name);
        return -1;
    }
    *out = (uint64_t)v->u.i;
    return 0;
}

static void after_job_leased(struct api_call *c)
{
    reply_job(c, 200, c->id);
}

static void do_job_claim_renew(struct api_call *c, bool renew)
{
    static const struct api_field fields[] = {
        {"node", JT_INT, true},
        {"attempt", JT_INT, false},
        {"lease_ms", JT_INT, false},
        {"phase", JT_STRING, false},
        {"restore_point_ms", JT_INT, false},
        {"detail", JT_STRING, false},
    };
    uint64_t lease = (uint64_t)fsm_setting_int(api_state(c), "jobs.lease_ms");
    uint64_t node, attempt, point;
    const struct jin *phase = jin_get(c->body, "phase");
    const struct jin *detail = jin_get(c->body, "detail");
    struct fsm_cmd cmd;

    if (api__check_body(c, fields, 6) != 0 ||
        get_uint(c, "node", 0, &node) != 0 ||
        get_uint(c, "attempt", 0, &attempt) != 0 ||
        get_uint(c, "lease_ms", lease, &lease) != 0 ||
        get_uint(c, "restore_point_ms", 0, &point) != 0) {
        return;
    }
    if (renew && jin_get(c->body, "attempt") == NULL) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"attempt\" is required");
        return;
    }
    if ((phase != NULL || detail != NULL || point != 0) && !renew) {
        api_reply_error(c, 400, "invalid_argument",
                        "a claim has no phase, detail or restore_point_ms");
        return;
    }
    if (phase != NULL && strcmp(phase->u.str.s, "restore") != 0 &&
        strcmp(phase->u.str.s, "verify") != 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"phase\" must be \"restore\" or \"verify\"");
        return;
    }
    if (phase == NULL && (detail != NULL || point != 0)) {
        api_reply_error(c, 400, "invalid_argument",
                        "detail and restore_point_ms come with a phase");
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    if (phase != NULL) {
        /* The runbook's restore job finished a step (agent.c). */
        cmd.u.job.phase = strcmp(phase->u.str.s, "restore") == 0
                              ? FSM_RB_RESTORE
                              : FSM_RB_VERIFY;
        cmd.u.job.backup.snapshot_ms = point;
        cmd.u.job.backup.detail =
            detail != NULL ? (char *)detail->u.str.s : NULL;
    }
    cmd.type = renew ? FSM_CMD_JOB_RENEW : FSM_CMD_JOB_CLAIM;
    cmd.actor = c->actor;
    cmd.u.job.job_id = c->id;
    cmd.u.job.node = node;
    cmd.u.job.attempt = (uint32_t)attempt;
    cmd.u.job.lease_ms = lease;
    api_propose_then(c, &cmd, after_job_leased);
}

static void do_job_claim(struct api_call *c)
{
    do_job_claim_renew(c, false);
}

static void do_job_renew(struct api_call *c)
{
    do_job_claim_renew(c, true);
}

/* A non-negative integer field of obj into *out (absent: 0). */
static int wal_uint(struct api_call *c,
                    const struct jin *obj,
                    const char *what,
                    const char *key,
                    uint64_t *out)
{
    const struct jin *v = jin_get(obj, key);

    if (v != NULL && v->u.i < 0) {
        api_reply_error(c, 400, "invalid_argument",
                        "%s: field \"%s\" must not be negative", what, key);
        return DR_EINVAL;
    }
    *out = v != NULL ? (uint64_t)v->u.i : 0;
    return DR_OK;
}

/* A wal_scan job's "wal" (backup/job.h, waljob_scan) into out; the FSM
 * checks the ranges' order. Answers 400 itself. */
static int parse_wal_scan(struct api_call *c,
                          const struct jin *b,
                          struct fsm_wal_archive *out)
{
    static const struct api_field wal_fields[] = {
        {"newest_ms", JT_INT, false}, {"files", JT_INT, false},
        {"gaps", JT_INT, false},      {"ranges_total", JT_INT, false},
        {"ranges", JT_ANY, true},     {"store", JT_STRING, false},
    };
    static const struct api_field range_fields[] = {
        {"sysid", JT_STRING, true},   {"timeline", JT_INT, true},
        {"start_lsn", JT_INT, true},  {"end_lsn", JT_INT, true},
        {"segments", JT_INT, false},  {"bytes", JT_INT, false},
        {"streamed", JT_BOOL, false},
    };
    const struct jin *ranges, *v;
    char err[256], what[32];

    if (b->type != JIN_OBJECT) {
        api_reply_error(c, 400, "invalid_argument",
                        "field \"wal\" must be an object");
        return DR_EINVAL;
    }
    if (api_check_fields(b, wal_fields, 6, err) != DR_OK) {
        api_reply_error(c, 400, "invalid_argument", "wal: %s", err);
        return DR_EINVAL;
    }
    /* The store the node read (its [services] wal_store, or the region's). */
    v = jin_get(b, "store");
    if (v != NULL && fsm_valid_store_url(v->u.str.s, err) != DR_OK) {
        api_reply_error(c, 400, "invalid_argument", "wal: store: %s", err);
        return DR_EINVAL;
    }
    out->store = v != NULL ? (char *)v->u.str.s : NULL;
    ranges = jin_get(b, "ranges");
    if (ranges->type != JIN_ARRAY || ranges->u.arr.n > FSM_WAL_RANGES_MAX) {
        api_reply_error(c, 400, "invalid_argument",
                        "wal: \"ranges\" must be an array of at most %d",
                        FSM_WAL_RANGES_MAX);
        return DR_EINVAL;
    }
    if (wal_uint(c, b, "wal", "newest_ms", &out->newest_ms) != DR_OK ||
        wal_uint(c, b, "wal", "files", &out->files) != DR_OK ||
        wal_uint(c, b, "wal", "gaps", &out->gaps) != DR_OK ||
        wal_uint(c, b, "wal", "ranges_total", &out->ranges_total) != DR_OK) {
        return DR_EINVAL;
    }
    for (size_t i = 0; i < ranges->u.arr.n; i++) {
        const struct jin *r = &ranges->u.arr.items[i];
        struct fsm_wal_range *w = &out->ranges[i];
        uint64_t tli;
        char *end;

        snprintf(what, sizeof(what), "wal range %zu", i);
        if (r->type != JIN_OBJECT ||
            api_check_fields(r, range_fields, 7, err) != DR_OK) {
            api_reply_error(c, 400, "invalid_argument", "%s: %s", what,
                            r->type != JIN_OBJECT ? "not an object" : err);
            return DR_EINVAL;
        }
        v = jin_get(r, "sysid");
        w->sysid = strtoull(v->u.str.s, &end, 16);
        if (v->u.str.s[0] == '\0' || *end != '\0' || v->u.str.len > 16) {
            api_reply_error(c, 400, "invalid_argument",
                            "%s: \"sysid\" is not a hex system identifier",
                            what);
            return DR_EINVAL;
        }
        if (wal_uint(c, r, what, "timeline", &tli) != DR_OK ||
            wal_uint(c, r, what, "start_lsn", &w->start_lsn) != DR_OK ||
            wal_uint(c, r, what, "end_lsn", &w->end_lsn) != DR_OK ||
            wal_uint(c, r, what, "segments", &w->segments) != DR_OK ||
            wal_uint(c, r, what, "bytes", &w->bytes) != DR_OK) {
            return DR_EINVAL;
        }
        if (tli > UINT32_MAX) {
            api_reply_error(c, 400, "invalid_argument",
                            "%s: \"timeline\" is too large", what);
            return DR_EINVAL;
        }
        w->timeline = (uint32_t)tli;
        v = jin_get(r, "streamed");
        w->streamed = v != NULL && v->u.b;
    }
    out->n_ranges = ranges->u.arr.n;
    return DR_OK;
}

static void do_job_finish(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"node", JT_INT, true},    {"attempt", JT_INT, true},
        {"ok", JT_BOOL, true},     {"error", JT_STRING, false},
        {"backup", JT_ANY, false}, {"drill", JT_ANY, false},
        {"copy", JT_ANY, false},   {"wal", JT_ANY, false},
    };
    static const struct api_field copy_fields[] = {
        {"bytes", JT_INT, false},
        {"objects", JT_INT, false},
        {"copy_ms", JT_INT, false},
        {"source_region", JT_STRING, true},
    };
    static const struct api_field drill_fields[] = {
        {"ok", JT_BOOL, true},
        {"rto_ms", JT_INT, false},
        {"error", JT_STRING, false},
        {"detail", JT_STRING, false},
        {"restore_point_ms", JT_INT, false},
    };
    static const struct api_field backup_fields[] = {
        {"manifest_key", JT_STRING, true}, {"manifest_sha256", JT_STRING, true},
        {"stored_bytes", JT_INT, false},   {"raw_bytes", JT_INT, false},
        {"snapshot_ms", JT_INT, false},    {"detail", JT_STRING, false},
    };
    const struct jin *v, *b;
    uint64_t node, attempt;
    struct fsm_cmd cmd;
    char err[256];

    if (api__check_body(c, fields, 8) != 0 ||
        get_uint(c, "node", 0, &node) != 0 ||
        get_uint(c, "attempt", 0, &attempt) != 0) {
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = FSM_CMD_JOB_FINISH;
    cmd.actor = c->actor;
    cmd.u.job.job_id = c->id;
    cmd.u.job.node = node;
    cmd.u.job.attempt = (uint32_t)attempt;
    cmd.u.job.ok = jin_get(c->body, "ok")->u.b;
    v = jin_get(c->body, "error");
    cmd.u.job.error = v != NULL ? v->u.str.s : "";
    b = jin_get(c->body, "backup");
    if (b != NULL) {
        struct fsm_backup *out = &cmd.u.job.backup;
        if (b->type != JIN_OBJECT) {
            api_reply_error(c, 400, "invalid_argument",
                            "field \"backup\" must be an object");
            return;
        }
        if (api_check_fields(b, backup_fields, 6, err) != DR_OK) {
            api_reply_error(c, 400, "invalid_argument", "backup: %s", err);
            return;
        }
        out->manifest_key = (char *)jin_get(b, "manifest_key")->u.str.s;
        out->manifest_sha256 = (char *)jin_get(b, "manifest_sha256")->u.str.s;
        v = jin_get(b, "stored_bytes");
        out->stored_bytes = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "raw_bytes");
        out->raw_bytes = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "snapshot_ms");
        out->snapshot_ms = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "detail");
        out->detail = v != NULL ? (char *)v->u.str.s : "";
    } else if (cmd.u.job.ok && fsm_job_get(api_state(c), c->id) != NULL &&
               fsm_job_get(api_state(c), c->id)->kind == FSM_JOB_BACKUP) {
        api_reply_error(c, 400, "invalid_argument",
                        "a backup job that succeeded needs \"backup\"");
        return;
    }
    b = jin_get(c->body, "drill");
    if (b != NULL && fsm_job_get(api_state(c), c->id) != NULL &&
        fsm_job_get(api_state(c), c->id)->kind != FSM_JOB_DRILL &&
        fsm_job_get(api_state(c), c->id)->kind != FSM_JOB_RESTORE) {
        api_reply_error(c, 400, "invalid_argument",
                        "\"drill\" is only for drill and restore jobs");
        return;
    }
    if (b != NULL) {
        if (b->type != JIN_OBJECT) {
            api_reply_error(c, 400, "invalid_argument",
                            "field \"drill\" must be an object");
            return;
        }
        if (api_check_fields(b, drill_fields, 5, err) != DR_OK) {
            api_reply_error(c, 400, "invalid_argument", "drill: %s", err);
            return;
        }
        for (int k = 0; k < 2; k++) {
            const char *key = k == 0 ? "rto_ms" : "restore_point_ms";
            v = jin_get(b, key);
            if (v != NULL && v->u.i < 0) {
                api_reply_error(c, 400, "invalid_argument",
                                "drill: field \"%s\" must not be negative",
                                key);
                return;
            }
        }
        cmd.u.job.drill_ok = jin_get(b, "ok")->u.b;
        v = jin_get(b, "rto_ms");
        cmd.u.job.drill_rto_ms = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "error");
        if (v != NULL) {
            cmd.u.job.error = v->u.str.s;
        }
        v = jin_get(b, "detail");
        cmd.u.job.backup.detail = v != NULL ? (char *)v->u.str.s : "";
        /* A restore job's promoted standby: the point its data reaches. */
        v = jin_get(b, "restore_point_ms");
        cmd.u.job.backup.snapshot_ms =
            v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
    } else if (cmd.u.job.ok && fsm_job_get(api_state(c), c->id) != NULL &&
               (fsm_job_get(api_state(c), c->id)->kind == FSM_JOB_DRILL ||
                fsm_job_get(api_state(c), c->id)->kind == FSM_JOB_RESTORE)) {
        api_reply_error(c, 400, "invalid_argument",
                        "a drill or restore job that ran needs \"drill\"");
        return;
    }
    b = jin_get(c->body, "copy");
    if (b != NULL) {
        struct fsm_copy *out = &cmd.u.job.copy;
        if (b->type != JIN_OBJECT) {
            api_reply_error(c, 400, "invalid_argument",
                            "field \"copy\" must be an object");
            return;
        }
        if (api_check_fields(b, copy_fields, 4, err) != DR_OK) {
            api_reply_error(c, 400, "invalid_argument", "copy: %s", err);
            return;
        }
        out->source_region = (char *)jin_get(b, "source_region")->u.str.s;
        v = jin_get(b, "bytes");
        out->bytes = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "objects");
        out->objects = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
        v = jin_get(b, "copy_ms");
        out->copy_ms = v != NULL && v->u.i > 0 ? (uint64_t)v->u.i : 0;
    } else if (cmd.u.job.ok && fsm_job_get(api_state(c), c->id) != NULL &&
               fsm_job_get(api_state(c), c->id)->kind == FSM_JOB_REPLICATE) {
        api_reply_error(c, 400, "invalid_argument",
                        "a replicate job that succeeded needs \"copy\"");
        return;
    }
    b = jin_get(c->body, "wal");
    if (b != NULL && fsm_job_get(api_state(c), c->id) != NULL &&
        fsm_job_get(api_state(c), c->id)->kind != FSM_JOB_WAL_SCAN) {
        api_reply_error(c, 400, "invalid_argument",
                        "\"wal\" is only for wal_scan jobs");
        return;
    }
    if (b != NULL && parse_wal_scan(c, b, &cmd.u.job.wal) != DR_OK) {
        return;
    }
    if (b == NULL && cmd.u.job.ok && fsm_job_get(api_state(c), c->id) != NULL &&
        fsm_job_get(api_state(c), c->id)->kind == FSM_JOB_WAL_SCAN) {
        api_reply_error(c, 400, "invalid_argument",
                        "a wal_scan job that succeeded needs \"wal\"");
        return;
    }
    api_propose_then(c, &cmd, after_job_leased);
}

/* Job ids are positive integers: anything else is a 400, whatever the
 * method. */
static bool job_id_ok(struct api_call *c)
{
    if (parse_id(c->arg, &c->id)) {
        return true;
    }
    api_reply_error(c, 400, "invalid_argument",
                    "job id \"%s\" is not a positive integer", c->arg);
    return false;
}

static const struct api_route_def routes[] = {
    {"GET", "/api/backups", NULL, ROUTE_BACKUPS, API_READ, API_ROLE_READER, 0,
     do_backups_list, NULL},
    {"POST", "/api/backups", NULL, ROUTE_BACKUPS, API_WRITE, API_ROLE_OPERATOR,
     API_BODY, do_backup_run, NULL},
    {"GET", "/api/backups/", NULL, ROUTE_BACKUP, API_READ, API_ROLE_READER, 0,
     do_backup_get, NULL},
    {"DELETE", "/api/backups/", NULL, ROUTE_BACKUP, API_WRITE,
     API_ROLE_OPERATOR, 0, do_backup_delete, NULL},
    {"POST", "/api/backups/", "verified", ROUTE_BACKUP, API_WRITE,
     API_ROLE_OPERATOR, API_BODY, do_backup_verified, NULL},
    {"GET", "/api/jobs", NULL, ROUTE_JOBS, API_READ, API_ROLE_READER, 0,
     do_jobs_list, NULL},
    {"GET", "/api/jobs/", NULL, ROUTE_JOB, API_READ, API_ROLE_READER, 0,
     do_job_get, job_id_ok},
    {"POST", "/api/jobs/", "claim", ROUTE_JOB, API_WRITE, API_ROLE_NODE,
     API_BODY, do_job_claim, job_id_ok},
    {"POST", "/api/jobs/", "renew", ROUTE_JOB, API_WRITE, API_ROLE_NODE,
     API_BODY, do_job_renew, job_id_ok},
    {"POST", "/api/jobs/", "finish", ROUTE_JOB, API_WRITE, API_ROLE_NODE,
     API_BODY, do_job_finish, job_id_ok},
    {"GET", "/api/wal", NULL, ROUTE_WAL, API_READ, API_ROLE_READER, 0,
     do_wal_list, NULL},
};

const struct api_route_table api_routes_catalog = API_ROUTE_TABLE(routes);
