/* drctl local: config, token, pid and log files; starting drnode processes. */
#define _GNU_SOURCE
#include "drctl.h"
#include "local.h"
#include "local_proc.h"
#include "local_services.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "common/err.h"
#include "config/config.h"
#include "tls/tls.h"

#define LOCAL__CONF "drnode.conf"
#define LOCAL__PID "drnode.pid"
#define LOCAL__LOG "drnode.log"
#define LOCAL__LINE_MAX 198 /* longest line drnode's INI parser reads */
/* two per node, two per region and the S3 endpoint */
#define LOCAL__PORTS_MAX (4 * LOCAL_NODES_MAX + 3)

void local_errf(char *errmsg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errmsg, LOCAL_ERRMSG_MAX, fmt, ap);
    va_end(ap);
}

int local_pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

void local_node_file(const struct local_node *n,
                     const char *name,
                     char *buf,
                     size_t size)
{
    local_pathf(buf, size, "%s/%s", n->dir, name);
}

static int local__cmp_node(const void *a, const void *b)
{
    const struct local_node *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Copy src into dst[size]; 0 if it fits. */
static int local__copy(char *dst, size_t size, const char *src)
{
    int n = snprintf(dst, size, "%s", src);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

int local_load(struct local_cluster *lc, char *errmsg)
{
    struct config_problems *probs = NULL;
    struct config *c = NULL;
    struct dirent *e;
    DIR *dir;
    int rv = 0;
    size_t i;

    lc->n = 0;
    lc->n_regions = 0;
    lc->s3_port = 0;
    lc->tls = false;
    local_dns_load(lc);
    dir = opendir(lc->dir);
    if (dir == NULL) {
        local_errf(errmsg, "%s: %s", lc->dir, strerror(errno));
        return DR_EIO;
    }
    c = malloc(sizeof(*c));
    probs = malloc(sizeof(*probs));
    if (c == NULL || probs == NULL) {
        local_errf(errmsg, "out of memory");
        rv = DR_ENOMEM;
        goto out;
    }
    while ((e = readdir(dir)) != NULL) {
        struct local_node *n;
        char conf[LOCAL_PATH_MAX + 64];
        const char *digits = e->d_name + 4;
        struct stat st;

        if (strncmp(e->d_name, "node", 4) != 0 || *digits == '\0' ||
            strspn(digits, "0123456789") != strlen(digits)) {
            continue;
        }
        if (local_pathf(conf, sizeof(conf), "%s/%s/%s", lc->dir, e->d_name,
                        LOCAL__CONF) != 0 ||
            stat(conf, &st) != 0) {
            continue;
        }
        if (lc->n == LOCAL_NODES_MAX) {
            local_errf(errmsg, "%s: more than %d nodes", lc->dir,
                       LOCAL_NODES_MAX);
            rv = DR_ELIMIT;
            goto out;
        }
        probs->n = 0;
        if (config_load(c, conf, probs) != 0) {
            const struct config_problem *p = &probs->items[0];
            if (probs->n > 0 && p->line > 0) {
                local_errf(errmsg, "%s:%d: %s", conf, p->line, p->msg);
            } else {
                local_errf(errmsg, "%s: %s", conf,
                           probs->n > 0 ? p->msg : "invalid");
            }
            rv = DR_EINVAL;
            goto out;
        }
        local_services_note(lc, c);
        if (c->tls_cert[0] != '\0') {
            lc->tls = true;
        }
        n = &lc->nodes[lc->n];
        memset(n, 0, sizeof(*n));
        n->id = (unsigned)c->id;
        if (c->id > UINT_MAX ||
            local__copy(n->region, sizeof(n->region), c->region) != 0 ||
            local__copy(n->raft_address, sizeof(n->raft_address),
                        c->raft_address) != 0 ||
            local__copy(n->api_address, sizeof(n->api_address),
                        c->api_address) != 0 ||
            local_pathf(n->dir, sizeof(n->dir), "%s/%s", lc->dir, e->d_name) !=
                0) {
            local_errf(errmsg, "%s: id or address too long for drctl local",
                       conf);
            rv = DR_EINVAL;
            goto out;
        }
        lc->n++;
    }
    qsort(lc->nodes, lc->n, sizeof(lc->nodes[0]), local__cmp_node);
    for (i = 1; i < lc->n; i++) {
        if (lc->nodes[i].id == lc->nodes[i - 1].id) {
            local_errf(errmsg, "%s and %s both hold node id %u",
                       lc->nodes[i - 1].dir, lc->nodes[i].dir, lc->nodes[i].id);
            rv = DR_EINVAL;
            goto out;
        }
    }

out:
    free(probs);
    free(c);
    closedir(dir);
    return rv;
}

/* The services start seconds after the ports are chosen (initdb runs in
 * between), so a port from the kernel's ephemeral range (what binding port
 * 0 returns) may meanwhile become some outgoing connection's local port:
 * "Address already in use". So: random ports below the ephemeral range
 * (LOCAL_PORT_LOW..LOCAL_PORT_HIGH), each checked bindable, all held open
 * together so that none repeats, then closed. */
#define LOCAL_PORT_LOW 20000
#define LOCAL_PORT_HIGH 32000
#define LOCAL_PORT_TRIES 400

int local_free_ports(unsigned *ports, size_t n, char *errmsg)
{
    int fds[LOCAL__PORTS_MAX];
    size_t i, opened = 0;
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    int rv = 0;

    if (n > LOCAL__PORTS_MAX) {
        local_errf(errmsg, "more than %d ports", LOCAL__PORTS_MAX);
        return DR_ELIMIT;
    }
    for (i = 0; i < n && rv == 0; i++) {
        int tries = 0;
        for (;;) {
            struct sockaddr_in sa;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            unsigned port =
                LOCAL_PORT_LOW +
                (unsigned)rand_r(&seed) % (LOCAL_PORT_HIGH - LOCAL_PORT_LOW);

            if (fd < 0) {
                local_errf(errmsg, "socket: %s", strerror(errno));
                rv = DR_EIO;
                break;
            }
            memset(&sa, 0, sizeof(sa));
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            sa.sin_port = htons((uint16_t)port);
            if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                fds[opened++] = fd;
                ports[i] = port;
                break;
            }
            close(fd);
            if (++tries == LOCAL_PORT_TRIES) {
                local_errf(errmsg,
                           "no free port on 127.0.0.1 in %d..%d after %d tries",
                           LOCAL_PORT_LOW, LOCAL_PORT_HIGH, tries);
                rv = DR_EIO;
                break;
            }
        }
    }
    for (i = 0; i < opened; i++) {
        close(fds[i]);
    }
    return rv;
}

int local_write_file(const char *path,
                     const char *data,
                     size_t len,
                     mode_t mode,
                     char *errmsg)
{
    char tmp[LOCAL_PATH_MAX + 16];
    size_t off = 0;
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        local_errf(errmsg, "%s: %s", tmp, strerror(errno));
        return DR_EIO;
    }
    if (fchmod(fd, mode) != 0) {
        goto err_after_open;
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            goto err_after_open;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto err_after_open;
    }
    if (rename(tmp, path) != 0) {
        local_errf(errmsg, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return DR_EIO;
    }
    return 0;

err_after_open:
    local_errf(errmsg, "%s: %s", tmp, strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return DR_EIO;
}

static int local__mkdir(const char *path, mode_t mode, char *errmsg)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        local_errf(errmsg, "mkdir %s: %s", path, strerror(errno));
        return DR_EIO;
    }
    return 0;
}

