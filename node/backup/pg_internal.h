/* Shared pieces of the PostgreSQL backup, restore and verify jobs: blocking
 * libpq connections with fixed session settings, the row digest, object
 * keys, and a small pool of worker threads (one connection and one store
 * handle each). Job worker processes only: everything here blocks. */
#ifndef DR_PG_INTERNAL_H
#define DR_PG_INTERNAL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/pg_manifest.h"

#define PGJ_PARALLEL_DEFAULT 2
#define PGJ_PARALLEL_MAX 64
#define PGJ_CHUNK_BYTES_DEFAULT (64ull << 20)
#define PGJ_MANIFEST_MAX (256u << 20)
#define PGJ_IOBUF (1u << 20) /* bytes per store/COPY batch */

/* Connect with the spec's conninfo (borrowed) and apply the session
 * settings that make COPY TEXT output identical on every server (see
 * proto/pg_manifest.proto). encoding NULL keeps the server's encoding as
 * the client encoding. what names the connection in errors ("source"). */
int pgj_connect(const char *conninfo,
                const char *encoding,
                const char *what,
                PGconn **out,
                char *errmsg);

/* Run one statement that returns no rows (or any rows, discarded). */
int pgj_exec(PGconn *c, const char *sql, char *errmsg);

/* Run a query with text parameters; *out is the result (PQclear it) when
 * it returns 0. */
int pgj_query(PGconn *c,
              const char *sql,
              int nparams,
              const char *const *params,
              PGresult **out,
              char *errmsg);

/* snprintf into a 256-byte errmsg (truncating). */
void pgj_errf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* libpq's last error, on one line, into out (256 bytes). */
void pgj_pqerr(PGconn *c, char *out);
void pgj_resulterr(const PGresult *r, char *out);

/* Quoted identifiers: "schema"."name" and a column list ("a", "b") in
 * malloc'ed strings (NULL when out of memory). An empty column list is
 * "" (COPY then uses every column). */
char *pgj_qualified(const char *schema, const char *name);
char *pgj_column_list(char *const *columns, size_t n);
/* The columns alone, for a SELECT list: "a", "b" (or "*" when none). */
char *pgj_select_list(char *const *columns, size_t n);

/* Row digest over a COPY TEXT stream fed in arbitrary pieces. */
struct pgj_digest
{
    int alg; /* enum pgman_digest_alg */
    EVP_MD_CTX *ctx;
    EVP_MD *md; /* fetched once: no provider lookup per row */
    uint64_t rows;
    uint64_t limb[4]; /* the running sum, least significant limb first */
    uint8_t sum[PGMAN_DIGEST_LEN]; /* big-endian, after finish */
    char *carry;                   /* a line split across pieces */
    size_t carry_len, carry_cap;
};
int pgj_digest_init(struct pgj_digest *d, int alg);
int pgj_digest_feed(struct pgj_digest *d, const char *buf, size_t len);
/* Fills sum. 0, or DR_EMALFORMED when the stream ended inside a line. */
int pgj_digest_finish(struct pgj_digest *d);
void pgj_digest_free(struct pgj_digest *d);

/* Hex SHA-256 compare (case-insensitive). */
bool pgj_hex_equal(const char *a, const char *b);

/* Spec fields. */
int pgj_spec_parallel(const json_t *spec, int *out, char *errmsg);
/* A pool of threads working through tasks 0..n_tasks-1 in order. Each
 * thread calls init once (to open its connection and store), then task for
 * every index it claims, then fini. A non-zero return from init or task
 * stops the pool: no new task starts, and the first error's code and
 * message are the pool's. */
/* "out of memory" into errmsg; returns DR_ENOMEM. */
int pgj_nomem(char *errmsg);

/* What one pool thread holds: its own store handle (or none), its own
 * connection (set by the caller's init), an I/O buffer. */
struct store;
struct pgj_worker
{
    struct store *store;
    PGconn *conn;
    char *buf; /* PGJ_IOBUF bytes */
    size_t len;
};

/* A new worker for a pool's init: the buffer, and a handle on spec's store
 * unless spec is NULL. *ws is set even on failure, so the pool's fini
 * (pgj_worker_fini) frees what was made. */
