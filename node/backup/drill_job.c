/* drill_restore: a restore drill. The newest backups are restored into
 * scratch targets (a dr_drill_N database, a Redis db the operator set aside
 * for drills, a data directory under [services] drill_pgdata for a base
 * backup and its WAL), verified, timed, and the scratch data dropped
 * again, whatever happened. Never touches live data. */
#define _GNU_SOURCE /* ftw's FTW_DEPTH */
#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "backup/redis_check.h"
#include "backup/redis_conn.h"
#include "codec/pg_base_manifest.h"
#include "codec/redis_manifest.h"
#include "common/err.h"
#include "store/store.h"

#define DRILL_DB_MAX 65535

/* One backup to drill: the "pg" or "redis" sub-object, and its outcome. */
struct drill_part
{
    const char *what;   /* "pg" or "redis" */
    const json_t *spec; /* the sub-object (borrowed), NULL when absent */
    const char *backup_id;
    const char *manifest_key;
    const char *manifest_sha256;
    bool restore;            /* into scratch, or objects only */
    const char *objects_why; /* pg: why objects only though a server is
                                named (a static string), or NULL */
    bool skipped; /* the manifest itself was bad: nothing more was run */
    bool ran;     /* reported: run, or skipped for a bad manifest */
    uint64_t tables, rows, keys;
    uint32_t source_db;       /* redis: the db the backup was taken from */
    uint64_t databases;       /* pg_base: databases counted */
    int64_t restore_point_ms; /* pg_base: last transaction replayed */
    char amcheck[64];         /* pg_base: "passed", "not installed" */
    char wal_store[256];      /* pg_base: the archive replayed from */
    char superuser[PG_BASE_NAME_MAX + 1]; /* pg_base: who counts and checks */
    int64_t restore_ms, verify_ms;
    bool ok;
    char error[256];
    bool cleaned; /* scratch dropped / flushed */
    char cleanup_error[256];
};

struct drill
{
    uint64_t id;
    const char *pg_server;
    const char *redis_server;
    const char *redis_password_file;
    const char *redis_method; /* how verify reads the server back */
    uint64_t redis_db;
    int parallel;
    char scratch_db[32];     /* dr_drill_N */
    char *scratch_conninfo;  /* pg_server with dbname = scratch_db */
    const char *scratch_dir; /* [services] drill_pgdata */
    char base_dir[1100];     /* scratch_dir/dr_drill_N */
    struct drill_part pg, redis, base;
};

static int64_t drill_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the backup's own state explains (a drill finding: retrying would
 * not help), as opposed to trouble with servers or stores. */
static bool drill_is_finding(int rv)
{
    return rv == DR_ECORRUPT || rv == DR_EMALFORMED || rv == DR_ENOTFOUND ||
           rv == DR_EVERSION;
}

static void drill_finding(struct drill_part *p,
                          const char *step,
                          const char *msg)
{
    p->ok = false;
    snprintf(p->error, sizeof(p->error), "%s: %.220s", step, msg);
}

/* The scratch copy's removal: what went wrong stays in the report. */
static void drill_cleaned(struct drill_part *p, int rv, const char *err)
{
    p->cleaned = rv == 0;
    if (rv != 0) {
        snprintf(p->cleanup_error, sizeof(p->cleanup_error), "%s", err);
    }
}

/* A verification's outcome: what the backup's state explains fails the
 * part (a finding), anything else is the job's error. */
static int drill_verified(struct drill_part *p,
                          int rv,
                          const char *err,
                          char *errmsg)
{
    if (drill_is_finding(rv)) {
        drill_finding(p, "verify", err);
        return 0;
    }
    if (rv != 0) {
        pgj_errf(errmsg, "%s: verify: %s", p->what, err);
    }
    return rv;
}

/* The spec. */

static int drill_parse_part(const json_t *spec,
                            const char *name,
                            struct drill_part *p,
                            char *errmsg)
{
    const json_t *o = json_object_get(spec, name);
    const char *unused;
    char err[256];
    int rv;

    memset(p, 0, sizeof(*p));
    p->what = name;
    p->ok = true;
    if (o == NULL || json_is_null(o)) {
        return 0;
    }
    if (!json_is_object(o)) {
        pgj_errf(errmsg, "\"%s\" must be an object", name);
        return DR_EINVAL;
    }
    p->spec = o;
    rv = job_spec_string(o, "backup_id", true, &p->backup_id, err);
    if (rv == 0) {
        rv = job_spec_string(o, "store", true, &unused, err);
    }
    if (rv == 0) {
        rv = job_spec_string(o, "credentials_file", false, &unused, err);
    }
    if (rv == 0) {
        rv = job_spec_string(o, "manifest_key", true, &p->manifest_key, err);
    }
    if (rv == 0) {
        rv = job_spec_string(o, "manifest_sha256", true, &p->manifest_sha256,
                             err);
    }
    if (rv != 0) {
        pgj_errf(errmsg, "%s: %s", name, err);
    }
    return rv;
}

/* conninfo with its dbname replaced: parsed with libpq (key=value or URI)
 * and written back as key='value' pairs. Refuses a conninfo that already
 * names the scratch database (it could not drop itself). */
