/* The coordinator's replicated state machine: pure, no I/O, no clock. */
#ifndef DR_FSM_H
#define DR_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Newest Entry.version this code applies. 2 added breakers, region health
 * and drills, 3 cross-region copies (replicate jobs, per-copy verification,
 * replication.* settings), 4 failover.on_degraded; an entry carries the
 * newest version its commands need. */
#define FSM_VERSION 5
#define FSM_NAME_MAX 63        /* region names, setting keys */
#define FSM_ENDPOINTS_MAX 8    /* endpoints per region */
#define FSM_ADDR_MAX 255       /* host:port, URLs */
#define FSM_TEXT_MAX 1024      /* reasons, audit details */
#define FSM_DNS_TARGETS_MAX 16 /* DNS targets per region */
#define FSM_REGIONS_MAX 64
#define FSM_MEMBERS_MAX 64

enum fsm_region_status {
    FSM_REGION_HEALTHY = 0,
    FSM_REGION_DEGRADED = 1,
    FSM_REGION_LOST = 2,
};

enum fsm_site_state {
    FSM_SITE_ACTIVE = 0,
    FSM_SITE_FAILING_OVER = 1,
    FSM_SITE_SWITCHING_OVER = 2,
    FSM_SITE_BLOCKED = 3,
};

/* What a region's coordinators last reported about its services (as
 * committed by the leader when it changed). */
enum fsm_service {
    FSM_SVC_DATABASE = 0,
    FSM_SVC_REDIS,
    FSM_SVC_OLLAMA,
    FSM_SVC_OPENAI,
    FSM_SVC_ANTHROPIC,
    FSM_SVC_APP,
    FSM_SVC_WASM, /* up = the app reports WASM available */
    FSM_SERVICES
};

enum fsm_service_status {
    FSM_SVC_UNKNOWN = 0, /* not probed, or no report yet */
    FSM_SVC_UP = 1,
    FSM_SVC_DOWN = 2,
};

struct fsm_region
{
    char *name;
    int32_t priority;   /* higher is preferred as DR target */
    char **dns_targets; /* host names or IP addresses */
    size_t n_dns_targets;
    char *object_store; /* file:// or s3:// URL, may be "" */
    int status;         /* enum fsm_region_status */
    uint64_t created_ms;
    uint64_t updated_ms;
    int health[FSM_SERVICES]; /* enum fsm_service_status */
    uint64_t health_ms;       /* when health last changed */
    /* Public endpoints the other regions probe (tcp://, http(s)://,
     * postgres://, redis:// URLs): a region whose coordinators are silent
     * is lost only when its endpoints are unreachable too. */
    char **endpoints;
    size_t n_endpoints;
};

struct fsm_member
{
    uint64_t id;
    char *region;
    char *raft_address;
    char *api_address;
    uint64_t added_ms;
};

enum fsm_setting_type {
    FSM_SETTING_INT = 1,
    FSM_SETTING_BOOL = 2,
    FSM_SETTING_STRING = 3,
};

struct fsm_value
{
    int type; /* enum fsm_setting_type */
    int64_t i;
    bool b;
    char *s;
};

/* Static description of one cluster setting. */
struct fsm_setting_desc
{
    const char *key;
    int type;
    int64_t min, max; /* FSM_SETTING_INT bounds */
    int64_t def_int;
    bool def_bool;
    const char *def_string;
    const char *const *choices; /* NULL-terminated allowed strings */
    bool is_list;               /* comma-separated list of choices */
    const char *description;
};

struct fsm_audit
{
    uint64_t seq;
    uint64_t time_ms;
    char *actor;
    char *action;
    char *detail;
};

/* The failover runbook (DESIGN.md, "Failure detection and failover"):
 * decide -> fence -> restore -> verify -> activate -> dns -> notify ->
 * complete, or blocked (resumable) and aborted. A planned switchover takes
 * final backups between fence and restore (fence -> final_backup ->
 * restore): RPO 0. Steps move only through fsm_runbook_sm; values are
 * stored, so a new step is added at the end. */
enum fsm_rb_step {
    FSM_RB_NONE = 0, /* no runbook yet */
    FSM_RB_DECIDE,
    FSM_RB_FENCE,
    FSM_RB_RESTORE,
    FSM_RB_VERIFY,
    FSM_RB_ACTIVATE,
    FSM_RB_DNS,
    FSM_RB_NOTIFY,
    FSM_RB_COMPLETE,
    FSM_RB_BLOCKED,
    FSM_RB_ABORTED,
    FSM_RB_FINAL_BACKUP, /* switchover: backups taken after the fence */
    FSM_RB_STEPS
};

