/* drctl drill: restore drills (the seed's weekly restore test) and
 * failover drills (its monthly full DR drill). */
#include "drctl.h"

#include <stdio.h>
#include <string.h>

#define DRCTL_DRILL_WAIT_MS 1800000u

static const char *drctl__fmt_secs(const json_t *v, char *buf, size_t size)
{
    if (!json_is_integer(v)) {
        snprintf(buf, size, "-");
    } else {
        snprintf(buf, size, "%.1fs", (double)json_integer_value(v) / 1000.0);
    }
    return buf;
}

static void drctl__print_drills(const json_t *v, const void *arg)
{
    static const struct drctl_column cols[] = {
        {"ID", "id", drctl_fmt_value, 32},
        {"KIND", "kind", drctl_fmt_value, 16},
        {"REGION", "region", drctl_fmt_value, 64},
        {"STATE", "state", drctl_fmt_value, 16},
        {"STARTED", "started_ms", drctl_fmt_when, 64},
        {"RTO", "rto_ms", drctl__fmt_secs, 32},
        {"RPO-PG", "pg_rpo_ms", drctl__fmt_secs, 32},
        {"RPO-PG-BASE", "pg_base_rpo_ms", drctl__fmt_secs, 32},
        {"RPO-REDIS", "redis_rpo_ms", drctl__fmt_secs, 32},
        {"ERROR", "error", drctl_fmt_value, 1024},
        {NULL, NULL, NULL, 0},
    };
    (void)arg;
    drctl_print_objects(json_object_get(v, "drills"), cols);
}

static void drctl__print_drill(const json_t *v, const void *arg)
{
    const char *key;
    json_t *val;
    char buf[4096];

    (void)arg;
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "rto_ms") == 0 || strstr(key, "rpo_ms") != NULL) {
            printf("%-14s %s\n", key, drctl__fmt_secs(val, buf, sizeof(buf)));
        } else if (strstr(key, "_ms") != NULL) {
            printf("%-14s %s\n", key, drctl_fmt_when(val, buf, sizeof(buf)));
        } else {
            printf("%-14s %s\n", key, drctl_fmt_value(val, buf, sizeof(buf)));
        }
    }
}

static int drctl__drill_list(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/drills", drctl__print_drills);
}

static int drctl__drill_show(struct drctl *d, int argc, char **argv)
{
    const char *id;
    char path[128];
    int rv = drctl_parse_name(d, argc, argv, NULL, "ID", &id);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if ((rv = drctl_path(d, path, sizeof(path), "drills", id)) != 0) {
        return rv;
    }
    return drctl_show(d, "GET", path, NULL, drctl__print_drill, NULL);
}

/* Start a drill of kind and wait for its verdict. */
static int drill_run(struct drctl *d,
                     int argc,
                     char **argv,
                     const char *kind,
                     const char *region_opt)
{
    const char *region = NULL, *wait = NULL;
    bool no_wait = false;
    const struct drctl_opt opts[] = {
        {region_opt, &region, NULL},
        {"--wait", &wait, NULL},
        {"--no-wait", NULL, &no_wait},
        {NULL, NULL, NULL},
    };
    unsigned wait_ms = DRCTL_DRILL_WAIT_MS;
    json_t *body, *drill = NULL;
    const char *state = "running";
    char path[96];
    json_int_t id;
    uint64_t deadline;
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (region != NULL && (rv = drctl_check_name(d, region_opt, region)) != 0) {
        return rv;
    }
    if (wait != NULL &&
        (rv = drctl_parse_seconds(d, "--wait", wait, 86400, &wait_ms)) != 0) {
        return rv;
    }
    body = json_pack("{ss}", "kind", kind);
    if (region != NULL) {
        json_object_set_new(body, "region", json_string(region));
    }
    rv = drctl_call(d, "POST", "/api/drills", body, &drill);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    id = json_integer_value(json_object_get(drill, "id"));
    if (!no_wait) {
        deadline = drctl_mono_ms() + wait_ms;
        snprintf(path, sizeof(path), "/api/drills/%lld", (long long)id);
        for (;;) {
            state = json_string_value(json_object_get(drill, "state"));
            if (state == NULL ||
                (strcmp(state, "running") != 0 && strcmp(state, "dns") != 0)) {
                break;
            }
            if (drctl_mono_ms() >= deadline) {
                json_decref(drill);
                return drctl_fail(d,
                                  "drill %lld is still running after %u s "
                                  "(see drctl drill show %lld)",
                                  (long long)id, wait_ms / 1000, (long long)id);
            }
            drctl_sleep_ms(500);
            json_decref(drill);
            drill = NULL;
            if ((rv = drctl_call(d, "GET", path, NULL, &drill)) != 0) {
                return rv;
            }
        }
    }
    if (d->json) {
        drctl_print_json(drill);
    } else {
        drctl__print_drill(drill, NULL);
    }
    rv = state != NULL && strcmp(state, "failed") == 0
             ? drctl_fail(d, "drill %lld failed: %s", (long long)id,
                          json_string_value(json_object_get(drill, "error")))
             : 0;
    json_decref(drill);
    return rv;
}

static int drctl__drill_restore(struct drctl *d, int argc, char **argv)
{
    return drill_run(d, argc, argv, "restore", "--region");
}

/* drctl drill failover [--to R]: the runbook practised in R (default: the
 * region a failover would pick) without touching production. */
static int drctl__drill_failover(struct drctl *d, int argc, char **argv)
{
    return drill_run(d, argc, argv, "failover", "--to");
}

int drctl_cmd_drill(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"restore", drctl__drill_restore},
        {"failover", drctl__drill_failover},
        {"list", drctl__drill_list},
        {"show", drctl__drill_show},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}
