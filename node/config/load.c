/* Reading the config and token files from disk (blocking: start-up only). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of a config file */
#define TOKEN_SLACK 4096 /* trailing whitespace allowed after a token */

/* Open path, which must be a regular file; what names it in errmsg. */
static int open_regular(const char *what,
                        const char *path,
                        int *fd,
                        struct stat *st,
                        char *errmsg)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        snprintf(errmsg, 256, "cannot open %s %s: %s", what, path,
                 strerror(errno));
        return DR_EIO;
    }
    if (fstat(*fd, st) != 0) {
        snprintf(errmsg, 256, "cannot stat %s %s: %s", what, path,
                 strerror(errno));
        goto err_after_open;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(errmsg, 256, "%s %s is not a regular file", what, path);
        close(*fd);
        return DR_EINVAL;
    }
    return DR_OK;

err_after_open:
    close(*fd);
    return DR_EIO;
}

/* Read all of fd into a malloc'd buffer of at most max bytes. A longer file
 * is DR_ELIMIT with *out NULL. */
static int read_all(const char *what,
                    const char *path,
                    int fd,
                    size_t max,
                    char **out,
                    size_t *len,
                    char *errmsg)
{
    char *buf = malloc(max + 1);
    size_t n = 0;
    ssize_t got;

    *out = NULL;
    if (buf == NULL) {
        snprintf(errmsg, 256, "cannot read %s %s: out of memory", what, path);
        return DR_ENOMEM;
    }
    for (;;) {
        got = read(fd, buf + n, max + 1 - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            snprintf(errmsg, 256, "cannot read %s %s: %s", what, path,
                     strerror(errno));
            goto err_after_alloc;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        if (n > max) {
            explicit_bzero(buf, n);
            free(buf);
            return DR_ELIMIT;
        }
    }
    *out = buf;
    *len = n;
    return DR_OK;

err_after_alloc:
    explicit_bzero(buf, n);
    free(buf);
    return DR_EIO;
}

int config_load(struct config *c,
                const char *path,
                struct config_problems *probs)
{
    char errmsg[256];
    struct stat st;
    char *text;
    size_t len = 0;
    int fd;
    int rv;

    config_defaults(c);
    rv = open_regular("config file", path, &fd, &st, errmsg);
    if (rv != DR_OK) {
        goto err;
    }
    rv =
        read_all("config file", path, fd, CONFIG_FILE_MAX, &text, &len, errmsg);
    close(fd);
    if (rv == DR_ELIMIT) {
        snprintf(errmsg, sizeof(errmsg),
                 "config file %s is larger than %d bytes", path,
                 CONFIG_FILE_MAX);
    }
    if (rv != DR_OK) {
        goto err;
    }
    rv = config_parse(c, text, len, probs);
    free(text);
    return rv;

err:
    if (probs->n < CONFIG_PROBLEMS_MAX) {
        struct config_problem *item = &probs->items[probs->n++];
        item->line = 0;
        snprintf(item->msg, sizeof(item->msg), "%s", errmsg);
    }
    return DR_EINVAL;
}

void config_print_problems(FILE *out,
                           const char *path,
                           const struct config_problems *p)
{
    size_t i;

    for (i = 0; i < p->n && i < CONFIG_PROBLEMS_MAX; i++) {
        if (p->items[i].line > 0) {
            fprintf(out, "%s:%d: %s\n", path, p->items[i].line,
                    p->items[i].msg);
        } else {
            fprintf(out, "%s: %s\n", path, p->items[i].msg);
        }
    }
}

int config_read_token(const char *path, char *buf, size_t size, char *errmsg)
{
    return config_read_secret("token file", "token", false, path, buf, size,
                              errmsg);
}

int config_read_secret(const char *what,
                       const char *noun,
                       bool allow_spaces,
                       const char *path,
                       char *buf,
                       size_t size,
                       char *errmsg)
{
    struct stat st;
    char *text;
    size_t len = 0;
    size_t i;
    int fd;
    int rv;

    assert(size > 0);
    rv = open_regular(what, path, &fd, &st, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(
            errmsg, 256,
            "%s %s is accessible by group or others (mode %04o); chmod 600 it",
            what, path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return DR_EINVAL;
    }
    rv = read_all(what, path, fd, size - 1 + TOKEN_SLACK, &text, &len, errmsg);
    close(fd);
    if (rv == DR_ELIMIT) {
        snprintf(errmsg, 256, "%s %s: the %s is longer than %zu bytes", what,
                 path, noun, size - 1);
        return DR_EINVAL;
    }
    if (rv != DR_OK) {
        return DR_EIO;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    if (len == 0) {
        snprintf(errmsg, 256, "%s %s is empty", what, path);
        rv = DR_EINVAL;
        goto out;
    }
    if (len > size - 1) {
        snprintf(errmsg, 256, "%s %s: the %s is longer than %zu bytes", what,
                 path, noun, size - 1);
        rv = DR_EINVAL;
        goto out;
    }
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch < ' ' || ch == 0x7f || (ch == ' ' && !allow_spaces)) {
            snprintf(errmsg, 256, "%s %s: the %s holds a %s character", what,
                     path, noun, allow_spaces ? "control" : "space or control");
            rv = DR_EINVAL;
            goto out;
        }
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    rv = DR_OK;

out:
    explicit_bzero(text, len);
    free(text);
    return rv;
}
