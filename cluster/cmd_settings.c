/* drctl settings and history commands. */
#include "drctl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void drctl__settings_table(const json_t *settings)
{
    struct drctl_table t;
    const json_t *s;
    size_t i;
    char a[300], b[32], c[1024], e[1024], f[1024];

    drctl_table_init(&t, 5);
    drctl_table_cell(&t, "KEY");
    drctl_table_cell(&t, "TYPE");
    drctl_table_cell(&t, "VALUE");
    drctl_table_cell(&t, "DEFAULT");
    drctl_table_cell(&t, "DESCRIPTION");
    json_array_foreach(settings, i, s)
    {
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(s, "key"), a, sizeof(a)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(s, "type"), b, sizeof(b)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(s, "value"), c, sizeof(c)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(s, "default"), e, sizeof(e)));
        drctl_table_cell(&t, drctl_fmt_value(json_object_get(s, "description"),
                                             f, sizeof(f)));
    }
    drctl_table_print(&t);
}

/* A value typed by the setting's type, or NULL (usage error printed). */
static json_t *drctl__typed_value(struct drctl *d,
                                  const char *key,
                                  const char *type,
                                  const char *text,
                                  int *rv)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t i;

    if (strcmp(type, "string") == 0) {
        return json_string(text);
    }
    if (strcmp(type, "int") == 0) {
        char what[300];
        int64_t v;
        snprintf(what, sizeof(what), "%s (int)", key);
        *rv = drctl_parse_int(d, what, text, INT64_MIN, INT64_MAX, &v);
        return *rv == 0 ? json_integer(v) : NULL;
    }
    if (strcmp(type, "bool") == 0) {
        for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(text, yes[i]) == 0) {
                return json_true();
            }
            if (strcasecmp(text, no[i]) == 0) {
                return json_false();
            }
        }
        *rv = drctl_usage_error(d, "%s (bool): \"%s\" is not true or false",
                                key, text);
        return NULL;
    }
    *rv = drctl_fail(d, "%s: the server reports an unknown type \"%s\"", key,
                     type);
    return NULL;
}

static int drctl__settings_set(struct drctl *d,
                               const char *key,
                               const char *text)
{
    char path[1200], a[1024];
    json_t *setting, *value, *body, *v;
    const char *type;
    int rv;

    rv = drctl_path(d, path, sizeof(path), "settings", key);
    if (rv != 0) {
        return rv;
    }
    rv = drctl_call(d, "GET", path, NULL, &setting);
    if (rv != 0) {
        return rv;
    }
    type = json_string_value(json_object_get(setting, "type"));
    if (type == NULL) {
        json_decref(setting);
        return drctl_fail(d, "%s: the server's answer has no type", key);
    }
    value = drctl__typed_value(d, key, type, text, &rv);
    json_decref(setting);
    if (value == NULL) {
        return rv != 0 ? rv : drctl_fail(d, "out of memory");
    }
    body = json_object();
    if (body == NULL || json_object_set_new(body, "value", value) != 0) {
        json_decref(body);
        return drctl_fail(d, "out of memory");
    }
    rv = drctl_call(d, "PUT", path, body, &v);
    json_decref(body);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else {
        printf("%s = %s\n", key,
               drctl_fmt_value(json_object_get(v, "value"), a, sizeof(a)));
    }
    json_decref(v);
    return 0;
}

int drctl_cmd_settings(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    char path[1200];
    json_t *v;
    int n, rv;

    if (argc < 1) {
        return drctl_usage_error(d, "missing subcommand (get, set)");
    }
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        drctl_print_usage(d->group, stdout);
        return -1;
    }
    if (strcmp(argv[0], "set") == 0) {
        d->cmd = "settings set";
        rv = drctl_parse_args(d, argc - 1, argv + 1, NULL, pos, 2, 2,
                              "KEY VALUE", &n);
        if (rv != 0) {
            return rv;
        }
        if (pos[0][0] == '\0') {
            return drctl_usage_error(d, "KEY: empty");
        }
        return drctl__settings_set(d, pos[0], pos[1]);
    }
    if (strcmp(argv[0], "get") != 0) {
        return drctl_usage_error(d, "unknown subcommand \"%s\"", argv[0]);
    }
    d->cmd = "settings get";
    rv = drctl_parse_args(d, argc - 1, argv + 1, NULL, pos, 0, 1, NULL, &n);
    if (rv != 0) {
        return rv;
    }
    if (n == 1) {
        if (pos[0][0] == '\0') {
            return drctl_usage_error(d, "KEY: empty");
        }
        rv = drctl_path(d, path, sizeof(path), "settings", pos[0]);
        if (rv != 0) {
            return rv;
        }
    }
    rv = drctl_call(d, "GET", n == 1 ? path : "/api/settings", NULL, &v);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
    } else if (n == 1) {
        json_t *one = json_array();
        json_array_append(one, v);
        drctl__settings_table(one);
        json_decref(one);
    } else {
        drctl__settings_table(json_object_get(v, "settings"));
    }
    json_decref(v);
    return 0;
}

int drctl_cmd_history(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    struct drctl_table t;
    const json_t *h, *e;
    json_t *v;
    size_t i;
    char a[32], b[64], c[300], f[300];
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 0, 0, NULL, &n);
    if (rv != 0) {
        return rv;
    }
    rv = drctl_call(d, "GET", "/api/history", NULL, &v);
    if (rv != 0) {
        return rv;
    }
    if (d->json) {
        drctl_print_json(v);
        json_decref(v);
        return 0;
    }
    h = json_object_get(v, "history");
    drctl_table_init(&t, 5);
    drctl_table_cell(&t, "SEQ");
    drctl_table_cell(&t, "TIME");
    drctl_table_cell(&t, "ACTOR");
    drctl_table_cell(&t, "ACTION");
    drctl_table_cell(&t, "DETAIL");
    json_array_foreach(h, i, e)
    {
        const json_t *detail = json_object_get(e, "detail");
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(e, "seq"), a, sizeof(a)));
        drctl_table_cell(
            &t, drctl_fmt_time_ms(json_object_get(e, "time_ms"), b, sizeof(b)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(e, "actor"), c, sizeof(c)));
        drctl_table_cell(
            &t, drctl_fmt_value(json_object_get(e, "action"), f, sizeof(f)));
        if (json_is_object(detail) || json_is_array(detail)) {
            char *text = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
            drctl_table_cell(&t, text);
            free(text);
        } else {
            char g[1024];
            drctl_table_cell(&t, drctl_fmt_value(detail, g, sizeof(g)));
        }
    }
    drctl_table_print(&t);
    json_decref(v);
    return 0;
}