struct fsm_runbook
{
    uint64_t id;       /* 0: none yet */
    uint64_t epoch;    /* the site epoch it runs under */
    char *from_region; /* the lost primary */
    char *to_region;   /* the DR region */
    char *reason;      /* with the evidence */
    char *actor;
    int step;                       /* enum fsm_rb_step */
    int blocked_step;               /* when blocked: the step to resume */
    uint64_t step_ms[FSM_RB_STEPS]; /* when each step was entered */
    uint64_t loss_ms;               /* the old primary last heard from */
    uint64_t fence_deadline_ms;     /* the old primary has fenced itself */
    char *pg_backup;                /* the restore point: "" for none */
    char *redis_backup;
    uint64_t restore_point_ms; /* the pg backup's data (else Redis's) */
    uint64_t job_id;           /* the restore job */
    uint32_t attempts;         /* of the current step */
    char *error;               /* why it is blocked, or the last failure */
    char *detail;              /* the restore job's report */
    uint64_t rto_ms, rpo_ms;   /* at complete */
    bool planned;              /* a switchover: the old primary is alive */
    uint64_t final_pg_job;     /* switchover: the final backups' jobs */
    uint64_t final_redis_job;
};

struct fsm_site
{
    char *primary_region; /* NULL before bootstrap */
    uint64_t epoch;       /* bumped by every primary change */
    int state;            /* enum fsm_site_state */
    uint64_t changed_ms;
    struct fsm_runbook runbook; /* the current or last runbook */
};

enum fsm_backup_kind {
    FSM_BACKUP_PG_LOGICAL = 0,
    FSM_BACKUP_REDIS = 1,
    FSM_BACKUP_PG_BASE = 2, /* physical base backup (entry version 5) */
    FSM_BACKUP_KINDS
};

enum fsm_backup_state {
    FSM_BACKUP_COMPLETE = 0,
    FSM_BACKUP_DELETING = 1, /* objects being deleted: never restored */
};

/* One region's copy of a backup. The origin's copy is the first; the
 * others are made by replicate jobs. Only a verified copy is restored. */
enum fsm_copy_state {
    FSM_COPY_COPYING = 0,  /* a replicate job is making it */
    FSM_COPY_VERIFIED = 1, /* every object and the manifest checked */
    FSM_COPY_FAILED = 2,   /* the copy or a verification of it failed */
    FSM_COPY_DELETING = 3, /* the backup is being deleted */
};

struct fsm_copy
{
    char *region;
    char *store;  /* the region's store URL when the copy was made */
    char *prefix; /* same keys as the origin's */
    int state;    /* enum fsm_copy_state */
    uint64_t verified_ms;
    uint64_t changed_ms; /* last state change */
    uint64_t bytes, objects;
    uint64_t copy_ms;    /* how long the copy took, as measured */
    char *source_region; /* where it was copied from ("" for the origin) */
    char *error;         /* last failure, or "" */
    uint32_t failures;   /* failed copy attempts and verifications */
    uint64_t job_id;     /* the replicate job making it, or 0 */
};

#define FSM_BACKUPS_MAX 4096
#define FSM_JOBS_MAX 512 /* finished jobs beyond this are forgotten */
#define FSM_SHA256_HEX 64

/* A catalog entry: every object and the manifest were durable before it
 * was committed. */
struct fsm_backup
{
    char *id; /* "pg-20261126T082500Z-7" */
    int kind; /* enum fsm_backup_kind */
    char *origin_region;
    uint64_t created_ms;  /* committed at */
    uint64_t snapshot_ms; /* the data's point in time */
    uint64_t stored_bytes, raw_bytes;
    char *store;  /* store URL when taken */
    char *prefix; /* every object lives under it */
    char *manifest_key;
    char *manifest_sha256; /* 64 hex digits */
    int state;             /* enum fsm_backup_state */
    uint64_t verified_ms;  /* 0: never verified */
    bool verify_ok;
    char *verify_error;
    uint64_t job_id;
    char *detail;            /* JSON summary from the worker */
    struct fsm_copy *copies; /* the origin's first, then by creation */
    size_t n_copies;
};

enum fsm_job_kind {
    FSM_JOB_BACKUP = 0,
    FSM_JOB_DELETE = 1,    /* a backup's objects, then its catalog entry */
    FSM_JOB_CLEANUP = 2,   /* the objects of a failed attempt */
    FSM_JOB_DRILL = 3,     /* a restore drill's restore and checks */
    FSM_JOB_REPLICATE = 4, /* a backup's objects into region's store */
    FSM_JOB_RESTORE = 5,   /* the runbook's restore, verify and activate */
    /* PostgreSQL's WAL streamed into the store from a replication slot by
     * one node of the primary region (entry version 5): it runs until the
     * primary moves or wal.stream is turned off, and is never given up */
    FSM_JOB_WAL_STREAM = 6,
    /* What a region's WAL archive holds, read from its store's object
     * names by a node of the region every wal.scan_interval_s (entry
     * version 5): its finish records the region's WAL ranges */
    FSM_JOB_WAL_SCAN = 7,
};

enum fsm_job_state {
    FSM_JOB_PENDING = 0,
    FSM_JOB_RUNNING = 1,
    FSM_JOB_DONE = 2,
    FSM_JOB_FAILED = 3,
};

