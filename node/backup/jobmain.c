/* `drnode --run-job`: one job from a JSON spec on stdin, its result on
 * stdout. drnode spawns this for every job it claims, so a crash, a hang or
 * a lost lease never touches the coordinator's loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backup/job.h"
#include "common/err.h"
#include "common/jobenv.h"

#define JOB_SPEC_MAX (1024 * 1024)

static void print_outcome(FILE *out,
                          int code,
                          const char *errmsg,
                          json_t *result)
{
    json_t *o = json_object();

    json_object_set_new(o, "ok", json_boolean(code == 0));
    if (code != 0) {
        json_object_set_new(o, "code", json_string(dr_errcode_name(code)));
        json_object_set_new(o, "error", json_string(errmsg));
    }
    if (result != NULL) {
        json_object_set(o, "result", result);
    }
    json_dumpf(o, out, JSON_COMPACT);
    fputc('\n', out);
    fflush(out);
    json_decref(o);
}

/* Write all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int job_progress(const char *phase, const json_t *fields, char *errmsg)
{
    const char *v = getenv("DR_JOB_PROGRESS_FD");
    char reply[300], *line;
    json_t *msg;
    size_t n = 0;
    int fd, rv;

    if (v == NULL || v[0] == '\0') {
        return 0; /* no node listens: nothing to commit */
    }
    fd = atoi(v);
    msg = fields != NULL ? json_deep_copy(fields) : json_object();
    json_object_set_new(msg, "phase", json_string(phase));
    line = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (line == NULL) {
        snprintf(errmsg, 256, "%s done: out of memory", phase);
        return DR_ENOMEM;
    }
    rv = write_all(fd, line, strlen(line));
    free(line);
    if (rv == 0) {
        rv = write_all(fd, "\n", 1);
    }
    /* The answer: one line, once the cluster committed the step (or
     * refused it). */
    while (rv == 0 && n < sizeof(reply) - 1) {
        ssize_t r = read(fd, reply + n, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rv = -1;
            break;
        }
        if (reply[n] == '\n') {
            break;
        }
        n++;
    }
    reply[n] = '\0';
    if (rv != 0) {
        snprintf(errmsg, 256,
                 "%s done, but the node running this job went away before "
                 "the cluster committed it",
                 phase);
        return DR_EIO;
    }
    if (strcmp(reply, "ok") == 0) {
        return 0;
    }
    snprintf(errmsg, 256, "stopped after %s: %.200s", phase,
             strncmp(reply, "stop ", 5) == 0 ? reply + 5 : reply);
    return DR_ECONFLICT;
}

/* First the kernel's OOM killer takes a job (and what it runs), not the
 * coordinator; then, when drnode gave us a cgroup of the jobs' own ([jobs]
 * cgroup), into it, before anything is allocated. A failure is reported
 * and the job runs where it is. */
static void enter_job_cgroup(void)
{
    const char *dir = getenv(DR_JOB_CGROUP_ENV);
    char path[1200], text[16];
    int fd, n;

    fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = snprintf(text, sizeof(text), "%d", DR_JOB_OOM_SCORE_ADJ);
        if (write(fd, text, (size_t)n) != n) {
            fprintf(stderr, "drnode job: oom_score_adj: %s\n", strerror(errno));
        }
        close(fd);
    }
    if (dir == NULL || dir[0] == '\0') {
        return;
    }
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
        fprintf(stderr,
                "drnode job: cannot move into %s: %s; running in drnode's "
                "cgroup\n",
                path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

int job_main(FILE *in, FILE *out)
{
    json_t *spec, *result = NULL;
    json_error_t jerr;
    char errmsg[256];
    const char *ppid;
    int rv;

    /* Die with the drnode that started us: a job whose owner is gone has
     * lost its lease, and must not go on writing. */
    ppid = getenv("DR_JOB_PARENT");
    if (ppid != NULL) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((long)getppid() != atol(ppid)) {
            return 1;
        }
    }
    /* The line to the node is ours alone: a program the job runs (a hook,
     * pg_dump) must not hold it open after we are gone. */
    if (getenv("DR_JOB_PROGRESS_FD") != NULL) {
        int fd = atoi(getenv("DR_JOB_PROGRESS_FD"));
        if (fd > 2) {
            (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    enter_job_cgroup();
    spec = json_loadf(in, JSON_REJECT_DUPLICATES, &jerr);
    if (spec == NULL) {
        snprintf(errmsg, sizeof(errmsg), "job spec: line %d: %s", jerr.line,
                 jerr.text);
        print_outcome(out, DR_EINVAL, errmsg, NULL);
        return 2;
    }
    errmsg[0] = '\0';
    rv = job_run(spec, &result, errmsg);
    print_outcome(out, rv, errmsg, result);
    json_decref(result);
    json_decref(spec);
    return rv == 0 ? 0 : 1;
}
