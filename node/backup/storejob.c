/* Store jobs: delete everything under a prefix, verify objects' digests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backup/job.h"
#include "common/err.h"
#include "store/store.h"

struct delete_all
{
    struct store *s;
    json_int_t deleted;
};

static int delete_one(const struct store_object *obj, void *arg, char *errmsg)
{
    struct delete_all *d = arg;
    int rv = store_delete(d->s, obj->key, errmsg);

    d->deleted += rv == 0;
    return rv;
}

int storejob_delete(const json_t *spec, json_t **result, char *errmsg)
{
    struct delete_all d = {NULL, 0};
    const char *prefix;
    int rv;

    *result = NULL;
    prefix = json_string_value(json_object_get(spec, "prefix"));
    if (prefix == NULL) {
        snprintf(errmsg, 256, "\"prefix\" is missing or not a string");
        return DR_EINVAL;
    }
    if (prefix[0] == '\0') {
        snprintf(errmsg, 256,
                 "\"prefix\" is empty: refusing to delete the whole store");
        return DR_EINVAL;
    }
    rv = job_open_store(spec, &d.s, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = store_list_each(d.s, prefix, delete_one, &d, errmsg);
    store_close(d.s);
    *result = json_pack("{sI}", "deleted", d.deleted);
    return rv;
}

/* Codes that say the store, not the object, is in trouble: checking the
 * remaining objects would fail the same way. */
static int store_level(int rv)
{
    return rv == DR_EAUTH || rv == DR_EUNAVAILABLE || rv == DR_ETIMEOUT ||
           rv == DR_ENOMEM;
}

int storejob_verify(const json_t *spec, json_t **result, char *errmsg)
{
    char sha[STORE_SHA256_HEX], inner[256], first[256];
    const json_t *objects, *o;
    json_t *report, *list, *entry;
    struct store *s;
    size_t i;
    int rv, first_rv = 0, ok = 1;

    *result = NULL;
    objects = json_object_get(spec, "objects");
    if (!json_is_array(objects)) {
        snprintf(errmsg, 256, "\"objects\" is missing or not an array");
        return DR_EINVAL;
    }
    json_array_foreach(objects, i, o)
    {
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *want = json_string_value(json_object_get(o, "sha256"));
        if (key == NULL || want == NULL || strlen(want) != 64) {
            snprintf(errmsg, 256,
                     "objects[%zu]: want {\"key\": string, \"sha256\": 64 hex "
                     "digits}",
                     i);
            return DR_EINVAL;
        }
    }
    rv = job_open_store(spec, &s, errmsg);
    if (rv != 0) {
        return rv;
    }
    list = json_array();
    json_array_foreach(objects, i, o)
    {
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *want = json_string_value(json_object_get(o, "sha256"));

        entry = json_pack("{ss}", "key", key);
        inner[0] = '\0';
        rv = store_sha256(s, key, sha, NULL, inner);
        if (rv == 0 && strcasecmp(sha, want) != 0) {
            snprintf(inner, sizeof(inner),
                     "object %.80s: SHA-256 mismatch (expected %s, got %s)",
                     key, want, sha);
            rv = DR_ECORRUPT;
        }
        json_object_set_new(entry, "ok", json_boolean(rv == 0));
        if (rv != 0) {
            ok = 0;
            json_object_set_new(entry, "error", json_string(inner));
            /* Store trouble outranks corruption: it says nothing about the
             * objects. */
            if (first_rv == 0 || (store_level(rv) && !store_level(first_rv))) {
                first_rv = store_level(rv) ? rv : DR_ECORRUPT;
                memcpy(first, inner, sizeof(first));
            }
        }
        json_array_append_new(list, entry);
        if (store_level(rv)) {
            break;
        }
    }
    store_close(s);
    report = json_pack("{sbso}", "ok", ok, "objects", list);
    *result = report;
    if (first_rv != 0) {
        memcpy(errmsg, first, 256);
        return first_rv;
    }
    return 0;
}
