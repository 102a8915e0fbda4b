/* S3 credentials: a "key = value" file readable only by its owner, or the
 * environment. */
#define _GNU_SOURCE
#include "aws/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/err.h"

#define CREDS_FILE_MAX 65536

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                       end[-1] == '\n')) {
        *--end = '\0';
    }
    return s;
}

static int set_field(char *dst,
                     size_t cap,
                     const char *value,
                     const char *file,
                     const char *name,
                     char *errmsg)
{
    size_t len = strlen(value);

    if (len == 0 || len >= cap) {
        snprintf(errmsg, 256,
                 "credentials file %.150s: %s is empty or too long", file,
                 name);
        return DR_EINVAL;
    }
    memcpy(dst, value, len + 1);
    return 0;
}

static int load_file(const char *file, struct s3_creds *c, char *errmsg)
{
    struct stat st;
    char *text, *line, *next, *eq, *key, *value;
    ssize_t got;
    size_t used = 0;
    int fd, rv = 0, lineno = 0;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errmsg, 256, "credentials file %.150s: %s", file,
                 strerror(errno));
        return errno == ENOENT ? DR_EAUTH : DR_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, 256, "credentials file %.150s: not a regular file",
                 file);
        close(fd);
        return DR_EINVAL;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(errmsg, 256,
                 "credentials file %.150s: readable by group or others (mode "
                 "%03o); chmod 600 it",
                 file, (unsigned)(st.st_mode & 0777));
        close(fd);
        return DR_EINVAL;
    }
    if (st.st_size > CREDS_FILE_MAX) {
        snprintf(errmsg, 256, "credentials file %.150s: larger than %d bytes",
                 file, CREDS_FILE_MAX);
        close(fd);
        return DR_EINVAL;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        close(fd);
        snprintf(errmsg, 256, "credentials file %.150s: out of memory", file);
        return DR_ENOMEM;
    }
    while (used < (size_t)st.st_size) {
        got = read(fd, text + used, (size_t)st.st_size - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
    }
    close(fd);
    text[used] = '\0';

    for (line = text; line != NULL && rv == 0; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        lineno++;
        line = trim(line);
        if (line[0] == '\0' || line[0] == '#' || line[0] == ';' ||
            line[0] == '[') {
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            snprintf(errmsg, 256,
                     "credentials file %.150s: line %d: want \"key = value\"",
                     file, lineno);
            rv = DR_EINVAL;
            break;
        }
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);
        if (strncmp(key, "aws_", 4) == 0) {
            key += 4;
        }
        if (strcmp(key, "access_key_id") == 0) {
            rv = set_field(c->access_key_id, sizeof(c->access_key_id), value,
                           file, key, errmsg);
        } else if (strcmp(key, "secret_access_key") == 0) {
            rv = set_field(c->secret_access_key, sizeof(c->secret_access_key),
                           value, file, key, errmsg);
        } else if (strcmp(key, "session_token") == 0) {
            rv = set_field(c->session_token, sizeof(c->session_token), value,
                           file, key, errmsg);
        }
    }
    OPENSSL_cleanse(text, used);
    free(text);
    if (rv != 0) {
        return rv;
    }
    if (c->access_key_id[0] == '\0' || c->secret_access_key[0] == '\0') {
        snprintf(errmsg, 256,
                 "credentials file %.150s: access_key_id and secret_access_key "
                 "are both required",
                 file);
        return DR_EAUTH;
    }
    return 0;
}

static int load_env(struct s3_creds *c, char *errmsg)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");

    if (akid == NULL || akid[0] == '\0' || secret == NULL ||
        secret[0] == '\0') {
        snprintf(errmsg, 256,
                 "no S3 credentials: give a credentials file or set "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return DR_EAUTH;
    }
    if (strlen(akid) >= sizeof(c->access_key_id) ||
        strlen(secret) >= sizeof(c->secret_access_key) ||
        (token != NULL && strlen(token) >= sizeof(c->session_token))) {
        snprintf(errmsg, 256,
                 "S3 credentials from the environment: a value is too long");
        return DR_EINVAL;
    }
    strcpy(c->access_key_id, akid);
    strcpy(c->secret_access_key, secret);
    if (token != NULL) {
        strcpy(c->session_token, token);
    }
    return 0;
}

int s3_creds_load(const char *file, struct s3_creds *c, char *errmsg)
{
    int rv;

    memset(c, 0, sizeof(*c));
    rv = file != NULL && file[0] != '\0' ? load_file(file, c, errmsg)
                                         : load_env(c, errmsg);
    if (rv != 0) {
        s3_creds_clear(c);
    }
    return rv;
}

int s3_creds_resolve(const char *file, struct s3_creds *c, char *errmsg)
{
    char inner[256];
    int rv;

    if (file != NULL && file[0] != '\0') {
        return s3_creds_load(file, c, errmsg);
    }
    rv = s3_creds_load(NULL, c, errmsg);
    if (rv != DR_EAUTH) {
        return rv; /* found, or found and unusable */
    }
    if (aws_imds_disabled()) {
        snprintf(errmsg, 256,
                 "no S3 credentials: give a credentials file or set "
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (instance "
                 "metadata not asked: AWS_EC2_METADATA_DISABLED)");
        return DR_EAUTH;
    }
    memset(c, 0, sizeof(*c));
    rv = aws_imds_creds(c, inner);
    if (rv != 0) {
        s3_creds_clear(c);
        snprintf(errmsg, 256,
                 "no S3 credentials: no credentials file, no "
                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and %.150s",
                 inner);
        return DR_EAUTH;
    }
    return 0;
}

int s3_creds_refresh(struct s3_creds *c,
                     uint64_t now_ms,
                     uint64_t margin_ms,
                     char *errmsg)
{
    struct s3_creds fresh;
    int rv;

    if (!c->from_imds || c->expires_ms > now_ms + margin_ms) {
        return 0;
    }
    memset(&fresh, 0, sizeof(fresh));
    rv = aws_imds_creds(&fresh, errmsg);
    if (rv == 0) {
        s3_creds_clear(c);
        *c = fresh;
    }
    s3_creds_clear(&fresh);
    return rv;
}

void s3_creds_clear(struct s3_creds *c)
{
    OPENSSL_cleanse(c, sizeof(*c));
}
