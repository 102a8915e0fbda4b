/* Strict checking of JSON request bodies: known fields, right types. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

static const char *type_name(int t)
{
    switch (t) {
        case JT_STRING:
            return "a string";
        case JT_INT:
            return "an integer";
        case JT_BOOL:
            return "a boolean";
        case JT_STRING_ARRAY:
            return "an array of strings";
    }
    return "a value";
}

static int type_ok(const struct jin *v, int t)
{
    switch (t) {
        case JT_STRING:
            return v->type == JIN_STRING;
        case JT_INT:
            return v->type == JIN_INT;
        case JT_BOOL:
            return v->type == JIN_BOOL;
        case JT_STRING_ARRAY:
            if (v->type != JIN_ARRAY) {
                return 0;
            }
            for (size_t i = 0; i < v->u.arr.n; i++) {
                if (v->u.arr.items[i].type != JIN_STRING) {
                    return 0;
                }
            }
            return 1;
    }
    return 1;
}

int api_check_fields(const struct jin *obj,
                     const struct api_field *fields,
                     size_t n,
                     char *errmsg)
{
    if (obj == NULL || obj->type != JIN_OBJECT) {
        snprintf(errmsg, 256, "request body must be a JSON object");
        return DR_EINVAL;
    }
    for (size_t m = 0; m < obj->u.obj.n; m++) {
        const char *key = obj->u.obj.members[m].key;
        const struct jin *v = &obj->u.obj.members[m].value;
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
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].required && jin_get(obj, fields[i].name) == NULL) {
            snprintf(errmsg, 256, "missing field \"%s\"", fields[i].name);
            return DR_EINVAL;
        }
    }
    return DR_OK;
}