static int local__write_token(const char *dir, char *errmsg)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 2], path[LOCAL_PATH_MAX + 16];
    size_t i, got = 0;
    int fd, rv;

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        local_errf(errmsg, "/dev/urandom: %s", strerror(errno));
        return DR_EIO;
    }
    while (got < sizeof(raw)) {
        ssize_t r = read(fd, raw + got, sizeof(raw) - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            local_errf(errmsg, "/dev/urandom: %s",
                       r < 0 ? strerror(errno) : "short read");
            close(fd);
            return DR_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    for (i = 0; i < sizeof(raw); i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    hex[2 * sizeof(raw)] = '\n';
    hex[2 * sizeof(raw) + 1] = '\0';
    snprintf(path, sizeof(path), "%s/token", dir);
    rv = local_write_file(path, hex, strlen(hex), 0600, errmsg);
    memset(raw, 0, sizeof(raw));
    memset(hex, 0, sizeof(hex));
    return rv;
}

/* The config of node n of lc into f. */
static void local__print_config(FILE *f,
                                const struct local_cluster *lc,
                                const struct local_node *n)
{
    const struct local_region *own = NULL;
    size_t i;

    for (i = 0; i < lc->n_regions; i++) {
        if (strcmp(lc->regions[i].name, n->region) == 0) {
            own = &lc->regions[i];
        }
    }

    fprintf(f, "# Written by drctl local up.\n");
    fprintf(f, "[node]\n");
    fprintf(f, "id = %u\n", n->id);
    fprintf(f, "region = %s\n", n->region);
    fprintf(f, "raft_address = %s\n", n->raft_address);
    fprintf(f, "api_address = %s\n", n->api_address);
    fprintf(f, "data_dir = %s/data\n", n->dir);
    fprintf(f, "token_file = %s/token\n", lc->dir);
    fprintf(f, "log_level = info\n");
    fprintf(f, "\n[raft]\n");
    fprintf(f, "election_timeout_ms = 1000\n");
    fprintf(f, "heartbeat_timeout_ms = 100\n");
    if (lc->probe_interval_ms != 0) {
        /* A probe must end before the next: its timeout below the
         * interval (drnode's default timeout is 2000 ms). */
        unsigned timeout = lc->probe_interval_ms / 2;
        fprintf(f, "\n[probes]\n");
        fprintf(f, "interval_ms = %u\n", lc->probe_interval_ms);
        fprintf(f, "timeout_ms = %u\n", timeout < 2000 ? timeout : 2000);
    }
    if (own != NULL &&
        (own->pg_port != 0 || own->redis_port != 0 || lc->s3_port != 0)) {
        fprintf(f, "\n[services]\n");
        if (own->pg_port != 0) {
            fprintf(f, "pg = " LOCAL_PG_CONNINFO_FMT "\n", own->pg_port);
            /* What the stream writes reaches every region's store, as
             * wal-push's segments do (local__wal_setup). */
            if (lc->n_regions > 1) {
                fprintf(f, "wal_copies = all\n");
            }
            if (own != &lc->regions[0] && !lc->no_standbys) {
                /* A DR region's server is a standby (local__standbys): the
                 * failover promotes it; drills restore the base backup in
                 * a scratch directory, since it takes no scratch
                 * database. */
                fprintf(f, "pg_standby = " LOCAL_PG_CONNINFO_FMT "\n",
                        own->pg_port);
                fprintf(f, "drill_pgdata = %s/drill\n", n->dir);
            }
        }
        if (own->redis_port != 0) {
            /* The local Redis is ours: db 15 is kept for restore drills. */
            fprintf(f, "redis = 127.0.0.1:%u\n", own->redis_port);
            fprintf(f, "drill_redis_db = 15\n");
        }
        if (lc->s3_port != 0) {
            fprintf(f, "store_credentials = %s/" LOCAL_S3_CREDENTIALS "\n",
                    lc->dir);
        }
    }
    if (lc->dns_port != 0) {
        fprintf(f, "\n[dns]\n");
        fprintf(f, "api_key_file = %s/" LOCAL_DNS_DIR "/api-key\n", lc->dir);
    }
    if (lc->tls) {
        fprintf(f, "\n[tls]\n");
        fprintf(f, "cert = %s/" LOCAL_TLS_DIR "/node-%u.crt\n", lc->dir, n->id);
        fprintf(f, "key = %s/" LOCAL_TLS_DIR "/node-%u.key\n", lc->dir, n->id);
        fprintf(f, "ca = %s/" LOCAL_TLS_DIR "/ca.crt\n", lc->dir);
        fprintf(f, "client_ca = %s/" LOCAL_TLS_DIR "/ca.crt\n", lc->dir);
    }
    fprintf(f, "\n[bootstrap]\n");
    fprintf(f, "primary_region = %s\n", lc->regions[0].name);
    for (i = 0; i < lc->n; i++) {
        const struct local_node *m = &lc->nodes[i];
        fprintf(f, "\n[member.%u]\n", m->id);
        fprintf(f, "region = %s\n", m->region);
        fprintf(f, "raft_address = %s\n", m->raft_address);
        fprintf(f, "api_address = %s\n", m->api_address);
    }
    for (i = 0; i < lc->n_regions; i++) {
        fprintf(f, "\n[region.%s]\n", lc->regions[i].name);
        fprintf(f, "priority = %d\n", 100 - 10 * (int)i);
        fprintf(f, "object_store = %s\n", lc->regions[i].store);
        if (lc->dns_port != 0) {
            fprintf(f, "dns_targets = " LOCAL_DNS_TARGET_FMT "\n", i + 1);
        }
    }
}

static size_t local__longest_line(const char *text)
{
    size_t longest = 0;

    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        if (len > longest) {
            longest = len;
        }
        text += len + (text[len] == '\n');
    }
    return longest;
}

/* DIR/tls: a CA, a certificate per node (127.0.0.1) and drctl's client
 * certificate (client-drctl), as drctl certs would make them. */
static int local__make_certs(const struct local_cluster *lc, char *errmsg)
{
    char dir[LOCAL_PATH_MAX + 16], cert[LOCAL_PATH_MAX + 64],
        key[LOCAL_PATH_MAX + 64], ca[LOCAL_PATH_MAX + 64],
        ca_key[LOCAL_PATH_MAX + 64], err[TLS_ERRMSG_MAX];
    struct tls_issue req;
    int rv;

    snprintf(dir, sizeof(dir), "%s/" LOCAL_TLS_DIR, lc->dir);
    if ((rv = local__mkdir(dir, 0700, errmsg)) != 0) {
        return rv;
    }
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    if (tls_ca_create(ca, ca_key, "drctl local CA", 3650, err) != 0) {
        local_errf(errmsg, "%s", err);
        return DR_EIO;
    }
    for (size_t i = 0; i <= lc->n; i++) {
        memset(&req, 0, sizeof(req));
        req.days = 3650;
        if (i < lc->n) {
            req.kind = TLS_CERT_NODE;
            req.node_id = lc->nodes[i].id;
            req.region = lc->nodes[i].region;
            req.ip[req.n_ip++] = "127.0.0.1";
            snprintf(cert, sizeof(cert), "%s/node-%u.crt", dir,
                     lc->nodes[i].id);
            snprintf(key, sizeof(key), "%s/node-%u.key", dir, lc->nodes[i].id);
        } else {
            req.kind = TLS_CERT_CLIENT;
            req.name = "drctl";
            snprintf(cert, sizeof(cert), "%s/client-drctl.crt", dir);
            snprintf(key, sizeof(key), "%s/client-drctl.key", dir);
        }
        if (tls_issue(ca, ca_key, &req, cert, key, err) != 0) {
            local_errf(errmsg, "%s", err);
            return DR_EIO;
        }
    }
    return 0;
}

int local_client_init(const struct local_cluster *lc,
                      struct client *c,
                      const char *endpoints,
                      const char *token_file,
                      unsigned timeout_ms,
                      char *errmsg)
{
    char ca[LOCAL_PATH_MAX + 32], cert[LOCAL_PATH_MAX + 32],
        key[LOCAL_PATH_MAX + 32];
    struct client_tls tls = {ca, cert, key};

    if (!lc->tls) {
        return client_init(c, endpoints, token_file, timeout_ms, errmsg);
    }
    snprintf(ca, sizeof(ca), "%s/" LOCAL_TLS_DIR "/ca.crt", lc->dir);
    snprintf(cert, sizeof(cert), "%s/" LOCAL_TLS_DIR "/client-drctl.crt",
             lc->dir);
    snprintf(key, sizeof(key), "%s/" LOCAL_TLS_DIR "/client-drctl.key",
             lc->dir);
    return client_init_tls(c, endpoints, token_file, &tls, timeout_ms, errmsg);
}

const char *local_scheme(const struct local_cluster *lc)
{
    return lc->tls ? "https" : "http";
}

int local_create(struct local_cluster *lc,
                 char regions[][64],
                 size_t n_regions,
                 unsigned per_region,
                 unsigned flags,
                 char *errmsg)
{
    unsigned ports[LOCAL__PORTS_MAX], *next;
    char path[LOCAL_PATH_MAX + 64];
    size_t i, total = n_regions * per_region, n_ports;
    bool services = (flags & LOCAL_WITH_SERVICES) != 0;
    int rv;

    if (total == 0 || total > LOCAL_NODES_MAX || n_regions > LOCAL_NODES_MAX) {
        local_errf(errmsg, "between 1 and %d nodes", LOCAL_NODES_MAX);
        return DR_EINVAL;
    }
    /* Nodes first, then two per region, then PowerDNS's two (with the
     * services), then the S3 endpoint. */
    n_ports = 2 * total + (services ? 2 * n_regions + 2 : 0);
    n_ports += (flags & LOCAL_WITH_S3) != 0 ? 1 : 0;
    rv = local_free_ports(ports, n_ports, errmsg);
    if (rv != 0) {
        return rv;
    }
    next = ports + 2 * total;
    lc->s3_port = (flags & LOCAL_WITH_S3) != 0 ? ports[n_ports - 1] : 0;
    lc->dns_port = services ? next[2 * n_regions] : 0;
    lc->dns_api_port = services ? next[2 * n_regions + 1] : 0;
    lc->n_regions = n_regions;
    for (i = 0; i < n_regions; i++) {
        struct local_region *r = &lc->regions[i];
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", regions[i]);
        if (services) {
            r->pg_port = next[2 * i];
            r->redis_port = next[2 * i + 1];
        }
        if (local_services_store_url(lc, r->name, r->store, sizeof(r->store)) !=
            0) {
            local_errf(
                errmsg,
                "%s: path too long for the object store URL of region %s",
                lc->dir, r->name);
            return DR_ELIMIT;
        }
    }
    lc->n = total;
    for (i = 0; i < total; i++) {
        struct local_node *n = &lc->nodes[i];
        memset(n, 0, sizeof(*n));
        n->id = (unsigned)i + 1;
        snprintf(n->region, sizeof(n->region), "%s", regions[i / per_region]);
        snprintf(n->raft_address, sizeof(n->raft_address), "127.0.0.1:%u",
                 ports[2 * i]);
        snprintf(n->api_address, sizeof(n->api_address), "127.0.0.1:%u",
                 ports[2 * i + 1]);
        if (local_pathf(n->dir, sizeof(n->dir), "%s/node%u", lc->dir, n->id) !=
            0) {
            local_errf(errmsg, "%s: path too long", lc->dir);
            return DR_ELIMIT;
        }
    }

    rv = local__write_token(lc->dir, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (lc->tls && (rv = local__make_certs(lc, errmsg)) != 0) {
        return rv;
    }
    if (lc->dns_port != 0 && (rv = local_dns_write_files(lc, errmsg)) != 0) {
        return rv;
    }
    snprintf(path, sizeof(path), "%s/" LOCAL_STORE_DIR, lc->dir);
    if (lc->s3_port == 0 && (rv = local__mkdir(path, 0755, errmsg)) != 0) {
        return rv;
    }
    for (i = 0; i < n_regions && lc->s3_port == 0; i++) {
        snprintf(path, sizeof(path), "%s/" LOCAL_STORE_DIR "/%s", lc->dir,
                 regions[i]);
        if ((rv = local__mkdir(path, 0755, errmsg)) != 0) {
            return rv;
        }
    }
    for (i = 0; i < total; i++) {
        const struct local_node *n = &lc->nodes[i];
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        if ((rv = local__mkdir(n->dir, 0755, errmsg)) != 0) {
            return rv;
        }
        snprintf(path, sizeof(path), "%s/data", n->dir);
        if ((rv = local__mkdir(path, 0700, errmsg)) != 0) {
            return rv;
        }
        f = open_memstream(&text, &len);
        if (f == NULL) {
            local_errf(errmsg, "out of memory");
            return DR_ENOMEM;
        }
        local__print_config(f, lc, n);
        if (fclose(f) != 0) {
            free(text);
            local_errf(errmsg, "out of memory");
            return DR_ENOMEM;
        }
        if (local__longest_line(text) > LOCAL__LINE_MAX) {
            local_errf(errmsg,
                       "%s: path too long: a config line would exceed %d "
                       "characters (drnode's INI line limit)",
                       lc->dir, LOCAL__LINE_MAX);
            free(text);
            return DR_ELIMIT;
        }
        local_node_file(n, LOCAL__CONF, path, sizeof(path));
        rv = local_write_file(path, text, len, 0644, errmsg);
        free(text);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Whether pid has threads besides its main one: a main thread that is a
 * zombie waits for them, and they may still hold its sockets open. */
static bool local__other_threads(pid_t pid)
{
    char path[64];
    struct dirent *e;
    int n = 0;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    dir = opendir(path);
    if (dir == NULL) {
        return false;
    }
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(dir);
    return n > 1;
}

unsigned long long local_proc_start(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long start = 0;
    const char *p;
    ssize_t r;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0) {
        return 0;
    }
    buf[r] = '\0';
    /* "PID (COMM) STATE ..." where COMM may hold spaces and parentheses. */
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == 'X' ||
        (p[2] == 'Z' && !local__other_threads(pid))) {
        return 0;
    }
    p += 2; /* field 3, the state */
    for (field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p, ' ');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p != NULL) {
        start = strtoull(p, NULL, 10);
    }
    return start;
}

bool local_is_node_process(const struct local_node *n, pid_t pid)
{
    char path[64], conf[LOCAL_PATH_MAX + 64], buf[8192];
    bool is_drnode = false, has_conf = false;
    size_t len = 0, off, arg = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
        if (len == sizeof(buf) - 1) {
            break;
        }
    }
    close(fd);
    buf[len] = '\0';
    local_node_file(n, LOCAL__CONF, conf, sizeof(conf));
    /* A zombie has an empty command line: not running. */
    for (off = 0; off < len; off += strlen(buf + off) + 1, arg++) {
        const char *a = buf + off;
        const char *base = strrchr(a, '/');
        base = base != NULL ? base + 1 : a;
        if (arg < 2 && strncmp(base, "drnode", 6) == 0) {
            is_drnode = true;
        }
        if (strcmp(a, conf) == 0) {
            has_conf = true;
        }
    }
    return is_drnode && has_conf;
}

