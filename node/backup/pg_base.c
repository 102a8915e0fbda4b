/* Physical base backups of PostgreSQL, and point-in-time restores from
 * them with the WAL archive.
 *
 *   pg_base_backup {"store", "credentials_file"?, "prefix", "pg",
 *                   "pg_basebackup"?, "part_bytes"?, "level"?}
 *     pg_basebackup's tar stream (-Ft -X fetch: the WAL the backup needs is
 *     inside, so it restores on its own; PostgreSQL's backup_manifest too)
 *     cut into zstd parts PREFIX/base.NNNNN.tar.zst, and PREFIX/manifest.pb
 *     written last with the WAL range, system identifier and every part's
 *     SHA-256. -> {"manifest_key", "manifest_sha256", "stored_bytes",
 *     "raw_bytes", "snapshot_time_ms", "system_identifier", "timeline",
 *     "start_lsn", "stop_lsn", "files", "parts", "duration_ms"}
 *   pg_base_verify {"store", "manifest_key", "manifest_sha256"}
 *     every part read back: stored and raw SHA-256, the tar's structure,
 *     pg_control's system identifier and backup_manifest's digest.
 *   pg_base_restore {"store", "manifest_key", "manifest_sha256", "pgdata",
 *                    "wal_config"? | "wal_store"? | "wal_stores"? (the
 *                    first holding the backup's last segment),
 *                    "drnode"?, "target_time"? |
 *                    "target_lsn"?, "archive"?, "pg_bin"?, "port"?,
 *                    "wait_s"?}
 *     the parts unpacked into an empty pgdata (checked as verify does, then
 *     by pg_verifybackup against PostgreSQL's manifest), recovery set up
 *     (restore_command = drnode wal-fetch, the target, promote at it,
 *     archive_mode off unless "archive"), and with "port" a server started
 *     there and waited for until it has replayed to the target and
 *     promoted. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "backup/tar.h"
#include "backup/wal.h"
#include "codec/pg_base_manifest.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

extern char **environ;

#define PGB_PART_BYTES (32ull << 20)
#define PGB_MANIFEST_MAX (64u << 20)    /* manifest.pb */
#define PGB_PGMANIFEST_MAX (256u << 20) /* PostgreSQL's backup_manifest */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lsn_str(uint64_t lsn, char *out, size_t cap)
{
    snprintf(out, cap, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

int pgbase_lsn_parse(const char *s, uint64_t *out)
{
    unsigned hi, lo;
    int n = 0;

    if (s == NULL || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0') {
        return DR_EINVAL;
    }
    *out = ((uint64_t)hi << 32) | lo;
    return 0;
}

static void sha256_hex(const void *buf, size_t len, char *out)
{
    unsigned char md[32];
    EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", md[i]);
    }
}

/* What every reader of the tar stream watches: pg_control's system
 * identifier and PostgreSQL's backup_manifest. */
struct watch
{
    int which; /* 0 other, 1 global/pg_control, 2 backup_manifest */
    uint8_t control[8];
    size_t control_fill;
    char *pgman;
    size_t pgman_len;
    uint64_t files;
    /* Restores: where members go. */
    int dirfd; /* pgdata, or -1 */
    int fd;    /* the member being written */
    uid_t uid; /* chown to, when other */
    gid_t gid;
    bool other;
};

static int watch_begin(struct watch *w,
                       const struct tar_member *m,
                       char *errmsg)
{
    w->which = 0;
    if (m->type == TAR_FILE) {
        w->files++;
        if (strcmp(m->name, "global/pg_control") == 0) {
            w->which = 1;
            w->control_fill = 0;
        } else if (strcmp(m->name, "backup_manifest") == 0) {
            if (m->size > PGB_PGMANIFEST_MAX) {
                snprintf(errmsg, 256, "backup_manifest is %llu bytes: too big",
                         (unsigned long long)m->size);
                return DR_ELIMIT;
            }
            free(w->pgman);
            w->pgman = malloc(m->size + 1);
            if (w->pgman == NULL) {
                return pgj_nomem(errmsg);
            }
            w->pgman_len = 0;
            w->which = 2;
        }
    }
    return 0;
}

static void watch_data(struct watch *w, const void *buf, size_t len)
{
    if (w->which == 1 && w->control_fill < sizeof(w->control)) {
        size_t n = sizeof(w->control) - w->control_fill;
        n = n < len ? n : len;
        memcpy(w->control + w->control_fill, buf, n);
        w->control_fill += n;
    } else if (w->which == 2) {
        memcpy(w->pgman + w->pgman_len, buf, len);
        w->pgman_len += len;
    }
}

static uint64_t watch_sysid(const struct watch *w)
{
    uint64_t v;
    if (w->control_fill < sizeof(w->control)) {
        return 0;
    }
    memcpy(&v, w->control, sizeof(v)); /* native order, as pg_control */
    return v;
}

static void watch_free(struct watch *w)
{
    free(w->pgman);
    w->pgman = NULL;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
}

/* ---- backup ---- */

struct bk
{
    struct store *s;
    const char *prefix;
    int level;
    uint64_t part_bytes;
    struct zio_writer *zw;
    uint64_t in_part;
    struct pg_base_manifest m;
    size_t cap;
    struct watch w;
    struct tar_reader tar;
};

static int bk_tar_begin(void *ctx, const struct tar_member *m, char *errmsg)
{
    return watch_begin(&((struct bk *)ctx)->w, m, errmsg);
}

static int bk_tar_data(void *ctx, const void *buf, size_t len, char *errmsg)
{
    (void)errmsg;
    watch_data(&((struct bk *)ctx)->w, buf, len);
    return 0;
}

static int bk_commit_part(struct bk *b, char *errmsg)
{
    struct pg_base_object *o;
    struct zio_stats st;
    char err[256];
    int rv;

    rv = zio_writer_commit(b->zw, &st, err);
    b->zw = NULL;
    if (rv != 0) {
        snprintf(errmsg, 256, "part %zu: %.200s", b->m.n_parts, err);
        return rv;
    }
    o = &b->m.parts[b->m.n_parts];
    o->raw_bytes = st.raw_bytes;
    o->stored_bytes = st.stored_bytes;
    memcpy(o->raw_sha256, st.raw_sha256, PG_BASE_SHA_HEX);
    memcpy(o->stored_sha256, st.stored_sha256, PG_BASE_SHA_HEX);
    b->m.raw_bytes += st.raw_bytes;
    b->m.n_parts++;
    b->in_part = 0;
    return 0;
}

static int bk_open_part(struct bk *b, char *errmsg)
{
    char key[STORE_KEY_MAX], err[256];
    int rv;

    if (b->m.n_parts + 1 >= b->cap) {
        size_t cap = b->cap * 2 + 8;
        struct pg_base_object *p = realloc(b->m.parts, cap * sizeof(*p));
        if (p == NULL) {
            return pgj_nomem(errmsg);
        }
        memset(p + b->cap, 0, (cap - b->cap) * sizeof(*p));
        b->m.parts = p;
        b->cap = cap;
    }
    snprintf(key, sizeof(key), "%.900s/base.%05zu.tar.zst", b->prefix,
             b->m.n_parts);
    b->m.parts[b->m.n_parts].key = strdup(key);
    if (b->m.parts[b->m.n_parts].key == NULL) {
        return pgj_nomem(errmsg);
    }
    rv = zio_writer_open(b->s, key, b->level, &b->zw, err);
    if (rv != 0) {
        snprintf(errmsg, 256, "%s", err);
        return rv;
    }
    /* zstd compresses on a thread of its own while this one reads
     * pg_basebackup and hashes (as the Redis snapshots do). */
    (void)zio_writer_workers(b->zw, 1);
    return 0;
}

/* The tar bytes: watched, and cut into parts. */
static int bk_feed(struct bk *b, const uint8_t *p, size_t len, char *errmsg)
{
    static const struct tar_cb cb = {bk_tar_begin, bk_tar_data, NULL};
    char err[256];
    int rv = tar_feed(&b->tar, p, len, &cb, b, errmsg);

    while (rv == 0 && len > 0) {
        size_t n;
        if (b->zw == NULL && (rv = bk_open_part(b, errmsg)) != 0) {
            break;
        }
        n = b->part_bytes - b->in_part;
        n = n < len ? n : len;
        rv = zio_write(b->zw, p, n, err);
        if (rv != 0) {
            snprintf(errmsg, 256, "part %zu: %.200s", b->m.n_parts, err);
            break;
        }
        b->in_part += n;
        p += n;
        len -= n;
        if (b->in_part == b->part_bytes) {
            rv = bk_commit_part(b, errmsg);
        }
    }
    return rv;
}

/* WAL-Ranges of PostgreSQL's backup_manifest: the first start, the last
 * end and its timeline. */
static int bk_wal_range(struct bk *b, char *errmsg)
{
    json_error_t je;
    json_t *root = json_loadb(b->w.pgman, b->w.pgman_len, 0, &je), *ranges;
    size_t n;
    int rv = DR_EMALFORMED;

    ranges = json_object_get(root, "WAL-Ranges");
    n = json_array_size(ranges);
    if (n > 0) {
        json_t *first = json_array_get(ranges, 0);
        json_t *last = json_array_get(ranges, n - 1);
        json_int_t tli = json_integer_value(json_object_get(last, "Timeline"));
        if (pgbase_lsn_parse(
                json_string_value(json_object_get(first, "Start-LSN")),
                &b->m.start_lsn) == 0 &&
            pgbase_lsn_parse(
                json_string_value(json_object_get(last, "End-LSN")),
                &b->m.stop_lsn) == 0 &&
            tli > 0 && tli <= UINT32_MAX) {
            b->m.timeline = (uint32_t)tli;
            rv = 0;
        }
    }
    if (rv != 0) {
        snprintf(errmsg, 256,
                 "PostgreSQL's backup_manifest has no readable WAL-Ranges%s%s",
                 root == NULL ? ": " : "", root == NULL ? je.text : "");
    }
    json_decref(root);
    return rv;
}

static const char *pg_program(const char *override,
                              uint32_t version_num,
                              const char *name,
                              char *buf,
                              size_t cap)
{
    if (override != NULL) {
        return override;
    }
    snprintf(buf, cap, "/usr/lib/postgresql/%u/bin/%s", version_num / 10000,
             name);
    if (access(buf, X_OK) != 0) {
        snprintf(buf, cap, "%s", name);
    }
    return buf;
}

/* Run pg_basebackup and feed its stdout to b. */
static int bk_run(struct bk *b,
                  const char *conninfo,
                  const char *program,
                  char *errmsg)
{
    char *conn = NULL, *password = NULL, **env = NULL;
    uint8_t *buf = NULL;
    const char *argv[12];
    int outfd = -1, errfd = -1, rv;
    pid_t pid = -1;

    rv = pgj_conninfo_split(conninfo, &conn, &password, errmsg);
    if (rv != 0) {
        return rv;
    }
    argv[0] = program;
    argv[1] = "--dbname";
    argv[2] = conn;
    argv[3] = "--pgdata=-";
    argv[4] = "--format=tar";
    argv[5] = "--wal-method=fetch";
    argv[6] = "--checkpoint=fast";
    argv[7] = "--no-password";
    argv[8] = "--label=drnode base backup";
    argv[9] = NULL;
    env = pgj_child_env(password);
    buf = malloc(PGJ_IOBUF);
    if (env == NULL || buf == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    rv = pgj_spawn(argv, env, &pid, &outfd, &errfd, errmsg);
    if (rv != 0) {
        goto out;
    }
    for (;;) {
        ssize_t n = read(outfd, buf, PGJ_IOBUF);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            pgj_errf(errmsg, "pg_basebackup: read: %s", strerror(errno));
            rv = DR_EIO;
            goto out;
        }
        if (n == 0) {
            break;
        }
        rv = bk_feed(b, buf, (size_t)n, errmsg);
        if (rv != 0) {
            goto out;
        }
    }
    rv = pgj_wait(pid, errfd, "pg_basebackup", errmsg);
    pid = -1;
    if (rv == 0) {
        rv = tar_finish(&b->tar, errmsg);
    }
    if (rv == 0 && b->zw != NULL) {
        rv = bk_commit_part(b, errmsg);
    }
out:
    pgj_kill(pid);
    if (outfd >= 0) {
        close(outfd);
    }
    if (errfd >= 0) {
        close(errfd);
    }
    pgj_child_env_free(env, password);
    if (password != NULL) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    free(conn);
    free(buf);
    return rv;
}

/* The server's version, WAL segment size and bootstrap superuser (who a
 * restore of it connects as; m->superuser stays NULL when pg_roles does not
 * say). Returns the version, 0 when it could not ask. */
static uint32_t server_version(const char *conninfo,
                               uint32_t *seg_size,
                               struct pg_base_manifest *m,
                               char *errmsg)
{
    PGconn *c = NULL;
    PGresult *r;
    uint32_t v = 0;

    if (pgj_connect(conninfo, NULL, "base backup", &c, errmsg) != 0) {
        return 0;
    }
    r = PQexec(c,
               "SELECT current_setting('server_version_num'), "
               "(SELECT setting FROM pg_settings "
               "WHERE name = 'wal_segment_size'), "
               "(SELECT rolname FROM pg_roles WHERE oid = 10)");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        v = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        *seg_size = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        if (!PQgetisnull(r, 0, 2) &&
            strlen(PQgetvalue(r, 0, 2)) <= PG_BASE_NAME_MAX) {
            m->superuser = strdup(PQgetvalue(r, 0, 2)); /* NULL: unknown */
        }
    } else {
        pgj_resulterr(r, errmsg);
    }
    PQclear(r);
    PQfinish(c);
    return v;
}

