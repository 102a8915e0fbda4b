/* drctl status, members and leader commands. */
#include "drctl.h"

#include <inttypes.h>
#include <string.h>

/* A member the leader has not heard from for this long gets a warning:
 * several heartbeats, under the default election timeout's doubling. */
#define DRCTL_CONTACT_WARN_MS 2000

/* Field helpers: "-" for what is missing or null. */
static const char *drctl__str(const json_t *o,
                              const char *key,
                              char *buf,
                              size_t size)
{
    return drctl_fmt_value(json_object_get(o, key), buf, size);
}

static void drctl__members_table(const json_t *members, bool with_role)
{
    static const struct drctl_column cols[] = {
        {"ID", "id", drctl_fmt_value, 64},
        {"REGION", "region", drctl_fmt_value, 64},
        {"RAFT", "raft_address", drctl_fmt_value, 300},
        {"API", "api_address", drctl_fmt_value, 300},
        {"VOTER", "voter", drctl_fmt_yes_no, 4},
        {"ROLE", "role", drctl_fmt_value, 32},
        {"LAST-CONTACT", "last_contact_ms", drctl_fmt_ago_ms, 32},
        {"MATCH", "match_index", drctl_fmt_value, 32},
        {NULL, NULL, NULL, 0},
    };
    struct drctl_column shown[sizeof(cols) / sizeof(cols[0])];
    size_t i, n = 0;

    /* Every column but ROLE unless with_role. */
    for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        if (with_role || cols[i].key == NULL ||
            strcmp(cols[i].key, "role") != 0) {
            shown[n++] = cols[i];
        }
    }
    drctl_print_objects(members, shown);
}

static void drctl__print_header(const json_t *s)
{
    const json_t *leader = json_object_get(s, "leader");
    char a[300], b[300];

    printf("node      %s (%s)\n", drctl__str(s, "node", a, sizeof(a)),
           drctl__str(s, "region", b, sizeof(b)));
    printf("role      %s\n", drctl__str(s, "role", a, sizeof(a)));
    if (json_is_object(leader)) {
        printf("leader    %s (%s)\n", drctl__str(leader, "id", a, sizeof(a)),
               drctl__str(leader, "api", b, sizeof(b)));
    } else {
        printf("leader    none known\n");
    }
    printf("term      %s\n", drctl__str(s, "term", a, sizeof(a)));
    printf("commit    %s\n", drctl__str(s, "commit_index", a, sizeof(a)));
    printf("applied   %s\n", drctl__str(s, "applied_index", a, sizeof(a)));
    printf("primary   %s\n", drctl__str(s, "primary_region", a, sizeof(a)));
    printf("epoch     %s (%s)\n", drctl__str(s, "epoch", a, sizeof(a)),
           drctl__str(s, "site_state", b, sizeof(b)));
    printf("\n");
}

/* Members the leader has not heard from lately, or that do not vote: the
 * lines an on-call engineer should not have to read a table for. */
static void drctl__print_member_problems(const json_t *members)
{
    size_t i;
    const json_t *m;

    json_array_foreach(members, i, m)
    {
        const json_t *contact = json_object_get(m, "last_contact_ms");
        char id[64];
        drctl__str(m, "id", id, sizeof(id));
        if (json_is_integer(contact) &&
            json_integer_value(contact) > DRCTL_CONTACT_WARN_MS) {
            printf(
                "WARNING   member %s: leader last heard from it %.1f s "
                "ago (down or cut off?)\n",
                id, (double)json_integer_value(contact) / 1000.0);
        }
        if (!json_is_true(json_object_get(m, "voter"))) {
            char role[64];
            printf("WARNING   member %s is not a voter (role %s)\n", id,
                   drctl__str(m, "role", role, sizeof(role)));
        }
    }
}

/* The header is this node's own view; the members table is the leader's
 * (a linearizable read is answered there), because only the leader knows
 * when it last heard from each member. */
int drctl_cmd_status(struct drctl *d, int argc, char **argv)
{
    struct client_response r;
    json_t *s = NULL;
    int rv = drctl_parse_opts(d, argc, argv, NULL);

    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        return drctl_show(d, "GET", "/api/status", NULL, NULL, NULL);
    }
    rv = drctl_call(d, "GET", "/api/status", NULL, &s);
    if (rv != 0) {
        return rv;
    }
    drctl__print_header(s);
    memset(&r, 0, sizeof(r));
    if (drctl_request(d, "GET", "/api/members", NULL, &r) == 0 &&
        r.status == 200 && json_is_array(json_object_get(r.json, "members"))) {
        const json_t *members = json_object_get(r.json, "members");
        printf("members as seen by the leader (%s):\n",
               client_url_hostport(r.url));
        drctl__members_table(members, false);
        drctl__print_member_problems(members);
    } else {
        printf(
            "members as seen by this node (no leader answered, so no "
            "contact times):\n");
        drctl__members_table(json_object_get(s, "members"), false);
    }
    client_response_clear(&r);
    json_decref(s);
    return 0;
}

