/* Blocking Redis connections for the backup worker (hiredis 0.14). */
#include "backup/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"

#define RCONN_PASSWORD_MAX 4096

/* Split "IP:PORT" / "[IP6]:PORT" into host and port; only literal IPs. */
static int parse_addr(const char *addr,
                      char *host,
                      size_t cap,
                      int *port,
                      char *errmsg)
{
    const char *colon, *hs, *he;
    unsigned char tmp[16];
    char *end;
    long p;
    size_t n;

    if (addr[0] == '[') {
        hs = addr + 1;
        he = strchr(addr, ']');
        if (he == NULL || he[1] != ':') {
            goto bad;
        }
        colon = he + 1;
    } else {
        hs = addr;
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            goto bad;
        }
        he = colon;
    }
    n = (size_t)(he - hs);
    if (n == 0 || n >= cap) {
        goto bad;
    }
    memcpy(host, hs, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, tmp) != 1 &&
        inet_pton(AF_INET6, host, tmp) != 1) {
        snprintf(errmsg, 256,
                 "redis address \"%.100s\": host must be an IP address "
                 "(no DNS in workers)",
                 addr);
        return DR_EINVAL;
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p < 1 || p > 65535) {
        goto bad;
    }
    *port = (int)p;
    return 0;
bad:
    snprintf(errmsg, 256,
             "redis address \"%.100s\": expected IP:PORT or [IPv6]:PORT", addr);
    return DR_EINVAL;
}

/* Translate the context's failure once, at the boundary. */
static int conn_error(struct rconn *rc, const char *what, char *errmsg)
{
    const char *es = rc->c != NULL ? rc->c->errstr : "out of memory";
    int err = rc->c != NULL ? rc->c->err : REDIS_ERR_OOM;

    if (err == REDIS_ERR_EOF) {
        snprintf(errmsg, 256, "redis %s: %s: connection closed by the server",
                 rc->addr, what);
        return DR_EUNAVAILABLE;
    }
    if (err == REDIS_ERR_IO && (strstr(es, "temporarily unavailable") != NULL ||
                                strstr(es, "timed out") != NULL)) {
        snprintf(errmsg, 256, "redis %s: %s: timed out after %ld ms", rc->addr,
                 what, rc->timeout_ms);
        return DR_ETIMEOUT;
    }
    if (err == REDIS_ERR_PROTOCOL) {
        snprintf(errmsg, 256, "redis %s: %s: protocol error: %.100s", rc->addr,
                 what, es);
        return DR_EMALFORMED;
    }
    if (err == REDIS_ERR_OOM) {
        snprintf(errmsg, 256, "redis %s: %s: out of memory", rc->addr, what);
        return DR_ENOMEM;
    }
    snprintf(errmsg, 256, "redis %s: %s: %.100s", rc->addr, what, es);
    return DR_EUNAVAILABLE;
}

int rconn_reply_error(struct rconn *rc,
                      const redisReply *r,
                      const char *what,
                      char *errmsg)
{
    const char *s = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";

    snprintf(errmsg, 256, "redis %s: %s: %.150s", rc->addr, what, s);
    if (strncmp(s, "NOAUTH", 6) == 0 || strncmp(s, "WRONGPASS", 9) == 0 ||
        strstr(s, "invalid password") != NULL ||
        strstr(s, "without any password configured") != NULL ||
        strncmp(s, "NOPERM", 6) == 0) {
        return DR_EAUTH;
    }
    if (strstr(s, "payload version or checksum") != NULL) {
        return DR_EVERSION;
    }
    return DR_EIO;
}

int rconn_append(struct rconn *rc,
                 int argc,
                 const char **argv,
                 const size_t *lens,
                 const char *what,
                 char *errmsg)
{
    if (redisAppendCommandArgv(rc->c, argc, argv, lens) != REDIS_OK) {
        return conn_error(rc, what, errmsg);
    }
    return 0;
}

