/* Drills: the seed runbook's weekly restore test and monthly full DR
 * drill, run by the cluster and recorded in the replicated state.
 *
 * DRILL_START picks the newest complete PostgreSQL and Redis backups,
 * records how old their data is (the RPO a disaster at that moment would
 * have cost) and creates a drill job in the drill's region. A node there
 * restores them into scratch databases, checks them against the manifests,
 * drops the scratch data and finishes the job with what it measured; the
 * drill passes or fails with it. A job that runs out of attempts fails the
 * drill.
 *
 * A failover drill practises the runbook without touching production: the
 * region a failover would pick restores its own verified copies (the
 * restore point a failover would use) into scratch databases and checks
 * them; then (state dns) the leader publishes that region's dns_targets
 * under failover.practice_name, confirms the answer, removes it and
 * reports with DRILL_DNS_DONE. Its RTO runs from the start to the practice
 * answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsm/internal.h"
#include "fsm/sm.h"

const char *fsm_drill_kind_name(int kind)
{
    return kind == FSM_DRILL_RESTORE    ? "restore"
           : kind == FSM_DRILL_FAILOVER ? "failover"
                                        : "unknown";
}

int fsm_drill_kind_parse(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    return strcmp(name, "restore") == 0    ? FSM_DRILL_RESTORE
           : strcmp(name, "failover") == 0 ? FSM_DRILL_FAILOVER
                                           : -1;
}

const char *fsm_drill_state_name(int state)
{
    return fsm_sm_name(&fsm_drill_sm, state);
}

/* The strings a drill owns. */
#define DRILL_STRS(d)                                                    \
    {                                                                    \
        &(d)->region, &(d)->pg_backup, &(d)->redis_backup,               \
            &(d)->pg_base_backup, &(d)->error, &(d)->detail, &(d)->actor \
    }

void fsm_drill_free(struct fsm_drill *d)
{
    char **const strs[] = DRILL_STRS(d);
    fsm__free_strs(strs, sizeof(strs) / sizeof(strs[0]));
    memset(d, 0, sizeof(*d));
}

int fsm_drill_copy(struct fsm_drill *dst, const struct fsm_drill *src)
{
    char **const strs[] = DRILL_STRS(dst);
    *dst = *src;
    if (fsm__dup_strs(strs, sizeof(strs) / sizeof(strs[0])) != DR_OK) {
        memset(dst, 0, sizeof(*dst));
        return DR_ENOMEM;
    }
    return DR_OK;
}

void fsm__drill_close(struct fsm *f)
{
    for (size_t i = 0; i < f->n_drills; i++) {
        fsm_drill_free(&f->drills[i]);
    }
    free(f->drills);
    f->drills = NULL;
    f->n_drills = 0;
}

static struct fsm_drill *drill_find(const struct fsm *f, uint64_t id)
{
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].id == id) {
            return &f->drills[i];
        }
    }
    return NULL;
}

const struct fsm_drill *fsm_drill_get(const struct fsm *f, uint64_t id)
{
    return drill_find(f, id);
}

static bool has_member(const struct fsm *f, const char *region)
{
    for (size_t i = 0; i < f->n_members; i++) {
        if (strcmp(f->members[i].region, region) == 0) {
            return true;
        }
    }
    return false;
}

const char *fsm_drill_region(const struct fsm *f)
{
    const struct fsm_value *v = fsm_setting(f, "drill.region");
    const struct fsm_region *best = NULL;

    if (!f->initialized) {
        return NULL;
    }
    if (v != NULL && v->s != NULL && v->s[0] != '\0') {
        return v->s;
    }
    /* Never the primary: a drill would load its production servers. */
    for (size_t i = 0; i < f->n_regions; i++) {
        const struct fsm_region *r = &f->regions[i];
        if (strcmp(r->name, f->site.primary_region) == 0 ||
            r->status == FSM_REGION_LOST || !has_member(f, r->name)) {
            continue;
        }
        if (best == NULL || r->priority > best->priority) {
            best = r;
        }
    }
    return best != NULL ? best->name : NULL;
}

/* A drill whose job no node claimed for an hour: its region cannot run it
 * (no node there any more, or none that works). A new drill replaces it.
 * now == 0: time unknown, never stuck. */