struct fsm_job
{
    uint64_t id;
    int kind;        /* enum fsm_job_kind */
    int backup_kind; /* enum fsm_backup_kind */
    char *region;    /* only nodes of this region may claim it */
    char *backup_id;
    char *prefix;   /* current attempt's objects / objects to delete */
    char *store;    /* the region's store URL at creation */
    int state;      /* enum fsm_job_state */
    uint64_t owner; /* node holding the lease */
    uint32_t attempt, max_attempts;
    uint64_t lease_expires_ms;
    uint64_t not_before_ms; /* retry back-off */
    uint64_t created_ms, updated_ms;
    char *error; /* why the last attempt failed, or "" */
    char *actor;
    uint64_t drill_id; /* FSM_JOB_DRILL: the drill it runs;
                          FSM_JOB_RESTORE: the runbook's epoch */
};

/* The WAL catalog: per region, the runs of WAL its store held at the last
 * scan (per database system and timeline, [start_lsn, end_lsn)), not one
 * entry per file: bounded by FSM_WAL_RANGES_MAX, the newest kept. */
#define FSM_WAL_RANGES_MAX 16

struct fsm_wal_range
{
    uint64_t sysid; /* the database system */
    uint32_t timeline;
    uint64_t start_lsn, end_lsn; /* end: past the last whole segment, or the
                                    end of the streamed partial after it */
    uint64_t segments, bytes;    /* whole segments, bytes stored */
    bool streamed;               /* end_lsn is a streamed partial's */
};

struct fsm_wal_archive
{
    char *region;
    char *store;           /* the store the scan read */
    uint64_t scanned_ms;   /* when the scan's result was committed */
    uint64_t newest_ms;    /* upload time of the archive's newest file */
    uint64_t files;        /* WAL files the scan saw */
    uint64_t gaps;         /* missing runs of segments between ranges */
    uint64_t ranges_total; /* before the bound: > n_ranges when older ones
                              were left out */
    uint64_t job_id;       /* the scan */
    struct fsm_wal_range ranges[FSM_WAL_RANGES_MAX]; /* by system, timeline,
                                                        start */
    size_t n_ranges;
};

/* Drills: the seed runbook's scheduled restore tests, recorded. */
enum fsm_drill_kind {
    FSM_DRILL_RESTORE = 0,  /* newest backups into scratch databases */
    FSM_DRILL_FAILOVER = 1, /* the runbook practised: restore, checks and
                               DNS under failover.practice_name */
    FSM_DRILL_KINDS
};

enum fsm_drill_state {
    FSM_DRILL_RUNNING = 0,
    FSM_DRILL_PASSED = 1,
    FSM_DRILL_FAILED = 2,
    FSM_DRILL_DNS = 3, /* failover drill: checks passed, practice DNS next */
};

#define FSM_DRILLS_MAX 256 /* finished drills beyond this are forgotten */
/* A drill whose job no node claimed for this long is replaced by the next. */
#define FSM_DRILL_CLAIM_TIMEOUT_MS 3600000ull

struct fsm_drill
{
    uint64_t id;
    int kind;     /* enum fsm_drill_kind */
    char *region; /* where the restore runs */
    int state;    /* enum fsm_drill_state */
    uint64_t started_ms, finished_ms;
    char *pg_backup; /* backup ids drilled, "" for none */
    char *redis_backup;
    char *pg_base_backup; /* restore drill (version 5): base + WAL replayed
                             to the archive's end, "" for none */
    uint64_t pg_rpo_ms;   /* at the start: age of the newest backup's data */
    uint64_t redis_rpo_ms;
    uint64_t pg_base_rpo_ms; /* at the start: the base backup's age; at a
                                pass after replaying WAL, start - the last
                                transaction replayed, if that is newer */
    uint64_t rto_ms; /* restore and verification, as measured; a failover
                        drill: from its start to the practice DNS confirmed */
    uint64_t dns_confirmed_ms; /* failover drill: the practice name answered */
    uint64_t job_id;
    char *error;  /* why it failed, or "" */
    char *detail; /* the worker's JSON report */
    char *actor;
};

/* LLM providers behind circuit breakers, in their default fallback order. */
enum fsm_provider {
    FSM_PROVIDER_OLLAMA = 0,
    FSM_PROVIDER_OPENAI,
    FSM_PROVIDER_ANTHROPIC,
    FSM_PROVIDERS
};

enum fsm_breaker_state {
    FSM_BREAKER_CLOSED = 0,
    FSM_BREAKER_OPEN = 1,
    FSM_BREAKER_HALF_OPEN = 2,
};

#define FSM_BREAKER_EVENTS_MAX 1000 /* outcomes in one BREAKER_EVENTS */

/* A provider's circuit breaker. Closed: breaker.failure_threshold
 * consecutive failures open it. Open: outcomes are counted but change
 * nothing; the leader moves it to half-open breaker.reset_timeout_ms after
 * it opened. Half-open: up to breaker.half_open_max trial requests are
 * admitted; a success closes it, a failure opens it again. */
