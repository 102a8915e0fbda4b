/* What drnode hands a job child (drnode --run-job) in its environment,
 * besides DR_JOB_PARENT and DR_JOB_PROGRESS_FD. */
#ifndef DR_JOBENV_H
#define DR_JOBENV_H

/* The cgroup v2 directory the child moves itself into first ([jobs]
 * cgroup): DIR/jobs, with the jobs' memory limits. */
#define DR_JOB_CGROUP_ENV "DR_JOB_CGROUP"

/* The child's /proc/self/oom_score_adj: the kernel's OOM killer takes a
 * job (and what it runs: pg_dump, psql) before the coordinator. */
#define DR_JOB_OOM_SCORE_ADJ 500

#endif /* DR_JOBENV_H */
