/* Checks across the sections of a parsed config (pure: no I/O). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/memlimit.h"
#include "config/config.h"
#include "config/internal.h"

/* Key i of a section was given and is valid. */
static bool key_ok(const struct config__section *st, int i)
{
    return !st->bad_name && st->key_line[i] != 0 && !(st->bad & (1u << i));
}

/* Key i of a section holds a valid value, given or default. */
static bool value_ok(const struct config__section *st, int i)
{
    return !(st->bad & (1u << i));
}

static void check_required(struct config__parser *p,
                           const struct config__section *st,
                           const struct config__key *keys,
                           size_t n_keys)
{
    size_t i;

    for (i = 0; i < n_keys; i++) {
        if (keys[i].required && st->key_line[i] == 0) {
            config__problem(p, 0, "[%s] missing required key \"%s\"", st->label,
                            keys[i].name);
        }
    }
}

static void check_raft(struct config__parser *p)
{
    const struct config *c = p->c;
    const struct config__section *st = &p->raft;
    int line;

    if (!value_ok(st, CONFIG__RAFT_ELECTION) ||
        !value_ok(st, CONFIG__RAFT_HEARTBEAT)) {
        return;
    }
    if ((uint64_t)c->heartbeat_timeout_ms * 2 <= c->election_timeout_ms) {
        return;
    }
    line = st->key_line[CONFIG__RAFT_HEARTBEAT] != 0
               ? st->key_line[CONFIG__RAFT_HEARTBEAT]
               : st->key_line[CONFIG__RAFT_ELECTION];
    config__problem(p, line,
                    "[raft] heartbeat_timeout_ms %u must be at most half of "
                    "election_timeout_ms %u",
                    c->heartbeat_timeout_ms, c->election_timeout_ms);
}

/* [probes]: the timeout fits in the interval, and a key file goes with the
 * URL it authenticates to. */
static void check_probes(struct config__parser *p)
{
    static const struct
    {
        int key_file;
        int url;
        size_t key_file_off;
        size_t url_off;
    } pairs[] = {
        {CONFIG__PROBES_OPENAI_KEY_FILE, CONFIG__PROBES_OPENAI_URL,
         offsetof(struct config, probe_openai_key_file),
         offsetof(struct config, probe_openai_url)},
        {CONFIG__PROBES_ANTHROPIC_KEY_FILE, CONFIG__PROBES_ANTHROPIC_URL,
         offsetof(struct config, probe_anthropic_key_file),
         offsetof(struct config, probe_anthropic_url)},
    };
    const struct config *c = p->c;
    const struct config__section *st = &p->probes;
    size_t i;

    if (value_ok(st, CONFIG__PROBES_INTERVAL) &&
        value_ok(st, CONFIG__PROBES_TIMEOUT) &&
        c->probe_timeout_ms >= c->probe_interval_ms) {
        int line = st->key_line[CONFIG__PROBES_TIMEOUT] != 0
                       ? st->key_line[CONFIG__PROBES_TIMEOUT]
                       : st->key_line[CONFIG__PROBES_INTERVAL];
        config__problem(
            p, line, "[probes] timeout_ms %u must be less than interval_ms %u",
            c->probe_timeout_ms, c->probe_interval_ms);
    }
    for (i = 0; i < CONFIG__ARRAY_SIZE(pairs); i++) {
        const char *key_file = (const char *)c + pairs[i].key_file_off;
        const char *url = (const char *)c + pairs[i].url_off;

        if (!key_ok(st, pairs[i].key_file) || key_file[0] == '\0' ||
            !value_ok(st, pairs[i].url) || url[0] != '\0') {
            continue;
        }
        config__problem(p, st->key_line[pairs[i].key_file],
                        "[probes] %s is set but %s is not: the key would "
                        "never be used",
                        config__probes_keys[pairs[i].key_file].name,
                        config__probes_keys[pairs[i].url].name);
    }
}

/* An address a member or the node listens on. */
struct address
{
    const struct config__section *st;
    uint64_t id;
    const char *key;
    const char *addr;
    int line;
};

