/* pg_restore: check every object of a backup, then pre-data DDL, parallel
 * COPY FROM of every chunk, sequence values, and post-data DDL with index
 * and key builds in parallel. Nothing touches the target until every
 * object's stored SHA-256 checked out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

struct rtask
{
    size_t table;
    size_t chunk;
};

/* One post-data entry of pg_dump's script. */
struct ddl_entry
{
    char *sql;
    bool parallel; /* an INDEX or a (non-FK) CONSTRAINT */
};

struct restore
{
    const json_t *spec;
    const char *conninfo;
    const char *manifest_key;
    const char *manifest_sha256;
    int parallel;
    bool clean;
    struct store *store;
    PGconn *conn;
    struct pgman *m;
    /* object check */
    const struct pgman_object **objs;
    size_t n_objs;
    /* data */
    struct rtask *tasks;
    size_t n_tasks;
    uint64_t **loaded; /* [table][chunk] rows the server reported */
    /* post-data */
    char *post_prologue;
    struct ddl_entry *entries;
    size_t n_entries;
    size_t *par; /* indexes of the parallel entries */
    size_t n_par;
    struct pgj_pool pool;
    int64_t phase_ms[4]; /* check, pre-data, data, post-data */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every object, in full, before anything is written to the target. */

static int store_worker_init(void *arg, void **ws, char *errmsg)
{
    struct restore *r = arg;
    return pgj_worker_new(r->spec, ws, errmsg);
}

static int check_object(void *arg, void *ws, size_t i, char *errmsg)
{
    struct restore *r = arg;
    struct pgj_worker *w = ws;
    return pgj_check_stored(w->store, r->objs[i], errmsg);
}

static int check_objects(struct restore *r, char *errmsg)
{
    int rv = pgj_manifest_objects(r->m, &r->objs, &r->n_objs, errmsg);

    if (rv != 0) {
        return rv;
    }
    memset(&r->pool, 0, sizeof(r->pool));
    r->pool.n_tasks = r->n_objs;
    r->pool.n_threads = r->parallel;
    r->pool.arg = r;
    r->pool.init = store_worker_init;
    r->pool.task = check_object;
    r->pool.fini = pgj_worker_fini;
    return pgj_pool_run(&r->pool, errmsg);
}

/* The target. */

static const char user_relations_sql[] =
    "SELECT count(*), min(pg_catalog.format('%I.%I', n.nspname, c.relname)) "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE "
    "'pg\\_temp\\_%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
    "'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND "
    "d.deptype = 'e')";

static const char user_schemas_sql[] =
    "SELECT n.nspname FROM pg_catalog.pg_namespace n "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1";

/* Refuse a target that holds user relations or schemas. */
static int check_empty(struct restore *r, char *errmsg)
{
    PGresult *res;
    char err[256];
    long long n;
    int rv, i, extra = 0;

    rv = pgj_query(r->conn, user_relations_sql, 0, NULL, &res, err);
    if (rv != 0) {
        pgj_errf(errmsg, "target: %s", err);
        return rv;
    }
    n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (n > 0) {
        pgj_errf(errmsg,
                 "target database \"%.60s\" is not empty (%lld "
                 "relations, e.g. %.80s): restore into an empty database or "
                 "pass \"clean\": true",
                 PQdb(r->conn), n, PQgetvalue(res, 0, 1));
        PQclear(res);
        return DR_ECONFLICT;
    }
    PQclear(res);
    rv = pgj_query(r->conn, user_schemas_sql, 0, NULL, &res, err);
    if (rv != 0) {
        pgj_errf(errmsg, "target: %s", err);
        return rv;
    }
    for (i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 0), "public") != 0) {
            extra = i + 1;
            break;
        }
    }
    if (extra) {
        pgj_errf(errmsg,
                 "target database \"%.60s\" is not empty (schema "
                 "%.80s): restore into an empty database or pass \"clean\": "
                 "true",
                 PQdb(r->conn), PQgetvalue(res, extra - 1, 0));
        PQclear(res);
        return DR_ECONFLICT;
    }
    PQclear(res);
    return 0;
}

/* "clean": drop every user schema with all it holds, and give the database
 * a fresh public schema as CREATE DATABASE makes it (PostgreSQL 15:
 * owned by pg_database_owner, USAGE for PUBLIC). One transaction. */