struct fsm_breaker
{
    int state;            /* enum fsm_breaker_state */
    uint32_t failures;    /* consecutive failures while closed */
    uint32_t trials;      /* trials admitted while half-open */
    uint64_t opened_ms;   /* when it last opened */
    uint64_t changed_ms;  /* last state change */
    uint64_t trial_ms;    /* last trial admitted */
    uint64_t transitions; /* state changes since bootstrap */
    uint64_t successes_total, failures_total; /* outcomes reported */
};

struct fsm
{
    bool initialized; /* the bootstrap command has been applied */
    uint64_t time_ms; /* newest command time seen, never decreases */
    struct fsm_site site;
    struct fsm_region *regions; /* sorted by name */
    size_t n_regions;
    struct fsm_member *members; /* sorted by id */
    size_t n_members;
    struct fsm_value *settings; /* indexed like fsm_settings_table() */
    struct fsm_audit *audit;    /* ring, oldest at audit_head */
    size_t n_audit, cap_audit, audit_head;
    uint64_t audit_seq;         /* seq of the newest audit entry */
    struct fsm_backup *backups; /* sorted by id */
    size_t n_backups;
    struct fsm_job *jobs; /* sorted by id (creation order) */
    size_t n_jobs;
    uint64_t job_seq; /* id of the newest job */
    struct fsm_breaker breakers[FSM_PROVIDERS];
    struct fsm_drill *drills; /* sorted by id */
    size_t n_drills;
    uint64_t drill_seq;                   /* id of the newest drill */
    struct fsm_wal_archive *wal_archives; /* sorted by region */
    size_t n_wal_archives;
    bool broken; /* an allocation failed mid-command: the
                    state can no longer be trusted */
};

/* Commands. Pointers inside are borrowed for the duration of fsm_apply. */
enum fsm_cmd_type {
    FSM_CMD_BOOTSTRAP = 1,
    FSM_CMD_REGION_ADD,
    FSM_CMD_REGION_UPDATE,
    FSM_CMD_REGION_REMOVE,
    FSM_CMD_MEMBER_PUT,
    FSM_CMD_MEMBER_REMOVE,
    FSM_CMD_SET_PRIMARY,
    FSM_CMD_SETTING_SET,
    FSM_CMD_JOB_CREATE,
    FSM_CMD_JOB_CLAIM,
    FSM_CMD_JOB_RENEW,
    FSM_CMD_JOB_FINISH,
    FSM_CMD_JOB_EXPIRE,
    FSM_CMD_BACKUP_DELETE,
    FSM_CMD_BACKUP_VERIFIED,
    FSM_CMD_BREAKER_EVENTS,
    FSM_CMD_BREAKER_TRIAL,
    FSM_CMD_BREAKER_HALF_OPEN,
    FSM_CMD_BREAKER_RESET,
    FSM_CMD_REGION_HEALTH,
    FSM_CMD_DRILL_START,
    FSM_CMD_FAILOVER_START,
    FSM_CMD_RUNBOOK_STEP,
    FSM_CMD_RUNBOOK_RESUME,
    FSM_CMD_RUNBOOK_ABORT,
    FSM_CMD_DRILL_DNS_DONE,
};

/* FAILOVER_START: decide. to NULL or "": the DR region the FSM picks. */
struct fsm_cmd_failover
{
    const char *to;
    const char *reason;
    bool force;                 /* the target need not be healthy */
    uint64_t loss_ms;           /* 0: now */
    uint64_t fence_deadline_ms; /* 0: now (the operator vouches) */
    bool planned; /* a switchover: fence, final backups, then restore */
};

/* RUNBOOK_STEP/RESUME/ABORT act on the runbook of epoch; STEP moves it
 * from step `from` to `to` (BLOCKED with error). */
struct fsm_cmd_runbook
{
    uint64_t epoch;
    int from, to;
    const char *error;
};

struct fsm_cmd_drill
{
    int kind;           /* enum fsm_drill_kind */
    const char *region; /* NULL or "": drill.region, else the DR region (a
                           failover drill: the region a failover picks) */
};

/* DRILL_DNS_DONE: the leader published a failover drill's practice name,
 * saw it answered at confirmed_ms and removed it (ok), or could not. */
struct fsm_cmd_drill_dns
{
    uint64_t drill_id;
    bool ok;
    const char *error;
    uint64_t confirmed_ms;
};

/* BREAKER_*: provider is an enum fsm_provider; RESET takes -1 for all.
 * EVENTS carries outcomes in the order they happened (non-zero =
 * success). */
struct fsm_cmd_breaker
{
    int provider;
    const int *outcomes;
    size_t n_outcomes;
};

struct fsm_cmd_region_health
{
    const char *region;
    int health[FSM_SERVICES]; /* enum fsm_service_status */
};