static int drill_scratch_conninfo(const char *conninfo,
                                  const char *dbname,
                                  char **out,
                                  char *errmsg)
{
    PQconninfoOption *opts, *o;
    char *perr = NULL, *s, *p;
    size_t len = strlen(dbname) + 16;

    *out = NULL;
    opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        char one[200];
        size_t n;

        snprintf(one, sizeof(one), "%s", perr ? perr : "out of memory");
        n = strcspn(one, "\r\n");
        one[n] = '\0';
        pgj_errf(errmsg, "\"pg_server\" is not a connection string: %s", one);
        PQfreemem(perr);
        return perr ? DR_EINVAL : DR_ENOMEM;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (strcmp(o->keyword, "dbname") == 0) {
            if (strcmp(o->val, dbname) == 0) {
                pgj_errf(errmsg,
                         "\"pg_server\" names the scratch "
                         "database %s itself",
                         dbname);
                PQconninfoFree(opts);
                return DR_EINVAL;
            }
            continue;
        }
        len += strlen(o->keyword) + 2 * strlen(o->val) + 4;
    }
    s = malloc(len);
    if (s == NULL) {
        PQconninfoFree(opts);
        return pgj_nomem(errmsg);
    }
    p = s;
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "dbname") == 0) {
            continue;
        }
        p = pgj_conninfo_put(p, o->keyword, o->val);
        *p++ = ' ';
    }
    sprintf(p, "dbname='%s'", dbname); /* dr_drill_N: nothing to escape */
    PQconninfoFree(opts);
    *out = s;
    return 0;
}