static int clean_target(struct restore *r, char *errmsg)
{
    PGresult *res;
    char err[256], *sql, *p;
    size_t len = 512;
    int rv, i;

    rv = pgj_query(r->conn, user_schemas_sql, 0, NULL, &res, err);
    if (rv != 0) {
        pgj_errf(errmsg, "target: clean: %s", err);
        return rv;
    }
    for (i = 0; i < PQntuples(res); i++) {
        len += 2 * strlen(PQgetvalue(res, i, 0)) + 32;
    }
    sql = malloc(len);
    if (sql == NULL) {
        PQclear(res);
        return pgj_nomem(errmsg);
    }
    p = sql + sprintf(sql, "BEGIN;");
    for (i = 0; i < PQntuples(res); i++) {
        const char *s = PQgetvalue(res, i, 0);
        p += sprintf(p, "DROP SCHEMA \"");
        for (; *s; s++) {
            if (*s == '"') {
                *p++ = '"';
            }
            *p++ = *s;
        }
        p += sprintf(p, "\" CASCADE;");
    }
    sprintf(p,
            "CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
            "GRANT USAGE ON SCHEMA public TO PUBLIC;"
            "COMMENT ON SCHEMA public IS 'standard public schema';"
            "COMMIT");
    PQclear(res);
    rv = pgj_exec(r->conn, sql, err);
    free(sql);
    if (rv != 0) {
        pgj_exec(r->conn, "ROLLBACK", err);
        pgj_errf(errmsg, "target: clean: %s", err);
    }
    return rv;
}

/* pg_dump 15.14+ wraps its output in psql's \restrict / \unrestrict; they
 * mean nothing to the server. Removes them in place. */