int pgj_worker_new(const json_t *spec, void **ws, char *errmsg);
/* The pool's fini for a struct pgj_worker. */
void pgj_worker_fini(void *arg, void *ws);

/* Every object of m: pre-data, post-data, then each table's chunks in
 * order. *out (n of them) is malloc'ed and borrows from m. */
int pgj_manifest_objects(const struct pgman *m,
                         const struct pgman_object ***out,
                         size_t *n,
                         char *errmsg);

/* Read object o of store s in full and compare it with the manifest: 0,
 * DR_ECORRUPT with errmsg naming the object (missing, size or SHA-256
 * differs), or the store's own error. */
int pgj_check_stored(struct store *s,
                     const struct pgman_object *o,
                     char *errmsg);

struct pgj_pool
{
    size_t n_tasks;
    int n_threads;
    void *arg;
    int (*init)(void *arg, void **ws, char *errmsg);
    int (*task)(void *arg, void *ws, size_t i, char *errmsg);
    void (*fini)(void *arg, void *ws);
    /* private */
    pthread_mutex_t mu;
    size_t next;
    atomic_int failed;
    int rv;
    char errmsg[256];
    pthread_t *threads;
    int started;
};
int pgj_pool_start(struct pgj_pool *p, char *errmsg);
/* Wait for every thread; returns the pool's outcome (errmsg filled). */
int pgj_pool_join(struct pgj_pool *p, char *errmsg);
/* Record a failure from outside a task (stops the pool). */
void pgj_pool_fail(struct pgj_pool *p, int rv, const char *errmsg);
static inline bool pgj_pool_stopping(struct pgj_pool *p)
{
    return atomic_load(&p->failed) != 0;
}
/* start + join. */
int pgj_pool_run(struct pgj_pool *p, char *errmsg);

/* Read a whole object through zio and check its raw SHA-256 and size
 * against o; *buf is malloc'ed and NUL-terminated. */
struct store;
int pgj_read_object(struct store *s,
                    const struct pgman_object *o,
                    size_t max_len,
                    char **buf,
                    size_t *len,
                    char *errmsg);

/* Load and decode the manifest at key, checking its stored SHA-256
 * (expect_sha256, hex). */
int pgj_load_manifest(struct store *s,
                      const char *key,
                      const char *expect_sha256,
                      struct pgman **out,
                      char *errmsg);

/* Writes KEY=VALUE at p and a NUL; VALUE quoted and escaped as libpq
 * reads it when it needs to be (empty, or with a space, ' or \); p has
 * room for strlen(key) + 2 * strlen(value) + 4 bytes. Returns the end (at
 * that NUL). */
char *pgj_conninfo_put(char *p, const char *key, const char *value);

/* conninfo without its password (*password, malloc'ed, or NULL), for a
 * child's command line: the password goes in its environment. */
int pgj_conninfo_split(const char *conninfo,
                       char **out,
                       char **password,
                       char *errmsg);
/* environ, with PGPASSWORD replaced when password is given; free with
 * pgj_child_env_free (which wipes the password). */
char **pgj_child_env(const char *password);
void pgj_child_env_free(char **env, const char *password);
/* The first line of what a child wrote to stderr (fd at its end). */
void pgj_child_stderr(int fd, char *out);

/* Start argv[0] (a bare name is looked up in PATH) with env: stdin
 * /dev/null, stdout a pipe (*out_fd, the caller reads and closes it),
 * stderr a temporary file (*err_fd, for pgj_wait; the caller closes it). */
int pgj_spawn(const char *const *argv,
              char **env,
              pid_t *pid,
              int *out_fd,
              int *err_fd,
              char *errmsg);
/* Wait for pid: 0 when it exited 0, else DR_EUNAVAILABLE with "WHAT failed
 * (exit N): the first line of its stderr". */
int pgj_wait(pid_t pid, int err_fd, const char *what, char *errmsg);
/* SIGTERM a child still running (pid > 0) and reap it. */
void pgj_kill(pid_t pid);

#endif /* DR_PG_INTERNAL_H */