static bool drill_stuck(const struct fsm *f,
                        const struct fsm_drill *d,
                        uint64_t now)
{
    const struct fsm_job *j = fsm_job_get(f, d->job_id);
    return now != 0 && d->state == FSM_DRILL_RUNNING &&
           now >= d->started_ms + FSM_DRILL_CLAIM_TIMEOUT_MS &&
           (j == NULL || (j->state == FSM_JOB_PENDING && j->attempt == 0));
}

static const struct fsm_drill *drill_running(const struct fsm *f)
{
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].state == FSM_DRILL_RUNNING ||
            f->drills[i].state == FSM_DRILL_DNS) {
            return &f->drills[i];
        }
    }
    return NULL;
}

const struct fsm_drill *fsm_drill_dns_pending(const struct fsm *f)
{
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].state == FSM_DRILL_DNS) {
            return &f->drills[i];
        }
    }
    return NULL;
}

static const char *setting_str(const struct fsm *f, const char *key)
{
    const struct fsm_value *v = fsm_setting(f, key);
    return v != NULL && v->s != NULL ? v->s : "";
}

/* Length of a DNS name without its root dot. */
static size_t name_len(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* Why a failover drill cannot publish its practice name, or NULL. */
static const char *practice_unfit(const struct fsm *f)
{
    const char *name = setting_str(f, "failover.practice_name");
    const char *zone = setting_str(f, "dns.zone");
    const char *live = setting_str(f, "dns.name");
    size_t ln = name_len(name), lz = name_len(zone);

    if (name[0] == '\0') {
        return "set failover.practice_name (the name a failover drill "
               "publishes under, in dns.zone)";
    }
    if (!fsm_dns_configured(f) || zone[0] == '\0') {
        return "a failover drill publishes through the DNS provider: set "
               "dns.zone and dns.api_url (or dns.provider rfc2136 and "
               "dns.update_server)";
    }
    if (ln == name_len(live) && strncasecmp(name, live, ln) == 0) {
        return "failover.practice_name must not be dns.name (the live "
               "service name)";
    }
    if (ln <= lz || strncasecmp(name + ln - lz, zone, lz) != 0 ||
        name[ln - lz - 1] != '.') {
        return "failover.practice_name must be a name inside dns.zone";
    }
    return NULL;
}

/* A failover drill restores what a failover to region would: the newest
 * backups verified there. */
static const struct fsm_backup *drill_point(const struct fsm *f,
                                            int kind,
                                            const char *region,
                                            int backup_kind)
{
    return kind == FSM_DRILL_FAILOVER
               ? fsm_restore_point(f, region, backup_kind)
               : fsm_backup_latest(f, backup_kind, NULL);
}

static const char *drill_default_region(const struct fsm *f, int kind)
{
    return kind == FSM_DRILL_FAILOVER ? fsm_failover_target(f, false, NULL)
                                      : fsm_drill_region(f);
}

bool fsm_drill_due(const struct fsm *f, uint64_t now)
{
    int64_t hours = fsm_setting_int(f, "drill.restore_interval_h");
    const struct fsm_drill *newest = NULL;
    const struct fsm_drill *busy = drill_running(f);
    const char *region = fsm_drill_region(f);

    /* (A drill.region that cannot run one: RestoreDrillOverdue says so.) */
    if (!f->initialized || hours == 0 || f->site.state != FSM_SITE_ACTIVE ||
        (busy != NULL && !drill_stuck(f, busy, now)) || region == NULL ||
        fsm_region_get(f, region) == NULL || !has_member(f, region) ||
        strcmp(region, f->site.primary_region) == 0) {
        return false;
    }
    if (busy != NULL) {
        return true; /* stuck: replace it now */
    }
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].kind == FSM_DRILL_RESTORE) {
            newest = &f->drills[i];
        }
    }
    /* Never drilled: the first one waits for a backup of every kind the
     * schedule takes (or of any kind, when none is scheduled). */
    if (newest == NULL) {
        bool any = false, all = true, scheduled = false;
        /* (Restore drills restore logical backups and snapshots.) */
        for (int k = 0; k < FSM_BACKUP_KINDS; k++) {
            bool have = fsm_backup_latest(f, k, NULL) != NULL;
            if (k == FSM_BACKUP_PG_BASE) {
                continue;
            }
            any = any || have;
            if (fsm_setting_int(f, fsm_backup_interval_key(k)) != 0) {
                scheduled = true;
                all = all && have;
            }
        }
        return scheduled ? all : any;
    }
    return now >= newest->started_ms + (uint64_t)hours * 3600000ull;
}