/* After a base backup: WAL older than every base backup of this cluster
 * ("wal_expire": {"store", "bases": [{"system_identifier", "start_lsn"}]},
 * the catalog's other complete base backups) leaves the archive. The
 * backup stands whatever happens here; the result says what did. */
static void expire_wal(const json_t *spec,
                       const struct pg_base_manifest *m,
                       uint32_t seg_size,
                       json_t *result)
{
    const json_t *ex = json_object_get(spec, "wal_expire"), *b, *copies;
    struct wal_options o;
    uint64_t keep = m->start_lsn, removed = 0;
    char sysid[24], keep_s[32], err[256];
    size_t i;
    int rv;

    if (!json_is_object(ex) || !json_is_string(json_object_get(ex, "store"))) {
        return;
    }
    snprintf(sysid, sizeof(sysid), "%016llX",
             (unsigned long long)m->system_identifier);
    json_array_foreach(json_object_get(ex, "bases"), i, b)
    {
        const char *id =
            json_string_value(json_object_get(b, "system_identifier"));
        uint64_t lsn;
        if (id != NULL && strcasecmp(id, sysid) == 0 &&
            pgbase_lsn_parse(json_string_value(json_object_get(b, "start_lsn")),
                             &lsn) == 0 &&
            lsn < keep) {
            keep = lsn;
        }
    }
    memset(&o, 0, sizeof(o));
    o.credentials_file =
        json_string_value(json_object_get(spec, "credentials_file"));
    /* The archive, then the other regions' copies of it (wal_copies). */
    copies = json_object_get(ex, "copies");
    for (i = 0; i <= json_array_size(copies); i++) {
        uint64_t n = 0;
        o.store_url = json_string_value(i == 0 ? json_object_get(ex, "store")
                                               : json_array_get(copies, i - 1));
        if (o.store_url == NULL) {
            continue;
        }
        rv = wal_expire(&o, m->system_identifier, seg_size, keep, &n, err);
        removed += n;
        if (rv != 0 && json_object_get(result, "wal_expire_error") == NULL) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%s: %s", o.store_url, err);
            json_object_set_new(result, "wal_expire_error", json_string(msg));
        }
    }
    lsn_str(keep, keep_s, sizeof(keep_s));
    json_object_set_new(result, "wal_kept_from_lsn", json_string(keep_s));
    json_object_set_new(result, "wal_expired",
                        json_integer((json_int_t)removed));
}

