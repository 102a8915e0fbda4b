/* Jobs in a cgroup of their own (jobcgroup.h). Runs once at startup,
 * before the loop: plain blocking file I/O on cgroupfs. */
#include "agent/jobcgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/err.h"
#include "common/jobenv.h"
#include "common/memlimit.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static bool is_cgroup2(const char *dir)
{
    struct statfs st;

    return statfs(dir, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

/* Write text into dir/name; 0 or errno. */
static int write_file(const char *dir, const char *name, const char *text)
{
    char path[1200];
    int fd, e = 0;
    size_t n = strlen(text);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    if (write(fd, text, n) != (ssize_t)n) {
        e = errno != 0 ? errno : EIO;
    }
    if (close(fd) != 0 && e == 0) {
        e = errno;
    }
    return e;
}

/* The first line of dir/name into buf; 0 or errno. */
static int read_line(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[1200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "re");
    if (f == NULL) {
        return errno;
    }
    if (fgets(buf, (int)cap, f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* This process's cgroup v2 path ("0::PATH" of /proc/self/cgroup). */
static int own_cgroup(char *out, size_t cap)
{
    char line[1200];
    FILE *f = fopen("/proc/self/cgroup", "re");
    int rv = DR_EIO;

    if (f == NULL) {
        return DR_EIO;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, cap, "%.1000s", line + 3);
            rv = DR_OK;
            break;
        }
    }
    fclose(f);
    return rv;
}

/* The memory the limits are a share of: DIR's own memory.max, else the
 * machine's. */
static uint64_t available_memory(const char *dir)
{
    char buf[64];
    unsigned long long kb = 0;
    FILE *f;

    if (read_line(dir, "memory.max", buf, sizeof(buf)) == 0 &&
        strcmp(buf, "max") != 0 && buf[0] != '\0') {
        return strtoull(buf, NULL, 10);
    }
    f = fopen("/proc/meminfo", "re");
    if (f != NULL) {
        char line[128];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
                break;
            }
        }
        fclose(f);
    }
    return (uint64_t)kb * 1024;
}

static void limit_text(uint64_t v, char *out, size_t cap)
{
    if (v == UINT64_MAX) {
        snprintf(out, cap, "max");
    } else {
        snprintf(out, cap, "%" PRIu64, v);
    }
}

/* DIR/jobs' memory.high and memory.max, once DIR hands it the memory
 * controller. A failure leaves the jobs without a limit of their own and
 * says so in cg->why. */
static void set_limits(const struct config *cfg, struct jobcgroup *cg)
{
    struct dr_memlimit high, max;
    char controllers[256], err[160], text[32];
    uint64_t total;
    int e;

    if (read_line(cg->dir, "cgroup.controllers", controllers,
                  sizeof(controllers)) != 0 ||
        strstr(controllers, "memory") == NULL) {
        snprintf(cg->why, sizeof(cg->why),
                 "%.200s has no memory controller (the unit needs "
                 "Delegate=memory): the jobs have no memory limit of their "
                 "own",
                 cg->dir);
        return;
    }
    e = write_file(cg->dir, "cgroup.subtree_control", "+memory");
    if (e != 0) {
        snprintf(cg->why, sizeof(cg->why),
                 "%.200s/cgroup.subtree_control: cannot enable memory: %s: the "
                 "jobs have no memory limit of their own",
                 cg->dir, strerror(e));
        return;
    }
    /* config_check parsed both already. */
    if (dr_memlimit_parse(cfg->jobs_memory_high, &high, err, sizeof(err)) !=
            DR_OK ||
        dr_memlimit_parse(cfg->jobs_memory_max, &max, err, sizeof(err)) !=
            DR_OK) {
        snprintf(cg->why, sizeof(cg->why), "[jobs] %.160s", err);
        return;
    }
    total = available_memory(cg->dir);
    cg->max = dr_memlimit_bytes(&max, total);
    cg->high = dr_memlimit_bytes(&high, total);
    if (cg->high > cg->max) {
        cg->high = cg->max;
    }
    /* memory.max first: a high above the old max is refused by nothing,
     * but a max below the old high would leave them the wrong way round
     * for a moment. */
    limit_text(cg->max, text, sizeof(text));
    e = write_file(cg->jobs, "memory.max", text);
    if (e == 0) {
        limit_text(cg->high, text, sizeof(text));
        e = write_file(cg->jobs, "memory.high", text);
    }
    if (e != 0) {
        snprintf(cg->why, sizeof(cg->why),
                 "%.200s: cannot set the memory limits: %s", cg->jobs,
                 strerror(e));
        return;
    }
    cg->memory = true;
}

/* Not usable: with auto that is an answer (cg->why), with a path an
 * error. */
static int unusable(const struct config *cfg,
                    struct jobcgroup *cg,
                    char *err,
                    size_t errlen,
                    int code,
                    const char *why)
{
    if (strcmp(cfg->jobs_cgroup, "auto") == 0) {
        snprintf(cg->why, sizeof(cg->why), "%.500s", why);
        cg->dir[0] = cg->jobs[0] = '\0';
        return DR_OK;
    }
    snprintf(err, errlen, "[jobs] cgroup %.200s: %.500s", cfg->jobs_cgroup,
             why);
    return code;
}

int jobcgroup_setup(const struct config *cfg,
                    const char *root,
                    struct jobcgroup *cg,
                    char *err,
                    size_t errlen)
{
    char rel[1024], why[400], daemon[1200], pid[32];
    struct stat st;
    int e;

    memset(cg, 0, sizeof(*cg));
    cg->high = cg->max = UINT64_MAX;
    if (strcmp(cfg->jobs_cgroup, "off") == 0) {
        snprintf(cg->why, sizeof(cg->why), "[jobs] cgroup = off");
        return DR_OK;
    }
    if (strcmp(cfg->jobs_cgroup, "auto") == 0) {
        if (!is_cgroup2(root)) {
            snprintf(why, sizeof(why),
                     "%.200s is not a cgroup v2 hierarchy (cgroup v1 or "
                     "hybrid)",
                     root);
            return unusable(cfg, cg, err, errlen, DR_EINVAL, why);
        }
        if (own_cgroup(rel, sizeof(rel)) != DR_OK) {
            return unusable(cfg, cg, err, errlen, DR_EIO,
                            "/proc/self/cgroup names no cgroup v2 path");
        }
        if (strcmp(rel, "/") == 0) {
            return unusable(cfg, cg, err, errlen, DR_EINVAL,
                            "drnode runs in the root cgroup");
        }
        if ((size_t)snprintf(cg->dir, sizeof(cg->dir), "%s%s", root, rel) >=
            sizeof(cg->dir)) {
            return unusable(cfg, cg, err, errlen, DR_EINVAL,
                            "its cgroup path is too long");
        }
        /* Only a cgroup handed to drnode's own user, as systemd's
         * Delegate= does for a User= service: below any other one (a
         * login session's, a unit without Delegate=) the cgroups belong to
         * whoever manages that tree. As root, name the cgroup instead. */
        if (stat(cg->dir, &st) != 0 || geteuid() == 0 ||
            st.st_uid != geteuid()) {
            snprintf(why, sizeof(why),
                     "%.200s is not delegated to drnode's user (Delegate= in "
                     "the unit; as root, name a cgroup in [jobs] cgroup)",
                     cg->dir);
            return unusable(cfg, cg, err, errlen, DR_EINVAL, why);
        }
    } else {
        snprintf(cg->dir, sizeof(cg->dir), "%s", cfg->jobs_cgroup);
        if (!is_cgroup2(cg->dir)) {
            return unusable(cfg, cg, err, errlen, DR_EINVAL,
                            "not a directory of a cgroup v2 hierarchy");
        }
    }
    snprintf(daemon, sizeof(daemon), "%s/cgroup.procs", cg->dir);
    if (access(cg->dir, W_OK) != 0 || access(daemon, W_OK) != 0) {
        snprintf(why, sizeof(why),
                 "%.200s is not writable by drnode (the unit needs "
                 "Delegate=)",
                 cg->dir);
        return unusable(cfg, cg, err, errlen, DR_EINVAL, why);
    }
    snprintf(daemon, sizeof(daemon), "%s/daemon", cg->dir);
    snprintf(cg->jobs, sizeof(cg->jobs), "%s/jobs", cg->dir);
    if ((mkdir(daemon, 0755) != 0 && errno != EEXIST) ||
        (mkdir(cg->jobs, 0755) != 0 && errno != EEXIST)) {
        snprintf(why, sizeof(why), "cannot make %.200s/daemon and jobs: %s",
                 cg->dir, strerror(errno));
        return unusable(cfg, cg, err, errlen, DR_EIO, why);
    }
    /* Out of DIR itself: a cgroup with processes cannot hand controllers
     * to its children. */
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    e = write_file(daemon, "cgroup.procs", pid);
    if (e != 0) {
        snprintf(why, sizeof(why), "cannot move drnode into %.200s: %s", daemon,
                 strerror(e));
        return unusable(cfg, cg, err, errlen, DR_EIO, why);
    }
    set_limits(cfg, cg);
    if (setenv(DR_JOB_CGROUP_ENV, cg->jobs, 1) != 0) {
        snprintf(err, errlen, "setenv %s: %s", DR_JOB_CGROUP_ENV,
                 strerror(errno));
        return DR_ENOMEM;
    }
    return DR_OK;
}
