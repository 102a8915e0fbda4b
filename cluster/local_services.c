/* drctl local: each region's PostgreSQL and Redis, and the S3 endpoint. */
#define _GNU_SOURCE
#include "local_services.h"
#include "drctl.h"
#include "local_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"

#define LOCAL__PG_BINDIR "/usr/lib/postgresql/15/bin"
#define LOCAL__PG_USER "postgres" /* PostgreSQL refuses to run as root */
#define LOCAL__DB "cogitator"
#define LOCAL__DB_MARKER "cogitator-db" /* DIR/services/REGION: created */
#define LOCAL__INITDB_MS 60000          /* every initdb, in parallel */
#define LOCAL__READY_MS 60000           /* every service to answer */
#define LOCAL__CREATEDB_MS 30000
#define LOCAL__STOP_MS 15000     /* SIGINT/SIGTERM to SIGKILL */
#define LOCAL__STANDBY_MS 300000 /* every drctl restore --pitr --standby */
#define LOCAL__TAIL_LINES 15
#define LOCAL__S3_KEY_ID "drlocal"
#define LOCAL__S3_SECRET "drlocal-secret-key"
#define LOCAL__S3_REGION "us-east-1"
#define LOCAL__S3_PREFIX "backups"
#define LOCAL__SVC_PATH (LOCAL_PATH_MAX + 128)

enum local__kind { LOCAL__PG, LOCAL__REDIS, LOCAL__S3, LOCAL__DNS };

#define LOCAL__PDNS_SCHEMA \
    "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"

/* One service process of the cluster. */
struct local__svc
{
    enum local__kind kind;
    const char *region;            /* NULL for the S3 endpoint */
    unsigned port;                 /* on 127.0.0.1 */
    char name[80];                 /* "postgres eu-west", for messages */
    char data[LOCAL__SVC_PATH];    /* PGDATA or Redis --dir */
    char pidfile[LOCAL__SVC_PATH]; /* written by us */
    char log[LOCAL__SVC_PATH];     /* stdout and stderr, appended */
    pid_t pid;                     /* 0: not started / not running */
    unsigned long long born;       /* start time of pid, for liveness */
    bool ready;
};

/* The programs the services need. */
struct local__bins
{
    char initdb[PATH_MAX];
    char postgres[PATH_MAX];
    char createdb[PATH_MAX];
    char redis[PATH_MAX];
    char moto[PATH_MAX];
    char pdns[PATH_MAX];
    char pdnsutil[PATH_MAX];
    char sqlite3[PATH_MAX];
};

int local_services_store_url(const struct local_cluster *lc,
                             const char *region,
                             char *buf,
                             size_t size)
{
    if (lc->s3_port != 0) {
        return local_pathf(
            buf, size,
            "s3://dr-%s/" LOCAL__S3_PREFIX
            "?endpoint=http://127.0.0.1:%u&region=" LOCAL__S3_REGION,
            region, lc->s3_port);
    }
    return local_pathf(buf, size, "file://%s/" LOCAL_STORE_DIR "/%s", lc->dir,
                       region);
}

int local_services_check_bucket(const char *region, char *errmsg)
{
    size_t len = strlen(region);

    if (len + 3 > 63 || len == 0 || region[len - 1] == '-') {
        local_errf(errmsg,
                   "--store s3: region \"%s\" gives no valid bucket name dr-%s "
                   "(at most 60 characters, not ending in '-')",
                   region, region);
        return -1;
    }
    return 0;
}

/* The port of a loopback address "127.0.0.1:PORT", or 0. */
static unsigned local__loopback_port(const char *addr)
{
    const char *prefix = "127.0.0.1:";
    char *end;
    unsigned long v;

    if (strncmp(addr, prefix, strlen(prefix)) != 0) {
        return 0;
    }
    v = strtoul(addr + strlen(prefix), &end, 10);
    return (*end == '\0' || *end == '/' || *end == '&') && v > 0 && v < 65536
               ? (unsigned)v
               : 0;
}

/* The port of a conninfo that names host=127.0.0.1, or 0. */
static unsigned local__conninfo_port(const char *conninfo)
{
    const char *p;
    char *end;
    unsigned long v;

    if (strstr(conninfo, "host=127.0.0.1") == NULL) {
        return 0;
    }
    p = strstr(conninfo, "port=");
    if (p == NULL || (p != conninfo && p[-1] != ' ')) {
        return 0;
    }
    v = strtoul(p + 5, &end, 10);
    return (*end == '\0' || *end == ' ') && v > 0 && v < 65536 ? (unsigned)v
                                                               : 0;
}

void local_services_note(struct local_cluster *lc, const struct config *c)
{
    size_t i;

    if (lc->n == 0) {
        lc->n_regions = 0;
        lc->s3_port = 0;
        for (i = 0; i < c->n_regions && i < LOCAL_NODES_MAX; i++) {
            struct local_region *r = &lc->regions[lc->n_regions++];
            const char *url = c->regions[i].object_store;
            const char *ep = strstr(url, "?endpoint=http://");

            memset(r, 0, sizeof(*r));
            snprintf(r->name, sizeof(r->name), "%s", c->regions[i].name);
            snprintf(r->store, sizeof(r->store), "%s", url);
            if (strncmp(url, "s3://", 5) == 0 && ep != NULL) {
                unsigned port = local__loopback_port(ep + 17);
                if (port != 0) {
                    lc->s3_port = port;
                }
            }
        }
    }
    for (i = 0; i < lc->n_regions; i++) {
        struct local_region *r = &lc->regions[i];
        if (strcmp(r->name, c->region) != 0) {
            continue;
        }
        if (r->pg_port == 0) {
            r->pg_port = local__conninfo_port(c->pg_conninfo);
        }
        if (r->redis_port == 0) {
            r->redis_port = local__loopback_port(c->redis_address);
        }
    }
}

bool local_services_configured(const struct local_cluster *lc)
{
    size_t i;

    for (i = 0; i < lc->n_regions; i++) {
        if (lc->regions[i].pg_port != 0 || lc->regions[i].redis_port != 0) {
            return true;
        }
    }
    return lc->s3_port != 0;
}

/* The services of lc into a new array (free it); NULL when out of memory.
 * PostgreSQL and Redis region by region, then the S3 endpoint. */
static struct local__svc *local__list(const struct local_cluster *lc,
                                      size_t *n);

/* The services of region only (its PostgreSQL and Redis), or all of them
 * when region is NULL. */
static struct local__svc *local__list_of(const struct local_cluster *lc,
                                         const char *region,
                                         size_t *n)
{
    struct local__svc *svcs = local__list(lc, n);
    size_t i, k = 0;

    if (svcs == NULL || region == NULL) {
        return svcs;
    }
    for (i = 0; i < *n; i++) {
        if (svcs[i].region != NULL && strcmp(svcs[i].region, region) == 0) {
            svcs[k++] = svcs[i];
        }
    }
    *n = k;
    return svcs;
}

static struct local__svc *local__list(const struct local_cluster *lc, size_t *n)
{
    struct local__svc *svcs = calloc(2 * LOCAL_NODES_MAX + 2, sizeof(*svcs));
    size_t i;

