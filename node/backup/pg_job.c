/* Shared helpers of the PostgreSQL jobs: connections, quoting, the row
 * digest, the worker pool, and manifest loading. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "backup/job.h"
#include "backup/pg_internal.h"
#include "common/err.h"
#include "store/store.h"
#include "store/zio.h"

extern char **environ;

/* libpq errors end in a newline and may span lines: keep one line. */
static void oneline(const char *in, char *out)
{
    size_t n = 0;

    for (; *in && n < 255; in++) {
        if (*in == '\n' || *in == '\r') {
            if (in[1] == '\0') {
                break;
            }
            out[n++] = ' ';
            continue;
        }
        out[n++] = *in;
    }
    while (n > 0 && out[n - 1] == ' ') {
        n--;
    }
    out[n] = '\0';
}

void pgj_errf(char *errmsg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errmsg, 256, fmt, ap);
    va_end(ap);
}

void pgj_pqerr(PGconn *c, char *out)
{
    oneline(c ? PQerrorMessage(c) : "no connection", out);
    if (out[0] == '\0') {
        pgj_errf(out, "unknown libpq error");
    }
}

void pgj_resulterr(const PGresult *r, char *out)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (m == NULL && r != NULL) {
        m = PQresultErrorMessage(r);
    }
    oneline(m && *m ? m : "unknown error", out);
}

int pgj_connect(const char *conninfo,
                const char *encoding,
                const char *what,
                PGconn **out,
                char *errmsg)
{
    /* Our defaults first: libpq lets later keywords (those expanded from
     * the caller's conninfo) override them. */
    const char *keys[] = {"application_name", "connect_timeout", "dbname",
                          NULL};
    const char *vals[] = {"drnode-job", "15", conninfo, NULL};
    char err[256];
    PGconn *c;
    int rv;

    *out = NULL;
    c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL) {
        pgj_errf(errmsg, "%s: connect: out of memory", what);
        return DR_ENOMEM;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pgj_pqerr(c, err);
        pgj_errf(errmsg, "%s: connect: %s", what, err);
        PQfinish(c);
        return DR_EUNAVAILABLE;
    }
    if (encoding != NULL && PQsetClientEncoding(c, encoding) != 0) {
        pgj_pqerr(c, err);
        pgj_errf(errmsg, "%s: client encoding %.32s: %s", what, encoding, err);
        PQfinish(c);
        return DR_EUNAVAILABLE;
    }
    rv = pgj_exec(c,
                  "SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';"
                  "SET extra_float_digits = 3; SET TimeZone = 'UTC';"
                  "SET bytea_output = 'hex';"
                  "SET standard_conforming_strings = on;"
                  "SET statement_timeout = 0; SET lock_timeout = 0;"
                  "SET idle_in_transaction_session_timeout = 0;"
                  "SET row_security = off; SET synchronous_commit = off;"
                  "SELECT pg_catalog.set_config('search_path', '', false)",
                  err);
    if (rv != 0) {
        pgj_errf(errmsg, "%s: session settings: %s", what, err);
        PQfinish(c);
        return rv;
    }
    *out = c;
    return 0;
}

static int result_code(PGconn *c)
{
    return PQstatus(c) == CONNECTION_OK ? DR_EIO : DR_EUNAVAILABLE;
}

int pgj_exec(PGconn *c, const char *sql, char *errmsg)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rv = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (r != NULL && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) {
            pgj_resulterr(r, errmsg);
        } else {
            pgj_pqerr(c, errmsg);
        }
        rv = result_code(c);
    }
    PQclear(r);
    return rv;
}

int pgj_query(PGconn *c,
              const char *sql,
              int nparams,
              const char *const *params,
              PGresult **out,
              char *errmsg)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    *out = NULL;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        if (r != NULL && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) {
            pgj_resulterr(r, errmsg);
        } else {
            pgj_pqerr(c, errmsg);
        }
        PQclear(r);
        return result_code(c);
    }
    *out = r;
    return 0;
}

/* Append s as a quoted identifier to out (which has room: 2*len+3). */
static char *quote_into(char *out, const char *s)
{
    *out++ = '"';
    for (; *s; s++) {
        if (*s == '"') {
            *out++ = '"';
        }
        *out++ = *s;
    }
    *out++ = '"';
    *out = '\0';
    return out;
}

char *pgj_qualified(const char *schema, const char *name)
{
    char *q = malloc(2 * (strlen(schema) + strlen(name)) + 8);

    if (q != NULL) {
        char *p = quote_into(q, schema);
        *p++ = '.';
        quote_into(p, name);
    }
    return q;
}

