/* pg_verify: check a backup's manifest and every object in full (stored
 * and uncompressed SHA-256), and optionally each table's row count and row
 * digest on a live database against the manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

struct vobject
{
    const struct pgman_object *o;
    int rv;
    char error[256];
};

struct vtable
{
    bool exists;
    uint64_t rows;
    uint8_t digest[PGMAN_DIGEST_LEN];
    int rv;
    char error[256];
};

struct vrange
{
    size_t table;
    uint32_t first_block;
    uint32_t end_block; /* 0: to the end */
};

struct verify
{
    const json_t *spec;
    const char *conninfo;
    int parallel;
    uint64_t chunk_bytes;
    struct pgman *m;
    struct vobject *objs;
    size_t n_objs;
    struct vtable *tables;
    struct vrange *ranges;
    size_t n_ranges;
    char snapshot[96];
    pthread_mutex_t mu;
    struct pgj_pool pool;
};

/* Objects. */

static int vworker_init_store(void *arg, void **ws, char *errmsg)
{
    struct verify *v = arg;
    return pgj_worker_new(v->spec, ws, errmsg);
}

/* After a failed read: say what is wrong with the stored object itself
 * (size, SHA-256) when that is the cause, rather than the symptom the
 * decompressor saw first. */
static void explain_bad_object(struct store *s, struct vobject *vo)
{
    char why[256];

    if (pgj_check_stored(s, vo->o, why) == DR_ECORRUPT) {
        snprintf(vo->error, sizeof(vo->error), "%s", why);
    }
}

static int verify_object(void *arg, void *ws, size_t i, char *errmsg)
{
    struct verify *v = arg;
    struct pgj_worker *w = ws;
    struct vobject *vo = &v->objs[i];
    const struct pgman_object *o = vo->o;
    struct zio_reader *zr;
    struct zio_stats st;
    size_t n;
    int rv;

    (void)errmsg;
    rv = zio_reader_open(w->store, o->key, o->stored_sha256, &zr, vo->error);
    if (rv == DR_ENOTFOUND) {
        pgj_errf(vo->error, "object %.200s is missing from the store", o->key);
        vo->rv = DR_ECORRUPT;
        return 0;
    }
    if (rv != 0) {
        vo->rv = rv;
        return 0;
    }
    do {
        rv = zio_read(zr, w->buf, PGJ_IOBUF, &n, vo->error);
    } while (rv == 0 && n > 0);
    if (rv == 0) {
        zio_reader_stats(zr, &st);
        if (st.stored_bytes != o->stored_bytes) {
            pgj_errf(vo->error,
                     "object %.160s: %llu bytes, the manifest says "
                     "%llu",
                     o->key, (unsigned long long)st.stored_bytes,
                     (unsigned long long)o->stored_bytes);
            rv = DR_ECORRUPT;
        } else if (st.raw_bytes != o->raw_bytes ||
                   !pgj_hex_equal(st.raw_sha256, o->raw_sha256)) {
            pgj_errf(vo->error,
                     "object %.160s: uncompressed SHA-256 or size "
                     "differs from the manifest",
                     o->key);
            rv = DR_ECORRUPT;
        }
    } else if (rv == DR_ENOTFOUND) {
        rv = DR_ECORRUPT;
    }
    zio_reader_close(zr);
    if (rv == DR_ECORRUPT) {
        explain_bad_object(w->store, vo);
    }
    vo->rv = rv;
    return 0;
}

static int verify_objects(struct verify *v, char *errmsg)
{
    const struct pgman_object **list;
    size_t i, n;
    int rv = pgj_manifest_objects(v->m, &list, &n, errmsg);

    if (rv != 0) {
        return rv;
    }
    v->objs = calloc(n, sizeof(*v->objs));
    if (v->objs == NULL) {
        free(list);
        return pgj_nomem(errmsg);
    }
    for (i = 0; i < n; i++) {
        v->objs[v->n_objs++].o = list[i];
    }
    free(list);
    memset(&v->pool, 0, sizeof(v->pool));
    v->pool.n_tasks = v->n_objs;
    v->pool.n_threads = v->parallel;
    v->pool.arg = v;
    v->pool.init = vworker_init_store;
    v->pool.task = verify_object;
    v->pool.fini = pgj_worker_fini;
    return pgj_pool_run(&v->pool, errmsg);
}