int pgbasejob_backup(const json_t *spec, json_t **result, char *errmsg)
{
    const char *prefix, *conninfo, *program;
    char prog[256], lsn1[32], lsn2[32], sysid[24], mkey[STORE_KEY_MAX];
    char msha[STORE_SHA256_HEX], err[256];
    uint64_t part_bytes, level;
    uint32_t seg_size = 0;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    struct bk b;
    int64_t t0 = mono_ms();
    int rv;

    *result = NULL;
    memset(&b, 0, sizeof(b));
    b.w.fd = -1;
    b.w.dirfd = -1;
    if ((rv = job_spec_string(spec, "prefix", true, &prefix, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "pg", true, &conninfo, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "pg_basebackup", false, &program,
                              errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "part_bytes", PGB_PART_BYTES, 1u << 20,
                            1ull << 40, &part_bytes, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "level", 3, 1, 19, &level, errmsg)) != 0) {
        return rv;
    }
    b.m.server_version_num = server_version(conninfo, &seg_size, &b.m, errmsg);
    if (b.m.server_version_num == 0) {
        return DR_EUNAVAILABLE;
    }
    if (b.m.server_version_num < 130000) {
        pgj_errf(errmsg,
                 "PostgreSQL %u has no backup manifests: base backups need "
                 "13 or later",
                 b.m.server_version_num / 10000);
        return DR_EINVAL;
    }
    rv = job_open_store(spec, &b.s, errmsg);
    if (rv != 0) {
        return rv;
    }
    b.prefix = prefix;
    b.level = (int)level;
    b.part_bytes = part_bytes;
    b.m.format_version = PG_BASE_MANIFEST_VERSION;
    b.m.started_ms = (uint64_t)wall_ms();
    tar_reader_init(&b.tar);
    program = pg_program(program, b.m.server_version_num, "pg_basebackup", prog,
                         sizeof(prog));
    rv = bk_run(&b, conninfo, program, errmsg);
    b.m.finished_ms = (uint64_t)wall_ms();
    if (rv == 0 && b.w.pgman == NULL) {
        pgj_errf(errmsg, "the base backup holds no backup_manifest");
        rv = DR_EMALFORMED;
    }
    if (rv == 0 && (b.m.system_identifier = watch_sysid(&b.w)) == 0) {
        pgj_errf(errmsg, "the base backup holds no global/pg_control");
        rv = DR_EMALFORMED;
    }
    if (rv == 0) {
        rv = bk_wal_range(&b, errmsg);
    }
    if (rv == 0) {
        b.m.files = b.w.files;
        sha256_hex(b.w.pgman, b.w.pgman_len, b.m.pg_manifest_sha256);
        rv = pg_base_manifest_encode(&b.m, &enc, &enc_len);
        if (rv != 0) {
            pgj_errf(errmsg, "out of memory");
        }
    }
    snprintf(mkey, sizeof(mkey), "%.900s/manifest.pb", prefix);
    if (rv == 0) {
        rv = store_put_buf(b.s, mkey, enc, enc_len, msha, err);
        if (rv != 0) {
            pgj_errf(errmsg, "manifest: %s", err);
        }
    }
    if (rv != 0) {
        /* Nothing half-made stays behind. */
        zio_writer_abort(b.zw);
        b.zw = NULL;
        for (size_t i = 0; i < b.m.n_parts + 1 && i < b.cap; i++) {
            if (b.m.parts[i].key != NULL) {
                store_delete(b.s, b.m.parts[i].key, err);
            }
        }
    } else {
        uint64_t stored = enc_len;
        for (size_t i = 0; i < b.m.n_parts; i++) {
            stored += b.m.parts[i].stored_bytes;
        }
        lsn_str(b.m.start_lsn, lsn1, sizeof(lsn1));
        lsn_str(b.m.stop_lsn, lsn2, sizeof(lsn2));
        snprintf(sysid, sizeof(sysid), "%016llX",
                 (unsigned long long)b.m.system_identifier);
        *result = json_pack(
            "{ss ss sI sI sI ss si ss ss sI sI sI si}", "manifest_key", mkey,
            "manifest_sha256", msha, "stored_bytes", (json_int_t)stored,
            "raw_bytes", (json_int_t)b.m.raw_bytes, "snapshot_time_ms",
            (json_int_t)b.m.finished_ms, "system_identifier", sysid, "timeline",
            (int)b.m.timeline, "start_lsn", lsn1, "stop_lsn", lsn2, "files",
            (json_int_t)b.m.files, "parts", (json_int_t)b.m.n_parts,
            "duration_ms", (json_int_t)(mono_ms() - t0), "server_version_num",
            (int)b.m.server_version_num);
    }
    if (rv == 0 && *result != NULL) {
        expire_wal(spec, &b.m, seg_size, *result);
    }
    /* Unused slots past n_parts may hold a key (a part never committed). */
    if (b.m.parts != NULL && b.m.n_parts < b.cap) {
        free(b.m.parts[b.m.n_parts].key);
        b.m.parts[b.m.n_parts].key = NULL;
    }
    pg_base_manifest_free(&b.m);
    free(enc);
    watch_free(&b.w);
    store_close(b.s);
    return rv;
}

/* ---- reading a base backup back: verify and restore ---- */

struct rd
{
    struct watch w;
    struct tar_reader tar;
    const char *pgdata;
    char name[TAR_NAME_MAX];
};

/* Whether a member's name stays inside the data directory. */
static bool name_safe(const char *n)
{
    const char *p = n;

    if (n[0] == '/' || n[0] == '\0') {
        return false;
    }
    for (;;) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && p[0] == '.' && p[1] == '.') || len == 0) {
            return strcmp(n, ".") == 0 && len == 1;
        }
        if (p[len] == '\0') {
            return true;
        }
        p += len + 1;
    }
}