struct fsm_cmd_job
{
    uint64_t job_id;            /* CLAIM, RENEW, FINISH, EXPIRE */
    uint64_t node;              /* CLAIM, RENEW, FINISH */
    uint32_t attempt;           /* RENEW, FINISH, EXPIRE */
    uint64_t lease_ms;          /* CLAIM, RENEW */
    int phase;                  /* RENEW of the runbook's restore job: the
                                   step its worker has finished
                                   (FSM_RB_RESTORE or FSM_RB_VERIFY; with
                                   backup.snapshot_ms and backup.detail for
                                   restore), 0: none */
    int kind;                   /* CREATE: BACKUP or REPLICATE */
    int backup_kind;            /* CREATE of a BACKUP */
    const char *region;         /* CREATE: NULL or "" = the primary region;
                                   REPLICATE: the destination */
    const char *backup_id;      /* CREATE of a REPLICATE */
    bool ok;                    /* FINISH */
    const char *error;          /* FINISH when !ok, or a drill that failed */
    bool drill_ok;              /* FINISH of a drill job: its checks passed */
    uint64_t drill_rto_ms;      /* FINISH of a drill job */
    struct fsm_backup backup;   /* FINISH of a backup job that succeeded:
                                   stored_bytes, raw_bytes, snapshot_ms,
                                   manifest_key, manifest_sha256, detail;
                                   RENEW with a phase: snapshot_ms, detail */
    struct fsm_copy copy;       /* FINISH of a replicate job that succeeded:
                                   bytes, objects, copy_ms, source_region */
    struct fsm_wal_archive wal; /* FINISH of a wal_scan job that succeeded:
                                   store (the one read; NULL or "": the
                                   job's), newest_ms, files, gaps,
                                   ranges_total, ranges (region unused) */
};

struct fsm_cmd_backup_verified
{
    const char *id;
    bool ok;
    const char *error;
    const char *region; /* whose copy was checked; NULL or "": the origin's */
};

struct fsm_cmd_bootstrap
{
    struct fsm_region *regions;
    size_t n_regions;
    struct fsm_member *members;
    size_t n_members;
    const char *primary_region;
};

struct fsm_cmd_set_primary
{
    const char *region;
    const char *reason;
    bool has_expected_epoch;
    uint64_t expected_epoch;
};

struct fsm_cmd_setting_set
{
    const char *key;
    struct fsm_value value;
};

/* Fields of a REGION_UPDATE; 0 means all. */
#define FSM_REGION_F_PRIORITY 1u
#define FSM_REGION_F_DNS_TARGETS 2u
#define FSM_REGION_F_OBJECT_STORE 4u
#define FSM_REGION_F_ENDPOINTS 8u /* only when named: not part of "all" */

struct fsm_cmd
{
    int type;          /* enum fsm_cmd_type */
    const char *actor; /* who asked, for the audit log */
    unsigned fields;   /* REGION_UPDATE: FSM_REGION_F_* to change, 0 = all */
    union {
        struct fsm_cmd_bootstrap bootstrap;
        struct fsm_region region; /* REGION_ADD, REGION_UPDATE */
        const char *region_name;  /* REGION_REMOVE */
        struct fsm_member member; /* MEMBER_PUT */
        uint64_t member_id;       /* MEMBER_REMOVE */
        struct fsm_cmd_set_primary set_primary;
        struct fsm_cmd_setting_set setting;
        struct fsm_cmd_job job; /* JOB_* */
        const char *backup_id;  /* BACKUP_DELETE */
        struct fsm_cmd_backup_verified verified;
        struct fsm_cmd_breaker breaker;      /* BREAKER_* */
        struct fsm_cmd_region_health health; /* REGION_HEALTH */
        struct fsm_cmd_drill drill;          /* DRILL_START */
        struct fsm_cmd_drill_dns drill_dns;  /* DRILL_DNS_DONE */
        struct fsm_cmd_failover failover;    /* FAILOVER_START */
        struct fsm_cmd_runbook runbook;      /* RUNBOOK_* */
    } u;
};

/* One raft log entry: a batch of commands stamped with the leader's time. */
struct fsm_entry
{
    uint32_t version;
    uint64_t time_ms;
    struct fsm_cmd *cmds;
    size_t n_cmds;
};

/* Outcome of one command. code is DR_OK or the reason it was rejected. */
struct fsm_result
{
    int code;
    char msg[256];
    uint64_t epoch;   /* site epoch after the command */
    uint64_t time_ms; /* command time the FSM used */
    uint64_t job_id;  /* JOB_CREATE, BACKUP_DELETE: the job made */
    bool joined;      /* JOB_CREATE: an existing pending job was joined */
    uint32_t attempt; /* JOB_CLAIM: the attempt started */
    uint64_t lease_expires_ms; /* JOB_CLAIM, JOB_RENEW */
    uint64_t drill_id;         /* DRILL_START */
};

