/* Strict checking of JSON request bodies: known fields, right types. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

static const char *type_name(int t)
{
    switch (t) {
        case JT_STRING: return "a string";
        case JT_INT: return "an integer";
        case JT_BOOL: return "a boolean";
        case JT_STRING_ARRAY: return "an array of strings";
    }
    return "a value";
}

static int type_ok(json_t *v, int t)
{
    size_t i;
    json_t *e;
    switch (t) {
        case JT_STRING: return json_is_string(v);
        case JT_INT: return json_is_integer(v);
        case JT_BOOL: return json_is_boolean(v);
        case JT_STRING_ARRAY:
            if (!json_is_array(v)) {
                return 0;
            }
            json_array_foreach(v, i, e) {
                if (!json_is_string(e)) {
                    return 0;
                }
            }
            return 1;
    }
    return 1;
}

int api_check_fields(json_t *obj, const struct api_field *fields, size_t n,
                     char *errmsg)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj)) {
        snprintf(errmsg, 256, "request body must be a JSON object");
        return DR_EINVAL;
    }
    json_object_foreach(obj, key, v) {
        size_t i;
        for (i = 0; i < n; i++) {
            if (strcmp(fields[i].name, key) == 0) {
                break;
            }
        }
        if (i == n) {
            snprintf(errmsg, 256, "unknown field \"%.64s\"", key);
            return DR_EINVAL;
        }
        if (!type_ok(v, fields[i].type)) {
            snprintf(errmsg, 256, "field \"%s\" must be %s", fields[i].name,
                     type_name(fields[i].type));
            return DR_EINVAL;
        }
        if (fields[i].type == JT_STRING &&
            strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(errmsg, 256, "field \"%s\" holds a NUL character",
                     fields[i].name);
            return DR_EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && json_object_get(obj, fields[i].name) == NULL) {
            snprintf(errmsg, 256, "missing field \"%s\"", fields[i].name);
            return DR_EINVAL;
        }
    }
    return DR_OK;
}
