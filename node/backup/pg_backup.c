/* pg_backup: a logical backup of one PostgreSQL database in one exported
 * snapshot: DDL from pg_dump, table data as parallel COPY TEXT streams
 * (large tables split into ctid ranges), zstd-compressed into the store,
 * and a manifest written last. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

struct btask
{
    size_t table;
    size_t chunk;
    uint64_t est_bytes; /* for ordering: biggest first */
};

struct backup
{
    const json_t *spec;
    const char *conninfo;
    const char *pg_dump; /* spec override, or NULL */
    char prefix[STORE_KEY_MAX];
    int parallel;
    int level;
    int digest_alg; /* enum pgman_digest_alg */
    uint64_t chunk_bytes;
    struct store *store;
    PGconn *conn;
    struct pgman *m;
    struct btask *tasks;
    size_t n_tasks;
    char **written; /* keys committed so far (removed on failure) */
    size_t n_written;
    pthread_mutex_t written_mu;
    struct pgj_pool pool;
    uint64_t *sizes; /* per table, bytes on disk when planned */
    /* Where the time went (monotonic ms), for the result's phases_ms. */
    int64_t t0, t_snapshot, t_planned, t_schema, t_data, t_end;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void note_written(struct backup *b, const char *key)
{
    char *k = strdup(key), **p;

    if (k == NULL) {
        return;
    }
    pthread_mutex_lock(&b->written_mu);
    p = realloc(b->written, (b->n_written + 1) * sizeof(*p));
    if (p != NULL) {
        b->written = p;
        b->written[b->n_written++] = k;
    } else {
        free(k);
    }
    pthread_mutex_unlock(&b->written_mu);
}

/* Parse and check the spec. */
static int backup_spec(const json_t *spec, struct backup *b, char *errmsg)
{
    const char *prefix;
    uint64_t level;
    json_t *v;
    size_t n;
    int rv;

    rv = job_spec_string(spec, "pg", true, &b->conninfo, errmsg);
    if (rv == 0) {
        rv = job_spec_string(spec, "prefix", true, &prefix, errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "pg_dump", false, &b->pg_dump, errmsg);
    }
    if (rv == 0) {
        rv = pgj_spec_parallel(spec, &b->parallel, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/') {
        n--;
    }
    if (n == 0 || n > STORE_KEY_MAX - 64) {
        pgj_errf(errmsg, "\"prefix\" must name a key prefix");
        return DR_EINVAL;
    }
    memcpy(b->prefix, prefix, n);
    b->prefix[n] = '\0';
    rv = job_spec_uint(spec, "zstd_level", 3, 1, 19, &level, errmsg);
    if (rv != 0) {
        return rv;
    }
    b->level = (int)level;
    /* "row_digest": rowsum-xxh3-128 (default) or rowsum-sha256, the
     * algorithm of manifests before 0.3 (kept for tests and old readers). */
    v = json_object_get(spec, "row_digest");
    b->digest_alg = PGMAN_ROWSUM_XXH3;
    if (v != NULL && json_is_string(v) &&
        strcmp(json_string_value(v), "rowsum-sha256") == 0) {
        b->digest_alg = PGMAN_ROWSUM_SHA256;
    } else if (v != NULL &&
               (!json_is_string(v) ||
                strcmp(json_string_value(v), "rowsum-xxh3-128") != 0)) {
        pgj_errf(errmsg,
                 "\"row_digest\" must be rowsum-xxh3-128 or "
                 "rowsum-sha256");
        return DR_EINVAL;
    }
    b->chunk_bytes = PGJ_CHUNK_BYTES_DEFAULT;
    v = json_object_get(spec, "chunk_bytes");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 8192) {
            pgj_errf(errmsg,
                     "\"chunk_bytes\" must be an integer of at "
                     "least 8192");
            return DR_EINVAL;
        }
        b->chunk_bytes = (uint64_t)json_integer_value(v);
    }
    return 0;
}

/* The tables and columns to copy: what pg_dump would dump data for (no
 * system schemas, no extension members, no temporary tables; leaf
 * partitions rather than partitioned parents), in the snapshot. */
static const char tables_sql[] =
    "SELECT c.oid::int8, n.nspname, c.relname, c.relispartition, "
    "pg_catalog.pg_relation_size(c.oid), a.attname "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
    "WHERE c.relkind = 'r' AND c.relpersistence <> 't' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE "
    "'pg\\_temp\\_%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
    "'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND "
    "d.deptype = 'e') "
    "ORDER BY n.nspname, c.relname, a.attnum";

