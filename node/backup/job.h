/* Job workers: backups, restores and verifications, run outside drnode's
 * loop (a `drnode --run-job` child process, or drctl itself).
 *
 * A job is described by a JSON spec and answers with a JSON result; both are
 * jansson objects. Every spec has "op" and, for ops that touch a store,
 * "store" (URL) and optionally "credentials_file". The ops:
 *
 *   pg_backup     {"pg": CONNINFO, "prefix": KEYPREFIX, "parallel": N,
 *                  "zstd_level": L}
 *              -> {"manifest_key", "manifest_sha256", "stored_bytes",
 *                  "raw_bytes", "objects", "tables", "rows",
 *                  "snapshot_time_ms", "server_version", "database"}
 *   pg_restore    {"manifest_key", "manifest_sha256", "pg": CONNINFO,
 *                  "clean": bool, "parallel": N}
 *              -> {"tables": [{"name", "rows", "ok"}], "rows", "raw_bytes"}
 *   pg_verify     {"manifest_key", "manifest_sha256", "pg": CONNINFO or absent}
 *              -> {"ok": bool, "objects": [{"key", "ok", "error"?}],
 *                  "tables": [{"name", "rows_expected", "rows", "ok",
 *                  "error"?}]}   (tables only when "pg" is given)
 *   redis_backup  {"redis": "HOST:PORT", "redis_password_file"?, "prefix"}
 *              -> {"manifest_key", "manifest_sha256", "stored_bytes",
 *                  "raw_bytes", "objects", "keys", "digest"}
 *   redis_restore {"manifest_key", "manifest_sha256", "redis", "clean": bool}
 *              -> {"keys", "raw_bytes"}
 *   redis_verify  {"manifest_key", "manifest_sha256", "redis" or absent}
 *              -> {"ok": bool, "objects": [...], "keys", "mismatched_keys"}
 *   store_delete  {"prefix": KEYPREFIX}  -> {"deleted": N}
 *   store_verify  {"objects": [{"key", "sha256"}]} -> {"ok", "objects": [...]}
 *   replicate     a backup's objects from "sources" into "store", checked
 *                 (node/backup/replicate_job.c)
 *   wal_stream    PostgreSQL's WAL from a replication slot into the WAL
 *                 archive until it fails (node/backup/wal_stream.c)
 *   drill_restore {"drill_id": N, "pg"?: PART, "redis"?: PART,
 *                  "pg_server"?: CONNINFO, "redis_server"?: "HOST:PORT",
 *                  "redis_password_file"?, "redis_db"?: N, "parallel"?}
 *                  PART = {"backup_id", "store", "credentials_file"?,
 *                  "manifest_key", "manifest_sha256"}
 *              -> {"ok", "error"?, "drill_id", "rto_ms",
 *                  "pg": {"backup_id", "mode", "database"?, "restore_ms",
 *                  "verify_ms", "tables", "rows", "ok", "error"?,
 *                  "dropped", "cleanup_error"?},
 *                  "redis": {"backup_id", "mode", "db"?, "restore_ms",
 *                  "verify_ms", "keys", "ok", "error"?, "flushed",
 *                  "cleanup_error"?}}
 *                 A restore drill (node/backup/drill.c): with pg_server,
 *                 the pg backup is restored into a fresh database
 *                 dr_drill_N there (a leftover is dropped first), verified
 *                 with contents and dropped; with redis_server and
 *                 redis_db (a scratch db, never the one the backup was
 *                 taken from: DR_EINVAL), restored there with clean,
 *                 verified and flushed. Without them, "mode": "objects":
 *                 every object is checked. tables/rows are those found in
 *                 the scratch database after a restore, else the
 *                 manifest's; keys are those restored, else the
 *                 manifest's. rto_ms sums restore_ms and verify_ms. A
 *                 damaged backup is a finding ("ok": false, return 0);
 *                 servers or stores that fail are a job error (the
 *                 partial report is still in *result once a part ran).
 *
 * redis_restore and redis_verify take "db" (0..65535; default the db the
 * backup was taken from).
 *
 * Every op that reads objects checks each one's SHA-256 before using its
 * contents; a restore writes nothing to its target unless every object of
 * the backup checked out. */
#ifndef DR_JOB_H
#define DR_JOB_H

#include <jansson.h>
#include <stdint.h>

