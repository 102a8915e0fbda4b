/* drctl regions and site commands. */
#include "drctl.h"

#include <string.h>

static void drctl__print_regions(const json_t *v, const void *arg)
{
    static const struct drctl_column cols[] = {
        {"NAME", "name", drctl_fmt_value, 300},
        {"PRIORITY", "priority", drctl_fmt_value, 32},
        {"PRIMARY", "primary", drctl_fmt_yes_no, 4},
        {"STATUS", "status", drctl_fmt_value, 32},
        {"DNS-TARGETS", "dns_targets", drctl_fmt_value, 4096},
        {"OBJECT-STORE", "object_store", drctl_fmt_value, 300},
        {"ENDPOINTS", "endpoints", drctl_fmt_value, 4096},
        {NULL, NULL, NULL, 0},
    };

    (void)arg;
    drctl_print_objects(json_object_get(v, "regions"), cols);
}

/* What regions add, update and remove print for humans. */
struct drctl__region_done
{
    const char *name;
    const char *verb; /* "added" */
};

static void drctl__print_region_done(const json_t *v, const void *arg)
{
    const struct drctl__region_done *done = arg;

    (void)v;
    printf("region %s %s\n", done->name, done->verb);
}

/* Body of regions add (with name) or update (name NULL) from the options
 * given; NULL on a usage error (printed, *rv set). */
static json_t *drctl__region_body(struct drctl *d,
                                  const char *name,
                                  const char *priority,
                                  const char *dns,
                                  const char *store,
                                  const char *endpoints,
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
    if (endpoints != NULL) { /* "" clears them */
        json_t *list = drctl_split_list(endpoints);
        if (list == NULL) {
            *rv = drctl_fail(d, "out of memory");
            goto err_after_body;
        }
        json_object_set_new(body, "endpoints", list);
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
    const char *priority = NULL, *dns = NULL, *store = NULL, *eps = NULL;
    const struct drctl_opt opts[] = {
        {"--priority", &priority, NULL},
        {"--dns-targets", &dns, NULL},
        {"--object-store", &store, NULL},
        {"--endpoints", &eps, NULL},
        {NULL, NULL, NULL},
    };
    struct drctl__region_done done = {NULL, create ? "added" : "updated"};
    char path[1200];
    json_t *body;
    int rv;

    rv = drctl_parse_name(d, argc, argv, opts, "NAME", &done.name);
    if (rv != 0) {
        return rv;
    }
    if (!create && priority == NULL && dns == NULL && store == NULL &&
        eps == NULL) {
        return drctl_usage_error(d,
                                 "nothing to update: give --priority, "
                                 "--dns-targets, --object-store or "
                                 "--endpoints");
    }
    rv = drctl_path(d, path, sizeof(path), "regions", done.name);
    if (rv != 0) {
        return rv;
    }
    body = drctl__region_body(d, create ? done.name : NULL, priority, dns,
                              store, eps, &rv);
    if (body == NULL) {
        return rv;
    }
    rv = drctl_show(d, create ? "POST" : "PUT", create ? "/api/regions" : path,
                    body, drctl__print_region_done, &done);
    json_decref(body);
    return rv;
}

static int drctl__regions_add(struct drctl *d, int argc, char **argv)
{
    return drctl__regions_write(d, argc, argv, true);
}

static int drctl__regions_update(struct drctl *d, int argc, char **argv)
{
    return drctl__regions_write(d, argc, argv, false);
}

static int drctl__regions_list(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/regions", drctl__print_regions);
}

static int drctl__regions_remove(struct drctl *d, int argc, char **argv)
{
    struct drctl__region_done done = {NULL, "removed"};
    char path[1200];
    int rv;

    rv = drctl_parse_name(d, argc, argv, NULL, "NAME", &done.name);
    if (rv != 0 ||
        (rv = drctl_path(d, path, sizeof(path), "regions", done.name)) != 0) {
        return rv;
    }
    return drctl_show(d, "DELETE", path, NULL, drctl__print_region_done, &done);
}

int drctl_cmd_regions(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"list", drctl__regions_list},
        {"add", drctl__regions_add},
        {"update", drctl__regions_update},
        {"remove", drctl__regions_remove},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}

static void drctl__print_site(const json_t *s, const void *arg)
{
    char a[300], b[32], c[64];

    (void)arg;
    printf("primary   %s\n",
           drctl_fmt_value(json_object_get(s, "primary_region"), a, sizeof(a)));
    printf("epoch     %s\n",
           drctl_fmt_value(json_object_get(s, "epoch"), b, sizeof(b)));
    printf("state     %s\n",
           drctl_fmt_value(json_object_get(s, "state"), c, sizeof(c)));
}

static void drctl__print_primary(const json_t *v, const void *arg)
{
    char a[300], b[32], c[64];

    (void)arg;
    printf("primary is now %s (epoch %s, state %s)\n",
           drctl_fmt_value(json_object_get(v, "primary_region"), a, sizeof(a)),
           drctl_fmt_value(json_object_get(v, "epoch"), b, sizeof(b)),
           drctl_fmt_value(json_object_get(v, "state"), c, sizeof(c)));
}

static int drctl__site_set_primary(struct drctl *d, int argc, char **argv)
{
    const char *reason = NULL, *expected = NULL;
    const struct drctl_opt opts[] = {
        {"--reason", &reason, NULL},
        {"--expected-epoch", &expected, NULL},
        {NULL, NULL, NULL},
    };
    const char *region;
    json_t *body;
    int64_t epoch = 0;
    int rv;

    rv = drctl_parse_name(d, argc, argv, opts, "REGION", &region);
    if (rv != 0) {
        return rv;
    }
    if (expected != NULL &&
        (rv = drctl_parse_int(d, "--expected-epoch", expected, 0, INT64_MAX,
                              &epoch)) != 0) {
        return rv;
    }
    body = json_pack("{s:s}", "region", region);
    if (body == NULL) {
        return drctl_fail(d, "out of memory");
    }
    if (reason != NULL) {
        json_object_set_new(body, "reason", json_string(reason));
    }
    if (expected != NULL) {
        json_object_set_new(body, "expected_epoch", json_integer(epoch));
    }
    rv = drctl_show(d, "POST", "/api/site/primary", body, drctl__print_primary,
                    NULL);
    json_decref(body);
    return rv;
}

static int drctl__site_show(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/site", drctl__print_site);
}

int drctl_cmd_site(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"show", drctl__site_show},
        {"set-primary", drctl__site_set_primary},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}