static const char sequences_sql[] =
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'S' AND c.relpersistence <> 't' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE "
    "'pg\\_temp\\_%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
    "'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND "
    "d.deptype = 'e') "
    "ORDER BY n.nspname, c.relname";

/* Plan the tables and their chunks from the catalog. */
static int plan_tables(struct backup *b, uint32_t block_size, char *errmsg)
{
    struct pgman *m = b->m;
    PGresult *r;
    char err[256];
    int rv, i, nrows;
    size_t t = 0, k;

    rv = pgj_query(b->conn, tables_sql, 0, NULL, &r, err);
    if (rv != 0) {
        pgj_errf(errmsg, "list tables: %s", err);
        return rv;
    }
    nrows = PQntuples(r);
    m->tables = calloc((size_t)nrows + 1, sizeof(*m->tables));
    b->sizes = calloc((size_t)nrows + 1, sizeof(*b->sizes));
    if (m->tables == NULL || b->sizes == NULL) {
        PQclear(r);
        return pgj_nomem(errmsg);
    }
    for (i = 0; i < nrows; i++) {
        struct pgman_table *tb;
        bool same =
            i > 0 && strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) == 0;
        if (!same) {
            uint64_t size = strtoull(PQgetvalue(r, i, 4), NULL, 10);
            uint64_t nblocks = size / block_size, per, first;
            size_t nch = 1;

            b->sizes[m->n_tables] = size;
            tb = &m->tables[m->n_tables++];
            tb->schema = strdup(PQgetvalue(r, i, 1));
            tb->name = strdup(PQgetvalue(r, i, 2));
            tb->partition = PQgetvalue(r, i, 3)[0] == 't';
            per = b->chunk_bytes / block_size;
            if (per == 0) {
                per = 1;
            }
            if (size > b->chunk_bytes && nblocks > per) {
                nch = (size_t)((nblocks + per - 1) / per);
            }
            if (nblocks / per > UINT32_MAX) {
                PQclear(r);
                pgj_errf(errmsg, "table %.60s.%.60s: too many blocks",
                         tb->schema, tb->name);
                return DR_ELIMIT;
            }
            tb->chunks = calloc(nch, sizeof(*tb->chunks));
            tb->columns = calloc(16, sizeof(*tb->columns));
            if (!tb->schema || !tb->name || !tb->chunks || !tb->columns) {
                PQclear(r);
                return pgj_nomem(errmsg);
            }
            tb->n_chunks = nch;
            for (k = 0, first = 0; k < nch; k++, first += per) {
                tb->chunks[k].first_block = (uint32_t)first;
                tb->chunks[k].end_block =
                    k + 1 == nch ? 0 : (uint32_t)(first + per);
            }
        }
        tb = &m->tables[m->n_tables - 1];
        if (!PQgetisnull(r, i, 5)) {
            if (tb->n_columns > 0 && (tb->n_columns & 15) == 0) {
                char **p =
                    realloc(tb->columns, (tb->n_columns + 16) * sizeof(*p));
                if (p == NULL) {
                    PQclear(r);
                    return pgj_nomem(errmsg);
                }
                tb->columns = p;
            }
            tb->columns[tb->n_columns] = strdup(PQgetvalue(r, i, 5));
            if (tb->columns[tb->n_columns] == NULL) {
                PQclear(r);
                return pgj_nomem(errmsg);
            }
            tb->n_columns++;
        }
    }
    PQclear(r);

    /* Keys, tasks and table locks. */
    for (t = 0; t < m->n_tables; t++) {
        b->n_tasks += m->tables[t].n_chunks;
    }
    b->tasks = calloc(b->n_tasks + 1, sizeof(*b->tasks));
    if (b->tasks == NULL) {
        return pgj_nomem(errmsg);
    }
    b->n_tasks = 0;
    for (t = 0; t < m->n_tables; t++) {
        struct pgman_table *tb = &m->tables[t];
        char key[STORE_KEY_MAX], *q, *sql;

        for (k = 0; k < tb->n_chunks; k++) {
            snprintf(key, sizeof(key), "%.900s/data/%06zu-%05zu.copy.zst",
                     b->prefix, t, k);
            tb->chunks[k].object.key = strdup(key);
            if (tb->chunks[k].object.key == NULL) {
                return pgj_nomem(errmsg);
            }
            b->tasks[b->n_tasks].table = t;
            b->tasks[b->n_tasks].chunk = k;
            b->tasks[b->n_tasks].est_bytes =
                tb->n_chunks == 1 ? b->sizes[t] : b->chunk_bytes;
            b->n_tasks++;
        }
        q = pgj_qualified(tb->schema, tb->name);
        sql = q ? malloc(strlen(q) + 48) : NULL;
        if (sql == NULL) {
            free(q);
            return pgj_nomem(errmsg);
        }
        sprintf(sql, "LOCK TABLE %s IN ACCESS SHARE MODE", q);
        rv = pgj_exec(b->conn, sql, err);
        free(sql);
        if (rv != 0) {
            pgj_errf(errmsg, "lock %.200s: %s", q, err);
            free(q);
            return rv;
        }
        free(q);
    }
    return 0;
}