    *n = 0;
    if (svcs == NULL) {
        return NULL;
    }
    for (i = 0; i < lc->n_regions; i++) {
        const struct local_region *r = &lc->regions[i];
        char dir[LOCAL__SVC_PATH];

        local_pathf(dir, sizeof(dir), "%s/" LOCAL_SERVICES_DIR "/%s", lc->dir,
                    r->name);
        if (r->pg_port != 0) {
            struct local__svc *s = &svcs[(*n)++];
            s->kind = LOCAL__PG;
            s->region = r->name;
            s->port = r->pg_port;
            snprintf(s->name, sizeof(s->name), "postgres %s", r->name);
            local_pathf(s->data, sizeof(s->data), "%s/pg", dir);
            local_pathf(s->pidfile, sizeof(s->pidfile), "%s/postgres.pid", dir);
            local_pathf(s->log, sizeof(s->log), "%s/postgres.log", dir);
        }
        if (r->redis_port != 0) {
            struct local__svc *s = &svcs[(*n)++];
            s->kind = LOCAL__REDIS;
            s->region = r->name;
            s->port = r->redis_port;
            snprintf(s->name, sizeof(s->name), "redis %s", r->name);
            local_pathf(s->data, sizeof(s->data), "%s/redis", dir);
            local_pathf(s->pidfile, sizeof(s->pidfile), "%s/redis.pid", dir);
            local_pathf(s->log, sizeof(s->log), "%s/redis.log", dir);
        }
    }
    if (lc->dns_port != 0) {
        struct local__svc *s = &svcs[(*n)++];
        s->kind = LOCAL__DNS;
        s->port = lc->dns_api_port; /* what readiness checks */
        snprintf(s->name, sizeof(s->name), "powerdns");
        local_pathf(s->data, sizeof(s->data), "%s/" LOCAL_DNS_DIR, lc->dir);
        local_pathf(s->pidfile, sizeof(s->pidfile), "%s/" LOCAL_DNS_DIR "/pid",
                    lc->dir);
        local_pathf(s->log, sizeof(s->log), "%s/" LOCAL_DNS_DIR "/pdns.log",
                    lc->dir);
    }
    if (lc->s3_port != 0) {
        struct local__svc *s = &svcs[(*n)++];
        s->kind = LOCAL__S3;
        s->port = lc->s3_port;
        snprintf(s->name, sizeof(s->name), "s3");
        local_pathf(s->data, sizeof(s->data), "%s/" LOCAL_SERVICES_DIR,
                    lc->dir);
        local_pathf(s->pidfile, sizeof(s->pidfile),
                    "%s/" LOCAL_SERVICES_DIR "/s3.pid", lc->dir);
        local_pathf(s->log, sizeof(s->log), "%s/" LOCAL_SERVICES_DIR "/s3.log",
                    lc->dir);
    }
    return svcs;
}

/* Whether pid is s's process, by its command line. */
static bool local__is_svc(const struct local__svc *s, pid_t pid)
{
    char port[16], addr[32];

    snprintf(port, sizeof(port), "%u", s->port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", s->port);
    switch (s->kind) {
        case LOCAL__PG:
            return local_cmdline_has(pid, "postgres", "-D", s->data);
        case LOCAL__REDIS:
            /* Redis rewrites its title to "redis-server 127.0.0.1:PORT". */
            return local_cmdline_has(pid, "redis-server", "--port", port) ||
                   local_cmdline_has(pid, "redis-server", NULL, addr);
        case LOCAL__S3:
            return local_cmdline_has(pid, "moto_server", "-p", port);
        case LOCAL__DNS: {
            char arg[LOCAL__SVC_PATH + 16];
            snprintf(arg, sizeof(arg), "--config-dir=%s", s->data);
            return local_cmdline_has(pid, "pdns_server", NULL, arg);
        }
    }
    return false;
}

/* Whether s runs: its pid file names a live process that is s. */
static bool local__svc_running(const struct local__svc *s, pid_t *pid)
{
    char buf[32];
    ssize_t r;
    long v;
    char *end;
    int fd;

    *pid = 0;
    fd = open(s->pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0) {
        return false;
    }
    buf[r] = '\0';
    v = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || v <= 1 || v > INT_MAX) {
        return false;
    }
    *pid = (pid_t)v;
    if (local_proc_start(*pid) == 0) {
        return false; /* gone, or a zombie */
    }
    return local__is_svc(s, *pid);
}

bool local_services_running(const struct local_cluster *lc,
                            char *what,
                            size_t size,
                            pid_t *pid)
{
    struct local__svc *svcs;
    size_t n, i;
    bool found = false;

    svcs = local__list(lc, &n);
    for (i = 0; svcs != NULL && i < n && !found; i++) {
        if (local__svc_running(&svcs[i], pid)) {
            snprintf(what, size, "%s", svcs[i].name);
            found = true;
        }
    }
    free(svcs);
    return found;
}

/* PostgreSQL's postgres, initdb and createdb: PostgreSQL 15's directory,
 * else the directory of postgres on PATH, else PATH. */
static bool local__find_pg(struct local__bins *b)
{
    static const char *const progs[] = {"postgres", "initdb", "createdb"};
    char *outs[] = {b->postgres, b->initdb, b->createdb};
    char dir[PATH_MAX] = LOCAL__PG_BINDIR;
    size_t i;

    if (!local_executable(LOCAL__PG_BINDIR "/postgres")) {
        char *slash;
        if (!local_which("postgres", dir, sizeof(dir))) {
            return false;
        }
        slash = strrchr(dir, '/');
        *slash = '\0';
    }
    for (i = 0; i < 3; i++) {
        if ((local_pathf(outs[i], PATH_MAX, "%s/%s", dir, progs[i]) != 0 ||
             !local_executable(outs[i])) &&
            !local_which(progs[i], outs[i], PATH_MAX)) {
            return false;
        }
    }
    return true;
}

static int local__find_bins(struct drctl *d,
                            const struct local__svc *svcs,
                            size_t n,
                            struct local__bins *b)
{
    bool pg = false, redis = false, s3 = false, dns = false;
    size_t i;

    for (i = 0; i < n; i++) {
        pg |= svcs[i].kind == LOCAL__PG;
        redis |= svcs[i].kind == LOCAL__REDIS;
        s3 |= svcs[i].kind == LOCAL__S3;
        dns |= svcs[i].kind == LOCAL__DNS;
    }
    if (dns && (!local_which("pdns_server", b->pdns, sizeof(b->pdns)) ||
                !local_which("pdnsutil", b->pdnsutil, sizeof(b->pdnsutil)) ||
                !local_which("sqlite3", b->sqlite3, sizeof(b->sqlite3)) ||
                access(LOCAL__PDNS_SCHEMA, R_OK) != 0)) {
        return drctl_fail(d,
                          "cannot find pdns_server, pdnsutil, sqlite3 on "
                          "PATH, or " LOCAL__PDNS_SCHEMA
                          ": install the Debian packages pdns-server, "
                          "pdns-backend-sqlite3 and sqlite3 (scripts/bootstrap "
                          "does), or pass --no-services");
    }
    if (pg && !local__find_pg(b)) {
        return drctl_fail(d,
                          "cannot find PostgreSQL's postgres, initdb and "
                          "createdb in " LOCAL__PG_BINDIR
                          " or on PATH: install the Debian package "
                          "postgresql-15, or pass --no-services");
    }
    if (redis && !local_which("redis-server", b->redis, sizeof(b->redis))) {
        return drctl_fail(d,
                          "cannot find redis-server on PATH: install the "
                          "Debian package redis-server, or pass --no-services");
    }
    if (s3 && !local_which("moto_server", b->moto, sizeof(b->moto))) {
        return drctl_fail(
            d,
            "cannot find moto_server on PATH (the local S3 endpoint of --store "
            "s3): pip install 'moto[server]', or use --store file");
    }
    return 0;
}