bool fsm_failover_drill_due(const struct fsm *f, uint64_t now)
{
    int64_t hours = fsm_setting_int(f, "drill.failover_interval_h");
    const struct fsm_drill *newest = NULL;

    if (!f->initialized || hours == 0 || f->site.state != FSM_SITE_ACTIVE ||
        drill_running(f) != NULL || practice_unfit(f) != NULL ||
        fsm_failover_target(f, false, NULL) == NULL) {
        return false;
    }
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].kind == FSM_DRILL_FAILOVER) {
            newest = &f->drills[i];
        }
    }
    return newest == NULL ||
           now >= newest->started_ms + (uint64_t)hours * 3600000ull;
}

static int check_dns_done(const struct fsm *f,
                          const struct fsm_cmd_drill_dns *c,
                          struct fsm_result *res)
{
    const struct fsm_drill *d = drill_find(f, c->drill_id);

    if (d == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "drill %llu does not exist",
                           (unsigned long long)c->drill_id);
    }
    if (d->state != FSM_DRILL_DNS) {
        return fsm__reject(res, DR_ECONFLICT,
                           "drill %llu is %s, not waiting for its practice "
                           "DNS",
                           (unsigned long long)d->id,
                           fsm_drill_state_name(d->state));
    }
    if (c->error != NULL && strlen(c->error) > FSM_TEXT_MAX) {
        return fsm__reject(res, DR_EINVAL, "error is too long");
    }
    return DR_OK;
}

int fsm__drill_check(const struct fsm *f,
                     const struct fsm_cmd *cmd,
                     uint64_t now,
                     struct fsm_result *res)
{
    const struct fsm_cmd_drill *c = &cmd->u.drill;
    const char *region;
    const struct fsm_drill *busy = drill_running(f);
    const struct fsm_job *busy_job =
        busy != NULL ? fsm_job_get(f, busy->job_id) : NULL;
    size_t finished = 0;