static int task_cmp(const void *a, const void *b)
{
    const struct btask *x = a, *y = b;

    if (x->est_bytes != y->est_bytes) {
        return x->est_bytes > y->est_bytes ? -1 : 1;
    }
    if (x->table != y->table) {
        return x->table < y->table ? -1 : 1;
    }
    return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

/* Sequence values, read in the snapshot transaction (sequences are not
 * transactional: this is their value when read, as with pg_dump). */
static int read_sequences(struct backup *b, char *errmsg)
{
    struct pgman *m = b->m;
    PGresult *r, *r2;
    char err[256];
    int rv, i, n;

    rv = pgj_query(b->conn, sequences_sql, 0, NULL, &r, err);
    if (rv != 0) {
        pgj_errf(errmsg, "list sequences: %s", err);
        return rv;
    }
    n = PQntuples(r);
    m->sequences = calloc((size_t)n + 1, sizeof(*m->sequences));
    if (m->sequences == NULL) {
        PQclear(r);
        return pgj_nomem(errmsg);
    }
    for (i = 0; i < n; i++) {
        struct pgman_sequence *s = &m->sequences[m->n_sequences++];
        char *q, *sql;

        s->schema = strdup(PQgetvalue(r, i, 0));
        s->name = strdup(PQgetvalue(r, i, 1));
        q = s->schema && s->name ? pgj_qualified(s->schema, s->name) : NULL;
        sql = q ? malloc(strlen(q) + 48) : NULL;
        if (sql == NULL) {
            free(q);
            PQclear(r);
            return pgj_nomem(errmsg);
        }
        sprintf(sql, "SELECT last_value, is_called FROM %s", q);
        rv = pgj_query(b->conn, sql, 0, NULL, &r2, err);
        free(sql);
        if (rv != 0) {
            pgj_errf(errmsg, "sequence %.200s: %s", q, err);
            free(q);
            PQclear(r);
            return rv;
        }
        free(q);
        s->last_value = strtoll(PQgetvalue(r2, 0, 0), NULL, 10);
        s->is_called = PQgetvalue(r2, 0, 1)[0] == 't';
        PQclear(r2);
    }
    PQclear(r);
    return 0;
}

/* Workers: one connection in the snapshot and one store handle each. */

static int bworker_init(void *arg, void **ws, char *errmsg)
{
    struct backup *b = arg;
    struct pgj_worker *w;
    char sql[128];
    int rv;

    rv = pgj_worker_new(b->spec, ws, errmsg);
    if (rv != 0) {
        return rv;
    }
    w = *ws;
    rv = pgj_connect(b->conninfo, b->m->encoding, "source", &w->conn, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(sql, sizeof(sql),
             "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
             "SET TRANSACTION SNAPSHOT '%s'",
             b->m->snapshot_id);
    {
        char err[256];
        rv = pgj_exec(w->conn, sql, err);
        if (rv != 0) {
            pgj_errf(errmsg, "source: set snapshot: %s", err);
        }
    }
    return rv;
}

static int flush_batch(struct pgj_worker *w,
                       struct pgj_digest *d,
                       struct zio_writer *zw,
                       const char *data,
                       size_t len,
                       char *errmsg)
{
    if (len == 0) {
        return 0;
    }
    if (pgj_digest_feed(d, data, len) != 0) {
        return pgj_nomem(errmsg);
    }
    (void)w;
    return zio_write(zw, data, len, errmsg);
}

static int backup_chunk(void *arg, void *ws, size_t i, char *errmsg)
{
    struct backup *b = arg;
    struct pgj_worker *w = ws;
    struct pgman_table *tb = &b->m->tables[b->tasks[i].table];
    struct pgman_chunk *ch = &tb->chunks[b->tasks[i].chunk];
    char *q = NULL, *cols = NULL, *sql = NULL, *row, err[256], where[96];
    struct zio_writer *zw = NULL;
    struct zio_stats st;
    struct pgj_digest d;
    PGresult *r;
    int rv, n;
    uint64_t rows = 0;

    if (pgj_digest_init(&d, b->digest_alg) != 0) {
        return pgj_nomem(errmsg);
    }
    q = pgj_qualified(tb->schema, tb->name);
    if (q == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    cols = tb->n_chunks == 1 ? pgj_column_list(tb->columns, tb->n_columns)
                             : pgj_select_list(tb->columns, tb->n_columns);
    sql = cols ? malloc(strlen(q) + strlen(cols) + 256) : NULL;
    if (sql == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    if (tb->n_chunks == 1) {
        sprintf(sql, "COPY %s %s TO STDOUT", q, cols);
    } else {
        if (ch->end_block != 0) {
            snprintf(where, sizeof(where),
                     "ctid >= '(%u,0)'::pg_catalog.tid AND ctid < "
                     "'(%u,0)'::pg_catalog.tid",
                     ch->first_block, ch->end_block);
        } else {
            snprintf(where, sizeof(where), "ctid >= '(%u,0)'::pg_catalog.tid",
                     ch->first_block);
        }
        sprintf(sql, "COPY (SELECT %s FROM ONLY %s WHERE %s) TO STDOUT", cols,
                q, where);
    }
    rv = zio_writer_open(w->store, ch->object.key, b->level, &zw, err);
    if (rv != 0) {
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    r = PQexec(w->conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        pgj_resulterr(r, err);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            pgj_pqerr(w->conn, err);
        }
        PQclear(r);
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        rv = DR_EUNAVAILABLE;
        goto out;
    }
    PQclear(r);
    w->len = 0;
    for (;;) {
        n = PQgetCopyData(w->conn, &row, 0);
        if (n < 0) {
            break;
        }
        if (w->len + (size_t)n > PGJ_IOBUF) {
            rv = flush_batch(w, &d, zw, w->buf, w->len, err);
            w->len = 0;
            if (rv == 0 && pgj_pool_stopping(&b->pool)) {
                snprintf(err, sizeof(err), "stopped: another part failed");
                rv = DR_ESHUTDOWN;
            }
            if (rv != 0) {
                PQfreemem(row);
                pgj_errf(errmsg, "COPY %.120s: %s", q, err);
                goto out;
            }
        }
        if ((size_t)n > PGJ_IOBUF) {
            rv = flush_batch(w, &d, zw, row, (size_t)n, err);
            if (rv != 0) {
                PQfreemem(row);
                pgj_errf(errmsg, "COPY %.120s: %s", q, err);
                goto out;
            }
        } else {
            memcpy(w->buf + w->len, row, (size_t)n);
            w->len += (size_t)n;
        }
        PQfreemem(row);
    }
    if (n == -2) {
        pgj_pqerr(w->conn, err);
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        rv = DR_EUNAVAILABLE;
        goto out;
    }
    r = PQgetResult(w->conn);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pgj_resulterr(r, err);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            pgj_pqerr(w->conn, err);
        }
        PQclear(r);
        while ((r = PQgetResult(w->conn)) != NULL) {
            PQclear(r);
        }
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        rv = DR_EUNAVAILABLE;
        goto out;
    }
    rows = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    while ((r = PQgetResult(w->conn)) != NULL) {
        PQclear(r);
    }
    rv = flush_batch(w, &d, zw, w->buf, w->len, err);
    if (rv != 0) {
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    if (pgj_digest_finish(&d) != 0 || d.rows != rows) {
        pgj_errf(errmsg,
                 "COPY %.120s: the stream has %llu lines but the "
                 "server sent %llu rows",
                 q, (unsigned long long)d.rows, (unsigned long long)rows);
        rv = DR_EMALFORMED;
        goto out;
    }
    rv = zio_writer_commit(zw, &st, err);
    zw = NULL;
    if (rv != 0) {
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    note_written(b, ch->object.key);
    ch->rows = rows;
    memcpy(ch->digest, d.sum, sizeof(ch->digest));
    ch->object.raw_bytes = st.raw_bytes;
    ch->object.stored_bytes = st.stored_bytes;
    memcpy(ch->object.raw_sha256, st.raw_sha256, PGMAN_SHA256_HEX);
    memcpy(ch->object.stored_sha256, st.stored_sha256, PGMAN_SHA256_HEX);
out:
    zio_writer_abort(zw);
    pgj_digest_free(&d);
    free(q);
    free(cols);
    free(sql);
    return rv;
}

/* pg_dump. */

/* conninfo without its password, as key='value' pairs for pg_dump's -d;
 * the password (if any) goes to *password for PGPASSWORD. */
/* Run pg_dump for one section in the snapshot and store its output. */
static int dump_section(struct backup *b,
                        const char *section,
                        const char *name,
                        struct pgman_object *obj,
                        char *errmsg)
{
    char path[256], snap[96], sect[48], key[STORE_KEY_MAX], err[256];
    char what[64];
    char *conn = NULL, *password = NULL, **env = NULL, *buf = NULL;
    const char *argv[10];
    int outfd = -1, errfd = -1, rv;
    struct zio_writer *zw = NULL;
    struct zio_stats st;
    pid_t pid = -1;

    snprintf(key, sizeof(key), "%.900s/%.64s", b->prefix, name);
    if (b->pg_dump != NULL) {
        snprintf(path, sizeof(path), "%.250s", b->pg_dump);
    } else {
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%u/bin/pg_dump",
                 b->m->server_version_num / 10000);
        if (access(path, X_OK) != 0) {
            snprintf(path, sizeof(path), "pg_dump");
        }
    }
    rv = pgj_conninfo_split(b->conninfo, &conn, &password, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(snap, sizeof(snap), "--snapshot=%s", b->m->snapshot_id);
    snprintf(sect, sizeof(sect), "--section=%s", section);
    argv[0] = path;
    argv[1] = "--schema-only";
    argv[2] = sect;
    argv[3] = snap;
    argv[4] = "--no-password";
    argv[5] = "--dbname";
    argv[6] = conn;
    argv[7] = NULL;
    env = pgj_child_env(password);
    buf = malloc(PGJ_IOBUF);
    if (env == NULL || buf == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    rv = zio_writer_open(b->store, key, b->level, &zw, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pg_dump %s: %s", section, err);
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
            pgj_errf(errmsg, "pg_dump %s: read: %s", section, strerror(errno));
            rv = DR_EIO;
            goto out;
        }
        if (n == 0) {
            break;
        }
        rv = zio_write(zw, buf, (size_t)n, err);
        if (rv != 0) {
            pgj_errf(errmsg, "pg_dump %s: %s", section, err);
            goto out;
        }
    }
    snprintf(what, sizeof(what), "pg_dump %s", section);
    rv = pgj_wait(pid, errfd, what, errmsg);
    pid = -1;
    if (rv != 0) {
        goto out;
    }
    rv = zio_writer_commit(zw, &st, err);
    zw = NULL;
    if (rv != 0) {
        pgj_errf(errmsg, "pg_dump %s: %s", section, err);
        goto out;
    }
    note_written(b, key);
    obj->key = strdup(key);
    if (obj->key == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    obj->raw_bytes = st.raw_bytes;
    obj->stored_bytes = st.stored_bytes;
    memcpy(obj->raw_sha256, st.raw_sha256, PGMAN_SHA256_HEX);
    memcpy(obj->stored_sha256, st.stored_sha256, PGMAN_SHA256_HEX);
out:
    pgj_kill(pid);
    zio_writer_abort(zw);
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

/* The snapshot, the server's facts, and the catalog. */
static int begin_snapshot(struct backup *b, uint32_t *block_size, char *errmsg)
{
    struct pgman *m = b->m;
    PGresult *r;
    char err[256];
    const char *p;
    int rv;

    rv = pgj_connect(b->conninfo, NULL, "source", &b->conn, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = pgj_exec(b->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                  err);
    if (rv == 0) {
        rv = pgj_query(b->conn,
                       "SELECT pg_catalog.pg_export_snapshot(), "
                       "(extract(epoch FROM now()) * 1000)::int8, "
                       "pg_catalog.current_database(), "
                       "pg_catalog.current_setting('server_version'), "
                       "pg_catalog.current_setting('server_version_num'), "
                       "pg_catalog.current_setting('server_encoding'), "
                       "pg_catalog.current_setting('block_size')",
                       0, NULL, &r, err);
    }
    if (rv != 0) {
        pgj_errf(errmsg, "source: export snapshot: %s", err);
        return rv;
    }
    m->snapshot_id = strdup(PQgetvalue(r, 0, 0));
    m->snapshot_time_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    m->database = strdup(PQgetvalue(r, 0, 2));
    m->server_version = strdup(PQgetvalue(r, 0, 3));
    m->server_version_num = (uint32_t)strtoul(PQgetvalue(r, 0, 4), NULL, 10);
    m->encoding = strdup(PQgetvalue(r, 0, 5));
    *block_size = (uint32_t)strtoul(PQgetvalue(r, 0, 6), NULL, 10);
    PQclear(r);
    if (!m->snapshot_id || !m->database || !m->server_version || !m->encoding) {
        return pgj_nomem(errmsg);
    }
    /* Interpolated into SQL and argv below: it must look like one. */
    for (p = m->snapshot_id; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') ||
              *p == '-')) {
            pgj_errf(errmsg, "source: unexpected snapshot id");
            return DR_EMALFORMED;
        }
    }
    if (*block_size == 0 || m->server_version_num < 140000) {
        pgj_errf(errmsg,
                 "source: PostgreSQL %.40s is not supported "
                 "(14 or later)",
                 m->server_version);
        return DR_EVERSION;
    }
    if (PQsetClientEncoding(b->conn, m->encoding) != 0) {
        pgj_pqerr(b->conn, err);
        pgj_errf(errmsg, "source: client encoding: %s", err);
        return DR_EUNAVAILABLE;
    }
    return 0;
}

static json_t *backup_result(struct backup *b,
                             const char *manifest_key,
                             const char *manifest_sha,
                             uint64_t manifest_len)
{
    struct pgman *m = b->m;
    uint64_t stored = manifest_len, raw = 0, rows = 0;
    size_t i, j, objects = 3;

    stored += m->pre_data.stored_bytes + m->post_data.stored_bytes;
    raw += m->pre_data.raw_bytes + m->post_data.raw_bytes;
    for (i = 0; i < m->n_tables; i++) {
        for (j = 0; j < m->tables[i].n_chunks; j++) {
            stored += m->tables[i].chunks[j].object.stored_bytes;
            objects++;
        }
        raw += m->tables[i].raw_bytes;
        rows += m->tables[i].rows;
    }
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:I, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
        "manifest_key", manifest_key, "manifest_sha256", manifest_sha,
        "stored_bytes", (json_int_t)stored, "raw_bytes", (json_int_t)raw,
        "objects", (json_int_t)objects, "tables", (json_int_t)m->n_tables,
        "rows", (json_int_t)rows, "sequences", (json_int_t)m->n_sequences,
        "snapshot_time_ms", (json_int_t)m->snapshot_time_ms, "server_version",
        m->server_version, "database", m->database, "snapshot_id",
        m->snapshot_id, "chunks", (json_int_t)(objects - 3), "phases_ms",
        /* snapshot: connect, export; plan: tables, chunks, sequences;
         * schema: both pg_dump runs; data: the COPY workers (beside the
         * schema dumps); manifest: sums, encode, store. */
        "snapshot", (json_int_t)(b->t_snapshot - b->t0), "plan",
        (json_int_t)(b->t_planned - b->t_snapshot), "schema",
        (json_int_t)(b->t_schema - b->t_planned), "data",
        (json_int_t)(b->t_data - b->t_planned), "manifest",
        (json_int_t)(b->t_end - b->t_data), "total",
        (json_int_t)(b->t_end - b->t0));
}

int pgjob_backup(const json_t *spec, json_t **result, char *errmsg)
{
    struct backup b;
    struct store_object so;
    char mkey[STORE_KEY_MAX], msha[STORE_SHA256_HEX], err[256];
    uint8_t *mbuf = NULL;
    size_t mlen = 0, i, j;
    uint32_t block_size = 0;
    int rv, pool_started = 0;

    *result = NULL;
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.written_mu, NULL);
    b.spec = spec;
    rv = backup_spec(spec, &b, errmsg);
    if (rv != 0) {
        goto out;
    }
    b.m = calloc(1, sizeof(*b.m));
    if (b.m == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    b.m->version = PGMAN_VERSION;
    b.m->digest_alg = b.digest_alg;
    rv = job_open_store(spec, &b.store, errmsg);
    if (rv != 0) {
        goto out;
    }
    snprintf(mkey, sizeof(mkey), "%.900s/manifest.pb", b.prefix);
    rv = store_head(b.store, mkey, &so, err);
    if (rv == 0) {
        store_object_free(&so);
        pgj_errf(errmsg, "%.200s already holds a backup", mkey);
        rv = DR_EEXIST;
        goto out;
    }
    if (rv != DR_ENOTFOUND) {
        pgj_errf(errmsg, "%s", err);
        goto out;
    }
    b.t0 = mono_ms();
    rv = begin_snapshot(&b, &block_size, errmsg);
    b.t_snapshot = mono_ms();
    if (rv == 0) {
        rv = plan_tables(&b, block_size, errmsg);
    }
    if (rv == 0) {
        rv = read_sequences(&b, errmsg);
    }
    b.t_planned = mono_ms();
    if (rv != 0) {
        goto out;
    }
    qsort(b.tasks, b.n_tasks, sizeof(*b.tasks), task_cmp);

    /* Table data in the workers while this thread runs pg_dump. */
    b.pool.n_tasks = b.n_tasks;
    b.pool.n_threads = b.parallel;
    b.pool.arg = &b;
    b.pool.init = bworker_init;
    b.pool.task = backup_chunk;
    b.pool.fini = pgj_worker_fini;
    if (b.n_tasks > 0) {
        rv = pgj_pool_start(&b.pool, errmsg);
        if (rv != 0) {
            goto out;
        }
        pool_started = 1;
    }
    rv = dump_section(&b, "pre-data", "pre-data.sql.zst", &b.m->pre_data,
                      errmsg);
    if (rv == 0) {
        rv = dump_section(&b, "post-data", "post-data.sql.zst", &b.m->post_data,
                          errmsg);
    }
    b.t_schema = mono_ms();
    if (rv != 0 && pool_started) {
        pgj_pool_fail(&b.pool, rv, errmsg);
    }
    if (pool_started) {
        int prv;
        pool_started = 0;
        prv = pgj_pool_join(&b.pool, err);
        if (rv == 0 && prv != 0) {
            rv = prv;
            pgj_errf(errmsg, "%s", err);
        }
    }
    b.t_data = mono_ms();
    if (rv != 0) {
        goto out;
    }

    /* Sum up, and write the manifest last. */
    for (i = 0; i < b.m->n_tables; i++) {
        struct pgman_table *t = &b.m->tables[i];
        for (j = 0; j < t->n_chunks; j++) {
            t->rows += t->chunks[j].rows;
            t->raw_bytes += t->chunks[j].object.raw_bytes;
            pgman_digest_add(t->digest, t->chunks[j].digest);
        }
    }
    b.m->created_ms = wall_ms();
    rv = pgman_encode(b.m, &mbuf, &mlen, errmsg);
    if (rv != 0) {
        goto out;
    }
    rv = store_put_buf(b.store, mkey, mbuf, mlen, msha, errmsg);
    if (rv != 0) {
        goto out;
    }
    b.t_end = mono_ms();
    rv = pgj_exec(b.conn, "COMMIT", err);
    if (rv != 0) {
        /* The data is in the store and consistent; only the release of the
         * snapshot failed. */
        rv = 0;
    }
    *result = backup_result(&b, mkey, msha, mlen);
    if (*result == NULL) {
        rv = pgj_nomem(errmsg);
    }
out:
    if (pool_started) {
        pgj_pool_join(&b.pool, err);
    }
    if (rv != 0 && b.store != NULL) {
        /* Nothing claims success: remove what was written (best effort;
         * without a manifest none of it is a backup anyway). */
        for (i = 0; i < b.n_written; i++) {
            store_delete(b.store, b.written[i], err);
        }
    }
    for (i = 0; i < b.n_written; i++) {
        free(b.written[i]);
    }
    free(b.written);
    PQfinish(b.conn);
    if (b.store != NULL) {
        store_close(b.store);
    }
    pgman_free(b.m);
    free(b.tasks);
    free(b.sizes);
    free(mbuf);
    pthread_mutex_destroy(&b.written_mu);
    return rv;
}