static int drill_parse(const json_t *spec, struct drill *d, char *errmsg)
{
    int rv;

    if (json_object_get(spec, "drill_id") == NULL ||
        json_is_null(json_object_get(spec, "drill_id"))) {
        pgj_errf(errmsg, "\"drill_id\" is missing");
        return DR_EINVAL;
    }
    rv = job_spec_uint(spec, "drill_id", 0, 1, INT64_MAX, &d->id, errmsg);
    if (rv == 0) {
        rv = drill_parse_part(spec, "pg", &d->pg, errmsg);
    }
    if (rv == 0) {
        rv = drill_parse_part(spec, "redis", &d->redis, errmsg);
    }
    if (rv == 0) {
        rv = drill_parse_part(spec, "pg_base", &d->base, errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "scratch_dir", false, &d->scratch_dir,
                             errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "pg_server", false, &d->pg_server, errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "redis_server", false, &d->redis_server,
                             errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "redis_password_file", false,
                             &d->redis_password_file, errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "redis_method", false, &d->redis_method,
                             errmsg);
    }
    if (rv == 0) {
        rv = job_spec_uint(spec, "redis_db", UINT64_MAX, 0, DRILL_DB_MAX,
                           &d->redis_db, errmsg);
    }
    if (rv == 0) {
        rv = pgj_spec_parallel(spec, &d->parallel, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (d->scratch_dir != NULL &&
        (d->scratch_dir[0] != '/' || strchr(d->scratch_dir, '\'') != NULL ||
         strlen(d->scratch_dir) > 1000)) {
        pgj_errf(errmsg,
                 "\"scratch_dir\" must be an absolute path without quotes");
        return DR_EINVAL;
    }
    if (d->pg.spec == NULL && d->redis.spec == NULL && d->base.spec == NULL) {
        pgj_errf(errmsg,
                 "none of \"pg\", \"redis\" and \"pg_base\" is given: "
                 "nothing to drill");
        return DR_EINVAL;
    }
    if (d->redis_db != UINT64_MAX && d->redis_server == NULL) {
        pgj_errf(errmsg, "\"redis_db\" needs \"redis_server\"");
        return DR_EINVAL;
    }
    snprintf(d->scratch_db, sizeof(d->scratch_db), "dr_drill_%llu",
             (unsigned long long)d->id);
    d->pg.restore = d->pg.spec != NULL && d->pg_server != NULL;
    d->redis.restore = d->redis.spec != NULL && d->redis_db != UINT64_MAX;
    d->base.restore = d->base.spec != NULL && d->scratch_dir != NULL;
    if (d->base.restore) {
        snprintf(d->base_dir, sizeof(d->base_dir), "%s/%s", d->scratch_dir,
                 d->scratch_db);
    }
    if (d->pg.restore) {
        rv = drill_scratch_conninfo(d->pg_server, d->scratch_db,
                                    &d->scratch_conninfo, errmsg);
    }
    return rv;
}

/* A spec for one of the per-kind jobs: the part's store and manifest. */
static json_t *drill_sub_spec(const struct drill_part *p)
{
    json_t *s = json_object();
    const json_t *cred = json_object_get(p->spec, "credentials_file");

    json_object_set(s, "store", json_object_get(p->spec, "store"));
    if (cred != NULL && !json_is_null(cred)) {
        json_object_set(s, "credentials_file", (json_t *)cred);
    }
    json_object_set_new(s, "manifest_key", json_string(p->manifest_key));
    json_object_set_new(s, "manifest_sha256", json_string(p->manifest_sha256));
    return s;
}

/* PostgreSQL. */

/* The manifest first: what the backup holds, and whether it is readable
 * at all before a scratch database is made for it. */
static int drill_pg_manifest(struct drill_part *p, char *errmsg)
{
    struct store *s = NULL;
    struct pgman *m = NULL;
    char err[256];
    size_t i;
    int rv;

    rv = job_open_store(p->spec, &s, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg: store: %s", err);
        return rv;
    }
    rv = pgj_load_manifest(s, p->manifest_key, p->manifest_sha256, &m, err);
    store_close(s);
    if (drill_is_finding(rv)) {
        drill_finding(p, "manifest", err);
        p->skipped = true;
        return 0;
    }
    if (rv != 0) {
        pgj_errf(errmsg, "pg: manifest: %s", err);
        return rv;
    }
    p->tables = m->n_tables;
    for (i = 0; i < m->n_tables; i++) {
        p->rows += m->tables[i].rows;
    }
    pgman_free(m);
    return 0;
}

static int drill_pg_verify(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->pg;
    json_t *spec = drill_sub_spec(p), *res = NULL, *tables, *t;
    char err[256] = "";
    int64_t t0 = drill_mono_ms();
    size_t i;
    int rv;

    json_object_set_new(spec, "parallel", json_integer(d->parallel));
    if (p->restore) {
        json_object_set_new(spec, "pg", json_string(d->scratch_conninfo));
    }
    rv = pgjob_verify(spec, &res, err);
    p->verify_ms = drill_mono_ms() - t0;
    if (p->restore && json_is_array(json_object_get(res, "tables"))) {
        /* What is really in the scratch database now (also when it
         * differs from the backup). */
        tables = json_object_get(res, "tables");
        p->tables = json_array_size(tables);
        p->rows = 0;
        for (i = 0; i < p->tables; i++) {
            t = json_array_get(tables, i);
            p->rows += (uint64_t)json_integer_value(json_object_get(t, "rows"));
        }
    }
    json_decref(res);
    json_decref(spec);
    return drill_verified(p, rv, err, errmsg);
}

/* DROP DATABASE on c, reconnecting once when the connection was lost
 * (an idle session timeout during a long restore, a server restart). */
static int drill_pg_drop(struct drill *d, PGconn **c, char *errmsg)
{
    char sql[96], err[256];
    int rv;

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
             d->scratch_db);
    if (*c == NULL || PQstatus(*c) != CONNECTION_OK) {
        PQfinish(*c);
        *c = NULL;
        rv = pgj_connect(d->pg_server, NULL, "pg_server", c, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    rv = pgj_exec(*c, sql, err);
    if (rv == DR_EUNAVAILABLE) {
        PQfinish(*c);
        *c = NULL;
        rv = pgj_connect(d->pg_server, NULL, "pg_server", c, errmsg);
        if (rv == 0) {
            rv = pgj_exec(*c, sql, err);
        } else {
            return rv;
        }
    }
    if (rv != 0) {
        pgj_errf(errmsg, "DROP DATABASE %s: %s", d->scratch_db, err);
    }
    return rv;
}

/* Whether c's server is in recovery (a standby) into *standby. */
static int drill_pg_standby(PGconn *c, bool *standby, char *err)
{
    PGresult *res = NULL;
    int rv = pgj_query(c, "SELECT pg_is_in_recovery()", 0, NULL, &res, err);

    if (rv == 0) {
        *standby = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    return rv;
}

static int drill_pg_restore(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->pg;
    PGconn *c = NULL;
    json_t *spec, *res = NULL;
    char sql[96], err[256] = "";
    int64_t t0 = drill_mono_ms();
    bool standby = false;
    int rv, drop_rv;

    rv = pgj_connect(d->pg_server, NULL, "pg_server", &c, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg: %s", err);
        return rv;
    }
    rv = drill_pg_standby(c, &standby, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg: %s", err);
        PQfinish(c);
        return rv;
    }
    if (standby) {
        /* A DR standby ([services] pg is also pg_standby) takes no
         * scratch database: the objects are checked, as without a
         * server; the base backup's drill restores for real. */
        PQfinish(c);
        p->restore = false;
        p->objects_why =
            "pg_server is a standby (in recovery): it takes no scratch "
            "database, so the backup's objects were checked, not restored";
        return drill_pg_verify(d, errmsg);
    }
    /* A leftover of an earlier attempt of this drill. */
    rv = drill_pg_drop(d, &c, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg: leftover: %s", err);
        PQfinish(c);
        return rv;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\" TEMPLATE template0",
             d->scratch_db);
    rv = pgj_exec(c, sql, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg: CREATE DATABASE %s: %s", d->scratch_db, err);
        PQfinish(c);
        return rv;
    }

    spec = drill_sub_spec(p);
    json_object_set_new(spec, "pg", json_string(d->scratch_conninfo));
    json_object_set_new(spec, "parallel", json_integer(d->parallel));
    rv = pgjob_restore(spec, &res, err);
    p->restore_ms = drill_mono_ms() - t0;
    json_decref(res);
    json_decref(spec);
    if (drill_is_finding(rv)) {
        drill_finding(p, "restore", err);
        rv = 0;
    } else if (rv != 0) {
        pgj_errf(errmsg, "pg: restore into %s: %s", d->scratch_db, err);
    } else {
        rv = drill_pg_verify(d, errmsg);
    }

    /* Always, whatever happened above. */
    drop_rv = drill_pg_drop(d, &c, err);
    PQfinish(c);
    drill_cleaned(p, drop_rv, err);
    return rv;
}

/* A job error in a part also fails the part in the partial report. */
static int drill_part_failed(struct drill_part *p, int rv, const char *errmsg)
{
    size_t n = strlen(p->what);

    if (rv != 0 && p->ok) {
        p->ok = false;
        if (strncmp(errmsg, p->what, n) == 0 && errmsg[n] == ':' &&
            errmsg[n + 1] == ' ') {
            errmsg += n + 2; /* the part is named by the report */
        }
        snprintf(p->error, sizeof(p->error), "%s", errmsg);
    }
    return rv;
}

static int drill_pg(struct drill *d, char *errmsg)
{
    d->pg.ran = true;
    if (d->pg.skipped) {
        return 0;
    }
    return drill_part_failed(&d->pg,
                             d->pg.restore ? drill_pg_restore(d, errmsg)
                                           : drill_pg_verify(d, errmsg),
                             errmsg);
}

/* Redis. */

static int drill_redis_manifest(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->redis;
    struct redis_manifest m;
    struct store *s = NULL;
    char err[256];
    int rv;

    rv = job_open_store(p->spec, &s, err);
    if (rv != 0) {
        pgj_errf(errmsg, "redis: store: %s", err);
        return rv;
    }
    rv = rcheck_load_manifest(s, p->manifest_key, p->manifest_sha256, &m, err);
    store_close(s);
    if (drill_is_finding(rv)) {
        drill_finding(p, "manifest", err);
        p->skipped = true;
        return 0;
    }
    if (rv != 0) {
        pgj_errf(errmsg, "redis: manifest: %s", err);
        return rv;
    }
    p->keys = m.keys;
    p->source_db = m.db;
    redis_manifest_free(&m);
    if (p->restore && d->redis_db == p->source_db) {
        pgj_errf(errmsg,
                 "redis: \"redis_db\" %u is the database backup "
                 "%.60s was taken from: a drill never restores into live "
                 "data; name a scratch db",
                 (unsigned)d->redis_db, p->backup_id);
        return DR_EINVAL;
    }
    return 0;
}

/* A redis_restore / redis_verify spec against the scratch db. */
static json_t *drill_redis_spec(const struct drill *d)
{
    json_t *spec = drill_sub_spec(&d->redis);

    json_object_set_new(spec, "redis", json_string(d->redis_server));
    json_object_set_new(spec, "db", json_integer((json_int_t)d->redis_db));
    if (d->redis_password_file != NULL) {
        json_object_set_new(spec, "redis_password_file",
                            json_string(d->redis_password_file));
    }
    if (d->redis_method != NULL) {
        json_object_set_new(spec, "method", json_string(d->redis_method));
    }
    return spec;
}

static int drill_redis_verify(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->redis;
    json_t *spec, *res = NULL;
    char err[256] = "";
    int64_t t0 = drill_mono_ms();
    int rv;

    spec = p->restore ? drill_redis_spec(d) : drill_sub_spec(p);
    rv = redisjob_verify(spec, &res, err);
    p->verify_ms = drill_mono_ms() - t0;
    json_decref(res);
    json_decref(spec);
    return drill_verified(p, rv, err, errmsg);
}

static int drill_redis_flush(struct drill *d, char *errmsg)
{
    const char *argv[1] = {"FLUSHDB"};
    size_t lens[1] = {7};
    struct rconn rc;
    redisReply *r;
    int rv;

    /* rconn_open SELECTs the scratch db before anything else is sent. */
    rv = rconn_open(&rc, d->redis_server, d->redis_password_file,
                    (unsigned)d->redis_db, RCONN_DEFAULT_TIMEOUT_MS, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = rconn_command(&rc, &r, "FLUSHDB", errmsg, 1, argv, lens);
    if (rv == 0) {
        freeReplyObject(r);
    }
    rconn_close(&rc);
    return rv;
}

static int drill_redis_restore(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->redis;
    json_t *spec = drill_redis_spec(d), *res = NULL;
    char err[256] = "", msg[256];
    int64_t t0 = drill_mono_ms();
    int rv, flush_rv;

    json_object_set_new(spec, "clean", json_true());
    rv = redisjob_restore(spec, &res, err);
    p->restore_ms = drill_mono_ms() - t0;
    if (rv == 0) {
        p->keys = (uint64_t)json_integer_value(json_object_get(res, "keys"));
    }
    json_decref(res);
    json_decref(spec);
    if (drill_is_finding(rv)) {
        drill_finding(p, "restore", err);
        rv = 0;
    } else if (rv != 0) {
        pgj_errf(errmsg, "redis: restore into db %u: %s", (unsigned)d->redis_db,
                 err);
    } else {
        rv = drill_redis_verify(d, errmsg);
    }

    /* Always, whatever happened above. */
    flush_rv = drill_redis_flush(d, err);
    snprintf(msg, sizeof(msg), "FLUSHDB db %u: %.200s", (unsigned)d->redis_db,
             err);
    drill_cleaned(p, flush_rv, msg);
    return rv;
}

static int drill_redis(struct drill *d, char *errmsg)
{
    d->redis.ran = true;
    if (d->redis.skipped) {
        return 0;
    }
    return drill_part_failed(&d->redis,
                             d->redis.restore ? drill_redis_restore(d, errmsg)
                                              : drill_redis_verify(d, errmsg),
                             errmsg);
}

/* A base backup: restored with the WAL archive to its end into a data
 * directory of its own, served by a scratch server on loopback, checked,
 * stopped and removed. */

static int rm_entry(const char *path,
                    const struct stat *sb,
                    int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Whether pid is a server running in dir (a postmaster's working
 * directory is its data directory): 1 yes, 0 no (gone, or a process that
 * took over the pid of a stale postmaster.pid), -1 cannot tell. */
static int runs_in(pid_t pid, const char *dir)
{
    char link[64], cwd[1100], real[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
    n = readlink(link, cwd, sizeof(cwd) - 1);
    if (n < 0) {
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    }
    cwd[n] = '\0';
    if (realpath(dir, real) == NULL) {
        return -1;
    }
    return strcmp(cwd, real) == 0 ? 1 : 0;
}

/* Stop a scratch server: fast shutdown, then immediate, then SIGKILL.
 * ours: the drill started it (a child to reap); else one whose pid a
 * postmaster.pid gave (a leftover of an earlier attempt, or this attempt's
 * server whose pid the failed restore did not report), watched until it
 * is gone. */
static bool drill_base_stop(pid_t pid, bool ours, const char *dir)
{
    static const int sigs[3] = {SIGINT, SIGQUIT, SIGKILL};
    int status;

    for (int s = 0; s < 3; s++) {
        if (kill(pid, sigs[s]) != 0 && errno == ESRCH) {
            return true;
        }
        for (int i = 0; i < 200; i++) { /* 20 s per signal */
            /* (A process that exited stays a zombie until its parent
             * reaps it; a zombie has no working directory.) */
            if (waitpid(pid, &status, WNOHANG) == pid ||
                (!ours && runs_in(pid, dir) == 0)) {
                return true;
            }
            usleep(100 * 1000);
        }
    }
    return false;
}

/* The scratch directory gone, with a server an earlier attempt of this
 * drill left running in it (its postmaster.pid names this directory). */
static int drill_base_remove(struct drill *d, pid_t ours, char *errmsg)
{
    char pidfile[1200], line[1100], dir[1100];
    FILE *fp;
    long pid = 0;
    int where;

    if (ours > 0 && !drill_base_stop(ours, true, d->base_dir)) {
        pgj_errf(errmsg, "the scratch server (pid %d) does not stop",
                 (int)ours);
        return DR_EIO;
    }
    snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", d->base_dir);
    fp = fopen(pidfile, "r");
    if (fp != NULL) {
        if (fgets(line, sizeof(line), fp) != NULL) {
            pid = strtol(line, NULL, 10);
        }
        if (fgets(dir, sizeof(dir), fp) == NULL) {
            dir[0] = '\0';
        }
        dir[strcspn(dir, "\n")] = '\0';
        fclose(fp);
        where = pid > 1 && pid != ours && strcmp(dir, d->base_dir) == 0
                    ? runs_in((pid_t)pid, d->base_dir)
                    : 0;
        if (where < 0) {
            pgj_errf(errmsg,
                     "cannot tell whether pid %ld (in %.120s/postmaster.pid) "
                     "is a scratch server still running there: stop it, "
                     "then remove the directory",
                     pid, d->base_dir);
            return DR_EIO;
        }
        if (where > 0 && !drill_base_stop((pid_t)pid, false, d->base_dir)) {
            pgj_errf(errmsg,
                     "a scratch server of an earlier attempt (pid %ld) does "
                     "not stop",
                     pid);
            return DR_EIO;
        }
    }
    if (nftw(d->base_dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0 &&
        errno != ENOENT) {
        pgj_errf(errmsg, "remove %.150s: %s", d->base_dir, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

/* A port on loopback nobody listens on now. */
static int drill_free_port(unsigned *port, char *errmsg)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        pgj_errf(errmsg, "no free port on 127.0.0.1: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return DR_EIO;
    }
    close(fd);
    *port = ntohs(a.sin_port);
    return 0;
}

/* One database of the scratch server, connected as the source's
 * bootstrap superuser (d->base.superuser: the base backup's manifest says
 * who; postgres, initdb's and Debian's, for a backup that does not). */
static int drill_base_connect(const struct drill *d,
                              unsigned port,
                              const char *db,
                              PGconn **c,
                              char *errmsg)
{
    /* base_dir < 1100 bytes, names < 64: each at most doubled. */
    char conninfo[4096], *p = conninfo;

    if (strlen(db) > PG_BASE_NAME_MAX) {
        pgj_errf(errmsg, "a database name of %zu bytes", strlen(db));
        return DR_EMALFORMED;
    }
    p = pgj_conninfo_put(p, "host", d->base_dir);
    p += sprintf(p, " port=%u ", port);
    p = pgj_conninfo_put(p, "user", d->base.superuser);
    *p++ = ' ';
    pgj_conninfo_put(p, "dbname", db);
    return pgj_connect(conninfo, NULL, "scratch server", c, errmsg);
}

/* What the restored cluster holds: every database's user tables and their
 * rows (exact counts), and the last transaction replayed. */
static int drill_base_count(struct drill *d, unsigned port, char *errmsg)
{
    static const char count_sql[] =
        "SELECT count(*), coalesce(sum((xpath('/row/c/text()', "
        "query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, "
        "c.relname), false, true, '')))[1]::text::bigint), 0) FROM pg_class "
        "c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = "
        "'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE "
        "'pg\\_%'";
    struct drill_part *p = &d->base;
    PGconn *c = NULL, *dc;
    PGresult *dbs = NULL, *r;
    char err[256];
    int rv;

    rv = drill_base_connect(d, port, "postgres", &c, err);
    if (rv == 0) {
        rv = pgj_query(c,
                       "SELECT (extract(epoch FROM "
                       "pg_last_xact_replay_timestamp()) * 1000)::bigint",
                       0, NULL, &r, err);
        if (rv == 0) {
            if (!PQgetisnull(r, 0, 0)) {
                p->restore_point_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            }
            PQclear(r);
        }
    }
    if (rv == 0) {
        rv = pgj_query(c,
                       "SELECT datname FROM pg_database WHERE datallowconn "
                       "AND NOT datistemplate ORDER BY 1",
                       0, NULL, &dbs, err);
    }
    PQfinish(c);
    if (rv != 0) {
        pgj_errf(errmsg, "pg_base: %s", err);
        return rv;
    }
    for (int i = 0; i < PQntuples(dbs) && rv == 0; i++) {
        const char *db = PQgetvalue(dbs, i, 0);
        dc = NULL;
        rv = drill_base_connect(d, port, db, &dc, err);
        if (rv == 0) {
            rv = pgj_query(dc, count_sql, 0, NULL, &r, err);
        }
        if (rv == 0) {
            p->tables += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            p->rows += strtoull(PQgetvalue(r, 0, 1), NULL, 10);
            p->databases++;
            PQclear(r);
        } else {
            pgj_errf(errmsg, "pg_base: database %.60s: %s", db, err);
        }
        PQfinish(dc);
    }
    PQclear(dbs);
    return rv;
}

/* pg_amcheck over every database, when the server's version ships it: a
 * corrupt index or heap page is a finding. */
static int drill_base_amcheck(struct drill *d,
                              const char *bindir,
                              unsigned port,
                              char *errmsg)
{
    struct drill_part *p = &d->base;
    char prog[400], portarg[16], out[200], err[256];
    const char *argv[] = {
        prog, "--install-missing", "--all", "-h", d->base_dir, "-p", portarg,
        "-U", d->base.superuser,   NULL};
    size_t n = 0;
    int outfd, errfd, rv;
    pid_t pid;

    snprintf(prog, sizeof(prog), "%.300s/pg_amcheck", bindir);
    if (access(prog, X_OK) != 0) {
        snprintf(p->amcheck, sizeof(p->amcheck), "not installed");
        return 0;
    }
    snprintf(portarg, sizeof(portarg), "%u", port);
    rv = pgj_spawn(argv, environ, &pid, &outfd, &errfd, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg_base: pg_amcheck: %s", err);
        return rv;
    }
    for (;;) { /* what it found, on stdout */
        char buf[4096];
        ssize_t k = read(outfd, buf, sizeof(buf));
        if (k == 0 || (k < 0 && errno != EINTR)) {
            break;
        }
        if (k > 0 && n < sizeof(out) - 1) {
            size_t take = (size_t)k < sizeof(out) - 1 - n ? (size_t)k
                                                          : sizeof(out) - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
        }
    }
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    close(outfd);
    rv = pgj_wait(pid, errfd, "pg_amcheck", err);
    close(errfd);
    if (rv != 0) {
        char msg[480];
        snprintf(msg, sizeof(msg), "%.220s%s%.200s", err, n > 0 ? ": " : "",
                 out);
        drill_finding(p, "pg_amcheck", msg);
        snprintf(p->amcheck, sizeof(p->amcheck), "failed");
        return 0;
    }
    snprintf(p->amcheck, sizeof(p->amcheck), "passed");
    return 0;
}

static int drill_base_restore(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->base;
    json_t *spec = drill_sub_spec(p), *res = NULL;
    char err[256] = "", self[1024];
    const char *bindir, *wal_store, *superuser;
    int64_t t0 = drill_mono_ms();
    unsigned port = 0;
    pid_t pid = 0;
    ssize_t n;
    int rv, rm_rv;

    /* A leftover of an earlier attempt of this drill. */
    rv = drill_base_remove(d, 0, err);
    if (rv == 0) {
        /* 0711 (whatever the umask): the scratch server (postgres)
         * enters it. One that exists is the operator's. */
        if (mkdir(d->scratch_dir, 0700) == 0) {
            rv = chmod(d->scratch_dir, 0711) != 0 ? DR_EIO : 0;
        } else {
            rv = errno != EEXIST ? DR_EIO : 0;
        }
        if (rv != 0) {
            pgj_errf(err, "mkdir %.150s: %s", d->scratch_dir, strerror(errno));
        }
    }
    if (rv == 0) {
        rv = drill_free_port(&port, err);
    }
    if (rv != 0) {
        pgj_errf(errmsg, "pg_base: %s", err);
        json_decref(spec);
        return rv;
    }
    /* restore_command runs this very binary's wal-fetch. */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    json_object_set_new(spec, "pgdata", json_string(d->base_dir));
    if (json_is_array(json_object_get(p->spec, "wal_stores"))) {
        json_object_set(spec, "wal_stores",
                        json_object_get(p->spec, "wal_stores"));
    }
    json_object_set_new(spec, "port", json_integer(port));
    json_object_set_new(spec, "trust_local", json_true());
    if (n > 0) {
        json_object_set_new(spec, "drnode", json_string(self));
    }
    rv = pgbasejob_restore(spec, &res, err);
    p->restore_ms = drill_mono_ms() - t0;
    if (json_is_integer(json_object_get(res, "pid"))) {
        pid = (pid_t)json_integer_value(json_object_get(res, "pid"));
    }
    wal_store = json_string_value(json_object_get(res, "wal_store"));
    superuser = json_string_value(json_object_get(res, "superuser"));
    snprintf(p->superuser, sizeof(p->superuser), "%s",
             superuser != NULL ? superuser : "postgres");
    snprintf(p->wal_store, sizeof(p->wal_store), "%s",
             wal_store != NULL ? wal_store : "");
    if (drill_is_finding(rv)) {
        drill_finding(p, "restore", err);
        rv = 0;
    } else if (rv != 0) {
        pgj_errf(errmsg, "pg_base: restore into %.120s: %s", d->base_dir, err);
    } else {
        int64_t t1 = drill_mono_ms();
        bindir = json_string_value(json_object_get(res, "pg_bin"));
        rv = drill_base_count(d, port, errmsg);
        if (rv == 0) {
            rv = drill_base_amcheck(d, bindir != NULL ? bindir : "", port,
                                    errmsg);
        }
        p->verify_ms = drill_mono_ms() - t1;
    }
    json_decref(res);
    json_decref(spec);

    /* Always, whatever happened above. A restore that failed while its
     * server ran left it running (its pid is in postmaster.pid). */
    rm_rv = drill_base_remove(d, pid, err);
    drill_cleaned(p, rm_rv, err);
    return rv;
}

static int drill_base_verify(struct drill *d, char *errmsg)
{
    struct drill_part *p = &d->base;
    json_t *spec = drill_sub_spec(p), *res = NULL;
    char err[256] = "";
    int64_t t0 = drill_mono_ms();
    int rv;

    rv = pgbasejob_verify(spec, &res, err);
    p->verify_ms = drill_mono_ms() - t0;
    json_decref(res);
    json_decref(spec);
    return drill_verified(p, rv, err, errmsg);
}

static int drill_base(struct drill *d, char *errmsg)
{
    d->base.ran = true;
    return drill_part_failed(&d->base,
                             d->base.restore ? drill_base_restore(d, errmsg)
                                             : drill_base_verify(d, errmsg),
                             errmsg);
}

/* The result. */

/* What a base backup's part adds. */
static void drill_base_report(const struct drill *d, json_t *o)
{
    const struct drill_part *p = &d->base;

    json_object_set_new(o, "databases", json_integer((json_int_t)p->databases));
    json_object_set_new(o, "tables", json_integer((json_int_t)p->tables));
    json_object_set_new(o, "rows", json_integer((json_int_t)p->rows));
    if (p->restore) {
        json_object_set_new(o, "pgdata", json_string(d->base_dir));
        json_object_set_new(o, "restore_point_ms",
                            json_integer(p->restore_point_ms));
        json_object_set_new(o, "wal_store", json_string(p->wal_store));
        json_object_set_new(o, "amcheck", json_string(p->amcheck));
    }
}

static json_t *drill_part_report(const struct drill *d,
                                 const struct drill_part *p)
{
    bool pg = p == &d->pg;
    json_t *o = json_object();

    json_object_set_new(o, "backup_id", json_string(p->backup_id));
    if (json_is_string(json_object_get(p->spec, "copy_region"))) {
        /* Which region's copy the drill read. */
        json_object_set(o, "copy_region",
                        json_object_get(p->spec, "copy_region"));
    }
    json_object_set_new(o, "mode",
                        json_string(p->restore ? "restore" : "objects"));
    if (p->objects_why != NULL) {
        json_object_set_new(o, "mode_why", json_string(p->objects_why));
    }
    if (p == &d->base) {
        drill_base_report(d, o);
    } else if (p->restore && pg) {
        json_object_set_new(o, "database", json_string(d->scratch_db));
    } else if (p->restore) {
        json_object_set_new(o, "db", json_integer((json_int_t)d->redis_db));
    }
    json_object_set_new(o, "restore_ms", json_integer(p->restore_ms));
    json_object_set_new(o, "verify_ms", json_integer(p->verify_ms));
    if (pg) {
        json_object_set_new(o, "tables", json_integer((json_int_t)p->tables));
        json_object_set_new(o, "rows", json_integer((json_int_t)p->rows));
    } else if (p != &d->base) {
        json_object_set_new(o, "keys", json_integer((json_int_t)p->keys));
    }
    json_object_set_new(o, "ok", json_boolean(p->ok));
    if (!p->ok) {
        json_object_set_new(o, "error", json_string(p->error));
    }
    json_object_set_new(o,
                        pg              ? "dropped"
                        : p == &d->base ? "removed"
                                        : "flushed",
                        json_boolean(p->cleaned));
    if (p->cleanup_error[0] != '\0') {
        json_object_set_new(o, "cleanup_error", json_string(p->cleanup_error));
    }
    return o;
}

static json_t *drill_report(const struct drill *d)
{
    const struct drill_part *parts[3] = {&d->pg, &d->redis, &d->base};
    static const char *const scratch[3] = {"database", "Redis db",
                                           "data directory"};
    json_t *o = json_object();
    int64_t rto = 0;
    bool ok = true;
    int i;

    for (i = 0; i < 3; i++) {
        const struct drill_part *p = parts[i];
        if (p->spec == NULL || !p->ran) {
            continue;
        }
        /* The RTO of what a failover does (logical restore, snapshot);
         * the base backup's replay has its own times in its part. */
        if (p != &d->base) {
            rto += p->restore_ms + p->verify_ms;
        }
        if (!p->ok && ok) {
            char first[256];
            snprintf(first, sizeof(first), "%s: %.240s", p->what, p->error);
            json_object_set_new(o, "error", json_string(first));
            ok = false;
        }
        /* Scratch data left behind is a copy of production where it does
         * not belong: the drill fails until someone removes it. */
        if (p->restore && !p->cleaned && ok) {
            char first[320];
            snprintf(first, sizeof(first),
                     "%s: scratch %s was not removed: %.240s", p->what,
                     scratch[i], p->cleanup_error);
            json_object_set_new(o, "error", json_string(first));
            ok = false;
        }
        json_object_set_new(o, p->what, drill_part_report(d, p));
    }
    json_object_set_new(o, "ok", json_boolean(ok));
    json_object_set_new(o, "drill_id", json_integer((json_int_t)d->id));
    json_object_set_new(o, "rto_ms", json_integer(rto));
    /* The point the base backup's replay reached: the drill's RPO for
     * base + WAL (the worker passes it on with the finish). */
    if (d->base.ran && d->base.restore && d->base.restore_point_ms > 0) {
        json_object_set_new(o, "restore_point_ms",
                            json_integer(d->base.restore_point_ms));
    }
    return o;
}

int drilljob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    struct drill d;
    const json_t *missing;
    int rv;

    *result = NULL;
    memset(&d, 0, sizeof(d));
    /* A backup the drill recorded was deleted since it started: the drill
     * cannot show what it was meant to, so it fails (no retry helps). */
    missing = json_object_get(spec, "missing");
    if (missing != NULL && (!json_is_array(missing) ||
                            !json_is_string(json_array_get(missing, 0)))) {
        pgj_errf(errmsg, "\"missing\" must be an array of backup ids");
        return DR_EINVAL;
    }
    if (missing != NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "backup %.200s was deleted after the drill started",
                 json_string_value(json_array_get(missing, 0)));
        *result = json_pack("{sb ss sI}", "ok", 0, "error", msg, "rto_ms",
                            (json_int_t)0);
        return *result != NULL ? 0 : pgj_nomem(errmsg);
    }
    rv = drill_parse(spec, &d, errmsg);
    if (rv != 0) {
        goto out;
    }
    /* Both manifests before any scratch target is touched: a refusal
     * (redis_db is the live db) leaves everything as it was. */
    if (d.pg.spec != NULL) {
        rv = drill_pg_manifest(&d.pg, errmsg);
    }
    if (rv == 0 && d.redis.spec != NULL) {
        rv = drill_redis_manifest(&d, errmsg);
    }
    if (rv != 0) {
        goto out;
    }
    if (d.pg.spec != NULL) {
        rv = drill_pg(&d, errmsg);
    }
    if (rv == 0 && d.redis.spec != NULL) {
        rv = drill_redis(&d, errmsg);
    }
    if (rv == 0 && d.base.spec != NULL) {
        rv = drill_base(&d, errmsg);
    }
    /* On a job error too: what was found and cleaned up so far. */
    *result = drill_report(&d);
    if (*result == NULL && rv == 0) {
        rv = pgj_nomem(errmsg);
    }
out:
    free(d.scratch_conninfo);
    return rv;
}