static int rd_begin(void *ctx, const struct tar_member *m, char *errmsg)
{
    struct rd *r = ctx;
    int rv = watch_begin(&r->w, m, errmsg);

    if (rv != 0 || r->w.dirfd < 0) {
        return rv;
    }
    if (!name_safe(m->name)) {
        snprintf(errmsg, 256,
                 "tar member %.100s would land outside the data directory",
                 m->name);
        return DR_EMALFORMED;
    }
    snprintf(r->name, sizeof(r->name), "%s", m->name);
    if (m->type == TAR_SYMLINK) {
        snprintf(errmsg, 256,
                 "tar member %.100s is a symbolic link (a tablespace?): "
                 "base backups with tablespaces are not supported",
                 m->name);
        return DR_EINVAL;
    }
    if (m->type == TAR_DIR) {
        if (strcmp(m->name, ".") == 0) {
            return 0;
        }
        if (mkdirat(r->w.dirfd, m->name, 0700) != 0 && errno != EEXIST) {
            snprintf(errmsg, 256, "mkdir %.100s: %s", m->name, strerror(errno));
            return DR_EIO;
        }
    } else {
        r->w.fd = openat(r->w.dirfd, m->name,
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         (m->mode & 0777) | 0600);
        if (r->w.fd < 0) {
            snprintf(errmsg, 256, "create %.100s: %s", m->name,
                     strerror(errno));
            return DR_EIO;
        }
    }
    if (r->w.other && fchownat(r->w.dirfd, m->name, r->w.uid, r->w.gid,
                               AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(errmsg, 256, "chown %.100s: %s", m->name, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

static int rd_data(void *ctx, const void *buf, size_t len, char *errmsg)
{
    struct rd *r = ctx;
    const char *p = buf;

    watch_data(&r->w, buf, len);
    while (r->w.fd >= 0 && len > 0) {
        ssize_t n = write(r->w.fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(errmsg, 256, "write %.100s: %s", r->name, strerror(errno));
            return DR_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int rd_end(void *ctx, char *errmsg)
{
    struct rd *r = ctx;
    (void)errmsg;
    if (r->w.fd >= 0) {
        /* Start its writeback now, while the next files are unpacked: the
         * final syncfs then has little left to wait for (as PostgreSQL's
         * own pg_flush_data does). */
        (void)sync_file_range(r->w.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        close(r->w.fd);
        r->w.fd = -1;
    }
    return 0;
}

static int load_manifest(struct store *s,
                         const json_t *spec,
                         struct pg_base_manifest *m,
                         char *errmsg)
{
    const char *key, *sha;
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    int rv;

    if ((rv = job_spec_string(spec, "manifest_key", true, &key, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "manifest_sha256", true, &sha, errmsg)) !=
            0) {
        return rv;
    }
    rv = store_get_buf(s, key, sha, PGB_MANIFEST_MAX, &buf, &len, err);
    if (rv == 0) {
        rv = pg_base_manifest_decode(buf, len, m, err);
    }
    free(buf);
    if (rv != 0) {
        snprintf(errmsg, 256, "%s", err);
    }
    return rv;
}

/* The parts are read, decompressed and hashed on a thread of their own
 * while this one walks the tar and writes the files: a ring of buffers
 * between them. */
#define PIPE_BUFS 4
#define PIPE_BUF_BYTES (4u << 20)

struct rpipe
{
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t *buf[PIPE_BUFS];
    size_t len[PIPE_BUFS];
    size_t head, count;
    bool done, drain;
    int rv;
    char err[256];
    struct store *s;
    const struct pg_base_manifest *m;
};

/* The producer: every part in order, each checked against the manifest
 * once read to its end. */
static void *pipe_main(void *arg)
{
    struct rpipe *p = arg;
    char err[256] = "";
    int rv = 0;

    for (size_t i = 0; i < p->m->n_parts && rv == 0; i++) {
        const struct pg_base_object *o = &p->m->parts[i];
        struct zio_reader *z = NULL;
        struct zio_stats st;
        bool drain = false;

        rv = zio_reader_open(p->s, o->key, o->stored_sha256, &z, err);
        while (rv == 0) {
            size_t slot, n = 0;
            pthread_mutex_lock(&p->mu);
            while (p->count == PIPE_BUFS && !p->drain) {
                pthread_cond_wait(&p->cv, &p->mu);
            }
            drain = p->drain;
            slot = (p->head + p->count) % PIPE_BUFS;
            pthread_mutex_unlock(&p->mu);
            /* Draining: the consumer found the tar makes no sense; this part
             * is read to its end only to tell whether it is the part that is
             * corrupt (into a buffer nobody reads any more). */
            rv = zio_read(z, p->buf[drain ? 0 : slot], PIPE_BUF_BYTES, &n, err);
            if (rv != 0 || n == 0) {
                break;
            }
            if (drain) {
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->len[slot] = n;
            p->count++;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
        }
        if (rv == 0) {
            zio_reader_stats(z, &st);
            if (strcmp(st.raw_sha256, o->raw_sha256) != 0 ||
                st.raw_bytes != o->raw_bytes) {
                snprintf(err, sizeof(err),
                         "part %.120s: its content differs from the manifest "
                         "(SHA-256 %.16s..., expected %.16s...)",
                         o->key, st.raw_sha256, o->raw_sha256);
                rv = DR_ECORRUPT;
            }
        }
        zio_reader_close(z);
        if (drain) {
            break;
        }
    }
    pthread_mutex_lock(&p->mu);
    p->rv = rv;
    memcpy(p->err, err, sizeof(err));
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Every part through the tar reader, checked against the manifest. */
static int read_parts(struct store *s,
                      const struct pg_base_manifest *m,
                      struct rd *r,
                      char *errmsg)
{
    static const struct tar_cb cb = {rd_begin, rd_data, rd_end};
    struct rpipe p;
    pthread_t th;
    char err[256] = "";
    int rv = 0;

    memset(&p, 0, sizeof(p));
    p.s = s;
    p.m = m;
    for (int i = 0; i < PIPE_BUFS; i++) {
        p.buf[i] = malloc(PIPE_BUF_BYTES);
        if (p.buf[i] == NULL) {
            for (int k = 0; k <= i; k++) {
                free(p.buf[k]);
            }
            return pgj_nomem(errmsg);
        }
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    tar_reader_init(&r->tar);
    if (pthread_create(&th, NULL, pipe_main, &p) != 0) {
        snprintf(errmsg, 256, "cannot start a reader thread");
        rv = DR_ENOMEM;
        goto out;
    }
    for (;;) {
        size_t slot;
        pthread_mutex_lock(&p.mu);
        while (p.count == 0 && !p.done) {
            pthread_cond_wait(&p.cv, &p.mu);
        }
        if (p.count == 0) { /* done, all consumed */
            pthread_mutex_unlock(&p.mu);
            break;
        }
        slot = p.head;
        pthread_mutex_unlock(&p.mu);
        rv = tar_feed(&r->tar, p.buf[slot], p.len[slot], &cb, r, err);
        pthread_mutex_lock(&p.mu);
        p.head = (p.head + 1) % PIPE_BUFS;
        p.count--;
        if (rv != 0) {
            p.drain = true; /* the part may be what is wrong: let it say */
        }
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (rv != 0) {
            break;
        }
    }
    pthread_join(th, NULL);
    if (rv != 0 && p.rv != 0) {
        /* A tar that makes no sense (or names nonsense) from a part that is
         * corrupt: the part's own check names it. */
        rv = p.rv;
        snprintf(errmsg, 256, "%s", p.err);
    } else if (rv != 0) {
        snprintf(errmsg, 256, "%s", err);
    } else if (p.rv != 0) {
        rv = p.rv;
        snprintf(errmsg, 256, "%s", p.err);
    }
out:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    for (int i = 0; i < PIPE_BUFS; i++) {
        free(p.buf[i]);
    }
    if (rv == 0) {
        rv = tar_finish(&r->tar, errmsg);
    }
    if (rv == 0 && watch_sysid(&r->w) != m->system_identifier) {
        snprintf(errmsg, 256,
                 "pg_control's system identifier %016llX is not the "
                 "manifest's %016llX",
                 (unsigned long long)watch_sysid(&r->w),
                 (unsigned long long)m->system_identifier);
        rv = DR_ECORRUPT;
    }
    if (rv == 0) {
        char got[PG_BASE_SHA_HEX] = "";
        if (r->w.pgman != NULL) {
            sha256_hex(r->w.pgman, r->w.pgman_len, got);
        }
        if (strcmp(got, m->pg_manifest_sha256) != 0) {
            snprintf(errmsg, 256,
                     "PostgreSQL's backup_manifest %s the manifest's digest",
                     r->w.pgman == NULL ? "is missing: it cannot match"
                                        : "does not match");
            rv = DR_ECORRUPT;
        }
    }
    if (rv == 0 && r->w.files != m->files) {
        snprintf(errmsg, 256,
                 "the tar holds %llu files, the manifest says %llu",
                 (unsigned long long)r->w.files, (unsigned long long)m->files);
        rv = DR_ECORRUPT;
    }
    return rv;
}

int pgbasejob_verify(const json_t *spec, json_t **result, char *errmsg)
{
    struct pg_base_manifest m;
    struct store *s = NULL;
    struct rd r;
    int64_t t0 = mono_ms();
    int rv;

    *result = NULL;
    memset(&r, 0, sizeof(r));
    r.w.fd = -1;
    r.w.dirfd = -1;
    memset(&m, 0, sizeof(m));
    rv = job_open_store(spec, &s, errmsg);
    if (rv == 0) {
        rv = load_manifest(s, spec, &m, errmsg);
    }
    if (rv == 0) {
        rv = read_parts(s, &m, &r, errmsg);
    }
    if (rv == 0) {
        *result = json_pack(
            "{sb sI sI sI sI}", "ok", 1, "parts", (json_int_t)m.n_parts,
            "raw_bytes", (json_int_t)m.raw_bytes, "files", (json_int_t)m.files,
            "duration_ms", (json_int_t)(mono_ms() - t0));
    }
    watch_free(&r.w);
    pg_base_manifest_free(&m);
    store_close(s);
    return rv;
}

static int rm_one(const char *path,
                  const struct stat *sb,
                  int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    if (ftw->level > 0) {
        remove(path);
    }
    return 0;
}

/* The data directory: made, or an empty one; owned by the server's user. */
static int prepare_pgdata(const char *pgdata, struct watch *w, char *errmsg)
{
    struct stat sb;
    struct passwd *pw;

    if (geteuid() == 0) {
        /* PostgreSQL refuses to run as root: its files are postgres's. */
        pw = getpwnam("postgres");
        if (pw == NULL) {
            snprintf(errmsg, 256,
                     "running as root and there is no postgres user to own "
                     "%.150s",
                     pgdata);
            return DR_EINVAL;
        }
        w->other = true;
        w->uid = pw->pw_uid;
        w->gid = pw->pw_gid;
    }
    if (mkdir(pgdata, 0700) != 0) {
        DIR *d;
        struct dirent *e;
        bool empty = true;
        if (errno != EEXIST || stat(pgdata, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(errmsg, 256, "cannot make the data directory %.150s: %s",
                     pgdata, strerror(errno == EEXIST ? ENOTDIR : errno));
            return DR_EINVAL;
        }
        d = opendir(pgdata);
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                empty = false;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        if (!empty) {
            snprintf(errmsg, 256,
                     "the data directory %.150s is not empty: a restore "
                     "never writes over one",
                     pgdata);
            return DR_ECONFLICT;
        }
        if (chmod(pgdata, 0700) != 0) {
            snprintf(errmsg, 256, "chmod %.150s: %s", pgdata, strerror(errno));
            return DR_EIO;
        }
    }
    if (w->other && chown(pgdata, w->uid, w->gid) != 0) {
        snprintf(errmsg, 256, "chown %.150s: %s", pgdata, strerror(errno));
        return DR_EIO;
    }
    w->dirfd = open(pgdata, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        snprintf(errmsg, 256, "open %.150s: %s", pgdata, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

/* What a replaying server's log says so far, for drctl's progress line:
 * how many WAL files it restored from the archive, the newest one. */
static void replay_note(const char *log)
{
    static const char tag[] = "restored log file \"";
    FILE *f = fopen(log, "r");
    char line[512], last[32] = "";
    unsigned n = 0;

    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, tag);
        size_t k;
        if (p == NULL) {
            continue;
        }
        p += sizeof(tag) - 1;
        k = strcspn(p, "\"");
        if (k > 0 && k < sizeof(last)) {
            memcpy(last, p, k);
            last[k] = '\0';
            n++;
        }
    }
    fclose(f);
    if (n == 0) {
        store_progress_note_set(
            "replaying the WAL archive: waiting for the "
            "first file");
    } else {
        store_progress_note_set(
            "replaying the WAL archive: %u files, the "
            "newest %s",
            n, last);
    }
}

/* Run argv (argv[0] a path) to its end; why it failed in err. */
static int run_child(const char *const *argv, char *err)
{
    char buf[4096];
    int outfd, errfd, rv;
    pid_t pid;

    rv = pgj_spawn(argv, environ, &pid, &outfd, &errfd, err);
    if (rv != 0) {
        return rv;
    }
    for (;;) { /* what it prints is not needed */
        ssize_t n = read(outfd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR)) {
            break;
        }
    }
    close(outfd);
    rv = pgj_wait(pid, errfd, "it", err);
    close(errfd);
    return rv != 0 ? DR_ECORRUPT : 0;
}

/* s between shell single quotes, inside a PostgreSQL string ('' for '). */
static bool sh_quote(const char *s, char *out, size_t cap)
{
    size_t len = strlen(s);

    if (strchr(s, '\'') != NULL || strchr(s, '\n') != NULL || len + 5 > cap) {
        return false;
    }
    memcpy(out, "''", 2);
    memcpy(out + 2, s, len);
    memcpy(out + 2 + len, "''", 3);
    return true;
}

static int write_owned(struct watch *w,
                       const char *name,
                       const char *text,
                       int flags,
                       char *errmsg)
{
    int fd =
        openat(w->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
    size_t len = strlen(text);

    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0 ||
        (w->other && fchown(fd, w->uid, w->gid) != 0)) {
        snprintf(errmsg, 256, "write %s: %s", name, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return DR_EIO;
    }
    close(fd);
    return 0;
}

/* A server that keeps its configuration outside the data directory (as
 * Debian's /etc/postgresql/N/main) leaves postgresql.conf, pg_hba.conf and
 * pg_ident.conf out of its base backups, and PostgreSQL refuses to start
 * on a directory without the first two. Write what is missing: defaults
 * (postgresql.auto.conf, restored, still applies) and client rules as
 * Debian's package sets them; the report names each file written. */
static int fill_missing_config(struct watch *w, json_t *report, char *errmsg)
{
    static const char *const files[][2] = {
        {"postgresql.conf",
         "# Written by drnode's restore: the base backup held no\n"
         "# postgresql.conf (its server keeps its configuration elsewhere,\n"
         "# as Debian's /etc/postgresql does). PostgreSQL's defaults apply,\n"
         "# then postgresql.auto.conf. Bring the source's settings here.\n"},
        {"pg_hba.conf",
         "# Written by drnode's restore: the base backup held no "
         "pg_hba.conf.\n"
         "# Debian's defaults: the socket by the operating-system user of\n"
         "# the same name, loopback TCP with a password.\n"
         "local all all peer\n"
         "host all all 127.0.0.1/32 scram-sha-256\n"
         "host all all ::1/128 scram-sha-256\n"},
        {"pg_ident.conf",
         "# Written by drnode's restore: the base backup held none.\n"},
    };
    json_t *written = json_array();

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int rv;
        if (faccessat(w->dirfd, files[i][0], F_OK, 0) == 0) {
            continue;
        }
        if (errno != ENOENT) {
            snprintf(errmsg, 256, "%s: %s", files[i][0], strerror(errno));
            json_decref(written);
            return DR_EIO;
        }
        if ((rv = write_owned(w, files[i][0], files[i][1], O_EXCL, errmsg)) !=
            0) {
            json_decref(written);
            return rv;
        }
        json_array_append_new(written, json_string(files[i][0]));
    }
    if (json_array_size(written) > 0) {
        json_object_set_new(report, "config_written", written);
    } else {
        json_decref(written);
    }
    return 0;
}

/* The newest WAL segment the base backup carries in pg_wal (name, 25
 * bytes; "" when none): the last one it needs from the archive is after
 * it, and its stop made PostgreSQL archive it. */
static void last_segment(const char *pgdata, char *name)
{
    char path[1100];
    DIR *d;
    struct dirent *de;

    name[0] = '\0';
    snprintf(path, sizeof(path), "%.1000s/pg_wal", pgdata);
    if ((d = opendir(path)) == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 24 &&
            strspn(de->d_name, "0123456789ABCDEF") == 24 &&
            strcmp(de->d_name, name) > 0) {
            memcpy(name, de->d_name, 25);
        }
    }
    closedir(d);
}

/* "wal_stores": the first of them that holds the base backup's last
 * segment is the archive to replay (a DR region's own copies before the
 * origin's store, which may be lost with its data center). None: refused,
 * since replay would end at the backup's stop, silently early. */
static int pick_wal_store(const json_t *stores,
                          const char *pgdata,
                          uint64_t sysid,
                          const char *creds,
                          json_t *report,
                          const char **out,
                          char *errmsg)
{
    char seg[25], tried[512] = "";
    const json_t *v;
    size_t i, used = 0;

    last_segment(pgdata, seg);
    json_array_foreach(stores, i, v)
    {
        struct wal_options o;
        bool found = false;
        char err[256];
        int rv;
        if (!json_is_string(v)) {
            snprintf(errmsg, 256, "\"wal_stores\" must hold store URLs");
            return DR_EINVAL;
        }
        if (seg[0] == '\0') {
            /* No segment in the backup to look for: the first store. */
            *out = json_string_value(v);
            return 0;
        }
        memset(&o, 0, sizeof(o));
        o.store_url = json_string_value(v);
        o.credentials_file = creds;
        rv = wal_archived(&o, sysid, seg, &found, err);
        if (rv == 0 && found) {
            *out = o.store_url;
            if (i > 0) {
                json_object_set_new(report, "wal_stores_passed_over",
                                    json_string(tried));
            }
            return 0;
        }
        used += (size_t)snprintf(tried + used, sizeof(tried) - used,
                                 "%s%.120s: %.120s", used > 0 ? "; " : "",
                                 o.store_url, rv == 0 ? "not there" : err);
        if (used >= sizeof(tried)) {
            used = sizeof(tried) - 1;
        }
    }
    if (i == 0) {
        snprintf(errmsg, 256, "\"wal_stores\" is empty");
        return DR_EINVAL;
    }
    snprintf(errmsg, 256,
             "%.24s (the backup's last WAL segment) is in none of the WAL "
             "stores (%.140s; --wal-store overrides)",
             seg, tried);
    return DR_ENOTFOUND;
}

/* restore_command, the target, recovery.signal. */
static int setup_recovery(const json_t *spec,
                          const char *pgdata,
                          uint64_t sysid,
                          struct watch *w,
                          json_t *report,
                          char *errmsg)
{
    const char *conf = NULL, *drnode = NULL, *ttime = NULL, *tlsn = NULL;
    const char *store = NULL, *creds = NULL;
    char qconf[1100], qdrnode[1100], path[1100], text[4096], target[256];
    bool archive = json_is_true(json_object_get(spec, "archive"));
    bool standby = json_is_true(json_object_get(spec, "standby"));
    int rv;

    if ((rv = job_spec_string(spec, "wal_config", false, &conf, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "drnode", false, &drnode, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "target_time", false, &ttime, errmsg)) !=
            0 ||
        (rv = job_spec_string(spec, "target_lsn", false, &tlsn, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "wal_store", false, &store, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "credentials_file", false, &creds,
                              errmsg)) != 0) {
        return rv;
    }
    if (conf == NULL && store == NULL &&
        json_is_array(json_object_get(spec, "wal_stores")) &&
        (rv = pick_wal_store(json_object_get(spec, "wal_stores"), pgdata, sysid,
                             creds, report, &store, errmsg)) != 0) {
        return rv;
    }
    if (conf == NULL) {
        /* A drnode configuration for wal-fetch, naming the archive. */
        if (store == NULL) {
            snprintf(errmsg, 256,
                     "give \"wal_config\", \"wal_store\" or \"wal_stores\"");
            return DR_EINVAL;
        }
        json_object_set_new(report, "wal_store", json_string(store));
        snprintf(text, sizeof(text),
                 "# drnode wal-fetch of the server restored here.\n"
                 "[node]\nid = 1\nregion = restore\nraft_address = "
                 "127.0.0.1:1\napi_address = 127.0.0.1:2\ndata_dir = %s\n\n"
                 "[services]\nwal_store = %s\n%s%s%s\n"
                 "[member.1]\nregion = restore\nraft_address = 127.0.0.1:1\n"
                 "api_address = 127.0.0.1:2\n",
                 pgdata, store, creds != NULL ? "store_credentials = " : "",
                 creds != NULL ? creds : "", creds != NULL ? "\n" : "");
        if ((rv = write_owned(w, "drnode-wal-fetch.conf", text, O_EXCL,
                              errmsg)) != 0) {
            return rv;
        }
        snprintf(path, sizeof(path), "%.1000s/drnode-wal-fetch.conf", pgdata);
        conf = path;
    }
    if (drnode == NULL) {
        drnode = "drnode";
    }
    if (!sh_quote(conf, qconf, sizeof(qconf)) ||
        !sh_quote(drnode, qdrnode, sizeof(qdrnode))) {
        snprintf(errmsg, 256,
                 "the paths of drnode and its configuration must not hold a "
                 "quote or a newline");
        return DR_EINVAL;
    }
    if (ttime != NULL && (strchr(ttime, '\'') || strlen(ttime) > 64)) {
        snprintf(errmsg, 256, "\"target_time\" is not a time");
        return DR_EINVAL;
    }
    if (tlsn != NULL) {
        uint64_t l;
        if (pgbase_lsn_parse(tlsn, &l) != 0) {
            snprintf(errmsg, 256, "\"target_lsn\" %.40s is not an LSN (X/X)",
                     tlsn);
            return DR_EINVAL;
        }
    }
    if (ttime != NULL) {
        snprintf(target, sizeof(target), "recovery_target_time = '%s'\n",
                 ttime);
    } else if (tlsn != NULL) {
        snprintf(target, sizeof(target), "recovery_target_lsn = '%s'\n", tlsn);
    } else {
        snprintf(target, sizeof(target), "# target: the end of the archive\n");
    }
    if (standby && (ttime != NULL || tlsn != NULL)) {
        snprintf(errmsg, 256,
                 "a standby has no target: it follows the "
                 "archive until promoted");
        return DR_EINVAL;
    }
    snprintf(text, sizeof(text),
             "\n# %s by drnode: replay the WAL archive%s.\n"
             "restore_command = '%s wal-fetch --config %s %%f %%p'\n"
             "%s"
             "%s"
             "recovery_target_timeline = 'latest'\n"
             "%s",
             standby ? "Standby" : "Point-in-time restore",
             standby ? " as it grows, until promoted" : ", then promote",
             qdrnode, qconf, standby ? "" : target,
             standby ? "" : "recovery_target_action = 'promote'\n",
             archive ? ""
                     : "archive_mode = 'off' # not into the source's "
                       "archive\n");
    if ((rv = write_owned(w, "postgresql.auto.conf", text, O_APPEND, errmsg)) !=
            0 ||
        (rv = write_owned(w, standby ? "standby.signal" : "recovery.signal", "",
                          O_TRUNC, errmsg)) != 0) {
        return rv;
    }
    json_object_set_new(report, "target",
                        json_string(standby         ? "standby"
                                    : ttime != NULL ? ttime
                                    : tlsn != NULL  ? tlsn
                                                    : "latest"));
    json_object_set_new(report, "wal_config", json_string(conf));
    return 0;
}

/* The last line of the server's log that says why it stopped. */
static void log_reason(const char *log, char *out, size_t cap)
{
    FILE *f = fopen(log, "r");
    char line[512], missing[32] = "", last[320] = "";
    const char *p;
    bool found = false;

    snprintf(out, cap, "no reason in %.400s", log);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] != '\0') {
            snprintf(last, sizeof(last), "%.300s", line);
        }
        /* "drnode wal-fetch: NAME: not in the archive (URL)": the last
         * segment asked for and missing is where replay had to stop. */
        p = strstr(line, "wal-fetch: ");
        if (p != NULL && strstr(line, ": not in the archive") != NULL &&
            strspn(p + 11, "0123456789ABCDEF") == 24 && p[35] == ':') {
            snprintf(missing, sizeof(missing), "%.24s", p + 11);
        }
        if (strstr(line, "FATAL:") != NULL || strstr(line, "PANIC:") != NULL) {
            p = strstr(line, "FATAL:");
            snprintf(out, cap, "%.300s", p != NULL ? p : line);
            if (strstr(line, "before configured recovery target") != NULL &&
                missing[0] != '\0') {
                /* Never an early end passed off as the target. */
                size_t n = strlen(out);
                snprintf(out + n, cap - n,
                         " (the archive has no WAL file %s, which replay "
                         "needed next)",
                         missing);
            }
            found = true;
            break; /* the first FATAL says it */
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (!found && last[0] != '\0') {
        /* What the server says before its logging starts has no level
         * ("postgres: could not access the server configuration file"). */
        snprintf(out, cap, "%s (its log's last line)", last);
    }
}

/* Whether the server's log holds what. */
static bool log_has(const char *log, const char *what)
{
    FILE *f = fopen(log, "r");
    char line[512];
    bool found = false;

    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
        found = strstr(line, what) != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

/* Start a server on pgdata and wait until it has promoted (recovery.signal
 * gone), or as a standby serves reads, or stopped. The conninfo it reports
 * names superuser when known (NULL: libpq's default user). */
static int start_and_wait(const char *pgdata,
                          const char *bindir,
                          uint64_t port,
                          uint64_t wait_s,
                          bool standby,
                          const char *superuser,
                          const struct watch *w,
                          json_t *report,
                          char *errmsg)
{
    char prog[300], portarg[16], sock[1100], log[1100], signal[1100];
    char conninfo[2400];
    char why[512];
    int64_t t0 = mono_ms();
    int status, logfd;
    unsigned polls = 0;
    pid_t pid;

    snprintf(prog, sizeof(prog), "%.280s/postgres", bindir);
    if (access(prog, X_OK) != 0) {
        snprintf(errmsg, 256,
                 "no PostgreSQL server to start here: %.150s: %s (install "
                 "the server of the backup's major version)",
                 prog, strerror(errno));
        return DR_EUNAVAILABLE;
    }
    snprintf(portarg, sizeof(portarg), "%u", (unsigned)port);
    snprintf(sock, sizeof(sock), "unix_socket_directories=%.1000s", pgdata);
    snprintf(log, sizeof(log), "%.1000s/drnode-restore.log", pgdata);
    snprintf(signal, sizeof(signal), "%.1000s/recovery.signal", pgdata);
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0 || (w->other && fchown(logfd, w->uid, w->gid) != 0)) {
        snprintf(errmsg, 256, "%.150s: %s", log, strerror(errno));
        if (logfd >= 0) {
            close(logfd);
        }
        return DR_EIO;
    }
    pid = fork();
    if (pid < 0) {
        close(logfd);
        snprintf(errmsg, 256, "fork: %s", strerror(errno));
        return DR_EIO;
    }
    if (pid == 0) {
        const char *argv[] = {prog,
                              "-D",
                              pgdata,
                              "-p",
                              portarg,
                              "-c",
                              "listen_addresses=127.0.0.1",
                              "-c",
                              sock,
                              "-c",
                              "logging_collector=off",
                              NULL};
        int nul = open("/dev/null", O_RDONLY);
        setsid();
        dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        if (w->other && (setgid(w->gid) != 0 || setuid(w->uid) != 0)) {
            _exit(126);
        }
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    json_object_set_new(report, "pid", json_integer(pid));
    json_object_set_new(report, "log", json_string(log));
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            log_reason(log, why, sizeof(why));
            snprintf(errmsg, 256,
                     "the restored server stopped before the target "
                     "(%s %d): %.160s",
                     WIFEXITED(status) ? "exit" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                     why);
            store_progress_note_set("%s", "");
            return DR_EUNAVAILABLE;
        }
        /* Promoted: recovery.signal is gone once replay ends, but writes
         * are refused until the promotion is through, which the postmaster
         * says with this line ("read-only" is a standby's). */
        if (standby ? log_has(log, "ready to accept read-only connections")
                    : access(signal, F_OK) != 0 &&
                          log_has(log,
                                  "database system is ready to accept "
                                  "connections")) {
            break; /* promoted and writable, or a standby serving */
        }
        if (wait_s > 0 && mono_ms() - t0 > (int64_t)wait_s * 1000) {
            snprintf(errmsg, 256,
                     "the restored server is still replaying after %llu s "
                     "(pid %d left running; its log: %.120s)",
                     (unsigned long long)wait_s, (int)pid, log);
            store_progress_note_set("%s", "");
            return DR_ETIMEOUT;
        }
        if (++polls % 10 == 1) { /* from the first 100 ms, then each second */
            replay_note(log);
        }
        usleep(100 * 1000);
    }
    store_progress_note_set("%s", "");
    {
        /* pgdata < 1000 bytes, the superuser < 64: each at most doubled. */
        char *p = pgj_conninfo_put(conninfo, "host", pgdata);
        p += sprintf(p, " port=%u", (unsigned)port);
        if (superuser != NULL) {
            *p++ = ' ';
            p = pgj_conninfo_put(p, "user", superuser);
        }
        strcpy(p, " dbname=postgres");
    }
    json_object_set_new(report, "conninfo", json_string(conninfo));
    json_object_set_new(report, "recovery_ms", json_integer(mono_ms() - t0));
    return 0;
}

/* "wal_stores", when given: a non-empty array of store URLs (checked
 * before anything is read or written). */
static int check_wal_stores(const json_t *ws, char *errmsg)
{
    const json_t *e;
    size_t i;

    if (ws == NULL || json_is_null(ws)) {
        return 0;
    }
    if (!json_is_array(ws) || json_array_size(ws) == 0) {
        snprintf(errmsg, 256,
                 "\"wal_stores\" must be a non-empty array of store URLs");
        return DR_EINVAL;
    }
    json_array_foreach(ws, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) == 0) {
            snprintf(errmsg, 256,
                     "\"wal_stores\" must hold store URLs (entry %zu does "
                     "not)",
                     i);
            return DR_EINVAL;
        }
    }
    return 0;
}

int pgbasejob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    const char *pgdata, *bindir;
    char bin[300], prog[400], err[256], lsn[32];
    struct pg_base_manifest m;
    struct store *s = NULL;
    uint64_t port, wait_s;
    json_t *report = json_object();
    struct rd r;
    int64_t t0 = mono_ms(), t_files = 0;
    bool trust_local = json_is_true(json_object_get(spec, "trust_local"));
    int rv;

    *result = NULL;
    memset(&r, 0, sizeof(r));
    r.w.fd = -1;
    r.w.dirfd = -1;
    memset(&m, 0, sizeof(m));
    if ((rv = job_spec_string(spec, "pgdata", true, &pgdata, errmsg)) != 0 ||
        (rv = job_spec_string(spec, "pg_bin", false, &bindir, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "port", 0, 0, 65535, &port, errmsg)) != 0 ||
        (rv = job_spec_uint(spec, "wait_s", 3600, 0, 86400 * 30, &wait_s,
                            errmsg)) != 0) {
        json_decref(report);
        return rv;
    }
    if (strlen(pgdata) > 1000) {
        snprintf(errmsg, 256, "\"pgdata\" is longer than 1000 bytes");
        json_decref(report);
        return DR_EINVAL;
    }
    if (pgdata[0] != '/' || (trust_local && strchr(pgdata, '\'') != NULL)) {
        snprintf(errmsg, 256, "\"pgdata\" must be an absolute path%s",
                 trust_local ? " without quotes" : "");
        json_decref(report);
        return DR_EINVAL;
    }
    if ((rv = check_wal_stores(json_object_get(spec, "wal_stores"), errmsg)) !=
        0) {
        json_decref(report);
        return rv;
    }
    rv = job_open_store(spec, &s, errmsg);
    if (rv == 0) {
        rv = load_manifest(s, spec, &m, errmsg);
    }
    if (rv == 0) {
        rv = prepare_pgdata(pgdata, &r.w, errmsg);
    }
    if (rv == 0) {
        rv = read_parts(s, &m, &r, errmsg);
    }
    if (rv == 0 && syncfs(r.w.dirfd) != 0) {
        snprintf(errmsg, 256, "syncfs %.150s: %s", pgdata, strerror(errno));
        rv = DR_EIO;
    }
    t_files = mono_ms();
    if (bindir == NULL) {
        snprintf(bin, sizeof(bin), "/usr/lib/postgresql/%u/bin",
                 m.server_version_num / 10000);
        bindir = bin;
    }
    if (rv == 0) {
        /* PostgreSQL's own check of every file against its manifest. */
        const char *argv[] = {prog, "--quiet", "--no-parse-wal", pgdata, NULL};
        snprintf(prog, sizeof(prog), "%.280s/pg_verifybackup", bindir);
        if (access(prog, X_OK) == 0) {
            int64_t t1 = mono_ms();
            rv = run_child(argv, err);
            json_object_set_new(report, "pg_verifybackup_ms",
                                json_integer(mono_ms() - t1));
            if (rv != 0) {
                snprintf(errmsg, 256, "pg_verifybackup: %.230s", err);
            }
            json_object_set_new(report, "pg_verifybackup", json_true());
        } else {
            json_object_set_new(report, "pg_verifybackup", json_false());
        }
    }
    if (rv == 0) {
        rv = fill_missing_config(&r.w, report, errmsg);
    }
    if (rv == 0) {
        rv = setup_recovery(spec, pgdata, m.system_identifier, &r.w, report,
                            errmsg);
    }
    if (rv == 0 && trust_local) {
        /* A drill's scratch server: whoever reaches its socket (in the
         * 0700 data directory: its owner and root) gets in, whatever the
         * source's rules asked; it listens on loopback only. The source's
         * postgresql.conf may name an hba_file elsewhere. Its memory is
         * PostgreSQL's default, not production's: a DR host is often
         * smaller, and a drill replays and counts, it serves nobody
         * (settings that recovery checks against the source, such as
         * max_connections, stay). */
        char line[1400];
        snprintf(line, sizeof(line),
                 "hba_file = '%.1000s/pg_hba.conf'\n"
                 "# drnode drill: a scratch server's memory, whatever the "
                 "source's\n"
                 "shared_buffers = '128MB'\n"
                 "huge_pages = 'off'\n",
                 pgdata);
        rv = write_owned(&r.w, "pg_hba.conf",
                         "# drnode drill: the socket in this directory only\n"
                         "local all all trust\n",
                         O_TRUNC, errmsg);
        if (rv == 0) {
            rv = write_owned(&r.w, "postgresql.auto.conf", line, O_APPEND,
                             errmsg);
        }
    }
    if (rv == 0) {
        lsn_str(m.stop_lsn, lsn, sizeof(lsn));
        json_object_set_new(report, "pgdata", json_string(pgdata));
        json_object_set_new(report, "pg_bin", json_string(bindir));
        json_object_set_new(report, "base_stop_lsn", json_string(lsn));
        json_object_set_new(report, "base_finished_ms",
                            json_integer((json_int_t)m.finished_ms));
        json_object_set_new(report, "timeline", json_integer(m.timeline));
        if (m.superuser != NULL) {
            json_object_set_new(report, "superuser", json_string(m.superuser));
        }
        json_object_set_new(report, "files", json_integer((json_int_t)m.files));
        json_object_set_new(report, "raw_bytes",
                            json_integer((json_int_t)m.raw_bytes));
        json_object_set_new(report, "unpack_ms", json_integer(t_files - t0));
    }
    if (rv == 0 && port > 0) {
        rv = start_and_wait(pgdata, bindir, port, wait_s,
                            json_is_true(json_object_get(spec, "standby")),
                            m.superuser, &r.w, report, errmsg);
    }
    if (rv != 0 && r.w.dirfd >= 0 &&
        !json_is_integer(json_object_get(report, "pid"))) {
        /* Half a data directory must never be started: what this restore
         * unpacked goes (the directory was empty before). */
        nftw(pgdata, rm_one, 32, FTW_DEPTH | FTW_PHYS);
    }
    if (rv == 0) {
        json_object_set_new(report, "duration_ms",
                            json_integer(mono_ms() - t0));
        *result = report;
        report = NULL;
    }
    json_decref(report);
    watch_free(&r.w);
    if (r.w.dirfd >= 0) {
        close(r.w.dirfd);
    }
    pg_base_manifest_free(&m);
    store_close(s);
    return rv;
}
