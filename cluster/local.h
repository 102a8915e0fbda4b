/* drctl local: files and processes of a loopback cluster in one directory. */
#ifndef DRCTL_LOCAL_H
#define DRCTL_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LOCAL_NODES_MAX 64
#define LOCAL_PATH_MAX 1024
#define LOCAL_ERRMSG_MAX 512

/* One node, as written to (or read back from) DIR/nodeN/drnode.conf. */
struct local_node
{
    unsigned id;
    char region[64];
    char raft_address[64];    /* 127.0.0.1:PORT */
    char api_address[64];     /* 127.0.0.1:PORT */
    char dir[LOCAL_PATH_MAX]; /* DIR/nodeN */
};

/* One region's data services, as the node configs name them. */
struct local_region
{
    char name[64];
    unsigned pg_port;    /* PostgreSQL on 127.0.0.1; 0 = none */
    unsigned redis_port; /* Redis on 127.0.0.1; 0 = none */
    char store[256];     /* object store URL; "" = none */
};

/* The nodes found in (or planned for) a directory, sorted by id, and the
 * regions with their services. */
struct local_cluster
{
    char dir[LOCAL_PATH_MAX]; /* absolute, no trailing slash */
    struct local_node nodes[LOCAL_NODES_MAX];
    size_t n;
    struct local_region regions[LOCAL_NODES_MAX]; /* in config order */
    size_t n_regions;
    unsigned s3_port;      /* the local S3 endpoint of the stores; 0 = none */
    unsigned dns_port;     /* PowerDNS on 127.0.0.1 (UDP and TCP); 0 = none */
    unsigned dns_api_port; /* its HTTP API */
    unsigned probe_interval_ms; /* [probes] interval_ms of new nodes; 0:
                                   drnode's default */
    bool tls;         /* --tls: HTTPS with client certificates, DIR/tls */
    bool no_standbys; /* --no-standbys: the DR regions' PostgreSQL stay
                         plain servers (new clusters only) */
};

/* DIR/tls: the local cluster's CA and certificates. */
#define LOCAL_TLS_DIR "tls"

/* client_init for this cluster: its CA and drctl's client certificate
 * when it runs TLS. */
struct client;
int local_client_init(const struct local_cluster *lc,
                      struct client *c,
                      const char *endpoints,
                      const char *token_file,
                      unsigned timeout_ms,
                      char *errmsg);

/* "https" or "http": the scheme of the nodes' API. */
const char *local_scheme(const struct local_cluster *lc);

/* What local_create plans besides the nodes. */
#define LOCAL_WITH_SERVICES 1u /* a PostgreSQL and a Redis per region */
#define LOCAL_WITH_S3 2u       /* stores in a local S3 endpoint, not files */

/* Format a message into errmsg (LOCAL_ERRMSG_MAX bytes), truncating. */
void local_errf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format a path into buf (size bytes). Returns 0, or -1 when it does not
 * fit (buf then holds a truncated path). */
int local_pathf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "DIR/nodeN/NAME" into buf. */
void local_node_file(const struct local_node *n,
                     const char *name,
                     char *buf,
                     size_t size);

/* Read every DIR/nodeN/drnode.conf of lc->dir (set by the caller) into lc.
 * A directory without configs gives n = 0. A config that does not load is
 * DR_EINVAL with errmsg naming the file and its first problem. */
int local_load(struct local_cluster *lc, char *errmsg);

/* Plan a new cluster: node ids 1..n region by region, fresh loopback
 * ports, and write DIR/token and every node's config. flags (LOCAL_WITH_*)
 * add ports for each region's services to the configs' [services] and
 * [region.*] sections; nothing is started. regions is borrowed. Returns 0
 * or an error with errmsg naming the file. */
int local_create(struct local_cluster *lc,
                 char regions[][64],
                 size_t n_regions,
                 unsigned per_region,
                 unsigned flags,
                 char *errmsg);

/* Whether node n runs: its pid file names a live process that is a
 * drnode started with n's config. *pid gets the pid file's pid (0 when
 * there is none). */
bool local_running(const struct local_node *n, pid_t *pid);

/* Start time of process pid (clock ticks since boot), or 0 when there is
 * no such process or it has exited (a zombie): a process is truly gone,
 * its sockets closed, only once this changes. */
unsigned long long local_proc_start(pid_t pid);

/* Whether pid is still a drnode run with n's config. */
bool local_is_node_process(const struct local_node *n, pid_t pid);

/* Start drnode (path borrowed) for n, detached in its own session, output
 * appended to DIR/nodeN/drnode.log, pid written to DIR/nodeN/drnode.pid.
 * Returns 0 with *pid set, or DR_EIO with errmsg. */
int local_start(const struct local_node *n,
                const char *drnode,
                pid_t *pid,
                char *errmsg);

/* Locate the drnode executable: opt (--drnode), $DRNODE, next to this
 * executable, ../node/drnode relative to it (the build tree), then PATH.
 * Writes an absolute path into out. */
int local_find_drnode(const char *opt, char *out, size_t size, char *errmsg);

/* Print the last lines of node n's log to stderr, indented. */
void local_print_log_tail(const struct local_node *n, int lines);

/* Write DIR/env (local_env_each's variables, one line each) and return
 * its lines in buf as well. */
/* fn(NAME, VALUE, arg) for each variable DIR/env sets: DRCTL_ENDPOINTS,
 * DRCTL_TOKEN_FILE and, with TLS, DRCTL_CACERT, DRCTL_CERT, DRCTL_KEY. */
void local_env_each(const struct local_cluster *lc,
                    void (*fn)(const char *name, const char *value, void *arg),
                    void *arg);

int local_write_env(const struct local_cluster *lc,
                    char *buf,
                    size_t size,
                    char *errmsg);

/* Write data to path through a temporary file and a rename. */
int local_write_file(const char *path,
                     const char *data,
                     size_t len,
                     mode_t mode,
                     char *errmsg);

/* Fill ports[n] with distinct free loopback TCP ports. */
int local_free_ports(unsigned *ports, size_t n, char *errmsg);

/* Whether path is a regular file we may execute. */
bool local_executable(const char *path);

/* Print the last lines of the file at path to stderr, indented, under
 * the heading "  WHAT (PATH), last lines:". */
void local_print_file_tail(const char *what, const char *path, int lines);

#endif /* DRCTL_LOCAL_H */
