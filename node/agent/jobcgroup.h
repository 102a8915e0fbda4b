/* Jobs in a cgroup of their own ([jobs] in the config): a backup or
 * restore that runs out of memory is killed inside its cgroup, and the
 * coordinator (a raft voter) goes on. */
#ifndef DR_JOBCGROUP_H
#define DR_JOBCGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct jobcgroup
{
    char dir[1024];  /* the cgroup drnode manages; "" = none */
    char jobs[1100]; /* DIR/jobs, where the jobs run; "" = none */
    bool memory;     /* the memory controller limits DIR/jobs */
    uint64_t high;   /* memory.high of DIR/jobs, UINT64_MAX = max */
    uint64_t max;    /* memory.max of DIR/jobs, UINT64_MAX = max */
    char why[512];   /* why jobs share drnode's cgroup, or lack a limit */
};

/* At startup, before any thread: with [jobs] cgroup auto or a path, move
 * this process into DIR/daemon, make DIR/jobs with the memory limits and
 * export DR_JOB_CGROUP (common/jobenv.h) for the job children, which
 * move themselves there (backup/jobmain.c). DR_OK also when auto finds no
 * usable cgroup (cg->jobs is then "" and cg->why says why); an explicit
 * path that does not work is DR_EINVAL or DR_EIO with err (errlen bytes)
 * naming the file. root is where cgroup v2 is mounted ("/sys/fs/cgroup";
 * auto only). */
int jobcgroup_setup(const struct config *cfg,
                    const char *root,
                    struct jobcgroup *cg,
                    char *err,
                    size_t errlen);

#endif /* DR_JOBCGROUP_H */