    if (cmd->type == FSM_CMD_DRILL_DNS_DONE) {
        return check_dns_done(f, &cmd->u.drill_dns, res);
    }
    if (c->kind != FSM_DRILL_RESTORE && c->kind != FSM_DRILL_FAILOVER) {
        return fsm__reject(res, DR_EINVAL,
                           "unknown drill kind %d (restore or failover)",
                           c->kind);
    }
    region = c->region != NULL && c->region[0] != '\0'
                 ? c->region
                 : drill_default_region(f, c->kind);
    if (region == NULL && c->kind == FSM_DRILL_FAILOVER) {
        const char *why = NULL;
        fsm_failover_target(f, false, &why);
        return fsm__reject(res, DR_ECONFLICT,
                           "no region a failover could pick to drill: %s",
                           why != NULL ? why : "none");
    }
    if (region == NULL) {
        return fsm__reject(res, DR_ECONFLICT,
                           "no region to drill in: every region other than "
                           "the primary lacks members (or set drill.region)");
    }
    if (c->kind == FSM_DRILL_FAILOVER) {
        const char *why = practice_unfit(f);
        const struct fsm_region *r = fsm_region_get(f, region);
        if (why != NULL) {
            return fsm__reject(res, DR_ECONFLICT, "no failover drill: %s", why);
        }
        if (r != NULL && r->n_dns_targets == 0) {
            return fsm__reject(res, DR_ECONFLICT,
                               "region %s has no dns_targets to publish "
                               "(drctl regions update %s --dns-targets ...)",
                               region, region);
        }
        if (r != NULL &&
            drill_point(f, c->kind, region, FSM_BACKUP_PG_LOGICAL) == NULL &&
            drill_point(f, c->kind, region, FSM_BACKUP_REDIS) == NULL) {
            return fsm__reject(res, DR_ECONFLICT,
                               "region %s holds no verified copy of a backup "
                               "to restore (drctl replication status)",
                               region);
        }
    }
    if (fsm_region_get(f, region) == NULL) {
        return fsm__reject(res, DR_ENOTFOUND, "region \"%.64s\" does not exist",
                           region);
    }
    if (strcmp(region, f->site.primary_region) == 0) {
        return fsm__reject(res, DR_ECONFLICT,
                           "drills never run in the primary region %s: they "
                           "would load its production servers",
                           region);
    }
    if (!has_member(f, region)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "region %s has no member to run the drill", region);
    }
    if (f->site.state != FSM_SITE_ACTIVE) {
        return fsm__reject(res, DR_ECONFLICT,
                           "the site is %s: no drills while the primary "
                           "changes",
                           fsm_site_state_name(f->site.state));
    }
    /* Without a time (the API's pre-check), a drill whose job was never
     * claimed may be stuck: let the command's own time decide. */
    if (busy != NULL && !drill_stuck(f, busy, now) &&
        !(now == 0 && busy_job != NULL && busy_job->state == FSM_JOB_PENDING &&
          busy_job->attempt == 0)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "drill %llu is still running in %s",
                           (unsigned long long)busy->id, busy->region);
    }
    if (fsm_backup_latest(f, FSM_BACKUP_PG_LOGICAL, NULL) == NULL &&
        fsm_backup_latest(f, FSM_BACKUP_REDIS, NULL) == NULL &&
        (c->kind != FSM_DRILL_RESTORE ||
         fsm_backup_latest(f, FSM_BACKUP_PG_BASE, NULL) == NULL)) {
        return fsm__reject(res, DR_ECONFLICT,
                           "no complete backup to drill with yet");
    }
    for (size_t i = 0; i < f->n_jobs; i++) {
        finished += f->jobs[i].state == FSM_JOB_DONE ||
                    f->jobs[i].state == FSM_JOB_FAILED;
    }
    if (f->n_jobs >= FSM_JOBS_MAX && finished == 0) {
        return fsm__reject(res, DR_ELIMIT,
                           "%d jobs are pending or running already",
                           FSM_JOBS_MAX);
    }
    return DR_OK;
}

/* Forget the oldest finished drill when the table is full. */
static void drills_make_room(struct fsm *f)
{
    if (f->n_drills < FSM_DRILLS_MAX) {
        return;
    }
    for (size_t i = 0; i < f->n_drills; i++) {
        if (f->drills[i].state != FSM_DRILL_RUNNING &&
            f->drills[i].state != FSM_DRILL_DNS) {
            fsm_drill_free(&f->drills[i]);
            memmove(&f->drills[i], &f->drills[i + 1],
                    (f->n_drills - i - 1) * sizeof(*f->drills));
            f->n_drills--;
            return;
        }
    }
}

static int set_text(char **dst, const char *src)
{
    char *s = fsm__dup_str(src);
    if (s == NULL) {
        return DR_ENOMEM;
    }
    free(*dst);
    *dst = s;
    return DR_OK;
}

/* A drill's verdict: its error, and the history line that names it
 * (label) with what its RTO measured (rto_what). */
static int drill_verdict(struct fsm *f,
                         struct fsm_drill *d,
                         bool passed,
                         const char *error,
                         const char *label,
                         const char *rto_what,
                         uint64_t now,
                         const char *actor)
{
    if (set_text(&d->error, passed ? "" : error) != DR_OK) {
        return DR_ENOMEM;
    }
    if (passed) {
        char base[64] = "";
        if (d->pg_base_backup[0] != '\0') {
            snprintf(base, sizeof(base), ", pg base + WAL %llu ms",
                     (unsigned long long)d->pg_base_rpo_ms);
        }
        fsm__audit_add(f, now, actor, "drill-passed",
                       "%s: RTO %llu ms%s, RPO pg %llu ms, redis %llu ms%s",
                       label, (unsigned long long)d->rto_ms, rto_what,
                       (unsigned long long)d->pg_rpo_ms,
                       (unsigned long long)d->redis_rpo_ms, base);
    } else {
        fsm__audit_add(f, now, actor, "drill-failed", "%s: %s", label,
                       error != NULL ? error : "");
    }
    return DR_OK;
}

