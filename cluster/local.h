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

/* The nodes found in (or planned for) a directory, sorted by id. */
struct local_cluster
{
    char dir[LOCAL_PATH_MAX]; /* absolute, no trailing slash */
    struct local_node nodes[LOCAL_NODES_MAX];
    size_t n;
};

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
 * ports, and write DIR/token and every node's config. regions is
 * borrowed. Returns 0 or an error with errmsg naming the file. */
int local_create(struct local_cluster *lc,
                 char regions[][64],
                 size_t n_regions,
                 unsigned per_region,
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

/* Write DIR/env (DRCTL_ENDPOINTS and DRCTL_TOKEN_FILE lines) and return the
 * two lines in buf as well. */
int local_write_env(const struct local_cluster *lc,
                    char *buf,
                    size_t size,
                    char *errmsg);

#endif /* DRCTL_LOCAL_H */