char *pgj_select_list(char *const *columns, size_t n)
{
    size_t len = 2, i;
    char *q, *p;

    for (i = 0; i < n; i++) {
        len += 2 * strlen(columns[i]) + 5;
    }
    q = malloc(len);
    if (q == NULL) {
        return NULL;
    }
    if (n == 0) {
        strcpy(q, "*");
        return q;
    }
    p = q;
    for (i = 0; i < n; i++) {
        if (i > 0) {
            *p++ = ',';
            *p++ = ' ';
        }
        p = quote_into(p, columns[i]);
    }
    return q;
}

char *pgj_column_list(char *const *columns, size_t n)
{
    char *inner, *q;

    if (n == 0) {
        return strdup("");
    }
    inner = pgj_select_list(columns, n);
    if (inner == NULL) {
        return NULL;
    }
    q = malloc(strlen(inner) + 3);
    if (q != NULL) {
        sprintf(q, "(%s)", inner);
    }
    free(inner);
    return q;
}

/* Row digest. */

int pgj_digest_init(struct pgj_digest *d, int alg)
{
    memset(d, 0, sizeof(*d));
    d->alg = alg;
    if (alg == PGMAN_ROWSUM_XXH3) {
        return 0;
    }
    d->ctx = EVP_MD_CTX_new();
    d->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (d->ctx == NULL || d->md == NULL) {
        pgj_digest_free(d);
        return DR_ENOMEM;
    }
    return 0;
}

static uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

static void digest_line(struct pgj_digest *d, const char *line, size_t len)
{
    uint8_t h[32];
    uint64_t carry = 0;
    int i;

    if (d->alg == PGMAN_ROWSUM_XXH3) {
        /* The row's XXH3-128 as a 128-bit integer (high64:low64). */
        XXH128_hash_t x = XXH3_128bits(line, len);
        uint64_t s0 = d->limb[0] + x.low64;
        uint64_t c0 = s0 < x.low64;
        uint64_t s1 = d->limb[1] + x.high64;
        uint64_t c1 = s1 < x.high64;
        d->limb[0] = s0;
        d->limb[1] = s1 + c0;
        c1 |= d->limb[1] < s1;
        d->limb[2] += c1;
        d->limb[3] += d->limb[2] < c1;
        d->rows++;
        return;
    }
    EVP_DigestInit_ex2(d->ctx, d->md, NULL);
    EVP_DigestUpdate(d->ctx, line, len);
    EVP_DigestFinal_ex(d->ctx, h, NULL);
    /* limb[0] is the least significant: the hash's last 8 bytes. */
    for (i = 0; i < 4; i++) {
        uint64_t x = load_be64(h + 8 * (3 - i));
        uint64_t s = d->limb[i] + x;
        uint64_t c1 = s < x;
        d->limb[i] = s + carry;
        carry = c1 | (d->limb[i] < s);
    }
    d->rows++;
}

int pgj_digest_feed(struct pgj_digest *d, const char *buf, size_t len)
{
    const char *end = buf + len, *nl;

    if (d->carry_len > 0) {
        nl = memchr(buf, '\n', len);
        size_t take = nl ? (size_t)(nl - buf) : len;
        if (d->carry_len + take > d->carry_cap) {
            size_t cap = (d->carry_len + take) * 2;
            char *p = realloc(d->carry, cap);
            if (p == NULL) {
                return DR_ENOMEM;
            }
            d->carry = p;
            d->carry_cap = cap;
        }
        memcpy(d->carry + d->carry_len, buf, take);
        d->carry_len += take;
        if (nl == NULL) {
            return 0;
        }
        digest_line(d, d->carry, d->carry_len);
        d->carry_len = 0;
        buf = nl + 1;
    }
    while (buf < end && (nl = memchr(buf, '\n', (size_t)(end - buf)))) {
        digest_line(d, buf, (size_t)(nl - buf));
        buf = nl + 1;
    }
    if (buf < end) {
        size_t rest = (size_t)(end - buf);
        if (rest > d->carry_cap) {
            char *p = realloc(d->carry, rest * 2);
            if (p == NULL) {
                return DR_ENOMEM;
            }
            d->carry = p;
            d->carry_cap = rest * 2;
        }
        memcpy(d->carry, buf, rest);
        d->carry_len = rest;
    }
    return 0;
}

int pgj_digest_finish(struct pgj_digest *d)
{
    int i, j;

    for (i = 0; i < 4; i++) {
        for (j = 0; j < 8; j++) {
            d->sum[8 * (3 - i) + j] = (uint8_t)(d->limb[i] >> (56 - 8 * j));
        }
    }
    return d->carry_len == 0 ? 0 : DR_EMALFORMED;
}