/* Run one job. On success returns 0 and *result is a new object. On failure
 * returns a DR_* code and errmsg (256 bytes) says what failed, prefixed with
 * the op ("pg_backup: COPY public.agent_runs: connection reset"); *result may
 * then still hold partial findings (a verify's per-object report) or NULL.
 * spec is borrowed. */
int job_run(const json_t *spec, json_t **result, char *errmsg);

/* The per-kind entry points job_run dispatches to (same contract). */
int pgjob_backup(const json_t *spec, json_t **result, char *errmsg);
int pgjob_restore(const json_t *spec, json_t **result, char *errmsg);
int pgbasejob_backup(const json_t *spec, json_t **result, char *errmsg);
int pgbasejob_verify(const json_t *spec, json_t **result, char *errmsg);
int pgbasejob_restore(const json_t *spec, json_t **result, char *errmsg);
/* "X/X" into an LSN; DR_EINVAL when it is not one. */
int pgbase_lsn_parse(const char *s, uint64_t *out);
int pgjob_verify(const json_t *spec, json_t **result, char *errmsg);
int redisjob_backup(const json_t *spec, json_t **result, char *errmsg);
int redisjob_restore(const json_t *spec, json_t **result, char *errmsg);
int redisjob_verify(const json_t *spec, json_t **result, char *errmsg);
int storejob_delete(const json_t *spec, json_t **result, char *errmsg);
int storejob_verify(const json_t *spec, json_t **result, char *errmsg);
int drilljob_restore(const json_t *spec, json_t **result, char *errmsg);
/* The failover runbook's restore, verify and activate in the DR region
 * (failover_job.c says how). */
int failoverjob_restore(const json_t *spec, json_t **result, char *errmsg);
/* The WAL stream (backup/wal_stream.c): runs until it fails. */
int walstreamjob_run(const json_t *spec, json_t **result, char *errmsg);
/* What a WAL archive holds (backup/wal_archive.h): {"store", "segment_size"?
 * (16 MiB)}; the result is wal_archive_picture's. */
int waljob_status(const json_t *spec, json_t **result, char *errmsg);
/* The same archive as the WAL catalog records it (job wal_scan): {"store",
 * "segment_size"?}; the result is {"store", "newest_ms", "files", "gaps",
 * "ranges_total", "ranges": [{"sysid" (hex), "timeline", "start_lsn",
 * "end_lsn" (numbers), "segments", "bytes", "streamed"}]}, the last
 * WAL_SCAN_RANGES_MAX ranges in order of system, timeline and start. */
int waljob_scan(const json_t *spec, json_t **result, char *errmsg);
/* One backup into another region's store (replicate_job.c says how). */
int replicatejob_run(const json_t *spec, json_t **result, char *errmsg);

/* The body of `drnode --run-job`: read one spec from in, run it, write
 * {"ok": true, "result": {...}} or {"ok": false, "code", "error",
 * "result"?} as one line to out. Returns the process exit status: 0 done,
 * 1 the job failed, 2 the spec could not be read. */
#include <stdio.h>
int job_main(FILE *in, FILE *out);

/* A job run by a node's worker (agent/agent.c) reports a step it has
 * finished and waits until the cluster committed it: one JSON line
 * {"phase": PHASE, ...fields} on the descriptor DR_JOB_PROGRESS_FD names,
 * answered "ok" or "stop REASON". Returns 0 to go on (also when no node
 * listens: a job run by drctl), DR_ECONFLICT when the cluster no longer
 * wants the work (errmsg says why), DR_EIO when the node went away.
 * fields is borrowed. */
int job_progress(const char *phase, const json_t *fields, char *errmsg);

/* Spec fields, each answering DR_EINVAL with a message naming the field.
 * A string that is present must be non-empty; *out is NULL when an
 * optional one is absent (or null). An integer must lie in [min, max];
 * absent (or null) gives def. */
#include <stdbool.h>
int job_spec_string(const json_t *spec,
                    const char *name,
                    bool required,
                    const char **out,
                    char *errmsg);
int job_spec_uint(const json_t *spec,
                  const char *name,
                  uint64_t def,
                  uint64_t min,
                  uint64_t max,
                  uint64_t *out,
                  char *errmsg);

/* Open the spec's store ("store", "credentials_file"). */
struct store;
int job_open_store(const json_t *spec, struct store **out, char *errmsg);
/* Open the store at url with credentials_file (NULL: the environment's),
 * as job_open_store does. */
int job_open_url(const char *url,
                 const char *credentials_file,
                 struct store **out,
                 char *errmsg);

#endif /* DR_JOB_H */
