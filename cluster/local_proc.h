/* drctl local: starting and recognising the processes of the services. */
#ifndef DRCTL_LOCAL_PROC_H
#define DRCTL_LOCAL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "local.h"

/* Who runs a program: ourselves, or another user (we are root). */
struct local_user
{
    bool other; /* switch to uid/gid before exec */
    uid_t uid;
    gid_t gid;
};

/* How to run one program. Every pointer is borrowed for local_spawn. */
struct local_spawn
{
    char *const *argv;             /* argv[0] is the absolute path */
    const char *cwd;               /* changed to after switching user */
    const char *log;               /* stdout and stderr, appended */
    const struct local_user *user; /* NULL: ourselves */
    bool detach;                   /* own session: outlives drctl */
};

/* Start sp's program with stdin from /dev/null, after a header line in
 * its log; *pid gets its pid. A failure before exec (log, switching user,
 * cwd, exec) is DR_EIO with errmsg (LOCAL_ERRMSG_MAX), and no child is
 * left. */
int local_spawn(const struct local_spawn *sp, pid_t *pid, char *errmsg);

/* Wait for child pid until deadline (client_now_ms), SIGKILL it after.
 * Returns 0 when it exited with status 0; otherwise DR_EIO or
 * DR_ETIMEOUT with errmsg naming what. */
int local_wait_exit(pid_t pid,
                    const char *what,
                    uint64_t deadline,
                    char *errmsg);

/* Whether pid's command line (split at NULs and spaces: a service may
 * rewrite its title into one string) has a word whose base name is prog,
 * and the words flag and value in a row (flag NULL: value alone). */
bool local_cmdline_has(pid_t pid,
                       const char *prog,
                       const char *flag,
                       const char *value);

/* Search PATH for the executable name; its path into out (size bytes). */
bool local_which(const char *name, char *out, size_t size);

/* A socket connected to 127.0.0.1:port with 1 s I/O timeouts, or -1. */
int local_connect(unsigned port);

#endif /* DRCTL_LOCAL_PROC_H */