static int mutate_dns_done(struct fsm *f,
                           const struct fsm_cmd *cmd,
                           uint64_t now)
{
    const struct fsm_cmd_drill_dns *c = &cmd->u.drill_dns;
    struct fsm_drill *d = drill_find(f, c->drill_id);
    const char *actor = cmd->actor != NULL ? cmd->actor : "";
    char label[128];

    fsm_sm_move(&fsm_drill_sm, &d->state,
                c->ok ? FSM_DRILL_PASSED : FSM_DRILL_FAILED);
    d->finished_ms = now;
    if (c->ok) {
        d->dns_confirmed_ms = c->confirmed_ms;
        d->rto_ms = c->confirmed_ms > d->started_ms
                        ? c->confirmed_ms - d->started_ms
                        : 0;
    }
    snprintf(label, sizeof(label), "failover drill %llu to %.64s",
             (unsigned long long)d->id, d->region);
    return drill_verdict(f, d, c->ok, c->error, label,
                         " (start to the practice name answering)", now, actor);
}

int fsm__drill_mutate(struct fsm *f,
                      const struct fsm_cmd *cmd,
                      uint64_t now,
                      struct fsm_result *res)
{
    const struct fsm_cmd_drill *c = &cmd->u.drill;
    const char *region;
    const struct fsm_backup *pg, *rd, *base;
    const char *actor = cmd->actor != NULL ? cmd->actor : "";
    struct fsm_drill d, *grown;
    struct fsm_job t;
    char label[48];
    struct fsm_drill *stuck;

    if (cmd->type == FSM_CMD_DRILL_DNS_DONE) {
        return mutate_dns_done(f, cmd, now);
    }
    region = c->region != NULL && c->region[0] != '\0'
                 ? c->region
                 : drill_default_region(f, c->kind);
    pg = drill_point(f, c->kind, region, FSM_BACKUP_PG_LOGICAL);
    rd = drill_point(f, c->kind, region, FSM_BACKUP_REDIS);
    /* A restore drill also replays the newest base backup and the WAL
     * archive to its end (the failover runbook restores logical backups
     * or promotes a standby: its drill practises those). */
    base = c->kind == FSM_DRILL_RESTORE
               ? fsm_backup_latest(f, FSM_BACKUP_PG_BASE, NULL)
               : NULL;
    stuck = (struct fsm_drill *)drill_running(f);
    if (stuck != NULL) { /* drill_stuck: the check let it through */
        struct fsm_job *sj = (struct fsm_job *)fsm_job_get(f, stuck->job_id);
        char why[160];
        snprintf(why, sizeof(why),
                 "no node of %s claimed its job within %llu minutes",
                 stuck->region,
                 (unsigned long long)(FSM_DRILL_CLAIM_TIMEOUT_MS / 60000));
        if (sj != NULL) {
            fsm_sm_move(&fsm_job_sm, &sj->state, FSM_JOB_FAILED);
            sj->updated_ms = now;
            free(sj->error);
            sj->error = fsm__dup_str(why);
            if (sj->error == NULL) {
                return DR_ENOMEM;
            }
        }
        if (fsm__drill_job_done(f, &(struct fsm_job){.drill_id = stuck->id},
                                false, NULL, why, now, actor) != DR_OK) {
            return DR_ENOMEM;
        }
    }

    memset(&d, 0, sizeof(d));
    d.id = f->drill_seq + 1;
    d.kind = c->kind;
    d.region = (char *)region;
    d.state = FSM_DRILL_RUNNING;
    d.started_ms = now;
    d.pg_backup = (char *)(pg != NULL ? pg->id : "");
    d.redis_backup = (char *)(rd != NULL ? rd->id : "");
    d.pg_base_backup = (char *)(base != NULL ? base->id : "");
    d.pg_rpo_ms =
        pg != NULL && now > pg->snapshot_ms ? now - pg->snapshot_ms : 0;
    d.redis_rpo_ms =
        rd != NULL && now > rd->snapshot_ms ? now - rd->snapshot_ms : 0;
    d.pg_base_rpo_ms =
        base != NULL && now > base->snapshot_ms ? now - base->snapshot_ms : 0;
    d.job_id = f->job_seq + 1;
    d.error = (char *)"";
    d.detail = (char *)"";
    d.actor = (char *)actor;