void pgj_digest_free(struct pgj_digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    EVP_MD_free(d->md);
    free(d->carry);
    d->ctx = NULL;
    d->md = NULL;
    d->carry = NULL;
}

bool pgj_hex_equal(const char *a, const char *b)
{
    return strlen(a) == 64 && strcasecmp(a, b) == 0;
}

/* Spec fields. */

int pgj_spec_parallel(const json_t *spec, int *out, char *errmsg)
{
    uint64_t n;
    int rv = job_spec_uint(spec, "parallel", PGJ_PARALLEL_DEFAULT, 1,
                           PGJ_PARALLEL_MAX, &n, errmsg);

    *out = (int)n;
    return rv;
}

/* Workers and objects. */

int pgj_nomem(char *errmsg)
{
    pgj_errf(errmsg, "out of memory");
    return DR_ENOMEM;
}

int pgj_worker_new(const json_t *spec, void **ws, char *errmsg)
{
    struct pgj_worker *w = calloc(1, sizeof(*w));

    *ws = w;
    if (w == NULL || (w->buf = malloc(PGJ_IOBUF)) == NULL) {
        return pgj_nomem(errmsg);
    }
    return spec != NULL ? job_open_store(spec, &w->store, errmsg) : 0;
}

void pgj_worker_fini(void *arg, void *ws)
{
    struct pgj_worker *w = ws;

    (void)arg;
    if (w == NULL) {
        return;
    }
    PQfinish(w->conn);
    if (w->store != NULL) {
        store_close(w->store);
    }
    free(w->buf);
    free(w);
}

int pgj_manifest_objects(const struct pgman *m,
                         const struct pgman_object ***out,
                         size_t *n,
                         char *errmsg)
{
    const struct pgman_object **objs;
    size_t i, j, total = 2;

    for (i = 0; i < m->n_tables; i++) {
        total += m->tables[i].n_chunks;
    }
    objs = calloc(total, sizeof(*objs));
    if (objs == NULL) {
        return pgj_nomem(errmsg);
    }
    *n = 0;
    objs[(*n)++] = &m->pre_data;
    objs[(*n)++] = &m->post_data;
    for (i = 0; i < m->n_tables; i++) {
        for (j = 0; j < m->tables[i].n_chunks; j++) {
            objs[(*n)++] = &m->tables[i].chunks[j].object;
        }
    }
    *out = objs;
    return 0;
}

int pgj_check_stored(struct store *s,
                     const struct pgman_object *o,
                     char *errmsg)
{
    char sha[STORE_SHA256_HEX], err[256];
    uint64_t size = 0;
    int rv;

    rv = store_sha256(s, o->key, sha, &size, err);
    if (rv == DR_ENOTFOUND) {
        pgj_errf(errmsg, "object %.200s is missing from the store", o->key);
        return DR_ECORRUPT;
    }
    if (rv != 0) {
        pgj_errf(errmsg, "%s", err);
        return rv;
    }
    if (size != o->stored_bytes) {
        pgj_errf(errmsg, "object %.160s: %llu bytes, the manifest says %llu",
                 o->key, (unsigned long long)size,
                 (unsigned long long)o->stored_bytes);
        return DR_ECORRUPT;
    }
    if (!pgj_hex_equal(sha, o->stored_sha256)) {
        pgj_errf(errmsg,
                 "object %.120s: SHA-256 mismatch (expected %.64s, "
                 "got %.64s)",
                 o->key, o->stored_sha256, sha);
        return DR_ECORRUPT;
    }
    return 0;
}

/* The pool. */

void pgj_pool_fail(struct pgj_pool *p, int rv, const char *errmsg)
{
    pthread_mutex_lock(&p->mu);
    if (p->rv == 0) {
        p->rv = rv;
        snprintf(p->errmsg, sizeof(p->errmsg), "%s", errmsg);
    }
    atomic_store(&p->failed, 1);
    pthread_mutex_unlock(&p->mu);
}

static void *pool_thread(void *arg)
{
    struct pgj_pool *p = arg;
    void *ws = NULL;
    char err[256] = "";
    int rv;

    rv = p->init(p->arg, &ws, err);
    if (rv != 0) {
        pgj_pool_fail(p, rv, err);
        return NULL;
    }
    for (;;) {
        size_t i;

        pthread_mutex_lock(&p->mu);
        i = p->next;
        if (i < p->n_tasks && !atomic_load(&p->failed)) {
            p->next++;
        } else {
            i = p->n_tasks;
        }
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n_tasks) {
            break;
        }
        err[0] = '\0';
        rv = p->task(p->arg, ws, i, err);
        if (rv != 0) {
            pgj_pool_fail(p, rv, err);
            break;
        }
    }
    p->fini(p->arg, ws);
    return NULL;
}

