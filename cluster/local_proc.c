/* drctl local: starting and recognising the processes of the services. */
#define _GNU_SOURCE
#include "local_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "common/err.h"

/* Read /proc/PID/cmdline into words[] (pointers into buf, NUL and space
 * separated: a service may rewrite its title into one string). */
static size_t local__cmdline(pid_t pid,
                             char *buf,
                             size_t size,
                             char **words,
                             size_t max)
{
    char path[64];
    size_t len = 0, n = 0, i;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, size - 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || (len += (size_t)r) == size - 1) {
            break;
        }
    }
    close(fd);
    buf[len] = '\0';
    for (i = 0; i < len; i++) {
        if (buf[i] == ' ') {
            buf[i] = '\0';
        }
    }
    for (i = 0; i < len && n < max; i += strlen(buf + i) + 1) {
        if (buf[i] != '\0') {
            words[n++] = buf + i;
        }
    }
    return n;
}

bool local_cmdline_has(pid_t pid,
                       const char *prog,
                       const char *flag,
                       const char *value)
{
    char buf[8192], *words[64];
    size_t n = local__cmdline(pid, buf, sizeof(buf), words, 64), i;
    bool has_prog = false, has_value = false;

    for (i = 0; i < n; i++) {
        const char *base = strrchr(words[i], '/');
        base = base != NULL ? base + 1 : words[i];
        if (strcmp(base, prog) == 0) {
            has_prog = true;
        }
        if (flag == NULL ? strcmp(words[i], value) == 0
                         : i + 1 < n && strcmp(words[i], flag) == 0 &&
                               strcmp(words[i + 1], value) == 0) {
            has_value = true;
        }
    }
    return has_prog && has_value;
}

bool local_which(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");

    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t n = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (n > 0 &&
            local_pathf(out, size, "%.*s/%s", (int)n, path, name) == 0 &&
            out[0] == '/' && local_executable(out)) {
            return true;
        }
        path = colon != NULL ? colon + 1 : NULL;
    }
    return false;
}

/* "=== TIME drctl local: running ARGV" into a log, to tell runs apart. */
static void local__log_header(int fd, char *const *argv)
{
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    gmtime_r(&now, &tm);
    dprintf(fd, "=== %04d-%02d-%02dT%02d:%02d:%02dZ drctl local: running",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec);
    for (i = 0; argv[i] != NULL; i++) {
        dprintf(fd, argv[i][0] != '\0' ? " %s" : " ''", argv[i]);
    }
    dprintf(fd, "\n");
}

int local_spawn(const struct local_spawn *sp, pid_t *pid, char *errmsg)
{
    int logfd, nullfd, pipefd[2], report[2] = {0, 0}, rv = DR_EIO;
    static const char *const stages[] = {"redirect output", "switch user",
                                         "change directory to", "exec"};
    ssize_t r;
    pid_t p;

    logfd = open(sp->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        local_errf(errmsg, "%s: %s", sp->log, strerror(errno));
        return DR_EIO;
    }
    local__log_header(logfd, sp->argv);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        local_errf(errmsg, "/dev/null: %s", strerror(errno));
        goto err_after_log;
    }
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        local_errf(errmsg, "pipe: %s", strerror(errno));
        goto err_after_null;
    }
    fflush(NULL);
    p = fork();
    if (p < 0) {
        local_errf(errmsg, "fork: %s", strerror(errno));
        goto err_after_pipe;
    }
    if (p == 0) {
        struct sigaction sa;
        int stage = 0;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (sp->detach) {
            setsid();
        }
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
            goto child_fail;
        }
        stage = 1;
        if (sp->user != NULL && sp->user->other &&
            (setgroups(1, &sp->user->gid) != 0 || setgid(sp->user->gid) != 0 ||
             setuid(sp->user->uid) != 0)) {
            goto child_fail;
        }
        stage = 2;
        if (chdir(sp->cwd) != 0) {
            goto child_fail;
        }
        stage = 3;
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        execv(sp->argv[0], sp->argv);
    child_fail:
        report[0] = stage;
        report[1] = errno;
        if (write(pipefd[1], report, sizeof(report)) < 0) {
            _exit(126);
        }
        _exit(127);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    do {
        r = read(pipefd[0], report, sizeof(report));
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof(report)) {
        waitpid(p, NULL, 0);
        local_errf(errmsg, "cannot run %s: %s%s%s: %s%s", sp->argv[0],
                   stages[report[0] & 3], report[0] == 2 ? " " : "",
                   report[0] == 2 ? sp->cwd : "", strerror(report[1]),
                   report[0] == 2 && report[1] == EACCES
                       ? " (it runs as another user, who needs search "
                         "permission on every directory above it: chmod o+x)"
                       : "");
        goto err_after_pipe;
    }
    *pid = p;
    rv = 0;

err_after_pipe:
    close(pipefd[0]);
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
    }
err_after_null:
    close(nullfd);
err_after_log:
    close(logfd);
    return rv;
}

int local_wait_exit(pid_t pid,
                    const char *what,
                    uint64_t deadline,
                    char *errmsg)
{
    int status;

    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            local_errf(errmsg, "%s: waitpid: %s", what, strerror(errno));
            return DR_EIO;
        }
        if (client_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            local_errf(errmsg, "%s did not finish in time", what);
            return DR_ETIMEOUT;
        }
        client_sleep_ms(20);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    local_errf(errmsg, "%s failed (%s %d)", what,
               WIFEXITED(status) ? "status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return DR_EIO;
}

int local_connect(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = {1, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
