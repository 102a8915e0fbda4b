/* drctl regions and site commands. */
#include "drctl.h"

#include <string.h>

static void drctl__regions_table(const json_t *regions)
{
    struct drctl_table t;
    const json_t *r;
    size_t i;
    char a[300], b[32], c[32], e[4096], f[300];

    drctl_table_init(&t, 6);
    drctl_table_cell(&t, "NAME");
    drctl_table_cell(&t, "PRIORITY");
    drctl_table_cell(&t, "PRIMARY");
    drctl_table_cell(&t, "STATUS");
    drctl_table_cell(&t, "DNS-TARGETS");
    drctl_table_cell(&t, "OBJECT-STORE");
    json_array_foreach(regions, i, r)
    {
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(r, "name"), a, sizeof(a)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(r, "priority"), b, sizeof(b)));
        drctl_table_cell(
            &t, json_is_true(json_object_get(r, "primary")) ? "yes" : "no");
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(r, "status"), c, sizeof(c)));
        drctl_table_cell(&t, drctl_fmt_value(json_object_get(r, "dns_targets"),
                                             e, sizeof(e)));
        drctl_table_cell(&t, drctl_fmt_value(json_object_get(r, "object_store"),
                                             f, sizeof(f)));
    }
    drctl_table_print(&t);
}

/* Body of regions add (with name) or update (name NULL) from the options
 * given; NULL on a usage error (printed, *rv set). */
static json_t *drctl__region_body(struct drctl *d,
                                  const char *name,
                                  const char *priority,
                                  const char *dns,
                                  const char *store,
                                  int *rv)
{
    json_t *body = json_object();
    int64_t prio;

    if (body == NULL) {
        *rv = drctl_fail(d, "out of memory");
        return NULL;
    }
    if (name != NULL) {
        json_object_set_new(body, "name", json_string(name));
    }
    if (priority != NULL) {
        *rv = drctl_parse_int(d, "--priority", priority, INT32_MIN, INT32_MAX,
                              &prio);
        if (*rv != 0) {
            goto err_after_body;
        }
        json_object_set_new(body, "priority", json_integer(prio));
    }
    if (dns != NULL) {
        json_t *list = drctl_split_list(dns);
        if (list == NULL) {
            *rv = drctl_fail(d, "out of memory");
            goto err_after_body;
        }
        json_object_set_new(body, "dns_targets", list);
    }
    if (store != NULL) {
        json_object_set_new(body, "object_store", json_string(store));
    }
    return body;

err_after_body:
    json_decref(body);
    return NULL;
}

static int drctl__regions_write(struct drctl *d,
                                int argc,
                                char **argv,
                                bool create)
{
    const char *priority = NULL, *dns = NULL, *store = NULL;
    const struct drctl_opt opts[] = {
        {"--priority", &priority, NULL},
        {"--dns-targets", &dns, NULL},
        {"--object-store", &store, NULL},
        {NULL, NULL, NULL},
    };
    const char *pos[DRCTL_POS_MAX];
    char path[1200];
    json_t *body, *v;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, opts, pos, 1, 1, "NAME", &n);
    if (rv != 0) {
        return rv;
    }
    if (pos[0][0] == '\0') {
        return drctl_usage_error(d, "NAME: empty");
    }
    if (!create && priority == NULL && dns == NULL && store == NULL) {
        return drctl_usage_error(d,
                                 "nothing to update: give --priority, --dns-targets or --object-store");
    }
    rv = drctl_path(d, path, sizeof(path), "regions", pos[0]);
    if (rv != 0) {
        return rv;
    }
    body = drctl__region_body(d, create ? pos[0] : NULL, priority, dns, store,
                              &rv);
    if (body == NULL) {
        return rv;
    }
    if (create) {
        rv = drctl_call(d, "POST", "/api/regions", body, &v);
    } else {
        rv = drctl_call(d, "PUT", path, body, &v);
    }
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        printf("region %s %s\n", pos[0], create ? "added" : "updated");
    }
    json_decref(v);
    return 0;
}