    snprintf(label, sizeof(label), "drill-%llu", (unsigned long long)d.id);
    memset(&t, 0, sizeof(t));
    t.id = d.job_id;
    t.kind = FSM_JOB_DRILL;
    t.region = (char *)region;
    t.backup_id = label;
    t.prefix = (char *)"";
    t.store = (char *)"";
    t.state = FSM_JOB_PENDING;
    t.max_attempts = (uint32_t)fsm_setting_int(f, "jobs.max_attempts");
    t.created_ms = t.updated_ms = now;
    t.error = (char *)"";
    t.actor = (char *)actor;
    t.drill_id = d.id;

    drills_make_room(f);
    grown = realloc(f->drills, (f->n_drills + 1) * sizeof(*f->drills));
    if (grown == NULL) {
        return DR_ENOMEM;
    }
    f->drills = grown;
    if (fsm_drill_copy(&f->drills[f->n_drills], &d) != DR_OK) {
        return DR_ENOMEM;
    }
    f->n_drills++;
    f->drill_seq = d.id;
    /* The job is added after the drill was copied: region may point into
     * the settings, which adding a job does not move. */
    if (fsm__job_add(f, &t) == NULL) {
        return DR_ENOMEM;
    }
    fsm__audit_add(f, now, actor, "drill-start",
                   "%s drill %llu: restore in %s of %s%s%s%s%s (job %llu)",
                   fsm_drill_kind_name(d.kind), (unsigned long long)d.id,
                   region, pg != NULL ? pg->id : "",
                   pg != NULL && rd != NULL ? " and " : "",
                   rd != NULL ? rd->id : "",
                   base != NULL && (pg != NULL || rd != NULL) ? " and " : "",
                   base != NULL ? base->id : "", (unsigned long long)t.id);
    res->drill_id = d.id;
    res->job_id = t.id;
    return DR_OK;
}

int fsm__drill_job_done(struct fsm *f,
                        const struct fsm_job *j,
                        bool ok,
                        const struct fsm_cmd_job *c,
                        const char *error,
                        uint64_t now,
                        const char *actor)
{
    struct fsm_drill *d = drill_find(f, j->drill_id);
    bool passed = ok && c->drill_ok;
    char label[128];

    if (d == NULL || d->state != FSM_DRILL_RUNNING) {
        return DR_OK; /* forgotten already */
    }
    if (passed && d->kind == FSM_DRILL_FAILOVER) {
        /* Restored and checked: the leader publishes the practice name. */
        fsm_sm_move(&fsm_drill_sm, &d->state, FSM_DRILL_DNS);
        d->rto_ms = c->drill_rto_ms;
        if (set_text(&d->detail, c->backup.detail) != DR_OK) {
            return DR_ENOMEM;
        }
        fsm__audit_add(f, now, actor, "drill-step",
                       "failover drill %llu in %s: restore and checks "
                       "passed in %llu ms; practice DNS next",
                       (unsigned long long)d->id, d->region,
                       (unsigned long long)c->drill_rto_ms);
        return DR_OK;
    }
    fsm_sm_move(&fsm_drill_sm, &d->state,
                passed ? FSM_DRILL_PASSED : FSM_DRILL_FAILED);
    d->finished_ms = now;
    if (ok) {
        d->rto_ms = c->drill_rto_ms;
        if (set_text(&d->detail, c->backup.detail) != DR_OK) {
            return DR_ENOMEM;
        }
        /* Base + WAL replayed: the data reaches the last transaction
         * replayed, when that is newer than the base backup's end (an idle
         * database commits nothing after it). */
        if (d->pg_base_backup[0] != '\0' && c->backup.snapshot_ms != 0) {
            uint64_t rpo = d->started_ms > c->backup.snapshot_ms
                               ? d->started_ms - c->backup.snapshot_ms
                               : 0;
            if (rpo < d->pg_base_rpo_ms) {
                d->pg_base_rpo_ms = rpo;
            }
        }
    }
    snprintf(label, sizeof(label), "drill %llu in %.64s",
             (unsigned long long)d->id, d->region);
    return drill_verdict(f, d, passed, error, label, "", now, actor);
}