/* mkdir path (mode), fine if it exists. */
static int local__mkdir(const char *path, mode_t mode, char *errmsg)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        local_errf(errmsg, "mkdir %s: %s", path, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

static bool local__exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* As root, PostgreSQL runs as the postgres user, who must reach DIR. */
static int local__pg_user(struct drctl *d,
                          const struct local_cluster *lc,
                          struct local_user *u)
{
    struct passwd *pw;
    struct stat st;

    memset(u, 0, sizeof(*u));
    if (geteuid() != 0) {
        return 0;
    }
    pw = getpwnam(LOCAL__PG_USER);
    if (pw == NULL) {
        return drctl_fail(d,
                          "PostgreSQL refuses to run as root and there is no "
                          "user " LOCAL__PG_USER
                          " to run it as: run drctl local up as another user, "
                          "create the user (the Debian package postgresql-15 "
                          "does), or pass --no-services");
    }
    u->other = true;
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    /* Search permission only: DIR's files stay private by their modes. */
    if (stat(lc->dir, &st) == 0 && (st.st_mode & S_IXOTH) == 0 &&
        chmod(lc->dir, (st.st_mode & 07777) | S_IXOTH) != 0) {
        return drctl_fail(d, "chmod o+x %s: %s", lc->dir, strerror(errno));
    }
    return 0;
}

/* initdb a fresh data directory: returns the started initdb in s->pid. */
static int local__initdb_start(struct local__svc *s,
                               const struct local__bins *b,
                               const struct local_user *u,
                               char *errmsg)
{
    char *const argv[] = {(char *)b->initdb, "-D",
                          s->data,           "-U",
                          LOCAL__PG_USER,    "--auth=trust",
                          "--encoding=UTF8", "--locale=C",
                          "--no-sync",       NULL};
    const struct local_spawn sp = {argv, s->data, s->log, u, false};

    if (local__mkdir(s->data, 0700, errmsg) != 0) {
        return DR_EIO;
    }
    if (u->other && chown(s->data, u->uid, u->gid) != 0) {
        local_errf(errmsg, "chown %s: %s", s->data, strerror(errno));
        return DR_EIO;
    }
    return local_spawn(&sp, &s->pid, errmsg);
}

/* Start s's server, detached; write its pid file. */
static int local__server_start(struct local__svc *s,
                               const struct local__bins *b,
                               const struct local_user *u,
                               char *archive,
                               char *errmsg)
{
    char port[16], text[32];
    /* TCP on loopback only; no Unix socket (its path may be too long
     * under DIR). The port comes from the node configs. WAL is archived
     * through drnode wal-push (archive: "archive_command=..."); a segment
     * switch at least every minute while it writes. */
    char *pg[] = {(char *)b->postgres,
                  "-D",
                  s->data,
                  "-p",
                  port,
                  "-c",
                  "listen_addresses=127.0.0.1",
                  "-k",
                  "",
                  "-c",
                  "wal_level=replica",
                  "-c",
                  "archive_mode=on",
                  "-c",
                  "archive_timeout=60",
                  "-c",
                  archive,
                  NULL};
    char *redis[] = {(char *)b->redis, "--bind", "127.0.0.1", "--port", port,
                     "--dir", s->data, "--save", "", "--appendonly", "no",
                     /* snapshots through SYNC start at once, not after
                      * the default 5 s wait for more replicas */
                     "--repl-diskless-sync-delay", "0", "--daemonize", "no",
                     NULL};
    char *s3[] = {(char *)b->moto, "-H", "127.0.0.1", "-p", port, NULL};
    char cfgdir[LOCAL__SVC_PATH + 16];
    char *dns[] = {(char *)b->pdns, cfgdir, NULL};
    struct local_spawn sp = {NULL, s->data, s->log, NULL, true};
    int rv;

    snprintf(port, sizeof(port), "%u", s->port);
    switch (s->kind) {
        case LOCAL__PG:
            sp.argv = pg;
            sp.user = u;
            break;
        case LOCAL__REDIS:
            sp.argv = redis;
            if (local__mkdir(s->data, 0755, errmsg) != 0) {
                return DR_EIO;
            }
            break;
        case LOCAL__S3:
            sp.argv = s3;
            break;
        case LOCAL__DNS:
            /* Everything else is in DIR/services/dns/pdns.conf. */
            snprintf(cfgdir, sizeof(cfgdir), "--config-dir=%s", s->data);
            sp.argv = dns;
            break;
    }
    rv = local_spawn(&sp, &s->pid, errmsg);
    if (rv != 0) {
        return rv;
    }
    s->born = local_proc_start(s->pid);
    snprintf(text, sizeof(text), "%ld\n", (long)s->pid);
    rv = local_write_file(s->pidfile, text, strlen(text), 0644, errmsg);
    if (rv != 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    return rv;
}

/* Whether Redis on port answers PING with PONG (not -LOADING). */
static bool local__redis_ping(unsigned port)
{
    char buf[64];
    ssize_t r;
    int fd = local_connect(port);

    if (fd < 0) {
        return false;
    }
    r = write(fd, "PING\r\n", 6) == 6 ? read(fd, buf, sizeof(buf) - 1) : -1;
    close(fd);
    return r >= 7 && memcmp(buf, "+PONG\r\n", 7) == 0;
}

/* Whether PostgreSQL accepts connections: its postmaster.pid says "ready"
 * (line 8, as pg_ctl reads it) and the port takes connections. */
static bool local__pg_ready(const struct local__svc *s)
{
    char path[LOCAL__SVC_PATH + 32], buf[1024];
    const char *line = buf;
    ssize_t r;
    int fd, i;

    local_pathf(path, sizeof(path), "%s/postmaster.pid", s->data);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0) {
        return false;
    }
    buf[r] = '\0';
    for (i = 1; i < 8 && line != NULL; i++) {
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    /* "standby": a hot standby that takes connections (read-only). */
    if (line == NULL ||
        (strncmp(line, "ready", 5) != 0 && strncmp(line, "standby", 7) != 0)) {
        return false;
    }
    fd = local_connect(s->port);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/* Whether the S3 endpoint answers GET / with 200. */
static bool local__s3_ready(unsigned port)
{
    struct client c;
    struct client_response r;
    char errmsg[CLIENT_ERRMSG_MAX], ep[32];
    bool ok = false;
    int fd = local_connect(port);

    if (fd < 0) {
        return false;
    }
    close(fd);
    snprintf(ep, sizeof(ep), "127.0.0.1:%u", port);
    if (client_init(&c, ep, NULL, 2000, errmsg) != 0) {
        return false;
    }
    if (client_request(&c, "GET", "/", NULL, &r) == 0) {
        ok = r.status == 200;
        client_response_clear(&r);
    }
    client_close(&c);
    return ok;
}

static bool local__svc_ready(const struct local__svc *s)
{
    switch (s->kind) {
        case LOCAL__PG:
            return local__pg_ready(s);
        case LOCAL__REDIS:
            return local__redis_ping(s->port);
        case LOCAL__S3:
            return local__s3_ready(s->port);
        case LOCAL__DNS: {
            int fd = local_connect(s->port);
            if (fd >= 0) {
                close(fd);
            }
            return fd >= 0;
        }
    }
    return false;
}

/* Run argv to its end (output into log); 0 when it exited 0. */
static int local__run(char *const *argv,
                      const char *cwd,
                      const char *log,
                      const char *what,
                      char *errmsg)
{
    const struct local_spawn sp = {argv, cwd, log, NULL, false};
    pid_t pid;
    int rv = local_spawn(&sp, &pid, errmsg);

    if (rv != 0) {
        return rv;
    }
    return local_wait_exit(pid, what, client_now_ms() + 30000, errmsg);
}

/* PowerDNS's database, before it starts: its schema, once. */
static int local__dns_init(const struct local__svc *s,
                           const struct local__bins *b,
                           char *errmsg)
{
    char db[LOCAL__SVC_PATH + 16], read[64];
    char *argv[] = {(char *)b->sqlite3, db, read, NULL};

    local_pathf(db, sizeof(db), "%s/pdns.sqlite3", s->data);
    if (local__exists(db)) {
        return 0;
    }
    snprintf(read, sizeof(read), ".read %s", LOCAL__PDNS_SCHEMA);
    return local__run(argv, s->data, s->log, "sqlite3 (PowerDNS schema)",
                      errmsg);
}

/* The zone and the service name, once, pointing at the first region's
 * target (the bootstrap primary). */
static int local__dns_zone(const struct local__svc *s,
                           const struct local__bins *b,
                           char *errmsg)
{
    char cfgdir[LOCAL__SVC_PATH + 16], marker[LOCAL__SVC_PATH + 16];
    char target[32];
    char *create[] = {(char *)b->pdnsutil,           cfgdir,
                      (char *)"create-zone",         (char *)LOCAL_DNS_ZONE,
                      (char *)"ns1." LOCAL_DNS_ZONE, NULL};
    char *rrset[] = {
        (char *)b->pdnsutil,    cfgdir,        (char *)"replace-rrset",
        (char *)LOCAL_DNS_ZONE, (char *)"app", (char *)"A",
        (char *)"30",           target,        NULL};
    int rv;

    local_pathf(marker, sizeof(marker), "%s/zone-created", s->data);
    if (local__exists(marker)) {
        return 0;
    }
    snprintf(cfgdir, sizeof(cfgdir), "--config-dir=%s", s->data);
    snprintf(target, sizeof(target), LOCAL_DNS_TARGET_FMT, (size_t)1);
    rv = local__run(create, s->data, s->log, "pdnsutil create-zone", errmsg);
    if (rv == 0) {
        rv = local__run(rrset, s->data, s->log, "pdnsutil replace-rrset",
                        errmsg);
    }
    if (rv == 0) {
        rv = local_write_file(marker, "", 0, 0644, errmsg);
    }
    return rv;
}

int local_dns_write_files(const struct local_cluster *lc, char *errmsg)
{
    char dir[LOCAL__SVC_PATH], path[LOCAL__SVC_PATH + 16], key[80];
    char *conf = NULL;
    size_t len = 0;
    FILE *f;
    int rv, fd;
    unsigned char raw[24];

    local_pathf(dir, sizeof(dir), "%s/" LOCAL_SERVICES_DIR, lc->dir);
    if (local__mkdir(dir, 0755, errmsg) != 0) {
        return DR_EIO;
    }
    local_pathf(dir, sizeof(dir), "%s/" LOCAL_DNS_DIR, lc->dir);
    if (local__mkdir(dir, 0755, errmsg) != 0) {
        return DR_EIO;
    }
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        if (fd >= 0) {
            close(fd);
        }
        local_errf(errmsg, "/dev/urandom: cannot read");
        return DR_EIO;
    }
    close(fd);
    for (size_t i = 0; i < sizeof(raw); i++) {
        snprintf(key + 2 * i, 3, "%02x", raw[i]);
    }
    f = open_memstream(&conf, &len);
    if (f == NULL) {
        local_errf(errmsg, "out of memory");
        return DR_ENOMEM;
    }
    fprintf(f,
            "# Written by drctl local up: the cluster's authoritative DNS.\n"
            "launch=gsqlite3\ngsqlite3-database=%s/pdns.sqlite3\n"
            "local-address=127.0.0.1\nlocal-port=%u\n"
            "socket-dir=%s\ndaemon=no\nguardian=no\ndisable-syslog=yes\n"
            "write-pid=no\napi=yes\napi-key=%s\nwebserver=yes\n"
            "webserver-address=127.0.0.1\nwebserver-port=%u\n"
            "webserver-allow-from=127.0.0.0/8\n"
            "cache-ttl=0\nquery-cache-ttl=0\nnegquery-cache-ttl=0\n"
            "zone-cache-refresh-interval=0\n",
            dir, lc->dns_port, dir, key, lc->dns_api_port);
    fclose(f);
    local_pathf(path, sizeof(path), "%s/pdns.conf", dir);
    rv = local_write_file(path, conf, len, 0600, errmsg);
    free(conf);
    if (rv == 0) {
        char line[96];
        snprintf(line, sizeof(line), "%s\n", key);
        local_pathf(path, sizeof(path), "%s/api-key", dir);
        rv = local_write_file(path, line, strlen(line), 0600, errmsg);
        memset(line, 0, sizeof(line));
    }
    memset(key, 0, sizeof(key));
    return rv;
}

void local_dns_load(struct local_cluster *lc)
{
    char path[LOCAL__SVC_PATH + 16], line[256];
    FILE *f;

    lc->dns_port = lc->dns_api_port = 0;
    local_pathf(path, sizeof(path), "%s/" LOCAL_DNS_DIR "/pdns.conf", lc->dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned v;
        if (sscanf(line, "local-port=%u", &v) == 1) {
            lc->dns_port = v;
        } else if (sscanf(line, "webserver-port=%u", &v) == 1) {
            lc->dns_api_port = v;
        }
    }
    fclose(f);
    if (lc->dns_api_port == 0) {
        lc->dns_port = 0;
    }
}

/* Create bucket dr-REGION for every region with an S3 store (moto takes
 * unsigned requests; an existing bucket of ours is fine). */
static int local__make_buckets(struct drctl *d, const struct local_cluster *lc)
{
    struct client c;
    char errmsg[CLIENT_ERRMSG_MAX], ep[32], path[80];
    size_t i;
    int rv = 0;

    snprintf(ep, sizeof(ep), "127.0.0.1:%u", lc->s3_port);
    if (client_init(&c, ep, NULL, 10000, errmsg) != 0) {
        return drctl_fail(d, "s3: %s", errmsg);
    }
    for (i = 0; i < lc->n_regions && rv == 0; i++) {
        struct client_response r;
        if (strncmp(lc->regions[i].store, "s3://", 5) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/dr-%s", lc->regions[i].name);
        if (client_request(&c, "PUT", path, NULL, &r) != 0) {
            rv = drctl_fail(d, "s3: create bucket %s: %s", path + 1, c.errmsg);
            break;
        }
        if (r.status != 200 && r.status != 409) {
            char what[256];
            client_response_describe(&r, what, sizeof(what));
            rv = drctl_fail(d, "s3: create bucket %s: %s", path + 1, what);
        }
        client_response_clear(&r);
    }
    client_close(&c);
    return rv;
}

static int local__write_credentials_to(const char *path, char *errmsg)
{
    static const char text[] =
        "# Test credentials of drctl local's S3 endpoint.\n"
        "access_key_id = " LOCAL__S3_KEY_ID
        "\n"
        "secret_access_key = " LOCAL__S3_SECRET "\n";
    return local_write_file(path, text, sizeof(text) - 1, 0600, errmsg);
}

static int local__write_credentials(const struct local_cluster *lc,
                                    char *errmsg)
{
    char path[LOCAL__SVC_PATH];

    local_pathf(path, sizeof(path), "%s/" LOCAL_S3_CREDENTIALS, lc->dir);
    return local__write_credentials_to(path, errmsg);
}

/* Copy src to dst (mode 0755) through dst.tmp and a rename, so that a
 * wal-push running the old copy goes on. */
static int local__copy_exe(const char *src, const char *dst, char *errmsg)
{
    char tmp[LOCAL__SVC_PATH + 8], buf[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    ssize_t n = 0;

    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    if (in >= 0) {
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    }
    while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0) {
                n = -1;
                break;
            }
            done += w;
        }
        if (n < 0) {
            break;
        }
    }
    if (in < 0 || out < 0 || n < 0 || fchmod(out, 0755) != 0 ||
        close(out) != 0 || rename(tmp, dst) != 0) {
        local_errf(errmsg, "copy %s to %s: %s", src, dst, strerror(errno));
        if (out >= 0) {
            unlink(tmp);
        }
        if (in >= 0) {
            close(in);
        }
        return DR_EIO;
    }
    close(in);
    return 0;
}

/* PostgreSQL's archive_command for s: drnode wal-push with a config of its
 * own in DIR/services/REGION/wal, owned by the server's user (as root, the
 * postgres user, who also gets a copy of drnode there: the build directory
 * may be closed to it). WAL goes to the region's object store, the one its
 * nodes stream into and the catalog scans: one archive per region (file
 * stores are shared, see local__share_stores). */
static int local__wal_setup(const struct local_cluster *lc,
                            const struct local__svc *s,
                            const char *drnode,
                            const struct local_user *u,
                            char *cmd,
                            size_t size,
                            char *errmsg)
{
    char dir[LOCAL__SVC_PATH], bin[LOCAL__SVC_PATH], conf[LOCAL__SVC_PATH];
    char creds[LOCAL__SVC_PATH], url[LOCAL__SVC_PATH], text[8192];
    char copies[4096];
    const char *files[3] = {conf, NULL, NULL};
    size_t nf = 1;

    local_pathf(dir, sizeof(dir), "%s/" LOCAL_SERVICES_DIR "/%s/wal", lc->dir,
                s->region);
    local_pathf(conf, sizeof(conf), "%s/wal-push.conf", dir);
    local_pathf(bin, sizeof(bin), "%s", drnode);
    if (local__mkdir(dir, 0700, errmsg) != 0 ||
        (u->other && chown(dir, u->uid, u->gid) != 0)) {
        if (errmsg[0] == '\0') {
            local_errf(errmsg, "chown %s: %s", dir, strerror(errno));
        }
        return DR_EIO;
    }
    if (u->other) {
        local_pathf(bin, sizeof(bin), "%s/drnode", dir);
        if (local__copy_exe(drnode, bin, errmsg) != 0) {
            return DR_EIO;
        }
        files[nf++] = bin;
    }
    creds[0] = '\0';
    local_services_store_url(lc, s->region, url, sizeof(url));
    if (lc->s3_port != 0) {
        local_pathf(creds, sizeof(creds), "%s/s3-credentials", dir);
        if (local__write_credentials_to(creds, errmsg) != 0) {
            return DR_EIO;
        }
        files[nf++] = creds;
    }
    /* Every segment goes to the other regions' stores too ([services]
     * wal_copies), so a DR region restores to a point in time from its own
     * store after the primary's is gone. */
    copies[0] = '\0';
    for (size_t i = 0; lc->n_regions > 1 && i < lc->n_regions; i++) {
        size_t used = strlen(copies);
        if (lc->regions[i].store[0] == '\0') {
            continue;
        }
        if ((size_t)snprintf(copies + used, sizeof(copies) - used,
                             "[region.%s]\nobject_store = %s\n\n",
                             lc->regions[i].name,
                             lc->regions[i].store) >= sizeof(copies) - used) {
            local_errf(errmsg, "%s: too many regions for the WAL copies", dir);
            return DR_ELIMIT;
        }
    }
    if ((size_t)snprintf(
            text, sizeof(text),
            "# archive_command of PostgreSQL %s (drctl local).\n"
            "[node]\nid = 1\nregion = %s\nraft_address = 127.0.0.1:1\n"
            "api_address = 127.0.0.1:2\ndata_dir = %s/node\n\n"
            "[services]\nwal_store = %s\n%s%s%s%s\n%s"
            "[member.1]\nregion = %s\nraft_address = 127.0.0.1:1\n"
            "api_address = 127.0.0.1:2\n",
            s->region, s->region, dir, url,
            creds[0] != '\0' ? "store_credentials = " : "", creds,
            creds[0] != '\0' ? "\n" : "",
            copies[0] != '\0' ? "wal_copies = all\n" : "", copies,
            s->region) >= sizeof(text)) {
        local_errf(errmsg, "%s: the wal-push config is too long", dir);
        return DR_ELIMIT;
    }
    if (local_write_file(conf, text, strlen(text), 0600, errmsg) != 0) {
        return DR_EIO;
    }
    for (size_t i = 0; u->other && i < nf; i++) {
        if (chown(files[i], u->uid, u->gid) != 0) {
            local_errf(errmsg, "chown %s: %s", files[i], strerror(errno));
            return DR_EIO;
        }
    }
    if (strchr(bin, '\'') != NULL || strchr(conf, '\'') != NULL) {
        local_errf(errmsg,
                   "%s: a quote in the path: PostgreSQL's "
                   "archive_command cannot name it",
                   dir);
        return DR_EINVAL;
    }
    if ((size_t)snprintf(cmd, size,
                         "archive_command='%s' wal-push --config '%s' %%p", bin,
                         conf) >= size) {
        local_errf(errmsg, "%s: path too long for archive_command", dir);
        return DR_ELIMIT;
    }
    return 0;
}

/* As root with file stores: each region's store directory handed to the
 * server's user, so that its wal-push writes into the store the nodes use
 * (they run as root and hand what they create to the directory's owner,
 * see node/store/file.c). */
static int local__share_stores(const struct local_cluster *lc,
                               const struct local_user *u,
                               char *errmsg)
{
    char path[LOCAL__SVC_PATH];

    for (size_t i = 0; u->other && lc->s3_port == 0 && i < lc->n_regions; i++) {
        local_pathf(path, sizeof(path), "%s/" LOCAL_STORE_DIR "/%s", lc->dir,
                    lc->regions[i].name);
        if (chown(path, u->uid, u->gid) != 0) {
            local_errf(errmsg, "chown %s: %s", path, strerror(errno));
            return DR_EIO;
        }
    }
    return 0;
}

/* Fail with errmsg and the tail of s's log. */
static int local__fail_svc(struct drctl *d,
                           const struct local__svc *s,
                           const char *errmsg)
{
    struct stat st;
    int rv;

    if (stat(s->log, &st) != 0 || st.st_size == 0) {
        return drctl_fail(d, "%s: %s", s->name, errmsg);
    }
    rv = drctl_fail(d, "%s: %s; its log ends with:", s->name, errmsg);
    local_print_file_tail(s->name, s->log, LOCAL__TAIL_LINES);
    return rv;
}

/* initdb every PostgreSQL without a data directory, all at once. */
static int local__initdb_all(struct drctl *d,
                             struct local__svc *svcs,
                             size_t n,
                             const struct local__bins *b,
                             const struct local_user *u)
{
    char errmsg[LOCAL_ERRMSG_MAX], version[LOCAL__SVC_PATH + 16];
    uint64_t deadline = client_now_ms() + LOCAL__INITDB_MS;
    size_t i;
    int rv = 0;

    for (i = 0; i < n; i++) {
        struct local__svc *s = &svcs[i];
        s->pid = 0;
        local_pathf(version, sizeof(version), "%s/PG_VERSION", s->data);
        if (s->kind != LOCAL__PG || local__exists(version)) {
            continue;
        }
        if (!d->json) {
            printf("initdb %s in %s\n", s->name, s->data);
        }
        if (local__initdb_start(s, b, u, errmsg) != 0) {
            rv = local__fail_svc(d, s, errmsg);
            break;
        }
    }
    for (i = 0; i < n; i++) {
        struct local__svc *s = &svcs[i];
        if (s->pid == 0) {
            continue;
        }
        if (rv != 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        } else if (local_wait_exit(s->pid, "initdb", deadline, errmsg) != 0) {
            rv = local__fail_svc(d, s, errmsg);
        }
        s->pid = 0;
    }
    return rv;
}

/* Wait until every started service answers; one that exits fails. */
static int local__wait_ready(struct drctl *d, struct local__svc *svcs, size_t n)
{
    uint64_t deadline = client_now_ms() + LOCAL__READY_MS;
    char errmsg[LOCAL_ERRMSG_MAX];
    size_t i, left;

    for (;;) {
        left = 0;
        for (i = 0; i < n; i++) {
            struct local__svc *s = &svcs[i];
            int status;
            if (s->ready || s->pid == 0) {
                continue;
            }
            if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                s->pid = 0; /* reaped: never signal this pid again */
                local_errf(
                    errmsg, "exited during start-up (%s %d)",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                return local__fail_svc(d, s, errmsg);
            }
            s->ready = local__svc_ready(s);
            left += !s->ready;
        }
        if (left == 0) {
            return 0;
        }
        if (client_now_ms() >= deadline) {
            break;
        }
        client_sleep_ms(50);
    }
    for (i = 0; i < n; i++) {
        if (!svcs[i].ready && svcs[i].pid != 0) {
            local_errf(errmsg, "not answering on 127.0.0.1:%u after %d s",
                       svcs[i].port, LOCAL__READY_MS / 1000);
            return local__fail_svc(d, &svcs[i], errmsg);
        }
    }
    return 0;
}

/* Create the cogitator database where it was not created yet. */
static int local__createdb_all(struct drctl *d,
                               struct local__svc *svcs,
                               size_t n,
                               const struct local__bins *b,
                               const char *dir)
{
    char errmsg[LOCAL_ERRMSG_MAX], marker[LOCAL__SVC_PATH + 32], port[16];
    char *argv[] = {
        (char *)b->createdb, "-h",      "127.0.0.1", "-p", port, "-U",
        LOCAL__PG_USER,      LOCAL__DB, NULL};
    const struct local_spawn sp = {argv, dir, NULL, NULL, false};
    uint64_t deadline = client_now_ms() + LOCAL__CREATEDB_MS;
    size_t i;

    for (i = 0; i < n; i++) {
        struct local__svc *s = &svcs[i];
        struct local_spawn one = sp;
        pid_t pid;

        if (s->kind != LOCAL__PG) {
            continue;
        }
        local_pathf(marker, sizeof(marker), "%s/../" LOCAL__DB_MARKER, s->data);
        if (local__exists(marker)) {
            continue;
        }
        snprintf(port, sizeof(port), "%u", s->port);
        one.log = s->log;
        if (local_spawn(&one, &pid, errmsg) != 0 ||
            local_wait_exit(pid, "createdb " LOCAL__DB, deadline, errmsg) !=
                0 ||
            local_write_file(marker, "", 0, 0644, errmsg) != 0) {
            return local__fail_svc(d, s, errmsg);
        }
    }
    return 0;
}

int local_services_start(struct drctl *d,
                         const struct local_cluster *lc,
                         const char *region,
                         const char *drnode)
{
    char archive[3 * LOCAL__SVC_PATH];
    char errmsg[LOCAL_ERRMSG_MAX], path[LOCAL__SVC_PATH];
    struct local__bins *bins = NULL;
    struct local__svc *svcs;
    struct local_user user;
    size_t n, i;
    int rv;

    memset(&user, 0, sizeof(user));
    svcs = local__list_of(lc, region, &n);
    bins = calloc(1, sizeof(*bins));
    if (svcs == NULL || bins == NULL) {
        rv = drctl_fail(d, "out of memory");
        goto out;
    }
    if (n > 0) {
        if ((rv = local__find_bins(d, svcs, n, bins)) != 0 ||
            (rv = local__pg_user(d, lc, &user)) != 0) {
            goto out;
        }
        local_pathf(path, sizeof(path), "%s/" LOCAL_SERVICES_DIR, lc->dir);
        if (local__mkdir(path, 0755, errmsg) != 0) {
            rv = drctl_fail(d, "%s", errmsg);
            goto out;
        }
    }
    for (i = 0; i < lc->n_regions; i++) {
        const struct local_region *r = &lc->regions[i];
        if ((r->pg_port == 0 && r->redis_port == 0) ||
            (region != NULL && strcmp(r->name, region) != 0)) {
            continue;
        }
        local_pathf(path, sizeof(path), "%s/" LOCAL_SERVICES_DIR "/%s", lc->dir,
                    r->name);
        if (local__mkdir(path, 0755, errmsg) != 0) {
            rv = drctl_fail(d, "%s", errmsg);
            goto out;
        }
    }
    if (region == NULL && lc->s3_port != 0 &&
        local__write_credentials(lc, errmsg) != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto out;
    }
    if (local__share_stores(lc, &user, errmsg) != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto out;
    }
    rv = local__initdb_all(d, svcs, n, bins, &user);
    if (rv != 0) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        /* The schema and the zone go into the database before the server
         * starts (it reads its zones at start). */
        if (svcs[i].kind == LOCAL__DNS &&
            (local__dns_init(&svcs[i], bins, errmsg) != 0 ||
             local__dns_zone(&svcs[i], bins, errmsg) != 0)) {
            rv = local__fail_svc(d, &svcs[i], errmsg);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        struct local__svc *s = &svcs[i];
        archive[0] = '\0';
        errmsg[0] = '\0';
        if ((s->kind == LOCAL__PG &&
             local__wal_setup(lc, s, drnode, &user, archive, sizeof(archive),
                              errmsg) != 0) ||
            local__server_start(s, bins, &user, archive, errmsg) != 0) {
            rv = local__fail_svc(d, s, errmsg);
            goto err_after_start;
        }
        if (!d->json) {
            printf("started %s on 127.0.0.1:%u pid %ld\n", s->name, s->port,
                   (long)s->pid);
        }
    }
    fflush(stdout);
    if ((rv = local__wait_ready(d, svcs, n)) != 0 ||
        (rv = local__createdb_all(d, svcs, n, bins, lc->dir)) != 0 ||
        (region == NULL && lc->s3_port != 0 &&
         (rv = local__make_buckets(d, lc)) != 0)) {
        goto err_after_start;
    }

    if (local_services_write_json(lc, errmsg) != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto err_after_start;
    }
    goto out;

err_after_start:
    local_services_stop(d, lc, region, false, false);
    fprintf(stderr,
            "drctl: %s: stopped the services; their logs are in "
            "%s/" LOCAL_SERVICES_DIR "\n",
            d->cmd, lc->dir);
out:
    free(bins);
    free(svcs);
    return rv;
}

/* Whether s, signalled by us, still runs (a child of ours is reaped). */
static bool local__svc_alive(const struct local__svc *s)
{
    waitpid(s->pid, NULL, WNOHANG);
    return local_proc_start(s->pid) == s->born;
}

static size_t local__wait_gone(struct local__svc *svcs,
                               size_t n,
                               unsigned timeout_ms)
{
    uint64_t deadline = client_now_ms() + timeout_ms;
    size_t i, left;

    for (;;) {
        left = 0;
        for (i = 0; i < n; i++) {
            if (svcs[i].pid != 0 && local__svc_alive(&svcs[i])) {
                left++;
            }
        }
        if (left == 0 || client_now_ms() >= deadline) {
            return left;
        }
        client_sleep_ms(50);
    }
}

/* Stop the running ones of svcs[n] (see local_services_stop); returns how
 * many were running. */
static size_t local__stop_svcs(const struct drctl *d,
                               struct local__svc *svcs,
                               size_t n,
                               bool abrupt,
                               bool verbose)
{
    size_t i, stopped = 0, left;

    for (i = 0; i < n; i++) {
        struct local__svc *s = &svcs[i];
        if (!local__svc_running(s, &s->pid)) {
            s->pid = 0;
            continue;
        }
        s->born = local_proc_start(s->pid);
        /* SIGINT is PostgreSQL's fast shutdown. Abrupt is a crash: its
         * immediate shutdown (SIGQUIT: no checkpoint, WAL recovery at the
         * next start; a SIGKILLed postmaster would leave backends and its
         * lock file behind), SIGKILL for the others. */
        int sig = s->kind == LOCAL__PG ? (abrupt ? SIGQUIT : SIGINT)
                                       : (abrupt ? SIGKILL : SIGTERM);
        if (kill(s->pid, sig) != 0) {
            if (errno != ESRCH) {
                drctl_warn(d, "%s: kill %ld: %s", s->name, (long)s->pid,
                           strerror(errno));
            }
            s->pid = 0;
            continue;
        }
        stopped++;
        if (verbose && !d->json) {
            printf("stopping %s (pid %ld)\n", s->name, (long)s->pid);
        }
    }
    left = local__wait_gone(svcs, n, LOCAL__STOP_MS);
    for (i = 0; left > 0 && i < n; i++) {
        if (svcs[i].pid != 0 && local__svc_alive(&svcs[i])) {
            drctl_warn(d,
                       "%s (pid %ld) did not stop within %d s: sending SIGKILL",
                       svcs[i].name, (long)svcs[i].pid, LOCAL__STOP_MS / 1000);
            kill(svcs[i].pid, SIGKILL);
        }
    }
    if (left > 0) {
        local__wait_gone(svcs, n, 3000);
    }
    for (i = 0; i < n; i++) {
        pid_t pid;
        if (!local__svc_running(&svcs[i], &pid)) {
            unlink(svcs[i].pidfile);
        }
    }
    return stopped;
}

size_t local_services_stop(const struct drctl *d,
                           const struct local_cluster *lc,
                           const char *region,
                           bool abrupt,
                           bool verbose)
{
    size_t n, stopped;
    struct local__svc *svcs = local__list_of(lc, region, &n);

    if (svcs == NULL) {
        drctl_warn(d, "out of memory: services not stopped");
        return 0;
    }
    stopped = local__stop_svcs(d, svcs, n, abrupt, verbose);
    free(svcs);
    return stopped;
}

static int local__rm_entry(const char *path,
                           const struct stat *st,
                           int type,
                           struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) != 0 ? -1 : 0;
}