bool local_running(const struct local_node *n, pid_t *pid)
{
    char path[LOCAL_PATH_MAX + 64], buf[32];
    ssize_t r;
    long v;
    char *end;
    int fd;

    *pid = 0;
    local_node_file(n, LOCAL__PID, path, sizeof(path));
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
    v = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || v <= 1 || v > INT_MAX) {
        return false;
    }
    *pid = (pid_t)v;
    if (kill(*pid, 0) != 0 && errno != EPERM) {
        return false;
    }
    return local_is_node_process(n, *pid);
}

int local_start(const struct local_node *n,
                const char *drnode,
                pid_t *pid,
                char *errmsg)
{
    char conf[LOCAL_PATH_MAX + 64], logp[LOCAL_PATH_MAX + 64];
    char pidp[LOCAL_PATH_MAX + 64], data[LOCAL_PATH_MAX + 64], text[32];
    char *const argv[] = {(char *)drnode, "--config", conf, NULL};
    /* Its own session: the node outlives drctl. */
    const struct local_spawn sp = {argv, n->dir, logp, NULL, true};
    int rv;

    local_node_file(n, LOCAL__CONF, conf, sizeof(conf));
    local_node_file(n, LOCAL__LOG, logp, sizeof(logp));
    local_node_file(n, LOCAL__PID, pidp, sizeof(pidp));
    snprintf(data, sizeof(data), "%s/data", n->dir);
    if (local__mkdir(data, 0700, errmsg) != 0) {
        return DR_EIO;
    }
    rv = local_spawn(&sp, pid, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(text, sizeof(text), "%ld\n", (long)*pid);
    rv = local_write_file(pidp, text, strlen(text), 0644, errmsg);
    if (rv != 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    return rv;
}

bool local_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

static int local__absolute(const char *path,
                           char *out,
                           size_t size,
                           char *errmsg)
{
    char real[PATH_MAX];

    if (realpath(path, real) == NULL) {
        local_errf(errmsg, "%s: %s", path, strerror(errno));
        return DR_EIO;
    }
    if (local__copy(out, size, real) != 0) {
        local_errf(errmsg, "%s: path too long", real);
        return DR_ELIMIT;
    }
    return 0;
}

int local_find_drnode(const char *opt, char *out, size_t size, char *errmsg)
{
    char self[PATH_MAX], cand[PATH_MAX + 32];
    const char *env = getenv("DRNODE");
    const char *path = getenv("PATH");
    ssize_t len;

    if (opt != NULL) {
        if (!local_executable(opt)) {
            local_errf(errmsg, "--drnode %s: not an executable file", opt);
            return DR_ENOTFOUND;
        }
        return local__absolute(opt, out, size, errmsg);
    }
    if (env != NULL && env[0] != '\0') {
        if (!local_executable(env)) {
            local_errf(errmsg, "DRNODE=%s: not an executable file", env);
            return DR_ENOTFOUND;
        }
        return local__absolute(env, out, size, errmsg);
    }
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len > 0) {
        char *slash;
        self[len] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(cand, sizeof(cand), "%s/drnode", self);
            if (local_executable(cand)) {
                return local__absolute(cand, out, size, errmsg);
            }
            snprintf(cand, sizeof(cand), "%s/../node/drnode", self);
            if (local_executable(cand)) {
                return local__absolute(cand, out, size, errmsg);
            }
        }
    }
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t n = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (n > 0 && n < PATH_MAX) {
            snprintf(cand, sizeof(cand), "%.*s/drnode", (int)n, path);
            if (local_executable(cand)) {
                return local__absolute(cand, out, size, errmsg);
            }
        }
        path = colon != NULL ? colon + 1 : NULL;
    }
    local_errf(errmsg, "cannot find drnode: pass --drnode PATH or set DRNODE");
    return DR_ENOTFOUND;
}

