/* Job dispatch: the op named in a spec to the code that runs it. */
#include <stdio.h>
#include <string.h>

#include "backup/job.h"
#include "common/err.h"
#include "store/store.h"

typedef int (*job_fn)(const json_t *spec, json_t **result, char *errmsg);

static const struct
{
    const char *op;
    job_fn fn;
} job_ops[] = {
    {"pg_backup", pgjob_backup},
    {"pg_restore", pgjob_restore},
    {"pg_verify", pgjob_verify},
    {"pg_base_backup", pgbasejob_backup},
    {"pg_base_verify", pgbasejob_verify},
    {"pg_base_restore", pgbasejob_restore},
    {"redis_backup", redisjob_backup},
    {"redis_restore", redisjob_restore},
    {"redis_verify", redisjob_verify},
    {"store_delete", storejob_delete},
    {"store_verify", storejob_verify},
    {"drill_restore", drilljob_restore},
    {"replicate", replicatejob_run},
    {"failover_restore", failoverjob_restore},
    {"wal_stream", walstreamjob_run},
    {"wal_status", waljob_status},
    {"wal_scan", waljob_scan},
};

int job_run(const json_t *spec, json_t **result, char *errmsg)
{
    const char *op;
    char inner[256];
    size_t i;
    int rv;

    *result = NULL;
    if (!json_is_object(spec)) {
        snprintf(errmsg, 256, "job spec: not a JSON object");
        return DR_EINVAL;
    }
    op = json_string_value(json_object_get(spec, "op"));
    if (op == NULL) {
        snprintf(errmsg, 256, "job spec: \"op\" is missing or not a string");
        return DR_EINVAL;
    }
    for (i = 0; i < sizeof(job_ops) / sizeof(job_ops[0]); i++) {
        if (strcmp(op, job_ops[i].op) == 0) {
            inner[0] = '\0';
            rv = job_ops[i].fn(spec, result, inner);
            if (rv != 0) {
                snprintf(errmsg, 256, "%.32s: %.200s", op, inner);
            }
            return rv;
        }
    }
    snprintf(errmsg, 256, "job spec: unknown op \"%.64s\"", op);
    return DR_EINVAL;
}

int job_open_url(const char *url,
                 const char *credentials_file,
                 struct store **out,
                 char *errmsg)
{
    struct store_options opts;

    memset(&opts, 0, sizeof(opts));
    opts.credentials_file = credentials_file;
    opts.max_retries = -1;
    return store_open(url, &opts, out, errmsg);
}

int job_open_store(const json_t *spec, struct store **out, char *errmsg)
{
    const char *url = json_string_value(json_object_get(spec, "store"));

    if (url == NULL) {
        snprintf(errmsg, 256, "\"store\" is missing or not a string");
        return DR_EINVAL;
    }
    return job_open_url(
        url, json_string_value(json_object_get(spec, "credentials_file")), out,
        errmsg);
}

int job_spec_string(const json_t *spec,
                    const char *name,
                    bool required,
                    const char **out,
                    char *errmsg)
{
    json_t *v = json_object_get(spec, name);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            snprintf(errmsg, 256, "\"%s\" is missing", name);
            return DR_EINVAL;
        }
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(errmsg, 256, "\"%s\" must be a non-empty string", name);
        return DR_EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}

int job_spec_uint(const json_t *spec,
                  const char *name,
                  uint64_t def,
                  uint64_t min,
                  uint64_t max,
                  uint64_t *out,
                  char *errmsg)
{
    const json_t *v = json_object_get(spec, name);

    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        snprintf(errmsg, 256, "\"%s\" must be an integer from %llu to %llu",
                 name, (unsigned long long)min, (unsigned long long)max);
        return DR_EINVAL;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}