/* Tables on a live database, in one exported snapshot, split into ctid
 * ranges of the database's own layout (the digest does not care). */

static int begin_in_snapshot(struct verify *v, PGconn *c, char *errmsg)
{
    char sql[256], err[256];
    int rv;

    snprintf(sql, sizeof(sql),
             "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
             "SET TRANSACTION SNAPSHOT '%s'",
             v->snapshot);
    rv = pgj_exec(c, sql, err);
    if (rv != 0) {
        pgj_errf(errmsg, "database: set snapshot: %s", err);
    }
    return rv;
}

static int vworker_init_pg(void *arg, void **ws, char *errmsg)
{
    struct verify *v = arg;
    struct pgj_worker *w;
    int rv = pgj_worker_new(NULL, ws, errmsg);

    if (rv != 0) {
        return rv;
    }
    w = *ws;
    rv = pgj_connect(v->conninfo, v->m->encoding, "database", &w->conn, errmsg);
    if (rv == 0) {
        rv = begin_in_snapshot(v, w->conn, errmsg);
    }
    return rv;
}

static void table_error(struct verify *v, size_t t, int rv, const char *msg)
{
    pthread_mutex_lock(&v->mu);
    if (v->tables[t].rv == 0) {
        v->tables[t].rv = rv;
        pgj_errf(v->tables[t].error, "%s", msg);
    }
    pthread_mutex_unlock(&v->mu);
}

static int verify_range(void *arg, void *ws, size_t i, char *errmsg)
{
    struct verify *v = arg;
    struct pgj_worker *w = ws;
    struct vrange *vr = &v->ranges[i];
    struct pgman_table *tb = &v->m->tables[vr->table];
    char *q = NULL, *cols = NULL, *sql = NULL, *row, err[256];
    struct pgj_digest d;
    PGresult *res;
    int rv = 0, n;

    if (pgj_digest_init(&d, v->m->digest_alg) != 0) {
        return pgj_nomem(errmsg);
    }
    q = pgj_qualified(tb->schema, tb->name);
    cols = pgj_select_list(tb->columns, tb->n_columns);
    sql = q && cols ? malloc(strlen(q) + strlen(cols) + 200) : NULL;
    if (sql == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    if (vr->first_block == 0 && vr->end_block == 0) {
        sprintf(sql, "COPY (SELECT %s FROM ONLY %s) TO STDOUT", cols, q);
    } else if (vr->end_block == 0) {
        sprintf(sql,
                "COPY (SELECT %s FROM ONLY %s WHERE ctid >= '(%u,0)'"
                "::pg_catalog.tid) TO STDOUT",
                cols, q, vr->first_block);
    } else {
        sprintf(sql,
                "COPY (SELECT %s FROM ONLY %s WHERE ctid >= '(%u,0)'"
                "::pg_catalog.tid AND ctid < '(%u,0)'::pg_catalog.tid) TO "
                "STDOUT",
                cols, q, vr->first_block, vr->end_block);
    }
    res = PQexec(w->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        pgj_resulterr(res, err);
        PQclear(res);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            pgj_pqerr(w->conn, err);
            pgj_errf(errmsg, "database: %s", err);
            rv = DR_EUNAVAILABLE;
            goto out;
        }
        table_error(v, vr->table, DR_ECORRUPT, err);
        /* The snapshot transaction is aborted: start it again. */
        pgj_exec(w->conn, "ROLLBACK", err);
        rv = begin_in_snapshot(v, w->conn, errmsg);
        goto out;
    }
    PQclear(res);
    while ((n = PQgetCopyData(w->conn, &row, 0)) > 0) {
        if (pgj_digest_feed(&d, row, (size_t)n) != 0) {
            PQfreemem(row);
            rv = pgj_nomem(errmsg);
            goto out;
        }
        PQfreemem(row);
    }
    res = PQgetResult(w->conn);
    if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
        pgj_pqerr(w->conn, err);
        PQclear(res);
        while ((res = PQgetResult(w->conn)) != NULL) {
            PQclear(res);
        }
        pgj_errf(errmsg, "database: COPY %.120s: %s", q, err);
        rv = DR_EUNAVAILABLE;
        goto out;
    }
    PQclear(res);
    while ((res = PQgetResult(w->conn)) != NULL) {
        PQclear(res);
    }
    if (pgj_digest_finish(&d) != 0) {
        table_error(v, vr->table, DR_ECORRUPT,
                    "COPY output ended inside a row");
        goto out;
    }
    pthread_mutex_lock(&v->mu);
    v->tables[vr->table].rows += d.rows;
    pgman_digest_add(v->tables[vr->table].digest, d.sum);
    pthread_mutex_unlock(&v->mu);