static size_t member_addresses(const struct config__parser *p,
                               struct address *out)
{
    const struct config *c = p->c;
    size_t n = 0;
    size_t i;

    for (i = 0; i < c->n_members; i++) {
        const struct config__section *st = &p->members[i];
        if (key_ok(st, CONFIG__MEMBER_RAFT_ADDRESS)) {
            out[n++] =
                (struct address){st, c->members[i].id, "raft_address",
                                 c->members[i].raft_address,
                                 st->key_line[CONFIG__MEMBER_RAFT_ADDRESS]};
        }
        if (key_ok(st, CONFIG__MEMBER_API_ADDRESS)) {
            out[n++] = (struct address){
                st, c->members[i].id, "api_address", c->members[i].api_address,
                st->key_line[CONFIG__MEMBER_API_ADDRESS]};
        }
    }
    return n;
}

/* a uses an address that b, listed before it, already uses. */
static void address_clash(struct config__parser *p,
                          const struct address *a,
                          const struct address *b)
{
    if (a->st == b->st) {
        config__problem(p, a->line, "[%s] %s \"%s\" is the same as its %s",
                        a->st->label, a->key, a->addr, b->key);
    } else if (strcmp(a->key, b->key) == 0) {
        config__problem(p, a->line,
                        "[%s] %s \"%s\" is also used by member %" PRIu64,
                        a->st->label, a->key, a->addr, b->id);
    } else {
        config__problem(p, a->line,
                        "[%s] %s \"%s\" is also used by member %" PRIu64
                        " as %s",
                        a->st->label, a->key, a->addr, b->id, b->key);
    }
}

static void check_members(struct config__parser *p)
{
    const struct config *c = p->c;
    struct address addrs[2 * CONFIG__ARRAY_SIZE(((struct config *)0)->members)];
    size_t n;
    size_t i, j;

    for (i = 0; i < c->n_members; i++) {
        if (!p->members[i].bad_name) { /* its header is wrong already */
            check_required(p, &p->members[i], config__member_keys,
                           CONFIG__ARRAY_SIZE(config__member_keys));
        }
    }
    n = member_addresses(p, addrs);
    for (i = 1; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(addrs[i].addr, addrs[j].addr) == 0) {
                address_clash(p, &addrs[i], &addrs[j]);
                break;
            }
        }
    }
}

static const struct config_member *find_member(const struct config__parser *p,
                                               uint64_t id,
                                               size_t *index)
{
    size_t i;

    for (i = 0; i < p->c->n_members; i++) {
        if (!p->members[i].bad_name && p->c->members[i].id == id) {
            *index = i;
            return &p->c->members[i];
        }
    }
    return NULL;
}

/* The node's own entry in the member list must say what [node] says. */
static void check_node_entry(struct config__parser *p,
                             const struct config_member *m,
                             const struct config__section *mst)
{
    static const struct
    {
        int node_key;
        int member_key;
        size_t node_off;
        size_t member_off;
    } pairs[] = {
        {CONFIG__NODE_REGION, CONFIG__MEMBER_REGION,
         offsetof(struct config, region),
         offsetof(struct config_member, region)},
        {CONFIG__NODE_RAFT_ADDRESS, CONFIG__MEMBER_RAFT_ADDRESS,
         offsetof(struct config, raft_address),
         offsetof(struct config_member, raft_address)},
        {CONFIG__NODE_API_ADDRESS, CONFIG__MEMBER_API_ADDRESS,
         offsetof(struct config, api_address),
         offsetof(struct config_member, api_address)},
    };
    const struct config__section *nst = &p->node;
    size_t i;

    for (i = 0; i < CONFIG__ARRAY_SIZE(pairs); i++) {
        const char *nv = (const char *)p->c + pairs[i].node_off;
        const char *mv = (const char *)m + pairs[i].member_off;
        const char *key = config__node_keys[pairs[i].node_key].name;

        if (!key_ok(nst, pairs[i].node_key) ||
            !key_ok(mst, pairs[i].member_key) || strcmp(nv, mv) == 0) {
            continue;
        }
        config__problem(p, nst->key_line[pairs[i].node_key],
                        "[node] %s \"%s\" differs from [%s] %s \"%s\"", key, nv,
                        mst->label, key, mv);
    }
}

