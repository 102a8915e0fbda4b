/* drctl breakers and health commands. */
#include "drctl.h"

#include <stdio.h>
#include <string.h>

static const char *const drctl__providers[] = {"ollama", "openai", "anthropic",
                                               NULL};

static void drctl__print_breakers(const json_t *v, const void *arg)
{
    static const struct drctl_column cols[] = {
        {"PROVIDER", "provider", drctl_fmt_value, 64},
        {"STATE", "state", drctl_fmt_value, 64},
        {"FAILURES", "failures", drctl_fmt_value, 32},
        {"TRIALS", "trials", drctl_fmt_value, 32},
        {"CHANGED", "changed_ms", drctl_fmt_when, 64},
        {"HALF-OPEN AT", "half_open_at_ms", drctl_fmt_time_ms, 64},
        {"REQUESTS", "successes_total", drctl_fmt_value, 32},
        {"ERRORS", "failures_total", drctl_fmt_value, 32},
        {NULL, NULL, NULL, 0},
    };
    const json_t *chain = json_object_get(v, "fallback_chain");
    size_t i;
    json_t *item;

    (void)arg;
    drctl_print_objects(json_object_get(v, "breakers"), cols);
    printf("fallback chain:");
    json_array_foreach(chain, i, item)
    {
        printf("%s%s", i ? " -> " : " ", json_string_value(item));
    }
    printf("\nqueue mode: %s\n",
           json_is_true(json_object_get(v, "queue_mode")) ? "on" : "off");
}

static int drctl__check_provider(const struct drctl *d, const char *name)
{
    for (int i = 0; drctl__providers[i] != NULL; i++) {
        if (strcmp(name, drctl__providers[i]) == 0) {
            return 0;
        }
    }
    return drctl_usage_error(d,
                             "unknown provider \"%s\" (expected ollama, "
                             "openai or anthropic)",
                             name);
}

static int drctl__breakers_list(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/breakers",
                          drctl__print_breakers);
}

static int drctl__breakers_reset(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    char path[128];
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 0, 1, "[PROVIDER]", &n);
    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (n == 1 && (rv = drctl__check_provider(d, pos[0])) != 0) {
        return rv;
    }
    snprintf(path, sizeof(path), "/api/admin/circuit-breakers/reset%s%s",
             n == 1 ? "?provider=" : "", n == 1 ? pos[0] : "");
    return drctl_show(d, "POST", path, NULL, drctl__print_breakers, NULL);
}

static void drctl__print_route(const json_t *v, const void *arg)
{
    (void)arg;
    printf(
        "%s%s\n", json_string_value(json_object_get(v, "provider")),
        json_is_true(json_object_get(v, "trial")) ? " (half-open trial)" : "");
}

static int drctl__breakers_route(struct drctl *d, int argc, char **argv)
{
    struct client_response r;
    const char *pos[DRCTL_POS_MAX];
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 0, 0, NULL, &n);
    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    rv = drctl_request(d, "GET", "/api/llm/route", NULL, &r);
    if (rv != 0) {
        return rv;
    }
    if (r.status == 200 && !d->json) {
        drctl__print_route(r.json, NULL);
    } else if (r.json != NULL && d->json) {
        drctl_print_json(r.json);
    }
    if (r.status != 200) {
        rv = drctl_fail_response(d, &r);
    }
    client_response_clear(&r);
    return rv;
}

int drctl_cmd_breakers(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"list", drctl__breakers_list},
        {"reset", drctl__breakers_reset},
        {"route", drctl__breakers_route},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}

/* drctl health [--region R]: the seed's health view; exit 1 when
 * unhealthy. */
static void drctl__print_health(const json_t *v)
{
    const json_t *svcs = json_object_get(v, "services");
    const json_t *brk = json_object_get(v, "circuitBreakers");
    const char *key;
    json_t *s;
    struct drctl_table t;

    printf("%s: %s (from %s)\n",
           json_string_value(json_object_get(v, "region")),
           json_string_value(json_object_get(v, "status")),
           json_string_value(json_object_get(v, "source")));
    drctl_table_init(&t, 3);
    drctl_table_cell(&t, "SERVICE");
    drctl_table_cell(&t, "STATUS");
    drctl_table_cell(&t, "DETAIL");
    json_object_foreach((json_t *)svcs, key, s)
    {
        const json_t *lat = json_object_get(s, "latency");
        const json_t *err = json_object_get(s, "error");
        char detail[512] = "";
        if (json_is_number(lat)) {
            snprintf(detail, sizeof(detail), "%.1f ms", json_number_value(lat));
        }
        if (json_is_string(err)) {
            snprintf(detail, sizeof(detail), "%s", json_string_value(err));
        }
        drctl_table_cell(&t, key);
        drctl_table_cell(&t, json_string_value(json_object_get(s, "status")));
        drctl_table_cell(&t, detail[0] ? detail : NULL);
    }
    drctl_table_print(&t);
    printf("breakers:");
    json_object_foreach((json_t *)brk, key, s)
    {
        printf(" %s=%s", key, json_string_value(s));
    }
    printf("\n");
}

int drctl_cmd_health(struct drctl *d, int argc, char **argv)
{
    const char *region = NULL;
    const struct drctl_opt opts[] = {
        {"--region", &region, NULL},
        {NULL, NULL, NULL},
    };
    struct client_response r;
    char path[256];
    int rv = drctl_parse_opts(d, argc, argv, opts);

    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    if (region != NULL && (rv = drctl_check_name(d, "--region", region)) != 0) {
        return rv;
    }
    snprintf(path, sizeof(path), "/api/health%s%s",
             region != NULL ? "?region=" : "", region != NULL ? region : "");
    rv = drctl_request(d, "GET", path, NULL, &r);
    if (rv != 0) {
        return rv;
    }
    if (r.json == NULL || json_object_get(r.json, "status") == NULL) {
        rv = drctl_fail_response(d, &r);
    } else {
        if (d->json) {
            drctl_print_json(r.json);
        } else {
            drctl__print_health(r.json);
        }
        rv = r.status == 200 ? DRCTL_EXIT_OK : DRCTL_EXIT_FAIL;
    }
    client_response_clear(&r);
    return rv;
}
