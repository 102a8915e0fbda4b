/* drctl status, members and leader commands. */
#include "drctl.h"

#include <inttypes.h>
#include <string.h>

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
    struct drctl_table t;
    const json_t *m;
    size_t i;
    char a[64], b[64], c[300], e[300], f[32];

    drctl_table_init(&t, with_role ? 7 : 6);
    drctl_table_cell(&t, "ID");
    drctl_table_cell(&t, "REGION");
    drctl_table_cell(&t, "RAFT");
    drctl_table_cell(&t, "API");
    drctl_table_cell(&t, "VOTER");
    if (with_role) {
        drctl_table_cell(&t, "ROLE");
    }
    drctl_table_cell(&t, "LAST-CONTACT");
    json_array_foreach(members, i, m)
    {
        drctl_table_cell(&t, drctl__str(m, "id", a, sizeof(a)));
        drctl_table_cell(&t, drctl__str(m, "region", b, sizeof(b)));
        drctl_table_cell(&t, drctl__str(m, "raft_address", c, sizeof(c)));
        drctl_table_cell(&t, drctl__str(m, "api_address", e, sizeof(e)));
        drctl_table_cell(
            &t, json_is_true(json_object_get(m, "voter")) ? "yes" : "no");
        if (with_role) {
            drctl_table_cell(&t, drctl__str(m, "role", f, sizeof(f)));
        }
        drctl_table_cell(
            &t, drctl_fmt_ago_ms(json_object_get(m, "last_contact_ms"), f,
                                 sizeof(f)));
    }
    drctl_table_print(&t);
}

static void drctl__print_status(const json_t *s)
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
    drctl__members_table(json_object_get(s, "members"), false);
}

int drctl_cmd_status(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    json_t *s;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 0, 0, NULL, &n);
    if (rv != 0) {
        return rv;
    }
    rv = drctl_call(d, "GET", "/api/status", NULL, &s);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(s);
    } else {
        drctl__print_status(s);
    }
    json_decref(s);
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
    const char *pos[DRCTL_POS_MAX];
    char a[64];
    json_t *body, *m;
    int64_t idv;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, opts, pos, 0, 0, NULL, &n);
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
    rv = drctl_call(d, "POST", "/api/members", body, &m);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(m);
    } else {
        printf("member %s added as %s\n", drctl__str(m, "id", a, sizeof(a)),
               json_is_true(json_object_get(m, "voter")) ? "a voter"
                                                         : "a non-voter");
    }
    json_decref(m);
    return 0;
}

static int drctl__members_simple(struct drctl *d,
                                 int argc,
                                 char **argv,
                                 bool remove)
{
    const char *pos[DRCTL_POS_MAX];
    char path[64];
    json_t *v;
    int64_t id = 0;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, remove ? 1 : 0,
                          remove ? 1 : 0, "ID", &n);
    if (rv != 0) {
        return rv;
    }
    if (remove) {
        rv = drctl_parse_int(d, "ID", pos[0], 1, INT64_MAX, &id);
        if (rv != 0) {
            return rv;
        }
        snprintf(path, sizeof(path), "/api/members/%" PRId64, id);
        rv = drctl_call(d, "DELETE", path, NULL, &v);
    } else {
        rv = drctl_call(d, "GET", "/api/members", NULL, &v);
    }
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else if (remove) {
        printf("member %" PRId64 " removed\n", id);
    } else {
        drctl__members_table(json_object_get(v, "members"), true);
    }
    json_decref(v);
    return 0;
}

int drctl_cmd_members(struct drctl *d, int argc, char **argv)
{
    if (argc < 1) {
        return drctl_usage_error(d, "missing subcommand (list, add, remove)");
    }
    if (strcmp(argv[0], "list") == 0) {
        d->cmd = "members list";
        return drctl__members_simple(d, argc - 1, argv + 1, false);
    }
    if (strcmp(argv[0], "add") == 0) {
        d->cmd = "members add";
        return drctl__members_add(d, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "remove") == 0) {
        d->cmd = "members remove";
        return drctl__members_simple(d, argc - 1, argv + 1, true);
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
}

int drctl_cmd_leader(struct drctl *d, int argc, char **argv)
{
    const char *to = NULL;
    const struct drctl_opt opts[] = {
        {"--to", &to, NULL},
        {NULL, NULL, NULL},
    };
    const char *pos[DRCTL_POS_MAX];
    char a[64], b[300];
    json_t *body, *v, *leader;
    int64_t id = 0;
    int n, rv;

    if (argc < 1) {
        return drctl_usage_error(d, "missing subcommand (transfer)");
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    if (strcmp(argv[0], "transfer") != 0) {
        return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
    }
    d->cmd = "leader transfer";
    rv = drctl_parse_args(d, argc - 1, argv + 1, opts, pos, 0, 0, NULL, &n);
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
    rv = drctl_call(d, "POST", "/api/leader/transfer", body, &v);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        leader = json_object_get(v, "leader");
        printf("leader is now node %s (%s)\n",
               drctl__str(leader, "id", a, sizeof(a)),
               drctl__str(leader, "api", b, sizeof(b)));
    }
    json_decref(v);
    return 0;
}