static void strip_meta(char *sql)
{
    char *in = sql, *out = sql;

    while (*in) {
        char *eol = strchr(in, '\n');
        size_t n = eol ? (size_t)(eol - in) + 1 : strlen(in);
        if (strncmp(in, "\\restrict ", 10) != 0 &&
            strncmp(in, "\\unrestrict ", 12) != 0) {
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    *out = '\0';
}

/* Split pg_dump's post-data script into its prologue and its entries
 * (each starts at a "-- Name: ...; Type: ...;" header). The settings pg_dump
 * emits between entries (default_tablespace, default_table_access_method)
 * are carried into every entry after them, so each runs alone. */
static int split_post_data(struct restore *r, char *script, char *errmsg)
{
    char tablespace[512] = "", am[512] = "", *line = script, *body = NULL;
    size_t cap = 0, blen = 0, bcap = 0;
    char *type = NULL;
    bool in_entry = false;

    r->post_prologue = NULL;
#define FLUSH_ENTRY()                                        \
    do {                                                     \
        if (in_entry) {                                      \
            if (r->n_entries == cap) {                       \
                struct ddl_entry *e_;                        \
                cap = cap ? 2 * cap : 64;                    \
                e_ = realloc(r->entries, cap * sizeof(*e_)); \
                if (e_ == NULL) {                            \
                    free(body);                              \
                    free(type);                              \
                    return pgj_nomem(errmsg);                \
                }                                            \
                r->entries = e_;                             \
            }                                                \
            r->entries[r->n_entries].sql = body;             \
            r->entries[r->n_entries].parallel =              \
                type && (strcmp(type, "INDEX") == 0 ||       \
                         strcmp(type, "CONSTRAINT") == 0);   \
            r->n_entries++;                                  \
        } else {                                             \
            r->post_prologue = body ? body : strdup("");     \
            if (r->post_prologue == NULL) {                  \
                return pgj_nomem(errmsg);                    \
            }                                                \
        }                                                    \
        free(type);                                          \
        type = NULL;                                         \
        body = NULL;                                         \
        blen = bcap = 0;                                     \
    } while (0)

    while (*line) {
        char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) + 1 : strlen(line);
        char *next = line + n;

        /* A header: "--\n-- Name: X; Type: T; Schema: ...\n--\n". */
        if (strncmp(line, "--\n-- Name: ", 12) == 0) {
            char *nl2 = strchr(line + 3, '\n'), *t;
            if (nl2 != NULL && strncmp(nl2 + 1, "--\n", 3) == 0) {
                FLUSH_ENTRY();
                in_entry = true;
                t = strstr(line + 3, "; Type: ");
                if (t != NULL && t < nl2) {
                    size_t tl = strcspn(t + 8, ";\n");
                    type = strndup(t + 8, tl);
                }
                /* The entry starts with the settings in force. */
                bcap = strlen(tablespace) + strlen(am) + 256;
                body = malloc(bcap);
                if (body == NULL) {
                    free(type);
                    return pgj_nomem(errmsg);
                }
                blen = (size_t)sprintf(body, "%s%s", tablespace, am);
                line = nl2 + 4;
                continue;
            }
        }
        if (strncmp(line, "SET default_tablespace = ", 25) == 0 &&
            n < sizeof(tablespace)) {
            memcpy(tablespace, line, n);
            tablespace[n] = '\0';
            line = next;
            continue;
        }
        if (strncmp(line, "SET default_table_access_method = ", 34) == 0 &&
            n < sizeof(am)) {
            memcpy(am, line, n);
            am[n] = '\0';
            line = next;
            continue;
        }
        if (blen + n + 1 > bcap) {
            char *nb;
            bcap = (blen + n + 1) * 2;
            nb = realloc(body, bcap);
            if (nb == NULL) {
                free(body);
                free(type);
                return pgj_nomem(errmsg);
            }
            body = nb;
        }
        memcpy(body + blen, line, n);
        blen += n;
        body[blen] = '\0';
        line = next;
    }
    FLUSH_ENTRY();
#undef FLUSH_ENTRY
    r->par = calloc(r->n_entries + 1, sizeof(*r->par));
    if (r->par == NULL) {
        return pgj_nomem(errmsg);
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        if (r->entries[i].parallel) {
            r->par[r->n_par++] = i;
        }
    }
    return 0;
}

/* Workers with a store and a target connection. */

static int rworker_init(void *arg, void **ws, char *errmsg)
{
    struct restore *r = arg;
    int rv = pgj_worker_new(r->spec, ws, errmsg);

    if (rv == 0) {
        struct pgj_worker *w = *ws;
        rv = pgj_connect(r->conninfo, r->m->encoding, "target", &w->conn,
                         errmsg);
    }
    return rv;
}

/* End a COPY FROM: errmsg_abort NULL commits it, otherwise the server
 * discards it. Returns the rows the server loaded. */
static int copy_end(PGconn *c, const char *abort_msg, uint64_t *rows, char *err)
{
    PGresult *res;
    int rv = 0;

    if (PQputCopyEnd(c, abort_msg) != 1) {
        pgj_pqerr(c, err);
        return DR_EUNAVAILABLE;
    }
    res = PQgetResult(c);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pgj_resulterr(res, err);
        if (PQstatus(c) != CONNECTION_OK) {
            pgj_pqerr(c, err);
        }
        rv = PQstatus(c) == CONNECTION_OK ? DR_EIO : DR_EUNAVAILABLE;
    } else if (rows != NULL) {
        *rows = strtoull(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    while ((res = PQgetResult(c)) != NULL) {
        PQclear(res);
    }
    return rv;
}

static int restore_chunk(void *arg, void *ws, size_t i, char *errmsg)
{
    struct restore *r = arg;
    struct pgj_worker *w = ws;
    struct pgman_table *tb = &r->m->tables[r->tasks[i].table];
    struct pgman_chunk *ch = &tb->chunks[r->tasks[i].chunk];
    char *q = NULL, *cols = NULL, *sql = NULL, err[256];
    struct zio_reader *zr = NULL;
    struct zio_stats st;
    PGresult *res;
    uint64_t rows = 0;
    size_t n;
    int rv;

    q = pgj_qualified(tb->schema, tb->name);
    cols = pgj_column_list(tb->columns, tb->n_columns);
    sql = q && cols ? malloc(strlen(q) + strlen(cols) + 32) : NULL;
    if (sql == NULL) {
        rv = pgj_nomem(errmsg);
        goto out;
    }
    sprintf(sql, "COPY %s %s FROM STDIN", q, cols);
    rv = zio_reader_open(w->store, ch->object.key, ch->object.stored_sha256,
                         &zr, err);
    if (rv != 0) {
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    res = PQexec(w->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        pgj_resulterr(res, err);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            pgj_pqerr(w->conn, err);
        }
        PQclear(res);
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        rv = DR_EIO;
        goto out;
    }
    PQclear(res);
    for (;;) {
        rv = zio_read(zr, w->buf, PGJ_IOBUF, &n, err);
        if (rv != 0 || n == 0) {
            break;
        }
        if (pgj_pool_stopping(&r->pool)) {
            snprintf(err, sizeof(err), "stopped: another part failed");
            rv = DR_ESHUTDOWN;
            break;
        }
        if (PQputCopyData(w->conn, w->buf, (int)n) != 1) {
            pgj_pqerr(w->conn, err);
            pgj_errf(errmsg, "COPY %.120s: %s", q, err);
            rv = DR_EUNAVAILABLE;
            goto out;
        }
    }
    if (rv == 0) {
        zio_reader_stats(zr, &st);
        if (st.raw_bytes != ch->object.raw_bytes ||
            !pgj_hex_equal(st.raw_sha256, ch->object.raw_sha256)) {
            snprintf(err, sizeof(err),
                     "object %.160s: uncompressed SHA-256 "
                     "or size differs from the manifest",
                     ch->object.key);
            rv = DR_ECORRUPT;
        }
    }
    if (rv != 0) {
        char ignored[256];
        copy_end(w->conn, err, NULL, ignored);
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    rv = copy_end(w->conn, NULL, &rows, err);
    if (rv != 0) {
        pgj_errf(errmsg, "COPY %.120s: %s", q, err);
        goto out;
    }
    if (rows != ch->rows) {
        pgj_errf(errmsg,
                 "COPY %.120s: loaded %llu rows from %.100s, the "
                 "manifest says %llu",
                 q, (unsigned long long)rows, ch->object.key,
                 (unsigned long long)ch->rows);
        rv = DR_ECORRUPT;
        goto out;
    }
    r->loaded[r->tasks[i].table][r->tasks[i].chunk] = rows;
out:
    zio_reader_close(zr);
    free(q);
    free(cols);
    free(sql);
    return rv;
}

static int rtask_cmp_arg(const struct restore *r,
                         const struct rtask *x,
                         const struct rtask *y)
{
    uint64_t a = r->m->tables[x->table].chunks[x->chunk].object.raw_bytes;
    uint64_t b = r->m->tables[y->table].chunks[y->chunk].object.raw_bytes;

    return a > b ? -1 : a < b;
}

static const struct restore *sort_ctx;

static int rtask_cmp(const void *a, const void *b)
{
    return rtask_cmp_arg(sort_ctx, a, b);
}

static int load_data(struct restore *r, char *errmsg)
{
    struct pgman *m = r->m;
    size_t i, j;

    r->loaded = calloc(m->n_tables + 1, sizeof(*r->loaded));
    if (r->loaded == NULL) {
        return pgj_nomem(errmsg);
    }
    for (i = 0; i < m->n_tables; i++) {
        r->n_tasks += m->tables[i].n_chunks;
        r->loaded[i] = calloc(m->tables[i].n_chunks, sizeof(uint64_t));
        if (r->loaded[i] == NULL) {
            return pgj_nomem(errmsg);
        }
    }
    r->tasks = calloc(r->n_tasks + 1, sizeof(*r->tasks));
    if (r->tasks == NULL) {
        return pgj_nomem(errmsg);
    }
    r->n_tasks = 0;
    for (i = 0; i < m->n_tables; i++) {
        for (j = 0; j < m->tables[i].n_chunks; j++) {
            r->tasks[r->n_tasks].table = i;
            r->tasks[r->n_tasks].chunk = j;
            r->n_tasks++;
        }
    }
    /* Biggest first, so the last to finish is small. */
    sort_ctx = r;
    qsort(r->tasks, r->n_tasks, sizeof(*r->tasks), rtask_cmp);
    if (r->n_tasks == 0) {
        return 0;
    }
    memset(&r->pool, 0, sizeof(r->pool));
    r->pool.n_tasks = r->n_tasks;
    r->pool.n_threads = r->parallel;
    r->pool.arg = r;
    r->pool.init = rworker_init;
    r->pool.task = restore_chunk;
    r->pool.fini = pgj_worker_fini;
    return pgj_pool_run(&r->pool, errmsg);
}

static int set_sequences(struct restore *r, char *errmsg)
{
    struct pgman *m = r->m;
    PGresult *res;
    char err[256], val[32];
    size_t i;
    int rv;

    for (i = 0; i < m->n_sequences; i++) {
        struct pgman_sequence *s = &m->sequences[i];
        char *q = pgj_qualified(s->schema, s->name);
        const char *params[3];

        if (q == NULL) {
            return pgj_nomem(errmsg);
        }
        snprintf(val, sizeof(val), "%lld", (long long)s->last_value);
        params[0] = q;
        params[1] = val;
        params[2] = s->is_called ? "t" : "f";
        rv = pgj_query(r->conn,
                       "SELECT pg_catalog.setval($1::pg_catalog.regclass, "
                       "$2::int8, $3::bool)",
                       3, params, &res, err);
        if (rv != 0) {
            pgj_errf(errmsg, "sequence %.200s: %s", q, err);
            free(q);
            return rv;
        }
        PQclear(res);
        free(q);
    }
    return 0;
}

/* Post-data: indexes and keys in parallel connections, then the rest
 * (foreign keys, triggers, ...) in order on one. Index builds get more
 * sort memory than the default 64MB (a session setting, nothing on the
 * server changes). */
#define PGJ_POST_DATA_SETTINGS "SET maintenance_work_mem = '256MB'"

static int pworker_init(void *arg, void **ws, char *errmsg)
{
    struct restore *r = arg;
    PGconn *c = NULL;
    char err[256];
    int rv;

    *ws = NULL;
    rv = pgj_connect(r->conninfo, r->m->encoding, "target", &c, errmsg);
    if (rv != 0) {
        return rv;
    }
    *ws = c;
    rv = pgj_exec(c, PGJ_POST_DATA_SETTINGS, err);
    if (rv == 0) {
        rv = pgj_exec(c, r->post_prologue, err);
    }
    if (rv != 0) {
        pgj_errf(errmsg, "post-data: %s", err);
    }
    return rv;
}

static void pworker_fini(void *arg, void *ws)
{
    (void)arg;
    PQfinish(ws);
}

static int post_entry(void *arg, void *ws, size_t i, char *errmsg)
{
    struct restore *r = arg;
    const char *sql = r->entries[r->par[i]].sql;
    char err[256];
    int rv;

    rv = pgj_exec(ws, sql, err);
    if (rv != 0) {
        const char *s = strstr(sql, "CREATE");
        if (s == NULL) {
            s = strstr(sql, "ALTER");
        }
        pgj_errf(errmsg, "post-data: %.60s...: %s", s ? s : sql, err);
    }
    return rv;
}

static int run_post_data(struct restore *r, char *script, char *errmsg)
{
    char err[256], *rest, *p;
    size_t i, len = 1;
    int rv;

    rv = split_post_data(r, script, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (r->n_par > 0) {
        memset(&r->pool, 0, sizeof(r->pool));
        r->pool.n_tasks = r->n_par;
        r->pool.n_threads = r->parallel;
        r->pool.arg = r;
        r->pool.init = pworker_init;
        r->pool.task = post_entry;
        r->pool.fini = pworker_fini;
        rv = pgj_pool_run(&r->pool, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    len += strlen(r->post_prologue);
    for (i = 0; i < r->n_entries; i++) {
        if (!r->entries[i].parallel) {
            len += strlen(r->entries[i].sql);
        }
    }
    rest = malloc(len);
    if (rest == NULL) {
        return pgj_nomem(errmsg);
    }
    p = stpcpy(rest, r->post_prologue);
    for (i = 0; i < r->n_entries; i++) {
        if (!r->entries[i].parallel) {
            p = stpcpy(p, r->entries[i].sql);
        }
    }
    rv = pgj_exec(r->conn, PGJ_POST_DATA_SETTINGS, err);
    if (rv == 0) {
        rv = pgj_exec(r->conn, rest, err);
    }
    free(rest);
    if (rv != 0) {
        pgj_errf(errmsg, "post-data: %s", err);
    }
    return rv;
}

static json_t *restore_result(struct restore *r)
{
    struct pgman *m = r->m;
    json_t *tables = json_array();
    uint64_t rows = 0, raw = 0;
    size_t i, j;

    for (i = 0; i < m->n_tables; i++) {
        uint64_t tr = 0;
        char name[512];

        for (j = 0; j < m->tables[i].n_chunks; j++) {
            tr += r->loaded[i][j];
        }
        snprintf(name, sizeof(name), "%.250s.%.250s", m->tables[i].schema,
                 m->tables[i].name);
        json_array_append_new(
            tables, json_pack("{s:s, s:I, s:b}", "name", name, "rows",
                              (json_int_t)tr, "ok", tr == m->tables[i].rows));
        rows += tr;
        raw += m->tables[i].raw_bytes;
    }
    return json_pack(
        "{s:o, s:I, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I}}", "tables", tables,
        "rows", (json_int_t)rows, "raw_bytes", (json_int_t)raw, "sequences",
        (json_int_t)m->n_sequences, "database", m->database, "phase_ms",
        "check", (json_int_t)r->phase_ms[0], "pre_data",
        (json_int_t)r->phase_ms[1], "data", (json_int_t)r->phase_ms[2],
        "post_data", (json_int_t)r->phase_ms[3]);
}

int pgjob_restore(const json_t *spec, json_t **result, char *errmsg)
{
    struct restore r;
    char *pre = NULL, *post = NULL, err[256];
    size_t len, i;
    int64_t t0;
    json_t *v;
    int rv;

    *result = NULL;
    memset(&r, 0, sizeof(r));
    r.spec = spec;
    rv = job_spec_string(spec, "manifest_key", true, &r.manifest_key, errmsg);
    if (rv == 0) {
        rv = job_spec_string(spec, "manifest_sha256", true, &r.manifest_sha256,
                             errmsg);
    }
    if (rv == 0) {
        rv = job_spec_string(spec, "pg", true, &r.conninfo, errmsg);
    }
    if (rv == 0) {
        rv = pgj_spec_parallel(spec, &r.parallel, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    v = json_object_get(spec, "clean");
    if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
        pgj_errf(errmsg, "\"clean\" must be true or false");
        return DR_EINVAL;
    }
    r.clean = json_is_true(v);
    rv = job_open_store(spec, &r.store, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = pgj_load_manifest(r.store, r.manifest_key, r.manifest_sha256, &r.m,
                           errmsg);
    if (rv != 0) {
        goto out;
    }
    /* Every object, before anything is written. */
    t0 = mono_ms();
    rv = check_objects(&r, errmsg);
    if (rv != 0) {
        goto out;
    }
    rv = pgj_read_object(r.store, &r.m->pre_data, PGJ_MANIFEST_MAX, &pre, &len,
                         errmsg);
    if (rv == 0) {
        rv = pgj_read_object(r.store, &r.m->post_data, PGJ_MANIFEST_MAX, &post,
                             &len, errmsg);
    }
    if (rv != 0) {
        goto out;
    }
    strip_meta(pre);
    strip_meta(post);
    r.phase_ms[0] = mono_ms() - t0;
    t0 = mono_ms();
    rv = pgj_connect(r.conninfo, r.m->encoding, "target", &r.conn, errmsg);
    if (rv != 0) {
        goto out;
    }
    if (r.clean) {
        rv = clean_target(&r, errmsg);
    } else {
        rv = check_empty(&r, errmsg);
    }
    if (rv != 0) {
        goto out;
    }
    rv = pgj_exec(r.conn, pre, err);
    if (rv != 0) {
        pgj_errf(errmsg, "pre-data: %s", err);
        goto out;
    }
    r.phase_ms[1] = mono_ms() - t0;
    t0 = mono_ms();
    rv = load_data(&r, errmsg);
    if (rv == 0) {
        rv = set_sequences(&r, errmsg);
    }
    r.phase_ms[2] = mono_ms() - t0;
    t0 = mono_ms();
    if (rv == 0) {
        rv = run_post_data(&r, post, errmsg);
    }
    r.phase_ms[3] = mono_ms() - t0;
    if (rv != 0) {
        goto out;
    }
    *result = restore_result(&r);
    if (*result == NULL) {
        rv = pgj_nomem(errmsg);
    }
out:
    PQfinish(r.conn);
    store_close(r.store);
    if (r.loaded != NULL) {
        for (i = 0; i < (r.m ? r.m->n_tables : 0); i++) {
            free(r.loaded[i]);
        }
        free(r.loaded);
    }
    for (i = 0; i < r.n_entries; i++) {
        free(r.entries[i].sql);
    }
    free(r.entries);
    free(r.par);
    free(r.post_prologue);
    free(r.tasks);
    free(r.objs);
    free(pre);
    free(post);
    pgman_free(r.m);
    return rv;
}