/* A node not in the member list must not reuse a member's address. */
static void check_node_addresses(struct config__parser *p)
{
    static const int keys[] = {CONFIG__NODE_RAFT_ADDRESS,
                               CONFIG__NODE_API_ADDRESS};
    struct address
        addrs[2 * CONFIG__ARRAY_SIZE(((struct config *)0)->members) + 2];
    size_t n = member_addresses(p, addrs);
    size_t first = n;
    size_t i, j;

    for (i = 0; i < CONFIG__ARRAY_SIZE(keys); i++) {
        if (key_ok(&p->node, keys[i])) {
            const char *addr = keys[i] == CONFIG__NODE_RAFT_ADDRESS
                                   ? p->c->raft_address
                                   : p->c->api_address;
            addrs[n++] = (struct address){&p->node, p->c->id,
                                          config__node_keys[keys[i]].name, addr,
                                          p->node.key_line[keys[i]]};
        }
    }
    for (i = first; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(addrs[i].addr, addrs[j].addr) == 0) {
                address_clash(p, &addrs[i], &addrs[j]);
                break;
            }
        }
    }
}

static void check_node(struct config__parser *p)
{
    const struct config *c = p->c;
    const struct config__section *st = &p->node;
    const struct config_member *m = NULL;
    size_t index = 0;

    if (st->line == 0) {
        config__problem(p, 0, "missing section [node]");
        return;
    }
    check_required(p, st, config__node_keys,
                   CONFIG__ARRAY_SIZE(config__node_keys));
    if (!key_ok(st, CONFIG__NODE_ID)) {
        return;
    }
    m = find_member(p, c->id, &index);
    if (m != NULL) {
        check_node_entry(p, m, &p->members[index]);
    } else {
        check_node_addresses(p);
    }
    if (!value_ok(st, CONFIG__NODE_JOIN) || c->join) {
        return;
    }
    if (c->n_members == 0) {
        config__problem(
            p, 0,
            "no [member.*] section: with join = false this node bootstraps the "
            "cluster and needs the initial member list");
    } else if (m == NULL) {
        config__problem(
            p, st->key_line[CONFIG__NODE_ID],
            "[node] id %" PRIu64
            " is not in the bootstrap member list and join is false",
            c->id);
    }
}

static struct config_region *find_region(struct config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n_regions; i++) {
        if (strcmp(c->regions[i].name, name) == 0) {
            return &c->regions[i];
        }
    }
    return NULL;
}

/* Add the regions that members name without a [region.*] section, then
 * check or choose the primary region. */
static void check_regions(struct config__parser *p)
{
    struct config *c = p->c;
    const struct config__section *bst = &p->bootstrap;
    const struct config_member *lowest = NULL;
    size_t i;

    for (i = 0; i < c->n_members; i++) {
        const struct config_member *m = &c->members[i];
        struct config_region *r;

        if (!key_ok(&p->members[i], CONFIG__MEMBER_REGION)) {
            continue;
        }
        if (lowest == NULL || m->id < lowest->id) {
            lowest = m;
        }
        if (find_region(c, m->region) != NULL) {
            continue;
        }
        if (c->n_regions == CONFIG__ARRAY_SIZE(c->regions)) {
            config__problem(
                p, p->members[i].key_line[CONFIG__MEMBER_REGION],
                "[%s] region \"%s\" is one region too many (at most %zu)",
                p->members[i].label, m->region, CONFIG__ARRAY_SIZE(c->regions));
            continue;
        }
        r = &c->regions[c->n_regions++];
        memset(r, 0, sizeof(*r));
        memcpy(r->name, m->region, sizeof(r->name));
    }
    if (key_ok(bst, CONFIG__BOOTSTRAP_PRIMARY)) {
        if (find_region(c, c->primary_region) == NULL) {
            config__problem(
                p, bst->key_line[CONFIG__BOOTSTRAP_PRIMARY],
                "[bootstrap] primary_region \"%s\" is not a region: no "
                "[region.%s] section and no member in it",
                c->primary_region, c->primary_region);
        }
    } else if (bst->key_line[CONFIG__BOOTSTRAP_PRIMARY] == 0 &&
               lowest != NULL) {
        memcpy(c->primary_region, lowest->region, sizeof(c->primary_region));
    }
}