out:
    pgj_digest_free(&d);
    free(q);
    free(cols);
    free(sql);
    return rv;
}

static int verify_tables(struct verify *v, char *errmsg)
{
    struct pgman *m = v->m;
    PGconn *c = NULL;
    PGresult *res;
    char err[256];
    size_t t, cap = 0;
    uint32_t bs = 8192;
    int rv;

    v->tables = calloc(m->n_tables + 1, sizeof(*v->tables));
    if (v->tables == NULL) {
        return pgj_nomem(errmsg);
    }
    rv = pgj_connect(v->conninfo, m->encoding, "database", &c, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = pgj_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err);
    if (rv == 0) {
        rv = pgj_query(c,
                       "SELECT pg_catalog.pg_export_snapshot(), "
                       "pg_catalog.current_setting('block_size')",
                       0, NULL, &res, err);
    }
    if (rv != 0) {
        pgj_errf(errmsg, "database: export snapshot: %s", err);
        goto out;
    }
    snprintf(v->snapshot, sizeof(v->snapshot), "%s", PQgetvalue(res, 0, 0));
    bs = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (bs == 0) {
        bs = 8192;
    }
    for (t = 0; t < m->n_tables; t++) {
        char *q = pgj_qualified(m->tables[t].schema, m->tables[t].name);
        const char *params[1] = {q};
        uint64_t size, nblocks, per = v->chunk_bytes / bs, first;

        if (q == NULL) {
            rv = pgj_nomem(errmsg);
            goto out;
        }
        rv = pgj_query(c,
                       "SELECT pg_catalog.pg_relation_size(c) FROM "
                       "pg_catalog.to_regclass($1) c",
                       1, params, &res, err);
        if (rv != 0) {
            pgj_errf(errmsg, "database: %s: %s", q, err);
            free(q);
            goto out;
        }
        if (PQgetisnull(res, 0, 0)) {
            pgj_errf(v->tables[t].error, "table %.200s does not exist", q);
            v->tables[t].rv = DR_ECORRUPT;
            PQclear(res);
            free(q);
            continue;
        }
        free(q);
        v->tables[t].exists = true;
        size = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        nblocks = size / bs;
        if (per == 0) {
            per = 1;
        }
        for (first = 0;; first += per) {
            if (v->n_ranges == cap) {
                struct vrange *p;
                cap = cap ? 2 * cap : 64;
                p = realloc(v->ranges, cap * sizeof(*p));
                if (p == NULL) {
                    rv = pgj_nomem(errmsg);
                    goto out;
                }
                v->ranges = p;
            }
            v->ranges[v->n_ranges].table = t;
            v->ranges[v->n_ranges].first_block = (uint32_t)first;
            if (first + per >= nblocks || size <= v->chunk_bytes) {
                v->ranges[v->n_ranges++].end_block = 0;
                break;
            }
            v->ranges[v->n_ranges++].end_block = (uint32_t)(first + per);
        }
    }
    if (v->n_ranges > 0) {
        memset(&v->pool, 0, sizeof(v->pool));
        v->pool.n_tasks = v->n_ranges;
        v->pool.n_threads = v->parallel;
        v->pool.arg = v;
        v->pool.init = vworker_init_pg;
        v->pool.task = verify_range;
        v->pool.fini = pgj_worker_fini;
        rv = pgj_pool_run(&v->pool, errmsg);
    }
out:
    PQfinish(c);
    return rv;
}

