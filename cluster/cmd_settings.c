/* drctl settings and history commands. */
#include "drctl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void drctl__settings_table(const json_t *settings)
{
    static const struct drctl_column cols[] = {
        {"KEY", "key", drctl_fmt_value, 300},
        {"TYPE", "type", drctl_fmt_value, 32},
        {"VALUE", "value", drctl_fmt_value, 1024},
        {"DEFAULT", "default", drctl_fmt_value, 1024},
        {"DESCRIPTION", "description", drctl_fmt_value, 1024},
        {NULL, NULL, NULL, 0},
    };

    drctl_print_objects(settings, cols);
}

static void drctl__print_settings(const json_t *v, const void *arg)
{
    (void)arg;
    drctl__settings_table(json_object_get(v, "settings"));
}

static void drctl__print_setting(const json_t *v, const void *arg)
{
    json_t *one = json_array();

    (void)arg;
    json_array_append_new(one, json_deep_copy(v));
    drctl__settings_table(one);
    json_decref(one);
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

static void drctl__print_set(const json_t *v, const void *arg)
{
    char a[1024];

    printf("%s = %s\n", (const char *)arg,
           drctl_fmt_value(json_object_get(v, "value"), a, sizeof(a)));
}

static int drctl__settings_set(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX], *key, *text, *type;
    char path[1200];
    json_t *setting, *value, *body;
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 2, 2, "KEY VALUE", &n);
    if (rv != 0 || (rv = drctl_check_name(d, "KEY", pos[0])) != 0) {
        return rv;
    }
    key = pos[0];
    text = pos[1];
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
    rv = drctl_show(d, "PUT", path, body, drctl__print_set, key);
    json_decref(body);
    return rv;
}

static int drctl__settings_get(struct drctl *d, int argc, char **argv)
{
    const char *pos[DRCTL_POS_MAX];
    char path[1200];
    int n, rv;

    rv = drctl_parse_args(d, argc, argv, NULL, pos, 0, 1, NULL, &n);
    if (rv != 0) {
        return rv;
    }
    if (n == 0) {
        return drctl_show(d, "GET", "/api/settings", NULL,
                          drctl__print_settings, NULL);
    }
    if ((rv = drctl_check_name(d, "KEY", pos[0])) != 0 ||
        (rv = drctl_path(d, path, sizeof(path), "settings", pos[0])) != 0) {
        return rv;
    }
    return drctl_show(d, "GET", path, NULL, drctl__print_setting, NULL);
}

int drctl_cmd_settings(struct drctl *d, int argc, char **argv)
{
    static const struct drctl_subcommand subs[] = {
        {"get", drctl__settings_get},
        {"set", drctl__settings_set},
        {NULL, NULL},
    };

    return drctl_dispatch(d, argc, argv, subs);
}

static void drctl__print_history(const json_t *v, const void *arg)
{
    static const struct drctl_column cols[] = {
        {"SEQ", "seq", drctl_fmt_value, 32},
        {"TIME", "time_ms", drctl_fmt_time_ms, 64},
        {"ACTOR", "actor", drctl_fmt_value, 300},
        {"ACTION", "action", drctl_fmt_value, 300},
        {"DETAIL", "detail", NULL, 1024},
        {NULL, NULL, NULL, 0},
    };

    (void)arg;
    drctl_print_objects(json_object_get(v, "history"), cols);
}

int drctl_cmd_history(struct drctl *d, int argc, char **argv)
{
    return drctl_show_get(d, argc, argv, "/api/history", drctl__print_history);
}