/* One member's versions from its own /api/status (stale read: a node
 * without a leader still answers). Adds a JSON row to rows; false when it
 * did not answer. */

/* A client of one member at api (host:port), in the scheme and with the
 * TLS files of the endpoints drctl reached. */
static int drctl__member_client(const struct drctl *d,
                                struct client *c,
                                const char *api,
                                char *err)
{
    struct client_tls tls = {d->cacert, d->cert, d->key};
    char url[CLIENT_URL_MAX];
    bool https = d->connected && d->client.n_endpoints > 0 &&
                 strncmp(d->client.endpoints[0], "https://", 8) == 0;

    snprintf(url, sizeof(url), "%s%s",
             https || (d->cacert != NULL && d->cacert[0] != '\0') ? "https://"
                                                                  : "http://",
             api);
    return client_init_tls(c, url, NULL, &tls, d->timeout_ms, err);
}

static bool drctl__member_version(struct drctl *d,
                                  const json_t *m,
                                  json_t *rows)
{
    const char *api = json_string_value(json_object_get(m, "api_address"));
    json_t *row = json_object();
    struct client c;
    struct client_response r;
    char err[CLIENT_ERRMSG_MAX];
    bool ok = false;

    json_object_set(row, "id", json_object_get(m, "id"));
    json_object_set_new(row, "api_address", json_string(api ? api : ""));
    memset(&r, 0, sizeof(r));
    if (api == NULL) {
        json_object_set_new(row, "error", json_string("no API address"));
    } else if (drctl__member_client(d, &c, api, err) != 0) {
        json_object_set_new(row, "error", json_string(err));
    } else {
        if (client_request(&c, "GET", "/api/status?stale=true", NULL, &r) !=
            0) {
            json_object_set_new(row, "error", json_string(c.errmsg));
        } else if (r.status != 200 || !json_is_object(r.json)) {
            client_response_describe(&r, err, sizeof(err));
            json_object_set_new(row, "error", json_string(err));
        } else {
            static const char *const keys[] = {"version", "libraft", "libuv",
                                               "region"};
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json_t *v = json_object_get(r.json, keys[i]);
                /* A release before 0.2.0 reports no versions. */
                json_object_set_new(
                    row, keys[i],
                    json_is_string(v) ? json_copy(v) : json_string("unknown"));
            }
            ok = true;
        }
        client_response_clear(&r);
        client_close(&c);
    }
    json_array_append_new(rows, row);
    return ok;
}

int drctl_cmd_version(struct drctl *d, int argc, char **argv)
{
    json_t *s = NULL, *rows, *out;
    const json_t *members;
    size_t i, failed = 0;
    int rv = drctl_parse_opts(d, argc, argv, NULL);

    if (rv != 0) {
        return rv;
    }
    rv = drctl_call(d, "GET", "/api/status?stale=true", NULL, &s);
    if (rv != 0) {
        return rv;
    }
    members = json_object_get(s, "members");
    rows = json_array();
    for (i = 0; i < json_array_size(members); i++) {
        if (!drctl__member_version(d, json_array_get(members, i), rows)) {
            failed++;
        }
    }
    if (d->json) {
        out = json_pack("{s:s, s:O}", "drctl", DR_VERSION, "nodes", rows);
        drctl_print_json(out);
        json_decref(out);
    } else {
        printf("drctl %s\n", DR_VERSION);
        for (i = 0; i < json_array_size(rows); i++) {
            const json_t *row = json_array_get(rows, i);
            char id[32];
            const char *api =
                json_string_value(json_object_get(row, "api_address"));
            drctl__str(row, "id", id, sizeof(id));
            if (json_object_get(row, "error") != NULL) {
                printf("node %s (%s): no answer: %s\n", id, api,
                       json_string_value(json_object_get(row, "error")));
            } else {
                printf("node %s (%s, %s): drnode %s (libraft %s, libuv %s)\n",
                       id, api,
                       json_string_value(json_object_get(row, "region")),
                       json_string_value(json_object_get(row, "version")),
                       json_string_value(json_object_get(row, "libraft")),
                       json_string_value(json_object_get(row, "libuv")));
            }
        }
    }
    i = json_array_size(members);
    json_decref(rows);
    json_decref(s);
    if (failed > 0) {
        return drctl_fail(d, "%zu of %zu members did not answer", failed, i);
    }
    return 0;
}