static json_t *verify_result(struct verify *v, int *n_bad, char *first_bad)
{
    json_t *objects = json_array(), *tables = NULL, *res;
    size_t i;

    *n_bad = 0;
    first_bad[0] = '\0';
    for (i = 0; i < v->n_objs; i++) {
        json_t *o = json_pack("{s:s, s:b}", "key", v->objs[i].o->key, "ok",
                              v->objs[i].rv == 0);
        if (v->objs[i].rv != 0) {
            json_object_set_new(o, "error", json_string(v->objs[i].error));
            if ((*n_bad)++ == 0) {
                pgj_errf(first_bad, "%s", v->objs[i].error);
            }
        }
        json_array_append_new(objects, o);
    }
    if (v->tables != NULL) {
        tables = json_array();
        for (i = 0; i < v->m->n_tables; i++) {
            struct pgman_table *t = &v->m->tables[i];
            struct vtable *vt = &v->tables[i];
            char name[512];
            json_t *o;

            snprintf(name, sizeof(name), "%.250s.%.250s", t->schema, t->name);
            if (vt->rv == 0 &&
                (vt->rows != t->rows ||
                 memcmp(vt->digest, t->digest, PGMAN_DIGEST_LEN) != 0)) {
                vt->rv = DR_ECORRUPT;
                if (vt->rows != t->rows) {
                    pgj_errf(vt->error,
                             "table %.200s: %llu rows, the backup "
                             "has %llu",
                             name, (unsigned long long)vt->rows,
                             (unsigned long long)t->rows);
                } else {
                    pgj_errf(vt->error,
                             "table %.200s: row digest differs "
                             "from the backup's",
                             name);
                }
            } else if (vt->rv != 0 && strncmp(vt->error, "table ", 6) != 0) {
                char tmp[256];
                pgj_errf(tmp, "table %.120s: %s", name, vt->error);
                memcpy(vt->error, tmp, sizeof(tmp));
            }
            o = json_pack("{s:s, s:I, s:I, s:b}", "name", name, "rows_expected",
                          (json_int_t)t->rows, "rows", (json_int_t)vt->rows,
                          "ok", vt->rv == 0);
            if (vt->rv != 0) {
                json_object_set_new(o, "error", json_string(vt->error));
                if ((*n_bad)++ == 0) {
                    pgj_errf(first_bad, "%s", vt->error);
                }
            }
            json_array_append_new(tables, o);
        }
    }
    res = json_pack("{s:b, s:o}", "ok", *n_bad == 0, "objects", objects);
    if (tables != NULL) {
        json_object_set_new(res, "tables", tables);
    }
    return res;
}

int pgjob_verify(const json_t *spec, json_t **result, char *errmsg)
{
    struct verify v;
    struct store *s = NULL;
    const char *mkey, *msha;
    char first_bad[256];
    int rv, n_bad;

    *result = NULL;
    memset(&v, 0, sizeof(v));
    pthread_mutex_init(&v.mu, NULL);
    v.spec = spec;
    v.chunk_bytes = PGJ_CHUNK_BYTES_DEFAULT;
    rv = job_spec_string(spec, "manifest_key", true, &mkey, errmsg);
    if (rv == 0) {
        rv = job_spec_string(spec, "manifest_sha256", true, &msha, errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "pg", false, &v.conninfo, errmsg);
    }
    if (rv == 0) {
        rv = pgj_spec_parallel(spec, &v.parallel, errmsg);
    }
    if (rv == 0) {
        rv = job_open_store(spec, &s, errmsg);
    }
    if (rv != 0) {
        goto out;
    }
    rv = pgj_load_manifest(s, mkey, msha, &v.m, errmsg);
    if (rv != 0) {
        if (rv == DR_ECORRUPT || rv == DR_EMALFORMED || rv == DR_ENOTFOUND ||
            rv == DR_EVERSION) {
            *result =
                json_pack("{s:b, s:[{s:s, s:b, s:s}]}", "ok", 0, "objects",
                          "key", mkey, "ok", 0, "error", errmsg);
        }
        goto out;
    }
    rv = verify_objects(&v, errmsg);
    if (rv == 0 && v.conninfo != NULL) {
        rv = verify_tables(&v, errmsg);
    }
    if (rv != 0) {
        goto out;
    }
    *result = verify_result(&v, &n_bad, first_bad);
    if (*result == NULL) {
        rv = pgj_nomem(errmsg);
    } else if (n_bad > 0) {
        pgj_errf(errmsg, "%d problem%s; first: %s", n_bad,
                 n_bad == 1 ? "" : "s", first_bad);
        rv = DR_ECORRUPT;
    }
out:
    if (s != NULL) {
        store_close(s);
    }
    free(v.objs);
    free(v.tables);
    free(v.ranges);
    pgman_free(v.m);
    pthread_mutex_destroy(&v.mu);
    return rv;
}