int rconn_flush(struct rconn *rc, const char *what, char *errmsg)
{
    int done = 0;

    while (!done) {
        if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
            return conn_error(rc, what, errmsg);
        }
    }
    return 0;
}

int rconn_reply(struct rconn *rc,
                redisReply **reply,
                const char *what,
                char *errmsg)
{
    void *r = NULL;

    *reply = NULL;
    if (redisGetReply(rc->c, &r) != REDIS_OK || r == NULL) {
        if (r != NULL) {
            freeReplyObject(r);
        }
        return conn_error(rc, what, errmsg);
    }
    *reply = r;
    return 0;
}

int rconn_command(struct rconn *rc,
                  redisReply **reply,
                  const char *what,
                  char *errmsg,
                  int argc,
                  const char **argv,
                  const size_t *lens)
{
    redisReply *r;
    int rv;

    *reply = NULL;
    rv = rconn_append(rc, argc, argv, lens, what, errmsg);
    if (rv == 0) {
        rv = rconn_reply(rc, &r, what, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rv = rconn_reply_error(rc, r, what, errmsg);
        freeReplyObject(r);
        return rv;
    }
    *reply = r;
    return 0;
}

/* The password file's first line, without its newline. */
static int read_password(const char *path,
                         char *buf,
                         size_t cap,
                         size_t *len,
                         char *errmsg)
{
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errmsg, 256, "redis_password_file %.150s: %s", path,
                 strerror(errno));
        return DR_EINVAL;
    }
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        snprintf(errmsg, 256,
                 "redis_password_file %.150s: readable by group or others "
                 "(chmod 600)",
                 path);
        return DR_EINVAL;
    }
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) {
        snprintf(errmsg, 256, "redis_password_file %.150s: %s", path,
                 strerror(errno));
        return DR_EINVAL;
    }
    buf[n] = '\0';
    *len = strcspn(buf, "\r\n");
    if (*len == 0) {
        snprintf(errmsg, 256, "redis_password_file %.150s: empty", path);
        return DR_EINVAL;
    }
    return 0;
}

static int auth(struct rconn *rc, const char *password_file, char *errmsg)
{
    char pw[RCONN_PASSWORD_MAX];
    const char *argv[2];
    size_t lens[2], len = 0;
    redisReply *r;
    int rv;

    rv = read_password(password_file, pw, sizeof(pw), &len, errmsg);
    if (rv == 0) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = pw;
        lens[1] = len;
        rv = rconn_command(rc, &r, "AUTH", errmsg, 2, argv, lens);
        if (rv == 0) {
            freeReplyObject(r);
        }
    }
    explicit_bzero(pw, sizeof(pw));
    return rv;
}