/* Initialize an empty (not yet bootstrapped) state with default settings. */
int fsm_init(struct fsm *f);
void fsm_close(struct fsm *f);

/* Apply one command at time now_ms. On rejection the state is unchanged and
 * res says why. Returns res->code. */
int fsm_apply(struct fsm *f,
              const struct fsm_cmd *cmd,
              uint64_t now_ms,
              struct fsm_result *res);

/* The entry version cmd needs: a node that applies only older entries
 * would not know it (and would reject what others apply). */
uint32_t fsm_cmd_version(const struct fsm_cmd *cmd);

/* Apply every command of an entry, filling results[i] for cmds[i]. An entry
 * of a newer version than FSM_VERSION is refused whole with DR_EVERSION and
 * changes nothing. */
int fsm_apply_entry(struct fsm *f,
                    const struct fsm_entry *e,
                    struct fsm_result *results);

/* Validate a command against the current state without applying it, so the
 * API can reject bad requests before they reach the log. */
int fsm_check(const struct fsm *f,
              const struct fsm_cmd *cmd,
              struct fsm_result *res);

/* Look-ups; the returned pointers are valid until the next change. */
const struct fsm_region *fsm_region_get(const struct fsm *f, const char *name);
const struct fsm_member *fsm_member_get(const struct fsm *f, uint64_t id);

/* Settings table: fsm_settings_count() entries, in a fixed order. */
size_t fsm_settings_count(void);
const struct fsm_setting_desc *fsm_settings_table(void);
/* Index of a setting key, or -1. */
int fsm_setting_index(const char *key);
/* The entry version that introduced the setting key (1 or later). */
uint32_t fsm_setting_version(const char *key);
/* A command type's name ("set-primary"), "unknown" for none. */
const char *fsm_cmd_name(int type);
/* The running backup job that pending backup job j waits for (one of the
 * same kind and region: a backup starts after the one before it), or
 * NULL when j may be claimed. */
const struct fsm_job *fsm_job_waits_for(const struct fsm *f,
                                        const struct fsm_job *j);
const struct fsm_value *fsm_setting(const struct fsm *f, const char *key);
int64_t fsm_setting_int(const struct fsm *f, const char *key);

/* Audit entry i, 0 being the oldest retained. */
const struct fsm_audit *fsm_audit_at(const struct fsm *f, size_t i);

/* Validators shared with the config loader and the API. Each returns DR_OK
 * or DR_EINVAL with errmsg (256 bytes) saying what is wrong. */
int fsm_valid_name(const char *what, const char *name, char *errmsg);
int fsm_valid_host_port(const char *what, const char *addr, char *errmsg);
int fsm_valid_dns_target(const char *target, char *errmsg);
/* A region endpoint: tcp://HOST:PORT, http(s)://HOST[:PORT][/PATH],
 * postgres(ql)://HOST[:PORT][/...] or redis://HOST[:PORT][/...]. On success
 * host (FSM_HOST_MAX + 1 bytes, may be NULL) and *port (the scheme's default
 * when none is given) say where to connect. */
#define FSM_HOST_MAX 253
int fsm_endpoint_parse(const char *url,
                       char *host,
                       unsigned *port,
                       char *errmsg);
int fsm_valid_store_url(const char *url, char *errmsg);

/* Deep copies and frees of the plain structs, used by the codec and tests. */
int fsm_region_copy(struct fsm_region *dst, const struct fsm_region *src);
void fsm_region_free(struct fsm_region *r);
int fsm_member_copy(struct fsm_member *dst, const struct fsm_member *src);
void fsm_member_free(struct fsm_member *m);

/* Replace the whole state (snapshot restore): takes ownership of src's
 * contents and leaves src empty. */
void fsm_replace(struct fsm *f, struct fsm *src);

/* Catalog and jobs. */
const struct fsm_backup *fsm_backup_get(const struct fsm *f, const char *id);
const struct fsm_job *fsm_job_get(const struct fsm *f, uint64_t id);
/* The newest complete backup of kind taken in region (NULL: in any
 * region), or NULL. */
const struct fsm_backup *fsm_backup_latest(const struct fsm *f,
                                           int kind,
                                           const char *region);
/* Whether the backup schedule wants a new backup of kind in the primary
 * region at time now: its interval setting is not 0, no backup job of that
 * kind is pending or running there, and the newest backup or backup job
 * there is at least an interval old. */
bool fsm_backup_due(const struct fsm *f, int kind, uint64_t now);
/* The setting that schedules backups of kind ("backup.pg_interval_s"...). */
const char *fsm_backup_interval_key(int kind);
/* Complete backups that retention lets go at time now: per origin region
 * and kind, everything newer than backup.retention_recent_h hours and the
 * newest backup of each of the last backup.retention_daily UTC days that
 * have one are kept, and so is the newest backup. Fills up to max ids
 * (borrowed from f) and returns how many. */
size_t fsm_retention_victims(const struct fsm *f,
                             uint64_t now,
                             const char **ids,
                             size_t max);