/* "host:port" with a numeric port, nothing else. */
static int drctl__check_address(const struct drctl *d,
                                const char *opt,
                                const char *text)
{
    char urls[1][CLIENT_URL_MAX];
    char errmsg[CLIENT_ERRMSG_MAX];
    size_t n;

    if (strstr(text, "://") != NULL || strchr(text, ',') != NULL ||
        client_endpoints_parse(text, urls, 1, &n, errmsg) != 0) {
        return drctl_usage_error(d, "%s: \"%s\" is not HOST:PORT", opt, text);
    }
    return 0;
}

static void drctl__print_member_added(const json_t *m, const void *arg)
{
    char a[64];

    (void)arg;
    printf(
        "member %s added as %s\n", drctl__str(m, "id", a, sizeof(a)),
        json_is_true(json_object_get(m, "voter")) ? "a voter" : "a non-voter");
}

static int drctl__members_add(struct drctl *d, int argc, char **argv)
{
    const char *id = NULL, *region = NULL, *raft = NULL, *api = NULL;
    const struct drctl_opt opts[] = {
        {"--id", &id, NULL},
        {"--region", &region, NULL},
        {"--raft-address", &raft, NULL},
        {"--api-address", &api, NULL},
        {NULL, NULL, NULL},
    };
    json_t *body;
    int64_t idv;
    int rv;

    rv = drctl_parse_opts(d, argc, argv, opts);
    if (rv != 0) {
        return rv;
    }
    if (id == NULL || region == NULL || raft == NULL || api == NULL) {
        return drctl_usage_error(d, "missing %s",
                                 id == NULL       ? "--id"
                                 : region == NULL ? "--region"
                                 : raft == NULL   ? "--raft-address"
                                                  : "--api-address");
    }
    if ((rv = drctl_parse_int(d, "--id", id, 1, INT64_MAX, &idv)) != 0 ||
        (rv = drctl__check_address(d, "--raft-address", raft)) != 0 ||
        (rv = drctl__check_address(d, "--api-address", api)) != 0) {
        return rv;
    }
    if (region[0] == '\0') {
        return drctl_usage_error(d, "--region: empty name");
    }
    body = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)idv, "region",
                     region, "raft_address", raft, "api_address", api);
    if (body == NULL) {
        return drctl_fail(d, "out of memory");
    }
    rv = drctl_show(d, "POST", "/api/members", body, drctl__print_member_added,
                    NULL);
    json_decref(body);
    return rv;
}

static void drctl__print_members(const json_t *v, const void *arg)
{
    (void)arg;
    drctl__members_table(json_object_get(v, "members"), true);
}

static int drctl__members_list(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/members", drctl__print_members);
}

static void drctl__print_member_removed(const json_t *v, const void *arg)
{
    (void)v;
    printf("member %" PRId64 " removed\n", *(const int64_t *)arg);
}

static int drctl__members_remove(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    char path[64];
    int64_t id;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 1, 1, "ID", &n);
    if (rv != 0 ||
        (rv = drctl_parse_int(d, "ID", pos[0], 1, INT64_MAX, &id)) != 0) {
        return rv;
    }
    snprintf(path, sizeof(path), "/api/members/%" PRId64, id);
    return drctl_show(d, "DELETE", path, NULL, drctl__print_member_removed,
                      &id);
}

int drctl_cmd_members(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"list", drctl__members_list},
        {"add", drctl__members_add},
        {"remove", drctl__members_remove},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}

static void drctl__print_leader(const json_t *v, const void *arg)
{
    const json_t *leader = json_object_get(v, "leader");
    char a[64], b[300];

    (void)arg;
    printf("leader is now node %s (%s)\n",
           drctl__str(leader, "id", a, sizeof(a)),
           drctl__str(leader, "api", b, sizeof(b)));
}

static int drctl__leader_transfer(struct drctl *d, int argc, char **argv)
{
    const char *to = NULL;
    const struct drctl_opt opts[] = {
        {"--to", &to, NULL},
        {NULL, NULL, NULL},
    };
    json_t *body;
    int64_t id = 0;
    int rv;

    rv = drctl_parse_opts(d, argc, argv, opts);
    if (rv != 0) {
        return rv;
    }
    if (to != NULL &&
        (rv = drctl_parse_int(d, "--to", to, 1, INT64_MAX, &id)) != 0) {
        return rv;
    }
    body =
        to != NULL ? json_pack("{s:I}", "to", (json_int_t)id) : json_object();
    if (body == NULL) {
        return drctl_fail(d, "out of memory");
    }
    rv = drctl_show(d, "POST", "/api/leader/transfer", body,
                    drctl__print_leader, NULL);
    json_decref(body);
    return rv;
}

int drctl_cmd_leader(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"transfer", drctl__leader_transfer},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}