/* [tls]: cert and key go together, a server certificate needs the CA
 * that verifies the other members, client_ca needs a server certificate,
 * and every file is named by an absolute path (a service's working
 * directory is not the operator's). */
static void check_tls(struct config__parser *p)
{
    const struct config *c = p->c;
    const struct config__section *st = &p->tls;
    static const char *const names[] = {"cert", "key", "ca", "client_ca"};
    const char *const vals[] = {c->tls_cert, c->tls_key, c->tls_ca,
                                c->tls_client_ca};
    int line = st->line;

    for (size_t i = 0; i < 4; i++) {
        if (vals[i][0] != '\0' && vals[i][0] != '/') {
            config__problem(p, st->key_line[i],
                            "[tls] %s \"%.200s\" must be an absolute path",
                            names[i], vals[i]);
        }
    }
    if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
        config__problem(
            p, line, "[tls] cert and key go together: %s is set, %s is not",
            c->tls_cert[0] ? "cert" : "key", c->tls_cert[0] ? "key" : "cert");
    }
    if (c->tls_cert[0] != '\0' && c->tls_ca[0] == '\0') {
        config__problem(p, line,
                        "[tls] cert needs ca: the cluster CA that verifies "
                        "the other members' certificates");
    }
    if (c->tls_cert[0] == '\0' && c->tls_key[0] == '\0' &&
        (c->tls_ca[0] != '\0' || c->tls_client_ca[0] != '\0')) {
        config__problem(p, line,
                        "[tls] %s without cert and key: the API would still "
                        "serve plain HTTP",
                        c->tls_ca[0] ? "ca" : "client_ca");
    }
}

/* [services] wal_copies: "all", or other regions of this file, each with
 * an object_store, none twice. */