int rconn_open(struct rconn *rc,
               const char *addr,
               const char *password_file,
               unsigned db,
               long timeout_ms,
               char *errmsg)
{
    char host[64], dbs[16];
    struct timeval tv;
    const char *argv[2];
    size_t lens[2];
    redisReply *r;
    int port, rv;

    memset(rc, 0, sizeof(*rc));
    rv = parse_addr(addr, host, sizeof(host), &port, errmsg);
    if (rv != 0) {
        return rv;
    }
    /* A worker process of its own: a server going away must be an error
     * from write(), not a SIGPIPE that kills the job silently. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(rc->addr, sizeof(rc->addr), "%s", addr);
    rc->timeout_ms = timeout_ms > 0 ? timeout_ms : RCONN_DEFAULT_TIMEOUT_MS;
    rc->password_file = password_file;
    rc->db = db;

    tv.tv_sec = RCONN_CONNECT_TIMEOUT_MS / 1000;
    tv.tv_usec = (RCONN_CONNECT_TIMEOUT_MS % 1000) * 1000;
    if (rc->timeout_ms < RCONN_CONNECT_TIMEOUT_MS) {
        tv.tv_sec = rc->timeout_ms / 1000;
        tv.tv_usec = (rc->timeout_ms % 1000) * 1000;
    }
    rc->c = redisConnectWithTimeout(host, port, tv);
    if (rc->c == NULL || rc->c->err) {
        rv = conn_error(rc, "connect", errmsg);
        goto err_after_connect;
    }
    tv.tv_sec = rc->timeout_ms / 1000;
    tv.tv_usec = (rc->timeout_ms % 1000) * 1000;
    if (redisSetTimeout(rc->c, tv) != REDIS_OK) {
        rv = conn_error(rc, "set timeout", errmsg);
        goto err_after_connect;
    }
    if (password_file != NULL) {
        rv = auth(rc, password_file, errmsg);
        if (rv != 0) {
            goto err_after_connect;
        }
    }
    snprintf(dbs, sizeof(dbs), "%u", db);
    argv[0] = "SELECT";
    lens[0] = 6;
    argv[1] = dbs;
    lens[1] = strlen(dbs);
    rv = rconn_command(rc, &r, "SELECT", errmsg, 2, argv, lens);
    if (rv != 0) {
        goto err_after_connect;
    }
    freeReplyObject(r);
    return 0;

err_after_connect:
    if (rc->c != NULL) {
        redisFree(rc->c);
        rc->c = NULL;
    }
    return rv;
}

int rconn_reopen(struct rconn *rc, char *errmsg)
{
    char addr[sizeof(rc->addr)];
    const char *pw = rc->password_file;
    unsigned db = rc->db;
    long timeout = rc->timeout_ms;

    snprintf(addr, sizeof(addr), "%s", rc->addr);
    rconn_close(rc);
    return rconn_open(rc, addr, pw, db, timeout, errmsg);
}

void rconn_close(struct rconn *rc)
{
    if (rc->c != NULL) {
        redisFree(rc->c);
        rc->c = NULL;
    }
}

int rconn_server_version(struct rconn *rc, char *buf, size_t cap, char *errmsg)
{
    const char *argv[2] = {"INFO", "server"};
    size_t lens[2] = {4, 6};
    const char *p;
    redisReply *r;
    size_t n;
    int rv;

    rv = rconn_command(rc, &r, "INFO server", errmsg, 2, argv, lens);
    if (rv != 0) {
        return rv;
    }
    buf[0] = '\0';
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        p = strstr(r->str, "redis_version:");
        if (p != NULL) {
            p += strlen("redis_version:");
            n = strcspn(p, "\r\n");
            if (n >= cap) {
                n = cap - 1;
            }
            memcpy(buf, p, n);
            buf[n] = '\0';
        }
    }
    freeReplyObject(r);
    return 0;
}

int rconn_dbsize(struct rconn *rc, long long *n, char *errmsg)
{
    const char *argv[1] = {"DBSIZE"};
    size_t lens[1] = {6};
    redisReply *r;
    int rv;

    rv = rconn_command(rc, &r, "DBSIZE", errmsg, 1, argv, lens);
    if (rv != 0) {
        return rv;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        rv = rconn_reply_error(rc, r, "DBSIZE", errmsg);
        freeReplyObject(r);
        return rv;
    }
    *n = r->integer;
    freeReplyObject(r);
    return 0;
}

int rconn_read_raw(struct rconn *rc,
                   uint8_t *buf,
                   size_t cap,
                   size_t *got,
                   const char *what,
                   char *errmsg)
{
    ssize_t n;

    *got = 0;
    do {
        n = read(rc->c->fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        *got = (size_t)n;
        return 0;
    }
    if (n == 0) {
        return 0; /* closed by the server */
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        snprintf(errmsg, 256, "redis %s: %s: timed out after %ld ms", rc->addr,
                 what, rc->timeout_ms);
        return DR_ETIMEOUT;
    }
    snprintf(errmsg, 256, "redis %s: %s: %s", rc->addr, what, strerror(errno));
    return DR_EUNAVAILABLE;
}