/* Start drctl restore --pitr --standby for s (its log in log->log). */
static int local__standby_restore(const struct local_cluster *lc,
                                  const struct local__svc *s,
                                  const struct local_user *u,
                                  const char *self,
                                  const char *backup_id,
                                  const char *drnode,
                                  struct local__svc *log,
                                  char *errmsg)
{
    char bin[LOCAL__SVC_PATH], creds[LOCAL__SVC_PATH];
    char *argv[] = {(char *)self,
                    "restore",
                    "--pitr",
                    "--standby",
                    "--backup",
                    (char *)backup_id,
                    "--region",
                    (char *)s->region,
                    "--pgdata",
                    (char *)s->data,
                    "--drnode",
                    bin,
                    "--credentials",
                    creds,
                    NULL};
    const struct local_spawn sp = {argv, lc->dir, log->log, NULL, false};

    /* restore_command runs as the server's user: the drnode and the
     * credentials its wal-push uses (local__wal_setup). */
    local_pathf(bin, sizeof(bin), "%s", drnode);
    if (u->other) {
        local_pathf(bin, sizeof(bin), "%s/" LOCAL_SERVICES_DIR "/%s/wal/drnode",
                    lc->dir, s->region);
    }
    local_pathf(creds, sizeof(creds),
                "%s/" LOCAL_SERVICES_DIR "/%s/wal/s3-credentials", lc->dir,
                s->region);
    if (lc->s3_port == 0) {
        argv[12] = NULL; /* file stores: no credentials */
    }
    *log = *s;
    local_pathf(log->log, sizeof(log->log),
                "%s/" LOCAL_SERVICES_DIR "/%s/standby-restore.log", lc->dir,
                s->region);
    snprintf(log->name, sizeof(log->name), "restore of the %s standby",
             s->region);
    return local_spawn(&sp, &log->pid, errmsg);
}