int pgj_pool_start(struct pgj_pool *p, char *errmsg)
{
    int i, n = p->n_threads;

    if ((size_t)n > p->n_tasks) {
        n = (int)p->n_tasks;
    }
    if (n < 1) {
        n = 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->failed, 0);
    p->next = 0;
    p->rv = 0;
    p->errmsg[0] = '\0';
    p->started = 0;
    p->threads = calloc((size_t)n, sizeof(*p->threads));
    if (p->threads == NULL) {
        pgj_errf(errmsg, "out of memory");
        pthread_mutex_destroy(&p->mu);
        return DR_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_thread, p) != 0) {
            pgj_pool_fail(p, DR_ENOMEM, "cannot start a worker thread");
            break;
        }
        p->started++;
    }
    return 0;
}

int pgj_pool_join(struct pgj_pool *p, char *errmsg)
{
    int i;

    for (i = 0; i < p->started; i++) {
        pthread_join(p->threads[i], NULL);
    }
    free(p->threads);
    p->threads = NULL;
    pthread_mutex_destroy(&p->mu);
    if (p->rv != 0) {
        pgj_errf(errmsg, "%s", p->errmsg);
    }
    return p->rv;
}

int pgj_pool_run(struct pgj_pool *p, char *errmsg)
{
    int rv = pgj_pool_start(p, errmsg);

    if (rv != 0) {
        return rv;
    }
    return pgj_pool_join(p, errmsg);
}

/* Objects. */

int pgj_read_object(struct store *s,
                    const struct pgman_object *o,
                    size_t max_len,
                    char **buf,
                    size_t *len,
                    char *errmsg)
{
    struct zio_reader *r;
    struct zio_stats st;
    size_t cap, n = 0, got;
    char *b;
    int rv;

    *buf = NULL;
    *len = 0;
    if (o->raw_bytes > max_len) {
        pgj_errf(errmsg, "object %.160s: %llu bytes is too large", o->key,
                 (unsigned long long)o->raw_bytes);
        return DR_ELIMIT;
    }
    cap = (size_t)o->raw_bytes + 1;
    b = malloc(cap);
    if (b == NULL) {
        pgj_errf(errmsg, "object %.160s: out of memory", o->key);
        return DR_ENOMEM;
    }
    rv = zio_reader_open(s, o->key, o->stored_sha256, &r, errmsg);
    if (rv != 0) {
        free(b);
        return rv;
    }
    for (;;) {
        if (n == cap - 1) {
            /* One more read must say "end", or the object is too long. */
            char extra[1];
            rv = zio_read(r, extra, 1, &got, errmsg);
            if (rv == 0 && got != 0) {
                pgj_errf(errmsg,
                         "object %.160s: longer than the %llu "
                         "bytes the manifest says",
                         o->key, (unsigned long long)o->raw_bytes);
                rv = DR_ECORRUPT;
            }
            break;
        }
        rv = zio_read(r, b + n, cap - 1 - n, &got, errmsg);
        if (rv != 0 || got == 0) {
            break;
        }
        n += got;
    }
    if (rv == 0) {
        zio_reader_stats(r, &st);
        if (st.raw_bytes != o->raw_bytes ||
            !pgj_hex_equal(st.raw_sha256, o->raw_sha256)) {
            pgj_errf(errmsg,
                     "object %.160s: uncompressed SHA-256 or size "
                     "differs from the manifest",
                     o->key);
            rv = DR_ECORRUPT;
        }
    }
    zio_reader_close(r);
    if (rv != 0) {
        free(b);
        return rv;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int pgj_load_manifest(struct store *s,
                      const char *key,
                      const char *expect_sha256,
                      struct pgman **out,
                      char *errmsg)
{
    void *buf;
    size_t len;
    char err[256];
    int rv;

    *out = NULL;
    rv =
        store_get_buf(s, key, expect_sha256, PGJ_MANIFEST_MAX, &buf, &len, err);
    if (rv != 0) {
        pgj_errf(errmsg, "%s", err);
        return rv;
    }
    rv = pgman_decode(buf, len, out, err);
    free(buf);
    if (rv != 0) {
        pgj_errf(errmsg, "%.60s: %s", key, err);
    }
    return rv;
}

char *pgj_conninfo_put(char *p, const char *key, const char *value)
{
    if (value[0] != '\0' && strpbrk(value, " \t\n\r\f\v'\\") == NULL) {
        return p + sprintf(p, "%s=%s", key, value);
    }
    p += sprintf(p, "%s='", key);
    for (const char *v = value; *v; v++) {
        if (*v == '\'' || *v == '\\') {
            *p++ = '\\';
        }
        *p++ = *v;
    }
    *p++ = '\'';
    *p = '\0';
    return p;
}

int pgj_conninfo_split(const char *conninfo,
                       char **out,
                       char **password,
                       char *errmsg)
{
    PQconninfoOption *opts, *o;
    char *perr = NULL, *s, *p;
    size_t len = 1;

    *out = NULL;
    *password = NULL;
    opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        pgj_errf(errmsg, "conninfo: %s", perr ? perr : "cannot be parsed");
        PQfreemem(perr);
        return DR_EINVAL;
    }
    for (o = opts; o->keyword; o++) {
        if (o->val != NULL) {
            len += strlen(o->keyword) + 2 * strlen(o->val) + 5;
        }
    }
    s = malloc(len);
    if (s == NULL) {
        PQconninfoFree(opts);
        return pgj_nomem(errmsg);
    }
    p = s;
    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (strcmp(o->keyword, "password") == 0) {
            *password = strdup(o->val);
            continue;
        }
        if (p != s) {
            *p++ = ' ';
        }
        p = pgj_conninfo_put(p, o->keyword, o->val);
    }
    *p = '\0';
    PQconninfoFree(opts);
    *out = s;
    return 0;
}