static void check_wal_copies(struct config__parser *p)
{
    struct config *c = p->c;
    const struct config__section *st = &p->services;
    int line = st->key_line[CONFIG__SERVICES_WAL_COPIES];
    char list[sizeof(c->wal_copies)], *rest = list, *t;

    c->n_wal_copies = 0;
    if (!key_ok(st, CONFIG__SERVICES_WAL_COPIES) || c->wal_copies[0] == '\0') {
        return;
    }
    if (strcmp(c->wal_copies, "all") == 0) {
        for (size_t i = 0; i < c->n_regions; i++) {
            const struct config_region *r = &c->regions[i];
            if (strcmp(r->name, c->region) == 0 || r->object_store[0] == '\0') {
                continue;
            }
            if (c->n_wal_copies == CONFIG__ARRAY_SIZE(c->wal_copy_regions)) {
                config__problem(p, line,
                                "[services] wal_copies: more than %zu regions",
                                CONFIG__ARRAY_SIZE(c->wal_copy_regions));
                return;
            }
            memcpy(c->wal_copy_regions[c->n_wal_copies++], r->name,
                   sizeof(c->wal_copy_regions[0]));
        }
        if (c->n_wal_copies == 0) {
            config__problem(p, line,
                            "[services] wal_copies = all, but no other "
                            "region in this file has an object_store");
        }
        return;
    }
    memcpy(list, c->wal_copies, sizeof(list));
    while ((t = strsep(&rest, ",")) != NULL) {
        char *end = t + strlen(t);
        while (*t == ' ' || *t == '\t') {
            t++;
        }
        while (end > t && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
        if (*t == '\0' || strcmp(t, "all") == 0) {
            config__problem(p, line,
                            "[services] wal_copies: \"%s\" is not a region "
                            "name (\"all\" stands alone)",
                            t);
            return;
        }
        if (strcmp(t, c->region) == 0) {
            config__problem(p, line,
                            "[services] wal_copies: \"%s\" is this node's "
                            "own region, where wal-push archives anyway",
                            t);
            return;
        }
        if (find_region(c, t) == NULL) {
            config__problem(p, line,
                            "[services] wal_copies: no region \"%s\" in "
                            "this file",
                            t);
            return;
        }
        if (config_region_store(c, t) == NULL) {
            config__problem(p, line,
                            "[services] wal_copies: region \"%s\" has no "
                            "object_store ([region.%s])",
                            t, t);
            return;
        }
        for (size_t i = 0; i < c->n_wal_copies; i++) {
            if (strcmp(c->wal_copy_regions[i], t) == 0) {
                config__problem(p, line,
                                "[services] wal_copies: \"%s\" is listed "
                                "twice",
                                t);
                return;
            }
        }
        if (c->n_wal_copies == CONFIG__ARRAY_SIZE(c->wal_copy_regions) ||
            strlen(t) >= sizeof(c->wal_copy_regions[0])) {
            config__problem(p, line,
                            "[services] wal_copies: more than %zu regions",
                            CONFIG__ARRAY_SIZE(c->wal_copy_regions));
            return;
        }
        snprintf(c->wal_copy_regions[c->n_wal_copies++],
                 sizeof(c->wal_copy_regions[0]), "%s", t);
    }
}

/* [services] drill_pgdata: an absolute directory (a relative one would
 * follow the node's working directory). */
static void check_drill_pgdata(struct config__parser *p)
{
    const struct config__section *st = &p->services;
    const char *v = p->c->drill_pgdata;

    if (v[0] != '\0' && v[0] != '/') {
        config__problem(p, st->key_line[CONFIG__SERVICES_DRILL_PGDATA],
                        "[services] drill_pgdata \"%.200s\" must be an "
                        "absolute path",
                        v);
    }
}

/* [jobs]: cgroup is auto, off or an absolute path; the memory limits
 * parse, and memory_high is not above memory_max when both are of the same
 * kind (a percentage against bytes is checked once the memory is known). */
static void check_jobs(struct config__parser *p)
{
    const struct config__section *st = &p->jobs;
    const struct config *c = p->c;
    struct dr_memlimit high, max;
    char err[160];
    bool ok_high, ok_max;

    if (strcmp(c->jobs_cgroup, "auto") != 0 &&
        strcmp(c->jobs_cgroup, "off") != 0 && c->jobs_cgroup[0] != '/') {
        config__problem(p, st->key_line[CONFIG__JOBS_CGROUP],
                        "[jobs] cgroup \"%.200s\" is not auto, off or an "
                        "absolute path of a cgroup v2 directory",
                        c->jobs_cgroup);
    }
    ok_high = dr_memlimit_parse(c->jobs_memory_high, &high, err, sizeof(err)) ==
              DR_OK;
    if (!ok_high) {
        config__problem(p, st->key_line[CONFIG__JOBS_MEMORY_HIGH],
                        "[jobs] memory_high: %s", err);
    }
    ok_max =
        dr_memlimit_parse(c->jobs_memory_max, &max, err, sizeof(err)) == DR_OK;
    if (!ok_max) {
        config__problem(p, st->key_line[CONFIG__JOBS_MEMORY_MAX],
                        "[jobs] memory_max: %s", err);
    }
    if (ok_high && ok_max && high.kind == max.kind &&
        high.kind != DR_MEMLIMIT_NONE && high.value > max.value) {
        config__problem(p, st->key_line[CONFIG__JOBS_MEMORY_HIGH],
                        "[jobs] memory_high %s is above memory_max %s",
                        c->jobs_memory_high, c->jobs_memory_max);
    }
}

void config__check(struct config__parser *p)
{
    check_tls(p);
    check_node(p);
    check_raft(p);
    check_probes(p);
    check_members(p);
    check_regions(p);
    check_wal_copies(p);
    check_drill_pgdata(p);
    check_jobs(p);
}