int fsm_backup_copy(struct fsm_backup *dst, const struct fsm_backup *src);
void fsm_backup_free(struct fsm_backup *b);
int fsm_job_copy(struct fsm_job *dst, const struct fsm_job *src);
void fsm_job_free(struct fsm_job *j);
/* "pg_logical", "redis_snapshot", "pg_base" */
const char *fsm_backup_kind_name(int kind);
int fsm_backup_kind_parse(const char *name); /* also "pg", "redis"; -1 */
const char *fsm_backup_state_name(int state);
const char *fsm_job_kind_name(int kind);
/* The pending or running wal_stream job of the primary region, or NULL. */
const struct fsm_job *fsm_wal_stream_job(const struct fsm *f);
/* Whether the leader should create one: wal.stream is on and there is
 * none. */
bool fsm_wal_stream_wanted(const struct fsm *f);
/* Whether region's PostgreSQL should keep the stream's replication slot:
 * wal.stream is on and region is primary, or a wal_stream job of region is
 * still pending or running. Otherwise the slot only holds WAL back, and the
 * region's nodes drop it once no stream reads it. */
bool fsm_wal_stream_slot_wanted(const struct fsm *f, const char *region);
/* Region's WAL catalog entry, or NULL before its first scan. */
const struct fsm_wal_archive *fsm_wal_archive_get(const struct fsm *f,
                                                  const char *region);
/* The end of the newest range (by timeline, then end) of region's WAL
 * archive at its last scan: what a standby replaying that archive can
 * reach. false before the first scan or when it holds no WAL. */
bool fsm_wal_archive_end(const struct fsm *f,
                         const char *region,
                         uint64_t *end_lsn);
/* The WAL region's archive lacks, in bytes, at the last scans: the end of
 * the newest range (by timeline, then end) of the primary region's
 * archive, less the furthest end region's archive reaches on the same
 * system and timeline (its start when none). false when there is no
 * primary, region is the primary, or either has not been scanned. */
bool fsm_wal_lag_bytes(const struct fsm *f,
                       const char *region,
                       uint64_t *bytes);
/* Whether the leader should create a wal_scan job for region: it has an
 * object store, wal.scan_interval_s is not 0, no scan of it is pending or
 * running, and its last scan job (successful or not) was created that
 * long ago or there is none. */
bool fsm_wal_scan_due(const struct fsm *f, const char *region, uint64_t now);
/* A wal_scan result (or a snapshot's entry) as the catalog accepts it: at
 * most FSM_WAL_RANGES_MAX ranges, in order, not overlapping, each of a
 * timeline and not empty; DR_OK or res says why not. */
int fsm_wal_archive_check(const struct fsm_wal_archive *a,
                          struct fsm_result *res);
int fsm_wal_archive_copy(struct fsm_wal_archive *dst,
                         const struct fsm_wal_archive *src);
void fsm_wal_archive_free(struct fsm_wal_archive *a);
const char *fsm_job_state_name(int state);

/* Cross-region copies (replicate.c). */
const char *fsm_copy_state_name(int state); /* "copying", "verified", ... */
/* Region's copy of b, or NULL. */
const struct fsm_copy *fsm_copy_get(const struct fsm_backup *b,
                                    const char *region);
size_t fsm_backup_verified_copies(const struct fsm_backup *b);
/* Verified copies b needs to be safe: replication.min_copies, or (0) one
 * in its origin and in every region that receives its kind. */
size_t fsm_replication_min_copies(const struct fsm *f,
                                  const struct fsm_backup *b);
bool fsm_backup_safe(const struct fsm *f, const struct fsm_backup *b);
/* Whether region receives copies of kind (replication.targets), and why
 * not (a static string) when it does not. A region without an object store
 * receives nothing. */
bool fsm_region_receives(const struct fsm *f,
                         const struct fsm_region *r,
                         int kind,
                         const char **why_not);
/* The copy to read b from for a caller in region (NULL: no preference):
 * that region's verified copy, else the origin's, else the verified copy
 * of the highest-priority region; NULL when none is verified. *why (may be
 * NULL) gets "local", "origin" or "nearest". */
const struct fsm_copy *fsm_copy_pick(const struct fsm *f,
                                     const struct fsm_backup *b,
                                     const char *region,
                                     const char **why);
struct fsm_repl_want
{
    const char *backup_id; /* borrowed from the state */
    const char *region;
};
/* Copies the leader should start at now: for complete backups, newest
 * first, every receiving region without a copy (or whose copy failed
 * replication.retry_s ago), that has a verified source copy, while the
 * region has fewer than replication.max_concurrent replicate jobs pending.
 * Fills up to max and returns how many. */
size_t fsm_replication_wanted(const struct fsm *f,
                              uint64_t now,
                              struct fsm_repl_want *out,
                              size_t max);