void local_print_log_tail(const struct local_node *n, int lines)
{
    char path[LOCAL_PATH_MAX + 64], what[32];

    local_node_file(n, LOCAL__LOG, path, sizeof(path));
    snprintf(what, sizeof(what), "node %u", n->id);
    local_print_file_tail(what, path, lines);
}

void local_print_file_tail(const char *what, const char *path, int lines)
{
    char buf[8192];
    const char *start;
    size_t len = 0;
    int fd, seen = 0;
    off_t size;
    ssize_t r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "  %s: %s: %s\n", what, path, strerror(errno));
        return;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size > (off_t)sizeof(buf) - 1) {
        lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
    } else {
        lseek(fd, 0, SEEK_SET);
    }
    while ((r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)r;
    }
    close(fd);
    while (len > 0 && buf[len - 1] == '\n') {
        len--;
    }
    buf[len] = '\0';
    start = buf + len;
    while (start > buf) {
        if (start[-1] == '\n' && ++seen == lines) {
            break;
        }
        start--;
    }
    fprintf(stderr, "  %s (%s), last lines:\n", what, path);
    while (*start != '\0') {
        const char *nl = strchr(start, '\n');
        int l = nl != NULL ? (int)(nl - start) : (int)strlen(start);
        fprintf(stderr, "    | %.*s\n", l, start);
        start += l + (nl != NULL);
    }
}