int local_services_standbys(struct drctl *d,
                            const struct local_cluster *lc,
                            const char *const *regions,
                            size_t n_regions,
                            const char *backup_id,
                            const char *drnode)
{
    char errmsg[LOCAL_ERRMSG_MAX], archive[3 * LOCAL__SVC_PATH];
    char self[PATH_MAX], old[LOCAL__SVC_PATH + 16];
    struct local__bins *bins = calloc(1, sizeof(*bins));
    struct local__svc *all, *pgs = calloc(n_regions + 1, sizeof(*pgs));
    struct local__svc *logs = calloc(n_regions + 1, sizeof(*logs));
    struct local_user user;
    uint64_t deadline = client_now_ms() + LOCAL__STANDBY_MS;
    size_t n_all, n = 0, i, k;
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    bool stopped = false;
    int rv = 0;

    all = local__list(lc, &n_all);
    if (all == NULL || bins == NULL || pgs == NULL || logs == NULL) {
        rv = drctl_fail(d, "out of memory");
        goto out;
    }
    for (k = 0; k < n_regions; k++) {
        for (i = 0; i < n_all; i++) {
            if (all[i].kind == LOCAL__PG &&
                strcmp(all[i].region, regions[k]) == 0) {
                pgs[n++] = all[i];
            }
        }
    }
    if (n == 0) {
        goto out;
    }
    if (len <= 0) {
        rv = drctl_fail(d, "cannot find drctl itself (/proc/self/exe)");
        goto out;
    }
    self[len] = '\0';
    if ((rv = local__find_bins(d, pgs, n, bins)) != 0 ||
        (rv = local__pg_user(d, lc, &user)) != 0) {
        goto out;
    }
    /* The servers initdb made go: a standby's data directory is the base
     * backup's. */
    local__stop_svcs(d, pgs, n, false, false);
    stopped = true;
    for (i = 0; i < n; i++) {
        local_pathf(old, sizeof(old), "%s.initdb", pgs[i].data);
        if ((rename(pgs[i].data, old) != 0 && errno != ENOENT) ||
            (nftw(old, local__rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
             errno != ENOENT)) {
            rv = drctl_fail(d, "%s: remove %s: %s", pgs[i].name, pgs[i].data,
                            strerror(errno));
            goto out;
        }
    }
    /* Every restore at once, then every server. */
    for (i = 0; i < n && rv == 0; i++) {
        errmsg[0] = '\0';
        if (local__standby_restore(lc, &pgs[i], &user, self, backup_id, drnode,
                                   &logs[i], errmsg) != 0) {
            logs[i].pid = 0;
            rv = local__fail_svc(d, &logs[i], errmsg);
        }
    }
    for (i = 0; i < n; i++) {
        if (logs[i].pid != 0 &&
            local_wait_exit(logs[i].pid, "drctl restore --pitr --standby",
                            deadline, errmsg) != 0 &&
            rv == 0) {
            rv = local__fail_svc(d, &logs[i], errmsg);
        }
    }
    for (i = 0; i < n && rv == 0; i++) {
        archive[0] = '\0';
        errmsg[0] = '\0';
        if (local__wal_setup(lc, &pgs[i], drnode, &user, archive,
                             sizeof(archive), errmsg) != 0 ||
            local__server_start(&pgs[i], bins, &user, archive, errmsg) != 0) {
            rv = local__fail_svc(d, &pgs[i], errmsg);
        }
    }
    if (rv == 0) {
        rv = local__wait_ready(d, pgs, n);
    }
    for (i = 0; i < n && rv == 0 && !d->json; i++) {
        printf(
            "%s: PostgreSQL on 127.0.0.1:%u is a standby now, replaying "
            "%s's WAL copies\n",
            pgs[i].region, pgs[i].port, pgs[i].region);
    }
out:
    if (rv != 0 && stopped) {
        fprintf(stderr,
                "drctl: %s: the DR regions' PostgreSQL may be stopped; to run "
                "them as plain servers: drctl local down --dir %s, remove "
                "DIR/" LOCAL_SERVICES_DIR
                "/REGION/pg and "
                "DIR/" LOCAL_SERVICES_DIR "/REGION/" LOCAL__DB_MARKER
                " of each, and drctl local up --dir %s again (it initdbs "
                "where there is no server)\n",
                d->cmd, lc->dir, lc->dir);
    }
    free(logs);
    free(pgs);
    free(bins);
    free(all);
    return rv;
}

json_t *local_services_status(const struct local_cluster *lc)
{
    static const char *const kinds[] = {"postgres", "redis", "s3", "powerdns"};
    json_t *arr = json_array();
    struct local__svc *svcs;
    size_t n, i;

    svcs = local__list(lc, &n);
    for (i = 0; svcs != NULL && i < n; i++) {
        const struct local__svc *s = &svcs[i];
        char addr[32];
        pid_t pid;
        bool running = local__svc_running(s, &pid);

        snprintf(addr, sizeof(addr), "127.0.0.1:%u", s->port);
        json_array_append_new(
            arr,
            json_pack("{s:s,s:o,s:s,s:o,s:b,s:s}", "service", kinds[s->kind],
                      "region",
                      s->region != NULL ? json_string(s->region) : json_null(),
                      "address", addr, "pid",
                      running ? json_integer(pid) : json_null(), "running",
                      running, "log", s->log));
    }
    free(svcs);
    return arr;
}

json_t *local_services_json(const struct local_cluster *lc)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; i < lc->n_regions; i++) {
        const struct local_region *r = &lc->regions[i];
        json_t *one = json_object();
        char text[128];

        if (r->pg_port != 0) {
            snprintf(text, sizeof(text), LOCAL_PG_CONNINFO_FMT, r->pg_port);
            json_object_set_new(one, "pg", json_string(text));
        } else {
            json_object_set_new(one, "pg", json_null());
        }
        if (r->redis_port != 0) {
            snprintf(text, sizeof(text), "127.0.0.1:%u", r->redis_port);
            json_object_set_new(one, "redis", json_string(text));
        } else {
            json_object_set_new(one, "redis", json_null());
        }
        json_object_set_new(
            one, "store",
            r->store[0] != '\0' ? json_string(r->store) : json_null());
        if (strncmp(r->store, "s3://", 5) == 0 && lc->s3_port != 0) {
            char path[LOCAL__SVC_PATH];
            local_pathf(path, sizeof(path), "%s/" LOCAL_S3_CREDENTIALS,
                        lc->dir);
            json_object_set_new(one, "store_credentials", json_string(path));
        }
        json_object_set_new(o, r->name, one);
    }
    if (lc->dns_port != 0) {
        char server[32], api[64];
        snprintf(server, sizeof(server), "127.0.0.1:%u", lc->dns_port);
        snprintf(api, sizeof(api), "http://127.0.0.1:%u", lc->dns_api_port);
        json_object_set_new(
            o, "dns",
            json_pack("{ss ss ss ss ss}", "server", server, "name",
                      LOCAL_DNS_NAME, "zone", LOCAL_DNS_ZONE, "provider",
                      "pdns", "api", api));
    }
    return o;
}