/* The first line after SYNC, skipping the newlines a server sends while
 * it prepares the snapshot. */
static int sync_line(struct rconn *rc, char *line, size_t cap, char *errmsg)
{
    size_t n = 0, got;
    uint8_t ch;
    int rv;

    for (;;) {
        rv = rconn_read_raw(rc, &ch, 1, &got, "SYNC", errmsg);
        if (rv != 0) {
            return rv;
        }
        if (got == 0) {
            snprintf(errmsg, 256,
                     "redis %s: SYNC: connection closed by the "
                     "server",
                     rc->addr);
            return DR_EUNAVAILABLE;
        }
        if (ch == '\n') {
            if (n == 0) {
                continue; /* a keepalive */
            }
            if (line[n - 1] == '\r') {
                n--;
            }
            line[n] = '\0';
            return 0;
        }
        if (n + 1 >= cap) {
            snprintf(errmsg, 256, "redis %s: SYNC: a reply line too long",
                     rc->addr);
            return DR_EIO;
        }
        line[n++] = (char)ch;
    }
}

int rconn_sync_start(struct rconn *rc,
                     struct rconn_sync *s,
                     int *refused,
                     char *errmsg)
{
    const char *argv[3] = {"REPLCONF", "capa", "eof"};
    size_t lens[3] = {8, 4, 3};
    static const char sync[] = "SYNC\r\n";
    char line[512], *end = line;
    redisReply *r = NULL;
    unsigned long long len;
    ssize_t w;
    int rv;

    memset(s, 0, sizeof(*s));
    *refused = 0;
    rv = rconn_command(rc, &r, "REPLCONF capa eof", errmsg, 3, argv, lens);
    if (rv != 0) {
        *refused = rc->c->err == 0; /* an error reply, not a lost line */
        return rv;
    }
    freeReplyObject(r);
    argv[1] = "rdb-only";
    argv[2] = "1";
    lens[1] = 8;
    lens[2] = 1;
    rv = rconn_append(rc, 3, argv, lens, "REPLCONF rdb-only", errmsg);
    if (rv == 0) {
        rv = rconn_reply(rc, &r, "REPLCONF rdb-only", errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    freeReplyObject(r); /* an error here: a server before 7.0 */
    do {
        w = write(rc->c->fd, sync, sizeof(sync) - 1);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof(sync) - 1) {
        snprintf(errmsg, 256, "redis %s: SYNC: %s", rc->addr,
                 w < 0 ? strerror(errno) : "short write");
        return DR_EUNAVAILABLE;
    }
    rv = sync_line(rc, line, sizeof(line), errmsg);
    if (rv != 0) {
        return rv;
    }
    if (line[0] == '-') {
        snprintf(errmsg, 256, "redis %s: SYNC refused: %.150s", rc->addr,
                 line + 1);
        *refused = 1;
        return strncmp(line + 1, "NOPERM", 6) == 0 ? DR_EAUTH : DR_EIO;
    }
    if (strncmp(line, "$EOF:", 5) == 0) {
        if (strlen(line + 5) != RCONN_EOF_MARK) {
            snprintf(errmsg, 256, "redis %s: SYNC: a bad end mark: %.100s",
                     rc->addr, line);
            return DR_EIO;
        }
        s->diskless = 1;
        memcpy(s->mark, line + 5, RCONN_EOF_MARK);
        return 0;
    }
    errno = 0;
    len = line[0] == '$' && line[1] >= '0' && line[1] <= '9'
              ? strtoull(line + 1, &end, 10)
              : 0;
    if (len == 0 || errno != 0 || *end != '\0') {
        snprintf(errmsg, 256, "redis %s: SYNC: an unexpected reply: %.100s",
                 rc->addr, line);
        return DR_EIO;
    }
    s->len = len;
    return 0;
}