void local_env_each(const struct local_cluster *lc,
                    void (*fn)(const char *name, const char *value, void *arg),
                    void *arg)
{
    static const char *const tls[][2] = {
        {"DRCTL_CACERT", "ca.crt"},
        {"DRCTL_CERT", "client-drctl.crt"},
        {"DRCTL_KEY", "client-drctl.key"},
    };
    char path[LOCAL_PATH_MAX + 32], list[LOCAL_NODES_MAX * 40];
    size_t used = 0;

    list[0] = '\0';
    for (size_t i = 0; i < lc->n; i++) {
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s://%s",
                                 i > 0 ? "," : "", local_scheme(lc),
                                 lc->nodes[i].api_address);
    }
    fn("DRCTL_ENDPOINTS", list, arg);
    snprintf(path, sizeof(path), "%s/token", lc->dir);
    fn("DRCTL_TOKEN_FILE", path, arg);
    for (size_t i = 0; lc->tls && i < 3; i++) {
        snprintf(path, sizeof(path), "%s/" LOCAL_TLS_DIR "/%s", lc->dir,
                 tls[i][1]);
        fn(tls[i][0], path, arg);
    }
}

struct local__env_buf
{
    char *buf;
    size_t size;
};

static void local__env_line(const char *name, const char *value, void *arg)
{
    struct local__env_buf *b = arg;
    size_t used = strlen(b->buf);

    snprintf(b->buf + used, b->size - used, "%s=", name);
    drctl_shell_word(b->buf, b->size, value);
    used = strlen(b->buf);
    snprintf(b->buf + used, b->size - used, "\n");
}

int local_write_env(const struct local_cluster *lc,
                    char *buf,
                    size_t size,
                    char *errmsg)
{
    struct local__env_buf b = {buf, size};
    char path[LOCAL_PATH_MAX + 16];

    buf[0] = '\0';
    local_env_each(lc, local__env_line, &b);
    snprintf(path, sizeof(path), "%s/env", lc->dir);
    return local_write_file(path, buf, strlen(buf), 0644, errmsg);
}