int local_services_write_json(const struct local_cluster *lc, char *errmsg)
{
    char path[LOCAL__SVC_PATH], *text;
    json_t *o = local_services_json(lc);
    int rv;

    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text != NULL) {
        char *nl = realloc(text, strlen(text) + 2);
        if (nl == NULL) {
            free(text);
        } else {
            strcat(nl, "\n");
        }
        text = nl;
    }
    if (text == NULL) {
        local_errf(errmsg, "out of memory");
        return DR_ENOMEM;
    }
    local_pathf(path, sizeof(path), "%s/" LOCAL_SERVICES_JSON, lc->dir);
    rv = local_write_file(path, text, strlen(text), 0644, errmsg);
    free(text);
    return rv;
}

int local_services_check_path(const char *dir, char *errmsg)
{
    char path[LOCAL_PATH_MAX + 2];
    struct stat st;
    size_t len;

    if (geteuid() != 0 || getpwnam(LOCAL__PG_USER) == NULL) {
        return 0; /* the services run as ourselves */
    }
    if (dir[0] == '/') {
        snprintf(path, sizeof(path), "%s", dir);
    } else if (getcwd(path, sizeof(path)) != NULL) {
        len = strlen(path);
        snprintf(path + len, sizeof(path) - len, "/%s", dir);
    } else {
        return 0;
    }
    len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        path[--len] = '\0'; /* DIR itself is made o+x later */
    }
    /* Every existing directory above DIR. */
    for (; len > 1; len--) {
        if (path[len - 1] != '/') {
            continue;
        }
        path[len - 1] = '\0';
        if (path[0] != '\0' && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            (st.st_mode & S_IXOTH) == 0) {
            local_errf(errmsg,
                       "%s (mode %04o) keeps the " LOCAL__PG_USER
                       " user, who runs PostgreSQL, from reaching %s: chmod "
                       "o+x %s, or pick a --dir below directories that others "
                       "may enter",
                       path, (unsigned)(st.st_mode & 07777), dir, path);
            return DR_EINVAL;
        }
        path[len - 1] = '/';
    }
    return 0;
}