char **pgj_child_env(const char *password)
{
    size_t n = 0, i, k = 0;
    char **env;

    while (environ[n]) {
        n++;
    }
    env = calloc(n + 2, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (password != NULL && strncmp(environ[i], "PGPASSWORD=", 11) == 0) {
            continue;
        }
        env[k++] = environ[i];
    }
    if (password != NULL) {
        env[k] = malloc(strlen(password) + 12);
        if (env[k] == NULL) {
            free(env);
            return NULL;
        }
        sprintf(env[k], "PGPASSWORD=%s", password);
        k++;
    }
    env[k] = NULL;
    return env;
}

void pgj_child_env_free(char **env, const char *password)
{
    size_t k = 0;

    if (env == NULL) {
        return;
    }
    if (password != NULL) {
        while (env[k]) {
            k++;
        }
        if (k > 0) {
            explicit_bzero(env[k - 1], strlen(env[k - 1]));
            free(env[k - 1]);
        }
    }
    free(env);
}

void pgj_child_stderr(int fd, char *out)
{
    char buf[512];
    ssize_t n;

    out[0] = '\0';
    if (lseek(fd, 0, SEEK_SET) < 0) {
        return;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    pgj_errf(out, "%.200s", buf);
}

int pgj_spawn(const char *const *argv,
              char **env,
              pid_t *pid,
              int *out_fd,
              int *err_fd,
              char *errmsg)
{
    posix_spawn_file_actions_t fa;
    int outp[2] = {-1, -1}, rv;
    FILE *errf = tmpfile();

    *pid = -1;
    *out_fd = *err_fd = -1;
    if (errf == NULL) {
        pgj_errf(errmsg, "%.60s: tmpfile: %s", argv[0], strerror(errno));
        return DR_EIO;
    }
    *err_fd = dup(fileno(errf));
    fclose(errf);
    if (*err_fd < 0 || pipe2(outp, O_CLOEXEC) != 0) {
        pgj_errf(errmsg, "%.60s: %s", argv[0], strerror(errno));
        if (*err_fd >= 0) {
            close(*err_fd);
            *err_fd = -1;
        }
        return DR_EIO;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, *err_fd, 2);
    rv = strchr(argv[0], '/')
             ? posix_spawn(pid, argv[0], &fa, NULL, (char *const *)argv, env)
             : posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(outp[1]);
    if (rv != 0) {
        pgj_errf(errmsg, "cannot run %.100s: %s", argv[0], strerror(rv));
        close(outp[0]);
        close(*err_fd);
        *err_fd = -1;
        *pid = -1;
        return DR_EUNAVAILABLE;
    }
    *out_fd = outp[0];
    return 0;
}

int pgj_wait(pid_t pid, int err_fd, const char *what, char *errmsg)
{
    char err[256];
    int status = 0;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    pgj_child_stderr(err_fd, err);
    pgj_errf(errmsg, "%s failed (%s %d): %s", what,
             WIFEXITED(status) ? "exit" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
    return DR_EUNAVAILABLE;
}

void pgj_kill(pid_t pid)
{
    int status;

    if (pid > 0) {
        kill(pid, SIGTERM);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
}