/* Replication lag of region for kind at now, in ms: 0 when it holds a
 * verified copy of the newest complete backup of kind, else how long ago
 * the oldest backup it lacks (newer than its newest verified copy) was
 * committed. */
uint64_t fsm_replication_lag_ms(const struct fsm *f,
                                const char *region,
                                int kind,
                                uint64_t now);

/* Circuit breakers and region health. */
const char *fsm_provider_name(int provider); /* "ollama", ... */
int fsm_provider_parse(const char *name);    /* -1 when unknown */
const char *fsm_breaker_state_name(
    int state);                            /* "closed", "open", "half_open" */
const char *fsm_service_name(int service); /* "database", ... "wasm" */
const char *fsm_service_status_name(int status); /* "unknown", "up", "down" */
/* When the leader should propose BREAKER_HALF_OPEN for provider: the
 * command time at which it becomes due, or 0 when it is not waiting for
 * one (closed, or half-open with trials left). */
uint64_t fsm_breaker_due(const struct fsm *f, int provider);
/* The fallback chain (llm.fallback_chain) as providers: fills up to
 * FSM_PROVIDERS entries and returns how many. */
size_t fsm_fallback_chain(const struct fsm *f, int *providers);
/* Region status that health implies: degraded when the database or Redis
 * is down, or when every service is unknown in a region that reported
 * before (its nodes went silent); healthy otherwise; a lost region stays
 * lost. */
int fsm_region_status_for(int current, const int *health, bool reported);

/* Drills. */
const struct fsm_drill *fsm_drill_get(const struct fsm *f, uint64_t id);
/* The region a drill without one runs in: drill.region when set, else the
 * highest-priority region with members that is not the primary (the DR
 * site). NULL before bootstrap or when there is none. */
const char *fsm_drill_region(const struct fsm *f);
/* Whether the schedule wants a restore drill at now: drill.restore_interval_h
 * is not 0, the site is active, a region other than the primary with
 * members can run it, none runs (or the running one is stuck: nobody
 * claimed its job for FSM_DRILL_CLAIM_TIMEOUT_MS), and the newest started
 * at least that long ago. */
bool fsm_drill_due(const struct fsm *f, uint64_t now);
/* Whether the schedule wants a failover drill at now:
 * drill.failover_interval_h since the last one, failover.practice_name and
 * dns.api_url set, a region a failover could pick. */
bool fsm_failover_drill_due(const struct fsm *f, uint64_t now);
/* The oldest failover drill waiting for its practice DNS, or NULL. */
const struct fsm_drill *fsm_drill_dns_pending(const struct fsm *f);
const char *fsm_drill_kind_name(int kind);   /* "restore", "failover" */
int fsm_drill_kind_parse(const char *name);  /* -1 when unknown */
const char *fsm_drill_state_name(int state); /* "running", "passed", ... */
int fsm_drill_copy(struct fsm_drill *dst, const struct fsm_drill *src);
void fsm_drill_free(struct fsm_drill *d);

const char *fsm_region_status_name(int status);
const char *fsm_site_state_name(int state);

/* The failover runbook (runbook.c). */
const char *fsm_rb_step_name(int step); /* "fence", ... */
/* Whether a runbook runs (not complete, aborted or none). */
bool fsm_runbook_active(const struct fsm *f);
/* failover.mode is auto (or its older spelling, automatic): the leader
 * starts a failover when the primary region is lost. */
bool fsm_failover_automatic(const struct fsm *f);
/* Whether the runbook can publish DNS: dns.provider's target is set
 * (pdns: dns.api_url; rfc2136: dns.update_server; route53: dns.zone_id). */
bool fsm_dns_configured(const struct fsm *f);
/* The region a failover from the primary would pick: healthy (unless
 * force), with members, not the primary, holding a verified copy of a
 * backup, the highest priority; ties go to the freshest restore point.
 * NULL when none; *why (may be NULL) says why not. */
const char *fsm_failover_target(const struct fsm *f,
                                bool force,
                                const char **why);
/* A switchover at final_backup: what it still waits for (the final
 * backups taken, their copies verified in the target region), written into
 * why; NULL when the restore may start. */
const char *fsm_switchover_waiting(const struct fsm *f,
                                   char *why,
                                   size_t why_size);
/* Whether the coordinators' layout survives the loss of any one region:
 * every region holds fewer than half of the members. When not, *why
 * (why_size bytes) names the region that holds too many. Automatic
 * failover needs it: the majority must outlive the region it fails over
 * from. */
bool fsm_layout_survives_region_loss(const struct fsm *f,
                                     char *why,
                                     size_t why_size);
/* The same rule over a list of member regions (the config's members). */
bool fsm_regions_survive_loss(const char *const *regions,
                              size_t n,
                              char *why,
                              size_t why_size);
/* The restore point in region: its newest backup of kind with a verified
 * copy there, or NULL. */
const struct fsm_backup *fsm_restore_point(const struct fsm *f,
                                           const char *region,
                                           int kind);

#endif /* DR_FSM_H */
