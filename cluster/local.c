/* drctl local up|down|status|kill|start: a drnode cluster on loopback. */
#define _GNU_SOURCE
#include "local.h"
#include "drctl.h"
#include "local_services.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCAL_UP_WAIT_MS 30000    /* for a leader after up */
#define LOCAL_SETTLE_MS 3000      /* then for every node to know it */
#define LOCAL_BASE_WAIT_MS 180000 /* the first base backup in every region */
#define LOCAL_STOP_WAIT_MS 10000  /* SIGTERM to SIGKILL */
#define LOCAL_TAIL_LINES 15
#define LOCAL_DEFAULT_REGIONS "eu-west,us-east,ap-south"

/* mkdir -p path. */
static int local__mkdirs(const char *path, char *errmsg)
{
    char buf[LOCAL_PATH_MAX];
    size_t i, len = strlen(path);

    if (len >= sizeof(buf)) {
        local_errf(errmsg, "%s: path too long", path);
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            local_errf(errmsg, "mkdir %s: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = path[i];
    }
    return 0;
}

/* Resolve --dir into lc->dir (absolute); create it when create is set. */
static int local__resolve_dir(struct drctl *d,
                              struct local_cluster *lc,
                              const char *dir,
                              bool create)
{
    char errmsg[LOCAL_ERRMSG_MAX], real[PATH_MAX];
    size_t i;

    if (create && local__mkdirs(dir, errmsg) != 0) {
        return drctl_fail(d, "%s", errmsg);
    }
    if (realpath(dir, real) == NULL) {
        return drctl_fail(d, "%s: %s", dir, strerror(errno));
    }
    if (strlen(real) >= sizeof(lc->dir) - 64) {
        return drctl_fail(d, "%s: path too long", real);
    }
    for (i = 0; real[i] != '\0'; i++) {
        if ((unsigned char)real[i] <= ' ' || real[i] == 0x7f) {
            return drctl_fail(d,
                              "%s: the path must hold no spaces or control "
                              "characters (it goes into configs and URLs)",
                              real);
        }
    }
    local_pathf(lc->dir, sizeof(lc->dir), "%s", real); /* length checked */
    return 0;
}

static struct local_node *local__find(struct local_cluster *lc, unsigned id)
{
    size_t i;

    for (i = 0; i < lc->n; i++) {
        if (lc->nodes[i].id == id) {
            return &lc->nodes[i];
        }
    }
    return NULL;
}

/* Load the cluster in --dir into a new *out (free it). With create, make
 * the directory first and accept one without a cluster; otherwise fail
 * when it holds none. */
static int local__open(struct drctl *d,
                       const char *dir,
                       bool create,
                       struct local_cluster **out)
{
    char errmsg[LOCAL_ERRMSG_MAX];
    struct local_cluster *lc = calloc(1, sizeof(*lc));
    int rv;

    if (lc == NULL) {
        return drctl_fail(d, "out of memory");
    }
    rv = local__resolve_dir(d, lc, dir, create);
    if (rv != 0) {
        goto err_after_alloc;
    }
    if (local_load(lc, errmsg) != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto err_after_alloc;
    }
    if (lc->n == 0 && !create) {
        rv = drctl_fail(d,
                        "%s holds no local cluster (no nodeN/drnode.conf); "
                        "create one with drctl local up --dir %s",
                        lc->dir, lc->dir);
        goto err_after_alloc;
    }
    *out = lc;
    return 0;

err_after_alloc:
    free(lc);
    return rv;
}

/* Whether a node process signalled by us still runs. A child of ours is
 * checked (and reaped) with waitpid; any other process by its start time,
 * recorded before the signal (0 once it has exited). */
static bool local__alive(pid_t pid, bool child, unsigned long long start)
{
    if (child) {
        return waitpid(pid, NULL, WNOHANG) == 0;
    }
    return start != 0 && local_proc_start(pid) == start;
}

/* Wait until no pid of pids[] runs (0 entries are skipped) or timeout_ms
 * pass; returns how many still run. */
static size_t local__wait_gone(const struct local_cluster *lc,
                               const pid_t *pids,
                               const bool *child,
                               const unsigned long long *start,
                               unsigned timeout_ms)
{
    uint64_t deadline = client_now_ms() + timeout_ms;
    size_t i, left;

    for (;;) {
        left = 0;
        for (i = 0; i < lc->n; i++) {
            if (pids[i] != 0 && local__alive(pids[i], child[i], start[i])) {
                left++;
            }
        }
        if (left == 0 || client_now_ms() >= deadline) {
            return left;
        }
        client_sleep_ms(50);
    }
}

/* Stop every running node of lc: SIGTERM, wait, then SIGKILL; remove the
 * pid files. children (may be NULL) holds the pids of nodes this process
 * started, signalled even when their command line is not drnode's (a
 * wrapper script). Returns how many were running. */
static size_t local__stop_all(const struct drctl *d,
                              const struct local_cluster *lc,
                              const pid_t *children,
                              bool verbose)
{
    unsigned long long start[LOCAL_NODES_MAX];
    pid_t pids[LOCAL_NODES_MAX];
    bool child[LOCAL_NODES_MAX];
    size_t i, n_running = 0, left;

    for (i = 0; i < lc->n; i++) {
        child[i] = children != NULL && children[i] > 0;
        start[i] = 0;
        if (child[i]) {
            pids[i] = children[i];
        } else if (!local_running(&lc->nodes[i], &pids[i])) {
            pids[i] = 0;
            continue;
        }
        start[i] = child[i] ? 0 : local_proc_start(pids[i]);
        if (kill(pids[i], SIGTERM) != 0) {
            if (errno != ESRCH) {
                drctl_warn(d, "node %u: kill %ld: %s", lc->nodes[i].id,
                           (long)pids[i], strerror(errno));
            }
            if (!child[i]) {
                pids[i] = 0;
                continue;
            }
        }
        n_running++;
        if (verbose && !d->json) {
            printf("stopping node %u (pid %ld)\n", lc->nodes[i].id,
                   (long)pids[i]);
        }
    }
    left = local__wait_gone(lc, pids, child, start, LOCAL_STOP_WAIT_MS);
    for (i = 0; left > 0 && i < lc->n; i++) {
        if (pids[i] != 0 && local__alive(pids[i], child[i], start[i])) {
            drctl_warn(
                d,
                "node %u (pid %ld) did not stop within %d s: sending SIGKILL",
                lc->nodes[i].id, (long)pids[i], LOCAL_STOP_WAIT_MS / 1000);
            kill(pids[i], SIGKILL);
        }
    }
    if (left > 0) {
        local__wait_gone(lc, pids, child, start, 2000);
    }
    for (i = 0; i < lc->n; i++) {
        char path[LOCAL_PATH_MAX + 64];
        pid_t pid;
        if (!local_running(&lc->nodes[i], &pid)) {
            local_node_file(&lc->nodes[i], "drnode.pid", path, sizeof(path));
            unlink(path);
        }
    }
    return n_running;
}

/* Validate --regions into regions[]; a usage error otherwise. */
static int local__parse_regions(struct drctl *d,
                                const char *list,
                                char regions[][64],
                                size_t *n)
{
    const char *p = list;

    *n = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        size_t i;

        if (len == 0 || len > 63) {
            return drctl_usage_error(
                d, "--regions: names of 1 to 63 characters, comma-separated");
        }
        if (p[0] < 'a' || p[0] > 'z' ||
            strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-") < len) {
            return drctl_usage_error(d,
                                     "--regions: \"%.*s\" must start with a-z "
                                     "and hold only a-z, 0-9 and '-'",
                                     (int)len, p);
        }
        if (*n == LOCAL_NODES_MAX) {
            return drctl_usage_error(d, "--regions: at most %d regions",
                                     LOCAL_NODES_MAX);
        }
        memcpy(regions[*n], p, len);
        regions[*n][len] = '\0';
        for (i = 0; i < *n; i++) {
            if (strcmp(regions[i], regions[*n]) == 0) {
                return drctl_usage_error(d, "--regions: \"%s\" given twice",
                                         regions[i]);
            }
        }
        (*n)++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

/* Whether node n reports a leader; fills leader with "ID (API)". */
static bool local__has_leader(struct client *c, char *leader, size_t size)
{
    struct client_response r;
    const json_t *l;
    bool found = false;

    if (client_request(c, "GET", "/api/status", NULL, &r) != 0) {
        return false;
    }
    l = json_object_get(r.json, "leader");
    /* A follower may know the leader's id before its address. */
    if (r.status == 200 && json_is_object(l) &&
        json_string_value(json_object_get(l, "api")) != NULL) {
        snprintf(leader, size, "node %" JSON_INTEGER_FORMAT " at %s",
                 json_integer_value(json_object_get(l, "id")),
                 json_string_value(json_object_get(l, "api")));
        found = true;
    }
    client_response_clear(&r);
    return found;
}

/* Wait for a leader (and briefly for every node to name it); a node that
 * exits meanwhile fails the wait. */
static int local__wait_leader(struct drctl *d,
                              const struct local_cluster *lc,
                              pid_t *pids,
                              char *leader,
                              size_t size)
{
    struct client *clients;
    char errmsg[CLIENT_ERRMSG_MAX];
    uint64_t deadline = client_now_ms() + LOCAL_UP_WAIT_MS, settled = 0;
    size_t i, n_ok = 0, n_know;
    int rv = DRCTL_EXIT_FAIL;
    char one[128];

    clients = calloc(lc->n, sizeof(*clients));
    if (clients == NULL) {
        return drctl_fail(d, "out of memory");
    }
    for (i = 0; i < lc->n; i++, n_ok++) {
        if (local_client_init(lc, &clients[i], lc->nodes[i].api_address, NULL,
                              1000, errmsg) != 0) {
            drctl_fail(d, "node %u: %s", lc->nodes[i].id, errmsg);
            goto out;
        }
    }
    while (client_now_ms() < deadline) {
        for (i = 0; i < lc->n; i++) {
            int status;
            if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                drctl_fail(
                    d, "node %u exited during start-up (%s %d)",
                    lc->nodes[i].id, WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                pids[i] = 0; /* reaped: never signal this pid again */
                local_print_log_tail(&lc->nodes[i], LOCAL_TAIL_LINES);
                goto out;
            }
        }
        for (i = 0, n_know = 0; i < lc->n; i++) {
            if (local__has_leader(&clients[i], one, sizeof(one))) {
                if (n_know++ == 0) {
                    snprintf(leader, size, "%s", one);
                }
            }
        }
        if (n_know > 0 && settled == 0) {
            settled = client_now_ms() + LOCAL_SETTLE_MS;
        }
        /* A leader is enough; give the others a moment to learn of it, so
         * that the first command sees a complete status anywhere. */
        if (n_know == lc->n || (settled != 0 && client_now_ms() >= settled)) {
            rv = 0;
            goto out;
        }
        client_sleep_ms(n_know > 0 ? 50 : 200);
    }
    if (settled != 0) {
        rv = 0;
        goto out;
    }
    drctl_fail(d, "no leader elected within %d s; the nodes' logs end with:",
               LOCAL_UP_WAIT_MS / 1000);
    for (i = 0; i < lc->n; i++) {
        local_print_log_tail(&lc->nodes[i], LOCAL_TAIL_LINES);
    }

out:
    for (i = 0; i < n_ok; i++) {
        client_close(&clients[i]);
    }
    free(clients);
    return rv;
}

/* PUT body to path through c, retrying while the bootstrap commits. */
static int local__put(struct client *c, const char *path, json_t *body)
{
    for (int tries = 0; tries < 50; tries++) {
        struct client_response r;
        memset(&r, 0, sizeof(r));
        if (client_request(c, "PUT", path, body, &r) == 0 && r.status == 200) {
            client_response_clear(&r);
            return 0;
        }
        client_response_clear(&r);
        client_sleep_ms(200);
    }
    return -1;
}

/* A client of lc's nodes (its API addresses, DIR/token, its TLS files). */
static int local__connect(const struct local_cluster *lc,
                          struct client *c,
                          char *errmsg)
{
    char endpoints[LOCAL_NODES_MAX * 24], token[LOCAL_PATH_MAX + 16];
    size_t len = 0;

    for (size_t i = 0; i < lc->n && len + 24 < sizeof(endpoints); i++) {
        len +=
            (size_t)snprintf(endpoints + len, sizeof(endpoints) - len, "%s%s",
                             i > 0 ? "," : "", lc->nodes[i].api_address);
    }
    local_pathf(token, sizeof(token), "%s/token", lc->dir);
    return local_client_init(lc, c, endpoints, token, 5000, errmsg);
}

/* Each region's PostgreSQL and Redis are its public endpoints: what the
 * other regions probe before a silent region counts as lost. */
static int local__region_endpoints(struct drctl *d,
                                   const struct local_cluster *lc)
{
    char errmsg[CLIENT_ERRMSG_MAX];
    struct client c;
    int rv = 0;

    if (local__connect(lc, &c, errmsg) != 0) {
        return drctl_fail(d, "region endpoints: %s", errmsg);
    }
    for (size_t i = 0; i < lc->n_regions && rv == 0; i++) {
        const struct local_region *r = &lc->regions[i];
        json_t *list = json_array(), *body;
        char path[160], url[64];
        if (r->pg_port == 0 && r->redis_port == 0) {
            json_decref(list);
            continue;
        }
        if (r->pg_port != 0) {
            snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", r->pg_port);
            json_array_append_new(list, json_string(url));
        }
        if (r->redis_port != 0) {
            snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", r->redis_port);
            json_array_append_new(list, json_string(url));
        }
        body = json_pack("{so}", "endpoints", list);
        snprintf(path, sizeof(path), "/api/regions/%s", r->name);
        if (local__put(&c, path, body) != 0) {
            rv = drctl_fail(d, "could not set the endpoints of region %s",
                            r->name);
        }
        json_decref(body);
    }
    client_close(&c);
    return rv;
}

/* With the local services: the failover's DNS step at the local
 * PowerDNS, and PostgreSQL's WAL streamed into the primary region's store
 * (its servers take replication connections from loopback). Settings are
 * replicated: set once the cluster is up, again on every up. */
static int local__settings(struct drctl *d,
                           const struct local_cluster *lc,
                           bool services)
{
    char errmsg[CLIENT_ERRMSG_MAX], api[64], server[32];
    const char *keys[] = {"dns.api_url", "dns.zone", "dns.name", "dns.servers"};
    const char *values[4];
    struct client c;
    int rv = 0;

    if (lc->dns_port == 0 && !services) {
        return 0;
    }
    snprintf(api, sizeof(api), "http://127.0.0.1:%u", lc->dns_api_port);
    snprintf(server, sizeof(server), "127.0.0.1:%u", lc->dns_port);
    values[0] = api;
    values[1] = LOCAL_DNS_ZONE;
    values[2] = LOCAL_DNS_NAME;
    values[3] = server;
    if (local__connect(lc, &c, errmsg) != 0) {
        return drctl_fail(d, "dns settings: %s", errmsg);
    }
    for (size_t k = 0; k < 4 && rv == 0 && lc->dns_port != 0; k++) {
        char path[64];
        json_t *body = json_pack("{ss}", "value", values[k]);
        snprintf(path, sizeof(path), "/api/settings/%s", keys[k]);
        if (local__put(&c, path, body) != 0) {
            rv = drctl_fail(d, "dns settings: could not set %s", keys[k]);
        }
        json_decref(body);
    }
    if (rv == 0 && services) {
        json_t *body = json_pack("{sb}", "value", 1);
        if (local__put(&c, "/api/settings/wal.stream", body) != 0) {
            rv = drctl_fail(d, "settings: could not set wal.stream");
        }
        json_decref(body);
    }
    if (rv == 0 && services) {
        /* A base backup a day, the first at once: the DR regions'
         * standbys start from it (local__standbys). */
        json_t *body = json_pack("{si}", "value", 86400);
        if (local__put(&c, "/api/settings/backup.pg_base_interval_s", body) !=
            0) {
            rv = drctl_fail(d,
                            "settings: could not set "
                            "backup.pg_base_interval_s");
        }
        json_decref(body);
    }
    if (rv == 0 && services) {
        /* Its stores are local directories: the WAL catalog can follow
         * them every minute rather than every 15. */
        json_t *body = json_pack("{si}", "value", 60);
        if (local__put(&c, "/api/settings/wal.scan_interval_s", body) != 0) {
            rv = drctl_fail(d, "settings: could not set wal.scan_interval_s");
        }
        json_decref(body);
    }
    client_close(&c);
    return rv;
}

/* Whether b (a backup of GET /api/backups) is a complete base backup with
 * a verified copy in every region of lc but the first. */
static bool local__base_everywhere(const struct local_cluster *lc,
                                   const json_t *b)
{
    const char *kind = json_string_value(json_object_get(b, "kind"));
    const char *state = json_string_value(json_object_get(b, "state"));

    if (kind == NULL || strcmp(kind, "pg_base") != 0 || state == NULL ||
        strcmp(state, "complete") != 0) {
        return false;
    }
    for (size_t i = 1; i < lc->n_regions; i++) {
        const json_t *copy;
        size_t k;
        bool verified = false;
        json_array_foreach(json_object_get(b, "copies"), k, copy)
        {
            const char *r = json_string_value(json_object_get(copy, "region"));
            const char *st = json_string_value(json_object_get(copy, "state"));
            verified = verified || (r != NULL && st != NULL &&
                                    strcmp(r, lc->regions[i].name) == 0 &&
                                    strcmp(st, "verified") == 0);
        }
        if (lc->regions[i].pg_port != 0 && !verified) {
            return false;
        }
    }
    return true;
}

/* Until the cluster's replicated health has every region's PostgreSQL up
 * again (the standbys restarted: a failover target must not look
 * degraded), at most LOCAL_UP_WAIT_MS; a warning after that. */
static void local__wait_databases(struct drctl *d,
                                  const struct local_cluster *lc)
{
    char errmsg[CLIENT_ERRMSG_MAX], down[128] = "";
    uint64_t deadline = client_now_ms() + LOCAL_UP_WAIT_MS;
    struct client c;

    if (local__connect(lc, &c, errmsg) != 0) {
        drctl_warn(d, "%s", errmsg);
        return;
    }
    do {
        struct client_response r;
        const json_t *reg;
        size_t k;
        memset(&r, 0, sizeof(r));
        snprintf(down, sizeof(down), "no answer");
        if (client_request(&c, "GET", "/api/regions", NULL, &r) == 0 &&
            r.status == 200) {
            down[0] = '\0';
            json_array_foreach(json_object_get(r.json, "regions"), k, reg)
            {
                const char *db = json_string_value(json_object_get(
                    json_object_get(reg, "services"), "database"));
                if (db != NULL && strcmp(db, "up") != 0 && down[0] == '\0') {
                    snprintf(down, sizeof(down), "%s's is %s",
                             json_string_value(json_object_get(reg, "name")),
                             db);
                }
            }
        }
        client_response_clear(&r);
        if (down[0] != '\0') {
            client_sleep_ms(500);
        }
    } while (down[0] != '\0' && client_now_ms() < deadline);
    client_close(&c);
    if (down[0] != '\0') {
        drctl_warn(d,
                   "the cluster does not see every PostgreSQL up yet (%s): "
                   "drctl health says more",
                   down);
    }
}

static void local__setenv(const char *name, const char *value, void *arg)
{
    (void)arg;
    setenv(name, value, 1);
}

/* A fresh cluster with services: each region's PostgreSQL but the
 * primary's becomes a standby replaying its own region's WAL copies
 * ([services] pg_standby in its nodes' configs), from the first base
 * backup once every region holds a verified copy. The DRCTL_* variables
 * of DIR/env are set for the restores (drctl children). */
static int local__standbys(struct drctl *d,
                           const struct local_cluster *lc,
                           const char *drnode)
{
    char errmsg[CLIENT_ERRMSG_MAX], id[128] = "", last[256] = "";
    uint64_t deadline = client_now_ms() + LOCAL_BASE_WAIT_MS;
    struct client c;
    size_t want = 0;
    int rv;

    for (size_t i = 1; i < lc->n_regions; i++) {
        want += lc->regions[i].pg_port != 0;
    }
    if (want == 0 || lc->regions[0].pg_port == 0) {
        return 0;
    }
    local_env_each(lc, local__setenv, NULL);
    if (local__connect(lc, &c, errmsg) != 0) {
        return drctl_fail(d, "standbys: %s", errmsg);
    }
    if (!d->json) {
        printf(
            "waiting for the first base backup to reach every region (the "
            "standbys start from it)\n");
        fflush(stdout);
    }
    while (id[0] == '\0') {
        struct client_response r;
        const json_t *b;
        size_t k;
        memset(&r, 0, sizeof(r));
        if (client_request(&c, "GET", "/api/backups", NULL, &r) == 0 &&
            r.status == 200) {
            json_array_foreach(json_object_get(r.json, "backups"), k, b)
            {
                const char *kind =
                    json_string_value(json_object_get(b, "kind"));
                const char *err =
                    json_string_value(json_object_get(b, "error"));
                if (local__base_everywhere(lc, b)) {
                    snprintf(id, sizeof(id), "%s",
                             json_string_value(json_object_get(b, "id")));
                } else if (kind != NULL && strcmp(kind, "pg_base") == 0 &&
                           err != NULL && err[0] != '\0') {
                    snprintf(last, sizeof(last), "%s", err);
                }
            }
        }
        client_response_clear(&r);
        if (id[0] == '\0' && client_now_ms() >= deadline) {
            client_close(&c);
            return drctl_fail(d,
                              "no base backup with a verified copy in every "
                              "region after %d s (%s): the DR regions' "
                              "PostgreSQL stay plain servers; drctl backups "
                              "list and replication status say more",
                              LOCAL_BASE_WAIT_MS / 1000,
                              last[0] != '\0' ? last : "none finished");
        }
        if (id[0] == '\0') {
            client_sleep_ms(500);
        }
    }
    client_close(&c);
    if (!d->json) {
        printf("base backup %s is in every region: making the standbys\n", id);
        fflush(stdout);
    }
    {
        const char *names[LOCAL_NODES_MAX];
        size_t n = 0;
        for (size_t i = 1; i < lc->n_regions && n < LOCAL_NODES_MAX; i++) {
            if (lc->regions[i].pg_port != 0) {
                names[n++] = lc->regions[i].name;
            }
        }
        rv = local_services_standbys(d, lc, names, n, id, drnode);
    }
    if (rv == 0) {
        local__wait_databases(d, lc);
    }
    return rv;
}

static void local__print_up(const struct drctl *d,
                            const struct local_cluster *lc,
                            const char *env,
                            const char *leader,
                            bool restarted,
                            bool services)
{
    size_t i;

    if (d->json) {
        json_t *o = json_object(), *eps = json_array();
        char path[LOCAL_PATH_MAX + 16];
        for (i = 0; i < lc->n; i++) {
            char url[80];
            snprintf(url, sizeof(url), "%s://%s", local_scheme(lc),
                     lc->nodes[i].api_address);
            json_array_append_new(eps, json_string(url));
        }
        json_object_set_new(o, "dir", json_string(lc->dir));
        json_object_set_new(o, "nodes", json_integer((json_int_t)lc->n));
        json_object_set_new(o, "restarted", json_boolean(restarted));
        json_object_set_new(o, "endpoints", eps);
        snprintf(path, sizeof(path), "%s/token", lc->dir);
        json_object_set_new(o, "token_file", json_string(path));
        snprintf(path, sizeof(path), "%s/env", lc->dir);
        json_object_set_new(o, "env_file", json_string(path));
        snprintf(path, sizeof(path), "%s/" LOCAL_SERVICES_JSON, lc->dir);
        json_object_set_new(o, "services_file", json_string(path));
        json_object_set_new(o, "services", local_services_json(lc));
        drctl_print_json(o);
        json_decref(o);
        return;
    }
    printf("\n%s %zu nodes in %s; leader: %s.\n\n%s\n",
           restarted ? "Restarted" : "Started", lc->n, lc->dir, leader, env);
    if (services) {
        printf("Services (%s/" LOCAL_SERVICES_JSON "):\n", lc->dir);
        for (i = 0; i < lc->n_regions; i++) {
            const struct local_region *r = &lc->regions[i];
            printf("  %s:", r->name);
            if (r->pg_port != 0) {
                printf(" pg \"" LOCAL_PG_CONNINFO_FMT "\"", r->pg_port);
            }
            if (r->redis_port != 0) {
                printf(" redis 127.0.0.1:%u", r->redis_port);
            }
            printf(" store %s\n", r->store);
        }
        printf("\n");
    }
    {
        char self[LOCAL_PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        const char *drctl = "drctl";
        if (n > 0) {
            self[n] = '\0';
            drctl = self;
        }
        printf("Use it:   set -a; . %s/env; set +a; %s status\n", lc->dir,
               drctl);
        printf(
            "Look at:  %s/node*/drnode.log, %s://%s/metrics, "
            "%s://%s/api/health\n",
            lc->dir, local_scheme(lc), lc->nodes[0].api_address,
            local_scheme(lc), lc->nodes[0].api_address);
        if (lc->tls) {
            printf("TLS:      CA %s/" LOCAL_TLS_DIR
                   "/ca.crt; the API asks for "
                   "a client certificate (%s/" LOCAL_TLS_DIR
                   "/client-drctl.crt, in DIR/env)\n",
                   lc->dir, lc->dir);
        }
        printf("Stop it:  %s local down --dir %s\n", drctl, lc->dir);
    }
}

static int local__up(struct drctl *d, int argc, char **argv)
{
    const char *dir = NULL, *regions_opt = NULL, *per_opt = NULL;
    const char *drnode_opt = NULL, *store_opt = NULL, *probe_opt = NULL;
    bool no_services = false, services = false, tls = false;
    bool no_standbys = false;
    const struct drctl_opt opts[] = {
        {"--dir", &dir, NULL},
        {"--tls", NULL, &tls},
        {"--regions", &regions_opt, NULL},
        {"--nodes-per-region", &per_opt, NULL},
        {"--drnode", &drnode_opt, NULL},
        {"--store", &store_opt, NULL},
        {"--no-services", NULL, &no_services},
        {"--no-standbys", NULL, &no_standbys},
        {"--probe-interval-ms", &probe_opt, NULL},
        {NULL, NULL, NULL},
    };
    unsigned flags;
    int64_t probe_ms = 0;
    char regions[LOCAL_NODES_MAX][64], drnode[LOCAL_PATH_MAX];
    char errmsg[LOCAL_ERRMSG_MAX], env[LOCAL_NODES_MAX * 40 + 2048];
    char leader[128] = "";
    struct local_cluster *lc;
    pid_t pids[LOCAL_NODES_MAX] = {0};
    size_t n_regions, i;
    int64_t per = 1;
    bool restarted;
    int rv;

    rv = drctl_parse_opts(d, argc, argv, opts);
    if (rv != 0) {
        return rv;
    }
    if (dir == NULL) {
        return drctl_usage_error(d, "missing --dir DIR");
    }
    rv = local__parse_regions(
        d, regions_opt != NULL ? regions_opt : LOCAL_DEFAULT_REGIONS, regions,
        &n_regions);
    if (rv != 0) {
        return rv;
    }
    if (per_opt != NULL &&
        (rv = drctl_parse_int(d, "--nodes-per-region", per_opt, 1,
                              LOCAL_NODES_MAX, &per)) != 0) {
        return rv;
    }
    if (probe_opt != NULL &&
        (rv = drctl_parse_int(d, "--probe-interval-ms", probe_opt, 100, 3600000,
                              &probe_ms)) != 0) {
        return rv;
    }
    if (n_regions * (size_t)per > LOCAL_NODES_MAX) {
        return drctl_usage_error(
            d, "%zu regions of %d nodes: at most %d nodes in all", n_regions,
            (int)per, LOCAL_NODES_MAX);
    }
    if (store_opt != NULL && strcmp(store_opt, "file") != 0 &&
        strcmp(store_opt, "s3") != 0) {
        return drctl_usage_error(d, "--store: \"%s\" is neither file nor s3",
                                 store_opt);
    }
    flags = no_services ? 0 : LOCAL_WITH_SERVICES;
    if (store_opt != NULL && strcmp(store_opt, "s3") == 0) {
        flags |= LOCAL_WITH_S3;
        for (i = 0; i < n_regions; i++) {
            if (local_services_check_bucket(regions[i], errmsg) != 0) {
                return drctl_usage_error(d, "%s", errmsg);
            }
        }
    }

    if (local_find_drnode(drnode_opt, drnode, sizeof(drnode), errmsg) != 0) {
        return drctl_fail(d, "%s", errmsg);
    }
    if (!no_services && local_services_check_path(dir, errmsg) != 0) {
        return drctl_fail(d, "%s", errmsg); /* before anything is made */
    }
    rv = local__open(d, dir, true, &lc);
    if (rv != 0) {
        return rv;
    }
    restarted = lc->n > 0;
    if (restarted) {
        char what[96];
        pid_t pid;
        for (i = 0; i < lc->n; i++) {
            if (local_running(&lc->nodes[i], &pid)) {
                rv = drctl_fail(
                    d,
                    "%s already has running nodes (node %u, pid %ld); stop "
                    "them with: drctl local down --dir %s",
                    lc->dir, lc->nodes[i].id, (long)pid, lc->dir);
                goto out;
            }
        }
        if (local_services_running(lc, what, sizeof(what), &pid)) {
            rv = drctl_fail(d,
                            "%s already has running services (%s, pid %ld); "
                            "stop them with: drctl local down --dir %s",
                            lc->dir, what, (long)pid, lc->dir);
            goto out;
        }
        if (regions_opt != NULL || per_opt != NULL || store_opt != NULL ||
            probe_opt != NULL || (tls && !lc->tls) || no_standbys) {
            drctl_warn(
                d,
                "%s holds a cluster from an earlier up: restarting it as it "
                "was; --regions, --nodes-per-region, --store, --tls, "
                "--no-standbys and --probe-interval-ms are ignored",
                lc->dir);
        }
    } else {
        lc->probe_interval_ms = (unsigned)probe_ms;
        lc->tls = tls;
        lc->no_standbys = no_standbys;
        if (local_create(lc, regions, n_regions, (unsigned)per, flags,
                         errmsg) != 0 ||
            local_load(lc, errmsg) != 0) {
            rv = drctl_fail(d, "%s", errmsg);
            goto out;
        }
        lc->no_standbys = no_standbys;
    }

    /* The services first: the nodes' jobs use them. --no-services on a
     * restart leaves PostgreSQL and Redis stopped (services.json says
     * so); the nodes' configs still name them. */
    for (i = 0; no_services && i < lc->n_regions; i++) {
        lc->regions[i].pg_port = 0;
        lc->regions[i].redis_port = 0;
    }
    services = local_services_configured(lc);
    rv = local_services_start(d, lc, NULL, drnode);
    if (rv != 0) {
        goto out;
    }

    for (i = 0; i < lc->n; i++) {
        const struct local_node *node = &lc->nodes[i];
        if (local_start(node, drnode, &pids[i], errmsg) != 0) {
            rv = drctl_fail(d, "node %u: %s", node->id, errmsg);
            local__stop_all(d, lc, pids, false);
            local_services_stop(d, lc, NULL, false, false);
            goto out;
        }
        if (!d->json) {
            printf("started node %u (%s) raft %s api %s pid %ld\n", node->id,
                   node->region, node->raft_address, node->api_address,
                   (long)pids[i]);
        }
    }
    fflush(stdout);
    rv = local__wait_leader(d, lc, pids, leader, sizeof(leader));
    if (rv != 0) {
        local__stop_all(d, lc, pids, false);
        local_services_stop(d, lc, NULL, false, false);
        fprintf(stderr,
                "drctl: %s: stopped the nodes%s; their logs are "
                "%s/node*/drnode.log\n",
                d->cmd, services ? " and services" : "", lc->dir);
        goto out;
    }
    if ((rv = local__settings(d, lc, services)) != 0 ||
        (rv = local__region_endpoints(d, lc)) != 0) {
        goto out;
    }
    if (local_write_env(lc, env, sizeof(env), errmsg) != 0) {
        rv = drctl_fail(d, "%s", errmsg);
        goto out;
    }
    if (!restarted && services && !lc->no_standbys &&
        (rv = local__standbys(d, lc, drnode)) != 0) {
        goto out;
    }
    local__print_up(d, lc, env, leader, restarted, services);

out:
    free(lc);
    return rv;
}

/* Parse the arguments of local down/status (--dir only) or kill/start
 * (--dir NODE into *id; --drnode too when drnode is not NULL), then load the
 * cluster in DIR into a new *lc (free it). */
static int local__open_args(struct drctl *d,
                            int argc,
                            char **argv,
                            unsigned *id,
                            const char **region,
                            const char **drnode,
                            struct local_cluster **lc)
{
    const char *dir = NULL;
    const struct drctl_opt opts[] = {
        {"--dir", &dir, NULL},
        /* A NULL name ends the table: --region (kill, start) comes before
         * --drnode (start only). */
        {region != NULL ? "--region" : NULL, region, NULL},
        {drnode != NULL ? "--drnode" : NULL, drnode, NULL},
        {NULL, NULL, NULL},
    };
    const char *pos[DRCTL_POS_MAX];
    int want_node = id != NULL ? 1 : 0;
    int64_t v;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, opts, pos, 0, want_node, "NODE", &n);
    if (rv != 0) {
        return rv;
    }
    if (dir == NULL) {
        return drctl_usage_error(d, "missing --dir DIR");
    }
    if (id != NULL) {
        /* kill/start: one node, or every node of --region R. */
        if ((n == 1) == (*region != NULL)) {
            return drctl_usage_error(d, "give either NODE or --region R");
        }
        if (n == 1) {
            rv = drctl_parse_int(d, "NODE", pos[0], 1, UINT_MAX, &v);
            if (rv != 0) {
                return rv;
            }
            *id = (unsigned)v;
        }
    }
    return local__open(d, dir, false, lc);
}

static int local__down(struct drctl *d, int argc, char **argv)
{
    struct local_cluster *lc;
    size_t stopped, services;
    int rv;

    rv = local__open_args(d, argc, argv, NULL, NULL, NULL, &lc);
    if (rv != 0) {
        return rv;
    }
    stopped = local__stop_all(d, lc, NULL, true);
    services = local_services_stop(d, lc, NULL, false, true);
    if (d->json) {
        json_t *o = json_pack("{s:s,s:I,s:I}", "dir", lc->dir, "stopped",
                              (json_int_t)stopped, "services_stopped",
                              (json_int_t)services);
        drctl_print_json(o);
        json_decref(o);
    } else {
        if (stopped == 0) {
            printf("no node of %s was running\n", lc->dir);
        } else {
            printf("stopped %zu node%s of %s\n", stopped,
                   stopped == 1 ? "" : "s", lc->dir);
        }
        if (services > 0) {
            printf("stopped %zu service%s of %s\n", services,
                   services == 1 ? "" : "s", lc->dir);
        }
    }
    free(lc);
    return 0;
}

/* Role of a running node from its /api/status, or "unreachable". */
static void local__role(const struct local_cluster *lc,
                        const struct local_node *n,
                        char *buf,
                        size_t size)
{
    struct client c;
    struct client_response r;
    char errmsg[CLIENT_ERRMSG_MAX];
    const char *role;

    snprintf(buf, size, "unreachable");
    if (local_client_init(lc, &c, n->api_address, NULL, 1000, errmsg) != 0) {
        return;
    }
    if (client_request(&c, "GET", "/api/status", NULL, &r) == 0) {
        role = json_string_value(json_object_get(r.json, "role"));
        if (r.status == 200 && role != NULL) {
            snprintf(buf, size, "%s", role);
        }
        client_response_clear(&r);
    }
    client_close(&c);
}

static const char *local__fmt_state(const json_t *v, char *buf, size_t size)
{
    snprintf(buf, size, "%s", json_is_true(v) ? "running" : "stopped");
    return buf;
}

static int local__status(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_column cols[] = {
        {"NODE", "id", drctl_fmt_value, 32},
        {"REGION", "region", drctl_fmt_value, 64},
        {"RAFT", "raft_address", drctl_fmt_value, 64},
        {"API", "api_address", drctl_fmt_value, 64},
        {"PID", "pid", drctl_fmt_value, 32},
        {"STATE", "running", local__fmt_state, 8},
        {"ROLE", "role", drctl_fmt_value, 32},
        {NULL, NULL, NULL, 0},
    };
    static const struct drctl_column svc_cols[] = {
        {"SERVICE", "service", drctl_fmt_value, 16},
        {"REGION", "region", drctl_fmt_value, 64},
        {"ADDRESS", "address", drctl_fmt_value, 32},
        {"PID", "pid", drctl_fmt_value, 32},
        {"STATE", "running", local__fmt_state, 8},
        {"LOG", "log", drctl_fmt_value, 1200},
        {NULL, NULL, NULL, 0},
    };
    struct local_cluster *lc;
    json_t *arr, *o;
    size_t i;
    int rv;

    rv = local__open_args(d, argc, argv, NULL, NULL, NULL, &lc);
    if (rv != 0) {
        return rv;
    }
    arr = json_array();
    for (i = 0; i < lc->n; i++) {
        const struct local_node *n = &lc->nodes[i];
        char role[32] = "-";
        pid_t pid;
        bool running = local_running(n, &pid);

        if (running) {
            local__role(lc, n, role, sizeof(role));
        }
        json_array_append_new(
            arr,
            json_pack("{s:I,s:s,s:s,s:s,s:o,s:b,s:o}", "id", (json_int_t)n->id,
                      "region", n->region, "raft_address", n->raft_address,
                      "api_address", n->api_address, "pid",
                      running ? json_integer(pid) : json_null(), "running",
                      running, "role",
                      running ? json_string(role) : json_null()));
    }
    o = json_pack("{s:s,s:o,s:o}", "dir", lc->dir, "nodes", arr, "services",
                  local_services_status(lc));
    if (d->json) {
        drctl_print_json(o);
    } else {
        drctl_print_objects(json_object_get(o, "nodes"), cols);
        if (json_array_size(json_object_get(o, "services")) > 0) {
            printf("\n");
            drctl_print_objects(json_object_get(o, "services"), svc_cols);
        }
    }
    json_decref(o);
    free(lc);
    return 0;
}

/* kill -9 node n (running), and wait until it is gone. */
static int local__kill_node(struct drctl *d, struct local_node *n, pid_t pid)
{
    char path[LOCAL_PATH_MAX + 64];
    unsigned long long born = local_proc_start(pid);
    int i;

    if (kill(pid, SIGKILL) != 0) {
        return drctl_fail(d, "node %u: kill %ld: %s", n->id, (long)pid,
                          strerror(errno));
    }
    for (i = 0; i < 250 && local__alive(pid, false, born); i++) {
        client_sleep_ms(20);
    }
    local_node_file(n, "drnode.pid", path, sizeof(path));
    unlink(path);
    return 0;
}

/* Start node n; fail when it exits at once (bad config, busy port). */
static int local__start_one(struct drctl *d,
                            struct local_node *n,
                            const char *drnode,
                            pid_t *pid)
{
    char errmsg[LOCAL_ERRMSG_MAX];
    int i;

    if (local_start(n, drnode, pid, errmsg) != 0) {
        return drctl_fail(d, "node %u: %s", n->id, errmsg);
    }
    for (i = 0; i < 10; i++) {
        int status;
        client_sleep_ms(50);
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            int rv = drctl_fail(
                d, "node %u exited at once (%s %d)", n->id,
                WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            local_print_log_tail(n, LOCAL_TAIL_LINES);
            return rv;
        }
    }
    return 0;
}

/* kill/start --region R: the data center goes (every node of R kill -9,
 * then its PostgreSQL and Redis, abruptly) or comes back (its services,
 * then its nodes). */
static int local__region(struct drctl *d,
                         struct local_cluster *lc,
                         const char *region,
                         const char *drnode_opt,
                         bool start)
{
    char errmsg[LOCAL_ERRMSG_MAX], drnode[LOCAL_PATH_MAX];
    json_t *nodes = json_array(), *o;
    size_t i, found = 0, services = 0;
    int rv = 0;

    for (i = 0; i < lc->n; i++) {
        found += strcmp(lc->nodes[i].region, region) == 0;
    }
    if (found == 0) {
        json_decref(nodes);
        return drctl_fail(d, "%s has no node in region %s", lc->dir, region);
    }
    if (start) {
        if (local_find_drnode(drnode_opt, drnode, sizeof(drnode), errmsg) !=
            0) {
            json_decref(nodes);
            return drctl_fail(d, "%s", errmsg);
        }
        if (local_services_configured(lc) &&
            (rv = local_services_start(d, lc, region, drnode)) != 0) {
            json_decref(nodes);
            return rv;
        }
    } else {
        for (i = 0; i < lc->n && rv == 0; i++) {
            struct local_node *n = &lc->nodes[i];
            pid_t pid;
            if (strcmp(n->region, region) == 0 && local_running(n, &pid)) {
                rv = local__kill_node(d, n, pid);
                json_array_append_new(nodes, json_integer(n->id));
            }
        }
        if (rv == 0) {
            services = local_services_stop(d, lc, region, true, false);
        }
    }
    for (i = 0; start && i < lc->n && rv == 0; i++) {
        struct local_node *n = &lc->nodes[i];
        pid_t pid;
        if (strcmp(n->region, region) == 0 && !local_running(n, &pid)) {
            rv = local__start_one(d, n, drnode, &pid);
            json_array_append_new(nodes, json_integer(n->id));
        }
    }
    if (rv != 0) {
        json_decref(nodes);
        return rv;
    }
    o = json_pack("{s:s,s:s,s:o,s:I}", "region", region, "state",
                  start ? "running" : "killed", "nodes", nodes,
                  "services_stopped", (json_int_t)services);
    if (d->json) {
        drctl_print_json(o);
    } else if (start) {
        printf("region %s started: %zu node%s\n", region,
               json_array_size(nodes), json_array_size(nodes) == 1 ? "" : "s");
    } else {
        printf("region %s killed: %zu node%s and %zu service%s\n", region,
               json_array_size(nodes), json_array_size(nodes) == 1 ? "" : "s",
               services, services == 1 ? "" : "s");
    }
    json_decref(o);
    return 0;
}

static int local__kill_or_start(struct drctl *d,
                                int argc,
                                char **argv,
                                bool start)
{
    char errmsg[LOCAL_ERRMSG_MAX], drnode[LOCAL_PATH_MAX];
    const char *drnode_opt = NULL, *region = NULL;
    struct local_cluster *lc;
    struct local_node *n;
    unsigned id = 0;
    pid_t pid;
    int rv;

    rv = local__open_args(d, argc, argv, &id, &region,
                          start ? &drnode_opt : NULL, &lc);
    if (rv != 0) {
        return rv;
    }
    if (region != NULL) {
        rv = local__region(d, lc, region, drnode_opt, start);
        free(lc);
        return rv;
    }
    n = local__find(lc, id);
    if (n == NULL) {
        rv = drctl_fail(d, "%s has no node %u", lc->dir, id);
        goto out;
    }
    if (start) {
        if (local_running(n, &pid)) {
            rv = drctl_fail(d, "node %u is already running (pid %ld)", id,
                            (long)pid);
            goto out;
        }
        if (local_find_drnode(drnode_opt, drnode, sizeof(drnode), errmsg) !=
            0) {
            rv = drctl_fail(d, "node %u: %s", id, errmsg);
            goto out;
        }
        if ((rv = local__start_one(d, n, drnode, &pid)) != 0) {
            goto out;
        }
    } else {
        if (!local_running(n, &pid)) {
            rv = drctl_fail(d, "node %u is not running", id);
            goto out;
        }
        if ((rv = local__kill_node(d, n, pid)) != 0) {
            goto out;
        }
    }
    if (d->json) {
        json_t *o =
            json_pack("{s:I,s:I,s:s}", "node", (json_int_t)id, "pid",
                      (json_int_t)pid, "state", start ? "running" : "killed");
        drctl_print_json(o);
        json_decref(o);
    } else {
        printf("node %u %s (pid %ld)\n", id, start ? "started" : "killed",
               (long)pid);
    }

out:
    free(lc);
    return rv;
}

static int local__kill(struct drctl *d, int argc, char **argv)
{
    return local__kill_or_start(d, argc, argv, false);
}

static int local__start_node(struct drctl *d, int argc, char **argv)
{
    return local__kill_or_start(d, argc, argv, true);
}

int drctl_cmd_local(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"up", local__up},
        {"down", local__down},
        {"status", local__status},
        {"kill", local__kill},
        {"start", local__start_node},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}
