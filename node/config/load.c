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

/* open_regular, and refuse a file that group or others may use: it holds
 * secrets. */
static int open_private(const char *what,
                        const char *path,
                        int *fd,
                        char *errmsg)
{
    struct stat st;
    int rv = open_regular(what, path, fd, &st, errmsg);

    if (rv != DR_OK) {
        return rv;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(
            errmsg, 256,
            "%s %s is accessible by group or others (mode %04o); chmod 600 it",
            what, path, (unsigned)(st.st_mode & 07777));
        close(*fd);
        return DR_EINVAL;
    }
    return DR_OK;
}

const char *config_role_name(int role)
{
    switch (role) {
        case CONFIG_ROLE_READER:
            return "reader";
        case CONFIG_ROLE_OPERATOR:
            return "operator";
        case CONFIG_ROLE_NODE:
            return "node";
        case CONFIG_ROLE_ADMIN:
            return "admin";
    }
    return "none";
}

static int role_of(const char *s)
{
    for (int r = CONFIG_ROLE_READER; r <= CONFIG_ROLE_ADMIN; r++) {
        if (strcmp(s, config_role_name(r)) == 0) {
            return r;
        }
    }
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL) {
            return false;
        }
    }
    return n > 0 && n < CONFIG_TOKEN_NAME_MAX;
}

int config_read_tokens(const char *path,
                       struct config_token *out,
                       size_t max,
                       size_t *n,
                       char *errmsg)
{
    const char *what = "[api] tokens_file";
    char *text, *line, *next;
    size_t len = 0;
    int fd, rv, lineno = 0;

    *n = 0;
    rv = open_private(what, path, &fd, errmsg);
    if (rv != DR_OK) {
        return rv;
    }
    rv = read_all(what, path, fd, 65536, &text, &len, errmsg);
    close(fd);
    if (rv == DR_ELIMIT) {
        snprintf(errmsg, 256, "%s %s: larger than 64 KiB", what, path);
        return DR_EINVAL;
    }
    if (rv != DR_OK) {
        return DR_EIO;
    }
    text[len] = '\0'; /* read_all leaves room for it */
    for (line = text; line != NULL && rv == DR_OK; line = next) {
        char name[64], role[32], token[CONFIG_TOKEN_MAX + 2], extra[2];
        struct config_token *t;
        int got;

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        lineno++;
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (*line == '\0' || *line == '#' || *line == '\r') {
            continue;
        }
        got = sscanf(line, "%63s %31s %129s %1s", name, role, token, extra);
        if (got != 3) {
            snprintf(errmsg, 256,
                     "%s %s:%d: want \"NAME ROLE TOKEN\" (roles: reader, "
                     "operator, node, admin)",
                     what, path, lineno);
            rv = DR_EINVAL;
        } else if (!name_ok(name)) {
            snprintf(errmsg, 256,
                     "%s %s:%d: the name must be 1 to %d letters, digits, "
                     "'_', '.' or '-'",
                     what, path, lineno, CONFIG_TOKEN_NAME_MAX - 1);
            rv = DR_EINVAL;
        } else if (role_of(role) == 0 && strlen(role) < CONFIG_TOKEN_MIN) {
            snprintf(errmsg, 256,
                     "%s %s:%d: %s is not a role (reader, operator, node, "
                     "admin)",
                     what, path, lineno, role);
            rv = DR_EINVAL;
        } else if (role_of(role) == 0) {
            /* As long as a token: the columns may be swapped, so the word
             * is not shown. */
            snprintf(errmsg, 256,
                     "%s %s:%d: the second word is not a role (reader, "
                     "operator, node, admin; not shown: it is as long as a "
                     "token, are the columns swapped?)",
                     what, path, lineno);
            rv = DR_EINVAL;
        } else if (strlen(token) < CONFIG_TOKEN_MIN ||
                   strlen(token) > CONFIG_TOKEN_MAX) {
            /* The name is not shown either: with the columns swapped it
             * may be the token. */
            snprintf(errmsg, 256,
                     "%s %s:%d: the token (third word) must be %d to %d "
                     "characters",
                     what, path, lineno, CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX);
            rv = DR_EINVAL;
        } else if (*n == max) {
            snprintf(errmsg, 256, "%s %s: more than %zu tokens", what, path,
                     max);
            rv = DR_EINVAL;
        } else {
            for (size_t k = 0; k < *n && rv == DR_OK; k++) {
                if (strcmp(out[k].name, name) == 0 ||
                    strcmp(out[k].token, token) == 0) {
                    snprintf(errmsg, 256,
                             "%s %s:%d: %s repeats the %s of line %d", what,
                             path, lineno, name,
                             strcmp(out[k].name, name) == 0 ? "name" : "token",
                             out[k].line);
                    rv = DR_EINVAL;
                }
            }
            if (rv == DR_OK) {
                t = &out[(*n)++];
                snprintf(t->name, sizeof(t->name), "%.32s", name);
                snprintf(t->token, sizeof(t->token), "%.128s", token);
                t->role = role_of(role);
                t->line = lineno;
            }
        }
        explicit_bzero(token, sizeof(token));
    }
    if (rv == DR_OK && *n == 0) {
        snprintf(errmsg, 256, "%s %s holds no token", what, path);
        rv = DR_EINVAL;
    }
    if (rv != DR_OK) {
        for (size_t k = 0; k < *n; k++) {
            explicit_bzero(out[k].token, sizeof(out[k].token));
        }
        *n = 0;
    }
    explicit_bzero(text, len);
    free(text);
    return rv;
}

int config_read_secret(const char *what,
                       const char *noun,
                       bool allow_spaces,
                       const char *path,
                       char *buf,
                       size_t size,
                       char *errmsg)
{
    char *text;
    size_t len = 0;
    size_t i;
    int fd;
    int rv;

    assert(size > 0);
    rv = open_private(what, path, &fd, errmsg);
    if (rv != DR_OK) {
        return rv;
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