static int drctl__regions_read(struct drctl *d,
                               int argc,
                               char **argv,
                               bool remove)
{
    const char *pos[DRCTL_POS_MAX];
    char path[1200];
    json_t *v;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, remove ? 1 : 0,
                          remove ? 1 : 0, "NAME", &n);
    if (rv != 0) {
        return rv;
    }
    if (remove) {
        if (pos[0][0] == '\0') {
            return drctl_usage_error(d, "NAME: empty");
        }
        rv = drctl_path(d, path, sizeof(path), "regions", pos[0]);
        if (rv != 0) {
            return rv;
        }
        rv = drctl_call(d, "DELETE", path, NULL, &v);
    } else {
        rv = drctl_call(d, "GET", "/api/regions", NULL, &v);
    }
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else if (remove) {
        printf("region %s removed\n", pos[0]);
    } else {
        drctl__regions_table(json_object_get(v, "regions"));
    }
    json_decref(v);
    return 0;
}

int drctl_cmd_regions(struct drctl *d, int argc, char **argv)
{
    if (argc < 1) {
        return drctl_usage_error(d,
                                 "missing subcommand (list, add, update, remove)");
    }
    if (strcmp(argv[0], "list") == 0) {
        d->cmd = "regions list";
        return drctl__regions_read(d, argc - 1, argv + 1, false);
    }
    if (strcmp(argv[0], "add") == 0) {
        d->cmd = "regions add";
        return drctl__regions_write(d, argc - 1, argv + 1, true);
    }
    if (strcmp(argv[0], "update") == 0) {
        d->cmd = "regions update";
        return drctl__regions_write(d, argc - 1, argv + 1, false);
    }
    if (strcmp(argv[0], "remove") == 0) {
        d->cmd = "regions remove";
        return drctl__regions_read(d, argc - 1, argv + 1, true);
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
}

static void drctl__print_site(const json_t *s)
{
    char a[300], b[32], c[64];

    printf("primary   %s\n",
           drctl_fmt_value(json_object_get(s, "primary_region"), a, sizeof(a)));
    printf("epoch     %s\n",
           drctl_fmt_value(json_object_get(s, "epoch"), b, sizeof(b)));
    printf("state     %s\n",
           drctl_fmt_value(json_object_get(s, "state"), c, sizeof(c)));
}

static int drctl__site_set_primary(struct drctl *d, int argc, char **argv)
{
    const char *reason = NULL, *expected = NULL;
    const struct drctl_opt opts[] = {
        {"--reason", &reason, NULL},
        {"--expected-epoch", &expected, NULL},
        {NULL, NULL, NULL},
    };
    const char *pos[DRCTL_POS_MAX];
    char a[300], b[32], c[64];
    json_t *body, *v;
    int64_t epoch = 0;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, opts, pos, 1, 1, "REGION", &n);
    if (rv != 0) {
        return rv;
    }
    if (pos[0][0] == '\0') {
        return drctl_usage_error(d, "REGION: empty");
    }
    if (expected != NULL &&
        (rv = drctl_parse_int(d, "--expected-epoch", expected, 0, INT64_MAX,
                              &epoch)) != 0) {
        return rv;
    }
    body = json_pack("{s:s}", "region", pos[0]);
    if (body == NULL) {
        return drctl_fail(d, "out of memory");
    }
    if (reason != NULL) {
        json_object_set_new(body, "reason", json_string(reason));
    }
    if (expected != NULL) {
        json_object_set_new(body, "expected_epoch", json_integer(epoch));
    }
    rv = drctl_call(d, "POST", "/api/site/primary", body, &v);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        printf(
            "primary is now %s (epoch %s, state %s)\n",
            drctl_fmt_value(json_object_get(v, "primary_region"), a, sizeof(a)),
            drctl_fmt_value(json_object_get(v, "epoch"), b, sizeof(b)),
            drctl_fmt_value(json_object_get(v, "state"), c, sizeof(c)));
    }
    json_decref(v);
    return 0;
}

int drctl_cmd_site(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    json_t *v;
    int n, rv;

    if (argc < 1) {
        return drctl_usage_error(d, "missing subcommand (show, set-primary)");
    }
    if (strcmp(argv[0], "set-primary") == 0) {
        d->cmd = "site set-primary";
        return drctl__site_set_primary(d, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    if (strcmp(argv[0], "show") != 0) {
        return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
    }
    d->cmd = "site show";
    rv = drctl_parse_args(d, argc - 1, argv + 1, NULL, pos, 0, 0, NULL, &n);
    if (rv != 0) {
        return rv;
    }
    rv = drctl_call(d, "GET", "/api/site", NULL, &v);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        drctl__print_site(v);
    }
    json_decref(v);
    return 0;
}
